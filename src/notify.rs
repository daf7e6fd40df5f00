//! Mails buildmail sends (design §4, §8), composed with lettre's message
//! builder from minijinja templates and queued in the outbox
//! ([`crate::store::OutboundMail`]) by the caller.
//!
//! * error replies to admins: to Reply-To or From, `Re: <subject>`,
//!   `In-Reply-To` the answered mail, "Your mail could not be processed:"
//!   with each reason on its own line, then the quoted original;
//! * FAILEDTOUPLOAD notifications (Launchpad's format): one mail per
//!   recipient — the buildd admins, the package's creator (`Changed-By`),
//!   the `Maintainer` when configured — each saying why it was sent;
//! * build-failure notifications (optional, `notify.notify_on`).
//!
//! Bodies come from `templates/` (built in) or from files of the same name
//! in `notify.templates_dir`. Subjects and headers are fixed by the design.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::Message;
use minijinja::{context, Environment, Value};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::changes::{self, Changes};
use crate::config::Config;
use crate::state::State;
use crate::store::{Answer, BuildRecord};

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
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [
        Kind::FailedToUpload,
        Kind::BuildFailure,
        Kind::ErrorReply,
        Kind::ForwardNotice,
    ];

    /// The template's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            Kind::FailedToUpload => "failed-to-upload.txt",
            Kind::BuildFailure => "build-failure.txt",
            Kind::ErrorReply => "error-reply.txt",
            Kind::ForwardNotice => "forward-notice.txt",
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
            Kind::FailedToUpload => include_str!("../templates/failed-to-upload.txt"),
            Kind::BuildFailure => include_str!("../templates/build-failure.txt"),
            Kind::ErrorReply => include_str!("../templates/error-reply.txt"),
            Kind::ForwardNotice => include_str!("../templates/forward-notice.txt"),
        }
    }
}

/// The mail templates: built in, overridden file by file from a directory.
pub struct Templates {
    env: Environment<'static>,
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
        Ok(Templates { env })
    }

    /// Templates that render nothing: the last resort when even the
    /// built-in ones fail to load, which a unit test rules out.
    pub fn empty() -> Templates {
        Templates {
            env: Environment::new(),
        }
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
pub(crate) fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("localhost", |(_, d)| d)
}

fn mailbox(what: &'static str, address: &str) -> Result<Mailbox, ComposeError> {
    address.parse().map_err(|_| ComposeError::Address {
        what,
        address: address.to_string(),
    })
}

fn raw_header(name: &'static str, value: impl Into<String>) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.into())
}

pub(crate) fn date(now: i64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(now).unwrap_or(0))
}

/// Composes an error reply to `answer` with the given reasons. `id` makes
/// the Message-ID unique; `now` is the Date.
pub fn error_reply(
    templates: &Templates,
    from: &str,
    answer: &Answer,
    reasons: &[String],
    ignored: &[String],
    id: u64,
    now: i64,
) -> Result<Composed, ComposeError> {
    let subject = reply_subject(&answer.subject);
    let message_id = format!("buildmail.reply.{id}.{now}@{}", domain_of(from));
    let body = templates.render(
        Kind::ErrorReply,
        context! {
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
        .date(date(now))
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

// ---------------------------------------------------------------------------
// Notifications.

/// Why someone receives a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Role {
    /// A configured buildd admin.
    BuilddAdmin,
    /// The package's creator (`Changed-By`).
    Creator,
    /// The package's `Maintainer`.
    Maintainer,
}

impl Role {
    /// The `X-Buildd-Message-Rationale` value.
    pub fn rationale(self) -> &'static str {
        match self {
            Role::BuilddAdmin => "Buildd-Admin",
            Role::Creator => "Creator",
            Role::Maintainer => "Maintainer",
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            Role::BuilddAdmin => "you are a buildd administrator",
            Role::Creator => "you created this version of this package",
            Role::Maintainer => "you maintain this package",
        }
    }
}

/// One recipient of a notification and every role they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address.
    pub address: String,
    /// Why they receive it (each role once, in a fixed order).
    pub roles: Vec<Role>,
}

