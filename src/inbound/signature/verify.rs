//! Running sequoia's detached verifier over the exact signed bytes, with
//! buildmail's helper collecting what [`super::rules`] needs.

use crate::inbound::signature::judge;
use crate::inbound::signature::Keyring;
use crate::inbound::signature::Policy;
use crate::inbound::signature::SignatureError;
use crate::inbound::signature::Verified;

use openpgp::parse::stream::{DetachedVerifierBuilder, MessageStructure, VerificationHelper};
use openpgp::parse::Parse;
use openpgp::policy::StandardPolicy;
use openpgp::types::HashAlgorithm;
use openpgp::{Cert, KeyHandle};
use sequoia_openpgp as openpgp;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What [`Helper::check`] learnt from a good signature.
#[derive(Debug)]
pub(super) struct Facts {
    pub(super) signer_fingerprint: String,
    pub(super) signer_uid: Option<String>,
    pub(super) signing_key_fingerprint: String,
    pub(super) created: i64,
    pub(super) hash_algo: HashAlgorithm,
    pub(super) text_mode: bool,
}

impl Facts {
    pub(super) fn into_verified(
        self,
        text: Vec<u8>,
        ignored: Vec<String>,
        block: &[u8],
    ) -> Verified {
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
pub(super) fn sha256_canonical_text(text: &[u8]) -> String {
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
pub(super) type Outcome = RefCell<Option<Result<Facts, SignatureError>>>;

/// The VerificationHelper: hands sequoia the matching certificates and
/// applies buildmail's rules in `check`.
pub(super) struct Helper<'a> {
    pub(super) keyring: &'a Keyring,
    pub(super) policy: &'a Policy,
    pub(super) standard: &'a StandardPolicy<'a>,
    pub(super) now: i64,
    pub(super) outcome: &'a Outcome,
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
pub(super) fn to_system_time(t: i64) -> SystemTime {
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
pub(super) fn reference_time(policy: &Policy, now: i64) -> SystemTime {
    let base = to_system_time(now);
    base.checked_add(policy.max_future).unwrap_or(base)
}

/// SystemTime to Unix seconds (OpenPGP times fit in u32).
pub(super) fn to_unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// The result of running sequoia, mapped to ours: the helper's refusal
/// if `check` refused, sequoia's error as `Malformed` if it failed before
/// or after, the facts if all went well.
pub(super) fn settle<T>(
    run: openpgp::Result<T>,
    outcome: Outcome,
) -> Result<(T, Facts), SignatureError> {
    match (run, outcome.into_inner()) {
        (_, Some(Err(e))) => Err(e),
        (Ok(v), Some(Ok(facts))) => Ok((v, facts)),
        (Err(e), _) => Err(SignatureError::Malformed(format!("{e:#}"))),
        (Ok(_), None) => Err(SignatureError::NoSignature),
    }
}

/// Verifies a detached `signature` over `data` with sequoia's
/// DetachedVerifier.
pub(super) fn run_detached_verifier(
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
    if has_v3_signature(signature) {
        return Err(SignatureError::Malformed(
            "it is an OpenPGP v3 signature, refused as insecure since 2021 \
             (the standard policy); sign with a current GnuPG (v4 or v6 signatures)"
                .into(),
        ));
    }
    let run = DetachedVerifierBuilder::from_bytes(signature)
        .and_then(|b| b.with_policy(&standard, Some(reference_time(policy, now)), helper))
        .and_then(|mut v| v.verify_bytes(data));
    settle(run, outcome).map(|((), facts)| facts)
}

/// Whether `signature` (armored or binary) holds a version 3 signature
/// packet, which the standard policy refuses with a generic message.
pub(super) fn has_v3_signature(signature: &[u8]) -> bool {
    openpgp::PacketPile::from_bytes(signature).is_ok_and(|pile| {
        pile.descendants()
            .any(|p| matches!(p, openpgp::Packet::Signature(s) if s.version() == 3))
    })
}
