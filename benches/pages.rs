//! The status pages (issue 21) under load, as real processes, in one run:
//!
//! * a database of 1,000,000 build records (`BUILDMAIL_BENCH_PAGES_BUILDS`)
//!   made through the `Store` trait, as a sync would commit them: 100,000
//!   sources × 10 architectures, 10,000 a commit; on amd64 the first
//!   50,000 sources Need-Build (the queue page), elsewhere one build in 20
//!   each Build-Attempted (explained, 50 causes), Dep-Wait, Building,
//!   Failed, Needs-Build, the rest Installed; 3,000 maintainers;
//! * one source page and its JSON, with `wrk` at 32 connections:
//!   requests/s and p99;
//! * the first page of the queue of 50,000 builds, likewise;
//! * the log viewer on a 50 MB log: time to the first byte, the whole
//!   page, and the daemon's resident memory while it streams;
//! * LMTP mails/s at 8 connections, alone and while `wrk` loads the
//!   source page at 32 connections;
//!
//! the pages with `serve.http_workers` 1 (the default on two cores) and 2.
//!
//! `cargo bench --bench pages` (needs `wrk`: `apt-get install wrk`).
//! `BUILDMAIL_BENCH_PAGES_SECONDS` (each wrk run, default 15) and
//! `BUILDMAIL_BENCH_PAGES_LMTP_MAILS` (default 2,000) set the sizes. The
//! machine's load average is printed before and after.

#[path = "common/bench.rs"]
#[allow(dead_code)]
mod bench;
#[path = "../tests/it/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::{du, env_usize, loadavg, log_mail};
use buildmail::model::state::State;
use buildmail::model::{ArchiveSource, BuildKey, BuildRecord, Explanation, HistoryEntry};
use buildmail::store::Commit;
use support::lmtp::Lmtp;
use support::logs::{sbuild_log, LogSpec};

const BIN: &str = env!("CARGO_BIN_EXE_buildmail");

const ARCHES: [&str; 10] = [
    "amd64", "arm64", "armel", "armhf", "i386", "mips64el", "ppc64el", "riscv64", "s390x",
    "loong64",
];

/// The source whose page is loaded.
const SOURCE: &str = "src012345";

