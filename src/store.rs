//! The durable store: an embedded sled database.
//!
//! Trees (keys in brackets):
//!
//! * `builds` [src \0 dist \0 arch] → [`BuildRecord`] (JSON)
//! * `history` [src \0 dist \0 arch \0 seq] → [`HistoryEntry`] (append-only)
//! * `mails` [SHA-256 of the raw mail] → [`MailRecord`] (the dedup record)
//! * `msgids` [Message-ID] → SHA-256 of the mail that carried it
//! * `log_index` [src \0 version \0 dist \0 arch \0 seq] → [`LogRef`]
//!   (the logs themselves are files: see [`crate::archive`])
//! * `log_msgids` [Message-ID of a log mail] → build key (for reply threading)
//! * `quarantine` [id] → [`QuarantineEntry`]; `quarantine_raw` [id] → raw mail
//! * `unhandled` [SHA-256] → raw mail that is none of buildmail's kinds,
//!   kept until it can be forwarded
//! * `signatures` [primary fingerprint \0 creation time \0 SHA-256 of the
//!   signed bytes] → [`SignatureUse`]: every signature ever processed, also
//!   refused ones, so that none can be used twice
//! * `meta`: `schema_version`
//!
//! Every ingested mail is one transaction over these trees ([`Store::commit`]);
//! the dedup record is checked inside it, so a replayed mail changes nothing.
//! A commit is durable only after [`Store::flush`].

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::config::DatabaseConfig;
use crate::explain::Explanation;
use crate::sbuild::Status;
use crate::state::State;

/// The schema this buildmail writes. Opening a database with a newer one fails.
pub const SCHEMA_VERSION: u32 = 1;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error (I/O, corruption).
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    /// Another process held the database for longer than the lock timeout.
    #[error("the database {path} is in use by another buildmail process; waited {waited:?} (raise `database.lock_timeout` or retry later)")]
    Locked {
        /// The database.
        path: PathBuf,
        /// How long buildmail waited.
        waited: Duration,
    },
    /// The database was written by a newer buildmail.
    #[error("the database {path} has schema version {found}, newer than the {supported} this buildmail understands; upgrade buildmail (or point `database.path` elsewhere)")]
    NewerSchema {
        /// The database.
        path: PathBuf,
        /// Its schema version.
        found: u32,
        /// Ours.
        supported: u32,
    },
    /// A stored value could not be decoded.
    #[error("corrupt record in tree {tree}: {message}")]
    Corrupt {
        /// The tree.
        tree: &'static str,
        /// What failed.
        message: String,
    },
    /// A file next to the database could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A build's identity: (distribution, architecture, source package).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BuildKey {
    /// Distribution (suite).
    pub dist: String,
    /// Architecture.
    pub arch: String,
    /// Source package.
    pub source: String,
}

impl BuildKey {
    /// The sled key: `src \0 dist \0 arch` (source first, so all builds of a
    /// package are one prefix scan).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.source.len() + self.dist.len() + self.arch.len() + 2);
        k.extend_from_slice(self.source.as_bytes());
        k.push(0);
        k.extend_from_slice(self.dist.as_bytes());
        k.push(0);
        k.extend_from_slice(self.arch.as_bytes());
        k
    }

    /// Decodes [`BuildKey::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Option<BuildKey> {
        let mut it = b.split(|&c| c == 0);
        let source = String::from_utf8(it.next()?.to_vec()).ok()?;
        let dist = String::from_utf8(it.next()?.to_vec()).ok()?;
        let arch = String::from_utf8(it.next()?.to_vec()).ok()?;
        Some(BuildKey { dist, arch, source })
    }
}

impl std::fmt::Display for BuildKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.dist, self.arch, self.source)
    }
}

