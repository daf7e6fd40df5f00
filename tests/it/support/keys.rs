//! Real OpenPGP keys and signatures for the signature tests and the
//! `verify` bench: certificates made with sequoia's `CertBuilder`
//! (Ed25519/Cv25519 or RSA-3072, optional expiry, revocation, signing
//! subkey), clearsigned and detached signatures made with sequoia's
//! streaming `Signer` (chosen hash algorithm and creation time), and the
//! same made by GnuPG in a throw-away `GNUPGHOME`.
//!
//! Self-contained (no `super::`), so that `benches/verify.rs` can include
//! it with `#[path]`.

#![allow(dead_code)] // each user needs a subset

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use buildmail::inbound::signature::Keyring;
use sequoia_openpgp as openpgp;

use openpgp::armor;
use openpgp::cert::prelude::*;
use openpgp::crypto::KeyPair;
use openpgp::packet::Signature;
use openpgp::policy::StandardPolicy;
use openpgp::serialize::stream::{Armorer, Message, Signer};
use openpgp::serialize::SerializeInto;
use openpgp::types::{HashAlgorithm, KeyFlags, ReasonForRevocation, SignatureType};
use openpgp::Cert;

/// The tests' "now": 2025-01-01 00:00:00 UTC.
pub const T0: i64 = 1_735_689_600;
/// One day in seconds.
pub const DAY: i64 = 86_400;

/// Unix seconds to SystemTime.
pub fn st(t: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(t).expect("time after 1970"))
}

/// Public-key algorithm of a generated certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    /// Ed25519 signing keys (Cv25519 for encryption subkeys).
    Ed25519,
    /// RSA-3072.
    Rsa3072,
}

/// How to make a certificate.
#[derive(Debug, Clone)]
pub struct KeySpec {
    /// Key algorithm.
    pub algo: Algo,
    /// User ID.
    pub uid: String,
    /// Creation time of the keys and self-signatures.
    pub created: i64,
    /// Validity period (expiry = created + validity).
    pub validity: Option<Duration>,
    /// Sign with a signing subkey; the primary is then certification-only.
    pub signing_subkey: bool,
}

impl Default for KeySpec {
    fn default() -> Self {
        KeySpec {
            algo: Algo::Ed25519,
            uid: "Buildd Admin <admin@example.org>".into(),
            created: T0 - 30 * DAY,
            validity: None,
            signing_subkey: false,
        }
    }
}

/// A generated certificate with its secret keys.
#[derive(Debug, Clone)]
pub struct TestKey {
    /// The certificate, secret key material included.
    pub cert: Cert,
    /// The hard revocation certificate `CertBuilder` made with it.
    pub revocation: Signature,
    /// The spec it was made from.
    pub spec: KeySpec,
}

/// Generates a certificate.
pub fn make_key(spec: KeySpec) -> TestKey {
    let suite = match spec.algo {
        Algo::Ed25519 => CipherSuite::Cv25519,
        Algo::Rsa3072 => CipherSuite::RSA3k,
    };
    let mut b = CertBuilder::new()
        .set_cipher_suite(suite)
        .set_creation_time(st(spec.created))
        .set_validity_period(spec.validity)
        .add_userid(spec.uid.as_str());
    if spec.signing_subkey {
        b = b
            .set_primary_key_flags(KeyFlags::empty().set_certification())
            .add_signing_subkey();
    } else {
        b = b.set_primary_key_flags(KeyFlags::empty().set_certification().set_signing());
    }
    let (cert, revocation) = b.generate().expect("generate certificate");
    TestKey {
        cert,
        revocation,
        spec,
    }
}

/// A default Ed25519 key, generated once per process.
pub fn shared_ed25519() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| make_key(KeySpec::default()))
}

/// A second, unrelated Ed25519 key, generated once per process.
pub fn shared_other() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        make_key(KeySpec {
            uid: "Someone Else <else@example.org>".into(),
            ..KeySpec::default()
        })
    })
}

/// An RSA-3072 key, generated once per process (slow-ish).
pub fn shared_rsa() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| {
        make_key(KeySpec {
            algo: Algo::Rsa3072,
            uid: "RSA Admin <rsa@example.org>".into(),
            ..KeySpec::default()
        })
    })
}

impl TestKey {
    /// Primary key fingerprint, upper-case hex.
    pub fn fingerprint(&self) -> String {
        self.cert.fingerprint().to_hex()
    }

    /// Fingerprint of the key that [`TestKey::signer`] signs with.
    pub fn signing_fingerprint(&self) -> String {
        self.signing_key().public().fingerprint().to_hex()
    }

    /// The public certificate, ASCII-armored.
    pub fn armored_public(&self) -> Vec<u8> {
        self.cert.armored().to_vec().expect("armor certificate")
    }

    /// The public certificate, binary (what `gpg --export` writes).
    pub fn binary_public(&self) -> Vec<u8> {
        self.cert.to_vec().expect("serialize certificate")
    }

