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
        Server::start_with(farm, socket, &[])
    }

    /// [`Server::start_at`] with `env` added to its environment.
    fn start_with(farm: &Farm, socket: PathBuf, env: &[(&str, &str)]) -> Server {
        let mut cmd = farm.cli(&["serve", "--lmtp", &format!("unix:{}", socket.display())]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
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
    assert!(lhlo.contains("SIZE") && lhlo.contains("8BITMIME"), "{lhlo}");
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

/// A mail over `limits.max_message_size` is taken and kept in the
/// quarantine (as `deliver` keeps it): its announced SIZE refuses
/// nothing, and it is never held in memory.
#[test]
fn a_mail_over_the_size_limit_is_quarantined_not_refused() {
    let farm = Farm::with("[limits]\nmax_message_size = \"4KiB\"\n");
    let server = Server::start(&farm);
    let mut c = Client::connect(&server.socket);
    c.send("LHLO client.example\r\n");
    let lhlo = c.reply();
    assert!(lhlo.contains("250-SIZE\r\n"), "no fixed maximum: {lhlo}");
    c.send("MAIL FROM:<buildd@example.org> SIZE=100000\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n");
    for _ in 0..3 {
        assert!(!c.reply().starts_with('5'));
    }
    let big = log_mail("hello", "successful");
    assert!(big.len() > 4096);
    c.w.write_all(&Client::data(&big)).unwrap();
    let answer = c.reply();
    assert!(
        answer.starts_with("250 2.0.0 <logs@example.org> quarantined"),
        "{answer}"
    );
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
    let q = farm.cli(&["quarantine", "list"]).output().unwrap();
    let q = String::from_utf8_lossy(&q.stdout);
    assert!(
        q.contains("limits.max_message_size") || q.contains("size limit"),
        "{q}"
    );
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
    assert!(server.stop().success());
    let out = farm.cli(&["info", "hello"]).output().unwrap();
    assert!(!out.status.success(), "nothing committed");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no build of hello"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
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
    // Port 0: the daemon binds a free port itself and says which
    // (no port chosen here and raced for).
    let daemon = crate::support::daemon::Daemon::start(&farm, &["--lmtp", "tcp:127.0.0.1:0"]);
    let status = farm.cli(&["status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let addr = status["daemon"]["listening"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|l| l.as_str()?.strip_prefix("tcp:"))
        .expect("a TCP listener")
        .to_string();
    let stream = std::net::TcpStream::connect(&addr).unwrap();
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
    daemon.signal(libc::SIGTERM);
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("421 4.3.2"), "{line}");
    assert!(daemon.stop().success());
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
    // Read its log up to the listener's line, then close the pipe: later
    // log lines fail with EPIPE.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    while !first.contains("listening on unix:") {
        first.clear();
        assert!(stderr.read_line(&mut first).unwrap() > 0, "no listener");
    }
    drop(stderr);
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

/// A datagram socket standing in for systemd's notify socket.
struct NotifySocket {
    socket: std::os::unix::net::UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    fn new(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        NotifySocket { socket, path }
    }

    /// The next notice that is not a watchdog ping, or a ping when `ping`.
    fn next(&self, ping: bool) -> String {
        let mut buf = [0u8; 4096];
        loop {
            let n = self.socket.recv(&mut buf).expect("a notice from serve");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if ping || text.trim() != "WATCHDOG=1" {
                return text;
            }
        }
    }
}

/// SIGHUP reloads the configuration: a new size limit counts from the
/// next mail on (a 5 KB mail is then quarantined); a configuration that does not load is refused and the
/// running one kept. systemd hears READY, RELOADING, READY and STOPPING,
/// and watchdog pings (a real notify socket).
#[test]
fn sighup_reloads_the_configuration_and_systemd_is_told() {
    let farm = Farm::new();
    let notify = NotifySocket::new(farm.root());
    let socket = farm.root().join("lmtp.sock");
    let config = farm.root().join("buildmail.toml");
    let mut child = farm
        .cli(&["serve", "--lmtp", &format!("unix:{}", socket.display())])
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "200000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(notify.next(false).contains("READY=1"));
    assert_eq!(
        notify.next(true).trim(),
        "WATCHDOG=1",
        "the watchdog is pinged"
    );
    // What a 5 KB log mail becomes tells which size limit counts.
    let answer_to = |src: &str| {
        let mut c = Client::connect(&socket);
        c.send("LHLO client.example\r\nMAIL FROM:<buildd@example.org>\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n");
        for _ in 0..4 {
            c.reply();
        }
        let mail = log_mail(src, "successful");
        assert!(mail.len() > 4096);
        c.w.write_all(&Client::data(&mail)).unwrap();
        c.reply()
    };
    assert!(answer_to("before").contains("committed"));

    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[limits]\nmax_message_size = \"4KiB\"\n"),
    )
    .unwrap();
    let hup = |child: &Child| unsafe {
        libc::kill(child.id() as i32, libc::SIGHUP);
    };
    hup(&child);
    let reloading = notify.next(false);
    assert!(reloading.contains("RELOADING=1"), "{reloading}");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    assert!(notify.next(false).contains("READY=1"));
    assert!(
        answer_to("after").contains("quarantined"),
        "the new limit counts"
    );

    // A broken configuration: refused, the running one kept.
    std::fs::write(&config, "this is = = not toml\n").unwrap();
    hup(&child);
    assert!(notify.next(false).contains("RELOADING=1"));
    assert!(notify.next(false).contains("READY=1"));
    assert!(
        answer_to("kept").contains("quarantined"),
        "the old one is kept"
    );

    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(notify.next(false).contains("STOPPING=1"));
    let status = child.wait().unwrap();
    assert!(status.success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("the configuration was not reloaded, the running one is kept"),
        "{stderr}"
    );
}

/// Socket activation: serve takes the listening socket systemd passes as
/// fd 3 (LISTEN_FDS, LISTEN_PID), commits mail from it, and leaves the
/// socket file (systemd's) in place when it stops.
#[test]
fn serve_takes_the_socket_systemd_passes() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let farm = Farm::new();
    let socket = farm.root().join("activated.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let fd = listener.as_raw_fd();
    // sh sets LISTEN_PID to its own pid, which exec hands to buildmail.
    let mut cmd = std::process::Command::new("sh");
    let config = farm.root().join("buildmail.toml");
    drop(farm.cli(&[])); // writes buildmail.toml
    cmd.arg("-c")
        .arg(format!(
            "LISTEN_PID=$$ LISTEN_FDS=1 exec {} --config {} serve",
            env!("CARGO_BIN_EXE_buildmail"),
            config.display()
        ))
        .env_remove("BUILDMAIL_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: dup2 is async-signal-safe; fd 3 becomes the listener.
    unsafe {
        cmd.pre_exec(move || {
            let rc = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(listener);
    let mut c = Client::connect(&socket);
    c.send("LHLO client.example\r\nMAIL FROM:<buildd@example.org>\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n");
    for _ in 0..4 {
        c.reply();
    }
    c.w.write_all(&Client::data(&log_mail("hello", "successful")))
        .unwrap();
    assert!(c.reply().starts_with("250 2.0.0"));
    drop(c);
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());
    assert!(socket.exists(), "the socket is systemd's to remove");
    assert_eq!(
        farm.record("hello", "unstable", "amd64").state,
        State::Built
    );
}

/// One mail in its own LMTP session, not panicking on a daemon that went
/// away: whether it was answered 250.
fn try_deliver(socket: &Path, mail: &[u8]) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut w = UnixStream::connect(socket)?;
        w.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut r = BufReader::new(w.try_clone()?);
        let mut reply = || -> std::io::Result<String> {
            let mut all = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line)? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                all.push_str(&line);
                if line.as_bytes().get(3) != Some(&b'-') {
                    return Ok(all);
                }
            }
        };
        if !reply()?.starts_with("220") {
            return Ok(false);
        }
        w.write_all(b"LHLO burst.example\r\nMAIL FROM:<buildd@example.org>\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n")?;
        for expect in ["250", "250", "250", "354"] {
            if !reply()?.starts_with(expect) {
                return Ok(false);
            }
        }
        w.write_all(&Client::data(mail))?;
        Ok(reply()?.starts_with("250"))
    };
    attempt().unwrap_or(false)
}

