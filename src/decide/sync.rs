//! What the archive's indices do to one build (wanna-build's merge): the
//! new record and history line for a (source, suite, architecture), from
//! the current record, the source's `Sources` entry and what the
//! architecture's `Packages` offers. Every state change goes through the
//! transition table ([`crate::model::state::decide_sync`]).

use std::collections::{HashMap, HashSet};

use crate::debian::archs;
use crate::debian::pas::Pas;
use crate::debian::relations::Available;
use crate::debian::version;
use crate::inbound::archive::SourceEntry;
use crate::model::state::{decide_sync, SyncEvent};
use crate::model::{ArchiveSource, BuildKey, BuildRecord, HistoryEntry, State};

/// One architecture of one suite, as the archive's indices show it.
#[derive(Debug, Default)]
pub struct ArchView {
    /// The suite.
    pub suite: String,
    /// The architecture.
    pub arch: String,
    /// It builds the `Architecture: all` packages.
    pub arch_all: bool,
    /// What can satisfy relations on it (packages and provides).
    pub available: Available,
    /// (source, source version) with architecture-specific binaries in its
    /// Packages.
    pub built: HashSet<(String, String)>,
    /// (source, source version) with `Architecture: all` binaries.
    pub built_all: HashSet<(String, String)>,
    /// Packages-arch-specific.
    pub pas: Pas,
    /// (source, binary version) of binNMU binaries (`+bN`) for the
    /// architecture.
    pub binnmu_built: HashSet<(String, String)>,
    /// The highest binNMU number seen per (source, source version).
    pub binnmu_max: HashMap<(String, String), u32>,
    /// dose-builddebcheck's verdict, when it ran: the uninstallable
    /// sources, each with why (instead of the built-in check).
    pub dose: Option<HashMap<String, String>>,
}

impl ArchView {
    /// Notes an architecture-specific binary of `source` `source_version`
    /// whose own version is `version` (a binNMU when it ends in `+bN`).
    pub fn add_built(&mut self, source: &str, source_version: &str, version: &str) {
        self.built
            .insert((source.to_string(), source_version.to_string()));
        if version != source_version {
            if let (base, Some(n)) = version::split_binnmu(version) {
                if base == source_version {
                    self.binnmu_built
                        .insert((source.to_string(), version.to_string()));
                    let max = self
                        .binnmu_max
                        .entry((source.to_string(), source_version.to_string()))
                        .or_default();
                    *max = (*max).max(n);
                }
            }
        }
    }

    /// Why `e` is not built on this architecture: its `Architecture:`
    /// field (`Err(None)`: no record is made) or Packages-arch-specific
    /// (`Err(Some(why))`: the build is Auto-Not-For-Us).
    pub fn builds(&self, e: &SourceEntry) -> Result<(), Option<String>> {
        if !archs::builds_on(&e.architecture, &self.arch, self.arch_all) {
            return Err(None);
        }
        if self.pas.allows(&e.package, &self.arch) == Some(false) {
            return Err(Some(format!(
                "Packages-arch-specific excludes {} from {}",
                e.package, self.arch
            )));
        }
        Ok(())
    }

    /// Whether the binaries of `src` `ver` built on this architecture are
    /// in the archive (for an `all`-only source on the arch-all builder:
    /// its `all` binaries).
    pub fn has_binaries(&self, e: &SourceEntry) -> bool {
        let key = (e.package.clone(), e.version.clone());
        let arch_specific = e
            .architecture
            .split_whitespace()
            .any(|t| t != "all" && archs::token_matches(t, &self.arch));
        if arch_specific {
            self.built.contains(&key)
        } else {
            self.arch_all && self.built_all.contains(&key)
        }
    }
}

/// The record and history line after the merge, or `None` when nothing
/// changes.
pub fn merge(
    current: Option<&BuildRecord>,
    entry: Option<&SourceEntry>,
    view: &ArchView,
    now: i64,
) -> Option<(BuildRecord, HistoryEntry)> {
    match (current, entry) {
        (None, None) => None,
        (Some(r), None) => gone(r, now),
        (None, Some(e)) => create(e, view, now),
        (Some(r), Some(e)) => update(r, e, view, now),
    }
}

