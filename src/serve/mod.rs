//! `buildmail serve`: one process that owns the store and takes mail over
//! LMTP (RFC 2033), on tokio.
//!
//! * Each accepted mail is committed and flushed before its recipients get
//!   their 250 (the same durability as `deliver`'s exit 0); a mail that
//!   cannot be committed gets 451 per recipient, so the MTA keeps it; only
//!   a mail over `limits.max_message_size` gets a 5xx.
//! * Sessions read, parse and check their mails in parallel (tokio's
//!   blocking pool); commits run one at a time against the one store, and
//!   a flush makes every commit before it durable: group commit
//!   ([`GroupCommit`]).
//! * The effects (explanations, jobs, notices, the outbox) run in a task of
//!   the daemon after commits and every minute, with the store held by the
//!   daemon but no transaction open while an effect runs
//!   ([`crate::effects::StoreAccess::Held`]).
//! * SIGTERM or SIGINT: stop accepting, end idle sessions with 421, let a
//!   session inside DATA finish its mail (at most [`SHUTDOWN_GRACE`]),
//!   finish the effects round, flush, exit 0.
//! * SIGHUP: read the configuration again ([`Shared::reload`]); one that
//!   does not load is refused and the running one kept.
//! * systemd ([`systemd`]): readiness, reloading and stopping notices, the
//!   watchdog, and socket activation.
//!
//! `deliver` hands its mail over the daemon's unix socket when one answers
//! ([`handover`]).

pub mod handover;
mod limits;
mod lmtp;
pub mod status;
pub mod systemd;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Notify;

use crate::config::Config;
use crate::effects::{worker, StoreAccess};
use crate::store::Store;
use crate::time::SharedClock;

/// How long SIGTERM waits for the sessions in progress.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How often the effects run without a new mail (retries, notices whose
/// quiet period ended) — and how often a due sync is noticed.
pub const EFFECTS_EVERY: Duration = Duration::from_secs(60);

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A unix socket (created; a stale one is replaced).
    Unix(PathBuf),
    /// A TCP address (`127.0.0.1:2424`).
    Tcp(String),
}

impl Listen {
    /// Parses `unix:/path` or `tcp:host:port` (or a bare `host:port`).
    pub fn parse(s: &str) -> Result<Listen, String> {
        if let Some(p) = s.strip_prefix("unix:") {
            return Ok(Listen::Unix(PathBuf::from(p)));
        }
        let addr = s.strip_prefix("tcp:").unwrap_or(s);
        if addr
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        {
            Ok(Listen::Tcp(addr.to_string()))
        } else {
            Err(format!(
                "{s:?}: write unix:/path/to/socket or tcp:host:port"
            ))
        }
    }
}

/// What the sessions share.
pub(crate) struct Shared {
    /// The configuration; replaced by SIGHUP ([`Shared::reload`]).
    config: std::sync::RwLock<Arc<Config>>,
    /// Where the configuration was read from (`--config`; `None`: the
    /// environment or the default place, looked up again on reload).
    config_path: Option<PathBuf>,
    pub(crate) store: Arc<dyn Store>,
    /// Wakes the effects task after a commit.
    pub(crate) effects: Notify,
    /// One commit (with the reads it depends on) at a time: mail commits
    /// and the effects' steps.
    pub(crate) commit: std::sync::Mutex<()>,
    /// The host name in the greeting.
    pub(crate) hostname: String,
    /// Which commits are durable.
    pub(crate) durable: GroupCommit,
    /// When the daemon started (Unix seconds).
    started: i64,
    /// Where it listens (for `status`).
    listening: std::sync::Mutex<Vec<String>>,
    /// The clock every commit, effect and sync reads "now" from.
    pub(crate) clock: SharedClock,
    /// How often the effects run without a new mail ([`EFFECTS_EVERY`]).
    tick: Duration,
    /// Session slots and the byte budget of the mails in flight (sized
    /// when the daemon starts).
    pub(crate) limits: limits::Limits,
}

impl Shared {
    fn new(
        config: Config,
        config_path: Option<PathBuf>,
        store: Arc<dyn Store>,
        clock: SharedClock,
        tick: Duration,
    ) -> Shared {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        Shared {
            limits: limits::Limits::new(&config.serve),
            config: std::sync::RwLock::new(Arc::new(config)),
            config_path,
            store,
            effects: Notify::new(),
            commit: std::sync::Mutex::new(()),
            hostname,
            durable: GroupCommit::default(),
            started: clock.now(),
            listening: std::sync::Mutex::new(Vec::new()),
            clock,
            tick,
        }
    }

    /// The status `buildmail status` shows, this daemon's part included.
    pub(crate) fn status(&self) -> Result<status::Status, crate::store::StoreError> {
        let mut s = status::gather(&*self.store, &self.config())?;
        s.daemon = Some(status::Daemon {
            pid: std::process::id(),
            started: self.started,
            committed: self.durable.count(),
            listening: self
                .listening
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        });
        Ok(s)
    }

