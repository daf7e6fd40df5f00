//! The local blob store ([`BlobStore`]): blobs appended to segment files,
//! found through an append-only index file beside them. One file and one
//! directory entry per log (what earlier releases wrote) cost the import
//! an inode allocation each; an append costs a `pwrite`.
//!
//! ```text
//! <dir>/lock                  flock: one appender at a time (all processes)
//! <dir>/index                 64-byte entries, in append order
//! <dir>/00000001.seg, …       records, appended; a new segment past SEGMENT_MAX
//! ```
//!
//! A record: `bmblob\x01\n`, the id (32 bytes), the codec (1 byte), 3 zero
//! bytes, the payload's length (u64, little-endian), the payload's CRC-32
//! (u32 LE), then the payload ([`HEADER`] bytes before it). An index entry:
//! the id, the segment number (u32 LE), the codec, 3 zero bytes, the
//! record's offset and the payload's length (u64 LE each), the payload's
//! CRC-32 and the CRC-32 of the entry's first 60 bytes.
//!
//! **Appending** ([`Segments::put`]) takes an in-process mutex and the
//! `flock` of `lock`, writes the record at the segment's end, then its
//! index entry at the index's end. **Durability** ([`Segments::sync`]):
//! `fdatasync` of the segments written since the last sync; the threads
//! that put meanwhile share one sync, and a commit that refers to a blob
//! is made only after it (as before, with files). The index is not
//! synced: it is derived from the segments (every record carries its id,
//! length and CRC), so after a crash that left it behind, readers find
//! the records past its last entry by reading them, and the next append
//! indexes them again.
//!
//! **A crash mid-append** leaves at most a record, or an index entry, cut
//! off at the end. Every appender checks the tail when it takes the lock
//! and the files are not as it left them ([`Segments::put`] → `recover`):
//! index entries that are cut off, or whose record is not whole, are
//! dropped; whole records past the last index entry (a crash between
//! the record and its entry) are indexed again; what follows the last
//! whole record is truncated. A segment never holds a cut-off record
//! before a whole one, so a reader never meets one. Readers take no lock:
//! they see only index entries that are whole (their CRC), and check each
//! record's header and payload CRC before handing it out.
//!
//! Nothing is ever removed from a segment: a blob that no record refers
//! to (a mail whose commit did not happen, a log delivered twice without
//! the daemon) stays until a compaction, which is not written yet; `fsck`
//! counts them.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use super::blob::{BlobCheck, BlobId, BlobInfo, BlobStore, Codec, StoredBlob};

/// A segment is closed and the next one started once it passes this size.
pub const SEGMENT_MAX: u64 = 1 << 30;

/// The bytes before a record's payload.
pub const HEADER: u64 = 56;

/// An index entry's size.
const ENTRY: u64 = 64;

/// A record's first bytes.
const MAGIC: &[u8; 8] = b"bmblob\x01\n";

/// One index entry (and the record it points to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The blob's id.
    pub id: BlobId,
    /// Its segment's number.
    pub segment: u32,
    /// Its codec.
    pub codec: Codec,
    /// Where its record starts in the segment.
    pub offset: u64,
    /// Its payload's length.
    pub len: u64,
    /// Its payload's CRC-32.
    pub crc: u32,
}

impl Entry {
    /// The offset just past the record.
    pub fn end(&self) -> u64 {
        self.offset + HEADER + self.len
    }

    fn encode(&self) -> [u8; ENTRY as usize] {
        let mut e = [0u8; ENTRY as usize];
        e[..32].copy_from_slice(&self.id.0);
        e[32..36].copy_from_slice(&self.segment.to_le_bytes());
        e[36] = self.codec.to_byte();
        e[40..48].copy_from_slice(&self.offset.to_le_bytes());
        e[48..56].copy_from_slice(&self.len.to_le_bytes());
        e[56..60].copy_from_slice(&self.crc.to_le_bytes());
        let check = crc32fast::hash(&e[..60]);
        e[60..].copy_from_slice(&check.to_le_bytes());
        e
    }

