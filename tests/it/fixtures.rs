//! The fixture mails `fixtures/mail/*.eml` are generated from the sbuild
//! logs in `fixtures/logs/`; this test fails when a committed mail differs
//! from what the generator makes. To rewrite them after changing a log or
//! the table below:
//!
//! ```sh
//! BUILDMAIL_WRITE_FIXTURES=1 cargo test --test it fixtures::
//! ```
//!
//! The output is reproducible: Message-IDs, dates and MIME boundaries are
//! fixed, and gzip is written with mtime 0. The mails are built by the same
//! helpers the integration tests use (`tests/it/support/mod.rs`, mail-builder +
//! flate2).

use std::path::{Path, PathBuf};

use crate::support::{Encoding, LogForm, LogMail, TextMail};

/// How the subject names the target.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// ` on <arch>`.
    On(&'static str),
    /// ` on all`.
    All,
    /// ` source` (no architecture).
    Source,
}

/// How the subject names the suite.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Suite {
    /// `(dist=<dist>)`.
    Dist(&'static str),
    /// `(<archive>/<dist>)`.
    Archive(&'static str, &'static str),
}

/// One fixture log mail.
pub(crate) struct Entry {
    /// Output file name under `fixtures/mail/`.
    pub(crate) out: &'static str,
    /// Log file under `fixtures/logs/`.
    pub(crate) log: &'static str,
    /// Subject status word.
    pub(crate) status: &'static str,
    /// Source package.
    pub(crate) source: &'static str,
    /// Version (epoch kept).
    pub(crate) version: &'static str,
    /// The architecture the log is for (file names).
    pub(crate) arch: &'static str,
    /// What the subject says after the version.
    pub(crate) target: Target,
    /// What the subject says in parentheses.
    pub(crate) suite: Suite,
    /// How the log travels.
    pub(crate) form: LogForm,
    /// Attach the unsigned hello .changes.
    pub(crate) changes: bool,
    /// Attach the `.summary` part.
    pub(crate) summary: bool,
    /// Charset of the log part.
    pub(crate) charset: &'static str,
    /// `Key-ID:` header.
    pub(crate) key_id: Option<&'static str>,
}

/// The fixture table. Every form is covered: plain 8bit, MIME text 8bit
/// with `.changes` + `.summary`, MIME quoted-printable, MIME base64, MIME
/// gzip; an `(archive/dist)` subject, an ` on all` subject, a ` source`
/// subject, an ISO-8859-1 log part. Deliberate subject/log disagreements:
/// `failed-old` (subject `attempted`, log `failed`) and
/// `successful-ascii-all` (subject `on all`, log amd64).
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        out: "successful-ascii.eml",
        log: "successful-ascii.log",
        status: "successful",
        source: "hello",
        version: "2.10-3",
        arch: "amd64",
        target: Target::On("amd64"),
        suite: Suite::Dist("unstable"),
        form: LogForm::MimeText(Encoding::EightBit),
        changes: true,
        summary: true,
        charset: "UTF-8",
        key_id: Some("0x1234ABCD5678EF90"),
    },
    Entry {
        out: "attempted-unicode.eml",
        log: "attempted-unicode.log",
        status: "attempted",
        source: "hello",
        version: "2.10-3",
        arch: "arm64",
        target: Target::On("arm64"),
        suite: Suite::Dist("unstable"),
        form: LogForm::Plain(Encoding::EightBit),
        changes: false,
        summary: false,
        charset: "UTF-8",
        key_id: None,
    },
    Entry {
        out: "given-back-ascii088.eml",
        log: "given-back-ascii088.log",
        status: "given-back",
        source: "libfoo",
        version: "1.4-2",
        arch: "amd64",
        target: Target::On("amd64"),
        suite: Suite::Archive("debian-ports", "unstable"),
        form: LogForm::MimeText(Encoding::QuotedPrintable),
        changes: false,
        summary: true,
        charset: "UTF-8",
        key_id: None,
    },
    Entry {
        out: "failed-old.eml",
        log: "failed-old.log",
        status: "attempted",
        source: "oldpkg",
        version: "0.9-1",
        arch: "i386",
        target: Target::On("i386"),
        suite: Suite::Dist("lenny"),
        form: LogForm::MimeText(Encoding::Base64),
        changes: false,
        summary: false,
        charset: "ISO-8859-1",
        key_id: None,
    },
    Entry {
        out: "skipped-binnmu.eml",
        log: "skipped-binnmu.log",
        status: "skipped",
        source: "bar",
        version: "1:2.0-1+b1",
        arch: "armhf",
        target: Target::On("armhf"),
        suite: Suite::Dist("bookworm"),
        form: LogForm::MimeGzip,
        changes: false,
        summary: true,
        charset: "UTF-8",
        key_id: None,
    },
    Entry {
        out: "failed-create-session.eml",
        log: "failed-create-session.log",
        status: "failed",
        source: "baz",
        version: "3.1-1",
        arch: "amd64",
        target: Target::Source,
        suite: Suite::Dist("trixie"),
        form: LogForm::MimeText(Encoding::EightBit),
        changes: false,
        summary: true,
        charset: "UTF-8",
        key_id: None,
    },
    Entry {
        out: "successful-wide-box.eml",
        log: "successful-wide-box.log",
        status: "successful",
        source: "qux",
        version: "0.4.1-1",
        arch: "amd64",
        target: Target::On("amd64"),
        suite: Suite::Dist("experimental"),
        form: LogForm::MimeText(Encoding::QuotedPrintable),
        changes: false,
        summary: true,
        charset: "UTF-8",
        key_id: None,
    },
    Entry {
        out: "successful-ascii-all.eml",
        log: "successful-ascii.log",
        status: "successful",
        source: "hello",
        version: "2.10-3",
        arch: "amd64",
        target: Target::All,
        suite: Suite::Dist("unstable"),
        form: LogForm::MimeGzip,
        changes: true,
        summary: true,
        charset: "UTF-8",
        key_id: None,
    },
];

