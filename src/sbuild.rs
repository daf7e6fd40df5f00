//! Parsing of sbuild build logs, across every sbuild generation.
//!
//! The parser works on raw bytes (logs contain invalid UTF-8, bare `\r` and
//! CRLF line ends) in one pass over the lines and never depends on exact box
//! widths. It recognises:
//!
//! * the old `Automatic build of <pkg>_<ver> on <host> by sbuild/<arch> <ver>`
//!   layout with `*` rules (sbuild ≤ 0.56, Launchpad's 1.170 fork);
//! * Unicode boxes (`╔═╗`, `┌─┐`; sbuild 0.57–0.65);
//! * ASCII boxes (`+===+`, `+---+`; sbuild 0.66+), with subsection
//!   timestamps (0.88+) and boxes wider than 80 columns;
//! * the Summary block, `Finished at`, and `Build needed ..., <N>k disk space`
//!   (also `disc space` and `no disk space`).
//!
//! # How lines are looked at
//!
//! Lines are split with `memchr`. Line by line the parser reads only the
//! parts of a log that can carry fields: everything before the first box
//! (where the `sbuild (Debian sbuild)` line, old-format logs and fragments
//! live), the header key block, the Summary (with `Finished at` and
//! `Build needed` after it) and the Changes section. Inside every other
//! section (the build output, which is nearly all of a large log) only a
//! box can matter, and every box line starts with `+`, `|` or `0xE2` (the
//! first byte of the Unicode box characters): the parser jumps from one such
//! line start to the next with `memchr3`, never visiting the lines between.
//! Regular expressions run only on candidate lines (box titles, the first
//! line, `Build needed`, ...). When no Summary box held them, `Finished at`
//! and `Build needed` are looked for among the last lines of the log.
//!
//! Old-format markers (`FAILED [...]`, `Build killed with signal`, 78 `*`)
//! are therefore seen only outside boxed sections, which is where they occur:
//! old-format logs have no boxes.
//!
//! # What counts as a box
//!
//! A box is three consecutive lines: a rule, a title line, and a closing rule
//! of the same style (`+---+`/`| t |`/`+---+`, `+===+`/`| t |`/`+===+`,
//! `┌─┐`/`│ t │`/`└─┘`, `╔═╗`/`║ t ║`/`╚═╝`). Both rules and the title line
//! must have the same width (in characters), the rules at least
//! [`MIN_RULE_FILL`] fill characters, and the title no inner border
//! character. Widths are otherwise free, so boxes wider than 80 columns work.
//! This keeps tables that a test suite prints into the build output from being
//! taken for sections in all but contrived cases.

use memchr::memchr;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// The outcome sbuild reports in the `Status:` line of the Summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The package built; the `.changes` is available.
    Successful,
    /// The build itself failed (fail-stage `build` and friends).
    Attempted,
    /// The build failed for a reason outside the package (dependencies, chroot).
    GivenBack,
    /// The build was skipped (arch-check: the package is not for this arch).
    Skipped,
    /// Any other failure (for example `create-session`).
    Failed,
}

impl Status {
    /// The word sbuild uses (`successful`, `attempted`, `given-back`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Successful => "successful",
            Status::Attempted => "attempted",
            Status::GivenBack => "given-back",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }

    /// Parses sbuild's status word, case-insensitively.
    pub fn parse(s: &str) -> Option<Status> {
        match s.trim().to_ascii_lowercase().as_str() {
            "successful" => Some(Status::Successful),
            "attempted" => Some(Status::Attempted),
            "given-back" => Some(Status::GivenBack),
            "skipped" => Some(Status::Skipped),
            "failed" => Some(Status::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which generation of sbuild wrote the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// `Automatic build of ...` with `*` rules (sbuild ≤ 0.56, Launchpad 1.170).
    Old,
    /// Unicode box drawing (sbuild 0.57–0.65).
    Unicode,
    /// ASCII boxes (sbuild 0.66 and later).
    Ascii,
    /// No recognisable framing (a fragment).
    Unknown,
}

/// Disk space as sbuild reports it: a number of KiB, or `n/a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Space {
    /// Measured space in KiB.
    Kib(u64),
    /// sbuild could not measure it (`n/a`, `no disk space`).
    Unknown,
}

/// Everything buildmail extracts from one sbuild log.
///
/// Where a value appears in several places, the most authoritative one wins:
/// the Summary, then the header key block, then the main box title
/// (`<src> <ver> (<arch>)` or `(CROSS host=<arch>/build=<arch>)`), then the
/// old format's `Automatic build of` line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildLog {
    /// Generation of the log format. [`parse`] always sets it (to
    /// [`LogFormat::Unknown`] for fragments); [`parse_summary_part`] leaves it
    /// `None`.
    pub format: Option<LogFormat>,
    /// sbuild's own version, from the first line.
    pub sbuild_version: Option<String>,
    /// The builder host (`... on <host>`).
    pub builder: Option<String>,
    /// Source package name.
    pub package: Option<String>,
    /// Version built (binNMU suffix included).
    pub version: Option<String>,
    /// Source version (without binNMU suffix).
    pub source_version: Option<String>,
    /// Distribution (suite) built for.
    pub distribution: Option<String>,
    /// Host architecture (the architecture of the produced binaries).
    pub host_arch: Option<String>,
    /// Build architecture.
    pub build_arch: Option<String>,
    /// Machine architecture.
    pub machine_arch: Option<String>,
    /// `Build Type:` (binary, full, any, all, ...).
    pub build_type: Option<String>,
    /// `Build Profiles:`.
    pub build_profiles: Option<String>,
    /// Status from the Summary (or the old format's FAILED marker).
    ///
    /// Old-format logs (no Summary) get a status from their markers:
    /// `FAILED [...]` or `Build killed with signal` → [`Status::Attempted`];
    /// `Source-dependencies not satisfied` → [`Status::GivenBack`]; a
    /// `Build needed` line with none of these markers →
    /// [`Status::Successful`]. Newer logs without a Summary (hidden, or a
    /// fragment) keep `None`: the Summary is the only trustworthy source.
    pub status: Option<Status>,
    /// `Fail-Stage:` from the Summary. Never derived from anything else (the
    /// old format's `FAILED [dpkg-buildpackage died]` names no stage).
    pub fail_stage: Option<String>,
    /// `Build-Time:` in seconds.
    pub build_time: Option<u64>,
    /// `Install-Time:` in seconds.
    pub install_time: Option<u64>,
    /// `Package-Time:` in seconds.
    pub package_time: Option<u64>,
    /// `Space:`.
    pub space: Option<Space>,
    /// `Build-Space:`.
    pub build_space: Option<Space>,
    /// `Finished at ...` as written.
    pub finished_at: Option<String>,
    /// `Build needed HH:MM:SS` in seconds.
    pub build_needed_secs: Option<u64>,
    /// The disk space of the `Build needed` line.
    pub build_needed_space: Option<Space>,
    /// Every `Key: value` line of the Summary, in order.
    pub summary: Vec<(String, String)>,
    /// Titles of the (sub)sections seen, in order, with any trailing
    /// timestamp removed. The main box (which carries the identity) is not
    /// listed.
    pub sections: Vec<String>,
    /// The unsigned `.changes` text of the Changes section, if present.
    ///
    /// Line ends are normalised to `\n`, trailing blanks removed; invalid
    /// UTF-8 is replaced (U+FFFD). Only the first `.changes` of the section
    /// is kept (sbuild may add a `_source.changes` after it).
    pub changes: Option<String>,
    /// The file name the Changes section gives for [`BuildLog::changes`]
    /// (`hello_2.10-3_amd64.changes`).
    pub changes_file: Option<String>,
}

