//! The records buildmail keeps: a build's identity and state, its history,
//! the effects queued for it, and what was done with each mail.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::debian::Status;
use crate::model::state::State;
use crate::model::Explanation;

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
    /// The last log failed and its explanation is still being made
    /// ([`crate::effects::explain`]).
    #[serde(default)]
    pub explanation_pending: bool,
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
    /// What `sync` knows of the source from the archive.
    #[serde(default)]
    pub source: Option<ArchiveSource>,
    /// The binNMU this build is (its version ends in `+b<number>`).
    #[serde(default)]
    pub binnmu: Option<BinNmu>,
    /// The builder (a `[[builders]]` name) that took it with `take`: while
    /// it is Building, only that builder's log moves it.
    #[serde(default)]
    pub taken_by: Option<String>,
    /// Why the last log, which reported a success, could not make the
    /// build Built: it was not whole (cut off, no Summary, a Summary
    /// contradicting the Subject). `list` and `info` show it, so that a
    /// Needs-Build that came from such a log says so.
    #[serde(default)]
    pub incomplete_log: Option<String>,
    /// The record's revision: 0 for a record not stored yet (and records
    /// of releases before revisions), one more on every write. A commit
    /// writes a record only while the stored one still has the revision
    /// it was read at ([`crate::store::Store::commit`]), so that two
    /// writers never lose each other's update.
    #[serde(default)]
    pub rev: u64,
}

/// A scheduled binary-only rebuild (`buildmail binnmu`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinNmu {
    /// N of `+bN`.
    pub number: u32,
    /// The changelog entry sbuild writes (`--make-binNMU`).
    pub message: String,
    /// When it was scheduled (Unix seconds): the changelog entry's date
    /// (`--binNMU-timestamp`), the same on every builder.
    #[serde(default)]
    pub scheduled: Option<i64>,
}

/// What places a queued build in the needs-build queue: the facts the
/// queue's order ([`crate::decide::queue`]) reads, small enough for a
/// store to keep beside every queued build's key, so that `take` finds
/// the top of a queue of hundreds of thousands without reading them whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueFacts {
    /// The source package.
    pub source: String,
    /// An admin's `give-back <priority>` (0: none).
    #[serde(default)]
    pub admin_priority: i64,
    /// Built on this architecture before.
    #[serde(default)]
    pub built_before: bool,
    /// The source's `Priority:`.
    #[serde(default)]
    pub priority: Option<String>,
    /// The source's `Section:`.
    #[serde(default)]
    pub section: Option<String>,
    /// Known from mail only: no sync has seen the source in the archive
    /// ([`BuildRecord::mail_only`]). A farm that follows an archive does
    /// not hand it out (`decide::queue::handed_out`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mail_only: bool,
}

impl BuildRecord {
    /// Whether the build is in the needs-build queue: Needs-Build, its
    /// source in the archive, not waiting for an answer to "Should I
    /// build". The one rule, for every store's queue index.
    pub fn in_queue(&self) -> bool {
        self.state == State::NeedsBuild
            && !self
                .source
                .as_ref()
                .is_some_and(|s| s.removed || s.ask_first.is_some())
    }

    /// Whether the build is known from mail only: no sync has seen its
    /// source in the archive (no [`ArchiveSource`]).
    pub fn mail_only(&self) -> bool {
        self.source.is_none()
    }

    /// What places it in the queue ([`QueueFacts`]).
    pub fn queue_facts(&self) -> QueueFacts {
        let s = self.source.as_ref();
        QueueFacts {
            mail_only: self.mail_only(),
            source: self.key.source.clone(),
            admin_priority: self.priority.unwrap_or(0),
            built_before: s.is_some_and(|s| s.built_before),
            priority: s.and_then(|s| s.priority.clone()),
            section: s.and_then(|s| s.section.clone()),
        }
    }

    /// A new record: `key` at `version`, in `state` since `now`; nothing
    /// else known yet.
    pub fn new(key: BuildKey, version: &str, state: State, now: i64) -> BuildRecord {
        BuildRecord {
            key,
            version: version.to_string(),
            state,
            previous_state: None,
            state_change: now,
            archive: None,
            last_status: None,
            fail_stage: None,
            builder: None,
            last_log_message_id: None,
            last_log: None,
            explanation: None,
            explanation_pending: false,
            build_duration: None,
            changes: None,
            notes: Vec::new(),
            failed_reason: None,
            depends: None,
            priority: None,
            upload: None,
            upload_log: None,
            pending_job: None,
            source: None,
            binnmu: None,
            taken_by: None,
            incomplete_log: None,
            rev: 0,
        }
    }
}

/// A build's source as the archive's `Sources` describes it (`sync`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveSource {
    /// The version in the archive.
    pub version: String,
    /// `Section`, for the queue order.
    pub section: Option<String>,
    /// `Priority`, for the queue order.
    pub priority: Option<String>,
    /// `Build-Depends` (and `-Arch`).
    pub build_depends: Option<String>,
    /// The source is no longer in the archive: the build is out of the
    /// queue (a Failed or Dep-Wait one is Failed-Removed / Dep-Wait-Removed).
    pub removed: bool,
    /// Why the build-dependencies cannot be installed (BD-Uninstallable).
    pub uninstallable: Option<String>,
    /// An earlier version of the package was built on this architecture
    /// (the queue serves those first).
    pub built_before: bool,
    /// The highest binNMU of this version whose binaries the architecture
    /// has (`+bN`), so that `binnmu` counts on from it.
    #[serde(default)]
    pub archive_binnmu: Option<u32>,
    /// The previous version Failed: the admins are asked "Should I build"
    /// first, and the build is not handed out until they answer.
    #[serde(default)]
    pub ask_first: Option<AskFirst>,
    /// `Maintainer` (`Name <address>`), for the maintainers' pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintainer: Option<String>,
    /// `Uploaders` (comma-separated `Name <address>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaders: Option<String>,
}

