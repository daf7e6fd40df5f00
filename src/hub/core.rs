//! The daemon's hub: it owns the store, the commit gate, the clock, and
//! what ingesting reads from files (keyrings, DKIM rules, templates),
//! and answers every door (see [`super`]).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use super::tasks::SyncBoard;
use super::{
    ops, Answer, Done, Hub, HubError, MailAnswer, MailMode, Op, Query, SyncProgress, SyncRun,
};
use crate::config::Config;
use crate::effects::outbox;
use crate::effects::{explain, worker, StoreAccess};
use crate::inbound::source::RawMail;
use crate::ingest::{Ingest, Setup};
use crate::query;
use crate::query::pages::Metrics;
use crate::query::status::{Daemon, Status};
use crate::query::QueueEntry;
use crate::store::blobs::Blobs;
use crate::store::gate::CommitGate;
use crate::store::{Store, StoreError};
use crate::time::SharedClock;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::time::Instant;

/// The daemon's hub.
pub struct Core {
    store: Arc<dyn Store>,
    gate: CommitGate,
    clock: SharedClock,
    /// The configuration; replaced by SIGHUP ([`Core::reload`]).
    config: RwLock<Arc<Config>>,
    /// Where the configuration was read from (`--config`; `None`: the
    /// environment or the default place, looked up again on reload).
    config_path: Option<PathBuf>,
    /// Keyrings, DKIM rules and templates; loaded again on reload and
    /// when a keyring file changed.
    setup: RwLock<Arc<Setup>>,
    /// When the daemon started (Unix seconds).
    started: i64,
    /// Mails committed since.
    mails: AtomicU64,
    /// Of those, by outcome, and the refusals by reason (`/metrics`).
    tally: Mutex<Tally>,
    /// The needs-build queues the status pages read, in order.
    queues: QueueMemo,
    /// Effects rounds finished since.
    pub(super) rounds: AtomicU64,
    /// Where it listens (for `status`).
    listening: Mutex<Vec<String>>,
    /// Wakes the effects task after a commit.
    pub(super) effects: tokio::sync::Notify,
    /// The archive sync: requested, running, done.
    pub(super) sync: SyncBoard,
    /// Set once the daemon is stopping: a running merge ends after its
    /// batch.
    stopping: AtomicBool,
    /// How often the scheduled work runs without a new mail.
    pub(super) tick: Duration,
}

impl Core {
    /// A hub over `store`, reading "now" from `clock`; the scheduled work
    /// ([`super::tasks`]) looks every `tick`.
    pub fn new(
        config: Config,
        config_path: Option<PathBuf>,
        store: Arc<dyn Store>,
        clock: SharedClock,
        tick: Duration,
    ) -> Core {
        let setup = Setup::load(&config);
        Core {
            gate: CommitGate::for_store(&*store),
            store,
            started: clock.now(),
            clock,
            config: RwLock::new(Arc::new(config)),
            config_path,
            setup: RwLock::new(Arc::new(setup)),
            mails: AtomicU64::new(0),
            tally: Mutex::new(Tally::default()),
            queues: QueueMemo::default(),
            rounds: AtomicU64::new(0),
            listening: Mutex::new(Vec::new()),
            effects: tokio::sync::Notify::new(),
            sync: SyncBoard::default(),
            stopping: AtomicBool::new(false),
            tick,
        }
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The commit gate every write of the daemon goes through.
    pub fn gate(&self) -> &CommitGate {
        &self.gate
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// How the effects reach the store: through the gate.
    pub fn access(&self) -> StoreAccess<'_> {
        StoreAccess::Guarded(&*self.store, &self.gate)
    }

    /// The configuration now (a request keeps the one it started with).
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The keyrings and templates now; loaded again first when a keyring
    /// file changed since (a new admin key counts from the next mail).
    pub fn setup(&self) -> Arc<Setup> {
        let current = self
            .setup
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if !current.is_stale() {
            return current;
        }
        let mut slot = self.setup.write().unwrap_or_else(PoisonError::into_inner);
        if slot.is_stale() {
            tracing::info!("serve: a keyring file changed; keyrings loaded again");
            *slot = Arc::new(Setup::load(&self.config()));
        }
        slot.clone()
    }

    /// Reads the configuration again (SIGHUP): a configuration that does
    /// not load is refused and the running one kept. What only a restart
    /// can change (the database, the listeners) is kept, with a warning.
    /// The keyrings and templates are loaded again.
    pub fn reload(&self) -> Result<(), String> {
        let new = Config::load(self.config_path.as_deref()).map_err(|e| e.to_string())?;
        let old = self.config();
        if new.database.path != old.database.path {
            tracing::warn!(
                "serve: reload: database.path changed ({} → {}); the daemon keeps {} until it is restarted",
                old.database.path.display(),
                new.database.path.display(),
                old.database.path.display()
            );
        }
        if new.serve.lmtp != old.serve.lmtp
            || new.serve.control != old.serve.control
            || new.serve.http != old.serve.http
        {
            tracing::warn!("serve: reload: serve.lmtp, serve.control or serve.http changed; the listeners change when the daemon is restarted");
        }
        let (a, b) = (&new.serve, &old.serve);
        if (
            a.unix_sessions,
            a.tcp_sessions,
            a.tcp_sessions_per_peer,
            a.mail_budget,
            a.http_workers,
        ) != (
            b.unix_sessions,
            b.tcp_sessions,
            b.tcp_sessions_per_peer,
            b.mail_budget,
            b.http_workers,
        ) {
            tracing::warn!("serve: reload: the session pools, serve.mail_budget and serve.http_workers change when the daemon is restarted");
        }
        let mut new = new;
        new.database = old.database.clone();
        new.serve.control = old.serve.control.clone();
        let setup = Setup::load(&new);
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(new);
        *self.setup.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(setup);
        Ok(())
    }

    /// Records where the daemon listens (for `status`).
    pub fn set_listening(&self, listening: Vec<String>) {
        *self
            .listening
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = listening;
    }

    /// The daemon is stopping: a merge ends after its current batch, and
    /// no new sync starts.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.sync.wake_all();
    }

