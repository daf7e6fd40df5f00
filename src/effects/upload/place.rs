//! Placing an upload into the queue: every file by temporary file and
//! rename, the `.changes` last.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::with_context;
use crate::fsutil::sync_dir;

use sha2::{Digest, Sha256};

use super::remove::check_names;
use super::verify::{open_regular, read_chunks, ChunkError, VerifiedFile};

/// Copies the files, then writes `changes_text` as `changes_name`, into
/// `queue_dir` (created if missing).
///
/// Each file is copied to a temporary name in `queue_dir` that starts with
/// `.` ([`TEMP_PREFIX`], so uploaders ignore it), synced, and renamed to its
/// name; the directory is synced before the .changes is written the same
/// way, and again after. So an uploader never sees a .changes whose files
/// are not all complete. While copying, each file's size and SHA-256 are
/// checked again against the [`VerifiedFile`]; a file that changed since
/// [`verify_files`] is an `InvalidData` error.
///
/// Re-running with the same inputs is harmless: it replaces what is there.
/// A `changes_name` or file name that is not [`is_safe_file_name`] is an
/// `InvalidInput` error before anything is written.
///
/// Returns the paths written: the files in order, then the .changes.
pub fn place(
    queue_dir: &Path,
    files: &[VerifiedFile],
    changes_name: &str,
    changes_text: &[u8],
) -> io::Result<Vec<PathBuf>> {
    let names = std::iter::once(changes_name).chain(files.iter().map(|f| f.name.as_str()));
    check_names(queue_dir, names, "write", "nothing was written")?;
    if files.iter().any(|f| f.name == changes_name) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "refusing to upload: the .changes lists a file named {changes_name}, the \
                 name of the .changes itself; nothing was written, reply with a .changes \
                 that does not list itself"
            ),
        ));
    }
    fs::create_dir_all(queue_dir).map_err(|e| {
        with_context(
            e,
            "could not create the upload queue directory".to_string(),
            "create it (or fix the queue directory in the configuration) and retry the upload",
        )
    })?;
    let mut written = Vec::with_capacity(files.len() + 1);
    for file in files {
        written.push(write_atomically(queue_dir, &file.name, |out| {
            copy_verified(file, out)
        })?);
    }
    sync_dir(queue_dir)?;
    written.push(write_atomically(queue_dir, changes_name, |out| {
        out.write_all(changes_text).map_err(|e| {
            with_context(
                e,
                format!("could not write {changes_name} into the upload queue"),
                "check that the disk is not full, then retry the upload",
            )
        })
    })?);
    sync_dir(queue_dir)?;
    Ok(written)
}

/// Durably writes `dir/name` from `fill` ([`crate::fsutil::write_with`]),
/// saying what to do when it fails.
fn write_atomically(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<PathBuf> {
    // One upload writes a queue at a time (the worker lock): what an
    // interrupted run left is ours to clear.
    crate::fsutil::replace_with(dir, name, fill).map_err(|e| {
        with_context(
            e,
            format!("could not write {name} into the upload queue"),
            "check that the upload queue directory is writable and the disk is not full, \
             then retry the upload",
        )
    })
}

/// Copies a verified file into `out`, checking its size and SHA-256 again.
fn copy_verified(file: &VerifiedFile, out: &mut File) -> io::Result<()> {
    // Named as in the .changes: the message reaches the package's creator.
    let src = &file.name;
    let mut input = open_regular(&file.path).map_err(|e| {
        with_context(
            e,
            format!("could not open {src} to copy it into the upload queue"),
            "it was verified a moment ago, so find what is changing the build directory, \
             then retry the upload",
        )
    })?;
    let mut sha256 = Sha256::new();
    let size = read_chunks(&mut input, |chunk| {
        Digest::update(&mut sha256, chunk);
        out.write_all(chunk)
    })
    .map_err(|e| match e {
        ChunkError::Read(e) => with_context(
            e,
            format!("could not read {src}"),
            "check the build directory, then retry the upload",
        ),
        ChunkError::Sink(e) => with_context(
            e,
            format!("could not copy {src} into the upload queue"),
            "check that the queue directory is writable and the disk is not full, then \
             retry the upload",
        ),
    })?;
    let actual = hex::encode(Digest::finalize(sha256));
    if size != file.size || !actual.eq_ignore_ascii_case(&file.sha256) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{src} changed after it was verified (now {size} bytes with SHA-256 {actual}, \
                 verified {} bytes with SHA-256 {}); the upload was not placed — find what \
                 modifies the build directory, then retry the upload",
                file.size, file.sha256
            ),
        ));
    }
    Ok(())
}
