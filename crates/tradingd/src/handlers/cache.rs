//! `cache.*` handlers: figures, keys, and managing the in-memory cache.

use tradedesk_core::api::cache::{
    CacheDelete, CacheDeletePattern, CacheDeleted, CacheFlush, CacheGet, CacheHealth,
    CacheHealthView, CacheKey, CacheKeys, CacheSet, CacheSetParams, CacheStats, CacheStatsView,
    CacheTtlGet, CacheTtlSet, CacheValue, FlushParams, KeyPage, KeysParams, NamespaceParams,
    NamespaceStats, NamespaceTtl, PatternParams, TtlSetParams,
};
use tradedesk_core::api::cache::{MAX_TTL_S, MAX_USER_VALUE_BYTES, Namespace};
use tradedesk_core::api::{ApiError, Caller, Empty, ErrorCode, Handle, Scope, paging};

use crate::services::cache::Glob;

use crate::context::Ctx;

/// Longest key `cache.set` accepts (without the namespace).
const MAX_KEY_BYTES: usize = 200;

fn split_key(field: &str, full: &str) -> Result<(Namespace, String), ApiError> {
    let (ns, key) = Namespace::split(full).ok_or_else(|| {
        ApiError::bad_field(
            field,
            format!(
                "`{full}` is not `namespace:key`; namespaces are {}",
                Namespace::ALL.map(Namespace::as_str).join(", ")
            ),
        )
    })?;
    if key.is_empty() {
        return Err(ApiError::bad_field(
            field,
            "the key after the namespace is empty",
        ));
    }
    Ok((ns, key.to_owned()))
}

fn glob(pattern: &str) -> Result<Glob, ApiError> {
    Glob::new(pattern).map_err(|m| ApiError::bad_field("pattern", format!("the glob {m}")))
}

fn ttl_s(field: &str, ttl: i64) -> Result<u64, ApiError> {
    u64::try_from(ttl)
        .ok()
        .filter(|t| (1..=MAX_TTL_S).contains(t))
        .ok_or_else(|| {
            ApiError::bad_field(
                field,
                format!("must be between 1 and {MAX_TTL_S} seconds, got {ttl}"),
            )
        })
}

/// Namespaces a pattern can match: those whose name fits its literal
/// prefix.
fn namespaces_for(g: &Glob) -> Vec<Namespace> {
    let prefix = g.prefix();
    Namespace::ALL
        .into_iter()
        .filter(|ns| {
            let full = format!("{ns}:");
            full.starts_with(prefix) || prefix.starts_with(&full)
        })
        .collect()
}

impl Handle<CacheHealth> for Ctx {
    async fn handle(&self, _: &Caller, _: Empty) -> Result<CacheHealthView, ApiError> {
        let t = self.cache.total();
        let max = self.cache.max_bytes();
        Ok(CacheHealthView {
            ok: t.bytes <= max,
            entries: t.entries,
            bytes: t.bytes,
            max_bytes: max,
            used_pct: t.bytes as f64 / max as f64 * 100.0,
        })
    }
}

impl Handle<CacheStats> for Ctx {
    async fn handle(&self, _: &Caller, _: Empty) -> Result<CacheStatsView, ApiError> {
        self.cache.sweep(self.now().millis());
        Ok(CacheStatsView {
            max_bytes: self.cache.max_bytes(),
            total: self.cache.total(),
            namespaces: Namespace::ALL
                .into_iter()
                .map(|ns| NamespaceStats {
                    namespace: ns,
                    ttl_s: self.cache.ttl_s(ns),
                    stats: self.cache.stats(ns),
                })
                .collect(),
        })
    }
}

impl Handle<CacheKeys> for Ctx {
    async fn handle(&self, _: &Caller, p: KeysParams) -> Result<KeyPage, ApiError> {
        let limit = paging::limit(p.limit)? as usize;
        let g = p.pattern.as_deref().map(glob).transpose()?;
        let now = self.now().millis();
        let spaces = match (p.namespace, &g) {
            (Some(ns), _) => vec![ns],
            (None, Some(g)) => namespaces_for(g),
            (None, None) => Namespace::ALL.to_vec(),
        };
        let mut keys = Vec::new();
        for ns in spaces {
            keys.extend(self.cache.keys(ns, now, |k| {
                g.as_ref().is_none_or(|g| g.matches(&format!("{ns}:{k}")))
            }));
        }
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(c) = &p.cursor {
            keys.retain(|k| k.key.as_str() > c.as_str());
        }
        let next_cursor = (keys.len() > limit)
            .then(|| keys.get(limit.saturating_sub(1)).map(|k| k.key.clone()))
            .flatten();
        keys.truncate(limit);
        Ok(KeyPage {
            items: keys,
            next_cursor,
        })
    }
}

