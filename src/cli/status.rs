//! `buildmail status`: whether the daemon runs, its queues, the last sync
//! (see [`crate::serve::status`]). Exits 0 when a daemon answered, 3 when
//! none runs (as `systemctl status` does), the rest shown from the
//! database.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::serve::status::{self, Status};
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

/// Asks the daemon on `socket` (`XSTATUS`); `None` when none answers.
fn ask(socket: &Path) -> Option<Status> {
    let stream = UnixStream::connect(socket).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    let mut r = BufReader::new(stream.try_clone().ok()?);
    let mut w = stream;
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    if !line.starts_with("220") {
        return None;
    }
    w.write_all(b"XSTATUS\r\n").ok()?;
    line.clear();
    r.read_line(&mut line).ok()?;
    let _ = w.write_all(b"QUIT\r\n");
    serde_json::from_str(line.strip_prefix("250 ")?.trim_end()).ok()
}

/// Runs `status`.
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let from_daemon = crate::serve::handover::sockets(&config.serve.lmtp)
        .into_iter()
        .find_map(ask);
    let status = match from_daemon {
        Some(s) => s,
        None => {
            let store = crate::store::open(&config.database).context("opening the database")?;
            status::gather(&*store, config)?
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print(&status, config);
    }
    Ok(if status.daemon.is_some() {
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
        None if config.serve.lmtp.is_empty() => {
            println!("daemon:        not configured ([serve] lmtp is empty)")
        }
        None => println!(
            "daemon:        not running (nothing answers on {})",
            config.serve.lmtp.join(", ")
        ),
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
