//! Dependency relations (`pkg (>= 1.0) | other, third`), as a `dep-wait`
//! argument carries them and as apt and dose3 print them in a failed
//! build's log. Parsed with `debian-control`; buildmail's rule on top: every
//! name a valid package name, every relation one of `<< <= = >= >>` with a
//! valid version; architecture qualifiers, architecture lists and build
//! profiles dropped (a Dep-Wait is per architecture already).

use debian_control::lossy::Relation;

use crate::debian::names::is_package_name;

/// Validates and normalises a dependency list: `pkg [(op version)]`
/// separated by commas, alternatives with `|`. Returns the normalised list
/// (`a (>= 1.0) | b, c`) or what is wrong with it, in words.
pub fn normalise(list: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(if list.trim().is_empty() {
                "no dependencies given".into()
            } else {
                "empty entry in the dependency list (a doubled or trailing comma?)".into()
            });
        }
        let alts = entry
            .split('|')
            .map(|alt| normalise_one(alt.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(alts.join(" | "));
    }
    Ok(out.join(", "))
}

/// One relation (`name[:arch] [(op version)] [\[arches\]] [<profile>]`).
fn normalise_one(alt: &str) -> Result<String, String> {
    if alt.is_empty() {
        return Err("empty alternative in the dependency list (a doubled '|'?)".into());
    }
    let name = alt
        .split(|c: char| c == '(' || c == ':' || c == '[' || c == '<' || c.is_whitespace())
        .next()
        .unwrap_or("");
    if !is_package_name(name) {
        return Err(format!("{name:?} is not a package name"));
    }
    if let Some((_, rel)) = alt.split_once('(') {
        if !rel.contains(')') {
            return Err(format!("{alt:?}: a version relation must end with ')'"));
        }
        // The deprecated `<` and `>` (which meant <= and >=) are refused,
        // not guessed at.
        let op: String = rel
            .trim_start()
            .chars()
            .take_while(|c| matches!(c, '<' | '>' | '='))
            .collect();
        if !["<<", "<=", "=", ">=", ">>"].contains(&op.as_str()) {
            return Err(format!(
                "{alt:?}: the relation must be one of <<, <=, =, >=, >>"
            ));
        }
    }
    let rel: Relation = alt.parse().map_err(|e: String| {
        format!("{alt:?}: {e}; a relation is written `name (op version)` with op one of <<, <=, =, >=, >>")
    })?;
    match rel.version {
        None => Ok(rel.name),
        Some((op, version)) => {
            let version = version.to_string();
            if !crate::debian::names::is_version(&version) {
                return Err(format!("{alt:?}: {version:?} is not a Debian version"));
            }
            Ok(format!("{} ({op} {version})", rel.name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn normalises_and_refuses() {
        assert_eq!(
            normalise("libfoo-dev (>=1.2), libbar:any | libbaz (<< 2~)").unwrap(),
            "libfoo-dev (>= 1.2), libbar | libbaz (<< 2~)"
        );
        assert_eq!(normalise("a1 [amd64]").unwrap(), "a1");
        for bad in [
            "",
            "libfoo,",
            "libfoo,,bar",
            "Libfoo",
            "libfoo (>= 1.0",
            "libfoo (~= 1.0)",
            "libfoo (>= x)",
            "libfoo | ",
            "libfoo (< 1.0)",
            "libfoo (> 1.0)",
        ] {
            assert!(normalise(bad).is_err(), "{bad:?} accepted");
        }
    }
}
