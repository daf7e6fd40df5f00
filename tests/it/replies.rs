//! Admin replies end to end (issue 3): real sled database, real MIME mails,
//! real OpenPGP signatures by sequoia-made keys (and GnuPG where named),
//! real files in a real build directory and upload queue, and a real upload
//! command (a shell script the test writes).
//!
//! Every refusal test asserts that the build's state did not move, that
//! nothing appeared in the upload queue, and (where an answer is due) that
//! an error reply was written to the outbox.

use crate::support::farm::*;
use crate::support::keys::*;
use crate::support::TextMail;
use buildmail::ingest::Outcome;
use buildmail::model::state::State;
use sequoia_openpgp::types::HashAlgorithm;

// ---------------------------------------------------------------------------
// Keyword commands.

#[test]
fn signed_retry_moves_the_build_and_the_history_names_the_signer() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    let out = farm.deliver(&signed_reply(
        &log_subject("attempted", "hello", "1.0-1", "amd64"),
        "retry\n",
    ));
    assert_eq!(applied_state(&out), State::NeedsBuild);
    let h = farm.history("hello", "amd64");
    let last = h.last().unwrap();
    assert_eq!(last.event, "cmd:retry");
    assert_eq!(last.from, Some(State::BuildAttempted));
    assert_eq!(last.to, Some(State::NeedsBuild));
    assert_eq!(
        last.signer.as_deref(),
        Some(shared_ed25519().fingerprint().as_str())
    );
    assert!(
        farm.outbox().is_empty(),
        "no error reply for a good command"
    );
}

#[test]
fn every_keyword_command_goes_where_the_table_says() {
    // (state reached by the log, command, expected state, check)
    let cases: &[(&str, &str, State)] = &[
        (
            "attempted",
            "fail\nThe test suite hangs on this buildd.\n",
            State::Failed,
        ),
        (
            "attempted",
            "dep-wait libfoo-dev (>= 1.2), libbar\n",
            State::DepWait,
        ),
        ("attempted", "dep-retry libfoo-dev\n", State::DepWait),
        ("attempted", "give-back 5\n", State::NeedsBuild),
        ("attempted", "back\n", State::NeedsBuild),
        ("attempted", "manual\n", State::BuildAttempted),
        ("attempted", "newvers hello_1.0-2\n", State::NeedsBuild),
        ("attempted", "not-for-us\n", State::NotForUs),
        ("successful", "purge\n", State::Built),
    ];
    for (status, text, expected) in cases {
        let farm = Farm::new();
        farm.log(status, "hello", "1.0-1", "amd64", "unstable");
        let out = farm.deliver(&signed_reply(
            &log_subject(status, "hello", "1.0-1", "amd64"),
            text,
        ));
        assert_eq!(applied_state(&out), *expected, "{text:?}");
        let r = farm.record("hello", "unstable", "amd64");
        match text.split_whitespace().next().unwrap() {
            "fail" => assert_eq!(
                r.failed_reason.as_deref(),
                Some("The test suite hangs on this buildd.")
            ),
            "dep-wait" => assert_eq!(r.depends.as_deref(), Some("libfoo-dev (>= 1.2), libbar")),
            "give-back" => assert_eq!(r.priority, Some(5)),
            "newvers" => assert_eq!(r.version, "1.0-2"),
            _ => {}
        }
        let h = farm.history("hello", "amd64");
        assert!(
            h.iter()
                .any(|e| e.event.starts_with("cmd:") && e.signer.is_some()),
            "{h:?}"
        );
    }
}

#[test]
fn fail_see_bug_appends_to_a_failed_build() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let subject = log_subject("attempted", "hello", "1.0-1", "amd64");
    farm.deliver(&signed_reply(
        &subject,
        "fail\nFTBFS with the new compiler\n",
    ));
    let out = farm.deliver(&signed_reply(&subject, "fail (see #1234567)\n"));
    assert_eq!(applied_state(&out), State::Failed);
    let r = farm.record("hello", "unstable", "amd64");
    assert_eq!(
        r.failed_reason.as_deref(),
        Some("FTBFS with the new compiler\n(see #1234567)")
    );
}

#[test]
fn a_command_not_allowed_in_the_current_state_is_refused_naming_the_states() {
    let farm = Farm::new();
    farm.log("given-back", "hello", "1.0-1", "amd64", "unstable");
    let out = farm.deliver(&signed_reply(
        &log_subject("given-back", "hello", "1.0-1", "amd64"),
        "retry\n",
    ));
    assert_refused(
        &farm,
        &out,
        "hello",
        State::NeedsBuild,
        "retry is not allowed: the build is Needs-Build",
    );
    let reply = farm.outbox().pop().unwrap();
    assert!(
        reply.contains("Building, Built, Build-Attempted"),
        "{reply}"
    );
    assert!(reply.contains("To: admin@example.org"), "{reply}");
    assert!(reply.contains("> retry"), "the original is quoted: {reply}");
}

#[test]
fn should_build_answers() {
    let cases = [
        ("build\n", State::NeedsBuild),
        ("ok\n", State::NeedsBuild),
        ("fail\n", State::Failed),
        ("not\n", State::NotForUs),
        ("no-build\n", State::NotForUs),
        ("give-back\n", State::NeedsBuild),
    ];
    for (text, expected) in cases {
        let farm = Farm::new();
        farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
        let out = farm.deliver(&signed_reply(
            "Re: Should I build hello_1.0-1 (dist=unstable)?",
            text,
        ));
        assert_eq!(applied_state(&out), expected, "{text:?}");
    }
}

#[test]
fn outdated_replies_are_refused_naming_the_newer_version() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    farm.log("attempted", "hello", "1.0-2", "amd64", "unstable");
    let out = farm.deliver(&signed_reply(
        &log_subject("attempted", "hello", "1.0-1", "amd64"),
        "retry\n",
    ));
    assert_refused(
        &farm,
        &out,
        "hello",
        State::BuildAttempted,
        "1.0-2 is the newest version known",
    );
}

#[test]
fn the_build_is_found_through_in_reply_to_then_the_default_arch() {
    let farm = Farm::new();
    let mid = farm.log("attempted", "hello", "1.0-1", "arm64", "unstable");
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    // No arch in the subject: In-Reply-To names the arm64 log.
    let subject = "Re: Log for attempted build of hello_1.0-1 (dist=unstable)";
    let signed = clearsign(
        shared_ed25519(),
        bind_arch(subject, Some("arm64"), "give-back\n").as_bytes(),
        fresh(),
    );
    farm.deliver(&reply(subject, &signed, Some(&mid)));
    assert_eq!(
        farm.record("hello", "unstable", "arm64").state,
        State::NeedsBuild
    );
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    // Without threading headers: the default architecture (amd64). (A
    // different text: the same text signed in the same second would be the
    // same signature, and refused as a replay.)
    farm.deliver(&signed_reply(subject, "back\n"));
    assert_eq!(farm.state("hello"), State::NeedsBuild);
}

