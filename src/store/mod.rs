//! The durable store: the one interface the layers above use
//! ([`Store`]), and its implementations: [`sled::SledStore`] (embedded,
//! one host, the default) and [`pg::PgStore`] (PostgreSQL, several hosts
//! on one database: `[database] url`).
//!
//! What the store keeps: builds and their append-only history; the dedup
//! record of every ingested mail (by content hash and by Message-ID); the
//! index of archived logs by build (the logs themselves are blobs beside
//! the database, behind the [`blob::BlobStore`] seam: [`archive`]); the
//! Message-IDs of log mails (reply threading); quarantined mails and mails
//! of no known kind (a large one is a blob beside the database, named by
//! its record: [`blobs::Blobs`]); the replay record of every signature; queued jobs; the
//! outbox; error replies sent (rate limit); uploads by `.changes` name;
//! bounces (loop protection); build-failure notices.
//!
//! Invariants every implementation keeps:
//!
//! * Everything one mail changes is one [`Store::commit`]: the dedup record
//!   (keyed by the mail's content hash, not its Message-ID, which anyone
//!   can copy) and the signature's replay record are checked *inside* it,
//!   so a replayed mail or signature changes nothing
//!   ([`Committed::Duplicate`], [`Committed::Replay`]).
//! * A commit is durable only after [`Store::flush`]; a mail is
//!   acknowledged only after that.
//! * A stored record that does not decode is [`StoreError::Corrupt`], never
//!   a default value.
//! * Effects are claimed ([`Store::claim_job`], [`Store::claim_outbox`]) in
//!   a short commit and finished in another; the store is never held while
//!   an effect runs (see `crate::effects`).

pub mod archive;
pub mod blob;
pub mod blobs;
pub mod from_sled;
pub mod gate;
pub mod pg;
pub mod queue_group;
pub mod segments;
pub mod sled;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::DatabaseConfig;
use crate::debian::people::Person;
use crate::model::state::State;
use crate::model::{
    BuildKey, BuildRecord, Claim, ExplainTask, Explanation, HistoryEntry, Job, LogRef, MailRecord,
    Notice, OutboundMail, QuarantineEntry, QueueFacts, ReleaseSeen, SignatureUse,
};

/// The "address" under which [`Store::replies_sent_since`] counts the error
/// replies to every address (no real address is `*`).
pub const ALL_ADDRESSES: &str = "*";

/// The schema this buildmail writes. Opening a database with a newer one fails.
pub const SCHEMA_VERSION: u32 = 1;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage engine reported an error (I/O, corruption).
    #[error("database error: {0}")]
    Engine(String),
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
    /// The PostgreSQL database has no buildmail schema yet, or one this
    /// buildmail does not write (the message says which and what to run).
    #[error("{0}")]
    Schema(String),
    /// A stored value could not be decoded (or a value could not be encoded).
    #[error("corrupt record in {tree}: {message}")]
    Corrupt {
        /// The tree or table.
        tree: &'static str,
        /// What failed.
        message: String,
    },
    /// A check the mail needs could not be made now (a DKIM key's DNS
    /// lookup timed out): the mail is not acknowledged, so the MTA
    /// delivers it again later.
    #[error("{0}; the mail is not acknowledged: deliver it again later")]
    Deferred(String),
    /// Another writer kept changing what a read → decide → write read
    /// ([`Committed::Stale`] on every try, see [`retry`]): nothing was
    /// written; the mail is not acknowledged and comes again.
    #[error("{0}; nothing was written: try again")]
    Conflict(String),
    /// A file next to the database could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether retrying cannot help until an operator acts: the database
    /// or a directory beside it cannot be used at all (not a directory,
    /// permission denied, read-only file system), it has no schema yet,
    /// or it was written by a newer buildmail. A busy lock, a full disk or an engine hiccup is
    /// worth retrying.
    pub fn is_permanent(&self) -> bool {
        use std::io::ErrorKind;
        match self {
            StoreError::NewerSchema { .. } | StoreError::Schema(_) => true,
            StoreError::Io { source, .. } => matches!(
                source.kind(),
                ErrorKind::NotADirectory
                    | ErrorKind::PermissionDenied
                    | ErrorKind::ReadOnlyFilesystem
                    | ErrorKind::IsADirectory
                    // A blob store whose database has no schema yet.
                    | ErrorKind::Unsupported
            ),
            _ => false,
        }
    }
}

