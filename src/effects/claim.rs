//! Claims: who carries out a job or delivers a mail, and when a claim may
//! be taken over (its owner, a process of this host, is gone; or its lease
//! ran out).

use std::io;

use crate::config::Config;
use crate::model::Claim;

/// A claim by this process, now.
pub fn claim_now(now: i64) -> Claim {
    let pid = std::process::id();
    Claim {
        host: host_name(),
        pid,
        started: process_start(pid),
        at: now,
    }
}

/// How long a claim lasts before anyone may take it over, whoever holds
/// it: the longest an upload command or a delivery may run, and ten
/// minutes more.
pub fn lease(config: &Config) -> i64 {
    let longest = config.upload.timeout.max(config.outbox.timeout).as_secs();
    i64::try_from(longest)
        .unwrap_or(i64::MAX / 2)
        .saturating_add(600)
}

/// Whether `claim` may be taken over at `now`: its owner is a process of
/// this host that is gone, or the lease ran out.
pub fn is_stale(claim: &Claim, now: i64, lease: i64) -> bool {
    if now.saturating_sub(claim.at) > lease {
        return true;
    }
    claim.host == host_name()
        && (!process_alive(claim.pid)
            || claim
                .started
                .zip(process_start(claim.pid))
                .is_some_and(|(then, now)| then != now))
}

/// When process `pid` started, in clock ticks after boot (field 22 of
/// `/proc/<pid>/stat`); `None` where there is no such file.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count
    // from the last `)`. Field 3 is the first after it; field 22 the 20th.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// Whether process `pid` exists on this host (a zombie counts).
fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// This host's name (for claims, and the daemon's greeting),
/// `localhost` when it has none that is valid UTF-8.
pub fn host_name() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn claims_of_gone_processes_and_old_claims_are_stale() {
        let me = Claim {
            at: 1000,
            ..claim_now(1000)
        };
        assert!(me.started.is_some(), "this host has /proc");
        assert!(!is_stale(&me, 1010, 600), "a live owner keeps its claim");
        assert!(is_stale(&me, 1700, 600), "the lease ran out");
        let mut child = Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        let dead = Claim {
            pid: gone,
            ..me.clone()
        };
        assert!(is_stale(&dead, 1010, 600), "the owner is gone");
        // The same process id, given to a later process: not the owner.
        let reused = Claim {
            started: me.started.map(|t| t.saturating_sub(1)),
            ..me.clone()
        };
        assert!(
            is_stale(&reused, 1010, 600),
            "the id now names another process"
        );
        let elsewhere = Claim {
            host: "another-host.invalid".into(),
            pid: gone,
            started: None,
            at: 1000,
        };
        assert!(
            !is_stale(&elsewhere, 1010, 600),
            "another host's claim waits for its lease"
        );
    }
}
