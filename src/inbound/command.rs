//! Admin commands: the first non-empty line of a reply's (decoded, signed)
//! text, into a typed [`Command`] with validated arguments. The keyword is
//! the line's whole first word (case-insensitive), and a keyword without
//! arguments stands alone on its line: unlike buildd-mail's prefix match,
//! signed prose ("Retrying is pointless", "Purged old chroots") is never a
//! command.

use serde::{Deserialize, Serialize};

use crate::debian::names::{is_arch_name, is_dist_name, is_package_name, is_version};
use crate::debian::relations;
use crate::model::state::CommandKind;
use crate::model::State;

/// A reply to a build-log mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// `retry`: build it again, at the front of the queue.
    Retry,
    /// `fail`: the build fails for the reason given on the following lines.
    /// A reason of only `(see #NNN)` on a Failed build appends the bug.
    Fail {
        /// The reason (following lines, trimmed), possibly empty.
        reason: String,
        /// Bug numbers from `(see #NNN)` / `#NNN` in the reason.
        bugs: Vec<u32>,
    },
    /// `dep-wait` / `dep-retry`: wait for these dependencies.
    DepWait {
        /// The validated dependency list, normalised (`a (>= 1.0), b`).
        deps: String,
    },
    /// `give-back` / `back`: put it back in the queue.
    GiveBack {
        /// Optional priority.
        priority: Option<i64>,
    },
    /// `manual`: an admin will handle it; recorded only.
    Manual,
    /// `newvers <version>`: build this version instead.
    NewVersion {
        /// The version (a `src_` prefix stripped).
        version: String,
    },
    /// `not-for-us`: the package is not for this architecture.
    NotForUs,
    /// `upload-rem`: remove the upload from the queue (back to Built).
    UploadRemove,
    /// `purge`: remove the build's files; state unchanged.
    Purge,
    /// `retry-upload`: reprocess a failed upload.
    RetryUpload,
}

impl Command {
    /// The row of the transition table this command uses, for a build now
    /// in `current` (`fail (see #N)` on a Failed build only adds the bug).
    pub fn kind(&self, current: State) -> CommandKind {
        match self {
            Command::Retry => CommandKind::Retry,
            Command::Fail { bugs, .. } if current == State::Failed && !bugs.is_empty() => {
                CommandKind::FailSeeBug
            }
            Command::Fail { .. } => CommandKind::Fail,
            Command::DepWait { .. } => CommandKind::DepWait,
            Command::GiveBack { .. } => CommandKind::GiveBack,
            Command::Manual => CommandKind::Manual,
            Command::NewVersion { .. } => CommandKind::NewVersion,
            Command::NotForUs => CommandKind::NotForUs,
            Command::UploadRemove => CommandKind::UploadRemove,
            Command::Purge => CommandKind::Purge,
            Command::RetryUpload => CommandKind::RetryUpload,
        }
    }
}

/// An answer to a "Should I build" question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShouldBuildAnswer {
    /// `build` / `ok`: build it.
    Build,
    /// `fail`: keep it failed (with the previous failure text).
    Fail,
    /// `not` / `no-build`: not for us.
    NotForUs,
    /// `give-back`: back to the queue.
    GiveBack,
}

impl ShouldBuildAnswer {
    /// The row of the transition table this answer uses.
    pub fn kind(&self) -> CommandKind {
        match self {
            ShouldBuildAnswer::Build => CommandKind::ShouldBuildYes,
            ShouldBuildAnswer::Fail => CommandKind::ShouldBuildFail,
            ShouldBuildAnswer::NotForUs => CommandKind::ShouldBuildNot,
            ShouldBuildAnswer::GiveBack => CommandKind::ShouldBuildGiveBack,
        }
    }
}

/// Why a command line could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The text has no non-empty line.
    #[error("the reply contains no command (the first non-empty line must be one of: {kw})", kw = keywords())]
    Empty,
    /// The first line is not a known keyword.
    #[error("{0:?} is not a command; the first non-empty line must start with one of: {kw}", kw = keywords())]
    Unknown(String),
    /// A command's argument is missing or malformed.
    #[error("{command}: {message}")]
    BadArgument {
        /// The command.
        command: &'static str,
        /// What is wrong and how to write it.
        message: String,
    },
}