    /// Whether [`Core::stop`] was called.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Effects rounds the effects task finished since the daemon started.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::SeqCst)
    }

    /// Mails committed since the daemon started.
    pub fn mails(&self) -> u64 {
        self.mails.load(Ordering::SeqCst)
    }

    /// The status, this daemon's part included.
    pub fn status(&self) -> Result<Status, StoreError> {
        // A database that does not answer is part of the answer: the
        // daemon still runs (deferring mail), and says so.
        let mut s = query::status(&*self.store, &self.config()).unwrap_or_else(|e| Status {
            database: self.store.describe(),
            database_error: Some(e.to_string()),
            ..Status::default()
        });
        s.daemon = Some(Daemon {
            pid: std::process::id(),
            started: self.started,
            committed: self.mails(),
            listening: self
                .listening
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            sync: self.sync.state().running,
        });
        Ok(s)
    }

    /// The needs-build queue of `suite`/`arch` in order, for the status
    /// pages: ordered again only when a commit was made since, and then
    /// at most every [`QUEUE_STALE`] (a queue of 50,000 builds takes a
    /// good part of a second to read and order; under a stream of mail
    /// the pages show it up to that old). While one request orders it
    /// again, the others are answered from the order before; only the
    /// very first order is waited for.
    fn queue(&self, suite: &str, arch: &str) -> Result<Arc<Vec<QueueEntry>>, StoreError> {
        let slot = self
            .queues
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((suite.to_string(), arch.to_string()))
            .or_default()
            .clone();
        let commits = self.gate.commits();
        let known = slot
            .ordered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|m| {
                (
                    m.commits == commits || m.at.elapsed() < QUEUE_STALE,
                    m.entries.clone(),
                )
            });
        let _ordering = match known {
            Some((true, entries)) => return Ok(entries),
            Some((false, entries)) => match slot.ordering.try_lock() {
                Ok(g) => g,
                // Another request orders it now.
                Err(_) => return Ok(entries),
            },
            None => slot.ordering.lock().unwrap_or_else(PoisonError::into_inner),
        };
        // The request that held the lock before may have ordered it.
        if let Some(m) = slot
            .ordered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|m| m.commits == commits)
        {
            return Ok(m.entries.clone());
        }
        let entries = Arc::new(query::queue(
            &*self.store,
            &self.config().archive,
            suite,
            arch,
        )?);
        *slot.ordered.lock().unwrap_or_else(PoisonError::into_inner) = Some(Ordered {
            commits,
            at: Instant::now(),
            entries: entries.clone(),
        });
        Ok(entries)
    }

    /// The metrics, this daemon's counters included.
    pub fn metrics(&self) -> Result<Metrics, StoreError> {
        let mut m = query::pages::metrics(&*self.store, &self.config())?;
        m.status = self.status()?;
        let t = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        m.outcomes = t.outcomes.clone();
        m.refusals = t.refusals.clone();
        Ok(m)
    }

    /// Runs `f`'s reads, decision and commit under the gate, then waits
    /// for the commit to be durable.
    fn write<R>(&self, f: impl FnOnce(&dyn Store) -> Result<R, HubError>) -> Result<R, HubError> {
        let (r, seq) = self.gate.write(|| f(&*self.store))?;
        self.gate.durable(seq, &*self.store)?;
        Ok(r)
    }

    /// The effects, run now on this thread (claims keep them apart from
    /// the effects task's round).
    fn run_effects(&self, config: &Config) -> Result<worker::Summary, HubError> {
        let templates = self.setup().templates.clone();
        Ok(worker::run_pending_with(
            self.access(),
            config,
            templates,
            &*self.clock,
        )?)
    }
}

