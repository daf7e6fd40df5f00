//! Test helpers: real sbuild-style log mails built with mail-builder, with
//! real gzip (flate2) for compressed logs.
//!
//! The integration tests reach it as `crate::support`; the fixture test
//! (`tests/it/fixtures.rs`, which writes `fixtures/mail/` when
//! `BUILDMAIL_WRITE_FIXTURES` is set) and the benches (`#[path]`) use the
//! same builders, so fixture mails and test mails are made one way.
//!
//! mail-builder picks a transfer encoding by itself and, for text, rewrites
//! bare `\n` to `\r\n`; so every text body here is written as a raw part
//! (`MimePart::transfer_encoding`) whose body this module has encoded
//! itself: 8bit bodies are the log bytes untouched, quoted-printable and
//! base64 bodies are exact encodings of them. Headers, MIME structure and
//! the base64 of binary parts are mail-builder's.

#![allow(unused)] // each test binary uses a subset of these helpers

pub mod archive;
pub mod daemon;
pub mod farm;
pub mod http;
pub mod lmtp;
pub mod logs;
pub mod pg;
pub mod smtp;
pub mod web;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::HeaderType;
use mail_builder::mime::{BodyPart, MimePart};
use mail_builder::MessageBuilder;

/// The sender of every log mail built here.
pub const BUILDD_FROM: &str = "buildd@buildd-x86-01.example.org";
/// The recipient of every log mail built here.
pub const LOGS_TO: &str = "logs@example.org";
/// The Date of mails built here unless set otherwise (2024-01-15 10:00 UTC).
pub const DEFAULT_DATE: i64 = 1_705_312_800;

/// Content-Transfer-Encoding of the text parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `8bit`: the bytes as they are.
    EightBit,
    /// `quoted-printable`.
    QuotedPrintable,
    /// `base64`.
    Base64,
}

impl Encoding {
    /// All encodings, for table tests.
    pub const ALL: [Encoding; 3] = [
        Encoding::EightBit,
        Encoding::QuotedPrintable,
        Encoding::Base64,
    ];

    /// The header value.
    pub fn header_value(self) -> &'static str {
        match self {
            Encoding::EightBit => "8bit",
            Encoding::QuotedPrintable => "quoted-printable",
            Encoding::Base64 => "base64",
        }
    }

    /// Encodes `bytes` for a body in this encoding.
    pub fn encode(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Encoding::EightBit => bytes.to_vec(),
            Encoding::QuotedPrintable => qp_encode(bytes),
            Encoding::Base64 => base64_encode(bytes),
        }
    }
}

/// How the log travels in the mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogForm {
    /// A single-part `text/plain` mail; the body is the log.
    Plain(Encoding),
    /// `multipart/mixed` with the log as a `text/plain` part.
    MimeText(Encoding),
    /// `multipart/mixed` with the log as an `application/x-gzip` part
    /// (base64).
    MimeGzip,
}

/// Every field of a log mail. [`LogMail::new`] fills in the defaults.
#[derive(Debug, Clone)]
pub struct LogMail<'a> {
    /// The Subject (see [`sbuild_subject`]).
    pub subject: &'a str,
    /// The log bytes.
    pub log: &'a [u8],
    /// How the log travels.
    pub form: LogForm,
    /// The `.changes` part text (MIME forms only).
    pub changes: Option<&'a str>,
    /// The `.changes` file name.
    pub changes_name: String,
    /// The `.summary` part text (MIME forms only).
    pub summary: Option<&'a str>,
    /// The log file name (the gzip part adds `.gz`, the summary `.summary`).
    pub log_name: String,
    /// The charset parameter of the log part.
    pub charset: &'a str,
    /// The Message-ID without brackets.
    pub message_id: String,
    /// The Date, Unix seconds.
    pub date: i64,
    /// The `Key-ID:` header.
    pub key_id: Option<&'a str>,
    /// The From address.
    pub from: &'a str,
    /// The To address.
    pub to: &'a str,
    /// The multipart boundary (fixed for reproducible fixtures).
    pub boundary: String,
    /// For [`LogForm::MimeGzip`]: these bytes as the compressed part
    /// instead of the gzip of `log` (corrupt-gzip and gzip-bomb tests).
    pub raw_gzip: Option<&'a [u8]>,
}

