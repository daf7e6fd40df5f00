//! Uploading a build: checking the files a signed `.changes` lists in the
//! build directory ([`verify`]), copying them and the `.changes` into the
//! distribution's upload queue ([`place`]), running the upload command
//! ([`command`]), and removing files again ([`remove`]: `upload-rem`,
//! `purge`).
//!
//! Every file name that comes from a `.changes` or from the store passes
//! [`is_safe_file_name`] before it is joined to a directory, so nothing
//! outside the build directory or the upload queue is ever read, written or
//! removed. Whether a `.changes` answers a build is decided in
//! [`crate::decide::reply`].

pub mod command;
pub mod place;
pub mod remove;
pub mod verify;

use std::io;

pub use crate::debian::names::{is_safe_file_name, MAX_FILE_NAME_LEN};
pub use crate::fsutil::TEMP_PREFIX;
pub use command::{
    expand_arg, run_command, CommandRun, CommandVars, LOG_HEAD_BYTES, MAX_LOG_BYTES,
};
pub use place::place;
pub use remove::{purge, remove_from_queue};
pub use verify::{verify_files, VerifiedFile};

/// The file-name rule, for messages.
const SAFE_NAME_RULE: &str = "letters, digits and . + ~ _ - only, not starting with '.', \
                              at most 255 bytes";

/// `error` as `<what>: <error>; <advice>`, keeping its kind.
pub(crate) fn with_context(error: io::Error, what: String, advice: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}; {advice}"))
}

#[cfg(test)]
mod tests;
