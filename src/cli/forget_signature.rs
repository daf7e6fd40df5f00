//! `buildmail forget-signature`: let an admin clear a replay record on
//! purpose, so a signed mail may be processed once more.

use std::process::ExitCode;

use crate::config::Config;

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
    let store = super::open_existing_store(config)?;
    if args.list {
        let uses = store.signature_uses()?;
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
    let sha = args.sha256.unwrap_or_default();
    if sha.len() < 8 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        eprintln!("buildmail: give at least 8 hex digits of the signed bytes' SHA-256 (see `buildmail forget-signature --list`)");
        return Ok(ExitCode::FAILURE);
    }
    let removed = store.forget_signature(&sha)?;
    store.flush()?;
    if removed.is_empty() {
        eprintln!("buildmail: no recorded signature matches {sha}");
        return Ok(ExitCode::FAILURE);
    }
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
