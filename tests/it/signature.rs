//! Signature verification with real keys and real
//! signatures: made by sequoia (`tests/it/support/keys.rs`) and by GnuPG.
//! Every hostile input asserts the exact refusal.

use std::time::Duration;

use buildmail::inbound::signature::{
    verify_cleartext, verify_detached, Keyring, Policy, SignatureError, Verified,
};
use proptest::prelude::*;
use sequoia_openpgp::types::HashAlgorithm;
use sha2::{Digest, Sha256};

use crate::support::keys::*;

/// The signed text most tests use.
const TEXT: &[u8] = b"Format: 1.8\nSource: hello\nVersion: 2.10-3\nArchitecture: amd64\n\
Distribution: unstable\nFiles:\n 0123456789abcdef0123456789abcdef 1234 devel optional hello_2.10-3_amd64.deb\n";

/// `now` for signatures made at T0.
const NOW: i64 = T0 + 60;

fn policy() -> Policy {
    Policy::default()
}

fn clear_ok(input: &[u8], ring: &Keyring, now: i64) -> Verified {
    verify_cleartext(input, ring, &policy(), now)
        .unwrap_or_else(|e| panic!("expected a good signature, got: {e}"))
}

fn clear_err(input: &[u8], ring: &Keyring, now: i64) -> SignatureError {
    match verify_cleartext(input, ring, &policy(), now) {
        Ok(v) => panic!("expected a refusal, got a good signature: {v:?}"),
        Err(e) => e,
    }
}

/// What a `gpg --clearsign` signature covers: the text without its final
/// line break, which gpg writes as the separator before the signature
/// armor. (sequoia's signer keeps the final line break in the signed text
/// and writes an extra one.)
fn signed_part(text: &[u8]) -> &[u8] {
    text.strip_suffix(b"\n").unwrap_or(text)
}

fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 20);
    for &c in data {
        if c == b'\n' {
            out.push(b'\r');
        }
        out.push(c);
    }
    out
}

fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let pos = hay
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    let mut out = hay[..pos].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&hay[pos + from.len()..]);
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn assert_good(v: &Verified, key: &TestKey) {
    assert_eq!(v.signer_fingerprint, key.fingerprint());
    assert_eq!(v.signing_key_fingerprint, key.signing_fingerprint());
    assert!(v
        .signer_fingerprint
        .chars()
        .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
    assert_eq!(v.signer_uid.as_deref(), Some(key.spec.uid.as_str()));
}

// ---------------------------------------------------------------------------
// Good signatures.

#[test]
fn good_ed25519_cleartext() {
    let key = shared_ed25519();
    let signed = clearsign(key, TEXT, SignSpec::default());
    let v = clear_ok(&signed, &key.keyring(), NOW);
    assert_good(&v, key);
    assert_eq!(v.created, T0);
    assert_eq!(v.hash_algo, "SHA512");
    assert_eq!(v.text, TEXT);
    assert!(v.ignored.is_empty(), "{:?}", v.ignored);
    // A text signature: the replay hash is over the CRLF-canonical text.
    assert_eq!(
        v.signed_bytes_sha256,
        hex::encode(Sha256::digest(crlf(TEXT)))
    );
}

#[test]
fn good_rsa3072_cleartext() {
    let key = shared_rsa();
    let signed = clearsign(key, TEXT, SignSpec::hash(HashAlgorithm::SHA256));
    let v = clear_ok(&signed, &key.keyring(), NOW);
    assert_good(&v, key);
    assert_eq!(v.hash_algo, "SHA256");
    assert_eq!(v.text, TEXT);
}

#[test]
fn good_ed25519_detached_armored_and_binary() {
    let key = shared_ed25519();
    for armored in [true, false] {
        let sig = detach_sign(key, TEXT, SignSpec::default(), armored);
        let v = verify_detached(TEXT, &sig, &key.keyring(), &policy(), NOW)
            .unwrap_or_else(|e| panic!("armored={armored}: {e}"));
        assert_good(&v, key);
        assert_eq!(v.text, TEXT);
        assert_eq!(v.signed_bytes_sha256, hex::encode(Sha256::digest(TEXT)));
        assert_eq!(v.created, T0);
    }
}

#[test]
fn good_rsa3072_detached() {
    let key = shared_rsa();
    let sig = detach_sign(key, TEXT, SignSpec::hash(HashAlgorithm::SHA384), true);
    let v = verify_detached(TEXT, &sig, &key.keyring(), &policy(), NOW).expect("good");
    assert_good(&v, key);
    assert_eq!(v.hash_algo, "SHA384");
}

#[test]
fn detached_text_mode_signature_hashes_canonical_text() {
    let key = shared_ed25519();
    let sig = detach_sign_with(vec![key.signer()], TEXT, SignSpec::default(), true, true);
    let v = verify_detached(TEXT, &sig, &key.keyring(), &policy(), NOW).expect("good");
    assert_eq!(
        v.signed_bytes_sha256,
        hex::encode(Sha256::digest(crlf(TEXT)))
    );
    // Text mode: the CRLF form of the data verifies too, with the same
    // replay hash.
    let v2 = verify_detached(&crlf(TEXT), &sig, &key.keyring(), &policy(), NOW).expect("good");
    assert_eq!(v2.signed_bytes_sha256, v.signed_bytes_sha256);
}

#[test]
fn signing_subkey_reports_primary_fingerprint() {
    let key = make_key(KeySpec {
        signing_subkey: true,
        ..KeySpec::default()
    });
    assert_ne!(key.fingerprint(), key.signing_fingerprint());
    let signed = clearsign(&key, TEXT, SignSpec::default());
    let v = clear_ok(&signed, &key.keyring(), NOW);
    assert_eq!(v.signer_fingerprint, key.fingerprint());
    assert_eq!(v.signing_key_fingerprint, key.signing_fingerprint());
    let sig = detach_sign(&key, TEXT, SignSpec::default(), false);
    let v = verify_detached(TEXT, &sig, &key.keyring(), &policy(), NOW).expect("good");
    assert_eq!(v.signer_fingerprint, key.fingerprint());
}

#[test]
fn crlf_input_verifies_with_the_same_replay_hash() {
    let key = shared_ed25519();
    let signed = clearsign(key, TEXT, SignSpec::default());
    let lf = clear_ok(&signed, &key.keyring(), NOW);
    let signed_crlf = crlf(&signed);
    assert!(contains(
        &signed_crlf,
        b"\r\n-----BEGIN PGP SIGNATURE-----\r\n"
    ));
    let v = clear_ok(&signed_crlf, &key.keyring(), NOW);
    assert_eq!(v.text, crlf(TEXT));
    assert_eq!(v.signed_bytes_sha256, lf.signed_bytes_sha256);
    assert_eq!(v.created, lf.created);
}

#[test]
fn missing_hash_header_is_fine() {
    let key = shared_ed25519();
    let signed = clearsign(key, TEXT, SignSpec::default());
    let without = replace(&signed, b"Hash: SHA512\n", b"");
    assert!(!contains(&without, b"Hash:"));
    let v = clear_ok(&without, &key.keyring(), NOW);
    assert_eq!(v.text, TEXT);
}

#[test]
fn dash_escaped_lines_come_back_unescaped() {
    let key = shared_ed25519();
    let text = b"Source: x\n-----BEGIN PGP SIGNATURE-----\n- not a bullet\n-----END PGP SIGNATURE-----\nend\n";
    let signed = clearsign(key, text, SignSpec::default());
    assert!(contains(&signed, b"\n- -----BEGIN PGP SIGNATURE-----\n"));
    let v = clear_ok(&signed, &key.keyring(), NOW);
    assert_eq!(v.text, text);
}

#[test]
fn text_around_the_block_is_ignored_and_reported() {
    let key = shared_ed25519();
    let signed = clearsign(key, TEXT, SignSpec::default());
    let mut input = b"Hi, please upload this one.\nSource: evil-before\n\n".to_vec();
    input.extend_from_slice(&signed);
    input.extend_from_slice(b"Architecture: evil-after\n-- \nsig\n");
    let v = clear_ok(&input, &key.keyring(), NOW);
    assert_eq!(v.text, TEXT);
    assert!(!contains(&v.text, b"evil"));
    assert_eq!(v.ignored.len(), 2, "{:?}", v.ignored);
    assert!(v.ignored[0].contains("before"), "{:?}", v.ignored);
    assert!(
        v.ignored[0].contains("Hi, please upload"),
        "{:?}",
        v.ignored
    );
    assert!(v.ignored[1].contains("after"), "{:?}", v.ignored);
    assert!(v.ignored[1].contains("evil-after"), "{:?}", v.ignored);
    // Same replay hash as the bare block.
    let bare = clear_ok(&signed, &key.keyring(), NOW);
    assert_eq!(v.signed_bytes_sha256, bare.signed_bytes_sha256);
}

#[test]
fn keyring_loads_armored_binary_and_many_per_file() {
    let a = shared_ed25519();
    let b = shared_other();
    let dir = tempfile::tempdir().unwrap();
    // Two armored certificates concatenated in one file, one binary file,
    // and a duplicate.
    let mut both = a.armored_public();
    both.extend_from_slice(&b.armored_public());
    let p1 = write_file(dir.path(), "admins.asc", &both);
    let p2 = write_file(dir.path(), "rsa.gpg", &shared_rsa().binary_public());
    let p3 = write_file(dir.path(), "dup.gpg", &a.binary_public());
    let ring = Keyring::load(&[p1, p2, p3]).expect("keyring");
    assert_eq!(ring.len(), 3);
    assert!(!ring.is_empty());
    let fprs = ring.fingerprints();
    assert!(fprs.contains(&a.fingerprint()));
    assert!(fprs.contains(&b.fingerprint()));
    // Binary, many certificates in one stream.
    let mut bin = a.binary_public();
    bin.extend_from_slice(&b.binary_public());
    assert_eq!(Keyring::from_bytes(&bin).expect("binary keyring").len(), 2);
    // Both keys verify through the merged keyring.
    let signed = clearsign(b, TEXT, SignSpec::default());
    assert_eq!(
        clear_ok(&signed, &ring, NOW).signer_fingerprint,
        b.fingerprint()
    );
    // Secret keys in a keyring file are reduced to public ones.
    let tsk = sequoia_openpgp::serialize::SerializeInto::to_vec(&a.cert.as_tsk()).unwrap();
    assert_eq!(Keyring::from_bytes(&tsk).unwrap().len(), 1);
}

#[test]
fn keyring_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.gpg");
    assert!(matches!(
        Keyring::load(&[missing]),
        Err(SignatureError::Keyring(m)) if m.contains("nope.gpg")
    ));
    let empty = write_file(dir.path(), "empty.asc", b"");
    assert!(matches!(
        Keyring::load(&[empty]),
        Err(SignatureError::Keyring(_))
    ));
    assert!(matches!(
        Keyring::from_bytes(b"this is not a key\n"),
        Err(SignatureError::Keyring(_))
    ));
    let mut kbx = vec![0u8; 32];
    kbx[8..12].copy_from_slice(b"KBXf");
    assert!(matches!(
        Keyring::from_bytes(&kbx),
        Err(SignatureError::Keyring(m)) if m.contains("keybox")
    ));
    assert!(Keyring::default().is_empty());
}

