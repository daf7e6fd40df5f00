//! The PostgreSQL store (issue 22) against sled, as real processes, in
//! one run:
//!
//! 1. `import` of a generated mbox of ~30 KB log mails (successful builds,
//!    each new) and LMTP mails/s at 8 connections (each 250 only once the
//!    mail is durable), on sled and on PostgreSQL;
//! 2. 1,000,000 build records (`BUILDMAIL_BENCH_PG_BUILDS`) committed
//!    through `Store::commit` in batches of 10,000 from two threads, as
//!    `benches/pages.rs` makes them (100,000 sources × 10 architectures; one build in 20
//!    Needs-Build on each architecture, so `queue` lists about 5,000),
//!    then `info`, `queue` and `take` through the CLI, with the daemon
//!    running and without it: p50 and p99, on each backend;
//! 3. two hosts on one PostgreSQL database: two `buildmail serve`
//!    processes with data directories and sockets of their own and one
//!    `[database] url`, every mail sent to both at once over LMTP (4
//!    connections each): log mails, then signed `.changes` replies (each
//!    an upload job, run by an upload command that appends to a file) and
//!    questions (each forwarded to the admins through the outbox, to a
//!    real SMTP listener on loopback). Throughput, then from the database,
//!    the file and the listener: mails committed twice, effects run twice,
//!    anything lost. All must be 0.
//!
//! The server: `BUILDMAIL_BENCH_POSTGRES` (a URL of a user who may create
//! databases), else a throwaway PostgreSQL 15 started here
//! (`/usr/lib/postgresql/15/bin`, run as user `postgres` when root, in a
//! temporary directory, on a free port of 127.0.0.1; fsync on, the
//! defaults otherwise) and stopped at the end.
//!
//! `cargo bench --bench postgres`. Sizes: `BUILDMAIL_BENCH_PG_IMPORT`
//! (mails in the mbox, default 2,000), `BUILDMAIL_BENCH_PG_LMTP` (default
//! 2,000), `BUILDMAIL_BENCH_PG_BUILDS` (default 1,000,000; 0 leaves part 2
//! out), `BUILDMAIL_BENCH_PG_RUNS` (each latency, default 100),
//! `BUILDMAIL_BENCH_PG_FILL_THREADS` (threads committing the builds,
//! default 2),
//! `BUILDMAIL_BENCH_PG_HOSTS_MAILS` (log mails of part 3, default 2,000;
//! a quarter as many `.changes` and as many questions);
//! `BUILDMAIL_BENCH_PG_BACKENDS` (default `sled,postgres`),
//! `BUILDMAIL_BENCH_PG_PARTS` (default `123`). The machine's
//! load average is printed before and after each part.

#[path = "common/bench.rs"]
#[allow(dead_code)]
mod bench;
#[path = "../tests/it/support/mod.rs"]
#[allow(dead_code, unused_imports)]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::{du, env_usize, loadavg, log_mail, pct};
use buildmail::model::state::State;
use buildmail::model::{BuildKey, BuildRecord, HistoryEntry};
use buildmail::store::Commit;
use support::keys::{clearsign, shared_ed25519, SignSpec};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

const ARCHES: [&str; 10] = [
    "amd64", "arm64", "armel", "armhf", "i386", "mips64el", "ppc64el", "riscv64", "s390x",
    "loong64",
];

fn wall_now() -> i64 {
    support::farm::wall_now()
}

// ---------------------------------------------------------------------
// The server

/// The PostgreSQL server of the run: a throwaway one, or the one named by
/// `BUILDMAIL_BENCH_POSTGRES`.
struct Postgres {
    /// The server's URL (a user who may create databases).
    url: String,
    /// The throwaway server's directory (stopped and removed at the end).
    own: Option<PathBuf>,
    made: AtomicUsize,
}

