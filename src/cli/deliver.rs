//! `buildmail deliver`: one mail on standard input.

use std::process::ExitCode;

use crate::config::Config;
use crate::hub::{ErrorKind, Hub, HubError, Local, MailMode};
use crate::inbound::source;
use crate::serve::client::{self, Connect};

use super::EX_TEMPFAIL;

/// Options of `deliver`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Say what happened to the mail on standard error.
    #[arg(short, long)]
    pub verbose: bool,
}

/// Reads one mail (a mail over `limits.max_message_size` goes to a file as
/// it is read) and hands it to the running daemon over its control socket,
/// or — when none runs — prepares it, opens the database only to commit
/// it durably, releases the database and, if the mail queued an effect,
/// starts a detached `buildmail work`. Exit 0 when committed (also when
/// quarantined or a duplicate), 75 when it could not be (the MTA retries;
/// also at once when a daemon accepts the connection but does not answer),
/// 78 when the data directory cannot be used until an operator acts.
pub fn run(config: &Config, args: Args) -> ExitCode {
    let spill = config.quarantine_dir();
    let raw = match source::read_stream(
        std::io::stdin().lock(),
        config.limits.max_message_size,
        &spill,
    ) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("buildmail deliver: cannot read the mail from standard input: {e}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    let (by, answer) = match client::connect(&config.serve.control, client::HELLO_TIMEOUT) {
        Connect::Daemon(remote) => (
            format!("handed to {}: ", remote.describe()),
            remote.submit(raw, MailMode::Deliver),
        ),
        Connect::NoDaemon => (
            String::new(),
            Local::new(config, crate::time::system(), super::global_args(config))
                .submit(raw, MailMode::Deliver),
        ),
        Connect::Unusable(why) => (String::new(), Err(HubError::unavailable(why))),
    };
    match answer {
        Ok(a) => {
            // What happened to the mail, whoever committed it.
            if args.verbose {
                eprintln!("buildmail: {by}{}", a.said);
            }
            ExitCode::SUCCESS
        }
        Err(e) => unusable_or_retry(&e),
    }
}

/// The exit status for a mail that was not committed: 78 (`EX_CONFIG`)
/// when the data directory or database cannot be used until an operator
/// acts (the MTA then bounces instead of retrying for days into the same
/// wall), else 75 (`EX_TEMPFAIL`, the MTA retries).
fn unusable_or_retry(e: &HubError) -> ExitCode {
    if e.kind == ErrorKind::Permanent {
        eprintln!(
            "buildmail deliver: {e}; fix the data directory (data_dir, database.path, database.log_archive) and its permissions, or the database database.url names"
        );
        ExitCode::from(crate::config::EX_CONFIG)
    } else {
        eprintln!("buildmail deliver: the mail was not committed, the MTA should retry: {e}");
        ExitCode::from(EX_TEMPFAIL)
    }
}
