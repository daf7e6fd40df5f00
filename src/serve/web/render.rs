//! The templates (`templates/web/`, built into the binary) and what they
//! are rendered with: minijinja, auto-escaping every value (`.html` and
//! `.xml` templates), and a few filters and functions of buildmail's own.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, Error, ErrorKind, Value};

use crate::model::state::State;
use crate::query::pages::StatesPage;
use crate::store::DayCounts;

/// The style sheet (`/static/style.css`).
pub const STYLE: &str = include_str!("../../../templates/web/style.css");

/// The templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../../templates/web/base.html"),
    ),
    (
        "index.html",
        include_str!("../../../templates/web/index.html"),
    ),
    (
        "package.html",
        include_str!("../../../templates/web/package.html"),
    ),
    ("log.html", include_str!("../../../templates/web/log.html")),
    (
        "suite.html",
        include_str!("../../../templates/web/suite.html"),
    ),
    (
        "queue.html",
        include_str!("../../../templates/web/queue.html"),
    ),
    (
        "state.html",
        include_str!("../../../templates/web/state.html"),
    ),
    (
        "state_rows.html",
        include_str!("../../../templates/web/state_rows.html"),
    ),
    (
        "builder.html",
        include_str!("../../../templates/web/builder.html"),
    ),
    (
        "maintainer.html",
        include_str!("../../../templates/web/maintainer.html"),
    ),
    (
        "failures.html",
        include_str!("../../../templates/web/failures.html"),
    ),
    (
        "search.html",
        include_str!("../../../templates/web/search.html"),
    ),
    (
        "states.html",
        include_str!("../../../templates/web/states.html"),
    ),
    (
        "error.html",
        include_str!("../../../templates/web/error.html"),
    ),
    (
        "package.atom.xml",
        include_str!("../../../templates/web/package.atom.xml"),
    ),
    (
        "maintainer.atom.xml",
        include_str!("../../../templates/web/maintainer.atom.xml"),
    ),
];

/// The page renderer.
pub struct Pages {
    env: Environment<'static>,
}

/// A Unix time as `2024-01-15 10:00 UTC`.
fn time(t: i64) -> String {
    crate::time::format_time(t)
}

/// A Unix time as RFC 3339 (Atom).
fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// A byte count in words (`12.3 MiB`).
fn size(n: u64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// One URL path segment, percent-encoded (everything but unreserved
/// characters), so a value can never leave its segment.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A value as CSS class material: lower-case letters, digits and `-`.
fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn from_value<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, Error> {
    let j = serde_json::to_value(v)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    serde_json::from_value(j).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
}

impl Pages {
    /// Loads the built-in templates (a template that does not parse is a
    /// bug: the tests render every page).
    pub fn new() -> Pages {
        let mut env = Environment::new();
        for (name, text) in TEMPLATES {
            if let Err(e) = env.add_template(name, text) {
                tracing::error!("serve: web template {name}: {e}");
            }
        }
        env.add_filter("time", |t: i64| time(t));
        env.add_filter("rfc3339", |t: i64| rfc3339(t));
        env.add_filter("size", |n: u64| size(n));
        env.add_filter("seg", |s: String| seg(&s));
        env.add_filter("slug", |s: String| slug(&s));
        env.add_filter("meaning", |s: String| {
            State::parse(&s).map_or(String::new(), |s| s.meaning().to_string())
        });
        env.add_function("graph", |days: Value, counts: Value, today: i64| {
            let days: Vec<DayCounts> = from_value(&days)?;
            let counts = from_value(&counts)?;
            Ok(Value::from_safe_string(super::svg::graph(
                &days, &counts, today,
            )))
        });
        env.add_function("diagram", |page: Value| {
            let page: StatesPage = from_value(&page)?;
            Ok(Value::from_safe_string(super::svg::diagram(&page)))
        });
        Pages { env }
    }

    /// `template` rendered with `p` (the page's data); an error in
    /// rendering is a 500 page saying so.
    pub fn render(&self, template: &str, p: &impl serde::Serialize) -> Result<String, String> {
        let t = self.env.get_template(template).map_err(|e| e.to_string())?;
        t.render(minijinja::context! { p => Value::from_serialize(p) })
            .map_err(|e| format!("{e:#}"))
    }

    /// The page `template` for `p`, as a response.
    pub fn page(&self, template: &str, p: &impl serde::Serialize) -> Response {
        match self.render(template, p) {
            Ok(html) => {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
            }
            Err(e) => {
                tracing::error!("serve: web: rendering {template}: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    format!("the page could not be rendered: {e}\n"),
                )
                    .into_response()
            }
        }
    }
}

impl Default for Pages {
    fn default() -> Pages {
        Pages::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let mut env = Environment::new();
        for (name, text) in TEMPLATES {
            env.add_template(name, text)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn segments_cannot_escape() {
        assert_eq!(seg("1:2.0+b1~rc"), "1%3A2.0%2Bb1~rc");
        assert_eq!(seg("../x\"<"), "..%2Fx%22%3C");
        assert_eq!(size(512), "512 bytes");
        assert_eq!(size(3 << 20), "3.0 MiB");
    }
}