#[test]
fn reply_prefixes_and_encoded_subjects_are_recognised() {
    for subject in [
        "AW: Log for attempted build of hello_1.0-1 on amd64 (dist=unstable)",
        "Fwd: RE: Log for attempted build of hello_1.0-1 on amd64 (debian/unstable)",
        "=?UTF-8?Q?Re=3A_Log_for_attempted_build_of_hello=5F1=2E0-1_on_amd64_=28dist=3Dunstable=29?=",
    ] {
        let farm = Farm::new();
        farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
        // The subject goes into the header exactly as written (the builder
        // would encode an encoded word again).
        let raw = signed_reply("PLACEHOLDER", "manual hello_1.0-1 dist=unstable arch=amd64\n");
        let raw = String::from_utf8(raw)
            .unwrap()
            .replacen("Subject: PLACEHOLDER", &format!("Subject: {subject}"), 1);
        let out = farm.deliver(raw.as_bytes());
        assert!(
            matches!(out, Outcome::Reply { applied: true, .. }),
            "{subject}: {out:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Hostile input: nothing moves, nothing is uploaded.

#[test]
fn an_unsigned_command_is_refused() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let out = farm.deliver(&reply(
        &log_subject("attempted", "hello", "1.0-1", "amd64"),
        b"not-for-us\n",
        None,
    ));
    assert_refused(
        &farm,
        &out,
        "hello",
        State::BuildAttempted,
        "the command is not signed",
    );
}

/// The attack: a storm of unsigned replies from forged senders, each
/// quoting the attacker's text, must not turn buildmail into a relay.
#[test]
fn forged_senders_get_no_error_replies() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let subject = log_subject("attempted", "hello", "1.0-1", "amd64");
    // The storm: 500 unsigned commands from 500 forged senders, through
    // one open store (as `serve` or an `import --live` takes them).
    {
        let store = buildmail::store::open(&farm.cfg.database).unwrap();
        let ingest =
            buildmail::ingest::Ingest::new(&*store, &farm.cfg).with_clock(farm.clock.clone());
        for i in 0..500 {
            let victim = format!("victim{i}@example.net");
            let mut m = TextMail::new(
                &victim,
                "buildd@example.org",
                &subject,
                "retry\nBuy cheap watches at http://spam.example/\n",
            );
            m.message_id = crate::support::unique_message_id();
            let out = ingest.mail(&m.build()).unwrap();
            assert!(
                matches!(out, Outcome::Reply { applied: false, .. }),
                "{out:?}"
            );
        }
        store.flush().unwrap();
        assert_eq!(
            store.stats().unwrap().unanswered,
            500,
            "each refusal counted"
        );
    }
    farm.work();
    assert!(
        farm.outbox().is_empty(),
        "mail went out: {:?}",
        farm.outbox()
    );
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    // A signed refusal goes to the signer's key address, not to a forged
    // Reply-To.
    let text = clearsign(shared_ed25519(), b"newvers 0.1-1\n", fresh());
    let mut signed = TextMail::new(
        ADMIN,
        "buildd@example.org",
        &subject,
        std::str::from_utf8(&text).unwrap(),
    );
    signed.reply_to = Some("victim@example.net");
    signed.message_id = crate::support::unique_message_id();
    let out = farm.deliver(&signed.build());
    assert!(
        matches!(out, Outcome::Reply { applied: false, .. }),
        "{out:?}"
    );
    let outbox = farm.outbox();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert!(outbox[0].contains(&format!("To: {ADMIN}")), "{}", outbox[0]);
    assert!(!outbox[0].contains("victim@example.net"), "{}", outbox[0]);
}

#[test]
fn compatibility_mode_accepts_unsigned_commands_from_trusted_senders_only() {
    let mut farm = Farm::new();
    farm.cfg.signatures.require_signed_commands = false;
    farm.cfg.signatures.trusted_senders = vec![ADMIN.to_string()];
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let subject = log_subject("attempted", "hello", "1.0-1", "amd64");
    let mut forged = TextMail::new(
        "intruder@example.net",
        "buildd@example.org",
        &subject,
        "not-for-us\n",
    );
    forged.from_name = Some("Intruder");
    let out = farm.deliver(&forged.build());
    // Refused, and the stranger gets no mail (no backscatter).
    let Outcome::Reply {
        applied, reasons, ..
    } = &out
    else {
        panic!("{out:?}");
    };
    assert!(!applied && reasons.join(" ").contains("is not one of the senders"));
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    assert!(farm.outbox().is_empty(), "{:?}", farm.outbox());
    let out = farm.deliver(&reply(&subject, b"give-back\n", None));
    assert_eq!(applied_state(&out), State::NeedsBuild);
}

/// Runs a signed-reply refusal case on a fresh farm with an attempted build.
fn refused_case(raw: Vec<u8>, why: &str) {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let out = farm.deliver(&raw);
    assert_refused(&farm, &out, "hello", State::BuildAttempted, why);
}

fn subject() -> String {
    log_subject("attempted", "hello", "1.0-1", "amd64")
}

#[test]
fn a_forged_signature_is_refused() {
    let signed = clearsign(shared_ed25519(), b"manual\n", fresh());
    let forged = String::from_utf8(signed)
        .unwrap()
        .replace("manual", "not-for-us");
    refused_case(reply(&subject(), forged.as_bytes(), None), "BAD signature");
}

#[test]
fn an_unknown_key_is_refused() {
    let signed = clearsign(shared_other(), b"not-for-us\n", fresh());
    refused_case(
        reply(&subject(), &signed, None),
        "which is not in the buildmail keyring",
    );
}

/// Writes `cert` as the only keyring and runs a refusal case signed by `key`.
fn refused_with_keyring(cert: &[u8], key: &TestKey, spec: SignSpec, why: &str) {
    let farm = Farm::new();
    std::fs::write(farm.root().join("data/admins.asc"), cert).unwrap();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let signed = clearsign(key, b"not-for-us\n", spec);
    let out = farm.deliver(&reply(&subject(), &signed, None));
    assert_refused(&farm, &out, "hello", State::BuildAttempted, why);
}

#[test]
fn an_expired_key_is_refused() {
    // Valid for a day from three days ago: the signature was made while the
    // key was valid and is young enough, but the key has expired since.
    let key = make_key(KeySpec {
        created: now() - 3 * DAY,
        validity: Some(std::time::Duration::from_secs(DAY as u64)),
        ..KeySpec::default()
    });
    refused_with_keyring(
        &key.armored_public(),
        &key,
        SignSpec::at(now() - 3 * DAY + 3600),
        "has expired",
    );
}

#[test]
fn a_revoked_key_is_refused() {
    let key = make_key(KeySpec::default());
    let revoked = key.hard_revoked();
    refused_with_keyring(&revoked.armored_public(), &key, fresh(), "is revoked");
}

#[test]
fn a_sha1_signature_is_refused() {
    let spec = SignSpec {
        hash: HashAlgorithm::SHA1,
        created: now() - 60,
    };
    let signed = clearsign(shared_ed25519(), b"not-for-us\n", spec);
    refused_case(reply(&subject(), &signed, None), "weak hash algorithm SHA1");
}

#[test]
fn future_and_stale_signatures_are_refused() {
    let signed = clearsign(
        shared_ed25519(),
        b"not-for-us\n",
        SignSpec::at(now() + 3600),
    );
    refused_case(reply(&subject(), &signed, None), "too far in the future");
    let signed = clearsign(
        shared_ed25519(),
        b"not-for-us\n",
        SignSpec::at(now() - 8 * DAY),
    );
    refused_case(
        reply(&subject(), &signed, None),
        "older than the maximum signature age",
    );
}

#[test]
fn a_replayed_signed_reply_is_refused_also_after_a_restart() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let signed = clearsign(
        shared_ed25519(),
        b"give-back hello_1.0-1 dist=unstable arch=amd64\n",
        fresh(),
    );
    let first = farm.deliver(&reply(&subject(), &signed, None));
    assert_eq!(applied_state(&first), State::NeedsBuild);
    // The build is taken again by a new log; then the old reply comes back
    // in a new mail (new Message-ID, so the mail dedup does not catch it).
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    // Every `deliver` reopens the database: this is after a restart.
    let again = farm.deliver(&reply(&subject(), &signed, None));
    assert_refused(
        &farm,
        &again,
        "hello",
        State::BuildAttempted,
        "signature already seen at",
    );
    // The same signed text with LF → CRLF line endings is the same signature.
    let crlf = String::from_utf8(signed).unwrap().replace('\n', "\r\n");
    let third = farm.deliver(&reply(&subject(), crlf.as_bytes(), None));
    assert_refused(
        &farm,
        &third,
        "hello",
        State::BuildAttempted,
        "signature already seen at",
    );
}

