//! `buildmail deliver`: one mail on standard input.

use std::process::ExitCode;

use crate::config::Config;
use crate::effects::worker;
use crate::inbound::source;
use crate::inbound::source::RawMail;
use crate::ingest::{Ingest, Outcome, Preparer};
use crate::time::{Clock, SystemClock};

use super::EX_TEMPFAIL;

/// Options of `deliver`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Say what happened to the mail on standard error.
    #[arg(short, long)]
    pub verbose: bool,
}

/// Reads and prepares one mail, then opens the database only to commit it
/// durably, then releases the database
/// and, if the mail queued an effect (an upload, a mail to send), starts a
/// detached `buildmail work`. Exit 0 when committed (also when quarantined
/// or a duplicate), 75 when it could not be.
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
    // A running daemon owns the database: hand the mail to it.
    if let RawMail::Bytes(bytes) = &raw {
        for socket in crate::serve::handover::sockets(&config.serve.lmtp) {
            match crate::serve::handover::hand_over(socket, bytes) {
                Ok(crate::serve::handover::Answer::Committed(said)) => {
                    if args.verbose {
                        outln!("handed to buildmail serve: {said}");
                    }
                    return ExitCode::SUCCESS;
                }
                Ok(crate::serve::handover::Answer::NotCommitted(said)) => {
                    eprintln!(
                        "buildmail deliver: buildmail serve did not commit the mail, the MTA should retry: {said}"
                    );
                    return ExitCode::from(EX_TEMPFAIL);
                }
                // No daemon there: deliver it here.
                Err(_) => {}
            }
        }
    }
    // Parsing, checking signatures and archiving the log need
    // no database: done before the store is opened, so the lock is held
    // only for the commit.
    let preparer = Preparer::new(config);
    let prepared = match preparer.prepare(&raw) {
        Ok(p) => p,
        Err(e) => return unusable_or_retry("could not prepare the mail", &e),
    };
    let store = match super::open_store(config) {
        Ok(s) => s,
        Err(e) => return unusable_or_retry("could not open the database", &e),
    };
    let outcome = match Ingest::with_preparer(&*store, preparer)
        .commit(&raw, &prepared)
        .and_then(|o| store.flush().map(|_| o))
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("buildmail deliver: could not commit the mail, the MTA should retry: {e}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    // The mail is committed and acknowledged whatever happens next. Its
    // effects run in a worker of their own, never inside the MTA's pipe
    // and never while this process holds the database.
    let due = worker::has_due_work(&*store, config, SystemClock.now());
    drop(store);
    match due {
        Ok(true) => {
            if let Err(e) =
                worker::spawn_detached(&super::global_args(config), &config.database.path, &[])
            {
                eprintln!(
                    "buildmail deliver: could not start the worker ({e}); the queued work waits for `buildmail work`"
                );
            }
        }
        Ok(false) => {}
        Err(e) => eprintln!("buildmail deliver: queued work left for `buildmail work`: {e}"),
    }
    if args.verbose {
        say(&outcome);
    }
    ExitCode::SUCCESS
}

/// What happened to the mail, on standard error.
fn say(outcome: &Outcome) {
    eprintln!("buildmail: {outcome}");
}

/// The exit status for a store error before the mail was committed: 78
/// (`EX_CONFIG`) when the data directory or database cannot be used until
/// an operator acts (the MTA then bounces instead of retrying for days
/// into the same wall), else 75 (`EX_TEMPFAIL`, the MTA retries).
fn unusable_or_retry(what: &str, e: &crate::store::StoreError) -> ExitCode {
    if e.is_permanent() {
        eprintln!(
            "buildmail deliver: {what}: {e}; fix the data directory (data_dir, database.path, database.log_archive) and its permissions"
        );
        ExitCode::from(crate::config::EX_CONFIG)
    } else {
        eprintln!("buildmail deliver: {what}, the MTA should retry: {e}");
        ExitCode::from(EX_TEMPFAIL)
    }
}
