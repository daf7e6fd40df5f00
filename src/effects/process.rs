//! Child processes run with a deadline (the upload command, the sendmail
//! transport): each runs in its own process group, which is killed whole
//! when the deadline passes, so no grandchild outlives it.

use std::io;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

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
