//! `.changes` parsing: synthetic quirk cases and the real files of the
//! shared corpus.

use std::path::PathBuf;

use buildmail::debian::changes::{parse, ChangesError};
use proptest::prelude::*;

const FORMAT_18: &str = "Format: 1.8
Date: Mon, 15 Jan 2024 10:00:00 +0000
Source: hello
Binary: hello
Architecture: amd64
Version: 2.10-3
Distribution: unstable
Urgency: medium
Maintainer: Example Maintainer <maint@example.org>
Changed-By: Buildd Daemon <buildd@buildd-x86-01.example.org>
Description:
 hello      - example package based on GNU hello
Changes:
 hello (2.10-3) unstable; urgency=medium
 .
   * Rebuild.
Checksums-Sha1:
 1111111111111111111111111111111111111111 53240 hello_2.10-3_amd64.deb
 2222222222222222222222222222222222222222 6011 hello_2.10-3_amd64.buildinfo
Checksums-Sha256:
 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 53240 hello_2.10-3_amd64.deb
 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb 6011 hello_2.10-3_amd64.buildinfo
Files:
 0123456789abcdef0123456789abcdef 53240 devel optional hello_2.10-3_amd64.deb
 fedcba9876543210fedcba9876543210 6011 devel optional hello_2.10-3_amd64.buildinfo
";

#[test]
fn format_18_merges_checksums_per_file() {
    let c = parse(FORMAT_18).unwrap();
    assert_eq!(c.source, "hello");
    assert_eq!(c.version, "2.10-3");
    assert_eq!(c.architectures, vec!["amd64"]);
    assert_eq!(c.distributions, vec!["unstable"]);
    assert_eq!(
        c.maintainer.as_deref(),
        Some("Example Maintainer <maint@example.org>")
    );
    assert_eq!(
        c.changed_by.as_deref(),
        Some("Buildd Daemon <buildd@buildd-x86-01.example.org>")
    );
    assert_eq!(c.date.as_deref(), Some("Mon, 15 Jan 2024 10:00:00 +0000"));
    assert_eq!(c.files.len(), 2);
    let deb = &c.files[0];
    assert_eq!(deb.name, "hello_2.10-3_amd64.deb");
    assert_eq!(deb.size, 53240);
    assert_eq!(deb.md5.as_deref(), Some("0123456789abcdef0123456789abcdef"));
    assert_eq!(
        deb.sha1.as_deref(),
        Some("1111111111111111111111111111111111111111")
    );
    assert_eq!(deb.sha256.as_deref(), Some(&"a".repeat(64)[..]));
    assert_eq!(deb.section.as_deref(), Some("devel"));
    assert_eq!(deb.priority.as_deref(), Some("optional"));
    assert_eq!(c.files[1].name, "hello_2.10-3_amd64.buildinfo");
    assert_eq!(c.files[1].sha256.as_deref(), Some(&"b".repeat(64)[..]));
}

#[test]
fn format_17_has_md5_only() {
    let text = "Format: 1.7
Source: gawk
Architecture: source i386
Version: 1:3.1.3-2
Distribution: unstable experimental
Files: 
 07e0db4eeb963feddd6630f4ea16c354 763 interpreters optional gawk_3.1.3-2.dsc
 2cf84daeca019220f5f3753121f012bb 36466 non-free/net extra gawk_3.1.3-2_i386.deb
";
    let c = parse(text).unwrap();
    assert_eq!(c.version, "1:3.1.3-2");
    assert_eq!(c.architectures, vec!["source", "i386"]);
    assert_eq!(c.distributions, vec!["unstable", "experimental"]);
    assert_eq!(c.files.len(), 2);
    assert!(c
        .files
        .iter()
        .all(|f| f.sha1.is_none() && f.sha256.is_none()));
    assert_eq!(c.files[1].section.as_deref(), Some("non-free/net"));
    assert_eq!(c.files[1].priority.as_deref(), Some("extra"));
    assert_eq!(c.maintainer, None);
}

#[test]
fn real_world_quirks_are_tolerated() {
    // `Source: name (version)`, folded Binary/Description, trailing spaces,
    // CRLF, raw UTF-8, field names in another case, a file only listed in a
    // checksum field.
    let text = "Format: 1.8 \r\nsource: lxml (4.5.2-1)  \r\nBinary: python3-lxml\r\n python3-lxml-dbg \r\n\
Architecture: amd64\r\nVersion: 4.5.2-1+b1\r\nDistribution: sid\r\n\
Maintainer: Jöhn Dœ <jd@example.org>\r\nDescription: \r\n python3-lxml - pythonic binding\r\n \
.\r\nChecksums-Sha256:\r\n cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc 12 extra.deb\r\n";
    let c = parse(text).unwrap();
    assert_eq!(c.source, "lxml");
    assert_eq!(c.version, "4.5.2-1+b1");
    assert_eq!(c.maintainer.as_deref(), Some("Jöhn Dœ <jd@example.org>"));
    assert_eq!(c.files.len(), 1);
    assert_eq!(c.files[0].name, "extra.deb");
    assert_eq!(c.files[0].md5, None);
    assert_eq!(c.files[0].size, 12);
}

