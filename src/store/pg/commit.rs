//! The commit transaction: everything one mail changes, in one
//! PostgreSQL transaction; the checks that make two hosts' commits safe
//! (dedup and replay by primary key, each build's revision under a row
//! lock, `Commit::expect`) happen inside it.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use postgres::error::SqlState;
use postgres::types::Json;

use super::{build_row, dec, engine, t, PgStore, Tx};
use crate::debian::people::people;
use crate::model::state::State;
use crate::model::{BuildKey, BuildRecord, ExplainTask, Notice, QuarantineEntry, SignatureUse};
use crate::store::{Below, Commit, Committed, Counter, StoreError};

/// Why the commit stopped before COMMIT.
enum Fail {
    /// PostgreSQL said no (a deadlock or serialization failure is retried).
    Pg(postgres::Error),
    /// A stored value does not decode, or similar.
    Store(StoreError),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Fail {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Fail {
        Fail::Store(e)
    }
}

/// What the writes end with: written (the quarantine id, if any), or an
/// answer that writes nothing (duplicate, replay, stale).
type Step<T> = Result<Result<T, Committed>, Fail>;

/// How often a commit that lost a deadlock or serialization conflict to
/// another host's is tried again.
const RETRIES: u32 = 20;

fn retryable(e: &postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

/// The change of each state's count per suite and architecture.
type Deltas = BTreeMap<(String, String), BTreeMap<&'static str, i64>>;

impl PgStore {
    /// Everything one mail changes, in one transaction.
    pub(super) fn transact(&self, c: &Commit<'_>) -> Result<Committed, StoreError> {
        let mut conn = self.conn()?;
        let mut attempt = 0;
        let deferred = self.deferred.load(Ordering::SeqCst);
        loop {
            let mut tx = conn.transaction().map_err(engine)?;
            if deferred {
                // Durable at the next flush (`Store::defer_durability`).
                tx.raw()
                    .batch_execute("SET LOCAL synchronous_commit TO off")
                    .map_err(engine)?;
            }
            let failed = match write(&mut tx, c) {
                Ok(Err(answer)) => return Ok(answer),
                Ok(Ok(quarantine_id)) => match tx.commit() {
                    Ok(()) => {
                        if deferred {
                            self.dirty.store(true, Ordering::SeqCst);
                        }
                        return Ok(Committed::Written { quarantine_id });
                    }
                    Err(e) => e,
                },
                Err(Fail::Store(e)) => return Err(e),
                Err(Fail::Pg(e)) => e,
            };
            if !retryable(&failed) || attempt >= RETRIES {
                return Err(engine(failed));
            }
            attempt += 1;
            std::thread::sleep(std::time::Duration::from_millis(2 * u64::from(attempt)));
        }
    }
}

/// The writes of one commit, in `tx`.
fn write(tx: &mut Tx<'_>, c: &Commit<'_>) -> Step<Option<u64>> {
    let mut deltas = Deltas::new();
    if let Some((key, state, version)) = &c.expect {
        let row = tx.query_opt(
            "SELECT state, version FROM builds WHERE source = $1 AND dist = $2 AND arch = $3 FOR UPDATE",
            &[&key.source, &key.dist, &key.arch],
        )?;
        let now_is = row.map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)));
        match now_is {
            Some((s, v)) if s == state.as_str() && v == *version => {}
            Some((s, v)) => return Ok(Err(Committed::Stale(format!("{v} {s}")))),
            None => return Ok(Err(Committed::Stale("unknown".into()))),
        }
    }
    if let Err(stale) = counted(tx, &c.below)? {
        return Ok(Err(stale));
    }
    // The mail's dedup record first: the same mail committed by two hosts
    // at once is a duplicate for the second (its insert waits for the
    // first's transaction), whatever signature it carries.
    if let Some(m) = &c.mail {
        let (id, mid, kind, outcome) = (
            t(&m.sha256),
            m.message_id.as_deref().map(t),
            t(&m.kind),
            t(&m.outcome),
        );
        let record = Json(m);
        let row: [&(dyn postgres::types::ToSql + Sync); 6] =
            [&id, &mid, &m.received, &kind, &outcome, &record];
        let inserted = tx.execute(
            "INSERT INTO mails (id, message_id, received, kind, outcome, record)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            &row,
        )?;
        if inserted == 0 {
            // A mail taken out of the quarantine replaces its own dedup
            // record: the entry it leaves is this mail's.
            let own_entry = match c.released_quarantine {
                Some(id) => tx
                    .query_opt(
                        "SELECT 1 FROM quarantine WHERE id = $1 AND sha256 = $2",
                        &[&(id as i64), &t(&m.sha256)],
                    )?
                    .is_some(),
                None => false,
            };
            let released = own_entry
                && tx
                    .query_opt(
                        "SELECT 1 FROM mails WHERE id = $1 AND kind = 'quarantined' FOR UPDATE",
                        &[&t(&m.sha256)],
                    )?
                    .is_some();
            if !released {
                return Ok(Err(Committed::Duplicate(format!(
                    "mail with SHA-256 {} was ingested before",
                    m.sha256
                ))));
            }
            tx.execute(
                "UPDATE mails SET message_id = $2, received = $3, kind = $4, outcome = $5, record = $6
                 WHERE id = $1",
                &row,
            )?;
        }
        // A Message-ID proves nothing (anyone can copy one): the first
        // mail that carried it is remembered, for notes.
        if let Some(mid) = &m.message_id {
            tx.execute(
                "INSERT INTO msgids (message_id, mail) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&t(mid), &t(&m.sha256)],
            )?;
        }
    }
    if let Some(sig) = &c.signature {
        if let Err(replay) = use_signature(tx, sig)? {
            return Ok(Err(replay));
        }
    }
    if let Some(b) = &c.build {
        if let Err(stale) = put_build(tx, b, &mut deltas)? {
            return Ok(Err(stale));
        }
        if let Some(h) = &c.history {
            add_history(tx, &b.key, h)?;
        }
    }
    if let Some(r) = &c.log {
        tx.execute(
            "INSERT INTO logs (id, source, version, dist, arch, time, builder, record)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &t(&r.id),
                &r.key.source,
                &t(&r.version),
                &r.key.dist,
                &r.key.arch,
                &r.time,
                &r.builder.as_deref().map(t),
                &Json(r),
            ],
        )?;
    }
    if let Some((mid, key)) = &c.log_message_id {
        // First writer wins: a later mail copying the Message-ID does not
        // re-point reply threading.
        tx.execute(
            "INSERT INTO log_msgids (message_id, source, dist, arch) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&t(mid), &key.source, &key.dist, &key.arch],
        )?;
    }
    if let Some(id) = c.released_quarantine {
        tx.execute("DELETE FROM quarantine WHERE id = $1", &[&(id as i64)])?;
    }
    if c.unanswered {
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ('unanswered', 1)
             ON CONFLICT (name) DO UPDATE SET value = meta.value + 1",
            &[],
        )?;
    }
    let mut quarantine_id = None;
    if let Some((q, raw)) = &c.quarantine {
        // Numbered 1, 2, 3...: ids people type.
        let id: i64 = tx
            .query_one("SELECT nextval('quarantine_ids')", &[])?
            .get(0);
        let entry = QuarantineEntry {
            id: id as u64,
            ..q.clone()
        };
        let raw: Option<&[u8]> = if q.blob.is_none() && q.raw_file.is_none() {
            Some(raw)
        } else {
            None
        };
        tx.execute(
            "INSERT INTO quarantine (id, time, reason, sha256, entry, raw) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&id, &entry.time, &t(&entry.reason), &t(&entry.sha256), &Json(&entry), &raw],
        )?;
        quarantine_id = Some(id as u64);
    }
    if let (Some(raw), Some(m)) = (c.unhandled, &c.mail) {
        tx.execute(
            "INSERT INTO unhandled (id, raw) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET raw = EXCLUDED.raw",
            &[&t(&m.sha256), &raw],
        )?;
    }
    for job in &c.jobs {
        tx.execute(
            "INSERT INTO jobs (id, source, dist, arch, kind, record) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, kind = EXCLUDED.kind",
            &[
                &(job.id as i64),
                &job.key.source,
                &job.key.dist,
                &job.key.arch,
                &job.kind.name(),
                &Json(job),
            ],
        )?;
    }
    if let Some(id) = c.finished_job {
        tx.execute("DELETE FROM jobs WHERE id = $1", &[&(id as i64)])?;
    }
    for (mail, bytes) in &c.outbox {
        tx.execute(
            "INSERT INTO outbox (id, kind, next_attempt, dead, record, raw) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, next_attempt = EXCLUDED.next_attempt,
                 dead = EXCLUDED.dead, record = EXCLUDED.record, raw = EXCLUDED.raw",
            &[
                &(mail.id as i64),
                &t(&mail.kind),
                &mail.next_attempt,
                &mail.dead,
                &Json(mail),
                bytes,
            ],
        )?;
    }
    if let Some(addr) = &c.reply_sent {
        // Counted under every address too, for the global cap.
        for a in [
            addr.to_ascii_lowercase().as_str(),
            crate::store::ALL_ADDRESSES,
        ] {
            tx.execute(
                "INSERT INTO replies_sent (address, time) VALUES ($1, $2)",
                &[&t(a), &c.now],
            )?;
        }
    }
    if let Some((name, key)) = &c.upload_name {
        tx.execute(
            "INSERT INTO uploads (changes_name, source, dist, arch) VALUES ($1, $2, $3, $4)
             ON CONFLICT (changes_name) DO UPDATE
             SET source = EXCLUDED.source, dist = EXCLUDED.dist, arch = EXCLUDED.arch",
            &[&t(name), &key.source, &key.dist, &key.arch],
        )?;
    }
    if let Some(n) = &c.notice {
        add_notice(tx, n)?;
    }
    if let Some(n) = &c.notice_sent {
        if let Err(stale) = notice_sent(tx, n)? {
            return Ok(Err(stale));
        }
    }
    for (b, h) in &c.synced {
        if let Err(stale) = put_build(tx, b, &mut deltas)? {
            return Ok(Err(stale));
        }
        add_history(tx, &b.key, h)?;
    }
    if let Some(r) = &c.release_seen {
        tx.execute(
            "INSERT INTO releases (suite, date, sha256, synced, record) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (suite) DO UPDATE SET date = EXCLUDED.date, sha256 = EXCLUDED.sha256,
                 synced = EXCLUDED.synced, record = EXCLUDED.record",
            &[&r.suite, &r.date, &r.sha256, &r.synced, &Json(r)],
        )?;
    }
    if let Some(task) = &c.explain {
        tx.execute(
            "INSERT INTO explain (source, dist, arch, log, task) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (source, dist, arch) DO UPDATE SET log = EXCLUDED.log, task = EXCLUDED.task",
            &[
                &task.key.source,
                &task.key.dist,
                &task.key.arch,
                &t(&task.log),
                &Json(task),
            ],
        )?;
    }
    for (task, explanation) in &c.explained {
        if let Err(stale) = explained(tx, task, explanation.as_ref(), &mut deltas)? {
            return Ok(Err(stale));
        }
    }
    if c.bounce {
        tx.execute("INSERT INTO bounces (time) VALUES ($1)", &[&c.now])?;
    }
    finish_counts(tx, deltas, c.now)?;
    Ok(Ok(quarantine_id))
}