/// Shortest fill (number of `-`, `=`, `─` or `═` between the corners) a rule
/// must have to count as the border of a box. sbuild draws 78.
pub const MIN_RULE_FILL: usize = 40;

/// How many lines after the `sbuild (Debian sbuild)` line or the main box
/// may pass without a header key before the parser stops looking for the key
/// block.
const MAX_HEADER_GAP: usize = 40;

/// Parses an sbuild log. Never fails: fields that cannot be found are `None`.
pub fn parse(log: &[u8]) -> BuildLog {
    scan(log).log
}

/// Parses the `<log>.summary` part of a MIME log mail (sorted `Key: value`
/// lines) into the summary fields of a [`BuildLog`].
///
/// `Finished at` and `Build needed` lines are understood too, should a
/// summary part carry them. [`BuildLog::format`] stays `None`.
pub fn parse_summary_part(summary: &[u8]) -> BuildLog {
    let mut sum = Ident::default();
    let mut out = BuildLog::default();
    for (_, raw) in lines(summary) {
        let line = trim_end(strip_bom(raw));
        if line.is_empty() || is_separator(line) {
            continue;
        }
        if line.starts_with(b"Finished at ") || line.starts_with(b"Build needed ") {
            trailer_line(line, &mut out);
            continue;
        }
        if let Some((k, v)) = split_kv(line) {
            apply_summary_pair(&k, &v, &mut sum, &mut out);
            out.summary.push((k, v));
        }
    }
    merge_ident(
        &mut out,
        &sum,
        &Ident::default(),
        &Ident::default(),
        &Ident::default(),
    );
    out
}

// ---------------------------------------------------------------------------
// Internal scan, shared with `explain`.
// ---------------------------------------------------------------------------

/// Where a box (section) of the log sits, in byte offsets of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span {
    /// Title with the timestamp removed; `None` for the preamble (everything
    /// before the first box).
    pub title: Option<String>,
    /// True for the main box (`+===+`, `╔═╗`).
    pub main: bool,
    /// Offset of the first line of the box (the opening rule).
    pub box_start: usize,
    /// Offset just after the closing rule's line.
    pub body_start: usize,
    /// Offset where the next box starts (or the end of the log).
    pub body_end: usize,
}

/// The result of one pass over a log: the fields plus where its boxes are.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scan {
    /// The extracted fields.
    pub log: BuildLog,
    /// The preamble and every box, in order.
    pub spans: Vec<Span>,
}

