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
}
