//! `buildmail man` and `buildmail completions`: a page for every
//! subcommand, pages man(1) reads without a warning, completion scripts
//! that know every subcommand; neither needs a configuration.

use std::path::Path;
use std::process::{Command, Output};

use buildmail::cli::Cli;
use clap::CommandFactory;

fn buildmail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_buildmail"))
        .args(args)
        // A configuration that cannot be read: the manual and the
        // completions describe the command line and must not need one.
        .env("BUILDMAIL_CONFIG", "/nonexistent/buildmail.toml")
        .env("SOURCE_DATE_EPOCH", "1767225600")
        .output()
        .unwrap()
}

fn stdout_of(args: &[&str]) -> String {
    let out = buildmail(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The page names (`buildmail-quarantine-list`) of every visible
/// subcommand, at any depth, with buildmail itself first.
fn page_names() -> Vec<String> {
    fn walk(prefix: &str, cmd: &clap::Command, out: &mut Vec<String>) {
        for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
            let name = format!("{prefix}-{}", sub.get_name());
            out.push(name.clone());
            walk(&name, sub, out);
        }
    }
    let mut names = vec!["buildmail".to_string()];
    walk("buildmail", &Cli::command(), &mut names);
    names
}

/// Whether `program` runs at all (`program --version`).
fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// man(1)'s warnings about a page (empty: none).
fn man_warnings(page: &Path) -> String {
    let out = Command::new("man")
        .args(["--warnings", "-E", "UTF-8", "-l"])
        .arg(page)
        .env("MANWIDTH", "80")
        .env("MAN_KEEP_FORMATTING", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "man -l {}", page.display());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn man_dir_writes_a_page_for_every_subcommand_that_man_reads_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let listed = stdout_of(&["man", "--dir", pages.to_str().unwrap()]);
    let expected = page_names();
    assert!(expected.contains(&"buildmail-quarantine-list".to_string()));
    assert!(expected.contains(&"buildmail-man".to_string()));
    let mut on_disk: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut want: Vec<String> = expected.iter().map(|n| format!("{n}.1")).collect();
    want.sort();
    assert_eq!(on_disk, want, "one page per subcommand, no other file");
    assert_eq!(listed.lines().count(), want.len(), "{listed}");
    assert!(listed.lines().next().unwrap().ends_with("/buildmail.1"));

    for name in &expected {
        let page = std::fs::read_to_string(pages.join(format!("{name}.1"))).unwrap();
        assert!(
            page.contains(&format!(".TH {name} 1 2026-01-01 \"buildmail ")),
            "{name}: title line\n{page}"
        );
        assert!(page.contains(".SH NAME\n"), "{name}");
        assert!(page.contains(".SH \"SEE ALSO\"\n"), "{name}");
        assert_eq!(
            page.matches(".ds Aq \\(aq").count(),
            1,
            "{name}: one apostrophe preamble"
        );
    }
    let overview = std::fs::read_to_string(pages.join("buildmail.1")).unwrap();
    for section in [
        "DESCRIPTION",
        "OPTIONS",
        "SUBCOMMANDS",
        "ENVIRONMENT",
        "FILES",
    ] {
        assert!(overview.contains(&format!(".SH {section}\n")), "{section}");
    }
    assert!(overview.contains(".SH \"EXIT STATUS\"\n"));
    for sub in Cli::command().get_subcommands() {
        let page = format!("buildmail\\-{}(1)", sub.get_name().replace('-', "\\-"));
        assert!(overview.contains(&page), "overview lists {page}");
    }

    if !have("man") {
        assert!(
            std::env::var_os("CI").is_none(),
            "man(1) is needed to check the pages (apt-get install man-db)"
        );
        eprintln!("skipped: man(1) is not installed; the pages were not formatted");
        return;
    }
    for name in &expected {
        let warnings = man_warnings(&pages.join(format!("{name}.1")));
        assert!(warnings.is_empty(), "{name}.1: {warnings}");
    }
}

#[test]
fn man_prints_one_page_reproducibly() {
    let overview = stdout_of(&["man"]);
    assert!(overview.contains(".TH buildmail 1 2026-01-01 \"buildmail "));
    assert_eq!(overview, stdout_of(&["man"]), "same date, same page");
    let nested = stdout_of(&["man", "quarantine", "list"]);
    assert!(
        nested.contains(".TH buildmail-quarantine-list 1 "),
        "{nested}"
    );
    assert!(nested.contains("\\fBbuildmail\\fR(1)"), "{nested}");

    let unknown = buildmail(&["man", "no-such-command"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no-such-command"));
}

/// The roff text of section `title` of `page` (up to the next `.SH`).
fn section<'a>(page: &'a str, title: &str) -> Option<&'a str> {
    let heading = if title.contains(' ') {
        format!(".SH \"{title}\"\n")
    } else {
        format!(".SH {title}\n")
    };
    let start = page.find(&heading)? + heading.len();
    let rest = &page[start..];
    Some(&rest[..rest.find(".SH ").unwrap_or(rest.len())])
}

/// The tags of a section's tagged paragraphs (`.TP` then the bold tag).
fn tags(section: &str) -> Vec<String> {
    let lines: Vec<&str> = section.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0] == ".TP")
        .map(|w| {
            w[1].replace("\\fB", "")
                .replace("\\fR", "")
                .replace("\\-", "-")
        })
        .collect()
}

