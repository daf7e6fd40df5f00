//! Configuration: one TOML file, every key with a documented default.
//!
//! Every path defaults under [`Config::data_dir`], so a first run needs no
//! setup. Relative paths in a configuration file are relative to the
//! directory of that file; without a file, to the current directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod raw;
mod resolve;
mod values;
use raw::*;
pub use values::*;

/// The exit status for a bad configuration (sysexits.h `EX_CONFIG`).
pub const EX_CONFIG: u8 = 78;

/// Why a configuration could not be used. The message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is malformed or a key has the wrong type or is unknown.
    #[error("configuration file {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// toml's message, which names the key and line.
        message: String,
    },
    /// A key has a value buildmail cannot use.
    #[error("configuration key `{key}`: {message}")]
    Invalid {
        /// The dotted key.
        key: &'static str,
        /// What is wrong and what to write instead.
        message: String,
    },
}

/// The whole configuration, resolved (paths absolute, sizes in bytes).
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the configuration came from (`None`: built-in defaults).
    pub source: Option<PathBuf>,
    /// Directory holding the database, quarantine and outbox.
    pub data_dir: PathBuf,
    /// Forwards and bounce reports go here.
    pub admin_address: String,
    /// `From:` of everything buildmail sends.
    pub from_address: String,
    /// Architecture assumed for replies and logs that name none.
    pub default_arch: String,
    /// Size limits.
    pub limits: LimitsConfig,
    /// Database settings.
    pub database: DatabaseConfig,
    /// Signature checking of admin replies.
    pub signatures: SignaturesConfig,
    /// Uploads of signed `.changes`.
    pub upload: UploadConfig,
    /// Answers to admin replies.
    pub replies: RepliesConfig,
    /// Outbound mail.
    pub outbox: OutboxConfig,
    /// Notifications.
    pub notify: NotifyConfig,
    /// Forwarding of mail buildmail does not handle itself.
    pub forward: ForwardConfig,
    /// `[log]`: where log lines go, and which.
    pub log: LogConfig,
    /// `[archive]`: who may answer uploads.
    pub archive: ArchiveConfig,
    /// `[serve]`: the daemon.
    pub serve: ServeConfig,
    /// `[[builders]]`: who may report build results. Empty: any sender's
    /// log moves builds (an open farm; `check-config` warns).
    pub builders: Vec<Builder>,
}

/// `[archive]`.
#[derive(Debug, Clone, Default)]
pub struct ArchiveConfig {
    /// `senders`: the From addresses of the archive's and the upload
    /// queue's mails (ACCEPTED, REJECTED, `Processing of`); an answer
    /// from anyone else is recorded and moves nothing. Empty (the
    /// default): any sender, but see below: an answer moves a build only
    /// when it is authenticated.
    pub senders: Vec<String>,
    /// `trust_unsigned_senders`: without `keyrings` or DKIM domains, an
    /// unsigned answer whose From is one of `senders` moves builds. Weak
    /// (a From line is easy to forge; `check-config` says so), off by
    /// default: an answer nobody authenticated is recorded, forwarded to
    /// the admins marked as such, and moves nothing.
    pub trust_unsigned_senders: bool,
    /// `keyrings`: the archive's OpenPGP certificates. When set, an answer
    /// moves a build only when it is signed (PGP/MIME or a clearsigned
    /// body) by one of them, and its text is read from the signed part.
    pub keyrings: Vec<PathBuf>,
    /// `dkim_domains`, `dkim_keys`, `dkim_dns`, `dkim_nameservers`: when
    /// a signing domain is set, an answer DKIM-signed by it (the From and
    /// Subject signed, the whole body) counts like one signed by
    /// `keyrings` (see `inbound::dkim`).
    pub dkim: DkimRules,
    /// `root`: the archive `sync` follows, in the standard Debian layout
    /// (`dists/<suite>/InRelease`, ...): a local directory (relative paths
    /// resolve against the configuration file's directory), `file://`, or
    /// an `http://`/`https://` URL. `None`: no archive side.
    pub root: Option<Location>,
    /// `suites` to follow (default `["unstable"]`).
    pub suites: Vec<String>,
    /// `components` (default `["main"]`).
    pub components: Vec<String>,
    /// `architectures` the farm builds (default: the configured
    /// `default_arch`).
    pub architectures: Vec<String>,
    /// `arch_all`: the architecture that builds `Architecture: all`
    /// packages (default: the first of `architectures`).
    pub arch_all: String,
    /// `release_keyrings`: the keys that sign the archive's Release files
    /// (Debian: `/usr/share/keyrings/debian-archive-keyring.gpg`).
    pub release_keyrings: Vec<PathBuf>,
    /// `packages_arch_specific`: a Packages-arch-specific file (sources
    /// not to be built on some architectures), a path or an `http(s)://`
    /// URL, read at each sync.
    pub packages_arch_specific: Option<Location>,
    /// `dose_builddebcheck`: the program that decides installability
    /// (`/usr/bin/dose-builddebcheck`); `None`, or not installed: the
    /// built-in direct check.
    pub dose_builddebcheck: Option<PathBuf>,
    /// `priority_order` and `section_order`: the needs-build queue's order
    /// (wanna-build's by default).
    pub order: crate::debian::order::QueueOrder,
    /// `binnmu_maintainer`: who signs a binNMU's changelog entry, as
    /// sbuild's `--maintainer` (default `buildmail <from_address>`).
    pub binnmu_maintainer: String,
}

