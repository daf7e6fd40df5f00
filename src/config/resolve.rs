//! Each section of the configuration file resolved on its own: its
//! defaults, its paths made absolute (against the file's directory), its
//! values checked, each error naming its key. [`super::Config::from_toml`]
//! only puts the sections together.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::raw::*;
use super::values::{check_address, duration, size};
use super::{
    is_postgres_url, redact_url, stderr_is_the_journal, ArchiveConfig, Builder, ConfigError,
    DatabaseConfig, DkimRules, ForwardConfig, LimitsConfig, Location, LogConfig, LogTarget,
    NotifyConfig, OutboxConfig, RepliesConfig, ServeConfig, SignaturesConfig, Transport,
    UploadConfig, DEFAULT_CONNECTIONS, SYSLOG_FACILITIES,
};

/// What the sections' defaults derive from: where relative paths
/// resolve, the data directory, the addresses and the default
/// architecture (the top-level keys).
pub(super) struct Ctx {
    /// The configuration file's directory (else the current one).
    pub(super) base: PathBuf,
    /// `data_dir`, absolute.
    pub(super) data_dir: PathBuf,
    /// `admin_address`.
    pub(super) admin_address: String,
    /// `from_address`.
    pub(super) from_address: String,
    /// `default_arch`.
    pub(super) default_arch: String,
}

impl Ctx {
    /// `p`, relative to the configuration file's directory.
    pub(super) fn path(&self, p: PathBuf) -> PathBuf {
        if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        }
    }
}

impl RawLimits {
    /// `[limits]`.
    pub(super) fn resolve(self) -> Result<LimitsConfig, ConfigError> {
        let raw = self;
        let limits = LimitsConfig {
            max_message_size: size("limits.max_message_size", raw.max_message_size, 512 << 20)?,
            max_log_size: size("limits.max_log_size", raw.max_log_size, 2 << 30)?,
            max_log_ratio: raw.max_log_ratio.unwrap_or(100),
        };
        Ok(limits)
    }
}

impl RawDatabase {
    /// `[database]`.
    pub(super) fn resolve(self, ctx: &Ctx) -> Result<DatabaseConfig, ConfigError> {
        let raw = self;
        let database = DatabaseConfig {
            path: raw
                .path
                .map(|p| ctx.path(p))
                .unwrap_or_else(|| ctx.data_dir.join("db")),
            url: match raw.url {
                Some(u) if !is_postgres_url(&u) => {
                    return Err(ConfigError::Invalid {
                        key: "database.url",
                        message: format!(
                            "{} is not a PostgreSQL URL: write postgresql://user@host/dbname, or leave the key out for the embedded sled database",
                            redact_url(&u)
                        ),
                    })
                }
                u => u,
            },
            tls_ca_file: raw.tls_ca_file.map(|p| ctx.path(p)),
            lock_timeout: duration("database.lock_timeout", raw.lock_timeout, 30)?,
            connections: match raw.connections {
                Some(0) => {
                    return Err(ConfigError::Invalid {
                        key: "database.connections",
                        message: "0 connections cannot commit anything: give at least 1 (default 16)".into(),
                    })
                }
                n => n.unwrap_or(DEFAULT_CONNECTIONS),
            },
            cache_size: size("database.cache_size", raw.cache_size, 32 << 20)?,
            import_flush_bytes: size(
                "database.import_flush_every",
                raw.import_flush_every,
                64 << 20,
            )?,
            log_archive: raw
                .log_archive
                .map(|p| ctx.path(p))
                .unwrap_or_else(|| ctx.data_dir.join("logs")),
            mail_blobs: raw
                .mail_blobs
                .map(|p| ctx.path(p))
                .unwrap_or_else(|| ctx.data_dir.join("mails")),
        };
        Ok(database)
    }
}

