//! OpenPGP signature verification (design §5 "Signatures").
//!
//! A pure verification API: no database, no mail parsing. The caller hands
//! over a clearsigned text ([`verify_cleartext`]) or data plus a detached
//! signature ([`verify_detached`]), the admins' [`Keyring`], a [`Policy`]
//! and the current time, and gets back either a [`Verified`] with the
//! facts the replay check needs, or a [`SignatureError`] whose message
//! tells the admin what to do.
//!
//! All cryptography and all OpenPGP packet parsing is sequoia-openpgp's
//! (`DetachedVerifierBuilder` with the `StandardPolicy`). This module only
//! adds:
//!
//! * framing of the clearsigned block: the block must start with the exact
//!   line `-----BEGIN PGP SIGNED MESSAGE-----` at the beginning of a line
//!   and end with the exact line `-----END PGP SIGNATURE-----`; text
//!   before and after it is handed to nobody and reported in
//!   [`Verified::ignored`]. Armor-like lines that are not exact (the
//!   classic armor-confusion attacks) are refused. The exact framing gives
//!   the signed text (dash-escapes removed, trailing white space dropped,
//!   CRLF line ends: RFC 9580 §7) and the armored signature, which is then
//!   checked as a detached signature over that text.
//! * buildmail's stricter rules on top of the policy: exactly one
//!   signature; SHA-256 or stronger (MD5, SHA-1, RIPEMD-160 *and SHA-224*
//!   are refused even where the standard policy would still accept them:
//!   SHA-224 is a truncated SHA-256 with only 112-bit collision
//!   resistance, below the 128 bits the rest of the list gives); creation
//!   time within `[now - max_age, now + max_future]`; the certificate and
//!   the signing (sub)key valid, not expired and not revoked **now**, in
//!   addition to sequoia's check at the signature's creation time (so a
//!   key revoked today no longer verifies yesterday's signatures).

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::packet::Signature;
use openpgp::parse::stream::{
    DetachedVerifierBuilder, MessageLayer, MessageStructure, VerificationError, VerificationHelper,
};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::types::{HashAlgorithm, RevocationStatus, SignatureType};
use openpgp::{Cert, KeyHandle};
use sha2::{Digest, Sha256};

use crate::cli::format_time;

/// The exact armor header line that opens a clearsigned block.
const BEGIN_SIGNED: &[u8] = b"-----BEGIN PGP SIGNED MESSAGE-----";
/// The exact armor header line that opens the signature of the block.
const BEGIN_SIGNATURE: &[u8] = b"-----BEGIN PGP SIGNATURE-----";
/// The exact armor tail line that closes the signature of the block.
const END_SIGNATURE: &[u8] = b"-----END PGP SIGNATURE-----";
/// How much of an ignored text is quoted in a note.
const NOTE_PREVIEW: usize = 72;

/// The admins' OpenPGP certificates, against which signatures are checked.
///
/// Only public key material is kept. Certificates that appear more than
/// once (in one file or across files) are merged.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    certs: Vec<Cert>,
}

impl Keyring {
    /// Reads every file in `paths`; each may be armored or binary and hold
    /// one or many certificates. A file that cannot be read, does not
    /// parse, or holds no certificate at all is an error (it is almost
    /// certainly a configuration mistake).
    pub fn load(paths: &[PathBuf]) -> Result<Keyring, SignatureError> {
        let mut ring = Keyring::default();
        for path in paths {
            let data = std::fs::read(path).map_err(|e| {
                SignatureError::Keyring(format!("cannot read {}: {e}", path.display()))
            })?;
            let certs = parse_certs(&data)
                .map_err(|e| SignatureError::Keyring(format!("{}: {e}", path.display())))?;
            for cert in certs {
                ring.add(cert)?;
            }
        }
        Ok(ring)
    }

    /// Parses a keyring from memory (armored or binary, one or many
    /// certificates). Empty input or input without a certificate is an
    /// error; use [`Keyring::default`] for an empty keyring.
    pub fn from_bytes(data: &[u8]) -> Result<Keyring, SignatureError> {
        let mut ring = Keyring::default();
        for cert in parse_certs(data).map_err(SignatureError::Keyring)? {
            ring.add(cert)?;
        }
        Ok(ring)
    }

