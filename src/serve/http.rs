//! The daemon's HTTP/1.1 + JSON doors (axum on the daemon's runtime).
//!
//! On the control socket ([`control`]; a unix socket whose mode and group
//! are the access control):
//!
//! | request | what |
//! |---|---|
//! | `GET /v1/hello` | the daemon's pid, version and start, answered without the store (a liveness check) |
//! | `POST /v1/query` (a JSON [`Query`]) | the view, as JSON `{"Ok": answer}` or `{"Err": error}` |
//! | `POST /v1/apply` (a JSON [`Op`]) | the write, likewise |
//! | `POST /v1/mail?mode=deliver\|import` (the raw mail) | the mail ingested: 200 once durable, else an error |
//! | `GET /v1/logs/<id>` | an archived log, decompressed, byte-exact |
//! | `GET /v1/quarantine/<id>` | a quarantined mail, byte-exact |
//!
//! On the read-only TCP listener ([`public`], `[serve] http`): `hello`,
//! the public queries ([`Query::is_public`]) and the logs, and the status
//! pages ([`super::web`]); nothing that writes, and not the quarantine,
//! the outbox or the signatures.
//!
//! Every request that reads or writes the store runs on the blocking
//! pool; a mail's body is read as it arrives, and one over
//! `limits.max_message_size` goes to a file, never to memory.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query as Params, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::body::{answer, blocking, stream};
use super::Listener;
use crate::hub::{Core, ErrorKind, Hub, HubError, MailMode, Op, Query};
use crate::inbound::source::{RawMail, Sink};

/// What `GET /v1/hello` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The daemon's process id.
    pub pid: u32,
    /// Its version (`buildmail --version`).
    pub version: String,
}

/// The routes of the control socket.
pub(super) fn control(core: Arc<Core>) -> Router {
    Router::new()
        .route("/v1/hello", get(hello))
        .route("/v1/query", post(query_any))
        .route("/v1/apply", post(apply))
        .route("/v1/mail", post(mail))
        .route("/v1/logs/{id}", get(log))
        .route("/v1/quarantine/{id}", get(quarantined))
        .with_state(core)
}

/// The routes of the read-only TCP listener: the public queries and the
/// status pages ([`super::web`]), every response with the pages'
/// security headers.
pub(super) fn public(core: Arc<Core>) -> Router {
    Router::new()
        .route("/v1/hello", get(hello))
        .route("/v1/query", post(query_public))
        .route("/v1/logs/{id}", get(log))
        .with_state(core.clone())
        .merge(super::web::routes(core))
        .layer(axum::middleware::map_response(super::web::secure))
}

/// Serves `router` on `listener` until `stop` turns true (requests in
/// progress finish).
pub(super) async fn serve(
    router: Router,
    listener: Listener,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let result = match listener {
        Listener::Unix(l, path) => {
            let r = axum::serve(l, router).with_graceful_shutdown(stopped).await;
            if let Some(p) = path {
                let _ = std::fs::remove_file(p);
            }
            r
        }
        Listener::Tcp(l) => axum::serve(l, router).with_graceful_shutdown(stopped).await,
    };
    if let Err(e) = result {
        tracing::error!("serve: http: {e}");
    }
}

async fn hello() -> Json<Hello> {
    Json(Hello {
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

async fn query_any(State(core): State<Arc<Core>>, Json(q): Json<Query>) -> Response {
    answer(blocking(move || core.query(q)).await)
}

async fn query_public(State(core): State<Arc<Core>>, Json(q): Json<Query>) -> Response {
    if !q.is_public() {
        return answer::<()>(Err(HubError {
            kind: ErrorKind::Forbidden,
            message: "this listener answers only the public views (builds, histories, logs, the queue, the status); ask on the control socket".into(),
        }));
    }
    answer(blocking(move || core.query(q)).await)
}

async fn apply(State(core): State<Arc<Core>>, Json(op): Json<Op>) -> Response {
    answer(blocking(move || core.apply(op)).await)
}

/// `?mode=` of `POST /v1/mail`.
#[derive(Debug, Deserialize)]
struct MailParams {
    #[serde(default)]
    mode: MailMode,
}

async fn mail(
    State(core): State<Arc<Core>>,
    Params(params): Params<MailParams>,
    body: Body,
) -> Response {
    let config = core.config();
    let raw = match receive(
        body,
        config.limits.max_message_size,
        &config.quarantine_dir(),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            // Cut off, or the spill file could not be written: nothing is
            // committed, so the sender keeps the mail.
            return answer::<()>(Err(HubError::unavailable(format!(
                "the mail did not arrive whole: {e}"
            ))));
        }
    };
    answer(blocking(move || core.submit(raw, params.mode)).await)
}

/// Reads a mail's body as it arrives, spilling it to a file in `spill`
/// past `max` bytes.
async fn receive(body: Body, max: u64, spill: &std::path::Path) -> std::io::Result<RawMail> {
    let mut stream = body.into_data_stream();
    let mut sink = Sink::new(max, spill);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(std::io::Error::other)?;
        sink.write(&chunk)?;
    }
    sink.finish()
}

async fn log(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return answer::<()>(Err(HubError::refused(format!("{id:?} is not a log id"))));
    }
    stream(move |w| core.copy_log(&id, w).map(|()| true)).await
}

async fn quarantined(State(core): State<Arc<Core>>, Path(id): Path<u64>) -> Response {
    stream(move |w| core.copy_quarantined(id, w)).await
}
