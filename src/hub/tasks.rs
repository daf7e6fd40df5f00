//! The daemon's scheduled work, beside its doors: the effects (after each
//! commit and every tick) and the archive sync (when asked, and every
//! `serve.sync_every`), each in a task of its own, so a slow mirror never
//! stalls an upload or the outbox, and a merge holds the commit gate one
//! batch at a time ([`crate::sync::merge`]).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use super::Core;
use crate::config::Config;
use crate::effects::compose::Mailer;
use crate::effects::worker;
use crate::store::Store;
use crate::sync::{
    Read, SuiteOutcome, SuiteReport, SyncError, SyncPhase, SyncProgress, SyncRun, SyncState,
};
use crate::time::SharedClock;

/// How many finished syncs are remembered.
const KEPT_RUNS: usize = 16;

/// The syncs asked for, running and done; shared by the doors and the
/// sync task.
#[derive(Default)]
pub struct SyncBoard {
    board: Mutex<Board>,
    /// Signalled whenever the board changes (progress, a finished run).
    changed: Condvar,
    /// Wakes the sync task when a sync is asked for.
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct Board {
    /// The last run number given out.
    last: u64,
    /// A run asked for, not started yet, with its suite (`None`: all).
    pending: Option<(u64, Option<String>)>,
    /// The run in progress, with its suite.
    running: Option<(SyncProgress, Option<String>)>,
    /// The last runs, oldest first.
    finished: VecDeque<SyncRun>,
    /// When the last scheduled sync started (Unix seconds, the daemon's
    /// clock).
    last_scheduled: Option<i64>,
}

impl SyncBoard {
    fn lock(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks for a sync of `suite` (`None`: every configured suite): the
    /// run that will do it, and whether it was asked for already (a sync
    /// waiting, or one running that covers it, is followed instead of
    /// starting another).
    pub fn request(&self, suite: Option<String>) -> (u64, bool) {
        let mut b = self.lock();
        if let Some((run, _)) = &b.pending {
            return (*run, true);
        }
        if let Some((p, scope)) = &b.running {
            if scope.is_none() || *scope == suite {
                return (p.run, true);
            }
        }
        b.last += 1;
        let run = b.last;
        b.pending = Some((run, suite));
        drop(b);
        self.wake.notify_one();
        (run, false)
    }

    /// What the syncs are doing.
    pub fn state(&self) -> SyncState {
        let b = self.lock();
        SyncState {
            running: b.running.as_ref().map(|(p, _)| p.clone()),
            pending: b.pending.as_ref().map(|(run, _)| *run),
            finished: b.finished.iter().cloned().collect(),
        }
    }

    /// Waits until `run` has finished, telling `progress` how it goes;
    /// its result.
    pub fn wait(&self, run: u64, progress: &mut dyn FnMut(&SyncProgress)) -> SyncRun {
        let mut b = self.lock();
        loop {
            if let Some(done) = b.finished.iter().find(|r| r.run == run) {
                return done.clone();
            }
            let waiting = b.pending.as_ref().is_some_and(|(r, _)| *r == run)
                || b.running.as_ref().is_some_and(|(p, _)| p.run == run);
            if !waiting {
                // Forgotten already (more than KEPT_RUNS ran since), or
                // never asked for.
                return SyncRun {
                    run,
                    started: 0,
                    finished: 0,
                    suites: Vec::new(),
                };
            }
            if let Some((p, _)) = &b.running {
                if p.run == run {
                    progress(p);
                }
            }
            b = self
                .changed
                .wait_timeout(b, Duration::from_secs(1))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Wakes everything waiting on the board (the daemon is stopping).
    pub fn wake_all(&self) {
        self.changed.notify_all();
        self.wake.notify_one();
    }

    /// The next run to do, now marked running: one asked for, or a
    /// scheduled one of every suite when `every` has passed since the last
    /// (at `now`).
    fn next(&self, now: i64, every: Option<Duration>) -> Option<(u64, Option<String>)> {
        let mut b = self.lock();
        let (run, suite) = match b.pending.take() {
            Some(p) => p,
            None => {
                let every = i64::try_from(every?.as_secs()).unwrap_or(i64::MAX);
                if b.last_scheduled.is_some_and(|t| now - t < every) {
                    return None;
                }
                b.last_scheduled = Some(now);
                b.last += 1;
                (b.last, None)
            }
        };
        b.running = Some((
            SyncProgress {
                run,
                suite: suite.clone().unwrap_or_default(),
                phase: SyncPhase::Waiting,
                done: 0,
                total: 0,
                started: now,
            },
            suite.clone(),
        ));
        Some((run, suite))
    }

    fn set_running(&self, p: Option<(SyncProgress, Option<String>)>) {
        self.lock().running = p;
        self.changed.notify_all();
    }

    fn progress(&self, f: impl FnOnce(&mut SyncProgress)) {
        if let Some((p, _)) = &mut self.lock().running {
            f(p);
        }
        self.changed.notify_all();
    }

    fn finish(&self, run: SyncRun) {
        let mut b = self.lock();
        b.running = None;
        b.finished.push_back(run);
        while b.finished.len() > KEPT_RUNS {
            b.finished.pop_front();
        }
        drop(b);
        self.changed.notify_all();
    }
}

/// Runs the effects at start, after commits and every tick, until `stop`
/// turns true (a round in progress ends first).
pub async fn effects_task(core: Arc<Core>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut first = true;
    loop {
        if *stop.borrow() {
            return;
        }
        if !first {
            tokio::select! {
                _ = stop.changed() => return,
                _ = core.effects.notified() => {}
                _ = tokio::time::sleep(core.tick) => {}
            }
        }
        first = false;
        let c = core.clone();
        let r = tokio::task::spawn_blocking(move || {
            let config = c.config();
            let templates = c.setup().templates.clone();
            worker::run_pending_with(c.access(), &config, templates, &**c.clock())
        })
        .await;
        core.rounds
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match r {
            Ok(Ok(s)) => {
                if s.explained + s.jobs.len() + s.notices + s.delivered > 0 {
                    tracing::info!(
                        "serve: effects: {} explained, {} job(s), {} notice(s), {} mail(s) delivered",
                        s.explained,
                        s.jobs.len(),
                        s.notices,
                        s.delivered
                    );
                }
            }
            Ok(Err(e)) => tracing::error!("serve: effects: {e}"),
            Err(e) => tracing::error!("serve: effects task: {e}"),
        }
    }
}

/// Runs the syncs asked for, and every `serve.sync_every` one of every
/// suite (the first at start), until `stop` turns true. A merge in
/// progress stops after its batch; a download in progress is left to
/// finish on its own thread.
pub async fn sync_task(core: Arc<Core>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let config = core.config();
        let every = match (config.serve.sync_every, config.archive.root.is_some()) {
            (Some(every), true) => Some(every),
            _ => None,
        };
        if let Some((run, suite)) = core.sync.next(core.clock().now(), every) {
            let c = core.clone();
            let mut job = tokio::task::spawn_blocking(move || run_sync(&c, run, suite.as_deref()));
            tokio::select! {
                r = &mut job => {
                    if let Err(e) = r {
                        tracing::error!("serve: sync task: {e}");
                    }
                }
                _ = stop.changed() => {
                    // Stopping: a merge ends after its batch; a download
                    // is abandoned (its thread ends with the process).
                    core.stop();
                    let _ = tokio::time::timeout(Duration::from_secs(5), job).await;
                    return;
                }
            }
            continue;
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = core.sync.wake.notified() => {}
            _ = tokio::time::sleep(core.tick) => {}
        }
    }
}

/// One sync run: each suite read with the store free, then merged batch by
/// batch through the gate; the questions it queued go out by the effects.
fn run_sync(core: &Core, run: u64, suite: Option<&str>) {
    let config = core.config();
    let setup = core.setup();
    let started = core.clock().now();
    let suites: Vec<String> = match suite {
        Some(s) => vec![s.to_string()],
        None => config.archive.suites.clone(),
    };
    let mut outcomes = Vec::new();
    // One sync at a time on the database (several daemons may share one):
    // another's run merges the same Release, so this one stands aside.
    let lock = match crate::store::try_lock(&config.database, "sync") {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => Err(
            "another buildmail process on this database is syncing; this run was skipped"
                .to_string(),
        ),
        Err(e) => Err(e.to_string()),
    };
    if let Err(why) = &lock {
        tracing::warn!("serve: sync: {why}");
        outcomes.extend(suites.iter().map(|name| SuiteOutcome {
            suite: name.clone(),
            report: None,
            error: Some(why.clone()),
        }));
    }
    for name in suites.iter().filter(|_| lock.is_ok()) {
        core.sync.set_running(Some((
            SyncProgress {
                run,
                suite: name.clone(),
                phase: SyncPhase::Reading,
                done: 0,
                total: 0,
                started,
            },
            suite.map(str::to_string),
        )));
        let result = sync_suite(core, &config, &setup.templates, name);
        match &result {
            Ok(r) if r.unchanged => tracing::info!("serve: sync {name}: unchanged"),
            Ok(r) => tracing::info!(
                "serve: sync {name}: {} sources; {} builds created, {} changed",
                r.sources,
                r.created,
                r.changed
            ),
            Err(e) => tracing::error!("serve: sync {name}: {e}"),
        }
        let stopped = matches!(result, Err(SyncError::Interrupted));
        outcomes.push(match result {
            Ok(r) => SuiteOutcome {
                suite: name.clone(),
                report: Some(r),
                error: None,
            },
            Err(e) => SuiteOutcome {
                suite: name.clone(),
                report: None,
                error: Some(e.to_string()),
            },
        });
        if stopped {
            break;
        }
    }
    drop(lock);
    core.sync.finish(SyncRun {
        run,
        started,
        finished: core.clock().now(),
        suites: outcomes,
    });
    core.effects.notify_one();
}

/// Reads and merges one suite.
fn sync_suite(
    core: &Core,
    config: &Config,
    templates: &crate::effects::compose::Templates,
    suite: &str,
) -> Result<SuiteReport, SyncError> {
    if core.stopping() {
        return Err(SyncError::Interrupted);
    }
    let seen = core.store().release_seen(suite)?;
    let now = core.clock().now();
    let data = match crate::sync::read_suite(config, suite, seen.as_ref(), now)? {
        Read::Unchanged(s) => return Ok(SuiteReport::unchanged(s)),
        Read::New(data) => data,
    };
    core.sync.progress(|p| p.phase = SyncPhase::Merging);
    let mailer = Mailer::with_templates(config, templates.clone());
    crate::sync::merge(core.access(), &mailer, &data, now, &mut |m| {
        core.sync.progress(|p| {
            p.done = m.done;
            p.total = m.total;
        });
        !core.stopping()
    })
}

/// The daemon's scheduled work — the effects after each commit and every
/// tick, the archive sync when asked and every `serve.sync_every` — on a
/// clock and tick the caller chooses: what `serve` runs beside its
/// listeners, and what the tests drive with an injected clock.
pub struct Scheduler {
    core: Arc<Core>,
}

impl Scheduler {
    /// The scheduled work over `store`, reading "now" from `clock`, the
    /// effects running at least every `tick`.
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: SharedClock,
        tick: Duration,
    ) -> Scheduler {
        Scheduler {
            core: Arc::new(Core::new(config, None, store, clock, tick)),
        }
    }

    /// The scheduled work of `core`.
    pub fn of(core: Arc<Core>) -> Scheduler {
        Scheduler { core }
    }

    /// The hub it works for.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Runs until `stop` turns true (an effects round in progress ends
    /// first; a merge stops after its batch).
    pub async fn run(&self, stop: tokio::sync::watch::Receiver<bool>) {
        tokio::join!(
            effects_task(self.core.clone(), stop.clone()),
            sync_task(self.core.clone(), stop)
        );
    }
}
