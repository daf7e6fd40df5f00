//! The parts of a log mail: the log (plain, QP, base64 or gzip, inflated
//! under a limit), the `.changes` and the `.summary`; transfer decodings.

use crate::inbound::mail::Inbound;
use crate::inbound::mail::Log;
use crate::inbound::mail::MailError;
use mail_parser::{MessagePart, MimeHeaders, PartType};
use std::borrow::Cow;
use std::io::Read;

/// Size limits applied while extracting parts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest decompressed log accepted, in bytes. Applies to gzip log
    /// parts (a plain log is already in memory as part of the mail).
    pub max_log_size: u64,
    /// Largest ratio of decompressed to compressed size accepted for a
    /// log over [`RATIO_FREE`] (0: no ratio limit).
    pub max_log_ratio: u64,
}

impl Default for Limits {
    /// 512 MiB, at most 100 times the compressed size: larger than any
    /// genuine build log seen on Debian buildds.
    fn default() -> Self {
        Limits {
            max_log_size: 512 * 1024 * 1024,
            max_log_ratio: 100,
        }
    }
}

/// A compressed log may always inflate to this size, whatever its ratio.
pub const RATIO_FREE: u64 = 64 << 20;

/// How much of the start of an inflated log is kept: the sbuild header
/// (its fields are in the first few kilobytes).
pub const LOG_HEAD: usize = 1 << 20;

/// How much of the end of an inflated log is kept: the failing step, the
/// `.changes`, the package contents and the Summary.
pub const LOG_TAIL: usize = 16 << 20;

/// The parts of an sbuild log mail.
#[derive(Debug)]
pub struct LogParts<'a> {
    /// The log bytes, transfer-decoded and inflated; charset untouched. An
    /// inflated log over [`LOG_HEAD`] + [`LOG_TAIL`] keeps only its start
    /// and end.
    pub log: Cow<'a, [u8]>,
    /// The log arrived gzip-compressed (the compressed bytes are kept here).
    pub gzip: Option<Cow<'a, [u8]>>,
    /// The whole log's size: more than `log.len()` when only its start and
    /// end were kept ([`inflate_log`]).
    pub log_size: u64,
    /// The process's large-log turn, for a large inflated log: keep it as
    /// long as the log.
    pub large: Option<LargeLog>,
    /// The `.changes` part, if any.
    pub changes: Option<Cow<'a, [u8]>>,
    /// The `<log>.summary` part, if any.
    pub summary: Option<Cow<'a, [u8]>>,
    /// The `Key-ID:` header, if any.
    pub key_id: Option<String>,
}

/// What a MIME part of a log mail holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PartRole {
    TextLog,
    GzipLog,
    Changes,
    Summary,
    Other,
}

/// Content types that carry a gzip-compressed log.
pub(super) fn is_gzip_type(ctype: &str, subtype: &str) -> bool {
    ctype.eq_ignore_ascii_case("application")
        && ["x-gzip", "gzip", "x-gunzip", "gzip-compressed"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(subtype))
}

pub(super) fn part_role(part: &MessagePart<'_>) -> PartRole {
    let name = part.attachment_name().unwrap_or("").to_ascii_lowercase();
    let (ctype, subtype) = part
        .content_type()
        .map(|ct| (ct.ctype(), ct.subtype().unwrap_or("")))
        .unwrap_or(("text", "plain"));
    if name.ends_with(".summary") {
        PartRole::Summary
    } else if name.ends_with(".changes") {
        PartRole::Changes
    } else if is_gzip_type(ctype, subtype)
        || (ctype.eq_ignore_ascii_case("application")
            && subtype.eq_ignore_ascii_case("octet-stream")
            && name.ends_with(".gz"))
    {
        PartRole::GzipLog
    } else if ctype.eq_ignore_ascii_case("text") && !subtype.eq_ignore_ascii_case("html") {
        PartRole::TextLog
    } else {
        PartRole::Other
    }
}

/// The transfer-decoded body of a part, borrowed when the part had an
/// identity encoding (7bit, 8bit, binary, none).
pub(super) fn decoded_body<'a>(raw: &'a [u8], part: &MessagePart<'_>) -> Cow<'a, [u8]> {
    let body = raw
        .get(part.raw_body_offset() as usize..part.raw_end_offset() as usize)
        .unwrap_or_default();
    let cte = part
        .content_transfer_encoding()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match cte.as_str() {
        "base64" => Cow::Owned(decode_base64(body)),
        "quoted-printable" => Cow::Owned(decode_quoted_printable(body)),
        _ => Cow::Borrowed(body),
    }
}

