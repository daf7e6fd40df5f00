//! Everything a sled database holds, read tree by tree for a copy to
//! another backend (`buildmail migrate --from-sled`): [`SledExport`]
//! opens the database for itself (refusing one in use), and gives each
//! tree's records in key order, decoded, with the parts of their sled
//! keys a copy needs to keep (the sequence numbers that order history,
//! logs, error replies and bounces). sled's key encodings stay here.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::{corrupt, from_json, LAST_ID, LAST_QUARANTINE_ID, UNANSWERED};
use crate::model::state::State;
use crate::model::{
    BuildKey, BuildRecord, ExplainTask, HistoryEntry, Job, LogRef, MailRecord, Notice,
    OutboundMail, QuarantineEntry, ReleaseSeen, SignatureUse,
};
use crate::store::StoreError;

/// A sled database opened to be copied: held (its lock file) for as long
/// as this lives, so that nothing writes it meanwhile.
pub struct SledExport {
    db: sled::Db,
    path: PathBuf,
    _lock: File,
}

/// The counters in sled's `meta` tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// The last id `generate_id` gave out (jobs, outbox mails).
    pub last_id: u64,
    /// The last quarantine id.
    pub last_quarantine_id: u64,
    /// Refusals nobody was told of.
    pub unanswered: u64,
}

/// One history line: its build, sled's sequence number (which orders a
/// build's history) and the entry.
pub type HistoryRow = (BuildKey, u64, HistoryEntry);

/// A quarantined mail and its raw bytes when the database holds them.
pub type QuarantineRow = (QuarantineEntry, Option<Vec<u8>>);

/// The pages' counts at the end of one day: suite, arch, day, per state.
pub type DailyRow = (String, String, i64, BTreeMap<State, u64>);

/// A records iterator of one tree.
pub type Rows<'a, T> = Box<dyn Iterator<Item = Result<T, StoreError>> + 'a>;

fn be_u64(tree: &'static str, b: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(b)
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt(tree, "a key or counter that is not 8 bytes"))
}

/// The last 8 bytes of a key (a sequence number written big-endian).
fn tail_u64(tree: &'static str, k: &[u8]) -> Result<u64, StoreError> {
    let start = k
        .len()
        .checked_sub(8)
        .ok_or_else(|| corrupt(tree, "a key too short for its sequence number"))?;
    be_u64(tree, &k[start..])
}

fn text(tree: &'static str, b: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(b.to_vec()).map_err(|_| corrupt(tree, "a key that is not UTF-8"))
}

fn build_key(tree: &'static str, b: &[u8]) -> Result<BuildKey, StoreError> {
    super::keys::build_from(b)
        .ok_or_else(|| corrupt(tree, "a build key without source, suite, arch"))
}

