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

    // What the kill left: log files archived for mails whose commit was
    // lost. `fsck --repair` removes exactly those.
    let fsck = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_buildmail"))
            .arg("--config")
            .arg(&config)
            .arg("fsck")
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
    let archived = |dir: &std::path::Path| -> usize {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|shard| {
                        std::fs::read_dir(shard.path())
                            .map(|f| {
                                f.filter_map(Result::ok)
                                    .filter(|f| {
                                        f.file_name().to_string_lossy().ends_with(".log.gz")
                                    })
                                    .count()
                            })
                            .unwrap_or(0)
                    })
                    .sum()
            })
            .unwrap_or(0)
    };
    let cfg = Config::load(Some(&config)).unwrap();
    let store = buildmail::store::open(&cfg.database).unwrap();
    let recorded = store.log_refs().unwrap().len();
    drop(store);
    assert_eq!(
        archived(&cfg.database.log_archive),
        recorded,
        "an orphan is left after fsck --repair"
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
    drop(store);
    assert_eq!(archived(&cfg.database.log_archive), MAILS);
    let clean = fsck(&["--older-than", "0s"]);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
}

fn libc_sigkill() -> i32 {
    9
}
