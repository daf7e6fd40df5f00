//! `buildmail info <src>`: like `wanna-build --info`.

use std::process::ExitCode;

use crate::config::Config;
use crate::hub::{Answer, Query};
use crate::model::BuildRecord;

/// Options of `info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source package name.
    pub source: String,
    /// Which distributions and architectures.
    #[command(flatten)]
    pub filter: super::BuildFilter,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One `Name: value` line; a value of several lines (a `fail` reason,
/// an upload log) goes on under the value column, so the layout holds.
fn field(name: &str, value: impl std::fmt::Display) {
    let value = value.to_string();
    let mut lines = value.lines();
    outln!("  {name:<20}: {}", lines.next().unwrap_or(""));
    for l in lines {
        outln!("  {:<20}  {l}", "");
    }
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

/// Prints one record in wanna-build's `--info` layout.
pub fn print_record(r: &BuildRecord) {
    outln!("{} ({}/{}):", r.key.source, r.key.dist, r.key.arch);
    field("Package", &r.key.source);
    field("Version", &r.version);
    field("State", r.state);
    field(
        "Previous-State",
        r.previous_state.map(|s| s.as_str()).unwrap_or("-"),
    );
    field("State-Change", super::format_time(r.state_change));
    field("Builder", opt(&r.builder));
    if let Some(t) = &r.taken_by {
        field("Taken-By", t);
    }
    field("Fail-Stage", opt(&r.fail_stage));
    if let Some(reason) = &r.failed_reason {
        field("Failed-Reason", reason);
    }
    if let Some(deps) = &r.depends {
        field("Dep-Wait-On", deps);
    }
    if let Some(b) = &r.binnmu {
        field("BinNMU", format!("{}: {}", b.number, b.message));
    }
    if let Some(s) = &r.source {
        if let Some(section) = &s.section {
            field("Section", section);
        }
        if let Some(priority) = &s.priority {
            field("Priority", priority);
        }
        if let Some(why) = &s.uninstallable {
            field("BD-Problem", why);
        }
        if let Some(a) = &s.ask_first {
            field(
                "Should-I-Build",
                format!(
                    "{} (previous version {} failed: {}); not handed out until an admin answers",
                    if a.asked { "asked" } else { "to be asked" },
                    a.old_version,
                    a.old_reason
                ),
            );
        }
        if s.removed {
            field("Archive", "the source is no longer in the archive");
        }
    }
    if let Some(u) = &r.upload {
        field(
            "Upload",
            format!("{} (signed by {})", u.changes_name, u.signer),
        );
    }
    if let Some(u) = r.upload.as_ref().and_then(|u| u.command_started) {
        field(
            "Upload-Command",
            format!(
                "running since {} (the build is Uploaded from its start; its outcome is recorded when it ends)",
                super::format_time(u)
            ),
        );
    }
    if let Some(log) = &r.upload_log {
        field("Upload-Log", log);
    }
    if let Some(a) = &r.archive {
        field("Archive", a);
    }
    if let Some(s) = r.last_status {
        field("Last-Log-Status", s);
    }
    if let Some(why) = &r.incomplete_log {
        field("Last-Log-Incomplete", why);
    }
    if let Some(d) = r.build_duration {
        field(
            "Build-Time",
            format!("{:02}:{:02}:{:02}", d / 3600, d % 3600 / 60, d % 60),
        );
    }
    if let Some(e) = &r.explanation {
        field("Explanation", &e.summary);
        if let Some(dw) = &e.dep_wait {
            field("Dep-Wait-Suggestion", dw);
        }
        if let Some(l) = &e.matched_line {
            field("Matched-Line", l);
        }
    } else if r.explanation_pending {
        field(
            "Explanation",
            "being made (`buildmail work` explains failed logs after they are recorded)",
        );
    }
    if let Some(m) = &r.last_log_message_id {
        field("Log-Message-Id", format!("<{m}>"));
    }
    for n in &r.notes {
        field("Note", n);
    }
}

/// Shows every dist/arch record of a source package.
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let q = Query::Info {
        source: args.source.clone(),
        filter: args.filter.to_query(),
    };
    let records: Vec<BuildRecord> = match super::hub(config)?.query(q)? {
        Answer::Builds(b) => b,
        other => return Err(super::unexpected("info", &other)),
    };
    if args.json {
        super::print_json(&records)?;
        return Ok(ExitCode::SUCCESS);
    }
    if records.is_empty() {
        eprintln!("buildmail: no build of {} is known", args.source);
        return Ok(ExitCode::FAILURE);
    }
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            outln!();
        }
        print_record(r);
    }
    Ok(ExitCode::SUCCESS)
}