#[test]
fn text_outside_the_signed_block_is_ignored_and_reported() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let signed = clearsign(
        shared_ed25519(),
        b"manual hello_1.0-1 dist=unstable arch=amd64\n",
        fresh(),
    );
    let mut body = b"not-for-us\n\n".to_vec();
    body.extend_from_slice(&signed);
    body.extend_from_slice(b"\nnot-for-us\npurge\n");
    let out = farm.deliver(&reply(&subject(), &body, None));
    // The signed `manual` is what counts: the state stays.
    assert!(
        matches!(out, Outcome::Reply { applied: true, .. }),
        "{out:?}"
    );
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    assert!(farm.queue().is_empty());
    let last = farm.history("hello", "amd64").pop().unwrap();
    assert_eq!(last.event, "cmd:manual");
    let note = last.note.unwrap();
    assert!(
        note.contains("before the signed block") && note.contains("after the signed block"),
        "{note}"
    );
}

#[test]
fn an_unsigned_mime_part_beside_the_signed_one_is_ignored() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let entity = b"Content-Type: text/plain; charset=utf-8\r\n\r\nmanual hello_1.0-1 dist=unstable arch=amd64\r\n";
    let sig = detach_sign(shared_ed25519(), entity, fresh(), true);
    let signed = crate::support::pgp_mime_mail("", entity, &sig, "inner");
    let signed = String::from_utf8(signed).unwrap();
    let signed_part = signed.trim_start_matches("MIME-Version: 1.0\r\n");
    let raw = format!(
        "From: {ADMIN}\r\nTo: buildd@example.org\r\nSubject: {}\r\nMessage-ID: <mixed-1@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
         --outer\r\nContent-Type: text/plain\r\n\r\nnot-for-us\r\n\
         --outer\r\n{signed_part}\r\n--outer--\r\n",
        subject()
    );
    let out = farm.deliver(raw.as_bytes());
    assert!(
        matches!(out, Outcome::Reply { applied: true, .. }),
        "{out:?}"
    );
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    let last = farm.history("hello", "amd64").pop().unwrap();
    assert_eq!(last.event, "cmd:manual");
    assert!(last
        .note
        .unwrap()
        .contains("outside the signed part were ignored"));
}

#[test]
fn pgp_mime_quoted_printable_command_is_acted_on() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let entity = b"Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\n\
give-back hello_1.0-1 dist=3Dunstable arch=3Damd64\r\n\r\nOut of disk space =E2=80=94 again.\r\n";
    let sig = detach_sign(shared_rsa(), entity, fresh(), true);
    std::fs::write(
        farm.root().join("data/gpg.asc"),
        shared_rsa().armored_public(),
    )
    .unwrap();
    let headers = format!(
        "From: {ADMIN}\r\nTo: buildd@example.org\r\nSubject: {}\r\nMessage-ID: <pgpmime-1@example.org>\r\n",
        subject()
    );
    let out = farm.deliver(&crate::support::pgp_mime_mail(&headers, entity, &sig, "b"));
    assert_eq!(applied_state(&out), State::NeedsBuild);
    let last = farm.history("hello", "amd64").pop().unwrap();
    assert_eq!(
        last.signer.as_deref(),
        Some(shared_rsa().fingerprint().as_str())
    );
}

#[test]
fn gnupg_clearsigned_and_pgp_mime_replies_are_acted_on() {
    require_gpg();
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let home = GpgHome::new();
    std::fs::write(farm.root().join("data/gpg.asc"), home.export_armored()).unwrap();
    // GnuPG signs by the wall clock, with a key it made just now.
    farm.clock.set(wall_now());
    // gpg --clearsign
    let signed = home.run(
        &["--clearsign", "--digest-algo", "SHA512"],
        b"manual hello_1.0-1 dist=unstable arch=amd64\n",
    );
    let out = farm.deliver(&reply(&subject(), &signed, None));
    assert!(
        matches!(out, Outcome::Reply { applied: true, .. }),
        "{out:?}"
    );
    // PGP/MIME: gpg --detach-sign over the MIME entity.
    let entity = b"Content-Type: text/plain; charset=us-ascii\r\n\r\ngive-back hello_1.0-1 dist=unstable arch=amd64\r\n";
    let sig = home.run(
        &["--detach-sign", "--armor", "--digest-algo", "SHA512"],
        entity,
    );
    let headers = format!(
        "From: {ADMIN}\r\nTo: buildd@example.org\r\nSubject: {}\r\nMessage-ID: <gpg-mime@example.org>\r\n",
        subject()
    );
    let out = farm.deliver(&crate::support::pgp_mime_mail(
        &headers, entity, &sig, "gpg",
    ));
    assert_eq!(applied_state(&out), State::NeedsBuild);
}

#[test]
fn mailer_daemons_and_bulk_mail_are_never_answered_and_errors_are_rate_limited() {
    let farm = Farm::with("[replies]\nmax_errors_per_hour = 2\n");
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let s = subject();
    let daemon = TextMail::new(
        "MAILER-DAEMON@example.org",
        "buildd@example.org",
        &s,
        "retry\n",
    );
    farm.deliver(&daemon.build());
    let bulk = crate::support::with_header(&reply(&s, b"retry\n", None), "Precedence", "bulk");
    farm.deliver(&bulk);
    let auto = crate::support::with_header(
        &reply(&s, b"retry\n", None),
        "Auto-Submitted",
        "auto-replied",
    );
    farm.deliver(&auto);
    assert!(farm.outbox().is_empty(), "{:?}", farm.outbox());
    for _ in 0..4 {
        farm.deliver(&reply(&s, b"retry\n", None));
    }
    assert_eq!(farm.outbox().len(), 2, "two error replies per hour at most");
    assert_eq!(farm.state("hello"), State::BuildAttempted);
}

