//! Durable file writes, the one way buildmail writes a file that must
//! survive a crash whole or not at all: a temporary file in the same
//! directory (the `tempfile` crate), filled, `fsync`ed, renamed over the
//! name, and the directory `fsync`ed. A temporary file is named
//! `.buildmail-tmp-<name>.<random>`: never taken for a real one, unique
//! when several threads write at once, and found again by
//! [`remove_stale_temps`] when a crash left it behind. Also the one
//! non-blocking `flock` ([`try_flock`]) behind buildmail's lock files.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The prefix of every temporary file buildmail writes.
pub const TEMP_PREFIX: &str = ".buildmail-tmp-";

/// Durably writes `dir/name` from `fill`, which writes the contents into
/// the (temporary) file it is given. `dir` is created if missing. On
/// failure the temporary file is removed and `dir/name` is untouched.
pub fn write_with(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<PathBuf> {
    write_synced(dir, name, fill, true)
}

/// [`write_with`], durable only with `durable`; without it the file is
/// whole once [`sync_filesystem`] of its file system returns (a batch of
/// writes shares that one sync).
pub fn write_synced(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
    durable: bool,
) -> io::Result<PathBuf> {
    // Mode 0666 less the umask, as a plainly created file gets: queue
    // daemons and mail pickups may run as other users.
    let temp = || {
        tempfile::Builder::new()
            .prefix(&format!("{}.", temp_stem(name)))
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(dir)
    };
    // The directory nearly always exists: created only when it is missing.
    let mut tmp = match temp() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            temp()?
        }
        other => other?,
    };
    fill(tmp.as_file_mut())?;
    if durable {
        tmp.as_file().sync_all()?;
    }
    let dest = dir.join(name);
    tmp.persist(&dest).map_err(|e| e.error)?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(dest)
}

/// Makes everything written to the file system holding `path` durable
/// (syncfs(2)): the one sync behind a batch of [`write_synced`] calls.
pub fn sync_filesystem(path: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = File::open(path)?;
    // SAFETY: syncfs on a valid, owned file descriptor.
    if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The longest file name, in bytes (the usual file-system limit).
const NAME_MAX: usize = 255;

/// `.buildmail-tmp-<name>`, cut to leave room for the random suffix.
fn temp_stem(name: &str) -> String {
    let room = NAME_MAX.saturating_sub(TEMP_PREFIX.len() + 8);
    let mut end = name.len().min(room);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{TEMP_PREFIX}{}", name.get(..end).unwrap_or(name))
}

/// Removes the temporary files a crashed [`write_with`] of `dir/name` left
/// behind; returns their paths. Only for a directory one writer at a time
/// writes `name` in (a concurrent writer's temporary file would go too).
pub fn remove_stale_temps(dir: &Path, name: &str) -> io::Result<Vec<PathBuf>> {
    let stem = temp_stem(name);
    let mut removed = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        if file == stem || file.starts_with(&format!("{stem}.")) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed.push(entry.path()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// Durably writes `dir/name` from `fill` like [`write_with`], through the
/// fixed temporary name `.buildmail-tmp-<name>`: for directories where one
/// writer at a time writes a name (the upload queue under the worker lock,
/// the outbox directory), a crashed attempt's temporary file is simply
/// overwritten, and no directory scan is needed.
pub fn replace_with(
    dir: &Path,
    name: &str,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(temp_stem(name));
    let dest = dir.join(name);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        fill(&mut f)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &dest)
    })();
    if let Err(e) = written {
        // Best effort: the error above is what the caller must see.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)?;
    Ok(dest)
}

/// Durably writes `bytes` as `dir/name` (see [`write_with`]).
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    write_with(dir, name, |f| f.write_all(bytes))
}

