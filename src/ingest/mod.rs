//! Ingestion: one raw mail in, one durable commit out.
//!
//! [`Ingest::mail`] hashes the mail, parses it, classifies it, decides what
//! it does to the build (a pure step: [`analyse`]), and commits everything in
//! one transaction. It never flushes: the caller makes the commit durable
//! (`deliver` after every mail, `import` in batches) and only then
//! acknowledges the mail.
//!
//! Bad input never fails ingestion: it is quarantined with a reason.

pub mod source;

use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::archive::LogArchive;
use crate::config::Config;
use crate::explain;
use crate::mail::{self, Inbound, LogSubject};
use crate::reply::{self, Decision, Question, Reply, Request};
use crate::sbuild::{self, BuildLog, Status};
use crate::signature::Keyring;
use crate::state::{self, ArchiveEvent, LogDecision, State};
use crate::store::{
    self, BuildKey, BuildRecord, Commit, Committed, HistoryEntry, LogRef, MailRecord,
    QuarantineEntry, Store, StoreError,
};
use crate::store::{Job, JobKind, SignatureUse};

/// What happened to one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A build log was recorded.
    Log {
        /// The build.
        key: BuildKey,
        /// The version the log was for.
        version: String,
        /// The state after the log.
        state: State,
        /// Whether the state moved (`false`: recorded only).
        moved: bool,
    },
    /// An admin reply was processed.
    Reply {
        /// The build it answered.
        key: BuildKey,
        /// The command, in words.
        command: String,
        /// Whether it was carried out (`false`: refused, see `reasons`).
        applied: bool,
        /// The build's state after it (`None`: no such build).
        state: Option<State>,
        /// Why it was refused.
        reasons: Vec<String>,
    },
    /// An archive or upload-queue answer about one of buildmail's uploads.
    Archive {
        /// The build.
        key: BuildKey,
        /// What the archive said.
        event: ArchiveEvent,
        /// The state after it.
        state: State,
    },
    /// Not one of buildmail's kinds: forwarded to the admin, or kept.
    Forwarded {
        /// Whether it was queued for forwarding (`false`: kept only).
        forwarded: bool,
        /// What happened, in words.
        note: String,
    },
    /// Ingested before; nothing changed.
    Duplicate(String),
    /// Could not be processed; kept in quarantine.
    Quarantined {
        /// The quarantine id.
        id: u64,
        /// Why.
        reason: String,
    },
}

/// A raw mail as read from a source.
#[derive(Debug)]
pub enum RawMail {
    /// The whole mail, in memory.
    Bytes(Vec<u8>),
    /// A mail larger than `limits.max_message_size`, spilled to a file.
    Oversize {
        /// The file holding the whole mail.
        file: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// SHA-256 of the whole mail (hex).
        sha256: String,
        /// The first bytes (for the Message-ID and Subject).
        head: Vec<u8>,
    },
}

/// Ingests mails into a store.
pub struct Ingest<'a> {
    store: &'a Store,
    config: &'a Config,
    archive: LogArchive,
    keyring: Keyring,
    mailer: crate::work::Mailer<'a>,
}

/// SHA-256 of `bytes`, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

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
    /// The log bytes.
    pub log_bytes: Cow<'a, [u8]>,
    /// The log as it arrived gzip-compressed, if it did.
    pub log_gz: Option<Cow<'a, [u8]>>,
    /// The unsigned `.changes`, from the part or the Changes section.
    pub changes: Option<String>,
    /// Archive from the subject.
    pub archive: Option<String>,
    /// Disagreements between the subject and the log.
    pub notes: Vec<String>,
    /// The explanation of a failure.
    pub explanation: Option<explain::Explanation>,
}

/// Whether `s` is a plausible Debian source package name.
pub fn is_package_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b.len() <= 200
        && b.first()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(c))
}

/// Whether `s` is a plausible Debian version (epoch and binNMU suffix allowed).
pub fn is_version(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 200
        && s.bytes().next().is_some_and(|c| c.is_ascii_digit())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".+~:-".contains(&c))
}

fn is_dist_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".+-_/~".contains(&c))
}

