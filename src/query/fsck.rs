//! `fsck`'s check: the database against the files beside it. Logs are
//! archived, and large quarantined mails kept as files, *before* the
//! commit that records them, so a process killed in between (an `import`,
//! a `deliver`) leaves a file nothing refers to; such orphans are found
//! here ([`scan`]) and removed by [`repair`]. A record whose file is
//! missing cannot be repaired and is reported.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::config::Config;
use crate::store::archive::LogArchive;
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
    }

    /// Whether something is wrong that `--repair` cannot fix, or that it
    /// was not asked to.
    pub fn unhealthy(&self, repaired: bool) -> bool {
        !self.missing_logs.is_empty()
            || !self.damaged_logs.is_empty()
            || !self.missing_quarantine_files.is_empty()
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

    let archive = LogArchive::new(&config.database.log_archive);
    let io_err = |source| StoreError::Io {
        path: archive.dir().to_path_buf(),
        source,
    };
    let refs = store.log_refs()?;
    let referenced: BTreeSet<&str> = refs.iter().map(|r| r.id.as_str()).collect();
    // The segments: every index entry and record read and checked.
    let check = archive.segments().check(false).map_err(io_err)?;
    f.damaged_logs = check.damaged.clone();
    f.archive_tails = check
        .tails
        .iter()
        .map(|(s, bytes)| match s {
            0 => format!("index: {bytes} bytes of a cut-off entry"),
            s => format!("segment {s}: {bytes} bytes past its last record"),
        })
        .collect();
    f.archive_bytes = check.bytes;
    let in_segments: BTreeSet<String> = check.blobs.iter().map(|(id, ..)| id.to_hex()).collect();
    for (id, size, _) in &check.blobs {
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
        match archive.legacy_path(&r.id) {
            Ok(p) if p.exists() => {}
            Ok(p) => f.missing_logs.push(format!(
                "{} {}: log {} (neither in {} nor {})",
                r.key,
                r.version,
                r.id,
                archive.segments().dir().display(),
                p.display()
            )),
            Err(e) => f.missing_logs.push(format!("{} {}: {e}", r.key, r.version)),
        }
    }

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
    if let Ok(shards) = std::fs::read_dir(archive.dir()) {
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
        let archive = LogArchive::new(&config.database.log_archive);
        match archive.segments().check(true) {
            Ok(c) => {
                let dir = archive.segments().dir();
                f.removed
                    .extend(c.tails.iter().map(|(s, _)| dir.join(format!("{s:08}.seg"))));
            }
            Err(e) => tracing::warn!("fsck: could not repair the log archive: {e}"),
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
