//! Signature verification throughput: buildmail's in-process
//! `verify_cleartext` (sequoia) against one `gpgv` process per file, the
//! way buildd-mail-style scripts verify.
//!
//! Makes 200 signed `.changes`-sized texts (~2 KB) with one key (Ed25519,
//! then RSA-3072), verifies them in process, then writes them to files
//! and runs `gpgv --keyring <binary keyring> <file>` once per file.
//! Prints both rates and their ratio. `cargo bench --bench verify`.

#[path = "../tests/it/support/keys.rs"]
mod keys;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use buildmail::inbound::signature::{verify_cleartext, Policy};
use keys::*;

const FILES: usize = 200;
const TEXT_SIZE: usize = 2048;

fn main() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    for (name, algo) in [("Ed25519", Algo::Ed25519), ("RSA-3072", Algo::Rsa3072)] {
        run(name, algo, now);
    }
}

fn run(name: &str, algo: Algo, now: i64) {
    let key = make_key(KeySpec {
        algo,
        created: now - DAY,
        ..KeySpec::default()
    });
    let signed: Vec<Vec<u8>> = (0..FILES)
        .map(|i| clearsign(&key, &changes_text(i, TEXT_SIZE), SignSpec::at(now - 60)))
        .collect();
    let avg = signed.iter().map(Vec::len).sum::<usize>() / FILES;
    let ring = key.keyring();
    let policy = Policy::default();

    // In process: whole passes over the 200 texts for at least 2 s.
    let start = Instant::now();
    let mut n = 0usize;
    while n == 0 || start.elapsed() < Duration::from_secs(2) {
        for s in &signed {
            let v = verify_cleartext(s, &ring, &policy, now).expect("good signature");
            std::hint::black_box(v);
            n += 1;
        }
    }
    let in_process = n as f64 / start.elapsed().as_secs_f64();

    println!("{name}: {FILES} clearsigned texts of ~{avg} bytes");
    println!(
        "  buildmail verify_cleartext (in process): {in_process:>9.0} verifications/s ({n} runs)"
    );

    if !gpgv_available() {
        println!("  gpgv not installed: the comparison is skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("gnupg");
    std::fs::create_dir(&home).expect("GNUPGHOME");
    let keyring = write_file(dir.path(), "keyring.gpg", &key.binary_public());
    let files: Vec<_> = signed
        .iter()
        .enumerate()
        .map(|(i, s)| write_file(dir.path(), &format!("pkg{i}.changes"), s))
        .collect();
    let start = Instant::now();
    for f in &files {
        let status = Command::new("gpgv")
            .env("GNUPGHOME", &home)
            .arg("--keyring")
            .arg(&keyring)
            .arg(f)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run gpgv");
        assert!(status.success(), "gpgv refused {}", f.display());
    }
    let gpgv = files.len() as f64 / start.elapsed().as_secs_f64();
    println!("  gpgv, one process per file:              {gpgv:>9.0} verifications/s");
    println!(
        "  ratio in-process / gpgv:                 {:>9.1}x",
        in_process / gpgv
    );
}
