//! The build-log archive, beside the database: the local [`BlobStore`].
//! Each log is a blob whose id is the identity of the mail that carried
//! it (its content hash), kept byte-exact: a log that arrived
//! gzip-compressed as it came, any other compressed with zstd
//! ([`crate::store::blob::compress`]).
//!
//! New logs are appended to segment files (`<dir>/segments/`, see
//! [`crate::store::segments`]). Logs archived by earlier releases, one
//! gzip file each (`<dir>/<first two hex digits>/<id>.log.gz`), are read
//! where they are: the archive is never rewritten.
//!
//! Logs live beside the database rather than in it: sled keeps per-value
//! bookkeeping in memory, so megabytes of log per build would make its
//! memory and start-up time grow with the archive. A log is durable in
//! the archive *before* the transaction that references it commits
//! ([`LogArchive::sync`]), so a durable record never points at a missing
//! log; a crash in between leaves at worst a blob nothing refers to.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::blob::{BlobCheck, BlobId, BlobInfo, BlobStore, Codec, StoredBlob};
use super::segments::Segments;

/// The log archive directory.
#[derive(Debug, Clone)]
pub struct LogArchive {
    dir: PathBuf,
    segments: Arc<Segments>,
}

impl LogArchive {
    /// The archive in `dir` (created on the first write). Its puts are
    /// made durable together by [`LogArchive::sync`] (`deliver` after its
    /// one log, an import before each commit batch, the daemon before
    /// each commit), which must run before any commit referring to them
    /// is made (sled may write a commit to disk at any moment).
    pub fn new(dir: impl Into<PathBuf>) -> LogArchive {
        let dir = dir.into();
        LogArchive {
            segments: Segments::shared(&dir.join("segments")),
            dir,
        }
    }

    /// Makes every log this process put so far durable: one `fdatasync`
    /// of the segment and of its index, shared by the threads that put
    /// meanwhile. Nothing to do when nothing was put.
    pub fn sync(&self) -> io::Result<()> {
        self.segments.sync()
    }

    /// The archive directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segments new logs go to.
    pub fn segments(&self) -> &Segments {
        &self.segments
    }

    /// The file an earlier release kept log `id` in (a lower-case
    /// SHA-256 in hex).
    pub fn legacy_path(&self, id: &str) -> io::Result<PathBuf> {
        BlobId::parse_or_err(id)?;
        let shard = id.get(..2).unwrap_or("00");
        Ok(self.dir.join(shard).join(format!("{id}.log.gz")))
    }

    /// Stores log `id` (`bytes` compressed with `codec`); durable once
    /// [`LogArchive::sync`] returns.
    pub fn put_log(&self, id: &str, codec: Codec, bytes: &[u8]) -> io::Result<()> {
        self.put(&BlobId::parse_or_err(id)?, codec, bytes)
    }

