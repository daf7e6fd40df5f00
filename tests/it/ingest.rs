//! End-to-end ingestion through the library: real sled database, real MIME
//! mails built with mail-builder, real gzip.

use crate::support::logs::{sbuild_log, LogSpec};
use buildmail::config::Config;
use buildmail::ingest::{Ingest, Outcome};
use buildmail::model::state::State;
use buildmail::model::BuildKey;
use buildmail::store::StoreError;

fn config(dir: &std::path::Path) -> Config {
    Config::from_toml(
        &format!(
            "data_dir = {:?}\n[database]\nlock_timeout = \"200ms\"\n[limits]\nmax_message_size = \"2MiB\"\nmax_log_size = \"1MiB\"\n",
            dir.join("data")
        ),
        None,
    )
    .unwrap()
}

/// A fresh database in a temporary directory, with the configuration of
/// [`config`].
struct Db {
    _dir: tempfile::TempDir,
    cfg: Config,
    store: Box<dyn buildmail::store::Store>,
}

impl Db {
    fn new() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let store = buildmail::store::open(&cfg.database).unwrap();
        Db {
            _dir: dir,
            cfg,
            store,
        }
    }

    fn ingest(&self) -> Ingest<'_> {
        Ingest::new(&*self.store, &self.cfg)
    }
}

fn key(src: &str, dist: &str, arch: &str) -> BuildKey {
    BuildKey {
        dist: dist.into(),
        arch: arch.into(),
        source: src.into(),
    }
}

fn mail(spec: &LogSpec, id: &str) -> Vec<u8> {
    let subject = crate::support::sbuild_subject(
        spec.status,
        spec.source,
        spec.version,
        spec.arch,
        spec.dist,
    );
    crate::support::with_message_id(
        &crate::support::log_mail_plain(&subject, &sbuild_log(spec)),
        id,
    )
}

#[test]
fn successful_log_makes_a_built_record_with_history_and_archived_log() {
    let db = Db::new();
    let (cfg, store, ing) = (&db.cfg, &*db.store, db.ingest());
    let spec = LogSpec::new("hello", "2.10-3", "amd64", "unstable", "successful");
    let log = sbuild_log(&spec);
    let subject =
        crate::support::sbuild_subject("successful", "hello", "2.10-3", "amd64", "unstable");
    let raw = crate::support::log_mail_mime_gzip(
        &subject,
        &log,
        Some(&crate::support::changes_text("hello", "2.10-3", "amd64")),
        None,
    );
    let out = ing.mail(&raw).unwrap();
    assert_eq!(
        out,
        Outcome::Log {
            key: key("hello", "unstable", "amd64"),
            version: "2.10-3".into(),
            state: State::Built,
            before: None,
            moved: true
        }
    );
    let r = store
        .build(&key("hello", "unstable", "amd64"))
        .unwrap()
        .unwrap();
    assert_eq!(r.state, State::Built);
    assert_eq!(r.previous_state, None);
    assert_eq!(r.builder.as_deref(), Some("buildd-test.example.org"));
    assert_eq!(r.fail_stage, None);
    assert!(r.changes.as_deref().unwrap().contains("Source: hello"));
    let h = store.history(&r.key).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].to, Some(State::Built));
    assert_eq!(h[0].event, "log:successful");
    // The archived log is the exact bytes, invalid UTF-8 included.
    let logs = store.logs_of("hello").unwrap();
    assert_eq!(logs.len(), 1);
    let archive = buildmail::store::archive::LogArchive::new(&cfg.database.log_archive);
    let back = archive.read(&logs[0].id).unwrap();
    assert_eq!(back, log);
    // The gzip part was archived as it arrived, not recompressed.
    assert_eq!(
        logs[0].compressed_size,
        archive.get_log(&logs[0].id).unwrap().bytes.len() as u64
    );
    assert!(back.windows(2).any(|w| w == [0xff, 0xfe]));
}

