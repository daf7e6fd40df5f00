//! Why a build failed, as stored with its record (extracted from the log by
//! [`crate::inbound::explain`]).

use serde::{Deserialize, Serialize};

/// Why a build failed, in a form a human can act on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// One line: what went wrong.
    pub summary: String,
    /// For dependency failures: a ready `dep-wait` argument (`pkg (>= 1.0), other`).
    pub dep_wait: Option<String>,
    /// The log line that identifies the failure.
    pub matched_line: Option<String>,
    /// The problem kind as buildlog-consultant names it, if it recognised one.
    pub problem_kind: Option<String>,
    /// Up to `MAX_EXCERPT_LINES` (see [`crate::inbound::explain`]) lines around the failure.
    pub excerpt: Vec<String>,
    /// What the problem is about, as buildlog-consultant details it (the
    /// missing header, the missing command, ...): with
    /// [`Explanation::problem_kind`], what the failures page groups by.
    /// `None` in explanations of earlier releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem_key: Option<String>,
    /// The line number (1-based, counted by `\n`) of
    /// [`Explanation::matched_line`] in the log, for the log viewer's
    /// highlight and anchor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The title of the log section holding that line (the log viewer
    /// opens it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
}

/// A failed build's log waiting to be explained: explanations are made off
/// the critical path ([`crate::effects::explain`]), after the log's state
/// is committed, and fill in the record whose last log this still is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplainTask {
    /// Which build.
    pub key: super::BuildKey,
    /// The version the log is for.
    pub version: String,
    /// The archived log (its id in the log archive).
    pub log: String,
    /// The status the log itself states (its Summary, or the mail's
    /// `.summary` part); `None` when it states none.
    pub status: Option<crate::debian::Status>,
    /// The fail-stage the log states.
    pub fail_stage: Option<String>,
}
