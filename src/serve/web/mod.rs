//! The status pages on the read-only `[serve] http` listener: HTML
//! rendered on the server from minijinja templates (`templates/web/`,
//! built in), readable without JavaScript, and the same data as JSON under
//! `/api/`. Every page is a public hub query ([`crate::query::pages`]);
//! nothing here writes.
//!
//! | page | JSON | what |
//! |---|---|---|
//! | `/` | `/api/` | every suite and architecture with its counts; the builders |
//! | `/package/<src>` | `/api/package/<src>` | every build of a source: state, since, builder, explanation, logs; its history |
//! | `/log/<src>/<ver>/<arch>[/<n>]` | `/api/log/...` | a log, sections collapsible, the failing one open, the explained line marked (`#error-1`); streamed |
//! | `/log/<src>/<ver>/<arch>/<n>/raw` | | the log as archived (gzip as it came, zstd for a plain log), byte-exact |
//! | `/suite/<suite>/<arch>` | `/api/suite/...` | counts and their graph, the top of the queue, the problem states |
//! | `/queue/<suite>/<arch>?page=` | `/api/queue/...` | the needs-build queue in order, with each line's why |
//! | `/state/<suite>/<arch>/<state>?after=` | `/api/state/...` | the builds in one state, with why |
//! | `/builder/<name>` | `/api/builder/<name>` | what a builder builds, its logs, when it was last heard of |
//! | `/maintainer/<address>` | `/api/maintainer/<address>` | a maintainer's sources, failing ones first |
//! | `/failures[/<suite>/<arch>]` | `/api/failures...` | Build-Attempted and Failed builds grouped by cause |
//! | `/search?q=` | `/api/search?q=` | sources by name, maintainers by address or name |
//! | `/feed/package/<src>`, `/feed/maintainer/<address>` | | Atom feeds |
//! | `/states` | `/api/states` | the states and the diagram drawn from the transition table |
//! | `/metrics` | | Prometheus text |
//! | `/healthz` | | `ok` while the store answers |
//!
//! Every response carries a Content-Security-Policy that allows nothing
//! but this site's style sheet; every value is escaped by the templates
//! (auto-escaping) or by the log renderer.

pub mod log;
pub mod metrics;
mod render;
pub mod svg;

use std::sync::Arc;

use axum::extract::{Path, Query as Params, State as Shared};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::body::{blocking, stream};
use crate::hub::{Answer, Core, ErrorKind, Hub, HubError, Query};
use crate::model::state::State;

pub use render::Pages;

/// The Content-Security-Policy of every response: the site's own style
/// sheet and nothing else (no script, no frame, no form elsewhere).
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// What the handlers share.
pub struct Web {
    core: Arc<Core>,
    pages: Pages,
    /// Pages read and rendered at once (`serve.http_workers`), so that a
    /// flood of page requests leaves the mail its share.
    work: Arc<tokio::sync::Semaphore>,
    /// Logs streamed at once ([`STREAMS`]).
    streams: Arc<tokio::sync::Semaphore>,
}

/// How many logs are streamed at once; another waits up to
/// [`STREAM_WAIT`], then is told to come back (503).
pub const STREAMS: usize = 8;

/// How long a log waits for a stream slot.
pub const STREAM_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

type W = Arc<Web>;