    /// Number of distinct certificates.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// True when the keyring holds no certificate.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// Primary key fingerprints (upper-case hex) of the certificates, in
    /// the order they were loaded.
    pub fn fingerprints(&self) -> Vec<String> {
        self.certs
            .iter()
            .map(|c| c.fingerprint().to_hex())
            .collect()
    }

    fn add(&mut self, cert: Cert) -> Result<(), SignatureError> {
        let cert = cert.strip_secret_key_material();
        let fpr = cert.fingerprint();
        if let Some(slot) = self.certs.iter_mut().find(|c| c.fingerprint() == fpr) {
            *slot = slot.clone().merge_public(cert).map_err(|e| {
                SignatureError::Keyring(format!(
                    "cannot merge two copies of certificate {fpr:X}: {e}"
                ))
            })?;
        } else {
            self.certs.push(cert);
        }
        Ok(())
    }

    /// The certificates having a key that matches one of `ids`.
    fn matching(&self, ids: &[KeyHandle]) -> Vec<Cert> {
        self.certs
            .iter()
            .filter(|c| c.keys().key_handles(ids.iter()).next().is_some())
            .cloned()
            .collect()
    }
}

/// Parses every certificate in `data`; errors as text for the caller to
/// prefix with where the data came from.
fn parse_certs(data: &[u8]) -> Result<Vec<Cert>, String> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err("empty keyring: it holds no OpenPGP certificate".into());
    }
    if data.get(8..12) == Some(b"KBXf") {
        return Err("this is a GnuPG keybox (.kbx), not an OpenPGP keyring; \
                    export the certificates with `gpg --export KEYID > file.gpg`"
            .into());
    }
    // CertParser takes armored (also several concatenated armored blocks,
    // as `cat a.asc b.asc` makes) and binary keyrings.
    let parser =
        CertParser::from_bytes(data).map_err(|e| format!("not an OpenPGP keyring: {e}"))?;
    let mut certs = Vec::new();
    for cert in parser {
        let cert =
            cert.map_err(|e| format!("certificate #{} does not parse: {e}", certs.len() + 1))?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err("no OpenPGP certificate found".into());
    }
    Ok(certs)
}

/// buildmail's limits on a signature's creation time (design §5).
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
        "signature made at {} is older than the maximum signature age of {max_age_secs} \
         seconds; sign the reply again",
        format_time(*created)
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
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(SignatureError::Malformed(
            "the OpenPGP parser failed on this input".into(),
        ))
    })
}

// ---------------------------------------------------------------------------
// Running sequoia.

/// What [`Helper::check`] learnt from a good signature.
#[derive(Debug)]
struct Facts {
    signer_fingerprint: String,
    signer_uid: Option<String>,
    signing_key_fingerprint: String,
    created: i64,
    hash_algo: HashAlgorithm,
    text_mode: bool,
}

impl Facts {
    fn into_verified(self, text: Vec<u8>, ignored: Vec<String>, block: &[u8]) -> Verified {
        let digest = if self.text_mode {
            sha256_canonical_text(&text)
        } else {
            hex::encode(Sha256::digest(&text))
        };
        Verified {
            signer_fingerprint: self.signer_fingerprint,
            signer_uid: self.signer_uid,
            signing_key_fingerprint: self.signing_key_fingerprint,
            created: self.created,
            hash_algo: self.hash_algo.to_string(),
            signed_bytes_sha256: digest,
            text,
            ignored,
            signed_message: block.to_vec(),
        }
    }
}

/// SHA-256 over `text` with line endings normalised to CRLF, the way
/// OpenPGP hashes text signatures.
fn sha256_canonical_text(text: &[u8]) -> String {
    let mut h = Sha256::new();
    let mut rest = text;
    while let Some(i) = rest.iter().position(|&c| c == b'\r' || c == b'\n') {
        let (line, tail) = rest.split_at(i);
        h.update(line);
        h.update(b"\r\n");
        rest = match tail {
            [b'\r', b'\n', t @ ..] => t,
            [_, t @ ..] => t,
            [] => &[],
        };
    }
    h.update(rest);
    hex::encode(h.finalize())
}

