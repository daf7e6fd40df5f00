//! The daemon as the hub: every command works while `serve` runs, through
//! its control socket, and prints what it prints without a daemon; the
//! archive sync runs beside the mail; one outcome for a mail over the
//! size limit by every route; a stopped daemon makes `deliver` give up at
//! once; `take` prints what sbuild needs for a binNMU.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use buildmail::model::State;

use crate::support::archive::*;
use crate::support::daemon::Daemon;
use crate::support::farm::*;
use crate::support::keys::*;
use crate::support::lmtp::Lmtp;
use crate::support::logs::{sbuild_log, LogSpec};
use crate::support::{log_mail_mime_gzip_raw, log_mail_plain, sbuild_subject, with_message_id};

const DAY: i64 = 86400;

const SOURCES: &str = "\
Package: hello\nVersion: 1.0-1\nArchitecture: any\nSection: devel\nPriority: optional\n\n\
Package: base\nVersion: 1-1\nArchitecture: any\nSection: admin\nPriority: required\n\n\
Package: lib\nVersion: 1-1\nArchitecture: linux-any\nSection: libs\nPriority: optional\n\n\
Package: game\nVersion: 1-1\nArchitecture: any\nSection: games\nPriority: optional\n\n\
Package: done\nVersion: 1-1\nArchitecture: any\nSection: utils\nPriority: optional\n";

const PACKAGES_AMD64: &str = "\
Package: done-bin\nVersion: 1-1+b3\nArchitecture: amd64\nSource: done (1-1)\n";

/// A farm following a mirror under `root`, synced once, with a log of
/// every kind of outcome: a build, a failed log explained, a signed
/// command (a signature on record), a quarantined mail, an error reply
/// waiting in the outbox.
fn populated(root: &Path, now: i64, extra: &str) -> Farm {
    let mirror = root.join("mirror");
    let farm = farm_with(&mirror, extra);
    publish(
        &mirror,
        &Snapshot {
            date: now - 3600,
            valid_until: Some(now + 7 * DAY),
            sources: SOURCES,
            packages: &[("amd64", PACKAGES_AMD64), ("arm64", "")],
            signer: archive_key(),
        },
    );
    run_ok(&farm, &["sync"]);
    let log = |status: &str, src: &str, mid: &str| {
        let spec = LogSpec::new(src, "1.0-1", "amd64", "unstable", status);
        let subject = sbuild_subject(status, src, "1.0-1", "amd64", "unstable");
        with_message_id(&log_mail_plain(&subject, &sbuild_log(&spec)), mid)
    };
    farm.deliver(&log("successful", "hello", "<hello-log@example.org>"));
    farm.deliver(&log("attempted", "other", "<other-log@example.org>"));
    // A signed give-back: applied, its signature on record.
    farm.deliver(&signed_reply(
        &log_subject("attempted", "other", "1.0-1", "amd64"),
        "give-back",
    ));
    // A log mail whose gzip part is corrupt: quarantined.
    let subject = sbuild_subject("successful", "broken", "1-1", "amd64", "unstable");
    farm.ingest_only(&log_mail_mime_gzip_raw(
        &subject,
        b"\x1f\x8b\x08\x00garbage-not-deflate",
    ));
    // An unsigned command from the admin: refused, the error reply left
    // in the outbox.
    farm.ingest_only(&reply(
        &log_subject("successful", "hello", "1.0-1", "amd64"),
        b"retry\n",
        None,
    ));
    farm
}

/// A build's record, read through the CLI (`info --json`): the daemon
/// holds the database while it runs.
fn record(farm: &Farm, src: &str, arch: &str) -> buildmail::model::BuildRecord {
    let out = run_ok(
        farm,
        &["info", src, "--dist", "unstable", "--arch", arch, "--json"],
    );
    let mut v: Vec<buildmail::model::BuildRecord> = serde_json::from_str(&out).unwrap();
    assert_eq!(v.len(), 1, "{out}");
    v.remove(0)
}

/// Runs the CLI; its output.
fn run(farm: &Farm, args: &[&str]) -> Output {
    farm.cli(args)
        .env_remove("RUST_LOG")
        .env_remove("BUILDMAIL_LOG")
        .output()
        .unwrap()
}

