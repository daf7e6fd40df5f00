//! `buildmail import`: Maildir folders, mbox files, directories of `.eml`
//! files, single `.eml` files, through [`crate::ingest::pipeline`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::effects::worker;
use crate::hub::{Answer, Done, Hub, MailMode, Op, Query};
use crate::inbound::source;
use crate::inbound::source::SourceKind;
use crate::ingest::pipeline;
use crate::ingest::pipeline::Committed;
use crate::ingest::{Ingest, Outcome};
use crate::model::BuildKey;
use crate::serve::client::{self, Connect};

/// Options of `import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Maildir folders, mbox files, directories of mail files, mail files.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// After the summary, print the table of the builds the import touched.
    #[arg(long)]
    pub list: bool,
    /// Carry out what the mails ask for, as `deliver` would: send the
    /// error replies, forwards and notifications, run the uploads. Without
    /// it an import sends nothing and runs nothing (the history says what
    /// was left out), and each mail is dated by its own Date: header.
    #[arg(long)]
    pub live: bool,
    /// When the failed builds are explained: by a worker started in the
    /// background (the import returns as soon as every mail is committed),
    /// here before returning (`wait`), or by the next `buildmail work`
    /// (`later`).
    #[arg(long, value_enum, default_value_t = Explain::Background)]
    pub explain: Explain,
}

/// When an import's failed builds are explained (`--explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Explain {
    /// By `buildmail work --explanations`, started detached.
    Background,
    /// By the import itself, after the last commit.
    Wait,
    /// By the next `buildmail work`.
    Later,
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
    touched: BTreeSet<BuildKey>,
}

impl Tally {
    fn mails(&self) -> u64 {
        self.logs + self.replies + self.archive + self.other + self.duplicates + self.quarantined
    }

    /// Counts one committed mail; says on the bar what an admin must know.
    fn count(&mut self, c: &Committed<'_>, bar: &ProgressBar) {
        match c.outcome {
            Outcome::Log { key, .. } => {
                self.logs += 1;
                self.touched.insert(key.clone());
            }
            Outcome::Reply {
                key,
                command,
                applied,
                reasons,
                ..
            } => {
                self.replies += 1;
                if !applied {
                    bar.suspend(|| {
                        eprintln!(
                            "refused {command} for {key} ({}): {}",
                            c.origin,
                            reasons.join("; ")
                        )
                    });
                }
                self.touched.insert(key.clone());
            }
            Outcome::Archive { key, .. } => {
                self.archive += 1;
                self.touched.insert(key.clone());
            }
            Outcome::Forwarded { .. } => self.other += 1,
            Outcome::Duplicate(_) => self.duplicates += 1,
            Outcome::Quarantined { id, reason } => {
                self.quarantined += 1;
                bar.suspend(|| eprintln!("quarantined #{id} ({}): {reason}", c.origin));
            }
        }
        self.bytes += c.size;
        bar.inc(c.size);
    }
}

/// Makes memory go back to the system when a large buffer is freed:
/// glibc otherwise raises its mmap threshold after each large free and
/// keeps such buffers in per-thread arenas, so a mailbox of large logs
/// read by several threads would hold one freed log window per thread.
/// Pinning the threshold also pins glibc's trim threshold at 128 KiB,
/// which made every thread give back and fault in its small buffers
/// again and again (a quarter of a failed log's import time): it is set
/// to 16 MiB. Called before the pipeline starts its threads. (`deliver`
/// handles one mail and keeps glibc's defaults, which start it faster.)
fn return_large_buffers() {
    // SAFETY: mallopt only sets allocator parameters; no other thread
    // allocates yet.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
    }
}

