//! Typed views over inbound mail: headers, the subject forms buildmail
//! recognises, and the parts of an sbuild log mail.
//!
//! Built on mail-parser. Part bodies are kept as bytes: the log is
//! transfer-decoded (quoted-printable, base64) and, when sent as
//! `application/x-gzip`, inflated under a size limit — but never
//! charset-converted, because logs contain invalid UTF-8.
//!
//! mail-parser decodes the charset of every `text/*` part it parses, so for
//! those parts this module goes back to the raw part body
//! (`raw_body_offset()..raw_end_offset()` of the raw message) and undoes only
//! the `Content-Transfer-Encoding`.

use std::borrow::Cow;
use std::io::Read;
use std::sync::LazyLock;

use mail_parser::{HeaderValue, MessagePart, MimeHeaders, PartType};
use regex::Regex;
use serde::{Deserialize, Serialize};

/// Why a mail could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// mail-parser could not make a message of the bytes.
    #[error("not a parseable RFC 5322 message")]
    Unparseable,
    /// A gzip log part inflates past the configured limit (a gzip bomb).
    #[error("the gzip-compressed log inflates past the limit of {limit} bytes; raise `limits.max_log_size` if this log is genuine")]
    LogTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// A gzip log part is corrupt.
    #[error("the gzip-compressed log part is corrupt: {0}")]
    BadGzip(String),
    /// A log mail has no part that holds a log.
    #[error("the mail has no part that holds a build log")]
    NoLog,
}

/// A parsed inbound mail, borrowing the raw bytes.
pub struct Inbound<'a> {
    /// The parsed message.
    pub message: mail_parser::Message<'a>,
}

impl<'a> Inbound<'a> {
    /// Parses raw RFC 5322 bytes.
    ///
    /// mail-parser makes a message of almost anything; this refuses, as
    /// [`MailError::Unparseable`], bytes whose header block holds no
    /// well-formed field (a name of printable ASCII, then a colon), such as
    /// binary garbage or a bare text without headers.
    pub fn parse(raw: &'a [u8]) -> Result<Inbound<'a>, MailError> {
        let message = mail_parser::MessageParser::default()
            .parse(raw)
            .ok_or(MailError::Unparseable)?;
        let has_field = message
            .parts
            .first()
            .is_some_and(|root| root.headers.iter().any(|h| is_well_formed_field(h, raw)));
        if !has_field {
            return Err(MailError::Unparseable);
        }
        Ok(Inbound { message })
    }

    /// The raw bytes of the whole message, exactly as received.
    pub fn raw(&self) -> &[u8] {
        self.message.raw_message.as_ref()
    }

    /// The decoded Subject (RFC 2047 words decoded), or "".
    pub fn subject(&self) -> &str {
        self.message.subject().unwrap_or("")
    }

    /// The Message-ID without angle brackets.
    pub fn message_id(&self) -> Option<&str> {
        self.message.message_id()
    }

    /// The first address of the `From:` header (`local@domain`, no display
    /// name), if there is one.
    pub fn from_address(&self) -> Option<&str> {
        self.message
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
    }

    /// The first address of the `Reply-To:` header, if there is one.
    pub fn reply_to_address(&self) -> Option<&str> {
        self.message
            .reply_to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
    }

    /// The message ids of `In-Reply-To:`, without angle brackets, in order.
    pub fn in_reply_to(&self) -> Vec<&str> {
        self.id_list("In-Reply-To")
    }

    /// The message ids of `References:`, without angle brackets, in order
    /// (oldest first, as written).
    pub fn references(&self) -> Vec<&str> {
        self.id_list("References")
    }

    /// The text of the first top-level header called `name`
    /// (case-insensitive), unfolded and trimmed. Unstructured headers that
    /// mail-parser decodes (Subject, Comments, ...) come RFC 2047-decoded;
    /// every other header comes as written (lossily UTF-8 decoded).
    /// `None` when the header is absent; `Some("")` when it is empty.
    pub fn header_text(&self, name: &str) -> Option<String> {
        let header = self.find_header(name)?;
        match header.value() {
            HeaderValue::Text(text) if is_decoded_unstructured(header.name()) => Some(unfold(text)),
            _ => {
                let raw = self
                    .raw()
                    .get(header.offset_start() as usize..header.offset_end() as usize)
                    .unwrap_or_default();
                Some(unfold(&String::from_utf8_lossy(raw)))
            }
        }
    }

    /// The `Date:` header as a Unix timestamp (seconds, UTC); `None` when
    /// absent or not a valid date.
    pub fn date(&self) -> Option<i64> {
        self.message
            .date()
            .filter(|d| d.is_valid())
            .map(|d| d.to_timestamp())
    }

    /// The `Auto-Submitted:` header as written (`auto-replied`,
    /// `auto-generated; ...`, `no`), if present.
    pub fn auto_submitted(&self) -> Option<String> {
        self.header_text("Auto-Submitted")
    }

    /// True when `Auto-Submitted:` is present with a value other than `no`
    /// (RFC 3834): the mail was sent by a program and must never be answered.
    pub fn is_auto_submitted(&self) -> bool {
        self.auto_submitted().is_some_and(|value| {
            let keyword = value.split(';').next().unwrap_or("").trim();
            !keyword.eq_ignore_ascii_case("no")
        })
    }

    /// The `Precedence:` header as written (`bulk`, `list`, `junk`), if
    /// present.
    pub fn precedence(&self) -> Option<String> {
        self.header_text("Precedence")
    }

    /// The `Key-ID:` header sbuild adds when it was configured to sign.
    pub fn key_id(&self) -> Option<String> {
        self.header_text("Key-ID").filter(|k| !k.is_empty())
    }

    fn find_header(&self, name: &str) -> Option<&mail_parser::Header<'a>> {
        self.message
            .parts
            .first()?
            .headers
            .iter()
            .find(|h| h.name().eq_ignore_ascii_case(name))
    }

