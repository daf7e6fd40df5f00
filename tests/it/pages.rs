//! The status pages on `[serve] http`, read over HTTP from a real `serve`
//! with the fixture mails delivered (`support::web`): every page and its
//! JSON, what a missing thing's 404 says, hostile content escaped
//! everywhere, the security headers, nothing that writes.

use crate::support::web::*;

/// Every page must be free of the hostile strings as they are.
fn assert_clean(path: &str, body: &str) {
    assert!(!body.contains(SCRIPT), "{path} shows a script tag: {body}");
    assert!(
        !body.contains(ATTRIBUTE),
        "{path} breaks an attribute: {body}"
    );
    assert!(!body.contains("<script"), "{path}: {body}");
}

fn ok(addr: &str, path: &str) -> Response {
    let r = get(addr, path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert_eq!(
        r.header("content-security-policy"),
        Some(CSP_EXPECTED),
        "{path}"
    );
    match r.header("content-type") {
        Some("application/json") => {
            // Markup characters only as \u escapes.
            assert!(!r.text().contains('<'), "{path}: {}", r.text());
        }
        Some("application/gzip" | "application/zstd") => {}
        _ => assert_clean(path, &r.text()),
    }
    r
}

const CSP_EXPECTED: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[test]
fn the_source_page_shows_every_build_why_and_its_logs() {
    let dir = tempfile::tempdir().unwrap();
    let (_farm, daemon, addr) = site(dir.path());
    let html = ok(&addr, "/package/evil").text();
    assert!(html.contains("Build-Attempted"), "{html}");
    assert!(
        html.contains("the build failed; waiting for an admin"),
        "{html}"
    );
    assert!(html.contains("href=\"/states#build-attempted\""), "{html}");
    assert!(html.contains("fail-stage <code>build</code>"), "{html}");
    // The explanation, escaped, and the link to its line.
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{html}"
    );
    assert!(html.contains("/log/evil/1.0-1/amd64/1#error-1"), "{html}");
    // Maintainer and uploader, the hostile name escaped.
    assert!(
        html.contains("href=\"/maintainer/mallory%40example.org\""),
        "{html}"
    );
    assert!(
        html.contains("href=\"/maintainer/jane%40example.org\">Jane Doe</a>"),
        "{html}"
    );
    // arm64 was never built: Needs-Build, with its meaning.
    assert!(html.contains("unstable/arm64"), "{html}");
    assert!(
        html.contains("waiting in the queue for a builder"),
        "{html}"
    );
    // The history, newest first.
    assert!(html.contains("log:attempted"), "{html}");
    let json = ok(&addr, "/api/package/evil").json();
    let builds = json["builds"].as_array().unwrap();
    assert_eq!(builds.len(), 2);
    let amd64 = builds
        .iter()
        .find(|b| b["record"]["key"]["arch"] == "amd64")
        .unwrap();
    assert_eq!(amd64["record"]["state"], "Build-Attempted");
    assert!(amd64["record"]["explanation"]["summary"]
        .as_str()
        .unwrap()
        .contains(SCRIPT));
    assert_eq!(amd64["last_log"]["n"], 1);
    assert_eq!(json["people"][0]["address"], "mallory@example.org");

    let missing = get(&addr, "/package/nosuch");
    assert_eq!(missing.status, 404);
    assert!(
        missing
            .text()
            .contains("no build of a source package named &quot;nosuch&quot; is known"),
        "{}",
        missing.text()
    );
    let missing = get(&addr, "/api/package/nosuch");
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json()["error"],
        "no build of a source package named \"nosuch\" is known"
    );
    // A hostile path is escaped in the 404 too.
    let r = get(&addr, "/package/%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(r.status, 404);
    assert_clean("/package/<script>", &r.text());
    assert!(daemon.stop().success());
}

