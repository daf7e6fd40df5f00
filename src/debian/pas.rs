//! Packages-arch-specific (P-a-s): the buildd list of packages that must
//! not be built on some architectures, whatever their `Architecture:`
//! field says.
//!
//! The format: one entry per line, `[%]<package>: <arch> [<arch> ...]`,
//! `#` starts a comment. `%` marks a source package; entries without it
//! name binary packages, which concern the archive's override of single
//! binaries and are not used to decide whether a source is built. The
//! architectures are either all positive (built only there) or all
//! negated with `!` (built everywhere but there); wildcards (`any-i386`,
//! `hurd-any`) are allowed.

use std::collections::HashMap;

use super::archs::token_matches;

/// The source entries of a P-a-s file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pas {
    sources: HashMap<String, Vec<String>>,
}

/// A line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Packages-arch-specific line {line}: {message}")]
pub struct PasError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl Pas {
    /// Parses a P-a-s file.
    pub fn parse(text: &str) -> Result<Pas, PasError> {
        let mut sources = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |message: String| PasError {
                line: i + 1,
                message,
            };
            let (name, archs) = line
                .split_once(':')
                .ok_or_else(|| err(format!("{line:?} has no ':'")))?;
            let archs: Vec<String> = archs.split_whitespace().map(str::to_string).collect();
            if archs.is_empty() {
                return Err(err(format!("{name:?} lists no architecture")));
            }
            let negated = archs.iter().filter(|a| a.starts_with('!')).count();
            if negated != 0 && negated != archs.len() {
                return Err(err(format!(
                    "{name:?} mixes negated and plain architectures"
                )));
            }
            if let Some(src) = name.trim().strip_prefix('%') {
                sources.insert(src.trim().to_string(), archs);
            }
        }
        Ok(Pas { sources })
    }

    /// Whether the list lets source `src` be built on `arch`: `None` when
    /// it says nothing about `src`.
    pub fn allows(&self, src: &str, arch: &str) -> Option<bool> {
        let archs = self.sources.get(src)?;
        let listed = archs
            .iter()
            .any(|a| token_matches(a.trim_start_matches('!'), arch));
        let negated = archs.first().is_some_and(|a| a.starts_with('!'));
        Some(listed != negated)
    }

    /// How many source entries it has.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether it has no source entry.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries() {
        let p = Pas::parse(
            "# comment\n%grub-efi: amd64 arm64 # only there\n%hurd-thing: hurd-any\n%nolinux: !linux-any\n%noarm: !armel !armhf\nlibbin1: amd64\n",
        )
        .unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p.allows("grub-efi", "amd64"), Some(true));
        assert_eq!(p.allows("grub-efi", "riscv64"), Some(false));
        assert_eq!(p.allows("nolinux", "amd64"), Some(false));
        assert_eq!(p.allows("nolinux", "hurd-i386"), Some(true));
        assert_eq!(p.allows("noarm", "armhf"), Some(false));
        assert_eq!(p.allows("noarm", "arm64"), Some(true));
        assert_eq!(
            p.allows("libbin1", "arm64"),
            None,
            "binary entries are not used"
        );
        assert_eq!(p.allows("other", "amd64"), None);
        assert!(Pas::parse("%x amd64\n").is_err());
        assert!(Pas::parse("%x: amd64 !i386\n").is_err());
    }
}
