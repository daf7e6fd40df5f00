//! Uploading a build: checking a signed `.changes` against the build it
//! answers, copying the build's files and the `.changes` into the
//! distribution's upload queue, running the upload command, and removing
//! files again (`upload-rem`, `purge`).
//!
//! The pure helpers ([`match_build`], [`is_safe_file_name`],
//! [`changes_file_name`], [`strip_epoch`], [`expand_arg`]) decide; the file
//! system and processes are touched only by [`verify_files`], [`place`],
//! [`run_command`], [`remove_from_queue`] and [`purge`].
//!
//! Every file name that comes from a `.changes` or from the store passes
//! [`is_safe_file_name`] before it is joined to a directory, so nothing
//! outside the build directory or the upload queue is ever read, written or
//! removed.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use md5::Md5;
use sha1collisiondetection::Sha1CD;
use sha2::{Digest, Sha256};

use crate::changes::{Changes, ChangesFile};
use crate::process::wait_with_timeout;
use crate::store::BuildKey;

/// Longest file name accepted (the usual file-system limit, in bytes).
pub const MAX_FILE_NAME_LEN: usize = 255;

/// Prefix of the temporary names [`place`] writes under before renaming.
/// It starts with `.`, so upload tools that scan the queue ignore it.
pub const TEMP_PREFIX: &str = ".buildmail-tmp-";

/// Most bytes of upload-command output kept in [`CommandRun::log`].
pub const MAX_LOG_BYTES: u64 = 1024 * 1024;

/// Bytes kept from the start of an output longer than [`MAX_LOG_BYTES`];
/// the rest of the budget is kept from its end.
pub const LOG_HEAD_BYTES: u64 = 64 * 1024;

/// Read buffer for hashing and copying.
const BUF_SIZE: usize = 64 * 1024;

/// The file-name rule, for messages.
const SAFE_NAME_RULE: &str = "letters, digits and . + ~ _ - only, not starting with '.', \
                              at most 255 bytes";

/// Problems found checking a .changes against a build; each a sentence an
/// admin can act on. Empty when the .changes is for this build.
///
/// The `.changes` must name the build's source, exactly its `version`
/// (epoch and binNMU suffix included), an `Architecture` that includes
/// `key.arch` (for an `all` build: `all`) and a `Distribution` that includes
/// `key.dist`.
pub fn match_build(changes: &Changes, key: &BuildKey, version: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if changes.source != key.source {
        problems.push(format!(
            "the .changes is for source {}, but this build is {}; \
             reply with the signed .changes of {} {}",
            changes.source, key.source, key.source, version
        ));
    }
    if changes.version != version {
        problems.push(format!(
            "the .changes is for version {}, but this build is version {} \
             (epoch and binNMU suffix must match too); \
             reply with the signed .changes of the build this mail is about",
            changes.version, version
        ));
    }
    if !changes.architectures.iter().any(|a| a == &key.arch) {
        problems.push(format!(
            "the .changes is for architecture {}, which does not include this build's \
             architecture {}; reply with the signed .changes of the {} build",
            word_list(&changes.architectures),
            key.arch,
            key.arch
        ));
    }
    if !changes.distributions.iter().any(|d| d == &key.dist) {
        problems.push(format!(
            "the .changes is for distribution {}, which does not include this build's \
             distribution {}; reply with the signed .changes of the build for {}",
            word_list(&changes.distributions),
            key.dist,
            key.dist
        ));
    }
    problems
}

/// Whether `name` is a safe plain file name for the build directory and the
/// upload queue: non-empty, at most [`MAX_FILE_NAME_LEN`] bytes, not
/// starting with `.`, and only `A-Z a-z 0-9 . + ~ _ -` (the characters of
/// Debian file names; epochs, and so `:`, never appear in them). This rules
/// out `/`, NUL, white space and anything outside ASCII.
pub fn is_safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_FILE_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'~' | b'_' | b'-'))
}

/// `version` without its epoch (`1:2.0-1` → `2.0-1`); a version without one
/// is returned as it is.
pub fn strip_epoch(version: &str) -> &str {
    version.split_once(':').map_or(version, |(_, rest)| rest)
}