#[test]
fn missing_required_fields_are_reported() {
    for (field, expected) in [
        ("Source", "Source"),
        ("Version", "Version"),
        ("Architecture", "Architecture"),
        ("Distribution", "Distribution"),
    ] {
        let text: String = FORMAT_18
            .lines()
            .filter(|l| !l.starts_with(&format!("{field}:")))
            .map(|l| format!("{l}\n"))
            .collect();
        match parse(&text) {
            Err(ChangesError::Missing(name)) => assert_eq!(name, expected),
            other => panic!("without {field}: {other:?}"),
        }
        let emptied =
            FORMAT_18.replace(&format!("{field}: "), &format!("{field}:\nX-Was-{field}: "));
        assert!(
            matches!(parse(&emptied), Err(ChangesError::Missing(_))),
            "empty {field}"
        );
    }
}

#[test]
fn malformed_file_lines_are_errors() {
    let cases = [
        ("Files", " 0123 53240 devel optional hello.deb"),
        (
            "Files",
            " 0123456789abcdef0123456789abcdef 53240 devel hello.deb",
        ),
        (
            "Files",
            " 0123456789abcdef0123456789abcdef big devel optional hello.deb",
        ),
        (
            "Files",
            " 0123456789abcdef0123456789abcdez 1 devel optional hello.deb",
        ),
        ("Files", " 0123456789abcdef0123456789abcdef 1 a b c d"),
        ("Checksums-Sha1", " 1111 53240 hello.deb"),
        (
            "Checksums-Sha1",
            " 1111111111111111111111111111111111111111 hello.deb",
        ),
        ("Checksums-Sha256", " aaaa 1 hello.deb"),
    ];
    for (field, line) in cases {
        let text = format!(
            "Source: hello\nVersion: 1\nArchitecture: amd64\nDistribution: unstable\n{field}:\n{line}\n"
        );
        match parse(&text) {
            Err(ChangesError::BadFileLine { field: f, line: l }) => {
                assert_eq!(f, field);
                assert_eq!(l, line.trim());
            }
            other => panic!("{field} {line:?}: {other:?}"),
        }
    }
}

#[test]
fn inconsistent_or_duplicate_file_lines_are_errors() {
    let size_mismatch = FORMAT_18.replace(
        " 1111111111111111111111111111111111111111 53240",
        " 1111111111111111111111111111111111111111 53241",
    );
    assert!(matches!(
        parse(&size_mismatch),
        Err(ChangesError::BadFileLine {
            field: "Checksums-Sha1",
            ..
        })
    ));
    let duplicate = "Source: a\nVersion: 1\nArchitecture: all\nDistribution: sid\nFiles:\n \
0123456789abcdef0123456789abcdef 1 x y a.deb\n 0123456789abcdef0123456789abcdef 1 x y a.deb\n";
    assert!(matches!(
        parse(duplicate),
        Err(ChangesError::BadFileLine { field: "Files", .. })
    ));
}

#[test]
fn syntax_errors() {
    // A continuation line before the first field.
    assert!(matches!(
        parse(" Fish empty\nSource: a\nVersion: 1\nArchitecture: all\nDistribution: sid\n"),
        Err(ChangesError::Syntax(_))
    ));
    // Not deb822 at all.
    assert!(parse("this is not a changes file\n").is_err());
    assert!(parse("").is_err());
    // Two paragraphs.
    assert!(matches!(
        parse("Source: a\nVersion: 1\nArchitecture: all\nDistribution: sid\n\nSource: b\n"),
        Err(ChangesError::Syntax(_))
    ));
    // Armored text is not unwrapped here: it must not parse as a .changes.
    assert!(parse(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA1\n\nSource: a\nVersion: 1\nArchitecture: all\nDistribution: sid\n"
    )
    .is_err());
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn changes_shaped_text_never_panics(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("Source: a (1)".to_string()),
                Just("Version: 1".to_string()),
                Just("Architecture: all".to_string()),
                Just("Distribution: sid".to_string()),
                Just("Files:".to_string()),
                Just("Checksums-Sha1:".to_string()),
                Just("Checksums-Sha256:".to_string()),
                Just(String::new()),
                Just(" .".to_string()),
                " [0-9a-f]{0,64} [0-9]{0,3} [a-z.]{0,5}( [a-z]{0,5})?( [a-z]{0,5})?",
                "[ -~]{0,30}",
            ],
            0..20,
        )
    ) {
        let _ = parse(&lines.join("\n"));
    }
}

