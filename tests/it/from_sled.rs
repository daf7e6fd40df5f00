//! `buildmail migrate --from-sled DIR`: a sled farm with real content
//! (logs, a signed reply applied, a quarantined mail, a forward, an
//! upload job, a synced suite) copied into PostgreSQL; the commands print
//! the same on both; replays stay refused; a copy killed midway and run
//! again, and a second run, give the same tables; a sled database in use
//! and a target holding other data are refused.
//!
//! These need a PostgreSQL server (`BUILDMAIL_TEST_POSTGRES`); without
//! one each says it skipped, and fails when `CI` is set.

use std::path::PathBuf;

use crate::support::archive::*;
use crate::support::farm::*;
use crate::support::keys::*;
use crate::support::logs::{sbuild_log, LogSpec};
use crate::support::pg::{self, TestDb};
use buildmail::ingest::Outcome;

/// Whether this is the PostgreSQL pass; says so when not (the pass,
/// which `postgres::the_postgresql_pass_ran` runs, does these tests).
fn server(test: &str) -> bool {
    if pg::server().is_some() {
        return true;
    }
    eprintln!(
        "not here: {test} runs in the PostgreSQL pass (postgres::the_postgresql_pass_ran), {} is not set",
        pg::ENV
    );
    false
}

/// A sled farm with an archive (the database of a farm before it moved)
/// and the PostgreSQL database it moves to.
struct Moving {
    farm: Farm,
    extra: String,
    db: Option<TestDb>,
    /// The first log mail, as delivered.
    log_mail: Vec<u8>,
    /// The signed give-back, as delivered.
    give_back: Vec<u8>,
    /// The quarantined mail's id.
    quarantined: u64,
    _mirror: tempfile::TempDir,
}

impl Moving {
    fn new() -> Moving {
        Moving::with_sources("")
    }