    /// The configuration now (a mail or an effects round keeps the one it
    /// started with).
    pub(crate) fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the configuration again (SIGHUP): a configuration that does
    /// not load is refused and the running one kept. What only a restart
    /// can change (the database, the listeners) is kept, with a warning.
    /// The keyrings are read by every mail, so a changed keyring file
    /// counts from the next mail on.
    pub(crate) fn reload(&self) -> Result<(), String> {
        let new = Config::load(self.config_path.as_deref()).map_err(|e| e.to_string())?;
        let old = self.config();
        if new.database.path != old.database.path {
            tracing::warn!(
                "serve: reload: database.path changed ({} → {}); the daemon keeps {} until it is restarted",
                old.database.path.display(),
                new.database.path.display(),
                old.database.path.display()
            );
        }
        if new.serve.lmtp != old.serve.lmtp {
            tracing::warn!("serve: reload: serve.lmtp changed; the listeners change when the daemon is restarted");
        }
        let (a, b) = (&new.serve, &old.serve);
        if (
            a.unix_sessions,
            a.tcp_sessions,
            a.tcp_sessions_per_peer,
            a.mail_budget,
        ) != (
            b.unix_sessions,
            b.tcp_sessions,
            b.tcp_sessions_per_peer,
            b.mail_budget,
        ) {
            tracing::warn!("serve: reload: the session pools and serve.mail_budget change when the daemon is restarted");
        }
        let mut new = new;
        new.database = old.database.clone();
        *self
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(new);
        Ok(())
    }
}

/// Group commit: mail commits are numbered as they happen (under the
/// commit lock), and a session waits only until a flush that started
/// after its commit has ended. While one flush runs, the sessions that
/// commit meanwhile queue behind it and the next flush covers them all:
/// throughput grows with the number of connections while each reply
/// still waits for its own mail to be on disk.
#[derive(Default)]
pub(crate) struct GroupCommit {
    /// Commits so far (taken under the commit lock, after each commit).
    committed: std::sync::atomic::AtomicU64,
    /// The commits known durable; held while a flush runs.
    flushed: std::sync::Mutex<u64>,
}

impl GroupCommit {
    /// Counts a commit that just happened; its number. Call under the
    /// commit lock, after the commit.
    pub(crate) fn committed(&self) -> u64 {
        self.committed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1
    }

    /// Mail commits so far.
    pub(crate) fn count(&self) -> u64 {
        self.committed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Returns once commit `seq` is durable: at once when a flush since
    /// covered it, else after flushing `store` (which covers every commit
    /// counted before the flush began).
    pub(crate) fn flush_through(
        &self,
        seq: u64,
        store: &dyn Store,
    ) -> Result<(), crate::store::StoreError> {
        let mut flushed = self
            .flushed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *flushed >= seq {
            return Ok(());
        }
        let target = self.committed.load(std::sync::atomic::Ordering::SeqCst);
        store.flush()?;
        *flushed = target;
        Ok(())
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
/// `config_path` is where the configuration came from (`--config`), read
/// again on SIGHUP.
pub fn run(
    config: Config,
    config_path: Option<PathBuf>,
    listen: Vec<Listen>,
) -> anyhow::Result<()> {
    let inherited = systemd::inherited().context("taking the sockets systemd passed")?;
    if listen.is_empty() && inherited.is_empty() {
        anyhow::bail!("nothing to listen on: give --lmtp unix:/path or --lmtp tcp:host:port, set [serve] lmtp, or start serve from buildmail.socket");
    }
    let store: Arc<dyn Store> =
        Arc::from(crate::store::open(&config.database).context("opening the database")?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let shared = Arc::new(Shared::new(
        config,
        config_path,
        store,
        crate::time::system(),
        EFFECTS_EVERY,
    ));
    let result = rt.block_on(serve(shared.clone(), listen, inherited));
    // Whatever happened, what was committed is made durable.
    shared.store.flush().context("flushing the database")?;
    result
}

async fn serve(
    shared: Arc<Shared>,
    listen: Vec<Listen>,
    inherited: Vec<systemd::Inherited>,
) -> anyhow::Result<()> {
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut acceptors = Vec::new();
    // Socket activation: the sockets systemd passed replace the
    // configured addresses.
    let listeners = if inherited.is_empty() {
        let mut bound = Vec::new();
        for l in &listen {
            bound.push(Listener::bind(l).await?);
        }
        bound
    } else {
        inherited
            .into_iter()
            .map(Listener::adopt)
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    *shared
        .listening
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) =
        listeners.iter().map(Listener::describe).collect();
    for listener in listeners {
        let (sh, mut st) = (shared.clone(), stop.clone());
        acceptors.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = st.changed() => break,
                    conn = listener.accept() => match conn {
                        Ok((stream, peer)) => spawn_session(&sh, peer, stream, st.clone()),
                        Err(e) => tracing::warn!("serve: accept: {e}"),
                    },
                }
            }
            listener.close();
        }));
    }
    let effects = tokio::spawn(effects_task(shared.clone(), stop.clone()));
    if let Some(every) = systemd::watchdog() {
        tokio::spawn(watchdog_task(shared.clone(), every / 2, stop.clone()));
    }
    systemd::ready("accepting mail over LMTP");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => {
                tracing::info!("serve: SIGTERM, finishing");
                break;
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("serve: SIGINT, finishing");
                break;
            }
            _ = hup.recv() => {
                systemd::reloading();
                match shared.reload() {
                    Ok(()) => tracing::info!("serve: SIGHUP: configuration reloaded"),
                    Err(e) => tracing::error!("serve: SIGHUP: the configuration was not reloaded, the running one is kept: {e}"),
                }
                systemd::ready("accepting mail over LMTP");
            }
        }
    }
    systemd::stopping();
    let _ = stop_tx.send(true);
    for a in acceptors {
        let _ = a.await;
    }
    // The sessions in progress finish (each holds a slot).
    if !shared.limits.all_ended(SHUTDOWN_GRACE).await {
        tracing::warn!("serve: sessions still open after {SHUTDOWN_GRACE:?}; their unanswered mails stay with the MTA");
    }
    // An effects round in progress ends (the next one would not start).
    if tokio::time::timeout(SHUTDOWN_GRACE, effects).await.is_err() {
        tracing::warn!(
            "serve: an effect still runs after {SHUTDOWN_GRACE:?}; the next worker takes it over"
        );
    }
    Ok(())
}

