//! Archive indices — `Sources` and `Packages`, plain, `.gz` or `.xz` — read
//! as a stream of paragraphs (deb822-fast), one paragraph in memory at a
//! time besides the compressed file, into the few fields `sync` uses.

use std::io::{self, Write};

use deb822_fast::borrowed::{iter_paragraphs_borrowed, BorrowedParagraph};

/// How an index file is compressed, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// `.xz`
    Xz,
    /// `.gz`
    Gzip,
    /// No suffix.
    Plain,
}

impl Compression {
    /// The compression of `path` (by suffix).
    pub fn of(path: &str) -> Compression {
        if path.ends_with(".xz") {
            Compression::Xz
        } else if path.ends_with(".gz") {
            Compression::Gzip
        } else {
            Compression::Plain
        }
    }
}

/// Why an index could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The compressed stream is broken (truncated, corrupt).
    #[error("cannot decompress: {0}")]
    Decompress(String),
    /// A paragraph does not parse.
    #[error("paragraph {0} does not parse: {1}")]
    Paragraph(usize, String),
    /// The callback refused.
    #[error("{0}")]
    Stop(String),
}

/// Collects bytes and hands every complete paragraph to `f`.
struct Paragraphs<'f> {
    buf: Vec<u8>,
    n: usize,
    f: &'f mut dyn FnMut(&str, &BorrowedParagraph<'_>) -> Result<(), String>,
    error: Option<IndexError>,
}

impl Paragraphs<'_> {
    /// Hands the paragraph `chunk` (its text, blank lines around it
    /// allowed) to the callback.
    fn emit(
        n: &mut usize,
        f: &mut dyn FnMut(&str, &BorrowedParagraph<'_>) -> Result<(), String>,
        chunk: &[u8],
    ) -> Result<(), IndexError> {
        if chunk.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        *n += 1;
        let text = String::from_utf8_lossy(chunk);
        for p in iter_paragraphs_borrowed(&text) {
            let p = p.map_err(|e| IndexError::Paragraph(*n, e.to_string()))?;
            f(&text, &p).map_err(IndexError::Stop)?;
        }
        Ok(())
    }

    /// Emits every paragraph that ends in the buffer, then drops them from
    /// it in one move (the buffer may hold a whole plain index).
    fn drain(&mut self) -> Result<(), IndexError> {
        let mut start = 0;
        while let Some(pos) = memchr::memmem::find(&self.buf[start..], b"\n\n") {
            let end = start + pos + 1;
            Self::emit(&mut self.n, self.f, &self.buf[start..end])?;
            start = end;
            while self.buf.get(start) == Some(&b'\n') {
                start += 1;
            }
        }
        self.buf.drain(..start);
        Ok(())
    }

    /// Emits what is left at the end of the stream.
    fn finish(&mut self) -> Result<(), IndexError> {
        let rest = std::mem::take(&mut self.buf);
        Self::emit(&mut self.n, self.f, &rest)
    }
}

