//! The archive's DKIM-signed answers (`archive.dkim_*`), written as the
//! attacks: real Ed25519 keys, signatures made by mail-auth's signer, keys
//! pinned in the configuration or served by a DNS server on loopback.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use base64::Engine;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;

use crate::support::farm::*;
use crate::support::TextMail;
use buildmail::ingest::Outcome;
use buildmail::model::state::State;

const DOMAIN: &str = "ftp-master.example.org";
const SELECTOR: &str = "dak";

/// A DKIM key: its seed (the private key) and its DNS record.
struct DkimKey {
    seed: [u8; 32],
}

impl DkimKey {
    fn new(tag: u8) -> DkimKey {
        let mut seed = [0u8; 32];
        for (i, b) in seed.iter_mut().enumerate() {
            *b = tag.wrapping_mul(31).wrapping_add(i as u8 * 7 + 1);
        }
        DkimKey { seed }
    }

    /// The TXT record a domain publishes for this key.
    fn record(&self) -> String {
        let public = ed25519_dalek::SigningKey::from_bytes(&self.seed).verifying_key();
        format!(
            "v=DKIM1; k=ed25519; p={}",
            base64::engine::general_purpose::STANDARD.encode(public.as_bytes())
        )
    }

    /// `mail` with a DKIM-Signature by this key for `domain` over
    /// `headers` prepended.
    fn sign(&self, mail: &[u8], domain: &str, headers: &[&str]) -> Vec<u8> {
        self.sign_with(mail, domain, headers, false)
    }

    /// [`DkimKey::sign`], with the body length (`l=`) when `length`.
    fn sign_with(&self, mail: &[u8], domain: &str, headers: &[&str], length: bool) -> Vec<u8> {
        let signer = DkimSigner::from_key(Ed25519Key::from_bytes(&self.seed).unwrap())
            .domain(domain)
            .selector(SELECTOR)
            .headers(headers.iter().copied())
            .body_length(length);
        let sig = signer.sign(mail).unwrap();
        let mut out = sig.to_header().into_bytes();
        out.extend_from_slice(mail);
        out
    }
}

/// An answer from the archive's address, unsigned.
fn answer(subject: &str, body: &str) -> Vec<u8> {
    crate::support::archive_mail(subject, body)
}

/// The same, DKIM-signed by `key` for [`DOMAIN`] over From, To, Subject
/// and Date (not the Message-ID: a relay may rewrite it).
fn signed_answer(key: &DkimKey, subject: &str, body: &str) -> Vec<u8> {
    key.sign(
        &answer(subject, body),
        DOMAIN,
        &["From", "To", "Subject", "Date"],
    )
}

/// A farm that uploaded hello 1.0-1 on amd64, with `dkim` added to
/// `[archive]` (the archive's sender is configured).
fn uploaded_farm(dkim: &str) -> Farm {
    let farm = Farm::with(&format!(
        "[archive]\nsenders = [\"dak@{DOMAIN}\"]\ndkim_domains = [\"{DOMAIN}\"]\n{dkim}"
    ));
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    farm.send_signed_changes("hello", "1.0-1", "amd64");
    assert_eq!(farm.state("hello"), State::Uploaded);
    farm
}

fn last_note(farm: &Farm) -> String {
    farm.history("hello", "amd64")
        .pop()
        .unwrap()
        .note
        .unwrap_or_default()
}

fn key_sign_with_length(key: &DkimKey, mail: &[u8]) -> Vec<u8> {
    key.sign_with(mail, DOMAIN, &["From", "To", "Subject", "Date"], true)
}

fn pinned(key: &DkimKey) -> String {
    format!(
        "dkim_dns = false\ndkim_keys = {{ \"{SELECTOR}._domainkey.{DOMAIN}\" = \"{}\" }}\n",
        key.record()
    )
}

