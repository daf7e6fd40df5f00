//! Delivering the outbox: due mails are claimed in one short step, sent on
//! several connections with the store released, and each outcome is
//! committed before its connection sends another mail (delivered:
//! removed; failed: retried with exponential backoff, parked as dead past
//! `outbox.max_age` or on a permanent refusal; never dropped).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::claim::{self, claim_now};
use super::transport::{SendError, Sender, TransportSpec};
use super::{crash_point, StoreAccess};
use crate::config::{Config, Transport};
use crate::model::{Claim, OutboundMail};
use crate::store::{Store, StoreError};
use crate::time::Clock;

/// How many mails are delivered at once.
const DELIVERY_WORKERS: usize = 8;

/// How many mails one step claims.
const CLAIM_AT_ONCE: usize = 64;

/// What a delivery run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    /// Mails delivered (and removed from the outbox).
    pub delivered: usize,
    /// Mails whose delivery failed (kept: retried later, or parked as
    /// dead).
    pub failed: usize,
    /// Of those, the mails parked as dead (refused permanently, or
    /// undelivered past `outbox.max_age`): not retried until `outbox
    /// retry` revives them.
    pub dead: usize,
}

impl Delivery {
    fn add(&mut self, other: Delivery) {
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.dead += other.dead;
    }
}

/// The transport the configuration names.
pub fn transport_spec(config: &Config) -> TransportSpec {
    match config.outbox.transport {
        Transport::File => TransportSpec::File {
            dir: config.outbox.dir.clone(),
        },
        Transport::Sendmail => TransportSpec::Sendmail {
            command: config.outbox.sendmail.clone(),
            timeout: config.outbox.timeout,
        },
        Transport::Smtp => TransportSpec::Smtp {
            url: config.outbox.smtp_url.clone(),
            timeout: config.outbox.timeout,
        },
    }
}

/// How long after its `attempts`-th failure a mail waits: `retry_after`
/// doubled per earlier failure, at most an hour.
pub fn backoff(retry_after: Duration, attempts: u32) -> i64 {
    let base = i64::try_from(retry_after.as_secs()).unwrap_or(3600).max(1);
    let factor = 1i64 << attempts.min(20);
    base.saturating_mul(factor).min(3600)
}

/// Whether `mail` is to be sent at `now` (all live ones with `force`).
pub fn is_due(mail: &OutboundMail, now: i64, force: bool, lease: i64) -> bool {
    !mail.dead
        && (force || mail.next_attempt <= now)
        && mail
            .claim
            .as_ref()
            .is_none_or(|c| claim::is_stale(c, now, lease))
}

/// Delivers the mails that are due (all live ones with `force`).
pub fn deliver_due(
    access: StoreAccess<'_>,
    config: &Config,
    clock: &dyn Clock,
    force: bool,
) -> Result<Delivery, StoreError> {
    let mut total = Delivery::default();
    // The mails due now, listed once; each is tried once per run, also when
    // `force` makes a failed one due again at once.
    let start = clock.now();
    let lease = claim::lease(config);
    let candidates: Vec<u64> = access.light_step(|s| {
        Ok(s.outbox_mails()?
            .into_iter()
            .filter(|m| is_due(m, start, force, lease))
            .map(|m| m.id)
            .collect())
    })?;
    let mut sender = None;
    for chunk in candidates.chunks(CLAIM_AT_ONCE) {
        let now = clock.now();
        let claim = claim_now(now);
        let batch = access.light_step(|s| claim_due(s, &claim, now, force, lease, chunk))?;
        crash_point("outbox-claimed");
        if batch.is_empty() {
            continue;
        }
        let sender = sender.get_or_insert_with(|| Sender::new(&transport_spec(config)));
        let d = match sender {
            Ok(sender) => send_batch(access, config, clock, sender, &batch)?,
            Err(e) => {
                let failures: Vec<_> = (0..batch.len()).map(|i| (i, Err(e.clone()))).collect();
                access.step(|s| record(s, config, &batch, &failures, clock.now()))?
            }
        };
        total.add(d);
    }
    Ok(total)
}

