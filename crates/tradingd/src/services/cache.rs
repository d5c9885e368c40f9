//! The daemon's in-memory cache: typed values in fixed namespaces, each
//! with its own TTL, under one memory budget (least recently used entries
//! go first), with hit/miss/expiry/eviction counts per namespace.
//!
//! Values are kept as `Arc<T>` (a hit costs a read lock, a hash and a
//! reference count, no copy or decoding); each entry also knows how to show
//! itself as JSON for `cache.get`. Time is passed in (`now`, ms) so a
//! manual clock drives expiry in tests.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use tradedesk_core::api::cache::{KeyInfo, MAX_TTL_S, Namespace, Stats};

/// A ticker's estimated size in the cache.
pub(crate) const TICKER_BYTES: usize = 320;

type ToJson = fn(&(dyn Any + Send + Sync)) -> serde_json::Value;

struct Entry {
    value: Arc<dyn Any + Send + Sync>,
    json: ToJson,
    bytes: usize,
    expires_ms: i64,
    /// Last read or write (ms), for least-recently-used eviction.
    used_ms: AtomicU64,
    /// Which insert made it: a recency slot naming another id is stale.
    id: u64,
}

/// One insert in the recency queue: its place and its last use as of the
/// time it was queued.
struct Slot {
    ns: usize,
    key: Arc<str>,
    id: u64,
    used_ms: u64,
}

/// The recency queue: every insert is pushed at the back; eviction pops
/// from the front, and a slot whose entry was used since it was queued
/// goes to the back with its new time (lazy promotion) instead of being
/// evicted, so reads never take a lock. Slots of deleted, expired or
/// replaced entries are dropped when met, and the queue is compacted when
/// it has grown to more than twice the live entries. Every operation is
/// O(1) amortized.
#[derive(Default)]
struct Recency {
    queue: VecDeque<Slot>,
    /// Queue length at which to check whether compaction is due.
    check_at: usize,
}

/// Smallest queue worth compacting.
const COMPACT_MIN: usize = 1024;

/// Hits are counted on one of several cache lines, picked per thread, so
/// readers on different cores do not fight over one counter.
const HIT_STRIPES: usize = 8;

#[derive(Default)]
#[repr(align(64))]
struct Stripe(AtomicU64);

thread_local! {
    static STRIPE: usize = {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        (NEXT.fetch_add(1, Ordering::Relaxed) as usize) % HIT_STRIPES
    };
}

#[derive(Default)]
struct Counters {
    hits: [Stripe; HIT_STRIPES],
    misses: AtomicU64,
    expirations: AtomicU64,
    evictions: AtomicU64,
}

#[derive(Default)]
struct Space {
    map: RwLock<HashMap<Arc<str>, Entry>>,
    counters: Counters,
    ttl_s: AtomicU64,
    /// Bumped (under the write lock) by every deletion, so a value worked
    /// out before one can be refused ([`Cache::put_unless_changed`]).
    epoch: AtomicU64,
}

