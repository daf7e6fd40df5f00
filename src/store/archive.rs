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
        LogArchive { dir: dir.into() }
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

    /// Durably stores the compressed log `gz` as `id`. Writing the same id
    /// again replaces the file with the same bytes.
    pub fn write(&self, id: &str, gz: &[u8]) -> io::Result<()> {
        let path = self.path(id)?;
        let dir = path.parent().unwrap_or(&self.dir);
        crate::fsutil::write(dir, &format!("{id}.log.gz"), gz).map(drop)
    }

    /// The compressed bytes of log `id`.
    pub fn read_gz(&self, id: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.path(id)?)
    }

    /// The log `id`, decompressed, byte-exact.
    pub fn read(&self, id: &str) -> io::Result<Vec<u8>> {
        let gz = self.read_gz(id)?;
        let mut out = Vec::with_capacity(gz.len() * 8);
        io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
