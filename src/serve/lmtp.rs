//! One LMTP session (RFC 2033, on top of RFC 5321's commands): LHLO,
//! MAIL (with SIZE), RCPT, DATA, RSET, NOOP, VRFY, QUIT; PIPELINING, SIZE,
//! 8BITMIME and ENHANCEDSTATUSCODES. After DATA one reply per recipient,
//! each sent only once the mail's commit is durable.
//!
//! Commands are parsed by `smtp-proto` (Stalwart's RFC 5321 parser); the
//! session loop, the line reading and the DATA framing are buildmail's:
//!
//! * Lines end only at `<CRLF>`. A command line with a bare `<LF>`, a
//!   bare `<CR>` or a NUL is refused (500) and not executed, as Postfix's
//!   `smtpd_forbid_bare_newline = reject` does. DATA ends only at
//!   `<CRLF>.<CRLF>` (RFC 5321 §4.1.1.4): a bare `<LF>` or `<CR>` is never
//!   a line end, so `\n.\n`, `\n.\r\n`, `\r.\r`, `\r\n.\r`, `\r.\r\n`, a NUL
//!   before the dot... never end a mail early, and a mail that holds a
//!   bare `<LF>` is refused whole (550 per recipient) once its real end
//!   has come: nothing smuggled after a fake end is ever a mail of its
//!   own.
//! * Command lines are at most [`COMMAND_MAX`] octets, paths 256 (a local
//!   part 64, a domain 255: RFC 5321 §4.5.3.1); a transaction names at
//!   most `serve.max_recipients` recipients (452 4.5.3 past it).
//! * A session must say MAIL within `serve.mail_timeout` of its greeting
//!   and of its last mail (NOOP and the like do not extend it), and may
//!   stay silent inside a transaction for `serve.command_timeout`; then
//!   it gets 421 and is closed.
//! * A mail takes its bytes from the daemon's budget ([`super::limits`]):
//!   all of a declared SIZE at MAIL (452 4.3.1 when it cannot be had in
//!   `serve.command_timeout`), else as it is read (451 4.3.1 after DATA).
//! * A mail over `limits.max_message_size` is taken and kept in the
//!   quarantine, as by every other way in (`deliver`, `import`): past the
//!   limit its bytes go to a file as they arrive, never to memory, and
//!   LHLO announces no fixed SIZE.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::Instant;

use super::limits::Reservation;
use super::Shared;
use crate::hub::{Hub, MailMode};
use crate::inbound::source::{RawMail, Sink};
use crate::ingest::Outcome;

/// The longest command line, `<CRLF>` included: RFC 5321's 512 octets
/// (§4.5.3.1.4) and the 26 that RFC 1870 adds to MAIL for `SIZE=`.
pub const COMMAND_MAX: usize = 512 + 26;

/// The longest local part of an address (RFC 5321 §4.5.3.1.1).
const LOCAL_PART_MAX: usize = 64;

/// The longest domain (RFC 5321 §4.5.3.1.2).
const DOMAIN_MAX: usize = 255;

/// DATA is read in pieces of at most this.
const DATA_CHUNK: u64 = 64 << 10;

type Io = std::io::Result<()>;

/// Why a session ends before its peer is done.
enum Cut {
    /// Silent for too long: the 421 reply's text.
    Timeout(String),
    /// The stream ended or broke.
    Io(std::io::Error),
}

impl From<std::io::Error> for Cut {
    fn from(e: std::io::Error) -> Cut {
        Cut::Io(e)
    }
}

/// Reads one piece: up to and including an LF, or `max` bytes, into
/// `buf`, within `wait`; `Ok(false)` at the end of the stream.
async fn read_piece<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    buf: &mut Vec<u8>,
    max: u64,
    wait: Duration,
    why: &str,
) -> Result<bool, Cut> {
    buf.clear();
    match tokio::time::timeout(wait, (&mut *r).take(max).read_until(b'\n', buf)).await {
        Ok(n) => Ok(n? > 0),
        Err(_) => Err(Cut::Timeout(why.to_string())),
    }
}

async fn reply<W: AsyncWrite + Unpin>(w: &mut W, text: &str) -> Io {
    w.write_all(text.as_bytes()).await?;
    w.write_all(b"\r\n").await?;
    w.flush().await
}

