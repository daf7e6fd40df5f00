//! Child processes run with a deadline (the upload command, the sendmail
//! transport): each runs in its own process group, which is killed whole
//! when the deadline passes, so no grandchild outlives it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use crate::fsutil::try_flock;

/// Waits for `child` until `timeout`; then kills its process group, reaps
/// it and says it timed out.
pub(crate) fn wait_with_timeout(
    child: &mut Child,
    timeout: Duration,
) -> (io::Result<ExitStatus>, bool) {
    let deadline = Instant::now().checked_add(timeout);
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return (Ok(status), false),
            Ok(None) => {}
            Err(e) => {
                kill_group(child);
                let _ = child.wait();
                return (Err(e), false);
            }
        }
        let now = Instant::now();
        let left = deadline.map_or(pause, |d| d.saturating_duration_since(now));
        if left.is_zero() {
            kill_group(child);
            return (child.wait(), true);
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Sends SIGKILL to the process group `child` leads (and to `child`).
/// Only called before `child` is reaped, so the group id is still ours.
pub(crate) fn kill_group(child: &mut Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        if pid > 0 {
            // SAFETY: kill(2) takes no pointers. `-pid` names the process
            // group the unreaped child leads (it was spawned with
            // process_group(0)), so no unrelated process is signalled.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
    let _ = child.kill();
}

/// Makes `command` a child that does not outlive its runner: it leads a
/// process group of its own (so a timeout kills it and its children
/// whole), and it gets SIGKILL when the thread that started it dies
/// (`PR_SET_PDEATHSIG`), so a worker killed with `kill -9` leaves no
/// upload command or sendmail running behind it.
pub(crate) fn supervised(command: &mut Command) -> &mut Command {
    // SAFETY: getpid/prctl/getppid are async-signal-safe; nothing else
    // runs in the child before exec.
    let parent = unsafe { libc::getpid() };
    command.process_group(0);
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The runner died between fork and prctl: no signal will come.
            if libc::getppid() != parent {
                return Err(io::Error::other("the process that started it is gone"));
            }
            Ok(())
        });
    }
    command
}

/// The processes other than this one that hold `file` open: every
/// `/proc/<pid>/fd/*` that is the same file (device and inode).
fn holders_of(file: &File) -> Vec<libc::pid_t> {
    use std::os::unix::fs::MetadataExt;
    let Ok(me) = file.metadata() else {
        return Vec::new();
    };
    let own = std::process::id();
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.filter_map(Result::ok) {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == own {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds.filter_map(Result::ok).any(|fd| {
            std::fs::metadata(fd.path()).is_ok_and(|m| m.dev() == me.dev() && m.ino() == me.ino())
        });
        if holds {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                out.push(pid);
            }
        }
    }
    out
}

/// A lease on running one external command at a time for one resource
/// (an upload of one `.changes`): an exclusive `flock` on a file that the
/// command inherits, so the lease is held for as long as the command or
/// any process it started lives, whether or not its runner does. The file
/// names the command's process group.
#[derive(Debug)]
pub struct RunLease {
    file: File,
}

impl RunLease {
    /// Takes the lease at `path`. When it is held, the holder's runner is
    /// gone (one worker per database runs commands, one at a time), so
    /// what is left of that run is killed: every process that holds the
    /// lease file open (found in `/proc`, never guessed), and the process
    /// group the file names when one of those holders is in it. Then the
    /// lease is waited for up to `wait`. `Err` says why it could not be
    /// taken.
    pub fn take(path: &Path, wait: Duration) -> Result<RunLease, String> {
        let open = || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(path)
        };
        let lock_err = |e: io::Error| format!("cannot lock {}: {e}", path.display());
        let mut file = open().map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let taken = |file: File| {
            // A group number from an earlier run is never read again.
            let _ = file.set_len(0);
            RunLease { file }
        };
        if try_flock(&file).map_err(lock_err)? {
            return Ok(taken(file));
        }
        let mut named = String::new();
        let _ = file.read_to_string(&mut named);
        let group = named.trim().parse::<libc::pid_t>().ok().filter(|g| *g > 1);
        let holders = holders_of(&file);
        if !holders.is_empty() {
            tracing::warn!(
                "{}: what a stopped worker's command left still runs (processes {holders:?}); killing it",
                path.display()
            );
        }
        for pid in &holders {
            // SAFETY: kill(2) and getpgid(2) take no pointers. Each pid
            // holds the lease file open right now: it is part of the run.
            unsafe {
                if group.is_some_and(|g| libc::getpgid(*pid) == g) {
                    libc::kill(-group.unwrap_or(*pid), libc::SIGKILL);
                }
                libc::kill(*pid, libc::SIGKILL);
            }
        }
        let start = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            if try_flock(&file).map_err(lock_err)? {
                return Ok(taken(file));
            }
            if start.elapsed() >= wait {
                return Err(format!(
                    "an earlier run (processes {:?}) still holds {} after {wait:?}; stop it by hand",
                    holders_of(&file),
                    path.display()
                ));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// Lets `command` inherit the lease (its file stays open across exec),
    /// so the lease lasts as long as the command and its children.
    pub(crate) fn pass_to(&self, command: &mut Command) {
        let fd = self.file.as_raw_fd();
        // SAFETY: fcntl on a descriptor that stays open until the child has
        // exec'd (the lease outlives spawn()).
        unsafe {
            command.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }

    /// Records the process group of the command holding the lease.
    pub(crate) fn name_group(&self, group: u32) {
        let mut f = &self.file;
        let _ = f
            .set_len(0)
            .and_then(|()| f.seek(SeekFrom::Start(0)))
            .and_then(|_| f.write_all(format!("{group}\n").as_bytes()));
    }
}
