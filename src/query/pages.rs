//! The status pages' views (`serve`'s `[serve] http` listener renders
//! them as HTML and answers them as JSON under `/api/`): a source's
//! builds, a log's place among its build's logs, a suite and
//! architecture's queue and problem states with their counts over time,
//! builders, maintainers, failures grouped by cause, search, the states.
//!
//! Every view reads a bounded amount: lists are pages ([`PAGE`] lines,
//! with the cursor of the next page), scans stop at [`SCAN_LIMIT`] and
//! say so.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::debian::people::{people, Person};
use crate::model::state::{edges, State};
use crate::model::{BuildKey, BuildRecord, Explanation, HistoryEntry, LogRef};
use crate::store::{BuilderSeen, DayCounts, StateCounts, Store, StoreError};

use super::QueueEntry;

/// Lines of one page of a list.
pub const PAGE: usize = 100;

/// The most builds a view that must see a whole state (failures by cause)
/// reads; past it the view says it was cut.
pub const SCAN_LIMIT: usize = 20_000;

/// The most history lines a source page shows (newest first).
pub const HISTORY_LIMIT: usize = 200;

/// The most logs a source page lists (newest first).
pub const LOG_LIMIT: usize = 200;

/// How many days of counts a suite page's graph covers.
pub const GRAPH_DAYS: i64 = 90;

/// The states a suite page lists with their reasons, in this order.
pub const PROBLEM_STATES: [State; 6] = [
    State::Building,
    State::BuildAttempted,
    State::Failed,
    State::DepWait,
    State::BdUninstallable,
    State::FailedToUpload,
];

/// An archived log as the pages link it: `/log/<source>/<version>/<arch>/<n>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLink {
    /// The source package.
    pub source: String,
    /// The version built.
    pub version: String,
    /// The architecture.
    pub arch: String,
    /// The suite.
    pub dist: String,
    /// Its number among the logs of this source, version and
    /// architecture (1: the oldest).
    pub n: usize,
    /// When it arrived (Unix seconds).
    pub time: i64,
    /// The status it reported.
    pub status: Option<crate::debian::Status>,
    /// The builder host it names.
    pub builder: Option<String>,
    /// Its size, uncompressed.
    pub size: u64,
}

/// The logs of a source as links, numbered per version and architecture,
/// oldest first.
fn links(logs: &[LogRef]) -> Vec<LogLink> {
    let mut seen: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    logs.iter()
        .map(|l| {
            let n = seen
                .entry((l.version.as_str(), l.key.arch.as_str()))
                .or_default();
            *n += 1;
            LogLink {
                source: l.key.source.clone(),
                version: l.version.clone(),
                arch: l.key.arch.clone(),
                dist: l.key.dist.clone(),
                n: *n,
                time: l.time,
                status: l.status,
                builder: l.builder.clone(),
                size: l.size,
            }
        })
        .collect()
}

/// A build as a source page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRow {
    /// The record.
    pub record: BuildRecord,
    /// Its state's one-line meaning.
    pub meaning: String,
    /// Its logs (newest first).
    pub logs: Vec<LogLink>,
    /// The link to its last log, if archived.
    pub last_log: Option<LogLink>,
}

/// One history line of a source page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    /// The build.
    pub key: BuildKey,
    /// The line.
    pub entry: HistoryEntry,
}

/// `/package/<source>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourcePage {
    /// The source package.
    pub source: String,
    /// Its Maintainer and Uploaders (as the archive last said).
    pub people: Vec<Person>,
    /// Every build, by suite and architecture.
    pub builds: Vec<BuildRow>,
    /// Its transitions, newest first, at most [`HISTORY_LIMIT`].
    pub history: Vec<HistoryRow>,
    /// More history lines than shown.
    pub history_cut: bool,
}