impl Hub for Core {
    fn describe(&self) -> String {
        format!("buildmail serve (pid {})", std::process::id())
    }

    fn submit(&self, raw: RawMail, mode: MailMode) -> Result<MailAnswer, HubError> {
        let config = self.config();
        let setup = self.setup();
        let ingest =
            Ingest::with_setup(&*self.store, &config, &setup).with_clock(self.clock.clone());
        let ingest = match mode {
            MailMode::Deliver => ingest,
            MailMode::Import => ingest.importing(),
        };
        // Parsing, signature and DKIM checks (which may ask DNS) and
        // archiving the log run outside the gate, beside other requests;
        // only the commit holds it, and the flush that makes it durable is
        // shared (group commit).
        let prepared = ingest.prepare(&raw)?;
        let (outcome, seq) = self.gate.write(|| ingest.commit(&raw, &prepared))?;
        self.gate.durable(seq, &*self.store)?;
        self.mails.fetch_add(1, Ordering::SeqCst);
        self.tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .count(&outcome);
        self.effects.notify_one();
        Ok(MailAnswer::of(outcome))
    }

    fn query(&self, q: Query) -> Result<Answer, HubError> {
        Ok(match q {
            Query::Status => Answer::Status(Box::new(self.status()?)),
            Query::Sync => Answer::Sync(Box::new(self.sync.state())),
            Query::Metrics => Answer::Metrics(Box::new(self.metrics()?)),
            q @ (Query::Suite { .. } | Query::QueuePage { .. }) => {
                let (Query::Suite { suite, arch } | Query::QueuePage { suite, arch, .. }) = &q
                else {
                    return Err(HubError::refused("not a queue view"));
                };
                let queue = self.queue(suite, arch)?;
                super::with_queue(&*self.store, q, &queue, self.clock.now())?
            }
            q => super::view(&*self.store, &self.config(), q, self.clock.now())?,
        })
    }

    fn apply(&self, op: Op) -> Result<Done, HubError> {
        let config = self.config();
        let now = self.clock.now();
        Ok(match op {
            op @ (Op::Take { .. }
            | Op::Binnmu { .. }
            | Op::ForgetSignature { .. }
            | Op::QuarantineDelete { .. }) => {
                let (done, files) = self.write(|s| ops::write(s, &config, &op, now))?;
                ops::remove_files(&files);
                done
            }
            Op::Sync { suite } => {
                if self.stopping() {
                    return Err(HubError::unavailable(
                        "the daemon is stopping; sync again once it is back",
                    ));
                }
                if config.archive.root.is_none() {
                    return Err(HubError::refused(
                        crate::sync::SyncError::NoArchive.to_string(),
                    ));
                }
                let (run, already) = self.sync.request(suite);
                Done::SyncStarted { run, already }
            }
            Op::OutboxRetry { ids, all } => {
                let unknown = self.write(|s| ops::outbox_retry(s, &ids, all, now))?;
                let delivery = outbox::deliver_due(self.access(), &config, &*self.clock, true)?;
                Done::Delivered { unknown, delivery }
            }
            Op::OutboxFlush => Done::Delivered {
                unknown: Vec::new(),
                delivery: outbox::deliver_due(self.access(), &config, &*self.clock, true)?,
            },
            Op::QuarantineReprocess { ids, all } => {
                let setup = self.setup();
                let ids = ops::quarantine_ids(&*self.store, &ids, all)?;
                let ingest = Ingest::with_setup(&*self.store, &config, &setup)
                    .with_clock(self.clock.clone());
                let mut mails = Vec::new();
                for id in ids {
                    let (outcome, _) = self.gate.write(|| ingest.reprocess(id))?;
                    mails.push((id, outcome));
                }
                let work = self.run_effects(&config)?;
                Done::Reprocessed {
                    mails,
                    work: Some(work),
                }
            }
            Op::Work { explanations } => {
                if explanations {
                    let n = explain::run_pending(self.access(), &config, &*self.clock)?;
                    Done::Worked(Some(worker::Summary {
                        explained: n,
                        ..worker::Summary::default()
                    }))
                } else {
                    Done::Worked(Some(self.run_effects(&config)?))
                }
            }
            Op::FsckRepair { older_than } => {
                let older_than = Duration::from_secs(older_than);
                let mut f = query::fsck::scan(&*self.store, &config, older_than)?;
                query::fsck::repair(&mut f, &config, older_than);
                Done::Repaired(Box::new(f))
            }
        })
    }