/// Makes the entries of `dir` (a rename, a removal) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Tries an exclusive, non-blocking `flock` on `file`: `Ok(false)` when
/// another open file description holds it.
pub fn try_flock(file: &File) -> io::Result<bool> {
    match fs4::FileExt::try_lock(file) {
        Ok(()) => Ok(true),
        Err(fs4::TryLockError::WouldBlock) => Ok(false),
        Err(fs4::TryLockError::Error(e)) => Err(e),
    }
}

/// Takes an exclusive `flock` on `file`, waiting for it as long as
/// another open file description holds it; released by [`unlock`] or when
/// the file is closed (also when the process dies).
pub fn flock(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock on a valid, owned file descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Releases a [`flock`].
pub fn unlock(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a valid, owned file descriptor.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A crash-test hook: when the environment variable `BUILDMAIL_CRASH_AT`
/// names `point` (or `point:N`: the Nth time the process reaches it), the
/// process kills itself with SIGKILL there, as `kill -9` would. The kill -9
/// tests use it to stop a process at a known point instead of after a
/// guessed delay; the variable is read once per process. The points:
/// `job-claimed`, `upload-started`, `job-ran`, `job-finished`,
/// `outbox-claimed`, `outbox-sent`, `outbox-recorded`, `serve-answered`,
/// `import-committed`;
/// in the log archive `archive-mid-record` (a record's header written, not
/// its payload), `archive-mid-append` (a record written, not its index
/// entry) and `archive-appended`; `mail-kept` (a large quarantined or
/// forwarded mail durable in the mail store, its commit not made).
pub fn crash_point(point: &str) {
    static AT: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
    static REACHED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let at = AT.get_or_init(|| {
        let at = std::env::var_os("BUILDMAIL_CRASH_AT")?;
        let at = at.to_string_lossy();
        Some(match at.split_once(':') {
            Some((name, n)) => (name.to_owned(), n.parse::<u64>().unwrap_or(1)),
            None => (at.into_owned(), 1),
        })
    });
    let Some((name, nth)) = at else {
        return;
    };
    if name != point {
        return;
    }
    if REACHED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 >= *nth {
        // SAFETY: raising a signal on our own process.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// Opens (creating it and its directory) the lock file at `path` and tries
/// [`try_flock`] on it: `Some(file)` while held by us, `None` when another
/// process holds it. The lock is released when the file is dropped.
pub fn try_lock_file(path: &Path) -> io::Result<Option<File>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    Ok(try_flock(&file)?.then_some(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        let p = write(&sub, "x", b"one").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        // Readable by others as a plainly created file is (umask 022).
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&p).unwrap().permissions());
        let plain = sub.join("plain");
        std::fs::write(&plain, b"").unwrap();
        let plain_mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&plain).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, plain_mode & 0o777);
        std::fs::remove_file(&plain).unwrap();
        write(&sub, "x", b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let failed = write_with(&sub, "x", |f| {
            f.write_all(b"partial")?;
            Err(io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"two",
            "a failed write left the old file"
        );
        let left: Vec<_> = std::fs::read_dir(&sub).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        std::fs::write(sub.join(format!("{TEMP_PREFIX}x.abc123")), b"crash").unwrap();
        std::fs::write(sub.join(format!("{TEMP_PREFIX}xy.abc123")), b"other").unwrap();
        let removed = remove_stale_temps(&sub, "x").unwrap();
        assert_eq!(removed, vec![sub.join(format!("{TEMP_PREFIX}x.abc123"))]);
        std::fs::remove_file(sub.join(format!("{TEMP_PREFIX}xy.abc123"))).unwrap();
        // The fixed-name form overwrites what a crashed attempt left.
        std::fs::write(sub.join(format!("{TEMP_PREFIX}y")), b"half").unwrap();
        let y = replace_with(&sub, "y", |f| f.write_all(b"whole")).unwrap();
        assert_eq!(std::fs::read(&y).unwrap(), b"whole");
        let mut left: Vec<_> = std::fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["x", "y"]);
    }
}