impl<'a> LogMail<'a> {
    /// A log mail with a fresh unique Message-ID and default headers.
    pub fn new(subject: &'a str, log: &'a [u8], form: LogForm) -> Self {
        let id = unique_message_id();
        LogMail {
            subject,
            log,
            form,
            changes: None,
            changes_name: "package_1.0-1_amd64.changes".to_string(),
            summary: None,
            log_name: "build.log".to_string(),
            charset: "UTF-8",
            boundary: format!("=_buildmail_{}", id.replace(['@', '.'], "_")),
            message_id: id,
            date: DEFAULT_DATE,
            key_id: None,
            from: BUILDD_FROM,
            to: LOGS_TO,
            raw_gzip: None,
        }
    }

    /// The raw mail bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut builder = MessageBuilder::new()
            .from(self.from)
            .to(self.to)
            .subject(self.subject)
            .date(self.date)
            .message_id(self.message_id.as_str());
        if let Some(key_id) = self.key_id {
            builder = builder.header("Key-ID", Raw::new(key_id));
        }
        let body = match self.form {
            LogForm::Plain(encoding) => text_part(self.log, self.charset, None, encoding),
            LogForm::MimeText(encoding) => {
                let mut parts = vec![text_part(
                    self.log,
                    self.charset,
                    Some(&self.log_name),
                    encoding,
                )];
                self.push_changes_and_summary(&mut parts, encoding);
                multipart(&self.boundary, parts)
            }
            LogForm::MimeGzip => {
                let name = format!("{}.gz", self.log_name);
                let gz = match self.raw_gzip {
                    Some(bytes) => bytes.to_vec(),
                    None => gzip(self.log),
                };
                let mut parts = vec![gzip_part(&gz, &name)];
                self.push_changes_and_summary(&mut parts, Encoding::EightBit);
                multipart(&self.boundary, parts)
            }
        };
        builder
            .body(body)
            .write_to_vec()
            .expect("writing a mail to a Vec cannot fail")
    }

    fn push_changes_and_summary(&self, parts: &mut Vec<MimePart<'static>>, encoding: Encoding) {
        if let Some(changes) = self.changes {
            parts.push(text_part(
                changes.as_bytes(),
                "UTF-8",
                Some(&self.changes_name),
                encoding,
            ));
        }
        if let Some(summary) = self.summary {
            parts.push(text_part(
                summary.as_bytes(),
                "UTF-8",
                Some(&format!("{}.summary", self.log_name)),
                encoding,
            ));
        }
    }
}

/// A `text/plain` part whose body is `bytes` in `encoding`, with an
/// `inline` disposition and file name as sbuild's MIME::Lite writes them.
pub fn text_part(
    bytes: &[u8],
    charset: &str,
    filename: Option<&str>,
    encoding: Encoding,
) -> MimePart<'static> {
    let mut ct = ContentType::new("text/plain").attribute("charset", charset.to_string());
    if let Some(name) = filename {
        ct = ct.attribute("name", name.to_string());
    }
    let mut part = MimePart::new(ct, BodyPart::Binary(encoding.encode(bytes).into()));
    if let Some(name) = filename {
        part = part.header(
            "Content-Disposition",
            HeaderType::from(ContentType::new("inline").attribute("filename", name.to_string())),
        );
    }
    part.transfer_encoding(encoding.header_value())
}

/// An `application/x-gzip` part holding `gz`, base64-encoded by
/// mail-builder.
pub fn gzip_part(gz: &[u8], filename: &str) -> MimePart<'static> {
    MimePart::new(
        ContentType::new("application/x-gzip").attribute("name", filename.to_string()),
        BodyPart::Binary(gz.to_vec().into()),
    )
    .header(
        "Content-Disposition",
        HeaderType::from(ContentType::new("inline").attribute("filename", filename.to_string())),
    )
}

