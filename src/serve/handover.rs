//! `deliver` handing its mail to a running `serve` over the daemon's unix
//! LMTP socket, so that it never opens the database while the daemon holds
//! it. The MTA-facing contract is unchanged: exit 0 only once the daemon
//! answered 250 (the mail is committed and flushed), 75 otherwise.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long `deliver` waits for the daemon's answer.
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// The daemon's answer to a handed-over mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 250: committed and durable.
    Committed(String),
    /// Anything else: the MTA should keep the mail and retry.
    NotCommitted(String),
}

/// The unix sockets among `[serve] lmtp`.
pub fn sockets(lmtp: &[String]) -> Vec<&Path> {
    lmtp.iter()
        .filter_map(|a| a.strip_prefix("unix:"))
        .map(Path::new)
        .collect()
}

/// Hands `raw` to the daemon listening on `socket`. `Err` when no daemon
/// answers there (not running): the caller delivers it itself.
pub fn hand_over(socket: &Path, raw: &[u8]) -> std::io::Result<Answer> {
    let stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut r = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    let reply = |r: &mut BufReader<UnixStream>| -> std::io::Result<String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the daemon closed the connection",
                ));
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(all.trim_end().to_string());
            }
        }
    };
    let greeting = reply(&mut r)?;
    if !greeting.starts_with("220") {
        return Ok(Answer::NotCommitted(greeting));
    }
    w.write_all(b"LHLO deliver\r\nMAIL FROM:<>\r\nRCPT TO:<deliver@localhost>\r\nDATA\r\n")?;
    for expect in ["250", "250", "250", "354"] {
        let got = reply(&mut r)?;
        if !got.starts_with(expect) {
            let _ = w.write_all(b"QUIT\r\n");
            return Ok(Answer::NotCommitted(got));
        }
    }
    // CRLF line ends, dot-stuffed, then the end line.
    let mut data = Vec::with_capacity(raw.len() + raw.len() / 40 + 8);
    let mut at_start = true;
    for &b in raw {
        if at_start && b == b'.' {
            data.push(b'.');
        }
        if b == b'\n' && data.last() != Some(&b'\r') {
            data.push(b'\r');
        }
        data.push(b);
        at_start = b == b'\n';
    }
    if !at_start {
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    w.write_all(&data)?;
    let answer = reply(&mut r)?;
    let _ = w.write_all(b"QUIT\r\n");
    Ok(if answer.starts_with("250") {
        Answer::Committed(answer)
    } else {
        Answer::NotCommitted(answer)
    })
}
