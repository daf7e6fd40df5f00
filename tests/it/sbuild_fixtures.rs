//! The synthetic sbuild logs in `fixtures/logs/`: exact extracted fields,
//! explanations, format variations derived from them, and robustness
//! (property tests: no input makes the parser or the explainer panic).

use std::path::PathBuf;

use buildmail::debian::Status;
use buildmail::inbound::explain::{explain, MAX_EXCERPT_LINES};
use buildmail::inbound::sbuild::{parse, parse_summary_part, BuildLog, LogFormat, Space};
use proptest::prelude::*;

const FIXTURES: &[&str] = &[
    "successful-ascii.log",
    "attempted-unicode.log",
    "given-back-ascii088.log",
    "failed-old.log",
    "skipped-binnmu.log",
    "failed-create-session.log",
    "successful-wide-box.log",
];

fn fixture(name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "fixtures", "logs", name]
        .iter()
        .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// The identity fields of a parsed log, labelled.
#[derive(Debug, PartialEq, Eq)]
struct Identity<'a> {
    package: Option<&'a str>,
    version: Option<&'a str>,
    source_version: Option<&'a str>,
    distribution: Option<&'a str>,
    host_arch: Option<&'a str>,
    build_arch: Option<&'a str>,
    machine_arch: Option<&'a str>,
    builder: Option<&'a str>,
}

impl<'a> Identity<'a> {
    fn of(p: &'a BuildLog) -> Identity<'a> {
        Identity {
            package: p.package.as_deref(),
            version: p.version.as_deref(),
            source_version: p.source_version.as_deref(),
            distribution: p.distribution.as_deref(),
            host_arch: p.host_arch.as_deref(),
            build_arch: p.build_arch.as_deref(),
            machine_arch: p.machine_arch.as_deref(),
            builder: p.builder.as_deref(),
        }
    }

    /// A native build: the version is the source version, and the host,
    /// build and machine architectures are one.
    fn native(
        package: &'a str,
        version: &'a str,
        dist: &'a str,
        arch: &'a str,
        builder: &'a str,
    ) -> Identity<'a> {
        Identity {
            package: Some(package),
            version: Some(version),
            source_version: Some(version),
            distribution: Some(dist),
            host_arch: Some(arch),
            build_arch: Some(arch),
            machine_arch: Some(arch),
            builder: Some(builder),
        }
    }
}

#[test]
fn successful_ascii() {
    let log = fixture("successful-ascii.log");
    let p = parse(&log);
    assert_eq!(p.format, Some(LogFormat::Ascii));
    assert_eq!(p.sbuild_version, s("0.85.2"));
    assert_eq!(
        Identity::of(&p),
        Identity::native(
            "hello",
            "2.10-3",
            "unstable",
            "amd64",
            "buildd-x86-01.example.org"
        )
    );
    assert_eq!(p.build_type, s("any"));
    assert_eq!(p.build_profiles, None);
    assert_eq!(p.status, Some(Status::Successful));
    assert_eq!(p.fail_stage, None);
    assert_eq!(p.build_time, Some(58));
    assert_eq!(p.install_time, Some(9));
    assert_eq!(p.package_time, Some(72));
    assert_eq!(p.space, Some(Space::Kib(41428)));
    assert_eq!(p.build_space, Some(Space::Kib(41428)));
    assert_eq!(p.finished_at, s("2025-11-10T09:12:44Z"));
    assert_eq!(p.build_needed_secs, Some(72));
    assert_eq!(p.build_needed_space, Some(Space::Kib(41428)));
    assert_eq!(
        p.sections,
        [
            "Update chroot",
            "Fetch source files",
            "Install package build dependencies",
            "Check architectures",
            "Build environment",
            "Build",
            "Changes",
            "Buildinfo",
            "Package contents",
            "Post Build",
            "Cleanup",
            "Summary",
        ]
    );
    assert_eq!(p.summary.len(), 17);
    assert_eq!(
        p.summary.first(),
        Some(&("Autopkgtest".to_string(), "no tests".to_string()))
    );
    assert_eq!(
        p.summary.last(),
        Some(&("Version".to_string(), "2.10-3".to_string()))
    );

    assert_eq!(p.changes_file, s("hello_2.10-3_amd64.changes"));
    let changes = p.changes.as_deref().expect("Changes section");
    assert!(changes.starts_with("Format: 1.8\nDate: "), "{changes}");
    for field in [
        "\nSource: hello\n",
        "\nVersion: 2.10-3\n",
        "\nArchitecture: amd64\n",
        "\nDistribution: unstable\n",
        "\nMaintainer: Example Maintainer <maint@example.org>\n",
        "\nChanged-By: Example Uploader <uploader@example.org>\n",
        "\nChecksums-Sha1:\n",
        "\nChecksums-Sha256:\n",
        "\nFiles:\n",
    ] {
        assert!(changes.contains(field), "missing {field:?}");
    }
    assert!(
        changes.ends_with(" hello_2.10-3_amd64.buildinfo\n"),
        "{changes}"
    );
    // Six file lines: .deb and .buildinfo in each of the three lists.
    assert_eq!(changes.matches(" hello_2.10-3_amd64.").count(), 6);
    // Nothing of the following Buildinfo box leaks in.
    assert!(!changes.contains("+---"));
    assert!(!changes.contains("Build-Origin"));
    assert_eq!(changes.lines().count(), 25);

    assert_eq!(explain(&log, &p), None);
}

