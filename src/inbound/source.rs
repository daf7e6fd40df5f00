//! Where raw mails come from: a stream (stdin), mbox files, Maildir folders,
//! single `.eml` files.
//!
//! Every reader streams: memory stays bounded by the largest mail accepted
//! (`limits.max_message_size`); a larger mail is spilled to a file in the
//! quarantine directory as it is read, never held in memory.
//!
//! mbox: `From ` lines (at the start of the file or after an empty line)
//! separate messages; `>From `, `>>From `, ... lines are unescaped by one `>`
//! (mboxrd); `Content-Length:` is ignored. mail-parser's own mbox iterator is
//! not used because it has no per-message size limit.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A raw mail as read from a source.
#[derive(Debug)]
pub enum RawMail {
    /// The whole mail, in memory.
    Bytes(Vec<u8>),
    /// A mail larger than `limits.max_message_size`, spilled to a file.
    Oversize {
        /// The file holding the whole mail.
        file: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// SHA-256 of the whole mail (hex).
        sha256: String,
        /// The first bytes (for the Message-ID and Subject).
        head: Vec<u8>,
    },
}

impl RawMail {
    /// The whole mail's size in bytes.
    pub fn size(&self) -> u64 {
        match self {
            RawMail::Bytes(b) => b.len() as u64,
            RawMail::Oversize { size, .. } => *size,
        }
    }

    /// The bytes to keep of a mail: the whole mail, or the first bytes of
    /// one that lives in a file.
    pub fn bytes(&self) -> &[u8] {
        match self {
            RawMail::Bytes(b) => b,
            RawMail::Oversize { head, .. } => head,
        }
    }
}

/// Header fields that relays and the local delivery add on the way: two
/// deliveries of one mail differ in them and nowhere else.
const TRACE_FIELDS: &[&str] = &[
    "received",
    "return-path",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-from",
    "x-envelope-to",
    "authentication-results",
    "arc-seal",
    "arc-message-signature",
    "arc-authentication-results",
    "received-spf",
    "x-virus-scanned",
    "x-greylist",
    // Mail stores and clients.
    "status",
    "x-status",
    "x-uid",
    "x-keywords",
    "x-mozilla-status",
    "x-mozilla-status2",
    "content-length",
    "lines",
    // Forwarders and lists add their own signatures and fields.
    "dkim-signature",
];

/// Prefixes of trace fields ([`TRACE_FIELDS`]).
const TRACE_PREFIXES: &[&str] = &["x-spam-", "resent-", "x-forwarded-", "list-"];