/// `<src>_<version without epoch>_<arch>.changes`.
pub fn changes_file_name(source: &str, version: &str, arch: &str) -> String {
    format!("{source}_{}_{arch}.changes", strip_epoch(version))
}

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
                "{name}: not found in the build directory {}; if the build was purged, \
                 retry it, otherwise reply with the signed .changes of the files that are there",
                dir.display()
            ));
            return Err(problems);
        }
        Err(e) => {
            problems.push(format!(
                "{name}: could not examine {}: {e}; check that buildmail may read the \
                 build directory",
                path.display()
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
            "{name}: {} is {what}, not a regular file; buildmail uploads only regular \
             files directly in the build directory, so put the real file there",
            path.display()
        ));
        return Err(problems);
    }
    if meta.len() != file.size {
        problems.push(format!(
            "{name}: is {} bytes in {}, but the .changes says {}; the file is not the one \
             the .changes describes, so reply with the signed .changes written with these \
             files (or retry the build)",
            meta.len(),
            dir.display(),
            file.size
        ));
        return Err(problems);
    }
    let digests = match Digests::of_file(&path) {
        Ok(d) => d,
        Err(e) => {
            problems.push(format!(
                "{name}: could not read {}: {e}; check that buildmail may read the build \
                 directory and that nothing else is changing it",
                path.display()
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
                     in {} is not the one the .changes describes, so reply with the signed \
                     .changes written with these files (or retry the build)",
                    dir.display()
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
enum ChunkError {
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
fn read_chunks(
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
fn open_regular(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

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
            format!(
                "could not create the upload queue directory {}",
                queue_dir.display()
            ),
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
                format!(
                    "could not write {changes_name} into {}",
                    queue_dir.display()
                ),
                "check that the disk is not full, then retry the upload",
            )
        })
    })?);
    sync_dir(queue_dir)?;
    Ok(written)
}

/// The temporary name [`place`] uses for `name` (shortened to fit
/// [`MAX_FILE_NAME_LEN`]; names are ASCII, so any cut is a char boundary).
fn temp_name(name: &str) -> String {
    let room = MAX_FILE_NAME_LEN.saturating_sub(TEMP_PREFIX.len());
    let short = name.get(..room.min(name.len())).unwrap_or(name);
    format!("{TEMP_PREFIX}{short}")
}

/// Writes `dir/name` by filling a fresh temporary file, syncing it and
/// renaming it over `name`. On failure the temporary file is removed.
fn write_atomically(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<PathBuf> {
    let tmp = dir.join(temp_name(name));
    let dest = dir.join(name);
    let advice = "check that the upload queue directory is writable and the disk is not \
                  full, then retry the upload";
    remove_if_exists(&tmp)?;
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| with_context(e, format!("could not create {}", tmp.display()), advice))?;
    let result = fill(&mut out)
        .and_then(|()| {
            out.sync_all()
                .map_err(|e| with_context(e, format!("could not sync {}", tmp.display()), advice))
        })
        .and_then(|()| {
            fs::rename(&tmp, &dest).map_err(|e| {
                with_context(
                    e,
                    format!("could not rename {} to {}", tmp.display(), dest.display()),
                    advice,
                )
            })
        });
    drop(out);
    if let Err(e) = result {
        // Best effort: the error above is what the admin needs to see.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(dest)
}

/// Copies a verified file into `out`, checking its size and SHA-256 again.
fn copy_verified(file: &VerifiedFile, out: &mut File) -> io::Result<()> {
    let src = file.path.display();
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

/// The placeholders of an upload command, substituted by [`expand_arg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandVars<'a> {
    /// `{changes}`: the .changes in the queue ([`run_command`] makes it absolute).
    pub changes: &'a Path,
    /// `{queue}`: the upload queue directory ([`run_command`] makes it
    /// absolute); also the command's working directory.
    pub queue: &'a Path,
    /// `{source}`: the source package.
    pub source: &'a str,
    /// `{version}`: the version (with epoch).
    pub version: &'a str,
    /// `{arch}`: the build's architecture.
    pub arch: &'a str,
    /// `{dist}`: the build's distribution.
    pub dist: &'a str,
}

/// One argument of an upload-command template with `{changes}`, `{queue}`,
/// `{source}`, `{version}`, `{arch}` and `{dist}` substituted, in one pass
/// (a substituted value is never scanned again). Any other `{...}` is kept
/// as it is.
pub fn expand_arg(template: &str, vars: &CommandVars<'_>) -> OsString {
    let mut out = OsString::with_capacity(template.len());
    let mut rest = template;
    while let Some((before, from_brace)) = rest.find('{').and_then(|i| rest.split_at_checked(i)) {
        out.push(before);
        let inner = from_brace.get(1..).unwrap_or_default();
        let found = inner
            .split_once('}')
            .and_then(|(name, after)| placeholder(name, vars).map(|value| (value, after)));
        match found {
            Some((value, after)) => {
                out.push(value);
                rest = after;
            }
            None => {
                out.push("{");
                rest = inner;
            }
        }
    }
    out.push(rest);
    out
}

/// The value of placeholder `name`, if it is one.
fn placeholder<'a>(name: &str, vars: &CommandVars<'a>) -> Option<&'a OsStr> {
    match name {
        "changes" => Some(vars.changes.as_os_str()),
        "queue" => Some(vars.queue.as_os_str()),
        "source" => Some(OsStr::new(vars.source)),
        "version" => Some(OsStr::new(vars.version)),
        "arch" => Some(OsStr::new(vars.arch)),
        "dist" => Some(OsStr::new(vars.dist)),
        _ => None,
    }
}

