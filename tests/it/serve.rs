//! `buildmail serve` over LMTP, driven by a plain LMTP client written here
//! (RFC 2033 by hand, not buildmail's own code): pipelined sessions with
//! several recipients, the size limit, a mail cut off inside DATA, and
//! SIGTERM.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use buildmail::model::state::State;

use crate::support::farm::*;
use crate::support::logs::{sbuild_log, LogSpec};
use crate::support::{log_mail_plain, sbuild_subject, unique_message_id, with_message_id};

/// A running `buildmail serve` on a unix socket in the farm.
struct Server {
    child: Child,
    socket: PathBuf,
}

impl Server {
    fn start(farm: &Farm) -> Server {
        Server::start_at(farm, farm.root().join("lmtp.sock"))
    }

    fn start_at(farm: &Farm, socket: PathBuf) -> Server {
        let child = farm
            .cli(&["serve", "--lmtp", &format!("unix:{}", socket.display())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while UnixStream::connect(&socket).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "serve did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, socket }
    }

    /// SIGTERM, and the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().unwrap()
    }
}

/// An LMTP client.
struct Client {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl Client {
    fn connect(socket: &Path) -> Client {
        let w = UnixStream::connect(socket).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        let mut c = Client { r, w };
        assert!(c.reply().starts_with("220 "));
        c
    }

    fn send(&mut self, text: &str) {
        self.w.write_all(text.as_bytes()).unwrap();
    }

    /// One reply (all its lines).
    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            assert!(
                self.r.read_line(&mut line).unwrap() > 0,
                "connection closed"
            );
            all.push_str(&line);
            if line.as_bytes().get(3) == Some(&b' ') {
                return all;
            }
        }
    }

