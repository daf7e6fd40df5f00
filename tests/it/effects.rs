//! Effects run with the store released, claim → run → finish, and a worker
//! killed with SIGKILL at any step loses nothing: the next worker takes
//! over what it claimed under the item's idempotency rule. Everything here
//! runs the real `buildmail` binary: `deliver` as an MTA runs it, `work` as
//! the detached worker or cron runs it.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use buildmail::effects::StoreAccess;
use buildmail::ingest::Outcome;
use buildmail::model::state::State;

use crate::support::farm::*;
use crate::support::keys::*;
use crate::support::logs::{sbuild_log, LogSpec};

/// Waits (bounded) until `ok` holds; panics with `what` otherwise.
fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A farm whose upload command counts its runs in `uploads.count`, says
/// it started in `started`, and (with `hold`) waits for `release`.
fn upload_farm(hold: bool, extra: &str) -> Farm {
    let mut farm = Farm::new();
    let root = farm.root().display().to_string();
    let wait = if hold {
        format!(
            "i=0; while [ ! -e {root}/release ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done"
        )
    } else {
        String::new()
    };
    let script = upload_script(
        &farm,
        &format!("echo run >> {root}/uploads.count\ntouch {root}/started\n{wait}\necho uploaded"),
    );
    farm.reconfigure(&format!("{script}{extra}"));
    farm
}

