//! Decisions: pure functions from the facts of a mail, the current record,
//! the time and the configured rules to what must change. No I/O, no store:
//! [`crate::ingest`] reads what they need and commits what they return.
//!
//! * [`log`]: what a build log does to its build;
//! * [`reply`]: what an admin reply does (signing rules, outdated-version
//!   guard, the transition table);
//! * [`archive`]: what an archive or upload-queue answer does;
//! * [`forward`]: whether a mail of no known kind is forwarded or kept;
//! * [`notice`]: whether a failure gets a build-failure notice;
//! * [`sync`]: what the archive's indices do to a build.

pub mod archive;
pub mod forward;
pub mod log;
pub mod notice;
pub mod queue;
pub mod reply;
pub mod sync;