#[test]
fn replaying_a_mail_changes_nothing() {
    let db = Db::new();
    let (store, ing) = (&*db.store, db.ingest());
    let spec = LogSpec::new("hello", "2.10-3", "amd64", "unstable", "attempted");
    let raw = mail(&spec, "replay-1@example.org");
    assert!(matches!(ing.mail(&raw).unwrap(), Outcome::Log { .. }));
    let before = store.build(&key("hello", "unstable", "amd64")).unwrap();
    // Same bytes.
    assert!(matches!(ing.mail(&raw).unwrap(), Outcome::Duplicate(_)));
    // Same Message-ID, other bytes (an MTA added a header on redelivery).
    let mut redelivered = b"Received: from relay.example.org\r\n".to_vec();
    redelivered.extend_from_slice(&raw);
    assert!(matches!(
        ing.mail(&redelivered).unwrap(),
        Outcome::Duplicate(_)
    ));
    assert_eq!(
        store.build(&key("hello", "unstable", "amd64")).unwrap(),
        before
    );
    assert_eq!(
        store
            .history(&key("hello", "unstable", "amd64"))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.stats().unwrap().mails, 1);
}

#[test]
fn states_follow_the_logs_and_older_versions_are_only_recorded() {
    let db = Db::new();
    let (store, ing) = (&*db.store, db.ingest());
    let k = key("libfoo", "unstable", "arm64");
    let mut n = 0;
    let mut feed = |status: &str, version: &str, stage: Option<&str>| {
        n += 1;
        let mut spec = LogSpec::new("libfoo", version, "arm64", "unstable", status);
        spec.fail_stage = stage;
        ing.mail(&mail(&spec, &format!("seq-{n}@example.org")))
            .unwrap()
    };
    feed("given-back", "1.4-2", Some("install-deps"));
    let r = store.build(&k).unwrap().unwrap();
    assert_eq!(r.state, State::NeedsBuild);
    assert_eq!(r.fail_stage.as_deref(), Some("install-deps"));

    feed("attempted", "1.4-2", Some("build"));
    let r = store.build(&k).unwrap().unwrap();
    assert_eq!(
        (r.state, r.previous_state),
        (State::BuildAttempted, Some(State::NeedsBuild))
    );

    feed("successful", "1.4-3", None);
    let r = store.build(&k).unwrap().unwrap();
    assert_eq!((r.state, r.version.as_str()), (State::Built, "1.4-3"));
    assert_eq!(r.fail_stage, None);

    // A late log of the older version is recorded, the state does not move.
    let out = feed("attempted", "1.4-2", Some("build"));
    assert!(
        matches!(
            out,
            Outcome::Log {
                moved: false,
                state: State::Built,
                ..
            }
        ),
        "{out:?}"
    );
    let r = store.build(&k).unwrap().unwrap();
    assert_eq!((r.state, r.version.as_str()), (State::Built, "1.4-3"));
    let h = store.history(&k).unwrap();
    assert_eq!(h.len(), 4);
    assert_eq!(h[3].from, Some(State::Built));
    assert_eq!(h[3].to, Some(State::Built));
    assert!(
        h[3].note.as_deref().unwrap().contains("older"),
        "{:?}",
        h[3].note
    );
    // binNMU of the same source version is newer.
    feed("successful", "1.4-3+b1", None);
    assert_eq!(store.build(&k).unwrap().unwrap().version, "1.4-3+b1");
}

#[test]
fn skipped_logs_do_not_move_existing_builds() {
    let db = Db::new();
    let (store, ing) = (&*db.store, db.ingest());
    let mut spec = LogSpec::new("bar", "1:2.0-1", "armhf", "bookworm", "skipped");
    spec.fail_stage = Some("arch-check");
    ing.mail(&mail(&spec, "skip-1@example.org")).unwrap();
    let k = key("bar", "bookworm", "armhf");
    assert_eq!(store.build(&k).unwrap().unwrap().state, State::AutoNotForUs);

    let ok = LogSpec::new("baz", "1.0-1", "armhf", "bookworm", "successful");
    ing.mail(&mail(&ok, "baz-1@example.org")).unwrap();
    let mut skip = LogSpec::new("baz", "1.0-1", "armhf", "bookworm", "skipped");
    skip.fail_stage = Some("arch-check");
    let out = ing.mail(&mail(&skip, "baz-2@example.org")).unwrap();
    assert!(matches!(
        out,
        Outcome::Log {
            moved: false,
            state: State::Built,
            ..
        }
    ));
}

