//! The import pipeline: mails read from Maildir folders, mbox files and
//! mail files in one thread, prepared on up to four ([`Ingest::prepare`]),
//! committed in arrival order on the caller's ([`Ingest::commit`]), made
//! durable every `database.import_flush_every` bytes. Mails travel
//! between the threads in batches (a hand-off per half megabyte, not per
//! mail), and are committed in runs, after one sync of the logs a run
//! archived. Memory stays bounded:
//! at most [`IN_FLIGHT_BYTES`] of mail is between reading and committing
//! (one larger mail is admitted alone).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Condvar, Mutex};

use anyhow::Context;

use super::{Ingest, Outcome, Prepared};
use crate::config::Config;
use crate::inbound::source;
use crate::inbound::source::{Mbox, RawMail, SourceKind};
use crate::store::{Store, StoreError};

/// One committed mail, as the pipeline reports it.
#[derive(Debug)]
pub struct Committed<'a> {
    /// Where it came from (`message 3 of logs.mbox`, a file name).
    pub origin: &'a str,
    /// Its size in bytes.
    pub size: u64,
    /// What happened to it.
    pub outcome: &'a Outcome,
}

/// Bytes of mail read but not yet committed may not exceed this (one larger
/// mail is admitted alone), so memory stays bounded by the largest mail.
pub const IN_FLIGHT_BYTES: u64 = 8 << 20;

/// Mails go from the reader to a preparer, and back to the committer, in
/// batches of about this many bytes: a hand-off between threads (a wake
/// and a sleep) per batch, not per mail.
const HAND_OFF_BYTES: u64 = 256 << 10;

/// The committer commits once this many bytes of mail are ready in order
/// (or no more are coming), after one sync of the logs they archived.
const COMMIT_BATCH_BYTES: u64 = 1 << 20;

/// How long the committer waits for more mails to join a run it could
/// commit.
const RUN_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// A byte budget shared by the reader and the committer.
struct Budget {
    state: Mutex<(u64, bool)>,
    cv: Condvar,
}

impl Budget {
    /// Waits until `n` more bytes fit; `false` once the import is aborted.
    fn acquire(&self, n: u64) -> bool {
        let Ok(mut st) = self.state.lock() else {
            return false;
        };
        while !st.1 && st.0 > 0 && st.0 + n > IN_FLIGHT_BYTES {
            st = match self.cv.wait(st) {
                Ok(g) => g,
                Err(_) => return false,
            };
        }
        st.0 += n;
        !st.1
    }

    /// Takes `n` bytes when they fit without waiting.
    fn try_acquire(&self, n: u64) -> bool {
        let Ok(mut st) = self.state.lock() else {
            return false;
        };
        if st.1 || (st.0 > 0 && st.0 + n > IN_FLIGHT_BYTES) {
            return false;
        }
        st.0 += n;
        true
    }

    fn release(&self, n: u64) {
        if let Ok(mut st) = self.state.lock() {
            st.0 = st.0.saturating_sub(n);
        }
        self.cv.notify_all();
    }

    fn abort(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.1 = true;
        }
        self.cv.notify_all();
    }
}

/// One mail on its way through the pipeline.
struct Item {
    seq: u64,
    raw: RawMail,
    origin: String,
    size: u64,
}