/// Whether every `SIZE=` parameter of a MAIL command line is a number of
/// bytes: smtp-proto refuses other malformed values, but not one past
/// `u64` (RFC 1870: SIZE is a decimal count of bytes).
fn size_is_a_number(line: &[u8]) -> bool {
    // The parameters follow the path's closing bracket.
    let params = line
        .iter()
        .rposition(|&b| b == b'>')
        .map_or(line, |i| &line[i + 1..]);
    params
        .split(|&b| b == b' ')
        .filter(|p| p.len() >= 5 && p[..5].eq_ignore_ascii_case(b"SIZE="))
        .all(|p| std::str::from_utf8(&p[5..]).is_ok_and(|v| v.parse::<u64>().is_ok()))
}

/// Whether an address (a reverse- or forward-path, without its angle
/// brackets) is within RFC 5321's limits; the null path is.
fn address_fits(address: &str) -> Result<(), String> {
    if address.is_empty() {
        return Ok(());
    }
    let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
    if local.len() > LOCAL_PART_MAX {
        return Err(format!(
            "the local part is {} octets, more than {LOCAL_PART_MAX}",
            local.len()
        ));
    }
    if domain.len() > DOMAIN_MAX {
        return Err(format!(
            "the domain is {} octets, more than {DOMAIN_MAX}",
            domain.len()
        ));
    }
    Ok(())
}

/// The transaction in progress.
struct Transaction {
    recipients: Vec<String>,
    /// Budget held for the mail (all of a declared SIZE).
    budget: Reservation,
    /// The declared SIZE (0: none).
    size: u64,
}

