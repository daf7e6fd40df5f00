//! Debian Janitor's buildlog-consultant, run on a rendering of the log
//! (standard ASCII boxes, lossily decoded tails) inside `catch_unwind`.

use crate::debian::Status;
use crate::inbound::explain::is_build_stage;
use crate::inbound::explain::is_timed_commands;
use crate::inbound::explain::tail_lines;
use crate::inbound::explain::CONSULTANT_CONTEXT;
use crate::inbound::explain::CONSULTANT_LINES;
use crate::inbound::sbuild::Span;
use std::panic::{catch_unwind, AssertUnwindSafe};

pub(super) struct Consulted {
    pub(super) description: Option<String>,
    pub(super) kind: Option<String>,
    /// The problem's details in words (see [`problem_key`]).
    pub(super) key: Option<String>,
    pub(super) line: Option<String>,
    pub(super) lines: Vec<String>,
}

pub(super) fn push_box(out: &mut String, title: &str, fill: char) {
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
pub(super) fn render_for_consultant(
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
pub(super) fn consult(
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

pub(super) fn consult_log(rendered: &str) -> Option<Consulted> {
    use buildlog_consultant::sbuild::{
        parse_sbuild_log, worker_failure_from_sbuild_log, SbuildLog,
    };

    let sections = parse_sbuild_log(rendered.as_bytes()).ok()?;
    let sbuild_log = SbuildLog(sections.collect());
    let f = worker_failure_from_sbuild_log(&sbuild_log).ok()?;
    let kind = f.error.as_ref().map(|e| e.kind().into_owned());
    let key = f.error.as_ref().and_then(|e| problem_key(&e.json()));
    let m = f.r#match.as_ref()?;
    Some(Consulted {
        description: f.description.clone(),
        kind,
        key,
        line: Some(m.line().trim_end().to_string()),
        lines: m.lines().iter().map(|l| l.trim_end().to_string()).collect(),
    })
}

pub(super) fn consult_build(build_lines: &[String]) -> Option<Consulted> {
    if build_lines.is_empty() {
        return None;
    }
    let refs: Vec<&str> = build_lines.iter().map(String::as_str).collect();
    let failure = buildlog_consultant::common::find_build_failure_description(&refs).ok()??;
    let line = failure.r#match.line().trim_end().to_string();
    Some(Consulted {
        description: failure.problem.as_ref().map(|p| p.to_string()),
        kind: failure.problem.as_ref().map(|p| p.kind().into_owned()),
        key: failure
            .problem
            .as_ref()
            .and_then(|p| problem_key(&p.json())),
        lines: failure
            .r#match
            .lines()
            .iter()
            .map(|l| l.trim_end().to_string())
            .collect(),
        line: Some(line),
    })
}

/// What a problem is about, from buildlog-consultant's details of it
/// (`{"header": "foo.h"}` → `foo.h`): its values in words, joined, so
/// that failures with the same cause group together. `None` when the
/// problem has no details.
pub(super) fn problem_key(details: &serde_json::Value) -> Option<String> {
    fn words(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|v| words(v, out)),
            serde_json::Value::Object(o) => o.values().for_each(|v| words(v, out)),
            other => out.push(other.to_string()),
        }
    }
    let mut out = Vec::new();
    words(details, &mut out);
    let key = out.join(" ");
    let key = key.trim();
    (!key.is_empty()).then(|| key.chars().take(200).collect())
}
