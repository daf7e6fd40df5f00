//! The commit transaction: everything one mail changes, in one sled
//! transaction over all the trees it may touch.

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::keys;
use super::pages::{builder_log_key, Indexer};
use super::SledStore;
use super::{
    meta_count, COUNT_HISTORY, COUNT_MAILS, COUNT_UNHANDLED, LAST_QUARANTINE_ID, UNANSWERED,
};
use crate::model::{BuildRecord, ExplainTask, Notice, QuarantineEntry, SignatureUse};
use crate::store::{Commit, Committed, StoreError};

/// Records a commit added to the counted trees ([`crate::store::Stats`]).
#[derive(Default)]
struct Added {
    mails: u64,
    history: u64,
    unhandled: u64,
}

/// Why the commit transaction stopped without writing anything.
enum Stop {
    /// An answer for the caller (duplicate, replay).
    Done(Committed),
    /// A stored record does not decode.
    Corrupt { tree: &'static str, message: String },
}

impl SledStore {
    /// Everything one mail changes, in one sled transaction over every
    /// tree; the dedup and signature replay checks happen inside it.
    pub(super) fn transact(&self, c: &Commit<'_>) -> Result<Committed, StoreError> {
        // More trees than sled's tuple impls take: the slice form.
        let trees: [&sled::Tree; 26] = [
            &self.mails,
            &self.msgids,
            &self.builds,
            &self.history,
            &self.log_index,
            &self.log_msgids,
            &self.quarantine,
            &self.quarantine_raw,
            &self.unhandled,
            &self.signatures,
            &self.jobs,
            &self.outbox,
            &self.outbox_raw,
            &self.replies_sent,
            &self.uploads,
            &self.bounces,
            &self.notices,
            &self.meta,
            &self.explain,
            &self.releases,
            &self.queue,
            &self.by_state,
            &self.counts,
            &self.daily,
            &self.maintainers,
            &self.builder_logs,
        ];
        let result = trees.as_slice().transaction(|t| {
                let [mails, msgids, builds, history, log_index, log_msgids, quarantine, quarantine_raw, unhandled, signatures, jobs, outbox, outbox_raw, replies_sent, uploads, bounces, notices, meta, explain, releases, queue, by_state, counts, daily, maintainers, builder_logs] =
                    t.as_slice()
                else {
                    return Err(ConflictableTransactionError::Abort(Stop::Corrupt {
                        tree: "(transaction)",
                        message: "internal error: wrong number of trees in the transaction".into(),
                    }));
                };
                let enc = |v: &dyn erased::Json| {
                    v.json().map_err(|message| {
                        ConflictableTransactionError::Abort(Stop::Corrupt {
                            tree: "(commit)",
                            message,
                        })
                    })
                };
                let mut quarantine_id = None;
                let mut added = Added::default();
                let mut pages = Indexer::default();
                // Writes `b` over the stored record, one revision on. A
                // `checked` write is refused (the whole commit: Stale)
                // when the stored record is no longer the one `b` was
                // made from (its revision moved on since it was read).
                let mut put_build = |b: &BuildRecord, checked: bool| -> Result<(), ConflictableTransactionError<Stop>> {
                    let key = keys::build(&b.key);
                    let old = builds.get(&key)?;
                    let old_record = match &old {
                        Some(v) => Some(serde_json::from_slice::<BuildRecord>(v).map_err(|_| {
                            ConflictableTransactionError::Abort(Stop::Corrupt {
                                tree: "builds",
                                message: "a build record does not decode".into(),
                            })
                        })?),
                        None => None,
                    };
                    let stored_rev = old_record.as_ref().map_or(0, |o| o.rev);
                    if checked && stored_rev != b.rev {
                        return Err(ConflictableTransactionError::Abort(Stop::Done(
                            Committed::Stale(crate::store::changed_since_read(old_record.as_ref())),
                        )));
                    }
                    let new = BuildRecord {
                        rev: stored_rev + 1,
                        ..b.clone()
                    };
                    builds.insert(key, enc(&new)?)?;
                    index_queue(queue, meta, old_record.as_ref(), &new)?;
                    lift(pages.build(by_state, maintainers, old_record.as_ref(), &new))
                };
                if let Some(sig) = &c.signature {
                    let k = keys::signature(sig);
                    if let Some(prev) = signatures.get(&k)? {
                        let prev: SignatureUse = serde_json::from_slice(&prev).map_err(|_| {
                            ConflictableTransactionError::Abort(Stop::Corrupt {
                                tree: "signatures",
                                message: "a signature record does not decode".into(),
                            })
                        })?;
                        if prev.consumed {
                            return Err(ConflictableTransactionError::Abort(Stop::Done(Committed::Replay(prev))));
                        }
                    }
                    signatures.insert(k, enc(sig)?)?;
                }
                if let Some(m) = &c.mail {
                    let seen = mails.get(m.sha256.as_bytes())?;
                    // A mail taken out of the quarantine replaces its own
                    // dedup record: the entry it leaves is this mail's.
                    let own_entry = match c.released_quarantine {
                        Some(id) => quarantine.get(id.to_be_bytes())?.is_some_and(|v| {
                            serde_json::from_slice::<QuarantineEntry>(&v)
                                .is_ok_and(|q| q.sha256 == m.sha256)
                        }),
                        None => false,
                    };
                    let released = own_entry
                        && seen.as_ref().is_some_and(|v| {
                            serde_json::from_slice::<crate::model::MailRecord>(v)
                                .is_ok_and(|r| r.kind == "quarantined")
                        });
                    if seen.is_some() && !released {
                        return Err(ConflictableTransactionError::Abort(Stop::Done(
                            Committed::Duplicate(format!(
                                "mail with SHA-256 {} was ingested before",
                                m.sha256
                            )),
                        )));
                    }
                    // A Message-ID proves nothing (anyone can copy one): the
                    // first mail that carried it is remembered, for notes.
                    if let Some(mid) = &m.message_id {
                        if msgids.get(mid.as_bytes())?.is_none() {
                            msgids.insert(mid.as_bytes(), m.sha256.as_bytes())?;
                        }
                    }
                    if mails.insert(m.sha256.as_bytes(), enc(m)?)?.is_none() {
                        added.mails += 1;
                    }
                }
                if let Some(b) = &c.build {
                    put_build(b, true)?;
                }
                if let (Some(h), Some(b)) = (&c.history, &c.build) {
                    let mut k = keys::build(&b.key);
                    k.push(0);
                    k.extend_from_slice(&history.generate_id()?.to_be_bytes());
                    history.insert(k, enc(h)?)?;
                    added.history += 1;
                }
                if let Some(r) = &c.log {
                    let mut k = Vec::new();
                    for part in [&r.key.source, &r.version, &r.key.dist, &r.key.arch] {
                        k.extend_from_slice(part.as_bytes());
                        k.push(0);
                    }
                    let seq = log_index.generate_id()?;
                    k.extend_from_slice(&seq.to_be_bytes());
                    log_index.insert(k, enc(r)?)?;
                    if let Some(b) = &r.builder {
                        builder_logs.insert(builder_log_key(b, r.time, seq), enc(r)?)?;
                    }
                }
                if let Some((mid, key)) = &c.log_message_id {
                    // First writer wins: a later mail copying the
                    // Message-ID does not re-point reply threading.
                    if log_msgids.get(mid.as_bytes())?.is_none() {
                        log_msgids.insert(mid.as_bytes(), keys::build(key))?;
                    }
                }
                if let Some(id) = c.released_quarantine {
                    quarantine.remove(&id.to_be_bytes())?;
                    quarantine_raw.remove(&id.to_be_bytes())?;
                }
                if c.unanswered {
                    let n = meta
                        .get(UNANSWERED)?
                        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
                        .map_or(0, u64::from_be_bytes)
                        .saturating_add(1);
                    meta.insert(UNANSWERED, &n.to_be_bytes())?;
                }
                if let Some((q, raw)) = &c.quarantine {
                    // Numbered 1, 2, 3...: ids people type.
                    let id = meta
                        .get(LAST_QUARANTINE_ID)?
                        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
                        .map_or(0, u64::from_be_bytes)
                        .saturating_add(1);
                    meta.insert(LAST_QUARANTINE_ID, &id.to_be_bytes())?;
                    let entry = QuarantineEntry { id, ..q.clone() };
                    quarantine.insert(&id.to_be_bytes(), enc(&entry)?)?;
                    if q.blob.is_none() && q.raw_file.is_none() {
                        quarantine_raw.insert(&id.to_be_bytes(), *raw)?;
                    }
                    quarantine_id = Some(id);
                }
                if let (Some(raw), Some(m)) = (c.unhandled, &c.mail) {
                    if unhandled.insert(m.sha256.as_bytes(), raw)?.is_none() {
                        added.unhandled += 1;
                    }
                }
                for job in &c.jobs {
                    jobs.insert(&job.id.to_be_bytes(), enc(job)?)?;
                }
                if let Some(id) = c.finished_job {
                    jobs.remove(&id.to_be_bytes())?;
                }
                for (mail, bytes) in &c.outbox {
                    outbox.insert(&mail.id.to_be_bytes(), enc(mail)?)?;
                    outbox_raw.insert(&mail.id.to_be_bytes(), bytes.as_slice())?;
                }
                if let Some(addr) = &c.reply_sent {
                    replies_sent.insert(reply_key(addr, c.now, outbox.generate_id()?), &[])?;
                    // Counted under every address too, for the global cap.
                    replies_sent.insert(
                        reply_key(crate::store::ALL_ADDRESSES, c.now, outbox.generate_id()?),
                        &[],
                    )?;
                }
                if let Some((name, key)) = &c.upload_name {
                    uploads.insert(name.as_bytes(), keys::build(key))?;
                }
                if let Some(n) = &c.notice {
                    let k = keys::notice(&n.source, &n.version, &n.dist);
                    let merged = match notices.get(&k)? {
                        Some(v) => {
                            let mut cur: Notice = serde_json::from_slice(&v).map_err(|_| {
                                ConflictableTransactionError::Abort(Stop::Corrupt {
                                    tree: "notices",
                                    message: "a notice record does not decode".into(),
                                })
                            })?;
                            for a in &n.arches {
                                if !cur.sent && !cur.arches.contains(a) {
                                    cur.arches.push(a.clone());
                                }
                            }
                            cur
                        }
                        None => n.clone(),
                    };
                    notices.insert(k, enc(&merged)?)?;
                }
                if let Some(sent) = &c.notice_sent {
                    let k = keys::notice(&sent.source, &sent.version, &sent.dist);
                    if let Some(v) = notices.get(k.as_slice())? {
                        let mut n: Notice = serde_json::from_slice(&v).map_err(|_| {
                            ConflictableTransactionError::Abort(Stop::Corrupt {
                                tree: "notices",
                                message: "a notice record does not decode".into(),
                            })
                        })?;
                        if n.sent {
                            // Another writer sent it meanwhile: its mails
                            // are not queued twice.
                            return Err(ConflictableTransactionError::Abort(Stop::Done(
                                Committed::Stale("the notice was sent meanwhile".into()),
                            )));
                        }
                        n.sent = true;
                        notices.insert(k.as_slice(), enc(&n)?)?;
                    }
                }
                if let Some((key, state, version)) = &c.expect {
                    let now_is = match builds.get(keys::build(key))? {
                        Some(v) => serde_json::from_slice::<BuildRecord>(&v)
                            .map(|b| (b.state == *state && b.version == *version, format!("{} {}", b.version, b.state)))
                            .map_err(|_| {
                                ConflictableTransactionError::Abort(Stop::Corrupt {
                                    tree: "builds",
                                    message: "a build record does not decode".into(),
                                })
                            })?,
                        None => (false, "unknown".to_string()),
                    };
                    if !now_is.0 {
                        return Err(ConflictableTransactionError::Abort(Stop::Done(
                            Committed::Stale(now_is.1),
                        )));
                    }
                }
                for (b, h) in &c.synced {
                    put_build(b, true)?;
                    let mut k = keys::build(&b.key);
                    k.push(0);
                    k.extend_from_slice(&history.generate_id()?.to_be_bytes());
                    history.insert(k, enc(h)?)?;
                    added.history += 1;
                }
                if let Some(r) = &c.release_seen {
                    releases.insert(r.suite.as_bytes(), enc(r)?)?;
                }
                if let Some(task) = &c.explain {
                    explain.insert(keys::build(&task.key), enc(task)?)?;
                }
                for (task, explanation) in &c.explained {
                    let key = keys::build(&task.key);
                    // Only this log's entry leaves the queue: a later
                    // failed log of the build waits for its own turn.
                    let queued = match explain.get(&key)? {
                        Some(v) => Some(serde_json::from_slice::<ExplainTask>(&v).map_err(|_| {
                            ConflictableTransactionError::Abort(Stop::Corrupt {
                                tree: "explain",
                                message: "an explain task does not decode".into(),
                            })
                        })?),
                        None => None,
                    };
                    if queued.is_some_and(|q| q.log == task.log) {
                        explain.remove(key.as_slice())?;
                    }
                    if let Some(v) = builds.get(&key)? {
                        let mut b: BuildRecord = serde_json::from_slice(&v).map_err(|_| {
                            ConflictableTransactionError::Abort(Stop::Corrupt {
                                tree: "builds",
                                message: "a build record does not decode".into(),
                            })
                        })?;
                        if b.explanation_pending && b.last_log.as_deref() == Some(task.log.as_str()) {
                            b.explanation = explanation.clone();
                            b.explanation_pending = false;
                            // Read in this transaction: nobody wrote since.
                            put_build(&b, false)?;
                        }
                    }
                }
                if c.bounce {
                    let mut k = c.now.to_be_bytes().to_vec();
                    k.push(0);
                    k.extend_from_slice(&bounces.generate_id()?.to_be_bytes());
                    bounces.insert(k, &[])?;
                }
                lift(pages.finish(counts, daily, c.now))?;
                for (key, n) in [
                    (COUNT_MAILS, added.mails),
                    (COUNT_HISTORY, added.history),
                    (COUNT_UNHANDLED, added.unhandled),
                ] {
                    if n > 0 {
                        let total = meta_count(meta.get(key)?.as_deref()).saturating_add(n);
                        meta.insert(key, &total.to_be_bytes())?;
                    }
                }
                Ok(quarantine_id)
            },
        );
        match result {
            Ok(quarantine_id) => Ok(Committed::Written { quarantine_id }),
            Err(TransactionError::Abort(Stop::Done(d))) => Ok(d),
            // A record that does not decode is an error, so that the mail is
            // not acknowledged (and lost) as if it had been handled.
            Err(TransactionError::Abort(Stop::Corrupt { tree, message })) => {
                Err(StoreError::Corrupt { tree, message })
            }
            Err(TransactionError::Storage(e)) => Err(StoreError::from(e)),
        }
    }
}

/// An index write's failure as the commit's.
fn lift<T>(
    r: Result<T, ConflictableTransactionError<(&'static str, String)>>,
) -> Result<T, ConflictableTransactionError<Stop>> {
    r.map_err(|e| match e {
        ConflictableTransactionError::Abort((tree, message)) => {
            ConflictableTransactionError::Abort(Stop::Corrupt { tree, message })
        }
        ConflictableTransactionError::Storage(e) => ConflictableTransactionError::Storage(e),
        ConflictableTransactionError::Conflict => ConflictableTransactionError::Conflict,
    })
}

/// Keeps the needs-build index (`queue`) of `b` (written in the same
/// transaction, over the record `old` it replaced): the entry of the old
/// record goes, the one of the new comes (when it is queued).
fn index_queue(
    queue: &sled::transaction::TransactionalTree,
    meta: &sled::transaction::TransactionalTree,
    old: Option<&BuildRecord>,
    b: &BuildRecord,
) -> Result<(), ConflictableTransactionError<Stop>> {
    let was = old.filter(|o| o.in_queue());
    if let Some(old) = was {
        queue.remove(super::queue_key(&old.queue_facts(), &old.key))?;
    }
    // The queue's length ([`crate::store::Store::queue_len`]).
    let len = |key: &crate::model::BuildKey, add: bool| {
        let k = super::queue_len_key_bytes(key.dist.as_bytes(), key.arch.as_bytes());
        let n = meta_count(meta.get(&k)?.as_deref());
        let n = if add {
            n.saturating_add(1)
        } else {
            n.saturating_sub(1)
        };
        meta.insert(k, &n.to_be_bytes()).map(drop)
    };
    match (was, b.in_queue()) {
        (Some(old), false) => len(&old.key, false)?,
        (None, true) => len(&b.key, true)?,
        _ => {}
    }
    if b.in_queue() {
        let facts = b.queue_facts();
        let v = serde_json::to_vec(&facts).map_err(|e| {
            ConflictableTransactionError::Abort(Stop::Corrupt {
                tree: "queue",
                message: e.to_string(),
            })
        })?;
        queue.insert(super::queue_key(&facts, &b.key), v)?;
    }
    Ok(())
}

/// The `replies_sent` key: lower-cased address, time, a unique id.
fn reply_key(address: &str, time: i64, id: u64) -> Vec<u8> {
    let mut k = address.to_ascii_lowercase().into_bytes();
    k.push(0);
    k.extend_from_slice(&time.to_be_bytes());
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// Encoding inside the commit closure through one non-generic helper.
mod erased {
    /// A value that encodes as JSON, or says why it cannot.
    pub(super) trait Json {
        fn json(&self) -> Result<Vec<u8>, String>;
    }

    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> Result<Vec<u8>, String> {
            serde_json::to_vec(self).map_err(|e| format!("cannot encode a record: {e}"))
        }
    }
}
