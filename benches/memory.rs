//! Peak memory (RSS) of `buildmail deliver` and `buildmail import` for
//! large and hostile mails: sbuild log mails of 1, 30 and 127 MB (the log
//! as the plain body, and gzip-compressed in a base64 attachment), and a
//! 10 GiB gzip bomb in a 10 MB mail. `cargo bench --bench memory`; set
//! `BUILDMAIL_BENCH_SIZES=1,30` to run fewer sizes.
//!
//! Each case runs the release binary in a fresh data directory; the peak
//! RSS is the child's `ru_maxrss` from `wait4(2)`. The bound to hold is
//! 64 MB + 2 × the mail's size.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "common/measure.rs"]
mod measure;

use flate2::write::GzEncoder;
use flate2::Compression;

/// One line of build output, about 80 bytes.
const LINE: &str = "dh_auto_build: compiling src/module_0000.c -O2 -g -Wall -fstack-protector\n";

fn main() {
    let sizes: Vec<u64> = std::env::var("BUILDMAIL_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 30, 127]);
    let dir = tempfile::tempdir().expect("temp dir");
    println!("| mail | mail size | deliver peak RSS | import peak RSS | bound (64 MB + 2 × mail) | deliver time | outcome |");
    println!("|---|---|---|---|---|---|---|");
    for &mb in &sizes {
        let plain = dir.path().join(format!("plain-{mb}.eml"));
        write_plain_log_mail(&plain, mb << 20);
        run_case(&format!("{mb} MB log, plain body"), &plain, dir.path());
        let attached = dir.path().join(format!("attached-{mb}.eml"));
        write_attached_log_mail(&attached, mb << 20);
        run_case(
            &format!("{mb} MB mail, gzip log in base64"),
            &attached,
            dir.path(),
        );
    }
    let bomb = dir.path().join("bomb.eml");
    write_bomb_mail(&bomb, 10 << 30);
    run_case("10 GiB gzip bomb", &bomb, dir.path());
    hostile_mbox(dir.path());
    inflating_mbox(dir.path());
}

/// `import` of eight small mails whose gzip logs each inflate to 24 MiB
/// (under every limit): the parallel preparers must not hold several.
fn inflating_mbox(scratch: &Path) {
    let one = scratch.join("inflating.eml");
    let mut log = Vec::new();
    sbuild_log(24 << 20, &mut log);
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&log).expect("gzip");
    drop(log);
    write_gzip_attachment_mail(&one, &gz.finish().expect("gzip"));
    let mbox = scratch.join("inflating.mbox");
    write_mbox(&mbox, (0..8).map(|_| one.as_path()));
    let size = std::fs::metadata(&one).expect("mail").len();
    let (rss, took) = peak_rss(scratch, |c| {
        c.arg("import").arg(&mbox);
    });
    println!(
        "| mbox: 8 × gzip logs inflating to 24 MiB each ({:.2} MB mails) | {:.1} MB | – | {:.1} MB | {:.1} MB | {took:.2} s (import) | |",
        size as f64 / 1e6,
        std::fs::metadata(&mbox).expect("mbox").len() as f64 / 1e6,
        rss as f64 / 1e6,
        (64 * 1_000_000 + 2 * size) as f64 / 1e6,
    );
}

/// Writes an mbox of the mail files `mails`, each made distinct by a
/// header line of its own, streamed from the files so that this process
/// stays small (see `peak_rss`).
fn write_mbox<'a>(mbox: &Path, mails: impl Iterator<Item = &'a Path>) {
    let mut f = std::io::BufWriter::new(File::create(mbox).expect("mbox"));
    for (i, mail) in mails.enumerate() {
        f.write_all(b"From buildd@example.org Mon Jan 15 10:00:00 2024\n")
            .expect("write");
        f.write_all(format!("X-Bench: {i}\r\n").as_bytes())
            .expect("write");
        std::io::copy(&mut File::open(mail).expect("mail"), &mut f).expect("write");
        f.write_all(b"\n").expect("write");
    }
    f.flush().expect("write");
}

