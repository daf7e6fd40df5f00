//! A suite's `Release` file (the signed text of `InRelease`): its date,
//! validity and the SHA256 of every index it lists, which is all `sync`
//! trusts an index by (apt's secure-apt rules).

use std::collections::BTreeMap;

/// One index the Release lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// The fields of a Release file `sync` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// `Suite:` (e.g. `unstable`), if given.
    pub suite: Option<String>,
    /// `Codename:` (e.g. `sid`), if given.
    pub codename: Option<String>,
    /// `Date:`, Unix seconds.
    pub date: i64,
    /// `Valid-Until:`, Unix seconds, if given.
    pub valid_until: Option<i64>,
    /// The `SHA256:` list, by path relative to the suite's directory
    /// (`main/source/Sources.xz`).
    pub sha256: BTreeMap<String, IndexFile>,
}

/// Why a Release file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReleaseError {
    /// A field is missing or malformed.
    #[error("the Release file {0}")]
    Malformed(String),
}

/// Parses the text of a Release file.
pub fn parse(text: &str) -> Result<Release, ReleaseError> {
    let para = deb822_fast::borrowed::iter_paragraphs_borrowed(text)
        .next()
        .ok_or_else(|| ReleaseError::Malformed("is empty".into()))?
        .map_err(|e| ReleaseError::Malformed(format!("does not parse: {e}")))?;
    let date_field = |name: &str| -> Result<Option<i64>, ReleaseError> {
        match para.get_single(name) {
            None => Ok(None),
            Some(v) => parse_date(v)
                .map(Some)
                .ok_or_else(|| ReleaseError::Malformed(format!("has an unreadable {name}: {v:?}"))),
        }
    };
    let date =
        date_field("Date")?.ok_or_else(|| ReleaseError::Malformed("has no Date field".into()))?;
    let valid_until = date_field("Valid-Until")?;
    let mut sha256 = BTreeMap::new();
    let lines = para.get("SHA256").ok_or_else(|| {
        ReleaseError::Malformed(
            "has no SHA256 field (apt refuses MD5/SHA1-only Release files)".into(),
        )
    })?;
    for line in lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        let mut it = line.split_whitespace();
        let (Some(hash), Some(size), Some(path), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(ReleaseError::Malformed(format!(
                "has a malformed SHA256 line: {line:?}"
            )));
        };
        let size = size
            .parse()
            .map_err(|_| ReleaseError::Malformed(format!("has a malformed size in {line:?}")))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReleaseError::Malformed(format!(
                "has a malformed SHA256 in {line:?}"
            )));
        }
        sha256.insert(
            path.to_string(),
            IndexFile {
                sha256: hash.to_ascii_lowercase(),
                size,
            },
        );
    }
    Ok(Release {
        suite: para.get_single("Suite").map(str::to_string),
        codename: para.get_single("Codename").map(str::to_string),
        date,
        valid_until,
        sha256,
    })
}

/// Parses a Release date (RFC 2822, as `date -R -u` writes it; apt also
/// accepts `UTC` for `+0000`).
pub fn parse_date(v: &str) -> Option<i64> {
    let v = v.trim();
    let fixed = match v.strip_suffix(" UTC").or_else(|| v.strip_suffix(" GMT")) {
        Some(rest) => format!("{rest} +0000"),
        None => v.to_string(),
    };
    chrono::DateTime::parse_from_rfc2822(&fixed)
        .ok()
        .map(|d| d.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Origin: Test\nSuite: unstable\nCodename: sid\nDate: Sat, 21 Nov 2026 08:00:00 UTC\nValid-Until: Sat, 28 Nov 2026 08:00:00 UTC\nArchitectures: amd64 arm64\nComponents: main\nSHA256:\n 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 1234 main/source/Sources.xz\n fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210 99 main/binary-amd64/Packages\n";

    #[test]
    fn parses_dates_and_hashes() {
        let r = parse(TEXT).unwrap();
        assert_eq!(r.suite.as_deref(), Some("unstable"));
        assert_eq!(r.date, 1_795_248_000);
        assert_eq!(r.valid_until, Some(1_795_248_000 + 7 * 86400));
        assert_eq!(r.sha256["main/source/Sources.xz"].size, 1234);
        assert_eq!(r.sha256.len(), 2);
    }

    #[test]
    fn refuses_what_apt_refuses() {
        assert!(parse("Suite: x\n").is_err(), "no Date");
        assert!(
            parse("Date: Sat, 21 Nov 2026 08:00:00 UTC\n").is_err(),
            "no SHA256"
        );
        let bad = TEXT.replace("1234 main", "12x4 main");
        assert!(parse(&bad).is_err());
        let bad = TEXT.replace("0123456789abcdef0123", "0123456789abcdef012g");
        assert!(parse(&bad).is_err());
    }
}
