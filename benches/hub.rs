//! The daemon as the hub (issue 18), as real processes of the release
//! binary, with 1,000,000 build records:
//!
//! * the records are made the way a farm makes them: a generated suite of
//!   500,000 sources (`Architecture: any`, a third built on amd64) in a
//!   signed test archive on disk, synced for two architectures by
//!   `buildmail sync` (no daemon) — its time is reported too;
//! * with `buildmail serve` running: `info` and `take` through the CLI
//!   (process start to exit, each asking the daemon over its control
//!   socket): p50 and p99;
//! * `deliver` of a ~114 KB log mail and of a signed reply (a
//!   clearsigned, bound `give-back`, Ed25519) handed to the daemon:
//!   median and p99;
//! * LMTP mails/s at 8 connections (~30 KB log mails) without a sync, and
//!   while the daemon merges a new Release of the whole suite (every
//!   version bumped: 1,000,000 builds to decide), with each mail's answer
//!   time (p50, p99, max) in both runs.
//!
//! `cargo bench --bench hub`. `BUILDMAIL_BENCH_SOURCES` (default
//! 500,000), `BUILDMAIL_BENCH_RUNS` (CLI runs per figure, default 200),
//! `BUILDMAIL_BENCH_LMTP_MAILS` (per LMTP run, default 2,000),
//! `BUILDMAIL_BENCH_DIR` (default `target/bench-hub`: the synced farm is
//! kept there and reused by the next run of the same size).

#[path = "common/bench.rs"]
#[allow(dead_code)]
mod bench;
#[path = "../tests/it/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bench::{env_usize, loadavg, log_mail, pct};
use support::archive::{archive_key, generated, publish, Snapshot};
use support::keys::shared_ed25519;

fn now() -> i64 {
    buildmail::time::Clock::now(&buildmail::time::SystemClock)
}

/// The farm: its directory and configuration file.
struct Farm {
    dir: PathBuf,
    config: PathBuf,
}

impl Farm {
    fn cli(&self, args: &[&str]) -> Command {
        bench::buildmail(&self.config, args)
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.cli(args).output().expect("run buildmail")
    }

    fn lmtp(&self) -> PathBuf {
        self.dir.join("lmtp.sock")
    }
}

/// Writes the farm's configuration and, unless a farm of this size is
/// there already, the archive and a first sync.
fn farm(sources: usize) -> Farm {
    let dir = std::env::var_os("BUILDMAIL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-hub"));
    let marker = dir.join(format!("synced-{sources}"));
    let farm = Farm {
        config: dir.join("buildmail.toml"),
        dir: dir.clone(),
    };
    if marker.exists() {
        println!("reusing the farm of {sources} sources in {}", dir.display());
        // This run's admin key (the test keys are made anew by each
        // process).
        std::fs::write(dir.join("admins.asc"), shared_ed25519().armored_public()).unwrap();
        return farm;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("admins.asc"), shared_ed25519().armored_public()).unwrap();
    std::fs::write(dir.join("archive-key.asc"), archive_key().armored_public()).unwrap();
    std::fs::write(
        &farm.config,
        format!(
            "data_dir = {:?}\nfrom_address = \"buildd@example.org\"\n\
             [signatures]\nkeyrings = [{:?}]\n\
             [replies]\nknown_senders = [\"admin@example.org\"]\n\
             [archive]\nroot = {:?}\nsuites = [\"unstable\"]\narchitectures = [\"amd64\", \"arm64\"]\narch_all = \"amd64\"\nrelease_keyrings = [{:?}]\n\
             [serve]\nlmtp = [\"unix:{}\"]\n",
            dir.join("data"),
            dir.join("admins.asc"),
            dir.join("mirror"),
            dir.join("archive-key.asc"),
            farm.lmtp().display()
        ),
    )
    .unwrap();
    publish_suite(&farm, sources, 1);
    let start = Instant::now();
    let out = farm.run(&["sync"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "sync of {sources} sources x 2 architectures (no daemon): {:.1} s ({})",
        start.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
    );
    std::fs::write(&marker, b"").unwrap();
    farm
}