// ---------------------------------------------------------------------------
// GnuPG-made signatures.

#[test]
fn gpg_clearsign_verifies() {
    // This test needs gpg (GnuPG): it panics clearly if it is missing.
    require_gpg();
    let (cert, signed) = gpg_clearsign(TEXT);
    let ring = Keyring::from_bytes(&cert).expect("gpg certificate");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let v = clear_ok(&signed, &ring, now);
    assert_eq!(v.text, signed_part(TEXT));
    assert_eq!(v.signer_uid.as_deref(), Some("Test <t@example.org>"));
    assert_eq!(ring.fingerprints(), vec![v.signer_fingerprint.clone()]);
    assert!(["SHA256", "SHA384", "SHA512"].contains(&v.hash_algo.as_str()));
    assert!((now - v.created).abs() < 600);
    // And a forged copy is refused.
    let forged = replace(&signed, b"Version: 2.10-3", b"Version: 6.66-6");
    assert_eq!(clear_err(&forged, &ring, now), SignatureError::BadSignature);
}

#[test]
fn gpg_detach_sign_verifies() {
    // This test needs gpg (GnuPG): it panics clearly if it is missing.
    require_gpg();
    let (cert, sig) = gpg_detach_sign(TEXT);
    let ring = Keyring::from_bytes(&cert).expect("gpg certificate");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let v = verify_detached(TEXT, &sig, &ring, &policy(), now).expect("good");
    assert_eq!(v.text, TEXT);
    assert_eq!(v.signed_bytes_sha256, hex::encode(Sha256::digest(TEXT)));
    assert_eq!(
        verify_detached(b"other data", &sig, &ring, &policy(), now).unwrap_err(),
        SignatureError::BadSignature
    );
}

