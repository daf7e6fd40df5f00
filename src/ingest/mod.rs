//! Ingestion: one raw mail in, one durable commit out.
//!
//! [`Ingest::prepare`] ([`prepare`]) hashes the mail, parses and classifies
//! it ([`crate::inbound`]) and archives a log; [`Ingest::commit`]
//! ([`commit`]) reads the current record, asks [`crate::decide`] what the
//! mail does, composes any mail it sends ([`crate::effects::compose`]) and
//! commits everything in one store transaction. It never flushes: the
//! caller makes the commit durable (`deliver` after every mail, `import` in
//! batches, [`pipeline`]) and only then acknowledges the mail. Effects the
//! commit queued run later, with the store released
//! ([`crate::effects::worker`]).
//!
//! Bad input never fails ingestion: it is quarantined with a reason.

mod commit;
pub mod pipeline;
mod prepare;

pub use crate::inbound::classify::LogFacts;
pub use commit::QUARANTINE_INLINE;
pub use prepare::{ArchiveAnswer, FilesChecked, Prepared, PreparedBody, Preparer, Trust};

use crate::config::Config;
use crate::effects::compose::{Mailer, Templates};
use crate::inbound::signature::Keyring;
use crate::inbound::source::RawMail;
use crate::model::state::ArchiveEvent;
use crate::model::{BuildKey, State};
use crate::store::blobs::Blobs;
use crate::store::{Store, StoreError};
use crate::time::SharedClock;

/// What happened to one mail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    /// A build log was recorded.
    Log {
        /// The build.
        key: BuildKey,
        /// The version the log was for.
        version: String,
        /// The state after the log.
        state: State,
        /// The build's state and version before it (`None`: there was no
        /// build).
        before: Option<(State, String)>,
        /// Whether the log moved the build (`false`: recorded only). A
        /// move may keep the state: a given-back log of a build that
        /// already Needs-Build.
        moved: bool,
    },
    /// An admin reply was processed.
    Reply {
        /// The build it answered.
        key: BuildKey,
        /// The command, in words.
        command: String,
        /// Whether it was carried out (`false`: refused, see `reasons`).
        applied: bool,
        /// The build's state after it (`None`: no such build).
        state: Option<State>,
        /// Why it was refused.
        reasons: Vec<String>,
        /// The effect it queued for the worker (`upload`, `removal from
        /// the queue`, `purge`), which changes the state only when it runs.
        queued: Option<String>,
    },
    /// An archive or upload-queue answer about one of buildmail's uploads.
    Archive {
        /// The build.
        key: BuildKey,
        /// What the archive said.
        event: ArchiveEvent,
        /// The state after it.
        state: State,
    },
    /// Not one of buildmail's kinds: forwarded to the admin, or kept.
    Forwarded {
        /// Whether it was queued for forwarding (`false`: kept only).
        forwarded: bool,
        /// What happened, in words.
        note: String,
    },
    /// Ingested before; nothing changed.
    Duplicate(String),
    /// Could not be processed; kept in quarantine.
    Quarantined {
        /// The quarantine id.
        id: u64,
        /// Why.
        reason: String,
    },
}

impl std::fmt::Display for Outcome {
    /// What happened to the mail, in words (`deliver -v`, `quarantine
    /// reprocess`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Log {
                key,
                version,
                state,
                before,
                moved,
            } => match (moved, before) {
                // Kept (archived, its dedup record), but it made no build:
                // not from a configured builder.
                (false, None) => write!(f, "log for {key} {version}: recorded, no build made"),
                _ => write!(
                    f,
                    "log for {key} {version}: {}{state}",
                    log_verb(
                        *moved,
                        before
                            .as_ref()
                            .is_some_and(|(s, v)| s == state && v == version)
                    )
                ),
            },
            Outcome::Reply {
                key,
                command,
                applied: true,
                state,
                queued,
                ..
            } => match queued {
                // The state changes when the worker runs the effect, not now.
                Some(effect) => write!(
                    f,
                    "{command} for {key}: {effect} queued for the worker (state {} until it runs)",
                    state.map_or("-", |s| s.as_str())
                ),
                None => write!(
                    f,
                    "{command} for {key}: now {}",
                    state.map_or("-", |s| s.as_str())
                ),
            },
            Outcome::Reply {
                key,
                command,
                reasons,
                ..
            } => write!(f, "refused {command} for {key}: {}", reasons.join("; ")),
            Outcome::Archive { key, event, state } => {
                write!(f, "archive {} for {key}: {state}", event.as_str())
            }
            Outcome::Forwarded { note, .. } => write!(f, "{note}"),
            Outcome::Duplicate(d) => write!(f, "duplicate: {d}"),
            Outcome::Quarantined { id, reason } => {
                write!(f, "quarantined as #{id}: {reason}")
            }
        }
    }
}

/// What ingesting needs beyond the configuration, read from files: the
/// keyrings and DKIM rules ([`Trust`]) and the mail templates. A
/// long-running process loads it once, and again when the configuration
/// is reloaded or a keyring file changed ([`Setup::is_stale`]).
#[derive(Clone)]
pub struct Setup {
    /// The keyrings and DKIM rules.
    pub trust: std::sync::Arc<Trust>,
    /// The mail templates.
    pub templates: Templates,
    /// The blob stores (the log archive, the kept mails), held open: an
    /// appender (open files, the group sync) lives as long as the setup,
    /// not one mail.
    pub blobs: Blobs,
}

