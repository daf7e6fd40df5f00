//! The PostgreSQL implementation of [`Store`]: several hosts on one
//! database with the guarantees of one (`[database] url`).
//!
//! The tables are in `migrations/` (applied by `buildmail migrate`,
//! checked by [`PgStore::open`]); each names its key columns and keeps
//! the whole value as `record` (json). How the guarantees hold across
//! hosts:
//!
//! * One [`Store::commit`] is one transaction. The dedup record and the
//!   signature replay record are inserted with `ON CONFLICT DO NOTHING`
//!   under their primary keys, so the same mail (or signature) committed
//!   by two hosts at once is written once: the second insert waits for
//!   the first transaction and then finds its row
//!   ([`Committed::Duplicate`], [`Committed::Replay`]).
//! * Every build record a commit writes is written only while the stored
//!   row's `rev` is the record's [`BuildRecord::rev`] (read `FOR UPDATE`
//!   in the transaction; a new record: no row), and stored with rev + 1;
//!   otherwise nothing is written ([`Committed::Stale`]). [`Commit::expect`]
//!   is checked the same way. A deadlock or serialization failure between
//!   two hosts' transactions is retried.
//! * Jobs and outbox mails are claimed with `FOR UPDATE SKIP LOCKED` and
//!   the claim the model carries (host, pid, time): one claimant at a
//!   time; a claim whose owner stopped is taken over as with sled.
//! * A commit is durable when COMMIT returns: [`Store::flush`] does
//!   nothing. A lost connection is [`StoreError::Engine`], a temporary
//!   failure (LMTP 451, `deliver` EX_TEMPFAIL): the mail is delivered
//!   again and nothing is lost.
//! * The needs-build queue is a table whose `grp` column orders the
//!   groups of builds placed alike; [`Store::queue_heads`] reads one row
//!   per group (a loose index scan by a recursive query), and
//!   [`crate::decide::queue::compare_facts`] orders those heads in Rust,
//!   as with sled.
//!
//! Connections: a small pool of sync `postgres` clients (each used from
//! one thread at a time; tokio's blocking pool in the daemon), TLS by
//! rustls when the URL's `sslmode` asks for it (`prefer`, the default,
//! uses it when the server offers it). The URL's password is never
//! printed: [`crate::config::redact_url`].

pub mod blobs;
mod commit;
pub mod schema;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postgres::types::{Json, ToSql};
use postgres::{Client, GenericClient, Row, Statement, Transaction};
use serde::de::DeserializeOwned;

use crate::config::DatabaseConfig;
use crate::debian::people::Person;
use crate::model::state::State;
use crate::model::{
    BuildKey, BuildRecord, Carried, Claim, ExplainTask, HistoryEntry, Job, LogRef, MailRecord,
    Notice, OutboundMail, QuarantineEntry, QueueFacts, ReleaseSeen, SignatureUse,
};
use crate::store::{
    BuilderSeen, Claimed, Commit, Committed, DayCounts, Maintained, StateCounts, Stats, Store,
    StoreError,
};

/// A pooled connection idle longer than this is checked before use.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The PostgreSQL database.
pub struct PgStore {
    config: postgres::Config,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    describe: String,
    /// The pool: idle connections, and how many are open.
    pool: Mutex<Pool>,
    /// Signalled when a connection goes back to the pool or closes.
    freed: Condvar,
    /// At most this many connections open at once (`database.connections`).
    max_open: usize,
    /// How long a caller waits for a connection when all are in use.
    wait: Duration,
    /// Commits are durable only at [`Store::flush`]
    /// ([`Store::defer_durability`]): COMMIT does not wait for the WAL.
    deferred: AtomicBool,
    /// A deferred commit was made since the last flush.
    dirty: AtomicBool,
}

/// The connections of a [`PgStore`].
#[derive(Default)]
struct Pool {
    /// Idle connections, each with its statements and when it was last used.
    idle: Vec<Idle>,
    /// Connections open (idle or in use).
    open: usize,
}

/// The statements prepared on one connection, by their SQL: each is
/// parsed and planned by the server once per connection, not once per
/// use. A new connection starts with none.
type Prepared = HashMap<&'static str, Statement>;

/// An idle connection of the pool.
struct Idle {
    client: Client,
    prepared: Prepared,
    since: Instant,
}

/// A PostgreSQL error as the store's: temporary (the caller retries, the
/// mail is answered 451), its text without the URL.
/// Why a connection could not be made, and what to do: a database or a
/// login the server does not know will not come by waiting.
fn connect_failure(e: postgres::Error) -> String {
    use postgres::error::SqlState;
    let code = e.as_db_error().map(|d| d.code().clone());
    let why = match engine(e) {
        StoreError::Engine(why) => why,
        other => other.to_string(),
    };
    let next = match code {
        Some(c) if c == SqlState::INVALID_CATALOG_NAME => {
            "create it (README: \"Several hosts: PostgreSQL\") or correct `[database] url`"
        }
        Some(c)
            if c == SqlState::INVALID_PASSWORD
                || c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            "check the user and password of `[database] url` and the server's pg_hba.conf"
        }
        _ => "try again later",
    };
    if why.ends_with(next) {
        why
    } else {
        format!("{why}; {next}")
    }
}