/// The unsigned `.changes` of hello 2.10-3 amd64 (the `.changes` part of
/// the successful mails): the same text as the Changes section of
/// `fixtures/logs/successful-ascii.log`, so part and section agree.
const HELLO_CHANGES: &str = "\
Format: 1.8
Date: Sun, 09 Nov 2025 18:20:05 +0000
Source: hello
Binary: hello
Architecture: amd64
Version: 2.10-3
Distribution: unstable
Urgency: medium
Maintainer: Example Maintainer <maint@example.org>
Changed-By: Example Uploader <uploader@example.org>
Description:
 hello      - example package based on GNU Hello
Changes:
 hello (2.10-3) unstable; urgency=medium
 .
   * Rebuild against the current toolchain.
Checksums-Sha1:
 407fdd643bcb38eac7652ac5d2caeadecde09ca0 53244 hello_2.10-3_amd64.deb
 ee1d1ccf2c45ca261b7e1a0399f6e6390dbc64dd 5921 hello_2.10-3_amd64.buildinfo
Checksums-Sha256:
 1c2ae0d5e67b30b14de9ee78b0d76b568da4626a741f7f070eea7fd576546b5e 53244 hello_2.10-3_amd64.deb
 0af850d5860cfc41684432458be7bfb3f878b42571128b9e381938d49e70643a 5921 hello_2.10-3_amd64.buildinfo
Files:
 b75b5d235ab9a61987979b0816ef8140 53244 devel optional hello_2.10-3_amd64.deb
 8d34cb81f0dfc6c2e4085e8c685d7c23 5921 devel optional hello_2.10-3_amd64.buildinfo
";

/// The first Date of the fixtures (2024-01-15 10:00:00 UTC); each mail is
/// one minute later than the one before.
const FIRST_DATE: i64 = 1_705_312_800;

/// Every fixture mail: file name and bytes.
fn fixture_mails() -> Vec<(&'static str, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let logs = root.join("logs");
    let mut mails = Vec::new();
    let mut date = FIRST_DATE;
    for entry in ENTRIES {
        let log = read_log(&logs, entry);
        mails.push((entry.out, log_mail(entry, &log, date)));
        date += 60;
    }

    // A corrupt gzip part: the gzip magic, then garbage.
    let subject =
        crate::support::sbuild_subject("attempted", "hello", "2.10-3", "amd64", "unstable");
    let garbage: &[u8] =
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03this is not deflate data \xff\xfe\x00\x01";
    let mut broken = LogMail::new(&subject, b"", LogForm::MimeGzip);
    broken.raw_gzip = Some(garbage);
    broken.log_name = "hello_2.10-3_amd64-20240115-1100.build".to_string();
    broken.message_id = "fixture-broken-gzip@buildd-x86-01.example.org".to_string();
    broken.boundary = "=_buildmail_fixture_broken-gzip".to_string();
    broken.date = date;
    mails.push(("broken-gzip.eml", broken.build()));
    date += 60;

    // Not a log: a plain question to the admins.
    let mut other = TextMail::new(
        "jane@example.org",
        "buildd-admins@example.org",
        "hello on arm64?",
        "Hello admins,\n\nhello 2.10-3 failed on arm64 with a test timeout; could\n\
         you give it back once the buildd is less loaded?\n\nThanks,\nJane\n",
    );
    other.from_name = Some("Jane Developer");
    other.message_id = "fixture-other-hello@example.org".to_string();
    other.date = date;
    mails.push(("other-hello.eml", other.build()));
    mails
}