/// Records a signature's use: refused ([`Committed::Replay`]) when a use
/// that spent it is on record. Two hosts at once: the second insert
/// waits for the first's transaction and then finds its row.
fn use_signature(tx: &mut Tx<'_>, sig: &SignatureUse) -> Step<()> {
    // The key ($1–$3), then what is kept of the use ($4–$6).
    let json = Json(sig);
    let row: [&(dyn postgres::types::ToSql + Sync); 6] = [
        &t(&sig.fingerprint),
        &sig.created,
        &t(&sig.signed_sha256),
        &sig.first_seen,
        &sig.consumed,
        &json,
    ];
    let inserted = tx.execute(
        "INSERT INTO signatures (fingerprint, created, signed_sha256, first_seen, consumed, record)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        &row,
    )?;
    if inserted == 1 {
        return Ok(Ok(()));
    }
    let found = tx.query_one(
        "SELECT record FROM signatures
         WHERE fingerprint = $1 AND created = $2 AND signed_sha256 = $3 FOR UPDATE",
        &row[..3],
    )?;
    let prev: SignatureUse = dec("signatures", &found, 0)?;
    if prev.consumed {
        return Ok(Err(Committed::Replay(prev)));
    }
    tx.execute(
        "UPDATE signatures SET first_seen = $4, consumed = $5, record = $6
         WHERE fingerprint = $1 AND created = $2 AND signed_sha256 = $3",
        &row,
    )?;
    Ok(Ok(()))
}