/// The build a signed command names, so that it acts on that build only
/// (a captured command cannot be redirected to another build by rewriting
/// the unsigned Subject or In-Reply-To).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// Source package.
    pub source: String,
    /// Version (epoch and binNMU suffix kept).
    pub version: String,
    /// Distribution, when named.
    pub dist: Option<String>,
    /// Architecture, when named.
    pub arch: Option<String>,
}

impl std::fmt::Display for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.source, self.version)?;
        if let Some(d) = &self.dist {
            write!(f, " dist={d}")?;
        }
        if let Some(a) = &self.arch {
            write!(f, " arch={a}")?;
        }
        Ok(())
    }
}

/// `<src>_<version>`: a source package and a version (no Debian name has
/// a `_`, so the token cannot be a package or a version itself).
fn source_version(token: &str) -> Option<(String, String)> {
    let (src, ver) = token.split_once('_')?;
    (is_package_name(src) && is_version(ver)).then(|| (src.to_string(), ver.to_string()))
}

/// Splits the binding off the front of a command's arguments:
/// `<src>_<version>` and then any of `dist=<dist>`, `arch=<arch>`. Returns
/// the binding and the arguments after it. For `newvers` a lone
/// `<src>_<version>` is the new version, not a binding.
fn split_binding(args: &str, keyword: Keyword) -> (Option<Binding>, &str) {
    let mut rest = args.trim_start();
    let Some(first) = rest.split_whitespace().next() else {
        return (None, rest);
    };
    let Some((source, version)) = source_version(first) else {
        return (None, rest);
    };
    let after = rest[first.len()..].trim_start();
    if keyword == Keyword::NewVersion && after.split_whitespace().next().is_none() {
        return (None, rest);
    }
    rest = after;
    let mut b = Binding {
        source,
        version,
        dist: None,
        arch: None,
    };
    while let Some(tok) = rest.split_whitespace().next() {
        let lower = tok.to_ascii_lowercase();
        if let Some(d) = lower.strip_prefix("dist=").filter(|d| is_dist_name(d)) {
            b.dist = Some(d.to_string());
        } else if let Some(a) = lower.strip_prefix("arch=").filter(|a| is_arch_name(a)) {
            b.arch = Some(a.to_string());
        } else {
            break;
        }
        rest = rest[tok.len()..].trim_start();
    }
    (Some(b), rest)
}

/// The build the quoted log inside a signed reply names: the sbuild log
/// header's `> Package:`, `> Version:`, `> Distribution:` and `> Host
/// Architecture:` lines, quoted once (`> `, not `>> `), each the first of
/// its name. All four must be there and valid: a partial or odd quote
/// names nothing (it is never a wildcard).
fn quoted_binding(text: &str) -> Option<Binding> {
    let field = |name: &str| -> Option<String> {
        text.lines().find_map(|l| {
            let quoted = l.strip_prefix("> ")?;
            let value = quoted.strip_prefix(name)?.strip_prefix(':')?.trim();
            Some(value.to_string())
        })
    };
    let source = field("Package").filter(|s| is_package_name(s))?;
    let version = field("Version").filter(|v| is_version(v))?;
    let dist = field("Distribution").filter(|d| is_dist_name(d))?;
    let arch = field("Host Architecture").filter(|a| is_arch_name(a))?;
    Some(Binding {
        source,
        version,
        dist: Some(dist),
        arch: Some(arch),
    })
}

/// The build a command text names: on the command line, or in the quoted
/// log header; `Ok(None)` when it names none (an unbound, old-style
/// command). When both name a build they must agree.
pub fn binding(text: &str) -> Result<Option<Binding>, String> {
    let mut typed = None;
    if let Some((first, _)) = split_first_line(text) {
        let (word, args) = first
            .split_once(char::is_whitespace)
            .map_or((first, ""), |(w, a)| (w, a.trim()));
        let lower = word.to_ascii_lowercase();
        let kind = TABLE
            .iter()
            .find(|(k, _)| lower == *k)
            .map(|(_, kind)| *kind)
            .or_else(|| {
                ["build", "ok", "not", "no-build"]
                    .contains(&lower.as_str())
                    .then_some(Keyword::Manual)
            });
        if let Some(kind) = kind {
            typed = split_binding(args, kind).0;
        }
    }
    let quoted = quoted_binding(text);
    match (typed, quoted) {
        (Some(t), Some(q)) => {
            let agree = t.source == q.source
                && t.version == q.version
                && t.dist.as_ref().is_none_or(|d| Some(d) == q.dist.as_ref())
                && t.arch.as_ref().is_none_or(|a| Some(a) == q.arch.as_ref());
            if agree {
                Ok(Some(Binding {
                    dist: t.dist.or(q.dist),
                    arch: t.arch.or(q.arch),
                    ..t
                }))
            } else {
                Err(format!(
                    "the command line names {t}, but the quoted log names {q}; name one build"
                ))
            }
        }
        (t, q) => Ok(t.or(q)),
    }
}