impl Recipient {
    /// The footer sentence, "You are receiving this email because ...".
    pub fn reason(&self) -> String {
        let phrases: Vec<&str> = self.roles.iter().map(|r| r.phrase()).collect();
        let joined = match phrases.as_slice() {
            [] => "you are listed as a recipient".to_string(),
            [one] => (*one).to_string(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        };
        format!("You are receiving this email because {joined}.")
    }
}

/// The address of a `Name <address>` field (or a bare address).
fn address_of(field: &str) -> Option<String> {
    field
        .parse::<Mailbox>()
        .ok()
        .map(|m| m.email.to_string())
        .filter(|a| a.contains('@'))
}

/// The recipients of a notification: the buildd admins, the creator
/// (`Changed-By`) when `notify_owner`, the `Maintainer` when
/// `notify_maintainer`; each address once, with all its roles.
pub fn recipients(config: &Config, changes: Option<&Changes>) -> Vec<Recipient> {
    let mut out: Vec<Recipient> = Vec::new();
    let mut add = |address: String, role: Role| match out
        .iter_mut()
        .find(|r| r.address.eq_ignore_ascii_case(&address))
    {
        Some(r) if !r.roles.contains(&role) => {
            r.roles.push(role);
            r.roles.sort();
        }
        Some(_) => {}
        None => out.push(Recipient {
            address,
            roles: vec![role],
        }),
    };
    for a in &config.notify.buildd_admins {
        add(a.clone(), Role::BuilddAdmin);
    }
    if let Some(c) = changes {
        if config.notify.notify_owner {
            if let Some(a) = c.changed_by.as_deref().and_then(address_of) {
                add(a, Role::Creator);
            }
        }
        if config.notify.notify_maintainer {
            if let Some(a) = c.maintainer.as_deref().and_then(address_of) {
                add(a, Role::Maintainer);
            }
        }
    }
    out
}

/// Launchpad's name of a state for `X-Buildd-Build-State`.
pub fn state_header(state: State) -> &'static str {
    match state {
        State::NeedsBuild => "NEEDSBUILD",
        State::Building => "BUILDING",
        State::Built => "FULLYBUILT",
        State::BuildAttempted | State::Failed => "FAILEDTOBUILD",
        State::Uploaded => "UPLOADING",
        State::FailedToUpload => "FAILEDTOUPLOAD",
        State::Installed => "FULLYBUILT",
        State::DepWait | State::BdUninstallable => "MANUALDEPWAIT",
        State::NotForUs | State::AutoNotForUs => "NOTFORUS",
        State::FailedRemoved | State::DepWaitRemoved => "SUPERSEDED",
    }
}

/// A stable build number for `[Build #<id>]`: derived from the build and
/// its version, so every mail about one build carries the same number.
pub fn build_id(record: &BuildRecord) -> u32 {
    let d = Sha256::digest(
        format!(
            "{}\0{}\0{}\0{}",
            record.key.source, record.key.dist, record.key.arch, record.version
        )
        .as_bytes(),
    );
    let mut b = [0u8; 4];
    b.copy_from_slice(d.get(..4).unwrap_or(&[0; 4]));
    u32::from_be_bytes(b) % 100_000_000
}

/// The `.changes` that says who made the package: the upload's, else the
/// log's.
pub fn build_changes(record: &BuildRecord) -> Option<Changes> {
    record
        .upload
        .as_ref()
        .map(|u| u.changes.clone())
        .or_else(|| {
            record
                .changes
                .as_deref()
                .and_then(|c| changes::parse(c).ok())
        })
}

/// The component of a package from its files' sections (`non-free/net` →
/// `non-free`, `libs` → `main`).
fn component(changes: Option<&Changes>) -> String {
    changes
        .and_then(|c| c.files.iter().find_map(|f| f.section.clone()))
        .and_then(|s| s.split_once('/').map(|(c, _)| c.to_string()))
        .unwrap_or_else(|| "main".into())
}

/// Seconds in words: `1 hour, 2 minutes, 5 seconds`.
fn human_duration(secs: Option<u64>) -> String {
    let Some(secs) = secs else {
        return "not available".into();
    };
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut parts = Vec::new();
    for (n, unit) in [(h, "hour"), (m, "minute"), (s, "second")] {
        if n > 0 {
            parts.push(format!("{n} {unit}{}", if n == 1 { "" } else { "s" }));
        }
    }
    if parts.is_empty() {
        "0 seconds".into()
    } else {
        parts.join(", ")
    }
}

/// A URL template with `{src}`, `{ver}`, `{arch}`, `{dist}` filled in.
pub fn url(template: Option<&str>, record: &BuildRecord) -> String {
    match template {
        None => "not available".into(),
        Some(t) => t
            .replace("{src}", &record.key.source)
            .replace("{ver}", &record.version)
            .replace("{arch}", &record.key.arch)
            .replace("{dist}", &record.key.dist),
    }
}

/// Wraps `text` at `width` columns (words longer than a line stay whole).
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out
}

/// The build's title: `<arch> build of <src> <ver> in <dist>`.
pub fn title(record: &BuildRecord) -> String {
    format!(
        "{} build of {} {} in {}",
        record.key.arch, record.key.source, record.version, record.key.dist
    )
}

/// The build facts in a notification's headers.
struct Head<'a> {
    kind: Kind,
    state: State,
    arch: &'a str,
    archive: &'a str,
    component: &'a str,
    /// The build's log mail, to thread on.
    thread: Option<&'a str>,
}

