//! What a new farm admin meets, tried as they would: a log with a line
//! longer than SMTP's 998 characters through LMTP, a mail client's `fail`
//! reply, the words of `info`, `list`, `history` and the log lines, the
//! notices after a failed upload, the answer to an admin's unsigned
//! reply, `check-config`, `import --list` and `outbox flush`.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use buildmail::ingest::Outcome;
use buildmail::model::state::State;

use crate::support::farm::*;
use crate::support::keys::*;
use crate::support::lmtp::Session;
use crate::support::logs::{sbuild_log, LogSpec};
use crate::support::{
    archive_mail, log_mail_plain, replace_first, sbuild_subject, unique_message_id,
    with_message_id, TextMail,
};

/// The binary's output; it must exit 0.
fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A running `buildmail serve` on a unix socket in the farm, its log
/// (default level: info) in a file.
struct Daemon {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn start(farm: &Farm) -> Daemon {
        let socket = farm.root().join("lmtp.sock");
        let log = farm.root().join("serve.log");
        let child = farm
            .cli(&["serve", "--lmtp", &format!("unix:{}", socket.display())])
            .env_remove("RUST_LOG")
            .env_remove("BUILDMAIL_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while UnixStream::connect(&socket).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "serve did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child, socket, log }
    }

    /// SIGTERM; wants exit 0. Returns its log.
    fn stop(mut self) -> String {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        assert!(self.child.wait().unwrap().success());
        std::fs::read_to_string(&self.log).unwrap()
    }
}

/// Postfix's LMTP client folds lines over 998 characters unless
/// `lmtp_line_length_limit = 0` (the README's recipe sets it); buildmail
/// itself must keep such a line whole. sbuild's `Package versions:` line
/// runs to thousands of characters: a log with a 5,000-character line,
/// delivered over LMTP, is archived byte for byte, and the daemon logs the
/// mail once.
#[test]
fn a_log_with_a_5000_character_line_is_archived_byte_exact_over_lmtp() {
    let farm = Farm::new();
    let spec = LogSpec::new("hello", "2.10-3", "amd64", "unstable", "successful");
    let mut versions = b"Package versions:".to_vec();
    let mut n = 0;
    while versions.len() < 5000 {
        versions.extend_from_slice(format!(" libpkg{n}_1.{n}-1").as_bytes());
        n += 1;
    }
    versions.truncate(5000);
    assert_eq!(versions.len(), 5000);
    // The bare CRs of the generated log are left out: SMTP has no way to
    // carry a CR before an LF apart from the line end.
    let plain: Vec<u8> = sbuild_log(&spec)
        .into_iter()
        .filter(|&b| b != b'\r')
        .collect();
    let mut with_line = versions.clone();
    with_line.extend_from_slice(b"\nReading package lists...\n");
    let log = replace_first(&plain, b"Reading package lists...\n", &with_line);
    assert!(log.windows(5000).any(|w| w == versions.as_slice()));
    let id = unique_message_id();
    let subject = sbuild_subject("successful", "hello", "2.10-3", "amd64", "unstable");
    let mail = with_message_id(&log_mail_plain(&subject, &log), &id);

    let daemon = Daemon::start(&farm);
    let answer = Session::connect(&daemon.socket).send(
        "buildd@buildd-x86-01.example.org",
        "logs@example.org",
        &mail,
    );
    assert!(answer.starts_with("250 2.0.0"), "{answer}");
    let said = daemon.stop();
    assert_eq!(
        said.matches(&id).count(),
        1,
        "the mail is logged once: {said}"
    );
    assert!(
        said.contains("log for unstable/amd64/hello 2.10-3: now Built"),
        "{said}"
    );
    let archived = farm.cli(&["log", "hello_2.10-3"]).output().unwrap();
    assert!(archived.status.success());
    if archived.stdout != log {
        let at = archived
            .stdout
            .iter()
            .zip(&log)
            .position(|(a, b)| a != b)
            .unwrap_or(log.len().min(archived.stdout.len()));
        panic!(
            "differs at {at}: archived {:?} / sent {:?}",
            String::from_utf8_lossy(
                &archived.stdout[at.saturating_sub(40)..(at + 40).min(archived.stdout.len())]
            ),
            String::from_utf8_lossy(&log[at.saturating_sub(40)..(at + 40).min(log.len())])
        );
    }
    assert_eq!(archived.stdout.len(), log.len(), "the archived log's size");
    assert!(archived.stdout == log, "the archived log is not byte-exact");
    assert_eq!(
        farm.record("hello", "unstable", "amd64").state,
        State::Built
    );
}

