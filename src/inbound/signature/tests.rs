use sha2::{Digest, Sha256};

use super::*;

#[test]
fn canonical_text_hash_ignores_line_ending_style() {
    assert_eq!(
        sha256_canonical_text(b"a\nb\nc"),
        sha256_canonical_text(b"a\r\nb\r\nc")
    );
    assert_eq!(
        sha256_canonical_text(b"a\rb"),
        hex::encode(Sha256::digest(b"a\r\nb"))
    );
    assert_ne!(sha256_canonical_text(b"a\n"), sha256_canonical_text(b"a"));
}

#[test]
fn dash_prefix_matches_unicode_dashes() {
    assert_eq!(dash_prefix(b"-----BEGIN"), (5, &b"BEGIN"[..]));
    assert_eq!(dash_prefix("\u{2014}BEGIN".as_bytes()).0, 3);
    assert!(armor_like(
        "\u{2014}BEGIN PGP SIGNATURE".as_bytes(),
        b"BEGIN PGP ",
        b"SIGNATURE"
    ));
    assert!(!armor_like(
        b"- -----BEGIN PGP SIGNATURE-----",
        b"BEGIN PGP ",
        b"SIGNATURE"
    ));
}

#[test]
fn framing_without_signature_is_no_signature() {
    assert_eq!(
        frame_cleartext(b"just text\n").unwrap_err(),
        SignatureError::NoSignature
    );
}