/// What [`Helper::check`] concluded; kept outside the helper, because
/// sequoia reports a refusal only as an opaque error and drops the
/// helper when `with_policy` fails (it runs `check` right away for small
/// messages).
type Outcome = RefCell<Option<Result<Facts, SignatureError>>>;

/// The VerificationHelper: hands sequoia the matching certificates and
/// applies buildmail's rules in `check`.
struct Helper<'a> {
    keyring: &'a Keyring,
    policy: &'a Policy,
    standard: &'a StandardPolicy<'a>,
    now: i64,
    outcome: &'a Outcome,
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(self.keyring.matching(ids))
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        let outcome = judge(structure, self.policy, self.standard, self.now);
        let ok = outcome.is_ok();
        *self.outcome.borrow_mut() = Some(outcome);
        if ok {
            Ok(())
        } else {
            Err(anyhow::anyhow!("signature refused"))
        }
    }
}

/// Unix seconds to SystemTime (negative clamps to the epoch).
fn to_system_time(t: i64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(u64::try_from(t).unwrap_or(0)))
        .unwrap_or(UNIX_EPOCH)
}

/// The time sequoia evaluates signatures at. With an explicit time,
/// sequoia allows no clock skew and refuses a signature dated even a
/// second later; so it gets `now + max_future`, and the real limits (not
/// in the future by more than `max_future`, not expired now, key valid
/// now) are applied by [`judge`] against `now` itself. Key validity at
/// signing time does not depend on this time.
fn reference_time(policy: &Policy, now: i64) -> SystemTime {
    let base = to_system_time(now);
    base.checked_add(policy.max_future).unwrap_or(base)
}

/// SystemTime to Unix seconds (OpenPGP times fit in u32).
fn to_unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// The result of running sequoia, mapped to ours: the helper's refusal
/// if `check` refused, sequoia's error as `Malformed` if it failed before
/// or after, the facts if all went well.
fn settle<T>(run: openpgp::Result<T>, outcome: Outcome) -> Result<(T, Facts), SignatureError> {
    match (run, outcome.into_inner()) {
        (_, Some(Err(e))) => Err(e),
        (Ok(v), Some(Ok(facts))) => Ok((v, facts)),
        (Err(e), _) => {
            let text = format!("{e:#}");
            if text.contains("Signature Packet v3") {
                Err(SignatureError::Malformed(
                    "it is an OpenPGP v3 signature, refused as insecure since 2021 \
                     (the standard policy); sign with a current GnuPG (v4 or v6 signatures)"
                        .into(),
                ))
            } else {
                Err(SignatureError::Malformed(text))
            }
        }
        (Ok(_), None) => Err(SignatureError::NoSignature),
    }
}

/// Verifies a detached `signature` over `data` with sequoia's
/// DetachedVerifier.
fn run_detached_verifier(
    data: &[u8],
    signature: &[u8],
    keyring: &Keyring,
    policy: &Policy,
    now: i64,
) -> Result<Facts, SignatureError> {
    let standard = StandardPolicy::new();
    let outcome = Outcome::default();
    let helper = Helper {
        keyring,
        policy,
        standard: &standard,
        now,
        outcome: &outcome,
    };
    let run = DetachedVerifierBuilder::from_bytes(signature)
        .and_then(|b| b.with_policy(&standard, Some(reference_time(policy, now)), helper))
        .and_then(|mut v| v.verify_bytes(data));
    settle(run, outcome).map(|((), facts)| facts)
}

// ---------------------------------------------------------------------------
// The rules.

/// True for the hash algorithms buildmail accepts: SHA-256 or stronger.
/// SHA-224 is refused on purpose (112-bit collision resistance).
fn strong_hash(algo: HashAlgorithm) -> bool {
    matches!(
        algo,
        HashAlgorithm::SHA256
            | HashAlgorithm::SHA384
            | HashAlgorithm::SHA512
            | HashAlgorithm::SHA3_256
            | HashAlgorithm::SHA3_512
    )
}

