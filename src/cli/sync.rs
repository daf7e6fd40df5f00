//! `buildmail sync`, `queue`, `take` and `binnmu`: the archive side of
//! wanna-build.

use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::config::Config;
use crate::hub::{Answer, Done, ErrorKind, Op, Query, SyncPhase, Taken};

/// Options of `sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Only this suite (default: every suite of `archive.suites`).
    #[arg(long)]
    pub suite: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `queue`.
#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    /// The suite.
    #[arg(long)]
    pub suite: String,
    /// The architecture.
    #[arg(long)]
    pub arch: String,
    /// Only the first N builds of the queue (the daemon answers them
    /// without sending the whole queue).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `take`.
#[derive(Debug, clap::Args)]
pub struct TakeArgs {
    /// The suite.
    #[arg(long)]
    pub suite: String,
    /// The architecture.
    #[arg(long)]
    pub arch: String,
    /// The builder taking the build (recorded as the build's builder).
    #[arg(long)]
    pub builder: String,
    /// Take this source instead of the top of the queue.
    pub source: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `binnmu`.
#[derive(Debug, clap::Args)]
pub struct BinNmuArgs {
    /// `<source>_<version>` (the source version, without `+bN`).
    pub build: String,
    /// The suite.
    #[arg(long)]
    pub suite: String,
    /// The architecture.
    #[arg(long)]
    pub arch: String,
    /// The changelog entry of the rebuild (why it is needed).
    #[arg(long, short)]
    pub message: String,
}

/// Schedules a binNMU.
pub fn run_binnmu(config: &Config, args: BinNmuArgs) -> anyhow::Result<ExitCode> {
    let Some((src, version)) = args.build.split_once('_') else {
        anyhow::bail!(
            "{:?}: write <source>_<version>, e.g. hello_2.10-3",
            args.build
        );
    };
    let op = Op::Binnmu {
        source: src.to_string(),
        version: version.to_string(),
        suite: args.suite,
        arch: args.arch,
        message: args.message,
    };
    match super::hub(config)?.apply(op)? {
        Done::Binnmu(r) => {
            outln!("{}: {} is {} (binNMU)", r.key, r.version, r.state);
            Ok(ExitCode::SUCCESS)
        }
        other => Err(super::unexpected("binnmu", &other)),
    }
}

/// Syncs every configured suite (or one): reads and verifies it with the
/// database released, then merges it — in the daemon when one runs (its
/// progress shown here), else here.
pub fn run_sync(config: &Config, args: SyncArgs) -> anyhow::Result<ExitCode> {
    if config.archive.root.is_none() {
        return Err(crate::sync::SyncError::NoArchive.into());
    }
    let hub = super::hub(config)?;
    // indicatif draws nothing when standard error is not a terminal.
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {wide_bar} {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let run = hub.sync(args.suite, &mut |p| {
        match p.phase {
            SyncPhase::Waiting => bar.set_message(format!("sync {}: waiting", p.suite)),
            SyncPhase::Reading => bar.set_message(format!("{}: reading the archive", p.suite)),
            SyncPhase::Merging => {
                bar.set_message(format!("{}: merging", p.suite));
                bar.set_length(p.total as u64);
                bar.set_position(p.done as u64);
            }
        }
        bar.tick();
    })?;
    bar.finish_and_clear();
    let mut failed = false;
    for s in &run.suites {
        if let Some(r) = &s.report {
            for (event, n) in &r.events {
                tracing::info!("sync {}: {event}: {n} build(s)", r.suite);
            }
        }
        if let Some(e) = &s.error {
            eprintln!("buildmail: sync {}: {e}", s.suite);
            failed = true;
        }
    }
    if args.json {
        let v: Vec<_> = run
            .suites
            .iter()
            .map(|s| match &s.report {
                Some(r) => json!({
                    "suite": r.suite,
                    "unchanged": r.unchanged,
                    "sources": r.sources,
                    "created": r.created,
                    "changed": r.changed,
                    "events": r.events,
                }),
                None => json!({
                    "suite": s.suite,
                    "error": s.error,
                }),
            })
            .collect();
        super::print_json(&v)?;
    } else {
        for r in run.suites.iter().filter_map(|s| s.report.as_ref()) {
            if r.unchanged {
                outln!(
                    "{}: unchanged (the same signed Release as at the last sync)",
                    r.suite
                );
                continue;
            }
            outln!(
                "{}: {} sources; {} builds created, {} changed",
                r.suite,
                r.sources,
                r.created,
                r.changed
            );
            for (event, n) in &r.events {
                outln!("  {event}: {n}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints the needs-build queue in order, with why each build stands
/// where it does.
pub fn run_queue(config: &Config, args: QueueArgs) -> anyhow::Result<ExitCode> {
    let q = Query::Queue {
        suite: args.suite,
        arch: args.arch,
        limit: args.limit,
    };
    let queue = match super::hub(config)?.query(q)? {
        Answer::Queue(q) => q,
        other => return Err(super::unexpected("queue", &other)),
    };
    if args.json {
        super::print_json(&queue)?;
    } else {
        for e in &queue {
            outln!("{:>5}  {}_{}  ({})", e.position, e.source, e.version, e.why);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Hands the top of the queue (or the named source) to a builder and
/// prints the job for sbuild. Exits 1 when there is nothing to take.
pub fn run_take(config: &Config, args: TakeArgs) -> anyhow::Result<ExitCode> {
    let op = Op::Take {
        suite: args.suite,
        arch: args.arch,
        builder: args.builder,
        source: args.source,
    };
    let taken = match super::hub(config)?.apply(op) {
        Ok(Done::Taken(t)) => t,
        Ok(other) => return Err(super::unexpected("take", &other)),
        Err(e) if e.kind == ErrorKind::Refused => {
            eprintln!("buildmail take: {e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    print_taken(&taken, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// `word` as a POSIX shell reads it back: as it is when it holds nothing
/// the shell treats specially, else in single quotes.
fn quoted(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Prints a taken build: the build and the sbuild command line (quoted
/// for a POSIX shell), or the whole job as JSON.
pub fn print_taken(t: &Taken, json: bool) -> anyhow::Result<()> {
    if json {
        super::print_json(t)?;
    } else {
        outln!(
            "{}_{} dist={} arch={}",
            t.source,
            t.version,
            t.suite,
            t.arch
        );
        let line: Vec<String> = t.sbuild.iter().map(|w| quoted(w)).collect();
        outln!("{}", line.join(" "));
    }
    Ok(())
}
