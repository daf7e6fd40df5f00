//! What the status pages read, kept beside the builds (see the
//! [`crate::store::Store`] notes on the pages' reads):
//!
//! * `by_state` [dist \0 arch \0 state \0 source] → build key
//! * `counts` [dist \0 arch] → `{state: n}` (JSON)
//! * `daily` [dist \0 arch \0 day (i64, big-endian)] → `{state: n}` as it
//!   stood at the end of the last commit of that day
//! * `maintainers` [address \0 source \0 dist \0 arch] → [`Entry`]
//! * `builder_logs` [builder \0 time (i64, big-endian) \0 seq] → [`LogRef`]
//!
//! Every commit that writes a build keeps them ([`Indexer`]); a database
//! of an earlier release gets them built once when it is opened
//! ([`SledStore::index_pages`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::{corrupt, from_json, keys, to_json, SledStore};
use crate::debian::people::{people, Person};
use crate::model::state::State;
use crate::model::{BuildKey, BuildRecord, LogRef};
use crate::store::{BuilderSeen, DayCounts, Maintained, StateCounts, StoreError};

/// `meta` key: the pages' trees have been built.
pub(super) const PAGES_INDEXED: &str = "pages_indexed";

/// A `maintainers` entry's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Entry {
    name: String,
    role: String,
}

fn join(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p);
    }
    k
}

fn state_key(key: &BuildKey, state: State) -> Vec<u8> {
    join(&[
        key.dist.as_bytes(),
        key.arch.as_bytes(),
        state.as_str().as_bytes(),
        key.source.as_bytes(),
    ])
}

fn pair_key(dist: &str, arch: &str) -> Vec<u8> {
    join(&[dist.as_bytes(), arch.as_bytes()])
}

fn daily_key(dist: &str, arch: &str, day: i64) -> Vec<u8> {
    let mut k = pair_key(dist, arch);
    k.push(0);
    k.extend_from_slice(&day.to_be_bytes());
    k
}

/// The `maintainers` entries of a build: (key, value).
fn people_entries(
    key: &BuildKey,
    maintainer: Option<&str>,
    uploaders: Option<&str>,
) -> Vec<(Vec<u8>, Entry)> {
    let mut out = Vec::new();
    for (field, role) in [(maintainer, "maintainer"), (uploaders, "uploader")] {
        for p in people(field.unwrap_or("")) {
            let k = join(&[
                p.address.as_bytes(),
                key.source.as_bytes(),
                key.dist.as_bytes(),
                key.arch.as_bytes(),
            ]);
            if out.iter().any(|(o, _)| *o == k) {
                continue;
            }
            out.push((
                k,
                Entry {
                    name: p.name,
                    role: role.into(),
                },
            ));
        }
    }
    out
}

/// Day of a Unix time (UTC).
pub(super) fn day_of(t: i64) -> i64 {
    t.div_euclid(86_400)
}

/// Keeps the pages' trees inside a commit transaction: each build written
/// goes through [`Indexer::build`], the counts are written once at the
/// end ([`Indexer::finish`]).
#[derive(Default)]
pub(super) struct Indexer {
    /// Per suite and architecture, the change of each state's count.
    deltas: BTreeMap<(String, String), BTreeMap<State, i64>>,
}

