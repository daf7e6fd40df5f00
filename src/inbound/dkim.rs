//! DKIM verification of the archive's mail (RFC 6376), by `mail-auth`.
//!
//! Where the archive's mail carries a DKIM signature (most list servers
//! and many dak installations sign outgoing mail), an ACCEPTED or REJECTED
//! answer can be authenticated without OpenPGP: [`DkimVerifier::verify`]
//! accepts a mail when one of its `DKIM-Signature` headers
//!
//! * verifies (body hash and header signature: `mail-auth`'s
//!   `verify_dkim`, with RSA-SHA256 or Ed25519-SHA256; RSA-SHA1 is
//!   refused by buildmail even where the library would accept it),
//! * is made by one of the configured signing domains (`d=`, exactly),
//! * signs the `From` and `Subject` headers (`h=`): the Subject is what
//!   names the upload and the verdict, so an unsigned Subject could be
//!   rewritten,
//! * covers the whole body (no `l=`: text appended after a partial body
//!   hash would be read as the archive's),
//! * whose `From` domain is the signing domain or below it (alignment, as
//!   DMARC's relaxed mode), and
//! * has not expired (`x=`) by the injected clock.
//!
//! Keys come from the configuration first (`archive.dkim_keys`, pinned:
//! no DNS, for farms without resolvers or that distrust them), then, when
//! `archive.dkim_dns` allows, from DNS (`<selector>._domainkey.<domain>`
//! TXT) through the system's resolver or `archive.dkim_nameservers`. A
//! lookup that fails for a reason that may pass (a timeout, SERVFAIL) is
//! [`DkimVerdict::Temporary`]: the mail is not acknowledged and the MTA
//! delivers it again later, so a REJECTED is never lost to a DNS outage.
//!
//! The verifier holds no state between mails; the DNS lookups run on a
//! small current-thread tokio runtime made for the call (archive answers
//! are a handful a day), never while the database is held.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Instant;

use mail_auth::common::crypto::Algorithm;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::hickory_resolver::config::{
    NameServerConfig, NameServerConfigGroup, ProtocolConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::{
    AuthenticatedMessage, DkimResult, Error as DkimError, MessageAuthenticator, Parameters,
    ResolverCache, Txt,
};
use sha2::{Digest, Sha256};

pub use crate::config::DkimRules;

/// A signature that authenticated a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimPass {
    /// The signing domain (`d=`), lower case.
    pub domain: String,
    /// The selector (`s=`).
    pub selector: String,
    /// The signature's timestamp (`t=`, Unix seconds; 0 when absent).
    pub timestamp: i64,
    /// SHA-256 (hex) of the signature value (`b=`): the replay key (the
    /// same signature re-sent under headers it does not cover is the same
    /// answer again).
    pub signature_sha256: String,
}

/// The outcome of checking a mail's DKIM signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DkimVerdict {
    /// A signature that meets every rule.
    Pass(DkimPass),
    /// None does: why, naming each signature's problem.
    Refused(String),
    /// A key could not be looked up for a reason that may pass (DNS
    /// timeout, SERVFAIL) and no signature passed: try again later.
    Temporary(String),
}

/// Verifies the archive's DKIM signatures under [`DkimRules`].
pub struct DkimVerifier {
    rules: DkimRules,
    /// The pinned keys, parsed, by lower-case fully qualified name.
    pinned: PinnedKeys,
}

impl std::fmt::Debug for DkimVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimVerifier")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// The pinned keys as `mail-auth`'s TXT cache: looked up before DNS.
/// With DNS off, every other name answers "no key", so nothing is
/// resolved.
struct PinnedKeys {
    keys: HashMap<String, Txt>,
    dns: bool,
}

impl ResolverCache<String, Txt> for PinnedKeys {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        String: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.keys.get(name) {
            Some(t) => Some(t.clone()),
            None if self.dns => None,
            None => Some(Txt::Error(DkimError::InvalidRecordType)),
        }
    }

    fn remove<Q>(&self, _: &Q) -> Option<Txt>
    where
        String: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        None
    }

    fn insert(&self, _: String, _: Txt, _: Instant) {}
}

/// `name` as a fully qualified, lower-case DNS name (a trailing dot).
fn fqdn(name: &str) -> String {
    let mut n = name.trim().to_ascii_lowercase();
    if !n.ends_with('.') {
        n.push('.');
    }
    n
}

