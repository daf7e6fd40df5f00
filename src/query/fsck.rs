//! `fsck`'s check: the database against the blobs and files beside it.
//! Logs are archived, and large quarantined and forwarded mails kept as
//! blobs ([`crate::store::blobs::Blobs`]), *before* the commit that
//! records them, so a process killed in between (an `import`, a
//! `deliver`) leaves a blob or file nothing refers to: a blob is counted
//! (kept until a compaction), a file of an earlier release is an orphan
//! found here ([`scan`]) and removed by [`repair`]. A record whose blob or
//! file is missing cannot be repaired and is reported.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::model::Carried;
use crate::store::blob::BlobId;
use crate::store::blobs::Blobs;
use crate::store::{Store, StoreError};

/// What `fsck` found.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Findings {
    /// Archived logs no record refers to (older than `--older-than`: a
    /// `deliver` writes the log before it opens the database).
    pub orphan_logs: Vec<PathBuf>,
    /// Quarantine files no quarantine entry refers to.
    pub orphan_quarantine_files: Vec<PathBuf>,
    /// Temporary files a crash left behind.
    pub stale_temporary_files: Vec<PathBuf>,
    /// Unreferenced files younger than `--older-than`, left alone.
    pub recent_unreferenced: Vec<PathBuf>,
    /// Log records whose log is in no segment and no file (`<build>
    /// <version>: …`).
    pub missing_logs: Vec<String>,
    /// Damaged index entries or records in the archive's segments.
    pub damaged_logs: Vec<String>,
    /// Bytes a crash left past the last whole record of a segment (cut
    /// off by the next append, or by `--repair`).
    pub archive_tails: Vec<String>,
    /// Blobs in the segments that no record refers to (a mail whose
    /// commit did not happen, a log delivered twice without the daemon):
    /// kept, their space taken back only by a compaction.
    pub unreferenced_blobs: usize,
    /// Their stored bytes.
    pub unreferenced_bytes: u64,
    /// Bytes in the archive's segments.
    pub archive_bytes: u64,
    /// Quarantine entries whose file is missing (`#<id>: <path>`).
    pub missing_quarantine_files: Vec<String>,
    /// Quarantine entries and outbox mails whose kept mail (a blob of
    /// the mail store) is missing (`quarantine #<id>: <blob>`, `outbox
    /// #<id>: <blob>`).
    #[serde(default)]
    pub missing_mails: Vec<String>,
    /// Damaged blobs of the mail store.
    #[serde(default)]
    pub damaged_mails: Vec<String>,
    /// What a crash left at the end of the mail store (cut off by the
    /// next put, or by `--repair`).
    #[serde(default)]
    pub mail_tails: Vec<String>,
    /// Kept mails no quarantine entry or outbox mail refers to (a mail
    /// whose commit did not happen, a deleted quarantine entry, a sent
    /// forward): kept until a compaction.
    #[serde(default)]
    pub unreferenced_mails: usize,
    /// Their stored bytes.
    #[serde(default)]
    pub unreferenced_mail_bytes: u64,
    /// Bytes in the mail store.
    #[serde(default)]
    pub mail_bytes: u64,
    /// Files removed (with `--repair`).
    pub removed: Vec<PathBuf>,
}

impl Findings {
    /// How many files `--repair` would remove.
    pub fn orphans(&self) -> usize {
        self.orphan_logs.len()
            + self.orphan_quarantine_files.len()
            + self.stale_temporary_files.len()
            + self.archive_tails.len()
            + self.mail_tails.len()
    }

    /// Whether something is wrong that `--repair` cannot fix, or that it
    /// was not asked to.
    pub fn unhealthy(&self, repaired: bool) -> bool {
        !self.missing_logs.is_empty()
            || !self.damaged_logs.is_empty()
            || !self.missing_quarantine_files.is_empty()
            || !self.missing_mails.is_empty()
            || !self.damaged_mails.is_empty()
            || (!repaired && self.orphans() > 0)
    }
}

