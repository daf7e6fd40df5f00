//! Outbound mail delivery: how a queued mail leaves the host.
//!
//! Three transports, chosen by configuration ([`TransportSpec`]):
//!
//! * **file**: each mail becomes `<dir>/<stem>.eml`, written through a
//!   temporary file, fsync, rename and an fsync of the directory, so a
//!   reader never sees half a mail and writing the same mail twice (after a
//!   crash) leaves one file;
//! * **sendmail**: each mail is piped to a local command such as
//!   `/usr/sbin/sendmail -oi -t`; any failure of the command is temporary,
//!   so mail is never dropped;
//! * **SMTP**: each mail is sent with lettre's blocking [`SmtpTransport`]
//!   (plain, STARTTLS or implicit TLS, optionally authenticated).
//!
//! A failure is a [`SendError`]. It is *permanent* only when an SMTP server
//! refuses the mail itself (a 5xx answer) or an envelope address cannot be
//! used at all; the caller then keeps the mail as dead for an admin to look
//! at. Every other failure is temporary and the caller retries.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::{SmtpTransport, Transport};

mod sendmail;
use sendmail::*;

/// The accepted SMTP URL forms, for error messages.
const SMTP_URL_FORMS: &str = "smtp://host:port (plain), smtp://host:port?tls=required (STARTTLS), \
     smtps://host:port (implicit TLS), with user:password@ before the host to log in";

/// SMTP reply codes that, although 5xx, mean the session could not be set up
/// (login refused or required, TLS required) rather than that the mail is
/// refused: they are a configuration problem and stay temporary.
const SESSION_REFUSAL_CODES: [u16; 4] = [530, 534, 535, 538];

/// How mail leaves (built from configuration by the caller).
///
/// `Debug` hides the password of an SMTP URL.
#[derive(Clone, PartialEq, Eq)]
pub enum TransportSpec {
    /// Write each mail as `<dir>/<file_stem>.eml` (temporary file
    /// `.<name>.tmp`, fsync, rename, fsync of the directory): idempotent.
    /// The directory is created if missing.
    File {
        /// The directory the `.eml` files go to.
        dir: PathBuf,
    },
    /// Pipe the mail to this command (e.g. `["/usr/sbin/sendmail", "-oi",
    /// "-t"]`). If the argv contains `-t`, recipients come from the headers
    /// and the argv is used as it is; otherwise `--` and the envelope
    /// recipients are appended (and `-f <from>` is inserted right after
    /// argv\[0\] when no argument starts with `-f`). Exit 0 means delivered;
    /// 75 (`EX_TEMPFAIL`) or any other non-zero status, a signal, or failure
    /// to start is a temporary failure carrying the first 4 KiB of the
    /// command's stderr. The command (its whole process group) is killed
    /// after `timeout`.
    Sendmail {
        /// Program and arguments.
        command: Vec<String>,
        /// How long one run may take.
        timeout: Duration,
    },
    /// SMTP with lettre's blocking [`SmtpTransport`], from a URL as
    /// [`SmtpTransport::from_url`] understands it: `smtp://host:port`
    /// (plain), `smtp://host:port?tls=required` (STARTTLS),
    /// `smtps://host:port` (implicit TLS), credentials as
    /// `smtp://user:pass@host`.
    Smtp {
        /// The server URL.
        url: String,
        /// Connect and command timeout.
        timeout: Duration,
    },
}

impl fmt::Debug for TransportSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportSpec::File { dir } => f.debug_struct("File").field("dir", dir).finish(),
            TransportSpec::Sendmail { command, timeout } => f
                .debug_struct("Sendmail")
                .field("command", command)
                .field("timeout", timeout)
                .finish(),
            TransportSpec::Smtp { url, timeout } => f
                .debug_struct("Smtp")
                .field("url", &redact_url(url))
                .field("timeout", timeout)
                .finish(),
        }
    }
}

/// A delivery failure. `permanent` only when an SMTP server refused the mail
/// with a 5xx answer (to RCPT or DATA; a refused login stays temporary) or
/// an envelope address is unusable: the caller still keeps the mail, marking
/// it dead for an admin to look at. Everything else is temporary (retried).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// Whether retrying cannot help.
    pub permanent: bool,
    /// What went wrong and what the admin can do about it.
    pub message: String,
}

impl SendError {
    /// A temporary failure: the mail is kept and retried.
    pub fn temporary(message: impl Into<String>) -> SendError {
        SendError {
            permanent: false,
            message: message.into(),
        }
    }

    /// A permanent failure: retrying cannot help.
    pub fn permanent(message: impl Into<String>) -> SendError {
        SendError {
            permanent: true,
            message: message.into(),
        }
    }
}

