//! `cache.*`: the daemon's in-memory cache — figures, keys, and managing
//! it. Only the `user` namespace can be written from outside.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Empty;
use super::method::method;
use super::paging::Page;

/// The namespaces. Only [`Namespace::User`] may be written from outside
/// the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Namespace {
    /// `market.ticker` by symbol; updated at every market tick.
    #[serde(rename = "market.ticker")]
    Ticker,
    /// `market.klines` closed bars by symbol, bar-close generation,
    /// interval and limit.
    #[serde(rename = "market.klines")]
    Klines,
    /// The instrument list.
    #[serde(rename = "market.symbols")]
    Symbols,
    /// `analytics.performance` by bot and range.
    #[serde(rename = "analytics")]
    Analytics,
    /// Finished backtests' metrics by id.
    #[serde(rename = "backtests")]
    Backtests,
    /// Anything a user stores with `cache.set`.
    #[serde(rename = "user")]
    User,
}

impl Namespace {
    pub const ALL: [Namespace; 6] = [
        Namespace::Ticker,
        Namespace::Klines,
        Namespace::Symbols,
        Namespace::Analytics,
        Namespace::Backtests,
        Namespace::User,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Namespace::Ticker => "market.ticker",
            Namespace::Klines => "market.klines",
            Namespace::Symbols => "market.symbols",
            Namespace::Analytics => "analytics",
            Namespace::Backtests => "backtests",
            Namespace::User => "user",
        }
    }

    /// Its position in [`Namespace::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The TTL a namespace starts with, in seconds.
    pub const fn default_ttl_s(self) -> u64 {
        match self {
            Namespace::Ticker => 5,
            Namespace::Klines | Namespace::Analytics => 60,
            Namespace::Symbols | Namespace::Backtests => 3_600,
            Namespace::User => 300,
        }
    }

    pub fn parse(s: &str) -> Option<Namespace> {
        Namespace::ALL.into_iter().find(|n| n.as_str() == s)
    }

    /// Splits a full key, `namespace:key`.
    pub fn split(full: &str) -> Option<(Namespace, &str)> {
        let (ns, key) = full.split_once(':')?;
        Some((Namespace::parse(ns)?, key))
    }
}

impl std::str::FromStr for Namespace {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Namespace::parse(s).ok_or_else(|| {
            format!(
                "`{s}` is not a cache namespace ({})",
                Namespace::ALL.map(Namespace::as_str).join(", ")
            )
        })
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest TTL accepted: 30 days.
pub const MAX_TTL_S: u64 = 30 * 86_400;
/// Largest value `cache.set` accepts, as JSON.
pub const MAX_USER_VALUE_BYTES: usize = 64 * 1024;

/// Figures of one namespace, or of the whole cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    /// hits / (hits + misses); none before the first read.
    pub hit_rate: Option<f64>,
    pub entries: u64,
    /// Estimated bytes held (values as JSON, plus keys).
    pub bytes: u64,
    pub evictions: u64,
    pub expirations: u64,
}

/// One key as `cache.keys` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyInfo {
    pub key: String,
    pub namespace: Namespace,
    pub bytes: u64,
    /// Milliseconds left before it expires.
    pub ttl_ms: i64,
}

method! {
    /// Whether the cache is within its memory budget, and how full it is.
    CacheHealth = "cache.health", Get "/api/v1/cache/health", Read, Empty => CacheHealthView
}
method! {
    /// Hits, misses, hit rate, entries, memory, evictions and expirations, overall and per namespace.
    CacheStats = "cache.stats", Get "/api/v1/cache/stats", Read, Empty => CacheStatsView
}
method! {
    /// Keys matching a glob (`*`, `?`, `[a-z]`, `\`), optionally of one namespace; paged.
    CacheKeys = "cache.keys", Get "/api/v1/cache/keys", Read, KeysParams => KeyPage
}
method! {
    /// One entry's value (as JSON) and the time it has left.
    CacheGet = "cache.get", Get "/api/v1/cache/keys/{key}", Read, CacheKey => CacheValue
}
method! {
    /// Stores a JSON value under `user:KEY` (the only writable namespace), with an optional TTL in seconds.
    CacheSet = "cache.set", Put "/api/v1/cache/keys/{key}", Trade, CacheSetParams => CacheValue
}
method! {
    /// Deletes one key (keys outside `user` need the admin scope).
    CacheDelete = "cache.delete", Delete "/api/v1/cache/keys/{key}", Trade, CacheKey => CacheDeleted
}
method! {
    /// Deletes every key matching a glob.
    CacheDeletePattern = "cache.delete_pattern", Delete "/api/v1/cache/keys", Admin, PatternParams => CacheDeleted
}
method! {
    /// A namespace's TTL in seconds.
    CacheTtlGet = "cache.ttl.get", Get "/api/v1/cache/ttl/{namespace}", Read, NamespaceParams => NamespaceTtl
}
method! {
    /// Sets a namespace's TTL (1 s – 30 days) for entries stored from now on.
    CacheTtlSet = "cache.ttl.set", Put "/api/v1/cache/ttl/{namespace}", Admin, TtlSetParams => NamespaceTtl
}
method! {
    /// Empties one namespace, or the whole cache.
    CacheFlush = "cache.flush", Delete "/api/v1/cache", Admin, FlushParams => CacheDeleted
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CacheHealthView {
    /// False when the estimated memory is over the budget (eviction is
    /// behind) — it should never be.
    pub ok: bool,
    pub entries: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    pub used_pct: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NamespaceStats {
    pub namespace: Namespace,
    pub ttl_s: u64,
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CacheStatsView {
    pub max_bytes: u64,
    pub total: Stats,
    pub namespaces: Vec<NamespaceStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeysParams {
    /// A glob over full keys (`namespace:key`); all keys when absent.
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub namespace: Option<Namespace>,
    #[serde(default)]
    pub limit: Option<u32>,
    /// The last key of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
}

pub type KeyPage = Page<KeyInfo>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheKey {
    /// A full key, `namespace:key`.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheSetParams {
    /// `user:KEY` (or just `KEY`, taken as `user:KEY`); at most 200 bytes.
    pub key: String,
    /// Any JSON, at most 64 KiB once encoded.
    pub value: serde_json::Value,
    /// Seconds (1 – 2,592,000); the namespace's TTL when absent.
    #[serde(default)]
    pub ttl: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CacheValue {
    pub key: String,
    pub value: serde_json::Value,
    pub ttl_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CacheDeleted {
    pub deleted: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatternParams {
    pub pattern: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespaceParams {
    pub namespace: Namespace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TtlSetParams {
    pub namespace: Namespace,
    /// Seconds, 1 – 2,592,000 (30 days).
    pub ttl: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NamespaceTtl {
    pub namespace: Namespace,
    pub ttl_s: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlushParams {
    #[serde(default)]
    pub namespace: Option<Namespace>,
}