/// A connection of either kind.
trait Conn: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Conn for T {}

/// A bound LMTP socket.
enum Listener {
    /// A unix socket, and its file when buildmail made it (removed on
    /// close; a socket systemd passed is systemd's).
    Unix(UnixListener, Option<PathBuf>),
    Tcp(TcpListener),
}

impl Listener {
    /// Binds `l` (a stale unix socket is replaced).
    async fn bind(l: &Listen) -> anyhow::Result<Listener> {
        Ok(match l {
            Listen::Unix(path) => {
                let _ = std::fs::remove_file(path);
                let listener = UnixListener::bind(path)
                    .with_context(|| format!("listening on {}", path.display()))?;
                // Owner and group may connect (the MTA: put its user in
                // the daemon's group), whatever the umask.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
                    .with_context(|| format!("setting the mode of {}", path.display()))?;
                tracing::info!("serve: LMTP on unix:{}", path.display());
                Listener::Unix(listener, Some(path.clone()))
            }
            Listen::Tcp(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("listening on {addr}"))?;
                tracing::info!("serve: LMTP on tcp:{}", listener.local_addr()?);
                Listener::Tcp(listener)
            }
        })
    }

    /// Where it listens, in words.
    fn describe(&self) -> String {
        match self {
            Listener::Unix(_, Some(path)) => format!("unix:{}", path.display()),
            Listener::Unix(l, None) => match l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
            {
                Some(p) => format!("unix:{p} (from systemd)"),
                None => "a unix socket from systemd".to_string(),
            },
            Listener::Tcp(l) => match l.local_addr() {
                Ok(a) => format!("tcp:{a}"),
                Err(_) => "tcp".to_string(),
            },
        }
    }

    /// A socket systemd passed, on the runtime.
    fn adopt(s: systemd::Inherited) -> anyhow::Result<Listener> {
        Ok(match s {
            systemd::Inherited::Unix(l) => {
                let l = UnixListener::from_std(l).context("a socket systemd passed")?;
                tracing::info!(
                    "serve: LMTP on a unix socket systemd passed ({:?})",
                    l.local_addr().ok()
                );
                Listener::Unix(l, None)
            }
            systemd::Inherited::Tcp(l) => {
                let l = TcpListener::from_std(l).context("a socket systemd passed")?;
                tracing::info!("serve: LMTP on tcp:{} (from systemd)", l.local_addr()?);
                Listener::Tcp(l)
            }
        })
    }

    async fn accept(&self) -> std::io::Result<(Box<dyn Conn>, limits::Peer)> {
        Ok(match self {
            Listener::Unix(l, _) => (Box::new(l.accept().await?.0), limits::Peer::Unix),
            Listener::Tcp(l) => {
                let (stream, addr) = l.accept().await?;
                (Box::new(stream), limits::Peer::Tcp(addr.ip()))
            }
        })
    }

    /// Stops listening; a unix socket's file goes.
    fn close(self) {
        if let Listener::Unix(_, Some(path)) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Serves a connection in a task of its own once it has a slot; one
/// that gets none is told 421 and closed.
fn spawn_session<S>(
    shared: &Arc<Shared>,
    peer: limits::Peer,
    mut stream: S,
    stop: tokio::sync::watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let shared = shared.clone();
    tokio::spawn(async move {
        let _slot = match shared.limits.slot(peer).await {
            Ok(slot) => slot,
            Err(refusal) => {
                use tokio::io::AsyncWriteExt;
                tracing::warn!("serve: a connection from {peer:?} refused: {refusal}");
                let _ = stream.write_all(format!("{refusal}\r\n").as_bytes()).await;
                let _ = stream.shutdown().await;
                return;
            }
        };
        if let Err(e) = lmtp::session(&shared, stream, stop).await {
            tracing::debug!("serve: session ended: {e}");
        }
    });
}

/// Pings systemd's watchdog every `every` while the store answers a read
/// (a daemon whose store hangs is restarted by systemd).
async fn watchdog_task(
    shared: Arc<Shared>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let sh = shared.clone();
        match tokio::task::spawn_blocking(move || sh.store.seen("watchdog")).await {
            Ok(Ok(_)) => systemd::ping(),
            Ok(Err(e)) => tracing::error!("serve: watchdog: the store does not answer: {e}"),
            Err(e) => tracing::error!("serve: watchdog: {e}"),
        }
    }
}