    fn id_list(&self, name: &str) -> Vec<&str> {
        let Some(header) = self.find_header(name) else {
            return Vec::new();
        };
        let ids: Vec<&str> = match header.value() {
            HeaderValue::Text(id) => vec![id.as_ref()],
            HeaderValue::TextList(ids) => ids.iter().map(|id| id.as_ref()).collect(),
            _ => Vec::new(),
        };
        let ids: Vec<&str> = ids.into_iter().filter(|id| is_plausible_id(id)).collect();
        if !ids.is_empty() {
            return ids;
        }
        // mail-parser found nothing usable: fall back to every `<...>` token of
        // the raw header (some MUAs add free text around the ids).
        let raw = self
            .raw()
            .get(header.offset_start() as usize..header.offset_end() as usize)
            .unwrap_or_default();
        let Ok(raw) = std::str::from_utf8(raw) else {
            return Vec::new();
        };
        raw.split('<')
            .skip(1)
            .filter_map(|chunk| chunk.split_once('>').map(|(id, _)| id.trim()))
            .filter(|id| is_plausible_id(id))
            .collect()
    }
}

/// An RFC 5322 field: a name of printable ASCII other than `:`, followed
/// by a colon in the raw bytes.
fn is_well_formed_field(header: &mail_parser::Header<'_>, raw: &[u8]) -> bool {
    let name = header.name();
    !name.is_empty()
        && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
        && raw
            .get(header.offset_field() as usize..header.offset_start() as usize)
            .is_some_and(|field| field.contains(&b':'))
}

/// Headers mail-parser parses as unstructured text (RFC 2047-decoded).
fn is_decoded_unstructured(name: &str) -> bool {
    [
        "Subject",
        "Comments",
        "Content-Description",
        "Content-Location",
    ]
    .iter()
    .any(|n| n.eq_ignore_ascii_case(name))
}

/// A message id is non-empty and holds no white space.
fn is_plausible_id(id: &str) -> bool {
    !id.is_empty() && !id.contains(char::is_whitespace)
}