/// Base64 with mail-parser's decoder; when that refuses the text (stray
/// characters), decodes again with every byte outside the alphabet skipped,
/// as mail readers do.
pub fn decode_base64(body: &[u8]) -> Vec<u8> {
    if let Some(decoded) = mail_parser::decoders::base64::base64_decode(body) {
        return decoded;
    }
    let clean: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        .collect();
    mail_parser::decoders::base64::base64_decode(&clean).unwrap_or_default()
}

/// Quoted-printable (RFC 2045 §6.7), byte-exact and tolerant.
///
/// mail-parser's own decoder is not used: it drops bare `\r` bytes, rewrites
/// `\n` to `\r\n` once it has seen a `\r`, and gives up on a malformed `=`.
/// This one keeps every line ending as written, removes soft line breaks
/// (`=` at the end of a line) and the transport padding (unencoded white
/// space at the end of a line), decodes `=XY` (either case) and keeps any
/// other `=` literally.
pub fn decode_quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|b| *b == b'\n') {
        let (content, ending): (&[u8], &[u8]) = if let Some(c) = line.strip_suffix(b"\r\n") {
            (c, b"\r\n")
        } else if let Some(c) = line.strip_suffix(b"\n") {
            (c, b"\n")
        } else {
            (line, b"")
        };
        let mut content = content;
        while let Some(c) = content
            .strip_suffix(b" ")
            .or_else(|| content.strip_suffix(b"\t"))
        {
            content = c;
        }
        let (content, soft) = match content.strip_suffix(b"=") {
            Some(c) => (c, true),
            None => (content, false),
        };
        decode_qp_line(content, &mut out);
        if !soft {
            out.extend_from_slice(ending);
        }
    }
    out
}

pub(super) fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

pub(super) fn decode_qp_line(mut line: &[u8], out: &mut Vec<u8>) {
    while let Some((&b, rest)) = line.split_first() {
        if b == b'=' {
            if let [h1, h2, tail @ ..] = rest {
                if let (Some(hi), Some(lo)) = (hex_value(*h1), hex_value(*h2)) {
                    out.push((hi << 4) | lo);
                    line = tail;
                    continue;
                }
            }
        }
        out.push(b);
        line = rest;
    }
}

/// A compressed log, inflated in bounded memory.
#[derive(Debug)]
pub struct Inflated {
    /// The log; for a log over [`LOG_HEAD`] + [`LOG_TAIL`] bytes, its first
    /// and last lines up to those sizes, joined by a line that says how
    /// much was left out (the archive keeps the compressed log whole).
    pub bytes: Vec<u8>,
    /// The whole log's size.
    pub size: u64,
    /// For a log over [`LOG_HEAD`] + 1 MiB: the process's one large-log
    /// turn, held for as long as the caller keeps the log.
    pub large: Option<LargeLog>,
}

/// The one large log a process may hold at a time ([`inflate_log`]): kept
/// beside the log until the log is dropped, so that `import`'s parallel
/// preparers never hold several large logs at once.
pub struct LargeLog {
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl std::fmt::Debug for LargeLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LargeLog")
    }
}

/// Held while a log inflates past [`LOG_HEAD`] + 1 MiB: one large log at
/// a time per process, so that `import`'s parallel preparers (or a mailbox
/// of bombs) never hold several windows at once. Smaller logs, nearly all
/// of them, never wait for it.
static LARGE_LOG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The last [`LOG_TAIL`] bytes written to it: a ring buffer.
struct Tail {
    /// At most [`LOG_TAIL`] bytes.
    ring: Vec<u8>,
    /// Where the oldest byte is, once the ring is full.
    start: usize,
}

impl Tail {
    fn push(&mut self, mut chunk: &[u8]) {
        if chunk.len() >= LOG_TAIL {
            chunk = chunk.get(chunk.len() - LOG_TAIL..).unwrap_or_default();
            self.ring.clear();
            self.start = 0;
        }
        let room = LOG_TAIL.saturating_sub(self.ring.len());
        let (fill, mut rest) = chunk.split_at(room.min(chunk.len()));
        self.ring.extend_from_slice(fill);
        // Full: overwrite the oldest bytes, wrapping around.
        while !rest.is_empty() {
            let n = (LOG_TAIL - self.start).min(rest.len());
            let (now, later) = rest.split_at(n);
            if let Some(dst) = self.ring.get_mut(self.start..self.start + n) {
                dst.copy_from_slice(now);
            }
            self.start = (self.start + n) % LOG_TAIL;
            rest = later;
        }
    }

