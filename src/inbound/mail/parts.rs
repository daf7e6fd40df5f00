//! The parts of a log mail: the log (plain, QP, base64 or gzip, inflated
//! under a limit), the `.changes` and the `.summary`; transfer decodings.

#[allow(unused_imports)]
use super::*;
use mail_parser::{MessagePart, MimeHeaders, PartType};
use std::borrow::Cow;
use std::io::Read;

/// Size limits applied while extracting parts.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest decompressed log accepted, in bytes. Applies to gzip log
    /// parts (a plain log is already in memory as part of the mail).
    pub max_log_size: u64,
}

impl Default for Limits {
    /// 512 MiB: larger than any genuine build log seen on Debian buildds.
    fn default() -> Self {
        Limits {
            max_log_size: 512 * 1024 * 1024,
        }
    }
}

/// The parts of an sbuild log mail.
#[derive(Debug)]
pub struct LogParts<'a> {
    /// The log bytes, transfer-decoded and inflated; charset untouched.
    pub log: Cow<'a, [u8]>,
    /// The log arrived gzip-compressed (the compressed bytes are kept here).
    pub gzip: Option<Cow<'a, [u8]>>,
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

/// Inflates a gzip log through a reader capped at `limit + 1` bytes, so a
/// gzip bomb is refused after reading just past the limit.
pub fn inflate_log(data: &[u8], limit: u64) -> Result<Vec<u8>, MailError> {
    if data.is_empty() {
        return Err(MailError::BadGzip("the gzip part is empty".to_string()));
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| MailError::BadGzip(e.to_string()))?;
    if out.len() as u64 > limit {
        return Err(MailError::LogTooLarge { limit });
    }
    Ok(out)
}

pub(super) fn extract_log<'a>(
    raw: &'a [u8],
    part: &MessagePart<'_>,
    role: PartRole,
    limits: Limits,
) -> Result<Log<'a>, MailError> {
    let body = decoded_body(raw, part);
    if role == PartRole::GzipLog {
        let log = inflate_log(&body, limits.max_log_size)?;
        Ok((Cow::Owned(log), Some(body)))
    } else {
        Ok((body, None))
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
        let (log, gzip) = extract_log(raw, root, role, limits)?;
        return Ok(LogParts {
            log,
            gzip,
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
    let (log, gzip) = extract_log(raw, part, role, limits)?;
    Ok(LogParts {
        log,
        gzip,
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
