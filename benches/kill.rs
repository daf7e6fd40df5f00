//! Duplicated effects over kill -9 trials: `buildmail work` killed with
//! SIGKILL at a random moment while it uploads, or while it sends mail to
//! a real SMTP listener, and `deliver` killed at a random moment then
//! delivered again as an MTA would; each time the next worker finishes the
//! job. Counts upload-command runs beyond one, overlapping runs, and mails
//! received more than once. `cargo bench --bench kill` (50 trials of each
//! kind; `BUILDMAIL_BENCH_TRIALS` to change).

#[allow(dead_code, unused_imports)]
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use buildmail::ingest::Ingest;
use support::farm::*;
use support::keys::*;
use support::logs::{sbuild_log, LogSpec};

fn main() {
    let trials: u64 = std::env::var("BUILDMAIL_BENCH_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    println!("| kill -9 of | trials | killed mid-way | effect runs | duplicated | overlapping |");
    println!("|---|---|---|---|---|---|");
    upload_trials(trials);
    mail_trials(trials);
    deliver_trials(trials);
}

/// A small deterministic random number for trial `i`.
fn random(i: u64, below: u64) -> u64 {
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x % below.max(1)
}

/// A farm whose upload command notes each run in `runs`, notes an overlap
/// when an earlier run is still going, and takes 150 ms.
fn upload_farm() -> Farm {
    let mut farm = Farm::new();
    let root = farm.root().display().to_string();
    let script = upload_script(
        &farm,
        &format!(
            "echo run >> {root}/runs\n\
             if [ -e {root}/running ]; then echo OVERLAP >> {root}/overlaps; fi\n\
             touch {root}/running\n\
             sleep 0.15\n\
             rm -f {root}/running\n\
             echo uploaded"
        ),
    );
    farm.reconfigure(&script);
    farm
}

/// The log of a successful build and the admins' signed `.changes` for it
/// (signed by the wall clock: the binary checks it).
fn log_and_changes(farm: &Farm) -> (Vec<u8>, Vec<u8>) {
    let spec = LogSpec::new("hello", "1.0-1", "amd64", "unstable", "successful");
    let subject = support::sbuild_subject("successful", "hello", "1.0-1", "amd64", "unstable");
    let log = support::with_message_id(
        &support::log_mail_plain(&subject, &sbuild_log(&spec)),
        &support::unique_message_id(),
    );
    let changes = farm.build_files("hello", "1.0-1", "amd64");
    let signed = clearsign(
        shared_ed25519(),
        changes.as_bytes(),
        SignSpec::at(wall_now() - 60),
    );
    let reply = reply(
        &log_subject("successful", "hello", "1.0-1", "amd64"),
        &signed,
        None,
    );
    (log, reply)
}

/// Commits `raw` without running its effects (as `deliver` does before it
/// starts the worker).
fn commit_only(farm: &Farm, raw: &[u8]) {
    let store = buildmail::store::open(&farm.cfg.database).expect("store");
    Ingest::new(&*store, &farm.cfg)
        .with_clock(buildmail::time::system())
        .mail(raw)
        .expect("ingest");
    store.flush().expect("flush");
}

/// Kills `child` with SIGKILL after `ms` milliseconds, unless it ended;
/// whether it was killed.
fn kill_after(mut child: Child, ms: u64) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(ms) {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed = child.try_wait().ok().flatten().is_none();
    let _ = child.kill();
    let _ = child.wait();
    killed
}

/// Starts `buildmail work`.
fn spawn_work(farm: &Farm) -> Child {
    farm.cli(&["work"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("work")
}

/// Runs `buildmail work` to the end.
fn work(farm: &Farm) {
    let status = farm
        .cli(&["work"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("work");
    assert!(status.success());
}

fn lines(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count() as u64)
        .unwrap_or(0)
}

/// Upload-command runs counted over trials.
#[derive(Default)]
struct Uploads {
    runs: u64,
    duplicated: u64,
    overlapping: u64,
}

impl Uploads {
    /// Adds what the upload command of `farm` noted.
    fn count(&mut self, farm: &Farm) {
        let n = lines(&farm.root().join("runs"));
        self.runs += n;
        self.duplicated += n.saturating_sub(1);
        self.overlapping += lines(&farm.root().join("overlaps"));
    }
}

fn upload_trials(trials: u64) {
    let mut killed = 0;
    let mut uploads = Uploads::default();
    for i in 0..trials {
        let farm = upload_farm();
        let (log, changes) = log_and_changes(&farm);
        commit_only(&farm, &log);
        commit_only(&farm, &changes);
        if kill_after(spawn_work(&farm), random(i, 300)) {
            killed += 1;
        }
        work(&farm);
        uploads.count(&farm);
    }
    println!(
        "| `work` during an upload (command 150 ms) | {trials} | {killed} | {} | {} | {} |",
        uploads.runs, uploads.duplicated, uploads.overlapping
    );
}

fn mail_trials(trials: u64) {
    const MAILS: usize = 20;
    let (mut killed, mut received, mut duplicated) = (0, 0u64, 0u64);
    for i in 0..trials {
        let smtp = support::smtp::SmtpServer::start();
        let mut farm = Farm::new();
        farm.reconfigure(&format!(
            "[outbox]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\ntimeout = \"5s\"\n",
            smtp.url()
        ));
        for _ in 0..MAILS {
            commit_only(
                &farm,
                &support::question_mail("a question", "Hello admins\n"),
            );
        }
        if kill_after(spawn_work(&farm), random(i, 150)) {
            killed += 1;
        }
        // Let the server read what was on the wire at the kill.
        std::thread::sleep(Duration::from_millis(100));
        work(&farm);
        let mut got: Vec<Vec<u8>> = smtp.received().into_iter().map(|m| m.data).collect();
        let total = got.len() as u64;
        got.sort();
        got.dedup();
        assert_eq!(got.len(), MAILS, "a mail was lost");
        received += total;
        duplicated += total - MAILS as u64;
    }
    println!(
        "| `work` sending {MAILS} mails to SMTP (8 connections) | {trials} | {killed} | {received} | {duplicated} | – |"
    );
}

fn deliver_trials(trials: u64) {
    let mut killed = 0;
    let mut uploads = Uploads::default();
    for i in 0..trials {
        let farm = upload_farm();
        let (log, changes) = log_and_changes(&farm);
        commit_only(&farm, &log);
        let deliver = |raw: &[u8]| {
            let mut child = farm
                .cli(&["deliver"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("deliver");
            let _ = child.stdin.take().expect("stdin").write_all(raw);
            child
        };
        if kill_after(deliver(&changes), random(i, 60)) {
            killed += 1;
        }
        // The MTA delivers the mail again.
        let status = deliver(&changes).wait().expect("deliver");
        assert!(status.success());
        // Wait for the detached workers, then finish whatever is left.
        wait_for_workers(&farm);
        work(&farm);
        uploads.count(&farm);
    }
    println!(
        "| `deliver` of a signed `.changes`, then redelivered | {trials} | {killed} | {} | {} | {} |",
        uploads.runs, uploads.duplicated, uploads.overlapping
    );
}

/// Waits until no worker holds the farm's worker lock.
fn wait_for_workers(farm: &Farm) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
        match buildmail::effects::worker::try_lock(&farm.cfg.database) {
            Ok(Some(_)) => return,
            _ => continue,
        }
    }
}
