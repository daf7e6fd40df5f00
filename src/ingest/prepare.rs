//! The CPU-heavy, store-independent half of ingestion: hashing, MIME and
//! log parsing, compressing, signature checks, and writing the
//! compressed log to the archive. Many threads may prepare at once.

use super::{Ingest, LogFacts};
use crate::config::Config;
use crate::inbound::classify;
use crate::inbound::classify::{Analysis, ForwardFacts, ARCHIVE_TEXT_LIMIT};
use crate::inbound::dkim::{DkimVerdict, DkimVerifier};
use crate::inbound::mail;
use crate::inbound::mail::Inbound;
use crate::inbound::reply;
use crate::inbound::reply::{Reply, Signer};
use crate::inbound::signature::Keyring;
use crate::inbound::signature::{Policy, Verified};
use crate::inbound::source::{
    content_id, content_sha256, content_sha256_as_received, sha256_hex, RawMail,
};
use crate::store::blob::{self, Codec};
use crate::store::blobs::Blobs;
use crate::store::StoreError;
use crate::time::{self, SharedClock};

/// A mail after the CPU-heavy, store-independent half of ingestion
/// ([`Ingest::prepare`]); [`Ingest::commit`] does the rest.
#[derive(Debug)]
pub struct Prepared {
    /// The mail's identity, the key of its dedup record and the name of
    /// its archived log: its content hash
    /// ([`crate::inbound::source::content_id`], hex); for a mail too large
    /// to hold, the SHA-256 of its raw bytes.
    pub sha256: String,
    /// The keys earlier releases gave this mail's dedup record
    /// ([`earlier_keys`]), once computed: only for a mail an earlier
    /// release may have recorded ([`Ingest::may_be_on_record`]), `None`
    /// before.
    pub earlier: Option<Vec<String>>,
    /// Message-ID, if the mail has one.
    pub message_id: Option<String>,
    /// The mail's own `Date:` (Unix seconds), if it has a valid one: an
    /// imported mail's history carries it.
    pub date: Option<i64>,
    /// The quarantine id this mail is taken out of (`quarantine
    /// reprocess`): its commit removes that entry, and its dedup record
    /// replaces the quarantined one.
    pub released: Option<u64>,
    /// What the mail is.
    pub body: PreparedBody,
}

/// What a prepared mail is.
#[derive(Debug)]
pub enum PreparedBody {
    /// A build log.
    Log(Box<LogFacts>),
    /// An admin reply, read and its signature checked; for a signed
    /// `.changes`, its files already checked against the build directory.
    Reply(Box<Reply>, Option<FilesChecked>),
    /// An archive or upload-queue answer.
    Archive(Box<ArchiveAnswer>),
    /// Another kind of mail: forwarded to the admin.
    Other(Box<ForwardFacts>),
    /// Ingested before (found by its bytes); nothing to do.
    Seen(String),
    /// To be quarantined for this reason.
    Reject {
        /// Why.
        reason: String,
        /// Subject, if readable.
        subject: Option<String>,
        /// From, if readable.
        from: Option<String>,
    },
    /// Over `limits.max_message_size`: quarantined, the raw mail in a file.
    TooLarge {
        /// Subject, if readable from the first bytes.
        subject: Option<String>,
        /// From, if readable from the first bytes.
        from: Option<String>,
    },
}