/// Applies buildmail's rules to sequoia's verification results.
fn judge(
    structure: MessageStructure,
    policy: &Policy,
    standard: &StandardPolicy,
    now: i64,
) -> Result<Facts, SignatureError> {
    let mut results = Vec::new();
    for layer in structure.into_iter() {
        match layer {
            MessageLayer::SignatureGroup { results: r } => results.extend(r),
            MessageLayer::Compression { .. } => {}
            MessageLayer::Encryption { .. } => {
                return Err(SignatureError::Malformed(
                    "the message is encrypted; send a signed, unencrypted text".into(),
                ))
            }
        }
    }
    if results.len() > 1 {
        return Err(SignatureError::MultipleSignatures(results.len()));
    }
    let Some(result) = results.pop() else {
        return Err(SignatureError::NoSignature);
    };

    let (sig, cert, ka_at_signing, seq_error) = match result {
        Ok(good) => (good.sig, good.ka.cert(), Some(good.ka), None),
        Err(VerificationError::MissingKey { sig }) => {
            return Err(SignatureError::UnknownKey {
                issuer: issuer_of(sig),
            })
        }
        Err(VerificationError::MalformedSignature { error, .. }) => {
            return Err(SignatureError::Malformed(format!("{error:#}")))
        }
        Err(VerificationError::UnknownSignature { sig }) => {
            return Err(SignatureError::Malformed(format!(
                "unsupported or broken signature packet: {}",
                sig.error()
            )))
        }
        Err(VerificationError::UnboundKey { sig, cert, error }) => (
            sig,
            cert,
            None,
            Some(Sequoia::Unbound(format!("{error:#}"))),
        ),
        Err(VerificationError::BadKey { sig, ka, error }) => {
            let cert = ka.cert();
            (
                sig,
                cert,
                Some(ka),
                Some(Sequoia::BadKey(format!("{error:#}"))),
            )
        }
        Err(VerificationError::BadSignature { sig, ka, error }) => {
            let cert = ka.cert();
            (
                sig,
                cert,
                Some(ka),
                Some(Sequoia::BadSignature(format!("{error:#}"))),
            )
        }
        // VerificationError is non-exhaustive.
        Err(other) => return Err(SignatureError::Malformed(other.to_string())),
    };

    // The key the signature names, as found in the certificate.
    let signer = cert.fingerprint().to_hex();
    let key_fpr = match &ka_at_signing {
        Some(ka) => ka.key().fingerprint(),
        None => cert
            .keys()
            .key_handles(sig.get_issuers().iter())
            .next()
            .map(|k| k.key().fingerprint())
            .unwrap_or_else(|| cert.fingerprint()),
    };
    let key = key_fpr.to_hex();

    // Hash strength.
    if !strong_hash(sig.hash_algo()) {
        return Err(SignatureError::WeakHash {
            algo: sig.hash_algo().to_string(),
        });
    }

    // Creation time.
    let created = sig
        .signature_creation_time()
        .map(to_unix)
        .ok_or_else(|| SignatureError::Malformed("the signature has no creation time".into()))?;
    let max_future = i64::try_from(policy.max_future.as_secs()).unwrap_or(i64::MAX);
    let max_age = i64::try_from(policy.max_age.as_secs()).unwrap_or(i64::MAX);
    if created > now.saturating_add(max_future) {
        return Err(SignatureError::FromTheFuture { created });
    }
    if created < now.saturating_sub(max_age) {
        return Err(SignatureError::TooOld {
            created,
            max_age_secs: policy.max_age.as_secs(),
        });
    }
    if let Some(expires) = sig.signature_expiration_time().map(to_unix) {
        if expires <= now {
            return Err(SignatureError::TooOld {
                created,
                max_age_secs: u64::try_from(expires.saturating_sub(created)).unwrap_or(0),
            });
        }
    }

    // The certificate and key NOW.
    check_key_now(cert, &key_fpr, standard, now)?;

    // The key at signing time, as sequoia saw it.
    match seq_error {
        None => {}
        Some(Sequoia::Unbound(reason)) => {
            return Err(SignatureError::InvalidKey {
                signer,
                key,
                reason: format!("no valid binding at the signature's creation time: {reason}"),
            })
        }
        Some(Sequoia::BadKey(reason)) => {
            let Some(ka) = &ka_at_signing else {
                return Err(SignatureError::InvalidKey {
                    signer,
                    key,
                    reason,
                });
            };
            if let RevocationStatus::Revoked(revs) = ka.valid_cert().revocation_status() {
                return Err(SignatureError::RevokedKey {
                    key: signer.clone(),
                    signer,
                    reason: revocation_reason(&revs),
                });
            }
            if let RevocationStatus::Revoked(revs) = ka.revocation_status() {
                return Err(SignatureError::RevokedKey {
                    signer,
                    key,
                    reason: revocation_reason(&revs),
                });
            }
            if ka.valid_cert().alive().is_err() {
                return Err(SignatureError::ExpiredKey {
                    expired: ka
                        .valid_cert()
                        .primary_key()
                        .key_expiration_time()
                        .map(to_unix),
                    key: signer.clone(),
                    signer,
                });
            }
            if ka.alive().is_err() {
                return Err(SignatureError::ExpiredKey {
                    signer,
                    key,
                    expired: ka.key_expiration_time().map(to_unix),
                });
            }
            if !ka.for_signing() {
                return Err(SignatureError::NotSigningCapable);
            }
            return Err(SignatureError::InvalidKey {
                signer,
                key,
                reason,
            });
        }
        Some(Sequoia::BadSignature(_reason)) => return Err(SignatureError::BadSignature),
    }

    let Some(ka) = ka_at_signing else {
        return Err(SignatureError::BadSignature);
    };
    if !ka.for_signing() {
        return Err(SignatureError::NotSigningCapable);
    }
    let signer_uid = cert
        .with_policy(standard, to_system_time(now))
        .ok()
        .and_then(|vc| vc.primary_userid().ok())
        .map(|u| String::from_utf8_lossy(u.userid().value()).into_owned());
    Ok(Facts {
        signer_fingerprint: signer,
        signer_uid,
        signing_key_fingerprint: key,
        created,
        hash_algo: sig.hash_algo(),
        text_mode: sig.typ() == SignatureType::Text,
    })
}