/// What a build is now, in words (for [`Committed::Stale`]).
fn now_is(tx: &mut Tx<'_>, key: &BuildKey) -> Result<String, Fail> {
    let row = tx.query_opt(
        "SELECT record, rev FROM builds WHERE source = $1 AND dist = $2 AND arch = $3",
        &[&key.source, &key.dist, &key.arch],
    )?;
    let now = row.map(|r| build_row(&r, 0)).transpose()?;
    Ok(crate::store::changed_since_read(now.as_ref()))
}

/// Writes `b` while the stored record's revision is `b.rev` (no record:
/// 0), storing it with the next; keeps the queue, the counts and the
/// maintainers' index.
fn put_build(tx: &mut Tx<'_>, b: &BuildRecord, deltas: &mut Deltas) -> Step<()> {
    let k = &b.key;
    let old = tx
        .query_opt(
            "SELECT record, rev FROM builds WHERE source = $1 AND dist = $2 AND arch = $3 FOR UPDATE",
            &[&k.source, &k.dist, &k.arch],
        )?
        .map(|r| build_row(&r, 0))
        .transpose()?;
    let stored_rev = old.as_ref().map_or(0, |o| o.rev);
    if stored_rev != b.rev {
        return Ok(Err(Committed::Stale(now_is(tx, k)?)));
    }
    let new = BuildRecord {
        rev: b.rev + 1,
        ..b.clone()
    };
    let params: [&(dyn postgres::types::ToSql + Sync); 8] = [
        &k.source,
        &k.dist,
        &k.arch,
        &t(&new.version).into_owned(),
        &new.state.as_str(),
        &new.state_change,
        &(new.rev as i64),
        &Json(&new),
    ];
    let written = match &old {
        None => tx.execute(
            "INSERT INTO builds (source, dist, arch, version, state, state_change, rev, record)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            &params,
        )?,
        Some(_) => tx.execute(
            "UPDATE builds SET version = $4, state = $5, state_change = $6, rev = $7, record = $8
             WHERE source = $1 AND dist = $2 AND arch = $3",
            &params,
        )?,
    };
    if written == 0 {
        // Another host created it meanwhile.
        return Ok(Err(Committed::Stale(now_is(tx, k)?)));
    }
    // The needs-build queue.
    if old.as_ref().is_some_and(BuildRecord::in_queue) {
        tx.execute(
            "DELETE FROM queue WHERE dist = $1 AND arch = $2 AND source = $3",
            &[&k.dist, &k.arch, &k.source],
        )?;
    }
    if new.in_queue() {
        let f = new.queue_facts();
        tx.execute(
            "INSERT INTO queue (dist, arch, source, grp, admin_priority, built_before, priority, section, facts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &k.dist,
                &k.arch,
                &k.source,
                &crate::store::queue_group::queue_group(&f),
                &f.admin_priority,
                &f.built_before,
                &f.priority.as_deref().map(t),
                &f.section.as_deref().map(t),
                &Json(&f),
            ],
        )?;
    }
    // The counts per state.
    if old.as_ref().is_none_or(|o| o.state != new.state) {
        let pair = deltas.entry((k.dist.clone(), k.arch.clone())).or_default();
        if let Some(o) = &old {
            *pair.entry(o.state.as_str()).or_default() -= 1;
        }
        *pair.entry(new.state.as_str()).or_default() += 1;
    }
    // The maintainers' index.
    let people_of = |r: &BuildRecord| {
        let s = r.source.as_ref();
        (
            s.and_then(|s| s.maintainer.clone()),
            s.and_then(|s| s.uploaders.clone()),
        )
    };
    let fresh = people_of(&new);
    if old.as_ref().is_none_or(|o| people_of(o) != fresh) {
        tx.execute(
            "DELETE FROM maintainers WHERE source = $1 AND dist = $2 AND arch = $3",
            &[&k.source, &k.dist, &k.arch],
        )?;
        for (field, role) in [(&fresh.0, "maintainer"), (&fresh.1, "uploader")] {
            for p in people(field.as_deref().unwrap_or("")) {
                // The first role an address has wins (as in sled).
                tx.execute(
                    "INSERT INTO maintainers (address, source, dist, arch, name, role)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    &[
                        &t(&p.address),
                        &k.source,
                        &k.dist,
                        &k.arch,
                        &t(&p.name),
                        &role,
                    ],
                )?;
            }
        }
    }
    Ok(Ok(()))
}