fn count(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// A log mail of a successful build, the build's files in the build
/// directory, and the admins' signed `.changes` for it (signed at
/// `signed_at`).
fn built_and_signed(farm: &Farm, signed_at: i64) -> (Vec<u8>, Vec<u8>) {
    let spec = LogSpec::new("hello", "1.0-1", "amd64", "unstable", "successful");
    let subject =
        crate::support::sbuild_subject("successful", "hello", "1.0-1", "amd64", "unstable");
    let log = crate::support::with_message_id(
        &crate::support::log_mail_plain(&subject, &sbuild_log(&spec)),
        &crate::support::unique_message_id(),
    );
    let changes = farm.build_files("hello", "1.0-1", "amd64");
    let signed = clearsign(
        shared_ed25519(),
        changes.as_bytes(),
        SignSpec::at(signed_at),
    );
    let reply = reply(
        &log_subject("successful", "hello", "1.0-1", "amd64"),
        &signed,
        None,
    );
    (log, reply)
}

fn deliver_cli(farm: &Farm, raw: &[u8]) -> std::process::Output {
    farm.deliver_binary(raw, &[])
}

fn state_via_cli(farm: &Farm) -> String {
    let out = farm.cli(&["info", "hello", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0]["state"].as_str().unwrap_or_default().to_string()
}

#[test]
fn deliver_hands_the_upload_to_a_worker_and_releases_the_store() {
    let farm = upload_farm(true, "");
    let root = farm.root().to_path_buf();
    let (log, reply) = built_and_signed(&farm, wall_now() - 60);
    assert!(deliver_cli(&farm, &log).status.success());
    let out = deliver_cli(&farm, &reply);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The upload command waits for `release`, which does not exist yet: a
    // deliver that ran it would still be waiting.
    assert!(!root.join("release").exists());
    wait_until("the worker to start the upload command", || {
        root.join("started").exists()
    });
    // While the upload command runs, the database is free: a query with a
    // 2 s lock timeout gets in.
    let list = farm.cli(&["list", "--json"]).output().unwrap();
    assert!(
        list.status.success(),
        "the store was held while the upload ran: {}",
        String::from_utf8_lossy(&list.stderr)
    );
    std::fs::write(root.join("release"), b"").unwrap();
    wait_until("the upload to be recorded", || {
        state_via_cli(&farm) == "Uploaded"
    });
    assert_eq!(count(&root.join("uploads.count")), 1);
}

/// Runs `buildmail work` with a crash point; it must die by SIGKILL.
fn work_crashing_at(farm: &Farm, point: &str) {
    let status = farm
        .cli(&["work"])
        .env("BUILDMAIL_CRASH_AT", point)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "work did not stop at {point}: {status:?}"
    );
}

fn work(farm: &Farm) -> String {
    let out = farm.cli(&["work"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Queues an upload job (the signed `.changes` committed, nothing run).
fn queued_upload(farm: &Farm) {
    let (log, reply) = built_and_signed(farm, now() - 60);
    farm.ingest_only(&log);
    let out = farm.ingest_only(&reply);
    assert!(
        matches!(out, Outcome::Reply { applied: true, .. }),
        "{out:?}"
    );
    assert!(farm
        .record("hello", "unstable", "amd64")
        .pending_job
        .is_some());
}

#[test]
fn a_worker_killed_after_claiming_an_upload_leaves_it_to_the_next() {
    let farm = upload_farm(false, "");
    queued_upload(&farm);
    work_crashing_at(&farm, "job-claimed");
    assert_eq!(count(&farm.root().join("uploads.count")), 0);
    assert_eq!(farm.state("hello"), State::Built);
    work(&farm);
    assert_eq!(
        count(&farm.root().join("uploads.count")),
        1,
        "run exactly once"
    );
    assert_eq!(farm.state("hello"), State::Uploaded);
    assert!(farm
        .record("hello", "unstable", "amd64")
        .pending_job
        .is_none());
}

#[test]
fn an_upload_whose_command_may_have_run_is_never_repeated_blindly() {
    for point in ["upload-started", "job-ran"] {
        let farm = upload_farm(false, "");
        queued_upload(&farm);
        work_crashing_at(&farm, point);
        let before = count(&farm.root().join("uploads.count"));
        assert_eq!(before, usize::from(point == "job-ran"), "{point}");
        work(&farm);
        assert_eq!(
            count(&farm.root().join("uploads.count")),
            before,
            "{point}: the upload command ran again"
        );
        let record = farm.record("hello", "unstable", "amd64");
        assert_eq!(record.state, State::FailedToUpload, "{point}");
        assert!(
            record
                .upload_log
                .as_deref()
                .unwrap_or("")
                .contains("interrupted"),
            "{point}: {:?}",
            record.upload_log
        );
        assert!(record.pending_job.is_none());
        // The admins hear of it, and `retry-upload` repeats it on purpose.
        assert!(
            farm.outbox().iter().any(|m| m.contains("FAILEDTOUPLOAD")),
            "{point}: no notification"
        );
    }
}

/// Starts `buildmail work` and waits until its upload command runs.
fn worker_in_upload(farm: &Farm) -> std::process::Child {
    let worker = farm.cli(&["work"]).stdout(Stdio::null()).spawn().unwrap();
    wait_until("the upload command to start", || {
        farm.root().join("started").exists()
    });
    worker
}

#[test]
fn a_worker_killed_mid_upload_with_kill_9_loses_nothing() {
    let farm = upload_farm(true, "");
    let root = farm.root().to_path_buf();
    queued_upload(&farm);
    let mut worker = worker_in_upload(&farm);
    worker.kill().unwrap(); // SIGKILL
    let status = worker.wait().unwrap();
    assert_eq!(status.signal(), Some(9));
    // The next worker takes the claim over from the dead one.
    work(&farm);
    let record = farm.record("hello", "unstable", "amd64");
    assert_eq!(record.state, State::FailedToUpload);
    assert!(record
        .upload_log
        .unwrap_or_default()
        .contains("interrupted"));
    assert_eq!(count(&root.join("uploads.count")), 1);
    std::fs::write(root.join("release"), b"").unwrap();
}

/// Whether process `pid` still runs (a zombie nobody reaped counts as gone).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

/// The attack on exactly-once uploads: the worker is killed with `kill -9`
/// while its upload command runs, and that command started a child of its
/// own (as dput starts scp or ssh). The command must die with its worker,
/// and no later run of the upload may overlap what is left of the first.
#[test]
fn the_upload_command_dies_with_its_worker_and_never_overlaps_a_second_run() {
    let mut farm = Farm::new();
    let root = farm.root().display().to_string();
    // Each run notes an earlier run's child that still lives, then starts
    // a child of its own that waits for `release`.
    let script = upload_script(
        &farm,
        &format!(
            "echo run >> {root}/uploads.count\n\
             if [ -e {root}/child.pid ]; then\n\
               st=$(awk '{{print $3}}' /proc/$(cat {root}/child.pid)/stat 2>/dev/null)\n\
               if [ -n \"$st\" ] && [ \"$st\" != Z ]; then echo OVERLAP >> {root}/overlaps; fi\n\
             fi\n\
             echo $$ > {root}/command.pid\n\
             (i=0; while [ ! -e {root}/release ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done) &\n\
             echo $! > {root}/child.pid\n\
             touch {root}/started\n\
             wait\n\
             echo uploaded"
        ),
    );
    farm.reconfigure(&script);
    queued_upload(&farm);
    let mut worker = worker_in_upload(&farm);
    let command = std::fs::read_to_string(farm.root().join("command.pid")).unwrap();
    let child = std::fs::read_to_string(farm.root().join("child.pid")).unwrap();
    worker.kill().unwrap();
    worker.wait().unwrap();
    wait_until("the upload command to die with its worker", || {
        !running(&command)
    });
    assert!(
        running(&child),
        "the command's own child outlives it, as dput's scp would"
    );
    // The next worker finds the run's lease still held by that child: it
    // stops it before it records the outcome.
    work(&farm);
    assert!(
        !running(&child),
        "a second worker left the first run's child running"
    );
    let record = farm.record("hello", "unstable", "amd64");
    assert_eq!(record.state, State::FailedToUpload);
    assert!(record
        .upload_log
        .unwrap_or_default()
        .contains("interrupted"));
    assert_eq!(count(&farm.root().join("uploads.count")), 1);
    // The admins' retry-upload runs it again, on purpose, alone.
    let subject = log_subject("successful", "hello", "1.0-1", "amd64");
    farm.ingest_only(&signed_reply(&subject, "retry-upload\n"));
    std::fs::write(farm.root().join("release"), b"").unwrap();
    work(&farm);
    assert_eq!(farm.state("hello"), State::Uploaded);
    assert_eq!(count(&farm.root().join("uploads.count")), 2);
    assert!(
        !farm.root().join("overlaps").exists(),
        "the second run overlapped the first"
    );
}

/// The attack on the lease: it is held by a process outside the group the
/// file names (a daemon that called setsid), and that group number now
/// belongs to an unrelated process. Taking the lease kills the holder,
/// never the unrelated group.
#[test]
fn taking_a_lease_kills_its_holders_never_a_group_it_only_names() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs/x.changes.lock");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut victim = std::process::Command::new("sleep")
        .arg("60")
        .process_group(0)
        .spawn()
        .unwrap();
    // The file names the victim's group, as if a reused group number.
    std::fs::write(&path, format!("{}\n", victim.id())).unwrap();
    let lease = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    // SAFETY: flock on a valid descriptor.
    assert_eq!(unsafe { libc::flock(lease.as_raw_fd(), libc::LOCK_EX) }, 0);
    let fd = lease.as_raw_fd();
    let mut holder = std::process::Command::new("sleep");
    holder.arg("60").process_group(0);
    // SAFETY: fcntl on a descriptor that stays open until exec.
    unsafe {
        holder.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut holder = holder.spawn().unwrap();
    drop(lease);
    let taken = buildmail::effects::process::RunLease::take(&path, Duration::from_secs(10));
    assert!(taken.is_ok(), "{taken:?}");
    assert_eq!(
        holder.wait().unwrap().signal(),
        Some(9),
        "the holder is killed"
    );
    assert!(
        victim.try_wait().unwrap().is_none(),
        "the group the file only named was killed"
    );
    victim.kill().unwrap();
    victim.wait().unwrap();
}

#[test]
fn a_worker_killed_after_finishing_leaves_nothing_to_redo() {
    let farm = upload_farm(false, "");
    queued_upload(&farm);
    work_crashing_at(&farm, "job-finished");
    assert_eq!(farm.state("hello"), State::Uploaded);
    work(&farm);
    assert_eq!(count(&farm.root().join("uploads.count")), 1);
    assert_eq!(farm.state("hello"), State::Uploaded);
}

#[test]
fn the_archive_answering_while_the_upload_command_runs_is_not_lost() {
    // The archive's answers are trusted by their From here (the weak
    // opt-in): what matters is when the answer arrives.
    let farm = upload_farm(
        true,
        "[archive]\nsenders = [\"dak@ftp-master.example.org\"]\ntrust_unsigned_senders = true\n",
    );
    let root = farm.root().to_path_buf();
    queued_upload(&farm);
    let mut worker = worker_in_upload(&farm);
    // The queue daemon and dak are quick: the upload is accepted before
    // the upload command has even ended.
    let accepted = crate::support::archive_mail(
        "hello_1.0-1_amd64.changes ACCEPTED into unstable",
        "Accepted:\nhello_1.0-1_amd64.deb\n",
    );
    let out = farm.ingest_only(&accepted);
    assert!(
        matches!(
            out,
            Outcome::Archive {
                state: State::Installed,
                ..
            }
        ),
        "{out:?}"
    );
    std::fs::write(root.join("release"), b"").unwrap();
    assert!(worker.wait().unwrap().success());
    let record = farm.record("hello", "unstable", "amd64");
    assert_eq!(
        record.state,
        State::Installed,
        "the archive's answer stands"
    );
    assert!(record.pending_job.is_none());
    let last = farm.history("hello", "amd64").pop().unwrap();
    assert_eq!(last.event, "upload:ok");
    assert!(last.note.unwrap_or_default().contains("moved on"));
}

#[test]
fn a_finished_job_is_not_run_again() {
    let farm = upload_farm(false, "");
    queued_upload(&farm);
    work(&farm);
    work(&farm);
    assert_eq!(count(&farm.root().join("uploads.count")), 1);
    assert_eq!(farm.state("hello"), State::Uploaded);
}

/// A farm whose mail leaves through a sendmail script that appends every
/// mail it is given to `sent.log` (one line `MAIL` per mail).
fn sendmail_farm() -> Farm {
    sendmail_script_farm("echo MAIL >> {root}/sent.log")
}

/// A farm whose mail leaves through a sendmail script that reads the mail,
/// then runs `body` (`{root}` stands for the farm's directory).
fn sendmail_script_farm(body: &str) -> Farm {
    let mut farm = Farm::new();
    let root = farm.root().display().to_string();
    let path = farm.root().join("sendmail.sh");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\ncat > /dev/null\n{}\n",
            body.replace("{root}", &root)
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    farm.reconfigure(&format!(
        "[outbox]\ntransport = \"sendmail\"\nsendmail = [{:?}, \"-oi\"]\n",
        path
    ));
    farm
}

/// Queues one forward to the admins (a mail of no known kind).
fn queued_forward(farm: &Farm) {
    let out = farm.ingest_only(&crate::support::question_mail(
        "a question",
        "Hello admins\n",
    ));
    assert!(
        matches!(
            out,
            Outcome::Forwarded {
                forwarded: true,
                ..
            }
        ),
        "{out:?}"
    );
}

fn outbox_len(farm: &Farm) -> usize {
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    store.outbox_mails().unwrap().len()
}

#[test]
fn a_mail_claimed_by_a_killed_worker_is_delivered_by_the_next() {
    let farm = sendmail_farm();
    queued_forward(&farm);
    work_crashing_at(&farm, "outbox-claimed");
    assert_eq!(count(&farm.root().join("sent.log")), 0);
    assert_eq!(outbox_len(&farm), 1, "the claimed mail is still queued");
    work(&farm);
    assert_eq!(count(&farm.root().join("sent.log")), 1);
    assert_eq!(outbox_len(&farm), 0);
}

#[test]
fn a_mail_sent_by_a_killed_worker_is_never_lost() {
    let farm = sendmail_farm();
    queued_forward(&farm);
    work_crashing_at(&farm, "outbox-sent");
    assert_eq!(
        count(&farm.root().join("sent.log")),
        1,
        "sent before the kill"
    );
    work(&farm);
    // Its outcome was not recorded, so it is sent again (at least once,
    // never lost); the outbox is empty afterwards.
    assert!(count(&farm.root().join("sent.log")) >= 1);
    assert_eq!(outbox_len(&farm), 0);
}

#[test]
fn a_mail_recorded_by_a_killed_worker_is_not_sent_again() {
    let farm = sendmail_farm();
    queued_forward(&farm);
    work_crashing_at(&farm, "outbox-recorded");
    assert_eq!(outbox_len(&farm), 0);
    work(&farm);
    assert_eq!(count(&farm.root().join("sent.log")), 1);
}

/// The attack on exactly-once mail: `kill -9` of the worker the moment
/// the first acceptance (SMTP 250) comes back, with 30 mails queued for a
/// real SMTP listener. Each acceptance is committed before its connection
/// sends another mail, so the kill re-sends at most one mail per
/// connection (8), never the whole batch.
#[test]
fn a_worker_killed_after_an_acceptance_re_sends_at_most_one_mail_per_connection() {
    let mut farm = Farm::new();
    let smtp = crate::support::smtp::SmtpServer::start();
    farm.reconfigure(&format!(
        "[outbox]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\ntimeout = \"5s\"\n",
        smtp.url()
    ));
    for _ in 0..30 {
        queued_forward(&farm);
    }
    work_crashing_at(&farm, "outbox-sent");
    // Mails whose data was on the wire at the kill still reach the server:
    // the killed worker's connections are closed by the kernel, and each
    // session ends once it has read all its client sent.
    smtp.wait_idle();
    let before_kill = smtp.received().len();
    assert!(
        (1..=8).contains(&before_kill),
        "{before_kill} mails were accepted before the first was committed"
    );
    work(&farm);
    assert_eq!(outbox_len(&farm), 0);
    // A mail sent twice arrives with the same bytes.
    let mut ids: Vec<Vec<u8>> = smtp.received().into_iter().map(|m| m.data).collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30, "every mail arrived");
    assert!(
        total - 30 <= 8,
        "{} mails were sent twice, more than one per connection",
        total - 30
    );
}

/// A record step that fails (another process holds the database past
/// `lock_timeout`) must end the delivery run with an error, not leave the
/// connections waiting for a commit that never comes, the worker lock held
/// for good.
#[test]
fn a_failed_record_step_ends_the_run_instead_of_hanging() {
    let farm = sendmail_script_farm("touch {root}/sending\nsleep 1");
    if farm.pg.is_some() {
        // The record step fails here because sled admits one process;
        // PostgreSQL admits both (its lost connection is the same
        // StoreError, tested in postgres::).
        eprintln!("sled only: a second process holding the database");
        return;
    }
    for _ in 0..3 {
        queued_forward(&farm);
    }
    let cfg = farm.cfg.clone();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = buildmail::effects::outbox::deliver_due(
            StoreAccess::Open(&cfg.database),
            &cfg,
            &buildmail::time::SystemClock,
            true,
        );
        let _ = done_tx.send(r.is_err());
    });
    wait_until("a mail to be handed to sendmail", || {
        farm.root().join("sending").exists()
    });
    // Hold the database while the outcomes want to be recorded.
    let held = buildmail::store::open(&farm.cfg.database).unwrap();
    let failed = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the delivery run hung after its record step failed");
    drop(held);
    assert!(failed, "the run should report the failed record step");
    // Nothing is lost: the mails are still queued, and the next run sends them.
    assert!(outbox_len(&farm) >= 1);
}

#[test]
fn one_worker_at_a_time_and_none_when_idle() {
    let farm = sendmail_farm();
    // Nothing queued: the worker says so and does nothing.
    let out = work(&farm);
    assert!(out.contains("0 job(s) done"), "{out}");
    // A second worker while one holds the lock leaves the work to it.
    let lock = buildmail::effects::worker::try_lock(&farm.cfg.database)
        .unwrap()
        .expect("the lock is free");
    let out = work(&farm);
    assert!(out.contains("another buildmail worker is running"), "{out}");
    drop(lock);
}

#[test]
fn in_process_steps_commit_each_outcome() {
    // The same claim → run → finish through a store the caller holds.
    let farm = sendmail_farm();
    queued_forward(&farm);
    let store = buildmail::store::open(&farm.cfg.database).unwrap();
    let summary = buildmail::effects::worker::run_pending(
        StoreAccess::Held(&*store),
        &farm.cfg,
        &*farm.clock,
    )
    .unwrap();
    assert_eq!((summary.delivered, summary.failed), (1, 0));
    assert!(store.outbox_mails().unwrap().is_empty());
}

/// The attack of the past: an archive of old mail, imported, must not
/// send the error replies, forwards and uploads its mails once asked for.
/// Each history entry carries the mail's own date, the import time beside
/// it, and what was left out. `--live` carries such effects out.
#[test]
fn an_import_sends_nothing_runs_nothing_and_dates_history_by_the_mail() {
    let farm = upload_farm(false, "");
    let (log, signed) = built_and_signed(&farm, wall_now() - 60);
    let subject = log_subject("successful", "hello", "1.0-1", "amd64");
    let mut unsigned =
        crate::support::TextMail::new(ADMIN, "buildd@example.org", &subject, "retry\n");
    unsigned.message_id = crate::support::unique_message_id();
    let question = crate::support::question_mail("a question", "Hello admins\n");
    let mbox = farm.root().join("old.mbox");
    crate::support::write_mbox(&mbox, &[log, signed, unsigned.build(), question]);
    let out = farm.cli(&["import"]).arg(&mbox).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("nothing was sent"), "{said}");
    assert_eq!(
        count(&farm.root().join("uploads.count")),
        0,
        "an upload ran"
    );
    assert!(
        farm.outbox().is_empty(),
        "mail went out: {:?}",
        farm.outbox()
    );
    assert_eq!(outbox_len(&farm), 0, "mail was queued");
    let record = farm.record("hello", "unstable", "amd64");
    assert_eq!(record.state, State::Built);
    assert_eq!(record.pending_job, None);
    assert_eq!(record.state_change, crate::support::DEFAULT_DATE);
    let history = farm.history("hello", "amd64");
    assert!(history.len() >= 2, "{history:?}");
    for h in &history {
        assert_eq!(h.time, crate::support::DEFAULT_DATE, "{h:?}");
        assert!(h.imported.is_some_and(|t| t > wall_now() - 600), "{h:?}");
    }
    let upload = history
        .iter()
        .find(|h| h.event == "cmd:signed .changes")
        .unwrap_or_else(|| panic!("no signed .changes in {history:#?}"));
    assert!(
        upload
            .note
            .as_deref()
            .is_some_and(|n| n.contains("not sent: imported (the upload)")),
        "{upload:?}"
    );
    // The same mailbox again: all duplicates, still nothing sent.
    let again = farm.cli(&["import"]).arg(&mbox).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("4 duplicates"));
    assert!(farm.outbox().is_empty());
    // --live: a new unknown mail is forwarded as deliver would.
    let live = crate::support::question_mail("another question", "Hello again\n");
    let mbox2 = farm.root().join("new.mbox");
    crate::support::write_mbox(&mbox2, &[live]);
    let out = farm
        .cli(&["import", "--live"])
        .arg(&mbox2)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = farm.outbox();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("another question"), "{}", sent[0]);
}
