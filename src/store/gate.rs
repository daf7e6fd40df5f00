//! The commit gate of a process that holds the store for its whole life
//! (the daemon): one read → decide → commit at a time, and group commit —
//! a writer waits only until a flush that began after its commit has
//! ended, so the writers that committed meanwhile share that flush.
//!
//! The gate is what makes a read → decide → write safe while the daemon
//! runs mail commits, effects, builder operations and the archive sync
//! side by side: each takes the gate for its reads and its commit
//! ([`CommitGate::write`]), and only then waits, without the gate, for its
//! commit to be durable ([`CommitGate::durable`]).
//!
//! A store that keeps its writers apart by itself
//! ([`Store::concurrent_writers`]: PostgreSQL, where each commit checks
//! what its decision read, and a conflict is decided again by
//! [`super::retry`]) gets an open gate ([`CommitGate::for_store`]): the
//! writers go through side by side, their commits still counted, and a
//! commit is durable when it returns (its flush does nothing).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Store, StoreError};

/// One writer at a time (or, open, every writer at once), and one flush
/// for every commit before it.
#[derive(Default)]
pub struct CommitGate {
    /// Held by a writer for its reads and its commit (unless open).
    lock: Mutex<()>,
    /// The store keeps its writers apart itself: the lock is not taken.
    open: bool,
    /// Commits so far (counted under `lock`, after each commit).
    committed: AtomicU64,
    /// The commits known durable; held while a flush runs.
    flushed: Mutex<u64>,
}

/// The gate held ([`CommitGate::hold`]): nothing when the gate is open.
#[must_use = "the gate is held until this is dropped"]
pub struct Held<'a> {
    _guard: Option<MutexGuard<'a, ()>>,
}

/// A commit made under the gate: its number, for [`CommitGate::durable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[must_use = "a commit is acknowledged only once CommitGate::durable returned"]
pub struct Seq(u64);

impl CommitGate {
    /// A gate with no commit yet, one writer at a time.
    pub fn new() -> CommitGate {
        CommitGate::default()
    }

    /// The gate `store` needs: open when it keeps its writers apart
    /// itself ([`Store::concurrent_writers`]), else one writer at a time.
    pub fn for_store(store: &dyn Store) -> CommitGate {
        CommitGate {
            open: store.concurrent_writers(),
            ..CommitGate::default()
        }
    }

    /// Whether writers go through side by side.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Holds the gate: no other writer of this process reads or commits
    /// until the guard is dropped (an open gate holds nothing). For steps
    /// that count their own commits ([`CommitGate::write`] is the usual
    /// way).
    pub fn hold(&self) -> Held<'_> {
        Held {
            _guard: (!self.open).then(|| self.lock.lock().unwrap_or_else(PoisonError::into_inner)),
        }
    }

    /// Runs `f` (its reads, decisions and commit) with the gate held, and
    /// counts its commit; the result and the commit's number. The commit
    /// is durable once [`CommitGate::durable`] returned for that number.
    pub fn write<R, E>(&self, f: impl FnOnce() -> Result<R, E>) -> Result<(R, Seq), E> {
        let _g = self.hold();
        let r = f()?;
        Ok((r, self.count()))
    }

    /// Counts a commit made with the gate held (by [`CommitGate::hold`]),
    /// once it returned.
    pub fn count(&self) -> Seq {
        Seq(self.committed.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Commits counted so far.
    pub fn commits(&self) -> u64 {
        self.committed.load(Ordering::SeqCst)
    }

    /// Returns once commit `seq` is durable: at once when a flush since
    /// covered it, else after flushing `store` (which covers every commit
    /// counted before the flush began: a commit is counted after it
    /// returned, so also with an open gate).
    pub fn durable(&self, seq: Seq, store: &dyn Store) -> Result<(), StoreError> {
        let mut flushed = self.flushed.lock().unwrap_or_else(PoisonError::into_inner);
        if *flushed >= seq.0 {
            return Ok(());
        }
        let target = self.committed.load(Ordering::SeqCst);
        store.flush()?;
        *flushed = target;
        Ok(())
    }

    /// [`CommitGate::write`] then [`CommitGate::durable`]: `f`'s commit,
    /// durable when this returns.
    pub fn step<R>(
        &self,
        store: &dyn Store,
        f: impl FnOnce() -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let (r, seq) = self.write(f)?;
        self.durable(seq, store)?;
        Ok(r)
    }
}