/// A signed `fail` as mutt writes it: the command, the reason, an empty
/// line, the quote attribution and the quoted log. Only the reason is
/// the reason; `info` indents a reason of several lines under its field.
#[test]
fn a_fail_reason_from_a_mail_client_stops_before_the_quote() {
    let farm = Farm::new();
    let log_id = farm.log("attempted", "hello", "2.10-3", "amd64", "unstable");
    let subject = log_subject("attempted", "hello", "2.10-3", "amd64");
    let text = format!(
        "{}\nFTBFS with GCC 15 (#1012345)\nsee the upstream bug\n\n\
         On Mon, Dec 07, 2026 at 10:00:00AM +0000, Buildd Daemon wrote:\n\
         > Package: hello\n> Version: 2.10-3\n> Status: attempted\n",
        bind(&subject, "fail")
    );
    let signed = clearsign(shared_ed25519(), text.as_bytes(), fresh());
    let out = farm.deliver(&reply(&subject, &signed, Some(&log_id)));
    assert_eq!(applied_state(&out), State::Failed, "{out:?}");
    let r = farm.record("hello", "unstable", "amd64");
    assert_eq!(
        r.failed_reason.as_deref(),
        Some("FTBFS with GCC 15 (#1012345)\nsee the upstream bug")
    );
    let info = ok(farm.cli(&["info", "hello"]).output().unwrap());
    assert!(
        info.contains(
            "  Failed-Reason       : FTBFS with GCC 15 (#1012345)\n                        see the upstream bug\n"
        ),
        "{info}"
    );
    assert!(!info.contains("wrote:"), "{info}");
    // Every line of `info` is a field or a field's continuation, indented.
    for line in info.lines().skip(1) {
        assert!(
            line.starts_with("  "),
            "{line:?} breaks the layout:\n{info}"
        );
    }
}

/// `history` is a table: the columns start at the same place on every
/// line of a build, however long a version or an event is, and a note of
/// several lines is indented under its event.
#[test]
fn history_columns_align_and_notes_stay_indented() {
    let farm = Farm::new();
    farm.log("attempted", "hello", "2.10-3", "amd64", "unstable");
    farm.log("successful", "hello", "2.10-3+b12345", "amd64", "unstable");
    farm.send_signed_changes("hello", "2.10-3+b12345", "amd64");
    let text = ok(farm
        .cli(&["history", "hello", "--arch", "amd64"])
        .output()
        .unwrap());
    let events: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  2") && l.contains(" UTC  "))
        .collect();
    assert!(events.len() >= 4, "{text}");
    // The event column: after the version column, as wide as the widest.
    let starts: Vec<usize> = events
        .iter()
        .map(|l| {
            let after_time = l.find(" UTC  ").unwrap() + 6;
            let version_end = after_time + l[after_time..].find(' ').unwrap();
            version_end + l[version_end..].find(|c: char| c != ' ').unwrap()
        })
        .collect();
    assert!(
        starts.windows(2).all(|w| w[0] == w[1]),
        "the event column moves: {starts:?}\n{text}"
    );
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.starts_with("hello (") || line.starts_with("  2") || line.starts_with("      "),
            "{line:?}\n{text}"
        );
    }
}