/// The result of running the upload command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRun {
    /// Whether it ran and exited with status 0 in time.
    pub success: bool,
    /// Its exit status, when it exited (not when killed or never started).
    pub exit_code: Option<i32>,
    /// Whether it was killed for running longer than the timeout.
    pub timed_out: bool,
    /// `$ <command>`, its output (stdout and stderr interleaved, at most
    /// [`MAX_LOG_BYTES`]), and a last line saying how it ended.
    pub log: String,
}

/// Runs the upload command and captures its output as the upload log.
///
/// `argv` is a template: each argument goes through [`expand_arg`], with
/// `vars.changes` and `vars.queue` made absolute first. There is no shell.
/// The command runs in the queue directory, with stdin `/dev/null` and
/// stdout and stderr both written to one unlinked temporary file (so their
/// output is interleaved, and a large output cannot block it), in a process
/// group of its own. After `timeout` the whole group is killed with SIGKILL.
///
/// The log starts with `$ <arguments joined by spaces>` and ends with
/// `exit status N`, `killed by signal N`, `killed after <timeout> (timeout)`
/// or `could not start <program>: <error>; ...`: a command that cannot be
/// started is a failed run, not an error. Output longer than
/// [`MAX_LOG_BYTES`] keeps its first [`LOG_HEAD_BYTES`] and its end, with a
/// `[... N bytes omitted ...]` line between. Output is decoded lossily as
/// UTF-8.
///
/// The output goes to a file in [`std::env::temp_dir`] while the command
/// runs, so a command printing without end until its timeout uses that
/// much disk space there.
pub fn run_command(argv: &[String], vars: &CommandVars<'_>, timeout: Duration) -> CommandRun {
    let changes = absolute(vars.changes);
    let queue = absolute(vars.queue);
    let vars = CommandVars {
        changes: &changes,
        queue: &queue,
        ..*vars
    };
    let args: Vec<OsString> = argv.iter().map(|a| expand_arg(a, &vars)).collect();
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut log = format!("$ {}\n", shown.join(" "));

    let Some((program, rest)) = args.split_first() else {
        log.push_str(
            "could not start the upload command: it is empty; set the upload command in \
             the configuration (for example dput {changes})\n",
        );
        return not_started(log);
    };
    let prog = program.to_string_lossy().into_owned();

    let (mut capture, out, err) = match capture_file() {
        Ok(files) => files,
        Err(e) => {
            log.push_str(&format!(
                "could not start {prog}: could not create a file for its output in {}: {e}; \
                 check that the temporary directory is writable (or set TMPDIR)\n",
                std::env::temp_dir().display()
            ));
            return not_started(log);
        }
    };

    let mut command = Command::new(program);
    command
        .args(rest)
        .current_dir(&queue)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0);
    let spawned = command.spawn();
    drop(command);
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            log.push_str(&format!(
                "could not start {prog}: {e} (working directory {}); check the upload \
                 command in the configuration (is the program installed, on PATH and \
                 executable?) and that the queue directory exists\n",
                queue.display()
            ));
            return not_started(log);
        }
    };

    let (status, timed_out) = wait_with_timeout(&mut child, timeout);

    match read_capped(&mut capture) {
        Ok(output) => {
            log.push_str(&output);
            if !output.is_empty() && !output.ends_with('\n') {
                log.push('\n');
            }
        }
        Err(e) => log.push_str(&format!(
            "[buildmail could not read the command's output: {e}]\n"
        )),
    }

    let (success, exit_code) = match &status {
        Ok(_) if timed_out => {
            log.push_str(&format!("killed after {timeout:?} (timeout)\n"));
            (false, None)
        }
        Ok(s) => {
            if let Some(code) = s.code() {
                log.push_str(&format!("exit status {code}\n"));
            } else if let Some(signal) = s.signal() {
                log.push_str(&format!("killed by signal {signal}\n"));
            } else {
                log.push_str(&format!("ended with {s}\n"));
            }
            (s.success(), s.code())
        }
        Err(e) => {
            log.push_str(&format!(
                "could not wait for {prog}: {e}; it was killed, retry the upload\n"
            ));
            (false, None)
        }
    };
    CommandRun {
        success,
        exit_code,
        timed_out,
        log,
    }
}

