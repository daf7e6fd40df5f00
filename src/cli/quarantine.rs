//! `buildmail quarantine list|show|delete|reprocess`.

use std::io::Write;
use std::process::ExitCode;

use crate::config::Config;
use crate::effects::worker;
use crate::ingest::Ingest;
use crate::time::SystemClock;

/// Options of `quarantine`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// Quarantine actions.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List quarantined mails with their reasons.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one quarantined mail: its reason, then the raw mail.
    Show {
        /// The quarantine id (from `quarantine list`).
        id: u64,
        /// Print only the raw mail, byte-exact.
        #[arg(long)]
        raw: bool,
        /// Print the entry as JSON (without the raw mail).
        #[arg(long)]
        json: bool,
    },
    /// Delete quarantined mails for good. The same mail delivered again is
    /// still recognised as a duplicate.
    Delete {
        /// Quarantine ids (from `quarantine list`).
        #[arg(required = true)]
        ids: Vec<u64>,
    },
    /// Process quarantined mails again, as if they had just arrived (after
    /// fixing the cause: a keyring, a limit, a newer buildmail). A mail
    /// that still cannot be processed is quarantined again, under a new
    /// id; what the mails ask for is carried out.
    Reprocess {
        /// Quarantine ids (from `quarantine list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        ids: Vec<u64>,
        /// Every quarantined mail.
        #[arg(long)]
        all: bool,
    },
}

/// Runs a quarantine action.
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let store = super::open_existing_store(config)?;
    match args.action {
        Action::List { json } => {
            let entries = store.quarantined()?;
            if json {
                super::print_json(&entries)?;
            } else if entries.is_empty() {
                outln!("the quarantine is empty");
            } else {
                for e in entries {
                    outln!(
                        "#{:<5} {}  {:>9} bytes  {}\n       {}",
                        e.id,
                        super::format_time(e.time),
                        e.size,
                        e.subject.as_deref().unwrap_or("(no subject)"),
                        e.reason
                    );
                }
            }
        }
        Action::Show { id, raw, json } => {
            let Some((entry, bytes)) = store.quarantined_mail(id)? else {
                eprintln!("buildmail: no quarantined mail #{id} (see `buildmail quarantine list`)");
                return Ok(ExitCode::FAILURE);
            };
            if json {
                super::print_json(&entry)?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut out = std::io::stdout().lock();
            if !raw {
                writeln!(out, "Id: {}", entry.id)?;
                writeln!(out, "Time: {}", super::format_time(entry.time))?;
                writeln!(out, "Reason: {}", entry.reason)?;
                writeln!(out, "Subject: {}", entry.subject.as_deref().unwrap_or("-"))?;
                writeln!(out, "From: {}", entry.from.as_deref().unwrap_or("-"))?;
                writeln!(
                    out,
                    "Message-Id: {}",
                    entry.message_id.as_deref().unwrap_or("-")
                )?;
                writeln!(out, "Size: {}", entry.size)?;
                writeln!(out, "SHA-256: {}", entry.sha256)?;
                if let Some(f) = &entry.raw_file {
                    writeln!(out, "File: {}", f.display())?;
                }
                writeln!(out)?;
            }
            out.write_all(&bytes)?;
            out.flush()?;
        }
        Action::Delete { ids } => {
            let mut missing = false;
            let mut files = Vec::new();
            for id in ids {
                match store.delete_quarantined(id)? {
                    Some(e) => {
                        outln!("deleted #{id}");
                        files.extend(e.raw_file);
                    }
                    None => {
                        eprintln!("buildmail: no quarantined mail #{id} (see `buildmail quarantine list`)");
                        missing = true;
                    }
                }
            }
            store.flush()?;
            for f in files {
                if let Err(e) = std::fs::remove_file(&f) {
                    eprintln!("buildmail: could not remove {}: {e}", f.display());
                }
            }
            if missing {
                return Ok(ExitCode::FAILURE);
            }
        }
        Action::Reprocess { ids, all } => {
            let ids = if all {
                store.quarantined()?.iter().map(|e| e.id).collect()
            } else {
                ids
            };
            let ingest = Ingest::new(&*store, config);
            let mut missing = false;
            for id in ids {
                match ingest.reprocess(id)? {
                    Some(outcome) => outln!("#{id}: {outcome}"),
                    None => {
                        eprintln!("buildmail: no quarantined mail #{id} (see `buildmail quarantine list`)");
                        missing = true;
                    }
                }
            }
            // What the mails asked for, with the store released.
            drop(ingest);
            drop(store);
            if let Some(work) = worker::run_exclusive(config, &SystemClock)? {
                for j in &work.jobs {
                    eprintln!("job {}: {}", j.id, j.outcome);
                }
            }
            if missing {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
