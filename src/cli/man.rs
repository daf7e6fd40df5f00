//! `buildmail man`: the manual pages, generated from the command line's
//! own definition (clap_mangen), so they never drift from `--help`.
//!
//! `buildmail(1)` is the overview: every option, every subcommand with
//! its one-line summary, and the sections `--help` has no room for
//! (environment, files, exit status). Each subcommand has a page of its
//! own, `buildmail-<command>(1)` (nested ones `buildmail-quarantine-list(1)`),
//! as git's subcommands do. `--dir` writes all of them; packaging
//! (`packaging/build-deb`) installs what it writes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::CommandFactory;
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

/// Options of `man`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write every page (buildmail.1 and one buildmail-COMMAND.1 per
    /// subcommand) into this directory, creating it, and print their
    /// paths; without it, print one page on standard output.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The subcommand whose page to print, e.g. `deliver` or `quarantine
    /// list` (default: the overview, buildmail(1)).
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    pub command: Vec<String>,
}

/// Prints one page, or writes them all into `--dir`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = root_command();
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let mut out = std::io::stdout().lock();
        for path in write_all(&root, dir)? {
            writeln!(out, "{}", path.display())?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut cmd = &root;
    for name in &args.command {
        cmd = match cmd
            .get_subcommands()
            .find(|c| c.get_name() == name && !c.is_hide_set())
        {
            Some(c) => c,
            None => {
                eprintln!(
                    "buildmail: no subcommand {:?} (the pages: `buildmail man --dir DIR` writes them all)",
                    args.command.join(" ")
                );
                return Ok(ExitCode::FAILURE);
            }
        };
    }
    let mut page = Vec::new();
    render(cmd, std::ptr::eq(cmd, &root), &mut page)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&page)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The command line as the pages describe it: built (so every subcommand
/// knows its full name, `buildmail quarantine list`, and the global
/// options), without clap's `help` subcommand.
pub fn root_command() -> clap::Command {
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Writes the page of `cmd` and of every visible subcommand below it into
/// `dir`; returns the paths, the overview first.
pub fn write_all(root: &clap::Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut todo = vec![(root, true)];
    while let Some((cmd, is_root)) = todo.pop() {
        let path = dir.join(Man::new(cmd.clone()).get_filename());
        let mut page = Vec::new();
        render(cmd, is_root, &mut page)?;
        std::fs::write(&path, &page)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        written.push(path);
        let mut subs: Vec<_> = cmd.get_subcommands().filter(|c| !c.is_hide_set()).collect();
        subs.reverse();
        todo.extend(subs.into_iter().map(|c| (c, false)));
    }
    Ok(written)
}

/// Renders the page of `cmd`: clap_mangen's sections, and for the
/// overview (`is_root`) the ones only a manual has; SEE ALSO on every page.
pub fn render(cmd: &clap::Command, is_root: bool, w: &mut dyn Write) -> std::io::Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    let man = Man::new(cmd.clone());
    let mut page = Vec::new();
    let mut title = Roff::default();
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    title.control(
        "TH",
        [
            name,
            "1",
            &page_date(),
            &format!("buildmail {version}"),
            "buildmail manual",
        ],
    );
    title.to_writer(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    if is_root {
        overview(&mut page)?;
    } else {
        man.render_description_section(&mut page)?;
    }
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut page)?;
    }
    if cmd.get_subcommands().any(|c| !c.is_hide_set()) {
        man.render_subcommands_section(&mut page)?;
    }
    if is_root {
        root_sections(&mut page)?;
    }
    see_also(cmd, is_root, &mut page)?;
    if is_root {
        man.render_version_section(&mut page)?;
    }
    w.write_all(&once_preamble(&page))
}

