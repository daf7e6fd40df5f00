//! Carrying out queued effects (design §1): the jobs a commit queued
//! (uploads, removals from the upload queue, purges) and the outbox.
//!
//! Every effect was committed, durably, before it runs here; each one is
//! idempotent (files are written by temp file and rename, removals ignore
//! missing files), so running a job again after a crash is harmless. A job
//! leaves the queue in the same transaction that records its outcome.

use std::path::Path;

use crate::config::{Config, Transport};
use crate::notify;
use crate::state;
use crate::store::{
    self, Answer, BuildRecord, Commit, HistoryEntry, Job, JobKind, OutboundMail, Store, StoreError,
};
use crate::upload::{self, CommandVars};

/// What one job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReport {
    /// The job.
    pub id: u64,
    /// In words.
    pub outcome: String,
}

/// What [`run_pending`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Jobs carried out.
    pub jobs: Vec<JobReport>,
    /// Mails delivered from the outbox.
    pub delivered: usize,
    /// Mails whose delivery failed (they stay queued).
    pub failed: usize,
}

/// Runs every queued job, makes the outcomes durable, then delivers the
/// outbox.
pub fn run_pending(store: &Store, config: &Config) -> Result<Summary, StoreError> {
    let mut summary = Summary::default();
    for job in store.jobs()? {
        summary.jobs.push(run_job(store, config, &job)?);
        store.flush()?;
    }
    let (delivered, failed) = deliver_outbox(store, config)?;
    summary.delivered = delivered;
    summary.failed = failed;
    Ok(summary)
}

/// The outcome of carrying out a job's I/O.
struct Done {
    success: bool,
    log: String,
}

/// Carries out one job and commits its outcome.
pub fn run_job(store: &Store, config: &Config, job: &Job) -> Result<JobReport, StoreError> {
    let now = store::now();
    let record = store.build(&job.key)?;
    let Some(record) = record.filter(|r| r.version == job.version) else {
        // The build moved on (a newer version, or it is gone): the job is
        // moot.
        let c = Commit {
            finished_job: Some(job.id),
            ..Commit::default()
        };
        store.commit(&c)?;
        return Ok(JobReport {
            id: job.id,
            outcome: format!(
                "dropped: {} is no longer at version {}",
                job.key, job.version
            ),
        });
    };
    match &job.kind {
        JobKind::Upload => {
            let done = upload(config, &record);
            commit_upload(store, config, job, record, done, now)
        }
        JobKind::RemoveFromQueue { queue_dir, files } => {
            let (names, changes) = split_changes(files);
            let outcome = match upload::remove_from_queue(queue_dir, names, changes) {
                Ok(removed) => format!(
                    "removed {} file(s) from {}",
                    removed.len(),
                    queue_dir.display()
                ),
                Err(e) => format!(
                    "could not remove the upload from {}: {e}",
                    queue_dir.display()
                ),
            };
            finish(store, job, record, &outcome, now)
        }
        JobKind::Purge {
            build_dir,
            files,
            prefix,
        } => {
            let mut names = files.clone();
            names.extend(files_with_prefix(build_dir, prefix));
            names.sort();
            names.dedup();
            let outcome = match upload::purge(build_dir, &names) {
                Ok(removed) => format!(
                    "purged {} file(s) from {}",
                    removed.len(),
                    build_dir.display()
                ),
                Err(e) => format!("could not purge {}: {e}", build_dir.display()),
            };
            finish(store, job, record, &outcome, now)
        }
    }
}

/// Safe file names in `dir` that start with `prefix` (none for an empty
/// prefix).
fn files_with_prefix(dir: &Path, prefix: &str) -> Vec<String> {
    if prefix.is_empty() {
        return Vec::new();
    }
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(prefix) && upload::is_safe_file_name(n))
                .collect()
        })
        .unwrap_or_default()
}

/// Splits a file list whose last name is the `.changes`.
fn split_changes(files: &[String]) -> (&[String], &str) {
    match files.split_last() {
        Some((last, rest)) if last.ends_with(".changes") => (rest, last.as_str()),
        _ => (files, ""),
    }
}

/// Records the outcome of a removal or purge in the history.
fn finish(
    store: &Store,
    job: &Job,
    record: BuildRecord,
    outcome: &str,
    now: i64,
) -> Result<JobReport, StoreError> {
    let history = HistoryEntry {
        time: now,
        from: Some(record.state),
        to: Some(record.state),
        version: record.version.clone(),
        event: match job.kind {
            JobKind::Purge { .. } => "job:purge".into(),
            _ => "job:upload-rem".into(),
        },
        message_id: job.message_id.clone(),
        signer: job.signer.clone(),
        note: Some(outcome.to_string()),
    };
    let record = BuildRecord {
        pending_job: None,
        ..record
    };
    store.commit(&Commit {
        build: Some(record),
        history: Some(history),
        finished_job: Some(job.id),
        ..Commit::default()
    })?;
    Ok(JobReport {
        id: job.id,
        outcome: outcome.to_string(),
    })
}

