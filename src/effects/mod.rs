//! Effects: what buildmail does to the world after a commit recorded that
//! it must — uploads, removals from the upload queue, purges ([`jobs`]),
//! mail delivery ([`outbox`]), build-failure notices ([`notices`]) — and
//! the pieces they are made of: composing mails ([`compose`]), transports
//! ([`transport`]), upload steps ([`upload`]), child processes
//! ([`process`]).
//!
//! # The rule: never run an effect while holding the store
//!
//! Every effect goes claim → run → finish. The claim is a short commit
//! (the item carries a [`Claim`]); the effect then runs with the store
//! released ([`StoreAccess::Open`] closes it between steps, so `deliver`
//! and queries of other processes go on meanwhile); its outcome is a second
//! short commit. A crash at any point leaves each item either unclaimed,
//! or claimed by a stopped owner and taken over by the next worker
//! ([`claim::is_stale`]) under its idempotency rule:
//!
//! * placing files, removing files, purging: idempotent, simply run again;
//! * an upload whose command had not started yet: run again;
//! * an upload whose command had started (`Job::started`): never run again
//!   blindly — it is recorded Failed-To-Upload ("interrupted, outcome
//!   unknown"), the admins are told, and `retry-upload` repeats it on
//!   purpose;
//! * a mail claimed for delivery: delivered again (SMTP cannot tell whether
//!   a mail accepted just before the crash was recorded); each acceptance
//!   is committed before its connection sends another, so that is at most
//!   one mail per connection.
//!
//! Child processes die with their runner ([`process::supervised`]), and an
//! upload runs under a [`process::RunLease`] its command and their children
//! inherit, so what a killed worker left running is found and stopped
//! before the upload runs again.
//!
//! While an effect runs, other mails are committed: a job's finish applies
//! its outcome only to a record that still waits for it (same version,
//! `pending_job` naming the job), and a build is Uploaded from the moment
//! its upload command starts, so an archive answer arriving before the
//! command ends is not lost.

pub mod claim;
pub mod compose;
pub mod explain;
pub mod jobs;
pub mod notices;
pub mod outbox;
pub mod process;
pub mod transport;
pub mod upload;
pub mod worker;

use crate::config::DatabaseConfig;
use crate::store;
use crate::store::gate::CommitGate;
use crate::store::{Store, StoreError};

/// How an effect runner reaches the store for each short step.
#[derive(Clone, Copy)]
pub enum StoreAccess<'a> {
    /// Opened for each step and closed after it (`deliver`'s worker,
    /// `buildmail work`): other processes use the database while effects
    /// run.
    Open(&'a DatabaseConfig),
    /// Held open by the caller for its whole life (a long-running owner of
    /// the store, and the in-process test suite); each step is still its
    /// own commit, and no transaction is open while an effect runs.
    Held(&'a dyn Store),
    /// Held by a daemon that also commits mail: each step goes through
    /// the gate the mail commits go through, so a step's reads and its
    /// commit see no other commit in between (as the database lock gives
    /// `Open`), and its flush is shared with theirs (group commit).
    Guarded(&'a dyn Store, &'a CommitGate),
}

impl StoreAccess<'_> {
    /// Runs reads that need no consistency with the commits around them
    /// (a scan for names, a count): a daemon's gate is not taken, so its
    /// mail commits go on meanwhile.
    pub fn read<R>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match self {
            StoreAccess::Open(cfg) => f(&*store::open(cfg)?),
            StoreAccess::Held(s) | StoreAccess::Guarded(s, _) => f(*s),
        }
    }

    /// Runs one short step that needs no durability of its own: a read, or
    /// a claim (a claim lost in a crash is the same as a claim whose owner
    /// died: the item is simply taken again). Saves an fsync per step.
    pub fn light_step<R>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match self {
            StoreAccess::Open(cfg) => f(&*store::open(cfg)?),
            StoreAccess::Held(s) => f(*s),
            StoreAccess::Guarded(s, gate) => {
                let _g = gate.hold();
                f(*s)
            }
        }
    }

    /// Runs one short read → decide → write step against the store and
    /// makes it durable; the step runs again while another writer changed
    /// what it read ([`store::retry`]).
    pub fn step<R>(
        &self,
        mut f: impl FnMut(&dyn Store) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match self {
            StoreAccess::Open(cfg) => {
                let s = store::open(cfg)?;
                let r = store::retry(|| f(&*s))?;
                s.flush()?;
                Ok(r)
            }
            StoreAccess::Held(s) => {
                let r = store::retry(|| f(*s))?;
                s.flush()?;
                Ok(r)
            }
            StoreAccess::Guarded(s, gate) => gate.step(*s, || store::retry(|| f(*s))),
        }
    }
}

pub use crate::fsutil::crash_point;