/// `import` of a hostile mailbox: twelve 2 GiB gzip bombs among genuine
/// 1 MB log mails, read by the parallel preparers at once.
fn hostile_mbox(scratch: &Path) {
    let bomb = scratch.join("small-bomb.eml");
    write_bomb_mail(&bomb, 2 << 30);
    let log = scratch.join("genuine.eml");
    write_plain_log_mail(&log, 1 << 20);
    let mbox = scratch.join("hostile.mbox");
    write_mbox(
        &mbox,
        (0..24).map(|i| {
            if i % 2 == 0 {
                bomb.as_path()
            } else {
                log.as_path()
            }
        }),
    );
    let bomb_size = std::fs::metadata(&bomb).expect("bomb").len();
    let largest = bomb_size.max(std::fs::metadata(&log).expect("log").len());
    let (rss, took) = peak_rss(scratch, |c| {
        c.arg("import").arg(&mbox);
    });
    println!(
        "| mbox: 12 × 2 GiB gzip bombs ({:.1} MB each) among 12 × 1 MB logs | {:.1} MB | – | {:.1} MB | {:.1} MB | {took:.2} s (import) | |",
        bomb_size as f64 / 1e6,
        std::fs::metadata(&mbox).expect("mbox").len() as f64 / 1e6,
        rss as f64 / 1e6,
        (64 * 1_000_000 + 2 * largest) as f64 / 1e6,
    );
}

/// Runs `deliver` and `import` on `mail`, each in a fresh data directory,
/// and prints one table row.
fn run_case(name: &str, mail: &Path, scratch: &Path) {
    let size = std::fs::metadata(mail).expect("mail").len();
    let said = scratch.join("said");
    let (deliver_rss, took) = peak_rss(scratch, |c| {
        c.args(["deliver", "-v"])
            .stdin(File::open(mail).expect("mail"))
            .stderr(File::create(&said).expect("stderr file"));
    });
    let outcome = std::fs::read_to_string(&said).unwrap_or_default();
    let outcome = outcome
        .lines()
        .last()
        .unwrap_or("")
        .trim_start_matches("buildmail: ");
    let outcome: String = outcome.chars().take(90).collect();
    let (import_rss, _) = peak_rss(scratch, |c| {
        c.arg("import").arg(mail);
    });
    let bound = 64 * 1_000_000 + 2 * size;
    println!(
        "| {name} | {:.1} MB | {:.1} MB | {:.1} MB | {:.1} MB | {:.2} s | {outcome} |",
        size as f64 / 1e6,
        deliver_rss as f64 / 1e6,
        import_rss as f64 / 1e6,
        bound as f64 / 1e6,
        took
    );
}

/// Runs the binary in a fresh data directory under `scratch` and returns
/// its peak RSS in bytes and its wall time in seconds.
fn peak_rss(scratch: &Path, args: impl FnOnce(&mut Command)) -> (u64, f64) {
    let data = tempfile::tempdir_in(scratch).expect("data dir");
    let config = data.path().join("buildmail.toml");
    std::fs::write(
        &config,
        "data_dir = \"data\"\n[limits]\nmax_message_size = \"200MiB\"\n",
    )
    .expect("config");
    let mut c = Command::new(env!("CARGO_BIN_EXE_buildmail"));
    c.arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Set last: a case may send standard error to a file.
    args(&mut c);
    let (_, took, rss) = measure::run_measured(c);
    (rss, took)
}

fn headers(subject: &str) -> String {
    format!(
        "From: buildd@buildd-x86-01.example.org\r\nTo: logs@example.org\r\n\
         Subject: {subject}\r\nDate: Mon, 15 Jan 2024 10:00:00 +0000\r\n\
         Message-ID: <{}@bench.example.org>\r\nMIME-Version: 1.0\r\n",
        subject.len() ^ std::process::id() as usize
    )
}

const SUBJECT: &str = "Log for successful build of hello_2.10-3 (dist=unstable)";

/// An sbuild log of about `size` bytes: header, filler lines, summary.
fn sbuild_log(size: u64, out: &mut dyn Write) {
    sbuild_log_with(out, &mut |out: &mut dyn Write| {
        let mut written = 0;
        while written + 1000 < size {
            out.write_all(LINE.as_bytes()).expect("write");
            written += LINE.len() as u64;
        }
    });
}