impl From<::sled::Error> for StoreError {
    fn from(e: ::sled::Error) -> StoreError {
        StoreError::Engine(e.to_string())
    }
}

/// Everything one mail (or one step of an effect) changes, committed in
/// one transaction.
#[derive(Debug, Default)]
pub struct Commit<'a> {
    /// The time of the commit (Unix seconds, from the caller's clock): keys
    /// of the rate-limit and bounce records.
    pub now: i64,
    /// The dedup record.
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
    /// when it is a blob, `QuarantineEntry::blob`, put and synced before).
    pub quarantine: Option<(QuarantineEntry, &'a [u8])>,
    /// A mail of no known kind, kept to be forwarded.
    pub unhandled: Option<&'a [u8]>,
    /// A signature used by this mail: recorded, and the whole commit is
    /// refused ([`Committed::Replay`]) if it was used before.
    pub signature: Option<SignatureUse>,
    /// Jobs to queue, or queued jobs to update (same id: replaced).
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
    /// A notice was sent: mark it so (the notice as read; its source,
    /// version and dist name it). When it is marked sent already (another
    /// writer sent it), nothing is written and the answer is
    /// [`Committed::Stale`].
    pub notice_sent: Option<Notice>,
    /// A failed log to explain after this commit (queued under its build:
    /// a later one for the same build replaces it).
    pub explain: Option<ExplainTask>,
    /// Explanations made: each fills in its build's record while the
    /// record still waits for that log's explanation, and leaves the queue.
    pub explained: Vec<(ExplainTask, Option<Explanation>)>,
    /// Builds `sync` changed, each with its history line.
    pub synced: Vec<(BuildRecord, HistoryEntry)>,
    /// The Release `sync` merged (written last, after every batch).
    pub release_seen: Option<ReleaseSeen>,
    /// The commit applies only while this build is in this state at this
    /// version (`take`); otherwise nothing is written and the answer is
    /// [`Committed::Stale`].
    pub expect: Option<(BuildKey, State, String)>,
    /// A quarantined mail processed again (`quarantine reprocess`): its
    /// entry and raw bytes are removed, and its dedup record (kind
    /// `quarantined`) gives way to this commit's.
    pub released_quarantine: Option<u64>,
    /// A refusal that was not answered (its sender had no reason to hear
    /// of it, or the error-reply limits were reached): counted in
    /// [`Stats::unanswered`].
    pub unanswered: bool,
    /// Counts the decision read and relies on staying under a limit (an
    /// error reply sent while fewer than the limit went out; a bounce
    /// forwarded while fewer than `forward.max_bounces` came): the commit
    /// is written only while each is still below its limit; otherwise
    /// nothing is written and the answer is [`Committed::Stale`], and the
    /// step decides again over the new count.
    pub below: Vec<Below>,
}

/// A count that must still be below `limit` when a commit is written
/// ([`Commit::below`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Below {
    /// What is counted.
    pub counter: Counter,
    /// Counted from this time on (Unix seconds).
    pub since: i64,
    /// The count must be below this.
    pub limit: usize,
}

/// Something [`Below`] counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counter {
    /// Error replies to an address ([`Store::replies_sent_since`];
    /// [`ALL_ADDRESSES`]: to anyone).
    Replies(String),
    /// Mailer-daemon mails ([`Store::bounces_since`]).
    Bounces,
}

impl Below {
    /// `None` while the count in `store` is below the limit, else what
    /// [`Committed::Stale`] says (for a store whose writers are one at a
    /// time, which may count before its transaction).
    pub fn reached_in(&self, store: &dyn Store) -> Result<Option<String>, StoreError> {
        let n = match &self.counter {
            Counter::Replies(address) => store.replies_sent_since(address, self.since)?,
            Counter::Bounces => store.bounces_since(self.since)?,
        };
        Ok((n >= self.limit).then(|| self.reached(n)))
    }

