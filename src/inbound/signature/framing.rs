//! The cleartext signature framework (RFC 9580 §7): the exact framing of
//! a clearsigned text, its cleartext (dash-escaping undone, trailing white
//! space and line ends canonicalised) and its armored signature; notes
//! about text around the signed block.

use crate::inbound::signature::SignatureError;

/// The exact armor header line that opens a clearsigned block.
pub(super) const BEGIN_SIGNED: &[u8] = b"-----BEGIN PGP SIGNED MESSAGE-----";

/// The exact armor header line that opens the signature of the block.
pub(super) const BEGIN_SIGNATURE: &[u8] = b"-----BEGIN PGP SIGNATURE-----";

/// The exact armor tail line that closes the signature of the block.
pub(super) const END_SIGNATURE: &[u8] = b"-----END PGP SIGNATURE-----";

/// How much of an ignored text is quoted in a note.
pub(super) const NOTE_PREVIEW: usize = 72;

/// The clearsigned block inside an input, and notes on what is around it.
#[derive(Debug)]
pub(super) struct Frame<'a> {
    /// From the `-----BEGIN PGP SIGNED MESSAGE-----` line through the
    /// `-----END PGP SIGNATURE-----` line (with its line ending).
    pub(super) block: &'a [u8],
    /// The dash-escaped cleartext: the lines after the armor headers' empty
    /// line, up to the signature's BEGIN line (the line break before that
    /// line included; it is not signed).
    pub(super) text: &'a [u8],
    /// The armored signature, BEGIN line through END line.
    pub(super) signature: &'a [u8],
    pub(super) notes: Vec<String>,
}

/// Lines of `data` with their start offsets; each line includes its
/// `\n` (the last one may lack it).
pub(super) fn lines(data: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rest = data.get(pos..).filter(|r| !r.is_empty())?;
        let len = rest
            .iter()
            .position(|&c| c == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let start = pos;
        pos += len;
        rest.get(..len).map(|l| (start, l))
    })
}

/// The signed text of a clearsigned block's dash-escaped `text`: as it
/// reads (line endings as they came) and in the canonical form that is
/// hashed (CRLF). Each line loses a leading `- ` and its trailing spaces
/// and tabs; the line break before the signature is not part of it.
pub(super) fn cleartext(text: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut plain = Vec::with_capacity(text.len());
    let mut canonical = Vec::with_capacity(text.len() + text.len() / 32);
    let mut first = true;
    for (_, line) in lines(text) {
        if !first {
            canonical.extend_from_slice(b"\r\n");
        }
        first = false;
        let (body, ending): (&[u8], &[u8]) = if let Some(b) = line.strip_suffix(b"\r\n") {
            (b, b"\r\n")
        } else if let Some(b) = line.strip_suffix(b"\n") {
            (b, b"\n")
        } else {
            (line, b"")
        };
        let body = body.strip_prefix(b"- ").unwrap_or(body);
        let n = body
            .iter()
            .rposition(|c| !matches!(c, b' ' | b'\t'))
            .map_or(0, |i| i + 1);
        let body = body.get(..n).unwrap_or_default();
        plain.extend_from_slice(body);
        plain.extend_from_slice(ending);
        canonical.extend_from_slice(body);
    }
    // The last line break belongs to the signature's BEGIN line.
    if plain.ends_with(b"\r\n") {
        plain.truncate(plain.len() - 2);
    } else if plain.ends_with(b"\n") {
        plain.truncate(plain.len() - 1);
    }
    (plain, canonical)
}

/// Decodes a well-formed `-----BEGIN PGP SIGNATURE-----` armor: optional
/// `Key: value` headers and an empty line, base64 lines, an optional
/// `=XXXX` checksum line (ignored, as RFC 9580 §6.1 allows), the END line.
/// `None` for anything else (sequoia then reads the armor itself).
pub(super) fn dearmor_signature(armor: &[u8]) -> Option<Vec<u8>> {
    let mut it = lines(armor).map(|(_, l)| trim_end(l));
    if it.next()? != BEGIN_SIGNATURE {
        return None;
    }
    let mut body = Vec::with_capacity(armor.len());
    let mut in_headers = true;
    for line in it {
        if line == END_SIGNATURE {
            return (!body.is_empty())
                .then(|| mail_parser::decoders::base64::base64_decode(&body))
                .flatten()
                .filter(|b| !b.is_empty());
        }
        if in_headers {
            if line.is_empty() {
                in_headers = false;
                continue;
            }
            if line.contains(&b':') {
                continue;
            }
            in_headers = false;
        }
        if line.first() == Some(&b'=') && line.len() == 5 {
            continue;
        }
        if !line
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
        {
            return None;
        }
        body.extend_from_slice(line);
    }
    None
}

