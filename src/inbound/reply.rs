//! Admin replies: which build a reply answers, what its
//! signed text asks for, and — without I/O — what that does to the build.
//!
//! [`read`] turns a parsed mail into a [`Reply`]: the question it answers
//! (from the subject), how it is signed (verified with
//! [`crate::inbound::signature`]), and the request in the signed text (a keyword
//! command, a "Should I build" answer or a signed `.changes`). Only the
//! signed bytes count; anything else is listed in [`Reply::ignored`].
//!
//! [`decide`] applies the signing rules, the outdated-version guard and
//! the transition table ([`crate::model::state::decide_command`]) to the build's
//! current record and returns either the refusal reasons or the new record
//! and the effect to queue. Checking the files of an upload against the
//! build directory is I/O and is left to the caller.

use crate::debian::changes;
use crate::debian::changes::Changes;
use crate::inbound::command;
use crate::inbound::command::{Command, ShouldBuildAnswer};
use crate::inbound::mail;
use crate::inbound::mail::{Inbound, LogSubject, ReplyBody};
use crate::inbound::signature;
use crate::inbound::signature::{Keyring, Policy, Verified};
use crate::model::Answer;

/// How many lines of the original an error reply quotes at most.
const QUOTE_LINES: usize = 200;

/// What a reply's subject says it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// `Re: Log for ... build of <src>_<ver>[ on <arch>] (dist=<dist>)`, or
    /// `Re: [Build #N] <arch> build of <src> <ver> in <dist>` (a reply to
    /// one of buildmail's own notifications about the build).
    Log(LogSubject),
    /// `Re: Should I build <src>_<ver> (dist=<dist>)?`.
    ShouldBuild {
        /// Source package.
        source: String,
        /// Version asked about.
        version: String,
        /// Distribution.
        dist: String,
    },
}

impl Question {
    /// Recognises the subject of an admin reply.
    pub fn parse(subject: &str) -> Option<Question> {
        if let Some(s) = mail::parse_reply_subject(subject)
            .or_else(|| mail::parse_notification_reply_subject(subject))
        {
            return Some(Question::Log(s));
        }
        mail::parse_should_build_subject(subject).map(|(source, version, dist)| {
            Question::ShouldBuild {
                source,
                version,
                dist,
            }
        })
    }

    /// The source package.
    pub fn source(&self) -> &str {
        match self {
            Question::Log(s) => &s.source,
            Question::ShouldBuild { source, .. } => source,
        }
    }

    /// The version the question was about.
    pub fn version(&self) -> &str {
        match self {
            Question::Log(s) => &s.version,
            Question::ShouldBuild { version, .. } => version,
        }
    }

    /// The distribution.
    pub fn dist(&self) -> &str {
        match self {
            Question::Log(s) => &s.dist,
            Question::ShouldBuild { dist, .. } => dist,
        }
    }

    /// The architecture, when the subject names one.
    pub fn arch(&self) -> Option<&str> {
        match self {
            Question::Log(s) => s.arch.as_deref(),
            Question::ShouldBuild { .. } => None,
        }
    }

    /// The architectures of a notice about several of them, one of which
    /// the reply must name (empty for any other question).
    pub fn arches(&self) -> &[String] {
        match self {
            Question::Log(s) => &s.arches,
            Question::ShouldBuild { .. } => &[],
        }
    }
}

/// The signer of a good signature: what the replay record and the history
/// need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// Primary key fingerprint.
    pub fingerprint: String,
    /// Primary user ID, for messages.
    pub uid: Option<String>,
    /// Signature creation time (Unix seconds).
    pub created: i64,
    /// SHA-256 of the signed bytes (hex).
    pub signed_sha256: String,
}

impl From<&Verified> for Signer {
    fn from(v: &Verified) -> Signer {
        Signer {
            fingerprint: v.signer_fingerprint.clone(),
            uid: v.signer_uid.clone(),
            created: v.created,
            signed_sha256: v.signed_bytes_sha256.clone(),
        }
    }
}

