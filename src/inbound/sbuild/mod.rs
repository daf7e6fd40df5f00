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

use crate::debian::Status;
use serde::{Deserialize, Serialize};

mod fields;
mod lines;
mod scan;
use fields::*;
pub(crate) use lines::*;
pub(crate) use scan::*;

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

/// Whether three consecutive lines (line ends removed) form one of
/// sbuild's section boxes, by the rules of [`parse`] (see "What counts as
/// a box"): its title (timestamp removed) and whether it is a main box.
/// For readers that see a log a line at a time (the log viewer streams
/// logs it never holds whole).
pub fn section_box(open: &[u8], title: &[u8], close: &[u8]) -> Option<(String, bool)> {
    let (open, title, close) = (trim_end(open), trim_end(title), trim_end(close));
    let (
        Class::Rule {
            rule: r0,
            width: w0,
        },
        Class::Title { style, width: tw },
        Class::Rule {
            rule: r1,
            width: w1,
        },
    ) = (classify(open), classify(title), classify(close))
    else {
        return None;
    };
    let (main, _) = box_kind(r0, style, r1)?;
    (w0 == w1 && tw == w1).then(|| (box_title(title, style), main))
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

// ---------------------------------------------------------------------------
// Byte-line helpers, shared with `explain`.
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests;
