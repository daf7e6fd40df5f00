//! Build states, the events that move them, and the one transition table.
//!
//! Everything here is pure: [`decide_log`] takes the current record (if any)
//! and an event and returns what must happen. The store commits it; nothing
//! in this module does I/O.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::debian::Status;

mod diagram;
mod table;
pub use diagram::*;
pub use table::*;

/// The wanna-build states, plus Launchpad's upload-failure state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum State {
    /// Waiting for a builder.
    #[serde(rename = "Needs-Build")]
    NeedsBuild,
    /// A builder took it.
    #[serde(rename = "Building")]
    Building,
    /// Built successfully; waiting for a signed `.changes`.
    #[serde(rename = "Built")]
    Built,
    /// The build failed; waiting for an admin's decision.
    #[serde(rename = "Build-Attempted")]
    BuildAttempted,
    /// Uploaded; waiting for the archive.
    #[serde(rename = "Uploaded")]
    Uploaded,
    /// The upload failed (Launchpad's FAILEDTOUPLOAD).
    #[serde(rename = "Failed-To-Upload")]
    FailedToUpload,
    /// Accepted into the archive.
    #[serde(rename = "Installed")]
    Installed,
    /// Waiting for dependencies.
    #[serde(rename = "Dep-Wait")]
    DepWait,
    /// Build dependencies cannot be installed.
    #[serde(rename = "BD-Uninstallable")]
    BdUninstallable,
    /// Failed; an admin decided it will not build as is.
    #[serde(rename = "Failed")]
    Failed,
    /// The package is not for this architecture (set by an admin).
    #[serde(rename = "Not-For-Us")]
    NotForUs,
    /// The package is not for this architecture (from Packages-arch-specific).
    #[serde(rename = "Auto-Not-For-Us")]
    AutoNotForUs,
    /// Failed, and the source was removed.
    #[serde(rename = "Failed-Removed")]
    FailedRemoved,
    /// Waiting for dependencies, and the source was removed.
    #[serde(rename = "Dep-Wait-Removed")]
    DepWaitRemoved,
}

impl State {
    /// Every state, in the order the documentation lists them.
    pub const ALL: [State; 14] = [
        State::NeedsBuild,
        State::Building,
        State::Built,
        State::BuildAttempted,
        State::Uploaded,
        State::FailedToUpload,
        State::Installed,
        State::DepWait,
        State::BdUninstallable,
        State::Failed,
        State::NotForUs,
        State::AutoNotForUs,
        State::FailedRemoved,
        State::DepWaitRemoved,
    ];