pub struct Cache {
    spaces: [Space; 6],
    max_bytes: u64,
    bytes: AtomicU64,
    last_sweep_ms: AtomicU64,
    recency: Mutex<Recency>,
    next_id: AtomicU64,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("max_bytes", &self.max_bytes)
            .field("bytes", &self.bytes.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn json_of<T: Serialize + Send + Sync + 'static>(v: &(dyn Any + Send + Sync)) -> serde_json::Value {
    v.downcast_ref::<T>()
        .and_then(|t| serde_json::to_value(t).ok())
        .unwrap_or(serde_json::Value::Null)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Cache {
    /// A cache holding at most about `max_bytes`.
    pub fn new(max_bytes: u64) -> Cache {
        let spaces = Namespace::ALL.map(|n| {
            let s = Space::default();
            s.ttl_s.store(n.default_ttl_s(), Ordering::Relaxed);
            s
        });
        Cache {
            spaces,
            max_bytes,
            bytes: AtomicU64::new(0),
            last_sweep_ms: AtomicU64::new(0),
            recency: Mutex::new(Recency::default()),
            next_id: AtomicU64::new(0),
        }
    }

    fn space(&self, ns: Namespace) -> &Space {
        &self.spaces[ns.index()]
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn ttl_s(&self, ns: Namespace) -> u64 {
        self.space(ns).ttl_s.load(Ordering::Relaxed)
    }

    /// Sets a namespace's TTL for entries stored from now on (1 s – 30 d).
    pub fn set_ttl_s(&self, ns: Namespace, ttl_s: u64) -> Result<(), String> {
        if !(1..=MAX_TTL_S).contains(&ttl_s) {
            return Err(format!(
                "must be between 1 and {MAX_TTL_S} seconds, got {ttl_s}"
            ));
        }
        self.space(ns).ttl_s.store(ttl_s, Ordering::Relaxed);
        Ok(())
    }

    /// The value under `key`, if present, fresh and a `T`.
    pub fn get<T: Send + Sync + 'static>(
        &self,
        ns: Namespace,
        key: &str,
        now_ms: i64,
    ) -> Option<Arc<T>> {
        let space = self.space(ns);
        let expired = {
            let map = read(&space.map);
            match map.get(key) {
                Some(e) if e.expires_ms > now_ms => {
                    if let Ok(v) = Arc::clone(&e.value).downcast::<T>() {
                        // Written only when it changes: most hits in one
                        // millisecond leave the line shared between cores.
                        let used = now_ms.max(0) as u64;
                        if e.used_ms.load(Ordering::Relaxed) != used {
                            e.used_ms.store(used, Ordering::Relaxed);
                        }
                        STRIPE.with(|i| space.counters.hits[*i].0.fetch_add(1, Ordering::Relaxed));
                        return Some(v);
                    }
                    false
                }
                Some(_) => true,
                None => false,
            }
        };
        space.counters.misses.fetch_add(1, Ordering::Relaxed);
        if expired {
            let mut map = write(&space.map);
            if let Some(e) = map.get(key).filter(|e| e.expires_ms <= now_ms) {
                let bytes = e.bytes as u64;
                map.remove(key);
                self.bytes.fetch_sub(bytes, Ordering::Relaxed);
                space.counters.expirations.fetch_add(1, Ordering::Relaxed);
            }
        }
        None
    }

    /// Stores `value` under `key` with the namespace's TTL (or `ttl_s`).
    /// `bytes` is its estimated size; evicts least recently used entries
    /// when the budget is exceeded.
    pub fn put<T: Serialize + Send + Sync + 'static>(
        &self,
        ns: Namespace,
        key: &str,
        value: T,
        bytes: usize,
        ttl_s: Option<u64>,
        now_ms: i64,
    ) -> Arc<T> {
        self.insert(ns, key, value, bytes, ttl_s, now_ms, None)
    }

    /// The namespace's deletion count: read it before working a value
    /// out from the database, and store with [`Cache::put_unless_changed`].
    pub fn epoch(&self, ns: Namespace) -> u64 {
        self.space(ns).epoch.load(Ordering::Acquire)
    }

    /// Stores like [`Cache::put`] unless something in `ns` was deleted
    /// (invalidated) since `epoch` was read: a value read from the
    /// database before a write must not outlive that write. The value is
    /// returned either way.
    #[allow(clippy::too_many_arguments)] // put's arguments and the epoch
    pub fn put_unless_changed<T: Serialize + Send + Sync + 'static>(
        &self,
        ns: Namespace,
        key: &str,
        value: T,
        bytes: usize,
        ttl_s: Option<u64>,
        now_ms: i64,
        epoch: u64,
    ) -> Arc<T> {
        self.insert(ns, key, value, bytes, ttl_s, now_ms, Some(epoch))
    }