/// A `multipart/mixed` part with a fixed boundary.
pub fn multipart(boundary: &str, parts: Vec<MimePart<'static>>) -> MimePart<'static> {
    MimePart::new(
        ContentType::new("multipart/mixed").attribute("boundary", boundary.to_string()),
        BodyPart::Multipart(parts),
    )
}

/// `log` gzip-compressed by flate2 (mtime 0: reproducible).
pub fn gzip(log: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(log).expect("gzip into a Vec");
    encoder.finish().expect("gzip into a Vec")
}

/// Base64 in 76-column lines (CRLF), by mail-builder's encoder.
pub fn base64_encode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    mail_builder::encoders::base64::base64_encode_mime(bytes, &mut out, false)
        .expect("base64 into a Vec");
    out
}

/// Quoted-printable (RFC 2045 §6.7) that round-trips every byte: `\n` and
/// `\r\n` stay hard line breaks as written, a bare `\r`, `=`, bytes outside
/// printable ASCII and white space before a line end are `=XX`, and lines
/// are soft-broken (`=\r\n`) before 76 columns.
pub fn qp_encode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 11 / 10);
    let mut column = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        if b == b'\n' {
            out.push(b'\n');
            column = 0;
            i += 1;
            continue;
        }
        if b == b'\r' && next == Some(b'\n') {
            out.extend_from_slice(b"\r\n");
            column = 0;
            i += 2;
            continue;
        }
        let at_line_end = match next {
            None | Some(b'\n') => true,
            Some(b'\r') => bytes.get(i + 2) == Some(&b'\n'),
            _ => false,
        };
        let literal = match b {
            b' ' | b'\t' => !at_line_end,
            b'=' => false,
            33..=126 => true,
            _ => false,
        };
        let width = if literal { 1 } else { 3 };
        if column + width > 75 {
            out.extend_from_slice(b"=\r\n");
            column = 0;
        }
        if literal {
            out.push(b);
        } else {
            out.extend_from_slice(format!("={b:02X}").as_bytes());
        }
        column += width;
        i += 1;
    }
    out
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A Message-ID (without brackets) unique within and across test runs.
pub fn unique_message_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}.{}.{}@buildd-x86-01.example.org",
        nanos,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `Log for <status> build of <src>_<ver>[ on <arch>] (dist=<dist>)`, as
/// sbuild writes it; an empty `arch` leaves ` on <arch>` out.
pub fn sbuild_subject(status: &str, src: &str, ver: &str, arch: &str, dist: &str) -> String {
    let on = if arch.is_empty() {
        String::new()
    } else {
        format!(" on {arch}")
    };
    format!("Log for {status} build of {src}_{ver}{on} (dist={dist})")
}

/// The `(<archive>/<dist>)` form of [`sbuild_subject`].
pub fn sbuild_subject_archive(
    status: &str,
    src: &str,
    ver: &str,
    arch: &str,
    archive: &str,
    dist: &str,
) -> String {
    let on = if arch.is_empty() {
        String::new()
    } else {
        format!(" on {arch}")
    };
    format!("Log for {status} build of {src}_{ver}{on} ({archive}/{dist})")
}

/// A single-part `text/plain` 8bit log mail.
pub fn log_mail_plain(subject: &str, log: &[u8]) -> Vec<u8> {
    LogMail::new(subject, log, LogForm::Plain(Encoding::EightBit)).build()
}

/// A `multipart/mixed` log mail: the log as `text/plain` in `encoding`,
/// then the optional `.changes` and `.summary` parts (same encoding).
pub fn log_mail_mime_text(
    subject: &str,
    log: &[u8],
    changes: Option<&str>,
    summary: Option<&str>,
    encoding: Encoding,
) -> Vec<u8> {
    let mut mail = LogMail::new(subject, log, LogForm::MimeText(encoding));
    mail.changes = changes;
    mail.summary = summary;
    mail.build()
}

