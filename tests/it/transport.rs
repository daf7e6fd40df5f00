//! Outbound delivery (`buildmail::effects::transport`): SMTP against an in-process
//! server, the `.eml` file directory, and a sendmail stand-in script.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::support::smtp::SmtpServer;
use buildmail::effects::transport::{SendError, Sender, TransportSpec};

const FROM: &str = "buildd@example.org";

fn rcpts(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

/// A mail with a lone-dot line, dot-led lines and 8-bit text, to check
/// dot-stuffing and 8BITMIME end to end.
fn mail() -> Vec<u8> {
    "From: Buildd <buildd@example.org>\r\n\
     To: a@example.org, b@example.org\r\n\
     Subject: transport test\r\n\
     Content-Type: text/plain; charset=UTF-8\r\n\
     Content-Transfer-Encoding: 8bit\r\n\
     \r\n\
     first line\r\n\
     .\r\n\
     .leading dot\r\n\
     ..two dots\r\n\
     caf\u{e9} \u{2713}\r\n\
     last line\r\n"
        .as_bytes()
        .to_vec()
}

fn smtp_sender(url: &str, timeout: Duration) -> Sender {
    Sender::new(&TransportSpec::Smtp {
        url: url.to_string(),
        timeout,
    })
    .unwrap()
}

// ---------------------------------------------------------------------------
// SMTP

#[test]
fn smtp_delivers_envelope_and_data_exactly() {
    let server = SmtpServer::start();
    let sender = smtp_sender(&server.url(), Duration::from_secs(10));
    let to = rcpts(&["a@example.org", "b@example.org"]);
    sender.send(FROM, &to, "1", &mail()).unwrap();

    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].from, FROM);
    assert_eq!(received[0].to, to);
    assert_eq!(
        String::from_utf8_lossy(&received[0].data),
        String::from_utf8_lossy(&mail())
    );
    assert_eq!(received[0].data, mail());

    // The sender is reusable: a second mail is a second delivery.
    sender
        .send(
            "",
            &rcpts(&["<c@example.org>"]),
            "2",
            b"Subject: x\r\n\r\nhi\r\n",
        )
        .unwrap();
    let received = server.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].from, "");
    assert_eq!(received[1].to, rcpts(&["c@example.org"]));
    assert_eq!(received[1].data, b"Subject: x\r\n\r\nhi\r\n");
    server.stop();
}

#[test]
fn smtp_server_down_is_temporary_and_names_the_address() {
    let server = SmtpServer::start();
    let port = server.port();
    let url = server.url();
    server.stop();

    let sender = smtp_sender(&url, Duration::from_secs(5));
    let to = rcpts(&["a@example.org"]);
    let err = sender.send(FROM, &to, "1", &mail()).unwrap_err();
    assert!(!err.permanent, "{err:?}");
    assert!(
        err.message.contains(&format!("127.0.0.1:{port}")),
        "{}",
        err.message
    );

    // Back on the same port, the same sender delivers.
    let server = SmtpServer::start_on(port);
    sender.send(FROM, &to, "1", &mail()).unwrap();
    assert_eq!(server.received().len(), 1);
    server.stop();
}

#[test]
fn smtp_rejected_recipient_is_permanent() {
    let server = SmtpServer::start();
    server.reject_recipient("nobody@example.org");
    let sender = smtp_sender(&server.url(), Duration::from_secs(10));
    let err = sender
        .send(
            FROM,
            &rcpts(&["a@example.org", "nobody@example.org"]),
            "1",
            &mail(),
        )
        .unwrap_err();
    assert!(err.permanent, "{err:?}");
    assert!(err.message.contains("550"), "{}", err.message);
    assert!(
        err.message.contains("nobody@example.org"),
        "{}",
        err.message
    );
    assert!(server.received().is_empty());
    server.stop();
}

#[test]
fn smtp_unparseable_address_is_permanent() {
    let server = SmtpServer::start();
    let sender = smtp_sender(&server.url(), Duration::from_secs(10));
    let err = sender
        .send(FROM, &rcpts(&["not an address"]), "1", &mail())
        .unwrap_err();
    assert!(err.permanent, "{err:?}");
    assert!(err.message.contains("not an address"), "{}", err.message);
    let err = sender
        .send(
            "buildd at example",
            &rcpts(&["a@example.org"]),
            "1",
            &mail(),
        )
        .unwrap_err();
    assert!(err.permanent, "{err:?}");
    let err = sender.send(FROM, &[], "1", &mail()).unwrap_err();
    assert!(err.permanent, "{err:?}");
    assert!(server.received().is_empty());
    server.stop();
}

