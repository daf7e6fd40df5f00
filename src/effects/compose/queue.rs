//! Adding composed mails to a store commit: error replies (rate-limited
//! per address), FAILEDTOUPLOAD notifications, forwarded mails. The mails
//! are delivered later from the outbox ([`crate::effects::outbox`]).

use super::{
    domain_of, error_reply, failed_to_upload, Answered, Composed, Kind, Templates, UploadFailure,
};
use crate::config::{Config, OWN_MESSAGE_ID_PREFIX};
use crate::model::{Answer, BuildRecord, OutboundMail};
use crate::store::{Below, Commit, Counter, Store, StoreError};

/// Adds an error reply (`answered`: why) to `c`, unless `answer.to` has had
/// `replies.max_errors_per_hour` error replies in the last hour. Returns
/// whether it was added.
#[allow(clippy::too_many_arguments)]
pub fn queue_error_reply(
    store: &dyn Store,
    mailer: &Mailer<'_>,
    c: &mut Commit<'_>,
    answer: &Answer,
    answered: Answered,
    reasons: &[String],
    ignored: &[String],
    now: i64,
) -> Result<bool, StoreError> {
    let config = mailer.config;
    // Answers to mail no key vouches for share one global budget, so that
    // forged mail cannot use up the answers to signed replies.
    let all = store.replies_sent_since(crate::store::ALL_ADDRESSES, now - 3600)?;
    if !answer.signed && all >= config.replies.max_errors_per_hour_total as usize {
        tracing::warn!(
            "not answering {}: {all} error replies in the last hour to everyone \
             (replies.max_errors_per_hour_total)",
            answer.to
        );
        return Ok(false);
    }
    let sent = store.replies_sent_since(&answer.to, now - 3600)?;
    if sent >= config.replies.max_errors_per_hour as usize {
        if answer.signed {
            // An admin whose signed replies keep failing is not being
            // told why any more: someone must look.
            tracing::error!(
                "a verified signer, {}, hit the error-reply limit ({sent} in the last hour, \
                 replies.max_errors_per_hour): their refused commands go unanswered; \
                 see `buildmail history` for what they sent",
                answer.to
            );
        } else {
            tracing::warn!(
                "not answering {}: {sent} error replies in the last hour (replies.max_errors_per_hour)",
                answer.to
            );
        }
        return Ok(false);
    }
    // Written only while the counts are still below the limits (another
    // writer's reply meanwhile: decided again).
    let since = now - 3600;
    let mut below = vec![Below {
        counter: Counter::Replies(answer.to.clone()),
        since,
        limit: config.replies.max_errors_per_hour as usize,
    }];
    if !answer.signed {
        below.push(Below {
            counter: Counter::Replies(crate::store::ALL_ADDRESSES.into()),
            since,
            limit: config.replies.max_errors_per_hour_total as usize,
        });
    }
    let id = store.generate_id()?;
    match error_reply(
        &mailer.templates,
        &config.from_address,
        answer,
        answered,
        reasons,
        ignored,
        id,
        now,
    ) {
        Ok(mail) => {
            c.outbox.push(outbound(mail, id, now));
            c.reply_sent = Some(answer.to.clone());
            c.below.extend(below);
            Ok(true)
        }
        Err(e) => {
            tracing::warn!("cannot answer {}: {e}", answer.to);
            Ok(false)
        }
    }
}

/// What composing buildmail's mails needs: the configuration and its
/// templates, loaded once per run (not once per mail).
pub struct Mailer<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The templates it names.
    pub templates: Templates,
}