// ---------------------------------------------------------------------------
// Signed .changes → upload.

/// A farm with a successful build of hello 1:1.0-1 whose files are in the
/// build directory; returns the farm and the real `.changes`.
fn built_farm(extra: &str) -> (Farm, String) {
    let farm = Farm::with(extra);
    farm.log("successful", "hello", "1:1.0-1", "amd64", "unstable");
    let changes = farm.build_files("hello", "1:1.0-1", "amd64");
    (farm, changes)
}

fn built_subject() -> String {
    log_subject("successful", "hello", "1:1.0-1", "amd64")
}

#[test]
fn a_signed_changes_uploads_the_files_and_runs_the_upload_command() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("args");
    let mut farm = Farm::new();
    let script = upload_script(
        &farm,
        &format!("echo \"$@\" > {record:?}\necho uploading \"$1\""),
    );
    farm.reconfigure(&script);
    farm.log("successful", "hello", "1:1.0-1", "amd64", "unstable");
    let changes = farm.build_files("hello", "1:1.0-1", "amd64");
    let signed = clearsign(shared_ed25519(), changes.as_bytes(), fresh());
    let out = farm.deliver(&reply(&built_subject(), &signed, None));
    assert!(
        matches!(out, Outcome::Reply { applied: true, .. }),
        "{out:?}"
    );
    assert_eq!(farm.state("hello"), State::Uploaded);
    assert_eq!(
        farm.queue(),
        vec![
            "hello_1.0-1_amd64.buildinfo",
            "hello_1.0-1_amd64.changes",
            "hello_1.0-1_amd64.deb"
        ]
    );
    // The .changes in the queue is the signed one, byte for byte.
    let queued = std::fs::read(farm.root().join("queue/hello_1.0-1_amd64.changes")).unwrap();
    assert_eq!(queued, signed);
    let args = std::fs::read_to_string(&record).unwrap();
    assert!(
        args.contains("queue/hello_1.0-1_amd64.changes unstable"),
        "{args}"
    );
    let r = farm.record("hello", "unstable", "amd64");
    assert_eq!(r.upload_log, None);
    let h = farm.history("hello", "amd64");
    assert!(h.iter().any(|e| e.event == "upload:ok"));
}

#[test]
fn a_failing_upload_command_leaves_failed_to_upload_with_the_log_and_retry_upload_recovers() {
    let mut farm = Farm::new();
    farm.reconfigure(&upload_script(
        &farm,
        "echo 'dput: connection refused by test' >&2\nexit 1",
    ));
    farm.log("successful", "hello", "1:1.0-1", "amd64", "unstable");
    let changes = farm.build_files("hello", "1:1.0-1", "amd64");
    let signed = clearsign(shared_ed25519(), changes.as_bytes(), fresh());
    farm.deliver(&reply(&built_subject(), &signed, None));
    assert_eq!(farm.state("hello"), State::FailedToUpload);
    let r = farm.record("hello", "unstable", "amd64");
    let log = r.upload_log.unwrap();
    assert!(log.contains("dput: connection refused by test"), "{log}");
    assert!(log.contains("exit status 1"), "{log}");
    let reply_mail = farm.outbox().pop().expect("the admin hears of the failure");
    assert!(
        reply_mail.contains("connection refused by test"),
        "{reply_mail}"
    );

    // Fix the uploader, then `retry-upload`.
    farm.reconfigure(&upload_script(&farm, "exit 0"));
    let out = farm.deliver(&signed_reply(&built_subject(), "retry-upload\n"));
    assert!(
        matches!(out, Outcome::Reply { applied: true, .. }),
        "{out:?}"
    );
    assert_eq!(farm.state("hello"), State::Uploaded);
    assert_eq!(farm.record("hello", "unstable", "amd64").upload_log, None);
}

#[test]
fn a_fresh_signed_changes_reprocesses_a_failed_upload_and_upload_rem_takes_it_back() {
    let mut farm = Farm::new();
    farm.reconfigure(&upload_script(&farm, "exit 2"));
    farm.log("successful", "hello", "1:1.0-1", "amd64", "unstable");
    let changes = farm.build_files("hello", "1:1.0-1", "amd64");
    farm.deliver(&reply(
        &built_subject(),
        &clearsign(
            shared_ed25519(),
            changes.as_bytes(),
            SignSpec::at(now() - 120),
        ),
        None,
    ));
    assert_eq!(farm.state("hello"), State::FailedToUpload);
    farm.reconfigure("");
    farm.deliver(&reply(
        &built_subject(),
        &clearsign(shared_ed25519(), changes.as_bytes(), fresh()),
        None,
    ));
    assert_eq!(farm.state("hello"), State::Uploaded);
    assert_eq!(farm.queue().len(), 3);
    let out = farm.deliver(&signed_reply(&built_subject(), "upload-rem\n"));
    assert_eq!(applied_state(&out), State::Built);
    assert!(farm.queue().is_empty(), "{:?}", farm.queue());
}

#[test]
fn purge_removes_the_build_files() {
    let (farm, _changes) = built_farm("");
    assert_eq!(Farm::files_in(&farm.build_dir()).len(), 2);
    farm.deliver(&signed_reply(&built_subject(), "purge\n"));
    assert!(Farm::files_in(&farm.build_dir()).is_empty());
    assert_eq!(farm.state("hello"), State::Built);
}

/// A refused `.changes` case: signed `changes`, expected reason.
fn refused_changes(changes: &str, why: &str) {
    let (farm, _) = built_farm("");
    let signed = clearsign(shared_ed25519(), changes.as_bytes(), fresh());
    let out = farm.deliver(&reply(&built_subject(), &signed, None));
    assert_refused(&farm, &out, "hello", State::Built, why);
}

#[test]
fn a_changes_for_another_package_version_arch_or_dist_is_refused() {
    let (farm, good) = built_farm("");
    drop(farm);
    refused_changes(
        &good.replace("Source: hello", "Source: other"),
        "source other",
    );
    refused_changes(
        &good.replace("Version: 1:1.0-1", "Version: 1:1.0-2"),
        "1:1.0-2",
    );
    refused_changes(
        &good.replace("Architecture: amd64", "Architecture: arm64"),
        "arm64",
    );
    refused_changes(
        &good.replace("Distribution: unstable", "Distribution: experimental"),
        "experimental",
    );
}

#[test]
fn unsafe_names_checksum_mismatches_and_missing_files_are_refused() {
    let (farm, good) = built_farm("");
    drop(farm);
    let deb = "hello_1.0-1_amd64.deb";
    refused_changes(
        &good.replace(&format!(" {deb}"), &format!(" ../{deb}")),
        "../",
    );
    refused_changes(
        &good.replace(&format!(" {deb}"), &format!(" sub/{deb}")),
        "sub/",
    );
    // One checksum changed (SHA-256 line only).
    let sha_line = good
        .lines()
        .skip_while(|l| !l.starts_with("Checksums-Sha256:"))
        .nth(1)
        .unwrap()
        .to_string();
    let digest = sha_line.split_whitespace().next().unwrap();
    let bad = good.replace(digest, &"0".repeat(64));
    refused_changes(&bad, "SHA-256");
    // A file that is not in the build directory.
    let missing = good.replace(deb, "hello_1.0-1_amd64-extra.deb");
    refused_changes(&missing, "hello_1.0-1_amd64-extra.deb");
}

