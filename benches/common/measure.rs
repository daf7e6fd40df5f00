//! Measuring a child process: its wall time and peak RSS, shared by the
//! benches that report memory (`#[path]`-included).

use std::process::{Command, ExitStatus};
use std::time::Instant;

/// Runs `c` to the end; its wall time and peak RSS (bytes).
pub fn run_measured(mut c: Command) -> (ExitStatus, f64, u64) {
    // The child starts in this process's memory (vfork), and exec keeps
    // that memory's high-water mark as the child's ru_maxrss: give the
    // generators' heap back and reset this process's peak first.
    // SAFETY: malloc_trim only returns free memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS (Linux 4.0 or later)");
    let start = Instant::now();
    // Reaped by wait4 below, which also reports the child's peak RSS.
    #[allow(clippy::zombie_processes)]
    let child = c.spawn().expect("spawn");
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be filled in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, writing into the locals above.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4");
    let secs = start.elapsed().as_secs_f64();
    use std::os::unix::process::ExitStatusExt;
    (
        ExitStatus::from_raw(status),
        secs,
        u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
    )
}