/// A `multipart/mixed` log mail: the log gzip-compressed as
/// `application/x-gzip` (base64, `build.log.gz`), then the optional
/// `.changes` and `.summary` parts (8bit).
pub fn log_mail_mime_gzip(
    subject: &str,
    log: &[u8],
    changes: Option<&str>,
    summary: Option<&str>,
) -> Vec<u8> {
    let mut mail = LogMail::new(subject, log, LogForm::MimeGzip);
    mail.changes = changes;
    mail.summary = summary;
    mail.build()
}

/// A log mail with a `Key-ID:` header, in any form.
pub fn log_mail_with_key_id(subject: &str, log: &[u8], form: LogForm, key_id: &str) -> Vec<u8> {
    let mut mail = LogMail::new(subject, log, form);
    mail.key_id = Some(key_id);
    mail.build()
}

/// A plain-text (UTF-8, 8bit) mail that is not a log: a question, a reply.
#[derive(Debug, Clone)]
pub struct TextMail<'a> {
    /// From address.
    pub from: &'a str,
    /// Display name of the sender.
    pub from_name: Option<&'a str>,
    /// To address.
    pub to: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Body text.
    pub body: &'a str,
    /// Message-ID without brackets.
    pub message_id: String,
    /// In-Reply-To id (without brackets); also used as References.
    pub in_reply_to: Option<&'a str>,
    /// Reply-To address.
    pub reply_to: Option<&'a str>,
    /// Date, Unix seconds.
    pub date: i64,
}

impl<'a> TextMail<'a> {
    /// A mail with a fresh unique Message-ID.
    pub fn new(from: &'a str, to: &'a str, subject: &'a str, body: &'a str) -> Self {
        TextMail {
            from,
            from_name: None,
            to,
            subject,
            body,
            message_id: unique_message_id(),
            in_reply_to: None,
            reply_to: None,
            date: DEFAULT_DATE,
        }
    }

    /// The raw mail bytes.
    pub fn build(&self) -> Vec<u8> {
        let from = match self.from_name {
            Some(name) => Address::new_address(Some(name), self.from),
            None => Address::new_address(None::<&str>, self.from),
        };
        let mut builder = MessageBuilder::new()
            .from(from)
            .to(self.to)
            .subject(self.subject)
            .date(self.date)
            .message_id(self.message_id.as_str());
        if let Some(id) = self.in_reply_to {
            builder = builder.in_reply_to(id).references(id);
        }
        if let Some(r) = self.reply_to {
            builder = builder.reply_to(r);
        }
        builder
            .body(text_part(
                self.body.as_bytes(),
                "UTF-8",
                None,
                Encoding::EightBit,
            ))
            .write_to_vec()
            .expect("writing a mail to a Vec cannot fail")
    }
}

/// A plain-text mail that is not a log (a question to the admins), from
/// `developer@example.org`, with a unique Message-ID.
pub fn plain_mail(subject: &str, body: &str) -> Vec<u8> {
    let mut mail = TextMail::new(
        "developer@example.org",
        "buildd-admins@example.org",
        subject,
        body,
    );
    mail.from_name = Some("A Developer");
    mail.build()
}

/// A `multipart/mixed` log mail whose `application/x-gzip` part holds
/// `gz` as given (for corrupt-gzip tests), with no other parts.
pub fn log_mail_mime_gzip_raw(subject: &str, gz: &[u8]) -> Vec<u8> {
    let mut mail = LogMail::new(subject, b"", LogForm::MimeGzip);
    mail.raw_gzip = Some(gz);
    mail.build()
}

