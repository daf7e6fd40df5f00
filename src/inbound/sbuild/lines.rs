//! Lines of raw bytes (`\n`, `\r\n` and bare `\r` ends), found with memchr.

use memchr::memchr;

/// Iterator over the lines of a byte buffer: `(offset of the line, line
/// without its '\n')`.
#[derive(Debug, Clone)]
pub(crate) struct Lines<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.data.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let start = self.pos;
        match memchr(b'\n', rest) {
            Some(i) => {
                self.pos = start.saturating_add(i).saturating_add(1);
                rest.get(..i).map(|l| (start, l))
            }
            None => {
                self.pos = self.data.len();
                Some((start, rest))
            }
        }
    }
}

/// The lines of `data`.
pub(crate) fn lines(data: &[u8]) -> Lines<'_> {
    Lines { data, pos: 0 }
}

/// Removes trailing ASCII whitespace (including `\r`).
pub(crate) fn trim_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    line.get(..end).unwrap_or(&[])
}

pub(super) fn strip_bom(line: &[u8]) -> &[u8] {
    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
}
