//! `buildmail serve` (issue 13), as real processes, in one run:
//!
//! * `deliver` of a ~114 KB log mail, process start to exit, with `serve`
//!   running (the mail handed over its unix socket) and without it (the
//!   same configuration, the daemon stopped): median and p99;
//! * the same for a signed reply (a clearsigned, bound `retry` of a
//!   Build-Attempted build; Ed25519 key);
//! * LMTP throughput with 1, 8 and 32 concurrent connections of ~30 KB
//!   log mails (successful builds, each new), every 250 sent only once the
//!   mail is durable: mails/s and MB/s;
//! * the daemon's memory (VmRSS) as 100,000 mails arrive, and its peak
//!   (VmHWM).
//!
//! The LMTP client is written here (RFC 2033 by hand), not buildmail's.
//! `cargo bench --bench serve`. `BUILDMAIL_BENCH_DELIVERIES` (default
//! 200), `BUILDMAIL_BENCH_LMTP_MAILS` (mails per throughput run, default
//! 3,000) and `BUILDMAIL_BENCH_SERVE_MAILS` (the memory run, default
//! 100,000) set the sizes.

#[path = "common/bench.rs"]
#[allow(dead_code)]
mod bench;
#[path = "../tests/it/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bench::{env_usize, log_mail};

const BIN: &str = env!("CARGO_BIN_EXE_buildmail");

/// A running daemon.
struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(config: &Path, socket: &Path) -> Daemon {
        let child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start serve");
        let start = Instant::now();
        while UnixStream::connect(socket).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "serve did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child }
    }

    /// A line of /proc/<pid>/status, in KiB.
    fn status_kib(&self, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        text.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    fn stop(mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().expect("wait serve");
        assert!(status.success(), "serve exited {status}");
    }
}

/// `deliver` of `m`, process start to exit.
fn deliver(config: &Path, m: &[u8]) -> Duration {
    let start = Instant::now();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("deliver")
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run deliver");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(m)
        .expect("write mail");
    let status = child.wait().expect("wait");
    let t = start.elapsed();
    assert!(status.success(), "deliver failed: {status}");
    t
}

/// Prints the median, p99 and minimum of `times`.
fn report(what: &str, times: &mut [Duration]) -> f64 {
    times.sort();
    let runs = times.len();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| {what} | {runs} | {:.2} ms | {:.2} ms | {:.2} ms |",
        ms(times[runs / 2]),
        ms(times[runs * 99 / 100]),
        ms(times[0])
    );
    ms(times[runs / 2])
}

/// An LMTP client connection (unix socket).
struct Lmtp {
    r: BufReader<UnixStream>,
    w: UnixStream,
}

impl Lmtp {
    fn connect(socket: &Path) -> Lmtp {
        let w = UnixStream::connect(socket).expect("connect");
        w.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        let mut c = Lmtp { r, w };
        assert!(c.reply().starts_with("220"));
        c.w.write_all(b"LHLO bench.example\r\n").unwrap();
        assert!(c.reply().starts_with("250"));
        c
    }

    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            assert!(self.r.read_line(&mut line).unwrap() > 0, "closed");
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    /// Sends one mail (pipelined envelope); panics unless it is answered 250.
    fn send(&mut self, data: &[u8]) {
        self.w
            .write_all(b"MAIL FROM:<buildd@example.org>\r\nRCPT TO:<logs@example.org>\r\nDATA\r\n")
            .unwrap();
        for expect in ["250", "250", "354"] {
            let r = self.reply();
            assert!(r.starts_with(expect), "{r}");
        }
        self.w.write_all(data).unwrap();
        let r = self.reply();
        assert!(r.starts_with("250"), "{r}");
    }
}

