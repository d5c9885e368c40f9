//! `tradectl cache …`: the daemon's in-memory cache.

use clap::Subcommand;
use tradedesk_core::api::Empty;
use tradedesk_core::api::cache::{
    CacheDelete, CacheDeletePattern, CacheFlush, CacheGet, CacheHealth, CacheKey, CacheKeys,
    CacheSet, CacheSetParams, CacheStats, CacheTtlGet, CacheTtlSet, FlushParams, KeysParams,
    NamespaceParams, PatternParams, TtlSetParams,
};
use tradedesk_core::api::cache::{Namespace, Stats};

use crate::format::Table;
use crate::{Ctx, Failure, print_json};

#[derive(Subcommand)]
pub enum Cache {
    /// Within budget? Entries and memory.
    Health,
    /// Hits, misses, hit rate, entries, memory, evictions, expirations per namespace.
    Stats,
    /// Keys, optionally matching a glob (`user:*`, `market.ticker:BTC?USDT`).
    Keys {
        pattern: Option<String>,
        #[arg(long)]
        namespace: Option<Namespace>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One entry's value (JSON) and the time it has left.
    Get { key: String },
    /// Store a JSON value under `user:KEY`.
    Set {
        key: String,
        /// JSON (a bare word is taken as a string).
        value: String,
        /// Seconds (default: the namespace's TTL).
        #[arg(long, allow_negative_numbers = true)]
        ttl: Option<i64>,
    },
    /// Delete one key.
    Delete { key: String },
    /// Delete every key matching a glob.
    DeletePattern { pattern: String },
    /// A namespace's TTL, or set it (seconds).
    Ttl {
        namespace: Namespace,
        #[arg(allow_negative_numbers = true)]
        seconds: Option<i64>,
    },
    /// Empty one namespace, or everything.
    Flush {
        #[arg(long)]
        namespace: Option<Namespace>,
    },
}

fn rate(s: &Stats) -> String {
    s.hit_rate
        .map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
}

#[allow(clippy::too_many_lines)] // one arm per command
pub fn cache(ctx: &Ctx, cmd: Cache) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    match cmd {
        Cache::Health => {
            let h = c.call::<CacheHealth>(&Empty {})?;
            ctx.emit(&h, || {
                outln!(
                    "{}: {} entries, {} of {} bytes ({:.1}%)",
                    if h.ok { "ok" } else { "OVER BUDGET" },
                    h.entries,
                    h.bytes,
                    h.max_bytes,
                    h.used_pct
                );
            });
        }
        Cache::Stats => {
            let s = c.call::<CacheStats>(&Empty {})?;
            ctx.emit(&s, || {
                let mut t = Table::new(&[
                    "namespace",
                    "ttl s",
                    "entries",
                    "bytes",
                    "hits",
                    "misses",
                    "hit rate",
                    "evicted",
                    "expired",
                ]);
                let row = |name: String, ttl: String, x: &Stats| {
                    vec![
                        name,
                        ttl,
                        x.entries.to_string(),
                        x.bytes.to_string(),
                        x.hits.to_string(),
                        x.misses.to_string(),
                        rate(x),
                        x.evictions.to_string(),
                        x.expirations.to_string(),
                    ]
                };
                for n in &s.namespaces {
                    t.row(row(n.namespace.to_string(), n.ttl_s.to_string(), &n.stats));
                }
                t.row(row("total".into(), "-".into(), &s.total));
                out!("{t}");
                outln!("budget {} bytes", s.max_bytes);
            });
        }
        Cache::Keys {
            pattern,
            namespace,
            limit,
            cursor,
        } => {
            let page = c.call::<CacheKeys>(&KeysParams {
                pattern,
                namespace,
                limit,
                cursor,
            })?;
            ctx.emit(&page, || {
                let mut t = Table::new(&["key", "bytes", "ttl ms"]);
                for k in &page.items {
                    t.row(vec![
                        k.key.clone(),
                        k.bytes.to_string(),
                        k.ttl_ms.to_string(),
                    ]);
                }
                out!("{t}");
                if let Some(next) = &page.next_cursor {
                    outln!("more: --cursor {next}");
                }
            });
        }
        Cache::Get { key } => {
            let v = c.call::<CacheGet>(&CacheKey { key })?;
            ctx.emit(&v, || {
                print_json(&v.value);
                eprintln!("({} ms left)", v.ttl_ms);
            });
        }
        Cache::Set { key, value, ttl } => {
            let value = serde_json::from_str(&value).unwrap_or(serde_json::Value::String(value));
            let v = c.call::<CacheSet>(&CacheSetParams { key, value, ttl })?;
            ctx.emit(&v, || {
                outln!("{} set for {} s", v.key, v.ttl_ms / 1000);
            });
        }
        Cache::Delete { key } => {
            let d = c.call::<CacheDelete>(&CacheKey { key })?;
            ctx.emit(&d, || {
                outln!("{} deleted", d.deleted);
            });
        }
        Cache::DeletePattern { pattern } => {
            let d = c.call::<CacheDeletePattern>(&PatternParams { pattern })?;
            ctx.emit(&d, || {
                outln!("{} deleted", d.deleted);
            });
        }
        Cache::Ttl { namespace, seconds } => {
            let t = match seconds {
                None => c.call::<CacheTtlGet>(&NamespaceParams { namespace })?,
                Some(ttl) => c.call::<CacheTtlSet>(&TtlSetParams { namespace, ttl })?,
            };
            ctx.emit(&t, || {
                outln!("{} {} s", t.namespace, t.ttl_s);
            });
        }
        Cache::Flush { namespace } => {
            let d = c.call::<CacheFlush>(&FlushParams { namespace })?;
            ctx.emit(&d, || {
                outln!("{} deleted", d.deleted);
            });
        }
    }
    Ok(())
}