/// Decides, without I/O, what a parsed mail is and what it says.
pub fn analyse<'a>(mail: &'a Inbound<'a>, config: &Config) -> Analysis<'a> {
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
        mail,
        mail::Limits {
            max_log_size: config.limits.max_log_size,
        },
    ) {
        Ok(p) => p,
        Err(e) => return Analysis::Reject(format!("log mail {:?}: {e}", mail.subject())),
    };
    let mut log = sbuild::parse(&parts.log);
    if let Some(summary) = &parts.summary {
        merge_summary(&mut log, sbuild::parse_summary_part(summary));
    }
    analyse_log(subject, log, parts.log, parts.gzip, parts.changes, config)
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
    log_bytes: Cow<'a, [u8]>,
    log_gz: Option<Cow<'a, [u8]>>,
    changes_part: Option<Cow<'a, [u8]>>,
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
    if !is_dist_name(&dist) || !(crate::config::is_arch_name(&arch)) {
        return Analysis::Reject(format!(
            "{dist:?}/{arch:?} is not a distribution/architecture pair"
        ));
    }
    let explanation = if status == Status::Successful {
        None
    } else {
        explain::explain(&log_bytes, &log)
    };
    let changes = changes_part
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .or_else(|| log.changes.clone());
    Analysis::Log(Box::new(LogAnalysis {
        key: BuildKey { dist, arch, source },
        version,
        status,
        log,
        log_bytes,
        log_gz,
        changes,
        archive: subject.archive,
        notes,
        explanation,
    }))
}

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
    /// Why it failed.
    pub explanation: Option<explain::Explanation>,
    /// The uncompressed log size.
    pub log_size: u64,
    /// The compressed size (as archived).
    pub compressed_size: u64,
}

impl LogFacts {
    /// The facts, and the compressed log to archive.
    fn from_analysis(a: LogAnalysis<'_>) -> (LogFacts, Cow<'_, [u8]>) {
        let gz = match a.log_gz {
            Some(g) => g,
            None => Cow::Owned(gzip(&a.log_bytes)),
        };
        let facts = LogFacts {
            key: a.key,
            version: a.version,
            status: a.status,
            fail_stage: a.log.fail_stage,
            builder: a.log.builder,
            build_needed_secs: a.log.build_needed_secs,
            changes: a.changes,
            archive: a.archive,
            notes: a.notes,
            explanation: a.explanation,
            log_size: a.log_bytes.len() as u64,
            compressed_size: gz.len() as u64,
        };
        (facts, gz)
    }
}

/// A mail after the CPU-heavy, store-independent half of ingestion
/// ([`Ingest::prepare`]); [`Ingest::commit`] does the rest.
#[derive(Debug)]
pub struct Prepared {
    /// SHA-256 of the raw mail (hex).
    pub sha256: String,
    /// Message-ID, if the mail has one.
    pub message_id: Option<String>,
    /// What the mail is.
    pub body: PreparedBody,
}