/// An sbuild log whose build output `filler` writes.
fn sbuild_log_with(out: &mut dyn Write, filler: &mut dyn FnMut(&mut dyn Write)) {
    let head = "sbuild (Debian sbuild) 0.85.0 (04 January 2023) on buildd-x86-01.example.org\n\n\
                +==============================================================================+\n\
                | hello 2.10-3 (amd64)                         Mon, 15 Jan 2024 09:00:00 +0000 |\n\
                +==============================================================================+\n\n\
                Package: hello\nVersion: 2.10-3\nSource Version: 2.10-3\nDistribution: unstable\n\
                Machine Architecture: amd64\nHost Architecture: amd64\nBuild Architecture: amd64\n\
                Build Type: any\n\n";
    out.write_all(head.as_bytes()).expect("write");
    filler(out);
    let tail = "\n+------------------------------------------------------------------------------+\n\
                | Summary                                                                      |\n\
                +------------------------------------------------------------------------------+\n\n\
                Build Architecture: amd64\nBuild Type: any\nBuild-Space: 12345\nBuild-Time: 60\n\
                Distribution: unstable\nHost Architecture: amd64\nInstall-Time: 10\nJob: hello_2.10-3\n\
                Machine Architecture: amd64\nPackage: hello\nPackage-Time: 70\nSource-Version: 2.10-3\n\
                Space: 12345\nStatus: successful\nVersion: 2.10-3\n\
                --------------------------------------------------------------------------------\n\
                Finished at 2024-01-15T10:00:00Z\nBuild needed 00:01:10, 12345k disk space\n";
    out.write_all(tail.as_bytes()).expect("write");
}

/// A log mail whose body is the plain log.
fn write_plain_log_mail(path: &PathBuf, size: u64) {
    let mut f = std::io::BufWriter::new(File::create(path).expect("mail"));
    f.write_all(headers(SUBJECT).as_bytes()).expect("write");
    f.write_all(
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    )
    .expect("write");
    sbuild_log(size, &mut f);
    f.flush().expect("write");
}

/// A multipart mail of about `size` bytes whose log is a base64 gzip
/// attachment. The log is made of varied lines, so that it compresses
/// like a real one would not matter: the mail's size is what counts.
fn write_attached_log_mail(path: &PathBuf, size: u64) {
    // Incompressible enough filler: the gzip stream is close to the log's
    // size, so the attachment (3/4 of the mail) fills the mail.
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    sbuild_log_with(&mut gz, &mut |out: &mut dyn Write| {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut line = Vec::with_capacity(100);
        let mut written = 0u64;
        while written < size * 3 / 4 {
            line.clear();
            for _ in 0..76 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                line.push(b'!' + (state % 90) as u8);
            }
            line.push(b'\n');
            out.write_all(&line).expect("gzip");
            written += line.len() as u64;
        }
    });
    let gz = gz.finish().expect("gzip");
    write_gzip_attachment_mail(path, &gz);
}

/// A mail with a gzip bomb: `size` zero bytes, compressed.
fn write_bomb_mail(path: &PathBuf, size: u64) {
    // One 1 GiB member compressed once, repeated: a multi-member stream.
    let chunk = vec![0u8; 1 << 20];
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    for _ in 0..1024 {
        gz.write_all(&chunk).expect("gzip");
    }
    let member = gz.finish().expect("gzip");
    let mut stream = Vec::new();
    for _ in 0..(size >> 30).max(1) {
        stream.extend_from_slice(&member);
    }
    write_gzip_attachment_mail(path, &stream);
}

fn write_gzip_attachment_mail(path: &PathBuf, gz: &[u8]) {
    let mut f = std::io::BufWriter::new(File::create(path).expect("mail"));
    f.write_all(headers(SUBJECT).as_bytes()).expect("write");
    f.write_all(
        b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
          Content-Type: text/plain\r\n\r\nThe build log is attached.\r\n--b\r\n\
          Content-Type: application/x-gzip; name=\"hello_2.10-3_amd64.build.gz\"\r\n\
          Content-Transfer-Encoding: base64\r\n\
          Content-Disposition: attachment; filename=\"hello_2.10-3_amd64.build.gz\"\r\n\r\n",
    )
    .expect("write");
    for chunk in gz.chunks(57) {
        f.write_all(base64(chunk).as_bytes()).expect("write");
        f.write_all(b"\r\n").expect("write");
    }
    f.write_all(b"--b--\r\n").expect("write");
    f.flush().expect("write");
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
