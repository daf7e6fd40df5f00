//! `buildmail builder-ssh --builder NAME`: the command a builder's ssh key
//! is forced to on the daemon's host (`command="..."` in
//! `authorized_keys`), as wanna-build's buildds reach it. The builder
//! asks for work with `ssh buildmail@host take --suite S --arch A
//! [--json]`; sshd hands that line over in `SSH_ORIGINAL_COMMAND`, and
//! only `take` (as NAME, never as another builder), `queue` and `info`
//! are run.

use std::process::ExitCode;

use clap::Parser;

use crate::config::Config;

/// Options of `builder-ssh`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The builder this ssh key belongs to: every `take` is made as it.
    #[arg(long)]
    pub builder: String,
}

/// What a builder may ask over ssh.
#[derive(Debug, Parser)]
#[command(
    name = "buildmail",
    no_binary_name = true,
    disable_help_subcommand = true
)]
enum Asked {
    /// Take the top of the queue (or SRC), as the key's builder.
    Take {
        /// The suite.
        #[arg(long)]
        suite: String,
        /// The architecture.
        #[arg(long)]
        arch: String,
        /// The builder (must be the key's own, when given).
        #[arg(long)]
        builder: Option<String>,
        /// Take this source instead of the top of the queue.
        source: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The needs-build queue.
    Queue(super::sync::QueueArgs),
    /// A source's records.
    Info(super::info::Args),
}

/// Runs what `SSH_ORIGINAL_COMMAND` asks, if a builder may ask it.
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let line = std::env::var("SSH_ORIGINAL_COMMAND").unwrap_or_default();
    let mut words = shlex::split(&line)
        .ok_or_else(|| anyhow::anyhow!("cannot read the command {line:?}: unbalanced quotes"))?;
    // `ssh host buildmail take ...` and `ssh host take ...` alike.
    if words.first().is_some_and(|w| w == "buildmail") {
        words.remove(0);
    }
    if words.is_empty() {
        anyhow::bail!(
            "no command: this key may run `take --suite S --arch A [SRC] [--json]`, `queue --suite S --arch A [--json]` or `info SRC [--json]`"
        );
    }
    let asked = match Asked::try_parse_from(&words) {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "buildmail: {line:?} is not a command this key may run ({})",
                e.kind()
            );
            eprint!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    match asked {
        Asked::Take {
            suite,
            arch,
            builder,
            source,
            json,
        } => {
            if builder.as_ref().is_some_and(|b| *b != args.builder) {
                eprintln!(
                    "buildmail: this key belongs to {}; it takes builds as {} only",
                    args.builder, args.builder
                );
                return Ok(ExitCode::FAILURE);
            }
            super::sync::run_take(
                config,
                super::sync::TakeArgs {
                    suite,
                    arch,
                    builder: args.builder,
                    source,
                    json,
                },
            )
        }
        Asked::Queue(q) => super::sync::run_queue(config, q),
        Asked::Info(i) => super::info::run(config, i),
    }
}