/// `mail` as LMTP DATA: CRLF line ends, dot-stuffed, the end line.
fn data(mail: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(mail.len() + mail.len() / 30 + 8);
    for line in mail.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// Sends `mails` over `conns` connections at once; wall seconds.
fn lmtp_run(socket: &Path, conns: usize, mails: Arc<Vec<Vec<u8>>>) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let (mails, next, socket) = (mails.clone(), next.clone(), socket.to_path_buf());
            std::thread::spawn(move || {
                let mut c = Lmtp::connect(&socket);
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(m) = mails.get(i) else { break };
                    c.send(m);
                }
                c.w.write_all(b"QUIT\r\n").unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    start.elapsed().as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket: PathBuf = dir.path().join("lmtp.sock");
    let config = dir.path().join("buildmail.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"data\"\n[serve]\nlmtp = [\"unix:{}\"]\n",
            socket.display()
        ),
    )
    .expect("config");
    std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
    std::fs::write(
        dir.path().join("data/admins.asc"),
        support::keys::shared_ed25519().armored_public(),
    )
    .expect("keyring");
    let runs = env_usize("BUILDMAIL_BENCH_DELIVERIES", 200);
    let pid = std::process::id();

    // --- deliver with and without the daemon ---
    println!("## serve: deliver, process start to exit\n");
    println!("| mail | runs | median | p99 | min |\n|---|---|---|---|---|");
    let logs = |tag: &str| -> Vec<Vec<u8>> {
        (0..runs)
            .map(|i| {
                log_mail(
                    &format!("{tag}{i:05}"),
                    "successful",
                    1150,
                    &format!("bench-{tag}{i}-{pid}@example.org"),
                )
            })
            .collect()
    };
    let with_logs = logs("dw");
    let without_logs = logs("dn");
    println!(
        "<!-- log mail {:.1} KB -->",
        with_logs[0].len() as f64 / 1e3
    );
    // Build-Attempted builds for the signed retries, set up untimed.
    let name = |i: usize| format!("rpkg{i:05}");
    let daemon = Daemon::start(&config, &socket);
    for i in 0..2 * runs {
        deliver(
            &config,
            &log_mail(
                &name(i),
                "attempted",
                100,
                &format!("bench-r{i}-{pid}@example.org"),
            ),
        );
    }
    let signed_at = support::farm::wall_now() - 60;
    let replies: Vec<Vec<u8>> = (0..2 * runs)
        .map(|i| {
            let subject = support::farm::log_subject("attempted", &name(i), "1.0-1", "amd64");
            let text = format!("retry {}_1.0-1 dist=unstable arch=amd64\n", name(i));
            support::farm::reply(
                &subject,
                &support::keys::clearsign(
                    support::keys::shared_ed25519(),
                    text.as_bytes(),
                    support::keys::SignSpec::at(signed_at),
                ),
                None,
            )
        })
        .collect();
    let mut t: Vec<Duration> = with_logs.iter().map(|m| deliver(&config, m)).collect();
    let log_with = report("log mail, `serve` running", &mut t);
    let mut t: Vec<Duration> = replies[..runs]
        .iter()
        .map(|m| deliver(&config, m))
        .collect();
    let reply_with = report("signed reply, `serve` running", &mut t);
    daemon.stop();
    let mut t: Vec<Duration> = without_logs.iter().map(|m| deliver(&config, m)).collect();
    let log_without = report("log mail, no daemon", &mut t);
    let mut t: Vec<Duration> = replies[runs..]
        .iter()
        .map(|m| deliver(&config, m))
        .collect();
    let reply_without = report("signed reply, no daemon", &mut t);
    println!(
        "\nthe daemon: log mail {:.1}× faster, signed reply {:.1}× faster\n",
        log_without / log_with,
        reply_without / reply_with
    );

    // --- LMTP throughput ---
    let per_run = env_usize("BUILDMAIL_BENCH_LMTP_MAILS", 3000);
    println!("## serve: LMTP throughput, ~30 KB log mails, each answered once durable\n");
    println!("| connections | mails | seconds | mails/s | MB/s |\n|---|---|---|---|---|");
    let daemon = Daemon::start(&config, &socket);
    for conns in [1usize, 8, 32] {
        let mails: Vec<Vec<u8>> = (0..per_run)
            .map(|i| {
                data(&log_mail(
                    &format!("t{conns}x{i:06}"),
                    "successful",
                    300,
                    &format!("bench-t{conns}-{i}-{pid}@example.org"),
                ))
            })
            .collect();
        let bytes: usize = mails.iter().map(Vec::len).sum();
        let secs = lmtp_run(&socket, conns, Arc::new(mails));
        println!(
            "| {conns} | {per_run} | {secs:.2} | {:.0} | {:.1} |",
            per_run as f64 / secs,
            bytes as f64 / 1e6 / secs
        );
    }

    // --- memory over many mails ---
    let total = env_usize("BUILDMAIL_BENCH_SERVE_MAILS", 100_000);
    println!("\n## serve: daemon memory as {total} mails arrive (8 connections)\n");
    println!("| mails so far | VmRSS | VmHWM |\n|---|---|---|");
    println!(
        "| 0 | {:.1} MB | {:.1} MB |",
        daemon.status_kib("VmRSS:") as f64 / 1024.0,
        daemon.status_kib("VmHWM:") as f64 / 1024.0
    );
    let step = (total / 10).max(1);
    let mut sent = 0;
    let started = Instant::now();
    while sent < total {
        let n = step.min(total - sent);
        let mails: Vec<Vec<u8>> = (sent..sent + n)
            .map(|i| {
                data(&log_mail(
                    &format!("m{i:07}"),
                    "successful",
                    300,
                    &format!("bench-m{i}-{pid}@example.org"),
                ))
            })
            .collect();
        lmtp_run(&socket, 8, Arc::new(mails));
        sent += n;
        println!(
            "| {sent} | {:.1} MB | {:.1} MB |",
            daemon.status_kib("VmRSS:") as f64 / 1024.0,
            daemon.status_kib("VmHWM:") as f64 / 1024.0
        );
    }
    println!(
        "\n{total} mails in {:.0} s ({:.0} mails/s)",
        started.elapsed().as_secs_f64(),
        total as f64 / started.elapsed().as_secs_f64()
    );
    daemon.stop();
}
