//! Uploads: checking a signed `.changes` against the build, placing the
//! files into the upload queue, running the upload command, `upload-rem`
//! and `purge`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use buildmail::debian::changes;
use buildmail::debian::changes::Changes;
use buildmail::debian::names::changes_file_name;
use buildmail::decide::reply::match_build;
use buildmail::effects::upload::*;
use buildmail::model::BuildKey;
use md5::Md5;
use sha1collisiondetection::Sha1CD;
use sha2::{Digest, Sha256};

const DEB: &str = "hello_2.10-3_amd64.deb";
const BUILDINFO: &str = "hello_2.10-3_amd64.buildinfo";

fn hex_digest<D: Digest>(data: &[u8]) -> String {
    let mut h = D::new();
    Digest::update(&mut h, data);
    hex::encode(Digest::finalize(h))
}

/// A Format 1.8 `.changes` for `files`, with real checksums.
fn changes_text(files: &[(&str, &[u8])]) -> String {
    let mut text = String::from(
        "Format: 1.8
Date: Mon, 15 Jan 2024 10:00:00 +0000
Source: hello
Binary: hello
Architecture: amd64
Version: 1:2.10-3
Distribution: unstable
Urgency: medium
Maintainer: Example Maintainer <maint@example.org>
Changed-By: Buildd Daemon <buildd@buildd-x86-01.example.org>
Description:
 hello      - example package based on GNU hello
Changes:
 hello (1:2.10-3) unstable; urgency=medium
 .
   * Rebuild.
",
    );
    text.push_str("Checksums-Sha1:\n");
    for (name, data) in files {
        let sum = hex_digest::<Sha1CD>(data);
        text.push_str(&format!(" {sum} {} {name}\n", data.len()));
    }
    text.push_str("Checksums-Sha256:\n");
    for (name, data) in files {
        let sum = hex_digest::<Sha256>(data);
        text.push_str(&format!(" {sum} {} {name}\n", data.len()));
    }
    text.push_str("Files:\n");
    for (name, data) in files {
        let sum = hex_digest::<Md5>(data);
        text.push_str(&format!(" {sum} {} devel optional {name}\n", data.len()));
    }
    text
}

/// A build directory with a .deb and a .buildinfo, and the parsed
/// `.changes` (and its text) that lists them.
struct Fixture {
    dir: tempfile::TempDir,
    text: String,
    changes: Changes,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let build = dir.path().join("build");
        fs::create_dir(&build).unwrap();
        let deb: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let buildinfo = b"Format: 1.0\nSource: hello\n".to_vec();
        fs::write(build.join(DEB), &deb).unwrap();
        fs::write(build.join(BUILDINFO), &buildinfo).unwrap();
        let text = changes_text(&[(DEB, &deb), (BUILDINFO, &buildinfo)]);
        let changes = changes::parse(&text).unwrap();
        Fixture { dir, text, changes }
    }

    fn build(&self) -> PathBuf {
        self.dir.path().join("build")
    }

    fn queue(&self) -> PathBuf {
        self.dir.path().join("queue").join("unstable")
    }
}