// ---------------------------------------------------------------------------
// Refusals.

#[test]
fn forged_cleartext_is_bad_signature() {
    let key = shared_ed25519();
    let signed = clearsign(key, TEXT, SignSpec::default());
    let forged = replace(&signed, b"Version: 2.10-3", b"Version: 2.10-4");
    assert_eq!(
        clear_err(&forged, &key.keyring(), NOW),
        SignatureError::BadSignature
    );
    // An added line inside the block, too.
    let forged = replace(
        &signed,
        b"Source: hello\n",
        b"Source: hello\nBinary: evil\n",
    );
    assert_eq!(
        clear_err(&forged, &key.keyring(), NOW),
        SignatureError::BadSignature
    );
}

#[test]
fn forged_detached_is_bad_signature() {
    let key = shared_rsa();
    let sig = detach_sign(key, TEXT, SignSpec::default(), true);
    let mut data = TEXT.to_vec();
    data.push(b' ');
    assert_eq!(
        verify_detached(&data, &sig, &key.keyring(), &policy(), NOW).unwrap_err(),
        SignatureError::BadSignature
    );
}

#[test]
fn unknown_key_names_the_issuer() {
    let key = shared_ed25519();
    let signed = clearsign(key, TEXT, SignSpec::default());
    let ring = shared_other().keyring();
    assert_eq!(
        clear_err(&signed, &ring, NOW),
        SignatureError::UnknownKey {
            issuer: key.signing_fingerprint()
        }
    );
    assert_eq!(
        clear_err(&signed, &Keyring::default(), NOW),
        SignatureError::UnknownKey {
            issuer: key.signing_fingerprint()
        }
    );
    let sig = detach_sign(key, TEXT, SignSpec::default(), false);
    assert_eq!(
        verify_detached(TEXT, &sig, &ring, &policy(), NOW).unwrap_err(),
        SignatureError::UnknownKey {
            issuer: key.signing_fingerprint()
        }
    );
}

#[test]
fn expired_key_is_refused() {
    // Valid for 2 days from T0-3d: expired at T0-1d.
    let key = make_key(KeySpec {
        created: T0 - 3 * DAY,
        validity: Some(Duration::from_secs(2 * DAY as u64)),
        ..KeySpec::default()
    });
    let expired_at = T0 - DAY;
    // Signed while the key was valid, checked after it expired.
    let signed = clearsign(&key, TEXT, SignSpec::at(T0 - 2 * DAY));
    let expected = SignatureError::ExpiredKey {
        signer: key.fingerprint(),
        key: key.fingerprint(),
        expired: Some(expired_at),
    };
    assert_eq!(clear_err(&signed, &key.keyring(), NOW), expected);
    // Before expiry the same signature is good.
    clear_ok(&signed, &key.keyring(), T0 - 2 * DAY + 60);
    // Signed after expiry.
    let signed = clearsign(&key, TEXT, SignSpec::at(T0));
    assert_eq!(clear_err(&signed, &key.keyring(), NOW), expected);
}

#[test]
fn signature_older_than_its_key_is_invalid_key() {
    // A signature dated before the key existed: sequoia finds no binding
    // at the signature's creation time.
    let key = make_key(KeySpec {
        created: T0 - DAY,
        ..KeySpec::default()
    });
    let signed = clearsign(&key, TEXT, SignSpec::at(T0 - 2 * DAY));
    assert!(matches!(
        clear_err(&signed, &key.keyring(), NOW),
        SignatureError::InvalidKey { signer, .. } if signer == key.fingerprint()
    ));
}

#[test]
fn hard_revoked_key_is_refused() {
    let key = make_key(KeySpec::default());
    let signed = clearsign(&key, TEXT, SignSpec::default());
    clear_ok(&signed, &key.keyring(), NOW);
    let revoked = key.hard_revoked();
    match clear_err(&signed, &revoked.keyring(), NOW) {
        SignatureError::RevokedKey { signer, key: k, .. } => {
            assert_eq!(signer, key.fingerprint());
            assert_eq!(k, key.fingerprint());
        }
        e => panic!("expected RevokedKey, got {e:?}"),
    }
}

