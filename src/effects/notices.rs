//! Build-failure notices whose quiet period is over: composed from the
//! builds' records and queued in the outbox (one commit; no external I/O).
//! A notice waits for its builds' explanations ([`crate::effects::explain`]),
//! at most [`EXPLANATION_WAIT`] seconds past its due time.

use super::compose::{self, Mailer};
use crate::model::BuildKey;
use crate::store::{Commit, Store, StoreError};

/// How long past its due time a notice waits for an explanation still
/// being made before it goes without it.
pub const EXPLANATION_WAIT: i64 = 3600;

/// Queues the build-failure notices due at `now`: one mail per recipient
/// for each version, listing every architecture that failed. Returns how
/// many notices were sent.
pub fn queue_due(store: &dyn Store, mailer: &Mailer<'_>, now: i64) -> Result<usize, StoreError> {
    let config = mailer.config;
    let mut sent = 0;
    for notice in store.pending_notices()? {
        if notice.due > now {
            continue;
        }
        let mut records = Vec::new();
        for arch in &notice.arches {
            let key = BuildKey {
                dist: notice.dist.clone(),
                arch: arch.clone(),
                source: notice.source.clone(),
            };
            if let Some(r) = store.build(&key)?.filter(|r| r.version == notice.version) {
                records.push(r);
            }
        }
        if records.iter().any(|r| r.explanation_pending)
            && now < notice.due.saturating_add(EXPLANATION_WAIT)
        {
            continue;
        }
        let mut c = Commit {
            now,
            notice_sent: Some(notice.clone()),
            ..Commit::default()
        };
        let event = store.generate_id()?;
        match compose::build_failure(config, &mailer.templates, &records, event, now) {
            Ok(mails) => {
                for m in mails {
                    let id = store.generate_id()?;
                    c.outbox.push(compose::outbound(m, id, now));
                }
            }
            Err(e) => tracing::error!("build-failure notice for {}: {e}", notice.source),
        }
        if let crate::store::Committed::Stale(why) = store.commit(&c)? {
            // Another host sent it: its mails were not queued again.
            tracing::debug!("build-failure notice for {}: {why}", notice.source);
            continue;
        }
        sent += 1;
    }
    Ok(sent)
}
