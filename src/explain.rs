//! Short, actionable explanations of failed builds.
//!
//! For install-deps failures: the unsatisfiable dependencies, ready to be
//! pasted as a `dep-wait` argument. For build failures: the matched error
//! line and an excerpt of at most [`MAX_EXCERPT_LINES`] lines. Uses Debian
//! Janitor's `buildlog-consultant` where it recognises the failure, and
//! buildmail's own extraction where it does not.
//!
//! # Cost
//!
//! The log is scanned once (the same single pass as [`crate::sbuild::parse`])
//! to find its sections; every analysis after that looks at no more than the
//! last [`MAX_SCAN_LINES`] lines of each section it considers, so a 50 MB log
//! costs little more than a small one.
//!
//! # buildlog-consultant
//!
//! The consultant reads only valid UTF-8 and only sbuild's 80-column ASCII
//! boxes. buildmail therefore hands it a *rendering* of the log: every
//! section found by buildmail's own parser (ASCII of any width, Unicode, or
//! none at all for old logs and fragments) redrawn as a standard ASCII box,
//! with the bounded tail of its lines decoded lossily. "Starting/Finished
//! Timed Build Commands" boxes are folded into the Build section they
//! interrupt, so the build output stays in one piece. The consultant runs
//! inside [`std::panic::catch_unwind`]: a panic in it (it has internal
//! unwraps) only means "no consultant result", and buildmail's own
//! extraction answers instead. The default panic hook still prints the
//! panic message to stderr.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;
use std::sync::OnceLock;

use memchr::{memmem, memrchr};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::sbuild::{self, BuildLog, Span, Status};

/// The longest excerpt an explanation carries.
pub const MAX_EXCERPT_LINES: usize = 30;

/// How many lines, counted back from the end of a section, the analysis
/// looks at.
pub const MAX_SCAN_LINES: usize = 2000;

/// How many lines of each section's tail buildlog-consultant sees. It scans
/// at most 250 lines back from a failure itself, and runs hundreds of
/// regexes per line: a smaller window keeps an explanation at a few
/// milliseconds without changing what it finds.
pub const CONSULTANT_LINES: usize = 150;

/// Lines before buildmail's own error line that buildlog-consultant also
/// sees, for its multi-line matchers.
pub const CONSULTANT_CONTEXT: usize = 40;

/// How many lines after the matched line an excerpt shows (when there are
/// that many).
pub const LINES_AFTER_MATCH: usize = 3;

/// The longest [`Explanation::summary`], in characters.
pub const MAX_SUMMARY_CHARS: usize = 200;

/// Fail-stages that mean "the build dependencies could not be installed".
pub const DEPENDENCY_STAGES: &[&str] = &[
    "install-deps",
    "explain-bd-uninstallable",
    "install-core",
    "install-essential",
    "install-deps-env",
];

/// Why a build failed, in a form a human can act on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// One line: what went wrong.
    pub summary: String,
    /// For dependency failures: a ready `dep-wait` argument (`pkg (>= 1.0), other`).
    pub dep_wait: Option<String>,
    /// The log line that identifies the failure.
    pub matched_line: Option<String>,
    /// The problem kind as buildlog-consultant names it, if it recognised one.
    pub problem_kind: Option<String>,
    /// Up to [`MAX_EXCERPT_LINES`] lines around the failure.
    pub excerpt: Vec<String>,
}

