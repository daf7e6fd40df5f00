//! An archive's `InRelease` (or `Release` + `Release.gpg`), verified as
//! apt verifies it: at least one good signature by a key of the archive
//! keyring that is valid now (not expired, not revoked, not from the
//! future). Other signatures on the file (a key the keyring lacks, an
//! expired one) neither help nor hurt, as with gpgv under apt: Debian signs
//! each Release with several keys.

use sequoia_openpgp as openpgp;

use openpgp::parse::stream::{
    DetachedVerifierBuilder, MessageLayer, MessageStructure, VerificationHelper, VerifierBuilder,
};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::{Cert, KeyHandle};
use std::io::Read;

use super::verify::to_system_time;
use super::Keyring;

/// Allowed clock skew for a signature's creation time.
const MAX_FUTURE: i64 = 600;

/// Why a Release signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseSignatureError {
    /// No signature by a key of the keyring that is valid now.
    #[error("no good signature by a valid key of the archive keyring: {0}; check `archive.release_keyrings` (Debian: /usr/share/keyrings/debian-archive-keyring.gpg)")]
    NotTrusted(String),
    /// Not a signed document at all, or a broken one.
    #[error("not a valid OpenPGP-signed Release: {0}")]
    Malformed(String),
}

/// What the helper learnt.
#[derive(Default)]
struct Found {
    /// Why signatures were not good, for the error.
    problems: Vec<String>,
    /// The primary fingerprint of a good signer.
    good: Option<String>,
}

struct Helper<'a> {
    keyring: &'a Keyring,
    now: i64,
    found: &'a std::cell::RefCell<Found>,
}

impl VerificationHelper for Helper<'_> {
    fn get_certs(&mut self, ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(self.keyring.matching(ids))
    }

    fn check(&mut self, structure: MessageStructure) -> openpgp::Result<()> {
        let policy = StandardPolicy::new();
        let now = to_system_time(self.now);
        let mut found = self.found.borrow_mut();
        for layer in structure.into_iter() {
            let MessageLayer::SignatureGroup { results } = layer else {
                continue;
            };
            for r in results {
                match r {
                    Ok(good) => {
                        let created = good
                            .sig
                            .signature_creation_time()
                            .map(super::verify::to_unix)
                            .unwrap_or(i64::MIN);
                        if created > self.now + MAX_FUTURE {
                            found
                                .problems
                                .push("a signature is dated in the future".into());
                            continue;
                        }
                        let cert = good.ka.cert();
                        let handle = good.ka.key().key_handle();
                        // The key must be valid now, not only when it signed.
                        let valid = cert.with_policy(&policy, now).is_ok_and(|vc| {
                            vc.revocation_status()
                                == openpgp::types::RevocationStatus::NotAsFarAsWeKnow
                                && vc.alive().is_ok()
                                && vc
                                    .keys()
                                    .key_handle(handle.clone())
                                    .for_signing()
                                    .alive()
                                    .revoked(false)
                                    .next()
                                    .is_some()
                        });
                        if valid {
                            found.good = Some(cert.fingerprint().to_hex());
                        } else {
                            found.problems.push(format!(
                                "key {} is expired or revoked",
                                cert.fingerprint().to_hex()
                            ));
                        }
                    }
                    Err(e) => found.problems.push(e.to_string()),
                }
            }
        }
        if found.good.is_some() {
            Ok(())
        } else {
            Err(anyhow::anyhow!("no good signature"))
        }
    }
}

fn settle(
    run: openpgp::Result<Vec<u8>>,
    helper_good: Option<String>,
    problems: Vec<String>,
) -> Result<(Vec<u8>, String), ReleaseSignatureError> {
    match (run, helper_good) {
        (Ok(text), Some(fpr)) => Ok((text, fpr)),
        (_, None) if !problems.is_empty() => {
            Err(ReleaseSignatureError::NotTrusted(problems.join("; ")))
        }
        (Err(e), _) => Err(ReleaseSignatureError::Malformed(format!("{e:#}"))),
        (Ok(_), None) => Err(ReleaseSignatureError::NotTrusted("no signature".into())),
    }
}

/// Runs sequoia over the Release with a fresh [`Helper`] (`verify` builds
/// the verifier and reads it), turning a panic inside the parser into a
/// refusal.
fn run(
    keyring: &Keyring,
    now: i64,
    verify: impl FnOnce(&StandardPolicy, Helper<'_>, std::time::SystemTime) -> openpgp::Result<Vec<u8>>,
) -> Result<(Vec<u8>, String), ReleaseSignatureError> {
    let policy = StandardPolicy::new();
    let found = std::cell::RefCell::new(Found::default());
    let helper = Helper {
        keyring,
        now,
        found: &found,
    };
    let at = to_system_time(now + MAX_FUTURE);
    let run =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| verify(&policy, helper, at)))
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the OpenPGP parser panicked")));
    let found = found.into_inner();
    settle(run, found.good, found.problems)
}

/// Verifies a clearsigned `InRelease`; returns its signed text (the
/// Release) and the primary fingerprint of a key that signed it well.
pub fn verify_inrelease(
    data: &[u8],
    keyring: &Keyring,
    now: i64,
) -> Result<(Vec<u8>, String), ReleaseSignatureError> {
    run(keyring, now, |policy, helper, at| {
        let mut v = VerifierBuilder::from_bytes(data)?.with_policy(policy, Some(at), helper)?;
        let mut text = Vec::new();
        v.read_to_end(&mut text)?;
        Ok(text)
    })
}

/// Verifies `Release` with its detached `Release.gpg`.
pub fn verify_release_gpg(
    release: &[u8],
    signature: &[u8],
    keyring: &Keyring,
    now: i64,
) -> Result<String, ReleaseSignatureError> {
    run(keyring, now, |policy, helper, at| {
        let mut v = DetachedVerifierBuilder::from_bytes(signature)?.with_policy(
            policy,
            Some(at),
            helper,
        )?;
        v.verify_bytes(release)?;
        Ok(Vec::new())
    })
    .map(|(_, f)| f)
}
