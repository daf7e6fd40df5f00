//! The other end of the control socket: a command's way to a running
//! daemon ([`Remote`], a [`Hub`] like the daemon's own), over HTTP/1.1 on
//! the unix socket (hyper). [`connect`] tells the three cases apart: no
//! daemon (no socket, or a stale one a killed daemon left: the command
//! does the work itself), a daemon that answers, and one that does not
//! answer in time (stopped, hung) or may not be asked (permissions) —
//! then the command fails at once rather than wait for a database the
//! daemon holds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::http::Hello;
use crate::hub::{
    Answer, Done, Hub, HubError, MailAnswer, MailMode, Op, Query, SyncProgress, SyncRun,
};
use crate::inbound::source::RawMail;

/// How long a command waits for a daemon's `hello` before it gives up
/// on a daemon that accepts connections but does not answer.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a request may take (a mail's commit, a long query).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// What [`connect`] found on the control socket.
pub enum Connect {
    /// No daemon: no socket there, or nothing listening on it.
    NoDaemon,
    /// A daemon that answered.
    Daemon(Box<Remote>),
    /// Something that cannot be used: a daemon that did not answer in
    /// time, a socket this user may not connect to.
    Unusable(String),
}

/// A running daemon, reached over its control socket.
pub struct Remote {
    socket: PathBuf,
    rt: tokio::runtime::Runtime,
    sender: Mutex<Option<SendRequest<Body>>>,
    hello: Hello,
}

/// Connects to the daemon on `socket`, waiting up to `wait` for its
/// `hello`.
pub fn connect(socket: &Path, wait: Duration) -> Connect {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Connect::Unusable(format!("cannot start a runtime: {e}")),
    };
    let sender = match rt.block_on(open(socket)) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Connect::NoDaemon
        }
        Err(e) => {
            return Connect::Unusable(format!(
                "cannot connect to the daemon's control socket {}: {e}{}",
                socket.display(),
                if e.kind() == std::io::ErrorKind::PermissionDenied {
                    " (run this as the daemon's user, or as a member of its group)"
                } else {
                    ""
                }
            ))
        }
    };
    let remote = Remote {
        socket: socket.to_path_buf(),
        rt,
        sender: Mutex::new(Some(sender)),
        hello: Hello {
            pid: 0,
            version: String::new(),
        },
    };
    let empty = Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed_unsync();
    match remote.send(Method::GET, "/v1/hello", empty, wait) {
        Ok((StatusCode::OK, body)) => match serde_json::from_slice::<Hello>(&body) {
            Ok(hello) => Connect::Daemon(Box::new(Remote { hello, ..remote })),
            Err(e) => Connect::Unusable(format!(
                "{} answers, but not as buildmail serve: {e}",
                socket.display()
            )),
        },
        Ok((status, _)) => Connect::Unusable(format!(
            "{} answers {status}, not as buildmail serve",
            socket.display()
        )),
        Err(e) => Connect::Unusable(format!(
            "buildmail serve does not answer on {} ({}); a stopped or hung daemon holds the database: restart it (`systemctl restart buildmail`)",
            socket.display(),
            e.message
        )),
    }
}

/// A new HTTP/1.1 connection to `socket`.
async fn open(socket: &Path) -> std::io::Result<SendRequest<Body>> {
    let stream = tokio::net::UnixStream::connect(socket).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("control socket connection: {e}");
        }
    });
    Ok(sender)
}

/// The media type of a request's body: a mail, or JSON.
fn content_type(path: &str) -> &'static str {
    if path.starts_with("/v1/mail") {
        "message/rfc822"
    } else {
        "application/json"
    }
}

/// A JSON body.
fn json_body(v: &impl Serialize) -> Result<Body, HubError> {
    let bytes = serde_json::to_vec(v)
        .map_err(|e| HubError::unavailable(format!("cannot encode the request: {e}")))?;
    Ok(Full::new(Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed_unsync())
}

fn lost(e: impl std::fmt::Display) -> HubError {
    HubError::unavailable(format!("the daemon's answer was cut off: {e}"))
}

impl Remote {
    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.hello.pid
    }

    /// Sends a request and reads the whole answer (within `timeout`).
    fn send(
        &self,
        method: Method,
        path: &str,
        body: Body,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), HubError> {
        self.rt.block_on(async {
            let resp = tokio::time::timeout(timeout, self.start(method, path, body))
                .await
                .map_err(|_| HubError::unavailable(format!("no answer within {timeout:?}")))??;
            let status = resp.status();
            let body = tokio::time::timeout(timeout, resp.into_body().collect())
                .await
                .map_err(|_| HubError::unavailable(format!("no answer within {timeout:?}")))?
                .map_err(lost)?
                .to_bytes();
            Ok((status, body))
        })
    }

    /// Sends a request; the response with its body still to read.
    async fn start(
        &self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<hyper::Response<Incoming>, HubError> {
        let mut sender = self
            .sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        // A connection the daemon closed (idle) is opened again.
        let usable = match &mut sender {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        let mut sender = match (usable, sender) {
            (true, Some(s)) => s,
            _ => open(&self.socket).await.map_err(|e| {
                HubError::unavailable(format!("cannot connect to {}: {e}", self.socket.display()))
            })?,
        };
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "buildmail")
            .header(hyper::header::CONTENT_TYPE, content_type(path))
            .body(body)
            .map_err(|e| HubError::unavailable(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| HubError::unavailable(format!("the daemon did not answer: {e}")))?;
        *self
            .sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sender);
        Ok(resp)
    }

    /// POSTs `body` as JSON to `path`; the daemon's answer.
    fn call<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T, HubError> {
        let (status, bytes) = self.send(Method::POST, path, json_body(body)?, REQUEST_TIMEOUT)?;
        decode(status, &bytes)
    }

    /// GETs `path` and writes its body to `out` as it arrives; `Ok(false)`
    /// for a 404.
    fn download(&self, path: &str, out: &mut dyn Write) -> Result<bool, HubError> {
        self.rt.block_on(async {
            let empty = Full::new(Bytes::new())
                .map_err(|never| match never {})
                .boxed_unsync();
            let resp = tokio::time::timeout(REQUEST_TIMEOUT, self.start(Method::GET, path, empty))
                .await
                .map_err(|_| HubError::unavailable("no answer"))??;
            let status = resp.status();
            let mut body = resp.into_body();
            if status != StatusCode::OK {
                let bytes = body.collect().await.map_err(lost)?.to_bytes();
                if status == StatusCode::NOT_FOUND {
                    return Ok(false);
                }
                return decode::<()>(status, &bytes).map(|()| false);
            }
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.map_err(lost)?.into_data() {
                    out.write_all(&data)
                        .map_err(|e| HubError::unavailable(e.to_string()))?;
                }
            }
            Ok(true)
        })
    }
}