/// Every subcommand's page says more than `--help`: its exit statuses,
/// the environment and files it reads, examples; `serve`'s its signals.
/// SYNOPSIS shows each option's argument, and `man "quarantine list"`
/// finds the page `man --help` names that way.
#[test]
fn every_page_has_exit_status_environment_files_and_examples() {
    for name in page_names().iter().skip(1) {
        let words: Vec<&str> = name.trim_start_matches("buildmail-").split('-').collect();
        // Page names join words with dashes, and so do some subcommands
        // (`check-config`): ask `man` with the whole name when a split
        // finds nothing.
        let path = name.trim_start_matches("buildmail-");
        let out = buildmail(&["man", path]);
        let page = if out.status.success() {
            String::from_utf8(out.stdout).unwrap()
        } else {
            stdout_of(&[&["man"][..], &words].concat())
        };
        let exit =
            section(&page, "EXIT STATUS").unwrap_or_else(|| panic!("{name}: no EXIT STATUS"));
        assert!(tags(exit).contains(&"0".to_string()), "{name}: {exit}");
        assert!(section(&page, "EXAMPLES").is_some(), "{name}: no EXAMPLES");
        if name != "buildmail-completions" {
            assert!(
                section(&page, "ENVIRONMENT").is_some(),
                "{name}: no ENVIRONMENT"
            );
        }
        if !matches!(name.as_str(), "buildmail-completions" | "buildmail-man") {
            let files = section(&page, "FILES").unwrap_or_else(|| panic!("{name}: no FILES"));
            assert!(
                files.contains("/etc/buildmail/buildmail.toml"),
                "{name}: {files}"
            );
            let env = tags(section(&page, "ENVIRONMENT").unwrap());
            assert!(
                env.contains(&"BUILDMAIL_CONFIG".to_string()),
                "{name}: {env:?}"
            );
        }
        let synopsis = section(&page, "SYNOPSIS").unwrap();
        if page.contains("\\fB\\-\\-config\\fR") {
            assert!(
                synopsis.contains("[\\fB\\-\\-config\\fR \\fIFILE\\fR]"),
                "{name}: the option's argument is missing: {synopsis}"
            );
        }
    }
    let exit_of = |args: &[&str]| tags(section(&stdout_of(args), "EXIT STATUS").unwrap());
    assert_eq!(exit_of(&["man", "deliver"]), ["0", "2", "75", "78"]);
    assert_eq!(exit_of(&["man", "status"]), ["0", "1", "2", "3", "78"]);
    assert!(exit_of(&["man", "check-config"]).contains(&"78".to_string()));
    let serve = stdout_of(&["man", "serve"]);
    let signals = tags(section(&serve, "SIGNALS").expect("serve: SIGNALS"));
    assert_eq!(signals, ["SIGTERM, SIGINT", "SIGHUP"]);
    assert!(tags(section(&serve, "ENVIRONMENT").unwrap())
        .contains(&"LISTEN_FDS, LISTEN_PID".to_string()));
    let overview = stdout_of(&["man"]);
    assert!(exit_of(&["man"]).contains(&"3".to_string()));
    assert!(section(&overview, "EXAMPLES").is_some());
    // As `man --help` writes it: one argument with a space.
    assert_eq!(
        stdout_of(&["man", "quarantine list"]),
        stdout_of(&["man", "quarantine", "list"])
    );
    let help = stdout_of(&["man", "--help"]);
    assert!(help.contains("`quarantine list`"), "{help}");
}

#[test]
fn completions_know_every_subcommand() {
    let subcommands: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    assert!(subcommands.contains(&"check-config".to_string()));
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        for sub in &subcommands {
            assert!(script.contains(sub.as_str()), "{shell}: {sub}");
        }
        assert!(script.contains("data-dir"), "{shell}: the global options");
    }
    let bash = stdout_of(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("buildmail.bash");
    std::fs::write(&file, bash).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&file).output().unwrap();
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );

    let unknown = buildmail(&["completions", "tcsh"]);
    assert_eq!(unknown.status.code(), Some(2), "a usage error");
}
