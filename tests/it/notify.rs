//! Issue 4: FAILEDTOUPLOAD notifications, archive feedback, forwarding and
//! the outbox, end to end with real mail delivery: a real SMTP listener
//! (tests/it/support/smtp.rs) receives what lettre sends.

use crate::support::farm::*;
use crate::support::keys::*;
use crate::support::smtp::{Received, SmtpServer};
use crate::support::TextMail;
use buildmail::effects::compose;
use buildmail::effects::compose::{ComposeError, Templates, UploadFailure};
use buildmail::ingest::Outcome;
use buildmail::model::state::State;

const CREATOR: &str = "creator@example.org";
const ADMIN2: &str = "admin2@example.org";

/// Decodes a delivered mail: (header block as sent, decoded body text).
fn decode(data: &[u8]) -> (String, String) {
    let msg = mail_parser::MessageParser::default().parse(data).unwrap();
    let head_end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(data.len());
    (
        String::from_utf8_lossy(&data[..head_end]).into_owned(),
        msg.body_text(0).unwrap().replace("\r\n", "\n"),
    )
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l[name.len()..].starts_with(':')
        })
        .map(|l| l[name.len() + 1..].trim())
}

use crate::support::unfolded_header;

/// Makes `farm`'s upload command fail and sends it a signed `.changes`
/// for hello 1.0-1 amd64: the build is Failed-To-Upload. Returns the
/// FAILEDTOUPLOAD notification.
fn failed_upload_notice(farm: &mut Farm) -> String {
    let failing = upload_script(farm, "echo 'queue full' >&2\nexit 1");
    farm.reconfigure(&failing);
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    farm.send_signed_changes("hello", "1.0-1", "amd64");
    assert_eq!(farm.state("hello"), State::FailedToUpload);
    farm.outbox()
        .into_iter()
        .find(|m| m.contains("X-Buildd-Build-State: FAILEDTOUPLOAD"))
        .expect("a notification")
}

fn notifications(received: &[Received]) -> Vec<&Received> {
    received
        .iter()
        .filter(|r| {
            String::from_utf8_lossy(&r.data).contains("X-Buildd-Build-State: FAILEDTOUPLOAD")
        })
        .collect()
}

/// The configuration of the seed scenario: two admins (one of them the
/// admin who replies), the creator notified, real SMTP delivery.
fn seed_config(farm: &Farm, upload: &str, smtp: &SmtpServer) -> String {
    format!(
        "{}[notify]\nbuildd_admins = [\"{ADMIN}\", \"{ADMIN2}\"]\n\
         build_log_url = \"https://buildd.example.org/{{src}}/{{ver}}/{{arch}}/log\"\n\
         [outbox]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\ntimeout = \"5s\"\n",
        upload_script(farm, upload),
        smtp.url()
    )
}

/// An admin answers the FAILEDTOUPLOAD notification itself (not the log
/// mail) with a signed `retry-upload`: it is understood as a reply about
/// that build, not forwarded.
#[test]
fn a_signed_reply_to_a_failedtoupload_notification_acts_on_its_build() {
    let mut farm = Farm::new();
    let notice = failed_upload_notice(&mut farm);
    let subject = unfolded_header(&notice, "Subject");
    assert!(subject.starts_with("[Build #"), "{subject}");
    let succeeding = upload_script(&farm, "exit 0");
    farm.reconfigure(&succeeding);
    let subject = format!("Re: {subject}");
    let text = clearsign(
        shared_ed25519(),
        bind(&subject, "retry-upload\n").as_bytes(),
        fresh(),
    );
    let out = farm.deliver(&reply(&subject, &text, None));
    assert!(
        matches!(out, Outcome::Reply { applied: true, .. }),
        "{out:?}"
    );
    assert_eq!(farm.state("hello"), State::Uploaded);
}