    /// What [`Committed::Stale`] says when the count reached the limit.
    pub fn reached(&self, n: usize) -> String {
        let what = match &self.counter {
            Counter::Replies(a) if a == ALL_ADDRESSES => "error replies to anyone".to_string(),
            Counter::Replies(a) => format!("error replies to {a}"),
            Counter::Bounces => "bounces".to_string(),
        };
        format!(
            "{n} {what} since {} reached the limit of {} meanwhile",
            crate::time::format_time(self.since),
            self.limit
        )
    }
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
    /// [`Commit::expect`] did not hold, or a build record changed since it
    /// was read (its revision moved on): nothing was written; what the
    /// build is now.
    Stale(String),
}

/// How many times [`retry`] reads and decides again before it gives up.
pub const RETRIES: usize = 32;

/// Runs a read → decide → write `step` again while it fails with
/// [`StoreError::Conflict`] (another writer changed what it read), up to
/// [`RETRIES`] times, with a short random pause between tries so that two
/// writers do not collide again in step. With one writer (sled; the
/// daemon's commit gate) a step never conflicts.
pub fn retry<T>(mut step: impl FnMut() -> Result<T, StoreError>) -> Result<T, StoreError> {
    let mut tries = 0;
    loop {
        match step() {
            Err(StoreError::Conflict(why)) if tries + 1 < RETRIES => {
                tries += 1;
                tracing::debug!("retrying after a write conflict ({why})");
                let jitter = u64::from(std::process::id()).wrapping_mul(tries as u64 + 7) % 5;
                std::thread::sleep(Duration::from_millis(1 + jitter * tries as u64));
            }
            other => return other,
        }
    }
}

/// What [`Committed::Stale`] says when a build record changed since it
/// was read (another writer committed in between): what it is now.
pub fn changed_since_read(now: Option<&BuildRecord>) -> String {
    match now {
        Some(b) => format!(
            "the build changed since it was read: it is {} {} now (revision {})",
            b.version, b.state, b.rev
        ),
        None => "the build changed since it was read: it is gone".into(),
    }
}

impl Committed {
    /// The answer of a commit made from records read just before (a
    /// read → decide → write step): [`Committed::Stale`] becomes
    /// [`StoreError::Conflict`], so that [`retry`] reads and decides
    /// again.
    pub fn or_conflict(self) -> Result<Committed, StoreError> {
        match self {
            Committed::Stale(why) => Err(StoreError::Conflict(why)),
            done => Ok(done),
        }
    }
}

/// Counts of what the store holds (for `check-config`, status pages, tests).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Ingested mails (dedup records).
    pub mails: usize,
    /// Builds.
    pub builds: usize,
    /// History lines of all builds.
    pub history: usize,
    /// Mails kept because they are of no known kind.
    pub unhandled: usize,
    /// Queued jobs.
    pub jobs: usize,
    /// Mails in the outbox.
    pub outbox: usize,
    /// Refused replies that were not answered (a stranger's, or past the
    /// error-reply limits): counted, never mailed.
    pub unanswered: u64,
}

/// The operations the rest of buildmail needs from a database. Every
/// integration test runs through this trait, so a second implementation is
/// tested by the same suite.
pub trait Store: Send + Sync {
    /// Where the data lives, in words (for messages).
    fn describe(&self) -> String;

    /// Makes every commit so far durable.
    fn flush(&self) -> Result<(), StoreError>;

    /// From now on, a commit needs to be durable only once
    /// [`Store::flush`] returned (`import`, which flushes every
    /// `database.import_flush_every` and at the end, and acknowledges
    /// nothing before): a store that makes each commit durable by itself
    /// may then share that work between them. sled is always so.
    fn defer_durability(&self) {}

    /// Whether this store keeps writers of one process apart by itself,
    /// so that they may read, decide and commit side by side: every
    /// read → decide → write is checked inside its commit (build
    /// revisions, [`Commit::expect`], [`Commit::below`], dedup and replay
    /// by key, claims) and a commit is durable when it returns. A daemon
    /// then lets its writers through the commit gate at once
    /// ([`gate::CommitGate`]). False (the default): one writer at a time.
    fn concurrent_writers(&self) -> bool {
        false
    }