fn key() -> BuildKey {
    BuildKey {
        dist: "unstable".to_string(),
        arch: "amd64".to_string(),
        source: "hello".to_string(),
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Flips one byte of a file, keeping its size.
fn flip_byte(path: &Path) {
    let mut data = fs::read(path).unwrap();
    data[10] ^= 0xff;
    fs::write(path, data).unwrap();
}

fn only_problem(result: Result<Vec<VerifiedFile>, Vec<String>>) -> String {
    let problems = result.unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    problems.into_iter().next().unwrap()
}

// ---------------------------------------------------------------- names

#[test]
fn safe_file_names() {
    for ok in [
        DEB,
        "hello_2.10-3+b1_amd64.changes",
        "a",
        "libfoo++_1.0~rc1_all.deb",
        &"a".repeat(255),
    ] {
        assert!(is_safe_file_name(ok), "{ok:?}");
    }
    for bad in [
        "",
        ".",
        "..",
        "../x",
        "a/b",
        "/etc/passwd",
        ".hidden",
        "x y",
        "x\0y",
        "x\ny",
        "hello_1:2.0_amd64.deb",
        "caf\u{e9}.deb",
        &"a".repeat(256),
    ] {
        assert!(!is_safe_file_name(bad), "{bad:?}");
    }
}

#[test]
fn changes_file_name_drops_the_epoch_only() {
    assert_eq!(
        changes_file_name("hello", "1:2.10-3", "amd64"),
        "hello_2.10-3_amd64.changes"
    );
    assert_eq!(
        changes_file_name("hello", "2.10-3+b1", "all"),
        "hello_2.10-3+b1_all.changes"
    );
}

// ---------------------------------------------------------------- match_build

#[test]
fn match_build_accepts_the_build() {
    let f = Fixture::new();
    assert_eq!(
        match_build(&f.changes, &key(), "1:2.10-3"),
        Vec::<String>::new()
    );
}

#[test]
fn match_build_source_mismatch() {
    let f = Fixture::new();
    let mut k = key();
    k.source = "bar".to_string();
    let problems = match_build(&f.changes, &k, "1:2.10-3");
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("the .changes is for source hello, but this build is bar"),
        "{problems:#?}"
    );
}

#[test]
fn match_build_version_mismatch_counts_the_epoch() {
    let f = Fixture::new();
    let problems = match_build(&f.changes, &key(), "2.10-3");
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("version 1:2.10-3") && problems[0].contains("version 2.10-3"),
        "{problems:#?}"
    );
    let problems = match_build(&f.changes, &key(), "1:2.10-3+b1");
    assert_eq!(problems.len(), 1, "{problems:#?}");
}

#[test]
fn match_build_arch_mismatch() {
    let f = Fixture::new();
    let mut k = key();
    k.arch = "arm64".to_string();
    let problems = match_build(&f.changes, &k, "1:2.10-3");
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("architecture amd64") && problems[0].contains("arm64"),
        "{problems:#?}"
    );
}

#[test]
fn match_build_all_build_needs_all() {
    let mut f = Fixture::new();
    let mut k = key();
    k.arch = "all".to_string();
    assert_eq!(match_build(&f.changes, &k, "1:2.10-3").len(), 1);
    f.changes.architectures = vec!["amd64".to_string(), "all".to_string()];
    assert!(match_build(&f.changes, &k, "1:2.10-3").is_empty());
    assert!(match_build(&f.changes, &key(), "1:2.10-3").is_empty());
}

#[test]
fn match_build_dist_mismatch() {
    let f = Fixture::new();
    let mut k = key();
    k.dist = "experimental".to_string();
    let problems = match_build(&f.changes, &k, "1:2.10-3");
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("distribution unstable") && problems[0].contains("experimental"),
        "{problems:#?}"
    );
}

#[test]
fn match_build_reports_every_mismatch() {
    let f = Fixture::new();
    let k = BuildKey {
        dist: "sid".to_string(),
        arch: "i386".to_string(),
        source: "other".to_string(),
    };
    assert_eq!(match_build(&f.changes, &k, "9").len(), 4);
}

// ---------------------------------------------------------------- verify + place

