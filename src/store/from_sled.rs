//! `buildmail migrate --from-sled`: a sled database copied into
//! PostgreSQL, idempotent and resumable.
//!
//! Each table is copied in key order in transactions of [`BATCH`] rows,
//! one multi-row `INSERT ... ON CONFLICT DO NOTHING` each, on the rows'
//! natural keys (the sled key's sequence number, `sled_seq`, for history,
//! logs, error replies and bounces: migration `0002_from_sled`). A copy
//! stopped midway and run again skips what is there and finishes; a copy
//! run twice changes nothing. A row the target already holds with other
//! data under the same key stops the copy (the batch is rolled back) and
//! names the keys: the target is not a copy of this sled database.
//! The pages' indexes (queue, counts, maintainers) are made from the
//! builds as they are copied; the counters (`ids`, `quarantine_ids`)
//! continue above every id copied. [`verify`] then counts each table on
//! both sides.

use std::collections::BTreeSet;

use postgres::types::ToSql;
use postgres::Transaction;
use serde::Serialize;

use super::pg::{engine, t, PgStore};
use crate::debian::people::people;
use crate::model::{BuildRecord, Carried};
use crate::store::blob::{BlobId, BlobStore, Codec};
use crate::store::sled::export::{Rows, SledExport};
use crate::store::StoreError;

/// Rows per transaction.
pub const BATCH: usize = 1000;

/// Rows per transaction of the tables whose rows carry a mail (at most
/// `QUARANTINE_INLINE`, 256 KiB, each): a batch stays under 16 MiB.
const MAIL_BATCH: usize = 64;

/// The crash point reached after each committed batch (tests stop a copy
/// midway with `BUILDMAIL_CRASH_AT=migrate-batch:N`).
pub const CRASH_POINT: &str = "migrate-batch";

/// One value of a row.
type Value = Box<dyn ToSql + Sync>;

/// A column: its name and SQL type (`json` values are passed as text).
type Col = (&'static str, &'static str);

/// How one table is written.
struct Table {
    name: &'static str,
    cols: &'static [Col],
    /// The natural key (the conflict target).
    key: &'static [&'static str],
    /// The columns a row already there must hold alike (empty: derived
    /// rows, not compared).
    compare: &'static [&'static str],
    /// Rows per transaction: [`BATCH`], fewer for rows that carry mails
    /// (up to the quarantine's inline limit each).
    batch: usize,
}

/// How many rows of one table each side holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCount {
    /// The table (PostgreSQL's name; `blobs (logs)` for the archived logs).
    pub table: String,
    /// Rows in the sled database (or what they make).
    pub sled: u64,
    /// Rows in PostgreSQL.
    pub postgres: u64,
}

impl TableCount {
    /// Whether both sides hold as many.
    pub fn matches(&self) -> bool {
        self.sled == self.postgres
    }
}

/// Text for a column, NUL made U+FFFD (as the store writes it).
fn s(v: &str) -> Value {
    Box::new(t(v).into_owned())
}

fn opt(v: Option<&str>) -> Value {
    Box::new(v.map(|v| t(v).into_owned()))
}

fn int(v: i64) -> Value {
    Box::new(v)
}

/// A record as the store writes it: serde_json's text, passed as text
/// (the column is json, which keeps it as written).
fn json<T: Serialize>(table: &'static str, v: &T) -> Result<Value, StoreError> {
    let text = serde_json::to_string(v).map_err(|e| StoreError::Corrupt {
        tree: table,
        message: format!("cannot encode a record: {e}"),
    })?;
    Ok(Box::new(text))
}

/// Rows of one table collected into batches and written.
struct Writer<'c, 'a> {
    client: &'c mut postgres::Client,
    table: &'a Table,
    rows: Vec<Vec<Value>>,
    /// Derived rows written in the same transaction: (table, rows).
    derived: Vec<(&'a Table, Vec<Vec<Value>>)>,
    /// Rows offered so far.
    offered: u64,
}

impl<'c, 'a> Writer<'c, 'a> {
    fn new(client: &'c mut postgres::Client, table: &'a Table) -> Writer<'c, 'a> {
        Writer {
            client,
            table,
            rows: Vec::new(),
            derived: Vec::new(),
            offered: 0,
        }
    }