/// RFC 5322 unfolding: drops the line breaks of folded lines, then trims.
fn unfold(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '\r' && *c != '\n')
        .collect::<String>()
        .trim()
        .to_string()
}

/// Decodes bytes lossily as UTF-8, for display only: never store or compare
/// the result in place of the bytes.
pub fn display_text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

// ---------------------------------------------------------------------------
// Subjects
// ---------------------------------------------------------------------------

/// The identity a log mail's subject carries:
/// `Log for <status> build of <src>_<ver>[ source][ on <arch>|on all] (dist=<dist>)`
/// or `... (<archive>/<dist>)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSubject {
    /// The status word: one of `successful`, `attempted`, `given-back`,
    /// `skipped`, `failed` (lower-cased), or an unknown word as written.
    pub status: String,
    /// Source package.
    pub source: String,
    /// Version, epoch and binNMU suffix kept.
    pub version: String,
    /// `on <arch>` (`Some("all")` for `on all`); `None` when absent.
    pub arch: Option<String>,
    /// ` source` was present (a source-only build).
    pub source_only: bool,
    /// `on all` was present (arch-independent build).
    pub arch_all: bool,
    /// The distribution.
    pub dist: String,
    /// The archive of the `(<archive>/<dist>)` form.
    pub archive: Option<String>,
}

impl LogSubject {
    /// The architecture of the subject, or `default` when the subject names
    /// none (the configured default architecture).
    pub fn arch_or<'s>(&'s self, default: &'s str) -> &'s str {
        self.arch.as_deref().unwrap_or(default)
    }
}

/// The status words sbuild writes; matched case-insensitively and stored
/// lower-cased.
const KNOWN_STATUSES: [&str; 5] = ["successful", "attempted", "given-back", "skipped", "failed"];

/// The reply prefixes tolerated before a subject (`Re:`, `RE:`, `AW:`,
/// `Fwd:`, `Fw:`, in any case and any chain).
const REPLY_PREFIXES: &str = r"(?:(?:re|aw|fwd?)[ ]?:[ ]?)+";

/// Source package names (Debian policy: lower case only).
const SOURCE_RE: &str = r"(?-i:[a-z0-9][a-z0-9+.-]+)";
/// Debian versions, epoch and binNMU suffix included.
const VERSION_RE: &str = r"[0-9][a-z0-9.+~:-]*";
/// Distribution and archive names.
const DIST_RE: &str = r"[a-z0-9][a-z0-9.+_~-]*";

static LOG_SUBJECT_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)^log for (?P<status>[a-z][a-z-]*) build of (?P<src>{SOURCE_RE})_(?P<ver>{VERSION_RE})(?P<srconly> source)?(?: on (?P<arch>(?-i:[a-z0-9][a-z0-9-]*)|all))? \((?:dist=(?P<dist>{DIST_RE})|(?P<archive>{DIST_RE})/(?P<adist>{DIST_RE}))\)$"
    ))
    .ok()
});

static REPLY_PREFIX_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(&format!(r"(?i)^{REPLY_PREFIXES}")).ok());

static SHOULD_BUILD_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)^should i build (?P<src>{SOURCE_RE})_(?P<ver>{VERSION_RE}) \(dist=(?P<dist>{DIST_RE})\) ?\??$"
    ))
    .ok()
});

