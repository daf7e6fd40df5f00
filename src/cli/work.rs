//! `buildmail work`: carry out queued effects now.

use std::process::ExitCode;

use crate::config::Config;
use crate::effects::{explain, worker, StoreAccess};
use crate::time::SystemClock;

/// Options of `work`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print nothing when all went well (for cron and the worker `deliver`
    /// starts).
    #[arg(short, long)]
    pub quiet: bool,
    /// Only explain the failed logs waiting for it (what `import` starts in
    /// the background: no job runs, no mail is sent).
    #[arg(long)]
    pub explanations: bool,
}

/// Runs every queued job (uploads, queue removals, purges), queues due
/// notices and delivers the outbox, with the database released while each
/// effect runs; prints what each did. When another worker is running, it
/// leaves the work to it.
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    if args.explanations {
        let n = explain::run_pending(StoreAccess::Open(&config.database), config, &SystemClock)?;
        if !args.quiet {
            outln!("{n} failed log(s) explained");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(summary) = worker::run_exclusive(config, &SystemClock)? else {
        if !args.quiet {
            outln!("another buildmail worker is running; it carries out the queued work");
        }
        return Ok(ExitCode::SUCCESS);
    };
    for j in &summary.jobs {
        outln!("job {}: {}", j.id, j.outcome);
    }
    if !args.quiet || summary.failed > 0 {
        outln!(
            "{} failed log(s) explained; {} job(s) done; {} notice(s) queued; {} mail(s) delivered, {} left in the outbox after a failed delivery",
            summary.explained,
            summary.jobs.len(),
            summary.notices,
            summary.delivered,
            summary.failed
        );
    }
    Ok(ExitCode::SUCCESS)
}