/// Syncs every configured suite: the archive read with the store free,
/// each merge under the commit lock.
fn sync_all(shared: &Shared) {
    let config = shared.config();
    let config = &*config;
    for suite in &config.archive.suites {
        let seen = match shared.store.release_seen(suite) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("serve: sync {suite}: {e}");
                continue;
            }
        };
        let now = shared.clock.now();
        let result = match crate::sync::read_suite(config, suite, seen.as_ref(), now) {
            Ok(crate::sync::Read::Unchanged(_)) => {
                tracing::info!("serve: sync {suite}: unchanged");
                continue;
            }
            Ok(crate::sync::Read::New(data)) => {
                let _g = shared
                    .commit
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                crate::sync::merge(&*shared.store, config, &data, now)
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(r) => tracing::info!(
                "serve: sync {suite}: {} sources; {} builds created, {} changed",
                r.sources,
                r.created,
                r.changed
            ),
            Err(e) => tracing::error!("serve: sync {suite}: {e}"),
        }
    }
}

/// The daemon's scheduled work — the effects after each commit and every
/// tick, the archive sync every `serve.sync_every` — on a clock and tick
/// the caller chooses: what `serve` runs beside its listeners, and what
/// the tests drive with an injected clock.
pub struct Scheduler {
    shared: Arc<Shared>,
}

impl Scheduler {
    /// The scheduled work over `store`, reading "now" from `clock`, the
    /// effects running at least every `tick`.
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        clock: SharedClock,
        tick: Duration,
    ) -> Scheduler {
        Scheduler {
            shared: Arc::new(Shared::new(config, None, store, clock, tick)),
        }
    }

    /// Runs until `stop` turns true (an effects round in progress ends
    /// first).
    pub async fn run(&self, stop: tokio::sync::watch::Receiver<bool>) {
        effects_task(self.shared.clone(), stop).await;
    }
}

/// Runs the effects at start, after commits and every tick;
/// syncs the archive at start and every `serve.sync_every`.
async fn effects_task(shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut first = true;
    let mut last_sync: Option<tokio::time::Instant> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        if !first {
            tokio::select! {
                _ = stop.changed() => return,
                _ = shared.effects.notified() => {}
                _ = tokio::time::sleep(shared.tick) => {}
            }
        }
        first = false;
        let config = shared.config();
        let sync_due = match (config.serve.sync_every, config.archive.root.is_some()) {
            (Some(every), true) => last_sync.is_none_or(|t| t.elapsed() >= every),
            _ => false,
        };
        if sync_due {
            last_sync = Some(tokio::time::Instant::now());
            let sh = shared.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || sync_all(&sh)).await {
                tracing::error!("serve: sync task: {e}");
            }
        }
        let sh = shared.clone();
        let r = tokio::task::spawn_blocking(move || {
            worker::run_pending(
                StoreAccess::Guarded(&*sh.store, &sh.commit),
                &config,
                &*sh.clock,
            )
        })
        .await;
        match r {
            Ok(Ok(s)) => {
                if s.explained + s.jobs.len() + s.notices + s.delivered > 0 {
                    tracing::info!(
                        "serve: effects: {} explained, {} job(s), {} notice(s), {} mail(s) delivered",
                        s.explained,
                        s.jobs.len(),
                        s.notices,
                        s.delivered
                    );
                }
            }
            Ok(Err(e)) => tracing::error!("serve: effects: {e}"),
            Err(e) => tracing::error!("serve: effects task: {e}"),
        }
    }
}