    /// Everything one mail changes, atomically; the dedup check and the
    /// signature replay check happen inside. Every build record it writes
    /// ([`Commit::build`], [`Commit::synced`]) is written only while the
    /// stored record still has the revision the record carries
    /// ([`BuildRecord::rev`]; no record: 0), and is stored one revision
    /// on; otherwise nothing at all is written and the answer is
    /// [`Committed::Stale`]: another writer changed the build since it
    /// was read, and the caller reads and decides again ([`retry`]).
    fn commit(&self, c: &Commit<'_>) -> Result<Committed, StoreError>;

    /// A fresh id, unique and increasing across the database's life.
    fn generate_id(&self) -> Result<u64, StoreError>;

    /// The dedup record of the mail whose identity (content hash, or raw
    /// hash for records of earlier releases) is `sha256`.
    fn seen(&self, sha256: &str) -> Result<Option<MailRecord>, StoreError>;

    /// The dedup record of the first mail that carried `message_id`.
    fn message_id_user(&self, message_id: &str) -> Result<Option<MailRecord>, StoreError>;

    /// One build's record.
    fn build(&self, key: &BuildKey) -> Result<Option<BuildRecord>, StoreError>;

    /// Every build of a source package, ordered by dist and arch.
    fn builds_of(&self, source: &str) -> Result<Vec<BuildRecord>, StoreError>;

    /// Every build, ordered by source, dist, arch.
    fn all_builds(&self) -> Box<dyn Iterator<Item = Result<BuildRecord, StoreError>> + '_>;

    /// A build's history, oldest first.
    fn history(&self, key: &BuildKey) -> Result<Vec<HistoryEntry>, StoreError>;

    /// The build a log mail's Message-ID belongs to.
    fn build_for_log_message(&self, message_id: &str) -> Result<Option<BuildKey>, StoreError>;

    /// Archived logs of a source package, oldest first.
    fn logs_of(&self, source: &str) -> Result<Vec<LogRef>, StoreError>;

    /// Every archived log's record (for `fsck`), in no particular order.
    fn log_refs(&self) -> Result<Vec<LogRef>, StoreError>;

    /// Quarantined mails, oldest first.
    fn quarantined(&self) -> Result<Vec<QuarantineEntry>, StoreError>;

    /// One quarantined mail and its raw bytes (from the database, its blob,
    /// or the file an earlier release kept it in).
    fn quarantined_mail(&self, id: u64) -> Result<Option<(QuarantineEntry, Vec<u8>)>, StoreError>;

    /// Removes quarantined mail `id` (its entry and the raw bytes kept in
    /// the database; its blob stays, the caller removes an earlier
    /// release's `raw_file`). Its dedup record
    /// stays, so the same mail delivered again is still a duplicate.
    fn delete_quarantined(&self, id: u64) -> Result<Option<QuarantineEntry>, StoreError>;

    /// Every recorded signature, ordered by signer and time.
    fn signature_uses(&self) -> Result<Vec<SignatureUse>, StoreError>;

    /// Removes the replay records whose signed-bytes SHA-256 starts with
    /// `sha_prefix` (at least 8 hex digits), so that the signature may be
    /// used once more. Returns what was removed.
    fn forget_signature(&self, sha_prefix: &str) -> Result<Vec<SignatureUse>, StoreError>;

    /// Queued jobs, oldest first.
    fn jobs(&self) -> Result<Vec<Job>, StoreError>;

    /// Claims job `id` for `claim.owner`: atomically sets its claim when it
    /// has none, or when `stale` says the one it has may be taken over.
    /// Returns the job as claimed (its earlier claim, if any, in
    /// `previous`), or `None` when it is gone or claimed by someone live.
    fn claim_job(
        &self,
        id: u64,
        claim: &Claim,
        stale: &dyn Fn(&Claim) -> bool,
    ) -> Result<Option<Claimed<Job>>, StoreError>;

    /// Mails waiting in the outbox, oldest first, without their bytes.
    fn outbox_mails(&self) -> Result<Vec<OutboundMail>, StoreError>;

    /// The bytes of an outbox mail (`None` when it is gone).
    fn outbox_bytes(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// Claims the outbox mail `id` like [`Store::claim_job`].
    fn claim_outbox(
        &self,
        id: u64,
        claim: &Claim,
        stale: &dyn Fn(&Claim) -> bool,
    ) -> Result<Option<Claimed<OutboundMail>>, StoreError>;

    /// Removes a delivered mail from the outbox.
    fn outbox_delivered(&self, id: u64) -> Result<(), StoreError>;

    /// Records a failed delivery attempt of an outbox mail (and releases
    /// its claim): the next attempt not before `next_attempt`; `dead` parks
    /// it (kept, listed, retried only on request).
    fn outbox_failed(
        &self,
        mail: &OutboundMail,
        error: &str,
        next_attempt: i64,
        dead: bool,
    ) -> Result<(), StoreError>;

    /// Sets an outbox mail back to be delivered now (also a dead one).
    fn outbox_retry(&self, id: u64, now: i64) -> Result<bool, StoreError>;

    /// Drops the claim on an outbox mail without recording an attempt (it
    /// turned out not to be due).
    fn outbox_release(&self, id: u64) -> Result<(), StoreError>;

    /// How many error replies went to `address` since `since` (Unix
    /// seconds); [`ALL_ADDRESSES`] counts them all.
    fn replies_sent_since(&self, address: &str, since: i64) -> Result<usize, StoreError>;

    /// The build an upload's `.changes` file name belongs to.
    fn upload_build(&self, changes_name: &str) -> Result<Option<BuildKey>, StoreError>;

    /// How many mailer-daemon mails arrived since `since` (Unix seconds).
    fn bounces_since(&self, since: i64) -> Result<usize, StoreError>;

    /// Build-failure notices not sent yet.
    fn pending_notices(&self) -> Result<Vec<Notice>, StoreError>;

    /// The builds of `dist`/`arch` in the needs-build queue
    /// ([`BuildRecord::in_queue`]), unordered ([`crate::decide::queue::order`]
    /// orders them).
    fn queued(&self, dist: &str, arch: &str) -> Result<Vec<BuildRecord>, StoreError>;

    /// What places each build of `dist`/`arch`'s needs-build queue
    /// ([`QueueFacts`]), unordered, without reading the records.
    fn queue_facts(&self, dist: &str, arch: &str) -> Result<Vec<QueueFacts>, StoreError>;

    /// How many builds `dist`/`arch`'s needs-build queue holds (counted in
    /// the index, nothing decoded: `status` asks it of every queue).
    fn queue_len(&self, dist: &str, arch: &str) -> Result<usize, StoreError>;

    /// Of each group of `dist`/`arch`'s queued builds whose facts but the
    /// name agree (admin priority, built before, `Priority:`, `Section:`),
    /// the one first by name: the top of the queue is the best of these
    /// by [`crate::decide::queue::compare_facts`], whatever order the
    /// configuration gives priorities and sections. `take` reads this
    /// instead of the whole queue.
    fn queue_heads(&self, dist: &str, arch: &str) -> Result<Vec<QueueFacts>, StoreError>;

    /// The last Release of `suite` that `sync` merged.
    fn release_seen(&self, suite: &str) -> Result<Option<ReleaseSeen>, StoreError>;

    /// Up to `limit` failed logs waiting to be explained, oldest build key
    /// first.
    fn explain_queue(&self, limit: usize) -> Result<Vec<ExplainTask>, StoreError>;

    /// Counts of what the store holds.
    fn stats(&self) -> Result<Stats, StoreError>;

    // The status pages' reads. Every commit that writes a build keeps
    // what they read, in the same transaction: the builds by suite,
    // architecture and state; the counts per state of each suite and
    // architecture, and those counts as they stand at the end of the
    // commit's day (UTC, by [`Commit::now`]); the builds by the addresses
    // of their source's Maintainer and Uploaders
    // ([`crate::debian::people`]); and every indexed log by the builder it
    // names ([`LogRef::builder`]).

    /// The builds of `dist`/`arch` in `state`, ordered by source name,
    /// starting after the source `after` (the previous page's last), at
    /// most `limit`.
    fn builds_in(
        &self,
        dist: &str,
        arch: &str,
        state: State,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<BuildRecord>, StoreError>;

    /// How many builds each suite and architecture has in each state
    /// now, ordered by suite and architecture.
    fn state_counts(&self) -> Result<Vec<StateCounts>, StoreError>;

    /// The counts of `dist`/`arch` at the end of each day (days since
    /// 1970-01-01 UTC) from `since_day` on which a commit changed them,
    /// oldest first; a day without a row kept the day before's counts.
    fn daily_counts(
        &self,
        dist: &str,
        arch: &str,
        since_day: i64,
    ) -> Result<Vec<DayCounts>, StoreError>;

    /// The newest `limit` logs that name `builder` as their builder host,
    /// newest first.
    fn builder_logs(&self, builder: &str, limit: usize) -> Result<Vec<LogRef>, StoreError>;

    /// Every builder host an indexed log names, with when its newest log
    /// came, ordered by name.
    fn builders(&self) -> Result<Vec<BuilderSeen>, StoreError>;

    /// The builds whose source names `address` (lower-case) in
    /// `Maintainer` or `Uploaders`, ordered by source, dist, arch, at
    /// most `limit`.
    fn maintained(&self, address: &str, limit: usize) -> Result<Vec<Maintained>, StoreError>;

    /// The people named in some build's Maintainer or Uploaders whose
    /// address or name contains `text` (case-insensitive), ordered by
    /// address, at most `limit`.
    fn maintainers(&self, text: &str, limit: usize) -> Result<Vec<Person>, StoreError>;

    /// The source packages with a build whose name starts with `prefix`,
    /// in order, at most `limit`.
    fn sources_from(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError>;
}

/// The builds of one suite and architecture, counted by state
/// ([`Store::state_counts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCounts {
    /// The suite.
    pub dist: String,
    /// The architecture.
    pub arch: String,
    /// Builds in each state (states with none left out).
    pub counts: BTreeMap<State, u64>,
}

/// The counts per state at the end of one day ([`Store::daily_counts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCounts {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Builds in each state.
    pub counts: BTreeMap<State, u64>,
}

/// A builder host and its newest log ([`Store::builders`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuilderSeen {
    /// The builder host, as its logs name it.
    pub name: String,
    /// When its newest log arrived (Unix seconds).
    pub last_log: i64,
}

/// A build of someone's source ([`Store::maintained`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Maintained {
    /// The build.
    pub key: BuildKey,
    /// The name the field gives.
    pub name: String,
    /// `maintainer` or `uploader`.
    pub role: String,
}

