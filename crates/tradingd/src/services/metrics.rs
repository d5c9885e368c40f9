//! Prometheus metrics (`GET /metrics`, admin token): requests and their
//! latency per method and transport, counted where every call passes (the
//! dispatcher), and at scrape time the state the daemon already keeps —
//! orders by status, fills, risk rejections, jobs by state, bots by status,
//! cache hits and misses per namespace, open sessions.
//!
//! The request counters are process-wide (one daemon per process).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use tradedesk_core::api::Transport;
use tradedesk_core::api::cache::Namespace;

use crate::context::Ctx;

/// Latency buckets' upper bounds, in microseconds.
const BUCKETS_US: [u64; 13] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];

#[derive(Default)]
pub struct Series {
    count: AtomicU64,
    errors: AtomicU64,
    sum_us: AtomicU64,
    /// Cumulative counts per bucket, and one for +Inf (`count`).
    buckets: [AtomicU64; BUCKETS_US.len()],
}

static REQUESTS: LazyLock<Mutex<BTreeMap<(&'static str, &'static str), &'static Series>>> =
    LazyLock::new(|| Mutex::new(BTreeMap::new()));

fn transport(t: Transport) -> &'static str {
    match t {
        Transport::Unix => "unix",
        Transport::Http => "http",
        Transport::Internal => "internal",
    }
}

/// A method's series on each transport (unix, http, internal), made once
/// when the dispatcher is built and kept for the process's life: a bounded
/// set (the catalogue × 3), so a call records without taking a lock.
pub fn series_of(method: &'static str) -> [&'static Series; 3] {
    let mut map = REQUESTS.lock().unwrap_or_else(PoisonError::into_inner);
    [Transport::Unix, Transport::Http, Transport::Internal].map(|t| {
        *map.entry((method, transport(t)))
            .or_insert_with(|| Box::leak(Box::new(Series::default())))
    })
}

/// Records one call on `series` (from [`series_of`]).
pub fn record(series: [&'static Series; 3], t: Transport, took: Duration, ok: bool) {
    let series = match t {
        Transport::Unix => series[0],
        Transport::Http => series[1],
        Transport::Internal => series[2],
    };
    let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    series.count.fetch_add(1, Ordering::Relaxed);
    series.sum_us.fetch_add(us, Ordering::Relaxed);
    if !ok {
        series.errors.fetch_add(1, Ordering::Relaxed);
    }
    for (b, le) in series.buckets.iter().zip(BUCKETS_US) {
        if us <= le {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn counts(ctx: &Ctx, sql: &str) -> Vec<(String, u64)> {
    let store = ctx.store();
    let Ok(mut stmt) = store.conn().prepare_cached(sql) else {
        return Vec::new();
    };
    stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.cast_unsigned()))
    })
    .map(|rows| rows.filter_map(Result::ok).collect())
    .unwrap_or_default()
}

fn one(ctx: &Ctx, sql: &str) -> u64 {
    ctx.store()
        .conn()
        .query_row(sql, [], |r| r.get::<_, i64>(0))
        .map_or(0, i64::cast_unsigned)
}

/// The text exposition of every metric.
pub fn render(ctx: &Ctx) -> String {
    let mut out = String::new();
    requests(&mut out);
    state(ctx, &mut out);
    out
}

/// The calls counted by the dispatcher.
fn requests(out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP tradingd_requests_total Calls by method and transport."
    );
    let _ = writeln!(out, "# TYPE tradingd_requests_total counter");
    let map: Vec<_> = REQUESTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(k, v)| (*k, *v))
        .collect();
    for ((m, t), s) in &map {
        let _ = writeln!(
            out,
            "tradingd_requests_total{{method=\"{m}\",transport=\"{t}\"}} {}",
            s.count.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP tradingd_request_errors_total Calls answered with an error."
    );
    let _ = writeln!(out, "# TYPE tradingd_request_errors_total counter");
    for ((m, t), s) in &map {
        let _ = writeln!(
            out,
            "tradingd_request_errors_total{{method=\"{m}\",transport=\"{t}\"}} {}",
            s.errors.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(out, "# HELP tradingd_request_seconds Call latency.");
    let _ = writeln!(out, "# TYPE tradingd_request_seconds histogram");
    for ((m, t), s) in &map {
        for (b, le) in s.buckets.iter().zip(BUCKETS_US) {
            let _ = writeln!(
                out,
                "tradingd_request_seconds_bucket{{method=\"{m}\",transport=\"{t}\",le=\"{}\"}} {}",
                le as f64 / 1e6,
                b.load(Ordering::Relaxed)
            );
        }
        let n = s.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "tradingd_request_seconds_bucket{{method=\"{m}\",transport=\"{t}\",le=\"+Inf\"}} {n}"
        );
        let _ = writeln!(
            out,
            "tradingd_request_seconds_sum{{method=\"{m}\",transport=\"{t}\"}} {}",
            s.sum_us.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "tradingd_request_seconds_count{{method=\"{m}\",transport=\"{t}\"}} {n}"
        );
    }
}

/// What the daemon keeps, read at scrape time.
fn state(ctx: &Ctx, out: &mut String) {
    let gauge = |out: &mut String, name: &str, help: &str, label: &str, rows: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (k, v) in rows {
            let _ = writeln!(out, "{name}{{{label}=\"{k}\"}} {v}");
        }
    };
    gauge(
        out,
        "tradingd_orders",
        "Orders by status.",
        "status",
        &counts(ctx, "SELECT status, COUNT(*) FROM orders GROUP BY status"),
    );
    gauge(
        out,
        "tradingd_jobs",
        "Jobs by state.",
        "state",
        &counts(ctx, "SELECT state, COUNT(*) FROM jobs GROUP BY state"),
    );
    gauge(
        out,
        "tradingd_bots",
        "Bots by status.",
        "status",
        &counts(
            ctx,
            "SELECT status, COUNT(*) FROM bots WHERE deleted_ms IS NULL GROUP BY status",
        ),
    );
    let total = |out: &mut String, name: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name} {value}");
    };
    total(
        out,
        "tradingd_fills_total",
        "Fills booked.",
        one(ctx, "SELECT COUNT(*) FROM fills"),
    );
    total(
        out,
        "tradingd_risk_rejections_total",
        "Orders the risk checks refused.",
        one(ctx, "SELECT COUNT(*) FROM risk_violations"),
    );
    let _ = writeln!(
        out,
        "# HELP tradingd_cache_hits_total Cache hits by namespace."
    );
    let _ = writeln!(out, "# TYPE tradingd_cache_hits_total counter");
    for ns in Namespace::ALL {
        let s = ctx.cache.stats(ns);
        let _ = writeln!(
            out,
            "tradingd_cache_hits_total{{namespace=\"{}\"}} {}",
            ns.as_str(),
            s.hits
        );
        let _ = writeln!(
            out,
            "tradingd_cache_misses_total{{namespace=\"{}\"}} {}",
            ns.as_str(),
            s.misses
        );
    }
    let _ = writeln!(
        out,
        "# HELP tradingd_sessions Open socket and WebSocket connections."
    );
    let _ = writeln!(out, "# TYPE tradingd_sessions gauge");
    let _ = writeln!(out, "tradingd_sessions {}", ctx.sessions.count());
}
