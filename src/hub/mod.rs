//! The hub: every command's way into the farm's state, with three doors —
//! [`Hub::submit`] (a mail in), [`Hub::apply`] (a write a command makes:
//! `take`, `binnmu`, `forget-signature`, `outbox retry`, `quarantine
//! reprocess`, ...) and [`Hub::query`] (a view: [`crate::query`]) — plus
//! [`Hub::sync`] and the byte streams of an archived log or a quarantined
//! mail.
//!
//! Three implementations, one contract:
//!
//! * [`Core`] — the daemon's: it owns the store for its whole life, runs
//!   every write through one [`crate::store::gate::CommitGate`] (one read → decide → commit
//!   at a time, one flush shared by every commit before it; every write at
//!   once on a store that keeps its writers apart itself: PostgreSQL), keeps the
//!   keyrings, DKIM rules and templates loaded ([`crate::ingest::Setup`],
//!   reloaded on SIGHUP and when a keyring file changes), and runs the
//!   effects and the archive sync beside its doors ([`tasks`]).
//! * [`Local`] — a command's own, when no daemon runs: it opens the store
//!   for what it does and releases it at once (effects run with the store
//!   released between their steps).
//! * `serve::client::Remote` — the CLI's way to a running daemon over its
//!   control socket (HTTP/1.1 + JSON).
//!
//! The types that cross the doors ([`Query`], [`Answer`], [`Op`],
//! [`Done`], [`HubError`]) are serde values: the CLI renders the same
//! value whichever implementation answered, so a command prints the same
//! with a daemon running and without.

mod core;
mod local;
pub mod ops;
pub mod tasks;

use std::io::Write;

use serde::{Deserialize, Serialize};

pub use self::core::Core;
pub use crate::sync::{SuiteOutcome, SyncPhase, SyncProgress, SyncRun, SyncState};
pub use local::Local;
pub use ops::{Taken, SBUILD};
pub use tasks::Scheduler;

use crate::effects::outbox::Delivery;
use crate::effects::worker::Summary;
use crate::ingest::Outcome;
use crate::model::state::State;
use crate::model::{BuildRecord, LogRef, OutboundMail, QuarantineEntry, SignatureUse};
use crate::query::fsck::Findings;
use crate::query::pages;
use crate::query::status::Status;
use crate::query::{BuildHistory, Filter, QueueEntry};
use crate::store::StoreError;