/// What a keyword asks for, before its arguments are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    RetryUpload,
    Retry,
    Fail,
    DepWait,
    GiveBack,
    Manual,
    NewVersion,
    NotForUs,
    UploadRemove,
    Purge,
}

/// The keywords, each matched as a whole word. The one table of keywords:
/// parsing and the error messages both read it.
const TABLE: &[(&str, Keyword)] = &[
    ("retry-upload", Keyword::RetryUpload),
    ("retry", Keyword::Retry),
    ("fail", Keyword::Fail),
    ("dep-wait", Keyword::DepWait),
    ("dep-retry", Keyword::DepWait),
    ("give-back", Keyword::GiveBack),
    ("giveback", Keyword::GiveBack),
    ("back", Keyword::GiveBack),
    ("manual", Keyword::Manual),
    ("newvers", Keyword::NewVersion),
    ("not-for-us", Keyword::NotForUs),
    ("upload-rem", Keyword::UploadRemove),
    ("purge", Keyword::Purge),
];

/// The one word a command takes after its keyword (and binding), if any:
/// more words make the line prose ("Back 2 you soon").
fn only_word<'a>(command: &'static str, args: &'a str) -> Result<Option<&'a str>, CommandError> {
    let mut words = args.split_whitespace();
    let first = words.next();
    match words.next() {
        None => Ok(first),
        Some(_) => Err(CommandError::BadArgument {
            command,
            message: format!(
                "takes one word after it, but the line goes on: {:?}; write the command alone on the first line",
                args.chars().take(40).collect::<String>()
            ),
        }),
    }
}

/// A table keyword as the `&'static str` error messages carry.
fn keyword_name(keyword: &str) -> &'static str {
    TABLE
        .iter()
        .map(|(k, _)| *k)
        .find(|k| *k == keyword)
        .unwrap_or("command")
}

/// The keywords, for error messages (from [`TABLE`]).
pub fn keywords() -> String {
    let mut words: Vec<&str> = TABLE
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| *k != "giveback")
        .collect();
    words.push("or a signed .changes");
    words.join(", ")
}

/// The first non-empty line and the lines after it.
fn split_first_line(text: &str) -> Option<(&str, Vec<&str>)> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let first = lines.by_ref().find(|l| !l.trim().is_empty())?;
    Some((first.trim(), lines.collect()))
}

/// The reason of a `fail`: the rest of its line and the lines after it,
/// up to the end of that paragraph. It ends at the first empty line (after
/// the reason began), a signature separator, a quoted line, or a mail
/// client's quote attribution (`On Mon, ... wrote:`), so the quoted log a
/// reply carries never becomes the reason. Blank lines between a bare
/// `fail` and its reason are skipped.
fn fail_reason(args: &str, rest: &[&str]) -> String {
    let mut reason: Vec<&str> = Vec::new();
    if !args.is_empty() {
        reason.push(args);
    }
    for line in rest {
        let line = line.trim_end();
        if line.trim().is_empty() {
            if reason.is_empty() {
                continue;
            }
            break;
        }
        if line == "--" || line.starts_with('>') || is_quote_attribution(line) {
            break;
        }
        reason.push(line.trim());
    }
    reason.join("\n").trim().to_string()
}

/// Whether `line` introduces a quoted original: `On <date>, <who> wrote:`
/// (mutt, Thunderbird, Gmail, in English or in the words of a few other
/// languages), or Outlook's `-----Original Message-----`.
fn is_quote_attribution(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    // "On ..., X wrote:", "Am ... schrieb X:", "Le ..., X a écrit :".
    const VERBS: [&str; 5] = ["wrote", "writes", "schrieb", "écrit", "escribió"];
    let says = l.ends_with(':')
        && l.split(|c: char| !c.is_alphanumeric())
            .any(|w| VERBS.contains(&w));
    says || (l.starts_with("-----") && l.contains("original message"))
}

