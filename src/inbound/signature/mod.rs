//! OpenPGP signature verification.
//!
//! A pure verification API: no database, no mail parsing. The caller hands
//! over a clearsigned text ([`verify_cleartext`]) or data plus a detached
//! signature ([`verify_detached`]), the admins' [`Keyring`], a [`Policy`]
//! and the current time, and gets back either a [`Verified`] with the
//! facts the replay check needs, or a [`SignatureError`] whose message
//! tells the admin what to do.
//!
//! All cryptography and all OpenPGP packet parsing is sequoia-openpgp's
//! (`DetachedVerifierBuilder` with the `StandardPolicy`). Two things are
//! buildmail's own, and the rest of this page says exactly what they do:
//!
//! * the clearsigned framing ([`framing`]), written by hand for speed
//!   (sequoia's cleartext reader cost 70 % of the time, zero-filling its
//!   buffers): it only *locates* the signed text and the armored signature
//!   and undoes dash-escaping (RFC 9580 §7); whatever it hands on, sequoia
//!   verifies, so a framing mistake can refuse a good signature but never
//!   accept a bad one. The block must start with the exact
//!   line `-----BEGIN PGP SIGNED MESSAGE-----` at the beginning of a line
//!   and end with the exact line `-----END PGP SIGNATURE-----`; text
//!   before and after it is handed to nobody and reported in
//!   [`Verified::ignored`]. Armor-like lines that are not exact (the
//!   classic armor-confusion attacks) are refused. The exact framing gives
//!   the signed text (dash-escapes removed, trailing white space dropped,
//!   CRLF line ends: RFC 9580 §7) and the armored signature, which is then
//!   checked as a detached signature over that text.
//! * buildmail's stricter rules on top of the policy ([`rules`]): exactly one
//!   signature; SHA-256 or stronger (MD5, SHA-1, RIPEMD-160 *and SHA-224*
//!   are refused even where the standard policy would still accept them:
//!   SHA-224 is a truncated SHA-256 with only 112-bit collision
//!   resistance, below the 128 bits the rest of the list gives); creation
//!   time within `[now - max_age, now + max_future]`; the certificate and
//!   the signing (sub)key valid, not expired and not revoked **now**, in
//!   addition to sequoia's check at the signature's creation time (so a
//!   key revoked today no longer verifies yesterday's signatures).

use std::time::Duration;

use crate::time::format_time;

mod framing;
mod keyring;
mod release;
mod rules;
mod verify;
use framing::*;
pub use keyring::*;
pub use release::{verify_inrelease, verify_release_gpg, ReleaseSignatureError};
use rules::*;
use verify::*;

/// buildmail's limits on a signature's creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Oldest acceptable signature, relative to now (`max_signature_age`,
    /// default 7 days).
    pub max_age: Duration,
    /// How far in the future a signature may be dated (clock skew; default
    /// 10 minutes).
    pub max_future: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_future: Duration::from_secs(10 * 60),
        }
    }
}

/// A good signature and what the caller needs from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Fingerprint of the certificate's PRIMARY key (upper-case hex, no
    /// spaces), also when a subkey made the signature. Part of the replay
    /// key.
    pub signer_fingerprint: String,
    /// The certificate's primary user ID now, for messages.
    pub signer_uid: Option<String>,
    /// Fingerprint of the (sub)key that made the signature.
    pub signing_key_fingerprint: String,
    /// Signature creation time, Unix seconds. Part of the replay key.
    pub created: i64,
    /// The signature's hash algorithm, e.g. `SHA512`.
    pub hash_algo: String,
    /// Hex SHA-256 of exactly the bytes the signature's hash covers (its
    /// own trailer aside); part of the replay key. For a binary signature
    /// (type 0x00, usual for detached signatures) that is the data as
    /// given. For a text signature (type 0x01: every clearsigned text,
    /// and detached signatures made with `--textmode`) it is [`text`]
    /// with every line ending (`\r\n`, lone `\n`, lone `\r`) turned into
    /// `\r\n`, which is what OpenPGP hashes; so the same signed text sent
    /// once with LF and once with CRLF line endings gives the same value.
    ///
    /// [`text`]: Verified::text
    pub signed_bytes_sha256: String,
    /// The signed content. Clearsigned: the cleartext as the signature
    /// covers it: dash-unescaped, trailing spaces and tabs of each line
    /// removed, line endings as they came, without the line break before
    /// `-----BEGIN PGP SIGNATURE-----` (which is not signed). Detached:
    /// the data.
    pub text: Vec<u8>,
    /// Human-readable notes on what was ignored: text before or after the
    /// clearsigned block.
    pub ignored: Vec<String>,
    /// The clearsigned block exactly as received (from the `-----BEGIN PGP
    /// SIGNED MESSAGE-----` line through the `-----END PGP SIGNATURE-----`
    /// line), so that it can be passed on and verified again (a signed
    /// `.changes` written to the upload queue). Empty for detached
    /// signatures.
    pub signed_message: Vec<u8>,
}

