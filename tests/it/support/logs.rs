//! Synthetic sbuild logs (ASCII boxes, sbuild 0.85 layout) of any size, for
//! tests and benchmarks. Every log contains invalid UTF-8 bytes and a bare
//! carriage return, as real logs do.

#![allow(dead_code)]

use std::io::Write;

/// What the generated log describes.
#[derive(Debug, Clone)]
pub struct LogSpec<'a> {
    pub source: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    pub dist: &'a str,
    pub status: &'a str,
    pub fail_stage: Option<&'a str>,
    pub builder: &'a str,
    /// Extra lines of build output, to reach a wanted size.
    pub filler_lines: usize,
}

impl<'a> LogSpec<'a> {
    pub fn new(
        source: &'a str,
        version: &'a str,
        arch: &'a str,
        dist: &'a str,
        status: &'a str,
    ) -> Self {
        LogSpec {
            source,
            version,
            arch,
            dist,
            status,
            fail_stage: match status {
                "attempted" => Some("build"),
                "given-back" => Some("install-deps"),
                "skipped" => Some("arch-check"),
                "failed" => Some("create-session"),
                _ => None,
            },
            builder: "buildd-test.example.org",
            filler_lines: 20,
        }
    }
}

fn section(out: &mut Vec<u8>, title: &str) {
    let rule = format!("+{}+\n", "-".repeat(78));
    out.extend_from_slice(rule.as_bytes());
    let _ = writeln!(out, "| {title:<76} |");
    out.extend_from_slice(rule.as_bytes());
    out.push(b'\n');
}

/// An sbuild log for `spec`.
pub fn sbuild_log(spec: &LogSpec<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096 + spec.filler_lines * 80);
    let _ = writeln!(
        out,
        "sbuild (Debian sbuild) 0.85.2 (11 March 2023) on {}\n",
        spec.builder
    );
    let eq = format!("+{}+\n", "=".repeat(78));
    out.extend_from_slice(eq.as_bytes());
    let title = format!("{} {} ({})", spec.source, spec.version, spec.arch);
    let _ = writeln!(out, "| {title:<45}Sat, 21 Nov 2026 10:00:00 +0000 |");
    out.extend_from_slice(eq.as_bytes());
    let source_version = spec.version.split("+b").next().unwrap_or(spec.version);
    let _ = write!(
        out,
        "\nPackage: {}\nVersion: {}\nSource Version: {source_version}\nDistribution: {}\nMachine Architecture: {}\nHost Architecture: {}\nBuild Architecture: {}\nBuild Type: any\n\n",
        spec.source, spec.version, spec.dist, spec.arch, spec.arch, spec.arch
    );
    section(&mut out, "Update chroot");
    out.extend_from_slice(b"Get:1 http://deb.example.org/debian unstable InRelease [198 kB]\nReading package lists...\r\n\n");
    section(&mut out, "Build");
    for i in 0..spec.filler_lines {
        let _ = writeln!(
            out,
            "x86_64-linux-gnu-gcc -g -O2 -Wall -c src/module{i}.c -o obj/module{i}.o  # step {i} of the build"
        );
    }
    // Invalid UTF-8 and a bare CR, as compilers and progress bars produce.
    out.extend_from_slice(b"warning: odd byte in message: \xff\xfe here\n");
    out.extend_from_slice(b"Progress: 50%\rProgress: 100%\n");
    if spec.status == "attempted" {
        out.extend_from_slice(
            b"src/main.c:42:5: error: 'frobnicate' undeclared (first use in this function)\n",
        );
        out.extend_from_slice(b"make[1]: *** [Makefile:12: all] Error 1\n");
        out.extend_from_slice(
            b"dpkg-buildpackage: error: debian/rules build subprocess returned exit status 2\n",
        );
    }
    let _ = writeln!(out, "{}", "-".repeat(80));
    out.extend_from_slice(b"Build finished at 2026-11-21T10:05:00Z\n\n");
    section(&mut out, "Summary");
    let mut summary = vec![
        ("Build Architecture", spec.arch.to_string()),
        ("Build Type", "any".into()),
        ("Build-Space", "1234".into()),
        ("Build-Time", "300".into()),
        ("Distribution", spec.dist.to_string()),
        ("Host Architecture", spec.arch.to_string()),
        ("Install-Time", "20".into()),
        ("Job", format!("{}_{}", spec.source, spec.version)),
        ("Machine Architecture", spec.arch.to_string()),
        ("Package", spec.source.to_string()),
        ("Package-Time", "321".into()),
        ("Source-Version", source_version.to_string()),
        ("Space", "1234".into()),
        ("Status", spec.status.to_string()),
        ("Version", spec.version.to_string()),
    ];
    if let Some(stage) = spec.fail_stage {
        summary.push(("Fail-Stage", stage.to_string()));
    }
    summary.sort();
    for (k, v) in summary {
        let _ = writeln!(out, "{k}: {v}");
    }
    let _ = writeln!(out, "{}", "-".repeat(80));
    out.extend_from_slice(
        b"Finished at 2026-11-21T10:05:21Z\nBuild needed 00:05:21, 1234k disk space\n",
    );
    out
}
