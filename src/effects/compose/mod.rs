//! Mails buildmail sends, composed with lettre's message
//! builder from minijinja templates and queued in the outbox
//! ([`crate::model::OutboundMail`]) by the caller.
//!
//! * error replies to admins: to Reply-To or From, `Re: <subject>`,
//!   `In-Reply-To` the answered mail, "Your mail could not be processed:"
//!   (or, when the mail was processed and the upload it asked for failed,
//!   "Your mail was processed, but the upload it asked for failed:") with
//!   each reason on its own line, then the quoted original;
//! * FAILEDTOUPLOAD notifications (Launchpad's format): one mail per
//!   recipient — the buildd admins, the package's creator (`Changed-By`),
//!   the `Maintainer` when configured — each saying why it was sent;
//! * build-failure notifications (optional, `notify.notify_on`).
//!
//! Bodies come from `templates/` (built in) or from files of the same name
//! in `notify.templates_dir`. Subjects and headers follow Launchpad's
//! notifications and RFC 3834 (`Auto-Submitted`).
//!
//! [`notification`] composes the FAILEDTOUPLOAD and build-failure mails;
//! [`queue`] adds composed mails to a store commit (the outbox).

mod notification;
pub mod queue;

pub use notification::*;
pub use queue::{forwarded, outbound, queue_error_reply, queue_failed_to_upload, resent, Mailer};

use std::path::Path;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::Message;
use minijinja::{context, Environment, Value};

use crate::config::{Config, OWN_MESSAGE_ID_PREFIX};
use crate::model::Answer;

/// Why a mail could not be composed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// An address does not parse.
    #[error("{what} {address:?} is not a usable mail address")]
    Address {
        /// Which address.
        what: &'static str,
        /// The address.
        address: String,
    },
    /// lettre refused the message.
    #[error("cannot compose the mail: {0}")]
    Build(String),
    /// A template does not parse or does not render.
    #[error("template {name}: {message}; fix the file (or remove it from notify.templates_dir to use the built-in one)")]
    Template {
        /// The template's file name.
        name: &'static str,
        /// minijinja's message.
        message: String,
    },
    /// A template override could not be read.
    #[error("cannot read the template {path}: {message}")]
    TemplateFile {
        /// The file.
        path: String,
        /// The error.
        message: String,
    },
    /// A Failed-To-Upload notification needs the upload log.
    #[error("refusing to build a Failed-To-Upload notification for {build}: it has no upload log (a notification without one would say nothing the recipients can act on)")]
    NoUploadLog {
        /// The build.
        build: String,
    },
}

/// The kinds of mail, one template each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The FAILEDTOUPLOAD notification.
    FailedToUpload,
    /// The optional build-failure notification.
    BuildFailure,
    /// The answer to an admin reply that could not be processed.
    ErrorReply,
    /// The note added to a forwarded mail.
    ForwardNotice,
    /// "Should I build" asked before a package whose previous version
    /// Failed is built again.
    ShouldBuild,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] = [
        Kind::FailedToUpload,
        Kind::BuildFailure,
        Kind::ErrorReply,
        Kind::ForwardNotice,
        Kind::ShouldBuild,
    ];

    /// The template's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            Kind::FailedToUpload => "failed-to-upload.txt",
            Kind::BuildFailure => "build-failure.txt",
            Kind::ErrorReply => "error-reply.txt",
            Kind::ForwardNotice => "forward-notice.txt",
            Kind::ShouldBuild => "should-build.txt",
        }
    }

    /// The name used on the command line and in the outbox
    /// (`failed-to-upload`, ...).
    pub fn name(self) -> &'static str {
        self.file_name().trim_end_matches(".txt")
    }

    /// The kind of a [`Kind::name`].
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    fn builtin(self) -> &'static str {
        match self {
            Kind::FailedToUpload => include_str!("../../../templates/failed-to-upload.txt"),
            Kind::BuildFailure => include_str!("../../../templates/build-failure.txt"),
            Kind::ErrorReply => include_str!("../../../templates/error-reply.txt"),
            Kind::ForwardNotice => include_str!("../../../templates/forward-notice.txt"),
            Kind::ShouldBuild => include_str!("../../../templates/should-build.txt"),
        }
    }
}

