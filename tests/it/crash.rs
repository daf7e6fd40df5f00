//! Crash safety: an import killed with SIGKILL in the middle, then re-run,
//! leaves every mail in the database exactly once and no history doubled.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use crate::support::logs::{sbuild_log, LogSpec};
use buildmail::config::Config;

const MAILS: usize = 1500;

#[test]
fn sigkill_during_import_then_rerun_gives_each_mail_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("buildmail.toml");
    // Flush often so the kill lands between durable batches.
    std::fs::write(
        &config,
        "data_dir = \"data\"\n[database]\nimport_flush_every = \"256KiB\"\n",
    )
    .unwrap();
    let mbox = dir.path().join("logs.mbox");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&mbox).unwrap());
    let names: Vec<String> = (0..MAILS).map(|i| format!("pkg{i:05}")).collect();
    for (i, name) in names.iter().enumerate() {
        let mut spec = LogSpec::new(name, "1.0-1", "amd64", "unstable", "successful");
        spec.filler_lines = 100;
        let subject =
            crate::support::sbuild_subject("successful", name, "1.0-1", "amd64", "unstable");
        let mail = crate::support::with_message_id(
            &crate::support::log_mail_plain(&subject, &sbuild_log(&spec)),
            &format!("crash-{i}@example.org"),
        );
        f.write_all(b"From buildd@example.org Sat Nov 21 10:00:00 2026\n")
            .unwrap();
        f.write_all(&mail).unwrap();
        f.write_all(b"\n").unwrap();
    }
    f.into_inner().unwrap().sync_all().unwrap();

    let import = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_buildmail"));
        c.arg("--config")
            .arg(&config)
            .arg("import")
            .arg(&mbox)
            .env_remove("BUILDMAIL_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    // Killed by the crash hook after its 60th commit (of 1,500): mid-way by
    // construction, not after a guessed delay.
    let status = import()
        .env("BUILDMAIL_CRASH_AT", "import-committed:60")
        .status()
        .unwrap();
    assert_eq!(
        status.signal(),
        Some(libc_sigkill()),
        "the import was not killed"
    );
    let cfg = Config::load(Some(&config)).unwrap();
    let store = buildmail::store::open(&cfg.database).unwrap();
    let n = store.stats().unwrap().mails;
    drop(store);
    let killed_midway = n > 0 && n < MAILS;
    assert!(n <= 60, "{n} mails committed before a kill at the 60th");
    assert!(killed_midway, "could not kill the import in the middle");

    // What the kill left: logs archived for mails whose commit was lost
    // (kept in the segments, counted by fsck), and perhaps a record cut
    // off in the middle (cut off by `fsck --repair`, as by the next
    // append). The archive stays whole: fsck finds nothing damaged.
    let fsck = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_buildmail"))
            .arg("--config")
            .arg(&config)
            .arg("fsck")
            .arg("--json")
            .args(args)
            .env_remove("BUILDMAIL_CONFIG")
            .output()
            .unwrap()
    };
    let repaired = fsck(&["--repair", "--older-than", "0s"]);
    assert!(
        repaired.status.success(),
        "{}",
        String::from_utf8_lossy(&repaired.stdout)
    );
    // The distinct logs in the archive, and whether each reads back whole.
    let archived = |dir: &std::path::Path| -> std::collections::BTreeSet<String> {
        use buildmail::store::blob::BlobStore;
        let archive = buildmail::store::archive::LogArchive::new(dir);
        archive
            .list()
            .unwrap()
            .into_iter()
            .map(|b| {
                let id = b.id.to_hex();
                archive.read(&id).expect("every archived log reads back");
                id
            })
            .collect()
    };
    let recorded_logs = |store: &dyn buildmail::store::Store| {
        store
            .log_refs()
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<std::collections::BTreeSet<String>>()
    };
    let cfg = Config::load(Some(&config)).unwrap();
    let store = buildmail::store::open(&cfg.database).unwrap();
    let recorded = recorded_logs(&*store);
    drop(store);
    assert!(
        archived(&cfg.database.log_archive).is_superset(&recorded),
        "a recorded log is missing from the archive"
    );

    let status = import().status().unwrap();
    assert!(status.success());
    let cfg = Config::load(Some(&config)).unwrap();
    let store = buildmail::store::open(&cfg.database).unwrap();
    assert_eq!(store.stats().unwrap().mails, MAILS);
    assert_eq!(
        store.stats().unwrap().history,
        MAILS,
        "a history entry was doubled or lost"
    );
    for name in &names {
        let builds = store.builds_of(name).unwrap();
        assert_eq!(builds.len(), 1, "{name}");
        let key = &builds[0].key;
        assert_eq!(store.history(key).unwrap().len(), 1, "{name}");
        assert_eq!(store.logs_of(name).unwrap().len(), 1, "{name}");
    }
    let recorded = recorded_logs(&*store);
    drop(store);
    assert_eq!(recorded.len(), MAILS);
    // Every log once per mail: the archive holds exactly the mails' logs.
    assert_eq!(archived(&cfg.database.log_archive), recorded);
    let clean = fsck(&["--older-than", "0s"]);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    let json: serde_json::Value = serde_json::from_slice(&clean.stdout).unwrap();
    assert_eq!(json["damaged_logs"], serde_json::json!([]), "{json}");
    assert_eq!(json["archive_tails"], serde_json::json!([]), "{json}");
}