impl Handle<CacheGet> for Ctx {
    async fn handle(&self, _: &Caller, p: CacheKey) -> Result<CacheValue, ApiError> {
        let (ns, key) = split_key("key", &p.key)?;
        let (value, ttl_ms) = self
            .cache
            .get_json(ns, &key, self.now().millis())
            .ok_or_else(|| ApiError::not_found("cache key", &p.key))?;
        Ok(CacheValue {
            key: p.key,
            value,
            ttl_ms,
        })
    }
}

impl Handle<CacheSet> for Ctx {
    async fn handle(&self, _: &Caller, p: CacheSetParams) -> Result<CacheValue, ApiError> {
        let full = if p.key.contains(':') {
            p.key.clone()
        } else {
            format!("user:{}", p.key)
        };
        let (ns, key) = split_key("key", &full)?;
        if ns != Namespace::User {
            return Err(ApiError::bad_field(
                "key",
                format!("`{ns}` is the daemon's own namespace; cache.set writes only `user:` keys"),
            ));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(ApiError::bad_field(
                "key",
                format!("{} bytes exceeds the limit of {MAX_KEY_BYTES}", key.len()),
            ));
        }
        let ttl = p.ttl.map(|t| ttl_s("ttl", t)).transpose()?;
        let bytes = serde_json::to_vec(&p.value).map_or(usize::MAX, |v| v.len());
        if bytes > MAX_USER_VALUE_BYTES {
            return Err(ApiError::bad_field(
                "value",
                format!("{bytes} bytes exceeds the limit of {MAX_USER_VALUE_BYTES}"),
            ));
        }
        let now = self.now().millis();
        self.cache.put(ns, &key, p.value.clone(), bytes, ttl, now);
        let ttl_ms = i64::try_from(
            ttl.unwrap_or_else(|| self.cache.ttl_s(ns))
                .saturating_mul(1000),
        )
        .unwrap_or(i64::MAX);
        Ok(CacheValue {
            key: full,
            value: p.value,
            ttl_ms,
        })
    }
}

impl Handle<CacheDelete> for Ctx {
    async fn handle(&self, caller: &Caller, p: CacheKey) -> Result<CacheDeleted, ApiError> {
        let (ns, key) = split_key("key", &p.key)?;
        if ns != Namespace::User && !caller.allows(Scope::Admin) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("deleting `{ns}` keys needs the admin scope; `user:` keys need trade"),
            ));
        }
        Ok(CacheDeleted {
            deleted: u64::from(self.cache.delete(ns, &key)),
        })
    }
}

impl Handle<CacheDeletePattern> for Ctx {
    async fn handle(&self, _: &Caller, p: PatternParams) -> Result<CacheDeleted, ApiError> {
        let g = glob(&p.pattern)?;
        let mut deleted = 0;
        for ns in namespaces_for(&g) {
            deleted = self
                .cache
                .delete_where(ns, |k| g.matches(&format!("{ns}:{k}")))
                .saturating_add(deleted);
        }
        Ok(CacheDeleted { deleted })
    }
}

impl Handle<CacheTtlGet> for Ctx {
    async fn handle(&self, _: &Caller, p: NamespaceParams) -> Result<NamespaceTtl, ApiError> {
        Ok(NamespaceTtl {
            namespace: p.namespace,
            ttl_s: self.cache.ttl_s(p.namespace),
        })
    }
}

impl Handle<CacheTtlSet> for Ctx {
    async fn handle(&self, _: &Caller, p: TtlSetParams) -> Result<NamespaceTtl, ApiError> {
        let ttl = ttl_s("ttl", p.ttl)?;
        self.cache
            .set_ttl_s(p.namespace, ttl)
            .map_err(|m| ApiError::bad_field("ttl", m))?;
        Ok(NamespaceTtl {
            namespace: p.namespace,
            ttl_s: ttl,
        })
    }
}

impl Handle<CacheFlush> for Ctx {
    async fn handle(&self, _: &Caller, p: FlushParams) -> Result<CacheDeleted, ApiError> {
        Ok(CacheDeleted {
            deleted: self.cache.flush(p.namespace),
        })
    }
}