/// One notification mail to `r`, with Launchpad's headers (design §8).
fn notification(
    config: &Config,
    r: &Recipient,
    subject: &str,
    message_id: &str,
    head: &Head<'_>,
    body: String,
    now: i64,
) -> Result<Vec<u8>, ComposeError> {
    let rationale: Vec<&str> = r.roles.iter().map(|x| x.rationale()).collect();
    let mut builder = Message::builder()
        .from(mailbox("from_address", &config.from_address)?)
        .to(mailbox("recipient", &r.address)?)
        .subject(subject)
        .message_id(Some(format!("<{message_id}>")))
        .date(date(now))
        .raw_header(raw_header("X-Buildd-Build-State", state_header(head.state)))
        .raw_header(raw_header("X-Buildd-Build-Arch", head.arch))
        .raw_header(raw_header("X-Buildd-Archive", head.archive))
        .raw_header(raw_header("X-Buildd-Build-Component", head.component))
        .raw_header(raw_header(
            "X-Buildd-Message-Rationale",
            rationale.join(", "),
        ))
        .raw_header(raw_header("Precedence", "bulk"))
        .raw_header(raw_header("Auto-Submitted", "auto-generated"))
        .raw_header(raw_header("X-Buildmail-Kind", head.kind.name()));
    if r.roles.contains(&Role::Creator) {
        builder = builder.raw_header(raw_header("X-Creator-Recipient", r.address.clone()));
    }
    if let Some(log) = head.thread {
        builder = builder
            .in_reply_to(format!("<{log}>"))
            .references(format!("<{log}>"));
    }
    let message = builder
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| ComposeError::Build(e.to_string()))?;
    Ok(message.formatted())
}

/// Composes the notifications about `record` entering Failed-To-Upload:
/// one mail per recipient. `event` makes the Message-IDs unique (the job
/// or mail that caused the failure). Refuses without an upload log.
pub fn failed_to_upload(
    config: &Config,
    templates: &Templates,
    record: &BuildRecord,
    event: u64,
    now: i64,
) -> Result<Vec<Composed>, ComposeError> {
    let upload_log = record
        .upload_log
        .as_deref()
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| ComposeError::NoUploadLog {
            build: record.key.to_string(),
        })?;
    let changes = build_changes(record);
    let id = build_id(record);
    let subject = format!("[Build #{id}] {}", title(record));
    let archive = record.archive.clone().unwrap_or_else(|| "primary".into());
    let component = component(changes.as_ref());
    let people = recipients(config, changes.as_ref());
    let mut out = Vec::new();
    for (n, r) in people.iter().enumerate() {
        let body = templates.render(
            Kind::FailedToUpload,
            context! {
                source => record.key.source,
                version => record.version,
                arch => record.key.arch,
                dist => record.key.dist,
                archive => archive,
                component => component,
                state_title => State::FailedToUpload.title(),
                duration => human_duration(record.build_duration),
                build_log_url => url(config.notify.build_log_url.as_deref(), record),
                builder => record.builder.clone().unwrap_or_else(|| "not available".into()),
                source_url => url(config.notify.source_url.as_deref(), record),
                upload_log => upload_log.trim_end(),
                title => title(record),
                reason => wrap(&r.reason(), 72),
            },
        )?;
        let message_id = format!(
            "buildmail.failed-to-upload.{id}.{event}.{n}@{}",
            domain_of(&config.from_address)
        );
        let head = Head {
            kind: Kind::FailedToUpload,
            state: State::FailedToUpload,
            arch: &record.key.arch,
            archive: &archive,
            component: &component,
            thread: record.last_log_message_id.as_deref(),
        };
        let bytes = notification(config, r, &subject, &message_id, &head, body, now)?;
        out.push(Composed {
            kind: Kind::FailedToUpload.name().into(),
            to: vec![r.address.clone()],
            message_id,
            subject: subject.clone(),
            bytes,
        });
    }
    Ok(out)
}

/// One architecture's part of a build-failure notification.
#[derive(Debug, Clone, Serialize)]
struct ArchFailure {
    arch: String,
    state_title: String,
    builder: String,
    duration: String,
    build_log_url: String,
    explanation: Option<String>,
    excerpt: Option<String>,
}

