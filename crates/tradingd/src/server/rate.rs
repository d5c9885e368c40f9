//! Request rate limits of the HTTP transport: a token bucket per user (per
//! address for requests without a valid token), `http.rate_burst` deep,
//! refilled at `http.rate_per_min` (admins `http.admin_rate_factor` times
//! that). Every answer says where its caller stands (`X-RateLimit-Limit`,
//! `-Remaining`, `-Reset`); a refused request is 429 with `Retry-After`.
//! Amounts are kept in thousandths of a request, in integers.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

const MILLI: u64 = 1000;
/// Buckets kept before full ones are forgotten.
const MAX_BUCKETS: usize = 10_000;

struct Bucket {
    /// Thousandths of a request.
    level: u64,
    at: Instant,
}

/// Where a caller stands after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub allowed: bool,
    /// Requests per minute for this caller.
    pub limit: u64,
    /// Requests left right now.
    pub remaining: u64,
    /// Seconds until the bucket is full again.
    pub reset_s: u64,
    /// Seconds until one request is allowed (0 when allowed).
    pub retry_after_s: u64,
}

pub struct Limiter {
    per_min: u64,
    burst: u64,
    admin_factor: u64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

impl Limiter {
    pub fn new(per_min: u64, burst: u64, admin_factor: u64) -> Limiter {
        Limiter {
            per_min,
            burst,
            admin_factor,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s bucket if it has one.
    pub fn take(&self, key: &str, admin: bool, now: Instant) -> Standing {
        let factor = if admin { self.admin_factor } else { 1 };
        let per_min = self.per_min.saturating_mul(factor);
        let capacity = self.burst.saturating_mul(factor).saturating_mul(MILLI);
        // Thousandths of a request per minute = per millisecond × 60,000.
        let per_min_milli = per_min.saturating_mul(MILLI);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, b| b.level < capacity);
        }
        let b = buckets.entry(key.to_owned()).or_insert(Bucket {
            level: capacity,
            at: now,
        });
        let elapsed_ms =
            u64::try_from(now.saturating_duration_since(b.at).as_millis()).unwrap_or(u64::MAX);
        let refill = elapsed_ms.saturating_mul(per_min_milli) / 60_000;
        b.level = b.level.saturating_add(refill).min(capacity);
        b.at = now;
        let allowed = b.level >= MILLI;
        if allowed {
            b.level = b.level.saturating_sub(MILLI);
        }
        // Milliseconds to refill `missing` thousandths.
        let ms_for = |missing: u64| ceil_div(missing.saturating_mul(60_000), per_min_milli);
        Standing {
            allowed,
            limit: per_min,
            remaining: b.level / MILLI,
            reset_s: ceil_div(ms_for(capacity.saturating_sub(b.level)), 1000),
            retry_after_s: if allowed {
                0
            } else {
                ceil_div(ms_for(MILLI.saturating_sub(b.level)), 1000).max(1)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_the_rate() {
        let l = Limiter::new(60, 3, 10);
        let t0 = Instant::now();
        let left: Vec<u64> = (0..3).map(|_| l.take("u", false, t0).remaining).collect();
        assert_eq!(left, [2, 1, 0]);
        let refused = l.take("u", false, t0);
        assert!(!refused.allowed);
        assert_eq!((refused.retry_after_s, refused.limit), (1, 60));
        // One a second at 60/min.
        assert!(l.take("u", false, t0 + Duration::from_secs(1)).allowed);
        assert!(!l.take("u", false, t0 + Duration::from_millis(1500)).allowed);
        // Another key has its own bucket; an admin's is ten times larger.
        assert!(l.take("v", false, t0).allowed);
        let admin = l.take("a", true, t0);
        assert_eq!((admin.limit, admin.remaining), (600, 29));
    }
}