#[test]
fn verify_and_place_happy_path() {
    let f = Fixture::new();
    let verified = verify_files(&f.changes, &f.build()).unwrap();
    assert_eq!(verified.len(), 2);
    let deb = fs::read(f.build().join(DEB)).unwrap();
    assert_eq!(
        verified[0],
        VerifiedFile {
            name: DEB.to_string(),
            path: f.build().join(DEB),
            size: deb.len() as u64,
            sha256: hex_digest::<Sha256>(&deb),
        }
    );
    assert_eq!(verified[1].name, BUILDINFO);

    let queue = f.queue();
    let name = changes_file_name("hello", "1:2.10-3", "amd64");
    let written = place(&queue, &verified, &name, f.text.as_bytes()).unwrap();
    assert_eq!(
        written,
        vec![queue.join(DEB), queue.join(BUILDINFO), queue.join(&name)]
    );
    assert_eq!(names_in(&queue), {
        let mut v = vec![DEB.to_string(), BUILDINFO.to_string(), name.clone()];
        v.sort();
        v
    });
    assert_eq!(fs::read(queue.join(DEB)).unwrap(), deb);
    assert_eq!(fs::read_to_string(queue.join(&name)).unwrap(), f.text);
}

#[test]
fn place_twice_is_harmless() {
    let f = Fixture::new();
    let verified = verify_files(&f.changes, &f.build()).unwrap();
    let queue = f.queue();
    let first = place(&queue, &verified, "hello_2.10-3_amd64.changes", b"one").unwrap();
    // A leftover temporary file from an interrupted run is replaced too.
    fs::write(queue.join(format!("{TEMP_PREFIX}{DEB}")), b"junk").unwrap();
    let second = place(&queue, &verified, "hello_2.10-3_amd64.changes", b"two").unwrap();
    assert_eq!(first, second);
    assert_eq!(names_in(&queue).len(), 3, "{:?}", names_in(&queue));
    assert_eq!(
        fs::read(queue.join("hello_2.10-3_amd64.changes")).unwrap(),
        b"two"
    );
}

#[test]
fn place_refuses_unsafe_names_before_writing() {
    let f = Fixture::new();
    let verified = verify_files(&f.changes, &f.build()).unwrap();
    let queue = f.queue();
    for bad in ["../x.changes", ".x.changes", "a/b.changes"] {
        let err = place(&queue, &verified, bad, b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains(bad), "{err}");
    }
    let mut tampered = verified.clone();
    tampered[1].name = "../evil".to_string();
    let err = place(&queue, &tampered, "ok.changes", b"x").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert!(!queue.exists());
    assert!(!f.dir.path().join("evil").exists());
}

#[test]
fn place_refuses_a_file_changed_since_verification() {
    let f = Fixture::new();
    let verified = verify_files(&f.changes, &f.build()).unwrap();
    flip_byte(&f.build().join(BUILDINFO));
    let queue = f.queue();
    let err = place(&queue, &verified, "hello_2.10-3_amd64.changes", b"x").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    assert!(
        err.to_string().contains("changed after it was verified"),
        "{err}"
    );
    // The first file may be in place, but no .changes and no temporary file.
    assert_eq!(names_in(&queue), vec![DEB.to_string()]);
}

// ---------------------------------------------------------------- verify problems

#[test]
fn verify_refuses_unsafe_names_without_reading() {
    let f = Fixture::new();
    // `../x` exists outside the build directory with the right checksums:
    // only the name check can refuse it.
    let data = b"outside";
    fs::write(f.dir.path().join("x"), data).unwrap();
    fs::create_dir(f.build().join("a")).unwrap();
    fs::write(f.build().join("a").join("b"), data).unwrap();
    fs::write(f.build().join(".hidden"), data).unwrap();
    fs::write(f.build().join("x y"), data).unwrap();
    let template = f.changes.files[1].clone();
    for bad in ["../x", "a/b", ".hidden", "x y"] {
        let mut changes = f.changes.clone();
        let mut file = template.clone();
        file.name = bad.to_string();
        file.size = data.len() as u64;
        file.md5 = Some(hex_digest::<Md5>(data));
        file.sha1 = Some(hex_digest::<Sha1CD>(data));
        file.sha256 = Some(hex_digest::<Sha256>(data));
        changes.files.push(file);
        let problem = only_problem(verify_files(&changes, &f.build()));
        assert!(problem.contains(&format!("{bad:?}")), "{problem}");
        assert!(problem.contains("not a plain file name"), "{problem}");
    }
}