    /// The bytes in order.
    fn into_bytes(mut self) -> Vec<u8> {
        self.ring.rotate_left(self.start);
        self.ring
    }
}

/// Inflates a gzip log in 64 KiB steps. A log of up to [`LOG_HEAD`] +
/// [`LOG_TAIL`] bytes is kept whole, in one buffer; of a larger one only
/// its first [`LOG_HEAD`] and last [`LOG_TAIL`] bytes are ever held, and
/// only one such log per process at a time. A log larger than
/// `limits.max_log_size`, or over [`RATIO_FREE`] and more than
/// `limits.max_log_ratio` times its compressed size (a gzip bomb), is
/// refused as soon as it passes the limit.
pub fn inflate_log(data: &[u8], limits: Limits) -> Result<Inflated, MailError> {
    if data.is_empty() {
        return Err(MailError::BadGzip("the gzip part is empty".to_string()));
    }
    let mut reader = flate2::read::MultiGzDecoder::new(data);
    window_log(&mut reader, data.len() as u64, limits)
}

/// [`inflate_log`] over any decompressing reader (`compressed`: the size
/// of what it reads, for the ratio limit): the archive reads back logs it
/// compressed with zstd the same way.
pub fn window_log(
    reader: &mut dyn Read,
    compressed: u64,
    limits: Limits,
) -> Result<Inflated, MailError> {
    let ratio_limit = match limits.max_log_ratio {
        0 => u64::MAX,
        r => compressed.saturating_mul(r).max(RATIO_FREE),
    };
    let limit = limits.max_log_size.min(ratio_limit);
    // The whole log while it fits; then its head, and `tail` the rest.
    let mut log: Vec<u8> = Vec::new();
    let mut tail: Option<Tail> = None;
    let mut size = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    let mut large = None;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(MailError::BadGzip(e.to_string())),
        };
        size = size.saturating_add(n as u64);
        if size > limit {
            return Err(if limit < limits.max_log_size {
                MailError::LogRatio {
                    ratio: limits.max_log_ratio,
                }
            } else {
                MailError::LogTooLarge {
                    limit: limits.max_log_size,
                }
            });
        }
        if large.is_none() && size > (LOG_HEAD as u64) + (1 << 20) {
            large = Some(LargeLog {
                _turn: LARGE_LOG
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            });
        }
        let chunk = buf.get(..n).unwrap_or_default();
        match &mut tail {
            Some(t) => t.push(chunk),
            None if log.len() + chunk.len() <= LOG_HEAD + LOG_TAIL => {
                log.extend_from_slice(chunk);
            }
            None => {
                // Too large to keep whole: the buffer past the head becomes
                // the tail's ring (moved in place, not copied).
                let head = log.get(..LOG_HEAD).unwrap_or_default().to_vec();
                log.drain(..LOG_HEAD.min(log.len()));
                let mut t = Tail {
                    ring: std::mem::replace(&mut log, head),
                    start: 0,
                };
                t.push(chunk);
                tail = Some(t);
            }
        }
    }
    let Some(tail) = tail else {
        return Ok(Inflated {
            bytes: log,
            size,
            large,
        });
    };
    let mut tail = tail.into_bytes();
    let mut head = log;
    // Whole lines only on either side of the gap.
    let cut = memchr::memchr(b'\n', &tail).map_or(0, |i| i + 1);
    if let Some(i) = memchr::memrchr(b'\n', &head) {
        head.truncate(i + 1);
    }
    let omitted = size - head.len() as u64 - (tail.len() - cut) as u64;
    head.extend_from_slice(
        format!("[... buildmail: {omitted} bytes of the log left out here; the archived log is whole ...]\n")
            .as_bytes(),
    );
    // The head goes in front of the tail in the tail's own buffer (moved
    // in place), not both copied into a third.
    tail.splice(..cut, head);
    Ok(Inflated {
        bytes: tail,
        size,
        large,
    })
}