    /// `put` and `put_unless_changed`: the epoch is checked under the
    /// write lock the insert takes, which is the lock deletions bump it
    /// under.
    #[allow(clippy::too_many_arguments)] // put's arguments and the epoch
    fn insert<T: Serialize + Send + Sync + 'static>(
        &self,
        ns: Namespace,
        key: &str,
        value: T,
        bytes: usize,
        ttl_s: Option<u64>,
        now_ms: i64,
        epoch: Option<u64>,
    ) -> Arc<T> {
        let space = self.space(ns);
        let ttl = ttl_s.unwrap_or_else(|| space.ttl_s.load(Ordering::Relaxed));
        let value = Arc::new(value);
        let bytes = bytes.saturating_add(key.len()).saturating_add(64);
        let entry = Entry {
            value: Arc::clone(&value) as Arc<dyn Any + Send + Sync>,
            json: json_of::<T>,
            bytes,
            expires_ms: now_ms
                .saturating_add(i64::try_from(ttl.saturating_mul(1000)).unwrap_or(i64::MAX)),
            used_ms: AtomicU64::new(now_ms.max(0) as u64),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
        };
        // One allocation of the key, shared by the map and the recency queue.
        let shared: Arc<str> = Arc::from(key);
        let slot = Slot {
            ns: ns.index(),
            key: Arc::clone(&shared),
            id: entry.id,
            used_ms: now_ms.max(0) as u64,
        };
        let old = {
            let mut map = write(&space.map);
            if epoch.is_some_and(|e| e != space.epoch.load(Ordering::Acquire)) {
                return value;
            }
            map.insert(shared, entry)
        };
        self.queue(slot);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        if let Some(old) = old {
            self.bytes.fetch_sub(old.bytes as u64, Ordering::Relaxed);
        }
        if self.bytes.load(Ordering::Relaxed) > self.max_bytes {
            self.evict();
        }
        let last = self.last_sweep_ms.load(Ordering::Relaxed);
        if now_ms > 0 && now_ms as u64 >= last.saturating_add(1000) {
            self.last_sweep_ms.store(now_ms as u64, Ordering::Relaxed);
            self.sweep(now_ms);
        }
        value
    }

    /// Removes one key; true when it was there.
    pub fn delete(&self, ns: Namespace, key: &str) -> bool {
        let space = self.space(ns);
        let removed = {
            let mut map = write(&space.map);
            space.epoch.fetch_add(1, Ordering::AcqRel);
            map.remove(key)
        };
        if let Some(e) = &removed {
            self.bytes.fetch_sub(e.bytes as u64, Ordering::Relaxed);
        }
        removed.is_some()
    }

    /// Removes every key of `ns` that `matches` accepts; returns how many.
    pub fn delete_where(&self, ns: Namespace, mut matches: impl FnMut(&str) -> bool) -> u64 {
        let space = self.space(ns);
        let mut map = write(&space.map);
        space.epoch.fetch_add(1, Ordering::AcqRel);
        let mut freed = 0u64;
        let before = map.len();
        map.retain(|k, e| {
            let hit = matches(k);
            if hit {
                freed = freed.saturating_add(e.bytes as u64);
            }
            !hit
        });
        self.bytes.fetch_sub(freed, Ordering::Relaxed);
        before.saturating_sub(map.len()) as u64
    }

    /// Removes every key of `ns` starting with `prefix` (what one write
    /// invalidates: a symbol's klines, a bot's figures); returns how many.
    pub fn delete_prefix(&self, ns: Namespace, prefix: &str) -> u64 {
        self.delete_where(ns, |k| k.starts_with(prefix))
    }

    /// Empties one namespace, or all; returns how many entries went.
    pub fn flush(&self, ns: Option<Namespace>) -> u64 {
        let mut n = 0u64;
        for s in Namespace::ALL
            .into_iter()
            .filter(|s| ns.is_none_or(|ns| ns == *s))
        {
            n = n.saturating_add(self.delete_where(s, |_| true));
        }
        n
    }

    /// A stored value as JSON, with the milliseconds it has left.
    pub fn get_json(
        &self,
        ns: Namespace,
        key: &str,
        now_ms: i64,
    ) -> Option<(serde_json::Value, i64)> {
        let map = read(&self.space(ns).map);
        let e = map.get(key).filter(|e| e.expires_ms > now_ms)?;
        Some((
            (e.json)(e.value.as_ref()),
            e.expires_ms.saturating_sub(now_ms),
        ))
    }

    /// Fresh keys of `ns` accepted by `matches`, sorted.
    pub fn keys(
        &self,
        ns: Namespace,
        now_ms: i64,
        mut matches: impl FnMut(&str) -> bool,
    ) -> Vec<KeyInfo> {
        let map = read(&self.space(ns).map);
        let mut out: Vec<KeyInfo> = map
            .iter()
            .filter(|(k, e)| e.expires_ms > now_ms && matches(k))
            .map(|(k, e)| KeyInfo {
                key: format!("{ns}:{k}"),
                namespace: ns,
                bytes: e.bytes as u64,
                ttl_ms: e.expires_ms.saturating_sub(now_ms),
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Drops expired entries (counted as expirations).
    pub fn sweep(&self, now_ms: i64) {
        for s in &self.spaces {
            let mut map = write(&s.map);
            let mut freed = 0u64;
            let before = map.len();
            map.retain(|_, e| {
                let keep = e.expires_ms > now_ms;
                if !keep {
                    freed = freed.saturating_add(e.bytes as u64);
                }
                keep
            });
            let gone = before.saturating_sub(map.len()) as u64;
            drop(map);
            self.bytes.fetch_sub(freed, Ordering::Relaxed);
            s.counters.expirations.fetch_add(gone, Ordering::Relaxed);
        }
    }

    /// Puts a new insert at the back of the recency queue; compacts the
    /// queue when stale slots outnumber live ones.
    fn queue(&self, slot: Slot) {
        let mut r = lock(&self.recency);
        r.queue.push_back(slot);
        if r.queue.len() < r.check_at.max(COMPACT_MIN) {
            return;
        }
        let live: usize = self.spaces.iter().map(|s| read(&s.map).len()).sum();
        if r.queue.len() > live.saturating_mul(2) {
            // Rebuilt in order of last use; amortized over the pushes
            // that made the queue twice the live entries.
            let mut slots: Vec<Slot> = Vec::with_capacity(live);
            for (ns, s) in self.spaces.iter().enumerate() {
                for (k, e) in read(&s.map).iter() {
                    slots.push(Slot {
                        ns,
                        key: k.clone(),
                        id: e.id,
                        used_ms: e.used_ms.load(Ordering::Relaxed),
                    });
                }
            }
            slots.sort_by_key(|s| (s.used_ms, s.id));
            r.queue = slots.into();
        }
        r.check_at = r.queue.len().saturating_mul(2);
    }

    /// Evicts least recently used entries until 90 % of the budget is used.
    fn evict(&self) {
        let target = (self.max_bytes / 10).saturating_mul(9);
        let mut r = lock(&self.recency);
        // Each slot is moved back at most about once per pass (unless it
        // is read again meanwhile): a bound, not the expected work.
        let mut budget = r.queue.len().saturating_mul(2).saturating_add(16);
        while self.bytes.load(Ordering::Relaxed) > target && budget > 0 {
            budget = budget.saturating_sub(1);
            let Some(slot) = r.queue.pop_front() else {
                break;
            };
            let s = &self.spaces[slot.ns];
            let mut map = write(&s.map);
            let Some(e) = map.get(&*slot.key).filter(|e| e.id == slot.id) else {
                continue; // deleted, expired or replaced since it was queued
            };
            let used = e.used_ms.load(Ordering::Relaxed);
            if used != slot.used_ms {
                drop(map);
                r.queue.push_back(Slot {
                    used_ms: used,
                    ..slot
                });
                continue;
            }
            if let Some(e) = map.remove(&*slot.key) {
                self.bytes.fetch_sub(e.bytes as u64, Ordering::Relaxed);
                s.counters.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One namespace's figures.
    pub fn stats(&self, ns: Namespace) -> Stats {
        let s = self.space(ns);
        let (entries, bytes) = {
            let map = read(&s.map);
            (map.len() as u64, map.values().map(|e| e.bytes as u64).sum())
        };
        let c = &s.counters;
        let hits = c.hits.iter().map(|h| h.0.load(Ordering::Relaxed)).sum();
        let misses = c.misses.load(Ordering::Relaxed);
        Stats {
            hits,
            misses,
            hit_rate: hit_rate(hits, misses),
            entries,
            bytes,
            evictions: c.evictions.load(Ordering::Relaxed),
            expirations: c.expirations.load(Ordering::Relaxed),
        }
    }

    /// All namespaces together.
    pub fn total(&self) -> Stats {
        let mut t = Stats::default();
        for ns in Namespace::ALL {
            let s = self.stats(ns);
            t.hits = t.hits.saturating_add(s.hits);
            t.misses = t.misses.saturating_add(s.misses);
            t.entries = t.entries.saturating_add(s.entries);
            t.bytes = t.bytes.saturating_add(s.bytes);
            t.evictions = t.evictions.saturating_add(s.evictions);
            t.expirations = t.expirations.saturating_add(s.expirations);
        }
        t.hit_rate = hit_rate(t.hits, t.misses);
        t
    }
}

/// hits / (hits + misses); none before the first read.
fn hit_rate(hits: u64, misses: u64) -> Option<f64> {
    let reads = hits.saturating_add(misses);
    (reads > 0).then(|| hits as f64 / reads as f64)
}

/// A checked glob over full keys (`namespace:key`), matched by `globset`:
/// `*` any run, `?` one character, `[abc]` / `[a-z]` / `[!a]` a class,
/// `{a,b}` alternatives, `\\` escapes the next character.
#[derive(Debug, Clone)]
pub struct Glob {
    matcher: globset::GlobMatcher,
    prefix: String,
}

/// Longest pattern accepted, in bytes.
const MAX_GLOB_BYTES: usize = 256;

impl Glob {
    /// Parses a pattern; the error says what is wrong.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("is empty".into());
        }
        if pattern.len() > MAX_GLOB_BYTES {
            return Err(format!(
                "is {} bytes long; the limit is {MAX_GLOB_BYTES}",
                pattern.len()
            ));
        }
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(false)
            .backslash_escape(true)
            .empty_alternates(true)
            .build()
            .map_err(|e| format!("is invalid: {}", e.kind()))?;
        Ok(Glob {
            matcher: glob.compile_matcher(),
            prefix: literal_prefix(pattern),
        })
    }

    /// Whether the whole of `s` matches.
    pub fn matches(&self, s: &str) -> bool {
        self.matcher.is_match(s)
    }

    /// The literal text before the first wildcard (to pick namespaces).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// The characters of a pattern before its first wildcard, escapes undone.
fn literal_prefix(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' | '[' | '{' => break,
            '\\' => match chars.next() {
                Some(n) => out.push(n),
                None => break,
            },
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