#[test]
fn the_log_viewer_folds_sections_marks_the_error_and_downloads_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (farm, daemon, addr) = site(dir.path());
    let r = ok(&addr, "/log/evil/1.0-1/amd64");
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = r.text();
    assert!(
        html.contains("<details id=\"s2\"><summary>evil 1.0-1 (amd64)</summary>"),
        "{html}"
    );
    assert!(
        html.contains("<details id=\"s3\"><summary>Update chroot</summary>"),
        "{html}"
    );
    assert!(
        html.contains("<details id=\"s4\" open><summary>Build</summary>"),
        "{html}"
    );
    assert!(html.contains("open><summary>Summary</summary>"), "{html}");
    assert!(
        html.contains("<mark class=\"error\" id=\"error-1\""),
        "the explained line is marked: {html}"
    );
    let marked = html.split("id=\"error-1\"").nth(1).unwrap();
    assert!(
        marked.starts_with(" title=\"line ")
            && marked.contains("src/evil.c:7:1: error: &lt;script&gt;alert(1)&lt;/script&gt; &quot;onmouseover=alert(2)</mark>"),
        "{marked}"
    );
    assert!(
        html.contains("bytes \u{fffd}\u{fffd}\u{fffd} not UTF-8"),
        "{html}"
    );
    assert!(html.contains("href=\"#error-1\""), "{html}");
    // The same page by number, and a number that does not exist.
    assert_eq!(ok(&addr, "/log/evil/1.0-1/amd64/1").text(), html);
    let r = get(&addr, "/log/evil/1.0-1/amd64/2");
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("evil 1.0-1 has no log number 2 on amd64"),
        "{}",
        r.text()
    );
    let r = get(&addr, "/log/evil/9.9/amd64");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("no log of evil 9.9 on amd64 is archived"));
    assert_eq!(get(&addr, "/log/evil/1.0-1/amd64/0").status, 404);
    // The raw download: the archived blob, byte for byte (the log came as
    // plain text, so it is kept in zstd), and the log inside it is the
    // delivered log.
    let raw = ok(&addr, "/log/evil/1.0-1/amd64/1/raw");
    assert_eq!(raw.header("content-type"), Some("application/zstd"));
    assert_eq!(
        raw.header("content-disposition"),
        Some("attachment; filename=\"evil_1.0-1_amd64_1.log.zst\"")
    );
    let api = ok(&addr, "/api/log/evil/1.0-1/amd64").json();
    let id = api["log"]["id"].as_str().unwrap();
    let stored = buildmail::store::blobs::Blobs::open(&farm.cfg.database)
        .log(id)
        .unwrap();
    assert_eq!(stored.codec, buildmail::store::blob::Codec::Zstd);
    assert_eq!(raw.body, stored.bytes);
    assert_eq!(zstd::decode_all(&raw.body[..]).unwrap(), hostile_log());
    assert_eq!(api["explanation"]["section"], "Build");
    assert!(api["explanation"]["line"].as_u64().unwrap() > 10);
    assert_eq!(api["count"], 1);
    assert!(daemon.stop().success());
}

