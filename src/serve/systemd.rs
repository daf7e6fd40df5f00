//! systemd integration, by the `sd-notify` crate: readiness, reloading and
//! stopping (`Type=notify`), the watchdog (`WatchdogSec=`), and socket
//! activation (`buildmail.socket`: the listening sockets passed in as
//! `LISTEN_FDS`). Outside systemd (no `NOTIFY_SOCKET`, no `LISTEN_FDS`)
//! each of these does nothing.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use sd_notify::NotifyState;

/// Tells systemd the daemon is ready (its sockets listen), with a status
/// line for `systemctl status`.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Tells systemd a reload (SIGHUP) began; [`ready`] ends it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

/// Tells systemd the daemon is stopping.
pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

/// The watchdog interval systemd expects pings within, if it set one for
/// this process.
pub fn watchdog() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

/// One watchdog ping.
pub fn ping() {
    notify(&[NotifyState::Watchdog]);
}

fn notify(state: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!("serve: cannot notify systemd: {e}");
    }
}

/// A listening socket systemd passed in.
pub enum Inherited {
    /// A unix stream socket.
    Unix(std::os::unix::net::UnixListener),
    /// A TCP socket.
    Tcp(std::net::TcpListener),
}

/// The listening sockets systemd passed in (socket activation), each with
/// its `FileDescriptorName=` (`control` for the control socket, `http`
/// for the read-only HTTP listener, anything else LMTP); none when not
/// started that way. `Err`: a passed descriptor that is not a stream
/// socket of a kind buildmail takes.
pub fn inherited() -> std::io::Result<Vec<(Inherited, String)>> {
    let fds: Vec<(RawFd, String)> = sd_notify::listen_fds_with_names()?.collect();
    fds.into_iter()
        .map(|(fd, name)| adopt(fd).map(|l| (l, name)))
        .collect()
}

/// Takes `fd` over as a listener of its address family.
fn adopt(fd: RawFd) -> std::io::Result<Inherited> {
    // SAFETY: systemd passed `fd` to this process (LISTEN_FDS, checked
    // against LISTEN_PID by sd-notify) and nothing else owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_storage is valid to fill in.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getsockname writes at most `len` bytes into `addr`.
    let rc = unsafe { libc::getsockname(fd, std::ptr::addr_of_mut!(addr).cast(), &mut len) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    match i32::from(addr.ss_family) {
        libc::AF_UNIX => {
            let l = std::os::unix::net::UnixListener::from(owned);
            l.set_nonblocking(true)?;
            Ok(Inherited::Unix(l))
        }
        libc::AF_INET | libc::AF_INET6 => {
            let l = std::net::TcpListener::from(owned);
            l.set_nonblocking(true)?;
            Ok(Inherited::Tcp(l))
        }
        family => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "systemd passed descriptor {fd} of address family {family}; buildmail.socket may list only ListenStream= unix paths and TCP ports"
            ),
        )),
    }
}