/// A "Should I build" question about a build (see [`ArchiveSource::ask_first`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AskFirst {
    /// The version that failed.
    pub old_version: String,
    /// Why it failed.
    pub old_reason: String,
    /// The question went out (it is asked once).
    pub asked: bool,
}

/// The upload a verified signed `.changes` asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// The signed `.changes` exactly as it was signed (clearsigned block),
    /// or its text for a PGP/MIME-signed one.
    pub signed_changes: String,
    /// The parsed `.changes`.
    pub changes: crate::debian::changes::Changes,
    /// The name it is written under in the queue
    /// (`<src>_<ver-without-epoch>_<arch>.changes`).
    pub changes_name: String,
    /// The queue directory it goes to.
    pub queue_dir: PathBuf,
    /// Primary key fingerprint of the signer.
    pub signer: String,
    /// When it was accepted (Unix seconds).
    pub time: i64,
    /// When the upload command started, while it runs: set in the commit
    /// that makes the build Uploaded, cleared in the one that records the
    /// command's outcome (`info` and `list` show that it runs).
    #[serde(default)]
    pub command_started: Option<i64>,
}

/// An effect committed with the mail that asked for it and carried out
/// afterwards, idempotently: the worker finishes what a crash left (see `crate::effects`).
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
    /// Who is carrying it out (none: waiting).
    #[serde(default)]
    pub claim: Option<Claim>,
    /// When the external command of an upload was started (Unix seconds).
    /// A job found claimed by a stopped worker after this point is never
    /// run again blindly: the upload may have happened.
    #[serde(default)]
    pub started: Option<i64>,
}

/// Who is carrying out a job or delivering a mail, since when. A claim is
/// taken in a short commit before the effect runs and dropped with the
/// commit that records its outcome; a claim whose owner stopped is taken
/// over (see `crate::effects::claim`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The host the claimant runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// When that process started (clock ticks after boot, as in
    /// `/proc/<pid>/stat`), so a later process given the same id is not
    /// taken for the claimant.
    #[serde(default)]
    pub started: Option<u64>,
    /// When it claimed (Unix seconds).
    pub at: i64,
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

impl JobKind {
    /// The job in words: `upload`, `removal from the queue`, `purge`.
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::Upload => "upload",
            JobKind::RemoveFromQueue { .. } => "removal from the queue",
            JobKind::Purge { .. } => "purge",
        }
    }
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
    /// The address is the verified signer's (its answers have their own
    /// budget beside the global cap on answers to unsigned mail).
    #[serde(default)]
    pub signed: bool,
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
    /// Who is delivering it (none: waiting).
    #[serde(default)]
    pub claim: Option<Claim>,
    /// A forward carries a stored mail, which follows its own bytes (the
    /// `Resent-*` lines). The original is never copied into the outbox;
    /// [`crate::store::Store::outbox_bytes`] joins the two when the mail
    /// is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carries: Option<Carried>,
}

/// Where the mail a forward carries is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Carried {
    /// In the database, as the unhandled mail with this content hash.
    Stored(String),
    /// In the blob store of mails (`crate::store::blobs::Blobs::mails`),
    /// as the blob with this id (the mail's content hash): a large mail.
    Blob(String),
    /// In this file: a large mail, in records of earlier releases only
    /// (`<data_dir>/unhandled/<hash>.eml`), read where it is.
    File(std::path::PathBuf),
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
    /// When the mail was imported, for a mail `import` read from an
    /// archive of old mail: `time` is then the mail's own date.
    #[serde(default)]
    pub imported: Option<i64>,
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
    /// The builder host the log names (`None` in records of earlier
    /// releases): the builder pages list a builder's logs by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<String>,
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
    /// For mails larger than the inline limit: the id of the blob that
    /// holds the raw mail (`crate::store::blobs::Blobs::mails`; the mail's
    /// content hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// The file holding the raw mail, in entries of earlier releases only
    /// (never written now: a path means something on one host only);
    /// read where it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    /// Whether this use spent the signature. A command refused because it
    /// arrived as a reply to a build it does not name (redirected by
    /// someone who saw it first) does not: the admin's genuine mail is
    /// still acted on when it arrives. Every other use does.
    #[serde(default = "spent")]
    pub consumed: bool,
}

/// Records of earlier releases spent their signature.
fn spent() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records written by the previous release (no claims yet) still read.
    #[test]
    fn records_of_the_previous_release_decode() {
        let job: Job = serde_json::from_str(
            r#"{"id":7,"key":{"dist":"unstable","arch":"amd64","source":"hello"},"version":"1.0-1","kind":"Upload","created":1,"message_id":null,"signer":null,"answer":null}"#,
        )
        .unwrap();
        assert_eq!((job.id, job.claim, job.started), (7, None, None));
        let mail: OutboundMail = serde_json::from_str(
            r#"{"id":3,"kind":"forward","to":["a@example.org"],"message_id":"m","subject":"","queued":1,"attempts":0,"last_error":null}"#,
        )
        .unwrap();
        assert_eq!((mail.next_attempt, mail.dead, mail.claim), (0, false, None));
    }
}

/// The last Release of a suite that `sync` merged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseSeen {
    /// The suite (as configured).
    pub suite: String,
    /// Its `Date:`, Unix seconds: an older Release is refused (a replay).
    pub date: i64,
    /// SHA-256 of the InRelease (or Release) bytes, and of the
    /// Packages-arch-specific file if one is configured: the same again
    /// means nothing changed.
    pub sha256: String,
    /// When it was merged (Unix seconds).
    pub synced: i64,
}