fn libc_sigkill() -> i32 {
    9
}

/// A `deliver` killed in the middle of appending its log to the archive
/// (`BUILDMAIL_CRASH_AT`: after a record's header, and after a whole record
/// before its index entry) leaves no damaged segment: `fsck` reports the
/// cut-off end, the next delivery cuts it off (or indexes the whole
/// record), every log reads back byte-exact, and the killed mail,
/// delivered again, is committed once.
#[test]
fn a_deliver_killed_mid_append_leaves_a_tail_the_next_run_truncates() {
    use crate::support::farm::Farm;
    let farm = Farm::new();
    if crate::support::sled_only(&farm, "the local log archive's segment files") {
        return;
    }
    let mail_of = |name: &str, id: &str| {
        let spec = LogSpec::new(name, "1.0-1", "amd64", "unstable", "successful");
        let log = sbuild_log(&spec);
        let subject =
            crate::support::sbuild_subject("successful", name, "1.0-1", "amd64", "unstable");
        let mail = crate::support::with_message_id(
            &crate::support::log_mail_plain(&subject, &log),
            &format!("{id}@example.org"),
        );
        (mail, log)
    };
    let deliver = |mail: &[u8], crash_at: Option<&str>| {
        let mut c = farm.cli(&["deliver"]);
        if let Some(point) = crash_at {
            c.env("BUILDMAIL_CRASH_AT", point);
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(mail).unwrap();
        child.wait_with_output().unwrap()
    };
    let fsck = || {
        let out = farm
            .cli(&["fsck", "--json", "--older-than", "0s"])
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let (first, first_log) = mail_of("first", "first");
    assert!(deliver(&first, None).status.success());
    for (i, point) in ["archive-mid-record", "archive-mid-append"]
        .iter()
        .enumerate()
    {
        let (killed, killed_log) = mail_of(&format!("killed{i}"), &format!("killed{i}"));
        let died = deliver(&killed, Some(point));
        assert_eq!(
            died.status.signal(),
            Some(libc_sigkill()),
            "{point}: {died:?}"
        );
        let found = fsck();
        assert_eq!(
            found["damaged_logs"],
            serde_json::json!([]),
            "{point}: {found}"
        );
        if *point == "archive-mid-record" {
            assert_eq!(
                found["archive_tails"].as_array().unwrap().len(),
                1,
                "{point}: {found}"
            );
        }
        // The next delivery appends after what the crash left.
        let (next, next_log) = mail_of(&format!("next{i}"), &format!("next{i}"));
        assert!(deliver(&next, None).status.success());
        let found = fsck();
        assert_eq!(
            found["archive_tails"],
            serde_json::json!([]),
            "{point}: {found}"
        );
        assert_eq!(
            found["damaged_logs"],
            serde_json::json!([]),
            "{point}: {found}"
        );
        assert_eq!(
            found["missing_logs"],
            serde_json::json!([]),
            "{point}: {found}"
        );
        // The killed mail was not acknowledged; delivered again, it counts.
        assert!(deliver(&killed, None).status.success());
        for (name, log) in [
            ("first", &first_log),
            (format!("next{i}").as_str(), &next_log),
            (format!("killed{i}").as_str(), &killed_log),
        ] {
            let printed = farm.cli(&["log", name]).output().unwrap();
            assert!(printed.status.success(), "{name}: {printed:?}");
            assert!(printed.stdout == *log, "{name}: the log is not byte-exact");
        }
        let store = buildmail::store::open(&farm.cfg.database).unwrap();
        assert_eq!(
            store
                .history(&store.builds_of(&format!("killed{i}")).unwrap()[0].key)
                .unwrap()
                .len(),
            1
        );
        drop(store);
    }
    let found = fsck();
    assert_eq!(found["unreferenced_blobs"], 0, "{found}");
}