impl Ingest<'_> {
    /// Whether a mail with this Message-ID may have been recorded by an
    /// earlier release, under a key [`earlier_keys`] gives: one with no
    /// Message-ID, or one whose Message-ID is on record. Every release
    /// recorded the Message-ID of each mail it recorded
    /// ([`crate::store::Store::message_id_user`]), so a mail whose
    /// Message-ID is not on record was never recorded, and its earlier
    /// keys (three SHA-256 passes over the mail) need not be computed.
    pub(super) fn may_be_on_record(&self, message_id: Option<&str>) -> Result<bool, StoreError> {
        match message_id {
            None => Ok(true),
            Some(mid) => Ok(self.store.message_id_user(mid)?.is_some()),
        }
    }

    /// The dedup record of mail `raw`: by its identity `sha256`, or (a
    /// record of an earlier release) by one of its `earlier` keys, which
    /// are computed here when not given and the mail may be on record.
    pub(super) fn seen(
        &self,
        raw: &RawMail,
        sha256: &str,
        message_id: Option<&str>,
        earlier: Option<&[String]>,
    ) -> Result<Option<crate::model::MailRecord>, StoreError> {
        if let Some(r) = self.store.seen(sha256)? {
            return Ok(Some(r));
        }
        let computed;
        let keys = match earlier {
            Some(k) => k,
            None if self.may_be_on_record(message_id)? => {
                computed = earlier_keys(raw, sha256);
                computed.as_slice()
            }
            None => return Ok(None),
        };
        for key in keys {
            if let Some(r) = self.store.seen(key)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// The CPU-heavy half ([`Preparer::prepare`]), skipping mails the
    /// store has seen before (a re-import parses nothing twice, and an
    /// earlier release's mail is found before its log is archived again).
    /// Many threads may prepare at once.
    pub fn prepare(&self, raw: &RawMail) -> Result<Prepared, StoreError> {
        let sha256 = identity(raw);
        let seen = |why: &crate::model::MailRecord| {
            PreparedBody::Seen(format!("this mail was ingested before ({})", why.outcome))
        };
        if let Some(r) = self.store.seen(&sha256)? {
            return Ok(Prepared {
                sha256,
                earlier: None,
                message_id: None,
                date: None,
                released: None,
                body: seen(&r),
            });
        }
        let recall = |message_id: Option<&str>| -> Result<Recalled, StoreError> {
            if !self.may_be_on_record(message_id)? {
                return Ok((None, None));
            }
            let keys = earlier_keys(raw, &sha256);
            for key in &keys {
                if let Some(r) = self.store.seen(key)? {
                    return Ok((Some(keys), Some(seen(&r))));
                }
            }
            Ok((Some(keys), None))
        };
        self.prep
            .prepare_identified(raw, sha256.clone(), Some(&recall))
    }
}

/// The files of a signed `.changes` checked against the build directory
/// (sizes and every checksum) while the mail was prepared, so that the
/// commit hashes nothing: a commit uses the result for this very
/// `.changes` only.
#[derive(Debug, Clone)]
pub struct FilesChecked {
    /// The `.changes` whose files were checked.
    pub changes: crate::debian::changes::Changes,
    /// `Err`: what is wrong with them, in words.
    pub result: Result<(), Vec<String>>,
}

impl FilesChecked {
    /// Checks the files `r`'s signed `.changes` lists, when it has one.
    fn of(r: &Reply, build_dir: &std::path::Path) -> Option<FilesChecked> {
        let crate::inbound::reply::Request::Changes { changes, .. } = &r.request else {
            return None;
        };
        Some(FilesChecked {
            changes: (**changes).clone(),
            result: crate::effects::upload::verify_files(changes, build_dir).map(drop),
        })
    }
}

/// What [`Preparer::prepare_identified`] learns from the store once it
/// has read a mail's Message-ID: the earlier keys, if computed, and the
/// answer for a mail seen before.
pub(super) type Recalled = (Option<Vec<String>>, Option<PreparedBody>);

/// Asks the store about a mail, given its Message-ID (see [`Recalled`]).
pub(super) type Recall<'r> = &'r dyn Fn(Option<&str>) -> Result<Recalled, StoreError>;

/// A log mail verified with a builder's key.
struct SignedLog {
    /// Every builder whose keys verify the signature (entries may share a
    /// key).
    builders: Vec<String>,
    /// The signature, for the replay record.
    signer: Signer,
    /// The signed MIME entity (CRLF-canonical), to read the log from.
    entity: Vec<u8>,
}

impl Preparer<'_> {
    /// The builder whose key made the PGP/MIME signature of `mail`, if a
    /// builder with keys did.
    fn builder_signature(&self, mail: &Inbound<'_>) -> Option<SignedLog> {
        if self.trust.builder_keys.is_empty()
            || crate::inbound::mail::parse_log_subject(mail.subject()).is_none()
        {
            return None;
        }
        let p = crate::inbound::mail::pgp_mime(mail)?;
        let policy = self.signature_policy();
        let now = self.clock.now();
        let mut found: Option<SignedLog> = None;
        for (name, ring) in &self.trust.builder_keys {
            let Ok(v) = crate::inbound::signature::verify_detached(
                &p.signed,
                &p.signature,
                ring,
                &policy,
                now,
            ) else {
                continue;
            };
            match &mut found {
                Some(s) => s.builders.push(name.clone()),
                None => {
                    found = Some(SignedLog {
                        builders: vec![name.clone()],
                        signer: Signer::from(&v),
                        entity: p.signed.to_vec(),
                    })
                }
            }
        }
        found
    }
}