impl RawSignatures {
    /// `[signatures]`.
    pub(super) fn resolve(self, ctx: &Ctx) -> Result<SignaturesConfig, ConfigError> {
        let raw = self;
        let signatures = SignaturesConfig {
            keyrings: match raw.keyrings {
                Some(k) => k.into_iter().map(|p| ctx.path(p)).collect(),
                None => vec![ctx.data_dir.join("admins.asc")],
            },
            max_age: duration("signatures.max_age", raw.max_age, 7 * 86400)?,
            require_signed_commands: raw.require_signed_commands.unwrap_or(true),
            require_bound_commands: raw.require_bound_commands.unwrap_or(true),
            require_signed_logs: raw.require_signed_logs.unwrap_or(false),
            trusted_senders: raw.trusted_senders.unwrap_or_default(),
        };
        for sender in &signatures.trusted_senders {
            check_address("signatures.trusted_senders", sender)?;
        }
        Ok(signatures)
    }
}

impl RawUpload {
    /// `[upload]`.
    pub(super) fn resolve(self, ctx: &Ctx) -> Result<UploadConfig, ConfigError> {
        let raw = self;
        let mut dist_queue_dirs = BTreeMap::new();
        for (dist, d) in raw.dist {
            if let Some(q) = d.queue_dir {
                dist_queue_dirs.insert(dist, ctx.path(q));
            }
        }
        if let Some(cmd) = &raw.command {
            if cmd.first().is_none_or(|p| p.trim().is_empty()) {
                return Err(ConfigError::Invalid {
                    key: "upload.command",
                    message: "the command is empty; write e.g. [\"dput\", \"ftp-master\", \"{changes}\"] or leave the key out".into(),
                });
            }
        }
        let upload = UploadConfig {
            build_dir: raw
                .build_dir
                .map(|p| ctx.path(p))
                .unwrap_or_else(|| ctx.data_dir.join("build")),
            queue_dir: raw
                .queue_dir
                .map(|p| ctx.path(p))
                .unwrap_or_else(|| ctx.data_dir.join("upload")),
            dist_queue_dirs,
            command: raw.command,
            timeout: duration("upload.timeout", raw.timeout, 600)?,
        };
        Ok(upload)
    }
}

impl RawOutbox {
    /// `[outbox]`.
    pub(super) fn resolve(self, ctx: &Ctx) -> Result<OutboxConfig, ConfigError> {
        let raw = self;
        let outbox = OutboxConfig {
            transport: match raw.transport.as_deref() {
                None | Some("file") => Transport::File,
                Some("sendmail") => Transport::Sendmail,
                Some("smtp") => Transport::Smtp,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        key: "outbox.transport",
                        message: format!(
                            "{other:?} is not a transport; write \"file\", \"sendmail\" or \"smtp\""
                        ),
                    })
                }
            },
            dir: raw
                .dir
                .map(|p| ctx.path(p))
                .unwrap_or_else(|| ctx.data_dir.join("outbox")),
            sendmail: raw.sendmail.unwrap_or_else(|| {
                ["/usr/sbin/sendmail", "-oi", "-t"]
                    .map(String::from)
                    .to_vec()
            }),
            smtp_url: raw.smtp_url.unwrap_or_else(|| "smtp://localhost:25".into()),
            timeout: duration("outbox.timeout", raw.timeout, 60)?,
            retry_after: duration("outbox.retry_after", raw.retry_after, 60)?,
            max_age: duration("outbox.max_age", raw.max_age, 5 * 86400)?,
        };
        if outbox.sendmail.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(ConfigError::Invalid {
                key: "outbox.sendmail",
                message:
                    "the command is empty; write e.g. [\"/usr/sbin/sendmail\", \"-oi\", \"-t\"]"
                        .into(),
            });
        }
        Ok(outbox)
    }
}

