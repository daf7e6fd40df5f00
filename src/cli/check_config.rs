//! `buildmail check-config`.

use std::process::ExitCode;

use crate::config::{format_duration, format_size, Config};

/// Reports the resolved configuration and any problems.
pub fn run(config: &Config, json: bool) -> anyhow::Result<ExitCode> {
    let mut r = Report::new(json);
    match &config.source {
        Some(p) => r.line(format!("configuration: {}", p.display())),
        None => r.line("configuration: built-in defaults (no file)".to_string()),
    }
    r.line(format!("data_dir: {}", config.data_dir.display()));
    r.line(format!("database.path: {}", config.database.path.display()));
    r.line(match &config.database.url {
        Some(u) => format!(
            "database.url: {} (PostgreSQL)",
            crate::config::redact_url(u)
        ),
        None => "database.url: (unset: the sled database at database.path)".to_string(),
    });
    // With PostgreSQL, logs and kept mails are blobs in the database.
    let unused = if config.database.url.is_some() {
        " (not used: logs and kept mails are blobs in the PostgreSQL database; `migrate --from-sled` reads it)"
    } else {
        ""
    };
    r.line(format!(
        "database.log_archive: {}{unused}",
        config.database.log_archive.display()
    ));
    r.line(format!(
        "database.mail_blobs: {}{unused}",
        config.database.mail_blobs.display()
    ));
    r.line(format!(
        "database.lock_timeout: {}",
        format_duration(config.database.lock_timeout)
    ));
    r.line(format!("admin_address: {}", config.admin_address));
    r.line(format!("from_address: {}", config.from_address));
    r.line(format!("default_arch: {}", config.default_arch));
    r.line(format!(
        "limits.max_message_size: {}",
        format_size(config.limits.max_message_size)
    ));
    r.line(format!(
        "limits.max_log_size: {}",
        format_size(config.limits.max_log_size)
    ));
    r.line(format!(
        "signatures.require_signed_commands: {}",
        config.signatures.require_signed_commands
    ));
    r.line(format!(
        "signatures.max_age: {}",
        format_duration(config.signatures.max_age)
    ));
    r.line(format!(
        "replies.known_senders (refusals of their unsigned mail are answered; so are the user-ID addresses of signatures.keyrings): {}",
        config.replies.known_senders.join(", ")
    ));
    for b in &config.builders {
        r.line(format!(
            "builder {}: senders {}; arches {}; hosts {}",
            b.name,
            b.senders.join(", "),
            if b.arches.is_empty() {
                "any".to_string()
            } else {
                b.arches.join(", ")
            },
            if b.hosts.is_empty() {
                "any".to_string()
            } else {
                b.hosts.join(", ")
            }
        ));
        if !b.keyrings.is_empty() {
            match certificates(&b.keyrings) {
                Ok(c) => r.line(format!("builder {}: signs its logs with {c}", b.name)),
                Err(e) => {
                    return Ok(r.fail(format!(
                        "buildmail: builder {}: keyrings: {e}; its logs would count as unsigned",
                        b.name
                    )));
                }
            }
        } else if config.signatures.require_signed_logs {
            return Ok(r.fail(format!(
                "buildmail: builder {}: signatures.require_signed_logs is set but the builder has no keyrings, so none of its logs can move a build; add `keyrings = [\"<its key>.asc\"]`",
                b.name
            )));
        }
    }
    if config.signatures.require_signed_logs && config.builders.is_empty() {
        return Ok(r.fail(
            "buildmail: signatures.require_signed_logs is set but no [[builders]] are configured: no log could move a build; add a [[builders]] entry with keyrings for each buildd"
        .to_string()));
    }
    if !config.archive.senders.is_empty() {
        r.line(format!(
            "archive.senders: {}",
            config.archive.senders.join(", ")
        ));
    }
    if !config.archive.keyrings.is_empty() {
        match certificates(&config.archive.keyrings) {
            Ok(c) => r.line(format!("archive.keyrings: {c}")),
            Err(e) => {
                return Ok(r.fail(format!(
                    "buildmail: archive.keyrings: {e}; archive answers would count as unsigned"
                )));
            }
        }
    }
    let dkim = &config.archive.dkim;
    if !dkim.domains.is_empty() {
        if let Err(e) = crate::inbound::dkim::DkimVerifier::new(dkim) {
            return Ok(r.fail(format!(
                "buildmail: {e}; DKIM-signed archive answers would count as unauthenticated"
            )));
        }
        r.line(format!(
            "archive.dkim_domains: {} ({} pinned key(s); {})",
            dkim.domains.join(", "),
            dkim.keys.len(),
            match (dkim.dns, dkim.nameservers.is_empty()) {
                (false, _) => "no DNS lookups".to_string(),
                (true, true) => "other keys from the system's DNS".to_string(),
                (true, false) => format!(
                    "other keys from DNS at {}",
                    dkim.nameservers
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        ));
    } else if !dkim.keys.is_empty() {
        r.line("archive.dkim_keys is set but archive.dkim_domains is empty: DKIM authenticates nothing".to_string());
    }
    if let Some(root) = &config.archive.root {
        let a = &config.archive;
        r.line(format!(
            "archive.root: {root} (suites {}; components {}; architectures {}; Architecture: all on {})",
            a.suites.join(", "),
            a.components.join(", "),
            a.architectures.join(", "),
            a.arch_all
        ));
        if !a.architectures.contains(&a.arch_all) {
            return Ok(r.fail(format!(
                "buildmail: archive.arch_all {} is not one of archive.architectures: no architecture would build Architecture: all packages",
                a.arch_all
            )));
        }
        match certificates(&a.release_keyrings) {
            Ok(c) => r.line(format!("archive.release_keyrings: {c}")),
            Err(e) => {
                return Ok(r.fail(format!(
                    "buildmail: archive.release_keyrings: {e}; sync would refuse every Release"
                )));
            }
        }
        if let Some(p) = &a.packages_arch_specific {
            r.line(format!("archive.packages_arch_specific: {p}"));
        }
        match &a.dose_builddebcheck {
            Some(d) if d.is_file() => r.line(format!(
                "archive.dose_builddebcheck: {} (installability by dose-builddebcheck)",
                d.display()
            )),
            Some(d) => r.line(format!(
                "buildmail: warning: archive.dose_builddebcheck {} is not installed (apt-get install dose-builddebcheck); sync uses the built-in check",
                d.display()
            )),
            None => r.line(
                "installability: the built-in direct check (set archive.dose_builddebcheck to follow dependency trees)"
                    .to_string(),
            ),
        }
    }
    let mut warnings = config.warnings();
    if config.database.url.is_some() {
        // PostgreSQL is shared: asking it takes nothing from anyone (a
        // sled database is not opened here, since that would take its
        // lock from the daemon).
        match crate::store::open(&config.database) {
            Ok(_) => r.line(
                "database: the PostgreSQL database answers, and its schema is this buildmail's"
                    .to_string(),
            ),
            Err(e) => warnings.push(format!("the database cannot be used now: {e}")),
        }
    }
    let existing = config.signatures.existing_keyrings();
    for p in &config.signatures.keyrings {
        if !p.exists() {
            warnings.push(format!(
                "keyring {} does not exist: no signed reply can be accepted until the admins' certificates are there (`gpg --export --armor KEYID > {}`)",
                p.display(),
                p.display()
            ));
        }
    }
    if !existing.is_empty() {
        match certificates(&existing) {
            Ok(c) => r.line(format!("signatures.keyrings: {c}")),
            Err(e) => {
                return Ok(r.fail(format!("buildmail: signatures.keyrings: {e}")));
            }
        }
    }
    if let Err(e) = crate::effects::compose::Templates::of(config) {
        return Ok(r.fail(format!("buildmail: notify.templates_dir: {e}")));
    }
    if let Err(e) =
        crate::effects::transport::Sender::new(&crate::effects::outbox::transport_spec(config))
    {
        return Ok(r.fail(format!("buildmail: outbox: {e}")));
    }
    r.line(format!(
        "outbox.transport: {}; notifications to {}{}{}",
        config.outbox.transport.as_str(),
        config.notify.buildd_admins.join(", "),
        if config.notify.notify_owner {
            " + the creator"
        } else {
            ""
        },
        if config.notify.notify_maintainer {
            " + the maintainer"
        } else {
            ""
        }
    ));
    // The effects: where uploads go and how mail leaves. A program that
    // is not there would only show when the first upload or mail fails.
    let up = &config.upload;
    r.line(format!("upload.build_dir: {}", up.build_dir.display()));
    r.line(format!("upload.queue_dir: {}", up.queue_dir.display()));
    for (dist, dir) in &up.dist_queue_dirs {
        r.line(format!("upload.dist.{dist}.queue_dir: {}", dir.display()));
    }
    match &up.command {
        Some(cmd) => r.line(format!(
            "upload.command: {} (timeout {})",
            cmd.join(" "),
            format_duration(up.timeout)
        )),
        None => {
            r.line("upload.command: none (the files are left in the queue directory)".to_string())
        }
    }
    if !up.build_dir.is_dir() {
        warnings.push(format!(
            "upload.build_dir {} is not a directory: a signed .changes cannot be uploaded until sbuild's output is there",
            up.build_dir.display()
        ));
    }
    let mut programs: Vec<(&str, &str)> = Vec::new();
    if let Some(program) = up.command.as_ref().and_then(|c| c.first()) {
        programs.push(("upload.command", program));
    }
    match config.outbox.transport {
        crate::config::Transport::Sendmail => {
            r.line(format!(
                "outbox.sendmail: {}",
                config.outbox.sendmail.join(" ")
            ));
            if let Some(program) = config.outbox.sendmail.first() {
                programs.push(("outbox.sendmail", program));
            }
        }
        crate::config::Transport::Smtp => r.line(format!(
            "outbox.smtp_url: {}",
            crate::effects::transport::redact_url(&config.outbox.smtp_url)
        )),
        crate::config::Transport::File => {
            r.line(format!("outbox.dir: {}", config.outbox.dir.display()))
        }
    }
    for (key, program) in programs {
        if find_program(program).is_none() {
            return Ok(r.fail(format!(
                "buildmail: {key}: {program:?} is not an executable file{}; install it or fix the path",
                if program.contains('/') { "" } else { " on $PATH" }
            )));
        }
    }
    if let Err(e) = serve_section(config, &mut r, &mut warnings) {
        return Ok(r.fail(e));
    }
    r.line(format!("log.target: {}", config.log.target.as_str()));
    r.line(format!(
        "log.level: {}",
        match &config.log.level {
            Some(level) => level.clone(),
            None => format!(
                "{} for serve, {} for the other commands (the default)",
                crate::config::LogConfig::default_level(true),
                crate::config::LogConfig::default_level(false)
            ),
        }
    ));
    Ok(r.finish(&warnings))
}

/// `[serve]`: where the daemon takes mail (and where `deliver` looks for
/// it), and how often it syncs. `Err`: an address the daemon could not
/// listen on.
fn serve_section(
    config: &Config,
    r: &mut Report,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let serve = &config.serve;
    for address in &serve.lmtp {
        crate::serve::Listen::parse(address).map_err(|e| format!("buildmail: serve.lmtp: {e}"))?;
    }
    if serve.lmtp.is_empty() {
        r.line("serve.lmtp: none (the MTA hands mail to `buildmail deliver`; the daemon takes it over its control socket)".to_string());
    } else {
        r.line(format!(
            "serve.lmtp: {} (where `serve` takes LMTP unless systemd passes its sockets)",
            serve.lmtp.join(", ")
        ));
    }
    r.line(format!(
        "serve.control: {} (the daemon's control socket: every command and `deliver` ask a running daemon there)",
        serve.control.display()
    ));
    match &serve.http {
        Some(addr) => {
            crate::serve::Listen::parse(addr).map_err(|e| format!("buildmail: serve.http: {e}"))?;
            r.line(format!(
                "serve.http: {addr} (read-only queries over TCP: builds, histories, logs, the queue, the status)"
            ));
        }
        None => r.line("serve.http: none".to_string()),
    }
    match serve.sync_every {
        Some(every) => {
            r.line(format!("serve.sync_every: {}", format_duration(every)));
            if config.archive.root.is_none() {
                warnings.push(
                    "serve.sync_every is set but archive.root is not: the daemon has no archive to sync"
                        .into(),
                );
            }
        }
        None => r.line("serve.sync_every: none (the daemon does not sync the archive)".to_string()),
    }
    Ok(())
}

/// `N certificate(s): <fingerprints>` of the keyring files `paths`.
fn certificates(
    paths: &[std::path::PathBuf],
) -> Result<String, crate::inbound::signature::SignatureError> {
    let k = crate::inbound::signature::Keyring::load(paths)?;
    Ok(format!(
        "{} certificate(s): {}",
        k.len(),
        k.fingerprints().join(", ")
    ))
}

/// The executable `program` names: a path (with a `/`) as it is, a bare
/// name looked up on `$PATH` as `execvp` would.
fn find_program(program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = std::path::PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

/// What `check-config` found: printed as it goes (text), or collected and
/// printed once as JSON (`--json`).
struct Report {
    json: bool,
    /// `key: value` lines, for JSON.
    lines: Vec<String>,
}

impl Report {
    fn new(json: bool) -> Report {
        Report {
            json,
            lines: Vec::new(),
        }
    }

    /// One resolved setting or finding, `key: value`.
    fn line(&mut self, line: String) {
        if self.json {
            self.lines.push(line);
        } else {
            println!("{line}");
        }
    }

    fn settings(&self) -> Vec<serde_json::Value> {
        self.lines
            .iter()
            .map(|l| {
                let (key, value) = l.split_once(": ").unwrap_or((l.as_str(), ""));
                serde_json::json!({ "key": key, "value": value })
            })
            .collect()
    }

    /// A problem that makes the configuration unusable: exit 78.
    fn fail(&self, message: String) -> ExitCode {
        let message = message
            .strip_prefix("buildmail: ")
            .unwrap_or(&message)
            .to_string();
        if self.json {
            let v = serde_json::json!({
                "ok": false,
                "error": message,
                "settings": self.settings(),
            });
            println!("{v:#}");
        }
        eprintln!("buildmail: {message}");
        ExitCode::from(crate::config::EX_CONFIG)
    }

    /// The end: the warnings and the verdict.
    fn finish(&self, warnings: &[String]) -> ExitCode {
        if self.json {
            let v = serde_json::json!({
                "ok": true,
                "warnings": warnings,
                "settings": self.settings(),
            });
            println!("{v:#}");
        } else {
            for w in warnings {
                println!("warning: {w}");
            }
            println!(
                "{}",
                if warnings.is_empty() {
                    "configuration OK"
                } else {
                    "configuration usable, with warnings"
                }
            );
        }
        ExitCode::SUCCESS
    }
}