#[test]
fn the_summary_wins_over_the_subject_and_the_disagreement_is_kept() {
    let db = Db::new();
    let (store, ing) = (&*db.store, db.ingest());
    let mut spec = LogSpec::new("hello", "2.10-3", "amd64", "unstable", "attempted");
    spec.fail_stage = Some("build");
    let subject =
        crate::support::sbuild_subject("successful", "hello", "2.10-3", "amd64", "unstable");
    let raw = crate::support::log_mail_plain(&subject, &sbuild_log(&spec));
    ing.mail(&raw).unwrap();
    let r = store
        .build(&key("hello", "unstable", "amd64"))
        .unwrap()
        .unwrap();
    assert_eq!(r.state, State::BuildAttempted);
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("subject says status successful")),
        "{:?}",
        r.notes
    );
}

#[test]
fn other_mails_are_kept_and_garbage_is_quarantined_byte_exact() {
    let db = Db::new();
    let (cfg, store, ing) = (&db.cfg, &*db.store, db.ingest());
    let other = crate::support::plain_mail("Question about the armhf buildd", "Is it up?");
    assert!(
        matches!(
            ing.mail(&other).unwrap(),
            Outcome::Forwarded {
                forwarded: true,
                ..
            }
        ),
        "a mail of no known kind is forwarded to the admin"
    );
    assert_eq!(store.stats().unwrap().unhandled, 1);
    let queued = crate::support::outbox_of(store);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].0.kind, "forward");
    assert_eq!(queued[0].0.to, vec![cfg.admin_address.clone()]);
    // Forwarded intact: the original bytes follow the Resent- headers.
    assert!(queued[0].1.starts_with(b"Resent-From: "));
    assert!(queued[0].1.ends_with(&other));

    // A log mail whose gzip part is corrupt.
    let subject =
        crate::support::sbuild_subject("successful", "hello", "2.10-3", "amd64", "unstable");
    let bad =
        crate::support::log_mail_mime_gzip_raw(&subject, b"\x1f\x8b\x08\x00garbage-not-deflate");
    let Outcome::Quarantined { id, reason } = ing.mail(&bad).unwrap() else {
        panic!("not quarantined")
    };
    assert!(reason.contains("gzip"), "{reason}");
    let (entry, raw) = store.quarantined_mail(id).unwrap().unwrap();
    assert_eq!(raw, bad);
    assert_eq!(entry.reason, reason);
    assert_eq!(entry.subject.as_deref(), Some(subject.as_str()));
    // Replaying the quarantined mail changes nothing.
    assert!(matches!(ing.mail(&bad).unwrap(), Outcome::Duplicate(_)));
    assert_eq!(store.quarantined().unwrap().len(), 1);
}

#[test]
fn gzip_bombs_and_oversize_mails_are_refused_without_loss() {
    let db = Db::new();
    let (store, ing) = (&*db.store, db.ingest());
    // 64 MiB of zeros compress to ~64 KiB; the limit is 1 MiB.
    let bomb = vec![0u8; 64 << 20];
    let subject =
        crate::support::sbuild_subject("successful", "bomb", "1.0-1", "amd64", "unstable");
    let raw = crate::support::log_mail_mime_gzip(&subject, &bomb, None, None);
    assert!(raw.len() < 1 << 20);
    let Outcome::Quarantined { reason, .. } = ing.mail(&raw).unwrap() else {
        panic!("bomb not refused")
    };
    assert!(reason.contains("limit"), "{reason}");
    assert!(store
        .build(&key("bomb", "unstable", "amd64"))
        .unwrap()
        .is_none());

    // A mail over max_message_size (2 MiB) is kept as a blob, whole.
    let spec = LogSpec::new("huge", "1.0-1", "amd64", "unstable", "successful");
    let mut log = sbuild_log(&spec);
    log.extend(std::iter::repeat_n(b'x', 3 << 20));
    let big = crate::support::log_mail_plain(
        &crate::support::sbuild_subject("successful", "huge", "1.0-1", "amd64", "unstable"),
        &log,
    );
    let Outcome::Quarantined { id, reason } = ing.mail(&big).unwrap() else {
        panic!("oversize not refused")
    };
    assert!(reason.contains("max_message_size"), "{reason}");
    let (entry, kept) = store.quarantined_mail(id).unwrap().unwrap();
    assert_eq!(entry.blob.as_deref(), Some(entry.sha256.as_str()));
    assert!(entry.raw_file.is_none());
    assert_eq!(kept, big);
}