fn history(
    from: Option<State>,
    to: State,
    version: &str,
    event: &str,
    note: String,
    now: i64,
) -> HistoryEntry {
    HistoryEntry {
        time: now,
        from,
        to: Some(to),
        version: version.to_string(),
        event: event.to_string(),
        message_id: None,
        signer: None,
        note: Some(note),
        imported: None,
    }
}

fn source_of(e: &SourceEntry, old: Option<&ArchiveSource>, view: &ArchView) -> ArchiveSource {
    ArchiveSource {
        ask_first: old.and_then(|o| o.ask_first.clone()),
        archive_binnmu: view
            .binnmu_max
            .get(&(e.package.clone(), e.version.clone()))
            .copied(),
        version: e.version.clone(),
        section: e.section.clone(),
        priority: e.priority.clone(),
        build_depends: e.build_depends.clone(),
        removed: false,
        uninstallable: old.and_then(|o| o.uninstallable.clone()),
        built_before: old.is_some_and(|o| o.built_before),
        maintainer: e.maintainer.clone(),
        uploaders: e.uploaders.clone(),
    }
}

/// A source the archive's Sources lack: one that left the archive, or one
/// it never had (a build known from mail only: a log of a source no
/// mirror has). Either way the build leaves the queue (a Failed or
/// Dep-Wait one goes Failed-Removed / Dep-Wait-Removed, keeping why), and a
/// later Sources that has the source brings it back ([`update`]).
fn gone(r: &BuildRecord, now: i64) -> Option<(BuildRecord, HistoryEntry)> {
    if r.source.as_ref().is_some_and(|s| s.removed) {
        // Already out.
        return None;
    }
    let why = if r.mail_only() {
        "the archive does not have this source"
    } else {
        "the source left the archive"
    };
    let mut n = r.clone();
    n.source
        .get_or_insert_with(|| ArchiveSource {
            version: r.version.clone(),
            ..ArchiveSource::default()
        })
        .removed = true;
    let event = match r.state {
        State::Failed => Some(SyncEvent::FailedRemoved),
        State::DepWait => Some(SyncEvent::DepWaitRemoved),
        _ => None,
    };
    let to = event.and_then(|e| decide_sync(r.state, e));
    let (name, note) = match (event, to) {
        (Some(e), Some(to)) => {
            n.state = to;
            n.previous_state = Some(r.state);
            n.state_change = now;
            (
                format!("sync:{}", e.as_str()),
                format!("{why}; the failure and wait information is kept"),
            )
        }
        _ => (
            "sync:removed".to_string(),
            format!("{why}; the build ({}) leaves the queue", r.state),
        ),
    };
    let h = history(Some(r.state), n.state, &r.version, &name, note, now);
    Some((n, h))
}

/// A source the farm has no record of on this architecture.
fn create(e: &SourceEntry, view: &ArchView, now: i64) -> Option<(BuildRecord, HistoryEntry)> {
    let (state, event, note) = if let Err(why) = view.builds(e) {
        // Not built here by its Architecture field: no record (nothing to
        // do); excluded by P-a-s: Auto-Not-For-Us, saying so.
        (State::AutoNotForUs, SyncEvent::NotForArch, why?)
    } else if view.has_binaries(e) {
        (
            State::Installed,
            SyncEvent::Installed,
            "its binaries are in the archive".to_string(),
        )
    } else {
        (
            State::NeedsBuild,
            SyncEvent::NewVersion,
            format!("new source in the archive, to be built on {}", view.arch),
        )
    };
    let mut source = source_of(e, None, view);
    let (state, event, note) = bd_check(&e.package, state, event, note, &mut source, view);
    let key = BuildKey {
        dist: view.suite.clone(),
        arch: view.arch.clone(),
        source: e.package.clone(),
    };
    let record = BuildRecord {
        source: Some(source),
        ..BuildRecord::new(key, &e.version, state, now)
    };
    let h = history(
        None,
        state,
        &e.version,
        &format!("sync:{}", event.as_str()),
        note,
        now,
    );
    Some((record, h))
}