/// Identity fields as one source of the log states them.
#[derive(Debug, Default, Clone)]
struct Ident {
    package: Option<String>,
    version: Option<String>,
    source_version: Option<String>,
    distribution: Option<String>,
    host_arch: Option<String>,
    /// The 0.60.3 Summary's plain `Architecture:` (used when no `Host
    /// Architecture` is given).
    arch: Option<String>,
    build_arch: Option<String>,
    machine_arch: Option<String>,
    build_type: Option<String>,
    build_profiles: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    AsciiMain,
    AsciiSub,
    UniMainTop,
    UniMainBottom,
    UniSubTop,
    UniSubBottom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Ascii,
    UniMain,
    UniSub,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Other,
    Rule { rule: Rule, width: usize },
    Title { style: Style, width: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    /// Before the `sbuild (Debian sbuild)` line / main box.
    Preamble,
    /// The header key block after the main box.
    Header,
    /// Inside a subsection.
    Section,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sect {
    Other,
    Summary,
    Changes,
}

/// A line the box detector has looked at.
#[derive(Debug, Clone, Copy)]
struct Prev {
    class: Class,
    /// Offset of the line.
    start: usize,
    /// Offset of the line after it (lines are adjacent when one's `next` is
    /// the other's `start`).
    next: usize,
    /// Trimmed content range.
    content: (usize, usize),
}

impl Default for Prev {
    fn default() -> Self {
        Prev {
            class: Class::Other,
            start: usize::MAX,
            next: usize::MAX,
            content: (0, 0),
        }
    }
}

/// Offset of the next line at or after `from` that starts with '+', '|' or
/// 0xE2 (the first byte of every Unicode box character).
fn next_box_candidate(log: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let hit = from + memchr::memchr3(b'+', b'|', 0xE2, log.get(from..)?)?;
        if hit == 0 || log.get(hit - 1) == Some(&b'\n') {
            return Some(hit);
        }
        from = hit + 1;
    }
}

/// How many lines at the end of a log are searched for `Finished at` /
/// `Build needed` when no Summary box held them.
const TRAILER_TAIL_LINES: usize = 64;

/// Looks for `Finished at` / `Build needed` among the last lines of `log`,
/// filling only what is still missing.
fn tail_trailer(log: &[u8], out: &mut BuildLog) {
    let mut end = log.len();
    let mut finished = out.finished_at.is_some();
    let mut needed = out.build_needed_secs.is_some() || out.build_needed_space.is_some();
    for _ in 0..TRAILER_TAIL_LINES {
        if finished && needed {
            break;
        }
        let Some(hay) = log.get(..end) else { break };
        let start = memchr::memrchr(b'\n', hay.get(..hay.len().saturating_sub(1)).unwrap_or(&[]))
            .map_or(0, |i| i + 1);
        let line = trim_end(hay.get(start..).unwrap_or(&[]));
        if !finished && line.starts_with(b"Finished at ") {
            finished = trailer_line(line, out);
        } else if !needed && line.starts_with(b"Build needed ") {
            needed = trailer_line(line, out);
        }
        if start == 0 {
            break;
        }
        end = start;
    }
}

const UNI_H: &[u8] = "─".as_bytes();
const UNI_HH: &[u8] = "═".as_bytes();
const UNI_V: &[u8] = "│".as_bytes();
const UNI_VV: &[u8] = "║".as_bytes();

/// First bytes of lines that may matter outside the header and Summary.
static CANDIDATE: [bool; 256] = {
    let mut t = [false; 256];
    t[b'+' as usize] = true;
    t[b'|' as usize] = true;
    t[0xE2] = true;
    t[b'*' as usize] = true;
    t[b'A' as usize] = true;
    t[b'B' as usize] = true;
    t[b'F' as usize] = true;
    t[b'S' as usize] = true;
    t[b's' as usize] = true;
    t
};

/// One pass over `log`.
pub(crate) fn scan(log: &[u8]) -> Scan {
    let mut out = BuildLog::default();
    let mut spans = vec![Span {
        title: None,
        main: false,
        box_start: 0,
        body_start: 0,
        body_end: log.len(),
    }];
    let mut sum = Ident::default();
    let mut hdr = Ident::default();
    let mut boxf = Ident::default();
    let mut old = Ident::default();
    let mut old_builder: Option<String> = None;
    let mut old_sbuild_version: Option<String> = None;

    let mut region = Region::Preamble;
    let mut sect = Sect::Other;
    let mut summary_done = false;
    let mut header_keys = 0usize;
    let mut header_lines = 0usize;
    let mut identity_box_seen = false;
    let mut box_style: Option<LogFormat> = None;
    let mut automatic_line = false;
    let mut star_rule = false;
    let mut old_failed = false;
    let mut old_killed = false;
    let mut old_depfail = false;
    let mut build_needed_seen = false;

    let mut changes_start: Option<usize> = None;
    let mut changes_end: Option<usize> = None;

    let mut prev1 = Prev::default();
    let mut prev2 = Prev::default();

    let mut pos = 0usize;
    while pos < log.len() {
        if region == Region::Section && sect == Sect::Other {
            // Inside an ordinary section only a box matters, and every box
            // line starts with '+', '|' or a Unicode box character (0xE2).
            match next_box_candidate(log, pos) {
                Some(p) => pos = p,
                None => break,
            }
        }
        let start = pos;
        let rest = log.get(start..).unwrap_or(&[]);
        let (raw, next) = match memchr(b'\n', rest) {
            Some(i) => (rest.get(..i).unwrap_or(&[]), start + i + 1),
            None => (rest, log.len()),
        };
        pos = next;
        let first = raw.first().copied().unwrap_or(b'\n');
        let full = region == Region::Header
            || (region == Region::Section && sect != Sect::Other)
            || CANDIDATE[usize::from(first)];
        if !full {
            continue;
        }
        let line = trim_end(raw);
        let class = classify(line);
        let content = (start, start + line.len());

        // Box detection: rule, title, rule.
        if let Class::Rule { rule, width } = class {
            if let (
                Class::Title {
                    style,
                    width: twidth,
                },
                Class::Rule {
                    rule: rule0,
                    width: width0,
                },
            ) = (prev1.class, prev2.class)
            {
                let adjacent = prev1.next == start && prev2.next == prev1.start;
                if let Some((main, fmt)) = box_kind(rule0, style, rule).filter(|_| adjacent) {
                    if width0 == width && twidth == width {
                        let box_start = prev2.start;
                        let body_start = next;
                        if let Some(last) = spans.last_mut() {
                            last.body_end = box_start;
                        }
                        if sect == Sect::Changes && changes_start.is_some() && changes_end.is_none()
                        {
                            changes_end = Some(box_start);
                        }
                        if box_style.is_none() {
                            box_style = Some(fmt);
                        }
                        let title_bytes = log.get(prev1.content.0..prev1.content.1).unwrap_or(&[]);
                        let title = box_title(title_bytes, style);
                        if main {
                            if !identity_box_seen && main_box_identity(&title, &mut boxf) {
                                identity_box_seen = true;
                                region = Region::Header;
                                header_keys = 0;
                                header_lines = 0;
                                sect = Sect::Other;
                            } else if let Some(rest) = title.strip_prefix("sbuild/") {
                                // sbuild 0.57–0.58: `║ sbuild/<arch> <ver> ║`.
                                let mut it = rest.split_whitespace();
                                if let (Some(a), Some(v)) = (it.next(), it.next()) {
                                    old.host_arch.get_or_insert_with(|| a.to_string());
                                    old_sbuild_version.get_or_insert_with(|| v.to_string());
                                }
                            } else {
                                out.sections.push(title.clone());
                                region = Region::Section;
                                sect = section_kind(&title);
                                summary_done = false;
                            }
                        } else {
                            out.sections.push(title.clone());
                            region = Region::Section;
                            sect = section_kind(&title);
                            summary_done = false;
                        }
                        spans.push(Span {
                            title: Some(title),
                            main,
                            box_start,
                            body_start,
                            body_end: log.len(),
                        });
                        prev2 = Prev::default();
                        prev1 = Prev::default();
                        continue;
                    }
                }
            }
        }

        // Global markers (any region).
        match first {
            b's' => {
                if let Some(rest) = line.strip_prefix(b"sbuild (Debian sbuild) ") {
                    sbuild_line(rest, &mut out);
                    if region == Region::Preamble {
                        region = Region::Header;
                        header_keys = 0;
                        header_lines = 0;
                    }
                }
            }
            b'A' if line.starts_with(b"Automatic build of ") => {
                if let Some((p, v, h, a, sv)) = automatic_line_fields(line) {
                    automatic_line = true;
                    old.package.get_or_insert(p);
                    old.version.get_or_insert(v);
                    old.host_arch.get_or_insert(a);
                    old_builder.get_or_insert(h);
                    old_sbuild_version.get_or_insert(sv);
                }
            }
            b'B' => {
                if line.starts_with(b"Build needed ") {
                    if trailer_line(line, &mut out) {
                        build_needed_seen = true;
                    }
                } else if line.starts_with(b"Build killed with signal") {
                    old_killed = true;
                }
            }
            b'F' => {
                if line.starts_with(b"Finished at ") {
                    trailer_line(line, &mut out);
                } else if line.starts_with(b"FAILED [") {
                    old_failed = true;
                }
            }
            b'S' if line.starts_with(b"Source-dependencies not satisfied") => {
                old_depfail = true;
            }
            b'*' if line.len() >= MIN_RULE_FILL && line.iter().all(|&b| b == b'*') => {
                star_rule = true;
            }
            _ => {}
        }

        match region {
            Region::Header => {
                header_lines += 1;
                if header_keys == 0 && header_lines > MAX_HEADER_GAP {
                    // No key block where one was expected: stop treating
                    // every line as a header candidate.
                    region = Region::Section;
                    sect = Sect::Other;
                } else if line.is_empty() {
                    if header_keys > 0 {
                        // The key block is contiguous: a blank line after it
                        // ends the header.
                        region = Region::Section;
                        sect = Sect::Other;
                    }
                } else if let Some((k, v)) = split_kv(line) {
                    if header_pair(&k, &v, &mut hdr) {
                        header_keys += 1;
                    }
                }
            }
            Region::Section if sect == Sect::Summary && !summary_done => {
                if is_separator(line) {
                    // `Finished at` / `Build needed` follow: stay line by line.
                    summary_done = true;
                } else if let Some((k, v)) = split_kv(line) {
                    apply_summary_pair(&k, &v, &mut sum, &mut out);
                    out.summary.push((k, v));
                }
            }
            Region::Section
                if sect == Sect::Changes && changes_end.is_none() && is_underline(line) =>
            {
                let title = if prev1.next == start {
                    log.get(prev1.content.0..prev1.content.1).unwrap_or(&[])
                } else {
                    &[]
                };
                if let Some(name) = title.strip_suffix(b".changes:") {
                    if changes_start.is_none() {
                        changes_start = Some(
                            start
                                .saturating_add(raw.len())
                                .saturating_add(1)
                                .min(log.len()),
                        );
                        let mut file = String::from_utf8_lossy(name).trim().to_string();
                        file.push_str(".changes");
                        out.changes_file = Some(file);
                    } else {
                        // A second `.changes` (e.g. `_source.changes`).
                        changes_end = Some(prev1.start);
                        sect = Sect::Other;
                    }
                }
            }
            _ => {}
        }

        prev2 = prev1;
        prev1 = Prev {
            class,
            start,
            next,
            content,
        };
    }
    if out.finished_at.is_none() || out.build_needed_secs.is_none() {
        // Trailer lines outside a Summary box (hidden Summary, fragments).
        tail_trailer(log, &mut out);
        build_needed_seen |= out.build_needed_space.is_some();
    }

    // The Changes text.
    if let Some(cs) = changes_start {
        let ce = changes_end.unwrap_or(log.len());
        if let Some(text) = log.get(cs..ce) {
            out.changes = normalise_text(text);
        }
        if out.changes.is_none() {
            out.changes_file = None;
        }
    } else {
        out.changes_file = None;
    }

    // Format.
    let old_markers = old_failed || old_killed || star_rule;
    out.format = Some(match box_style {
        Some(f) => f,
        None if automatic_line || old_markers => LogFormat::Old,
        None => LogFormat::Unknown,
    });

    // Old-format status (no Summary).
    // (sbuild 0.57–0.58 draw a Unicode `sbuild/<arch>` box but still write the
    // old `Automatic build of` layout without a Summary.)
    if out.status.is_none() && (out.format == Some(LogFormat::Old) || automatic_line) {
        out.status = if old_failed || old_killed {
            Some(Status::Attempted)
        } else if old_depfail {
            Some(Status::GivenBack)
        } else if build_needed_seen {
            Some(Status::Successful)
        } else {
            None
        };
    }
    if out.builder.is_none() {
        out.builder = old_builder;
    }
    if out.sbuild_version.is_none() {
        out.sbuild_version = old_sbuild_version;
    }
    merge_ident(&mut out, &sum, &hdr, &boxf, &old);
    Scan { log: out, spans }
}

/// Which box `(opening rule, title style, closing rule)` forms: `(is main
/// box, format)`.
fn box_kind(open: Rule, style: Style, close: Rule) -> Option<(bool, LogFormat)> {
    match (open, style, close) {
        (Rule::AsciiMain, Style::Ascii, Rule::AsciiMain) => Some((true, LogFormat::Ascii)),
        (Rule::AsciiSub, Style::Ascii, Rule::AsciiSub) => Some((false, LogFormat::Ascii)),
        (Rule::UniMainTop, Style::UniMain, Rule::UniMainBottom) => Some((true, LogFormat::Unicode)),
        (Rule::UniSubTop, Style::UniSub, Rule::UniSubBottom) => Some((false, LogFormat::Unicode)),
        _ => None,
    }
}

fn section_kind(title: &str) -> Sect {
    if title.eq_ignore_ascii_case("summary") {
        Sect::Summary
    } else if title.eq_ignore_ascii_case("changes") {
        Sect::Changes
    } else {
        Sect::Other
    }
}

/// Classifies a (right-trimmed) line as a box rule, a box title or other.
fn classify(line: &[u8]) -> Class {
    match line.first() {
        Some(b'+') => {
            let (Some(&fill), Some(&last)) = (line.get(1), line.last()) else {
                return Class::Other;
            };
            if last != b'+' || line.len() < MIN_RULE_FILL + 2 {
                return Class::Other;
            }
            let rule = match fill {
                b'-' => Rule::AsciiSub,
                b'=' => Rule::AsciiMain,
                _ => return Class::Other,
            };
            let mid = line.get(1..line.len() - 1).unwrap_or(&[]);
            if mid.iter().all(|&b| b == fill) {
                Class::Rule {
                    rule,
                    width: line.len(),
                }
            } else {
                Class::Other
            }
        }
        Some(b'|') => {
            if line.len() >= 3 && line.last() == Some(&b'|') {
                let mid = line.get(1..line.len() - 1).unwrap_or(&[]);
                if !mid.contains(&b'|') {
                    return Class::Title {
                        style: Style::Ascii,
                        width: char_width(line),
                    };
                }
            }
            Class::Other
        }
        Some(0xE2) => classify_unicode(line),
        _ => Class::Other,
    }
}

fn classify_unicode(line: &[u8]) -> Class {
    const CORNERS: [(&str, &str, &[u8], Rule); 4] = [
        ("╔", "╗", UNI_HH, Rule::UniMainTop),
        ("╚", "╝", UNI_HH, Rule::UniMainBottom),
        ("┌", "┐", UNI_H, Rule::UniSubTop),
        ("└", "┘", UNI_H, Rule::UniSubBottom),
    ];
    for (l, r, fill, rule) in CORNERS {
        if let Some(mid) = line
            .strip_prefix(l.as_bytes())
            .and_then(|m| m.strip_suffix(r.as_bytes()))
        {
            if mid.len() >= MIN_RULE_FILL * 3
                && mid.len() % 3 == 0
                && mid.chunks(3).all(|c| c == fill)
            {
                return Class::Rule {
                    rule,
                    width: mid.len() / 3 + 2,
                };
            }
            return Class::Other;
        }
    }
    for (border, style) in [(UNI_VV, Style::UniMain), (UNI_V, Style::UniSub)] {
        if let Some(mid) = line
            .strip_prefix(border)
            .and_then(|m| m.strip_suffix(border))
        {
            if !contains_seq(mid, border) {
                return Class::Title {
                    style,
                    width: char_width(line),
                };
            }
            return Class::Other;
        }
    }
    Class::Other
}

fn contains_seq(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Width in characters (UTF-8 continuation bytes not counted).
fn char_width(line: &[u8]) -> usize {
    line.iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

/// The title of a box: border removed, trimmed, trailing timestamp removed.
fn box_title(line: &[u8], style: Style) -> String {
    let border: &[u8] = match style {
        Style::Ascii => b"|",
        Style::UniMain => UNI_VV,
        Style::UniSub => UNI_V,
    };
    let inner = line
        .strip_prefix(border)
        .and_then(|m| m.strip_suffix(border))
        .unwrap_or(line);
    let text = String::from_utf8_lossy(inner);
    strip_timestamp(text.trim()).to_string()
}

fn timestamp_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        // RFC 2822 (`Thu, 03 Sep 2026 21:35:10 +0000`) and the 0.6x local
        // form (`28 Jul 2015 03:07`).
        Regex::new(
            r"\s+(?:[A-Z][a-z]{2},\s+)?\d{1,2}\s+[A-Z][a-z]{2,8}\s+\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s+(?:[+-]\d{4}|[A-Z]{2,5}))?$",
        )
        .ok()
    })
    .as_ref()
}