/// Publishes the generated suite of `sources`, every version bumped to
/// `round` (a new Release to merge).
fn publish_suite(farm: &Farm, sources: usize, round: usize) {
    let start = Instant::now();
    let (mut text, packages) = generated(sources);
    if round > 1 {
        text = text.replace("-1\nArchitecture", &format!("-{round}\nArchitecture"));
    }
    let t = now();
    // The key of this run signs the Release (the test key is made anew
    // by each process): the farm trusts it.
    std::fs::write(
        farm.dir.join("archive-key.asc"),
        archive_key().armored_public(),
    )
    .unwrap();
    publish(
        &farm.dir.join("mirror"),
        &Snapshot {
            date: t - 3600 + round as i64,
            valid_until: Some(t + 7 * 86400),
            sources: &text,
            packages: &[("amd64", &packages), ("arm64", "")],
            signer: archive_key(),
        },
    );
    println!(
        "archive of {sources} sources published (round {round}) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

/// A running daemon.
struct Daemon(Child);

impl Daemon {
    fn start(farm: &Farm) -> Daemon {
        let child = farm
            .cli(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start serve");
        let control = farm.dir.join("data/control.sock");
        let start = Instant::now();
        while !matches!(
            buildmail::serve::client::connect(&control, Duration::from_secs(5)),
            buildmail::serve::client::Connect::Daemon(_)
        ) {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "serve did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon(child)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

fn report(what: &str, mut d: Vec<Duration>) {
    d.sort();
    println!(
        "{what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} runs)",
        pct(&d, 50),
        pct(&d, 99),
        d.last().map_or(0.0, |x| x.as_secs_f64() * 1e3),
        d.len()
    );
}

/// Times `runs` runs of a command; each must succeed.
fn timed(runs: usize, mut run: impl FnMut(usize) -> std::process::Output) -> Vec<Duration> {
    (0..runs)
        .map(|i| {
            let start = Instant::now();
            let out = run(i);
            let took = start.elapsed();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            took
        })
        .collect()
}

/// `deliver` of `mail`, timed from process start to exit.
fn deliver(farm: &Farm, mail: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = farm
        .cli(&["deliver"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("deliver");
    child.stdin.take().unwrap().write_all(mail).unwrap();
    child.wait_with_output().unwrap()
}

/// LMTP at `conns` connections, `mails` mails in all; (mails/s, every
/// mail's answer time).
fn lmtp_run(farm: &Farm, conns: usize, mails: usize, tag: &str) -> (f64, Vec<Duration>) {
    let per = mails / conns;
    // ~30 KB each.
    let bodies: Vec<Vec<Vec<u8>>> = (0..conns)
        .map(|c| {
            (0..per)
                .map(|i| {
                    let name = format!("lmtp-{tag}-{c}-{i}");
                    log_mail(&name, "successful", 300, &format!("<{name}@bench>"))
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    let threads: Vec<_> = bodies
        .into_iter()
        .map(|mails| {
            let socket = farm.lmtp();
            std::thread::spawn(move || {
                let mut c = support::lmtp::Lmtp::unix(&socket);
                mails
                    .iter()
                    .map(|m| {
                        let t = Instant::now();
                        let answer = c.deliver(m);
                        assert!(answer.starts_with("250"), "{answer}");
                        t.elapsed()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let times: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    (times.len() as f64 / start.elapsed().as_secs_f64(), times)
}

fn main() {
    let sources = env_usize("BUILDMAIL_BENCH_SOURCES", 500_000);
    let runs = env_usize("BUILDMAIL_BENCH_RUNS", 200);
    let lmtp_mails = env_usize("BUILDMAIL_BENCH_LMTP_MAILS", 2_000);
    println!("load average at start: {}", loadavg());
    let farm = farm(sources);
    let status = farm.run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap_or_default();
    println!("builds in the database: {}", v["builds"]);

    let _daemon = Daemon::start(&farm);
    report(
        "info <src> through the daemon",
        timed(runs, |i| {
            farm.run(&["info", &format!("src{:05}", (i * 7919) % sources)])
        }),
    );
    report(
        "take through the daemon",
        timed(runs, |i| {
            farm.run(&[
                "take",
                "--suite",
                "unstable",
                "--arch",
                if i % 2 == 0 { "amd64" } else { "arm64" },
                "--builder",
                "bench",
            ])
        }),
    );
    let tag = now();
    report(
        "deliver of a ~114 KB log, handed to the daemon",
        timed(runs, |i| {
            let name = format!("big{tag}x{i}");
            deliver(
                &farm,
                &log_mail(&name, "successful", 1400, &format!("<{name}@bench>")),
            )
        }),
    );
    // Signed replies: a Build-Attempted build each, then its give-back.
    let subjects: Vec<String> = (0..runs / 2)
        .map(|i| {
            let name = format!("sr{tag}x{i}");
            let out = deliver(
                &farm,
                &log_mail(&name, "attempted", 50, &format!("<{name}@bench>")),
            );
            assert!(out.status.success());
            format!("Re: Log for attempted build of {name}_1.0-1 on amd64 (dist=unstable)")
        })
        .collect();
    let before = farm.run(&["status", "--json"]);
    let unanswered = |out: &std::process::Output| {
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()["unanswered"]
            .as_u64()
            .unwrap_or(0)
    };
    report(
        "deliver of a signed reply, handed to the daemon",
        timed(subjects.len(), |i| {
            // Signed now (the admins' Ed25519 key), bound to its build.
            let text = support::farm::bind(&subjects[i], "give-back");
            let signed = support::keys::clearsign(
                shared_ed25519(),
                text.as_bytes(),
                support::keys::SignSpec::at(now() - 60),
            );
            deliver(&farm, &support::farm::reply(&subjects[i], &signed, None))
        }),
    );

    let after = farm.run(&["status", "--json"]);
    assert_eq!(
        unanswered(&before),
        unanswered(&after),
        "the signed replies were refused: the figure would be a refusal's"
    );
    println!("load average before the LMTP runs: {}", loadavg());
    let (rate, times) = lmtp_run(&farm, 8, lmtp_mails, &format!("quiet{tag}"));
    println!("LMTP, 8 connections, no sync: {rate:.0} mails/s");
    report("  an LMTP mail's answer, no sync", times);

    publish_suite(&farm, sources, 2 + (tag as usize % 1000));
    let mut sync = farm
        .cli(&["sync"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Until the merge runs.
    let start = Instant::now();
    loop {
        let out = farm.run(&["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if v["daemon"]["sync"]["phase"] == "merging" {
            break;
        }
        if sync.try_wait().unwrap().is_some() {
            let out = sync.wait_with_output().unwrap();
            panic!(
                "the sync ended before its merge: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(start.elapsed() < Duration::from_secs(600), "no merge");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (rate, times) = lmtp_run(&farm, 8, lmtp_mails, &format!("sync{tag}"));
    let out = farm.run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let still = v["daemon"]["sync"]["phase"] == "merging";
    println!(
        "LMTP, 8 connections, during the merge of {} builds: {rate:.0} mails/s (the merge {} when the run ended)",
        sources * 2,
        if still { "was still running" } else { "had ended" }
    );
    report("  an LMTP mail's answer, during the merge", times);
    let start = Instant::now();
    let out = sync.wait_with_output().unwrap();
    println!(
        "the merge ended {:.1} s after the LMTP run: {}",
        start.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
    );
    println!("load average at the end: {}", loadavg());
}
