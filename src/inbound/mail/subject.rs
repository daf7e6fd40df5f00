//! Subjects: sbuild's `Log for ...`, replies to it and to `Should I build`,
//! and the archive's answers about a `.changes`.

use crate::debian::names::{ARCH_RE, DIST_RE, PACKAGE_RE as SOURCE_RE, VERSION_RE};
use serde::{Deserialize, Serialize};

/// The identity a log mail's subject carries:
/// `Log for <status> build of <src>_<ver>[ source][ on <arch>|on all] (dist=<dist>)`
/// or `... (<archive>/<dist>)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSubject {
    /// The status word: one of `successful`, `attempted`, `given-back`,
    /// `skipped`, `failed` (lower-cased), or an unknown word as written.
    pub status: String,
    /// Source package.
    pub source: String,
    /// Version, epoch and binNMU suffix kept.
    pub version: String,
    /// `on <arch>` (`Some("all")` for `on all`); `None` when absent.
    pub arch: Option<String>,
    /// ` source` was present (a source-only build).
    pub source_only: bool,
    /// `on all` was present (arch-independent build).
    pub arch_all: bool,
    /// The distribution.
    pub dist: String,
    /// The archive of the `(<archive>/<dist>)` form.
    pub archive: Option<String>,
    /// The architectures of a reply to a notice about several of them
    /// (`[Build #N] amd64, arm64 build of ...`), when `arch` is `None`: the
    /// reply must name which one it means. Empty otherwise.
    pub arches: Vec<String>,
}

impl LogSubject {
    /// The architecture of the subject, or `default` when the subject names
    /// none (the configured default architecture).
    pub fn arch_or<'s>(&'s self, default: &'s str) -> &'s str {
        self.arch.as_deref().unwrap_or(default)
    }
}

/// The status words sbuild writes; matched case-insensitively and stored
/// lower-cased.
pub(super) const KNOWN_STATUSES: [&str; 5] =
    ["successful", "attempted", "given-back", "skipped", "failed"];

/// The reply prefixes tolerated before a subject (`Re:`, `RE:`, `AW:`,
/// `Fwd:`, `Fw:`, in any case and any chain).
pub(super) const REPLY_PREFIXES: &str = r"(?:(?:re|aw|fwd?)[ ]?:[ ]?)+";

static_regex! {
    pub(super) fn log_subject_re() = format!(
        r"(?i)^log for (?P<status>[a-z][a-z-]*) build of (?P<src>{SOURCE_RE})_(?P<ver>{VERSION_RE})(?P<srconly> source)?(?: on (?P<arch>{ARCH_RE}|all))? \((?:dist=(?P<dist>{DIST_RE})|(?P<archive>{DIST_RE})/(?P<adist>{DIST_RE}))\)$"
    );
}

static_regex! {
    pub(super) fn reply_prefix_re() = format!(r"(?i)^{REPLY_PREFIXES}");
}

static_regex! {
    pub(super) fn should_build_re() = format!(
        r"(?i)^should i build (?P<src>{SOURCE_RE})_(?P<ver>{VERSION_RE}) \(dist=(?P<dist>{DIST_RE})\) ?\??$"
    );
}

static_regex! {
    pub(super) fn notification_re() = format!(
        r"(?i)^\[build #[0-9]+\] (?P<arch>(?:{ARCH_RE}|all)(?:, ?(?:{ARCH_RE}|all))*) build of (?P<src>{SOURCE_RE}) (?P<ver>{VERSION_RE}) in (?P<dist>{DIST_RE})$"
    );
}

/// Parses the subject of a reply to one of buildmail's own notifications
/// about one build (`Re: [Build #N] <arch> build of <src> <ver> in <dist>`,
/// the FAILEDTOUPLOAD and build-failure mails) into the build it is about.
/// A notice about several architectures (`amd64, arm64 build of ...`)
/// names no single build: its subject has `arch` `None` and the list in
/// `arches`, and the reply must name the architecture it means.
pub fn parse_notification_reply_subject(subject: &str) -> Option<LogSubject> {
    let collapsed = collapse_ws(subject);
    let rest = strip_reply_prefixes(&collapsed)?;
    let caps = notification_re().captures(rest)?;
    let mut arches: Vec<String> = caps
        .name("arch")?
        .as_str()
        .split(',')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    arches.dedup();
    let arch = (arches.len() == 1).then(|| arches.remove(0));
    Some(LogSubject {
        status: String::new(),
        source: caps.name("src")?.as_str().to_string(),
        version: caps.name("ver")?.as_str().to_string(),
        arch_all: arch.as_deref() == Some("all"),
        arch,
        source_only: false,
        dist: caps.name("dist")?.as_str().to_string(),
        archive: None,
        arches,
    })
}

