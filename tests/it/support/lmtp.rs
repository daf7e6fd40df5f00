//! A plain LMTP client (RFC 2033 by hand, not buildmail's own code), for
//! tests that speak to `buildmail serve` as an MTA would.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// `mail` as LMTP DATA, byte for byte: each line ends in CRLF (a line's
/// own CR before its LF is not doubled), a leading dot is doubled, then
/// the end line. A mail's last line end is its last line's.
pub fn data(mail: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(mail.len() + mail.len() / 30 + 8);
    let mail = mail.strip_suffix(b"\n").unwrap_or(mail);
    for line in mail.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
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
