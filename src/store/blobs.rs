//! The seam every caller reaches blobs through: [`Blobs`], the farm's
//! blob stores (the log archive, the mail store), opened from
//! `[database]` by [`Blobs::open`], the one place a backend is chosen.
//! The trait and the codecs are in [`crate::store::blob`].

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

use super::archive::LogArchive;
use super::blob::{compress, BlobId, BlobStore, Codec, StoredBlob, ZSTD_LEVEL};
use super::segments::Segments;
use crate::config::DatabaseConfig;

/// Every blob store of the farm, opened from the configuration by
/// [`Blobs::open`]: the one seam through which every caller reaches
/// archived logs and kept mails. Cheap to clone (shared handles).
///
/// * `logs`: the build-log archive; a blob's id is the identity of the
///   mail that carried the log.
/// * `mails`: quarantined mails over the inline limit and large mails
///   kept to be forwarded; a blob's id is the mail's identity (the
///   `sha256` of its quarantine entry or dedup record), the blob the
///   whole raw mail compressed with zstd. Records carry the id only
///   (`QuarantineEntry::blob`, `Carried::Blob`), never a path, so any
///   host that reads the records can read the mail.
///
/// Several records may name one blob (a mail quarantined again, two
/// forwards of one mail), so removing a record leaves its blob; `fsck`
/// counts the blobs nothing refers to.
#[derive(Clone)]
pub struct Blobs {
    /// The build-log archive.
    pub logs: Arc<dyn BlobStore>,
    /// Large quarantined and forwarded mails.
    pub mails: Arc<dyn BlobStore>,
}

impl fmt::Debug for Blobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blobs")
            .field("logs", &self.logs.describe())
            .field("mails", &self.mails.describe())
            .finish()
    }
}

impl Blobs {
    /// The blob stores `cfg` configures. Opens nothing yet (a store
    /// creates its files, or connects, at first use), so it cannot fail.
    ///
    /// Local directories beside the sled database ([`Blobs::local`]), or,
    /// with `database.url`, the PostgreSQL database's `blobs` table
    /// ([`super::pg::blobs::PgBlobs`]), so that a blob put on one host is
    /// read on another.
    pub fn open(cfg: &DatabaseConfig) -> Blobs {
        match &cfg.url {
            Some(url) => Blobs {
                logs: Arc::new(super::pg::blobs::PgBlobs::new("logs", url, cfg)),
                mails: Arc::new(super::pg::blobs::PgBlobs::new("mails", url, cfg)),
            },
            None => Blobs::local(cfg),
        }
    }

    /// Local directories: the log archive in `database.log_archive`
    /// ([`LogArchive`]: segments, and earlier releases' files read where
    /// they are) and the mails in segments of their own in
    /// `database.mail_blobs`. Puts become durable at [`BlobStore::sync`]
    /// (one `fdatasync` shared by the threads that put meanwhile).
    pub fn local(cfg: &DatabaseConfig) -> Blobs {
        Blobs {
            logs: Arc::new(LogArchive::new(&cfg.log_archive)),
            mails: Segments::shared(&cfg.mail_blobs),
        }
    }

    /// Archived log `id` (64 hex digits) as stored; an error of kind
    /// `NotFound` when there is none.
    pub fn log(&self, id: &str) -> io::Result<StoredBlob> {
        self.logs
            .get(&BlobId::parse_or_err(id)?)?
            .ok_or_else(|| self.no_log(id))
    }

    /// Writes archived log `id`, decompressed, to `out` as it is decoded
    /// (a log of gigabytes is never held whole); its size. An error of
    /// kind `NotFound` when there is none.
    pub fn copy_log(&self, id: &str, out: &mut dyn Write) -> io::Result<u64> {
        self.logs
            .stream(&BlobId::parse_or_err(id)?, out)?
            .ok_or_else(|| self.no_log(id))
    }

    fn no_log(&self, id: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("log {id} is not in the archive {}", self.logs.describe()),
        )
    }

    /// Keeps the raw mail `raw` whose identity is `id` as a blob of
    /// `mails` (zstd) and makes it durable: a commit may refer to it
    /// when this returns.
    pub fn keep_mail(&self, id: &str, raw: &[u8]) -> io::Result<()> {
        let blob = BlobId::parse_or_err(id)?;
        self.mails.put(&blob, Codec::Zstd, &compress(raw)?)?;
        self.mails.sync()?;
        crate::fsutil::crash_point("mail-kept");
        Ok(())
    }

    /// [`Blobs::keep_mail`] for a mail in a file (one over
    /// `limits.max_message_size`, spilled as it arrived): compressed as
    /// it is read and written, never held whole.
    pub fn keep_mail_file(&self, id: &str, file: &std::path::Path) -> io::Result<()> {
        let blob = BlobId::parse_or_err(id)?;
        let f = std::fs::File::open(file)?;
        let size = f.metadata()?.len();
        let mut enc = zstd::stream::read::Encoder::new(io::BufReader::new(f), ZSTD_LEVEL)?;
        enc.include_checksum(true)?;
        self.mails.put_stream(&blob, Codec::Zstd, size, &mut enc)?;
        self.mails.sync()?;
        crate::fsutil::crash_point("mail-kept");
        Ok(())
    }

    /// Writes the mail kept as blob `id`, decompressed, to `out` as it is
    /// decoded; its size. An error of kind `NotFound` when there is none.
    pub fn copy_mail(&self, id: &str, out: &mut dyn Write) -> io::Result<u64> {
        self.mails
            .stream(&BlobId::parse_or_err(id)?, out)?
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("mail {id} is not in {}", self.mails.describe()),
                )
            })
    }

    /// The mail kept as blob `id`, decompressed.
    pub fn read_mail(&self, id: &str) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.copy_mail(id, &mut out)?;
        Ok(out)
    }
}
