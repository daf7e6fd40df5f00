//! The keys sled stores records under: byte strings whose order is the
//! order of the scans that read them. Only this backend knows them.

use crate::model::{BuildKey, SignatureUse};

/// A build's key: `src \0 dist \0 arch` (source first, so all builds of a
/// package are one prefix scan).
pub(crate) fn build(key: &BuildKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.source.len() + key.dist.len() + key.arch.len() + 2);
    k.extend_from_slice(key.source.as_bytes());
    k.push(0);
    k.extend_from_slice(key.dist.as_bytes());
    k.push(0);
    k.extend_from_slice(key.arch.as_bytes());
    k
}

/// Decodes [`build`].
pub(crate) fn build_from(b: &[u8]) -> Option<BuildKey> {
    let mut it = b.split(|&c| c == 0);
    let source = String::from_utf8(it.next()?.to_vec()).ok()?;
    let dist = String::from_utf8(it.next()?.to_vec()).ok()?;
    let arch = String::from_utf8(it.next()?.to_vec()).ok()?;
    Some(BuildKey { dist, arch, source })
}

/// A signature's replay record's key: fingerprint, creation time, the
/// signed text's hash.
pub(crate) fn signature(s: &SignatureUse) -> Vec<u8> {
    let mut k = Vec::with_capacity(s.fingerprint.len() + s.signed_sha256.len() + 10);
    k.extend_from_slice(s.fingerprint.as_bytes());
    k.push(0);
    k.extend_from_slice(&s.created.to_be_bytes());
    k.push(0);
    k.extend_from_slice(s.signed_sha256.as_bytes());
    k
}

/// A notice's key: source, version, dist.
pub(crate) fn notice(source: &str, version: &str, dist: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + version.len() + dist.len() + 2);
    for (i, part) in [source, version, dist].iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(part.as_bytes());
    }
    k
}