/// A history line of `key`.
fn add_history(
    tx: &mut Tx<'_>,
    key: &BuildKey,
    h: &crate::model::HistoryEntry,
) -> Result<(), Fail> {
    tx.execute(
        "INSERT INTO history (source, dist, arch, time, from_state, to_state, version, event, entry)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &key.source,
            &key.dist,
            &key.arch,
            &h.time,
            &h.from.map(State::as_str),
            &h.to.map(State::as_str),
            &t(&h.version),
            &t(&h.event),
            &Json(h),
        ],
    )?;
    Ok(())
}

/// Adds a failed arch to its version's notice (created when there is
/// none; a sent one takes no more).
fn add_notice(tx: &mut Tx<'_>, n: &Notice) -> Result<(), Fail> {
    let key: [&(dyn postgres::types::ToSql + Sync); 3] = [&t(&n.source), &t(&n.version), &n.dist];
    let inserted = tx.execute(
        "INSERT INTO notices (source, version, dist, due, sent, record) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT DO NOTHING",
        &[key[0], key[1], key[2], &n.due, &n.sent, &Json(n)],
    )?;
    if inserted == 1 {
        return Ok(());
    }
    let row = tx.query_one(
        "SELECT record FROM notices WHERE source = $1 AND version = $2 AND dist = $3 FOR UPDATE",
        &key,
    )?;
    let mut cur: Notice = dec("notices", &row, 0)?;
    for a in &n.arches {
        if !cur.sent && !cur.arches.contains(a) {
            cur.arches.push(a.clone());
        }
    }
    tx.execute(
        "UPDATE notices SET record = $4 WHERE source = $1 AND version = $2 AND dist = $3",
        &[key[0], key[1], key[2], &Json(&cur)],
    )?;
    Ok(())
}

