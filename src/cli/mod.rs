//! The `buildmail` command line: one module per subcommand.

mod builder_ssh;
/// `println!` that never panics: on a closed standard output (`| head`)
/// the line is dropped and the command goes on, its effects unharmed.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `print!` that never panics (see `outln!`).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

mod check_config;
mod completions;
mod deliver;
mod forget_signature;
mod fsck;
mod history;
mod import;
mod info;
mod list;
mod log;
mod logging;
mod man;
mod migrate;
mod outbox;
mod quarantine;
mod render;
mod serve;
mod status;
mod sync;
mod work;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, EX_CONFIG};
use crate::hub::{Hub, HubError, Local};
use crate::serve::client::{self, Connect};

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

/// Options of `check-config`.
#[derive(Debug, clap::Args)]
pub struct CheckConfigArgs {
    /// Print the settings, warnings and verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `states`.
#[derive(Debug, clap::Args)]
pub struct StatesArgs {
    /// The states and edges as JSON instead of Graphviz dot.
    #[arg(long)]
    pub json: bool,
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
    /// Check the database against the log archive and the quarantine
    /// files; `--repair` removes what a killed process left behind.
    Fsck(fsck::Args),
    /// Print the state diagram (Graphviz dot), generated from the transition table.
    States(StatesArgs),
    /// Check the configuration and report problems in plain words.
    CheckConfig(CheckConfigArgs),
    /// Create or upgrade the PostgreSQL database's schema
    /// (`[database] url`); a newer schema is refused.
    Migrate(migrate::Args),
    /// Carry out queued uploads, removals and purges, queue due notices and
    /// deliver the outbox (one worker at a time; from cron for retries).
    Work(work::Args),
    /// The mails waiting to leave: list, flush, retry.
    Outbox(outbox::Args),
    /// Print a mail as buildmail would send it (for template editors).
    Render(render::Args),
    /// Read the archive (InRelease verified, every index checked against
    /// it) and merge it into the builds' states.
    Sync(sync::SyncArgs),
    /// Print the needs-build queue of a suite and architecture, in order.
    Queue(sync::QueueArgs),
    /// Hand the top of the needs-build queue (or a named source) to a
    /// builder: Needs-Build → Building, atomically.
    Take(sync::TakeArgs),
    /// Schedule a binary-only rebuild (+bN) of an Installed build.
    Binnmu(sync::BinNmuArgs),
    /// The command a builder's ssh key is forced to: runs the `take`,
    /// `queue` or `info` in SSH_ORIGINAL_COMMAND, `take` as --builder.
    BuilderSsh(builder_ssh::Args),
    /// Run the daemon: take mail over LMTP, run the effects beside it.
    Serve(serve::Args),
    /// Whether the daemon runs, what waits in the queues, the last sync
    /// (exit 0 when the daemon answered, 3 when none runs).
    Status(status::Args),
    /// Print the manual page buildmail(1), or a subcommand's; `--dir`
    /// writes them all (for packagers; generated from these definitions).
    Man(man::Args),
    /// Print a shell completion script (for packagers; generated from
    /// these definitions).
    Completions(completions::Args),
}

/// Parses the command line and runs it.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    if only_prints(&cli.command) {
        // SAFETY: restoring the default disposition of SIGPIPE before any
        // thread is started; a query then ends on a closed pipe as `cat`
        // does. Commands with effects keep Rust's ignored SIGPIPE, so a
        // dead peer is an error they handle, never a kill mid-way.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // The manual and the completions describe the command line, not a
    // configuration: a broken or missing one must not stop them.
    let command = match cli.command {
        Command::Man(a) => return finish(man::run(a)),
        Command::Completions(a) => return finish(completions::run(a)),
        command => command,
    };
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("buildmail: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    logging::init(Some(&config.log), matches!(command, Command::Serve(_)));
    let config = match cli.data_dir {
        Some(d) => config.with_data_dir(d),
        None => config,
    };
    let result = match command {
        Command::Deliver(a) => return deliver::run(&config, a),
        Command::Import(a) => import::run(&config, a),
        Command::Info(a) => info::run(&config, a),
        Command::List(a) => list::run(&config, a),
        Command::History(a) => history::run(&config, a),
        Command::Log(a) => log::run(&config, a),
        Command::Quarantine(a) => quarantine::run(&config, a),
        Command::ForgetSignature(a) => forget_signature::run(&config, a),
        Command::Fsck(a) => fsck::run(&config, a),
        Command::States(a) => {
            if a.json {
                outln!("{:#}", crate::model::state::diagram_json());
            } else {
                out!("{}", crate::model::state::diagram_dot());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig(a) => check_config::run(&config, a.json),
        Command::Migrate(a) => migrate::run(&config, a),
        Command::Work(a) => work::run(&config, a),
        Command::Outbox(a) => outbox::run(&config, a),
        Command::Render(a) => render::run(&config, a),
        Command::Sync(a) => sync::run_sync(&config, a),
        Command::Queue(a) => sync::run_queue(&config, a),
        Command::Take(a) => sync::run_take(&config, a),
        Command::Binnmu(a) => sync::run_binnmu(&config, a),
        Command::BuilderSsh(a) => builder_ssh::run(&config, a),
        Command::Serve(a) => serve::run(&config, cli.config.as_deref(), a),
        Command::Status(a) => status::run(&config, a),
        Command::Man(a) => man::run(a),
        Command::Completions(a) => completions::run(a),
    };
    finish(result)
}

/// The exit status of a command's result; an error is printed first.
fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("buildmail: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The hub a command goes through: the running daemon, asked over its
/// control socket (`[serve] control`), or — when none runs — the
/// command's own, opening the database itself. A daemon that accepts the
/// connection but does not answer its `hello` within
/// [`client::HELLO_TIMEOUT`] is an error at once: it holds the database,
/// so waiting for it would only wait out `database.lock_timeout`.
pub(crate) fn hub(config: &Config) -> Result<Box<dyn Hub + '_>, HubError> {
    match client::connect(&config.serve.control, client::HELLO_TIMEOUT) {
        Connect::Daemon(remote) => Ok(remote),
        Connect::NoDaemon => Ok(Box::new(Local::new(
            config,
            crate::time::system(),
            global_args(config),
        ))),
        Connect::Unusable(why) => Err(HubError::unavailable(why)),
    }
}

/// The answer a query was not expected to give (a daemon of another
/// version).
pub(crate) fn unexpected(what: &str, answer: &impl std::fmt::Debug) -> anyhow::Error {
    anyhow::anyhow!("unexpected answer to {what}: {answer:?} (is the daemon the same version as this buildmail?)")
}

/// Whether `command` only reads and prints: such a command ends quietly
/// when its reader goes away (`buildmail history hello | head -1`), like
/// any Unix filter, instead of failing on the broken pipe.
fn only_prints(command: &Command) -> bool {
    matches!(
        command,
        Command::Info(_)
            | Command::List(_)
            | Command::History(_)
            | Command::Log(_)
            | Command::States(_)
            | Command::CheckConfig(_)
            | Command::Render(_)
            | Command::Queue(_)
            | Command::Status(_)
            | Command::Man(_)
            | Command::Completions(_)
            | Command::Quarantine(quarantine::Args {
                action: quarantine::Action::List { .. } | quarantine::Action::Show { .. }
            })
            | Command::Outbox(outbox::Args {
                action: outbox::Action::List { .. }
            })
            | Command::ForgetSignature(forget_signature::Args { list: true, .. })
    )
}

/// The global options a child `buildmail` needs to see the same
/// configuration (`--config`, `--data-dir`).
pub(crate) fn global_args(config: &Config) -> Vec<std::ffi::OsString> {
    let mut args = Vec::new();
    if let Some(p) = &config.source {
        args.push("--config".into());
        args.push(p.clone().into_os_string());
    }
    args.push("--data-dir".into());
    args.push(config.data_dir.clone().into_os_string());
    args
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` ([`crate::time::format_time`]).
pub(crate) use crate::time::format_time;

/// `--dist` and `--arch`, shared by the queries that filter builds.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BuildFilter {
    /// Only this distribution.
    #[arg(long)]
    pub dist: Option<String>,
    /// Only this architecture.
    #[arg(long)]
    pub arch: Option<String>,
}

impl BuildFilter {
    /// The filter as the hub takes it.
    pub fn to_query(&self) -> crate::query::Filter {
        crate::query::Filter {
            dist: self.dist.clone(),
            arch: self.arch.clone(),
        }
    }
}

/// Prints a value as pretty JSON on stdout.
pub(crate) fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}