#[test]
fn an_unsigned_changes_is_refused() {
    let (farm, changes) = built_farm("");
    let out = farm.deliver(&reply(&built_subject(), changes.as_bytes(), None));
    assert_refused(
        &farm,
        &out,
        "hello",
        State::Built,
        "the .changes is not signed",
    );
}

#[test]
fn a_pgp_mime_signed_changes_uploads() {
    let (farm, changes) = built_farm("");
    let entity = format!(
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n{}",
        changes.replace('\n', "\r\n")
    );
    let sig = detach_sign(shared_ed25519(), entity.as_bytes(), fresh(), true);
    let headers = format!(
        "From: {ADMIN}\r\nTo: buildd@example.org\r\nSubject: {}\r\nMessage-ID: <mime-changes@example.org>\r\n",
        built_subject()
    );
    let out = farm.deliver(&crate::support::pgp_mime_mail(
        &headers,
        entity.as_bytes(),
        &sig,
        "c",
    ));
    assert!(
        matches!(out, Outcome::Reply { applied: true, .. }),
        "{out:?}"
    );
    assert_eq!(farm.state("hello"), State::Uploaded);
    assert_eq!(farm.queue().len(), 3);
}

#[test]
fn an_inline_signed_part_inside_multipart_mixed_quoted_printable_is_found() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    // The signed text has a long line and a non-ASCII character, so the
    // quoted-printable encoding has soft line breaks and escapes to undo.
    let text = format!(
        "give-back hello_1.0-1 dist=unstable arch=amd64\n\nThe disk filled up — {} — please try again.\n",
        "x".repeat(90)
    );
    let signed = clearsign(shared_ed25519(), text.as_bytes(), fresh());
    let qp = String::from_utf8(crate::support::qp_encode(&signed)).unwrap();
    assert!(
        qp.contains("=\r\n") || qp.contains("=\n"),
        "soft line breaks expected"
    );
    let raw = format!(
        "From: {ADMIN}\r\nTo: buildd@example.org\r\nSubject: {}\r\nMessage-ID: <nested-qp@example.org>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
         --outer\r\nContent-Type: text/plain\r\n\r\nnot-for-us\r\n\
         --outer\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
         {qp}\r\n--outer--\r\n",
        subject()
    );
    let out = farm.deliver(raw.as_bytes());
    assert_eq!(applied_state(&out), State::NeedsBuild);
    let last = farm.history("hello", "amd64").pop().unwrap();
    assert_eq!(last.event, "cmd:give-back");
    assert!(last
        .note
        .unwrap()
        .contains("other MIME part(s) were ignored"));
}

#[test]
fn two_signatures_on_one_reply_are_refused() {
    let signed = clearsign_with(
        vec![shared_ed25519().signer(), shared_rsa().signer()],
        b"not-for-us\n",
        fresh(),
    );
    refused_case(
        reply(&subject(), &signed, None),
        "expected exactly one signature",
    );
}

/// The attack: after an admin failed a build by a signed `fail`, a log mail
/// (anyone's) saying the same version built fine does not undo the
/// decision; the log is kept and the history says why.
#[test]
fn a_log_does_not_undo_an_admins_fail() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let out = farm.deliver(&signed_reply(
        &log_subject("attempted", "hello", "1.0-1", "amd64"),
        "fail\nFTBFS with the new compiler\n",
    ));
    assert_eq!(applied_state(&out), State::Failed);
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    assert_eq!(farm.state("hello"), State::Failed);
    let last = farm.history("hello", "amd64").pop().unwrap();
    assert_eq!(last.event, "log:successful");
    assert_eq!(
        (last.from, last.to),
        (Some(State::Failed), Some(State::Failed))
    );
    assert!(
        last.note.unwrap_or_default().contains("state kept"),
        "the history says why"
    );
    // A new version is built again as usual.
    farm.log("successful", "hello", "1.0-2", "amd64", "unstable");
    assert_eq!(farm.state("hello"), State::Built);
}

/// The attack: an empty, or a cut-off, "successful" log mail never makes a
/// build Built.
#[test]
fn an_empty_or_truncated_log_never_makes_a_build_built() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let subject =
        crate::support::sbuild_subject("successful", "hello", "1.0-1", "amd64", "unstable");
    let empty = crate::support::with_message_id(
        &crate::support::log_mail_plain(&subject, b""),
        &crate::support::unique_message_id(),
    );
    farm.deliver(&empty);
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    let spec =
        crate::support::logs::LogSpec::new("hello", "1.0-1", "amd64", "unstable", "successful");
    let whole = crate::support::logs::sbuild_log(&spec);
    let cut = &whole[..whole.len() * 2 / 3];
    let truncated = crate::support::with_message_id(
        &crate::support::log_mail_plain(&subject, cut),
        &crate::support::unique_message_id(),
    );
    farm.deliver(&truncated);
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    let last = farm.history("hello", "amd64").pop().unwrap();
    assert!(
        last.note.unwrap_or_default().contains("only a whole log"),
        "history says why"
    );
    // The whole log does.
    let full = crate::support::with_message_id(
        &crate::support::log_mail_plain(&subject, &whole),
        &crate::support::unique_message_id(),
    );
    farm.deliver(&full);
    assert_eq!(farm.state("hello"), State::Built);
}

/// Besides the per-address limit, error replies to everyone together are
/// capped per hour.
#[test]
fn error_replies_have_a_global_cap() {
    let farm = Farm::with("[replies]\nmax_errors_per_hour = 100\nmax_errors_per_hour_total = 3\n");
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let subject = log_subject("attempted", "hello", "1.0-1", "amd64");
    for _ in 0..5 {
        // Unsigned, from a known sender: refused and answered, within the
        // global budget for answers to unsigned mail.
        let out = farm.deliver(&reply(&subject, b"retry\n", None));
        assert!(
            matches!(out, Outcome::Reply { applied: false, .. }),
            "{out:?}"
        );
    }
    assert_eq!(farm.outbox().len(), 3, "{:?}", farm.outbox());
    // Refusals of signed replies have their own budget.
    let out = farm.deliver(&signed_reply(&subject, "newvers 0.1-1\n"));
    assert!(
        matches!(out, Outcome::Reply { applied: false, .. }),
        "{out:?}"
    );
    assert_eq!(farm.outbox().len(), 4, "{:?}", farm.outbox());
}