/// The line without trailing spaces, tabs, CR and LF.
pub(super) fn trim_end(line: &[u8]) -> &[u8] {
    let n = line
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    line.get(..n).unwrap_or_default()
}

/// Splits off the leading "dash punctuation" of a line the way sequoia's
/// armor reader does, so that every line sequoia would take for an armor
/// line is seen here too. Returns (byte length of the dashes, the rest).
pub(super) fn dash_prefix(line: &[u8]) -> (usize, &[u8]) {
    let valid = match std::str::from_utf8(line) {
        Ok(s) => s,
        Err(e) => {
            std::str::from_utf8(line.get(..e.valid_up_to()).unwrap_or_default()).unwrap_or_default()
        }
    };
    let n: usize = valid
        .chars()
        .take_while(|c| {
            matches!(
                c,
                '\u{002D}' | '\u{058A}' | '\u{05BE}' | '\u{1400}' | '\u{1806}' | '\u{2010}'
                    ..='\u{2015}'
                        | '\u{2E17}'
                        | '\u{2E1A}'
                        | '\u{2E3A}'
                        | '\u{2E3B}'
                        | '\u{2E40}'
                        | '\u{301C}'
                        | '\u{3030}'
                        | '\u{30A0}'
                        | '\u{FE31}'
                        | '\u{FE32}'
                        | '\u{FE58}'
                        | '\u{FE63}'
                        | '\u{FF0D}'
            )
        })
        .map(char::len_utf8)
        .sum();
    (n, line.get(n..).unwrap_or_default())
}

/// True if sequoia (or a lenient reader) could take `line` for the armor
/// line `BEGIN PGP <what>` / `END PGP <what>` (`word` is "BEGIN PGP " or
/// "END PGP ").
pub(super) fn armor_like(line: &[u8], word: &[u8], what: &[u8]) -> bool {
    let (dashes, rest) = dash_prefix(line);
    dashes > 2
        && rest.starts_with(word)
        && rest.get(word.len()..).is_some_and(|r| r.starts_with(what))
}

