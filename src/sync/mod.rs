//! `buildmail sync`: the archive side of wanna-build. Reads a suite of an
//! archive in the standard Debian layout, trusting it as apt does, and
//! merges it into the builds' states through the transition table.
//!
//! Two steps, so that the store is held only for the second:
//! * [`read_suite`] (no store): `InRelease` (or `Release` + `Release.gpg`)
//!   verified against `archive.release_keyrings` ([`verify_inrelease`]);
//!   refused when its `Valid-Until` has passed or its `Date` is older than
//!   the Release merged last (a replay); every index (`Sources`,
//!   `Packages`, plain, `.gz` or `.xz`) checked against the size and
//!   SHA256 the Release lists before a byte of it is used, then read as a
//!   stream of paragraphs. Anything wrong refuses the whole suite, before
//!   anything is changed.
//! * [`merge`]: every (source, architecture) through
//!   [`crate::decide::sync::merge`], committed in batches with its history
//!   lines, and the Release recorded last, so an interrupted sync is
//!   simply run again.

pub mod dose;
mod fetch;
mod merge;
mod take;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use crate::debian::release::{self, Release};
use crate::decide::sync::ArchView;
use crate::inbound::archive::{IndexError, SourceEntry};
use crate::inbound::signature::ReleaseSignatureError;
use crate::store::StoreError;

pub use fetch::{read_suite, DOWNLOAD_TIMEOUT, MAX_DOWNLOAD, MAX_RELEASE};
pub use merge::{merge, Progress, BATCH};
pub use take::{binnmu, queue, take, TakeError};

/// Why a suite was not synced. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// `archive.root` is not configured.
    #[error("no archive configured: set archive.root (a local mirror in the Debian layout) and archive.release_keyrings")]
    NoArchive,
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The keyring could not be loaded.
    #[error("archive.release_keyrings: {0}")]
    Keyring(String),
    /// The Release signature is not good.
    #[error("{path}: {source}")]
    Signature {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ReleaseSignatureError,
    },
    /// The Release does not parse.
    #[error("{path}: {source}")]
    Release {
        /// The file.
        path: PathBuf,
        /// Why.
        source: release::ReleaseError,
    },
    /// `Valid-Until` has passed.
    #[error("{path}: the Release expired at {until} (Valid-Until); the mirror is stale or the file replayed: refresh the mirror")]
    Expired {
        /// The file.
        path: PathBuf,
        /// Valid-Until, formatted.
        until: String,
    },
    /// Older than the Release merged last.
    #[error("{path}: the Release is dated {got}, older than the one merged before ({seen}): refused as a replay of an old archive state")]
    Replay {
        /// The file.
        path: PathBuf,
        /// Its date.
        got: String,
        /// The date merged before.
        seen: String,
    },
    /// An index is not listed or not present.
    #[error("{0}")]
    MissingIndex(String),
    /// An index does not match the Release.
    #[error("{path}: {what} does not match the Release ({expected}, found {found}); the mirror is inconsistent or tampered with")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// `size` or `SHA256`.
        what: &'static str,
        /// Listed.
        expected: String,
        /// Found.
        found: String,
    },
    /// An index does not decompress or parse.
    #[error("{path}: {source}")]
    Index {
        /// The file.
        path: PathBuf,
        /// Why.
        source: IndexError,
    },
    /// The Packages-arch-specific file does not parse.
    #[error("{path}: {source}")]
    Pas {
        /// The file.
        path: PathBuf,
        /// Why.
        source: crate::debian::pas::PasError,
    },
    /// dose-builddebcheck failed.
    #[error("dose-builddebcheck: {0}; fix it or remove archive.dose_builddebcheck to use the built-in check")]
    Dose(String),
    /// The merge was stopped between two batches (the daemon is
    /// stopping); the Release was not recorded, so the next sync merges
    /// the suite again.
    #[error("interrupted: the daemon is stopping; the next sync merges this suite again")]
    Interrupted,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A suite read and verified, ready to merge.
pub struct SuiteData {
    /// The suite.
    pub suite: String,
    /// The verified Release.
    pub release: Release,
    /// SHA-256 of the signed Release file.
    pub sha256: String,
    /// The newest version of each source (`Extra-Source-Only` left out).
    pub sources: HashMap<String, SourceEntry>,
    /// Each configured architecture.
    pub views: Vec<ArchView>,
}

/// What [`read_suite`] found.
pub enum Read {
    /// The signed Release is the one merged last: nothing to do.
    Unchanged(String),
    /// A new Release.
    New(Box<SuiteData>),
}

/// What a suite's merge did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SuiteReport {
    /// The suite.
    pub suite: String,
    /// Nothing changed since the last sync (same signed Release).
    pub unchanged: bool,
    /// Sources in the archive.
    pub sources: usize,
    /// Records created.
    pub created: usize,
    /// Records changed.
    pub changed: usize,
    /// How many builds each event moved (`sync:new-version` ...).
    pub events: BTreeMap<String, usize>,
}

impl SuiteReport {
    /// The report of a suite whose signed Release is the one merged last.
    pub fn unchanged(suite: String) -> SuiteReport {
        SuiteReport {
            suite,
            unchanged: true,
            ..SuiteReport::default()
        }
    }
}

/// A sync in progress, as `status` and `sync` show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncProgress {
    /// Which sync (numbered from 1 since the daemon started).
    pub run: u64,
    /// The suite being synced.
    pub suite: String,
    /// What it is doing.
    pub phase: SyncPhase,
    /// Of a merge: (source, architecture) pairs merged so far.
    pub done: usize,
    /// Of a merge: pairs to merge.
    pub total: usize,
    /// When the sync started (Unix seconds).
    pub started: i64,
}

/// What a sync is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncPhase {
    /// Waiting for its turn.
    Waiting,
    /// Reading the archive: the Release verified, the indices checked and
    /// read (no database needed).
    Reading,
    /// Merging, batch by batch.
    Merging,
}

/// A finished sync.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncRun {
    /// Which sync.
    pub run: u64,
    /// When it started (Unix seconds).
    pub started: i64,
    /// When it ended (Unix seconds).
    pub finished: i64,
    /// Each suite, in order.
    pub suites: Vec<SuiteOutcome>,
}

impl SyncRun {
    /// Whether every suite was synced.
    pub fn ok(&self) -> bool {
        self.suites.iter().all(|s| s.error.is_none())
    }
}

/// What became of one suite.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SuiteOutcome {
    /// The suite.
    pub suite: String,
    /// What the merge did (`None`: it failed).
    pub report: Option<SuiteReport>,
    /// Why it was not synced (nothing of it was changed, or the merge was
    /// interrupted between batches and runs again next time).
    pub error: Option<String>,
}

/// The daemon's syncs: the one running, the one waiting, the last ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncState {
    /// The sync in progress.
    pub running: Option<SyncProgress>,
    /// The sync waiting for it.
    pub pending: Option<u64>,
    /// The last syncs, oldest first.
    pub finished: Vec<SyncRun>,
}