// ---------------------------------------------------------------------------
// Real files
// ---------------------------------------------------------------------------

fn corpus_dir(sub: &str) -> Option<PathBuf> {
    crate::support::corpus(sub)
}

/// The signed text of a clearsigned file: after the armor headers (up to
/// the first empty line), up to the signature, dash-escaping undone.
/// Test-only: nothing is verified.
fn clearsigned_body(text: &str) -> Option<String> {
    let mut lines = text.lines();
    lines.find(|l| l.trim_end() == "-----BEGIN PGP SIGNED MESSAGE-----")?;
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
    }
    let mut body = String::new();
    for line in lines {
        if line.trim_end() == "-----BEGIN PGP SIGNATURE-----" {
            return Some(body);
        }
        body.push_str(line.strip_prefix("- ").unwrap_or(line));
        body.push('\n');
    }
    None
}

struct Expect {
    file: &'static str,
    source: &'static str,
    version: &'static str,
    arch: &'static str,
    files: usize,
    sha256: bool,
}

#[test]
fn real_signed_changes_parse() {
    let Some(dir) = corpus_dir("signed-changes") else {
        return;
    };
    let expectations = [
        Expect {
            file: "binutils_2.15-4_i386_2004_format1.7.changes.txt",
            source: "binutils",
            version: "2.15-4",
            arch: "source i386 all",
            files: 6,
            sha256: false,
        },
        Expect {
            file: "python-debian_0.1.23_source_all_2014_sha512.changes.txt",
            source: "python-debian",
            version: "0.1.23",
            arch: "source all",
            files: 0,
            sha256: true,
        },
        Expect {
            file: "xfsprogs_5.0.0-1_amd64_2019_EXTRACTED-from-dak-mail.changes.txt",
            source: "xfsprogs",
            version: "5.0.0-1",
            arch: "",
            files: 0,
            sha256: true,
        },
        Expect {
            file: "krb5_m68k_buildd_2001_no-Hash-header.changes.txt",
            source: "krb5",
            version: "",
            arch: "",
            files: 0,
            sha256: false,
        },
        Expect {
            file: "lp-testdata_bar_1.0-10_utf8_maintainer.changes.txt",
            source: "bar",
            version: "1.0-10",
            arch: "",
            files: 0,
            sha256: false,
        },
    ];
    let mut parsed = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(entry.path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let body = clearsigned_body(&text).unwrap_or_else(|| panic!("{name}: not clearsigned"));
        let result = parse(&body);
        if name.contains(".buildinfo") {
            // A .buildinfo has no Distribution; its `Source: lxml (ver)`
            // form is covered by real_world_quirks_are_tolerated.
            assert!(
                matches!(result, Err(ChangesError::Missing("Distribution"))),
                "{name}: {result:?}"
            );
            continue;
        }
        let changes = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        parsed += 1;
        assert!(!changes.source.is_empty(), "{name}");
        assert!(!changes.version.is_empty(), "{name}");
        assert!(!changes.architectures.is_empty(), "{name}");
        assert!(!changes.distributions.is_empty(), "{name}");
        assert!(!changes.files.is_empty(), "{name}: no files");
        for file in &changes.files {
            assert!(file.md5.is_some(), "{name}: {} has no md5", file.name);
            assert!(!file.name.contains(char::is_whitespace), "{name}");
        }
        if let Some(exp) = expectations.iter().find(|e| e.file == name) {
            assert_eq!(changes.source, exp.source, "{name}");
            if !exp.version.is_empty() {
                assert_eq!(changes.version, exp.version, "{name}");
            }
            if !exp.arch.is_empty() {
                assert_eq!(changes.architectures.join(" "), exp.arch, "{name}");
            }
            if exp.files > 0 {
                assert_eq!(changes.files.len(), exp.files, "{name}");
            }
            assert_eq!(
                changes
                    .files
                    .iter()
                    .all(|f| f.sha256.is_some() && f.sha1.is_some()),
                exp.sha256,
                "{name}: checksums merged"
            );
        }
    }
    assert!(parsed >= 10, "parsed only {parsed} real .changes");
}

#[test]
fn corpus_bad_continuation_is_a_syntax_error() {
    let Some(dir) = corpus_dir("other") else {
        return;
    };
    let path = dir.join("lp-testdata_bad-multiline-continuation.changes.txt");
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{} is part of the corpus: {e}", path.display()));
    let body = clearsigned_body(&String::from_utf8_lossy(&bytes)).unwrap();
    assert!(
        matches!(parse(&body), Err(ChangesError::Syntax(_))),
        "{:?}",
        parse(&body)
    );
}

#[test]
fn corpus_other_changes_never_panic() {
    let Some(dir) = corpus_dir("other") else {
        return;
    };
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse(&text);
        if let Some(body) = clearsigned_body(&text) {
            let _ = parse(&body);
        }
    }
}