/// The attack: a signed `fail` made for unstable, with only the Subject
/// rewritten to aim at experimental, is refused: the signed text names
/// the unstable build.
#[test]
fn a_signed_command_redirected_to_another_suite_is_refused() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    farm.log("attempted", "hello", "1.0-1", "amd64", "experimental");
    let text = clearsign(
        shared_ed25519(),
        b"fail hello_1.0-1 dist=unstable arch=amd64\nbroken on unstable only\n",
        fresh(),
    );
    let redirected = "Re: Log for attempted build of hello_1.0-1 on amd64 (dist=experimental)";
    let out = farm.deliver(&reply(redirected, &text, None));
    let Outcome::Reply {
        applied, reasons, ..
    } = &out
    else {
        panic!("{out:?}");
    };
    assert!(!applied);
    assert!(
        reasons[0].contains("acts only on the build it names"),
        "{reasons:?}"
    );
    assert_eq!(
        farm.record("hello", "experimental", "amd64").state,
        State::BuildAttempted
    );
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    // The redirected copy did not spend the signature: the admin's own
    // mail, arriving after it, is acted on; a second use then is a replay.
    let genuine = "Re: Log for attempted build of hello_1.0-1 on amd64 (dist=unstable)";
    let out = farm.deliver(&reply(genuine, &text, None));
    assert_eq!(applied_state(&out), State::Failed);
    let out = farm.deliver(&reply(genuine, &text, None));
    let Outcome::Reply {
        applied, reasons, ..
    } = &out
    else {
        panic!("{out:?}");
    };
    assert!(
        !applied && reasons[0].contains("signature already seen"),
        "{reasons:?}"
    );
}

/// The attack: a captured signed `purge` delivered as a reply to another
/// architecture's build removes nothing.
#[test]
fn a_signed_purge_redirected_to_another_build_removes_nothing() {
    let farm = Farm::new();
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    farm.log("successful", "hello", "1.0-1", "arm64", "unstable");
    farm.build_files("hello", "1.0-1", "arm64");
    let before = Farm::files_in(&farm.build_dir());
    let text = clearsign(
        shared_ed25519(),
        b"purge hello_1.0-1 dist=unstable arch=amd64\n",
        fresh(),
    );
    let out = farm.deliver(&reply(
        &log_subject("successful", "hello", "1.0-1", "arm64"),
        &text,
        None,
    ));
    assert!(
        matches!(out, Outcome::Reply { applied: false, .. }),
        "{out:?}"
    );
    assert_eq!(
        Farm::files_in(&farm.build_dir()),
        before,
        "files were removed"
    );
}

/// A signed command that names no build is refused, and the answer says
/// exactly what to write; quoting the log's header lines binds it too.
#[test]
fn unbound_signed_commands_are_refused_with_the_line_to_write() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let subject = log_subject("attempted", "hello", "1.0-1", "amd64");
    let text = clearsign(shared_ed25519(), b"give-back\n", fresh());
    let out = farm.deliver(&reply(&subject, &text, None));
    let Outcome::Reply { reasons, .. } = &out else {
        panic!("{out:?}");
    };
    assert!(
        reasons[0].contains("`give-back hello_1.0-1 dist=unstable arch=amd64`"),
        "{reasons:?}"
    );
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    // The quoted log header names the build.
    let quoted = b"give-back\n\nOn Mon, the buildd wrote:\n> Package: hello\n> Version: 1.0-1\n> Distribution: unstable\n> Host Architecture: amd64\n";
    let text = clearsign(shared_ed25519(), quoted, fresh());
    let out = farm.deliver(&reply(&subject, &text, None));
    assert_eq!(applied_state(&out), State::NeedsBuild);
}

/// With `require_bound_commands = false` the old unbound form is accepted.
#[test]
fn unbound_commands_are_accepted_only_when_configured() {
    let mut farm = Farm::new();
    farm.cfg.signatures.require_bound_commands = false;
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let text = clearsign(shared_ed25519(), b"give-back\n", fresh());
    let out = farm.deliver(&reply(
        &log_subject("attempted", "hello", "1.0-1", "amd64"),
        &text,
        None,
    ));
    assert_eq!(applied_state(&out), State::NeedsBuild);
}

/// A log mail of the given `from`, for the builders tests.
fn log_from(from: &str, status: &str, arch: &str) -> Vec<u8> {
    let spec = crate::support::logs::LogSpec::new("hello", "1.0-1", arch, "unstable", status);
    let subject = crate::support::sbuild_subject(status, "hello", "1.0-1", arch, "unstable");
    let log = crate::support::logs::sbuild_log(&spec);
    let mut m = crate::support::LogMail::new(
        &subject,
        &log,
        crate::support::LogForm::Plain(crate::support::Encoding::EightBit),
    );
    m.from = from;
    m.message_id = crate::support::unique_message_id();
    m.build()
}

/// The attack: with builders configured, a stranger's "successful" log
/// moves nothing; the builder of that architecture's log does.
#[test]
fn only_a_configured_builder_for_the_arch_moves_a_build() {
    let farm = Farm::with(
        "[[builders]]\nname = \"x86\"\nsenders = [\"buildd@x86.example.org\"]\narches = [\"amd64\"]\n\
         [[builders]]\nname = \"arm\"\nsenders = [\"buildd@arm.example.org\"]\narches = [\"arm64\"]\n",
    );
    farm.deliver(&log_from("buildd@x86.example.org", "attempted", "amd64"));
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    for stranger in ["mallory@evil.test", "buildd@arm.example.org"] {
        farm.deliver(&log_from(stranger, "successful", "amd64"));
        assert_eq!(farm.state("hello"), State::BuildAttempted, "{stranger}");
        let last = farm.history("hello", "amd64").pop().unwrap();
        assert!(
            last.note
                .unwrap_or_default()
                .contains("not a configured builder for amd64"),
            "{stranger}: the history says why"
        );
    }
    farm.deliver(&log_from("buildd@x86.example.org", "successful", "amd64"));
    assert_eq!(farm.state("hello"), State::Built);
    // A stranger's log for a build nobody knows creates no build, and is
    // not shown as anyone's log.
    farm.deliver(&log_from("mallory@evil.test", "successful", "arm64"));
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    assert!(store
        .build(&key("hello", "unstable", "arm64"))
        .unwrap()
        .is_none());
    assert_eq!(
        store.logs_of("hello").unwrap().len(),
        2,
        "only the builder's logs are indexed"
    );
}

/// A PGP/MIME reply whose signed part carries the Subject (protected
/// headers) is bound by it: the command needs no binding of its own, and
/// an outer Subject rewritten to another build is refused.
#[test]
fn pgp_mime_protected_subject_binds_the_command() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    farm.log("attempted", "hello", "1.0-1", "arm64", "unstable");
    let amd64 = "Re: Log for attempted build of hello_1.0-1 on amd64 (dist=unstable)";
    let entity = format!(
        "Content-Type: text/plain; charset=utf-8; protected-headers=\"v1\"\r\nSubject: {amd64}\r\n\r\ngive-back\r\n"
    );
    let sig = detach_sign(shared_ed25519(), entity.as_bytes(), fresh(), true);
    let mail = |outer: &str, id: &str| {
        let headers = format!(
            "From: {ADMIN}\r\nTo: buildd@example.org\r\nSubject: {outer}\r\nMessage-ID: <{id}@example.org>\r\n"
        );
        crate::support::pgp_mime_mail(&headers, entity.as_bytes(), &sig, "p")
    };
    // Redirected: the outer Subject names arm64, the signed one amd64.
    let arm64 = "Re: Log for attempted build of hello_1.0-1 on arm64 (dist=unstable)";
    let out = farm.deliver(&mail(arm64, "protected-1"));
    assert!(
        matches!(out, Outcome::Reply { applied: false, .. }),
        "{out:?}"
    );
    assert_eq!(
        farm.record("hello", "unstable", "arm64").state,
        State::BuildAttempted
    );
    // As sent: acted on.
    let out = farm.deliver(&mail(amd64, "protected-2"));
    assert_eq!(applied_state(&out), State::NeedsBuild);
}

