//! The admins' keyring: certificates from armored or binary files.

use crate::inbound::signature::SignatureError;
use openpgp::cert::CertParser;
use openpgp::parse::Parse;
use openpgp::{Cert, KeyHandle};
use sequoia_openpgp as openpgp;

use std::path::PathBuf;

/// The admins' OpenPGP certificates, against which signatures are checked.
///
/// Only public key material is kept. Certificates that appear more than
/// once (in one file or across files) are merged.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    pub(super) certs: Vec<Cert>,
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

    /// Whether `address` is the mail address of a user ID of one of the
    /// certificates (compared without regard to case): an admin's own
    /// address, safe to answer even when the mail is not signed.
    pub fn has_address(&self, address: &str) -> bool {
        let address = address.trim();
        !address.is_empty()
            && self.certs.iter().any(|c| {
                c.userids().any(|u| {
                    u.userid()
                        .email()
                        .ok()
                        .flatten()
                        .is_some_and(|e| e.eq_ignore_ascii_case(address))
                })
            })
    }

    pub(super) fn add(&mut self, cert: Cert) -> Result<(), SignatureError> {
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
    pub(super) fn matching(&self, ids: &[KeyHandle]) -> Vec<Cert> {
        self.certs
            .iter()
            .filter(|c| c.keys().key_handles(ids.iter()).next().is_some())
            .cloned()
            .collect()
    }
}

/// Parses every certificate in `data`; errors as text for the caller to
/// prefix with where the data came from.
pub(super) fn parse_certs(data: &[u8]) -> Result<Vec<Cert>, String> {
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
