//! What the LMTP sessions may take of the daemon, whatever their peers
//! do: session slots — one pool for the unix sockets (the local MTA,
//! `deliver`) and one for TCP, so that TCP clients never starve the
//! local ones, and at most `serve.tcp_sessions_per_peer` sessions from
//! one IP address — and the byte budget (`serve.mail_budget`) for the
//! mails in flight across all sessions: read, being parsed, being
//! committed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::ServeConfig;

/// How long a new connection waits for a free slot in its pool before it
/// is told 421 (try again later) and closed.
pub const SLOT_WAIT: Duration = Duration::from_secs(5);

/// The budget is counted in units of this many bytes (a semaphore
/// acquisition counts at most `u32::MAX` permits).
const UNIT: u64 = 1024;

/// Where a connection came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// A unix socket.
    Unix,
    /// A TCP peer with this address.
    Tcp(IpAddr),
}

/// The slots and the budget ([`crate::serve`] holds one for the daemon).
pub(crate) struct Limits {
    unix: Arc<Semaphore>,
    unix_total: usize,
    tcp: Arc<Semaphore>,
    tcp_total: usize,
    per_peer: usize,
    peers: Peers,
    budget: Arc<Semaphore>,
    budget_bytes: u64,
}

/// Sessions by TCP peer.
type Peers = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// A TCP peer's count of sessions, taken back when dropped.
struct Counted(IpAddr, Peers);

impl Drop for Counted {
    fn drop(&mut self) {
        let mut peers = self.1.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = peers.get_mut(&self.0) {
            *n -= 1;
            if *n == 0 {
                peers.remove(&self.0);
            }
        }
    }
}

/// A session's slot: freed when dropped.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    _counted: Option<Counted>,
}

/// Bytes of the budget a session holds for one mail: given back when
/// dropped (after the mail's commit, or when it is refused).
pub(crate) struct Reservation {
    budget: Arc<Semaphore>,
    units: u64,
}

impl Reservation {
    /// The bytes held.
    pub(crate) fn bytes(&self) -> u64 {
        self.units * UNIT
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.units > 0 {
            self.budget
                .add_permits(usize::try_from(self.units).unwrap_or(usize::MAX));
        }
    }
}

impl Limits {
    /// The limits `serve` sets (read when the daemon starts; a reload
    /// does not resize them).
    pub(crate) fn new(serve: &ServeConfig) -> Limits {
        let units = serve.mail_budget.div_ceil(UNIT).max(1);
        Limits {
            unix: Arc::new(Semaphore::new(serve.unix_sessions)),
            unix_total: serve.unix_sessions,
            tcp: Arc::new(Semaphore::new(serve.tcp_sessions)),
            tcp_total: serve.tcp_sessions,
            per_peer: serve.tcp_sessions_per_peer,
            peers: Arc::new(Mutex::new(HashMap::new())),
            budget: Arc::new(Semaphore::new(
                usize::try_from(units).unwrap_or(Semaphore::MAX_PERMITS),
            )),
            budget_bytes: units * UNIT,
        }
    }

    /// The whole budget, in bytes.
    pub(crate) fn budget(&self) -> u64 {
        self.budget_bytes
    }

    /// A slot for a session from `peer`: `Err` (the 421 reply's text)
    /// when its peer has all the sessions it may have, or when its pool
    /// stays full for [`SLOT_WAIT`].
    pub(crate) async fn slot(&self, peer: Peer) -> Result<Slot, String> {
        let (pool, counted) = match peer {
            Peer::Unix => (&self.unix, None),
            Peer::Tcp(ip) => {
                let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
                let n = peers.entry(ip).or_insert(0);
                if *n >= self.per_peer {
                    return Err(format!(
                        "421 4.7.0 Too many sessions from {ip} (serve.tcp_sessions_per_peer = {}), try again later",
                        self.per_peer
                    ));
                }
                *n += 1;
                // Counted before the wait, so that a peer cannot queue
                // more than its share either; given back on drop.
                (&self.tcp, Some(Counted(ip, self.peers.clone())))
            }
        };
        match tokio::time::timeout(SLOT_WAIT, pool.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot {
                _permit: permit,
                _counted: counted,
            }),
            _ => Err("421 4.3.2 Too many sessions, try again later".to_string()),
        }
    }

    /// Waits until every session has ended (at most `grace`); whether
    /// they did.
    pub(crate) async fn all_ended(&self, grace: Duration) -> bool {
        let both = async {
            let _u = self
                .unix
                .acquire_many(u32::try_from(self.unix_total).unwrap_or(u32::MAX))
                .await;
            let _t = self
                .tcp
                .acquire_many(u32::try_from(self.tcp_total).unwrap_or(u32::MAX))
                .await;
        };
        tokio::time::timeout(grace, both).await.is_ok()
    }

    /// An empty reservation, to [`Limits::grow`].
    pub(crate) fn nothing(&self) -> Reservation {
        Reservation {
            budget: self.budget.clone(),
            units: 0,
        }
    }

    /// Grows `r` to hold at least `bytes`, waiting at most `wait` for
    /// other sessions to give budget back; `false` when it could not (the
    /// reservation is then unchanged) or when `bytes` is more than the
    /// whole budget.
    pub(crate) async fn grow(&self, r: &mut Reservation, bytes: u64, wait: Duration) -> bool {
        let want = bytes.div_ceil(UNIT);
        if want <= r.units {
            return true;
        }
        let more = want - r.units;
        if more * UNIT > self.budget_bytes {
            return false;
        }
        let Ok(more32) = u32::try_from(more) else {
            return false;
        };
        tracing::debug!(
            "budget: {} held, {more} more wanted, {} free",
            r.units,
            self.budget.available_permits()
        );
        match tokio::time::timeout(wait, self.budget.acquire_many(more32)).await {
            Ok(Ok(permit)) => {
                permit.forget();
                r.units += more;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(toml: &str) -> Limits {
        Limits::new(&crate::config::Config::from_toml(toml, None).unwrap().serve)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_budget_is_shared_and_given_back() {
        let l = limits("[limits]\nmax_message_size = \"1MiB\"\n[serve]\nmail_budget = \"1MiB\"\n");
        let mut a = l.nothing();
        assert!(l.grow(&mut a, 700 << 10, Duration::ZERO).await);
        let mut b = l.nothing();
        // Spent: the second mail waits, then gives up.
        assert!(!l.grow(&mut b, 700 << 10, Duration::from_millis(50)).await);
        assert_eq!(b.bytes(), 0);
        drop(a);
        assert!(l.grow(&mut b, 700 << 10, Duration::ZERO).await);
        // Never more than the whole budget.
        let mut c = l.nothing();
        assert!(!l.grow(&mut c, 2 << 20, Duration::ZERO).await);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_peer_gets_its_share_of_slots_and_the_unix_pool_is_its_own() {
        let l = limits("[serve]\ntcp_sessions = 3\ntcp_sessions_per_peer = 2\nunix_sessions = 1\n");
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let a = l.slot(Peer::Tcp(ip)).await.unwrap();
        let _b = l.slot(Peer::Tcp(ip)).await.unwrap();
        let refused = l.slot(Peer::Tcp(ip)).await.err().unwrap();
        assert!(refused.starts_with("421 4.7.0"), "{refused}");
        let _c = l.slot(Peer::Tcp(other)).await.unwrap();
        // TCP is full; the unix socket still has its slot.
        let _u = l.slot(Peer::Unix).await.unwrap();
        drop(a);
        assert!(l.slot(Peer::Tcp(ip)).await.is_ok());
    }
}