/// Removes a trailing date/time from a box title.
pub(crate) fn strip_timestamp(title: &str) -> &str {
    match timestamp_re().and_then(|re| re.find(title)) {
        Some(m) => title.get(..m.start()).unwrap_or(title).trim_end(),
        None => title,
    }
}

fn main_box_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^(\S+)\s+(\S+)\s+\(([^()]*)\)").ok())
        .as_ref()
}

/// Parses `<src> <ver> (<arch>)` / `(CROSS host=<a>/build=<b>)` of the main
/// box into `f`. Returns false if the title is not of that form.
fn main_box_identity(title: &str, f: &mut Ident) -> bool {
    let Some(c) = main_box_re().and_then(|re| re.captures(title)) else {
        return false;
    };
    let (Some(src), Some(ver), Some(inner)) = (c.get(1), c.get(2), c.get(3)) else {
        return false;
    };
    if !is_package_name(src.as_str()) {
        return false;
    }
    f.package = Some(src.as_str().to_string());
    f.version = Some(ver.as_str().to_string());
    let inner = inner.as_str().trim();
    if let Some(rest) = inner.strip_prefix("CROSS") {
        for part in rest.split(|c: char| c == '/' || c.is_whitespace()) {
            if let Some(a) = part.strip_prefix("host=") {
                if is_arch(a) {
                    f.host_arch = Some(a.to_string());
                }
            } else if let Some(a) = part.strip_prefix("build=") {
                if is_arch(a) {
                    f.build_arch = Some(a.to_string());
                }
            }
        }
    } else if is_arch(inner) {
        f.host_arch = Some(inner.to_string());
    }
    true
}