/// A cut-off log makes a new build Needs-Build, never Built: `list` and
/// `info` say why, and the log line says "still" for a given-back log of
/// a build that already Needs-Build.
#[test]
fn a_needs_build_from_a_cut_off_log_says_so_and_log_lines_say_still() {
    let mut farm = Farm::new();
    let spec = LogSpec::new("qux", "0.4-1", "amd64", "unstable", "successful");
    let whole = sbuild_log(&spec);
    let cut = &whole[..whole.len() - 120];
    assert!(!cut.ends_with(b"disk space\n"));
    let subject = sbuild_subject("successful", "qux", "0.4-1", "amd64", "unstable");
    let out = farm.deliver(&with_message_id(
        &log_mail_plain(&subject, cut),
        &unique_message_id(),
    ));
    assert!(
        matches!(
            out,
            Outcome::Log {
                state: State::NeedsBuild,
                ..
            }
        ),
        "{out:?}"
    );
    let list = ok(farm.cli(&["list"]).output().unwrap());
    assert!(
        list.lines()
            .any(|l| l.starts_with("qux ") && l.ends_with("Needs-Build (last log incomplete)")),
        "{list}"
    );
    let info = ok(farm.cli(&["info", "qux"]).output().unwrap());
    assert!(
        info.contains("Last-Log-Incomplete : the log has no `Finished at` line (it is cut off)"),
        "{info}"
    );
    assert!(
        info.contains("a new build, Needs-Build until a whole log makes it Built"),
        "{info}"
    );

    // A given-back log of a build that Needs-Build: "still", not "now".
    farm.reconfigure("[log]\nlevel = \"info\"\n");
    let given_back = |version: &str| {
        let spec = LogSpec::new("baz", version, "amd64", "unstable", "given-back");
        let subject = sbuild_subject("given-back", "baz", version, "amd64", "unstable");
        with_message_id(
            &log_mail_plain(&subject, &sbuild_log(&spec)),
            &unique_message_id(),
        )
    };
    let first = farm.deliver_binary(&given_back("1.0-1"), &[]);
    let said = String::from_utf8_lossy(&first.stderr);
    assert!(said.contains("baz 1.0-1: now Needs-Build"), "{said}");
    let again = farm.deliver_binary(&given_back("1.0-1"), &[]);
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("baz 1.0-1: still Needs-Build"), "{said}");
    assert!(!said.contains("now Needs-Build"), "{said}");
    // A new version in the same state did change something.
    let newer = farm.deliver_binary(&given_back("1.0-2"), &[]);
    let said = String::from_utf8_lossy(&newer.stderr);
    assert!(said.contains("baz 1.0-2: now Needs-Build"), "{said}");
}

