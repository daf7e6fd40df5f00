//! The effects worker: runs what commits queued — explanations of failed
//! logs, jobs, due build-failure notices, the outbox — one at a time per
//! database on a host.
//!
//! `deliver` commits a mail, releases the store and, when the mail queued
//! an effect, starts `buildmail work` detached ([`spawn_detached`]) instead
//! of running an upload command inside the MTA's pipe. `buildmail work`
//! (also from cron, for retries and notices whose quiet period ended) takes
//! the worker lock ([`try_lock`]) or leaves the work to the worker that
//! holds it, runs everything due ([`run_pending`]), and after releasing the
//! lock looks once more, so a mail committed while it finished is not left
//! waiting.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::claim::{is_stale, lease};
use super::compose::{Mailer, Templates};
use super::jobs::{self, JobReport};
use super::{explain, notices, outbox, StoreAccess};
use crate::config::{Config, DatabaseConfig};
use crate::store::{Store, StoreError};
use crate::time::Clock;

/// What [`run_pending`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Failed logs explained.
    pub explained: usize,
    /// Jobs carried out.
    pub jobs: Vec<JobReport>,
    /// Build-failure notices queued.
    pub notices: usize,
    /// Mails delivered from the outbox.
    pub delivered: usize,
    /// Mails whose delivery failed (they stay queued).
    pub failed: usize,
}

impl Summary {
    fn add(&mut self, other: Summary) {
        self.explained += other.explained;
        self.jobs.extend(other.jobs);
        self.notices += other.notices;
        self.delivered += other.delivered;
        self.failed += other.failed;
    }
}

/// Explains the failed logs waiting for it (so that the notices below
/// carry their explanations), runs every job that is waiting, queues the
/// due notices, then delivers the outbox; each step claims, runs with the
/// store released, finishes.
pub fn run_pending(
    access: StoreAccess<'_>,
    config: &Config,
    clock: &dyn Clock,
) -> Result<Summary, StoreError> {
    run_pending_with(access, config, Templates::configured(config), clock)
}

/// [`run_pending`] with templates loaded before: the daemon runs a round
/// after every few commits and keeps its templates compiled.
pub fn run_pending_with(
    access: StoreAccess<'_>,
    config: &Config,
    templates: Templates,
    clock: &dyn Clock,
) -> Result<Summary, StoreError> {
    let explained = explain::run_pending(access, config, clock)?;
    let mailer = Mailer::with_templates(config, templates);
    let jobs = jobs::run_all(access, &mailer, clock)?;
    let notices = access.step(|s| notices::queue_due(s, &mailer, clock.now()))?;
    let d = outbox::deliver_due(access, config, clock, false)?;
    Ok(Summary {
        explained,
        jobs,
        notices,
        delivered: d.delivered,
        failed: d.failed,
    })
}

/// Whether anything is due at `now`: a failed log to explain, a job that
/// is waiting (or whose owner stopped), a notice past its quiet period, an
/// outbox mail due.
pub fn has_due_work(store: &dyn Store, config: &Config, now: i64) -> Result<bool, StoreError> {
    if explain::waiting(store, config)? {
        return Ok(true);
    }
    let lease = lease(config);
    if store
        .jobs()?
        .iter()
        .any(|j| j.claim.as_ref().is_none_or(|c| is_stale(c, now, lease)))
    {
        return Ok(true);
    }
    if store.pending_notices()?.iter().any(|n| n.due <= now) {
        return Ok(true);
    }
    Ok(store
        .outbox_mails()?
        .iter()
        .any(|m| outbox::is_due(m, now, false, lease)))
}

/// Runs [`run_pending`] under the worker lock, opening the store for each
/// step. `None` when another worker holds the lock (it will see this
/// work: the caller committed it before asking).
pub fn run_exclusive(config: &Config, clock: &dyn Clock) -> Result<Option<Summary>, StoreError> {
    let access = StoreAccess::Open(&config.database);
    let mut total = Summary::default();
    let mut rounds = 0;
    loop {
        let Some(lock) = try_lock(&config.database)? else {
            // Another worker took over after our last round: what we did
            // stays reported.
            return Ok((rounds > 0).then_some(total));
        };
        rounds += 1;
        let round = run_pending(access, config, clock);
        // Released before an error is returned too: the next worker (cron,
        // or the one the next `deliver` starts) must not find it held.
        drop(lock);
        total.add(round?);
        // Work committed after our last look, by a process that found the
        // lock still held, is ours to do.
        if !access.step(|s| has_due_work(s, config, clock.now()))? {
            return Ok(Some(total));
        }
    }
}

/// The database's worker lock: `Some` while held by us, `None` when
/// another process holds it.
pub fn try_lock(db: &DatabaseConfig) -> Result<Option<crate::store::Lock>, StoreError> {
    crate::store::try_lock(db, "worker")
}

/// Starts `buildmail <global_args> work --quiet <work_args>` detached from
/// the caller: its own session (the MTA may kill `deliver`'s process
/// group), no terminal, its output appended to `worker.log` beside the
/// database. Not waited for.
pub fn spawn_detached(
    global_args: &[OsString],
    db_dir: &Path,
    work_args: &[&str],
) -> io::Result<()> {
    let exe = std::env::current_exe()?;
    std::fs::create_dir_all(db_dir)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(db_dir))?;
    let mut cmd = Command::new(exe);
    cmd.args(global_args)
        .arg("work")
        .arg("--quiet")
        .args(work_args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; nothing else runs in the child
    // before exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map(drop)
}

/// Where a detached worker writes what it has to say.
pub fn log_path(db_dir: &Path) -> PathBuf {
    db_dir.join("worker.log")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_worker_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = Config::from_toml(&format!("data_dir = {:?}\n", dir.path()), None)
            .unwrap()
            .database;
        let held = try_lock(&db).unwrap();
        assert!(held.is_some());
        assert!(try_lock(&db).unwrap().is_none());
        drop(held);
        assert!(try_lock(&db).unwrap().is_some());
    }
}
