use super::*;

#[test]
fn every_regex_compiles() {
    let _ = (
        error_re(),
        generic_re(),
        apt_dep_re(),
        apt_alt_re(),
        apt3_dep_re(),
    );
}

#[test]
fn dependency_normalisation() {
    assert_eq!(
        normalise_dependency("libfoo-dev:amd64 (>= 0.1.138-~~)").as_deref(),
        Some("libfoo-dev (>= 0.1.138-~~)")
    );
    assert_eq!(
        normalise_dependency("python3:any").as_deref(),
        Some("python3")
    );
    assert_eq!(
        normalise_dependency("aa (<< 2) | bb:any (= 1:2.0-1)").as_deref(),
        Some("aa (<< 2) | bb (= 1:2.0-1)")
    );
    assert_eq!(normalise_dependency("Libfoo"), None);
    assert_eq!(normalise_dependency("libfoo (~= 1)"), None);
    assert_eq!(normalise_dependency("libfoo (>= )"), None);
    assert_eq!(normalise_dependency("libfoo; rm -rf /"), None);
    assert_eq!(normalise_dependency("x"), None);
}

#[test]
fn apt_output_with_alternatives_and_deeper_packages() {
    let text = "The following packages have unmet dependencies:\n \
sbuild-build-depends-main-dummy : Depends: libbar-dev (>= 2.1) but it is not installable\n                                   \
Depends: libqux-dev but it is not installable or\n                                            \
libqux2-dev but 1.0-1 is to be installed\n \
libbar-dev : Depends: libzzz but it is not installable\n\
E: Unable to correct problems, you have held broken packages.\n";
    let lines: Vec<&[u8]> = text.as_bytes().split(|&b| b == b'\n').collect();
    let hits = dep_hits(&lines);
    let items: Vec<(Option<&str>, bool)> =
        hits.iter().map(|h| (h.item.as_deref(), h.dummy)).collect();
    assert_eq!(
        items,
        vec![
            (Some("libbar-dev (>= 2.1)"), true),
            (Some("libqux-dev | libqux2-dev"), true),
            (Some("libzzz"), false)
        ]
    );
}

#[test]
fn unreadable_dependencies_are_left_out_and_counted() {
    let log = b"+------------------------------------------------------------------------------+\n\
| Install package build dependencies                                           |\n\
+------------------------------------------------------------------------------+\n\
The following packages have unmet dependencies:\n \
sbuild-build-depends-main-dummy : Depends: base-files (<  6.0) but 6.7 is to be installed\n\
                              Depends: libok-dev but it is not installable\n\
E: Broken packages\n";
    let parsed = BuildLog {
        status: Some(Status::GivenBack),
        fail_stage: Some("install-deps".into()),
        ..BuildLog::default()
    };
    let e = explain(log, &parsed).expect("explained");
    assert_eq!(e.dep_wait.as_deref(), Some("libok-dev"));
    assert!(e.summary.contains("and 1 unreadable"), "{}", e.summary);
}

#[test]
fn apt3_solver_output() {
    let text = "Error: Unable to satisfy dependencies. Reached two conflicting assignments:\n   \
1. sbuild-build-depends-main-dummy:amd64=0.invalid.0 is selected for install\n   \
2. sbuild-build-depends-main-dummy:amd64 Depends libfoo-dev (>= 3)\n      \
but none of the choices are installable:\n      [no choices]\n";
    let lines: Vec<&[u8]> = text.as_bytes().split(|&b| b == b'\n').collect();
    let hits = dep_hits(&lines);
    assert_eq!(hits.len(), 1);
    assert_eq!(
        hits.first().and_then(|h| h.item.as_deref()),
        Some("libfoo-dev (>= 3)")
    );
}

#[test]
fn error_line_prefers_specific_over_generic() {
    let text = "gcc -Werror=format -c strerror.c\n\
foo.c:1:2: error: expected ';'\n\
make[1]: *** [Makefile:3: all] Error 1\n\
dpkg-buildpackage: error: debian/rules build subprocess returned exit status 2\n";
    let lines: Vec<&[u8]> = text.as_bytes().split(|&b| b == b'\n').collect();
    assert_eq!(find_error_line(&lines), Some((1, true)));
    let generic_only: Vec<&[u8]> = lines.iter().skip(2).copied().collect();
    assert_eq!(find_error_line(&generic_only), Some((1, false)));
    assert!(is_error_line(
        b"Build killed with signal 15 after 150 minutes of inactivity"
    ));
    assert!(!is_error_line(b"checking for strerror_r... yes"));
    assert!(!is_error_line(b"gcc -Werror=format-security -c x.c"));
}

#[test]
fn tail_lines_is_bounded_and_exact() {
    let data = b"a\nb\nc\nd\n";
    assert_eq!(tail_lines(data, 0, data.len(), 2), vec![&b"c"[..], b"d"]);
    assert_eq!(tail_lines(data, 0, data.len(), 10).len(), 4);
    assert!(tail_lines(data, 3, 1, 10).is_empty());
    assert!(tail_lines(b"", 0, 0, 10).is_empty());
}

#[test]
fn excerpt_is_capped() {
    let owned: Vec<String> = (0..100).map(|i| format!("l{i}")).collect();
    let lines: Vec<&[u8]> = owned.iter().map(|s| s.as_bytes()).collect();
    let ex = excerpt_around(&lines, 50);
    assert_eq!(ex.len(), MAX_EXCERPT_LINES);
    assert_eq!(ex.last().map(String::as_str), Some("l53"));
    let ex = excerpt_around(&lines, 99);
    assert_eq!(ex.last().map(String::as_str), Some("l99"));
}

#[test]
fn successful_is_not_explained() {
    let parsed = BuildLog {
        status: Some(Status::Successful),
        ..BuildLog::default()
    };
    assert_eq!(explain(b"E: Build failure\n", &parsed), None);
}

#[test]
fn unknown_status_without_evidence_is_not_explained() {
    assert_eq!(explain(b"all good\n", &BuildLog::default()), None);
    let e = explain(
        b"x.c:1:1: error: boom\nmake: *** [all] Error 1\n",
        &BuildLog::default(),
    );
    assert_eq!(
        e.and_then(|e| e.matched_line).as_deref(),
        Some("x.c:1:1: error: boom")
    );
}