/// A view to read ([`Hub::query`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "view", rename_all = "kebab-case")]
pub enum Query {
    /// Every record of a source (`info`).
    Info {
        /// The source package.
        source: String,
        /// Which dists and arches.
        #[serde(default)]
        filter: Filter,
    },
    /// Builds, optionally in one state (`list`).
    List {
        /// Only this state.
        state: Option<State>,
        /// Which dists and arches.
        #[serde(default)]
        filter: Filter,
    },
    /// Every transition of a source's builds (`history`).
    History {
        /// The source package.
        source: String,
        /// Which dists and arches.
        #[serde(default)]
        filter: Filter,
    },
    /// The archived logs of a source (`log`).
    Logs {
        /// The source package.
        source: String,
        /// Only this version.
        version: Option<String>,
        /// Which dists and arches.
        #[serde(default)]
        filter: Filter,
    },
    /// The needs-build queue of a suite and architecture (`queue`).
    Queue {
        /// The suite.
        suite: String,
        /// The architecture.
        arch: String,
        /// Only the first this many (`None`: all).
        #[serde(default)]
        limit: Option<usize>,
    },
    /// The outbox (`outbox list`).
    Outbox,
    /// The quarantine (`quarantine list`).
    Quarantine,
    /// One quarantined mail's entry (`quarantine show`).
    Quarantined {
        /// Its id.
        id: u64,
    },
    /// The recorded signatures (`forget-signature --list`).
    Signatures,
    /// The farm's status (`status`).
    Status,
    /// The database against its files (`fsck` without `--repair`).
    Fsck {
        /// Seconds an unreferenced file must be old to be an orphan.
        older_than: u64,
    },
    /// The archive sync: the one in progress and the last ones.
    Sync,
    /// Every suite and architecture with its counts, and the builders
    /// (the status pages' `/`).
    Overview,
    /// A source's page: its builds, logs and history.
    Source {
        /// The source package.
        source: String,
    },
    /// One archived log's page (`n`: 1 for the oldest of this version
    /// and architecture; none: the newest).
    Log {
        /// The source package.
        source: String,
        /// The version.
        version: String,
        /// The architecture.
        arch: String,
        /// Which log.
        #[serde(default)]
        n: Option<usize>,
    },
    /// A suite and architecture: counts, their history, the top of the
    /// queue, the problem states.
    Suite {
        /// The suite.
        suite: String,
        /// The architecture.
        arch: String,
    },
    /// One page of the builds of a suite and architecture in one state.
    InState {
        /// The suite.
        suite: String,
        /// The architecture.
        arch: String,
        /// The state.
        state: State,
        /// After this source (the previous page's last).
        #[serde(default)]
        after: Option<String>,
    },
    /// One page of a needs-build queue.
    QueuePage {
        /// The suite.
        suite: String,
        /// The architecture.
        arch: String,
        /// The page, 1 for the top.
        page: usize,
    },
    /// A builder's page.
    Builder {
        /// Its name.
        name: String,
    },
    /// A maintainer's page.
    Maintainer {
        /// The address.
        address: String,
    },
    /// Build-Attempted and Failed builds grouped by cause.
    Failures {
        /// Only this suite.
        #[serde(default)]
        suite: Option<String>,
        /// Only this architecture.
        #[serde(default)]
        arch: Option<String>,
    },
    /// Sources by name, maintainers by address or name.
    Search {
        /// What to look for.
        q: String,
    },
    /// The states and the transition table's edges.
    States,
    /// The metrics (`/metrics`).
    Metrics,
}

impl Query {
    /// Whether anyone who can reach a read-only listener may ask this: the
    /// builds, their histories and logs, the queue and the status. The
    /// quarantine, the outbox and the signatures hold other people's mail
    /// and addresses: only the control socket answers them.
    pub fn is_public(&self) -> bool {
        matches!(
            self,
            Query::Info { .. }
                | Query::List { .. }
                | Query::History { .. }
                | Query::Logs { .. }
                | Query::Queue { .. }
                | Query::Status
                | Query::Sync
                | Query::Overview
                | Query::Source { .. }
                | Query::Log { .. }
                | Query::Suite { .. }
                | Query::InState { .. }
                | Query::QueuePage { .. }
                | Query::Builder { .. }
                | Query::Maintainer { .. }
                | Query::Failures { .. }
                | Query::Search { .. }
                | Query::States
                | Query::Metrics
        )
    }
}

/// What a [`Query`] answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", content = "value", rename_all = "kebab-case")]
pub enum Answer {
    /// Build records (`Info`, `List`).
    Builds(Vec<BuildRecord>),
    /// Histories (`History`).
    Histories(Vec<BuildHistory>),
    /// Archived logs (`Logs`).
    Logs(Vec<LogRef>),
    /// The queue (`Queue`).
    Queue(Vec<QueueEntry>),
    /// The outbox (`Outbox`).
    Outbox(Vec<OutboundMail>),
    /// The quarantine (`Quarantine`).
    Quarantine(Vec<QuarantineEntry>),
    /// One quarantined mail (`Quarantined`); `None`: no such id.
    Quarantined(Option<QuarantineEntry>),
    /// The signatures (`Signatures`).
    Signatures(Vec<SignatureUse>),
    /// The status (`Status`).
    Status(Box<Status>),
    /// What `fsck` found (`Fsck`).
    Fsck(Box<Findings>),
    /// The sync (`Sync`).
    Sync(Box<SyncState>),
    /// `Overview`.
    Overview(Box<pages::Overview>),
    /// `Source` (`None`: no such source).
    Source(Option<Box<pages::SourcePage>>),
    /// `Log` (`None`: no such log).
    Log(Option<Box<pages::LogPage>>),
    /// `Suite` (`None`: no build of that suite and architecture).
    Suite(Option<Box<pages::SuitePage>>),
    /// `InState`.
    InState(Box<pages::StateList>),
    /// `QueuePage`.
    QueuePage(Box<pages::QueuePage>),
    /// `Builder` (`None`: nothing known of it).
    Builder(Option<Box<pages::BuilderPage>>),
    /// `Maintainer` (`None`: no source names it).
    Maintainer(Option<Box<pages::MaintainerPage>>),
    /// `Failures`.
    Failures(Box<pages::FailuresPage>),
    /// `Search`.
    Search(Box<pages::SearchPage>),
    /// `States`.
    States(Box<pages::StatesPage>),
    /// `Metrics`.
    Metrics(Box<pages::Metrics>),
}

