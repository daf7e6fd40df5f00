//! The `buildmail` binary, run as an MTA or an admin would run it.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::support::logs::{sbuild_log, LogSpec};

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    /// A farm whose commands wait for the database as long as a loaded
    /// machine may need: `deliver` starts a detached worker for a failed
    /// log, and the next command waits while it holds the database.
    fn new(extra: &str) -> Env {
        Env::waiting("30s", extra)
    }

    /// A farm whose commands give up on a busy database after
    /// `lock_timeout`.
    fn waiting(lock_timeout: &str, extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("buildmail.toml");
        std::fs::write(
            &config,
            format!("data_dir = \"data\"\n[database]\nlock_timeout = \"{lock_timeout}\"\n{extra}"),
        )
        .unwrap();
        Env { dir, config }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_buildmail"));
        c.arg("--config").arg(&self.config).args(args);
        c.env_remove("BUILDMAIL_CONFIG");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn deliver(&self, mail: &[u8]) -> Output {
        let mut child = self
            .cmd(&["deliver"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A deliver that exits early (bad config) closes its stdin: ignore EPIPE.
        let _ = child.stdin.take().unwrap().write_all(mail);
        child.wait_with_output().unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
}

fn log_mail(src: &str, ver: &str, arch: &str, status: &str, id: &str) -> (Vec<u8>, Vec<u8>) {
    let spec = LogSpec::new(src, ver, arch, "unstable", status);
    let log = sbuild_log(&spec);
    let subject = crate::support::sbuild_subject(status, src, ver, arch, "unstable");
    let mail = crate::support::with_message_id(&crate::support::log_mail_plain(&subject, &log), id);
    (mail, log)
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn deliver_commits_and_queries_show_it() {
    let env = Env::new("");
    let (mail, log) = log_mail("hello", "2.10-3", "amd64", "attempted", "d1@example.org");
    let out = env.deliver(&mail);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));

    let info = env.json(&["info", "hello", "--json"]);
    assert_eq!(info[0]["state"], "Build-Attempted");
    assert_eq!(info[0]["fail_stage"], "build");
    assert_eq!(info[0]["key"]["arch"], "amd64");

    let text = env.run(&["info", "hello"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("State               : Build-Attempted"),
        "{text}"
    );
    assert!(text.contains("Fail-Stage          : build"), "{text}");

    let list = env.json(&["list", "--state", "build-attempted", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    let none = env.json(&["list", "--state", "Built", "--json"]);
    assert!(none.as_array().unwrap().is_empty());
    let bad = env.run(&["list", "--state", "Nonsense"]);
    assert_ne!(code(&bad), 0);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Needs-Build"));

    let hist = env.json(&["history", "hello", "--json"]);
    assert_eq!(hist[0]["history"][0]["event"], "log:attempted");
    assert_eq!(hist[0]["history"][0]["message_id"], "d1@example.org");

    // The archived log comes back byte-exact.
    let printed = env.run(&["log", "hello_2.10-3"]);
    assert_eq!(code(&printed), 0);
    assert_eq!(printed.stdout, log);
    assert_ne!(code(&env.run(&["log", "hello_9.9-9"])), 0);

    // Delivering it again changes nothing.
    let again = env.deliver(&mail);
    assert_eq!(
        code(&again),
        0,
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let hist = env.json(&["history", "hello", "--json"]);
    assert_eq!(hist[0]["history"].as_array().unwrap().len(), 1);
}

#[test]
fn deliver_quarantines_bad_input_and_exits_zero() {
    let env = Env::new("");
    let out = env.deliver(b"\x00\x01 this is not a mail at all \xff");
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let subject =
        crate::support::sbuild_subject("successful", "hello", "2.10-3", "amd64", "unstable");
    let bad = crate::support::log_mail_mime_gzip_raw(&subject, b"\x1f\x8b\x08\x00broken");
    assert_eq!(code(&env.deliver(&bad)), 0);
    let q = env.json(&["quarantine", "list", "--json"]);
    let q = q.as_array().unwrap();
    assert_eq!(q.len(), 2, "{q:?}");
    let id = q[1]["id"].as_u64().unwrap().to_string();
    let shown = env.run(&["quarantine", "show", &id, "--raw"]);
    assert_eq!(shown.stdout, bad);
    let shown = String::from_utf8_lossy(&env.run(&["quarantine", "show", &id]).stdout).into_owned();
    assert!(shown.contains("Reason: "), "{shown}");
}

#[test]
fn deliver_answers_tempfail_when_the_database_stays_busy() {
    let env = Env::waiting("300ms", "");
    let cfg = buildmail::config::Config::load(Some(&env.config)).unwrap();
    let held = buildmail::store::open(&cfg.database).unwrap();
    let (mail, _) = log_mail("hello", "2.10-3", "amd64", "successful", "busy@example.org");
    let out = env.deliver(&mail);
    assert_eq!(code(&out), 75, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"));
    drop(held);
    // The MTA's retry succeeds.
    assert_eq!(code(&env.deliver(&mail)), 0);
    assert_eq!(env.json(&["info", "hello", "--json"])[0]["state"], "Built");
}

/// A data directory that cannot be used until an operator acts (here: a
/// regular file where the directory should be) is a configuration error
/// (78, the MTA bounces), not a temporary one the MTA retries for days.
#[test]
fn deliver_into_an_unusable_data_directory_exits_78() {
    let env = Env::new("");
    let file = env.path("not-a-dir");
    std::fs::write(&file, b"a file\n").unwrap();
    let (mail, _) = log_mail(
        "hello",
        "2.10-3",
        "amd64",
        "successful",
        "unusable@example.org",
    );
    let mut child = env
        .cmd(&["--data-dir", file.to_str().unwrap(), "deliver"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(&mail);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 78, "{err}");
    assert!(err.contains("not-a-dir"), "{err}");
}

#[test]
fn a_bad_config_exits_78_naming_the_key() {
    let env = Env::new("[limits]\nmax_log_size = \"a lot\"\n");
    let out = env.run(&["check-config"]);
    assert_eq!(code(&out), 78);
    assert!(String::from_utf8_lossy(&out.stderr).contains("limits.max_log_size"));
    let (mail, _) = log_mail("hello", "2.10-3", "amd64", "successful", "cfg@example.org");
    assert_eq!(code(&env.deliver(&mail)), 78);

    let good = Env::new("");
    let out = good.run(&["check-config"]);
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("database.path"));
}

#[test]
fn import_reads_mbox_maildir_and_eml_and_reimport_is_all_duplicates() {
    let env = Env::new("");
    let mut mails = Vec::new();
    for (i, src) in ["alpha", "beta", "gamma"].iter().enumerate() {
        mails.push(
            log_mail(
                src,
                "1.0-1",
                "amd64",
                "successful",
                &format!("m{i}@example.org"),
            )
            .0,
        );
    }
    crate::support::write_mbox(&env.path("logs.mbox"), &mails);
    let maildir = env.path("Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let (m, _) = log_mail("delta", "2.0-1", "arm64", "given-back", "md1@example.org");
    std::fs::write(maildir.join("new/1700000000.1.host"), m).unwrap();
    let (m, _) = log_mail("epsilon", "3.0-1", "arm64", "attempted", "md2@example.org");
    std::fs::write(maildir.join("cur/1700000001.2.host:2,S"), m).unwrap();
    std::fs::write(
        env.path("one.eml"),
        crate::support::plain_mail("Hello admins", "A question."),
    )
    .unwrap();

    let args = ["import", "logs.mbox", "Maildir", "one.eml", "--list"];
    let run = |args: &[&str]| {
        let out = env.cmd(args).current_dir(env.dir.path()).output().unwrap();
        assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run(&args);
    assert!(
        first.contains(
            "imported 6 mails: 5 log mails, 0 replies, 0 archive mails, 1 other mails, 0 duplicates, 0 quarantined"
        ),
        "{first}"
    );
    assert!(first.contains("MB/s"), "{first}");
    assert!(first.lines().any(|l| l.starts_with("delta") && l.ends_with("Needs-Build (fail-stage install-deps)")), "{first}");
    let second = run(&args[..4]);
    assert!(
        second.contains(
            "imported 6 mails: 0 log mails, 0 replies, 0 archive mails, 0 other mails, 6 duplicates, 0 quarantined"
        ),
        "{second}"
    );
    let all = env.json(&["list", "--json"]);
    assert_eq!(all.as_array().unwrap().len(), 5);
}

/// Quarantine ids are 1, 2, 3 whichever process writes them; a mail
/// quarantined for a cause since fixed is processed again with
/// `quarantine reprocess`, junk goes with `quarantine delete`.
#[test]
fn quarantine_numbers_its_mails_and_reprocesses_or_deletes_them() {
    let env = Env::new("[limits]\nmax_message_size = \"4KiB\"\n");
    let mut spec = LogSpec::new("hello", "1.0-1", "amd64", "unstable", "successful");
    spec.filler_lines = 200;
    let subject =
        crate::support::sbuild_subject("successful", "hello", "1.0-1", "amd64", "unstable");
    let big = crate::support::with_message_id(
        &crate::support::log_mail_plain(&subject, &sbuild_log(&spec)),
        "big@example.org",
    );
    assert!(big.len() > 4096);
    assert_eq!(code(&env.deliver(&big)), 0);
    assert_eq!(code(&env.deliver(b"\x00\x01 not a mail \xff")), 0);
    let ids = |env: &Env| -> Vec<u64> {
        env.json(&["quarantine", "list", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(&env), vec![1, 2], "ids people can type");
    // The large mail is a blob of the mail store, its record names the
    // blob and no file; its spill file is gone.
    let spilled = env.path("data/quarantine");
    let files = |d: &std::path::Path| std::fs::read_dir(d).map_or(0, |d| d.count());
    assert_eq!(files(&spilled), 0, "no file in the quarantine directory");
    let listed = env.json(&["quarantine", "list", "--json"]);
    assert_eq!(listed[0]["blob"], listed[0]["sha256"], "{listed}");
    assert!(listed[0].get("raw_file").is_none(), "{listed}");
    assert_eq!(env.run(&["quarantine", "show", "--raw", "1"]).stdout, big);

    // The cause is fixed: a larger limit.
    let toml = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("4KiB", "2MiB");
    std::fs::write(&env.config, toml).unwrap();
    let out = env.run(&["quarantine", "reprocess", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("#1: log for unstable/amd64/hello 1.0-1: now Built"),
        "{said}"
    );
    assert_eq!(ids(&env), vec![2]);
    // Its blob stays (content-addressed; fsck counts it).
    let fsck = env.json(&["fsck", "--json"]);
    assert_eq!(fsck["unreferenced_mails"], 1, "{fsck}");
    assert_eq!(fsck["missing_mails"], serde_json::json!([]), "{fsck}");
    let list = env.json(&["list", "--json"]);
    assert_eq!(list[0]["state"], "Built", "{list}");
    // Delivered once more, the mail is the log it now is: a duplicate.
    let again = env
        .cmd(&["deliver", "-v"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut again = again;
    again.stdin.take().unwrap().write_all(&big).unwrap();
    let again = again.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&again.stderr).contains("duplicate"));

    // Junk stays junk: quarantined again under a new id, then deleted.
    let out = env.run(&["quarantine", "reprocess", "2"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("#2: quarantined as #3"));
    assert_eq!(ids(&env), vec![3]);
    assert_eq!(code(&env.run(&["quarantine", "delete", "3"])), 0);
    assert!(ids(&env).is_empty());
    assert_eq!(
        code(&env.run(&["quarantine", "delete", "3"])),
        1,
        "no such id"
    );
    assert_eq!(code(&env.run(&["quarantine", "reprocess", "99"])), 1);
    // Deleted junk delivered again is still known.
    let out = env
        .cmd(&["deliver", "-v"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = out;
    out.stdin
        .take()
        .unwrap()
        .write_all(b"\x00\x01 not a mail \xff")
        .unwrap();
    let out = out.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("duplicate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `fsck` finds what a killed process left (an archived log, a quarantine
/// file, a temporary file nothing refers to), removes it with `--repair`
/// only once it is older than `--older-than`, and reports a record whose
/// file is gone.
#[test]
fn fsck_finds_and_repairs_orphans_and_reports_missing_files() {
    let env = Env::new("");
    let (mail, _) = log_mail("hello", "1.0-1", "amd64", "successful", "fsck@example.org");
    assert_eq!(code(&env.deliver(&mail)), 0);
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    let plant = |path: PathBuf, old: bool| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let f = std::fs::File::create(&path).unwrap();
        if old {
            f.set_modified(hour_ago).unwrap();
        }
        path
    };
    let old_log = plant(
        env.path(&format!("data/logs/ab/{}.log.gz", "ab".repeat(32))),
        true,
    );
    let new_log = plant(
        env.path(&format!("data/logs/cd/{}.log.gz", "cd".repeat(32))),
        false,
    );
    let old_mail = plant(env.path("data/quarantine/stray.eml"), true);
    let old_temp = plant(env.path("data/logs/ef/.buildmail-tmp-x.log.gz.12345"), true);
    let out = env.run(&["fsck"]);
    assert_eq!(code(&out), 1, "{}", String::from_utf8_lossy(&out.stdout));
    let json: serde_json::Value =
        serde_json::from_slice(&env.run(&["fsck", "--json"]).stdout).unwrap();
    assert_eq!(json["orphan_logs"].as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json["orphan_quarantine_files"].as_array().unwrap().len(), 1);
    assert_eq!(json["stale_temporary_files"].as_array().unwrap().len(), 1);
    assert_eq!(json["recent_unreferenced"].as_array().unwrap().len(), 1);
    let out = env.run(&["fsck", "--repair"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    for gone in [&old_log, &old_mail, &old_temp] {
        assert!(!gone.exists(), "{}", gone.display());
    }
    assert!(new_log.exists(), "a young file may be about to be recorded");
    let logged = env.run(&["log", "hello"]);
    assert!(logged.status.success(), "the referenced log stays");
    // New logs are in the archive's segments, not files of their own.
    std::fs::remove_file(&new_log).unwrap();
    let archived = walk(&env.path("data/logs"));
    assert!(
        archived
            .iter()
            .all(|p| p.starts_with(env.path("data/logs/segments"))),
        "{archived:?}"
    );
    // A record whose log is gone: reported, exit 1, even with --repair.
    std::fs::remove_dir_all(env.path("data/logs/segments")).unwrap();
    let out = env.run(&["fsck", "--repair"]);
    assert_eq!(code(&out), 1);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("log records whose log is missing"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A log from someone who is not a builder is kept (its archived file and
/// dedup record) without being the build's log: `fsck --repair` keeps it.
#[test]
fn fsck_keeps_the_log_of_a_mail_on_record_without_a_log_record() {
    let env = Env::new("[[builders]]\nname = \"other\"\nsenders = [\"other@example.org\"]\n");
    let (mail, _) = log_mail(
        "hello",
        "1.0-1",
        "amd64",
        "successful",
        "nonbuilder@example.org",
    );
    assert_eq!(code(&env.deliver(&mail)), 0);
    use buildmail::store::blob::BlobStore;
    let archive = buildmail::store::archive::LogArchive::new(env.path("data/logs"));
    let kept = archive.list().unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let out = env.run(&["fsck", "--repair", "--older-than", "0s", "--json"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // On record (its dedup record), so not counted as unreferenced.
    assert_eq!(json["unreferenced_blobs"], 0, "{json}");
    assert!(
        archive.read(&kept[0].id.to_hex()).is_ok(),
        "fsck removed a kept log"
    );
}

/// Every plain file under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn states_prints_the_diagram() {
    let env = Env::new("");
    let out = env.run(&["states"]);
    let dot = String::from_utf8(out.stdout).unwrap();
    assert!(dot.starts_with("digraph buildmail {"));
    assert!(dot.contains("\"Building\" -> \"Built\""));
    // The same table as JSON.
    let json = env.json(&["states", "--json"]);
    let edges = json["edges"].as_array().unwrap();
    assert!(edges.iter().any(|e| e["from"] == "Building"
        && e["to"] == "Built"
        && e["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "log:successful")));
    // Every edge between two states is drawn once; events that keep a
    // state are listed in its box instead of as loops.
    let moving = edges.iter().filter(|e| e["from"] != e["to"]).count();
    assert_eq!(moving, dot.matches(" -> ").count());
    assert!(dot.contains("(kept by "), "{dot}");
    // The states in groups, each state in exactly one.
    let groups = json["groups"].as_array().unwrap();
    assert_eq!(groups.len(), dot.matches("subgraph cluster_").count());
    let mut grouped: Vec<&str> = groups
        .iter()
        .flat_map(|g| {
            g["states"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
        })
        .collect();
    grouped.sort();
    let mut states: Vec<&str> = json["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    states.sort();
    assert_eq!(grouped, states);
    assert!(groups
        .iter()
        .any(|g| g["name"] == "building"
            && g["states"].as_array().unwrap().iter().any(|s| s == "Built")));
}

#[test]
fn check_config_loads_the_admin_keyring() {
    let key = crate::support::keys::shared_ed25519();
    let env = Env::new("[signatures]\nkeyrings = [\"admins.asc\", \"missing.asc\"]\n");
    std::fs::write(env.path("admins.asc"), key.armored_public()).unwrap();
    let out = env.run(&["check-config"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 certificate(s)"), "{text}");
    assert!(text.contains(&key.fingerprint()), "{text}");
    assert!(text.contains("missing.asc does not exist"), "{text}");

    std::fs::write(
        env.path("admins.asc"),
        b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\ngarbage\n",
    )
    .unwrap();
    let out = env.run(&["check-config"]);
    assert_eq!(code(&out), 78);
    assert!(String::from_utf8_lossy(&out.stderr).contains("signatures.keyrings"));
}

#[test]
fn check_config_loads_builder_keys_and_refuses_required_signatures_without_them() {
    let key = crate::support::keys::shared_ed25519();
    let env = Env::new(
        "[[builders]]\nname = \"x86-01\"\nsenders = [\"buildd@x86.example.org\"]\nkeyrings = [\"x86.asc\"]\n",
    );
    std::fs::write(env.path("x86.asc"), key.armored_public()).unwrap();
    let out = env.run(&["check-config"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("builder x86-01: signs its logs with 1 certificate(s)"),
        "{text}"
    );
    assert!(text.contains(&key.fingerprint()), "{text}");

    // Required signatures but a builder without keys: nothing it sends
    // could ever count, so the configuration is refused.
    let env = Env::new(
        "[signatures]\nrequire_signed_logs = true\n[[builders]]\nname = \"arm-01\"\nsenders = [\"buildd@arm.example.org\"]\n",
    );
    let out = env.run(&["check-config"]);
    assert_eq!(code(&out), 78);
    assert!(String::from_utf8_lossy(&out.stderr).contains("arm-01"));

    // Required signatures and no builders at all: refused too.
    let env = Env::new("[signatures]\nrequire_signed_logs = true\n");
    let out = env.run(&["check-config"]);
    assert_eq!(code(&out), 78);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [[builders]]"));
    // Two builders of one name: which one's key vouches? Refused.
    let env = Env::new(
        "[[builders]]\nname = \"a\"\nsenders = [\"x@example.org\"]\n[[builders]]\nname = \"a\"\nsenders = [\"y@example.org\"]\n",
    );
    let out = env.run(&["check-config"]);
    assert_eq!(code(&out), 78);
    assert!(String::from_utf8_lossy(&out.stderr).contains("builders.name"));

    // The archive's keys are loaded and listed; a broken file exits 78.
    let env = Env::new("[archive]\nkeyrings = [\"archive.asc\"]\n");
    std::fs::write(env.path("archive.asc"), key.armored_public()).unwrap();
    let out = env.run(&["check-config"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("archive.keyrings: 1 certificate(s)"),
        "{text}"
    );
    std::fs::write(env.path("archive.asc"), b"not a key\n").unwrap();
    let out = env.run(&["check-config"]);
    assert_eq!(code(&out), 78);
    assert!(String::from_utf8_lossy(&out.stderr).contains("archive.keyrings"));
}

/// A query never creates a database: a mistyped `--data-dir` is an error
/// naming the path, not an empty answer. A query whose reader goes away
/// (`| head -1`) ends quietly, not with a panic.
#[test]
fn queries_never_create_a_database_and_end_quietly_on_a_closed_pipe() {
    let env = Env::new("");
    let missing = env.path("typo");
    for query in [
        &["history", "hello"][..],
        &["info", "hello"][..],
        &["list"][..],
        &["forget-signature", "--list"][..],
        &["outbox", "list"][..],
    ] {
        let mut args = vec!["--data-dir", missing.to_str().unwrap()];
        args.extend_from_slice(query);
        let out = env.run(&args);
        assert_ne!(code(&out), 0, "{query:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no database at"), "{query:?}: {err}");
        assert!(!missing.exists(), "{query:?} created {}", missing.display());
    }

    // A long log (far more than a pipe holds), read by a reader that
    // stops after one byte.
    let mut spec = LogSpec::new("hello", "1.0-1", "amd64", "unstable", "attempted");
    spec.filler_lines = 20_000;
    let log = sbuild_log(&spec);
    assert!(log.len() > 1 << 20);
    let subject =
        crate::support::sbuild_subject("attempted", "hello", "1.0-1", "amd64", "unstable");
    let mail = crate::support::with_message_id(
        &crate::support::log_mail_plain(&subject, &log),
        "long@example.org",
    );
    assert_eq!(code(&env.deliver(&mail)), 0);
    // And a long mail kept in the quarantine (not a mail at all).
    let mut junk = b"\x00 not a mail\n".to_vec();
    junk.extend(std::iter::repeat_n(b'x', 1 << 20));
    assert_eq!(code(&env.deliver(&junk)), 0);
    let q = env.json(&["quarantine", "list", "--json"]);
    let id = q[0]["id"].as_u64().unwrap().to_string();
    for query in [
        &["log", "hello"][..],
        &["quarantine", "show", &id],
        &["quarantine", "show", &id, "--raw"],
    ] {
        let mut child = env
            .cmd(query)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 1];
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        // It ends like `cat` would: quietly, by SIGPIPE; no panic, no error.
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.trim().is_empty(), "{query:?}: {err}");
        use std::os::unix::process::ExitStatusExt;
        assert!(
            out.status.signal() == Some(libc::SIGPIPE) || out.status.success(),
            "{query:?}: {:?}",
            out.status
        );
    }
}

/// `check-config` shows where uploads go and how mail leaves, and refuses
/// an upload command or a sendmail that is not there (which would
/// otherwise only show when the first upload or mail fails).
#[test]
fn check_config_shows_and_checks_the_upload_and_transport_programs() {
    let env = Env::new(
        "[upload]\ncommand = [\"sh\", \"-c\", \"dput {changes}\"]\n[outbox]\ntransport = \"sendmail\"\nsendmail = [\"sh\", \"-c\", \"cat >/dev/null\"]\n",
    );
    let out = env.run(&["check-config"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("upload.command: sh -c dput {changes}"),
        "{text}"
    );
    assert!(text.contains("outbox.sendmail: sh -c"), "{text}");
    assert!(text.contains("upload.build_dir"), "{text}");

    // The same as JSON.
    let json = env.json(&["check-config", "--json"]);
    assert_eq!(json["ok"], true);
    let settings = json["settings"].as_array().unwrap();
    assert!(settings.iter().any(
        |s| s["key"] == "upload.command" && s["value"] == "sh -c dput {changes} (timeout 10m)"
    ));
    assert!(json["warnings"].is_array());

    let env = Env::new("[upload]\ncommand = [\"/nonexistent/dput\", \"{changes}\"]\n");
    let out = env.run(&["check-config"]);
    assert_eq!(code(&out), 78);
    assert!(String::from_utf8_lossy(&out.stderr).contains("upload.command"));
    let out = env.run(&["check-config", "--json"]);
    assert_eq!(code(&out), 78);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .starts_with("upload.command"),
        "{json}"
    );

    let env = Env::new(
        "[outbox]\ntransport = \"sendmail\"\nsendmail = [\"no-such-sendmail-here\", \"-t\"]\n",
    );
    let out = env.run(&["check-config"]);
    assert_eq!(code(&out), 78);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("outbox.sendmail") && err.contains("$PATH"),
        "{err}"
    );
}

#[test]
fn forget_signature_needs_a_hash_and_lists() {
    let env = Env::new("");
    let (mail, _) = log_mail("hello", "2.10-3", "amd64", "successful", "fs@example.org");
    assert_eq!(code(&env.deliver(&mail)), 0);
    let out = env.run(&["forget-signature", "--list"]);
    assert_eq!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("no signature has been recorded"));
    // An id that is not in the outbox is an error, not a silent success.
    let out = env.run(&["outbox", "retry", "424242"]);
    assert_eq!(code(&out), 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no mail 424242 in the outbox"));
    assert_ne!(code(&env.run(&["forget-signature", "abc"])), 0);
    let out = env.run(&["forget-signature", "abcdef0123"]);
    assert_ne!(code(&out), 0);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no recorded signature matches"));
}

#[test]
fn render_prints_the_notification_and_a_broken_template_fails_check_config() {
    let env = Env::new("[notify]\ntemplates_dir = \"tpl\"\nbuildd_admins = [\"a1@example.org\"]\n");
    std::fs::create_dir_all(env.path("tpl")).unwrap();
    let (mail, _) = log_mail("hello", "1.0-1", "amd64", "successful", "render-log@buildd");
    assert_eq!(code(&env.deliver(&mail)), 0);
    let out = env.run(&["render", "failed-to-upload", "hello", "--arch", "amd64"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("X-Buildd-Build-State: FAILEDTOUPLOAD"),
        "{text}"
    );
    assert!(text.contains("To: a1@example.org"), "{text}");
    // The body is shown decoded: no quoted-printable soft breaks.
    assert!(
        text.contains(
            "(example: this build has no upload log; a real notification is only sent with one)"
        ),
        "{text}"
    );
    assert!(!text.lines().any(|l| l.ends_with('=')), "{text}");
    // A build-failure notice is the real one, with the build's section.
    let (mail, _) = log_mail(
        "hello",
        "1.0-2",
        "amd64",
        "attempted",
        "render-failed@buildd",
    );
    assert_eq!(code(&env.deliver(&mail)), 0);
    let out = env.run(&["render", "build-failure", "hello", "--arch", "amd64"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("] amd64 build of hello 1.0-2 in unstable"),
        "{text}"
    );
    assert!(text.contains("amd64: Failed to build"), "{text}");
    // An override changes what is rendered.
    std::fs::write(
        env.path("tpl/failed-to-upload.txt"),
        "OVERRIDE {{ source }}\n",
    )
    .unwrap();
    let out = env.run(&["render", "failed-to-upload", "hello", "--arch", "amd64"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("OVERRIDE hello"));
    assert_ne!(code(&env.run(&["render", "no-such-kind", "hello"])), 0);
    // A broken override is a configuration error.
    std::fs::write(env.path("tpl/failed-to-upload.txt"), "{{ broken").unwrap();
    let out = env.run(&["check-config"]);
    assert_eq!(code(&out), 78);
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed-to-upload.txt"));
}

#[test]
fn outbox_list_shows_queued_mail() {
    let env = Env::new(
        "[outbox]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:9\"\ntimeout = \"1s\"\n",
    );
    assert_eq!(
        code(&env.deliver(&crate::support::plain_mail("Hello", "A question."))),
        0
    );
    // The worker `deliver` started tries the delivery (and fails: nothing
    // listens on port 9) on its own time: wait for its record, bounded.
    let start = std::time::Instant::now();
    let text = loop {
        let out = env.run(&["outbox", "list"]);
        assert_eq!(code(&out), 0);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("last error") || start.elapsed() > std::time::Duration::from_secs(30) {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        text.contains("forward") && text.contains("last error"),
        "{text}"
    );
    let json = env.json(&["outbox", "list", "--json"]);
    assert_eq!(json.as_array().unwrap().len(), 1);
}

#[test]
fn import_leaves_explanations_to_the_worker_or_waits_for_them() {
    let mails = vec![
        log_mail("alpha", "1.0-1", "amd64", "attempted", "x1@example.org").0,
        log_mail("beta", "1.0-1", "amd64", "successful", "x2@example.org").0,
    ];
    let explanation = |env: &Env| {
        let v = env.json(&["info", "alpha", "--json"]);
        (
            v[0]["explanation"]["matched_line"]
                .as_str()
                .map(str::to_string),
            v[0]["explanation_pending"].as_bool(),
        )
    };
    let line = "src/main.c:42:5: error: 'frobnicate' undeclared (first use in this function)";

    // `later`: recorded at once, explained by the next `work`.
    let env = Env::new("");
    crate::support::write_mbox(&env.path("logs.mbox"), &mails);
    let out = env.run(&[
        "import",
        "--explain=later",
        &env.path("logs.mbox").to_string_lossy(),
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{said}");
    assert!(
        said.contains("1 failed build(s) wait to be explained by the next `buildmail work`"),
        "{said}"
    );
    assert_eq!(explanation(&env), (None, Some(true)));
    let text = String::from_utf8_lossy(&env.run(&["info", "alpha"]).stdout).into_owned();
    assert!(text.contains(": being made"), "{text}");
    let out = env.run(&["work", "--explanations"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1 failed log(s) explained\n"
    );
    assert_eq!(explanation(&env), (Some(line.to_string()), Some(false)));
    let text = String::from_utf8_lossy(&env.run(&["info", "alpha"]).stdout).into_owned();
    assert!(text.contains(line), "{text}");

    // `wait`: explained before the import returns.
    let env = Env::new("");
    crate::support::write_mbox(&env.path("logs.mbox"), &mails);
    let out = env.run(&[
        "import",
        "--explain=wait",
        &env.path("logs.mbox").to_string_lossy(),
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("1 failed build(s) explained"), "{said}");
    assert_eq!(explanation(&env), (Some(line.to_string()), Some(false)));
}

/// An archive written by an earlier release, one gzip file per log
/// (`<archive>/<2 hex digits>/<id>.log.gz`), is read where it is: `log`
/// prints it byte-exact, the worker explains a failed build from it, and
/// `fsck` finds nothing wrong.
#[test]
fn logs_archived_by_an_earlier_release_are_read_where_they_are() {
    let env = Env::new("");
    let (mail, log) = log_mail("hello", "1.0-1", "amd64", "attempted", "old@example.org");
    // Imported, so that no worker explains it before the archive changes.
    let eml = env.path("old.eml");
    std::fs::write(&eml, &mail).unwrap();
    let imported = env.run(&["import", "--explain=later", eml.to_str().unwrap()]);
    assert_eq!(code(&imported), 0, "{imported:?}");
    // Rewrite the archive as an earlier release left it.
    let archive = buildmail::store::archive::LogArchive::new(env.path("data/logs"));
    let store = buildmail::store::open(
        &buildmail::config::Config::load(Some(&env.path("buildmail.toml")))
            .unwrap()
            .database,
    )
    .unwrap();
    let id = store.logs_of("hello").unwrap()[0].id.clone();
    drop(store);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &archive.read(&id).unwrap()).unwrap();
    let file = archive.legacy_path(&id).unwrap();
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, gz.finish().unwrap()).unwrap();
    std::fs::remove_dir_all(env.path("data/logs/segments")).unwrap();
    let printed = env.run(&["log", "hello"]);
    assert_eq!(code(&printed), 0);
    assert!(
        printed.stdout == log,
        "the earlier release's log is not byte-exact"
    );
    let out = env.run(&["fsck", "--older-than", "0s"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    let pending = || {
        let cfg = buildmail::config::Config::load(Some(&env.path("buildmail.toml"))).unwrap();
        let store = buildmail::store::open(&cfg.database).unwrap();
        let r = store.builds_of("hello").unwrap().remove(0);
        (
            r.explanation_pending,
            store.explain_queue(10).unwrap().len(),
        )
    };
    assert_eq!(pending(), (true, 1));
    let worked = env.run(&["work", "--explanations"]);
    assert_eq!(code(&worked), 0, "{worked:?}");
    // Explained from the file: the task is done, not dropped unread
    // (the worker's log says so for a log it cannot read).
    assert_eq!(pending(), (false, 0));
    assert!(
        !String::from_utf8_lossy(&worked.stderr).contains("cannot be read"),
        "{}",
        String::from_utf8_lossy(&worked.stderr)
    );
}