#[test]
fn data_survives_reopening_and_log_message_ids_find_their_build() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    {
        let store = buildmail::store::open(&cfg.database).unwrap();
        let ing = Ingest::new(&*store, &cfg);
        let spec = LogSpec::new("hello", "2.10-3", "amd64", "unstable", "successful");
        ing.mail(&mail(&spec, "persist@example.org")).unwrap();
        store.flush().unwrap();
    }
    let store = buildmail::store::open(&cfg.database).unwrap();
    assert_eq!(
        store.build_for_log_message("persist@example.org").unwrap(),
        Some(key("hello", "unstable", "amd64"))
    );
    assert_eq!(store.builds_of("hello").unwrap().len(), 1);
}

#[test]
fn a_held_database_times_out_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let _held = buildmail::store::open(&cfg.database).unwrap();
    let err = buildmail::store::open(&cfg.database)
        .err()
        .expect("second open must wait and fail");
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("lock_timeout"), "{err}");
}

/// The race CI hit: while another thread forks children, each child
/// carries a copy of every open file between fork and exec, sled's lock
/// file with it. Reopening the database right after closing it must wait
/// for that copy to go, not fail with "could not acquire lock".
#[test]
fn reopening_while_other_threads_fork_waits_for_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let forkers: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = std::process::Command::new("true").status();
                }
            })
        })
        .collect();
    let mut failures = Vec::new();
    for _ in 0..300 {
        match buildmail::store::open(&cfg.database) {
            Ok(store) => drop(store),
            Err(e) => failures.push(e.to_string()),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for f in forkers {
        f.join().unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} failed opens: {:?}",
        failures.len(),
        failures.first()
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    {
        let db = crate::support::open_raw_sled(&cfg.database.path);
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", "99")
            .unwrap();
        db.flush().unwrap();
    }
    let err = buildmail::store::open(&cfg.database)
        .err()
        .expect("newer schema must be refused");
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade buildmail"), "{err}");
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn mail_shaped() -> impl Strategy<Value = Vec<u8>> {
        let subjects = prop_oneof![
            Just("Log for successful build of hello_1.0-1 on amd64 (dist=unstable)".to_string()),
            Just("Log for attempted build of x_1:2~b+b1 on all (debian/sid)".to_string()),
            ".{0,80}".prop_map(|s| format!("Log for {s} build of a_1 (dist=b)")),
            ".{0,120}",
        ];
        let ctypes = prop_oneof![
            Just("text/plain; charset=utf-8".to_string()),
            Just("multipart/mixed; boundary=\"b\"".to_string()),
            Just("application/x-gzip".to_string()),
            ".{0,40}",
        ];
        let encodings = prop_oneof![
            Just("8bit"),
            Just("quoted-printable"),
            Just("base64"),
            Just("x-garbage")
        ];
        (
            subjects,
            ctypes,
            encodings,
            proptest::collection::vec(any::<u8>(), 0..2000),
        )
            .prop_map(|(subject, ctype, cte, body)| {
                let mut m = format!(
                    "From: b@x\r\nMessage-ID: <{}@p>\r\nSubject: {subject}\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                m.extend_from_slice(b"--b\r\nContent-Type: application/x-gzip\r\n\r\n\x1f\x8b\r\n--b\r\n\r\n");
                m.extend_from_slice(&body);
                m
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// The whole `deliver` path below the store: arbitrary bytes are
        /// prepared and committed without a panic, and always end up as a
        /// log, another mail, a duplicate or a quarantined mail.
        #[test]
        fn arbitrary_mails_never_panic(raw in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..4000),
            mail_shaped(),
        ]) {
            let db = Db::new();
            let ing = db.ingest();
            let out = ing.mail(&raw).unwrap();
            // A parser panic is caught and quarantined so no mail is lost;
            // it is still a bug, and this test exists to find it.
            if let Outcome::Quarantined { reason, .. } = &out {
                prop_assert!(!reason.contains("panicked"), "a parser panicked: {}", reason);
            }
            let again = ing.mail(&raw).unwrap();
            prop_assert!(matches!(again, Outcome::Duplicate(_)), "{:?} then {:?}", out, again);
        }
    }
}

/// Every real-world sample in `../shared/corpus/` (when present) goes through
/// the whole ingest path: no panic, and each ends as a log, another mail or a
/// quarantined mail with a reason — never an error.
#[test]
fn every_corpus_file_is_ingested_without_panic() {
    let Some(corpus) = crate::support::corpus("") else {
        return;
    };
    let db = Db::new();
    let (store, ing) = (&*db.store, db.ingest());
    let (mut seen, mut recorded) = (0, 0);
    for sub in std::fs::read_dir(&corpus).unwrap() {
        let sub = sub.unwrap().path();
        if !sub.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&sub).unwrap() {
            let f = f.unwrap().path();
            let raw = std::fs::read(&f).unwrap();
            match ing.mail(&raw).unwrap() {
                Outcome::Quarantined { reason, .. } => {
                    assert!(!reason.is_empty());
                    assert!(!reason.contains("panicked"), "{}: {reason}", f.display());
                    recorded += 1;
                }
                Outcome::Log { .. }
                | Outcome::Reply { .. }
                | Outcome::Archive { .. }
                | Outcome::Forwarded { .. } => recorded += 1,
                Outcome::Duplicate(_) => {}
            }
            seen += 1;
        }
    }
    assert!(seen >= 50, "only {seen} corpus files found");
    // Every mail that was not a duplicate left exactly one dedup record.
    assert_eq!(store.stats().unwrap().mails, recorded);
}

mod replay {
    use super::*;
    use buildmail::model::{MailRecord, SignatureUse};
    use buildmail::store::{Commit, Committed};

    fn use_of(mail: &str) -> (MailRecord, SignatureUse) {
        (
            MailRecord {
                sha256: buildmail::inbound::source::sha256_hex(mail.as_bytes()),
                message_id: Some(format!("{mail}@example.org")),
                received: 1_800_000_000,
                kind: "reply".into(),
                outcome: "test".into(),
                build: None,
            },
            SignatureUse {
                fingerprint: "0123456789ABCDEF0123456789ABCDEF01234567".into(),
                created: 1_799_999_000,
                signed_sha256: "ab".repeat(32),
                first_seen: 1_800_000_000,
                message_id: Some(format!("{mail}@example.org")),
                outcome: "retry applied".into(),
                consumed: true,
            },
        )
    }

    #[test]
    fn a_signature_is_accepted_once_also_after_a_restart_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let (m1, sig) = use_of("first");
        {
            let store = buildmail::store::open(&cfg.database).unwrap();
            let c = Commit {
                mail: Some(m1),
                signature: Some(sig.clone()),
                ..Commit::default()
            };
            assert!(matches!(
                store.commit(&c).unwrap(),
                Committed::Written { .. }
            ));
            store.flush().unwrap();
        }
        let store = buildmail::store::open(&cfg.database).unwrap();
        // The same signature in another mail (another Message-ID, other bytes).
        let (m2, _) = use_of("second");
        let c = Commit {
            mail: Some(m2.clone()),
            signature: Some(sig.clone()),
            ..Commit::default()
        };
        match store.commit(&c).unwrap() {
            Committed::Replay(prev) => {
                assert_eq!(prev.first_seen, 1_800_000_000);
                assert_eq!(prev.outcome, "retry applied");
            }
            other => panic!("replay not refused: {other:?}"),
        }
        // Nothing of the refused commit was written.
        assert!(store.seen(&m2.sha256).unwrap().is_none());
        assert_eq!(
            store
                .signature_uses()
                .unwrap()
                .into_iter()
                .find(|u| (&u.fingerprint, u.created, &u.signed_sha256)
                    == (&sig.fingerprint, sig.created, &sig.signed_sha256))
                .unwrap()
                .message_id
                .as_deref(),
            Some("first@example.org")
        );
        // Too short a prefix forgets nothing; the right one does.
        assert!(store.forget_signature("abab").unwrap().is_empty());
        assert_eq!(store.forget_signature("abababab").unwrap().len(), 1);
        assert!(matches!(
            store.commit(&c).unwrap(),
            Committed::Written { .. }
        ));
    }
}