#[test]
fn verify_refuses_changed_content() {
    let f = Fixture::new();
    flip_byte(&f.build().join(DEB));
    let problems = verify_files(&f.changes, &f.build()).unwrap_err();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    for algo in ["MD5", "SHA-1", "SHA-256"] {
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(DEB) && p.contains(&format!("its {algo} is"))),
            "{algo}: {problems:#?}"
        );
    }
}

/// Changes one listed checksum of the .deb and expects exactly that problem.
fn check_one_checksum(algo: &str, edit: fn(&mut changes::ChangesFile)) {
    let mut f = Fixture::new();
    edit(&mut f.changes.files[0]);
    let problem = only_problem(verify_files(&f.changes, &f.build()));
    assert!(problem.starts_with(DEB), "{problem}");
    assert!(problem.contains(&format!("its {algo} is")), "{problem}");
}

#[test]
fn verify_refuses_md5_mismatch() {
    check_one_checksum("MD5", |file| file.md5 = Some("0".repeat(32)));
}

#[test]
fn verify_refuses_sha1_mismatch() {
    check_one_checksum("SHA-1", |file| file.sha1 = Some("0".repeat(40)));
}

#[test]
fn verify_refuses_sha256_mismatch() {
    check_one_checksum("SHA-256", |file| file.sha256 = Some("0".repeat(64)));
}

#[test]
fn verify_compares_hex_case_insensitively() {
    let mut f = Fixture::new();
    for file in &mut f.changes.files {
        file.md5 = file.md5.as_ref().map(|s| s.to_ascii_uppercase());
        file.sha1 = file.sha1.as_ref().map(|s| s.to_ascii_uppercase());
        file.sha256 = file.sha256.as_ref().map(|s| s.to_ascii_uppercase());
    }
    let verified = verify_files(&f.changes, &f.build()).unwrap();
    assert_eq!(verified[0].sha256, verified[0].sha256.to_ascii_lowercase());
}

#[test]
fn verify_refuses_size_mismatch() {
    let f = Fixture::new();
    fs::write(f.build().join(BUILDINFO), b"longer than it was before").unwrap();
    let problem = only_problem(verify_files(&f.changes, &f.build()));
    assert!(problem.starts_with(BUILDINFO), "{problem}");
    assert!(problem.contains("bytes"), "{problem}");
}

#[test]
fn verify_refuses_missing_file() {
    let f = Fixture::new();
    fs::remove_file(f.build().join(DEB)).unwrap();
    let problem = only_problem(verify_files(&f.changes, &f.build()));
    assert!(problem.starts_with(DEB), "{problem}");
    assert!(
        problem.contains("not found in the build directory"),
        "{problem}"
    );
}

#[test]
fn verify_reports_every_problem() {
    let f = Fixture::new();
    fs::remove_file(f.build().join(DEB)).unwrap();
    flip_byte(&f.build().join(BUILDINFO));
    let problems = verify_files(&f.changes, &f.build()).unwrap_err();
    assert!(problems.iter().any(|p| p.starts_with(DEB)), "{problems:#?}");
    assert!(
        problems.iter().any(|p| p.starts_with(BUILDINFO)),
        "{problems:#?}"
    );
}

#[test]
fn verify_refuses_symlink() {
    let f = Fixture::new();
    let real = f.dir.path().join("real.deb");
    fs::rename(f.build().join(DEB), &real).unwrap();
    std::os::unix::fs::symlink(&real, f.build().join(DEB)).unwrap();
    let problem = only_problem(verify_files(&f.changes, &f.build()));
    assert!(problem.contains("symbolic link"), "{problem}");
}

