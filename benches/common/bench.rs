//! Small helpers the benches share (`#[path]`-included beside the tests'
//! `support` module, which [`log_mail`] uses): settings from the
//! environment, the machine's load, percentiles, disk use, and the plain
//! sbuild log mail most benches send.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support;
use crate::support::logs::{sbuild_log, LogSpec};

/// `buildmail --config config args…`, with none of the environment that
/// would change what it reads or logs.
pub fn buildmail(config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_buildmail"));
    c.arg("--config").arg(config).args(args);
    c.env_remove("BUILDMAIL_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("BUILDMAIL_LOG");
    c
}

/// The number in environment variable `name`, else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them:
/// every figure a bench prints is read beside the machine's load.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The `p`th percentile of `sorted`, in milliseconds.
pub fn pct(sorted: &[Duration], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// The bytes of the files below `path`.
pub fn du(path: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(path) {
        for e in rd.flatten() {
            let p = e.path();
            n += if p.is_dir() {
                du(&p)
            } else {
                e.metadata().map_or(0, |m| m.len())
            };
        }
    }
    n
}

/// A plain (not MIME) sbuild log mail of `source` 1.0-1 on amd64 in
/// unstable with `status`, `filler` extra log lines and Message-ID `id`.
pub fn log_mail(source: &str, status: &str, filler: usize, id: &str) -> Vec<u8> {
    let mut spec = LogSpec::new(source, "1.0-1", "amd64", "unstable", status);
    spec.filler_lines = filler;
    let subject = support::sbuild_subject(status, source, "1.0-1", "amd64", "unstable");
    support::with_message_id(&support::log_mail_plain(&subject, &sbuild_log(&spec)), id)
}
