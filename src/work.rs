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
use crate::transport::{SendError, Sender, TransportSpec};
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
    let mailer = Mailer::new(config);
    for job in store.jobs()? {
        summary.jobs.push(run_job(store, &mailer, &job)?);
        store.flush()?;
    }
    send_due_notices(store, &mailer)?;
    let (delivered, failed) = deliver_outbox(store, config)?;
    summary.delivered = delivered;
    summary.failed = failed;
    Ok(summary)
}

/// Queues the build-failure notices whose quiet period is over: one mail
/// per recipient for each version, listing every architecture that failed.
pub fn send_due_notices(store: &Store, mailer: &Mailer<'_>) -> Result<usize, StoreError> {
    let config = mailer.config;
    let now = store::now();
    let mut sent = 0;
    for notice in store.pending_notices()? {
        if notice.due > now {
            continue;
        }
        let mut records = Vec::new();
        for arch in &notice.arches {
            let key = crate::store::BuildKey {
                dist: notice.dist.clone(),
                arch: arch.clone(),
                source: notice.source.clone(),
            };
            if let Some(r) = store.build(&key)?.filter(|r| r.version == notice.version) {
                records.push(r);
            }
        }
        let mut c = Commit {
            notice_sent: Some(crate::store::Notice::key(
                &notice.source,
                &notice.version,
                &notice.dist,
            )),
            ..Commit::default()
        };
        let event = store.generate_id()?;
        match notify::build_failure(config, &mailer.templates, &records, event, now) {
            Ok(mails) => {
                for m in mails {
                    let id = store.generate_id()?;
                    c.outbox.push(outbound(m, id, now));
                }
            }
            Err(e) => tracing::error!("build-failure notice for {}: {e}", notice.source),
        }
        store.commit(&c)?;
        sent += 1;
    }
    if sent > 0 {
        store.flush()?;
    }
    Ok(sent)
}

/// A build-failure notice for `record` if `notify.notify_on` asks for
/// notices about entering `state` (`build-attempted`, `failed`).
pub fn notice_for(
    config: &Config,
    record: &BuildRecord,
    state: crate::state::State,
    now: i64,
) -> Option<crate::store::Notice> {
    let event = match state {
        crate::state::State::BuildAttempted => "build-attempted",
        crate::state::State::Failed => "failed",
        _ => return None,
    };
    if !config.notify.notify_on.iter().any(|e| e == event) {
        return None;
    }
    let quiet = i64::try_from(config.notify.quiet_period.as_secs()).unwrap_or(i64::MAX);
    Some(crate::store::Notice {
        source: record.key.source.clone(),
        version: record.version.clone(),
        dist: record.key.dist.clone(),
        arches: vec![record.key.arch.clone()],
        due: now.saturating_add(quiet),
        sent: false,
    })
}

/// The outcome of carrying out a job's I/O.
struct Done {
    success: bool,
    log: String,
}

/// Carries out one job and commits its outcome.
pub fn run_job(store: &Store, mailer: &Mailer<'_>, job: &Job) -> Result<JobReport, StoreError> {
    let config = mailer.config;
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
            commit_upload(store, mailer, job, record, done, now)
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
    mailer: &Mailer<'_>,
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
        let notified = match c.build.clone() {
            Some(r) => queue_failed_to_upload(store, mailer, &mut c, &r, job.id, now)?,
            None => Vec::new(),
        };
        // The admin who sent the .changes hears of it; through the
        // notification when they are one of its recipients.
        if let Some(answer) = job
            .answer
            .as_ref()
            .filter(|a| !notified.iter().any(|n| n.eq_ignore_ascii_case(&a.to)))
        {
            let reasons = vec![
                format!("the upload of {} {} failed:", job.key, job.version),
                done.log.clone(),
            ];
            queue_error_reply(store, mailer, &mut c, answer, &reasons, &[], now)?;
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
    mailer: &Mailer<'_>,
    c: &mut Commit<'_>,
    answer: &Answer,
    reasons: &[String],
    ignored: &[String],
    now: i64,
) -> Result<bool, StoreError> {
    let config = mailer.config;
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
    match notify::error_reply(
        &mailer.templates,
        &config.from_address,
        answer,
        reasons,
        ignored,
        id,
        now,
    ) {
        Ok(mail) => {
            c.outbox.push(outbound(mail, id, now));
            c.reply_sent = Some(answer.to.clone());
            Ok(true)
        }
        Err(e) => {
            tracing::warn!("cannot answer {}: {e}", answer.to);
            Ok(false)
        }
    }
}

/// What composing buildmail's mails needs: the configuration and its
/// templates, loaded once per run (not once per mail).
pub struct Mailer<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The templates it names.
    pub templates: notify::Templates,
}

