//! Queued jobs: uploads, removals from the upload queue, purges. Each goes
//! claim → run → finish with the store released while it runs (see the
//! module documentation of [`crate::effects`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::claim::{self, claim_now};
use super::compose::{self, Mailer};
use super::process::RunLease;
use super::upload::{self, CommandVars};
use super::{crash_point, StoreAccess};
use crate::config::Config;
use crate::model::state;
use crate::model::{BuildRecord, Claim, HistoryEntry, Job, JobKind, UploadRecord};
use crate::store::{Claimed, Commit, Store, StoreError};
use crate::time::{format_time, Clock};

/// What one job did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobReport {
    /// The job.
    pub id: u64,
    /// In words.
    pub outcome: String,
}

/// The outcome of an upload's I/O.
struct Done {
    success: bool,
    log: String,
    /// The upload command was started: the build has been Uploaded since,
    /// so that the archive's answers find it so.
    started: bool,
}

/// Runs every job that is waiting, or claimed by an owner that stopped.
pub fn run_all(
    access: StoreAccess<'_>,
    mailer: &Mailer<'_>,
    clock: &dyn Clock,
) -> Result<Vec<JobReport>, StoreError> {
    let ids: Vec<u64> = access.step(|s| Ok(s.jobs()?.into_iter().map(|j| j.id).collect()))?;
    let mut reports = Vec::new();
    for id in ids {
        if let Some(r) = run_one(access, mailer, clock, id)? {
            reports.push(r);
        }
    }
    Ok(reports)
}

/// Claims job `id`, carries it out and records its outcome. `None` when
/// the job is gone or another live worker has it.
pub fn run_one(
    access: StoreAccess<'_>,
    mailer: &Mailer<'_>,
    clock: &dyn Clock,
    id: u64,
) -> Result<Option<JobReport>, StoreError> {
    let config = mailer.config;
    let now = clock.now();
    let claim = claim_now(now);
    let lease = claim::lease(config);
    let claimed = access.step(|s| {
        let stale = |c: &Claim| claim::is_stale(c, now, lease);
        let Some(c) = s.claim_job(id, &claim, &stale)? else {
            return Ok(None);
        };
        let record = s.build(&c.item.key)?;
        Ok(Some((c, record)))
    })?;
    let Some((
        Claimed {
            item: job,
            previous,
        },
        record,
    )) = claimed
    else {
        return Ok(None);
    };
    crash_point("job-claimed");
    if record.as_ref().is_none_or(|r| r.version != job.version) {
        // The build moved on (a newer version, or it is gone): moot.
        access.step(|s| {
            s.commit(&Commit {
                now,
                finished_job: Some(job.id),
                ..Commit::default()
            })
        })?;
        let mut outcome = format!(
            "dropped: {} is no longer at version {}",
            job.key, job.version
        );
        if matches!(job.kind, JobKind::Upload) && job.started.is_some() && previous.is_some() {
            // Its command had started when its worker stopped: what is
            // left of it is stopped all the same.
            let name = crate::debian::names::changes_file_name(
                &job.key.source,
                &job.version,
                &job.key.arch,
            );
            if let Err(why) = RunLease::take(&lease_path(config, &name), LEASE_WAIT) {
                outcome.push_str(&format!("; {why}"));
            }
            outcome.push_str(
                "; its upload command had started when its worker stopped, so whether it reached the archive is unknown",
            );
            tracing::warn!("job {} ({}): {outcome}", job.id, job.key);
        }
        return Ok(Some(JobReport {
            id: job.id,
            outcome,
        }));
    }
    let report = match &job.kind {
        JobKind::Upload => {
            let done = match (&previous, job.started) {
                (Some(p), Some(started)) => {
                    // Whatever the stopped worker's command left running
                    // is stopped before the outcome is recorded.
                    let remains = record
                        .as_ref()
                        .and_then(|r| r.upload.as_ref())
                        .map(|u| RunLease::take(&lease_path(config, &u.changes_name), LEASE_WAIT));
                    interrupted(p, started, remains.and_then(Result::err))
                }
                _ => upload(access, config, clock, &job)?,
            };
            crash_point("job-ran");
            commit_upload(access, mailer, &job, done, clock)?
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
            crash_point("job-ran");
            finish(access, &job, &outcome, clock.now())?
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
            crash_point("job-ran");
            finish(access, &job, &outcome, clock.now())?
        }
    };
    crash_point("job-finished");
    tracing::info!(
        "job {} ({} of {} {}): {}",
        report.id,
        job.kind.name(),
        job.key,
        job.version,
        report.outcome
    );
    Ok(Some(report))
}

