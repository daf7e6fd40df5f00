//! The writes commands make, shared by the daemon's [`super::Core`] and a
//! command's [`super::Local`]: each is a read → decide → commit run by
//! its caller under the store's discipline (the daemon's gate, or the
//! database lock of a command that opened it), never flushed here.

use serde::{Deserialize, Serialize};

use super::HubError;
use crate::config::Config;
use crate::debian::version;
use crate::model::{BuildKey, BuildRecord, SignatureUse};
use crate::store::Store;
use crate::sync::TakeError;

/// The program a taken build's command line runs.
pub const SBUILD: &str = "sbuild";

/// A build handed to a builder by `take`: what it is, and everything
/// sbuild needs to build it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taken {
    /// The source package.
    pub source: String,
    /// The version built (with its `+bN` for a binNMU): the version the
    /// build's log mail names.
    pub version: String,
    /// The source version sbuild fetches (without `+bN`).
    pub source_version: String,
    /// The suite.
    pub suite: String,
    /// The architecture.
    pub arch: String,
    /// The builder it was handed to.
    pub builder: String,
    /// For a binNMU, what sbuild needs to make it.
    pub binnmu: Option<BinNmuJob>,
    /// The sbuild command line, one argument per element.
    pub sbuild: Vec<String>,
}

/// A binNMU as sbuild makes it (`--binNMU`, `--make-binNMU`,
/// `--maintainer`, `--binNMU-timestamp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinNmuJob {
    /// N of `+bN`.
    pub number: u32,
    /// The changelog entry.
    pub message: String,
    /// Who signs the binNMU's changelog entry (`archive.binnmu_maintainer`).
    pub maintainer: String,
    /// When it was scheduled (Unix seconds), the changelog entry's date:
    /// every builder that builds it writes the same changelog.
    pub timestamp: i64,
}

impl Taken {
    /// The job for `record`, just taken by `builder`.
    pub fn of(record: &BuildRecord, builder: &str, config: &Config) -> Taken {
        let (source_version, _) = version::split_binnmu(&record.version);
        let binnmu = record.binnmu.as_ref().map(|b| BinNmuJob {
            number: b.number,
            message: b.message.clone(),
            maintainer: config.archive.binnmu_maintainer.clone(),
            timestamp: b.scheduled.unwrap_or(record.state_change),
        });
        let mut sbuild = vec![
            SBUILD.to_string(),
            format!("--dist={}", record.key.dist),
            format!("--arch={}", record.key.arch),
        ];
        if let Some(b) = &binnmu {
            sbuild.push(format!("--binNMU={}", b.number));
            sbuild.push(format!("--make-binNMU={}", b.message));
            sbuild.push(format!("--maintainer={}", b.maintainer));
            sbuild.push(format!("--binNMU-timestamp={}", b.timestamp));
        }
        sbuild.push(format!("{}_{}", record.key.source, source_version));
        Taken {
            source: record.key.source.clone(),
            version: record.version.clone(),
            source_version: source_version.to_string(),
            suite: record.key.dist.clone(),
            arch: record.key.arch.clone(),
            builder: builder.to_string(),
            binnmu,
            sbuild,
        }
    }
}

/// Does an op that is one read → decide → commit (`take`, `binnmu`,
/// `forget-signature`, `quarantine delete`), run by the caller under its
/// write discipline (the daemon's gate; a command's open database), never
/// flushed here; with the files of deleted quarantined mails, to remove
/// once the deletion is durable.
pub fn write(
    store: &dyn Store,
    config: &Config,
    op: &super::Op,
    now: i64,
) -> Result<(super::Done, Vec<std::path::PathBuf>), HubError> {
    use super::{Done, Op};
    let done = match op {
        Op::Take {
            suite,
            arch,
            builder,
            source,
        } => take(store, config, suite, arch, builder, source.as_deref(), now)
            .map(|t| Done::Taken(Box::new(t))),
        Op::Binnmu {
            source,
            version,
            suite,
            arch,
            message,
        } => {
            let key = BuildKey {
                dist: suite.clone(),
                arch: arch.clone(),
                source: source.clone(),
            };
            binnmu(store, &key, version, message, now).map(|r| Done::Binnmu(Box::new(r)))
        }
        Op::ForgetSignature { sha256 } => forget_signature(store, sha256).map(Done::Forgot),
        Op::QuarantineDelete { ids } => {
            return quarantine_delete(store, ids).map(|d| {
                (
                    Done::Deleted {
                        deleted: d.deleted,
                        missing: d.missing,
                    },
                    d.files,
                )
            })
        }
        other => {
            return Err(HubError::refused(format!(
                "internal error: {other:?} is not a one-commit op"
            )))
        }
    };
    done.map(|d| (d, Vec::new()))
}

