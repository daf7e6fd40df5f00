//! Debian architectures and the wildcards of a source package's
//! `Architecture:` field (Debian Policy §11.1; dpkg's `ostable` and
//! `cputable`): `any`, `all`, `<os>-any`, `any-<cpu>`, and plain names.
//!
//! A Debian architecture name stands for an `<os>-<cpu>` pair: `amd64` is
//! `linux-amd64`, `hurd-i386` is `hurd-i386`, `armhf` and `armel` are both
//! `linux-arm`, `x32` is `linux-amd64` (its own ABI), `musl-linux-arm64` is
//! `linux-arm64` (musl).

/// The (os, cpu) dpkg gives an architecture name.
pub fn os_cpu(arch: &str) -> (&str, &str) {
    // `<libc>-linux-<cpu>` (musl-linux-amd64, uclibc-linux-armel).
    let arch = match arch.split_once("-linux-") {
        Some((_, cpu)) => return ("linux", cpu_of(cpu)),
        None => arch,
    };
    match arch.split_once('-') {
        Some((os, cpu)) => (os, cpu_of(cpu)),
        None => ("linux", cpu_of(arch)),
    }
}

/// dpkg's CPU name of an architecture's CPU part.
fn cpu_of(cpu: &str) -> &str {
    match cpu {
        "armel" | "armhf" | "arm" => "arm",
        "x32" => "amd64",
        "arm64ilp32" => "arm64",
        "powerpcspe" => "powerpc",
        "lpia" => "i386",
        other => other,
    }
}

/// Whether one `Architecture:` token (a name or a wildcard; not `all`)
/// covers `arch`.
pub fn token_matches(token: &str, arch: &str) -> bool {
    if token == "any" || token == arch {
        return true;
    }
    let (os, cpu) = os_cpu(arch);
    if let Some(t_os) = token.strip_suffix("-any") {
        return t_os == os || (t_os == "linux" && os == "linux");
    }
    if let Some(t_cpu) = token.strip_prefix("any-") {
        return cpu_of(t_cpu) == cpu;
    }
    // A full `<os>-<cpu>` name (`linux-amd64`, `kfreebsd-i386`): the same
    // pair as the architecture.
    token.contains('-') && os_cpu(token) == (os, cpu)
}

/// Whether a source package whose `Architecture:` field is `field` builds
/// architecture-specific packages on `arch`; `all_arch` says whether `arch`
/// also builds the `Architecture: all` packages (the farm's arch-all
/// builder), so that an `all`-only source is built there.
pub fn builds_on(field: &str, arch: &str, all_arch: bool) -> bool {
    field.split_whitespace().any(|t| {
        if t == "all" {
            all_arch
        } else {
            token_matches(t, arch)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(token_matches("any", "amd64"));
        assert!(token_matches("linux-any", "arm64"));
        assert!(!token_matches("linux-any", "hurd-i386"));
        assert!(token_matches("hurd-any", "hurd-i386"));
        assert!(token_matches("any-amd64", "amd64"));
        assert!(token_matches("any-amd64", "kfreebsd-amd64"));
        assert!(token_matches("any-amd64", "x32"));
        assert!(!token_matches("any-amd64", "i386"));
        assert!(token_matches("any-arm", "armhf"));
        assert!(token_matches("any-arm", "armel"));
        assert!(!token_matches("any-arm", "arm64"));
        assert!(token_matches("any-i386", "hurd-i386"));
        assert!(token_matches("linux-any", "musl-linux-amd64"));
        assert!(token_matches("any-amd64", "musl-linux-amd64"));
        assert!(token_matches("armhf", "armhf"));
        assert!(token_matches("linux-amd64", "amd64"));
        assert!(token_matches("linux-arm64", "arm64"));
        assert!(!token_matches("linux-amd64", "arm64"));
        assert!(!token_matches("linux-amd64", "hurd-amd64"));
        assert!(token_matches("hurd-i386", "hurd-i386"));
        assert!(!token_matches("armhf", "armel"));
    }

    #[test]
    fn source_fields() {
        assert!(builds_on("any all", "amd64", false));
        assert!(!builds_on("all", "arm64", false));
        assert!(builds_on("all", "amd64", true));
        assert!(builds_on("amd64 i386", "i386", false));
        assert!(!builds_on("amd64 i386", "arm64", false));
        assert!(builds_on("linux-any", "riscv64", false));
        assert!(!builds_on("kfreebsd-any hurd-any", "amd64", false));
        assert!(builds_on("linux-amd64 linux-arm64", "arm64", false));
    }
}