/// Why a signature was refused. Each message says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature at all.
    #[error(
        "no OpenPGP signature found: the text must be clearsigned \
         (a `-----BEGIN PGP SIGNED MESSAGE-----` line; `gpg --clearsign` or debsign) \
         or come with a detached signature"
    )]
    NoSignature,
    /// The signed block or the signature packets do not parse.
    #[error(
        "malformed signed message: {0}; sign the text again (gpg --clearsign) and \
         send it unmodified (no re-wrapping or re-encoding by the mail client)"
    )]
    Malformed(String),
    /// The OpenPGP parser panicked on the input (a bug in it, caught so the
    /// mail is refused rather than the processor taken down).
    #[error(
        "internal error: the OpenPGP parser failed on this input; the reply was refused, \
         please report it to the buildd admins with the mail attached"
    )]
    ParserPanicked,
    /// The signature does not match the signed data.
    #[error(
        "BAD signature: the signature does not match the signed text (it was altered \
         after signing, or mangled in transit: line wrapping, character set or \
         quoted-printable changes); send the text exactly as signed"
    )]
    BadSignature,
    /// The signature's issuer is not in the keyring.
    #[error(
        "signature made by key {issuer}, which is not in the buildmail keyring; if it \
         belongs to an admin, add that certificate to the keyring files in the \
         configuration"
    )]
    UnknownKey {
        /// Issuer fingerprint (or key ID if that is all the signature
        /// names), upper-case hex.
        issuer: String,
    },
    /// The certificate or the signing (sub)key has expired (now, or at
    /// signing time).
    #[error(
        "key {key} of certificate {signer} has expired{}; extend its expiry \
         (gpg --quick-set-expire) and put the refreshed certificate in the keyring, \
         or sign with a key that is valid",
        expired.map(|t| format!(" (at {})", format_time(t))).unwrap_or_default()
    )]
    ExpiredKey {
        /// Primary key fingerprint of the certificate.
        signer: String,
        /// The key that expired (the primary's own fingerprint if the whole
        /// certificate expired).
        key: String,
        /// When it expired, Unix seconds, if known.
        expired: Option<i64>,
    },
    /// The certificate or the signing (sub)key is revoked now.
    #[error(
        "key {key} of certificate {signer} is revoked ({reason}); signatures by it are \
         refused even if they were made before the revocation: sign with a key that is \
         not revoked"
    )]
    RevokedKey {
        /// Primary key fingerprint of the certificate.
        signer: String,
        /// The revoked key (the primary's fingerprint if the whole
        /// certificate is revoked).
        key: String,
        /// The revocation reason as stated in the revocation.
        reason: String,
    },
    /// The certificate has no valid binding for the key under the
    /// standard policy (at signing time or now): for example self
    /// signatures that use SHA-1, or a signature dated before the key
    /// existed.
    #[error(
        "key {key} of certificate {signer} is not valid under the OpenPGP standard \
         policy ({reason}); refresh the certificate (e.g. re-create its \
         self-signatures with SHA-256: gpg --quick-set-expire) and update the keyring"
    )]
    InvalidKey {
        /// Primary key fingerprint of the certificate.
        signer: String,
        /// The key concerned.
        key: String,
        /// sequoia's reason.
        reason: String,
    },
    /// The key that made the signature is not flagged for signing.
    #[error(
        "the key that made the signature is not signing-capable (no signing flag, \
         e.g. a certification-only primary key); sign with a signing (sub)key"
    )]
    NotSigningCapable,
    /// The hash algorithm is weaker than SHA-256.
    #[error(
        "signature uses the weak hash algorithm {algo}; only SHA-256 or stronger is \
         accepted: sign again with `--digest-algo SHA512` (or set \
         `personal-digest-preferences SHA512` in gpg.conf)"
    )]
    WeakHash {
        /// The algorithm, e.g. `SHA1`.
        algo: String,
    },
    /// The signature is dated too far in the future.
    #[error(
        "signature is dated {}, too far in the future; check the signing machine's \
         clock and sign again",
        format_time(*created)
    )]
    FromTheFuture {
        /// Signature creation time, Unix seconds.
        created: i64,
    },
    /// The signature is older than the policy allows (or past its own
    /// expiration time; `max_age_secs` is then the signature's own
    /// validity period).
    #[error(
        "signature made at {} is older than the maximum signature age of {}; \
         sign the reply again",
        format_time(*created),
        crate::config::format_duration(std::time::Duration::from_secs(*max_age_secs))
    )]
    TooOld {
        /// Signature creation time, Unix seconds.
        created: i64,
        /// The age limit that was exceeded, seconds.
        max_age_secs: u64,
    },
    /// More than one signature (or signed block).
    #[error(
        "expected exactly one signature, found {0}; sign with one key only and send a \
         single signed block"
    )]
    MultipleSignatures(usize),
    /// The keyring could not be loaded.
    #[error("keyring error: {0}; check the keyring files named in the configuration")]
    Keyring(String),
}