impl SledExport {
    /// Opens the sled database in `dir` for a copy. Refuses a directory
    /// that holds no sled database, one in use (a running `buildmail
    /// serve`, a command, a worker: stop them first) and one written by a
    /// newer buildmail.
    pub fn open(dir: &Path) -> Result<SledExport, StoreError> {
        if !dir.join("db").is_file() || !dir.join("conf").is_file() {
            return Err(StoreError::Schema(format!(
                "{} holds no sled database (no db and conf files): name the directory of `[database] path` of the sled farm",
                dir.display()
            )));
        }
        let lock_path = dir.join("buildmail.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| StoreError::Io {
                path: lock_path.clone(),
                source,
            })?;
        let got = crate::fsutil::try_flock(&lock).map_err(|source| StoreError::Io {
            path: lock_path.clone(),
            source,
        })?;
        let in_use = || {
            StoreError::Schema(format!(
                "the sled database {} is in use (its lock is held): stop `buildmail serve`, the worker and every command using it, then run the copy again",
                dir.display()
            ))
        };
        if !got {
            return Err(in_use());
        }
        let db = match sled::Config::new().path(dir).open() {
            Ok(db) => db,
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                return Err(in_use())
            }
            Err(e) => return Err(e.into()),
        };
        let export = SledExport {
            db,
            path: dir.to_path_buf(),
            _lock: lock,
        };
        super::schema_of(&export.tree("meta")?, dir)?;
        Ok(export)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }

    /// How many entries tree `name` holds (`builds`, `history`, `mails`,
    /// `log_index`, `quarantine_raw`, ...: the names in the sled module's
    /// notes).
    pub fn len(&self, name: &str) -> Result<u64, StoreError> {
        Ok(self.tree(name)?.len() as u64)
    }

    /// The values of tree `name`, decoded, with their keys.
    fn rows<T: DeserializeOwned + 'static>(
        &self,
        name: &'static str,
    ) -> Result<Rows<'static, (sled::IVec, T)>, StoreError> {
        let tree = self.tree(name)?;
        Ok(Box::new(tree.iter().map(move |kv| {
            let (k, v) = kv?;
            Ok((k, from_json(name, &v)?))
        })))
    }

    /// The keys of tree `name` (trees whose values are empty).
    fn keys(&self, name: &str) -> Result<Rows<'static, sled::IVec>, StoreError> {
        let tree = self.tree(name)?;
        Ok(Box::new(tree.iter().keys().map(|k| Ok(k?))))
    }

    /// The counters (`meta`); an earlier release's database without them
    /// gets them as [`super::SledStore::open`] would make them.
    pub fn counters(&self) -> Result<Counters, StoreError> {
        let meta = self.tree("meta")?;
        let get = |k: &str| -> Result<Option<u64>, StoreError> {
            meta.get(k)?.map(|v| be_u64("meta", &v)).transpose()
        };
        let last_quarantine_id = match get(LAST_QUARANTINE_ID)? {
            Some(n) => n,
            None => match self.tree("quarantine")?.last()? {
                Some((k, _)) => be_u64("quarantine", &k)?,
                None => 0,
            },
        };
        Ok(Counters {
            last_id: get(LAST_ID)?.unwrap_or(0),
            last_quarantine_id,
            unanswered: get(UNANSWERED)?.unwrap_or(0),
        })
    }

    /// Every build record (its `rev` as stored).
    pub fn builds(&self) -> Result<Rows<'static, BuildRecord>, StoreError> {
        Ok(Box::new(self.rows("builds")?.map(|r| r.map(|(_, b)| b))))
    }

    /// Every history line, each build's in order.
    pub fn history(&self) -> Result<Rows<'static, HistoryRow>, StoreError> {
        Ok(Box::new(self.rows("history")?.map(|r| {
            let (k, h): (_, HistoryEntry) = r?;
            let seq = tail_u64("history", &k)?;
            let key = build_key("history", &k[..k.len() - 9])?;
            Ok((key, seq, h))
        })))
    }

    /// Every dedup record, under its key as stored (earlier releases'
    /// keys are other hashes than the record's own).
    pub fn mails(&self) -> Result<Rows<'static, (String, MailRecord)>, StoreError> {
        Ok(Box::new(self.rows("mails")?.map(|r| {
            let (k, m) = r?;
            Ok((text("mails", &k)?, m))
        })))
    }

    /// Every Message-ID and the key of the first mail that carried it.
    pub fn msgids(&self) -> Result<Rows<'static, (String, String)>, StoreError> {
        let tree = self.tree("msgids")?;
        Ok(Box::new(tree.iter().map(|kv| {
            let (k, v) = kv?;
            Ok((text("msgids", &k)?, text("msgids", &v)?))
        })))
    }

    /// Every archived log's index entry and its sequence number (the
    /// order the logs came in).
    pub fn logs(&self) -> Result<Rows<'static, (u64, LogRef)>, StoreError> {
        Ok(Box::new(self.rows("log_index")?.map(|r| {
            let (k, l) = r?;
            Ok((tail_u64("log_index", &k)?, l))
        })))
    }

    /// Every log mail's Message-ID and its build (reply threading).
    pub fn log_msgids(&self) -> Result<Rows<'static, (String, BuildKey)>, StoreError> {
        let tree = self.tree("log_msgids")?;
        Ok(Box::new(tree.iter().map(|kv| {
            let (k, v) = kv?;
            Ok((text("log_msgids", &k)?, build_key("log_msgids", &v)?))
        })))
    }

    /// Every quarantined mail and its raw bytes when the database holds
    /// them (a large one is a file the entry names).
    pub fn quarantine(&self) -> Result<Rows<'static, QuarantineRow>, StoreError> {
        let raw = self.tree("quarantine_raw")?;
        Ok(Box::new(self.rows("quarantine")?.map(move |r| {
            let (k, q): (_, QuarantineEntry) = r?;
            let bytes = raw.get(&k)?.map(|v| v.to_vec());
            Ok((q, bytes))
        })))
    }

    /// Every unhandled mail kept to be forwarded, by its key.
    pub fn unhandled(&self) -> Result<Rows<'static, (String, Vec<u8>)>, StoreError> {
        let tree = self.tree("unhandled")?;
        Ok(Box::new(tree.iter().map(|kv| {
            let (k, v) = kv?;
            Ok((text("unhandled", &k)?, v.to_vec()))
        })))
    }

    /// Every signature's replay record.
    pub fn signatures(&self) -> Result<Rows<'static, SignatureUse>, StoreError> {
        Ok(Box::new(
            self.rows("signatures")?.map(|r| r.map(|(_, s)| s)),
        ))
    }

    /// Every queued job.
    pub fn jobs(&self) -> Result<Rows<'static, Job>, StoreError> {
        Ok(Box::new(self.rows("jobs")?.map(|r| r.map(|(_, j)| j))))
    }

    /// Every outbox mail and its bytes (a forward's own lines; the mail
    /// it carries is in `unhandled` or a file).
    pub fn outbox(&self) -> Result<Rows<'static, (OutboundMail, Vec<u8>)>, StoreError> {
        let raw = self.tree("outbox_raw")?;
        Ok(Box::new(self.rows("outbox")?.map(move |r| {
            let (k, m): (_, OutboundMail) = r?;
            let bytes = raw.get(&k)?.ok_or_else(|| {
                corrupt(
                    "outbox_raw",
                    format!("the bytes of outbox mail {} are missing", m.id),
                )
            })?;
            Ok((m, bytes.to_vec()))
        })))
    }

    /// Every error reply sent: address (lower case, or `*`), time and
    /// sled's id of the entry.
    pub fn replies_sent(&self) -> Result<Rows<'static, (String, i64, u64)>, StoreError> {
        Ok(Box::new(self.keys("replies_sent")?.map(|k| {
            let k = k?;
            let bad = || corrupt("replies_sent", "a key without address, time and id");
            let cut = k.len().checked_sub(18).ok_or_else(bad)?;
            let address = text("replies_sent", &k[..cut])?;
            let time = be_u64("replies_sent", &k[cut + 1..cut + 9])? as i64;
            Ok((address, time, tail_u64("replies_sent", &k)?))
        })))
    }

    /// Every upload's `.changes` name and its build.
    pub fn uploads(&self) -> Result<Rows<'static, (String, BuildKey)>, StoreError> {
        let tree = self.tree("uploads")?;
        Ok(Box::new(tree.iter().map(|kv| {
            let (k, v) = kv?;
            Ok((text("uploads", &k)?, build_key("uploads", &v)?))
        })))
    }

    /// Every mailer-daemon mail seen: its time and sled's id of the entry.
    pub fn bounces(&self) -> Result<Rows<'static, (i64, u64)>, StoreError> {
        Ok(Box::new(self.keys("bounces")?.map(|k| {
            let k = k?;
            let time = be_u64("bounces", k.get(..8).unwrap_or_default())? as i64;
            Ok((time, tail_u64("bounces", &k)?))
        })))
    }

    /// Every build-failure notice.
    pub fn notices(&self) -> Result<Rows<'static, Notice>, StoreError> {
        Ok(Box::new(self.rows("notices")?.map(|r| r.map(|(_, n)| n))))
    }

    /// Every failed log waiting to be explained.
    pub fn explain(&self) -> Result<Rows<'static, ExplainTask>, StoreError> {
        Ok(Box::new(self.rows("explain")?.map(|r| r.map(|(_, t)| t))))
    }

    /// Every suite's last merged Release.
    pub fn releases(&self) -> Result<Rows<'static, ReleaseSeen>, StoreError> {
        Ok(Box::new(self.rows("releases")?.map(|r| r.map(|(_, s)| s))))
    }

    /// The status pages' counts at the end of each day: suite, arch, day
    /// (days since the epoch), counts per state.
    pub fn daily(&self) -> Result<Rows<'static, DailyRow>, StoreError> {
        Ok(Box::new(self.rows("daily")?.map(|r| {
            let (k, counts) = r?;
            let bad = || corrupt("daily", "a key without suite, arch and day");
            let cut = k.len().checked_sub(9).ok_or_else(bad)?;
            let mut parts = k[..cut].splitn(2, |&b| b == 0);
            let (Some(dist), Some(arch)) = (parts.next(), parts.next()) else {
                return Err(bad());
            };
            let day = be_u64("daily", &k[cut + 1..])? as i64;
            Ok((text("daily", dist)?, text("daily", arch)?, day, counts))
        })))
    }

    /// How many (suite, arch, state) counts the pages' `counts` tree holds.
    pub fn state_count_rows(&self) -> Result<u64, StoreError> {
        let mut n = 0;
        for r in self.rows::<BTreeMap<State, u64>>("counts")? {
            n += r?.1.len() as u64;
        }
        Ok(n)
    }
}