    /// The entry in `e`, if it is whole (its CRC holds).
    fn decode(e: &[u8]) -> Option<Entry> {
        let e: &[u8; ENTRY as usize] = e.try_into().ok()?;
        let u32_at = |i: usize| u32::from_le_bytes([e[i], e[i + 1], e[i + 2], e[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&e[i..i + 8]);
            u64::from_le_bytes(b)
        };
        if crc32fast::hash(&e[..60]) != u32_at(60) || e[37..40] != [0, 0, 0] {
            return None;
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&e[..32]);
        Some(Entry {
            id: BlobId(id),
            segment: u32_at(32),
            codec: Codec::from_byte(e[36])?,
            offset: u64_at(40),
            len: u64_at(48),
            crc: u32_at(56),
        })
    }

    fn header(&self) -> [u8; HEADER as usize] {
        let mut h = [0u8; HEADER as usize];
        h[..8].copy_from_slice(MAGIC);
        h[8..40].copy_from_slice(&self.id.0);
        h[40] = self.codec.to_byte();
        h[44..52].copy_from_slice(&self.len.to_le_bytes());
        h[52..56].copy_from_slice(&self.crc.to_le_bytes());
        h
    }

    /// The record header `h` read at `offset` of `segment`, if it is one.
    fn from_header(h: &[u8], segment: u32, offset: u64) -> Option<Entry> {
        let h: &[u8; HEADER as usize] = h.try_into().ok()?;
        if &h[..8] != MAGIC || h[41..44] != [0, 0, 0] {
            return None;
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&h[8..40]);
        let mut len = [0u8; 8];
        len.copy_from_slice(&h[44..52]);
        Some(Entry {
            id: BlobId(id),
            segment,
            codec: Codec::from_byte(h[40])?,
            offset,
            len: u64::from_le_bytes(len),
            crc: u32::from_le_bytes([h[52], h[53], h[54], h[55]]),
        })
    }
}

fn segment_name(n: u32) -> String {
    format!("{n:08}.seg")
}

/// The segment numbers in `dir`, ascending.
fn segment_numbers(dir: &Path) -> io::Result<Vec<u32>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for f in rd {
        let name = f?.file_name();
        let n = name
            .to_str()
            .and_then(|n| n.strip_suffix(".seg"))
            .filter(|n| n.len() == 8)
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(n) = n {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn corrupt(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// `e`'s payload does not match its CRC.
fn bad_crc(e: &Entry) -> io::Error {
    corrupt(format!(
        "{} at {}: blob {} does not match its CRC",
        segment_name(e.segment),
        e.offset,
        e.id
    ))
}

/// The files an appender holds open.
struct Open {
    /// Held (flock) while appending.
    lock: File,
    index: File,
    /// The index's length as this process left it.
    index_len: u64,
    /// The segment appended to, and its length as this process left it.
    active: u32,
    seg: Option<File>,
    seg_len: u64,
    /// Files written since the last sync (segments closed meanwhile).
    unsynced: Vec<File>,
    /// A segment (or the directory) was created since the last sync: the
    /// directory is synced too.
    dir_dirty: bool,
    /// Puts appended by this process.
    appended: u64,
}

/// Where readers find ids: the index entry number of each id's last
/// entry, by the id's first 8 bytes (a miss, or a different id there, is
/// looked up by reading the whole index).
#[derive(Default)]
struct Lookup {
    /// The index bytes read into `by_prefix`.
    read: u64,
    by_prefix: HashMap<u64, u32>,
    /// The segment and end of the last entry read.
    last_end: Option<(u32, u64)>,
}

fn prefix(id: &BlobId) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id.0[..8]);
    u64::from_le_bytes(b)
}

/// The segment files of one directory (see the module docs).
pub struct Segments {
    dir: PathBuf,
    segment_max: u64,
    open: Mutex<Option<Open>>,
    /// The puts known durable; held while a sync runs.
    synced: Mutex<u64>,
    lookup: Mutex<Lookup>,
}

/// What an append writes: bytes in memory, or a reader and about how
/// many bytes it yields.
enum Payload<'a> {
    Bytes(&'a [u8]),
    Stream(&'a mut dyn Read, u64),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What `fsck` learns from [`Segments::check`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Check {
    /// Whole, readable blobs: id, stored size, segment.
    pub blobs: Vec<(BlobId, u64, u32)>,
    /// Index entries or records that are damaged, in words.
    pub damaged: Vec<String>,
    /// Bytes past the last indexed record that a crash left (truncated
    /// by the next appender, or by `fsck --repair`), by segment; segment 0
    /// is the index itself (a cut-off entry).
    pub tails: Vec<(u32, u64)>,
    /// Bytes in all segments.
    pub bytes: u64,
}

impl Segments {
    /// The segments in `dir`, shared by every user in this process (one
    /// appender state, one group sync). Nothing is created before the
    /// first put.
    pub fn shared(dir: &Path) -> Arc<Segments> {
        static ALL: OnceLock<Mutex<HashMap<PathBuf, Weak<Segments>>>> = OnceLock::new();
        let mut all = lock(ALL.get_or_init(Default::default));
        if let Some(s) = all.get(dir).and_then(Weak::upgrade) {
            return s;
        }
        all.retain(|_, w| w.strong_count() > 0);
        let s = Arc::new(Segments::new(dir, SEGMENT_MAX));
        all.insert(dir.to_path_buf(), Arc::downgrade(&s));
        s
    }

    /// Segments in `dir` that roll over past `segment_max` bytes (tests
    /// use small ones), not shared.
    pub fn new(dir: &Path, segment_max: u64) -> Segments {
        Segments {
            dir: dir.to_path_buf(),
            segment_max,
            open: Mutex::new(None),
            synced: Mutex::new(0),
            lookup: Mutex::new(Lookup::default()),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn segment_path(&self, n: u32) -> PathBuf {
        self.dir.join(segment_name(n))
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index")
    }

    /// Opens the appender's files, creating the directory; the first
    /// append checks the tail (the lengths are unknown).
    fn open_files(&self) -> io::Result<Open> {
        let created = !self.dir.is_dir();
        std::fs::create_dir_all(&self.dir)?;
        let rw = |p: PathBuf| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(p)
        };
        let lock = rw(self.dir.join("lock"))?;
        let index = rw(self.index_path())?;
        Ok(Open {
            lock,
            index,
            index_len: u64::MAX,
            active: 0,
            seg: None,
            seg_len: u64::MAX,
            unsynced: Vec::new(),
            dir_dirty: created,
            appended: 0,
        })
    }

    /// Brings `o` up to the files as they are (another process appended,
    /// or a crash left a tail): see the module docs. Runs with the lock
    /// held.
    fn recover(&self, o: &mut Open) -> io::Result<()> {
        let mut len = o.index.metadata()?.len();
        if len % ENTRY != 0 {
            len -= len % ENTRY;
            o.index.set_len(len)?;
        }
        // The last entry whose record is whole.
        let mut last: Option<Entry> = None;
        while len > 0 {
            let mut e = [0u8; ENTRY as usize];
            o.index.read_exact_at(&mut e, len - ENTRY)?;
            if let Some(entry) = Entry::decode(&e) {
                if self.record_is_whole(&entry)? {
                    last = Some(entry);
                    break;
                }
            }
            len -= ENTRY;
        }
        if len != o.index.metadata()?.len() {
            o.index.set_len(len)?;
        }
        o.index_len = len;
        // Whole records past it are indexed again; the rest is cut off.
        let (first, from) = match last {
            Some(e) => (e.segment, e.end()),
            None => (1, 0),
        };
        let mut active = first;
        for n in segment_numbers(&self.dir)? {
            if n < first {
                continue;
            }
            let start = if n == first { from } else { 0 };
            let end = self.roll_forward(o, n, start)?;
            if end > 0 || n == first {
                active = n;
            }
        }
        o.active = active;
        let path = self.segment_path(active);
        match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => {
                o.seg_len = f.metadata()?.len();
                o.seg = Some(f);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                o.seg = None;
                o.seg_len = 0;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Whether `e`'s record is in its segment, whole, with `e`'s header.
    fn record_is_whole(&self, e: &Entry) -> io::Result<bool> {
        let f = match File::open(self.segment_path(e.segment)) {
            Ok(f) => f,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(err) => return Err(err),
        };
        if f.metadata()?.len() < e.end() {
            return Ok(false);
        }
        let mut h = [0u8; HEADER as usize];
        f.read_exact_at(&mut h, e.offset)?;
        Ok(Entry::from_header(&h, e.segment, e.offset) == Some(*e))
    }

    /// Indexes the whole records of segment `n` from `start` on and cuts
    /// the segment after the last of them; its length afterwards.
    fn roll_forward(&self, o: &mut Open, n: u32, start: u64) -> io::Result<u64> {
        let path = self.segment_path(n);
        let f = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let size = f.metadata()?.len();
        let mut at = start;
        for e in whole_records(&f, n, start, size)? {
            o.index.write_all_at(&e.encode(), o.index_len)?;
            o.index_len += ENTRY;
            tracing::warn!(
                "log archive: indexed blob {} of {} again (a crash came between its record and its index entry)",
                e.id,
                path.display()
            );
            at = e.end();
        }
        if at < size {
            tracing::warn!(
                "log archive: {} bytes cut off at the end of {} (an append a crash interrupted)",
                size - at,
                path.display()
            );
            f.set_len(at)?;
            f.sync_all()?;
        }
        Ok(at)
    }

    /// Appends blob `id`. Not durable until [`Segments::sync`].
    pub fn put(&self, id: &BlobId, codec: Codec, bytes: &[u8]) -> io::Result<()> {
        self.put_payload(id, codec, Payload::Bytes(bytes))
    }

    /// Appends blob `id`, its stored bytes read from `stored` as they are
    /// written (a mail of hundreds of megabytes is never held whole);
    /// `size_hint`, about how many there are, picks the segment. The
    /// payload is written first and its header (length, CRC) after it,
    /// so a crash in between leaves a tail that is not a record. Not
    /// durable until [`Segments::sync`].
    pub fn put_stream(
        &self,
        id: &BlobId,
        codec: Codec,
        size_hint: u64,
        stored: &mut dyn Read,
    ) -> io::Result<()> {
        self.put_payload(id, codec, Payload::Stream(stored, size_hint))
    }

    fn put_payload(&self, id: &BlobId, codec: Codec, payload: Payload<'_>) -> io::Result<()> {
        let mut guard = lock(&self.open);
        if guard.is_none() {
            *guard = Some(self.open_files()?);
        }
        let Some(o) = guard.as_mut() else {
            return Err(io::Error::other("the log archive could not be opened"));
        };
        crate::fsutil::flock(&o.lock)?;
        let r = self.append(o, id, codec, payload);
        let u = crate::fsutil::unlock(&o.lock);
        if r.is_err() {
            // Checked again from the files at the next put.
            o.index_len = u64::MAX;
        }
        r?;
        u
    }

    fn append(
        &self,
        o: &mut Open,
        id: &BlobId,
        codec: Codec,
        payload: Payload<'_>,
    ) -> io::Result<()> {
        // Another process appended (or this one failed): check the tail.
        let seg_now = match &o.seg {
            Some(f) => f.metadata()?.len(),
            None => 0,
        };
        if o.index.metadata()?.len() != o.index_len || seg_now != o.seg_len {
            self.recover(o)?;
        }
        let size = match &payload {
            Payload::Bytes(b) => b.len() as u64,
            Payload::Stream(_, hint) => *hint,
        };
        if o.seg_len > 0 && o.seg_len + HEADER + size > self.segment_max {
            if let Some(old) = o.seg.take() {
                o.unsynced.push(old);
            }
            o.active += 1;
            o.seg_len = 0;
        }
        if o.seg.is_none() {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(self.segment_path(o.active))?;
            o.seg_len = f.metadata()?.len();
            o.seg = Some(f);
            o.dir_dirty = true;
        }
        let Some(seg) = &o.seg else {
            return Err(io::Error::other("no segment open"));
        };
        let offset = o.seg_len;
        let written = match payload {
            Payload::Bytes(bytes) => {
                let e = Entry {
                    id: *id,
                    segment: o.active,
                    codec,
                    offset,
                    len: bytes.len() as u64,
                    crc: crc32fast::hash(bytes),
                };
                seg.write_all_at(&e.header(), e.offset)
                    .and_then(|()| {
                        crate::fsutil::crash_point("archive-mid-record");
                        seg.write_all_at(bytes, e.offset + HEADER)
                    })
                    .map(|()| e)
            }
            Payload::Stream(stored, _) => {
                // The payload first, its header (length, CRC) last.
                let mut crc = crc32fast::Hasher::new();
                let mut len = 0u64;
                let mut buf = vec![0u8; 1 << 16];
                let copied = (|| loop {
                    let n = match stored.read(&mut buf) {
                        Ok(0) => return Ok(()),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    let chunk = buf.get(..n).unwrap_or_default();
                    seg.write_all_at(chunk, offset + HEADER + len)?;
                    crc.update(chunk);
                    len += n as u64;
                })();
                copied.and_then(|()| {
                    let e = Entry {
                        id: *id,
                        segment: o.active,
                        codec,
                        offset,
                        len,
                        crc: crc.finalize(),
                    };
                    crate::fsutil::crash_point("archive-mid-record");
                    seg.write_all_at(&e.header(), e.offset).map(|()| e)
                })
            }
        };
        let e = match written {
            Ok(e) => e,
            Err(err) => {
                // Nothing half-written stays behind when it can be helped.
                let _ = seg.set_len(offset);
                return Err(err);
            }
        };
        crate::fsutil::crash_point("archive-mid-append");
        if let Err(err) = o.index.write_all_at(&e.encode(), o.index_len) {
            let _ = o.index.set_len(o.index_len);
            let _ = seg.set_len(e.offset);
            return Err(err);
        }
        o.seg_len = e.end();
        o.index_len += ENTRY;
        o.appended += 1;
        crate::fsutil::crash_point("archive-appended");
        Ok(())
    }

    /// Makes every put of this process so far durable: one `fdatasync`
    /// of each segment written and of the index, shared by the threads
    /// that put meanwhile.
    pub fn sync(&self) -> io::Result<()> {
        let mut synced = lock(&self.synced);
        let (target, files, dir_dirty) = {
            let mut guard = lock(&self.open);
            let Some(o) = guard.as_mut() else {
                return Ok(());
            };
            if o.appended <= *synced {
                return Ok(());
            }
            // The segments only: the index is derived from them (its
            // entries are checked against the records, and a crash that
            // leaves it behind is made good by the next append, and by
            // readers meanwhile), so one fdatasync per sync.
            let mut files = std::mem::take(&mut o.unsynced);
            if let Some(seg) = &o.seg {
                files.push(seg.try_clone()?);
            }
            let dir_dirty = std::mem::replace(&mut o.dir_dirty, false);
            (o.appended, files, dir_dirty)
        };
        let r = (|| {
            for f in &files {
                f.sync_data()?;
            }
            if dir_dirty {
                // A new segment's name; a new directory's own name too.
                crate::fsutil::sync_dir(&self.dir)?;
                if let Some(parent) = self.dir.parent() {
                    crate::fsutil::sync_dir(parent)?;
                }
            }
            Ok(())
        })();
        match r {
            Ok(()) => {
                *synced = target;
                Ok(())
            }
            Err(e) => {
                // Synced again, all of them, by the next call.
                let mut guard = lock(&self.open);
                if let Some(o) = guard.as_mut() {
                    o.unsynced.extend(files);
                    o.dir_dirty |= dir_dirty;
                }
                Err(e)
            }
        }
    }

    /// Every whole index entry, in append order.
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        self.scan_index(0, &mut |_, e| {
            out.push(e);
            true
        })?;
        Ok(out)
    }

    /// Reads the index from byte `from` on, calling `f` with each whole
    /// entry's number and the entry (skipping damaged ones) until it
    /// returns `false`; the bytes read (up to the first cut-off entry).
    fn scan_index(&self, from: u64, f: &mut dyn FnMut(u32, Entry) -> bool) -> io::Result<u64> {
        let mut file = match File::open(self.index_path()) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(from),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let len = len - len % ENTRY;
        if from >= len {
            return Ok(from);
        }
        std::io::Seek::seek(&mut file, io::SeekFrom::Start(from))?;
        let mut r = io::BufReader::with_capacity(1 << 20, file.take(len - from));
        let mut at = from;
        let mut e = [0u8; ENTRY as usize];
        while at < len {
            r.read_exact(&mut e)?;
            let n = u32::try_from(at / ENTRY).unwrap_or(u32::MAX);
            at += ENTRY;
            if let Some(entry) = Entry::decode(&e) {
                if !f(n, entry) {
                    break;
                }
            }
        }
        Ok(at)
    }

    /// Entry number `n`, if whole.
    fn entry_at(&self, n: u32) -> io::Result<Option<Entry>> {
        let f = File::open(self.index_path())?;
        let mut e = [0u8; ENTRY as usize];
        match f.read_exact_at(&mut e, u64::from(n) * ENTRY) {
            Ok(()) => Ok(Entry::decode(&e)),
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The entries of `id`, the newest first.
    fn find(&self, id: &BlobId) -> io::Result<Vec<Entry>> {
        let mut lookup = lock(&self.lookup);
        let from = lookup.read;
        let l = &mut *lookup;
        l.read = self.scan_index(from, &mut |n, e| {
            l.by_prefix.insert(prefix(&e.id), n);
            l.last_end = Some((e.segment, e.end()));
            true
        })?;
        let last_end = lookup.last_end;
        match lookup.by_prefix.get(&prefix(id)).copied() {
            Some(n) => {
                if let Some(e) = self.entry_at(n)? {
                    if e.id == *id {
                        return Ok(vec![e]);
                    }
                }
                drop(lookup);
                // Another id with the same first bytes: read the whole index.
                let mut found = Vec::new();
                self.scan_index(0, &mut |_, e| {
                    if e.id == *id {
                        found.push(e);
                    }
                    true
                })?;
                found.reverse();
                Ok(found)
            }
            None => {
                drop(lookup);
                // Not indexed: perhaps a record the index does not cover
                // yet (the index is not synced; a crash may leave it
                // behind the segments until the next append rolls it
                // forward).
                let mut found = self.unindexed(last_end)?;
                found.retain(|e| e.id == *id);
                found.reverse();
                Ok(found)
            }
        }
    }

    /// The whole records past the last index entry (`last_end`: its
    /// segment and end), in order.
    fn unindexed(&self, last_end: Option<(u32, u64)>) -> io::Result<Vec<Entry>> {
        let (first, from) = last_end.unwrap_or((1, 0));
        let mut out = Vec::new();
        for n in segment_numbers(&self.dir)? {
            if n < first {
                continue;
            }
            let f = match File::open(self.segment_path(n)) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let size = f.metadata()?.len();
            let start = if n == first { from } else { 0 };
            out.extend(whole_records(&f, n, start, size)?);
        }
        Ok(out)
    }

    /// The stored bytes of `e`, checked against its header and CRC.
    pub fn read_entry(&self, e: &Entry) -> io::Result<Vec<u8>> {
        let f = self.open_record(e)?;
        let len = usize::try_from(e.len).map_err(|_| corrupt("a blob too large".into()))?;
        let mut bytes = vec![0u8; len];
        f.read_exact_at(&mut bytes, e.offset + HEADER)?;
        if crc32fast::hash(&bytes) != e.crc {
            return Err(bad_crc(e));
        }
        Ok(bytes)
    }

    /// The segment of `e`, once its record's header is checked to be `e`'s.
    fn open_record(&self, e: &Entry) -> io::Result<File> {
        let f = File::open(self.segment_path(e.segment))?;
        let mut h = [0u8; HEADER as usize];
        f.read_exact_at(&mut h, e.offset)?;
        if Entry::from_header(&h, e.segment, e.offset) != Some(*e) {
            return Err(corrupt(format!(
                "{} at {}: the record is not blob {}",
                segment_name(e.segment),
                e.offset,
                e.id
            )));
        }
        Ok(f)
    }

    /// Checks `e`'s record against its header and CRC, reading its
    /// payload in pieces.
    fn check_record(&self, e: &Entry) -> io::Result<()> {
        let f = self.open_record(e)?;
        if f.metadata()?.len() < e.end() || !payload_crc_holds(&f, e)? {
            return Err(bad_crc(e));
        }
        Ok(())
    }

    /// Writes blob `id`, decompressed, to `out` as it is read and decoded
    /// (never held whole); its decompressed size, `None` when there is
    /// none. The record's CRC is checked as it is read: a damaged one is
    /// an error once its bytes are through (its codec's own checksum, a
    /// zstd frame's or gzip's, usually stops it sooner).
    pub fn stream(&self, id: &BlobId, out: &mut dyn io::Write) -> io::Result<Option<u64>> {
        let Some(e) = self.find(id)?.into_iter().next() else {
            return Ok(None);
        };
        let f = self.open_record(&e)?;
        let mut reader = CrcReader {
            f: &f,
            at: e.offset + HEADER,
            end: e.end(),
            crc: crc32fast::Hasher::new(),
        };
        let n = e
            .codec
            .decode_to(io::BufReader::with_capacity(1 << 16, &mut reader), out)?;
        // What the decoder left unread counts too.
        io::copy(&mut reader, &mut io::sink())?;
        if reader.crc.finalize() != e.crc {
            return Err(bad_crc(&e));
        }
        Ok(Some(n))
    }

    /// Blob `id` as stored: its newest whole copy.
    pub fn get(&self, id: &BlobId) -> io::Result<Option<StoredBlob>> {
        let mut err = None;
        for e in self.find(id)? {
            match self.read_entry(&e) {
                Ok(bytes) => {
                    return Ok(Some(StoredBlob {
                        codec: e.codec,
                        bytes,
                    }))
                }
                Err(x) => err = Some(x),
            }
        }
        match err {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// Every readable blob and every damaged entry or record, and the
    /// tails a crash left. The records are read without the lock (an
    /// append never changes a record); the lock is held only to look at
    /// the ends. With `repair`, the tails are cut off, and an index with
    /// damaged entries (a power failure can lose index pages, which are
    /// not synced) is written again from the segments.
    pub fn check(&self, repair: bool) -> io::Result<Check> {
        let mut c = Check::default();
        if !self.dir.exists() {
            return Ok(c);
        }
        let mut ends: HashMap<u32, u64> = HashMap::new();
        let mut index_damaged = false;
        // All but the last entry, which an append may be writing.
        let len0 = match std::fs::metadata(self.index_path()) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        let upto = (len0 - len0 % ENTRY).saturating_sub(ENTRY);
        let read = self.check_entries(0, upto, &mut c, &mut ends, &mut index_damaged)?;
        let mut guard = lock(&self.open);
        if guard.is_none() {
            *guard = Some(self.open_files()?);
        }
        let Some(o) = guard.as_mut() else {
            return Ok(c);
        };
        crate::fsutil::flock(&o.lock)?;
        let r = (|| -> io::Result<()> {
            // What was appended while the records were read.
            let len = o.index.metadata()?.len();
            self.check_entries(read, len, &mut c, &mut ends, &mut index_damaged)?;
            let cut = len % ENTRY;
            if cut != 0 {
                c.tails.push((0, cut));
            }
            for s in segment_numbers(&self.dir)? {
                let size = std::fs::metadata(self.segment_path(s))?.len();
                c.bytes += size;
                let end = ends.get(&s).copied().unwrap_or(0);
                if size > end {
                    c.tails.push((s, size - end));
                }
            }
            if repair && index_damaged {
                self.rebuild_index(o)?;
            } else if repair && !c.tails.is_empty() {
                self.recover(o)?;
            }
            Ok(())
        })();
        let u = crate::fsutil::unlock(&o.lock);
        r?;
        u?;
        Ok(c)
    }

    /// Checks the index entries from byte `from` up to byte `to` and
    /// their records, into `c` and `ends`; the bytes read (whole entries).
    fn check_entries(
        &self,
        from: u64,
        to: u64,
        c: &mut Check,
        ends: &mut HashMap<u32, u64>,
        index_damaged: &mut bool,
    ) -> io::Result<u64> {
        let index = match File::open(self.index_path()) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(from),
            Err(e) => return Err(e),
        };
        let len = index.metadata()?.len().min(to);
        let mut at = from;
        while at + ENTRY <= len {
            let n = at / ENTRY;
            let mut raw = [0u8; ENTRY as usize];
            index.read_exact_at(&mut raw, at)?;
            at += ENTRY;
            match Entry::decode(&raw) {
                None => {
                    *index_damaged = true;
                    c.damaged.push(format!(
                        "index entry {n}: damaged (its CRC does not hold; `fsck --repair` writes the index again from the segments)"
                    ));
                }
                Some(e) => match self.check_record(&e) {
                    Ok(()) => {
                        c.blobs.push((e.id, e.len, e.segment));
                        let end = ends.entry(e.segment).or_insert(0);
                        *end = (*end).max(e.end());
                    }
                    Err(err) => c
                        .damaged
                        .push(format!("index entry {n} (blob {}): {err}", e.id)),
                },
            }
        }
        Ok(at)
    }

    /// Writes the index again from the segments (with the lock held): the
    /// records whose header is whole, in order (one whose payload does not
    /// match its CRC stays indexed, so that fsck keeps reporting it). A
    /// segment is read up to its first record whose header is not whole.
    fn rebuild_index(&self, o: &mut Open) -> io::Result<()> {
        let mut entries = Vec::new();
        for n in segment_numbers(&self.dir)? {
            let f = File::open(self.segment_path(n))?;
            let size = f.metadata()?.len();
            let mut at = 0;
            while at + HEADER <= size {
                let mut h = [0u8; HEADER as usize];
                f.read_exact_at(&mut h, at)?;
                let Some(e) = Entry::from_header(&h, n, at) else {
                    break;
                };
                if e.end() > size {
                    break;
                }
                entries.push(e);
                at = e.end();
            }
        }
        let mut bytes = Vec::with_capacity(entries.len() * ENTRY as usize);
        for e in &entries {
            bytes.extend_from_slice(&e.encode());
        }
        crate::fsutil::write(&self.dir, "index", &bytes)?;
        tracing::warn!(
            "log archive: index written again from the segments ({} records)",
            entries.len()
        );
        o.index = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.index_path())?;
        *lock(&self.lookup) = Lookup::default();
        // The next append checks the files again (and cuts off tails).
        o.index_len = u64::MAX;
        self.recover(o)
    }
}

/// The whole records of segment `n` (the file `f`, `size` bytes) from
/// `start` on, up to the first that is not whole (cut off, or its CRC
/// does not hold).
fn whole_records(f: &File, n: u32, start: u64, size: u64) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut at = start;
    while at + HEADER <= size {
        let mut h = [0u8; HEADER as usize];
        f.read_exact_at(&mut h, at)?;
        let Some(e) = Entry::from_header(&h, n, at) else {
            break;
        };
        if e.end() > size || !payload_crc_holds(f, &e)? {
            break;
        }
        out.push(e);
        at = e.end();
    }
    Ok(out)
}

/// A record's payload read from its segment, its CRC computed on the way.
struct CrcReader<'f> {
    f: &'f File,
    at: u64,
    end: u64,
    crc: crc32fast::Hasher,
}

impl Read for CrcReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from((self.end - self.at).min(buf.len() as u64)).unwrap_or(0);
        if want == 0 {
            return Ok(0);
        }
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let n = self.f.read_at(chunk, self.at)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a blob's record is cut off",
            ));
        }
        let read = chunk.get(..n).unwrap_or_default();
        self.crc.update(read);
        self.at += n as u64;
        Ok(n)
    }
}

/// Whether `e`'s payload in `f` matches its CRC.
fn payload_crc_holds(f: &File, e: &Entry) -> io::Result<bool> {
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut at = e.offset + HEADER;
    let end = e.end();
    while at < end {
        let n = usize::try_from((end - at).min(buf.len() as u64)).unwrap_or(buf.len());
        let chunk = buf.get_mut(..n).unwrap_or_default();
        f.read_exact_at(chunk, at)?;
        h.update(chunk);
        at += n as u64;
    }
    Ok(h.finalize() == e.crc)
}

impl BlobStore for Segments {
    fn put(&self, id: &BlobId, codec: Codec, bytes: &[u8]) -> io::Result<()> {
        Segments::put(self, id, codec, bytes)
    }

