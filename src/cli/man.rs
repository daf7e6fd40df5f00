//! `buildmail man`: the manual pages, generated from the command line's
//! own definition (clap_mangen), so they never drift from `--help`.
//!
//! `buildmail(1)` is the overview: every option, every subcommand with
//! its one-line summary, and the sections `--help` has no room for
//! (environment, files, exit status, examples). Each subcommand has a page
//! of its own, `buildmail-<command>(1)` (nested ones
//! `buildmail-quarantine-list(1)`), as git's subcommands do, with its own
//! EXIT STATUS, ENVIRONMENT, FILES and EXAMPLES, and SIGNALS for `serve`
//! ([`notes`]); the SYNOPSIS names each option's argument (`[--config
//! FILE]`). `--dir` writes all of them; packaging (`packaging/build-deb`)
//! installs what it writes.

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
    // `buildmail man "quarantine list"` and `buildmail man quarantine
    // list` name the same page.
    let words: Vec<&str> = args
        .command
        .iter()
        .flat_map(|a| a.split_whitespace())
        .collect();
    let mut cmd = &root;
    for name in &words {
        cmd = match cmd
            .get_subcommands()
            .find(|c| c.get_name() == *name && !c.is_hide_set())
        {
            Some(c) => c,
            None => {
                eprintln!(
                    "buildmail: no subcommand {:?} (the pages: `buildmail man --dir DIR` writes them all)",
                    words.join(" ")
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
    name_section(cmd, &mut page)?;
    synopsis(cmd, &mut page)?;
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
    } else {
        page_sections(&command_path(cmd), &mut page)?;
    }
    see_also(cmd, is_root, &mut page)?;
    if is_root {
        man.render_version_section(&mut page)?;
    }
    w.write_all(&once_preamble(&page))
}

/// The words after `buildmail` that name `cmd` (`quarantine list`; empty
/// for buildmail itself), from the full name [`root_command`] gave it.
fn command_path(cmd: &clap::Command) -> String {
    let full = cmd.get_bin_name().unwrap_or(cmd.get_name());
    full.split_whitespace()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ")
}

/// NAME: the page's name and the first sentence of its summary (the rest
/// is in DESCRIPTION), as whatis(1) and apropos(1) list it.
fn name_section(cmd: &clap::Command, w: &mut dyn Write) -> std::io::Result<()> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
    let first = match about.find(". ") {
        Some(i) => &about[..i],
        None => about.trim_end_matches('.'),
    };
    let mut roff = Roff::default();
    roff.control("SH", ["NAME"]);
    roff.text([roman(format!("{name} - {first}"))]);
    roff.to_writer(w)
}

/// SYNOPSIS: the command, then every visible option with the value it
/// takes (`[--config FILE]`), positional arguments (`<COMMAND>...`), and
/// `<COMMAND>` for a command with subcommands.
fn synopsis(cmd: &clap::Command, w: &mut dyn Write) -> std::io::Result<()> {
    let full = cmd.get_bin_name().unwrap_or(cmd.get_name()).to_string();
    let mut line: Vec<Inline> = vec![bold(full)];
    let value_names = |a: &clap::Arg| -> String {
        a.get_value_names()
            .map(|v| {
                v.iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_else(|| a.get_id().as_str().to_uppercase())
    };
    for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let takes_value = a.get_action().takes_values();
        let many = matches!(
            a.get_action(),
            clap::ArgAction::Append | clap::ArgAction::Count
        ) || a.get_num_args().is_some_and(|n| n.max_values() > 1);
        line.push(roman(" "));
        if a.is_positional() {
            let text = format!("{}{}", value_names(a), if many { "..." } else { "" });
            if a.is_required_set() {
                line.push(italic(text));
            } else {
                line.push(roman("["));
                line.push(italic(text));
                line.push(roman("]"));
            }
            continue;
        }
        let flag = match (a.get_short(), a.get_long()) {
            (Some(s), Some(l)) => format!("-{s}|--{l}"),
            (Some(s), None) => format!("-{s}"),
            (None, Some(l)) => format!("--{l}"),
            (None, None) => continue,
        };
        if !a.is_required_set() {
            line.push(roman("["));
        }
        line.push(bold(flag));
        if takes_value {
            line.push(roman(" "));
            line.push(italic(value_names(a)));
        }
        if !a.is_required_set() {
            line.push(roman("]"));
        }
        if many && !a.is_positional() {
            line.push(roman("..."));
        }
    }
    if cmd.get_subcommands().any(|c| !c.is_hide_set()) {
        line.push(roman(" "));
        line.push(italic("COMMAND"));
    }
    let mut roff = Roff::default();
    roff.control("SH", ["SYNOPSIS"]);
    roff.text(line);
    roff.to_writer(w)
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
                "BUILDMAIL_LOG, RUST_LOG",
                vec![roman(
                    "What is logged, as a tracing filter such as debug or buildmail=info; they win over log.level (default: info for serve, warnings only for the other commands).",
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
            ("3", vec![roman("status: no daemon runs (the figures come from the database).")]),
            ("75", vec![roman("EX_TEMPFAIL (deliver): the mail could not be committed now, the MTA should retry.")]),
            ("78", vec![roman("EX_CONFIG: the configuration is wrong (the message names the key), or the data directory cannot be used.")]),
        ],
    )?;
    tagged(
        w,
        "EXAMPLES",
        &[
            (
                "sudo -u buildmail buildmail --config /etc/buildmail/buildmail.toml check-config",
                vec![roman("Checks the packaged configuration as the service user.")],
            ),
            (
                "systemctl enable --now buildmail.socket",
                vec![roman("Starts the daemon (buildmail serve) on its LMTP socket, /run/buildmail/lmtp.sock, under systemd; see buildmail-serve(1).")],
            ),
            (
                "sudo -u buildmail buildmail --config /etc/buildmail/buildmail.toml list --state Build-Attempted",
                vec![roman("The attempted builds.")],
            ),
        ],
    )
}

/// What a subcommand's page says beyond `--help`: the meaning of its exit
/// statuses, the signals it handles, the environment and files it reads,
/// and examples (command line, what it does).
#[derive(Default)]
struct Notes {
    exit: Vec<(&'static str, &'static str)>,
    signals: Vec<(&'static str, &'static str)>,
    environment: Vec<(&'static str, &'static str)>,
    files: Vec<(&'static str, &'static str)>,
    examples: Vec<(&'static str, &'static str)>,
}

const OK: &str = "Success.";
const FAILED: &str = "The command failed; the message on standard error says why (for a query: no such build, or no database at the configured path).";
const USAGE: &str = "The command line could not be parsed.";
const CONFIG: &str = "EX_CONFIG: the configuration cannot be loaded (the message names the key).";
const CONFIG_FILE: (&str, &str) = (
    "/etc/buildmail/buildmail.toml",
    "The configuration of a packaged installation, named with --config (or BUILDMAIL_CONFIG); without either, ./buildmail.toml, else the built-in defaults.",
);
const DATA_DIR: (&str, &str) = (
    "/var/lib/buildmail",
    "data_dir of the packaged example: the database (db/), the archived logs (logs/), quarantine/, the outbox and the upload queue.",
);

/// The notes of the page of `path` (`deliver`, `quarantine list`).
fn notes(path: &str) -> Notes {
    let top = path.split_whitespace().next().unwrap_or("");
    // What nearly every command shares.
    let mut n = Notes {
        exit: vec![("0", OK), ("1", FAILED), ("2", USAGE), ("78", CONFIG)],
        files: vec![CONFIG_FILE, DATA_DIR],
        ..Notes::default()
    };
    let ex = &mut n.examples;
    match top {
        "deliver" => {
            n.exit = vec![
                ("0", "The mail is durably committed (the database flushed, or a running daemon answered 250): also when it was a duplicate, or bad input that was quarantined. The MTA may forget it."),
                ("2", USAGE),
                ("75", "EX_TEMPFAIL: the mail could not be committed now (the database busy past database.lock_timeout, a disk error, a daemon that did not commit it, a DKIM key lookup that failed for now). The MTA keeps the mail and retries."),
                ("78", "EX_CONFIG: the configuration is wrong, or the data directory cannot be used until an operator acts (not a directory, permission denied, read-only, a database of a newer buildmail). The MTA bounces instead of retrying for days."),
            ];
            n.files.push((
                "DATABASE/worker.log",
                "The output of the worker deliver starts when the mail queued an effect (DATABASE is database.path).",
            ));
            ex.push((
                "buildmail --config /etc/buildmail/buildmail.toml deliver",
                "What an MTA's pipe runs, as the user buildmail: reads one mail on standard input.",
            ));
            ex.push((
                "buildmail deliver -v < mail.eml",
                "Delivers a saved mail by hand and says what happened to it.",
            ));
        }
        "import" => {
            ex.push(("buildmail import --list ~/Maildir/.logs /var/mail/logs.mbox old/*.eml", "Reads Maildir folders, an mbox and single mails; prints the summary and the table of the builds they touched. Nothing is sent, no upload runs."));
            ex.push(("buildmail import --live new.mbox", "Treats the mails as deliver would: dated now, their uploads run and their mails sent."));
        }
        "info" => {
            n.exit[1].1 =
                "No build of that source is known, or there is no database at the configured path.";
            ex.push((
                "buildmail info hello --arch amd64",
                "Every record of hello on amd64, in wanna-build's --info layout.",
            ));
        }
        "list" => {
            n.exit[0].1 = "Success, also when no build matches.";
            ex.push((
                "buildmail list --state Build-Attempted --dist unstable",
                "The attempted builds of unstable.",
            ));
        }
        "history" => {
            n.exit[1].1 =
                "No build of that source is known, or there is no database at the configured path.";
            ex.push((
                "buildmail history hello | less",
                "Every transition of every hello build, with the Message-IDs and why.",
            ));
        }
        "log" => {
            n.exit[1].1 =
                "No archived log matches, or there is no database at the configured path.";
            ex.push((
                "buildmail log hello_2.10-3 --arch arm64 > hello.log",
                "The archived log, byte for byte as sbuild wrote it.",
            ));
        }
        "quarantine" => {
            n.exit[1].1 = "A quarantined mail named is not there (the message names it), or there is no database.";
            ex.push((
                "buildmail quarantine list",
                "The quarantined mails, numbered, with their reasons.",
            ));
            ex.push((
                "buildmail quarantine show 12 --raw > 12.eml",
                "Mail #12, byte-exact.",
            ));
            ex.push((
                "buildmail quarantine reprocess --all",
                "Processes every quarantined mail again, after the cause was fixed.",
            ));
        }
        "forget-signature" => {
            ex.push((
                "buildmail forget-signature --list",
                "The replay records of the signatures seen.",
            ));
        }
        "fsck" => {
            n.exit[0].1 = "The database and the files beside it agree (or --repair removed what was left over).";
            n.exit[1].1 = "A record whose file is missing, or files nothing refers to (without --repair); the report says which.";
            ex.push(("buildmail fsck --repair --older-than 1h", "Removes archived logs and quarantine files a killed process left, once an hour old."));
        }
        "states" => {
            n.exit.remove(1);
            ex.push((
                "buildmail states | dot -Tsvg > states.svg",
                "The state diagram, drawn by Graphviz.",
            ));
        }
        "check-config" => {
            n.exit = vec![
                ("0", "The configuration is usable; warnings (example addresses left in, a missing keyring) are listed before the verdict."),
                ("2", USAGE),
                ("78", "EX_CONFIG: the configuration is not usable (a key, a keyring, the upload command or sendmail program that is not there); the message says what."),
            ];
            ex.push((
                "sudo -u buildmail buildmail --config /etc/buildmail/buildmail.toml check-config",
                "Checks the packaged configuration as the service user.",
            ));
        }
        "migrate" => {
            n.exit[0].1 = "The PostgreSQL database has the schema this buildmail writes (applied now, or already).";
            n.exit[1].1 = "database.url is not set, the server cannot be reached, a migration failed (nothing of it applied), or the database has a newer schema (upgrade buildmail); the message says which.";
            ex.push((
                "sudo -u buildmail buildmail --config /etc/buildmail/buildmail.toml migrate",
                "Creates or upgrades the schema of the database named by [database] url; run it once after an upgrade, before starting serve on any host.",
            ));
        }
        "work" => {
            n.exit[0].1 =
                "Success, also when another worker was running (it carries out the work).";
            n.files
                .push(("DATABASE/worker.lock", "One worker at a time per database."));
            ex.push(("*/5 * * * * buildmail /usr/bin/buildmail --config /etc/buildmail/buildmail.toml work --quiet", "A line of /etc/cron.d/buildmail: retries and due notices; prints (and cron mails) only when a job ran or a delivery failed."));
        }
        "outbox" => {
            n.exit[1].1 =
                "An outbox id given is not there (the message names it), or there is no database.";
            ex.push((
                "buildmail outbox list",
                "The queued mails, with their last error; dead ones marked DEAD.",
            ));
            ex.push((
                "buildmail outbox retry 42",
                "Revives dead mail 42 and delivers it now.",
            ));
        }
        "render" => {
            ex.push((
                "buildmail render failed-to-upload hello --dist unstable --arch amd64",
                "The FAILEDTOUPLOAD mails as they would be sent for that build.",
            ));
        }
        "sync" => {
            n.exit[1].1 = "A suite could not be read or verified (the message says what); nothing of it was changed.";
            ex.push((
                "buildmail sync --suite unstable",
                "Reads unstable's signed Release and indices and merges them.",
            ));
        }
        "queue" => {
            ex.push((
                "buildmail queue --suite unstable --arch arm64",
                "The needs-build queue, in order, with why.",
            ));
        }
        "take" => {
            n.exit[1].1 = "Nothing to take (the queue is empty, or the named source is not Needs-Build or was taken by another builder).";
            ex.push((
                "buildmail take --suite unstable --arch arm64 --builder arm-01 --json",
                "Hands the top of the queue to arm-01, atomically.",
            ));
        }
        "builder-ssh" => {
            n.exit[1].1 = "The command is not one this key may run (only take, queue and info), takes as another builder, or took nothing.";
            n.environment = vec![(
                "SSH_ORIGINAL_COMMAND",
                "What the builder asked for over ssh (sshd sets it for a forced command).",
            )];
            n.files.push((
                "~buildmail/.ssh/authorized_keys",
                "command=\"/usr/bin/buildmail --config /etc/buildmail/buildmail.toml builder-ssh --builder arm-01\",restrict ssh-ed25519 AAAA... buildd@arm-01",
            ));
            ex.push((
                "ssh buildmail@buildd.example.org take --suite unstable --arch arm64 --json",
                "From the builder arm-01: takes the top of the queue as arm-01 and prints the job.",
            ));
        }
        "binnmu" => {
            n.exit[1].1 =
                "The build cannot be rebuilt (not known, or not Installed); the message says why.";
            ex.push(("buildmail binnmu hello_2.10-3 --suite unstable --arch arm64 --message \"Rebuild against libfoo 2\"", "Schedules hello 2.10-3+bN."));
        }
        "serve" => {
            n.exit = vec![
                ("0", "Stopped by SIGTERM or SIGINT after finishing what it had started."),
                ("1", "Could not start: a socket could not be listened on, the database could not be opened (the message says which)."),
                ("2", USAGE),
                ("78", CONFIG),
            ];
            n.signals = vec![
                ("SIGTERM, SIGINT", "Stop accepting, end idle sessions with 421, let a session inside DATA finish its mail (up to 30 s), stop a sync after its merge batch and let the current effects round finish, flush, exit 0."),
                ("SIGHUP", "Read the configuration, keyrings and templates again (the --config file); one that does not load is refused and logged, and the running one kept. A changed database.path, serve.lmtp, serve.control or serve.http needs a restart. (A changed keyring file counts from the next mail without a signal.)"),
            ];
            n.environment = vec![
                ("LISTEN_FDS, LISTEN_PID", "Socket activation (buildmail.socket): the listening sockets systemd passes are taken instead of serve.lmtp."),
                ("NOTIFY_SOCKET", "Type=notify: readiness, reloading and stopping are reported to systemd."),
                ("WATCHDOG_USEC", "WatchdogSec=: the daemon pings while its database answers."),
                ("JOURNAL_STREAM", "With log.target = \"auto\": standard error is the journal, so lines carry journald's priority prefixes."),
            ];
            n.files.push((
                "/run/buildmail/lmtp.sock",
                "The LMTP socket of the packaged units (buildmail.socket's ListenStream=; serve.lmtp of the example configuration).",
            ));
            n.files.push((
                "/var/lib/buildmail/control.sock",
                "The control socket (serve.control, default <data_dir>/control.sock): every buildmail command, and deliver handing its mail over, asks the running daemon here.",
            ));
            n.files.push((
                "/lib/systemd/system/buildmail.service, buildmail.socket",
                "The packaged units: systemctl enable --now buildmail.socket.",
            ));
            ex.push(("buildmail --config /etc/buildmail/buildmail.toml serve", "What buildmail.service runs, as the user buildmail: LMTP on serve.lmtp (or on the sockets systemd passes)."));
            ex.push((
                "buildmail serve --lmtp unix:/tmp/lmtp.sock --lmtp tcp:127.0.0.1:2424",
                "Listens on a unix socket and on TCP.",
            ));
        }
        "status" => {
            n.exit = vec![
                ("0", "A daemon answered on its socket (its figures are shown)."),
                ("1", FAILED),
                ("2", USAGE),
                ("3", "No daemon runs (as the LSB's status actions say): the figures come from the database."),
                ("78", CONFIG),
            ];
            ex.push((
                "buildmail status --json",
                "Whether the daemon runs, and the queues, as JSON.",
            ));
        }
        "man" => {
            n.exit = vec![("0", OK), ("1", "No such subcommand."), ("2", USAGE)];
            n.environment = vec![(
                "SOURCE_DATE_EPOCH",
                "The date in the pages' title lines (reproducible builds); default today.",
            )];
            n.files = Vec::new();
            ex.push((
                "buildmail man | man -l -",
                "Reads buildmail(1) without installing it.",
            ));
            ex.push((
                "buildmail man \"quarantine list\"",
                "The page of buildmail quarantine list (also: buildmail man quarantine list).",
            ));
            ex.push((
                "buildmail man --dir ~/.local/share/man/man1",
                "Writes every page.",
            ));
        }
        "completions" => {
            n.exit = vec![
                ("0", OK),
                (
                    "2",
                    "No such shell, or the command line could not be parsed.",
                ),
            ];
            n.files = Vec::new();
            ex.push((
                "buildmail completions bash > ~/.local/share/bash-completion/completions/buildmail",
                "Installs the bash completion for one user.",
            ));
        }
        _ => {}
    }
    if !matches!(top, "man" | "completions") {
        let default = crate::config::LogConfig::default_level(top == "serve");
        n.environment.insert(
            0,
            (
                crate::config::CONFIG_ENV,
                "The configuration file, when --config is not given.",
            ),
        );
        n.environment.insert(
            1,
            (
                "BUILDMAIL_LOG, RUST_LOG",
                if default == "info" {
                    "Which lines are logged, as a tracing filter such as debug or buildmail::effects=debug; they win over log.level (default for serve: info, a line per mail and effect)."
                } else {
                    "Which lines are logged, as a tracing filter such as info or buildmail::effects=debug; they win over log.level (default for this command: warnings only)."
                },
            ),
        );
    }
    n
}

/// EXIT STATUS, SIGNALS, ENVIRONMENT, FILES and EXAMPLES of a
/// subcommand's page.
fn page_sections(path: &str, w: &mut dyn Write) -> std::io::Result<()> {
    let n = notes(path);
    let items = |list: &[(&'static str, &'static str)]| -> Vec<(&'static str, Vec<Inline>)> {
        list.iter()
            .map(|(tag, text)| (*tag, vec![roman(*text)]))
            .collect()
    };
    tagged(w, "EXIT STATUS", &items(&n.exit))?;
    if !n.signals.is_empty() {
        tagged(w, "SIGNALS", &items(&n.signals))?;
    }
    if !n.environment.is_empty() {
        tagged(w, "ENVIRONMENT", &items(&n.environment))?;
    }
    if !n.files.is_empty() {
        tagged(w, "FILES", &items(&n.files))?;
    }
    if !n.examples.is_empty() {
        tagged(w, "EXAMPLES", &items(&n.examples))?;
    }
    Ok(())
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