#[test]
fn the_seed_scenario_failed_upload_notifies_admins_and_creator_once_then_rescue() {
    let smtp = SmtpServer::start();
    let mut farm = Farm::new();
    let extra = seed_config(
        &farm,
        "echo 'dput: upload refused: disk quota exceeded on ftp-master' >&2\nexit 1",
        &smtp,
    );
    farm.reconfigure(&extra);
    let log_mid = farm.log("successful", "hello", "1:1.0-1", "amd64", "unstable");
    let changes = farm.build_files("hello", "1:1.0-1", "amd64").replace(
        "Changed-By: Buildd Daemon <buildd@example.org>",
        &format!("Changed-By: Jane Creator <{CREATOR}>"),
    );
    let subject = "Re: Log for successful build of hello_1:1.0-1 on amd64 (dist=unstable)";
    let signed = clearsign(shared_ed25519(), changes.as_bytes(), fresh());
    farm.deliver(&reply(subject, &signed, None));
    assert_eq!(farm.state("hello"), State::FailedToUpload);

    let received = smtp.received();
    assert_eq!(received.len(), 3, "exactly three mails: {received:#?}");
    let notes = notifications(&received);
    assert_eq!(notes.len(), 3);
    let mut to: Vec<String> = notes.iter().flat_map(|r| r.to.clone()).collect();
    to.sort();
    let mut expected = vec![ADMIN.to_string(), ADMIN2.to_string(), CREATOR.to_string()];
    expected.sort();
    assert_eq!(to, expected);
    let mut ids = Vec::new();
    for r in &notes {
        let (head, body) = decode(&r.data);
        let rcpt = r.to[0].as_str();
        let subject = header(&head, "Subject").unwrap();
        assert!(subject.starts_with("[Build #"), "{subject}");
        assert!(
            subject.ends_with("] amd64 build of hello 1:1.0-1 in unstable"),
            "{subject}"
        );
        assert_eq!(header(&head, "X-Buildd-Build-Arch"), Some("amd64"));
        assert_eq!(header(&head, "X-Buildd-Build-Component"), Some("main"));
        assert!(header(&head, "X-Buildd-Archive").is_some());
        assert_eq!(header(&head, "Precedence"), Some("bulk"));
        assert_eq!(header(&head, "Auto-Submitted"), Some("auto-generated"));
        assert_eq!(
            header(&head, "In-Reply-To"),
            Some(format!("<{log_mid}>").as_str())
        );
        assert_eq!(
            header(&head, "References"),
            Some(format!("<{log_mid}>").as_str())
        );
        ids.push(header(&head, "Message-ID").unwrap().to_string());
        let (rationale, why) = if rcpt == CREATOR {
            assert_eq!(header(&head, "X-Creator-Recipient"), Some(CREATOR));
            (
                "Creator",
                "because you created this version of this package.",
            )
        } else {
            assert_eq!(header(&head, "X-Creator-Recipient"), None, "{head}");
            ("Buildd-Admin", "because you are a buildd administrator.")
        };
        assert_eq!(header(&head, "X-Buildd-Message-Rationale"), Some(rationale));
        assert!(body.contains(" * Source Package: hello\n"), "{body}");
        assert!(body.contains(" * Version: 1:1.0-1\n"), "{body}");
        assert!(body.contains(" * Architecture: amd64\n"), "{body}");
        assert!(body.contains(" * State: Failed to upload\n"), "{body}");
        assert!(
            body.contains(" * Build Log: https://buildd.example.org/hello/1:1.0-1/amd64/log\n"),
            "{body}"
        );
        let words = body.split_whitespace().collect::<Vec<_>>().join(" ");
        if rcpt == CREATOR {
            // The creator hears what happened and that nothing is asked of
            // them, not the farm's log (its paths, dput's messages).
            assert!(
                words.starts_with(
                    "hello 1:1.0-1 was built for amd64 in unstable, but the build farm could not upload it."
                ),
                "{body}"
            );
            assert!(words.contains("You need not do anything."), "{body}");
            assert!(!body.contains("disk quota"), "{body}");
            assert!(!body.contains("Upload log"), "{body}");
        } else {
            assert!(
                words.contains("answer this mail with a signed `retry-upload`"),
                "{body}"
            );
            assert!(body.contains("\nUpload log:\n"), "{body}");
            assert!(body.contains("disk quota exceeded on ftp-master"), "{body}");
        }
        // No row without a value.
        assert!(!body.contains("not available"), "{body}");
        assert!(
            !body.contains(" * Source:"),
            "no source_url configured: {body}"
        );
        assert!(
            body.contains("\n-- \namd64 build of hello 1:1.0-1 in unstable\n"),
            "{body}"
        );
        let footer = body.split("\n-- \n").nth(1).unwrap();
        assert!(footer.lines().all(|l| l.chars().count() <= 72), "{footer}");
        assert!(
            footer
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains(why),
            "{footer}"
        );
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "one Message-ID per mail");
    let r = farm.record("hello", "unstable", "amd64");
    assert!(r.upload_log.unwrap().contains("disk quota exceeded"));

    // Rescue: the uploader is fixed, the admin answers retry-upload.
    let extra = seed_config(&farm, "exit 0", &smtp);
    farm.reconfigure(&extra);
    farm.deliver(&signed_reply(subject, "retry-upload\n"));
    assert_eq!(farm.state("hello"), State::Uploaded);
    assert_eq!(farm.record("hello", "unstable", "amd64").upload_log, None);
    assert_eq!(smtp.received().len(), 3, "no further mail after the rescue");
    let events: Vec<String> = farm
        .history("hello", "amd64")
        .into_iter()
        .map(|h| h.event)
        .collect();
    assert_eq!(
        events,
        vec![
            "log:successful",
            "cmd:signed .changes",
            "upload:started",
            "upload:failed",
            "cmd:retry-upload",
            "upload:started",
            "upload:ok"
        ],
        "the history tells the whole story"
    );
}

#[test]
fn a_failed_to_upload_notification_without_an_upload_log_is_refused() {
    let farm = Farm::new();
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    let mut record = farm.record("hello", "unstable", "amd64");
    record.state = State::FailedToUpload;
    record.upload_log = None;
    let t = Templates::load(None).unwrap();
    let e = compose::failed_to_upload(&farm.cfg, &t, &record, UploadFailure::Farm, 1, now())
        .unwrap_err();
    assert!(matches!(e, ComposeError::NoUploadLog { .. }), "{e:?}");
    assert!(e.to_string().contains("no upload log"), "{e}");
    record.upload_log = Some("   \n".into());
    assert!(matches!(
        compose::failed_to_upload(&farm.cfg, &t, &record, UploadFailure::Farm, 1, now()),
        Err(ComposeError::NoUploadLog { .. })
    ));
}