fn is_arch(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Debian package name: lower-case alphanumerics and `+-.`, starting with an
/// alphanumeric, at least two characters.
pub(crate) fn is_package_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_lowercase() || b.is_ascii_digit() => {}
        _ => return false,
    }
    s.len() >= 2
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

fn sbuild_line_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^(\S+)(?:\s+\([^)]*\))?(?:\s+on\s+(\S+))?").ok())
        .as_ref()
}

/// `sbuild (Debian sbuild) <version> (<date>) on <host>` (prefix removed).
fn sbuild_line(rest: &[u8], out: &mut BuildLog) {
    let text = String::from_utf8_lossy(rest);
    if let Some(c) = sbuild_line_re().and_then(|re| re.captures(text.trim())) {
        if let Some(v) = c.get(1) {
            out.sbuild_version = Some(v.as_str().to_string());
        }
        if let Some(h) = c.get(2) {
            out.builder = Some(h.as_str().to_string());
        }
    }
}

fn automatic_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^Automatic build of ([^_\s]+)_(\S+) on (\S+) by sbuild/(\S+)(?:\s+(\S+))?")
            .ok()
    })
    .as_ref()
}

/// `Automatic build of <pkg>_<ver> on <host> by sbuild/<arch> <ver>`:
/// `(package, version, host, arch, sbuild version)`.
fn automatic_line_fields(line: &[u8]) -> Option<(String, String, String, String, String)> {
    let text = String::from_utf8_lossy(line);
    let c = automatic_re()?.captures(&text)?;
    Some((
        c.get(1)?.as_str().to_string(),
        c.get(2)?.as_str().to_string(),
        c.get(3)?.as_str().to_string(),
        c.get(4)?.as_str().to_string(),
        c.get(5).map(|m| m.as_str().to_string()).unwrap_or_default(),
    ))
}

fn build_needed_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^Build needed (\d+):(\d{1,2}):(\d{1,2}),\s*(?:(\d+)\s*k|(no)) dis[ck] space")
            .ok()
    })
    .as_ref()
}