#[test]
fn attempted_unicode() {
    let log = fixture("attempted-unicode.log");
    let p = parse(&log);
    assert_eq!(p.format, Some(LogFormat::Unicode));
    assert_eq!(p.sbuild_version, s("0.65.2"));
    assert_eq!(
        Identity::of(&p),
        Identity::native(
            "hello",
            "2.10-3",
            "unstable",
            "arm64",
            "arm-buildd-03.example.net"
        )
    );
    assert_eq!(p.build_type, None);
    assert_eq!(p.status, Some(Status::Attempted));
    assert_eq!(p.fail_stage, s("build"));
    assert_eq!(p.build_time, Some(34));
    assert_eq!(p.install_time, Some(41));
    assert_eq!(p.package_time, Some(82));
    assert_eq!(p.space, Some(Space::Kib(2648)));
    assert_eq!(p.build_space, Some(Space::Kib(2648)));
    assert_eq!(p.finished_at, s("20251107-1412"));
    assert_eq!(p.build_needed_secs, Some(82));
    assert_eq!(p.build_needed_space, Some(Space::Kib(2648)));
    assert_eq!(
        p.sections,
        [
            "Update chroot",
            "Fetch source files",
            "Install hello build dependencies (apt-based resolver)",
            "Build environment",
            "Build",
            "Cleanup",
            "Summary",
        ]
    );
    assert_eq!(p.changes, None);
    assert_eq!(p.changes_file, None);

    let e = explain(&log, &p).expect("an attempted build is explained");
    let matched = "hello.c:42:5: error: 'greeting' undeclared (first use in this function)";
    assert_eq!(e.matched_line.as_deref(), Some(matched));
    assert_eq!(e.dep_wait, None);
    assert!(e.summary.contains(matched), "{}", e.summary);
    assert!(e.summary.starts_with("attempted (fail-stage build)"));
    assert!(e.excerpt.len() <= MAX_EXCERPT_LINES);
    let at = e
        .excerpt
        .iter()
        .position(|l| l == matched)
        .expect("excerpt holds the matched line");
    // The excerpt ends shortly after the matched line; the invalid byte of
    // the following line is replaced, not fatal.
    assert_eq!(e.excerpt.len() - at - 1, 3);
    assert!(e.excerpt.iter().any(|l| l.contains("caf\u{FFFD}")));
}

#[test]
fn given_back_ascii_088() {
    let log = fixture("given-back-ascii088.log");
    let p = parse(&log);
    assert_eq!(p.format, Some(LogFormat::Ascii));
    assert_eq!(p.sbuild_version, s("0.88.3"));
    assert_eq!(
        Identity::of(&p),
        Identity::native(
            "libfoo",
            "1.4-2",
            "unstable",
            "amd64",
            "buildd-x86-02.example.org"
        )
    );
    assert_eq!(p.status, Some(Status::GivenBack));
    assert_eq!(p.fail_stage, s("install-deps"));
    assert_eq!(p.build_time, Some(0));
    assert_eq!(p.install_time, Some(2));
    assert_eq!(p.package_time, Some(5));
    assert_eq!(p.space, Some(Space::Unknown));
    assert_eq!(p.build_space, Some(Space::Unknown));
    assert_eq!(p.finished_at, s("2026-09-03T21:35:10Z"));
    assert_eq!(p.build_needed_secs, Some(5));
    assert_eq!(p.build_needed_space, Some(Space::Unknown));
    // 0.88 subsection titles carry a timestamp; it is stripped.
    assert_eq!(
        p.sections,
        [
            "Update chroot",
            "Fetch source files",
            "Install package build dependencies",
            "Cleanup",
            "Summary",
        ]
    );
    assert_eq!(p.changes, None);

    let e = explain(&log, &p).expect("a given-back build is explained");
    assert_eq!(
        e.dep_wait.as_deref(),
        Some("libbar-dev (>= 2.1), libbaz-dev")
    );
    assert_eq!(
        e.matched_line.as_deref(),
        Some(
            " libfoo-build-depends-dummy : Depends: libbar-dev (>= 2.1) but it is not installable"
        )
    );
    assert_eq!(
        e.summary,
        "given-back (fail-stage install-deps): unsatisfiable build dependencies: libbar-dev (>= 2.1), libbaz-dev"
    );
    assert!(e.excerpt.len() <= MAX_EXCERPT_LINES);
    assert!(e.excerpt.iter().any(|l| l
        .trim_start()
        .starts_with("Depends: libbaz-dev but it is not going")));
}

