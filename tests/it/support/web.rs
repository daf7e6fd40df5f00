//! The status pages for the tests: a farm with an archive, maintainers,
//! logs of every outcome (hostile ones among them) and `serve` answering
//! on `[serve] http`; a plain HTTP/1.1 client (std sockets, chunked
//! bodies decoded) to read the pages.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use super::archive::*;
use super::daemon::Daemon;
use super::farm::*;
use super::logs::{sbuild_log, LogSpec};
use super::{log_mail_plain, sbuild_subject, with_message_id};

/// What the hostile fixtures put into logs and names: escaped, it must
/// never appear as it is in a page.
pub const SCRIPT: &str = "<script>alert(1)</script>";
/// An attribute breaker.
pub const ATTRIBUTE: &str = "\"onmouseover=alert(2)";

/// One HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value (the first), by name, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossily).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Sends `method path` (with `body`) to `addr` and reads the whole answer.
pub fn request(addr: &str, method: &str, path: &str, body: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

/// `GET path`.
pub fn get(addr: &str, path: &str) -> Response {
    request(addr, "GET", path, b"")
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..eol])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

/// The address `[serve] http` listens on, as `status` says.
pub fn http_address(farm: &Farm) -> String {
    let out = farm.cli(&["status", "--json"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    status["daemon"]["listening"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str()?.strip_prefix("http tcp:"))
        .next()
        .expect("an http listener")
        .to_string()
}

/// The builder host of the hostile log.
pub const HOSTILE_BUILDER: &str = "buildd-evil\"onmouseover=alert(3).example.org";

/// The archive of the fixture farm.
pub fn sources() -> String {
    format!(
        "Package: hello\nVersion: 1.0-1\nArchitecture: any\nSection: devel\nPriority: optional\nMaintainer: Jane Doe <jane@example.org>\n\n\
Package: evil\nVersion: 1.0-1\nArchitecture: any\nSection: devel\nPriority: optional\nMaintainer: Mallory {SCRIPT} {ATTRIBUTE} <mallory@example.org>\nUploaders: Jane Doe <jane@example.org>\n\n\
Package: zlib-user\nVersion: 2.0-1\nArchitecture: any\nSection: libs\nPriority: optional\nMaintainer: Jane Doe <jane@example.org>\n\n\
Package: zlib-other\nVersion: 3.0-1\nArchitecture: any\nSection: libs\nPriority: optional\nMaintainer: Bob <bob@example.org>\n\n\
Package: waiting\nVersion: 1-1\nArchitecture: any\nSection: utils\nPriority: optional\nMaintainer: Bob <bob@example.org>\n\n\
Package: queued\nVersion: 1-1\nArchitecture: any\nSection: base\nPriority: required\nMaintainer: Bob <bob@example.org>\n"
    )
}

/// A log with `lines` put into its Build section before its end.
pub fn log_with(spec: &LogSpec<'_>, lines: &[&[u8]]) -> Vec<u8> {
    let log = sbuild_log(spec);
    let at = log
        .windows(19)
        .position(|w| w == b"Build finished at 2")
        .expect("the end of the Build section");
    // Before the dashes line above `Build finished at`.
    let at = log[..at - 1].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let mut out = log[..at].to_vec();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out.extend_from_slice(&log[at..]);
    out
}

/// The hostile log: script tags, an attribute breaker and invalid UTF-8 in
/// the build output and in the error line, from a builder whose host
/// name breaks attributes.
pub fn hostile_log() -> Vec<u8> {
    let mut spec = LogSpec::new("evil", "1.0-1", "amd64", "unstable", "attempted");
    spec.builder = HOSTILE_BUILDER;
    let error = format!("src/evil.c:7:1: error: {SCRIPT} {ATTRIBUTE}");
    log_with(
        &spec,
        &[
            SCRIPT.as_bytes(),
            ATTRIBUTE.as_bytes(),
            b"bytes \xff\xfe\xc3 not UTF-8",
            error.as_bytes(),
        ],
    )
}

/// A log failing on a missing header (two packages share this cause).
pub fn missing_header_log(source: &str, version: &str) -> Vec<u8> {
    let mut spec = LogSpec::new(source, version, "amd64", "unstable", "attempted");
    spec.filler_lines = 5;
    let line = format!("src/{source}.c:1:10: fatal error: zlib.h: No such file or directory");
    log_with(&spec, &[line.as_bytes(), b"compilation terminated."])
}

/// Delivers `log` as a plain log mail of `source` `version`/amd64 with
/// the status `status`.
pub fn deliver_log(farm: &Farm, status: &str, source: &str, version: &str, log: &[u8]) {
    let subject = sbuild_subject(status, source, version, "amd64", "unstable");
    let mid = super::unique_message_id();
    farm.deliver(&with_message_id(&log_mail_plain(&subject, log), &mid));
}

/// The fixture farm (see the module documentation), synced and its mails
/// delivered and explained, with `serve` answering on `[serve] http`.
pub fn site(root: &Path) -> (Farm, Daemon, String) {
    let mirror = root.join("mirror");
    let farm = farm_with(&mirror, "\n[serve]\nhttp = \"127.0.0.1:0\"\n");
    let now = wall_now();
    let sources = sources();
    publish(
        &mirror,
        &Snapshot {
            date: now - 3600,
            valid_until: Some(now + 7 * 86400),
            sources: &sources,
            packages: &[("amd64", ""), ("arm64", "")],
            signer: archive_key(),
        },
    );
    let out = farm.cli(&["sync"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spec = LogSpec::new("hello", "1.0-1", "amd64", "unstable", "successful");
    deliver_log(&farm, "successful", "hello", "1.0-1", &sbuild_log(&spec));
    deliver_log(&farm, "attempted", "evil", "1.0-1", &hostile_log());
    deliver_log(
        &farm,
        "attempted",
        "zlib-user",
        "2.0-1",
        &missing_header_log("zlib-user", "2.0-1"),
    );
    deliver_log(
        &farm,
        "attempted",
        "zlib-other",
        "3.0-1",
        &missing_header_log("zlib-other", "3.0-1"),
    );
    farm.work();
    let daemon = Daemon::start(&farm, &[]);
    let addr = http_address(&farm);
    (farm, daemon, addr)
}