/// How a reply was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signing {
    /// A good signature.
    Signed(Signer),
    /// A signature, or a signed structure, that was refused: the reason.
    Refused(String),
    /// No signature at all.
    Unsigned,
}

/// What a reply asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A keyword command answering a log mail.
    Command(Command),
    /// An answer to a "Should I build" question.
    ShouldBuild(ShouldBuildAnswer),
    /// A signed `.changes`: upload it.
    Changes {
        /// The parsed `.changes`.
        changes: Box<Changes>,
        /// The signed `.changes` to write to the queue: the clearsigned
        /// block exactly as received (or the text of a PGP/MIME part).
        signed: String,
    },
    /// Nothing that can be acted on: why.
    Invalid(String),
}

/// Everything buildmail takes from a reply mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The question answered.
    pub question: Question,
    /// The mail's subject.
    pub subject: String,
    /// The mail's Message-ID.
    pub message_id: Option<String>,
    /// Message-IDs the mail answers: `In-Reply-To`, then `References`
    /// newest first (to find the build when the subject names no arch).
    pub thread: Vec<String>,
    /// The `From:` address.
    pub from: Option<String>,
    /// The `From:` address is the mail address of a user ID in the
    /// admins' keyring: an unsigned (or badly signed) mail from it is
    /// answered like one from `replies.known_senders`.
    pub from_keyholder: bool,
    /// Where an error reply goes; `None` when the mail must not be answered
    /// (see [`Reply::no_answer`]).
    pub answer: Option<Answer>,
    /// Why the mail must not be answered, if so.
    pub no_answer: Option<String>,
    /// How it was signed.
    pub signing: Signing,
    /// What it asks for.
    pub request: Request,
    /// The build the command names (on its line or in the quoted log);
    /// `None` for an unbound command (and for a `.changes`, which names
    /// its build itself).
    pub binding: Result<Option<command::Binding>, String>,
    /// What was ignored because it was not signed (text around the signed
    /// block, unsigned MIME parts).
    pub ignored: Vec<String>,
}

impl Reply {
    /// The signer, when the reply carries a good signature.
    pub fn signer(&self) -> Option<&Signer> {
        match &self.signing {
            Signing::Signed(s) => Some(s),
            _ => None,
        }
    }
}

/// Why a mail must never be answered: a mailer daemon, an automatic mail
/// (RFC 3834 `Auto-Submitted`), bulk or list mail, or buildmail's own.
pub fn must_not_answer(mail: &Inbound<'_>, own_address: &str) -> Option<String> {
    let from = mail.from_address().unwrap_or("");
    let local = from.split('@').next().unwrap_or("").to_ascii_lowercase();
    if ["mailer-daemon", "postmaster", "mailer_daemon"].contains(&local.as_str()) {
        return Some(format!("it comes from the mailer daemon {from}"));
    }
    if mail
        .header_text("Return-Path")
        .is_some_and(|r| r.trim() == "<>")
    {
        return Some("it has an empty Return-Path (a bounce)".into());
    }
    if mail.is_auto_submitted() {
        return Some(format!(
            "it is automatic (Auto-Submitted: {})",
            mail.auto_submitted().unwrap_or_default()
        ));
    }
    if let Some(p) = mail.precedence() {
        let p = p.trim().to_ascii_lowercase();
        if ["bulk", "junk", "list"].contains(&p.as_str()) {
            return Some(format!("it is Precedence: {p} mail"));
        }
    }
    if from.eq_ignore_ascii_case(own_address) {
        return Some("it comes from buildmail's own address".into());
    }
    None
}

/// Whether `text` is a `.changes` rather than a keyword command: it has a
/// `Source:` field and a `Files:` or `Checksums-Sha256:` field.
fn looks_like_changes(text: &str) -> bool {
    let mut source = false;
    let mut files = false;
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        source |= lower.starts_with("source:");
        files |= lower.starts_with("files:") || lower.starts_with("checksums-sha256:");
    }
    source && files
}