    /// Log `id` as stored; an error of kind `NotFound` when there is none.
    pub fn get_log(&self, id: &str) -> io::Result<StoredBlob> {
        self.get(&BlobId::parse_or_err(id)?)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("log {id} is not in the archive {}", self.dir.display()),
            )
        })
    }

    /// The log `id`, decompressed, byte-exact.
    pub fn read(&self, id: &str) -> io::Result<Vec<u8>> {
        self.get_log(id)?.decode()
    }

    /// Writes the log `id`, decompressed, to `out` as it is decoded (a
    /// log of gigabytes is never held whole). Returns its size.
    pub fn copy_to(&self, id: &str, out: &mut dyn Write) -> io::Result<u64> {
        let blob = BlobId::parse_or_err(id)?;
        self.stream(&blob, out)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("log {id} is not in the archive {}", self.dir.display()),
            )
        })
    }

    /// Every log an earlier release kept in a file of its own, and its
    /// path (files that are not named like a log are skipped).
    pub fn legacy_files(&self) -> io::Result<Vec<(String, PathBuf)>> {
        let mut out = Vec::new();
        let shards = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for shard in shards {
            let shard = shard?.path();
            let is_shard = shard
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.len() == 2);
            if !is_shard || !shard.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&shard)? {
                let path = f?.path();
                let id = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".log.gz"))
                    .filter(|id| BlobId::parse(id).is_some())
                    .map(str::to_string);
                if let Some(id) = id {
                    out.push((id, path));
                }
            }
        }
        Ok(out)
    }

    /// The file of an earlier release's log `id`, if there is one.
    fn legacy_file(&self, id: &BlobId) -> io::Result<Option<std::fs::File>> {
        match std::fs::File::open(self.legacy_path(&id.to_hex())?) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl BlobStore for LogArchive {
    fn put(&self, id: &BlobId, codec: Codec, bytes: &[u8]) -> io::Result<()> {
        self.segments.put(id, codec, bytes)
    }

    fn put_stream(
        &self,
        id: &BlobId,
        codec: Codec,
        size_hint: u64,
        stored: &mut dyn io::Read,
    ) -> io::Result<()> {
        self.segments.put_stream(id, codec, size_hint, stored)
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    fn check(&self, repair: bool) -> io::Result<BlobCheck> {
        // Earlier releases' files are looked at by `fsck` itself
        // ([`BlobStore::legacy_files`]).
        BlobStore::check(&*self.segments, repair)
    }

    fn legacy_files(&self) -> io::Result<Vec<(String, PathBuf)>> {
        LogArchive::legacy_files(self)
    }

    fn sync(&self) -> io::Result<()> {
        self.segments.sync()
    }

    fn get(&self, id: &BlobId) -> io::Result<Option<StoredBlob>> {
        if let Some(b) = self.segments.get(id)? {
            return Ok(Some(b));
        }
        let Some(mut f) = self.legacy_file(id)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut f, &mut bytes)?;
        Ok(Some(StoredBlob {
            codec: Codec::Gzip,
            bytes,
        }))
    }

    fn stream(&self, id: &BlobId, out: &mut dyn Write) -> io::Result<Option<u64>> {
        if let Some(n) = self.segments.stream(id, out)? {
            return Ok(Some(n));
        }
        // An earlier release's file, inflated as it is read.
        match self.legacy_file(id)? {
            Some(f) => Codec::Gzip.decode_to(io::BufReader::new(f), out).map(Some),
            None => Ok(None),
        }
    }

    fn exists(&self, id: &BlobId) -> io::Result<bool> {
        Ok(self.segments.exists(id)? || self.legacy_path(&id.to_hex())?.exists())
    }

    fn list(&self) -> io::Result<Vec<BlobInfo>> {
        let mut all = self.segments.list()?;
        for (id, path) in self.legacy_files()? {
            let Some(blob) = BlobId::parse(&id) else {
                continue;
            };
            all.push(BlobInfo {
                id: blob,
                codec: Codec::Gzip,
                stored_size: std::fs::metadata(&path).map_or(0, |m| m.len()),
                place: path.display().to_string(),
            });
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::blob::compress;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn batched_puts_create_the_archive_and_sync_once() {
        let dir = tempfile::tempdir().unwrap();
        let a = LogArchive::new(dir.path().join("missing/logs"));
        a.sync().unwrap(); // nothing archived yet: nothing to do
        let id = "ab".repeat(32);
        a.put_log(&id, Codec::Zstd, &compress(b"log\n").unwrap())
            .unwrap();
        a.sync().unwrap();
        assert_eq!(a.read(&id).unwrap(), b"log\n");
        assert_eq!(a.list().unwrap().len(), 1);
        assert!(a.legacy_files().unwrap().is_empty());
    }

    #[test]
    fn round_trip_and_id_check() {
        let dir = tempfile::tempdir().unwrap();
        let a = LogArchive::new(dir.path().join("logs"));
        let id = "ab".repeat(32);
        let gz = gzip(b"log \xff bytes\r\n");
        a.put_log(&id, Codec::Gzip, &gz).unwrap();
        a.put_log(&id, Codec::Gzip, &gz).unwrap();
        assert_eq!(a.read(&id).unwrap(), b"log \xff bytes\r\n");
        // Kept as it came: the gzip bytes themselves.
        assert_eq!(a.get_log(&id).unwrap().bytes, gz);
        assert!(a.legacy_path("../../etc/passwd").is_err());
        assert!(a.read(&"AB".repeat(32)).is_err());
        let missing = a.read(&"cd".repeat(32)).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn an_earlier_releases_log_file_is_read_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let a = LogArchive::new(dir.path().join("logs"));
        let id = "cd".repeat(32);
        let path = a.legacy_path(&id).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Earlier releases wrote gzip files, some of several members.
        let mut two = gzip(b"first member\n");
        two.extend(gzip(b"second \x00 member\n"));
        std::fs::write(&path, &two).unwrap();
        assert_eq!(a.read(&id).unwrap(), b"first member\nsecond \x00 member\n");
        let mut out = Vec::new();
        assert_eq!(a.copy_to(&id, &mut out).unwrap(), out.len() as u64);
        assert!(a.exists(&BlobId::parse(&id).unwrap()).unwrap());
        assert_eq!(a.legacy_files().unwrap(), vec![(id.clone(), path)]);
        assert_eq!(a.list().unwrap()[0].codec, Codec::Gzip);
    }
}
