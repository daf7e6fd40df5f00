//! `.changes` files (deb822), parsed with deb822-lossless.
//!
//! Tolerant of the quirks of real `.changes` files: folded multi-line
//! fields, trailing white space, CRLF line ends, `Source: src (ver)`, raw
//! UTF-8, Format 1.7 (only `Files:`, MD5) and 1.8 (`Checksums-Sha1:`,
//! `Checksums-Sha256:`). Strict about what buildmail relies on: the required
//! fields and every `Files:` / `Checksums-*:` line.
//!
//! This module never looks at OpenPGP armor: the text given to [`parse`] must
//! already be the verified, unwrapped content.

use deb822_lossless::Deb822;
use serde::{Deserialize, Serialize};

/// A file listed in a `.changes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesFile {
    /// File name as listed.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// MD5 from `Files:`.
    pub md5: Option<String>,
    /// SHA-1 from `Checksums-Sha1:`.
    pub sha1: Option<String>,
    /// SHA-256 from `Checksums-Sha256:`.
    pub sha256: Option<String>,
    /// Section from `Files:` (`libs`, `non-free/net`, ...).
    pub section: Option<String>,
    /// Priority from `Files:`.
    pub priority: Option<String>,
}

/// The fields of a `.changes` buildmail uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// `Source:` (a `src (ver)` form keeps only the name).
    pub source: String,
    /// `Version:`.
    pub version: String,
    /// `Architecture:` split on white space.
    pub architectures: Vec<String>,
    /// `Distribution:` split on white space.
    pub distributions: Vec<String>,
    /// `Maintainer:`.
    pub maintainer: Option<String>,
    /// `Changed-By:`.
    pub changed_by: Option<String>,
    /// `Date:`.
    pub date: Option<String>,
    /// Files, with the checksums of every checksum field merged, in the
    /// order of `Files:` (files only listed in a `Checksums-*:` field
    /// follow).
    pub files: Vec<ChangesFile>,
}

/// Why a `.changes` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    /// Not deb822.
    #[error("the .changes is not valid deb822: {0}")]
    Syntax(String),
    /// A required field is missing.
    #[error("the .changes has no {0} field")]
    Missing(&'static str),
    /// A Files / Checksums line is malformed.
    #[error("malformed {field} line: {line:?}")]
    BadFileLine {
        /// The field.
        field: &'static str,
        /// The line.
        line: String,
    },
}

/// The checksum fields merged into [`ChangesFile`], with their digest
/// length in hex digits.
const CHECKSUM_FIELDS: [(&str, usize); 2] = [("Checksums-Sha1", 40), ("Checksums-Sha256", 64)];

