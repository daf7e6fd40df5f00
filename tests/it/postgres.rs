//! What only PostgreSQL can show: several hosts on one database. Two
//! `serve` processes taking the same mails, two stores committing one
//! build, two `outbox flush` and two `work` processes on one outbox and
//! one job queue; the schema check; the password never printed.
//!
//! These run in the PostgreSQL pass (`BUILDMAIL_TEST_POSTGRES`, see
//! `support::pg`); without it [`the_postgresql_pass_ran`] says it skipped
//! (and fails when `CI` is set).

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};

use buildmail::ingest::Outcome;
use buildmail::model::state::State;
use buildmail::store::{Commit, Committed};

use crate::support::farm::{fresh, key, log_subject, reply, upload_script, Farm};
use crate::support::keys::{clearsign, shared_ed25519};
use crate::support::lmtp::{Daemon, Session};
use crate::support::pg::{self, TestDb};
use crate::support::smtp::SmtpServer;

/// A farm on PostgreSQL, or `None` (said) when the pass does not run.
fn pg_farm(extra: &str) -> Option<Farm> {
    if pg::server().is_none() {
        eprintln!(
            "not here: {} is not set; this test runs in the PostgreSQL pass (postgres::the_postgresql_pass_ran)",
            pg::ENV
        );
        return None;
    }
    Some(Farm::with(extra))
}

/// A throwaway PostgreSQL server of `.ci/postgres`, stopped and removed
/// when dropped.
struct Throwaway {
    dir: tempfile::TempDir,
    /// Its URL (user `postgres`, database `postgres`).
    url: String,
}

impl Throwaway {
    fn script() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/postgres")
    }

    /// Starts one; the script's complaint when it cannot.
    fn start() -> Result<Throwaway, String> {
        Throwaway::start_with("")
    }

    /// Held while a server of this process starts or restarts: a start
    /// must not take the port of a server restarting beside it.
    fn ports() -> std::sync::MutexGuard<'static, ()> {
        static PORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());
        PORTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts one with more server options (`PG_OPTS` of the script).
    fn start_with(options: &str) -> Result<Throwaway, String> {
        let _ports = Throwaway::ports();
        let dir = tempfile::Builder::new()
            .prefix("buildmail-test-pg.")
            .tempdir()
            .map_err(|e| e.to_string())?;
        // The server runs as user `postgres`, which must reach it.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .map_err(|e| e.to_string())?;
        let out = std::process::Command::new(Throwaway::script())
            .env("PG_OPTS", options)
            .arg("start")
            .arg(dir.path().join("server"))
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(Throwaway { dir, url })
    }

    /// Stops it (its sessions cut off) and starts it again.
    fn restart(&self) {
        let _ports = Throwaway::ports();
        let out = std::process::Command::new(Throwaway::script())
            .arg("restart")
            .arg(self.dir.path().join("server"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let _ = std::process::Command::new(Throwaway::script())
            .arg("stop")
            .arg(self.dir.path().join("server"))
            .output();
    }
}

/// Starts a throwaway server and runs this integration binary again
/// against it (see [`the_postgresql_pass_ran`]).
fn run_the_postgresql_pass() {
    if std::env::var(pg::ENV).as_deref() == Ok("skip") {
        crate::support::skip(&format!("the PostgreSQL pass ({}=skip)", pg::ENV));
        return;
    }
    let server = match Throwaway::start() {
        Ok(server) => server,
        Err(why) => {
            crate::support::skip(&format!(
                "a PostgreSQL server for the PostgreSQL pass (`.ci/postgres start` failed: {why})"
            ));
            return;
        }
    };
    let (url, dir) = (server.url.clone(), server.dir.path());
    // The whole binary again (this test included: with the variable set
    // it checks the tables), its output kept in files.
    let out = dir.join("out");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(pg::ENV, &url)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::process::Stdio::from(
            std::fs::File::options().append(true).open(&out).unwrap(),
        ))
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(45 * 60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let summary: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("test result:") || l.contains("FAILED") || l.contains("panicked"))
        .collect();
    eprintln!("the PostgreSQL pass ({url}): {}", summary.join("\n"));
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!(
            "the integration suite failed against PostgreSQL ({s}):\n{}",
            text.lines()
                .rev()
                .take(200)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        ),
        None => panic!("the PostgreSQL pass did not end within 45 minutes"),
    }
    assert!(
        summary.iter().any(|l| l.starts_with("test result: ok.")),
        "the PostgreSQL pass printed no result:\n{text}"
    );
}

/// A failed build's log mail for `src` 1.0-1 (unstable, amd64), with a
/// Message-ID of its own; and the log it carries.
fn failed_log(src: &str) -> (Vec<u8>, Vec<u8>) {
    let spec = crate::support::logs::LogSpec::new(src, "1.0-1", "amd64", "unstable", "failed");
    let log = crate::support::logs::sbuild_log(&spec);
    let subject = crate::support::sbuild_subject("failed", src, "1.0-1", "amd64", "unstable");
    let mail = crate::support::with_message_id(
        &crate::support::log_mail_plain(&subject, &log),
        &crate::support::unique_message_id(),
    );
    (mail, log)
}

