//! The sled implementation of [`Store`]: one embedded database, one
//! process at a time.
//!
//! Trees (keys in brackets; values JSON unless said otherwise):
//!
//! * `builds` [src \0 dist \0 arch] → [`BuildRecord`]
//! * `history` [src \0 dist \0 arch \0 seq] → [`HistoryEntry`] (append-only)
//! * `mails` [the mail's identity] → [`MailRecord`] (the dedup record);
//!   the identity is the content hash (`inbound::source::content_id`,
//!   BLAKE3); records of earlier releases are keyed by the SHA-256 content
//!   hash, the same with its line ends as received, or the raw hash
//!   (`ingest::prepare::earlier_keys`)
//! * `msgids` [Message-ID] → the key of the first mail that carried it
//! * `log_index` [src \0 version \0 dist \0 arch \0 seq] → [`LogRef`]
//!   (the logs themselves are blobs beside the database: see
//!   [`crate::store::archive`])
//! * `log_msgids` [Message-ID of a log mail] → build key (reply threading)
//! * `quarantine` [id] → [`QuarantineEntry`]; `quarantine_raw` [id] → raw mail
//!   (none for a large one: a blob of the mail store, which the entry names)
//! * `unhandled` [SHA-256] → raw mail that is none of buildmail's kinds
//!   (empty for a large one: a blob of the mail store, named by the
//!   forward's `Carried::Blob`)
//! * `signatures` [primary fingerprint \0 creation time \0 SHA-256 of the
//!   signed bytes] → [`SignatureUse`]: every signature ever processed
//! * `jobs` [id] → [`Job`]
//! * `outbox` [id] → [`OutboundMail`]; `outbox_raw` [id] → the mail's bytes
//! * `replies_sent` [address \0 time \0 id] → empty (error-reply rate
//!   limits; every reply also under the address `*`, for the global cap)
//! * `uploads` [`.changes` name] → build key
//! * `bounces` [time \0 id] → empty (forwarding loop protection)
//! * `notices` [src \0 version \0 dist] → [`Notice`]
//! * `explain` [`BuildKey`] → [`ExplainTask`]: failed logs to explain
//! * `releases` suite → [`ReleaseSeen`]: the last Release `sync` merged
//! * `queue` [dist \0 arch \0 src] → [`QueueFacts`]: the builds in the
//!   needs-build queue ([`BuildRecord::in_queue`]) and what places them,
//!   kept by every commit that writes a build
//! * `by_state`, `counts`, `daily`, `maintainers`, `builder_logs`: what
//!   the status pages read ([`pages`])
//! * `meta`: `schema_version`; `last_id` and `last_quarantine_id`, the
//!   counters behind [`Store::generate_id`] and quarantine ids (small,
//!   dense numbers that people type); `unanswered`, the refusals nobody
//!   was told of
//!
//! sled admits one process at a time; [`SledStore::open`] queues on a lock
//! file (`buildmail.lock`) for up to `database.lock_timeout`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

mod commit;
pub mod export;
mod keys;
mod pages;

use crate::config::DatabaseConfig;
use crate::debian::people::Person;
use crate::model::state::State;
use crate::model::{
    BuildKey, BuildRecord, Claim, ExplainTask, HistoryEntry, Job, LogRef, MailRecord, Notice,
    OutboundMail, QuarantineEntry, QueueFacts, ReleaseSeen, SignatureUse,
};
use crate::store::blob::{BlobId, BlobStore};
use crate::store::blobs::Blobs;
use crate::store::queue_group::queue_group;
use crate::store::{
    BuilderSeen, Claimed, Commit, Committed, DayCounts, Maintained, StateCounts, Stats, Store,
    StoreError, SCHEMA_VERSION,
};

/// The sled database: one process at a time (a lock file beside it).
pub struct SledStore {
    db: sled::Db,
    path: PathBuf,
    builds: sled::Tree,
    history: sled::Tree,
    mails: sled::Tree,
    msgids: sled::Tree,
    log_index: sled::Tree,
    log_msgids: sled::Tree,
    quarantine: sled::Tree,
    quarantine_raw: sled::Tree,
    unhandled: sled::Tree,
    signatures: sled::Tree,
    jobs: sled::Tree,
    outbox: sled::Tree,
    outbox_raw: sled::Tree,
    replies_sent: sled::Tree,
    uploads: sled::Tree,
    bounces: sled::Tree,
    notices: sled::Tree,
    explain: sled::Tree,
    releases: sled::Tree,
    queue: sled::Tree,
    by_state: sled::Tree,
    counts: sled::Tree,
    daily: sled::Tree,
    maintainers: sled::Tree,
    builder_logs: sled::Tree,
    meta: sled::Tree,
    /// Where large quarantined and forwarded mails are kept (local, as
    /// sled is: [`Blobs::local`]).
    mail_blobs: std::sync::Arc<dyn BlobStore>,
    _lock: File,
}

