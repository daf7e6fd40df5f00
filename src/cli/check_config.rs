//! `buildmail check-config`.

use std::process::ExitCode;

use crate::config::Config;

/// Reports the resolved configuration and any problems.
pub fn run(config: &Config) -> anyhow::Result<ExitCode> {
    match &config.source {
        Some(p) => println!("configuration: {}", p.display()),
        None => println!("configuration: built-in defaults (no file)"),
    }
    println!("data_dir: {}", config.data_dir.display());
    println!("database.path: {}", config.database.path.display());
    println!(
        "database.log_archive: {}",
        config.database.log_archive.display()
    );
    println!("database.lock_timeout: {:?}", config.database.lock_timeout);
    println!("admin_address: {}", config.admin_address);
    println!("from_address: {}", config.from_address);
    println!("default_arch: {}", config.default_arch);
    println!(
        "limits.max_message_size: {} bytes",
        config.limits.max_message_size
    );
    println!("limits.max_log_size: {} bytes", config.limits.max_log_size);
    println!(
        "signatures.require_signed_commands: {}",
        config.signatures.require_signed_commands
    );
    println!("signatures.max_age: {:?}", config.signatures.max_age);
    println!(
        "replies.known_senders (refusals of their unsigned mail are answered): {}",
        config.replies.known_senders.join(", ")
    );
    for b in &config.builders {
        println!(
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
        );
        if !b.keyrings.is_empty() {
            match crate::inbound::signature::Keyring::load(&b.keyrings) {
                Ok(k) => println!(
                    "builder {}: signs its logs with {} certificate(s): {}",
                    b.name,
                    k.len(),
                    k.fingerprints().join(", ")
                ),
                Err(e) => {
                    eprintln!(
                        "buildmail: builder {}: keyrings: {e}; its logs would count as unsigned",
                        b.name
                    );
                    return Ok(ExitCode::from(crate::config::EX_CONFIG));
                }
            }
        } else if config.signatures.require_signed_logs {
            eprintln!(
                "buildmail: builder {}: signatures.require_signed_logs is set but the builder has no keyrings, so none of its logs can move a build; add `keyrings = [\"<its key>.asc\"]`",
                b.name
            );
            return Ok(ExitCode::from(crate::config::EX_CONFIG));
        }
    }
    if config.signatures.require_signed_logs && config.builders.is_empty() {
        eprintln!(
            "buildmail: signatures.require_signed_logs is set but no [[builders]] are configured: no log could move a build; add a [[builders]] entry with keyrings for each buildd"
        );
        return Ok(ExitCode::from(crate::config::EX_CONFIG));
    }
    if !config.archive.senders.is_empty() {
        println!("archive.senders: {}", config.archive.senders.join(", "));
    }
    if !config.archive.keyrings.is_empty() {
        match crate::inbound::signature::Keyring::load(&config.archive.keyrings) {
            Ok(k) => println!(
                "archive.keyrings: {} certificate(s): {}",
                k.len(),
                k.fingerprints().join(", ")
            ),
            Err(e) => {
                eprintln!(
                    "buildmail: archive.keyrings: {e}; archive answers would count as unsigned"
                );
                return Ok(ExitCode::from(crate::config::EX_CONFIG));
            }
        }
    }
    let mut warnings = config.warnings();
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
        match crate::inbound::signature::Keyring::load(&existing) {
            Ok(k) => println!(
                "signatures.keyrings: {} certificate(s): {}",
                k.len(),
                k.fingerprints().join(", ")
            ),
            Err(e) => {
                eprintln!("buildmail: signatures.keyrings: {e}");
                return Ok(ExitCode::from(crate::config::EX_CONFIG));
            }
        }
    }
    if let Err(e) = crate::effects::compose::Templates::of(config) {
        eprintln!("buildmail: notify.templates_dir: {e}");
        return Ok(ExitCode::from(crate::config::EX_CONFIG));
    }
    if let Err(e) =
        crate::effects::transport::Sender::new(&crate::effects::outbox::transport_spec(config))
    {
        eprintln!("buildmail: outbox: {e}");
        return Ok(ExitCode::from(crate::config::EX_CONFIG));
    }
    println!(
        "outbox: {:?}; notifications to {}{}{}",
        config.outbox.transport,
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
    );
    // The effects: where uploads go and how mail leaves. A program that
    // is not there would only show when the first upload or mail fails.
    let up = &config.upload;
    println!("upload.build_dir: {}", up.build_dir.display());
    println!("upload.queue_dir: {}", up.queue_dir.display());
    for (dist, dir) in &up.dist_queue_dirs {
        println!("upload.dist.{dist}.queue_dir: {}", dir.display());
    }
    match &up.command {
        Some(cmd) => println!(
            "upload.command: {} (timeout {:?})",
            cmd.join(" "),
            up.timeout
        ),
        None => println!("upload.command: none (the files are left in the queue directory)"),
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
            println!("outbox.sendmail: {}", config.outbox.sendmail.join(" "));
            if let Some(program) = config.outbox.sendmail.first() {
                programs.push(("outbox.sendmail", program));
            }
        }
        crate::config::Transport::Smtp => println!(
            "outbox.smtp_url: {}",
            crate::effects::transport::redact_url(&config.outbox.smtp_url)
        ),
        crate::config::Transport::File => {
            println!("outbox.dir: {}", config.outbox.dir.display())
        }
    }
    for (key, program) in programs {
        if find_program(program).is_none() {
            eprintln!(
                "buildmail: {key}: {program:?} is not an executable file{}; install it or fix the path",
                if program.contains('/') { "" } else { " on $PATH" }
            );
            return Ok(ExitCode::from(crate::config::EX_CONFIG));
        }
    }
    for w in &warnings {
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
    Ok(ExitCode::SUCCESS)
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
