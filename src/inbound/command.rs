//! Admin commands: the first non-empty line of a reply's (decoded, signed)
//! text, into a typed [`Command`] with validated arguments. The keyword is
//! the line's whole first word (case-insensitive), and a keyword without
//! arguments stands alone on its line: unlike buildd-mail's prefix match,
//! signed prose ("Retrying is pointless", "Purged old chroots") is never a
//! command.

use serde::{Deserialize, Serialize};

use crate::debian::names::is_version;
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
        Keyword::DepWait => Command::DepWait {
            deps: relations::normalise(args).map_err(|m| {
                bad(
                    "dep-wait",
                    format!("{m}; write e.g. `dep-wait libfoo-dev (>= 1.2), libbar`"),
                )
            })?,
        },
        Keyword::GiveBack => Command::GiveBack {
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
        Keyword::Manual => alone(Command::Manual)?,
        Keyword::NewVersion => {
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
        Keyword::NotForUs => alone(Command::NotForUs)?,
        Keyword::UploadRemove => alone(Command::UploadRemove)?,
        Keyword::Purge => alone(Command::Purge)?,
    })
}

/// Parses the answer to a "Should I build" question.
pub fn parse_should_build(text: &str) -> Result<ShouldBuildAnswer, CommandError> {
    let (first, _) = split_first_line(text).ok_or(CommandError::Empty)?;
    let lower = first.to_ascii_lowercase();
    let mut words = lower.split_whitespace();
    let word = words.next().unwrap_or("");
    if words.next().is_some() {
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