/// Serves one connection until QUIT, the end of the stream, a timeout,
/// or an I/O error. A mail cut off inside DATA is dropped unanswered
/// (nothing is committed).
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
    let config = shared.config();
    let serve = &config.serve;
    let max = config.limits.max_message_size;
    reply(
        &mut w,
        &format!("220 {} buildmail LMTP ready", shared.hostname),
    )
    .await?;
    let mut greeted = false;
    let mut tx: Option<Transaction> = None;
    // MAIL must come by then; a mail delivered moves it on.
    let mut mail_by = Instant::now() + serve.mail_timeout;
    let mut line = Vec::new();
    loop {
        // Between mails a shutdown ends the session at once (421: the
        // client delivers the rest later); inside DATA it does not.
        if *stop.borrow() {
            return reply(&mut w, "421 4.3.2 Shutting down, try again later").await;
        }
        let (wait, why) = match &tx {
            Some(_) => (
                serve.command_timeout,
                format!(
                    "421 4.4.2 {} Timeout: no command in {:?} inside a mail transaction (serve.command_timeout)",
                    shared.hostname, serve.command_timeout
                ),
            ),
            None => (
                mail_by.saturating_duration_since(Instant::now()),
                format!(
                    "421 4.4.2 {} Timeout: no MAIL within {:?} (serve.mail_timeout)",
                    shared.hostname, serve.mail_timeout
                ),
            ),
        };
        let got = tokio::select! {
            got = read_piece(&mut r, &mut line, COMMAND_MAX as u64, wait, &why) => got,
            _ = stop.changed() => {
                return reply(&mut w, "421 4.3.2 Shutting down, try again later").await;
            }
        };
        match got {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(Cut::Timeout(why)) => return reply(&mut w, &why).await,
            Err(Cut::Io(e)) => return Err(e),
        }
        if !line.ends_with(b"\n") {
            // Longer than any command (or cut off): nothing more is read
            // from a peer that does not speak LMTP.
            return reply(
                &mut w,
                &format!("500 5.5.2 Line too long (more than {COMMAND_MAX} octets); closing"),
            )
            .await;
        }
        let body = &line[..line.len() - 1];
        let Some(body) = body.strip_suffix(b"\r") else {
            reply(
                &mut w,
                "500 5.5.2 Bare <LF> received: command lines end with <CRLF>",
            )
            .await?;
            continue;
        };
        if body.iter().any(|&b| b == b'\r' || b == 0) {
            reply(
                &mut w,
                "500 5.5.2 Bare <CR> or NUL in a command line: refused",
            )
            .await?;
            continue;
        }
        use smtp_proto::{Error as ParseError, Request};
        let request = Request::parse(&mut line.iter());
        match request {
            Ok(Request::Lhlo { .. }) => {
                greeted = true;
                tx = None;
                reply(
                    &mut w,
                    &format!(
                        "250-{}\r\n250-PIPELINING\r\n250-SIZE\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES",
                        shared.hostname
                    ),
                )
                .await?;
            }
            Ok(Request::Helo { .. } | Request::Ehlo { .. }) => {
                reply(&mut w, "500 5.5.1 This is LMTP: say LHLO").await?;
            }
            Ok(Request::Mail { .. }) if !greeted => {
                reply(&mut w, "503 5.5.1 Say LHLO first").await?
            }
            Ok(Request::Mail { .. }) if tx.is_some() => {
                reply(&mut w, "503 5.5.1 Nested MAIL command").await?
            }
            Ok(Request::Mail { .. }) if !size_is_a_number(body) => {
                reply(&mut w, "501 5.5.4 Invalid SIZE parameter").await?
            }
            Ok(Request::Mail { from }) => {
                if let Err(why) = address_fits(&from.address) {
                    reply(&mut w, &format!("501 5.1.7 Bad sender address: {why}")).await?;
                    continue;
                }
                let size = from.size as u64;
                // All of a declared size is taken from the budget now (up
                // to the limit: the rest of a larger mail goes to a
                // file): a mail that cannot have it is deferred before
                // its DATA.
                let mut budget = shared.limits.nothing();
                if size > 0
                    && !shared
                        .limits
                        .grow(&mut budget, size.min(max), serve.command_timeout)
                        .await
                {
                    reply(
                        &mut w,
                        &format!(
                            "452 4.3.1 Too much mail in flight ({} bytes at most, serve.mail_budget), try again later",
                            shared.limits.budget()
                        ),
                    )
                    .await?;
                    continue;
                }
                tx = Some(Transaction {
                    recipients: Vec::new(),
                    budget,
                    size,
                });
                reply(&mut w, "250 2.1.0 OK").await?;
            }
            Ok(Request::Rcpt { .. }) if tx.is_none() => {
                reply(&mut w, "503 5.5.1 Say MAIL first").await?
            }
            Ok(Request::Rcpt { to }) => {
                let Some(t) = tx.as_mut() else { continue };
                if let Err(why) = address_fits(&to.address) {
                    reply(&mut w, &format!("501 5.1.3 Bad recipient address: {why}")).await?;
                } else if t.recipients.len() >= serve.max_recipients {
                    reply(
                        &mut w,
                        &format!(
                            "452 4.5.3 Too many recipients ({} at most, serve.max_recipients)",
                            serve.max_recipients
                        ),
                    )
                    .await?;
                } else {
                    t.recipients.push(to.address);
                    reply(&mut w, "250 2.1.5 OK").await?;
                }
            }
            Ok(Request::Data) if tx.as_ref().is_none_or(|t| t.recipients.is_empty()) => {
                reply(&mut w, "503 5.5.1 No valid recipients").await?;
            }
            Ok(Request::Data) => {
                let Some(t) = tx.take() else { continue };
                reply(&mut w, "354 Start mail input; end with <CRLF>.<CRLF>").await?;
                let spill = config.quarantine_dir();
                let data = match read_data(shared, &mut r, max, &spill, t.size, t.budget).await {
                    Ok(Some(d)) => d,
                    // Cut off: nothing committed, nothing answered.
                    Ok(None) => return Ok(()),
                    Err(Cut::Timeout(why)) => return reply(&mut w, &why).await,
                    Err(Cut::Io(e)) => return Err(e),
                };
                let refusal = match data {
                    Data::Mail(raw, held) => {
                        let answer = commit(shared, raw).await;
                        drop(held);
                        for rcpt in &t.recipients {
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
                        }
                        None
                    }
                    Data::BareLf => Some(
                        "550 5.5.2 Bare <LF> in the mail: lines end with <CRLF>; refused whole (SMTP smuggling guard)"
                            .to_string(),
                    ),
                    Data::Starved => Some(format!(
                        "451 4.3.1 Too much mail in flight ({} bytes at most, serve.mail_budget), try again later",
                        shared.limits.budget()
                    )),
                };
                if let Some(text) = refusal {
                    for _ in &t.recipients {
                        reply(&mut w, &text).await?;
                    }
                }
                mail_by = Instant::now() + serve.mail_timeout;
            }
            Ok(Request::Rset) => {
                tx = None;
                reply(&mut w, "250 2.0.0 OK").await?;
            }
            Ok(Request::Noop { .. }) => reply(&mut w, "250 2.0.0 OK").await?,
            Ok(Request::Vrfy { .. }) => {
                reply(&mut w, "252 2.1.5 Cannot VRFY; send the mail").await?
            }
            Ok(Request::Quit) => {
                reply(&mut w, "221 2.0.0 Bye").await?;
                return Ok(());
            }
            Ok(other) => {
                reply(
                    &mut w,
                    &format!("502 5.5.1 {} is not implemented here", other.name_of()),
                )
                .await?
            }
            Err(ParseError::UnknownCommand) => {
                reply(&mut w, "500 5.5.2 Command unrecognized").await?
            }
            Err(ParseError::InvalidSenderAddress) => {
                reply(&mut w, "501 5.1.7 Bad sender address syntax").await?
            }
            Err(ParseError::InvalidRecipientAddress) => {
                reply(&mut w, "501 5.1.3 Bad recipient address syntax").await?
            }
            Err(ParseError::SyntaxError { syntax }) => {
                reply(&mut w, &format!("501 5.5.4 Syntax: {syntax}")).await?
            }
            Err(ParseError::InvalidParameter { param }) => {
                reply(&mut w, &format!("501 5.5.4 Invalid {param} parameter")).await?
            }
            Err(ParseError::UnsupportedParameter { param }) => {
                reply(&mut w, &format!("555 5.5.4 Unsupported parameter {param}")).await?
            }
            Err(e) => reply(&mut w, &format!("500 5.5.2 {e}")).await?,
        }
    }
}

