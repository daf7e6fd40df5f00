//! The PostgreSQL pass of the suite: with `BUILDMAIL_TEST_POSTGRES` set
//! to a server's URL (`postgresql://postgres@127.0.0.1:5432/postgres`,
//! a user who may create databases), every [`super::farm::Farm`] gets a
//! fresh database of its own on that server ([`TestDb`], migrated by the
//! library's `migrate`, dropped with the farm) and `[database] url`
//! naming it, so the whole suite runs against PostgreSQL. `.ci/run`
//! starts a throwaway server for it (`.ci/postgres`).

use std::sync::atomic::{AtomicUsize, Ordering};

/// The variable naming the server.
pub const ENV: &str = "BUILDMAIL_TEST_POSTGRES";

/// The server's URL when the PostgreSQL pass runs.
pub fn server() -> Option<String> {
    std::env::var(ENV).ok().filter(|s| !s.is_empty())
}

/// `url` naming database `name` instead of its own.
pub fn with_database(url: &str, name: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after_scheme + i);
    let query = url[end..].find('?').map(|i| &url[end + i..]).unwrap_or("");
    format!("{}/{name}{query}", &url[..end])
}

/// Database `name` on the server at `server`, made empty (dropped first
/// when a run before left it); its URL.
pub fn empty_database(server: &str, name: &str) -> String {
    let mut admin = postgres::Client::connect(server, postgres::NoTls)
        .unwrap_or_else(|e| panic!("{ENV}: cannot connect to the test server: {e}"));
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    with_database(server, name)
}

/// A database of its own for one farm, dropped with it.
pub struct TestDb {
    server: String,
    name: String,
    /// Its URL (for `[database] url`).
    pub url: String,
}

impl TestDb {
    /// A fresh, migrated database on the test server, or `None` when the
    /// PostgreSQL pass does not run.
    pub fn create() -> Option<TestDb> {
        let db = TestDb::create_bare()?;
        let cfg = buildmail::config::Config::from_toml("", None).unwrap();
        buildmail::store::pg::PgStore::connect(&db.url, &cfg.database)
            .unwrap()
            .migrate()
            .unwrap();
        Some(db)
    }

    /// A fresh, migrated database on the server at `server` (a test's
    /// own server).
    pub fn create_on(server: &str) -> TestDb {
        let db = TestDb::create_bare_on(server.to_string());
        let cfg = buildmail::config::Config::from_toml("", None).unwrap();
        buildmail::store::pg::PgStore::connect(&db.url, &cfg.database)
            .unwrap()
            .migrate()
            .unwrap();
        db
    }

    /// A fresh database without buildmail's schema.
    pub fn create_bare() -> Option<TestDb> {
        Some(TestDb::create_bare_on(server()?))
    }

    /// A fresh database without buildmail's schema on `server`.
    pub fn create_bare_on(server: String) -> TestDb {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "bm_test_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let url = empty_database(&server, &name);
        TestDb { server, name, url }
    }

    /// A plain client of this database (to look at the tables).
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.server, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