/// Finds the clearsigned block: the first line that is exactly
/// `-----BEGIN PGP SIGNED MESSAGE-----` (trailing whitespace aside), its
/// `Hash:` headers, the signed text up to the exact
/// `-----BEGIN PGP SIGNATURE-----` line, and the exact
/// `-----END PGP SIGNATURE-----` line. Anything armor-like that is not
/// exact is refused: lenient readers disagree about such lines, and the
/// disagreement is what armor-confusion attacks exploit.
pub(super) fn frame_cleartext(input: &[u8]) -> Result<Frame<'_>, SignatureError> {
    let mut it = lines(input);

    // The BEGIN line. Armor-like lines before it must not be there.
    let begin = loop {
        let Some((start, line)) = it.next() else {
            return Err(SignatureError::NoSignature);
        };
        if trim_end(line) == BEGIN_SIGNED {
            break start;
        }
        if armor_like(line, b"BEGIN PGP ", b"SIGNED MESSAGE")
            || armor_like(line, b"BEGIN PGP ", b"SIGNATURE")
        {
            return Err(SignatureError::Malformed(format!(
                "armor-like line {:?} is not exactly {:?}; refusing the message \
                 (possible armor-confusion attack)",
                preview(line),
                String::from_utf8_lossy(BEGIN_SIGNED)
            )));
        }
    };

    // Armor headers: only `Hash:` is allowed (RFC 9580 §7), up to a blank
    // line.
    let text_start = loop {
        let Some((start, line)) = it.next() else {
            return Err(SignatureError::Malformed(
                "the signed block ends inside its armor headers".into(),
            ));
        };
        let l = trim_end(line);
        if l.is_empty() {
            break start + line.len();
        }
        if !l.starts_with(b"Hash:") {
            return Err(SignatureError::Malformed(format!(
                "unexpected armor header {:?} after {:?} (only `Hash:` headers are \
                 allowed, followed by an empty line)",
                preview(line),
                String::from_utf8_lossy(BEGIN_SIGNED)
            )));
        }
    };

    // The signed text, up to the signature's BEGIN line.
    let text_end = loop {
        let Some((start, line)) = it.next() else {
            return Err(SignatureError::Malformed(format!(
                "no {:?} line after the signed text (unterminated signed block)",
                String::from_utf8_lossy(BEGIN_SIGNATURE)
            )));
        };
        if armor_like(line, b"BEGIN PGP ", b"SIGNATURE") {
            if trim_end(line) != BEGIN_SIGNATURE {
                return Err(SignatureError::Malformed(format!(
                    "signature armor line {:?} is not exactly {:?}",
                    preview(line),
                    String::from_utf8_lossy(BEGIN_SIGNATURE)
                )));
            }
            break start;
        }
    };

    // The signature, up to its END line.
    let end = loop {
        let Some((start, line)) = it.next() else {
            return Err(SignatureError::Malformed(format!(
                "no {:?} line (unterminated signature)",
                String::from_utf8_lossy(END_SIGNATURE)
            )));
        };
        if armor_like(line, b"END PGP ", b"") || armor_like(line, b"BEGIN PGP ", b"") {
            if trim_end(line) != END_SIGNATURE {
                return Err(SignatureError::Malformed(format!(
                    "signature armor line {:?} is not exactly {:?}",
                    preview(line),
                    String::from_utf8_lossy(END_SIGNATURE)
                )));
            }
            break start + line.len();
        }
    };

    // After the block: a second signed block (or anything sequoia could
    // take for one) is refused, other text is ignored.
    let after_lines = || lines(input.get(end..).unwrap_or_default()).map(|(_, l)| l);
    let more_blocks = after_lines()
        .filter(|l| trim_end(l) == BEGIN_SIGNED)
        .count();
    if more_blocks > 0 {
        return Err(SignatureError::MultipleSignatures(1 + more_blocks));
    }
    if let Some(line) = after_lines().find(|l| {
        armor_like(l, b"BEGIN PGP ", b"SIGNED MESSAGE")
            || armor_like(l, b"BEGIN PGP ", b"SIGNATURE")
    }) {
        return Err(SignatureError::Malformed(format!(
            "armor-like line {:?} after the signed block; refusing the message \
             (possible armor-confusion attack)",
            preview(line)
        )));
    }

    let before = input.get(..begin).unwrap_or_default();
    let after = input.get(end..).unwrap_or_default();
    let mut notes = Vec::new();
    if let Some(n) = note("before the signed block", before) {
        notes.push(n);
    }
    if let Some(n) = note("after the signed block", after) {
        notes.push(n);
    }
    Ok(Frame {
        block: input.get(begin..end).unwrap_or_default(),
        text: input.get(text_start..text_end).unwrap_or_default(),
        signature: input.get(text_end..end).unwrap_or_default(),
        notes,
    })
}

/// A note about ignored text, or None if it is only whitespace.
pub(super) fn note(where_: &str, text: &[u8]) -> Option<String> {
    if text.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let nlines = lines(text).filter(|(_, l)| !trim_end(l).is_empty()).count();
    let first = lines(text)
        .map(|(_, l)| l)
        .find(|l| !trim_end(l).is_empty())
        .unwrap_or_default();
    Some(format!(
        "ignored {} non-empty line{} ({} bytes) {where_}, not covered by the signature; \
         first: {:?}",
        nlines,
        if nlines == 1 { "" } else { "s" },
        text.len(),
        preview(first)
    ))
}

/// The start of a line, lossily decoded, for messages.
pub(super) fn preview(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(trim_end(line));
    if s.chars().count() > NOTE_PREVIEW {
        let mut p: String = s.chars().take(NOTE_PREVIEW).collect();
        p.push('…');
        p
    } else {
        s.into_owned()
    }
}