/// Checks the files again, puts them in the queue and runs the upload
/// command.
fn upload(config: &Config, record: &BuildRecord) -> Done {
    let Some(u) = &record.upload else {
        return Done {
            success: false,
            log: "no signed .changes is on record for this build".into(),
        };
    };
    let files = match upload::verify_files(&u.changes, &config.upload.build_dir) {
        Ok(f) => f,
        Err(problems) => {
            return Done {
                success: false,
                log: format!(
                    "the files in {} no longer match the signed .changes:\n{}",
                    config.upload.build_dir.display(),
                    problems.join("\n")
                ),
            }
        }
    };
    if let Err(e) = upload::place(
        &u.queue_dir,
        &files,
        &u.changes_name,
        u.signed_changes.as_bytes(),
    ) {
        return Done {
            success: false,
            log: format!(
                "could not write the upload into {}: {e}",
                u.queue_dir.display()
            ),
        };
    }
    let placed = format!(
        "{} file(s) and {} written to {}",
        files.len(),
        u.changes_name,
        u.queue_dir.display()
    );
    let Some(argv) = &config.upload.command else {
        return Done {
            success: true,
            log: format!("{placed}; no upload command is configured"),
        };
    };
    let changes_path = u.queue_dir.join(&u.changes_name);
    let vars = CommandVars {
        changes: &changes_path,
        queue: &u.queue_dir,
        source: &record.key.source,
        version: &record.version,
        arch: &record.key.arch,
        dist: &record.key.dist,
    };
    let run = upload::run_command(argv, &vars, config.upload.timeout);
    Done {
        success: run.success,
        log: format!("{placed}\n{}", run.log),
    }
}

/// Commits an upload's outcome: Uploaded (upload log cleared) or
/// Failed-To-Upload (upload log kept, error reply queued).
fn commit_upload(
    store: &Store,
    config: &Config,
    job: &Job,
    record: BuildRecord,
    done: Done,
    now: i64,
) -> Result<JobReport, StoreError> {
    let to = state::upload_outcome(done.success);
    let from = record.state;
    let history = HistoryEntry {
        time: now,
        from: Some(from),
        to: Some(to),
        version: record.version.clone(),
        event: if done.success {
            "upload:ok".into()
        } else {
            "upload:failed".into()
        },
        message_id: job.message_id.clone(),
        signer: job.signer.clone(),
        note: Some(last_line(&done.log).to_string()),
    };
    let record = BuildRecord {
        state: to,
        previous_state: Some(from),
        state_change: now,
        upload_log: (!done.success).then(|| done.log.clone()),
        pending_job: None,
        ..record
    };
    let mut c = Commit {
        build: Some(record),
        history: Some(history),
        finished_job: Some(job.id),
        ..Commit::default()
    };
    if !done.success {
        if let Some(answer) = &job.answer {
            let reasons = vec![
                format!("the upload of {} {} failed:", job.key, job.version),
                done.log.clone(),
            ];
            queue_error_reply(store, config, &mut c, answer, &reasons, &[], now)?;
        }
    }
    store.commit(&c)?;
    Ok(JobReport {
        id: job.id,
        outcome: format!("{} {}: {to}", job.key, job.version),
    })
}

fn last_line(log: &str) -> &str {
    log.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

/// Adds an error reply to `c`, unless `answer.to` has had
/// `replies.max_errors_per_hour` error replies in the last hour. Returns
/// whether it was added.
pub fn queue_error_reply(
    store: &Store,
    config: &Config,
    c: &mut Commit<'_>,
    answer: &Answer,
    reasons: &[String],
    ignored: &[String],
    now: i64,
) -> Result<bool, StoreError> {
    let sent = store.replies_sent_since(&answer.to, now - 3600)?;
    if sent >= config.replies.max_errors_per_hour as usize {
        tracing::warn!(
            "not answering {}: {} error replies in the last hour (replies.max_errors_per_hour)",
            answer.to,
            sent
        );
        return Ok(false);
    }
    let id = store.generate_id()?;
    match notify::error_reply(&config.from_address, answer, reasons, ignored, id, now) {
        Ok(mail) => {
            c.outbox.push(mail);
            c.reply_sent = Some(answer.to.clone());
            Ok(true)
        }
        Err(e) => {
            tracing::warn!("cannot answer {}: {e}", answer.to);
            Ok(false)
        }
    }
}

/// Delivers every mail in the outbox; returns (delivered, failed).
pub fn deliver_outbox(store: &Store, config: &Config) -> Result<(usize, usize), StoreError> {
    let mut delivered = 0;
    let mut failed = 0;
    for (mail, bytes) in store.outbox()? {
        match deliver(config, &mail, &bytes) {
            Ok(()) => {
                store.outbox_delivered(mail.id)?;
                delivered += 1;
            }
            Err(e) => {
                store.outbox_failed(&mail, &e)?;
                failed += 1;
            }
        }
    }
    store.flush()?;
    Ok((delivered, failed))
}

/// Delivers one mail with the configured transport.
fn deliver(config: &Config, mail: &OutboundMail, bytes: &[u8]) -> Result<(), String> {
    match config.outbox.transport {
        Transport::File => write_eml(&config.outbox.dir, mail.id, bytes)
            .map_err(|e| format!("{}: {e}", config.outbox.dir.display())),
    }
}

/// Writes `<dir>/<id>.eml` by temp file, fsync and rename (so a reader never
/// sees half a mail, and writing it twice after a crash gives one file).
fn write_eml(dir: &Path, id: u64, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let name = format!("{id:020}.eml");
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(&name))?;
    std::fs::File::open(dir)?.sync_all()
}
