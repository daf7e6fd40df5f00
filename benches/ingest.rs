//! Ingestion benchmarks, run as real processes:
//!
//! * `import` of a generated mbox of log mails (default 1 GiB) with durable
//!   commits: mails/s, MB/s and the child's peak RSS;
//! * `deliver` of one ~100 KB log mail: median wall time from process start
//!   to exit, over many runs, each mail new to the database.
//!
//! `cargo bench --bench ingest` runs both. `BUILDMAIL_BENCH_MBOX_MB` sets
//! the mbox size in MB, `BUILDMAIL_BENCH_FAIL_PERCENT` the share of failed
//! builds (default 15; failures cost an explanation each),
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

    // --- deliver ---
    let runs = env_usize("BUILDMAIL_BENCH_DELIVERIES", 200);
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    for i in 0..runs {
        // ~100 KB log mails, each new.
        let m = log_mail(10_000_000 + i, 1150, 0);
        let start = Instant::now();
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(&config)
            .arg("deliver")
            .stdin(Stdio::piped())
            .spawn()
            .expect("run deliver");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&m)
            .expect("write mail");
        let status = child.wait().expect("wait");
        times.push(start.elapsed());
        assert!(status.success(), "deliver failed");
        if i == 0 {
            println!("deliver: mail size {:.1} KB", m.len() as f64 / 1e3);
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "deliver: {runs} runs, median {:.2} ms, p90 {:.2} ms, min {:.2} ms (database holding {mails} mails)",
        ms(times[runs / 2]),
        ms(times[runs * 9 / 10]),
        ms(times[0])
    );
}