/// What a prepared mail is.
#[derive(Debug)]
pub enum PreparedBody {
    /// A build log.
    Log(Box<LogFacts>),
    /// An admin reply, read and its signature checked.
    Reply(Box<Reply>),
    /// An archive or upload-queue answer.
    Archive {
        /// What it says.
        subject: mail::ArchiveSubject,
        /// Its text (the rejection text, the queue report), bounded.
        text: String,
        /// How to forward it if no upload of buildmail's matches.
        forward: Box<ForwardFacts>,
    },
    /// Another kind of mail: forwarded to the admin.
    Other(Box<ForwardFacts>),
    /// Ingested before (found by its bytes); nothing to do.
    Seen(String),
    /// To be quarantined for this reason.
    Reject {
        /// Why.
        reason: String,
        /// Subject, if readable.
        subject: Option<String>,
        /// From, if readable.
        from: Option<String>,
    },
    /// Over `limits.max_message_size`: quarantined, the raw mail in a file.
    TooLarge {
        /// Subject, if readable from the first bytes.
        subject: Option<String>,
        /// From, if readable from the first bytes.
        from: Option<String>,
    },
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
    fn of(mail: &Inbound<'_>, config: &Config) -> ForwardFacts {
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
const ARCHIVE_TEXT_LIMIT: usize = 256 * 1024;

/// Builds the new record and history line for a log, from the current record.
/// Returns the record, the history line, and whether the state moved.
pub fn apply_log(
    current: Option<&BuildRecord>,
    a: &LogFacts,
    message_id: Option<&str>,
    log_id: &str,
    now: i64,
) -> (BuildRecord, HistoryEntry, bool) {
    let decision = state::decide_log(
        current.map(|r| (r.state, r.version.as_str())),
        &a.version,
        a.status,
    );
    let from = current.map(|r| r.state);
    let same_version = current.is_some_and(|c| c.version == a.version);
    let mut notes = a.notes.clone();
    if let Some(stage) = &a.fail_stage {
        notes.insert(0, format!("fail-stage {stage}"));
    }
    let new_record = |to: State| BuildRecord {
        key: a.key.clone(),
        version: a.version.clone(),
        state: to,
        previous_state: from,
        state_change: now,
        archive: a
            .archive
            .clone()
            .or_else(|| current.and_then(|c| c.archive.clone())),
        last_status: Some(a.status),
        fail_stage: a.fail_stage.clone(),
        builder: a.builder.clone(),
        last_log_message_id: message_id.map(str::to_string),
        last_log: Some(log_id.to_string()),
        explanation: a.explanation.clone(),
        build_duration: a.build_needed_secs,
        changes: (a.status == Status::Successful)
            .then(|| a.changes.clone())
            .flatten(),
        notes: a.notes.clone(),
        failed_reason: None,
        depends: None,
        priority: None,
        // An upload asked for this very version stays on record.
        upload: same_version
            .then(|| current.and_then(|c| c.upload.clone()))
            .flatten(),
        upload_log: same_version
            .then(|| current.and_then(|c| c.upload_log.clone()))
            .flatten(),
        pending_job: same_version
            .then(|| current.and_then(|c| c.pending_job))
            .flatten(),
    };
    let (record, moved) = match (&decision, current) {
        (LogDecision::Record(reason), Some(cur)) => {
            notes.push(reason.clone());
            (cur.clone(), false)
        }
        (LogDecision::Create(to) | LogDecision::Move(_, to), _) => (new_record(*to), true),
        // decide_log records only when a record exists; treat anything else
        // as a new build waiting to be built.
        (LogDecision::Record(reason), None) => {
            notes.push(reason.clone());
            (new_record(State::NeedsBuild), true)
        }
    };
    let history = HistoryEntry {
        time: now,
        from,
        to: Some(record.state),
        version: a.version.clone(),
        event: format!("log:{}", a.status.as_str()),
        message_id: message_id.map(str::to_string),
        signer: None,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    };
    (record, history, moved)
}

/// Compresses a log for the archive (fast level: logs compress ~10× anyway).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 6 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// The raw bytes to keep of a mail: the whole mail, or the first bytes of
/// one that lives in a file.
fn raw_bytes(raw: &RawMail) -> &[u8] {
    match raw {
        RawMail::Bytes(b) => b,
        RawMail::Oversize { head, .. } => head,
    }
}

impl<'a> Ingest<'a> {
    /// An ingester over an open store.
    ///
    /// The admins' keyring is loaded from `signatures.keyrings`; keyring
    /// files that are missing or broken are reported (`check-config` names
    /// the problem) and leave the keyring without those certificates, so
    /// that signed replies are refused rather than mails lost.
    pub fn new(store: &'a Store, config: &'a Config) -> Ingest<'a> {
        let keyring = Keyring::load(&config.signatures.existing_keyrings()).unwrap_or_else(|e| {
            tracing::warn!("{e}; signed replies will be refused until it is fixed");
            Keyring::default()
        });
        Ingest::with_keyring(store, config, keyring)
    }

    /// An ingester that checks signatures against `keyring`.
    pub fn with_keyring(store: &'a Store, config: &'a Config, keyring: Keyring) -> Ingest<'a> {
        Ingest {
            store,
            config,
            archive: LogArchive::new(&config.database.log_archive),
            keyring,
            mailer: crate::work::Mailer::new(config),
        }
    }

    /// Ingests one raw mail: [`Ingest::prepare`] then [`Ingest::commit`].
    /// Errors only when the store fails; the caller must then not
    /// acknowledge the mail.
    pub fn raw(&self, raw: &RawMail) -> Result<Outcome, StoreError> {
        let prepared = self.prepare(raw)?;
        self.commit(raw, &prepared)
    }

    /// Ingests one mail held in memory.
    pub fn mail(&self, raw: &[u8]) -> Result<Outcome, StoreError> {
        // RawMail owns its bytes; copying is cheaper than a second code path.
        self.raw(&RawMail::Bytes(raw.to_vec()))
    }