impl Write for Paragraphs<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if let Err(e) = self.drain() {
            self.error = Some(e);
            return Err(io::Error::other("stopped"));
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads every paragraph of an index (`data`, compressed as `compression`)
/// and hands each to `f`; stops at the first error.
pub fn for_each_paragraph(
    data: &[u8],
    compression: Compression,
    f: &mut dyn FnMut(&BorrowedParagraph<'_>) -> Result<(), String>,
) -> Result<usize, IndexError> {
    for_each_raw_paragraph(data, compression, &mut |_, p| f(p))
}

/// [`for_each_paragraph`], with each paragraph's text as it is in the
/// index (to copy chosen paragraphs into a file of their own).
pub fn for_each_raw_paragraph(
    data: &[u8],
    compression: Compression,
    f: &mut dyn FnMut(&str, &BorrowedParagraph<'_>) -> Result<(), String>,
) -> Result<usize, IndexError> {
    let mut sink = Paragraphs {
        buf: Vec::with_capacity(64 << 10),
        n: 0,
        f,
        error: None,
    };
    let copied = match compression {
        Compression::Plain => sink.write_all(data),
        Compression::Gzip => {
            let mut r = flate2::read::MultiGzDecoder::new(data);
            io::copy(&mut r, &mut sink).map(drop)
        }
        Compression::Xz => {
            let mut input = io::BufReader::new(data);
            lzma_rs::xz_decompress(&mut input, &mut sink).map_err(|e| match e {
                lzma_rs::error::Error::IoError(io) => io,
                other => io::Error::other(other.to_string()),
            })
        }
    };
    if let Some(e) = sink.error.take() {
        return Err(e);
    }
    copied.map_err(|e| IndexError::Decompress(e.to_string()))?;
    sink.finish()?;
    Ok(sink.n)
}

/// Decompresses an index (`data`, compressed as `compression`) into `out`
/// (for tools that read plain files, such as dose-builddebcheck).
pub fn decompress_to(
    data: &[u8],
    compression: Compression,
    out: &mut dyn Write,
) -> Result<(), IndexError> {
    let r = match compression {
        Compression::Plain => out.write_all(data),
        Compression::Gzip => io::copy(&mut flate2::read::MultiGzDecoder::new(data), out).map(drop),
        Compression::Xz => lzma_rs::xz_decompress(&mut io::BufReader::new(data), &mut &mut *out)
            .map_err(|e| match e {
                lzma_rs::error::Error::IoError(io) => io,
                other => io::Error::other(other.to_string()),
            }),
    };
    r.and_then(|()| out.write_all(b"\n"))
        .map_err(|e| IndexError::Decompress(e.to_string()))
}

/// A `Sources` paragraph, the fields `sync` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    /// `Package`.
    pub package: String,
    /// `Version`.
    pub version: String,
    /// `Architecture` (wildcards; space-separated).
    pub architecture: String,
    /// `Build-Depends`, `Build-Depends-Arch` (joined), if any.
    pub build_depends: Option<String>,
    /// `Section` (may carry a component: `contrib/libs`).
    pub section: Option<String>,
    /// `Priority`.
    pub priority: Option<String>,
    /// `Maintainer`.
    pub maintainer: Option<String>,
    /// `Uploaders` (joined when folded).
    pub uploaders: Option<String>,
}

impl SourceEntry {
    /// The entry of a Sources paragraph; `None` for paragraphs without a
    /// package or version, and for `Extra-Source-Only: yes` (sources kept
    /// only for the licence of binaries built from them).
    pub fn from_paragraph(p: &BorrowedParagraph<'_>) -> Option<SourceEntry> {
        if p.get_single("Extra-Source-Only") == Some("yes") {
            return None;
        }
        let joined = |name: &str| p.get_field(name).map(|f| f.join().trim().to_string());
        let bd = [joined("Build-Depends"), joined("Build-Depends-Arch")]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>();
        Some(SourceEntry {
            package: p.get_single("Package")?.trim().to_string(),
            version: p.get_single("Version")?.trim().to_string(),
            architecture: joined("Architecture").unwrap_or_else(|| "any".into()),
            build_depends: (!bd.is_empty()).then(|| bd.join(", ")),
            section: p.get_single("Section").map(|s| s.trim().to_string()),
            priority: p.get_single("Priority").map(|s| s.trim().to_string()),
            maintainer: one_line(joined("Maintainer")),
            uploaders: one_line(joined("Uploaders")),
        })
    }
}

/// A folded field on one line (whitespace runs made one space); `None`
/// when empty.
fn one_line(field: Option<String>) -> Option<String> {
    let s = field?.split_whitespace().collect::<Vec<_>>().join(" ");
    (!s.is_empty()).then_some(s)
}

/// A `Packages` paragraph, the fields `sync` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryEntry {
    /// `Package`.
    pub package: String,
    /// `Version`.
    pub version: String,
    /// `Architecture`.
    pub architecture: String,
    /// The source package name (`Source:`, else the package name).
    pub source: String,
    /// The source version (`Source: name (version)`, else `Version`).
    pub source_version: String,
    /// `Provides`, if any.
    pub provides: Option<String>,
}

impl BinaryEntry {
    /// The entry of a Packages paragraph.
    pub fn from_paragraph(p: &BorrowedParagraph<'_>) -> Option<BinaryEntry> {
        let package = p.get_single("Package")?.trim().to_string();
        let version = p.get_single("Version")?.trim().to_string();
        let (source, source_version) = match p.get_single("Source").map(str::trim) {
            Some(s) => match s.split_once('(') {
                Some((name, v)) => (
                    name.trim().to_string(),
                    v.trim_end_matches(')').trim().to_string(),
                ),
                None => (s.to_string(), version.clone()),
            },
            None => (package.clone(), version.clone()),
        };
        Some(BinaryEntry {
            package,
            version,
            architecture: p.get_single("Architecture")?.trim().to_string(),
            source,
            source_version,
            provides: p.get_field("Provides").map(|f| f.join().trim().to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCES: &str = "Package: hello\nVersion: 2.10-3\nArchitecture: any\nBuild-Depends: debhelper-compat (= 13),\n libfoo-dev (>= 1.0)\nSection: devel\nPriority: optional\n\nPackage: old\nVersion: 1.0-1\nExtra-Source-Only: yes\n\n\nPackage: data\nVersion: 1-1\nArchitecture: all\n";

    fn sources(data: &[u8], c: Compression) -> Vec<SourceEntry> {
        let mut out = Vec::new();
        for_each_paragraph(data, c, &mut |p| {
            out.extend(SourceEntry::from_paragraph(p));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn plain_gzip_and_xz_give_the_same_entries() {
        let plain = sources(SOURCES.as_bytes(), Compression::Plain);
        assert_eq!(plain.len(), 2, "{plain:?}");
        assert_eq!(plain[0].package, "hello");
        let bd = plain[0].build_depends.as_deref().unwrap();
        assert!(bd.starts_with("debhelper-compat (= 13),"), "{bd}");
        assert!(bd.ends_with("libfoo-dev (>= 1.0)"), "{bd}");
        assert_eq!(plain[1].architecture, "all");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(SOURCES.as_bytes()).unwrap();
        assert_eq!(sources(&e.finish().unwrap(), Compression::Gzip), plain);
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut SOURCES.as_bytes(), &mut xz).unwrap();
        assert_eq!(sources(&xz, Compression::Xz), plain);
        // Truncated: refused.
        let cut = &xz[..xz.len() / 2];
        assert!(for_each_paragraph(cut, Compression::Xz, &mut |_| Ok(())).is_err());
    }

    #[test]
    fn binary_source_fields() {
        let text = "Package: libhello1\nVersion: 2.10-3+b1\nArchitecture: amd64\nSource: hello (2.10-3)\nProvides: libhello\n\nPackage: hello\nVersion: 2.10-3\nArchitecture: amd64\n";
        let mut out = Vec::new();
        for_each_paragraph(text.as_bytes(), Compression::Plain, &mut |p| {
            out.extend(BinaryEntry::from_paragraph(p));
            Ok(())
        })
        .unwrap();
        assert_eq!(out[0].source, "hello");
        assert_eq!(out[0].source_version, "2.10-3");
        assert_eq!(out[0].provides.as_deref(), Some("libhello"));
        assert_eq!(out[1].source, "hello");
        assert_eq!(out[1].source_version, "2.10-3");
    }
}