/// Parses the request in a reply's (signed) text.
fn request_of(question: &Question, text: &str, signed: String) -> Request {
    if let Question::ShouldBuild { .. } = question {
        return match command::parse_should_build(text) {
            Ok(a) => Request::ShouldBuild(a),
            Err(e) => Request::Invalid(e.to_string()),
        };
    }
    if looks_like_changes(text) {
        return match changes::parse(text) {
            Ok(c) => Request::Changes {
                changes: Box::new(c),
                signed,
            },
            Err(e) => Request::Invalid(format!(
                "{e}; send the .changes exactly as debsign wrote it"
            )),
        };
    }
    match command::parse(text) {
        Ok(c) => Request::Command(c),
        Err(e) => Request::Invalid(e.to_string()),
    }
}

/// The build a (signed) Subject names: a reply to a log, to a one-build
/// notification, or to a "Should I build" question.
fn subject_binding(subject: &str) -> Option<command::Binding> {
    if let Some(s) = mail::parse_reply_subject(subject)
        .or_else(|| mail::parse_notification_reply_subject(subject))
    {
        return Some(command::Binding {
            source: s.source,
            version: s.version,
            dist: Some(s.dist),
            arch: s.arch,
        });
    }
    mail::parse_should_build_subject(subject).map(|(source, version, dist)| command::Binding {
        source,
        version,
        dist: Some(dist),
        arch: None,
    })
}

/// The lines of `text` quoted with `> `, at most [`QUOTE_LINES`].
fn quote(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == QUOTE_LINES {
            out.push_str("> [...]\n");
            break;
        }
        out.push_str("> ");
        out.push_str(line.trim_end_matches('\r'));
        out.push('\n');
    }
    out
}

/// The signed content of a reply and how it was signed.
struct Content {
    signing: Signing,
    text: String,
    /// The signed message to pass on (clearsigned block, or the text).
    signed: String,
    ignored: Vec<String>,
    /// The Subject inside a signed PGP/MIME entity ("protected headers").
    protected_subject: Option<String>,
}

/// Verifies and unwraps a clearsigned `text`.
fn clearsigned(text: &[u8], keyring: &Keyring, policy: &Policy, now: i64) -> Content {
    match signature::verify_cleartext(text, keyring, policy, now) {
        Ok(v) => Content {
            signing: Signing::Signed(Signer::from(&v)),
            text: String::from_utf8_lossy(&v.text).into_owned(),
            signed: String::from_utf8_lossy(&v.signed_message).into_owned(),
            ignored: v.ignored,
            protected_subject: None,
        },
        Err(e) => Content {
            signing: Signing::Refused(e.to_string()),
            // What the block claims to say, unverified: read as a request
            // like an unsigned text (and refused for its signature), so a
            // badly signed command is refused and recorded, never passed
            // on as conversation.
            text: unverified_cleartext(text),
            signed: String::new(),
            ignored: Vec::new(),
            protected_subject: None,
        },
    }
}

/// The text of the first cleartext-signed block of `text` (RFC 4880
/// §7: after the armor headers' blank line, dash-escapes removed, up to
/// the signature), unverified; all of `text` when it has no whole block.
fn unverified_cleartext(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim_end() != "-----BEGIN PGP SIGNED MESSAGE-----");
    if lines.next().is_none() {
        return text.into_owned();
    }
    let mut body = lines.skip_while(|l| !l.trim_end().is_empty()).skip(1);
    let mut out = String::new();
    for line in body.by_ref() {
        if line.trim_end() == "-----BEGIN PGP SIGNATURE-----" {
            return out;
        }
        out.push_str(line.strip_prefix("- ").unwrap_or(line));
        out.push('\n');
    }
    text.into_owned()
}

