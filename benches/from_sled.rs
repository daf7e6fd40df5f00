//! `buildmail migrate --from-sled` as a farm runs it, the release binary
//! on a real sled farm: a generated suite of `BUILDMAIL_BENCH_SOURCES`
//! sources (default 100,000; `Architecture: any`, two architectures:
//! twice as many builds, each with its first history line) synced by
//! `buildmail sync`, then copied into a fresh PostgreSQL database on the
//! server `BUILDMAIL_TEST_POSTGRES` names: the copy's wall time and rows
//! per second, then a second run over the copied database (it finds
//! every row there and changes nothing), then a copy killed after half
//! its batches and run again.
//!
//! `cargo bench --bench from_sled`. The sled farm is kept in
//! `BUILDMAIL_BENCH_DIR` (default `target/bench-from-sled`) and reused by
//! the next run of the same size.

#[path = "../tests/it/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use support::archive::{archive_key, generated, publish, Snapshot};
use support::keys::shared_ed25519;

const BIN: &str = env!("CARGO_BIN_EXE_buildmail");

fn now() -> i64 {
    buildmail::time::Clock::now(&buildmail::time::SystemClock)
}

fn run(config: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.arg("--config").arg(config).args(args);
    c.env_remove("BUILDMAIL_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("BUILDMAIL_CRASH_AT");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run buildmail")
}

fn main() {
    let Some(server) = support::pg::server() else {
        println!(
            "SKIPPED: set {}=postgresql://user@host:port/db (a user who may create databases)",
            support::pg::ENV
        );
        return;
    };
    let sources: usize = std::env::var("BUILDMAIL_BENCH_SOURCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = std::env::var_os("BUILDMAIL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-from-sled"));
    let sled_config = dir.join("sled.toml");
    let marker = dir.join(format!("synced-{sources}"));
    let farm_toml = |url: Option<&str>| {
        format!(
            "data_dir = {:?}\nfrom_address = \"buildd@example.org\"\n\
             [database]\n{}\
             [signatures]\nkeyrings = [{:?}]\n\
             [archive]\nroot = {:?}\nsuites = [\"unstable\"]\narchitectures = [\"amd64\", \"arm64\"]\narch_all = \"amd64\"\nrelease_keyrings = [{:?}]\n",
            dir.join("data"),
            url.map_or(String::new(), |u| format!("url = {u:?}\n")),
            dir.join("admins.asc"),
            dir.join("mirror"),
            dir.join("archive-key.asc"),
        )
    };
    if !marker.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("admins.asc"), shared_ed25519().armored_public()).unwrap();
        std::fs::write(dir.join("archive-key.asc"), archive_key().armored_public()).unwrap();
        std::fs::write(&sled_config, farm_toml(None)).unwrap();
        let (text, packages) = generated(sources);
        publish(
            &dir.join("mirror"),
            &Snapshot {
                date: now() - 3600,
                valid_until: None,
                sources: &text,
                packages: &[("amd64", &packages), ("arm64", "")],
                signer: archive_key(),
            },
        );
        let start = Instant::now();
        let out = run(&sled_config, &["sync"], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "sled farm: sync of {sources} sources x 2 architectures: {:.1} s",
            start.elapsed().as_secs_f64()
        );
        std::fs::write(&marker, b"").unwrap();
    } else {
        println!(
            "reusing the sled farm of {sources} sources in {}",
            dir.display()
        );
    }
    let sled_dir = dir.join("data/db");
    let sled_dir = sled_dir.to_str().unwrap();

    for round in ["whole", "resumed"] {
        let name = format!("bm_bench_from_sled_{round}");
        let url = support::pg::empty_database(&server, &name);
        let pg_config = dir.join(format!("pg-{round}.toml"));
        std::fs::write(&pg_config, farm_toml(Some(&url))).unwrap();
        let args = ["migrate", "--from-sled", sled_dir];
        if round == "resumed" {
            let batches = (sources * 4).div_ceil(1000);
            let at = format!("migrate-batch:{}", batches / 2);
            let start = Instant::now();
            let out = run(&pg_config, &args, &[("BUILDMAIL_CRASH_AT", &at)]);
            assert!(!out.status.success(), "the crash point was not reached");
            println!(
                "copy killed after {} batches: {:.1} s",
                batches / 2,
                start.elapsed().as_secs_f64()
            );
        }
        let start = Instant::now();
        let out = run(&pg_config, &args, &[]);
        let took = start.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: u64 = text
            .lines()
            .filter(|l| l.starts_with("  ") && !l.contains("blobs"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        println!(
            "{round}: copy of {rows} rows (builds, history, daily...): {took:.1} s, {:.0} rows/s",
            rows as f64 / took
        );
        if round == "whole" {
            let start = Instant::now();
            let out = run(&pg_config, &args, &[]);
            assert!(out.status.success());
            println!(
                "second run (every row there already): {:.1} s",
                start.elapsed().as_secs_f64()
            );
            print!("{}", String::from_utf8_lossy(&out.stdout));
        }
        postgres::Client::connect(&server, postgres::NoTls)
            .unwrap()
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
    }
}