/// Checks the database against the log archive, the quarantine files and
/// the temporary files; an unreferenced file counts as an orphan once it
/// is `older_than` (a younger one may belong to a delivery about to
/// record it).
pub fn scan(
    store: &dyn Store,
    config: &Config,
    older_than: Duration,
) -> Result<Findings, StoreError> {
    let now = SystemTime::now();
    let old = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() >= older_than)
    };
    let mut f = Findings::default();

    let blobs = Blobs::open(&config.database);
    let archive = &blobs.logs;
    let io_err = |source| StoreError::Io {
        path: archive.describe().into(),
        source,
    };
    let refs = store.log_refs()?;
    let referenced: BTreeSet<&str> = refs.iter().map(|r| r.id.as_str()).collect();
    // Every blob read and checked.
    let check = archive.check(false).map_err(io_err)?;
    f.damaged_logs = check.damaged.clone();
    f.archive_tails = check.tails.clone();
    f.archive_bytes = check.bytes;
    let in_segments: BTreeSet<String> = check.blobs.iter().map(|(id, ..)| id.to_hex()).collect();
    for (id, size) in &check.blobs {
        let id = id.to_hex();
        if !referenced.contains(id.as_str()) && store.seen(&id)?.is_none() {
            f.unreferenced_blobs += 1;
            f.unreferenced_bytes += size;
        }
    }
    // Files of earlier releases, one log each.
    for (id, path) in archive.legacy_files().map_err(io_err)? {
        // Referred to by a log record, or kept for a mail that is on record
        // without one (a log from someone who is not a builder).
        if referenced.contains(id.as_str()) || store.seen(&id)?.is_some() {
            continue;
        }
        if old(&path) {
            f.orphan_logs.push(path);
        } else {
            f.recent_unreferenced.push(path);
        }
    }
    for r in &refs {
        if in_segments.contains(&r.id) {
            continue;
        }
        // Perhaps an earlier release's file.
        match BlobId::parse_or_err(&r.id).and_then(|id| archive.exists(&id)) {
            Ok(true) => {}
            Ok(false) => f.missing_logs.push(format!(
                "{} {}: log {} (not in {})",
                r.key,
                r.version,
                r.id,
                archive.describe()
            )),
            Err(e) => f.missing_logs.push(format!("{} {}: {e}", r.key, r.version)),
        }
    }

    check_mails(store, &blobs, &mut f)?;

    let quarantined = store.quarantined()?;
    let kept: BTreeSet<&Path> = quarantined
        .iter()
        .filter_map(|q| q.raw_file.as_deref())
        .collect();
    for q in &quarantined {
        if let Some(p) = &q.raw_file {
            if !p.exists() {
                f.missing_quarantine_files
                    .push(format!("#{}: {}", q.id, p.display()));
            }
        }
    }
    let qdir = config.quarantine_dir();
    for path in files_in(&qdir).map_err(|source| StoreError::Io {
        path: qdir.clone(),
        source,
    })? {
        let is_mail = path.extension().is_some_and(|e| e == "eml");
        if !is_mail || kept.contains(path.as_path()) {
            continue;
        }
        if old(&path) {
            f.orphan_quarantine_files.push(path);
        } else {
            f.recent_unreferenced.push(path);
        }
    }

    // Every shard of the archive, also one that holds nothing but a
    // crashed write's temporary file.
    let mut dirs = vec![qdir, config.outbox.dir.clone()];
    if let Ok(shards) = std::fs::read_dir(&config.database.log_archive) {
        for shard in shards.filter_map(Result::ok) {
            if shard.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(shard.path());
            }
        }
    }
    dirs.sort();
    dirs.dedup();
    for d in &dirs {
        for path in files_in(d).map_err(|source| StoreError::Io {
            path: d.clone(),
            source,
        })? {
            let temp = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".buildmail-tmp-"));
            if temp && old(&path) {
                f.stale_temporary_files.push(path);
            }
        }
    }

    Ok(f)
}

