//! Two writers on one database: a commit made from a read is written only
//! while what it read is still there (the build record's revision), so
//! that a second host's reply, sync or upload never undoes the first's.
//! Written as the race: the second writer read before the first wrote.
//! Every test goes through the `Store` trait only, so each backend is held
//! to it.

use buildmail::model::state::State;
use buildmail::model::{BuildRecord, HistoryEntry, MailRecord, Notice};
use buildmail::store::{self, Commit, Committed, Store, StoreError};

use crate::support::farm::*;

fn open(farm: &Farm) -> Box<dyn Store> {
    store::open(&farm.cfg.database).unwrap()
}

fn line(r: &BuildRecord, to: State, event: &str) -> HistoryEntry {
    HistoryEntry {
        time: now(),
        from: Some(r.state),
        to: Some(to),
        version: r.version.clone(),
        event: event.into(),
        message_id: None,
        signer: None,
        note: None,
        imported: None,
    }
}

fn mail(sha: &str, r: &BuildRecord) -> MailRecord {
    MailRecord {
        sha256: sha.into(),
        message_id: Some(format!("<{sha}@example.org>")),
        received: now(),
        kind: "reply".into(),
        outcome: "applied".into(),
        build: Some(r.key.clone()),
    }
}

/// Two replies to one build, both decided over the same record: the first
/// is written; the second writes nothing at all (not its state, not its
/// history line, not its dedup record), and says what the build is now.
#[test]
fn a_second_writer_from_the_same_read_is_refused_and_writes_nothing() {
    let farm = Farm::new();
    farm.log("failed", "hello", "1.0-1", "amd64", "unstable");
    let s = open(&farm);
    let k = key("hello", "unstable", "amd64");
    let read = s.build(&k).unwrap().unwrap();
    assert_ne!(read.state, State::Failed);
    let lines_before = s.history(&k).unwrap().len();

    let first = BuildRecord {
        state: State::Failed,
        ..read.clone()
    };
    let c = Commit {
        now: now(),
        mail: Some(mail("aa", &read)),
        history: Some(line(&read, State::Failed, "cmd:failed")),
        build: Some(first),
        ..Commit::default()
    };
    assert!(matches!(s.commit(&c).unwrap(), Committed::Written { .. }));

    let second = BuildRecord {
        state: State::NeedsBuild,
        ..read.clone()
    };
    let c = Commit {
        now: now(),
        mail: Some(mail("bb", &read)),
        history: Some(line(&read, State::NeedsBuild, "cmd:give-back")),
        build: Some(second),
        ..Commit::default()
    };
    match s.commit(&c).unwrap() {
        Committed::Stale(why) => assert!(why.contains("Failed"), "{why}"),
        other => panic!("the second writer was not refused: {other:?}"),
    }
    let now_is = s.build(&k).unwrap().unwrap();
    assert_eq!(now_is.state, State::Failed);
    assert_eq!(now_is.rev, read.rev + 1);
    assert!(s.seen("aa").unwrap().is_some());
    assert!(
        s.seen("bb").unwrap().is_none(),
        "the refused mail's dedup record was written"
    );
    let lines = s.history(&k).unwrap();
    assert_eq!(lines.len(), lines_before + 1);
    assert_eq!(lines.last().unwrap().event, "cmd:failed");
}

/// Two writers that both found no record (two hosts taking the first log
/// of a build at once): one creates it, the other is refused.
#[test]
fn two_writers_creating_one_build_one_wins() {
    let farm = Farm::new();
    let s = open(&farm);
    let k = key("fresh", "unstable", "amd64");
    assert!(s.build(&k).unwrap().is_none());
    let a = BuildRecord::new(k.clone(), "1-1", State::Built, now());
    let b = BuildRecord::new(k.clone(), "1-1", State::BuildAttempted, now());
    let commit = |r: &BuildRecord| Commit {
        now: now(),
        history: Some(line(r, r.state, "log:first")),
        build: Some(r.clone()),
        ..Commit::default()
    };
    assert!(matches!(
        s.commit(&commit(&a)).unwrap(),
        Committed::Written { .. }
    ));
    assert!(matches!(
        s.commit(&commit(&b)).unwrap(),
        Committed::Stale(_)
    ));
    let stored = s.build(&k).unwrap().unwrap();
    assert_eq!(stored.state, State::Built);
    assert_eq!(stored.rev, 1);
    assert_eq!(s.history(&k).unwrap().len(), 1);
}