/// The status pages' routes (merged into the public listener's).
pub fn routes(core: Arc<Core>) -> Router {
    let workers = core.config().serve.http_workers;
    let web = Arc::new(Web {
        core,
        pages: Pages::new(),
        work: Arc::new(tokio::sync::Semaphore::new(workers)),
        streams: Arc::new(tokio::sync::Semaphore::new(STREAMS)),
    });
    Router::new()
        .route("/", get(index::<false>))
        .route("/api/", get(index::<true>))
        .route("/package/{src}", get(package::<false>))
        .route("/api/package/{src}", get(package::<true>))
        .route("/log/{src}/{ver}/{arch}", get(log_newest::<false>))
        .route("/log/{src}/{ver}/{arch}/{n}", get(log_nth::<false>))
        .route("/log/{src}/{ver}/{arch}/{n}/raw", get(log_raw))
        .route("/api/log/{src}/{ver}/{arch}", get(log_newest::<true>))
        .route("/api/log/{src}/{ver}/{arch}/{n}", get(log_nth::<true>))
        .route("/suite/{suite}/{arch}", get(suite::<false>))
        .route("/api/suite/{suite}/{arch}", get(suite::<true>))
        .route("/queue/{suite}/{arch}", get(queue::<false>))
        .route("/api/queue/{suite}/{arch}", get(queue::<true>))
        .route("/state/{suite}/{arch}/{state}", get(in_state::<false>))
        .route("/api/state/{suite}/{arch}/{state}", get(in_state::<true>))
        .route("/builder/{name}", get(builder::<false>))
        .route("/api/builder/{name}", get(builder::<true>))
        .route("/maintainer/{address}", get(maintainer::<false>))
        .route("/api/maintainer/{address}", get(maintainer::<true>))
        .route("/failures", get(failures_all::<false>))
        .route("/api/failures", get(failures_all::<true>))
        .route("/failures/{suite}/{arch}", get(failures::<false>))
        .route("/api/failures/{suite}/{arch}", get(failures::<true>))
        .route("/search", get(search::<false>))
        .route("/api/search", get(search::<true>))
        .route("/feed/package/{src}", get(feed_package))
        .route("/feed/maintainer/{address}", get(feed_maintainer))
        .route("/states", get(states::<false>))
        .route("/api/states", get(states::<true>))
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(metrics::healthz))
        .route("/static/style.css", get(style))
        .fallback(fallback)
        .with_state(web)
}

/// Adds the security headers to every response of the listener.
pub async fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

/// HTML or JSON.
#[derive(Clone, Copy, PartialEq, Eq)]
enum As {
    Html,
    Json,
}

/// Runs `f` on the blocking pool once a page slot is free ([`Web::work`]).
async fn run<T: Send + 'static>(
    web: &W,
    f: impl FnOnce(&Web) -> Result<T, HubError> + Send + 'static,
) -> Result<T, HubError> {
    let permit = web
        .work
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| HubError::unavailable(e.to_string()))?;
    let w = web.clone();
    blocking(move || {
        let _slot = permit;
        f(&w)
    })
    .await
}

/// Asks the hub, in a page slot.
async fn ask(web: &W, q: Query) -> Result<Answer, HubError> {
    run(web, move |w| w.core.query(q)).await
}

/// The value an answer carries (`null`: nothing found).
fn value_of(a: &Answer) -> serde_json::Value {
    match serde_json::to_value(a) {
        Ok(serde_json::Value::Object(mut m)) => m.remove("value").unwrap_or_default(),
        _ => serde_json::Value::Null,
    }
}

/// Answers `q` as the page `template` or as JSON (read and rendered in a
/// page slot); an empty answer is a 404 saying `missing`.
async fn view(web: W, q: Query, template: &'static str, to: As, missing: String) -> Response {
    let answer = run(&web, move |w| {
        let a = w.core.query(q)?;
        Ok(match to {
            As::Json => {
                let v = value_of(&a);
                (!v.is_null()).then(|| json(StatusCode::OK, &v))
            }
            // Straight from the answer to the template's values.
            As::Html => {
                let v = minijinja::Value::from_serialize(&a)
                    .get_attr("value")
                    .unwrap_or_default();
                (!v.is_none() && !v.is_undefined()).then(|| w.pages.page(template, &v))
            }
        })
    })
    .await;
    match answer {
        Err(e) => failure(&web, to, &e),
        Ok(None) => not_found(&web, to, &missing),
        Ok(Some(r)) => r,
    }
}