/// The outcome of an upload whose worker stopped after starting the upload
/// command: unknown, so it is not repeated behind the admins' backs.
/// `still_running` says why what the command left could not be stopped.
fn interrupted(previous: &Claim, started: i64, still_running: Option<String>) -> Done {
    let mut log = format!(
        "the upload was interrupted: the worker (process {} on {}) stopped while the upload \
         command ran (started {}), so whether the upload reached the archive is unknown; \
         check the upload queue and the archive, then answer retry-upload to upload again",
        previous.pid,
        previous.host,
        format_time(started)
    );
    if let Some(why) = still_running {
        log.push_str(&format!("\n{why}"));
    }
    Done {
        started: true,
        success: false,
        log,
    }
}

/// How long a worker waits for what a stopped worker's upload command
/// left running to die once killed.
const LEASE_WAIT: Duration = Duration::from_secs(10);

/// The lease on running the upload command for the `.changes` named
/// `changes_name`: one run at a time, whoever starts it (see
/// [`RunLease`]).
fn lease_path(config: &Config, changes_name: &str) -> PathBuf {
    config
        .database
        .path
        .join("runs")
        .join(format!("{changes_name}.lock"))
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

/// Records the outcome of a removal or purge in the history (state
/// unchanged) and drops the job.
fn finish(
    access: StoreAccess<'_>,
    job: &Job,
    outcome: &str,
    now: i64,
) -> Result<JobReport, StoreError> {
    access.step(|s| {
        let mut c = Commit {
            now,
            finished_job: Some(job.id),
            ..Commit::default()
        };
        if let Some(record) = s.build(&job.key)?.filter(|r| r.version == job.version) {
            let pending_job = record.pending_job.filter(|id| *id != job.id);
            c.history = Some(HistoryEntry {
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
                imported: None,
            });
            c.build = Some(BuildRecord {
                pending_job,
                ..record
            });
        }
        s.commit(&c)?.or_conflict()
    })?;
    Ok(JobReport {
        id: job.id,
        outcome: outcome.to_string(),
    })
}

/// Checks the files again, puts them in the queue and runs the upload
/// command; the start of the command is committed first (`Job::started`).
fn upload(
    access: StoreAccess<'_>,
    config: &Config,
    clock: &dyn Clock,
    job: &Job,
) -> Result<Done, StoreError> {
    let record = access.step(|s| s.build(&job.key))?;
    let Some((record, u)) = record.and_then(|r| r.upload.clone().map(|u| (r, u))) else {
        return Ok(Done {
            started: false,
            success: false,
            log: "no signed .changes is on record for this build".into(),
        });
    };
    let files = match upload::verify_files(&u.changes, &config.upload.build_dir) {
        Ok(f) => f,
        Err(problems) => {
            return Ok(Done {
                started: false,
                success: false,
                log: format!(
                    "the files in the build directory no longer match the signed .changes:\n{}",
                    problems.join("\n")
                ),
            })
        }
    };
    if let Err(e) = upload::place(
        &u.queue_dir,
        &files,
        &u.changes_name,
        u.signed_changes.as_bytes(),
    ) {
        return Ok(Done {
            started: false,
            success: false,
            log: format!("could not write the upload into the upload queue: {e}"),
        });
    }
    // The upload log reaches the package's creator (FAILEDTOUPLOAD):
    // it names files, never the farm's directories.
    let placed = format!(
        "{} file(s) and {} written to the upload queue",
        files.len(),
        u.changes_name
    );
    let Some(argv) = &config.upload.command else {
        return Ok(Done {
            started: false,
            success: true,
            log: format!("{placed}; no upload command is configured"),
        });
    };
    // No other run of this upload lives from here on: what a stopped
    // worker left is killed first.
    let lease = match RunLease::take(&lease_path(config, &u.changes_name), LEASE_WAIT) {
        Ok(lease) => lease,
        Err(why) => {
            return Ok(Done {
                started: false,
                success: false,
                log: format!("{placed}; the upload command was not started: {why}"),
            })
        }
    };
    // From here on a crash leaves an upload that may have happened, and the
    // archive may answer before the command ends: the build is Uploaded
    // from now on (the command's failure makes it Failed-To-Upload).
    let started = clock.now();
    access.step(|s| {
        let mut c = Commit {
            now: started,
            jobs: vec![Job {
                started: Some(started),
                ..job.clone()
            }],
            ..Commit::default()
        };
        if let Some(rec) = s.build(&job.key)?.filter(|r| owns(r, job)) {
            let to = state::upload_outcome(true);
            c.history = Some(HistoryEntry {
                time: started,
                from: Some(rec.state),
                to: Some(to),
                version: rec.version.clone(),
                event: "upload:started".into(),
                message_id: job.message_id.clone(),
                signer: job.signer.clone(),
                note: Some(format!("{placed}; the upload command runs")),
                imported: None,
            });
            let upload = rec.upload.clone().map(|u| UploadRecord {
                command_started: Some(started),
                ..u
            });
            c.build = Some(BuildRecord {
                state: to,
                previous_state: Some(rec.state),
                state_change: started,
                upload,
                ..rec
            });
        }
        s.commit(&c)?.or_conflict()
    })?;
    crash_point("upload-started");
    let changes_path = u.queue_dir.join(&u.changes_name);
    let vars = CommandVars {
        changes: &changes_path,
        queue: &u.queue_dir,
        source: &record.key.source,
        version: &record.version,
        arch: &record.key.arch,
        dist: &record.key.dist,
    };
    let run = upload::run_command(argv, &vars, config.upload.timeout, Some(&lease));
    drop(lease);
    Ok(Done {
        started: true,
        success: run.success,
        log: format!("{placed}\n{}", run.log),
    })
}

/// Commits an upload's outcome: Uploaded (upload log cleared) or
/// Failed-To-Upload (upload log kept, notifications and an error reply
/// queued), on the build's record as it is now.
fn commit_upload(
    access: StoreAccess<'_>,
    mailer: &Mailer<'_>,
    job: &Job,
    done: Done,
    clock: &dyn Clock,
) -> Result<JobReport, StoreError> {
    let now = clock.now();
    let to = state::upload_outcome(done.success);
    access.step(|s| {
        let mut c = Commit {
            now,
            finished_job: Some(job.id),
            ..Commit::default()
        };
        let Some(record) = s.build(&job.key)?.filter(|r| r.version == job.version) else {
            return s.commit(&c)?.or_conflict();
        };
        let from = record.state;
        let event = if done.success {
            "upload:ok"
        } else {
            "upload:failed"
        };
        let mut history = HistoryEntry {
            time: now,
            from: Some(from),
            to: Some(to),
            version: record.version.clone(),
            event: event.into(),
            message_id: job.message_id.clone(),
            signer: job.signer.clone(),
            note: Some(last_line(&done.log).to_string()),
            imported: None,
        };
        // Another decision took the build over while the job ran (an
        // admin's command, or the archive's answer to the upload): it
        // stands; the outcome is only recorded.
        let overtaken =
            !owns(&record, job) || (done.started && from != state::upload_outcome(true));
        if overtaken {
            history.to = Some(from);
            history.note = Some(format!(
                "{}; the build had moved on to {from} meanwhile, which stands",
                last_line(&done.log)
            ));
            c.history = Some(history);
            let running = record
                .upload
                .as_ref()
                .is_some_and(|u| u.command_started.is_some());
            if owns(&record, job) || (done.started && running) {
                // The command has ended whoever owns the build now (one
                // upload command runs per build at a time: the lease).
                c.build = Some(BuildRecord {
                    pending_job: record.pending_job.filter(|id| *id != job.id),
                    upload: command_ended(record.upload.clone()),
                    ..record
                });
            }
            return s.commit(&c)?.or_conflict();
        }
        c.history = Some(history);
        let record = BuildRecord {
            state: to,
            previous_state: Some(from).filter(|f| *f != to).or(record.previous_state),
            state_change: if from == to { record.state_change } else { now },
            upload_log: (!done.success).then(|| done.log.clone()),
            pending_job: None,
            upload: command_ended(record.upload.clone()),
            ..record
        };
        if !done.success {
            notify_failure(s, mailer, &mut c, job, &record, &done.log, now)?;
        }
        c.build = Some(record);
        s.commit(&c)?.or_conflict()
    })?;
    Ok(JobReport {
        id: job.id,
        outcome: format!("{} {}: {to}", job.key, job.version),
    })
}

/// Queues the Failed-To-Upload notifications, and an error reply to the
/// admin who sent the `.changes` unless the notification reaches them.
fn notify_failure(
    s: &dyn Store,
    mailer: &Mailer<'_>,
    c: &mut Commit<'_>,
    job: &Job,
    record: &BuildRecord,
    log: &str,
    now: i64,
) -> Result<(), StoreError> {
    let notified = compose::queue_failed_to_upload(
        s,
        mailer,
        c,
        record,
        compose::UploadFailure::Farm,
        job.id,
        now,
    )?;
    if let Some(answer) = job
        .answer
        .as_ref()
        .filter(|a| !notified.iter().any(|n| n.eq_ignore_ascii_case(&a.to)))
    {
        let reasons = vec![
            format!("the upload of {} {} failed:", job.key, job.version),
            log.to_string(),
        ];
        compose::queue_error_reply(
            s,
            mailer,
            c,
            answer,
            compose::Answered::UploadFailed,
            &reasons,
            &[],
            now,
        )?;
    }
    Ok(())
}

/// The upload record once its command's outcome is recorded: no longer
/// running.
fn command_ended(upload: Option<UploadRecord>) -> Option<UploadRecord> {
    upload.map(|u| UploadRecord {
        command_started: None,
        ..u
    })
}

/// Whether `record` is still the one `job` was queued for: same version,
/// and the job is the one it waits for.
fn owns(record: &BuildRecord, job: &Job) -> bool {
    record.version == job.version && record.pending_job == Some(job.id)
}

fn last_line(log: &str) -> &str {
    log.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}