/// Sends `mail` (of `src`) over LMTP as an MTA does: again, 20 ms later,
/// while the answer is a temporary failure or the connection breaks, until
/// it is accepted (250); a permanent refusal fails the test. How many
/// tries were deferred.
fn send_until_accepted(socket: &std::path::Path, src: &str, mail: &[u8]) -> usize {
    let mut deferred = 0;
    loop {
        let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Session::connect(socket).send("buildd@example.org", "buildd@example.org", mail)
        }));
        match reply {
            Ok(r) if r.starts_with("250") => return deferred,
            Ok(r) => assert!(r.starts_with('4'), "only a temporary failure: {r}"),
            Err(_) => {}
        }
        deferred += 1;
        assert!(deferred < 1000, "{src} never accepted");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// One number from SQL.
fn count(farm: &Farm, sql: &str) -> i64 {
    let db = farm.pg.as_ref().expect("a PostgreSQL farm");
    db.client().query_one(sql, &[]).unwrap().get(0)
}

/// `n` log mails of `n` builds, each committed once: a mail, a build and
/// a history line each, none lost, none doubled.
fn each_log_once(farm: &Farm, n: usize) {
    for table in ["mails", "builds", "history"] {
        assert_eq!(
            count(farm, &format!("SELECT count(*) FROM {table}")),
            n as i64,
            "{table}"
        );
    }
}

/// The PostgreSQL pass ran: a farm's store is PostgreSQL and a mail
/// lands in its tables.
///
/// Run without `BUILDMAIL_TEST_POSTGRES` (a plain `cargo test`), this test
/// *is* the PostgreSQL pass: it starts a throwaway server with
/// `.ci/postgres` (initdb and pg_ctl as user `postgres`; Debian's
/// `postgresql` installed when missing and we are root) and runs this
/// whole integration binary again against it, every farm on a fresh
/// database. Without a server it can start (not root, no PostgreSQL) it
/// says it skipped, and fails when `CI` is set.
/// `BUILDMAIL_TEST_POSTGRES=skip` leaves the pass out the same way.
#[test]
fn the_postgresql_pass_ran() {
    if pg::server().is_none() {
        run_the_postgresql_pass();
        return;
    }
    let farm = pg_farm("").expect("the PostgreSQL pass");
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    assert!(
        store.describe().contains("PostgreSQL"),
        "{}",
        store.describe()
    );
    drop(store);
    farm.log("failed", "hello", "1.0-1", "amd64", "unstable");
    assert_eq!(count(&farm, "SELECT count(*) FROM builds"), 1);
    assert_eq!(count(&farm, "SELECT count(*) FROM mails"), 1);
    // The read-only view says what the store says.
    let state: String = farm
        .pg
        .as_ref()
        .unwrap()
        .client()
        .query_one(
            "SELECT state FROM builds_public WHERE source = 'hello'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(state, farm.state("hello").as_str());
}

/// The same mails delivered to two daemons on two hosts at once: each is
/// committed once (one dedup record, one history line per build), both
/// daemons answer every copy 250 (one committed it, the other found it
/// committed).
#[test]
fn two_daemons_taking_the_same_mails_commit_each_once() {
    let Some(a) = pg_farm("") else { return };
    let b = Farm::beside(&a);
    let da = Daemon::start(&a, false);
    let db = Daemon::start(&b, false);
    // The count: each daemon is sent every one of them, by four
    // sessions at a time.
    const N: usize = 5_000;
    const SESSIONS: usize = 4;
    let mails: Vec<Vec<u8>> = (0..N).map(|i| failed_log(&format!("pkg{i}")).0).collect();
    let mails = Arc::new(mails);
    let barrier = Arc::new(Barrier::new(2 * SESSIONS));
    let threads: Vec<_> = [da.socket.clone(), db.socket.clone()]
        .into_iter()
        .flat_map(|socket| (0..SESSIONS).map(move |t| (socket.clone(), t)))
        .map(|(socket, t)| {
            let mails = mails.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                mails
                    .iter()
                    .skip(t)
                    .step_by(SESSIONS)
                    .map(|m| {
                        Session::connect(&socket).send(
                            "buildd@example.org",
                            "buildd@example.org",
                            m,
                        )
                    })
                    .collect::<Vec<String>>()
            })
        })
        .collect();
    for t in threads {
        for reply in t.join().unwrap() {
            assert!(reply.starts_with("250"), "{reply}");
        }
    }
    assert!(da.stop() && db.stop());
    assert_eq!(count(&a, "SELECT count(*) FROM mails"), N as i64);
    assert_eq!(count(&a, "SELECT count(*) FROM builds"), N as i64);
    assert_eq!(
        count(&a, "SELECT count(*) FROM history"),
        N as i64,
        "one history line per mail, none doubled"
    );
    assert_eq!(count(&a, "SELECT count(*) FROM logs"), N as i64);
}

