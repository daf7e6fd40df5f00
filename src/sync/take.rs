//! The builders' and admins' operations on the queue: `queue`, `take`,
//! `binnmu`.

use crate::config::ArchiveConfig;
use crate::debian::version;
use crate::decide::queue::handed_out;
use crate::model::BuildRecord;
use crate::store::{Commit, Store, StoreError};

/// The queue of `suite`/`arch` as `archive` orders it, the builds it
/// hands out only ([`crate::decide::queue`]).
pub fn queue(
    store: &dyn Store,
    archive: &ArchiveConfig,
    suite: &str,
    arch: &str,
) -> Result<Vec<BuildRecord>, StoreError> {
    Ok(crate::decide::queue::order(
        &archive.order,
        archive.followed(),
        store.queued(suite, arch)?,
    ))
}

/// Why `take` handed out nothing.
#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    /// The queue is empty.
    #[error("nothing to build: the needs-build queue of {suite}/{arch} is empty")]
    Empty {
        /// The suite.
        suite: String,
        /// The architecture.
        arch: String,
    },
    /// The named source is not in the queue.
    #[error("{source_name} is not in the queue of {suite}/{arch}: {why}")]
    NotQueued {
        /// The source asked for.
        source_name: String,
        /// The suite.
        suite: String,
        /// The architecture.
        arch: String,
        /// Its state, or that it is unknown.
        why: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Hands the top of the queue (or `source`) to `builder`: Needs-Build →
/// Building in one compare-and-set commit, so two builders never take the
/// same build (the loser takes the next one, or is told the named source
/// went). A farm that follows an archive hands out no build known from
/// mail only ([`crate::decide::queue::handed_out`]).
pub fn take(
    store: &dyn Store,
    archive: &ArchiveConfig,
    suite: &str,
    arch: &str,
    builder: &str,
    source: Option<&str>,
    now: i64,
) -> Result<BuildRecord, TakeError> {
    let key = |name: &str| crate::model::BuildKey {
        dist: suite.into(),
        arch: arch.into(),
        source: name.into(),
    };
    let followed = archive.followed();
    // Each turn another builder took the candidate first, or it changed
    // since the index was read; the index is kept in the same commits as
    // the records, so this ends unless they disagree.
    'turn: for _ in 0..1000 {
        let candidate = match source {
            Some(name) => match store.build(&key(name))? {
                Some(r) if r.in_queue() && handed_out(r.mail_only(), followed) => r,
                other => {
                    let why = match other {
                        Some(r) if r.in_queue() => crate::decide::queue::why_not_handed_out(&r),
                        Some(r) if r.state == crate::model::State::NeedsBuild => format!(
                            "it is {} ({}) but not in the queue (its source left the archive, or an admin is asked whether to build it)",
                            r.state, r.version
                        ),
                        Some(r) => format!("it is {} ({})", r.state, r.version),
                        None => "no such build".to_string(),
                    };
                    return Err(TakeError::NotQueued {
                        source_name: name.into(),
                        suite: suite.into(),
                        arch: arch.into(),
                        why,
                    });
                }
            },
            // The top of the queue from the index alone (what places each
            // build; builds known from mail only are groups of their own),
            // then that one record.
            None => {
                let mut heads = store.queue_heads(suite, arch)?;
                heads.retain(|h| handed_out(h.mail_only, followed));
                heads.sort_by(|a, b| crate::decide::queue::compare_facts(&archive.order, a, b));
                let mut found = None;
                for head in heads {
                    match store.build(&key(&head.source))? {
                        Some(r) if r.in_queue() && handed_out(r.mail_only(), followed) => {
                            found = Some(r);
                            break;
                        }
                        // Indexed by an earlier release, before builds known
                        // from mail only were apart: the next group.
                        Some(r) if r.in_queue() => {}
                        // Changed since the index was read: look again.
                        _ => continue 'turn,
                    }
                }
                found.ok_or_else(|| TakeError::Empty {
                    suite: suite.into(),
                    arch: arch.into(),
                })?
            }
        };
        let Some(to) = crate::model::state::decide_sync(
            candidate.state,
            crate::model::state::SyncEvent::Taken,
        ) else {
            continue;
        };
        let mut record = candidate.clone();
        record.state = to;
        record.previous_state = Some(candidate.state);
        record.state_change = now;
        record.taken_by = Some(builder.to_string());
        let history = crate::model::HistoryEntry {
            time: now,
            from: Some(candidate.state),
            to: Some(to),
            version: record.version.clone(),
            event: "sync:taken".into(),
            message_id: None,
            signer: None,
            note: Some(format!("taken by {builder}")),
            imported: None,
        };
        let c = Commit {
            now,
            expect: Some((
                candidate.key.clone(),
                candidate.state,
                candidate.version.clone(),
            )),
            synced: vec![(record.clone(), history)],
            ..Commit::default()
        };
        match store.commit(&c)? {
            crate::store::Committed::Stale(_) => continue,
            _ => return Ok(record),
        }
    }
    Err(TakeError::Store(StoreError::Corrupt {
        tree: "queue",
        message: format!(
            "the needs-build index of {suite}/{arch} does not agree with the builds; run `buildmail fsck`"
        ),
    }))
}