/// sequoia's complaint about a signature, kept until our own checks ran.
enum Sequoia {
    Unbound(String),
    BadKey(String),
    BadSignature(String),
}

/// The certificate must be valid, alive and unrevoked now, and so must
/// the key `key_fpr` in it, which must also be signing-capable.
fn check_key_now(
    cert: &Cert,
    key_fpr: &openpgp::Fingerprint,
    standard: &StandardPolicy,
    now: i64,
) -> Result<(), SignatureError> {
    let t = to_system_time(now);
    let signer = cert.fingerprint().to_hex();
    let key = key_fpr.to_hex();
    if let RevocationStatus::Revoked(revs) = cert.revocation_status(standard, t) {
        return Err(SignatureError::RevokedKey {
            key: signer.clone(),
            signer,
            reason: revocation_reason(&revs),
        });
    }
    let vc = cert
        .with_policy(standard, t)
        .map_err(|e| SignatureError::InvalidKey {
            signer: signer.clone(),
            key: signer.clone(),
            reason: format!("certificate not valid now: {e:#}"),
        })?;
    if vc.alive().is_err() {
        return Err(SignatureError::ExpiredKey {
            expired: vc.primary_key().key_expiration_time().map(to_unix),
            key: signer.clone(),
            signer,
        });
    }
    let Some(ka) = vc.keys().key_handle(key_fpr.clone()).next() else {
        return Err(SignatureError::InvalidKey {
            signer,
            key,
            reason: "the key is no longer bound to the certificate".into(),
        });
    };
    if let RevocationStatus::Revoked(revs) = ka.revocation_status() {
        return Err(SignatureError::RevokedKey {
            signer,
            key,
            reason: revocation_reason(&revs),
        });
    }
    if ka.alive().is_err() {
        return Err(SignatureError::ExpiredKey {
            signer,
            key,
            expired: ka.key_expiration_time().map(to_unix),
        });
    }
    if !ka.for_signing() {
        return Err(SignatureError::NotSigningCapable);
    }
    Ok(())
}