#[test]
fn failed_old_format() {
    let log = fixture("failed-old.log");
    let p = parse(&log);
    assert_eq!(p.format, Some(LogFormat::Old));
    assert_eq!(p.sbuild_version, s("1.170.5"));
    assert_eq!(
        Identity::of(&p),
        Identity {
            package: Some("oldpkg"),
            version: Some("0.9-1"),
            source_version: None,
            distribution: None,
            host_arch: Some("i386"),
            build_arch: None,
            machine_arch: None,
            builder: Some("oldbuildd"),
        }
    );
    // FAILED [dpkg-buildpackage died] → attempted, no invented fail-stage.
    assert_eq!(p.status, Some(Status::Attempted));
    assert_eq!(p.fail_stage, None);
    assert_eq!(p.build_time, None);
    assert_eq!(p.space, None);
    assert_eq!(p.finished_at, s("20090312-0816"));
    assert_eq!(p.build_needed_secs, Some(1));
    assert_eq!(p.build_needed_space, Some(Space::Kib(204)));
    assert!(p.sections.is_empty());
    assert!(p.summary.is_empty());

    let e = explain(&log, &p).expect("explained");
    assert_eq!(
        e.matched_line.as_deref(),
        Some("oldpkg.c:17: error: 'GOptionEntry' has no member named 'arg_flags'")
    );
    assert!(e.excerpt.len() <= MAX_EXCERPT_LINES);
    assert_eq!(
        e.excerpt.last().map(String::as_str),
        Some("dpkg-buildpackage: failure: debian/rules build gave error exit status 2")
    );
}

#[test]
fn skipped_binnmu() {
    let log = fixture("skipped-binnmu.log");
    let p = parse(&log);
    assert_eq!(p.format, Some(LogFormat::Ascii));
    assert_eq!(
        Identity::of(&p),
        Identity {
            package: Some("bar"),
            version: Some("1:2.0-1+b1"),
            source_version: Some("1:2.0-1"),
            distribution: Some("bookworm"),
            host_arch: Some("armhf"),
            build_arch: Some("armhf"),
            machine_arch: Some("arm64"),
            builder: Some("buildd-arm-07.example.org"),
        }
    );
    assert_eq!(p.status, Some(Status::Skipped));
    assert_eq!(p.fail_stage, s("arch-check"));
    assert_eq!(p.build_time, Some(0));
    assert_eq!(p.space, Some(Space::Unknown));
    assert_eq!(p.build_needed_secs, Some(0));
    assert_eq!(p.build_needed_space, Some(Space::Unknown));
    assert_eq!(p.finished_at, s("2025-03-22T05:41:19Z"));

    let e = explain(&log, &p).expect("explained");
    assert_eq!(
        e.matched_line.as_deref(),
        Some("E: dsc: armhf not in arch list or does not match any arch wildcards: amd64 arm64 i386 -- skipping")
    );
    assert_eq!(e.dep_wait, None);
    assert!(e.summary.starts_with("skipped (fail-stage arch-check): "));
}

#[test]
fn failed_create_session() {
    let log = fixture("failed-create-session.log");
    let p = parse(&log);
    assert_eq!(
        Identity::of(&p),
        Identity::native(
            "baz",
            "3.1-1",
            "trixie",
            "amd64",
            "buildd-x86-03.example.org"
        )
    );
    assert_eq!(p.status, Some(Status::Failed));
    assert_eq!(p.fail_stage, s("create-session"));
    assert_eq!(p.sections, ["Summary"]);
    assert_eq!(p.space, Some(Space::Kib(0)));
    assert_eq!(p.build_needed_space, Some(Space::Kib(0)));

    let e = explain(&log, &p).expect("explained");
    // The specific E: line, not the generic "Error creating chroot session".
    assert_eq!(
        e.matched_line.as_deref(),
        Some("E: trixie-amd64-sbuild: Chroot not found")
    );
}

