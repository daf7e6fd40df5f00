//! `buildmail import`: Maildir folders, mbox files, directories of `.eml`
//! files, single `.eml` files.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::ingest::source::{self, Mbox, SourceKind};
use crate::ingest::{Ingest, Outcome, RawMail};
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
    other: u64,
    duplicates: u64,
    quarantined: u64,
    bytes: u64,
    since_flush: u64,
    touched: BTreeSet<BuildKey>,
}

struct Run<'a> {
    ingest: Ingest<'a>,
    store: &'a Store,
    config: &'a Config,
    tally: Tally,
    bar: ProgressBar,
}

impl Run<'_> {
    fn one(&mut self, raw: RawMail, origin: &dyn Fn() -> String) -> anyhow::Result<()> {
        let size = match &raw {
            RawMail::Bytes(b) => b.len() as u64,
            RawMail::Oversize { size, .. } => *size,
        };
        let outcome = self.ingest.raw(&raw).with_context(|| {
            format!(
                "could not commit {}; nothing after it was imported",
                origin()
            )
        })?;
        match outcome {
            Outcome::Log { key, .. } => {
                self.tally.logs += 1;
                self.tally.touched.insert(key);
            }
            Outcome::Other => self.tally.other += 1,
            Outcome::Duplicate(_) => self.tally.duplicates += 1,
            Outcome::Quarantined { id, reason } => {
                self.tally.quarantined += 1;
                self.bar
                    .suspend(|| eprintln!("quarantined #{id} ({}): {reason}", origin()));
            }
        }
        self.tally.bytes += size;
        self.tally.since_flush += size;
        if self.tally.since_flush >= self.config.database.import_flush_bytes {
            self.store.flush()?;
            self.tally.since_flush = 0;
        }
        Ok(())
    }

    fn path(&mut self, path: &Path) -> anyhow::Result<()> {
        let limit = self.config.limits.max_message_size;
        let spill = crate::ingest::quarantine_dir(self.config);
        let kind =
            source::kind_of(path).with_context(|| format!("cannot read {}", path.display()))?;
        match kind {
            SourceKind::Mbox => {
                let f =
                    File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
                let mut mbox = Mbox::new(BufReader::with_capacity(1 << 20, f), limit, &spill);
                let mut n = 0u64;
                let mut last = 0u64;
                while let Some(raw) = mbox
                    .next_mail()
                    .with_context(|| format!("cannot read {}", path.display()))?
                {
                    n += 1;
                    self.one(raw, &|| format!("message {n} of {}", path.display()))?;
                    self.bar.inc(mbox.bytes_read - last);
                    last = mbox.bytes_read;
                }
            }
            SourceKind::Eml => {
                let raw = source::read_file(path, limit, &spill)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                self.one(raw, &|| path.display().to_string())?;
                self.bar.inc(size);
            }
            SourceKind::Maildir | SourceKind::Directory => {
                for file in source::mail_files(path, &kind)
                    .with_context(|| format!("cannot list {}", path.display()))?
                {
                    if source::kind_of(&file).ok() == Some(SourceKind::Mbox) {
                        self.path(&file)?;
                        continue;
                    }
                    let raw = source::read_file(&file, limit, &spill)
                        .with_context(|| format!("cannot read {}", file.display()))?;
                    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                    self.one(raw, &|| file.display().to_string())?;
                    self.bar.inc(size);
                }
            }
        }
        Ok(())
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
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let mut run = Run {
        ingest: Ingest::new(&store, config),
        store: &store,
        config,
        tally: Tally::default(),
        bar,
    };
    let mut result = Ok(());
    for p in &args.paths {
        result = run.path(p);
        if result.is_err() {
            break;
        }
    }
    // Whatever was committed is made durable, also after an error.
    store.flush()?;
    run.bar.finish_and_clear();
    result?;
    let t = &run.tally;
    let secs = start.elapsed().as_secs_f64();
    let mb = t.bytes as f64 / 1e6;
    println!(
        "imported {} mails: {} log mails, {} other mails, {} duplicates, {} quarantined",
        t.logs + t.other + t.duplicates + t.quarantined,
        t.logs,
        t.other,
        t.duplicates,
        t.quarantined
    );
    println!(
        "{mb:.1} MB in {secs:.2} s ({:.1} MB/s, {:.0} mails/s)",
        if secs > 0.0 { mb / secs } else { 0.0 },
        if secs > 0.0 {
            (t.logs + t.other + t.duplicates + t.quarantined) as f64 / secs
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
