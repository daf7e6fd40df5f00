//! Conformance against the shared corpus of real sbuild logs
//! (`../shared/corpus` relative to the crate). On a machine without the
//! corpus the tests say so and pass, except under CI, where they fail.

use std::path::PathBuf;

use buildmail::debian::Status;
use buildmail::inbound::explain::{explain, MAX_EXCERPT_LINES};
use buildmail::inbound::sbuild::parse;

fn corpus() -> Option<PathBuf> {
    crate::support::corpus("")
}

fn field(v: &str) -> Option<&str> {
    if v == "-" {
        None
    } else {
        Some(v)
    }
}

#[test]
fn every_corpus_log_parses_and_is_explained_without_panic() {
    let Some(dir) = corpus() else { return };
    let logs = dir.join("sbuild-logs");
    let mut n = 0;
    for entry in std::fs::read_dir(&logs).expect("sbuild-logs is readable") {
        let path = entry.expect("directory entry").path();
        if !path.is_file() {
            continue;
        }
        let data = std::fs::read(&path).expect("log is readable");
        let parsed = parse(&data);
        assert!(parsed.format.is_some(), "{}", path.display());
        if let Some(e) = explain(&data, &parsed) {
            assert!(!e.summary.is_empty(), "{}", path.display());
            assert!(e.excerpt.len() <= MAX_EXCERPT_LINES, "{}", path.display());
        }
        n += 1;
    }
    assert!(n > 0, "no logs in {}", logs.display());
}

#[test]
fn expected_values() {
    let Some(dir) = corpus() else { return };
    let tsv = std::fs::read_to_string(dir.join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    let mut rows = 0;
    for line in tsv.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [file, package, version, host_arch, dist, status, stage] = cols.as_slice() else {
            panic!("malformed row: {line:?}");
        };
        let data = std::fs::read(dir.join(file)).expect("listed log exists");
        let p = parse(&data);
        assert_eq!(p.package.as_deref(), field(package), "package of {file}");
        assert_eq!(p.version.as_deref(), field(version), "version of {file}");
        assert_eq!(
            p.host_arch.as_deref(),
            field(host_arch),
            "host arch of {file}"
        );
        assert_eq!(
            p.distribution.as_deref(),
            field(dist),
            "distribution of {file}"
        );
        assert_eq!(
            p.status.map(Status::as_str),
            field(status),
            "status of {file}"
        );
        assert_eq!(
            p.fail_stage.as_deref(),
            field(stage),
            "fail-stage of {file}"
        );

        // Successful builds need no explanation; every other one gets one.
        let e = explain(&data, &p);
        if p.status == Some(Status::Successful) {
            assert_eq!(e, None, "{file}");
        } else {
            let e = e.unwrap_or_else(|| panic!("{file} is not explained"));
            assert!(e.matched_line.is_some(), "{file}: {e:?}");
        }
        rows += 1;
    }
    assert!(rows > 0, "EXPECTED.tsv lists no logs");
}

#[test]
fn corpus_explanations() {
    let Some(dir) = corpus() else { return };
    let logs = dir.join("sbuild-logs");
    let explain_file = |name: &str| {
        let data = std::fs::read(logs.join(name)).expect("corpus log");
        explain(&data, &parse(&data))
    };

    let e = explain_file("fragment_install-deps_apt-cudf_sbuild-cudf.log").expect("explained");
    assert_eq!(
        e.dep_wait.as_deref(),
        Some("librust-breezyshim+dirty-tracker-dev (>= 0.1.138-~~)")
    );

    let e = explain_file("xfsprogs_3.2.3_arm64_cross_sbuild0.65.2_attempted_build_DECODED.build")
        .expect("explained");
    assert_eq!(
        e.matched_line.as_deref(),
        Some("FATAL ERROR: could not find a valid UUID library.")
    );

    let e = explain_file(
        "python-cvengine_0.1.1-0ubuntu1_precise_amd64_LP2014_sbuild1.170.5_FAILED_EXTRACTED_abridged.log",
    )
    .expect("explained");
    assert_eq!(
        e.matched_line.as_deref(),
        Some("dpkg-genchanges: error: cannot read files list file: No such file or directory")
    );

    let e = explain_file(
        "libffado_2.0-rc1-0ubuntu1_intrepid_amd64_LP2009_killed-inactivity_TAIL_FRAGMENT.log",
    )
    .expect("explained");
    assert_eq!(
        e.matched_line.as_deref(),
        Some("Build killed with signal 15 after 150 minutes of inactivity")
    );

    let e = explain_file(
        "solidrun-keyring_2022.07.04_arm64_cross_sbuild0.85.0_failed_create-session_EXTRACTED.log",
    )
    .expect("explained");
    assert_eq!(
        e.matched_line.as_deref(),
        Some("E: Chroot for distribution bullseye, architecture amd64 not found")
    );

    let e = explain_file("fragment_build-section_meson_error.log").expect("explained");
    assert_eq!(
        e.matched_line.as_deref(),
        Some("../meson.build:1:0: ERROR: Meson version is 0.56.2 but project requires >= 0.57.0")
    );
}
