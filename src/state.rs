//! Build states, the events that move them, and the one transition table.
//!
//! Everything here is pure: [`decide_log`] takes the current record (if any)
//! and an event and returns what must happen. The store commits it; nothing
//! in this module does I/O.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::sbuild::Status;

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

impl EventKind {
    /// A short name for history entries (`log:successful`, `cmd:retry`).
    pub fn name(self) -> String {
        match self {
            EventKind::Log(s) => format!("log:{}", s.as_str()),
            EventKind::Command(c) => format!("cmd:{}", c.keyword()),
            EventKind::Archive(a) => format!("archive:{}", a.as_str()),
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

/// States a log event of the same version may move a build out of. A build
/// already uploaded or installed, or declared not-for-us, is not moved by a
/// late or repeated log: the log is recorded only.
const LOG_SOURCES: &[State] = &[
    State::NeedsBuild,
    State::Building,
    State::Built,
    State::BuildAttempted,
    State::FailedToUpload,
    State::DepWait,
    State::BdUninstallable,
    State::Failed,
];

/// Every state.
const ANY: &[State] = &State::ALL;

/// States a build can be taken from by retry, give-back and manual.
const TAKEN: &[State] = &[State::Building, State::Built, State::BuildAttempted];

/// States `fail` applies to.
const FAILABLE: &[State] = &[
    State::Building,
    State::Built,
    State::BuildAttempted,
    State::BdUninstallable,
];

/// States `dep-wait` applies to: any but Installed and Not-For-Us.
const DEP_WAITABLE: &[State] = &[
    State::NeedsBuild,
    State::Building,
    State::Built,
    State::BuildAttempted,
    State::Uploaded,
    State::FailedToUpload,
    State::DepWait,
    State::BdUninstallable,
    State::Failed,
    State::AutoNotForUs,
    State::FailedRemoved,
    State::DepWaitRemoved,
];

/// States a signed `.changes` may upload from.
const UPLOADABLE: &[State] = &[State::Built, State::BuildAttempted, State::FailedToUpload];

/// States a "Should I build" answer applies to: any not yet uploaded.
const SHOULD_BUILD: &[State] = &[
    State::NeedsBuild,
    State::Building,
    State::Built,
    State::BuildAttempted,
    State::FailedToUpload,
    State::DepWait,
    State::BdUninstallable,
    State::Failed,
    State::NotForUs,
    State::AutoNotForUs,
    State::FailedRemoved,
    State::DepWaitRemoved,
];

/// States that a newer version's log does not override.
const STICKY_FOR_NEW_VERSIONS: &[State] = &[State::NotForUs, State::AutoNotForUs];

/// States an upload answer from the archive applies to.
const UPLOAD_ANSWERABLE: &[State] = &[State::Uploaded, State::FailedToUpload];

/// The transition table: every state change buildmail makes is a row here.
/// The state diagram (`buildmail states`) is generated from it.
pub const TRANSITIONS: &[Transition] = &[
    Transition {
        event: EventKind::Log(Status::Successful),
        from: LOG_SOURCES,
        to: Target::To(State::Built),
    },
    Transition {
        event: EventKind::Log(Status::Attempted),
        from: LOG_SOURCES,
        to: Target::To(State::BuildAttempted),
    },
    Transition {
        event: EventKind::Log(Status::GivenBack),
        from: LOG_SOURCES,
        to: Target::To(State::NeedsBuild),
    },
    Transition {
        event: EventKind::Log(Status::Failed),
        from: LOG_SOURCES,
        to: Target::To(State::NeedsBuild),
    },
    Transition {
        event: EventKind::Log(Status::Skipped),
        from: LOG_SOURCES,
        to: Target::Unchanged,
    },
    Transition {
        event: EventKind::Command(CommandKind::Retry),
        from: TAKEN,
        to: Target::To(State::NeedsBuild),
    },
    Transition {
        event: EventKind::Command(CommandKind::Fail),
        from: FAILABLE,
        to: Target::To(State::Failed),
    },
    Transition {
        event: EventKind::Command(CommandKind::FailSeeBug),
        from: &[State::Failed],
        to: Target::To(State::Failed),
    },
    Transition {
        event: EventKind::Command(CommandKind::DepWait),
        from: DEP_WAITABLE,
        to: Target::To(State::DepWait),
    },
    Transition {
        event: EventKind::Command(CommandKind::GiveBack),
        from: TAKEN,
        to: Target::To(State::NeedsBuild),
    },
    Transition {
        event: EventKind::Command(CommandKind::Manual),
        from: TAKEN,
        to: Target::Unchanged,
    },
    Transition {
        event: EventKind::Command(CommandKind::NewVersion),
        from: ANY,
        to: Target::To(State::NeedsBuild),
    },
    Transition {
        event: EventKind::Command(CommandKind::NotForUs),
        from: ANY,
        to: Target::To(State::NotForUs),
    },
    Transition {
        event: EventKind::Command(CommandKind::UploadRemove),
        from: &[State::Uploaded],
        to: Target::To(State::Built),
    },
    Transition {
        event: EventKind::Command(CommandKind::Purge),
        from: ANY,
        to: Target::Unchanged,
    },
    Transition {
        event: EventKind::Command(CommandKind::SignedChanges),
        from: UPLOADABLE,
        to: Target::Upload,
    },
    Transition {
        event: EventKind::Command(CommandKind::RetryUpload),
        from: &[State::FailedToUpload],
        to: Target::Upload,
    },
    Transition {
        event: EventKind::Archive(ArchiveEvent::Accepted),
        from: UPLOAD_ANSWERABLE,
        to: Target::To(State::Installed),
    },
    Transition {
        event: EventKind::Archive(ArchiveEvent::Rejected),
        from: UPLOAD_ANSWERABLE,
        to: Target::To(State::FailedToUpload),
    },
    Transition {
        event: EventKind::Archive(ArchiveEvent::QueueFailed),
        from: UPLOAD_ANSWERABLE,
        to: Target::To(State::FailedToUpload),
    },
    Transition {
        event: EventKind::Archive(ArchiveEvent::New),
        from: UPLOAD_ANSWERABLE,
        to: Target::Unchanged,
    },
    Transition {
        event: EventKind::Archive(ArchiveEvent::QueueOk),
        from: UPLOAD_ANSWERABLE,
        to: Target::Unchanged,
    },
    Transition {
        event: EventKind::Command(CommandKind::ShouldBuildYes),
        from: SHOULD_BUILD,
        to: Target::To(State::NeedsBuild),
    },
    Transition {
        event: EventKind::Command(CommandKind::ShouldBuildFail),
        from: SHOULD_BUILD,
        to: Target::To(State::Failed),
    },
    Transition {
        event: EventKind::Command(CommandKind::ShouldBuildNot),
        from: SHOULD_BUILD,
        to: Target::To(State::NotForUs),
    },
    Transition {
        event: EventKind::Command(CommandKind::ShouldBuildGiveBack),
        from: SHOULD_BUILD,
        to: Target::To(State::NeedsBuild),
    },
];

/// Decides what an archive answer does to a build in `current`: where it
/// goes, or why it changes nothing.
pub fn decide_archive(current: State, event: ArchiveEvent) -> Result<Target, String> {
    let e = EventKind::Archive(event);
    let row = transition_for(e).ok_or_else(|| format!("{} has no transition", e.name()))?;
    if row.from.contains(&current) {
        Ok(row.to)
    } else {
        Err(format!(
            "{} recorded; the build is {current} (it applies to {})",
            e.name(),
            list(row.from)
        ))
    }
}

/// Where an upload ([`Target::Upload`]) ends: Uploaded when the files are in
/// the queue and the upload command (if any) exited 0, Failed-To-Upload
/// otherwise.
pub fn upload_outcome(success: bool) -> State {
    if success {
        State::Uploaded
    } else {
        State::FailedToUpload
    }
}

/// Decides whether an admin command applies to a build in `current`:
/// where it goes, or a refusal naming the current and the allowed states.
pub fn decide_command(current: State, command: CommandKind) -> Result<Target, String> {
    let event = EventKind::Command(command);
    let row =
        transition_for(event).ok_or_else(|| format!("{} has no transition", command.keyword()))?;
    if row.from.contains(&current) {
        Ok(row.to)
    } else {
        Err(format!(
            "{} is not allowed: the build is {current}; it is allowed from {}",
            command.keyword(),
            list(row.from)
        ))
    }
}

/// The row of the table for an event.
pub fn transition_for(event: EventKind) -> Option<&'static Transition> {
    TRANSITIONS.iter().find(|t| t.event == event)
}

/// Compares two Debian versions with dpkg's ordering. Versions that do not
/// parse are compared as plain strings (and reported equal only if identical).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (
        a.parse::<debversion::Version>(),
        b.parse::<debversion::Version>(),
    ) {
        (Ok(va), Ok(vb)) => va.cmp(&vb),
        _ => a.cmp(b),
    }
}