#[test]
fn suite_queue_and_state_pages_list_builds_with_why_and_a_graph() {
    let dir = tempfile::tempdir().unwrap();
    let (_farm, daemon, addr) = site(dir.path());
    let html = ok(&addr, "/suite/unstable/amd64").text();
    assert!(
        html.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"graph\""),
        "{html}"
    );
    assert!(
        html.contains("Build-Attempted (3)"),
        "the graph's legend: {html}"
    );
    assert!(html.contains("Needs-Build (2)</h2>"), "{html}");
    // The queue in order, with the why.
    let queued = html.find(">queued</a>").unwrap();
    let waiting = html.find(">waiting</a>").unwrap();
    assert!(queued < waiting, "required before optional: {html}");
    assert!(
        html.contains("new package, priority required, section base"),
        "{html}"
    );
    assert!(html.contains("zlib.h"), "{html}");
    let json = ok(&addr, "/api/suite/unstable/amd64").json();
    assert_eq!(json["counts"]["Build-Attempted"], 3);
    assert_eq!(json["counts"]["Built"], 1);
    assert_eq!(json["queue"]["entries"][0]["source"], "queued");
    assert!(!json["days"].as_array().unwrap().is_empty(), "a daily row");

    let q = ok(&addr, "/api/queue/unstable/amd64?page=1").json();
    assert_eq!(
        (q["total"].as_u64(), q["pages"].as_u64()),
        (Some(2), Some(1))
    );
    ok(&addr, "/queue/unstable/amd64");

    let s = ok(&addr, "/api/state/unstable/amd64/build-attempted").json();
    assert_eq!(s["count"], 3);
    let names: Vec<&str> = s["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["source"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["evil", "zlib-other", "zlib-user"]);
    assert!(s["builds"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("zlib.h"));
    let page = ok(
        &addr,
        "/api/state/unstable/amd64/Build-Attempted?after=evil",
    )
    .json();
    assert_eq!(page["builds"][0]["source"], "zlib-other");
    ok(&addr, "/state/unstable/amd64/Build-Attempted");
    let r = get(&addr, "/state/unstable/amd64/Sleeping");
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("&quot;Sleeping&quot; is not a state"),
        "{}",
        r.text()
    );
    let r = get(&addr, "/api/suite/unstable/sparc");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "no build of unstable/sparc is known");
    assert!(daemon.stop().success());
}

#[test]
fn builders_maintainers_failures_search_feeds_and_states() {
    let dir = tempfile::tempdir().unwrap();
    let (_farm, daemon, addr) = site(dir.path());
    // The builder of the hostile log: its name escaped in the link.
    let html = ok(&addr, "/").text();
    assert!(
        html.contains("href=\"/builder/buildd-evil%22onmouseover%3Dalert%283%29.example.org\""),
        "{html}"
    );
    let b = ok(
        &addr,
        "/api/builder/buildd-evil%22onmouseover%3Dalert%283%29.example.org",
    )
    .json();
    assert_eq!(b["logs"][0]["source"], "evil");
    assert!(b["last_heard"].as_i64().is_some());
    ok(&addr, "/builder/buildd-test.example.org");
    let r = get(&addr, "/builder/nobody");
    assert_eq!(r.status, 404);
    assert!(r
        .text()
        .contains("no log names the builder &quot;nobody&quot;"));

    // Jane maintains hello and zlib-user and uploads evil: the failing
    // ones first.
    let m = ok(&addr, "/api/maintainer/jane@example.org").json();
    let sources: Vec<&str> = m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["evil", "zlib-user", "hello"]);
    assert_eq!(m["sources"][0]["role"], "uploader");
    assert_eq!(m["failures"].as_array().unwrap().len(), 2);
    let html = ok(&addr, "/maintainer/jane@example.org").text();
    assert!(
        html.contains("<tr class=\"failing\"><td><a href=\"/package/evil\">"),
        "{html}"
    );
    let feed = ok(&addr, "/feed/maintainer/jane@example.org");
    assert_eq!(
        feed.header("content-type"),
        Some("application/atom+xml; charset=utf-8")
    );
    let xml = feed.text();
    assert!(
        xml.starts_with("<?xml") && xml.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">")
    );
    assert_eq!(xml.matches("<entry>").count(), 2, "{xml}");
    assert!(
        xml.contains("evil 1.0-1 is Build-Attempted on unstable/amd64"),
        "{xml}"
    );
    let feed = ok(&addr, "/feed/package/evil").text();
    assert!(
        feed.contains("<entry>") && feed.contains("log:attempted"),
        "{feed}"
    );
    let hostile = ok(&addr, "/maintainer/mallory@example.org").text();
    assert!(hostile.contains("Mallory &lt;script&gt;"), "{hostile}");
    assert_eq!(get(&addr, "/maintainer/nobody@example.org").status, 404);
    assert_eq!(get(&addr, "/feed/package/nosuch").status, 404);

    // The two missing-header failures are one cause, and the largest.
    let f = ok(&addr, "/api/failures").json();
    assert_eq!(f["groups"][0]["count"], 2, "{f}");
    assert_eq!(f["groups"][0]["key"], "zlib.h", "{f}");
    assert_eq!(f["groups"][0]["kind"], "missing-c-header", "{f}");
    assert_eq!(f["scanned"], 3);
    let html = ok(&addr, "/failures/unstable/amd64").text();
    assert!(
        html.contains("2 × <code>missing-c-header</code>: zlib.h"),
        "{html}"
    );
    assert_eq!(
        ok(&addr, "/api/failures/unstable/arm64").json()["scanned"],
        0
    );

    let s = ok(&addr, "/api/search?q=zlib").json();
    assert_eq!(s["sources"], serde_json::json!(["zlib-other", "zlib-user"]));
    let s = ok(&addr, "/api/search?q=MALLORY").json();
    assert_eq!(s["maintainers"][0]["address"], "mallory@example.org");
    let html = ok(&addr, "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E").text();
    assert!(
        html.contains("No source package name starts with"),
        "{html}"
    );
    ok(&addr, "/search");

    let states = ok(&addr, "/states").text();
    for s in buildmail::model::State::ALL {
        assert!(states.contains(&format!(">{}</text>", s.as_str())), "{s}");
    }
    let j = ok(&addr, "/api/states").json();
    assert_eq!(j["states"].as_array().unwrap().len(), 14);
    assert!(daemon.stop().success());
}