impl Preparer<'_> {
    /// How old a signature may be, and the rest of the signature policy.
    fn signature_policy(&self) -> Policy {
        Policy {
            max_age: self.config.signatures.max_age,
            ..Policy::default()
        }
    }

    /// The signed text of an archive answer, the Subject inside its signed
    /// PGP/MIME entity (if any) and its verified signature, when
    /// `archive.keyrings` is set and a key of it signed the mail (PGP/MIME,
    /// or a clearsigned body). Anything else: `None`.
    fn archive_signature(&self, msg: &Inbound<'_>) -> Option<(Vec<u8>, Option<String>, Verified)> {
        if self.trust.archive_keys.is_empty() {
            return None;
        }
        let policy = self.signature_policy();
        let now = self.clock.now();
        match mail::reply_body(msg) {
            mail::ReplyBody::PgpMime(p) => {
                let v = crate::inbound::signature::verify_detached(
                    &p.signed,
                    &p.signature,
                    &self.trust.archive_keys,
                    &policy,
                    now,
                )
                .ok()?;
                let text = mail::entity_text(&p.signed)?;
                let protected = Inbound::parse(&p.signed)
                    .ok()
                    .map(|e| e.subject().to_string())
                    .filter(|s| !s.trim().is_empty());
                Some((text, protected, v))
            }
            mail::ReplyBody::Inline { text, .. } => {
                let v = crate::inbound::signature::verify_cleartext(
                    &text?,
                    &self.trust.archive_keys,
                    &policy,
                    now,
                )
                .ok()?;
                Some((v.text.clone(), None, v))
            }
        }
    }
}

impl Preparer<'_> {
    /// The DKIM signature of an archive answer (`raw`, from `from`) that
    /// the OpenPGP check did not authenticate: `Ok(Err(why))` when it
    /// counts as unsigned, `Err` when a key lookup failed for now (the
    /// mail is deferred, not decided).
    fn archive_dkim(
        &self,
        raw: &[u8],
        from: Option<&str>,
    ) -> Result<Result<Signer, String>, StoreError> {
        let openpgp =
            "the answer is not signed by a key of archive.keyrings (PGP/MIME or clearsigned)";
        let configured = &self.config.archive.dkim;
        if configured.domains.is_empty() {
            return Ok(Err(openpgp.to_string()));
        }
        let why_not = |why: String| {
            if self.config.archive.keyrings.is_empty() {
                why
            } else {
                format!("{openpgp}, and {why}")
            }
        };
        let Some(dkim) = &self.trust.archive_dkim else {
            return Ok(Err(why_not(
                "archive.dkim_keys cannot be used (see check-config)".to_string(),
            )));
        };
        match dkim.verify(raw, from, self.clock.now()) {
            DkimVerdict::Pass(p) => Ok(Ok(Signer {
                fingerprint: format!("dkim:{}:{}", p.domain, p.selector),
                uid: Some(format!("DKIM d={} s={}", p.domain, p.selector)),
                created: p.timestamp,
                signed_sha256: p.signature_sha256,
            })),
            DkimVerdict::Refused(why) => Ok(Err(why_not(why))),
            DkimVerdict::Temporary(why) => Err(StoreError::Deferred(format!(
                "the archive answer's DKIM key could not be looked up: {why}"
            ))),
        }
    }
}