impl ArchiveConfig {
    /// Whether the farm follows an archive (`root` is set): `sync` reads
    /// its indices, and the queue hands out only builds a sync has seen in
    /// its Sources.
    pub fn followed(&self) -> bool {
        self.root.is_some()
    }
}

/// What may DKIM-authenticate the archive's mail (`[archive]` `dkim_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DkimRules {
    /// `dkim_domains`: the signing domains (`d=`) whose signature counts.
    /// Empty: DKIM authenticates nothing.
    pub domains: Vec<String>,
    /// `dkim_keys`: pinned key records, by DNS name
    /// (`<selector>._domainkey.<domain>`), each the TXT record's text
    /// (`v=DKIM1; k=rsa; p=...`).
    pub keys: Vec<(String, String)>,
    /// `dkim_dns`: whether keys that are not pinned are looked up in DNS
    /// (default true).
    pub dns: bool,
    /// `dkim_nameservers`: the DNS servers to ask (`ip:port`); empty: the
    /// system's (`/etc/resolv.conf`).
    pub nameservers: Vec<std::net::SocketAddr>,
}

/// `[serve]`.
#[derive(Debug, Clone, Default)]
pub struct ServeConfig {
    /// `lmtp`: where `serve` listens for LMTP: `unix:/path` or
    /// `tcp:host:port` (checked when `serve` starts).
    pub lmtp: Vec<String>,
    /// `sync_every`: how often `serve` syncs the archive (at start, then
    /// at this interval); `None` (the default): it does not.
    pub sync_every: Option<std::time::Duration>,
    /// `control`: the daemon's control socket (HTTP/1.1 + JSON on a unix
    /// socket, mode 0660): every command asks the daemon there first
    /// (default `<data_dir>/control.sock`).
    pub control: PathBuf,
    /// `http`: a TCP address (`127.0.0.1:8080`) where the daemon answers
    /// read-only queries (the builds, their histories and logs, the
    /// queue, the status) and serves the status pages; `None` (the
    /// default): none.
    pub http: Option<String>,
    /// `http_workers`: status pages read and rendered at once; more wait
    /// their turn (default half the cores, at least 1, so that a flood
    /// of page requests leaves the mail its share of the machine).
    pub http_workers: usize,
    /// `max_recipients`: recipients one mail transaction may name; more
    /// get `452 4.5.3` (default 1000).
    pub max_recipients: usize,
    /// `mail_timeout`: how long a session may go without starting a mail
    /// (`MAIL`), from its greeting and again after each mail; `NOOP`,
    /// `RSET`, `LHLO` and `VRFY` do not extend it (default 30s).
    pub mail_timeout: Duration,
    /// `command_timeout`: how long a session may stay silent between
    /// commands inside a mail transaction, and between pieces of DATA
    /// (default 60s).
    pub command_timeout: Duration,
    /// `unix_sessions`: sessions at once on the unix sockets (the local
    /// MTA, `deliver`): a pool of their own, never taken by TCP clients
    /// (default 64).
    pub unix_sessions: usize,
    /// `tcp_sessions`: sessions at once on the TCP listeners (default 64).
    pub tcp_sessions: usize,
    /// `tcp_sessions_per_peer`: sessions at once from one IP address
    /// (default 8).
    pub tcp_sessions_per_peer: usize,
    /// `mail_budget`: bytes of mail the daemon holds at once across all
    /// sessions (read, being parsed or committed); a session that cannot
    /// get its share in time answers 452 to MAIL or 451 after DATA
    /// (default `limits.max_message_size`; never less).
    pub mail_budget: u64,
}

