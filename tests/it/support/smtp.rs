//! An in-process SMTP server for tests: std::net, one thread per connection.
//!
//! It speaks just enough ESMTP for lettre's client (EHLO/HELO, MAIL, RCPT,
//! DATA, RSET, NOOP, QUIT) and records every accepted mail. It never panics
//! on a client going away: a broken session just ends.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// One mail the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The MAIL FROM address (without `<>`; empty for the null sender).
    pub from: String,
    /// The accepted RCPT TO addresses, in order.
    pub to: Vec<String>,
    /// The data, dot-unstuffed, without the final `.\r\n`.
    pub data: Vec<u8>,
    /// The user the session authenticated as (AUTH PLAIN), if any.
    pub user: Option<String>,
}

/// State shared by the accept thread and the sessions.
#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    rejected: Mutex<Vec<String>>,
    /// With `require_auth`: the one (user, password) accepted; MAIL is
    /// refused (530) before a successful AUTH.
    auth: Mutex<Option<(String, String)>>,
    stopping: AtomicBool,
    /// Sessions accepted and not yet ended.
    open: std::sync::atomic::AtomicUsize,
}

/// Locks `m`, ignoring poisoning (a panicking session must not break others).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running test SMTP server on 127.0.0.1. Dropping it stops it too.
pub struct SmtpServer {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl SmtpServer {
    /// Starts a server on a free port.
    pub fn start() -> SmtpServer {
        SmtpServer::start_on(0)
    }

    /// Starts a server on `port` (0: any free port), e.g. to restart one on
    /// the port a stopped server used.
    pub fn start_on(port: u16) -> SmtpServer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .unwrap_or_else(|e| panic!("test SMTP server cannot listen on port {port}: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        let shared = Arc::new(Shared::default());
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let shared = Arc::clone(&accept_shared);
                shared.open.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let _ = session(stream, &shared);
                    shared.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
            // The listener is dropped here: new connections are refused.
        });
        SmtpServer {
            port,
            shared,
            accept: Some(accept),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Waits until every session has ended (its client closed the
    /// connection or died): what it sent before is all read then.
    pub fn wait_idle(&self) {
        let start = std::time::Instant::now();
        while self.shared.open.load(Ordering::SeqCst) > 0 {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "SMTP sessions still open after a minute"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every mail accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    /// Answers `RCPT TO:<addr>` with 550 from now on (case-insensitive).
    pub fn reject_recipient(&self, addr: &str) {
        lock(&self.shared.rejected).push(addr.to_ascii_lowercase());
    }

    /// Requires AUTH PLAIN with this user and password from now on.
    pub fn require_auth(&self, user: &str, password: &str) {
        *lock(&self.shared.auth) = Some((user.to_string(), password.to_string()));
    }

    /// Closes the listener (new connections are refused) and joins the
    /// accept thread. Sessions already running finish on their own.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept(); it sees the flag and returns.
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(5));
        let _ = accept.join();
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The address in `MAIL FROM:<a> ...` / `RCPT TO:<a> ...` after the colon.
fn path_argument(rest: &str) -> String {
    let rest = rest.trim_start();
    match rest.strip_prefix('<') {
        Some(inner) => inner.split('>').next().unwrap_or("").to_string(),
        None => rest.split_whitespace().next().unwrap_or("").to_string(),
    }
}

/// `line` without the (case-insensitive) `prefix`, if it starts with it.
fn strip_prefix_ci<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let head = line.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        line.get(prefix.len()..)
    } else {
        None
    }
}

/// One SMTP session; any I/O error (client gone, timeout) ends it.
fn session(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    // Answers go out at once, as real MTAs do (no Nagle delay behind the
    // client's delayed ACK).
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    out.write_all(b"220 127.0.0.1 ESMTP buildmail test server\r\n")?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut user: Option<String> = None;
    loop {
        let mut raw = Vec::new();
        if reader.read_until(b'\n', &mut raw)? == 0 {
            return Ok(());
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\r', '\n']);
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let required = lock(&shared.auth).clone();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" if required.is_some() => {
                b"250-127.0.0.1 hello\r\n250-8BITMIME\r\n250-AUTH PLAIN\r\n250 SMTPUTF8\r\n"
            }
            "EHLO" => b"250-127.0.0.1 hello\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "AUTH" => {
                let arg = strip_prefix_ci(line, "AUTH PLAIN ").unwrap_or("").trim();
                let decoded = mail_parser::decoders::base64::base64_decode(arg.as_bytes())
                    .unwrap_or_default();
                let parts: Vec<&[u8]> = decoded.split(|&b| b == 0).collect();
                match (&required, parts.as_slice()) {
                    (Some((u, p)), [_, gu, gp]) if *gu == u.as_bytes() && *gp == p.as_bytes() => {
                        user = Some(u.clone());
                        b"235 2.7.0 authenticated\r\n"
                    }
                    _ => b"535 5.7.8 authentication failed\r\n",
                }
            }
            "MAIL" if required.is_some() && user.is_none() => {
                b"530 5.7.0 authentication required\r\n"
            }
            "HELO" => b"250 127.0.0.1 hello\r\n",
            "MAIL" => match strip_prefix_ci(line, "MAIL FROM:") {
                Some(rest) => {
                    from = Some(path_argument(rest));
                    to.clear();
                    b"250 2.1.0 OK\r\n"
                }
                None => b"501 5.5.4 syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" => match (strip_prefix_ci(line, "RCPT TO:"), &from) {
                (None, _) => b"501 5.5.4 syntax: RCPT TO:<address>\r\n",
                (Some(_), None) => b"503 5.5.1 MAIL first\r\n",
                (Some(rest), Some(_)) => {
                    let addr = path_argument(rest);
                    if lock(&shared.rejected).contains(&addr.to_ascii_lowercase()) {
                        b"550 5.1.1 no such user here\r\n"
                    } else {
                        to.push(addr);
                        b"250 2.1.5 OK\r\n"
                    }
                }
            },
            "DATA" => match &from {
                Some(sender) if !to.is_empty() => {
                    out.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")?;
                    let Some(data) = read_data(&mut reader)? else {
                        return Ok(());
                    };
                    lock(&shared.received).push(Received {
                        from: sender.clone(),
                        to: std::mem::take(&mut to),
                        data,
                        user: user.clone(),
                    });
                    from = None;
                    b"250 2.0.0 queued\r\n"
                }
                _ => b"503 5.5.1 MAIL and RCPT first\r\n",
            },
            "RSET" => {
                from = None;
                to.clear();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                out.write_all(b"221 2.0.0 bye\r\n")?;
                return Ok(());
            }
            _ => b"502 5.5.2 command not implemented\r\n",
        };
        out.write_all(reply)?;
    }
}

/// Reads DATA lines up to the lone `.`; `None` if the client went away.
fn read_data(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(Some(data));
        }
        match line.strip_prefix(b".") {
            Some(unstuffed) => data.extend_from_slice(unstuffed),
            None => data.extend_from_slice(&line),
        }
    }
}