#[test]
fn key_revoked_after_signing_refuses_old_signatures() {
    let key = make_key(KeySpec::default());
    // Signed a day ago, key retired an hour ago (a soft revocation, which
    // does not reach back to the signature's creation time).
    let signed = clearsign(&key, TEXT, SignSpec::at(T0 - DAY));
    let revoked = key.soft_revoked(T0 - 3600);
    let err = clear_err(&signed, &revoked.keyring(), NOW);
    match &err {
        SignatureError::RevokedKey { signer, reason, .. } => {
            assert_eq!(signer, &key.fingerprint());
            assert!(reason.contains("retired"), "{reason}");
        }
        e => panic!("expected RevokedKey, got {e:?}"),
    }
    assert!(err.to_string().contains("revoked"));
    // Checked before the revocation was made, it is good.
    clear_ok(&signed, &revoked.keyring(), T0 - 2 * 3600);
}

#[test]
fn revoked_signing_subkey_is_refused() {
    let key = make_key(KeySpec {
        signing_subkey: true,
        ..KeySpec::default()
    });
    let signed = clearsign(&key, TEXT, SignSpec::at(T0 - DAY));
    let revoked = key.subkey_revoked(T0 - 3600);
    assert!(matches!(
        clear_err(&signed, &revoked.keyring(), NOW),
        SignatureError::RevokedKey { signer, key: k, .. }
            if signer == key.fingerprint() && k == key.signing_fingerprint()
    ));
}

#[test]
fn certification_only_key_is_not_signing_capable() {
    let key = make_key(KeySpec {
        signing_subkey: true,
        ..KeySpec::default()
    });
    // Sign with the certification-only primary key.
    let signed = clearsign_with(vec![key.primary_keypair()], TEXT, SignSpec::default());
    assert_eq!(
        clear_err(&signed, &key.keyring(), NOW),
        SignatureError::NotSigningCapable
    );
}

#[test]
fn sha1_and_other_weak_hashes_are_refused() {
    let key = shared_ed25519();
    for (algo, name) in [
        (HashAlgorithm::SHA1, "SHA1"),
        (HashAlgorithm::MD5, "MD5"),
        (HashAlgorithm::SHA224, "SHA224"),
    ] {
        let signed = clearsign(key, TEXT, SignSpec::hash(algo));
        assert_eq!(
            clear_err(&signed, &key.keyring(), NOW),
            SignatureError::WeakHash { algo: name.into() },
            "{name} cleartext"
        );
        let sig = detach_sign(key, TEXT, SignSpec::hash(algo), true);
        assert_eq!(
            verify_detached(TEXT, &sig, &key.keyring(), &policy(), NOW).unwrap_err(),
            SignatureError::WeakHash { algo: name.into() },
            "{name} detached"
        );
    }
    // RSA too.
    let signed = clearsign(shared_rsa(), TEXT, SignSpec::hash(HashAlgorithm::SHA1));
    assert_eq!(
        clear_err(&signed, &shared_rsa().keyring(), NOW),
        SignatureError::WeakHash {
            algo: "SHA1".into()
        }
    );
}

#[test]
fn signature_from_the_future_is_refused() {
    let key = shared_ed25519();
    let created = NOW + 11 * 60;
    let signed = clearsign(key, TEXT, SignSpec::at(created));
    assert_eq!(
        clear_err(&signed, &key.keyring(), NOW),
        SignatureError::FromTheFuture { created }
    );
    // Far in the future (beyond sequoia's own 30-minute tolerance) too.
    let created = NOW + 3 * DAY;
    let signed = clearsign(key, TEXT, SignSpec::at(created));
    assert_eq!(
        clear_err(&signed, &key.keyring(), NOW),
        SignatureError::FromTheFuture { created }
    );
    // Within the 10-minute skew it is fine.
    let signed = clearsign(key, TEXT, SignSpec::at(NOW + 9 * 60));
    clear_ok(&signed, &key.keyring(), NOW);
}

