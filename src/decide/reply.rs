//! What an admin reply does to its build: the signing rules, the
//! outdated-version guard, the transition table, and the record after it.
//! Pure: the current record, the reply, the time and the rules in; a
//! [`Decision`] out.

use std::cmp::Ordering;

use crate::config::Config;
use crate::debian::changes;
use crate::debian::changes::Changes;
use crate::debian::names::changes_file_name;
use crate::debian::version;
use crate::debian::version::strip_epoch;
use crate::inbound::command::{Command, ShouldBuildAnswer};
use crate::inbound::reply::{Reply, Request, Signing};
use crate::model::state;
use crate::model::state::{CommandKind, Target};
use crate::model::{Answer, BuildKey, BuildRecord, JobKind, UploadRecord};

/// What a reply does.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing changes; each reason on its own line of the error reply.
    Refuse(Vec<String>),
    /// The command applies.
    Apply(Box<Applied>),
}

/// An accepted command: the build's new record and what to do after the
/// commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The command, as the transition table knows it.
    pub command: CommandKind,
    /// The record after the command (the state does not change yet for an
    /// upload: the job's outcome decides).
    pub record: BuildRecord,
    /// An effect to carry out after the commit.
    pub job: Option<JobKind>,
    /// A line for the history.
    pub note: String,
}

/// Who gets the error reply to a refused reply: nobody but a sender with
/// a legitimate reason. A verified signer is answered at the address of
/// the signing key's user ID (From and Reply-To can be forged, the key
/// cannot); an unsigned or badly signed mail only when it comes from one
/// of `replies.known_senders` or from the address of a user ID in the
/// admins' keyring (and then to that address). Everything else is recorded, never answered,
/// so buildmail cannot be made to mail strangers (backscatter). `Err` says
/// why there is no answer.
pub fn answer_for(reply: &Reply, config: &Config) -> Result<Answer, String> {
    let Some(answer) = &reply.answer else {
        return Err(reply
            .no_answer
            .clone()
            .unwrap_or_else(|| "it has no address to answer".into()));
    };
    if let Signing::Signed(signer) = &reply.signing {
        let Some(to) = signer.uid.as_deref().and_then(uid_address) else {
            return Err(format!(
                "the signing key {} has no mail address in its user ID",
                signer.fingerprint
            ));
        };
        return Ok(Answer {
            to,
            signed: true,
            ..answer.clone()
        });
    }
    let from = reply.from.as_deref().unwrap_or("");
    // The admins' own addresses: those of replies.known_senders and the
    // user IDs of the keyring's certificates.
    if reply.from_keyholder
        || config
            .replies
            .known_senders
            .iter()
            .any(|k| k.eq_ignore_ascii_case(from))
    {
        // To the known address itself, not to a Reply-To beside it.
        return Ok(Answer {
            to: from.to_string(),
            ..answer.clone()
        });
    }
    Err(format!(
        "the mail is not signed by an admin and {from:?} is neither one of replies.known_senders \
         nor an address of the admins' keyring; refusals are answered only to admins (no backscatter)"
    ))
}

/// Whether `reply` is conversation rather than an instruction: unsigned,
/// holding no command at all (a maintainer answering a notification with
/// a question), from someone buildmail would not answer. Such a mail is
/// forwarded to the admin like any other mail instead of being refused in
/// silence. An unsigned *command* from a stranger is still refused and
/// never forwarded as if it were one.
pub fn is_conversation(reply: &Reply, config: &Config) -> bool {
    matches!(reply.request, Request::Invalid(_))
        && !matches!(reply.signing, Signing::Signed(_))
        && answer_for(reply, config).is_err()
}

/// The mail address of an OpenPGP user ID (`Name <addr>`, or a bare
/// address).
fn uid_address(uid: &str) -> Option<String> {
    let addr = match (uid.rfind('<'), uid.rfind('>')) {
        (Some(a), Some(b)) if a < b => uid.get(a + 1..b)?,
        _ => uid.trim(),
    };
    (addr.contains('@') && !addr.contains(char::is_whitespace)).then(|| addr.to_string())
}

/// Settings [`decide`] needs.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// Keyword commands must be signed.
    pub require_signed: bool,
    /// Signed keyword commands must name their build.
    pub require_bound: bool,
    /// Senders whose unsigned keyword commands are accepted when
    /// `require_signed` is false.
    pub trusted_senders: &'a [String],
    /// The configuration (build and queue directories).
    pub config: &'a Config,
}