pub(crate) fn engine(e: postgres::Error) -> StoreError {
    match e.as_db_error() {
        // A table missing: the database was never migrated (a command
        // that reached it before opening the store, e.g. a blob put).
        // An operator must act, as for a schema found missing at open.
        Some(db) if *db.code() == postgres::error::SqlState::UNDEFINED_TABLE => {
            StoreError::Schema(format!(
                "PostgreSQL: {}: the database has no buildmail schema: run `buildmail migrate`",
                db.message()
            ))
        }
        Some(db) => StoreError::Engine(format!(
            "PostgreSQL: {}: {}{}",
            db.severity(),
            db.message(),
            db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
        )),
        None if e.is_closed() => StoreError::Engine(format!(
            "PostgreSQL: the connection was lost ({e}); try again later"
        )),
        None => {
            // The causes too (a TLS handshake's: which certificate, why).
            let mut text = format!("PostgreSQL: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                let more = c.to_string();
                if !text.contains(&more) {
                    text.push_str(": ");
                    text.push_str(&more);
                }
                cause = c.source();
            }
            StoreError::Engine(text)
        }
    }
}

fn corrupt(tree: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        tree,
        message: e.to_string(),
    }
}

/// A json column decoded.
fn dec<T: DeserializeOwned>(tree: &'static str, row: &Row, col: usize) -> Result<T, StoreError> {
    let v: serde_json::Value = row.try_get(col).map_err(|e| corrupt(tree, e))?;
    serde_json::from_value(v).map_err(|e| corrupt(tree, e))
}

/// A build row (`record`, `rev`) decoded, its revision from the column.
fn build_row(row: &Row, col: usize) -> Result<BuildRecord, StoreError> {
    let mut b: BuildRecord = dec("builds", row, col)?;
    let rev: i64 = row.get(col + 1);
    b.rev = rev as u64;
    Ok(b)
}

/// Text for a column: PostgreSQL's text holds no NUL, which a hostile
/// mail's Message-ID may carry; it is stored (and looked up) as U+FFFD.
pub(crate) fn t(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{fffd}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// The rustls configuration: the Mozilla roots and those of
/// `database.tls_ca_file`, ring.
fn tls(cfg: &DatabaseConfig) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = &cfg.tls_ca_file {
        let bad = |e: &dyn std::fmt::Display| StoreError::Io {
            path: path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("database.tls_ca_file: {e}; give PEM certificates"),
            ),
        };
        let mut n = 0;
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
            roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            n += 1;
        }
        if n == 0 {
            return Err(bad(&"no certificate in the file"));
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Engine(format!("TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A pooled connection: back to the pool when dropped, unless it broke.
/// Its `query`, `query_opt`, `query_one` and `execute` take the SQL text
/// of a statement it prepares once ([`Prepared`]); other SQL goes through
/// the client it dereferences to.
pub(crate) struct Conn<'a> {
    store: &'a PgStore,
    client: Option<Client>,
    prepared: Prepared,
}

/// `sql` prepared on `client` (from `prepared`, or now), run by `run`. A
/// statement the server no longer takes (its plan changed under it: a
/// migration meanwhile) is forgotten, so that the next use prepares it
/// again.
fn cached<C: GenericClient, T>(
    client: &mut C,
    prepared: &mut Prepared,
    sql: &'static str,
    run: impl FnOnce(&mut C, &Statement) -> Result<T, postgres::Error>,
) -> Result<T, postgres::Error> {
    let statement = match prepared.get(sql) {
        Some(s) => s.clone(),
        None => {
            let s = client.prepare(sql)?;
            prepared.insert(sql, s.clone());
            s
        }
    };
    run(client, &statement).inspect_err(|e| {
        if e.code() == Some(&postgres::error::SqlState::FEATURE_NOT_SUPPORTED) {
            prepared.remove(sql);
        }
    })
}

/// The statement-running methods of a connection and of a transaction,
/// each with its prepared statements.
macro_rules! prepared_methods {
    () => {
        /// Runs `sql` (prepared once on this connection): its rows.
        pub(crate) fn query(
            &mut self,
            sql: &'static str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<Vec<Row>, postgres::Error> {
            let (c, p) = self.parts();
            cached(c, p, sql, |c, s| c.query(s, params))
        }

        /// Runs `sql` (prepared once): its one row or none.
        pub(crate) fn query_opt(
            &mut self,
            sql: &'static str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<Option<Row>, postgres::Error> {
            let (c, p) = self.parts();
            cached(c, p, sql, |c, s| c.query_opt(s, params))
        }

        /// Runs `sql` (prepared once): its one row.
        pub(crate) fn query_one(
            &mut self,
            sql: &'static str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<Row, postgres::Error> {
            let (c, p) = self.parts();
            cached(c, p, sql, |c, s| c.query_one(s, params))
        }

        /// Runs `sql` (prepared once): the rows it changed.
        pub(crate) fn execute(
            &mut self,
            sql: &'static str,
            params: &[&(dyn ToSql + Sync)],
        ) -> Result<u64, postgres::Error> {
            let (c, p) = self.parts();
            cached(c, p, sql, |c, s| c.execute(s, params))
        }
    };
}

impl Conn<'_> {
    fn parts(&mut self) -> (&mut Client, &mut Prepared) {
        (
            self.client
                .as_mut()
                .expect("a pooled connection is present until dropped"),
            &mut self.prepared,
        )
    }

    prepared_methods!();

    /// A transaction on this connection, using its prepared statements.
    pub(crate) fn transaction(&mut self) -> Result<Tx<'_>, postgres::Error> {
        let (client, prepared) = self.parts();
        Ok(Tx {
            tx: client.transaction()?,
            prepared,
        })
    }
}

