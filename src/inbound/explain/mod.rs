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
//! The log is scanned once (the same single pass as [`crate::inbound::sbuild::parse`])
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

use memchr::{memmem, memrchr};

use crate::debian::Status;
use crate::inbound::sbuild;
use crate::inbound::sbuild::{BuildLog, Span};
use crate::model::Explanation;

mod consult;
mod deps;
use consult::*;
pub use deps::*;

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

/// Explains a non-successful build. Returns `None` for successful builds.
///
/// `parsed` is what the caller knows about the build (normally
/// [`crate::inbound::sbuild::parse`] of `log`, possibly completed from the mail's
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
    let mut e = explain_scanned(log, parsed, &scan)?;
    place(log, &scan.spans, &mut e);
    Some(e)
}

/// Fills in where [`Explanation::matched_line`] is in the log: its line
/// number and the title of its section (the last occurrence of the line,
/// as the failure is the last error of its region).
fn place(log: &[u8], spans: &[Span], e: &mut Explanation) {
    let Some(line) = e.matched_line.as_deref().filter(|l| !l.trim().is_empty()) else {
        return;
    };
    let Some(at) = memmem::rfind(log, line.as_bytes()) else {
        return;
    };
    let start = memrchr(b'\n', log.get(..at).unwrap_or(&[])).map_or(0, |i| i + 1);
    e.line = Some(memchr::memchr_iter(b'\n', log.get(..start).unwrap_or(&[])).count() as u64 + 1);
    e.section = spans
        .iter()
        .rev()
        .find(|s| s.box_start <= start)
        .and_then(|s| s.title.clone());
}

fn explain_scanned(log: &[u8], parsed: &BuildLog, scan: &sbuild::Scan) -> Option<Explanation> {
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
            ..Explanation::default()
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
                problem_key: c.key,
                excerpt,
                ..Explanation::default()
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
            ..Explanation::default()
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
        ..Explanation::default()
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

static_regex! {
    fn error_re() = concat!(
            r"(?:^E: |^FAILED \[|^Build killed with signal|\*\*\* ",
            r"|(?i:\berror\b)(?::|\s|$)|(?i:\bfatal\b))"
        );
}

static_regex! {
    fn generic_re() = concat!(
            r"^(?:make(?:\[\d+\])?: \*\*\* ",
            r"|dpkg-buildpackage: (?:error|failure): ",
            r"|E: Build failure",
            r"|E: Package installation failed",
            r"|E: Error creating chroot",
            r"|FAILED \[",
            r"|apt-get failed",
            r"|dh(?:_[a-z_]+)?: error: .*(?:returned exit code|exit status) \d+\s*$",
            r"|debian/rules:\d+: recipe for target)",
        );
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
    maybe_error(line) && error_re().is_match(&String::from_utf8_lossy(line))
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
        && generic_re().is_match(&String::from_utf8_lossy(line))
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

// ---------------------------------------------------------------------------
// buildlog-consultant
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests;
