//! `buildmail status`: whether the daemon runs, what waits in its queues,
//! and when the archive was last synced. A running daemon gathers it
//! itself and adds its own part ([`Daemon`]); without a daemon the CLI
//! gathers it from the database.

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::store::{Store, StoreError};

/// Everything `status` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The running daemon; `None` when none answered.
    pub daemon: Option<Daemon>,
    /// The database, in words.
    pub database: String,
    /// Why the running daemon could not read the database (PostgreSQL
    /// down, say); the counts below are then all 0. The daemon's own part
    /// is still there: it runs, and defers mail until the database
    /// answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_error: Option<String>,
    /// Ingested mails (dedup records).
    pub mails: usize,
    /// Builds known.
    pub builds: usize,
    /// Mails of no known kind, kept.
    pub unhandled: usize,
    /// Mails in the quarantine.
    pub quarantined: usize,
    /// Refused replies that nobody was told of (strangers, limits).
    pub unanswered: u64,
    /// Jobs waiting or running (uploads, queue removals, purges).
    pub jobs: usize,
    /// Mails in the outbox (waiting, being retried, or dead).
    pub outbox: usize,
    /// Of those, given up (past `outbox.max_age`): `buildmail outbox`.
    pub outbox_dead: usize,
    /// Build-failure notices waiting for their quiet period.
    pub notices: usize,
    /// Failed logs waiting for their explanation.
    pub explanations: usize,
    /// The needs-build queue, by suite and architecture.
    pub needs_build: Vec<QueueLength>,
    /// The last sync of each configured suite.
    pub releases: Vec<ReleaseStatus>,
}

/// The daemon that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Daemon {
    /// Its process id.
    pub pid: u32,
    /// When it started (Unix seconds).
    pub started: i64,
    /// Mails it committed since.
    pub committed: u64,
    /// Where it listens.
    pub listening: Vec<String>,
    /// The archive sync it is running.
    #[serde(default)]
    pub sync: Option<crate::sync::SyncProgress>,
}

/// The length of one needs-build queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueLength {
    /// The suite.
    pub dist: String,
    /// The architecture.
    pub arch: String,
    /// Builds waiting.
    pub builds: usize,
}

/// The last Release of a suite that `sync` merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseStatus {
    /// The suite.
    pub suite: String,
    /// The Release's `Date:` (Unix seconds); `None`: never synced.
    pub date: Option<i64>,
    /// When it was merged (Unix seconds).
    pub synced: Option<i64>,
}

/// Gathers the status from `store` (no daemon part).
pub fn gather(store: &dyn Store, config: &Config) -> Result<Status, StoreError> {
    let stats = store.stats()?;
    let outbox = store.outbox_mails()?;
    let mut needs_build = Vec::new();
    let mut releases = Vec::new();
    if config.archive.root.is_some() {
        for suite in &config.archive.suites {
            for arch in &config.archive.architectures {
                needs_build.push(QueueLength {
                    dist: suite.clone(),
                    arch: arch.clone(),
                    builds: store.queue_len(suite, arch)?,
                });
            }
            let seen = store.release_seen(suite)?;
            releases.push(ReleaseStatus {
                suite: suite.clone(),
                date: seen.as_ref().map(|r| r.date),
                synced: seen.as_ref().map(|r| r.synced),
            });
        }
    }
    Ok(Status {
        daemon: None,
        database: store.describe(),
        database_error: None,
        mails: stats.mails,
        builds: stats.builds,
        unhandled: stats.unhandled,
        quarantined: store.quarantined()?.len(),
        unanswered: stats.unanswered,
        jobs: stats.jobs,
        outbox: outbox.len(),
        outbox_dead: outbox.iter().filter(|m| m.dead).count(),
        notices: store.pending_notices()?.len(),
        explanations: store.explain_queue(usize::MAX)?.len(),
        needs_build,
        releases,
    })
}
