//! Unsatisfiable build dependencies, as apt, apt 3's solver and dose3
//! report them, turned into a ready `dep-wait` argument.

use crate::inbound::explain::decode;
use crate::inbound::explain::excerpt_around;
use crate::inbound::explain::tail_lines;
use crate::inbound::explain::MAX_SCAN_LINES;
use crate::inbound::sbuild::Span;
use memchr::memmem;

pub(super) struct Deps {
    pub(super) dep_wait: String,
    /// Dependency lines found but not valid enough to be put in `dep_wait`.
    pub(super) left_out: usize,
    pub(super) matched_line: String,
    pub(super) excerpt: Vec<String>,
}

pub(super) struct DepHit {
    pub(super) line: usize,
    /// `None` when the dependency could not be validated (it is then left
    /// out of `dep-wait` and counted).
    pub(super) item: Option<String>,
    pub(super) dose: bool,
    pub(super) dummy: bool,
}

pub(super) const APT_REASONS: &str = r"(?:it is not installable|it is not going to be installed|it is a virtual package|\S+ is to be installed)";

static_regex! {
    pub(super) fn apt_dep_re() = format!(
            r"^\s*(?:(\S+)\s+:\s+)?(?:Pre-?)?Depends:\s+(.+?)\s+but\s+{APT_REASONS}(\s+or)?\s*$"
        );
}

static_regex! {
    pub(super) fn apt_alt_re() = format!(r"^\s+(\S.*?)\s+but\s+{APT_REASONS}(\s+or)?\s*$");
}

static_regex! {
    pub(super) fn apt3_dep_re() = r"^\s*\d+\.\s+(\S+)\s+(?:Pre-?)?Depends\s+(.+?)\s*$";
}

/// Normalises one dependency (`a (>= 1) | b:any`) for `dep-wait`; `None` if
/// any part is not a valid package name / relation / version (the rule of
/// [`crate::debian::relations`]).
pub fn normalise_dependency(dep: &str) -> Option<String> {
    if dep.contains(',') {
        return None;
    }
    crate::debian::relations::normalise(dep).ok()
}

/// sbuild's dummy package (`sbuild-build-depends-main-dummy`, older
/// `sbuild-build-depends-<pkg>-dummy`) or apt's `builddeps:<pkg>`.
pub(super) fn is_dummy(owner: &str) -> bool {
    owner.contains("build-depends") || owner.contains("-dummy") || owner.starts_with("builddeps:")
}

/// Finds unsatisfiable dependencies in `lines`.
pub(super) fn dep_hits(lines: &[&[u8]]) -> Vec<DepHit> {
    let mut hits = Vec::new();
    let mut owner = String::new();
    // An apt clause that ended in "or": (hit index) to extend.
    let mut open_alt: Option<usize> = None;
    for (i, raw) in lines.iter().enumerate() {
        let has_depends = memmem::find(raw, b"Depends").is_some();
        let has_unsat = memmem::find(raw, b"unsat-dependency:").is_some();
        let has_but = memmem::find(raw, b" but ").is_some();
        if !(has_depends || has_unsat || (open_alt.is_some() && has_but)) {
            open_alt = None;
            continue;
        }
        let text = String::from_utf8_lossy(raw);
        let trimmed = text.trim();
        if let Some(v) = trimmed.strip_prefix("unsat-dependency:") {
            hits.push(DepHit {
                line: i,
                item: normalise_dependency(v.trim()),
                dose: true,
                dummy: true,
            });
            open_alt = None;
            continue;
        }
        if let Some(c) = apt_dep_re().captures(&text) {
            if let Some(o) = c.get(1) {
                owner = o.as_str().to_string();
            }
            hits.push(DepHit {
                line: i,
                item: c.get(2).and_then(|d| normalise_dependency(d.as_str())),
                dose: false,
                dummy: is_dummy(&owner),
            });
            open_alt = c.get(3).map(|_| hits.len() - 1);
            continue;
        }
        if let Some(h) = open_alt {
            if let Some(c) = apt_alt_re().captures(&text) {
                let alt = c.get(1).and_then(|d| normalise_dependency(d.as_str()));
                if let Some(hit) = hits.get_mut(h) {
                    // One unreadable alternative makes the whole clause unreadable.
                    hit.item = match (hit.item.take(), alt) {
                        (Some(item), Some(alt)) => Some(format!("{item} | {alt}")),
                        _ => None,
                    };
                }
                if c.get(2).is_none() {
                    open_alt = None;
                }
                continue;
            }
        }
        open_alt = None;
        if let Some(c) = apt3_dep_re().captures(&text) {
            let next_says_none = lines.get(i + 1).is_some_and(|n| {
                memmem::find(n, b"but none of the choices are installable").is_some()
            });
            if next_says_none {
                let own = c.get(1).map_or("", |m| m.as_str());
                let own = own.split(':').next().unwrap_or(own);
                hits.push(DepHit {
                    line: i,
                    item: c.get(2).and_then(|d| normalise_dependency(d.as_str())),
                    dose: false,
                    dummy: is_dummy(own),
                });
            }
        }
    }
    hits
}

/// Looks for unsatisfiable dependencies in the install-deps sections (or,
/// with none, in the whole log).
pub(super) fn find_unsatisfiable(log: &[u8], spans: &[Span]) -> Option<Deps> {
    let dep_spans: Vec<&Span> = spans
        .iter()
        .filter(|s| {
            !s.main
                && s.title.as_deref().is_some_and(|t| {
                    let t = t.to_ascii_lowercase();
                    t.starts_with("install") && t.contains("dependencies")
                })
        })
        .collect();
    let regions: Vec<Vec<&[u8]>> = if dep_spans.is_empty() {
        vec![tail_lines(log, 0, log.len(), MAX_SCAN_LINES)]
    } else {
        dep_spans
            .iter()
            .map(|s| tail_lines(log, s.body_start, s.body_end, MAX_SCAN_LINES))
            .collect()
    };
    let all: Vec<(usize, DepHit)> = regions
        .iter()
        .enumerate()
        .flat_map(|(r, lines)| dep_hits(lines).into_iter().map(move |h| (r, h)))
        .collect();
    let any_dose = all.iter().any(|(_, h)| h.dose);
    let any_dummy = all.iter().any(|(_, h)| !h.dose && h.dummy);
    let chosen: Vec<&(usize, DepHit)> = all
        .iter()
        .filter(|(_, h)| {
            if any_dose {
                h.dose
            } else if any_dummy {
                h.dummy
            } else {
                true
            }
        })
        .collect();
    let mut items: Vec<&str> = Vec::new();
    let mut left_out = 0;
    for (_, h) in &chosen {
        match h.item.as_deref() {
            Some(item) if !items.contains(&item) => items.push(item),
            Some(_) => {}
            None => left_out += 1,
        }
    }
    if items.is_empty() {
        return None;
    }
    let (first_region, first) = chosen.first()?;
    // The excerpt ends shortly after the last hit of the same section.
    let last_line = chosen
        .iter()
        .filter(|(r, _)| r == first_region)
        .map(|(_, h)| h.line)
        .next_back()
        .unwrap_or(first.line);
    let lines = regions.get(*first_region)?;
    Some(Deps {
        dep_wait: items.join(", "),
        left_out,
        matched_line: decode(lines.get(first.line).copied().unwrap_or(&[])),
        excerpt: excerpt_around(lines, last_line),
    })
}
