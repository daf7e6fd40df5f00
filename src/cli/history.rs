//! `buildmail history <src>`.

use std::process::ExitCode;

use crate::config::Config;
use crate::hub::{Answer, Query};
use crate::model::{BuildKey, HistoryEntry};

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
        print_history(&b.key, &b.history);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints one build's history: a line per event (time, version, event,
/// from → to, Message-ID) in columns as wide as this build's longest
/// value, and the event's note under it, every line of it indented.
pub fn print_history(key: &BuildKey, history: &[HistoryEntry]) {
    outln!("{} ({}/{}):", key.source, key.dist, key.arch);
    let wv = history.iter().map(|h| h.version.len()).max().unwrap_or(0);
    let we = history.iter().map(|h| h.event.len()).max().unwrap_or(0);
    let arrows: Vec<String> = history
        .iter()
        .map(|h| {
            let from = h.from.map(|s| s.as_str()).unwrap_or("(new)");
            let to = h.to.map(|s| s.as_str()).unwrap_or("-");
            if h.from == h.to {
                format!("{to} (unchanged)")
            } else {
                format!("{from} -> {to}")
            }
        })
        .collect();
    let wa = arrows.iter().map(String::len).max().unwrap_or(0);
    for (h, arrow) in history.iter().zip(&arrows) {
        let line = format!(
            "  {}  {:wv$}  {:we$}  {arrow:wa$}{}",
            super::format_time(h.time),
            h.version,
            h.event,
            h.message_id
                .as_deref()
                .map(|m| format!("  <{m}>"))
                .unwrap_or_default(),
        );
        outln!("{}", line.trim_end());
        for l in h.note.iter().flat_map(|n| n.lines()) {
            outln!("      {l}");
        }
    }
}