#[test]
fn metrics_and_health() {
    let dir = tempfile::tempdir().unwrap();
    let (farm, daemon, addr) = site(dir.path());
    // A mail through the daemon counts.
    let out = farm
        .cli(&["deliver"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(b"From: a@example.org\nSubject: hi\n\nhello\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    let m = ok(&addr, "/metrics");
    assert_eq!(
        m.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = m.text();
    for line in [
        "buildmail_up 1",
        "buildmail_mails_committed_total 1",
        "buildmail_needs_build{suite=\"unstable\",arch=\"amd64\"} 2",
        "buildmail_builds_in_state{suite=\"unstable\",arch=\"amd64\",state=\"Build-Attempted\"} 3",
        "buildmail_outbox_dead_mails 0",
        "buildmail_jobs 0",
        "# TYPE buildmail_refusals_total counter",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("buildmail_sync_age_seconds{suite=\"unstable\"} ")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("buildmail_mails_total{outcome=")),
        "{text}"
    );
    let h = ok(&addr, "/healthz");
    assert_eq!(h.text(), "ok\n");
    assert!(daemon.stop().success());
}

/// No page writes: every method but GET is refused, and the database is
/// the same after every page was read.
#[test]
fn no_page_changes_anything() {
    let dir = tempfile::tempdir().unwrap();
    let (farm, daemon, addr) = site(dir.path());
    let list = || {
        let out = farm.cli(&["list", "--json"]).output().unwrap();
        assert!(out.status.success());
        out.stdout
    };
    let history = || {
        let out = farm.cli(&["history", "evil", "--json"]).output().unwrap();
        out.stdout
    };
    let (before, before_h) = (list(), history());
    let pages = [
        "/",
        "/package/evil",
        "/log/evil/1.0-1/amd64",
        "/log/evil/1.0-1/amd64/1/raw",
        "/suite/unstable/amd64",
        "/queue/unstable/amd64",
        "/state/unstable/amd64/Build-Attempted",
        "/builder/buildd-test.example.org",
        "/maintainer/jane@example.org",
        "/failures",
        "/search?q=e",
        "/feed/package/evil",
        "/feed/maintainer/jane@example.org",
        "/states",
        "/metrics",
        "/healthz",
    ];
    for p in pages {
        ok(&addr, p);
        for method in ["POST", "PUT", "DELETE"] {
            let r = request(&addr, method, p, b"retry");
            assert!(
                r.status == 405 || r.status == 404,
                "{method} {p}: {}",
                r.status
            );
        }
    }
    for api in ["/api/", "/api/package/evil", "/api/states", "/api/failures"] {
        let r = ok(&addr, api);
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let r = get(&addr, "/no/such/page");
    assert_eq!(r.status, 404);
    assert!(
        r.text()
            .contains("there is no page at &#x2f;no&#x2f;such&#x2f;page"),
        "{}",
        r.text()
    );
    assert_eq!(
        get(&addr, "/api/nothing").json()["error"],
        "there is no page at /api/nothing"
    );
    assert_eq!(list(), before);
    assert_eq!(history(), before_h);
    assert!(daemon.stop().success());
}

/// A log that came gzip-compressed is kept as it came: its raw download
/// is that gzip stream, named `.log.gz`.
#[test]
fn a_gzipped_log_is_downloaded_as_it_came() {
    let dir = tempfile::tempdir().unwrap();
    let (farm, daemon, addr) = site(dir.path());
    let spec =
        crate::support::logs::LogSpec::new("hello", "1.0-1", "amd64", "unstable", "attempted");
    let log = crate::support::logs::sbuild_log(&spec);
    let subject =
        crate::support::sbuild_subject("attempted", "hello", "1.0-1", "amd64", "unstable");
    let mail = crate::support::log_mail_mime_gzip(&subject, &log, None, None);
    // Handed to the daemon by `deliver`, as the MTA does.
    assert!(farm.deliver_binary(&mail, &[]).status.success());
    let api = ok(&addr, "/api/log/hello/1.0-1/amd64").json();
    let n = api["count"].as_u64().unwrap();
    assert_eq!(n, 2, "{api}");
    let raw = ok(&addr, &format!("/log/hello/1.0-1/amd64/{n}/raw"));
    assert_eq!(raw.header("content-type"), Some("application/gzip"));
    assert_eq!(
        raw.header("content-disposition"),
        Some("attachment; filename=\"hello_1.0-1_amd64_2.log.gz\"")
    );
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(&raw.body[..]),
        &mut inflated,
    )
    .unwrap();
    assert_eq!(inflated, log);
    assert!(daemon.stop().success());
}

/// The pages are read and rendered on threads of their own at a lower
/// priority than the mail's (`serve.http_workers` of them, nice 10), so
/// that a flood of page requests slows the pages, not the LMTP sessions.
#[test]
fn pages_are_rendered_on_lower_priority_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (_farm, daemon, addr) = site(dir.path());
    ok(&addr, "/package/hello");
    let tasks = std::path::PathBuf::from(format!("/proc/{}/task", daemon.pid()));
    let mut pages = Vec::new();
    let mut others = Vec::new();
    for t in std::fs::read_dir(&tasks).unwrap() {
        let t = t.unwrap().path();
        let comm = std::fs::read_to_string(t.join("comm")).unwrap();
        let stat = std::fs::read_to_string(t.join("stat")).unwrap();
        // The fields after the command's closing parenthesis: nice is the
        // 19th field of the line, the 17th after it.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let nice: i32 = after.split(' ').nth(16).unwrap().parse().unwrap();
        if comm.trim() == "page" {
            pages.push(nice);
        } else {
            others.push((comm.trim().to_string(), nice));
        }
    }
    assert!(!pages.is_empty(), "no page thread among {others:?}");
    assert!(pages.iter().all(|n| *n == 10), "{pages:?}");
    assert!(
        others.iter().all(|(_, n)| *n == 0),
        "the mail's threads keep the daemon's priority: {others:?}"
    );
    assert!(daemon.stop().success());
}