/// The date in the page's title line (`YYYY-MM-DD`): that of
/// `$SOURCE_DATE_EPOCH` when it is set (reproducible builds; the package
/// script sets it to the commit's), else today's.
fn page_date() -> String {
    let now = || chrono::Utc::now().timestamp();
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(now);
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// `page` with roff's apostrophe preamble, which every separately rendered
/// section starts with, kept only at the top.
fn once_preamble(page: &[u8]) -> Vec<u8> {
    const PREAMBLE: &[u8] = b".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    let mut out = Vec::with_capacity(page.len());
    let mut rest = page;
    let mut seen = false;
    while !rest.is_empty() {
        if rest.starts_with(PREAMBLE) {
            if !seen {
                out.extend_from_slice(PREAMBLE);
                seen = true;
            }
            rest = &rest[PREAMBLE.len()..];
            continue;
        }
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        out.extend_from_slice(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

/// A section heading and its paragraphs; a paragraph is a list of inline
/// pieces (roman, bold, italic).
fn section(w: &mut dyn Write, title: &str, paragraphs: Vec<Vec<Inline>>) -> std::io::Result<()> {
    let mut roff = Roff::default();
    roff.control("SH", [title]);
    for (i, p) in paragraphs.into_iter().enumerate() {
        if i > 0 {
            roff.control("PP", []);
        }
        roff.text(p);
    }
    roff.to_writer(w)
}

/// A section of tagged paragraphs: `(tag, text)` pairs, the tag in bold.
fn tagged(w: &mut dyn Write, title: &str, items: &[(&str, Vec<Inline>)]) -> std::io::Result<()> {
    let mut roff = Roff::default();
    roff.control("SH", [title]);
    for (tag, text) in items {
        roff.control("TP", []);
        roff.text([bold(*tag)]);
        roff.text(text.clone());
    }
    roff.to_writer(w)
}

/// DESCRIPTION of buildmail(1): what it is, in a few paragraphs (the
/// README has the rest).
fn overview(w: &mut dyn Write) -> std::io::Result<()> {
    section(
        w,
        "DESCRIPTION",
        vec![
            vec![
                bold("buildmail"),
                roman(" is the mail brain of a Debian-style build farm. It reads the build-log mails sbuild sends (from an MTA pipe with "),
                bold("deliver"),
                roman(", or from Maildir folders, mbox and .eml files with "),
                bold("import"),
                roman("), keeps every build's wanna-build state with its history in an embedded database, archives the logs, acts on the admins' signed replies (uploads, retries, give-backs) and tells people what they need to know."),
            ],
            vec![
                roman("A mail is acknowledged only once its effects are durably committed; a mail delivered twice changes nothing; a mail that cannot be processed is quarantined with the reason. Uploads and outgoing mail run afterwards, in a worker ("),
                bold("buildmail work"),
                roman(") that "),
                bold("deliver"),
                roman(" starts and that cron should run every few minutes as well."),
            ],
            vec![
                roman("Each subcommand has its own page, listed below. The README ("),
                italic("/usr/share/doc/buildmail/README.md.gz"),
                roman(" when installed from the package) describes the mail kinds, states, reply keywords and every configuration key."),
            ],
        ],
    )
}

/// ENVIRONMENT, FILES, EXIT STATUS of buildmail(1).
fn root_sections(w: &mut dyn Write) -> std::io::Result<()> {
    tagged(
        w,
        "ENVIRONMENT",
        &[
            (
                crate::config::CONFIG_ENV,
                vec![roman(
                    "The configuration file, when --config is not given.",
                )],
            ),
            (
                "BUILDMAIL_LOG",
                vec![roman(
                    "What is logged on standard error, as a tracing filter such as debug or buildmail=info (default: warnings only).",
                )],
            ),
        ],
    )?;
    tagged(
        w,
        "FILES",
        &[
            (
                crate::config::DEFAULT_CONFIG_FILE,
                vec![roman("In the current directory: the configuration when neither --config nor BUILDMAIL_CONFIG names one. Without any file, the built-in defaults apply. Relative paths in a configuration file are relative to the file's directory.")],
            ),
            (
                "/etc/buildmail/buildmail.toml",
                vec![roman("The configuration of a packaged installation, passed with --config (from the MTA's pipe and from cron).")],
            ),
            (
                "/usr/share/doc/buildmail/examples/buildmail.toml",
                vec![roman("An example configuration for a packaged installation.")],
            ),
            (
                "/var/lib/buildmail",
                vec![roman("The data directory (data_dir) of the example configuration: the database (db/), the archived logs (logs/), quarantined mails (quarantine/), the outbox, the upload queue.")],
            ),
            (
                "DATABASE/worker.log",
                vec![roman("What the worker started by deliver has to say (DATABASE is database.path, by default DATA_DIR/db).")],
            ),
        ],
    )?;
    tagged(
        w,
        "EXIT STATUS",
        &[
            ("0", vec![roman("Success; for deliver: the mail is durably committed, also when it was a duplicate or was quarantined.")]),
            ("1", vec![roman("The command failed (a query found nothing, an argument was wrong); the message says why.")]),
            ("2", vec![roman("The command line could not be parsed.")]),
            ("75", vec![roman("EX_TEMPFAIL (deliver): the mail could not be committed now, the MTA should retry.")]),
            ("78", vec![roman("EX_CONFIG: the configuration is wrong (the message names the key), or the data directory cannot be used.")]),
        ],
    )
}

/// SEE ALSO: on a subcommand's page the overview and the pages of its
/// own subcommands; on the overview (whose SUBCOMMANDS lists the pages)
/// sbuild and Postfix's pipe.
fn see_also(cmd: &clap::Command, is_root: bool, w: &mut dyn Write) -> std::io::Result<()> {
    let mut pages: Vec<(String, &str)> = Vec::new();
    if is_root {
        pages.extend([("sbuild".to_string(), "1"), ("pipe".to_string(), "8")]);
    } else {
        pages.push(("buildmail".to_string(), "1"));
        pages.extend(cmd.get_subcommands().filter(|c| !c.is_hide_set()).map(|c| {
            (
                c.get_display_name().unwrap_or(c.get_name()).to_string(),
                "1",
            )
        }));
    }
    let mut line = Vec::new();
    for (i, (page, section)) in pages.into_iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        line.push(bold(page));
        line.push(roman(format!("({section})")));
    }
    let mut roff = Roff::default();
    roff.control("SH", ["SEE ALSO"]);
    // Page names are not to be hyphenated.
    roff.control("nh", []);
    roff.text(line);
    roff.to_writer(w)
}