    /// A farm whose suite has `more` sources besides its own.
    fn with_sources(more: &str) -> Moving {
        let mirror = tempfile::tempdir().unwrap();
        let root = mirror.path().join("mirror");
        std::fs::create_dir_all(&root).unwrap();
        let keyring = root.join("archive-key.asc");
        std::fs::write(&keyring, archive_key().armored_public()).unwrap();
        let extra = format!(
            "[archive]\nroot = {root:?}\nsuites = [\"unstable\"]\narchitectures = [\"amd64\", \"arm64\"]\narch_all = \"amd64\"\nrelease_keyrings = [{keyring:?}]\n"
        );
        let mut farm = Farm::with(&extra);
        let db = farm.pg.take().or_else(TestDb::create);
        assert!(db.is_some(), "the PostgreSQL pass runs");
        // The farm on sled first.
        farm.reconfigure(&extra);
        assert!(farm.cfg.database.url.is_none());
        let sources = format!(
            "{}{more}",
            "Package: base\nVersion: 1.0-1\nArchitecture: any\nPriority: required\nSection: base\n\n\
                          Package: game\nVersion: 2.0-1\nArchitecture: any\nPriority: optional\nSection: games\n\n\
                          Package: lib\nVersion: 3.0-1\nArchitecture: any\nPriority: optional\nSection: libs\n\
                          Maintainer: Jane Doe <jane@example.org>\nUploaders: Max <max@example.org>\n\n"
        );
        publish(
            &root,
            &Snapshot {
                date: wall_now() - 3600,
                valid_until: None,
                sources: &sources,
                packages: &[("amd64", ""), ("arm64", "")],
                signer: archive_key(),
            },
        );
        run_ok(&farm, &["sync"]);

        // Logs delivered.
        let spec = LogSpec::new("hello", "1.0-1", "amd64", "unstable", "successful");
        let log_mail = crate::support::with_message_id(
            &crate::support::log_mail_plain(
                &crate::support::sbuild_subject(
                    "successful",
                    "hello",
                    "1.0-1",
                    "amd64",
                    "unstable",
                ),
                &sbuild_log(&spec),
            ),
            &crate::support::unique_message_id(),
        );
        assert!(matches!(farm.deliver(&log_mail), Outcome::Log { .. }));
        farm.log("successful", "hello", "1.0-1", "arm64", "unstable");
        farm.log("failed", "broken", "1.0-1", "amd64", "unstable");
        // A signed reply applied.
        farm.log("attempted", "retry", "1.0-1", "amd64", "unstable");
        let subject = log_subject("attempted", "retry", "1.0-1", "amd64");
        let signed = clearsign(
            shared_ed25519(),
            b"give-back retry_1.0-1 dist=unstable arch=amd64\n",
            fresh(),
        );
        let give_back = reply(&subject, &signed, None);
        let out = farm.deliver(&give_back);
        assert!(
            matches!(out, Outcome::Reply { applied: true, .. }),
            "{out:?}"
        );
        // An unsigned command from a known sender: refused and answered
        // (an error reply on record).
        let out = farm.deliver(&reply(
            &log_subject("successful", "hello", "1.0-1", "amd64"),
            b"retry\n",
            None,
        ));
        assert!(
            matches!(out, Outcome::Reply { applied: false, .. }),
            "{out:?}"
        );
        // A bounce (forwarding loop protection on record).
        let bounce = crate::support::TextMail::new(
            "MAILER-DAEMON@mx.example.org",
            "buildd@example.org",
            "Undelivered Mail Returned to Sender",
            "This is the mail system.\n",
        )
        .build();
        assert!(matches!(farm.deliver(&bounce), Outcome::Forwarded { .. }));
        // A quarantined mail (a log whose gzip part is corrupt).
        let bad = crate::support::log_mail_mime_gzip_raw(
            &crate::support::sbuild_subject("successful", "hello", "1.0-1", "amd64", "unstable"),
            b"\x1f\x8b\x08\x00garbage-not-deflate",
        );
        let Outcome::Quarantined {
            id: quarantined, ..
        } = farm.ingest_only(&bad)
        else {
            panic!("not quarantined")
        };
        // An upload job, queued (not run).
        farm.log("successful", "up", "1.0-1", "amd64", "unstable");
        let changes = farm.build_files("up", "1.0-1", "amd64");
        let signed = clearsign(shared_ed25519(), changes.as_bytes(), fresh());
        let out = farm.ingest_only(&reply(
            &log_subject("successful", "up", "1.0-1", "amd64"),
            &signed,
            None,
        ));
        assert!(
            matches!(&out, Outcome::Reply { queued: Some(q), .. } if q == "upload"),
            "{out:?}"
        );
        // A forward in the outbox (not sent).
        let out = farm.ingest_only(&crate::support::question_mail(
            "a question",
            "Hello admins\n",
        ));
        assert!(matches!(out, Outcome::Forwarded { .. }), "{out:?}");
        Moving {
            farm,
            extra,
            db,
            log_mail,
            give_back,
            quarantined,
            _mirror: mirror,
        }
    }

    /// The sled database's directory.
    fn sled_dir(&self) -> PathBuf {
        self.farm.root().join("data/db")
    }

    /// The farm pointed at its PostgreSQL database.
    fn switch_to_postgres(&mut self) {
        self.farm.pg = self.db.take();
        self.farm.reconfigure(&self.extra);
        assert!(self.farm.cfg.database.url.is_some());
    }