    /// A keyring holding just this certificate (parsed from its armored
    /// export, as buildmail would read it).
    pub fn keyring(&self) -> Keyring {
        Keyring::from_bytes(&self.armored_public()).expect("keyring")
    }

    /// The same certificate with its hard revocation certificate merged
    /// in: revoked at all times, also for signatures made before.
    pub fn hard_revoked(&self) -> TestKey {
        let (cert, _) = self
            .cert
            .clone()
            .insert_packets(self.revocation.clone())
            .expect("merge revocation");
        TestKey {
            cert,
            ..self.clone()
        }
    }

    /// The certificate revoked as "retired" (a soft revocation) at `at`:
    /// signatures made before `at` stay valid at their creation time, so
    /// only the check "not revoked NOW" refuses them.
    pub fn soft_revoked(&self, at: i64) -> TestKey {
        let mut signer = self.primary_keypair();
        let rev = CertRevocationBuilder::new()
            .set_signature_creation_time(st(at))
            .expect("revocation time")
            .set_reason_for_revocation(ReasonForRevocation::KeyRetired, b"retired")
            .expect("revocation reason")
            .build(&mut signer, &self.cert, None)
            .expect("build revocation");
        let (cert, _) = self
            .cert
            .clone()
            .insert_packets(rev)
            .expect("merge revocation");
        TestKey {
            cert,
            ..self.clone()
        }
    }

    /// The certificate with its signing subkey revoked ("retired") at `at`.
    pub fn subkey_revoked(&self, at: i64) -> TestKey {
        let p = StandardPolicy::new();
        let mut signer = self.primary_keypair();
        let sub = self
            .cert
            .keys()
            .subkeys()
            .with_policy(&p, st(at))
            .for_signing()
            .next()
            .expect("a signing subkey");
        let rev = SubkeyRevocationBuilder::new()
            .set_signature_creation_time(st(at))
            .expect("revocation time")
            .set_reason_for_revocation(ReasonForRevocation::KeyRetired, b"retired")
            .expect("revocation reason")
            .build(&mut signer, &self.cert, sub.key(), None)
            .expect("build subkey revocation");
        let (cert, _) = self
            .cert
            .clone()
            .insert_packets(rev)
            .expect("merge revocation");
        TestKey {
            cert,
            ..self.clone()
        }
    }

    /// The secret signing key: the signing subkey if there is one, else the
    /// primary.
    fn signing_key(&self) -> KeyPair {
        if self.spec.signing_subkey {
            let sub = self
                .cert
                .keys()
                .subkeys()
                .secret()
                .next()
                .expect("signing subkey");
            sub.key().clone().into_keypair().expect("subkey keypair")
        } else {
            self.primary_keypair()
        }
    }

    /// A keypair for the signing key.
    pub fn signer(&self) -> KeyPair {
        self.signing_key()
    }

    /// A keypair for the primary key, whatever its flags.
    pub fn primary_keypair(&self) -> KeyPair {
        self.cert
            .primary_key()
            .key()
            .clone()
            .parts_into_secret()
            .expect("primary secret")
            .into_keypair()
            .expect("primary keypair")
    }
}

/// How to sign.
#[derive(Debug, Clone, Copy)]
pub struct SignSpec {
    /// Hash algorithm.
    pub hash: HashAlgorithm,
    /// Signature creation time.
    pub created: i64,
}

impl Default for SignSpec {
    fn default() -> Self {
        SignSpec {
            hash: HashAlgorithm::SHA512,
            created: T0,
        }
    }
}

impl SignSpec {
    /// Default spec signed at `created`.
    pub fn at(created: i64) -> Self {
        SignSpec {
            created,
            ..SignSpec::default()
        }
    }

    /// Default spec with hash `hash`.
    pub fn hash(hash: HashAlgorithm) -> Self {
        SignSpec {
            hash,
            ..SignSpec::default()
        }
    }
}

/// Clearsigns `text` with `key` (sequoia's Cleartext Signature Framework
/// writer: dash-escaping, `Hash:` header, armored signature).
pub fn clearsign(key: &TestKey, text: &[u8], spec: SignSpec) -> Vec<u8> {
    clearsign_with(vec![key.signer()], text, spec)
}

/// Clearsigns `text` with several keypairs at once (one signature each).
pub fn clearsign_with(signers: Vec<KeyPair>, text: &[u8], spec: SignSpec) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let message = Message::new(&mut out);
        let mut signers = signers.into_iter();
        let first = signers.next().expect("at least one signer");
        let mut s = Signer::new(message, first).expect("signer");
        for other in signers {
            s = s.add_signer(other).expect("add signer");
        }
        let mut w = s
            .hash_algo(spec.hash)
            .expect("hash algorithm")
            .creation_time(st(spec.created))
            .cleartext()
            .build()
            .expect("cleartext signer");
        w.write_all(text).expect("write text");
        w.finalize().expect("finalize");
    }
    out
}

/// A detached signature by `key` over `data`; armored or binary; binary
/// signature type unless `text_mode`.
pub fn detach_sign(key: &TestKey, data: &[u8], spec: SignSpec, armored: bool) -> Vec<u8> {
    detach_sign_with(vec![key.signer()], data, spec, armored, false)
}