    /// The CPU-heavy half: hashing, MIME parsing, log parsing, explaining,
    /// compressing, and writing the compressed log to the archive. Reads the
    /// store only to skip mails seen before, so many threads may prepare at
    /// once.
    pub fn prepare(&self, raw: &RawMail) -> Result<Prepared, StoreError> {
        let (bytes, sha256) = match raw {
            RawMail::Bytes(b) => (b.as_slice(), sha256_hex(b)),
            RawMail::Oversize { head, sha256, .. } => (head.as_slice(), sha256.clone()),
        };
        if let Some(seen) = self.store.seen(&sha256, None)? {
            return Ok(Prepared {
                sha256,
                message_id: None,
                body: PreparedBody::Seen(format!(
                    "this mail was ingested before ({})",
                    seen.outcome
                )),
            });
        }
        let parsed = Inbound::parse(bytes);
        let subject = parsed.as_ref().ok().map(|p| p.subject().to_string());
        let from = parsed
            .as_ref()
            .ok()
            .and_then(|p| p.from_address())
            .map(str::to_string);
        if matches!(raw, RawMail::Oversize { .. })
            || bytes.len() as u64 > self.config.limits.max_message_size
        {
            // The Message-ID of a truncated head is not trusted for dedup.
            return Ok(Prepared {
                sha256,
                message_id: None,
                body: PreparedBody::TooLarge { subject, from },
            });
        }
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                return Ok(Prepared {
                    sha256,
                    message_id: None,
                    body: PreparedBody::Reject {
                        reason: e.to_string(),
                        subject: None,
                        from: None,
                    },
                })
            }
        };
        let message_id = parsed.message_id().map(str::to_string);
        if let Some(mid) = &message_id {
            if let Some(seen) = self.store.seen(&sha256, Some(mid))? {
                return Ok(Prepared {
                    sha256,
                    message_id: None,
                    body: PreparedBody::Seen(format!(
                        "a mail with Message-ID <{mid}> was ingested before ({})",
                        seen.outcome
                    )),
                });
            }
        }
        // The parsers must never panic; if one does anyway, the mail is
        // quarantined rather than lost or retried forever.
        let analysis = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            match analyse(&parsed, self.config) {
                Analysis::Log(a) => {
                    let (facts, gz) = LogFacts::from_analysis(*a);
                    Ok((PreparedBody::Log(Box::new(facts)), Some(gz.into_owned())))
                }
                Analysis::Reply(question) => {
                    let policy = crate::signature::Policy {
                        max_age: self.config.signatures.max_age,
                        ..crate::signature::Policy::default()
                    };
                    let r = reply::read(
                        &parsed,
                        question,
                        &self.keyring,
                        &policy,
                        &self.config.from_address,
                        store::now(),
                    );
                    Ok((PreparedBody::Reply(Box::new(r)), None))
                }
                Analysis::Archive(subject) => Ok((
                    PreparedBody::Archive {
                        subject,
                        text: mail::body_text(&parsed, ARCHIVE_TEXT_LIMIT),
                        forward: Box::new(ForwardFacts::of(&parsed, self.config)),
                    },
                    None,
                )),
                Analysis::Other => Ok((
                    PreparedBody::Other(Box::new(ForwardFacts::of(&parsed, self.config))),
                    None,
                )),
                Analysis::Reject(reason) => Ok((
                    PreparedBody::Reject {
                        reason,
                        subject: subject.clone(),
                        from: from.clone(),
                    },
                    None,
                )),
            }
        }))
        .unwrap_or_else(|_| {
            Ok::<_, StoreError>((
                PreparedBody::Reject {
                    reason: "internal error: a parser panicked on this mail (please report it)"
                        .into(),
                    subject,
                    from,
                },
                None,
            ))
        })?;
        let (body, gz) = analysis;
        // The log is durable in the archive before any commit refers to it.
        if let Some(gz) = gz {
            self.archive
                .write(&sha256, &gz)
                .map_err(|source| StoreError::Io {
                    path: self.archive.dir().to_path_buf(),
                    source,
                })?;
        }
        Ok(Prepared {
            sha256,
            message_id,
            body,
        })
    }

    /// The committing half: decides the transition against the current
    /// record and writes everything in one transaction. Mails must be
    /// committed in the order they arrived.
    pub fn commit(&self, raw: &RawMail, p: &Prepared) -> Result<Outcome, StoreError> {
        if let PreparedBody::Seen(why) = &p.body {
            return Ok(Outcome::Duplicate(why.clone()));
        }
        if let Some(seen) = self.store.seen(&p.sha256, p.message_id.as_deref())? {
            return Ok(Outcome::Duplicate(match &p.message_id {
                Some(mid) => format!(
                    "a mail with Message-ID <{mid}> was ingested before ({})",
                    seen.outcome
                ),
                None => format!("this mail was ingested before ({})", seen.outcome),
            }));
        }
        let now = store::now();
        let record = |kind: &str, outcome: String, build: Option<BuildKey>| MailRecord {
            sha256: p.sha256.clone(),
            message_id: p.message_id.clone(),
            received: now,
            kind: kind.into(),
            outcome,
            build,
        };
        match &p.body {
            PreparedBody::Seen(_) => Ok(Outcome::Duplicate(String::new())),
            PreparedBody::Other(f) => self.commit_forward(raw, p, f, "other", now),
            PreparedBody::Archive {
                subject,
                text,
                forward,
            } => self.commit_archive(raw, p, subject, text, forward, now),
            PreparedBody::Reject {
                reason,
                subject,
                from,
            } => {
                let entry = QuarantineEntry {
                    id: 0,
                    time: now,
                    reason: reason.clone(),
                    message_id: p.message_id.clone(),
                    subject: subject.clone(),
                    from: from.clone(),
                    size: raw_bytes(raw).len() as u64,
                    sha256: p.sha256.clone(),
                    raw_file: None,
                };
                self.commit_quarantine(
                    record("quarantined", format!("quarantined: {reason}"), None),
                    entry,
                    raw_bytes(raw),
                )
            }
            PreparedBody::TooLarge { subject, from } => {
                let (file, size) = match raw {
                    RawMail::Oversize { file, size, .. } => (file.clone(), *size),
                    RawMail::Bytes(b) => (self.spill(&p.sha256, b)?, b.len() as u64),
                };
                let reason = format!(
                    "the mail is {size} bytes, over the limit of {} (`limits.max_message_size`); kept in {}",
                    self.config.limits.max_message_size,
                    file.display()
                );
                let entry = QuarantineEntry {
                    id: 0,
                    time: now,
                    reason: reason.clone(),
                    message_id: None,
                    subject: subject.clone(),
                    from: from.clone(),
                    size,
                    sha256: p.sha256.clone(),
                    raw_file: Some(file),
                };
                self.commit_quarantine(
                    record("quarantined", format!("quarantined: {reason}"), None),
                    entry,
                    &[],
                )
            }
            PreparedBody::Log(a) => self.commit_log(a, p, now),
            PreparedBody::Reply(r) => self.commit_reply(r, p, now),
        }
    }

    fn commit_log(&self, a: &LogFacts, p: &Prepared, now: i64) -> Result<Outcome, StoreError> {
        // One archived log per mail: the mail's own hash names it.
        let log_id = p.sha256.as_str();
        let current = self.store.build(&a.key)?;
        let (record, history, moved) =
            apply_log(current.as_ref(), a, p.message_id.as_deref(), log_id, now);
        let log_ref = LogRef {
            id: log_id.to_string(),
            key: a.key.clone(),
            version: a.version.clone(),
            time: now,
            message_id: p.message_id.clone(),
            size: a.log_size,
            compressed_size: a.compressed_size,
            status: Some(a.status),
        };
        let outcome = if moved {
            format!(
                "log {} for {} {}: now {}",
                a.status, a.key, a.version, record.state
            )
        } else {
            format!("log {} for {} {}: recorded", a.status, a.key, a.version)
        };
        let notice = moved
            .then(|| crate::work::notice_for(self.config, &record, record.state, now))
            .flatten();
        let c = Commit {
            notice,
            mail: Some(MailRecord {
                sha256: p.sha256.clone(),
                message_id: p.message_id.clone(),
                received: now,
                kind: "log".into(),
                outcome,
                build: Some(a.key.clone()),
            }),
            build: Some(record.clone()),
            history: Some(history),
            log: Some(log_ref),
            log_message_id: p.message_id.clone().map(|m| (m, a.key.clone())),
            ..Commit::default()
        };
        Ok(settled(self.store.commit(&c)?, |_| Outcome::Log {
            key: a.key.clone(),
            version: a.version.clone(),
            state: record.state,
            moved,
        }))
    }

    /// Forwards a mail to the admin address (intact, `Resent-*` headers
    /// added), unless it is buildmail's own, its sender is blacklisted, or
    /// too many bounces arrived lately: those are kept, not forwarded.
    fn commit_forward(
        &self,
        raw: &RawMail,
        p: &Prepared,
        f: &ForwardFacts,
        kind: &str,
        now: i64,
    ) -> Result<Outcome, StoreError> {
        let fw = &self.config.forward;
        let blacklisted = f
            .from
            .as_deref()
            .is_some_and(|from| fw.blacklist.iter().any(|b| b.eq_ignore_ascii_case(from)));
        let window = i64::try_from(fw.bounce_window.as_secs()).unwrap_or(i64::MAX);
        let keep = if f.ours {
            Some("buildmail's own mail came back; kept, not forwarded (no mail loops)".to_string())
        } else if blacklisted {
            Some("the sender is in forward.blacklist; kept, not forwarded".to_string())
        } else if f.bounce
            && self.store.bounces_since(now.saturating_sub(window))? >= fw.max_bounces as usize
        {
            Some(format!(
                "more than {} bounces within {:?}; kept, not forwarded (forward.max_bounces)",
                fw.max_bounces, fw.bounce_window
            ))
        } else {
            None
        };
        let mut c = Commit {
            unhandled: Some(raw_bytes(raw)),
            bounce: f.bounce,
            ..Commit::default()
        };
        let outcome = match &keep {
            Some(why) => why.clone(),
            None => {
                let id = self.store.generate_id()?;
                let bytes = crate::work::resent(&self.mailer, raw_bytes(raw), id, now);
                c.outbox.push((
                    store::OutboundMail {
                        id,
                        kind: "forward".into(),
                        to: vec![self.config.admin_address.clone()],
                        message_id: p.message_id.clone().unwrap_or_default(),
                        subject: String::new(),
                        queued: now,
                        attempts: 0,
                        last_error: None,
                        next_attempt: now,
                        dead: false,
                    },
                    bytes,
                ));
                format!("forwarded to {}", self.config.admin_address)
            }
        };
        c.mail = Some(MailRecord {
            sha256: p.sha256.clone(),
            message_id: p.message_id.clone(),
            received: now,
            kind: kind.into(),
            outcome: outcome.clone(),
            build: None,
        });
        Ok(settled(self.store.commit(&c)?, |_| Outcome::Forwarded {
            forwarded: keep.is_none(),
            note: outcome,
        }))
    }

    /// An archive or upload-queue answer about one of buildmail's uploads:
    /// ACCEPTED/INSTALLED → Installed; REJECTED and queue failures →
    /// Failed-To-Upload with the text as upload log and notifications; NEW
    /// and queue successes are noted. An answer about an upload buildmail
    /// did not make is forwarded.
    fn commit_archive(
        &self,
        raw: &RawMail,
        p: &Prepared,
        subject: &mail::ArchiveSubject,
        text: &str,
        forward: &ForwardFacts,
        now: i64,
    ) -> Result<Outcome, StoreError> {
        let Some(key) = self.store.upload_build(subject.changes())? else {
            return self.commit_forward(raw, p, forward, "archive", now);
        };
        let Some(record) = self.store.build(&key)? else {
            return self.commit_forward(raw, p, forward, "archive", now);
        };
        let event = match subject {
            mail::ArchiveSubject::Accepted { .. } => ArchiveEvent::Accepted,
            mail::ArchiveSubject::Rejected { .. } => ArchiveEvent::Rejected,
            mail::ArchiveSubject::New { .. } => ArchiveEvent::New,
            mail::ArchiveSubject::Processing { .. } => {
                if text.to_ascii_lowercase().contains("uploaded successfully") {
                    ArchiveEvent::QueueOk
                } else {
                    ArchiveEvent::QueueFailed
                }
            }
        };
        let mut new = record.clone();
        let note = match state::decide_archive(record.state, event) {
            Ok(state::Target::To(to)) => {
                if to != record.state {
                    new.previous_state = Some(record.state);
                    new.state_change = now;
                }
                new.state = to;
                match to {
                    State::FailedToUpload => {
                        new.upload_log = Some(text.trim().to_string())
                            .filter(|t| !t.is_empty())
                            .or_else(|| {
                                Some(format!(
                                    "{} (the mail had no text)",
                                    mail_subject_line(subject)
                                ))
                            });
                    }
                    State::Installed => new.upload_log = None,
                    _ => {}
                }
                format!("{}: now {to}", subject.changes())
            }
            Ok(_) => format!("{}: {}", subject.changes(), event.as_str()),
            Err(why) => why,
        };
        let mut c = Commit {
            history: Some(HistoryEntry {
                time: now,
                from: Some(record.state),
                to: Some(new.state),
                version: new.version.clone(),
                event: format!("archive:{}", event.as_str()),
                message_id: p.message_id.clone(),
                signer: None,
                note: Some(note.clone()),
            }),
            ..Commit::default()
        };
        if new.state == State::FailedToUpload && record.state != State::FailedToUpload {
            let event_id = self.store.generate_id()?;
            crate::work::queue_failed_to_upload(
                self.store,
                &self.mailer,
                &mut c,
                &new,
                event_id,
                now,
            )?;
        }
        c.build = Some(new.clone());
        c.mail = Some(MailRecord {
            sha256: p.sha256.clone(),
            message_id: p.message_id.clone(),
            received: now,
            kind: "archive".into(),
            outcome: note,
            build: Some(key.clone()),
        });
        Ok(settled(self.store.commit(&c)?, |_| Outcome::Archive {
            key,
            event,
            state: new.state,
        }))
    }

    /// The build a reply answers: the subject's arch, else the build of the
    /// log mail it answers (`In-Reply-To`/`References`), else the default
    /// architecture.
    fn reply_key(&self, r: &Reply) -> Result<BuildKey, StoreError> {
        let q = &r.question;
        let arch = match q.arch() {
            Some(a) => a.to_string(),
            None => {
                let mut found = None;
                for mid in &r.thread {
                    if let Some(k) = self.store.build_for_log_message(mid)? {
                        if k.source == q.source() && k.dist == q.dist() {
                            found = Some(k.arch);
                            break;
                        }
                    }
                }
                found.unwrap_or_else(|| self.config.default_arch.clone())
            }
        };
        Ok(BuildKey {
            dist: q.dist().to_string(),
            arch,
            source: q.source().to_string(),
        })
    }

    fn commit_reply(&self, r: &Reply, p: &Prepared, now: i64) -> Result<Outcome, StoreError> {
        let key = self.reply_key(r)?;
        let record = self.store.build(&key)?;
        let signer = r.signer();
        let rules = reply::Rules::of(self.config);
        let mut decision = reply::decide(r, &key, record.as_ref(), now, &rules);
        // The files of an upload are checked now, before anything is
        // committed: a refusal is answered at once.
        if let Decision::Apply(a) = &decision {
            if a.job == Some(JobKind::Upload) {
                if let Some(u) = &a.record.upload {
                    if let Err(problems) =
                        crate::upload::verify_files(&u.changes, &self.config.upload.build_dir)
                    {
                        decision = Decision::Refuse(problems);
                    }
                }
            }
        }
        let command = request_name(&r.request);
        let signature = signer.map(|s| SignatureUse {
            fingerprint: s.fingerprint.clone(),
            created: s.created,
            signed_sha256: s.signed_sha256.clone(),
            first_seen: now,
            message_id: p.message_id.clone(),
            outcome: match &decision {
                Decision::Apply(_) => format!("{command} for {key}: accepted"),
                Decision::Refuse(why) => {
                    format!("{command} for {key}: refused: {}", why.join("; "))
                }
            },
        });
        let c = self.reply_commit(r, p, &key, record.as_ref(), &decision, signature, now)?;
        match self.store.commit(&c)? {
            Committed::Replay(prev) => {
                let why = vec![format!(
                    "signature already seen at {}{}: every signed reply is acted on once; sign a new reply",
                    crate::cli::format_time(prev.first_seen),
                    prev.message_id
                        .as_deref()
                        .map(|m| format!(" (in mail <{m}>)"))
                        .unwrap_or_default()
                )];
                let decision = Decision::Refuse(why);
                let c = self.reply_commit(r, p, &key, record.as_ref(), &decision, None, now)?;
                Ok(settled(self.store.commit(&c)?, |_| {
                    reply_outcome(&key, command, &decision, record.as_ref())
                }))
            }
            other => Ok(settled(other, |_| {
                reply_outcome(&key, command, &decision, record.as_ref())
            })),
        }
    }

    /// The commit of a reply: its dedup record, signature record, the
    /// build's new record and history, the job, or the error reply.
    #[allow(clippy::too_many_arguments)]
    fn reply_commit(
        &self,
        r: &Reply,
        p: &Prepared,
        key: &BuildKey,
        record: Option<&BuildRecord>,
        decision: &Decision,
        signature: Option<SignatureUse>,
        now: i64,
    ) -> Result<Commit<'static>, StoreError> {
        let command = request_name(&r.request);
        let signer = r.signer().map(|s| s.fingerprint.clone());
        let mut c = Commit {
            signature,
            ..Commit::default()
        };
        let outcome = match decision {
            Decision::Apply(a) => {
                let mut new = a.record.clone();
                if let Some(u) = new
                    .upload
                    .as_ref()
                    .filter(|_| a.job == Some(JobKind::Upload))
                {
                    c.upload_name = Some((u.changes_name.clone(), key.clone()));
                }
                if let Some(kind) = &a.job {
                    let id = self.store.generate_id()?;
                    new.pending_job = Some(id);
                    c.jobs.push(Job {
                        id,
                        key: key.clone(),
                        version: new.version.clone(),
                        kind: kind.clone(),
                        created: now,
                        message_id: p.message_id.clone(),
                        signer: signer.clone(),
                        answer: r.answer.clone(),
                    });
                }
                let mut note = a.note.clone();
                if !r.ignored.is_empty() {
                    note.push_str(&format!(" (ignored: {})", r.ignored.join("; ")));
                }
                c.history = Some(HistoryEntry {
                    time: now,
                    from: record.map(|r| r.state),
                    to: Some(new.state),
                    version: new.version.clone(),
                    event: format!("cmd:{}", a.command.keyword()),
                    message_id: p.message_id.clone(),
                    signer: signer.clone(),
                    note: Some(note),
                });
                let outcome = format!("{command} for {key}: {}", new.state);
                if record.is_none_or(|r| r.state != new.state) {
                    c.notice = crate::work::notice_for(self.config, &new, new.state, now);
                }
                c.build = Some(new);
                outcome
            }
            Decision::Refuse(reasons) => {
                if let Some(rec) = record {
                    c.build = Some(rec.clone());
                    c.history = Some(HistoryEntry {
                        time: now,
                        from: Some(rec.state),
                        to: Some(rec.state),
                        version: rec.version.clone(),
                        event: format!("refused:{command}"),
                        message_id: p.message_id.clone(),
                        signer: signer.clone(),
                        note: Some(reasons.join("; ")),
                    });
                }
                match &r.answer {
                    Some(answer) => {
                        crate::work::queue_error_reply(
                            self.store,
                            &self.mailer,
                            &mut c,
                            answer,
                            reasons,
                            &r.ignored,
                            now,
                        )?;
                    }
                    None => tracing::info!(
                        "not answering the refused reply: {}",
                        r.no_answer.as_deref().unwrap_or("no address")
                    ),
                }
                format!("{command} for {key}: refused: {}", reasons.join("; "))
            }
        };
        c.mail = Some(MailRecord {
            sha256: p.sha256.clone(),
            message_id: p.message_id.clone(),
            received: now,
            kind: "reply".into(),
            outcome,
            build: Some(key.clone()),
        });
        Ok(c)
    }

    fn commit_quarantine(
        &self,
        mail: MailRecord,
        entry: QuarantineEntry,
        raw: &[u8],
    ) -> Result<Outcome, StoreError> {
        let reason = entry.reason.clone();
        let c = Commit {
            mail: Some(mail),
            quarantine: Some((entry, raw)),
            ..Commit::default()
        };
        Ok(settled(self.store.commit(&c)?, |quarantine_id| {
            Outcome::Quarantined {
                id: quarantine_id.unwrap_or(0),
                reason,
            }
        }))
    }

    /// Writes an oversize in-memory mail to the quarantine directory.
    fn spill(&self, sha: &str, raw: &[u8]) -> Result<PathBuf, StoreError> {
        let dir = quarantine_dir(self.config);
        let path = dir.join(format!("{sha}.eml"));
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut f = std::fs::File::create(&path).map_err(io)?;
        f.write_all(raw).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(path)
    }
}