impl DkimVerifier {
    /// A verifier for `rules`. `Err`: a pinned key that is not a DKIM key
    /// record, or whose name is not `<selector>._domainkey.<domain>`.
    pub fn new(rules: &DkimRules) -> Result<DkimVerifier, String> {
        let mut keys = HashMap::new();
        for (name, record) in &rules.keys {
            if !name.contains("._domainkey.") {
                return Err(format!(
                    "archive.dkim_keys: {name:?} is not a DKIM key name; write <selector>._domainkey.<domain>"
                ));
            }
            let key = DomainKey::parse(record.as_bytes()).map_err(|e| {
                format!("archive.dkim_keys: the key of {name} is not a DKIM key record (v=DKIM1; k=rsa|ed25519; p=<base64>): {e}")
            })?;
            keys.insert(fqdn(name), Txt::DomainKey(Arc::new(key)));
        }
        Ok(DkimVerifier {
            rules: DkimRules {
                domains: rules
                    .domains
                    .iter()
                    .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                    .collect(),
                ..rules.clone()
            },
            pinned: PinnedKeys {
                keys,
                dns: rules.dns,
            },
        })
    }

    /// Whether DKIM can authenticate anything (a signing domain is set).
    pub fn is_configured(&self) -> bool {
        !self.rules.domains.is_empty()
    }

    /// Checks `raw` (the whole mail as received) at `now` (Unix seconds);
    /// `from` is its From address.
    pub fn verify(&self, raw: &[u8], from: Option<&str>, now: i64) -> DkimVerdict {
        let Some(message) = AuthenticatedMessage::parse(raw) else {
            return DkimVerdict::Refused("the mail's headers could not be read for DKIM".into());
        };
        if !raw_has_dkim(raw) {
            return DkimVerdict::Refused("the mail is not DKIM-signed".into());
        }
        let outputs = match self.run(&message) {
            Ok(o) => o,
            Err(e) => return DkimVerdict::Temporary(e),
        };
        let from_domain = from
            .and_then(|f| f.rsplit_once('@'))
            .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase());
        let mut refusals = Vec::new();
        let mut temporary = Vec::new();
        for out in &outputs {
            let Some(sig) = out.signature() else {
                refusals.push(format!("a DKIM-Signature {}", describe(out.result())));
                continue;
            };
            let label = format!("d={} s={}", sig.d, sig.s);
            match out.result() {
                DkimResult::Pass => {}
                DkimResult::TempError(e)
                | DkimResult::PermError(e @ DkimError::DnsRecordNotFound(_))
                    if is_temporary(e) =>
                {
                    temporary.push(format!("{label}: the key could not be looked up ({e})"));
                    continue;
                }
                DkimResult::PermError(DkimError::InvalidRecordType) if !self.rules.dns => {
                    refusals.push(format!(
                        "{label}: no key pinned for {}._domainkey.{} (archive.dkim_keys) and archive.dkim_dns is off",
                        sig.s, sig.d
                    ));
                    continue;
                }
                other => {
                    refusals.push(format!("{label}: {}", describe(other)));
                    continue;
                }
            }
            match self.judge(sig, from_domain.as_deref(), now) {
                Ok(()) => {
                    return DkimVerdict::Pass(DkimPass {
                        domain: sig.d.to_ascii_lowercase(),
                        selector: sig.s.clone(),
                        timestamp: i64::try_from(sig.t).unwrap_or(i64::MAX),
                        signature_sha256: hex::encode(Sha256::digest(&sig.b)),
                    })
                }
                Err(why) => refusals.push(format!("{label}: {why}")),
            }
        }
        if !temporary.is_empty() {
            return DkimVerdict::Temporary(temporary.join("; "));
        }
        DkimVerdict::Refused(if refusals.is_empty() {
            "the mail is not DKIM-signed".into()
        } else {
            format!("no DKIM signature counts: {}", refusals.join("; "))
        })
    }

    /// buildmail's rules on a signature `mail-auth` verified.
    fn judge(
        &self,
        sig: &mail_auth::dkim::Signature,
        from_domain: Option<&str>,
        now: i64,
    ) -> Result<(), String> {
        let d = sig.d.trim_end_matches('.').to_ascii_lowercase();
        if !self.rules.domains.contains(&d) {
            return Err(format!(
                "the signing domain {d} is not one of archive.dkim_domains"
            ));
        }
        if matches!(sig.a, Algorithm::RsaSha1) {
            return Err("signed with RSA-SHA1, which is refused (SHA-1 is broken)".into());
        }
        for header in ["from", "subject"] {
            if !sig.h.iter().any(|h| h.eq_ignore_ascii_case(header)) {
                return Err(format!(
                    "the signature does not cover the {header} header, so it could have been rewritten"
                ));
            }
        }
        if sig.l != 0 {
            return Err(format!(
                "the signature covers only the first {} bytes of the body (l=), so text could have been appended",
                sig.l
            ));
        }
        match from_domain {
            Some(f) if f == d || f.ends_with(&format!(".{d}")) => {}
            Some(f) => return Err(format!("the From domain {f} is not {d} or below it")),
            None => return Err("the mail has no From address".into()),
        }
        if sig.x != 0 && i64::try_from(sig.x).unwrap_or(i64::MAX) < now {
            return Err("the signature has expired (x=)".into());
        }
        Ok(())
    }

    /// Runs `mail-auth`'s verification: pinned keys first, DNS (when
    /// allowed) on a current-thread runtime made for this call. `Err`: the
    /// runtime or resolver could not be set up (temporary).
    fn run<'x>(
        &'x self,
        message: &'x AuthenticatedMessage<'x>,
    ) -> Result<Vec<mail_auth::DkimOutput<'x>>, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the DNS runtime: {e}"))?;
        runtime.block_on(async {
            let authenticator = self.authenticator()?;
            Ok(authenticator
                .verify_dkim(Parameters::new(message).with_txt_cache(&self.pinned))
                .await)
        })
    }

    /// The resolver: the configured name servers, or the system's. With
    /// DNS off it is never asked (the pinned cache answers every name).
    fn authenticator(&self) -> Result<MessageAuthenticator, String> {
        let mut opts = ResolverOpts::default();
        opts.timeout = std::time::Duration::from_secs(5);
        opts.attempts = 2;
        if !self.rules.dns || !self.rules.nameservers.is_empty() {
            let servers: Vec<NameServerConfig> = self
                .rules
                .nameservers
                .iter()
                .flat_map(|addr| {
                    [
                        NameServerConfig::new(*addr, ProtocolConfig::Udp),
                        NameServerConfig::new(*addr, ProtocolConfig::Tcp),
                    ]
                })
                .collect();
            let config =
                ResolverConfig::from_parts(None, Vec::new(), NameServerConfigGroup::from(servers));
            return MessageAuthenticator::new(config, opts)
                .map_err(|e| format!("cannot set up the DNS resolver: {e}"));
        }
        MessageAuthenticator::new_system_conf()
            .map_err(|e| format!("cannot read the system's DNS configuration (/etc/resolv.conf): {e}; set archive.dkim_nameservers"))
    }
}