#[test]
fn fixture_mails_are_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/mail");
    let write = std::env::var_os("BUILDMAIL_WRITE_FIXTURES").is_some();
    if write {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (name, bytes) in fixture_mails() {
        let path = dir.join(name);
        if write {
            std::fs::write(&path, &bytes).unwrap();
        }
        let have = std::fs::read(&path).unwrap_or_default();
        assert!(
            have == bytes,
            "{} is stale: run BUILDMAIL_WRITE_FIXTURES=1 cargo test --test it fixtures::",
            path.display()
        );
    }
}

fn subject_of(entry: &Entry) -> String {
    let target = match entry.target {
        Target::On(arch) => format!(" on {arch}"),
        Target::All => " on all".to_string(),
        Target::Source => " source".to_string(),
    };
    let suite = match entry.suite {
        Suite::Dist(dist) => format!("dist={dist}"),
        Suite::Archive(archive, dist) => format!("{archive}/{dist}"),
    };
    format!(
        "Log for {} build of {}_{}{} ({})",
        entry.status, entry.source, entry.version, target, suite
    )
}

fn dist_of(entry: &Entry) -> &'static str {
    match entry.suite {
        Suite::Dist(dist) | Suite::Archive(_, dist) => dist,
    }
}

/// The version without its epoch, as in file names.
fn file_version(version: &str) -> &str {
    version.split_once(':').map_or(version, |(_, v)| v)
}

fn log_mail(entry: &Entry, log: &[u8], date: i64) -> Vec<u8> {
    let subject = subject_of(entry);
    let stem = entry.out.trim_end_matches(".eml");
    let summary = summary_of(log, entry);
    let mut mail = LogMail::new(&subject, log, entry.form);
    mail.log_name = format!(
        "{}_{}_{}-20240115-1000.build",
        entry.source,
        file_version(entry.version),
        entry.arch
    );
    mail.changes = entry.changes.then_some(HELLO_CHANGES);
    mail.changes_name = format!(
        "{}_{}_{}.changes",
        entry.source,
        file_version(entry.version),
        entry.arch
    );
    mail.summary = entry.summary.then_some(summary.as_str());
    mail.charset = entry.charset;
    mail.key_id = entry.key_id;
    mail.message_id = format!("fixture-{stem}@buildd-x86-01.example.org");
    mail.boundary = format!("=_buildmail_fixture_{stem}");
    mail.date = date;
    mail.build()
}

/// The log file (it must exist: the fixture logs are committed).
fn read_log(dir: &Path, entry: &Entry) -> Vec<u8> {
    let path = dir.join(entry.log);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The `Key: value` lines of the log's Summary section (what sbuild puts in
/// the `.summary` part), or a summary made from the entry.
fn summary_of(log: &[u8], entry: &Entry) -> String {
    let text = String::from_utf8_lossy(log);
    let mut lines = text.lines();
    let found = lines.by_ref().any(|l| {
        let t = l.trim_matches(|c: char| c == '|' || c == '\u{2502}' || c.is_whitespace());
        t == "Summary" || t.starts_with("Summary ")
    });
    if found {
        let mut out = String::new();
        for line in lines {
            let t = line.trim_end();
            if t.chars().all(|c| {
                c == '+' || c == '-' || c == '\u{2500}' || c == '\u{2514}' || c == '\u{2518}'
            }) || t.is_empty()
            {
                if out.is_empty() {
                    continue;
                }
                break;
            }
            if t.contains(": ") || t.ends_with(':') {
                out.push_str(t);
                out.push('\n');
            } else {
                break;
            }
        }
        if !out.is_empty() {
            return out;
        }
    }
    let real_status = if entry.out.starts_with("failed") {
        "failed"
    } else {
        entry.status
    };
    format!(
        "Build Architecture: {arch}\nDistribution: {dist}\nHost Architecture: {arch}\n\
         Machine Architecture: {arch}\nPackage: {src}\nSource-Version: {ver}\n\
         Status: {real_status}\nVersion: {ver}\n",
        arch = entry.arch,
        dist = dist_of(entry),
        src = entry.source,
        ver = entry.version,
    )
}