/// What a log event does to a build, decided purely from the current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDecision {
    /// No record existed: create one in this state. A skipped build of an
    /// unknown package is created Auto-Not-For-Us: sbuild skips a build when
    /// its arch check finds the package is not for this architecture.
    Create(State),
    /// Move from the first state to the second (they may be equal when the
    /// same event repeats, e.g. a rebuild that succeeded again).
    Move(State, State),
    /// Record the event; the state stays as it is, for the reason given.
    Record(String),
}

/// Decides what a log for `version` with `status` does to a build currently
/// at `current` (`None` = no record yet), whose version is `current_version`.
pub fn decide_log(current: Option<(State, &str)>, version: &str, status: Status) -> LogDecision {
    let event = EventKind::Log(status);
    let Some(row) = transition_for(event) else {
        return LogDecision::Record(format!("no transition for {}", event.name()));
    };
    let Some((state, current_version)) = current else {
        return match row.to {
            Target::To(to) => LogDecision::Create(to),
            // A skipped build of an unknown package: it is known now, and
            // sbuild skipped it because it is not for this architecture.
            Target::Unchanged | Target::Upload => LogDecision::Create(State::AutoNotForUs),
        };
    };
    match compare_versions(version, current_version) {
        Ordering::Less => LogDecision::Record(format!(
            "log for {version} is older than the known version {current_version}; state left at {state}"
        )),
        Ordering::Greater if STICKY_FOR_NEW_VERSIONS.contains(&state) => LogDecision::Record(
            format!("the build is {state}; a log for the newer version {version} does not change that"),
        ),
        Ordering::Greater => match row.to {
            Target::To(to) => LogDecision::Move(state, to),
            Target::Unchanged | Target::Upload => LogDecision::Record(format!(
                "{} recorded; state left at {state}",
                event.name()
            )),
        },
        Ordering::Equal if !row.from.contains(&state) => LogDecision::Record(format!(
            "the build is {state}; {} does not move it (allowed from: {})",
            event.name(),
            list(row.from)
        )),
        Ordering::Equal => match row.to {
            Target::To(to) => LogDecision::Move(state, to),
            Target::Unchanged | Target::Upload => LogDecision::Record(format!(
                "{} recorded; state left at {state}",
                event.name()
            )),
        },
    }
}