/// Whether the header section of `raw` has a DKIM-Signature field.
fn raw_has_dkim(raw: &[u8]) -> bool {
    let head = &raw[..header_end(raw)];
    head.split(|&b| b == b'\n')
        .any(|line| line.len() >= 15 && line[..15].eq_ignore_ascii_case(b"dkim-signature:"))
}

/// The offset of the end of the header section (the blank line), or the
/// whole mail when there is none.
fn header_end(raw: &[u8]) -> usize {
    memchr::memmem::find(raw, b"\n\n")
        .map(|i| i + 2)
        .into_iter()
        .chain(memchr::memmem::find(raw, b"\r\n\r\n").map(|i| i + 4))
        .min()
        .unwrap_or(raw.len())
}

/// Whether a lookup error may pass: anything but "no such name" and "no
/// such record" (a timeout, SERVFAIL, REFUSED).
fn is_temporary(e: &DkimError) -> bool {
    use mail_auth::hickory_resolver::proto::op::ResponseCode;
    match e {
        DkimError::DnsRecordNotFound(code) => {
            !matches!(code, ResponseCode::NXDomain | ResponseCode::NoError)
        }
        _ => true,
    }
}

/// A failed result, in words.
fn describe(result: &DkimResult) -> String {
    match result {
        DkimResult::Pass => "passed".into(),
        DkimResult::Fail(e) => format!("does not verify ({e})"),
        DkimResult::Neutral(DkimError::SignatureLength) => {
            "covers only the first part of the body (l=), so text could have been appended".into()
        }
        DkimResult::Neutral(DkimError::FailedBodyHashMatch) => {
            "does not verify: the body is not the one that was signed".into()
        }
        DkimResult::Neutral(e) => format!("cannot be checked ({e})"),
        DkimResult::PermError(e) => format!("its key cannot be used ({e})"),
        DkimResult::TempError(e) => format!("its key could not be looked up ({e})"),
        DkimResult::None => "no signature".into(),
    }
}
