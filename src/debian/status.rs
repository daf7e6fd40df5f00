//! sbuild's build status words (`Status:` in a log's Summary, and the
//! `Log for <status> build of ...` subject): the one place they are spelled.

use serde::{Deserialize, Serialize};

/// The outcome sbuild reports in the `Status:` line of the Summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The package built; the `.changes` is available.
    Successful,
    /// The build itself failed (fail-stage `build` and friends).
    Attempted,
    /// The build failed for a reason outside the package (dependencies, chroot).
    GivenBack,
    /// The build was skipped (arch-check: the package is not for this arch).
    Skipped,
    /// Any other failure (for example `create-session`).
    Failed,
}

impl Status {
    /// The word sbuild uses (`successful`, `attempted`, `given-back`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Successful => "successful",
            Status::Attempted => "attempted",
            Status::GivenBack => "given-back",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }

    /// Parses sbuild's status word, case-insensitively.
    pub fn parse(s: &str) -> Option<Status> {
        match s.trim().to_ascii_lowercase().as_str() {
            "successful" => Some(Status::Successful),
            "attempted" => Some(Status::Attempted),
            "given-back" => Some(Status::GivenBack),
            "skipped" => Some(Status::Skipped),
            "failed" => Some(Status::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