/// The source page of `source`; `None` when no build of it is known.
pub fn source_page(store: &dyn Store, source: &str) -> Result<Option<SourcePage>, StoreError> {
    let records = store.builds_of(source)?;
    if records.is_empty() {
        return Ok(None);
    }
    let all_logs = store.logs_of(source)?;
    let all_links = links(&all_logs);
    let mut history = Vec::new();
    let mut builds = Vec::new();
    let mut who: Vec<Person> = Vec::new();
    for r in records {
        for e in store.history(&r.key)? {
            history.push(HistoryRow {
                key: r.key.clone(),
                entry: e,
            });
        }
        if let Some(s) = &r.source {
            for p in people(s.maintainer.as_deref().unwrap_or(""))
                .into_iter()
                .chain(people(s.uploaders.as_deref().unwrap_or("")))
            {
                if !who.iter().any(|w| w.address == p.address) {
                    who.push(p);
                }
            }
        }
        let mut logs: Vec<LogLink> = all_logs
            .iter()
            .zip(&all_links)
            .filter(|(l, _)| l.key == r.key)
            .map(|(_, k)| k.clone())
            .collect();
        let last_log = r.last_log.as_ref().and_then(|id| {
            all_logs
                .iter()
                .zip(&all_links)
                .find(|(l, _)| &l.id == id)
                .map(|(_, k)| k.clone())
        });
        logs.reverse();
        logs.truncate(LOG_LIMIT);
        builds.push(BuildRow {
            meaning: r.state.meaning().to_string(),
            record: r,
            logs,
            last_log,
        });
    }
    history.sort_by_key(|h| std::cmp::Reverse(h.entry.time));
    let history_cut = history.len() > HISTORY_LIMIT;
    history.truncate(HISTORY_LIMIT);
    Ok(Some(SourcePage {
        source: source.to_string(),
        people: who,
        builds,
        history,
        history_cut,
    }))
}

/// `/log/<source>/<version>/<arch>[/<n>]`: which log, and what is known
/// of it (the text itself is streamed from the archive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogPage {
    /// The log.
    pub log: LogRef,
    /// Its link (its number `n`).
    pub link: LogLink,
    /// How many logs this source, version and architecture has.
    pub count: usize,
    /// The build's state now.
    pub state: Option<State>,
    /// The fail-stage, when this is the build's last log.
    pub fail_stage: Option<String>,
    /// Why it failed, when this is the build's last log and it was
    /// explained.
    pub explanation: Option<Explanation>,
}

/// The `n`th (1: oldest; `None`: newest) log of `source` `version` on
/// `arch`; `None` when there is no such log.
pub fn log_page(
    store: &dyn Store,
    source: &str,
    version: &str,
    arch: &str,
    n: Option<usize>,
) -> Result<Option<LogPage>, StoreError> {
    let logs: Vec<LogRef> = store
        .logs_of(source)?
        .into_iter()
        .filter(|l| l.version == version && l.key.arch == arch)
        .collect();
    let count = logs.len();
    let i = match n {
        None if count > 0 => count - 1,
        Some(n) if (1..=count).contains(&n) => n - 1,
        _ => return Ok(None),
    };
    let Some(log) = logs.into_iter().nth(i) else {
        return Ok(None);
    };
    let record = store.build(&log.key)?;
    let last = record
        .as_ref()
        .filter(|r| r.last_log.as_deref() == Some(log.id.as_str()));
    Ok(Some(LogPage {
        link: LogLink {
            source: log.key.source.clone(),
            version: log.version.clone(),
            arch: log.key.arch.clone(),
            dist: log.key.dist.clone(),
            n: i + 1,
            time: log.time,
            status: log.status,
            builder: log.builder.clone(),
            size: log.size,
        },
        count,
        state: record.as_ref().map(|r| r.state),
        fail_stage: last.and_then(|r| r.fail_stage.clone()),
        explanation: last.and_then(|r| r.explanation.clone()),
        log,
    }))
}