/// The outcome of a commit: `written` says what a successful one means.
fn settled(committed: Committed, written: impl FnOnce(Option<u64>) -> Outcome) -> Outcome {
    match committed {
        Committed::Written { quarantine_id } => written(quarantine_id),
        Committed::Duplicate(d) => Outcome::Duplicate(d),
        Committed::Replay(u) => Outcome::Duplicate(format!(
            "signature already seen at {}",
            crate::cli::format_time(u.first_seen)
        )),
    }
}

fn mail_subject_line(s: &mail::ArchiveSubject) -> String {
    format!("the archive answered {}", s.changes())
}

/// The request of a reply, in words.
fn request_name(r: &Request) -> &'static str {
    match r {
        Request::Command(_) => "command",
        Request::ShouldBuild(_) => "should-build answer",
        Request::Changes { .. } => "signed .changes",
        Request::Invalid(_) => "reply",
    }
}

fn reply_outcome(
    key: &BuildKey,
    command: &str,
    decision: &Decision,
    record: Option<&BuildRecord>,
) -> Outcome {
    match decision {
        Decision::Apply(a) => Outcome::Reply {
            key: key.clone(),
            command: format!("{command} {}", a.command.keyword()),
            applied: true,
            state: Some(a.record.state),
            reasons: Vec::new(),
        },
        Decision::Refuse(reasons) => Outcome::Reply {
            key: key.clone(),
            command: command.to_string(),
            applied: false,
            state: record.map(|r| r.state),
            reasons: reasons.clone(),
        },
    }
}

/// Where mails too large for the database are kept.
pub fn quarantine_dir(config: &Config) -> PathBuf {
    config.data_dir.join("quarantine")
}