/// Detached signature(s) by several keypairs.
pub fn detach_sign_with(
    signers: Vec<KeyPair>,
    data: &[u8],
    spec: SignSpec,
    armored: bool,
    text_mode: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut message = Message::new(&mut out);
        if armored {
            message = Armorer::new(message)
                .kind(armor::Kind::Signature)
                .build()
                .expect("armorer");
        }
        let mut signers = signers.into_iter();
        let first = signers.next().expect("at least one signer");
        let template = openpgp::packet::signature::SignatureBuilder::new(if text_mode {
            SignatureType::Text
        } else {
            SignatureType::Binary
        });
        let mut s = Signer::with_template(message, first, template).expect("signer");
        for other in signers {
            s = s.add_signer(other).expect("add signer");
        }
        let mut w = s
            .hash_algo(spec.hash)
            .expect("hash algorithm")
            .creation_time(st(spec.created))
            .detached()
            .build()
            .expect("detached signer");
        w.write_all(data).expect("write data");
        w.finalize().expect("finalize");
    }
    out
}

/// A `.changes`-like text of about `size` bytes (for realistic inputs).
pub fn changes_text(n: usize, size: usize) -> Vec<u8> {
    let mut t = format!(
        "Format: 1.8\nDate: Wed, 01 Jan 2025 00:00:00 +0000\nSource: pkg{n}\n\
         Binary: pkg{n}\nArchitecture: amd64\nVersion: 1.0-{n}\n\
         Distribution: unstable\nUrgency: medium\n\
         Maintainer: Buildd Admin <admin@example.org>\n\
         Changed-By: Buildd Admin <admin@example.org>\nDescription:\n \
         pkg{n} - test package\nChanges:\n pkg{n} (1.0-{n}) unstable; urgency=medium\n .\n\
         \x20  * Binary-only non-maintainer upload for amd64.\nChecksums-Sha256:\n"
    );
    let mut i = 0;
    while t.len() < size {
        t.push_str(&format!(
            " {:064x} {} pkg{n}_1.0-{n}_file{i}.deb\n",
            (n as u128) << 64 | i as u128,
            1000 + i
        ));
        i += 1;
    }
    t.into_bytes()
}

// ---------------------------------------------------------------------------
// GnuPG.

/// The message a test that needs gpg panics with when it is missing.
pub const NEEDS_GPG: &str = "this test needs gpg (GnuPG) installed";

/// True if `gpg --version` runs.
pub fn gpg_available() -> bool {
    Command::new("gpg")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Panics with [`NEEDS_GPG`] unless gpg is installed.
pub fn require_gpg() {
    assert!(gpg_available(), "{NEEDS_GPG}");
}

/// A throw-away GNUPGHOME holding one fresh Ed25519 signing key; its
/// gpg-agent is stopped when dropped.
pub struct GpgHome {
    dir: tempfile::TempDir,
}

impl GpgHome {
    /// Creates the home and the key `Test <t@example.org>`.
    pub fn new() -> GpgHome {
        require_gpg();
        let dir = tempfile::Builder::new()
            .prefix("bm-gpg")
            .tempdir()
            .expect("temporary GNUPGHOME");
        let home = GpgHome { dir };
        home.run(
            &[
                "--quick-gen-key",
                "Test <t@example.org>",
                "ed25519",
                "sign",
                "never",
            ],
            b"",
        );
        home
    }

    /// The GNUPGHOME path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs gpg in batch mode with an empty passphrase; returns stdout.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let mut child = Command::new("gpg")
            .env("GNUPGHOME", self.path())
            .args([
                "--batch",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect(NEEDS_GPG);
        child
            .stdin
            .take()
            .expect("gpg stdin")
            .write_all(stdin)
            .expect("write to gpg");
        let out = child.wait_with_output().expect("gpg output");
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The public certificate, armored (`gpg --armor --export`).
    pub fn export_armored(&self) -> Vec<u8> {
        self.run(&["--armor", "--export"], b"")
    }

    /// The public certificate, binary (`gpg --export`), e.g. for gpgv.
    pub fn export_binary(&self) -> Vec<u8> {
        self.run(&["--export"], b"")
    }
}

impl Default for GpgHome {
    fn default() -> Self {
        GpgHome::new()
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.path())
            .args(["--kill", "all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `gpg --clearsign` of `text` with a fresh key: (armored certificate,
/// clearsigned text). Needs gpg.
pub fn gpg_clearsign(text: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let home = GpgHome::new();
    let signed = home.run(&["--clearsign"], text);
    (home.export_armored(), signed)
}

/// `gpg --detach-sign --armor` of `data` with a fresh key: (armored
/// certificate, armored detached signature). Needs gpg.
pub fn gpg_detach_sign(data: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let home = GpgHome::new();
    let sig = home.run(&["--detach-sign", "--armor"], data);
    (home.export_armored(), sig)
}

/// True if `gpgv --version` runs.
pub fn gpgv_available() -> bool {
    Command::new("gpgv")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write file");
    p
}