/// A read → decide → write step that another writer got in the way of is
/// decided again over what that writer wrote: neither update is lost.
#[test]
fn a_retried_step_keeps_the_other_writers_update() {
    let farm = Farm::new();
    farm.log("failed", "hello", "1.0-1", "amd64", "unstable");
    let s = open(&farm);
    let k = key("hello", "unstable", "amd64");
    let mut tries = 0;
    store::retry(|| {
        tries += 1;
        let read = s.build(&k)?.unwrap();
        if tries == 1 {
            // The other host, between this step's read and its write.
            let mut other = read.clone();
            other.notes.push("noted by the other host".into());
            s.commit(&Commit {
                now: now(),
                build: Some(other),
                ..Commit::default()
            })?;
        }
        let mut mine = read;
        mine.notes.push("noted by this host".into());
        s.commit(&Commit {
            now: now(),
            build: Some(mine),
            ..Commit::default()
        })?
        .or_conflict()
    })
    .unwrap();
    assert_eq!(tries, 2);
    let notes = s.build(&k).unwrap().unwrap().notes;
    assert!(
        notes.iter().any(|n| n == "noted by the other host"),
        "{notes:?}"
    );
    assert!(notes.iter().any(|n| n == "noted by this host"), "{notes:?}");
}

/// A writer that keeps losing gives up with a temporary error (the mail is
/// not acknowledged and comes again), never with a write.
#[test]
fn a_step_that_always_conflicts_gives_up_with_a_temporary_error() {
    let mut tries = 0;
    let r: Result<(), StoreError> = store::retry(|| {
        tries += 1;
        Err(StoreError::Conflict("changed".into()))
    });
    assert_eq!(tries, store::RETRIES);
    let e = r.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)));
    assert!(!e.is_permanent());
    assert!(e.to_string().contains("try again"), "{e}");
}

/// Two hosts sending one build-failure notice: the second finds it sent
/// and queues nothing.
#[test]
fn a_notice_is_sent_by_one_writer_only() {
    let farm = Farm::new();
    let s = open(&farm);
    let notice = Notice {
        source: "hello".into(),
        version: "1.0-1".into(),
        dist: "unstable".into(),
        arches: vec!["amd64".into()],
        due: now(),
        sent: false,
    };
    s.commit(&Commit {
        now: now(),
        notice: Some(notice.clone()),
        ..Commit::default()
    })
    .unwrap();
    let sent = |id: u64| Commit {
        now: now(),
        notice_sent: Some(notice.clone()),
        outbox: vec![(
            buildmail::model::OutboundMail {
                id,
                kind: "notice".into(),
                to: vec!["admins@example.org".into()],
                message_id: format!("<notice-{id}@example.org>"),
                subject: "notice".into(),
                queued: now(),
                attempts: 0,
                last_error: None,
                next_attempt: now(),
                dead: false,
                claim: None,
                carries: None,
            },
            b"Subject: notice\n\nfailed\n".to_vec(),
        )],
        ..Commit::default()
    };
    assert!(matches!(
        s.commit(&sent(1)).unwrap(),
        Committed::Written { .. }
    ));
    assert!(matches!(s.commit(&sent(2)).unwrap(), Committed::Stale(_)));
    let ids: Vec<u64> = s.outbox_mails().unwrap().iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![1]);
    assert!(s.pending_notices().unwrap().is_empty());
}

