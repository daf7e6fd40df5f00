//! `buildmail serve`: one process that owns the store and takes mail over
//! LMTP (RFC 2033), on tokio.
//!
//! * Each accepted mail is committed and flushed before its recipients get
//!   their 250 (the same durability as `deliver`'s exit 0); a mail that
//!   cannot be committed gets 451 per recipient, so the MTA keeps it; only
//!   a mail over `limits.max_message_size` gets a 5xx.
//! * Commits run on tokio's blocking pool, one at a time against the one
//!   store; sessions read and parse in parallel.
//! * The effects (explanations, jobs, notices, the outbox) run in a task of
//!   the daemon after commits and every minute, with the store held by the
//!   daemon but no transaction open while an effect runs
//!   ([`crate::effects::StoreAccess::Held`]).
//! * SIGTERM or SIGINT: stop accepting, end idle sessions with 421, let a
//!   session inside DATA finish its mail (at most [`SHUTDOWN_GRACE`]),
//!   finish the effects round, flush, exit 0.
//!
//! `deliver` hands its mail over the daemon's unix socket when one answers
//! ([`handover`]). Not yet: group commit, the scheduled `sync`, systemd
//! notify (issue 13 continues).

pub mod handover;
mod lmtp;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Notify, Semaphore};

use crate::config::Config;
use crate::effects::{worker, StoreAccess};
use crate::store::Store;
use crate::time::SystemClock;

/// Sessions at once; further connections wait for a free slot.
pub const MAX_SESSIONS: usize = 64;

/// How long a session may stay silent before it is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

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
    pub(crate) config: Arc<Config>,
    pub(crate) store: Arc<dyn Store>,
    /// Wakes the effects task after a commit.
    pub(crate) effects: Notify,
    /// One commit (with the reads it depends on) at a time: mail commits
    /// and the effects' steps.
    pub(crate) commit: std::sync::Mutex<()>,
    /// The host name in the greeting.
    pub(crate) hostname: String,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(config: Config, listen: Vec<Listen>) -> anyhow::Result<()> {
    if listen.is_empty() {
        anyhow::bail!("nothing to listen on: give --lmtp unix:/path or --lmtp tcp:host:port");
    }
    let store: Arc<dyn Store> =
        Arc::from(crate::store::open(&config.database).context("opening the database")?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let shared = Arc::new(Shared {
        config: Arc::new(config),
        store,
        effects: Notify::new(),
        commit: std::sync::Mutex::new(()),
        hostname,
    });
    let result = rt.block_on(serve(shared.clone(), listen));
    // Whatever happened, what was committed is made durable.
    shared.store.flush().context("flushing the database")?;
    result
}

async fn serve(shared: Arc<Shared>, listen: Vec<Listen>) -> anyhow::Result<()> {
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let slots = Arc::new(Semaphore::new(MAX_SESSIONS));
    let mut acceptors = Vec::new();
    for l in listen {
        let listener = Listener::bind(&l).await?;
        let (sh, mut st, sl) = (shared.clone(), stop.clone(), slots.clone());
        acceptors.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = st.changed() => break,
                    conn = listener.accept() => match conn {
                        Ok(stream) => spawn_session(&sh, &sl, stream, st.clone()),
                        Err(e) => tracing::warn!("serve: accept: {e}"),
                    },
                }
            }
            listener.close();
        }));
    }
    let effects = tokio::spawn(effects_task(shared.clone(), stop.clone()));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("serve: SIGTERM, finishing"),
        _ = tokio::signal::ctrl_c() => tracing::info!("serve: SIGINT, finishing"),
    }
    let _ = stop_tx.send(true);
    for a in acceptors {
        let _ = a.await;
    }
    // The sessions in progress finish (each holds a slot).
    let all = u32::try_from(MAX_SESSIONS).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all))
        .await
        .is_err()
    {
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
    Unix(UnixListener, PathBuf),
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
                tracing::info!("serve: LMTP on unix:{}", path.display());
                Listener::Unix(listener, path.clone())
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

    async fn accept(&self) -> std::io::Result<Box<dyn Conn>> {
        Ok(match self {
            Listener::Unix(l, _) => Box::new(l.accept().await?.0),
            Listener::Tcp(l) => Box::new(l.accept().await?.0),
        })
    }

    /// Stops listening; a unix socket's file goes.
    fn close(self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn spawn_session<S>(
    shared: &Arc<Shared>,
    slots: &Arc<Semaphore>,
    stream: S,
    stop: tokio::sync::watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (shared, slots) = (shared.clone(), slots.clone());
    tokio::spawn(async move {
        let Ok(_slot) = slots.acquire_owned().await else {
            return;
        };
        if let Err(e) = lmtp::session(&shared, stream, stop).await {
            tracing::debug!("serve: session ended: {e}");
        }
    });
}

/// Syncs every configured suite: the archive read with the store free,
/// each merge under the commit lock.
fn sync_all(shared: &Shared) {
    let config = &shared.config;
    for suite in &config.archive.suites {
        let seen = match shared.store.release_seen(suite) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("serve: sync {suite}: {e}");
                continue;
            }
        };
        let now = crate::time::Clock::now(&SystemClock);
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

/// Runs the effects at start, after commits and every [`EFFECTS_EVERY`];
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
                _ = tokio::time::sleep(EFFECTS_EVERY) => {}
            }
        }
        first = false;
        let sync_due = match (
            shared.config.serve.sync_every,
            shared.config.archive.root.is_some(),
        ) {
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
                &sh.config,
                &SystemClock,
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