impl<'a> Mailer<'a> {
    /// Loads the configured templates; when an override is broken, the
    /// built-in ones (a mail is never lost to a template typo;
    /// `check-config` reports it). The built-in ones always parse (a unit
    /// test checks it); `Templates::empty` only keeps this total.
    pub fn new(config: &'a Config) -> Mailer<'a> {
        let templates = notify::Templates::of(config).unwrap_or_else(|e| {
            tracing::warn!("{e}; using the built-in templates");
            notify::Templates::load(None).unwrap_or_else(|_| notify::Templates::empty())
        });
        Mailer { config, templates }
    }
}

/// An outbox entry for a composed mail.
pub fn outbound(mail: notify::Composed, id: u64, now: i64) -> (OutboundMail, Vec<u8>) {
    (
        OutboundMail {
            id,
            kind: mail.kind,
            to: mail.to,
            message_id: mail.message_id,
            subject: mail.subject,
            queued: now,
            attempts: 0,
            last_error: None,
            next_attempt: now,
            dead: false,
        },
        mail.bytes,
    )
}

/// Adds the Failed-To-Upload notifications of `record` (which must carry
/// its upload log) to `c`.
pub fn queue_failed_to_upload(
    store: &Store,
    mailer: &Mailer<'_>,
    c: &mut Commit<'_>,
    record: &BuildRecord,
    event: u64,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    match notify::failed_to_upload(mailer.config, &mailer.templates, record, event, now) {
        Ok(mails) => {
            let mut to = Vec::new();
            for m in mails {
                to.extend(m.to.iter().cloned());
                let id = store.generate_id()?;
                c.outbox.push(outbound(m, id, now));
            }
            Ok(to)
        }
        Err(e) => {
            tracing::error!("{e}");
            Ok(Vec::new())
        }
    }
}

/// A mail forwarded intact to the admin: `Resent-From`, `Resent-To`,
/// `Resent-Date` and `Resent-Message-ID` (RFC 5322 §3.6.6) prepended to the
/// original bytes, headers and MIME structure untouched.
pub fn resent(mailer: &Mailer<'_>, raw: &[u8], id: u64, now: i64) -> Vec<u8> {
    let config = mailer.config;
    let date = rfc2822_date(now);
    let domain = notify::domain_of(&config.from_address);
    let mut out = format!(
        "Resent-From: {}\r\nResent-To: {}\r\nResent-Date: {date}\r\nResent-Message-ID: <buildmail.forward.{id}.{now}@{domain}>\r\nX-Buildmail-Forward-Reason: {}\r\n",
        config.from_address,
        config.admin_address,
        forward_reason(&mailer.templates)
    )
    .into_bytes();
    out.extend_from_slice(raw);
    out
}

/// The forward notice (one line, from the `forward-notice` template).
fn forward_reason(templates: &notify::Templates) -> String {
    templates
        .render(
            notify::Kind::ForwardNotice,
            minijinja::context! { reason => "not a mail buildmail handles; forwarded to the buildd admins" },
        )
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "forwarded by buildmail".into())
}

/// An RFC 2822 date, as lettre formats it.
fn rfc2822_date(now: i64) -> String {
    let mut h = lettre::message::header::Headers::new();
    h.set(lettre::message::header::Date::new(notify::date(now)));
    h.get_raw("Date").unwrap_or_default().to_string()
}