/// A transaction on a pooled connection ([`Conn::transaction`]): its
/// statements prepared once per connection.
pub(crate) struct Tx<'a> {
    tx: Transaction<'a>,
    prepared: &'a mut Prepared,
}

// The same methods as a connection's; no transaction runs `query` yet.
#[allow(dead_code)]
impl<'a> Tx<'a> {
    fn parts(&mut self) -> (&mut Transaction<'a>, &mut Prepared) {
        (&mut self.tx, &mut *self.prepared)
    }

    prepared_methods!();

    /// The transaction itself, for SQL made at run time.
    pub(crate) fn raw(&mut self) -> &mut Transaction<'a> {
        &mut self.tx
    }

    /// Commits it.
    pub(crate) fn commit(self) -> Result<(), postgres::Error> {
        self.tx.commit()
    }
}

impl std::ops::Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.client
            .as_ref()
            .expect("a pooled connection is present until dropped")
    }
}

impl std::ops::DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("a pooled connection is present until dropped")
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let mut pool = self
            .store
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if client.is_closed() {
            pool.open = pool.open.saturating_sub(1);
            drop(pool);
            discard(vec![client]);
        } else {
            pool.idle.push(Idle {
                client,
                prepared: std::mem::take(&mut self.prepared),
                since: Instant::now(),
            });
        }
        self.store.freed.notify_one();
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        let pool = std::mem::take(self.pool.get_mut().unwrap_or_else(|e| e.into_inner()));
        discard(pool.idle.into_iter().map(|i| i.client).collect());
    }
}

/// Closes `clients`. A sync client closes on a runtime of its own, which
/// cannot start on a thread that drives tokio's tasks (the daemon drops
/// a replaced configuration's stores there): there, a thread of its own
/// closes them.
fn discard(clients: Vec<Client>) {
    if clients.is_empty() {
        return;
    }
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::spawn(move || drop(clients));
    } else {
        drop(clients);
    }
}

/// A named lock's connection ([`try_lock`]): closing it releases the lock.
struct LockConn(Option<Client>);

impl Drop for LockConn {
    fn drop(&mut self) {
        discard(self.0.take().into_iter().collect());
    }
}

impl PgStore {
    /// Connects to `url` and checks its schema (`buildmail migrate` makes
    /// it); `cfg.lock_timeout` bounds the connection attempt.
    /// (`database.path` is then only the directory of this host's worker
    /// lock and log files, made when they are.)
    pub fn open(url: &str, cfg: &DatabaseConfig) -> Result<PgStore, StoreError> {
        let store = PgStore::connect(url, cfg)?;
        let mut c = store.conn()?;
        schema::check(&mut *c, &store.describe)?;
        drop(c);
        Ok(store)
    }

    /// Connects without checking the schema (for `migrate`).
    pub fn connect(url: &str, cfg: &DatabaseConfig) -> Result<PgStore, StoreError> {
        let describe = crate::config::redact_url(url);
        let mut config: postgres::Config = url.parse().map_err(|e| {
            StoreError::Schema(format!(
                "database.url {describe} does not parse: {e}; write postgresql://user:password@host:port/dbname"
            ))
        })?;
        config.connect_timeout(cfg.lock_timeout.max(Duration::from_secs(1)));
        if config.get_application_name().is_none() {
            config.application_name("buildmail");
        }
        Ok(PgStore {
            config,
            tls: tls(cfg)?,
            describe,
            pool: Mutex::new(Pool::default()),
            freed: Condvar::new(),
            max_open: cfg.connections.max(1),
            wait: cfg.lock_timeout.max(Duration::from_secs(1)),
            deferred: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
        })
    }