/// Has the `waiting` failed builds of an import explained as `--explain`
/// asks, and says so.
fn explain_failures(config: &Config, when: Explain, waiting: usize) -> anyhow::Result<()> {
    match when {
        Explain::Wait => {
            let access = crate::effects::StoreAccess::Open(&config.database);
            let n = crate::effects::explain::run_pending(access, config, &crate::time::SystemClock)?;
            if n == 0 {
                outln!("{waiting} failed build(s) are being explained by another buildmail process");
            } else {
                outln!("{n} failed build(s) explained");
            }
        }
        Explain::Later => outln!(
            "{waiting} failed build(s) wait to be explained by the next `buildmail work`"
        ),
        Explain::Background => match worker::spawn_detached(
            &super::global_args(config),
            &config.database.path,
            &["--explanations"],
        ) {
            Ok(()) => outln!(
                "{waiting} failed build(s) are being explained in the background (`buildmail work --explanations`, output in {}); `info` shows each explanation once made",
                worker::log_path(&config.database.path).display()
            ),
            Err(e) => outln!(
                "{waiting} failed build(s) wait to be explained: could not start `buildmail work --explanations` ({e}); run it, or `buildmail work`"
            ),
        },
    }
    Ok(())
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

/// Imports every path, committing each mail and flushing in batches —
/// through the daemon when one runs (one mail at a time, in order).
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    match client::connect(&config.serve.control, client::HELLO_TIMEOUT) {
        Connect::Daemon(remote) => return through_daemon(config, &args, &*remote),
        Connect::Unusable(why) => anyhow::bail!(why),
        Connect::NoDaemon => {}
    }
    return_large_buffers();
    let store = crate::store::open(&config.database)?;
    // Nothing is acknowledged before the flushes below: a commit need not
    // be durable by itself (PostgreSQL: one WAL flush per batch).
    store.defer_durability();
    let total: u64 = args.paths.iter().map(|p| total_size(p)).sum();
    // indicatif draws nothing when standard error is not a terminal.
    let bar = progress_bar(total);
    let start = Instant::now();
    let ingest = Ingest::new(&*store, config).batched();
    let ingest = if args.live {
        ingest
    } else {
        ingest.importing()
    };
    let mut tally = Tally::default();
    let result = pipeline::run(&args.paths, config, &ingest, &*store, &mut |c| {
        tally.count(c, &bar)
    });
    // Whatever was committed is made durable, also after an error (the
    // logs it refers to were made durable before it was committed).
    store.flush()?;
    bar.finish_and_clear();
    result?;
    summarise(&tally, start);
    if args.list && !tally.touched.is_empty() {
        let mut records = Vec::new();
        for k in &tally.touched {
            if let Some(r) = store.build(k)? {
                records.push(r);
            }
        }
        outln!();
        super::list::print_table(&records);
    }
    if !args.live {
        outln!(
            "nothing was sent and no upload was run (imported mail; `import --live` carries out what the mails ask for)"
        );
        // Failed logs are explained off the critical path (by a worker
        // which sends nothing), or here.
        let waiting = store.explain_queue(usize::MAX)?.len();
        drop(store);
        if waiting > 0 {
            explain_failures(config, args.explain, waiting)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Uploads and mails the imported replies asked for, with the store
    // released between steps.
    drop(store);
    let clock = crate::time::SystemClock;
    if let Some(work) = worker::run_exclusive(config, &clock)? {
        for j in &work.jobs {
            eprintln!("job {}: {}", j.id, j.outcome);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Imports through the running daemon: each mail submitted in order (a
/// reply after the log it answers), committed and made durable by the
/// daemon; its effects (with `--live`) and the explanations run in the
/// daemon's effects task.
fn through_daemon(config: &Config, args: &Args, hub: &dyn Hub) -> anyhow::Result<ExitCode> {
    let total: u64 = args.paths.iter().map(|p| total_size(p)).sum();
    let bar = progress_bar(total);
    let start = Instant::now();
    let mode = if args.live {
        MailMode::Deliver
    } else {
        MailMode::Import
    };
    let mut tally = Tally::default();
    let mut failure = None;
    pipeline::read_paths(&args.paths, config, &mut |raw, origin| {
        let size = raw.size();
        match hub.submit(raw, mode) {
            Ok(a) => {
                tally.count(
                    &Committed {
                        origin: &origin,
                        size,
                        outcome: &a.outcome,
                    },
                    &bar,
                );
                true
            }
            Err(e) => {
                failure = Some(anyhow::anyhow!(
                    "could not commit {origin}; it and the mails after it were not imported: {e}"
                ));
                false
            }
        }
    })?;
    bar.finish_and_clear();
    if let Some(e) = failure {
        summarise(&tally, start);
        return Err(e);
    }
    summarise(&tally, start);
    if args.list && !tally.touched.is_empty() {
        let mut records = Vec::new();
        for k in &tally.touched {
            let q = Query::Info {
                source: k.source.clone(),
                filter: crate::query::Filter {
                    dist: Some(k.dist.clone()),
                    arch: Some(k.arch.clone()),
                },
            };
            match hub.query(q)? {
                Answer::Builds(b) => records.extend(b),
                other => return Err(super::unexpected("info", &other)),
            }
        }
        outln!();
        super::list::print_table(&records);
    }
    if args.live {
        outln!("{} carries out what the mails ask for", hub.describe());
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "nothing was sent and no upload was run (imported mail; `import --live` carries out what the mails ask for)"
    );
    if args.explain == Explain::Wait {
        if let Done::Worked(Some(s)) = hub.apply(Op::Work { explanations: true })? {
            outln!("{} failed build(s) explained", s.explained);
        }
    } else if tally.logs > 0 {
        outln!(
            "failed builds are explained by {} (`info` shows each explanation once made)",
            hub.describe()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The progress bar of an import of `total` bytes (drawn only on a
/// terminal).
fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// The closing summary of an import.
fn summarise(t: &Tally, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    let mb = t.bytes as f64 / 1e6;
    outln!(
        "imported {} mails: {} log mails, {} replies, {} archive mails, {} other mails, {} duplicates, {} quarantined",
        t.mails(),
        t.logs,
        t.replies,
        t.archive,
        t.other,
        t.duplicates,
        t.quarantined
    );
    outln!(
        "{mb:.1} MB in {secs:.2} s ({:.1} MB/s, {:.0} mails/s)",
        if secs > 0.0 { mb / secs } else { 0.0 },
        if secs > 0.0 {
            t.mails() as f64 / secs
        } else {
            0.0
        }
    );
}