/// The mail templates: built in, overridden file by file from a directory.
/// Cloning shares them (a daemon loads them once).
#[derive(Clone)]
pub struct Templates {
    env: std::sync::Arc<Environment<'static>>,
}

impl Templates {
    /// The built-in templates with the files of `dir` (if given) in their
    /// place. A broken override is an error naming the file.
    pub fn load(dir: Option<&Path>) -> Result<Templates, ComposeError> {
        let mut env = Environment::new();
        env.set_keep_trailing_newline(true);
        for kind in Kind::ALL {
            let source = match dir.map(|d| d.join(kind.file_name())) {
                Some(p) if p.exists() => {
                    std::fs::read_to_string(&p).map_err(|e| ComposeError::TemplateFile {
                        path: p.display().to_string(),
                        message: e.to_string(),
                    })?
                }
                _ => kind.builtin().to_string(),
            };
            env.add_template_owned(kind.file_name(), source)
                .map_err(|e| ComposeError::Template {
                    name: kind.file_name(),
                    message: e.to_string(),
                })?;
        }
        Ok(Templates {
            env: std::sync::Arc::new(env),
        })
    }

    /// Templates that render nothing: the last resort when even the
    /// built-in ones fail to load, which a unit test rules out.
    pub fn empty() -> Templates {
        Templates {
            env: std::sync::Arc::new(Environment::new()),
        }
    }

    /// The templates a configuration names; when an override is broken,
    /// the built-in ones (a mail is never lost to a template typo;
    /// `check-config` reports it). The built-in ones always parse (a unit
    /// test checks it); [`Templates::empty`] only keeps this total.
    pub fn configured(config: &Config) -> Templates {
        Templates::of(config).unwrap_or_else(|e| {
            tracing::warn!("{e}; using the built-in templates");
            Templates::load(None).unwrap_or_else(|_| Templates::empty())
        })
    }

    /// The templates a configuration names.
    pub fn of(config: &Config) -> Result<Templates, ComposeError> {
        Templates::load(config.notify.templates_dir.as_deref())
    }

    /// Renders a kind's template.
    pub fn render(&self, kind: Kind, ctx: Value) -> Result<String, ComposeError> {
        let err = |e: minijinja::Error| ComposeError::Template {
            name: kind.file_name(),
            message: e.to_string(),
        };
        self.env
            .get_template(kind.file_name())
            .map_err(err)?
            .render(ctx)
            .map_err(err)
    }
}

/// A composed mail, ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// The kind (`error-reply`, `failed-to-upload`, ...).
    pub kind: String,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// The Message-ID, without angle brackets.
    pub message_id: String,
    /// The subject.
    pub subject: String,
    /// The whole mail.
    pub bytes: Vec<u8>,
}

/// The subject of a reply: `Re: <subject>`, without piling up `Re:`s.
pub fn reply_subject(subject: &str) -> String {
    let trimmed = subject.trim();
    if trimmed
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("re:"))
    {
        trimmed.to_string()
    } else {
        format!("Re: {trimmed}")
    }
}

/// The domain of an address (for Message-IDs).
pub(crate) use crate::config::domain_of;

fn mailbox(what: &'static str, address: &str) -> Result<Mailbox, ComposeError> {
    address.parse().map_err(|_| ComposeError::Address {
        what,
        address: address.to_string(),
    })
}

fn raw_header(name: &'static str, value: impl Into<String>) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.into())
}

/// What an error reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// A mail that could not be processed (a refused command, a
    /// `.changes` that does not match): "Your mail could not be
    /// processed".
    Refused,
    /// A mail that was processed, whose upload then failed: the signer
    /// of the `.changes` (or `retry-upload`) hears how it failed.
    UploadFailed,
}