impl Setup {
    /// Loads the keyrings and templates `config` names.
    pub fn load(config: &Config) -> Setup {
        Setup {
            trust: std::sync::Arc::new(Trust::load(config)),
            templates: Templates::configured(config),
            blobs: Blobs::open(&config.database),
        }
    }

    /// Whether a keyring file changed since it was loaded.
    pub fn is_stale(&self) -> bool {
        self.trust.is_stale()
    }
}

/// How a log's outcome reads: `now` for a change of state or version,
/// `still` for a log that moved a build into the state and version it
/// already had (a given-back log of a build that Needs-Build), `recorded,
/// still` for a log that moved nothing.
pub(crate) fn log_verb(moved: bool, unchanged: bool) -> &'static str {
    match (moved, unchanged) {
        (false, _) => "recorded, still ",
        (true, true) => "still ",
        (true, false) => "now ",
    }
}

/// Ingests mails into a store.
pub struct Ingest<'a> {
    store: &'a dyn Store,
    prep: Preparer<'a>,
    mailer: Mailer<'a>,
    /// Ingesting an archive of old mail (`import` without `--live`).
    importing: bool,
}

impl<'a> Ingest<'a> {
    /// An ingester over an open store.
    ///
    /// The admins' keyring is loaded from `signatures.keyrings`; keyring
    /// files that are missing or broken are reported (`check-config` names
    /// the problem) and leave the keyring without those certificates, so
    /// that signed replies are refused rather than mails lost.
    pub fn new(store: &'a dyn Store, config: &'a Config) -> Ingest<'a> {
        Ingest::with_preparer(store, Preparer::new(config))
    }

    /// An ingester that checks signatures against `keyring`.
    pub fn with_keyring(store: &'a dyn Store, config: &'a Config, keyring: Keyring) -> Ingest<'a> {
        Ingest::with_preparer(store, Preparer::with_keyring(config, keyring))
    }

    /// An ingester using keyrings and templates loaded before
    /// ([`Setup::load`]).
    pub fn with_setup(store: &'a dyn Store, config: &'a Config, setup: &Setup) -> Ingest<'a> {
        Ingest {
            store,
            mailer: Mailer::with_templates(config, setup.templates.clone()),
            prep: Preparer::with_trust(config, setup.trust.clone()).with_blobs(setup.blobs.clone()),
            importing: false,
        }
    }

    /// An ingester that prepares with `prep` (its configuration, keyring
    /// and clock): `deliver` prepares a mail before it opens the store.
    pub fn with_preparer(store: &'a dyn Store, prep: Preparer<'a>) -> Ingest<'a> {
        Ingest {
            store,
            mailer: Mailer::new(prep.config),
            prep,
            importing: false,
        }
    }

    /// The same ingester archiving logs in batches (`import`): a log is
    /// durable once [`Ingest::sync_archive`] returns, which must run before
    /// a mail referring to it is committed.
    pub fn batched(self) -> Ingest<'a> {
        Ingest {
            prep: self.prep.batched(),
            ..self
        }
    }

    /// Makes the logs archived so far durable (see [`Ingest::batched`]).
    pub fn sync_archive(&self) -> Result<(), StoreError> {
        self.prep.sync_archive()
    }

    /// The same ingester for an archive of old mail (`import` without
    /// `--live`): each mail's state change and history carry the mail's own
    /// `Date:` (the import time noted beside it), and nothing is done to
    /// the world: the uploads, removals, purges, notices and mails a mail
    /// would queue are left out, and its history and dedup record say
    /// "not sent: imported" and what that was.
    pub fn importing(self) -> Ingest<'a> {
        Ingest {
            importing: true,
            ..self
        }
    }

    /// The same ingester reading "now" from `clock`.
    pub fn with_clock(self, clock: SharedClock) -> Ingest<'a> {
        Ingest {
            prep: self.prep.with_clock(clock),
            ..self
        }
    }

    /// Ingests one raw mail: [`Ingest::prepare`] then [`Ingest::commit`].
    /// Errors only when the store fails; the caller must then not
    /// acknowledge the mail.
    pub fn raw(&self, raw: &RawMail) -> Result<Outcome, StoreError> {
        let prepared = self.prepare(raw)?;
        self.commit(raw, &prepared)
    }

    /// Processes quarantined mail `id` again, as if it had just arrived
    /// (after the cause was fixed: a keyring, a limit, a newer buildmail).
    /// Its commit takes it out of the quarantine; a mail that still cannot
    /// be processed is quarantined again under a new id. `None`: there is
    /// no quarantined mail `id`.
    pub fn reprocess(&self, id: u64) -> Result<Option<Outcome>, StoreError> {
        let Some((entry, bytes)) = self.store.quarantined_mail(id)? else {
            return Ok(None);
        };
        let raw = RawMail::Bytes(bytes);
        let mut prepared = self
            .prep
            .prepare_identified(&raw, prepare::identity(&raw), None)?;
        prepared.released = Some(id);
        let outcome = self.commit(&raw, &prepared)?;
        self.store.flush()?;
        // A mail too large for the database was kept in a file: removed
        // once the commit is durable, unless its new entry keeps it.
        if let Some(file) = &entry.raw_file {
            let kept = self
                .store
                .quarantined()?
                .iter()
                .any(|q| q.raw_file.as_ref() == Some(file));
            if !kept {
                let _ = std::fs::remove_file(file);
            }
        }
        Ok(Some(outcome))
    }

    /// Ingests one mail held in memory.
    pub fn mail(&self, raw: &[u8]) -> Result<Outcome, StoreError> {
        // RawMail owns its bytes; copying is cheaper than a second code path.
        self.raw(&RawMail::Bytes(raw.to_vec()))
    }
}
