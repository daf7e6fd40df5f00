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

/// Whether an archive answer from `from` may move a build: with `senders`
/// configured its From must be one of them, and with the archive's keys
/// configured (`keys_configured`) it must be `signed` by one of them. `Err`
/// says why not, for the history.
pub fn authority(
    from: Option<&str>,
    senders: &[String],
    keys_configured: bool,
    signed: bool,
) -> Result<(), String> {
    let from = from.unwrap_or("");
    if !senders.is_empty() && !senders.iter().any(|s| s.eq_ignore_ascii_case(from)) {
        return Err(format!("{from:?} is not one of archive.senders"));
    }
    if keys_configured && !signed {
        return Err(
            "the answer is not signed by a key of archive.keyrings (PGP/MIME or clearsigned)"
                .into(),
        );
    }
    Ok(())
}

/// Decides what the answer `subject` with body `text` does to `record`.
/// An answer without `authority` (see [`authority`]) is recorded and moves
/// nothing (no Failed-To-Upload, no notification).
pub fn decide(
    record: &BuildRecord,
    subject: &ArchiveSubject,
    text: &str,
    now: i64,
    authority: Result<(), String>,
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
