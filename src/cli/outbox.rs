//! `buildmail outbox`: the mails waiting to leave.

use std::process::ExitCode;

use crate::config::Config;
use crate::effects::outbox::Delivery;
use crate::hub::{Answer, Done, Op, Query};

/// Options of `outbox`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// `outbox` actions.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List the queued mails: live ones with their next attempt, and dead
    /// ones (undelivered past `outbox.max_age`, or refused permanently).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Try to deliver every live mail now, whatever its backoff.
    Flush,
    /// Make mails due again (dead ones included) and deliver them: the
    /// given ids, or every mail with `--all`.
    Retry {
        /// Outbox ids (from `outbox list`).
        ids: Vec<u64>,
        /// Every queued mail.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

/// Runs an `outbox` action.
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let hub = super::hub(config)?;
    match args.action {
        Action::List { json } => {
            let mails = match hub.query(Query::Outbox)? {
                Answer::Outbox(m) => m,
                other => return Err(super::unexpected("outbox list", &other)),
            };
            if json {
                super::print_json(&mails)?;
            } else if mails.is_empty() {
                outln!("the outbox is empty");
            } else {
                for m in mails {
                    outln!(
                        "{:>8}  {:<16} {}  to {}  queued {}  attempts {}{}",
                        m.id,
                        m.kind,
                        if m.dead {
                            "DEAD".to_string()
                        } else {
                            format!("next {}", super::format_time(m.next_attempt))
                        },
                        m.to.join(", "),
                        super::format_time(m.queued),
                        m.attempts,
                        m.last_error
                            .map(|e| format!("\n          last error: {e}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        Action::Flush => match hub.apply(Op::OutboxFlush)? {
            Done::Delivered { delivery, .. } => report(&delivery),
            other => return Err(super::unexpected("outbox flush", &other)),
        },
        Action::Retry { ids, all } => match hub.apply(Op::OutboxRetry { ids, all })? {
            Done::Delivered { unknown, delivery } => {
                for id in &unknown {
                    eprintln!(
                        "buildmail: no mail {id} in the outbox (`buildmail outbox list` shows the ids)"
                    );
                }
                report(&delivery);
                if !unknown.is_empty() {
                    return Ok(ExitCode::FAILURE);
                }
            }
            other => return Err(super::unexpected("outbox retry", &other)),
        },
    }
    Ok(ExitCode::SUCCESS)
}

/// What a delivery run did, in words.
fn report(d: &Delivery) {
    outln!("{}", flush_summary(d));
}

/// What a flush did, in words: a failed mail is retried later, a dead one
/// (refused permanently, or too old) only when revived.
fn flush_summary(d: &Delivery) -> String {
    let mut out = format!("{} delivered", d.delivered);
    let retried = d.failed.saturating_sub(d.dead);
    if retried > 0 {
        out.push_str(&format!(", {retried} failed (kept, retried later)"));
    }
    if d.dead > 0 {
        out.push_str(&format!(
            ", {} dead (refused permanently or undelivered past outbox.max_age; kept, not retried: `buildmail outbox retry ID` sends it again)",
            d.dead
        ));
    }
    out
}