/// The counts `status` shows are kept by the commits (not counted over
/// millions of records on every look): they match the records, also for
/// a database of an earlier release, which is counted once when opened.
#[test]
fn the_counts_are_kept_by_the_commits_and_taken_once_for_an_earlier_database() {
    let farm = Farm::new();
    if crate::support::sled_only(&farm, "a sled database of an earlier release") {
        return;
    }
    for (i, src) in ["alpha", "beta", "gamma"].iter().enumerate() {
        farm.log("failed", src, &format!("1.{i}-1"), "amd64", "unstable");
    }
    // A mail of no known kind (kept to be forwarded), twice: counted once.
    let other = b"From: someone@example.net\nTo: buildd@example.org\nSubject: hello\nMessage-ID: <other-1@example.net>\n\nhi\n";
    farm.deliver(other);
    farm.deliver(other);
    let stats = open(&farm).stats().unwrap();
    let db = crate::support::open_raw_sled(&farm.cfg.database.path);
    let real = |tree: &str| db.open_tree(tree).unwrap().len();
    assert_eq!(stats.mails, real("mails"));
    assert_eq!(stats.history, real("history"));
    assert_eq!(stats.builds, real("builds"));
    assert_eq!(stats.builds, 3);
    assert_eq!(stats.unhandled, real("unhandled"));
    assert_eq!(stats.unhandled, 1);
    assert_eq!(stats.mails, 4);
    // An earlier release kept no counts.
    let meta = db.open_tree("meta").unwrap();
    for k in ["counted", "count_mails", "count_history", "count_unhandled"] {
        meta.remove(k).unwrap();
    }
    db.flush().unwrap();
    drop((meta, db));
    assert_eq!(open(&farm).stats().unwrap(), stats);
}

/// Two writers that both read a count under its limit (an error reply to
/// one address, a bounce forwarded) and rely on it: the first is written;
/// the second, its count now at the limit, is refused and writes nothing
/// (its step then decides again, and sends no reply).
#[test]
fn a_count_that_reached_its_limit_since_it_was_read_refuses_the_commit() {
    use buildmail::store::{Below, Counter};
    let farm = Farm::new();
    let s = open(&farm);
    let since = now() - 3600;
    let address = "someone@example.org";
    let record = |sha: &str| MailRecord {
        sha256: sha.into(),
        message_id: None,
        received: now(),
        kind: "reply".into(),
        outcome: "answered".into(),
        build: None,
    };
    let reply = |sha: &str, limit: usize| Commit {
        now: now(),
        mail: Some(record(sha)),
        reply_sent: Some(address.into()),
        below: vec![Below {
            counter: Counter::Replies(address.into()),
            since,
            limit,
        }],
        ..Commit::default()
    };
    // Both read 0 replies sent; the limit is 1.
    assert!(matches!(
        s.commit(&reply("r1", 1)).unwrap(),
        Committed::Written { .. }
    ));
    match s.commit(&reply("r2", 1)).unwrap() {
        Committed::Stale(why) => assert!(why.contains("limit of 1"), "{why}"),
        other => panic!("the second reply was written past the limit: {other:?}"),
    }
    assert!(
        s.seen("r2").unwrap().is_none(),
        "its dedup record was written"
    );
    assert_eq!(s.replies_sent_since(address, since).unwrap(), 1);
    // Under a limit of 2 it goes through.
    assert!(matches!(
        s.commit(&reply("r3", 2)).unwrap(),
        Committed::Written { .. }
    ));
    assert_eq!(s.replies_sent_since(address, since).unwrap(), 2);

    let bounce = |sha: &str| Commit {
        now: now(),
        mail: Some(record(sha)),
        bounce: true,
        below: vec![Below {
            counter: Counter::Bounces,
            since,
            limit: 1,
        }],
        ..Commit::default()
    };
    assert!(matches!(
        s.commit(&bounce("b1")).unwrap(),
        Committed::Written { .. }
    ));
    assert!(matches!(
        s.commit(&bounce("b2")).unwrap(),
        Committed::Stale(_)
    ));
    assert_eq!(s.bounces_since(since).unwrap(), 1);
}