/// Whether a header field name is one [`TRACE_FIELDS`] or
/// [`TRACE_PREFIXES`] name.
fn is_trace_field(name: &[u8]) -> bool {
    let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
    TRACE_FIELDS.contains(&name.as_str()) || TRACE_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The mail's identity, for dedup and as its log's name in the archive:
/// BLAKE3 (hex) of its bytes without the trace header fields
/// ([`TRACE_FIELDS`]), with every CRLF read as LF, so that the same mail
/// delivered twice, along two paths (a pipe, LMTP, an mbox, CRLF or LF
/// line ends), is one mail, while another mail that merely carries the
/// same Message-ID is not. The mail itself is kept as it was received;
/// only the hash reads its line ends canonically. One pass over the bytes.
pub fn content_id(bytes: &[u8]) -> String {
    let mut h = blake3::Hasher::new();
    content_hash(bytes, true, &mut h);
    h.finalize().to_hex().to_string()
}

/// The content hash of the release before [`content_id`]: the same
/// bytes, hashed with SHA-256. Its dedup records are keyed by it.
pub fn content_sha256(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    content_hash(bytes, true, &mut h);
    hex::encode(h.finalize())
}

/// The content hash as releases before the canonical line ends computed
/// it (SHA-256, CRLF and LF hashed as received): their dedup records are
/// keyed by it.
pub fn content_sha256_as_received(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    content_hash(bytes, false, &mut h);
    hex::encode(h.finalize())
}

/// A hash the content hash feeds.
trait Feed {
    fn feed(&mut self, bytes: &[u8]);
}

impl Feed for Sha256 {
    fn feed(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl Feed for blake3::Hasher {
    fn feed(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// Feeds `bytes`, each CR before an LF left out when `canonical`. Bytes
/// with no CRLF go to the hash as they are (one call, whatever their
/// size); others through a buffer, so that the hash still sees large
/// pieces.
fn feed_lines(h: &mut dyn Feed, bytes: &[u8], canonical: bool) {
    if !canonical || memchr::memmem::find(bytes, b"\r\n").is_none() {
        h.feed(bytes);
        return;
    }
    const STAGE: usize = 64 << 10;
    let mut stage = Vec::with_capacity(STAGE);
    let mut start = 0;
    for cr in memchr::memmem::find_iter(bytes, b"\r\n") {
        let mut span = bytes.get(start..cr).unwrap_or_default();
        start = cr + 1;
        while !span.is_empty() {
            let room = STAGE - stage.len();
            let (now, later) = span.split_at(room.min(span.len()));
            stage.extend_from_slice(now);
            span = later;
            if stage.len() == STAGE {
                h.feed(&stage);
                stage.clear();
            }
        }
    }
    stage.extend_from_slice(bytes.get(start..).unwrap_or_default());
    h.feed(&stage);
}

fn content_hash(bytes: &[u8], canonical: bool, h: &mut dyn Feed) {
    let mut pos = 0;
    let mut keep = true;
    while pos < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[pos..]).map_or(bytes.len(), |i| pos + i + 1);
        let line = &bytes[pos..end];
        if line == b"\n" || line == b"\r\n" {
            // The body, whole.
            feed_lines(h, &bytes[pos..], canonical);
            return;
        }
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            keep = match memchr::memchr(b':', line) {
                Some(colon) => !is_trace_field(&line[..colon]),
                None => true,
            };
        }
        if keep {
            feed_lines(h, line, canonical);
        }
        pos = end;
    }
}

/// SHA-256 of `bytes`, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Accumulates one mail as it arrives (in pieces of any size), spilling
/// it to a file in the quarantine directory once it passes the limit:
/// memory stays bounded by the limit whatever the mail's size.
pub struct Sink<'a> {
    buf: Vec<u8>,
    limit: u64,
    spill_dir: &'a Path,
    spilled: Option<tempfile::NamedTempFile>,
    hasher: Sha256,
    size: u64,
}

impl<'a> Sink<'a> {
    /// A sink keeping up to `limit` bytes in memory, spilling to
    /// `spill_dir` past it.
    pub fn new(limit: u64, spill_dir: &'a Path) -> Sink<'a> {
        Sink {
            buf: Vec::new(),
            limit,
            spill_dir,
            spilled: None,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Adds the next piece of the mail.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.size += data.len() as u64;
        if let Some(f) = &mut self.spilled {
            self.hasher.update(data);
            return f.write_all(data);
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() as u64 > self.limit {
            std::fs::create_dir_all(self.spill_dir)?;
            // A temporary name (`fsck` removes one a crash left), renamed
            // to the mail's hash once it is whole.
            let mut f = tempfile::Builder::new()
                .prefix(".buildmail-tmp-incoming-")
                .suffix(".eml")
                .tempfile_in(self.spill_dir)?;
            f.write_all(&self.buf)?;
            self.hasher.update(&self.buf);
            self.buf.truncate(65536);
            self.buf.shrink_to_fit();
            self.spilled = Some(f);
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The whole mail: in memory, or durably in its file
    /// (`<sha256>.eml` in the spill directory).
    pub fn finish(self) -> io::Result<RawMail> {
        match self.spilled {
            None => Ok(RawMail::Bytes(self.buf)),
            Some(f) => {
                f.as_file().sync_all()?;
                let sha256 = hex::encode(self.hasher.finalize());
                let file = self.spill_dir.join(format!("{sha256}.eml"));
                f.persist(&file).map_err(|e| e.error)?;
                crate::fsutil::sync_dir(self.spill_dir)?;
                Ok(RawMail::Oversize {
                    file,
                    size: self.size,
                    sha256,
                    head: self.buf,
                })
            }
        }
    }
}

/// Reads one whole mail from a stream (stdin for `deliver`).
pub fn read_stream(mut r: impl Read, limit: u64, spill_dir: &Path) -> io::Result<RawMail> {
    let mut sink = Sink::new(limit, spill_dir);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sink.write(chunk.get(..n).unwrap_or_default())?;
    }
    sink.finish()
}

/// Streams the messages of an mbox file.
pub struct Mbox<'a, R> {
    reader: R,
    limit: u64,
    spill_dir: &'a Path,
    /// The `From ` line that starts the next message was already read.
    started: bool,
    line: Vec<u8>,
    done: bool,
    /// Bytes read so far (for progress).
    pub bytes_read: u64,
}

impl<'a, R: BufRead> Mbox<'a, R> {
    /// An mbox reader over `reader`.
    pub fn new(reader: R, limit: u64, spill_dir: &'a Path) -> Mbox<'a, R> {
        Mbox {
            reader,
            limit,
            spill_dir,
            started: false,
            line: Vec::with_capacity(256),
            done: false,
            bytes_read: 0,
        }
    }

    fn read_line(&mut self) -> io::Result<bool> {
        self.line.clear();
        let n = self.reader.read_until(b'\n', &mut self.line)?;
        self.bytes_read += n as u64;
        Ok(n > 0)
    }

    /// The next message, or `None` at the end of the file.
    pub fn next_mail(&mut self) -> io::Result<Option<RawMail>> {
        if self.done {
            return Ok(None);
        }
        // Skip anything before the first `From ` line.
        while !self.started {
            if !self.read_line()? {
                self.done = true;
                return Ok(None);
            }
            if self.line.starts_with(b"From ") {
                self.started = true;
            }
        }
        let mut sink = Sink::new(self.limit, self.spill_dir);
        // An empty line is held back: it belongs to the separator if a
        // `From ` line follows.
        let mut pending_blank: Option<Vec<u8>> = None;
        loop {
            if !self.read_line()? {
                // A held-back empty line at the end of the file is the
                // separator mbox writers append after the last message.
                self.done = true;
                break;
            }
            let is_blank = self.line == b"\n" || self.line == b"\r\n";
            if self.line.starts_with(b"From ") && (pending_blank.is_some() || sink.is_empty()) {
                break;
            }
            if let Some(b) = pending_blank.take() {
                sink.write(&b)?;
            }
            if is_blank {
                pending_blank = Some(self.line.clone());
                continue;
            }
            let gt = self.line.iter().take_while(|&&c| c == b'>').count();
            if gt > 0
                && self
                    .line
                    .get(gt..)
                    .is_some_and(|rest| rest.starts_with(b"From "))
            {
                let line = std::mem::take(&mut self.line);
                sink.write(line.get(1..).unwrap_or_default())?;
                self.line = line;
            } else {
                let line = std::mem::take(&mut self.line);
                sink.write(&line)?;
                self.line = line;
            }
        }
        if sink.is_empty() && self.done {
            return Ok(None);
        }
        sink.finish().map(Some)
    }
}

/// What kind of source a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// A Maildir folder (has `cur/` or `new/`).
    Maildir,
    /// A directory of mail files.
    Directory,
    /// An mbox file (starts with `From `).
    Mbox,
    /// One mail file.
    Eml,
}

/// Decides what kind of source `path` is.
pub fn kind_of(path: &Path) -> io::Result<SourceKind> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        if path.join("cur").is_dir() || path.join("new").is_dir() {
            return Ok(SourceKind::Maildir);
        }
        return Ok(SourceKind::Directory);
    }
    let mut head = [0u8; 5];
    let mut f = File::open(path)?;
    let n = f.read(&mut head)?;
    Ok(if head.get(..n) == Some(b"From ".as_slice()) {
        SourceKind::Mbox
    } else {
        SourceKind::Eml
    })
}

/// The mail files of a Maildir (`new/` then `cur/`, each sorted by name), or
/// of a plain directory (its regular files, sorted, hidden files skipped).
pub fn mail_files(path: &Path, kind: &SourceKind) -> io::Result<Vec<PathBuf>> {
    let dirs: Vec<PathBuf> = match kind {
        SourceKind::Maildir => vec![path.join("new"), path.join("cur")],
        _ => vec![path.to_path_buf()],
    };
    let mut out = Vec::new();
    for dir in dirs {
        if !dir.is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect();
        files.sort();
        out.extend(files);
    }
    Ok(out)
}

/// Reads one mail file (`.eml` or a Maildir entry), spilling if oversize.
pub fn read_file(path: &Path, limit: u64, spill_dir: &Path) -> io::Result<RawMail> {
    read_stream(BufReader::new(File::open(path)?), limit, spill_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_ignores_trace_fields_only() {
        let a = b"Received: from a by b;\r\n\tMon, 1 Dec 2026\r\nFrom: x@y\r\nMessage-ID: <1@y>\r\nSubject: s\r\n\r\nbody\r\n";
        let b = b"Return-Path: <x@y>\r\nDelivered-To: logs@z\r\nReceived: from c by d\r\nX-Spam-Status: No\r\nFrom: x@y\r\nMessage-ID: <1@y>\r\nSubject: s\r\n\r\nbody\r\n";
        assert_eq!(content_sha256(a), content_sha256(b));
        let other_body = b"From: x@y\r\nMessage-ID: <1@y>\r\nSubject: s\r\n\r\nother\r\n";
        assert_ne!(content_sha256(a), content_sha256(other_body));
        // A trace-looking line in the body counts.
        let c = b"From: x@y\r\n\r\nReceived: nothing\r\n";
        let d = b"From: x@y\r\n\r\n";
        assert_ne!(content_sha256(c), content_sha256(d));
        // Line ends do not count; the earlier hash kept them.
        let lf = b"Received: from a by b;\n\tMon, 1 Dec 2026\nFrom: x@y\nMessage-ID: <1@y>\nSubject: s\n\nbody\n";
        assert_eq!(content_sha256(a), content_sha256(lf));
        assert_ne!(
            content_sha256_as_received(a),
            content_sha256_as_received(lf)
        );
        assert_eq!(content_sha256_as_received(lf), content_sha256(lf));
        // A bare CR is content.
        assert_ne!(
            content_sha256(b"From: x@y\n\nbody\r\r\n"),
            content_sha256(b"From: x@y\n\nbody\n")
        );
        // The identity reads the same bytes the same way, with BLAKE3.
        for (x, y, same) in [
            (&a[..], &b[..], true),
            (a, lf, true),
            (a, other_body, false),
        ] {
            assert_eq!(content_id(x) == content_id(y), same);
        }
        assert_eq!(
            content_id(lf),
            blake3::hash(b"From: x@y\nMessage-ID: <1@y>\nSubject: s\n\nbody\n")
                .to_hex()
                .as_str()
        );
    }

    #[test]
    fn canonical_line_ends_survive_the_staging_buffer() {
        // Bodies longer than the 64 KiB stage, CRLF pieces across its edge.
        let mut crlf = b"From: x@y\r\n\r\n".to_vec();
        let mut lf = b"From: x@y\n\n".to_vec();
        for i in 0..20_000 {
            let line = format!("line {i} {}", "x".repeat(i % 17));
            crlf.extend_from_slice(line.as_bytes());
            crlf.extend_from_slice(b"\r\n");
            lf.extend_from_slice(line.as_bytes());
            lf.push(b'\n');
        }
        crlf.extend_from_slice(b"no end\r");
        lf.extend_from_slice(b"no end\r");
        assert_eq!(content_id(&crlf), content_id(&lf));
        assert_eq!(content_id(&lf), blake3::hash(&lf).to_hex().as_str());
        assert_eq!(content_sha256(&crlf), sha256_hex(&lf));
    }

    fn all(data: &[u8], limit: u64, dir: &Path) -> Vec<RawMail> {
        let mut m = Mbox::new(data, limit, dir);
        let mut v = Vec::new();
        while let Some(x) = m.next_mail().unwrap() {
            v.push(x);
        }
        v
    }

    fn bytes(m: &RawMail) -> &[u8] {
        match m {
            RawMail::Bytes(b) => b,
            RawMail::Oversize { .. } => panic!("unexpected oversize"),
        }
    }

    #[test]
    fn splits_and_unescapes() {
        let dir = tempfile::tempdir().unwrap();
        let mbox = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody\n>From here\n>>From there\nFrom inside not after blank\n\nFrom c@d Mon Jan  1 00:00:00 2024\nSubject: two\n\nsecond\n";
        let v = all(mbox, 1 << 20, dir.path());
        assert_eq!(v.len(), 2);
        assert_eq!(
            bytes(&v[0]),
            b"Subject: one\n\nbody\nFrom here\n>From there\nFrom inside not after blank\n"
        );
        assert_eq!(bytes(&v[1]), b"Subject: two\n\nsecond\n");
    }

    #[test]
    fn empty_and_garbage_prefix() {
        let dir = tempfile::tempdir().unwrap();
        assert!(all(b"", 100, dir.path()).is_empty());
        assert!(all(b"no from line\n", 100, dir.path()).is_empty());
        let v = all(b"junk\nFrom x\nA: b\n\nc\n", 100, dir.path());
        assert_eq!(v.len(), 1);
        assert_eq!(bytes(&v[0]), b"A: b\n\nc\n");
    }

    #[test]
    fn oversize_mails_spill_to_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut mbox = b"From x\nSubject: big\n\n".to_vec();
        for _ in 0..1000 {
            mbox.extend_from_slice(b"0123456789012345678901234567890123456789\n");
        }
        mbox.extend_from_slice(b"\nFrom y\nSubject: small\n\nok\n");
        let v = all(&mbox, 1000, dir.path());
        assert_eq!(v.len(), 2);
        match &v[0] {
            RawMail::Oversize {
                file,
                size,
                sha256,
                head,
            } => {
                let on_disk = std::fs::read(file).unwrap();
                assert_eq!(on_disk.len() as u64, *size);
                assert!(on_disk.starts_with(b"Subject: big\n"));
                assert_eq!(&crate::inbound::source::sha256_hex(&on_disk), sha256);
                assert!(head.starts_with(b"Subject: big"));
            }
            RawMail::Bytes(_) => panic!("not spilled"),
        }
        assert_eq!(bytes(&v[1]), b"Subject: small\n\nok\n");
    }

    #[test]
    fn stream_reads_everything() {
        let dir = tempfile::tempdir().unwrap();
        let m = read_stream(&b"Subject: x\n\nbody"[..], 100, dir.path()).unwrap();
        assert_eq!(bytes(&m), b"Subject: x\n\nbody");
    }
}