/// Explains a non-successful build. Returns `None` for successful builds.
///
/// `parsed` is what the caller knows about the build (normally
/// [`crate::sbuild::parse`] of `log`, possibly completed from the mail's
/// `.summary` part); its status and fail-stage take precedence over what
/// `log` itself says.
///
/// * Dependency failures (fail-stage in [`DEPENDENCY_STAGES`], or no
///   fail-stage and a given-back/failed/unknown status): apt's
///   `Depends: X but it is not installable` / `... is not going to be
///   installed` / `... but <ver> is to be installed` (and `or`
///   alternatives), apt 3's solver (`N. pkg Depends X` + `but none of the
///   choices are installable`) and dose3's `unsat-dependency:` lines become
///   [`Explanation::dep_wait`]. dose3 (from `explain-bd-uninstallable`) is
///   preferred when present, being the more precise; apt lines of sbuild's
///   dummy package (`*-build-depends-*`) are preferred over lines of deeper
///   packages. Arch qualifiers (`:amd64`, `:any`) are dropped; names must be
///   valid Debian package names, relations one of `<<`, `<=`, `=`, `>=`,
///   `>>`, versions valid Debian versions: anything else is left out rather
///   than guessed, and the summary says how many lines were left out.
/// * Otherwise buildlog-consultant, then buildmail's own extraction: the
///   last error line (`error:`, `Error`, `E: `, `FATAL`, ...) of the Build
///   section (or, without one, of the log before the Summary), cut at
///   `Build finished at`. Generic wrapper lines (`make: *** ...`,
///   `dpkg-buildpackage: error: ...`, `dh_*: error: ... returned exit code`)
///   are chosen only when no more specific line exists.
/// * With no status at all (no Summary, e.g. a fragment or a log whose
///   Summary was hidden), an explanation is given only if there is evidence
///   of failure (unsatisfiable dependencies or a failure line such as
///   `dpkg-buildpackage: error:`); otherwise `None`, since such a log may
///   well be a successful build.
pub fn explain(log: &[u8], parsed: &BuildLog) -> Option<Explanation> {
    let scan = sbuild::scan(log);
    let status = parsed.status.or(scan.log.status);
    if status == Some(Status::Successful) {
        return None;
    }
    let fail_stage = parsed
        .fail_stage
        .clone()
        .or_else(|| scan.log.fail_stage.clone());
    let stage = fail_stage.as_deref();
    let label = stage_label(status, stage);

    let dep_stage = stage.is_some_and(|s| DEPENDENCY_STAGES.contains(&s));
    let may_be_deps = dep_stage
        || (stage.is_none()
            && matches!(
                status,
                None | Some(Status::GivenBack) | Some(Status::Failed)
            ));
    let deps = if may_be_deps {
        find_unsatisfiable(log, &scan.spans)
    } else {
        None
    };

    let region = failure_region(log, &scan.spans, stage);
    if status.is_none() && deps.is_none() && !region.iter().any(|l| is_generic_failure(l)) {
        return None;
    }

    if let Some(d) = deps {
        return Some(Explanation {
            summary: truncate(&format!(
                "{label}: unsatisfiable build dependencies: {}{}",
                d.dep_wait,
                match d.left_out {
                    0 => String::new(),
                    n => format!(" (and {n} unreadable dependency line(s), see the excerpt)"),
                }
            )),
            dep_wait: Some(d.dep_wait),
            matched_line: Some(d.matched_line),
            problem_kind: Some("unsatisfied-build-dependencies".into()),
            excerpt: d.excerpt,
        });
    }
    let own = find_error_line(&region);
    let consulted = consult(
        log,
        &scan.spans,
        status,
        stage,
        &region,
        own.map(|(i, _)| i),
    );

    // The consultant knows many failure kinds but, searching backwards for
    // the first line any of its matchers recognises, may settle on a line
    // well before the real error. Its answer is taken unless buildmail's own
    // extraction found a specific error line later in the section.
    let consultant_line = consulted
        .as_ref()
        .and_then(|c| c.line.clone())
        .filter(|l| !l.trim().is_empty());
    if let (Some(c), Some(line)) = (consulted, consultant_line) {
        let at = locate(&region, &line);
        let take = match (at, own) {
            (Some(ci), Some((oi, true))) => ci >= oi,
            (None, Some((_, true))) => false,
            _ => true,
        };
        if take {
            let excerpt = match at {
                Some(i) => excerpt_around(&region, i),
                None => c
                    .lines
                    .iter()
                    .rev()
                    .take(MAX_EXCERPT_LINES)
                    .rev()
                    .cloned()
                    .collect(),
            };
            let what = c
                .description
                .filter(|d| !d.trim().is_empty() && !d.starts_with("build failed"))
                .unwrap_or_else(|| line.trim().to_string());
            return Some(Explanation {
                summary: truncate(&format!("{label}: {what}")),
                dep_wait: None,
                matched_line: Some(line),
                problem_kind: c.kind,
                excerpt,
            });
        }
    }

    if let Some((i, _)) = own {
        let line = decode(region.get(i).copied().unwrap_or(&[]));
        return Some(Explanation {
            summary: truncate(&format!("{label}: {}", line.trim())),
            dep_wait: None,
            matched_line: Some(line),
            problem_kind: None,
            excerpt: excerpt_around(&region, i),
        });
    }

    let start = region.len().saturating_sub(MAX_EXCERPT_LINES);
    Some(Explanation {
        summary: truncate(&format!("{label}: no error line found in the log")),
        dep_wait: None,
        matched_line: None,
        problem_kind: None,
        excerpt: region
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .map(|l| decode(l))
            .collect(),
    })
}