/// A claimed job or outbox mail, and the claim it had before (a claimant
/// that stopped without finishing).
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed<T> {
    /// The item, carrying the new claim.
    pub item: T,
    /// The claim taken over, if any.
    pub previous: Option<Claim>,
}

/// A named lock on the database, held until dropped: one worker, one
/// explainer, one sync at a time across every process (and, on a shared
/// database, every host) using it ([`try_lock`]).
pub struct Lock {
    /// What holds it: a locked file beside a local database (released by
    /// the kernel when the process dies).
    _held: Box<dyn std::any::Any + Send>,
}

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lock")
    }
}

/// Takes the database's lock `name` (`worker`, `explain`, `sync`) when
/// nobody holds it: `Some` while held by us (until dropped), `None` when
/// another process holds it. A holder that dies loses it at once, so its
/// work passes to the next taker. For sled: the file `<name>.lock` beside
/// the database; for PostgreSQL: a session advisory lock on a connection
/// of its own (released when it closes, also when the host dies).
pub fn try_lock(cfg: &DatabaseConfig, name: &str) -> Result<Option<Lock>, StoreError> {
    if let Some(url) = &cfg.url {
        return pg::try_lock(url, cfg, name).map(|held| held.map(|h| Lock { _held: h }));
    }
    let path = cfg.path.join(format!("{name}.lock"));
    let file =
        crate::fsutil::try_lock_file(&path).map_err(|source| StoreError::Io { path, source })?;
    Ok(file.map(|f| Lock { _held: Box::new(f) }))
}

/// Opens the configured database: PostgreSQL when `database.url` is set
/// (its schema checked: `buildmail migrate` makes it), else sled, waiting
/// up to `cfg.lock_timeout` for another process to release it.
pub fn open(cfg: &DatabaseConfig) -> Result<Box<dyn Store>, StoreError> {
    match &cfg.url {
        Some(url) => Ok(Box::new(pg::PgStore::open(url, cfg)?)),
        None => Ok(Box::new(sled::SledStore::open(cfg)?)),
    }
}