/// Two hosts committing a change to one build they both read: one is
/// written, the other is Stale and writes nothing; no update is lost.
#[test]
fn two_hosts_writing_one_build_one_wins_the_other_is_stale() {
    let Some(farm) = pg_farm("") else { return };
    farm.log("failed", "hello", "1.0-1", "amd64", "unstable");
    let k = key("hello", "unstable", "amd64");
    for round in 0..10 {
        let barrier = Arc::new(Barrier::new(2));
        let results: Vec<Committed> = ["fail", "manual"]
            .into_iter()
            .map(|note| {
                let cfg = farm.cfg.database.clone();
                let barrier = barrier.clone();
                let k = k.clone();
                std::thread::spawn(move || {
                    let store = buildmail::store::open(&cfg).unwrap();
                    let mut b = store.build(&k).unwrap().unwrap();
                    b.notes.push(format!("{note} {round}"));
                    barrier.wait();
                    store
                        .commit(&Commit {
                            build: Some(b),
                            ..Commit::default()
                        })
                        .unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let written = results
            .iter()
            .filter(|r| matches!(r, Committed::Written { .. }))
            .count();
        let stale = results
            .iter()
            .filter(|r| matches!(r, Committed::Stale(_)))
            .count();
        assert_eq!((written, stale), (1, 1), "round {round}: {results:?}");
    }
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let b = store.build(&k).unwrap().unwrap();
    // Every round's winner is on record: no update was lost.
    for round in 0..10 {
        let suffix = format!(" {round}");
        assert_eq!(
            b.notes.iter().filter(|n| n.ends_with(&suffix)).count(),
            1,
            "{:?}",
            b.notes
        );
    }
    // A record read before the winner's write is refused too.
    let mut old = b.clone();
    old.rev -= 1;
    assert!(matches!(
        store
            .commit(&Commit {
                build: Some(old),
                ..Commit::default()
            })
            .unwrap(),
        Committed::Stale(_)
    ));
}

/// Two `outbox flush` on two hosts at once: every mail reaches the SMTP
/// server once.
#[test]
fn two_hosts_flushing_one_outbox_send_each_mail_once() {
    let smtp = SmtpServer::start();
    let Some(a) = pg_farm(&format!(
        "[outbox]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\ntimeout = \"5s\"\n",
        smtp.url()
    )) else {
        return;
    };
    const N: usize = 30;
    for i in 0..N {
        let out = a.ingest_only(&crate::support::plain_mail(
            &format!("Question {i}"),
            "Is the buildd up?",
        ));
        assert!(matches!(out, Outcome::Forwarded { .. }), "{out:?}");
    }
    assert_eq!(count(&a, "SELECT count(*) FROM outbox"), N as i64);
    let b = Farm::beside(&a);
    let mut children: Vec<_> = [&a, &b]
        .iter()
        .map(|f| f.cli(&["outbox", "flush"]).spawn().unwrap())
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    smtp.wait_idle();
    let got = smtp.received();
    let mut by_subject: BTreeMap<String, usize> = BTreeMap::new();
    for r in &got {
        let text = String::from_utf8_lossy(&r.data);
        let subject = text
            .lines()
            .find(|l| l.starts_with("Subject: "))
            .unwrap_or("")
            .to_string();
        *by_subject.entry(subject).or_default() += 1;
    }
    assert_eq!(by_subject.len(), N, "{by_subject:?}");
    assert!(by_subject.values().all(|n| *n == 1), "{by_subject:?}");
    assert_eq!(count(&a, "SELECT count(*) FROM outbox"), 0);
}

/// Two `work` on two hosts at once over one job queue: every upload
/// command runs once.
#[test]
fn two_hosts_working_one_job_queue_run_each_upload_once() {
    let Some(mut a) = pg_farm("") else { return };
    let ran = a.root().join("ran");
    let script = upload_script(&a, &format!("echo \"$1\" >> {ran:?}\nsleep 0.2"));
    a.reconfigure(&script);
    const N: usize = 6;
    // The logs first: delivering one runs the worker in the test.
    for i in 0..N {
        a.log(
            "successful",
            &format!("up{i}"),
            "1.0-1",
            "amd64",
            "unstable",
        );
    }
    for i in 0..N {
        let src = format!("up{i}");
        let changes = a.build_files(&src, "1.0-1", "amd64");
        let signed = clearsign(shared_ed25519(), changes.as_bytes(), fresh());
        let out = a.ingest_only(&reply(
            &log_subject("successful", &src, "1.0-1", "amd64"),
            &signed,
            None,
        ));
        assert!(
            crate::support::farm::applied_state(&out) == State::Built
                || crate::support::farm::applied_state(&out) == State::Uploaded,
            "{out:?}"
        );
    }
    assert_eq!(count(&a, "SELECT count(*) FROM jobs"), N as i64);
    let b = Farm::beside(&a);
    let mut children: Vec<_> = [&a, &b]
        .iter()
        .map(|f| f.cli(&["work"]).spawn().unwrap())
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    let lines = std::fs::read_to_string(&ran).unwrap();
    let mut runs: Vec<&str> = lines.lines().collect();
    runs.sort();
    let before = runs.len();
    runs.dedup();
    assert_eq!((before, runs.len()), (N, N), "{lines}");
    assert_eq!(count(&a, "SELECT count(*) FROM jobs"), 0);
    for i in 0..N {
        assert_eq!(a.state(&format!("up{i}")), State::Uploaded);
    }
}

/// A database without buildmail's schema, or with a newer one, is
/// refused at open with what to do; `migrate` refuses a newer one too.
#[test]
fn a_missing_or_newer_schema_is_refused() {
    let Some(farm) = pg_farm("") else { return };
    // A database nobody migrated.
    let bare = TestDb::create_bare().unwrap();
    let mut cfg = farm.cfg.database.clone();
    cfg.url = Some(bare.url.clone());
    let e = buildmail::store::open(&cfg).err().expect("refused");
    assert!(e.to_string().contains("run `buildmail migrate`"), "{e}");
    assert!(e.is_permanent());
    // `deliver` into it: an operator must act, so the MTA is told so
    // (78, EX_CONFIG, as for a data directory that cannot be used), and
    // what to run.
    let mut unmigrated = Farm::beside(&farm);
    unmigrated.toml = unmigrated
        .toml
        .replace(&farm.pg.as_ref().unwrap().url, &bare.url);
    let out = unmigrated.deliver_binary(
        &crate::support::plain_mail("Question", "Is the buildd up?"),
        &[],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{said}");
    assert!(said.contains("run `buildmail migrate`"), "{said}");
    // A log mail too (its log is stored before the database is opened):
    // the same answer, not a deferral for days.
    let (log, _) = failed_log("hello");
    let out = unmigrated.deliver_binary(&log, &[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{said}");
    assert!(said.contains("run `buildmail migrate`"), "{said}");
    // check-config asks the database, and says what to do.
    let out = unmigrated.cli(&["check-config"]).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("the database cannot be used now")
            && text.contains("run `buildmail migrate`"),
        "{text}"
    );
    // A newer schema: written by a later buildmail.
    farm.pg
        .as_ref()
        .unwrap()
        .client()
        .execute(
            "INSERT INTO schema_version (version, name) VALUES (99, '0099_later')",
            &[],
        )
        .unwrap();
    let e = buildmail::store::open(&farm.cfg.database)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("schema version 99, newer"), "{e}");
    let out = farm.cli(&["status"]).output().unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!(
            "newer than the {} this buildmail writes",
            buildmail::store::pg::schema::current()
        )),
        "{said}"
    );
    let out = farm.cli(&["migrate"]).output().unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("schema version 99"), "{said}");
}

/// The URL's password appears nowhere: not in `check-config`, `status`,
/// `migrate`, the daemon's log, nor an error.
#[test]
fn the_password_is_never_printed() {
    let Some(farm) = pg_farm("") else { return };
    let url = farm.pg.as_ref().unwrap().url.clone();
    // The test server trusts loopback: the password is not checked, only
    // carried.
    let with_password = url.replacen("://postgres@", "://postgres:Sekr1tPass@", 1);
    assert_ne!(
        with_password, url,
        "the test server URL names the user postgres"
    );
    let mut secret = Farm::beside(&farm);
    secret.toml = secret.toml.replace(&url, &with_password);
    secret
        .toml
        .push_str("\n[log]\nlevel = \"info\"\ntarget = \"stderr\"\n");
    secret.cfg = buildmail::config::Config::from_toml(&secret.toml, None).unwrap();
    let mut said = String::new();
    for args in [&["check-config"][..], &["status"], &["migrate"], &["list"]] {
        let out = secret.cli(args).output().unwrap();
        said.push_str(&String::from_utf8_lossy(&out.stdout));
        said.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    // The daemon's log: it names its database when it starts.
    let socket = secret.root().join("lmtp.sock");
    let child = secret
        .cli(&["serve", "--lmtp", &format!("unix:{}", socket.display())])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !socket.exists() && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("database postgresql://postgres:***@"), "{log}");
    said.push_str(&log);
    assert!(said.contains("postgres:***@"), "{said}");
    assert!(!said.contains("Sekr1tPass"), "{said}");
    // An unreachable server: the error names the database, not the password.
    let mut cfg = farm.cfg.database.clone();
    cfg.url = Some("postgresql://u:Sekr1tPass@127.0.0.1:1/nowhere".into());
    let e = buildmail::store::open(&cfg).err().expect("unreachable");
    assert!(!e.to_string().contains("Sekr1tPass"), "{e}");
    assert!(e.to_string().contains("u:***@127.0.0.1:1/nowhere"), "{e}");
    assert!(!e.is_permanent(), "a server that is down is worth retrying");
}

/// A database that cannot be reached (down, restarting): `deliver` exits
/// 75 (EX_TEMPFAIL) so that the MTA keeps the mail and tries again; once
/// the database answers, the same mail is committed.
#[test]
fn a_database_that_cannot_be_reached_defers_the_mail() {
    let Some(farm) = pg_farm("") else { return };
    let url = farm.pg.as_ref().unwrap().url.clone();
    let mut down = Farm::beside(&farm);
    down.toml = down
        .toml
        .replace(&url, "postgresql://postgres@127.0.0.1:1/nowhere");
    down.cfg = buildmail::config::Config::from_toml(&down.toml, None).unwrap();
    let (mail, _) = failed_log("hello");
    let out = down.deliver_binary(&mail, &[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{said}");
    assert!(said.contains("127.0.0.1:1/nowhere"), "{said}");
    assert_eq!(count(&farm, "SELECT count(*) FROM mails"), 0);
    // The daemon started while the database is down says so and exits
    // with an error (systemd's Restart=on-failure starts it again),
    // rather than taking mail it could not commit.
    let mut serve = down
        .cli(&["serve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while serve.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = serve.kill();
            panic!("serve went on without its database");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = serve.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("cannot connect to the PostgreSQL database")
            && said.contains("127.0.0.1:1/nowhere"),
        "{said}"
    );
    // The MTA's next try, with the database up.
    let out = farm.deliver_binary(&mail, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count(&farm, "SELECT count(*) FROM mails"), 1);
    assert_eq!(count(&farm, "SELECT count(*) FROM builds"), 1);
}

/// A log accepted on one host is served by another that shares nothing
/// with it but the database (its own data directory, no log archive of
/// its own): the blobs are in the database, the records name no path.
#[test]
fn a_log_accepted_on_one_host_is_served_by_another() {
    let Some(a) = pg_farm("") else { return };
    let (mail, log) = failed_log("hello");
    assert!(a.deliver_binary(&mail, &[]).status.success());
    let mut b = Farm::beside(&a);
    let b_data = b.root().join("data");
    std::fs::create_dir_all(&b_data).unwrap();
    b.toml = b.toml.replace(
        &format!("{:?}", a.root().join("data")),
        &format!("{b_data:?}"),
    );
    b.cfg = buildmail::config::Config::from_toml(&b.toml, None).unwrap();
    assert_ne!(b.cfg.database.log_archive, a.cfg.database.log_archive);
    let out = b.cli(&["log", "hello"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, log, "byte-exact from the other host");
    assert!(!b.cfg.database.log_archive.exists(), "nothing local on B");
}

/// One of two daemons on one database killed with SIGKILL in the middle
/// of a burst: every mail it answered 250 is committed; the client sends
/// what it did not answer to the other host; each mail ends up committed
/// exactly once.
#[test]
fn a_daemon_killed_mid_burst_loses_nothing_and_doubles_nothing() {
    let Some(a) = pg_farm("") else { return };
    let b = Farm::beside(&a);
    let da = Daemon::start(&a, false);
    let db = Daemon::start(&b, false);
    const N: usize = 40;
    let mails: Vec<(String, Vec<u8>)> = (0..N)
        .map(|i| {
            let src = format!("burst{i}");
            let mail = failed_log(&src).0;
            (src, mail)
        })
        .collect();
    let pid = da.child.id() as i32;
    let socket_a = da.socket.clone();
    let sender = {
        let mails = mails.clone();
        std::thread::spawn(move || {
            // What host A answered 250, in order; it stops at the first
            // mail A did not answer (killed).
            let mut answered = Vec::new();
            for (src, mail) in &mails {
                let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    Session::connect(&socket_a).send(
                        "buildd@example.org",
                        "buildd@example.org",
                        mail,
                    )
                }));
                match done {
                    Ok(reply) if reply.starts_with("250") => answered.push(src.clone()),
                    _ => break,
                }
            }
            answered
        })
    };
    // Kill A once some mails went through.
    let start = std::time::Instant::now();
    while count(&a, "SELECT count(*) FROM mails") < 5 {
        assert!(start.elapsed() < std::time::Duration::from_secs(60));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let answered = sender.join().unwrap();
    assert!(answered.len() < N, "A was killed before the end");
    let store = buildmail::store::open(&a.cfg.database).unwrap();
    for src in &answered {
        assert!(
            store
                .build(&key(src, "unstable", "amd64"))
                .unwrap()
                .is_some(),
            "{src} was answered 250 and must be committed"
        );
    }
    drop(store);
    // The MTA retries what A did not answer (all of it again, as an MTA
    // would after a dropped connection) at B.
    for (src, mail) in mails.iter().filter(|(s, _)| !answered.contains(s)) {
        let reply =
            Session::connect(&db.socket).send("buildd@example.org", "buildd@example.org", mail);
        assert!(reply.starts_with("250"), "{src}: {reply}");
    }
    assert!(db.stop());
    each_log_once(&a, N);
}

/// The database drops every connection of the daemon again and again in
/// the middle of a burst (as a restart does): mails whose commit was cut
/// off are answered 4xx and come again; none is lost, none is committed
/// twice.
#[test]
fn connections_dropped_mid_burst_lose_nothing_and_double_nothing() {
    let Some(a) = pg_farm("") else { return };
    let da = Daemon::start(&a, false);
    const N: usize = 30;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let killed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let killer = {
        let (stop, killed) = (stop.clone(), killed.clone());
        let mut client = a.pg.as_ref().unwrap().client();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let rows = client
                    .query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                         WHERE datname = current_database() AND application_name = 'buildmail'",
                        &[],
                    )
                    .unwrap();
                killed.fetch_add(rows.len(), std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(30));
            }
        })
    };
    let mut deferred = 0;
    for i in 0..N {
        let src = format!("drop{i}");
        let (mail, _) = failed_log(&src);
        deferred += send_until_accepted(&da.socket, &src, &mail);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    killer.join().unwrap();
    assert!(da.stop());
    assert!(
        killed.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the daemon's connections were dropped"
    );
    eprintln!("{deferred} deliveries deferred");
    each_log_once(&a, N);
}

/// In the PostgreSQL pass: a throwaway server of the test's own (which
/// it may stop or restart without the rest of the pass seeing it), a farm
/// on a fresh database of it, and a daemon of that farm.
fn on_a_server_of_its_own() -> Option<(Throwaway, Farm, Daemon)> {
    if pg::server().is_none() {
        eprintln!("not here: this test runs in the PostgreSQL pass");
        return None;
    }
    let server = Throwaway::start().expect("a server of the test's own");
    let farm = Farm::with_database(Some(TestDb::create_on(&server.url)), "");
    let daemon = Daemon::start(&farm, false);
    Some((server, farm, daemon))
}

/// PostgreSQL itself restarted in the middle of a burst (a server of this
/// test's own, so that the rest of the pass does not see it): the mails
/// whose commit it cut off are answered 4xx and come again, as an MTA
/// sends them; none is lost, none is committed twice.
#[test]
fn postgresql_restarted_mid_burst_loses_nothing_and_doubles_nothing() {
    let Some((server, a, da)) = on_a_server_of_its_own() else {
        return;
    };
    const N: usize = 40;
    let server = Arc::new(server);
    let mut restarter = None;
    let mut deferred = 0;
    for i in 0..N {
        if i == N / 4 {
            let server = server.clone();
            restarter = Some(std::thread::spawn(move || server.restart()));
        }
        let src = format!("restart{i}");
        let (mail, _) = failed_log(&src);
        deferred += send_until_accepted(&da.socket, &src, &mail);
    }
    restarter.unwrap().join().unwrap();
    assert!(da.stop());
    eprintln!("{deferred} deliveries deferred while PostgreSQL restarted");
    each_log_once(&a, N);
}

/// `sslmode=require` insists on TLS: against a server without it (the
/// test server), the connection is refused rather than made in clear;
/// the default (`prefer`) connects.
#[test]
fn sslmode_require_refuses_a_server_without_tls() {
    let Some(farm) = pg_farm("") else { return };
    let url = farm.pg.as_ref().unwrap().url.clone();
    let mut cfg = farm.cfg.database.clone();
    cfg.url = Some(format!("{url}?sslmode=require"));
    let e = buildmail::store::open(&cfg)
        .err()
        .expect("refused in clear");
    assert!(e.to_string().to_lowercase().contains("tls"), "{e}");
    cfg.url = Some(format!("{url}?sslmode=prefer"));
    assert!(buildmail::store::open(&cfg).is_ok());
}

/// TLS for real: a server of its own (`.ci/postgres`) with a certificate
/// of a private CA. `sslmode=require` with that CA in
/// `database.tls_ca_file` connects (and migrates); without it the
/// server's certificate is refused, so nothing goes in clear.
#[test]
fn tls_to_a_server_with_a_private_ca() {
    let Some(farm) = pg_farm("") else { return };
    let have = |tool: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("openssl") || !have("runuser") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but openssl or runuser is missing (.ci/run installs openssl)"
        );
        eprintln!("skipped: openssl or runuser is missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sh = |script: &str| {
        let out = std::process::Command::new("sh")
            .arg("-ec")
            .arg(script)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    sh(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca \
           -keyout ca.key -out ca.crt 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj /CN=localhost \
           -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
           -days 2 -extfile san.ext -out server.crt 2>/dev/null
        chmod 755 .
        chown postgres: server.key server.crt && chmod 600 server.key",
    );
    let server = Throwaway::start_with(&format!(
        "-c ssl=on -c ssl_cert_file={d}/server.crt -c ssl_key_file={d}/server.key",
        d = d.display()
    ))
    .expect("a server of the test's own");
    let mut cfg = farm.cfg.database.clone();
    cfg.url = Some(format!("{}?sslmode=require", server.url));
    let url = cfg.url.clone().unwrap();
    // The Mozilla roots alone do not know the private CA: refused.
    let e = buildmail::store::pg::PgStore::connect(&url, &cfg)
        .unwrap()
        .migrate()
        .expect_err("an unknown issuer is refused");
    assert!(e.to_string().contains("certificate"), "{e}");
    cfg.tls_ca_file = Some(d.join("ca.crt"));
    let m = buildmail::store::pg::PgStore::connect(&url, &cfg)
        .unwrap()
        .migrate()
        .unwrap();
    assert_eq!(m.to, buildmail::store::pg::schema::current());
    assert!(buildmail::store::open(&cfg).is_ok());
}

/// Several databases on one server migrated at the same moment (two farms'
/// hosts upgrading together; the suite's own farms): the read-only role
/// belongs to the whole server, and each migration finds it made or makes
/// it, none fails.
#[test]
fn databases_on_one_server_are_migrated_at_once() {
    if pg::server().is_none() {
        eprintln!("not here: this test runs in the PostgreSQL pass");
        return;
    }
    // A fresh server of the test's own: no role made yet.
    let server = Throwaway::start().expect("a server of the test's own");
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (barrier, url) = (barrier.clone(), server.url.clone());
            std::thread::spawn(move || {
                let db = TestDb::create_bare_on(url);
                let cfg = buildmail::config::Config::from_toml("", None).unwrap();
                let store = buildmail::store::pg::PgStore::connect(&db.url, &cfg.database).unwrap();
                barrier.wait();
                let migrated = store.migrate();
                (db, migrated.map(|m| m.to))
            })
        })
        .collect();
    for t in threads {
        let (_db, migrated) = t.join().unwrap();
        assert_eq!(migrated.unwrap(), buildmail::store::pg::schema::current());
    }
}

