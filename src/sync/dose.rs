//! Installability by `dose-builddebcheck` (Debian's `dose-builddebcheck`
//! package; the checker wanna-build itself uses): it follows the whole
//! dependency tree of the build-dependencies, where buildmail's built-in
//! check ([`crate::debian::relations::Available`]) only asks whether each
//! relation has a candidate.
//!
//! It reads the indices as plain files: `sync` writes the decompressed
//! Sources and the architecture's Packages to a temporary directory and
//! runs it once per architecture, with the store released, under a
//! deadline, as a child that dies with its runner.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long one run may take (a whole Debian suite takes well under a
/// minute).
pub const TIMEOUT: Duration = Duration::from_secs(600);

/// Runs `program` for `arch` over `packages` and `sources` (plain files);
/// returns the sources it finds uninstallable, each with why, in words.
/// `arch_all`: the architecture also builds `Architecture: all` packages
/// (otherwise `Build-Depends-Indep` is not considered).
pub fn check(
    program: &Path,
    arch: &str,
    arch_all: bool,
    packages: &[&Path],
    sources: &Path,
) -> Result<HashMap<String, String>, String> {
    let mut cmd = Command::new(program);
    cmd.arg(format!("--deb-native-arch={arch}"))
        .args(["--failures", "--explain"]);
    if !arch_all {
        cmd.arg("--deb-drop-b-d-indep");
    }
    for p in packages {
        cmd.arg(p);
    }
    cmd.arg(sources)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::effects::process::supervised(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    // Read its output while it runs (it can be large), then wait.
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut out = String::new();
    let read = stdout.read_to_string(&mut out);
    let (status, timed_out) = crate::effects::process::wait_with_timeout(&mut child, TIMEOUT);
    let err = err_reader.join().unwrap_or_default();
    read.map_err(|e| format!("reading {}'s output: {e}", program.display()))?;
    if timed_out {
        return Err(format!(
            "{} took longer than {TIMEOUT:?}",
            program.display()
        ));
    }
    let status = status.map_err(|e| e.to_string())?;
    // Exit 0: all installable; 1: some are not; anything else: an error.
    if !matches!(status.code(), Some(0 | 1)) {
        return Err(format!(
            "{} failed ({status}): {}",
            program.display(),
            err.lines().take(5).collect::<Vec<_>>().join(" / ")
        ));
    }
    Ok(parse_report(&out))
}

/// The uninstallable sources of a `dose-builddebcheck --failures
/// --explain` report (YAML), each with its first reason: the dependency
/// that cannot be satisfied (and which package needs it), or a conflict.
pub fn parse_report(yaml: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    // The entry being read: its source, its reason, the last package named
    // inside its reasons.
    let mut source: Option<String> = None;
    let mut reason: Option<String> = None;
    let mut pkg: Option<String> = None;
    let mut finish = |source: &mut Option<String>, reason: &mut Option<String>| {
        if let Some(s) = source.take() {
            let why = reason
                .take()
                .unwrap_or_else(|| "its build-dependencies cannot be installed together".into());
            out.insert(s, why);
        }
    };
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if indent == 1 && t == "-" {
            finish(&mut source, &mut reason);
            pkg = None;
            continue;
        }
        let Some((key, value)) = t.split_once(": ") else {
            continue;
        };
        match (indent, key) {
            (2, "package") if source.is_none() => source = Some(value.to_string()),
            (i, "package") if i > 2 => pkg = Some(value.to_string()),
            (_, "unsat-dependency") if reason.is_none() => {
                let dep = strip_arch_quals(value);
                reason = Some(match (&pkg, &source) {
                    (Some(p), Some(s)) if p != s => {
                        format!("{dep} (needed by {p}) is not available")
                    }
                    _ => format!("{dep} is not available"),
                });
            }
            (_, "unsat-conflict") if reason.is_none() => {
                reason = Some(format!(
                    "{} conflicts with {}",
                    pkg.clone().unwrap_or_default(),
                    strip_arch_quals(value)
                ));
            }
            _ => {}
        }
    }
    finish(&mut source, &mut reason);
    out
}

/// dose writes relations with architecture qualifiers (`libfoo-dev:amd64
/// (>= 2.0)`); on one architecture they say nothing.
fn strip_arch_quals(rel: &str) -> String {
    // Only package names carry them: the first word and each word after
    // `|` (a version, `(>= 2:1.0)`, may hold a colon too).
    let mut name_next = true;
    rel.split(' ')
        .map(|w| {
            let out = if name_next {
                w.split_once(':').map_or(w, |(name, _)| name)
            } else {
                w
            };
            name_next = w == "|";
            out
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "output-version: 1.2\nnative-architecture: amd64\nreport:\n -\n  package: hello\n  version: 1.0-1\n  architecture: any\n  type: src\n  status: broken\n  reasons:\n   -\n    missing:\n     pkg:\n      package: hello\n      version: 1.0-1\n      architecture: any\n      type: src\n      unsat-dependency: libfoo-dev:amd64 (>= 2.0)\n -\n  package: deep\n  version: 1-1\n  architecture: any\n  type: src\n  status: broken\n  reasons:\n   -\n    missing:\n     pkg:\n      package: libbar-dev\n      version: 2.0-1\n      architecture: amd64\n      unsat-dependency: libmissing1:amd64\n     depchains:\n      -\n       depchain:\n        -\n         package: deep\n         version: 1-1\n         architecture: any\n         type: src\n         depends: libbar-dev:amd64\n \nbinary-packages: 9\nsource-packages: 4\n";

    #[test]
    fn reasons_name_the_relation_and_the_package_that_needs_it() {
        let r = parse_report(REPORT);
        assert_eq!(r.len(), 2);
        assert_eq!(r["hello"], "libfoo-dev (>= 2.0) is not available");
        assert_eq!(
            r["deep"],
            "libmissing1 (needed by libbar-dev) is not available"
        );
        assert!(parse_report("report:\n").is_empty());
        assert_eq!(
            strip_arch_quals("libfoo-dev:amd64 (>= 2:1.0) | libfoo2-dev:any"),
            "libfoo-dev (>= 2:1.0) | libfoo2-dev"
        );
    }
}
