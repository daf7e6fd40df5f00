//! The transition table: every event, the states it may come from, where
//! it goes; and the pure functions that consult it. The single source of
//! states — the diagram ([`super::diagram_dot`]) is drawn from it.

use crate::debian::Status;
use crate::model::state::list;
use crate::model::state::ArchiveEvent;
use crate::model::state::CommandKind;
use crate::model::state::EventKind;
use crate::model::state::SyncEvent;
use crate::model::state::Target;
use crate::model::state::Transition;
use crate::model::State;
use std::cmp::Ordering;

/// States a log event of the same version may move a build out of: those
/// a build result can follow. A log mail is a builder's report, not an
/// admin's decision: Failed, Dep-Wait, BD-Uninstallable, Not-For-Us,
/// Uploaded, Failed-To-Upload and Installed are left only by an admin's
/// command, the archive, or a new version; the log is recorded.
pub(super) const LOG_SOURCES: &[State] = &[
    State::NeedsBuild,
    State::Building,
    State::Built,
    State::BuildAttempted,
];

/// Every state.
pub(super) const ANY: &[State] = &State::ALL;

/// States a build can be taken from by retry, give-back and manual.
pub(super) const TAKEN: &[State] = &[State::Building, State::Built, State::BuildAttempted];

/// States `fail` applies to.
pub(super) const FAILABLE: &[State] = &[
    State::Building,
    State::Built,
    State::BuildAttempted,
    State::BdUninstallable,
];

/// States `dep-wait` applies to: any but Installed and Not-For-Us.
pub(super) const DEP_WAITABLE: &[State] = &[
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
pub(super) const UPLOADABLE: &[State] =
    &[State::Built, State::BuildAttempted, State::FailedToUpload];

/// States a "Should I build" answer applies to: any not yet uploaded.
pub(super) const SHOULD_BUILD: &[State] = &[
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
pub(super) const STICKY_FOR_NEW_VERSIONS: &[State] = &[State::NotForUs, State::AutoNotForUs];

/// States an upload answer from the archive applies to.
pub(super) const UPLOAD_ANSWERABLE: &[State] = &[State::Uploaded, State::FailedToUpload];

/// States a new source version in the archive moves to Needs-Build (or to
/// Auto-Not-For-Us): every one but an admin's Not-For-Us.
pub(super) const SYNC_NEW: &[State] = &[
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
    State::AutoNotForUs,
    State::FailedRemoved,
    State::DepWaitRemoved,
];

/// States the archive's binaries make Installed.
pub(super) const SYNC_INSTALLABLE: &[State] = &[
    State::NeedsBuild,
    State::Building,
    State::Built,
    State::BuildAttempted,
    State::Uploaded,
    State::FailedToUpload,
    State::DepWait,
    State::BdUninstallable,
    State::Failed,
];

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
    Transition {
        event: EventKind::Command(CommandKind::BinNmu),
        from: &[State::Installed],
        to: Target::To(State::NeedsBuild),
    },
    Transition {
        event: EventKind::Sync(SyncEvent::NewVersion),
        from: SYNC_NEW,
        to: Target::To(State::NeedsBuild),
    },
    Transition {
        event: EventKind::Sync(SyncEvent::NotForArch),
        from: SYNC_NEW,
        to: Target::To(State::AutoNotForUs),
    },
    Transition {
        event: EventKind::Sync(SyncEvent::ForArchAgain),
        from: &[State::AutoNotForUs],
        to: Target::To(State::NeedsBuild),
    },
    Transition {
        event: EventKind::Sync(SyncEvent::Installed),
        from: SYNC_INSTALLABLE,
        to: Target::To(State::Installed),
    },
    Transition {
        event: EventKind::Sync(SyncEvent::FailedRemoved),
        from: &[State::Failed],
        to: Target::To(State::FailedRemoved),
    },
    Transition {
        event: EventKind::Sync(SyncEvent::DepWaitRemoved),
        from: &[State::DepWait],
        to: Target::To(State::DepWaitRemoved),
    },
    Transition {
        event: EventKind::Sync(SyncEvent::FailedBack),
        from: &[State::FailedRemoved],
        to: Target::To(State::Failed),
    },
    Transition {
        event: EventKind::Sync(SyncEvent::DepWaitBack),
        from: &[State::DepWaitRemoved],
        to: Target::To(State::DepWait),
    },
    Transition {
        event: EventKind::Sync(SyncEvent::DependenciesAvailable),
        from: &[State::DepWait],
        to: Target::To(State::NeedsBuild),
    },
    Transition {
        event: EventKind::Sync(SyncEvent::BdUninstallable),
        from: &[State::NeedsBuild],
        to: Target::To(State::BdUninstallable),
    },
    Transition {
        event: EventKind::Sync(SyncEvent::BdInstallable),
        from: &[State::BdUninstallable],
        to: Target::To(State::NeedsBuild),
    },
    Transition {
        event: EventKind::Sync(SyncEvent::Taken),
        from: &[State::NeedsBuild],
        to: Target::To(State::Building),
    },
];

/// Decides what `sync` finding `event` does to a build in `current`: where
/// it goes, or `None` when the table has no such move from there.
pub fn decide_sync(current: State, event: SyncEvent) -> Option<State> {
    let row = transition_for(EventKind::Sync(event))?;
    match row.to {
        Target::To(to) if row.from.contains(&current) => Some(to),
        _ => None,
    }
}

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
    match crate::debian::version::compare(version, current_version) {
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
            "log received, state kept: the build is {state}, which a log does not change (a log moves a build only from {}); an admin's command or a new version does",
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