/// An archive or upload-queue answer, read.
#[derive(Debug)]
pub struct ArchiveAnswer {
    /// What it says.
    pub subject: mail::ArchiveSubject,
    /// Its text (the rejection text, the queue report), bounded; from the
    /// signed part when it is signed by the archive.
    pub text: String,
    /// How to forward it if no upload of buildmail's matches.
    pub forward: ForwardFacts,
    /// The signature of an answer signed by a key of `archive.keyrings`
    /// whose signed part says what the Subject does (spent like any other
    /// signature, so a replayed answer changes nothing). `Err`: why the
    /// answer counts as unsigned.
    pub signature: Result<Signer, String>,
}

/// The certificates in the keyring files `paths` (none: an empty
/// keyring). One that cannot be read is logged, saying `what_then`, and
/// counts as empty: what it would vouch for is then unsigned (fail closed);
/// `check-config` exits 78 for it.
fn load_or_warn(paths: &[std::path::PathBuf], label: &str, what_then: &str) -> Keyring {
    if paths.is_empty() {
        return Keyring::default();
    }
    Keyring::load(paths).unwrap_or_else(|e| {
        tracing::warn!("{label}: {e}; {what_then} until it is fixed");
        Keyring::default()
    })
}

/// The identity of a mail ([`Prepared::sha256`]): its content hash; for
/// a mail too large to hold, the SHA-256 its reader computed.
pub(super) fn identity(raw: &RawMail) -> String {
    match raw {
        RawMail::Bytes(b) => content_id(b),
        RawMail::Oversize { sha256, .. } => sha256.clone(),
    }
}

/// The keys earlier releases gave a mail's dedup record: the SHA-256
/// content hash with canonical line ends (the release before BLAKE3),
/// the same with its line ends as received, and the SHA-256 of the raw
/// bytes; those that differ from `id`. None for a mail too large to
/// hold (its key has not changed).
pub(super) fn earlier_keys(raw: &RawMail, id: &str) -> Vec<String> {
    match raw {
        RawMail::Bytes(b) => {
            let mut keys = vec![
                content_sha256(b),
                content_sha256_as_received(b),
                sha256_hex(b),
            ];
            keys.dedup();
            keys.retain(|k| k != id);
            keys.dedup();
            keys
        }
        RawMail::Oversize { .. } => Vec::new(),
    }
}

/// What checking signatures needs, read from the files the configuration
/// names: the admins', the builders' and the archive's keyrings, and the
/// archive's DKIM rules. Loading it parses every certificate, so a
/// long-running process loads it once ([`Trust::load`]) and again only
/// when the configuration is reloaded or one of its files changed
/// ([`Trust::is_stale`]).
pub struct Trust {
    /// The admins' keyring (`signatures.keyrings`).
    keyring: Keyring,
    /// The builders' keyrings, by builder name (those that have one).
    builder_keys: Vec<(String, Keyring)>,
    /// The archive's keyring (`archive.keyrings`), empty when none.
    archive_keys: Keyring,
    /// The archive's DKIM rules (`archive.dkim_*`), when a signing domain
    /// is configured; `None` also when they cannot be used (logged: the
    /// answers then count as unauthenticated).
    archive_dkim: Option<DkimVerifier>,
    /// The files read, with what they looked like then.
    files: Vec<(std::path::PathBuf, Option<FileStamp>)>,
}

/// What a file looked like when it was read: a change of any of these
/// means it was written since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    /// The stamp of `path` now; `None` when it does not exist.
    fn of(path: &std::path::Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            modified: m.modified().ok(),
            len: m.len(),
            inode: m.ino(),
        })
    }
}