/// Reads every mail of `path`, handing each to `emit`; stops early when
/// `emit` returns `false`.
fn read_path(
    path: &Path,
    config: &Config,
    emit: &mut dyn FnMut(RawMail, String) -> bool,
) -> anyhow::Result<bool> {
    let limit = config.limits.max_message_size;
    let spill = config.quarantine_dir();
    let kind = source::kind_of(path).with_context(|| format!("cannot read {}", path.display()))?;
    match kind {
        SourceKind::Mbox => {
            let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let mut mbox = Mbox::new(BufReader::with_capacity(1 << 20, f), limit, &spill);
            let mut n = 0u64;
            while let Some(raw) = mbox
                .next_mail()
                .with_context(|| format!("cannot read {}", path.display()))?
            {
                n += 1;
                if !emit(raw, format!("message {n} of {}", path.display())) {
                    return Ok(false);
                }
            }
        }
        SourceKind::Eml => {
            let raw = source::read_file(path, limit, &spill)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if !emit(raw, path.display().to_string()) {
                return Ok(false);
            }
        }
        SourceKind::Maildir | SourceKind::Directory => {
            for file in source::mail_files(path, &kind)
                .with_context(|| format!("cannot list {}", path.display()))?
            {
                if source::kind_of(&file).ok() == Some(SourceKind::Mbox) {
                    if !read_path(&file, config, emit)? {
                        return Ok(false);
                    }
                    continue;
                }
                let raw = source::read_file(&file, limit, &spill)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                if !emit(raw, file.display().to_string()) {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// Reads every mail of `paths` in order, handing each (with where it
/// came from) to `emit`; stops early when `emit` returns `false`. A mail
/// over `limits.max_message_size` is spilled to a file as it is read.
pub fn read_paths(
    paths: &[PathBuf],
    config: &Config,
    emit: &mut dyn FnMut(RawMail, String) -> bool,
) -> anyhow::Result<()> {
    for p in paths {
        if !read_path(p, config, emit)? {
            break;
        }
    }
    Ok(())
}

/// Reads, prepares (in parallel) and commits (in order) every mail of
/// `paths`, reporting each to `observe`. Commits are flushed in batches;
/// the caller flushes at the end (also after an error).
pub fn run(
    paths: &[PathBuf],
    config: &Config,
    ingest: &Ingest<'_>,
    store: &dyn Store,
    observe: &mut dyn FnMut(&Committed<'_>),
) -> anyhow::Result<()> {
    let mut since_flush = 0u64;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let budget = Budget {
        state: Mutex::new((0, false)),
        cv: Condvar::new(),
    };
    let mut failure: Option<anyhow::Error> = None;
    let (job_tx, job_rx) = mpsc::sync_channel::<Vec<Item>>(workers * 2);
    let job_rx = Mutex::new(job_rx);
    let read_result = std::thread::scope(|s| {
        let (done_tx, done_rx) = mpsc::sync_channel(workers * 2);
        let budget = &budget;
        let reader = s.spawn(move || -> anyhow::Result<()> {
            let mut seq = 0u64;
            let mut batch: Vec<Item> = Vec::new();
            let mut batch_bytes = 0u64;
            for p in paths {
                let mut emit = |raw: RawMail, origin: String| {
                    let size = raw.size();
                    // A batch waiting here would hold bytes the budget
                    // counts: it goes before the reader waits.
                    if !budget.try_acquire(size) {
                        if !batch.is_empty() {
                            batch_bytes = 0;
                            if job_tx.send(std::mem::take(&mut batch)).is_err() {
                                return false;
                            }
                        }
                        if !budget.acquire(size) {
                            return false;
                        }
                    }
                    batch.push(Item {
                        seq,
                        raw,
                        origin,
                        size,
                    });
                    seq += 1;
                    batch_bytes += size;
                    if batch_bytes >= HAND_OFF_BYTES {
                        batch_bytes = 0;
                        return job_tx.send(std::mem::take(&mut batch)).is_ok();
                    }
                    true
                };
                if !read_path(p, config, &mut emit)? {
                    break;
                }
            }
            if !batch.is_empty() {
                // The committer may have stopped after a failure.
                let _ = job_tx.send(batch);
            }
            Ok(())
        });
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            s.spawn(move || loop {
                let jobs = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(jobs) = jobs else { return };
                let prepared: Vec<_> = jobs
                    .into_iter()
                    .map(|job| {
                        let p = ingest.prepare(&job.raw);
                        (job, p)
                    })
                    .collect();
                if done_tx.send(prepared).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let mut pending: BTreeMap<u64, (Item, Result<Prepared, StoreError>)> = BTreeMap::new();
        let mut next = 0u64;
        let mut ready: Vec<(Item, Result<Prepared, StoreError>)> = Vec::new();
        let mut ready_bytes = 0u64;
        let mut open = true;
        // Prepared mails are committed in arrival order, in runs of
        // COMMIT_BATCH_BYTES (or what is ready when no more are coming),
        // each after one sync has made the logs they archived durable
        // (sled may write a commit to disk at any moment; it must never
        // refer to a log that a crash could lose).
        while open || !ready.is_empty() {
            let got = if ready_bytes >= COMMIT_BATCH_BYTES || !open {
                None
            } else if ready.is_empty() {
                // Nothing to commit: wait for the next batch.
                match done_rx.recv() {
                    Ok(b) => Some(b),
                    Err(_) => {
                        open = false;
                        None
                    }
                }
            } else {
                // Something to commit: wait a moment for more to join
                // the run (not longer: the reader may be waiting for the
                // budget this run holds, before a large mail).
                match done_rx.recv_timeout(RUN_WAIT) {
                    Ok(b) => Some(b),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        open = false;
                        None
                    }
                }
            };
            if let Some(batch) = got {
                for (job, prepared) in batch {
                    pending.insert(job.seq, (job, prepared));
                }
                while let Some(item) = pending.remove(&next) {
                    next += 1;
                    ready_bytes += item.0.size;
                    ready.push(item);
                }
                if ready_bytes < COMMIT_BATCH_BYTES && open {
                    continue;
                }
            }
            if ready.is_empty() {
                continue;
            }
            let run = std::mem::take(&mut ready);
            ready_bytes = 0;
            if failure.is_none() {
                if let Err(e) = ingest.sync_archive() {
                    failure = Some(
                        anyhow::Error::new(e).context("could not make the archived logs durable"),
                    );
                    budget.abort();
                }
            }
            for (job, prepared) in run {
                budget.release(job.size);
                if failure.is_some() {
                    // Draining after a failure: commit nothing more.
                    continue;
                }
                let r = prepared
                    .with_context(|| format!("could not read the database for {}", job.origin))
                    .and_then(|p| {
                        let outcome = ingest.commit(&job.raw, &p).with_context(|| {
                            format!(
                                "could not commit {}; it and the mails after it were not imported",
                                job.origin
                            )
                        })?;
                        observe(&Committed {
                            origin: &job.origin,
                            size: job.size,
                            outcome: &outcome,
                        });
                        crate::effects::crash_point("import-committed");
                        since_flush += job.size;
                        if since_flush >= config.database.import_flush_bytes {
                            store.flush()?;
                            since_flush = 0;
                        }
                        Ok(())
                    });
                if let Err(e) = r {
                    failure = Some(e);
                    budget.abort();
                }
            }
        }
        reader
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the mail reader thread panicked")))
    });
    match failure {
        Some(e) => Err(e),
        None => read_result,
    }
}
