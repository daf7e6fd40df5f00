//! `buildmail history <src>`.

use std::process::ExitCode;

use crate::config::Config;
use crate::hub::{Answer, Query};

/// Options of `history`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source package name.
    pub source: String,
    /// Which distributions and architectures.
    #[command(flatten)]
    pub filter: super::BuildFilter,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Prints the history of every matching build of a source package.
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let q = Query::History {
        source: args.source.clone(),
        filter: args.filter.to_query(),
    };
    let out = match super::hub(config)?.query(q)? {
        Answer::Histories(h) => h,
        other => return Err(super::unexpected("history", &other)),
    };
    if args.json {
        super::print_json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if out.is_empty() {
        eprintln!("buildmail: no build of {} is known", args.source);
        return Ok(ExitCode::FAILURE);
    }
    for (i, b) in out.iter().enumerate() {
        if i > 0 {
            outln!();
        }
        outln!("{} ({}/{}):", b.key.source, b.key.dist, b.key.arch);
        for h in &b.history {
            let from = h.from.map(|s| s.as_str()).unwrap_or("(new)");
            let to = h.to.map(|s| s.as_str()).unwrap_or("-");
            let arrow = if h.from == h.to {
                format!("{to} (unchanged)")
            } else {
                format!("{from} -> {to}")
            };
            outln!(
                "  {}  {:<12} {:<16} {arrow}{}{}",
                super::format_time(h.time),
                h.version,
                h.event,
                h.message_id
                    .as_deref()
                    .map(|m| format!("  <{m}>"))
                    .unwrap_or_default(),
                h.note
                    .as_deref()
                    .map(|n| format!("\n      {n}"))
                    .unwrap_or_default(),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
