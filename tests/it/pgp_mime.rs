//! PGP/MIME (RFC 3156): the signature is checked over the exact bytes of the
//! signed MIME entity, headers included, line endings canonicalised to CRLF.
//! Real signatures by sequoia-made keys and by GnuPG.

use crate::support::keys::*;
use buildmail::inbound::mail::{canonical_crlf, pgp_mime, Inbound};
use buildmail::inbound::signature::{verify_detached, Policy, SignatureError};

const NOW: i64 = T0 + 60;

/// A signed entity as a mail client writes it: quoted-printable body.
const ENTITY: &[u8] = b"Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\n\
retry\r\n\r\nThe buildd ran out of disk space =E2=80=94 please try again.\r\n";

fn signed_mail(entity: &[u8], signature: &[u8], boundary: &str) -> Vec<u8> {
    crate::support::pgp_mime_mail(
        "From: Admin <admin@example.org>\r\nTo: buildd@example.org\r\n\
         Subject: Re: Log for attempted build of hello_2.10-3 on amd64 (dist=unstable)\r\n\
         Message-ID: <reply-1@example.org>\r\n",
        entity,
        signature,
        boundary,
    )
}

#[test]
fn the_signed_entity_is_extracted_byte_exact_and_verifies() {
    let key = shared_ed25519();
    let sig = detach_sign(key, ENTITY, SignSpec::default(), true);
    // A boundary with characters that are legal but unusual (RFC 2046 bchars).
    let raw = signed_mail(ENTITY, &sig, "'()+_,./:=?vtzGh");
    let mail = Inbound::parse(&raw).unwrap();
    let p = pgp_mime(&mail).expect("PGP/MIME found");
    assert_eq!(&*p.signed, ENTITY);
    assert_eq!(p.unsigned_parts, 0);
    let v = verify_detached(
        &p.signed,
        &p.signature,
        &key.keyring(),
        &Policy::default(),
        NOW,
    )
    .expect("good signature");
    assert_eq!(v.signer_fingerprint, key.fingerprint());
    // The command is inside the signed entity, quoted-printable encoded.
    let inner = Inbound::parse(&p.signed).unwrap();
    assert_eq!(
        inner
            .message
            .body_text(0)
            .as_deref()
            .map(str::trim_start)
            .map(|t| &t[..5]),
        Some("retry")
    );
}

#[test]
fn an_lf_only_mail_is_canonicalised_before_checking() {
    let key = shared_rsa();
    // Signed over the canonical CRLF form, delivered with bare LFs (as an
    // MTA pipe often does).
    let sig = detach_sign(key, ENTITY, SignSpec::default(), true);
    let raw = signed_mail(ENTITY, &sig, "b1");
    let lf: Vec<u8> = raw.iter().copied().filter(|&b| b != b'\r').collect();
    let mail = Inbound::parse(&lf).unwrap();
    let p = pgp_mime(&mail).expect("PGP/MIME found");
    assert_eq!(&*p.signed, ENTITY);
    verify_detached(
        &p.signed,
        &p.signature,
        &key.keyring(),
        &Policy::default(),
        NOW,
    )
    .expect("good signature after canonicalisation");
}

#[test]
fn a_tampered_entity_does_not_verify() {
    let key = shared_ed25519();
    let sig = detach_sign(key, ENTITY, SignSpec::default(), true);
    let forged: Vec<u8> = String::from_utf8_lossy(ENTITY)
        .replace("retry", "purge")
        .into_bytes();
    let raw = signed_mail(&forged, &sig, "b2");
    let mail = Inbound::parse(&raw).unwrap();
    let p = pgp_mime(&mail).unwrap();
    let e = verify_detached(
        &p.signed,
        &p.signature,
        &key.keyring(),
        &Policy::default(),
        NOW,
    )
    .unwrap_err();
    assert!(matches!(e, SignatureError::BadSignature), "{e}");
    // A rewritten text (decoded, re-encoded) is never what gets checked:
    // a header change inside the entity breaks the signature too.
    let reheadered: Vec<u8> = String::from_utf8_lossy(ENTITY)
        .replace("charset=utf-8", "charset=UTF-8")
        .into_bytes();
    let raw = signed_mail(&reheadered, &sig, "b3");
    let mail = Inbound::parse(&raw).unwrap();
    let p = pgp_mime(&mail).unwrap();
    assert!(verify_detached(
        &p.signed,
        &p.signature,
        &key.keyring(),
        &Policy::default(),
        NOW
    )
    .is_err());
}