/// `v` as a JSON response. `<`, `>` and `&` are written as `\u003c`,
/// `\u003e`, `\u0026` (the same JSON): a JSON answer opened as a page
/// holds no markup.
fn json(status: StatusCode, v: &serde_json::Value) -> Response {
    let text = serde_json::to_string(v).unwrap_or_default();
    // These characters occur only inside JSON strings.
    let mut body = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => body.push_str("\\u003c"),
            '>' => body.push_str("\\u003e"),
            '&' => body.push_str("\\u0026"),
            c => body.push(c),
        }
    }
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A 404 that says what was not found.
fn not_found(web: &W, to: As, what: &str) -> Response {
    match to {
        As::Json => json(StatusCode::NOT_FOUND, &serde_json::json!({ "error": what })),
        As::Html => {
            let mut r = web.pages.page(
                "error.html",
                &serde_json::json!({ "title": "Not found", "message": what }),
            );
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    }
}

/// The hub's error as a page or JSON, with its status.
fn failure(web: &W, to: As, e: &HubError) -> Response {
    let status = match e.kind {
        ErrorKind::Refused => StatusCode::BAD_REQUEST,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Permanent => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
    };
    let mut r = match to {
        As::Json => json(status, &serde_json::json!({ "error": e.message })),
        As::Html => web.pages.page(
            "error.html",
            &serde_json::json!({ "title": "Cannot answer", "message": e.message }),
        ),
    };
    *r.status_mut() = status;
    r
}

async fn fallback(Shared(web): Shared<W>, uri: Uri) -> Response {
    let to = if uri.path().starts_with("/api/") {
        As::Json
    } else {
        As::Html
    };
    not_found(&web, to, &format!("there is no page at {}", uri.path()))
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        render::STYLE,
    )
        .into_response()
}

/// `As::Json` for the `/api/` twin of a page (the handlers' const
/// parameter).
const fn to(json: bool) -> As {
    if json {
        As::Json
    } else {
        As::Html
    }
}

async fn index<const J: bool>(Shared(web): Shared<W>) -> Response {
    view(web, Query::Overview, "index.html", to(J), String::new()).await
}

async fn package<const J: bool>(Shared(web): Shared<W>, Path(src): Path<String>) -> Response {
    let (q, m) = source_query(src);
    view(web, q, "package.html", to(J), m).await
}

fn source_query(src: String) -> (Query, String) {
    let missing = format!("no build of a source package named {src:?} is known");
    (Query::Source { source: src }, missing)
}

fn log_missing(src: &str, ver: &str, arch: &str, n: Option<usize>) -> String {
    match n {
        Some(n) => format!("{src} {ver} has no log number {n} on {arch}"),
        None => format!("no log of {src} {ver} on {arch} is archived"),
    }
}

/// `n` of a log path: a number from 1.
fn log_number(n: &str) -> Option<usize> {
    n.parse::<usize>().ok().filter(|n| *n > 0)
}

/// The 404 of a log path whose `n` is not a log number.
fn not_a_number(web: &W, to: As, n: &str) -> Response {
    not_found(
        web,
        to,
        &format!("{n:?} is not a log number (1 is the oldest log)"),
    )
}

/// A log's page, or its data.
async fn a_log(
    web: W,
    src: String,
    ver: String,
    arch: String,
    n: Option<usize>,
    to: As,
) -> Response {
    if to == As::Html {
        return log::page(web, src, ver, arch, n).await;
    }
    let m = log_missing(&src, &ver, &arch, n);
    let q = Query::Log {
        source: src,
        version: ver,
        arch,
        n,
    };
    view(web, q, "", As::Json, m).await
}

async fn log_newest<const J: bool>(
    Shared(web): Shared<W>,
    Path((src, ver, arch)): Path<(String, String, String)>,
) -> Response {
    a_log(web, src, ver, arch, None, to(J)).await
}

async fn log_nth<const J: bool>(
    Shared(web): Shared<W>,
    Path((src, ver, arch, n)): Path<(String, String, String, String)>,
) -> Response {
    match log_number(&n) {
        Some(n) => a_log(web, src, ver, arch, Some(n), to(J)).await,
        None => not_a_number(&web, to(J), &n),
    }
}

async fn log_raw(
    Shared(web): Shared<W>,
    Path((src, ver, arch, n)): Path<(String, String, String, String)>,
) -> Response {
    match log_number(&n) {
        Some(n) => log::raw(web, src, ver, arch, n).await,
        None => not_a_number(&web, As::Html, &n),
    }
}

