//! What buildmail logs, and where: every state change at info level (shown
//! by default by `serve`; one-shot commands log warnings only unless
//! `log.level` asks for more), on standard error without colour codes
//! when it is not a terminal, with
//! journald's priority prefixes under `log.target = "journald"`, filtered
//! by `BUILDMAIL_LOG`/`RUST_LOG`; a verified admin who hits the
//! error-reply limit is logged as an error.

use std::io::Write;
use std::process::{Output, Stdio};

use crate::support::farm::*;
use crate::support::keys::*;
use crate::support::logs::{sbuild_log, LogSpec};

/// Runs `deliver` of the farm's binary on `raw` with `env` set; it must
/// succeed.
fn deliver(farm: &Farm, raw: &[u8], env: &[(&str, &str)]) -> Output {
    let out = farm.deliver_binary(raw, env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn log_mail(version: &str) -> Vec<u8> {
    let spec = LogSpec::new("hello", version, "amd64", "unstable", "successful");
    let subject =
        crate::support::sbuild_subject("successful", "hello", version, "amd64", "unstable");
    crate::support::with_message_id(
        &crate::support::log_mail_plain(&subject, &sbuild_log(&spec)),
        &crate::support::unique_message_id(),
    )
}

/// One documented default: a one-shot command logs warnings only, so
/// `deliver` says nothing when all went well (an MTA records its standard
/// error as the delivery status); `log.level` or `BUILDMAIL_LOG` ask for
/// more.
#[test]
fn a_state_change_is_logged_at_info_without_colour_codes() {
    let mut farm = Farm::new();
    let silent = deliver(&farm, &log_mail("0.9-1"), &[]);
    assert!(
        silent.stderr.is_empty() && silent.stdout.is_empty(),
        "deliver without -v wrote: {}",
        String::from_utf8_lossy(&silent.stderr)
    );
    let env = deliver(&farm, &log_mail("0.9-2"), &[("BUILDMAIL_LOG", "info")]);
    assert!(
        String::from_utf8_lossy(&env.stderr).contains("0.9-2: now Built"),
        "{}",
        String::from_utf8_lossy(&env.stderr)
    );
    farm.reconfigure("[log]\nlevel = \"info\"\n");
    let out = deliver(&farm, &log_mail("1.0-1"), &[]);
    let said = String::from_utf8_lossy(&out.stderr);
    let line = said
        .lines()
        .find(|l| l.contains("log for unstable/amd64/hello 1.0-1: now Built"))
        .unwrap_or_else(|| panic!("no state change in {said:?}"));
    assert!(line.contains("INFO"), "{line}");
    assert!(!said.contains('\x1b'), "colour codes on a pipe: {said:?}");
    // RUST_LOG-style filtering.
    let quiet = deliver(&farm, &log_mail("1.0-2"), &[("RUST_LOG", "warn")]);
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    let quiet = deliver(
        &farm,
        &log_mail("1.0-3"),
        &[("BUILDMAIL_LOG", "buildmail=warn")],
    );
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
}

#[test]
fn under_journald_lines_carry_priority_prefixes() {
    let mut farm = Farm::new();
    farm.reconfigure("[log]\ntarget = \"journald\"\nlevel = \"info\"\n");
    let out = deliver(&farm, &log_mail("1.0-1"), &[]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.lines()
            .any(|l| l.starts_with("<6>") && l.contains("now Built")),
        "{said:?}"
    );
    // `auto` picks journald when systemd connected standard error to it:
    // JOURNAL_STREAM names stderr's device and inode (here: a file the
    // test gives as stderr). A JOURNAL_STREAM naming another file, as a
    // child with redirected stderr inherits it, means plain stderr.
    use std::os::unix::fs::MetadataExt;
    let mut farm = Farm::new();
    farm.reconfigure("[log]\ntarget = \"auto\"\nlevel = \"info\"\n");
    let err_path = farm.root().join("stderr");
    for (journal, prefixed) in [(true, true), (false, false)] {
        let err = std::fs::File::create(&err_path).unwrap();
        let m = err.metadata().unwrap();
        let stream = if journal {
            format!("{}:{}", m.dev(), m.ino())
        } else {
            format!("{}:{}", m.dev(), m.ino() + 1)
        };
        let mut child = farm
            .cli(&["deliver"])
            .env_remove("RUST_LOG")
            .env_remove("BUILDMAIL_LOG")
            .env("JOURNAL_STREAM", &stream)
            .stdin(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap();
        let version = if journal { "2.0-1" } else { "2.0-2" };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&log_mail(version))
            .unwrap();
        assert!(child.wait().unwrap().success());
        let said = std::fs::read_to_string(&err_path).unwrap();
        assert_eq!(
            said.starts_with("<6>"),
            prefixed,
            "journal {journal}: {said}"
        );
    }
}

#[test]
fn a_bad_log_setting_is_refused_naming_the_key() {
    for (extra, key) in [
        ("[log]\ntarget = \"papertape\"\n", "log.target"),
        ("[log]\nfacility = \"kern\"\n", "log.facility"),
        ("[log]\nlevel = \"info,=[\"\n", "log.level"),
    ] {
        let e = buildmail::config::Config::from_toml(extra, None).unwrap_err();
        assert!(e.to_string().contains(key), "{extra}: {e}");
    }
}

/// The attack on an admin's attention: their signed commands keep being
/// refused until the error-reply limit silences the answers. That must
/// not go unnoticed: it is logged as an error.
#[test]
fn a_verified_admin_over_the_error_reply_limit_is_logged_loudly() {
    let mut farm = Farm::new();
    farm.reconfigure("[replies]\nmax_errors_per_hour = 1\n");
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let subject = log_subject("attempted", "hello", "1.0-1", "amd64");
    let refused = |n: u32| {
        // An older version than the known one: refused, with an answer.
        let text = bind(&subject, "newvers 0.1-1\n");
        let signed = clearsign(
            shared_ed25519(),
            format!("{text}\nattempt {n}\n").as_bytes(),
            SignSpec::at(wall_now() - 60),
        );
        deliver(&farm, &reply(&subject, &signed, None), &[])
    };
    let first = String::from_utf8_lossy(&refused(1).stderr).into_owned();
    assert!(!first.contains("ERROR"), "{first}");
    let second = String::from_utf8_lossy(&refused(2).stderr).into_owned();
    let line = second
        .lines()
        .find(|l| l.contains("hit the error-reply limit"))
        .unwrap_or_else(|| panic!("not logged: {second}"));
    assert!(line.contains("ERROR") && line.contains(ADMIN), "{line}");
}

/// `log.target = "syslog"` writes to a real syslog socket: the test runs
/// `deliver` in a private mount namespace (`unshare --mount`) whose `/dev`
/// holds the test's own datagram socket as `/dev/log`, so nothing of the
/// host's logging is touched. Needs root (CI runs as root).
#[test]
fn under_syslog_lines_reach_dev_log_with_facility_and_priority() {
    let root = unsafe { libc::geteuid() } == 0;
    let unshare = std::path::Path::new("/usr/bin/unshare").exists();
    if !root || !unshare {
        assert!(
            std::env::var_os("CI").is_none(),
            "the syslog test needs root and unshare(1) (util-linux) under CI"
        );
        eprintln!("SKIPPED: the syslog test needs root and unshare(1)");
        return;
    }
    let mut farm = Farm::new();
    farm.reconfigure("[log]\ntarget = \"syslog\"\nfacility = \"local3\"\nlevel = \"info\"\n");
    let dev = farm.root().join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    std::fs::write(dev.join("null"), b"").unwrap();
    let socket = std::os::unix::net::UnixDatagram::bind(dev.join("log")).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let config = farm.root().join("buildmail.toml");
    std::fs::write(&config, &farm.toml).unwrap();
    let script = format!(
        "mount --bind /dev/null {dev}/null && mount --rbind {dev} /dev && exec {exe} --config {config} deliver",
        dev = dev.display(),
        exe = env!("CARGO_BIN_EXE_buildmail"),
        config = config.display()
    );
    let mut child = std::process::Command::new("/usr/bin/unshare")
        .args(["--mount", "sh", "-c", &script])
        .env_remove("RUST_LOG")
        .env_remove("BUILDMAIL_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&log_mail("1.0-1"))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("now Built"),
        "the line went to stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = line.contains("now Built");
        got.push(line);
        if done {
            break;
        }
    }
    let line = got
        .iter()
        .find(|l| l.contains("now Built"))
        .unwrap_or_else(|| panic!("not in syslog: {got:?}"));
    // local3 (19) * 8 + info (6) = 158.
    assert!(line.starts_with("<158>"), "{line}");
    assert!(line.contains("buildmail["), "{line}");
}