/// A build's current state, like one `wanna-build --info` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// Which build.
    pub key: BuildKey,
    /// Current version (binNMU suffix included).
    pub version: String,
    /// Current state.
    pub state: State,
    /// The state before the last change.
    pub previous_state: Option<State>,
    /// When the state last changed (Unix seconds).
    pub state_change: i64,
    /// Archive (from `(archive/dist)` subjects), if known.
    pub archive: Option<String>,
    /// Status of the last log.
    pub last_status: Option<Status>,
    /// Fail-stage of the last failed log.
    pub fail_stage: Option<String>,
    /// Builder host of the last log.
    pub builder: Option<String>,
    /// Message-ID of the last log mail.
    pub last_log_message_id: Option<String>,
    /// Archived log of the last log mail (SHA-256, hex).
    pub last_log: Option<String>,
    /// Why the last build failed.
    pub explanation: Option<Explanation>,
    /// `Build needed` of the last log, seconds.
    pub build_duration: Option<u64>,
    /// The unsigned `.changes` of the last successful build.
    pub changes: Option<String>,
    /// Disagreements between subject and log, and similar remarks.
    pub notes: Vec<String>,
    /// Why the build failed, as an admin's `fail` gave it (bugs appended by
    /// `fail (see #NNN)`).
    #[serde(default)]
    pub failed_reason: Option<String>,
    /// The dependencies a Dep-Wait build waits for.
    #[serde(default)]
    pub depends: Option<String>,
    /// Queue priority given by `give-back <priority>`.
    #[serde(default)]
    pub priority: Option<i64>,
    /// The upload asked for by the last signed `.changes`.
    #[serde(default)]
    pub upload: Option<UploadRecord>,
    /// The output of the last failed upload (cleared when an upload succeeds).
    #[serde(default)]
    pub upload_log: Option<String>,
    /// A queued effect (a [`Job`] id) not carried out yet.
    #[serde(default)]
    pub pending_job: Option<u64>,
}

/// The upload a verified signed `.changes` asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// The signed `.changes` exactly as it was signed (clearsigned block),
    /// or its text for a PGP/MIME-signed one.
    pub signed_changes: String,
    /// The parsed `.changes`.
    pub changes: crate::changes::Changes,
    /// The name it is written under in the queue
    /// (`<src>_<ver-without-epoch>_<arch>.changes`).
    pub changes_name: String,
    /// The queue directory it goes to.
    pub queue_dir: PathBuf,
    /// Primary key fingerprint of the signer.
    pub signer: String,
    /// When it was accepted (Unix seconds).
    pub time: i64,
}

/// An effect committed with the mail that asked for it and carried out
/// afterwards, idempotently (design §1: workers finish what a crash left).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Job id (unique across the database's life).
    pub id: u64,
    /// The build.
    pub key: BuildKey,
    /// The build's version when the job was queued.
    pub version: String,
    /// What to do.
    pub kind: JobKind,
    /// When it was queued (Unix seconds).
    pub created: i64,
    /// The mail that asked for it.
    pub message_id: Option<String>,
    /// Who signed that mail.
    pub signer: Option<String>,
    /// Where to send an error reply if the job fails.
    pub answer: Option<Answer>,
}

/// What a [`Job`] does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobKind {
    /// Copy the files and the signed `.changes` of the build's
    /// [`UploadRecord`] into the queue and run the upload command.
    Upload,
    /// Remove an upload's files and `.changes` from the queue (`upload-rem`).
    RemoveFromQueue {
        /// The queue directory.
        queue_dir: PathBuf,
        /// File names (the `.changes` last).
        files: Vec<String>,
    },
    /// Remove a build's files from the build directory (`purge`).
    Purge {
        /// The build directory.
        build_dir: PathBuf,
        /// File names (from the build's `.changes`).
        files: Vec<String>,
        /// Also every file whose name starts with this
        /// (`<src>_<ver-without-epoch>_`: sbuild's `.changes`, `.buildinfo`
        /// and `.build` log, and the packages named after the source).
        #[serde(default)]
        prefix: String,
    },
}

/// Where and how to answer a mail (the facts an error reply needs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The address to answer (Reply-To, else From).
    pub to: String,
    /// The subject of the mail answered.
    pub subject: String,
    /// Its Message-ID.
    pub message_id: Option<String>,
    /// Its References (oldest first).
    pub references: Vec<String>,
    /// Its text, for quoting.
    pub quoted: String,
}

/// A build-failure notification for one version of a package, collecting
/// the architectures that failed until its quiet period is over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Source package.
    pub source: String,
    /// Version.
    pub version: String,
    /// Distribution.
    pub dist: String,
    /// The architectures that failed, in the order they did.
    pub arches: Vec<String>,
    /// When it is sent (Unix seconds): the first failure plus the quiet
    /// period.
    pub due: i64,
    /// Sent already: later failures of this version add nothing.
    pub sent: bool,
}