/// The transport the configuration names.
pub fn transport_spec(config: &Config) -> TransportSpec {
    match config.outbox.transport {
        Transport::File => TransportSpec::File {
            dir: config.outbox.dir.clone(),
        },
        Transport::Sendmail => TransportSpec::Sendmail {
            command: config.outbox.sendmail.clone(),
            timeout: config.outbox.timeout,
        },
        Transport::Smtp => TransportSpec::Smtp {
            url: config.outbox.smtp_url.clone(),
            timeout: config.outbox.timeout,
        },
    }
}

/// How long after its `attempts`-th failure a mail waits: `retry_after`
/// doubled per earlier failure, at most an hour.
pub fn backoff(retry_after: std::time::Duration, attempts: u32) -> i64 {
    let base = i64::try_from(retry_after.as_secs()).unwrap_or(3600).max(1);
    let factor = 1i64 << attempts.min(20);
    base.saturating_mul(factor).min(3600)
}

/// Delivers the mails in the outbox that are due (all live ones with
/// `force`); returns (delivered, failed). A failed mail is kept, retried
/// with exponential backoff, and parked as dead once older than
/// `outbox.max_age` or refused permanently; it is never dropped.
pub fn deliver_outbox_with(
    store: &Store,
    config: &Config,
    force: bool,
) -> Result<(usize, usize), StoreError> {
    let now = store::now();
    // Only the mails that are due are read whole; dead and waiting ones
    // stay on disk.
    let due = store
        .outbox_mails()?
        .into_iter()
        .filter(|m| !m.dead && (force || m.next_attempt <= now))
        .map(|m| {
            let bytes = store.outbox_bytes(m.id)?;
            Ok((m, bytes))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    if due.is_empty() {
        return Ok((0, 0));
    }
    let sender = match Sender::new(&transport_spec(config)) {
        Ok(s) => s,
        Err(e) => {
            for (mail, _) in &due {
                record_failure(store, config, mail, &e, now)?;
            }
            store.flush()?;
            return Ok((0, due.len()));
        }
    };
    // Several connections at once: each SMTP exchange is mostly waiting
    // (and lettre 0.11 pays a Nagle/delayed-ACK stall per message).
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<(usize, Result<(), SendError>)>> =
        std::sync::Mutex::new(Vec::with_capacity(due.len()));
    std::thread::scope(|scope| {
        for _ in 0..DELIVERY_WORKERS.min(due.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((mail, bytes)) = due.get(i) else {
                    break;
                };
                let r = sender.send(
                    &config.from_address,
                    &mail.to,
                    &format!("{:020}", mail.id),
                    bytes,
                );
                if let Ok(mut v) = results.lock() {
                    v.push((i, r));
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    let mut delivered = 0;
    let mut failed = 0;
    for (i, r) in results {
        let Some((mail, _)) = due.get(i) else {
            continue;
        };
        match r {
            Ok(()) => {
                store.outbox_delivered(mail.id)?;
                delivered += 1;
            }
            Err(e) => {
                record_failure(store, config, mail, &e, now)?;
                failed += 1;
            }
        }
    }
    store.flush()?;
    Ok((delivered, failed))
}

/// How many mails are delivered at once.
const DELIVERY_WORKERS: usize = 8;

fn record_failure(
    store: &Store,
    config: &Config,
    mail: &OutboundMail,
    e: &SendError,
    now: i64,
) -> Result<(), StoreError> {
    let max_age = i64::try_from(config.outbox.max_age.as_secs()).unwrap_or(i64::MAX);
    let dead = e.permanent || now.saturating_sub(mail.queued) >= max_age;
    let next = now.saturating_add(backoff(config.outbox.retry_after, mail.attempts));
    if dead {
        tracing::error!(
            "outbox mail {} to {} parked as dead: {e} (see `buildmail outbox list`)",
            mail.id,
            mail.to.join(", ")
        );
    }
    store.outbox_failed(mail, &e.message, next, dead)
}

/// Delivers the mails that are due; returns (delivered, failed).
pub fn deliver_outbox(store: &Store, config: &Config) -> Result<(usize, usize), StoreError> {
    deliver_outbox_with(store, config, false)
}
