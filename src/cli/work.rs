//! `buildmail work`: carry out queued effects now.

use std::process::ExitCode;

use crate::config::Config;

/// Runs every queued job (uploads, queue removals, purges) and delivers the
/// outbox; prints what each did. Useful after a crash, or from cron when
/// uploads are left to it.
pub fn run(config: &Config) -> anyhow::Result<ExitCode> {
    let store = super::open_store(config)?;
    let summary = crate::work::run_pending(&store, config)?;
    for j in &summary.jobs {
        println!("job {}: {}", j.id, j.outcome);
    }
    println!(
        "{} job(s) done; {} mail(s) delivered, {} left in the outbox after a failed delivery",
        summary.jobs.len(),
        summary.delivered,
        summary.failed
    );
    Ok(ExitCode::SUCCESS)
}