impl Notice {
    /// The key in the `notices` tree.
    pub fn key(source: &str, version: &str, dist: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(source.len() + version.len() + dist.len() + 2);
        for (i, part) in [source, version, dist].iter().enumerate() {
            if i > 0 {
                k.push(0);
            }
            k.extend_from_slice(part.as_bytes());
        }
        k
    }
}

/// A mail waiting in the outbox. The bytes are in the `outbox_raw` tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMail {
    /// Outbox id.
    pub id: u64,
    /// What kind of mail (`error-reply`, ...).
    pub kind: String,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// Its Message-ID.
    pub message_id: String,
    /// Its subject.
    pub subject: String,
    /// When it was queued (Unix seconds).
    pub queued: i64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// Not before this time (Unix seconds) is delivery tried again.
    #[serde(default)]
    pub next_attempt: i64,
    /// Undelivered past `outbox.max_age`: parked, retried only on request.
    #[serde(default)]
    pub dead: bool,
}

/// One line of a build's append-only history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When (Unix seconds).
    pub time: i64,
    /// The state before (`None`: the build was new).
    pub from: Option<State>,
    /// The state after (equal to `from` when only recorded).
    pub to: Option<State>,
    /// The version the event concerned.
    pub version: String,
    /// What happened (`log:successful`, ...).
    pub event: String,
    /// The Message-ID of the mail that caused it.
    pub message_id: Option<String>,
    /// The signer (primary key fingerprint), for signed commands.
    pub signer: Option<String>,
    /// Why the state did or did not move.
    pub note: Option<String>,
}

/// The dedup record of one ingested mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailRecord {
    /// SHA-256 of the raw bytes (hex).
    pub sha256: String,
    /// Message-ID, if the mail had one.
    pub message_id: Option<String>,
    /// When it was ingested (Unix seconds).
    pub received: i64,
    /// What kind of mail it was (`log`, `other`, `quarantined`).
    pub kind: String,
    /// What buildmail did with it, in words.
    pub outcome: String,
    /// The build it concerned.
    pub build: Option<BuildKey>,
}

/// A reference to an archived log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRef {
    /// The archive id: SHA-256 of the mail that carried the log (hex).
    pub id: String,
    /// The build.
    pub key: BuildKey,
    /// The version built.
    pub version: String,
    /// When it was ingested (Unix seconds).
    pub time: i64,
    /// The log mail's Message-ID.
    pub message_id: Option<String>,
    /// Uncompressed size in bytes.
    pub size: u64,
    /// Compressed size in bytes.
    pub compressed_size: u64,
    /// The status of that build.
    pub status: Option<Status>,
}

/// A mail that could not be processed, kept with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    /// Quarantine id.
    pub id: u64,
    /// When (Unix seconds).
    pub time: i64,
    /// Why, in words an admin can act on.
    pub reason: String,
    /// Message-ID, if any could be read.
    pub message_id: Option<String>,
    /// Subject, if any could be read.
    pub subject: Option<String>,
    /// From, if any could be read.
    pub from: Option<String>,
    /// Size of the raw mail.
    pub size: u64,
    /// SHA-256 of the raw mail (hex).
    pub sha256: String,
    /// For mails too large for the database: the file holding the raw mail.
    pub raw_file: Option<PathBuf>,
}

/// The first use of a signature: the replay record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureUse {
    /// Primary key fingerprint of the signer.
    pub fingerprint: String,
    /// Signature creation time (Unix seconds).
    pub created: i64,
    /// SHA-256 (hex) of the bytes the signature covers.
    pub signed_sha256: String,
    /// When buildmail first saw it (Unix seconds).
    pub first_seen: i64,
    /// The Message-ID of the mail that carried it.
    pub message_id: Option<String>,
    /// What buildmail did with it, in words (also when it refused it).
    pub outcome: String,
}

impl SignatureUse {
    /// The key in the `signatures` tree.
    pub fn key(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.fingerprint.len() + self.signed_sha256.len() + 10);
        k.extend_from_slice(self.fingerprint.as_bytes());
        k.push(0);
        k.extend_from_slice(&self.created.to_be_bytes());
        k.push(0);
        k.extend_from_slice(self.signed_sha256.as_bytes());
        k
    }
}