/// Where something `sync` reads is (`archive.root`,
/// `archive.packages_arch_specific`): a local path or a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local directory or file.
    Local(PathBuf),
    /// An `http://` or `https://` URL, without a trailing `/`.
    Url(String),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(d) => write!(f, "{}", d.display()),
            Location::Url(u) => f.write_str(u),
        }
    }
}

/// One `[[builders]]` entry: a buildd whose log mails move builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Builder {
    /// `name`, for messages.
    pub name: String,
    /// `senders`: the From addresses its log mails come from.
    pub senders: Vec<String>,
    /// `arches`: the architectures it builds (empty: any).
    pub arches: Vec<String>,
    /// `hosts`: the build hosts its logs name (`sbuild ... on <host>`);
    /// empty: any.
    pub hosts: Vec<String>,
    /// `keyrings`: the builder's OpenPGP certificates. When set, its log
    /// mails must be PGP/MIME-signed by one of them; the log is then read
    /// from the signed part only.
    pub keyrings: Vec<PathBuf>,
}

impl Builder {
    /// Whether this builder may report a build of `arch` from `from`,
    /// built on `host`.
    pub fn vouches(&self, from: &str, arch: &str, host: Option<&str>) -> bool {
        self.senders.iter().any(|s| s.eq_ignore_ascii_case(from))
            && (self.arches.is_empty() || self.arches.iter().any(|a| a == arch))
            && (self.hosts.is_empty()
                || host.is_some_and(|h| self.hosts.iter().any(|x| x.eq_ignore_ascii_case(h))))
    }
}

/// `[upload]`.
#[derive(Debug, Clone)]
pub struct UploadConfig {
    /// `build_dir`: where sbuild leaves `.changes`, `.deb`, `.buildinfo`
    /// (default `<data_dir>/build`).
    pub build_dir: PathBuf,
    /// `queue_dir`: the upload queue directory (default `<data_dir>/upload`).
    pub queue_dir: PathBuf,
    /// `[upload.dist.<name>] queue_dir`: per-distribution queue directories.
    pub dist_queue_dirs: BTreeMap<String, PathBuf>,
    /// `command`: the upload command run after the files are in the queue,
    /// with `{changes}`, `{queue}`, `{source}`, `{version}`, `{arch}`,
    /// `{dist}` substituted (default: none; the files are left in the queue
    /// for an uploader that watches it).
    pub command: Option<Vec<String>>,
    /// `timeout`: how long the upload command may run (default 10 minutes).
    pub timeout: Duration,
}

impl UploadConfig {
    /// The upload queue directory of a distribution.
    pub fn queue_dir_for(&self, dist: &str) -> &Path {
        self.dist_queue_dirs
            .get(dist)
            .map_or(self.queue_dir.as_path(), PathBuf::as_path)
    }
}

/// `[replies]`.
#[derive(Debug, Clone)]
pub struct RepliesConfig {
    /// `max_errors_per_hour`: error replies sent to one address per hour at
    /// most (default 10); further refusals are recorded but not answered.
    pub max_errors_per_hour: u32,
    /// `max_errors_per_hour_total`: error replies an hour to all addresses
    /// together (default 60); past it refusals are recorded, not answered.
    pub max_errors_per_hour_total: u32,
    /// `known_senders`: addresses whose *unsigned* (or badly signed) mail
    /// is answered when refused (default: `admin_address`,
    /// `notify.buildd_admins` and `signatures.trusted_senders`). A refused
    /// signed reply is answered to the address of the signing key's user
    /// ID instead; any other sender gets no answer (no backscatter).
    pub known_senders: Vec<String>,
}