/// Runs the CLI; its standard output, after checking it succeeded.
fn run_ok(farm: &Farm, args: &[&str]) -> String {
    let out = run(farm, args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard output and exit status, the farm's root and the times of day
/// written as placeholders (two farms compare equal).
fn normalised(farm: &Farm, out: &Output) -> (String, Option<i32>) {
    let text =
        String::from_utf8_lossy(&out.stdout).replace(&farm.root().display().to_string(), "<root>");
    let time = regex::Regex::new(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC").unwrap();
    let date = regex::Regex::new(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}").unwrap();
    let text = time.replace_all(&text, "<time>");
    (
        date.replace_all(&text, "<date>").into_owned(),
        out.status.code(),
    )
}

/// The commands that only read, each run without a daemon and then with
/// one: the same output.
const READS: &[&[&str]] = &[
    &["info", "other"],
    &["info", "other", "--json"],
    &["info", "nosuch"],
    &["list"],
    &["list", "--json"],
    &["list", "--state", "Needs-Build", "--arch", "arm64"],
    &["history", "other"],
    &["history", "other", "--json"],
    &["log", "other"],
    &["log", "hello_1.0-1", "--json"],
    &["queue", "--suite", "unstable", "--arch", "amd64"],
    &["queue", "--suite", "unstable", "--arch", "arm64", "--json"],
    &[
        "queue", "--suite", "unstable", "--arch", "amd64", "--limit", "1",
    ],
    &["outbox", "list"],
    &["outbox", "list", "--json"],
    &["quarantine", "list"],
    &["quarantine", "list", "--json"],
    &["quarantine", "show", "1"],
    &["quarantine", "show", "1", "--raw"],
    &["quarantine", "show", "99"],
    &["forget-signature", "--list"],
    &["forget-signature", "--list", "--json"],
    &["fsck", "--older-than", "0s"],
    &["fsck", "--json"],
    &["render", "failed-to-upload", "hello"],
];

#[test]
fn every_query_prints_the_same_with_and_without_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    // A transport that fails: the error reply stays in the outbox.
    let farm = populated(
        dir.path(),
        wall_now(),
        "[outbox]\ntransport = \"sendmail\"\nsendmail = [\"/bin/false\"]\n",
    );
    // Its first attempt made (the daemon would make it at once).
    run_ok(&farm, &["work"]);
    let alone: Vec<_> = READS.iter().map(|a| run(&farm, a)).collect();
    let status_alone = run(&farm, &["status", "--json"]);
    assert_eq!(status_alone.status.code(), Some(3), "no daemon: exit 3");
    let daemon = Daemon::start(&farm, &[]);
    for (args, before) in READS.iter().zip(&alone) {
        let with = run(&farm, args);
        assert_eq!(
            normalised(&farm, before),
            normalised(&farm, &with),
            "{args:?} differs with the daemon running (stderr: {})",
            String::from_utf8_lossy(&with.stderr)
        );
    }
    // The status is the same but for the daemon's own part.
    let status_with = run(&farm, &["status", "--json"]);
    assert_eq!(status_with.status.code(), Some(0), "a daemon answered");
    let mut a: serde_json::Value = serde_json::from_slice(&status_alone.stdout).unwrap();
    let mut b: serde_json::Value = serde_json::from_slice(&status_with.stdout).unwrap();
    assert!(a["daemon"].is_null());
    assert_eq!(b["daemon"]["pid"], daemon.pid());
    a["daemon"] = serde_json::Value::Null;
    b["daemon"] = serde_json::Value::Null;
    assert_eq!(a, b);
    // The answers are real: spot checks of what the reads said.
    let info = run_ok(&farm, &["info", "other"]);
    assert!(info.contains("Needs-Build"), "{info}");
    let q = run_ok(&farm, &["quarantine", "list"]);
    assert!(q.contains("gzip"), "{q}");
    let outbox = run_ok(&farm, &["outbox", "list"]);
    assert!(outbox.contains("error-reply"), "{outbox}");
    let log = run(&farm, &["log", "other"]);
    assert!(String::from_utf8_lossy(&log.stdout).contains("Status: attempted"));
    assert!(daemon.stop().success());
}

/// The commands that write, run on two farms made alike: one with a
/// daemon running, one without. Each prints the same and leaves the
/// same builds.
#[test]
fn every_write_prints_the_same_with_and_without_the_daemon() {
    let now = wall_now();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alone = populated(da.path(), now, "");
    let served = populated(db.path(), now, "");
    // What waits is done first on both: the daemon does it at once.
    run_ok(&alone, &["work"]);
    let daemon = Daemon::start(&served, &[]);
    let start = Instant::now();
    while !run_ok(&served, &["outbox", "list", "--json"]).starts_with("[]") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the daemon's effects did not run"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Arguments that name what only each farm knows (a signature's hash,
    // a quarantine id) are looked up in that farm.
    let sha = |farm: &Farm| {
        let out = run_ok(farm, &["forget-signature", "--list", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0]["signed_sha256"].as_str().unwrap()[..16].to_string()
    };
    let quarantined = |farm: &Farm| {
        let out = run_ok(farm, &["quarantine", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0]["id"].to_string()
    };
    // Each a command line, split as a shell would.
    let writes: Vec<Vec<String>> = [
        "take --suite unstable --arch amd64 --builder b1",
        "take --suite unstable --arch arm64 --builder b2 game --json",
        "take --suite unstable --arch arm64 --builder b3 game",
        "take --suite unstable --arch arm64 --builder b3 nosuch",
        "binnmu done_1-1 --suite unstable --arch amd64 --message 'Rebuild against libfoo 2'",
        "binnmu done_1-1 --suite unstable --arch amd64 --message again",
        "forget-signature SHA",
        "forget-signature 0000000000000000",
        "outbox retry --all",
        "outbox retry 77",
        "outbox flush",
        "quarantine reprocess QID",
        "quarantine delete QID 999",
        "quarantine delete 999",
        "work",
        "work --quiet",
        "work --explanations",
        "fsck --repair --older-than 0s",
        "sync",
        "queue --suite unstable --arch amd64 --json",
        "list",
    ]
    .iter()
    .map(|l| shlex::split(l).unwrap())
    .collect();
    for w in &writes {
        let args_for = |farm: &Farm| -> Vec<String> {
            w.iter()
                .map(|a| match a.as_str() {
                    "SHA" => sha(farm),
                    "QID" => quarantined(farm),
                    a => a.to_string(),
                })
                .collect()
        };
        let (a_args, b_args) = (args_for(&alone), args_for(&served));
        let a = run(
            &alone,
            &a_args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let b = run(
            &served,
            &b_args.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(
            normalised(&alone, &a),
            normalised(&served, &b),
            "{w:?} differs with the daemon running (stderr without: {}; with: {})",
            String::from_utf8_lossy(&a.stderr),
            String::from_utf8_lossy(&b.stderr)
        );
    }
    // The writes happened, through the daemon.
    let game = record(&served, "game", "arm64");
    assert_eq!(game.state, State::Building);
    assert_eq!(game.taken_by.as_deref(), Some("b2"));
    let done = record(&served, "done", "amd64");
    assert_eq!(
        (done.state, done.version.as_str()),
        (State::NeedsBuild, "1-1+b4")
    );
    let q = run_ok(&served, &["quarantine", "list", "--json"]);
    assert_eq!(q.trim(), "[]", "reprocessed and deleted");
    let sigs = run_ok(&served, &["forget-signature", "--list", "--json"]);
    assert_eq!(sigs.trim(), "[]", "forgotten");
    assert!(daemon.stop().success());
}

/// 20 builders take at once from the daemon: 20 different builds.
#[test]
fn twenty_builders_take_twenty_different_builds_through_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let farm = generated_farm(dir.path(), 40, "");
    let daemon = Daemon::start(&farm, &[]);
    let text = run_ok(&farm, &["sync"]);
    assert!(text.contains("unstable: 40 sources"), "{text}");
    let takers: Vec<_> = (0..20)
        .map(|i| {
            farm.cli(&[
                "take",
                "--suite",
                "unstable",
                "--arch",
                "amd64",
                "--builder",
                &format!("buildd-{i:02}"),
                "--json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut taken = std::collections::BTreeMap::new();
    for t in takers {
        let out = t.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let src = v["source"].as_str().unwrap().to_string();
        let builder = v["builder"].as_str().unwrap().to_string();
        assert!(taken.insert(src, builder).is_none(), "a build taken twice");
    }
    assert_eq!(taken.len(), 20);
    for (src, builder) in &taken {
        let r = record(&farm, src, "amd64");
        assert_eq!(r.state, State::Building);
        assert_eq!(r.taken_by.as_ref(), Some(builder));
    }
    assert!(daemon.stop().success());
}

fn log_of(src: &str, n: usize) -> Vec<u8> {
    let spec = LogSpec::new(src, "1.0-1", "amd64", "unstable", "successful");
    let subject = sbuild_subject("successful", src, "1.0-1", "amd64", "unstable");
    with_message_id(
        &log_mail_plain(&subject, &sbuild_log(&spec)),
        &format!("<{src}-{n}@lmtp.example.org>"),
    )
}

/// The daemon's sync state, read from `status --json`.
fn syncing(farm: &Farm) -> Option<serde_json::Value> {
    let out = run(farm, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let s = &v["daemon"]["sync"];
    (!s.is_null()).then(|| s.clone())
}

/// A sync of 30,000 sources runs while 8 LMTP connections deliver: the
/// merge goes batch by batch, mails are committed between its batches
/// (it never holds the commit gate for the suite), every mail is
/// answered 250 and none is lost.
#[test]
fn a_sync_of_30000_sources_runs_beside_eight_lmtp_connections() {
    let dir = tempfile::tempdir().unwrap();
    let farm = generated_farm(dir.path(), 30_000, "");
    let lmtp = farm.root().join("lmtp.sock");
    let daemon = Daemon::start(&farm, &["--lmtp", &format!("unix:{}", lmtp.display())]);
    let sync = farm
        .cli(&["sync", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the merge to begin.
    let start = Instant::now();
    while !syncing(&farm).is_some_and(|s| s["phase"] == "merging") {
        assert!(start.elapsed() < Duration::from_secs(120), "no merge began");
        std::thread::sleep(Duration::from_millis(20));
    }
    let merging = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let during = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let senders: Vec<_> = (0..8)
        .map(|t| {
            let (lmtp, merging, during) = (lmtp.clone(), merging.clone(), during.clone());
            std::thread::spawn(move || {
                let mut c = Lmtp::unix(&lmtp);
                let mut sent = Vec::new();
                for n in 0..25 {
                    let src = format!("lmtp{t}x{n}");
                    let answer = c.deliver(&log_of(&src, n));
                    assert!(answer.starts_with("250 2.0.0"), "{answer}");
                    if merging.load(std::sync::atomic::Ordering::SeqCst) {
                        during.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    sent.push(src);
                }
                sent
            })
        })
        .collect();
    let sent: Vec<String> = senders
        .into_iter()
        .flat_map(|s| s.join().unwrap())
        .collect();
    // Still merging after the first mails were answered: they were
    // committed between batches.
    let still = syncing(&farm).is_some_and(|s| s["phase"] == "merging");
    merging.store(false, std::sync::atomic::Ordering::SeqCst);
    let out = sync.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["sources"], 30_000);
    assert!(
        still || during.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "no mail was committed while the merge ran"
    );
    assert!(daemon.stop().success());
    // None lost: every mail's build, and the suite.
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    for src in &sent {
        let r = store.build(&key(src, "unstable", "amd64")).unwrap();
        assert_eq!(r.map(|r| r.state), Some(State::Built), "{src}");
    }
    let q = buildmail::sync::queue(&*store, &farm.cfg.archive, "unstable", "amd64").unwrap();
    assert_eq!(
        q.len(),
        20_000,
        "two thirds of the suite need building on amd64"
    );
}

/// SIGTERM during a sync: the merge stops after its batch, the daemon
/// exits 0, the Release is not recorded (the next sync merges the suite
/// again), and the next sync completes it.
#[test]
fn sigterm_during_a_sync_stops_after_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let farm = generated_farm(dir.path(), 30_000, "");
    let daemon = Daemon::start(&farm, &[]);
    let mut sync = farm
        .cli(&["sync"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !syncing(&farm).is_some_and(|s| s["phase"] == "merging" && s["done"].as_u64() > Some(0)) {
        assert!(start.elapsed() < Duration::from_secs(120), "no merge began");
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = daemon.stop();
    assert!(status.success(), "{status:?}");
    // The CLI that asked for the sync is told it did not finish.
    let out = sync.wait().unwrap();
    assert!(!out.success());
    let mut err = String::new();
    sync.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = run(&farm, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(v["releases"][0]["synced"].is_null(), "{v}");
    let partial = v["builds"].as_u64().unwrap();
    assert!(
        partial > 0 && partial < 60_000,
        "{partial} builds after a stopped merge"
    );
    // The next sync (no daemon) merges the whole suite.
    let text = run_ok(&farm, &["sync"]);
    assert!(text.contains("unstable: 30000 sources"), "{text}");
    let status = run(&farm, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(!v["releases"][0]["synced"].is_null());
    assert_eq!(v["builds"], 60_000);
}

/// A new admin key counts from the next mail: when the keyring file
/// changes (no signal needed) and after SIGHUP.
#[test]
fn a_changed_keyring_counts_from_the_next_mail() {
    let farm = Farm::new();
    let keyring = farm.root().join("data/gpg.asc");
    let _ = std::fs::remove_file(&keyring);
    let daemon = Daemon::start(&farm, &[]);
    let second = make_key(KeySpec {
        uid: "Second Admin <admin2@example.org>".into(),
        ..KeySpec::default()
    });
    let signed_by = |key: &TestKey, src: &str| {
        let subject = log_subject("attempted", src, "1.0-1", "amd64");
        reply(
            &subject,
            &clearsign(
                key,
                bind(&subject, "give-back").as_bytes(),
                SignSpec::at(wall_now() - 60),
            ),
            None,
        )
    };
    let deliver = |raw: &[u8]| {
        let out = farm.deliver_binary(raw, &[("BUILDMAIL_LOG", "off")]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for src in ["one", "two", "three"] {
        let spec = LogSpec::new(src, "1.0-1", "amd64", "unstable", "attempted");
        deliver(&log_mail_plain(
            &sbuild_subject("attempted", src, "1.0-1", "amd64", "unstable"),
            &sbuild_log(&spec),
        ));
    }
    let state = |src: &str| record(&farm, src, "amd64").state;
    deliver(&signed_by(&second, "one"));
    assert_eq!(state("one"), State::BuildAttempted, "an unknown key");
    std::fs::write(&keyring, second.armored_public()).unwrap();
    deliver(&signed_by(&second, "two"));
    assert_eq!(state("two"), State::NeedsBuild, "the new key counts");
    daemon.signal(libc::SIGHUP);
    deliver(&signed_by(&second, "three"));
    assert_eq!(state("three"), State::NeedsBuild, "and after SIGHUP");
    assert!(daemon.stop().success());
}

/// A mail over `limits.max_message_size` has one outcome whichever way it
/// comes: `deliver` without a daemon, `deliver` handing it to one, and
/// LMTP all keep it in the quarantine and acknowledge it.
#[test]
fn a_mail_over_the_size_limit_has_one_outcome_by_every_route() {
    let farm = Farm::with("[limits]\nmax_message_size = \"4KiB\"\n");
    // Twice the limit, whichever line ends the route uses.
    let big = |n: usize| {
        let name = format!("big{n}");
        let mut spec = LogSpec::new(&name, "1.0-1", "amd64", "unstable", "successful");
        spec.filler_lines = 100;
        let subject = sbuild_subject("successful", &name, "1.0-1", "amd64", "unstable");
        with_message_id(
            &log_mail_plain(&subject, &sbuild_log(&spec)),
            &format!("<big-{n}@example.org>"),
        )
    };
    assert!(big(0).len() > 2 * 4096);
    let alone = farm.deliver_binary(&big(1), &[]);
    assert_eq!(alone.status.code(), Some(0));
    let lmtp = farm.root().join("lmtp.sock");
    let daemon = Daemon::start(&farm, &["--lmtp", &format!("unix:{}", lmtp.display())]);
    let handed = farm.deliver_binary(&big(2), &[]);
    assert_eq!(
        handed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&handed.stderr)
    );
    let answer = Lmtp::unix(&lmtp).deliver(&big(3));
    assert!(
        answer.starts_with("250 2.0.0 <logs@example.org> quarantined"),
        "{answer}"
    );
    assert!(daemon.stop().success());
    let q: serde_json::Value =
        serde_json::from_str(&run_ok(&farm, &["quarantine", "list", "--json"])).unwrap();
    let q = q.as_array().unwrap();
    assert_eq!(q.len(), 3, "{q:?}");
    for e in q {
        let reason = e["reason"].as_str().unwrap();
        assert!(reason.contains("limits.max_message_size"), "{reason}");
        // Kept as a blob under the mail's identity, no path on record.
        assert_eq!(e["blob"], e["sha256"], "{e}");
        assert!(e.get("raw_file").is_none(), "{e}");
        assert!(e["size"].as_u64().unwrap() > 4096, "{e}");
        let id = e["id"].to_string();
        let shown = run(&farm, &["quarantine", "show", "--raw", &id]);
        assert!(shown.status.success(), "{shown:?}");
        assert_eq!(shown.stdout.len() as u64, e["size"].as_u64().unwrap());
    }
    // The spill files are gone once the blobs are durable.
    assert!(std::fs::read_dir(farm.cfg.quarantine_dir()).map_or(true, |d| d.count() == 0));
    assert!(run_ok(&farm, &["list", "--json"]).starts_with("[]"));
}

/// A query never creates a database: a mistyped `--data-dir` is an
/// error naming the path, and nothing appears there.
#[test]
fn queries_never_create_a_database() {
    let farm = Farm::new();
    if farm.pg.is_some() {
        // A PostgreSQL database is made by `buildmail migrate` only:
        // postgres::a_missing_or_newer_schema_is_refused.
        eprintln!("sled only: a mistyped --data-dir names no PostgreSQL database");
        return;
    }
    let typo = farm.root().join("typo");
    for args in [
        &["status"][..],
        &["info", "hello"],
        &["list"],
        &["queue", "--suite", "unstable", "--arch", "amd64"],
        &["fsck"],
    ] {
        let mut all = vec!["--data-dir", typo.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = run(&farm, &all);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no database at") && err.contains(typo.to_str().unwrap()),
            "{args:?}: {err}"
        );
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
    }
}

/// A daemon that accepts connections but does not answer (stopped) makes
/// `deliver` exit 75 at once, without waiting for the database it holds;
/// once it runs again the mail goes through.
#[test]
fn deliver_gives_up_at_once_on_a_stopped_daemon() {
    let farm = Farm::new();
    let daemon = Daemon::start(&farm, &[]);
    daemon.signal(libc::SIGSTOP);
    let start = Instant::now();
    let out = farm.deliver_binary(&log_of("stopped", 0), &[]);
    let took = start.elapsed();
    daemon.signal(libc::SIGCONT);
    assert_eq!(out.status.code(), Some(75));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not answer"), "{err}");
    assert!(took < Duration::from_secs(30), "waited {took:?}");
    let out = farm.deliver_binary(&log_of("stopped", 0), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(daemon.stop().success());
    assert_eq!(farm.state("stopped"), State::Built);
}

/// `[serve] http`: read-only queries over TCP; the quarantine, the
/// outbox, writes and mail are not answered there.
#[test]
fn the_tcp_listener_answers_public_views_only() {
    let farm = Farm::with("[serve]\nhttp = \"127.0.0.1:0\"\n");
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    let daemon = Daemon::start(&farm, &[]);
    let http = crate::support::web::http_address(&farm);
    let post = |path: &str, body: &str| -> (u16, String) {
        let mut s = std::net::TcpStream::connect(&http).unwrap();
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let code = out[9..12].parse().unwrap();
        (code, out)
    };
    let (code, body) = post("/v1/query", r#"{"view":"info","source":"hello"}"#);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"Built\""), "{body}");
    let (code, body) = post("/v1/query", r#"{"view":"quarantine"}"#);
    assert_eq!(code, 403, "{body}");
    let (code, _) = post("/v1/apply", r#"{"op":"work","explanations":false}"#);
    assert!(code == 404 || code == 405, "{code}");
    let (code, _) = post("/v1/mail", "From: x\n\nhello\n");
    assert!(code == 404 || code == 405, "{code}");
    assert!(daemon.stop().success());
}

/// `take` prints what sbuild needs to make a binNMU: the source version,
/// `--binNMU=N`, `--make-binNMU=<message>`, the maintainer and the
/// timestamp; its JSON has the binNMU. With Debian's sbuild installed,
/// sbuild's own option parser reads the printed line.
#[test]
fn take_prints_what_sbuild_needs_for_a_binnmu() {
    let dir = tempfile::tempdir().unwrap();
    let now = wall_now();
    let farm = populated(
        dir.path(),
        now,
        "binnmu_maintainer = \"Farm Buildd <buildd@example.org>\"\n",
    );
    let daemon = Daemon::start(&farm, &[]);
    let out = run_ok(
        &farm,
        &[
            "binnmu",
            "done_1-1",
            "--suite",
            "unstable",
            "--arch",
            "amd64",
            "--message",
            "Rebuild against libfoo 2 (it's \"new\")",
        ],
    );
    assert!(out.contains("1-1+b4"), "the archive has +b3: {out}");
    let text = run_ok(
        &farm,
        &[
            "take",
            "--suite",
            "unstable",
            "--arch",
            "amd64",
            "--builder",
            "b1",
            "done",
        ],
    );
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("done_1-1+b4 dist=unstable arch=amd64"));
    let line = lines.next().unwrap();
    let args = shlex::split(line).unwrap();
    let scheduled = record(&farm, "done", "amd64")
        .binnmu
        .unwrap()
        .scheduled
        .unwrap();
    assert_eq!(
        args,
        [
            "sbuild".to_string(),
            "--dist=unstable".into(),
            "--arch=amd64".into(),
            "--binNMU=4".into(),
            "--make-binNMU=Rebuild against libfoo 2 (it's \"new\")".into(),
            "--maintainer=Farm Buildd <buildd@example.org>".into(),
            format!("--binNMU-timestamp={scheduled}"),
            "done_1-1".into(),
        ]
    );
    assert!(daemon.stop().success());
    sbuild_parses(&args);
}

/// Runs `args` (an sbuild command line) through sbuild's own option
/// parser (Debian's sbuild package, Sbuild::Options), checking what it
/// understood; says it skipped when sbuild is not installed.
fn sbuild_parses(args: &[String]) {
    if !Path::new("/usr/share/perl5/Sbuild/Options.pm").exists() {
        crate::support::skip("sbuild's option parser (the sbuild package) is not installed");
        return;
    }
    let script = r#"
use strict; use warnings;
use Sbuild::Conf; use Sbuild::Options;
my $conf = Sbuild::Conf::new();
my $options = Sbuild::Options->new($conf, "sbuild", "1");
die "sbuild rejected the arguments\n" unless defined $options;
print join("\n", "dist=" . $conf->get('DISTRIBUTION'), "arch=" . $conf->get('HOST_ARCH'),
  "binnmu=" . $conf->get('BIN_NMU_VERSION'), "message=" . $conf->get('BIN_NMU'),
  "maintainer=" . $conf->get('MAINTAINER_NAME'), "timestamp=" . $conf->get('BIN_NMU_TIMESTAMP'),
  "package=" . join(",", @ARGV)), "\n";
"#;
    let out = std::process::Command::new("perl")
        .arg("-e")
        .arg(script)
        .arg("--")
        .args(&args[1..])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let binnmu = args
        .iter()
        .find_map(|a| a.strip_prefix("--binNMU="))
        .unwrap();
    assert!(text.contains(&format!("binnmu={binnmu}\n")), "{text}");
    let message = args
        .iter()
        .find_map(|a| a.strip_prefix("--make-binNMU="))
        .unwrap();
    assert!(text.contains(&format!("message={message}\n")), "{text}");
    assert!(
        text.contains("dist=unstable\n") && text.contains("arch=amd64\n"),
        "{text}"
    );
    assert!(text.contains("package=done_1-1\n"), "{text}");
    let maintainer = args
        .iter()
        .find_map(|a| a.strip_prefix("--maintainer="))
        .unwrap();
    assert!(
        text.contains(&format!("maintainer={maintainer}\n")),
        "{text}"
    );
    let stamp = args
        .iter()
        .find_map(|a| a.strip_prefix("--binNMU-timestamp="))
        .unwrap();
    assert!(text.contains(&format!("timestamp={stamp}\n")), "{text}");
}

/// A farm following a mirror under `root` with a generated suite of `n`
/// sources published there (not synced yet).
fn generated_farm(root: &Path, n: usize, extra: &str) -> Farm {
    let mirror = root.join("mirror");
    let farm = farm_with(&mirror, extra);
    let now = wall_now();
    let (sources, packages) = generated(n);
    publish(
        &mirror,
        &Snapshot {
            date: now - 3600,
            valid_until: Some(now + 7 * DAY),
            sources: &sources,
            packages: &[("amd64", &packages), ("arm64", "")],
            signer: archive_key(),
        },
    );
    farm
}

/// A farm with a synced suite of `n` generated sources.
fn synced_farm(root: &Path, n: usize, extra: &str) -> Farm {
    let farm = generated_farm(root, n, extra);
    run_ok(&farm, &["sync"]);
    farm
}

/// `builder-ssh` runs only what a builder may ask, `take` as the key's
/// own builder: the forced command of its ssh key.
#[test]
fn a_builders_ssh_key_takes_as_that_builder_only() {
    let dir = tempfile::tempdir().unwrap();
    let farm = synced_farm(dir.path(), 10, "");
    let daemon = Daemon::start(&farm, &[]);
    let asks = |line: &str| {
        farm.cli(&["builder-ssh", "--builder", "b1"])
            .env("SSH_ORIGINAL_COMMAND", line)
            .output()
            .unwrap()
    };
    let out = asks("take --suite unstable --arch amd64 --json");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(t["builder"], "b1");
    let out = asks("buildmail queue --suite unstable --arch amd64 --json");
    assert!(out.status.success());
    // The attacks: taking as another builder, anything but take, queue
    // and info, shell tricks.
    for line in [
        "take --suite unstable --arch amd64 --builder b2",
        "sync",
        "binnmu src00001_1.1-1 --suite unstable --arch amd64 -m x",
        "forget-signature --list",
        "quarantine show 1",
        "take --suite unstable --arch amd64; rm -rf /",
        "",
        "take --suite 'unstable",
    ] {
        let out = asks(line);
        assert!(!out.status.success(), "{line:?} was run");
        assert!(out.stdout.is_empty(), "{line:?} printed {:?}", out.stdout);
    }
    let taken: Vec<buildmail::model::BuildRecord> =
        serde_json::from_str(&run_ok(&farm, &["list", "--state", "Building", "--json"])).unwrap();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].taken_by.as_deref(), Some("b1"));
    assert!(daemon.stop().success());
}

/// The same through a real sshd on loopback, with the `authorized_keys`
/// line the README gives: `ssh buildmail@host take ...` prints the job.
#[test]
fn a_builder_takes_work_over_a_real_ssh() {
    let sshd = Path::new("/usr/sbin/sshd");
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    if !sshd.exists() || !root || which("ssh").is_none() || which("ssh-keygen").is_none() {
        crate::support::skip("a real sshd needs openssh-server, openssh-client and root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let farm = synced_farm(dir.path(), 5, "");
    let daemon = Daemon::start(&farm, &[]);
    let ssh = dir.path().join("ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    for name in ["host_key", "builder_key"] {
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(ssh.join(name))
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    let public = std::fs::read_to_string(ssh.join("builder_key.pub")).unwrap();
    let config = farm.root().join("buildmail.toml");
    drop(farm.cli(&[])); // writes it
    std::fs::write(
        ssh.join("authorized_keys"),
        format!(
            "command=\"{} --config {} builder-ssh --builder arm-ubc-01\",restrict {public}",
            env!("CARGO_BIN_EXE_buildmail"),
            config.display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        ssh.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPidFile {}\n",
            ssh.join("host_key").display(),
            ssh.join("authorized_keys").display(),
            ssh.join("sshd.pid").display()
        ),
    )
    .unwrap();
    let _server = Killed(
        std::process::Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(ssh.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let client = |line: &str| {
        std::process::Command::new("ssh")
            .args(["-p", &port.to_string(), "-i"])
            .arg(ssh.join("builder_key"))
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
                &format!("{user}@127.0.0.1"),
                line,
            ])
            .output()
            .unwrap()
    };
    // sshd takes a moment to listen.
    let start = Instant::now();
    let out = loop {
        let out = client("take --suite unstable --arch amd64");
        if out.status.success() || start.elapsed() > Duration::from_secs(20) {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines();
    assert!(
        lines.next().unwrap().ends_with("dist=unstable arch=amd64"),
        "{text}"
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("sbuild --dist=unstable --arch=amd64 src"),
        "{text}"
    );
    let refused = client("sync");
    assert!(!refused.status.success());
    let building = run_ok(&farm, &["list", "--state", "Building", "--json"]);
    assert!(building.contains("arm-ubc-01"), "{building}");
    assert!(daemon.stop().success());
}

/// `program` on the PATH.
fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
}

/// A child process killed when dropped (also when the test fails).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `take` hands out builds in the queue's order, read from the index's
/// groups alone: every build of a generated suite (priorities and
/// sections varied, an admin's priority on one), taken one by one, in
/// the order `queue` lists them — with wanna-build's order and with one
/// the configuration turns around.
#[test]
fn take_hands_out_builds_in_the_queues_order() {
    for order in [
        "",
        "priority_order = [\"extra\", \"optional\", \"standard\", \"important\", \"required\"]\nsection_order = [\"games\", \"misc\", \"utils\"]\n",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let farm = synced_farm(dir.path(), 60, order);
        // An admin's give-back priority puts one build first.
        let store = buildmail::store::open(&farm.cfg.database).unwrap();
        let mut r = store.build(&key("src00043", "unstable", "amd64")).unwrap().unwrap();
        r.priority = Some(5);
        store
            .commit(&buildmail::store::Commit {
                now: wall_now(),
                build: Some(r),
                ..Default::default()
            })
            .unwrap();
        store.flush().unwrap();
        drop(store);
        let queue: Vec<serde_json::Value> = serde_json::from_str(&run_ok(
            &farm,
            &["queue", "--suite", "unstable", "--arch", "amd64", "--json"],
        ))
        .unwrap();
        assert_eq!(queue.len(), 40, "two thirds of 60 need building");
        assert_eq!(queue[0]["source"], "src00043");
        let mut taken = Vec::new();
        loop {
            let out = run(
                &farm,
                &["take", "--suite", "unstable", "--arch", "amd64", "--builder", "b", "--json"],
            );
            if !out.status.success() {
                break;
            }
            let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            taken.push(t["source"].clone());
        }
        let listed: Vec<serde_json::Value> = queue.iter().map(|e| e["source"].clone()).collect();
        assert_eq!(taken, listed, "order {order:?}");
    }
}

/// A sync while another process on the database (a second daemon sharing
/// it) holds the sync lock stands aside and says so; once the lock is
/// free, the next sync merges.
#[test]
fn a_sync_stands_aside_while_another_process_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let farm = generated_farm(dir.path(), 5, "");
    let daemon = Daemon::start(&farm, &[]);
    let held = buildmail::store::try_lock(&farm.cfg.database, "sync")
        .unwrap()
        .expect("the sync lock is free");
    let out = farm.cli(&["sync"]).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("another buildmail process on this database is syncing"),
        "{text}"
    );
    assert!(!text.contains("5 sources"), "{text}");
    let list = run_ok(&farm, &["list", "--json"]);
    assert_eq!(list.trim(), "[]", "nothing merged: {list}");
    drop(held);
    let text = run_ok(&farm, &["sync"]);
    assert!(text.contains("unstable: 5 sources"), "{text}");
    assert!(daemon.stop().success());
}

/// Each queue's length is kept by the commits that move builds in and out
/// of it (`status` does not count half a million entries per look), and
/// counted once for a database of an earlier release.
#[test]
fn the_queue_lengths_are_kept_by_the_commits() {
    let dir = tempfile::tempdir().unwrap();
    let farm = synced_farm(dir.path(), 12, "");
    let lens = || {
        let s = buildmail::store::open(&farm.cfg.database).unwrap();
        ["amd64", "arm64"].map(|arch| {
            (
                s.queue_len("unstable", arch).unwrap(),
                s.queue_facts("unstable", arch).unwrap().len(),
            )
        })
    };
    let before = lens();
    for b in ["b1", "b2", "b3"] {
        run_ok(
            &farm,
            &[
                "take",
                "--suite",
                "unstable",
                "--arch",
                "amd64",
                "--builder",
                b,
            ],
        );
    }
    let kept = lens();
    for (len, real) in kept {
        assert_eq!(len, real);
    }
    assert_eq!(kept[0].0 + 3, before[0].0, "{before:?} {kept:?}");
    assert_eq!(kept[1], before[1]);
    if crate::support::sled_only(&farm, "a sled database of an earlier release") {
        return;
    }
    // An earlier release: the index without its lengths.
    {
        let db = crate::support::open_raw_sled(&farm.cfg.database.path);
        let meta = db.open_tree("meta").unwrap();
        meta.insert("queue_indexed", &[3]).unwrap();
        for k in meta.scan_prefix("queue_len\0").keys() {
            meta.remove(k.unwrap()).unwrap();
        }
        db.flush().unwrap();
    }
    assert_eq!(lens(), kept);
}

/// `queue --limit N` prints the first N lines of the whole queue, through
/// the daemon as without it.
#[test]
fn queue_limit_prints_the_head_of_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let farm = synced_farm(dir.path(), 12, "");
    let args = ["queue", "--suite", "unstable", "--arch", "arm64"];
    let whole = run_ok(&farm, &args);
    let head: Vec<&str> = whole.lines().take(3).collect();
    assert_eq!(head.len(), 3, "{whole}");
    let limited = run_ok(&farm, &[&args[..], &["--limit", "3"]].concat());
    assert_eq!(limited.lines().collect::<Vec<_>>(), head);
    let daemon = Daemon::start(&farm, &[]);
    let limited = run_ok(&farm, &[&args[..], &["--limit", "3"]].concat());
    assert_eq!(limited.lines().collect::<Vec<_>>(), head);
    assert!(daemon.stop().success());
}