/// Handles `Finished at ...` and `Build needed ...`. Returns true if the line
/// was understood.
fn trailer_line(line: &[u8], out: &mut BuildLog) -> bool {
    if let Some(rest) = line.strip_prefix(b"Finished at ") {
        let v = String::from_utf8_lossy(rest).trim().to_string();
        if v.is_empty() {
            return false;
        }
        out.finished_at = Some(v);
        return true;
    }
    let text = String::from_utf8_lossy(line);
    let Some(c) = build_needed_re().and_then(|re| re.captures(&text)) else {
        return false;
    };
    let num = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u64>().ok());
    let secs = match (num(1), num(2), num(3)) {
        (Some(h), Some(m), Some(s)) => h
            .checked_mul(3600)
            .and_then(|h| m.checked_mul(60).and_then(|m| h.checked_add(m)))
            .and_then(|hm| hm.checked_add(s)),
        _ => None,
    };
    out.build_needed_secs = secs;
    out.build_needed_space = if c.get(5).is_some() {
        Some(Space::Unknown)
    } else {
        num(4).map(Space::Kib)
    };
    true
}

/// Splits `Key: value` (key: letters, digits, spaces, `-`, `_`, starting
/// with a letter). The value is trimmed; it may be empty.
fn split_kv(line: &[u8]) -> Option<(String, String)> {
    let colon = memchr(b':', line)?;
    let key = line.get(..colon)?;
    let value = line.get(colon + 1..)?;
    if !key.first()?.is_ascii_alphabetic()
        || !key
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-' || b == b'_')
        || key.len() > 40
    {
        return None;
    }
    if !(value.is_empty() || value.first() == Some(&b' ') || value.first() == Some(&b'\t')) {
        return None;
    }
    let key = String::from_utf8_lossy(key).trim_end().to_string();
    let value = String::from_utf8_lossy(value).trim().to_string();
    Some((key, value))
}

fn nonempty(v: &str) -> Option<String> {
    if v.is_empty() {
        None
    } else {
        Some(v.to_string())
    }
}

/// Header key block. Returns true if the key is one of the header keys.
/// The first occurrence of a key wins.
fn header_pair(k: &str, v: &str, f: &mut Ident) -> bool {
    let slot = match k {
        "Package" => &mut f.package,
        "Version" => &mut f.version,
        "Source Version" | "Source-Version" => &mut f.source_version,
        "Distribution" => &mut f.distribution,
        "Machine Architecture" => &mut f.machine_arch,
        "Host Architecture" => &mut f.host_arch,
        "Build Architecture" => &mut f.build_arch,
        "Architecture" => &mut f.arch,
        "Build Profiles" => &mut f.build_profiles,
        "Build Type" => &mut f.build_type,
        _ => return false,
    };
    if slot.is_none() {
        *slot = nonempty(v);
    }
    true
}

fn parse_space(v: &str) -> Option<Space> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("n/a") {
        Some(Space::Unknown)
    } else {
        v.parse::<u64>().ok().map(Space::Kib)
    }
}

/// One `Key: value` of the Summary (later lines win).
fn apply_summary_pair(k: &str, v: &str, f: &mut Ident, out: &mut BuildLog) {
    let k = k.to_ascii_lowercase();
    match k.as_str() {
        "package" => f.package = nonempty(v),
        "version" => f.version = nonempty(v),
        "source-version" | "source version" => f.source_version = nonempty(v),
        "distribution" => f.distribution = nonempty(v),
        "host architecture" => f.host_arch = nonempty(v),
        "architecture" => f.arch = nonempty(v),
        "build architecture" => f.build_arch = nonempty(v),
        "machine architecture" => f.machine_arch = nonempty(v),
        "build type" => f.build_type = nonempty(v),
        "build profiles" => f.build_profiles = nonempty(v),
        "status" => out.status = Status::parse(v),
        "fail-stage" => out.fail_stage = nonempty(v),
        "build-time" => out.build_time = v.parse().ok(),
        "install-time" => out.install_time = v.parse().ok(),
        "package-time" => out.package_time = v.parse().ok(),
        "space" => out.space = parse_space(v),
        "build-space" => out.build_space = parse_space(v),
        _ => {}
    }
}

fn merge_ident(out: &mut BuildLog, sum: &Ident, hdr: &Ident, boxf: &Ident, old: &Ident) {
    let pick = |get: fn(&Ident) -> &Option<String>| -> Option<String> {
        [sum, hdr, boxf, old].iter().find_map(|i| get(i).clone())
    };
    out.package = pick(|i| &i.package);
    out.version = pick(|i| &i.version);
    out.source_version = pick(|i| &i.source_version);
    out.distribution = pick(|i| &i.distribution);
    out.host_arch = sum
        .host_arch
        .clone()
        .or_else(|| sum.arch.clone())
        .or_else(|| hdr.host_arch.clone())
        .or_else(|| hdr.arch.clone())
        .or_else(|| boxf.host_arch.clone())
        .or_else(|| old.host_arch.clone());
    out.build_arch = pick(|i| &i.build_arch);
    out.machine_arch = pick(|i| &i.machine_arch);
    out.build_type = pick(|i| &i.build_type);
    out.build_profiles = pick(|i| &i.build_profiles);
}

/// A line of at least 20 `-` or `─` (the Summary's closing separator).
fn is_separator(line: &[u8]) -> bool {
    (line.len() >= 20 && line.iter().all(|&b| b == b'-'))
        || (line.len() >= 60 && line.len() % 3 == 0 && line.chunks(3).all(|c| c == UNI_H))
}

/// A sub-subsection underline: at least 3 `-` or `─`.
fn is_underline(line: &[u8]) -> bool {
    (line.len() >= 3 && line.iter().all(|&b| b == b'-'))
        || (line.len() >= 9 && line.len() % 3 == 0 && line.chunks(3).all(|c| c == UNI_H))
}

