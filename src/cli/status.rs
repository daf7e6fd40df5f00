//! `buildmail status`: whether the daemon runs, its queues, the last sync
//! (see [`crate::query::status`]). Exits 0 when a daemon answered, 3 when
//! none runs (as `systemctl status` does), the rest shown from the
//! database (which it never creates); 1 when the running daemon cannot
//! read the database (its own line is shown all the same).

use std::process::ExitCode;

use crate::config::Config;
use crate::hub::{Answer, Query};
use crate::query::status::Status;
use crate::time::format_time;

/// Options of `status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Exit status when no daemon runs (LSB: "program is not running").
const NOT_RUNNING: u8 = 3;

/// Runs `status`.
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let status = match super::hub(config)?.query(Query::Status)? {
        Answer::Status(s) => s,
        other => return Err(super::unexpected("status", &other)),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print(&status, config);
    }
    Ok(if status.database_error.is_some() {
        ExitCode::FAILURE
    } else if status.daemon.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(NOT_RUNNING)
    })
}

fn print(s: &Status, config: &Config) {
    match &s.daemon {
        Some(d) => println!(
            "daemon:        running (pid {}, since {}, {} mails committed; {})",
            d.pid,
            format_time(d.started),
            d.committed,
            d.listening.join(", ")
        ),
        None => println!(
            "daemon:        not running (nothing answers on {})",
            config.serve.control.display()
        ),
    }
    if let Some(p) = s.daemon.as_ref().and_then(|d| d.sync.as_ref()) {
        println!(
            "syncing:       {} ({:?}, {}/{} merged, since {})",
            p.suite,
            p.phase,
            p.done,
            p.total,
            format_time(p.started)
        );
    }
    if let Some(why) = &s.database_error {
        println!("database:      {}: not answering: {why}", s.database);
        return;
    }
    println!("database:      {}", s.database);
    println!(
        "mails:         {} ingested, {} of no known kind, {} quarantined, {} refusals unanswered",
        s.mails, s.unhandled, s.quarantined, s.unanswered
    );
    println!("builds:        {}", s.builds);
    println!(
        "waiting:       {} job(s), {} mail(s) in the outbox ({} dead), {} notice(s), {} explanation(s)",
        s.jobs, s.outbox, s.outbox_dead, s.notices, s.explanations
    );
    for q in &s.needs_build {
        println!("needs-build:   {}/{}: {}", q.dist, q.arch, q.builds);
    }
    for r in &s.releases {
        match (r.date, r.synced) {
            (Some(date), Some(synced)) => println!(
                "last sync:     {}: Release of {}, merged {}",
                r.suite,
                format_time(date),
                format_time(synced)
            ),
            _ => println!("last sync:     {}: never", r.suite),
        }
    }
}
