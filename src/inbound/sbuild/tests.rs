use super::*;

#[test]
fn every_regex_compiles() {
    let _ = (
        timestamp_re(),
        main_box_re(),
        sbuild_line_re(),
        automatic_re(),
        build_needed_re(),
    );
}

fn rule(c: char, n: usize) -> String {
    format!("+{}+", c.to_string().repeat(n))
}

fn ascii_box(title: &str, fill: char, width: usize) -> String {
    let inner = width - 2;
    format!(
        "{}\n| {:<w$} |\n{}\n",
        rule(fill, inner),
        title,
        rule(fill, inner),
        w = inner - 2
    )
}

#[test]
fn lines_handle_crlf_and_missing_final_newline() {
    let v: Vec<_> = lines(b"a\r\nb\n\nc")
        .map(|(o, l)| (o, trim_end(l)))
        .collect();
    assert_eq!(v, vec![(0, &b"a"[..]), (3, b"b"), (5, b""), (6, b"c")]);
    assert_eq!(lines(b"").count(), 0);
}

#[test]
fn timestamp_is_stripped_from_titles() {
    assert_eq!(
        strip_timestamp("Summary        Thu, 03 Sep 2026 21:35:10 +0000"),
        "Summary"
    );
    assert_eq!(
        strip_timestamp("xfsprogs 3.2.3 (CROSS host=arm64/build=amd64)   28 Jul 2015 03:07"),
        "xfsprogs 3.2.3 (CROSS host=arm64/build=amd64)"
    );
    assert_eq!(strip_timestamp("Build"), "Build");
    assert_eq!(strip_timestamp("Install 2 things"), "Install 2 things");
}

#[test]
fn main_box_forms() {
    let mut f = Ident::default();
    assert!(main_box_identity("hello 2.10-3 (amd64)", &mut f));
    assert_eq!(f.host_arch.as_deref(), Some("amd64"));
    let mut f = Ident::default();
    assert!(main_box_identity(
        "xfsprogs 3.2.3 (CROSS host=arm64/build=amd64)",
        &mut f
    ));
    assert_eq!(f.host_arch.as_deref(), Some("arm64"));
    assert_eq!(f.build_arch.as_deref(), Some("amd64"));
    assert!(!main_box_identity("Summary", &mut Ident::default()));
}

#[test]
fn wide_ascii_box_and_timestamp() {
    let long = "Chroot Setup Commands for a very long hook name that does not fit in eighty columns at all";
    let mut log = String::from("sbuild (Debian sbuild) 0.88.1 (01 January 2025) on b1\n\n");
    log += &ascii_box(
        "foo 1.0-1 (amd64)     Thu, 03 Sep 2026 21:35:10 +0000",
        '=',
        80,
    );
    log += "\nPackage: foo\nVersion: 1.0-1\nDistribution: sid\n\n";
    log += &ascii_box(long, '-', long.len() + 4);
    log += "\nhello\n\n";
    log += &ascii_box("Build          Thu, 03 Sep 2026 21:35:12 +0000", '-', 80);
    let p = parse(log.as_bytes());
    assert_eq!(p.format, Some(LogFormat::Ascii));
    assert_eq!(p.sections, vec![long.to_string(), "Build".to_string()]);
    assert_eq!(p.package.as_deref(), Some("foo"));
    assert_eq!(p.host_arch.as_deref(), Some("amd64"));
    assert_eq!(p.distribution.as_deref(), Some("sid"));
    assert_eq!(p.builder.as_deref(), Some("b1"));
    assert_eq!(p.sbuild_version.as_deref(), Some("0.88.1"));
    assert_eq!(p.status, None);
}

#[test]
fn mismatched_widths_or_inner_bars_are_not_boxes() {
    let mut log = String::new();
    log += &format!(
        "{}\n| a | b {} |\n{}\n",
        rule('-', 78),
        " ".repeat(68),
        rule('-', 78)
    );
    log += &format!(
        "{}\n| Build {}|\n{}\n",
        rule('-', 78),
        " ".repeat(60),
        rule('-', 78)
    );
    log += &format!("+{}+\n| x |\n+{}+\n", "-".repeat(5), "-".repeat(5));
    let p = parse(log.as_bytes());
    assert!(p.sections.is_empty(), "{:?}", p.sections);
    assert_eq!(p.format, Some(LogFormat::Unknown));
}