/// Sends one claimed batch on up to [`DELIVERY_WORKERS`] connections.
/// Each outcome is committed before its connection sends the next mail
/// (the outcomes that arrive together share one commit), so a crash
/// re-sends at most one accepted mail per connection: the one whose
/// acceptance had not been committed yet.
fn send_batch(
    access: StoreAccess<'_>,
    config: &Config,
    clock: &dyn Clock,
    sender: &Sender,
    batch: &[(OutboundMail, Vec<u8>)],
) -> Result<Delivery, StoreError> {
    /// One outcome, and where to say that it is committed.
    type Sent = (usize, Result<(), SendError>, mpsc::SyncSender<bool>);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Sent>();
    std::thread::scope(|scope| {
        for _ in 0..DELIVERY_WORKERS.min(batch.len()) {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((mail, bytes)) = batch.get(i) else {
                    break;
                };
                let r = sender.send(
                    &config.from_address,
                    &mail.to,
                    &format!("{:020}", mail.id),
                    bytes,
                );
                let (ack, committed) = mpsc::sync_channel(1);
                if tx.send((i, r, ack)).is_err() || !committed.recv().unwrap_or(false) {
                    break;
                }
            });
        }
        drop(tx);
        // Owned here: returning early (a record step failed) drops it,
        // so every connection still sending gets an error, not a wait.
        let rx = rx;
        let mut total = Delivery::default();
        // Each round takes what has arrived, commits it, then lets those
        // connections go on.
        while let Ok(first) = rx.recv() {
            let mut sent = vec![first];
            sent.extend(rx.try_iter());
            crash_point("outbox-sent");
            let results: Vec<_> = sent.iter().map(|(i, r, _)| (*i, r.clone())).collect();
            let recorded = access.step(|s| record(s, config, batch, &results, clock.now()));
            let ok = recorded.is_ok();
            for (_, _, ack) in &sent {
                let _ = ack.send(ok);
            }
            total.add(recorded?);
            crash_point("outbox-recorded");
        }
        Ok(total)
    })
}

/// Claims those of `ids` that are still due and reads their bytes (claimed
/// in chunks of [`CLAIM_AT_ONCE`], so a claim's lease runs from shortly
/// before its mail is sent). A mail whose bytes are missing is parked as
/// dead.
fn claim_due(
    s: &dyn Store,
    claim: &Claim,
    now: i64,
    force: bool,
    lease: i64,
    ids: &[u64],
) -> Result<Vec<(OutboundMail, Vec<u8>)>, StoreError> {
    let stale = |c: &Claim| claim::is_stale(c, now, lease);
    let mut out = Vec::new();
    for &id in ids {
        let Some(claimed) = s.claim_outbox(id, claim, &stale)? else {
            continue;
        };
        let mail = claimed.item;
        // Changed since it was listed (delivered by a flush, parked).
        if mail.dead || !(force || mail.next_attempt <= now) {
            s.outbox_release(id)?;
            continue;
        }
        match s.outbox_bytes(id)? {
            Some(bytes) => out.push((mail, bytes)),
            None => {
                tracing::error!("outbox mail {id} has no bytes in the database; parked as dead");
                s.outbox_failed(&mail, "its bytes are missing from the database", now, true)?;
            }
        }
    }
    Ok(out)
}

/// Records delivery outcomes (`results` index into `batch`).
fn record(
    s: &dyn Store,
    config: &Config,
    batch: &[(OutboundMail, Vec<u8>)],
    results: &[(usize, Result<(), SendError>)],
    now: i64,
) -> Result<Delivery, StoreError> {
    let mut d = Delivery::default();
    for (i, r) in results {
        let Some((mail, _)) = batch.get(*i) else {
            continue;
        };
        match r {
            Ok(()) => {
                s.outbox_delivered(mail.id)?;
                // A forward keeps the original's Subject, not recorded
                // here: no empty `: ` then.
                tracing::info!(
                    "sent mail {} ({}) to {}{}",
                    mail.id,
                    mail.kind,
                    mail.to.join(", "),
                    if mail.subject.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", mail.subject)
                    }
                );
                d.delivered += 1;
            }
            Err(e) => {
                if record_failure(s, config, mail, e, now)? {
                    d.dead += 1;
                }
                d.failed += 1;
            }
        }
    }
    Ok(d)
}

/// Records a failed delivery; `true` when the mail is parked as dead.
fn record_failure(
    s: &dyn Store,
    config: &Config,
    mail: &OutboundMail,
    e: &SendError,
    now: i64,
) -> Result<bool, StoreError> {
    let max_age = i64::try_from(config.outbox.max_age.as_secs()).unwrap_or(i64::MAX);
    let dead = e.permanent || now.saturating_sub(mail.queued) >= max_age;
    let next = now.saturating_add(backoff(config.outbox.retry_after, mail.attempts));
    if !dead {
        tracing::warn!(
            "mail {} to {} not delivered, retried later: {e}",
            mail.id,
            mail.to.join(", ")
        );
    } else {
        tracing::error!(
            "outbox mail {} to {} parked as dead: {e} (see `buildmail outbox list`)",
            mail.id,
            mail.to.join(", ")
        );
    }
    s.outbox_failed(mail, &e.message, next, dead)?;
    Ok(dead)
}
