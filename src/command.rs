//! Admin commands: the first non-empty line of a reply's (decoded, signed)
//! text, parsed as buildd-mail does — the line starts with the keyword,
//! case-insensitively — into a typed [`Command`] with validated arguments.

use serde::{Deserialize, Serialize};

use crate::ingest::{is_package_name, is_version};

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

/// Why a command line could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The text has no non-empty line.
    #[error("the reply contains no command (the first non-empty line must be one of: {KEYWORDS})")]
    Empty,
    /// The first line is not a known keyword.
    #[error("{0:?} is not a command; the first non-empty line must start with one of: {KEYWORDS}")]
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

/// The keywords, for error messages.
pub const KEYWORDS: &str = "retry, fail, dep-wait, dep-retry, give-back, back, manual, newvers <version>, not-for-us, upload-rem, purge, retry-upload, or a signed .changes";

/// Keywords in matching order: longer ones whose prefix is another keyword
/// come first (`retry-upload` before `retry`).
const TABLE: &[(&str, &str)] = &[
    ("retry-upload", "retry-upload"),
    ("retry", "retry"),
    ("fail", "fail"),
    ("dep-wait", "dep-wait"),
    ("dep-retry", "dep-wait"),
    ("give-back", "give-back"),
    ("giveback", "give-back"),
    ("back", "give-back"),
    ("manual", "manual"),
    ("newvers", "newvers"),
    ("not-for-us", "not-for-us"),
    ("upload-rem", "upload-rem"),
    ("purge", "purge"),
];

/// The first non-empty line and the lines after it.
fn split_first_line(text: &str) -> Option<(&str, Vec<&str>)> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let first = lines.by_ref().find(|l| !l.trim().is_empty())?;
    Some((first.trim(), lines.collect()))
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

/// Validates and normalises a dependency list: `pkg [(op version)]`
/// separated by commas, alternatives with `|`; arch qualifiers dropped.
pub fn parse_dependencies(list: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for dep in list.split(',').map(str::trim) {
        if dep.is_empty() {
            return Err("empty entry in the dependency list (a doubled or trailing comma?)".into());
        }
        let mut alts = Vec::new();
        for alt in dep.split('|').map(str::trim) {
            alts.push(parse_one_dependency(alt)?);
        }
        out.push(alts.join(" | "));
    }
    if out.is_empty() {
        return Err("no dependencies given".into());
    }
    Ok(out.join(", "))
}

fn parse_one_dependency(dep: &str) -> Result<String, String> {
    let (name, relation) = match dep.split_once('(') {
        Some((n, r)) => (n.trim(), Some(r)),
        None => (dep.trim(), None),
    };
    let name = name.split(':').next().unwrap_or(name);
    if !is_package_name(name) {
        return Err(format!("{name:?} is not a package name"));
    }
    let Some(relation) = relation else {
        return Ok(name.to_string());
    };
    let Some(inner) = relation.trim().strip_suffix(')') else {
        return Err(format!("{dep:?}: a version relation must end with ')'"));
    };
    let inner = inner.trim();
    let op = ["<<", "<=", ">=", ">>", "="]
        .into_iter()
        .find(|op| inner.starts_with(op))
        .ok_or_else(|| format!("{dep:?}: the relation must be one of <<, <=, =, >=, >>"))?;
    let version = inner.get(op.len()..).unwrap_or("").trim();
    if !is_version(version) {
        return Err(format!("{dep:?}: {version:?} is not a Debian version"));
    }
    Ok(format!("{name} ({op} {version})"))
}

/// Parses the command of a reply to a build-log mail.
pub fn parse(text: &str) -> Result<Command, CommandError> {
    let (first, rest) = split_first_line(text).ok_or(CommandError::Empty)?;
    let lower = first.to_ascii_lowercase();
    let Some(&(keyword, canonical)) = TABLE.iter().find(|(k, _)| lower.starts_with(k)) else {
        return Err(CommandError::Unknown(first.chars().take(80).collect()));
    };
    let args = first.get(keyword.len()..).unwrap_or("").trim();
    let bad =
        |command: &'static str, message: String| CommandError::BadArgument { command, message };
    Ok(match canonical {
        "retry-upload" => Command::RetryUpload,
        "retry" => Command::Retry,
        "fail" => {
            let mut reason: Vec<&str> = Vec::new();
            if !args.is_empty() {
                reason.push(args);
            }
            reason.extend(rest.iter().copied());
            // Stop at a signature separator or quoted original.
            let reason: Vec<&str> = reason
                .into_iter()
                .take_while(|l| *l != "-- " && !l.starts_with('>'))
                .collect();
            let reason = reason.join("\n").trim().to_string();
            Command::Fail {
                bugs: bug_numbers(&reason),
                reason,
            }
        }
        "dep-wait" => Command::DepWait {
            deps: parse_dependencies(args).map_err(|m| {
                bad(
                    "dep-wait",
                    format!("{m}; write e.g. `dep-wait libfoo-dev (>= 1.2), libbar`"),
                )
            })?,
        },
        "give-back" => Command::GiveBack {
            priority: match args.split_whitespace().next() {
                None => None,
                Some(p) => Some(p.parse().map_err(|_| {
                    bad(
                        "give-back",
                        format!("{p:?} is not a priority (a whole number)"),
                    )
                })?),
            },
        },
        "manual" => Command::Manual,
        "newvers" => {
            let v = args.split_whitespace().next().unwrap_or("");
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
        "not-for-us" => Command::NotForUs,
        "upload-rem" => Command::UploadRemove,
        _ => Command::Purge,
    })
}

/// Parses the answer to a "Should I build" question.
pub fn parse_should_build(text: &str) -> Result<ShouldBuildAnswer, CommandError> {
    let (first, _) = split_first_line(text).ok_or(CommandError::Empty)?;
    let lower = first.to_ascii_lowercase();
    let word = lower.split_whitespace().next().unwrap_or("");
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
    fn keywords_match_by_prefix_like_buildd_mail() {
        assert_eq!(parse("retry\n"), Ok(Command::Retry));
        assert_eq!(parse("\n\n  Retry please\n"), Ok(Command::Retry));
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
        assert_eq!(parse_should_build("Build it"), Ok(ShouldBuildAnswer::Build));
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