/// The daemon's `{"Ok": ...}` or `{"Err": ...}`.
fn decode<T: DeserializeOwned>(status: StatusCode, bytes: &[u8]) -> Result<T, HubError> {
    match serde_json::from_slice::<Result<T, HubError>>(bytes) {
        Ok(r) => r,
        Err(e) => Err(HubError::unavailable(format!(
            "the daemon answered {status} with something this buildmail cannot read ({e}); is it the same version?"
        ))),
    }
}

/// The body of a mail: its bytes, or its spill file read in pieces.
fn mail_body(raw: &RawMail) -> Result<Body, HubError> {
    Ok(match raw {
        RawMail::Bytes(b) => Full::new(Bytes::copy_from_slice(b))
            .map_err(|never| match never {})
            .boxed_unsync(),
        RawMail::Oversize { file, .. } => {
            let f = std::fs::File::open(file).map_err(|e| {
                HubError::unavailable(format!("cannot read {}: {e}", file.display()))
            })?;
            let pieces = futures_util::stream::unfold(Some(f), |f| async move {
                use std::io::Read;
                let mut f = f?;
                let mut buf = vec![0u8; 64 << 10];
                match f.read(&mut buf) {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok(Frame::data(Bytes::from(buf))), Some(f)))
                    }
                    Err(e) => Some((Err(e), None)),
                }
            });
            BodyExt::boxed_unsync(StreamBody::new(pieces.boxed()))
        }
    })
}

impl Hub for Remote {
    fn describe(&self) -> String {
        format!(
            "buildmail serve (pid {}) on {}",
            self.hello.pid,
            self.socket.display()
        )
    }

    fn submit(&self, raw: RawMail, mode: MailMode) -> Result<MailAnswer, HubError> {
        let mode = match mode {
            MailMode::Deliver => "deliver",
            MailMode::Import => "import",
        };
        let (status, bytes) = self.send(
            Method::POST,
            &format!("/v1/mail?mode={mode}"),
            mail_body(&raw)?,
            REQUEST_TIMEOUT,
        )?;
        decode(status, &bytes)
    }

    fn query(&self, q: Query) -> Result<Answer, HubError> {
        self.call("/v1/query", &q)
    }

    fn apply(&self, op: Op) -> Result<Done, HubError> {
        self.call("/v1/apply", &op)
    }

    fn sync(
        &self,
        suite: Option<String>,
        progress: &mut dyn FnMut(&SyncProgress),
    ) -> Result<SyncRun, HubError> {
        let run = match self.apply(Op::Sync { suite })? {
            Done::SyncStarted { run, .. } => run,
            Done::Synced(r) => return Ok(*r),
            other => {
                return Err(HubError::unavailable(format!(
                    "unexpected answer to a sync: {other:?}"
                )))
            }
        };
        loop {
            let Answer::Sync(state) = self.query(Query::Sync)? else {
                return Err(HubError::unavailable("unexpected answer to a sync query"));
            };
            if let Some(done) = state.finished.iter().find(|r| r.run == run) {
                return Ok(done.clone());
            }
            match &state.running {
                Some(p) if p.run == run => progress(p),
                _ if state.pending == Some(run) => {}
                Some(_) => {}
                None => {
                    return Err(HubError::unavailable(format!(
                        "sync {run} is neither running nor finished (the daemon restarted?)"
                    )))
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn copy_log(&self, id: &str, out: &mut dyn Write) -> Result<(), HubError> {
        if self.download(&format!("/v1/logs/{id}"), out)? {
            Ok(())
        } else {
            Err(HubError::refused(format!("no archived log {id}")))
        }
    }

    fn copy_quarantined(&self, id: u64, out: &mut dyn Write) -> Result<bool, HubError> {
        self.download(&format!("/v1/quarantine/{id}"), out)
    }
}
