//! Running the upload command (`dput`, ...): placeholders, a timeout, the
//! output captured as the upload log.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use std::ffi::{OsStr, OsString};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::effects::process::{supervised, wait_with_timeout, RunLease};

/// Most bytes of upload-command output kept in [`CommandRun::log`].
pub const MAX_LOG_BYTES: u64 = 1024 * 1024;

/// Bytes kept from the start of an output longer than [`MAX_LOG_BYTES`];
/// the rest of the budget is kept from its end.
pub const LOG_HEAD_BYTES: u64 = 64 * 1024;

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
        // The URL templates' short names are accepted too: one vocabulary.
        "source" | "src" => Some(OsStr::new(vars.source)),
        "version" | "ver" => Some(OsStr::new(vars.version)),
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
///
/// The command dies with the thread that runs it ([`supervised`]). With a
/// `lease`, the command inherits it and the lease names its process
/// group, so a later run finds and stops what a killed worker left.
pub fn run_command(
    argv: &[String],
    vars: &CommandVars<'_>,
    timeout: Duration,
    lease: Option<&RunLease>,
) -> CommandRun {
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
        .stderr(Stdio::from(err));
    supervised(&mut command);
    if let Some(lease) = lease {
        lease.pass_to(&mut command);
    }
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

    if let Some(lease) = lease {
        lease.name_group(child.id());
    }
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

/// A fresh, already unlinked file in the temporary directory (the
/// `tempfile` crate), opened for reading and writing, plus two handles on
/// the same open file (so sharing one offset) for the child's stdout and
/// stderr.
fn capture_file() -> io::Result<(File, File, File)> {
    let file = tempfile::tempfile()?;
    let out = file.try_clone()?;
    let err = file.try_clone()?;
    Ok((file, out, err))
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
