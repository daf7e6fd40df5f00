//! `buildmail sync` on a real Debian suite (issue 12's benchmark): the
//! current stable's `main` Sources and the Packages of amd64 and arm64,
//! fetched with the machine's own apt into a private lists directory (so
//! the InRelease is the genuine signed one, verified against
//! `/usr/share/keyrings/debian-archive-keyring.gpg`), arranged as an
//! archive tree, and synced into a fresh database.
//!
//! Reported: the first sync (wall time, peak RSS, builds created), a second
//! sync with nothing changed, `queue` and `take` with the suite loaded,
//! and — when dose-builddebcheck is installed — the first sync with it.
//!
//! `cargo bench --bench sync_real`. `BUILDMAIL_BENCH_SYNC_DIR=dir` keeps the
//! download (and reuses it); `BUILDMAIL_BENCH_SYNC_SUITE` (default
//! `trixie`); `BUILDMAIL_BENCH_SYNC_MIRROR` (default
//! `http://deb.debian.org/debian`). The downloaded indices are never part
//! of the repository. Without apt or network access the bench says so and
//! exits.

#[path = "common/measure.rs"]
mod measure;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use measure::run_measured;

const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
const ARCHES: [&str; 2] = ["amd64", "arm64"];

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Fetches the indices with apt into `dir/apt`; false when apt could not.
fn apt_update(dir: &Path, mirror: &str, suite: &str) -> bool {
    let apt = dir.join("apt");
    for d in ["etc", "lists/partial", "cache/archives/partial"] {
        std::fs::create_dir_all(apt.join(d)).expect("apt dirs");
    }
    std::fs::write(apt.join("status"), "").expect("status");
    std::fs::write(
        apt.join("etc/sources.list"),
        format!(
            "deb [arch={}] {mirror} {suite} main\ndeb-src {mirror} {suite} main\n",
            ARCHES.join(",")
        ),
    )
    .expect("sources.list");
    let o = |k: &str, v: &Path| format!("-o{k}={}", v.display());
    let status = Command::new("apt-get")
        .arg(o("Dir::Etc::SourceList", &apt.join("etc/sources.list")))
        .arg("-oDir::Etc::SourceParts=/dev/null")
        .arg(o("Dir::State::Lists", &apt.join("lists")))
        .arg(o("Dir::State::Status", &apt.join("status")))
        .arg(o("Dir::Cache", &apt.join("cache")))
        .arg(format!("-oAPT::Architectures={}", ARCHES.join(",")))
        .args([
            "-oAcquire::Languages=none",
            "-oAcquire::GzipIndexes=false",
            "-oAcquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
            "-oAcquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false",
            "-q",
            "update",
        ])
        .stdout(Stdio::null())
        .status();
    status.is_ok_and(|s| s.success())
}

/// Arranges apt's lists as `mirror/dists/<suite>/...`; false when a file
/// is missing.
fn arrange(dir: &Path, mirror_url: &str, suite: &str) -> bool {
    let lists = dir.join("apt/lists");
    let host = mirror_url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .replace('/', "_");
    let dist = dir.join("mirror/dists").join(suite);
    let mut files = vec![
        ("InRelease".to_string(), "InRelease".to_string()),
        ("main_source_Sources".into(), "main/source/Sources".into()),
    ];
    for a in ARCHES {
        files.push((
            format!("main_binary-{a}_Packages"),
            format!("main/binary-{a}/Packages"),
        ));
    }
    for (from, to) in files {
        let src = lists.join(format!("{host}_dists_{suite}_{from}"));
        let dst = dist.join(&to);
        std::fs::create_dir_all(dst.parent().expect("parent")).expect("mirror dirs");
        let _ = std::fs::remove_file(&dst);
        if std::fs::hard_link(&src, &dst).is_err() && std::fs::copy(&src, &dst).is_err() {
            eprintln!("missing {}", src.display());
            return false;
        }
    }
    true
}

fn config(dir: &Path, suite: &str, data: &str, dose: bool) -> PathBuf {
    let path = dir.join(format!("{data}.toml"));
    std::fs::write(
        &path,
        format!(
            "data_dir = {:?}\n[archive]\nroot = {:?}\nsuites = [{suite:?}]\narchitectures = [\"amd64\", \"arm64\"]\narch_all = \"amd64\"\nrelease_keyrings = [{KEYRING:?}]\n{}",
            dir.join(data),
            dir.join("mirror"),
            if dose { "dose_builddebcheck = \"/usr/bin/dose-builddebcheck\"\n" } else { "" }
        ),
    )
    .expect("config");
    path
}

