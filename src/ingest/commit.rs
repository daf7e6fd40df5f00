//! The committing half of ingestion: reads the current record, asks
//! [`crate::decide`] what the mail does, composes the mails it sends and
//! writes everything in one store transaction. Mails must be committed in
//! the order they arrived.

use super::{ArchiveAnswer, FilesChecked, Ingest, LogFacts, Outcome, Prepared, PreparedBody};
use crate::decide;
use crate::decide::reply::Decision;
use crate::effects::compose;
use crate::inbound::classify::ForwardFacts;
use crate::inbound::reply::{Reply, Request, Signer};
use crate::inbound::source::RawMail;
use crate::model::{
    BuildKey, BuildRecord, ExplainTask, HistoryEntry, Job, JobKind, LogRef, MailRecord,
    QuarantineEntry, SignatureUse,
};
use crate::store::{Below, Commit, Committed, Counter, StoreError};
use crate::time::format_time;

/// Quarantined mails, and mails kept to be forwarded, larger than this
/// are kept as blobs ([`crate::store::blobs::Blobs::mails`]) rather than
/// in the database's records.
pub const QUARANTINE_INLINE: usize = 256 << 10;

impl Ingest<'_> {
    /// The committing half: decides the transition against the current
    /// record and writes everything in one transaction. Mails must be
    /// committed in the order they arrived.
    ///
    /// When another writer (a second host on one database) changed the
    /// build between the read and the write, the whole decision is made
    /// again over what it wrote ([`crate::store::retry`]).
    pub fn commit(&self, raw: &RawMail, p: &Prepared) -> Result<Outcome, StoreError> {
        let outcome = crate::store::retry(|| self.commit_prepared(raw, p))?;
        let mail = p.message_id.as_deref().unwrap_or("(no Message-ID)");
        // One line per mail, at info: bad input is expected and kept
        // (`quarantine list`), not a fault of buildmail's; the command
        // that ingested the mail reports it in its own words (`deliver
        // -v`, `import`'s summary). The daemon logs at info by default.
        match &outcome {
            Outcome::Duplicate(_) => tracing::debug!("mail <{mail}>: {outcome}"),
            _ => tracing::info!("mail <{mail}>: {outcome}"),
        }
        Ok(outcome)
    }

    fn commit_prepared(&self, raw: &RawMail, p: &Prepared) -> Result<Outcome, StoreError> {
        if let PreparedBody::Seen(why) = &p.body {
            return Ok(Outcome::Duplicate(why.clone()));
        }
        if let Some(seen) = self
            .seen(
                raw,
                &p.sha256,
                p.message_id.as_deref(),
                p.earlier.as_deref(),
            )?
            .filter(|_| p.released.is_none())
        {
            return Ok(Outcome::Duplicate(format!(
                "this mail was ingested before ({})",
                seen.outcome
            )));
        }
        let now = self.commit_time(p);
        let record = |kind: &str, outcome: String, build: Option<BuildKey>| MailRecord {
            sha256: p.sha256.clone(),
            message_id: p.message_id.clone(),
            received: now,
            kind: kind.into(),
            outcome,
            build,
        };
        match &p.body {
            PreparedBody::Seen(_) => Ok(Outcome::Duplicate(String::new())),
            PreparedBody::Other(f) => {
                self.commit_forward(raw, p, f, "other", now, Commit::default())
            }
            PreparedBody::Archive(answer) => self.commit_archive(raw, p, answer, now),
            PreparedBody::Reject {
                reason,
                subject,
                from,
            } => {
                // A large mail is kept as a blob, not in the database
                // (whose cache would hold it).
                let bytes = raw.bytes();
                let blob = if bytes.len() > QUARANTINE_INLINE {
                    self.keep_mail(p, bytes)?;
                    Some(p.sha256.clone())
                } else {
                    None
                };
                let entry = QuarantineEntry {
                    id: 0,
                    time: now,
                    reason: reason.clone(),
                    message_id: p.message_id.clone(),
                    subject: subject.clone(),
                    from: from.clone(),
                    size: bytes.len() as u64,
                    sha256: p.sha256.clone(),
                    blob: blob.clone(),
                    raw_file: None,
                };
                self.commit_quarantine(
                    p,
                    record("quarantined", format!("quarantined: {reason}"), None),
                    entry,
                    if blob.is_some() { &[] } else { bytes },
                )
            }
            PreparedBody::TooLarge { subject, from } => {
                // Kept whole as a blob; the spill file goes once the blob
                // is durable (the mail is not acknowledged yet: should
                // the commit not happen, its sender still has it).
                let size = match raw {
                    RawMail::Oversize { file, size, .. } => {
                        self.prep
                            .blobs
                            .keep_mail_file(&p.sha256, file)
                            .map_err(|source| self.mail_blob_error(source))?;
                        if let Err(e) = std::fs::remove_file(file) {
                            tracing::warn!("could not remove {}: {e}", file.display());
                        }
                        *size
                    }
                    RawMail::Bytes(b) => {
                        self.keep_mail(p, b)?;
                        b.len() as u64
                    }
                };
                let reason = format!(
                    "the mail is {size} bytes, over the limit of {} (`limits.max_message_size`); kept whole",
                    self.prep.config.limits.max_message_size,
                );
                let entry = QuarantineEntry {
                    id: 0,
                    time: now,
                    reason: reason.clone(),
                    message_id: None,
                    subject: subject.clone(),
                    from: from.clone(),
                    size,
                    sha256: p.sha256.clone(),
                    blob: Some(p.sha256.clone()),
                    raw_file: None,
                };
                self.commit_quarantine(
                    p,
                    record("quarantined", format!("quarantined: {reason}"), None),
                    entry,
                    &[],
                )
            }
            PreparedBody::Log(a) => self.commit_log(a, p, now),
            PreparedBody::Reply(r, files) => self.commit_reply(r, files.as_ref(), p, now),
        }
    }

    fn commit_log(&self, a: &LogFacts, p: &Prepared, now: i64) -> Result<Outcome, StoreError> {
        // One archived log per mail: the mail's own hash names it.
        let log_id = p.sha256.as_str();
        // Archived (and durable) before the store was opened; nothing
        // removes a blob from the archive's segments meanwhile (`fsck
        // --repair` cuts off only what no index entry covers).
        let current = self.store.build(&a.key)?;
        let (record, history, moved) = decide::log::apply_log(
            current.as_ref(),
            a,
            p.message_id.as_deref(),
            log_id,
            now,
            &self.prep.config.builders,
            self.prep.config.signatures.require_signed_logs,
        );
        // A log from someone who is not a builder is kept (the archived
        // file, the dedup record, a history line on a known build) but is
        // not indexed as the build's log, does not thread replies, and
        // creates no build.
        let authorized = decide::log::authority(
            a,
            &self.prep.config.builders,
            self.prep.config.signatures.require_signed_logs,
        )
        .is_ok();
        let keep_record = authorized || current.is_some();
        let moved = moved && keep_record;
        let log_ref = LogRef {
            id: log_id.to_string(),
            key: a.key.clone(),
            version: a.version.clone(),
            time: now,
            message_id: p.message_id.clone(),
            size: a.log_size,
            compressed_size: a.compressed_size,
            status: Some(a.status),
            builder: a.builder.clone(),
        };
        let outcome = if moved {
            format!(
                "log {} for {} {}: {}{}",
                a.status,
                a.key,
                a.version,
                super::log_verb(
                    true,
                    current
                        .as_ref()
                        .is_some_and(|c| c.state == record.state && c.version == record.version)
                ),
                record.state
            )
        } else {
            format!("log {} for {} {}: recorded", a.status, a.key, a.version)
        };
        let notice = moved
            .then(|| decide::notice::notice_for(self.prep.config, &record, now))
            .flatten();
        // A builder's signature on a log is spent like an admin's: a
        // replayed signed log (under new outer headers) changes nothing.
        // A copy sent first by someone who is not the builder (another
        // From, a host it does not serve) must not use up the genuine
        // mail's signature.
        let signature = a
            .signature
            .as_ref()
            .map(|s| signature_use(s, p, now, outcome.clone(), authorized));
        let c = Commit {
            now,
            notice,
            signature,
            mail: Some(MailRecord {
                sha256: p.sha256.clone(),
                message_id: p.message_id.clone(),
                received: now,
                kind: "log".into(),
                outcome,
                build: Some(a.key.clone()),
            }),
            // A failed log is explained after this commit, off the
            // critical path (`crate::effects::explain`).
            explain: (keep_record
                && record.explanation_pending
                && record.last_log.as_deref() == Some(log_id))
            .then(|| ExplainTask {
                key: a.key.clone(),
                version: a.version.clone(),
                log: log_id.to_string(),
                status: a.log_status,
                fail_stage: a.fail_stage.clone(),
            }),
            build: keep_record.then(|| record.clone()),
            history: keep_record.then_some(history),
            log: authorized.then_some(log_ref),
            log_message_id: p
                .message_id
                .clone()
                .filter(|_| authorized)
                .map(|m| (m, a.key.clone())),
            ..Commit::default()
        };
        Ok(settled(self.commit_mail(p, c)?, |_| Outcome::Log {
            key: a.key.clone(),
            version: a.version.clone(),
            state: record.state,
            before: current.as_ref().map(|r| (r.state, r.version.clone())),
            moved,
        }))
    }

    /// Forwards a mail to the admin address (intact, `Resent-*` headers
    /// added), unless it is buildmail's own, its sender is blacklisted, or
    /// too many bounces arrived lately: those are kept, not forwarded.
    fn commit_forward(
        &self,
        raw: &RawMail,
        p: &Prepared,
        f: &ForwardFacts,
        kind: &str,
        now: i64,
        base: Commit,
    ) -> Result<Outcome, StoreError> {
        let (keep, below) = self.keep_reason(f, now)?;
        let (kept, carried) = self.keep_unhandled(p, raw.bytes())?;
        let mut c = Commit {
            now,
            unhandled: Some(kept),
            bounce: f.bounce,
            ..base
        };
        c.below.extend(below);
        let outcome = match &keep {
            Some(why) => why.clone(),
            None => {
                let id = self.store.generate_id()?;
                c.outbox.push(compose::forwarded(
                    &self.mailer,
                    raw.bytes(),
                    carried,
                    None,
                    p.message_id.as_deref(),
                    id,
                    now,
                ));
                format!("forwarded to {}", self.prep.config.admin_address)
            }
        };
        c.mail = Some(MailRecord {
            sha256: p.sha256.clone(),
            message_id: p.message_id.clone(),
            received: now,
            kind: kind.into(),
            outcome: outcome.clone(),
            build: None,
        });
        Ok(settled(self.commit_mail(p, c)?, |_| Outcome::Forwarded {
            forwarded: keep.is_none(),
            note: outcome,
        }))
    }

    /// Why a mail with these facts is kept rather than forwarded (`None`:
    /// forward it): [`decide::forward::keep_reason`] with the bounces of
    /// the window.
    /// A bounce forwarded relies on the count it read: the commit is
    /// written only while it is still under `forward.max_bounces` (the
    /// [`Below`] returned).
    fn keep_reason(
        &self,
        f: &ForwardFacts,
        now: i64,
    ) -> Result<(Option<String>, Option<Below>), StoreError> {
        let fw = &self.prep.config.forward;
        if !f.bounce {
            return Ok((decide::forward::keep_reason(f, fw, 0), None));
        }
        let window = i64::try_from(fw.bounce_window.as_secs()).unwrap_or(i64::MAX);
        let since = now.saturating_sub(window);
        let keep = decide::forward::keep_reason(f, fw, self.store.bounces_since(since)?);
        let below = keep.is_none().then_some(Below {
            counter: Counter::Bounces,
            since,
            limit: fw.max_bounces as usize,
        });
        Ok((keep, below))
    }

    /// An archive or upload-queue answer about one of buildmail's uploads:
    /// ACCEPTED/INSTALLED → Installed; REJECTED and queue failures →
    /// Failed-To-Upload with the text as upload log and notifications; NEW
    /// and queue successes are noted. An answer about an upload buildmail
    /// did not make is forwarded.
    fn commit_archive(
        &self,
        raw: &RawMail,
        p: &Prepared,
        answer: &ArchiveAnswer,
        now: i64,
    ) -> Result<Outcome, StoreError> {
        let ArchiveAnswer {
            subject,
            text,
            forward,
            signature,
        } = answer;
        let authority = decide::archive::authority(
            forward.from.as_deref(),
            &self.prep.config.archive.senders,
            !self.prep.config.archive.keyrings.is_empty()
                || !self.prep.config.archive.dkim.domains.is_empty(),
            self.prep.config.archive.trust_unsigned_senders,
            signature.as_ref().map(|_| ()).map_err(String::as_str),
        );
        // The archive's signature is spent like an admin's: a replayed
        // signed answer changes nothing. A copy from another sender does
        // not use it up. An answer about an upload buildmail did not make
        // spends it too, so it cannot be replayed against a later upload
        // of the same name.
        let spend = |outcome: &str| {
            signature
                .as_ref()
                .ok()
                .map(|s| signature_use(s, p, now, outcome.to_string(), authority.is_ok()))
        };
        let forwarded = || Commit {
            signature: spend("archive answer about an upload buildmail did not make"),
            ..Commit::default()
        };
        let Some(key) = self.store.upload_build(subject.changes())? else {
            return self.commit_forward(raw, p, forward, "archive", now, forwarded());
        };
        let Some(record) = self.store.build(&key)? else {
            return self.commit_forward(raw, p, forward, "archive", now, forwarded());
        };
        let decide::archive::ArchiveDecision {
            event,
            record: new,
            note,
            failed_to_upload,
        } = decide::archive::decide(
            &record,
            subject,
            text,
            now,
            authority.clone(),
            self.prep.config.archive.root.is_some(),
        );
        let signature = spend(&note);
        let mut c = Commit {
            now,
            signature,
            history: Some(HistoryEntry {
                time: now,
                from: Some(record.state),
                to: Some(new.state),
                version: new.version.clone(),
                event: format!("archive:{}", event.as_str()),
                message_id: p.message_id.clone(),
                signer: None,
                note: Some(note.clone()),
                imported: None,
            }),
            ..Commit::default()
        };
        if failed_to_upload {
            let event_id = self.store.generate_id()?;
            compose::queue_failed_to_upload(
                self.store,
                &self.mailer,
                &mut c,
                &new,
                compose::UploadFailure::Archive,
                event_id,
                now,
            )?;
        }
        // An answer that moved nothing for want of authority goes to the
        // admins, saying so: they decide what the archive really said.
        if let Err(why) = &authority {
            let (keep, below) = self.keep_reason(forward, now)?;
            if keep.is_none() {
                c.below.extend(below);
                let id = self.store.generate_id()?;
                let (kept, carried) = self.keep_unhandled(p, raw.bytes())?;
                c.unhandled = Some(kept);
                c.outbox.push(compose::forwarded(
                    &self.mailer,
                    raw.bytes(),
                    carried,
                    Some(&format!(
                        "UNAUTHENTICATED archive answer about {}: it moved nothing ({why})",
                        subject.changes()
                    )),
                    p.message_id.as_deref(),
                    id,
                    now,
                ));
            }
        }
        c.build = Some(new.clone());
        c.mail = Some(MailRecord {
            sha256: p.sha256.clone(),
            message_id: p.message_id.clone(),
            received: now,
            kind: "archive".into(),
            outcome: note,
            build: Some(key.clone()),
        });
        Ok(settled(self.commit_mail(p, c)?, |_| Outcome::Archive {
            key,
            event,
            state: new.state,
        }))
    }

    /// The build a reply answers: the subject's arch, else (a "Should I
    /// build" answer) the arch its signed binding names, else the build of
    /// the log mail it answers (`In-Reply-To`/`References`), else the
    /// default architecture.
    fn reply_key(&self, r: &Reply) -> Result<BuildKey, StoreError> {
        let q = &r.question;
        let arch = match q.arch() {
            Some(a) => a.to_string(),
            // A reply to a notice about several architectures: the one its
            // command or `.changes` names (checked again when deciding).
            None if !q.arches().is_empty() => {
                let named: Vec<&str> = match (&r.request, &r.binding) {
                    (Request::Changes { changes, .. }, _) => {
                        changes.architectures.iter().map(String::as_str).collect()
                    }
                    (_, Ok(Some(b))) => b.arch.as_deref().into_iter().collect(),
                    _ => Vec::new(),
                };
                named
                    .into_iter()
                    .find(|a| q.arches().iter().any(|x| x == a))
                    .unwrap_or(&q.arches()[0])
                    .to_string()
            }
            None => {
                // A "Should I build" question names no architecture (as
                // buildd's never did): the answer's signed binding does.
                let mut found = match (q, &r.binding) {
                    (crate::inbound::reply::Question::ShouldBuild { .. }, Ok(Some(b))) => {
                        b.arch.clone()
                    }
                    _ => None,
                };
                for mid in r.thread.iter().filter(|_| found.is_none()) {
                    if let Some(k) = self.store.build_for_log_message(mid)? {
                        if k.source == q.source() && k.dist == q.dist() {
                            found = Some(k.arch);
                            break;
                        }
                    }
                }
                found.unwrap_or_else(|| self.prep.config.default_arch.clone())
            }
        };
        Ok(BuildKey {
            dist: q.dist().to_string(),
            arch,
            source: q.source().to_string(),
        })
    }

    fn commit_reply(
        &self,
        r: &Reply,
        files: Option<&FilesChecked>,
        p: &Prepared,
        now: i64,
    ) -> Result<Outcome, StoreError> {
        let key = self.reply_key(r)?;
        let record = self.store.build(&key)?;
        let signer = r.signer();
        let rules = decide::reply::Rules::of(self.prep.config);
        let mut decision = decide::reply::decide(r, &key, record.as_ref(), now, &rules);
        // The files of an upload are checked before anything is
        // committed, so a refusal is answered at once: a signed `.changes`
        // was checked when the mail was prepared (outside the commit);
        // only `retry-upload`, whose `.changes` is the record's, is
        // checked here.
        if let Decision::Apply(a) = &decision {
            if a.job == Some(JobKind::Upload) {
                if let Some(u) = &a.record.upload {
                    let checked = match files.filter(|f| f.changes == u.changes) {
                        Some(f) => f.result.clone(),
                        None => crate::effects::upload::verify_files(
                            &u.changes,
                            &self.prep.config.upload.build_dir,
                        )
                        .map(drop),
                    };
                    if let Err(problems) = checked {
                        decision = Decision::Refuse(problems);
                    }
                }
            }
        }
        let command = request_name(&r.request);
        // A command that arrived as a reply to a build it does not name
        // leaves its signature unspent (see `SignatureUse::consumed`).
        let misaddressed = record
            .as_ref()
            .is_some_and(|rec| decide::reply::check_binding(r, &key, rec, &rules).is_err());
        let signature = signer.map(|s| {
            let outcome = match &decision {
                Decision::Apply(_) => format!("{command} for {key}: accepted"),
                Decision::Refuse(why) => {
                    format!("{command} for {key}: refused: {}", why.join("; "))
                }
            };
            signature_use(s, p, now, outcome, !misaddressed)
        });
        let c = self.reply_commit(r, p, &key, record.as_ref(), &decision, signature, now)?;
        match self.commit_mail(p, c)? {
            Committed::Replay(prev) => {
                let why = vec![format!(
                    "signature already seen at {}{}: every signed reply is acted on once; sign a new reply (an admin who means to process this one again runs `buildmail forget-signature {}`)",
                    format_time(prev.first_seen),
                    prev.message_id
                        .as_deref()
                        .map(|m| format!(" (in mail <{m}>)"))
                        .unwrap_or_default(),
                    prev.signed_sha256.get(..16).unwrap_or(&prev.signed_sha256)
                )];
                let decision = Decision::Refuse(why);
                let c = self.reply_commit(r, p, &key, record.as_ref(), &decision, None, now)?;
                Ok(settled(self.commit_mail(p, c)?, |_| {
                    reply_outcome(&key, command, &decision, record.as_ref())
                }))
            }
            other => Ok(settled(other, |_| {
                reply_outcome(&key, command, &decision, record.as_ref())
            })),
        }
    }

    /// The commit of a reply: its dedup record, signature record, the
    /// build's new record and history, the job, or the error reply.
    #[allow(clippy::too_many_arguments)]
    fn reply_commit(
        &self,
        r: &Reply,
        p: &Prepared,
        key: &BuildKey,
        record: Option<&BuildRecord>,
        decision: &Decision,
        signature: Option<SignatureUse>,
        now: i64,
    ) -> Result<Commit<'static>, StoreError> {
        let command = request_name(&r.request);
        let signer = r.signer().map(|s| s.fingerprint.clone());
        let mut c = Commit {
            now,
            signature,
            ..Commit::default()
        };
        let outcome = match decision {
            Decision::Apply(a) => {
                let mut new = a.record.clone();
                if let Some(u) = new
                    .upload
                    .as_ref()
                    .filter(|_| a.job == Some(JobKind::Upload))
                {
                    c.upload_name = Some((u.changes_name.clone(), key.clone()));
                }
                if let Some(kind) = &a.job {
                    let id = self.store.generate_id()?;
                    new.pending_job = Some(id);
                    c.jobs.push(Job {
                        id,
                        key: key.clone(),
                        version: new.version.clone(),
                        kind: kind.clone(),
                        created: now,
                        message_id: p.message_id.clone(),
                        signer: signer.clone(),
                        answer: decide::reply::answer_for(r, self.prep.config).ok(),
                        claim: None,
                        started: None,
                    });
                }
                let mut note = a.note.clone();
                if !r.ignored.is_empty() {
                    note.push_str(&format!(" (ignored: {})", r.ignored.join("; ")));
                }
                c.history = Some(HistoryEntry {
                    time: now,
                    from: record.map(|r| r.state),
                    to: Some(new.state),
                    version: new.version.clone(),
                    event: format!("cmd:{}", a.command.keyword()),
                    message_id: p.message_id.clone(),
                    signer: signer.clone(),
                    note: Some(note),
                    imported: None,
                });
                let outcome = format!("{} for {key}: {}", a.command.keyword(), new.state);
                if record.is_none_or(|r| r.state != new.state) {
                    c.notice = decide::notice::notice_for(self.prep.config, &new, now);
                }
                c.build = Some(new);
                outcome
            }
            Decision::Refuse(reasons) => {
                // A reply that names none of a notice's builds is about
                // none of them: no build's history records it.
                if let Some(rec) = record.filter(|_| !decide::reply::names_no_notice_build(r)) {
                    c.build = Some(rec.clone());
                    c.history = Some(HistoryEntry {
                        time: now,
                        from: Some(rec.state),
                        to: Some(rec.state),
                        version: rec.version.clone(),
                        event: format!("refused:{command}"),
                        message_id: p.message_id.clone(),
                        signer: signer.clone(),
                        note: Some(reasons.join("; ")),
                        imported: None,
                    });
                }
                let answered = match decide::reply::answer_for(r, self.prep.config) {
                    Ok(answer) => {
                        let sent = compose::queue_error_reply(
                            self.store,
                            &self.mailer,
                            &mut c,
                            &answer,
                            compose::Answered::Refused,
                            reasons,
                            &r.ignored,
                            now,
                        )?;
                        c.unanswered = !sent;
                        String::new()
                    }
                    Err(why) => {
                        tracing::info!("not answering the refused reply: {why}");
                        c.unanswered = true;
                        format!(" (not answered: {why})")
                    }
                };
                format!(
                    "{command} for {key}: refused: {}{answered}",
                    reasons.join("; ")
                )
            }
        };
        c.mail = Some(MailRecord {
            sha256: p.sha256.clone(),
            message_id: p.message_id.clone(),
            received: now,
            kind: "reply".into(),
            outcome,
            build: Some(key.clone()),
        });
        Ok(c)
    }

    fn commit_quarantine(
        &self,
        p: &Prepared,
        mail: MailRecord,
        entry: QuarantineEntry,
        raw: &[u8],
    ) -> Result<Outcome, StoreError> {
        let reason = entry.reason.clone();
        let c = Commit {
            now: mail.received,
            mail: Some(mail),
            quarantine: Some((entry, raw)),
            released_quarantine: p.released,
            ..Commit::default()
        };
        Ok(settled(
            self.store.commit(&c)?.or_conflict()?,
            |quarantine_id| Outcome::Quarantined {
                id: quarantine_id.unwrap_or(0),
                reason,
            },
        ))
    }

    /// Commits `c` for mail `p`. A Message-ID proves nothing, so a mail
    /// that carries one another, different mail carried first is processed
    /// on its own; its dedup record and history say so.
    fn commit_mail(&self, p: &Prepared, mut c: Commit<'_>) -> Result<Committed, StoreError> {
        if self.importing {
            leave_out_effects(&mut c, self.prep.clock.now());
        }
        c.released_quarantine = p.released;
        if let Some(mid) = &p.message_id {
            if let Some(first) = self
                .store
                .message_id_user(mid)?
                .filter(|f| f.sha256 != p.sha256)
            {
                let note = format!(
                    "another mail with Message-ID <{mid}> came first ({}, {}); this one differs and was processed on its own",
                    first.kind,
                    format_time(first.received)
                );
                if let Some(m) = &mut c.mail {
                    m.outcome = format!("{}; {note}", m.outcome);
                }
                if let Some(h) = &mut c.history {
                    h.note = Some(match h.note.take() {
                        Some(n) => format!("{n}; {note}"),
                        None => note,
                    });
                }
            }
        }
        // Stale: another writer changed the build since it was read;
        // `commit` decides again.
        self.store.commit(&c)?.or_conflict()
    }

    /// The time a mail's commit is stamped with: now; for an imported mail
    /// its own `Date:` (not later than now).
    fn commit_time(&self, p: &Prepared) -> i64 {
        let now = self.prep.clock.now();
        match p.date {
            Some(date) if self.importing && (0..=now).contains(&date) => date,
            _ => now,
        }
    }

    /// Keeps a mail to be forwarded: what the `unhandled` record holds, and
    /// where the forward finds the mail. A large one becomes a blob
    /// ([`Ingest::keep_mail`], durable before the commit) and its record
    /// stays empty: the database never copies it (a copy would cost
    /// `deliver` and `serve` the mail's size again).
    fn keep_unhandled<'r>(
        &self,
        p: &Prepared,
        raw: &'r [u8],
    ) -> Result<(&'r [u8], crate::model::Carried), StoreError> {
        if raw.len() <= QUARANTINE_INLINE {
            return Ok((raw, crate::model::Carried::Stored(p.sha256.clone())));
        }
        self.keep_mail(p, raw)?;
        Ok((&[], crate::model::Carried::Blob(p.sha256.clone())))
    }

    /// Keeps mail `p` (`raw`, whole) as a blob of the mail store under
    /// its identity, durable when this returns: a commit may refer to it.
    fn keep_mail(&self, p: &Prepared, raw: &[u8]) -> Result<(), StoreError> {
        self.prep
            .blobs
            .keep_mail(&p.sha256, raw)
            .map_err(|source| self.mail_blob_error(source))
    }

    fn mail_blob_error(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.prep.blobs.mails.describe().into(),
            source,
        }
    }
}