fn list(states: &[State]) -> String {
    states
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The state diagram as Graphviz dot, generated from [`TRANSITIONS`].
pub fn diagram_dot() -> String {
    let mut out = String::from("digraph buildmail {\n  rankdir=LR;\n  node [shape=box];\n");
    for s in State::ALL {
        out.push_str(&format!("  \"{}\";\n", s.as_str()));
    }
    for t in TRANSITIONS {
        for from in t.from {
            let targets: &[State] = match t.to {
                Target::To(to) => &[to][..],
                Target::Unchanged => std::slice::from_ref(from),
                Target::Upload => &[upload_outcome(true), upload_outcome(false)],
            };
            for to in targets {
                out.push_str(&format!(
                    "  \"{}\" -> \"{}\" [label=\"{}\"];\n",
                    from.as_str(),
                    to.as_str(),
                    t.event.name()
                ));
            }
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            assert_eq!(State::parse(&s.as_str().to_lowercase()), Some(s));
        }
        assert_eq!(
            State::parse("failed_to_upload"),
            Some(State::FailedToUpload)
        );
        assert_eq!(State::parse("nonsense"), None);
        assert_eq!(State::FailedToUpload.title(), "Failed to upload");
    }

    #[test]
    fn new_builds_take_the_log_state() {
        assert_eq!(
            decide_log(None, "1.0-1", Status::Successful),
            LogDecision::Create(State::Built)
        );
        assert_eq!(
            decide_log(None, "1.0-1", Status::Attempted),
            LogDecision::Create(State::BuildAttempted)
        );
        assert_eq!(
            decide_log(None, "1.0-1", Status::GivenBack),
            LogDecision::Create(State::NeedsBuild)
        );
        assert_eq!(
            decide_log(None, "1.0-1", Status::Failed),
            LogDecision::Create(State::NeedsBuild)
        );
    }

    #[test]
    fn same_version_follows_the_table() {
        assert_eq!(
            decide_log(
                Some((State::Building, "1.0-1")),
                "1.0-1",
                Status::Successful
            ),
            LogDecision::Move(State::Building, State::Built)
        );
        assert_eq!(
            decide_log(Some((State::Built, "1.0-1")), "1.0-1", Status::Attempted),
            LogDecision::Move(State::Built, State::BuildAttempted)
        );
        assert!(matches!(
            decide_log(Some((State::Built, "1.0-1")), "1.0-1", Status::Skipped),
            LogDecision::Record(_)
        ));
        // An uploaded build is not pulled back by a repeated log.
        assert!(matches!(
            decide_log(Some((State::Uploaded, "1.0-1")), "1.0-1", Status::Successful),
            LogDecision::Record(r) if r.contains("Uploaded")
        ));
        assert!(matches!(
            decide_log(
                Some((State::Installed, "1.0-1")),
                "1.0-1",
                Status::GivenBack
            ),
            LogDecision::Record(_)
        ));
    }

    #[test]
    fn older_logs_are_only_recorded() {
        let d = decide_log(Some((State::Built, "1:2.0-1")), "2.5-1", Status::Attempted);
        assert!(matches!(d, LogDecision::Record(r) if r.contains("older")));
        // binNMU is newer than its source version
        assert_eq!(
            decide_log(
                Some((State::Installed, "2.0-1")),
                "2.0-1+b1",
                Status::Successful
            ),
            LogDecision::Move(State::Installed, State::Built)
        );
        // ~ sorts before everything
        assert!(matches!(
            decide_log(
                Some((State::Built, "2.0-1")),
                "2.0~rc1-1",
                Status::Successful
            ),
            LogDecision::Record(_)
        ));
    }

    #[test]
    fn not_for_us_survives_newer_versions() {
        assert!(matches!(
            decide_log(
                Some((State::NotForUs, "1.0-1")),
                "1.1-1",
                Status::Successful
            ),
            LogDecision::Record(_)
        ));
    }

    #[test]
    fn versions_compare_like_dpkg() {
        assert_eq!(compare_versions("1:1.0", "2.0"), Ordering::Greater);
        assert_eq!(compare_versions("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(compare_versions("1.0-1+b1", "1.0-1"), Ordering::Greater);
        assert_eq!(compare_versions("1.0-1", "1.0-1"), Ordering::Equal);
    }

    #[test]
    fn commands_follow_design_section_4() {
        use CommandKind::*;
        assert_eq!(
            decide_command(State::Built, Retry),
            Ok(Target::To(State::NeedsBuild))
        );
        assert_eq!(
            decide_command(State::BdUninstallable, Fail),
            Ok(Target::To(State::Failed))
        );
        assert_eq!(
            decide_command(State::Failed, FailSeeBug),
            Ok(Target::To(State::Failed))
        );
        assert_eq!(
            decide_command(State::Failed, DepWait),
            Ok(Target::To(State::DepWait))
        );
        assert!(decide_command(State::Installed, DepWait).is_err());
        assert!(decide_command(State::NotForUs, DepWait).is_err());
        assert_eq!(
            decide_command(State::Building, Manual),
            Ok(Target::Unchanged)
        );
        assert_eq!(
            decide_command(State::Installed, NewVersion),
            Ok(Target::To(State::NeedsBuild))
        );
        assert_eq!(
            decide_command(State::Uploaded, UploadRemove),
            Ok(Target::To(State::Built))
        );
        assert!(decide_command(State::Installed, UploadRemove).is_err());
        assert_eq!(
            decide_command(State::FailedToUpload, SignedChanges),
            Ok(Target::Upload)
        );
        assert_eq!(
            decide_command(State::FailedToUpload, RetryUpload),
            Ok(Target::Upload)
        );
        assert!(decide_command(State::Built, RetryUpload).is_err());
        assert!(decide_command(State::Uploaded, SignedChanges).is_err());
        let refusal = decide_command(State::NeedsBuild, Retry).unwrap_err();
        assert!(refusal.contains("the build is Needs-Build"), "{refusal}");
        assert!(
            refusal.contains("Building, Built, Build-Attempted"),
            "{refusal}"
        );
        assert_eq!(
            decide_command(State::Failed, ShouldBuildYes),
            Ok(Target::To(State::NeedsBuild))
        );
        assert_eq!(
            decide_command(State::DepWait, ShouldBuildNot),
            Ok(Target::To(State::NotForUs))
        );
        assert!(decide_command(State::Installed, ShouldBuildYes).is_err());
    }

    #[test]
    fn every_event_has_exactly_one_row() {
        for (i, a) in TRANSITIONS.iter().enumerate() {
            for b in TRANSITIONS.iter().skip(i + 1) {
                assert_ne!(a.event, b.event);
            }
        }
    }

    #[test]
    fn diagram_lists_every_row() {
        let dot = diagram_dot();
        assert!(dot.starts_with("digraph buildmail {"));
        assert!(dot.contains("\"Building\" -> \"Built\" [label=\"log:successful\"]"));
        assert!(dot.contains("\"Dep-Wait\" -> \"Needs-Build\" [label=\"log:given-back\"]"));
        assert!(dot.contains("\"Built\" -> \"Failed-To-Upload\" [label=\"cmd:signed .changes\"]"));
        assert!(dot.contains("\"Uploaded\" -> \"Built\" [label=\"cmd:upload-rem\"]"));
        for s in State::ALL {
            assert!(dot.contains(&format!("\"{}\";", s.as_str())));
        }
    }
}