impl Postgres {
    fn start() -> Postgres {
        if let Some(url) = std::env::var("BUILDMAIL_BENCH_POSTGRES")
            .ok()
            .filter(|u| !u.is_empty())
        {
            println!("PostgreSQL: the server of BUILDMAIL_BENCH_POSTGRES");
            return Postgres {
                url,
                own: None,
                made: AtomicUsize::new(0),
            };
        }
        assert!(
            Path::new(PG_BIN).join("initdb").exists(),
            "no PostgreSQL 15 in {PG_BIN}: apt-get install postgresql-15, or set BUILDMAIL_BENCH_POSTGRES"
        );
        let dir = std::env::temp_dir().join(format!("buildmail-bench-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            let ok = Command::new("chown")
                .args(["postgres:postgres", dir.to_str().unwrap()])
                .status()
                .expect("chown");
            assert!(ok.success(), "chown of {} to postgres", dir.display());
        }
        let as_postgres = |tool: &str| {
            let mut c = if root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"])
                    .arg(Path::new(PG_BIN).join(tool));
                c
            } else {
                Command::new(Path::new(PG_BIN).join(tool))
            };
            c.current_dir(&dir);
            c
        };
        let data = dir.join("data");
        let out = as_postgres("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = as_postgres("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("server.log"))
            .arg("-w")
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200",
                dir.display()
            ))
            .arg("start")
            .output()
            .expect("pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
        );
        let version = Command::new(Path::new(PG_BIN).join("postgres"))
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        println!("PostgreSQL: a throwaway server ({version}) on 127.0.0.1:{port}, fsync on");
        Postgres {
            url: format!("postgresql://postgres@127.0.0.1:{port}/postgres"),
            own: Some(dir),
            made: AtomicUsize::new(0),
        }
    }

    /// A fresh, migrated database; its URL.
    fn database(&self, what: &str) -> String {
        let name = format!(
            "bm_bench_{what}_{}_{}",
            std::process::id(),
            self.made.fetch_add(1, Ordering::Relaxed)
        );
        let url = support::pg::empty_database(&self.url, &name);
        let cfg = buildmail::config::Config::from_toml("", None).unwrap();
        buildmail::store::pg::PgStore::connect(&url, &cfg.database)
            .unwrap()
            .migrate()
            .unwrap();
        url
    }

    /// Drops the database of `url` (made by [`Postgres::database`]).
    fn drop_database(&self, url: &str) {
        let name = url.rsplit('/').next().unwrap_or_default();
        let mut admin = postgres::Client::connect(&self.url, postgres::NoTls).expect("connect");
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
    }

    /// The database's size on disk.
    fn size(&self, url: &str) -> u64 {
        let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
        let n: i64 = c
            .query_one("SELECT pg_database_size(current_database())", &[])
            .unwrap()
            .get(0);
        n as u64
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let Some(dir) = &self.own else { return };
        let root = unsafe { libc::geteuid() } == 0;
        let mut c = if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"])
                .arg(Path::new(PG_BIN).join("pg_ctl"));
            c
        } else {
            Command::new(Path::new(PG_BIN).join("pg_ctl"))
        };
        let _ = c
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(dir);
    }
}

// ---------------------------------------------------------------------
// A host: configuration, data directory, sockets, daemon

/// One host's farm: its own data directory and sockets; the database is
/// sled in the data directory or the PostgreSQL `url`.
struct Host {
    root: PathBuf,
    config: PathBuf,
}

/// What the hosts of part 3 share: the build directory and upload queue
/// (as over NFS), the upload command and the SMTP listener.
struct Shared {
    build: PathBuf,
    queue: PathBuf,
    upload_script: PathBuf,
    smtp_url: String,
}