pub(super) fn extract_log<'a>(
    raw: &'a [u8],
    part: &'a MessagePart<'a>,
    role: PartRole,
    limits: Limits,
) -> Result<Log<'a>, MailError> {
    if role == PartRole::GzipLog {
        // mail-parser has decoded a binary part already: no second copy,
        // unless its decoder gave up on the text (then ours, lenient).
        let body = match &part.body {
            PartType::Binary(b) | PartType::InlineBinary(b) if b.starts_with(&[0x1f, 0x8b]) => {
                Cow::Borrowed(b.as_ref())
            }
            _ => decoded_body(raw, part),
        };
        let log = inflate_log(&body, limits)?;
        Ok((Cow::Owned(log.bytes), Some(body), log.size, log.large))
    } else {
        let body = decoded_body(raw, part);
        let size = body.len() as u64;
        Ok((body, None, size, None))
    }
}

/// Extracts the log, `.changes` and summary parts of a log mail.
///
/// A single-part mail holds the log as its body (`text/*` or no type), or
/// gzip-compressed (`application/x-gzip`). In a multipart mail the log is
/// the first part named like a log (a `text/*` part named `*.build` or
/// `*.log`, or a gzip part), else the first `text/*` part (not HTML) that
/// is not named `*.changes` / `*.summary`; the `.changes` and `.summary`
/// parts are found by file name. Only the chosen log part is inflated.
/// Bodies are transfer-decoded only, never charset-converted.
pub fn log_parts<'a>(mail: &'a Inbound<'a>, limits: Limits) -> Result<LogParts<'a>, MailError> {
    let raw = mail.raw();
    let key_id = mail.key_id();
    let root = mail.message.parts.first().ok_or(MailError::NoLog)?;

    if matches!(root.body, PartType::Message(_)) {
        return Err(MailError::NoLog);
    }
    if !matches!(root.body, PartType::Multipart(_)) {
        let role = match part_role(root) {
            PartRole::GzipLog => PartRole::GzipLog,
            PartRole::Other if !root_is_multipart_type(root) => return Err(MailError::NoLog),
            _ => PartRole::TextLog,
        };
        let (log, gzip, log_size, large) = extract_log(raw, root, role, limits)?;
        return Ok(LogParts {
            log,
            gzip,
            log_size,
            large,
            changes: None,
            summary: None,
            key_id,
        });
    }

    // The log part: the first part named like a log (`*.build`, `*.log`,
    // a gzip part), else the first other text part.
    let mut named_log: Option<(&MessagePart<'_>, PartRole)> = None;
    let mut first_text: Option<&MessagePart<'_>> = None;
    let mut changes = None;
    let mut summary = None;
    for part in mail.message.parts.iter().skip(1) {
        if matches!(part.body, PartType::Multipart(_) | PartType::Message(_)) {
            continue;
        }
        match part_role(part) {
            PartRole::Summary if summary.is_none() => summary = Some(decoded_body(raw, part)),
            PartRole::Changes if changes.is_none() => changes = Some(decoded_body(raw, part)),
            PartRole::GzipLog if named_log.is_none() => named_log = Some((part, PartRole::GzipLog)),
            PartRole::TextLog => {
                if named_log.is_none() && has_log_name(part) {
                    named_log = Some((part, PartRole::TextLog));
                }
                if first_text.is_none() {
                    first_text = Some(part);
                }
            }
            _ => {}
        }
    }
    let (part, role) = named_log
        .or(first_text.map(|p| (p, PartRole::TextLog)))
        .ok_or(MailError::NoLog)?;
    let (log, gzip, log_size, large) = extract_log(raw, part, role, limits)?;
    Ok(LogParts {
        log,
        gzip,
        log_size,
        large,
        changes,
        summary,
        key_id,
    })
}

/// The part's file name ends in `.build` or `.log` (sbuild's log names).
pub(super) fn has_log_name(part: &MessagePart<'_>) -> bool {
    let name = part.attachment_name().unwrap_or("").to_ascii_lowercase();
    name.ends_with(".build") || name.ends_with(".log")
}

/// A root declared `multipart/*` whose boundary never appears: mail-parser
/// keeps it as one text body, which then holds whatever log there is.
pub(super) fn root_is_multipart_type(root: &MessagePart<'_>) -> bool {
    root.content_type()
        .is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("multipart"))
}