#[test]
fn smtp_silent_server_times_out_temporarily() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and say nothing.
    let holder = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    });
    let sender = smtp_sender(
        &format!("smtp://127.0.0.1:{port}"),
        Duration::from_millis(300),
    );
    let started = Instant::now();
    let err = sender
        .send(FROM, &rcpts(&["a@example.org"]), "1", &mail())
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!err.permanent, "{err:?}");
    assert!(
        err.message.contains(&format!("127.0.0.1:{port}")),
        "{}",
        err.message
    );
    drop(sender);
    let _ = holder.join();
}

#[test]
fn smtp_tls_against_a_plain_server_is_temporary() {
    let server = SmtpServer::start();
    let port = server.port();
    // STARTTLS required but not offered.
    let starttls = smtp_sender(
        &format!("smtp://127.0.0.1:{port}?tls=required"),
        Duration::from_secs(5),
    );
    let err = starttls
        .send(FROM, &rcpts(&["a@example.org"]), "1", &mail())
        .unwrap_err();
    assert!(!err.permanent, "{err:?}");
    // Implicit TLS against a plain-text greeting.
    let smtps = smtp_sender(&format!("smtps://127.0.0.1:{port}"), Duration::from_secs(5));
    let err = smtps
        .send(FROM, &rcpts(&["a@example.org"]), "1", &mail())
        .unwrap_err();
    assert!(!err.permanent, "{err:?}");
    assert!(server.received().is_empty());
    server.stop();
}

#[test]
fn bad_smtp_url_is_an_error_from_new() {
    for url in [
        "http://mail.example.org",
        "not a url",
        "smtp://",
        "smtp://host?tls=sometimes",
    ] {
        let err = Sender::new(&TransportSpec::Smtp {
            url: url.to_string(),
            timeout: Duration::from_secs(5),
        })
        .unwrap_err();
        assert!(err.message.contains(url), "{url}: {}", err.message);
        assert!(err.message.contains("smtps://"), "{url}: {}", err.message);
        assert!(
            err.message.contains("tls=required"),
            "{url}: {}",
            err.message
        );
    }
}

#[test]
fn smtp_password_is_never_shown() {
    let spec = TransportSpec::Smtp {
        url: "smtp://user:s3cret@mail.example.org?tls=sometimes".to_string(),
        timeout: Duration::from_secs(5),
    };
    assert!(!format!("{spec:?}").contains("s3cret"));
    let err = Sender::new(&spec).unwrap_err();
    assert!(!err.message.contains("s3cret"), "{}", err.message);
    assert!(
        err.message.contains("user:***@mail.example.org"),
        "{}",
        err.message
    );

    // Nobody listens on a port that was just freed.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let sender = smtp_sender(
        &format!("smtp://user:s3cret@127.0.0.1:{port}"),
        Duration::from_secs(5),
    );
    assert!(!format!("{sender:?}").contains("s3cret"));
    let err = sender
        .send(FROM, &rcpts(&["a@example.org"]), "1", &mail())
        .unwrap_err();
    assert!(!err.message.contains("s3cret"), "{}", err.message);
}

#[test]
fn zero_timeout_and_empty_command_are_errors_from_new() {
    let err = Sender::new(&TransportSpec::Smtp {
        url: "smtp://127.0.0.1:25".to_string(),
        timeout: Duration::ZERO,
    })
    .unwrap_err();
    assert!(err.message.contains("timeout"), "{}", err.message);
    let err = Sender::new(&TransportSpec::Sendmail {
        command: vec![],
        timeout: Duration::from_secs(5),
    })
    .unwrap_err();
    assert!(err.message.contains("command"), "{}", err.message);
}

// ---------------------------------------------------------------------------
// File

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn file_transport_writes_exact_bytes_idempotently() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("outbox").join("sent");
    let sender = Sender::new(&TransportSpec::File { dir: dir.clone() }).unwrap();
    let stem = "00000000000000000042";
    let to = rcpts(&["a@example.org"]);

    sender.send(FROM, &to, stem, &mail()).unwrap();
    assert_eq!(dir_names(&dir), [format!("{stem}.eml")]);
    assert_eq!(fs::read(dir.join(format!("{stem}.eml"))).unwrap(), mail());

    // A second write (after a crash before the queue learnt of the first)
    // leaves the same single file; a stale temporary file is replaced.
    fs::write(
        dir.join(format!("{}{stem}.eml", buildmail::fsutil::TEMP_PREFIX)),
        b"half a ma",
    )
    .unwrap();
    sender.send(FROM, &to, stem, &mail()).unwrap();
    assert_eq!(dir_names(&dir), [format!("{stem}.eml")]);
    assert_eq!(fs::read(dir.join(format!("{stem}.eml"))).unwrap(), mail());

    sender
        .send(FROM, &to, "00000000000000000043", b"x\r\n")
        .unwrap();
    assert_eq!(
        dir_names(&dir),
        [
            format!("{stem}.eml"),
            "00000000000000000043.eml".to_string()
        ]
    );
}

