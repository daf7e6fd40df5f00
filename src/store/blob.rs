//! The blob seam: where archived logs and large kept mails live, behind
//! one small trait ([`BlobStore`]: put, get, stream, exists, list, check,
//! sync), so that the database backend can change without the rest of
//! buildmail knowing. Every caller gets its stores from
//! [`crate::store::blobs::Blobs`], opened from the configuration: the one
//! place a backend is chosen.
//!
//! A blob is content-addressed: its id ([`BlobId`]) is the identity of
//! the mail that carried it (the content hash, 32 bytes), so the same id
//! always names the same bytes, and writing an id again adds nothing a
//! reader could tell apart. Records carry ids, never paths. A blob is kept *as stored*: its bytes and the
//! [`Codec`] they are compressed with; [`BlobStore::stream`] gives them
//! back decompressed, byte-exact.
//!
//! Today's implementation is local: [`crate::store::segments`] (append-only
//! segment files with an index beside them), for logs read together with
//! the one-file-per-log archive of earlier releases by
//! [`crate::store::archive::LogArchive`]. A database backend stores blobs
//! in its own tables behind the same trait.
//!
//! Durability: a blob is durable once [`BlobStore::sync`] returned after
//! its [`BlobStore::put`] (a store may make each put durable at once);
//! a commit that refers to a blob is made only after that.

use std::fmt;
use std::io::{self, Read, Write};

/// A blob's id: 32 bytes (shown as 64 lower-case hex digits).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobId(pub [u8; 32]);

impl BlobId {
    /// The id written as 64 lower-case hex digits; `None` for anything else.
    pub fn parse(hex_id: &str) -> Option<BlobId> {
        if hex_id.len() != 64 || hex_id.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let mut id = [0u8; 32];
        hex::decode_to_slice(hex_id, &mut id).ok()?;
        Some(BlobId(id))
    }

    /// [`BlobId::parse`], as an error that names the bad id.
    pub fn parse_or_err(hex_id: &str) -> io::Result<BlobId> {
        BlobId::parse(hex_id).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{hex_id:?} is not a log id (64 lower-case hex digits)"),
            )
        })
    }

    /// 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({})", self.to_hex())
    }
}

/// How a blob's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// gzip (RFC 1952), possibly several members: a log that arrived
    /// gzip-compressed, kept as it came; every log of earlier releases.
    Gzip,
    /// A zstd frame: a log that arrived uncompressed (compressed at
    /// [`ZSTD_LEVEL`]).
    Zstd,
}

/// The zstd level logs that arrive uncompressed are compressed at: the
/// fastest of the regular levels (logs still shrink 8–10×).
pub const ZSTD_LEVEL: i32 = 1;

impl Codec {
    /// The codec's byte in stored formats.
    pub fn to_byte(self) -> u8 {
        match self {
            Codec::Gzip => 1,
            Codec::Zstd => 2,
        }
    }

    /// The codec of a stored byte.
    pub fn from_byte(b: u8) -> Option<Codec> {
        match b {
            1 => Some(Codec::Gzip),
            2 => Some(Codec::Zstd),
            _ => None,
        }
    }

    /// The codec's name (`gzip`, `zstd`).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Zstd => "zstd",
        }
    }

    /// A reader of the decompressed bytes of `stored`.
    pub fn decoder<'a>(self, stored: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Codec::Gzip => Box::new(flate2::read::MultiGzDecoder::new(stored)),
            Codec::Zstd => Box::new(zstd::stream::read::Decoder::new(stored)?),
        })
    }

    /// Writes the decompressed bytes of `stored` to `out`; their size.
    pub fn decode_to(self, stored: impl Read, out: &mut dyn Write) -> io::Result<u64> {
        io::copy(&mut self.decoder(stored)?, out)
    }
}

/// Compresses a log that arrived uncompressed, for the archive (zstd at
/// [`ZSTD_LEVEL`], with a content checksum). A zstd context (about 1 MB)
/// is taken from a small pool and put back for the next log: setting one
/// up per log cost the import 1 %, and one per thread grew the daemon,
/// whose blocking threads come and go, by tens of megabytes.
pub fn compress(bytes: &[u8]) -> io::Result<Vec<u8>> {
    /// Contexts kept for reuse: more than the threads that compress at
    /// once in practice (an import's preparers, the daemon's sessions).
    const KEEP: usize = 8;
    static POOL: std::sync::Mutex<Vec<zstd::bulk::Compressor<'static>>> =
        std::sync::Mutex::new(Vec::new());
    let pool = || {
        POOL.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let taken = pool().pop();
    let mut c = match taken {
        Some(c) => c,
        None => {
            let mut c = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
            c.include_checksum(true)?;
            c.include_contentsize(true)?;
            c
        }
    };
    let out = c.compress(bytes);
    let mut kept = pool();
    if kept.len() < KEEP {
        kept.push(c);
    }
    out
}

/// A blob as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// How `bytes` are compressed.
    pub codec: Codec,
    /// The stored (compressed) bytes.
    pub bytes: Vec<u8>,
}