fn corrupt(tree: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        tree,
        message: e.to_string(),
    }
}

fn to_json<T: Serialize>(tree: &'static str, v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| corrupt(tree, format!("cannot encode a record: {e}")))
}

fn from_json<T: for<'de> Deserialize<'de>>(tree: &'static str, b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(|e| corrupt(tree, e))
}

/// Takes an exclusive `flock` on `path` (created if missing), waiting up to
/// `timeout`; the lock lasts as long as the returned file.
fn lock_file(path: &Path, timeout: Duration) -> Result<File, StoreError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    wait_flock(&file, path, timeout)?;
    Ok(file)
}

/// The `meta` key of the last id [`Store::generate_id`] gave out.
const LAST_ID: &str = "last_id";

/// The `meta` key of the count of refusals not answered
/// ([`Stats::unanswered`]).
const UNANSWERED: &str = "unanswered";

/// The `meta` key of the last quarantine id (assigned in the commit).
pub(super) const LAST_QUARANTINE_ID: &str = "last_quarantine_id";

/// `meta` keys of the counts [`Store::stats`] reports, kept by every
/// commit that adds to their tree (counting a tree of millions of records
/// takes seconds; the status page asks often).
pub(super) const COUNT_MAILS: &str = "count_mails";
/// See [`COUNT_MAILS`].
pub(super) const COUNT_HISTORY: &str = "count_history";
/// See [`COUNT_MAILS`].
pub(super) const COUNT_UNHANDLED: &str = "count_unhandled";
/// `meta` key: the counts have been taken (once, for a database of an
/// earlier release) and are kept since.
const COUNTED: &str = "counted";

/// A counter in `meta` (0 when absent).
pub(super) fn meta_count(v: Option<&[u8]>) -> u64 {
    v.and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map_or(0, u64::from_be_bytes)
}

/// `meta` key: the `queue` index has been built.
const QUEUE_INDEXED: &str = "queue_indexed";

/// The prefix of the `meta` keys of each queue's length.
const QUEUE_LEN: &str = "queue_len\0";

/// The `meta` key of the length of `dist`/`arch`'s queue.
pub(super) fn queue_len_key_bytes(dist: &[u8], arch: &[u8]) -> Vec<u8> {
    [QUEUE_LEN.as_bytes(), dist, &[0], arch].concat()
}

/// The `queue` index key of a build: dist, arch, source (so that one
/// prefix scan lists one queue).
pub(super) fn queue_key(facts: &QueueFacts, key: &BuildKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.source.len() + key.dist.len() + key.arch.len() + 48);
    k.extend_from_slice(key.dist.as_bytes());
    k.push(0);
    k.extend_from_slice(key.arch.as_bytes());
    k.push(0);
    k.extend_from_slice(&queue_group(facts));
    k.extend_from_slice(key.source.as_bytes());
    k
}

/// The schema version `meta` records (`None`: a database just made);
/// a newer one than this buildmail's is refused.
fn schema_of(meta: &sled::Tree, path: &Path) -> Result<Option<u32>, StoreError> {
    let Some(v) = meta.get("schema_version")? else {
        return Ok(None);
    };
    let found = std::str::from_utf8(&v)
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .ok_or_else(|| corrupt("meta", "schema_version is not a number"))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(Some(found))
}

/// How long a Db of this process may take to let go of sled's lock.
const SLED_RELEASE: Duration = Duration::from_secs(30);

