//! The TOML file as written: every key optional, unknown keys refused.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) data_dir: Option<PathBuf>,
    pub(super) admin_address: Option<String>,
    pub(super) from_address: Option<String>,
    pub(super) default_arch: Option<String>,
    #[serde(default)]
    pub(super) limits: RawLimits,
    #[serde(default)]
    pub(super) database: RawDatabase,
    #[serde(default)]
    pub(super) signatures: RawSignatures,
    #[serde(default)]
    pub(super) upload: RawUpload,
    #[serde(default)]
    pub(super) replies: RawReplies,
    #[serde(default)]
    pub(super) outbox: RawOutbox,
    #[serde(default)]
    pub(super) notify: RawNotify,
    #[serde(default)]
    pub(super) forward: RawForward,
    pub(super) builders: Option<Vec<RawBuilder>>,
    #[serde(default)]
    pub(super) archive: RawArchive,
    #[serde(default)]
    pub(super) log: RawLog,
    #[serde(default)]
    pub(super) serve: RawServe,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServe {
    pub(super) lmtp: Option<Vec<String>>,
    pub(super) sync_every: Option<String>,
    pub(super) control: Option<PathBuf>,
    pub(super) http: Option<String>,
    pub(super) http_workers: Option<usize>,
    pub(super) max_recipients: Option<usize>,
    pub(super) mail_timeout: Option<String>,
    pub(super) command_timeout: Option<String>,
    pub(super) unix_sessions: Option<usize>,
    pub(super) tcp_sessions: Option<usize>,
    pub(super) tcp_sessions_per_peer: Option<usize>,
    pub(super) mail_budget: Option<SizeValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) target: Option<String>,
    pub(super) level: Option<String>,
    pub(super) facility: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawArchive {
    pub(super) senders: Option<Vec<String>>,
    pub(super) trust_unsigned_senders: Option<bool>,
    pub(super) keyrings: Option<Vec<PathBuf>>,
    pub(super) dkim_domains: Option<Vec<String>>,
    pub(super) dkim_keys: Option<BTreeMap<String, String>>,
    pub(super) dkim_dns: Option<bool>,
    pub(super) dkim_nameservers: Option<Vec<String>>,
    pub(super) root: Option<String>,
    pub(super) suites: Option<Vec<String>>,
    pub(super) components: Option<Vec<String>>,
    pub(super) architectures: Option<Vec<String>>,
    pub(super) arch_all: Option<String>,
    pub(super) release_keyrings: Option<Vec<PathBuf>>,
    pub(super) packages_arch_specific: Option<PathBuf>,
    pub(super) dose_builddebcheck: Option<PathBuf>,
    pub(super) priority_order: Option<Vec<String>>,
    pub(super) section_order: Option<Vec<String>>,
    pub(super) binnmu_maintainer: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBuilder {
    pub(super) name: String,
    pub(super) senders: Vec<String>,
    pub(super) arches: Option<Vec<String>>,
    pub(super) hosts: Option<Vec<String>>,
    pub(super) keyrings: Option<Vec<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpload {
    pub(super) build_dir: Option<PathBuf>,
    pub(super) queue_dir: Option<PathBuf>,
    pub(super) command: Option<Vec<String>>,
    pub(super) timeout: Option<String>,
    #[serde(default)]
    pub(super) dist: BTreeMap<String, RawDistUpload>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDistUpload {
    pub(super) queue_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReplies {
    pub(super) known_senders: Option<Vec<String>>,
    pub(super) max_errors_per_hour_total: Option<u32>,
    pub(super) max_errors_per_hour: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutbox {
    pub(super) transport: Option<String>,
    pub(super) dir: Option<PathBuf>,
    pub(super) sendmail: Option<Vec<String>>,
    pub(super) smtp_url: Option<String>,
    pub(super) timeout: Option<String>,
    pub(super) retry_after: Option<String>,
    pub(super) max_age: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) buildd_admins: Option<Vec<String>>,
    pub(super) notify_owner: Option<bool>,
    pub(super) notify_maintainer: Option<bool>,
    pub(super) notify_on: Option<Vec<String>>,
    pub(super) templates_dir: Option<PathBuf>,
    pub(super) build_log_url: Option<String>,
    pub(super) source_url: Option<String>,
    pub(super) quiet_period: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawForward {
    pub(super) max_bounces: Option<u32>,
    pub(super) bounce_window: Option<String>,
    pub(super) blacklist: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSignatures {
    pub(super) keyrings: Option<Vec<PathBuf>>,
    pub(super) max_age: Option<String>,
    pub(super) require_signed_commands: Option<bool>,
    pub(super) require_bound_commands: Option<bool>,
    pub(super) require_signed_logs: Option<bool>,
    pub(super) trusted_senders: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub(super) max_message_size: Option<SizeValue>,
    pub(super) max_log_size: Option<SizeValue>,
    pub(super) max_log_ratio: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    pub(super) path: Option<PathBuf>,
    pub(super) url: Option<String>,
    pub(super) tls_ca_file: Option<PathBuf>,
    pub(super) lock_timeout: Option<String>,
    pub(super) connections: Option<usize>,
    pub(super) cache_size: Option<SizeValue>,
    pub(super) import_flush_every: Option<SizeValue>,
    pub(super) log_archive: Option<PathBuf>,
    pub(super) mail_blobs: Option<PathBuf>,
}

/// A size written as a number of bytes or a string like `"512MiB"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum SizeValue {
    Bytes(u64),
    Text(String),
}