impl RawNotify {
    /// `[notify]`.
    pub(super) fn resolve(self, ctx: &Ctx) -> Result<NotifyConfig, ConfigError> {
        let raw = self;
        let notify = NotifyConfig {
            buildd_admins: raw
                .buildd_admins
                .unwrap_or_else(|| vec![ctx.admin_address.clone()]),
            notify_owner: raw.notify_owner.unwrap_or(true),
            notify_maintainer: raw.notify_maintainer.unwrap_or(false),
            notify_on: raw.notify_on.unwrap_or_default(),
            templates_dir: raw.templates_dir.map(|p| ctx.path(p)),
            build_log_url: raw.build_log_url,
            source_url: raw.source_url,
            quiet_period: duration("notify.quiet_period", raw.quiet_period, 1800)?,
        };
        for a in &notify.buildd_admins {
            check_address("notify.buildd_admins", a)?;
        }
        for event in &notify.notify_on {
            if !["failed-to-upload", "build-attempted", "failed"].contains(&event.as_str()) {
                return Err(ConfigError::Invalid {
                    key: "notify.notify_on",
                    message: format!(
                        "{event:?} is not an event; write \"failed-to-upload\", \"build-attempted\" or \"failed\""
                    ),
                });
            }
        }
        Ok(notify)
    }
}

impl RawForward {
    /// `[forward]`.
    pub(super) fn resolve(self) -> Result<ForwardConfig, ConfigError> {
        let raw = self;
        let forward = ForwardConfig {
            max_bounces: raw.max_bounces.unwrap_or(5),
            bounce_window: duration("forward.bounce_window", raw.bounce_window, 8 * 3600)?,
            blacklist: raw.blacklist.unwrap_or_default(),
        };
        Ok(forward)
    }
}

