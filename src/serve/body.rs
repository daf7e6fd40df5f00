//! Work on tokio's blocking pool for the HTTP doors: a request's reads
//! ([`blocking`]), and a response body written there and sent in pieces
//! as it is written ([`stream`]: an archived log, a quarantined mail, the
//! log viewer's page), never whole in memory.

use std::io::Write;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;

use serde::Serialize;

use crate::hub::{ErrorKind, HubError};

/// The HTTP status of an answer.
fn status<T>(r: &Result<T, HubError>) -> StatusCode {
    match r {
        Ok(_) => StatusCode::OK,
        Err(e) => match e.kind {
            ErrorKind::Refused => StatusCode::CONFLICT,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Permanent => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        },
    }
}

/// `r` as the response: its status, and `{"Ok": ...}` or `{"Err": ...}`.
pub(super) fn answer<T: Serialize>(r: Result<T, HubError>) -> Response {
    (status(&r), Json(r)).into_response()
}

/// Runs `f` on the blocking pool.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HubError> + Send + 'static,
) -> Result<T, HubError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(HubError::unavailable(format!("internal error: {e}"))))
}

/// Bytes written on the blocking pool, handed to the response body in
/// pieces (never the whole in memory).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

/// The size of the pieces a streamed body is sent in.
const PIECE: usize = 64 << 10;

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE)));
        self.tx.blocking_send(piece).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PIECE {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Streams what `f` writes as the response body; `f`'s `Ok(false)` is a
/// 404, an error before the first byte an error answer, an error after it
/// a body cut off (the client sees an incomplete response).
pub(super) async fn stream(
    f: impl FnOnce(&mut dyn Write) -> Result<bool, HubError> + Send + 'static,
) -> Response {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let job = tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx,
            buf: Vec::with_capacity(PIECE),
        };
        let found = f(&mut w)?;
        w.flush()
            .map_err(|e| HubError::unavailable(e.to_string()))?;
        Ok::<bool, HubError>(found)
    });
    let Some(first) = rx.recv().await else {
        return match job.await {
            Ok(Ok(true)) => StatusCode::OK.into_response(),
            Ok(Ok(false)) => (
                StatusCode::NOT_FOUND,
                Json(Err::<(), _>(HubError::refused("no such item"))),
            )
                .into_response(),
            Ok(Err(e)) => answer::<()>(Err(e)),
            Err(e) => answer::<()>(Err(HubError::unavailable(format!("internal error: {e}")))),
        };
    };
    let body = futures_util::stream::unfold(
        (Some(first), rx, Some(job)),
        |(first, mut rx, job)| async move {
            if let Some(b) = first {
                return Some((Ok(b), (None, rx, job)));
            }
            if let Some(b) = rx.recv().await {
                return Some((Ok(b), (None, rx, job)));
            }
            let failed = match job?.await {
                Ok(Ok(_)) => return None,
                Ok(Err(e)) => e.message,
                Err(e) => e.to_string(),
            };
            Some((Err(std::io::Error::other(failed)), (None, rx, None)))
        },
    );
    Response::new(Body::from_stream(body))
}
