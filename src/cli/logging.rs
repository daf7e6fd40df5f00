//! Where log lines go (`[log]`): standard error (plain text; colour only
//! on a terminal), journald (standard error with sd-daemon(3) `<N>`
//! priority prefixes, which the journal reads as levels) or syslog(3).
//! `BUILDMAIL_LOG` or `RUST_LOG` (`RUST_LOG` syntax) override
//! `log.level`; without either, the daemon logs at info and one-shot
//! commands only warnings ([`LogConfig::default_level`]).

use std::ffi::CString;
use std::io::{self, IsTerminal, Write};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogTarget};

/// Always off: buildlog-consultant warns about every line it does not
/// know; its findings reach the user through the explanation instead.
const QUIET: &str = "buildlog_consultant=off";

/// Starts logging as `log` says (before the configuration is loaded:
/// `None`, warnings on standard error); `daemon`: `serve`, whose default
/// level is info rather than warn. A second call changes nothing.
pub fn init(log: Option<&LogConfig>, daemon: bool) {
    let level = std::env::var("BUILDMAIL_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .or_else(|| log.and_then(|l| l.level.clone()))
        .unwrap_or_else(|| LogConfig::default_level(daemon).into());
    let filter = EnvFilter::try_new(format!("{level},{QUIET}"))
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{QUIET}")));
    let target = log.map_or(LogTarget::Stderr, |l| l.target);
    // A log line that cannot be written (stderr closed by whoever started
    // us) is dropped: tracing-subscriber would otherwise report it with
    // eprintln!, which panics on that same closed stderr.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .log_internal_errors(false);
    let _ = match target {
        LogTarget::Stderr => builder
            .with_ansi(io::stderr().is_terminal())
            .with_writer(io::stderr)
            .try_init(),
        LogTarget::Journald => builder
            .without_time()
            .with_level(false)
            .with_ansi(false)
            .with_writer(Sink::Prefixed)
            .try_init(),
        LogTarget::Syslog => {
            open_syslog(log.map_or("mail", |l| l.facility.as_str()));
            builder
                .without_time()
                .with_ansi(false)
                .with_writer(Sink::Syslog)
                .try_init()
        }
    };
}

/// The syslog(3) priority of a level.
fn priority(level: &Level) -> libc::c_int {
    match *level {
        Level::ERROR => libc::LOG_ERR,
        Level::WARN => libc::LOG_WARNING,
        Level::INFO => libc::LOG_INFO,
        _ => libc::LOG_DEBUG,
    }
}

/// Where [`Line`]s go: standard error with `<priority>` prefixes
/// (journald), or syslog(3).
#[derive(Clone, Copy)]
enum Sink {
    Prefixed,
    Syslog,
}

/// One event's line, with its syslog priority.
struct Line(Sink, libc::c_int);

impl<'a> MakeWriter<'a> for Sink {
    type Writer = Line;
    fn make_writer(&'a self) -> Line {
        Line(*self, libc::LOG_INFO)
    }
    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        Line(*self, priority(meta.level()))
    }
}

impl Write for Line {
    /// The formatter writes each event whole, in one call.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0 {
            Sink::Prefixed => {
                let mut line = format!("<{}>", self.1).into_bytes();
                line.extend_from_slice(buf);
                io::stderr().lock().write_all(&line)?;
            }
            Sink::Syslog => {
                let text = String::from_utf8_lossy(buf);
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    let Ok(msg) = CString::new(line.replace('\0', " ")) else {
                        continue;
                    };
                    // SAFETY: a constant format string and a NUL-terminated
                    // argument for its one %s.
                    unsafe {
                        libc::syslog(self.1, c"%s".as_ptr(), msg.as_ptr());
                    }
                }
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// openlog(3) as `buildmail`, with the process id, in `facility`.
fn open_syslog(facility: &str) {
    let facility = match facility {
        "daemon" => libc::LOG_DAEMON,
        "user" => libc::LOG_USER,
        "local0" => libc::LOG_LOCAL0,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        _ => libc::LOG_MAIL,
    };
    // SAFETY: openlog keeps the identity pointer: a 'static C string.
    unsafe {
        libc::openlog(c"buildmail".as_ptr(), libc::LOG_PID, facility);
    }
}