/// Everything one mail changes, committed in one transaction.
#[derive(Debug, Default)]
pub struct Commit<'a> {
    /// The dedup record (always present).
    pub mail: Option<MailRecord>,
    /// The build's new record.
    pub build: Option<BuildRecord>,
    /// A history line for that build.
    pub history: Option<HistoryEntry>,
    /// An archived log (already written to the archive) to index.
    pub log: Option<LogRef>,
    /// A log mail's Message-ID, for threading replies to the build.
    pub log_message_id: Option<(String, BuildKey)>,
    /// A quarantine entry (its `id` is assigned here) and the raw mail (empty
    /// when it lives in `raw_file`).
    pub quarantine: Option<(QuarantineEntry, &'a [u8])>,
    /// A mail of no known kind, kept to be forwarded.
    pub unhandled: Option<&'a [u8]>,
    /// A signature used by this mail: recorded, and the whole commit is
    /// refused ([`Committed::Replay`]) if it was used before.
    pub signature: Option<SignatureUse>,
    /// Effects to carry out after the commit (ids assigned by the caller
    /// with [`Store::generate_id`]).
    pub jobs: Vec<Job>,
    /// A job carried out: removed from the queue.
    pub finished_job: Option<u64>,
    /// Mails to send, with their bytes.
    pub outbox: Vec<(OutboundMail, Vec<u8>)>,
    /// An error reply went to this address (for the rate limit).
    pub reply_sent: Option<String>,
    /// An upload's `.changes` name and its build (to match archive mails).
    pub upload_name: Option<(String, BuildKey)>,
    /// A mailer-daemon mail was seen (for the forwarding loop protection).
    pub bounce: bool,
    /// A build failed: add its arch to the version's notice (created with
    /// this due time if there is none).
    pub notice: Option<Notice>,
    /// A notice was sent: mark it so.
    pub notice_sent: Option<Vec<u8>>,
}

/// What [`Store::commit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// Written (not yet durable: call [`Store::flush`]). Carries the
    /// quarantine id when a quarantine entry was written.
    Written {
        /// Quarantine id assigned, if any.
        quarantine_id: Option<u64>,
    },
    /// The mail (same bytes or same Message-ID) was ingested before.
    Duplicate(String),
    /// The mail's signature was used before: nothing was written.
    Replay(SignatureUse),
}

/// Why the commit transaction stopped without writing anything.
enum Stop {
    /// An answer for the caller (duplicate, replay).
    Done(Committed),
    /// A stored record does not decode.
    Corrupt { tree: &'static str, message: String },
}

/// The open database.
pub struct Store {
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
    _lock: File,
}

fn corrupt(tree: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        tree,
        message: e.to_string(),
    }
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising these plain structs to JSON cannot fail (no maps with
    // non-string keys, no custom serialisers).
    serde_json::to_vec(v).unwrap_or_default()
}

fn from_json<T: for<'de> Deserialize<'de>>(tree: &'static str, b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(|e| corrupt(tree, e))
}

/// Takes an exclusive `flock` on `path`, waiting up to `timeout`.
fn lock_file(path: &Path, timeout: Duration) -> Result<File, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io)?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        // SAFETY: flock on a valid, owned file descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(file);
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(io(err));
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

