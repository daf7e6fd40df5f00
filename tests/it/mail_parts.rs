//! Inbound mail accessors, log-mail subjects and log-part extraction.

use std::borrow::Cow;

use crate::support::{
    gzip, log_mail_mime_gzip, log_mail_mime_gzip_raw, log_mail_mime_text, log_mail_plain,
    log_mail_with_key_id, sbuild_subject, Encoding, LogForm, LogMail, TextMail,
};
use buildmail::inbound::mail::{
    display_text, log_parts, parse_log_subject, parse_reply_subject, parse_should_build_subject,
    Inbound, Limits, LogSubject, MailError, LOG_HEAD, LOG_TAIL,
};
use proptest::prelude::*;

const LIMITS: Limits = Limits {
    max_log_size: 64 * 1024 * 1024,
    max_log_ratio: 0,
};

/// A log with everything that breaks naive mail handling: UTF-8 box
/// drawing, invalid UTF-8, a bare CR, CRLF, `=`, trailing white space,
/// lines longer than 76 columns, a line that looks like a boundary, a
/// `From ` line, a lone dot, no final newline.
fn nasty_log() -> Vec<u8> {
    let mut log = Vec::new();
    log.extend_from_slice(b"sbuild (Debian sbuild) 0.85.0 (04 January 2023) on buildd-x86-01\n");
    log.extend_from_slice("\u{2554}\u{2550}\u{2550}\u{2557} \u{ab}PKGBUILDDIR\u{bb}\n".as_bytes());
    log.extend_from_slice(b"invalid utf-8: \xff\xfe\xc3( end\n");
    log.extend_from_slice(b"progress 10%\rprogress 100%\n");
    log.extend_from_slice(b"dos line\r\n");
    log.extend_from_slice(b"CFLAGS=-O2 -g a==b =3D =\n");
    log.extend_from_slice(b"trailing spaces   \n");
    log.extend_from_slice(b"trailing tab\t\n");
    log.extend_from_slice(&[b'x'; 200]);
    log.push(b'\n');
    log.extend_from_slice(b"--not-a-boundary\n");
    log.extend_from_slice(b"From the build system\n");
    log.extend_from_slice(b".\n");
    log.extend_from_slice(b"\tindented\n");
    log.extend_from_slice(b"Status: attempted");
    log
}

fn summary_text() -> &'static str {
    "Build Architecture: amd64\nFail-Stage: build\nStatus: attempted\nVersion: 2.10-3\n"
}

fn changes_text() -> &'static str {
    "Format: 1.8\nSource: hello\nVersion: 2.10-3\nArchitecture: amd64\nDistribution: unstable\n\
     Maintainer: Jöhn Doe <john@example.org>\nFiles:\n 0123456789abcdef0123456789abcdef 123 devel optional hello_2.10-3_amd64.deb\n"
}