#[test]
fn successful_wide_box_without_summary() {
    let log = fixture("successful-wide-box.log");
    let p = parse(&log);
    assert_eq!(p.format, Some(LogFormat::Ascii));
    assert_eq!(
        Identity::of(&p),
        Identity::native(
            "qux",
            "0.4.1-1",
            "experimental",
            "amd64",
            "buildd-x86-04.example.org"
        )
    );
    // Summary hidden: no status (the header alone does not say), no stats.
    assert_eq!(p.status, None);
    assert_eq!(p.build_time, None);
    assert_eq!(p.finished_at, None);
    assert!(p.summary.is_empty());
    let wide = "Chroot Setup Commands: /usr/share/buildd-hooks/setup.d/10-configure-local-apt-mirror-with-experimental-pinning";
    assert_eq!(
        p.sections,
        [wide, "Update chroot", "Build", "Changes", "Cleanup"]
    );
    assert_eq!(p.changes_file, s("qux_0.4.1-1_amd64.changes"));
    let changes = p.changes.as_deref().expect("changes");
    assert!(changes.starts_with("Format: 1.8\n"));
    assert!(changes.ends_with(" qux-tools_0.4.1-1_amd64.deb\n"));
    // No failure evidence and no status: nothing to explain.
    assert_eq!(explain(&log, &p), None);
}

// ---------------------------------------------------------------------------
// Format variations derived from the fixtures
// ---------------------------------------------------------------------------

#[test]
fn crlf_line_ends_change_nothing() {
    for name in FIXTURES {
        let log = fixture(name);
        let want = parse(&log);
        let mut crlf = Vec::with_capacity(log.len() * 2);
        for &b in &log {
            if b == b'\n' {
                crlf.push(b'\r');
            }
            crlf.push(b);
        }
        assert_eq!(parse(&crlf), want, "{name} with CRLF");
    }
}

#[test]
fn wrapper_lines_before_the_log() {
    let mut log = b"RUN: /usr/share/launchpad-buildd/bin/in-target sbuild-package --arch=amd64\n\
Initiating build PACKAGEBUILD-42 with 4 jobs across 4 processor cores.\n\
Kernel reported to sbuild: 6.8.0-45-generic #45-Ubuntu SMP x86_64\n"
        .to_vec();
    log.extend(fixture("given-back-ascii088.log"));
    log.extend_from_slice(b"RUN: /usr/share/launchpad-buildd/bin/umount-chroot\n");
    let p = parse(&log);
    assert_eq!(p, parse(&fixture("given-back-ascii088.log")));
    assert_eq!(
        explain(&log, &p).and_then(|e| e.dep_wait).as_deref(),
        Some("libbar-dev (>= 2.1), libbaz-dev")
    );
}

#[test]
fn doubled_blank_lines_change_nothing() {
    let log = fixture("successful-ascii.log");
    let text = String::from_utf8(log.clone()).expect("fixture is UTF-8");
    // Double only the blank lines (as forum pastes do), not the content.
    let doubled = text.replace("\n\n", "\n\n\n");
    let p = parse(doubled.as_bytes());
    assert_eq!(p, parse(&log));
}

#[test]
fn tail_fragment_with_only_the_summary() {
    let log = fixture("skipped-binnmu.log");
    let text = String::from_utf8(log).expect("fixture is UTF-8");
    // The Summary box is the last box: its opening rule is the second-last
    // line starting with "+---".
    let starts: Vec<usize> = text.match_indices("\n+---").map(|(i, _)| i + 1).collect();
    let from = starts
        .len()
        .checked_sub(2)
        .and_then(|i| starts.get(i))
        .copied();
    let fragment = text.get(from.unwrap_or(0)..).expect("fragment");
    assert!(fragment.starts_with("+---"), "{fragment}");
    let p = parse(fragment.as_bytes());
    assert_eq!(p.format, Some(LogFormat::Ascii));
    assert_eq!(p.package.as_deref(), Some("bar"));
    assert_eq!(p.version.as_deref(), Some("1:2.0-1+b1"));
    assert_eq!(p.host_arch.as_deref(), Some("armhf"));
    assert_eq!(p.status, Some(Status::Skipped));
    assert_eq!(p.builder, None);
    assert_eq!(p.sections, ["Summary"]);
}