    /// The wanna-build name (`Needs-Build`, `Failed-To-Upload`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            State::NeedsBuild => "Needs-Build",
            State::Building => "Building",
            State::Built => "Built",
            State::BuildAttempted => "Build-Attempted",
            State::Uploaded => "Uploaded",
            State::FailedToUpload => "Failed-To-Upload",
            State::Installed => "Installed",
            State::DepWait => "Dep-Wait",
            State::BdUninstallable => "BD-Uninstallable",
            State::Failed => "Failed",
            State::NotForUs => "Not-For-Us",
            State::AutoNotForUs => "Auto-Not-For-Us",
            State::FailedRemoved => "Failed-Removed",
            State::DepWaitRemoved => "Dep-Wait-Removed",
        }
    }

    /// Which part of the farm moves builds into this state: the groups of
    /// the state diagram.
    pub fn group(self) -> Group {
        match self {
            State::NeedsBuild | State::Building | State::Built | State::BuildAttempted => {
                Group::Building
            }
            State::Failed | State::NotForUs | State::DepWait | State::BdUninstallable => {
                Group::Decisions
            }
            State::Uploaded | State::FailedToUpload | State::Installed => Group::Upload,
            State::AutoNotForUs | State::FailedRemoved | State::DepWaitRemoved => Group::Sources,
        }
    }

    /// A human title, as Launchpad shows it ("Failed to upload").
    pub fn title(self) -> &'static str {
        match self {
            State::NeedsBuild => "Needs building",
            State::Building => "Currently building",
            State::Built => "Successfully built",
            State::BuildAttempted => "Failed to build",
            State::Uploaded => "Uploaded",
            State::FailedToUpload => "Failed to upload",
            State::Installed => "Installed",
            State::DepWait => "Dependency wait",
            State::BdUninstallable => "Build-dependencies uninstallable",
            State::Failed => "Failed",
            State::NotForUs => "Not for this architecture",
            State::AutoNotForUs => "Not for this architecture (automatic)",
            State::FailedRemoved => "Failed, source removed",
            State::DepWaitRemoved => "Dependency wait, source removed",
        }
    }

    /// What the state means, in one line (the status pages show it).
    pub fn meaning(self) -> &'static str {
        match self {
            State::NeedsBuild => "waiting in the queue for a builder to take it",
            State::Building => "a builder took it and is building it",
            State::Built => "it built; waiting for an admin's signed .changes to upload it",
            State::BuildAttempted => {
                "the build failed; waiting for an admin to retry, give back, fail or dep-wait it"
            }
            State::Uploaded => "uploaded; waiting for the archive to accept it",
            State::FailedToUpload => "the upload failed; an admin retries it or removes it",
            State::Installed => "its binaries are in the archive",
            State::DepWait => "waiting until the dependencies it names are available",
            State::BdUninstallable => "its build-dependencies cannot be installed now",
            State::Failed => "it failed and an admin decided it will not build as it is",
            State::NotForUs => "an admin decided it is not built on this architecture",
            State::AutoNotForUs => {
                "not built on this architecture (its Architecture field or Packages-arch-specific)"
            }
            State::FailedRemoved => "it had failed, and its source left the archive",
            State::DepWaitRemoved => "it waited for dependencies, and its source left the archive",
        }
    }

    /// A failure a maintainer may have to act on: the maintainer pages
    /// list these first, and their feeds carry them.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            State::BuildAttempted
                | State::Failed
                | State::DepWait
                | State::BdUninstallable
                | State::FailedToUpload
        )
    }

    /// Parses a state name, case-insensitively; `_` and `-` are interchangeable.
    pub fn parse(s: &str) -> Option<State> {
        let want = s.trim().replace('_', "-");
        State::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(&want))
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An admin command, as the state machine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CommandKind {
    /// `retry`.
    Retry,
    /// `fail` with a reason.
    Fail,
    /// `fail (see #NNN)` on a Failed build: appends the bug.
    FailSeeBug,
    /// `dep-wait` / `dep-retry`.
    DepWait,
    /// `give-back` / `back`.
    GiveBack,
    /// `manual`.
    Manual,
    /// `newvers`.
    NewVersion,
    /// `not-for-us`.
    NotForUs,
    /// `upload-rem`.
    UploadRemove,
    /// `purge`.
    Purge,
    /// A signed `.changes`: upload it.
    SignedChanges,
    /// `retry-upload`.
    RetryUpload,
    /// "Should I build" answered `build` / `ok`.
    ShouldBuildYes,
    /// "Should I build" answered `fail`.
    ShouldBuildFail,
    /// "Should I build" answered `not` / `no-build`.
    ShouldBuildNot,
    /// "Should I build" answered `give-back`.
    ShouldBuildGiveBack,
    /// `buildmail binnmu`: a binary-only rebuild of an Installed build.
    BinNmu,
}

impl CommandKind {
    /// The keyword as an admin writes it.
    pub fn keyword(self) -> &'static str {
        match self {
            CommandKind::Retry => "retry",
            CommandKind::Fail => "fail",
            CommandKind::FailSeeBug => "fail (see #NNN)",
            CommandKind::DepWait => "dep-wait",
            CommandKind::GiveBack => "give-back",
            CommandKind::Manual => "manual",
            CommandKind::NewVersion => "newvers",
            CommandKind::NotForUs => "not-for-us",
            CommandKind::UploadRemove => "upload-rem",
            CommandKind::Purge => "purge",
            CommandKind::SignedChanges => "signed .changes",
            CommandKind::RetryUpload => "retry-upload",
            CommandKind::ShouldBuildYes => "should-build: build",
            CommandKind::ShouldBuildFail => "should-build: fail",
            CommandKind::ShouldBuildNot => "should-build: not",
            CommandKind::ShouldBuildGiveBack => "should-build: give-back",
            CommandKind::BinNmu => "binnmu",
        }
    }
}

/// What happened to a build, as far as the state machine is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// A log mail reported this status.
    Log(Status),
    /// An admin command.
    Command(CommandKind),
    /// The archive or the upload queue answered an upload.
    Archive(ArchiveEvent),
    /// `sync` found this in the archive's indices.
    Sync(SyncEvent),
}