/// What an index write may fail with inside the transaction.
type Tx<T> = Result<T, ConflictableTransactionError<(&'static str, String)>>;

fn abort(
    tree: &'static str,
    message: impl std::fmt::Display,
) -> ConflictableTransactionError<(&'static str, String)> {
    ConflictableTransactionError::Abort((tree, message.to_string()))
}

impl Indexer {
    /// `new` replaced `old` (the record `builds` held, if any, as the commit decoded it).
    pub(super) fn build(
        &mut self,
        by_state: &TransactionalTree,
        maintainers: &TransactionalTree,
        old: Option<&BuildRecord>,
        new: &BuildRecord,
    ) -> Tx<()> {
        let moved = old
            .as_ref()
            .is_none_or(|o| o.state != new.state || o.key != new.key);
        if moved {
            if let Some(o) = &old {
                by_state.remove(state_key(&o.key, o.state))?;
                *self
                    .deltas
                    .entry((o.key.dist.clone(), o.key.arch.clone()))
                    .or_default()
                    .entry(o.state)
                    .or_default() -= 1;
            }
            by_state.insert(state_key(&new.key, new.state), keys::build(&new.key))?;
            *self
                .deltas
                .entry((new.key.dist.clone(), new.key.arch.clone()))
                .or_default()
                .entry(new.state)
                .or_default() += 1;
        }
        let new_people = (
            new.source.as_ref().and_then(|s| s.maintainer.as_deref()),
            new.source.as_ref().and_then(|s| s.uploaders.as_deref()),
        );
        let old_source = old.as_ref().and_then(|o| o.source.as_ref());
        let old_people = (
            old_source.and_then(|s| s.maintainer.as_deref()),
            old_source.and_then(|s| s.uploaders.as_deref()),
        );
        if old.is_some() && new_people == old_people {
            return Ok(());
        }
        let fresh = people_entries(&new.key, new_people.0, new_people.1);
        if let Some(o) = &old {
            for (k, _) in people_entries(&o.key, old_people.0, old_people.1) {
                if !fresh.iter().any(|(f, _)| *f == k) {
                    maintainers.remove(k)?;
                }
            }
        }
        for (k, v) in fresh {
            let v = serde_json::to_vec(&v).map_err(|e| abort("maintainers", e))?;
            maintainers.insert(k, v)?;
        }
        Ok(())
    }

    /// Writes the counts that changed, and the day's row of each.
    pub(super) fn finish(
        self,
        counts: &TransactionalTree,
        daily: &TransactionalTree,
        now: i64,
    ) -> Tx<()> {
        for ((dist, arch), delta) in self.deltas {
            if delta.values().all(|d| *d == 0) {
                continue;
            }
            let k = pair_key(&dist, &arch);
            let mut current: BTreeMap<State, u64> = match counts.get(&k)? {
                Some(v) => serde_json::from_slice(&v)
                    .map_err(|e| abort("counts", format!("the counts do not decode: {e}")))?,
                None => BTreeMap::new(),
            };
            for (state, d) in delta {
                let n = current.entry(state).or_default();
                *n = n.saturating_add_signed(d);
                if *n == 0 {
                    current.remove(&state);
                }
            }
            let v = serde_json::to_vec(&current).map_err(|e| abort("counts", e))?;
            counts.insert(k, v.clone())?;
            daily.insert(daily_key(&dist, &arch, day_of(now)), v)?;
        }
        Ok(())
    }
}

/// The `builder_logs` key of a log.
pub(super) fn builder_log_key(builder: &str, time: i64, seq: u64) -> Vec<u8> {
    let mut k = builder.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&time.to_be_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The first key after every key starting with `prefix` + 0 (the end of
/// one name's entries).
fn after_name(name: &[u8]) -> Vec<u8> {
    let mut k = name.to_vec();
    k.push(1);
    k
}

impl SledStore {
    /// Builds the pages' trees of a database of an earlier release (once).
    pub(super) fn index_pages(&self) -> Result<(), StoreError> {
        if self.meta.get(PAGES_INDEXED)?.is_some() {
            return Ok(());
        }
        let mut counts: BTreeMap<(String, String), BTreeMap<State, u64>> = BTreeMap::new();
        for kv in self.builds.iter() {
            let (_, v) = kv?;
            let r: BuildRecord = from_json("builds", &v)?;
            self.by_state
                .insert(state_key(&r.key, r.state), keys::build(&r.key))?;
            *counts
                .entry((r.key.dist.clone(), r.key.arch.clone()))
                .or_default()
                .entry(r.state)
                .or_default() += 1;
            let s = r.source.as_ref();
            for (k, e) in people_entries(
                &r.key,
                s.and_then(|s| s.maintainer.as_deref()),
                s.and_then(|s| s.uploaders.as_deref()),
            ) {
                self.maintainers.insert(k, to_json("maintainers", &e)?)?;
            }
        }
        for ((dist, arch), c) in counts {
            self.counts
                .insert(pair_key(&dist, &arch), to_json("counts", &c)?)?;
        }
        for kv in self.log_index.iter() {
            let (k, v) = kv?;
            let r: LogRef = from_json("log_index", &v)?;
            if let Some(b) = &r.builder {
                let seq = k
                    .get(k.len().saturating_sub(8)..)
                    .and_then(|s| <[u8; 8]>::try_from(s).ok())
                    .map_or(0, u64::from_be_bytes);
                self.builder_logs
                    .insert(builder_log_key(b, r.time, seq), v)?;
            }
        }
        self.meta.insert(PAGES_INDEXED, &[1])?;
        Ok(())
    }

    pub(super) fn pages_builds_in(
        &self,
        dist: &str,
        arch: &str,
        state: State,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<BuildRecord>, StoreError> {
        let mut prefix = join(&[dist.as_bytes(), arch.as_bytes(), state.as_str().as_bytes()]);
        prefix.push(0);
        let start = match after {
            Some(a) => {
                let mut k = prefix.clone();
                k.extend_from_slice(a.as_bytes());
                k.push(0);
                k
            }
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        for kv in self.by_state.range(start..) {
            if out.len() >= limit {
                break;
            }
            let (k, build) = kv?;
            if !k.starts_with(&prefix) {
                break;
            }
            if let Some(v) = self.builds.get(&build)? {
                out.push(from_json("builds", &v)?);
            }
        }
        Ok(out)
    }

    pub(super) fn pages_state_counts(&self) -> Result<Vec<StateCounts>, StoreError> {
        let mut out = Vec::new();
        for kv in self.counts.iter() {
            let (k, v) = kv?;
            let mut parts = k.split(|&b| b == 0);
            let (Some(dist), Some(arch)) = (parts.next(), parts.next()) else {
                return Err(corrupt("counts", "a key without suite and architecture"));
            };
            out.push(StateCounts {
                dist: String::from_utf8_lossy(dist).into_owned(),
                arch: String::from_utf8_lossy(arch).into_owned(),
                counts: from_json("counts", &v)?,
            });
        }
        Ok(out)
    }

    pub(super) fn pages_daily_counts(
        &self,
        dist: &str,
        arch: &str,
        since_day: i64,
    ) -> Result<Vec<DayCounts>, StoreError> {
        let mut prefix = pair_key(dist, arch);
        prefix.push(0);
        let start = daily_key(dist, arch, since_day.max(0));
        let mut out = Vec::new();
        for kv in self.daily.range(start..) {
            let (k, v) = kv?;
            if !k.starts_with(&prefix) {
                break;
            }
            let day = k
                .get(prefix.len()..)
                .and_then(|d| <[u8; 8]>::try_from(d).ok())
                .map(i64::from_be_bytes)
                .ok_or_else(|| corrupt("daily", "a key without its day"))?;
            out.push(DayCounts {
                day,
                counts: from_json("daily", &v)?,
            });
        }
        Ok(out)
    }

    pub(super) fn pages_builder_logs(
        &self,
        builder: &str,
        limit: usize,
    ) -> Result<Vec<LogRef>, StoreError> {
        let mut prefix = builder.as_bytes().to_vec();
        prefix.push(0);
        self.builder_logs
            .scan_prefix(prefix)
            .rev()
            .take(limit)
            .map(|kv| from_json("builder_logs", &kv?.1))
            .collect()
    }

    pub(super) fn pages_builders(&self) -> Result<Vec<BuilderSeen>, StoreError> {
        let mut out = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        // One look per builder: its first key names it, its last is its
        // newest log.
        while let Some(kv) = self.builder_logs.range(from.clone()..).next() {
            let (k, _) = kv?;
            let name = k.split(|&b| b == 0).next().unwrap_or(&[]).to_vec();
            let mut prefix = name.clone();
            prefix.push(0);
            if let Some(last) = self.builder_logs.scan_prefix(&prefix).next_back() {
                let r: LogRef = from_json("builder_logs", &last?.1)?;
                out.push(BuilderSeen {
                    name: String::from_utf8_lossy(&name).into_owned(),
                    last_log: r.time,
                });
            }
            from = after_name(&name);
        }
        Ok(out)
    }

    pub(super) fn pages_maintained(
        &self,
        address: &str,
        limit: usize,
    ) -> Result<Vec<Maintained>, StoreError> {
        let mut prefix = address.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for kv in self.maintainers.scan_prefix(&prefix).take(limit) {
            let (k, v) = kv?;
            let rest = k.get(prefix.len()..).unwrap_or(&[]);
            let key = keys::build_from(rest)
                .ok_or_else(|| corrupt("maintainers", "a key without its build"))?;
            let e: Entry = from_json("maintainers", &v)?;
            out.push(Maintained {
                key,
                name: e.name,
                role: e.role,
            });
        }
        Ok(out)
    }

    pub(super) fn pages_maintainers(
        &self,
        text: &str,
        limit: usize,
    ) -> Result<Vec<Person>, StoreError> {
        let want = text.to_lowercase();
        let mut out = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        // One look per address (its first entry), however many builds
        // it has.
        while out.len() < limit {
            let Some(kv) = self.maintainers.range(from.clone()..).next() else {
                break;
            };
            let (k, v) = kv?;
            let address = k.split(|&b| b == 0).next().unwrap_or(&[]).to_vec();
            let e: Entry = from_json("maintainers", &v)?;
            let address_text = String::from_utf8_lossy(&address).into_owned();
            if address_text.contains(&want) || e.name.to_lowercase().contains(&want) {
                out.push(Person {
                    name: e.name,
                    address: address_text,
                });
            }
            from = after_name(&address);
        }
        Ok(out)
    }

    pub(super) fn pages_sources_from(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut out: Vec<String> = Vec::new();
        let mut from = prefix.as_bytes().to_vec();
        while out.len() < limit {
            let Some(kv) = self.builds.range(from.clone()..).next() else {
                break;
            };
            let (k, _) = kv?;
            if !k.starts_with(prefix.as_bytes()) {
                break;
            }
            let name = k.split(|&b| b == 0).next().unwrap_or(&[]).to_vec();
            out.push(String::from_utf8_lossy(&name).into_owned());
            from = after_name(&name);
        }
        Ok(out)
    }
}