/// Removes the orphans and stale temporary files `f` lists, each looked at
/// again just before (a delivery may have rewritten it since the scan);
/// what was removed goes to `f.removed`, what could not be is logged.
pub fn repair(f: &mut Findings, config: &Config, older_than: Duration) {
    if !f.archive_tails.is_empty() || !f.damaged_logs.is_empty() {
        // Checked again with the lock held: an append that was running
        // at the scan has finished; only what a crash left is cut off,
        // and a damaged index is written again from the segments.
        let blobs = Blobs::open(&config.database);
        match blobs.logs.check(true) {
            Ok(_) => f.removed.extend(f.archive_tails.iter().map(PathBuf::from)),
            Err(e) => tracing::warn!("fsck: could not repair the log archive: {e}"),
        }
    }
    if !f.mail_tails.is_empty() || !f.damaged_mails.is_empty() {
        let blobs = Blobs::open(&config.database);
        match blobs.mails.check(true) {
            Ok(_) => f.removed.extend(f.mail_tails.iter().map(PathBuf::from)),
            Err(e) => tracing::warn!("fsck: could not repair the mail store: {e}"),
        }
    }
    let now = SystemTime::now();
    let old = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() >= older_than)
    };
    {
        for p in f
            .orphan_logs
            .iter()
            .chain(&f.orphan_quarantine_files)
            .chain(&f.stale_temporary_files)
        {
            // Looked at again just before: a delivery may have rewritten
            // it since the scan, about to record it.
            if !old(p) {
                continue;
            }
            match std::fs::remove_file(p) {
                Ok(()) => f.removed.push(p.clone()),
                Err(e) => tracing::warn!("fsck: could not remove {}: {e}", p.display()),
            }
        }
    }
}

/// Checks the mail store: every blob read, the blobs the quarantine and
/// the outbox refer to there, the rest counted.
fn check_mails(store: &dyn Store, blobs: &Blobs, f: &mut Findings) -> Result<(), StoreError> {
    let mails = &blobs.mails;
    let io_err = |source| StoreError::Io {
        path: mails.describe().into(),
        source,
    };
    let check = mails.check(false).map_err(io_err)?;
    f.damaged_mails = check.damaged;
    f.mail_tails = check.tails;
    f.mail_bytes = check.bytes;
    let mut referenced: Vec<(String, &str)> = Vec::new();
    let quarantined = store.quarantined()?;
    let outbox = store.outbox_mails()?;
    for q in &quarantined {
        if let Some(b) = &q.blob {
            referenced.push((format!("quarantine #{}", q.id), b));
        }
    }
    for m in &outbox {
        if let Some(Carried::Blob(b)) = &m.carries {
            referenced.push((format!("outbox #{}", m.id), b));
        }
    }
    let whole: BTreeSet<BlobId> = check.blobs.iter().map(|(id, _)| *id).collect();
    for (what, b) in &referenced {
        let found = BlobId::parse(b).is_some_and(|id| whole.contains(&id));
        if !found {
            f.missing_mails.push(format!("{what}: {b}"));
        }
    }
    let refs: BTreeSet<&str> = referenced.iter().map(|(_, b)| *b).collect();
    let mut counted = BTreeSet::new();
    for (id, size) in &check.blobs {
        let hex = id.to_hex();
        if !refs.contains(hex.as_str()) && counted.insert(*id) {
            f.unreferenced_mails += 1;
            f.unreferenced_mail_bytes += size;
        }
    }
    Ok(())
}

/// The plain files in `dir` (none when it does not exist).
fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            let mut v = Vec::new();
            for e in rd {
                let e = e?;
                if e.file_type()?.is_file() {
                    v.push(e.path());
                }
            }
            Ok(v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}