#[test]
fn file_transport_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let sender = Sender::new(&TransportSpec::File {
        dir: tmp.path().to_path_buf(),
    })
    .unwrap();
    for stem in ["", "../escape", ".hidden", "a/b"] {
        let err = sender.send(FROM, &[], stem, b"x\r\n").unwrap_err();
        assert!(err.permanent, "{stem:?}: {err:?}");
    }
    assert!(dir_names(tmp.path()).is_empty());

    // A directory that cannot exist (a file is in the way): temporary,
    // naming the path.
    let blocker = tmp.path().join("blocker");
    fs::write(&blocker, b"").unwrap();
    let sender = Sender::new(&TransportSpec::File {
        dir: blocker.join("outbox"),
    })
    .unwrap();
    let err = sender.send(FROM, &[], "1", b"x\r\n").unwrap_err();
    assert!(!err.permanent, "{err:?}");
    assert!(
        err.message.contains(&blocker.display().to_string()),
        "{}",
        err.message
    );
}

// ---------------------------------------------------------------------------
// Sendmail

/// Serialises the sendmail tests: executing a script another test thread is
/// still writing (its fd inherited by a concurrent fork) fails with ETXTBSY.
static SCRIPTS: Mutex<()> = Mutex::new(());

/// Writes an executable `/bin/sh` script `name` into `dir` with `body`.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A sendmail stand-in saving its arguments (one a line) and its input.
fn recording_script(dir: &Path) -> PathBuf {
    script(
        dir,
        "sendmail",
        &format!(
            "printf '%s\\n' \"$@\" > '{d}/args'\ncat > '{d}/stdin'\nexit 0\n",
            d = dir.display()
        ),
    )
}

fn sendmail(command: Vec<String>, timeout: Duration) -> Sender {
    Sender::new(&TransportSpec::Sendmail { command, timeout }).unwrap()
}

