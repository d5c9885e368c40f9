//! `cargo bench -p tradingd --bench cache`: the in-daemon cache.
//!
//! 1. In process: a hit (`get`) and a `set`, one thread and two threads
//!    at once (target ≤ 200 ns per hit).
//! 2. `market.ticker` over the socket against the real daemon binary with
//!    a warm cache: p50 / p99 round trip, and the ticker namespace's hit
//!    rate over the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tradedesk_core::api::Empty;
use tradedesk_core::api::cache::CacheStats;
use tradedesk_core::api::cache::Namespace;
use tradedesk_core::api::market::{MarketTicker, SymbolParam};
use tradedesk_core::client::Client;
use tradedesk_core::market::Ticker;
use tradingd::services::cache::Cache;

#[path = "support/daemon.rs"]
mod daemon;

fn ticker(symbol: &str) -> Ticker {
    serde_json::from_value(serde_json::json!({
        "symbol": symbol, "time": "2026-01-01T00:00:00Z", "last": "65012.5", "bid": "65011.25",
        "ask": "65013.75", "open_24h": "64100", "high_24h": "65300", "low_24h": "63900.5", "volume_24h": "812.5"
    }))
    .expect("ticker")
}

fn per_op(n: u64, d: Duration) -> f64 {
    d.as_secs_f64() * 1e9 / n as f64
}

fn in_process(quick: bool) {
    let cache = Arc::new(Cache::new(64 << 20));
    let symbols: Vec<String> = (0..64).map(|i| format!("SYM{i}USDT")).collect();
    for s in &symbols {
        cache.put(Namespace::Ticker, s, ticker(s), 320, Some(3_600), 1);
    }
    let n: u64 = if quick { 100_000 } else { 10_000_000 };
    let t = Instant::now();
    let mut found = 0_u64;
    for i in 0..n {
        let s = &symbols[(i % 64) as usize];
        if cache.get::<Ticker>(Namespace::Ticker, s, 2).is_some() {
            found += 1;
        }
    }
    let hit = per_op(n, t.elapsed());
    assert_eq!(found, n);
    let made: Vec<Ticker> = symbols.iter().map(|s| ticker(s)).collect();
    let t = Instant::now();
    for i in 0..n / 10 {
        let k = (i % 64) as usize;
        cache.put(
            Namespace::Ticker,
            &symbols[k],
            made[k].clone(),
            320,
            Some(3_600),
            2,
        );
    }
    let set = per_op(n / 10, t.elapsed());
    // Two readers at once (the machine has two cores).
    let t = Instant::now();
    std::thread::scope(|sc| {
        for _ in 0..2 {
            let (cache, symbols) = (&cache, &symbols);
            sc.spawn(move || {
                for i in 0..n {
                    let s = &symbols[(i % 64) as usize];
                    assert!(cache.get::<Ticker>(Namespace::Ticker, s, 3).is_some());
                }
            });
        }
    });
    let both = per_op(2 * n, t.elapsed()) * 2.0;
    println!(
        "in process: hit {hit:.0} ns, set {set:.0} ns (a ticker clone included; 64 keys); two threads reading at once: {both:.0} ns per hit each  (target ≤ 200 ns per hit)"
    );
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    in_process(quick);

    let dir = tempfile::tempdir().expect("tempdir");
    let (d, _) = daemon::Daemon::spawn(dir.path(), &[]);
    let mut c = Client::connect(&d.socket).expect("connect");
    let p = SymbolParam {
        symbol: "BTCUSDT".parse().expect("symbol"),
    };
    let n = if quick { 1_000 } else { 50_000 };
    for _ in 0..n / 10 {
        c.call::<MarketTicker>(&p).expect("warm");
    }
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        c.call::<MarketTicker>(&p).expect("ticker");
        lat.push(t.elapsed());
    }
    lat.sort();
    let pct = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    let stats = c.call::<CacheStats>(&Empty {}).expect("stats");
    let t = stats
        .namespaces
        .iter()
        .find(|s| s.namespace == Namespace::Ticker)
        .expect("ticker namespace");
    println!(
        "market.ticker over the socket, warm cache, {n} calls: p50 {:.1} µs, p99 {:.1} µs; ticker hit rate {:.2}% ({} hits, {} misses: the market tick replaces the entry, so misses are rare)",
        pct(0.5),
        pct(0.99),
        t.stats.hit_rate.unwrap_or(0.0) * 100.0,
        t.stats.hits,
        t.stats.misses
    );
    d.stop();
}