/// Bug numbers written `#NNN` in `text`.
fn bug_numbers(text: &str) -> Vec<u32> {
    let mut bugs = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('#') {
        let after = rest.get(i + 1..).unwrap_or("");
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        if let Ok(n) = digits.parse::<u32>() {
            if !bugs.contains(&n) {
                bugs.push(n);
            }
        }
        rest = after;
    }
    bugs
}

/// Parses the command of a reply to a build-log mail.
pub fn parse(text: &str) -> Result<Command, CommandError> {
    let (first, rest) = split_first_line(text).ok_or(CommandError::Empty)?;
    // The keyword is the whole first word of the line: "Retrying builds is
    // pointless" or "Purged old chroots" are prose, not commands.
    let (word, args) = first
        .split_once(char::is_whitespace)
        .map_or((first, ""), |(w, a)| (w, a.trim()));
    let lower = word.to_ascii_lowercase();
    let Some(&(keyword, kind)) = TABLE.iter().find(|(k, _)| lower == *k) else {
        return Err(CommandError::Unknown(first.chars().take(80).collect()));
    };
    // The build the command names is checked by the decision, not here.
    let (_, args) = split_binding(args, kind);
    let bad =
        |command: &'static str, message: String| CommandError::BadArgument { command, message };
    // A keyword that takes no argument stands alone on its line: words
    // after it make the line prose ("Manual intervention needed").
    let alone = |command: Command| {
        if args.is_empty() {
            Ok(command)
        } else {
            Err(CommandError::BadArgument {
                command: keyword_name(keyword),
                message: format!(
                    "takes nothing after it on its line, but the line goes on with {:?}; \
                     write `{keyword}` alone on the first line",
                    args.chars().take(40).collect::<String>()
                ),
            })
        }
    };
    Ok(match kind {
        Keyword::RetryUpload => alone(Command::RetryUpload)?,
        Keyword::Retry => alone(Command::Retry)?,
        Keyword::Fail => {
            let reason = fail_reason(args, &rest);
            Command::Fail {
                bugs: bug_numbers(&reason),
                reason,
            }
        }
        Keyword::DepWait => Command::DepWait {
            deps: relations::normalise(args).map_err(|m| {
                bad(
                    "dep-wait",
                    format!("{m}; write e.g. `dep-wait libfoo-dev (>= 1.2), libbar`"),
                )
            })?,
        },
        Keyword::GiveBack => Command::GiveBack {
            priority: match only_word("give-back", args)? {
                None => None,
                Some(p) => Some(p.parse().map_err(|_| {
                    bad(
                        "give-back",
                        format!("{p:?} is not a priority (a whole number)"),
                    )
                })?),
            },
        },
        Keyword::Manual => alone(Command::Manual)?,
        Keyword::NewVersion => {
            let v = only_word("newvers", args)?.unwrap_or("");
            let v = v.split_once('_').map_or(v, |(_, v)| v);
            if !is_version(v) {
                return Err(bad(
                    "newvers",
                    format!("{v:?} is not a Debian version; write e.g. `newvers 1.2-3`"),
                ));
            }
            Command::NewVersion {
                version: v.to_string(),
            }
        }
        Keyword::NotForUs => alone(Command::NotForUs)?,
        Keyword::UploadRemove => alone(Command::UploadRemove)?,
        Keyword::Purge => alone(Command::Purge)?,
    })
}