    /// The mail as DATA: CRLF line ends, dot-stuffed, with the end line.
    fn data(mail: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in String::from_utf8_lossy(mail).lines() {
            if line.starts_with('.') {
                out.push(b'.');
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        out
    }
}

fn log_mail(src: &str, status: &str) -> Vec<u8> {
    let spec = LogSpec::new(src, "1.0-1", "amd64", "unstable", status);
    let subject = sbuild_subject(status, src, "1.0-1", "amd64", "unstable");
    with_message_id(
        &log_mail_plain(&subject, &sbuild_log(&spec)),
        &unique_message_id(),
    )
}

#[test]
fn a_pipelined_session_commits_each_mail_before_its_replies() {
    let farm = Farm::new();
    let server = Server::start(&farm);
    let mut c = Client::connect(&server.socket);
    // Pipelined: everything up to DATA in one write.
    c.send("LHLO client.example\r\nMAIL FROM:<buildd@example.org> SIZE=2000\r\nRCPT TO:<logs@example.org>\r\nRCPT TO:<archive@example.org>\r\nDATA\r\n");
    let lhlo = c.reply();
    assert!(
        lhlo.contains("PIPELINING") && lhlo.contains("ENHANCEDSTATUSCODES"),
        "{lhlo}"
    );
    assert!(
        lhlo.contains("SIZE ") && lhlo.contains("8BITMIME"),
        "{lhlo}"
    );
    assert!(c.reply().starts_with("250 2.1.0"));
    assert!(c.reply().starts_with("250 2.1.5"));
    assert!(c.reply().starts_with("250 2.1.5"));
    assert!(c.reply().starts_with("354 "));
    c.w.write_all(&Client::data(&log_mail("hello", "successful")))
        .unwrap();
    // One reply per recipient, after the commit.
    let (a, b) = (c.reply(), c.reply());
    assert!(
        a.starts_with("250 2.0.0 <logs@example.org> committed"),
        "{a}"
    );
    assert!(
        b.starts_with("250 2.0.0 <archive@example.org> committed"),
        "{b}"
    );
    // The same mail again is a duplicate, still 250 (it is committed).
    c.send("MAIL FROM:<buildd@example.org>\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n");
    for _ in 0..3 {
        c.reply();
    }
    let mail = log_mail("other", "attempted");
    c.w.write_all(&Client::data(&mail)).unwrap();
    assert!(c.reply().starts_with("250 2.0.0"));
    c.send("RSET\r\nNOOP\r\nQUIT\r\n");
    assert!(c.reply().starts_with("250"));
    assert!(c.reply().starts_with("250"));
    assert!(c.reply().starts_with("221"));
    assert!(server.stop().success(), "SIGTERM ends serve cleanly");
    // Committed, and durable after the daemon stopped.
    assert_eq!(
        farm.record("hello", "unstable", "amd64").state,
        State::Built
    );
    let other = farm.record("other", "unstable", "amd64");
    assert_eq!(other.state, State::BuildAttempted);
}

#[test]
fn the_daemon_runs_the_effects_beside_the_listener() {
    let farm = Farm::new();
    let server = Server::start(&farm);
    let mut c = Client::connect(&server.socket);
    // An unsigned command from a known admin address: refused, and the
    // error reply goes out through the outbox (a file here), sent by the
    // daemon's effects task while it keeps listening.
    let reply = crate::support::farm::reply(
        &log_subject("attempted", "hello", "1.0-1", "amd64"),
        b"retry\n",
        None,
    );
    c.send("LHLO client.example\r\nMAIL FROM:<admin@example.org>\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n");
    for _ in 0..4 {
        c.reply();
    }
    c.w.write_all(&Client::data(&reply)).unwrap();
    assert!(c.reply().starts_with("250 2.0.0"));
    let start = Instant::now();
    while farm.outbox().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no error reply went out"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mails = farm.outbox();
    assert!(mails[0].contains("To: admin@example.org"), "{}", mails[0]);
    c.send("QUIT\r\n");
    c.reply();
    assert!(server.stop().success());
}

#[test]
fn the_size_limit_is_the_only_permanent_refusal() {
    let farm = Farm::with("[limits]\nmax_message_size = \"4KiB\"\n");
    let server = Server::start(&farm);
    let mut c = Client::connect(&server.socket);
    c.send("LHLO client.example\r\n");
    assert!(c.reply().contains("SIZE 4096"));
    c.send("MAIL FROM:<buildd@example.org> SIZE=100000\r\n");
    assert!(c.reply().starts_with("552 5.3.4"));
    // Without SIZE, the mail is read and refused at its end.
    c.send("MAIL FROM:<buildd@example.org>\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n");
    for _ in 0..3 {
        c.reply();
    }
    let big = log_mail("hello", "successful");
    assert!(big.len() > 4096);
    c.w.write_all(&Client::data(&big)).unwrap();
    assert!(c.reply().starts_with("552 5.3.4"));
    // Commands out of order.
    c.send("RCPT TO:<x@example.org>\r\nDATA\r\nHELO x\r\nBOGUS\r\n");
    assert!(c.reply().starts_with("503"));
    assert!(c.reply().starts_with("503"));
    assert!(c.reply().starts_with("500"));
    assert!(c.reply().starts_with("500"));
    drop(c);
    assert!(server.stop().success());
    assert!(farm
        .cli(&["list", "--json"])
        .output()
        .unwrap()
        .stdout
        .starts_with(b"[]"));
}

#[test]
fn a_mail_cut_off_inside_data_is_not_committed() {
    let farm = Farm::new();
    let server = Server::start(&farm);
    let mut c = Client::connect(&server.socket);
    c.send("LHLO client.example\r\nMAIL FROM:<buildd@example.org>\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n");
    for _ in 0..4 {
        c.reply();
    }
    let data = Client::data(&log_mail("hello", "successful"));
    // Everything but the end line, then the connection drops.
    c.w.write_all(&data[..data.len() - 3]).unwrap();
    drop(c);
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.stop().success());
    let out = farm.cli(&["info", "hello"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty()
            || !String::from_utf8_lossy(&out.stdout).contains("Built"),
        "nothing committed"
    );
    let list = farm.cli(&["list", "--json"]).output().unwrap();
    assert!(
        list.stdout.starts_with(b"[]"),
        "{}",
        String::from_utf8_lossy(&list.stdout)
    );
}

#[test]
fn deliver_hands_over_to_a_running_daemon_and_falls_back_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("lmtp.sock");
    let farm = Farm::with(&format!(
        "[serve]\nlmtp = [\"unix:{}\"]\n",
        socket.display()
    ));
    let server = Server::start_at(&farm, socket.clone());
    // The daemon holds the database; deliver never opens it, and exits 0
    // once the daemon committed the mail.
    let out = farm.deliver_binary(&log_mail("hello", "successful"), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = farm.deliver_binary(&log_mail("other", "attempted"), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(server.stop().success());
    assert_eq!(
        farm.record("hello", "unstable", "amd64").state,
        State::Built
    );
    assert_eq!(
        farm.record("other", "unstable", "amd64").state,
        State::BuildAttempted
    );
    // No daemon (the socket is gone): deliver does it itself.
    assert!(!socket.exists());
    let out = farm.deliver_binary(&log_mail("third", "successful"), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        farm.record("third", "unstable", "amd64").state,
        State::Built
    );
    // A daemon killed with SIGKILL leaves its socket behind: refused
    // connections fall back too.
    let mut server = Server::start_at(&farm, socket.clone());
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert!(socket.exists());
    let out = farm.deliver_binary(&log_mail("fourth", "successful"), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        farm.record("fourth", "unstable", "amd64").state,
        State::Built
    );
}

#[test]
fn serve_listens_on_tcp_too() {
    let farm = Farm::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = farm
        .cli(&["serve", "--lmtp", &format!("tcp:127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) => {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "serve did not start"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut r = BufReader::new(stream.try_clone().unwrap());
    let mut w = stream;
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("220 "), "{line}");
    w.write_all(b"LHLO client.example\r\nMAIL FROM:<buildd@example.org>\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n").unwrap();
    let mut replies = Vec::new();
    while replies.len() < 4 {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.as_bytes().get(3) == Some(&b' ') {
            replies.push(line.clone());
        }
    }
    assert!(replies[3].starts_with("354"), "{replies:?}");
    w.write_all(&Client::data(&log_mail("hello", "successful")))
        .unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("250 2.0.0"), "{line}");
    // SIGTERM ends the idle session at once with 421.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("421 4.3.2"), "{line}");
    assert!(child.wait().unwrap().success());
    assert_eq!(
        farm.record("hello", "unstable", "amd64").state,
        State::Built
    );
}

#[test]
fn a_closed_stderr_does_not_bring_the_daemon_down() {
    let farm = Farm::new();
    let socket = farm.root().join("lmtp.sock");
    let mut child = farm
        .cli(&["serve", "--lmtp", &format!("unix:{}", socket.display())])
        .env("BUILDMAIL_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read its first log line, then close the pipe: later log lines fail
    // with EPIPE.
    let mut first = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("LMTP on unix:"), "{first}");
    let mut c = Client::connect(&socket);
    c.send("LHLO client.example\r\nMAIL FROM:<buildd@example.org>\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n");
    for _ in 0..4 {
        c.reply();
    }
    c.w.write_all(&Client::data(&log_mail("hello", "successful")))
        .unwrap();
    assert!(c.reply().starts_with("250 2.0.0"));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(
        child.wait().unwrap().success(),
        "exit 0, not a panic on EPIPE"
    );
    assert_eq!(
        farm.record("hello", "unstable", "amd64").state,
        State::Built
    );
}