impl<'a> Rules<'a> {
    /// The rules of a configuration.
    pub fn of(config: &'a Config) -> Rules<'a> {
        Rules {
            require_signed: config.signatures.require_signed_commands,
            require_bound: config.signatures.require_bound_commands,
            trusted_senders: &config.signatures.trusted_senders,
            config,
        }
    }
}

/// Checks how the reply is signed against what it asks for.
fn check_signing(reply: &Reply, rules: &Rules<'_>) -> Result<(), String> {
    match (&reply.signing, &reply.request) {
        (Signing::Signed(_), _) => Ok(()),
        (Signing::Refused(why), _) => Err(why.clone()),
        (Signing::Unsigned, Request::Changes { .. }) => Err(
            "the .changes is not signed: sign it (debsign) and send it inline or as PGP/MIME"
                .into(),
        ),
        (Signing::Unsigned, Request::Invalid(_)) => Ok(()),
        (Signing::Unsigned, _) if rules.require_signed => Err(
            "the command is not signed, and buildmail acts on signed commands only: sign the reply (gpg --clearsign, or PGP/MIME in your mail client) with a key in the buildd keyring"
                .into(),
        ),
        (Signing::Unsigned, _) => {
            let from = reply.from.as_deref().unwrap_or("");
            if rules
                .trusted_senders
                .iter()
                .any(|t| t.eq_ignore_ascii_case(from))
            {
                Ok(())
            } else {
                Err(format!(
                    "the command is not signed, and {from:?} is not one of the senders whose unsigned commands are accepted (signatures.trusted_senders): sign the reply"
                ))
            }
        }
    }
}

/// A signed command acts only on the build it names: the named source and
/// version (and distribution and architecture, when named) must be the
/// build's. An unbound signed command is refused unless
/// `signatures.require_bound_commands` is off; the refusal says exactly
/// what to write.
pub fn check_binding(
    reply: &Reply,
    key: &BuildKey,
    record: &BuildRecord,
    rules: &Rules<'_>,
) -> Result<(), String> {
    let keyword = match &reply.request {
        Request::Command(c) => c.kind(record.state).keyword(),
        Request::ShouldBuild(a) => a.kind().keyword(),
        // A .changes names its build itself (match_build checks it).
        Request::Changes { .. } | Request::Invalid(_) => return Ok(()),
    };
    let here = format!(
        "{}_{} dist={} arch={}",
        key.source, record.version, key.dist, key.arch
    );
    let binding = match &reply.binding {
        Ok(b) => b,
        Err(conflict) => return Err(conflict.clone()),
    };
    let signed = matches!(reply.signing, Signing::Signed(_));
    let word = keyword
        .strip_prefix("should-build: ")
        .or_else(|| keyword.split_whitespace().next())
        .unwrap_or(keyword);
    // A notice about several architectures names no single build: the
    // reply must say which one it means.
    let arches = reply.question.arches();
    if names_no_notice_build(reply) {
        return Err(format!(
            "the notice is about {} builds of {} {} in {}: name the one you mean, writing `{word} {}_{} dist={} arch=<one of {}>` as the first line (arguments after it)",
            arches.join(", "),
            key.source,
            record.version,
            key.dist,
            key.source,
            record.version,
            key.dist,
            arches.join(", ")
        ));
    }
    match binding {
        Some(b) => {
            let matches = b.source == key.source
                && b.version == record.version
                && b.dist.as_ref().is_none_or(|d| *d == key.dist)
                && b.arch.as_ref().is_none_or(|a| *a == key.arch);
            if !matches {
                return Err(format!(
                    "the signed command names {b}, but this reply is about {here}; a signed command acts only on the build it names"
                ));
            }
            // The same version is on every architecture, often in several
            // suites: a binding without both could be aimed at another build.
            if signed && rules.require_bound && (b.dist.is_none() || b.arch.is_none()) {
                return Err(format!(
                    "the signed command names {b} but not its suite and architecture: write `{word} {here}` as the first line (arguments after it)"
                ));
            }
            Ok(())
        }
        None if signed && rules.require_bound => Err(format!(
            "the signed command does not name its build, so it could be replayed against another one: write `{word} {here}` as the first line (arguments after it), or quote the log's Package:, Version:, Distribution: and Host Architecture: lines in the signed text"
        )),
        None => Ok(()),
    }
}

/// Whether `reply` answers a notice about several architectures without
/// its command naming one of them (a `.changes` names its own): it is
/// about no build in particular.
pub fn names_no_notice_build(reply: &Reply) -> bool {
    let arches = reply.question.arches();
    if arches.is_empty() || matches!(reply.request, Request::Changes { .. }) {
        return false;
    }
    !matches!(&reply.binding, Ok(Some(b)) if b.arch.as_ref().is_some_and(|a| arches.contains(a)))
}

/// The outdated-version guard: the reply must concern the version on record.
fn check_version(asked: &str, record: &BuildRecord) -> Result<(), String> {
    match version::compare(asked, &record.version) {
        Ordering::Equal => Ok(()),
        Ordering::Less => Err(format!(
            "the reply is for {} {asked}, which is outdated: {} is the newest version known for {}/{}; answer the mail about {}",
            record.key.source, record.version, record.key.dist, record.key.arch, record.version
        )),
        Ordering::Greater => Err(format!(
            "the reply is for {} {asked}, but buildmail knows only {} for {}/{}",
            record.key.source, record.version, record.key.dist, record.key.arch
        )),
    }
}

/// The files of a build's upload: the listed files and the `.changes`.
fn upload_files(u: &UploadRecord) -> Vec<String> {
    let mut files: Vec<String> = u.changes.files.iter().map(|f| f.name.clone()).collect();
    files.push(u.changes_name.clone());
    files
}

/// The files sbuild left for a build: those of the stored `.changes` (the
/// upload's, else the log's) and the `.changes` itself.
fn build_files(record: &BuildRecord) -> Vec<String> {
    let key = &record.key;
    let name = changes_file_name(&key.source, &record.version, &key.arch);
    let listed = match &record.upload {
        Some(u) => u.changes.files.iter().map(|f| f.name.clone()).collect(),
        None => record
            .changes
            .as_deref()
            .and_then(|c| changes::parse(c).ok())
            .map(|c| c.files.into_iter().map(|f| f.name).collect())
            .unwrap_or_default(),
    };
    let mut files: Vec<String> = listed;
    files.push(name);
    files
}

/// Decides what a reply does to the build whose record is `record` (`None`:
/// no such build is known). `key` names the build that was looked for.
pub fn decide(
    reply: &Reply,
    key: &BuildKey,
    record: Option<&BuildRecord>,
    now: i64,
    rules: &Rules<'_>,
) -> Decision {
    let refuse = |why: String| Decision::Refuse(vec![why]);
    if let Err(why) = check_signing(reply, rules) {
        return refuse(why);
    }
    let Some(record) = record else {
        return refuse(format!(
            "buildmail knows no build of {} for {}/{}",
            key.source, key.dist, key.arch
        ));
    };
    if let Request::Invalid(why) = &reply.request {
        return refuse(why.clone());
    }
    if let Err(why) = check_version(reply.question.version(), record) {
        return refuse(why);
    }
    if let Err(why) = check_binding(reply, key, record, rules) {
        return refuse(why);
    }
    let kind = match &reply.request {
        Request::Command(c) => c.kind(record.state),
        Request::ShouldBuild(a) => a.kind(),
        Request::Changes { .. } => CommandKind::SignedChanges,
        Request::Invalid(why) => return refuse(why.clone()),
    };
    let target = match state::decide_command(record.state, kind) {
        Ok(t) => t,
        Err(why) => return refuse(format!("{why} (version {})", record.version)),
    };
    if target == Target::Upload && record.pending_job.is_some() {
        return refuse("an upload of this build is already queued; wait for its outcome".into());
    }
    let mut new = record.clone();
    if let Target::To(to) = target {
        if to != record.state {
            new.previous_state = Some(record.state);
            new.state_change = now;
        }
        new.state = to;
    }
    let mut job = None;
    let mut note = kind.keyword().to_string();
    // An answer to the question `sync` asked: the build may be handed
    // out now (or is settled otherwise); a `fail` keeps the old reason.
    if let Request::ShouldBuild(answer) = &reply.request {
        let asked = new.source.as_mut().and_then(|s| s.ask_first.take());
        if let (ShouldBuildAnswer::Fail, Some(a)) = (answer, asked) {
            new.failed_reason = Some(a.old_reason);
        }
    }
    match (&reply.request, kind) {
        (Request::Command(Command::Fail { reason, .. }), CommandKind::FailSeeBug) => {
            let mut text = new.failed_reason.take().unwrap_or_default();
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(reason);
            note = format!("fail: {reason}");
            new.failed_reason = Some(text);
        }
        (Request::Command(Command::Fail { reason, .. }), _) => {
            note = format!("fail: {reason}");
            new.failed_reason = Some(reason.clone());
        }
        (Request::Command(Command::DepWait { deps }), _) => {
            note = format!("dep-wait: {deps}");
            new.depends = Some(deps.clone());
        }
        (Request::Command(Command::GiveBack { priority }), _) => {
            new.priority = *priority;
            new.depends = None;
        }
        (Request::Command(Command::Retry), _) => {
            new.depends = None;
        }
        (Request::Command(Command::NewVersion { version }), _) => {
            if version::compare(version, &record.version) == Ordering::Less {
                return refuse(format!(
                    "newvers {version} is older than the known version {}; name a newer version",
                    record.version
                ));
            }
            note = format!("newvers {version}");
            new.version = version.clone();
            new.upload = None;
            new.upload_log = None;
            new.failed_reason = None;
            new.depends = None;
        }
        (Request::Command(Command::UploadRemove), _) => {
            if let Some(u) = &record.upload {
                job = Some(JobKind::RemoveFromQueue {
                    queue_dir: u.queue_dir.clone(),
                    files: upload_files(u),
                });
            }
        }
        (Request::Command(Command::Purge), _) => {
            job = Some(JobKind::Purge {
                build_dir: rules.config.upload.build_dir.clone(),
                files: build_files(record),
                prefix: format!("{}_{}_", key.source, strip_epoch(&record.version)),
            });
        }
        (Request::Command(Command::RetryUpload), _) => {
            if record.upload.is_none() {
                return refuse(
                    "there is no signed .changes on record to upload again; send a signed .changes"
                        .into(),
                );
            }
            job = Some(JobKind::Upload);
        }
        (Request::ShouldBuild(ShouldBuildAnswer::Fail), _) if new.failed_reason.is_none() => {
            // Failed with the previous failure text.
            new.failed_reason = record
                .explanation
                .as_ref()
                .map(|e| e.summary.clone())
                .or_else(|| Some("failed (Should I build: fail)".into()));
        }
        (Request::Changes { changes, signed }, _) => {
            let problems = match_build(changes, key, &record.version);
            if !problems.is_empty() {
                return Decision::Refuse(problems);
            }
            new.upload = Some(UploadRecord {
                signed_changes: signed.clone(),
                changes: (**changes).clone(),
                changes_name: changes_file_name(&key.source, &record.version, &key.arch),
                queue_dir: rules.config.upload.queue_dir_for(&key.dist).to_path_buf(),
                signer: reply
                    .signer()
                    .map(|s| s.fingerprint.clone())
                    .unwrap_or_default(),
                time: now,
                command_started: None,
            });
            job = Some(JobKind::Upload);
            note = "signed .changes: upload queued".into();
        }
        _ => {}
    }
    Decision::Apply(Box::new(Applied {
        command: kind,
        record: new,
        job,
        note,
    }))
}

/// Problems found checking a .changes against a build; each a sentence an
/// admin can act on. Empty when the .changes is for this build.
///
/// The `.changes` must name the build's source, exactly its `version`
/// (epoch and binNMU suffix included), an `Architecture` that includes
/// `key.arch` (for an `all` build: `all`) and a `Distribution` that includes
/// `key.dist`.
pub fn match_build(changes: &Changes, key: &BuildKey, version: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if changes.source != key.source {
        problems.push(format!(
            "the .changes is for source {}, but this build is {}; \
             reply with the signed .changes of {} {}",
            changes.source, key.source, key.source, version
        ));
    }
    if changes.version != version {
        problems.push(format!(
            "the .changes is for version {}, but this build is version {} \
             (epoch and binNMU suffix must match too); \
             reply with the signed .changes of the build this mail is about",
            changes.version, version
        ));
    }
    if !changes.architectures.iter().any(|a| a == &key.arch) {
        problems.push(format!(
            "the .changes is for architecture {}, which does not include this build's \
             architecture {}; reply with the signed .changes of the {} build",
            word_list(&changes.architectures),
            key.arch,
            key.arch
        ));
    }
    if !changes.distributions.iter().any(|d| d == &key.dist) {
        problems.push(format!(
            "the .changes is for distribution {}, which does not include this build's \
             distribution {}; reply with the signed .changes of the build for {}",
            word_list(&changes.distributions),
            key.dist,
            key.dist
        ));
    }
    problems
}

/// Words joined by spaces, or "(none)".
fn word_list(words: &[String]) -> String {
    if words.is_empty() {
        "(none)".to_string()
    } else {
        words.join(" ")
    }
}
