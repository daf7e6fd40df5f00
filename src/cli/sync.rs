//! `buildmail sync`, `queue` and `take`: the archive side of wanna-build.

use std::process::ExitCode;

use serde_json::json;

use crate::config::Config;
use crate::sync::{self, Read};
use crate::time::{Clock, SystemClock};

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
    let store = super::open_existing_store(config)?;
    let key = crate::model::BuildKey {
        dist: args.suite,
        arch: args.arch,
        source: src.to_string(),
    };
    match sync::binnmu(&*store, &key, version, &args.message, SystemClock.now()) {
        Ok(r) => {
            outln!("{key}: {} is {} (binNMU)", r.version, r.state);
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            eprintln!("buildmail binnmu: {why}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Syncs every configured suite (or one): reads and verifies it with the
/// database released, then merges it.
pub fn run_sync(config: &Config, args: SyncArgs) -> anyhow::Result<ExitCode> {
    let suites: Vec<String> = match args.suite {
        Some(s) => vec![s],
        None => config.archive.suites.clone(),
    };
    if config.archive.root.is_none() {
        return Err(sync::SyncError::NoArchive.into());
    }
    let mut reports = Vec::new();
    for suite in suites {
        let seen = {
            let store = super::open_store(config)?;
            store.release_seen(&suite)?
        };
        let now = SystemClock.now();
        let report = match sync::read_suite(config, &suite, seen.as_ref(), now)? {
            Read::Unchanged(s) => sync::SuiteReport {
                suite: s,
                unchanged: true,
                ..Default::default()
            },
            Read::New(data) => {
                let store = super::open_store(config)?;
                let report = sync::merge(&*store, config, &data, now)?;
                // The questions it queued go out by the worker.
                if crate::effects::worker::has_due_work(&*store, config, now)? {
                    drop(store);
                    if let Err(e) = crate::effects::worker::spawn_detached(
                        &super::global_args(config),
                        &config.database.path,
                        &[],
                    ) {
                        eprintln!("buildmail sync: could not start the worker ({e}); run `buildmail work`");
                    }
                }
                report
            }
        };
        for (event, n) in &report.events {
            tracing::info!("sync {}: {event}: {n} build(s)", report.suite);
        }
        reports.push(report);
    }
    if args.json {
        let v: Vec<_> = reports
            .iter()
            .map(|r| {
                json!({
                    "suite": r.suite,
                    "unchanged": r.unchanged,
                    "sources": r.sources,
                    "created": r.created,
                    "changed": r.changed,
                    "events": r.events,
                })
            })
            .collect();
        super::print_json(&v)?;
    } else {
        for r in &reports {
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
    Ok(ExitCode::SUCCESS)
}

/// Prints the needs-build queue in order, with why each build stands
/// where it does.
pub fn run_queue(config: &Config, args: QueueArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_existing_store(config)?;
    let q = sync::queue(&*store, &config.archive.order, &args.suite, &args.arch)?;
    if args.json {
        let v: Vec<_> = q
            .iter()
            .enumerate()
            .map(|(i, r)| {
                json!({
                    "position": i + 1,
                    "source": r.key.source,
                    "version": r.version,
                    "suite": r.key.dist,
                    "arch": r.key.arch,
                    "why": crate::decide::queue::why(r),
                })
            })
            .collect();
        super::print_json(&v)?;
    } else {
        for (i, r) in q.iter().enumerate() {
            outln!(
                "{:>5}  {}_{}  ({})",
                i + 1,
                r.key.source,
                r.version,
                crate::decide::queue::why(r)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Hands the top of the queue (or the named source) to a builder and
/// prints the job for sbuild. Exits 1 when there is nothing to take.
pub fn run_take(config: &Config, args: TakeArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_existing_store(config)?;
    let r = match sync::take(
        &*store,
        &config.archive.order,
        &args.suite,
        &args.arch,
        &args.builder,
        args.source.as_deref(),
        SystemClock.now(),
    ) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("buildmail take: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if args.json {
        super::print_json(&json!({
            "source": r.key.source,
            "version": r.version,
            "suite": r.key.dist,
            "arch": r.key.arch,
            "builder": args.builder,
            "binnmu": serde_json::Value::Null,
        }))?;
    } else {
        outln!(
            "{}_{} dist={} arch={}",
            r.key.source,
            r.version,
            r.key.dist,
            r.key.arch
        );
        outln!(
            "sbuild --dist={} --arch={} {}_{}",
            r.key.dist,
            r.key.arch,
            r.key.source,
            r.version
        );
    }
    Ok(ExitCode::SUCCESS)
}
