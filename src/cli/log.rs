//! `buildmail log <src>[_<ver>]`: print an archived build log, byte-exact.

use std::io::Write;
use std::process::ExitCode;

use crate::config::Config;
use crate::hub::{Answer, Query};

/// Options of `log`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `src` or `src_version` (the version may keep its epoch).
    #[arg(value_name = "SRC[_VER]")]
    pub package: String,
    /// Which distributions and architectures.
    #[command(flatten)]
    pub filter: super::BuildFilter,
    /// List the matching archived logs as JSON instead of printing one.
    #[arg(long)]
    pub json: bool,
}

/// Prints the newest archived log that matches.
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let (source, version) = match args.package.split_once('_') {
        Some((s, v)) => (s, Some(v)),
        None => (args.package.as_str(), None),
    };
    let hub = super::hub(config)?;
    let q = Query::Logs {
        source: source.to_string(),
        version: version.map(str::to_string),
        filter: args.filter.to_query(),
    };
    let logs = match hub.query(q)? {
        Answer::Logs(l) => l,
        other => return Err(super::unexpected("log", &other)),
    };
    if args.json {
        super::print_json(&logs)?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(newest) = logs.last() else {
        eprintln!("buildmail: no archived log matches {}", args.package);
        return Ok(ExitCode::FAILURE);
    };
    let others: std::collections::BTreeSet<_> = logs
        .iter()
        .filter(|l| l.key != newest.key || l.version != newest.version)
        .map(|l| format!("{} {}", l.key, l.version))
        .collect();
    if !others.is_empty() {
        eprintln!(
            "buildmail: printing the newest log ({} {}); also archived: {} (narrow with _VERSION, --dist, --arch)",
            newest.key,
            newest.version,
            others.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    hub.copy_log(&newest.id, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