/// Composes an error reply to `answer` (`answered`: why) with the given
/// reasons. `id` makes the Message-ID unique; `now` is the Date.
#[allow(clippy::too_many_arguments)]
pub fn error_reply(
    templates: &Templates,
    from: &str,
    answer: &Answer,
    answered: Answered,
    reasons: &[String],
    ignored: &[String],
    id: u64,
    now: i64,
) -> Result<Composed, ComposeError> {
    let subject = reply_subject(&answer.subject);
    let message_id = format!(
        "{OWN_MESSAGE_ID_PREFIX}reply.{id}.{now}@{}",
        domain_of(from)
    );
    let body = templates.render(
        Kind::ErrorReply,
        context! {
            processed => answered == Answered::UploadFailed,
            reasons => reasons.iter().map(|r| r.trim_end()).collect::<Vec<_>>(),
            ignored => ignored,
            quoted => answer.quoted,
        },
    )?;
    let mut builder = Message::builder()
        .from(mailbox("from_address", from)?)
        .to(mailbox("the reply address", &answer.to)?)
        .subject(subject.clone())
        .message_id(Some(format!("<{message_id}>")))
        .date(crate::time::system_time(now))
        .raw_header(raw_header("Auto-Submitted", "auto-replied"))
        .raw_header(raw_header("X-Buildmail-Kind", Kind::ErrorReply.name()));
    if let Some(mid) = &answer.message_id {
        builder = builder.in_reply_to(format!("<{mid}>"));
        let mut refs: Vec<String> = answer.references.iter().map(|r| format!("<{r}>")).collect();
        refs.push(format!("<{mid}>"));
        builder = builder.references(refs.join(" "));
    }
    let message = builder
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| ComposeError::Build(e.to_string()))?;
    Ok(Composed {
        kind: Kind::ErrorReply.name().into(),
        to: vec![answer.to.clone()],
        message_id,
        subject,
        bytes: message.formatted(),
    })
}

/// Composes the "Should I build <src>_<ver> (dist=<dist>)?" question to
/// the admins about `record` (Needs-Build at the new version), whose
/// previous version `old_version` failed for `old_reason`. `id` makes the
/// Message-ID unique.
pub fn should_build(
    config: &Config,
    templates: &Templates,
    record: &crate::model::BuildRecord,
    old_version: &str,
    old_reason: &str,
    id: u64,
    now: i64,
) -> Result<Composed, ComposeError> {
    let from = &config.from_address;
    let key = &record.key;
    let subject = format!(
        "Should I build {}_{} (dist={})?",
        key.source, record.version, key.dist
    );
    let message_id = format!(
        "{OWN_MESSAGE_ID_PREFIX}should-build.{id}.{now}@{}",
        domain_of(from)
    );
    let body = templates.render(
        Kind::ShouldBuild,
        context! {
            source => key.source,
            version => record.version,
            dist => key.dist,
            arch => key.arch,
            old_version => old_version,
            old_reason => old_reason,
        },
    )?;
    let message = Message::builder()
        .from(mailbox("from_address", from)?)
        .to(mailbox("admin_address", &config.admin_address)?)
        .subject(subject.clone())
        .message_id(Some(format!("<{message_id}>")))
        .date(crate::time::system_time(now))
        .raw_header(raw_header("Auto-Submitted", "auto-generated"))
        .raw_header(raw_header("X-Buildmail-Kind", Kind::ShouldBuild.name()))
        .raw_header(raw_header("X-Buildd-Arch", &key.arch))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| ComposeError::Build(e.to_string()))?;
    Ok(Composed {
        kind: Kind::ShouldBuild.name().into(),
        to: vec![config.admin_address.clone()],
        message_id,
        subject,
        bytes: message.formatted(),
    })
}

// ---------------------------------------------------------------------------
// Notifications.

#[cfg(test)]
mod tests;
