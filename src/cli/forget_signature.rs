//! `buildmail forget-signature`: let an admin clear a replay record on
//! purpose, so a signed mail may be processed once more.

use std::process::ExitCode;

use crate::config::Config;
use crate::hub::{Answer, Done, ErrorKind, Op, Query};

/// Options of `forget-signature`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SHA-256 of the signed bytes (at least 8 hex digits), as
    /// `--list` and the refusal message show it.
    #[arg(required_unless_present = "list")]
    pub sha256: Option<String>,
    /// List the recorded signatures instead.
    #[arg(long)]
    pub list: bool,
    /// Print JSON (with `--list`).
    #[arg(long)]
    pub json: bool,
}

/// Lists or forgets recorded signatures.
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let hub = super::hub(config)?;
    if args.list {
        let uses = match hub.query(Query::Signatures)? {
            Answer::Signatures(u) => u,
            other => return Err(super::unexpected("forget-signature --list", &other)),
        };
        if args.json {
            super::print_json(&uses)?;
        } else if uses.is_empty() {
            outln!("no signature has been recorded");
        } else {
            for u in uses {
                outln!(
                    "{}  {}  signed {}  first seen {}\n    {}",
                    u.signed_sha256,
                    u.fingerprint,
                    super::format_time(u.created),
                    super::format_time(u.first_seen),
                    u.outcome
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let sha256 = args.sha256.unwrap_or_default();
    let removed = match hub.apply(Op::ForgetSignature { sha256 }) {
        Ok(Done::Forgot(r)) => r,
        Ok(other) => return Err(super::unexpected("forget-signature", &other)),
        Err(e) if e.kind == ErrorKind::Refused => {
            eprintln!("buildmail: {e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    for u in removed {
        outln!(
            "forgot the signature by {} made {} (first seen {})",
            u.fingerprint,
            super::format_time(u.created),
            super::format_time(u.first_seen)
        );
    }
    Ok(ExitCode::SUCCESS)
}