/// Collapses every run of white space (folding included) to one space and
/// trims the ends.
fn collapse_ws(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Strips a non-empty chain of reply/forward prefixes; `None` when there is
/// none.
fn strip_reply_prefixes(subject: &str) -> Option<&str> {
    let re = REPLY_PREFIX_RE.as_ref()?;
    let m = re.find(subject)?;
    subject.get(m.end()..)
}

/// Parses a log-mail subject. Returns `None` when the subject is not one
/// (replies such as `Re: Log for ...` included: see [`parse_reply_subject`]).
///
/// Keywords match case-insensitively, white space (also from header folding)
/// is collapsed, source and architecture names must be lower case (Debian
/// policy), and the version keeps its epoch and binNMU suffix.
pub fn parse_log_subject(subject: &str) -> Option<LogSubject> {
    parse_log_subject_collapsed(&collapse_ws(subject))
}

fn parse_log_subject_collapsed(subject: &str) -> Option<LogSubject> {
    let caps = LOG_SUBJECT_RE.as_ref()?.captures(subject)?;
    let status_written = caps.name("status")?.as_str();
    let status = KNOWN_STATUSES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(status_written))
        .map_or_else(|| status_written.to_string(), |s| (*s).to_string());
    let arch = caps.name("arch").map(|a| {
        if a.as_str().eq_ignore_ascii_case("all") {
            "all".to_string()
        } else {
            a.as_str().to_string()
        }
    });
    let (dist, archive) = match (caps.name("dist"), caps.name("archive"), caps.name("adist")) {
        (Some(dist), _, _) => (dist.as_str().to_string(), None),
        (None, Some(archive), Some(dist)) => (
            dist.as_str().to_string(),
            Some(archive.as_str().to_string()),
        ),
        _ => return None,
    };
    Some(LogSubject {
        status,
        source: caps.name("src")?.as_str().to_string(),
        version: caps.name("ver")?.as_str().to_string(),
        arch_all: arch.as_deref() == Some("all"),
        arch,
        source_only: caps.name("srconly").is_some(),
        dist,
        archive,
    })
}

/// Parses the subject of a reply to a log mail: one or more `Re:`/`RE:`/
/// `AW:`/`Fwd:`/`Fw:` prefixes (any case, any chain), then a log subject.
/// `None` without a prefix or when the rest is not a log subject.
pub fn parse_reply_subject(subject: &str) -> Option<LogSubject> {
    let collapsed = collapse_ws(subject);
    let rest = strip_reply_prefixes(&collapsed)?;
    parse_log_subject_collapsed(rest)
}

/// Parses the subject of a reply to a should-build question,
/// `Re: Should I build <src>_<ver> (dist=<dist>)?`, into
/// `(source, version, dist)`. A reply prefix chain (as for
/// [`parse_reply_subject`]) is required; the final `?` is optional.
pub fn parse_should_build_subject(subject: &str) -> Option<(String, String, String)> {
    let collapsed = collapse_ws(subject);
    let rest = strip_reply_prefixes(&collapsed)?;
    let caps = SHOULD_BUILD_RE.as_ref()?.captures(rest)?;
    Some((
        caps.name("src")?.as_str().to_string(),
        caps.name("ver")?.as_str().to_string(),
        caps.name("dist")?.as_str().to_string(),
    ))
}

/// What an archive or upload-queue mail says about an upload (design §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveSubject {
    /// `<name>.changes ACCEPTED into <suite>` or `<name>.changes INSTALLED`.
    Accepted {
        /// The `.changes` file name.
        changes: String,
    },
    /// `<name>.changes REJECTED`.
    Rejected {
        /// The `.changes` file name.
        changes: String,
    },
    /// `<name>.changes is NEW`.
    New {
        /// The `.changes` file name.
        changes: String,
    },
    /// `Processing of <name>.changes` (success iff the body says
    /// "uploaded successfully").
    Processing {
        /// The `.changes` file name.
        changes: String,
    },
}

impl ArchiveSubject {
    /// The `.changes` file name the mail is about.
    pub fn changes(&self) -> &str {
        match self {
            ArchiveSubject::Accepted { changes }
            | ArchiveSubject::Rejected { changes }
            | ArchiveSubject::New { changes }
            | ArchiveSubject::Processing { changes } => changes,
        }
    }
}

/// `.changes` file names as they appear in archive subjects.
const CHANGES_RE: &str = r"(?P<changes>[A-Za-z0-9][A-Za-z0-9.+~_-]*\.changes)";

static ARCHIVE_SUBJECT_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)^(?:(?:re|aw|fwd?)[ ]?:[ ]?)*(?:processing of {CHANGES_RE}|{CHANGES_RE_2} (?P<what>accepted(?: into \S+)?|installed(?: into \S+)?|rejected|is new)\.?)$",
        CHANGES_RE_2 = CHANGES_RE.replace("?P<changes>", "?P<changes2>")
    ))
    .ok()
});