#[test]
fn stale_signature_is_refused() {
    let key = shared_ed25519();
    let created = NOW - 8 * DAY;
    let signed = clearsign(key, TEXT, SignSpec::at(created));
    assert_eq!(
        clear_err(&signed, &key.keyring(), NOW),
        SignatureError::TooOld {
            created,
            max_age_secs: 7 * DAY as u64
        }
    );
    // A custom max_age.
    let strict = Policy {
        max_age: Duration::from_secs(3600),
        ..Policy::default()
    };
    let signed = clearsign(key, TEXT, SignSpec::at(NOW - 7200));
    assert_eq!(
        verify_cleartext(&signed, &key.keyring(), &strict, NOW).unwrap_err(),
        SignatureError::TooOld {
            created: NOW - 7200,
            max_age_secs: 3600
        }
    );
    // Six days old is fine by default.
    let signed = clearsign(key, TEXT, SignSpec::at(NOW - 6 * DAY));
    clear_ok(&signed, &key.keyring(), NOW);
}

#[test]
fn two_signatures_are_refused() {
    let a = shared_ed25519();
    let b = shared_other();
    let mut both = a.armored_public();
    both.extend_from_slice(&b.armored_public());
    let ring = Keyring::from_bytes(&both).unwrap();
    // Two signatures on one clearsigned block.
    let signed = clearsign_with(vec![a.signer(), b.signer()], TEXT, SignSpec::default());
    assert_eq!(
        clear_err(&signed, &ring, NOW),
        SignatureError::MultipleSignatures(2)
    );
    // Two signed blocks in one input.
    let mut two = clearsign(a, TEXT, SignSpec::default());
    two.extend_from_slice(&clearsign(b, b"Source: other\n", SignSpec::default()));
    assert_eq!(
        clear_err(&two, &ring, NOW),
        SignatureError::MultipleSignatures(2)
    );
    // Two detached signatures.
    let sig = detach_sign_with(
        vec![a.signer(), b.signer()],
        TEXT,
        SignSpec::default(),
        true,
        false,
    );
    assert_eq!(
        verify_detached(TEXT, &sig, &ring, &policy(), NOW).unwrap_err(),
        SignatureError::MultipleSignatures(2)
    );
}

#[test]
fn no_signature() {
    let ring = shared_ed25519().keyring();
    assert_eq!(clear_err(TEXT, &ring, NOW), SignatureError::NoSignature);
    assert_eq!(clear_err(b"", &ring, NOW), SignatureError::NoSignature);
    assert_eq!(
        verify_detached(TEXT, b"", &ring, &policy(), NOW).unwrap_err(),
        SignatureError::NoSignature
    );
    // Quoted (not at the start of a line) does not count.
    let signed = clearsign(shared_ed25519(), TEXT, SignSpec::default());
    let quoted: Vec<u8> = String::from_utf8(signed)
        .unwrap()
        .lines()
        .map(|l| format!("> {l}\n"))
        .collect::<String>()
        .into_bytes();
    assert_eq!(clear_err(&quoted, &ring, NOW), SignatureError::NoSignature);
}

#[test]
fn detached_signature_garbage_is_malformed() {
    let ring = shared_ed25519().keyring();
    assert!(matches!(
        verify_detached(TEXT, b"not a signature at all", &ring, &policy(), NOW),
        Err(SignatureError::Malformed(_))
    ));
    // A certificate is not a signature.
    assert!(matches!(
        verify_detached(
            TEXT,
            &shared_ed25519().armored_public(),
            &ring,
            &policy(),
            NOW
        ),
        Err(SignatureError::Malformed(_))
    ));
}

// ---------------------------------------------------------------------------
// Armor confusion, made with our own key (so a lenient reader WOULD find a
// good signature somewhere in the input).

fn malformed(e: SignatureError) -> String {
    match e {
        SignatureError::Malformed(m) => m,
        e => panic!("expected Malformed, got {e:?}"),
    }
}

#[test]
fn armor_confusion_prefixed_header_is_refused() {
    let key = shared_ed25519();
    let signed = clearsign(key, TEXT, SignSpec::default());
    // lp-testdata prefixed.changes: an unsigned "block" whose BEGIN line
    // lacks its trailing dashes, followed by a real signed block.
    let mut input = b"-----BEGIN PGP SIGNED MESSAGE\nHash: SHA512\n\nSource: evil\n\n-----BEGIN PGP SIGNATURE\n"
        .to_vec();
    input.extend_from_slice(&signed);
    let m = malformed(clear_err(&input, &key.keyring(), NOW));
    assert!(m.contains("armor"), "{m}");
}

