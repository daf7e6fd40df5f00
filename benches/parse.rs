//! Throughput of `sbuild::parse` on a ~50 MB log, against the cheapest
//! possible pass over the same bytes: counting lines with
//! `memchr::memchr_iter(b'\n', ..).count()` (what `wc -l` does).
//!
//! The log is generated in memory: a real header, boxes for every section,
//! a Build section made of a realistic mix of compiler, make, debhelper and
//! test-suite lines (some with CRLF, bare `\r`, Unicode and invalid UTF-8)
//! repeated up to the target size, then Changes, Cleanup and a Summary.
//! `explain` on the same log is measured too, to show that its cost does not
//! grow with the size of the log.
//!
//! `cargo bench --bench parse`; `BUILDMAIL_BENCH_LOG_MB` sets the size in MB.

use std::hint::black_box;

use buildmail::debian::Status;
use buildmail::inbound::explain::explain;
use buildmail::inbound::sbuild::parse;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn section(out: &mut Vec<u8>, title: &str) {
    let rule = format!("+{}+\n", "-".repeat(78));
    out.extend_from_slice(b"\n");
    out.extend_from_slice(rule.as_bytes());
    out.extend_from_slice(format!("| {title:<76} |\n").as_bytes());
    out.extend_from_slice(rule.as_bytes());
    out.extend_from_slice(b"\n");
}

/// One block of build output (about 2.3 KB, 34 lines).
fn build_block(i: usize) -> Vec<u8> {
    let mut b = Vec::new();
    let d = i % 97;
    b.extend_from_slice(
        format!(
            "libtool: compile:  gcc -DHAVE_CONFIG_H -I. -I../include -Wdate-time -D_FORTIFY_SOURCE=2 -g -O2 -ffile-prefix-map=/<<PKGBUILDDIR>>=. -fstack-protector-strong -Wformat -Werror=format-security -c src/module{d}.c -fPIC -DPIC -o src/.libs/module{d}.o\n\
src/module{d}.c: In function 'frob_{d}':\n\
src/module{d}.c:{}:9: warning: unused variable 'tmp' [-Wunused-variable]\n\
  {} |         int tmp;\n\
      |             ^~~\n\
/bin/bash ../libtool  --tag=CC   --mode=link gcc  -g -O2 -Wl,-z,relro -Wl,-z,now -o libfrob.la -rpath /usr/lib/x86_64-linux-gnu src/module{d}.lo -lm\n\
make[3]: Entering directory '/<<PKGBUILDDIR>>/src/sub{d}'\n\
make[3]: Nothing to be done for 'all-am'.\n\
make[3]: Leaving directory '/<<PKGBUILDDIR>>/src/sub{d}'\n\
checking for strerror_r... yes\n\
checking whether strerror_r returns char *... yes\n\
   dh_auto_test -a\n\
PASS: tests/test-{d}-basic\n\
PASS: tests/test-{d}-unicode ✓ «ok»\n\
SKIP: tests/test-{d}-network (no network in chroot)\n\
============================================================================\n\
Testsuite summary for frob 1.2.{d}\n\
============================================================================\n\
# TOTAL: 3\n\
# PASS:  2\n\
# SKIP:  1\n\
# FAIL:  0\n\
Get:{d} http://deb.example.org/debian unstable/main amd64 libfrob-dev amd64 1.2-{d} [41.2 kB]\r\n\
(Reading database ... \r(Reading database ... 45%\r(Reading database ... 100%\r(Reading database ... 21874 files and directories currently installed.)\n\
Preparing to unpack .../libfrob-dev_1.2-{d}_amd64.deb ...\n\
Unpacking libfrob-dev (1.2-{d}) ...\n\
Setting up libfrob-dev (1.2-{d}) ...\n\
test_parser_{d} (tests.test_parser.ParserTest.test_parser_{d}) ... ok\n\
\n\
----------------------------------------------------------------------\n\
Ran 42 tests in 0.{d:03}s\n\
\n\
OK\n",
            100 + d,
            100 + d,
        )
        .as_bytes(),
    );
    // A byte that is not UTF-8 (a Latin-1 test name), as real logs have.
    b.extend_from_slice(b"PASS: tests/caf\xe9-locale\n");
    b
}