#[test]
fn mails_wait_in_the_outbox_while_smtp_is_down_and_are_delivered_exactly_once() {
    let smtp = SmtpServer::start();
    let port = smtp.port();
    let url = smtp.url();
    smtp.stop();
    let mut farm = Farm::new();
    farm.reconfigure(&format!(
        "[outbox]\ntransport = \"smtp\"\nsmtp_url = \"{url}\"\ntimeout = \"2s\"\nretry_after = \"1s\"\n"
    ));
    for i in 0..3 {
        let out = farm.deliver(&crate::support::plain_mail(
            &format!("Question {i}"),
            "Is the buildd up?",
        ));
        assert!(
            matches!(
                out,
                Outcome::Forwarded {
                    forwarded: true,
                    ..
                }
            ),
            "{out:?}"
        );
    }
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let queued = crate::support::outbox_of(&*store);
    assert_eq!(queued.len(), 3, "nothing is lost while the server is down");
    assert!(queued
        .iter()
        .all(|(m, _)| m.attempts >= 1 && !m.dead && m.last_error.is_some()));
    drop(store);

    let smtp = SmtpServer::start_on(port);
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let (delivered, failed) = farm.flush_outbox(&*store);
    assert_eq!((delivered, failed), (3, 0));
    // Nothing left: a second flush sends nothing again.
    assert_eq!(farm.flush_outbox(&*store), (0, 0));
    let got = smtp.received();
    assert_eq!(got.len(), 3);
    for r in &got {
        assert_eq!(r.to, vec![farm.cfg.admin_address.clone()]);
        let text = String::from_utf8_lossy(&r.data);
        assert!(text.starts_with("Resent-From: "), "{text}");
        assert!(
            text.contains("Subject: Question "),
            "forwarded intact: {text}"
        );
    }
}

#[test]
fn a_dead_mail_is_kept_and_retried_on_request() {
    let smtp = SmtpServer::start();
    smtp.reject_recipient("buildd-admin@example.org");
    let mut farm = Farm::new();
    farm.reconfigure(&format!(
        "[outbox]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\ntimeout = \"2s\"\n",
        smtp.url()
    ));
    farm.deliver(&crate::support::plain_mail("Question", "Up?"));
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let queued = crate::support::outbox_of(&*store);
    assert_eq!(queued.len(), 1);
    assert!(
        queued[0].0.dead,
        "a permanent refusal parks the mail: {:?}",
        queued[0].0
    );
    drop(store);
    drop(smtp);
    let smtp = SmtpServer::start();
    farm.reconfigure(&format!(
        "[outbox]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\n",
        smtp.url()
    ));
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    assert_eq!(
        farm.flush_outbox(&*store),
        (0, 0),
        "a dead mail is not retried by a flush"
    );
    assert!(store.outbox_retry(queued[0].0.id, now()).unwrap());
    assert_eq!(farm.flush_outbox(&*store), (1, 0));
    assert_eq!(smtp.received().len(), 1);
}

/// A farm with hello uploaded (no upload command: the files stay in the
/// queue), trusting the archive's answers by their From (the weak
/// opt-in, `archive.trust_unsigned_senders`: these tests are about what
/// an answer does, the ones below about who may give it).
fn uploaded_farm() -> Farm {
    let farm = Farm::with(&format!(
        "[notify]\nbuildd_admins = [\"{ADMIN}\", \"{ADMIN2}\"]\n[archive]\nsenders = [\"dak@ftp-master.example.org\"]\ntrust_unsigned_senders = true\n"
    ));
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    farm.send_signed_changes("hello", "1.0-1", "amd64");
    assert_eq!(farm.state("hello"), State::Uploaded);
    farm
}

