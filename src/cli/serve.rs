//! `buildmail serve`: the daemon (see [`crate::serve`]).

use std::process::ExitCode;

use crate::config::Config;
use crate::serve::{self, Listen};

/// Options of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to take LMTP: `unix:/path/to/socket` or `tcp:host:port`
    /// (repeatable; default: `[serve] lmtp` of the configuration).
    #[arg(long, value_name = "ADDRESS")]
    pub lmtp: Vec<String>,
}

/// Runs the daemon until SIGTERM or SIGINT; SIGHUP reloads the
/// configuration from `config_path` (`--config`).
pub fn run(
    config: &Config,
    config_path: Option<&std::path::Path>,
    args: Args,
) -> anyhow::Result<ExitCode> {
    let addresses = if args.lmtp.is_empty() {
        config.serve.lmtp.clone()
    } else {
        args.lmtp
    };
    let listen = addresses
        .iter()
        .map(|a| Listen::parse(a).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Which configuration runs, first thing in the journal: a unit that
    // names none runs on the built-in defaults.
    tracing::info!(
        "serve: configuration {}; database {}",
        config
            .source
            .as_ref()
            .map_or("built-in defaults (no file)".to_string(), |p| p
                .display()
                .to_string()),
        config.database.describe()
    );
    serve::run(
        config.clone(),
        config_path.map(std::path::Path::to_path_buf),
        listen,
    )?;
    Ok(ExitCode::SUCCESS)
}
