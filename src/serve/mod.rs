//! `buildmail serve`: one process that owns the store ([`Core`]) and
//! answers on three kinds of listener, on tokio:
//!
//! * LMTP (RFC 2033, [`lmtp`]) on unix and TCP sockets, for the MTA: each
//!   accepted mail is committed and flushed before its recipients get
//!   their 250 (the same durability as `deliver`'s exit 0); a mail that
//!   cannot be committed gets 451 per recipient, so the MTA keeps it.
//! * The control socket ([`http`], `[serve] control`): HTTP/1.1 + JSON on
//!   a unix socket (mode 0660: its owner and group are who may use it),
//!   the way every command reaches the daemon — `deliver` hands its mail
//!   over, queries and writes go through the hub's doors ([`client`] is
//!   the other end).
//! * Optionally a TCP listener for read-only queries and the status pages
//!   (`[serve] http`, [`web`]).
//!
//! Sessions and requests prepare their mails in parallel (tokio's
//! blocking pool); writes go through the hub's commit gate, one at a time
//! (side by side on PostgreSQL, whose commits check what they read), and
//! a flush makes every commit before it durable (group commit). The
//! effects and the archive sync run in tasks of their own
//! ([`crate::hub::tasks`]).
//!
//! * SIGTERM or SIGINT: stop accepting, end idle LMTP sessions with 421,
//!   let a session inside DATA finish its mail (at most
//!   [`SHUTDOWN_GRACE`]), stop a merge after its batch, finish the effects
//!   round, flush, exit 0.
//! * SIGHUP: read the configuration, keyrings and templates again
//!   ([`Core::reload`]); one that does not load is refused and the
//!   running one kept.
//! * systemd ([`systemd`]): readiness, reloading and stopping notices, the
//!   watchdog, and socket activation.

mod body;
pub mod client;
mod http;
mod limits;
mod lmtp;
pub mod systemd;
mod web;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::{TcpListener, UnixListener};

use crate::config::Config;
use crate::hub::{tasks, Core};
use crate::store::Store;

/// How long SIGTERM waits for the sessions in progress.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How often the effects run without a new mail (retries, notices whose
/// quiet period ended) — and how often a due sync is noticed.
pub const EFFECTS_EVERY: Duration = Duration::from_secs(60);

/// Where to take LMTP.
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

/// What the LMTP sessions share.
pub(crate) struct Shared {
    /// The hub every mail goes through.
    pub(crate) core: Arc<Core>,
    /// The host name in the greeting.
    pub(crate) hostname: String,
    /// Session slots and the byte budget of the mails in flight (sized
    /// when the daemon starts).
    pub(crate) limits: limits::Limits,
}

impl Shared {
    /// The configuration now.
    pub(crate) fn config(&self) -> Arc<Config> {
        self.core.config()
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
    let store: Arc<dyn Store> =
        Arc::from(crate::store::open(&config.database).context("opening the database")?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let pages = pages_runtime(config.serve.http_workers)?;
    let core = Arc::new(Core::new(
        config,
        config_path,
        store,
        crate::time::system(),
        EFFECTS_EVERY,
    ));
    let result = rt.block_on(serve(
        core.clone(),
        listen,
        inherited,
        pages.handle().clone(),
    ));
    // Whatever happened, what was committed is made durable.
    core.store().flush().context("flushing the database")?;
    // A download the sync task abandoned is not waited for.
    rt.shutdown_timeout(Duration::from_secs(1));
    pages.shutdown_timeout(Duration::from_secs(1));
    result
}

/// How much lower than the mail's the status pages' priority is (the
/// nice value of their threads): when both want the CPU, the mail gets
/// about nine tenths of it; when the mail is idle, the pages get all.
pub const PAGE_NICE: i32 = 10;

/// The runtime of the public listener (`[serve] http`: the status pages
/// and read-only queries): threads of its own, named `page`, each at nice
/// [`PAGE_NICE`] (Linux gives every thread its own), so that a flood of
/// page requests — their HTTP work as well as their reading and
/// rendering — slows the pages, not the LMTP sessions and the control
/// socket, which run on the main runtime at the daemon's priority.
fn pages_runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .thread_name("page")
        .on_thread_start(|| {
            // SAFETY: changes the calling thread's own nice value.
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, PAGE_NICE);
            }
        })
        .enable_all()
        .build()
        .context("starting the status pages' runtime")
}

/// The sockets of each kind, bound or taken from systemd.
struct Sockets {
    lmtp: Vec<Listener>,
    control: Listener,
    http: Option<Listener>,
}

impl Sockets {
    /// The sockets systemd passed replace the configured ones of their
    /// kind (by `FileDescriptorName=`); the rest are bound as configured.
    async fn open(
        config: &Config,
        listen: &[Listen],
        inherited: Vec<(systemd::Inherited, String)>,
    ) -> anyhow::Result<Sockets> {
        let (mut lmtp, mut control, mut http) = (Vec::new(), None, None);
        let from_systemd = !inherited.is_empty();
        for (socket, name) in inherited {
            let l = Listener::adopt(socket)?;
            match name.as_str() {
                "control" => control = Some(l),
                "http" => http = Some(l),
                _ => lmtp.push(l),
            }
        }
        if !from_systemd {
            for l in listen {
                lmtp.push(Listener::bind(l).await?);
            }
        }
        let control = match control {
            Some(c) => c,
            None => Listener::bind(&Listen::Unix(config.serve.control.clone())).await?,
        };
        if http.is_none() {
            if let Some(addr) = &config.serve.http {
                http = Some(Listener::bind(&Listen::Tcp(addr.clone())).await?);
            }
        }
        Ok(Sockets {
            lmtp,
            control,
            http,
        })
    }
}

