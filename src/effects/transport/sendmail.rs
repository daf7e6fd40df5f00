//! The sendmail transport: the mail piped to a command (`sendmail -oi -t`
//! by default) with a timeout, its stderr captured, the process group
//! killed when it hangs. buildmail's own rather than lettre's, which has no
//! timeout.

use crate::effects::process::wait_with_timeout;
use crate::effects::transport::SendError;

use std::io::{self, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

/// How much of a sendmail command's error output goes into a [`SendError`].
pub(super) const MAX_STDERR_BYTES: usize = 4096;

/// How long to wait, after a sendmail command ended, for its output pipe to
/// close (a daemon it started may hold the pipe open for much longer).
pub(super) const PIPE_GRACE: Duration = Duration::from_secs(1);

/// Whether `text` can be passed as one argument naming an address.
pub(super) fn is_usable_arg(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// The argv to run for one mail (see [`TransportSpec::Sendmail`]).
pub(super) fn sendmail_argv(
    command: &[String],
    from: &str,
    to: &[String],
) -> Result<Vec<String>, SendError> {
    let Some((prog, args)) = command.split_first() else {
        return Err(SendError::temporary(
            "the sendmail transport has no command; set it in the configuration",
        ));
    };
    if args.iter().any(|a| a == "-t") {
        return Ok(command.to_vec());
    }
    if to.is_empty() {
        return Err(SendError::permanent(
            "the mail has no envelope recipients, and the sendmail command has no -t to take \
             them from the headers; nothing to deliver to",
        ));
    }
    if let Some(bad) = to.iter().find(|r| r.trim().is_empty() || !is_usable_arg(r)) {
        return Err(SendError::permanent(format!(
            "the envelope recipient {bad:?} is not a usable address; correct it and retry \
             the mail"
        )));
    }
    if !is_usable_arg(from) {
        return Err(SendError::permanent(format!(
            "the envelope sender {from:?} is not a usable address; correct it and retry the mail"
        )));
    }
    let mut argv = Vec::with_capacity(command.len() + to.len() + 3);
    argv.push(prog.clone());
    if !args.iter().any(|a| a.starts_with("-f")) {
        argv.push("-f".to_owned());
        argv.push(if from.is_empty() { "<>" } else { from }.to_owned());
    }
    argv.extend(args.iter().cloned());
    argv.push("--".to_owned());
    argv.extend(to.iter().cloned());
    Ok(argv)
}

/// Error output of a command, collected by a thread.
#[derive(Default)]
pub(super) struct Captured {
    /// The first [`MAX_STDERR_BYTES`] bytes.
    pub(super) head: Vec<u8>,
    /// Whether more was written.
    pub(super) truncated: bool,
}

/// Runs `argv` with `bytes` on its standard input, killing it after
/// `timeout`.
pub(super) fn run_sendmail(
    argv: &[String],
    bytes: &[u8],
    timeout: Duration,
) -> Result<(), SendError> {
    let shown = argv.join(" ");
    let Some((prog, args)) = argv.split_first() else {
        return Err(SendError::temporary(
            "the sendmail transport has no command; set it in the configuration",
        ));
    };
    let mut command = Command::new(prog);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = crate::effects::process::supervised(&mut command)
        .spawn()
        .map_err(|e| {
            SendError::temporary(format!(
                "could not start the sendmail command `{shown}`: {e}; check the sendmail \
                 command in the configuration (the program must exist and be executable by \
                 the user buildmail runs as); the mail is kept and retried"
            ))
        })?;

    // Feed stdin and drain stderr from threads, so neither pipe can block
    // the wait for the command and its timeout.
    let (written_tx, written_rx) = mpsc::channel::<io::Result<()>>();
    if let Some(mut stdin) = child.stdin.take() {
        let mail = bytes.to_vec();
        std::thread::spawn(move || {
            let result = stdin.write_all(&mail).and_then(|()| stdin.flush());
            drop(stdin);
            let _ = written_tx.send(result);
        });
    } else {
        let _ = written_tx.send(Err(io::Error::other("no pipe to the command's input")));
    }
    let captured = Arc::new(Mutex::new(Captured::default()));
    let (eof_tx, eof_rx) = mpsc::channel::<()>();
    if let Some(stderr) = child.stderr.take() {
        let captured = Arc::clone(&captured);
        std::thread::spawn(move || {
            drain(stderr, &captured);
            let _ = eof_tx.send(());
        });
    } else {
        drop(eof_tx);
    }

    let (status, timed_out) = wait_with_timeout(&mut child, timeout);
    let _ = eof_rx.recv_timeout(PIPE_GRACE);
    let stderr_text = {
        let captured = captured.lock().unwrap_or_else(PoisonError::into_inner);
        describe_stderr(&captured)
    };
    let kept = "the mail is kept and retried";

    if timed_out {
        return Err(SendError::temporary(format!(
            "the sendmail command `{shown}` did not finish within {timeout:?} and was killed\
             {stderr_text}; check that the local mail system is running and not stuck, or raise \
             the outbox timeout; {kept}"
        )));
    }
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            return Err(SendError::temporary(format!(
                "could not wait for the sendmail command `{shown}`: {e}; it was killed\
                 {stderr_text}; {kept}"
            )));
        }
    };
    if status.success() {
        return match written_rx.recv_timeout(PIPE_GRACE) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SendError::temporary(format!(
                "the sendmail command `{shown}` exited 0 without reading the whole mail ({e})\
                 {stderr_text}; if it stops at a line holding a single '.', add -oi to the \
                 command; {kept}"
            ))),
            Err(_) => Err(SendError::temporary(format!(
                "the sendmail command `{shown}` exited 0 but the mail could not be handed to it \
                 in time{stderr_text}; {kept}"
            ))),
        };
    }
    Err(SendError::temporary(format!(
        "the sendmail command `{shown}` {}{stderr_text}; see the local mail system's log; \
         {kept}",
        describe_failure(status)
    )))
}

/// Reads `stderr` to its end, keeping the first [`MAX_STDERR_BYTES`].
pub(super) fn drain(mut stderr: impl Read, captured: &Mutex<Captured>) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match stderr.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        let chunk = buf.get(..n).unwrap_or_default();
        let mut captured = captured.lock().unwrap_or_else(PoisonError::into_inner);
        let room = MAX_STDERR_BYTES.saturating_sub(captured.head.len());
        if chunk.len() > room {
            captured.truncated = true;
        }
        let keep = chunk.get(..room.min(chunk.len())).unwrap_or_default();
        captured.head.extend_from_slice(keep);
    }
}

/// `; its error output: "..."`, or nothing when there was none.
pub(super) fn describe_stderr(captured: &Captured) -> String {
    let text = String::from_utf8_lossy(&captured.head);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let more = if captured.truncated { " [...]" } else { "" };
    format!("; its error output: {text:?}{more}")
}

/// How a failed command ended, in words.
pub(super) fn describe_failure(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(75), _) => "exited with status 75 (EX_TEMPFAIL: a temporary failure)".to_owned(),
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended with {status}"),
    }
}