/// Parses the text of an unsigned `.changes` (a clearsigned one must be
/// verified and unwrapped first).
///
/// Errors: [`ChangesError::Syntax`] when the text is not one deb822
/// paragraph (for example a continuation line before the first field),
/// [`ChangesError::Missing`] when `Source`, `Version`, `Architecture` or
/// `Distribution` is absent or empty, [`ChangesError::BadFileLine`] for a
/// malformed, duplicated or inconsistent `Files:` / `Checksums-*:` line.
pub fn parse(text: &str) -> Result<Changes, ChangesError> {
    let text = normalize(text);
    let parsed = Deb822::parse(&text);
    if !parsed.errors().is_empty() {
        return Err(ChangesError::Syntax(parsed.errors().join("; ")));
    }
    let deb822 = parsed.tree();
    let mut paragraphs = deb822.paragraphs();
    let para = paragraphs
        .next()
        .ok_or_else(|| ChangesError::Syntax("no fields".to_string()))?;
    if paragraphs.next().is_some() {
        return Err(ChangesError::Syntax(
            "more than one paragraph (a .changes has exactly one)".to_string(),
        ));
    }

    let field = |name: &str| -> Option<String> {
        para.get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };

    let source = field("Source")
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .ok_or(ChangesError::Missing("Source"))?;
    let version = field("Version").ok_or(ChangesError::Missing("Version"))?;
    let architectures = words(&field("Architecture").ok_or(ChangesError::Missing("Architecture"))?);
    let distributions = words(&field("Distribution").ok_or(ChangesError::Missing("Distribution"))?);

    let mut files: Vec<ChangesFile> = Vec::new();
    if let Some(value) = para.get("Files") {
        for line in value_lines(&value) {
            let bad = || ChangesError::BadFileLine {
                field: "Files",
                line: line.to_string(),
            };
            let [md5, size, section, priority, name] = split_exact::<5>(line).ok_or_else(bad)?;
            if !is_hex(md5, 32) {
                return Err(bad());
            }
            let size = size.parse::<u64>().map_err(|_| bad())?;
            if files.iter().any(|f| f.name == name) {
                return Err(bad());
            }
            files.push(ChangesFile {
                name: name.to_string(),
                size,
                md5: Some(md5.to_ascii_lowercase()),
                sha1: None,
                sha256: None,
                section: Some(section.to_string()),
                priority: Some(priority.to_string()),
            });
        }
    }

    for (field_name, hex_len) in CHECKSUM_FIELDS {
        let Some(value) = para.get(field_name) else {
            continue;
        };
        for line in value_lines(&value) {
            let bad = || ChangesError::BadFileLine {
                field: field_name,
                line: line.to_string(),
            };
            let [hash, size, name] = split_exact::<3>(line).ok_or_else(bad)?;
            if !is_hex(hash, hex_len) {
                return Err(bad());
            }
            let size = size.parse::<u64>().map_err(|_| bad())?;
            let index = match files.iter().position(|f| f.name == name) {
                Some(index) => index,
                None => {
                    files.push(ChangesFile {
                        name: name.to_string(),
                        size,
                        md5: None,
                        sha1: None,
                        sha256: None,
                        section: None,
                        priority: None,
                    });
                    files.len() - 1
                }
            };
            let file = files.get_mut(index).ok_or_else(bad)?;
            let slot = if hex_len == 40 {
                &mut file.sha1
            } else {
                &mut file.sha256
            };
            if file.size != size || slot.is_some() {
                return Err(bad());
            }
            *slot = Some(hash.to_ascii_lowercase());
        }
    }

    Ok(Changes {
        source,
        version,
        architectures,
        distributions,
        maintainer: field("Maintainer"),
        changed_by: field("Changed-By"),
        date: field("Date"),
        files,
    })
}

/// CRLF and CR line ends to LF, trailing white space of every line removed
/// (an all-blank line becomes the empty paragraph separator it means), and
/// leading blank lines dropped.
fn normalize(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len() + 1);
    for line in text.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim_start_matches('\n').to_string()
}

fn words(value: &str) -> Vec<String> {
    value.split_whitespace().map(str::to_string).collect()
}

/// The non-empty lines of a (folded) field value.
fn value_lines(value: &str) -> impl Iterator<Item = &str> {
    value.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// Splits a line into exactly `N` white-space separated tokens.
fn split_exact<const N: usize>(line: &str) -> Option<[&str; N]> {
    let mut tokens = line.split_whitespace();
    let mut out = [""; N];
    for slot in out.iter_mut() {
        *slot = tokens.next()?;
    }
    if tokens.next().is_some() {
        return None;
    }
    Some(out)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_exact_counts_tokens() {
        assert_eq!(split_exact::<3>("a  b\tc"), Some(["a", "b", "c"]));
        assert_eq!(split_exact::<3>("a b"), None);
        assert_eq!(split_exact::<3>("a b c d"), None);
    }

    #[test]
    fn normalize_strips_trailing_space_and_crlf() {
        assert_eq!(normalize("\n\nA: b \r\n c\t\r\n"), "A: b\n c\n");
    }
}
