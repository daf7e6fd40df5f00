//! The log viewer: a log streamed from the archive through a renderer
//! that turns sbuild's section boxes into collapsible `<details>` (the
//! failing section, the one holding the explained line, open; the
//! Summary too), escapes every line (invalid UTF-8 shown as U+FFFD), and
//! marks the explained line with the anchor `error-1`. The renderer sees
//! a line and the two before it, never the log whole: a log of any size
//! costs the same memory.

use std::collections::VecDeque;
use std::io::{self, Write};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ask, failure, not_found, streamed, As, W};
use crate::hub::{Answer, Hub, HubError, Query};
use crate::inbound::sbuild::section_box;
use crate::query::pages::LogPage;
use crate::store::blob::Codec;

/// Where the template's head ends and its foot starts.
const MARK: &str = "<!--LOG-->";

/// A line longer than this is written out in pieces (it cannot be a box
/// line, and a log of one 50 MB line must not be held whole).
const LONG_LINE: usize = 16 << 10;

/// What the renderer marks and opens.
#[derive(Debug, Clone, Default)]
pub struct Marks {
    /// The explained line's number (1-based).
    pub line: Option<u64>,
    /// Without a number: the explained line's text.
    pub text: Option<String>,
    /// The title of the section to open.
    pub section: Option<String>,
}

/// The streaming renderer (see the module documentation).
pub struct LogHtml<O: Write> {
    out: O,
    marks: Marks,
    /// The line being read.
    line: Vec<u8>,
    /// Its number.
    number: u64,
    /// Part of the line being read was written already (a long line).
    spilled: bool,
    /// Up to two complete lines not written yet (a box may start there).
    window: VecDeque<(u64, Vec<u8>)>,
    /// Sections opened so far.
    sections: usize,
    /// A section is open.
    open: bool,
    /// Marked lines so far.
    marked: usize,
}

fn escape(out: &mut impl Write, s: &str) -> io::Result<()> {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\'' => b"&#39;",
            _ => continue,
        };
        out.write_all(&s.as_bytes()[last..i])?;
        out.write_all(rep)?;
        last = i + 1;
    }
    out.write_all(&s.as_bytes()[last..])
}

impl<O: Write> LogHtml<O> {
    /// A renderer writing to `out`.
    pub fn new(out: O, marks: Marks) -> LogHtml<O> {
        LogHtml {
            out,
            marks,
            line: Vec::new(),
            number: 1,
            spilled: false,
            window: VecDeque::new(),
            sections: 0,
            open: false,
            marked: 0,
        }
    }

    fn start_section(&mut self, title: Option<&str>) -> io::Result<()> {
        if self.open {
            self.out.write_all(b"</pre></details>\n")?;
        }
        self.sections += 1;
        let open = match title {
            None => true,
            Some(t) => {
                self.marks.section.as_deref() == Some(t) || t.eq_ignore_ascii_case("summary")
            }
        };
        write!(
            self.out,
            "<details id=\"s{}\"{}><summary>",
            self.sections,
            if open { " open" } else { "" }
        )?;
        escape(&mut self.out, title.unwrap_or("(before the first section)"))?;
        self.out.write_all(b"</summary><pre>")?;
        self.open = true;
        Ok(())
    }

    fn is_marked(&self, number: u64, text: &[u8]) -> bool {
        match (self.marks.line, &self.marks.text) {
            (Some(n), _) => n == number,
            (None, Some(t)) => {
                !t.trim().is_empty() && String::from_utf8_lossy(text).trim_end() == t.trim_end()
            }
            _ => false,
        }
    }

    /// Writes a complete line (its line end removed).
    fn emit(&mut self, number: u64, text: &[u8]) -> io::Result<()> {
        if !self.open {
            self.start_section(None)?;
        }
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let s = String::from_utf8_lossy(text);
        if self.is_marked(number, text) {
            self.marked += 1;
            write!(
                self.out,
                "<mark class=\"error\" id=\"error-{}\" title=\"line {number}\">",
                self.marked
            )?;
            escape(&mut self.out, &s)?;
            self.out.write_all(b"</mark>\n")
        } else {
            escape(&mut self.out, &s)?;
            self.out.write_all(b"\n")
        }
    }

    /// A complete line arrives.
    fn complete(&mut self, number: u64, text: Vec<u8>) -> io::Result<()> {
        if self.window.len() == 2 {
            let found = section_box(&self.window[0].1, &self.window[1].1, &text);
            if let Some((title, _main)) = found {
                self.window.clear();
                return self.start_section(Some(&title));
            }
            if let Some((n, l)) = self.window.pop_front() {
                self.emit(n, &l)?;
            }
        }
        self.window.push_back((number, text));
        Ok(())
    }

