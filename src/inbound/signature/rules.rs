//! buildmail's rules over sequoia's results: one signature, a strong hash,
//! the time window, and one key-validity check applied at signing time
//! and now.

use crate::inbound::signature::to_system_time;
use crate::inbound::signature::to_unix;
use crate::inbound::signature::Facts;
use crate::inbound::signature::Policy;
use crate::inbound::signature::SignatureError;
use openpgp::cert::prelude::*;

use openpgp::packet::Signature;
use openpgp::parse::stream::{MessageLayer, MessageStructure, VerificationError};
use openpgp::policy::StandardPolicy;
use openpgp::types::{HashAlgorithm, RevocationStatus, SignatureType};
use openpgp::{Cert, KeyHandle};
use sequoia_openpgp as openpgp;

/// True for the hash algorithms buildmail accepts: SHA-256 or stronger.
/// SHA-224 is refused on purpose (112-bit collision resistance).
pub(super) fn strong_hash(algo: HashAlgorithm) -> bool {
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
pub(super) fn judge(
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
            check_valid_key(ka, &signer, &key)?;
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
pub(super) enum Sequoia {
    Unbound(String),
    BadKey(String),
    BadSignature(String),
}

/// The certificate must be valid, alive and unrevoked now, and so must
/// the key `key_fpr` in it, which must also be signing-capable.
pub(super) fn check_key_now(
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
    let Some(ka) = vc.keys().key_handle(key_fpr.clone()).next() else {
        return Err(SignatureError::InvalidKey {
            signer,
            key,
            reason: "the key is no longer bound to the certificate".into(),
        });
    };
    check_valid_key(&ka, &signer, &key)
}

/// The one key-validity check, applied to the signing key as it was when
/// the signature was made and as it is now: the certificate and the key
/// unrevoked and alive, the key signing-capable.
pub(super) fn check_valid_key(
    ka: &ValidErasedKeyAmalgamation<'_, openpgp::packet::key::PublicParts>,
    signer: &str,
    key: &str,
) -> Result<(), SignatureError> {
    if let RevocationStatus::Revoked(revs) = ka.valid_cert().revocation_status() {
        return Err(SignatureError::RevokedKey {
            signer: signer.to_string(),
            key: signer.to_string(),
            reason: revocation_reason(&revs),
        });
    }
    if let RevocationStatus::Revoked(revs) = ka.revocation_status() {
        return Err(SignatureError::RevokedKey {
            signer: signer.to_string(),
            key: key.to_string(),
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
            signer: signer.to_string(),
            key: signer.to_string(),
        });
    }
    if ka.alive().is_err() {
        return Err(SignatureError::ExpiredKey {
            signer: signer.to_string(),
            key: key.to_string(),
            expired: ka.key_expiration_time().map(to_unix),
        });
    }
    if !ka.for_signing() {
        return Err(SignatureError::NotSigningCapable);
    }
    Ok(())
}

/// "reason: message" of the first revocation.
pub(super) fn revocation_reason(revs: &[&Signature]) -> String {
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
pub(super) fn issuer_of(sig: &Signature) -> String {
    let issuers = sig.get_issuers();
    issuers
        .iter()
        .find(|h| matches!(h, KeyHandle::Fingerprint(_)))
        .or_else(|| issuers.first())
        .map(|h| h.to_hex())
        .unwrap_or_else(|| "(unnamed: the signature has no issuer)".into())
}