/// `[outbox]`.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// `transport`: how queued mail leaves: `file` (the default: one
    /// `.eml` file per mail in `dir`), `sendmail` or `smtp`.
    pub transport: Transport,
    /// `dir`: the directory of `.eml` files (default `<data_dir>/outbox`).
    pub dir: PathBuf,
    /// `sendmail`: the command mail is piped to with `transport =
    /// "sendmail"` (default `["/usr/sbin/sendmail", "-oi", "-t"]`).
    pub sendmail: Vec<String>,
    /// `smtp_url`: the server for `transport = "smtp"` (default
    /// `smtp://localhost:25`; `?tls=required` for STARTTLS, `smtps://` for
    /// implicit TLS, `smtp://user:password@host` to authenticate).
    pub smtp_url: String,
    /// `timeout`: how long one delivery attempt may take (default 60s).
    pub timeout: Duration,
    /// `retry_after`: the first retry after a failed delivery; each further
    /// one waits twice as long, up to an hour (default 1m).
    pub retry_after: Duration,
    /// `max_age`: a mail still undelivered after this long is parked as
    /// dead (kept, listed by `buildmail outbox list`, retried only by
    /// `buildmail outbox retry`) (default 5d).
    pub max_age: Duration,
}

/// How outbound mail is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Write each mail as `<id>.eml` into `outbox.dir`.
    File,
    /// Pipe each mail to `outbox.sendmail`.
    Sendmail,
    /// Send each mail to `outbox.smtp_url`.
    Smtp,
}

impl Transport {
    /// The value as `outbox.transport` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::File => "file",
            Transport::Sendmail => "sendmail",
            Transport::Smtp => "smtp",
        }
    }
}

/// `[notify]`.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// `buildd_admins`: who hears of every upload failure (default
    /// `[admin_address]`).
    pub buildd_admins: Vec<String>,
    /// `notify_owner`: also mail the package's creator, the `Changed-By` of
    /// the upload (default true).
    pub notify_owner: bool,
    /// `notify_maintainer`: also mail the `Maintainer` (default false).
    pub notify_maintainer: bool,
    /// `notify_on`: which events are notified besides `failed-to-upload`
    /// (always): `build-attempted`, `failed` (default none).
    pub notify_on: Vec<String>,
    /// `templates_dir`: templates here override the built-in ones (default
    /// none).
    pub templates_dir: Option<PathBuf>,
    /// `build_log_url`: URL template of a build log (`{src}`, `{ver}`,
    /// `{arch}`, `{dist}`); default none.
    pub build_log_url: Option<String>,
    /// `source_url`: URL template of a source package; default none.
    pub source_url: Option<String>,
    /// `quiet_period`: build-failure notifications wait this long for the
    /// other architectures of the same version (default 30m).
    pub quiet_period: Duration,
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard error, plain text (colour only on a terminal).
    Stderr,
    /// Standard error with the `<N>` priority prefixes journald reads
    /// (sd-daemon(3)), no timestamps: for a systemd service.
    Journald,
    /// syslog(3), with the configured facility.
    Syslog,
}

