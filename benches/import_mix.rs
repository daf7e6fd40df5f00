//! `buildmail import` of a bad day's mail (issue 11, "Import at the speed
//! of the disk"), against the two limits that frame it: counting the
//! mbox's lines with memchr (the most any reader of the file can do), and a
//! straightforward Python ingester (`benches/baseline_ingest.py`: the
//! `mailbox` and `email` packages, a regex on the Subject and on the
//! Summary's `Status:`, one durable SQLite commit per mail).
//!
//! The mbox (about 220 MB; `BUILDMAIL_BENCH_MIX_MB` sets it) holds sbuild
//! 0.85 log mails made by the generator below: deterministic (seeded;
//! `BUILDMAIL_BENCH_MIX_SEED`), with build sections shaped like real ones
//! (dpkg-buildpackage and dh, autotools/libtool, CMake, Meson, pybuild,
//! Go and Cargo builds with varied compiler invocations, warnings with
//! source excerpts, test suites, `dpkg-deb` lines, lintian tags, the
//! `.changes` and `dpkg -c` listings). The mix is that of a bad day of a
//! new architecture: 50 % successful, 35 % attempted (a compiler, linker
//! or test-suite failure at the end of the build), 10 % given-back
//! (unsatisfiable build-dependencies, apt and dose3 output), 5 % skipped
//! (arch-check); logs of 30–200 KB; a third each as a plain 8bit body, a
//! MIME text part (`*.build`) and a base64 `application/x-gzip` part.
//!
//! Three mbox files are written: the mix, its successful mails, and its
//! other (failed: attempted, given-back, skipped) mails. For each: its
//! memchr line count, `buildmail import --explain=later` into a fresh data
//! directory (default configuration; wall time, MB/s, mails/s and peak RSS
//! from `wait4`), then `buildmail work --explanations` (the explanations of
//! the failed builds, which buildmail makes off the critical path; its wall
//! time and peak RSS), and the Python baseline (which explains nothing). `cargo bench --bench import_mix`.
//! `BUILDMAIL_BENCH_MIX_DIR=dir` writes the mbox files there and keeps
//! them (for profiling); `BUILDMAIL_BENCH_MIX_PYTHON=0` skips Python.

#[path = "common/measure.rs"]
mod measure;

#[path = "../tests/it/support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use measure::run_measured;
use support::{Encoding, LogForm, LogMail};

// ---------------------------------------------------------------------------
// Deterministic pseudo-random numbers (splitmix64).

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n.
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// lo..=hi.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    fn pick_ref<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    fn hex(&mut self, n: usize) -> String {
        const H: &[u8; 16] = b"0123456789abcdef";
        (0..n)
            .map(|_| char::from(H[(self.next_u64() & 15) as usize]))
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Vocabulary.

#[rustfmt::skip]
const WORDS: &[&str] = &[
    "parser", "lexer", "buffer", "config", "socket", "stream", "hash", "table", "list", "queue",
    "util", "string", "file", "path", "thread", "mutex", "signal", "event", "loop", "timer", "log",
    "error", "alloc", "pool", "cache", "index", "tree", "node", "graph", "matrix", "vector",
    "image", "pixel", "color", "font", "glyph", "render", "shader", "audio", "codec", "frame",
    "packet", "crypto", "cipher", "digest", "key", "cert", "http", "url", "json", "xml", "yaml",
    "schema", "query", "record", "field", "value", "object", "module", "plugin", "option", "args",
    "shell", "term", "widget", "window", "dialog", "menu", "layout", "style", "theme", "locale",
    "unicode", "date", "zone", "math", "rand", "fft", "filter", "sample", "decode", "encode",
    "compress", "inflate", "archive", "mount", "device", "driver", "usb", "net", "addr", "route",
    "dns", "proto", "rpc", "message", "bus", "session", "auth", "user", "group", "policy", "rule",
    "match", "regex", "glob", "token", "syntax", "ast", "eval", "vm", "jit", "heap", "stack",
    "trace", "debug", "mock", "sim", "model", "mesh", "geom", "point", "curve", "spline", "raster",
    "tile", "vertex", "atlas", "sensor", "probe", "quota", "ledger", "cursor", "scroll", "clip",
    "blend", "mixer", "tuner", "chord", "voice", "lens", "orbit",
];

/// C libraries: the -dev package, the pkg-config name, the include
/// directory (if not /usr/include).
#[rustfmt::skip]
const C_LIBS: &[(&str, &str, &str)] = &[
    ("zlib1g-dev", "zlib", ""), ("libssl-dev", "openssl", ""),
    ("libglib2.0-dev", "glib-2.0", "glib-2.0"), ("libxml2-dev", "libxml-2.0", "libxml2"),
    ("libcurl4-openssl-dev", "libcurl", ""), ("libsqlite3-dev", "sqlite3", ""),
    ("libpng-dev", "libpng", "libpng16"), ("libjpeg-dev", "libjpeg", ""),
    ("libffi-dev", "libffi", ""), ("liblzma-dev", "liblzma", ""), ("libzstd-dev", "libzstd", ""),
    ("libgtk-3-dev", "gtk+-3.0", "gtk-3.0"), ("libcairo2-dev", "cairo", "cairo"),
    ("libpango1.0-dev", "pango", "pango-1.0"), ("libharfbuzz-dev", "harfbuzz", "harfbuzz"),
    ("libfreetype-dev", "freetype2", "freetype2"), ("libdbus-1-dev", "dbus-1", "dbus-1.0"),
    ("libsystemd-dev", "libsystemd", ""), ("libudev-dev", "libudev", ""),
    ("libpcre2-dev", "libpcre2-8", ""), ("libreadline-dev", "readline", "readline"),
    ("libncurses-dev", "ncursesw", "ncursesw"), ("libyaml-dev", "yaml-0.1", ""),
    ("libjson-c-dev", "json-c", "json-c"), ("libmount-dev", "mount", "libmount"),
    ("libblkid-dev", "blkid", "blkid"), ("libp11-kit-dev", "p11-kit-1", "p11-kit-1"),
    ("libgnutls28-dev", "gnutls", ""), ("libpulse-dev", "libpulse", ""),
    ("libasound2-dev", "alsa", "alsa"),
];

#[rustfmt::skip]
const HEADERS: &[&str] = &[
    "stdint.h", "stdlib.h", "string.h", "unistd.h", "fcntl.h", "sys/types.h", "sys/stat.h",
    "sys/mman.h", "sys/socket.h", "netinet/in.h", "arpa/inet.h", "pthread.h", "dlfcn.h",
    "endian.h", "byteswap.h", "locale.h", "langinfo.h", "iconv.h", "libintl.h", "poll.h",
    "sys/epoll.h", "sys/inotify.h", "sys/random.h", "linux/fs.h", "execinfo.h", "ucontext.h",
    "sys/auxv.h", "cpuid.h", "immintrin.h", "valgrind/valgrind.h",
];

#[rustfmt::skip]
const FUNCS: &[&str] = &[
    "strlcpy", "reallocarray", "getrandom", "memfd_create", "posix_fallocate", "pipe2", "accept4",
    "mkostemp", "secure_getenv", "explicit_bzero", "qsort_r", "strchrnul", "sched_getaffinity",
    "clock_gettime", "timerfd_create", "copy_file_range", "statx", "backtrace", "getauxval",
    "__builtin_cpu_supports", "posix_memalign", "fdatasync",
];

#[rustfmt::skip]
const LANGS: &[&str] = &[
    "ar", "ast", "be", "bg", "bn", "ca", "cs", "da", "de", "el", "en_GB", "eo", "es", "et", "eu",
    "fa", "fi", "fr", "ga", "gl", "he", "hi", "hr", "hu", "id", "is", "it", "ja", "ka", "kk", "ko",
    "lt", "lv", "mk", "ml", "mr", "nb", "ne", "nl", "nn", "oc", "pa", "pl", "pt", "pt_BR", "ro",
    "ru", "sk", "sl", "sr", "sr@latin", "sv", "ta", "te", "th", "tr", "uk", "vi", "zh_CN", "zh_HK",
    "zh_TW",
];

#[rustfmt::skip]
const VARS: &[&str] = &[
    "len", "n", "ret", "rc", "i", "buf", "tmp", "flags", "count", "size", "offset", "fd", "ctx",
    "state", "idx", "pos", "res", "mask", "width", "nbytes",
];

#[rustfmt::skip]
const FIRST: &[&str] = &[
    "Anna", "Bastian", "Chen", "Dimitri", "Elena", "Felix", "Gabriel", "Hanna", "Ivo", "Jonas",
    "Kateryna", "Lucas", "Maria", "Nils", "Olga", "Paul", "Rui", "Sofia", "Tomasz", "Yuki",
];

#[rustfmt::skip]
const LAST: &[&str] = &[
    "Andersen", "Berger", "Costa", "Dubois", "Esposito", "Fischer", "Garcia", "Horvat", "Ivanova",
    "Jansen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov", "Quint", "Rossi",
    "Schmidt", "Tanaka",
];

#[rustfmt::skip]
const BASE_PKGS: &[(&str, &str)] = &[
    ("base-files", "14"), ("base-passwd", "3.6.5"), ("bash", "5.2.37-1"), ("binutils", "2.43.1-5"),
    ("bsdutils", "1:2.40.2-11"), ("build-essential", "12.12"), ("bzip2", "1.0.8-6"),
    ("coreutils", "9.5-1+b1"), ("cpp-14", "14.2.0-8"), ("dash", "0.5.12-9+b1"),
    ("debconf", "1.5.87"), ("debhelper", "13.20"), ("debianutils", "5.21"),
    ("diffutils", "1:3.10-1"), ("dpkg", "1.22.11"), ("dpkg-dev", "1.22.11"), ("dwz", "0.15-1+b1"),
    ("fakeroot", "1.36-1"), ("file", "1:5.45-3"), ("findutils", "4.10.0-3"),
    ("g++-14", "14.2.0-8"), ("gcc-14", "14.2.0-8"), ("grep", "3.11-4"), ("gzip", "1.12-1.1"),
    ("libc6", "2.40-3"), ("libc6-dev", "2.40-3"), ("libstdc++6", "14.2.0-8"),
    ("make", "4.3-4.1+b1"), ("patch", "2.7.6-7"), ("perl", "5.40.0-7"), ("sed", "4.9-2"),
    ("tar", "1.35+dfsg-3"), ("util-linux", "2.40.2-11"), ("xz-utils", "5.6.3-1+b1"),
];

// ---------------------------------------------------------------------------
// What one mail describes.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Successful,
    Attempted,
    GivenBack,
    Skipped,
}

impl Status {
    const ALL: [Status; 4] = [
        Status::Successful,
        Status::Attempted,
        Status::GivenBack,
        Status::Skipped,
    ];