fn saved_args(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("args"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn sendmail_with_t_takes_recipients_from_headers() {
    let _serial = SCRIPTS.lock().unwrap_or_else(PoisonError::into_inner);
    let tmp = tempfile::tempdir().unwrap();
    let prog = recording_script(tmp.path());
    let command = vec![prog.display().to_string(), "-oi".into(), "-t".into()];
    let sender = sendmail(command, Duration::from_secs(10));
    sender
        .send(
            FROM,
            &rcpts(&["a@example.org", "b@example.org"]),
            "1",
            &mail(),
        )
        .unwrap();
    assert_eq!(saved_args(tmp.path()), ["-oi", "-t"]);
    assert_eq!(fs::read(tmp.path().join("stdin")).unwrap(), mail());
}

#[test]
fn sendmail_without_t_gets_sender_and_recipients() {
    let _serial = SCRIPTS.lock().unwrap_or_else(PoisonError::into_inner);
    let tmp = tempfile::tempdir().unwrap();
    let prog = recording_script(tmp.path());
    let command = vec![prog.display().to_string(), "-oi".into()];
    let sender = sendmail(command, Duration::from_secs(10));
    sender
        .send(
            FROM,
            &rcpts(&["a@example.org", "-b@example.org"]),
            "1",
            &mail(),
        )
        .unwrap();
    assert_eq!(
        saved_args(tmp.path()),
        ["-f", FROM, "-oi", "--", "a@example.org", "-b@example.org"]
    );
    assert_eq!(fs::read(tmp.path().join("stdin")).unwrap(), mail());

    // An explicit -f is kept and not doubled.
    let command = vec![
        prog.display().to_string(),
        "-f".into(),
        "bounces@example.org".into(),
    ];
    let sender = sendmail(command, Duration::from_secs(10));
    sender
        .send(FROM, &rcpts(&["a@example.org"]), "1", &mail())
        .unwrap();
    assert_eq!(
        saved_args(tmp.path()),
        ["-f", "bounces@example.org", "--", "a@example.org"]
    );
}

fn assert_temporary_with_stderr(err: &SendError, status: &str) {
    assert!(!err.permanent, "{err:?}");
    assert!(err.message.contains(status), "{}", err.message);
    assert!(
        err.message.contains("queue directory is on fire"),
        "{}",
        err.message
    );
}

#[test]
fn sendmail_non_zero_exit_is_temporary_with_stderr() {
    let _serial = SCRIPTS.lock().unwrap_or_else(PoisonError::into_inner);
    let tmp = tempfile::tempdir().unwrap();
    for code in [75, 1] {
        let prog = script(
            tmp.path(),
            &format!("sendmail-{code}"),
            &format!("cat > /dev/null\necho 'queue directory is on fire' >&2\nexit {code}\n"),
        );
        let sender = sendmail(
            vec![prog.display().to_string(), "-t".into()],
            Duration::from_secs(10),
        );
        let err = sender
            .send(FROM, &rcpts(&["a@example.org"]), "1", &mail())
            .unwrap_err();
        assert_temporary_with_stderr(&err, &format!("status {code}"));
    }
}

#[test]
fn sendmail_stderr_is_capped() {
    let _serial = SCRIPTS.lock().unwrap_or_else(PoisonError::into_inner);
    let tmp = tempfile::tempdir().unwrap();
    let prog = script(
        tmp.path(),
        "sendmail",
        "cat > /dev/null\ni=0\nwhile [ $i -lt 2000 ]; do echo 'noise noise noise' >&2; i=$((i+1)); done\nexit 1\n",
    );
    let sender = sendmail(
        vec![prog.display().to_string(), "-t".into()],
        Duration::from_secs(20),
    );
    let err = sender
        .send(FROM, &rcpts(&["a@example.org"]), "1", &mail())
        .unwrap_err();
    assert!(!err.permanent);
    assert!(err.message.contains("noise"), "{}", err.message);
    assert!(err.message.len() < 8 * 1024, "{}", err.message.len());
}

#[test]
fn sendmail_missing_program_is_temporary() {
    let sender = sendmail(
        vec!["/nonexistent/buildmail-test/sendmail".into(), "-t".into()],
        Duration::from_secs(5),
    );
    let err = sender
        .send(FROM, &rcpts(&["a@example.org"]), "1", &mail())
        .unwrap_err();
    assert!(!err.permanent, "{err:?}");
    assert!(
        err.message.contains("/nonexistent/buildmail-test/sendmail"),
        "{}",
        err.message
    );
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
fn is_dead(pid: &str) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn sendmail_timeout_kills_the_command_and_its_children() {
    let _serial = SCRIPTS.lock().unwrap_or_else(PoisonError::into_inner);
    let tmp = tempfile::tempdir().unwrap();
    let prog = script(
        tmp.path(),
        "sendmail",
        &format!(
            "cat > /dev/null\necho 'waiting for the queue' >&2\nsleep 30 &\necho $! > '{}/child'\nwait\n",
            tmp.path().display()
        ),
    );
    let sender = sendmail(
        vec![prog.display().to_string(), "-t".into()],
        Duration::from_millis(500),
    );
    let started = Instant::now();
    let err = sender
        .send(FROM, &rcpts(&["a@example.org"]), "1", &mail())
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!err.permanent, "{err:?}");
    assert!(err.message.contains("killed"), "{}", err.message);
    assert!(
        err.message.contains("waiting for the queue"),
        "{}",
        err.message
    );

    let child = fs::read_to_string(tmp.path().join("child")).unwrap();
    let child = child.trim();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !is_dead(child) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(is_dead(child), "the script's child {child} survived");
}

#[test]
fn smtp_authenticates_with_the_credentials_of_the_url() {
    let server = SmtpServer::start();
    server.require_auth("buildd", "s3cret");
    let port = server.port();
    let mail = b"From: buildd@example.org\r\nTo: admin@example.org\r\nSubject: auth\r\n\r\nhi\r\n";
    let good = Sender::new(&TransportSpec::Smtp {
        url: format!("smtp://buildd:s3cret@127.0.0.1:{port}"),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    good.send(
        "buildd@example.org",
        &["admin@example.org".to_string()],
        "a1",
        mail,
    )
    .unwrap();
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].user.as_deref(), Some("buildd"));
    // A wrong password is a temporary error (fix the configuration, keep
    // the mail), and nothing is delivered.
    let bad = Sender::new(&TransportSpec::Smtp {
        url: format!("smtp://buildd:wrong@127.0.0.1:{port}"),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let e = bad
        .send(
            "buildd@example.org",
            &["admin@example.org".to_string()],
            "a2",
            mail,
        )
        .unwrap_err();
    assert!(!e.permanent, "{e:?}");
    assert!(
        !e.message.contains("wrong"),
        "the password is never shown: {e}"
    );
    assert_eq!(server.received().len(), 1);
}
