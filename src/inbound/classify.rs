//! Classifying a parsed mail: a log mail (and the facts its log gives),
//! an admin reply, an archive or upload-queue answer, or another mail. Pure:
//! no store, no I/O.

use std::borrow::Cow;

use crate::config::Config;
use crate::debian::names::{is_dist_name, is_package_name, is_version};
use crate::debian::Status;
use crate::inbound::mail;
use crate::inbound::mail::{Inbound, LogSubject};
use crate::inbound::reply;
use crate::inbound::reply::Question;
use crate::inbound::sbuild;
use crate::inbound::sbuild::BuildLog;
use crate::model::BuildKey;

/// What the pure analysis of a mail decided.
#[derive(Debug)]
pub enum Analysis<'a> {
    /// A log mail, ready to commit.
    Log(Box<LogAnalysis<'a>>),
    /// An admin reply: the question it answers.
    Reply(Question),
    /// A mail from the archive or the upload queue about an upload.
    Archive(mail::ArchiveSubject),
    /// Another kind of mail.
    Other,
    /// Cannot be processed: the reason.
    Reject(String),
}

/// The facts extracted from a log mail.
#[derive(Debug)]
pub struct LogAnalysis<'a> {
    /// The build it is for.
    pub key: BuildKey,
    /// Version built.
    pub version: String,
    /// Status (Summary over subject).
    pub status: Status,
    /// The parsed log.
    pub log: BuildLog,
    /// The log bytes (of a large compressed log, its start and end).
    pub log_bytes: Cow<'a, [u8]>,
    /// The whole log's size.
    pub log_size: u64,
    /// The process's large-log turn, held as long as `log_bytes`.
    pub large: Option<crate::inbound::mail::LargeLog>,
    /// The log as it arrived gzip-compressed, if it did.
    pub log_gz: Option<Cow<'a, [u8]>>,
    /// The unsigned `.changes`, from the part or the Changes section.
    pub changes: Option<String>,
    /// Archive from the subject.
    pub archive: Option<String>,
    /// Disagreements between the subject and the log.
    pub notes: Vec<String>,
    /// Why the log cannot prove a success (no Summary, cut off, status
    /// contradicting the subject); `None` for a whole log.
    pub incomplete: Option<String>,
    /// The `From:` address of the log mail.
    pub from: Option<String>,
}

/// Decides, without I/O, what a parsed mail is and what it says.
pub fn analyse<'a>(mail: &'a Inbound<'a>, config: &Config) -> Analysis<'a> {
    analyse_with_body(mail, mail, config)
}

/// [`analyse`], reading a log mail's parts from `body`: the mail itself, or
/// the PGP/MIME-signed entity of a builder's signed log mail (so that no
/// unsigned part beside it is ever taken for the log).
pub fn analyse_with_body<'a>(
    mail: &Inbound<'_>,
    body: &'a Inbound<'a>,
    config: &Config,
) -> Analysis<'a> {
    let Some(subject) = mail::parse_log_subject(mail.subject()) else {
        if let Some(a) = mail::parse_archive_subject(mail.subject()) {
            return Analysis::Archive(a);
        }
        return match Question::parse(mail.subject()) {
            Some(q) => Analysis::Reply(q),
            None => Analysis::Other,
        };
    };
    let parts = match mail::log_parts(
        body,
        mail::Limits {
            max_log_size: config.limits.max_log_size,
            max_log_ratio: config.limits.max_log_ratio,
        },
    ) {
        Ok(p) => p,
        Err(e) => return Analysis::Reject(format!("log mail {:?}: {e}", mail.subject())),
    };
    let mut log = sbuild::parse(&parts.log);
    if let Some(summary) = &parts.summary {
        merge_summary(&mut log, sbuild::parse_summary_part(summary));
    }
    let from = mail.from_address().map(str::to_string);
    analyse_log(
        subject,
        log,
        (parts.log, parts.log_size, parts.large),
        parts.gzip,
        parts.changes,
        from,
        config,
    )
}