impl Store {
    /// Opens (creating if needed) the database, waiting up to
    /// `cfg.lock_timeout` for another process to release it.
    pub fn open(cfg: &DatabaseConfig) -> Result<Store, StoreError> {
        let path = cfg.path.clone();
        std::fs::create_dir_all(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let start = Instant::now();
        let lock = lock_file(&path.join("buildmail.lock"), cfg.lock_timeout)?;
        // sled takes a lock of its own, which a Db dropped a moment ago in
        // this process may still hold while its background thread stops:
        // wait for it within the same timeout.
        let mut pause = Duration::from_millis(1);
        let db = loop {
            match sled::Config::new()
                .path(&path)
                .cache_capacity(cfg.cache_size)
                .open()
            {
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock")
                        && start.elapsed() < cfg.lock_timeout =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                other => break other?,
            }
        };
        let meta = db.open_tree("meta")?;
        match meta.get("schema_version")? {
            Some(v) => {
                let found = std::str::from_utf8(&v)
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok())
                    .ok_or_else(|| corrupt("meta", "schema_version is not a number"))?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema {
                        path,
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
            }
            None => {
                meta.insert("schema_version", SCHEMA_VERSION.to_string().as_bytes())?;
            }
        }
        Ok(Store {
            builds: db.open_tree("builds")?,
            history: db.open_tree("history")?,
            mails: db.open_tree("mails")?,
            msgids: db.open_tree("msgids")?,
            log_index: db.open_tree("log_index")?,
            log_msgids: db.open_tree("log_msgids")?,
            quarantine: db.open_tree("quarantine")?,
            quarantine_raw: db.open_tree("quarantine_raw")?,
            unhandled: db.open_tree("unhandled")?,
            signatures: db.open_tree("signatures")?,
            jobs: db.open_tree("jobs")?,
            outbox: db.open_tree("outbox")?,
            outbox_raw: db.open_tree("outbox_raw")?,
            replies_sent: db.open_tree("replies_sent")?,
            uploads: db.open_tree("uploads")?,
            bounces: db.open_tree("bounces")?,
            notices: db.open_tree("notices")?,
            db,
            path,
            _lock: lock,
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes every commit so far durable (fsync).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// The dedup record of a mail with these bytes or this Message-ID.
    pub fn seen(
        &self,
        sha256: &str,
        message_id: Option<&str>,
    ) -> Result<Option<MailRecord>, StoreError> {
        if let Some(v) = self.mails.get(sha256)? {
            return Ok(Some(from_json("mails", &v)?));
        }
        if let Some(mid) = message_id {
            if let Some(sha) = self.msgids.get(mid)? {
                if let Some(v) = self.mails.get(sha)? {
                    return Ok(Some(from_json("mails", &v)?));
                }
            }
        }
        Ok(None)
    }

    /// The number of ingested mails.
    pub fn mail_count(&self) -> usize {
        self.mails.len()
    }

    /// One build's record.
    pub fn build(&self, key: &BuildKey) -> Result<Option<BuildRecord>, StoreError> {
        self.builds
            .get(key.to_bytes())?
            .map(|v| from_json("builds", &v))
            .transpose()
    }

    /// Every build of a source package, ordered by dist and arch.
    pub fn builds_of(&self, source: &str) -> Result<Vec<BuildRecord>, StoreError> {
        let mut prefix = source.as_bytes().to_vec();
        prefix.push(0);
        self.builds
            .scan_prefix(prefix)
            .map(|kv| from_json("builds", &kv?.1))
            .collect()
    }

    /// Every build, ordered by source, dist, arch.
    pub fn all_builds(&self) -> impl Iterator<Item = Result<BuildRecord, StoreError>> + '_ {
        self.builds.iter().map(|kv| from_json("builds", &kv?.1))
    }

    /// A build's history, oldest first.
    pub fn history(&self, key: &BuildKey) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut prefix = key.to_bytes();
        prefix.push(0);
        self.history
            .scan_prefix(prefix)
            .map(|kv| from_json("history", &kv?.1))
            .collect()
    }

    /// The number of history entries of all builds.
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    /// The build a log mail's Message-ID belongs to.
    pub fn build_for_log_message(&self, message_id: &str) -> Result<Option<BuildKey>, StoreError> {
        Ok(self
            .log_msgids
            .get(message_id)?
            .and_then(|v| BuildKey::from_bytes(&v)))
    }

    /// Archived logs of a source package, oldest first.
    pub fn logs_of(&self, source: &str) -> Result<Vec<LogRef>, StoreError> {
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

    /// Quarantined mails, oldest first.
    pub fn quarantined(&self) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.quarantine
            .iter()
            .map(|kv| from_json("quarantine", &kv?.1))
            .collect()
    }

    /// One quarantined mail and its raw bytes (from the database or its file).
    pub fn quarantined_mail(
        &self,
        id: u64,
    ) -> Result<Option<(QuarantineEntry, Vec<u8>)>, StoreError> {
        let Some(v) = self.quarantine.get(id.to_be_bytes())? else {
            return Ok(None);
        };
        let entry: QuarantineEntry = from_json("quarantine", &v)?;
        let raw = match &entry.raw_file {
            Some(p) => std::fs::read(p).map_err(|source| StoreError::Io {
                path: p.clone(),
                source,
            })?,
            None => self
                .quarantine_raw
                .get(id.to_be_bytes())?
                .map(|v| v.to_vec())
                .unwrap_or_default(),
        };
        Ok(Some((entry, raw)))
    }

    /// The recorded use of a signature, if it was seen before.
    pub fn signature_use(&self, sig: &SignatureUse) -> Result<Option<SignatureUse>, StoreError> {
        self.signatures
            .get(sig.key())?
            .map(|v| from_json("signatures", &v))
            .transpose()
    }

    /// Every recorded signature, ordered by signer and time.
    pub fn signature_uses(&self) -> Result<Vec<SignatureUse>, StoreError> {
        self.signatures
            .iter()
            .map(|kv| from_json("signatures", &kv?.1))
            .collect()
    }

    /// Removes the replay records whose signed-bytes SHA-256 starts with
    /// `sha_prefix` (at least 8 hex digits), so that the signature may be
    /// used once more. Returns what was removed.
    pub fn forget_signature(&self, sha_prefix: &str) -> Result<Vec<SignatureUse>, StoreError> {
        let mut removed = Vec::new();
        if sha_prefix.len() < 8 {
            return Ok(removed);
        }
        let prefix = sha_prefix.to_ascii_lowercase();
        for u in self.signature_uses()? {
            if u.signed_sha256.starts_with(&prefix) {
                self.signatures.remove(u.key())?;
                removed.push(u);
            }
        }
        Ok(removed)
    }

    /// Queued jobs, oldest first.
    pub fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.jobs
            .iter()
            .map(|kv| from_json("jobs", &kv?.1))
            .collect()
    }

    /// Mails waiting in the outbox, oldest first, with their bytes.
    pub fn outbox(&self) -> Result<Vec<(OutboundMail, Vec<u8>)>, StoreError> {
        self.outbox_mails()?
            .into_iter()
            .map(|m| {
                let bytes = self.outbox_bytes(m.id)?;
                Ok((m, bytes))
            })
            .collect()
    }

    /// Mails waiting in the outbox, oldest first, without their bytes.
    pub fn outbox_mails(&self) -> Result<Vec<OutboundMail>, StoreError> {
        self.outbox
            .iter()
            .map(|kv| from_json("outbox", &kv?.1))
            .collect()
    }

    /// The bytes of an outbox mail (empty if it is gone).
    pub fn outbox_bytes(&self, id: u64) -> Result<Vec<u8>, StoreError> {
        Ok(self
            .outbox_raw
            .get(id.to_be_bytes())?
            .map(|b| b.to_vec())
            .unwrap_or_default())
    }

    /// Removes a delivered mail from the outbox.
    pub fn outbox_delivered(&self, id: u64) -> Result<(), StoreError> {
        (&self.outbox, &self.outbox_raw)
            .transaction(|(o, r)| {
                o.remove(&id.to_be_bytes())?;
                r.remove(&id.to_be_bytes())?;
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StoreError::Sled(e),
                TransactionError::Abort(()) => corrupt("outbox", "transaction aborted"),
            })
    }

    /// Records a failed delivery attempt of an outbox mail: the next
    /// attempt waits `retry_after` doubled per earlier attempt (at most an
    /// hour); `dead` parks it (kept, listed, retried only on request).
    pub fn outbox_failed(
        &self,
        mail: &OutboundMail,
        error: &str,
        next_attempt: i64,
        dead: bool,
    ) -> Result<(), StoreError> {
        let updated = OutboundMail {
            attempts: mail.attempts.saturating_add(1),
            last_error: Some(error.to_string()),
            next_attempt,
            dead,
            ..mail.clone()
        };
        self.outbox
            .insert(mail.id.to_be_bytes(), to_json(&updated))?;
        Ok(())
    }

    /// How many error replies went to `address` since `since` (Unix seconds).
    pub fn replies_sent_since(&self, address: &str, since: i64) -> Result<usize, StoreError> {
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
    pub fn upload_build(&self, changes_name: &str) -> Result<Option<BuildKey>, StoreError> {
        Ok(self
            .uploads
            .get(changes_name.as_bytes())?
            .and_then(|v| BuildKey::from_bytes(&v)))
    }

    /// How many mailer-daemon mails arrived since `since` (Unix seconds).
    pub fn bounces_since(&self, since: i64) -> Result<usize, StoreError> {
        let mut n = 0;
        for kv in self.bounces.range(since.to_be_bytes().to_vec()..) {
            kv?;
            n += 1;
        }
        Ok(n)
    }

    /// Build-failure notices not sent yet.
    pub fn pending_notices(&self) -> Result<Vec<Notice>, StoreError> {
        let mut out = Vec::new();
        for kv in self.notices.iter() {
            let n: Notice = from_json("notices", &kv?.1)?;
            if !n.sent {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// Sets an outbox mail back to be delivered now (also a dead one).
    pub fn outbox_retry(&self, id: u64, now: i64) -> Result<bool, StoreError> {
        let Some(v) = self.outbox.get(id.to_be_bytes())? else {
            return Ok(false);
        };
        let mail: OutboundMail = from_json("outbox", &v)?;
        let updated = OutboundMail {
            dead: false,
            next_attempt: now,
            ..mail
        };
        self.outbox.insert(id.to_be_bytes(), to_json(&updated))?;
        Ok(true)
    }

    /// The number of mails kept because buildmail has no use for them yet.
    pub fn unhandled_count(&self) -> usize {
        self.unhandled.len()
    }

    /// A fresh id, unique and increasing across the database's life.
    pub fn generate_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    /// Commits everything one mail changes in one transaction. The dedup
    /// check happens inside it: a mail seen before changes nothing.
    pub fn commit(&self, c: &Commit<'_>) -> Result<Committed, StoreError> {
        // More trees than sled's tuple impls take: the slice form.
        let trees: [&sled::Tree; 17] = [
            &self.mails,
            &self.msgids,
            &self.builds,
            &self.history,
            &self.log_index,
            &self.log_msgids,
            &self.quarantine,
            &self.quarantine_raw,
            &self.unhandled,
            &self.signatures,
            &self.jobs,
            &self.outbox,
            &self.outbox_raw,
            &self.replies_sent,
            &self.uploads,
            &self.bounces,
            &self.notices,
        ];
        let result = trees.as_slice().transaction(|t| {
                let [mails, msgids, builds, history, log_index, log_msgids, quarantine, quarantine_raw, unhandled, signatures, jobs, outbox, outbox_raw, replies_sent, uploads, bounces, notices] =
                    t.as_slice()
                else {
                    return Err(ConflictableTransactionError::Abort(Stop::Corrupt {
                        tree: "(transaction)",
                        message: "internal error: wrong number of trees in the transaction".into(),
                    }));
                };
                let mut quarantine_id = None;
                if let Some(sig) = &c.signature {
                    let k = sig.key();
                    if let Some(prev) = signatures.get(&k)? {
                        let prev: SignatureUse = serde_json::from_slice(&prev).map_err(|_| {
                            ConflictableTransactionError::Abort(Stop::Corrupt {
                                tree: "signatures",
                                message: "a signature record does not decode".into(),
                            })
                        })?;
                        return Err(ConflictableTransactionError::Abort(Stop::Done(Committed::Replay(prev))));
                    }
                    signatures.insert(k, to_json(sig))?;
                }
                if let Some(m) = &c.mail {
                    if mails.get(m.sha256.as_bytes())?.is_some() {
                        return Err(ConflictableTransactionError::Abort(Stop::Done(
                            Committed::Duplicate(format!(
                                "mail with SHA-256 {} was ingested before",
                                m.sha256
                            )),
                        )));
                    }
                    if let Some(mid) = &m.message_id {
                        if msgids.get(mid.as_bytes())?.is_some() {
                            return Err(ConflictableTransactionError::Abort(Stop::Done(
                                Committed::Duplicate(format!(
                                    "a mail with Message-ID <{mid}> was ingested before"
                                )),
                            )));
                        }
                        msgids.insert(mid.as_bytes(), m.sha256.as_bytes())?;
                    }
                    mails.insert(m.sha256.as_bytes(), to_json(m))?;
                }
                if let Some(b) = &c.build {
                    builds.insert(b.key.to_bytes(), to_json(b))?;
                }
                if let (Some(h), Some(b)) = (&c.history, &c.build) {
                    let mut k = b.key.to_bytes();
                    k.push(0);
                    k.extend_from_slice(&history.generate_id()?.to_be_bytes());
                    history.insert(k, to_json(h))?;
                }
                if let Some(r) = &c.log {
                    let mut k = Vec::new();
                    for part in [&r.key.source, &r.version, &r.key.dist, &r.key.arch] {
                        k.extend_from_slice(part.as_bytes());
                        k.push(0);
                    }
                    k.extend_from_slice(&log_index.generate_id()?.to_be_bytes());
                    log_index.insert(k, to_json(r))?;
                }
                if let Some((mid, key)) = &c.log_message_id {
                    log_msgids.insert(mid.as_bytes(), key.to_bytes())?;
                }
                if let Some((q, raw)) = &c.quarantine {
                    let id = quarantine.generate_id()?;
                    let entry = QuarantineEntry { id, ..q.clone() };
                    quarantine.insert(&id.to_be_bytes(), to_json(&entry))?;
                    if q.raw_file.is_none() {
                        quarantine_raw.insert(&id.to_be_bytes(), *raw)?;
                    }
                    quarantine_id = Some(id);
                }
                if let (Some(raw), Some(m)) = (c.unhandled, &c.mail) {
                    unhandled.insert(m.sha256.as_bytes(), raw)?;
                }
                for job in &c.jobs {
                    jobs.insert(&job.id.to_be_bytes(), to_json(job))?;
                }
                if let Some(id) = c.finished_job {
                    jobs.remove(&id.to_be_bytes())?;
                }
                for (mail, bytes) in &c.outbox {
                    outbox.insert(&mail.id.to_be_bytes(), to_json(mail))?;
                    outbox_raw.insert(&mail.id.to_be_bytes(), bytes.as_slice())?;
                }
                if let Some(addr) = &c.reply_sent {
                    replies_sent.insert(reply_key(addr, now(), outbox.generate_id()?), &[])?;
                }
                if let Some((name, key)) = &c.upload_name {
                    uploads.insert(name.as_bytes(), key.to_bytes())?;
                }
                if let Some(n) = &c.notice {
                    let k = Notice::key(&n.source, &n.version, &n.dist);
                    let merged = match notices.get(&k)? {
                        Some(v) => {
                            let mut cur: Notice = serde_json::from_slice(&v).map_err(|_| {
                                ConflictableTransactionError::Abort(Stop::Corrupt {
                                    tree: "notices",
                                    message: "a notice record does not decode".into(),
                                })
                            })?;
                            for a in &n.arches {
                                if !cur.sent && !cur.arches.contains(a) {
                                    cur.arches.push(a.clone());
                                }
                            }
                            cur
                        }
                        None => n.clone(),
                    };
                    notices.insert(k, to_json(&merged))?;
                }
                if let Some(k) = &c.notice_sent {
                    if let Some(v) = notices.get(k.as_slice())? {
                        if let Ok(mut n) = serde_json::from_slice::<Notice>(&v) {
                            n.sent = true;
                            notices.insert(k.as_slice(), to_json(&n))?;
                        }
                    }
                }
                if c.bounce {
                    let mut k = now().to_be_bytes().to_vec();
                    k.push(0);
                    k.extend_from_slice(&bounces.generate_id()?.to_be_bytes());
                    bounces.insert(k, &[])?;
                }
                Ok(quarantine_id)
            },
        );
        match result {
            Ok(quarantine_id) => Ok(Committed::Written { quarantine_id }),
            Err(TransactionError::Abort(Stop::Done(d))) => Ok(d),
            // A record that does not decode is an error, so that the mail is
            // not acknowledged (and lost) as if it had been handled.
            Err(TransactionError::Abort(Stop::Corrupt { tree, message })) => {
                Err(StoreError::Corrupt { tree, message })
            }
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }
}

/// The `replies_sent` key: lower-cased address, time, a unique id.
fn reply_key(address: &str, time: i64, id: u64) -> Vec<u8> {
    let mut k = address.to_ascii_lowercase().into_bytes();
    k.push(0);
    k.extend_from_slice(&time.to_be_bytes());
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Current time as Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