#[test]
fn summary_part_matches_the_log_summary() {
    let log = fixture("given-back-ascii088.log");
    let p = parse(&log);
    let part: String = p
        .summary
        .iter()
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect();
    let q = parse_summary_part(part.as_bytes());
    assert_eq!(q.summary, p.summary);
    assert_eq!(q.status, p.status);
    assert_eq!(q.fail_stage, p.fail_stage);
    assert_eq!(q.package, p.package);
    assert_eq!(q.version, p.version);
    assert_eq!(q.source_version, p.source_version);
    assert_eq!(q.distribution, p.distribution);
    assert_eq!(q.host_arch, p.host_arch);
    assert_eq!(q.space, p.space);
    assert_eq!(q.install_time, p.install_time);
    assert_eq!(q.format, None);
    assert_eq!(q.builder, None);
}

#[test]
fn explanation_uses_the_callers_status() {
    // A log whose Summary was hidden, completed by the mail's .summary part.
    let log = fixture("attempted-unicode.log");
    let text = String::from_utf8_lossy(&log).into_owned();
    let title = text.find("│ Summary").expect("Summary box");
    let cut = text
        .get(..title)
        .and_then(|head| head.rfind('┌'))
        .expect("box top");
    let without_summary = text.get(..cut).unwrap_or(&text).as_bytes().to_vec();
    let p = parse(&without_summary);
    assert_eq!(p.status, None);
    let mut completed = p.clone();
    completed.status = Some(Status::Attempted);
    completed.fail_stage = Some("build".into());
    let e = explain(&without_summary, &completed).expect("explained");
    assert_eq!(
        e.matched_line.as_deref(),
        Some("hello.c:42:5: error: 'greeting' undeclared (first use in this function)")
    );
    let mut ok = p;
    ok.status = Some(Status::Successful);
    assert_eq!(explain(&without_summary, &ok), None);
}

// ---------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------

/// A random edit of a byte buffer.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn apply(mut data: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = data.len().max(1);
        match e {
            Edit::Set(at, b) => {
                if let Some(x) = data.get_mut(at % len) {
                    *x = *b;
                }
            }
            Edit::Insert(at, bytes) => {
                let at = (at % len).min(data.len());
                data.splice(at..at, bytes.iter().copied());
            }
            Edit::Delete(at, n) => {
                let at = (at % len).min(data.len());
                let end = at.saturating_add(*n).min(data.len());
                data.drain(at..end);
            }
            Edit::Truncate(at) => data.truncate(at % len),
        }
    }
    data
}

fn interesting_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        prop::sample::select(vec![
            b"\n".to_vec(),
            b"\r".to_vec(),
            b"\r\n".to_vec(),
            b"|".to_vec(),
            "│".as_bytes().to_vec(),
            "╔".as_bytes().to_vec(),
            b"\xe2\x94".to_vec(),
            b"+------------------------------------------------------------------------------+\n"
                .to_vec(),
            b"| Summary                                                                      |\n"
                .to_vec(),
            b"Status: given-back\n".to_vec(),
            b"Build needed 99999999999999999999:00:00, 99999999999999999999999k disk space\n"
                .to_vec(),
            b" x : Depends: libz (>= 1) but it is not installable or\n".to_vec(),
            b"unsat-dependency: :: (>= )\n".to_vec(),
            b"Automatic build of _ on  by sbuild/\n".to_vec(),
            b"hello_1.changes:\n---\n".to_vec(),
        ]),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Set(a, b)),
        (any::<usize>(), interesting_bytes()).prop_map(|(a, b)| Edit::Insert(a, b)),
        (any::<usize>(), 0usize..400).prop_map(|(a, n)| Edit::Delete(a, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let p = parse(&data);
        let _ = explain(&data, &p);
        let q = parse_summary_part(&data);
        let _ = explain(&data, &q);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0..FIXTURES.len(),
        edits in proptest::collection::vec(edit(), 1..12),
        status in prop::option::of(prop::sample::select(vec![
            Status::Attempted, Status::GivenBack, Status::Failed, Status::Skipped,
        ])),
    ) {
        let name = FIXTURES.get(which).copied().unwrap_or("failed-old.log");
        let data = apply(fixture(name), &edits);
        let mut p = parse(&data);
        if let Some(e) = explain(&data, &p) {
            prop_assert!(e.excerpt.len() <= MAX_EXCERPT_LINES);
            prop_assert!(!e.summary.contains('\n'));
        }
        // Whatever the caller claims, explain must cope.
        p.status = status;
        p.fail_stage = Some("install-deps".into());
        let _ = explain(&data, &p);
        let _ = parse_summary_part(&data);
    }
}