/// Whether the log names, by itself, the build and status `a` gives it: a
/// signed log is believed only for what the signature covers, never for
/// what the (unsigned) Subject fills in. `Err` says what is missing or
/// differs.
pub fn names_itself(a: &LogAnalysis<'_>) -> Result<(), String> {
    let log = &a.log;
    let same = |what: &str, from_log: Option<&String>, want: &str| match from_log {
        Some(l) if l == want => Ok(()),
        Some(l) => Err(format!("the log's {what} is {l}, not {want}")),
        None => Err(format!("the log names no {what}")),
    };
    same("package", log.package.as_ref(), &a.key.source)?;
    same("version", log.version.as_ref(), &a.version)?;
    same("distribution", log.distribution.as_ref(), &a.key.dist)?;
    if a.key.arch == "all" {
        // `on all` comes from the Subject: the log must say it built the
        // architecture-independent packages only.
        if log.build_type.as_deref() != Some("all") {
            return Err("the Subject says `on all` but the log's Build Type is not all".into());
        }
    } else {
        same("host architecture", log.host_arch.as_ref(), &a.key.arch)?;
    }
    match log.status {
        Some(s) if s == a.status => Ok(()),
        _ => Err("the log's Summary gives no status of its own".into()),
    }
}

/// Fills what the log itself lacks from the `.summary` part.
fn merge_summary(log: &mut BuildLog, part: BuildLog) {
    macro_rules! fill {
        ($($f:ident),*) => { $( if log.$f.is_none() { log.$f = part.$f; } )* };
    }
    fill!(
        package,
        version,
        source_version,
        distribution,
        host_arch,
        build_arch,
        machine_arch,
        build_type,
        build_profiles,
        status,
        fail_stage,
        build_time,
        install_time,
        package_time,
        space,
        build_space
    );
    if log.summary.is_empty() {
        log.summary = part.summary;
    }
}

fn analyse_log<'a>(
    subject: LogSubject,
    log: BuildLog,
    (log_bytes, log_size, large): (Cow<'a, [u8]>, u64, Option<crate::inbound::mail::LargeLog>),
    log_gz: Option<Cow<'a, [u8]>>,
    changes_part: Option<Cow<'a, [u8]>>,
    from: Option<String>,
    config: &Config,
) -> Analysis<'a> {
    let mut notes = Vec::new();
    let mut pick =
        |what: &str, from_log: Option<&String>, from_subject: Option<&str>| -> Option<String> {
            match (from_log, from_subject) {
                (Some(l), Some(s)) if l != s => {
                    notes.push(format!(
                        "subject says {what} {s}, the log says {l}; trusting the log"
                    ));
                    Some(l.clone())
                }
                (Some(l), _) => Some(l.clone()),
                (None, s) => s.map(str::to_string),
            }
        };
    let source = pick("source", log.package.as_ref(), Some(&subject.source));
    let version = pick("version", log.version.as_ref(), Some(&subject.version));
    let dist = pick(
        "distribution",
        log.distribution.as_ref(),
        Some(&subject.dist),
    );
    // ` on all` names the arch-independent build, which runs on some host
    // architecture: the log's host arch is expected to differ. ` source`
    // only says the upload includes the source; the arch comes from
    // ` on <arch>` or the log.
    let arch = if subject.arch_all {
        Some("all".to_string())
    } else {
        pick(
            "architecture",
            log.host_arch.as_ref(),
            subject.arch.as_deref(),
        )
    }
    .unwrap_or_else(|| config.default_arch.clone());
    let subject_status = Status::parse(&subject.status);
    // What keeps this log from proving a success: a log mail is believed
    // only when it is whole.
    let incomplete = if log.summary.is_empty() {
        Some("the log has no sbuild Summary".to_string())
    } else if log.finished_at.is_none() {
        Some("the log has no `Finished at` line (it is cut off)".to_string())
    } else {
        match (log.status, subject_status) {
            (Some(l), Some(s)) if l != s => Some(format!(
                "the subject says {s} but the log's Summary says {l}"
            )),
            _ => None,
        }
    };
    let status = match (log.status, subject_status) {
        (Some(l), Some(s)) if l != s => {
            notes.push(format!(
                "subject says status {s}, the log's Summary says {l}; trusting the Summary"
            ));
            l
        }
        (Some(l), _) => l,
        (None, Some(s)) => s,
        (None, None) => {
            return Analysis::Reject(format!(
                "cannot tell the build status: the log has no Summary and the subject's status {:?} is not one of successful, attempted, given-back, skipped, failed",
                subject.status
            ))
        }
    };
    let (Some(source), Some(version), Some(dist)) = (source, version, dist) else {
        return Analysis::Reject("the log mail names no source, version or distribution".into());
    };
    if !is_package_name(&source) {
        return Analysis::Reject(format!("{source:?} is not a Debian source package name"));
    }
    if !is_version(&version) {
        return Analysis::Reject(format!("{version:?} is not a Debian version"));
    }
    if !is_dist_name(&dist) || !(crate::debian::names::is_arch_name(&arch)) {
        return Analysis::Reject(format!(
            "{dist:?}/{arch:?} is not a distribution/architecture pair"
        ));
    }
    let changes = changes_part
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .or_else(|| log.changes.clone());
    Analysis::Log(Box::new(LogAnalysis {
        key: BuildKey { dist, arch, source },
        version,
        status,
        log,
        log_bytes,
        log_size,
        large,
        log_gz,
        changes,
        archive: subject.archive,
        notes,
        incomplete,
        from,
    }))
}