fn stage_label(status: Option<Status>, stage: Option<&str>) -> String {
    match (status, stage) {
        (Some(s), Some(st)) => format!("{s} (fail-stage {st})"),
        (Some(s), None) => s.to_string(),
        (None, Some(st)) => format!("failed (fail-stage {st})"),
        (None, None) => "failed".to_string(),
    }
}

fn truncate(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= MAX_SUMMARY_CHARS {
        return one_line;
    }
    let mut out: String = one_line.chars().take(MAX_SUMMARY_CHARS - 1).collect();
    out.push('…');
    out
}

fn decode(line: &[u8]) -> String {
    String::from_utf8_lossy(sbuild::trim_end(line)).into_owned()
}

// ---------------------------------------------------------------------------
// Regions
// ---------------------------------------------------------------------------

/// The last `max` lines of `data[start..end]`, right-trimmed.
fn tail_lines(data: &[u8], start: usize, end: usize, max: usize) -> Vec<&[u8]> {
    let Some(slice) = data.get(start..end) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut end = slice.len();
    if end > 0 && slice.get(end - 1) == Some(&b'\n') {
        end -= 1;
    }
    if end == 0 {
        return out;
    }
    while out.len() < max {
        let Some(hay) = slice.get(..end) else { break };
        match memrchr(b'\n', hay) {
            Some(i) => {
                out.push(slice.get(i + 1..end).unwrap_or(&[]));
                end = i;
            }
            None => {
                out.push(hay);
                break;
            }
        }
    }
    out.reverse();
    out.into_iter().map(sbuild::trim_end).collect()
}

fn title_is(span: &Span, want: &str) -> bool {
    !span.main
        && span
            .title
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(want))
}

fn is_timed_commands(span: &Span) -> bool {
    span.title
        .as_deref()
        .is_some_and(|t| t.to_ascii_lowercase().contains("timed build commands"))
}

fn is_build_stage(stage: Option<&str>) -> bool {
    matches!(stage, None | Some("build") | Some("dpkg-buildpackage"))
}

/// Byte range of the Build section (with any Timed Build Commands boxes
/// that follow it).
fn build_range(spans: &[Span]) -> Option<(usize, usize)> {
    let i = spans.iter().position(|s| title_is(s, "Build"))?;
    let first = spans.get(i)?;
    let mut end = first.body_end;
    for s in spans.iter().skip(i + 1) {
        if is_timed_commands(s) {
            end = s.body_end;
        } else {
            break;
        }
    }
    Some((first.body_start, end))
}

/// The lines where a non-dependency failure is looked for (at most
/// [`MAX_SCAN_LINES`], cut at the last `Build finished at`).
fn failure_region<'a>(log: &'a [u8], spans: &[Span], stage: Option<&str>) -> Vec<&'a [u8]> {
    let range = if is_build_stage(stage) {
        build_range(spans)
    } else {
        None
    };
    let (start, end) = range.unwrap_or_else(|| {
        let end = spans
            .iter()
            .find(|s| title_is(s, "Summary"))
            .map_or(log.len(), |s| s.box_start);
        (0, end)
    });
    let mut lines = tail_lines(log, start, end, MAX_SCAN_LINES);
    if let Some(cut) = lines
        .iter()
        .rposition(|l| l.starts_with(b"Build finished at"))
    {
        lines.truncate(cut);
        // The rule sbuild draws before `Build finished at`.
        while lines.last().is_some_and(|l| is_rule_line(l)) {
            lines.pop();
        }
    }
    lines
}

/// A line of at least 20 `-`, `*` or `─`.
fn is_rule_line(line: &[u8]) -> bool {
    (line.len() >= 20 && (line.iter().all(|&b| b == b'-') || line.iter().all(|&b| b == b'*')))
        || (line.len() >= 60 && line.len() % 3 == 0 && line.chunks(3).all(|c| c == "─".as_bytes()))
}