#[test]
fn a_corrupt_record_met_in_a_commit_is_an_error_not_a_duplicate() {
    use buildmail::model::{MailRecord, SignatureUse};
    use buildmail::store::Commit;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let sig = SignatureUse {
        fingerprint: "AB".repeat(20),
        created: 1_700_000_000,
        signed_sha256: "c".repeat(64),
        first_seen: 1_700_000_000,
        message_id: None,
        outcome: "accepted".into(),
        consumed: true,
    };
    drop(buildmail::store::open(&cfg.database).unwrap());
    {
        let db = crate::support::open_raw_sled(&cfg.database.path);
        db.open_tree("signatures")
            .unwrap()
            // The sled backend's key: fingerprint, time, signed hash.
            .insert(
                [
                    sig.fingerprint.as_bytes(),
                    &[0],
                    &sig.created.to_be_bytes(),
                    &[0],
                    sig.signed_sha256.as_bytes(),
                ]
                .concat(),
                b"not json".to_vec(),
            )
            .unwrap();
        db.flush().unwrap();
    }
    let store = buildmail::store::open(&cfg.database).unwrap();
    let c = Commit {
        mail: Some(MailRecord {
            sha256: "d".repeat(64),
            message_id: None,
            received: 0,
            kind: "reply".into(),
            outcome: String::new(),
            build: None,
        }),
        signature: Some(sig),
        ..Commit::default()
    };
    // The caller must not acknowledge the mail: an error, and nothing written.
    assert!(matches!(
        store.commit(&c),
        Err(StoreError::Corrupt {
            tree: "signatures",
            ..
        })
    ));
    assert_eq!(store.stats().unwrap().mails, 0);
}

