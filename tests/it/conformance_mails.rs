//! Every file of the shared corpus (`../shared/corpus/*/*`) and every
//! committed fixture mail goes through `Inbound::parse` and `log_parts`
//! without a panic. Errors are fine: most corpus files are not log mails.

use std::path::{Path, PathBuf};

use buildmail::inbound::mail::{
    log_parts, parse_log_subject, parse_reply_subject, Inbound, Limits,
};

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if path.is_file() {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn exercise(path: &Path) -> bool {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let Ok(mail) = Inbound::parse(&raw) else {
        return false;
    };
    let _ = mail.message_id();
    let _ = mail.from_address();
    let _ = mail.reply_to_address();
    let _ = mail.in_reply_to();
    let _ = mail.references();
    let _ = mail.date();
    let _ = mail.auto_submitted();
    let _ = mail.precedence();
    let _ = mail.header_text("Subject");
    let _ = parse_log_subject(mail.subject());
    let _ = parse_reply_subject(mail.subject());
    let result = log_parts(
        &mail,
        Limits {
            max_log_size: 64 * 1024 * 1024,
            max_log_ratio: 0,
        },
    );
    let outcome = match &result {
        Ok(parts) => format!(
            "log {} bytes{}{}{}",
            parts.log.len(),
            if parts.gzip.is_some() { ", gzip" } else { "" },
            if parts.changes.is_some() {
                ", changes"
            } else {
                ""
            },
            if parts.summary.is_some() {
                ", summary"
            } else {
                ""
            },
        ),
        Err(e) => format!("error: {e}"),
    };
    eprintln!("{}: {outcome}", path.display());
    true
}

#[test]
fn every_corpus_file_is_handled_without_panic() {
    let Some(corpus) = crate::support::corpus("") else {
        return;
    };
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    let mut seen = 0;
    let mut parsed = 0;
    for dir in subdirs {
        for file in files_under(&dir) {
            seen += 1;
            if exercise(&file) {
                parsed += 1;
            }
        }
    }
    eprintln!("corpus: {seen} files, {parsed} parsed as mail");
    assert!(seen > 0, "the corpus has no files");
}

#[test]
fn corpus_qp_log_mail_yields_its_decoded_log() {
    // The xfsprogs FTCBFS report carries a real sbuild log as a
    // quoted-printable attachment inside a message/rfc822; the corpus also
    // holds that log decoded. The outer mail is not a log mail, but the
    // nested one decodes to the same bytes.
    let Some(base) = crate::support::corpus("") else {
        return;
    };
    let mail_path = base.join("log-mails/xfsprogs_3.2.3_arm64_cross_attempted_bug794158_qp.txt");
    let log_path = base
        .join("sbuild-logs/xfsprogs_3.2.3_arm64_cross_sbuild0.65.2_attempted_build_DECODED.build");
    let (raw, expected) = (
        std::fs::read(&mail_path).unwrap(),
        std::fs::read(&log_path).unwrap(),
    );
    let outer = Inbound::parse(&raw).unwrap();
    let nested = outer
        .message
        .parts
        .iter()
        .find_map(|p| p.message())
        .expect("a message/rfc822 part");
    let nested_raw = nested.raw_message();
    let inner = Inbound::parse(nested_raw).unwrap();
    let parts = log_parts(&inner, Limits::default()).expect("the nested mail has a log");
    assert!(
        parts.log.as_ref() == expected.as_slice(),
        "decoded log differs: {} bytes, expected {} bytes",
        parts.log.len(),
        expected.len()
    );
}

#[test]
fn every_fixture_mail_is_handled_without_panic() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/mail");
    for file in files_under(&dir) {
        if file.extension().is_some_and(|e| e == "eml") {
            assert!(exercise(&file), "{} does not parse", file.display());
        }
    }
}

/// What a committed fixture mail must hold, read off the one fixture
/// table (`crate::fixtures::ENTRIES`).
#[derive(Clone, Copy)]
struct Fixture {
    file: &'static str,
    log: &'static str,
    status: &'static str,
    source: &'static str,
    version: &'static str,
    arch: Option<&'static str>,
    archive: Option<&'static str>,
    gzip: bool,
    changes: bool,
    summary: bool,
}

