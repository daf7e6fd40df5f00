//! Checking the files a `.changes` lists against the build directory:
//! plain files, sizes and every listed checksum.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{is_safe_file_name, SAFE_NAME_RULE};

use md5::Md5;
use sha1collisiondetection::Sha1CD;
use sha2::{Digest, Sha256};

use crate::debian::changes::{Changes, ChangesFile};

/// Read buffer for hashing and copying.
const BUF_SIZE: usize = 64 * 1024;

/// A file of the upload, verified in the build directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedFile {
    /// The file name (safe: see [`is_safe_file_name`]).
    pub name: String,
    /// Its path in the build directory.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lower-case hex, as computed.
    pub sha256: String,
}

/// Checks every file the .changes lists: a safe name, a regular file (not a
/// symbolic link, directory, device or FIFO) directly in `build_dir`, the
/// size listed, and every checksum listed (MD5, SHA-1, SHA-256; hex compared
/// case-insensitively). A file without a SHA-256 is refused, and so is a
/// .changes that lists no file at all.
///
/// A file with an unsafe name is not looked at. Every other file is read
/// once, streaming, hashing all three digests in one pass (a file whose size
/// is already wrong is not read).
///
/// Returns the verified files in the order of the .changes, or every
/// problem found (not just the first), each a sentence an admin can act on.
pub fn verify_files(changes: &Changes, build_dir: &Path) -> Result<Vec<VerifiedFile>, Vec<String>> {
    if changes.files.is_empty() {
        return Err(vec![
            "the .changes lists no files (its Files and Checksums-Sha256 fields are empty \
             or missing), so there is nothing to upload; reply with the signed .changes \
             the build wrote, which lists the packages built"
                .to_string(),
        ]);
    }
    let mut verified = Vec::with_capacity(changes.files.len());
    let mut problems = Vec::new();
    for file in &changes.files {
        match verify_one(file, build_dir) {
            Ok(v) => verified.push(v),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok(verified)
    } else {
        Err(problems)
    }
}

/// [`verify_files`] for one file.
fn verify_one(file: &ChangesFile, dir: &Path) -> Result<VerifiedFile, Vec<String>> {
    let name = file.name.as_str();
    if !is_safe_file_name(name) {
        return Err(vec![format!(
            "the .changes lists the file {name:?}, which is not a plain file name \
             ({SAFE_NAME_RULE}); buildmail reads and uploads only files directly in the \
             build directory, so reply with a signed .changes that lists only the build's \
             own files"
        )]);
    }
    let mut problems = Vec::new();
    if file.sha256.is_none() {
        problems.push(format!(
            "{name}: the .changes lists no SHA-256 checksum; build with \
             dpkg-genchanges >= 1.15 / Format 1.8 (Checksums-Sha256) and reply with \
             the new signed .changes"
        ));
    }
    let path = dir.join(name);
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            problems.push(format!(
                "{name}: not found in the build directory; if the build was purged, \
                 retry it, otherwise reply with the signed .changes of the files that are there"
            ));
            return Err(problems);
        }
        Err(e) => {
            problems.push(format!(
                "{name}: could not examine it in the build directory ({}); check that \
                 buildmail may read the build directory",
                e.kind()
            ));
            return Err(problems);
        }
    };
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_symlink() {
            "a symbolic link"
        } else if kind.is_dir() {
            "a directory"
        } else {
            "a device, FIFO or socket"
        };
        problems.push(format!(
            "{name}: is {what} in the build directory, not a regular file; buildmail \
             uploads only regular files directly in the build directory, so put the real \
             file there"
        ));
        return Err(problems);
    }
    if std::os::unix::fs::MetadataExt::nlink(&meta) > 1 {
        problems.push(format!(
            "{name}: has {} hard links; buildmail uploads only files that live wholly in the \
             build directory, so copy the file there instead of linking it",
            std::os::unix::fs::MetadataExt::nlink(&meta)
        ));
        return Err(problems);
    }
    if meta.len() != file.size {
        problems.push(format!(
            "{name}: is {} bytes in the build directory, but the .changes says {}; the file \
             is not the one the .changes describes, so reply with the signed .changes written \
             with these files (or retry the build)",
            meta.len(),
            file.size
        ));
        return Err(problems);
    }
    let digests = match Digests::of_file(&path) {
        Ok(d) => d,
        Err(e) => {
            problems.push(format!(
                "{name}: could not read it in the build directory ({}); check that buildmail \
                 may read the build directory and that nothing else is changing it",
                e.kind()
            ));
            return Err(problems);
        }
    };
    if digests.size != file.size {
        problems.push(format!(
            "{name}: changed while it was read ({} bytes read, the .changes says {}); \
             make sure nothing else writes to the build directory, then retry",
            digests.size, file.size
        ));
        return Err(problems);
    }
    let checks = [
        ("MD5", file.md5.as_deref(), digests.md5.as_str()),
        ("SHA-1", file.sha1.as_deref(), digests.sha1.as_str()),
        ("SHA-256", file.sha256.as_deref(), digests.sha256.as_str()),
    ];
    for (algo, listed, actual) in checks {
        if let Some(listed) = listed {
            if !listed.eq_ignore_ascii_case(actual) {
                problems.push(format!(
                    "{name}: its {algo} is {actual}, but the .changes says {listed}; the file \
                     in the build directory is not the one the .changes describes, so reply \
                     with the signed .changes written with these files (or retry the build)"
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(VerifiedFile {
            name: name.to_string(),
            path,
            size: digests.size,
            sha256: digests.sha256,
        })
    } else {
        Err(problems)
    }
}

/// The digests of one file, lower-case hex.
struct Digests {
    size: u64,
    md5: String,
    sha1: String,
    sha256: String,
}

impl Digests {
    /// Reads the regular file at `path` once (refusing a symbolic link or a
    /// non-regular file), hashing all three digests.
    fn of_file(path: &Path) -> io::Result<Digests> {
        let mut input = open_regular(path)?;
        let mut md5 = Md5::new();
        let mut sha1 = Sha1CD::default();
        let mut sha256 = Sha256::new();
        let size = read_chunks(&mut input, |chunk| {
            Digest::update(&mut md5, chunk);
            Digest::update(&mut sha1, chunk);
            Digest::update(&mut sha256, chunk);
            Ok(())
        })
        .map_err(ChunkError::into_inner)?;
        Ok(Digests {
            size,
            md5: hex::encode(Digest::finalize(md5)),
            sha1: hex::encode(Digest::finalize(sha1)),
            sha256: hex::encode(Digest::finalize(sha256)),
        })
    }
}

/// Why [`read_chunks`] stopped.
pub(super) enum ChunkError {
    /// Reading the input failed.
    Read(io::Error),
    /// The consumer of the chunks failed.
    Sink(io::Error),
}

impl ChunkError {
    fn into_inner(self) -> io::Error {
        match self {
            ChunkError::Read(e) | ChunkError::Sink(e) => e,
        }
    }
}

/// Reads `input` to its end in [`BUF_SIZE`] chunks, handing each to `sink`;
/// returns the number of bytes read.
pub(super) fn read_chunks(
    input: &mut impl Read,
    mut sink: impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<u64, ChunkError> {
    let mut buf = vec![0u8; BUF_SIZE];
    let mut size: u64 = 0;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(size),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ChunkError::Read(e)),
        };
        sink(buf.get(..n).unwrap_or_default()).map_err(ChunkError::Sink)?;
        size = size.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
    }
}

/// Opens `path` for reading without following a symbolic link and without
/// blocking on a FIFO, and checks that what was opened is a regular file.
pub(super) fn open_regular(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if std::os::unix::fs::MetadataExt::nlink(&meta) > 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it has more than one hard link, so it may live outside the build directory",
        ));
    }
    Ok(file)
}