/// A build in a list of one state, with why it is there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateRow {
    /// The source package.
    pub source: String,
    /// The version.
    pub version: String,
    /// In this state since (Unix seconds).
    pub since: i64,
    /// The builder (taken by, or of the last log).
    pub builder: Option<String>,
    /// Why it is in this state, in words.
    pub reason: Option<String>,
    /// The upload's output, for Failed-To-Upload.
    pub upload_log: Option<String>,
    /// Its last log, as `/log/...` would number it.
    pub last_log: Option<LogLink>,
}

/// Why a build is in its state, in words.
pub fn reason(r: &BuildRecord) -> Option<String> {
    let s = r.source.as_ref();
    match r.state {
        State::DepWait | State::DepWaitRemoved => {
            r.depends.clone().map(|d| format!("waits for {d}"))
        }
        State::BdUninstallable => s.and_then(|s| s.uninstallable.clone()),
        State::Building => None,
        _ => r
            .failed_reason
            .clone()
            .or_else(|| r.explanation.as_ref().map(|e| e.summary.clone()))
            .or_else(|| {
                r.explanation_pending
                    .then(|| "the log is being explained".to_string())
            })
            .or_else(|| r.incomplete_log.clone()),
    }
}

fn state_row(r: BuildRecord, last_log: Option<LogLink>) -> StateRow {
    StateRow {
        source: r.key.source.clone(),
        version: r.version.clone(),
        since: r.state_change,
        builder: r.taken_by.clone().or_else(|| r.builder.clone()),
        reason: reason(&r),
        upload_log: (r.state == State::FailedToUpload)
            .then(|| r.upload_log.clone())
            .flatten(),
        last_log,
    }
}

/// The link of a record's last log: found among its source's logs.
fn last_log_link(store: &dyn Store, r: &BuildRecord) -> Result<Option<LogLink>, StoreError> {
    let Some(id) = &r.last_log else {
        return Ok(None);
    };
    let logs = store.logs_of(&r.key.source)?;
    let all = links(&logs);
    Ok(logs
        .iter()
        .zip(all)
        .find(|(l, _)| &l.id == id)
        .map(|(_, k)| k))
}

/// One state's list on a suite page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateList {
    /// The suite.
    pub suite: String,
    /// The architecture.
    pub arch: String,
    /// The state.
    pub state: State,
    /// What it means.
    pub meaning: String,
    /// How many builds are in it.
    pub count: u64,
    /// This page of them, by source name.
    pub builds: Vec<StateRow>,
    /// The cursor of the next page (`?after=`), if there is one.
    pub next: Option<String>,
}

/// A page of the builds of `suite`/`arch` in `state`, after the source
/// `after`, at most `limit`.
pub fn state_list(
    store: &dyn Store,
    suite: &str,
    arch: &str,
    state: State,
    after: Option<&str>,
    limit: usize,
) -> Result<StateList, StoreError> {
    let mut records = store.builds_in(suite, arch, state, after, limit + 1)?;
    let next = (records.len() > limit).then(|| {
        records.truncate(limit);
        records.last().map(|r| r.key.source.clone())
    });
    let count = store
        .state_counts()?
        .into_iter()
        .find(|c| c.dist == suite && c.arch == arch)
        .and_then(|c| c.counts.get(&state).copied())
        .unwrap_or(0);
    let mut builds = Vec::with_capacity(records.len());
    for r in records {
        let link = if r.last_log.is_some() && state != State::Building {
            last_log_link(store, &r)?
        } else {
            None
        };
        builds.push(state_row(r, link));
    }
    Ok(StateList {
        suite: suite.to_string(),
        arch: arch.to_string(),
        meaning: state.meaning().to_string(),
        state,
        count,
        builds,
        next: next.flatten(),
    })
}

/// A page of a needs-build queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuePage {
    /// The suite.
    pub suite: String,
    /// The architecture.
    pub arch: String,
    /// Builds in the queue.
    pub total: usize,
    /// This page (1: the top of the queue).
    pub page: usize,
    /// How many pages there are.
    pub pages: usize,
    /// This page's lines, in order.
    pub entries: Vec<QueueEntry>,
}