    /// Writes what is left and closes the last section.
    pub fn finish(mut self) -> io::Result<O> {
        if !self.line.is_empty() || self.spilled {
            let line = std::mem::take(&mut self.line);
            if self.spilled {
                escape(&mut self.out, &String::from_utf8_lossy(&line))?;
                self.out.write_all(b"\n")?;
            } else {
                self.complete(self.number, line)?;
            }
        }
        while let Some((n, l)) = self.window.pop_front() {
            self.emit(n, &l)?;
        }
        if self.open {
            self.out.write_all(b"</pre></details>\n")?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<O: Write> Write for LogHtml<O> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    self.line.extend_from_slice(&rest[..i]);
                    rest = &rest[i + 1..];
                    let line = std::mem::take(&mut self.line);
                    let number = self.number;
                    self.number += 1;
                    if self.spilled {
                        self.spilled = false;
                        escape(&mut self.out, &String::from_utf8_lossy(&line))?;
                        self.out.write_all(b"\n")?;
                    } else {
                        self.complete(number, line)?;
                    }
                }
                None => {
                    self.line.extend_from_slice(rest);
                    rest = &[];
                    if self.line.len() > LONG_LINE {
                        // Not a box line: what waits goes out first.
                        while let Some((n, l)) = self.window.pop_front() {
                            self.emit(n, &l)?;
                        }
                        if !self.open {
                            self.start_section(None)?;
                        }
                        // Cut before an incomplete UTF-8 sequence at the end.
                        let keep = incomplete_tail(&self.line);
                        let cut = self.line.len() - keep;
                        let piece: Vec<u8> = self.line.drain(..cut).collect();
                        escape(&mut self.out, &String::from_utf8_lossy(&piece))?;
                        self.spilled = true;
                    }
                }
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// How many bytes at the end of `b` are the start of a UTF-8 sequence
/// that is not complete yet.
fn incomplete_tail(b: &[u8]) -> usize {
    for back in 1..=3.min(b.len()) {
        let c = b[b.len() - back];
        if c & 0xC0 == 0x80 {
            continue;
        }
        let need = match c {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if need > back { back } else { 0 };
    }
    0
}

/// A slot to stream a log in, waiting up to [`super::STREAM_WAIT`].
async fn stream_slot(web: &W) -> Option<tokio::sync::OwnedSemaphorePermit> {
    tokio::time::timeout(super::STREAM_WAIT, web.streams.clone().acquire_owned())
        .await
        .ok()?
        .ok()
}

/// The answer when every stream slot stays taken.
fn busy(web: &W) -> Response {
    failure(
        web,
        As::Html,
        &HubError::unavailable(format!(
            "{} logs are being sent already; try again in a moment",
            super::STREAMS
        )),
    )
}

/// What the viewer marks for `p`.
fn marks(p: &LogPage) -> Marks {
    match &p.explanation {
        Some(e) => Marks {
            line: e.line,
            text: e.matched_line.clone(),
            section: e.section.clone(),
        },
        None => Marks::default(),
    }
}

/// The page of a log: the template's head, the log rendered as it is
/// inflated, the foot.
pub(super) async fn page(
    web: W,
    source: String,
    version: String,
    arch: String,
    n: Option<usize>,
) -> Response {
    let missing = super::log_missing(&source, &version, &arch, n);
    let q = Query::Log {
        source,
        version,
        arch,
        n,
    };
    let p = match ask(&web, q).await {
        Ok(Answer::Log(Some(p))) => p,
        Ok(_) => return not_found(&web, As::Html, &missing),
        Err(e) => return failure(&web, As::Html, &e),
    };
    let html = match web.pages.render("log.html", &*p) {
        Ok(h) => h,
        Err(e) => {
            return failure(
                &web,
                As::Html,
                &HubError::unavailable(format!("the log page could not be rendered: {e}")),
            )
        }
    };
    let (head, foot) = match html.split_once(MARK) {
        Some((h, f)) => (h.to_string(), f.to_string()),
        None => (html, String::new()),
    };
    let marks = marks(&p);
    let core = web.core.clone();
    let id = p.log.id.clone();
    let Some(slot) = stream_slot(&web).await else {
        return busy(&web);
    };
    let r = super::stream(move |w| {
        let _slot = slot;
        let io = |e: io::Error| HubError::unavailable(e.to_string());
        w.write_all(head.as_bytes()).map_err(io)?;
        // The head goes out before the log is read: the first byte does
        // not wait for the archive.
        w.flush().map_err(io)?;
        let mut html = LogHtml::new(io::BufWriter::with_capacity(64 << 10, &mut *w), marks);
        core.copy_log(&id, &mut html)?;
        html.finish().map_err(io)?;
        w.write_all(foot.as_bytes()).map_err(io)?;
        Ok(true)
    })
    .await;
    streamed(r, "text/html; charset=utf-8")
}

/// The log as archived, byte-exact, as a download: gzip for a log that
/// arrived compressed (kept as it came) and for earlier releases' files,
/// zstd for a log that arrived as plain text.
pub(super) async fn raw(
    web: W,
    source: String,
    version: String,
    arch: String,
    n: usize,
) -> Response {
    let missing = super::log_missing(&source, &version, &arch, Some(n));
    let q = Query::Log {
        source: source.clone(),
        version: version.clone(),
        arch: arch.clone(),
        n: Some(n),
    };
    let p = match ask(&web, q).await {
        Ok(Answer::Log(Some(p))) => p,
        Ok(_) => return not_found(&web, As::Html, &missing),
        Err(e) => return failure(&web, As::Html, &e),
    };
    let blobs = web.core.setup().blobs.clone();
    let id = p.log.id.clone();
    let Some(slot) = stream_slot(&web).await else {
        return busy(&web);
    };
    let stored = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        blobs.log(&id)
    })
    .await;
    let stored = match stored {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            return failure(
                &web,
                As::Html,
                &HubError::unavailable(format!("cannot read the archived log: {e}")),
            )
        }
        Err(e) => return failure(&web, As::Html, &HubError::unavailable(e.to_string())),
    };
    let (kind, ext) = match stored.codec {
        Codec::Gzip => ("application/gzip", "gz"),
        Codec::Zstd => ("application/zstd", "zst"),
    };
    let name: String = format!("{source}_{version}_{arch}_{n}.log.{ext}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+-._~".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut r = (StatusCode::OK, stored.bytes).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(log: &[u8], marks: Marks, chunk: usize) -> String {
        let mut r = LogHtml::new(Vec::new(), marks);
        for c in log.chunks(chunk.max(1)) {
            r.write_all(c).unwrap();
        }
        String::from_utf8(r.finish().unwrap()).unwrap()
    }

    const RULE: &str =
        "+------------------------------------------------------------------------------+";

    fn boxed(title: &str) -> String {
        format!("{RULE}\n| {title:<76} |\n{RULE}\n")
    }

    #[test]
    fn sections_fold_and_the_explained_one_opens_whatever_the_chunks() {
        let log = format!(
            "sbuild (Debian sbuild) 0.85\n{}apt output\n{}gcc -c x.c\nx.c:1: error: <boom> \"x\"\n{}Status: attempted\n",
            boxed("Install package build dependencies"),
            boxed("Build"),
            boxed("Summary")
        );
        let marks = Marks {
            line: Some(10),
            text: None,
            section: Some("Build".into()),
        };
        for chunk in [1, 3, 7, 64, 4096] {
            let html = render(log.as_bytes(), marks.clone(), chunk);
            assert!(
                html.contains("<details id=\"s1\" open><summary>(before the first section)"),
                "{html}"
            );
            assert!(
                html.contains(
                    "<details id=\"s2\"><summary>Install package build dependencies</summary>"
                ),
                "{html}"
            );
            assert!(
                html.contains("<details id=\"s3\" open><summary>Build</summary>"),
                "{html}"
            );
            assert!(
                html.contains("<details id=\"s4\" open><summary>Summary</summary>"),
                "{html}"
            );
            assert!(
                html.contains("<mark class=\"error\" id=\"error-1\" title=\"line 10\">x.c:1: error: &lt;boom&gt; &quot;x&quot;</mark>"),
                "{html}"
            );
            assert!(!html.contains(RULE), "boxes become summaries: {html}");
            assert_eq!(
                html.matches("<details").count(),
                html.matches("</details>").count()
            );
        }
    }

    #[test]
    fn hostile_and_invalid_bytes_are_escaped_and_long_lines_stream() {
        let mut log = b"<script>alert(1)</script>\n\"onmouseover=alert(1) \xff\xfe\n".to_vec();
        log.extend(std::iter::repeat_n(b'a', LONG_LINE * 3));
        log.extend_from_slice("é<\n".as_bytes());
        let html = render(&log, Marks::default(), 1000);
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&quot;onmouseover=alert(1) \u{fffd}\u{fffd}"));
        assert!(!html.contains("<script"));
        assert!(
            html.contains("é&lt;\n"),
            "a UTF-8 sequence across a cut stays whole"
        );
        assert!(html.matches('a').count() >= LONG_LINE * 3);
    }

    #[test]
    fn the_explained_text_marks_without_a_line_number() {
        let html = render(
            b"one\nE: broken\ntwo\n",
            Marks {
                line: None,
                text: Some("E: broken".into()),
                section: None,
            },
            5,
        );
        assert!(
            html.contains("<mark class=\"error\" id=\"error-1\" title=\"line 2\">E: broken</mark>"),
            "{html}"
        );
    }
}