fn has_clearsigned_block(text: &[u8]) -> bool {
    memchr::memmem::find(text, b"-----BEGIN PGP SIGNED MESSAGE-----").is_some()
}

/// Finds and verifies the signed text of a reply.
fn content(mail: &Inbound<'_>, keyring: &Keyring, policy: &Policy, now: i64) -> Content {
    match mail::reply_body(mail) {
        ReplyBody::PgpMime(p) => {
            let mut ignored = Vec::new();
            if p.unsigned_parts > 0 {
                ignored.push(format!(
                    "{} MIME part(s) outside the signed part were ignored",
                    p.unsigned_parts
                ));
            }
            match signature::verify_detached(&p.signed, &p.signature, keyring, policy, now) {
                Ok(v) => {
                    let Some(text) = mail::entity_text(&v.text) else {
                        return Content {
                            signing: Signing::Signed(Signer::from(&v)),
                            text: String::new(),
                            signed: String::new(),
                            ignored,
                            protected_subject: None,
                        };
                    };
                    if has_clearsigned_block(&text) {
                        // A debsign'ed .changes sent inside PGP/MIME: it
                        // carries its own signature, which must hold too
                        // and is what goes to the upload queue.
                        let inner = clearsigned(&text, keyring, policy, now);
                        if let Signing::Refused(why) = inner.signing {
                            return Content {
                                signing: Signing::Refused(format!(
                                    "the text inside the PGP/MIME part is clearsigned, and that signature was refused: {why}"
                                )),
                                ..inner
                            };
                        }
                        ignored.extend(inner.ignored);
                        return Content {
                            signing: Signing::Signed(Signer::from(&v)),
                            ignored,
                            ..inner
                        };
                    }
                    let protected_subject = mail_parser::MessageParser::default()
                        .parse(&v.text)
                        .and_then(|m| m.subject().map(str::to_string));
                    let text = String::from_utf8_lossy(&text).into_owned();
                    Content {
                        signing: Signing::Signed(Signer::from(&v)),
                        signed: text.clone(),
                        text,
                        ignored,
                        protected_subject,
                    }
                }
                Err(e) => Content {
                    signing: Signing::Refused(e.to_string()),
                    text: mail::entity_text(&p.signed)
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default(),
                    signed: String::new(),
                    ignored,
                    protected_subject: None,
                },
            }
        }
        ReplyBody::Inline { text, other_parts } => {
            let text = text.unwrap_or_default();
            let mut c = if has_clearsigned_block(&text) {
                clearsigned(&text, keyring, policy, now)
            } else {
                Content {
                    signing: Signing::Unsigned,
                    text: String::from_utf8_lossy(&text).into_owned(),
                    signed: String::new(),
                    ignored: Vec::new(),
                    protected_subject: None,
                }
            };
            if other_parts > 0 && matches!(c.signing, Signing::Signed(_)) {
                c.ignored.push(format!(
                    "{other_parts} other MIME part(s) were ignored (they are not signed)"
                ));
            }
            c
        }
    }
}

