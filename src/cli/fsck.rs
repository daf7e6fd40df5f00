//! `buildmail fsck [--repair]`: checks the database against the files
//! beside it. Logs are archived, and large quarantined mails kept as
//! files, *before* the commit that records them, so a process killed in
//! between (an `import`, a `deliver`) leaves a file nothing refers to;
//! such orphans are found here and, with `--repair`, removed. A record
//! whose file is missing cannot be repaired and is reported.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::Config;
use crate::hub::{Answer, Done, Op, Query};
use crate::query::fsck::Findings;

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

/// Runs the check (and the repair).
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let hub = super::hub(config)?;
    let older_than = args.older_than.as_secs();
    let f = if args.repair {
        match hub.apply(Op::FsckRepair { older_than })? {
            Done::Repaired(f) => f,
            other => return Err(super::unexpected("fsck --repair", &other)),
        }
    } else {
        match hub.query(Query::Fsck { older_than })? {
            Answer::Fsck(f) => f,
            other => return Err(super::unexpected("fsck", &other)),
        }
    };
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
    let list_words = |what: &str, items: &[String]| {
        if !items.is_empty() {
            outln!("{what}:");
            for i in items {
                outln!("  {i}");
            }
        }
    };
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
    list_words(
        "ends of log-archive segments a crash left (cut off by the next delivery, or by --repair)",
        &f.archive_tails,
    );
    list_words(
        "ends of the mail store a crash left (cut off by the next delivery, or by --repair)",
        &f.mail_tails,
    );
    if f.unreferenced_mails > 0 {
        outln!(
            "{} kept mail(s) no quarantine entry or outbox mail refers to ({} bytes of {} in the mail store; kept until a compaction)",
            f.unreferenced_mails,
            f.unreferenced_mail_bytes,
            f.mail_bytes
        );
    }
    if f.unreferenced_blobs > 0 {
        outln!(
            "{} archived log(s) no record refers to ({} bytes of {} in the archive's segments; kept until a compaction)",
            f.unreferenced_blobs,
            f.unreferenced_bytes,
            f.archive_bytes
        );
    }
    for (what, items) in [
        (
            "log records whose log is missing (restore the archive from a backup)",
            &f.missing_logs,
        ),
        (
            "damaged entries of the log archive (restore its segments from a backup)",
            &f.damaged_logs,
        ),
        (
            "quarantine entries whose file is missing (restore the files from a backup)",
            &f.missing_quarantine_files,
        ),
        (
            "quarantine entries and outbox mails whose kept mail is missing (restore the mail store from a backup)",
            &f.missing_mails,
        ),
        (
            "damaged blobs of the mail store (restore its segments from a backup)",
            &f.damaged_mails,
        ),
    ] {
        if !items.is_empty() {
            outln!("{what}:");
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
    if f.missing_logs.is_empty()
        && f.damaged_logs.is_empty()
        && f.missing_quarantine_files.is_empty()
        && f.missing_mails.is_empty()
        && f.damaged_mails.is_empty()
        && orphans == 0
    {
        outln!("the database and its files agree");
    }
}