/// Leaves the effects out of an imported mail's commit `c` (imported at
/// `now`): no job, no mail, no notice; its history entry and dedup record
/// say what was not done.
fn leave_out_effects(c: &mut Commit<'_>, now: i64) {
    let mut left_out: Vec<String> = c
        .jobs
        .iter()
        .map(|j| format!("the {}", j.kind.name()))
        .collect();
    left_out.extend(
        c.outbox
            .iter()
            .map(|(m, _)| format!("a mail ({}) to {}", m.kind, m.to.join(", "))),
    );
    if c.notice.is_some() {
        left_out.push("the build-failure notice".into());
    }
    if let Some(b) = &mut c.build {
        if c.jobs.iter().any(|j| b.pending_job == Some(j.id)) {
            b.pending_job = None;
        }
    }
    c.jobs.clear();
    c.outbox.clear();
    c.notice = None;
    c.reply_sent = None;
    let note = if left_out.is_empty() {
        format!("imported {}", format_time(now))
    } else {
        format!(
            "imported {}; not sent: imported ({}); `import --live` carries such effects out",
            format_time(now),
            left_out.join(", ")
        )
    };
    if let Some(h) = &mut c.history {
        h.imported = Some(now);
        h.note = Some(match h.note.take() {
            Some(n) => format!("{n}; {note}"),
            None => note.clone(),
        });
    }
    if let Some(m) = &mut c.mail {
        m.outcome = format!("{}; {note}", m.outcome);
    }
}

