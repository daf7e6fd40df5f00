//! Explanations of failed builds, made off the critical path.
//!
//! A failed log's state is committed at once; explaining it (buildmail's
//! own extraction and buildlog-consultant's hundreds of regexes, some
//! 10–30 ms of CPU per log) happens afterwards, here, in the worker: a
//! burst of failures does not stall ingestion, and only one thread holds
//! buildlog-consultant's regex caches (about 14 MB per thread that uses
//! them), so `import` and `deliver` stay within their memory bound.
//!
//! The commit of a failed log queues an [`ExplainTask`] under its build
//! and marks the record `explanation_pending`. [`run_pending`] takes tasks
//! in batches, reads each log back from the archive (decompressed as at
//! arrival: the same bytes, the same start and end of a large log), explains
//! it with the store released, and commits the batch: each explanation
//! fills in its record only while that record still waits for that very
//! log, so a newer log, or an admin's decision meanwhile, is never
//! overwritten. A crash loses nothing: the tasks stay queued until their
//! explanations are committed. `info` shows "being explained" meanwhile;
//! build-failure notices wait for the explanation (see
//! [`crate::effects::notices`]).

use super::StoreAccess;
use crate::config::Config;
use crate::inbound::explain::explain;
use crate::inbound::mail::{window_log, Limits, MailError};
use crate::inbound::sbuild::BuildLog;
use crate::model::{ExplainTask, Explanation};
use crate::store::blobs::Blobs;
use crate::store::{Commit, Store, StoreError};
use crate::time::Clock;

/// How many tasks are explained between two commits.
pub const BATCH: usize = 32;

/// The explainer's lock on the database: one process explains at a
/// time (its own, so that an `import`'s explainer and the worker a
/// delivery starts do not wait for each other).
fn try_lock(config: &Config) -> Result<Option<crate::store::Lock>, StoreError> {
    crate::store::try_lock(&config.database, "explain")
}

/// Whether failed logs wait to be explained and no other process is
/// explaining them.
pub fn waiting(store: &dyn Store, config: &Config) -> Result<bool, StoreError> {
    Ok(!store.explain_queue(1)?.is_empty() && try_lock(config)?.is_some())
}

/// Explains every queued failed log, unless another process is doing it;
/// returns how many were explained.
pub fn run_pending(
    access: StoreAccess<'_>,
    config: &Config,
    clock: &dyn Clock,
) -> Result<usize, StoreError> {
    let Some(_lock) = try_lock(config)? else {
        return Ok(0);
    };
    let blobs = Blobs::open(&config.database);
    let mut done = 0;
    loop {
        let tasks = access.light_step(|s| s.explain_queue(BATCH))?;
        if tasks.is_empty() {
            return Ok(done);
        }
        let explained: Vec<(ExplainTask, Option<Explanation>)> = tasks
            .into_iter()
            .map(|t| {
                let e = explain_task(&blobs, &t);
                (t, e)
            })
            .collect();
        done += explained.len();
        let c = Commit {
            now: clock.now(),
            explained,
            ..Commit::default()
        };
        access.step(|s| s.commit(&c))?;
    }
}

/// Explains one archived log. A log that can no longer be read (removed
/// from the archive) has no explanation; that is logged.
pub fn explain_task(blobs: &Blobs, task: &ExplainTask) -> Option<Explanation> {
    let stored = match blobs.log(&task.log) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(
                "cannot explain {} {}: its archived log {} cannot be read: {e}",
                task.key,
                task.version,
                task.log
            );
            return None;
        }
    };
    // The archive holds what was accepted at arrival (the bomb and ratio
    // checks were made then); only the start and end of a large log are
    // held, as at arrival.
    let limits = Limits {
        max_log_size: u64::MAX,
        max_log_ratio: 0,
    };
    let log = match stored
        .codec
        .decoder(stored.bytes.as_slice())
        .map_err(|e| MailError::BadGzip(e.to_string()))
        .and_then(|mut r| window_log(&mut r, stored.bytes.len() as u64, limits))
    {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(
                "cannot explain {} {}: its archived log {} does not decompress: {e}",
                task.key,
                task.version,
                task.log
            );
            return None;
        }
    };
    drop(stored);
    let parsed = BuildLog {
        status: task.status,
        fail_stage: task.fail_stage.clone(),
        ..BuildLog::default()
    };
    let e = explain(&log.bytes, &parsed);
    tracing::info!(
        "explained {} {}: {}",
        task.key,
        task.version,
        e.as_ref()
            .map_or("no explanation found", |e| e.summary.as_str())
    );
    e
}
