//! Large quarantined and forwarded mails are blobs of the mail store
//! (`store::blobs::Blobs::mails`), their records carry the blob's id and
//! no path; records of earlier releases, which carry a path, still work.

use std::os::unix::process::ExitStatusExt;

use buildmail::ingest::{Outcome, QUARANTINE_INLINE};
use buildmail::model::{Carried, OutboundMail, QuarantineEntry};
use buildmail::store::blobs::Blobs;
use buildmail::store::Commit;

use crate::support::farm::*;
use crate::support::smtp::SmtpServer;

/// Junk over the inline limit that no parser reads as a mail: it is
/// quarantined. Compressible, as mail is.
fn big_junk(tag: &str) -> Vec<u8> {
    let mut junk = b"\x00\x01 not a mail \xff ".to_vec();
    junk.extend_from_slice(tag.as_bytes());
    let mut i = 0u32;
    while junk.len() <= QUARANTINE_INLINE + 4096 {
        junk.extend_from_slice(format!("\x00junk line {i} ").as_bytes());
        junk.extend_from_slice(b"\xfe\x00\r\n");
        i += 1;
    }
    junk
}

/// A question to the admins over the inline limit: forwarded.
fn big_question() -> Vec<u8> {
    let mut body = String::new();
    let mut i = 0;
    while body.len() <= QUARANTINE_INLINE + 4096 {
        body.push_str(&format!("Line {i} of a long question to the admins.\n"));
        i += 1;
    }
    crate::support::question_mail("a long question", &body)
}

/// A farm whose outbox sends to a real SMTP peer on loopback.
fn smtp_farm() -> (Farm, SmtpServer) {
    let mut farm = Farm::new();
    let smtp = SmtpServer::start();
    farm.reconfigure(&format!(
        "[outbox]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\ntimeout = \"5s\"\n",
        smtp.url()
    ));
    (farm, smtp)
}

