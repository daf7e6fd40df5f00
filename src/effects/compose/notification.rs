//! FAILEDTOUPLOAD and build-failure notifications (Launchpad's format):
//! recipients, headers, the body from the templates.

use lettre::message::header::ContentType;
use lettre::Message;
use minijinja::context;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{Config, OWN_MESSAGE_ID_PREFIX};
use crate::debian::changes;
use crate::debian::changes::Changes;
use crate::effects::compose::domain_of;
use crate::effects::compose::mailbox;
use crate::effects::compose::raw_header;
use crate::effects::compose::ComposeError;
use crate::effects::compose::Composed;
use crate::effects::compose::Kind;
use crate::effects::compose::Templates;
use crate::model::{BuildRecord, State};
use lettre::message::Mailbox;

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
pub(super) fn address_of(field: &str) -> Option<String> {
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
pub(super) fn component(changes: Option<&Changes>) -> String {
    changes
        .and_then(|c| c.files.iter().find_map(|f| f.section.clone()))
        .and_then(|s| s.split_once('/').map(|(c, _)| c.to_string()))
        .unwrap_or_else(|| "main".into())
}

/// Seconds in words: `1 hour, 2 minutes, 5 seconds`.
pub(super) fn human_duration(secs: u64) -> String {
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

/// A URL template with `{src}`, `{ver}`, `{arch}`, `{dist}` filled in
/// (`{source}` and `{version}`, the upload command's names, too); `None`
/// without a template (the notice then leaves the row out).
pub fn url(template: Option<&str>, record: &BuildRecord) -> Option<String> {
    template.map(|t| {
        t.replace("{src}", &record.key.source)
            .replace("{source}", &record.key.source)
            .replace("{ver}", &record.version)
            .replace("{version}", &record.version)
            .replace("{arch}", &record.key.arch)
            .replace("{dist}", &record.key.dist)
    })
}

/// Wraps `text` at `width` columns (words longer than a line stay whole).
pub fn wrap(text: &str, width: usize) -> String {
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    textwrap::fill(&words, textwrap::Options::new(width).break_words(false))
}

/// The build's title: `<arch> build of <src> <ver> in <dist>`.
pub fn title(record: &BuildRecord) -> String {
    format!(
        "{} build of {} {} in {}",
        record.key.arch, record.key.source, record.version, record.key.dist
    )
}

/// The build facts in a notification's headers.
pub(super) struct Head<'a> {
    kind: Kind,
    state: State,
    arch: &'a str,
    archive: &'a str,
    component: &'a str,
    /// The build's log mail, to thread on.
    thread: Option<&'a str>,
}

/// One notification mail to `r`, with Launchpad's headers.
pub(super) fn notification(
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
        .date(crate::time::system_time(now))
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

/// Why an upload failed, which decides who has to act: the notices say
/// so plainly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadFailure {
    /// On the farm's side: the upload command failed or was interrupted,
    /// or the files no longer matched the signed `.changes`. The buildd
    /// admins are told (with the command's output) and upload again; the
    /// package's creator and maintainer need not act, and do not get the
    /// farm's log.
    Farm,
    /// The archive or its upload queue refused the upload (REJECTED, a
    /// failed "Processing of"): its answer, the upload log, says why and
    /// goes to everyone notified.
    Archive,
}

impl UploadFailure {
    /// The `cause` the template gets: `farm` or `archive`.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadFailure::Farm => "farm",
            UploadFailure::Archive => "archive",
        }
    }
}

/// Composes the notifications about `record` entering Failed-To-Upload
/// for `cause`: one mail per recipient, the admins' with the upload log,
/// the creator's and maintainer's saying whether they need to act. `event`
/// makes the Message-IDs unique (the job or mail that caused the failure).
/// Refuses without an upload log.
pub fn failed_to_upload(
    config: &Config,
    templates: &Templates,
    record: &BuildRecord,
    cause: UploadFailure,
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
        let admin = r.roles.contains(&Role::BuilddAdmin);
        // The farm's own log (its paths, a traceback) is for the admins;
        // the archive's answer is for everyone.
        let log = (admin || cause == UploadFailure::Archive).then(|| upload_log.trim_end());
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
                duration => record.build_duration.map(human_duration),
                build_log_url => url(config.notify.build_log_url.as_deref(), record),
                builder => record.builder.clone(),
                source_url => url(config.notify.source_url.as_deref(), record),
                upload_log => log,
                cause => cause.as_str(),
                admin => admin,
                title => title(record),
                reason => wrap(&r.reason(), 72),
            },
        )?;
        let message_id = format!(
            "{OWN_MESSAGE_ID_PREFIX}failed-to-upload.{id}.{event}.{n}@{}",
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
pub(super) struct ArchFailure {
    arch: String,
    state_title: String,
    builder: Option<String>,
    duration: Option<String>,
    build_log_url: Option<String>,
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
            builder: r.builder.clone(),
            duration: r.build_duration.map(human_duration),
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
            "{OWN_MESSAGE_ID_PREFIX}build-failure.{}.{event}.{n}@{}",
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