/// Parses the subject of a mail from the archive (dak) or the upload-queue
/// daemon. `None` when the subject is none of those.
pub fn parse_archive_subject(subject: &str) -> Option<ArchiveSubject> {
    let collapsed = collapse_ws(subject);
    let caps = ARCHIVE_SUBJECT_RE.as_ref()?.captures(&collapsed)?;
    if let Some(c) = caps.name("changes") {
        return Some(ArchiveSubject::Processing {
            changes: c.as_str().to_string(),
        });
    }
    let changes = caps.name("changes2")?.as_str().to_string();
    let what = caps.name("what")?.as_str().to_ascii_lowercase();
    Some(
        if what.starts_with("accepted") || what.starts_with("installed") {
            ArchiveSubject::Accepted { changes }
        } else if what == "rejected" {
            ArchiveSubject::Rejected { changes }
        } else {
            ArchiveSubject::New { changes }
        },
    )
}

/// The first text part of a mail, transfer-decoded and lossily UTF-8, at
/// most `limit` bytes: the text of archive mails and bounces.
pub fn body_text(mail: &Inbound<'_>, limit: usize) -> String {
    let text = match reply_body(mail) {
        ReplyBody::Inline { text, .. } => text.unwrap_or_default(),
        ReplyBody::PgpMime(p) => Cow::Owned(entity_text(&p.signed).unwrap_or_default()),
    };
    let cut = text.get(..limit.min(text.len())).unwrap_or_default();
    String::from_utf8_lossy(cut).into_owned()
}

// ---------------------------------------------------------------------------
// Log parts
// ---------------------------------------------------------------------------

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
enum PartRole {
    TextLog,
    GzipLog,
    Changes,
    Summary,
    Other,
}

/// Content types that carry a gzip-compressed log.
fn is_gzip_type(ctype: &str, subtype: &str) -> bool {
    ctype.eq_ignore_ascii_case("application")
        && ["x-gzip", "gzip", "x-gunzip", "gzip-compressed"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(subtype))
}

fn part_role(part: &MessagePart<'_>) -> PartRole {
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
fn decoded_body<'a>(raw: &'a [u8], part: &MessagePart<'_>) -> Cow<'a, [u8]> {
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

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

fn decode_qp_line(mut line: &[u8], out: &mut Vec<u8>) {
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

/// The log, the compressed bytes when it came gzipped.
type Log<'a> = (Cow<'a, [u8]>, Option<Cow<'a, [u8]>>);

fn extract_log<'a>(
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
fn has_log_name(part: &MessagePart<'_>) -> bool {
    let name = part.attachment_name().unwrap_or("").to_ascii_lowercase();
    name.ends_with(".build") || name.ends_with(".log")
}

/// A root declared `multipart/*` whose boundary never appears: mail-parser
/// keeps it as one text body, which then holds whatever log there is.
fn root_is_multipart_type(root: &MessagePart<'_>) -> bool {
    root.content_type()
        .is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("multipart"))
}

/// A PGP/MIME signed message (RFC 3156): the exact signed entity and its
/// detached signature.
#[derive(Debug)]
pub struct PgpMime<'a> {
    /// The signed MIME entity, headers included, exactly as it stands in the
    /// mail (without the CRLF that belongs to the boundary), with line
    /// endings canonicalised to CRLF as RFC 3156 requires.
    pub signed: Cow<'a, [u8]>,
    /// The detached signature (the `application/pgp-signature` part,
    /// transfer-decoded).
    pub signature: Cow<'a, [u8]>,
    /// How many parts of the mail lie outside the signed entity (never
    /// used; reported to the sender).
    pub unsigned_parts: usize,
}

/// Canonicalises line endings to CRLF: a bare LF (or bare CR) becomes CRLF.
pub fn canonical_crlf(bytes: &[u8]) -> Cow<'_, [u8]> {
    let mut bare = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => i += 1,
            b'\r' | b'\n' => {
                bare = true;
                break;
            }
            _ => {}
        }
        i += 1;
    }
    if !bare {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 20);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// Finds the first `multipart/signed; protocol="application/pgp-signature"`