#[test]
fn summary_overrides_header_and_records_pairs() {
    let mut log = String::new();
    log += &ascii_box("foo 1.0-1 (amd64)", '=', 80);
    log += "\nPackage: foo\nVersion: 1.0-1\nDistribution: sid\nHost Architecture: amd64\n\n";
    log += &ascii_box("Summary", '-', 80);
    log += "\n\nBuild-Space: n/a\nBuild-Time: 12\nDistribution: unstable\nFail-Stage: build\n";
    log += "Host Architecture: i386\nSpace: n/a\nStatus: attempted\n";
    log += &"-".repeat(80);
    log += "\nFinished at 2024-01-01T00:00:00Z\nBuild needed 01:02:03, no disk space\n";
    let p = parse(log.as_bytes());
    assert_eq!(p.distribution.as_deref(), Some("unstable"));
    assert_eq!(p.host_arch.as_deref(), Some("i386"));
    assert_eq!(p.status, Some(Status::Attempted));
    assert_eq!(p.fail_stage.as_deref(), Some("build"));
    assert_eq!(p.build_time, Some(12));
    assert_eq!(p.space, Some(Space::Unknown));
    assert_eq!(p.build_space, Some(Space::Unknown));
    assert_eq!(p.build_needed_secs, Some(3723));
    assert_eq!(p.build_needed_space, Some(Space::Unknown));
    assert_eq!(p.finished_at.as_deref(), Some("2024-01-01T00:00:00Z"));
    assert_eq!(p.summary.len(), 7);
    assert_eq!(
        p.summary.first(),
        Some(&("Build-Space".to_string(), "n/a".to_string()))
    );
}

#[test]
fn old_format_statuses() {
    let base = "Automatic build of foo_1.0-1 on bd1 by sbuild/i386 1.170.5\nBuild started at 20090101-0000\n";
    let stars = "*".repeat(78);
    let ok = format!(
        "{base}{stars}\nFinished at 20090101-0001\nBuild needed 00:00:01, 12k disk space\n"
    );
    let p = parse(ok.as_bytes());
    assert_eq!(p.format, Some(LogFormat::Old));
    assert_eq!(p.status, Some(Status::Successful));
    assert_eq!(p.package.as_deref(), Some("foo"));
    assert_eq!(p.version.as_deref(), Some("1.0-1"));
    assert_eq!(p.builder.as_deref(), Some("bd1"));
    assert_eq!(p.host_arch.as_deref(), Some("i386"));
    assert_eq!(p.sbuild_version.as_deref(), Some("1.170.5"));
    assert_eq!(p.build_needed_space, Some(Space::Kib(12)));
    let failed = format!(
        "{base}{stars}\nFAILED [dpkg-buildpackage died]\nBuild needed 00:00:01, 12k disk space\n"
    );
    let p = parse(failed.as_bytes());
    assert_eq!(p.status, Some(Status::Attempted));
    assert_eq!(p.fail_stage, None);
    let dep = format!("{base}Source-dependencies not satisfied; skipping foo\n{stars}\nBuild needed 00:00:00, 0k disk space\n");
    assert_eq!(parse(dep.as_bytes()).status, Some(Status::GivenBack));
    let killed = format!("Build killed with signal 15 after 150 minutes of inactivity\n{stars}\n");
    assert_eq!(parse(killed.as_bytes()).status, Some(Status::Attempted));
}