    /// A connection from the pool, or a new one while fewer than
    /// `database.connections` are open; else waits up to
    /// `database.lock_timeout` for one to be given back.
    pub(crate) fn conn(&self) -> Result<Conn<'_>, StoreError> {
        let deadline = Instant::now() + self.wait;
        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let popped = pool.idle.pop();
            if let Some(Idle {
                mut client,
                prepared,
                since,
            }) = popped
            {
                drop(pool);
                // A connection idle for a while may have been closed by
                // the server (a restart, an idle timeout): asked first, so
                // that the caller gets a live one rather than a failed step.
                let alive = !client.is_closed()
                    && (since.elapsed() < IDLE_CHECK
                        || client.is_valid(Duration::from_secs(5)).is_ok());
                if alive {
                    return Ok(Conn {
                        store: self,
                        client: Some(client),
                        prepared,
                    });
                }
                discard(vec![client]);
                pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
                pool.open = pool.open.saturating_sub(1);
                continue;
            }
            if pool.open < self.max_open {
                pool.open += 1;
                drop(pool);
                return match self.config.connect(self.tls.clone()) {
                    Ok(client) => Ok(Conn {
                        store: self,
                        client: Some(client),
                        prepared: Prepared::new(),
                    }),
                    Err(e) => {
                        let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
                        pool.open = pool.open.saturating_sub(1);
                        drop(pool);
                        self.freed.notify_one();
                        Err(StoreError::Engine(format!(
                            "cannot connect to the PostgreSQL database {}: {}",
                            self.describe,
                            connect_failure(e)
                        )))
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StoreError::Engine(format!(
                    "all {} connections to the PostgreSQL database {} stayed in use for {:?} \
                     (database.connections); try again later",
                    self.max_open, self.describe, self.wait
                )));
            }
            pool = self
                .freed
                .wait_timeout(pool, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Applies the migrations this database lacks (`buildmail migrate`).
    pub fn migrate(&self) -> Result<schema::Migrated, StoreError> {
        let mut c = self.conn()?;
        schema::migrate(&mut c, &self.describe)
    }

    fn query(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        self.conn()?.query(sql, params).map_err(engine)
    }

    fn query_opt(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        self.conn()?.query_opt(sql, params).map_err(engine)
    }

    fn count(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<usize, StoreError> {
        let n: i64 = self.conn()?.query_one(sql, params).map_err(engine)?.get(0);
        Ok(n.max(0) as usize)
    }

    /// Every value of a json column, decoded.
    fn values<T: DeserializeOwned>(
        &self,
        tree: &'static str,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<T>, StoreError> {
        self.query(sql, params)?
            .iter()
            .map(|r| dec(tree, r, 0))
            .collect()
    }

    /// Builds from rows of (`record`, `rev`).
    fn builds(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<BuildRecord>, StoreError> {
        self.query(sql, params)?
            .iter()
            .map(|r| build_row(r, 0))
            .collect()
    }

    /// Changes outbox mail `id` in a transaction (`FOR UPDATE`): `change`
    /// returns whether to write it back. Whether it was there.
    fn update_outbox(
        &self,
        id: u64,
        change: impl Fn(&mut OutboundMail) -> bool,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(engine)?;
        let Some(row) = tx
            .query_opt(
                "SELECT record FROM outbox WHERE id = $1 FOR UPDATE",
                &[&(id as i64)],
            )
            .map_err(engine)?
        else {
            return Ok(false);
        };
        let mut mail: OutboundMail = dec("outbox", &row, 0)?;
        if change(&mut mail) {
            tx.execute(
                "UPDATE outbox SET record = $2, next_attempt = $3, dead = $4 WHERE id = $1",
                &[&(id as i64), &Json(&mail), &mail.next_attempt, &mail.dead],
            )
            .map_err(engine)?;
        }
        tx.commit().map_err(engine)?;
        Ok(true)
    }

    /// Claims item `id` of `table` (jobs or outbox): its row locked with
    /// `FOR UPDATE SKIP LOCKED` (a row another host is claiming right now
    /// is someone live's), taken when unclaimed or when `stale` says its
    /// claim may be taken over.
    fn claim_in<T>(
        &self,
        table: &'static str,
        id: u64,
        claim: &Claim,
        stale: &dyn Fn(&Claim) -> bool,
        slot: impl Fn(&mut T) -> &mut Option<Claim>,
    ) -> Result<Option<Claimed<T>>, StoreError>
    where
        T: serde::Serialize + DeserializeOwned + Sync + std::fmt::Debug,
    {
        let (select, update) = match table {
            "jobs" => (
                "SELECT record FROM jobs WHERE id = $1 FOR UPDATE SKIP LOCKED",
                "UPDATE jobs SET record = $2 WHERE id = $1",
            ),
            _ => (
                "SELECT record FROM outbox WHERE id = $1 FOR UPDATE SKIP LOCKED",
                "UPDATE outbox SET record = $2 WHERE id = $1",
            ),
        };
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(engine)?;
        let Some(row) = tx.query_opt(select, &[&(id as i64)]).map_err(engine)? else {
            return Ok(None);
        };
        let mut item: T = dec(table, &row, 0)?;
        let previous = slot(&mut item).clone();
        if previous.as_ref().is_some_and(|p| !stale(p)) {
            return Ok(None);
        }
        *slot(&mut item) = Some(claim.clone());
        tx.execute(update, &[&(id as i64), &Json(&item)])
            .map_err(engine)?;
        tx.commit().map_err(engine)?;
        Ok(Some(Claimed { item, previous }))
    }
}

/// Takes the named lock `name` of the database at `url`: a session
/// advisory lock (`pg_try_advisory_lock`) on a connection of its own,
/// which the returned guard owns; released when it is dropped, or by the
/// server when the connection breaks (the host died).
pub fn try_lock(
    url: &str,
    cfg: &DatabaseConfig,
    name: &str,
) -> Result<Option<Box<dyn std::any::Any + Send>>, StoreError> {
    let store = PgStore::connect(url, cfg)?;
    let mut conn = store.conn()?;
    let got: bool = conn
        .query_one(
            "SELECT pg_try_advisory_lock(hashtext($1))",
            &[&format!("buildmail:{name}")],
        )
        .map_err(engine)?
        .get(0);
    // The connection leaves the pool with the guard: it is the lock.
    let client = if got { conn.client.take() } else { None };
    Ok(match (got, client) {
        (true, Some(c)) => Some(Box::new(LockConn(Some(c)))),
        _ => None,
    })
}

/// Every build, read in pages of [`PAGE`] by key (one query per page, no
/// connection held between pages).
struct AllBuilds<'a> {
    store: &'a PgStore,
    after: Option<BuildKey>,
    page: std::vec::IntoIter<BuildRecord>,
    done: bool,
}

/// Builds per page of [`Store::all_builds`].
const PAGE: i64 = 1000;

impl Iterator for AllBuilds<'_> {
    type Item = Result<BuildRecord, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(b) = self.page.next() {
            self.after = Some(b.key.clone());
            return Some(Ok(b));
        }
        if self.done {
            return None;
        }
        let page = match &self.after {
            None => self.store.builds(
                "SELECT record, rev FROM builds ORDER BY source, dist, arch LIMIT $1",
                &[&PAGE],
            ),
            Some(k) => self.store.builds(
                "SELECT record, rev FROM builds WHERE (source, dist, arch) > ($1, $2, $3)
                 ORDER BY source, dist, arch LIMIT $4",
                &[&k.source, &k.dist, &k.arch, &PAGE],
            ),
        };
        match page {
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
            Ok(v) => {
                if (v.len() as i64) < PAGE {
                    self.done = true;
                }
                self.page = v.into_iter();
                let b = self.page.next()?;
                self.after = Some(b.key.clone());
                Some(Ok(b))
            }
        }
    }
}

/// A build key from three text columns starting at `col`.
fn key_at(row: &Row, col: usize) -> BuildKey {
    BuildKey {
        source: row.get(col),
        dist: row.get(col + 1),
        arch: row.get(col + 2),
    }
}

/// Per-state counts from a json column.
fn counts_of(
    tree: &'static str,
    row: &Row,
    col: usize,
) -> Result<std::collections::BTreeMap<State, u64>, StoreError> {
    dec(tree, row, col)
}

impl Store for PgStore {
    fn describe(&self) -> String {
        format!("the PostgreSQL database {}", self.describe)
    }