#[test]
fn nested_in_multipart_mixed_with_an_unsigned_part_beside_it() {
    let key = shared_ed25519();
    let sig = detach_sign(key, ENTITY, SignSpec::default(), true);
    let signed = signed_mail(ENTITY, &sig, "inner");
    // Take the multipart/signed body and headers out of the top-level mail
    // and put them inside a multipart/mixed with a second, unsigned part.
    let text = String::from_utf8(signed).unwrap();
    let ct_start = text.find("Content-Type: multipart/signed").unwrap();
    let signed_entity = &text[ct_start..];
    let raw = format!(
        "From: admin@example.org\r\nSubject: Re: Log for attempted build of hello_2.10-3 (dist=unstable)\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
         --outer\r\n{signed_entity}\r\n--outer\r\nContent-Type: text/plain\r\n\r\nfail\r\n--outer--\r\n"
    );
    let mail = Inbound::parse(raw.as_bytes()).unwrap();
    let p = pgp_mime(&mail).expect("nested PGP/MIME found");
    assert_eq!(&*p.signed, ENTITY);
    assert_eq!(p.unsigned_parts, 1, "the unsigned `fail` part is reported");
    verify_detached(
        &p.signed,
        &p.signature,
        &key.keyring(),
        &Policy::default(),
        NOW,
    )
    .expect("good signature");
}

#[test]
fn gnupg_detached_signature_over_the_entity_verifies() {
    // This test needs gpg (GnuPG): it panics clearly if it is missing.
    require_gpg();
    let (cert, sig) = gpg_detach_sign(ENTITY);
    let ring = buildmail::inbound::signature::Keyring::from_bytes(&cert).unwrap();
    let raw = signed_mail(ENTITY, &sig, "gpg");
    let mail = Inbound::parse(&raw).unwrap();
    let p = pgp_mime(&mail).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    verify_detached(&p.signed, &p.signature, &ring, &Policy::default(), now)
        .expect("gpg's PGP/MIME signature verifies");
}

#[test]
fn not_pgp_mime_gives_none_and_crlf_canonicalisation_is_exact() {
    let plain = b"From: a@b\r\nSubject: x\r\n\r\nretry\r\n";
    assert!(pgp_mime(&Inbound::parse(plain).unwrap()).is_none());
    assert_eq!(&*canonical_crlf(b"a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd");
    assert!(matches!(
        canonical_crlf(b"a\r\nb"),
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn corpus_pgp_mime_samples_are_found() {
    let Some(dir) = crate::support::corpus("pgp-mime") else {
        return;
    };
    let mut found = 0;
    for f in std::fs::read_dir(&dir).unwrap() {
        let raw = std::fs::read(f.unwrap().path()).unwrap();
        let Ok(mail) = Inbound::parse(&raw) else {
            continue;
        };
        if let Some(p) = pgp_mime(&mail) {
            assert!(
                p.signed.starts_with(b"Content-")
                    || p.signed.starts_with(b"content-")
                    || p.signed.starts_with(b"MIME"),
                "the signed entity starts with its MIME headers"
            );
            assert!(std::str::from_utf8(&p.signature)
                .unwrap_or("")
                .contains("BEGIN PGP SIGNATURE"));
            found += 1;
        }
    }
    assert!(found >= 5, "only {found} PGP/MIME samples recognised");
}