#[test]
fn accepted_makes_the_build_installed() {
    let farm = uploaded_farm();
    let out = farm.deliver(&crate::support::archive_mail(
        "hello_1.0-1_amd64.changes ACCEPTED into unstable",
        "Accepted:\n hello_1.0-1_amd64.deb\n",
    ));
    assert!(
        matches!(
            out,
            Outcome::Archive {
                state: State::Installed,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(farm.state("hello"), State::Installed);
}

#[test]
fn rejected_makes_the_build_failed_to_upload_with_the_rejection_as_log_and_notifies() {
    let farm = uploaded_farm();
    assert!(farm.outbox().is_empty());
    farm.deliver(&crate::support::archive_mail(
        "hello_1.0-1_amd64.changes REJECTED",
        "Rejected: hello_1.0-1_amd64.deb: old version (1.0-1) in unstable >= new version\n",
    ));
    assert_eq!(farm.state("hello"), State::FailedToUpload);
    let r = farm.record("hello", "unstable", "amd64");
    assert!(r
        .upload_log
        .unwrap()
        .contains("Rejected: hello_1.0-1_amd64.deb: old version"));
    let mails = farm.outbox();
    // Two admins and the creator (Changed-By of the farm's .changes).
    assert_eq!(mails.len(), 3, "{mails:#?}");
    assert!(mails
        .iter()
        .all(|m| m.contains("X-Buildd-Build-State: FAILEDTOUPLOAD")
            && m.contains("Rejected: hello_1.0-1_amd64.deb")));
}

#[test]
fn new_and_queue_reports_are_noted_and_queue_failures_fail_the_upload() {
    let farm = uploaded_farm();
    farm.deliver(&crate::support::archive_mail(
        "hello_1.0-1_amd64.changes is NEW",
        "waiting in NEW\n",
    ));
    assert_eq!(farm.state("hello"), State::Uploaded);
    farm.deliver(&crate::support::archive_mail(
        "Processing of hello_1.0-1_amd64.changes",
        "hello_1.0-1_amd64.deb uploaded successfully to localhost\n",
    ));
    assert_eq!(farm.state("hello"), State::Uploaded);
    let events: Vec<String> = farm
        .history("hello", "amd64")
        .into_iter()
        .map(|h| h.event)
        .collect();
    assert!(events.contains(&"archive:new".to_string()), "{events:?}");
    assert!(
        events.contains(&"archive:queue-ok".to_string()),
        "{events:?}"
    );
    farm.deliver(&crate::support::archive_mail(
        "Processing of hello_1.0-1_amd64.changes",
        "hello_1.0-1_amd64.deb: checksum mismatch, upload discarded\n",
    ));
    assert_eq!(farm.state("hello"), State::FailedToUpload);
    assert!(farm
        .record("hello", "unstable", "amd64")
        .upload_log
        .unwrap()
        .contains("checksum mismatch"));
}

#[test]
fn an_archive_mail_for_an_upload_buildmail_did_not_make_is_forwarded() {
    let farm = uploaded_farm();
    let out = farm.deliver(&crate::support::archive_mail(
        "other_2.0-1_amd64.changes ACCEPTED into unstable",
        "Accepted\n",
    ));
    assert!(
        matches!(
            out,
            Outcome::Forwarded {
                forwarded: true,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(farm.state("hello"), State::Uploaded);
    let mails = farm.outbox();
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains("Resent-To: buildd-admin@example.org"),
        "{}",
        mails[0]
    );
}

#[test]
fn a_burst_of_bounces_is_forwarded_at_most_max_bounces_times() {
    let farm = Farm::with("[forward]\nmax_bounces = 3\nbounce_window = \"8h\"\n");
    let mut forwarded = 0;
    for i in 0..10 {
        let bounce = TextMail::new(
            "MAILER-DAEMON@mx.example.org",
            "buildd@example.org",
            &format!("Undelivered Mail Returned to Sender {i}"),
            "This is the mail system.\n",
        )
        .build();
        if let Outcome::Forwarded {
            forwarded: true, ..
        } = farm.deliver(&bounce)
        {
            forwarded += 1;
        }
    }
    assert_eq!(forwarded, 3);
    assert_eq!(farm.outbox().len(), 3);
    // buildmail's own mail coming back is never forwarded.
    let own = crate::support::with_header(
        &crate::support::plain_mail("Re: [Build #1] amd64 build of x", "bounced"),
        "X-Buildmail-Kind",
        "failed-to-upload",
    );
    assert!(matches!(
        farm.deliver(&own),
        Outcome::Forwarded {
            forwarded: false,
            ..
        }
    ));
}

#[test]
fn a_blacklisted_sender_is_kept_not_forwarded() {
    let farm = Farm::with("[forward]\nblacklist = [\"developer@example.org\"]\n");
    let out = farm.deliver(&crate::support::plain_mail("Buy now", "spam"));
    assert!(
        matches!(
            out,
            Outcome::Forwarded {
                forwarded: false,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(farm.outbox().is_empty());
}

#[test]
fn a_template_in_the_override_directory_changes_the_mail() {
    let farm = Farm::new();
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    let mut record = farm.record("hello", "unstable", "amd64");
    record.upload_log = Some("dput: refused".into());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("failed-to-upload.txt"),
        "CUSTOM notice for {{ source }} {{ version }}\nlog: {{ upload_log }}\n-- \n{{ reason }}\n",
    )
    .unwrap();
    let builtin = Templates::load(None).unwrap();
    let custom = Templates::load(Some(dir.path())).unwrap();
    let mail = |t: &Templates| {
        let m = compose::failed_to_upload(&farm.cfg, t, &record, UploadFailure::Farm, 9, now())
            .unwrap();
        decode(&m[0].bytes).1
    };
    let b = mail(&builtin);
    assert!(b.contains(" * Source Package: hello"), "{b}");
    let c = mail(&custom);
    assert!(
        c.starts_with("CUSTOM notice for hello 1.0-1\nlog: dput: refused\n"),
        "{c}"
    );
    // A broken override is an error naming the file.
    std::fs::write(dir.path().join("failed-to-upload.txt"), "{{ unclosed").unwrap();
    let e = Templates::load(Some(dir.path())).err().unwrap();
    assert!(e.to_string().contains("failed-to-upload.txt"), "{e}");
}

#[test]
fn build_failure_notices_are_off_by_default_and_once_per_version_across_arches() {
    // Off by default: an attempted build sends nothing.
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    assert!(farm.outbox().is_empty());

    let farm = Farm::with(&format!(
        "[notify]\nnotify_on = [\"build-attempted\"]\nquiet_period = \"2s\"\nbuildd_admins = [\"{ADMIN}\"]\n"
    ));
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    farm.log("attempted", "hello", "1.0-1", "arm64", "unstable");
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    assert!(
        farm.outbox().is_empty(),
        "nothing before the quiet period is over"
    );
    // The quiet period (2 s) passes on the farm's clock.
    farm.clock.advance(3);
    farm.work();
    let mails = farm.outbox();
    assert_eq!(
        mails.len(),
        1,
        "one mail for the version, to the one admin: {mails:#?}"
    );
    let m = &mails[0];
    assert!(
        m.contains("Subject: [Build #")
            && m.contains("] amd64, arm64 build of hello 1.0-1 in unstable"),
        "{m}"
    );
    assert!(m.contains("X-Buildd-Build-State: FAILEDTOBUILD"), "{m}");
    assert!(
        m.contains("amd64: Failed to build") && m.contains("arm64: Failed to build"),
        "{m}"
    );
    // A later failure of the same version on another arch sends nothing more.
    farm.log("attempted", "hello", "1.0-1", "armhf", "unstable");
    // The quiet period (2 s) passes on the farm's clock.
    farm.clock.advance(3);
    farm.work();
    assert_eq!(farm.outbox().len(), 1);
}

#[test]
fn an_admin_who_is_also_the_creator_gets_one_mail_naming_both_roles() {
    let farm = Farm::with(&format!(
        "[notify]\nbuildd_admins = [\"{CREATOR}\", \"{ADMIN2}\"]\nnotify_maintainer = true\n"
    ));
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    let mut record = farm.record("hello", "unstable", "amd64");
    let changes = farm
        .build_files("hello", "1.0-1", "amd64")
        .replace(
            "Changed-By: Buildd Daemon <buildd@example.org>",
            &format!("Changed-By: Jane Creator <{}>", CREATOR.to_uppercase()),
        )
        .replace(
            "Maintainer: Test Maintainer <maint@example.org>",
            &format!("Maintainer: Admin Two <{ADMIN2}>"),
        );
    record.changes = Some(changes);
    record.upload_log = Some("dput: refused".into());
    let t = Templates::load(None).unwrap();
    let mails =
        compose::failed_to_upload(&farm.cfg, &t, &record, UploadFailure::Farm, 3, now()).unwrap();
    assert_eq!(mails.len(), 2, "one mail per address, roles merged");
    let creator = mails
        .iter()
        .find(|m| m.to == vec![CREATOR.to_string()])
        .unwrap();
    let (head, body) = decode(&creator.bytes);
    assert_eq!(
        header(&head, "X-Buildd-Message-Rationale"),
        Some("Buildd-Admin, Creator")
    );
    assert!(body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .contains(
            "because you are a buildd administrator and you created this version of this package."
        ));
    let admin2 = mails
        .iter()
        .find(|m| m.to == vec![ADMIN2.to_string()])
        .unwrap();
    let (head, _) = decode(&admin2.bytes);
    assert_eq!(
        header(&head, "X-Buildd-Message-Rationale"),
        Some("Buildd-Admin, Maintainer")
    );
}

#[test]
fn a_mail_undelivered_past_max_age_is_parked_as_dead_not_dropped() {
    let mut farm = Farm::new();
    farm.reconfigure(
        "[outbox]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:9\"\ntimeout = \"1s\"\nmax_age = \"0s\"\n",
    );
    farm.deliver(&crate::support::plain_mail("Question", "Up?"));
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let queued = crate::support::outbox_of(&*store);
    assert_eq!(queued.len(), 1, "kept");
    assert!(queued[0].0.dead);
    assert!(queued[0].0.last_error.is_some());
}

/// The attack: even with the archive's senders trusted by their From
/// (the weak opt-in), a forged REJECTED, `Processing of` or ACCEPTED
/// mail from anyone else moves nothing and sends no FAILEDTOUPLOAD mail
/// carrying the forger's text: the admins get it forwarded, marked
/// unauthenticated.
#[test]
fn forged_archive_answers_move_nothing() {
    let farm = Farm::with(
        "[archive]\nsenders = [\"dak@ftp-master.example.org\"]\ntrust_unsigned_senders = true\n",
    );
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    farm.send_signed_changes("hello", "1.0-1", "amd64");
    assert_eq!(farm.state("hello"), State::Uploaded);
    let before = farm.outbox().len();
    for subject in [
        "hello_1.0-1_amd64.changes REJECTED",
        "Processing of hello_1.0-1_amd64.changes",
        "hello_1.0-1_amd64.changes ACCEPTED into unstable",
    ] {
        let mut forged = TextMail::new(
            "mallory@attacker.example",
            "buildd@example.org",
            subject,
            "Your upload was rejected: visit http://evil.example/ to fix it\n",
        );
        forged.message_id = crate::support::unique_message_id();
        farm.deliver(&forged.build());
        assert_eq!(farm.state("hello"), State::Uploaded, "{subject}");
        let last = farm.history("hello", "amd64").pop().unwrap();
        assert!(last
            .note
            .unwrap_or_default()
            .contains("not one of archive.senders"));
    }
    let sent = farm.outbox();
    assert_eq!(sent.len(), before + 3, "{sent:#?}");
    for m in &sent[before..] {
        assert!(
            m.contains("X-Buildmail-Forward-Reason: UNAUTHENTICATED archive answer")
                && m.contains("Resent-To: buildd-admin@example.org")
                && !m.contains("X-Buildd-Build-State"),
            "{m}"
        );
    }
    // The archive itself is heard.
    farm.deliver(&crate::support::archive_mail(
        "hello_1.0-1_amd64.changes ACCEPTED into unstable",
        "Accepted\n",
    ));
    assert_eq!(farm.state("hello"), State::Installed);
}

/// An archive answer from the archive's address, signed (clearsigned
/// body) by `key`, with unsigned text before the signed block.
fn clearsigned_archive_mail(key: &TestKey, subject: &str, signed: &str) -> Vec<u8> {
    let block = clearsign(key, signed.as_bytes(), fresh());
    let mut body = "Unsigned preface: visit http://evil.example/ to fix it\n\n".to_string();
    body.push_str(&String::from_utf8(block).unwrap());
    crate::support::archive_mail(subject, &body)
}

/// The attack: with `archive.keyrings`, an answer from the archive's own
/// address moves an upload only when the archive's key signed it. An
/// unsigned one, one signed by an admin's key, and a replay of a genuine
/// signed answer move nothing and send nothing; the signed text alone
/// becomes the upload log.
#[test]
fn with_archive_keys_only_a_signed_answer_moves_an_upload() {
    let archive_key = shared_rsa();
    let mut farm = Farm::new();
    let ring = farm.dir.path().join("archive.asc");
    std::fs::write(&ring, archive_key.armored_public()).unwrap();
    farm.reconfigure(&format!(
        "[archive]\nsenders = [\"dak@ftp-master.example.org\"]\nkeyrings = [{ring:?}]\n"
    ));
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    // A genuine signed rejection that arrives before buildmail uploaded
    // anything of that name is forwarded, and its signature is spent.
    let early = clearsigned_archive_mail(
        archive_key,
        "hello_1.0-1_amd64.changes REJECTED",
        "hello_1.0-1_amd64.changes: Rejected: someone else's upload\n",
    );
    assert!(
        matches!(farm.deliver(&early), Outcome::Forwarded { .. }),
        "no upload of buildmail's matches yet"
    );
    farm.send_signed_changes("hello", "1.0-1", "amd64");
    assert_eq!(farm.state("hello"), State::Uploaded);
    // Replayed against buildmail's own upload of the same name: refused.
    let replay = crate::support::replace_first(&early, b"Message-ID: <", b"Message-ID: <again-");
    match farm.deliver(&replay) {
        Outcome::Duplicate(why) => assert!(why.contains("signature already seen"), "{why}"),
        other => panic!("a replayed signed answer must be refused: {other:?}"),
    }
    assert_eq!(farm.state("hello"), State::Uploaded);
    let before = farm.outbox().len();

    // Unsigned, from the archive's address.
    farm.deliver(&crate::support::archive_mail(
        "hello_1.0-1_amd64.changes REJECTED",
        "Rejected: forged\n",
    ));
    assert_eq!(farm.state("hello"), State::Uploaded);
    let last = farm.history("hello", "amd64").pop().unwrap();
    assert!(
        last.note
            .as_deref()
            .unwrap_or_default()
            .contains("not signed by a key of archive.keyrings"),
        "{last:?}"
    );
    // Signed, but by an admin's key, not the archive's.
    farm.deliver(&clearsigned_archive_mail(
        shared_ed25519(),
        "hello_1.0-1_amd64.changes REJECTED",
        "Rejected: forged by an admin key\n",
    ));
    assert_eq!(farm.state("hello"), State::Uploaded);
    // The archive's genuine signed answer about another upload, re-sent
    // under this upload's Subject; and its signed ACCEPTED re-sent as a
    // REJECTED: the Subject is not signed, so neither counts.
    for (subject, signed) in [
        (
            "hello_1.0-1_amd64.changes REJECTED",
            "other_2.0-1_amd64.changes: Rejected: bad checksum\n",
        ),
        (
            "hello_1.0-1_amd64.changes REJECTED",
            "hello_1.0-1_amd64.changes: Accepted into unstable\n",
        ),
    ] {
        farm.deliver(&clearsigned_archive_mail(archive_key, subject, signed));
        assert_eq!(farm.state("hello"), State::Uploaded, "{signed}");
        let last = farm.history("hello", "amd64").pop().unwrap();
        assert!(
            last.note
                .as_deref()
                .unwrap_or_default()
                .contains("the signed text does not"),
            "{last:?}"
        );
    }
    // Nothing went out but the forwards to the admins, each marked.
    let sent = farm.outbox();
    assert_eq!(sent.len(), before + 4, "{sent:#?}");
    assert!(sent[before..].iter().all(|m| m
        .contains("X-Buildmail-Forward-Reason: UNAUTHENTICATED archive answer")
        && !m.contains("X-Buildd-Build-State")));

    // The archive's signed rejection: its signed text is the upload log.
    let genuine = clearsigned_archive_mail(
        archive_key,
        "hello_1.0-1_amd64.changes REJECTED",
        "hello_1.0-1_amd64.changes: Rejected: hello_1.0-1_amd64.deb is missing\n",
    );
    farm.deliver(&genuine);
    assert_eq!(farm.state("hello"), State::FailedToUpload);
    let log = farm
        .record("hello", "unstable", "amd64")
        .upload_log
        .unwrap();
    assert!(log.contains("is missing"), "{log}");
    assert!(!log.contains("evil.example"), "{log}");

    // The same signed text under new headers is a replay.
    let copy = crate::support::replace_first(&genuine, b"Message-ID: <", b"Message-ID: <replay-");
    match farm.deliver(&copy) {
        Outcome::Duplicate(why) => assert!(why.contains("signature already seen"), "{why}"),
        other => panic!("a replayed signed answer must be refused: {other:?}"),
    }

    // A PGP/MIME-signed ACCEPTED from the archive is heard.
    // (The signed entity carries the Subject: "protected headers".)
    let entity = buildmail::inbound::mail::canonical_crlf(
        b"Content-Type: text/plain; charset=us-ascii\r\nSubject: hello_1.0-1_amd64.changes ACCEPTED into unstable\r\n\r\nAccepted into unstable.\r\n",
    )
    .into_owned();
    let sig = detach_sign(archive_key, &entity, fresh(), true);
    let headers = format!(
        "From: dak@ftp-master.example.org\r\nTo: buildd@example.org\r\nSubject: hello_1.0-1_amd64.changes ACCEPTED into unstable\r\nMessage-ID: <{}>\r\n",
        crate::support::unique_message_id()
    );
    farm.deliver(&crate::support::pgp_mime_mail(&headers, &entity, &sig, "b"));
    assert_eq!(farm.state("hello"), State::Installed);
}

/// A reply to a build-failure notice about several architectures acts on
/// the one build its signed command names, and on no other; a command
/// that names none of them is refused with the line to write.
#[test]
fn a_reply_to_a_several_architecture_notice_acts_on_the_build_it_names() {
    let farm = Farm::with(&format!(
        "[notify]\nnotify_on = [\"build-attempted\"]\nquiet_period = \"2s\"\nbuildd_admins = [\"{ADMIN}\"]\n"
    ));
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    farm.log("attempted", "hello", "1.0-1", "arm64", "unstable");
    farm.log("attempted", "hello", "1.0-1", "i386", "unstable");
    farm.clock.advance(3);
    farm.work();
    let notice = farm
        .outbox()
        .into_iter()
        .find(|m| m.contains("amd64, arm64, i386 build of hello"))
        .expect("one notice about the three builds");
    let subject = format!("Re: {}", unfolded_header(&notice, "Subject"));
    assert!(subject.ends_with("in unstable"), "{subject}");
    let state = |arch: &str| farm.record("hello", "unstable", arch).state;
    let send = |text: &str| {
        let signed = clearsign(shared_ed25519(), text.as_bytes(), fresh());
        farm.deliver(&reply(&subject, &signed, None))
    };

    // Unbound: which build? Refused, with the line to write.
    let out = send("retry\n");
    assert!(
        matches!(out, Outcome::Reply { applied: false, .. }),
        "{out:?}"
    );
    let answer = farm.outbox().pop().unwrap();
    assert!(
        answer.contains("arch=<one of amd64, arm64, i386>"),
        "{answer}"
    );
    // Bound to an architecture the notice is not about: refused.
    let out = send("retry hello_1.0-1 dist=unstable arch=armhf\n");
    assert!(
        matches!(out, Outcome::Reply { applied: false, .. }),
        "{out:?}"
    );
    for arch in ["amd64", "arm64", "i386"] {
        assert_eq!(state(arch), State::BuildAttempted, "{arch}");
        assert!(
            farm.history("hello", arch)
                .iter()
                .all(|h| !h.event.starts_with("refused")),
            "a reply about none of the builds is in no build's history ({arch})"
        );
    }
    // Bound to arm64: arm64 alone is given back.
    let out = send("retry hello_1.0-1 dist=unstable arch=arm64\n");
    assert!(
        matches!(out, Outcome::Reply { applied: true, .. }),
        "{out:?}"
    );
    assert_eq!(state("arm64"), State::NeedsBuild);
    assert_eq!(state("amd64"), State::BuildAttempted);
    assert_eq!(state("i386"), State::BuildAttempted);
}

/// An admin answers a FAILEDTOUPLOAD notification under a Subject of their
/// own: the reply is known by its `In-Reply-To` to buildmail's Message-ID,
/// and acts on the build its signed command names. Without a named build
/// it is forwarded; a stranger's unsigned mail in the same thread moves
/// nothing.
#[test]
fn a_reply_under_a_rewritten_subject_is_known_by_its_thread() {
    let mut farm = Farm::new();
    let notice = failed_upload_notice(&mut farm);
    let id = unfolded_header(&notice, "Message-ID")
        .trim_matches(|c| c == '<' || c == '>')
        .to_string();
    assert!(id.starts_with("buildmail."), "{id}");
    let succeeding = upload_script(&farm, "exit 0");
    farm.reconfigure(&succeeding);
    let subject = "the queue is back";

    // A stranger's unsigned command in the thread: refused, unanswered.
    let mut forged = TextMail::new(
        "mallory@attacker.example",
        "buildd@example.org",
        subject,
        "retry-upload hello_1.0-1 dist=unstable arch=amd64\n",
    );
    forged.in_reply_to = Some(&id);
    let before = farm.outbox().len();
    let out = farm.deliver(&forged.build());
    assert!(
        matches!(out, Outcome::Reply { applied: false, .. }),
        "{out:?}"
    );
    assert_eq!(farm.state("hello"), State::FailedToUpload);
    assert_eq!(
        farm.outbox().len(),
        before,
        "nothing answered to a stranger"
    );

    // Signed but naming no build: nothing to act on, forwarded.
    let text = clearsign(shared_ed25519(), b"retry-upload\n", fresh());
    let out = farm.deliver(&reply(subject, &text, Some(&id)));
    assert!(matches!(out, Outcome::Forwarded { .. }), "{out:?}");
    assert_eq!(farm.state("hello"), State::FailedToUpload);

    // Signed and bound: acted on.
    let text = clearsign(
        shared_ed25519(),
        b"retry-upload hello_1.0-1 dist=unstable arch=amd64\n",
        fresh(),
    );
    let out = farm.deliver(&reply(subject, &text, Some(&id)));
    assert!(
        matches!(out, Outcome::Reply { applied: true, .. }),
        "{out:?}"
    );
    assert_eq!(farm.state("hello"), State::Uploaded);
}

/// A maintainer answers a FAILEDTOUPLOAD notification with a question:
/// unsigned, no command, from someone buildmail does not answer. It
/// reaches the admin (forwarded) instead of vanishing; the build does not
/// move. A stranger's unsigned *command* in the same place is refused and
/// not forwarded as if it were conversation.
#[test]
fn a_maintainers_question_in_a_notification_thread_reaches_the_admin() {
    let mut farm = Farm::new();
    let notice = failed_upload_notice(&mut farm);
    let subject = format!("Re: {}", unfolded_header(&notice, "Subject"));
    // The maintainer's mail in the notification's thread, with `body`.
    fn from_maintainer<'a>(subject: &'a str, body: &'a [u8]) -> TextMail<'a> {
        let mut m = TextMail::new(
            "maintainer@example.net",
            "buildd@example.org",
            subject,
            std::str::from_utf8(body).unwrap(),
        );
        m.message_id = crate::support::unique_message_id();
        m
    }
    let forwarded = |out: &Outcome| {
        matches!(
            out,
            Outcome::Forwarded {
                forwarded: true,
                ..
            }
        )
    };
    let forwards = |farm: &Farm| {
        farm.outbox()
            .iter()
            .filter(|m| m.contains("X-Buildmail-Forward-Reason"))
            .count()
    };
    let question = from_maintainer(
        &subject,
        b"Why did the upload fail? The queue looked fine from here.\n",
    );
    let out = farm.deliver(&question.build());
    assert!(forwarded(&out), "{out:?}");
    assert_eq!(farm.state("hello"), State::FailedToUpload);

    let command = from_maintainer(&subject, b"retry-upload\n");
    let out = farm.deliver(&command.build());
    assert!(
        matches!(out, Outcome::Reply { applied: false, .. }),
        "{out:?}"
    );
    assert_eq!(farm.state("hello"), State::FailedToUpload);

    // The same command clearsigned by a key the admins' keyring does not
    // hold: refused for its signature and in the build's history, not
    // passed on to the admins as conversation.
    let before = forwards(&farm);
    let signed = clearsign(shared_other(), b"retry-upload\n", fresh());
    let badly_signed = from_maintainer(&subject, &signed);
    let out = farm.deliver(&badly_signed.build());
    assert!(
        matches!(out, Outcome::Reply { applied: false, .. }),
        "{out:?}"
    );
    assert_eq!(farm.state("hello"), State::FailedToUpload);
    assert_eq!(forwards(&farm), before, "forwarded as conversation");
    let id = badly_signed.message_id.trim_matches(['<', '>']).to_string();
    let recorded = farm
        .history("hello", "amd64")
        .into_iter()
        .find(|h| h.message_id.as_deref() == Some(id.as_str()))
        .expect("the refusal is in the build's history");
    assert!(
        recorded.note.as_deref().unwrap_or("").contains("not in"),
        "{recorded:?}"
    );

    // A maintainer who signs every mail with a key of their own still
    // reaches the admins with a question.
    let signed = clearsign(
        shared_other(),
        b"Why did the upload fail? Nothing changed on our side.\n",
        fresh(),
    );
    let signed_question = from_maintainer(&subject, &signed);
    let out = farm.deliver(&signed_question.build());
    assert!(forwarded(&out), "{out:?}");
    assert_eq!(forwards(&farm), before + 1);
}

/// An SMTP server that accepts the connection and then says nothing: the
/// mail is kept, and the error says the server did not answer in time
/// (not "Resource temporarily unavailable").
#[test]
fn a_hung_smtp_server_is_reported_as_a_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream); // never greeted, never closed
        }
    });
    let mut farm = Farm::new();
    farm.reconfigure(&format!(
        "[outbox]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{port}\"\ntimeout = \"1s\"\n"
    ));
    farm.deliver(&crate::support::plain_mail("Question", "Up?"));
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let queued = crate::support::outbox_of(&*store);
    assert_eq!(queued.len(), 1, "kept");
    let error = queued[0].0.last_error.clone().unwrap_or_default();
    assert!(error.contains("did not answer within 1s"), "{error}");
    assert!(!queued[0].0.dead);
}

/// A forwarded mail keeps one line-ending convention: the lines buildmail
/// adds end the way the original's do (an MTA may hand over LF or CRLF).
#[test]
fn a_forward_never_mixes_crlf_and_lf() {
    for lf in [true, false] {
        let farm = Farm::new();
        let crlf_mail = crate::support::plain_mail("Question", "Is the farm up? Thanks");
        let mail = if lf {
            String::from_utf8(crlf_mail)
                .unwrap()
                .replace("\r\n", "\n")
                .into_bytes()
        } else {
            crlf_mail
        };
        let out = farm.deliver(&mail);
        assert!(
            matches!(
                out,
                Outcome::Forwarded {
                    forwarded: true,
                    ..
                }
            ),
            "{out:?}"
        );
        let dir = farm.root().join("data/outbox");
        let files = Farm::files_in(&dir);
        assert_eq!(files.len(), 1);
        let raw = std::fs::read(dir.join(&files[0])).unwrap();
        let newlines = raw.iter().filter(|&&b| b == b'\n').count();
        let crlfs = raw.windows(2).filter(|w| w == b"\r\n").count();
        if lf {
            assert_eq!(crlfs, 0, "LF original, LF forward");
        } else {
            assert_eq!(crlfs, newlines, "CRLF original, CRLF forward");
        }
        assert!(raw.starts_with(b"Resent-From: "));
    }
}

/// `deliver -v` of a signed `.changes` says the upload was queued for the
/// worker and that the state holds until it runs, not "now Built" (the
/// upload may still fail and make the build Failed-To-Upload).
#[test]
fn deliver_verbose_says_an_upload_was_queued() {
    use std::io::Write;
    let farm = Farm::new();
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    let changes = farm.build_files("hello", "1.0-1", "amd64");
    // The binary runs on the real clock, not the farm's.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signed = clearsign(shared_ed25519(), changes.as_bytes(), SignSpec::at(now - 60));
    let mail = reply(
        &log_subject("successful", "hello", "1.0-1", "amd64"),
        &signed,
        None,
    );
    let mut child = farm
        .cli(&["deliver", "-v"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&mail).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("upload queued for the worker (state Built until it runs)"),
        "{err}"
    );
    assert!(!err.contains("now Built"), "{err}");
}