/// A ~`target` byte sbuild log of a successful build.
fn synthetic_log(target: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(target + 16 * 1024);
    out.extend_from_slice(
        b"sbuild (Debian sbuild) 0.88.3 (07 February 2025) on buildd-bench.example.org\n\n",
    );
    let main_rule = format!("+{}+\n", "=".repeat(78));
    out.extend_from_slice(main_rule.as_bytes());
    out.extend_from_slice(
        format!(
            "| {:<76} |\n",
            "frob 1.2-1 (amd64)                           Thu, 03 Sep 2026 21:35:10 +0000"
        )
        .as_bytes(),
    );
    out.extend_from_slice(main_rule.as_bytes());
    out.extend_from_slice(
        b"\nPackage: frob\nVersion: 1.2-1\nSource Version: 1.2-1\nDistribution: unstable\n\
Machine Architecture: amd64\nHost Architecture: amd64\nBuild Architecture: amd64\nBuild Type: any\n\n",
    );
    for title in [
        "Update chroot",
        "Fetch source files",
        "Install package build dependencies",
    ] {
        section(&mut out, title);
        out.extend_from_slice(b"Reading package lists...\nBuilding dependency tree...\n");
    }
    section(&mut out, "Build");
    let body_end = target.saturating_sub(4096);
    let mut i = 0;
    while out.len() < body_end {
        out.extend_from_slice(&build_block(i));
        i += 1;
    }
    out.extend_from_slice(
        b"dpkg-deb: building package 'frob' in '../frob_1.2-1_amd64.deb'.\n\
--------------------------------------------------------------------------------\n\
Build finished at 2026-09-03T22:10:01Z\n",
    );
    section(&mut out, "Changes");
    out.extend_from_slice(
        b"\nfrob_1.2-1_amd64.changes:\n-------------------------\n\n\
Format: 1.8\nSource: frob\nBinary: frob\nArchitecture: amd64\nVersion: 1.2-1\nDistribution: unstable\n\
Files:\n 0123456789abcdef0123456789abcdef 40960 libs optional frob_1.2-1_amd64.deb\n\n",
    );
    section(&mut out, "Cleanup");
    out.extend_from_slice(b"Purging /<<BUILDDIR>>\n");
    section(&mut out, "Summary");
    out.extend_from_slice(
        b"Build Architecture: amd64\nBuild Type: any\nBuild-Space: 812344\nBuild-Time: 2091\n\
Distribution: unstable\nHost Architecture: amd64\nInstall-Time: 12\nJob: frob_1.2-1\n\
Machine Architecture: amd64\nPackage: frob\nPackage-Time: 2110\nSource-Version: 1.2-1\n\
Space: 812344\nStatus: successful\nVersion: 1.2-1\n\
--------------------------------------------------------------------------------\n\
Finished at 2026-09-03T22:10:20Z\nBuild needed 00:35:10, 812344k disk space\n",
    );
    out
}

fn bench_parse(c: &mut Criterion) {
    let mb: usize = std::env::var("BUILDMAIL_BENCH_LOG_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let log = synthetic_log(mb * 1_000_000);

    // The parser must actually find what it is timed for.
    let parsed = parse(&log);
    assert_eq!(parsed.status, Some(Status::Successful));
    assert_eq!(parsed.package.as_deref(), Some("frob"));
    assert_eq!(parsed.build_needed_secs, Some(2110));
    assert!(parsed.changes.is_some());
    assert_eq!(parsed.sections.len(), 7);

    let mut g = c.benchmark_group("sbuild-log");
    g.throughput(Throughput::Bytes(log.len() as u64));
    g.sample_size(20);
    g.bench_function("count-lines-memchr", |b| {
        b.iter(|| memchr::memchr_iter(b'\n', black_box(&log)).count())
    });
    g.bench_function("sbuild-parse", |b| b.iter(|| parse(black_box(&log))));

    // explain of a failed build of the same size: bounded work after the
    // one scan.
    let mut failed = log.clone();
    let tail = b"Status: successful\n";
    if let Some(at) = memchr::memmem::rfind(&failed, tail) {
        failed.splice(
            at..at + tail.len(),
            b"Fail-Stage: build\nStatus: attempted\n".iter().copied(),
        );
    }
    let failed_parsed = parse(&failed);
    assert!(explain(&failed, &failed_parsed).is_some());
    g.bench_function("explain-attempted", |b| {
        b.iter(|| explain(black_box(&failed), black_box(&failed_parsed)))
    });
    g.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