/// One daemon on PostgreSQL, its writers side by side (the commit gate
/// open): eight LMTP sessions at once deliver log mails of one build,
/// signed replies to it (some refused), log mails of other builds of the
/// same suite and architecture, and a refused reply to each of 16 more
/// builds (each refusal answered by an error reply while fewer than
/// `replies.max_errors_per_hour` went out). Written as the race: every mail is
/// answered 250 (a write conflict is decided again, never answered), is
/// committed exactly once, the build's history is one unbroken chain of
/// the transition table's moves ending in its state, the error replies
/// stop at the cap, and the counts per state (and today's row of them)
/// are a recount of the builds.
#[test]
fn one_daemon_many_sessions_on_one_build_commit_each_mail_once() {
    use crate::support::keys::SignSpec;
    use crate::support::lmtp::Lmtp;
    use buildmail::model::state::{Target, TRANSITIONS};

    const CAP: i64 = 3;
    let Some(farm) = pg_farm(&format!("[replies]\nmax_errors_per_hour = {CAP}\n")) else {
        return;
    };
    let d = Daemon::start(&farm, false);
    let log_of = |src: &str, status: &str, n: usize| {
        let mut spec =
            crate::support::logs::LogSpec::new(src, "1.0-1", "amd64", "unstable", status);
        spec.filler_lines = n % 7;
        let subject = crate::support::sbuild_subject(status, src, "1.0-1", "amd64", "unstable");
        crate::support::with_message_id(
            &crate::support::log_mail_plain(&subject, &crate::support::logs::sbuild_log(&spec)),
            &crate::support::unique_message_id(),
        )
    };
    // Eight sessions at once, every mail answered 250.
    const SESSIONS: usize = 8;
    let burst = |mails: Vec<Vec<u8>>| {
        let mails = Arc::new(mails);
        let barrier = Arc::new(Barrier::new(SESSIONS));
        let threads: Vec<_> = (0..SESSIONS)
            .map(|t| {
                let (mails, barrier, socket) = (mails.clone(), barrier.clone(), d.socket.clone());
                std::thread::spawn(move || {
                    let mut c = Lmtp::unix(&socket);
                    barrier.wait();
                    mails
                        .iter()
                        .skip(t)
                        .step_by(SESSIONS)
                        .map(|m| c.deliver(m))
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        for t in threads {
            for answer in t.join().unwrap() {
                assert!(answer.starts_with("250"), "answered {answer}");
            }
        }
    };
    // The race build, and builds whose replies below are refused.
    const REFUSED: usize = 16;
    let mut before = vec![log_of("race", "attempted", 0)];
    before.extend((0..REFUSED).map(|k| log_of(&format!("refuse{k}"), "attempted", k)));
    burst(before);

    // The burst: on the race build, logs and signed replies in turn;
    // beside them, new builds of the same suite and architecture.
    const ON_BUILD: usize = 60;
    const OTHERS: usize = 120;
    let statuses = ["attempted", "failed", "successful", "given-back"];
    let commands = ["fail\nbroken on this buildd\n", "give-back\n", "retry\n"];
    let subject = log_subject("attempted", "race", "1.0-1", "amd64");
    let signed_at = crate::support::farm::wall_now() - 60;
    let mut mails: Vec<Vec<u8>> = Vec::new();
    for i in 0..ON_BUILD {
        mails.push(if i % 2 == 0 {
            log_of("race", statuses[(i / 2) % statuses.len()], i)
        } else {
            // Each signature of its own (made a second apart).
            reply(
                &subject,
                &clearsign(
                    shared_ed25519(),
                    crate::support::farm::bind(&subject, commands[(i / 2) % commands.len()])
                        .as_bytes(),
                    SignSpec::at(signed_at - i as i64),
                ),
                None,
            )
        });
        for j in 0..OTHERS / ON_BUILD {
            let n = i * (OTHERS / ON_BUILD) + j;
            mails.push(log_of(
                &format!("other{n}"),
                statuses[n % statuses.len()],
                n,
            ));
        }
    }
    // A command each of those builds refuses (upload-rem: only from
    // Uploaded), each answered while the error replies are under the cap:
    // first in the burst, two in each session, so that they race.
    for k in 0..REFUSED {
        let subject = log_subject("attempted", &format!("refuse{k}"), "1.0-1", "amd64");
        mails.insert(
            k,
            reply(
                &subject,
                &clearsign(
                    shared_ed25519(),
                    crate::support::farm::bind(&subject, "upload-rem\n").as_bytes(),
                    SignSpec::at(signed_at),
                ),
                None,
            ),
        );
    }
    let total = mails.len();
    burst(mails);
    assert!(d.stop());

    // Each mail committed once.
    assert_eq!(
        count(&farm, "SELECT count(*) FROM mails"),
        (total + 1 + REFUSED) as i64
    );
    assert_eq!(
        count(&farm, "SELECT count(*) FROM builds"),
        (OTHERS + 1 + REFUSED) as i64
    );
    for k in 0..REFUSED {
        let lines = store_history(&farm, &format!("refuse{k}"));
        assert_eq!(
            lines.iter().map(|l| l.event.as_str()).collect::<Vec<_>>(),
            ["log:attempted", "refused:command"],
            "refuse{k}"
        );
    }
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let k = key("race", "unstable", "amd64");
    let lines = store.history(&k).unwrap();
    assert_eq!(
        lines.len(),
        ON_BUILD + 1,
        "one history line per mail to the build: {lines:#?}"
    );
    // One unbroken chain of the table's moves, ending in the build's state.
    let mut at = None;
    for (i, l) in lines.iter().enumerate() {
        if let (Some(was), Some(from)) = (at, l.from) {
            assert_eq!(from, was, "line {i} starts from another state: {l:?}");
        }
        if let (Some(from), Some(to)) = (l.from, l.to) {
            if from != to {
                let row = TRANSITIONS
                    .iter()
                    .find(|r| r.event.name() == l.event)
                    .unwrap_or_else(|| panic!("line {i}: {} moved the build: {l:?}", l.event));
                assert!(
                    row.from.contains(&from) && row.to == Target::To(to),
                    "line {i}: {from} → {to} by {} is not in the table",
                    l.event
                );
            }
        }
        at = l.to.or(at);
    }
    let record = store.build(&k).unwrap().unwrap();
    assert_eq!(
        Some(record.state),
        at,
        "the build is where its history ends"
    );
    // One revision per mail at least (explanations of failed logs add theirs).
    assert!(record.rev as usize > ON_BUILD, "revision {}", record.rev);
    // The error replies stop at the cap (each refusal counted once).
    let refused = lines
        .iter()
        .filter(|l| l.event.starts_with("refused:"))
        .count() as i64;
    assert!(
        refused > 0,
        "the burst was to refuse some replies to the build"
    );
    assert_eq!(
        count(
            &farm,
            &format!(
                "SELECT count(*) FROM replies_sent WHERE address = '{}'",
                crate::support::farm::ADMIN
            )
        ),
        CAP
    );
    // The counts per state are a recount, and today's row says the same.
    let db = farm.pg.as_ref().unwrap();
    let recount: BTreeMap<String, i64> = db
        .client()
        .query(
            "SELECT state, count(*) FROM builds WHERE dist = 'unstable' AND arch = 'amd64' GROUP BY state",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let counts = store.state_counts().unwrap();
    assert_eq!(counts.len(), 1, "{counts:?}");
    let kept: BTreeMap<String, i64> = counts[0]
        .counts
        .iter()
        .map(|(s, n)| (s.as_str().to_string(), *n as i64))
        .collect();
    assert_eq!(kept, recount);
    let days = store.daily_counts("unstable", "amd64", 0).unwrap();
    assert_eq!(
        days.last().map(|d| &d.counts),
        Some(&counts[0].counts),
        "today's counts: {days:?}"
    );
}

/// The history of `src` (unstable, amd64).
fn store_history(farm: &Farm, src: &str) -> Vec<buildmail::model::HistoryEntry> {
    buildmail::store::open(&farm.cfg.database)
        .unwrap()
        .history(&key(src, "unstable", "amd64"))
        .unwrap()
}

/// `import` on PostgreSQL: its commits do not wait for the WAL each, and
/// its flush (here one, at the end: less than `import_flush_every` of
/// mail) is one synchronous write that makes all of them durable; every
/// mail is committed.
#[test]
fn import_makes_its_commits_durable_at_its_flush() {
    let Some(farm) = pg_farm("") else { return };
    const N: usize = 20;
    let mut mbox = Vec::new();
    for i in 0..N {
        mbox.extend_from_slice(b"From buildd@example.org Mon Dec  7 12:00:00 2026\n");
        mbox.extend_from_slice(&failed_log(&format!("imp{i}")).0);
        mbox.extend_from_slice(b"\n");
    }
    let path = farm.root().join("mails.mbox");
    std::fs::write(&path, &mbox).unwrap();
    let out = farm
        .cli(&["import", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count(&farm, "SELECT count(*) FROM mails"), N as i64);
    assert_eq!(count(&farm, "SELECT count(*) FROM builds"), N as i64);
    assert_eq!(
        count(
            &farm,
            "SELECT coalesce(max(value), 0) FROM meta WHERE name = 'flushes'"
        ),
        1,
        "one synchronous flush for the whole import"
    );
}

/// The database down under a running daemon: `status` still shows the
/// daemon (it runs, and defers mail), says the database does not answer
/// and why, and exits 1; `--json` carries both.
#[test]
fn status_shows_the_daemon_while_its_database_is_down() {
    let Some((server, farm, daemon)) = on_a_server_of_its_own() else {
        return;
    };
    let up = farm.cli(&["status"]).output().unwrap();
    assert_eq!(
        up.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    drop(server); // stopped, its directory removed
    let out = farm.cli(&["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}{err}");
    assert!(text.contains("daemon:        running (pid"), "{text}");
    assert!(
        text.contains("database:      the PostgreSQL database postgresql://")
            && text.contains("not answering: "),
        "{text}"
    );
    assert!(
        !text.contains("mails:"),
        "counts of a database that did not answer: {text}"
    );
    let out = farm.cli(&["status", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["daemon"]["pid"].as_u64().is_some(), "{json}");
    assert!(
        json["database_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{json}"
    );
    drop(daemon);
}

/// A database the server does not have: the mail is deferred (75: the
/// MTA keeps it), and the error says what to do — create it or correct
/// the URL — not "try again later", and says "database error" once.
#[test]
fn a_database_that_does_not_exist_says_to_create_it() {
    let Some(farm) = pg_farm("") else { return };
    let url = farm.pg.as_ref().unwrap().url.clone();
    let (server, _) = url.rsplit_once('/').unwrap();
    let mut missing = Farm::beside(&farm);
    missing.toml = missing
        .toml
        .replace(&url, &format!("{server}/no_such_database_here"));
    missing.cfg = buildmail::config::Config::from_toml(&missing.toml, None).unwrap();
    let (mail, _) = failed_log("hello");
    let out = missing.deliver_binary(&mail, &[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{said}");
    assert!(said.contains("no_such_database_here"), "{said}");
    assert!(said.contains("create it"), "{said}");
    assert!(!said.contains("try again later"), "{said}");
    assert_eq!(said.matches("database error").count(), 1, "{said}");
}

/// `check-config` asks a PostgreSQL database whether it can be used (a
/// sled database it leaves alone: opening it would take its lock), and
/// says that the log and mail directories are not used with it.
#[test]
fn check_config_asks_the_postgresql_database() {
    let Some(farm) = pg_farm("") else { return };
    let out = farm.cli(&["check-config"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "database: the PostgreSQL database answers, and its schema is this buildmail's"
        ),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("database.log_archive: ") && l.contains("(not used: ")),
        "{text}"
    );
    // A server that is not there: usable, with a warning naming it.
    let url = farm.pg.as_ref().unwrap().url.clone();
    let mut down = Farm::beside(&farm);
    down.toml = down
        .toml
        .replace(&url, "postgresql://postgres@127.0.0.1:1/nowhere");
    let out = down.cli(&["check-config", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = json["warnings"].to_string();
    assert!(
        warnings.contains("the database cannot be used now")
            && warnings.contains("127.0.0.1:1/nowhere"),
        "{json}"
    );
}