    fn sync(&self) -> io::Result<()> {
        Segments::sync(self)
    }

    fn get(&self, id: &BlobId) -> io::Result<Option<StoredBlob>> {
        Segments::get(self, id)
    }

    fn stream(&self, id: &BlobId, out: &mut dyn io::Write) -> io::Result<Option<u64>> {
        Segments::stream(self, id, out)
    }

    fn put_stream(
        &self,
        id: &BlobId,
        codec: Codec,
        size_hint: u64,
        stored: &mut dyn Read,
    ) -> io::Result<()> {
        Segments::put_stream(self, id, codec, size_hint, stored)
    }

    fn exists(&self, id: &BlobId) -> io::Result<bool> {
        Ok(!self.find(id)?.is_empty())
    }

    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    fn check(&self, repair: bool) -> io::Result<BlobCheck> {
        let c = Segments::check(self, repair)?;
        Ok(BlobCheck {
            blobs: c.blobs.iter().map(|(id, size, _)| (*id, *size)).collect(),
            damaged: c.damaged,
            tails: c
                .tails
                .iter()
                .map(|(s, bytes)| match s {
                    0 => format!(
                        "{}: index: {bytes} bytes of a cut-off entry",
                        self.dir.display()
                    ),
                    s => format!(
                        "{}: {bytes} bytes past the last record",
                        self.segment_path(*s).display()
                    ),
                })
                .collect(),
            bytes: c.bytes,
        })
    }