/// Parses the answer to a "Should I build" question.
pub fn parse_should_build(text: &str) -> Result<ShouldBuildAnswer, CommandError> {
    let (first, _) = split_first_line(text).ok_or(CommandError::Empty)?;
    let lower = first.to_ascii_lowercase();
    let (word, args) = lower
        .split_once(char::is_whitespace)
        .map_or((lower.as_str(), ""), |(w, a)| (w, a.trim()));
    let (_, rest) = split_binding(args, Keyword::Manual);
    if !rest.is_empty() {
        return Err(CommandError::Unknown(format!(
            "{} (a \"Should I build\" answer is one word alone on the first line: build, ok, fail, not, no-build or give-back)",
            first.chars().take(80).collect::<String>()
        )));
    }
    Ok(match word {
        "build" | "ok" => ShouldBuildAnswer::Build,
        "fail" => ShouldBuildAnswer::Fail,
        "not" | "no-build" => ShouldBuildAnswer::NotForUs,
        "give-back" | "giveback" | "back" => ShouldBuildAnswer::GiveBack,
        _ => {
            return Err(CommandError::Unknown(format!(
                "{} (a \"Should I build\" reply must start with build, ok, fail, not, no-build or give-back)",
                first.chars().take(80).collect::<String>()
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_match_as_whole_words() {
        assert_eq!(parse("retry\n"), Ok(Command::Retry));
        assert_eq!(parse("\n\n  Retry\nplease\n"), Ok(Command::Retry));
        assert_eq!(parse("retry-upload"), Ok(Command::RetryUpload));
        assert_eq!(parse("back"), Ok(Command::GiveBack { priority: None }));
        assert_eq!(
            parse("give-back 5"),
            Ok(Command::GiveBack { priority: Some(5) })
        );
        assert_eq!(parse("giveback"), Ok(Command::GiveBack { priority: None }));
        assert_eq!(parse("manual"), Ok(Command::Manual));
        assert_eq!(parse("not-for-us"), Ok(Command::NotForUs));
        assert_eq!(parse("upload-rem"), Ok(Command::UploadRemove));
        assert_eq!(parse("purge"), Ok(Command::Purge));
        assert!(matches!(
            parse("hello there"),
            Err(CommandError::Unknown(_))
        ));
        assert_eq!(parse("  \n \n"), Err(CommandError::Empty));
    }

    #[test]
    fn fail_takes_the_following_lines_and_bugs() {
        assert_eq!(
            parse("fail\nFTBFS with GCC 15, see #1012345.\nUpstream knows.\n-- \nadmin\n"),
            Ok(Command::Fail {
                reason: "FTBFS with GCC 15, see #1012345.\nUpstream knows.".into(),
                bugs: vec![1012345]
            })
        );
        assert_eq!(
            parse("fail (see #42)"),
            Ok(Command::Fail {
                reason: "(see #42)".into(),
                bugs: vec![42]
            })
        );
        assert_eq!(
            parse("fail\n\n> quoted original\n"),
            Ok(Command::Fail {
                reason: String::new(),
                bugs: vec![]
            })
        );
    }

    /// What mail clients put after a reply's text never joins the reason:
    /// it ends at the first empty line or at a quote attribution.
    #[test]
    fn a_fail_reason_ends_at_the_paragraph_or_the_quote_attribution() {
        let reason = |text: &str| match parse(text) {
            Ok(Command::Fail { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        // mutt: the reason, an empty line, the attribution, the quote.
        assert_eq!(
            reason(
                "fail hello_2.10-3 dist=bookworm arch=amd64\nFTBFS with GCC 15 (#1012345)\n\nOn Mon, Dec 07, 2026 at 10:00:00AM +0000, buildd wrote:\n> Package: hello\n"
            ),
            "FTBFS with GCC 15 (#1012345)"
        );
        // The attribution right under the reason, no empty line.
        assert_eq!(
            reason("fail\nbroken toolchain\nOn 12/7/26 10:00 AM, Buildd Daemon wrote:\n> log"),
            "broken toolchain"
        );
        assert_eq!(
            reason("fail\nkaputt\nAm 07.12.2026 um 10:00 schrieb buildd@example.org:\n"),
            "kaputt"
        );
        assert_eq!(
            reason("fail\nbroken\n-----Original Message-----\nFrom: buildd\n"),
            "broken"
        );
        // A reason of two lines stays two lines; the next paragraph goes.
        assert_eq!(
            reason("fail\nline one\nline two\n\nThanks, Ann\n"),
            "line one\nline two"
        );
        // A bare `fail`, an empty line, then the reason's paragraph.
        assert_eq!(reason("fail\n\nthe reason\n\nsignature"), "the reason");
        // Reason on the command line only.
        assert_eq!(
            reason("fail FTBFS on arm64\n\nOn Mon, X wrote:\n> quoted\n"),
            "FTBFS on arm64"
        );
        // A signature separator without its trailing space (stripped by
        // some clients) ends it as well.
        assert_eq!(reason("fail\nbad\n--\nAnn"), "bad");
    }

    #[test]
    fn dep_wait_is_validated_and_normalised() {
        assert_eq!(
            parse("dep-wait libfoo-dev (>=1.2),  libbar:amd64 | libbaz (<< 2:3.0~rc1)"),
            Ok(Command::DepWait {
                deps: "libfoo-dev (>= 1.2), libbar | libbaz (<< 2:3.0~rc1)".into()
            })
        );
        assert_eq!(
            parse("dep-retry libx"),
            Ok(Command::DepWait {
                deps: "libx".into()
            })
        );
        for bad in [
            "dep-wait",
            "dep-wait Libfoo",
            "dep-wait a (~ 1)",
            "dep-wait a (>= x)",
            "dep-wait a,,b",
            "dep-wait a (>= 1",
        ] {
            assert!(
                matches!(
                    parse(bad),
                    Err(CommandError::BadArgument {
                        command: "dep-wait",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn newvers_strips_the_source_prefix() {
        assert_eq!(
            parse("newvers hello_2.10-4"),
            Ok(Command::NewVersion {
                version: "2.10-4".into()
            })
        );
        assert_eq!(
            parse("newvers 1:2.0-1+b1"),
            Ok(Command::NewVersion {
                version: "1:2.0-1+b1".into()
            })
        );
        assert!(matches!(
            parse("newvers"),
            Err(CommandError::BadArgument { .. })
        ));
        assert!(matches!(
            parse("give-back soon"),
            Err(CommandError::BadArgument { .. })
        ));
    }

    #[test]
    fn should_build_answers() {
        assert_eq!(parse_should_build("ok\n"), Ok(ShouldBuildAnswer::Build));
        assert_eq!(
            parse_should_build("Build\nit"),
            Ok(ShouldBuildAnswer::Build)
        );
        assert!(parse_should_build("Build it later, not now").is_err());
        assert_eq!(parse_should_build("fail"), Ok(ShouldBuildAnswer::Fail));
        assert_eq!(
            parse_should_build("no-build"),
            Ok(ShouldBuildAnswer::NotForUs)
        );
        assert_eq!(parse_should_build("not"), Ok(ShouldBuildAnswer::NotForUs));
        assert_eq!(
            parse_should_build("give-back"),
            Ok(ShouldBuildAnswer::GiveBack)
        );
        assert!(parse_should_build("maybe").is_err());
    }

    #[test]
    fn bug_numbers_are_found() {
        assert_eq!(bug_numbers("see #1 and #22, not #x or #22"), vec![1, 22]);
        assert_eq!(bug_numbers("#99999999999"), Vec::<u32>::new());
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    /// Every keyword of the table parses to the command of its own kind,
    /// and none falls through to another: a typo can never become a
    /// command that deletes files.
    #[test]
    fn every_keyword_parses_to_its_own_command() {
        for (word, kind) in TABLE {
            let text = match kind {
                Keyword::DepWait => format!("{word} libfoo"),
                Keyword::NewVersion => format!("{word} 1.0-1"),
                _ => word.to_string(),
            };
            let parsed = parse(&text).unwrap_or_else(|e| panic!("{word}: {e}"));
            let expect = match kind {
                Keyword::RetryUpload => matches!(parsed, Command::RetryUpload),
                Keyword::Retry => matches!(parsed, Command::Retry),
                Keyword::Fail => matches!(parsed, Command::Fail { .. }),
                Keyword::DepWait => matches!(parsed, Command::DepWait { .. }),
                Keyword::GiveBack => matches!(parsed, Command::GiveBack { .. }),
                Keyword::Manual => matches!(parsed, Command::Manual),
                Keyword::NewVersion => matches!(parsed, Command::NewVersion { .. }),
                Keyword::NotForUs => matches!(parsed, Command::NotForUs),
                Keyword::UploadRemove => matches!(parsed, Command::UploadRemove),
                Keyword::Purge => matches!(parsed, Command::Purge),
            };
            assert!(expect, "{word} parsed as {parsed:?}");
        }
        for typo in ["purg", "pruge", "upload-re", "dep-wai x"] {
            assert!(parse(typo).is_err(), "{typo:?} was taken for a command");
        }
        // Prose that starts like a keyword is not a command (the attack:
        // signed everyday sentences must not retry, fail or purge).
        for prose in [
            "Back 2 you soon",
            "newvers 1.0-2 please",
            "Retrying builds is pointless until the mirror is back.",
            "Failing that, please ask on IRC.",
            "Purged old chroots yesterday.",
            "Manually checked, looks fine.",
            "Manual intervention needed here",
            "Purge the old chroots first",
            "Retry later please",
            "Back from holiday, will look",
            "Not-for-us? I doubt it",
        ] {
            assert!(parse(prose).is_err(), "{prose:?} was taken for a command");
        }
        assert!(keywords().contains("retry-upload") && keywords().contains("purge"));
    }
}

#[cfg(test)]
mod binding_tests {
    use super::*;

    fn b(source: &str, version: &str, dist: Option<&str>, arch: Option<&str>) -> Binding {
        Binding {
            source: source.into(),
            version: version.into(),
            dist: dist.map(Into::into),
            arch: arch.map(Into::into),
        }
    }

    #[test]
    fn commands_name_their_build() {
        assert_eq!(
            binding("retry hello_1:2.0-1+b1 dist=unstable arch=amd64\n").unwrap(),
            Some(b("hello", "1:2.0-1+b1", Some("unstable"), Some("amd64")))
        );
        assert_eq!(
            parse("retry hello_1.0-1 dist=unstable arch=amd64\n"),
            Ok(Command::Retry)
        );
        // Arguments follow the binding.
        assert_eq!(
            parse("dep-wait hello_1.0-1 libfoo-dev (>= 2)"),
            Ok(Command::DepWait {
                deps: "libfoo-dev (>= 2)".into()
            })
        );
        assert_eq!(
            parse("give-back hello_1.0-1 arch=amd64 7"),
            Ok(Command::GiveBack { priority: Some(7) })
        );
        assert_eq!(
            binding("give-back hello_1.0-1 arch=amd64 7")
                .unwrap()
                .unwrap()
                .arch
                .as_deref(),
            Some("amd64")
        );
        // newvers: a lone src_version is the new version, two are a binding
        // and the new version.
        assert_eq!(binding("newvers hello_1.0-2"), Ok(None));
        assert_eq!(
            parse("newvers hello_1.0-2"),
            Ok(Command::NewVersion {
                version: "1.0-2".into()
            })
        );
        assert_eq!(
            binding("newvers hello_1.0-1 1.0-2"),
            Ok(Some(b("hello", "1.0-1", None, None)))
        );
        assert_eq!(
            parse("newvers hello_1.0-1 1.0-2"),
            Ok(Command::NewVersion {
                version: "1.0-2".into()
            })
        );
        // Unbound forms, and words after a bare keyword.
        assert_eq!(binding("retry\n"), Ok(None));
        assert!(parse("retry hello").is_err());
        // Should-build answers bind the same way.
        assert_eq!(
            binding("build hello_1.0-1\n"),
            Ok(Some(b("hello", "1.0-1", None, None)))
        );
        assert_eq!(
            parse_should_build("build hello_1.0-1\n"),
            Ok(ShouldBuildAnswer::Build)
        );
    }

    #[test]
    fn the_quoted_log_names_the_build() {
        let text = "retry\n\nYou wrote:\n> | hello 1.0-1 (amd64) |\n> Package: hello\n> Version: 1.0-1\n> Source Version: 1.0-1\n> Distribution: sid\n> Host Architecture: arm64\n";
        assert_eq!(
            binding(text),
            Ok(Some(b("hello", "1.0-1", Some("sid"), Some("arm64"))))
        );
        // Unquoted header lines are not a quote of the log; a partial quote,
        // a deeper quote or an invalid field names nothing.
        for nothing in [
            "retry\nPackage: hello\nVersion: 1.0-1\n",
            "retry\n> Package: hello\n> Version: 1.0-1\n",
            "retry\n>> Package: hello\n>> Version: 1.0-1\n>> Distribution: sid\n>> Host Architecture: arm64\n",
            "retry\n> Package: hello\n> Version: 1.0-1\n> Distribution: s id\n> Host Architecture: arm64\n",
        ] {
            assert_eq!(binding(nothing), Ok(None), "{nothing:?}");
        }
        // The command line and the quote must agree.
        let both = "retry hello_1.0-1 arch=amd64\n> Package: hello\n> Version: 1.0-1\n> Distribution: sid\n> Host Architecture: arm64\n";
        assert!(binding(both).is_err());
    }
}
