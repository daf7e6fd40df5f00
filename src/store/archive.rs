//! The build-log archive: gzip-compressed logs in content-addressed files,
//! `<dir>/<first two hex digits>/<id>.log.gz`, where the id is the SHA-256
//! of the mail that carried the log.
//!
//! Logs live beside the database rather than in it: sled keeps per-value
//! bookkeeping in memory, so megabytes of log per build would make its
//! memory and start-up time grow with the archive. A log is written (temp
//! file, fsync, rename, fsync of the directory) *before* the transaction
//! that references it commits, so a durable record never points at a
//! missing log; a crash in between leaves at worst an unreferenced file,
//! which the retried mail rewrites under the same name.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Compresses a log for the archive (fast level: logs compress ~10× anyway).
pub fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 6 + 64),
        flate2::Compression::fast(),
    );
    enc.write_all(bytes)?;
    enc.finish()
}

/// The log archive directory.
#[derive(Debug, Clone)]
pub struct LogArchive {
    dir: PathBuf,
    /// Writes are made durable together by [`LogArchive::sync`] (an
    /// import, before each commit batch is flushed), not one by one.
    batched: bool,
}

fn valid_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl LogArchive {
    /// The archive in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> LogArchive {
        LogArchive {
            dir: dir.into(),
            batched: false,
        }
    }

    /// The same archive, its writes made durable together by
    /// [`LogArchive::sync`], which must run before any commit referring to
    /// them is made (sled may write a commit to disk at any moment).
    pub fn batched(self) -> LogArchive {
        LogArchive {
            batched: true,
            ..self
        }
    }

    /// Makes every log written so far durable (one syncfs(2) of the
    /// archive's file system). Nothing to do when nothing was archived.
    pub fn sync(&self) -> io::Result<()> {
        match crate::fsutil::sync_filesystem(&self.dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// The archive directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of log `id` (a lower-case SHA-256 in hex).
    pub fn path(&self, id: &str) -> io::Result<PathBuf> {
        if !valid_id(id) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{id:?} is not a log id (64 lower-case hex digits)"),
            ));
        }
        let shard = id.get(..2).unwrap_or("00");
        Ok(self.dir.join(shard).join(format!("{id}.log.gz")))
    }

    /// Durably stores the compressed log `gz` as `id` (for a
    /// [`LogArchive::batched`] archive: once [`LogArchive::sync`] returns).
    /// Writing the same id again replaces the file with the same bytes.
    pub fn write(&self, id: &str, gz: &[u8]) -> io::Result<()> {
        let path = self.path(id)?;
        let dir = path.parent().unwrap_or(&self.dir);
        crate::fsutil::write_synced(
            dir,
            &format!("{id}.log.gz"),
            |f| io::Write::write_all(f, gz),
            !self.batched,
        )
        .map(drop)
    }

    /// The compressed bytes of log `id`.
    pub fn read_gz(&self, id: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.path(id)?)
    }

    /// The log `id`, decompressed, byte-exact.
    pub fn read(&self, id: &str) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.copy_to(id, &mut out)?;
        Ok(out)
    }

    /// Writes the log `id`, decompressed, to `out` as it is inflated (a
    /// log of gigabytes is never held whole). Returns its size.
    pub fn copy_to(&self, id: &str, out: &mut dyn Write) -> io::Result<u64> {
        let file = std::fs::File::open(self.path(id)?)?;
        let mut log = flate2::read::MultiGzDecoder::new(io::BufReader::new(file));
        io::copy(&mut log, out)
    }

    /// Every log id with a file in the archive, and its path (files that
    /// are not named like a log are skipped).
    pub fn files(&self) -> io::Result<Vec<(String, PathBuf)>> {
        let mut out = Vec::new();
        let shards = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for shard in shards {
            let shard = shard?.path();
            if !shard.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&shard)? {
                let path = f?.path();
                let id = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".log.gz"))
                    .filter(|id| valid_id(id))
                    .map(str::to_string);
                if let Some(id) = id {
                    out.push((id, path));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_writes_create_their_shard_and_sync_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = LogArchive::new(dir.path().join("missing/logs")).batched();
        a.sync().unwrap(); // nothing archived yet: nothing to do
        let id = "ab".repeat(32);
        a.write(&id, &gzip(b"log\n").unwrap()).unwrap();
        a.sync().unwrap();
        assert_eq!(a.read(&id).unwrap(), b"log\n");
        assert_eq!(a.files().unwrap().len(), 1);
    }

    #[test]
    fn round_trip_and_id_check() {
        let dir = tempfile::tempdir().unwrap();
        let a = LogArchive::new(dir.path().join("logs"));
        let id = "ab".repeat(32);
        let gz = gzip(b"log \xff bytes\r\n").unwrap();
        a.write(&id, &gz).unwrap();
        a.write(&id, &gz).unwrap();
        assert_eq!(a.read(&id).unwrap(), b"log \xff bytes\r\n");
        assert!(a.path(&id).unwrap().ends_with(format!("ab/{id}.log.gz")));
        assert!(a.path("../../etc/passwd").is_err());
        assert!(a.path(&"AB".repeat(32)).is_err());
        assert!(a.read(&"cd".repeat(32)).is_err());
    }
}
