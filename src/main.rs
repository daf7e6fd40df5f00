//! The `buildmail` binary: see `buildmail --help`.

fn main() -> std::process::ExitCode {
    // Memory goes back to the system when a large buffer is freed: glibc
    // otherwise raises its mmap threshold after each large free and keeps
    // such buffers in per-thread arenas, so a mailbox of large logs read by
    // several threads would hold one freed log window per thread.
    // SAFETY: mallopt only sets an allocator parameter, before any thread.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
    buildmail::cli::run()
}