/// part of a mail and returns its signed entity and signature. `None` when
/// the mail is not PGP/MIME signed (or the structure is broken: not two
/// sub-parts, or the second is not `application/pgp-signature`).
pub fn pgp_mime<'a>(mail: &'a Inbound<'a>) -> Option<PgpMime<'a>> {
    let raw = mail.raw();
    let parts = &mail.message.parts;
    let (index, signed_part) = parts.iter().enumerate().find(|(_, p)| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("signed"))
                && ct
                    .attribute("protocol")
                    .is_some_and(|pr| pr.trim().eq_ignore_ascii_case("application/pgp-signature"))
        })
    })?;
    let PartType::Multipart(children) = &signed_part.body else {
        return None;
    };
    let (Some(&entity_id), Some(&sig_id)) = (children.first(), children.get(1)) else {
        return None;
    };
    let entity = parts.get(entity_id as usize)?;
    let sig = parts.get(sig_id as usize)?;
    let is_sig = sig.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("application")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("pgp-signature"))
    });
    if !is_sig || children.len() != 2 {
        return None;
    }
    let signed = raw.get(entity.raw_header_offset() as usize..entity.raw_end_offset() as usize)?;
    // Parts inside the signed entity (it may be multipart itself).
    let inside = |id: usize| {
        parts.get(id).is_some_and(|p| {
            p.raw_header_offset() >= entity.raw_header_offset()
                && p.raw_end_offset() <= entity.raw_end_offset()
        })
    };
    let unsigned_parts = parts
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            *i != index
                && *i != sig_id as usize
                && !inside(*i)
                && !matches!(p.body, PartType::Multipart(_))
        })
        .count();
    Some(PgpMime {
        signed: canonical_crlf(signed),
        signature: decoded_body(raw, sig),
        unsigned_parts,
    })
}

/// The body of an admin reply, as buildmail reads it.
#[derive(Debug)]
pub enum ReplyBody<'a> {
    /// A PGP/MIME signed message (RFC 3156).
    PgpMime(PgpMime<'a>),
    /// Anything else: the text that holds the answer, and how many other
    /// leaf parts the mail has (ignored, and reported).
    Inline {
        /// The chosen text, transfer-decoded (charset untouched): the first
        /// text part holding a clearsigned block (a `*.changes` attachment
        /// counts as text), else the first text part. `None` when the mail
        /// has no text at all.
        text: Option<Cow<'a, [u8]>>,
        /// Leaf parts besides the chosen one.
        other_parts: usize,
    },
}

/// The line that opens a clearsigned block.
const CLEARSIGN_LINE: &[u8] = b"-----BEGIN PGP SIGNED MESSAGE-----";

/// Whether a leaf part may carry the text of an answer: `text/*` but HTML,
/// no type at all, or an attachment named `*.changes` / `*.asc`.
fn is_answer_text(part: &MessagePart<'_>) -> bool {
    let name = part.attachment_name().unwrap_or("").to_ascii_lowercase();
    if name.ends_with(".changes") || name.ends_with(".asc") {
        return true;
    }
    part.content_type().is_none_or(|ct| {
        ct.ctype().eq_ignore_ascii_case("text")
            && !ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("html"))
    })
}