impl RawArchive {
    /// `[archive]`.
    pub(super) fn resolve(self, ctx: &Ctx) -> Result<ArchiveConfig, ConfigError> {
        let raw = self;
        let architectures = raw
            .architectures
            .unwrap_or_else(|| vec![ctx.default_arch.clone()]);
        let dkim = DkimRules {
            domains: raw.dkim_domains.unwrap_or_default(),
            keys: raw.dkim_keys.unwrap_or_default().into_iter().collect(),
            dns: raw.dkim_dns.unwrap_or(true),
            nameservers: raw
                .dkim_nameservers
                .unwrap_or_default()
                .iter()
                .map(|s| {
                    s.parse().map_err(|_| ConfigError::Invalid {
                        key: "archive.dkim_nameservers",
                        message: format!(
                            "{s:?} is not an address and port; write e.g. \"192.0.2.53:53\""
                        ),
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let root = match raw.root {
            None => None,
            Some(r) if r.starts_with("http://") || r.starts_with("https://") => {
                Some(Location::Url(r.trim_end_matches('/').to_string()))
            }
            Some(r) if r.contains("://") && !r.starts_with("file://") => {
                return Err(ConfigError::Invalid {
                    key: "archive.root",
                    message: format!("{r:?}: write a directory, file://, http:// or https://"),
                })
            }
            Some(r) => Some(Location::Local(
                ctx.path(PathBuf::from(r.strip_prefix("file://").unwrap_or(&r))),
            )),
        };
        let archive = ArchiveConfig {
            senders: raw.senders.unwrap_or_default(),
            trust_unsigned_senders: raw.trust_unsigned_senders.unwrap_or(false),
            keyrings: raw
                .keyrings
                .unwrap_or_default()
                .into_iter()
                .map(|p| ctx.path(p))
                .collect(),
            dkim,
            root,
            suites: raw.suites.unwrap_or_else(|| vec!["unstable".into()]),
            components: raw.components.unwrap_or_else(|| vec!["main".into()]),
            arch_all: raw
                .arch_all
                .unwrap_or_else(|| architectures.first().cloned().unwrap_or_default()),
            architectures,
            release_keyrings: raw
                .release_keyrings
                .unwrap_or_default()
                .into_iter()
                .map(|p| ctx.path(p))
                .collect(),
            packages_arch_specific: raw.packages_arch_specific.map(|p| {
                let s = p.to_string_lossy();
                if s.starts_with("http://") || s.starts_with("https://") {
                    Location::Url(s.into_owned())
                } else {
                    Location::Local(ctx.path(p))
                }
            }),
            dose_builddebcheck: raw.dose_builddebcheck,
            order: {
                let d = crate::debian::order::QueueOrder::default();
                crate::debian::order::QueueOrder {
                    priorities: raw.priority_order.unwrap_or(d.priorities),
                    sections: raw.section_order.unwrap_or(d.sections),
                }
            },
            binnmu_maintainer: raw
                .binnmu_maintainer
                .unwrap_or_else(|| format!("buildmail <{}>", ctx.from_address)),
        };
        for (key, names) in [
            ("archive.suites", &archive.suites),
            ("archive.components", &archive.components),
            ("archive.architectures", &archive.architectures),
        ] {
            for n in names {
                if n.is_empty()
                    || n.contains('/')
                    || n.contains("..")
                    || n.contains(char::is_whitespace)
                {
                    return Err(ConfigError::Invalid {
                        key,
                        message: format!("{n:?} is not a suite, component or architecture name"),
                    });
                }
            }
        }
        if archive.root.is_some() && archive.release_keyrings.is_empty() {
            return Err(ConfigError::Invalid {
                key: "archive.release_keyrings",
                message: "archive.root is set but no keyring to verify its Release files; name the archive keyring (Debian: /usr/share/keyrings/debian-archive-keyring.gpg)".into(),
            });
        }
        for s in &archive.senders {
            check_address("archive.senders", s)?;
        }
        if archive.trust_unsigned_senders && archive.senders.is_empty() {
            return Err(ConfigError::Invalid {
                key: "archive.trust_unsigned_senders",
                message: "it trusts archive.senders, which is empty: list the archive's and the upload queue's addresses, or better give buildmail the archive's key (archive.keyrings)".into(),
            });
        }
        Ok(archive)
    }
}

impl RawLog {
    /// `[log]`.
    pub(super) fn resolve(self) -> Result<LogConfig, ConfigError> {
        let raw = self;
        let log = LogConfig {
            target: match raw.target.as_deref().unwrap_or("auto") {
                "stderr" => LogTarget::Stderr,
                "journald" => LogTarget::Journald,
                "syslog" => LogTarget::Syslog,
                "auto" if stderr_is_the_journal() => LogTarget::Journald,
                "auto" => LogTarget::Stderr,
                other => {
                    return Err(ConfigError::Invalid {
                        key: "log.target",
                        message: format!(
                            "{other:?} is not a log target: write stderr, journald, syslog or auto"
                        ),
                    })
                }
            },
            level: raw.level,
            facility: raw.facility.unwrap_or_else(|| "mail".into()),
        };
        if let Some(level) = &log.level {
            if let Err(e) = tracing_subscriber::EnvFilter::try_new(level) {
                return Err(ConfigError::Invalid {
                    key: "log.level",
                    message: format!(
                        "{level:?} is not a log filter ({e}): write a level such as info or debug, \
                         or RUST_LOG syntax such as info,buildmail::effects=debug"
                    ),
                });
            }
        }
        if !SYSLOG_FACILITIES.contains(&log.facility.as_str()) {
            return Err(ConfigError::Invalid {
                key: "log.facility",
                message: format!(
                    "{:?} is not a syslog facility: write one of {}",
                    log.facility,
                    SYSLOG_FACILITIES.join(", ")
                ),
            });
        }
        Ok(log)
    }
}

impl RawServe {
    /// `[serve]`.
    pub(super) fn resolve(
        self,
        ctx: &Ctx,
        limits: &LimitsConfig,
    ) -> Result<ServeConfig, ConfigError> {
        let raw = self;
        let control = raw
            .control
            .clone()
            .map(|p| ctx.path(p))
            .unwrap_or_else(|| ctx.data_dir.join("control.sock"));
        let serve = ServeConfig {
            lmtp: raw.lmtp.unwrap_or_default(),
            sync_every: match raw.sync_every {
                None => None,
                Some(v) => Some(duration("serve.sync_every", Some(v), 0)?),
            },
            control,
            http: raw.http.clone(),
            http_workers: raw.http_workers.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
            }),
            max_recipients: raw.max_recipients.unwrap_or(1000),
            mail_timeout: duration("serve.mail_timeout", raw.mail_timeout, 30)?,
            command_timeout: duration("serve.command_timeout", raw.command_timeout, 60)?,
            unix_sessions: raw.unix_sessions.unwrap_or(64),
            tcp_sessions: raw.tcp_sessions.unwrap_or(64),
            tcp_sessions_per_peer: raw.tcp_sessions_per_peer.unwrap_or(8),
            mail_budget: size(
                "serve.mail_budget",
                raw.mail_budget,
                limits.max_message_size,
            )?,
        };
        for (key, n) in [
            ("serve.max_recipients", serve.max_recipients),
            ("serve.http_workers", serve.http_workers),
            ("serve.unix_sessions", serve.unix_sessions),
            ("serve.tcp_sessions", serve.tcp_sessions),
            ("serve.tcp_sessions_per_peer", serve.tcp_sessions_per_peer),
        ] {
            if n == 0 {
                return Err(ConfigError::Invalid {
                    key,
                    message: "0 would refuse everything; write at least 1".into(),
                });
            }
        }
        for (key, d) in [
            ("serve.mail_timeout", serve.mail_timeout),
            ("serve.command_timeout", serve.command_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError::Invalid {
                    key,
                    message: "0 would close every session at once; write e.g. \"30s\"".into(),
                });
            }
        }
        if serve.mail_budget < limits.max_message_size {
            return Err(ConfigError::Invalid {
                key: "serve.mail_budget",
                message: format!(
                    "{} bytes is less than limits.max_message_size ({} bytes): a mail of the largest accepted size could never be taken; raise it or leave it out",
                    serve.mail_budget, limits.max_message_size
                ),
            });
        }
        Ok(serve)
    }
}

/// `[replies]`: whose refused mail is answered (by default the admins,
/// the notified admins, the trusted senders and every builder's senders).
pub(super) fn replies(
    raw: RawReplies,
    ctx: &Ctx,
    notify: &NotifyConfig,
    signatures: &SignaturesConfig,
    builders: &[Builder],
) -> Result<RepliesConfig, ConfigError> {
    let replies = RepliesConfig {
        max_errors_per_hour: raw.max_errors_per_hour.unwrap_or(10),
        max_errors_per_hour_total: raw.max_errors_per_hour_total.unwrap_or(60),
        known_senders: raw.known_senders.unwrap_or_else(|| {
            let mut known = vec![ctx.admin_address.clone()];
            known.extend(notify.buildd_admins.iter().cloned());
            known.extend(signatures.trusted_senders.iter().cloned());
            // A builder's address is answered like an admin's when a
            // reply it sent is refused.
            known.extend(builders.iter().flat_map(|b| b.senders.iter().cloned()));
            known.sort();
            known.dedup();
            known
        }),
    };
    for a in &replies.known_senders {
        check_address("replies.known_senders", a)?;
    }
    Ok(replies)
}

/// `[[builders]]`: who may report build results.
pub(super) fn builders(
    raw: Option<Vec<RawBuilder>>,
    ctx: &Ctx,
) -> Result<Vec<Builder>, ConfigError> {
    let builders = raw
        .unwrap_or_default()
        .into_iter()
        .map(|b| Builder {
            name: b.name,
            senders: b.senders,
            arches: b.arches.unwrap_or_default(),
            hosts: b.hosts.unwrap_or_default(),
            keyrings: b
                .keyrings
                .unwrap_or_default()
                .into_iter()
                .map(|p| ctx.path(p))
                .collect(),
        })
        .collect::<Vec<_>>();
    for (i, b) in builders.iter().enumerate() {
        if builders[..i].iter().any(|o| o.name == b.name) {
            return Err(ConfigError::Invalid {
                key: "builders.name",
                message: format!(
                    "two [[builders]] entries are named {:?}: give each buildd its own name",
                    b.name
                ),
            });
        }
        if b.senders.is_empty() {
            return Err(ConfigError::Invalid {
                key: "builders.senders",
                message: format!(
                    "builder {:?} has no senders: list the From addresses of its log mails",
                    b.name
                ),
            });
        }
        for s in &b.senders {
            check_address("builders.senders", s)?;
        }
        for a in &b.arches {
            if !crate::debian::names::is_arch_name(a) {
                return Err(ConfigError::Invalid {
                    key: "builders.arches",
                    message: format!("{a:?} is not an architecture name"),
                });
            }
        }
    }
    Ok(builders)
}