impl<'a> Mailer<'a> {
    /// Loads the configured templates; when an override is broken, the
    /// built-in ones (a mail is never lost to a template typo;
    /// `check-config` reports it). The built-in ones always parse (a unit
    /// test checks it); `Templates::empty` only keeps this total.
    pub fn new(config: &'a Config) -> Mailer<'a> {
        Mailer::with_templates(config, Templates::configured(config))
    }

    /// A mailer with templates loaded before ([`Templates::configured`]):
    /// a daemon loads them once, not for every mail.
    pub fn with_templates(config: &'a Config, templates: Templates) -> Mailer<'a> {
        Mailer { config, templates }
    }
}

/// An outbox entry for a composed mail.
pub fn outbound(mail: Composed, id: u64, now: i64) -> (OutboundMail, Vec<u8>) {
    (
        OutboundMail {
            id,
            kind: mail.kind,
            to: mail.to,
            message_id: mail.message_id,
            subject: mail.subject,
            queued: now,
            attempts: 0,
            last_error: None,
            next_attempt: now,
            dead: false,
            claim: None,
            carries: None,
        },
        mail.bytes,
    )
}

/// Adds the Failed-To-Upload notifications of `record` (which must carry
/// its upload log), failed for `cause`, to `c`.
pub fn queue_failed_to_upload(
    store: &dyn Store,
    mailer: &Mailer<'_>,
    c: &mut Commit<'_>,
    record: &BuildRecord,
    cause: UploadFailure,
    event: u64,
    now: i64,
) -> Result<Vec<String>, StoreError> {
    match failed_to_upload(mailer.config, &mailer.templates, record, cause, event, now) {
        Ok(mails) => {
            let mut to = Vec::new();
            for m in mails {
                to.extend(m.to.iter().cloned());
                let id = store.generate_id()?;
                c.outbox.push(outbound(m, id, now));
            }
            Ok(to)
        }
        Err(e) => {
            tracing::error!("{e}");
            Ok(Vec::new())
        }
    }
}

/// The forward of `raw` (kept where `carried` says) to the admin address,
/// ready for the outbox: only the
/// `Resent-*` lines are composed here ([`resent`]); the original follows
/// them when the mail is read from the outbox (`OutboundMail::carries`),
/// so queuing a forward never copies the mail. `reason` says why it is
/// forwarded (`None`: not a mail buildmail handles).
pub fn forwarded(
    mailer: &Mailer<'_>,
    raw: &[u8],
    carried: crate::model::Carried,
    reason: Option<&str>,
    message_id: Option<&str>,
    id: u64,
    now: i64,
) -> (OutboundMail, Vec<u8>) {
    let (mut mail, head) = outbound(
        Composed {
            kind: "forward".into(),
            to: vec![mailer.config.admin_address.clone()],
            message_id: message_id.unwrap_or_default().to_string(),
            subject: String::new(),
            bytes: resent(mailer, raw, reason, id, now),
        },
        id,
        now,
    );
    mail.carries = Some(carried);
    (mail, head)
}

/// The lines that make a mail forwarded intact to the admin:
/// `Resent-From`, `Resent-To`, `Resent-Date` and `Resent-Message-ID`
/// (RFC 5322 §3.6.6) and `X-Buildmail-Forward-Reason`, to be followed by
/// the original bytes, headers and MIME structure untouched. The lines
/// end the way the original's do (CRLF or LF), so the forward never
/// mixes the two.
pub fn resent(mailer: &Mailer<'_>, raw: &[u8], reason: Option<&str>, id: u64, now: i64) -> Vec<u8> {
    let config = mailer.config;
    let date = crate::time::rfc5322(now);
    let domain = domain_of(&config.from_address);
    let crlf = match memchr::memchr(b'\n', raw) {
        Some(i) => i > 0 && raw[i - 1] == b'\r',
        None => true,
    };
    let eol = if crlf { "\r\n" } else { "\n" };
    format!(
        "Resent-From: {}{eol}Resent-To: {}{eol}Resent-Date: {date}{eol}Resent-Message-ID: <{OWN_MESSAGE_ID_PREFIX}forward.{id}.{now}@{domain}>{eol}X-Buildmail-Forward-Reason: {}{eol}",
        config.from_address,
        config.admin_address,
        forward_reason(&mailer.templates, reason)
    )
    .into_bytes()
}

/// The forward notice (one line, from the `forward-notice` template).
fn forward_reason(templates: &Templates, reason: Option<&str>) -> String {
    let reason = reason.unwrap_or("not a mail buildmail handles; forwarded to the buildd admins");
    templates
        .render(
            Kind::ForwardNotice,
            minijinja::context! { reason => reason },
        )
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "forwarded by buildmail".into())
}