/// The builder's key, made once per process.
fn builder_key() -> &'static TestKey {
    static KEY: std::sync::OnceLock<TestKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        make_key(KeySpec {
            uid: "Buildd x86 <buildd@x86.example.org>".into(),
            ..KeySpec::default()
        })
    })
}

/// A farm with one builder whose logs must be signed by its key.
fn signed_builder_farm() -> Farm {
    let dir_key = tempfile::NamedTempFile::new().unwrap();
    let (_, path) = dir_key.keep().unwrap();
    std::fs::write(&path, builder_key().armored_public()).unwrap();
    Farm::with(&format!(
        "[[builders]]\nname = \"x86\"\nsenders = [\"buildd@x86.example.org\"]\narches = [\"amd64\"]\nkeyrings = [{path:?}]\n"
    ))
}

/// A log mail PGP/MIME-signed by `key` (the log as the signed part);
/// `wrap` puts it inside multipart/mixed beside an unsigned forged log.
fn signed_log(key: &TestKey, status: &str, subject_status: &str, wrap: bool) -> Vec<u8> {
    let spec = crate::support::logs::LogSpec::new("hello", "1.0-1", "amd64", "unstable", status);
    let log = crate::support::logs::sbuild_log(&spec);
    let mut entity = b"Content-Type: text/plain; charset=utf-8\r\n\r\n".to_vec();
    entity.extend_from_slice(&log);
    let entity = buildmail::inbound::mail::canonical_crlf(&entity).into_owned();
    let sig = detach_sign(key, &entity, fresh(), true);
    let subject =
        crate::support::sbuild_subject(subject_status, "hello", "1.0-1", "amd64", "unstable");
    let id = crate::support::unique_message_id();
    let headers = format!(
        "From: buildd@x86.example.org\r\nTo: logs@example.org\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n"
    );
    let signed = crate::support::pgp_mime_mail(&headers, &entity, &sig, "s");
    if !wrap {
        return signed;
    }
    // The attacker's wrapper: the genuine signed mail's parts, and a forged
    // successful log beside them.
    let cut = signed.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (head, body) = signed.split_at(cut);
    let inner_ct = String::from_utf8_lossy(head)
        .lines()
        .skip_while(|l| !l.starts_with("Content-Type: multipart/signed"))
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\r\n");
    let forged = crate::support::logs::sbuild_log(&crate::support::logs::LogSpec::new(
        "hello",
        "1.0-1",
        "amd64",
        "unstable",
        "successful",
    ));
    let mut m = format!(
        "From: buildd@x86.example.org\r\nTo: logs@example.org\r\nSubject: {subject}\r\nMessage-ID: <w{id}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"w\"\r\n\r\n--w\r\n{inner_ct}\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice(body);
    m.extend_from_slice(b"\r\n--w\r\nContent-Type: text/plain\r\n\r\n");
    m.extend_from_slice(&forged);
    m.extend_from_slice(b"\r\n--w--\r\n");
    m
}

/// A builder with keys is believed only when its log mail is signed by
/// them; the log is read from the signed part; a replayed signed log moves
/// nothing.
#[test]
fn a_builder_with_keys_is_believed_only_when_it_signs() {
    let farm = signed_builder_farm();
    // Signed: believed.
    farm.deliver(&signed_log(builder_key(), "attempted", "attempted", false));
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    // Unsigned from the builder's address: recorded, state kept.
    let spec =
        crate::support::logs::LogSpec::new("hello", "1.0-1", "amd64", "unstable", "successful");
    let log = crate::support::logs::sbuild_log(&spec);
    let subject =
        crate::support::sbuild_subject("successful", "hello", "1.0-1", "amd64", "unstable");
    let mut plain = crate::support::LogMail::new(
        &subject,
        &log,
        crate::support::LogForm::Plain(crate::support::Encoding::EightBit),
    );
    plain.from = "buildd@x86.example.org";
    plain.message_id = crate::support::unique_message_id();
    farm.deliver(&plain.build());
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    let last = farm.history("hello", "amd64").pop().unwrap();
    assert!(last
        .note
        .unwrap_or_default()
        .contains("not PGP/MIME-signed"));
    // Signed by another key: not the builder's.
    farm.deliver(&signed_log(
        shared_other(),
        "successful",
        "successful",
        false,
    ));
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    // The attacker wraps a genuine signed "attempted" log beside a forged
    // successful one and says "successful" in the subject: the signed log
    // counts.
    farm.deliver(&signed_log(builder_key(), "attempted", "successful", true));
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    // A genuine signed success, then an admin's retry; the same signed mail
    // replayed under new outer headers changes nothing.
    let success = signed_log(builder_key(), "successful", "successful", false);
    farm.deliver(&success);
    assert_eq!(farm.state("hello"), State::Built);
    let out = farm.deliver(&signed_reply(
        &log_subject("successful", "hello", "1.0-1", "amd64"),
        "retry\n",
    ));
    assert_eq!(applied_state(&out), State::NeedsBuild);
    let replayed =
        crate::support::replace_first(&success, b"Message-ID: <", b"Message-ID: <replay-");
    farm.deliver(&replayed);
    assert_eq!(farm.state("hello"), State::NeedsBuild);
}

/// The attacks on a builder's signed log: a copy sent first from another
/// address does not use up the builder's signature, and an outer Subject
/// saying `on all` cannot aim a signed amd64 log at the arch-all build.
#[test]
fn a_signed_log_counts_only_as_itself_and_a_copy_cannot_spend_it() {
    let dir_key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(dir_key.path(), builder_key().armored_public()).unwrap();
    let farm = Farm::with(&format!(
        "[[builders]]\nname = \"x86\"\nsenders = [\"buildd@x86.example.org\"]\narches = [\"amd64\", \"all\"]\nkeyrings = [{:?}]\n",
        dir_key.path()
    ));
    farm.deliver(&signed_log(builder_key(), "attempted", "attempted", false));
    assert_eq!(farm.state("hello"), State::BuildAttempted);

    let genuine = signed_log(builder_key(), "successful", "successful", false);
    let copy = crate::support::replace_first(
        &genuine,
        b"From: buildd@x86.example.org",
        b"From: mallory@evil.test",
    );
    let copy = crate::support::replace_first(&copy, b"Message-ID: <", b"Message-ID: <copy-");
    farm.deliver(&copy);
    assert_eq!(farm.state("hello"), State::BuildAttempted);
    // The builder's own mail still counts.
    farm.deliver(&genuine);
    assert_eq!(farm.state("hello"), State::Built);

    // A signed amd64 log under a Subject saying `on all`.
    let other = signed_log(builder_key(), "skipped", "skipped", false);
    let aimed = crate::support::replace_first(&other, b" on amd64 ", b" on all ");
    farm.deliver(&aimed);
    assert!(
        farm.history("hello", "all").is_empty(),
        "no arch-all build was made from it"
    );
}

/// A delivery cut off by the network (the same mail, same Message-ID,
/// ending early) is recorded and moves nothing; the MTA's retry of the
/// whole mail is not taken for a duplicate: it is processed, makes the
/// build Built, and its whole log is the one `buildmail log` prints.
#[test]
fn a_cut_off_delivery_does_not_shadow_the_whole_mail_that_follows() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let subject =
        crate::support::sbuild_subject("successful", "hello", "1.0-1", "amd64", "unstable");
    let spec =
        crate::support::logs::LogSpec::new("hello", "1.0-1", "amd64", "unstable", "successful");
    let whole_log = crate::support::logs::sbuild_log(&spec);
    let mail = crate::support::with_message_id(
        &crate::support::log_mail_plain(&subject, &whole_log),
        "one-mail@buildd.example.org",
    );
    for percent in [20, 50, 80, 95] {
        let cut = &mail[..mail.len() * percent / 100];
        farm.deliver(cut);
        assert_eq!(farm.state("hello"), State::BuildAttempted, "{percent} %");
    }
    let out = farm.deliver(&mail);
    assert!(!matches!(out, Outcome::Duplicate(_)), "{out:?}");
    assert_eq!(farm.state("hello"), State::Built);
    let printed = farm.cli(&["log", "hello_1.0-1"]).output().unwrap();
    assert!(printed.status.success());
    assert_eq!(
        printed.stdout, whole_log,
        "the archived log is the whole one"
    );
    // The whole mail again is the duplicate.
    assert!(matches!(farm.deliver(&mail), Outcome::Duplicate(_)));

    // A signed reply cut the same way is refused; its whole re-delivery
    // acts.
    let reply = signed_reply(
        &log_subject("successful", "hello", "1.0-1", "amd64"),
        "retry\n",
    );
    let out = farm.deliver(&reply[..reply.len() * 80 / 100]);
    assert!(
        matches!(out, Outcome::Reply { applied: false, .. }),
        "{out:?}"
    );
    assert_eq!(farm.state("hello"), State::Built);
    let out = farm.deliver(&reply);
    assert_eq!(applied_state(&out), State::NeedsBuild);
}