/// Page `page` (1-based) of the queue `all` (of `suite`/`arch`, in
/// order: [`super::queue`]), `per_page` lines a page.
pub fn queue_page(
    all: &[QueueEntry],
    suite: &str,
    arch: &str,
    page: usize,
    per_page: usize,
) -> QueuePage {
    let per_page = per_page.max(1);
    let total = all.len();
    let pages = total.div_ceil(per_page).max(1);
    let page = page.clamp(1, pages);
    let entries = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    QueuePage {
        suite: suite.to_string(),
        arch: arch.to_string(),
        total,
        page,
        pages,
        entries,
    }
}

/// `/suite/<suite>/<arch>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuitePage {
    /// The suite.
    pub suite: String,
    /// The architecture.
    pub arch: String,
    /// Builds in each state now.
    pub counts: BTreeMap<State, u64>,
    /// The counts at the end of each day that changed them, for the last
    /// [`GRAPH_DAYS`] days.
    pub days: Vec<DayCounts>,
    /// Today (days since 1970-01-01 UTC): where the graph ends.
    pub today: i64,
    /// The top of the queue.
    pub queue: QueuePage,
    /// The first page of each of [`PROBLEM_STATES`].
    pub states: Vec<StateList>,
}

/// The suite page of `suite`/`arch` whose queue is `queue` (in order);
/// `None` when it has no build.
pub fn suite_page(
    store: &dyn Store,
    queue: &[QueueEntry],
    suite: &str,
    arch: &str,
    today: i64,
) -> Result<Option<SuitePage>, StoreError> {
    let Some(counts) = store
        .state_counts()?
        .into_iter()
        .find(|c| c.dist == suite && c.arch == arch)
    else {
        return Ok(None);
    };
    let mut states = Vec::new();
    for s in PROBLEM_STATES {
        states.push(state_list(store, suite, arch, s, None, PAGE)?);
    }
    Ok(Some(SuitePage {
        suite: suite.to_string(),
        arch: arch.to_string(),
        days: store.daily_counts(suite, arch, today - GRAPH_DAYS)?,
        today,
        queue: queue_page(queue, suite, arch, 1, PAGE),
        counts: counts.counts,
        states,
    }))
}

/// `/`: every suite and architecture with its counts, and the builders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    /// Counts per suite and architecture.
    pub suites: Vec<StateCounts>,
    /// The builders.
    pub builders: Vec<BuilderSeen>,
}

/// The overview.
pub fn overview(store: &dyn Store) -> Result<Overview, StoreError> {
    Ok(Overview {
        suites: store.state_counts()?,
        builders: store.builders()?,
    })
}

/// A build a builder holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taken {
    /// The build.
    pub key: BuildKey,
    /// Its version.
    pub version: String,
    /// Building since (Unix seconds).
    pub since: i64,
}

/// `/builder/<name>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuilderPage {
    /// The builder (a `[[builders]]` name or the host its logs name).
    pub name: String,
    /// When it was last heard of: its newest log, or its last `take`.
    pub last_heard: Option<i64>,
    /// What it is building.
    pub taken: Vec<Taken>,
    /// Its newest logs, newest first.
    pub logs: Vec<LogLink>,
}

