//! Failed builds are explained off the critical path: the log's state is
//! committed at once, the explanation follows from the worker and fills in
//! only the record still waiting for that very log.

use buildmail::ingest::Outcome;
use buildmail::model::{ExplainTask, Explanation, State};
use buildmail::store::Commit;

use crate::support::farm::*;
use crate::support::logs::{sbuild_log, LogSpec};
use crate::support::{log_mail_plain, sbuild_subject, unique_message_id, with_message_id};

const ERROR_LINE: &str =
    "src/main.c:42:5: error: 'frobnicate' undeclared (first use in this function)";

/// A log mail for `status` of hello `ver` on amd64 in unstable.
fn log_mail(status: &str, ver: &str) -> Vec<u8> {
    let spec = LogSpec::new("hello", ver, "amd64", "unstable", status);
    let subject = sbuild_subject(status, "hello", ver, "amd64", "unstable");
    with_message_id(
        &log_mail_plain(&subject, &sbuild_log(&spec)),
        &unique_message_id(),
    )
}

fn queue(farm: &Farm) -> Vec<ExplainTask> {
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    store.explain_queue(usize::MAX).unwrap()
}

#[test]
fn a_failed_log_is_recorded_at_once_and_explained_by_the_worker() {
    let farm = Farm::new();
    let out = farm.ingest_only(&log_mail("attempted", "1.0-1"));
    assert!(matches!(out, Outcome::Log { moved: true, .. }), "{out:?}");
    let r = farm.record("hello", "unstable", "amd64");
    assert_eq!(r.state, State::BuildAttempted);
    assert_eq!(r.explanation, None);
    assert!(r.explanation_pending);
    let q = queue(&farm);
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].log, r.last_log.clone().unwrap());

    // `info` says so meanwhile.
    let info = farm.cli(&["info", "hello"]).output().unwrap();
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("Explanation") && l.contains(": being made")),
        "{text}"
    );

    let done = farm.work();
    assert_eq!(done.explained, 1);
    let r = farm.record("hello", "unstable", "amd64");
    assert!(!r.explanation_pending);
    let e = r.explanation.expect("explained");
    assert_eq!(e.matched_line.as_deref(), Some(ERROR_LINE), "{e:?}");
    assert!(
        e.summary.starts_with("attempted (fail-stage build)"),
        "{e:?}"
    );
    assert!(queue(&farm).is_empty());
    // Nothing more to do.
    assert_eq!(farm.work().explained, 0);
}

#[test]
fn a_successful_log_queues_no_explanation() {
    let farm = Farm::new();
    farm.ingest_only(&log_mail("successful", "1.0-1"));
    let r = farm.record("hello", "unstable", "amd64");
    assert_eq!(r.state, State::Built);
    assert!(!r.explanation_pending);
    assert!(queue(&farm).is_empty());
}

#[test]
fn an_explanation_of_an_older_log_never_lands_on_a_newer_one() {
    let farm = Farm::new();
    farm.ingest_only(&log_mail("attempted", "1.0-1"));
    let first = queue(&farm).remove(0);
    // A newer failed log of the same build arrives before the worker ran:
    // its task replaces the first one in the queue.
    farm.ingest_only(&log_mail("given-back", "1.0-1"));
    let q = queue(&farm);
    assert_eq!(q.len(), 1);
    assert_ne!(q[0].log, first.log);

    // A slow explainer finishing the first log commits now: the record
    // waits for the second log, so nothing changes, and the second task
    // stays queued.
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let stale = Explanation {
        summary: "stale explanation of the first log".into(),
        ..Explanation::default()
    };
    store
        .commit(&Commit {
            now: now(),
            explained: vec![(first, Some(stale))],
            ..Commit::default()
        })
        .unwrap();
    store.flush().unwrap();
    drop(store);
    let r = farm.record("hello", "unstable", "amd64");
    assert!(r.explanation_pending);
    assert_eq!(r.explanation, None);
    assert_eq!(queue(&farm).len(), 1);

    // The worker explains the second log.
    assert_eq!(farm.work().explained, 1);
    let r = farm.record("hello", "unstable", "amd64");
    let e = r.explanation.expect("explained");
    assert!(e.summary.starts_with("given-back"), "{e:?}");
}

#[test]
fn an_admins_decision_meanwhile_keeps_its_state_and_gains_the_explanation() {
    let farm = Farm::new();
    farm.ingest_only(&log_mail("attempted", "1.0-1"));
    // The log's explanation is still being made when a successful log of
    // the next version arrives: the old explanation must not land on it.
    farm.ingest_only(&log_mail("successful", "1.0-2"));
    let r = farm.record("hello", "unstable", "amd64");
    assert_eq!(r.state, State::Built);
    assert!(!r.explanation_pending);
    farm.work();
    let r = farm.record("hello", "unstable", "amd64");
    assert_eq!(r.version, "1.0-2");
    assert_eq!(r.explanation, None, "a successful build has no explanation");
    assert!(queue(&farm).is_empty(), "the stale task left the queue");
}

#[test]
fn a_notice_waits_for_its_explanation() {
    let farm = Farm::with(
        "[notify]\nnotify_on = [\"build-attempted\"]\nquiet_period = \"2s\"\nbuildd_admins = [\"admin@example.org\"]\n",
    );
    farm.ingest_only(&log_mail("attempted", "1.0-1"));
    farm.clock.advance(3);
    // The notice is due; a worker that explains first sends it with the
    // explanation and the excerpt.
    let done = farm.work();
    assert_eq!((done.explained, done.notices), (1, 1));
    let mails = farm.outbox();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert!(mails[0].contains("frobnicate"), "{}", mails[0]);
}

#[test]
fn a_notice_due_while_the_explanation_is_missing_waits_then_goes_without() {
    let farm = Farm::with(
        "[notify]\nnotify_on = [\"build-attempted\"]\nquiet_period = \"2s\"\nbuildd_admins = [\"admin@example.org\"]\n",
    );
    farm.ingest_only(&log_mail("attempted", "1.0-1"));
    // Another process explains (it holds the explainer's lock): this
    // worker leaves the explanations to it, and the notice waits.
    let lock = buildmail::store::try_lock(&farm.cfg.database, "explain")
        .unwrap()
        .expect("lock free");
    farm.clock.advance(3);
    let done = farm.work();
    assert_eq!((done.explained, done.notices), (0, 0));
    assert!(farm.outbox().is_empty());
    // An hour past its due time it goes without the explanation.
    farm.clock
        .advance(buildmail::effects::notices::EXPLANATION_WAIT);
    let done = farm.work();
    assert_eq!((done.explained, done.notices), (0, 1));
    let mails = farm.outbox();
    assert_eq!(mails.len(), 1);
    assert!(!mails[0].contains("frobnicate"), "{}", mails[0]);
    drop(lock);
}

#[test]
fn a_log_gone_from_the_archive_leaves_the_queue_unexplained() {
    let farm = Farm::new();
    farm.ingest_only(&log_mail("attempted", "1.0-1"));
    let task = queue(&farm).remove(0);
    assert!(!task.log.is_empty());
    farm.lose_log_archive();
    assert_eq!(farm.work().explained, 1);
    let r = farm.record("hello", "unstable", "amd64");
    assert!(!r.explanation_pending);
    assert_eq!(r.explanation, None);
    assert!(queue(&farm).is_empty());
}
