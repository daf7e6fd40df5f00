//! Peak memory of `buildmail serve` when many senders push large mails at
//! once (issue 19): `BUILDMAIL_BENCH_MAILS` (default 20) concurrent LMTP
//! sessions each deliver a `BUILDMAIL_BENCH_MB` (default 100) MB mail
//! over the unix socket, with the daemon's default `serve.mail_budget`
//! (= `limits.max_message_size`, 512 MiB). The daemon's peak RSS is its
//! `VmHWM` read from /proc just before SIGTERM; each session's answers
//! (250, or 452/451 when the budget was spent, retried until taken) are
//! counted. `cargo bench --bench serve_memory`;
//! `BUILDMAIL_BIN=target/debug/buildmail` measures another binary.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let bin = std::env::var("BUILDMAIL_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_buildmail").to_string());
    let mails: usize = std::env::var("BUILDMAIL_BENCH_MAILS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mb: usize = std::env::var("BUILDMAIL_BENCH_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().expect("temp dir");
    let toml = dir.path().join("buildmail.toml");
    std::fs::write(
        &toml,
        format!(
            "data_dir = {:?}\n[serve]\ncommand_timeout = \"120s\"\n",
            dir.path().join("data")
        ),
    )
    .expect("config");
    let socket = dir.path().join("lmtp.sock");
    let mut child = Command::new(&bin)
        .arg("--config")
        .arg(&toml)
        .args(["serve", "--lmtp"])
        .arg(format!("unix:{}", socket.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let start = Instant::now();
    while UnixStream::connect(&socket).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "serve did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let base = hwm(child.id());
    let start = Instant::now();
    let sessions: Vec<_> = (0..mails)
        .map(|i| {
            let socket = socket.clone();
            std::thread::spawn(move || deliver(&socket, &mail(i, mb << 20)))
        })
        .collect();
    let mut deferred = 0;
    for s in sessions {
        deferred += s.join().expect("session");
    }
    let secs = start.elapsed().as_secs_f64();
    let peak = hwm(child.id());
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert!(child.wait().expect("wait").success());
    println!("| mails | size each | budget | daemon peak RSS (VmHWM) | idle RSS | deferred answers (452/451, retried) | time |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {mails} at once | {mb} MB | 512 MiB (default) | {} MB | {} MB | {deferred} | {secs:.1} s |",
        peak >> 10,
        base >> 10
    );
}

/// The daemon's peak RSS so far, in KiB.
fn hwm(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A plain mail of about `size` bytes (forwarded by the daemon), lines
/// CRLF-ended as on the wire, none starting with a dot.
fn mail(i: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: sender{i}@example.net\r\nTo: buildd@example.org\r\nSubject: large mail {i}\r\nMessage-ID: <large{i}@example.net>\r\n\r\n"
    )
    .into_bytes();
    let line =
        format!("{i:04} a line of a large mail that fills it up to its size, nothing more\r\n");
    while m.len() < size {
        m.extend_from_slice(line.as_bytes());
    }
    m
}

/// Delivers `mail` over LMTP, with its SIZE, retrying while the daemon
/// defers it; how many times it was deferred.
fn deliver(socket: &std::path::Path, mail: &[u8]) -> usize {
    let mut deferred = 0;
    loop {
        let s = UnixStream::connect(socket).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(600)))
            .expect("timeout");
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        let mut w = s;
        let mut reply = || {
            let mut all = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return all;
                }
                all.push_str(&line);
                if line.as_bytes().get(3) != Some(&b'-') {
                    return all;
                }
            }
        };
        assert!(reply().starts_with("220"));
        w.write_all(
            format!(
                "LHLO bench\r\nMAIL FROM:<s@example.net> SIZE={}\r\n",
                mail.len()
            )
            .as_bytes(),
        )
        .expect("send");
        reply();
        if !reply().starts_with("250") {
            deferred += 1;
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        w.write_all(b"RCPT TO:<logs@example.org>\r\nDATA\r\n")
            .expect("send");
        reply();
        assert!(reply().starts_with("354"));
        w.write_all(mail).expect("data");
        w.write_all(b".\r\n").expect("end");
        let answer = reply();
        let _ = w.write_all(b"QUIT\r\n");
        if answer.starts_with("250") {
            return deferred;
        }
        assert!(answer.starts_with("45"), "{answer}");
        deferred += 1;
    }
}