/// The attack: a hard link in the build directory to a file outside it
/// (here the "secret" beside the build directory) must not be uploaded,
/// and the refusal must not tell the sender where anything lives.
#[test]
fn verify_refuses_a_hard_link_to_a_file_outside_and_names_no_path() {
    let f = Fixture::new();
    let outside = f.dir.path().join("real.deb");
    fs::rename(f.build().join(DEB), &outside).unwrap();
    fs::hard_link(&outside, f.build().join(DEB)).unwrap();
    let problem = only_problem(verify_files(&f.changes, &f.build()));
    assert!(problem.contains("hard links"), "{problem}");
    assert!(
        !problem.contains(&f.dir.path().display().to_string()),
        "the refusal reveals a path: {problem}"
    );
    // Every other refusal names files relative to the build directory too.
    fs::remove_file(f.build().join(DEB)).unwrap();
    let problem = only_problem(verify_files(&f.changes, &f.build()));
    assert!(
        problem.contains("not found in the build directory"),
        "{problem}"
    );
    assert!(!problem.contains('/'), "{problem}");
}

#[test]
fn verify_refuses_directory() {
    let f = Fixture::new();
    fs::remove_file(f.build().join(DEB)).unwrap();
    fs::create_dir(f.build().join(DEB)).unwrap();
    let problem = only_problem(verify_files(&f.changes, &f.build()));
    assert!(problem.contains("a directory"), "{problem}");
}

#[test]
fn verify_refuses_missing_sha256() {
    let f = Fixture::new();
    // The fixture's fields are Checksums-Sha1, Checksums-Sha256, Files: drop the middle one.
    let before = f.text.split("Checksums-Sha256:").next().unwrap();
    let files_field = f.text.split("Files:").nth(1).unwrap();
    let changes = changes::parse(&format!("{before}Files:{files_field}")).unwrap();
    assert!(changes.files.iter().all(|file| file.sha256.is_none()));
    let problems = verify_files(&changes, &f.build()).unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems
            .iter()
            .all(|p| p.contains("no SHA-256 checksum") && p.contains("dpkg-genchanges >= 1.15")),
        "{problems:#?}"
    );
}

#[test]
fn verify_refuses_empty_file_list() {
    let mut f = Fixture::new();
    f.changes.files.clear();
    let problem = only_problem(verify_files(&f.changes, &f.build()));
    assert!(problem.contains("lists no files"), "{problem}");
}

// ---------------------------------------------------------------- run_command

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn run(dir: &Path, args: &[&str], timeout: Duration) -> CommandRun {
    let changes = dir.join("hello_2.10-3_amd64.changes");
    let vars = CommandVars {
        changes: &changes,
        queue: dir,
        source: "hello",
        version: "1:2.10-3",
        arch: "amd64",
        dist: "unstable",
    };
    run_command(&argv(args), &vars, timeout, None)
}

#[test]
fn run_command_success_captures_stdout_and_stderr_interleaved() {
    let dir = tempfile::tempdir().unwrap();
    let script = "echo out; echo err >&2; echo out2; exit 0";
    let r = run(dir.path(), &["sh", "-c", script], Duration::from_secs(10));
    assert!(r.success, "{r:?}");
    assert_eq!(r.exit_code, Some(0));
    assert!(!r.timed_out);
    assert_eq!(
        r.log,
        format!("$ sh -c {script}\nout\nerr\nout2\nexit status 0\n")
    );
}

#[test]
fn run_command_failure_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        &["sh", "-c", "echo rejected >&2; exit 3"],
        Duration::from_secs(10),
    );
    assert!(!r.success);
    assert_eq!(r.exit_code, Some(3));
    assert!(!r.timed_out);
    assert!(r.log.contains("rejected\n"), "{}", r.log);
    assert!(r.log.ends_with("exit status 3\n"), "{}", r.log);
}

#[test]
fn run_command_killed_by_signal() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        &["sh", "-c", "kill -9 $$"],
        Duration::from_secs(10),
    );
    assert!(!r.success);
    assert_eq!(r.exit_code, None);
    assert!(!r.timed_out);
    assert!(r.log.ends_with("killed by signal 9\n"), "{}", r.log);
}