    /// `buildmail migrate --from-sled`, on the farm as configured.
    fn migrate(&self, env: &[(&str, &str)]) -> std::process::Output {
        let dir = self.sled_dir();
        let mut cmd = self
            .farm
            .cli(&["migrate", "--from-sled", dir.to_str().unwrap()]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

fn run_ok(farm: &Farm, args: &[&str]) -> String {
    let out = farm.cli(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// What the commands a farm's people use print.
fn views(m: &Moving) -> Vec<(String, String)> {
    let id = m.quarantined.to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec!["info", "hello"],
        vec!["info", "retry"],
        vec!["info", "lib", "--arch", "arm64"],
        vec!["history", "hello", "--arch", "amd64"],
        vec!["history", "retry", "--arch", "amd64"],
        vec!["log", "hello_1.0-1"],
        vec!["queue", "--suite", "unstable", "--arch", "amd64"],
        vec!["queue", "--suite", "unstable", "--arch", "arm64"],
        vec!["quarantine", "list"],
        vec!["quarantine", "show", &id, "--raw"],
        vec!["outbox", "list"],
        vec!["forget-signature", "--list"],
        vec!["list"],
    ];
    let mut out: Vec<(String, String)> = commands
        .iter()
        .map(|c| (c.join(" "), run_ok(&m.farm, c)))
        .collect();
    // `status` names the database; the rest must be the same.
    // (Exit 3: no daemon runs.)
    let status = m.farm.cli(&["status", "--json"]).output().unwrap();
    assert_eq!(status.status.code(), Some(3), "{}", stderr(&status));
    let status = stdout(&status);
    let mut v: serde_json::Value = serde_json::from_str(&status).unwrap();
    if let Some(o) = v.as_object_mut() {
        o.remove("database");
    }
    out.push(("status --json".into(), v.to_string()));
    out
}

/// Every table of the database, in a stable form (to compare two runs).
fn tables(db: &TestDb) -> Vec<(String, String)> {
    let mut c = db.client();
    let names: Vec<String> = c
        .query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = Vec::new();
    for t in names {
        if t == "schema_version" {
            continue;
        }
        let row = c
            .query_one(
                &format!(
                    "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {t} t"
                ),
                &[],
            )
            .unwrap();
        out.push((
            t,
            format!("{} {}", row.get::<_, i64>(0), row.get::<_, String>(1)),
        ));
    }
    let seqs = c
        .query_one(
            "SELECT (SELECT last_value FROM ids), (SELECT last_value FROM quarantine_ids)",
            &[],
        )
        .unwrap();
    out.push((
        "sequences".into(),
        format!("{} {}", seqs.get::<_, i64>(0), seqs.get::<_, i64>(1)),
    ));
    out
}

fn database_of(m: &Moving) -> &TestDb {
    m.farm
        .pg
        .as_ref()
        .or(m.db.as_ref())
        .expect("the farm's PostgreSQL database")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_sled_farm_moved_to_postgresql_answers_the_same_and_refuses_replays() {
    if !server("a_sled_farm_moved_to_postgresql_answers_the_same_and_refuses_replays") {
        return;
    }
    let mut m = Moving::new();
    let before = views(&m);
    // What there is to compare: the farm's content, as sled shows it.
    let shown = |cmd: &str| &before.iter().find(|(c, _)| c == cmd).unwrap().1;
    assert!(shown("info hello").contains("State               : Built"));
    assert!(shown("history retry --arch amd64").contains("cmd:give-back"));
    assert!(shown("log hello_1.0-1").contains("Status: successful"));
    assert!(shown("queue --suite unstable --arch amd64").contains("1  base_1.0-1"));
    assert!(shown(&format!("quarantine show {} --raw", m.quarantined)).contains("H4sIAGdhcmJhZ2Ut"));
    assert!(shown("outbox list").contains("forward"));
    assert!(shown("list").contains("Built (upload queued)"));
    assert!(shown("forget-signature --list").contains("command for unstable/amd64/retry"));
    assert!(shown("status --json").contains("\"jobs\":1"));
    m.switch_to_postgres();
    let out = m.migrate(&[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    // Every table counted on both sides, none differing.
    for table in [
        "builds",
        "history",
        "mails",
        "signatures",
        "jobs",
        "outbox",
        "quarantine",
        "logs",
        "queue",
        "notices",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(table)),
            "{table} not counted:\n{text}"
        );
    }
    assert!(!text.contains("MISMATCH"), "{text}");
    let history_line = text
        .lines()
        .find(|l| l.starts_with("history "))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(history_line[1], history_line[2], "{text}");
    assert_ne!(history_line[1], "0", "{text}");
    // Every kind of row was there to copy.
    for (table, n) in [
        ("replies_sent", "2"),
        ("bounces", "1"),
        ("jobs", "1"),
        ("daily", "4"),
    ] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .unwrap_or_else(|| panic!("{table} not counted:\n{text}"));
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((cells[1], cells[2]), (n, n), "{text}");
    }

    // The same answers on PostgreSQL.
    let after = views(&m);
    for ((cmd, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(a, b, "`buildmail {cmd}` differs after the move");
    }

    // A mail delivered before the move is a duplicate after it.
    let again = m.farm.deliver(&m.log_mail);
    assert!(matches!(again, Outcome::Duplicate(_)), "{again:?}");
    // A signature used before the move is refused after it (in a new
    // mail: the mail's own dedup record does not catch it).
    let replayed =
        crate::support::with_message_id(&m.give_back, &crate::support::unique_message_id());
    let again = m.farm.deliver(&replayed);
    match &again {
        Outcome::Reply {
            applied: false,
            reasons,
            ..
        } => assert!(
            reasons.iter().any(|r| r.contains("signature already seen")),
            "{reasons:?}"
        ),
        other => panic!("a replayed signature was not refused: {other:?}"),
    }
    // The counters continue above the copied ones.
    let bad = crate::support::log_mail_mime_gzip_raw(
        &crate::support::sbuild_subject("successful", "other", "1.0-1", "amd64", "unstable"),
        b"\x1f\x8b\x08\x00more-garbage",
    );
    let Outcome::Quarantined { id, .. } = m.farm.ingest_only(&bad) else {
        panic!("not quarantined")
    };
    assert_eq!(id, m.quarantined + 1);
}

#[test]
fn a_copy_killed_midway_and_run_again_finishes_and_a_second_run_changes_nothing() {
    if !server("a_copy_killed_midway_and_run_again_finishes_and_a_second_run_changes_nothing") {
        return;
    }
    // The reference: one uninterrupted copy of the same farm.
    // 700 more sources: 1,400 more builds and history lines, two batches
    // of each.
    let more = generated(700).0;
    let mut whole = Moving::with_sources(&more);
    whole.switch_to_postgres();
    let out = whole.migrate(&[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let mut m = Moving::with_sources(&more);
    m.switch_to_postgres();
    // Killed after its third batch: the builds are in, half the history.
    let out = m.migrate(&[("BUILDMAIL_CRASH_AT", "migrate-batch:3")]);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(9),
        "the crash point was not reached"
    );
    let midway = tables(database_of(&m));
    let count_of = |t: &[(String, String)], name: &str| {
        t.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.split(' ').next().unwrap().to_string())
            .unwrap()
    };
    let reference = tables(database_of(&whole));
    assert_eq!(count_of(&midway, "builds"), count_of(&reference, "builds"));
    assert_eq!(
        count_of(&midway, "history"),
        "1000",
        "stopped after one batch of history"
    );
    assert_eq!(count_of(&midway, "mails"), "0", "stopped before the mails");
    // Run again: it finishes, and every table has what the uninterrupted
    // copy has.
    let out = m.migrate(&[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains("MISMATCH"));
    let finished = tables(database_of(&m));
    let counts = |t: &[(String, String)]| {
        t.iter()
            .map(|(n, v)| (n.clone(), v.split(' ').next().unwrap().to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(&finished), counts(&reference));
    // A second run adds and changes nothing.
    let out = m.migrate(&[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(tables(database_of(&m)), finished);
}

#[test]
fn a_sled_database_in_use_and_a_target_with_other_data_are_refused() {
    if !server("a_sled_database_in_use_and_a_target_with_other_data_are_refused") {
        return;
    }
    let mut m = Moving::new();
    // Without `[database] url` there is nowhere to copy to.
    let out = m.migrate(&[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("set [database] url to the PostgreSQL database first"),
        "{}",
        stderr(&out)
    );
    // Held by another buildmail (a daemon, a command).
    let held = buildmail::store::open(&m.farm.cfg.database).unwrap();
    m.switch_to_postgres();
    let out = m.migrate(&[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is in use"), "{}", stderr(&out));
    let mut c = database_of(&m).client();
    let n: i64 = c
        .query_one("SELECT count(*) FROM builds", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "nothing copied from a database in use");
    drop(held);

    // Copied; then the PostgreSQL side changes (the farm ran on it), and
    // a copy again is refused, naming the build.
    let out = m.migrate(&[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    c.execute(
        "UPDATE builds SET rev = rev + 1 WHERE source = 'hello' AND arch = 'amd64'",
        &[],
    )
    .unwrap();
    let out = m.migrate(&[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("already holds other data in builds") && err.contains("hello/unstable/amd64"),
        "{err}"
    );
    // A directory that is no sled database.
    let empty = tempfile::tempdir().unwrap();
    let out = m
        .farm
        .cli(&["migrate", "--from-sled", empty.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("holds no sled database"),
        "{}",
        stderr(&out)
    );
}

/// A mail over the quarantine's inline limit: junk, not a mail.
fn big_junk(tag: &str) -> Vec<u8> {
    let mut junk = format!("\x00\x01 not a mail {tag} ").into_bytes();
    let mut i = 0u32;
    while junk.len() <= buildmail::ingest::QUARANTINE_INLINE + 4096 {
        junk.extend_from_slice(format!("\x00junk line {i} \u{fe}\r\n").as_bytes());
        i += 1;
    }
    junk
}

/// The files of a sled farm move too: the log archive (an earlier
/// release's `.log.gz` among its segments), the mail store (a large
/// quarantined mail, a large forward), and the mails earlier releases
/// kept in files named by records (a quarantine entry's `raw_file`, a
/// forward's `Carried::File`), which become blobs of the mail store. On
/// PostgreSQL every one reads byte-exact, and no record names a path.
#[test]
fn a_farm_s_files_and_earlier_releases_files_move_into_postgresql() {
    use buildmail::model::{Carried, OutboundMail, QuarantineEntry};
    use buildmail::store::archive::LogArchive;
    use buildmail::store::Commit;
    if !server("a_farm_s_files_and_earlier_releases_files_move_into_postgresql") {
        return;
    }
    let mut farm = Farm::new();
    let db = farm.pg.take().or_else(TestDb::create).unwrap();
    farm.reconfigure("");
    assert!(farm.cfg.database.url.is_none());
    // Two logs; the first rewritten as an earlier release archived it.
    let spec = LogSpec::new("hello", "1.0-1", "amd64", "unstable", "successful");
    let old_log = sbuild_log(&spec);
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    let archive = LogArchive::new(&farm.cfg.database.log_archive);
    let old_id = {
        let store = buildmail::store::open(&farm.cfg.database).unwrap();
        store.logs_of("hello").unwrap()[0].id.clone()
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &archive.read(&old_id).unwrap()).unwrap();
    let file = archive.legacy_path(&old_id).unwrap();
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, gz.finish().unwrap()).unwrap();
    std::fs::remove_dir_all(farm.cfg.database.log_archive.join("segments")).unwrap();
    drop(archive);
    farm.log("failed", "other", "2.0-1", "arm64", "unstable");
    // A large quarantined mail (a blob of the mail store).
    let big = big_junk("new");
    let Outcome::Quarantined { id: big_id, .. } = farm.ingest_only(&big) else {
        panic!("not quarantined")
    };
    // A large forward (a blob of the mail store).
    let mut body = String::new();
    while body.len() <= buildmail::ingest::QUARANTINE_INLINE + 4096 {
        body.push_str("A line of a long question to the admins.\n");
    }
    let question = crate::support::question_mail("a long question", &body);
    assert!(matches!(
        farm.ingest_only(&question),
        Outcome::Forwarded { .. }
    ));
    // A quarantined mail and a forward as an earlier release kept them:
    // in files the records name.
    let old_junk = big_junk("old");
    let qfile = farm.cfg.quarantine_dir().join("old.eml");
    let old_question = crate::support::question_mail("an old question", "Hello\n");
    let ufile = farm.root().join(format!(
        "data/unhandled/{}.eml",
        hex::encode(blake3::hash(&old_question).as_bytes())
    ));
    std::fs::create_dir_all(qfile.parent().unwrap()).unwrap();
    std::fs::create_dir_all(ufile.parent().unwrap()).unwrap();
    std::fs::write(&qfile, &old_junk).unwrap();
    std::fs::write(&ufile, &old_question).unwrap();
    let (old_qid, sled_forwards) = {
        let store = buildmail::store::open(&farm.cfg.database).unwrap();
        let entry: QuarantineEntry = serde_json::from_value(serde_json::json!({
            "id": 0, "time": now(), "reason": "unparsable", "message_id": null,
            "subject": null, "from": null, "size": old_junk.len(),
            "sha256": "ab".repeat(32), "raw_file": qfile,
        }))
        .unwrap();
        let c = Commit {
            now: now(),
            quarantine: Some((entry, &[])),
            ..Commit::default()
        };
        let buildmail::store::Committed::Written {
            quarantine_id: Some(old_qid),
        } = store.commit(&c).unwrap()
        else {
            panic!("not written")
        };
        let queued = store.outbox_mails().unwrap().remove(0);
        let mut old = serde_json::to_value(&queued).unwrap();
        old["id"] = serde_json::json!(store.generate_id().unwrap());
        old["carries"] = serde_json::json!({ "file": ufile });
        let old: OutboundMail = serde_json::from_value(old).unwrap();
        let c = Commit {
            now: now(),
            outbox: vec![(old, b"Resent-From: buildd@example.org\n".to_vec())],
            ..Commit::default()
        };
        store.commit(&c).unwrap();
        store.flush().unwrap();
        let forwards: Vec<(u64, Vec<u8>)> = store
            .outbox_mails()
            .unwrap()
            .iter()
            .map(|m| (m.id, store.outbox_bytes(m.id).unwrap().unwrap()))
            .collect();
        (old_qid, forwards)
    };
    assert_eq!(sled_forwards.len(), 2);
    assert!(sled_forwards[1].1.ends_with(&old_question));
    // A log mail whose dedup record an earlier release keyed by the
    // SHA-256 of its bytes (found again through its Message-ID). Ingested
    // without the worker: the forwards stay in the outbox.
    let mid = crate::support::unique_message_id();
    let spec = LogSpec::new("old", "1.0-1", "amd64", "unstable", "successful");
    let old_mail = crate::support::with_message_id(
        &crate::support::log_mail_plain(
            &crate::support::sbuild_subject("successful", "old", "1.0-1", "amd64", "unstable"),
            &sbuild_log(&spec),
        ),
        &mid,
    );
    assert!(matches!(farm.ingest_only(&old_mail), Outcome::Log { .. }));
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&old_mail))
    };
    {
        let db = crate::support::open_raw_sled(&farm.cfg.database.path);
        let mails = db.open_tree("mails").unwrap();
        let msgids = db.open_tree("msgids").unwrap();
        let key = msgids
            .get(mid.as_bytes())
            .unwrap()
            .expect("Message-ID on record");
        let record = mails.remove(&key).unwrap().expect("dedup record");
        mails.insert(sha.as_bytes(), record).unwrap();
        msgids.insert(mid.as_bytes(), sha.as_bytes()).unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(farm.ingest_only(&old_mail), Outcome::Duplicate(_)));

    farm.pg = Some(db);
    farm.reconfigure("");
    let dir = farm.root().join("data/db");
    let out = farm
        .cli(&["migrate", "--from-sled", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(!text.contains("MISMATCH"), "{text}");
    assert!(text.contains("2 moved into the mail store"), "{text}");
    // Nothing of the sled farm's files is needed any more.
    std::fs::remove_dir_all(&farm.cfg.database.log_archive).unwrap();
    std::fs::remove_dir_all(&farm.cfg.database.mail_blobs).unwrap();
    std::fs::remove_file(&qfile).unwrap();
    std::fs::remove_file(&ufile).unwrap();

    let printed = farm.cli(&["log", "hello_1.0-1"]).output().unwrap();
    assert!(printed.status.success(), "{}", stderr(&printed));
    assert!(
        printed.stdout == old_log,
        "the earlier release's log is not byte-exact"
    );
    let printed = farm.cli(&["log", "other_2.0-1"]).output().unwrap();
    assert!(printed.status.success(), "{}", stderr(&printed));
    for (id, raw) in [(big_id, &big), (old_qid, &old_junk)] {
        let shown = farm
            .cli(&["quarantine", "show", "--raw", &id.to_string()])
            .output()
            .unwrap();
        assert!(shown.status.success(), "{}", stderr(&shown));
        assert!(&shown.stdout == raw, "quarantined #{id} is not byte-exact");
    }
    let listed = farm
        .cli(&["quarantine", "list", "--json"])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    for e in listed.as_array().unwrap() {
        assert!(e.get("raw_file").is_none(), "{e}");
        assert!(e["blob"].is_string(), "{e}");
    }
    // The earlier release's dedup record is there under its key, and
    // recognises the mail.
    let mut c = farm.pg.as_ref().unwrap().client();
    let n: i64 = c
        .query_one("SELECT count(*) FROM mails WHERE id = $1", &[&sha])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    assert!(matches!(farm.ingest_only(&old_mail), Outcome::Duplicate(_)));
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    for (id, bytes) in &sled_forwards {
        assert!(
            store.outbox_bytes(*id).unwrap().as_ref() == Some(bytes),
            "forward {id} is not byte-exact"
        );
    }
    for m in store.outbox_mails().unwrap() {
        assert!(!matches!(m.carries, Some(Carried::File(_))), "{m:?}");
    }
}