/// An upload whose command runs: the build is Uploaded from its start
/// (the archive's answer may come first), and `list` and `info` say that
/// the command still runs; once it ends, they do not.
#[test]
fn list_and_info_show_an_upload_command_that_still_runs() {
    let mut farm = Farm::new();
    let root = farm.root().to_path_buf();
    let script = upload_script(
        &farm,
        &format!(
            "touch {started}\nwhile [ ! -e {release} ]; do sleep 0.05; done\nexit 0",
            started = root.join("started").display(),
            release = root.join("release").display()
        ),
    );
    farm.reconfigure(&script);
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    let changes = farm.build_files("hello", "1.0-1", "amd64");
    let signed = clearsign(shared_ed25519(), changes.as_bytes(), fresh());
    let out = farm.ingest_only(&reply(
        &log_subject("successful", "hello", "1.0-1", "amd64"),
        &signed,
        None,
    ));
    assert!(
        matches!(out, Outcome::Reply { applied: true, .. }),
        "{out:?}"
    );
    let queued = ok(farm.cli(&["list"]).output().unwrap());
    assert!(queued.contains("Built (upload queued)"), "{queued}");
    let mut worker = farm.cli(&["work"]).stdout(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while !root.join("started").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no upload command"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let running = ok(farm.cli(&["list"]).output().unwrap());
    assert!(
        running
            .lines()
            .any(|l| l.starts_with("hello ") && l.ends_with("Uploaded (upload command running)")),
        "{running}"
    );
    let info = ok(farm.cli(&["info", "hello"]).output().unwrap());
    assert!(
        info.contains("  Upload-Command      : running since "),
        "{info}"
    );
    std::fs::write(root.join("release"), b"").unwrap();
    assert!(worker.wait().unwrap().success());
    let done = ok(farm.cli(&["list"]).output().unwrap());
    assert!(
        done.lines()
            .any(|l| l.starts_with("hello ") && l.ends_with(" Uploaded")),
        "{done}"
    );
    let info = ok(farm.cli(&["info", "hello"]).output().unwrap());
    assert!(!info.contains("Upload-Command"), "{info}");
}

/// The package's creator is told plainly what happened: for a failure on
/// the farm's side, that the admins were told and will upload again and
/// that nothing is asked of them (without the farm's log); for the
/// archive's rejection, the archive's answer. The admin who signed the
/// `.changes` is told their mail was processed and the upload failed.
#[test]
fn the_failed_upload_notices_say_who_has_to_act() {
    let mut farm = Farm::new();
    let dput = upload_script(
        &farm,
        "echo 'Traceback (most recent call last):' >&2\n\
         echo '  File \"/usr/share/dput/dput/dput.py\", line 1: post-upload hook failed' >&2\nexit 1",
    );
    farm.reconfigure(&dput);
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    farm.send_signed_changes("hello", "1.0-1", "amd64");
    assert_eq!(farm.state("hello"), State::FailedToUpload);
    let mails = farm.outbox();
    let having =
        |header: &str| -> Vec<&String> { mails.iter().filter(|m| m.contains(header)).collect() };
    let flat = |m: &str| m.split_whitespace().collect::<Vec<_>>().join(" ");
    // The creator: the Changed-By of the farm's .changes.
    let creator = having("X-Creator-Recipient: buildd@example.org");
    assert_eq!(creator.len(), 1, "{mails:#?}");
    let body = flat(creator[0]);
    assert!(
        body.contains("the build farm could not upload it. This is a problem on the farm's side, not in the package: the buildd admins have been told and will upload it again. You need not do anything."),
        "{body}"
    );
    assert!(
        !body.contains("Traceback") && !body.contains("dput.py"),
        "{body}"
    );
    assert!(!body.contains("not available"), "{body}");
    // The admins: the log, and what to do.
    let admin = having("X-Buildd-Message-Rationale: Buildd-Admin");
    assert_eq!(admin.len(), 1, "{mails:#?}");
    let body = flat(admin[0]);
    assert!(body.contains("Upload log: "), "{body}");
    assert!(body.contains("post-upload hook failed"), "{body}");
    assert!(body.contains("signed `retry-upload`"), "{body}");
    // The signer (admin@example.org, not a notified admin): processed.
    let signer = having("X-Buildmail-Kind: error-reply");
    assert_eq!(signer.len(), 1, "{mails:#?}");
    assert!(signer[0].contains(ADMIN), "{}", signer[0]);
    assert!(
        signer[0].contains("Your mail was processed, but the upload it asked for failed:"),
        "{}",
        signer[0]
    );
    assert!(
        !signer[0].contains("could not be processed"),
        "{}",
        signer[0]
    );

    // The archive's rejection: its answer goes to the creator too (the
    // farm trusts the archive's sender address, the weak opt-in; a signed
    // answer is handled alike).
    let farm = Farm::with(
        "[archive]\nsenders = [\"dak@ftp-master.example.org\"]\ntrust_unsigned_senders = true\n",
    );
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    farm.send_signed_changes("hello", "1.0-1", "amd64");
    assert_eq!(farm.state("hello"), State::Uploaded);
    farm.deliver(&archive_mail(
        "hello_1.0-1_amd64.changes REJECTED",
        "Rejected: hello_1.0-1_amd64.deb: lintian found errors\n",
    ));
    assert_eq!(farm.state("hello"), State::FailedToUpload);
    let mails = farm.outbox();
    let creator: Vec<&String> = mails
        .iter()
        .filter(|m| m.contains("X-Creator-Recipient: buildd@example.org"))
        .collect();
    assert_eq!(creator.len(), 1, "{mails:#?}");
    let body = flat(creator[0]);
    assert!(
        body.contains("The archive refused the upload of hello 1.0-1 for amd64 in unstable. Its answer, below, says why"),
        "{body}"
    );
    assert!(
        body.contains(
            "The archive's answer: Rejected: hello_1.0-1_amd64.deb: lintian found errors"
        ),
        "{body}"
    );
}

/// An admin's unsigned reply is answered when its From is a user-ID
/// address of the admins' keyring, though not in replies.known_senders.
/// The attack: the same reply from a stranger is not answered.
#[test]
fn an_unsigned_reply_from_a_keyring_address_is_answered_a_strangers_is_not() {
    let farm = Farm::new();
    std::fs::write(
        farm.root().join("data/gpg.asc"),
        shared_other().armored_public(),
    )
    .unwrap();
    assert!(!farm
        .cfg
        .replies
        .known_senders
        .iter()
        .any(|k| k == "else@example.org"));
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    let subject = log_subject("attempted", "hello", "1.0-1", "amd64");
    let text = bind(&subject, "retry");
    for (from, answered) in [
        ("else@example.org", true),
        ("stranger@elsewhere.example.net", false),
    ] {
        let mut m = TextMail::new(from, "buildd@example.org", &subject, &text);
        m.message_id = unique_message_id();
        let before = farm.outbox().len();
        let out = farm.deliver(&m.build());
        assert!(
            matches!(out, Outcome::Reply { applied: false, .. }),
            "{from}: {out:?}"
        );
        let mails = farm.outbox();
        if answered {
            assert_eq!(mails.len(), before + 1, "{from}: {mails:#?}");
            let answer = mails
                .iter()
                .find(|m| m.contains(&format!("To: {from}")) || m.contains(&format!("<{from}>")))
                .unwrap_or_else(|| panic!("no answer to {from}: {mails:#?}"));
            assert!(
                answer.contains("Your mail could not be processed:"),
                "{answer}"
            );
        } else {
            assert_eq!(mails.len(), before, "a stranger was answered: {mails:#?}");
        }
        assert_eq!(farm.state("hello"), State::BuildAttempted);
    }
}

/// `check-config` shows what the file says: sizes and durations as the
/// file writes them, the transport by its name, `[serve]`; a serve.lmtp
/// the daemon could not listen on is refused.
#[test]
fn check_config_shows_values_as_written_and_the_serve_section() {
    let mut farm = Farm::new();
    farm.reconfigure(
        "[limits]\nmax_message_size = 536870912\n[serve]\nlmtp = [\"unix:/run/buildmail/lmtp.sock\"]\nsync_every = \"15m\"\n",
    );
    let text = ok(farm.cli(&["check-config"]).output().unwrap());
    for line in [
        "limits.max_message_size: 512MiB\n",
        "limits.max_log_size: 2GiB\n",
        "signatures.max_age: 7d\n",
        "database.lock_timeout: 2s\n",
        "outbox.transport: file;",
        "upload.command: none",
        "serve.lmtp: unix:/run/buildmail/lmtp.sock (",
        "serve.sync_every: 15m\n",
        "log.level: info for serve, warn for the other commands (the default)\n",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    assert!(!text.contains("bytes"), "{text}");
    assert!(!text.contains("File") && !text.contains("Smtp"), "{text}");
    assert!(
        text.contains("serve.sync_every is set but archive.root is not"),
        "{text}"
    );
    farm.reconfigure("[serve]\nlmtp = [\"/run/buildmail/lmtp.sock\"]\n");
    let out = farm.cli(&["check-config"]).output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("serve.lmtp"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No LMTP: the MTA hands mail to `deliver`, which finds the daemon
    // on its control socket.
    farm.reconfigure("");
    let text = ok(farm.cli(&["check-config"]).output().unwrap());
    assert!(text.contains("serve.lmtp: none"), "{text}");
    assert!(
        text.contains(&format!(
            "serve.control: {}",
            farm.root().join("data/control.sock").display()
        )),
        "{text}"
    );
    assert!(!text.contains("warning: serve.lmtp"), "{text}");
}

/// `import --list` prints its summary and its table, without log lines
/// between them, and names the quarantined mail once.
#[test]
fn import_list_prints_a_clean_table_and_each_quarantined_mail_once() {
    let farm = Farm::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mail");
    let out = farm
        .cli(&[
            "import",
            "--list",
            "--explain=later",
            fixtures.to_str().unwrap(),
        ])
        .env_remove("RUST_LOG")
        .env_remove("BUILDMAIL_LOG")
        .output()
        .unwrap();
    let stdout = ok(Output {
        status: out.status,
        stdout: out.stdout.clone(),
        stderr: out.stderr.clone(),
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains("INFO") && !stderr.contains("INFO"),
        "{stderr}\n{stdout}"
    );
    assert!(!stderr.contains("WARN"), "{stderr}");
    assert_eq!(
        stderr.matches("quarantined").count(),
        1,
        "the quarantined mail once: {stderr}"
    );
    assert!(stderr.contains("broken-gzip.eml"), "{stderr}");
    assert!(
        stdout.contains("imported 10 mails: 8 log mails, 0 replies, 0 archive mails, 1 other mails, 0 duplicates, 1 quarantined"),
        "{stdout}"
    );
    let table: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("SOURCE"))
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("nothing was sent"))
        .collect();
    assert_eq!(table.len(), 9, "a header and 8 builds: {stdout}");
    assert!(
        table
            .iter()
            .any(|l| l.starts_with("qux ") && l.ends_with("Needs-Build (last log incomplete)")),
        "{stdout}"
    );
}

/// `outbox flush` tells a mail that will be retried from a dead one.
#[test]
fn outbox_flush_does_not_call_a_dead_mail_retried_later() {
    let mut farm = Farm::new();
    let smtp = crate::support::smtp::SmtpServer::start();
    smtp.reject_recipient(ADMIN);
    farm.reconfigure(&format!(
        "[outbox]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\ntimeout = \"5s\"\n",
        smtp.url()
    ));
    farm.log("attempted", "hello", "1.0-1", "amd64", "unstable");
    // A refused unsigned command from the admin: an error reply, which the
    // server refuses permanently (5xx).
    let subject = log_subject("attempted", "hello", "1.0-1", "amd64");
    let out = farm.ingest_only(&reply(&subject, b"retry\n", None));
    assert!(
        matches!(out, Outcome::Reply { applied: false, .. }),
        "{out:?}"
    );
    let said = ok(farm.cli(&["outbox", "flush"]).output().unwrap());
    assert!(said.starts_with("0 delivered, 1 dead ("), "{said}");
    assert!(!said.contains("retried later"), "{said}");
    assert!(said.contains("outbox retry"), "{said}");
    smtp.stop();
}

/// What the README tells a new admin holds: its configuration reference
/// (every ```toml block, together) loads; its Postfix recipe keeps long
/// lines whole and names the packaged socket, which is the one the
/// example configuration and the socket unit give; the `[log]` key it
/// shows exists.
#[test]
fn the_readme_recipe_matches_the_package() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut toml = String::new();
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```toml\n") {
        let block = &rest[start + 8..];
        let end = block.find("```").unwrap();
        toml.push_str(&block[..end]);
        rest = &block[end..];
    }
    assert!(toml.contains("[serve]"), "{toml}");
    let config = buildmail::config::Config::from_toml(&toml, None)
        .unwrap_or_else(|e| panic!("the README's configuration does not load: {e}"));
    let socket = crate::packaging::unit_values("buildmail.socket", "ListenStream").remove(0);
    assert_eq!(config.serve.lmtp, [format!("unix:{socket}")]);
    let example = std::fs::read_to_string(root.join("packaging/buildmail.toml")).unwrap();
    let example = buildmail::config::Config::from_toml(&example, None).unwrap();
    assert_eq!(example.serve.lmtp, [format!("unix:{socket}")]);
    assert!(readme.contains("lmtp_line_length_limit = 0"));
    assert!(readme.contains(&format!("buildmail:unix:{socket}")));
    assert!(readme.contains("SocketGroup=postfix"));
    assert!(!readme.contains("destination = \"journald\""));
    // Every `buildmail ... serve` the README shows for the package names
    // the configuration, as the unit does.
    let exec = crate::packaging::unit_values("buildmail.service", "ExecStart").remove(0);
    assert!(
        readme.contains(&format!("`{exec}`")) || readme.contains(&exec.replace("/usr/bin/", "")),
        "{exec}"
    );
}

/// The log line of a signed `.changes` names it once ("signed .changes
/// for ...", not "signed .changes signed .changes").
#[test]
fn a_signed_changes_is_logged_in_plain_words() {
    let mut farm = Farm::new();
    farm.reconfigure("[log]\nlevel = \"info\"\n");
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    let changes = farm.build_files("hello", "1.0-1", "amd64");
    // The binary runs on the wall clock.
    let signed = clearsign(
        shared_ed25519(),
        changes.as_bytes(),
        SignSpec::at(wall_now() - 60),
    );
    let out = farm.deliver_binary(
        &reply(
            &log_subject("successful", "hello", "1.0-1", "amd64"),
            &signed,
            None,
        ),
        &[],
    );
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    let line = said
        .lines()
        .find(|l| l.contains("for unstable/amd64/hello"))
        .unwrap_or_else(|| panic!("no line: {said}"));
    assert!(
        line.contains(": signed .changes for unstable/amd64/hello: upload queued for the worker"),
        "{line}"
    );
    assert!(!line.contains("signed .changes signed"), "{line}");
}