/// Up to [`MAX_EXCERPT_LINES`] lines ending [`LINES_AFTER_MATCH`] lines after
/// `i`.
fn excerpt_around(lines: &[&[u8]], i: usize) -> Vec<String> {
    let end = i
        .saturating_add(1)
        .saturating_add(LINES_AFTER_MATCH)
        .min(lines.len());
    let start = end.saturating_sub(MAX_EXCERPT_LINES);
    lines
        .get(start..end)
        .unwrap_or(&[])
        .iter()
        .map(|l| decode(l))
        .collect()
}

/// Index of the last line of `lines` whose text equals `line` (trimmed).
fn locate(lines: &[&[u8]], line: &str) -> Option<usize> {
    let want = line.trim();
    lines
        .iter()
        .rposition(|l| String::from_utf8_lossy(l).trim() == want)
}

// ---------------------------------------------------------------------------
// Own extraction of error lines
// ---------------------------------------------------------------------------

fn error_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"(?:^E: |^FAILED \[|^Build killed with signal|\*\*\* ",
            r"|(?i:\berror\b)(?::|\s|$)|(?i:\bfatal\b))"
        ))
        .ok()
    })
    .as_ref()
}

fn generic_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(concat!(
            r"^(?:make(?:\[\d+\])?: \*\*\* ",
            r"|dpkg-buildpackage: (?:error|failure): ",
            r"|E: Build failure",
            r"|E: Package installation failed",
            r"|E: Error creating chroot",
            r"|FAILED \[",
            r"|apt-get failed",
            r"|dh(?:_[a-z_]+)?: error: .*(?:returned exit code|exit status) \d+\s*$",
            r"|debian/rules:\d+: recipe for target)",
        ))
        .ok()
    })
    .as_ref()
}

/// Cheap pre-filter: could this line be an error line at all?
fn maybe_error(line: &[u8]) -> bool {
    memmem::find(line, b"rror").is_some()
        || memmem::find(line, b"RROR").is_some()
        || memmem::find(line, b"atal").is_some()
        || memmem::find(line, b"ATAL").is_some()
        || memmem::find(line, b"*** ").is_some()
        || line.starts_with(b"E: ")
        || line.starts_with(b"FAILED [")
        || line.starts_with(b"Build killed with signal")
}

fn is_error_line(line: &[u8]) -> bool {
    maybe_error(line) && error_re().is_some_and(|re| re.is_match(&String::from_utf8_lossy(line)))
}

/// A wrapper line that says *that* something failed, not *why*.
fn is_generic_failure(line: &[u8]) -> bool {
    (line.starts_with(b"make")
        || line.starts_with(b"dpkg-buildpackage: ")
        || line.starts_with(b"E: ")
        || line.starts_with(b"FAILED [")
        || line.starts_with(b"apt-get failed")
        || line.starts_with(b"dh")
        || line.starts_with(b"debian/rules:"))
        && generic_re().is_some_and(|re| re.is_match(&String::from_utf8_lossy(line)))
}

/// The last specific error line (`(index, true)`), else the last generic
/// one (`(index, false)`).
fn find_error_line(lines: &[&[u8]]) -> Option<(usize, bool)> {
    let mut generic = None;
    for (i, l) in lines.iter().enumerate().rev() {
        if !is_error_line(l) {
            continue;
        }
        if is_generic_failure(l) {
            generic.get_or_insert((i, false));
        } else {
            return Some((i, true));
        }
    }
    generic
}

// ---------------------------------------------------------------------------
// Unsatisfiable dependencies
// ---------------------------------------------------------------------------

struct Deps {
    dep_wait: String,
    /// Dependency lines found but not valid enough to be put in `dep_wait`.
    left_out: usize,
    matched_line: String,
    excerpt: Vec<String>,
}

struct DepHit {
    line: usize,
    /// `None` when the dependency could not be validated (it is then left
    /// out of `dep-wait` and counted).
    item: Option<String>,
    dose: bool,
    dummy: bool,
}

const APT_REASONS: &str = r"(?:it is not installable|it is not going to be installed|it is a virtual package|\S+ is to be installed)";

fn apt_dep_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(&format!(
            r"^\s*(?:(\S+)\s+:\s+)?(?:Pre-?)?Depends:\s+(.+?)\s+but\s+{APT_REASONS}(\s+or)?\s*$"
        ))
        .ok()
    })
    .as_ref()
}

fn apt_alt_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(&format!(r"^\s+(\S.*?)\s+but\s+{APT_REASONS}(\s+or)?\s*$")).ok())
        .as_ref()
}