/// (log, gzip, changes, summary), owned.
type OwnedParts = (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

fn parts_of(raw: &[u8]) -> OwnedParts {
    let mail = Inbound::parse(raw).expect("parses");
    let parts = log_parts(&mail, LIMITS).expect("has a log");
    (
        parts.log.into_owned(),
        parts.gzip.map(Cow::into_owned),
        parts.changes.map(Cow::into_owned),
        parts.summary.map(Cow::into_owned),
    )
}

#[test]
fn plain_8bit_log_round_trips_and_borrows() {
    let log = nasty_log();
    let raw = log_mail_plain(
        "Log for attempted build of hello_2.10-3 on amd64 (dist=unstable)",
        &log,
    );
    let mail = Inbound::parse(&raw).unwrap();
    let parts = log_parts(&mail, LIMITS).unwrap();
    assert_eq!(parts.log.as_ref(), log.as_slice());
    assert!(
        matches!(parts.log, Cow::Borrowed(_)),
        "8bit body must be borrowed"
    );
    assert!(parts.gzip.is_none());
    assert!(parts.changes.is_none());
    assert!(parts.summary.is_none());
    assert!(parts.key_id.is_none());
}

#[test]
fn mime_text_round_trips_in_every_encoding() {
    let log = nasty_log();
    for encoding in Encoding::ALL {
        let raw = log_mail_mime_text(
            "Log for attempted build of hello_2.10-3 on amd64 (dist=unstable)",
            &log,
            Some(changes_text()),
            Some(summary_text()),
            encoding,
        );
        let mail = Inbound::parse(&raw).unwrap();
        let parts = log_parts(&mail, LIMITS).unwrap();
        assert_eq!(parts.log.as_ref(), log.as_slice(), "log, {encoding:?}");
        assert_eq!(
            matches!(parts.log, Cow::Borrowed(_)),
            encoding == Encoding::EightBit,
            "borrowed iff no decoding was needed, {encoding:?}"
        );
        assert!(parts.gzip.is_none());
        assert_eq!(
            parts.changes.as_deref(),
            Some(changes_text().as_bytes()),
            "changes, {encoding:?}"
        );
        assert_eq!(
            parts.summary.as_deref(),
            Some(summary_text().as_bytes()),
            "summary, {encoding:?}"
        );
    }
}

#[test]
fn plain_form_in_qp_and_base64_round_trips() {
    let log = nasty_log();
    for encoding in Encoding::ALL {
        let raw = LogMail::new("Log for x", &log, LogForm::Plain(encoding)).build();
        let (got, gzip, _, _) = parts_of(&raw);
        assert_eq!(got, log, "{encoding:?}");
        assert!(gzip.is_none());
    }
}

#[test]
fn mime_gzip_round_trips_and_keeps_compressed_bytes() {
    let log = nasty_log();
    let raw = log_mail_mime_gzip(
        "Log for attempted build of hello_2.10-3 on amd64 (dist=unstable)",
        &log,
        None,
        Some(summary_text()),
    );
    let (got, gz, changes, summary) = parts_of(&raw);
    assert_eq!(got, log);
    assert_eq!(gz, Some(gzip(&log)));
    assert!(changes.is_none());
    assert_eq!(summary.as_deref(), Some(summary_text().as_bytes()));
}

#[test]
fn without_changes_or_summary_parts_only_the_log_is_found() {
    let log = b"just a log\n".to_vec();
    for encoding in Encoding::ALL {
        let raw = log_mail_mime_text("Log for x", &log, None, None, encoding);
        let (got, _, changes, summary) = parts_of(&raw);
        assert_eq!(got, log);
        assert!(changes.is_none() && summary.is_none());
    }
}

#[test]
fn iso_8859_1_bytes_come_out_unchanged() {
    let log = b"Gr\xfc\xdfe aus K\xf6ln, caf\xe9\n".to_vec();
    for form in [
        LogForm::Plain(Encoding::EightBit),
        LogForm::MimeText(Encoding::EightBit),
        LogForm::MimeText(Encoding::QuotedPrintable),
        LogForm::MimeText(Encoding::Base64),
    ] {
        let mut mail = LogMail::new("Log for x", &log, form);
        mail.charset = "ISO-8859-1";
        let raw = mail.build();
        let (got, _, _, _) = parts_of(&raw);
        assert_eq!(got, log, "{form:?}");
    }
}

#[test]
fn key_id_header_is_reported() {
    let raw = log_mail_with_key_id(
        "Log for x",
        b"log\n",
        LogForm::MimeGzip,
        "0x1234ABCD5678EF90",
    );
    let mail = Inbound::parse(&raw).unwrap();
    assert_eq!(mail.key_id().as_deref(), Some("0x1234ABCD5678EF90"));
    let parts = log_parts(&mail, LIMITS).unwrap();
    assert_eq!(parts.key_id.as_deref(), Some("0x1234ABCD5678EF90"));
}

#[test]
fn hand_written_qp_with_soft_breaks_and_lower_case_hex() {
    let raw = b"From: buildd@example.org\n\
Subject: Log for successful build of hello_2.10-3 on amd64 (dist=unstable)\n\
MIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"XX\"\n\
\n\
--XX\n\
Content-Type: text/plain; charset=iso-8859-1\n\
Content-Transfer-Encoding: Quoted-Printable\n\
\n\
a very long line that was=\n\
\x20soft-broken=20\n\
caf=e9 =E2=95=94 trailing padding   \n\
2+2=3D4\n\
--XX\n\
Content-Type: text/plain\n\
Content-Disposition: attachment; filename=\"hello_2.10-3_amd64.changes\"\n\
\n\
Source: hello\n\
--XX--\n";
    let (log, _, changes, summary) = parts_of(raw);
    assert_eq!(
        log,
        b"a very long line that was soft-broken \ncaf\xe9 \xe2\x95\x94 trailing padding\n2+2=4"
    );
    assert_eq!(changes.as_deref(), Some(&b"Source: hello"[..]));
    assert!(summary.is_none());
}

#[test]
fn hand_written_base64_with_stray_characters_decodes() {
    let raw = b"From: buildd@example.org\n\
Subject: Log for x\n\
Content-Type: text/plain; charset=utf-8\n\
Content-Transfer-Encoding: BASE64\n\
\n\
aGVsbG8g\n\
/+4K!\n";
    let (log, _, _, _) = parts_of(raw);
    assert_eq!(log, b"hello \xff\xee\x0a");
}

#[test]
fn single_part_gzip_mail_is_a_log() {
    let gz = gzip(b"compressed log\n");
    let mut raw = b"From: buildd@example.org\n\
Subject: Log for x\n\
Content-Type: application/x-gzip; name=\"build.log.gz\"\n\
Content-Transfer-Encoding: base64\n\n"
        .to_vec();
    raw.extend_from_slice(&crate::support::base64_encode(&gz));
    let (log, gzip_bytes, _, _) = parts_of(&raw);
    assert_eq!(log, b"compressed log\n");
    assert_eq!(gzip_bytes, Some(gz));
}

#[test]
fn gzip_bomb_is_refused_at_the_size_limit() {
    let bomb = gzip(&vec![0u8; 50 * 1024 * 1024]);
    assert!(bomb.len() < 200 * 1024, "the bomb compresses well");
    let mut raw = b"From: buildd@example.org\n\
Subject: Log for x\n\
Content-Type: multipart/mixed; boundary=\"B\"\n\n\
--B\n\
Content-Type: application/x-gzip\n\
Content-Disposition: inline; filename=\"build.log.gz\"\n\
Content-Transfer-Encoding: base64\n\n"
        .to_vec();
    raw.extend_from_slice(&crate::support::base64_encode(&bomb));
    raw.extend_from_slice(b"\n--B--\n");
    let mail = Inbound::parse(&raw).unwrap();
    let limit = 1024 * 1024;
    match log_parts(
        &mail,
        Limits {
            max_log_size: limit,
            max_log_ratio: 0,
        },
    ) {
        Err(MailError::LogTooLarge { limit: l }) => assert_eq!(l, limit),
        other => panic!("expected LogTooLarge, got {other:?}"),
    }
}

/// A bomb nested in a forwarded message (message/rfc822) is never
/// inflated: only the mail's own parts can hold its log.
#[test]
fn a_gzip_bomb_in_a_nested_message_is_not_inflated() {
    let bomb = gzip(&vec![0u8; 50 * 1024 * 1024]);
    let inner =
        log_mail_mime_gzip_raw("Log for successful build of x_1.0-1 (dist=unstable)", &bomb);
    let mut raw = b"From: buildd@example.org\n\
Subject: Log for successful build of x_1.0-1 (dist=unstable)\n\
Content-Type: multipart/mixed; boundary=\"OUTER\"\n\n\
--OUTER\n\
Content-Type: message/rfc822\n\n"
        .to_vec();
    raw.extend_from_slice(&inner);
    raw.extend_from_slice(b"\n--OUTER--\n");
    let mail = Inbound::parse(&raw).unwrap();
    match log_parts(&mail, LIMITS) {
        Err(MailError::NoLog) => {}
        other => panic!("expected NoLog, got {other:?}"),
    }
}

/// An xz-compressed log is never inflated (sbuild mails gzip): an xz bomb
/// costs its compressed size and nothing more, and the mail's text part,
/// which holds no log, cannot make the build Built.
#[test]
fn an_xz_attachment_is_never_inflated() {
    // The xz stream header of a bomb; what follows is never read.
    let mut xz = vec![0xfd, b'7', b'z', b'X', b'Z', 0x00, 0x00, 0x04];
    xz.extend(std::iter::repeat_n(0u8, 4096));
    let mut raw = b"From: buildd@example.org\n\
Subject: Log for successful build of x_1.0-1 (dist=unstable)\n\
Content-Type: multipart/mixed; boundary=\"B\"\n\n\
--B\n\
Content-Type: text/plain\n\n\
The build log is attached.\n\
--B\n\
Content-Type: application/x-xz\n\
Content-Disposition: attachment; filename=\"x_1.0-1_amd64.build.xz\"\n\
Content-Transfer-Encoding: base64\n\n"
        .to_vec();
    raw.extend_from_slice(&crate::support::base64_encode(&xz));
    raw.extend_from_slice(b"\n--B--\n");
    let mail = Inbound::parse(&raw).unwrap();
    let parts = log_parts(&mail, LIMITS).unwrap();
    assert_eq!(parts.gzip, None);
    assert_eq!(&parts.log[..], b"The build log is attached.");
    let farm = crate::support::farm::Farm::new();
    let out = farm.deliver(&raw);
    assert!(
        !matches!(out, buildmail::ingest::Outcome::Log { moved: true, .. }),
        "{out:?}"
    );
}

/// A gzip bomb under the size limit is refused by its ratio: 100 MiB of
/// zeros from a few hundred kilobytes.
#[test]
fn gzip_bomb_is_refused_by_its_ratio() {
    let bomb = gzip(&vec![0u8; 100 << 20]);
    let raw = log_mail_mime_gzip_raw("Log for x", &bomb);
    let mail = Inbound::parse(&raw).unwrap();
    let limits = Limits {
        max_log_size: 1 << 30,
        max_log_ratio: 100,
    };
    match log_parts(&mail, limits) {
        Err(e @ MailError::LogRatio { ratio: 100 }) => {
            assert!(e.to_string().contains("limits.max_log_ratio"), "{e}")
        }
        other => panic!("expected LogRatio, got {other:?}"),
    }
    // A genuine log over 64 MiB compressing 20:1 passes the same limits.
    let mut genuine = Vec::with_capacity(70 << 20);
    let mut state = 7u32;
    while genuine.len() < 70 << 20 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        genuine.extend_from_slice(format!("line {} of output\n", state >> 20).as_bytes());
    }
    let raw = log_mail_mime_gzip_raw("Log for x", &gzip(&genuine));
    let mail = Inbound::parse(&raw).unwrap();
    let parts = log_parts(&mail, limits).unwrap();
    assert_eq!(parts.log_size, genuine.len() as u64);
}