/// The page of builder `name`; `None` when nothing is known of it.
pub fn builder_page(store: &dyn Store, name: &str) -> Result<Option<BuilderPage>, StoreError> {
    let refs = store.builder_logs(name, PAGE)?;
    let mut logs = Vec::with_capacity(refs.len());
    for l in &refs {
        // Numbered as the source's log list numbers it.
        let all = store.logs_of(&l.key.source)?;
        let numbered = links(&all);
        if let Some((_, k)) = all.iter().zip(numbered).find(|(a, _)| a.id == l.id) {
            logs.push(k);
        }
    }
    let mut taken = Vec::new();
    for c in store.state_counts()? {
        if !c.counts.contains_key(&State::Building) {
            continue;
        }
        let mut after: Option<String> = None;
        loop {
            let page =
                store.builds_in(&c.dist, &c.arch, State::Building, after.as_deref(), PAGE)?;
            let Some(last) = page.last() else {
                break;
            };
            after = Some(last.key.source.clone());
            let full = page.len() == PAGE;
            for r in page {
                if r.taken_by.as_deref() == Some(name) || r.builder.as_deref() == Some(name) {
                    taken.push(Taken {
                        since: r.state_change,
                        version: r.version,
                        key: r.key,
                    });
                }
            }
            if !full || taken.len() >= SCAN_LIMIT {
                break;
            }
        }
    }
    if logs.is_empty() && taken.is_empty() {
        return Ok(None);
    }
    let last_heard = refs
        .first()
        .map(|l| l.time)
        .into_iter()
        .chain(taken.iter().map(|t| t.since))
        .max();
    Ok(Some(BuilderPage {
        name: name.to_string(),
        last_heard,
        taken,
        logs,
    }))
}

/// A build of one of a maintainer's sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaintainedBuild {
    /// The suite.
    pub dist: String,
    /// The architecture.
    pub arch: String,
    /// The version.
    pub version: String,
    /// Its state.
    pub state: State,
    /// Since (Unix seconds).
    pub since: i64,
    /// Why, for a failure.
    pub reason: Option<String>,
}

/// One source of a maintainer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaintainedSource {
    /// The source package.
    pub source: String,
    /// `maintainer` or `uploader`.
    pub role: String,
    /// How many of its builds are failures ([`State::is_failure`]).
    pub failing: usize,
    /// Its builds.
    pub builds: Vec<MaintainedBuild>,
}

/// `/maintainer/<address>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaintainerPage {
    /// The address.
    pub address: String,
    /// The names it is given.
    pub names: Vec<String>,
    /// Its sources, those with failing builds first.
    pub sources: Vec<MaintainedSource>,
    /// Its failing builds, newest first (the feed's entries).
    pub failures: Vec<FailureEntry>,
    /// More builds than were read ([`SCAN_LIMIT`]).
    pub cut: bool,
}

/// A failing build, as a feed entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureEntry {
    /// The build.
    pub key: BuildKey,
    /// The version.
    pub version: String,
    /// Its state.
    pub state: State,
    /// Since (Unix seconds).
    pub since: i64,
    /// Why.
    pub reason: Option<String>,
}

/// The page of the maintainer (or uploader) `address`; `None` when no
/// source names it.
pub fn maintainer_page(
    store: &dyn Store,
    address: &str,
) -> Result<Option<MaintainerPage>, StoreError> {
    let address = address.trim().to_ascii_lowercase();
    let entries = store.maintained(&address, SCAN_LIMIT + 1)?;
    if entries.is_empty() {
        return Ok(None);
    }
    let cut = entries.len() > SCAN_LIMIT;
    let mut names: Vec<String> = Vec::new();
    let mut sources: Vec<MaintainedSource> = Vec::new();
    let mut failures = Vec::new();
    for m in entries.into_iter().take(SCAN_LIMIT) {
        if !m.name.is_empty() && !names.contains(&m.name) {
            names.push(m.name.clone());
        }
        let Some(r) = store.build(&m.key)? else {
            continue;
        };
        if sources.last().is_none_or(|s| s.source != m.key.source) {
            sources.push(MaintainedSource {
                source: m.key.source.clone(),
                role: m.role.clone(),
                failing: 0,
                builds: Vec::new(),
            });
        }
        let Some(s) = sources.last_mut() else {
            continue;
        };
        if r.state.is_failure() {
            s.failing += 1;
            failures.push(FailureEntry {
                key: r.key.clone(),
                version: r.version.clone(),
                state: r.state,
                since: r.state_change,
                reason: reason(&r),
            });
        }
        s.builds.push(MaintainedBuild {
            dist: r.key.dist.clone(),
            arch: r.key.arch.clone(),
            version: r.version.clone(),
            state: r.state,
            since: r.state_change,
            reason: r.state.is_failure().then(|| reason(&r)).flatten(),
        });
    }
    sources.sort_by(|a, b| {
        (b.failing > 0)
            .cmp(&(a.failing > 0))
            .then(a.source.cmp(&b.source))
    });
    failures.sort_by_key(|f| std::cmp::Reverse(f.since));
    failures.truncate(PAGE);
    Ok(Some(MaintainerPage {
        address,
        names,
        sources,
        failures,
        cut,
    }))
}