/// Verifies a clearsigned text (`-----BEGIN PGP SIGNED MESSAGE-----`).
///
/// `input` may carry text before and after the block (a mail body); it is
/// ignored and reported in [`Verified::ignored`]. CRLF and LF line endings
/// and an absent `Hash:` header are fine. `now` is the current time in
/// Unix seconds.
pub fn verify_cleartext(
    input: &[u8],
    keyring: &Keyring,
    policy: &Policy,
    now: i64,
) -> Result<Verified, SignatureError> {
    let frame = frame_cleartext(input)?;
    // The framing above is exact, so the signed text and the signature are
    // known: the signature is checked as a detached one over the cleartext
    // as RFC 9580 §7 defines it (dash-escapes removed, trailing white space
    // dropped, CRLF line ends, no final line break). This is what sequoia's
    // cleartext reader hashes too, at a fraction of the cost (its armor
    // reader dominated the verification time).
    let (text, canonical) = cleartext(frame.text);
    // The signature armor is decoded here when it is well-formed (sequoia's
    // armor reader is the costly part of a verification); anything unusual
    // goes to sequoia as it is.
    let binary = dearmor_signature(frame.signature);
    let signature = binary.as_deref().unwrap_or(frame.signature);
    let facts = guarded(|| run_detached_verifier(&canonical, signature, keyring, policy, now))?;
    Ok(facts.into_verified(text, frame.notes, frame.block))
}

/// Verifies a detached signature (armored or binary) over `data`.
pub fn verify_detached(
    data: &[u8],
    signature: &[u8],
    keyring: &Keyring,
    policy: &Policy,
    now: i64,
) -> Result<Verified, SignatureError> {
    if signature.iter().all(u8::is_ascii_whitespace) {
        return Err(SignatureError::NoSignature);
    }
    let facts = guarded(|| run_detached_verifier(data, signature, keyring, policy, now))?;
    Ok(facts.into_verified(data.to_vec(), Vec::new(), &[]))
}

/// Runs `f`, turning a panic inside the OpenPGP parser (which would be a
/// sequoia bug) into a refusal instead of taking the mail processor down.
fn guarded<T>(f: impl FnOnce() -> Result<T, SignatureError>) -> Result<T, SignatureError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(SignatureError::ParserPanicked))
}

// ---------------------------------------------------------------------------
// Running sequoia.

// ---------------------------------------------------------------------------
// The rules.

// ---------------------------------------------------------------------------
// Clearsigned framing.

#[cfg(test)]
mod tests;