#[test]
fn sbuild_057_unicode_box_with_old_layout() {
    let mut log = String::new();
    log += &format!("╔{}╗\n", "═".repeat(78));
    log += &format!("║ {:<76} ║\n", "sbuild/powerpc 0.57.5");
    log += &format!("╚{}╝\n\n", "═".repeat(78));
    log += "Automatic build of foo_1.0-1 on ppc-bd by sbuild/powerpc 0.57.5\n";
    log += "Build started at 20081010-1010\n";
    log += "FAILED [dpkg-buildpackage died]\n";
    let p = parse(log.as_bytes());
    assert_eq!(p.format, Some(LogFormat::Unicode));
    assert_eq!(p.status, Some(Status::Attempted));
    assert_eq!(p.package.as_deref(), Some("foo"));
    assert_eq!(p.host_arch.as_deref(), Some("powerpc"));
    assert_eq!(p.sbuild_version.as_deref(), Some("0.57.5"));
    assert!(p.sections.is_empty());
}

#[test]
fn no_summary_means_no_status() {
    let mut log = String::from("sbuild (Debian sbuild) 0.85.0 (04 January 2023) on h\n");
    log += &ascii_box("Build", '-', 80);
    log += "E: Build failure (dpkg-buildpackage died)\nBuild needed 00:00:01, 1k disk space\n";
    assert_eq!(parse(log.as_bytes()).status, None);
}

#[test]
fn trailer_outside_a_summary_box_is_found_at_the_end() {
    let mut log = String::from("sbuild (Debian sbuild) 0.88.3 (07 February 2025) on h\n");
    log += &ascii_box("Build", '-', 80);
    log += "a + b | c \u{2018}x\u{2019}\n";
    log += &ascii_box("Cleanup", '-', 80);
    log += "Finished at 2026-01-01T00:00:00Z\r\nBuild needed 00:00:07, 3k disk space\r\n";
    log += "E: something after the trailer\n";
    let p = parse(log.as_bytes());
    assert_eq!(p.sections, ["Build", "Cleanup"]);
    assert_eq!(p.finished_at.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(p.build_needed_secs, Some(7));
    assert_eq!(p.build_needed_space, Some(Space::Kib(3)));
    assert_eq!(p.status, None);
}

#[test]
fn boxes_need_adjacent_lines() {
    let mut log = ascii_box("Build", '-', 80);
    log += "x\n";
    let rule = rule('-', 78);
    log += &format!("{rule}\n\n| {:<76} |\n{rule}\n", "Summary");
    let p = parse(log.as_bytes());
    assert_eq!(p.sections, ["Build"]);
}

#[test]
fn summary_part() {
    let p = parse_summary_part(
        b"\xEF\xBB\xBFBuild-Space: 100\r\nFail-Stage: install-deps\r\nPackage: libfoo\r\nStatus: given-back\r\nVersion: 1:1.4-2\r\n",
    );
    assert_eq!(p.status, Some(Status::GivenBack));
    assert_eq!(p.fail_stage.as_deref(), Some("install-deps"));
    assert_eq!(p.package.as_deref(), Some("libfoo"));
    assert_eq!(p.version.as_deref(), Some("1:1.4-2"));
    assert_eq!(p.build_space, Some(Space::Kib(100)));
    assert_eq!(p.format, None);
    assert_eq!(p.summary.len(), 5);
}

#[test]
fn split_kv_rules() {
    assert_eq!(
        split_kv(b"Status: ok"),
        Some(("Status".into(), "ok".into()))
    );
    assert_eq!(
        split_kv(b"Build Profiles:"),
        Some(("Build Profiles".into(), "".into()))
    );
    assert_eq!(split_kv(b"http://x"), None);
    assert_eq!(split_kv(b" Package: x"), None);
}

#[test]
fn changes_section_is_extracted_up_to_next_box() {
    let mut log = String::new();
    log += &ascii_box("Changes", '-', 80);
    log +=
        "\nfoo_1_amd64.changes:\r\n--------------------\r\n\r\nFormat: 1.8\r\nSource: foo\r\n\r\n";
    log += &ascii_box("Buildinfo", '-', 80);
    log += "Format: 1.0\n";
    let p = parse(log.as_bytes());
    assert_eq!(p.changes.as_deref(), Some("Format: 1.8\nSource: foo\n"));
    assert_eq!(p.changes_file.as_deref(), Some("foo_1_amd64.changes"));
}