/// A failed build in a group of [`FailuresPage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedBuild {
    /// The build.
    pub key: BuildKey,
    /// The version.
    pub version: String,
    /// Build-Attempted or Failed.
    pub state: State,
    /// The explanation's summary (or the admin's reason).
    pub summary: Option<String>,
}

/// Failures with one cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureGroup {
    /// The explanation's kind (`missing-c-header`, ...; `unexplained`).
    pub kind: String,
    /// What it is about (`foo.h`; the unsatisfiable dependencies; the
    /// error line).
    pub key: String,
    /// How many builds.
    pub count: usize,
    /// The first [`PAGE`] of them, by source.
    pub builds: Vec<FailedBuild>,
}

/// `/failures[/<suite>/<arch>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailuresPage {
    /// Only this suite (with `arch`).
    pub suite: Option<String>,
    /// Only this architecture.
    pub arch: Option<String>,
    /// The groups, largest first.
    pub groups: Vec<FailureGroup>,
    /// Builds read.
    pub scanned: usize,
    /// Not every failed build was read ([`SCAN_LIMIT`]).
    pub cut: bool,
}

/// The cause a failed build is grouped under: (kind, key).
pub fn cause(r: &BuildRecord) -> (String, String) {
    match &r.explanation {
        Some(e) => {
            let kind = e
                .problem_kind
                .clone()
                .unwrap_or_else(|| "unrecognised".to_string());
            let key = e
                .problem_key
                .clone()
                .or_else(|| e.dep_wait.clone())
                .or_else(|| e.matched_line.as_deref().map(normalise_line))
                .unwrap_or_else(|| "no error line found".to_string());
            (kind, key)
        }
        None if r.explanation_pending => ("pending".into(), "being explained".into()),
        None => (
            "unexplained".into(),
            r.failed_reason
                .clone()
                .unwrap_or_else(|| "no explanation".into()),
        ),
    }
}

/// An error line with what differs between packages (paths before the
/// last component, numbers) taken out, so that one cause groups.
fn normalise_line(line: &str) -> String {
    let words: Vec<String> = line
        .split_whitespace()
        .map(|w| {
            let w = match w.rfind('/') {
                Some(i) if i + 1 < w.len() && w.starts_with(['/', '.']) => &w[i + 1..],
                _ => w,
            };
            w.chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .collect()
        })
        .collect();
    words.join(" ").chars().take(200).collect()
}

/// The failures of `suite`/`arch` (every suite and architecture: `None`)
/// grouped by cause.
pub fn failures_page(
    store: &dyn Store,
    suite: Option<&str>,
    arch: Option<&str>,
) -> Result<FailuresPage, StoreError> {
    let mut groups: BTreeMap<(String, String), FailureGroup> = BTreeMap::new();
    let mut scanned = 0;
    let mut cut = false;
    'pairs: for c in store.state_counts()? {
        if suite.is_some_and(|s| s != c.dist) || arch.is_some_and(|a| a != c.arch) {
            continue;
        }
        for state in [State::BuildAttempted, State::Failed] {
            if !c.counts.contains_key(&state) {
                continue;
            }
            let mut after: Option<String> = None;
            loop {
                let page = store.builds_in(&c.dist, &c.arch, state, after.as_deref(), PAGE * 10)?;
                let full = page.len() == PAGE * 10;
                after = page.last().map(|r| r.key.source.clone());
                for r in page {
                    if scanned >= SCAN_LIMIT {
                        cut = true;
                        break 'pairs;
                    }
                    scanned += 1;
                    let (kind, key) = cause(&r);
                    let g = groups
                        .entry((kind.clone(), key.clone()))
                        .or_insert_with(|| FailureGroup {
                            kind,
                            key,
                            count: 0,
                            builds: Vec::new(),
                        });
                    g.count += 1;
                    if g.builds.len() < PAGE {
                        g.builds.push(FailedBuild {
                            summary: reason(&r),
                            version: r.version,
                            state: r.state,
                            key: r.key,
                        });
                    }
                }
                if !full {
                    break;
                }
            }
        }
    }
    let mut groups: Vec<FailureGroup> = groups.into_values().collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.kind.cmp(&b.kind)));
    for g in &mut groups {
        g.builds.sort_by(|a, b| a.key.cmp(&b.key));
    }
    Ok(FailuresPage {
        suite: suite.map(str::to_string),
        arch: arch.map(str::to_string),
        groups,
        scanned,
        cut,
    })
}

