//! A plain LMTP client (RFC 2033 by hand, not buildmail's own code) over
//! a unix socket or TCP, and a `buildmail serve` started on the
//! listeners a test names.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::farm::Farm;

/// A running `buildmail serve`.
pub struct Daemon {
    pub child: Child,
    /// Its unix socket.
    pub socket: PathBuf,
    /// Its TCP port, when it listens on TCP too.
    pub port: Option<u16>,
}

impl Daemon {
    /// `serve` on a unix socket in the farm (and on a TCP port of
    /// 127.0.0.1 when `tcp`).
    pub fn start(farm: &Farm, tcp: bool) -> Daemon {
        let socket = farm.root().join("lmtp.sock");
        let mut args = vec![
            "serve".to_string(),
            "--lmtp".into(),
            format!("unix:{}", socket.display()),
        ];
        let port = tcp.then(|| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        if let Some(p) = port {
            args.push("--lmtp".into());
            args.push(format!("tcp:127.0.0.1:{p}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let child = farm
            .cli(&args)
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("BUILDMAIL_TEST_SERVE_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap();
        let start = Instant::now();
        while UnixStream::connect(&socket).is_err()
            || port.is_some_and(|p| std::net::TcpStream::connect(("127.0.0.1", p)).is_err())
        {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "serve did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The probes above took slots for a moment: let them go.
        std::thread::sleep(Duration::from_millis(100));
        Daemon {
            child,
            socket,
            port,
        }
    }

    /// SIGTERM, and whether it exited 0.
    pub fn stop(mut self) -> bool {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().unwrap().success()
    }
}

impl Drop for Daemon {
    /// A test that failed leaves no daemon behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Either kind of stream.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// An LMTP client.
pub struct Lmtp {
    r: BufReader<Box<dyn Stream>>,
    w: Box<dyn Stream>,
    /// The greeting.
    pub greeting: String,
}

impl Lmtp {
    /// Connects to the unix socket and reads the greeting.
    pub fn unix(socket: &Path) -> Lmtp {
        let s = UnixStream::connect(socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Lmtp::over(Box::new(s.try_clone().unwrap()), Box::new(s))
    }

    /// Connects to 127.0.0.1:`port` and reads the greeting.
    pub fn tcp(port: u16) -> Lmtp {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Lmtp::over(Box::new(s.try_clone().unwrap()), Box::new(s))
    }

    fn over(r: Box<dyn Stream>, w: Box<dyn Stream>) -> Lmtp {
        let mut c = Lmtp {
            r: BufReader::new(r),
            w,
            greeting: String::new(),
        };
        c.greeting = c.reply();
        c
    }

    /// Sends bytes as they are.
    pub fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }

    /// One reply (all its lines); "" when the connection is closed.
    pub fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if self.r.read_line(&mut line).unwrap_or(0) == 0 {
                return all;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    /// `n` replies.
    pub fn replies(&mut self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.reply()).collect()
    }

    /// Whether the server closed the connection (nothing more to read).
    pub fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.r.read(&mut buf), Ok(0))
    }

    /// LHLO, MAIL, one RCPT, DATA; the 354 reply.
    pub fn start_mail(&mut self) -> String {
        self.send(b"LHLO client.example\r\nMAIL FROM:<buildd@example.org>\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n");
        let r = self.replies(4);
        r[3].clone()
    }

    /// Sends a whole mail in one transaction; the reply after DATA.
    pub fn deliver(&mut self, mail: &[u8]) -> String {
        let go = self.start_mail();
        assert!(go.starts_with("354"), "{go}");
        self.send(&data(mail));
        self.reply()
    }
}

/// The mail as DATA: CRLF line ends, dot-stuffed, with the end line.
pub fn data(mail: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(mail.len() + mail.len() / 20 + 8);
    for line in mail.split_inclusive(|&b| b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        if body.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}
/// An LMTP session on a unix socket.
pub struct Session {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl Session {
    /// Connects and reads the greeting (which must be 220).
    pub fn connect(socket: &Path) -> Session {
        let w = UnixStream::connect(socket).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        let mut s = Session { r, w };
        let greeting = s.reply();
        assert!(greeting.starts_with("220 "), "{greeting}");
        s
    }

    /// Sends `line` (CRLF added) and returns the reply.
    pub fn command(&mut self, line: &str) -> String {
        self.w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        self.reply()
    }

    /// One reply, all its lines.
    pub fn reply(&mut self) -> String {
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

    /// One whole transaction for one recipient: LHLO, MAIL, RCPT, DATA,
    /// the mail ([`data`]); returns the reply to the mail, then QUITs.
    pub fn send(mut self, from: &str, to: &str, mail: &[u8]) -> String {
        for (command, want) in [
            ("LHLO client.example".to_string(), "250"),
            (format!("MAIL FROM:<{from}>"), "250"),
            (format!("RCPT TO:<{to}>"), "250"),
            ("DATA".to_string(), "354"),
        ] {
            let reply = self.command(&command);
            assert!(reply.starts_with(want), "{command}: {reply}");
        }
        self.w.write_all(&data(mail)).unwrap();
        let done = self.reply();
        let _ = self.w.write_all(b"QUIT\r\n");
        done
    }
}