/// Decodes a block of lines: lossy UTF-8, `\r` and trailing blanks removed,
/// leading/trailing empty lines dropped, `\n` line ends. `None` if empty.
fn normalise_text(text: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut pending_blank = 0usize;
    for (_, raw) in lines(text) {
        let line = trim_end(raw);
        if line.is_empty() {
            if !out.is_empty() {
                pending_blank += 1;
            }
            continue;
        }
        for _ in 0..pending_blank {
            out.push('\n');
        }
        pending_blank = 0;
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

// ---------------------------------------------------------------------------
// Byte-line helpers, shared with `explain`.
// ---------------------------------------------------------------------------

/// Iterator over the lines of a byte buffer: `(offset of the line, line
/// without its '\n')`.
#[derive(Debug, Clone)]
pub(crate) struct Lines<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.data.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let start = self.pos;
        match memchr(b'\n', rest) {
            Some(i) => {
                self.pos = start.saturating_add(i).saturating_add(1);
                rest.get(..i).map(|l| (start, l))
            }
            None => {
                self.pos = self.data.len();
                Some((start, rest))
            }
        }
    }
}

/// The lines of `data`.
pub(crate) fn lines(data: &[u8]) -> Lines<'_> {
    Lines { data, pos: 0 }
}

/// Removes trailing ASCII whitespace (including `\r`).
pub(crate) fn trim_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    line.get(..end).unwrap_or(&[])
}

