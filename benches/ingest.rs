//! Ingestion benchmarks, run as real processes:
//!
//! * `import` of a generated mbox of log mails (default 1 GiB) with durable
//!   commits: mails/s, MB/s and the child's peak RSS;
//! * `deliver` of one ~100 KB log mail: median wall time from process start
//!   to exit, over many runs, each mail new to the database;
//! * `deliver` of a signed admin reply (a clearsigned, bound `retry` of a
//!   Build-Attempted build; Ed25519 key), the same way.
//!
//! `cargo bench --bench ingest` runs both. `BUILDMAIL_BENCH_MBOX_MB` sets
//! the mbox size in MB, `BUILDMAIL_BENCH_FAIL_PERCENT` the share of failed
//! builds (default 15; their explanations are left to the worker),
//! `BUILDMAIL_BENCH_DELIVERIES` the number of deliveries.

#[path = "../tests/it/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::logs::{sbuild_log, LogSpec};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak RSS of the largest child waited for so far, in KiB.
fn children_max_rss_kib() -> i64 {
    // SAFETY: getrusage fills the struct we own.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        ru.ru_maxrss
    }
}

fn log_mail(i: usize, filler: usize, fail_percent: usize) -> Vec<u8> {
    let name = format!("pkg{i:07}");
    // Spread the failures evenly: attempted and given-back alternate.
    let status = if (i * 37) % 100 < fail_percent {
        ["attempted", "given-back"][i % 2]
    } else {
        "successful"
    };
    let mut spec = LogSpec::new(&name, "1.0-1", "amd64", "unstable", status);
    spec.filler_lines = filler;
    let subject = support::sbuild_subject(status, &name, "1.0-1", "amd64", "unstable");
    support::with_message_id(
        &support::log_mail_plain(&subject, &sbuild_log(&spec)),
        &format!("bench-{i}-{}@example.org", std::process::id()),
    )
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let bin = env!("CARGO_BIN_EXE_buildmail");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("buildmail.toml");
    std::fs::write(&config, "data_dir = \"data\"\n").expect("config");

    // --- import ---
    let target = env_usize("BUILDMAIL_BENCH_MBOX_MB", 1024) * 1_000_000;
    let fail_percent = env_usize("BUILDMAIL_BENCH_FAIL_PERCENT", 15).min(100);
    let mbox = dir.path().join("logs.mbox");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&mbox).expect("mbox"));
    let (mut written, mut mails, mut largest) = (0usize, 0usize, 0usize);
    while written < target {
        // Logs of 20 KB to 400 KB, like real ones.
        let filler = 250 + (mails * 7919) % 4750;
        let m = log_mail(mails, filler, fail_percent);
        f.write_all(b"From buildd@example.org Sat Nov 21 10:00:00 2026\n")
            .expect("write");
        f.write_all(&m).expect("write");
        f.write_all(b"\n").expect("write");
        written += m.len() + 52;
        largest = largest.max(m.len());
        mails += 1;
    }
    f.into_inner().expect("flush").sync_all().expect("sync");
    let start = Instant::now();
    let status = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .arg("import")
        .arg("--explain=later")
        .arg(&mbox)
        .stdout(Stdio::null())
        .status()
        .expect("run import");
    let secs = start.elapsed().as_secs_f64();
    assert!(status.success(), "import failed");
    let rss_mb = children_max_rss_kib() as f64 / 1024.0;
    println!(
        "import: {mails} mails ({fail_percent}% failed builds), {:.1} MB in {secs:.2} s: {:.0} mails/s, {:.1} MB/s, peak RSS {rss_mb:.1} MB (largest mail {:.2} MB; target < {:.1} MB)",
        written as f64 / 1e6,
        mails as f64 / secs,
        written as f64 / 1e6 / secs,
        largest as f64 / 1e6,
        64.0 + 2.0 * largest as f64 / 1e6
    );

    // The failures the import left to the worker are explained now, so
    // that no worker runs beside the deliveries measured below.
    let status = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .args(["work", "--explanations", "--quiet"])
        .status()
        .expect("run work");
    assert!(status.success());

    // --- deliver ---
    let runs = env_usize("BUILDMAIL_BENCH_DELIVERIES", 200);
    let deliver = |m: &[u8]| -> Duration {
        let start = Instant::now();
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(&config)
            .arg("deliver")
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run deliver");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(m)
            .expect("write mail");
        let status = child.wait().expect("wait");
        let t = start.elapsed();
        assert!(status.success(), "deliver failed");
        t
    };
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    for i in 0..runs {
        // ~100 KB log mails, each new.
        let m = log_mail(10_000_000 + i, 1150, 0);
        times.push(deliver(&m));
        if i == 0 {
            println!("deliver: mail size {:.1} KB", m.len() as f64 / 1e3);
        }
    }
    report("deliver (log mail)", &mut times, mails);

    // --- deliver of signed replies ---
    // The admins' keyring at its default place; one Build-Attempted build
    // per reply, set up first (not timed), its explanation made.
    std::fs::write(
        dir.path().join("data/admins.asc"),
        support::keys::shared_ed25519().armored_public(),
    )
    .expect("keyring");
    let name = |i: usize| format!("rpkg{i:05}");
    for i in 0..runs {
        let n = name(i);
        let mut spec = LogSpec::new(&n, "1.0-1", "amd64", "unstable", "attempted");
        spec.filler_lines = 100;
        let subject = support::sbuild_subject("attempted", &n, "1.0-1", "amd64", "unstable");
        deliver(&support::with_message_id(
            &support::log_mail_plain(&subject, &sbuild_log(&spec)),
            &format!("bench-r{i}-{}@example.org", std::process::id()),
        ));
    }
    wait_for_workers(&dir.path().join("data/db"));
    let status = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .args(["work", "--quiet"])
        .status()
        .expect("run work");
    assert!(status.success());
    let signed_at = support::farm::wall_now() - 60;
    let replies: Vec<Vec<u8>> = (0..runs)
        .map(|i| {
            let subject = support::farm::log_subject("attempted", &name(i), "1.0-1", "amd64");
            let text = format!("retry {}_1.0-1 dist=unstable arch=amd64\n", name(i));
            support::farm::reply(
                &subject,
                &support::keys::clearsign(
                    support::keys::shared_ed25519(),
                    text.as_bytes(),
                    support::keys::SignSpec::at(signed_at),
                ),
                None,
            )
        })
        .collect();
    println!(
        "deliver: signed reply size {:.1} KB",
        replies[0].len() as f64 / 1e3
    );
    let mut times: Vec<Duration> = replies.iter().map(|m| deliver(m)).collect();
    report("deliver (signed reply)", &mut times, mails + 2 * runs);
    let out = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .args(["list", "--state", "Needs-Build", "--json"])
        .output()
        .expect("list");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list --json");
    let retried = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter(|r| {
            r["key"]["source"]
                .as_str()
                .is_some_and(|s| s.starts_with("rpkg"))
        })
        .count();
    assert_eq!(retried, runs, "every signed retry was applied");
}

/// Waits until no worker (explainer or effects) holds its lock in `db`.
fn wait_for_workers(db: &std::path::Path) {
    std::thread::sleep(Duration::from_millis(500));
    for lock in ["explain.lock", "worker.lock"] {
        if let Ok(f) = std::fs::File::open(db.join(lock)) {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on an open file; blocks until the holder is done.
            unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        }
    }
}

/// Prints the median, p90, p99 and minimum of `times`.
fn report(what: &str, times: &mut [Duration], mails: usize) {
    times.sort();
    let runs = times.len();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what}: {runs} runs, median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, min {:.2} ms (database holding about {mails} mails)",
        ms(times[runs / 2]),
        ms(times[runs * 9 / 10]),
        ms(times[runs * 99 / 100]),
        ms(times[0])
    );
}
