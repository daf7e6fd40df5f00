//! The single pass over a log: lines are classified (box rules, titles,
//! the sbuild line, key blocks), boxes found, sections delimited, and the
//! fields of each region read (see the module documentation for what is
//! looked at where).

use crate::debian::Status;
use crate::inbound::sbuild::apply_summary_pair;
use crate::inbound::sbuild::automatic_line_fields;
use crate::inbound::sbuild::header_pair;
use crate::inbound::sbuild::is_separator;
use crate::inbound::sbuild::is_underline;
use crate::inbound::sbuild::main_box_identity;
use crate::inbound::sbuild::merge_ident;
use crate::inbound::sbuild::normalise_text;
use crate::inbound::sbuild::sbuild_line;
use crate::inbound::sbuild::split_kv;
use crate::inbound::sbuild::strip_timestamp;
use crate::inbound::sbuild::trailer_line;
use crate::inbound::sbuild::trim_end;
use crate::inbound::sbuild::BuildLog;
use crate::inbound::sbuild::Ident;
use crate::inbound::sbuild::LogFormat;
use crate::inbound::sbuild::Scan;
use crate::inbound::sbuild::Span;
use crate::inbound::sbuild::MAX_HEADER_GAP;
use crate::inbound::sbuild::MIN_RULE_FILL;
use memchr::memchr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rule {
    AsciiMain,
    AsciiSub,
    UniMainTop,
    UniMainBottom,
    UniSubTop,
    UniSubBottom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    Ascii,
    UniMain,
    UniSub,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Other,
    Rule { rule: Rule, width: usize },
    Title { style: Style, width: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Region {
    /// Before the `sbuild (Debian sbuild)` line / main box.
    Preamble,
    /// The header key block after the main box.
    Header,
    /// Inside a subsection.
    Section,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sect {
    Other,
    Summary,
    Changes,
}

/// A line the box detector has looked at.
#[derive(Debug, Clone, Copy)]
pub(super) struct Prev {
    pub(super) class: Class,
    /// Offset of the line.
    pub(super) start: usize,
    /// Offset of the line after it (lines are adjacent when one's `next` is
    /// the other's `start`).
    pub(super) next: usize,
    /// Trimmed content range.
    pub(super) content: (usize, usize),
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
pub(super) fn next_box_candidate(log: &[u8], mut from: usize) -> Option<usize> {
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
pub(super) const TRAILER_TAIL_LINES: usize = 64;

/// Looks for `Finished at` / `Build needed` among the last lines of `log`,
/// filling only what is still missing.
pub(super) fn tail_trailer(log: &[u8], out: &mut BuildLog) {
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

pub(super) const UNI_H: &[u8] = "─".as_bytes();

pub(super) const UNI_HH: &[u8] = "═".as_bytes();

pub(super) const UNI_V: &[u8] = "│".as_bytes();

pub(super) const UNI_VV: &[u8] = "║".as_bytes();

/// First bytes of lines that may matter outside the header and Summary.
pub(super) static CANDIDATE: [bool; 256] = {
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
pub(super) fn box_kind(open: Rule, style: Style, close: Rule) -> Option<(bool, LogFormat)> {
    match (open, style, close) {
        (Rule::AsciiMain, Style::Ascii, Rule::AsciiMain) => Some((true, LogFormat::Ascii)),
        (Rule::AsciiSub, Style::Ascii, Rule::AsciiSub) => Some((false, LogFormat::Ascii)),
        (Rule::UniMainTop, Style::UniMain, Rule::UniMainBottom) => Some((true, LogFormat::Unicode)),
        (Rule::UniSubTop, Style::UniSub, Rule::UniSubBottom) => Some((false, LogFormat::Unicode)),
        _ => None,
    }
}

pub(super) fn section_kind(title: &str) -> Sect {
    if title.eq_ignore_ascii_case("summary") {
        Sect::Summary
    } else if title.eq_ignore_ascii_case("changes") {
        Sect::Changes
    } else {
        Sect::Other
    }
}

/// Classifies a (right-trimmed) line as a box rule, a box title or other.
pub(super) fn classify(line: &[u8]) -> Class {
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

pub(super) fn classify_unicode(line: &[u8]) -> Class {
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

pub(super) fn contains_seq(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Width in characters (UTF-8 continuation bytes not counted).
pub(super) fn char_width(line: &[u8]) -> usize {
    line.iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

/// The title of a box: border removed, trimmed, trailing timestamp removed.
pub(super) fn box_title(line: &[u8], style: Style) -> String {
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
