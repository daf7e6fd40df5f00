//! The status pages in a real browser: headless Chromium (Debian's
//! `chromium` and `chromium-driver`) driven over WebDriver (fantoccini)
//! against a real `serve` with the fixture mails delivered
//! (`support::web`). A maintainer opens a source page, follows the log
//! link, expands a section, lands on the highlighted error line, searches,
//! opens a feed. The pages run no script (their Content-Security-Policy
//! allows none), so this is also the check that they work without
//! JavaScript.
//!
//! Screenshots of the source page, a failed log and a queue are taken;
//! with `BUILDMAIL_WRITE_SCREENSHOTS=1` they replace
//! `docs/screenshots/*.png` (the README shows them).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::support::web::*;

/// Chromium and its WebDriver, if installed.
fn chromium() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| names.iter().map(PathBuf::from).find(|p| p.is_file());
    Some((
        find(&["/usr/bin/chromium", "/usr/lib/chromium/chromium"])?,
        find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])?,
    ))
}

/// chromedriver on a free loopback port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(binary: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn session(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                format!("--user-data-dir={}", profile.display()),
                "--window-size=1000,700",
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

/// Saves a screenshot as `name` (into `docs/screenshots/` when asked to),
/// checking it is a PNG.
async fn screenshot(c: &Client, dir: &Path, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
    assert!(png.len() > 5_000, "{name}: {} bytes", png.len());
    std::fs::write(dir.join(name), &png).unwrap();
}

/// Where the screenshots go.
fn shots(tmp: &Path) -> PathBuf {
    if std::env::var_os("BUILDMAIL_WRITE_SCREENSHOTS").is_some() {
        let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&d).unwrap();
        d
    } else {
        tmp.to_path_buf()
    }
}

/// The id of the element the URL's fragment targets, and whether it is
/// inside the window.
async fn target(c: &Client) -> (String, bool) {
    let v = c
        .execute(
            "const t = document.querySelector(':target'); if (!t) return null; const r = t.getBoundingClientRect(); return [t.id, r.top >= 0 && r.bottom <= window.innerHeight];",
            vec![],
        )
        .await
        .unwrap();
    (
        v[0].as_str().unwrap_or_default().to_string(),
        v[1].as_bool().unwrap_or(false),
    )
}

/// The URL once the browser has navigated to `path` (a form's
/// submission completes after the click returns).
async fn arrive(c: &Client, path: &str) -> Option<String> {
    let start = Instant::now();
    loop {
        let url = c.current_url().await.unwrap();
        if url.path() == path {
            return url.query().map(str::to_string);
        }
        assert!(start.elapsed() < Duration::from_secs(20), "still at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn a_maintainer_reads_the_pages_in_chromium() {
    let Some((chromium, chromedriver)) = chromium() else {
        crate::support::skip("Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_farm, daemon, addr) = site(dir.path());
    let driver = Driver::start(&chromedriver);
    let profile = dir.path().join("chromium-profile");
    let out = shots(dir.path());
    let base = format!("http://{addr}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = session(&driver, &chromium, &profile).await;

        // The source page.
        c.goto(&format!("{base}/package/evil")).await.unwrap();
        let h1 = c
            .find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(h1, "Source package evil");
        let why = c
            .find(Locator::Css("tr.build-attempted td.why"))
            .await
            .unwrap();
        let text = why.text().await.unwrap();
        assert!(
            text.contains(SCRIPT),
            "the hostile line shows as text: {text}"
        );
        // No hostile markup became an element.
        assert!(c.find(Locator::Css("main script")).await.is_err());
        screenshot(&c, &out, "package.png").await;

        // Follow the log link.
        c.find(Locator::Css("td.logs a[href='/log/evil/1.0-1/amd64/1']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        arrive(&c, "/log/evil/1.0-1/amd64/1").await;
        // The failing section is open, the others are folded.
        let build = c.find(Locator::Css("details#s4")).await.unwrap();
        assert!(build.attr("open").await.unwrap().is_some());
        let chroot = c.find(Locator::Css("details#s3")).await.unwrap();
        assert_eq!(chroot.attr("open").await.unwrap(), None);
        let chroot_text = c.find(Locator::Css("details#s3 pre")).await.unwrap();
        assert!(!chroot_text.is_displayed().await.unwrap());
        // Expand it.
        c.find(Locator::Css("details#s3 summary"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert!(chroot.attr("open").await.unwrap().is_some());
        assert!(chroot_text.is_displayed().await.unwrap());
        assert!(chroot_text
            .text()
            .await
            .unwrap()
            .contains("Reading package lists"));
        // Land on the highlighted error line.
        c.find(Locator::Css("a[href='#error-1']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(c.current_url().await.unwrap().fragment(), Some("error-1"));
        let (id, visible) = target(&c).await;
        assert_eq!((id.as_str(), visible), ("error-1", true));
        let mark = c.find(Locator::Css("mark.error#error-1")).await.unwrap();
        assert!(mark
            .text()
            .await
            .unwrap()
            .contains("src/evil.c:7:1: error: <script>"));
        screenshot(&c, &out, "log.png").await;

        // From the source page straight to the error line.
        c.goto(&format!("{base}/package/zlib-user")).await.unwrap();
        c.find(Locator::LinkText("the error line"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let (id, visible) = target(&c).await;
        assert_eq!((id.as_str(), visible), ("error-1", true));
        let mark = c.find(Locator::Css("mark#error-1")).await.unwrap();
        assert!(mark.text().await.unwrap().contains("fatal error: zlib.h"));

        // Search, and follow a result.
        c.goto(&format!("{base}/")).await.unwrap();
        c.find(Locator::Css("input#q"))
            .await
            .unwrap()
            .send_keys("zlib")
            .await
            .unwrap();
        c.find(Locator::Css("header form button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let query = arrive(&c, "/search").await;
        assert_eq!(query.as_deref(), Some("q=zlib"));
        c.find(Locator::LinkText("zlib-user"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        arrive(&c, "/package/zlib-user").await;
        // The maintainer's page, and its feed.
        c.find(Locator::LinkText("Jane Doe"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        arrive(&c, "/maintainer/jane%40example.org").await;
        c.find(Locator::Css(
            "a[href='/feed/maintainer/jane%40example.org']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
        let feed = c.source().await.unwrap();
        assert!(
            feed.contains("evil 1.0-1 is Build-Attempted on unstable/amd64"),
            "{feed}"
        );

        // The queue.
        c.goto(&format!("{base}/queue/unstable/arm64"))
            .await
            .unwrap();
        let rows = c
            .find_all(Locator::Css("table.queue tbody tr"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 6);
        assert!(rows[0].text().await.unwrap().contains("queued"));
        screenshot(&c, &out, "queue.png").await;
        c.close().await.unwrap();
    });
    assert!(daemon.stop().success());
}