/// `info` filters by `--dist`/`--arch` and shows why a build failed.
#[test]
fn info_filters_and_shows_the_failed_reason() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    farm.log("attempted", "hello", "1.0-1", "arm64", "unstable");
    let out = farm.deliver(&signed_reply(
        &log_subject("attempted", "hello", "1.0-1", "amd64"),
        "fail needs a newer toolchain\n",
    ));
    assert_eq!(applied_state(&out), State::Failed);
    let out = farm
        .cli(&["info", "hello", "--arch", "amd64"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("hello (unstable/amd64)"), "{text}");
    assert!(!text.contains("arm64"), "{text}");
    assert!(
        text.contains("Failed-Reason") && text.contains("needs a newer toolchain"),
        "{text}"
    );
}

/// The attack: signed prose whose first words look like commands
/// ("Retrying …", "Failing that …", "Purged …", "Manually …") moves no
/// build and removes no file, also where unbound commands are allowed.
#[test]
fn signed_prose_is_not_a_command() {
    for bound in [true, false] {
        let mut farm = Farm::new();
        farm.cfg.signatures.require_bound_commands = bound;
        farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
        farm.build_files("hello", "1.0-1", "amd64");
        let files = Farm::files_in(&farm.build_dir());
        let subject = log_subject("attempted", "hello", "1.0-1", "amd64");
        for prose in [
            "Retrying builds is pointless until the toolchain is fixed.\n",
            "Failing that, please ask on IRC.\n",
            "Purged old chroots yesterday.\n",
            "Manually checked, looks fine.\n",
        ] {
            let text = clearsign(shared_ed25519(), prose.as_bytes(), fresh());
            let out = farm.deliver(&reply(&subject, &text, None));
            assert!(
                !matches!(out, Outcome::Reply { applied: true, .. }),
                "{prose}: {out:?}"
            );
            assert_eq!(farm.state("hello"), State::BuildAttempted, "{prose}");
            assert_eq!(Farm::files_in(&farm.build_dir()), files, "{prose}");
            assert!(farm.queue().is_empty(), "{prose}: a job was queued");
        }
    }
}

/// The attack: once an admin failed a build, a successful log from a
/// stranger (or from a builder for another architecture) does not make it
/// Built, and the history says why.
#[test]
fn a_strangers_log_does_not_undo_an_admins_fail() {
    let farm = Farm::with(
        "[[builders]]\nname = \"x86\"\nsenders = [\"buildd@x86.example.org\"]\narches = [\"amd64\"]\n\
         [[builders]]\nname = \"arm\"\nsenders = [\"buildd@arm.example.org\"]\narches = [\"arm64\"]\n",
    );
    farm.deliver(&log_from("buildd@x86.example.org", "attempted", "amd64"));
    let subject = log_subject("attempted", "hello", "1.0-1", "amd64");
    let out = farm.deliver(&signed_reply(&subject, "fail compiler bug, see #1234\n"));
    assert_eq!(applied_state(&out), State::Failed);
    for stranger in ["mallory@evil.test", "buildd@arm.example.org"] {
        farm.deliver(&log_from(stranger, "successful", "amd64"));
        assert_eq!(farm.state("hello"), State::Failed, "{stranger}");
        let note = farm
            .history("hello", "amd64")
            .pop()
            .unwrap()
            .note
            .unwrap_or_default();
        assert!(
            note.contains("not a configured builder for amd64"),
            "{stranger}: {note}"
        );
    }
    // Not even the builder's own log of the same version moves it.
    farm.deliver(&log_from("buildd@x86.example.org", "successful", "amd64"));
    assert_eq!(farm.state("hello"), State::Failed);
}

/// A reply to buildmail's error reply (under any Subject, known by its
/// In-Reply-To) is read like a reply to the log: the corrected, signed
/// command acts on the build it names.
#[test]
fn a_reply_to_an_error_reply_is_understood() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let subject = log_subject("attempted", "hello", "1.0-1", "amd64");
    let text = clearsign(shared_ed25519(), b"give-back\n", fresh());
    let out = farm.deliver(&reply(&subject, &text, None));
    assert!(
        matches!(out, Outcome::Reply { applied: false, .. }),
        "{out:?}"
    );
    let outbox = farm.outbox();
    let answer = outbox.last().expect("the error reply");
    let id = crate::support::unfolded_header(answer, "Message-ID")
        .trim_matches(|c| c == '<' || c == '>')
        .to_string();
    assert!(id.starts_with("buildmail."), "{id}");
    let text = clearsign(
        shared_ed25519(),
        b"give-back hello_1.0-1 dist=unstable arch=amd64\n",
        fresh(),
    );
    let out = farm.deliver(&reply(
        "Re: your mail could not be processed",
        &text,
        Some(&id),
    ));
    assert_eq!(applied_state(&out), State::NeedsBuild);
}
