//! Mails buildmail sends, composed with lettre's message builder and
//! queued in the outbox ([`crate::store::OutboundMail`]).
//!
//! Issue 3's part: error replies to admins (design §4): to Reply-To or
//! From, `Re: <subject>`, `In-Reply-To` the answered mail, body "Your mail
//! could not be processed:" with each reason on its own line, then the
//! quoted original. They are marked `Auto-Submitted: auto-replied` so that
//! no well-behaved program answers them in turn.

use std::time::{Duration, UNIX_EPOCH};

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::Message;

use crate::store::{Answer, OutboundMail};

/// Why a mail could not be composed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// An address does not parse.
    #[error("{what} {address:?} is not a usable mail address")]
    Address {
        /// Which address.
        what: &'static str,
        /// The address.
        address: String,
    },
    /// lettre refused the message.
    #[error("cannot compose the mail: {0}")]
    Build(String),
}

/// The subject of a reply: `Re: <subject>`, without piling up `Re:`s.
pub fn reply_subject(subject: &str) -> String {
    let trimmed = subject.trim();
    if trimmed.len() >= 3
        && trimmed
            .get(..3)
            .is_some_and(|p| p.eq_ignore_ascii_case("re:"))
    {
        trimmed.to_string()
    } else {
        format!("Re: {trimmed}")
    }
}

/// The domain of an address (for Message-IDs).
fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("localhost", |(_, d)| d)
}

/// The body of an error reply.
pub fn error_body(reasons: &[String], ignored: &[String], quoted: &str) -> String {
    let mut body = String::from("Your mail could not be processed:\n");
    for r in reasons {
        body.push_str(r.trim_end());
        body.push('\n');
    }
    if !ignored.is_empty() {
        body.push_str("\nNot signed, and therefore ignored:\n");
        for i in ignored {
            body.push_str(i.trim_end());
            body.push('\n');
        }
    }
    body.push('\n');
    body.push_str(quoted);
    body
}

/// Composes an error reply to `answer` with the given reasons. `id` is the
/// outbox id (it makes the Message-ID unique); `now` the Date.
pub fn error_reply(
    from: &str,
    answer: &Answer,
    reasons: &[String],
    ignored: &[String],
    id: u64,
    now: i64,
) -> Result<(OutboundMail, Vec<u8>), ComposeError> {
    let from_box: Mailbox = from.parse().map_err(|_| ComposeError::Address {
        what: "from_address",
        address: from.to_string(),
    })?;
    let to_box: Mailbox = answer.to.parse().map_err(|_| ComposeError::Address {
        what: "the reply address",
        address: answer.to.clone(),
    })?;
    let subject = reply_subject(&answer.subject);
    let message_id = format!("buildmail.reply.{id}.{now}@{}", domain_of(from));
    let mut builder = Message::builder()
        .from(from_box)
        .to(to_box)
        .subject(subject.clone())
        .message_id(Some(format!("<{message_id}>")))
        .date(UNIX_EPOCH + Duration::from_secs(u64::try_from(now).unwrap_or(0)))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-replied".into(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Buildmail-Kind"),
            "error-reply".into(),
        ));
    if let Some(mid) = &answer.message_id {
        builder = builder.in_reply_to(format!("<{mid}>"));
        let mut refs: Vec<String> = answer.references.iter().map(|r| format!("<{r}>")).collect();
        refs.push(format!("<{mid}>"));
        builder = builder.references(refs.join(" "));
    }
    let message = builder
        .header(ContentType::TEXT_PLAIN)
        .body(error_body(reasons, ignored, &answer.quoted))
        .map_err(|e| ComposeError::Build(e.to_string()))?;
    let mail = OutboundMail {
        id,
        kind: "error-reply".into(),
        to: vec![answer.to.clone()],
        message_id,
        subject,
        queued: now,
        attempts: 0,
        last_error: None,
    };
    Ok((mail, message.formatted()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_get_one_re() {
        assert_eq!(reply_subject("Log for x"), "Re: Log for x");
        assert_eq!(reply_subject("RE: Log for x"), "RE: Log for x");
    }

    #[test]
    fn error_reply_has_the_required_parts() {
        let answer = Answer {
            to: "admin@example.org".into(),
            subject: "Re: Log for successful build of hello_1.0-1 (dist=sid)".into(),
            message_id: Some("r1@example.org".into()),
            references: vec!["log1@buildd".into()],
            quoted: "> retry\n".into(),
        };
        let (mail, bytes) = error_reply(
            "buildd@example.org",
            &answer,
            &["first reason".into(), "second reason".into()],
            &[],
            7,
            1_700_000_000,
        )
        .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("In-Reply-To: <r1@example.org>"), "{text}");
        assert!(text.contains("References: <log1@buildd> <r1@example.org>"));
        assert!(text.contains("Auto-Submitted: auto-replied"));
        assert!(text.contains("Subject: Re: Log for successful build of hello_1.0-1"));
        assert!(
            text.contains("Your mail could not be processed:\r\nfirst reason\r\nsecond reason\r\n")
        );
        assert!(text.contains("> retry"));
        assert_eq!(mail.to, vec!["admin@example.org".to_string()]);
    }
}
