//! `buildmail render`: print a mail as buildmail would send it, for admins
//! who edit templates.

use std::process::ExitCode;

use anyhow::Context;

use crate::config::Config;
use crate::effects::compose;
use crate::effects::compose::Kind;
use crate::hub::{Answer, Query};
use crate::model::BuildKey;

/// Options of `render`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kind of mail: failed-to-upload, build-failure, error-reply,
    /// forward-notice.
    pub kind: String,
    /// Source package.
    pub source: String,
    /// Distribution.
    #[arg(long, default_value = "unstable")]
    pub dist: String,
    /// Architecture (default: `default_arch`).
    #[arg(long)]
    pub arch: Option<String>,
}

/// Renders the mail(s) for one build with the configured templates.
pub fn run(config: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let kind = Kind::parse(&args.kind).with_context(|| {
        format!(
            "{:?} is not a mail kind; use one of: {}",
            args.kind,
            Kind::ALL.map(|k| k.name()).join(", ")
        )
    })?;
    let templates = compose::Templates::of(config)?;
    let key = BuildKey {
        dist: args.dist,
        arch: args.arch.unwrap_or_else(|| config.default_arch.clone()),
        source: args.source,
    };
    let q = Query::Info {
        source: key.source.clone(),
        filter: crate::query::Filter {
            dist: Some(key.dist.clone()),
            arch: Some(key.arch.clone()),
        },
    };
    let mut record = match super::hub(config)?.query(q)? {
        Answer::Builds(b) => b.into_iter().next(),
        other => return Err(super::unexpected("render", &other)),
    }
    .with_context(|| format!("no build {key} is known (see `buildmail list`)"))?;
    let now = crate::time::Clock::now(&crate::time::SystemClock);
    match kind {
        Kind::FailedToUpload => {
            if record.upload_log.is_none() {
                record.upload_log = Some(
                    "(example: this build has no upload log; a real notification is only sent with one)"
                        .into(),
                );
            }
            // The farm's own failure: the admins' mail with the log, the
            // creator's without it.
            for mail in compose::failed_to_upload(
                config,
                &templates,
                &record,
                compose::UploadFailure::Farm,
                0,
                now,
            )? {
                print_readable(&mail.bytes);
            }
        }
        Kind::BuildFailure => {
            // The notice as it would go out for this build alone, with its
            // real per-architecture section.
            for mail in compose::build_failure(config, &templates, &[record], 0, now)? {
                print_readable(&mail.bytes);
            }
        }
        other => {
            let body = templates.render(
                other,
                minijinja::context! {
                    source => record.key.source,
                    version => record.version,
                    arch => record.key.arch,
                    dist => record.key.dist,
                    reasons => vec!["(example reason)"],
                    ignored => Vec::<String>::new(),
                    quoted => "> (the quoted original)",
                    reason => "(example reason)",
                    title => compose::title(&record),
                    architectures => Vec::<String>::new(),
                },
            )?;
            out!("{body}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a composed mail for a reader: its header block as sent, then the
/// text body transfer-decoded (quoted-printable or base64 on the wire).
fn print_readable(bytes: &[u8]) {
    let head_end = memchr::memmem::find(bytes, b"\r\n\r\n").unwrap_or(bytes.len());
    outln!(
        "{}",
        String::from_utf8_lossy(&bytes[..head_end]).replace("\r\n", "\n")
    );
    outln!();
    let body = mail_parser::MessageParser::default()
        .parse(bytes)
        .and_then(|m| m.body_text(0).map(|t| t.into_owned()))
        .unwrap_or_default();
    outln!("{}", body.replace("\r\n", "\n"));
}
