//! The daemon and the defaults under attack (issue 19): SMTP smuggling
//! into the LMTP listener, recipient floods, idlers holding session
//! slots, many large mails at once, malformed parameters; archive answers
//! nobody authenticated; one mail by every route; a closed stdout.
//! Each test is written as the attack or the fault and asserts the bound.

use std::time::{Duration, Instant};

use buildmail::model::state::State;

use crate::support::farm::*;
use crate::support::lmtp::{data, Daemon, Lmtp};
use crate::support::logs::{sbuild_log, LogSpec};
use crate::support::{log_mail_plain, sbuild_subject, unique_message_id, with_message_id};

fn log_mail(src: &str, status: &str) -> Vec<u8> {
    let spec = LogSpec::new(src, "1.0-1", "amd64", "unstable", status);
    let subject = sbuild_subject(status, src, "1.0-1", "amd64", "unstable");
    with_message_id(
        &log_mail_plain(&subject, &sbuild_log(&spec)),
        &unique_message_id(),
    )
}

/// The builds the farm knows, by source name.
fn sources(farm: &Farm) -> Vec<String> {
    let out = farm.cli(&["list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|b| {
            b["key"]["source"]
                .as_str()
                .or_else(|| b["source"].as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// The published smuggling variants: a fake end of DATA followed by a
/// second transaction carrying a forged log mail. Only `<CRLF>.<CRLF>`
/// ends DATA, so the forged build never appears: the carrier is one mail
/// (committed whole, the "second transaction" inside its body) or, when
/// it holds a bare LF, refused whole; the genuine mail sent next on the
/// same connection is committed.
#[test]
fn smtp_smuggling_never_ends_a_mail_early() {
    let variants: &[(&str, &[u8], bool)] = &[
        ("LF.LF", b"\n.\n", true),
        ("LF.CRLF", b"\n.\r\n", true),
        ("CRLF.LF", b"\r\n.\n", true),
        ("CR.CR", b"\r.\r", false),
        ("CRLF.CR", b"\r\n.\r", false),
        ("CR.CRLF", b"\r.\r\n", false),
        ("CRLF NUL.CRLF", b"\r\n\0.\r\n", false),
        ("CRLF.NUL CRLF", b"\r\n.\0\r\n", false),
    ];
    let farm = Farm::new();
    let daemon = Daemon::start(&farm, false);
    for (i, (name, fake_end, refused)) in variants.iter().enumerate() {
        let forged_src = format!("forged{i}");
        let genuine_src = format!("genuine{i}");
        let mut c = Lmtp::unix(&daemon.socket);
        assert!(c.start_mail().starts_with("354"), "{name}");
        let mut carrier = format!(
            "From: someone@example.net\r\nSubject: nothing to see {i}\r\nMessage-ID: <carrier{i}@example.net>\r\n\r\nhello"
        )
        .into_bytes();
        carrier.extend_from_slice(fake_end);
        carrier.extend_from_slice(
            b"MAIL FROM:<buildd@example.org>\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n",
        );
        // The forged mail as a real client would send it, with its end.
        carrier.extend_from_slice(&data(&log_mail(&forged_src, "successful")));
        c.send(&carrier);
        let answer = c.reply();
        if *refused {
            assert!(answer.starts_with("550 5.5.2"), "{name}: {answer}");
        } else {
            assert!(answer.starts_with("250 2.0.0"), "{name}: {answer}");
        }
        // The next thing the daemon says answers the genuine mail: no
        // reply to a smuggled MAIL, RCPT or DATA came in between.
        let answer = c.deliver(&log_mail(&genuine_src, "successful"));
        assert!(answer.starts_with("250 2.0.0"), "{name}: {answer}");
        c.send(b"QUIT\r\n");
        assert!(c.reply().starts_with("221"), "{name}");
    }
    assert!(daemon.stop());
    let known = sources(&farm);
    for (i, (name, _, _)) in variants.iter().enumerate() {
        assert!(
            !known.contains(&format!("forged{i}")),
            "{name}: the smuggled mail was committed: {known:?}"
        );
        assert!(known.contains(&format!("genuine{i}")), "{known:?}");
    }
    assert_eq!(
        farm.record("genuine0", "unstable", "amd64").state,
        State::Built
    );
}

/// Command lines end only at CRLF: pipelined commands ending in a bare
/// LF (or holding a bare CR) are refused, not executed.
#[test]
fn bare_newlines_in_commands_are_refused() {
    let farm = Farm::new();
    let daemon = Daemon::start(&farm, false);
    let mut c = Lmtp::unix(&daemon.socket);
    c.send(b"LHLO client.example\r\nMAIL FROM:<buildd@example.org>\nRCPT TO:<a@example.org>\rRCPT TO:<b@example.org>\r\nDATA\r\n");
    let r = c.replies(4);
    assert!(r[0].starts_with("250"), "{r:?}");
    assert!(r[1].starts_with("500 5.5.2 Bare <LF>"), "{r:?}");
    // The rest of that line up to its CRLF is one line with a bare CR.
    assert!(r[2].starts_with("500 5.5.2 Bare <CR>"), "{r:?}");
    // No MAIL was executed, so DATA has no transaction.
    assert!(r[3].starts_with("503"), "{r:?}");
    assert!(daemon.stop());
}

/// 200,000 recipients of 4 KB once grew the daemon by 767 MB: now a
/// transaction names at most `serve.max_recipients` (default 1,000)
/// recipients, each path at most 256 octets (a local part 64), each
/// command line at most 538 octets.
#[test]
fn recipients_and_lines_are_bounded() {
    let farm = Farm::new();
    let daemon = Daemon::start(&farm, false);
    let mut c = Lmtp::unix(&daemon.socket);
    let mut cmds = b"LHLO client.example\r\nMAIL FROM:<buildd@example.org>\r\n".to_vec();
    for i in 0..1010 {
        cmds.extend_from_slice(format!("RCPT TO:<r{i}@example.org>\r\n").as_bytes());
    }
    cmds.extend_from_slice(b"DATA\r\n");
    c.send(&cmds);
    let r = c.replies(2 + 1010 + 1);
    let accepted = r.iter().filter(|x| x.starts_with("250 2.1.5")).count();
    let refused = r.iter().filter(|x| x.starts_with("452 4.5.3")).count();
    assert_eq!((accepted, refused), (1000, 10));
    assert!(r.last().unwrap().starts_with("354"));
    c.send(&data(&log_mail("hello", "successful")));
    let answers = c.replies(1000);
    assert!(answers.iter().all(|a| a.starts_with("250 2.0.0")));
    // RFC 5321's path limits.
    let long_local = "l".repeat(65);
    let long_path = format!("{}@{}.example.org", "a".repeat(60), "d".repeat(200));
    c.send(format!("MAIL FROM:<buildd@example.org>\r\nRCPT TO:<{long_local}@example.org>\r\nRCPT TO:<{long_path}>\r\nRSET\r\n").as_bytes());
    let r = c.replies(4);
    assert!(r[0].starts_with("250"), "{r:?}");
    assert!(r[1].starts_with("501 5.1.3"), "{r:?}");
    assert!(r[2].starts_with("501 5.1.3"), "{r:?}");
    // A line longer than any command: refused, and the connection closed.
    c.send(format!("NOOP {}\r\n", "x".repeat(600)).as_bytes());
    assert!(c.reply().starts_with("500 5.5.2 Line too long"));
    assert!(c.closed());
    assert!(daemon.stop());
}

/// `SIZE=abc`, `SIZE=-1` and a SIZE past any number of bytes (23
/// digits) are malformed (501); a SIZE over the limit is taken (the mail
/// is kept in the quarantine, as by every route).
#[test]
fn malformed_size_parameters_get_501() {
    let farm = Farm::with("[limits]\nmax_message_size = \"4KiB\"\n");
    let daemon = Daemon::start(&farm, false);
    let mut c = Lmtp::unix(&daemon.socket);
    c.send(b"LHLO x\r\nMAIL FROM:<a@example.org> SIZE=abc\r\nMAIL FROM:<a@example.org> SIZE=-1\r\nMAIL FROM:<a@example.org> size=99999999999999999999999\r\nMAIL FROM:<a@example.org> SIZE=100000\r\nRSET\r\nMAIL FROM:<a@example.org> SIZE=100\r\n");
    let r = c.replies(7);
    assert!(r[1].starts_with("501 5.5.4"), "{r:?}");
    assert!(r[2].starts_with("501 5.5.4"), "{r:?}");
    assert!(r[3].starts_with("501 5.5.4"), "{r:?}");
    assert!(r[4].starts_with("250 2.1.0"), "{r:?}");
    assert!(r[6].starts_with("250 2.1.0"), "{r:?}");
    assert!(daemon.stop());
}

/// Idlers cannot hold slots: a session that keeps itself alive with NOOP
/// is closed `serve.mail_timeout` after its greeting, one silent inside
/// a transaction after `serve.command_timeout`; a peer gets at most
/// `serve.tcp_sessions_per_peer` sessions, and while TCP is full the unix
/// socket (the local MTA, `deliver`) is still served at once.
#[test]
fn idlers_cannot_hold_the_slots() {
    let farm = Farm::with(
        "[serve]\nmail_timeout = \"2s\"\ncommand_timeout = \"1s\"\ntcp_sessions = 2\ntcp_sessions_per_peer = 2\nunix_sessions = 4\n",
    );
    let daemon = Daemon::start(&farm, true);
    let port = daemon.port.unwrap();
    // TCP full of idlers; a third connection is refused at once.
    let mut idle1 = Lmtp::tcp(port);
    let mut idle2 = Lmtp::tcp(port);
    assert!(idle1.greeting.starts_with("220"), "{}", idle1.greeting);
    assert!(idle2.greeting.starts_with("220"), "{}", idle2.greeting);
    idle2.send(b"LHLO x\r\nMAIL FROM:<a@example.org>\r\n");
    let in_transaction = Instant::now();
    let third = Lmtp::tcp(port);
    assert!(
        third.greeting.starts_with("421 4.7.0"),
        "{}",
        third.greeting
    );
    // The unix socket is not starved.
    let start = Instant::now();
    let mut local = Lmtp::unix(&daemon.socket);
    assert!(local.greeting.starts_with("220"));
    assert!(local
        .deliver(&log_mail("hello", "successful"))
        .starts_with("250 2.0.0"));
    assert!(start.elapsed() < Duration::from_secs(2));
    // Silent inside a transaction: closed at command_timeout.
    let r = idle2.replies(2);
    assert!(r[1].starts_with("250 2.1.0"), "{r:?}");
    let cut = idle2.reply();
    assert!(cut.starts_with("421 4.4.2"), "{cut}");
    assert!(in_transaction.elapsed() < Duration::from_secs(3));
    // NOOPs do not keep an idler: closed at mail_timeout.
    let start = Instant::now();
    let cut = loop {
        idle1.send(b"NOOP\r\n");
        let r = idle1.reply();
        if !r.starts_with("250") {
            break r;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never cut");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(cut.starts_with("421 4.4.2"), "{cut}");
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(idle1.closed());
    // Their slots are free again.
    let again = Lmtp::tcp(port);
    assert!(again.greeting.starts_with("220"), "{}", again.greeting);
    drop(again);
    assert!(daemon.stop());
}

/// The byte budget is shared by all sessions: while one mail holds it, a
/// second gets 452 at MAIL (declared SIZE) or 451 after DATA (none
/// declared), and gets in once the first is committed.
#[test]
fn the_byte_budget_is_shared_by_all_sessions() {
    let farm = Farm::with(
        "[limits]\nmax_message_size = \"7000\"\n[serve]\nmail_budget = \"7000\"\ncommand_timeout = \"2s\"\nmail_timeout = \"20s\"\n",
    );
    let daemon = Daemon::start(&farm, false);
    let first = log_mail("first", "successful");
    let second = log_mail("second", "successful");
    // Each takes more than half of the budget.
    assert!(first.len() > 3600 && second.len() > 3600, "{}", first.len());
    assert!(first.len() < 7000 && second.len() < 7000, "{}", first.len());
    let mut a = Lmtp::unix(&daemon.socket);
    a.send(
        format!(
            "LHLO a\r\nMAIL FROM:<a@example.org> SIZE={}\r\n",
            first.len()
        )
        .as_bytes(),
    );
    assert!(a.replies(2)[1].starts_with("250 2.1.0"));
    // The first session stays busy (inside a transaction, a command now
    // and then) while the second one waits.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                a.send(b"NOOP\r\n");
                assert!(a.reply().starts_with("250"));
                std::thread::sleep(Duration::from_millis(300));
            }
            a
        })
    };
    let mut b = Lmtp::unix(&daemon.socket);
    b.send(
        format!(
            "LHLO b\r\nMAIL FROM:<b@example.org> SIZE={}\r\n",
            second.len()
        )
        .as_bytes(),
    );
    let r = b.replies(2);
    assert!(r[1].starts_with("452 4.3.1"), "{r:?}");
    // Without SIZE: read, then refused for now.
    assert!(b.start_mail_again().starts_with("354"));
    b.send(&data(&second));
    let r = b.reply();
    assert!(r.starts_with("451 4.3.1"), "{r}");
    // The first mail goes through and gives its budget back.
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut a = busy.join().unwrap();
    a.send(b"RCPT TO:<logs@example.org>\r\nDATA\r\n");
    assert!(a.replies(2)[1].starts_with("354"));
    a.send(&data(&first));
    assert!(a.reply().starts_with("250 2.0.0"));
    b.send(
        format!(
            "MAIL FROM:<b@example.org> SIZE={}\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n",
            second.len()
        )
        .as_bytes(),
    );
    let r = b.replies(3);
    assert!(r[0].starts_with("250 2.1.0"), "{r:?}");
    b.send(&data(&second));
    assert!(b.reply().starts_with("250 2.0.0"));
    assert!(daemon.stop());
    let known = sources(&farm);
    assert!(known.contains(&"first".to_string()) && known.contains(&"second".to_string()));
}

trait Again {
    fn start_mail_again(&mut self) -> String;
}

impl Again for Lmtp {
    /// MAIL (no SIZE), RCPT, DATA on a greeted session; the 354 reply.
    fn start_mail_again(&mut self) -> String {
        self.send(b"MAIL FROM:<b@example.org>\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n");
        self.replies(3)[2].clone()
    }
}

/// A farm with hello uploaded and `extra` configuration.
fn uploaded(extra: &str) -> Farm {
    let farm = Farm::with(extra);
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    farm.send_signed_changes("hello", "1.0-1", "amd64");
    assert_eq!(farm.state("hello"), State::Uploaded);
    farm
}

/// The attack: with no `[archive]` settings, a plain mail from anyone
/// saying REJECTED once made an Uploaded build Failed-To-Upload and sent
/// official FAILEDTOUPLOAD mails carrying the sender's text; a forged
/// ACCEPTED marked it Installed. By default an answer nobody
/// authenticated moves nothing: it is recorded, and forwarded to the
/// admins marked as unauthenticated. With `senders` alone, a forged From
/// does no better.
#[test]
fn archive_answers_nobody_authenticated_move_nothing_by_default() {
    for extra in [
        "",
        "[archive]\nsenders = [\"dak@ftp-master.example.org\"]\n",
    ] {
        let farm = uploaded(extra);
        let before = farm.outbox().len();
        for subject in [
            "hello_1.0-1_amd64.changes REJECTED",
            "hello_1.0-1_amd64.changes ACCEPTED into unstable",
            "Processing of hello_1.0-1_amd64.changes",
        ] {
            // From the archive's own address: a From is easy to forge.
            farm.deliver(&crate::support::archive_mail(
                subject,
                "Rejected: log in at http://evil.example/ to fix your upload\n",
            ));
            assert_eq!(farm.state("hello"), State::Uploaded, "{extra}{subject}");
            let last = farm.history("hello", "amd64").pop().unwrap();
            assert!(
                last.note.unwrap_or_default().contains("unauthenticated"),
                "{extra}{subject}"
            );
        }
        let sent = farm.outbox();
        assert_eq!(sent.len(), before + 3, "{sent:#?}");
        for m in &sent[before..] {
            assert!(
                m.contains("X-Buildmail-Forward-Reason: UNAUTHENTICATED archive answer about hello_1.0-1_amd64.changes")
                    && m.contains("Resent-To: buildd-admin@example.org")
                    && !m.contains("X-Buildd-Build-State"),
                "{m}"
            );
        }
    }
}

/// The opt-in: `archive.trust_unsigned_senders` lets `senders` move
/// builds by their From alone; `check-config` calls it weak, and it is
/// refused without `senders`.
#[test]
fn trusting_unsigned_archive_senders_is_an_explicit_weak_opt_in() {
    let extra =
        "[archive]\nsenders = [\"dak@ftp-master.example.org\"]\ntrust_unsigned_senders = true\n";
    let farm = uploaded(extra);
    farm.deliver(&crate::support::archive_mail(
        "hello_1.0-1_amd64.changes ACCEPTED into unstable",
        "Accepted\n",
    ));
    assert_eq!(farm.state("hello"), State::Installed);
    let out = farm.cli(&["check-config"]).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("weak: archive.trust_unsigned_senders is true"),
        "{text}"
    );
    let default = Farm::new().cli(&["check-config"]).output().unwrap();
    assert!(String::from_utf8_lossy(&default.stdout)
        .contains("no archive answer (ACCEPTED, REJECTED, ...) moves a build"));
    let err =
        buildmail::config::Config::from_toml("[archive]\ntrust_unsigned_senders = true\n", None)
            .unwrap_err()
            .to_string();
    assert!(err.contains("archive.trust_unsigned_senders"), "{err}");
}

/// One content hash whatever the route: the same mail by `deliver` with
/// LF and with CRLF line ends, over LMTP, and by `import` is one mail;
/// a database of an earlier release (its record keyed by the hash of the
/// line ends as received) still knows it.
#[test]
fn one_mail_by_every_route_is_one_mail() {
    let farm = Farm::new();
    // Every line end LF, then every one CRLF (a bare CR in the log's
    // progress lines stays what it is).
    let lf = lf_only(&log_mail("hello", "successful"));
    let crlf = crlf_only(&lf);
    assert!(lf.len() < crlf.len());
    let first = farm.deliver_binary(&lf, &[]);
    assert!(first.status.success());
    let again = farm.deliver_binary(&crlf, &[("BUILDMAIL_LOG", "debug")]);
    assert!(again.status.success());
    let daemon = Daemon::start(&farm, false);
    let mut c = Lmtp::unix(&daemon.socket);
    let answer = c.deliver(&lf);
    assert!(
        answer.starts_with("250 2.0.0 <logs@example.org> duplicate"),
        "{answer}"
    );
    drop(c);
    assert!(daemon.stop());
    let mbox = farm.root().join("one.mbox");
    let mut m = b"From buildd@example.org Mon Dec  7 12:00:00 2026\r\n".to_vec();
    m.extend_from_slice(&crlf);
    std::fs::write(&mbox, &m).unwrap();
    let import = farm
        .cli(&["import", mbox.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(import.status.success(), "{import:?}");
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    assert_eq!(store.stats().unwrap().mails, 1);
    drop(store);
    let logs = farm
        .history("hello", "amd64")
        .iter()
        .filter(|h| h.event.starts_with("log"))
        .count();
    assert_eq!(logs, 1);

    // A record written by an earlier release, keyed by the hash of the
    // CRLF bytes as received (and its Message-ID recorded, as every
    // release did): the same mail is still a duplicate.
    let old = Farm::new();
    let other_crlf = crlf_only(&lf_only(&log_mail("other", "successful")));
    let message_id = buildmail::inbound::mail::Inbound::parse(&other_crlf)
        .unwrap()
        .message_id()
        .map(str::to_string);
    assert!(message_id.is_some());
    let store = buildmail::store::open(&old.cfg.database).unwrap();
    store
        .commit(&buildmail::store::Commit {
            now: now(),
            mail: Some(buildmail::model::MailRecord {
                sha256: buildmail::inbound::source::content_sha256_as_received(&other_crlf),
                message_id,
                received: now(),
                kind: "log".into(),
                outcome: "committed by an earlier release".into(),
                build: None,
            }),
            ..Default::default()
        })
        .unwrap();
    store.flush().unwrap();
    drop(store);
    assert!(matches!(
        old.deliver(&other_crlf),
        buildmail::ingest::Outcome::Duplicate(_)
    ));
}

/// `mail` with every CRLF turned into LF.
fn lf_only(mail: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(mail.len());
    for (i, &b) in mail.iter().enumerate() {
        if !(b == b'\r' && mail.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

/// `mail` (LF line ends) with every LF turned into CRLF.
fn crlf_only(mail: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(mail.len() + mail.len() / 20);
    for &b in mail {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// `quarantine list | head` and the like: a closed standard output is no
/// panic in any command.
#[test]
fn a_closed_stdout_is_no_panic() {
    let farm = Farm::new();
    farm.deliver(b"From: a@example.org\nSubject: Log for successful build of x\n\n\xff\n");
    farm.deliver(&log_mail("hello", "successful"));
    for args in [
        &["quarantine", "list"][..],
        &["quarantine", "show", "1"],
        &["list"],
        &["info", "hello"],
        &["history", "hello"],
        &["outbox", "list"],
        &["fsck"],
        &["states"],
        &["queue"],
    ] {
        let mut child = farm
            .cli(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before anything is printed.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {err}");
    }
}