impl LogTarget {
    /// The value as `log.target` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogTarget::Stderr => "stderr",
            LogTarget::Journald => "journald",
            LogTarget::Syslog => "syslog",
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `target`: `stderr`, `journald`, `syslog`, or `auto` (the default:
    /// journald when systemd connected standard error to the journal,
    /// else stderr).
    pub target: LogTarget,
    /// `level`: which lines, in `RUST_LOG` syntax; `None` (not set): the
    /// command's own default, [`LogConfig::default_level`].
    /// `BUILDMAIL_LOG` or `RUST_LOG` in the environment win.
    pub level: Option<String>,
    /// `facility`: the syslog facility (default `mail`).
    pub facility: String,
}

impl LogConfig {
    /// The level when neither `log.level` nor the environment sets one:
    /// `info` for the daemon (`serve`: every mail and effect, one line
    /// each, for the journal), `warn` for one-shot commands (`deliver`,
    /// `import`, `work`, queries), which say what they did themselves
    /// (`deliver -v`, `import`'s summary) and stay silent when all went
    /// well: an MTA records `deliver`'s standard error as the delivery
    /// status, cron mails `work`'s.
    pub fn default_level(daemon: bool) -> &'static str {
        if daemon {
            "info"
        } else {
            "warn"
        }
    }
}

/// Whether standard error is the journal stream systemd connected
/// (`JOURNAL_STREAM` names its device and inode, as sd-daemon(3) checks):
/// not merely set, since children with standard error redirected (the
/// detached worker's `worker.log`) inherit the variable.
fn stderr_is_the_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    std::fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

/// The syslog facilities `log.facility` may name.
pub const SYSLOG_FACILITIES: &[&str] = &[
    "mail", "daemon", "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
    "local7",
];

/// `[forward]`.
#[derive(Debug, Clone)]
pub struct ForwardConfig {
    /// `max_bounces`: mailer-daemon mails forwarded at most per window
    /// (default 5).
    pub max_bounces: u32,
    /// `bounce_window`: the window (default 8h).
    pub bounce_window: Duration,
    /// `blacklist`: senders whose mail is kept, never forwarded (default
    /// none).
    pub blacklist: Vec<String>,
}

/// `[signatures]`.
#[derive(Debug, Clone)]
pub struct SignaturesConfig {
    /// `keyrings`: files of the admins' OpenPGP certificates, armored or
    /// binary (default `["<data_dir>/admins.asc"]`).
    pub keyrings: Vec<PathBuf>,
    /// `max_age`: oldest signature accepted (default 7 days).
    pub max_age: Duration,
    /// `require_signed_commands`: keyword commands must be signed too
    /// (default true).
    pub require_signed_commands: bool,
    /// `require_bound_commands`: a signed keyword command must name its
    /// build (`retry hello_2.10-3 dist=unstable arch=amd64`, or the quoted
    /// log's `Package:`/`Version:` lines) (default true). Unbound commands
    /// can be replayed against another build by rewriting the unsigned
    /// Subject.
    pub require_bound_commands: bool,
    /// `require_signed_logs`: every builder's log mails must be
    /// PGP/MIME-signed by one of its `keyrings` (default false).
    pub require_signed_logs: bool,
    /// `trusted_senders`: with `require_signed_commands = false`, the only
    /// addresses whose unsigned keyword commands are accepted (default none).
    pub trusted_senders: Vec<String>,
}

impl SignaturesConfig {
    /// The keyring files that exist (a missing one is reported by
    /// `check-config`; signatures by its keys are then refused).
    pub fn existing_keyrings(&self) -> Vec<PathBuf> {
        self.keyrings
            .iter()
            .filter(|p| p.exists())
            .cloned()
            .collect()
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Copy)]
pub struct LimitsConfig {
    /// `max_message_size`: largest mail accepted, in bytes (default 512 MiB).
    pub max_message_size: u64,
    /// `max_log_size`: largest decompressed log, in bytes (default 2 GiB).
    pub max_log_size: u64,
    /// `max_log_ratio`: largest ratio of a compressed log's inflated size
    /// to its compressed size, for logs over 64 MiB (default 100; 0: no
    /// ratio limit).
    pub max_log_ratio: u64,
}

