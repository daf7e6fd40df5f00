//! Removing files: an upload from the queue (`upload-rem`), a build's
//! files from the build directory (`purge`).

use std::fs::{self};
use std::io::{self};
use std::path::{Path, PathBuf};

use super::{is_safe_file_name, with_context, SAFE_NAME_RULE};
use crate::fsutil::sync_dir;

/// Removes an upload from the queue (`upload-rem`): the .changes first (so
/// an uploader never sees a .changes whose files are gone), then the listed
/// files, and any temporary file [`place`] left behind for them. Missing
/// files are fine.
///
/// Every name must be [`is_safe_file_name`]; otherwise it is an
/// `InvalidInput` error and nothing is removed.
///
/// Returns the paths actually removed.
pub fn remove_from_queue(
    queue_dir: &Path,
    file_names: &[String],
    changes_name: &str,
) -> io::Result<Vec<PathBuf>> {
    let names: Vec<&str> = std::iter::once(changes_name)
        .chain(file_names.iter().map(String::as_str))
        .collect();
    check_names(
        queue_dir,
        names.iter().copied(),
        "remove",
        "nothing was removed",
    )?;
    let mut removed = Vec::new();
    for name in names {
        remove_if_exists_into(&queue_dir.join(name), &mut removed)?;
        removed.extend(crate::fsutil::remove_stale_temps(queue_dir, name)?);
    }
    if !removed.is_empty() {
        sync_dir(queue_dir)?;
    }
    Ok(removed)
}

/// Removes the build's files from the build directory (`purge`): the named
/// files (the packages, the build's `.changes`, `.buildinfo`, ... whatever
/// names are passed). Missing files are fine.
///
/// Every name must be [`is_safe_file_name`]; otherwise it is an
/// `InvalidInput` error and nothing is removed.
///
/// Returns the paths actually removed.
pub fn purge(build_dir: &Path, file_names: &[String]) -> io::Result<Vec<PathBuf>> {
    check_names(
        build_dir,
        file_names.iter().map(String::as_str),
        "remove",
        "nothing was removed",
    )?;
    let mut removed = Vec::new();
    for name in file_names {
        remove_if_exists_into(&build_dir.join(name), &mut removed)?;
    }
    if !removed.is_empty() {
        sync_dir(build_dir)?;
    }
    Ok(removed)
}

/// An `InvalidInput` error for the first name that is not safe.
pub(super) fn check_names<'a>(
    dir: &Path,
    mut names: impl Iterator<Item = &'a str>,
    action: &str,
    outcome: &str,
) -> io::Result<()> {
    match names.find(|name| !is_safe_file_name(name)) {
        None => Ok(()),
        Some(name) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "refusing to {action} {name:?} in {}: it is not a plain file name \
                 ({SAFE_NAME_RULE}); {outcome}. The file list comes from the build's \
                 .changes or record, so check it, and handle these files by hand",
                dir.display()
            ),
        )),
    }
}

/// Removes `path`; a missing file is fine.
fn remove_if_exists(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(with_context(
            e,
            format!("could not remove {}", path.display()),
            "check the directory's permissions (and that it is not a directory), remove it \
             by hand and retry",
        )),
    }
}

/// [`remove_if_exists`], recording a removal in `removed`.
fn remove_if_exists_into(path: &Path, removed: &mut Vec<PathBuf>) -> io::Result<()> {
    if remove_if_exists(path)? {
        removed.push(path.to_path_buf());
    }
    Ok(())
}