/// A write a command makes ([`Hub::apply`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// Hand the top of the queue (or `source`) to `builder`.
    Take {
        /// The suite.
        suite: String,
        /// The architecture.
        arch: String,
        /// The builder taking it.
        builder: String,
        /// This source instead of the top of the queue.
        source: Option<String>,
    },
    /// Schedule a binNMU of an Installed build.
    Binnmu {
        /// The source package.
        source: String,
        /// Its source version (without `+bN`).
        version: String,
        /// The suite.
        suite: String,
        /// The architecture.
        arch: String,
        /// The changelog entry.
        message: String,
    },
    /// Start a sync of one suite (`None`: every configured one); the
    /// answer names the run, [`Query::Sync`] shows how it goes.
    Sync {
        /// Only this suite.
        suite: Option<String>,
    },
    /// Clear the replay records of a signature.
    ForgetSignature {
        /// At least 8 hex digits of the signed bytes' SHA-256.
        sha256: String,
    },
    /// Make outbox mails due again (dead ones too) and deliver them.
    OutboxRetry {
        /// These ids (ignored with `all`).
        ids: Vec<u64>,
        /// Every queued mail.
        all: bool,
    },
    /// Deliver every live outbox mail now, whatever its backoff.
    OutboxFlush,
    /// Delete quarantined mails.
    QuarantineDelete {
        /// Their ids.
        ids: Vec<u64>,
    },
    /// Process quarantined mails again.
    QuarantineReprocess {
        /// These ids (ignored with `all`).
        ids: Vec<u64>,
        /// Every quarantined mail.
        all: bool,
    },
    /// Run the effects now (`work`); only the explanations with
    /// `explanations`.
    Work {
        /// Only explain failed logs.
        explanations: bool,
    },
    /// Remove what `fsck` finds orphaned.
    FsckRepair {
        /// Seconds an unreferenced file must be old to be an orphan.
        older_than: u64,
    },
}

/// What an [`Op`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "done", content = "value", rename_all = "kebab-case")]
pub enum Done {
    /// A build was handed out.
    Taken(Box<Taken>),
    /// A binNMU was scheduled: the build as it is now.
    Binnmu(Box<BuildRecord>),
    /// A sync ran here, to its end (a command without a daemon).
    Synced(Box<SyncRun>),
    /// A sync runs (`already`: one was running or waiting, and this is it).
    SyncStarted {
        /// The run to follow in [`Query::Sync`].
        run: u64,
        /// Whether it had been started before.
        already: bool,
    },
    /// Replay records removed.
    Forgot(Vec<SignatureUse>),
    /// Outbox mails made due and delivered.
    Delivered {
        /// Ids asked for that are not in the outbox.
        unknown: Vec<u64>,
        /// The delivery run.
        delivery: Delivery,
    },
    /// Quarantined mails deleted.
    Deleted {
        /// Deleted.
        deleted: Vec<u64>,
        /// Not in the quarantine.
        missing: Vec<u64>,
    },
    /// Quarantined mails processed again: each id with what happened
    /// (`None`: no such id), then the effects they asked for.
    Reprocessed {
        /// Per id.
        mails: Vec<(u64, Option<Outcome>)>,
        /// The effects run afterwards.
        work: Option<Summary>,
    },
    /// The effects ran (`None`: another worker is running them).
    Worked(Option<Summary>),
    /// Orphans removed.
    Repaired(Box<Findings>),
}