    fn sync(
        &self,
        suite: Option<String>,
        progress: &mut dyn FnMut(&SyncProgress),
    ) -> Result<SyncRun, HubError> {
        let Done::SyncStarted { run, .. } = self.apply(Op::Sync { suite })? else {
            return Err(HubError::unavailable("the sync did not start"));
        };
        Ok(self.sync.wait(run, progress))
    }

    fn copy_log(&self, id: &str, out: &mut dyn Write) -> Result<(), HubError> {
        copy_log(&self.setup().blobs, id, out)
    }

    fn copy_quarantined(&self, id: u64, out: &mut dyn Write) -> Result<bool, HubError> {
        copy_quarantined(&*self.store, &self.setup().blobs, id, out)
    }
}

/// How old an ordered queue the status pages may be shown while commits
/// go on ([`Core::queue`]).
pub const QUEUE_STALE: Duration = Duration::from_secs(5);

/// The ordered queues of [`Core::queue`], one slot per suite and
/// architecture.
#[derive(Default)]
struct QueueMemo {
    slots: Mutex<HashMap<(String, String), Slot>>,
}

/// One suite and architecture's ordered queue.
type Slot = Arc<QueueSlot>;

/// The last order of a queue, and the lock of the one request ordering it
/// again.
#[derive(Default)]
struct QueueSlot {
    ordered: Mutex<Option<Ordered>>,
    ordering: Mutex<()>,
}

/// A queue as ordered after `commits` commits, at `at`.
struct Ordered {
    commits: u64,
    at: Instant,
    entries: Arc<Vec<QueueEntry>>,
}

/// The daemon's counts of committed mails by outcome and of refusals by
/// reason.
#[derive(Debug, Default)]
struct Tally {
    outcomes: BTreeMap<String, u64>,
    refusals: BTreeMap<String, u64>,
}

impl Tally {
    fn count(&mut self, o: &crate::ingest::Outcome) {
        use crate::ingest::Outcome;
        let (outcome, refusal) = match o {
            Outcome::Log { .. } => ("log", None),
            Outcome::Reply {
                applied, reasons, ..
            } => (
                "reply",
                (!applied).then(|| {
                    if reasons
                        .iter()
                        .any(|r| r.starts_with("signature already seen"))
                    {
                        "replay"
                    } else {
                        "command"
                    }
                }),
            ),
            Outcome::Archive { .. } => ("archive", None),
            Outcome::Forwarded {
                forwarded: true, ..
            } => ("forwarded", None),
            Outcome::Forwarded { .. } => ("kept", None),
            Outcome::Duplicate(why) => (
                "duplicate",
                Some(if why.starts_with("signature") {
                    "replay"
                } else {
                    "duplicate"
                }),
            ),
            Outcome::Quarantined { .. } => ("quarantined", Some("quarantined")),
        };
        *self.outcomes.entry(outcome.into()).or_default() += 1;
        if let Some(r) = refusal {
            *self.refusals.entry(r.into()).or_default() += 1;
        }
    }
}

/// Writes archived log `id` to `out` as it is decoded.
pub(super) fn copy_log(blobs: &Blobs, id: &str, out: &mut dyn Write) -> Result<(), HubError> {
    blobs.copy_log(id, out).map(drop).map_err(|e| {
        HubError::unavailable(format!(
            "cannot read the archived log {id} from {}: {e}",
            blobs.logs.describe()
        ))
    })
}

/// Writes quarantined mail `id` to `out`: from its blob when it is kept
/// in one, or from the file an earlier release kept it in (either
/// streamed, never read whole into memory), else from the store.
pub(super) fn copy_quarantined(
    store: &dyn Store,
    blobs: &Blobs,
    id: u64,
    out: &mut dyn Write,
) -> Result<bool, HubError> {
    let Some(entry) = query::quarantined(store, id)? else {
        return Ok(false);
    };
    let io = |e: std::io::Error| HubError::unavailable(format!("quarantined mail #{id}: {e}"));
    if let Some(blob) = &entry.blob {
        blobs.copy_mail(blob, out).map_err(io)?;
        return Ok(true);
    }
    if let Some(path) = &entry.raw_file {
        let mut f = std::fs::File::open(path).map_err(io)?;
        std::io::copy(&mut f, out).map_err(io)?;
        return Ok(true);
    }
    match store.quarantined_mail(id)? {
        Some((_, bytes)) => {
            out.write_all(&bytes).map_err(io)?;
            Ok(true)
        }
        None => Ok(false),
    }
}
