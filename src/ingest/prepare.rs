//! The CPU-heavy, store-independent half of ingestion: hashing, MIME and
//! log parsing, explaining, compressing, signature checks, and writing the
//! compressed log to the archive. Many threads may prepare at once.

use super::{Ingest, LogFacts};
use crate::inbound::classify;
use crate::inbound::classify::{Analysis, ForwardFacts, ARCHIVE_TEXT_LIMIT};
use crate::inbound::mail;
use crate::inbound::mail::Inbound;
use crate::inbound::reply;
use crate::inbound::reply::Reply;
use crate::inbound::signature::Policy;
use crate::inbound::source::{content_sha256, sha256_hex, RawMail};
use crate::store::{archive, StoreError};

/// A mail after the CPU-heavy, store-independent half of ingestion
/// ([`Ingest::prepare`]); [`Ingest::commit`] does the rest.
#[derive(Debug)]
pub struct Prepared {
    /// The mail's identity: its content hash (SHA-256 without trace header
    /// fields, hex); for a mail too large to hold, the raw hash.
    pub sha256: String,
    /// SHA-256 of the raw bytes (what earlier releases keyed mails by).
    pub raw_sha256: String,
    /// Message-ID, if the mail has one.
    pub message_id: Option<String>,
    /// What the mail is.
    pub body: PreparedBody,
}

/// What a prepared mail is.
#[derive(Debug)]
pub enum PreparedBody {
    /// A build log.
    Log(Box<LogFacts>),
    /// An admin reply, read and its signature checked.
    Reply(Box<Reply>),
    /// An archive or upload-queue answer.
    Archive {
        /// What it says.
        subject: mail::ArchiveSubject,
        /// Its text (the rejection text, the queue report), bounded.
        text: String,
        /// How to forward it if no upload of buildmail's matches.
        forward: Box<ForwardFacts>,
    },
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
    /// The dedup record of a mail with this content hash, or (a record of
    /// an earlier release) with this raw hash.
    pub(super) fn seen(
        &self,
        sha256: &str,
        raw_sha256: &str,
    ) -> Result<Option<crate::model::MailRecord>, StoreError> {
        match self.store.seen(sha256)? {
            Some(r) => Ok(Some(r)),
            None if raw_sha256 != sha256 => self.store.seen(raw_sha256),
            None => Ok(None),
        }
    }

    /// The CPU-heavy half: hashing, MIME parsing, log parsing, explaining,
    /// compressing, and writing the compressed log to the archive. Reads the
    /// store only to skip mails seen before, so many threads may prepare at
    /// once.
    pub fn prepare(&self, raw: &RawMail) -> Result<Prepared, StoreError> {
        let (bytes, sha256, raw_sha256) = match raw {
            RawMail::Bytes(b) => (b.as_slice(), content_sha256(b), sha256_hex(b)),
            RawMail::Oversize { head, sha256, .. } => {
                (head.as_slice(), sha256.clone(), sha256.clone())
            }
        };
        if let Some(seen) = self.seen(&sha256, &raw_sha256)? {
            return Ok(Prepared {
                sha256,
                raw_sha256,
                message_id: None,
                body: PreparedBody::Seen(format!(
                    "this mail was ingested before ({})",
                    seen.outcome
                )),
            });
        }
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
                raw_sha256,
                message_id: None,
                body: PreparedBody::TooLarge { subject, from },
            });
        }
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                return Ok(Prepared {
                    sha256,
                    raw_sha256,
                    message_id: None,
                    body: PreparedBody::Reject {
                        reason: e.to_string(),
                        subject: None,
                        from: None,
                    },
                })
            }
        };
        let message_id = parsed.message_id().map(str::to_string);
        // The parsers must never panic; if one does anyway, the mail is
        // quarantined rather than lost or retried forever.
        let analysis = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            match classify::analyse(&parsed, self.config) {
                Analysis::Log(mut a) => {
                    let gz = match a.log_gz.take() {
                        Some(g) => g.into_owned(),
                        None => archive::gzip(&a.log_bytes).map_err(|source| StoreError::Io {
                            path: self.archive.dir().to_path_buf(),
                            source,
                        })?,
                    };
                    let facts = a.facts(gz.len() as u64);
                    Ok((PreparedBody::Log(Box::new(facts)), Some(gz)))
                }
                Analysis::Reply(question) => {
                    let policy = Policy {
                        max_age: self.config.signatures.max_age,
                        ..Policy::default()
                    };
                    let r = reply::read(
                        &parsed,
                        question,
                        &self.keyring,
                        &policy,
                        &self.config.from_address,
                        self.clock.now(),
                    );
                    Ok((PreparedBody::Reply(Box::new(r)), None))
                }
                Analysis::Archive(subject) => Ok((
                    PreparedBody::Archive {
                        subject,
                        text: mail::body_text(&parsed, ARCHIVE_TEXT_LIMIT),
                        forward: Box::new(ForwardFacts::of(&parsed, self.config)),
                    },
                    None,
                )),
                Analysis::Other => Ok((
                    PreparedBody::Other(Box::new(ForwardFacts::of(&parsed, self.config))),
                    None,
                )),
                Analysis::Reject(reason) => Ok((
                    PreparedBody::Reject {
                        reason,
                        subject: subject.clone(),
                        from: from.clone(),
                    },
                    None,
                )),
            }
        }))
        .unwrap_or_else(|_| {
            Ok::<_, StoreError>((
                PreparedBody::Reject {
                    reason: "internal error: a parser panicked on this mail (please report it)"
                        .into(),
                    subject,
                    from,
                },
                None,
            ))
        })?;
        let (body, gz) = analysis;
        // The log is durable in the archive before any commit refers to it.
        if let Some(gz) = gz {
            self.archive
                .write(&sha256, &gz)
                .map_err(|source| StoreError::Io {
                    path: self.archive.dir().to_path_buf(),
                    source,
                })?;
        }
        Ok(Prepared {
            sha256,
            raw_sha256,
            message_id,
            body,
        })
    }
}