async fn serve(
    core: Arc<Core>,
    listen: Vec<Listen>,
    inherited: Vec<(systemd::Inherited, String)>,
    pages: tokio::runtime::Handle,
) -> anyhow::Result<()> {
    // The signal handlers first: a SIGTERM that comes as soon as a
    // listener answers (a busy machine may not have run this task on
    // since) must stop the daemon cleanly, not kill it.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let sockets = Sockets::open(&core.config(), &listen, inherited).await?;
    let mut listening: Vec<String> = sockets.lmtp.iter().map(Listener::describe).collect();
    listening.push(format!("control {}", sockets.control.describe()));
    if let Some(h) = &sockets.http {
        listening.push(format!("http {}", h.describe()));
    }
    core.set_listening(listening);
    let shared = Arc::new(Shared {
        limits: limits::Limits::new(&core.config().serve),
        core: core.clone(),
        hostname: crate::effects::claim::host_name(),
    });
    let mut acceptors = Vec::new();
    for listener in sockets.lmtp {
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
    let mut servers = vec![tokio::spawn(http::serve(
        http::control(core.clone()),
        sockets.control,
        stop.clone(),
    ))];
    if let Some(h) = sockets.http {
        let (public, stop) = (http::public(core.clone()), stop.clone());
        servers.push(pages.spawn(async move {
            // Registered again with the pages' runtime, which then drives
            // its connections.
            match h.moved_here() {
                Ok(h) => http::serve(public, h, stop).await,
                Err(e) => tracing::error!("serve: http: {e}"),
            }
        }));
    }
    let effects = tokio::spawn(tasks::effects_task(core.clone(), stop.clone()));
    let sync = tokio::spawn(tasks::sync_task(core.clone(), stop.clone()));
    if let Some(every) = systemd::watchdog() {
        tokio::spawn(watchdog_task(core.clone(), every / 2, stop.clone()));
    }
    systemd::ready("accepting mail");
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
                match core.reload() {
                    Ok(()) => tracing::info!("serve: SIGHUP: configuration reloaded"),
                    Err(e) => tracing::error!("serve: SIGHUP: the configuration was not reloaded, the running one is kept: {e}"),
                }
                systemd::ready("accepting mail");
            }
        }
    }
    systemd::stopping();
    core.stop();
    let _ = stop_tx.send(true);
    for a in acceptors {
        let _ = a.await;
    }
    // The sessions in progress finish (each holds a slot).
    if !shared.limits.all_ended(SHUTDOWN_GRACE).await {
        tracing::warn!("serve: sessions still open after {SHUTDOWN_GRACE:?}; their unanswered mails stay with the MTA");
    }
    for s in servers {
        if tokio::time::timeout(SHUTDOWN_GRACE, s).await.is_err() {
            tracing::warn!("serve: requests still running after {SHUTDOWN_GRACE:?}");
        }
    }
    // A merge stops after its batch; an effects round in progress ends
    // (the next one would not start).
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, sync).await;
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

/// A bound socket.
enum Listener {
    /// A unix socket, and its file when buildmail made it (removed on
    /// close; a socket systemd passed is systemd's).
    Unix(UnixListener, Option<PathBuf>),
    Tcp(TcpListener),
}

/// Makes the unix socket `path` connectable by its owner and group (the
/// MTA, the admins: put them in the daemon's group), whatever the umask.
fn owner_and_group_only(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

impl Listener {
    /// The same socket, registered with the runtime this is called on.
    fn moved_here(self) -> std::io::Result<Listener> {
        Ok(match self {
            Listener::Unix(l, path) => Listener::Unix(UnixListener::from_std(l.into_std()?)?, path),
            Listener::Tcp(l) => Listener::Tcp(TcpListener::from_std(l.into_std()?)?),
        })
    }

    /// Binds `l` (a stale unix socket is replaced; a live one is refused:
    /// another daemon answers there).
    async fn bind(l: &Listen) -> anyhow::Result<Listener> {
        Ok(match l {
            Listen::Unix(path) => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    anyhow::bail!(
                        "{}: another process answers on this socket (is buildmail serve running already?)",
                        path.display()
                    );
                }
                let _ = std::fs::remove_file(path);
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                let listener = UnixListener::bind(path)
                    .with_context(|| format!("listening on {}", path.display()))?;
                owner_and_group_only(path)?;
                tracing::info!("serve: listening on unix:{}", path.display());
                Listener::Unix(listener, Some(path.clone()))
            }
            Listen::Tcp(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("listening on {addr}"))?;
                tracing::info!("serve: listening on tcp:{}", listener.local_addr()?);
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
                    "serve: listening on a unix socket systemd passed ({:?})",
                    l.local_addr().ok()
                );
                Listener::Unix(l, None)
            }
            systemd::Inherited::Tcp(l) => {
                let l = TcpListener::from_std(l).context("a socket systemd passed")?;
                tracing::info!("serve: listening on tcp:{} (from systemd)", l.local_addr()?);
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
    core: Arc<Core>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let c = core.clone();
        match tokio::task::spawn_blocking(move || c.store().seen("watchdog")).await {
            Ok(Ok(_)) => systemd::ping(),
            Ok(Err(e)) => tracing::error!("serve: watchdog: the store does not answer: {e}"),
            Err(e) => tracing::error!("serve: watchdog: {e}"),
        }
    }
}