/// What forwarding a mail needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardFacts {
    /// The `From:` address.
    pub from: Option<String>,
    /// It comes from a mailer daemon or is otherwise automatic (a bounce).
    pub bounce: bool,
    /// buildmail sent it itself (it came back): never forwarded.
    pub ours: bool,
}

impl ForwardFacts {
    pub fn of(mail: &Inbound<'_>, config: &Config) -> ForwardFacts {
        let from = mail.from_address().map(str::to_string);
        let ours = mail.header_text("X-Buildmail-Kind").is_some()
            || from
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case(&config.from_address));
        ForwardFacts {
            bounce: reply::must_not_answer(mail, "").is_some(),
            from,
            ours,
        }
    }
}

/// The largest text kept from an archive mail as an upload log.
pub const ARCHIVE_TEXT_LIMIT: usize = 256 * 1024;

/// The facts of a log mail that the commit needs: no borrowed bytes, so a
/// prepared mail can cross threads.
#[derive(Debug, Clone)]
pub struct LogFacts {
    /// The build.
    pub key: BuildKey,
    /// Version built.
    pub version: String,
    /// Status (Summary over subject).
    pub status: Status,
    /// Fail-stage.
    pub fail_stage: Option<String>,
    /// Builder host.
    pub builder: Option<String>,
    /// `Build needed`, seconds.
    pub build_needed_secs: Option<u64>,
    /// The unsigned `.changes`.
    pub changes: Option<String>,
    /// Archive from the subject.
    pub archive: Option<String>,
    /// Disagreements between subject and log.
    pub notes: Vec<String>,
    /// The status the log itself states (its Summary or `.summary` part),
    /// which the explanation starts from.
    pub log_status: Option<Status>,
    /// Why the log cannot prove a success, if it cannot.
    pub incomplete: Option<String>,
    /// The `From:` address of the log mail.
    pub from: Option<String>,
    /// The builders whose keys signed the log mail (PGP/MIME) — entries
    /// may share a key — when the signed log names its build itself.
    pub signed_by: Vec<String>,
    /// That signature, for the replay record.
    pub signature: Option<crate::inbound::reply::Signer>,
    /// The uncompressed log size.
    pub log_size: u64,
    /// The compressed size (as archived).
    pub compressed_size: u64,
}

impl LogAnalysis<'_> {
    /// The facts the commit needs, given the size of the log as archived.
    pub fn facts(self, compressed_size: u64) -> LogFacts {
        LogFacts {
            key: self.key,
            version: self.version,
            status: self.status,
            log_status: self.log.status,
            fail_stage: self.log.fail_stage,
            builder: self.log.builder,
            build_needed_secs: self.log.build_needed_secs,
            changes: self.changes,
            archive: self.archive,
            notes: self.notes,
            incomplete: self.incomplete,
            from: self.from,
            signed_by: Vec::new(),
            signature: None,
            log_size: self.log_size,
            compressed_size,
        }
    }
}
