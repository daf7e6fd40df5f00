//! What a log mail does to its build: the record and history line after
//! it, from the current record and the transition table.

use crate::config::Builder;
use crate::debian::Status;
use crate::inbound::classify::LogFacts;
use crate::model::state;
use crate::model::state::LogDecision;
use crate::model::{BuildRecord, HistoryEntry, State};

/// Builds the new record and history line for a log, from the current record.
/// Returns the record, the history line, and whether the state moved.
pub fn apply_log(
    current: Option<&BuildRecord>,
    a: &LogFacts,
    message_id: Option<&str>,
    log_id: &str,
    now: i64,
    builders: &[Builder],
    require_signed: bool,
) -> (BuildRecord, HistoryEntry, bool) {
    let decision = match (&a.incomplete, authority(a, builders, require_signed)) {
        // Only a configured builder's report moves a build.
        (_, Err(why)) => LogDecision::Record(format!("log received, state kept: {why}")),
        // A build a builder took is reported by that builder only.
        (_, Ok(())) if taken_by_another(current, a, builders).is_some() => {
            LogDecision::Record(format!(
                "log received, state kept: {}",
                taken_by_another(current, a, builders).unwrap_or_default()
            ))
        }
        // An empty or truncated log never makes a build Built.
        (Some(why), _) if a.status == Status::Successful => LogDecision::Record(format!(
            "log received, state kept: {why}, and only a whole log makes a build Built"
        )),
        _ => state::decide_log(
            current.map(|r| (r.state, r.version.as_str())),
            &a.version,
            a.status,
        ),
    };
    let from = current.map(|r| r.state);
    let same_version = current.is_some_and(|c| c.version == a.version);
    let mut notes = a.notes.clone();
    if let Some(stage) = &a.fail_stage {
        notes.insert(0, format!("fail-stage {stage}"));
    }
    let new_record = |to: State| BuildRecord {
        key: a.key.clone(),
        version: a.version.clone(),
        state: to,
        previous_state: from,
        state_change: now,
        archive: a
            .archive
            .clone()
            .or_else(|| current.and_then(|c| c.archive.clone())),
        last_status: Some(a.status),
        fail_stage: a.fail_stage.clone(),
        builder: a.builder.clone(),
        last_log_message_id: message_id.map(str::to_string),
        last_log: Some(log_id.to_string()),
        // Explained off the critical path (`crate::effects::explain`).
        explanation: None,
        explanation_pending: a.status != Status::Successful,
        build_duration: a.build_needed_secs,
        changes: (a.status == Status::Successful)
            .then(|| a.changes.clone())
            .flatten(),
        notes: a.notes.clone(),
        failed_reason: None,
        depends: None,
        priority: None,
        // An upload asked for this very version stays on record.
        upload: same_version
            .then(|| current.and_then(|c| c.upload.clone()))
            .flatten(),
        upload_log: same_version
            .then(|| current.and_then(|c| c.upload_log.clone()))
            .flatten(),
        pending_job: same_version
            .then(|| current.and_then(|c| c.pending_job))
            .flatten(),
        // What the archive says of the source stays.
        source: current.and_then(|c| c.source.clone()),
        binnmu: same_version
            .then(|| current.and_then(|c| c.binnmu.clone()))
            .flatten(),
        taken_by: same_version
            .then(|| current.and_then(|c| c.taken_by.clone()))
            .flatten(),
        // What kept a success from counting: only then does it matter.
        incomplete_log: a
            .incomplete
            .clone()
            .filter(|_| a.status == Status::Successful),
        // Written over the record as read (none: a new one).
        rev: current.map_or(0, |c| c.rev),
    };
    let (record, moved) = match (&decision, current) {
        (LogDecision::Record(reason), Some(cur)) => {
            notes.push(reason.clone());
            (cur.clone(), false)
        }
        (LogDecision::Create(to) | LogDecision::Move(_, to), _) => (new_record(*to), true),
        // decide_log records only when a record exists: a new build whose
        // first log may not make it Built (a cut-off log) waits to be
        // built, and says why.
        (LogDecision::Record(reason), None) => {
            let why = match &a.incomplete {
                Some(incomplete) => format!(
                    "{incomplete}: a new build, Needs-Build until a whole log makes it Built"
                ),
                None => reason.clone(),
            };
            notes.push(why.clone());
            let mut record = new_record(State::NeedsBuild);
            record.notes.push(why);
            (record, true)
        }
    };
    let history = HistoryEntry {
        time: now,
        from,
        to: Some(record.state),
        version: a.version.clone(),
        event: format!("log:{}", a.status.as_str()),
        message_id: message_id.map(str::to_string),
        signer: None,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        imported: None,
    };
    (record, history, moved)
}

/// Why the log may not report `current`: it is Building at the log's
/// version, taken (`take`) by a builder the log does not come from. Only
/// with `[[builders]]` configured (otherwise no sender has a name).
fn taken_by_another(
    current: Option<&BuildRecord>,
    a: &LogFacts,
    builders: &[Builder],
) -> Option<String> {
    let c = current?;
    let taker = c.taken_by.as_deref()?;
    if builders.is_empty() || c.state != State::Building || c.version != a.version {
        return None;
    }
    let from = a.from.as_deref().unwrap_or("");
    let senders: Vec<&str> = builders
        .iter()
        .filter(|b| b.vouches(from, &a.key.arch, a.builder.as_deref()))
        .map(|b| b.name.as_str())
        .collect();
    (!senders.contains(&taker)).then(|| {
        format!(
            "{taker} took this build; the log comes from {}",
            if senders.is_empty() {
                format!("{from:?}")
            } else {
                senders.join(", ")
            }
        )
    })
}

/// Whether the log mail comes from a builder that may report this build:
/// its From is one of a `[[builders]]` entry's senders, for the build's
/// architecture (and build host, when the entry lists hosts), and — when
/// that builder has keys, or `require_signed` — the mail is PGP/MIME-signed
/// by that builder's key. With no builders configured every sender may (an
/// open farm).
pub fn authority(a: &LogFacts, builders: &[Builder], require_signed: bool) -> Result<(), String> {
    if builders.is_empty() {
        return if require_signed {
            Err("signatures.require_signed_logs is set but no [[builders]] are configured, so no log can be signed by a builder's key".into())
        } else {
            Ok(())
        };
    }
    let from = a.from.as_deref().unwrap_or("");
    let host = a.builder.as_deref();
    let mut unsigned = None;
    for b in builders
        .iter()
        .filter(|b| b.vouches(from, &a.key.arch, host))
    {
        let needs_key = require_signed || !b.keyrings.is_empty();
        if !needs_key || a.signed_by.contains(&b.name) {
            return Ok(());
        }
        unsigned = Some(b.name.as_str());
    }
    if let Some(name) = unsigned {
        return Err(format!(
            "the log mail comes from builder {name}'s address but is not PGP/MIME-signed by its key"
        ));
    }
    Err(format!(
        "{from:?}{} is not a configured builder for {} ([[builders]])",
        host.map(|h| format!(" (build host {h})"))
            .unwrap_or_default(),
        a.key.arch
    ))
}