/// The attack: an outsider's junk mail that carries a genuine log's
/// Message-ID, sent first, must not suppress the log: dedup is by content.
#[test]
fn a_message_id_squatter_does_not_suppress_the_genuine_log() {
    let db = Db::new();
    let ing = db.ingest();
    let mid = "genuine-log-1@buildd.example.org";
    let junk = crate::support::with_message_id(
        &crate::support::plain_mail("cheap watches", "buy now"),
        mid,
    );
    assert!(matches!(
        ing.mail(&junk).unwrap(),
        Outcome::Forwarded { .. }
    ));
    let spec = LogSpec::new("hello", "2.10-3", "amd64", "unstable", "successful");
    let out = ing.mail(&mail(&spec, mid)).unwrap();
    assert!(
        matches!(
            out,
            Outcome::Log {
                state: State::Built,
                ..
            }
        ),
        "{out:?}"
    );
    let history = db
        .store
        .history(&key("hello", "unstable", "amd64"))
        .unwrap();
    assert!(
        history[0]
            .note
            .as_deref()
            .unwrap_or("")
            .contains("came first"),
        "the history notes the clash: {history:?}"
    );
}

/// The same mail delivered along two paths (other Received and
/// Delivered-To fields) is one mail.
#[test]
fn the_same_mail_along_two_paths_is_a_duplicate() {
    let db = Db::new();
    let ing = db.ingest();
    let spec = LogSpec::new("hello", "2.10-3", "amd64", "unstable", "successful");
    let raw = mail(&spec, "two-paths@buildd.example.org");
    let mut a =
        b"Received: from mx1.example.org by logs.example.org; Mon, 30 Nov 2026 10:00:00 +0000\r\n"
            .to_vec();
    a.extend_from_slice(&raw);
    let mut b = b"Delivered-To: logs@example.org\r\nReceived: from mx2.example.org by logs.example.org; Mon, 30 Nov 2026 10:00:05 +0000\r\n".to_vec();
    b.extend_from_slice(&raw);
    assert!(matches!(ing.mail(&a).unwrap(), Outcome::Log { .. }));
    assert!(matches!(ing.mail(&b).unwrap(), Outcome::Duplicate(_)));
    assert_eq!(
        db.store
            .history(&key("hello", "unstable", "amd64"))
            .unwrap()
            .len(),
        1
    );
}