/// The verb of a request smtp-proto knows and this session does not
/// implement.
trait NameOf {
    fn name_of(&self) -> &'static str;
}

impl<T> NameOf for smtp_proto::Request<T> {
    fn name_of(&self) -> &'static str {
        use smtp_proto::Request::*;
        match self {
            Ehlo { .. } => "EHLO",
            Lhlo { .. } => "LHLO",
            Helo { .. } => "HELO",
            Mail { .. } => "MAIL",
            Rcpt { .. } => "RCPT",
            Bdat { .. } => "BDAT",
            Auth { .. } => "AUTH",
            Noop { .. } => "NOOP",
            Vrfy { .. } => "VRFY",
            Expn { .. } => "EXPN",
            Help { .. } => "HELP",
            Etrn { .. } => "ETRN",
            Atrn { .. } => "ATRN",
            Burl { .. } => "BURL",
            StartTls => "STARTTLS",
            Data => "DATA",
            Rset => "RSET",
            Quit => "QUIT",
        }
    }
}

enum Data {
    /// The mail, and the budget it holds until it is committed.
    Mail(RawMail, Reservation),
    /// It held a bare LF: refused whole.
    BareLf,
    /// The budget could not be had in time.
    Starved,
}

/// Reads DATA up to the `<CRLF>.<CRLF>` line, dot-unstuffed, CRLF turned
/// into LF (as a pipe delivers); `None` when the stream ends first. A
/// bare LF is not a line end (so never the start of the end line): the
/// mail is read to its real end and refused ([`Data::BareLf`]). The
/// mail's bytes come from the budget (`held`, grown as it is read); past
/// `max` they go to a file in `spill` instead (the budget given back).
async fn read_data<R: AsyncRead + Unpin>(
    shared: &Shared,
    r: &mut BufReader<R>,
    max: u64,
    spill: &std::path::Path,
    declared: u64,
    mut held: Reservation,
) -> Result<Option<Data>, Cut> {
    let wait = shared.config().serve.command_timeout;
    let why = format!(
        "421 4.4.2 {} Timeout: no data in {wait:?} (serve.command_timeout)",
        shared.hostname
    );
    let mut out: Vec<u8> = Vec::new();
    if declared > 0 {
        out.reserve_exact(usize::try_from(declared.min(held.bytes())).unwrap_or(0));
    }
    // Past `max`: the mail so far and the rest, in a file.
    let mut file: Option<Sink<'_>> = None;
    let mut bare_lf = false;
    let mut starved = false;
    let mut line = Vec::new();
    // At the start of a line: after a <CRLF> (or the 354).
    let mut at_start = true;
    // The last piece ended in a CR that an LF may complete.
    let mut pending_cr = false;
    loop {
        if !read_piece(r, &mut line, DATA_CHUNK, wait, &why).await? {
            return Ok(None);
        }
        let keep = !(bare_lf || starved);
        let ends_lf = line.ends_with(b"\n");
        // A line's <CRLF> may straddle two pieces.
        let crlf = ends_lf && (line.ends_with(b"\r\n") || (line.len() == 1 && pending_cr));
        if ends_lf && !crlf {
            bare_lf = true;
        }
        let mut piece: &[u8] = &line;
        if at_start {
            if piece == b".\r\n" {
                return Ok(Some(if bare_lf {
                    Data::BareLf
                } else if starved {
                    Data::Starved
                } else if let Some(f) = file {
                    Data::Mail(f.finish()?, held)
                } else {
                    Data::Mail(RawMail::Bytes(out), held)
                }));
            }
            if piece.first() == Some(&b'.') {
                piece = &piece[1..];
            }
        }
        if keep && !bare_lf {
            if let Some(f) = &mut file {
                // Past the limit: to the file (a CRLF split over two
                // pieces is joined there: the CR is held back).
                let kept = if crlf {
                    piece
                        .strip_suffix(b"\r\n")
                        .or_else(|| piece.strip_suffix(b"\n"))
                } else {
                    piece.strip_suffix(b"\r")
                }
                .unwrap_or(piece);
                if pending_cr && !(crlf && piece.len() == 1) {
                    f.write(b"\r")?;
                }
                f.write(kept)?;
                if crlf {
                    f.write(b"\n")?;
                }
            } else if crlf && piece.len() == 1 && pending_cr {
                // The CR came with the last piece.
                out.pop();
                out.push(b'\n');
            } else {
                let kept = if crlf {
                    &piece[..piece.len() - 2]
                } else {
                    piece
                };
                let need = out.len() + kept.len() + usize::from(crlf);
                if need as u64 > max {
                    // Over the limit: kept in the quarantine, from a file.
                    let mut f = Sink::new(max, spill);
                    f.write(&out)?;
                    f.write(kept)?;
                    if crlf {
                        f.write(b"\n")?;
                    }
                    file = Some(f);
                    out = Vec::new();
                    held = shared.limits.nothing();
                } else if !grow(shared, &mut held, &mut out, need, max, wait).await {
                    starved = true;
                } else {
                    out.extend_from_slice(kept);
                    if crlf {
                        out.push(b'\n');
                    }
                }
            }
        }
        if bare_lf || starved {
            // Nothing more is kept: the budget goes back at once.
            out = Vec::new();
            held = shared.limits.nothing();
        }
        at_start = crlf;
        pending_cr = !ends_lf && line.ends_with(b"\r");
    }
}

