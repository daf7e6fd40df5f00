//! Debian names: source and binary packages, versions, distributions,
//! architectures and the file names of an upload. Each rule is written
//! here once; the subject regexes of [`crate::inbound::mail`] embed the
//! `*_RE` fragments next to the predicates they mirror.

/// The longest package name, version or distribution buildmail accepts.
pub const MAX_NAME_LEN: usize = 200;

/// The longest plain file name in the build directory or upload queue.
pub const MAX_FILE_NAME_LEN: usize = 255;

/// A source or binary package name as a regex fragment (Debian policy
/// §5.6.1, §5.6.7: lower case letters, digits, `+ - .`, starting with a
/// letter or digit, at least two characters). Case-sensitive even inside a
/// `(?i)` regex.
pub const PACKAGE_RE: &str = r"(?-i:[a-z0-9][a-z0-9+.-]+)";

/// A Debian version (epoch and binNMU suffix included) as a regex fragment.
pub const VERSION_RE: &str = r"[0-9][A-Za-z0-9.+~:-]*";

/// A distribution or archive name as a regex fragment.
pub const DIST_RE: &str = r"[a-z0-9][a-z0-9.+_~-]*";

/// An architecture name as a regex fragment (case-sensitive).
pub const ARCH_RE: &str = r"(?-i:[a-z0-9][a-z0-9-]*)";

/// Whether `s` is a Debian source or binary package name: at least two
/// characters of `a-z 0-9 + - .`, starting with a letter or digit.
pub fn is_package_name(s: &str) -> bool {
    let b = s.as_bytes();
    (2..=MAX_NAME_LEN).contains(&b.len())
        && b.first()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+-.".contains(c))
}

/// Whether `s` is a plausible Debian version: starts with a digit, only
/// `A-Z a-z 0-9 . + ~ : -` (epoch and binNMU suffix allowed). Ordering is
/// [`crate::debian::version::compare`].
pub fn is_version(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes().next().is_some_and(|c| c.is_ascii_digit())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".+~:-".contains(&c))
}

/// Whether `s` is a distribution (suite) or archive name.
pub fn is_dist_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b".+-_/~".contains(&c))
}

/// Whether `s` is a Debian architecture name (`amd64`, `kfreebsd-i386`,
/// `all`): lower case letters, digits and `-`.
pub fn is_arch_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `name` is a safe plain file name for the build directory and the
/// upload queue: non-empty, at most [`MAX_FILE_NAME_LEN`] bytes, not
/// starting with `.`, and only `A-Z a-z 0-9 . + ~ _ -` (the characters of
/// Debian file names; epochs, and so `:`, never appear in them). This rules
/// out `/`, NUL, white space and anything outside ASCII.
pub fn is_safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FILE_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~' | b'_' | b'-'))
}

/// `<src>_<version without epoch>_<arch>.changes`, the name sbuild and dak
/// give a build's `.changes`.
pub fn changes_file_name(source: &str, version: &str, arch: &str) -> String {
    format!(
        "{source}_{}_{arch}.changes",
        crate::debian::version::strip_epoch(version)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn predicates_and_regex_fragments_agree() {
        let whole = |frag: &str| Regex::new(&format!("^(?:{frag})$")).unwrap();
        let (pkg, ver, dist, arch) = (
            whole(PACKAGE_RE),
            whole(VERSION_RE),
            whole(DIST_RE),
            whole(ARCH_RE),
        );
        for s in [
            "hello", "libc6", "g++-12", "0ad", "a", "Hello", "-x", "x_y", "",
        ] {
            assert_eq!(pkg.is_match(s), is_package_name(s), "package {s:?}");
        }
        for s in ["1.0-1", "1:2.0-1+b1", "2.0~rc1", "a1", "1_0", "1 0"] {
            assert_eq!(ver.is_match(s), is_version(s), "version {s:?}");
        }
        for s in ["amd64", "kfreebsd-i386", "all", "AMD64", "x_y"] {
            assert_eq!(arch.is_match(s), is_arch_name(s), "arch {s:?}");
        }
        for s in ["unstable", "bookworm-backports", "sid"] {
            assert!(dist.is_match(s) && is_dist_name(s), "dist {s:?}");
        }
    }

    #[test]
    fn file_names() {
        assert!(is_safe_file_name("hello_1.0-1_amd64.deb"));
        for bad in ["", ".hidden", "a/b", "a b", "ü.deb", &"x".repeat(256)] {
            assert!(!is_safe_file_name(bad), "{bad:?}");
        }
        assert_eq!(
            changes_file_name("hello", "1:2.0-1", "amd64"),
            "hello_2.0-1_amd64.changes"
        );
    }
}
