//! `/metrics` (the Prometheus text format, version 0.0.4) and `/healthz`.

use std::fmt::Write;

use axum::extract::State as Shared;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ask, W};
use crate::hub::{Answer, Query};
use crate::query::pages::Metrics;

/// A label value escaped as the text format wants.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric's HELP and TYPE lines.
fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The metrics in the text format; `now` dates the sync ages.
pub fn text(m: &Metrics, now: i64) -> String {
    let mut o = String::new();
    let s = &m.status;
    head(
        &mut o,
        "buildmail_up",
        "gauge",
        "1 while the daemon answers.",
    );
    let _ = writeln!(o, "buildmail_up 1");
    if let Some(d) = &s.daemon {
        head(
            &mut o,
            "buildmail_start_time_seconds",
            "gauge",
            "When the daemon started (Unix seconds).",
        );
        let _ = writeln!(o, "buildmail_start_time_seconds {}", d.started);
        head(
            &mut o,
            "buildmail_mails_committed_total",
            "counter",
            "Mails the daemon committed since it started.",
        );
        let _ = writeln!(o, "buildmail_mails_committed_total {}", d.committed);
    }
    head(
        &mut o,
        "buildmail_mails_total",
        "counter",
        "Mails committed since the daemon started, by outcome.",
    );
    for (k, v) in &m.outcomes {
        let _ = writeln!(o, "buildmail_mails_total{{outcome=\"{}\"}} {v}", label(k));
    }
    head(
        &mut o,
        "buildmail_refusals_total",
        "counter",
        "Mails refused since the daemon started, by reason (command, replay, duplicate, quarantined).",
    );
    for (k, v) in &m.refusals {
        let _ = writeln!(o, "buildmail_refusals_total{{reason=\"{}\"}} {v}", label(k));
    }
    head(
        &mut o,
        "buildmail_refusals_unanswered_total",
        "counter",
        "Refused replies nobody was told of (strangers, past the error-reply limits), over the database's life.",
    );
    let _ = writeln!(o, "buildmail_refusals_unanswered_total {}", s.unanswered);
    for (name, help, v) in [
        (
            "buildmail_outbox_mails",
            "Mails in the outbox (waiting, retried or dead).",
            s.outbox,
        ),
        (
            "buildmail_outbox_dead_mails",
            "Outbox mails given up (outbox.max_age).",
            s.outbox_dead,
        ),
        (
            "buildmail_jobs",
            "Jobs waiting or running (uploads, queue removals, purges).",
            s.jobs,
        ),
        (
            "buildmail_quarantined_mails",
            "Mails in the quarantine.",
            s.quarantined,
        ),
        (
            "buildmail_explanations_pending",
            "Failed logs waiting for their explanation.",
            s.explanations,
        ),
        (
            "buildmail_notices_pending",
            "Build-failure notices waiting for their quiet period.",
            s.notices,
        ),
        ("buildmail_builds", "Builds known.", s.builds),
    ] {
        head(&mut o, name, "gauge", help);
        let _ = writeln!(o, "{name} {v}");
    }
    head(
        &mut o,
        "buildmail_needs_build",
        "gauge",
        "Builds in the needs-build queue, by suite and architecture.",
    );
    for q in &s.needs_build {
        let _ = writeln!(
            o,
            "buildmail_needs_build{{suite=\"{}\",arch=\"{}\"}} {}",
            label(&q.dist),
            label(&q.arch),
            q.builds
        );
    }
    head(
        &mut o,
        "buildmail_builds_in_state",
        "gauge",
        "Builds by suite, architecture and state.",
    );
    for c in &m.states {
        for (state, n) in &c.counts {
            let _ = writeln!(
                o,
                "buildmail_builds_in_state{{suite=\"{}\",arch=\"{}\",state=\"{}\"}} {n}",
                label(&c.dist),
                label(&c.arch),
                state.as_str()
            );
        }
    }
    head(
        &mut o,
        "buildmail_sync_age_seconds",
        "gauge",
        "Seconds since each suite's archive was last merged (absent: never).",
    );
    for r in &s.releases {
        if let Some(t) = r.synced {
            let _ = writeln!(
                o,
                "buildmail_sync_age_seconds{{suite=\"{}\"}} {}",
                label(&r.suite),
                (now - t).max(0)
            );
        }
    }
    o
}

pub(super) async fn metrics(Shared(web): Shared<W>) -> Response {
    let now = web.core.clock().now();
    match ask(&web, Query::Metrics).await {
        Ok(Answer::Metrics(m)) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text(&m, now),
        )
            .into_response(),
        Ok(_) => (StatusCode::INTERNAL_SERVER_ERROR, "unexpected answer\n").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("buildmail_up 0\n# {}\n", e.message.replace('\n', " ")),
        )
            .into_response(),
    }
}

pub(super) async fn healthz(Shared(web): Shared<W>) -> Response {
    let core = web.core.clone();
    match tokio::task::spawn_blocking(move || core.store().seen("healthz")).await {
        Ok(Ok(_)) => (StatusCode::OK, "ok\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the store does not answer: {e}\n"),
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}