#[test]
fn armor_confusion_wrong_signature_word_is_refused() {
    let key = shared_ed25519();
    let signed = clearsign(key, TEXT, SignSpec::default());
    let bad = replace(
        &signed,
        b"-----BEGIN PGP SIGNATURE-----",
        b"-----BEGIN GPG SIGNATURE-----",
    );
    malformed(clear_err(&bad, &key.keyring(), NOW));
    // Missing trailing dashes on the signature line.
    let bad = replace(
        &signed,
        b"-----BEGIN PGP SIGNATURE-----",
        b"-----BEGIN PGP SIGNATURE",
    );
    malformed(clear_err(&bad, &key.keyring(), NOW));
    // A mangled END line.
    let bad = replace(
        &signed,
        b"-----END PGP SIGNATURE-----",
        b"-----END PGP SIGNATURE--",
    );
    malformed(clear_err(&bad, &key.keyring(), NOW));
}

#[test]
fn unterminated_block_is_refused() {
    let key = shared_ed25519();
    let signed = clearsign(key, TEXT, SignSpec::default());
    let pos = signed
        .windows(5)
        .position(|w| w == b"-----")
        .and_then(|first| {
            signed[first + 5..]
                .windows(29)
                .position(|w| w == b"-----BEGIN PGP SIGNATURE-----")
                .map(|p| p + first + 5)
        })
        .unwrap();
    malformed(clear_err(&signed[..pos], &key.keyring(), NOW));
    // No END line.
    let end = signed
        .windows(27)
        .position(|w| w == b"-----END PGP SIGNATURE-----")
        .unwrap();
    malformed(clear_err(&signed[..end], &key.keyring(), NOW));
}

#[test]
fn extra_armor_header_is_refused() {
    let key = shared_ed25519();
    let signed = clearsign(key, TEXT, SignSpec::default());
    let bad = replace(&signed, b"Hash: SHA512\n", b"Hash: SHA512\nSource: evil\n");
    let m = malformed(clear_err(&bad, &key.keyring(), NOW));
    assert!(m.contains("Hash:"), "{m}");
}

#[test]
fn armor_like_line_after_the_block_is_refused() {
    let key = shared_ed25519();
    let mut input = clearsign(key, TEXT, SignSpec::default());
    input.extend_from_slice(b"\n-----BEGIN PGP SIGNED MESSAGE\n\nSource: evil\n");
    malformed(clear_err(&input, &key.keyring(), NOW));
}

/// The armor-confusion samples of the shared corpus: none may yield
/// unsigned text. They are signed by 2004-era DSA keys we do not have, so
/// with our keyring each must be refused, and for the exact reason.
#[test]
fn corpus_armor_confusion_samples() {
    let Some(dir) = crate::support::corpus("other") else {
        return;
    };
    let ring = shared_ed25519().keyring();
    type Expect = fn(&SignatureError) -> bool;
    let cases: &[(&str, Expect)] = &[
        ("lp-testdata_prefixed-armor-header.changes.txt", |e| {
            matches!(e, SignatureError::Malformed(_))
        }),
        ("lp-testdata_changes-with-exploit-top.changes.txt", |e| {
            matches!(e, SignatureError::UnknownKey { .. })
        }),
        ("lp-testdata_changes-with-exploit-bottom.changes.txt", |e| {
            matches!(e, SignatureError::UnknownKey { .. })
        }),
        ("lp-testdata_malformed-sig-GPG-SIGNATURE.changes.txt", |e| {
            matches!(e, SignatureError::Malformed(_))
        }),
        ("lp-testdata_unterminated-sig.changes.txt", |e| {
            matches!(e, SignatureError::Malformed(_))
        }),
        ("dak-fixture_gawk_bogus-pre.changes.txt", |e| {
            matches!(e, SignatureError::UnknownKey { .. })
        }),
    ];
    for (name, expected) in cases {
        let path = dir.join(name);
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match verify_cleartext(&data, &ring, &policy(), NOW) {
            Ok(v) => {
                // Would only happen with the right key: even then no unsigned text.
                assert!(!contains(&v.text, b"evil"), "{name}");
                assert!(!contains(&v.text, b"0wned"), "{name}");
                panic!("{name}: verified with a key that did not sign it");
            }
            Err(e) => assert!(
                expected(&e) || is_v3_refusal(&e),
                "{name}: unexpected refusal {e:?}"
            ),
        }
    }
}