impl Trust {
    /// Reads every keyring the configuration names. Keyring files that are
    /// missing or broken are reported (`check-config` names the problem)
    /// and leave the keyring without those certificates, so that signed
    /// mail is refused rather than lost.
    pub fn load(config: &Config) -> Trust {
        let keyring = load_or_warn(
            &config.signatures.existing_keyrings(),
            "signatures.keyrings",
            "signed replies will be refused",
        );
        Trust::with_keyring(config, keyring)
    }

    /// [`Trust::load`] with `keyring` as the admins' keyring.
    pub fn with_keyring(config: &Config, keyring: Keyring) -> Trust {
        let builder_keys = config
            .builders
            .iter()
            .filter(|b| !b.keyrings.is_empty())
            .map(|b| {
                let label = format!("builder {}", b.name);
                let ring = load_or_warn(&b.keyrings, &label, "its logs count as unsigned");
                (b.name.clone(), ring)
            })
            .collect();
        let archive_keys = load_or_warn(
            &config.archive.keyrings,
            "archive.keyrings",
            "archive answers count as unsigned",
        );
        let archive_dkim = if config.archive.dkim.domains.is_empty() {
            None
        } else {
            DkimVerifier::new(&config.archive.dkim)
                .map_err(|e| {
                    tracing::warn!("{e}; DKIM-signed archive answers count as unauthenticated until it is fixed")
                })
                .ok()
        };
        let files = Trust::files_of(config)
            .into_iter()
            .map(|p| {
                let stamp = FileStamp::of(&p);
                (p, stamp)
            })
            .collect();
        Trust {
            keyring,
            builder_keys,
            archive_keys,
            archive_dkim,
            files,
        }
    }

    /// Every file [`Trust::load`] reads for `config`.
    fn files_of(config: &Config) -> Vec<std::path::PathBuf> {
        let mut files: Vec<std::path::PathBuf> = config.signatures.keyrings.clone();
        for b in &config.builders {
            files.extend(b.keyrings.iter().cloned());
        }
        files.extend(config.archive.keyrings.iter().cloned());
        files
    }

    /// Whether a file this was read from changed since (written, replaced,
    /// created or removed): the caller then loads it again.
    pub fn is_stale(&self) -> bool {
        self.files
            .iter()
            .any(|(path, stamp)| FileStamp::of(path) != *stamp)
    }
}

/// The store-free half of ingestion: hashing, MIME and log parsing,
/// compressing, signature checks, archiving the log. It needs
/// no database, so `deliver` runs it before it opens (and locks) the store.
pub struct Preparer<'a> {
    pub(super) config: &'a Config,
    pub(super) blobs: Blobs,
    /// Logs are made durable by [`Preparer::sync_archive`], not each
    /// after its put.
    batched: bool,
    /// The keyrings and DKIM rules.
    trust: std::sync::Arc<Trust>,
    pub(super) clock: SharedClock,
}

impl<'a> Preparer<'a> {
    /// A preparer with the configured keyrings (see [`Ingest::new`]).
    pub fn new(config: &'a Config) -> Preparer<'a> {
        Preparer::with_trust(config, std::sync::Arc::new(Trust::load(config)))
    }

    /// A preparer that checks the admins' signatures against `keyring`.
    pub fn with_keyring(config: &'a Config, keyring: Keyring) -> Preparer<'a> {
        Preparer::with_trust(
            config,
            std::sync::Arc::new(Trust::with_keyring(config, keyring)),
        )
    }

    /// A preparer using keyrings loaded before ([`Trust::load`]): a daemon
    /// loads them once, not for every mail.
    pub fn with_trust(config: &'a Config, trust: std::sync::Arc<Trust>) -> Preparer<'a> {
        Preparer {
            config,
            blobs: Blobs::open(&config.database),
            batched: false,
            trust,
            clock: time::system(),
        }
    }

    /// The same preparer keeping blobs in `blobs` (held open by a
    /// long-running process: [`super::Setup`]).
    pub fn with_blobs(self, blobs: Blobs) -> Preparer<'a> {
        Preparer { blobs, ..self }
    }

    /// The same preparer archiving logs in batches: durable once
    /// [`Preparer::sync_archive`] returns, which the caller runs before it
    /// commits mails that refer to them (`import`).
    pub fn batched(self) -> Preparer<'a> {
        Preparer {
            batched: true,
            ..self
        }
    }

    /// Makes the logs archived so far durable (see [`Preparer::batched`]).
    pub fn sync_archive(&self) -> Result<(), StoreError> {
        self.blobs
            .logs
            .sync()
            .map_err(|source| self.archive_error(source))
    }

    /// An error of the log archive.
    fn archive_error(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.blobs.logs.describe().into(),
            source,
        }
    }