/// The record of `signer`'s signature used by the mail `p` at `now`;
/// `consumed` false leaves it unspent (a copy that must not use up the
/// genuine mail's signature).
fn signature_use(
    signer: &Signer,
    p: &Prepared,
    now: i64,
    outcome: String,
    consumed: bool,
) -> SignatureUse {
    SignatureUse {
        fingerprint: signer.fingerprint.clone(),
        created: signer.created,
        signed_sha256: signer.signed_sha256.clone(),
        first_seen: now,
        message_id: p.message_id.clone(),
        outcome,
        consumed,
    }
}

/// The outcome of a commit: `written` says what a successful one means.
fn settled(committed: Committed, written: impl FnOnce(Option<u64>) -> Outcome) -> Outcome {
    match committed {
        Committed::Written { quarantine_id } => written(quarantine_id),
        Committed::Duplicate(d) => Outcome::Duplicate(d),
        Committed::Replay(u) => Outcome::Duplicate(format!(
            "signature already seen at {}",
            format_time(u.first_seen)
        )),
        // `commit_mail` and `commit_quarantine` turn it into a retry.
        Committed::Stale(why) => Outcome::Duplicate(format!("not written: {why}")),
    }
}

/// The request of a reply, in words.
fn request_name(r: &Request) -> &'static str {
    match r {
        Request::Command(_) => "command",
        Request::ShouldBuild(_) => "should-build answer",
        Request::Changes { .. } => "signed .changes",
        Request::Invalid(_) => "reply",
    }
}

fn reply_outcome(
    key: &BuildKey,
    request: &str,
    decision: &Decision,
    record: Option<&BuildRecord>,
) -> Outcome {
    match decision {
        Decision::Apply(a) => Outcome::Reply {
            key: key.clone(),
            // The keyword says it all ("retry", "signed .changes",
            // "should-build: build").
            command: a.command.keyword().to_string(),
            applied: true,
            state: Some(a.record.state),
            reasons: Vec::new(),
            queued: a.job.as_ref().map(|j| j.name().to_string()),
        },
        Decision::Refuse(reasons) => Outcome::Reply {
            key: key.clone(),
            command: request.to_string(),
            applied: false,
            state: record.map(|r| r.state),
            reasons: reasons.clone(),
            queued: None,
        },
    }
}