fn apt3_dep_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^\s*\d+\.\s+(\S+)\s+(?:Pre-?)?Depends\s+(.+?)\s*$").ok())
        .as_ref()
}

fn dep_alt_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(\S+?)(?::[a-z0-9-]+)?(?:\s*\(\s*(<<|<=|=|>=|>>)\s*([^\s()]+)\s*\))?$").ok()
    })
    .as_ref()
}

/// Normalises one dependency (`a (>= 1) | b:any`) for `dep-wait`; `None` if
/// any part is not a valid package name / relation / version.
pub fn normalise_dependency(dep: &str) -> Option<String> {
    let mut alts = Vec::new();
    for alt in dep.split('|') {
        let c = dep_alt_re()?.captures(alt.trim())?;
        let name = c.get(1)?.as_str();
        if !sbuild::is_package_name(name) {
            return None;
        }
        match (c.get(2), c.get(3)) {
            (Some(op), Some(ver)) => {
                debversion::Version::from_str(ver.as_str()).ok()?;
                alts.push(format!("{name} ({} {})", op.as_str(), ver.as_str()));
            }
            (None, None) => alts.push(name.to_string()),
            _ => return None,
        }
    }
    if alts.is_empty() {
        None
    } else {
        Some(alts.join(" | "))
    }
}

/// sbuild's dummy package (`sbuild-build-depends-main-dummy`, older
/// `sbuild-build-depends-<pkg>-dummy`) or apt's `builddeps:<pkg>`.
fn is_dummy(owner: &str) -> bool {
    owner.contains("build-depends") || owner.contains("-dummy") || owner.starts_with("builddeps:")
}