/// Makes room in `out` for `need` bytes, taking them from the budget
/// first (doubling, so that a mail without a declared size is not copied
/// over and over); `false` when the budget could not be had in `wait`.
async fn grow(
    shared: &Shared,
    held: &mut Reservation,
    out: &mut Vec<u8>,
    need: usize,
    max: u64,
    wait: Duration,
) -> bool {
    if need <= out.capacity() {
        return true;
    }
    // Never more than the limit (`need` is within it; the budget is at
    // least the limit).
    let want = (need as u64)
        .max((out.capacity() as u64).saturating_mul(2))
        .max(1 << 20)
        .min(max)
        .max(need as u64);
    if !shared.limits.grow(held, want, wait).await {
        return false;
    }
    out.reserve_exact(usize::try_from(want).unwrap_or(need) - out.len());
    true
}

/// Submits one mail to the hub: prepared beside other sessions, committed
/// through the gate, and durable (group commit) when this returns; what
/// happened to it, in a few words, or why it could not be committed.
async fn commit(shared: &Arc<Shared>, raw: RawMail) -> Result<String, String> {
    let core = shared.core.clone();
    let done = tokio::task::spawn_blocking(move || core.submit(raw, MailMode::Deliver)).await;
    match done {
        Ok(Ok(answer)) => Ok(match answer.outcome {
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