fn fixtures() -> impl Iterator<Item = Fixture> {
    use crate::fixtures::{Suite, Target, ENTRIES};
    ENTRIES.iter().map(|e| Fixture {
        file: e.out,
        log: e.log,
        status: e.status,
        source: e.source,
        version: e.version,
        arch: match e.target {
            Target::On(a) => Some(a),
            Target::All => Some("all"),
            Target::Source => None,
        },
        archive: match e.suite {
            Suite::Archive(a, _) => Some(a),
            Suite::Dist(_) => None,
        },
        gzip: matches!(e.form, crate::support::LogForm::MimeGzip),
        changes: e.changes,
        summary: e.summary,
    })
}

#[test]
fn fixture_mails_have_the_expected_structure() {
    use buildmail::inbound::mail::MailError;

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut seen = 0;
    for fx in fixtures() {
        seen += 1;
        let Fixture {
            file,
            log: log_file,
            status,
            source,
            version,
            arch,
            archive,
            gzip,
            changes,
            summary,
        } = fx;
        let raw = std::fs::read(root.join("mail").join(file)).unwrap();
        let mail = Inbound::parse(&raw).unwrap();
        assert_eq!(
            mail.from_address(),
            Some("buildd@buildd-x86-01.example.org"),
            "{file}"
        );
        assert!(
            mail.message_id()
                .is_some_and(|id| id.starts_with("fixture-")),
            "{file}"
        );
        let subject = parse_log_subject(mail.subject())
            .unwrap_or_else(|| panic!("{file}: subject {:?}", mail.subject()));
        assert_eq!(subject.status, status, "{file}");
        assert_eq!(subject.source, source, "{file}");
        assert_eq!(subject.version, version, "{file}");
        assert_eq!(subject.arch.as_deref(), arch, "{file}");
        assert_eq!(subject.archive.as_deref(), archive, "{file}");
        let parts = log_parts(&mail, Limits::default()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(parts.gzip.is_some(), gzip, "{file}: gzip");
        assert_eq!(parts.changes.is_some(), changes, "{file}: changes");
        assert_eq!(parts.summary.is_some(), summary, "{file}: summary");
        if let Some(changes) = &parts.changes {
            let text = std::str::from_utf8(changes).unwrap();
            let parsed = buildmail::debian::changes::parse(text).unwrap();
            assert_eq!(
                (parsed.source.as_str(), parsed.version.as_str()),
                ("hello", "2.10-3")
            );
        }
        if let Some(summary) = &parts.summary {
            assert!(
                summary.windows(8).any(|w| w == b"Status: "),
                "{file}: summary has no Status"
            );
        }
        // Byte-exact against the source log.
        let log = std::fs::read(root.join("logs").join(log_file)).unwrap();
        assert!(
            parts.log.as_ref() == log.as_slice(),
            "{file}: log bytes differ"
        );
    }
    assert_eq!(seen, 8, "every fixture of the table was checked");

    let source_only = std::fs::read(root.join("mail/failed-create-session.eml")).unwrap();
    let mail = Inbound::parse(&source_only).unwrap();
    assert!(parse_log_subject(mail.subject()).unwrap().source_only);

    let all = std::fs::read(root.join("mail/successful-ascii-all.eml")).unwrap();
    let mail = Inbound::parse(&all).unwrap();
    assert!(parse_log_subject(mail.subject()).unwrap().arch_all);

    let key = std::fs::read(root.join("mail/successful-ascii.eml")).unwrap();
    let mail = Inbound::parse(&key).unwrap();
    assert_eq!(mail.key_id().as_deref(), Some("0x1234ABCD5678EF90"));

    let broken = std::fs::read(root.join("mail/broken-gzip.eml")).unwrap();
    let mail = Inbound::parse(&broken).unwrap();
    assert!(parse_log_subject(mail.subject()).is_some());
    assert!(matches!(
        log_parts(&mail, Limits::default()),
        Err(MailError::BadGzip(_))
    ));

    let other = std::fs::read(root.join("mail/other-hello.eml")).unwrap();
    let mail = Inbound::parse(&other).unwrap();
    assert!(parse_log_subject(mail.subject()).is_none());
    assert!(parse_reply_subject(mail.subject()).is_none());
    assert_eq!(mail.from_address(), Some("jane@example.org"));
}