/// A Needs-Build build whose build-dependencies cannot be installed goes
/// BD-Uninstallable (naming the relation); a BD-Uninstallable one whose
/// can goes back. Returns the (possibly changed) state, event and note.
fn bd_check(
    package: &str,
    state: State,
    event: SyncEvent,
    note: String,
    source: &mut ArchiveSource,
    view: &ArchView,
) -> (State, SyncEvent, String) {
    let problem = match (&view.dose, &source.build_depends) {
        (Some(verdict), _) => verdict
            .get(package)
            .map(|why| format!("{why} on {} (dose-builddebcheck)", view.arch)),
        (None, None) => None,
        (None, Some(bd)) => match view.available.first_unsatisfied(bd, &view.arch) {
            Ok(p) => p.map(|p| format!("{p} is not available on {}", view.arch)),
            Err(e) => Some(format!("Build-Depends {e}")),
        },
    };
    source.uninstallable.clone_from(&problem);
    match (state, problem) {
        (State::NeedsBuild, Some(p)) => match decide_sync(state, SyncEvent::BdUninstallable) {
            Some(to) => (
                to,
                SyncEvent::BdUninstallable,
                format!("{note}; build-dependency not installable: {p}"),
            ),
            None => (state, event, note),
        },
        (State::BdUninstallable, None) => match decide_sync(state, SyncEvent::BdInstallable) {
            Some(to) => (
                to,
                SyncEvent::BdInstallable,
                format!("{note}; the build-dependencies can be installed now"),
            ),
            None => (state, event, note),
        },
        _ => (state, event, note),
    }
}

