//! One LMTP session (RFC 2033, on top of RFC 5321's commands): LHLO,
//! MAIL (with SIZE), RCPT, DATA, RSET, NOOP, VRFY, QUIT; PIPELINING, SIZE,
//! 8BITMIME and ENHANCEDSTATUSCODES. After DATA one reply per recipient,
//! each sent only once the mail's commit is durable.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::{Shared, IDLE_TIMEOUT};
use crate::ingest::{Ingest, Outcome};

/// The longest command line read (RFC 5321 allows 512 octets).
const COMMAND_MAX: u64 = 4096;

/// DATA is read in pieces of at most this.
const DATA_CHUNK: u64 = 64 << 10;

type Io = std::io::Result<()>;

/// Reads one line (ending in LF, or cut at `max` bytes) into `buf`;
/// `Ok(false)` at the end of the stream.
async fn read_line<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    buf: &mut Vec<u8>,
    max: u64,
) -> std::io::Result<bool> {
    buf.clear();
    let n = tokio::time::timeout(IDLE_TIMEOUT, (&mut *r).take(max).read_until(b'\n', buf))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle timeout"))??;
    Ok(n > 0)
}

async fn reply<W: AsyncWrite + Unpin>(w: &mut W, text: &str) -> Io {
    w.write_all(text.as_bytes()).await?;
    w.write_all(b"\r\n").await?;
    w.flush().await
}

/// The address inside `FROM:<...>` / `TO:<...>` and the parameters after it.
fn path_and_params(arg: &str) -> Option<(&str, &str)> {
    let open = arg.find('<')?;
    let close = arg[open..].find('>')? + open;
    Some((&arg[open + 1..close], arg[close + 1..].trim()))
}

/// Serves one connection until QUIT, the end of the stream, an idle
/// timeout, or an I/O error. A mail cut off inside DATA is dropped
/// unanswered (nothing is committed).
pub(crate) async fn session<S>(
    shared: &Arc<Shared>,
    stream: S,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Io
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (rd, mut w) = tokio::io::split(stream);
    let mut r = BufReader::new(rd);
    let max = shared.config().limits.max_message_size;
    reply(
        &mut w,
        &format!("220 {} buildmail LMTP ready", shared.hostname),
    )
    .await?;
    let mut greeted = false;
    let mut mail = false;
    let mut rcpts: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        // Between mails a shutdown ends the session at once (421: the
        // client delivers the rest later); inside DATA it does not.
        if *stop.borrow() {
            return reply(&mut w, "421 4.3.2 Shutting down, try again later").await;
        }
        let got = tokio::select! {
            got = read_line(&mut r, &mut line, COMMAND_MAX) => got?,
            _ = stop.changed() => {
                return reply(&mut w, "421 4.3.2 Shutting down, try again later").await;
            }
        };
        if !got {
            return Ok(());
        }
        if !line.ends_with(b"\n") {
            // Longer than any command: drain the rest of it.
            while !line.ends_with(b"\n") && read_line(&mut r, &mut line, COMMAND_MAX).await? {}
            reply(&mut w, "500 5.5.2 Line too long").await?;
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        match verb.to_ascii_uppercase().as_str() {
            "LHLO" => {
                greeted = true;
                mail = false;
                rcpts.clear();
                reply(
                    &mut w,
                    &format!(
                        "250-{}\r\n250-PIPELINING\r\n250-SIZE {max}\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES",
                        shared.hostname
                    ),
                )
                .await?;
            }
            "HELO" | "EHLO" => {
                reply(&mut w, "500 5.5.1 This is LMTP: say LHLO").await?;
            }
            "MAIL" if !greeted => reply(&mut w, "503 5.5.1 Say LHLO first").await?,
            "MAIL" => {
                let Some(from) = arg
                    .get(..5)
                    .filter(|p| p.eq_ignore_ascii_case("FROM:"))
                    .and_then(|_| path_and_params(&arg[5..]))
                else {
                    reply(&mut w, "501 5.5.4 Syntax: MAIL FROM:<address>").await?;
                    continue;
                };
                let size = from
                    .1
                    .split_whitespace()
                    .find_map(|p| {
                        p.split_once('=')
                            .filter(|(k, _)| k.eq_ignore_ascii_case("SIZE"))
                            .map(|(_, v)| v.parse::<u64>().unwrap_or(u64::MAX))
                    })
                    .unwrap_or(0);
                if size > max {
                    reply(
                        &mut w,
                        &format!("552 5.3.4 The mail is larger than the {max}-byte limit"),
                    )
                    .await?;
                    continue;
                }
                mail = true;
                rcpts.clear();
                reply(&mut w, "250 2.1.0 OK").await?;
            }
            "RCPT" if !mail => reply(&mut w, "503 5.5.1 Say MAIL first").await?,
            "RCPT" => {
                let Some((to, _)) = arg
                    .get(..3)
                    .filter(|p| p.eq_ignore_ascii_case("TO:"))
                    .and_then(|_| path_and_params(&arg[3..]))
                else {
                    reply(&mut w, "501 5.5.4 Syntax: RCPT TO:<address>").await?;
                    continue;
                };
                rcpts.push(to.to_string());
                reply(&mut w, "250 2.1.5 OK").await?;
            }
            "DATA" if rcpts.is_empty() => {
                reply(&mut w, "503 5.5.1 No valid recipients").await?;
            }
            "DATA" => {
                reply(&mut w, "354 Start mail input; end with <CRLF>.<CRLF>").await?;
                let Some(data) = read_data(&mut r, max).await? else {
                    // Cut off: nothing committed, nothing answered.
                    return Ok(());
                };
                match data {
                    Data::TooLarge => {
                        for _ in &rcpts {
                            reply(
                                &mut w,
                                &format!("552 5.3.4 The mail is larger than the {max}-byte limit"),
                            )
                            .await?;
                        }
                    }
                    Data::Mail(raw) => {
                        let answer = commit(shared, raw).await;
                        for rcpt in &rcpts {
                            let text = match &answer {
                                Ok(what) => format!("250 2.0.0 <{rcpt}> {what}"),
                                Err(e) => format!(
                                    "451 4.3.0 <{rcpt}> not committed, try again later: {e}"
                                ),
                            };
                            reply(&mut w, &text).await?;
                        }
                        if answer.is_ok() {
                            // The crash tests kill the daemon here: what
                            // was answered 250 must survive it.
                            crate::effects::crash_point("serve-answered");
                            shared.effects.notify_one();
                        }
                    }
                }
                mail = false;
                rcpts.clear();
            }
            "RSET" => {
                mail = false;
                rcpts.clear();
                reply(&mut w, "250 2.0.0 OK").await?;
            }
            "NOOP" => reply(&mut w, "250 2.0.0 OK").await?,
            // buildmail's own (RFC 5321 §4.1.5 leaves X-verbs to private
            // use): `buildmail status` asks the running daemon.
            "XSTATUS" => {
                let sh = shared.clone();
                let text = match tokio::task::spawn_blocking(move || sh.status()).await {
                    Ok(Ok(status)) => match serde_json::to_string(&status) {
                        Ok(json) => format!("250 {json}"),
                        Err(e) => format!("451 4.3.0 status: {e}"),
                    },
                    Ok(Err(e)) => format!("451 4.3.0 status: {e}"),
                    Err(e) => format!("451 4.3.0 status: {e}"),
                };
                reply(&mut w, &text).await?;
            }
            "VRFY" => reply(&mut w, "252 2.1.5 Cannot VRFY; send the mail").await?,
            "QUIT" => {
                reply(&mut w, "221 2.0.0 Bye").await?;
                return Ok(());
            }
            _ => reply(&mut w, "500 5.5.2 Command unrecognized").await?,
        }
    }
}

