use super::*;

#[test]
fn every_regex_compiles() {
    // every_regex_compiles: each pattern of this module, once.
    let _ = (
        log_subject_re(),
        reply_prefix_re(),
        should_build_re(),
        archive_subject_re(),
        notification_re(),
    );
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

#[test]
fn replies_to_notifications_name_their_build() {
    let s = parse_notification_reply_subject(
        "Re: [Build #12345] amd64 build of hello 1:2.0-1+b1 in unstable",
    )
    .unwrap();
    assert_eq!(
        (
            s.source.as_str(),
            s.version.as_str(),
            s.arch.as_deref(),
            s.dist.as_str()
        ),
        ("hello", "1:2.0-1+b1", Some("amd64"), "unstable")
    );
    // A notice about several architectures names them all, and no one.
    let s =
        parse_notification_reply_subject("Re: [Build #1] amd64, arm64 build of hello 1.0 in sid")
            .unwrap();
    assert_eq!(s.arch, None);
    assert_eq!(s.arches, ["amd64", "arm64"]);
    // Not a reply, or no build number: not one.
    assert!(
        parse_notification_reply_subject("[Build #1] amd64 build of hello 1.0 in sid").is_none()
    );
    assert!(parse_notification_reply_subject("Re: amd64 build of hello 1.0 in sid").is_none());
}