/// Composes the build-failure notification of one version of a package:
/// one mail per recipient listing every architecture in `records` (the
/// builds of that version that failed). `event` makes the Message-IDs
/// unique.
pub fn build_failure(
    config: &Config,
    templates: &Templates,
    records: &[BuildRecord],
    event: u64,
    now: i64,
) -> Result<Vec<Composed>, ComposeError> {
    let Some(first) = records.first() else {
        return Ok(Vec::new());
    };
    let changes = records.iter().find_map(build_changes);
    let archive = first.archive.clone().unwrap_or_else(|| "primary".into());
    let component = component(changes.as_ref());
    let arches: Vec<String> = records.iter().map(|r| r.key.arch.clone()).collect();
    let title = format!(
        "{} build of {} {} in {}",
        arches.join(", "),
        first.key.source,
        first.version,
        first.key.dist
    );
    let subject = format!("[Build #{}] {title}", build_id(first));
    let parts: Vec<ArchFailure> = records
        .iter()
        .map(|r| ArchFailure {
            arch: r.key.arch.clone(),
            state_title: r.state.title().to_string(),
            builder: r.builder.clone().unwrap_or_else(|| "not available".into()),
            duration: human_duration(r.build_duration),
            build_log_url: url(config.notify.build_log_url.as_deref(), r),
            explanation: r
                .failed_reason
                .clone()
                .or_else(|| r.explanation.as_ref().map(|e| e.summary.clone())),
            excerpt: r
                .explanation
                .as_ref()
                .filter(|e| !e.excerpt.is_empty())
                .map(|e| e.excerpt.join("\n")),
        })
        .collect();
    let mut out = Vec::new();
    for (n, r) in recipients(config, changes.as_ref()).iter().enumerate() {
        let body = templates.render(
            Kind::BuildFailure,
            context! {
                source => first.key.source,
                version => first.version,
                dist => first.key.dist,
                archive => archive,
                component => component,
                architectures => parts,
                source_url => url(config.notify.source_url.as_deref(), first),
                title => title,
                reason => wrap(&r.reason(), 72),
            },
        )?;
        let message_id = format!(
            "buildmail.build-failure.{}.{event}.{n}@{}",
            build_id(first),
            domain_of(&config.from_address)
        );
        let arch_list = arches.join(" ");
        let head = Head {
            kind: Kind::BuildFailure,
            state: first.state,
            arch: &arch_list,
            archive: &archive,
            component: &component,
            thread: first.last_log_message_id.as_deref(),
        };
        let bytes = notification(config, r, &subject, &message_id, &head, body, now)?;
        out.push(Composed {
            kind: Kind::BuildFailure.name().into(),
            to: vec![r.address.clone()],
            message_id,
            subject: subject.clone(),
            bytes,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_templates_load() {
        let t = Templates::load(None).unwrap();
        for kind in Kind::ALL {
            assert!(t.env.get_template(kind.file_name()).is_ok(), "{kind:?}");
        }
    }

    #[test]
    fn subjects_get_one_re() {
        assert_eq!(reply_subject("Log for x"), "Re: Log for x");
        assert_eq!(reply_subject("RE: Log for x"), "RE: Log for x");
    }

    #[test]
    fn error_reply_has_the_required_parts() {
        let answer = Answer {
            to: "admin@example.org".into(),
            subject: "Re: Log for successful build of hello_1.0-1 (dist=sid)".into(),
            message_id: Some("r1@example.org".into()),
            references: vec!["log1@buildd".into()],
            quoted: "> retry\n".into(),
        };
        let t = Templates::load(None).unwrap();
        let mail = error_reply(
            &t,
            "buildd@example.org",
            &answer,
            &["first reason".into(), "second reason".into()],
            &[],
            7,
            1_700_000_000,
        )
        .unwrap();
        let text = String::from_utf8(mail.bytes).unwrap();
        assert!(text.contains("In-Reply-To: <r1@example.org>"), "{text}");
        assert!(text.contains("References: <log1@buildd> <r1@example.org>"));
        assert!(text.contains("Auto-Submitted: auto-replied"));
        assert!(text.contains("Subject: Re: Log for successful build of hello_1.0-1"));
        assert!(
            text.contains("Your mail could not be processed:\r\nfirst reason\r\nsecond reason\r\n"),
            "{text}"
        );
        assert!(text.contains("> retry"));
        assert_eq!(mail.to, vec!["admin@example.org".to_string()]);
    }

    #[test]
    fn durations_and_wrapping() {
        assert_eq!(human_duration(Some(3725)), "1 hour, 2 minutes, 5 seconds");
        assert_eq!(human_duration(None), "not available");
        let w = wrap(&"word ".repeat(40), 72);
        assert!(w.lines().all(|l| l.len() <= 72), "{w}");
        assert_eq!(w.split_whitespace().count(), 40);
    }

    #[test]
    fn reasons_name_every_role() {
        let r = Recipient {
            address: "a@example.org".into(),
            roles: vec![Role::BuilddAdmin, Role::Creator],
        };
        assert_eq!(
            r.reason(),
            "You are receiving this email because you are a buildd administrator and you created this version of this package."
        );
    }
}