/// Collapses every run of white space (folding included) to one space and
/// trims the ends.
pub(super) fn collapse_ws(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Strips a non-empty chain of reply/forward prefixes; `None` when there is
/// none.
pub(super) fn strip_reply_prefixes(subject: &str) -> Option<&str> {
    let re = reply_prefix_re();
    let m = re.find(subject)?;
    subject.get(m.end()..)
}

/// Parses a log-mail subject. Returns `None` when the subject is not one
/// (replies such as `Re: Log for ...` included: see [`parse_reply_subject`]).
///
/// Keywords match case-insensitively, white space (also from header folding)
/// is collapsed, source and architecture names must be lower case (Debian
/// policy), and the version keeps its epoch and binNMU suffix.
pub fn parse_log_subject(subject: &str) -> Option<LogSubject> {
    parse_log_subject_collapsed(&collapse_ws(subject))
}

pub(super) fn parse_log_subject_collapsed(subject: &str) -> Option<LogSubject> {
    let caps = log_subject_re().captures(subject)?;
    let status_written = caps.name("status")?.as_str();
    let status = KNOWN_STATUSES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(status_written))
        .map_or_else(|| status_written.to_string(), |s| (*s).to_string());
    let arch = caps.name("arch").map(|a| {
        if a.as_str().eq_ignore_ascii_case("all") {
            "all".to_string()
        } else {
            a.as_str().to_string()
        }
    });
    let (dist, archive) = match (caps.name("dist"), caps.name("archive"), caps.name("adist")) {
        (Some(dist), _, _) => (dist.as_str().to_string(), None),
        (None, Some(archive), Some(dist)) => (
            dist.as_str().to_string(),
            Some(archive.as_str().to_string()),
        ),
        _ => return None,
    };
    Some(LogSubject {
        status,
        source: caps.name("src")?.as_str().to_string(),
        version: caps.name("ver")?.as_str().to_string(),
        arch_all: arch.as_deref() == Some("all"),
        arch,
        source_only: caps.name("srconly").is_some(),
        dist,
        arches: Vec::new(),
        archive,
    })
}

/// Parses the subject of a reply to a log mail: one or more `Re:`/`RE:`/
/// `AW:`/`Fwd:`/`Fw:` prefixes (any case, any chain), then a log subject.
/// `None` without a prefix or when the rest is not a log subject.
pub fn parse_reply_subject(subject: &str) -> Option<LogSubject> {
    let collapsed = collapse_ws(subject);
    let rest = strip_reply_prefixes(&collapsed)?;
    parse_log_subject_collapsed(rest)
}

/// Parses the subject of a reply to a should-build question,
/// `Re: Should I build <src>_<ver> (dist=<dist>)?`, into
/// `(source, version, dist)`. A reply prefix chain (as for
/// [`parse_reply_subject`]) is required; the final `?` is optional.
pub fn parse_should_build_subject(subject: &str) -> Option<(String, String, String)> {
    let collapsed = collapse_ws(subject);
    let rest = strip_reply_prefixes(&collapsed)?;
    let caps = should_build_re().captures(rest)?;
    Some((
        caps.name("src")?.as_str().to_string(),
        caps.name("ver")?.as_str().to_string(),
        caps.name("dist")?.as_str().to_string(),
    ))
}

/// What an archive or upload-queue mail says about an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveSubject {
    /// `<name>.changes ACCEPTED into <suite>` or `<name>.changes INSTALLED`.
    Accepted {
        /// The `.changes` file name.
        changes: String,
    },
    /// `<name>.changes REJECTED`.
    Rejected {
        /// The `.changes` file name.
        changes: String,
    },
    /// `<name>.changes is NEW`.
    New {
        /// The `.changes` file name.
        changes: String,
    },
    /// `Processing of <name>.changes` (success iff the body says
    /// "uploaded successfully").
    Processing {
        /// The `.changes` file name.
        changes: String,
    },
}

impl ArchiveSubject {
    /// The `.changes` file name the mail is about.
    pub fn changes(&self) -> &str {
        match self {
            ArchiveSubject::Accepted { changes }
            | ArchiveSubject::Rejected { changes }
            | ArchiveSubject::New { changes }
            | ArchiveSubject::Processing { changes } => changes,
        }
    }
}

/// `.changes` file names as they appear in archive subjects.
pub(super) const CHANGES_RE: &str = r"(?P<changes>[A-Za-z0-9][A-Za-z0-9.+~_-]*\.changes)";

static_regex! {
    pub(super) fn archive_subject_re() = format!(
        r"(?i)^(?:(?:re|aw|fwd?)[ ]?:[ ]?)*(?:processing of {CHANGES_RE}|{CHANGES_RE_2} (?P<what>accepted(?: into \S+)?|installed(?: into \S+)?|rejected|is new)\.?)$",
        CHANGES_RE_2 = CHANGES_RE.replace("?P<changes>", "?P<changes2>")
    );
}

/// Parses the subject of a mail from the archive (dak) or the upload-queue
/// daemon. `None` when the subject is none of those.
pub fn parse_archive_subject(subject: &str) -> Option<ArchiveSubject> {
    let collapsed = collapse_ws(subject);
    let caps = archive_subject_re().captures(&collapsed)?;
    if let Some(c) = caps.name("changes") {
        return Some(ArchiveSubject::Processing {
            changes: c.as_str().to_string(),
        });
    }
    let changes = caps.name("changes2")?.as_str().to_string();
    let what = caps.name("what")?.as_str().to_ascii_lowercase();
    Some(
        if what.starts_with("accepted") || what.starts_with("installed") {
            ArchiveSubject::Accepted { changes }
        } else if what == "rejected" {
            ArchiveSubject::Rejected { changes }
        } else {
            ArchiveSubject::New { changes }
        },
    )
}