/// How a submitted mail is ingested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MailMode {
    /// As it arrives (`deliver`, LMTP): dated now, its effects carried out.
    #[default]
    Deliver,
    /// From an archive of old mail (`import`): dated by its own `Date:`,
    /// nothing sent or run.
    Import,
}

/// Why the hub could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct HubError {
    /// What kind of failure (the exit status follows from it).
    pub kind: ErrorKind,
    /// What happened and what to do, in words.
    pub message: String,
}

/// The kinds of [`HubError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The request was understood and refused (nothing to take, no such
    /// build, a bad argument): nothing changed.
    Refused,
    /// It could not be done now (the database is busy or failed, a DKIM
    /// lookup failed): nothing changed, try again later.
    Unavailable,
    /// It cannot be done until an operator acts (the data directory
    /// cannot be used, a database of a newer buildmail).
    Permanent,
    /// The daemon does not answer this on this listener.
    Forbidden,
}

impl HubError {
    /// A refusal, in words.
    pub fn refused(message: impl Into<String>) -> HubError {
        HubError {
            kind: ErrorKind::Refused,
            message: message.into(),
        }
    }

    /// A temporary failure, in words.
    pub fn unavailable(message: impl Into<String>) -> HubError {
        HubError {
            kind: ErrorKind::Unavailable,
            message: message.into(),
        }
    }
}

impl From<StoreError> for HubError {
    fn from(e: StoreError) -> HubError {
        HubError {
            kind: if e.is_permanent() {
                ErrorKind::Permanent
            } else {
                ErrorKind::Unavailable
            },
            message: e.to_string(),
        }
    }
}

/// What became of a submitted mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailAnswer {
    /// What happened to it.
    pub outcome: Outcome,
    /// The same in words (`deliver -v`, LMTP's 250 text).
    pub said: String,
}

impl MailAnswer {
    /// The answer for `outcome`.
    pub fn of(outcome: Outcome) -> MailAnswer {
        MailAnswer {
            said: outcome.to_string(),
            outcome,
        }
    }
}

/// The doors every command goes through: the daemon's [`Core`], a
/// command's [`Local`] when no daemon runs, or the client of a running
/// daemon. All block; none holds a lock while an effect runs.
pub trait Hub {
    /// Where the answers come from, in words (`buildmail serve (pid 12)`,
    /// `the database <path>`).
    fn describe(&self) -> String;

    /// Ingests one mail; `Ok` once it is durably committed (a duplicate or
    /// a quarantined mail too), `Err` when it could not be (the mail must
    /// not be acknowledged).
    fn submit(
        &self,
        raw: crate::inbound::source::RawMail,
        mode: MailMode,
    ) -> Result<MailAnswer, HubError>;

    /// Reads a view.
    fn query(&self, q: Query) -> Result<Answer, HubError>;

    /// Makes a write.
    fn apply(&self, op: Op) -> Result<Done, HubError>;

    /// Syncs the archive (one suite, or every configured one) and returns
    /// once the sync is done, telling `progress` how it goes meanwhile;
    /// a daemon runs it in its own task (one sync at a time: a sync
    /// already running is followed instead of started twice).
    fn sync(
        &self,
        suite: Option<String>,
        progress: &mut dyn FnMut(&SyncProgress),
    ) -> Result<SyncRun, HubError>;

    /// Writes the archived log `id`, decompressed, byte-exact, to `out`.
    fn copy_log(&self, id: &str, out: &mut dyn Write) -> Result<(), HubError>;

    /// Writes quarantined mail `id`, byte-exact, to `out`; `Ok(false)`:
    /// no such mail.
    fn copy_quarantined(&self, id: u64, out: &mut dyn Write) -> Result<bool, HubError>;
}