/// Opens sled at `path`, retrying with a growing pause while sled's own
/// lock on `<path>/db` is held, up to `timeout`. Only this process can
/// hold it (we hold `buildmail.lock`): a Db dropped a moment ago whose
/// background threads have not stopped yet, or a child forked by another
/// thread that still carries a copy of the file between fork and exec.
fn open_sled(path: &Path, cache: u64, timeout: Duration) -> Result<sled::Db, StoreError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match sled::Config::new().path(path).cache_capacity(cache).open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && start.elapsed() < timeout =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                return Err(StoreError::Locked {
                    path: path.join("db"),
                    waited: start.elapsed(),
                })
            }
            other => return Ok(other?),
        }
    }
}

/// Takes an exclusive `flock` on `file` (named `path` in errors), retrying
/// with a growing pause until `timeout`.
fn wait_flock(file: &File, path: &Path, timeout: Duration) -> Result<(), StoreError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        let got = crate::fsutil::try_flock(file).map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if got {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(StoreError::Locked {
                path: path.to_path_buf(),
                waited: start.elapsed(),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

impl SledStore {
    /// The mail kept as blob `id`, decompressed.
    fn mail_blob(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        let io = |source| StoreError::Io {
            path: self.mail_blobs.describe().into(),
            source,
        };
        let blob = BlobId::parse_or_err(id).map_err(io)?;
        let mut out = Vec::new();
        match self.mail_blobs.stream(&blob, &mut out).map_err(io)? {
            Some(_) => Ok(out),
            None => Err(io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("the kept mail {id} is missing (`buildmail fsck` lists what is)"),
            ))),
        }
    }
}

impl SledStore {
    /// Opens (creating if needed) the database, waiting up to
    /// `cfg.lock_timeout` for another process to release it.
    pub fn open(cfg: &DatabaseConfig) -> Result<SledStore, StoreError> {
        let path = cfg.path.clone();
        std::fs::create_dir_all(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let start = Instant::now();
        let lock = lock_file(&path.join("buildmail.lock"), cfg.lock_timeout)?;
        let db = open_sled(
            &path,
            cfg.cache_size,
            cfg.lock_timeout
                .saturating_sub(start.elapsed())
                .max(SLED_RELEASE),
        )?;
        let meta = db.open_tree("meta")?;
        if schema_of(&meta, &path)?.is_none() {
            meta.insert("schema_version", SCHEMA_VERSION.to_string().as_bytes())?;
        }
        // A database of an earlier release numbered with sled's generator:
        // the counters start above every id it gave out.
        let quarantine = db.open_tree("quarantine")?;
        if meta.get(LAST_ID)?.is_none() {
            meta.insert(LAST_ID, &db.generate_id()?.to_be_bytes())?;
        }
        if meta.get(LAST_QUARANTINE_ID)?.is_none() {
            let last = quarantine
                .last()?
                .and_then(|(k, _)| <[u8; 8]>::try_from(k.as_ref()).ok())
                .map_or(0, u64::from_be_bytes);
            meta.insert(LAST_QUARANTINE_ID, &last.to_be_bytes())?;
        }
        // The needs-build queue index (`queue`: each queued build's
        // `QueueFacts`), built once for a database of an earlier release
        // (which kept no index, only the keys, no lengths (3), or builds
        // known from mail only among the others (4)).
        let builds = db.open_tree("builds")?;
        let queue = db.open_tree("queue")?;
        if meta.get(QUEUE_INDEXED)?.as_deref() != Some(&[5][..]) {
            queue.clear()?;
            for kv in builds.iter() {
                let (_, v) = kv?;
                let r: BuildRecord = from_json("builds", &v)?;
                if r.in_queue() {
                    let facts = r.queue_facts();
                    queue.insert(queue_key(&facts, &r.key), to_json("queue", &facts)?)?;
                }
            }
            for kv in meta.scan_prefix(QUEUE_LEN).keys() {
                meta.remove(kv?)?;
            }
            let mut lens: std::collections::BTreeMap<Vec<u8>, u64> = Default::default();
            for k in queue.iter().keys() {
                let k = k?;
                let mut parts = k.splitn(3, |&b| b == 0);
                if let (Some(dist), Some(arch)) = (parts.next(), parts.next()) {
                    *lens.entry(queue_len_key_bytes(dist, arch)).or_default() += 1;
                }
            }
            for (k, n) in lens {
                meta.insert(k, &n.to_be_bytes())?;
            }
            meta.insert(QUEUE_INDEXED, &[5])?;
        }
        let mails = db.open_tree("mails")?;
        let history = db.open_tree("history")?;
        let unhandled = db.open_tree("unhandled")?;
        if meta.get(COUNTED)?.is_none() {
            for (key, tree) in [
                (COUNT_MAILS, &mails),
                (COUNT_HISTORY, &history),
                (COUNT_UNHANDLED, &unhandled),
            ] {
                meta.insert(key, &(tree.len() as u64).to_be_bytes())?;
            }
            meta.insert(COUNTED, &[1])?;
        }
        let store = SledStore {
            builds,
            queue,
            by_state: db.open_tree("by_state")?,
            counts: db.open_tree("counts")?,
            daily: db.open_tree("daily")?,
            maintainers: db.open_tree("maintainers")?,
            builder_logs: db.open_tree("builder_logs")?,
            history,
            mails,
            msgids: db.open_tree("msgids")?,
            log_index: db.open_tree("log_index")?,
            log_msgids: db.open_tree("log_msgids")?,
            quarantine,
            quarantine_raw: db.open_tree("quarantine_raw")?,
            unhandled,
            signatures: db.open_tree("signatures")?,
            jobs: db.open_tree("jobs")?,
            outbox: db.open_tree("outbox")?,
            outbox_raw: db.open_tree("outbox_raw")?,
            replies_sent: db.open_tree("replies_sent")?,
            uploads: db.open_tree("uploads")?,
            bounces: db.open_tree("bounces")?,
            notices: db.open_tree("notices")?,
            explain: db.open_tree("explain")?,
            releases: db.open_tree("releases")?,
            meta,
            db,
            path,
            mail_blobs: Blobs::local(cfg).mails,
            _lock: lock,
        };
        store.index_pages()?;
        Ok(store)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store for SledStore {
    /// Makes every commit so far durable (fsync).
    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// The dedup record of a mail with these bytes or this Message-ID.
    fn seen(&self, sha256: &str) -> Result<Option<MailRecord>, StoreError> {
        self.mails
            .get(sha256)?
            .map(|v| from_json("mails", &v))
            .transpose()
    }

    fn message_id_user(&self, message_id: &str) -> Result<Option<MailRecord>, StoreError> {
        let Some(sha) = self.msgids.get(message_id)? else {
            return Ok(None);
        };
        self.mails
            .get(sha)?
            .map(|v| from_json("mails", &v))
            .transpose()
    }

    /// One build's record.
    fn build(&self, key: &BuildKey) -> Result<Option<BuildRecord>, StoreError> {
        self.builds
            .get(keys::build(key))?
            .map(|v| from_json("builds", &v))
            .transpose()
    }

    /// Every build of a source package, ordered by dist and arch.
    fn builds_of(&self, source: &str) -> Result<Vec<BuildRecord>, StoreError> {
        let mut prefix = source.as_bytes().to_vec();
        prefix.push(0);
        self.builds
            .scan_prefix(prefix)
            .map(|kv| from_json("builds", &kv?.1))
            .collect()
    }

    /// Every build, ordered by source, dist, arch.
    fn all_builds(&self) -> Box<dyn Iterator<Item = Result<BuildRecord, StoreError>> + '_> {
        Box::new(self.builds.iter().map(|kv| from_json("builds", &kv?.1)))
    }

    /// A build's history, oldest first.
    fn history(&self, key: &BuildKey) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut prefix = keys::build(key);
        prefix.push(0);
        self.history
            .scan_prefix(prefix)
            .map(|kv| from_json("history", &kv?.1))
            .collect()
    }

    /// The build a log mail's Message-ID belongs to.
    fn build_for_log_message(&self, message_id: &str) -> Result<Option<BuildKey>, StoreError> {
        Ok(self
            .log_msgids
            .get(message_id)?
            .and_then(|v| keys::build_from(&v)))
    }

    /// Archived logs of a source package, oldest first.
    fn logs_of(&self, source: &str) -> Result<Vec<LogRef>, StoreError> {
        let mut prefix = source.as_bytes().to_vec();
        prefix.push(0);
        let mut v: Vec<LogRef> = self
            .log_index
            .scan_prefix(prefix)
            .map(|kv| from_json("log_index", &kv?.1))
            .collect::<Result<_, _>>()?;
        v.sort_by_key(|r| r.time);
        Ok(v)
    }

    fn log_refs(&self) -> Result<Vec<LogRef>, StoreError> {
        self.log_index
            .iter()
            .map(|kv| from_json("log_index", &kv?.1))
            .collect()
    }

    /// Quarantined mails, oldest first.
    fn quarantined(&self) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.quarantine
            .iter()
            .map(|kv| from_json("quarantine", &kv?.1))
            .collect()
    }

    /// One quarantined mail and its raw bytes (from the database or its file).
    fn quarantined_mail(&self, id: u64) -> Result<Option<(QuarantineEntry, Vec<u8>)>, StoreError> {
        let Some(v) = self.quarantine.get(id.to_be_bytes())? else {
            return Ok(None);
        };
        let entry: QuarantineEntry = from_json("quarantine", &v)?;
        let raw = match (&entry.blob, &entry.raw_file) {
            (Some(blob), _) => self.mail_blob(blob)?,
            (None, Some(p)) => std::fs::read(p).map_err(|source| StoreError::Io {
                path: p.clone(),
                source,
            })?,
            (None, None) => self
                .quarantine_raw
                .get(id.to_be_bytes())?
                .map(|v| v.to_vec())
                .ok_or_else(|| {
                    corrupt(
                        "quarantine_raw",
                        format!("the raw mail of #{id} is missing"),
                    )
                })?,
        };
        Ok(Some((entry, raw)))
    }

    fn delete_quarantined(&self, id: u64) -> Result<Option<QuarantineEntry>, StoreError> {
        use sled::Transactional;
        let removed = (&self.quarantine, &self.quarantine_raw)
            .transaction(|(q, raw)| {
                let v = q.remove(&id.to_be_bytes())?;
                raw.remove(&id.to_be_bytes())?;
                Ok(v)
            })
            .map_err(|e: sled::transaction::TransactionError<()>| match e {
                sled::transaction::TransactionError::Storage(e) => StoreError::from(e),
                sled::transaction::TransactionError::Abort(()) => {
                    corrupt("quarantine", "the removal was aborted")
                }
            })?;
        removed.map(|v| from_json("quarantine", &v)).transpose()
    }

    /// Every recorded signature, ordered by signer and time.
    fn signature_uses(&self) -> Result<Vec<SignatureUse>, StoreError> {
        self.signatures
            .iter()
            .map(|kv| from_json("signatures", &kv?.1))
            .collect()
    }

    /// Removes the replay records whose signed-bytes SHA-256 starts with
    /// `sha_prefix` (at least 8 hex digits), so that the signature may be
    /// used once more. Returns what was removed.
    fn forget_signature(&self, sha_prefix: &str) -> Result<Vec<SignatureUse>, StoreError> {
        let mut removed = Vec::new();
        if sha_prefix.len() < 8 {
            return Ok(removed);
        }
        let prefix = sha_prefix.to_ascii_lowercase();
        for u in self.signature_uses()? {
            if u.signed_sha256.starts_with(&prefix) {
                self.signatures.remove(keys::signature(&u))?;
                removed.push(u);
            }
        }
        Ok(removed)
    }

    /// Queued jobs, oldest first.
    fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.jobs
            .iter()
            .map(|kv| from_json("jobs", &kv?.1))
            .collect()
    }

    /// Mails waiting in the outbox, oldest first, without their bytes.
    fn outbox_mails(&self) -> Result<Vec<OutboundMail>, StoreError> {
        self.outbox
            .iter()
            .map(|kv| from_json("outbox", &kv?.1))
            .collect()
    }

    /// The bytes of an outbox mail (`None` if it is gone); a forward's
    /// own lines followed by the mail it carries.
    fn outbox_bytes(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(head) = self.outbox_raw.get(id.to_be_bytes())? else {
            return Ok(None);
        };
        let carries = match self.outbox.get(id.to_be_bytes())? {
            Some(v) => from_json::<OutboundMail>("outbox", &v)?.carries,
            None => None,
        };
        let original: Vec<u8> = match carries {
            None => return Ok(Some(head.to_vec())),
            Some(crate::model::Carried::Stored(sha256)) => {
                match self.unhandled.get(sha256.as_bytes())? {
                    Some(v) => v.to_vec(),
                    None => {
                        return Err(corrupt(
                            "unhandled",
                            format!(
                                "outbox mail {id} carries the mail {sha256}, which is not stored"
                            ),
                        ))
                    }
                }
            }
            Some(crate::model::Carried::Blob(blob)) => self.mail_blob(&blob)?,
            Some(crate::model::Carried::File(path)) => {
                std::fs::read(&path).map_err(|source| StoreError::Io { path, source })?
            }
        };
        let mut out = Vec::with_capacity(head.len() + original.len());
        out.extend_from_slice(&head);
        out.extend_from_slice(&original);
        Ok(Some(out))
    }

    /// Removes a delivered mail from the outbox.
    fn outbox_delivered(&self, id: u64) -> Result<(), StoreError> {
        (&self.outbox, &self.outbox_raw)
            .transaction(|(o, r)| {
                o.remove(&id.to_be_bytes())?;
                r.remove(&id.to_be_bytes())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StoreError::from(e),
                TransactionError::Abort(()) => corrupt("outbox", "transaction aborted"),
            })
    }

    /// Records a failed delivery attempt of an outbox mail: the next
    /// attempt waits `retry_after` doubled per earlier attempt (at most an
    /// hour); `dead` parks it (kept, listed, retried only on request).
    fn outbox_failed(
        &self,
        mail: &OutboundMail,
        error: &str,
        next_attempt: i64,
        dead: bool,
    ) -> Result<(), StoreError> {
        update_in(&self.outbox, "outbox", mail.id, |cur: &mut OutboundMail| {
            cur.attempts = cur.attempts.saturating_add(1);
            cur.last_error = Some(error.to_string());
            cur.next_attempt = next_attempt;
            cur.dead = dead;
            cur.claim = None;
        })
        .map(drop)
    }

    /// How many error replies went to `address` since `since` (Unix seconds).
    fn replies_sent_since(&self, address: &str, since: i64) -> Result<usize, StoreError> {
        let mut prefix = address.to_ascii_lowercase().into_bytes();
        prefix.push(0);
        let mut start = prefix.clone();
        start.extend_from_slice(&since.to_be_bytes());
        let mut n = 0;
        for kv in self.replies_sent.range(start..) {
            let (k, _) = kv?;
            if !k.starts_with(&prefix) {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    /// The build an upload's `.changes` file name belongs to.
    fn upload_build(&self, changes_name: &str) -> Result<Option<BuildKey>, StoreError> {
        Ok(self
            .uploads
            .get(changes_name.as_bytes())?
            .and_then(|v| keys::build_from(&v)))
    }

    /// How many mailer-daemon mails arrived since `since` (Unix seconds).
    fn bounces_since(&self, since: i64) -> Result<usize, StoreError> {
        let mut n = 0;
        for kv in self.bounces.range(since.to_be_bytes().to_vec()..) {
            kv?;
            n += 1;
        }
        Ok(n)
    }

    /// Build-failure notices not sent yet.
    fn pending_notices(&self) -> Result<Vec<Notice>, StoreError> {
        let mut out = Vec::new();
        for kv in self.notices.iter() {
            let n: Notice = from_json("notices", &kv?.1)?;
            if !n.sent {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// The builds of `dist`/`arch` in the needs-build queue (unordered).
    fn queued(&self, dist: &str, arch: &str) -> Result<Vec<BuildRecord>, StoreError> {
        let mut out = Vec::new();
        for facts in self.queue_facts(dist, arch)? {
            let key = BuildKey {
                dist: dist.to_string(),
                arch: arch.to_string(),
                source: facts.source,
            };
            if let Some(v) = self.builds.get(keys::build(&key))? {
                let r: BuildRecord = from_json("builds", &v)?;
                // The index is kept in the same commits; checked anyway.
                if r.in_queue() {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    /// How many builds the queue of `dist`/`arch` holds: its index's keys
    /// counted.
    /// Kept by every commit that moves a build in or out of the queue.
    fn queue_len(&self, dist: &str, arch: &str) -> Result<usize, StoreError> {
        let k = queue_len_key_bytes(dist.as_bytes(), arch.as_bytes());
        Ok(meta_count(self.meta.get(k)?.as_deref()) as usize)
    }

    /// The best-placed build of each group of `dist`/`arch`'s queue
    /// ([`queue_group`]): one seek per group, however long the queue.
    fn queue_heads(&self, dist: &str, arch: &str) -> Result<Vec<QueueFacts>, StoreError> {
        let mut prefix = Vec::new();
        prefix.extend_from_slice(dist.as_bytes());
        prefix.push(0);
        prefix.extend_from_slice(arch.as_bytes());
        prefix.push(0);
        let mut heads = Vec::new();
        let mut from = prefix.clone();
        while let Some((k, v)) = self.queue.range(from.clone()..).next().transpose()? {
            if !k.starts_with(&prefix) {
                break;
            }
            let facts: QueueFacts = from_json("queue", &v)?;
            // Past this group: its key part, then a byte above every name's.
            let mut next = prefix.clone();
            next.extend_from_slice(&queue_group(&facts));
            next.push(0xff);
            heads.push(facts);
            from = next;
        }
        Ok(heads)
    }

    /// What places each queued build of `dist`/`arch` (unordered): the
    /// index alone, no record read.
    fn queue_facts(&self, dist: &str, arch: &str) -> Result<Vec<QueueFacts>, StoreError> {
        let mut prefix = Vec::new();
        prefix.extend_from_slice(dist.as_bytes());
        prefix.push(0);
        prefix.extend_from_slice(arch.as_bytes());
        prefix.push(0);
        self.queue
            .scan_prefix(&prefix)
            .map(|kv| from_json("queue", &kv?.1))
            .collect()
    }

    /// The last Release of `suite` that `sync` merged.
    fn release_seen(&self, suite: &str) -> Result<Option<ReleaseSeen>, StoreError> {
        match self.releases.get(suite.as_bytes())? {
            Some(v) => Ok(Some(from_json("releases", &v)?)),
            None => Ok(None),
        }
    }

    /// Failed logs waiting to be explained.
    fn explain_queue(&self, limit: usize) -> Result<Vec<ExplainTask>, StoreError> {
        let mut out = Vec::new();
        for kv in self.explain.iter().take(limit) {
            out.push(from_json("explain", &kv?.1)?);
        }
        Ok(out)
    }

    /// Sets an outbox mail back to be delivered now (also a dead one).
    fn outbox_release(&self, id: u64) -> Result<(), StoreError> {
        update_in(&self.outbox, "outbox", id, |cur: &mut OutboundMail| {
            cur.claim = None;
        })
        .map(drop)
    }

    fn outbox_retry(&self, id: u64, now: i64) -> Result<bool, StoreError> {
        // A claim stays: a mail being delivered is not sent twice.
        update_in(&self.outbox, "outbox", id, |cur: &mut OutboundMail| {
            cur.dead = false;
            cur.next_attempt = now;
        })
    }

    fn describe(&self) -> String {
        format!("the sled database {}", self.path.display())
    }

    fn claim_job(
        &self,
        id: u64,
        claim: &Claim,
        stale: &dyn Fn(&Claim) -> bool,
    ) -> Result<Option<Claimed<Job>>, StoreError> {
        claim_in(&self.jobs, "jobs", id, claim, stale, |j: &mut Job| {
            &mut j.claim
        })
    }

    fn claim_outbox(
        &self,
        id: u64,
        claim: &Claim,
        stale: &dyn Fn(&Claim) -> bool,
    ) -> Result<Option<Claimed<OutboundMail>>, StoreError> {
        claim_in(
            &self.outbox,
            "outbox",
            id,
            claim,
            stale,
            |m: &mut OutboundMail| &mut m.claim,
        )
    }

    fn stats(&self) -> Result<Stats, StoreError> {
        let count = |key: &str| -> Result<usize, StoreError> {
            Ok(meta_count(self.meta.get(key)?.as_deref()) as usize)
        };
        let builds = self
            .pages_state_counts()?
            .iter()
            .flat_map(|c| c.counts.values())
            .sum::<u64>() as usize;
        Ok(Stats {
            mails: count(COUNT_MAILS)?,
            builds,
            history: count(COUNT_HISTORY)?,
            unhandled: count(COUNT_UNHANDLED)?,
            jobs: self.jobs.len(),
            outbox: self.outbox.len(),
            unanswered: self
                .meta
                .get(UNANSWERED)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
                .map_or(0, u64::from_be_bytes),
        })
    }

    /// A fresh id, unique and increasing across the database's life, and
    /// dense: 1, 2, 3... (sled's own generator jumps by a million per
    /// process). Made durable with the commit that uses it.
    fn generate_id(&self) -> Result<u64, StoreError> {
        let next = self.meta.update_and_fetch(LAST_ID, |old| {
            let last = old
                .and_then(|v| <[u8; 8]>::try_from(v).ok())
                .map_or(0, u64::from_be_bytes);
            Some(last.saturating_add(1).to_be_bytes().to_vec())
        })?;
        next.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| corrupt("meta", "last_id is not a number"))
    }

    /// [`Commit::below`] is counted before the transaction: sled's
    /// writers are one at a time (the process lock; a daemon's gate).
    fn commit(&self, c: &Commit<'_>) -> Result<Committed, StoreError> {
        for b in &c.below {
            if let Some(why) = b.reached_in(self)? {
                return Ok(Committed::Stale(why));
            }
        }
        self.transact(c)
    }

    fn builds_in(
        &self,
        dist: &str,
        arch: &str,
        state: State,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<BuildRecord>, StoreError> {
        self.pages_builds_in(dist, arch, state, after, limit)
    }

    fn state_counts(&self) -> Result<Vec<StateCounts>, StoreError> {
        self.pages_state_counts()
    }

    fn daily_counts(
        &self,
        dist: &str,
        arch: &str,
        since_day: i64,
    ) -> Result<Vec<DayCounts>, StoreError> {
        self.pages_daily_counts(dist, arch, since_day)
    }

    fn builder_logs(&self, builder: &str, limit: usize) -> Result<Vec<LogRef>, StoreError> {
        self.pages_builder_logs(builder, limit)
    }

    fn builders(&self) -> Result<Vec<BuilderSeen>, StoreError> {
        self.pages_builders()
    }

    fn maintained(&self, address: &str, limit: usize) -> Result<Vec<Maintained>, StoreError> {
        self.pages_maintained(address, limit)
    }

    fn maintainers(&self, text: &str, limit: usize) -> Result<Vec<Person>, StoreError> {
        self.pages_maintainers(text, limit)
    }

    fn sources_from(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        self.pages_sources_from(prefix, limit)
    }
}

/// Changes item `id` of `tree` by compare-and-swap, retrying when another
/// writer changed it meanwhile. `change` says what to make of the item as
/// it is now: `Some(r)` writes it back and returns `r`, `None` leaves it.
/// A missing item is `None` too (a mail delivered and removed meanwhile is
/// not brought back).
fn swap_in<T, R>(
    tree: &sled::Tree,
    name: &'static str,
    id: u64,
    mut change: impl FnMut(&mut T) -> Option<R>,
) -> Result<Option<(T, R)>, StoreError>
where
    T: Serialize + for<'de> Deserialize<'de>,
{
    let key = id.to_be_bytes();
    loop {
        let Some(old) = tree.get(key)? else {
            return Ok(None);
        };
        let mut item: T = from_json(name, &old)?;
        let Some(r) = change(&mut item) else {
            return Ok(None);
        };
        let new = to_json(name, &item)?;
        if tree.compare_and_swap(key, Some(old), Some(new))?.is_ok() {
            return Ok(Some((item, r)));
        }
    }
}

/// Changes item `id` of `tree` if it is still there; returns whether it was.
fn update_in<T>(
    tree: &sled::Tree,
    name: &'static str,
    id: u64,
    change: impl Fn(&mut T),
) -> Result<bool, StoreError>
where
    T: Serialize + for<'de> Deserialize<'de>,
{
    Ok(swap_in(tree, name, id, |item: &mut T| {
        change(item);
        Some(())
    })?
    .is_some())
}

/// Claims item `id` of `tree`: taken when unclaimed or when `stale` says
/// its claim may be taken over.
fn claim_in<T>(
    tree: &sled::Tree,
    name: &'static str,
    id: u64,
    claim: &Claim,
    stale: &dyn Fn(&Claim) -> bool,
    slot: impl Fn(&mut T) -> &mut Option<Claim>,
) -> Result<Option<Claimed<T>>, StoreError>
where
    T: Serialize + for<'de> Deserialize<'de>,
{
    let claimed = swap_in(tree, name, id, |item: &mut T| {
        let previous = slot(item).clone();
        if previous.as_ref().is_some_and(|p| !stale(p)) {
            return None;
        }
        *slot(item) = Some(claim.clone());
        Some(previous)
    })?;
    Ok(claimed.map(|(item, previous)| Claimed { item, previous }))
}