    /// A commit is durable when COMMIT returns: nothing to do, unless
    /// durability was deferred ([`Store::defer_durability`]): then one
    /// write committed synchronously, which flushes the WAL of every
    /// commit before it.
    fn flush(&self) -> Result<(), StoreError> {
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let mut c = self.conn()?;
        let mut tx = c.transaction().map_err(engine)?;
        tx.raw()
            .batch_execute("SET LOCAL synchronous_commit TO on")
            .map_err(engine)?;
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ('flushes', 1)
             ON CONFLICT (name) DO UPDATE SET value = meta.value + 1",
            &[],
        )
        .map_err(engine)?;
        tx.commit().map_err(engine)
    }

    /// COMMIT no longer waits for the WAL to reach the disk
    /// (`synchronous_commit` off for buildmail's commits); [`Store::flush`]
    /// does, once for all of them.
    fn defer_durability(&self) {
        self.deferred.store(true, Ordering::SeqCst);
    }

    /// Every commit checks what its decision read (revisions,
    /// expectations, counts under their locks; dedup and replay by key):
    /// a daemon's writers commit side by side, each on a connection of
    /// the pool (`database.connections`).
    fn concurrent_writers(&self) -> bool {
        true
    }

    fn commit(&self, c: &Commit<'_>) -> Result<Committed, StoreError> {
        self.transact(c)
    }

    fn generate_id(&self) -> Result<u64, StoreError> {
        let row = self
            .conn()?
            .query_one("SELECT nextval('ids')", &[])
            .map_err(engine)?;
        let id: i64 = row.get(0);
        Ok(id as u64)
    }

    fn seen(&self, sha256: &str) -> Result<Option<MailRecord>, StoreError> {
        self.query_opt("SELECT record FROM mails WHERE id = $1", &[&t(sha256)])?
            .map(|r| dec("mails", &r, 0))
            .transpose()
    }

    fn message_id_user(&self, message_id: &str) -> Result<Option<MailRecord>, StoreError> {
        self.query_opt(
            "SELECT m.record FROM msgids i JOIN mails m ON m.id = i.mail WHERE i.message_id = $1",
            &[&t(message_id)],
        )?
        .map(|r| dec("mails", &r, 0))
        .transpose()
    }

    fn build(&self, key: &BuildKey) -> Result<Option<BuildRecord>, StoreError> {
        self.query_opt(
            "SELECT record, rev FROM builds WHERE source = $1 AND dist = $2 AND arch = $3",
            &[&key.source, &key.dist, &key.arch],
        )?
        .map(|r| build_row(&r, 0))
        .transpose()
    }