/// "reason: message" of the first revocation.
fn revocation_reason(revs: &[&Signature]) -> String {
    revs.first()
        .and_then(|r| r.reason_for_revocation())
        .map(|(code, msg)| {
            let msg = String::from_utf8_lossy(msg);
            if msg.trim().is_empty() {
                code.to_string()
            } else {
                format!("{code}: {}", msg.trim())
            }
        })
        .unwrap_or_else(|| "no reason given".into())
}

/// The issuer a signature names: its fingerprint if present, else its key
/// ID.
fn issuer_of(sig: &Signature) -> String {
    let issuers = sig.get_issuers();
    issuers
        .iter()
        .find(|h| matches!(h, KeyHandle::Fingerprint(_)))
        .or_else(|| issuers.first())
        .map(|h| h.to_hex())
        .unwrap_or_else(|| "(unnamed: the signature has no issuer)".into())
}

// ---------------------------------------------------------------------------
// Clearsigned framing.

/// The clearsigned block inside an input, and notes on what is around it.
#[derive(Debug)]
struct Frame<'a> {
    /// From the `-----BEGIN PGP SIGNED MESSAGE-----` line through the
    /// `-----END PGP SIGNATURE-----` line (with its line ending).
    block: &'a [u8],
    /// The dash-escaped cleartext: the lines after the armor headers' empty
    /// line, up to the signature's BEGIN line (the line break before that
    /// line included; it is not signed).
    text: &'a [u8],
    /// The armored signature, BEGIN line through END line.
    signature: &'a [u8],
    notes: Vec<String>,
}

/// Lines of `data` with their start offsets; each line includes its
/// `\n` (the last one may lack it).
fn lines(data: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rest = data.get(pos..).filter(|r| !r.is_empty())?;
        let len = rest
            .iter()
            .position(|&c| c == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let start = pos;
        pos += len;
        rest.get(..len).map(|l| (start, l))
    })
}

/// The signed text of a clearsigned block's dash-escaped `text`: as it
/// reads (line endings as they came) and in the canonical form that is
/// hashed (CRLF). Each line loses a leading `- ` and its trailing spaces
/// and tabs; the line break before the signature is not part of it.
fn cleartext(text: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut plain = Vec::with_capacity(text.len());
    let mut canonical = Vec::with_capacity(text.len() + text.len() / 32);
    let mut first = true;
    for (_, line) in lines(text) {
        if !first {
            canonical.extend_from_slice(b"\r\n");
        }
        first = false;
        let (body, ending): (&[u8], &[u8]) = if let Some(b) = line.strip_suffix(b"\r\n") {
            (b, b"\r\n")
        } else if let Some(b) = line.strip_suffix(b"\n") {
            (b, b"\n")
        } else {
            (line, b"")
        };
        let body = body.strip_prefix(b"- ").unwrap_or(body);
        let n = body
            .iter()
            .rposition(|c| !matches!(c, b' ' | b'\t'))
            .map_or(0, |i| i + 1);
        let body = body.get(..n).unwrap_or_default();
        plain.extend_from_slice(body);
        plain.extend_from_slice(ending);
        canonical.extend_from_slice(body);
    }
    // The last line break belongs to the signature's BEGIN line.
    if plain.ends_with(b"\r\n") {
        plain.truncate(plain.len() - 2);
    } else if plain.ends_with(b"\n") {
        plain.truncate(plain.len() - 1);
    }
    (plain, canonical)
}

/// Decodes a well-formed `-----BEGIN PGP SIGNATURE-----` armor: optional
/// `Key: value` headers and an empty line, base64 lines, an optional
/// `=XXXX` checksum line (ignored, as RFC 9580 §6.1 allows), the END line.
/// `None` for anything else (sequoia then reads the armor itself).
fn dearmor_signature(armor: &[u8]) -> Option<Vec<u8>> {
    let mut it = lines(armor).map(|(_, l)| trim_end(l));
    if it.next()? != BEGIN_SIGNATURE {
        return None;
    }
    let mut body = Vec::with_capacity(armor.len());
    let mut in_headers = true;
    for line in it {
        if line == END_SIGNATURE {
            return (!body.is_empty())
                .then(|| mail_parser::decoders::base64::base64_decode(&body))
                .flatten()
                .filter(|b| !b.is_empty());
        }
        if in_headers {
            if line.is_empty() {
                in_headers = false;
                continue;
            }
            if line.contains(&b':') {
                continue;
            }
            in_headers = false;
        }
        if line.first() == Some(&b'=') && line.len() == 5 {
            continue;
        }
        if !line
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
        {
            return None;
        }
        body.extend_from_slice(line);
    }
    None
}

