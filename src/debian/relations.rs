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

/// The packages an architecture's `Packages` offers, for the question "can
/// this relation be satisfied": each name with the versions it is available
/// in, real packages and `Provides` (a versionless provide satisfies only
/// unversioned relations, as in apt).
#[derive(Debug, Default, Clone)]
pub struct Available {
    by_name: std::collections::HashMap<String, Vec<Option<debversion::Version>>>,
}

impl Available {
    /// Adds a real package.
    pub fn add_package(&mut self, name: &str, version: &str) {
        let v = version.parse().ok();
        self.by_name.entry(name.to_string()).or_default().push(v);
    }

    /// Adds the `Provides` field of a package.
    pub fn add_provides(&mut self, field: &str) {
        let Ok(rels) = field.parse::<debian_control::lossy::Relations>() else {
            return;
        };
        for group in &rels.0 {
            for r in group {
                let v = r.version.as_ref().map(|(_, v)| v.clone());
                self.by_name.entry(r.name.clone()).or_default().push(v);
            }
        }
    }

    /// How many names are known.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether no name is known.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    fn satisfies(&self, r: &Relation) -> bool {
        use debian_control::relations::VersionConstraint as C;
        let Some(versions) = self.by_name.get(&r.name) else {
            return false;
        };
        let Some((c, want)) = &r.version else {
            return true;
        };
        versions.iter().flatten().any(|have| match c {
            C::GreaterThanEqual => have >= want,
            C::LessThanEqual => have <= want,
            C::Equal => have == want,
            C::GreaterThan => have > want,
            C::LessThan => have < want,
        })
    }

    /// The first group of `list` (a Build-Depends or Dep-Wait list) that
    /// nothing available satisfies on `arch`, as written (`libfoo-dev (>=
    /// 2) | libfoo2-dev`); `None` when every group can be satisfied.
    /// Relations restricted to other architectures (`[!amd64]`) or to build
    /// profiles not active by default (`<nocheck>`) are skipped. `Err` when
    /// the list does not parse.
    pub fn first_unsatisfied(&self, list: &str, arch: &str) -> Result<Option<String>, String> {
        let rels: debian_control::lossy::Relations = list
            .parse()
            .map_err(|e| format!("{list:?} does not parse as relations: {e}"))?;
        for group in &rels.0 {
            let live: Vec<&Relation> = group.iter().filter(|r| applies(r, arch)).collect();
            if live.is_empty() {
                continue;
            }
            if !live.iter().any(|r| self.satisfies(r)) {
                let text: Vec<String> = live.iter().map(|r| plain(r)).collect();
                return Ok(Some(text.join(" | ")));
            }
        }
        Ok(None)
    }
}

/// Whether a relation applies on `arch` with no build profile active.
fn applies(r: &Relation, arch: &str) -> bool {
    if let Some(archs) = &r.architectures {
        let negated = archs.iter().all(|a| a.starts_with('!'));
        let listed = archs
            .iter()
            .any(|a| crate::debian::archs::token_matches(a.trim_start_matches('!'), arch));
        if negated == listed {
            return false;
        }
    }
    // A restriction list holds when all its terms do; a relation applies
    // when any of its lists holds (no profile is active by default).
    r.profiles.is_empty()
        || r.profiles.iter().any(|list| {
            list.iter()
                .all(|p| matches!(p, debian_control::relations::BuildProfile::Disabled(_)))
        })
}

/// A relation without architecture lists and profiles, as apt prints it.
fn plain(r: &Relation) -> String {
    match &r.version {
        Some((c, v)) => format!("{} ({} {v})", r.name, c),
        None => r.name.clone(),
    }
}

#[cfg(test)]
mod available_tests {
    use super::*;

    #[test]
    fn relations_against_what_is_available() {
        let mut a = Available::default();
        a.add_package("libfoo-dev", "1.5-1");
        a.add_package("debhelper", "13.11");
        a.add_provides("libbar-dev (= 2.0), mail-transport-agent");
        let ok = |l: &str| a.first_unsatisfied(l, "amd64").unwrap();
        assert_eq!(ok("libfoo-dev (>= 1.0), debhelper (>= 13)"), None);
        assert_eq!(
            ok("libfoo-dev (>= 2.0)"),
            Some("libfoo-dev (>= 2.0)".into())
        );
        assert_eq!(ok("libnone-dev | libfoo-dev"), None);
        assert_eq!(ok("libbar-dev (>= 1.9)"), None, "versioned provide");
        assert_eq!(
            ok("mail-transport-agent (>= 1)"),
            Some("mail-transport-agent (>= 1)".into()),
            "an unversioned provide does not satisfy a versioned relation"
        );
        assert_eq!(ok("mail-transport-agent"), None);
        assert_eq!(ok("libwin-dev [!amd64]"), None, "not on amd64");
        assert_eq!(ok("libwin-dev [i386]"), None);
        assert_eq!(ok("libamd-dev [amd64]"), Some("libamd-dev".into()));
        assert_eq!(ok("libcheck-dev <!nocheck>"), Some("libcheck-dev".into()));
        assert_eq!(ok("libdoc-dev <doc>"), None, "profile not active");
        assert_eq!(ok("libfoo-dev:any (>= 1)"), None, "arch qualifier");
    }
}
