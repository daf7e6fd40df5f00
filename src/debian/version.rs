//! Debian version ordering and the epoch rule, through `debversion`.

use std::cmp::Ordering;

/// Compares two Debian versions with dpkg's ordering. Versions that do not
/// parse are compared as plain strings (and reported equal only if identical).
pub fn compare(a: &str, b: &str) -> Ordering {
    match (
        a.parse::<debversion::Version>(),
        b.parse::<debversion::Version>(),
    ) {
        (Ok(va), Ok(vb)) => va.cmp(&vb),
        _ => a.cmp(b),
    }
}

/// `version` without its epoch (`1:2.0-1` → `2.0-1`): file names never
/// carry it. A version without one is returned as it is.
pub fn strip_epoch(version: &str) -> &str {
    version.split_once(':').map_or(version, |(_, rest)| rest)
}

/// A build version split into its source version and binNMU number:
/// `1.0-1+b2` → (`1.0-1`, `Some(2)`); a version without a `+bN` suffix
/// is its own source version.
pub fn split_binnmu(version: &str) -> (&str, Option<u32>) {
    if let Some((base, n)) = version.rsplit_once("+b") {
        if !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = n.parse() {
                return (base, Some(n));
            }
        }
    }
    (version, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binnmu_versions() {
        assert_eq!(split_binnmu("1.0-1+b2"), ("1.0-1", Some(2)));
        assert_eq!(split_binnmu("1:2.3+dfsg-1+b12"), ("1:2.3+dfsg-1", Some(12)));
        assert_eq!(split_binnmu("1.0+build1"), ("1.0+build1", None));
        assert_eq!(split_binnmu("1.0-1"), ("1.0-1", None));
    }

    #[test]
    fn dpkg_order() {
        assert_eq!(compare("1.0-1", "1.0-1+b1"), Ordering::Less);
        assert_eq!(compare("1:0.1", "9.9"), Ordering::Greater);
        assert_eq!(compare("2.0~rc1", "2.0"), Ordering::Less);
        assert_eq!(strip_epoch("1:2.0-1"), "2.0-1");
        assert_eq!(strip_epoch("2.0-1"), "2.0-1");
    }
}
