//! Blobs in the PostgreSQL database (the `blobs` table): the log archive
//! and the mail store of a farm on PostgreSQL ([`crate::store::blobs::Blobs`]),
//! so that a log or a mail kept by one host is read by every other.

use std::io;

use crate::store::blob::{BlobId, BlobInfo, BlobStore, Codec, StoredBlob};
use crate::store::StoreError;

use super::PgStore;

/// One blob store (`logs` or `mails`) in the `blobs` table. Connects at
/// first use; a put is durable when it returns (its own transaction).
pub struct PgBlobs {
    store: &'static str,
    pg: Result<PgStore, String>,
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// A PostgreSQL error of the blob store as an I/O error: one an operator
/// must act on (a database nobody migrated) is `Unsupported`, which
/// [`StoreError::is_permanent`] counts as such, the rest temporary.
fn pg_err(e: postgres::Error) -> io::Error {
    match super::engine(e) {
        StoreError::Schema(why) => io::Error::new(io::ErrorKind::Unsupported, why),
        other => io_err(other),
    }
}

impl PgBlobs {
    /// The blob store `store` (`logs`, `mails`) of the database at `url`.
    pub fn new(store: &'static str, url: &str, cfg: &crate::config::DatabaseConfig) -> PgBlobs {
        PgBlobs {
            store,
            pg: PgStore::connect(url, cfg).map_err(|e| e.to_string()),
        }
    }

    fn pg(&self) -> io::Result<&PgStore> {
        self.pg.as_ref().map_err(io_err)
    }

    fn conn(&self) -> io::Result<super::Conn<'_>> {
        self.pg()?.conn().map_err(io_err)
    }
}

/// A stored codec byte as the codec.
fn codec(b: i16) -> io::Result<Codec> {
    u8::try_from(b)
        .ok()
        .and_then(Codec::from_byte)
        .ok_or_else(|| io_err(format!("a blob with the unknown codec {b}")))
}

impl BlobStore for PgBlobs {
    fn put(&self, id: &BlobId, codec: Codec, bytes: &[u8]) -> io::Result<()> {
        self.conn()?
            .execute(
                "INSERT INTO blobs (store, id, codec, bytes) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[
                    &self.store,
                    &id.0.as_slice(),
                    &i16::from(codec.to_byte()),
                    &bytes,
                ],
            )
            .map_err(pg_err)?;
        Ok(())
    }

    /// Every put committed when it returned: nothing to do.
    fn sync(&self) -> io::Result<()> {
        Ok(())
    }

    fn get(&self, id: &BlobId) -> io::Result<Option<StoredBlob>> {
        let row = self
            .conn()?
            .query_opt(
                "SELECT codec, bytes FROM blobs WHERE store = $1 AND id = $2",
                &[&self.store, &id.0.as_slice()],
            )
            .map_err(pg_err)?;
        row.map(|r| {
            Ok(StoredBlob {
                codec: codec(r.get(0))?,
                bytes: r.get(1),
            })
        })
        .transpose()
    }

    fn exists(&self, id: &BlobId) -> io::Result<bool> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT 1 FROM blobs WHERE store = $1 AND id = $2",
                &[&self.store, &id.0.as_slice()],
            )
            .map_err(pg_err)?
            .is_some())
    }

    fn list(&self) -> io::Result<Vec<BlobInfo>> {
        let rows = self
            .conn()?
            .query(
                "SELECT id, codec, length(bytes) FROM blobs WHERE store = $1",
                &[&self.store],
            )
            .map_err(pg_err)?;
        rows.iter()
            .map(|r| {
                let id: Vec<u8> = r.get(0);
                let id = <[u8; 32]>::try_from(id.as_slice())
                    .map_err(|_| io_err("a blob id that is not 32 bytes"))?;
                Ok(BlobInfo {
                    id: BlobId(id),
                    codec: codec(r.get(1))?,
                    stored_size: r.get::<_, i32>(2).max(0) as u64,
                    place: format!("table blobs ({})", self.store),
                })
            })
            .collect()
    }

    fn describe(&self) -> String {
        match &self.pg {
            Ok(pg) => format!("the table blobs ({}) of {}", self.store, pg.describe),
            Err(e) => format!("the table blobs ({}): {e}", self.store),
        }
    }
}

impl PgStore {
    /// The mail kept as blob `id` (hex), decompressed.
    pub(super) fn mail_blob(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        let io = |source| StoreError::Io {
            path: format!("the table blobs (mails) of {}", self.describe).into(),
            source,
        };
        let blob = BlobId::parse_or_err(id).map_err(io)?;
        let row = self
            .conn()?
            .query_opt(
                "SELECT codec, bytes FROM blobs WHERE store = 'mails' AND id = $1",
                &[&blob.0.as_slice()],
            )
            .map_err(super::engine)?;
        let Some(row) = row else {
            return Err(io(io::Error::new(
                io::ErrorKind::NotFound,
                format!("the kept mail {id} is missing (`buildmail fsck` lists what is)"),
            )));
        };
        StoredBlob {
            codec: codec(row.get(0)).map_err(io)?,
            bytes: row.get(1),
        }
        .decode()
        .map_err(io)
    }
}
