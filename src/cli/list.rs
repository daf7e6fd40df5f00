//! `buildmail list`.

use std::process::ExitCode;

use crate::config::Config;
use crate::hub::{Answer, Query};
use crate::model::state::State;
use crate::model::BuildRecord;

/// Options of `list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only builds in this state (e.g. Built, Build-Attempted, Needs-Build).
    #[arg(long)]
    pub state: Option<String>,
    /// Which distributions and architectures.
    #[command(flatten)]
    pub filter: super::BuildFilter,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Prints builds as a table: source, version, dist, arch, state.
pub fn print_table(records: &[BuildRecord]) {
    let w = |f: fn(&BuildRecord) -> usize, min: usize| {
        records.iter().map(f).max().unwrap_or(0).max(min)
    };
    let ws = w(|r| r.key.source.len(), 6);
    let wv = w(|r| r.version.len(), 7);
    let wd = w(|r| r.key.dist.len(), 4);
    let wa = w(|r| r.key.arch.len(), 4);
    outln!(
        "{:ws$}  {:wv$}  {:wd$}  {:wa$}  STATE",
        "SOURCE",
        "VERSION",
        "DIST",
        "ARCH"
    );
    for r in records {
        outln!(
            "{:ws$}  {:wv$}  {:wd$}  {:wa$}  {}{}",
            r.key.source,
            r.version,
            r.key.dist,
            r.key.arch,
            r.state,
            remarks(r)
        );
    }
}

/// What the STATE column adds to a state: the fail-stage, a last log that
/// was not whole (why a build Needs-Build and not Built), an upload whose
/// command still runs or waits to run.
fn remarks(r: &BuildRecord) -> String {
    let mut out = Vec::new();
    if let Some(stage) = &r.fail_stage {
        out.push(format!("fail-stage {stage}"));
    }
    if r.incomplete_log.is_some() {
        out.push("last log incomplete".to_string());
    }
    match &r.upload {
        Some(u) if u.command_started.is_some() => out.push("upload command running".into()),
        Some(_) if r.pending_job.is_some() && r.state == State::Built => {
            out.push("upload queued".into())
        }
        _ => {}
    }
    if out.is_empty() {
        String::new()
    } else {
        format!(" ({})", out.join("; "))
    }
}

/// Lists builds matching the filters.
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let state = match &args.state {
        None => None,
        Some(s) => Some(State::parse(s).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown state {s:?}; states are: {}",
                State::ALL.map(State::as_str).join(", ")
            )
        })?),
    };
    let q = Query::List {
        state,
        filter: args.filter.to_query(),
    };
    let records = match super::hub(config)?.query(q)? {
        Answer::Builds(b) => b,
        other => return Err(super::unexpected("list", &other)),
    };
    if args.json {
        super::print_json(&records)?;
    } else if records.is_empty() {
        outln!("no builds match");
    } else {
        print_table(&records);
    }
    Ok(ExitCode::SUCCESS)
}
