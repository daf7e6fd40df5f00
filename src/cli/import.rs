//! `buildmail import`: Maildir folders, mbox files, directories of `.eml`
//! files, single `.eml` files.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{mpsc, Condvar, Mutex};
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::ingest::source::{self, Mbox, SourceKind};
use crate::ingest::{Ingest, Outcome, Prepared, RawMail};
use crate::store::{BuildKey, Store};

/// Options of `import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Maildir folders, mbox files, directories of mail files, mail files.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// After the summary, print the table of the builds the import touched.
    #[arg(long)]
    pub list: bool,
}

/// Counts for the closing summary.
#[derive(Debug, Default)]
struct Tally {
    logs: u64,
    replies: u64,
    archive: u64,
    other: u64,
    duplicates: u64,
    quarantined: u64,
    bytes: u64,
    since_flush: u64,
    touched: BTreeSet<BuildKey>,
}

/// Bytes of mail read but not yet committed may not exceed this (one larger
/// mail is admitted alone), so memory stays bounded by the largest mail.
const IN_FLIGHT_BYTES: u64 = 8 << 20;

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
struct Job {
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
    let spill = crate::ingest::quarantine_dir(config);
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

fn size_of(raw: &RawMail) -> u64 {
    match raw {
        RawMail::Bytes(b) => b.len() as u64,
        RawMail::Oversize { size, .. } => *size,
    }
}

/// Commits prepared mails in arrival order and keeps the tally.
struct Committer<'a> {
    ingest: &'a Ingest<'a>,
    store: &'a Store,
    config: &'a Config,
    tally: Tally,
    bar: &'a ProgressBar,
}

impl Committer<'_> {
    fn commit(&mut self, job: &Job, prepared: &Prepared) -> anyhow::Result<()> {
        let outcome = self.ingest.commit(&job.raw, prepared).with_context(|| {
            format!(
                "could not commit {}; it and the mails after it were not imported",
                job.origin
            )
        })?;
        match outcome {
            Outcome::Log { key, .. } => {
                self.tally.logs += 1;
                self.tally.touched.insert(key);
            }
            Outcome::Reply {
                key,
                command,
                applied,
                reasons,
                ..
            } => {
                self.tally.replies += 1;
                if !applied {
                    self.bar.suspend(|| {
                        eprintln!(
                            "refused {command} for {key} ({}): {}",
                            job.origin,
                            reasons.join("; ")
                        )
                    });
                }
                self.tally.touched.insert(key);
            }
            Outcome::Archive { key, .. } => {
                self.tally.archive += 1;
                self.tally.touched.insert(key);
            }
            Outcome::Forwarded { .. } => self.tally.other += 1,
            Outcome::Duplicate(_) => self.tally.duplicates += 1,
            Outcome::Quarantined { id, reason } => {
                self.tally.quarantined += 1;
                self.bar
                    .suspend(|| eprintln!("quarantined #{id} ({}): {reason}", job.origin));
            }
        }
        self.tally.bytes += job.size;
        self.tally.since_flush += job.size;
        self.bar.inc(job.size);
        if self.tally.since_flush >= self.config.database.import_flush_bytes {
            self.store.flush()?;
            self.tally.since_flush = 0;
        }
        Ok(())
    }
}

/// Reads, prepares (in parallel) and commits (in order) every mail.
fn pipeline(
    paths: &[PathBuf],
    config: &Config,
    ingest: &Ingest<'_>,
    committer: &mut Committer<'_>,
) -> anyhow::Result<()> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let budget = Budget {
        state: Mutex::new((0, false)),
        cv: Condvar::new(),
    };
    let mut failure: Option<anyhow::Error> = None;
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(workers * 2);
    let job_rx = Mutex::new(job_rx);
    let read_result = std::thread::scope(|s| {
        let (done_tx, done_rx) = mpsc::sync_channel(workers * 2);
        let budget = &budget;
        let reader = s.spawn(move || -> anyhow::Result<()> {
            let mut seq = 0u64;
            for p in paths {
                let mut emit = |raw: RawMail, origin: String| {
                    let size = size_of(&raw);
                    if !budget.acquire(size) {
                        return false;
                    }
                    let job = Job {
                        seq,
                        raw,
                        origin,
                        size,
                    };
                    seq += 1;
                    job_tx.send(job).is_ok()
                };
                if !read_path(p, config, &mut emit)? {
                    break;
                }
            }
            Ok(())
        });
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            s.spawn(move || loop {
                let job = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else { return };
                let prepared = ingest.prepare(&job.raw);
                if done_tx.send((job, prepared)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let mut pending: BTreeMap<u64, (Job, Result<Prepared, crate::store::StoreError>)> =
            BTreeMap::new();
        let mut next = 0u64;
        for (job, prepared) in done_rx {
            pending.insert(job.seq, (job, prepared));
            while let Some((job, prepared)) = pending.remove(&next) {
                next += 1;
                budget.release(job.size);
                if failure.is_some() {
                    // Draining after a failure: commit nothing more.
                    continue;
                }
                let r = prepared
                    .with_context(|| format!("could not read the database for {}", job.origin))
                    .and_then(|p| committer.commit(&job, &p));
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

fn total_size(path: &Path) -> u64 {
    match source::kind_of(path) {
        Ok(k @ (SourceKind::Maildir | SourceKind::Directory)) => source::mail_files(path, &k)
            .map(|fs| {
                fs.iter()
                    .filter_map(|f| std::fs::metadata(f).ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0),
        _ => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    }
}

/// Imports every path, committing each mail and flushing in batches.
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let store = super::open_store(config)?;
    let total: u64 = args.paths.iter().map(|p| total_size(p)).sum();
    // indicatif draws nothing when standard error is not a terminal.
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let ingest = Ingest::new(&store, config);
    let mut committer = Committer {
        ingest: &ingest,
        store: &store,
        config,
        tally: Tally::default(),
        bar: &bar,
    };
    let result = pipeline(&args.paths, config, &ingest, &mut committer);
    // Whatever was committed is made durable, also after an error.
    store.flush()?;
    bar.finish_and_clear();
    result?;
    // Uploads and mails the imported replies asked for.
    let work = crate::work::run_pending(&store, config)?;
    for j in &work.jobs {
        eprintln!("job {}: {}", j.id, j.outcome);
    }
    let t = &committer.tally;
    let secs = start.elapsed().as_secs_f64();
    let mb = t.bytes as f64 / 1e6;
    println!(
        "imported {} mails: {} log mails, {} replies, {} archive mails, {} other mails, {} duplicates, {} quarantined",
        t.logs + t.replies + t.archive + t.other + t.duplicates + t.quarantined,
        t.logs,
        t.replies,
        t.archive,
        t.other,
        t.duplicates,
        t.quarantined
    );
    println!(
        "{mb:.1} MB in {secs:.2} s ({:.1} MB/s, {:.0} mails/s)",
        if secs > 0.0 { mb / secs } else { 0.0 },
        if secs > 0.0 {
            (t.logs + t.replies + t.archive + t.other + t.duplicates + t.quarantined) as f64 / secs
        } else {
            0.0
        }
    );
    if args.list && !t.touched.is_empty() {
        let mut records = Vec::new();
        for k in &t.touched {
            if let Some(r) = store.build(k)? {
                records.push(r);
            }
        }
        println!();
        super::list::print_table(&records);
    }
    Ok(ExitCode::SUCCESS)
}
