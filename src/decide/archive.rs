//! What an archive or upload-queue answer does to the build whose upload
//! it answers: ACCEPTED/INSTALLED → Installed; REJECTED and queue failures
//! → Failed-To-Upload with the text as upload log; NEW and queue successes
//! are noted. The transition table has the last word.

use crate::inbound::mail::ArchiveSubject;
use crate::model::state;
use crate::model::state::{ArchiveEvent, Target};
use crate::model::{BuildRecord, State};

/// The effect of an archive answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveDecision {
    /// What the archive said.
    pub event: ArchiveEvent,
    /// The record after it.
    pub record: BuildRecord,
    /// For the history and the dedup record, in words.
    pub note: String,
    /// The build just became Failed-To-Upload: notifications are due.
    pub failed_to_upload: bool,
}

/// The event an archive mail reports (`text` is its body: a queue report
/// counts as success only when it says "uploaded successfully").
pub fn event_of(subject: &ArchiveSubject, text: &str) -> ArchiveEvent {
    match subject {
        ArchiveSubject::Accepted { .. } => ArchiveEvent::Accepted,
        ArchiveSubject::Rejected { .. } => ArchiveEvent::Rejected,
        ArchiveSubject::New { .. } => ArchiveEvent::New,
        ArchiveSubject::Processing { .. } => {
            if text.to_ascii_lowercase().contains("uploaded successfully") {
                ArchiveEvent::QueueOk
            } else {
                ArchiveEvent::QueueFailed
            }
        }
    }
}

/// Whether an archive answer from `from` may move a build. With
/// `senders` configured its From must be one of them. Then it must be
/// authenticated: with the archive's keys configured (`keys_configured`:
/// `archive.keyrings` or DKIM domains) it must be `signed` by one of them
/// (`Err`: why its signature does not count); without keys, only
/// `trust_unsigned_senders` (the weak opt-in: the From alone, which
/// needs `senders`) lets it move anything. `Err` says why not, for the
/// history and the forward to the admins.
pub fn authority(
    from: Option<&str>,
    senders: &[String],
    keys_configured: bool,
    trust_unsigned_senders: bool,
    signed: Result<(), &str>,
) -> Result<(), String> {
    let from = from.unwrap_or("");
    if !senders.is_empty() && !senders.iter().any(|s| s.eq_ignore_ascii_case(from)) {
        return Err(format!("{from:?} is not one of archive.senders"));
    }
    match signed {
        Err(why) if keys_configured => Err(why.to_string()),
        Ok(()) => Ok(()),
        Err(_) if trust_unsigned_senders && !senders.is_empty() => Ok(()),
        Err(_) => Err(
            "unauthenticated: nothing vouches for this answer (no archive.keyrings or archive.dkim_domains is configured, and archive.trust_unsigned_senders is off)"
                .to_string(),
        ),
    }
}

/// Whether the signed part of an archive answer says what its (unsigned)
/// Subject does: a Subject inside the signed PGP/MIME entity
/// (`protected`) must be the same answer; otherwise the signed `text` must
/// name the `.changes` and, for ACCEPTED, REJECTED and NEW, the verdict.
/// Else a signed answer about one upload could be re-sent under the
/// Subject of another, or with the opposite verdict.
pub fn signed_text_binds(
    subject: &ArchiveSubject,
    text: &str,
    protected: Option<&ArchiveSubject>,
) -> Result<(), String> {
    if let Some(p) = protected {
        return if p == subject {
            Ok(())
        } else {
            Err(format!(
                "the signed Subject names {} ({}), not what the outer Subject says",
                p.changes(),
                event_of(p, text).as_str()
            ))
        };
    }
    let lower = text.to_ascii_lowercase();
    if !lower.contains(&subject.changes().to_ascii_lowercase()) {
        return Err(format!(
            "the signed text does not name {}: the Subject is not signed, so it cannot say which upload the answer is about",
            subject.changes()
        ));
    }
    let verdict = match subject {
        ArchiveSubject::Accepted { .. } => Some(&["accepted", "installed"][..]),
        ArchiveSubject::Rejected { .. } => Some(&["reject"][..]),
        ArchiveSubject::New { .. } => Some(&["new"][..]),
        ArchiveSubject::Processing { .. } => None,
    };
    match verdict {
        Some(words) if !words.iter().any(|w| lower.contains(w)) => Err(format!(
            "the signed text does not say {}: the Subject is not signed",
            words.join(" or ")
        )),
        _ => Ok(()),
    }
}

/// Decides what the answer `subject` with body `text` does to `record`.
/// An answer without `authority` (see [`authority`]) is recorded and moves
/// nothing (no Failed-To-Upload, no notification). With `synced` (the farm
/// follows the archive's signed indices, `archive.root`), an ACCEPTED mail
/// is only a hint: Installed comes from `sync` finding the binaries.
pub fn decide(
    record: &BuildRecord,
    subject: &ArchiveSubject,
    text: &str,
    now: i64,
    authority: Result<(), String>,
    synced: bool,
) -> ArchiveDecision {
    let event = event_of(subject, text);
    if let Err(why) = authority {
        return ArchiveDecision {
            event,
            record: record.clone(),
            note: format!("archive answer received, state kept: {why}"),
            failed_to_upload: false,
        };
    }
    if synced && event == ArchiveEvent::Accepted {
        return ArchiveDecision {
            event,
            record: record.clone(),
            note: format!(
                "{}: accepted; the build becomes Installed when sync finds its binaries in the archive's signed indices",
                subject.changes()
            ),
            failed_to_upload: false,
        };
    }
    let mut new = record.clone();
    let note = match state::decide_archive(record.state, event) {
        Ok(Target::To(to)) => {
            if to != record.state {
                new.previous_state = Some(record.state);
                new.state_change = now;
            }
            new.state = to;
            match to {
                State::FailedToUpload => {
                    new.upload_log = Some(text.trim().to_string())
                        .filter(|t| !t.is_empty())
                        .or_else(|| {
                            Some(format!(
                                "the archive answered {} (the mail had no text)",
                                subject.changes()
                            ))
                        });
                }
                State::Installed => new.upload_log = None,
                _ => {}
            }
            format!("{}: now {to}", subject.changes())
        }
        Ok(_) => format!("{}: {}", subject.changes(), event.as_str()),
        Err(why) => why,
    };
    let failed_to_upload =
        new.state == State::FailedToUpload && record.state != State::FailedToUpload;
    ArchiveDecision {
        event,
        record: new,
        note,
        failed_to_upload,
    }
}