    fn list(&self) -> io::Result<Vec<BlobInfo>> {
        Ok(self
            .entries()?
            .into_iter()
            .map(|e| BlobInfo {
                id: e.id,
                codec: e.codec,
                stored_size: e.len,
                place: format!("{} at {}", segment_name(e.segment), e.offset),
            })
            .collect())
    }
}

impl std::fmt::Debug for Segments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segments").field("dir", &self.dir).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn id(n: u8) -> BlobId {
        BlobId([n; 32])
    }

    fn blob(n: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(n)).collect()
    }

    #[test]
    fn puts_are_read_back_across_segments_and_processes() {
        let dir = tempfile::tempdir().unwrap();
        let s = Segments::new(dir.path(), 4096);
        for n in 1..=20u8 {
            s.put(&id(n), Codec::Zstd, &blob(n, 1000)).unwrap();
        }
        s.sync().unwrap();
        // Several segments, every blob whole; a fresh reader (another
        // process) finds them through the index.
        assert!(segment_numbers(dir.path()).unwrap().len() >= 5);
        let other = Segments::new(dir.path(), 4096);
        for n in 1..=20u8 {
            let b = other.get(&id(n)).unwrap().unwrap();
            assert_eq!(b.bytes, blob(n, 1000));
            assert_eq!(b.codec, Codec::Zstd);
        }
        assert!(other.get(&id(21)).unwrap().is_none());
        assert_eq!(other.list().unwrap().len(), 20);
        // The second appender continues where the first stopped.
        other.put(&id(21), Codec::Gzip, b"more").unwrap();
        s.put(&id(22), Codec::Gzip, b"and more").unwrap();
        assert_eq!(s.get(&id(21)).unwrap().unwrap().bytes, b"more");
        assert_eq!(other.get(&id(22)).unwrap().unwrap().bytes, b"and more");
        let c = s.check(false).unwrap();
        assert_eq!((c.blobs.len(), c.damaged.len(), c.tails.len()), (22, 0, 0));
    }

    #[test]
    fn threads_append_side_by_side() {
        let dir = tempfile::tempdir().unwrap();
        let s = Segments::new(dir.path(), 1 << 20);
        std::thread::scope(|sc| {
            for t in 0..4u8 {
                let s = &s;
                sc.spawn(move || {
                    for k in 0..25u8 {
                        let n = t * 25 + k + 1;
                        s.put(&id(n), Codec::Zstd, &blob(n, 300 + n as usize))
                            .unwrap();
                        s.sync().unwrap();
                    }
                });
            }
        });
        for n in 1..=100u8 {
            assert_eq!(
                s.get(&id(n)).unwrap().unwrap().bytes,
                blob(n, 300 + n as usize)
            );
        }
        assert!(s.check(false).unwrap().damaged.is_empty());
    }

    /// The files as a crash leaves them: `cut` bytes of the last record
    /// (and its index entry) written.
    fn crash_mid_append(dir: &Path) -> (u64, u64) {
        let s = Segments::new(dir, 1 << 20);
        s.put(&id(1), Codec::Zstd, &blob(1, 500)).unwrap();
        s.put(&id(2), Codec::Zstd, &blob(2, 700)).unwrap();
        s.sync().unwrap();
        let seg = dir.join(segment_name(1));
        let index = dir.join("index");
        (
            std::fs::metadata(&seg).unwrap().len(),
            std::fs::metadata(&index).unwrap().len(),
        )
    }

    #[test]
    fn a_record_cut_off_by_a_crash_is_truncated_by_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let (seg_len, index_len) = crash_mid_append(dir.path());
        // A third record cut off in its payload, no index entry.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(segment_name(1)))
            .unwrap();
        let e = Entry {
            id: id(3),
            segment: 1,
            codec: Codec::Zstd,
            offset: seg_len,
            len: 900,
            crc: crc32fast::hash(&blob(3, 900)),
        };
        f.write_all(&e.header()).unwrap();
        f.write_all(&blob(3, 900)[..100]).unwrap();
        drop(f);
        let s = Segments::new(dir.path(), 1 << 20);
        // fsck sees the tail; readers never meet it.
        let c = s.check(false).unwrap();
        assert_eq!(c.tails, vec![(1, HEADER + 100)]);
        assert!(s.get(&id(3)).unwrap().is_none());
        // The next append cuts it off and writes in its place.
        s.put(&id(4), Codec::Gzip, b"after the crash").unwrap();
        let c = s.check(false).unwrap();
        assert!(c.tails.is_empty() && c.damaged.is_empty(), "{c:?}");
        assert_eq!(c.blobs.len(), 3);
        assert_eq!(s.get(&id(2)).unwrap().unwrap().bytes, blob(2, 700));
        assert_eq!(s.get(&id(4)).unwrap().unwrap().bytes, b"after the crash");
        let _ = index_len;
    }

    #[test]
    fn a_whole_record_without_its_index_entry_is_indexed_again() {
        let dir = tempfile::tempdir().unwrap();
        let (seg_len, index_len) = crash_mid_append(dir.path());
        // The record whole, its index entry half written.
        let e = Entry {
            id: id(3),
            segment: 1,
            codec: Codec::Gzip,
            offset: seg_len,
            len: 900,
            crc: crc32fast::hash(&blob(3, 900)),
        };
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(segment_name(1)))
            .unwrap();
        f.write_all(&e.header()).unwrap();
        f.write_all(&blob(3, 900)).unwrap();
        let mut ix = OpenOptions::new()
            .append(true)
            .open(dir.path().join("index"))
            .unwrap();
        ix.write_all(&e.encode()[..30]).unwrap();
        drop((f, ix));
        // A reader finds it before any append (the index lags behind).
        let reader = Segments::new(dir.path(), 1 << 20);
        assert_eq!(reader.get(&id(3)).unwrap().unwrap().bytes, blob(3, 900));
        assert!(reader.get(&id(9)).unwrap().is_none());
        let s = Segments::new(dir.path(), 1 << 20);
        s.put(&id(4), Codec::Gzip, b"next").unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join("index")).unwrap().len(),
            index_len + 2 * ENTRY
        );
        assert_eq!(s.get(&id(3)).unwrap().unwrap().bytes, blob(3, 900));
        assert_eq!(s.check(false).unwrap().blobs.len(), 4);
    }

    #[test]
    fn fsck_finds_a_damaged_record_and_repair_cuts_only_tails() {
        let dir = tempfile::tempdir().unwrap();
        let (seg_len, _) = crash_mid_append(dir.path());
        // A flipped byte in the first record's payload.
        let seg = dir.path().join(segment_name(1));
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[HEADER as usize + 10] ^= 0xff;
        bytes.extend_from_slice(b"garbage a crash left");
        std::fs::write(&seg, &bytes).unwrap();
        let s = Segments::new(dir.path(), 1 << 20);
        let c = s.check(false).unwrap();
        assert_eq!(c.damaged.len(), 1, "{c:?}");
        assert!(c.damaged[0].contains("CRC"), "{c:?}");
        assert_eq!(c.tails, vec![(1, 20)]);
        // A damaged blob is an error, never wrong bytes.
        assert!(s.get(&id(1)).is_err());
        let c = s.check(true).unwrap();
        assert_eq!(c.tails, vec![(1, 20)]);
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), seg_len);
        let c = s.check(false).unwrap();
        assert!(c.tails.is_empty());
        assert_eq!(s.get(&id(2)).unwrap().unwrap().bytes, blob(2, 700));
    }

    #[test]
    fn a_damaged_index_is_written_again_from_the_segments() {
        let dir = tempfile::tempdir().unwrap();
        let s = Segments::new(dir.path(), 1 << 20);
        for n in 1..=5u8 {
            s.put(&id(n), Codec::Zstd, &blob(n, 400)).unwrap();
        }
        s.sync().unwrap();
        // A lost index page (a power failure: the index is not synced).
        let index = dir.path().join("index");
        let mut bytes = std::fs::read(&index).unwrap();
        bytes[2 * ENTRY as usize..3 * ENTRY as usize].fill(0);
        std::fs::write(&index, &bytes).unwrap();
        let reader = Segments::new(dir.path(), 1 << 20);
        assert!(reader.get(&id(3)).unwrap().is_none());
        let c = reader.check(false).unwrap();
        assert_eq!(c.damaged.len(), 1, "{c:?}");
        assert!(c.damaged[0].contains("--repair"), "{c:?}");
        reader.check(true).unwrap();
        let fresh = Segments::new(dir.path(), 1 << 20);
        for n in 1..=5u8 {
            assert_eq!(fresh.get(&id(n)).unwrap().unwrap().bytes, blob(n, 400));
        }
        let c = fresh.check(false).unwrap();
        assert!(c.damaged.is_empty() && c.tails.is_empty(), "{c:?}");
        assert_eq!(c.blobs.len(), 5);
    }

    /// A reader that fails after `ok` bytes.
    struct Failing<'a> {
        bytes: &'a [u8],
        ok: usize,
    }

    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.ok == 0 {
                return Err(io::Error::other("the source went away"));
            }
            let n = buf.len().min(self.ok).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            self.ok -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_streamed_put_is_read_back_streamed_and_a_failed_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = Segments::new(dir.path(), 1 << 20);
        let mail = b"From: x\r\n\r\n\xff body \x00\r\n".repeat(50_000);
        let z = crate::store::blob::compress(&mail).unwrap();
        s.put(&id(1), Codec::Zstd, &blob(1, 100)).unwrap();
        // The source fails midway: nothing of it stays.
        let before = std::fs::metadata(dir.path().join(segment_name(1)))
            .unwrap()
            .len();
        let mut failing = Failing {
            bytes: &z,
            ok: z.len() / 2,
        };
        assert!(s
            .put_stream(&id(2), Codec::Zstd, z.len() as u64, &mut failing)
            .is_err());
        let after = std::fs::metadata(dir.path().join(segment_name(1)))
            .unwrap()
            .len();
        assert_eq!(before, after);
        assert!(s.get(&id(2)).unwrap().is_none());
        s.put_stream(&id(2), Codec::Zstd, z.len() as u64, &mut z.as_slice())
            .unwrap();
        s.sync().unwrap();
        // Read by another process's view: whole, byte-exact, CRC checked.
        let reader = Segments::new(dir.path(), 1 << 20);
        assert_eq!(reader.get(&id(2)).unwrap().unwrap().bytes, z);
        let mut out = Vec::new();
        assert_eq!(
            reader.stream(&id(2), &mut out).unwrap(),
            Some(mail.len() as u64)
        );
        assert_eq!(out, mail);
        assert_eq!(reader.stream(&id(3), &mut out).unwrap(), None);
        let c = reader.check(false).unwrap();
        assert!(c.damaged.is_empty() && c.tails.is_empty(), "{c:?}");
        assert_eq!(c.blobs.len(), 2);
    }

    #[test]
    fn a_streamed_record_cut_off_before_its_header_is_a_tail_not_a_blob() {
        let dir = tempfile::tempdir().unwrap();
        let s = Segments::new(dir.path(), 1 << 20);
        s.put(&id(1), Codec::Zstd, &blob(1, 100)).unwrap();
        s.sync().unwrap();
        // What a crash between a streamed payload and its header leaves:
        // a hole of zeros where the header goes, then the payload.
        let seg = dir.path().join(segment_name(1));
        let len = std::fs::metadata(&seg).unwrap().len();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.write_all_at(&blob(7, 500), len + HEADER).unwrap();
        let reader = Segments::new(dir.path(), 1 << 20);
        let c = reader.check(false).unwrap();
        assert_eq!(c.tails, vec![(1, HEADER + 500)], "{c:?}");
        assert_eq!(c.blobs.len(), 1);
        // The next put cuts it off and appends whole.
        reader.put(&id(2), Codec::Zstd, &blob(2, 10)).unwrap();
        let c = reader.check(false).unwrap();
        assert!(c.tails.is_empty(), "{c:?}");
        assert_eq!(reader.get(&id(2)).unwrap().unwrap().bytes, blob(2, 10));
    }
}