/// Schedules a binary-only rebuild of `src` `version` on `suite`/`arch`:
/// an Installed build becomes Needs-Build as `<version>+b<N>`, N one more
/// than the highest binNMU of that version the farm or the archive knows.
/// `Err` says why not, in words.
pub fn binnmu(
    store: &dyn Store,
    key: &crate::model::BuildKey,
    version: &str,
    message: &str,
    now: i64,
) -> Result<BuildRecord, String> {
    // Another writer changed the build between the read and the commit
    // (a log or a reply beside it): read and decide again.
    let mut changed = String::new();
    for _ in 0..crate::store::RETRIES {
        match binnmu_once(store, key, version, message, now)? {
            Ok(n) => return Ok(n),
            Err(now_is) => changed = now_is,
        }
    }
    Err(format!(
        "{key} changed meanwhile (now {changed}); try again"
    ))
}

/// One try of [`binnmu`]: `Ok(Err)` says what the build is now when it
/// changed since it was read.
fn binnmu_once(
    store: &dyn Store,
    key: &crate::model::BuildKey,
    version: &str,
    message: &str,
    now: i64,
) -> Result<Result<BuildRecord, String>, String> {
    use crate::model::state::{decide_command, CommandKind, Target};
    let message = message.trim();
    if message.is_empty() || message.contains('\n') {
        return Err("the changelog message must be one line of text (--message)".into());
    }
    let r = store
        .build(key)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no build {key} is known"))?;
    let (base, current) = version::split_binnmu(&r.version);
    if base != version {
        return Err(format!(
            "{key} is at version {} (source version {base}), not {version}",
            r.version
        ));
    }
    let to = match decide_command(r.state, CommandKind::BinNmu) {
        Ok(Target::To(to)) => to,
        Ok(_) => return Err("binnmu has no target state".into()),
        Err(why) => return Err(why),
    };
    let archive = r.source.as_ref().and_then(|s| s.archive_binnmu);
    let number = current.max(archive).unwrap_or(0) + 1;
    let new_version = format!("{base}+b{number}");
    let mut n = r.clone();
    n.version = new_version.clone();
    n.previous_state = Some(r.state);
    n.state = to;
    n.state_change = now;
    n.builder = None;
    n.binnmu = Some(crate::model::BinNmu {
        number,
        message: message.to_string(),
        scheduled: Some(now),
    });
    n.last_status = None;
    n.fail_stage = None;
    n.explanation = None;
    n.explanation_pending = false;
    n.changes = None;
    n.upload = None;
    n.upload_log = None;
    let h = crate::model::HistoryEntry {
        time: now,
        from: Some(r.state),
        to: Some(to),
        version: new_version,
        event: "cmd:binnmu".into(),
        message_id: None,
        signer: None,
        note: Some(format!("binNMU {number} of {base}: {message}")),
        imported: None,
    };
    let c = Commit {
        now,
        expect: Some((r.key.clone(), r.state, r.version.clone())),
        synced: vec![(n.clone(), h)],
        ..Commit::default()
    };
    match store.commit(&c).map_err(|e| e.to_string())? {
        crate::store::Committed::Stale(now_is) => Ok(Err(now_is)),
        _ => Ok(Ok(n)),
    }
}