/// A compressed log larger than the kept window is read through in
/// bounded memory: its start (the sbuild header) and end (the Summary)
/// are kept, the middle is left out with a note, and the whole size is
/// known.
#[test]
fn a_large_compressed_log_keeps_its_start_and_end() {
    let mut spec =
        crate::support::logs::LogSpec::new("hello", "1.0-1", "amd64", "unstable", "successful");
    spec.filler_lines = 520_000;
    let log = crate::support::logs::sbuild_log(&spec);
    assert!(log.len() > LOG_HEAD + LOG_TAIL, "{}", log.len());
    let raw = log_mail_mime_gzip("Log for x", &log, None, None);
    let mail = Inbound::parse(&raw).unwrap();
    let parts = log_parts(&mail, LIMITS).unwrap();
    assert_eq!(parts.log_size, log.len() as u64);
    assert!(
        parts.log.len() <= LOG_HEAD + LOG_TAIL + 200,
        "{}",
        parts.log.len()
    );
    assert!(parts.log.starts_with(&log[..4096]));
    assert!(parts.log.ends_with(&log[log.len() - 65536..]));
    let text = String::from_utf8_lossy(&parts.log);
    let note = text.lines().find(|l| l.contains("left out here")).unwrap();
    let omitted: usize = note
        .trim_start_matches("[... buildmail: ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(omitted + parts.log.len() - note.len() - 1, log.len());
    let parsed = buildmail::inbound::sbuild::parse(&parts.log);
    assert_eq!(parsed.package.as_deref(), Some("hello"));
    assert!(parsed.finished_at.is_some(), "the Summary is kept");
}

#[test]
fn log_exactly_at_the_limit_is_accepted() {
    let log = vec![b'a'; 1000];
    let raw = log_mail_mime_gzip("Log for x", &log, None, None);
    let mail = Inbound::parse(&raw).unwrap();
    assert_eq!(
        log_parts(
            &mail,
            Limits {
                max_log_size: 1000,
                max_log_ratio: 0
            }
        )
        .unwrap()
        .log
        .len(),
        1000
    );
    assert!(matches!(
        log_parts(
            &mail,
            Limits {
                max_log_size: 999,
                max_log_ratio: 0
            }
        ),
        Err(MailError::LogTooLarge { limit: 999 })
    ));
}

#[test]
fn corrupt_gzip_is_bad_gzip() {
    let mut gz = gzip(b"some log text that compresses\n");
    let len = gz.len();
    gz.truncate(len - 6);
    let raw = format!(
        "From: buildd@example.org\nSubject: Log for x\n\
Content-Type: multipart/mixed; boundary=\"B\"\n\n--B\n\
Content-Type: application/x-gzip; name=\"build.log.gz\"\n\
Content-Transfer-Encoding: base64\n\n{}\n--B--\n",
        String::from_utf8(crate::support::base64_encode(&gz)).unwrap()
    );
    let mail = Inbound::parse(raw.as_bytes()).unwrap();
    assert!(matches!(
        log_parts(&mail, LIMITS),
        Err(MailError::BadGzip(_))
    ));

    let garbage = "From: a@b\nSubject: x\nContent-Type: application/gzip\n\nnot gzip at all\n";
    let mail = Inbound::parse(garbage.as_bytes()).unwrap();
    assert!(matches!(
        log_parts(&mail, LIMITS),
        Err(MailError::BadGzip(_))
    ));
}

#[test]
fn multipart_without_a_log_part_is_no_log() {
    let raw = b"From: a@example.org\nSubject: pics\n\
Content-Type: multipart/mixed; boundary=\"B\"\n\n--B\n\
Content-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--B--\n";
    let mail = Inbound::parse(raw).unwrap();
    assert!(matches!(log_parts(&mail, LIMITS), Err(MailError::NoLog)));

    let raw = b"From: a@example.org\nSubject: pic\nContent-Type: image/png\n\nxx\n";
    let mail = Inbound::parse(raw).unwrap();
    assert!(matches!(log_parts(&mail, LIMITS), Err(MailError::NoLog)));
}

#[test]
fn first_text_part_is_the_log_and_later_ones_are_ignored() {
    let raw = b"From: a@example.org\nSubject: x\n\
Content-Type: multipart/mixed; boundary=\"B\"\n\n--B\n\
Content-Type: text/plain; name=\"hello.build\"\n\nthe log\n--B\n\
Content-Type: text/plain\n\nsomething else\n--B\n\
Content-Type: text/plain; name=\"build.log.summary\"\n\nStatus: successful\n--B--\n";
    let (log, _, changes, summary) = parts_of(raw);
    assert_eq!(log, b"the log");
    assert!(changes.is_none());
    assert_eq!(summary.as_deref(), Some(&b"Status: successful"[..]));
}

#[test]
fn lf_only_and_crlf_mails_give_the_same_8bit_log() {
    let lf = b"From: a@example.org\nSubject: x\nContent-Type: text/plain\n\nline 1\nline 2\n";
    let crlf =
        b"From: a@example.org\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\nline 1\nline 2\n";
    assert_eq!(parts_of(lf).0, b"line 1\nline 2\n");
    assert_eq!(parts_of(crlf).0, b"line 1\nline 2\n");
}

#[test]
fn display_text_is_lossy() {
    assert_eq!(display_text(b"ok"), "ok");
    assert_eq!(display_text(b"a\xffb"), "a\u{fffd}b");
}

// ---------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------

#[test]
fn accessors_read_the_headers() {
    let raw = b"From: Buildd Daemon <buildd@buildd-x86-01.example.org>\n\
Reply-To: admin@example.org\n\
To: logs@example.org\n\
Subject: =?UTF-8?Q?Log_for_successful_build_of_hello=5F2.10-3?=\n\
\x20on amd64 (dist=unstable)\n\
Message-ID: <abc@example.org>\n\
In-Reply-To: <one@example.org> (message from somebody)\n\
References: <zero@example.org>\n\
\x20<one@example.org>\n\
Date: Mon, 15 Jan 2024 11:00:00 +0100\n\
Auto-Submitted: auto-replied; owner-email=\"x@example.org\"\n\
Precedence: bulk\n\
X-Folded: first\n\
\x20 second\n\
Key-ID: ABCDEF\n\
\n\
body\n";
    let mail = Inbound::parse(raw).unwrap();
    assert_eq!(
        mail.from_address(),
        Some("buildd@buildd-x86-01.example.org")
    );
    assert_eq!(mail.reply_to_address(), Some("admin@example.org"));
    assert_eq!(mail.message_id(), Some("abc@example.org"));
    assert_eq!(mail.in_reply_to(), vec!["one@example.org"]);
    assert_eq!(
        mail.references(),
        vec!["zero@example.org", "one@example.org"]
    );
    assert_eq!(mail.date(), Some(1_705_312_800));
    assert_eq!(
        mail.auto_submitted().as_deref(),
        Some("auto-replied; owner-email=\"x@example.org\"")
    );
    assert!(mail.is_auto_submitted());
    assert_eq!(mail.precedence().as_deref(), Some("bulk"));
    assert_eq!(
        mail.header_text("x-folded").as_deref(),
        Some("first  second")
    );
    assert_eq!(mail.header_text("Key-ID").as_deref(), Some("ABCDEF"));
    assert_eq!(mail.header_text("X-Absent"), None);
    let subject = mail.header_text("Subject").unwrap();
    assert_eq!(
        parse_log_subject(&subject).map(|s| s.source),
        Some("hello".to_string())
    );
    let parsed = parse_log_subject(mail.subject()).expect("RFC 2047 + folded subject parses");
    assert_eq!(parsed.version, "2.10-3");
    assert_eq!(parsed.arch.as_deref(), Some("amd64"));
}

#[test]
fn accessors_on_a_bare_mail_are_empty() {
    let raw = b"X-Nothing: here\n\nbody\n";
    let mail = Inbound::parse(raw).unwrap();
    assert_eq!(mail.subject(), "");
    assert_eq!(mail.from_address(), None);
    assert_eq!(mail.reply_to_address(), None);
    assert!(mail.in_reply_to().is_empty());
    assert!(mail.references().is_empty());
    assert_eq!(mail.date(), None);
    assert_eq!(mail.auto_submitted(), None);
    assert!(!mail.is_auto_submitted());
    assert_eq!(mail.precedence(), None);
    assert_eq!(mail.message_id(), None);
}

#[test]
fn bytes_without_a_header_field_are_unparseable() {
    for raw in [
        &b""[..],
        b"\n\n",
        b"hello",
        b"\x00\x01 this is not a mail at all \xff",
        b"garbage without colon\nmore\n",
        b"bad name\x01: value\n\nbody\n",
    ] {
        assert!(
            matches!(Inbound::parse(raw), Err(MailError::Unparseable)),
            "{raw:?}"
        );
    }
    for raw in [
        &b"X-A: b\n\n"[..],
        b"Subject: x",
        b"From: a@b.example\r\n\r\nbody",
    ] {
        assert!(Inbound::parse(raw).is_ok(), "{raw:?}");
    }
}

#[test]
fn auto_submitted_no_is_not_automatic() {
    let raw = b"From: a@b.example\nAuto-Submitted: No\n\nhi\n";
    let mail = Inbound::parse(raw).unwrap();
    assert_eq!(mail.auto_submitted().as_deref(), Some("No"));
    assert!(!mail.is_auto_submitted());
}

#[test]
fn reply_builder_sets_threading_headers() {
    let mut reply = TextMail::new(
        "admin@example.org",
        "buildd@buildd-x86-01.example.org",
        "Re: Log for attempted build of hello_2.10-3 on amd64 (dist=unstable)",
        "retry\n",
    );
    reply.in_reply_to = Some("log-1@buildd-x86-01.example.org");
    let raw = reply.build();
    let mail = Inbound::parse(&raw).unwrap();
    assert_eq!(mail.in_reply_to(), vec!["log-1@buildd-x86-01.example.org"]);
    assert_eq!(mail.references(), vec!["log-1@buildd-x86-01.example.org"]);
    assert_eq!(mail.from_address(), Some("admin@example.org"));
    assert!(parse_log_subject(mail.subject()).is_none());
    assert_eq!(
        parse_reply_subject(mail.subject()).map(|s| s.status),
        Some("attempted".to_string())
    );
}

#[test]
fn builders_give_unique_message_ids_and_fixed_sender() {
    let a = log_mail_plain("Log for x", b"a");
    let b = log_mail_plain("Log for x", b"a");
    let (a, b) = (Inbound::parse(&a).unwrap(), Inbound::parse(&b).unwrap());
    assert_ne!(a.message_id(), b.message_id());
    assert_eq!(a.from_address(), Some(crate::support::BUILDD_FROM));
    assert_eq!(
        a.message
            .to()
            .and_then(|t| t.first())
            .and_then(|t| t.address()),
        Some(crate::support::LOGS_TO)
    );
}

#[test]
fn support_helpers_for_other_tests_work() {
    // with_message_id replaces the id (and only the header).
    let raw = log_mail_plain("Log for x", b"Message-ID: <in-the-body@x>\n");
    let raw = crate::support::with_message_id(&raw, "fixed-1@example.org");
    let mail = Inbound::parse(&raw).unwrap();
    assert_eq!(mail.message_id(), Some("fixed-1@example.org"));
    assert_eq!(
        log_parts(&mail, LIMITS).unwrap().log.as_ref(),
        b"Message-ID: <in-the-body@x>\n"
    );
    let bare = crate::support::with_message_id(b"Subject: x\n\nbody\n", "new@example.org");
    assert_eq!(
        Inbound::parse(&bare).unwrap().message_id(),
        Some("new@example.org")
    );

    // changes_text parses and names the files.
    let text = crate::support::changes_text("bar", "1:2.0-1+b1", "armhf");
    let changes = buildmail::debian::changes::parse(&text).unwrap();
    assert_eq!(changes.version, "1:2.0-1+b1");
    assert_eq!(changes.files[0].name, "bar_2.0-1+b1_armhf.deb");
    assert!(changes.files.iter().all(|f| f.sha256.is_some()));

    // plain_mail is not a log; the raw-gzip builder gives a corrupt part.
    let other = crate::support::plain_mail("Question about the armhf buildd", "Is it up?");
    let mail = Inbound::parse(&other).unwrap();
    assert!(parse_log_subject(mail.subject()).is_none());
    assert_eq!(mail.from_address(), Some("developer@example.org"));
    let bad = crate::support::log_mail_mime_gzip_raw("Log for x", b"\x1f\x8b\x08\x00garbage");
    let mail = Inbound::parse(&bad).unwrap();
    assert!(matches!(
        log_parts(&mail, LIMITS),
        Err(MailError::BadGzip(_))
    ));
}

// ---------------------------------------------------------------------------
// Subjects
// ---------------------------------------------------------------------------

fn subject(
    status: &str,
    source: &str,
    version: &str,
    arch: Option<&str>,
    dist: &str,
    archive: Option<&str>,
) -> LogSubject {
    LogSubject {
        status: status.to_string(),
        source: source.to_string(),
        version: version.to_string(),
        arch: arch.map(str::to_string),
        source_only: false,
        arch_all: arch == Some("all"),
        dist: dist.to_string(),
        archive: archive.map(str::to_string),
        arches: Vec::new(),
    }
}

#[test]
fn log_subjects_parse() {
    let cases: Vec<(&str, LogSubject)> = vec![
        (
            "Log for successful build of hello_2.10-3 on amd64 (dist=unstable)",
            subject("successful", "hello", "2.10-3", Some("amd64"), "unstable", None),
        ),
        (
            "Log for attempted build of hello_2.10-3 on arm64 (dist=unstable)",
            subject("attempted", "hello", "2.10-3", Some("arm64"), "unstable", None),
        ),
        (
            "Log for given-back build of libfoo_1.4-2 on amd64 (dist=unstable)",
            subject("given-back", "libfoo", "1.4-2", Some("amd64"), "unstable", None),
        ),
        (
            "Log for skipped build of bar_1:2.0-1+b1 on armhf (dist=bookworm)",
            subject("skipped", "bar", "1:2.0-1+b1", Some("armhf"), "bookworm", None),
        ),
        (
            "Log for failed build of baz_3.1-1 on amd64 (dist=trixie)",
            subject("failed", "baz", "3.1-1", Some("amd64"), "trixie", None),
        ),
        (
            "Log for attempted build of gcc-14_14.2.0-1 on hurd-i386 (debian-ports/unstable)",
            subject("attempted", "gcc-14", "14.2.0-1", Some("hurd-i386"), "unstable", Some("debian-ports")),
        ),
        (
            "Log for successful build of python-foo_1.0~rc1+dfsg-2 on all (dist=bookworm-backports)",
            subject("successful", "python-foo", "1.0~rc1+dfsg-2", Some("all"), "bookworm-backports", None),
        ),
        (
            "Log for successful build of libc++abi_18.1.8-1 (dist=experimental)",
            subject("successful", "libc++abi", "18.1.8-1", None, "experimental", None),
        ),
        (
            "LOG FOR SUCCESSFUL BUILD OF hello_2.10-3 ON amd64 (DIST=unstable)",
            subject("successful", "hello", "2.10-3", Some("amd64"), "unstable", None),
        ),
        (
            "  Log  for\tsuccessful build of\r\n hello_2.10-3   on amd64 (dist=unstable)  ",
            subject("successful", "hello", "2.10-3", Some("amd64"), "unstable", None),
        ),
        (
            "Log for building build of hello_2.10-3 on amd64 (dist=unstable)",
            subject("building", "hello", "2.10-3", Some("amd64"), "unstable", None),
        ),
        (
            "Log for Maybe-Later build of hello_2.10-3 on amd64 (dist=unstable)",
            subject("Maybe-Later", "hello", "2.10-3", Some("amd64"), "unstable", None),
        ),
        (
            "Log for Given-Back build of hello_2.10-3 on amd64 (dist=unstable)",
            subject("given-back", "hello", "2.10-3", Some("amd64"), "unstable", None),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_log_subject(text), Some(expected), "{text:?}");
    }
}

#[test]
fn source_only_and_arch_all_flags() {
    let s = parse_log_subject("Log for successful build of hello_2.10-3 source (dist=unstable)")
        .unwrap();
    assert!(s.source_only);
    assert!(!s.arch_all);
    assert_eq!(s.arch, None);
    assert_eq!(s.arch_or("amd64"), "amd64");

    let s = parse_log_subject(
        "Log for successful build of hello_2.10-3 source on amd64 (dist=unstable)",
    )
    .unwrap();
    assert!(s.source_only);
    assert_eq!(s.arch_or("i386"), "amd64");

    let s = parse_log_subject("Log for successful build of hello_2.10-3 on all (dist=unstable)")
        .unwrap();
    assert!(s.arch_all);
    assert!(!s.source_only);
    assert_eq!(s.arch_or("amd64"), "all");

    assert_eq!(
        parse_log_subject(&sbuild_subject("attempted", "bar", "1:2.0-1+b1", "", "sid")),
        Some(subject("attempted", "bar", "1:2.0-1+b1", None, "sid", None))
    );
}

#[test]
fn non_log_subjects_are_rejected() {
    for text in [
        "",
        "Log for",
        "Re: Log for successful build of hello_2.10-3 on amd64 (dist=unstable)",
        "Fwd: Log for successful build of hello_2.10-3 on amd64 (dist=unstable)",
        "Log for successful build of hello_2.10-3 on amd64",
        "Log for successful build of hello on amd64 (dist=unstable)",
        "Log for successful build of Hello_2.10-3 on amd64 (dist=unstable)",
        "Log for successful build of hello_v2.10 on amd64 (dist=unstable)",
        "Log for successful build of h_2.10-3 on amd64 (dist=unstable)",
        "Log for successful build of hello_2.10-3 on amd64 (dist=unstable) extra",
        "Log for successful build of hello_2.10-3 on amd64 (dist=)",
        "Log for successful build of hello_2.10-3 on amd64 (a/b/c)",
        "Log for successful build of hello_2.10 3 on amd64 (dist=unstable)",
        "Log for  build of hello_2.10-3 on amd64 (dist=unstable)",
        "Log for successful build of hello_2.10-3 on AMD64 (dist=unstable)",
        "hello_2.10-3.changes ACCEPTED into unstable",
        "Should I build hello_2.10-3 (dist=unstable)?",
        "Processing of hello_2.10-3_amd64.changes",
    ] {
        assert_eq!(parse_log_subject(text), None, "{text:?}");
    }
}

#[test]
fn reply_subjects_parse_through_prefix_chains() {
    let expected = subject(
        "attempted",
        "hello",
        "2.10-3",
        Some("amd64"),
        "unstable",
        None,
    );
    for text in [
        "Re: Log for attempted build of hello_2.10-3 on amd64 (dist=unstable)",
        "RE: Log for attempted build of hello_2.10-3 on amd64 (dist=unstable)",
        "AW: Log for attempted build of hello_2.10-3 on amd64 (dist=unstable)",
        "Fwd: Log for attempted build of hello_2.10-3 on amd64 (dist=unstable)",
        "Fw: Log for attempted build of hello_2.10-3 on amd64 (dist=unstable)",
        "Re: Re: Fwd: RE:Log for attempted build of hello_2.10-3 on amd64 (dist=unstable)",
        "re:  AW: Log for attempted build of hello_2.10-3\n on amd64 (dist=unstable)",
    ] {
        assert_eq!(
            parse_reply_subject(text),
            Some(expected.clone()),
            "{text:?}"
        );
    }
    let no_arch =
        parse_reply_subject("Re: Log for successful build of bar_1:2.0-1+b1 (dist=bookworm)")
            .unwrap();
    assert_eq!(no_arch.version, "1:2.0-1+b1");
    assert_eq!(no_arch.arch, None);

    for text in [
        "Log for attempted build of hello_2.10-3 on amd64 (dist=unstable)",
        "Re: hello",
        "Re: Should I build hello_2.10-3 (dist=unstable)?",
        "Ref: Log for attempted build of hello_2.10-3 on amd64 (dist=unstable)",
        "",
    ] {
        assert_eq!(parse_reply_subject(text), None, "{text:?}");
    }
}

#[test]
fn should_build_subjects_parse() {
    assert_eq!(
        parse_should_build_subject("Re: Should I build hello_2.10-3 (dist=unstable)?"),
        Some(("hello".into(), "2.10-3".into(), "unstable".into()))
    );
    assert_eq!(
        parse_should_build_subject("RE: re: should i build bar_1:2.0-1+b1 (dist=bookworm)"),
        Some(("bar".into(), "1:2.0-1+b1".into(), "bookworm".into()))
    );
    for text in [
        "Should I build hello_2.10-3 (dist=unstable)?",
        "Re: Should I build hello (dist=unstable)?",
        "Re: Should I build hello_2.10-3?",
        "Re: Log for attempted build of hello_2.10-3 on amd64 (dist=unstable)",
    ] {
        assert_eq!(parse_should_build_subject(text), None, "{text:?}");
    }
}

// ---------------------------------------------------------------------------
// Never panic
// ---------------------------------------------------------------------------

fn exercise(raw: &[u8]) {
    if let Ok(mail) = Inbound::parse(raw) {
        let _ = mail.subject();
        let _ = mail.message_id();
        let _ = mail.from_address();
        let _ = mail.reply_to_address();
        let _ = mail.in_reply_to();
        let _ = mail.references();
        let _ = mail.header_text("Subject");
        let _ = mail.header_text("Key-ID");
        let _ = mail.header_text("");
        let _ = mail.date();
        let _ = mail.auto_submitted();
        let _ = mail.is_auto_submitted();
        let _ = mail.precedence();
        let _ = mail.key_id();
        let _ = parse_log_subject(mail.subject());
        if let Ok(parts) = log_parts(
            &mail,
            Limits {
                max_log_size: 4096,
                max_log_ratio: 0,
            },
        ) {
            assert!(parts.log.len() <= raw.len() || parts.gzip.is_some());
            let _ = display_text(&parts.log);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&raw);
    }

    #[test]
    fn mail_shaped_bytes_never_panic(
        headers in proptest::collection::vec(
            prop_oneof![
                Just("Content-Type: multipart/mixed; boundary=\"B\"\n".to_string()),
                Just("Content-Type: application/x-gzip\n".to_string()),
                Just("Content-Transfer-Encoding: base64\n".to_string()),
                Just("Content-Transfer-Encoding: quoted-printable\n".to_string()),
                Just("Subject: =?utf-8?q?Log_for?= x\n".to_string()),
                Just("In-Reply-To: <a@b> junk <\n".to_string()),
                Just("Date: Mon, 99 Foo 99999 99:99:99 +9999\n".to_string()),
                "[A-Za-z-]{1,12}: [ -~]{0,40}\n",
            ],
            0..8,
        ),
        body in proptest::collection::vec(
            prop_oneof![
                Just(b"--B\n".to_vec()),
                Just(b"--B--\n".to_vec()),
                Just(b"\n".to_vec()),
                Just(b"Content-Type: text/plain; name=\"x.changes\"\n".to_vec()),
                Just(b"Content-Type: application/gzip\nContent-Transfer-Encoding: base64\n\n".to_vec()),
                Just(b"H4sIAAAAAAAA/w==\n".to_vec()),
                Just(b"=\n=4=ZZ=\r".to_vec()),
                proptest::collection::vec(any::<u8>(), 0..64),
            ],
            0..16,
        ),
    ) {
        let mut raw = headers.concat().into_bytes();
        raw.push(b'\n');
        raw.extend(body.concat());
        exercise(&raw);
    }

    #[test]
    fn arbitrary_subjects_never_panic(s in any::<String>()) {
        let _ = parse_log_subject(&s);
        let _ = parse_reply_subject(&s);
        let _ = parse_should_build_subject(&s);
    }

    #[test]
    fn subject_shaped_strings_never_panic(
        s in "(Re: |AW:|Fwd: )*[Ll]og for [a-z-]{0,12} build of [a-z0-9+.:_~-]{0,20}( source)?( on [a-z0-9-]{0,8})? \\([a-z=/-]{0,20}\\)\\??"
    ) {
        if let Some(parsed) = parse_log_subject(&s) {
            prop_assert!(!parsed.source.is_empty());
            prop_assert!(!parsed.version.is_empty());
            prop_assert!(!parsed.dist.is_empty());
        }
        let _ = parse_reply_subject(&s);
        let _ = parse_should_build_subject(&s);
    }

    #[test]
    fn any_log_round_trips_in_every_form(
        log in proptest::collection::vec(any::<u8>(), 0..600),
        which in 0usize..4,
    ) {
        let form = match which {
            0 => LogForm::MimeText(Encoding::EightBit),
            1 => LogForm::MimeText(Encoding::QuotedPrintable),
            2 => LogForm::MimeText(Encoding::Base64),
            _ => LogForm::MimeGzip,
        };
        let raw = LogMail::new("Log for x", &log, form).build();
        let mail = Inbound::parse(&raw).unwrap();
        let parts = log_parts(&mail, LIMITS).unwrap();
        prop_assert_eq!(parts.log.as_ref(), log.as_slice());
    }
}