    /// The same preparer reading "now" from `clock`.
    pub fn with_clock(self, clock: SharedClock) -> Preparer<'a> {
        Preparer { clock, ..self }
    }

    /// Prepares one mail: everything but the commit.
    pub fn prepare(&self, raw: &RawMail) -> Result<Prepared, StoreError> {
        self.prepare_identified(raw, identity(raw), None)
    }

    /// Prepares mail `raw` whose identity is `sha256`. `recall`, when
    /// given, is asked once the Message-ID is read, before anything is
    /// archived: a mail seen before ends there.
    pub(super) fn prepare_identified(
        &self,
        raw: &RawMail,
        sha256: String,
        recall: Option<Recall<'_>>,
    ) -> Result<Prepared, StoreError> {
        let bytes = raw.bytes();
        let parsed = Inbound::parse(bytes);
        let subject = parsed.as_ref().ok().map(|p| p.subject().to_string());
        let from = parsed
            .as_ref()
            .ok()
            .and_then(|p| p.from_address())
            .map(str::to_string);
        if matches!(raw, RawMail::Oversize { .. })
            || bytes.len() as u64 > self.config.limits.max_message_size
        {
            // The Message-ID of a truncated head is not trusted for dedup.
            return Ok(Prepared {
                sha256,
                earlier: None,
                message_id: None,
                date: None,
                released: None,
                body: PreparedBody::TooLarge { subject, from },
            });
        }
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                return Ok(Prepared {
                    sha256,
                    earlier: None,
                    message_id: None,
                    date: None,
                    released: None,
                    body: PreparedBody::Reject {
                        reason: e.to_string(),
                        subject: None,
                        from: None,
                    },
                })
            }
        };
        let message_id = parsed.message_id().map(str::to_string);
        let date = parsed.date();
        let earlier = match recall {
            Some(recall) => match recall(message_id.as_deref())? {
                (earlier, Some(seen)) => {
                    return Ok(Prepared {
                        sha256,
                        earlier,
                        message_id,
                        date,
                        released: None,
                        body: seen,
                    })
                }
                (earlier, None) => earlier,
            },
            None => None,
        };
        // The parsers must never panic; if one does anyway, the mail is
        // quarantined rather than lost or retried forever.
        let analysis = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // A builder's PGP/MIME-signed log mail: verified with the
            // builders' keys, and its log read from the signed entity only.
            let signed_log = self.builder_signature(&parsed);
            let entity = signed_log
                .as_ref()
                .and_then(|s| Inbound::parse(&s.entity).ok());
            let body = entity.as_ref().unwrap_or(&parsed);
            match classify::analyse_with_body(&parsed, body, self.config) {
                Analysis::Log(mut a) => {
                    // A gzip log is kept as it came; any other is
                    // compressed (zstd).
                    let (codec, stored) = match a.log_gz.take() {
                        Some(g) => (Codec::Gzip, g),
                        None => (
                            Codec::Zstd,
                            std::borrow::Cow::Owned(
                                blob::compress(&a.log_bytes)
                                    .map_err(|source| self.archive_error(source))?,
                            ),
                        ),
                    };
                    // The log is durable in the archive before any commit
                    // refers to it (at once, or for a batched preparer by
                    // `sync_archive`); written from the mail's own bytes.
                    blob::BlobId::parse_or_err(&sha256)
                        .and_then(|id| self.blobs.logs.put(&id, codec, &stored))
                        .and_then(|()| match self.batched {
                            true => Ok(()),
                            false => self.blobs.logs.sync(),
                        })
                        .map_err(|source| self.archive_error(source))?;
                    // A signed log counts only for the build it names itself:
                    // nothing taken from the unsigned Subject.
                    let signed = match (&entity, &signed_log) {
                        (Some(_), Some(s)) => match classify::names_itself(&a) {
                            Ok(()) => Some(s),
                            Err(why) => {
                                a.notes
                                    .push(format!("the builder's signature does not count: {why}"));
                                None
                            }
                        },
                        _ => None,
                    };
                    let mut facts = a.facts(stored.len() as u64);
                    if let Some(s) = signed {
                        facts.signed_by = s.builders.clone();
                        facts.signature = Some(s.signer.clone());
                    }
                    Ok(PreparedBody::Log(Box::new(facts)))
                }
                Analysis::Reply(question) => {
                    let policy = self.signature_policy();
                    let r = reply::read(
                        &parsed,
                        question,
                        &self.trust.keyring,
                        &policy,
                        &self.config.from_address,
                        self.clock.now(),
                    );
                    if crate::decide::reply::is_conversation(&r, self.config) {
                        return Ok(PreparedBody::Other(Box::new(ForwardFacts::of(
                            &parsed,
                            self.config,
                        ))));
                    }
                    let files = FilesChecked::of(&r, &self.config.upload.build_dir);
                    Ok(PreparedBody::Reply(Box::new(r), files))
                }
                Analysis::Archive(subject) => {
                    let (text, signature) = match self.archive_signature(&parsed) {
                        Some((text, protected, v)) => {
                            let full = String::from_utf8_lossy(&text);
                            let protected =
                                protected.as_deref().and_then(mail::parse_archive_subject);
                            let bound = crate::decide::archive::signed_text_binds(
                                &subject,
                                &full,
                                protected.as_ref(),
                            );
                            (
                                mail::text_prefix(&text, ARCHIVE_TEXT_LIMIT),
                                bound.map(|()| Signer::from(&v)),
                            )
                        }
                        None => (
                            mail::body_text(&parsed, ARCHIVE_TEXT_LIMIT),
                            self.archive_dkim(bytes, from.as_deref())?,
                        ),
                    };
                    Ok(PreparedBody::Archive(Box::new(ArchiveAnswer {
                        subject,
                        text,
                        forward: ForwardFacts::of(&parsed, self.config),
                        signature,
                    })))
                }
                Analysis::Other => {
                    // A reply to one of buildmail's own mails under a
                    // rewritten Subject: the build its signed text names.
                    let threaded = parsed
                        .in_reply_to()
                        .into_iter()
                        .chain(parsed.references())
                        .any(|id| self.config.is_own_message_id(id));
                    let policy = self.signature_policy();
                    let reply = threaded
                        .then(|| {
                            reply::read_threaded(
                                &parsed,
                                &self.trust.keyring,
                                &policy,
                                &self.config.from_address,
                                self.clock.now(),
                            )
                        })
                        .flatten();
                    Ok(match reply {
                        Some(r) => {
                            let files = FilesChecked::of(&r, &self.config.upload.build_dir);
                            PreparedBody::Reply(Box::new(r), files)
                        }
                        None => {
                            PreparedBody::Other(Box::new(ForwardFacts::of(&parsed, self.config)))
                        }
                    })
                }
                Analysis::Reject(reason) => Ok(PreparedBody::Reject {
                    reason,
                    subject: subject.clone(),
                    from: from.clone(),
                }),
            }
        }))
        .unwrap_or_else(|_| {
            Ok::<_, StoreError>(PreparedBody::Reject {
                reason: "internal error: a parser panicked on this mail (please report it)".into(),
                subject,
                from,
            })
        })?;
        let body = analysis;
        Ok(Prepared {
            sha256,
            earlier,
            message_id,
            date,
            released: None,
            body,
        })
    }
}