enum Data {
    Mail(Vec<u8>),
    TooLarge,
}

/// Reads DATA up to the `.` line, dot-unstuffed, CRLF turned into LF (as
/// a pipe delivers); `None` when the stream ends first.
async fn read_data<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    max: u64,
) -> std::io::Result<Option<Data>> {
    let mut out: Vec<u8> = Vec::new();
    let mut too_large = false;
    let mut line = Vec::new();
    let mut at_start = true;
    loop {
        if !read_line(r, &mut line, DATA_CHUNK).await? {
            return Ok(None);
        }
        let complete = line.ends_with(b"\n");
        let mut piece: &[u8] = &line;
        if at_start {
            if piece == b".\r\n" || piece == b".\n" {
                return Ok(Some(if too_large {
                    Data::TooLarge
                } else {
                    Data::Mail(out)
                }));
            }
            if piece.first() == Some(&b'.') {
                piece = &piece[1..];
            }
        }
        if complete && piece.ends_with(b"\r\n") {
            piece = &piece[..piece.len() - 2];
        } else if complete {
            piece = &piece[..piece.len() - 1];
        }
        if !too_large {
            out.extend_from_slice(piece);
            if complete {
                out.push(b'\n');
            }
            if out.len() as u64 > max {
                too_large = true;
                out = Vec::new();
            }
        }
        at_start = complete;
    }
}

/// Prepares one mail, commits it (the commit lock held), and waits until a
/// flush made that commit durable ([`super::GroupCommit`]); what happened
/// to it, in a few words, or why it could not be committed.
async fn commit(shared: &Arc<Shared>, raw: Vec<u8>) -> Result<String, String> {
    let sh = shared.clone();
    let done = tokio::task::spawn_blocking(move || {
        // Parsing, signature and DKIM checks (which may ask DNS) and
        // archiving the log run outside the commit lock, beside other
        // sessions; only the commit holds it, and the flush that makes
        // it durable is shared (group commit).
        let config = sh.config();
        let ingest = Ingest::new(&*sh.store, &config).with_clock(sh.clock.clone());
        let raw = crate::inbound::source::RawMail::Bytes(raw);
        let prepared = ingest.prepare(&raw)?;
        let (out, seq) = {
            let _g = sh
                .commit
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let out = ingest.commit(&raw, &prepared)?;
            (out, sh.durable.committed())
        };
        // Group commit: one flush makes every commit before it durable,
        // so sessions that committed meanwhile share it.
        sh.durable.flush_through(seq, &*sh.store)?;
        Ok::<Outcome, crate::store::StoreError>(out)
    })
    .await;
    match done {
        Ok(Ok(outcome)) => Ok(match outcome {
            Outcome::Duplicate(_) => "duplicate: already committed".to_string(),
            Outcome::Quarantined { .. } => "quarantined".to_string(),
            _ => "committed".to_string(),
        }),
        Ok(Err(e)) => {
            tracing::error!("serve: could not commit a mail: {e}");
            Err(e.to_string())
        }
        Err(e) => Err(format!("internal error: {e}")),
    }
}