impl Host {
    fn new(root: &Path, url: Option<&str>, shared: Option<&Shared>) -> Host {
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("admins.asc"), shared_ed25519().armored_public()).unwrap();
        let url = url.map_or(String::new(), |u| format!("url = {u:?}\n"));
        let effects = match shared {
            Some(s) => format!(
                "[upload]\nbuild_dir = {:?}\nqueue_dir = {:?}\ntimeout = \"20s\"\ncommand = [{:?}, \"{{changes}}\", \"{{dist}}\"]\n\
                 [outbox]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\ntimeout = \"10s\"\n",
                s.build, s.queue, s.upload_script, s.smtp_url
            ),
            None => String::new(),
        };
        let toml = format!(
            "data_dir = {data:?}\nfrom_address = \"buildd@example.org\"\n\
             [database]\n{url}\
             [signatures]\nkeyrings = [{:?}]\n\
             [replies]\nknown_senders = [\"{}\"]\n\
             {effects}\
             [serve]\nlmtp = [\"unix:{}\"]\n",
            data.join("admins.asc"),
            support::farm::ADMIN,
            root.join("lmtp.sock").display()
        );
        let config = root.join("buildmail.toml");
        std::fs::write(&config, toml).unwrap();
        Host {
            root: root.to_path_buf(),
            config,
        }
    }

    fn cfg(&self) -> buildmail::config::Config {
        buildmail::config::Config::load(Some(&self.config)).expect("config")
    }

    fn lmtp(&self) -> PathBuf {
        self.root.join("lmtp.sock")
    }

    fn cli(&self, args: &[&str]) -> Command {
        bench::buildmail(&self.config, args)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.cli(args).output().expect("run buildmail")
    }

    /// Starts `buildmail serve` (`BENCH_HOST` set to `name` for the upload
    /// command) and waits until its control socket answers.
    fn serve(&self, name: &str) -> Daemon {
        let log = std::fs::File::create(self.root.join("serve.log")).unwrap();
        let child = self
            .cli(&["serve"])
            .env("BENCH_HOST", name)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start serve");
        let control = self.root.join("data/control.sock");
        let start = Instant::now();
        while !matches!(
            buildmail::serve::client::connect(&control, Duration::from_secs(5)),
            buildmail::serve::client::Connect::Daemon(_)
        ) {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "serve did not start: {}",
                std::fs::read_to_string(self.root.join("serve.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon(child)
    }
}

/// A running `buildmail serve`, stopped with SIGTERM when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------
// Mails

/// `n` new ~30 KB successful log mails named by `tag`.
fn log_mails(tag: &str, n: usize) -> Vec<Vec<u8>> {
    let pid = std::process::id();
    (0..n)
        .map(|i| {
            log_mail(
                &format!("{tag}{i:06}"),
                "successful",
                300,
                &format!("bench-{tag}{i}-{pid}@example.org"),
            )
        })
        .collect()
}

/// The mails as an mbox (mboxrd quoting of `From ` lines).
fn mbox(mails: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in mails {
        out.extend_from_slice(b"From buildd@example.org Mon Dec  7 12:00:00 2026\n");
        for line in m.split_inclusive(|&b| b == b'\n') {
            let unquoted = line.iter().position(|&b| b != b'>').unwrap_or(line.len());
            if line[unquoted..].starts_with(b"From ") {
                out.push(b'>');
            }
            out.extend_from_slice(line);
        }
        if !m.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

/// Sends every mail over `conns` LMTP connections to each socket at once
/// (every mail to every socket); panics unless each is answered 250.
/// Wall seconds.
fn lmtp_to(sockets: &[PathBuf], conns: usize, mails: Arc<Vec<Vec<u8>>>) -> f64 {
    let start = Instant::now();
    let mut threads = Vec::new();
    for socket in sockets {
        let next = Arc::new(AtomicUsize::new(0));
        for _ in 0..conns {
            let (mails, next, socket) = (mails.clone(), next.clone(), socket.clone());
            threads.push(std::thread::spawn(move || {
                let mut c = support::lmtp::Lmtp::unix(&socket);
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(m) = mails.get(i) else { break };
                    let r = c.deliver(m);
                    assert!(r.starts_with("250"), "{}: {r}", socket.display());
                }
            }));
        }
    }
    for t in threads {
        t.join().expect("LMTP client");
    }
    start.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------------
// Part 1: import and LMTP

fn part1(pg: &Postgres, backends: &[String]) {
    let n_import = env_usize("BUILDMAIL_BENCH_PG_IMPORT", 2_000);
    let n_lmtp = env_usize("BUILDMAIL_BENCH_PG_LMTP", 2_000);
    println!("\n## 1. import and LMTP (load average {})\n", loadavg());
    let imported = log_mails("imp", n_import);
    let bytes = mbox(&imported);
    let dir = tempfile::tempdir().unwrap();
    let mbox_path = dir.path().join("mails.mbox");
    std::fs::write(&mbox_path, &bytes).unwrap();
    println!(
        "| backend | import: {n_import} mails ({:.1} MB) | mails/s | LMTP, 8 connections: {n_lmtp} mails | mails/s |\n|---|---|---|---|---|",
        bytes.len() as f64 / 1e6
    );
    for backend in backends {
        let root = dir.path().join(backend);
        let url = (backend == "postgres").then(|| pg.database("p1"));
        let host = Host::new(&root, url.as_deref(), None);
        let start = Instant::now();
        let out = host.run(&["import", mbox_path.to_str().unwrap()]);
        let secs = start.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "import on {backend}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let status = host.run(&["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
        assert_eq!(
            v["builds"].as_u64(),
            Some(n_import as u64),
            "import on {backend}: not every mail made its build ({})",
            String::from_utf8_lossy(&status.stdout)
        );
        let daemon = host.serve(backend);
        let mails = Arc::new(
            log_mails(&format!("lm{backend}"), n_lmtp)
                .into_iter()
                .collect::<Vec<_>>(),
        );
        let lmtp_secs = lmtp_to(&[host.lmtp()], 8, mails);
        drop(daemon);
        println!(
            "| {backend} | {secs:.2} s | {:.0} | {lmtp_secs:.2} s | {:.0} |",
            n_import as f64 / secs,
            n_lmtp as f64 / lmtp_secs
        );
    }
    println!("\nload average after part 1: {}", loadavg());
}

// ---------------------------------------------------------------------
// Part 2: 1,000,000 builds

/// Build record `i` of architecture number `a`: one in 20 Needs-Build.
fn record(i: usize, a: usize, now: i64) -> (BuildRecord, HistoryEntry) {
    let key = BuildKey {
        dist: "unstable".into(),
        arch: ARCHES[a].into(),
        source: format!("src{i:06}"),
    };
    let state = match (i + a) % 20 {
        0 => State::NeedsBuild,
        16 => State::BuildAttempted,
        17 => State::DepWait,
        18 => State::Building,
        19 => State::Failed,
        _ => State::Installed,
    };
    let mut r = BuildRecord::new(key, &format!("1.{i}-1"), state, now);
    r.source = Some(buildmail::model::ArchiveSource {
        version: r.version.clone(),
        section: Some(["libs", "devel", "utils", "misc"][i % 4].into()),
        priority: Some(["required", "optional", "extra"][i % 3].into()),
        maintainer: Some(format!(
            "Maintainer {} <m{}@example.org>",
            i % 3000,
            i % 3000
        )),
        built_before: i % 2 == 0,
        ..Default::default()
    });
    match state {
        State::DepWait => r.depends = Some(format!("libdep{} (>= 2)", i % 100)),
        State::Building => r.taken_by = Some(format!("buildd-{}-{}", ARCHES[a], i % 4)),
        _ => {}
    }
    let h = HistoryEntry {
        time: now,
        from: None,
        to: Some(state),
        version: r.version.clone(),
        event: "sync:new-version".into(),
        message_id: None,
        signer: None,
        note: Some("generated".into()),
        imported: None,
    };
    (r, h)
}

/// `builds` records committed through the store, 10,000 a commit, from
/// `threads` threads at once (each its own sources); seconds.
fn fill(cfg: &buildmail::config::Config, builds: usize, threads: usize) -> f64 {
    let start = Instant::now();
    let now = wall_now();
    let store = buildmail::store::open(&cfg.database).expect("store");
    let sources = builds.div_ceil(ARCHES.len());
    let per = sources.div_ceil(threads.max(1));
    let commit = |batch: Vec<(BuildRecord, HistoryEntry)>| {
        let c = store
            .commit(&Commit {
                now,
                synced: batch,
                ..Commit::default()
            })
            .expect("commit");
        assert!(
            matches!(c, buildmail::store::Committed::Written { .. }),
            "a batch of new builds was not written: {c:?}"
        );
    };
    std::thread::scope(|s| {
        for t in 0..threads.max(1) {
            let commit = &commit;
            s.spawn(move || {
                let mut batch = Vec::with_capacity(10_000);
                for i in t * per..((t + 1) * per).min(sources) {
                    for a in 0..ARCHES.len() {
                        if i * ARCHES.len() + a >= builds {
                            break;
                        }
                        batch.push(record(i, a, now));
                        if batch.len() == 10_000 {
                            commit(std::mem::take(&mut batch));
                        }
                    }
                }
                if !batch.is_empty() {
                    commit(batch);
                }
            });
        }
    });
    store.flush().expect("flush");
    start.elapsed().as_secs_f64()
}

/// `runs` runs of the CLI, each timed from process start to exit.
fn timed(host: &Host, runs: usize, args: impl Fn(usize) -> Vec<String>) -> (f64, f64) {
    let mut t: Vec<Duration> = (0..runs)
        .map(|i| {
            let a = args(i);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let start = Instant::now();
            let out = host.run(&a);
            let took = start.elapsed();
            assert!(
                out.status.success(),
                "{a:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            took
        })
        .collect();
    t.sort();
    (pct(&t, 50), pct(&t, 99))
}

fn part2(pg: &Postgres, backends: &[String]) {
    let builds = env_usize("BUILDMAIL_BENCH_PG_BUILDS", 1_000_000);
    let runs = env_usize("BUILDMAIL_BENCH_PG_RUNS", 100);
    let threads = env_usize("BUILDMAIL_BENCH_PG_FILL_THREADS", 2);
    if builds == 0 {
        return;
    }
    println!(
        "\n## 2. {builds} builds: `info`, `queue`, `take` (load average {})\n",
        loadavg()
    );
    let sources = builds.div_ceil(ARCHES.len());
    let mut rows = Vec::new();
    for backend in backends {
        // Each backend's farm is removed before the next is made (the
        // sled database of 1,000,000 builds is 2.7 GB).
        let dir = tempfile::tempdir().unwrap();
        let url = (backend == "postgres").then(|| pg.database("p2"));
        let host = Host::new(&dir.path().join(backend), url.as_deref(), None);
        let cfg = host.cfg();
        let secs = fill(&cfg, builds, threads);
        let size = match &url {
            Some(u) => pg.size(u),
            None => du(&cfg.database.path),
        };
        println!(
            "{backend}: {builds} builds committed in {secs:.1} s ({:.0} builds/s, {threads} threads), database {:.0} MB",
            builds as f64 / secs,
            size as f64 / 1e6
        );
        if let Some(u) = &url {
            // How PostgreSQL reads the queue (before autovacuum's ANALYZE
            // of the fresh tables, as the commands below meet it).
            let mut c = postgres::Client::connect(u, postgres::NoTls).unwrap();
            let plan: Vec<String> = c
                .query(
                    "EXPLAIN ANALYZE SELECT b.record, b.rev FROM queue q
                     JOIN builds b ON b.source = q.source AND b.dist = q.dist AND b.arch = q.arch
                     WHERE q.dist = 'unstable' AND q.arch = 'amd64'",
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect();
            println!("<!-- the queue's query:\n{}\n-->", plan.join("\n"));
        }
        let queue = host.run(&["queue", "--suite", "unstable", "--arch", "amd64"]);
        assert!(queue.status.success());
        let queued = queue.stdout.iter().filter(|&&b| b == b'\n').count();
        let info = |i: usize| {
            vec![
                "info".to_string(),
                format!("src{:06}", (i * 7919) % sources),
            ]
        };
        let queue_args = |_| {
            ["queue", "--suite", "unstable", "--arch", "amd64"]
                .map(String::from)
                .to_vec()
        };
        let take = |_| {
            [
                "take",
                "--suite",
                "unstable",
                "--arch",
                "amd64",
                "--builder",
                "bench",
            ]
            .map(String::from)
            .to_vec()
        };
        for daemon in [false, true] {
            let _d = daemon.then(|| host.serve(backend));
            let with = if daemon { "daemon" } else { "no daemon" };
            let (p50, p99) = timed(&host, runs, info);
            rows.push(format!(
                "| {backend} | {with} | `info <source>` | {p50:.1} ms | {p99:.1} ms |"
            ));
            let (p50, p99) = timed(&host, runs, queue_args);
            rows.push(format!(
                "| {backend} | {with} | `queue` ({queued} builds) | {p50:.1} ms | {p99:.1} ms |"
            ));
            let (p50, p99) = timed(&host, runs, take);
            rows.push(format!(
                "| {backend} | {with} | `take` | {p50:.1} ms | {p99:.1} ms |"
            ));
        }
        println!("load average: {}", loadavg());
        if let Some(u) = &url {
            pg.drop_database(u);
        }
    }
    println!("\n| backend | | command ({runs} runs) | p50 | p99 |\n|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    println!("\nload average after part 2: {}", loadavg());
}

// ---------------------------------------------------------------------
// Part 3: two hosts, one database

/// Writes a build's files into `dir` and returns a real `.changes` for
/// them (unsigned), as `Farm::build_files` does.
fn build_files(dir: &Path, src: &str, ver: &str, arch: &str) -> String {
    use sha2::Digest;
    let files = [
        (
            format!("{src}_{ver}_{arch}.deb"),
            format!("!<arch>\n{src} {ver} payload\n"),
        ),
        (
            format!("{src}_{ver}_{arch}.buildinfo"),
            format!("Format: 1.0\nSource: {src}\nVersion: {ver}\n"),
        ),
    ];
    let (mut sha1, mut sha256, mut md5) = (String::new(), String::new(), String::new());
    for (name, content) in &files {
        std::fs::write(dir.join(name), content).unwrap();
        let n = content.len();
        let h1 = hex::encode(sha1collisiondetection::Sha1CD::digest(content));
        let h256 = hex::encode(sha2::Sha256::digest(content));
        let h5 = hex::encode(md5::Md5::digest(content));
        sha1.push_str(&format!(" {h1} {n} {name}\n"));
        sha256.push_str(&format!(" {h256} {n} {name}\n"));
        md5.push_str(&format!(" {h5} {n} devel optional {name}\n"));
    }
    support::farm::changes(src, ver, arch, "unstable", &sha1, &sha256, &md5)
}

fn part3(pg: &Postgres) {
    let n_logs = env_usize("BUILDMAIL_BENCH_PG_HOSTS_MAILS", 2_000);
    let n_uploads = (n_logs / 4).max(1);
    let n_questions = (n_logs / 4).max(1);
    println!(
        "\n## 3. two hosts, one database (load average {})\n",
        loadavg()
    );
    let dir = tempfile::tempdir().unwrap();
    let smtp = support::smtp::SmtpServer::start();
    let runs_file = dir.path().join("uploads");
    let script = dir.path().join("upload.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$(basename \"$1\") $BENCH_HOST\" >> {:?}\necho uploaded\n",
            runs_file
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let shared = Shared {
        build: dir.path().join("build"),
        queue: dir.path().join("queue"),
        upload_script: script,
        smtp_url: smtp.url(),
    };
    std::fs::create_dir_all(&shared.build).unwrap();
    let url = pg.database("p3");
    let hosts = [
        Host::new(&dir.path().join("a"), Some(&url), Some(&shared)),
        Host::new(&dir.path().join("b"), Some(&url), Some(&shared)),
    ];
    let daemons: Vec<Daemon> = [hosts[0].serve("a"), hosts[1].serve("b")].into();
    let sockets: Vec<PathBuf> = hosts.iter().map(Host::lmtp).collect();

    // The log mails, to both hosts.
    let logs = Arc::new(log_mails("tw", n_logs));
    let secs_logs = lmtp_to(&sockets, 4, logs);

    // The signed `.changes` of the first builds, and questions.
    let pid = std::process::id();
    let signed_at = wall_now() - 60;
    let farm_files = |src: &str| build_files(&shared.build, src, "1.0-1", "amd64");
    let mut effects: Vec<Vec<u8>> = (0..n_uploads)
        .map(|i| {
            let src = format!("tw{i:06}");
            let changes = farm_files(&src);
            let signed = clearsign(
                shared_ed25519(),
                changes.as_bytes(),
                SignSpec::at(signed_at),
            );
            support::farm::reply(
                &support::farm::log_subject("successful", &src, "1.0-1", "amd64"),
                &signed,
                None,
            )
        })
        .collect();
    effects.extend((0..n_questions).map(|i| {
        support::question_mail(
            &format!("bench question {i:06} of {pid}"),
            "Hello admins, is the build farm alive?\n",
        )
    }));
    let secs_effects = lmtp_to(&sockets, 4, Arc::new(effects));

    // Until every effect ran (or 5 minutes passed).
    let uploads = || -> Vec<String> {
        std::fs::read_to_string(&runs_file)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    };
    let questions = |smtp: &support::smtp::SmtpServer| -> Vec<String> {
        smtp.received()
            .iter()
            .filter_map(|m| {
                let text = String::from_utf8_lossy(&m.data);
                let at = text.find("bench question ")?;
                Some(text[at..at + "bench question 000000".len()].to_string())
            })
            .collect()
    };
    let start = Instant::now();
    loop {
        let u: BTreeSet<String> = uploads()
            .into_iter()
            .map(|l| l.rsplit_once(' ').map_or(l.clone(), |(c, _)| c.to_string()))
            .collect();
        let q: BTreeSet<String> = questions(&smtp).into_iter().collect();
        if u.len() >= n_uploads && q.len() >= n_questions {
            break;
        }
        if start.elapsed() > Duration::from_secs(300) {
            println!(
                "effects not done after 300 s: {} of {n_uploads} uploads, {} of {n_questions} mails",
                u.len(),
                q.len()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let secs_drain = start.elapsed().as_secs_f64();
    // A late second run would show now.
    std::thread::sleep(Duration::from_secs(3));
    drop(daemons);
    smtp.wait_idle();

    // --- counts ---
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let one = |db: &mut postgres::Client, sql: &str| -> i64 {
        db.query_one(sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    };
    let total = (n_logs + n_uploads + n_questions) as i64;
    let mails_rows = one(&mut db, "SELECT count(*) FROM mails");
    let logs_rows = one(&mut db, "SELECT count(*) FROM logs WHERE source LIKE 'tw%'");
    let logs_distinct = one(
        &mut db,
        "SELECT count(DISTINCT source) FROM logs WHERE source LIKE 'tw%'",
    );
    let builds = one(
        &mut db,
        "SELECT count(*) FROM builds WHERE source LIKE 'tw%'",
    );
    // The same event twice on one build: a mail's commit applied twice.
    let doubled_events = one(
        &mut db,
        "SELECT count(*) FROM (SELECT source, arch, event, version FROM history \
         WHERE source LIKE 'tw%' GROUP BY source, arch, event, version HAVING count(*) > 1) d",
    );
    let signatures = one(&mut db, "SELECT count(*) FROM signatures");
    let jobs_left = one(&mut db, "SELECT count(*) FROM jobs");
    let outbox_rows = one(&mut db, "SELECT count(*) FROM outbox");
    let mut states: BTreeMap<String, i64> = BTreeMap::new();
    for r in db
        .query(
            "SELECT state, count(*) FROM builds WHERE source LIKE 'tw%' GROUP BY state",
            &[],
        )
        .unwrap()
    {
        states.insert(r.get(0), r.get(1));
    }
    let runs = uploads();
    let by_host = |h: &str| {
        runs.iter()
            .filter(|l| l.ends_with(&format!(" {h}")))
            .count()
    };
    let (on_a, on_b) = (by_host("a"), by_host("b"));
    let up: Vec<String> = runs
        .iter()
        .map(|l| {
            l.rsplit_once(' ')
                .map_or(l.as_str(), |(c, _)| c)
                .to_string()
        })
        .collect();
    let up_set: BTreeSet<&String> = up.iter().collect();
    let q = questions(&smtp);
    let q_set: BTreeSet<&String> = q.iter().collect();
    let received = smtp.received();
    let mut bodies: Vec<&[u8]> = received.iter().map(|m| m.data.as_slice()).collect();
    bodies.sort();
    let all_mails = bodies.len();
    bodies.dedup();
    let other_mails = all_mails - q.len();

    let rate = |n: usize, s: f64| n as f64 / s;
    println!(
        "| phase | mails | to each host | seconds | distinct mails/s | deliveries/s (both hosts) |\n|---|---|---|---|---|---|"
    );
    println!(
        "| log mails | {n_logs} | 4 connections | {secs_logs:.2} | {:.0} | {:.0} |",
        rate(n_logs, secs_logs),
        rate(2 * n_logs, secs_logs)
    );
    println!(
        "| signed `.changes` + questions | {} | 4 connections | {secs_effects:.2} | {:.0} | {:.0} |",
        n_uploads + n_questions,
        rate(n_uploads + n_questions, secs_effects),
        rate(2 * (n_uploads + n_questions), secs_effects)
    );
    println!("\nthe effects were all done {secs_drain:.1} s after the last mail was answered\n");
    println!("| count | expected | found | doubled | lost |\n|---|---|---|---|---|");
    let row = |what: &str, expected: i64, found: i64, distinct: i64| {
        println!(
            "| {what} | {expected} | {found} | {} | {} |",
            found - distinct,
            (expected - distinct).max(0)
        );
    };
    row(
        "mails committed (dedup records)",
        total,
        mails_rows,
        mails_rows.min(total),
    );
    row(
        "log mails archived (logs table)",
        n_logs as i64,
        logs_rows,
        logs_distinct,
    );
    row("builds", n_logs as i64, builds, builds);
    println!("| the same history event twice on one build | 0 | {doubled_events} | {doubled_events} | – |");
    println!(
        "| signatures recorded | {n_uploads} | {signatures} | {} | {} |",
        (signatures - n_uploads as i64).max(0),
        (n_uploads as i64 - signatures).max(0)
    );
    row(
        "uploads run (upload command)",
        n_uploads as i64,
        up.len() as i64,
        up_set.len() as i64,
    );
    row(
        "questions forwarded (SMTP listener)",
        n_questions as i64,
        q.len() as i64,
        q_set.len() as i64,
    );
    println!(
        "| other mails at the listener | – | {other_mails} | {} (byte-identical) | – |",
        all_mails - bodies.len()
    );
    println!(
        "\nuploads run by host a: {on_a}, by host b: {on_b}; jobs left in the table: {jobs_left}; outbox rows: {outbox_rows}; states of the builds: {states:?}"
    );
    println!("\nload average after part 3: {}", loadavg());
}

fn main() {
    println!(
        "# PostgreSQL and sled: {} cores, load average at the start {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    let backends: Vec<String> = std::env::var("BUILDMAIL_BENCH_PG_BACKENDS")
        .unwrap_or_else(|_| "sled,postgres".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let pg = Postgres::start();
    let parts = std::env::var("BUILDMAIL_BENCH_PG_PARTS").unwrap_or_else(|_| "123".into());
    if parts.contains('1') {
        part1(&pg, &backends);
    }
    if parts.contains('2') {
        part2(&pg, &backends);
    }
    if parts.contains('3') {
        part3(&pg);
    }
    println!("\nload average at the end: {}", loadavg());
    let _ = std::io::stdout().flush();
}
