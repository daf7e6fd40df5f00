//! Merging a suite read by [`super::read_suite`] into the builds' states,
//! in batches: each batch reads its builds' current records, decides
//! ([`crate::decide::sync::merge`]) and commits in one step of its own
//! ([`StoreAccess::step`]), so a daemon's mail commits run between two
//! batches instead of waiting for the whole suite, and nothing a mail
//! changed meanwhile is overwritten by a record read before it. The
//! Release is recorded last: an interrupted merge is simply run again.

use std::collections::{BTreeSet, HashMap};

use super::{SuiteData, SuiteReport, SyncError};
use crate::decide::sync::merge as merge_one;
use crate::effects::compose::{self, Mailer};
use crate::effects::StoreAccess;
use crate::model::{BuildKey, ReleaseSeen};
use crate::store::{Commit, Store, StoreError};

/// Builds read, decided and committed per step: small enough that a mail
/// waiting for the commit gate waits a few milliseconds, not a suite.
pub const BATCH: usize = 256;

/// How far a merge is: `done` of `total` (source, architecture) pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// Pairs merged so far.
    pub done: usize,
    /// Pairs to merge.
    pub total: usize,
}

/// Merges a suite read by [`super::read_suite`] into the store. After
/// each batch, `progress` is told how far it is; when it answers `false`
/// (the daemon is stopping) the merge ends there with
/// [`SyncError::Interrupted`], the Release not recorded, so the next sync
/// merges the suite again.
pub fn merge(
    access: StoreAccess<'_>,
    mailer: &Mailer<'_>,
    data: &SuiteData,
    now: i64,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<SuiteReport, SyncError> {
    let mut report = SuiteReport {
        suite: data.suite.clone(),
        sources: data.sources.len(),
        ..SuiteReport::default()
    };
    // The suite's builds, by architecture: only their names (the records
    // are read again, batch by batch, when they are decided).
    let mut known: HashMap<String, BTreeSet<String>> = HashMap::new();
    access.read(|store| {
        for r in store.all_builds() {
            let r = r?;
            if r.key.dist == data.suite {
                known.entry(r.key.arch).or_default().insert(r.key.source);
            }
        }
        Ok(())
    })?;
    let work: Vec<(usize, Vec<&str>)> = data
        .views
        .iter()
        .enumerate()
        .map(|(i, view)| {
            let mut names: BTreeSet<&str> = data.sources.keys().map(String::as_str).collect();
            if let Some(k) = known.get(&view.arch) {
                names.extend(k.iter().map(String::as_str));
            }
            (i, names.into_iter().collect())
        })
        .collect();
    let total = work.iter().map(|(_, names)| names.len()).sum();
    let mut done = 0;
    for (i, names) in &work {
        let view = &data.views[*i];
        for chunk in names.chunks(BATCH) {
            // Counted once the batch is written (a batch another writer
            // got in the way of is decided again).
            let counted = access.step(|store| {
                let mut counted = SuiteReport::default();
                merge_batch(store, mailer, data, view, chunk, now, &mut counted)?;
                Ok(counted)
            })?;
            report.changed += counted.changed;
            report.created += counted.created;
            for (event, n) in counted.events {
                *report.events.entry(event).or_default() += n;
            }
            done += chunk.len();
            if !progress(Progress { done, total }) {
                return Err(SyncError::Interrupted);
            }
        }
    }
    access.step(|store| {
        store.commit(&Commit {
            now,
            release_seen: Some(ReleaseSeen {
                suite: data.suite.clone(),
                date: data.release.date,
                sha256: data.sha256.clone(),
                synced: now,
            }),
            ..Commit::default()
        })
    })?;
    Ok(report)
}

/// One batch: the current records of `names` on `view`'s architecture,
/// decided and committed together with the "Should I build" questions
/// they raise.
fn merge_batch(
    store: &dyn Store,
    mailer: &Mailer<'_>,
    data: &SuiteData,
    view: &crate::decide::sync::ArchView,
    names: &[&str],
    now: i64,
    report: &mut SuiteReport,
) -> Result<(), StoreError> {
    let mut questions = Vec::new();
    let mut batch = Vec::new();
    for &name in names {
        let key = BuildKey {
            dist: data.suite.clone(),
            arch: view.arch.clone(),
            source: name.to_string(),
        };
        let current = store.build(&key)?;
        let Some((mut record, history)) =
            merge_one(current.as_ref(), data.sources.get(name), view, now)
        else {
            continue;
        };
        // "Should I build": asked once, in the commit that records it.
        if let Some(a) = record
            .source
            .as_mut()
            .and_then(|s| s.ask_first.as_mut())
            .filter(|a| !a.asked)
        {
            a.asked = true;
            let (old_version, old_reason) = (a.old_version.clone(), a.old_reason.clone());
            let id = store.generate_id()?;
            match compose::should_build(
                mailer.config,
                &mailer.templates,
                &record,
                &old_version,
                &old_reason,
                id,
                now,
            ) {
                Ok(m) => questions.push(compose::outbound(m, id, now)),
                Err(e) => tracing::error!("Should I build {}: {e}", record.key),
            }
        }
        if current.is_some() {
            report.changed += 1;
        } else {
            report.created += 1;
        }
        *report.events.entry(history.event.clone()).or_default() += 1;
        batch.push((record, history));
    }
    if !batch.is_empty() || !questions.is_empty() {
        store
            .commit(&Commit {
                now,
                synced: batch,
                outbox: questions,
                ..Commit::default()
            })?
            .or_conflict()?;
    }
    Ok(())
}