/// Old (pre-2021) samples carry OpenPGP v3 signatures, which the standard
/// policy refuses before the key is even looked up.
fn is_v3_refusal(e: &SignatureError) -> bool {
    matches!(e, SignatureError::Malformed(m) if m.contains("OpenPGP v3 signature"))
}

/// Real-world clearsigned `.changes` from the corpus (no `Hash:` header,
/// trailing blank lines, no blank line before the signature, …) frame and
/// parse: with an empty keyring each ends at "unknown key", never at
/// "malformed".
#[test]
fn corpus_signed_changes_parse_up_to_the_key_lookup() {
    let Some(dir) = crate::support::corpus("signed-changes") else {
        return;
    };
    let entries = std::fs::read_dir(&dir).unwrap();
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let e = verify_cleartext(&data, &Keyring::default(), &policy(), NOW).unwrap_err();
        assert!(
            matches!(e, SignatureError::UnknownKey { .. }) || is_v3_refusal(&e),
            "{}: {e:?}",
            path.display()
        );
        n += 1;
    }
    assert!(n > 0);
}

// ---------------------------------------------------------------------------
// Never panic.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let ring = shared_ed25519().keyring();
        // `guarded` turns a parser panic into a refusal so no mail is lost;
        // it is still a bug, and these tests exist to find it.
        let r = verify_cleartext(&data, &ring, &policy(), NOW);
        prop_assert!(!matches!(r, Err(SignatureError::ParserPanicked)));
        let r = verify_detached(&data, &data, &ring, &policy(), NOW);
        prop_assert!(!matches!(r, Err(SignatureError::ParserPanicked)));
    }

    #[test]
    fn any_clearsigned_text_verifies_and_comes_back_as_signed(
        lines in proptest::collection::vec("-{0,6}[ a-zA-Z:.-]{0,30}[ \t]{0,3}", 0..12),
        crlf_endings in any::<bool>(),
    ) {
        let key = shared_ed25519();
        let nl = if crlf_endings { "\r\n" } else { "\n" };
        let text: String = lines.iter().map(|l| format!("{l}{nl}")).collect();
        let signed = clearsign(key, text.as_bytes(), SignSpec::default());
        let v = verify_cleartext(&signed, &key.keyring(), &policy(), NOW);
        prop_assert!(v.is_ok(), "{:?}\n{}", v, String::from_utf8_lossy(&signed));
        let v = v.unwrap();
        // OpenPGP signs each line without its trailing spaces and tabs.
        let expected: String = lines
            .iter()
            .map(|l| format!("{}{nl}", l.trim_end_matches([' ', '\t'])))
            .collect();
        prop_assert_eq!(String::from_utf8_lossy(&v.text), expected);
    }

    #[test]
    fn arbitrary_text_inside_the_armor_never_panics(
        headers in "(Hash: [A-Z0-9]{0,8}\r?\n){0,2}",
        body in "[ -~\r\n-]{0,400}",
        sig in "[A-Za-z0-9+/=\r\n-]{0,300}",
        tail in "[ -~\r\n]{0,100}",
    ) {
        let ring = shared_ed25519().keyring();
        let input = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\n{headers}\n{body}\n-----BEGIN PGP SIGNATURE-----\n\n{sig}\n-----END PGP SIGNATURE-----\n{tail}"
        );
        let r = verify_cleartext(input.as_bytes(), &ring, &policy(), NOW);
        prop_assert!(!matches!(r, Err(SignatureError::ParserPanicked)));
    }

    #[test]
    fn mutated_signed_message_never_panics_and_never_verifies_other_text(
        pos in 0usize..4096, byte in any::<u8>(),
    ) {
        let key = shared_ed25519();
        static SIGNED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let signed = SIGNED.get_or_init(|| clearsign(shared_ed25519(), TEXT, SignSpec::default()));
        let mut m = signed.clone();
        let i = pos % m.len();
        m[i] = byte;
        match verify_cleartext(&m, &key.keyring(), &policy(), NOW) {
            // Only changes that leave the signed text the same (up to the
            // line-ending canonicalisation OpenPGP applies, e.g. a lone CR
            // for LF) may verify.
            Ok(v) => prop_assert_eq!(
                v.signed_bytes_sha256,
                hex::encode(Sha256::digest(crlf(TEXT)))
            ),
            Err(e) => prop_assert!(!matches!(e, SignatureError::ParserPanicked)),
        }
    }
}