/// `raw` with its Message-ID header (folded lines included) replaced by
/// `Message-ID: <id>`; added at the top when the mail has none. `id` is
/// given without angle brackets.
pub fn with_message_id(raw: &[u8], id: &str) -> Vec<u8> {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2);
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 1);
    let header_end = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(raw.len()),
    };
    let new_header = format!("Message-ID: <{id}>\r\n");
    let mut out = Vec::with_capacity(raw.len() + new_header.len());
    let mut replaced = false;
    let mut skipping = false;
    let (headers, rest) = raw.split_at(header_end);
    for line in headers.split_inclusive(|b| *b == b'\n') {
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if skipping && continuation {
            continue;
        }
        skipping = false;
        if !replaced && line.len() >= 11 && line[..11].eq_ignore_ascii_case(b"message-id:") {
            out.extend_from_slice(new_header.as_bytes());
            replaced = true;
            skipping = true;
            continue;
        }
        out.extend_from_slice(line);
    }
    if !replaced {
        let mut with = new_header.into_bytes();
        with.extend_from_slice(&out);
        out = with;
    }
    out.extend_from_slice(rest);
    out
}

/// An unsigned Format 1.8 `.changes` for a binary upload of `src` `ver` on
/// `arch` (a `.deb` and a `.buildinfo`; checksums are placeholders of the
/// right shape). Parses with `buildmail::debian::changes::parse`.
pub fn changes_text(src: &str, ver: &str, arch: &str) -> String {
    let file_ver = ver.split_once(':').map_or(ver, |(_, v)| v);
    let deb = format!("{src}_{file_ver}_{arch}.deb");
    let buildinfo = format!("{src}_{file_ver}_{arch}.buildinfo");
    format!(
        "Format: 1.8\n\
         Date: Mon, 15 Jan 2024 09:58:12 +0000\n\
         Source: {src}\n\
         Binary: {src}\n\
         Architecture: {arch}\n\
         Version: {ver}\n\
         Distribution: unstable\n\
         Urgency: medium\n\
         Maintainer: Test Maintainer <maint@example.org>\n\
         Changed-By: Buildd Daemon <{BUILDD_FROM}>\n\
         Description:\n {src} - test package\n\
         Changes:\n {src} ({ver}) unstable; urgency=medium\n .\n   * Binary-only rebuild.\n\
         Checksums-Sha1:\n {s1} 1234 {deb}\n {s1b} 567 {buildinfo}\n\
         Checksums-Sha256:\n {s256} 1234 {deb}\n {s256b} 567 {buildinfo}\n\
         Files:\n {md5} 1234 devel optional {deb}\n {md5b} 567 devel optional {buildinfo}\n",
        s1 = "1".repeat(40),
        s1b = "2".repeat(40),
        s256 = "a".repeat(64),
        s256b = "b".repeat(64),
        md5 = "c".repeat(32),
        md5b = "d".repeat(32),
    )
}
pub mod keys;

/// A PGP/MIME signed mail (RFC 3156): `headers` (each line ending in CRLF,
/// From/Subject/...), then a `multipart/signed` body holding `entity`
/// exactly as given and the detached `signature`.
pub fn pgp_mime_mail(headers: &str, entity: &[u8], signature: &[u8], boundary: &str) -> Vec<u8> {
    let mut m = format!(
        "{headers}MIME-Version: 1.0\r\n\
         Content-Type: multipart/signed; micalg=pgp-sha512;\r\n protocol=\"application/pgp-signature\"; boundary=\"{boundary}\"\r\n\r\n\
         This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n--{boundary}\r\n"
    )
    .into_bytes();
    m.extend_from_slice(entity);
    m.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n\
             Content-Description: OpenPGP digital signature\r\n\r\n"
        )
        .as_bytes(),
    );
    m.extend_from_slice(signature);
    m.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    m
}

/// `raw` with the header `name: value` added at the top.
pub fn with_header(raw: &[u8], name: &str, value: &str) -> Vec<u8> {
    let mut out = format!("{name}: {value}\r\n").into_bytes();
    out.extend_from_slice(raw);
    out
}

/// Every mail in a store's outbox, oldest first, with its bytes.
pub fn outbox_of(
    store: &dyn buildmail::store::Store,
) -> Vec<(buildmail::model::OutboundMail, Vec<u8>)> {
    store
        .outbox_mails()
        .unwrap()
        .into_iter()
        .map(|m| {
            let bytes = store.outbox_bytes(m.id).unwrap().expect("outbox bytes");
            (m, bytes)
        })
        .collect()
}