/// Answers `q` from `store` at `now`: every view but the daemon's own
/// part of `Status`, `Sync` and `Metrics`.
fn view(
    store: &dyn crate::store::Store,
    config: &crate::config::Config,
    q: Query,
    now: i64,
) -> Result<Answer, HubError> {
    use crate::query;
    Ok(match q {
        Query::Info { source, filter } => Answer::Builds(query::info(store, &source, &filter)?),
        Query::List { state, filter } => Answer::Builds(query::list(store, state, &filter)?),
        Query::History { source, filter } => {
            Answer::Histories(query::history(store, &source, &filter)?)
        }
        Query::Logs {
            source,
            version,
            filter,
        } => Answer::Logs(query::logs(store, &source, version.as_deref(), &filter)?),
        Query::Queue { suite, arch, limit } => {
            let mut queue = query::queue(store, &config.archive, &suite, &arch)?;
            queue.truncate(limit.unwrap_or(usize::MAX));
            Answer::Queue(queue)
        }
        Query::Outbox => Answer::Outbox(query::outbox(store)?),
        Query::Quarantine => Answer::Quarantine(query::quarantine(store)?),
        Query::Quarantined { id } => Answer::Quarantined(query::quarantined(store, id)?),
        Query::Signatures => Answer::Signatures(query::signatures(store)?),
        Query::Status => Answer::Status(Box::new(query::status(store, config)?)),
        Query::Fsck { older_than } => Answer::Fsck(Box::new(query::fsck::scan(
            store,
            config,
            std::time::Duration::from_secs(older_than),
        )?)),
        Query::Sync => Answer::Sync(Box::default()),
        Query::Overview => Answer::Overview(Box::new(pages::overview(store)?)),
        Query::Source { source } => {
            Answer::Source(pages::source_page(store, &source)?.map(Box::new))
        }
        Query::Log {
            source,
            version,
            arch,
            n,
        } => Answer::Log(pages::log_page(store, &source, &version, &arch, n)?.map(Box::new)),
        q @ (Query::Suite { .. } | Query::QueuePage { .. }) => {
            let (Query::Suite { suite, arch } | Query::QueuePage { suite, arch, .. }) = &q else {
                return Err(HubError::refused("not a queue view"));
            };
            let queue = query::queue(store, &config.archive, suite, arch)?;
            with_queue(store, q, &queue, now)?
        }
        Query::InState {
            suite,
            arch,
            state,
            after,
        } => Answer::InState(Box::new(pages::state_list(
            store,
            &suite,
            &arch,
            state,
            after.as_deref(),
            pages::PAGE,
        )?)),
        Query::Builder { name } => {
            Answer::Builder(pages::builder_page(store, &name)?.map(Box::new))
        }
        Query::Maintainer { address } => {
            Answer::Maintainer(pages::maintainer_page(store, &address)?.map(Box::new))
        }
        Query::Failures { suite, arch } => Answer::Failures(Box::new(pages::failures_page(
            store,
            suite.as_deref(),
            arch.as_deref(),
        )?)),
        Query::Search { q } => Answer::Search(Box::new(pages::search(store, &q)?)),
        Query::States => Answer::States(Box::new(pages::states_page())),
        Query::Metrics => Answer::Metrics(Box::new(pages::metrics(store, config)?)),
    })
}

/// Answers the views that show a needs-build queue (`Suite`,
/// `QueuePage`) from `queue`, that queue in order (the daemon keeps it
/// between commits).
fn with_queue(
    store: &dyn crate::store::Store,
    q: Query,
    queue: &[crate::query::QueueEntry],
    now: i64,
) -> Result<Answer, HubError> {
    Ok(match q {
        Query::Suite { suite, arch } => Answer::Suite(
            pages::suite_page(store, queue, &suite, &arch, now.div_euclid(86_400))?.map(Box::new),
        ),
        Query::QueuePage { suite, arch, page } => Answer::QueuePage(Box::new(pages::queue_page(
            queue,
            &suite,
            &arch,
            page,
            pages::PAGE,
        ))),
        _ => return Err(HubError::refused("not a queue view")),
    })
}