    fn push(&mut self, row: Vec<Value>) -> Result<(), StoreError> {
        self.rows.push(row);
        self.offered += 1;
        if self.rows.len() >= self.table.batch {
            self.flush()?;
        }
        Ok(())
    }

    fn derive(&mut self, table: &'a Table, row: Vec<Value>) {
        match self.derived.iter_mut().find(|(t, _)| t.name == table.name) {
            Some((_, rows)) => rows.push(row),
            None => self.derived.push((table, vec![row])),
        }
    }

    /// Writes the batch in one transaction.
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.rows.is_empty() && self.derived.iter().all(|(_, r)| r.is_empty()) {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let derived = std::mem::take(&mut self.derived);
        let mut tx = self.client.transaction().map_err(engine)?;
        let differ = insert(&mut tx, self.table, &rows)?;
        if !differ.is_empty() {
            return Err(StoreError::Schema(format!(
                "the PostgreSQL database already holds other data in {} for {} = {}{}: it is not a copy of this sled database; nothing of this batch was written. Copy into a database that holds nothing else (createdb, then buildmail migrate --from-sled), or remove those rows",
                self.table.name,
                self.table.key.join(", "),
                differ.iter().take(5).cloned().collect::<Vec<_>>().join("; "),
                if differ.len() > 5 {
                    format!(" and {} more", differ.len() - 5)
                } else {
                    String::new()
                },
            )));
        }
        for (table, rows) in &derived {
            insert(&mut tx, table, rows)?;
        }
        tx.commit().map_err(engine)?;
        crate::fsutil::crash_point(CRASH_POINT);
        Ok(())
    }
}

/// How many parameters one statement takes at most (PostgreSQL's limit
/// is 65,535).
const PARAMS: usize = 30_000;

/// Inserts `rows` into `table` (`ON CONFLICT DO NOTHING`), in statements
/// of at most [`PARAMS`] values; returns the keys of the rows already
/// there with other data (in words).
fn insert(
    tx: &mut Transaction<'_>,
    table: &Table,
    rows: &[Vec<Value>],
) -> Result<Vec<String>, StoreError> {
    let mut differ = Vec::new();
    for chunk in rows.chunks((PARAMS / table.cols.len()).max(1)) {
        differ.extend(insert_chunk(tx, table, chunk)?);
    }
    Ok(differ)
}

/// One statement of [`insert`].
fn insert_chunk(
    tx: &mut Transaction<'_>,
    table: &Table,
    rows: &[Vec<Value>],
) -> Result<Vec<String>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = table.cols.iter().map(|c| c.0).collect();
    let mut values = String::new();
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(rows.len() * names.len());
    for (i, row) in rows.iter().enumerate() {
        values.push_str(if i == 0 { "(" } else { ", (" });
        for (j, ((_, ty), v)) in table.cols.iter().zip(row).enumerate() {
            if j > 0 {
                values.push_str(", ");
            }
            params.push(v.as_ref());
            let n = params.len();
            if *ty == "json" {
                values.push_str(&format!("${n}::text::json"));
            } else {
                values.push_str(&format!("${n}::{ty}"));
            }
        }
        values.push(')');
    }
    let cols = names.join(", ");
    let key = table.key.join(", ");
    let insert = format!(
        "INSERT INTO {name} ({cols}) SELECT {cols} FROM v ON CONFLICT ({key}) DO NOTHING",
        name = table.name
    );
    if table.compare.is_empty() {
        tx.execute(
            &format!("WITH v ({cols}) AS (VALUES {values}) {insert}"),
            &params,
        )
        .map_err(engine)?;
        return Ok(Vec::new());
    }
    // The main query reads the table as it was before the insert: the
    // rows that were there, compared with what sled holds.
    let on = table
        .key
        .iter()
        .map(|k| format!("o.{k} = v.{k}"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let side = |p: &str| {
        table
            .compare
            .iter()
            .map(|c| format!("{p}.{c}::text"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let shown = table
        .key
        .iter()
        .map(|k| format!("v.{k}::text"))
        .collect::<Vec<_>>()
        .join(" || '/' || ");
    let sql = format!(
        "WITH v ({cols}) AS (VALUES {values}), ins AS ({insert} RETURNING 1)
         SELECT {shown} FROM v JOIN {name} o ON {on}
         WHERE ({old}) IS DISTINCT FROM ({new})",
        name = table.name,
        old = side("o"),
        new = side("v"),
    );
    let differ = tx.query(&sql, &params).map_err(engine)?;
    Ok(differ.iter().map(|r| r.get::<_, String>(0)).collect())
}

/// Copies every row of `rows` into `table` (`row` makes its values), in
/// batches; returns how many were offered.
fn copy_table<T>(
    client: &mut postgres::Client,
    table: &Table,
    rows: Rows<'_, T>,
    mut row: impl FnMut(T) -> Result<Vec<Value>, StoreError>,
) -> Result<u64, StoreError> {
    let mut w = Writer::new(client, table);
    for r in rows {
        w.push(row(r?)?)?;
    }
    w.flush()?;
    Ok(w.offered)
}

const BUILDS: Table = Table {
    name: "builds",
    cols: &[
        ("source", "text"),
        ("dist", "text"),
        ("arch", "text"),
        ("version", "text"),
        ("state", "text"),
        ("state_change", "int8"),
        ("rev", "int8"),
        ("record", "json"),
    ],
    key: &["source", "dist", "arch"],
    compare: &["rev", "record"],
    batch: BATCH,
};

const QUEUE: Table = Table {
    name: "queue",
    cols: &[
        ("dist", "text"),
        ("arch", "text"),
        ("source", "text"),
        ("grp", "bytea"),
        ("admin_priority", "int8"),
        ("built_before", "bool"),
        ("priority", "text"),
        ("section", "text"),
        ("facts", "json"),
    ],
    key: &["dist", "arch", "source"],
    compare: &[],
    batch: BATCH,
};

const MAINTAINERS: Table = Table {
    name: "maintainers",
    cols: &[
        ("address", "text"),
        ("source", "text"),
        ("dist", "text"),
        ("arch", "text"),
        ("name", "text"),
        ("role", "text"),
    ],
    key: &["address", "source", "dist", "arch"],
    compare: &[],
    batch: BATCH,
};

const HISTORY: Table = Table {
    name: "history",
    cols: &[
        ("source", "text"),
        ("dist", "text"),
        ("arch", "text"),
        ("time", "int8"),
        ("from_state", "text"),
        ("to_state", "text"),
        ("version", "text"),
        ("event", "text"),
        ("entry", "json"),
        ("sled_seq", "int8"),
    ],
    key: &["sled_seq"],
    compare: &["source", "dist", "arch", "entry"],
    batch: BATCH,
};

const MAILS: Table = Table {
    name: "mails",
    cols: &[
        ("id", "text"),
        ("message_id", "text"),
        ("received", "int8"),
        ("kind", "text"),
        ("outcome", "text"),
        ("record", "json"),
    ],
    key: &["id"],
    compare: &["record"],
    batch: BATCH,
};

const MSGIDS: Table = Table {
    name: "msgids",
    cols: &[("message_id", "text"), ("mail", "text")],
    key: &["message_id"],
    compare: &["mail"],
    batch: BATCH,
};

const LOGS: Table = Table {
    name: "logs",
    cols: &[
        ("id", "text"),
        ("source", "text"),
        ("version", "text"),
        ("dist", "text"),
        ("arch", "text"),
        ("time", "int8"),
        ("builder", "text"),
        ("record", "json"),
        ("sled_seq", "int8"),
    ],
    key: &["sled_seq"],
    compare: &["record"],
    batch: BATCH,
};

const LOG_MSGIDS: Table = Table {
    name: "log_msgids",
    cols: &[
        ("message_id", "text"),
        ("source", "text"),
        ("dist", "text"),
        ("arch", "text"),
    ],
    key: &["message_id"],
    compare: &["source", "dist", "arch"],
    batch: BATCH,
};

const QUARANTINE: Table = Table {
    name: "quarantine",
    cols: &[
        ("id", "int8"),
        ("time", "int8"),
        ("reason", "text"),
        ("sha256", "text"),
        ("entry", "json"),
        ("raw", "bytea"),
    ],
    key: &["id"],
    compare: &["entry", "raw"],
    batch: MAIL_BATCH,
};

const UNHANDLED: Table = Table {
    name: "unhandled",
    cols: &[("id", "text"), ("raw", "bytea")],
    key: &["id"],
    compare: &["raw"],
    batch: MAIL_BATCH,
};

const SIGNATURES: Table = Table {
    name: "signatures",
    cols: &[
        ("fingerprint", "text"),
        ("created", "int8"),
        ("signed_sha256", "text"),
        ("first_seen", "int8"),
        ("consumed", "bool"),
        ("record", "json"),
    ],
    key: &["fingerprint", "created", "signed_sha256"],
    compare: &["record"],
    batch: BATCH,
};

const JOBS: Table = Table {
    name: "jobs",
    cols: &[
        ("id", "int8"),
        ("source", "text"),
        ("dist", "text"),
        ("arch", "text"),
        ("kind", "text"),
        ("record", "json"),
    ],
    key: &["id"],
    compare: &["record"],
    batch: BATCH,
};

const OUTBOX: Table = Table {
    name: "outbox",
    cols: &[
        ("id", "int8"),
        ("kind", "text"),
        ("next_attempt", "int8"),
        ("dead", "bool"),
        ("record", "json"),
        ("raw", "bytea"),
    ],
    key: &["id"],
    compare: &["record", "raw"],
    batch: MAIL_BATCH,
};

const REPLIES_SENT: Table = Table {
    name: "replies_sent",
    cols: &[("address", "text"), ("time", "int8"), ("sled_seq", "int8")],
    key: &["sled_seq"],
    compare: &["address", "time"],
    batch: BATCH,
};

const UPLOADS: Table = Table {
    name: "uploads",
    cols: &[
        ("changes_name", "text"),
        ("source", "text"),
        ("dist", "text"),
        ("arch", "text"),
    ],
    key: &["changes_name"],
    compare: &["source", "dist", "arch"],
    batch: BATCH,
};

const BOUNCES: Table = Table {
    name: "bounces",
    cols: &[("time", "int8"), ("sled_seq", "int8")],
    key: &["sled_seq"],
    compare: &["time"],
    batch: BATCH,
};

const NOTICES: Table = Table {
    name: "notices",
    cols: &[
        ("source", "text"),
        ("version", "text"),
        ("dist", "text"),
        ("due", "int8"),
        ("sent", "bool"),
        ("record", "json"),
    ],
    key: &["source", "version", "dist"],
    compare: &["record"],
    batch: BATCH,
};

const EXPLAIN: Table = Table {
    name: "explain",
    cols: &[
        ("source", "text"),
        ("dist", "text"),
        ("arch", "text"),
        ("log", "text"),
        ("task", "json"),
    ],
    key: &["source", "dist", "arch"],
    compare: &["task"],
    batch: BATCH,
};

const RELEASES: Table = Table {
    name: "releases",
    cols: &[
        ("suite", "text"),
        ("date", "int8"),
        ("sha256", "text"),
        ("synced", "int8"),
        ("record", "json"),
    ],
    key: &["suite"],
    compare: &["record"],
    batch: BATCH,
};

const DAILY: Table = Table {
    name: "daily",
    cols: &[
        ("dist", "text"),
        ("arch", "text"),
        ("day", "int8"),
        ("counts", "json"),
    ],
    key: &["dist", "arch", "day"],
    compare: &["counts"],
    batch: BATCH,
};

/// What the copy made of the builds: the rows of the derived tables.
#[derive(Debug, Default)]
struct Derived {
    queue: u64,
    maintainers: u64,
}

/// The maintainers' index rows of a build (the first role an address
/// has wins, as in both stores).
fn maintainer_rows(b: &BuildRecord) -> Vec<Vec<Value>> {
    let k = &b.key;
    let src = b.source.as_ref();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (field, role) in [
        (src.and_then(|s| s.maintainer.as_deref()), "maintainer"),
        (src.and_then(|s| s.uploaders.as_deref()), "uploader"),
    ] {
        for p in people(field.unwrap_or("")) {
            if !seen.insert(t(&p.address).into_owned()) {
                continue;
            }
            out.push(vec![
                s(&p.address),
                s(&k.source),
                s(&k.dist),
                s(&k.arch),
                s(&p.name),
                s(role),
            ]);
        }
    }
    out
}

/// What the copy did.
#[derive(Debug, Default)]
pub struct Copied {
    /// Rows offered per table (copied now or found there already).
    pub offered: Vec<(&'static str, u64)>,
    /// Mails of earlier releases' files put into the mail store.
    pub files_kept: u64,
    /// Files records of earlier releases name that are not there (the
    /// records keep naming them).
    pub files_missing: Vec<std::path::PathBuf>,
}

/// Keeps a mail an earlier release wrote to a file as a blob of the mail
/// store (compressed as new ones are): its id is `id` when that is a
/// blob id (the mail's hash the record carries), else the BLAKE3 of the
/// bytes. `None`: the file is gone (noted in `copied`).
fn keep_file(
    mails: &dyn BlobStore,
    path: &std::path::Path,
    id: Option<&str>,
    copied: &mut Copied,
) -> Result<Option<String>, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            copied.files_missing.push(path.to_path_buf());
            return Ok(None);
        }
        Err(e) => return Err(io(e)),
    };
    let blob = id
        .and_then(BlobId::parse)
        .unwrap_or_else(|| BlobId(*blake3::hash(&bytes).as_bytes()));
    if !mails.exists(&blob).map_err(io)? {
        let z = crate::store::blob::compress(&bytes).map_err(io)?;
        mails.put(&blob, Codec::Zstd, &z).map_err(io)?;
        mails.sync().map_err(io)?;
    }
    copied.files_kept += 1;
    Ok(Some(blob.to_hex()))
}

impl PgStore {
    /// Copies everything `src` holds into this database (whose schema is
    /// current): rows in batches, skipping what is there; `progress` is
    /// told each table as it is done.
    pub fn copy_from_sled(
        &self,
        src: &SledExport,
        mails: &dyn BlobStore,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<(Copied, u64, u64), StoreError> {
        let mut conn = self.conn()?;
        let client: &mut postgres::Client = &mut conn;
        let mut copied = Copied::default();
        let mut done = |name: &'static str, n: u64, copied: &mut Copied| {
            progress(name, n);
            copied.offered.push((name, n));
        };
        // Builds, with the queue and maintainers made from them.
        let mut derived = Derived::default();
        {
            let mut w = Writer::new(client, &BUILDS);
            for b in src.builds()? {
                let b = b?;
                let k = &b.key;
                if b.in_queue() {
                    let f = b.queue_facts();
                    w.derive(
                        &QUEUE,
                        vec![
                            s(&k.dist),
                            s(&k.arch),
                            s(&k.source),
                            Box::new(crate::store::queue_group::queue_group(&f)),
                            int(f.admin_priority),
                            Box::new(f.built_before),
                            opt(f.priority.as_deref()),
                            opt(f.section.as_deref()),
                            json("queue", &f)?,
                        ],
                    );
                    derived.queue += 1;
                }
                for row in maintainer_rows(&b) {
                    w.derive(&MAINTAINERS, row);
                    derived.maintainers += 1;
                }
                w.push(vec![
                    s(&k.source),
                    s(&k.dist),
                    s(&k.arch),
                    s(&b.version),
                    s(b.state.as_str()),
                    int(b.state_change),
                    int(b.rev as i64),
                    json("builds", &b)?,
                ])?;
            }
            w.flush()?;
            done("builds", w.offered, &mut copied);
        }
        // Each state's count per suite and architecture, from the builds.
        client
            .batch_execute(
                "INSERT INTO counts (dist, arch, state, n)
                 SELECT dist, arch, state, count(*) FROM builds GROUP BY dist, arch, state
                 ON CONFLICT (dist, arch, state) DO UPDATE SET n = EXCLUDED.n",
            )
            .map_err(engine)?;
        let n = copy_table(client, &HISTORY, src.history()?, |(k, seq, h)| {
            Ok(vec![
                s(&k.source),
                s(&k.dist),
                s(&k.arch),
                int(h.time),
                opt(h.from.map(|s| s.as_str())),
                opt(h.to.map(|s| s.as_str())),
                s(&h.version),
                s(&h.event),
                json("history", &h)?,
                int(seq as i64),
            ])
        })?;
        done("history", n, &mut copied);
        let n = copy_table(client, &MAILS, src.mails()?, |(key, m)| {
            Ok(vec![
                s(&key),
                opt(m.message_id.as_deref()),
                int(m.received),
                s(&m.kind),
                s(&m.outcome),
                json("mails", &m)?,
            ])
        })?;
        done("mails", n, &mut copied);
        let n = copy_table(client, &MSGIDS, src.msgids()?, |(mid, mail)| {
            Ok(vec![s(&mid), s(&mail)])
        })?;
        done("msgids", n, &mut copied);
        let n = copy_table(client, &LOGS, src.logs()?, |(seq, r)| {
            Ok(vec![
                s(&r.id),
                s(&r.key.source),
                s(&r.version),
                s(&r.key.dist),
                s(&r.key.arch),
                int(r.time),
                opt(r.builder.as_deref()),
                json("logs", &r)?,
                int(seq as i64),
            ])
        })?;
        done("logs", n, &mut copied);
        let n = copy_table(client, &LOG_MSGIDS, src.log_msgids()?, |(mid, k)| {
            Ok(vec![s(&mid), s(&k.source), s(&k.dist), s(&k.arch)])
        })?;
        done("log_msgids", n, &mut copied);
        let mut kept = Copied::default();
        let n = copy_table(client, &QUARANTINE, src.quarantine()?, |(mut q, raw)| {
            // An earlier release's file: into the mail store.
            if let Some(path) = q.raw_file.clone() {
                if let Some(id) = keep_file(mails, &path, Some(&q.sha256), &mut kept)? {
                    q.blob = Some(id);
                    q.raw_file = None;
                }
            }
            Ok(vec![
                int(q.id as i64),
                int(q.time),
                s(&q.reason),
                s(&q.sha256),
                json("quarantine", &q)?,
                Box::new(raw),
            ])
        })?;
        done("quarantine", n, &mut copied);
        let n = copy_table(client, &UNHANDLED, src.unhandled()?, |(id, raw)| {
            Ok(vec![s(&id), Box::new(raw)])
        })?;
        done("unhandled", n, &mut copied);
        let n = copy_table(client, &SIGNATURES, src.signatures()?, |sig| {
            Ok(vec![
                s(&sig.fingerprint),
                int(sig.created),
                s(&sig.signed_sha256),
                int(sig.first_seen),
                Box::new(sig.consumed),
                json("signatures", &sig)?,
            ])
        })?;
        done("signatures", n, &mut copied);
        let n = copy_table(client, &JOBS, src.jobs()?, |j| {
            Ok(vec![
                int(j.id as i64),
                s(&j.key.source),
                s(&j.key.dist),
                s(&j.key.arch),
                s(j.kind.name()),
                json("jobs", &j)?,
            ])
        })?;
        done("jobs", n, &mut copied);
        let n = copy_table(client, &OUTBOX, src.outbox()?, |(mut m, raw)| {
            // An earlier release's file: into the mail store.
            if let Some(Carried::File(path)) = m.carries.clone() {
                let stem = path
                    .file_stem()
                    .and_then(|n| n.to_str())
                    .map(str::to_string);
                if let Some(id) = keep_file(mails, &path, stem.as_deref(), &mut kept)? {
                    m.carries = Some(Carried::Blob(id));
                }
            }
            Ok(vec![
                int(m.id as i64),
                s(&m.kind),
                int(m.next_attempt),
                Box::new(m.dead),
                json("outbox", &m)?,
                Box::new(raw),
            ])
        })?;
        done("outbox", n, &mut copied);
        copied.files_kept = kept.files_kept;
        copied.files_missing = kept.files_missing;
        let n = copy_table(
            client,
            &REPLIES_SENT,
            src.replies_sent()?,
            |(address, time, seq)| Ok(vec![s(&address), int(time), int(seq as i64)]),
        )?;
        done("replies_sent", n, &mut copied);
        let n = copy_table(client, &UPLOADS, src.uploads()?, |(name, k)| {
            Ok(vec![s(&name), s(&k.source), s(&k.dist), s(&k.arch)])
        })?;
        done("uploads", n, &mut copied);
        let n = copy_table(client, &BOUNCES, src.bounces()?, |(time, seq)| {
            Ok(vec![int(time), int(seq as i64)])
        })?;
        done("bounces", n, &mut copied);
        let n = copy_table(client, &NOTICES, src.notices()?, |n| {
            Ok(vec![
                s(&n.source),
                s(&n.version),
                s(&n.dist),
                int(n.due),
                Box::new(n.sent),
                json("notices", &n)?,
            ])
        })?;
        done("notices", n, &mut copied);
        let n = copy_table(client, &EXPLAIN, src.explain()?, |e| {
            Ok(vec![
                s(&e.key.source),
                s(&e.key.dist),
                s(&e.key.arch),
                s(&e.log),
                json("explain", &e)?,
            ])
        })?;
        done("explain", n, &mut copied);
        let n = copy_table(client, &RELEASES, src.releases()?, |r| {
            Ok(vec![
                s(&r.suite),
                int(r.date),
                s(&r.sha256),
                int(r.synced),
                json("releases", &r)?,
            ])
        })?;
        done("releases", n, &mut copied);
        let n = copy_table(client, &DAILY, src.daily()?, |(dist, arch, day, counts)| {
            Ok(vec![s(&dist), s(&arch), int(day), json("daily", &counts)?])
        })?;
        done("daily", n, &mut copied);
        // The counters continue above every id copied.
        let c = src.counters()?;
        let mut tx = client.transaction().map_err(engine)?;
        for (seq, last, tables) in [
            ("ids", c.last_id, &["jobs", "outbox"][..]),
            ("quarantine_ids", c.last_quarantine_id, &["quarantine"][..]),
        ] {
            let mut top = last as i64;
            for table in tables {
                let m: i64 = tx
                    .query_one(&format!("SELECT coalesce(max(id), 0) FROM {table}"), &[])
                    .map_err(engine)?
                    .get(0);
                top = top.max(m);
            }
            let row = tx
                .query_one(&format!("SELECT last_value, is_called FROM {seq}"), &[])
                .map_err(engine)?;
            let used = if row.get::<_, bool>(1) {
                row.get::<_, i64>(0)
            } else {
                0
            };
            if top > used {
                tx.execute("SELECT setval($1::text::regclass, $2)", &[&seq, &top])
                    .map_err(engine)?;
            }
        }
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ('unanswered', $1)
             ON CONFLICT (name) DO UPDATE SET value = GREATEST(meta.value, EXCLUDED.value)",
            &[&(c.unanswered as i64)],
        )
        .map_err(engine)?;
        tx.commit().map_err(engine)?;
        Ok((copied, derived.queue, derived.maintainers))
    }

    /// Counts every table on both sides (`queue` and `maintainers`: the
    /// rows the copied builds make, `queued` and `maintainers` as
    /// [`PgStore::copy_from_sled`] returned them).
    pub fn verify_copy(
        &self,
        src: &SledExport,
        queued: u64,
        maintainers: u64,
    ) -> Result<Vec<TableCount>, StoreError> {
        let mut conn = self.conn()?;
        let client: &mut postgres::Client = &mut conn;
        let mut count = |sql: &str| -> Result<u64, StoreError> {
            let n: i64 = client.query_one(sql, &[]).map_err(engine)?.get(0);
            Ok(n as u64)
        };
        let star = |t: &str| format!("SELECT count(*) FROM {t}");
        let mut out = Vec::new();
        for (table, sled_tree) in [
            ("builds", "builds"),
            ("history", "history"),
            ("mails", "mails"),
            ("msgids", "msgids"),
            ("logs", "log_index"),
            ("log_msgids", "log_msgids"),
            ("quarantine", "quarantine"),
            ("unhandled", "unhandled"),
            ("signatures", "signatures"),
            ("jobs", "jobs"),
            ("outbox", "outbox"),
            ("replies_sent", "replies_sent"),
            ("uploads", "uploads"),
            ("bounces", "bounces"),
            ("notices", "notices"),
            ("explain", "explain"),
            ("releases", "releases"),
            ("daily", "daily"),
        ] {
            out.push(TableCount {
                table: table.to_string(),
                sled: src.len(sled_tree)?,
                postgres: count(&star(table))?,
            });
        }
        out.push(TableCount {
            table: "quarantine (raw mails)".into(),
            sled: src.len("quarantine_raw")?,
            postgres: count("SELECT count(raw) FROM quarantine")?,
        });
        out.push(TableCount {
            table: "queue".into(),
            sled: queued,
            postgres: count(&star("queue"))?,
        });
        out.push(TableCount {
            table: "maintainers".into(),
            sled: maintainers,
            postgres: count(&star("maintainers"))?,
        });
        out.push(TableCount {
            table: "counts".into(),
            sled: src.state_count_rows()?,
            postgres: count(&star("counts"))?,
        });
        Ok(out)
    }
}

/// Copies every blob of `from` (for the log archive: its segments and
/// earlier releases' `.log.gz` files) that `to` lacks, as stored (same
/// codec, same bytes), synced at the end. Returns (blobs in `from`,
/// blobs `to` holds of them afterwards, blobs put now). `from_dir`
/// names `from` in errors.
pub fn copy_blobs(
    from: &dyn BlobStore,
    from_dir: &std::path::Path,
    to: &dyn BlobStore,
) -> Result<(u64, u64, u64), StoreError> {
    let io = |e: std::io::Error| StoreError::Io {
        path: from_dir.to_path_buf(),
        source: e,
    };
    let ids: BTreeSet<BlobId> = from.list().map_err(io)?.into_iter().map(|b| b.id).collect();
    let mut put = 0;
    for id in &ids {
        if to.exists(id).map_err(io)? {
            continue;
        }
        let Some(blob) = from.get(id).map_err(io)? else {
            continue;
        };
        to.put(id, blob.codec, &blob.bytes).map_err(io)?;
        put += 1;
        if put % BATCH as u64 == 0 {
            to.sync().map_err(io)?;
        }
    }
    to.sync().map_err(io)?;
    let mut there = 0;
    for id in &ids {
        if to.exists(id).map_err(io)? {
            there += 1;
        }
    }
    Ok((ids.len() as u64, there, put))
}
