//! The fields of a log: the main box's identity, the `sbuild` line, the
//! old `Automatic build of` line, header and Summary `Key: value` pairs,
//! `Finished at` and `Build needed`, and how they are merged.

use crate::debian::names::{is_arch_name, is_package_name};
use crate::debian::Status;
use crate::inbound::sbuild::lines;
use crate::inbound::sbuild::trim_end;
use crate::inbound::sbuild::BuildLog;
use crate::inbound::sbuild::Space;
use crate::inbound::sbuild::UNI_H;
use memchr::memchr;

/// Identity fields as one source of the log states them.
#[derive(Debug, Default, Clone)]
pub(super) struct Ident {
    pub(super) package: Option<String>,
    pub(super) version: Option<String>,
    pub(super) source_version: Option<String>,
    pub(super) distribution: Option<String>,
    pub(super) host_arch: Option<String>,
    /// The 0.60.3 Summary's plain `Architecture:` (used when no `Host
    /// Architecture` is given).
    pub(super) arch: Option<String>,
    pub(super) build_arch: Option<String>,
    pub(super) machine_arch: Option<String>,
    pub(super) build_type: Option<String>,
    pub(super) build_profiles: Option<String>,
}

// RFC 2822 (`Thu, 03 Sep 2026 21:35:10 +0000`) and the 0.6x local
// form (`28 Jul 2015 03:07`).
static_regex! {
    pub(super) fn timestamp_re() = r"\s+(?:[A-Z][a-z]{2},\s+)?\d{1,2}\s+[A-Z][a-z]{2,8}\s+\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s+(?:[+-]\d{4}|[A-Z]{2,5}))?$";
}

/// Removes a trailing date/time from a box title.
pub(crate) fn strip_timestamp(title: &str) -> &str {
    match timestamp_re().find(title) {
        Some(m) => title.get(..m.start()).unwrap_or(title).trim_end(),
        None => title,
    }
}

static_regex! {
    pub(super) fn main_box_re() = r"^(\S+)\s+(\S+)\s+\(([^()]*)\)";
}

/// Parses `<src> <ver> (<arch>)` / `(CROSS host=<a>/build=<b>)` of the main
/// box into `f`. Returns false if the title is not of that form.
pub(super) fn main_box_identity(title: &str, f: &mut Ident) -> bool {
    let Some(c) = main_box_re().captures(title) else {
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
                if is_arch_name(a) {
                    f.host_arch = Some(a.to_string());
                }
            } else if let Some(a) = part.strip_prefix("build=") {
                if is_arch_name(a) {
                    f.build_arch = Some(a.to_string());
                }
            }
        }
    } else if is_arch_name(inner) {
        f.host_arch = Some(inner.to_string());
    }
    true
}

static_regex! {
    pub(super) fn sbuild_line_re() = r"^(\S+)(?:\s+\([^)]*\))?(?:\s+on\s+(\S+))?";
}

/// `sbuild (Debian sbuild) <version> (<date>) on <host>` (prefix removed).
pub(super) fn sbuild_line(rest: &[u8], out: &mut BuildLog) {
    let text = String::from_utf8_lossy(rest);
    if let Some(c) = sbuild_line_re().captures(text.trim()) {
        if let Some(v) = c.get(1) {
            out.sbuild_version = Some(v.as_str().to_string());
        }
        if let Some(h) = c.get(2) {
            out.builder = Some(h.as_str().to_string());
        }
    }
}

static_regex! {
    pub(super) fn automatic_re() = r"^Automatic build of ([^_\s]+)_(\S+) on (\S+) by sbuild/(\S+)(?:\s+(\S+))?";
}

/// `Automatic build of <pkg>_<ver> on <host> by sbuild/<arch> <ver>`:
/// `(package, version, host, arch, sbuild version)`.
pub(super) fn automatic_line_fields(
    line: &[u8],
) -> Option<(String, String, String, String, String)> {
    let text = String::from_utf8_lossy(line);
    let c = automatic_re().captures(&text)?;
    Some((
        c.get(1)?.as_str().to_string(),
        c.get(2)?.as_str().to_string(),
        c.get(3)?.as_str().to_string(),
        c.get(4)?.as_str().to_string(),
        c.get(5).map(|m| m.as_str().to_string()).unwrap_or_default(),
    ))
}

static_regex! {
    pub(super) fn build_needed_re() = r"^Build needed (\d+):(\d{1,2}):(\d{1,2}),\s*(?:(\d+)\s*k|(no)) dis[ck] space";
}

/// Handles `Finished at ...` and `Build needed ...`. Returns true if the line
/// was understood.
pub(super) fn trailer_line(line: &[u8], out: &mut BuildLog) -> bool {
    if let Some(rest) = line.strip_prefix(b"Finished at ") {
        let v = String::from_utf8_lossy(rest).trim().to_string();
        if v.is_empty() {
            return false;
        }
        out.finished_at = Some(v);
        return true;
    }
    let text = String::from_utf8_lossy(line);
    let Some(c) = build_needed_re().captures(&text) else {
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
pub(super) fn split_kv(line: &[u8]) -> Option<(String, String)> {
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

pub(super) fn nonempty(v: &str) -> Option<String> {
    if v.is_empty() {
        None
    } else {
        Some(v.to_string())
    }
}

/// Header key block. Returns true if the key is one of the header keys.
/// The first occurrence of a key wins.
pub(super) fn header_pair(k: &str, v: &str, f: &mut Ident) -> bool {
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

pub(super) fn parse_space(v: &str) -> Option<Space> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("n/a") {
        Some(Space::Unknown)
    } else {
        v.parse::<u64>().ok().map(Space::Kib)
    }
}

/// One `Key: value` of the Summary (later lines win).
pub(super) fn apply_summary_pair(k: &str, v: &str, f: &mut Ident, out: &mut BuildLog) {
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

pub(super) fn merge_ident(out: &mut BuildLog, sum: &Ident, hdr: &Ident, boxf: &Ident, old: &Ident) {
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
pub(super) fn is_separator(line: &[u8]) -> bool {
    (line.len() >= 20 && line.iter().all(|&b| b == b'-'))
        || (line.len() >= 60 && line.len() % 3 == 0 && line.chunks(3).all(|c| c == UNI_H))
}

/// A sub-subsection underline: at least 3 `-` or `─`.
pub(super) fn is_underline(line: &[u8]) -> bool {
    (line.len() >= 3 && line.iter().all(|&b| b == b'-'))
        || (line.len() >= 9 && line.len() % 3 == 0 && line.chunks(3).all(|c| c == UNI_H))
}

/// Decodes a block of lines: lossy UTF-8, `\r` and trailing blanks removed,
/// leading/trailing empty lines dropped, `\n` line ends. `None` if empty.
pub(super) fn normalise_text(text: &[u8]) -> Option<String> {
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