/// The line without trailing spaces, tabs, CR and LF.
fn trim_end(line: &[u8]) -> &[u8] {
    let n = line
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    line.get(..n).unwrap_or_default()
}

/// Splits off the leading "dash punctuation" of a line the way sequoia's
/// armor reader does, so that every line sequoia would take for an armor
/// line is seen here too. Returns (byte length of the dashes, the rest).
fn dash_prefix(line: &[u8]) -> (usize, &[u8]) {
    let valid = match std::str::from_utf8(line) {
        Ok(s) => s,
        Err(e) => {
            std::str::from_utf8(line.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or_default()
        }
    };
    let n: usize = valid
        .chars()
        .take_while(|c| {
            matches!(
                c,
                '\u{002D}' | '\u{058A}' | '\u{05BE}' | '\u{1400}' | '\u{1806}' | '\u{2010}'
                    ..='\u{2015}'
                        | '\u{2E17}'
                        | '\u{2E1A}'
                        | '\u{2E3A}'
                        | '\u{2E3B}'
                        | '\u{2E40}'
                        | '\u{301C}'
                        | '\u{3030}'
                        | '\u{30A0}'
                        | '\u{FE31}'
                        | '\u{FE32}'
                        | '\u{FE58}'
                        | '\u{FE63}'
                        | '\u{FF0D}'
            )
        })
        .map(char::len_utf8)
        .sum();
    (n, line.get(n..).unwrap_or_default())
}

/// True if sequoia (or a lenient reader) could take `line` for the armor
/// line `BEGIN PGP <what>` / `END PGP <what>` (`word` is "BEGIN PGP " or
/// "END PGP ").
fn armor_like(line: &[u8], word: &[u8], what: &[u8]) -> bool {
    let (dashes, rest) = dash_prefix(line);
    dashes > 2
        && rest.starts_with(word)
        && rest.get(word.len()..).is_some_and(|r| r.starts_with(what))
}

/// Finds the clearsigned block: the first line that is exactly
/// `-----BEGIN PGP SIGNED MESSAGE-----` (trailing whitespace aside), its
/// `Hash:` headers, the signed text up to the exact
/// `-----BEGIN PGP SIGNATURE-----` line, and the exact
/// `-----END PGP SIGNATURE-----` line. Anything armor-like that is not
/// exact is refused: lenient readers disagree about such lines, and the
/// disagreement is what armor-confusion attacks exploit.
fn frame_cleartext(input: &[u8]) -> Result<Frame<'_>, SignatureError> {
    let mut it = lines(input);

    // The BEGIN line. Armor-like lines before it must not be there.
    let begin = loop {
        let Some((start, line)) = it.next() else {
            return Err(SignatureError::NoSignature);
        };
        if trim_end(line) == BEGIN_SIGNED {
            break start;
        }
        if armor_like(line, b"BEGIN PGP ", b"SIGNED MESSAGE")
            || armor_like(line, b"BEGIN PGP ", b"SIGNATURE")
        {
            return Err(SignatureError::Malformed(format!(
                "armor-like line {:?} is not exactly {:?}; refusing the message \
                 (possible armor-confusion attack)",
                preview(line),
                String::from_utf8_lossy(BEGIN_SIGNED)
            )));
        }
    };

    // Armor headers: only `Hash:` is allowed (RFC 9580 §7), up to a blank
    // line.
    let text_start = loop {
        let Some((start, line)) = it.next() else {
            return Err(SignatureError::Malformed(
                "the signed block ends inside its armor headers".into(),
            ));
        };
        let l = trim_end(line);
        if l.is_empty() {
            break start + line.len();
        }
        if !l.starts_with(b"Hash:") {
            return Err(SignatureError::Malformed(format!(
                "unexpected armor header {:?} after {:?} (only `Hash:` headers are \
                 allowed, followed by an empty line)",
                preview(line),
                String::from_utf8_lossy(BEGIN_SIGNED)
            )));
        }
    };

    // The signed text, up to the signature's BEGIN line.
    let text_end = loop {
        let Some((start, line)) = it.next() else {
            return Err(SignatureError::Malformed(format!(
                "no {:?} line after the signed text (unterminated signed block)",
                String::from_utf8_lossy(BEGIN_SIGNATURE)
            )));
        };
        if armor_like(line, b"BEGIN PGP ", b"SIGNATURE") {
            if trim_end(line) != BEGIN_SIGNATURE {
                return Err(SignatureError::Malformed(format!(
                    "signature armor line {:?} is not exactly {:?}",
                    preview(line),
                    String::from_utf8_lossy(BEGIN_SIGNATURE)
                )));
            }
            break start;
        }
    };

    // The signature, up to its END line.
    let end = loop {
        let Some((start, line)) = it.next() else {
            return Err(SignatureError::Malformed(format!(
                "no {:?} line (unterminated signature)",
                String::from_utf8_lossy(END_SIGNATURE)
            )));
        };
        if armor_like(line, b"END PGP ", b"") || armor_like(line, b"BEGIN PGP ", b"") {
            if trim_end(line) != END_SIGNATURE {
                return Err(SignatureError::Malformed(format!(
                    "signature armor line {:?} is not exactly {:?}",
                    preview(line),
                    String::from_utf8_lossy(END_SIGNATURE)
                )));
            }
            break start + line.len();
        }
    };

    // After the block: a second signed block (or anything sequoia could
    // take for one) is refused, other text is ignored.
    let after_lines = || lines(input.get(end..).unwrap_or_default()).map(|(_, l)| l);
    let more_blocks = after_lines()
        .filter(|l| trim_end(l) == BEGIN_SIGNED)
        .count();
    if more_blocks > 0 {
        return Err(SignatureError::MultipleSignatures(1 + more_blocks));
    }
    if let Some(line) = after_lines().find(|l| {
        armor_like(l, b"BEGIN PGP ", b"SIGNED MESSAGE")
            || armor_like(l, b"BEGIN PGP ", b"SIGNATURE")
    }) {
        return Err(SignatureError::Malformed(format!(
            "armor-like line {:?} after the signed block; refusing the message \
             (possible armor-confusion attack)",
            preview(line)
        )));
    }

    let before = input.get(..begin).unwrap_or_default();
    let after = input.get(end..).unwrap_or_default();
    let mut notes = Vec::new();
    if let Some(n) = note("before the signed block", before) {
        notes.push(n);
    }
    if let Some(n) = note("after the signed block", after) {
        notes.push(n);
    }
    Ok(Frame {
        block: input.get(begin..end).unwrap_or_default(),
        text: input.get(text_start..text_end).unwrap_or_default(),
        signature: input.get(text_end..end).unwrap_or_default(),
        notes,
    })
}

/// A note about ignored text, or None if it is only whitespace.
fn note(where_: &str, text: &[u8]) -> Option<String> {
    if text.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let nlines = lines(text).filter(|(_, l)| !trim_end(l).is_empty()).count();
    let first = lines(text)
        .map(|(_, l)| l)
        .find(|l| !trim_end(l).is_empty())
        .unwrap_or_default();
    Some(format!(
        "ignored {} non-empty line{} ({} bytes) {where_}, not covered by the signature; \
         first: {:?}",
        nlines,
        if nlines == 1 { "" } else { "s" },
        text.len(),
        preview(first)
    ))
}

/// The start of a line, lossily decoded, for messages.
fn preview(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(trim_end(line));
    if s.chars().count() > NOTE_PREVIEW {
        let mut p: String = s.chars().take(NOTE_PREVIEW).collect();
        p.push('…');
        p
    } else {
        s.into_owned()
    }
}

#[cfg(test)]
mod tests {
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
}