fn strip_bom(line: &[u8]) -> &[u8] {
    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(c: char, n: usize) -> String {
        format!("+{}+", c.to_string().repeat(n))
    }

    fn ascii_box(title: &str, fill: char, width: usize) -> String {
        let inner = width - 2;
        format!(
            "{}\n| {:<w$} |\n{}\n",
            rule(fill, inner),
            title,
            rule(fill, inner),
            w = inner - 2
        )
    }

    #[test]
    fn lines_handle_crlf_and_missing_final_newline() {
        let v: Vec<_> = lines(b"a\r\nb\n\nc")
            .map(|(o, l)| (o, trim_end(l)))
            .collect();
        assert_eq!(v, vec![(0, &b"a"[..]), (3, b"b"), (5, b""), (6, b"c")]);
        assert_eq!(lines(b"").count(), 0);
    }

    #[test]
    fn timestamp_is_stripped_from_titles() {
        assert_eq!(
            strip_timestamp("Summary        Thu, 03 Sep 2026 21:35:10 +0000"),
            "Summary"
        );
        assert_eq!(
            strip_timestamp("xfsprogs 3.2.3 (CROSS host=arm64/build=amd64)   28 Jul 2015 03:07"),
            "xfsprogs 3.2.3 (CROSS host=arm64/build=amd64)"
        );
        assert_eq!(strip_timestamp("Build"), "Build");
        assert_eq!(strip_timestamp("Install 2 things"), "Install 2 things");
    }

    #[test]
    fn main_box_forms() {
        let mut f = Ident::default();
        assert!(main_box_identity("hello 2.10-3 (amd64)", &mut f));
        assert_eq!(f.host_arch.as_deref(), Some("amd64"));
        let mut f = Ident::default();
        assert!(main_box_identity(
            "xfsprogs 3.2.3 (CROSS host=arm64/build=amd64)",
            &mut f
        ));
        assert_eq!(f.host_arch.as_deref(), Some("arm64"));
        assert_eq!(f.build_arch.as_deref(), Some("amd64"));
        assert!(!main_box_identity("Summary", &mut Ident::default()));
    }

    #[test]
    fn wide_ascii_box_and_timestamp() {
        let long = "Chroot Setup Commands for a very long hook name that does not fit in eighty columns at all";
        let mut log = String::from("sbuild (Debian sbuild) 0.88.1 (01 January 2025) on b1\n\n");
        log += &ascii_box(
            "foo 1.0-1 (amd64)     Thu, 03 Sep 2026 21:35:10 +0000",
            '=',
            80,
        );
        log += "\nPackage: foo\nVersion: 1.0-1\nDistribution: sid\n\n";
        log += &ascii_box(long, '-', long.len() + 4);
        log += "\nhello\n\n";
        log += &ascii_box("Build          Thu, 03 Sep 2026 21:35:12 +0000", '-', 80);
        let p = parse(log.as_bytes());
        assert_eq!(p.format, Some(LogFormat::Ascii));
        assert_eq!(p.sections, vec![long.to_string(), "Build".to_string()]);
        assert_eq!(p.package.as_deref(), Some("foo"));
        assert_eq!(p.host_arch.as_deref(), Some("amd64"));
        assert_eq!(p.distribution.as_deref(), Some("sid"));
        assert_eq!(p.builder.as_deref(), Some("b1"));
        assert_eq!(p.sbuild_version.as_deref(), Some("0.88.1"));
        assert_eq!(p.status, None);
    }

    #[test]
    fn mismatched_widths_or_inner_bars_are_not_boxes() {
        let mut log = String::new();
        log += &format!(
            "{}\n| a | b {} |\n{}\n",
            rule('-', 78),
            " ".repeat(68),
            rule('-', 78)
        );
        log += &format!(
            "{}\n| Build {}|\n{}\n",
            rule('-', 78),
            " ".repeat(60),
            rule('-', 78)
        );
        log += &format!("+{}+\n| x |\n+{}+\n", "-".repeat(5), "-".repeat(5));
        let p = parse(log.as_bytes());
        assert!(p.sections.is_empty(), "{:?}", p.sections);
        assert_eq!(p.format, Some(LogFormat::Unknown));
    }

    #[test]
    fn summary_overrides_header_and_records_pairs() {
        let mut log = String::new();
        log += &ascii_box("foo 1.0-1 (amd64)", '=', 80);
        log += "\nPackage: foo\nVersion: 1.0-1\nDistribution: sid\nHost Architecture: amd64\n\n";
        log += &ascii_box("Summary", '-', 80);
        log += "\n\nBuild-Space: n/a\nBuild-Time: 12\nDistribution: unstable\nFail-Stage: build\n";
        log += "Host Architecture: i386\nSpace: n/a\nStatus: attempted\n";
        log += &"-".repeat(80);
        log += "\nFinished at 2024-01-01T00:00:00Z\nBuild needed 01:02:03, no disk space\n";
        let p = parse(log.as_bytes());
        assert_eq!(p.distribution.as_deref(), Some("unstable"));
        assert_eq!(p.host_arch.as_deref(), Some("i386"));
        assert_eq!(p.status, Some(Status::Attempted));
        assert_eq!(p.fail_stage.as_deref(), Some("build"));
        assert_eq!(p.build_time, Some(12));
        assert_eq!(p.space, Some(Space::Unknown));
        assert_eq!(p.build_space, Some(Space::Unknown));
        assert_eq!(p.build_needed_secs, Some(3723));
        assert_eq!(p.build_needed_space, Some(Space::Unknown));
        assert_eq!(p.finished_at.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(p.summary.len(), 7);
        assert_eq!(
            p.summary.first(),
            Some(&("Build-Space".to_string(), "n/a".to_string()))
        );
    }

    #[test]
    fn old_format_statuses() {
        let base = "Automatic build of foo_1.0-1 on bd1 by sbuild/i386 1.170.5\nBuild started at 20090101-0000\n";
        let stars = "*".repeat(78);
        let ok = format!(
            "{base}{stars}\nFinished at 20090101-0001\nBuild needed 00:00:01, 12k disk space\n"
        );
        let p = parse(ok.as_bytes());
        assert_eq!(p.format, Some(LogFormat::Old));
        assert_eq!(p.status, Some(Status::Successful));
        assert_eq!(p.package.as_deref(), Some("foo"));
        assert_eq!(p.version.as_deref(), Some("1.0-1"));
        assert_eq!(p.builder.as_deref(), Some("bd1"));
        assert_eq!(p.host_arch.as_deref(), Some("i386"));
        assert_eq!(p.sbuild_version.as_deref(), Some("1.170.5"));
        assert_eq!(p.build_needed_space, Some(Space::Kib(12)));
        let failed = format!("{base}{stars}\nFAILED [dpkg-buildpackage died]\nBuild needed 00:00:01, 12k disk space\n");
        let p = parse(failed.as_bytes());
        assert_eq!(p.status, Some(Status::Attempted));
        assert_eq!(p.fail_stage, None);
        let dep = format!("{base}Source-dependencies not satisfied; skipping foo\n{stars}\nBuild needed 00:00:00, 0k disk space\n");
        assert_eq!(parse(dep.as_bytes()).status, Some(Status::GivenBack));
        let killed =
            format!("Build killed with signal 15 after 150 minutes of inactivity\n{stars}\n");
        assert_eq!(parse(killed.as_bytes()).status, Some(Status::Attempted));
    }

    #[test]
    fn sbuild_057_unicode_box_with_old_layout() {
        let mut log = String::new();
        log += &format!("╔{}╗\n", "═".repeat(78));
        log += &format!("║ {:<76} ║\n", "sbuild/powerpc 0.57.5");
        log += &format!("╚{}╝\n\n", "═".repeat(78));
        log += "Automatic build of foo_1.0-1 on ppc-bd by sbuild/powerpc 0.57.5\n";
        log += "Build started at 20081010-1010\n";
        log += "FAILED [dpkg-buildpackage died]\n";
        let p = parse(log.as_bytes());
        assert_eq!(p.format, Some(LogFormat::Unicode));
        assert_eq!(p.status, Some(Status::Attempted));
        assert_eq!(p.package.as_deref(), Some("foo"));
        assert_eq!(p.host_arch.as_deref(), Some("powerpc"));
        assert_eq!(p.sbuild_version.as_deref(), Some("0.57.5"));
        assert!(p.sections.is_empty());
    }

    #[test]
    fn no_summary_means_no_status() {
        let mut log = String::from("sbuild (Debian sbuild) 0.85.0 (04 January 2023) on h\n");
        log += &ascii_box("Build", '-', 80);
        log += "E: Build failure (dpkg-buildpackage died)\nBuild needed 00:00:01, 1k disk space\n";
        assert_eq!(parse(log.as_bytes()).status, None);
    }

    #[test]
    fn trailer_outside_a_summary_box_is_found_at_the_end() {
        let mut log = String::from("sbuild (Debian sbuild) 0.88.3 (07 February 2025) on h\n");
        log += &ascii_box("Build", '-', 80);
        log += "a + b | c \u{2018}x\u{2019}\n";
        log += &ascii_box("Cleanup", '-', 80);
        log += "Finished at 2026-01-01T00:00:00Z\r\nBuild needed 00:00:07, 3k disk space\r\n";
        log += "E: something after the trailer\n";
        let p = parse(log.as_bytes());
        assert_eq!(p.sections, ["Build", "Cleanup"]);
        assert_eq!(p.finished_at.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(p.build_needed_secs, Some(7));
        assert_eq!(p.build_needed_space, Some(Space::Kib(3)));
        assert_eq!(p.status, None);
    }

    #[test]
    fn boxes_need_adjacent_lines() {
        let mut log = ascii_box("Build", '-', 80);
        log += "x\n";
        let rule = rule('-', 78);
        log += &format!("{rule}\n\n| {:<76} |\n{rule}\n", "Summary");
        let p = parse(log.as_bytes());
        assert_eq!(p.sections, ["Build"]);
    }

    #[test]
    fn summary_part() {
        let p = parse_summary_part(
            b"\xEF\xBB\xBFBuild-Space: 100\r\nFail-Stage: install-deps\r\nPackage: libfoo\r\nStatus: given-back\r\nVersion: 1:1.4-2\r\n",
        );
        assert_eq!(p.status, Some(Status::GivenBack));
        assert_eq!(p.fail_stage.as_deref(), Some("install-deps"));
        assert_eq!(p.package.as_deref(), Some("libfoo"));
        assert_eq!(p.version.as_deref(), Some("1:1.4-2"));
        assert_eq!(p.build_space, Some(Space::Kib(100)));
        assert_eq!(p.format, None);
        assert_eq!(p.summary.len(), 5);
    }

    #[test]
    fn split_kv_rules() {
        assert_eq!(
            split_kv(b"Status: ok"),
            Some(("Status".into(), "ok".into()))
        );
        assert_eq!(
            split_kv(b"Build Profiles:"),
            Some(("Build Profiles".into(), "".into()))
        );
        assert_eq!(split_kv(b"http://x"), None);
        assert_eq!(split_kv(b" Package: x"), None);
    }

    #[test]
    fn changes_section_is_extracted_up_to_next_box() {
        let mut log = String::new();
        log += &ascii_box("Changes", '-', 80);
        log += "\nfoo_1_amd64.changes:\r\n--------------------\r\n\r\nFormat: 1.8\r\nSource: foo\r\n\r\n";
        log += &ascii_box("Buildinfo", '-', 80);
        log += "Format: 1.0\n";
        let p = parse(log.as_bytes());
        assert_eq!(p.changes.as_deref(), Some("Format: 1.8\nSource: foo\n"));
        assert_eq!(p.changes_file.as_deref(), Some("foo_1_amd64.changes"));
    }
}