/// 50 connections at once, the daemon stopped by `signal` in the middle
/// of the burst: every mail answered 250 is committed; the clients send
/// the others again to a new daemon; in the end each mail is committed
/// exactly once (one dedup record and one history line each).
fn burst_survives(signal: i32) {
    let farm = Farm::new();
    let socket = farm.root().join("lmtp.sock");
    let server = Server::start_at(&farm, socket.clone());
    const CONNS: usize = 50;
    const EACH: usize = 4;
    let mails: Vec<Vec<u8>> = (0..CONNS * EACH)
        .map(|i| log_mail(&format!("burst{i:03}"), "successful"))
        .collect();
    let mails = std::sync::Arc::new(mails);
    let answered = std::sync::Arc::new(std::sync::Mutex::new(vec![false; CONNS * EACH]));
    let threads: Vec<_> = (0..CONNS)
        .map(|t| {
            let (mails, answered, socket) = (mails.clone(), answered.clone(), socket.clone());
            std::thread::spawn(move || {
                for k in 0..EACH {
                    let i = t * EACH + k;
                    if try_deliver(&socket, &mails[i]) {
                        answered.lock().unwrap()[i] = true;
                    }
                }
            })
        })
        .collect();
    // Stop it once some mails are in.
    let start = Instant::now();
    while answered.lock().unwrap().iter().filter(|a| **a).count() < CONNS / 2 {
        assert!(start.elapsed() < Duration::from_secs(60), "no mail went in");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut child = server.child;
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    child.wait().unwrap();
    for t in threads {
        t.join().unwrap();
    }
    let first: Vec<bool> = answered.lock().unwrap().clone();
    let acknowledged = first.iter().filter(|a| **a).count();
    assert!(acknowledged > 0 && acknowledged < CONNS * EACH || signal == libc::SIGTERM);
    // What was answered 250 is there after the stop.
    for (i, ok) in first.iter().enumerate() {
        if *ok {
            assert_eq!(
                farm.record(&format!("burst{i:03}"), "unstable", "amd64")
                    .state,
                State::Built,
                "mail {i} was answered 250 but is not committed"
            );
        }
    }
    // The MTA retries the rest with a new daemon.
    let server = Server::start_at(&farm, socket.clone());
    for (i, ok) in first.iter().enumerate() {
        if !ok {
            assert!(try_deliver(&socket, &mails[i]), "retry of mail {i}");
        }
    }
    assert!(server.stop().success());
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let stats = store.stats().unwrap();
    assert_eq!(stats.mails, CONNS * EACH, "one dedup record per mail");
    assert_eq!(stats.builds, CONNS * EACH);
    assert_eq!(stats.history, CONNS * EACH, "each mail committed once");
}

#[test]
fn sigkill_during_a_burst_loses_no_acknowledged_mail() {
    burst_survives(libc::SIGKILL);
}

#[test]
fn sigterm_during_a_burst_loses_no_acknowledged_mail() {
    burst_survives(libc::SIGTERM);
}

/// The daemon killed (SIGKILL) the moment after its 250: the mail is
/// committed all the same (each answer waits for its flush).
#[test]
fn a_mail_answered_250_survives_a_kill_right_after() {
    let farm = Farm::new();
    let socket = farm.root().join("lmtp.sock");
    let mut server = Server::start_with(
        &farm,
        socket.clone(),
        &[("BUILDMAIL_CRASH_AT", "serve-answered")],
    );
    let child = &mut server.child;
    assert!(try_deliver(&socket, &log_mail("hello", "successful")));
    let status = child.wait().unwrap();
    assert!(!status.success(), "the crash point killed it");
    assert_eq!(
        farm.record("hello", "unstable", "amd64").state,
        State::Built
    );
}

/// `status` asks the running daemon (exit 0: its pid, what it committed,
/// the queues); with the daemon stopped it reads the database (exit 3).
#[test]
fn status_shows_the_daemon_and_its_queues() {
    let socket = tempfile::tempdir().unwrap();
    let socket = socket.path().join("lmtp.sock");
    let farm = Farm::with(&format!(
        "[serve]\nlmtp = [\"unix:{}\"]\n",
        socket.display()
    ));
    let server = Server::start_at(&farm, socket.clone());
    assert!(try_deliver(&socket, &log_mail("hello", "successful")));
    let out = farm.cli(&["status", "--json"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["daemon"]["pid"], server.child.id());
    assert_eq!(s["daemon"]["committed"], 1);
    assert_eq!(s["mails"], 1);
    assert_eq!(s["builds"], 1);
    let text = farm.cli(&["status"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("daemon:        running (pid"), "{text}");
    assert!(server.stop().success());
    let out = farm.cli(&["status", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "no daemon");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(s["daemon"].is_null());
    assert_eq!(s["mails"], 1);
}

/// The daemon's scheduled work runs on its injected clock: a
/// build-failure notice waits out its quiet period on that clock and then
/// goes out without another mail arriving.
#[test]
fn scheduled_notices_fire_on_the_daemons_clock() {
    let farm = Farm::with(&format!(
        "[notify]\nnotify_on = [\"build-attempted\"]\nquiet_period = \"30m\"\nbuildd_admins = [\"{ADMIN}\"]\n"
    ));
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    assert!(farm.outbox().is_empty());
    let store: std::sync::Arc<dyn buildmail::store::Store> =
        std::sync::Arc::from(buildmail::store::open(&farm.cfg.database).unwrap());
    let scheduler = buildmail::hub::Scheduler::new(
        farm.cfg.clone(),
        store,
        farm.clock.clone(),
        Duration::from_millis(50),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let core = scheduler.core().clone();
    let task = rt.spawn(async move { scheduler.run(stopped).await });
    // Several rounds run; the daemon's clock has not passed the quiet
    // period, so nothing goes out.
    let start = Instant::now();
    while core.rounds() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the effects did not run"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(farm.outbox().is_empty(), "nothing before the quiet period");
    farm.clock.advance(31 * 60);
    let start = Instant::now();
    while farm.outbox().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the notice did not go out"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.send(true).unwrap();
    rt.block_on(task).unwrap();
    let mails = farm.outbox();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert!(
        mails[0].contains("X-Buildd-Build-State: FAILEDTOBUILD"),
        "{}",
        mails[0]
    );
}