/// `[database]`.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `path`: the sled database directory (default `<data_dir>/db`);
    /// with `url`, the directory of the worker's lock and log files.
    pub path: PathBuf,
    /// `url`: a PostgreSQL database (`postgresql://user:password@host/db`)
    /// instead of sled. Never print it: [`DatabaseConfig::describe`] and
    /// [`redact_url`] hide the password.
    pub url: Option<String>,
    /// `tls_ca_file`: PEM certificates the PostgreSQL server's certificate
    /// may chain to, beside the Mozilla roots (a private CA).
    pub tls_ca_file: Option<PathBuf>,
    /// `lock_timeout`: how long a command waits for the database (default 30s).
    pub lock_timeout: Duration,
    /// `connections`: with `url`, the most connections to PostgreSQL a
    /// process opens at once (default [`DEFAULT_CONNECTIONS`]); a daemon's
    /// mail commits run side by side on them, and a commit waits up to
    /// `lock_timeout` for one to be free.
    pub connections: usize,
    /// `cache_size`: sled's page cache, in bytes (default 32 MiB).
    pub cache_size: u64,
    /// `import_flush_every`: during `import`, make commits durable after
    /// this many bytes of mail (default 64 MiB) and at the end.
    pub import_flush_bytes: u64,
    /// `log_archive`: directory of the compressed build logs (default
    /// `<data_dir>/logs`).
    pub log_archive: PathBuf,
    /// `mail_blobs`: directory of the large quarantined mails and the
    /// large mails kept to be forwarded, as blobs (default
    /// `<data_dir>/mails`; see [`crate::store::blobs::Blobs`]).
    pub mail_blobs: PathBuf,
}

impl DatabaseConfig {
    /// Where the database is, in words, the password hidden: the
    /// PostgreSQL URL or the sled directory.
    pub fn describe(&self) -> String {
        match &self.url {
            Some(u) => redact_url(u),
            None => self.path.display().to_string(),
        }
    }

    /// Whether there may be a database to read: the sled directory
    /// exists, or a PostgreSQL URL is set (opening it says whether it has
    /// a schema: `buildmail migrate`).
    pub fn may_exist(&self) -> bool {
        self.url.is_some() || self.path.exists()
    }
}

/// `database.connections` when the configuration does not say: room for
/// a dozen LMTP sessions committing at once beside the effects, a sync
/// and the status pages (more sessions wait for a free connection;
/// Postfix opens up to `lmtp_destination_concurrency_limit`, 20 by
/// default).
pub const DEFAULT_CONNECTIONS: usize = 16;

/// Whether `url` names a PostgreSQL database (`postgresql://` or
/// `postgres://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgresql://") || url.starts_with("postgres://")
}

/// `url` with its password replaced by `***`: the user-info password
/// (`postgresql://user:secret@host/db`) and a `password=` parameter.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    // `password=...` as a query parameter or a key=value setting.
    let mut result = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.find("password=") {
        let boundary = i == 0 || matches!(rest.as_bytes()[i - 1], b'?' | b'&' | b' ');
        result.push_str(&rest[..i + "password=".len()]);
        rest = &rest[i + "password=".len()..];
        if boundary {
            let end = rest.find(['&', ' ']).unwrap_or(rest.len());
            result.push_str("***");
            rest = &rest[end..];
        }
    }
    result.push_str(rest);
    result
}

/// The default configuration file name, looked up in the current directory.
pub const DEFAULT_CONFIG_FILE: &str = "buildmail.toml";

/// The environment variable naming a configuration file.
pub const CONFIG_ENV: &str = "BUILDMAIL_CONFIG";

/// Whether `address` is in a domain RFC 2606 reserves for examples
/// (`example.org`, `example.com`, `example.net`, or below one): a
/// placeholder left from the example configuration.
pub fn is_example_address(address: &str) -> bool {
    let domain = domain_of(address).to_ascii_lowercase();
    ["example.org", "example.com", "example.net"]
        .iter()
        .any(|e| domain == *e || domain.ends_with(&format!(".{e}")))
}

/// The domain of `address` (`localhost` when it has none): the right-hand
/// side of the Message-IDs buildmail makes.
pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("localhost", |(_, d)| d)
}

/// The prefix of every Message-ID buildmail makes
/// (`buildmail.<kind>.<...>@<domain of from_address>`).
pub const OWN_MESSAGE_ID_PREFIX: &str = "buildmail.";