fn buildmail(config: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_buildmail"));
    c.arg("--config")
        .arg(config)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c
}

/// Runs and measures; returns (seconds, peak RSS MB).
fn measured(config: &Path, args: &[&str]) -> (f64, f64) {
    let mut c = buildmail(config, args);
    c.stdout(Stdio::null());
    let (status, secs, rss) = run_measured(c);
    assert!(status.success(), "buildmail {args:?} failed");
    (secs, rss as f64 / 1e6)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let suite = env_or("BUILDMAIL_BENCH_SYNC_SUITE", "trixie");
    let mirror = env_or(
        "BUILDMAIL_BENCH_SYNC_MIRROR",
        "http://deb.debian.org/debian",
    );
    let keep = std::env::var_os("BUILDMAIL_BENCH_SYNC_DIR").map(PathBuf::from);
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("bench dir");
    if !Path::new(KEYRING).exists() {
        println!(
            "sync_real skipped: {KEYRING} is missing (apt-get install debian-archive-keyring)"
        );
        return;
    }
    let have = dir
        .join("mirror/dists")
        .join(&suite)
        .join("InRelease")
        .exists();
    let fetched = have || (apt_update(&dir, &mirror, &suite) && arrange(&dir, &mirror, &suite));
    if !fetched {
        println!("sync_real skipped: apt-get update of {mirror} {suite} failed (no network?)");
        return;
    }
    let size = |p: &str| {
        std::fs::metadata(dir.join("mirror/dists").join(&suite).join(p))
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(0.0)
    };
    println!(
        "## sync_real: Debian {suite} main, {} (Sources {:.0} MB, Packages {:.0} + {:.0} MB, plain)\n",
        ARCHES.join(" + "),
        size("main/source/Sources"),
        size("main/binary-amd64/Packages"),
        size("main/binary-arm64/Packages")
    );
    let cfg = config(&dir, &suite, "data", false);
    let mut firsts = Vec::new();
    let mut report = String::new();
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(dir.join("data"));
        let mut c = buildmail(&cfg, &["sync"]);
        let out = tempfile::NamedTempFile::new().expect("out");
        c.stdout(out.reopen().expect("reopen"));
        let (status, secs, rss) = run_measured(c);
        assert!(status.success(), "first sync failed");
        report = std::fs::read_to_string(out.path()).unwrap_or_default();
        firsts.push((secs, rss as f64 / 1e6));
    }
    println!("| step | runs | wall | peak RSS |\n|---|---|---|---|");
    for (i, (s, r)) in firsts.iter().enumerate() {
        println!("| first sync, run {} | 1 | {s:.2} s | {r:.0} MB |", i + 1);
    }
    let second: Vec<(f64, f64)> = (0..5).map(|_| measured(&cfg, &["sync"])).collect();
    println!(
        "| second sync, nothing changed | 5 | median {:.3} s | {:.0} MB |",
        median(second.iter().map(|x| x.0).collect()),
        second.iter().map(|x| x.1).fold(0.0, f64::max)
    );
    for a in ARCHES {
        let q: Vec<(f64, f64)> = (0..5)
            .map(|_| measured(&cfg, &["queue", "--suite", &suite, "--arch", a]))
            .collect();
        println!(
            "| queue {a} | 5 | median {:.3} s | {:.0} MB |",
            median(q.iter().map(|x| x.0).collect()),
            q.iter().map(|x| x.1).fold(0.0, f64::max)
        );
    }
    let t: Vec<(f64, f64)> = (0..5)
        .map(|_| {
            measured(
                &cfg,
                &[
                    "take",
                    "--suite",
                    &suite,
                    "--arch",
                    "arm64",
                    "--builder",
                    "bench",
                ],
            )
        })
        .collect();
    println!(
        "| take arm64 | 5 | median {:.3} s | {:.0} MB |",
        median(t.iter().map(|x| x.0).collect()),
        t.iter().map(|x| x.1).fold(0.0, f64::max)
    );
    if Path::new("/usr/bin/dose-builddebcheck").exists() {
        let dose = config(&dir, &suite, "data-dose", true);
        let _ = std::fs::remove_dir_all(dir.join("data-dose"));
        let (s, r) = measured(&dose, &["sync"]);
        println!("| first sync with dose-builddebcheck (peak of buildmail and dose) | 1 | {s:.2} s | {r:.0} MB |");
    } else {
        println!("| first sync with dose-builddebcheck | – | not installed | – |");
    }
    println!("\nfirst sync's report:\n{report}");
    if keep.is_some() {
        println!("indices kept in {}", dir.display());
    }
}