/// Build record `i` of architecture number `a`.
fn record(i: usize, a: usize, now: i64) -> (BuildRecord, HistoryEntry) {
    let arch = ARCHES[a];
    let key = BuildKey {
        dist: "unstable".into(),
        arch: arch.into(),
        source: format!("src{i:06}"),
    };
    let state = if arch == "amd64" {
        if i < 50_000 {
            State::NeedsBuild
        } else {
            State::Installed
        }
    } else {
        match (i + a) % 20 {
            15 => State::NeedsBuild,
            16 => State::BuildAttempted,
            17 => State::DepWait,
            18 => State::Building,
            19 => State::Failed,
            _ => State::Installed,
        }
    };
    let m = i % 3000;
    let mut r = BuildRecord::new(key, &format!("1.{i}-1"), state, now);
    r.source = Some(ArchiveSource {
        version: r.version.clone(),
        section: Some(["libs", "devel", "utils", "misc"][i % 4].into()),
        priority: Some(["required", "optional", "extra"][i % 3].into()),
        maintainer: Some(format!("Maintainer {m} <m{m}@example.org>")),
        uploaders: (i % 7 == 0).then(|| format!("Uploader <u{}@example.org>", i % 500)),
        built_before: i % 2 == 0,
        ..ArchiveSource::default()
    });
    match state {
        State::BuildAttempted | State::Failed => {
            r.builder = Some(format!("buildd-{arch}-{}", i % 4));
            r.fail_stage = Some("build".into());
            r.explanation = Some(Explanation {
                summary: format!("attempted (fail-stage build): missing header h{}.h", i % 50),
                matched_line: Some(format!(
                    "x.c:1:10: fatal error: h{}.h: No such file or directory",
                    i % 50
                )),
                problem_kind: Some("missing-c-header".into()),
                problem_key: Some(format!("h{}.h", i % 50)),
                ..Explanation::default()
            });
        }
        State::DepWait => r.depends = Some(format!("libdep{} (>= 2)", i % 100)),
        State::Building => r.taken_by = Some(format!("buildd-{arch}-{}", i % 4)),
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

/// What `wrk` measured.
struct Wrk {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: String,
}

fn ms(v: &str) -> f64 {
    let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = n.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1e3,
        "ms" => n,
        "s" => n * 1e3,
        "m" => n * 60e3,
        _ => f64::NAN,
    }
}

fn wrk(url: &str, conns: usize, seconds: usize) -> Wrk {
    let out = Command::new("wrk")
        .args([
            // wrk wants at least one connection per thread.
            &format!("-t{}", conns.clamp(1, 2)),
            &format!("-c{conns}"),
            &format!("-d{seconds}s"),
            "--latency",
            "--timeout",
            "30s",
            url,
        ])
        .output()
        .expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    Wrk {
        rps: field("Requests/sec:").parse().unwrap_or(f64::NAN),
        p50_ms: ms(&field("50%")),
        p99_ms: ms(&field("99%")),
        errors: text
            .lines()
            .filter(|l| l.contains("Non-2xx") || l.contains("Socket errors"))
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// GET `path`: (time to the first byte, time to the end, bytes, status line).
fn timed_get(addr: &str, path: &str) -> (Duration, Duration, usize, String) {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = vec![0u8; 256 << 10];
    let n = s.read(&mut buf).unwrap();
    let first = start.elapsed();
    let status = String::from_utf8_lossy(&buf[..n.min(15)]).into_owned();
    let mut total = n;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    (first, start.elapsed(), total, status)
}

/// Sends `mails` over `conns` LMTP connections; mails/s.
fn lmtp(socket: &Path, conns: usize, mails: Arc<Vec<Vec<u8>>>) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let (mails, next, socket) = (mails.clone(), next.clone(), socket.to_path_buf());
            std::thread::spawn(move || {
                let mut c = Lmtp::unix(&socket);
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(m) = mails.get(i) else { break };
                    let r = c.deliver(m);
                    assert!(r.starts_with("250"), "{r}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    mails.len() as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let builds = env_usize("BUILDMAIL_BENCH_PAGES_BUILDS", 1_000_000);
    let seconds = env_usize("BUILDMAIL_BENCH_PAGES_SECONDS", 15);
    let lmtp_mails = env_usize("BUILDMAIL_BENCH_PAGES_LMTP_MAILS", 2_000);
    println!(
        "## pages: {} cores, load average at the start {}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("lmtp.sock");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config_path = dir.path().join("buildmail.toml");
    let configure = |workers: usize| {
        std::fs::write(
            &config_path,
            format!(
                "data_dir = {:?}\n[limits]\nmax_message_size = \"128MiB\"\n[serve]\nlmtp = [\"unix:{}\"]\nhttp = \"{addr}\"\nhttp_workers = {workers}\n",
                dir.path().join("data"),
                socket.display()
            ),
        )
        .unwrap();
    };
    configure(1);
    let cfg = buildmail::config::Config::load(Some(&config_path)).expect("config");
    let now = support::farm::wall_now();

    // --- the database ---
    let start = Instant::now();
    {
        let store = buildmail::store::open(&cfg.database).expect("store");
        let sources = builds.div_ceil(ARCHES.len());
        let mut batch = Vec::with_capacity(10_000);
        for i in 0..sources {
            for a in 0..ARCHES.len() {
                if i * ARCHES.len() + a >= builds {
                    break;
                }
                batch.push(record(i, a, now));
                if batch.len() == 10_000 {
                    store
                        .commit(&Commit {
                            now,
                            synced: std::mem::take(&mut batch),
                            ..Commit::default()
                        })
                        .expect("commit");
                }
            }
        }
        if !batch.is_empty() {
            store
                .commit(&Commit {
                    now,
                    synced: batch,
                    ..Commit::default()
                })
                .expect("commit");
        }
        store.flush().expect("flush");
        // The page's source gets a real log; the 50 MB log is a failed
        // build of its own, explained.
        let ingest = buildmail::ingest::Ingest::new(&*store, &cfg);
        ingest
            .mail(&log_mail(
                SOURCE,
                "attempted",
                200,
                "bench-page-log@example.org",
            ))
            .expect("log");
        let mut spec = LogSpec::new("biglog", "1.0-1", "amd64", "unstable", "attempted");
        spec.filler_lines = 560_000;
        let big = sbuild_log(&spec);
        println!("<!-- big log {:.1} MB -->", big.len() as f64 / 1e6);
        let subject = support::sbuild_subject("attempted", "biglog", "1.0-1", "amd64", "unstable");
        let raw = support::with_message_id(
            &support::log_mail_mime_gzip_raw(&subject, &support::archive::gz(&big)),
            "bench-big-log@example.org",
        );
        ingest.mail(&raw).expect("big log");
        store.flush().expect("flush");
        buildmail::effects::explain::run_pending(
            buildmail::effects::StoreAccess::Held(&*store),
            &cfg,
            &buildmail::time::SystemClock,
        )
        .expect("explain");
        store.flush().expect("flush");
    }
    println!(
        "{builds} build records made through the Store trait in {:.1} s; database {:.0} MB\n",
        start.elapsed().as_secs_f64(),
        du(&cfg.database.path) as f64 / 1e6
    );

    let pidn = std::process::id();
    let mails = |tag: &str| -> Arc<Vec<Vec<u8>>> {
        Arc::new(
            (0..lmtp_mails)
                .map(|i| {
                    log_mail(
                        &format!("{tag}{i:05}"),
                        "successful",
                        300,
                        &format!("bench-{tag}{i}-{pidn}@example.org"),
                    )
                })
                .collect(),
        )
    };
    let url = |p: &str| format!("http://{addr}{p}");
    let mut alone = 0.0;
    for workers in [1, 2] {
        configure(workers);
        let (pid, mut daemon) = start_serve(&config_path, &addr);
        for p in [
            format!("/package/{SOURCE}"),
            format!("/api/package/{SOURCE}"),
            "/queue/unstable/amd64".to_string(),
        ] {
            let (_, _, _, status) = timed_get(&addr, &p);
            assert!(status.contains("200"), "{p}: {status}");
        }
        println!(
            "\n### serve.http_workers = {workers}\n\n| page | connections | requests/s | p50 | p99 | errors |\n|---|---|---|---|---|---|"
        );
        for (what, path, conns) in [
            ("source page", format!("/package/{SOURCE}"), 1),
            ("source page", format!("/package/{SOURCE}"), 32),
            ("source page JSON", format!("/api/package/{SOURCE}"), 32),
            (
                "queue page (50,000 builds)",
                "/queue/unstable/amd64".to_string(),
                32,
            ),
            (
                "queue JSON (50,000 builds)",
                "/api/queue/unstable/amd64".to_string(),
                32,
            ),
            (
                "suite page (queue top, problem states, graph)",
                "/suite/unstable/arm64".to_string(),
                32,
            ),
        ] {
            let w = wrk(&url(&path), conns, seconds);
            println!(
                "| {what} | {conns} | {:.0} | {:.2} ms | {:.2} ms | {} |",
                w.rps,
                w.p50_ms,
                w.p99_ms,
                if w.errors.is_empty() {
                    "none"
                } else {
                    &w.errors
                }
            );
        }
        if workers == 1 {
            log_viewer(&addr, pid);
            alone = lmtp(&socket, 8, mails("la"));
            println!(
                "\n| LMTP, 8 connections, {lmtp_mails} log mails of {:.1} KB | mails/s |\n|---|---|\n| alone | {alone:.0} |",
                mails("lx")[0].len() as f64 / 1e3
            );
        } else {
            println!("\n| LMTP, 8 connections | mails/s |\n|---|---|");
        }
        let mut load = Command::new("wrk")
            .args(["-t2", "-c32", "-d600s", &url(&format!("/package/{SOURCE}"))])
            .stdout(Stdio::null())
            .spawn()
            .expect("wrk");
        std::thread::sleep(Duration::from_secs(1));
        let loaded = lmtp(&socket, 8, mails(&format!("lw{workers}")));
        let _ = load.kill();
        let _ = load.wait();
        println!(
            "| while wrk loads the source page at 32 connections | {loaded:.0} ({:+.0} % of alone) |",
            (loaded / alone - 1.0) * 100.0
        );
        println!(
            "\ndaemon peak RSS over the run (VmHWM): {:.1} MB; load average {}",
            rss_kib(pid, "VmHWM:") as f64 / 1024.0,
            loadavg()
        );
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
        let _ = daemon.wait();
    }
}

/// Starts `serve` with `config`; waits for `addr` to answer.
fn start_serve(config: &Path, addr: &str) -> (u32, Child) {
    let daemon: Child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let t = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (daemon.id(), daemon)
}

/// The log viewer on the 50 MB log, three times, and the raw download.
fn log_viewer(addr: &str, pid: u32) {
    println!("\n| log viewer, 50 MB log | time to first byte | whole page | bytes | daemon RSS before | peak RSS while streaming |\n|---|---|---|---|---|---|");
    for _ in 0..3 {
        let before = rss_kib(pid, "VmRSS:");
        let peak = Arc::new(AtomicU64::new(before));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, done) = (peak.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    peak.fetch_max(rss_kib(pid, "VmRSS:"), Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        let (first, total, bytes, status) = timed_get(addr, "/log/biglog/1.0-1/amd64");
        done.store(true, Ordering::SeqCst);
        sampler.join().unwrap();
        assert!(status.contains("200"), "{status}");
        println!(
            "| | {:.1} ms | {:.0} ms | {:.1} MB | {:.1} MB | {:.1} MB |",
            first.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3,
            bytes as f64 / 1e6,
            before as f64 / 1024.0,
            peak.load(Ordering::SeqCst) as f64 / 1024.0
        );
    }
    let (first, total, bytes, _) = timed_get(addr, "/log/biglog/1.0-1/amd64/1/raw");
    println!(
        "\nraw download (gzip as archived): first byte {:.1} ms, whole {:.0} ms, {:.1} MB",
        first.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        bytes as f64 / 1e6
    );
}
