//! The `buildmail` command line: one module per subcommand.

mod check_config;
mod deliver;
mod forget_signature;
mod history;
mod import;
mod info;
mod list;
mod log;
mod outbox;
mod quarantine;
mod render;
mod work;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, EX_CONFIG};
use crate::store::{Store, StoreError};

/// sysexits.h `EX_TEMPFAIL`: the MTA should retry later.
pub const EX_TEMPFAIL: u8 = 75;

/// buildmail: the mail brain of a Debian-style build farm.
#[derive(Debug, Parser)]
#[command(name = "buildmail", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (default: $BUILDMAIL_CONFIG, else ./buildmail.toml
    /// if it exists, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override `data_dir` (database, quarantine, outbox all live under it).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest one mail from standard input (for .forward / Postfix pipes).
    /// Exits 0 once the mail is durably committed (or quarantined),
    /// 75 (EX_TEMPFAIL) when it could not be, so the MTA retries.
    Deliver(deliver::Args),
    /// Ingest Maildir folders, mbox files, directories of .eml files.
    Import(import::Args),
    /// Show every dist/arch record of a source package.
    Info(info::Args),
    /// List builds, optionally filtered.
    List(list::Args),
    /// Show the history of a source package's builds.
    History(history::Args),
    /// Print an archived build log, byte-exact.
    Log(log::Args),
    /// Inspect mails that could not be processed.
    Quarantine(quarantine::Args),
    /// Clear a signature's replay record on purpose (or `--list` them).
    ForgetSignature(forget_signature::Args),
    /// Print the state diagram (Graphviz dot), generated from the transition table.
    States,
    /// Check the configuration and report problems in plain words.
    CheckConfig,
    /// Carry out queued uploads and deliver the outbox now.
    Work,
    /// The mails waiting to leave: list, flush, retry.
    Outbox(outbox::Args),
    /// Print a mail as buildmail would send it (for template editors).
    Render(render::Args),
}

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("buildmail: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    let config = match cli.data_dir {
        Some(d) => config.with_data_dir(d),
        None => config,
    };
    let result = match cli.command {
        Command::Deliver(a) => return deliver::run(&config, a),
        Command::Import(a) => import::run(&config, a),
        Command::Info(a) => info::run(&config, a),
        Command::List(a) => list::run(&config, a),
        Command::History(a) => history::run(&config, a),
        Command::Log(a) => log::run(&config, a),
        Command::Quarantine(a) => quarantine::run(&config, a),
        Command::ForgetSignature(a) => forget_signature::run(&config, a),
        Command::States => {
            print!("{}", crate::state::diagram_dot());
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => check_config::run(&config),
        Command::Work => work::run(&config),
        Command::Outbox(a) => outbox::run(&config, a),
        Command::Render(a) => render::run(&config, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("buildmail: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BUILDMAIL_LOG")
        // buildlog-consultant warns about every line it does not know; its
        // findings reach the user through the explanation instead.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,buildlog_consultant=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Opens the store for a query or import.
pub(crate) fn open_store(config: &Config) -> Result<Store, StoreError> {
    Store::open(&config.database)
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_time(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Prints a value as pretty JSON on stdout.
pub(crate) fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::format_time;

    #[test]
    fn formats_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_time(1_795_000_000), "2026-11-18 11:06:40 UTC");
    }
}
