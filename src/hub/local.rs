//! A command's own hub when no daemon runs: it opens the database for
//! what it does and releases it at once; queries never create one;
//! effects run with the database released between their steps, and what
//! a mail queued is left to a detached worker (`deliver`).

use std::io::Write;

use super::{
    ops, Answer, Done, Hub, HubError, MailAnswer, MailMode, Op, Query, SyncProgress, SyncRun,
};
use crate::config::Config;
use crate::effects::compose::Mailer;
use crate::effects::{explain, outbox, worker, StoreAccess};
use crate::inbound::source::RawMail;
use crate::ingest::{Ingest, Preparer};
use crate::store::blobs::Blobs;
use crate::store::Store;
use crate::sync::{Read, SuiteOutcome, SuiteReport, SyncError, SyncPhase};
use crate::time::SharedClock;

/// A command's hub over the configured database.
pub struct Local<'a> {
    config: &'a Config,
    clock: SharedClock,
    /// The global options a detached worker needs (`--config`,
    /// `--data-dir`).
    worker_args: Vec<std::ffi::OsString>,
}

impl<'a> Local<'a> {
    /// A hub over `config`'s database, reading "now" from `clock`; a
    /// worker it starts gets `worker_args` before `work`.
    pub fn new(
        config: &'a Config,
        clock: SharedClock,
        worker_args: Vec<std::ffi::OsString>,
    ) -> Local<'a> {
        Local {
            config,
            clock,
            worker_args,
        }
    }

    /// Opens the database for a query or a maintenance command: never
    /// creates one (a mistyped `--data-dir` would otherwise answer from a
    /// new, empty one).
    pub fn existing(&self) -> Result<Box<dyn Store>, HubError> {
        let path = &self.config.database.path;
        if !self.config.database.may_exist() {
            return Err(HubError::refused(format!(
                "no database at {}: check --data-dir, --config or database.path (queries never create one; `buildmail deliver`, `import` or `sync` does)",
                path.display()
            )));
        }
        Ok(crate::store::open(&self.config.database)?)
    }

    /// Opens the database, creating it when it does not exist yet.
    pub fn open(&self) -> Result<Box<dyn Store>, HubError> {
        Ok(crate::store::open(&self.config.database)?)
    }

    /// Runs `f` against the existing database and makes its commit
    /// durable.
    fn write<R>(&self, f: impl FnOnce(&dyn Store) -> Result<R, HubError>) -> Result<R, HubError> {
        let store = self.existing()?;
        let r = f(&*store)?;
        store.flush()?;
        Ok(r)
    }

    /// Starts a detached worker when `store` has work due (a failure to
    /// start one is reported; the work waits for `buildmail work`).
    fn start_worker_if_due(&self, store: &dyn Store) {
        match worker::has_due_work(store, self.config, self.clock.now()) {
            Ok(true) => {
                if let Err(e) =
                    worker::spawn_detached(&self.worker_args, &self.config.database.path, &[])
                {
                    tracing::warn!(
                        "could not start the worker ({e}); the queued work waits for `buildmail work`"
                    );
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!("queued work left for `buildmail work`: {e}"),
        }
    }
}

impl Hub for Local<'_> {
    fn describe(&self) -> String {
        format!("the database {}", self.config.database.describe())
    }

    fn submit(&self, raw: RawMail, mode: MailMode) -> Result<MailAnswer, HubError> {
        // Parsing, checking signatures and archiving the log need no
        // database: done before it is opened, so the lock is held only for
        // the commit.
        let preparer = Preparer::new(self.config).with_clock(self.clock.clone());
        let prepared = preparer.prepare(&raw)?;
        let store = self.open()?;
        let ingest = Ingest::with_preparer(&*store, preparer);
        let ingest = match mode {
            MailMode::Deliver => ingest,
            MailMode::Import => ingest.importing(),
        };
        let outcome = ingest
            .commit(&raw, &prepared)
            .and_then(|o| store.flush().map(|()| o))?;
        drop(ingest);
        // The mail is committed and acknowledged whatever happens next; its
        // effects run in a worker of their own, never inside the MTA's pipe.
        if mode == MailMode::Deliver {
            self.start_worker_if_due(&*store);
        }
        Ok(MailAnswer::of(outcome))
    }

    fn query(&self, q: Query) -> Result<Answer, HubError> {
        let store = self.existing()?;
        super::view(&*store, self.config, q, self.clock.now())
    }

    fn apply(&self, op: Op) -> Result<Done, HubError> {
        let config = self.config;
        let now = self.clock.now();
        let released = StoreAccess::Open(&config.database);
        Ok(match op {
            op @ (Op::Take { .. }
            | Op::Binnmu { .. }
            | Op::ForgetSignature { .. }
            | Op::QuarantineDelete { .. }) => {
                let (done, files) = self.write(|s| ops::write(s, config, &op, now))?;
                ops::remove_files(&files);
                done
            }
            Op::Sync { suite } => Done::Synced(Box::new(self.sync(suite, &mut |_| {})?)),
            Op::OutboxRetry { ids, all } => {
                let unknown = self.write(|s| ops::outbox_retry(s, &ids, all, now))?;
                let delivery = outbox::deliver_due(released, config, &*self.clock, true)?;
                Done::Delivered { unknown, delivery }
            }
            // Without a database there is nothing to deliver or run (a
            // fresh farm's cron job): nothing is created.
            Op::OutboxFlush | Op::Work { .. } if !config.database.may_exist() => match op {
                Op::OutboxFlush => Done::Delivered {
                    unknown: Vec::new(),
                    delivery: outbox::Delivery::default(),
                },
                _ => Done::Worked(Some(worker::Summary::default())),
            },
            Op::OutboxFlush => Done::Delivered {
                unknown: Vec::new(),
                delivery: outbox::deliver_due(released, config, &*self.clock, true)?,
            },
            Op::QuarantineReprocess { ids, all } => {
                let mails = {
                    let store = self.existing()?;
                    let ids = ops::quarantine_ids(&*store, &ids, all)?;
                    let ingest = Ingest::new(&*store, config).with_clock(self.clock.clone());
                    let mut mails = Vec::new();
                    for id in ids {
                        mails.push((id, ingest.reprocess(id)?));
                    }
                    mails
                };
                // What the mails asked for, with the store released.
                let work = worker::run_exclusive(config, &*self.clock)?;
                Done::Reprocessed { mails, work }
            }
            Op::Work { explanations } => {
                if explanations {
                    let n = explain::run_pending(released, config, &*self.clock)?;
                    Done::Worked(Some(worker::Summary {
                        explained: n,
                        ..worker::Summary::default()
                    }))
                } else {
                    Done::Worked(worker::run_exclusive(config, &*self.clock)?)
                }
            }
            Op::FsckRepair { older_than } => {
                let older_than = std::time::Duration::from_secs(older_than);
                let store = self.existing()?;
                let mut f = crate::query::fsck::scan(&*store, config, older_than)?;
                drop(store);
                crate::query::fsck::repair(&mut f, config, older_than);
                Done::Repaired(Box::new(f))
            }
        })
    }

    fn sync(
        &self,
        suite: Option<String>,
        progress: &mut dyn FnMut(&SyncProgress),
    ) -> Result<SyncRun, HubError> {
        let config = self.config;
        if config.archive.root.is_none() {
            return Err(HubError::refused(SyncError::NoArchive.to_string()));
        }
        let suites: Vec<String> = match suite {
            Some(s) => vec![s],
            None => config.archive.suites.clone(),
        };
        let started = self.clock.now();
        let mut outcomes = Vec::new();
        let mailer = Mailer::new(config);
        for name in suites {
            let mut p = SyncProgress {
                run: 1,
                suite: name.clone(),
                phase: SyncPhase::Reading,
                done: 0,
                total: 0,
                started,
            };
            progress(&p);
            let result = self.sync_suite(&mailer, &name, &mut |m| {
                p.phase = SyncPhase::Merging;
                p.done = m.done;
                p.total = m.total;
                progress(&p);
            });
            outcomes.push(match result {
                Ok(report) => SuiteOutcome {
                    suite: name,
                    report: Some(report),
                    error: None,
                },
                // A store that cannot be used is the command's error, not
                // the suite's.
                Err(SyncError::Store(e)) => return Err(e.into()),
                Err(e) => SuiteOutcome {
                    suite: name,
                    report: None,
                    error: Some(e.to_string()),
                },
            });
        }
        Ok(SyncRun {
            run: 1,
            started,
            finished: self.clock.now(),
            suites: outcomes,
        })
    }

    fn copy_log(&self, id: &str, out: &mut dyn Write) -> Result<(), HubError> {
        let blobs = Blobs::open(&self.config.database);
        super::core::copy_log(&blobs, id, out)
    }

    fn copy_quarantined(&self, id: u64, out: &mut dyn Write) -> Result<bool, HubError> {
        let store = self.existing()?;
        let blobs = Blobs::open(&self.config.database);
        super::core::copy_quarantined(&*store, &blobs, id, out)
    }
}

impl Local<'_> {
    /// Reads `suite` with the database released, then merges it; the
    /// "Should I build" questions it queued go out by a detached worker.
    fn sync_suite(
        &self,
        mailer: &Mailer<'_>,
        suite: &str,
        merged: &mut dyn FnMut(crate::sync::Progress),
    ) -> Result<SuiteReport, SyncError> {
        let seen = {
            let store = crate::store::open(&self.config.database)?;
            store.release_seen(suite)?
        };
        let now = self.clock.now();
        let data = match crate::sync::read_suite(self.config, suite, seen.as_ref(), now)? {
            Read::Unchanged(s) => return Ok(SuiteReport::unchanged(s)),
            Read::New(data) => data,
        };
        let store = crate::store::open(&self.config.database)?;
        let report =
            crate::sync::merge(StoreAccess::Held(&*store), mailer, &data, now, &mut |m| {
                merged(m);
                true
            })?;
        self.start_worker_if_due(&*store);
        Ok(report)
    }
}