async fn suite<const J: bool>(
    Shared(web): Shared<W>,
    Path((suite, arch)): Path<(String, String)>,
) -> Response {
    let m = format!("no build of {suite}/{arch} is known");
    view(web, Query::Suite { suite, arch }, "suite.html", to(J), m).await
}

/// `?page=`.
#[derive(Debug, Deserialize)]
struct PageParam {
    #[serde(default)]
    page: Option<usize>,
}

async fn queue<const J: bool>(
    Shared(web): Shared<W>,
    Path((suite, arch)): Path<(String, String)>,
    Params(p): Params<PageParam>,
) -> Response {
    let q = Query::QueuePage {
        suite,
        arch,
        page: p.page.unwrap_or(1),
    };
    view(web, q, "queue.html", to(J), String::new()).await
}

/// `?after=`.
#[derive(Debug, Deserialize)]
struct AfterParam {
    #[serde(default)]
    after: Option<String>,
}

async fn in_state<const J: bool>(
    Shared(web): Shared<W>,
    Path((suite, arch, state)): Path<(String, String, String)>,
    Params(p): Params<AfterParam>,
) -> Response {
    let Some(state) = State::parse(&state) else {
        let m = format!("{state:?} is not a state (the states page lists them)");
        return not_found(&web, to(J), &m);
    };
    let q = Query::InState {
        suite,
        arch,
        state,
        after: p.after,
    };
    view(web, q, "state.html", to(J), String::new()).await
}

async fn builder<const J: bool>(Shared(web): Shared<W>, Path(name): Path<String>) -> Response {
    let m = format!("no log names the builder {name:?} and it is building nothing");
    view(web, Query::Builder { name }, "builder.html", to(J), m).await
}

fn maintainer_query(address: String) -> (Query, String) {
    let m = format!("no source names {address:?} as its Maintainer or an Uploader");
    (Query::Maintainer { address }, m)
}

async fn maintainer<const J: bool>(
    Shared(web): Shared<W>,
    Path(address): Path<String>,
) -> Response {
    let (q, m) = maintainer_query(address);
    view(web, q, "maintainer.html", to(J), m).await
}

async fn failures_all<const J: bool>(Shared(web): Shared<W>) -> Response {
    let q = Query::Failures {
        suite: None,
        arch: None,
    };
    view(web, q, "failures.html", to(J), String::new()).await
}

async fn failures<const J: bool>(
    Shared(web): Shared<W>,
    Path((suite, arch)): Path<(String, String)>,
) -> Response {
    let q = Query::Failures {
        suite: Some(suite),
        arch: Some(arch),
    };
    view(web, q, "failures.html", to(J), String::new()).await
}

/// `?q=`.
#[derive(Debug, Deserialize)]
struct SearchParam {
    #[serde(default)]
    q: String,
}

/// The longest search accepted.
const MAX_SEARCH: usize = 200;

async fn search<const J: bool>(Shared(web): Shared<W>, Params(p): Params<SearchParam>) -> Response {
    let q = Query::Search {
        q: p.q.chars().take(MAX_SEARCH).collect(),
    };
    view(web, q, "search.html", to(J), String::new()).await
}

/// An Atom feed: `template` rendered from the answer to `q`.
async fn feed(web: W, q: Query, template: &'static str, missing: String) -> Response {
    let mut r = view(web, q, template, As::Html, missing).await;
    if r.status() == StatusCode::OK {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/atom+xml; charset=utf-8"),
        );
    }
    r
}

async fn feed_package(Shared(web): Shared<W>, Path(src): Path<String>) -> Response {
    let (q, m) = source_query(src);
    feed(web, q, "package.atom.xml", m).await
}

async fn feed_maintainer(Shared(web): Shared<W>, Path(address): Path<String>) -> Response {
    let (q, m) = maintainer_query(address);
    feed(web, q, "maintainer.atom.xml", m).await
}

async fn states<const J: bool>(Shared(web): Shared<W>) -> Response {
    view(web, Query::States, "states.html", to(J), String::new()).await
}

/// A response body written on the blocking pool (the log renderer's).
fn streamed(r: Response, content_type: &'static str) -> Response {
    let mut r = r;
    if r.status() == StatusCode::OK {
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    r
}
