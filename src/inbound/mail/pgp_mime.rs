//! PGP/MIME (RFC 3156) and the text of a reply: the exact signed entity
//! with CRLF canonicalisation, the signature part, and the reply's body.

use crate::inbound::mail::decoded_body;
use crate::inbound::mail::Inbound;
use mail_parser::{MessagePart, MimeHeaders, PartType};
use std::borrow::Cow;

/// A PGP/MIME signed message (RFC 3156): the exact signed entity and its
/// detached signature.
#[derive(Debug)]
pub struct PgpMime<'a> {
    /// The signed MIME entity, headers included, exactly as it stands in the
    /// mail (without the CRLF that belongs to the boundary), with line
    /// endings canonicalised to CRLF as RFC 3156 requires.
    pub signed: Cow<'a, [u8]>,
    /// The detached signature (the `application/pgp-signature` part,
    /// transfer-decoded).
    pub signature: Cow<'a, [u8]>,
    /// How many parts of the mail lie outside the signed entity (never
    /// used; reported to the sender).
    pub unsigned_parts: usize,
}

/// Canonicalises line endings to CRLF: a bare LF (or bare CR) becomes CRLF.
pub fn canonical_crlf(bytes: &[u8]) -> Cow<'_, [u8]> {
    let mut bare = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => i += 1,
            b'\r' | b'\n' => {
                bare = true;
                break;
            }
            _ => {}
        }
        i += 1;
    }
    if !bare {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 20);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// Finds the first `multipart/signed; protocol="application/pgp-signature"`
/// part of a mail and returns its signed entity and signature. `None` when
/// the mail is not PGP/MIME signed (or the structure is broken: not two
/// sub-parts, or the second is not `application/pgp-signature`).
pub fn pgp_mime<'a>(mail: &'a Inbound<'a>) -> Option<PgpMime<'a>> {
    let raw = mail.raw();
    let parts = &mail.message.parts;
    let (index, signed_part) = parts.iter().enumerate().find(|(_, p)| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("signed"))
                && ct
                    .attribute("protocol")
                    .is_some_and(|pr| pr.trim().eq_ignore_ascii_case("application/pgp-signature"))
        })
    })?;
    let PartType::Multipart(children) = &signed_part.body else {
        return None;
    };
    let (Some(&entity_id), Some(&sig_id)) = (children.first(), children.get(1)) else {
        return None;
    };
    let entity = parts.get(entity_id as usize)?;
    let sig = parts.get(sig_id as usize)?;
    let is_sig = sig.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("application")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("pgp-signature"))
    });
    if !is_sig || children.len() != 2 {
        return None;
    }
    let signed = raw.get(entity.raw_header_offset() as usize..entity.raw_end_offset() as usize)?;
    // Parts inside the signed entity (it may be multipart itself).
    let inside = |id: usize| {
        parts.get(id).is_some_and(|p| {
            p.raw_header_offset() >= entity.raw_header_offset()
                && p.raw_end_offset() <= entity.raw_end_offset()
        })
    };
    let unsigned_parts = parts
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            *i != index
                && *i != sig_id as usize
                && !inside(*i)
                && !matches!(p.body, PartType::Multipart(_))
        })
        .count();
    Some(PgpMime {
        signed: canonical_crlf(signed),
        signature: decoded_body(raw, sig),
        unsigned_parts,
    })
}

/// The body of an admin reply, as buildmail reads it.
#[derive(Debug)]
pub enum ReplyBody<'a> {
    /// A PGP/MIME signed message (RFC 3156).
    PgpMime(PgpMime<'a>),
    /// Anything else: the text that holds the answer, and how many other
    /// leaf parts the mail has (ignored, and reported).
    Inline {
        /// The chosen text, transfer-decoded (charset untouched): the first
        /// text part holding a clearsigned block (a `*.changes` attachment
        /// counts as text), else the first text part. `None` when the mail
        /// has no text at all.
        text: Option<Cow<'a, [u8]>>,
        /// Leaf parts besides the chosen one.
        other_parts: usize,
    },
}

/// The line that opens a clearsigned block.
pub(super) const CLEARSIGN_LINE: &[u8] = b"-----BEGIN PGP SIGNED MESSAGE-----";

/// Whether a leaf part may carry the text of an answer: `text/*` but HTML,
/// no type at all, or an attachment named `*.changes` / `*.asc`.
pub(super) fn is_answer_text(part: &MessagePart<'_>) -> bool {
    let name = part.attachment_name().unwrap_or("").to_ascii_lowercase();
    if name.ends_with(".changes") || name.ends_with(".asc") {
        return true;
    }
    part.content_type().is_none_or(|ct| {
        ct.ctype().eq_ignore_ascii_case("text")
            && !ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("html"))
    })
}

/// Finds the text of an admin reply: PGP/MIME when the mail is
/// `multipart/signed`, else the part holding a clearsigned block, else the
/// first text part. Nested structures (the answer inside
/// `multipart/mixed`, a forwarded part) are searched in order.
pub fn reply_body<'a>(mail: &'a Inbound<'a>) -> ReplyBody<'a> {
    if let Some(p) = pgp_mime(mail) {
        return ReplyBody::PgpMime(p);
    }
    let raw = mail.raw();
    let leaves: Vec<&MessagePart<'_>> = mail
        .message
        .parts
        .iter()
        .filter(|p| !matches!(p.body, PartType::Multipart(_) | PartType::Message(_)))
        .collect();
    let texts: Vec<(usize, Cow<'a, [u8]>)> = leaves
        .iter()
        .enumerate()
        .filter(|(_, p)| is_answer_text(p))
        .map(|(i, p)| (i, decoded_body(raw, p)))
        .collect();
    let signed = texts
        .iter()
        .position(|(_, t)| memchr::memmem::find(t, CLEARSIGN_LINE).is_some());
    let chosen = signed.or(if texts.is_empty() { None } else { Some(0) });
    let text = chosen
        .and_then(|i| texts.into_iter().nth(i))
        .map(|(_, t)| t);
    let other_parts = leaves.len().saturating_sub(usize::from(text.is_some()));
    ReplyBody::Inline { text, other_parts }
}

/// The text of a MIME entity (the signed part of a PGP/MIME message): its
/// first text part, transfer-decoded. `None` when it holds no text.
pub fn entity_text(entity: &[u8]) -> Option<Vec<u8>> {
    let inner = Inbound::parse(entity).ok()?;
    match reply_body(&inner) {
        ReplyBody::Inline { text, .. } => text.map(Cow::into_owned),
        ReplyBody::PgpMime(p) => entity_text(&p.signed),
    }
}