/// A known build whose source the archive has.
fn update(
    r: &BuildRecord,
    e: &SourceEntry,
    view: &ArchView,
    now: i64,
) -> Option<(BuildRecord, HistoryEntry)> {
    let mut n = r.clone();
    let mut source = source_of(e, r.source.as_ref(), view);
    let excluded = view.builds(e).err();
    let on_arch = excluded.is_none();
    let why_not = |v: &str| match &excluded {
        Some(Some(pas)) => pas.clone(),
        _ => format!(
            "{v} is not built on {} (Architecture: {})",
            view.arch, e.architecture
        ),
    };
    // A binNMU (`+bN`) is a build of the source version before it.
    let (base, binnmu) = version::split_binnmu(&r.version);
    let cmp = version::compare(&e.version, base);
    let installed = match binnmu {
        Some(_) => view
            .binnmu_built
            .contains(&(e.package.clone(), r.version.clone())),
        None => view.has_binaries(e),
    };
    let mut moves: Vec<(SyncEvent, String)> = Vec::new();
    let back = r.source.as_ref().is_some_and(|s| s.removed);
    match cmp {
        std::cmp::Ordering::Less => {
            // The farm knows a newer version than the archive (an upload
            // not yet installed): the archive says nothing new about it.
            return None;
        }
        std::cmp::Ordering::Greater => {
            // Built before: the old version got as far as the archive.
            source.built_before = r.source.as_ref().is_some_and(|s| s.built_before)
                || matches!(r.state, State::Installed | State::Uploaded | State::Built);
            n.version = e.version.clone();
            // What belonged to the old version goes.
            n.binnmu = None;
            n.failed_reason = None;
            n.depends = None;
            n.explanation = None;
            n.explanation_pending = false;
            n.upload = None;
            n.upload_log = None;
            if !on_arch {
                moves.push((SyncEvent::NotForArch, why_not(&e.version)));
            } else if view.has_binaries(e) {
                moves.push((
                    SyncEvent::NewVersion,
                    format!("new version {} in the archive", e.version),
                ));
                moves.push((
                    SyncEvent::Installed,
                    "its binaries are in the archive".into(),
                ));
            } else if matches!(r.state, State::Failed | State::FailedRemoved) {
                // The old version Failed: ask before building this one.
                let old_reason = r
                    .failed_reason
                    .clone()
                    .or_else(|| r.explanation.as_ref().map(|e| e.summary.clone()))
                    .unwrap_or_else(|| "failed".into());
                source.ask_first = Some(crate::model::AskFirst {
                    old_version: r.version.clone(),
                    old_reason,
                    asked: false,
                });
                moves.push((
                    SyncEvent::NewVersion,
                    format!(
                        "new version {} in the archive; {} Failed, so the admins are asked \"Should I build\" first",
                        e.version, r.version
                    ),
                ));
            } else {
                source.ask_first = None;
                moves.push((
                    SyncEvent::NewVersion,
                    format!(
                        "new version {} in the archive (was {})",
                        e.version, r.version
                    ),
                ));
            }
        }
        std::cmp::Ordering::Equal => {
            if back {
                match r.state {
                    State::FailedRemoved => moves.push((
                        SyncEvent::FailedBack,
                        "the source is back in the archive".into(),
                    )),
                    State::DepWaitRemoved => moves.push((
                        SyncEvent::DepWaitBack,
                        "the source is back in the archive".into(),
                    )),
                    _ => {}
                }
            }
            if r.state == State::AutoNotForUs && on_arch {
                moves.push((
                    SyncEvent::ForArchAgain,
                    format!("{} is built on {} again", e.version, view.arch),
                ));
            } else if !on_arch && r.state != State::AutoNotForUs {
                moves.push((SyncEvent::NotForArch, why_not(&e.version)));
            } else if on_arch && installed {
                moves.push((
                    SyncEvent::Installed,
                    format!("the binaries of {} are in the archive", r.version),
                ));
            }
            if r.state == State::DepWait {
                if let Some(d) = &r.depends {
                    if let Ok(None) = view.available.first_unsatisfied(d, &view.arch) {
                        moves.push((
                            SyncEvent::DependenciesAvailable,
                            format!("what it waited for is available on {}: {d}", view.arch),
                        ));
                    }
                }
            }
        }
    }
    let from = r.state;
    let mut state = r.state;
    let mut notes = Vec::new();
    let mut events = Vec::new();
    for (event, note) in moves {
        if let Some(to) = decide_sync(state, event) {
            state = to;
            events.push(event);
            notes.push(note);
        } else if event == SyncEvent::NewVersion || event == SyncEvent::NotForArch {
            // An admin's Not-For-Us stays, for the new version too.
            notes.push(format!("{note}; the build stays {state}"));
            events.push(event);
        }
    }
    let last = events.last().copied();
    let (state, last, note) = if matches!(state, State::NeedsBuild | State::BdUninstallable) {
        let (s, ev, note) = bd_check(
            &e.package,
            state,
            last.unwrap_or(SyncEvent::BdInstallable),
            notes.join("; "),
            &mut source,
            view,
        );
        (s, Some(ev).filter(|_| s != state || last.is_some()), note)
    } else {
        (state, last, notes.join("; "))
    };
    if state != from {
        n.previous_state = Some(from);
        n.state_change = now;
    }
    n.state = state;
    let source_changed = r.source.as_ref() != Some(&source);
    n.source = Some(source);
    let Some(event) = last else {
        // Nothing moved: keep what the archive says (section, Build-Depends)
        // without a history line.
        return source_changed.then(|| {
            let note = if back {
                "the source is back in the archive"
            } else {
                "the archive's description of the source changed"
            };
            let h = history(
                Some(from),
                state,
                &n.version,
                "sync:source",
                note.into(),
                now,
            );
            (n, h)
        });
    };
    let note = if back && !note.contains("back in the archive") {
        format!("the source is back in the archive; {note}")
    } else {
        note
    };
    let h = history(
        Some(from),
        state,
        &n.version,
        &format!("sync:{}", event.as_str()),
        note,
        now,
    );
    Some((n, h))
}