impl StoredBlob {
    /// The decompressed bytes.
    pub fn decode(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.codec.decode_to(self.bytes.as_slice(), &mut out)?;
        Ok(out)
    }
}

/// One blob, as [`BlobStore::list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Its id.
    pub id: BlobId,
    /// Its codec.
    pub codec: Codec,
    /// Its stored size in bytes.
    pub stored_size: u64,
    /// Where it is, in words (`segment 3 at 1048576`, a file name).
    pub place: String,
}

/// Where blobs are kept. Every method may be called from many threads.
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` (compressed with `codec`) as `id`. Durable once
    /// [`BlobStore::sync`] returned after it. Storing an id again keeps
    /// the same bytes readable under it.
    fn put(&self, id: &BlobId, codec: Codec, bytes: &[u8]) -> io::Result<()>;

    /// Makes every blob put so far (by this process) durable; puts of
    /// several threads share one sync.
    fn sync(&self) -> io::Result<()>;

    /// Blob `id` as stored; `None` when there is none.
    fn get(&self, id: &BlobId) -> io::Result<Option<StoredBlob>>;

    /// Writes blob `id`, decompressed, to `out` as it is decoded (never
    /// held whole); its decompressed size, `None` when there is none.
    fn stream(&self, id: &BlobId, out: &mut dyn Write) -> io::Result<Option<u64>> {
        match self.get(id)? {
            Some(b) => b.codec.decode_to(b.bytes.as_slice(), out).map(Some),
            None => Ok(None),
        }
    }

    /// Whether blob `id` is stored.
    fn exists(&self, id: &BlobId) -> io::Result<bool> {
        Ok(self.get(id)?.is_some())
    }

    /// Every stored blob (in no particular order; an id stored twice is
    /// listed twice).
    fn list(&self) -> io::Result<Vec<BlobInfo>>;

    /// Where the blobs are, in words (a directory; a database table), for
    /// messages.
    fn describe(&self) -> String;

    /// Stores as `id` the bytes `stored` yields (compressed with `codec`;
    /// about `size_hint` of them), read as they are written: a store that
    /// can should never hold them whole (a mail of hundreds of
    /// megabytes). Durable like [`BlobStore::put`]. This default reads
    /// them into memory first.
    fn put_stream(
        &self,
        id: &BlobId,
        codec: Codec,
        size_hint: u64,
        stored: &mut dyn Read,
    ) -> io::Result<()> {
        let mut bytes = Vec::with_capacity(usize::try_from(size_hint).unwrap_or(0).min(1 << 26));
        stored.read_to_end(&mut bytes)?;
        self.put(id, codec, &bytes)
    }

    /// Reads every stored blob and checks it (for `fsck`); with `repair`,
    /// what a crash left is cut off. This default lists the blobs and
    /// decodes each.
    fn check(&self, repair: bool) -> io::Result<BlobCheck> {
        let _ = repair;
        let mut c = BlobCheck::default();
        for b in self.list()? {
            c.bytes += b.stored_size;
            match self.stream(&b.id, &mut io::sink()) {
                Ok(Some(_)) => c.blobs.push((b.id, b.stored_size)),
                Ok(None) => c
                    .damaged
                    .push(format!("blob {} ({}): listed, not readable", b.id, b.place)),
                Err(e) => c.damaged.push(format!("blob {} ({}): {e}", b.id, b.place)),
            }
        }
        Ok(c)
    }

    /// Files of earlier releases that this store reads where they are,
    /// one blob each, by id (`fsck` removes those nothing refers to);
    /// none by default.
    fn legacy_files(&self) -> io::Result<Vec<(String, std::path::PathBuf)>> {
        Ok(Vec::new())
    }
}

/// What [`BlobStore::check`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BlobCheck {
    /// Whole, readable blobs: id and stored size.
    pub blobs: Vec<(BlobId, u64)>,
    /// Blobs (or index entries) that are damaged, in words.
    pub damaged: Vec<String>,
    /// What a crash left past the last whole blob, in words (cut off by
    /// the next write, or by a check with `repair`).
    pub tails: Vec<String>,
    /// Bytes the store takes.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_lower_case_hex_digits() {
        let id = BlobId::parse(&"ab".repeat(32)).unwrap();
        assert_eq!(id.to_hex(), "ab".repeat(32));
        assert!(BlobId::parse(&"AB".repeat(32)).is_none());
        assert!(BlobId::parse("../../etc/passwd").is_none());
        assert!(BlobId::parse(&"ab".repeat(31)).is_none());
        assert!(BlobId::parse(&"zz".repeat(32)).is_none());
    }

    #[test]
    fn zstd_round_trip_is_byte_exact() {
        let log = b"line \xff\xfe\r\n not utf-8 \0 and NULs\n".repeat(1000);
        let z = compress(&log).unwrap();
        assert!(z.len() < log.len() / 10);
        let b = StoredBlob {
            codec: Codec::Zstd,
            bytes: z,
        };
        assert_eq!(b.decode().unwrap(), log);
        for c in [Codec::Gzip, Codec::Zstd] {
            assert_eq!(Codec::from_byte(c.to_byte()), Some(c));
        }
        assert_eq!(Codec::from_byte(0), None);
    }
}