/// `/search?q=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchPage {
    /// What was asked.
    pub q: String,
    /// Sources whose name starts with it.
    pub sources: Vec<String>,
    /// Maintainers whose address or name contains it.
    pub maintainers: Vec<Person>,
}

/// Sources by name prefix and maintainers by address or name.
pub fn search(store: &dyn Store, q: &str) -> Result<SearchPage, StoreError> {
    let q = q.trim();
    if q.is_empty() {
        return Ok(SearchPage {
            q: String::new(),
            sources: Vec::new(),
            maintainers: Vec::new(),
        });
    }
    Ok(SearchPage {
        q: q.to_string(),
        sources: store.sources_from(&q.to_ascii_lowercase(), PAGE)?,
        maintainers: store.maintainers(q, PAGE)?,
    })
}

/// A state of the states page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateInfo {
    /// Its name (`Needs-Build`).
    pub name: State,
    /// Its title.
    pub title: String,
    /// What it means.
    pub meaning: String,
    /// Its group in the diagram.
    pub group: String,
}

/// An edge of the states page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeInfo {
    /// From.
    pub from: State,
    /// To (`from` for events that keep it).
    pub to: State,
    /// The events (`log:successful`, `cmd:retry`, ...).
    pub events: Vec<String>,
}

/// `/states`: every state and the transition table's edges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatesPage {
    /// The states.
    pub states: Vec<StateInfo>,
    /// The edges.
    pub edges: Vec<EdgeInfo>,
}

/// The states page, from the transition table.
pub fn states_page() -> StatesPage {
    StatesPage {
        states: State::ALL
            .iter()
            .map(|s| StateInfo {
                name: *s,
                title: s.title().to_string(),
                meaning: s.meaning().to_string(),
                group: s.group().as_str().to_string(),
            })
            .collect(),
        edges: edges()
            .into_iter()
            .map(|e| EdgeInfo {
                from: e.from,
                to: e.to,
                events: e.events,
            })
            .collect(),
    }
}

/// What `/metrics` exports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    /// The status (queues, outbox, jobs, syncs; the daemon's part).
    pub status: super::status::Status,
    /// Builds per suite, architecture and state.
    pub states: Vec<StateCounts>,
    /// Mails the daemon committed since it started, by outcome (`log`,
    /// `reply`, `archive`, `forwarded`, `kept`, `duplicate`,
    /// `quarantined`).
    pub outcomes: BTreeMap<String, u64>,
    /// Mails refused since the daemon started, by reason (`command`: a
    /// reply whose command was refused; `replay`: a signature used
    /// before; `duplicate`; `quarantined`).
    pub refusals: BTreeMap<String, u64>,
}

/// The metrics without the daemon's counters.
pub fn metrics(store: &dyn Store, config: &Config) -> Result<Metrics, StoreError> {
    Ok(Metrics {
        status: super::status(store, config)?,
        states: store.state_counts()?,
        outcomes: BTreeMap::new(),
        refusals: BTreeMap::new(),
    })
}