/// A ready transport. For SMTP it holds one lettre [`SmtpTransport`] built
/// once and reused (without lettre's `pool` feature each send opens its own
/// connection).
pub struct Sender {
    inner: Inner,
}

/// The transport behind a [`Sender`].
enum Inner {
    File {
        dir: PathBuf,
    },
    Sendmail {
        command: Vec<String>,
        timeout: Duration,
    },
    Smtp {
        transport: SmtpTransport,
        /// The URL without its password, for messages.
        shown: String,
        timeout: Duration,
    },
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::File { dir } => f.debug_struct("Sender::File").field("dir", dir).finish(),
            Inner::Sendmail { command, timeout } => f
                .debug_struct("Sender::Sendmail")
                .field("command", command)
                .field("timeout", timeout)
                .finish(),
            Inner::Smtp { shown, timeout, .. } => f
                .debug_struct("Sender::Smtp")
                .field("url", shown)
                .field("timeout", timeout)
                .finish(),
        }
    }
}

impl Sender {
    /// Builds the transport. A bad SMTP URL, an empty sendmail command or a
    /// zero timeout is an error (temporary: the configuration needs fixing,
    /// the mail does not) naming the setting and the accepted forms.
    pub fn new(spec: &TransportSpec) -> Result<Sender, SendError> {
        let inner = match spec {
            TransportSpec::File { dir } => {
                if dir.as_os_str().is_empty() {
                    return Err(SendError::temporary(
                        "the file transport has an empty directory; set the outbox directory \
                         in the configuration",
                    ));
                }
                Inner::File { dir: dir.clone() }
            }
            TransportSpec::Sendmail { command, timeout } => {
                if command.first().is_none_or(String::is_empty) {
                    return Err(SendError::temporary(
                        "the sendmail transport has no command; set it in the configuration, \
                         e.g. [\"/usr/sbin/sendmail\", \"-oi\", \"-t\"]",
                    ));
                }
                check_timeout(*timeout, "sendmail")?;
                Inner::Sendmail {
                    command: command.clone(),
                    timeout: *timeout,
                }
            }
            TransportSpec::Smtp { url, timeout } => {
                let shown = redact_url(url);
                check_timeout(*timeout, "SMTP")?;
                let builder = SmtpTransport::from_url(url).map_err(|e| {
                    SendError::temporary(format!(
                        "the SMTP URL {shown:?} is not usable ({e}); fix it in the \
                         configuration; accepted forms: {SMTP_URL_FORMS}"
                    ))
                })?;
                Inner::Smtp {
                    transport: builder.timeout(Some(*timeout)).build(),
                    shown,
                    timeout: *timeout,
                }
            }
        };
        Ok(Sender { inner })
    }

    /// Sends `bytes` (a complete RFC 5322 message, CRLF line ends) from
    /// envelope sender `from` (empty or `<>` for the null sender) to
    /// envelope recipients `to`. `file_stem` names the `.eml` for the file
    /// transport (e.g. the zero-padded outbox id; letters, digits, `-`, `_`
    /// and `.`, not starting with `.`).
    pub fn send(
        &self,
        from: &str,
        to: &[String],
        file_stem: &str,
        bytes: &[u8],
    ) -> Result<(), SendError> {
        match &self.inner {
            Inner::File { dir } => send_file(dir, file_stem, bytes),
            Inner::Sendmail { command, timeout } => {
                let argv = sendmail_argv(command, from, to)?;
                run_sendmail(&argv, bytes, *timeout)
            }
            Inner::Smtp {
                transport,
                shown,
                timeout,
            } => send_smtp(transport, shown, *timeout, from, to, bytes),
        }
    }
}

/// A zero timeout would make every attempt fail at once.
fn check_timeout(timeout: Duration, what: &str) -> Result<(), SendError> {
    if timeout.is_zero() {
        return Err(SendError::temporary(format!(
            "the {what} transport has a zero timeout; set the outbox timeout to a positive \
             duration such as 60s"
        )));
    }
    Ok(())
}

/// `url` with the password of its user information replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, after)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let Some((authority, tail)) = after.split_at_checked(end) else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let Some((user, _password)) = userinfo.split_once(':') else {
        return url.to_owned();
    };
    format!("{scheme}://{user}:***@{host}{tail}")
}

// ---------------------------------------------------------------------------
// File transport

