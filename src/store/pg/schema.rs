//! The schema: the migrations in `migrations/` (embedded in the binary),
//! applied by `buildmail migrate` ([`migrate`]), and the check every
//! open makes ([`check`]).

use postgres::GenericClient;

use crate::store::StoreError;

/// The migrations, in order: (version, name, SQL).
pub const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "0001_init",
        include_str!("../../../migrations/0001_init.sql"),
    ),
    (
        2,
        "0002_from_sled",
        include_str!("../../../migrations/0002_from_sled.sql"),
    ),
];

/// The schema version this buildmail writes (the last migration's).
pub fn current() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// A lock key no other program on the server is likely to use: held
/// while migrations run, so that two `migrate` at once apply each once.
const MIGRATE_LOCK: i64 = 0x6275_696c_646d_6c01;

/// The `schema_version` table: one row per migration applied.
const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied timestamptz NOT NULL DEFAULT now()
)";

/// The database's schema version (0: none yet).
fn found(client: &mut impl GenericClient) -> Result<u32, postgres::Error> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let v: Option<i32> = client
        .query_one("SELECT max(version) FROM schema_version", &[])?
        .get(0);
    Ok(v.map_or(0, |v| v.max(0) as u32))
}

/// The message for a database whose schema is newer than ours.
fn newer(found: u32, describe: &str) -> StoreError {
    StoreError::Schema(format!(
        "the PostgreSQL database {describe} has schema version {found}, newer than the {} this buildmail writes; upgrade buildmail on this host (every host on one database runs the same release)",
        current()
    ))
}

/// Checks that the database has exactly the schema this buildmail writes.
pub fn check(client: &mut impl GenericClient, describe: &str) -> Result<(), StoreError> {
    let v = found(client).map_err(super::engine)?;
    match v.cmp(&current()) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(newer(v, describe)),
        std::cmp::Ordering::Less if v == 0 => Err(StoreError::Schema(format!(
            "the PostgreSQL database {describe} has no buildmail schema yet: run `buildmail migrate`"
        ))),
        std::cmp::Ordering::Less => Err(StoreError::Schema(format!(
            "the PostgreSQL database {describe} has schema version {v}, older than the {} this buildmail writes: run `buildmail migrate`",
            current()
        ))),
    }
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The version before.
    pub from: u32,
    /// The migrations applied, by name (none: it was up to date).
    pub applied: Vec<String>,
    /// The version now.
    pub to: u32,
}

/// Applies every migration the database lacks, each in its own
/// transaction, under a lock so that two at once apply each once.
/// Refuses a database with a newer schema.
pub fn migrate(client: &mut postgres::Client, describe: &str) -> Result<Migrated, StoreError> {
    let mut tx = client.transaction().map_err(super::engine)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .map_err(super::engine)?;
    tx.batch_execute(VERSION_TABLE).map_err(super::engine)?;
    let from = found(&mut tx).map_err(super::engine)?;
    if from > current() {
        return Err(newer(from, describe));
    }
    let mut applied = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        if *version <= from {
            continue;
        }
        tx.batch_execute(sql).map_err(|e| {
            StoreError::Schema(format!(
                "migration {name} failed on {describe}: {}; nothing of it was applied",
                super::engine(e)
            ))
        })?;
        tx.execute(
            "INSERT INTO schema_version (version, name) VALUES ($1, $2)",
            &[&(*version as i32), name],
        )
        .map_err(super::engine)?;
        applied.push(name.to_string());
    }
    tx.commit().map_err(super::engine)?;
    Ok(Migrated {
        from,
        applied,
        to: current(),
    })
}