/// The attack: with `archive.dkim_domains`, an answer from the archive's
/// own address moves an upload only when the archive's pinned key
/// DKIM-signed it, over its From and Subject and its whole body. Each
/// forgery below moves nothing and sends nothing, and the history says
/// why; the genuine answer is heard once, and its replay is refused.
#[test]
fn only_the_archives_dkim_signature_moves_an_upload() {
    let archive = DkimKey::new(1);
    let mallory = DkimKey::new(2);
    let farm = uploaded_farm(&pinned(&archive));
    let before = farm.outbox().len();
    let rejected = "hello_1.0-1_amd64.changes REJECTED";
    let forgeries: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "unsigned",
            answer(rejected, "Rejected: forged\n"),
            "not DKIM-signed",
        ),
        (
            "signed by another key under the archive's name",
            signed_answer(&mallory, rejected, "Rejected: forged\n"),
            "does not verify",
        ),
        (
            "signed by the attacker's own domain",
            mallory.sign(
                &answer(rejected, "Rejected: forged\n"),
                "evil.example",
                &["From", "To", "Subject", "Date"],
            ),
            "no key pinned",
        ),
        (
            "the Subject left out of the signature",
            archive.sign(
                &answer(rejected, "Rejected: forged\n"),
                DOMAIN,
                &["From", "To", "Date"],
            ),
            "does not cover the subject header",
        ),
        (
            "a genuine ACCEPTED whose Subject was rewritten to REJECTED",
            crate::support::replace_first(
                &signed_answer(
                    &archive,
                    "hello_1.0-1_amd64.changes ACCEPTED into unstable",
                    "Accepted\n",
                ),
                b"ACCEPTED into unstable\r\n",
                b"REJECTED\r\n",
            ),
            "does not verify",
        ),
        (
            "text appended to a genuine body",
            {
                let mut m = signed_answer(&archive, rejected, "Rejected: checksum mismatch\n");
                m.extend_from_slice(b"Visit http://evil.example/ to fix it\n");
                m
            },
            "does not verify",
        ),
        (
            "text appended after a body signed with l=",
            {
                let mut m = key_sign_with_length(
                    &archive,
                    &answer(rejected, "Rejected: checksum mismatch\n"),
                );
                m.extend_from_slice(b"Visit http://evil.example/ to fix it\n");
                m
            },
            "so text could have been appended",
        ),
    ];
    let forgeries_count = forgeries.len();
    for (what, mail, why) in forgeries {
        let out = farm.deliver(&mail);
        assert!(!matches!(out, Outcome::Duplicate(_)), "{what}: {out:?}");
        assert_eq!(farm.state("hello"), State::Uploaded, "{what}");
        let note = last_note(&farm);
        assert!(note.contains(why), "{what}: {note}");
    }
    // Nothing went out but a forward to the admins per forgery, marked
    // unauthenticated; no FAILEDTOUPLOAD mail.
    let sent = farm.outbox();
    assert_eq!(sent.len(), before + forgeries_count, "{sent:#?}");
    assert!(sent[before..].iter().all(|m| m
        .contains("X-Buildmail-Forward-Reason: UNAUTHENTICATED archive answer")
        && !m.contains("X-Buildd-Build-State")));

    // The archive's genuine rejection is heard.
    let genuine = signed_answer(
        &archive,
        rejected,
        "hello_1.0-1_amd64.changes: Rejected: hello_1.0-1_amd64.deb is missing\n",
    );
    farm.deliver(&genuine);
    assert_eq!(farm.state("hello"), State::FailedToUpload);
    let log = farm
        .record("hello", "unstable", "amd64")
        .upload_log
        .unwrap();
    assert!(log.contains("is missing"), "{log}");
    assert!(farm.outbox().len() > before, "FAILEDTOUPLOAD went out");

    // The same signed mail under a new Message-ID (not signed): a replay.
    let copy = crate::support::replace_first(&genuine, b"Message-ID: <", b"Message-ID: <again-");
    match farm.deliver(&copy) {
        Outcome::Duplicate(why) => assert!(why.contains("signature already seen"), "{why}"),
        other => panic!("a replayed DKIM-signed answer must be refused: {other:?}"),
    }
}

