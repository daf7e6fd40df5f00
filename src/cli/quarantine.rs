//! `buildmail quarantine list|show|delete|reprocess`.

use std::io::Write;
use std::process::ExitCode;

use crate::config::Config;
use crate::hub::{Answer, Done, Op, Query};

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
    let hub = super::hub(config)?;
    let missing = |id: u64| {
        eprintln!("buildmail: no quarantined mail #{id} (see `buildmail quarantine list`)");
    };
    match args.action {
        Action::List { json } => {
            let entries = match hub.query(Query::Quarantine)? {
                Answer::Quarantine(e) => e,
                other => return Err(super::unexpected("quarantine list", &other)),
            };
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
            let entry = match hub.query(Query::Quarantined { id })? {
                Answer::Quarantined(Some(e)) => e,
                Answer::Quarantined(None) => {
                    missing(id);
                    return Ok(ExitCode::FAILURE);
                }
                other => return Err(super::unexpected("quarantine show", &other)),
            };
            if json {
                super::print_json(&entry)?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
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
                if let Some(b) = &entry.blob {
                    writeln!(out, "Blob: {b}")?;
                }
                if let Some(f) = &entry.raw_file {
                    writeln!(out, "File: {}", f.display())?;
                }
                writeln!(out)?;
            }
            if !hub.copy_quarantined(id, &mut out)? {
                missing(id);
                return Ok(ExitCode::FAILURE);
            }
            out.flush()?;
        }
        Action::Delete { ids } => match hub.apply(Op::QuarantineDelete { ids })? {
            Done::Deleted {
                deleted,
                missing: gone,
            } => {
                for id in deleted {
                    outln!("deleted #{id}");
                }
                for &id in &gone {
                    missing(id);
                }
                if !gone.is_empty() {
                    return Ok(ExitCode::FAILURE);
                }
            }
            other => return Err(super::unexpected("quarantine delete", &other)),
        },
        Action::Reprocess { ids, all } => match hub.apply(Op::QuarantineReprocess { ids, all })? {
            Done::Reprocessed { mails, work } => {
                let mut any_missing = false;
                for (id, outcome) in mails {
                    match outcome {
                        Some(outcome) => outln!("#{id}: {outcome}"),
                        None => {
                            missing(id);
                            any_missing = true;
                        }
                    }
                }
                for j in work.iter().flat_map(|w| &w.jobs) {
                    eprintln!("job {}: {}", j.id, j.outcome);
                }
                if any_missing {
                    return Ok(ExitCode::FAILURE);
                }
            }
            other => return Err(super::unexpected("quarantine reprocess", &other)),
        },
    }
    Ok(ExitCode::SUCCESS)
}