fn json(farm: &Farm, args: &[&str]) -> serde_json::Value {
    let out = farm.cli(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `fsck --json` (every unreferenced file old enough), which must find
/// nothing wrong.
fn fsck(farm: &Farm) -> serde_json::Value {
    let out = farm
        .cli(&["fsck", "--json", "--older-than", "0s"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stdout(farm: &Farm, args: &[&str]) -> Vec<u8> {
    let out = farm.cli(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    out.stdout
}

/// Whether `text` names a path of the farm (a host-local path).
fn names_a_path(farm: &Farm, text: &str) -> bool {
    text.contains(&farm.root().display().to_string())
}

/// Whether the mail an SMTP peer received (`data`) ends with `mail`,
/// byte-exact: SMTP's DATA adds a line end before its final dot to a
/// mail that does not end with one.
fn forwarded_whole(data: &[u8], mail: &[u8]) -> bool {
    match mail.ends_with(b"\r\n") {
        true => data.ends_with(mail),
        false => data
            .strip_suffix(b"\r\n")
            .is_some_and(|d| d.ends_with(mail)),
    }
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[test]
fn a_large_quarantined_mail_is_a_blob_shown_reprocessed_and_deleted_byte_exact() {
    let farm = Farm::new();
    let junk = big_junk("one");
    let out = farm.deliver_binary(&junk, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let listed = json(&farm, &["quarantine", "list", "--json"]);
    let text = listed.to_string();
    assert!(!names_a_path(&farm, &text), "a path on record: {text}");
    let entry = &listed[0];
    assert_eq!(entry["id"], 1, "{listed}");
    assert_eq!(entry["size"], junk.len() as u64);
    assert_eq!(entry["blob"], entry["sha256"], "{entry}");
    assert!(entry.get("raw_file").is_none(), "{entry}");
    assert_eq!(stdout(&farm, &["quarantine", "show", "--raw", "1"]), junk);
    let shown = String::from_utf8_lossy(&stdout(&farm, &["quarantine", "show", "1"])).into_owned();
    assert!(shown.contains(&format!("Blob: {}", entry["sha256"].as_str().unwrap())));

    // Where it is: a blob of the mail store, compressed, no file.
    let sha = entry["sha256"].as_str().unwrap().to_string();
    let blobs = Blobs::open(&farm.cfg.database);
    assert_eq!(blobs.read_mail(&sha).unwrap(), junk);
    let stored = blobs.mails.list().unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].stored_size < junk.len() as u64 / 4, "{stored:?}");
    assert_eq!(files_in(&farm.cfg.quarantine_dir()), 0);
    {
        let store = buildmail::store::open(&farm.cfg.database).unwrap();
        let (e, raw) = store.quarantined_mail(1).unwrap().unwrap();
        assert_eq!(raw, junk);
        assert!(!names_a_path(&farm, &serde_json::to_string(&e).unwrap()));
    }

    // Junk stays junk: quarantined again under a new id, the same blob.
    let again = stdout(&farm, &["quarantine", "reprocess", "1"]);
    assert!(
        String::from_utf8_lossy(&again).contains("#1: quarantined as #2"),
        "{}",
        String::from_utf8_lossy(&again)
    );
    assert_eq!(stdout(&farm, &["quarantine", "show", "--raw", "2"]), junk);
    let listed = json(&farm, &["quarantine", "list", "--json"]);
    assert_eq!(listed[0]["id"], 2);
    assert_eq!(listed[0]["blob"].as_str(), Some(sha.as_str()));

    let deleted = farm.cli(&["quarantine", "delete", "2"]).output().unwrap();
    assert!(deleted.status.success(), "{deleted:?}");
    assert_eq!(
        json(&farm, &["quarantine", "list", "--json"]),
        serde_json::json!([])
    );
    // The blob stays (content-addressed); fsck counts it, nothing is wrong.
    let found = fsck(&farm);
    assert_eq!(found["unreferenced_mails"], 1, "{found}");
    assert_eq!(found["missing_mails"], serde_json::json!([]), "{found}");
    assert_eq!(found["damaged_mails"], serde_json::json!([]), "{found}");
}

#[test]
fn a_large_unhandled_mail_is_forwarded_byte_exact_from_its_blob() {
    let (farm, smtp) = smtp_farm();
    let mail = big_question();
    let out = farm.ingest_only(&mail);
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
    {
        let store = buildmail::store::open(&farm.cfg.database).unwrap();
        let queued = store.outbox_mails().unwrap();
        assert_eq!(queued.len(), 1);
        let Some(Carried::Blob(id)) = &queued[0].carries else {
            panic!("not carried as a blob: {:?}", queued[0].carries)
        };
        assert_eq!(Blobs::open(&farm.cfg.database).read_mail(id).unwrap(), mail);
        let record = serde_json::to_string(&queued[0]).unwrap();
        assert!(!names_a_path(&farm, &record), "a path on record: {record}");
    }
    assert_eq!(files_in(&farm.root().join("data/unhandled")), 0);
    let worked = farm.cli(&["work"]).output().unwrap();
    assert!(worked.status.success(), "{worked:?}");
    smtp.wait_idle();
    let received = smtp.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].data.starts_with(b"Resent-From: "));
    assert!(
        forwarded_whole(&received[0].data, &mail),
        "the forward does not end with the mail, byte-exact"
    );
}

#[test]
fn records_of_an_earlier_release_with_paths_still_work() {
    let (farm, smtp) = smtp_farm();
    // A forward as this release makes it, then its record rewritten as an
    // earlier release wrote it: the mail in `<data_dir>/unhandled/`.
    let mail = big_question();
    farm.ingest_only(&mail);
    let junk = big_junk("old");
    let qfile = farm.cfg.quarantine_dir().join("old.eml");
    let ufile = farm.root().join("data/unhandled/old.eml");
    std::fs::create_dir_all(qfile.parent().unwrap()).unwrap();
    std::fs::create_dir_all(ufile.parent().unwrap()).unwrap();
    std::fs::write(&qfile, &junk).unwrap();
    std::fs::write(&ufile, &mail).unwrap();
    {
        let store = buildmail::store::open(&farm.cfg.database).unwrap();
        // A quarantine entry exactly as an earlier release serialised it.
        let old_entry = serde_json::json!({
            "id": 0,
            "time": now(),
            "reason": "unparsable",
            "message_id": null,
            "subject": null,
            "from": null,
            "size": junk.len(),
            "sha256": "ab".repeat(32),
            "raw_file": qfile,
        });
        let entry: QuarantineEntry = serde_json::from_value(old_entry).unwrap();
        assert_eq!(entry.blob, None);
        let c = Commit {
            now: now(),
            quarantine: Some((entry, &[])),
            ..Commit::default()
        };
        store.commit(&c).unwrap();
        let queued = store.outbox_mails().unwrap().remove(0);
        let bytes = store.outbox_bytes(queued.id).unwrap().unwrap();
        let head = bytes[..bytes.len() - mail.len()].to_vec();
        let mut old = serde_json::to_value(&queued).unwrap();
        old["carries"] = serde_json::json!({ "file": ufile });
        let old: OutboundMail = serde_json::from_value(old).unwrap();
        assert_eq!(old.carries, Some(Carried::File(ufile.clone())));
        let c = Commit {
            now: now(),
            outbox: vec![(old, head)],
            ..Commit::default()
        };
        store.commit(&c).unwrap();
        store.flush().unwrap();
    }
    // Nothing in the mail store: the files are read where they are.
    farm.lose_mail_blobs();

    let listed = json(&farm, &["quarantine", "list", "--json"]);
    assert_eq!(listed[0]["raw_file"].as_str(), qfile.to_str());
    assert_eq!(stdout(&farm, &["quarantine", "show", "--raw", "1"]), junk);
    let found = fsck(&farm);
    assert_eq!(found["missing_quarantine_files"], serde_json::json!([]));
    assert_eq!(found["missing_mails"], serde_json::json!([]));

    let worked = farm.cli(&["work"]).output().unwrap();
    assert!(worked.status.success(), "{worked:?}");
    smtp.wait_idle();
    let received = smtp.received();
    assert_eq!(received.len(), 1);
    assert!(forwarded_whole(&received[0].data, &mail), "not byte-exact");

    // Processed again, the old entry's mail becomes a blob and its file
    // goes.
    let again = stdout(&farm, &["quarantine", "reprocess", "1"]);
    assert!(String::from_utf8_lossy(&again).contains("quarantined as #2"));
    assert!(!qfile.exists());
    let listed = json(&farm, &["quarantine", "list", "--json"]);
    assert!(listed[0].get("raw_file").is_none(), "{listed}");
    assert!(listed[0]["blob"].is_string(), "{listed}");
    assert_eq!(stdout(&farm, &["quarantine", "show", "--raw", "2"]), junk);
}

/// A `deliver` killed once the mail is durable in the mail store and
/// before its commit leaves a blob nothing refers to, never a record
/// pointing at a missing blob; the mail delivered again is kept once.
#[test]
fn a_deliver_killed_between_the_mail_blob_and_its_commit_leaves_no_dangling_record() {
    let farm = Farm::new();
    let junk = big_junk("killed");
    let question = big_question();
    for mail in [&junk, &question] {
        let died = farm.deliver_binary(mail, &[("BUILDMAIL_CRASH_AT", "mail-kept")]);
        assert_eq!(died.status.signal(), Some(9), "{died:?}");
    }
    assert_eq!(
        json(&farm, &["quarantine", "list", "--json"]),
        serde_json::json!([])
    );
    {
        let store = buildmail::store::open(&farm.cfg.database).unwrap();
        assert!(store.outbox_mails().unwrap().is_empty());
        assert!(store.quarantined().unwrap().is_empty());
    }
    let found = fsck(&farm);
    assert_eq!(found["missing_mails"], serde_json::json!([]), "{found}");
    assert_eq!(found["damaged_mails"], serde_json::json!([]), "{found}");
    assert_eq!(found["unreferenced_mails"], 2, "{found}");

    // Not acknowledged, so the MTA delivers it again: kept once.
    let out = farm.deliver_binary(&junk, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&farm, &["quarantine", "show", "--raw", "1"]), junk);
    let found = fsck(&farm);
    assert_eq!(found["missing_mails"], serde_json::json!([]), "{found}");
    assert_eq!(found["unreferenced_mails"], 1, "{found}");
}