/// Finds unsatisfiable dependencies in `lines`.
fn dep_hits(lines: &[&[u8]]) -> Vec<DepHit> {
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
        if let Some(c) = apt_dep_re().and_then(|re| re.captures(&text)) {
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
            if let Some(c) = apt_alt_re().and_then(|re| re.captures(&text)) {
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
        if let Some(c) = apt3_dep_re().and_then(|re| re.captures(&text)) {
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
fn find_unsatisfiable(log: &[u8], spans: &[Span]) -> Option<Deps> {
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

// ---------------------------------------------------------------------------
// buildlog-consultant
// ---------------------------------------------------------------------------

struct Consulted {
    description: Option<String>,
    kind: Option<String>,
    line: Option<String>,
    lines: Vec<String>,
}

fn push_box(out: &mut String, title: &str, fill: char) {
    let rule: String = std::iter::once('+')
        .chain(std::iter::repeat_n(fill, 78))
        .chain(std::iter::once('+'))
        .collect();
    out.push_str(&rule);
    out.push('\n');
    out.push_str(&format!("| {title:<76} |\n"));
    out.push_str(&rule);
    out.push('\n');
}

/// The log redrawn for buildlog-consultant (see the module documentation).
fn render_for_consultant(
    log: &[u8],
    spans: &[Span],
    status: Option<Status>,
    stage: Option<&str>,
) -> String {
    let mut out = String::new();
    let mut has_summary = false;
    for span in spans {
        if let Some(title) = &span.title {
            // Titles containing '|' or line breaks cannot come from the parser;
            // keep the rendering well-formed anyway.
            let title: String = title
                .chars()
                .map(|c| if c == '|' || c.is_control() { ' ' } else { c })
                .collect();
            if span.main {
                push_box(&mut out, &title, '=');
            } else if !is_timed_commands(span) {
                push_box(&mut out, &title, '-');
                has_summary |= title.eq_ignore_ascii_case("summary");
            }
        }
        for line in tail_lines(log, span.body_start, span.body_end, CONSULTANT_LINES) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
    }
    if !has_summary && (status.is_some() || stage.is_some()) {
        out.push('\n');
        push_box(&mut out, "Summary", '-');
        out.push('\n');
        if let Some(st) = stage {
            out.push_str(&format!("Fail-Stage: {st}\n"));
        }
        if let Some(s) = status {
            out.push_str(&format!("Status: {s}\n"));
        }
    }
    out
}

/// Asks buildlog-consultant. For build-stage failures only its build-failure
/// matchers run, over at most [`CONSULTANT_LINES`] lines: from a little before
/// buildmail's own error line (`own`, an index into `region`) when one was
/// found — the consultant's answer is only used when it lies at or after
/// that line — else the end of the region. Other stages get the whole log
/// redrawn with section tails.
fn consult(
    log: &[u8],
    spans: &[Span],
    status: Option<Status>,
    stage: Option<&str>,
    region: &[&[u8]],
    own: Option<usize>,
) -> Option<Consulted> {
    if is_build_stage(stage) {
        let end = region.len();
        let start = match own {
            Some(i) => i.saturating_sub(CONSULTANT_CONTEXT),
            None => end.saturating_sub(CONSULTANT_LINES),
        };
        let start = start.max(end.saturating_sub(CONSULTANT_LINES));
        let window: Vec<String> = region
            .get(start..end)
            .unwrap_or(&[])
            .iter()
            .map(|l| {
                let mut s = String::from_utf8_lossy(l).into_owned();
                s.push('\n');
                s
            })
            .collect();
        return catch_unwind(AssertUnwindSafe(|| consult_build(&window)))
            .ok()
            .flatten();
    }
    let rendered = render_for_consultant(log, spans, status, stage);
    catch_unwind(AssertUnwindSafe(|| consult_log(&rendered)))
        .ok()
        .flatten()
}

fn consult_log(rendered: &str) -> Option<Consulted> {
    use buildlog_consultant::sbuild::{
        parse_sbuild_log, worker_failure_from_sbuild_log, SbuildLog,
    };

    let sections = parse_sbuild_log(rendered.as_bytes()).ok()?;
    let sbuild_log = SbuildLog(sections.collect());
    let f = worker_failure_from_sbuild_log(&sbuild_log).ok()?;
    let kind = f.error.as_ref().map(|e| e.kind().into_owned());
    let m = f.r#match.as_ref()?;
    Some(Consulted {
        description: f.description.clone(),
        kind,
        line: Some(m.line().trim_end().to_string()),
        lines: m.lines().iter().map(|l| l.trim_end().to_string()).collect(),
    })
}

fn consult_build(build_lines: &[String]) -> Option<Consulted> {
    if build_lines.is_empty() {
        return None;
    }
    let refs: Vec<&str> = build_lines.iter().map(String::as_str).collect();
    let failure = buildlog_consultant::common::find_build_failure_description(&refs).ok()??;
    let line = failure.r#match.line().trim_end().to_string();
    Some(Consulted {
        description: failure.problem.as_ref().map(|p| p.to_string()),
        kind: failure.problem.as_ref().map(|p| p.kind().into_owned()),
        lines: failure
            .r#match
            .lines()
            .iter()
            .map(|l| l.trim_end().to_string())
            .collect(),
        line: Some(line),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_normalisation() {
        assert_eq!(
            normalise_dependency("libfoo-dev:amd64 (>= 0.1.138-~~)").as_deref(),
            Some("libfoo-dev (>= 0.1.138-~~)")
        );
        assert_eq!(
            normalise_dependency("python3:any").as_deref(),
            Some("python3")
        );
        assert_eq!(
            normalise_dependency("aa (<< 2) | bb:any (= 1:2.0-1)").as_deref(),
            Some("aa (<< 2) | bb (= 1:2.0-1)")
        );
        assert_eq!(normalise_dependency("Libfoo"), None);
        assert_eq!(normalise_dependency("libfoo (~= 1)"), None);
        assert_eq!(normalise_dependency("libfoo (>= )"), None);
        assert_eq!(normalise_dependency("libfoo; rm -rf /"), None);
        assert_eq!(normalise_dependency("x"), None);
    }

    #[test]
    fn apt_output_with_alternatives_and_deeper_packages() {
        let text = "The following packages have unmet dependencies:\n \
sbuild-build-depends-main-dummy : Depends: libbar-dev (>= 2.1) but it is not installable\n                                   \
Depends: libqux-dev but it is not installable or\n                                            \
libqux2-dev but 1.0-1 is to be installed\n \
libbar-dev : Depends: libzzz but it is not installable\n\
E: Unable to correct problems, you have held broken packages.\n";
        let lines: Vec<&[u8]> = text.as_bytes().split(|&b| b == b'\n').collect();
        let hits = dep_hits(&lines);
        let items: Vec<(Option<&str>, bool)> =
            hits.iter().map(|h| (h.item.as_deref(), h.dummy)).collect();
        assert_eq!(
            items,
            vec![
                (Some("libbar-dev (>= 2.1)"), true),
                (Some("libqux-dev | libqux2-dev"), true),
                (Some("libzzz"), false)
            ]
        );
    }

    #[test]
    fn unreadable_dependencies_are_left_out_and_counted() {
        let log =
            b"+------------------------------------------------------------------------------+\n\
| Install package build dependencies                                           |\n\
+------------------------------------------------------------------------------+\n\
The following packages have unmet dependencies:\n \
sbuild-build-depends-main-dummy : Depends: base-files (<  6.0) but 6.7 is to be installed\n\
                                  Depends: libok-dev but it is not installable\n\
E: Broken packages\n";
        let parsed = BuildLog {
            status: Some(Status::GivenBack),
            fail_stage: Some("install-deps".into()),
            ..BuildLog::default()
        };
        let e = explain(log, &parsed).expect("explained");
        assert_eq!(e.dep_wait.as_deref(), Some("libok-dev"));
        assert!(e.summary.contains("and 1 unreadable"), "{}", e.summary);
    }

    #[test]
    fn apt3_solver_output() {
        let text =
            "Error: Unable to satisfy dependencies. Reached two conflicting assignments:\n   \
1. sbuild-build-depends-main-dummy:amd64=0.invalid.0 is selected for install\n   \
2. sbuild-build-depends-main-dummy:amd64 Depends libfoo-dev (>= 3)\n      \
but none of the choices are installable:\n      [no choices]\n";
        let lines: Vec<&[u8]> = text.as_bytes().split(|&b| b == b'\n').collect();
        let hits = dep_hits(&lines);
        assert_eq!(hits.len(), 1);
        assert_eq!(
            hits.first().and_then(|h| h.item.as_deref()),
            Some("libfoo-dev (>= 3)")
        );
    }

    #[test]
    fn error_line_prefers_specific_over_generic() {
        let text = "gcc -Werror=format -c strerror.c\n\
foo.c:1:2: error: expected ';'\n\
make[1]: *** [Makefile:3: all] Error 1\n\
dpkg-buildpackage: error: debian/rules build subprocess returned exit status 2\n";
        let lines: Vec<&[u8]> = text.as_bytes().split(|&b| b == b'\n').collect();
        assert_eq!(find_error_line(&lines), Some((1, true)));
        let generic_only: Vec<&[u8]> = lines.iter().skip(2).copied().collect();
        assert_eq!(find_error_line(&generic_only), Some((1, false)));
        assert!(is_error_line(
            b"Build killed with signal 15 after 150 minutes of inactivity"
        ));
        assert!(!is_error_line(b"checking for strerror_r... yes"));
        assert!(!is_error_line(b"gcc -Werror=format-security -c x.c"));
    }

    #[test]
    fn tail_lines_is_bounded_and_exact() {
        let data = b"a\nb\nc\nd\n";
        assert_eq!(tail_lines(data, 0, data.len(), 2), vec![&b"c"[..], b"d"]);
        assert_eq!(tail_lines(data, 0, data.len(), 10).len(), 4);
        assert!(tail_lines(data, 3, 1, 10).is_empty());
        assert!(tail_lines(b"", 0, 0, 10).is_empty());
    }

    #[test]
    fn excerpt_is_capped() {
        let owned: Vec<String> = (0..100).map(|i| format!("l{i}")).collect();
        let lines: Vec<&[u8]> = owned.iter().map(|s| s.as_bytes()).collect();
        let ex = excerpt_around(&lines, 50);
        assert_eq!(ex.len(), MAX_EXCERPT_LINES);
        assert_eq!(ex.last().map(String::as_str), Some("l53"));
        let ex = excerpt_around(&lines, 99);
        assert_eq!(ex.last().map(String::as_str), Some("l99"));
    }

    #[test]
    fn successful_is_not_explained() {
        let parsed = BuildLog {
            status: Some(Status::Successful),
            ..BuildLog::default()
        };
        assert_eq!(explain(b"E: Build failure\n", &parsed), None);
    }

    #[test]
    fn unknown_status_without_evidence_is_not_explained() {
        assert_eq!(explain(b"all good\n", &BuildLog::default()), None);
        let e = explain(
            b"x.c:1:1: error: boom\nmake: *** [all] Error 1\n",
            &BuildLog::default(),
        );
        assert_eq!(
            e.and_then(|e| e.matched_line).as_deref(),
            Some("x.c:1:1: error: boom")
        );
    }
}