/// Hands the top of the queue (or `source`) to `builder` (no flush).
#[allow(clippy::too_many_arguments)]
pub fn take(
    store: &dyn Store,
    config: &Config,
    suite: &str,
    arch: &str,
    builder: &str,
    source: Option<&str>,
    now: i64,
) -> Result<Taken, HubError> {
    check_builder(config, builder, arch)?;
    match crate::sync::take(store, &config.archive, suite, arch, builder, source, now) {
        Ok(r) => Ok(Taken::of(&r, builder, config)),
        Err(TakeError::Store(e)) => Err(e.into()),
        Err(e) => Err(HubError::refused(e.to_string())),
    }
}

/// With `[[builders]]` configured, only a configured builder of `arch`
/// takes builds of it: the name is what later decides whose log counts.
fn check_builder(config: &Config, builder: &str, arch: &str) -> Result<(), HubError> {
    if config.builders.is_empty() {
        return Ok(());
    }
    match config.builders.iter().find(|b| b.name == builder) {
        None => Err(HubError::refused(format!(
            "{builder} is not a configured builder ([[builders]] names: {})",
            config
                .builders
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        Some(b) if !b.arches.is_empty() && !b.arches.iter().any(|a| a == arch) => {
            Err(HubError::refused(format!(
                "{builder} does not build {arch} (its arches: {})",
                b.arches.join(", ")
            )))
        }
        Some(_) => Ok(()),
    }
}

/// Schedules a binNMU (no flush).
pub fn binnmu(
    store: &dyn Store,
    key: &BuildKey,
    version: &str,
    message: &str,
    now: i64,
) -> Result<BuildRecord, HubError> {
    crate::sync::binnmu(store, key, version, message, now).map_err(HubError::refused)
}

/// Removes the replay records of the signature `sha256` names (no
/// flush).
pub fn forget_signature(store: &dyn Store, sha256: &str) -> Result<Vec<SignatureUse>, HubError> {
    if sha256.len() < 8 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HubError::refused(
            "give at least 8 hex digits of the signed bytes' SHA-256 (see `buildmail forget-signature --list`)",
        ));
    }
    let removed = store.forget_signature(sha256)?;
    if removed.is_empty() {
        return Err(HubError::refused(format!(
            "no recorded signature matches {sha256}"
        )));
    }
    Ok(removed)
}

/// Makes the outbox mails `ids` (every one with `all`) due at `now`;
/// the ids that are not in the outbox (no flush).
pub fn outbox_retry(
    store: &dyn Store,
    ids: &[u64],
    all: bool,
    now: i64,
) -> Result<Vec<u64>, HubError> {
    let targets: Vec<u64> = if all {
        store.outbox_mails()?.into_iter().map(|m| m.id).collect()
    } else {
        ids.to_vec()
    };
    let mut unknown = Vec::new();
    for id in targets {
        if !store.outbox_retry(id, now)? {
            unknown.push(id);
        }
    }
    Ok(unknown)
}

/// What [`quarantine_delete`] did.
pub struct Deleted {
    /// The ids deleted.
    pub deleted: Vec<u64>,
    /// Their raw files, to remove once the deletion is durable.
    pub files: Vec<std::path::PathBuf>,
    /// The ids not in the quarantine.
    pub missing: Vec<u64>,
}

/// Deletes the quarantined mails `ids` from the store (no flush).
pub fn quarantine_delete(store: &dyn Store, ids: &[u64]) -> Result<Deleted, HubError> {
    let mut d = Deleted {
        deleted: Vec::new(),
        files: Vec::new(),
        missing: Vec::new(),
    };
    for &id in ids {
        match store.delete_quarantined(id)? {
            Some(e) => {
                d.deleted.push(id);
                d.files.extend(e.raw_file);
            }
            None => d.missing.push(id),
        }
    }
    Ok(d)
}

/// Removes files a durable deletion no longer refers to (logged when one
/// cannot be removed: `fsck` finds it later).
pub fn remove_files(files: &[std::path::PathBuf]) {
    for f in files {
        if let Err(e) = std::fs::remove_file(f) {
            tracing::warn!("could not remove {}: {e}", f.display());
        }
    }
}

/// The ids `reprocess` works on: `ids`, or every quarantined mail.
pub fn quarantine_ids(store: &dyn Store, ids: &[u64], all: bool) -> Result<Vec<u64>, HubError> {
    Ok(if all {
        store.quarantined()?.iter().map(|e| e.id).collect()
    } else {
        ids.to_vec()
    })
}