impl Config {
    /// Whether `message_id` (without angle brackets) is one buildmail made:
    /// a notification's, an error reply's, a question's.
    pub fn is_own_message_id(&self, message_id: &str) -> bool {
        let id = message_id.trim_matches(|c| c == '<' || c == '>');
        id.strip_prefix(OWN_MESSAGE_ID_PREFIX)
            .and_then(|rest| rest.rsplit_once('@'))
            .is_some_and(|(_, domain)| domain.eq_ignore_ascii_case(domain_of(&self.from_address)))
    }

    /// Loads the configuration: `explicit` if given, else `$BUILDMAIL_CONFIG`,
    /// else `./buildmail.toml` if it exists, else the built-in defaults.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => match std::env::var_os(CONFIG_ENV) {
                Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
                _ => {
                    let p = PathBuf::from(DEFAULT_CONFIG_FILE);
                    p.is_file().then_some(p)
                }
            },
        };
        match path {
            None => Config::from_toml("", None),
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Config::from_toml(&text, Some(&path))
            }
        }
    }

    /// Builds a configuration from TOML text; `path` is the file it came from
    /// (relative paths resolve against its directory).
    pub fn from_toml(text: &str, path: Option<&Path>) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.map(Path::to_path_buf).unwrap_or_default(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let base = match path.and_then(Path::parent) {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        };
        let mut ctx = resolve::Ctx {
            data_dir: PathBuf::new(),
            base,
            admin_address: raw
                .admin_address
                .unwrap_or_else(|| "buildd-admin@example.org".into()),
            from_address: raw
                .from_address
                .unwrap_or_else(|| "buildd@example.org".into()),
            default_arch: raw.default_arch.unwrap_or_else(|| "amd64".into()),
        };
        ctx.data_dir = ctx.path(
            raw.data_dir
                .unwrap_or_else(|| PathBuf::from("buildmail-data")),
        );
        check_address("admin_address", &ctx.admin_address)?;
        check_address("from_address", &ctx.from_address)?;
        if !crate::debian::names::is_arch_name(&ctx.default_arch) {
            return Err(ConfigError::Invalid {
                key: "default_arch",
                message: format!(
                    "{:?} is not a Debian architecture name (for example \"amd64\")",
                    ctx.default_arch
                ),
            });
        }
        let limits = raw.limits.resolve()?;
        let signatures = raw.signatures.resolve(&ctx)?;
        let notify = raw.notify.resolve(&ctx)?;
        let builders = resolve::builders(raw.builders, &ctx)?;
        let replies = resolve::replies(raw.replies, &ctx, &notify, &signatures, &builders)?;
        Ok(Config {
            source: path.map(Path::to_path_buf),
            database: raw.database.resolve(&ctx)?,
            upload: raw.upload.resolve(&ctx)?,
            outbox: raw.outbox.resolve(&ctx)?,
            forward: raw.forward.resolve()?,
            archive: raw.archive.resolve(&ctx)?,
            log: raw.log.resolve()?,
            serve: raw.serve.resolve(&ctx, &limits)?,
            limits,
            signatures,
            notify,
            replies,
            builders,
            data_dir: ctx.data_dir,
            admin_address: ctx.admin_address,
            from_address: ctx.from_address,
            default_arch: ctx.default_arch,
        })
    }

    /// Where mails too large for the database are kept.
    pub fn quarantine_dir(&self) -> PathBuf {
        self.data_dir.join("quarantine")
    }

    /// Replaces the data directory (and the database and log archive paths
    /// under it, unless the configuration set them explicitly elsewhere).
    pub fn with_data_dir(mut self, dir: PathBuf) -> Config {
        if self.database.path == self.data_dir.join("db") {
            self.database.path = dir.join("db");
        }
        if self.database.log_archive == self.data_dir.join("logs") {
            self.database.log_archive = dir.join("logs");
        }
        if self.database.mail_blobs == self.data_dir.join("mails") {
            self.database.mail_blobs = dir.join("mails");
        }
        if self.serve.control == self.data_dir.join("control.sock") {
            self.serve.control = dir.join("control.sock");
        }
        for (path, name) in [
            (&mut self.upload.build_dir, "build"),
            (&mut self.upload.queue_dir, "upload"),
            (&mut self.outbox.dir, "outbox"),
        ] {
            if *path == self.data_dir.join(name) {
                *path = dir.join(name);
            }
        }
        for kr in &mut self.signatures.keyrings {
            if *kr == self.data_dir.join("admins.asc") {
                *kr = dir.join("admins.asc");
            }
        }
        self.data_dir = dir;
        self
    }

    /// Problems that do not stop buildmail but that an admin should know,
    /// in plain words (used by `check-config`).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let archive_keys =
            !self.archive.keyrings.is_empty() || !self.archive.dkim.domains.is_empty();
        if !archive_keys && self.archive.trust_unsigned_senders {
            w.push(format!(
                "weak: archive.trust_unsigned_senders is true: an unsigned ACCEPTED or REJECTED mail whose From: says {} moves uploaded builds and sends FAILEDTOUPLOAD mails, and a From: header is easy to forge; give buildmail the archive's key (archive.keyrings) or its DKIM domain (archive.dkim_domains) instead",
                self.archive.senders.join(", ")
            ));
        } else if !archive_keys {
            w.push(
                "archive.keyrings and archive.dkim_domains are empty: no archive answer (ACCEPTED, REJECTED, ...) moves a build; each is recorded and forwarded to the admins as unauthenticated. Give buildmail the archive's key (archive.keyrings; see the README, Setting it up)".into(),
            );
        }
        if self.archive.senders.is_empty() {
            w.push(
                "archive.senders is empty: answers signed by the archive's key are taken from any sender; list the archive's and the upload queue's addresses".into(),
            );
        }
        if self.builders.is_empty() {
            w.push(
                "no [[builders]] are configured: a log mail from any sender moves builds (an open farm); list your buildds' senders and architectures".into(),
            );
        }
        // The example configuration's placeholders (RFC 2606 domains),
        // each named with its key: mail to them goes nowhere, and mail
        // from them never comes.
        if is_example_address(&self.admin_address) {
            w.push(format!(
                "admin_address is {}, an example address: set it to the buildd admins' address (forwards, bounces and questions go there)",
                self.admin_address
            ));
        }
        if is_example_address(&self.from_address) {
            w.push(format!(
                "from_address is {}, an example address: set it to the address buildmail's mail comes from (the admins' replies to it must reach buildmail)",
                self.from_address
            ));
        }
        let examples = |list: &[String]| -> Vec<String> {
            list.iter()
                .filter(|a| is_example_address(a))
                .cloned()
                .collect()
        };
        let admins = examples(&self.notify.buildd_admins);
        if !admins.is_empty() {
            w.push(format!(
                "notify.buildd_admins has the example address {}: list the addresses that hear of every failed upload",
                admins.join(", ")
            ));
        }
        let senders = examples(&self.archive.senders);
        if !senders.is_empty() {
            w.push(format!(
                "archive.senders has the example address {}: list the From addresses of your archive's and upload queue's mails (an ACCEPTED or REJECTED from anyone else moves nothing)",
                senders.join(", ")
            ));
        }
        for b in &self.builders {
            let senders = examples(&b.senders);
            if !senders.is_empty() {
                w.push(format!(
                    "[[builders]] entry {:?} has the example sender {}: describe your buildds (name, senders, arches); a log from any other address moves nothing",
                    b.name,
                    senders.join(", ")
                ));
            }
        }
        if self.limits.max_log_size < 1 << 20 {
            w.push(
                "limits.max_log_size is under 1 MiB: most real build logs will be refused".into(),
            );
        }
        if !self.signatures.require_signed_commands {
            w.push(format!(
                "signatures.require_signed_commands is false: unsigned keyword commands from {} are accepted, and a From: header is easy to forge",
                if self.signatures.trusted_senders.is_empty() {
                    "nobody (trusted_senders is empty)".to_string()
                } else {
                    self.signatures.trusted_senders.join(", ")
                }
            ));
        }
        if self.data_dir.exists() && !self.data_dir.is_dir() {
            w.push(format!(
                "data_dir {} exists and is not a directory",
                self.data_dir.display()
            ));
        }
        w
    }
}

#[cfg(test)]
mod tests;