    fn builds_of(&self, source: &str) -> Result<Vec<BuildRecord>, StoreError> {
        self.builds(
            "SELECT record, rev FROM builds WHERE source = $1 ORDER BY dist, arch",
            &[&source],
        )
    }

    fn all_builds(&self) -> Box<dyn Iterator<Item = Result<BuildRecord, StoreError>> + '_> {
        Box::new(AllBuilds {
            store: self,
            after: None,
            page: Vec::new().into_iter(),
            done: false,
        })
    }

    fn history(&self, key: &BuildKey) -> Result<Vec<HistoryEntry>, StoreError> {
        self.values(
            "history",
            "SELECT entry FROM history WHERE source = $1 AND dist = $2 AND arch = $3 ORDER BY seq",
            &[&key.source, &key.dist, &key.arch],
        )
    }

    fn build_for_log_message(&self, message_id: &str) -> Result<Option<BuildKey>, StoreError> {
        Ok(self
            .query_opt(
                "SELECT source, dist, arch FROM log_msgids WHERE message_id = $1",
                &[&t(message_id)],
            )?
            .map(|r| key_at(&r, 0)))
    }

    fn logs_of(&self, source: &str) -> Result<Vec<LogRef>, StoreError> {
        self.values(
            "logs",
            "SELECT record FROM logs WHERE source = $1 ORDER BY time, version, dist, arch, seq",
            &[&source],
        )
    }

    fn log_refs(&self) -> Result<Vec<LogRef>, StoreError> {
        self.values("logs", "SELECT record FROM logs ORDER BY seq", &[])
    }

    fn quarantined(&self) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.values(
            "quarantine",
            "SELECT entry FROM quarantine ORDER BY id",
            &[],
        )
    }

    fn quarantined_mail(&self, id: u64) -> Result<Option<(QuarantineEntry, Vec<u8>)>, StoreError> {
        let Some(row) = self.query_opt(
            "SELECT entry, raw FROM quarantine WHERE id = $1",
            &[&(id as i64)],
        )?
        else {
            return Ok(None);
        };
        let entry: QuarantineEntry = dec("quarantine", &row, 0)?;
        let raw = match (&entry.blob, &entry.raw_file) {
            (Some(blob), _) => self.mail_blob(blob)?,
            (None, Some(p)) => std::fs::read(p).map_err(|source| StoreError::Io {
                path: p.clone(),
                source,
            })?,
            (None, None) => row.get::<_, Option<Vec<u8>>>(1).ok_or_else(|| {
                corrupt("quarantine", format!("the raw mail of #{id} is missing"))
            })?,
        };
        Ok(Some((entry, raw)))
    }

    fn delete_quarantined(&self, id: u64) -> Result<Option<QuarantineEntry>, StoreError> {
        self.query_opt(
            "DELETE FROM quarantine WHERE id = $1 RETURNING entry",
            &[&(id as i64)],
        )?
        .map(|r| dec("quarantine", &r, 0))
        .transpose()
    }

    fn signature_uses(&self) -> Result<Vec<SignatureUse>, StoreError> {
        self.values(
            "signatures",
            "SELECT record FROM signatures ORDER BY fingerprint, created, signed_sha256",
            &[],
        )
    }

    fn forget_signature(&self, sha_prefix: &str) -> Result<Vec<SignatureUse>, StoreError> {
        if sha_prefix.len() < 8 {
            return Ok(Vec::new());
        }
        self.values(
            "signatures",
            "DELETE FROM signatures WHERE starts_with(signed_sha256, $1) RETURNING record",
            &[&t(&sha_prefix.to_ascii_lowercase())],
        )
    }

    fn jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.values("jobs", "SELECT record FROM jobs ORDER BY id", &[])
    }

    fn claim_job(
        &self,
        id: u64,
        claim: &Claim,
        stale: &dyn Fn(&Claim) -> bool,
    ) -> Result<Option<Claimed<Job>>, StoreError> {
        self.claim_in("jobs", id, claim, stale, |j: &mut Job| &mut j.claim)
    }

    fn outbox_mails(&self) -> Result<Vec<OutboundMail>, StoreError> {
        self.values("outbox", "SELECT record FROM outbox ORDER BY id", &[])
    }

    fn outbox_bytes(&self, id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(row) = self.query_opt(
            "SELECT record, raw FROM outbox WHERE id = $1",
            &[&(id as i64)],
        )?
        else {
            return Ok(None);
        };
        let mail: OutboundMail = dec("outbox", &row, 0)?;
        let head: Vec<u8> = row.get(1);
        let original = match mail.carries {
            None => return Ok(Some(head)),
            Some(Carried::Stored(sha256)) => {
                match self.query_opt("SELECT raw FROM unhandled WHERE id = $1", &[&t(&sha256)])? {
                    Some(r) => r.get::<_, Vec<u8>>(0),
                    None => {
                        return Err(corrupt(
                            "unhandled",
                            format!(
                                "outbox mail {id} carries the mail {sha256}, which is not stored"
                            ),
                        ))
                    }
                }
            }
            Some(Carried::Blob(blob)) => self.mail_blob(&blob)?,
            Some(Carried::File(path)) => {
                std::fs::read(&path).map_err(|source| StoreError::Io { path, source })?
            }
        };
        let mut out = head;
        out.extend_from_slice(&original);
        Ok(Some(out))
    }

    fn claim_outbox(
        &self,
        id: u64,
        claim: &Claim,
        stale: &dyn Fn(&Claim) -> bool,
    ) -> Result<Option<Claimed<OutboundMail>>, StoreError> {
        self.claim_in("outbox", id, claim, stale, |m: &mut OutboundMail| {
            &mut m.claim
        })
    }

    fn outbox_delivered(&self, id: u64) -> Result<(), StoreError> {
        self.conn()?
            .execute("DELETE FROM outbox WHERE id = $1", &[&(id as i64)])
            .map_err(engine)?;
        Ok(())
    }

    fn outbox_failed(
        &self,
        mail: &OutboundMail,
        error: &str,
        next_attempt: i64,
        dead: bool,
    ) -> Result<(), StoreError> {
        self.update_outbox(mail.id, |cur| {
            cur.attempts = cur.attempts.saturating_add(1);
            cur.last_error = Some(error.to_string());
            cur.next_attempt = next_attempt;
            cur.dead = dead;
            cur.claim = None;
            true
        })
        .map(drop)
    }

    fn outbox_retry(&self, id: u64, now: i64) -> Result<bool, StoreError> {
        // A claim stays: a mail being delivered is not sent twice.
        self.update_outbox(id, |cur| {
            cur.dead = false;
            cur.next_attempt = now;
            true
        })
    }

    fn outbox_release(&self, id: u64) -> Result<(), StoreError> {
        self.update_outbox(id, |cur| {
            cur.claim = None;
            true
        })
        .map(drop)
    }

    fn replies_sent_since(&self, address: &str, since: i64) -> Result<usize, StoreError> {
        self.count(
            "SELECT count(*) FROM replies_sent WHERE address = $1 AND time >= $2",
            &[&t(&address.to_ascii_lowercase()), &since],
        )
    }

    fn upload_build(&self, changes_name: &str) -> Result<Option<BuildKey>, StoreError> {
        Ok(self
            .query_opt(
                "SELECT source, dist, arch FROM uploads WHERE changes_name = $1",
                &[&t(changes_name)],
            )?
            .map(|r| key_at(&r, 0)))
    }

    fn bounces_since(&self, since: i64) -> Result<usize, StoreError> {
        self.count("SELECT count(*) FROM bounces WHERE time >= $1", &[&since])
    }

    fn pending_notices(&self) -> Result<Vec<Notice>, StoreError> {
        self.values(
            "notices",
            "SELECT record FROM notices WHERE NOT sent ORDER BY source, version, dist",
            &[],
        )
    }

    fn queued(&self, dist: &str, arch: &str) -> Result<Vec<BuildRecord>, StoreError> {
        Ok(self
            .builds(
                "SELECT b.record, b.rev FROM queue q
                 JOIN builds b ON b.source = q.source AND b.dist = q.dist AND b.arch = q.arch
                 WHERE q.dist = $1 AND q.arch = $2",
                &[&dist, &arch],
            )?
            .into_iter()
            // The index is kept in the same commits; checked anyway.
            .filter(BuildRecord::in_queue)
            .collect())
    }

    fn queue_facts(&self, dist: &str, arch: &str) -> Result<Vec<QueueFacts>, StoreError> {
        self.values(
            "queue",
            "SELECT facts FROM queue WHERE dist = $1 AND arch = $2",
            &[&dist, &arch],
        )
    }

    fn queue_len(&self, dist: &str, arch: &str) -> Result<usize, StoreError> {
        self.count(
            "SELECT count(*) FROM queue WHERE dist = $1 AND arch = $2",
            &[&dist, &arch],
        )
    }

    /// One row per group: a loose index scan of `queue_by_group`, each
    /// step the first row of the next group.
    fn queue_heads(&self, dist: &str, arch: &str) -> Result<Vec<QueueFacts>, StoreError> {
        self.values(
            "queue",
            "WITH RECURSIVE heads AS (
                 (SELECT grp, facts FROM queue WHERE dist = $1 AND arch = $2
                  ORDER BY grp, source LIMIT 1)
               UNION ALL
                 SELECT n.grp, n.facts FROM heads h,
                   LATERAL (SELECT grp, facts FROM queue
                            WHERE dist = $1 AND arch = $2 AND grp > h.grp
                            ORDER BY grp, source LIMIT 1) n
             )
             SELECT facts FROM heads",
            &[&dist, &arch],
        )
    }

    fn release_seen(&self, suite: &str) -> Result<Option<ReleaseSeen>, StoreError> {
        self.query_opt("SELECT record FROM releases WHERE suite = $1", &[&suite])?
            .map(|r| dec("releases", &r, 0))
            .transpose()
    }

    fn explain_queue(&self, limit: usize) -> Result<Vec<ExplainTask>, StoreError> {
        self.values(
            "explain",
            "SELECT task FROM explain ORDER BY source, dist, arch LIMIT $1",
            &[&(limit.min(i64::MAX as usize) as i64)],
        )
    }

    fn stats(&self) -> Result<Stats, StoreError> {
        let row = self
            .conn()?
            .query_one(
                "SELECT (SELECT count(*) FROM mails), (SELECT count(*) FROM builds),
                        (SELECT count(*) FROM history), (SELECT count(*) FROM unhandled),
                        (SELECT count(*) FROM jobs), (SELECT count(*) FROM outbox),
                        (SELECT coalesce(max(value), 0) FROM meta WHERE name = 'unanswered')",
                &[],
            )
            .map_err(engine)?;
        let n = |i: usize| row.get::<_, i64>(i).max(0) as usize;
        Ok(Stats {
            mails: n(0),
            builds: n(1),
            history: n(2),
            unhandled: n(3),
            jobs: n(4),
            outbox: n(5),
            unanswered: n(6) as u64,
        })
    }

    fn builds_in(
        &self,
        dist: &str,
        arch: &str,
        state: State,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<BuildRecord>, StoreError> {
        self.builds(
            "SELECT record, rev FROM builds
             WHERE dist = $1 AND arch = $2 AND state = $3 AND source > $4
             ORDER BY source LIMIT $5",
            &[
                &dist,
                &arch,
                &state.as_str(),
                &after.unwrap_or(""),
                &(limit.min(i64::MAX as usize) as i64),
            ],
        )
    }

    fn state_counts(&self) -> Result<Vec<StateCounts>, StoreError> {
        let mut out: Vec<StateCounts> = Vec::new();
        for row in self.query(
            "SELECT dist, arch, state, n FROM counts WHERE n > 0 ORDER BY dist, arch, state",
            &[],
        )? {
            let (dist, arch): (String, String) = (row.get(0), row.get(1));
            let state: String = row.get(2);
            let state: State = serde_json::from_value(serde_json::Value::String(state))
                .map_err(|e| corrupt("counts", e))?;
            let n: i64 = row.get(3);
            match out.last_mut() {
                Some(last) if last.dist == dist && last.arch == arch => {
                    last.counts.insert(state, n as u64);
                }
                _ => out.push(StateCounts {
                    dist,
                    arch,
                    counts: [(state, n as u64)].into_iter().collect(),
                }),
            }
        }
        Ok(out)
    }

    fn daily_counts(
        &self,
        dist: &str,
        arch: &str,
        since_day: i64,
    ) -> Result<Vec<DayCounts>, StoreError> {
        self.query(
            "SELECT day, counts FROM daily WHERE dist = $1 AND arch = $2 AND day >= $3 ORDER BY day",
            &[&dist, &arch, &since_day.max(0)],
        )?
        .iter()
        .map(|r| {
            Ok(DayCounts {
                day: r.get(0),
                counts: counts_of("daily", r, 1)?,
            })
        })
        .collect()
    }

    fn builder_logs(&self, builder: &str, limit: usize) -> Result<Vec<LogRef>, StoreError> {
        self.values(
            "logs",
            "SELECT record FROM logs WHERE builder = $1 ORDER BY time DESC, seq DESC LIMIT $2",
            &[&t(builder), &(limit.min(i64::MAX as usize) as i64)],
        )
    }

    fn builders(&self) -> Result<Vec<BuilderSeen>, StoreError> {
        Ok(self
            .query(
                "SELECT builder, max(time) FROM logs WHERE builder IS NOT NULL
                 GROUP BY builder ORDER BY builder",
                &[],
            )?
            .iter()
            .map(|r| BuilderSeen {
                name: r.get(0),
                last_log: r.get(1),
            })
            .collect())
    }

    fn maintained(&self, address: &str, limit: usize) -> Result<Vec<Maintained>, StoreError> {
        Ok(self
            .query(
                "SELECT source, dist, arch, name, role FROM maintainers WHERE address = $1
                 ORDER BY source, dist, arch LIMIT $2",
                &[&t(address), &(limit.min(i64::MAX as usize) as i64)],
            )?
            .iter()
            .map(|r| Maintained {
                key: key_at(r, 0),
                name: r.get(3),
                role: r.get(4),
            })
            .collect())
    }

    fn maintainers(&self, text: &str, limit: usize) -> Result<Vec<Person>, StoreError> {
        let want = text.to_lowercase();
        let mut out = Vec::new();
        // Each address with the name of its first entry, as sled reads it.
        for r in self.query(
            "SELECT DISTINCT ON (address) address, name FROM maintainers
             ORDER BY address, source, dist, arch",
            &[],
        )? {
            if out.len() >= limit {
                break;
            }
            let (address, name): (String, String) = (r.get(0), r.get(1));
            if address.contains(&want) || name.to_lowercase().contains(&want) {
                out.push(Person { name, address });
            }
        }
        Ok(out)
    }

    fn sources_from(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        Ok(self
            .query(
                "SELECT DISTINCT source FROM builds WHERE source >= $1 AND starts_with(source, $1)
                 ORDER BY source LIMIT $2",
                &[&t(prefix), &(limit.min(i64::MAX as usize) as i64)],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
}