/// Whether process `pid` is gone (or a zombie waiting to be reaped by
/// whatever adopted it: it runs no more).
fn process_gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap().split_whitespace().next();
            state == Some("Z") || state == Some("X")
        }
    }
}

#[test]
fn run_command_timeout_kills_the_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pidfile");
    let started = Instant::now();
    let r = run(
        dir.path(),
        &[
            "sh",
            "-c",
            "sleep 30 & echo $! > pidfile; echo started; wait",
        ],
        Duration::from_millis(300),
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(r.timed_out, "{r:?}");
    assert!(!r.success);
    assert_eq!(r.exit_code, None);
    assert!(r.log.contains("started\n"), "{}", r.log);
    assert!(
        r.log.ends_with("killed after 300ms (timeout)\n"),
        "{}",
        r.log
    );

    let pid: i32 = fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !process_gone(pid) {
        assert!(Instant::now() < deadline, "grandchild {pid} still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
    // kill(pid, 0) fails (ESRCH) once it is reaped; a zombie is not running.
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    assert!(!alive || process_gone(pid));
}

#[test]
fn run_command_nonexistent_program_is_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        &["/nonexistent/buildmail-no-such-dput", "{changes}"],
        Duration::from_secs(10),
    );
    assert!(!r.success);
    assert_eq!(r.exit_code, None);
    assert!(!r.timed_out);
    let last = r.log.lines().last().unwrap();
    assert!(
        last.starts_with("could not start /nonexistent/buildmail-no-such-dput: "),
        "{}",
        r.log
    );
    assert!(last.contains("No such file or directory"), "{}", r.log);
}

#[test]
fn run_command_empty_argv_is_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &[], Duration::from_secs(10));
    assert!(!r.success);
    assert!(
        r.log.contains("could not start the upload command"),
        "{}",
        r.log
    );
}

#[test]
fn run_command_substitutes_placeholders_and_runs_in_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().canonicalize().unwrap();
    let r = run(
        &queue,
        &[
            "sh",
            "-c",
            "printf '%s\\n' \"$@\"; pwd -P",
            "sh",
            "--changes={changes}",
            "{source}_{version}",
            "{arch}/{dist}",
            "{queue}",
            "{unknown}",
        ],
        Duration::from_secs(10),
    );
    assert!(r.success, "{r:?}");
    let changes = queue.join("hello_2.10-3_amd64.changes");
    let expected = format!(
        "--changes={}\nhello_1:2.10-3\namd64/unstable\n{q}\n{{unknown}}\n{q}\nexit status 0\n",
        changes.display(),
        q = queue.display()
    );
    assert!(r.log.ends_with(&expected), "{}", r.log);
    assert!(
        r.log.starts_with(&format!(
            "$ sh -c printf '%s\\n' \"$@\"; pwd -P sh --changes={}",
            changes.display()
        )),
        "{}",
        r.log
    );
}

#[test]
fn run_command_caps_long_output() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        &[
            "sh",
            "-c",
            "echo first; head -c 3145728 /dev/zero | tr '\\000' x; echo; echo last",
        ],
        Duration::from_secs(30),
    );
    assert!(r.success, "{}", &r.log[..200]);
    assert!(r.log.len() <= 1_153_434, "{} bytes", r.log.len());
    assert!(r.log.len() >= 1_000_000, "{} bytes", r.log.len());
    assert!(r.log.contains("bytes omitted ...]"));
    assert!(r.log.contains("\nfirst\n"));
    assert!(r.log.ends_with("x\nlast\nexit status 0\n"));
    let omitted: u64 = r
        .log
        .split("[... ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // "first\n" + 3 MiB + "\nlast\n", less the 1 MiB kept.
    assert_eq!(omitted, 6 + 3 * 1024 * 1024 + 6 - 1024 * 1024);
}

// ---------------------------------------------------------------- removal