/// Marks notice `sent` sent; [`Committed::Stale`] when another writer
/// marked it meanwhile (its mails are not queued twice).
fn notice_sent(tx: &mut Tx<'_>, sent: &Notice) -> Step<()> {
    let key: [&(dyn postgres::types::ToSql + Sync); 3] =
        [&t(&sent.source), &t(&sent.version), &sent.dist];
    let Some(row) = tx.query_opt(
        "SELECT record FROM notices WHERE source = $1 AND version = $2 AND dist = $3 FOR UPDATE",
        &key,
    )?
    else {
        return Ok(Ok(()));
    };
    let mut n: Notice = dec("notices", &row, 0)?;
    if n.sent {
        return Ok(Err(Committed::Stale(
            "the notice was sent meanwhile".into(),
        )));
    }
    n.sent = true;
    tx.execute(
        "UPDATE notices SET sent = true, record = $4 WHERE source = $1 AND version = $2 AND dist = $3",
        &[key[0], key[1], key[2], &Json(&n)],
    )?;
    Ok(Ok(()))
}

/// An explanation made: it leaves the queue (only this log's entry), and
/// fills in its build's record while the record still waits for it.
fn explained(
    tx: &mut Tx<'_>,
    task: &ExplainTask,
    explanation: Option<&crate::model::Explanation>,
    deltas: &mut Deltas,
) -> Step<()> {
    let k = &task.key;
    tx.execute(
        "DELETE FROM explain WHERE source = $1 AND dist = $2 AND arch = $3 AND log = $4",
        &[&k.source, &k.dist, &k.arch, &t(&task.log)],
    )?;
    let Some(row) = tx.query_opt(
        "SELECT record, rev FROM builds WHERE source = $1 AND dist = $2 AND arch = $3 FOR UPDATE",
        &[&k.source, &k.dist, &k.arch],
    )?
    else {
        return Ok(Ok(()));
    };
    let mut b = build_row(&row, 0)?;
    if b.explanation_pending && b.last_log.as_deref() == Some(task.log.as_str()) {
        b.explanation = explanation.cloned();
        b.explanation_pending = false;
        return put_build(tx, &b, deltas);
    }
    Ok(Ok(()))
}

