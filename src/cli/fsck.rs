//! `buildmail fsck [--repair]`: checks the database against the files
//! beside it. Logs are archived, and large quarantined mails kept as
//! files, *before* the commit that records them, so a process killed in
//! between (an `import`, a `deliver`) leaves a file nothing refers to;
//! such orphans are found here and, with `--repair`, removed. A record
//! whose file is missing cannot be repaired and is reported.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::store::archive::LogArchive;

/// Options of `fsck`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove orphaned files and stale temporary files.
    #[arg(long)]
    pub repair: bool,
    /// How old an unreferenced file must be to count as an orphan, e.g.
    /// `30m`, `0s` (default `1h`: a younger one may belong to a delivery
    /// that is about to record it).
    #[arg(long, value_name = "AGE", default_value = "1h", value_parser = age)]
    pub older_than: Duration,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Parses `--older-than`.
fn age(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration (30s, 10m, 1h, 2d)"))
}

/// What `fsck` found.
#[derive(Debug, Default, serde::Serialize)]
pub struct Findings {
    /// Archived logs no record refers to (older than `--older-than`: a
    /// `deliver` writes the log before it opens the database).
    pub orphan_logs: Vec<PathBuf>,
    /// Quarantine files no quarantine entry refers to.
    pub orphan_quarantine_files: Vec<PathBuf>,
    /// Temporary files a crash left behind.
    pub stale_temporary_files: Vec<PathBuf>,
    /// Unreferenced files younger than `--older-than`, left alone.
    pub recent_unreferenced: Vec<PathBuf>,
    /// Log records whose archive file is missing (`<build> <version>: <path>`).
    pub missing_logs: Vec<String>,
    /// Quarantine entries whose file is missing (`#<id>: <path>`).
    pub missing_quarantine_files: Vec<String>,
    /// Files removed (with `--repair`).
    pub removed: Vec<PathBuf>,
}

impl Findings {
    /// How many files `--repair` would remove.
    fn orphans(&self) -> usize {
        self.orphan_logs.len()
            + self.orphan_quarantine_files.len()
            + self.stale_temporary_files.len()
    }

    /// Whether something is wrong that `--repair` cannot fix, or that it
    /// was not asked to.
    fn unhealthy(&self, repaired: bool) -> bool {
        !self.missing_logs.is_empty()
            || !self.missing_quarantine_files.is_empty()
            || (!repaired && self.orphans() > 0)
    }
}

/// Runs the check (and the repair).
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let store = super::open_existing_store(config)?;
    let now = SystemTime::now();
    let old = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() >= args.older_than)
    };
    let mut f = Findings::default();

    let archive = LogArchive::new(&config.database.log_archive);
    let refs = store.log_refs()?;
    let referenced: BTreeSet<&str> = refs.iter().map(|r| r.id.as_str()).collect();
    for (id, path) in archive.files()? {
        // Referred to by a log record, or kept for a mail that is on record
        // without one (a log from someone who is not a builder).
        if referenced.contains(id.as_str()) || store.seen(&id)?.is_some() {
            continue;
        }
        if old(&path) {
            f.orphan_logs.push(path);
        } else {
            f.recent_unreferenced.push(path);
        }
    }
    for r in &refs {
        match archive.path(&r.id) {
            Ok(p) if p.exists() => {}
            Ok(p) => f
                .missing_logs
                .push(format!("{} {}: {}", r.key, r.version, p.display())),
            Err(e) => f.missing_logs.push(format!("{} {}: {e}", r.key, r.version)),
        }
    }

    let quarantined = store.quarantined()?;
    let kept: BTreeSet<&Path> = quarantined
        .iter()
        .filter_map(|q| q.raw_file.as_deref())
        .collect();
    for q in &quarantined {
        if let Some(p) = &q.raw_file {
            if !p.exists() {
                f.missing_quarantine_files
                    .push(format!("#{}: {}", q.id, p.display()));
            }
        }
    }
    let qdir = config.quarantine_dir();
    for path in files_in(&qdir)? {
        let is_mail = path.extension().is_some_and(|e| e == "eml");
        if !is_mail || kept.contains(path.as_path()) {
            continue;
        }
        if old(&path) {
            f.orphan_quarantine_files.push(path);
        } else {
            f.recent_unreferenced.push(path);
        }
    }

    // Every shard of the archive, also one that holds nothing but a
    // crashed write's temporary file.
    let mut dirs = vec![qdir, config.outbox.dir.clone()];
    if let Ok(shards) = std::fs::read_dir(archive.dir()) {
        for shard in shards.filter_map(Result::ok) {
            if shard.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(shard.path());
            }
        }
    }
    dirs.sort();
    dirs.dedup();
    for d in &dirs {
        for path in files_in(d)? {
            let temp = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".buildmail-tmp-"));
            if temp && old(&path) {
                f.stale_temporary_files.push(path);
            }
        }
    }

    if args.repair {
        for p in f
            .orphan_logs
            .iter()
            .chain(&f.orphan_quarantine_files)
            .chain(&f.stale_temporary_files)
        {
            // Looked at again just before: a delivery may have rewritten
            // it since the scan, about to record it.
            if !old(p) {
                continue;
            }
            match std::fs::remove_file(p) {
                Ok(()) => f.removed.push(p.clone()),
                Err(e) => eprintln!("buildmail: could not remove {}: {e}", p.display()),
            }
        }
    }
    drop(store);

    if args.json {
        super::print_json(&f)?;
    } else {
        report(&f, args.repair);
    }
    Ok(if f.unhealthy(args.repair) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The findings in words.
fn report(f: &Findings, repaired: bool) {
    let list = |what: &str, items: &[PathBuf]| {
        if !items.is_empty() {
            outln!("{what}:");
            for p in items {
                outln!("  {}", p.display());
            }
        }
    };
    list("archived logs no record refers to", &f.orphan_logs);
    list(
        "quarantine files no entry refers to",
        &f.orphan_quarantine_files,
    );
    list("temporary files left by a crash", &f.stale_temporary_files);
    list(
        "unreferenced files too young to be orphans (left alone: a delivery may be about to record them; see --older-than)",
        &f.recent_unreferenced,
    );
    for (what, items) in [
        ("log records whose file is missing", &f.missing_logs),
        (
            "quarantine entries whose file is missing",
            &f.missing_quarantine_files,
        ),
    ] {
        if !items.is_empty() {
            outln!("{what} (restore the files from a backup):");
            for i in items {
                outln!("  {i}");
            }
        }
    }
    let orphans = f.orphans();
    if repaired {
        outln!("removed {} file(s)", f.removed.len());
    } else if orphans > 0 {
        outln!("{orphans} file(s) to remove: run `buildmail fsck --repair`");
    }
    if f.missing_logs.is_empty() && f.missing_quarantine_files.is_empty() && orphans == 0 {
        outln!("the database and its files agree");
    }
}

/// The plain files in `dir` (none when it does not exist).
fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            let mut v = Vec::new();
            for e in rd {
                let e = e?;
                if e.file_type()?.is_file() {
                    v.push(e.path());
                }
            }
            Ok(v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}