    fn name(self) -> &'static str {
        match self {
            Status::Successful => "successful",
            Status::Attempted => "attempted",
            Status::GivenBack => "given-back",
            Status::Skipped => "skipped",
        }
    }

    /// Log sizes, KB.
    fn sizes(self) -> (usize, usize) {
        match self {
            // Targets: the last lines of a build can overshoot them a little.
            Status::Successful => (40, 196),
            Status::Attempted => (30, 190),
            Status::GivenBack => (30, 80),
            Status::Skipped => (30, 45),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Form {
    Plain,
    MimeText,
    MimeGzip,
}

impl Form {
    const ALL: [Form; 3] = [Form::Plain, Form::MimeText, Form::MimeGzip];

    fn name(self) -> &'static str {
        match self {
            Form::Plain => "plain 8bit body",
            Form::MimeText => "MIME text part",
            Form::MimeGzip => "MIME gzip base64",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum System {
    Autotools,
    Cmake,
    Meson,
    Pybuild,
    Golang,
    Cargo,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fail {
    Compile,
    Link,
    Test,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BinKind {
    Lib,
    Dev,
    Tools,
    Python,
    Dbgsym,
}

struct Arch {
    name: &'static str,
    triplet: &'static str,
    cpu: &'static str,
    rust: &'static str,
}

const ARCHES: &[Arch] = &[
    Arch {
        name: "loong64",
        triplet: "loongarch64-linux-gnu",
        cpu: "loongarch64",
        rust: "loongarch64-unknown-linux-gnu",
    },
    Arch {
        name: "riscv64",
        triplet: "riscv64-linux-gnu",
        cpu: "riscv64",
        rust: "riscv64gc-unknown-linux-gnu",
    },
    Arch {
        name: "amd64",
        triplet: "x86_64-linux-gnu",
        cpu: "x86_64",
        rust: "x86_64-unknown-linux-gnu",
    },
    Arch {
        name: "arm64",
        triplet: "aarch64-linux-gnu",
        cpu: "aarch64",
        rust: "aarch64-unknown-linux-gnu",
    },
];

struct Ctx {
    src: String,
    ver: String,
    sver: String,
    up: String,
    arch: &'static Arch,
    dist: &'static str,
    status: Status,
    system: System,
    fail: Fail,
    /// The project's short name (library, module, crate).
    stem: String,
    org: String,
    bins: Vec<(String, BinKind)>,
    mods: Vec<String>,
    dirs: Vec<String>,
    deps: Vec<(String, String)>,
    build_deps: Vec<String>,
    /// The unsatisfiable build-dependencies of a given-back build.
    unsat: Vec<(String, String)>,
    builder: String,
    maint: String,
    start: u32,
    target: usize,
    binnmu: bool,
    soname: usize,
}

fn word_pair(r: &mut Rng, sep: &str) -> String {
    let a = r.pick(WORDS);
    let mut b = r.pick(WORDS);
    while b == a {
        b = r.pick(WORDS);
    }
    format!("{a}{sep}{b}")
}

fn deb_version(r: &mut Rng) -> String {
    let mut v = format!("{}.{}", r.range(0, 12), r.range(0, 30));
    if r.chance(60) {
        v += &format!(".{}", r.range(0, 20));
    }
    if r.chance(15) {
        v += "+dfsg";
    }
    v += &format!("-{}", r.range(1, 6));
    if r.chance(10) {
        v += &format!("+b{}", r.range(1, 3));
    }
    v
}

fn dep_package(r: &mut Rng) -> String {
    let w = r.pick(WORDS);
    match r.below(12) {
        0 => format!("lib{w}{}", r.range(0, 9)),
        1 => format!("lib{w}-dev"),
        2 => format!("lib{}-{}", word_pair(r, ""), r.range(1, 4)),
        3 => format!("python3-{w}"),
        4 => format!("{w}-common"),
        5 => format!("gir1.2-{w}-1.0"),
        6 => format!("lib{w}-perl"),
        7 => format!("node-{}", word_pair(r, "-")),
        8 => format!("golang-github-{}-dev", word_pair(r, "-")),
        9 => format!("librust-{}-dev", word_pair(r, "-")),
        10 => format!("fonts-{w}"),
        _ => format!("{w}-data"),
    }
}

impl Ctx {
    fn new(
        i: usize,
        status: Status,
        r: &mut Rng,
        names: &mut std::collections::HashSet<String>,
    ) -> Ctx {
        let system = match r.below(100) {
            0..=29 => System::Autotools,
            30..=49 => System::Cmake,
            50..=61 => System::Meson,
            62..=79 => System::Pybuild,
            80..=89 => System::Golang,
            _ => System::Cargo,
        };
        let arch = match r.below(100) {
            0..=69 => &ARCHES[0],
            70..=84 => &ARCHES[1],
            85..=92 => &ARCHES[2],
            _ => &ARCHES[3],
        };
        let binnmu = r.chance(12);
        let mut up = format!("{}.{}", r.range(0, 9), r.range(0, 40));
        if r.chance(60) {
            up += &format!(".{}", r.range(0, 15));
        }
        if r.chance(12) {
            up += "+dfsg";
        }
        let sver = format!("{up}-{}", r.range(1, 5));
        let ver = if binnmu {
            format!("{sver}+b{}", r.range(1, 3))
        } else {
            sver.clone()
        };
        // Names unique in the mbox, short enough for the header box's
        // title (`<src> <ver> (<arch>)` in 45 columns).
        let mut attempt = 0;
        let (stem, org, src) = loop {
            attempt += 1;
            let stem = match r.below(3) {
                0 => r.pick(WORDS).to_string(),
                _ => word_pair(r, ""),
            };
            let org = r.pick(WORDS).to_string() + r.pick(&["lab", "hq", "io", "dev", ""]);
            let src = match system {
                System::Autotools | System::Cmake | System::Meson => {
                    if r.chance(40) {
                        format!("lib{stem}")
                    } else {
                        stem.clone()
                    }
                }
                System::Pybuild => format!("python-{stem}"),
                System::Golang if attempt < 50 => format!("golang-github-{org}-{stem}"),
                System::Golang => format!("golang-{stem}"),
                System::Cargo => format!("rust-{stem}"),
            };
            let src = if names.contains(&src) {
                format!("{src}{}", r.range(2, 99))
            } else {
                src
            };
            let fits = src.len() + ver.len() + arch.name.len() + 4 <= 45;
            if (fits || attempt > 200) && names.insert(src.clone()) {
                break (stem, org, src);
            }
        };
        let soname = r.range(0, 12);
        let mut bins = Vec::new();
        match system {
            System::Autotools | System::Cmake | System::Meson => {
                bins.push((format!("lib{stem}{soname}"), BinKind::Lib));
                bins.push((format!("lib{stem}-dev"), BinKind::Dev));
                if r.chance(60) {
                    bins.push((format!("{stem}-tools"), BinKind::Tools));
                }
            }
            System::Pybuild => bins.push((format!("python3-{stem}"), BinKind::Python)),
            System::Golang | System::Cargo => bins.push((stem.clone(), BinKind::Tools)),
        }
        let debug: Vec<_> = bins
            .iter()
            .filter(|(_, k)| *k != BinKind::Dev)
            .map(|(b, _)| (format!("{b}-dbgsym"), BinKind::Dbgsym))
            .collect();
        bins.extend(debug);
        let mods: Vec<String> = (0..r.range(20, 90))
            .map(|_| match r.below(3) {
                0 => r.pick(WORDS).to_string(),
                1 => word_pair(r, "_"),
                _ => word_pair(r, "-"),
            })
            .collect();
        let mut dirs = vec!["src".to_string()];
        for _ in 0..r.range(1, 7) {
            dirs.push(match r.below(5) {
                0 => format!("lib/{}", r.pick(WORDS)),
                1 => format!("src/{}", r.pick(WORDS)),
                2 => format!("plugins/{}", r.pick(WORDS)),
                3 => "tools".to_string(),
                _ => r.pick(WORDS).to_string(),
            });
        }
        let mut build_deps = vec!["debhelper-compat (= 13)".to_string()];
        match system {
            System::Autotools => build_deps.push("dh-autoreconf".into()),
            System::Cmake => build_deps.push("cmake".into()),
            System::Meson => build_deps.extend(["meson".into(), "ninja-build".into()]),
            System::Pybuild => build_deps.extend([
                "dh-sequence-python3".into(),
                "python3-all-dev".into(),
                "python3-setuptools".into(),
                "python3-pytest <!nocheck>".into(),
            ]),
            System::Golang => build_deps.extend(["dh-sequence-golang".into(), "golang-any".into()]),
            System::Cargo => build_deps.extend(["dh-sequence-cargo".into(), "cargo".into()]),
        }
        for _ in 0..r.range(2, 12) {
            let d = if r.chance(40) {
                r.pick(C_LIBS).0.to_string()
            } else {
                dep_package(r)
            };
            if r.chance(30) {
                build_deps.push(format!(
                    "{d} (>= {})",
                    r.pick(&["1.2", "2.0", "0.9.4", "3.1.1"])
                ));
            } else {
                build_deps.push(d);
            }
        }
        let (lo, hi) = status.sizes();
        // Skewed towards smaller logs, as real ones are.
        let span = (hi - lo) * 1000;
        let target =
            (lo * 1000 + r.below(span).min(r.below(span)) + r.below(span) / 4).min(hi * 1000);
        // About 450 bytes of log each (apt's lines, the Build environment
        // and the Buildinfo): a third of the log at most.
        let mut seen = std::collections::HashSet::new();
        let deps: Vec<(String, String)> = (0..r.range(30, 220).min(target / 1350))
            .map(|_| (dep_package(r), deb_version(r)))
            .filter(|(p, _)| seen.insert(p.clone()))
            .collect();
        // What a given-back build cannot have.
        let unsat: Vec<(String, String)> = (0..r.range(1, 3))
            .map(|_| {
                let name = if r.chance(50) {
                    format!("lib{}-dev", word_pair(r, ""))
                } else {
                    dep_package(r)
                };
                (
                    name,
                    format!("{}.{}.{}", r.range(0, 9), r.range(0, 30), r.range(0, 9)),
                )
            })
            .collect();
        if status == Status::GivenBack {
            build_deps.extend(unsat.iter().map(|(n, v)| format!("{n} (>= {v})")));
        }
        let fail = match (r.below(100), system) {
            (0..=44, _) => Fail::Compile,
            (45..=59, System::Autotools | System::Cmake | System::Meson) => Fail::Link,
            (45..=59, _) => Fail::Compile,
            _ => Fail::Test,
        };
        Ctx {
            maint: format!(
                "{} {} <{}@example.org>",
                r.pick(FIRST),
                r.pick(LAST),
                r.pick(WORDS)
            ),
            builder: format!("buildd-{}-{:02}.example.org", arch.name, r.range(1, 12)),
            start: ((i * 29) % 80_000) as u32,
            src,
            ver,
            sver,
            up,
            arch,
            dist: if r.chance(8) {
                "experimental"
            } else {
                "unstable"
            },
            status,
            system,
            fail,
            stem,
            org,
            bins,
            mods,
            dirs,
            deps,
            build_deps,
            target,
            unsat,
            binnmu,
            soname,
        }
    }
}

// ---------------------------------------------------------------------------
// The log.

macro_rules! w {
    ($log:expr) => {{
        $log.out.push(b'\n');
    }};
    ($log:expr, $($t:tt)*) => {{
        let _ = writeln!($log.out, $($t)*);
    }};
}

struct Log {
    out: Vec<u8>,
    r: Rng,
    c: Ctx,
    clock: u32,
    /// The `.changes` of a successful build (the log's Changes section,
    /// and the MIME mails' part).
    changes: Option<String>,
}

const RULE_EQ: &str =
    "+==============================================================================+";
const RULE: &str =
    "+------------------------------------------------------------------------------+";
/// The Python the pybuild builds run.
const PYTHON: &str = "3.13";
const DASHES: &str =
    "--------------------------------------------------------------------------------";

impl Log {
    fn len(&self) -> usize {
        self.out.len()
    }

    fn tick(&mut self, secs: usize) {
        self.clock = (self.clock + secs as u32).min(86_399);
    }

    fn hms(&self) -> String {
        let t = self.clock;
        format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
    }

    fn iso(&self) -> String {
        format!("2026-11-21T{}Z", self.hms())
    }

    fn rfc(&self) -> String {
        format!("Sat, 21 Nov 2026 {} +0000", self.hms())
    }

    fn section(&mut self, title: &str) {
        w!(self, "\n{RULE}\n| {title:<76} |\n{RULE}\n");
    }

    fn subsection(&mut self, title: &str) {
        w!(self, "\n{title}\n{}\n", "-".repeat(title.len()));
    }

    fn pick_mod(&mut self) -> String {
        self.r.pick_ref(&self.c.mods).clone()
    }

    fn pick_dir(&mut self) -> String {
        self.r.pick_ref(&self.c.dirs).clone()
    }

    fn func(&mut self) -> String {
        format!("{}_{}", self.c.stem, word_pair(&mut self.r, "_"))
    }

    /// Lines of names, wrapped as apt wraps them.
    fn wrapped(&mut self, names: &[String]) {
        let mut line = String::from(" ");
        for n in names {
            if line.len() + n.len() + 1 > 79 {
                w!(self, "{line}");
                line = String::from(" ");
            }
            line.push(' ');
            line.push_str(n);
        }
        if line.len() > 1 {
            w!(self, "{line}");
        }
    }

    fn build(mut self) -> Vec<u8> {
        self.header();
        let upgrades = match self.c.status {
            Status::Skipped | Status::GivenBack => 0,
            _ => self.r.range(0, 40),
        };
        // Skipped and given-back logs are short but for a large chroot
        // upgrade: let it fill them.
        let fill_to = match self.c.status {
            Status::Skipped => self.c.target.saturating_sub(2_000),
            Status::GivenBack => self.c.target.saturating_sub(8_000),
            _ => 0,
        };
        self.update_chroot(upgrades, fill_to);
        self.fetch_source();
        match self.c.status {
            Status::Skipped => {
                self.section("Check architectures");
                w!(
                    self,
                    "E: dsc: {} not in arch list or does not match any arch wildcards: {} -- skipping",
                    self.c.arch.name,
                    self.r.pick(&["amd64 arm64 i386", "amd64", "any-amd64 any-i386", "linux-any !loong64"])
                );
                self.tick(2);
                self.cleanup();
                self.summary();
            }
            Status::GivenBack => {
                self.install_deps(false);
                self.cleanup();
                self.summary();
            }
            Status::Successful | Status::Attempted => {
                self.install_deps(true);
                self.section("Check architectures");
                w!(self, "Arch check ok ({} included in any)", self.c.arch.name);
                self.build_environment();
                let ok = self.build_section();
                if ok {
                    self.changes_section();
                    self.buildinfo_section();
                    self.contents_section();
                    self.lintian_section();
                    self.section("Post Build");
                }
                self.cleanup();
                self.summary();
            }
        }
        self.out
    }

    fn header(&mut self) {
        let (v, d) = if self.r.chance(50) {
            ("0.85.2", "11 March 2023")
        } else {
            ("0.85.0", "04 January 2023")
        };
        w!(
            self,
            "sbuild (Debian sbuild) {v} ({d}) on {}\n",
            self.c.builder
        );
        let title = format!("{} {} ({})", self.c.src, self.c.ver, self.c.arch.name);
        w!(
            self,
            "{RULE_EQ}\n| {title:<45}{} |\n{RULE_EQ}\n",
            self.rfc()
        );
        let c = &self.c;
        w!(
            self,
            "Package: {}\nVersion: {}\nSource Version: {}\nDistribution: {}\nMachine Architecture: {}\nHost Architecture: {}\nBuild Architecture: {}\nBuild Type: any\n",
            c.src, c.ver, c.sver, c.dist, c.arch.name, c.arch.name, c.arch.name
        );
        let chroot = self.r.hex(8);
        let dir = self.r.hex(6);
        let res = self.r.hex(6);
        w!(
            self,
            "I: NOTICE: Log filtering will replace 'var/run/schroot/mount/{}-{}-sbuild-{chroot}' with '<<CHROOT>>'",
            self.c.dist,
            self.c.arch.name
        );
        w!(
            self,
            "I: NOTICE: Log filtering will replace 'build/{}-{dir}/{}-{}' with '<<PKGBUILDDIR>>'",
            self.c.src,
            self.c.src,
            self.c.up
        );
        w!(
            self,
            "I: NOTICE: Log filtering will replace 'build/{}-{dir}' with '<<BUILDDIR>>'",
            self.c.src
        );
        w!(
            self,
            "I: NOTICE: Log filtering will replace 'build/{}-{dir}/resolver-{res}' with '<<RESOLVERDIR>>'",
            self.c.src
        );
    }

    fn mirror(&self) -> &'static str {
        match self.c.arch.name {
            "loong64" | "riscv64" => "http://deb.example.org/debian-ports",
            _ => "http://deb.example.org/debian",
        }
    }

    fn update_chroot(&mut self, mut upgrades: usize, fill_to: usize) {
        self.section("Update chroot");
        let m = self.mirror();
        let dist = self.c.dist;
        let arch = self.c.arch.name;
        w!(
            self,
            "Get:1 {m} {dist} InRelease [{} kB]",
            self.r.range(60, 200)
        );
        let diffs = self.r.range(1, 6);
        for n in 0..diffs {
            w!(
                self,
                "Get:{} {m} {dist}/main {arch} Packages T-2026-11-{:02}-{:02}{:02}.{:02}-F-2026-11-20-2014.22.pdiff [{}.{} kB]",
                n + 2,
                20 + n / 4,
                self.r.range(0, 23),
                self.r.range(0, 59),
                self.r.range(0, 59),
                self.r.range(1, 90),
                self.r.below(10)
            );
        }
        w!(
            self,
            "Fetched {} kB in {}s ({} kB/s)\nReading package lists...\nReading package lists...\nBuilding dependency tree...\nCalculating upgrade...",
            self.r.range(100, 900),
            self.r.range(1, 4),
            self.r.range(100, 2000)
        );
        let mut pkgs: Vec<(String, String, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while pkgs.len() < upgrades || (fill_to > 0 && self.len() + pkgs.len() * 300 < fill_to) {
            let (name, new) = if self.r.chance(30) {
                let (p, v) = self.r.pick(BASE_PKGS);
                (p.to_string(), v.to_string())
            } else {
                (dep_package(&mut self.r), deb_version(&mut self.r))
            };
            if seen.insert(name.clone()) {
                let old = format!("{}~{}", new, self.r.range(1, 9));
                pkgs.push((name, old, new));
            }
        }
        upgrades = pkgs.len();
        if upgrades == 0 {
            w!(
                self,
                "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded."
            );
            return;
        }
        w!(self, "The following packages will be upgraded:");
        let names: Vec<String> = pkgs.iter().map(|p| p.0.clone()).collect();
        self.wrapped(&names);
        w!(
            self,
            "{upgrades} upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\nNeed to get {}.{} MB of archives.\nAfter this operation, {} kB of additional disk space will be used.",
            self.r.range(1, 80),
            self.r.below(10),
            self.r.range(10, 9000)
        );
        for (n, (name, _, new)) in pkgs.iter().enumerate() {
            w!(
                self,
                "Get:{} {m} {dist}/main {arch} {name} {arch} {new} [{} kB]",
                n + 1,
                self.r.range(5, 4000)
            );
        }
        w!(
            self,
            "debconf: delaying package configuration, since apt-utils is not installed\nFetched {}.{} MB in {}s ({}.{} MB/s)",
            self.r.range(1, 80),
            self.r.below(10),
            self.r.range(1, 20),
            self.r.range(1, 40),
            self.r.below(10)
        );
        let files = self.r.range(11000, 19000);
        w!(
            self,
            "(Reading database ... {files} files and directories currently installed.)"
        );
        for (name, old, new) in &pkgs {
            w!(
                self,
                "Preparing to unpack .../{name}_{}_{arch}.deb ...\nUnpacking {name}:{arch} ({new}) over ({old}) ...",
                new.split_once(':').map_or(new.as_str(), |(_, v)| v)
            );
        }
        for (name, _, new) in &pkgs {
            w!(self, "Setting up {name}:{arch} ({new}) ...");
        }
        w!(self, "Processing triggers for libc-bin (2.40-3) ...");
        self.tick(40 + upgrades);
    }

    fn fetch_source(&mut self) {
        self.section("Fetch source files");
        self.subsection("Check APT");
        w!(self, "Checking available source versions...");
        self.subsection("Download source files with APT");
        w!(self, "Reading package lists...");
        let c = &self.c;
        let (src, sver, dist, m) = (c.src.clone(), c.sver.clone(), c.dist, self.mirror());
        if self.r.chance(60) {
            let team = self.r.pick(&[
                "debian",
                "go-team/packages",
                "python-team/packages",
                "rust-team",
                "multimedia-team",
            ]);
            w!(
                self,
                "NOTICE: '{src}' packaging is maintained in the 'Git' version control system at:\nhttps://salsa.debian.org/{team}/{src}.git\nPlease use:\ngit clone https://salsa.debian.org/{team}/{src}.git\nto retrieve the latest (possibly unreleased) updates to the package."
            );
        }
        let (dsc, tar, diff) = (
            self.r.range(1200, 4000),
            self.r.range(20, 30000),
            self.r.range(3, 90),
        );
        w!(
            self,
            "Need to get {} kB of source archives.\nGet:1 {m} {dist}/main {src} {sver} (dsc) [{dsc} B]\nGet:2 {m} {dist}/main {src} {sver} (tar) [{tar} kB]\nGet:3 {m} {dist}/main {src} {sver} (diff) [{diff}.{} kB]\nFetched {} kB in {}s ({} kB/s)\nDownload complete and in download only mode",
            tar + diff + 2,
            self.r.below(10),
            tar + diff + 2,
            self.r.range(0, 5),
            self.r.range(500, 90000)
        );
        self.tick(3);
    }

    fn apt_install(&mut self, pkgs: &[(String, String)], dummy: &str) {
        let arch = self.c.arch.name;
        let m = self.mirror();
        let dist = self.c.dist;
        w!(self, "Installing build dependencies\nReading package lists...\nBuilding dependency tree...\nReading state information...");
        w!(self, "The following additional packages will be installed:");
        let names: Vec<String> = pkgs.iter().map(|p| p.0.clone()).collect();
        self.wrapped(&names);
        if self.r.chance(50) {
            w!(self, "Suggested packages:");
            let s: Vec<String> = (0..self.r.range(2, 20))
                .map(|_| dep_package(&mut self.r))
                .collect();
            self.wrapped(&s);
        }
        w!(self, "The following NEW packages will be installed:");
        let mut all = names.clone();
        all.push(dummy.to_string());
        self.wrapped(&all);
        w!(
            self,
            "0 upgraded, {} newly installed, 0 to remove and 0 not upgraded.\nNeed to get {} kB of archives.\nAfter this operation, {} kB of additional disk space will be used.",
            all.len(),
            all.len() * self.r.range(100, 1500),
            all.len() * self.r.range(300, 5000)
        );
        w!(
            self,
            "Get:1 copy:/<<RESOLVERDIR>>/apt_archive ./ {dummy} 0.invalid.0 [{} B]",
            self.r.range(700, 1000)
        );
        for (n, (name, ver)) in pkgs.iter().enumerate() {
            w!(
                self,
                "Get:{} {m} {dist}/main {arch} {name} {arch} {ver} [{} kB]",
                n + 2,
                self.r.range(3, 9000)
            );
        }
        w!(
            self,
            "debconf: delaying package configuration, since apt-utils is not installed\nFetched {}.{} MB in {}s ({}.{} MB/s)",
            self.r.range(10, 300),
            self.r.below(10),
            self.r.range(1, 30),
            self.r.range(1, 50),
            self.r.below(10)
        );
        let mut files = self.r.range(11000, 19000);
        for (n, (name, ver)) in pkgs.iter().enumerate() {
            let v = ver.split_once(':').map_or(ver.as_str(), |(_, v)| v);
            w!(
                self,
                "Selecting previously unselected package {name}:{arch}.\n(Reading database ... {files} files and directories currently installed.)\nPreparing to unpack .../{n:02}-{name}_{v}_{arch}.deb ...\nUnpacking {name}:{arch} ({ver}) ..."
            );
            files += self.r.range(3, 400);
        }
        w!(
            self,
            "Selecting previously unselected package {dummy}.\nPreparing to unpack .../{:02}-{dummy}_0.invalid.0_{arch}.deb ...\nUnpacking {dummy} (0.invalid.0) ...",
            pkgs.len()
        );
        for (name, ver) in pkgs {
            w!(self, "Setting up {name}:{arch} ({ver}) ...");
            if self.r.chance(3) {
                w!(
                    self,
                    "update-alternatives: using /usr/bin/{name} to provide /usr/bin/{} ({}) in auto mode",
                    self.r.pick(WORDS),
                    self.r.pick(WORDS)
                );
            }
        }
        w!(self, "Setting up {dummy} (0.invalid.0) ...\nProcessing triggers for libc-bin (2.40-3) ...\nProcessing triggers for man-db (2.13.0-1) ...");
        self.tick(30 + pkgs.len() / 3);
    }

    fn apt_archive(&mut self, deps: &str, dummy: &str) {
        self.subsection("Setup apt archive");
        w!(
            self,
            "Merged Build-Depends: {deps}\nFiltered Build-Depends: {deps}\ndpkg-deb: building package '{dummy}' in '/<<RESOLVERDIR>>/apt_archive/{dummy}.deb'.\nIgn:1 copy:/<<RESOLVERDIR>>/apt_archive ./ InRelease\nGet:2 copy:/<<RESOLVERDIR>>/apt_archive ./ Release [609 B]\nIgn:3 copy:/<<RESOLVERDIR>>/apt_archive ./ Release.gpg\nGet:4 copy:/<<RESOLVERDIR>>/apt_archive ./ Sources [{} B]\nGet:5 copy:/<<RESOLVERDIR>>/apt_archive ./ Packages [{} B]\nFetched {} B in 0s (0 B/s)\nReading package lists...\nReading package lists...",
            self.r.range(500, 4000),
            self.r.range(500, 4000),
            self.r.range(1500, 9000)
        );
    }

    /// The build-dependency installation; `ok` false: unsatisfiable.
    fn install_deps(&mut self, ok: bool) {
        self.section("Install package build dependencies");
        let deps = self.c.build_deps.join(", ");
        self.apt_archive(&deps, "sbuild-build-depends-main-dummy");
        self.subsection("Install main build dependencies (apt-based resolver)");
        if ok {
            let pkgs = self.c.deps.clone();
            self.apt_install(&pkgs, "sbuild-build-depends-main-dummy");
            return;
        }
        // Unsatisfiable: apt says so, then dose3 explains.
        let unsat = self.c.unsat.clone();
        w!(
            self,
            "Installing build dependencies\nReading package lists...\nBuilding dependency tree...\nReading state information...\nSome packages could not be installed. This may mean that you have\nrequested an impossible situation or if you are using the unstable\ndistribution that some required packages have not yet been created\nor been moved out of Incoming.\nThe following information may help to resolve the situation:\n\nThe following packages have unmet dependencies:"
        );
        for (k, (name, ver)) in unsat.iter().enumerate() {
            let lead = if k == 0 {
                " sbuild-build-depends-main-dummy : Depends: "
            } else {
                "                                   Depends: "
            };
            let why = if self.r.chance(70) {
                "but it is not installable"
            } else {
                "but it is not going to be installed"
            };
            w!(self, "{lead}{name} (>= {ver}) {why}");
        }
        w!(
            self,
            "E: Unable to correct problems, you have held broken packages.\napt-get failed.\nE: Package installation failed\nNot removing build depends: cloned chroot in use"
        );
        self.apt_archive("dose-distcheck", "sbuild-build-depends-dose3-dummy");
        self.subsection("Install dose3 build dependencies (apt-based resolver)");
        let dose = vec![
            ("dose-distcheck".to_string(), "7.0.0-5+b2".to_string()),
            ("libcudf-ocaml".to_string(), "0.10-2+b1".to_string()),
            ("libextlib-ocaml".to_string(), "1.7.9-2+b1".to_string()),
        ];
        self.apt_install(&dose, "sbuild-build-depends-dose3-dummy");
        let total = self.r.range(60000, 72000);
        let arch = self.c.arch.name;
        w!(
            self,
            "(I)Doseparse: Parsing and normalizing...\n(I)Dose_deb: Parsing Packages file -...\n(I)Dose_common: total packages {total}\n(I)Dose_applications: Cudf Universe: {total} packages\n(I)Dose_applications: --checkonly specified, consider all packages as background packages\n(I)Dose_applications: Solving...\noutput-version: 1.2\nnative-architecture: {arch}\nreport:\n -\n  package: sbuild-build-depends-main-dummy\n  version: 0.invalid.0\n  architecture: {arch}\n  status: broken\n  reasons:"
        );
        for (name, ver) in &unsat {
            w!(
                self,
                "   -\n    missing:\n     pkg:\n      package: sbuild-build-depends-main-dummy\n      version: 0.invalid.0\n      architecture: {arch}\n      unsat-dependency: {name}:{arch} (>= {ver})"
            );
        }
        w!(
            self,
            " \nbackground-packages: {}\nforeground-packages: 1\ntotal-packages: {total}\nbroken-packages: 1",
            total - 1
        );
        self.tick(20);
    }

    fn build_environment(&mut self) {
        self.section("Build environment");
        let a = self.c.arch;
        w!(
            self,
            "Kernel: Linux 6.12.57+deb13-{} #1 SMP Debian 6.12.57-1 (2026-10-28) {} ({})",
            a.name,
            a.name,
            a.cpu
        );
        w!(
            self,
            "Toolchain package versions: binutils_2.43.1-5 dpkg-dev_1.22.11 g++-14_14.2.0-8 gcc-14_14.2.0-8 libc6-dev_2.40-3 libstdc++-14-dev_14.2.0-8 libstdc++6_14.2.0-8 linux-libc-dev_6.12.57-1"
        );
        let mut all: Vec<String> = BASE_PKGS.iter().map(|(p, v)| format!("{p}_{v}")).collect();
        all.extend(self.c.deps.iter().map(|(p, v)| format!("{p}_{v}")));
        all.sort();
        w!(self, "Package versions: {}", all.join(" "));
        w!(
            self,
            "Source package version: {}\nDistribution: {}",
            self.c.sver,
            self.c.dist
        );
    }

    // --- the Build section ---------------------------------------------------

    /// Returns whether the build succeeded.
    fn build_section(&mut self) -> bool {
        self.section("Build");
        self.unpack_source();
        let c = &self.c;
        let with = match c.system {
            System::Autotools => " --with autoreconf",
            System::Pybuild => " --buildsystem=pybuild",
            System::Golang => " --builddirectory=_build --buildsystem=golang",
            System::Cargo => " --buildsystem cargo",
            _ => "",
        };
        w!(
            self,
            "dpkg-buildpackage\n-----------------\n\nCommand: dpkg-buildpackage --sanitize-env -us -uc -mDebian buildd <buildd_{}-{}@example.org> -B -rfakeroot\ndpkg-buildpackage: info: source package {}\ndpkg-buildpackage: info: source version {}\ndpkg-buildpackage: info: source distribution {}\ndpkg-buildpackage: info: source changed by {}\n dpkg-source --before-build .\ndpkg-buildpackage: info: host architecture {}\n debian/rules clean\ndh clean{with}\n   dh_auto_clean\n   dh_clean\n debian/rules binary-arch\ndh binary-arch{with}",
            c.arch.name,
            c.builder.split('.').next().unwrap_or("buildd"),
            c.src,
            c.ver,
            c.dist,
            c.maint,
            c.arch.name
        );
        self.tick(5);
        let start = self.len();
        let attempted = self.c.status == Status::Attempted;
        let end = if attempted {
            self.c.target.saturating_sub(2_000)
        } else {
            self.c.target * self.r.range(50, 72) / 100
        };
        let end = end.max(start + 8_000);
        let fail = if attempted { Some(self.c.fail) } else { None };
        // Builds fail at the end; a test failure leaves room for the tests.
        let compile_to = match fail {
            Some(Fail::Compile | Fail::Link) => end,
            _ => start + (end - start) * self.r.range(65, 88) / 100,
        };
        self.configure();
        if !self.compile(compile_to, fail) {
            self.failed_build_tail();
            return false;
        }
        if !self.tests(end, fail == Some(Fail::Test)) {
            self.failed_build_tail();
            return false;
        }
        self.install();
        self.dh_tail();
        true
    }

    fn unpack_source(&mut self) {
        self.subsection("Unpack source");
        let c = &self.c;
        let bins: Vec<&str> = c
            .bins
            .iter()
            .filter(|(_, k)| *k != BinKind::Dbgsym)
            .map(|(b, _)| b.as_str())
            .collect();
        let bins = bins.join(", ");
        let (src, sver, up, maint, stem, deps) = (
            c.src.clone(),
            c.sver.clone(),
            c.up.clone(),
            c.maint.clone(),
            c.stem.clone(),
            c.build_deps.join(", "),
        );
        let tarball = format!("{src}_{up}.orig.tar.xz");
        let debian = format!("{src}_{sver}.debian.tar.xz");
        let (t, d) = (
            self.r.range(20_000, 30_000_000),
            self.r.range(2_000, 90_000),
        );
        w!(
            self,
            "Format: 3.0 (quilt)\nSource: {src}\nBinary: {bins}\nArchitecture: any\nVersion: {sver}\nMaintainer: {maint}\nHomepage: https://{stem}.example.org/\nStandards-Version: 4.7.0\nVcs-Browser: https://salsa.debian.org/debian/{src}\nVcs-Git: https://salsa.debian.org/debian/{src}.git\nTestsuite: autopkgtest\nBuild-Depends: {deps}\nPackage-List:"
        );
        for (b, k) in self.c.bins.clone() {
            let section = match k {
                BinKind::Lib => "libs",
                BinKind::Dev => "libdevel",
                BinKind::Python => "python",
                _ => "utils",
            };
            if k != BinKind::Dbgsym {
                w!(self, " {b} deb {section} optional arch=any");
            }
        }
        let (s1, s1d, s2, s2d, m1, m1d) = (
            self.r.hex(40),
            self.r.hex(40),
            self.r.hex(64),
            self.r.hex(64),
            self.r.hex(32),
            self.r.hex(32),
        );
        w!(
            self,
            "Checksums-Sha1:\n {s1} {t} {tarball}\n {s1d} {d} {debian}\nChecksums-Sha256:\n {s2} {t} {tarball}\n {s2d} {d} {debian}\nFiles:\n {m1} {t} {tarball}\n {m1d} {d} {debian}\n"
        );
        w!(
            self,
            "dpkg-source: info: extracting {src} in /<<PKGBUILDDIR>>\ndpkg-source: info: unpacking {tarball}\ndpkg-source: info: unpacking {debian}"
        );
        let patches = self.r.range(0, 8);
        if patches > 0 {
            w!(
                self,
                "dpkg-source: info: using patch list from debian/patches/series"
            );
            for p in 0..patches {
                let name = word_pair(&mut self.r, "-");
                w!(
                    self,
                    "dpkg-source: info: applying {:04}-{name}.patch",
                    p + 1
                );
            }
        }
        w!(
            self,
            "\nCheck disk space\n----------------\n\nSufficient free space for build\n"
        );
        let c = &self.c;
        w!(
            self,
            "User Environment\n----------------\n\nAPT_CONFIG=/var/lib/sbuild/apt.conf\nDEB_BUILD_OPTIONS=parallel=2\nHOME=/sbuild-nonexistent\nLANG=C.UTF-8\nLC_ALL=C.UTF-8\nLOGNAME=buildd\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/games\nSCHROOT_ALIAS_NAME=build-{}-{}-sbuild\nSCHROOT_CHROOT_NAME={}-{}-sbuild\nSCHROOT_COMMAND=env\nSCHROOT_GID=2501\nSCHROOT_GROUP=buildd\nSCHROOT_SESSION_ID={}-{}-sbuild-{}\nSCHROOT_UID=2001\nSCHROOT_USER=buildd\nSHELL=/bin/sh\nUSER=buildd\n",
            c.dist,
            c.arch.name,
            c.dist,
            c.arch.name,
            c.dist,
            c.arch.name,
            self.r.hex(8)
        );
    }

    fn cc(&self, cxx: bool) -> String {
        format!(
            "{}-{}",
            self.c.arch.triplet,
            if cxx { "g++" } else { "gcc" }
        )
    }

    fn cflags(&mut self) -> String {
        let mut f = String::from("-g -O2 -ffile-prefix-map=/<<PKGBUILDDIR>>=. -fstack-protector-strong -fstack-clash-protection -Wformat -Werror=format-security");
        if self.c.arch.name == "amd64" {
            f += " -fcf-protection";
        }
        if self.c.arch.name == "arm64" {
            f += " -mbranch-protection=standard";
        }
        if self.r.chance(30) {
            f += " -Wall -Wextra";
        }
        f
    }

    fn includes(&mut self) -> String {
        let mut s = String::new();
        for _ in 0..self.r.range(0, 4) {
            let d = self.r.pick(C_LIBS).2;
            if !d.is_empty() && !s.contains(d) {
                s += &format!(" -I/usr/include/{d}");
            }
        }
        s
    }

    fn configure(&mut self) {
        match self.c.system {
            System::Autotools => self.configure_autotools(),
            System::Cmake => self.configure_cmake(),
            System::Meson => self.configure_meson(),
            System::Pybuild => {
                w!(self, "   dh_auto_clean -O--buildsystem=pybuild\n   dh_auto_configure -O--buildsystem=pybuild\nI: pybuild base:311: python3.13 setup.py config\nrunning config");
            }
            System::Golang => {
                w!(self, "   dh_update_autotools_config -a -O--builddirectory=_build -O--buildsystem=golang\n   dh_autoreconf -a -O--builddirectory=_build -O--buildsystem=golang\n   dh_auto_configure -a -O--builddirectory=_build -O--buildsystem=golang");
            }
            System::Cargo => {
                let (a, t) = (self.c.arch.rust, self.c.arch.triplet);
                w!(self, "   dh_auto_configure -a -O--buildsystem=cargo\ndebian cargo wrapper: options, profiles, parallel, lto: ['parallel=2'] [] ['-j2'] 0\ndebian cargo wrapper: rust_type, gnu_type: {a}, {t}\ndebian cargo wrapper: linking /usr/share/cargo/registry/* into /<<PKGBUILDDIR>>/debian/cargo_registry/");
            }
        }
        self.tick(20);
    }

    fn configure_autotools(&mut self) {
        let t = self.c.arch.triplet;
        w!(
            self,
            "   dh_update_autotools_config -a\n   dh_autoreconf -a\nlibtoolize: putting auxiliary files in AC_CONFIG_AUX_DIR, 'build-aux'.\nlibtoolize: copying file 'build-aux/ltmain.sh'\nlibtoolize: putting macros in AC_CONFIG_MACRO_DIR, 'm4'.\nlibtoolize: copying file 'm4/libtool.m4'\nlibtoolize: copying file 'm4/ltoptions.m4'\nconfigure.ac:{}: installing 'build-aux/compile'\nconfigure.ac:{}: installing 'build-aux/missing'\n   dh_auto_configure -a\n\t./configure --build={t} --prefix=/usr --includedir=\\${{prefix}}/include --mandir=\\${{prefix}}/share/man --infodir=\\${{prefix}}/share/info --sysconfdir=/etc --localstatedir=/var --disable-option-checking --disable-silent-rules --libdir=\\${{prefix}}/lib/{t} --runstatedir=/run --disable-maintainer-mode --disable-dependency-tracking",
            self.r.range(5, 40),
            self.r.range(5, 40)
        );
        let cc = self.cc(false);
        w!(
            self,
            "checking for a BSD-compatible install... /usr/bin/install -c\nchecking whether build environment is sane... yes\nchecking for a race-free mkdir -p... /usr/bin/mkdir -p\nchecking for gawk... no\nchecking for mawk... mawk\nchecking whether make sets $(MAKE)... yes\nchecking build system type... {t}\nchecking host system type... {t}\nchecking for {t}-gcc... {cc}\nchecking whether the C compiler works... yes\nchecking for C compiler default output file name... a.out\nchecking for suffix of executables... \nchecking whether we are cross compiling... no\nchecking for suffix of object files... o\nchecking whether the compiler supports GNU C... yes\nchecking whether {cc} accepts -g... yes\nchecking for {cc} option to enable C11 features... none needed"
        );
        for _ in 0..self.r.range(20, 160) {
            match self.r.below(6) {
                0 | 1 => {
                    let h = self.r.pick(HEADERS);
                    let yes = if self.r.chance(85) { "yes" } else { "no" };
                    w!(self, "checking for {h}... {yes}");
                }
                2 => {
                    let f = self.r.pick(FUNCS);
                    let yes = if self.r.chance(80) { "yes" } else { "no" };
                    w!(self, "checking for {f}... {yes}");
                }
                3 => {
                    let ty = self.r.pick(&[
                        "long",
                        "void *",
                        "size_t",
                        "off_t",
                        "time_t",
                        "long double",
                    ]);
                    let n = if ty == "long double" { 16 } else { 8 };
                    w!(self, "checking size of {ty}... {n}");
                }
                4 => {
                    let d = self.r.pick(C_LIBS).1;
                    let v = format!("{}.{}", self.r.range(0, 3), self.r.range(0, 20));
                    w!(self, "checking for {d} >= {v}... yes");
                }
                _ => {
                    let q = self.r.pick(&[
                        "whether byte ordering is bigendian... no",
                        "for library containing clock_gettime... none required",
                        "whether the linker accepts -Wl,--as-needed... yes",
                        "how to run the C preprocessor... {cc} -E",
                        "for inline... inline",
                        "whether char is unsigned... no",
                        "for __atomic builtins... yes",
                        "whether to build shared libraries... yes",
                        "whether to build static libraries... yes",
                        "for the pthreads library -lpthread... yes",
                    ]);
                    w!(self, "checking {}", q.replace("{cc}", &cc));
                }
            }
        }
        w!(self, "checking that generated files are newer than configure... done\nconfigure: creating ./config.status");
        for d in self.c.dirs.clone() {
            w!(self, "config.status: creating {d}/Makefile");
        }
        w!(self, "config.status: creating Makefile\nconfig.status: creating {}.pc\nconfig.status: creating config.h\nconfig.status: executing depfiles commands\nconfig.status: executing libtool commands", self.c.stem);
    }

    fn configure_cmake(&mut self) {
        let t = self.c.arch.triplet;
        w!(
            self,
            "   dh_auto_configure -a\n\tcd obj-{t} && DEB_PYTHON_INSTALL_LAYOUT=deb cmake -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_VERBOSE_MAKEFILE=ON -DCMAKE_BUILD_TYPE=None -DCMAKE_INSTALL_SYSCONFDIR=/etc -DCMAKE_INSTALL_LOCALSTATEDIR=/var -DCMAKE_EXPORT_NO_PACKAGE_REGISTRY=ON -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON -DFETCHCONTENT_FULLY_DISCONNECTED=ON -DCMAKE_INSTALL_RUNSTATEDIR=/run -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON \"-GUnix Makefiles\" -DCMAKE_INSTALL_LIBDIR=lib/{t} ..\n-- The C compiler identification is GNU 14.2.0\n-- The CXX compiler identification is GNU 14.2.0\n-- Detecting C compiler ABI info\n-- Detecting C compiler ABI info - done\n-- Check for working C compiler: /usr/bin/cc - skipped\n-- Detecting CXX compiler ABI info\n-- Detecting CXX compiler ABI info - done\n-- Check for working CXX compiler: /usr/bin/c++ - skipped\n-- Found PkgConfig: /usr/bin/pkg-config (found version \"1.8.1\")"
        );
        for _ in 0..self.r.range(5, 40) {
            match self.r.below(3) {
                0 => {
                    let h = self.r.pick(HEADERS);
                    w!(self, "-- Looking for {h}\n-- Looking for {h} - found");
                }
                1 => {
                    let d = self.r.pick(C_LIBS).1;
                    let v = format!(
                        "{}.{}.{}",
                        self.r.range(0, 3),
                        self.r.range(0, 20),
                        self.r.range(0, 9)
                    );
                    w!(
                        self,
                        "-- Checking for module '{d}'\n--   Found {d}, version {v}"
                    );
                }
                _ => {
                    let f = self.r.pick(FUNCS);
                    w!(
                        self,
                        "-- Performing Test HAVE_{}\n-- Performing Test HAVE_{} - Success",
                        f.to_uppercase(),
                        f.to_uppercase()
                    );
                }
            }
        }
        w!(
            self,
            "-- Configuring done ({}.{}s)\n-- Generating done (0.{}s)\nCMake Warning:\n  Manually-specified variables were not used by the project:\n\n    CMAKE_EXPORT_NO_PACKAGE_REGISTRY\n    FETCHCONTENT_FULLY_DISCONNECTED\n\n\n-- Build files have been written to: /<<PKGBUILDDIR>>/obj-{t}",
            self.r.range(0, 9),
            self.r.below(10),
            self.r.range(1, 9)
        );
    }

    fn configure_meson(&mut self) {
        let (t, cpu) = (self.c.arch.triplet, self.c.arch.cpu);
        w!(
            self,
            "   dh_auto_configure -a\n\tcd obj-{t} && DEB_PYTHON_INSTALL_LAYOUT=deb LC_ALL=C.UTF-8 meson setup .. --wrap-mode=nodownload --buildtype=plain --prefix=/usr --sysconfdir=/etc --localstatedir=/var --libdir=lib/{t} -Dpython.bytecompile=-1\nThe Meson build system\nVersion: 1.6.0\nSource dir: /<<PKGBUILDDIR>>\nBuild dir: /<<PKGBUILDDIR>>/obj-{t}\nBuild type: native build\nProject name: {}\nProject version: {}\nC compiler for the host machine: cc (gcc 14.2.0 \"cc (Debian 14.2.0-8) 14.2.0\")\nC linker for the host machine: cc ld.bfd 2.43.1\nHost machine cpu family: {cpu}\nHost machine cpu: {cpu}\nFound pkg-config: YES (/usr/bin/pkg-config) 1.8.1",
            self.c.stem,
            self.c.up
        );
        for _ in 0..self.r.range(5, 50) {
            match self.r.below(3) {
                0 => {
                    let h = self.r.pick(HEADERS);
                    w!(self, "Has header \"{h}\" : YES");
                }
                1 => {
                    let d = self.r.pick(C_LIBS).1;
                    let v = format!(
                        "{}.{}.{}",
                        self.r.range(0, 3),
                        self.r.range(0, 90),
                        self.r.range(0, 9)
                    );
                    w!(self, "Run-time dependency {d} found: YES {v}");
                }
                _ => {
                    let f = self.r.pick(FUNCS);
                    let yes = if self.r.chance(85) { "YES" } else { "NO" };
                    w!(self, "Checking for function \"{f}\" : {yes}");
                }
            }
        }
        w!(
            self,
            "Build targets in project: {}\n\nFound ninja-1.12.1 at /usr/bin/ninja",
            self.r.range(5, 120)
        );
    }

    /// Build output up to `limit` bytes of log; with a compile or link
    /// failure, that failure at the end. Returns false if the build failed.
    fn compile(&mut self, limit: usize, fail: Option<Fail>) -> bool {
        let fail = fail.filter(|f| *f != Fail::Test);
        match self.c.system {
            System::Autotools => self.compile_make(limit, fail),
            System::Cmake => self.compile_cmake(limit, fail),
            System::Meson => self.compile_meson(limit, fail),
            System::Pybuild => self.compile_pybuild(limit, fail),
            System::Golang => self.compile_go(limit, fail),
            System::Cargo => self.compile_cargo(limit, fail),
        }
    }

    /// A gcc diagnostic with its source excerpt: `code` holds `token` at
    /// the column reported.
    fn diagnostic(&mut self, file: &str, kind: &str, msg: &str, code: &str, token: &str) {
        let l = self.r.range(12, 2400);
        let indent = " ".repeat(4 * self.r.range(1, 3));
        let line = format!("{indent}{code}");
        let col = line.find(token).unwrap_or(0) + 1;
        w!(self, "{file}:{l}:{col}: {kind}: {msg}");
        w!(self, "{l:>5} | {line}");
        w!(
            self,
            "      | {}^{}",
            " ".repeat(col - 1),
            "~".repeat(token.len().saturating_sub(1))
        );
    }

    fn c_warning(&mut self, file: &str, cxx: bool) {
        let f = self.func();
        let func = if cxx {
            format!("{}::{}", capitalise(self.r.pick(WORDS)), self.r.pick(WORDS))
        } else {
            f.clone()
        };
        let what = if cxx { "member function" } else { "function" };
        w!(self, "{file}: In {what} '{func}':");
        let v = self.r.pick(VARS);
        match self.r.below(7) {
            0 => self.diagnostic(
                file,
                "warning",
                &format!("unused variable '{v}' [-Wunused-variable]"),
                &format!("int {v} = 0;"),
                v,
            ),
            1 => self.diagnostic(
                file,
                "warning",
                "comparison of integer expressions of different signedness: 'int' and 'size_t' {aka 'long unsigned int'} [-Wsign-compare]",
                &format!("for ({v} = 0; {v} < len; {v}++) {{"),
                &format!("{v} < len"),
            ),
            2 => self.diagnostic(
                file,
                "warning",
                &format!("'{v}' may be used uninitialized [-Wmaybe-uninitialized]"),
                &format!("return {v};"),
                v,
            ),
            3 => self.diagnostic(
                file,
                "warning",
                "ignoring return value of 'write' declared with attribute 'warn_unused_result' [-Wunused-result]",
                "write(fd, buf, n);",
                "write(fd, buf, n)",
            ),
            4 => {
                let bit = self.r.range(1, 64);
                self.diagnostic(
                    file,
                    "warning",
                    "this statement may fall through [-Wimplicit-fallthrough=]",
                    &format!("{v} |= {bit};"),
                    &format!("{v} |="),
                )
            }
            5 => {
                let size = self.r.pick(&[16, 32, 64, 128]);
                self.diagnostic(
                    file,
                    "warning",
                    &format!("'%s' directive output may be truncated writing up to 255 bytes into a region of size {size} [-Wformat-truncation=]"),
                    &format!("snprintf({v}, sizeof({v}), \"%s/%s\", dir, name);"),
                    "%s",
                );
                let l = self.r.range(12, 2400);
                w!(self, "{file}:{l}:5: note: 'snprintf' output between 2 and 512 bytes into a destination of size {size}");
            }
            _ => {
                let old = format!("{}_{}", self.c.stem, self.r.pick(WORDS));
                self.diagnostic(
                    file,
                    "warning",
                    &format!("'{old}' is deprecated [-Wdeprecated-declarations]"),
                    &format!("{v} = {old}(ctx, {v});"),
                    &old,
                );
                let l = self.r.range(12, 900);
                w!(self, "In file included from {file}:{}:", self.r.range(10, 40));
                w!(self, "../include/{}/{}.h:{l}:6: note: declared here", self.c.stem, self.r.pick(WORDS));
            }
        }
    }

    fn c_error(&mut self, file: &str, cxx: bool) {
        let f = self.func();
        if cxx {
            let cls = capitalise(self.r.pick(WORDS));
            let m = self.r.pick(WORDS);
            w!(self, "{file}: In member function 'void {cls}::{m}()':");
            let ty = self.r.pick(&["uint8_t", "uint32_t", "int64_t"]);
            let (cls_l, cls_c) = (self.r.range(10, 900), self.r.range(5, 30));
            self.diagnostic(
                file,
                "error",
                &format!("'{ty}' was not declared in this scope"),
                &format!("std::vector<{ty}> {m}_buf({m}_size);"),
                ty,
            );
            w!(self, "{file}:{cls_l}:{cls_c}: note: '{ty}' is defined in header '<cstdint>'; this is probably fixable by adding '#include <cstdint>'");
            return;
        }
        match self.r.below(4) {
            0 => {
                w!(self, "{file}: In function '{f}':");
                let called = self.r.pick(FUNCS);
                self.diagnostic(
                    file,
                    "error",
                    &format!("implicit declaration of function '{called}' [-Wimplicit-function-declaration]"),
                    &format!("if ({called}(fd, buf, len) < 0)"),
                    called,
                );
            }
            1 => {
                let cpu = self.c.arch.cpu;
                let header = format!("../include/{}/arch.h", self.c.stem);
                w!(
                    self,
                    "In file included from {file}:{}:",
                    self.r.range(10, 40)
                );
                let l = self.r.range(20, 300);
                w!(self, "{header}:{l}:2: error: #error \"Unsupported architecture: please add {cpu} support\"");
                w!(self, "{l:>5} | #error \"Unsupported architecture: please add {cpu} support\"\n      |  ^~~~~");
            }
            2 => {
                w!(self, "{file}: In function '{f}':");
                let sys = self.r.pick(&[
                    "SYS_open",
                    "SYS_stat",
                    "SYS_fstat",
                    "SYS_epoll_wait",
                    "SYS_getdents",
                    "SYS_dup2",
                    "SYS_pipe",
                ]);
                let v = self.r.pick(VARS);
                self.diagnostic(
                    file,
                    "error",
                    &format!(
                        "'{sys}' undeclared (first use in this function); did you mean '{sys}at'?"
                    ),
                    &format!("{v} = syscall({sys}, fd, buf, len);"),
                    sys,
                );
                let l = self.r.range(12, 2400);
                w!(self, "{file}:{l}:19: note: each undeclared identifier is reported only once for each function it appears in");
            }
            _ => {
                w!(self, "{file}: In function '{f}':");
                let callee = self.func();
                let n = self.r.range(1, 4);
                self.diagnostic(
                    file,
                    "error",
                    &format!("passing argument {n} of '{callee}' from incompatible pointer type [-Wincompatible-pointer-types]"),
                    &format!("{callee}(ctx, &names, count);"),
                    "&names",
                );
                w!(
                    self,
                    "In file included from {file}:{}:",
                    self.r.range(10, 40)
                );
                let l = self.r.range(12, 900);
                w!(self, "../include/{}/{}.h:{l}:40: note: expected 'const char **' but argument is of type 'char **'", self.c.stem, self.r.pick(WORDS));
            }
        }
    }

    fn link_error(&mut self, obj_dir: &str) {
        let m = self.pick_mod();
        let f = self.func();
        let atomic = self.r.pick(&[
            "__atomic_compare_exchange_16",
            "__atomic_load_16",
            "__atomic_fetch_add_8",
            "__sync_val_compare_and_swap_16",
        ]);
        w!(self, "/usr/bin/ld: {obj_dir}{m}.o: in function `{f}':");
        for _ in 0..self.r.range(1, 4) {
            let off = self.r.hex(3);
            let l = self.r.range(12, 2400);
            w!(
                self,
                "./src/{m}.c:{l}:(.text+0x{off}): undefined reference to `{atomic}'"
            );
        }
        w!(self, "collect2: error: ld returned 1 exit status");
    }

    fn compile_make(&mut self, limit: usize, fail: Option<Fail>) -> bool {
        let silent = self.r.chance(20);
        let cc = self.cc(false);
        let stem = self.c.stem.clone();
        w!(self, "   dh_auto_build -a\n\tmake -j2\nmake[1]: Entering directory '/<<PKGBUILDDIR>>'\nmake  all-recursive\nmake[2]: Entering directory '/<<PKGBUILDDIR>>'");
        let dirs = self.c.dirs.clone();
        let mut d = 0;
        loop {
            let dir = &dirs[d % dirs.len()];
            d += 1;
            let up = "../".repeat(dir.matches('/').count() + 1);
            w!(
                self,
                "Making all in {dir}\nmake[3]: Entering directory '/<<PKGBUILDDIR>>/{dir}'"
            );
            let mut objs = Vec::new();
            for _ in 0..self.r.range(3, 30) {
                let m = self.pick_mod();
                let flags = self.cflags();
                let inc = self.includes();
                if silent {
                    w!(self, "  CC       {m}.lo");
                } else {
                    w!(self, "/bin/bash {up}libtool  --tag=CC   --mode=compile {cc} -DHAVE_CONFIG_H -I. -I{up} -I{up}include{inc} -Wdate-time -D_FORTIFY_SOURCE=2  {flags} -c -o {m}.lo {m}.c");
                    w!(self, "libtool: compile:  {cc} -DHAVE_CONFIG_H -I. -I{up} -I{up}include{inc} -Wdate-time -D_FORTIFY_SOURCE=2 {flags} -c {m}.c  -fPIC -DPIC -o .libs/{m}.o");
                    if self.r.chance(50) {
                        w!(self, "libtool: compile:  {cc} -DHAVE_CONFIG_H -I. -I{up} -I{up}include{inc} -Wdate-time -D_FORTIFY_SOURCE=2 {flags} -c {m}.c -o {m}.o >/dev/null 2>&1");
                    }
                }
                if self.len() >= limit && fail == Some(Fail::Compile) {
                    self.c_error(&format!("{m}.c"), false);
                    let n = self.r.range(400, 1400);
                    w!(self, "make[3]: *** [Makefile:{n}: {m}.lo] Error 1");
                    if self.r.chance(50) {
                        w!(self, "make[3]: *** Waiting for unfinished jobs....");
                    }
                    self.make_cascade(dir, "make -j2", "dh_auto_build");
                    return false;
                }
                if self.r.chance(10) {
                    self.c_warning(&format!("{m}.c"), false);
                }
                objs.push(m);
                // Link what there is once the log is long enough.
                if self.len() >= limit {
                    break;
                }
            }
            let lib = format!(
                "lib{stem}{}",
                if d > 1 {
                    format!("-{}", dir.replace('/', "-"))
                } else {
                    String::new()
                }
            );
            let so = self.c.soname;
            let objlist: Vec<String> = objs.iter().map(|o| format!("{o}.lo")).collect();
            let dotlibs: Vec<String> = objs.iter().map(|o| format!(".libs/{o}.o")).collect();
            if silent {
                w!(self, "  CCLD     {lib}.la");
            } else {
                w!(
                    self,
                    "/bin/bash {up}libtool  --tag=CC   --mode=link {cc}  -g -O2 -Wall -version-info {so}:{}:0 -Wl,-z,relro -Wl,-z,now -o {lib}.la -rpath /usr/lib/{} {} -lz -lm -lpthread",
                    self.r.range(0, 9),
                    self.c.arch.triplet,
                    objlist.join(" ")
                );
                w!(
                    self,
                    "libtool: link: {cc} -shared  -fPIC -DPIC  {}   -lz -lm -lpthread  -g -O2 -Wl,-z,relro -Wl,-z,now   -Wl,-soname -Wl,{lib}.so.{so} -o .libs/{lib}.so.{so}.0.0",
                    dotlibs.join(" ")
                );
            }
            if self.len() >= limit && fail == Some(Fail::Link) {
                self.link_error(".libs/");
                let n = self.r.range(400, 1400);
                w!(self, "make[3]: *** [Makefile:{n}: {lib}.la] Error 1");
                self.make_cascade(dir, "make -j2", "dh_auto_build");
                return false;
            }
            if !silent {
                w!(
                    self,
                    "libtool: link: (cd \".libs\" && rm -f \"{lib}.so.{so}\" && ln -s \"{lib}.so.{so}.0.0\" \"{lib}.so.{so}\")\nlibtool: link: (cd \".libs\" && rm -f \"{lib}.so\" && ln -s \"{lib}.so.{so}.0.0\" \"{lib}.so\")\nlibtool: link: ar cr .libs/{lib}.a {}\nlibtool: link: ranlib .libs/{lib}.a\nlibtool: link: ( cd \".libs\" && rm -f \"{lib}.la\" && ln -s \"../{lib}.la\" \"{lib}.la\" )",
                    objs.iter().map(|o| format!("{o}.o")).collect::<Vec<_>>().join(" ")
                );
            }
            w!(self, "make[3]: Leaving directory '/<<PKGBUILDDIR>>/{dir}'");
            if self.len() >= limit && fail.is_none() {
                break;
            }
        }
        w!(self, "make[2]: Leaving directory '/<<PKGBUILDDIR>>'\nmake[1]: Leaving directory '/<<PKGBUILDDIR>>'");
        self.tick(60);
        true
    }

    /// make's error lines from the innermost directory out, then dh's.
    fn make_cascade(&mut self, dir: &str, cmd: &str, dh: &str) {
        let (a, b) = (self.r.range(400, 1400), self.r.range(300, 900));
        w!(
            self,
            "make[3]: Leaving directory '/<<PKGBUILDDIR>>/{dir}'\nmake[2]: *** [Makefile:{a}: all-recursive] Error 1\nmake[2]: Leaving directory '/<<PKGBUILDDIR>>'\nmake[1]: *** [Makefile:{b}: all] Error 2\nmake[1]: Leaving directory '/<<PKGBUILDDIR>>'\n{dh}: error: {cmd} returned exit code 2"
        );
    }

    fn compile_cmake(&mut self, limit: usize, fail: Option<Fail>) -> bool {
        let t = self.c.arch.triplet;
        let stem = self.c.stem.clone();
        w!(
            self,
            "   dh_auto_build -a\n\tcd obj-{t} && make -j2 \"INSTALL=install --strip-program=true\" VERBOSE=1\nmake[1]: Entering directory '/<<PKGBUILDDIR>>/obj-{t}'\n/usr/bin/cmake -S/<<PKGBUILDDIR>> -B/<<PKGBUILDDIR>>/obj-{t} --check-build-system CMakeFiles/Makefile.cmake 0\n/usr/bin/cmake -E cmake_progress_start /<<PKGBUILDDIR>>/obj-{t}/CMakeFiles /<<PKGBUILDDIR>>/obj-{t}//CMakeFiles/progress.marks\nmake  -f CMakeFiles/Makefile2 all\nmake[2]: Entering directory '/<<PKGBUILDDIR>>/obj-{t}'"
        );
        let dirs = self.c.dirs.clone();
        let (from, mut pct) = (self.len(), 0usize);
        let mut d = 0;
        loop {
            let dir = dirs[d % dirs.len()].clone();
            d += 1;
            let target = if d == 1 {
                stem.clone()
            } else {
                format!("{stem}_{}", dir.rsplit('/').next().unwrap_or("x"))
            };
            w!(
                self,
                "make  -f {dir}/CMakeFiles/{target}.dir/build.make {dir}/CMakeFiles/{target}.dir/depend\nmake[3]: Entering directory '/<<PKGBUILDDIR>>/obj-{t}'\ncd /<<PKGBUILDDIR>>/obj-{t} && /usr/bin/cmake -E cmake_depends \"Unix Makefiles\" /<<PKGBUILDDIR>> /<<PKGBUILDDIR>>/{dir} /<<PKGBUILDDIR>>/obj-{t} /<<PKGBUILDDIR>>/obj-{t}/{dir} /<<PKGBUILDDIR>>/obj-{t}/{dir}/CMakeFiles/{target}.dir/DependInfo.cmake \"--color=\"\nmake[3]: Leaving directory '/<<PKGBUILDDIR>>/obj-{t}'\nmake  -f {dir}/CMakeFiles/{target}.dir/build.make {dir}/CMakeFiles/{target}.dir/build\nmake[3]: Entering directory '/<<PKGBUILDDIR>>/obj-{t}'"
            );
            let mut objs = Vec::new();
            for _ in 0..self.r.range(3, 25) {
                let m = self.pick_mod();
                pct = ((self.len() - from) * 99 / limit.saturating_sub(from).max(1)).min(99);
                let flags = self.cflags();
                let inc = self.includes();
                w!(
                    self,
                    "[{pct:>3}%] Building CXX object {dir}/CMakeFiles/{target}.dir/{m}.cpp.o"
                );
                w!(
                    self,
                    "cd /<<PKGBUILDDIR>>/obj-{t}/{dir} && /usr/bin/c++ -D{}_EXPORTS -I/<<PKGBUILDDIR>>/include -I/<<PKGBUILDDIR>>/obj-{t}/{dir}{inc} {flags} -Wdate-time -D_FORTIFY_SOURCE=2 -std=gnu++17 -fPIC -MD -MT {dir}/CMakeFiles/{target}.dir/{m}.cpp.o -MF CMakeFiles/{target}.dir/{m}.cpp.o.d -o CMakeFiles/{target}.dir/{m}.cpp.o -c /<<PKGBUILDDIR>>/{dir}/{m}.cpp",
                    target.to_uppercase()
                );
                let file = format!("/<<PKGBUILDDIR>>/{dir}/{m}.cpp");
                if self.len() >= limit && fail == Some(Fail::Compile) {
                    self.c_error(&file, true);
                    let n = self.r.range(80, 900);
                    w!(self, "make[3]: *** [{dir}/CMakeFiles/{target}.dir/build.make:{n}: {dir}/CMakeFiles/{target}.dir/{m}.cpp.o] Error 1");
                    self.cmake_cascade(&dir, &target);
                    return false;
                }
                if self.r.chance(10) {
                    self.c_warning(&file, true);
                }
                objs.push(format!("CMakeFiles/{target}.dir/{m}.cpp.o"));
                if self.len() >= limit {
                    break;
                }
            }
            let so = self.c.soname;
            w!(
                self,
                "[{pct:>3}%] Linking CXX shared library lib{target}.so\ncd /<<PKGBUILDDIR>>/obj-{t}/{dir} && /usr/bin/cmake -E cmake_link_script CMakeFiles/{target}.dir/link.txt --verbose=1\n/usr/bin/c++ -fPIC -g -O2 -Wl,-z,relro -Wl,-z,now -shared -Wl,-soname,lib{target}.so.{so} -o lib{target}.so.{so}.{}.0 {} /usr/lib/{t}/libz.so -lpthread",
                self.r.range(0, 9),
                objs.join(" ")
            );
            if self.len() >= limit && fail == Some(Fail::Link) {
                self.link_error(&format!("CMakeFiles/{target}.dir/"));
                let n = self.r.range(80, 900);
                w!(self, "make[3]: *** [{dir}/CMakeFiles/{target}.dir/build.make:{n}: {dir}/lib{target}.so.{so}.0.0] Error 1");
                self.cmake_cascade(&dir, &target);
                return false;
            }
            w!(self, "make[3]: Leaving directory '/<<PKGBUILDDIR>>/obj-{t}'\n[{pct:>3}%] Built target {target}");
            if self.len() >= limit && fail.is_none() {
                break;
            }
        }
        w!(self, "make[2]: Leaving directory '/<<PKGBUILDDIR>>/obj-{t}'\n/usr/bin/cmake -E cmake_progress_start /<<PKGBUILDDIR>>/obj-{t}/CMakeFiles 0\nmake[1]: Leaving directory '/<<PKGBUILDDIR>>/obj-{t}'");
        self.tick(90);
        true
    }

    fn cmake_cascade(&mut self, dir: &str, target: &str) {
        let t = self.c.arch.triplet;
        let (a, b) = (self.r.range(80, 900), self.r.range(80, 300));
        w!(
            self,
            "make[3]: Leaving directory '/<<PKGBUILDDIR>>/obj-{t}'\nmake[2]: *** [CMakeFiles/Makefile2:{a}: {dir}/CMakeFiles/{target}.dir/all] Error 2\nmake[2]: Leaving directory '/<<PKGBUILDDIR>>/obj-{t}'\nmake[1]: *** [Makefile:{b}: all] Error 2\nmake[1]: Leaving directory '/<<PKGBUILDDIR>>/obj-{t}'\ndh_auto_build: error: cd obj-{t} && make -j2 \"INSTALL=install --strip-program=true\" VERBOSE=1 returned exit code 2"
        );
    }

    fn compile_meson(&mut self, limit: usize, fail: Option<Fail>) -> bool {
        let t = self.c.arch.triplet;
        let stem = self.c.stem.clone();
        w!(
            self,
            "   dh_auto_build -a\n\tcd obj-{t} && LC_ALL=C.UTF-8 ninja -j2 -v"
        );
        let total = 40 + (limit.saturating_sub(self.len())) / 420;
        let mut n = 0;
        let mut objs = Vec::new();
        loop {
            n += 1;
            let m = self.pick_mod();
            let dir = self.pick_dir();
            let flags = self.cflags();
            let inc = self.includes();
            let obj = format!("{dir}/lib{stem}.so.{}.p/{m}.c.o", self.c.soname);
            let cmd = format!("cc -I{dir}/lib{stem}.so.{}.p -I{dir} -I../{dir} -I. -I..{inc} -fdiagnostics-color=always -D_FILE_OFFSET_BITS=64 -Wall -Winvalid-pch -std=gnu11 {flags} -Wdate-time -D_FORTIFY_SOURCE=2 -fPIC -pthread -MD -MQ {obj} -MF {obj}.d -o {obj} -c ../{dir}/{m}.c", self.c.soname);
            if self.len() >= limit && fail == Some(Fail::Compile) {
                w!(self, "[{n}/{total}] {cmd}\nFAILED: {obj}\n{cmd}");
                self.c_error(&format!("../{dir}/{m}.c"), false);
                w!(self, "ninja: build stopped: subcommand failed.\ndh_auto_build: error: cd obj-{t} && LC_ALL=C.UTF-8 ninja -j2 -v returned exit code 1");
                return false;
            }
            w!(self, "[{n}/{total}] {cmd}");
            if self.r.chance(10) {
                self.c_warning(&format!("../{dir}/{m}.c"), false);
            }
            objs.push(obj);
            if objs.len() > 12 && self.r.chance(8) || self.len() >= limit {
                n += 1;
                let so = self.c.soname;
                let link = format!(
                    "cc  -o {dir}/lib{stem}.so.{so}.0.0 {} -Wl,--as-needed -Wl,--no-undefined -shared -fPIC -Wl,-soname,lib{stem}.so.{so} -g -O2 -Wl,-z,relro -Wl,-z,now -Wl,--start-group -lm -lz -Wl,--end-group",
                    objs.join(" ")
                );
                if self.len() >= limit && fail == Some(Fail::Link) {
                    w!(
                        self,
                        "[{n}/{total}] {link}\nFAILED: {dir}/lib{stem}.so.{so}.0.0\n{link}"
                    );
                    self.link_error(&format!("{dir}/lib{stem}.so.{so}.p/"));
                    w!(self, "ninja: build stopped: subcommand failed.\ndh_auto_build: error: cd obj-{t} && LC_ALL=C.UTF-8 ninja -j2 -v returned exit code 1");
                    return false;
                }
                w!(self, "[{n}/{total}] {link}");
                objs.clear();
                if self.len() >= limit && fail.is_none() {
                    break;
                }
            }
        }
        self.tick(50);
        true
    }

    fn compile_pybuild(&mut self, limit: usize, fail: Option<Fail>) -> bool {
        let (t, cpu) = (self.c.arch.triplet, self.c.arch.cpu);
        let stem = self.c.stem.clone();
        let py = PYTHON;
        let pyv = py.replace('.', "");
        let blib = format!("build/lib.linux-{cpu}-cpython-{pyv}");
        w!(
            self,
            "   dh_auto_build -O--buildsystem=pybuild\nI: pybuild plugin_pyproject:129: Building wheel for python{py} with \"build\" module\nI: pybuild base:311: python{py} -m build --skip-dependency-check --no-isolation --wheel --outdir /<<PKGBUILDDIR>>/.pybuild/cpython3_{py}_{stem}  \n* Building wheel...\nrunning bdist_wheel\nrunning build\nrunning build_py\ncreating {blib}/{stem}"
        );
        let mods = self.c.mods.clone();
        for m in &mods {
            w!(
                self,
                "copying src/{stem}/{}.py -> {blib}/{stem}",
                m.replace('-', "_")
            );
        }
        w!(self, "running egg_info\nwriting src/{stem}.egg-info/PKG-INFO\nwriting dependency_links to src/{stem}.egg-info/dependency_links.txt\nwriting top-level names to src/{stem}.egg-info/top_level.txt\nreading manifest file 'src/{stem}.egg-info/SOURCES.txt'\nrunning build_ext");
        for k in 0.. {
            // Each extension once (numbered when the modules run out).
            let m = mods[k % mods.len()].replace('-', "_");
            let m = if k < mods.len() {
                m
            } else {
                format!("{m}{}", k / mods.len())
            };
            let flags = self.cflags();
            let tmp = format!("build/temp.linux-{cpu}-cpython-{pyv}");
            w!(
                self,
                "building '{stem}._{m}' extension\ncreating {tmp}/src/{stem}\n{t}-gcc -fno-strict-overflow -Wsign-compare -DNDEBUG -g -O2 -Wall {flags} -fPIC -I/usr/include/python{py} -c src/{stem}/_{m}.c -o {tmp}/src/{stem}/_{m}.o"
            );
            if self.len() >= limit && fail.is_some() {
                self.c_error(&format!("src/{stem}/_{m}.c"), false);
                w!(self, "error: command '/usr/bin/{t}-gcc' failed with exit code 1\n\nERROR Backend subprocess exited when trying to invoke build_wheel\nE: pybuild pybuild:389: build: plugin pyproject failed with: exit code=1: python{py} -m build --skip-dependency-check --no-isolation --wheel --outdir /<<PKGBUILDDIR>>/.pybuild/cpython3_{py}_{stem} \ndh_auto_build: error: pybuild --build -i python{{version}} -p {py} returned exit code 13");
                return false;
            }
            if self.r.chance(15) {
                self.c_warning(&format!("src/{stem}/_{m}.c"), false);
            }
            w!(
                self,
                "{t}-gcc -shared -Wl,-O1 -Wl,-Bsymbolic-functions -g -fwrapv -O2 -Wl,-z,relro -Wl,-z,now {tmp}/src/{stem}/_{m}.o -L/usr/lib/{t} -o {blib}/{stem}/_{m}.cpython-{pyv}-{t}.so"
            );
            if self.len() >= limit && fail.is_none() {
                break;
            }
        }
        w!(
            self,
            "installing to build/bdist.linux-{cpu}/wheel\nrunning install\nrunning install_lib"
        );
        for m in &mods {
            w!(self, "adding '{stem}/{}.py'", m.replace('-', "_"));
        }
        w!(self, "adding '{stem}-{}.dist-info/METADATA'\nadding '{stem}-{}.dist-info/WHEEL'\nadding '{stem}-{}.dist-info/top_level.txt'\nadding '{stem}-{}.dist-info/RECORD'\nremoving build/bdist.linux-{cpu}/wheel\nSuccessfully built {stem}-{}-cp{pyv}-cp{pyv}-linux_{cpu}.whl\nI: pybuild plugin_pyproject:144: Unpacking wheel built for python{py} with \"installer\" module", self.c.up, self.c.up, self.c.up, self.c.up, self.c.up);
        self.tick(40);
        true
    }

    fn go_pkgs(&mut self) -> Vec<String> {
        let base = format!("github.com/{}/{}", self.c.org, self.c.stem);
        let mut v = vec![base.clone()];
        for d in self.c.dirs.clone() {
            v.push(format!("{base}/{}", d.replace("src", "internal")));
        }
        v.push(format!("{base}/cmd/{}", self.c.stem));
        v
    }

    fn compile_go(&mut self, limit: usize, fail: Option<Fail>) -> bool {
        let pkgs = self.go_pkgs();
        w!(self, "   dh_auto_build -a -O--builddirectory=_build -O--buildsystem=golang\n\tcd _build && go install -trimpath -v -p 2 {}", pkgs.join(" "));
        let std = [
            "internal/goarch",
            "internal/unsafeheader",
            "internal/abi",
            "internal/cpu",
            "internal/bytealg",
            "internal/byteorder",
            "internal/chacha8rand",
            "internal/coverage/rtcov",
            "internal/godebugs",
            "internal/goexperiment",
            "internal/goos",
            "internal/profilerecord",
            "internal/runtime/atomic",
            "internal/runtime/exithook",
            "internal/stringslite",
            "runtime/internal/math",
            "runtime/internal/sys",
            "runtime",
            "sync/atomic",
            "internal/reflectlite",
            "sync",
            "errors",
            "io",
            "unicode/utf8",
            "strconv",
            "math/bits",
            "unicode",
            "reflect",
            "sort",
            "internal/fmtsort",
            "internal/oserror",
            "syscall",
            "time",
            "io/fs",
            "internal/poll",
            "os",
            "fmt",
            "bufio",
            "context",
            "encoding/binary",
            "bytes",
            "strings",
            "regexp/syntax",
            "regexp",
            "path/filepath",
            "encoding/json",
            "net/netip",
            "net",
            "net/url",
            "log",
            "flag",
        ];
        for s in std {
            w!(self, "{s}");
        }
        loop {
            let vendor = format!(
                "github.com/{}/{}",
                self.r.pick(WORDS),
                word_pair(&mut self.r, "-")
            );
            w!(self, "{vendor}");
            for _ in 0..self.r.range(0, 5) {
                let sub = self.r.pick(WORDS);
                w!(self, "{vendor}/{sub}");
            }
            if self.len() >= limit {
                break;
            }
        }
        if fail.is_some() {
            let p = pkgs[self.r.below(pkgs.len())].clone();
            let m = self.pick_mod().replace('-', "_");
            w!(self, "# {p}");
            for _ in 0..self.r.range(1, 4) {
                let l = self.r.range(10, 600);
                let c = self.r.range(2, 40);
                let what = self.r.pick(&[
                    "unix.SYS_EPOLL_WAIT",
                    "syscall.Stat_t.Nlink",
                    "unix.PTRACE_GETREGS",
                    "unix.TIOCGETA",
                    "syscall.SYS_DUP2",
                    "archSpecificInit",
                ]);
                w!(self, "src/{p}/{m}_linux.go:{l}:{c}: undefined: {what}");
            }
            w!(self, "dh_auto_build: error: cd _build && go install -trimpath -v -p 2 {} returned exit code 1", pkgs.join(" "));
            return false;
        }
        for p in &pkgs {
            w!(self, "{p}");
        }
        self.tick(60);
        true
    }

    fn compile_cargo(&mut self, limit: usize, fail: Option<Fail>) -> bool {
        let (rt, t) = (self.c.arch.rust, self.c.arch.triplet);
        let stem = self.c.stem.replace('-', "_");
        w!(self, "   dh_auto_build -a -O--buildsystem=cargo\ndebian cargo wrapper: options, profiles, parallel, lto: ['parallel=2'] [] ['-j2'] 0\ndebian cargo wrapper: rust_type, gnu_type: {rt}, {t}\ndebian cargo wrapper: running subprocess (['env', 'RUST_BACKTRACE=1', '/usr/bin/cargo', '-Zavoid-dev-deps', 'build', '--verbose', '--verbose', '-j2', '--target', '{rt}'],) {{}}");
        loop {
            let krate = if self.len() >= limit {
                stem.clone()
            } else {
                word_pair(&mut self.r, "-")
            };
            let v = format!(
                "{}.{}.{}",
                self.r.range(0, 2),
                self.r.range(0, 40),
                self.r.range(0, 20)
            );
            let meta = self.r.hex(16);
            let kname = krate.replace('-', "_");
            w!(self, "   Compiling {krate} v{v}");
            w!(
                self,
                "     Running `CARGO=/usr/bin/cargo CARGO_CRATE_NAME={kname} CARGO_MANIFEST_DIR=/<<PKGBUILDDIR>>/debian/cargo_registry/{krate}-{v} CARGO_PKG_NAME={krate} CARGO_PKG_VERSION={v} /usr/bin/rustc --crate-name {kname} --edition=2021 /<<PKGBUILDDIR>>/debian/cargo_registry/{krate}-{v}/src/lib.rs --error-format=json --json=diagnostic-rendered-ansi,artifacts,future-incompat --crate-type lib --emit=dep-info,metadata,link -C embed-bitcode=no -C debuginfo=2 --cfg 'feature=\"default\"' --cfg 'feature=\"std\"' -C metadata={meta} -C extra-filename=-{meta} --out-dir /<<PKGBUILDDIR>>/target/{rt}/debug/deps --target {rt} -L dependency=/<<PKGBUILDDIR>>/target/{rt}/debug/deps -L dependency=/<<PKGBUILDDIR>>/target/debug/deps --cap-lints warn -C linker={t}-gcc -C link-arg=-Wl,-z,relro --remap-path-prefix /<<PKGBUILDDIR>>=/usr/share/cargo/registry/{krate}-{v}`"
            );
            if krate == stem || self.r.chance(8) {
                let m = self.pick_mod().replace('-', "_");
                let imp = self.r.pick(&[
                    "std::io::Write",
                    "std::collections::HashMap",
                    "std::fmt",
                    "std::sync::Arc",
                ]);
                let l = self.r.range(1, 30);
                let pad = " ".repeat(l.to_string().len());
                w!(self, "warning: unused import: `{imp}`\n{pad}--> src/{m}.rs:{l}:5\n{pad} |\n{l} | use {imp};\n{pad} |     {}\n{pad} |\n{pad} = note: `#[warn(unused_imports)]` on by default\n", "^".repeat(imp.len()));
            }
            if krate == stem {
                if fail.is_some() {
                    let m = self.pick_mod().replace('-', "_");
                    let sym =
                        self.r
                            .pick(&["SYS_open", "SYS_epoll_wait", "TIOCGETA", "SYS_getdents"]);
                    let l = self.r.range(10, 900);
                    let code = format!("let ret = unsafe {{ libc::syscall(libc::{sym}, fd, buf.as_mut_ptr(), buf.len()) }};");
                    let col = code.find(sym).unwrap_or(0) + 9;
                    w!(
                        self,
                        "error[E0425]: cannot find value `{sym}` in crate `libc`\n  --> src/{m}.rs:{l}:{col}\n   |\n{l:<3}|         {code}\n   |         {}{}\n   |\nnote: found an item that was configured out\n  --> /usr/share/cargo/registry/libc-0.2.169/src/unix/linux_like/linux/mod.rs:1:1\n\nFor more information about this error, try `rustc --explain E0425`.\nerror: could not compile `{krate}` (lib) due to 1 previous error\n\nCaused by:\n  process didn't exit successfully: `/usr/bin/rustc --crate-name {kname} --edition=2021 src/lib.rs` (exit status: 1)\ndh_auto_build: error: /usr/share/cargo/bin/cargo build returned exit code 101",
                        " ".repeat(col - 9),
                        "^".repeat(sym.len())
                    );
                    return false;
                }
                break;
            }
        }
        w!(
            self,
            "    Finished `dev` profile [unoptimized + debuginfo] target(s) in {}m {:02}s",
            self.r.range(0, 9),
            self.r.range(0, 59)
        );
        self.tick(120);
        true
    }

    // --- tests ---------------------------------------------------------------

    /// Test-suite output up to `limit`; with `fail`, a failure and dh's
    /// error. Returns false if the tests failed.
    fn tests(&mut self, limit: usize, fail: bool) -> bool {
        let ok = match self.c.system {
            System::Autotools => self.tests_automake(limit, fail),
            System::Cmake => self.tests_ctest(limit, fail),
            System::Meson => self.tests_meson(limit, fail),
            System::Pybuild => self.tests_pytest(limit, fail),
            System::Golang => self.tests_go(limit, fail),
            System::Cargo => self.tests_cargo(limit, fail),
        };
        self.tick(30);
        ok
    }

    fn tests_automake(&mut self, limit: usize, fail: bool) -> bool {
        let stem = self.c.stem.clone();
        w!(self, "   dh_auto_test -a\n\tmake -j2 check VERBOSE=1\nmake[1]: Entering directory '/<<PKGBUILDDIR>>'\nMaking check in tests\nmake[2]: Entering directory '/<<PKGBUILDDIR>>/tests'\nmake  check-TESTS\nmake[3]: Entering directory '/<<PKGBUILDDIR>>/tests'\nmake[4]: Entering directory '/<<PKGBUILDDIR>>/tests'");
        let (mut pass, mut skip, mut failed) = (0, 0, Vec::new());
        while self.len() < limit || pass < 5 || (fail && failed.is_empty()) {
            let t = format!("test-{}", self.pick_mod());
            if self.r.chance(4) {
                w!(self, "SKIP: {t}");
                skip += 1;
            } else if fail && self.len() + 2000 > limit && self.r.chance(30) {
                w!(self, "FAIL: {t}");
                failed.push(t);
            } else {
                w!(self, "PASS: {t}");
                pass += 1;
            }
        }
        let total = pass + skip + failed.len();
        let (up, nf) = (self.c.up.clone(), failed.len());
        w!(self, "============================================================================\nTestsuite summary for {stem} {up}\n============================================================================\n# TOTAL: {total}\n# PASS:  {pass}\n# SKIP:  {skip}\n# XFAIL: 0\n# FAIL:  {nf}\n# XPASS: 0\n# ERROR: 0\n============================================================================");
        if !fail {
            w!(self, "make[4]: Leaving directory '/<<PKGBUILDDIR>>/tests'\nmake[3]: Leaving directory '/<<PKGBUILDDIR>>/tests'\nmake[2]: Leaving directory '/<<PKGBUILDDIR>>/tests'\nmake[1]: Leaving directory '/<<PKGBUILDDIR>>'");
            return true;
        }
        w!(self, "See tests/test-suite.log\nPlease report to https://github.com/{}/{stem}/issues\n============================================================================", self.c.org);
        // VERBOSE=1 prints the failed tests' logs.
        w!(self, "=========================================\n   {stem} {up}: tests/test-suite.log\n=========================================\n\n# TOTAL: {total}\n# PASS:  {pass}\n# SKIP:  {skip}\n# FAIL:  {nf}\n\n.. contents:: :depth: 2\n");
        for t in &failed {
            let f = self.func();
            let l = self.r.range(20, 900);
            let (got, want) = (self.r.range(0, 4096), self.r.range(0, 4096));
            w!(self, "FAIL: {t}\n{}\n\n{t}.c:{l}: {f}: assertion failed: (result == expected) ({got} == {want})\nBail out! {t}.c:{l}: {f}: assertion failed\nFAIL {t} (exit status: 134)\n", "=".repeat(t.len() + 6));
        }
        let (a, b, c, d) = (
            self.r.range(900, 1200),
            self.r.range(1000, 1300),
            self.r.range(1300, 1500),
            self.r.range(600, 900),
        );
        w!(self, "make[4]: *** [Makefile:{a}: test-suite.log] Error 1\nmake[4]: Leaving directory '/<<PKGBUILDDIR>>/tests'\nmake[3]: *** [Makefile:{b}: check-TESTS] Error 2\nmake[3]: Leaving directory '/<<PKGBUILDDIR>>/tests'\nmake[2]: *** [Makefile:{c}: check-am] Error 2\nmake[2]: Leaving directory '/<<PKGBUILDDIR>>/tests'\nmake[1]: *** [Makefile:{d}: check-recursive] Error 1\nmake[1]: Leaving directory '/<<PKGBUILDDIR>>'\ndh_auto_test: error: make -j2 check VERBOSE=1 returned exit code 2");
        false
    }

    fn tests_ctest(&mut self, limit: usize, fail: bool) -> bool {
        let t = self.c.arch.triplet;
        w!(self, "   dh_auto_test -a\n\tcd obj-{t} && make -j2 test ARGS\\+=--verbose ARGS\\+=-j2\nmake[1]: Entering directory '/<<PKGBUILDDIR>>/obj-{t}'\nRunning tests...\n/usr/bin/ctest --force-new-ctest-process --verbose -j2\nUpdateCTestConfiguration  from :/<<PKGBUILDDIR>>/obj-{t}/DartConfiguration.tcl\nTest project /<<PKGBUILDDIR>>/obj-{t}");
        let mut names = Vec::new();
        // The summary after the runs takes a line of about 90 bytes a test.
        while self.len() + names.len() * 90 < limit.saturating_sub(600) || names.len() < 3 {
            let n = names.len() + 1;
            let name = format!("test_{}", self.pick_mod().replace('-', "_"));
            w!(self, "test {n}\n      Start {n:>2}: {name}\n\n{n}: Test command: /<<PKGBUILDDIR>>/obj-{t}/tests/{name}\n{n}: Working Directory: /<<PKGBUILDDIR>>/obj-{t}/tests\n{n}: Test timeout computed to be: 1500");
            for _ in 0..self.r.range(0, 12) {
                let case = self.r.pick(WORDS);
                let ms = self.r.range(0, 40);
                w!(
                    self,
                    "{n}: [ RUN      ] {}.{case}\n{n}: [       OK ] {}.{case} ({ms} ms)",
                    capitalise(&name),
                    capitalise(&name)
                );
            }
            names.push(name);
        }
        let bad = if fail {
            self.r.range(1, 3).min(names.len())
        } else {
            0
        };
        let total = names.len();
        for (k, name) in names.iter().enumerate() {
            let failed = k >= total - bad;
            let dots = ".".repeat(40usize.saturating_sub(name.len()).max(3));
            let secs = format!("{}.{:02}", self.r.range(0, 3), self.r.below(100));
            if failed {
                w!(
                    self,
                    "{:>3}/{total} Test #{:>2}: {name} {dots}***Failed    {secs} sec",
                    k + 1,
                    k + 1
                );
            } else {
                w!(
                    self,
                    "{:>3}/{total} Test #{:>2}: {name} {dots}   Passed    {secs} sec",
                    k + 1,
                    k + 1
                );
            }
        }
        let pct = (total - bad) * 100 / total;
        w!(self, "\n{pct}% tests passed, {bad} tests failed out of {total}\n\nTotal Test time (real) = {:>6}.{:02} sec", self.r.range(1, 200), self.r.below(100));
        if !fail {
            w!(
                self,
                "make[1]: Leaving directory '/<<PKGBUILDDIR>>/obj-{t}'"
            );
            return true;
        }
        w!(self, "\nThe following tests FAILED:");
        for (k, name) in names.iter().enumerate().skip(total - bad) {
            w!(self, "\t{:>3} - {name} (Failed)", k + 1);
        }
        w!(self, "Errors while running CTest\nmake[1]: *** [Makefile:{}: test] Error 8\nmake[1]: Leaving directory '/<<PKGBUILDDIR>>/obj-{t}'\ndh_auto_test: error: cd obj-{t} && make -j2 test ARGS\\+=--verbose ARGS\\+=-j2 returned exit code 2", self.r.range(60, 200));
        false
    }

    fn tests_meson(&mut self, limit: usize, fail: bool) -> bool {
        let t = self.c.arch.triplet;
        let stem = self.c.stem.clone();
        w!(self, "   dh_auto_test -a\n\tcd obj-{t} && LC_ALL=C.UTF-8 MESON_TESTTHREADS=2 meson test --verbose\nninja: Entering directory `/<<PKGBUILDDIR>>/obj-{t}'\nninja: no work to do.");
        let mut names = Vec::new();
        while self.len() + names.len() * 80 < limit.saturating_sub(500) || names.len() < 3 {
            let name = self.pick_mod();
            let n = names.len() + 1;
            for k in 0..self.r.range(1, 15) {
                let case = self.r.pick(WORDS);
                w!(self, "▶ {n}/- /{stem}/{name}/{case}                 OK\n{n}/- ok {} /{stem}/{name}/{case}", k + 1);
            }
            names.push(name);
        }
        let total = names.len();
        let bad = if fail { 1 } else { 0 };
        for (k, name) in names.iter().enumerate() {
            let secs = format!("{}.{:02}s", self.r.range(0, 9), self.r.below(100));
            if k + bad >= total && fail {
                w!(self, "{:>2}/{total} {stem}:unit / {name:<30} FAIL            {secs}   exit status 1\n>>> MALLOC_PERTURB_={} G_TEST_SRCDIR=/<<PKGBUILDDIR>>/tests /<<PKGBUILDDIR>>/obj-{t}/tests/{name}", k + 1, self.r.range(1, 255));
            } else {
                w!(
                    self,
                    "{:>2}/{total} {stem}:unit / {name:<30} OK              {secs}",
                    k + 1
                );
            }
        }
        w!(self, "\nOk:                 {}\nExpected Fail:      0\nFail:               {bad}\nUnexpected Pass:    0\nSkipped:            0\nTimeout:            0\n\nFull log written to /<<PKGBUILDDIR>>/obj-{t}/meson-logs/testlog.txt", total - bad);
        if fail {
            w!(self, "dh_auto_test: error: cd obj-{t} && LC_ALL=C.UTF-8 MESON_TESTTHREADS=2 meson test --verbose returned exit code 1");
            return false;
        }
        true
    }

    fn tests_pytest(&mut self, limit: usize, fail: bool) -> bool {
        let stem = self.c.stem.clone();
        let py = PYTHON;
        w!(self, "   dh_auto_test -O--buildsystem=pybuild\nI: pybuild base:311: cd /<<PKGBUILDDIR>>/.pybuild/cpython3_{py}_{stem}/build; python{py} -m pytest tests\n============================= test session starts ==============================\nplatform linux -- Python {py}.0, pytest-8.3.4, pluggy-1.5.0\nrootdir: /<<PKGBUILDDIR>>\nconfigfile: pyproject.toml\nplugins: typeguard-4.4.1");
        let mut files = Vec::new();
        let mut est = 0;
        while self.len() + est < limit.saturating_sub(300) || files.len() < 2 {
            let k = files.len();
            let mods = &self.c.mods;
            let m = mods[k % mods.len()].replace('-', "_");
            let f = if k < mods.len() {
                format!("tests/test_{m}.py")
            } else {
                format!("tests/{}/test_{m}.py", WORDS[k / mods.len() % WORDS.len()])
            };
            let n = self.r.range(3, 60);
            est += f.len() + 10 + n;
            files.push((f, n));
        }
        let total: usize = files.iter().map(|f| f.1).sum();
        w!(self, "collected {total} items\n");
        let mut done = 0;
        let mut skipped = 0;
        let bad_file = if fail {
            Some(self.r.below(files.len()))
        } else {
            None
        };
        let mut failures = Vec::new();
        for (k, (f, n)) in files.iter().enumerate() {
            let mut s = String::new();
            for j in 0..*n {
                if Some(k) == bad_file && (j == n / 2 || j + 1 == *n && self.r.chance(40)) {
                    s.push('F');
                    failures.push((f.clone(), self.func()));
                } else if self.r.chance(3) {
                    s.push('s');
                    skipped += 1;
                } else {
                    s.push('.');
                }
            }
            done += n;
            let line = format!("{f} {s}");
            w!(self, "{line:<74} [{:>3}%]", done * 100 / total);
        }
        let secs = format!("{}.{:02}", self.r.range(1, 120), self.r.below(100));
        let passed = total - skipped - failures.len();
        if !fail {
            w!(self, "\n======================= {passed} passed, {skipped} skipped in {secs}s ========================\nI: pybuild base:311: cd /<<PKGBUILDDIR>>/.pybuild/cpython3_{py}_{stem}/build; python{py} -m pytest tests");
            return true;
        }
        w!(
            self,
            "\n=================================== FAILURES ==================================="
        );
        for (f, func) in &failures {
            let test = format!("test_{func}");
            let l = self.r.range(10, 600);
            let v = self.r.pick(VARS);
            let (a, b) = (self.r.range(0, 99), self.r.range(0, 99));
            let title = format!(" {test} ");
            w!(self, "{title:_^80}\n\n    def {test}():\n        {v} = {stem}.{func}({a})\n>       assert {v} == {b}\nE       assert {a}.000000000000004 == {b}\nE        +  where {a}.000000000000004 = <function {func} at 0x7f{}>({a})\n\n{f}:{l}: AssertionError", self.r.hex(10));
        }
        w!(
            self,
            "=========================== short test summary info ============================"
        );
        for (f, func) in &failures {
            w!(
                self,
                "FAILED {f}::test_{func} - assert 0.30000000000000004 == 0.3"
            );
        }
        w!(self, "============= {} failed, {passed} passed, {skipped} skipped in {secs}s =============\nE: pybuild pybuild:389: test: plugin pyproject failed with: exit code=1: cd /<<PKGBUILDDIR>>/.pybuild/cpython3_{py}_{stem}/build; python{py} -m pytest tests\ndh_auto_test: error: pybuild --test --test-pytest -i python{{version}} -p {py} returned exit code 13", failures.len());
        false
    }

    fn tests_go(&mut self, limit: usize, fail: bool) -> bool {
        let pkgs = self.go_pkgs();
        w!(self, "   dh_auto_test -a -O--builddirectory=_build -O--buildsystem=golang\n\tcd _build && go test -vet=off -v -p 2 {}", pkgs.join(" "));
        let mut k = 0;
        let mut failed = false;
        while self.len() < limit || k < pkgs.len() || (fail && !failed) {
            let p = &pkgs[k % pkgs.len()];
            k += 1;
            if p.contains("/cmd/") {
                w!(self, "?   \t{p}\t[no test files]");
                continue;
            }
            let last = fail && self.len() >= limit && k >= pkgs.len();
            for j in 0..self.r.range(2, 30) {
                let name = format!(
                    "Test{}{}",
                    capitalise(self.r.pick(WORDS)),
                    capitalise(self.r.pick(WORDS))
                );
                w!(self, "=== RUN   {name}");
                if last && j == 1 {
                    let m = self.pick_mod().replace('-', "_");
                    let l = self.r.range(10, 400);
                    w!(
                        self,
                        "    {m}_test.go:{l}: got {}, want {}\n--- FAIL: {name} (0.{:02}s)",
                        self.r.range(0, 99),
                        self.r.range(100, 199),
                        self.r.below(100)
                    );
                    failed = true;
                } else {
                    w!(self, "--- PASS: {name} (0.{:02}s)", self.r.below(100));
                }
            }
            if last {
                w!(self, "FAIL\nFAIL\t{p}\t0.{:03}s", self.r.below(1000));
                break;
            }
            w!(self, "PASS\nok  \t{p}\t0.{:03}s", self.r.below(1000));
        }
        if failed {
            w!(self, "FAIL\ndh_auto_test: error: cd _build && go test -vet=off -v -p 2 {} returned exit code 1", pkgs.join(" "));
            return false;
        }
        true
    }

    fn tests_cargo(&mut self, limit: usize, fail: bool) -> bool {
        let rt = self.c.arch.rust;
        let stem = self.c.stem.replace('-', "_");
        w!(self, "   dh_auto_test -a -O--buildsystem=cargo\ndebian cargo wrapper: running subprocess (['env', 'RUST_BACKTRACE=1', '/usr/bin/cargo', '-Zavoid-dev-deps', 'test', '--verbose', '--verbose', '-j2', '--target', '{rt}'],) {{}}\n     Running `/<<PKGBUILDDIR>>/target/{rt}/debug/deps/{stem}-{}`", self.r.hex(16));
        let mut names = Vec::new();
        while self.len() + names.len() * 50 < limit || names.len() < 3 {
            let m = self.pick_mod().replace('-', "_");
            names.push(format!("{m}::tests::{}", self.r.pick(WORDS)));
        }
        w!(self, "\nrunning {} tests", names.len());
        let bad = if fail { names.len() - 1 } else { usize::MAX };
        for (k, n) in names.iter().enumerate() {
            w!(
                self,
                "test {n} ... {}",
                if k == bad { "FAILED" } else { "ok" }
            );
        }
        let secs = format!("{}.{:02}", self.r.range(0, 9), self.r.below(100));
        if !fail {
            w!(self, "\ntest result: ok. {} passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs}s\n", names.len());
            return true;
        }
        let n = &names[bad];
        let m = n.split("::").next().unwrap_or("lib").to_string();
        let l = self.r.range(10, 900);
        w!(self, "\nfailures:\n\n---- {n} stdout ----\n\nthread '{n}' panicked at src/{m}.rs:{l}:9:\nassertion `left == right` failed\n  left: {}\n right: {}\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n\nfailures:\n    {n}\n\ntest result: FAILED. {} passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs}s\n\nerror: test failed, to rerun pass `--lib`\ndh_auto_test: error: /usr/share/cargo/bin/cargo test --offline returned exit code 101", self.r.range(0, 999), self.r.range(0, 999), names.len() - 1);
        false
    }

    // --- the rest of a build -------------------------------------------------

    fn install(&mut self) {
        let t = self.c.arch.triplet;
        let stem = self.c.stem.clone();
        w!(self, "   create-stamp debian/debhelper-build-stamp\n   dh_testroot -a\n   dh_prep -a\n   dh_auto_install --destdir=debian/tmp -a");
        match self.c.system {
            System::Autotools => {
                w!(self, "\tmake -j2 install DESTDIR=/<<PKGBUILDDIR>>/debian/tmp AM_UPDATE_INFO_DIR=no \"INSTALL=install --strip-program=true\"\nmake[1]: Entering directory '/<<PKGBUILDDIR>>'\n /usr/bin/mkdir -p '/<<PKGBUILDDIR>>/debian/tmp/usr/lib/{t}'\n /bin/bash ./libtool   --mode=install /usr/bin/install -c   lib{stem}.la '/<<PKGBUILDDIR>>/debian/tmp/usr/lib/{t}'");
                let so = self.c.soname;
                w!(self, "libtool: install: /usr/bin/install -c .libs/lib{stem}.so.{so}.0.0 /<<PKGBUILDDIR>>/debian/tmp/usr/lib/{t}/lib{stem}.so.{so}.0.0\nlibtool: install: /usr/bin/install -c .libs/lib{stem}.lai /<<PKGBUILDDIR>>/debian/tmp/usr/lib/{t}/lib{stem}.la\nlibtool: install: /usr/bin/install -c .libs/lib{stem}.a /<<PKGBUILDDIR>>/debian/tmp/usr/lib/{t}/lib{stem}.a\n /usr/bin/mkdir -p '/<<PKGBUILDDIR>>/debian/tmp/usr/include/{stem}'");
                let hs: Vec<String> = self
                    .c
                    .mods
                    .iter()
                    .take(20)
                    .map(|m| format!("{m}.h"))
                    .collect();
                w!(self, " /usr/bin/install -c -m 644 {} '/<<PKGBUILDDIR>>/debian/tmp/usr/include/{stem}'\nmake[1]: Leaving directory '/<<PKGBUILDDIR>>'", hs.join(" "));
            }
            System::Cmake => {
                w!(self, "\tcd obj-{t} && make -j2 install DESTDIR=/<<PKGBUILDDIR>>/debian/tmp AM_UPDATE_INFO_DIR=no \"INSTALL=install --strip-program=true\"\nInstall the project...\n-- Install configuration: \"None\"");
                for m in self.c.mods.clone() {
                    w!(
                        self,
                        "-- Installing: /<<PKGBUILDDIR>>/debian/tmp/usr/include/{stem}/{m}.hpp"
                    );
                }
                w!(self, "-- Installing: /<<PKGBUILDDIR>>/debian/tmp/usr/lib/{t}/lib{stem}.so.{}.0.0\n-- Installing: /<<PKGBUILDDIR>>/debian/tmp/usr/lib/{t}/cmake/{stem}/{stem}Config.cmake", self.c.soname);
            }
            System::Meson => {
                w!(self, "\tcd obj-{t} && DESTDIR=/<<PKGBUILDDIR>>/debian/tmp LC_ALL=C.UTF-8 ninja install\n[0/1] Installing files.\nInstalling src/lib{stem}.so.{}.0.0 to /<<PKGBUILDDIR>>/debian/tmp/usr/lib/{t}", self.c.soname);
                for m in self.c.mods.clone() {
                    w!(self, "Installing /<<PKGBUILDDIR>>/src/{m}.h to /<<PKGBUILDDIR>>/debian/tmp/usr/include/{stem}");
                }
            }
            System::Pybuild => {
                let py = PYTHON;
                w!(self, "I: pybuild plugin_pyproject:178: Copying package built for python{py} to destdir");
            }
            System::Golang | System::Cargo => {}
        }
        self.tick(10);
    }

    fn dh_tail(&mut self) {
        for s in [
            "dh_install",
            "dh_installdocs",
            "dh_installchangelogs",
            "dh_installman",
            "dh_installsystemduser",
            "dh_perl",
            "dh_link",
            "dh_strip_nondeterminism",
            "dh_compress",
            "dh_fixperms",
            "dh_missing",
            "dh_dwz",
            "dh_strip",
            "dh_makeshlibs",
        ] {
            w!(self, "   {s} -a");
        }
        let lib = self
            .c
            .bins
            .iter()
            .find(|(_, k)| *k == BinKind::Lib)
            .map(|b| b.0.clone());
        if let Some(lib) = &lib {
            if self.r.chance(35) {
                let arch = self.c.arch.name;
                w!(self, "dpkg-gensymbols: warning: some new symbols appeared in the symbols file: see diff output below\ndpkg-gensymbols: warning: debian/{lib}/DEBIAN/symbols doesn't match completely debian/{lib}.symbols\n--- debian/{lib}.symbols ({lib}_{}_{arch})\n+++ dpkg-gensymbols{}\t2026-11-21 {}.000000000 +0000\n@@ -{},{} +{},{} @@", self.c.ver, self.r.hex(6), self.hms(), self.r.range(1, 400), self.r.range(5, 40), self.r.range(1, 400), self.r.range(5, 40));
                for _ in 0..self.r.range(3, 40) {
                    let f = self.func();
                    let sign = if self.r.chance(20) { "+" } else { " " };
                    w!(self, "{sign} {f}@Base {}", self.c.up);
                }
            }
        }
        w!(self, "   dh_shlibdeps -a");
        if self.r.chance(30) {
            let b = self.c.bins[0].0.clone();
            w!(self, "dpkg-shlibdeps: warning: package could avoid a useless dependency if debian/{b}/usr/lib/{}/lib{}.so.{}.0.0 was not linked against libm.so.6 (it uses none of the library's symbols)", self.c.arch.triplet, self.c.stem, self.c.soname);
        }
        w!(
            self,
            "   dh_installdeb -a\n   dh_gencontrol -a\n   dh_md5sums -a\n   dh_builddeb -a"
        );
        let (ver, arch) = (self.c.ver.clone(), self.c.arch.name);
        for (b, _) in self.c.bins.clone() {
            w!(
                self,
                "dpkg-deb: building package '{b}' in '../{b}_{ver}_{arch}.deb'."
            );
        }
        let src = self.c.src.clone();
        w!(self, " dpkg-genbuildinfo --build=any -O../{src}_{ver}_{arch}.buildinfo\n dpkg-genchanges --build=any -mDebian buildd <buildd@example.org> -O../{src}_{ver}_{arch}.changes\ndpkg-genchanges: info: binary-only arch-specific upload (source code and arch-indep packages not included)\n dpkg-source --after-build .\ndpkg-buildpackage: info: binary-only upload (no source included)\n{DASHES}");
        self.tick(30);
        w!(
            self,
            "Build finished at {}\n\nFinished\n--------\n\nI: Built successfully",
            self.iso()
        );
    }

    fn failed_build_tail(&mut self) {
        w!(self, "make: *** [debian/rules:{}: binary-arch] Error 25\ndpkg-buildpackage: error: debian/rules binary-arch subprocess returned exit status 2\n{DASHES}", self.r.range(5, 40));
        self.tick(5);
        w!(
            self,
            "Build finished at {}\n\nFinished\n--------\n",
            self.iso()
        );
    }

    fn changes_text(&mut self) -> String {
        let c = &self.c;
        let mut s = String::new();
        let binaries: Vec<&str> = c.bins.iter().map(|b| b.0.as_str()).collect();
        s.push_str(&format!(
                "Format: 1.8\nDate: Fri, 20 Nov 2026 18:{:02}:{:02} +0000\nSource: {}{}\nBinary: {}\nArchitecture: {}\nVersion: {}\nDistribution: {}\nUrgency: {}\nMaintainer: {}\nChanged-By: {}\nDescription:\n",
                c.start % 60,
                c.start / 60 % 60,
                c.src,
                if c.binnmu { format!(" ({})", c.sver) } else { String::new() },
                binaries.join(" "),
                c.arch.name,
                c.ver,
                c.dist,
                if c.binnmu { "low" } else { "medium" },
                c.maint,
                if c.binnmu { format!("{} Build Daemon ({}) <buildd_{}@example.org>", c.arch.name, c.builder, c.arch.name) } else { c.maint.clone() },
            ));
        for (b, k) in &c.bins {
            let d = match k {
                BinKind::Lib => format!("{} library - shared library", c.stem),
                BinKind::Dev => format!("{} library - development files", c.stem),
                BinKind::Tools => format!("command-line tools for {}", c.stem),
                BinKind::Python => format!("Python 3 module for {}", c.stem),
                BinKind::Dbgsym => format!("debug symbols for {}", b.trim_end_matches("-dbgsym")),
            };
            s += &format!(" {b:<20} - {d}\n");
        }
        if c.binnmu {
            s += &format!("Changes:\n {} ({}) {}; urgency=low, binary-only=yes\n .\n   * Binary-only non-maintainer upload for {}; no source changes.\n   * Rebuild for the {} bootstrap.\n", c.src, c.ver, c.dist, c.arch.name, c.arch.name);
        } else {
            s += &format!(
                "Changes:\n {} ({}) {}; urgency=medium\n .\n   * New upstream release.\n",
                c.src, c.sver, c.dist
            );
        }
        let debs: Vec<(String, usize)> = c
            .bins
            .iter()
            .map(|(b, _)| (format!("{b}_{}_{}.deb", c.ver, c.arch.name), 0))
            .chain(std::iter::once((
                format!("{}_{}_{}.buildinfo", c.src, c.ver, c.arch.name),
                0,
            )))
            .collect();
        let debs: Vec<(String, usize)> = debs
            .into_iter()
            .map(|(n, _)| (n, self.r.range(2_000, 9_000_000)))
            .collect();
        for (head, len) in [("Checksums-Sha1", 40), ("Checksums-Sha256", 64)] {
            s += head;
            s += ":\n";
            for (n, size) in &debs {
                s += &format!(" {} {size} {n}\n", self.r.hex(len));
            }
        }
        s += "Files:\n";
        for (n, size) in &debs {
            let section = if n.contains("-dbgsym_") {
                "debug"
            } else {
                "libs"
            };
            s += &format!(" {} {size} {section} optional {n}\n", self.r.hex(32));
        }
        s
    }

    fn changes_section(&mut self) {
        self.section("Changes");
        let name = format!(
            "{}_{}_{}.changes:",
            self.c.src, self.c.ver, self.c.arch.name
        );
        let text = match self.changes.clone() {
            Some(t) => t,
            None => self.changes_text(),
        };
        w!(self, "\n{name}\n{}\n\n{text}", "-".repeat(name.len()));
    }

    fn buildinfo_section(&mut self) {
        self.section("Buildinfo");
        let c = &self.c;
        let mut s =
            format!(
            "Format: 1.0\nSource: {}\nBinary: {}\nArchitecture: {}\nVersion: {}\nChecksums-Md5:\n",
            c.src,
            c.bins.iter().map(|b| b.0.as_str()).collect::<Vec<_>>().join(" "),
            c.arch.name,
            c.ver
        );
        let bins = c.bins.clone();
        let (ver, arch) = (c.ver.clone(), c.arch.name);
        for (b, _) in &bins {
            s += &format!(
                " {} {} {b}_{ver}_{arch}.deb\n",
                self.r.hex(32),
                self.r.range(2_000, 9_000_000)
            );
        }
        s += &format!("Build-Origin: Debian\nBuild-Architecture: {arch}\nBuild-Date: {}\nBuild-Kernel-Version: 6.12.57+deb13-{arch} #1 SMP Debian 6.12.57-1 (2026-10-28)\nBuild-Path: /<<PKGBUILDDIR>>\nBuild-Tainted-By:\n merged-usr-via-aliased-dirs\nInstalled-Build-Depends:\n", self.rfc());
        let mut all: Vec<(String, String)> = BASE_PKGS
            .iter()
            .map(|(p, v)| (p.to_string(), v.to_string()))
            .collect();
        all.extend(self.c.deps.iter().cloned());
        all.sort();
        let n = all.len();
        for (k, (p, v)) in all.iter().enumerate() {
            s += &format!(" {p} (= {v}){}\n", if k + 1 < n { "," } else { "" });
        }
        s += "Environment:\n DEB_BUILD_OPTIONS=\"parallel=2\"\n LANG=\"C.UTF-8\"\n LC_ALL=\"C.UTF-8\"\n SOURCE_DATE_EPOCH=\"1795190400\"\n";
        w!(self, "{s}");
    }

    /// `dpkg -I` and `dpkg -c` of every package, the listings filling the
    /// log up to its size.
    fn contents_section(&mut self) {
        self.section("Package contents");
        let bins = self.c.bins.clone();
        let tail = 2_500;
        for (k, (b, kind)) in bins.iter().enumerate() {
            let left = self.c.target.saturating_sub(self.len() + tail);
            let budget = left / (bins.len() - k);
            let until = self.len() + budget;
            self.deb_contents(b, *kind, until);
        }
    }

    fn deb_contents(&mut self, bin: &str, kind: BinKind, until: usize) {
        let c = &self.c;
        let (ver, arch, t, stem, so) = (
            c.ver.clone(),
            c.arch.name,
            c.arch.triplet,
            c.stem.clone(),
            c.soname,
        );
        let name = format!("{bin}_{ver}_{arch}.deb");
        let (section, desc, depends) = match kind {
            BinKind::Lib => (
                "libs",
                format!("{stem} library - shared library"),
                "libc6 (>= 2.38), zlib1g (>= 1:1.2.0)".to_string(),
            ),
            BinKind::Dev => (
                "libdevel",
                format!("{stem} library - development files"),
                format!("lib{stem}{so} (= {ver})"),
            ),
            BinKind::Tools => (
                "utils",
                format!("command-line tools for {stem}"),
                "libc6 (>= 2.38)".to_string(),
            ),
            BinKind::Python => (
                "python",
                format!("Python 3 module for {stem}"),
                "python3 (<< 3.14), python3 (>= 3.13~), libc6 (>= 2.38)".to_string(),
            ),
            BinKind::Dbgsym => (
                "debug",
                format!("debug symbols for {}", bin.trim_end_matches("-dbgsym")),
                format!("{} (= {ver})", bin.trim_end_matches("-dbgsym")),
            ),
        };
        let size = self.r.range(2_000, 9_000_000);
        w!(
            self,
            "\n{name}\n{}\n\n new Debian package, version 2.0.\n size {size} bytes: control archive={} bytes.\n     {} bytes,    {} lines      control\n    {} bytes,    {} lines      md5sums",
            "-".repeat(name.len()),
            self.r.range(600, 9000),
            self.r.range(400, 1200),
            self.r.range(10, 25),
            self.r.range(100, 90000),
            self.r.range(2, 900)
        );
        if kind == BinKind::Lib {
            w!(self, "      {} bytes,     1 lines      shlibs\n    {} bytes,    {} lines      symbols\n      67 bytes,     2 lines      triggers", self.r.range(20, 60), self.r.range(200, 40000), self.r.range(10, 900));
        }
        let multi = if kind == BinKind::Lib || kind == BinKind::Dev {
            "\n Multi-Arch: same"
        } else {
            ""
        };
        let source = if self.c.binnmu || !bin.starts_with(&self.c.src) {
            format!("\n Source: {} ({})", self.c.src, self.c.sver)
        } else {
            String::new()
        };
        w!(
            self,
            " Package: {bin}{source}\n Version: {ver}\n Architecture: {arch}\n Maintainer: {}\n Installed-Size: {}\n Depends: {depends}\n Section: {section}\n Priority: optional{multi}\n Homepage: https://{stem}.example.org/\n Description: {desc}\n  {stem} is a library and set of tools for {} {} handling.\n  .\n  This package contains {}.\n",
            self.c.maint,
            self.r.range(20, 90000),
            self.r.pick(WORDS),
            self.r.pick(WORDS),
            desc
        );
        let mut dirs_done = std::collections::HashSet::new();
        let hm = format!("{:02}:{:02}", self.clock / 3600, self.clock / 60 % 60);
        let entry =
            |log: &mut Log, path: String, dirs_done: &mut std::collections::HashSet<String>| {
                // Parent directories first, as tar lists them.
                let mut p = String::from("./");
                let parts: Vec<&str> = path.trim_start_matches("./").split('/').collect();
                for part in &parts[..parts.len() - 1] {
                    p.push_str(part);
                    p.push('/');
                    if dirs_done.insert(p.clone()) {
                        w!(log, "drwxr-xr-x root/root         0 2026-11-21 {hm} {p}");
                    }
                }
                if let Some((link, target)) = path.split_once(" -> ") {
                    w!(
                        log,
                        "lrwxrwxrwx root/root         0 2026-11-21 {hm} {link} -> {target}"
                    );
                } else {
                    let size = log.r.range(20, 900_000);
                    let mode = if path.contains("/bin/") {
                        "-rwxr-xr-x"
                    } else {
                        "-rw-r--r--"
                    };
                    w!(log, "{mode} root/root {size:>9} 2026-11-21 {hm} {path}");
                }
            };
        w!(self, "drwxr-xr-x root/root         0 2026-11-21 {hm} ./");
        dirs_done.insert("./".to_string());
        let doc = format!("./usr/share/doc/{bin}");
        let mut n = 0usize;
        let mods = self.c.mods.clone();
        loop {
            let path = match kind {
                BinKind::Lib => match n {
                    0 => format!("./usr/lib/{t}/lib{stem}.so.{so}.0.0"),
                    1 => format!("./usr/lib/{t}/lib{stem}.so.{so} -> lib{stem}.so.{so}.0.0"),
                    _ => {
                        let m = &mods[n % mods.len()];
                        format!(
                            "./usr/lib/{t}/{stem}/plugins/{}{m}.so",
                            if n >= mods.len() {
                                format!("{}-", n / mods.len())
                            } else {
                                String::new()
                            }
                        )
                    }
                },
                BinKind::Dev => match n {
                    0 => format!("./usr/lib/{t}/lib{stem}.so -> lib{stem}.so.{so}.0.0"),
                    1 => format!("./usr/lib/{t}/lib{stem}.a"),
                    2 => format!("./usr/lib/{t}/pkgconfig/{stem}.pc"),
                    3 => format!("./usr/lib/{t}/cmake/{stem}/{stem}Config.cmake"),
                    _ => {
                        let m = &mods[n % mods.len()];
                        let sub = if n >= mods.len() {
                            format!("{}/", WORDS[(n / mods.len()) % WORDS.len()])
                        } else {
                            String::new()
                        };
                        format!("./usr/include/{stem}/{sub}{m}.h")
                    }
                },
                BinKind::Tools => {
                    let m = &mods[n % mods.len()];
                    match n % 4 {
                        0 if n < 4 * mods.len() => format!("./usr/bin/{stem}-{m}"),
                        1 if n < 4 * mods.len() => format!("./usr/share/man/man1/{stem}-{m}.1.gz"),
                        _ => {
                            let lang = LANGS[n % LANGS.len()];
                            format!(
                                "./usr/share/locale/{lang}/LC_MESSAGES/{stem}-{}.mo",
                                n / LANGS.len()
                            )
                        }
                    }
                }
                BinKind::Python => {
                    let m = mods[n % mods.len()].replace('-', "_");
                    let sub = if n >= mods.len() {
                        format!("{}/", WORDS[(n / mods.len()) % WORDS.len()])
                    } else {
                        String::new()
                    };
                    if n % 7 == 3 {
                        format!(
                            "./usr/lib/python3/dist-packages/{stem}/{sub}_{m}.cpython-313-{t}.so"
                        )
                    } else {
                        format!("./usr/lib/python3/dist-packages/{stem}/{sub}{m}.py")
                    }
                }
                BinKind::Dbgsym => {
                    let h = self.r.hex(40);
                    format!("./usr/lib/debug/.build-id/{}/{}.debug", &h[..2], &h[2..])
                }
            };
            entry(self, path, &mut dirs_done);
            n += 1;
            if self.len() >= until && n >= 2 {
                break;
            }
        }
        entry(
            self,
            format!("{doc}/changelog.Debian.{arch}.gz"),
            &mut dirs_done,
        );
        entry(self, format!("{doc}/changelog.Debian.gz"), &mut dirs_done);
        entry(self, format!("{doc}/copyright"), &mut dirs_done);
    }

    fn lintian_section(&mut self) {
        self.section("Post Build Chroot");
        self.subsection("Install lintian build dependencies (apt-based resolver)");
        let pkgs = vec![("lintian".to_string(), "2.121.1".to_string())];
        self.apt_install(&pkgs, "sbuild-build-depends-lintian-dummy");
        w!(self, "\nRunning lintian...");
        let bins = self.c.bins.clone();
        for (b, kind) in &bins {
            if *kind == BinKind::Dbgsym {
                continue;
            }
            let mut tags = std::collections::BTreeSet::new();
            for _ in 0..self.r.range(0, 4) {
                let m = self.pick_mod();
                let tag = match (kind, self.r.below(6)) {
                    (BinKind::Lib, 0) => format!("W: {b}: package-name-doesnt-match-sonames lib{}{}", self.c.stem, self.c.soname + 1),
                    (BinKind::Lib, 1) => format!("I: {b}: hardening-no-fortify-functions [usr/lib/{}/lib{}.so.{}.0.0]", self.c.arch.triplet, self.c.stem, self.c.soname),
                    (BinKind::Tools, _) => format!("W: {b}: no-manual-page [usr/bin/{}-{m}]", self.c.stem),
                    (BinKind::Dev, _) => format!("I: {b}: no-symbols-control-file usr/lib/{}/lib{}.so.{}.0.0", self.c.arch.triplet, self.c.stem, self.c.soname),
                    (_, 2) => format!("I: {b}: spelling-error-in-binary recieve receive [usr/lib/{}/lib{}.so.{}.0.0]", self.c.arch.triplet, self.c.stem, self.c.soname),
                    (_, 3) => format!("W: {b}: description-starts-with-package-name"),
                    (_, 4) => format!("I: {b}: extended-description-is-probably-too-short"),
                    _ => format!("W: {b}: copyright-without-copyright-notice [usr/share/doc/{b}/copyright]"),
                };
                tags.insert(tag);
            }
            for tag in tags {
                w!(self, "{tag}");
            }
        }
        w!(self, "\nI: Lintian run was successful.");
    }

    fn cleanup(&mut self) {
        self.section("Cleanup");
        w!(
            self,
            "Purging /<<BUILDDIR>>\nNot cleaning session: cloned chroot in use"
        );
        if self.c.status == Status::Attempted {
            w!(self, "E: Build failure (dpkg-buildpackage died)");
        }
    }

    fn summary(&mut self) {
        self.section("Summary");
        let c = &self.c;
        let status = c.status;
        let elapsed = self.clock.saturating_sub(c.start) as usize;
        let (space, space_field) = match status {
            Status::Successful | Status::Attempted => {
                let s = self.r.range(2_000, 3_000_000);
                (format!("{s}k disk space"), s.to_string())
            }
            _ => ("no disk space".to_string(), "n/a".to_string()),
        };
        let install = elapsed / 5;
        let build = elapsed.saturating_sub(install);
        let mut fields: Vec<(&str, String)> = vec![
            ("Build Architecture", c.arch.name.to_string()),
            ("Build Type", "any".into()),
            ("Build-Space", space_field.clone()),
            ("Build-Time", build.to_string()),
            ("Distribution", c.dist.to_string()),
            ("Host Architecture", c.arch.name.to_string()),
            ("Install-Time", install.to_string()),
            ("Job", format!("{}_{}", c.src, c.ver)),
            ("Machine Architecture", c.arch.name.to_string()),
            ("Package", c.src.clone()),
            ("Package-Time", elapsed.to_string()),
            ("Source-Version", c.sver.clone()),
            ("Space", space_field),
            ("Status", status.name().to_string()),
            ("Version", c.ver.clone()),
        ];
        match status {
            Status::Successful => fields.push((
                "Lintian",
                if self.r.chance(60) { "warn" } else { "pass" }.into(),
            )),
            Status::Attempted => fields.push(("Fail-Stage", "build".into())),
            Status::GivenBack => fields.push(("Fail-Stage", "install-deps".into())),
            Status::Skipped => fields.push(("Fail-Stage", "arch-check".into())),
        }
        fields.sort();
        for (k, v) in fields {
            w!(self, "{k}: {v}");
        }
        w!(
            self,
            "{DASHES}\nFinished at {}\nBuild needed {:02}:{:02}:{:02}, {space}",
            self.iso(),
            elapsed / 3600,
            elapsed / 60 % 60,
            elapsed % 60
        );
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------
// The mails and the mbox files.

struct Generated {
    mails: usize,
    bytes: u64,
    log_bytes: u64,
    by_status: [(usize, u64, usize, usize); 4],
    by_form: [usize; 3],
}

fn status_for(r: &mut Rng) -> Status {
    match r.below(100) {
        0..=49 => Status::Successful,
        50..=84 => Status::Attempted,
        85..=94 => Status::GivenBack,
        _ => Status::Skipped,
    }
}

fn mail(
    i: usize,
    seed: u64,
    names: &mut std::collections::HashSet<String>,
) -> (Status, Form, usize, Vec<u8>) {
    let mut r = Rng::new(seed ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    let status = status_for(&mut r);
    let form = Form::ALL[r.below(3)];
    let c = Ctx::new(i, status, &mut r, names);
    let subject = support::sbuild_subject(status.name(), &c.src, &c.ver, c.arch.name, c.dist);
    let id = format!(
        "{}_{}_{}.{i}.{seed:x}@{}",
        c.src, c.ver, c.arch.name, c.builder
    );
    let log_name = format!(
        "{}_{}_{}-20261121-{:04}.build",
        c.src,
        c.ver,
        c.arch.name,
        c.start / 60
    );
    let changes_name = format!("{}_{}_{}.changes", c.src, c.ver, c.arch.name);
    let start = c.start;
    let successful = status == Status::Successful;
    let mut log = Log {
        out: Vec::with_capacity(c.target + 8192),
        r: Rng::new(r.next_u64()),
        clock: c.start,
        c,
        changes: None,
    };
    if successful {
        log.changes = Some(log.changes_text());
    }
    let changes = log.changes.clone();
    let log = log.build();
    // Sent when the build finished, on 2026-11-21.
    let date = 1_795_219_200 + i64::from(start) + 600;
    let raw = match form {
        Form::Plain => support::log_mail_plain(&subject, &log),
        Form::MimeText | Form::MimeGzip => {
            let lf = if form == Form::MimeText {
                LogForm::MimeText(Encoding::EightBit)
            } else {
                LogForm::MimeGzip
            };
            let mut m = LogMail::new(&subject, &log, lf);
            m.log_name = log_name;
            m.changes = changes.as_deref();
            m.changes_name = changes_name;
            m.boundary = format!("=_sbuild_{i}_{seed:x}");
            m.date = date;
            m.build()
        }
    };
    (status, form, log.len(), support::with_message_id(&raw, &id))
}

/// mboxrd: a `From ` line, the mail with `>*From ` lines quoted, a blank line.
fn write_mbox_entry(f: &mut impl Write, mail: &[u8]) -> std::io::Result<u64> {
    let mut n = 0u64;
    const SEP: &[u8] = b"From buildd@example.org Sat Nov 21 10:00:00 2026\n";
    f.write_all(SEP)?;
    n += SEP.len() as u64;
    for line in mail.split_inclusive(|&b| b == b'\n') {
        let gt = line.iter().take_while(|&&b| b == b'>').count();
        if line[gt..].starts_with(b"From ") {
            f.write_all(b">")?;
            n += 1;
        }
        f.write_all(line)?;
        n += line.len() as u64;
    }
    f.write_all(b"\n")?;
    Ok(n + 1)
}

struct Mbox {
    path: PathBuf,
    w: BufWriter<File>,
    mails: usize,
    bytes: u64,
}

impl Mbox {
    fn create(path: PathBuf) -> Mbox {
        let w = BufWriter::with_capacity(1 << 20, File::create(&path).expect("mbox"));
        Mbox {
            path,
            w,
            mails: 0,
            bytes: 0,
        }
    }

    fn add(&mut self, mail: &[u8]) {
        self.bytes += write_mbox_entry(&mut self.w, mail).expect("write mbox");
        self.mails += 1;
    }

    fn finish(self) -> (PathBuf, usize, u64) {
        let f = self.w.into_inner().expect("flush");
        f.sync_all().expect("sync");
        (self.path, self.mails, self.bytes)
    }
}

fn generate(dir: &Path, target: u64, seed: u64) -> (Generated, [(PathBuf, usize, u64); 3]) {
    let mut all = Mbox::create(dir.join("mix.mbox"));
    let mut ok = Mbox::create(dir.join("successful.mbox"));
    let mut failed = Mbox::create(dir.join("failed.mbox"));
    let mut g = Generated {
        mails: 0,
        bytes: 0,
        log_bytes: 0,
        by_status: [(0, 0, usize::MAX, 0); 4],
        by_form: [0; 3],
    };
    let mut names = std::collections::HashSet::new();
    let mut i = 0;
    while all.bytes < target {
        let (status, form, log_len, m) = mail(i, seed, &mut names);
        all.add(&m);
        if status == Status::Successful {
            ok.add(&m);
        } else {
            failed.add(&m);
        }
        let s = &mut g.by_status[status as usize];
        s.0 += 1;
        s.1 += log_len as u64;
        s.2 = s.2.min(log_len);
        s.3 = s.3.max(log_len);
        g.by_form[form as usize] += 1;
        g.log_bytes += log_len as u64;
        i += 1;
    }
    g.mails = all.mails;
    g.bytes = all.bytes;
    (g, [all.finish(), ok.finish(), failed.finish()])
}

// ---------------------------------------------------------------------------
// Measuring.

/// Lines of the file by memchr, and the seconds that took, reading
/// included: the best of three runs (the file in the page cache, as for
/// the runs after it; the first run may find some of it evicted).
fn line_count(path: &Path) -> (usize, f64) {
    let mut best = (0, f64::MAX);
    for _ in 0..3 {
        let start = Instant::now();
        let bytes = std::fs::read(path).expect("read mbox");
        let n = memchr::memchr_iter(b'\n', &bytes).count();
        let secs = start.elapsed().as_secs_f64();
        drop(bytes);
        if secs < best.1 {
            best = (n, secs);
        }
    }
    best
}

struct Import {
    secs: f64,
    rss: u64,
    /// Failed builds explained afterwards by `work --explanations`.
    explained: usize,
    explain_secs: f64,
    explain_rss: u64,
}

fn import(path: &Path, scratch: &Path, mails: usize) -> Import {
    let data = tempfile::tempdir_in(scratch).expect("data dir");
    let config = data.path().join("buildmail.toml");
    std::fs::write(&config, "data_dir = \"data\"\n").expect("config");
    let out = data.path().join("stdout");
    // Its log (a line per mail) goes to a file, as under a service manager.
    let err = data.path().join("stderr");
    let mut c = Command::new(env!("CARGO_BIN_EXE_buildmail"));
    c.arg("--config")
        .arg(&config)
        .arg("import")
        .arg("--explain=later")
        .arg(path)
        .stdout(File::create(&out).expect("stdout file"))
        .stderr(File::create(&err).expect("stderr file"));
    let (status, secs, rss) = run_measured(c);
    let said = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        status.success(),
        "import of {} failed: {said}\n{}",
        path.display(),
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    // `imported N mails: L log mails, R replies, A archive mails, O other
    // mails, D duplicates, Q quarantined`
    let line = said
        .lines()
        .find(|l| l.starts_with("imported "))
        .unwrap_or_else(|| panic!("no summary line in {said:?}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(numbers.len(), 7, "summary line {line:?}");
    assert_eq!(numbers[0], mails, "mails imported: {line}");
    assert_eq!(numbers[1], mails, "log mails: {line}");
    assert_eq!(numbers[6], 0, "quarantined: {line}");
    // Then the explanations the import left to the worker.
    let mut c = Command::new(env!("CARGO_BIN_EXE_buildmail"));
    c.arg("--config")
        .arg(&config)
        .args(["work", "--explanations"])
        .stdout(File::create(&out).expect("stdout file"))
        .stderr(File::create(&err).expect("stderr file"));
    let (status, explain_secs, explain_rss) = run_measured(c);
    let said = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(status.success(), "work --explanations failed: {said}");
    // `N failed log(s) explained`
    let explained = said
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {said:?}"));
    Import {
        secs,
        rss,
        explained,
        explain_secs,
        explain_rss,
    }
}

fn python_available() -> bool {
    if std::env::var("BUILDMAIL_BENCH_MIX_PYTHON").is_ok_and(|v| v == "0") {
        return false;
    }
    Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The baseline's wall time; checks that it stored `mails` rows.
fn python(path: &Path, scratch: &Path, mails: usize) -> f64 {
    let dir = tempfile::tempdir_in(scratch).expect("python dir");
    let db = dir.path().join("logs.sqlite");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/baseline_ingest.py");
    let mut c = Command::new("python3");
    c.arg(&script).arg(path).arg(&db).stdout(Stdio::null());
    let start = Instant::now();
    let status = c.status().expect("python3");
    let secs = start.elapsed().as_secs_f64();
    assert!(status.success(), "baseline_ingest.py failed");
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*), count(status) FROM logs').fetchone())",
        ])
        .arg(&db)
        .output()
        .expect("python3");
    let rows = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        rows,
        format!("({mails}, {mails})"),
        "rows (and statuses) the baseline stored"
    );
    secs
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let began = Instant::now();
    let target_mb: u64 = std::env::var("BUILDMAIL_BENCH_MIX_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(220);
    let seed: u64 = std::env::var("BUILDMAIL_BENCH_MIX_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(11);
    let scratch = tempfile::tempdir().expect("temp dir");
    let keep = std::env::var_os("BUILDMAIL_BENCH_MIX_DIR").map(PathBuf::from);
    let dir = match &keep {
        Some(d) => {
            std::fs::create_dir_all(d).expect("BUILDMAIL_BENCH_MIX_DIR");
            d.clone()
        }
        None => scratch.path().to_path_buf(),
    };

    let gen_start = Instant::now();
    let (g, files) = generate(&dir, target_mb * 1_000_000, seed);
    let gen_secs = gen_start.elapsed().as_secs_f64();

    println!(
        "## import_mix: {} mails, {:.1} MB mbox (seed {seed}; generated in {gen_secs:.1} s)\n",
        g.mails,
        mb(g.bytes)
    );
    println!("| status | mails | share | log sizes (min–mean–max) |\n|---|---|---|---|");
    for s in Status::ALL {
        let (n, bytes, min, max) = g.by_status[s as usize];
        if n == 0 {
            continue;
        }
        println!(
            "| {} | {n} | {:.1} % | {:.0}–{:.0}–{:.0} KB |",
            s.name(),
            n as f64 * 100.0 / g.mails as f64,
            min as f64 / 1e3,
            bytes as f64 / n as f64 / 1e3,
            max as f64 / 1e3
        );
    }
    let forms: Vec<String> = Form::ALL
        .iter()
        .map(|f| {
            format!(
                "{} {} ({:.0} %)",
                f.name(),
                g.by_form[*f as usize],
                g.by_form[*f as usize] as f64 * 100.0 / g.mails as f64
            )
        })
        .collect();
    println!(
        "\nmail forms: {}; logs {:.1} MB in all, mean {:.0} KB\n",
        forms.join(", "),
        mb(g.log_bytes),
        g.log_bytes as f64 / g.mails as f64 / 1e3
    );

    let py = python_available();
    println!("| mbox | mails | size | memchr line count | `buildmail import` | MB/s | mails/s | peak RSS | then `work --explanations` | import + explanations | Python baseline | Python MB/s | buildmail import ÷ Python |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let labels = ["mix", "successful only", "failed only"];
    for ((path, mails, bytes), label) in files.iter().zip(labels) {
        let (lines, lc_secs) = line_count(path);
        let imp = import(path, scratch.path(), *mails);
        let (py_cell, py_rate, ratio) = if py {
            let secs = python(path, scratch.path(), *mails);
            (
                format!("{secs:.1} s"),
                format!("{:.1}", mb(*bytes) / secs),
                format!("{:.1}×", secs / imp.secs),
            )
        } else {
            ("skipped (no python3)".into(), "–".into(), "–".into())
        };
        println!(
            "| {label} | {mails} | {:.1} MB | {lines} lines, {:.3} s ({:.0} MB/s) | {:.2} s | {:.1} | {:.0} | {:.1} MB | {} failed builds, {:.2} s, peak RSS {:.1} MB | {:.2} s ({:.1} MB/s) | {py_cell} | {py_rate} | {ratio} |",
            mb(*bytes),
            lc_secs,
            mb(*bytes) / lc_secs,
            imp.secs,
            mb(*bytes) / imp.secs,
            *mails as f64 / imp.secs,
            mb(imp.rss),
            imp.explained,
            imp.explain_secs,
            mb(imp.explain_rss),
            imp.secs + imp.explain_secs,
            mb(*bytes) / (imp.secs + imp.explain_secs),
        );
    }
    if !py {
        println!("\nPython baseline skipped: python3 not found (or BUILDMAIL_BENCH_MIX_PYTHON=0).");
    }
    if let Some(d) = keep {
        println!("\nmbox files kept in {}", d.display());
    }
    println!("\nbench run time: {:.1} s", began.elapsed().as_secs_f64());
}