/// A failed run of a command that never started.
fn not_started(log: String) -> CommandRun {
    CommandRun {
        success: false,
        exit_code: None,
        timed_out: false,
        log,
    }
}

/// `path` made absolute against the current directory (as it is, if that
/// fails).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A fresh, already unlinked file in the temporary directory, opened for
/// reading and writing, plus two handles on the same open file (so sharing
/// one offset) for the child's stdout and stderr.
fn capture_file() -> io::Result<(File, File, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    let mut last_error = None;
    for _ in 0..16 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!(
            ".buildmail-upload-log-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => {
                fs::remove_file(&path)?;
                let out = file.try_clone()?;
                let err = file.try_clone()?;
                return Ok((file, out, err));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

/// The captured output, at most [`MAX_LOG_BYTES`] of it: all of it, or its
/// first [`LOG_HEAD_BYTES`] and its end with an omission line between.
fn read_capped(file: &mut File) -> io::Result<String> {
    let len = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(0))?;
    if len <= MAX_LOG_BYTES {
        let mut all = Vec::new();
        (&mut *file).take(MAX_LOG_BYTES).read_to_end(&mut all)?;
        return Ok(String::from_utf8_lossy(&all).into_owned());
    }
    let tail_len = MAX_LOG_BYTES - LOG_HEAD_BYTES;
    let mut head = Vec::new();
    (&mut *file).take(LOG_HEAD_BYTES).read_to_end(&mut head)?;
    file.seek(SeekFrom::Start(len.saturating_sub(tail_len)))?;
    let mut tail = Vec::new();
    (&mut *file).take(tail_len).read_to_end(&mut tail)?;
    let kept = u64::try_from(head.len().saturating_add(tail.len())).unwrap_or(u64::MAX);
    let omitted = len.saturating_sub(kept);
    let mut text = String::from_utf8_lossy(&head).into_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("[... {omitted} bytes omitted ...]\n"));
    text.push_str(&String::from_utf8_lossy(&tail));
    Ok(text)
}

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
        remove_if_exists_into(&queue_dir.join(temp_name(name)), &mut removed)?;
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
fn check_names<'a>(
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

/// Syncs directory `dir`, so renames and removals in it are durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| {
        with_context(
            e,
            format!("could not sync the directory {}", dir.display()),
            "check the file system, then retry",
        )
    })
}

/// `error` as `<what>: <error>; <advice>`, keeping its kind.
fn with_context(error: io::Error, what: String, advice: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}; {advice}"))
}

/// Words joined by spaces, or `(none)`.
fn word_list(words: &[String]) -> String {
    if words.is_empty() {
        "(none)".to_string()
    } else {
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(changes: &'a Path, queue: &'a Path) -> CommandVars<'a> {
        CommandVars {
            changes,
            queue,
            source: "hello",
            version: "1:2.10-3",
            arch: "amd64",
            dist: "unstable",
        }
    }

    #[test]
    fn expand_arg_substitutes_in_one_pass() {
        let changes = Path::new("/q/{queue}.changes");
        let queue = Path::new("/q");
        let v = vars(changes, queue);
        assert_eq!(
            expand_arg("{changes}", &v),
            OsString::from("/q/{queue}.changes")
        );
        assert_eq!(
            expand_arg("{source}_{version}/{arch}-{dist}", &v),
            OsString::from("hello_1:2.10-3/amd64-unstable")
        );
        assert_eq!(
            expand_arg("{nope} {} { {queue", &v),
            OsString::from("{nope} {} { {queue")
        );
        assert_eq!(expand_arg("{{queue}}", &v), OsString::from("{/q}"));
        assert_eq!(expand_arg("", &v), OsString::new());
    }

    #[test]
    fn temp_name_fits_the_name_limit() {
        let long = "a".repeat(MAX_FILE_NAME_LEN);
        assert_eq!(temp_name(&long).len(), MAX_FILE_NAME_LEN);
        assert_eq!(temp_name("x.deb"), ".buildmail-tmp-x.deb");
    }

    #[test]
    fn strip_epoch_keeps_binnmu() {
        assert_eq!(strip_epoch("1:2.0-1+b1"), "2.0-1+b1");
        assert_eq!(strip_epoch("2.0-1"), "2.0-1");
    }
}
