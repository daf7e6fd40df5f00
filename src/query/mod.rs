//! Views: what the commands and pages show, read from the store and
//! returned as serde values. They only read (no lock, no commit), so a
//! daemon answers them beside its commits; the CLI renders them, whether
//! it asked a running daemon or opened the store itself — one source for
//! both, so the output is the same.

pub mod fsck;
pub mod pages;
pub mod status;

use serde::{Deserialize, Serialize};

use crate::config::{ArchiveConfig, Config};
use crate::model::state::State;
use crate::model::{
    BuildKey, BuildRecord, HistoryEntry, LogRef, OutboundMail, QuarantineEntry, SignatureUse,
};
use crate::store::{Store, StoreError};

/// Which distributions and architectures a view covers (`--dist`,
/// `--arch`); `None`: all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Only this distribution.
    #[serde(default)]
    pub dist: Option<String>,
    /// Only this architecture.
    #[serde(default)]
    pub arch: Option<String>,
}

impl Filter {
    /// Whether the build `key` passes the filter.
    pub fn matches(&self, key: &BuildKey) -> bool {
        self.dist.as_ref().is_none_or(|d| *d == key.dist)
            && self.arch.as_ref().is_none_or(|a| *a == key.arch)
    }
}

/// Every record of `source` that passes `filter`, ordered by dist and
/// arch (`info`).
pub fn info(
    store: &dyn Store,
    source: &str,
    filter: &Filter,
) -> Result<Vec<BuildRecord>, StoreError> {
    Ok(store
        .builds_of(source)?
        .into_iter()
        .filter(|r| filter.matches(&r.key))
        .collect())
}

/// Every build in `state` (all: `None`) that passes `filter`, ordered by
/// source, dist, arch (`list`).
pub fn list(
    store: &dyn Store,
    state: Option<State>,
    filter: &Filter,
) -> Result<Vec<BuildRecord>, StoreError> {
    let mut out = Vec::new();
    for r in store.all_builds() {
        let r = r?;
        if state.is_none_or(|s| s == r.state) && filter.matches(&r.key) {
            out.push(r);
        }
    }
    Ok(out)
}

/// One build's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildHistory {
    /// The build.
    pub key: BuildKey,
    /// Its transitions, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// The history of every build of `source` that passes `filter`
/// (`history`).
pub fn history(
    store: &dyn Store,
    source: &str,
    filter: &Filter,
) -> Result<Vec<BuildHistory>, StoreError> {
    let mut out = Vec::new();
    for r in store.builds_of(source)? {
        if filter.matches(&r.key) {
            let history = store.history(&r.key)?;
            out.push(BuildHistory {
                key: r.key,
                history,
            });
        }
    }
    Ok(out)
}

/// The archived logs of `source` (of `version` when given) that pass
/// `filter`, oldest first (`log`).
pub fn logs(
    store: &dyn Store,
    source: &str,
    version: Option<&str>,
    filter: &Filter,
) -> Result<Vec<LogRef>, StoreError> {
    Ok(store
        .logs_of(source)?
        .into_iter()
        .filter(|l| version.is_none_or(|v| v == l.version) && filter.matches(&l.key))
        .collect())
}

/// One line of the needs-build queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// 1 for the top of the queue.
    pub position: usize,
    /// The source package.
    pub source: String,
    /// The version to build.
    pub version: String,
    /// The suite.
    pub suite: String,
    /// The architecture.
    pub arch: String,
    /// Why it stands where it does.
    pub why: String,
}

/// The needs-build queue of `suite`/`arch` in order, each line with its
/// why (`queue`).
pub fn queue(
    store: &dyn Store,
    archive: &ArchiveConfig,
    suite: &str,
    arch: &str,
) -> Result<Vec<QueueEntry>, StoreError> {
    Ok(crate::sync::queue(store, archive, suite, arch)?
        .iter()
        .enumerate()
        .map(|(i, r)| QueueEntry {
            position: i + 1,
            source: r.key.source.clone(),
            version: r.version.clone(),
            suite: r.key.dist.clone(),
            arch: r.key.arch.clone(),
            why: crate::decide::queue::why(r),
        })
        .collect())
}

/// The outbox, oldest first (`outbox list`).
pub fn outbox(store: &dyn Store) -> Result<Vec<OutboundMail>, StoreError> {
    store.outbox_mails()
}

/// The quarantine, oldest first (`quarantine list`).
pub fn quarantine(store: &dyn Store) -> Result<Vec<QuarantineEntry>, StoreError> {
    store.quarantined()
}

/// One quarantined mail's entry (`quarantine show`); its bytes are read
/// separately, as a stream.
pub fn quarantined(store: &dyn Store, id: u64) -> Result<Option<QuarantineEntry>, StoreError> {
    Ok(store.quarantined()?.into_iter().find(|q| q.id == id))
}

/// The replay records of every signature (`forget-signature --list`).
pub fn signatures(store: &dyn Store) -> Result<Vec<SignatureUse>, StoreError> {
    store.signature_uses()
}

/// The status without the daemon's part (`status`).
pub fn status(store: &dyn Store, config: &Config) -> Result<status::Status, StoreError> {
    status::gather(store, config)
}