/// A From outside the signing domain is not the archive's, even when the
/// archive's key signed the mail (say a list it relays): alignment.
#[test]
fn a_dkim_signature_counts_only_for_a_from_in_its_domain() {
    let archive = DkimKey::new(3);
    let farm = Farm::with(&format!(
        "[archive]\ndkim_domains = [\"{DOMAIN}\"]\n{}",
        pinned(&archive)
    ));
    farm.log("successful", "hello", "1.0-1", "amd64", "unstable");
    farm.send_signed_changes("hello", "1.0-1", "amd64");
    let mut m = TextMail::new(
        "someone@lists.example.net",
        "buildd@example.org",
        "hello_1.0-1_amd64.changes REJECTED",
        "Rejected\n",
    );
    m.message_id = crate::support::unique_message_id();
    let mail = archive.sign(&m.build(), DOMAIN, &["From", "Subject"]);
    farm.deliver(&mail);
    assert_eq!(farm.state("hello"), State::Uploaded);
    assert!(last_note(&farm).contains("is not ftp-master.example.org or below it"));
}

/// A DNS server on loopback that answers every TXT question with
/// `record`, or with SERVFAIL while `failing` is set.
struct Dns {
    port: u16,
    failing: Arc<AtomicU8>,
}

impl Dns {
    fn start(record: String) -> Dns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let failing = Arc::new(AtomicU8::new(0));
        let f = failing.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, peer)) = socket.recv_from(&mut buf) {
                if let Some(reply) = dns_answer(&buf[..n], &record, f.load(Ordering::SeqCst) != 0) {
                    let _ = socket.send_to(&reply, peer);
                }
            }
        });
        Dns { port, failing }
    }
}

/// The answer to the DNS query `q` (RFC 1035 §4.1): its question echoed
/// and one TXT record, or SERVFAIL.
fn dns_answer(q: &[u8], record: &str, servfail: bool) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    // The question: labels up to the root, then type and class.
    let mut i = 12;
    while *q.get(i)? != 0 {
        i += 1 + q[i] as usize;
    }
    let question = &q[12..i + 5];
    let mut r = Vec::new();
    r.extend_from_slice(&q[..2]);
    r.extend_from_slice(if servfail {
        &[0x81, 0x82]
    } else {
        &[0x81, 0x80]
    });
    r.extend_from_slice(&[0, 1, 0, if servfail { 0 } else { 1 }, 0, 0, 0, 0]);
    r.extend_from_slice(question);
    if !servfail {
        let text = record.as_bytes();
        r.extend_from_slice(&[0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60]);
        r.extend_from_slice(&((text.len() + 1) as u16).to_be_bytes());
        r.push(text.len() as u8);
        r.extend_from_slice(text);
    }
    Some(r)
}

/// Keys looked up in DNS (a resolver on loopback): a genuine answer is
/// heard; while DNS fails (SERVFAIL), `deliver` exits 75 so that the MTA
/// keeps the mail, and nothing is decided; once DNS answers again, the
/// retried mail is heard.
#[test]
fn dkim_keys_come_from_dns_and_an_outage_defers_the_mail() {
    let archive = DkimKey::new(4);
    let dns = Dns::start(archive.record());
    let farm = uploaded_farm(&format!(
        "dkim_nameservers = [\"127.0.0.1:{}\"]\n",
        dns.port
    ));
    let mail = signed_answer(
        &archive,
        "hello_1.0-1_amd64.changes REJECTED",
        "hello_1.0-1_amd64.changes: Rejected: bad signature on the .dsc\n",
    );
    dns.failing.store(1, Ordering::SeqCst);
    let out = farm.deliver_binary(&mail, &[]);
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DKIM key could not be looked up"),
        "{stderr}"
    );
    assert_eq!(farm.state("hello"), State::Uploaded);

    dns.failing.store(0, Ordering::SeqCst);
    let out = farm.deliver_binary(&mail, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(farm.state("hello"), State::FailedToUpload);
}

/// `check-config` refuses a pinned key that is not a DKIM key record.
#[test]
fn check_config_refuses_a_broken_pinned_key() {
    let farm = Farm::with(&format!(
        "[archive]\ndkim_domains = [\"{DOMAIN}\"]\ndkim_keys = {{ \"{SELECTOR}._domainkey.{DOMAIN}\" = \"v=DKIM1; k=ed25519; p=@@@\" }}\n"
    ));
    let out = farm.cli(&["check-config"]).output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("archive.dkim_keys"), "{text}");
}