/// What `sync` finds in the archive's signed indices for one build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SyncEvent {
    /// A newer source version, to be built on this architecture.
    NewVersion,
    /// The source is not for this architecture (its `Architecture:`).
    NotForArch,
    /// A source that was not for this architecture now is.
    ForArchAgain,
    /// The binaries of the build's version are in the architecture's
    /// Packages.
    Installed,
    /// The source of a Failed build left the archive.
    FailedRemoved,
    /// The source of a Dep-Wait build left the archive.
    DepWaitRemoved,
    /// The source of a Failed-Removed build is back.
    FailedBack,
    /// The source of a Dep-Wait-Removed build is back.
    DepWaitBack,
    /// Every dependency a Dep-Wait waits for is available.
    DependenciesAvailable,
    /// A build-dependency cannot be installed.
    BdUninstallable,
    /// The build-dependencies can be installed again.
    BdInstallable,
    /// A builder took it from the queue (`take`).
    Taken,
}

impl SyncEvent {
    /// A short name (`new-version`, `installed`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SyncEvent::NewVersion => "new-version",
            SyncEvent::NotForArch => "not-for-arch",
            SyncEvent::ForArchAgain => "for-arch",
            SyncEvent::Installed => "installed",
            SyncEvent::FailedRemoved => "failed-removed",
            SyncEvent::DepWaitRemoved => "dep-wait-removed",
            SyncEvent::FailedBack => "failed-back",
            SyncEvent::DepWaitBack => "dep-wait-back",
            SyncEvent::DependenciesAvailable => "dependencies-available",
            SyncEvent::BdUninstallable => "bd-uninstallable",
            SyncEvent::BdInstallable => "bd-installable",
            SyncEvent::Taken => "taken",
        }
    }
}

/// What the archive (dak) or the upload-queue daemon said about an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ArchiveEvent {
    /// `<changes> ACCEPTED into <suite>` or `<changes> INSTALLED`.
    Accepted,
    /// `<changes> REJECTED`.
    Rejected,
    /// `<changes> is NEW`.
    New,
    /// `Processing of <changes>`: "uploaded successfully".
    QueueOk,
    /// `Processing of <changes>` without "uploaded successfully".
    QueueFailed,
}

impl ArchiveEvent {
    /// A short name (`accepted`, `rejected`, `new`, `queue-ok`,
    /// `queue-failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveEvent::Accepted => "accepted",
            ArchiveEvent::Rejected => "rejected",
            ArchiveEvent::New => "new",
            ArchiveEvent::QueueOk => "queue-ok",
            ArchiveEvent::QueueFailed => "queue-failed",
        }
    }
}

/// The groups of states in the diagram, by what moves builds into them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// Building: the builders' log mails.
    Building,
    /// The admins' signed decisions (and dependency waits).
    Decisions,
    /// Upload and archive: the worker and the archive's answers.
    Upload,
    /// The archive's sources: removals and Packages-arch-specific.
    Sources,
}

impl Group {
    /// Every group, in diagram order.
    pub const ALL: [Group; 4] = [
        Group::Building,
        Group::Decisions,
        Group::Upload,
        Group::Sources,
    ];

    /// The group's title in the diagram.
    pub fn title(self) -> &'static str {
        match self {
            Group::Building => "building: the builders' log mails",
            Group::Decisions => "decisions: the admins' signed commands",
            Group::Upload => "upload: the worker and the archive's answers",
            Group::Sources => "the archive's sources: removals, Packages-arch-specific",
        }
    }

    /// A short name (`building`, ...), for JSON and dot identifiers.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Building => "building",
            Group::Decisions => "decisions",
            Group::Upload => "upload",
            Group::Sources => "sources",
        }
    }
}

impl EventKind {
    /// A short name for history entries (`log:successful`, `cmd:retry`).
    pub fn name(self) -> String {
        match self {
            EventKind::Log(s) => format!("log:{}", s.as_str()),
            EventKind::Command(c) => format!("cmd:{}", c.keyword()),
            EventKind::Archive(a) => format!("archive:{}", a.as_str()),
            EventKind::Sync(e) => format!("sync:{}", e.as_str()),
        }
    }
}

/// Where a transition goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// To this state.
    To(State),
    /// The state does not change; the event is recorded.
    Unchanged,
    /// An upload runs: Uploaded when it succeeds, Failed-To-Upload when not.
    Upload,
}

/// One row of the transition table: `event` from any of `from` goes to `to`.
///
/// `from` lists the states a record of the *same* version may be in. A record
/// that does not exist yet counts as "new" and accepts every log event; a
/// record of an *older* version accepts a log of a newer one from every state
/// but the not-for-us ones (the newer version supersedes the old build).
#[derive(Debug, Clone, Copy)]
pub struct Transition {
    /// The event.
    pub event: EventKind,
    /// States (of the same version) from which it is allowed.
    pub from: &'static [State],
    /// Where it goes.
    pub to: Target,
}

#[cfg(test)]
mod tests;