/// A database written by earlier releases keeps their dedup keys: the
/// SHA-256 content hash (the release before BLAKE3), the same with its line
/// ends as received, and the raw hash. Each still finds its mail — by
/// `import`'s preparer before the log is archived again, and by the commit
/// of a `deliver` — while the records this release writes are keyed by the
/// BLAKE3 content id.
#[test]
fn dedup_records_of_earlier_releases_are_still_found() {
    use buildmail::inbound::source::{
        content_id, content_sha256, content_sha256_as_received, sha256_hex, RawMail,
    };
    use buildmail::store::blob::BlobStore;
    let spec = LogSpec::new("hello", "2.10-3", "amd64", "unstable", "successful");
    // Received over LMTP (CRLF) and with a relay's trace field: each
    // earlier key differs from the others.
    let lf = mail(&spec, "old-release@example.org");
    let mut crlf = b"Received: from relay.example.org by mx\r\n".to_vec();
    // (What the wire form is: an LF that ends a line becomes CRLF.)
    for (i, &b) in lf.iter().enumerate() {
        if b == b'\n' && (i == 0 || lf[i - 1] != b'\r') {
            crlf.push(b'\r');
        }
        crlf.push(b);
    }
    let keys = [
        ("canonical SHA-256", content_sha256(&crlf)),
        ("SHA-256 as received", content_sha256_as_received(&crlf)),
        ("raw SHA-256", sha256_hex(&crlf)),
    ];
    assert_eq!(
        keys.iter()
            .map(|(_, k)| k)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        3
    );
    for (what, key) in &keys {
        for via_prepare in [true, false] {
            let db = Db::new();
            db.store
                .commit(&buildmail::store::Commit {
                    now: 1_800_000_000,
                    mail: Some(buildmail::model::MailRecord {
                        sha256: key.clone(),
                        // Every release recorded the Message-ID.
                        message_id: Some("old-release@example.org".into()),
                        received: 1_800_000_000,
                        kind: "log".into(),
                        outcome: format!("recorded by an earlier release ({what})"),
                        build: None,
                    }),
                    ..Default::default()
                })
                .unwrap();
            let ing = db.ingest();
            let raw = RawMail::Bytes(crlf.clone());
            let outcome = if via_prepare {
                let p = ing.prepare(&raw).unwrap();
                ing.commit(&raw, &p).unwrap()
            } else {
                // `deliver`: prepared without the store, checked at commit.
                let prep = buildmail::ingest::Preparer::new(&db.cfg);
                let p = prep.prepare(&raw).unwrap();
                ing.commit(&raw, &p).unwrap()
            };
            assert!(
                matches!(&outcome, Outcome::Duplicate(why) if why.contains(what)),
                "{what}, via prepare {via_prepare}: {outcome:?}"
            );
            assert!(db.store.builds_of("hello").unwrap().is_empty());
            assert!(db.store.seen(&content_id(&crlf)).unwrap().is_none());
            if via_prepare {
                // Found before its log was archived again.
                let archive =
                    buildmail::store::archive::LogArchive::new(&db.cfg.database.log_archive);
                assert!(archive.list().unwrap().is_empty(), "{what}");
            }
        }
    }
    // This release keys its record by the BLAKE3 content id, and the same
    // mail along another path (LF, no relay) is found by it.
    let db = Db::new();
    let ing = db.ingest();
    assert!(matches!(ing.mail(&crlf).unwrap(), Outcome::Log { .. }));
    let rec = db
        .store
        .seen(&content_id(&crlf))
        .unwrap()
        .expect("keyed by the content id");
    assert_eq!(rec.sha256, content_id(&lf));
    assert!(matches!(ing.mail(&lf).unwrap(), Outcome::Duplicate(_)));
    for (_, key) in &keys {
        assert!(db.store.seen(key).unwrap().is_none());
    }
}
