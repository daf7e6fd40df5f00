//! `buildmail work`: carry out queued effects now.

use std::process::ExitCode;

use crate::config::Config;
use crate::hub::{Done, Op};

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
/// leaves the work to it. With a daemon running, the daemon runs the
/// round now (its effects task runs them anyway after every commit and
/// every minute).
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let hub = super::hub(config)?;
    let op = Op::Work {
        explanations: args.explanations,
    };
    let summary = match hub.apply(op)? {
        Done::Worked(s) => s,
        other => return Err(super::unexpected("work", &other)),
    };
    if args.explanations {
        if !args.quiet {
            outln!(
                "{} failed log(s) explained",
                summary.map_or(0, |s| s.explained)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(summary) = summary else {
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
