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

use mail_parser::HeaderValue;

mod parts;
mod pgp_mime;
mod subject;
pub use parts::*;
pub use pgp_mime::*;
pub use subject::*;

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
    /// A gzip log part inflates past its ratio limit (a gzip bomb).
    #[error("the gzip-compressed log inflates to more than {ratio} times its compressed size (and over 64 MiB), as a gzip bomb does; raise `limits.max_log_ratio` if this log is genuine")]
    LogRatio {
        /// The ratio limit.
        ratio: u64,
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

/// The first text part of a mail, transfer-decoded and lossily UTF-8, at
/// most `limit` bytes: the text of archive mails and bounces.
pub fn body_text(mail: &Inbound<'_>, limit: usize) -> String {
    let text = match reply_body(mail) {
        ReplyBody::Inline { text, .. } => text.unwrap_or_default(),
        ReplyBody::PgpMime(p) => Cow::Owned(entity_text(&p.signed).unwrap_or_default()),
    };
    text_prefix(&text, limit)
}

/// At most the first `limit` bytes of `text` as a string, invalid UTF-8
/// replaced.
pub fn text_prefix(text: &[u8], limit: usize) -> String {
    let cut = text.get(..limit.min(text.len())).unwrap_or_default();
    String::from_utf8_lossy(cut).into_owned()
}

// ---------------------------------------------------------------------------
// Log parts
// ---------------------------------------------------------------------------

/// The log, the compressed bytes when it came gzipped.
/// A log, its compressed form (if it came compressed), its whole size and
/// its large-log turn.
type Log<'a> = (Cow<'a, [u8]>, Option<Cow<'a, [u8]>>, u64, Option<LargeLog>);

#[cfg(test)]
mod tests;