/// Writes the counts that changed, and the day's row of each suite and
/// architecture. Every writer of a suite and architecture's counts holds
/// its lock (a transaction advisory lock) until its COMMIT, so the
/// statement after it reads counts no other writer is changing: the new
/// counts and the day's row are made from them in that one statement,
/// and the day's row ends as the counts are. The locks are taken in key
/// order (two writers wait for each other, never in a circle).
fn finish_counts(tx: &mut Tx<'_>, deltas: Deltas, now: i64) -> Result<(), Fail> {
    let day = now.div_euclid(86_400);
    for ((dist, arch), delta) in deltas {
        let (states, changes): (Vec<&str>, Vec<i64>) =
            delta.into_iter().filter(|(_, d)| *d != 0).unzip();
        if states.is_empty() {
            continue;
        }
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&format!("buildmail:counts:{dist}/{arch}")],
        )?;
        tx.execute(
            "WITH delta AS (
                 SELECT state COLLATE \"C\" AS state, n FROM unnest($4::text[], $5::bigint[]) AS d(state, n)
             ), now_is AS (
                 SELECT state, sum(n)::bigint AS n FROM (
                     SELECT state, n FROM counts WHERE dist = $1 AND arch = $2
                     UNION ALL SELECT state, n FROM delta
                 ) AS old_and_new GROUP BY state
             ), written AS (
                 INSERT INTO counts (dist, arch, state, n)
                 SELECT $1, $2, state, n FROM now_is
                 WHERE n > 0 AND state IN (SELECT state FROM delta)
                 ON CONFLICT (dist, arch, state) DO UPDATE SET n = EXCLUDED.n
             ), emptied AS (
                 DELETE FROM counts c USING now_is
                 WHERE c.dist = $1 AND c.arch = $2 AND c.state = now_is.state AND now_is.n <= 0
             )
             INSERT INTO daily (dist, arch, day, counts)
             SELECT $1, $2, $3, coalesce(json_object_agg(state, n ORDER BY state), '{}'::json)
             FROM now_is WHERE n > 0
             ON CONFLICT (dist, arch, day) DO UPDATE SET counts = EXCLUDED.counts",
            &[&dist, &arch, &day, &states, &changes],
        )?;
    }
    Ok(())
}

/// The name of a counter's lock (a transaction advisory lock).
fn lock_name(counter: &Counter) -> String {
    match counter {
        Counter::Replies(address) => format!("buildmail:replies:{}", address.to_ascii_lowercase()),
        Counter::Bounces => "buildmail:bounces".into(),
    }
}

/// Checks that each count in `below` is still under its limit, holding
/// each counter's lock until COMMIT (taken in name order), so that two
/// writers relying on one count are written one after the other, the
/// second counting the first's row: [`Committed::Stale`] when one reached
/// its limit meanwhile.
fn counted(tx: &mut Tx<'_>, below: &[Below]) -> Step<()> {
    let names: std::collections::BTreeSet<String> =
        below.iter().map(|b| lock_name(&b.counter)).collect();
    for name in &names {
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&t(name)])?;
    }
    for b in below {
        let n: i64 = match &b.counter {
            Counter::Replies(address) => tx
                .query_one(
                    "SELECT count(*) FROM replies_sent WHERE address = $1 AND time >= $2",
                    &[&t(&address.to_ascii_lowercase()), &b.since],
                )?
                .get(0),
            Counter::Bounces => tx
                .query_one("SELECT count(*) FROM bounces WHERE time >= $1", &[&b.since])?
                .get(0),
        };
        if n.max(0) as usize >= b.limit {
            return Ok(Err(Committed::Stale(b.reached(n.max(0) as usize))));
        }
    }
    Ok(Ok(()))
}