/// Whether `stem` is a safe file name stem: not empty, at most 200 bytes of
/// ASCII letters, digits, `-`, `_` and `.`, not starting with `.`.
fn is_valid_stem(stem: &str) -> bool {
    !stem.is_empty()
        && stem.len() <= 200
        && !stem.starts_with('.')
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Writes `<dir>/<stem>.eml`.
fn send_file(dir: &Path, stem: &str, bytes: &[u8]) -> Result<(), SendError> {
    if !is_valid_stem(stem) {
        return Err(SendError::permanent(format!(
            "the mail's file name {stem:?} is not usable for a .eml file (only letters, digits, \
             '-', '_' and '.' are); this is a bug in buildmail, please report it"
        )));
    }
    let name = format!("{stem}.eml");
    let path = dir.join(&name);
    // Mail ids are unique and one worker delivers a mail at a time: a
    // temporary file of this name is a crashed attempt's.
    crate::fsutil::replace_with(dir, &name, |f| std::io::Write::write_all(f, bytes))
        .map(drop)
        .map_err(|e| {
            SendError::temporary(format!(
                "could not write {}: {e}; check that {} exists or can be created, is writable by \
             the user buildmail runs as, and that the disk is not full; the mail is kept and \
             retried",
                path.display(),
                dir.display()
            ))
        })
}

// ---------------------------------------------------------------------------
// Sendmail transport

// ---------------------------------------------------------------------------
// SMTP transport

/// An envelope address for lettre: surrounding `<>` and white space
/// removed. An unusable address is a permanent error.
fn parse_address(text: &str, role: &str) -> Result<Address, SendError> {
    let trimmed = text.trim();
    let bare = trimmed
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(trimmed);
    bare.parse::<Address>().map_err(|e| {
        SendError::permanent(format!(
            "the envelope {role} {text:?} is not a valid mail address ({e}); correct it and \
             retry the mail"
        ))
    })
}

/// Sends one mail over SMTP.
fn send_smtp(
    transport: &SmtpTransport,
    shown: &str,
    timeout: Duration,
    from: &str,
    to: &[String],
    bytes: &[u8],
) -> Result<(), SendError> {
    let sender = match from.trim() {
        "" | "<>" => None,
        _ => Some(parse_address(from, "sender")?),
    };
    let recipients = to
        .iter()
        .map(|r| parse_address(r, "recipient"))
        .collect::<Result<Vec<_>, _>>()?;
    let envelope = Envelope::new(sender, recipients).map_err(|e| {
        SendError::permanent(format!(
            "the mail has no usable envelope ({e}); it needs at least one recipient"
        ))
    })?;
    // lettre always ends the data with CRLF "." CRLF; the message's own
    // final CRLF is the first half of that, not an extra empty line.
    let data = bytes.strip_suffix(b"\r\n").unwrap_or(bytes);
    match transport.send_raw(&envelope, data) {
        Ok(_) => Ok(()),
        Err(e) => Err(smtp_error(&e, shown, timeout, to)),
    }
}

/// Whether a socket read or write of the SMTP session ran out of time.
/// lettre's `is_timeout` knows only `TimedOut`; a socket timeout on Linux
/// is `EAGAIN` (`WouldBlock`), which it would report as "Resource
/// temporarily unavailable".
fn timed_out(e: &lettre::transport::smtp::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            );
        }
        source = err.source();
    }
    false
}

/// A [`SendError`] for a failed SMTP delivery.
fn smtp_error(
    e: &lettre::transport::smtp::Error,
    shown: &str,
    timeout: Duration,
    to: &[String],
) -> SendError {
    let code = e.status().map(u16::from);
    if code.is_some_and(|c| SESSION_REFUSAL_CODES.contains(&c)) {
        return SendError::temporary(format!(
            "the SMTP server {shown} refused the login or requires one first: {e}; check the \
             user name and password in the SMTP URL, and whether the server wants TLS first \
             (?tls=required or smtps://); the mail is kept and retried"
        ));
    }
    if e.is_permanent() {
        return SendError::permanent(format!(
            "the SMTP server {shown} refused the mail permanently: {e}; check the recipients \
             ({}) and the server's answer; the mail is kept as dead and can be retried once the \
             cause is fixed",
            to.join(", ")
        ));
    }
    if e.is_transient() {
        return SendError::temporary(format!(
            "the SMTP server {shown} refused the mail for now: {e}; the mail is kept and retried"
        ));
    }
    if e.is_timeout() || timed_out(e) {
        return SendError::temporary(format!(
            "the SMTP server {shown} did not answer within {timeout:?}: {e}; check that it is \
             running and reachable, or raise the outbox timeout; the mail is kept and retried"
        ));
    }
    if e.is_tls() {
        return SendError::temporary(format!(
            "TLS with the SMTP server {shown} failed: {e}; check that the URL matches what the \
             server speaks (smtps:// for implicit TLS, usually port 465; ?tls=required for \
             STARTTLS, usually port 587) and that its certificate is valid for the host name; \
             the mail is kept and retried"
        ));
    }
    SendError::temporary(format!(
        "could not deliver through the SMTP server {shown}: {e}; check that the server is \
         running and reachable from this host (host name, port, firewall); the mail is kept \
         and retried"
    ))
}

#[cfg(test)]
mod tests;
