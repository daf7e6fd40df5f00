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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_order() {
        assert_eq!(compare("1.0-1", "1.0-1+b1"), Ordering::Less);
        assert_eq!(compare("1:0.1", "9.9"), Ordering::Greater);
        assert_eq!(compare("2.0~rc1", "2.0"), Ordering::Less);
        assert_eq!(strip_epoch("1:2.0-1"), "2.0-1");
        assert_eq!(strip_epoch("2.0-1"), "2.0-1");
    }
}