/// A folder of `../shared/corpus`, or `None` when the corpus is not beside
/// the checkout. Under CI (`CI` set) a missing corpus fails the test: the
/// conformance tests must never pass by skipping.
pub fn corpus(sub: &str) -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing, and CI is set: the conformance tests need the shared corpus beside the checkout",
        dir.display()
    );
    eprintln!("skipped: {} is not there (CI would fail)", dir.display());
    None
}

/// A mail from the archive (dak) with `subject` and `body`.
pub fn archive_mail(subject: &str, body: &str) -> Vec<u8> {
    let mut m = TextMail::new(
        "dak@ftp-master.example.org",
        "buildd@example.org",
        subject,
        body,
    );
    m.message_id = unique_message_id();
    m.build()
}

/// `haystack` with the first `needle` replaced by `with` (mail bytes that
/// need not be UTF-8: headers rewritten the way an attacker would).
pub fn replace_first(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let at = haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the needle is in the mail");
    let mut out = haystack[..at].to_vec();
    out.extend_from_slice(with);
    out.extend_from_slice(&haystack[at + needle.len()..]);
    out
}

/// Whether `farm` runs on PostgreSQL, said for a test that checks what
/// only a sled database of an earlier release can be (its trees opened
/// raw): such a test runs in the sled pass and returns here.
pub fn sled_only(farm: &farm::Farm, what: &str) -> bool {
    if farm.pg.is_some() {
        eprintln!("sled only ({what}): runs in the sled pass of the suite");
        return true;
    }
    false
}

/// Opens the sled database at `path` directly (to plant a corrupt
/// record), waiting while sled's lock is still held: by a store this
/// process dropped a moment ago, or by a child another test thread forked.
pub fn open_raw_sled(path: &std::path::Path) -> sled::Db {
    let start = std::time::Instant::now();
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(e) if start.elapsed() < std::time::Duration::from_secs(30) => {
                assert!(e.to_string().contains("could not acquire lock"), "{e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("cannot open {}: {e}", path.display()),
        }
    }
}

/// Writes `mails` as an mboxrd file at `path`.
pub fn write_mbox(path: &std::path::Path, mails: &[Vec<u8>]) {
    let mut f = std::fs::File::create(path).unwrap();
    for m in mails {
        f.write_all(b"From buildd@example.org Sat Nov 21 10:00:00 2026\n")
            .unwrap();
        // mboxrd escaping of body lines that start with "From ".
        for line in m.split_inclusive(|&b| b == b'\n') {
            let gt = line.iter().take_while(|&&b| b == b'>').count();
            if line[gt..].starts_with(b"From ") {
                f.write_all(b">").unwrap();
            }
            f.write_all(line).unwrap();
        }
        f.write_all(b"\n").unwrap();
    }
}

/// A mail of no known kind (forwarded to the admins) from a stranger,
/// with a Message-ID of its own.
pub fn question_mail(subject: &str, body: &str) -> Vec<u8> {
    let mut m = TextMail::new("jane@example.org", "buildd@example.org", subject, body);
    m.message_id = unique_message_id();
    m.build()
}

/// The value of header `name` in `mail` (as `Farm::outbox` shows it),
/// continuation lines unfolded: a long Subject is folded on the wire.
pub fn unfolded_header(mail: &str, name: &str) -> String {
    let prefix = format!("{name}: ");
    let mut lines = mail.lines().skip_while(|l| !l.starts_with(&prefix));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("no {name} in {mail}"));
    let mut value = first[prefix.len()..].trim().to_string();
    for more in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        value.push(' ');
        value.push_str(more.trim());
    }
    value
}

/// Says a check was skipped because `what` is missing on this machine;
/// under CI (`CI` set) a skip fails the test instead.
pub fn skip(what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what}, and CI is set: install it (the test must not pass by skipping)"
    );
    eprintln!("skipped: {what} (CI would fail)");
}