/// Reads a reply mail: the question, the signed content, where to answer.
/// `now` is the current time (Unix seconds) for the signature checks.
pub fn read(
    mail: &Inbound<'_>,
    question: Question,
    keyring: &Keyring,
    policy: &Policy,
    own_address: &str,
    now: i64,
) -> Reply {
    let c = content(mail, keyring, policy, now);
    let request = if c.text.trim().is_empty() {
        Request::Invalid(
            "the mail contains no text; write the command on the first line of a plain-text reply"
                .into(),
        )
    } else {
        request_of(&question, &c.text, c.signed)
    };
    let mut thread: Vec<String> = mail.in_reply_to().iter().map(|s| s.to_string()).collect();
    thread.extend(mail.references().iter().rev().map(|s| s.to_string()));
    let no_answer = must_not_answer(mail, own_address);
    let answer_to = mail.reply_to_address().or(mail.from_address());
    let answer = match (&no_answer, answer_to) {
        (None, Some(to)) => Some(Answer {
            to: to.to_string(),
            subject: mail.subject().to_string(),
            message_id: mail.message_id().map(str::to_string),
            references: mail.references().iter().map(|s| s.to_string()).collect(),
            quoted: quote(&c.text),
            signed: false,
        }),
        _ => None,
    };
    let binding = match &request {
        Request::Command(_) | Request::ShouldBuild(_) => command::binding(&c.text).map(|b| {
            // Else the Subject the signature covers (PGP/MIME protected
            // headers) names the build.
            b.or_else(|| c.protected_subject.as_deref().and_then(subject_binding))
        }),
        Request::Changes { .. } | Request::Invalid(_) => Ok(None),
    };
    Reply {
        question,
        subject: mail.subject().to_string(),
        message_id: mail.message_id().map(str::to_string),
        thread,
        from: mail.from_address().map(str::to_string),
        from_keyholder: mail
            .from_address()
            .is_some_and(|from| keyring.has_address(from)),
        no_answer: no_answer.or_else(|| {
            answer_to
                .is_none()
                .then(|| "it has no From or Reply-To address".to_string())
        }),
        answer,
        signing: c.signing,
        request,
        binding,
        ignored: c.ignored,
    }
}

/// Reads a reply whose Subject names no build but which answers one of
/// buildmail's own mails (its `In-Reply-To` or `References` name one, see
/// [`Config::is_own_message_id`]): the build is the one its text names —
/// a bound command's `<src>_<version> dist=<dist> arch=<arch>`, or a
/// `.changes`. `None` when the text names no whole build (the mail is
/// then forwarded like any other).
///
/// [`Config::is_own_message_id`]: crate::config::Config::is_own_message_id
pub fn read_threaded(
    mail: &Inbound<'_>,
    keyring: &Keyring,
    policy: &Policy,
    own_address: &str,
    now: i64,
) -> Option<Reply> {
    let unnamed = Question::Log(LogSubject {
        status: String::new(),
        source: String::new(),
        version: String::new(),
        arch: None,
        source_only: false,
        arch_all: false,
        dist: String::new(),
        archive: None,
        arches: Vec::new(),
    });
    let mut r = read(mail, unnamed, keyring, policy, own_address, now);
    let (source, version, dist, arch) = match (&r.request, &r.binding) {
        (Request::Changes { changes, .. }, _) => (
            changes.source.clone(),
            changes.version.clone(),
            changes.distributions.first()?.clone(),
            changes
                .architectures
                .iter()
                .find(|a| *a != "source" && *a != "all")
                .or_else(|| changes.architectures.iter().find(|a| *a == "all"))?
                .clone(),
        ),
        (_, Ok(Some(b))) => (
            b.source.clone(),
            b.version.clone(),
            b.dist.clone()?,
            b.arch.clone()?,
        ),
        _ => return None,
    };
    r.question = Question::Log(LogSubject {
        status: String::new(),
        source,
        version,
        arch_all: arch == "all",
        arch: Some(arch),
        source_only: false,
        dist,
        archive: None,
        arches: Vec::new(),
    });
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_told_from_commands() {
        assert!(looks_like_changes(
            "Format: 1.8\nSource: hello\nFiles:\n abc 1 x y z\n"
        ));
        assert!(!looks_like_changes("retry\n\nSource: is mentioned\n"));
        assert!(!looks_like_changes("fail\nFiles: none\n"));
    }

    #[test]
    fn quoting_is_bounded() {
        let long: String = (0..500).map(|i| format!("line {i}\n")).collect();
        let q = quote(&long);
        assert_eq!(q.lines().count(), QUOTE_LINES + 1);
        assert!(q.starts_with("> line 0\n"));
        assert!(q.ends_with("> [...]\n"));
    }
}