/// Finds the text of an admin reply: PGP/MIME when the mail is
/// `multipart/signed`, else the part holding a clearsigned block, else the
/// first text part. Nested structures (the answer inside
/// `multipart/mixed`, a forwarded part) are searched in order.
pub fn reply_body<'a>(mail: &'a Inbound<'a>) -> ReplyBody<'a> {
    if let Some(p) = pgp_mime(mail) {
        return ReplyBody::PgpMime(p);
    }
    let raw = mail.raw();
    let leaves: Vec<&MessagePart<'_>> = mail
        .message
        .parts
        .iter()
        .filter(|p| !matches!(p.body, PartType::Multipart(_) | PartType::Message(_)))
        .collect();
    let texts: Vec<(usize, Cow<'a, [u8]>)> = leaves
        .iter()
        .enumerate()
        .filter(|(_, p)| is_answer_text(p))
        .map(|(i, p)| (i, decoded_body(raw, p)))
        .collect();
    let signed = texts
        .iter()
        .position(|(_, t)| memchr::memmem::find(t, CLEARSIGN_LINE).is_some());
    let chosen = signed.or(if texts.is_empty() { None } else { Some(0) });
    let text = chosen
        .and_then(|i| texts.into_iter().nth(i))
        .map(|(_, t)| t);
    let other_parts = leaves.len().saturating_sub(usize::from(text.is_some()));
    ReplyBody::Inline { text, other_parts }
}

/// The text of a MIME entity (the signed part of a PGP/MIME message): its
/// first text part, transfer-decoded. `None` when it holds no text.
pub fn entity_text(entity: &[u8]) -> Option<Vec<u8>> {
    let inner = Inbound::parse(entity).ok()?;
    match reply_body(&inner) {
        ReplyBody::Inline { text, .. } => text.map(Cow::into_owned),
        ReplyBody::PgpMime(p) => entity_text(&p.signed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexes_compile() {
        assert!(LOG_SUBJECT_RE.is_some());
        assert!(REPLY_PREFIX_RE.is_some());
        assert!(SHOULD_BUILD_RE.is_some());
        assert!(ARCHIVE_SUBJECT_RE.is_some());
    }

    #[test]
    fn archive_subjects() {
        let p = parse_archive_subject;
        assert_eq!(
            p("hello_1.0-1_amd64.changes ACCEPTED into unstable"),
            Some(ArchiveSubject::Accepted {
                changes: "hello_1.0-1_amd64.changes".into()
            })
        );
        assert_eq!(
            p("hello_1.0-1_amd64.changes INSTALLED"),
            Some(ArchiveSubject::Accepted {
                changes: "hello_1.0-1_amd64.changes".into()
            })
        );
        assert_eq!(
            p("hello_1.0-1_amd64.changes REJECTED"),
            Some(ArchiveSubject::Rejected {
                changes: "hello_1.0-1_amd64.changes".into()
            })
        );
        assert_eq!(
            p("hello_1.0-1_amd64.changes is NEW"),
            Some(ArchiveSubject::New {
                changes: "hello_1.0-1_amd64.changes".into()
            })
        );
        assert_eq!(
            p("Processing of hello_1.0-1_amd64.changes"),
            Some(ArchiveSubject::Processing {
                changes: "hello_1.0-1_amd64.changes".into()
            })
        );
        assert_eq!(p("hello.changes is great"), None);
        assert_eq!(p("Log for successful build of a_1 (dist=sid)"), None);
    }

    #[test]
    fn qp_keeps_line_endings_and_bare_cr() {
        assert_eq!(decode_quoted_printable(b"a=3Db\r\nc\nd"), b"a=b\r\nc\nd");
        assert_eq!(decode_quoted_printable(b"ab=\ncd=\r\nef"), b"abcdef");
        assert_eq!(decode_quoted_printable(b"x\ry=0D\n"), b"x\ry\r\n");
        assert_eq!(
            decode_quoted_printable(b"1+1=2 =ff=FE  \n"),
            b"1+1=2 \xff\xfe\n"
        );
        assert_eq!(decode_quoted_printable(b"soft = \nnext"), b"soft next");
        assert_eq!(decode_quoted_printable(b"="), b"");
        assert_eq!(decode_quoted_printable(b"=4"), b"=4");
    }

    #[test]
    fn base64_tolerates_stray_bytes() {
        assert_eq!(decode_base64(b"aGVs\r\nbG8=\r\n"), b"hello");
        assert_eq!(decode_base64(b"aGVs!bG8="), b"hello");
    }

    #[test]
    fn unfold_drops_line_breaks() {
        assert_eq!(unfold(" a\r\n b\n\tc \r\n"), "a b\tc");
    }
}