fn placed_upload(f: &Fixture) -> (PathBuf, String) {
    let verified = verify_files(&f.changes, &f.build()).unwrap();
    let queue = f.queue();
    let name = changes_file_name("hello", "1:2.10-3", "amd64");
    place(&queue, &verified, &name, f.text.as_bytes()).unwrap();
    (queue, name)
}

#[test]
fn remove_from_queue_removes_only_the_upload() {
    let f = Fixture::new();
    let (queue, name) = placed_upload(&f);
    fs::write(queue.join("other_1.0_amd64.changes"), b"other").unwrap();
    fs::write(queue.join("other_1.0_amd64.deb"), b"other").unwrap();
    let files = vec![DEB.to_string(), BUILDINFO.to_string()];
    let removed = remove_from_queue(&queue, &files, &name).unwrap();
    assert_eq!(
        removed,
        vec![queue.join(&name), queue.join(DEB), queue.join(BUILDINFO)]
    );
    assert_eq!(
        names_in(&queue),
        vec![
            "other_1.0_amd64.changes".to_string(),
            "other_1.0_amd64.deb".to_string()
        ]
    );
    // Missing files are fine.
    assert!(remove_from_queue(&queue, &files, &name).unwrap().is_empty());
    // The build directory is untouched.
    assert!(f.build().join(DEB).exists());
}

#[test]
fn remove_from_queue_removes_leftover_temporary_files() {
    let f = Fixture::new();
    let (queue, name) = placed_upload(&f);
    let tmp = queue.join(format!("{TEMP_PREFIX}{DEB}"));
    fs::write(&tmp, b"partial").unwrap();
    let removed = remove_from_queue(&queue, &[DEB.to_string()], &name).unwrap();
    assert!(removed.contains(&tmp), "{removed:?}");
    assert_eq!(names_in(&queue), vec![BUILDINFO.to_string()]);
}

#[test]
fn remove_from_queue_refuses_unsafe_names_and_removes_nothing() {
    let f = Fixture::new();
    let (queue, name) = placed_upload(&f);
    let before = names_in(&queue);
    let outside = f.dir.path().join("queue").join("victim");
    fs::write(&outside, b"keep").unwrap();
    for bad in ["../victim", ".hidden", "a/b", "x y", ""] {
        let files = vec![DEB.to_string(), bad.to_string()];
        let err = remove_from_queue(&queue, &files, &name).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("nothing was removed"), "{err}");
        let err = remove_from_queue(&queue, &[DEB.to_string()], bad).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    }
    assert_eq!(names_in(&queue), before);
    assert!(outside.exists());
}

#[test]
fn purge_removes_only_the_named_files() {
    let f = Fixture::new();
    let build = f.build();
    fs::write(build.join("hello_2.10-3_amd64.changes"), &f.text).unwrap();
    fs::write(build.join("unrelated_1.0_amd64.deb"), b"keep").unwrap();
    let names = vec![
        DEB.to_string(),
        BUILDINFO.to_string(),
        "hello_2.10-3_amd64.changes".to_string(),
        "hello_2.10-3_amd64.build".to_string(), // not there: fine
    ];
    let removed = purge(&build, &names).unwrap();
    assert_eq!(
        removed,
        vec![
            build.join(DEB),
            build.join(BUILDINFO),
            build.join("hello_2.10-3_amd64.changes")
        ]
    );
    assert_eq!(
        names_in(&build),
        vec!["unrelated_1.0_amd64.deb".to_string()]
    );
    assert!(purge(&build, &names).unwrap().is_empty());
}

#[test]
fn purge_refuses_unsafe_names_and_removes_nothing() {
    let f = Fixture::new();
    let build = f.build();
    let outside = f.dir.path().join("victim");
    fs::write(&outside, b"keep").unwrap();
    let before = names_in(&build);
    for bad in ["../victim", ".hidden", "a/b", "/etc/passwd"] {
        let err = purge(&build, &[DEB.to_string(), bad.to_string()]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
    assert_eq!(names_in(&build), before);
    assert!(outside.exists());
}
