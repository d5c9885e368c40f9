//! The in-daemon cache: market and analytics reads come from it and are
//! never stale after a write; its figures; managing it; bad input.

use serde_json::{Value, json};

use super::support::{TestDaemon, call, call_err};

fn ns_stats(stats: &Value, ns: &str) -> Value {
    stats["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .find(|n| n["namespace"] == ns)
        .cloned()
        .expect("namespace listed")
}

#[test]
fn tickers_are_served_from_the_cache_and_never_stale_after_a_write() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    d.minutes(1);
    let mut c = d.client();
    let before = call(&mut c, "market.ticker", json!({ "symbol": "BTCUSDT" }));
    let again = call(&mut c, "market.ticker", json!({ "symbol": "BTCUSDT" }));
    assert_eq!(before, again);
    let s = ns_stats(&call(&mut c, "cache.stats", json!({})), "market.ticker");
    assert!(s["hits"].as_u64().expect("hits") >= 2, "{s}");

    // A market tick is the write that changes tickers (our own orders do
    // not move the simulated market): the next read sees the tick's
    // ticker, exactly as a read without the cache would.
    d.minutes(1);
    let after = call(&mut c, "market.ticker", json!({ "symbol": "BTCUSDT" }));
    assert_ne!(after["time"], before["time"], "{after}");
    call(
        &mut c,
        "cache.flush",
        json!({ "namespace": "market.ticker" }),
    );
    let fresh = call(&mut c, "market.ticker", json!({ "symbol": "BTCUSDT" }));
    assert_eq!(after, fresh, "no stale read after the write");
    let all = call(&mut c, "market.tickers", json!({}));
    let btc = all["items"]
        .as_array()
        .expect("tickers")
        .iter()
        .find(|t| t["symbol"] == "BTCUSDT")
        .cloned()
        .expect("BTCUSDT");
    assert_eq!(btc, fresh);
}

#[test]
fn klines_are_cached_until_a_bar_closes() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    d.minutes(3);
    let mut c = d.client();
    let q = json!({ "symbol": "ETHUSDT", "interval": "1m", "limit": 50 });
    let first = call(&mut c, "market.klines", q.clone());
    let second = call(&mut c, "market.klines", q.clone());
    assert_eq!(first, second);
    let s = ns_stats(&call(&mut c, "cache.stats", json!({})), "market.klines");
    assert_eq!(
        (s["hits"].as_u64(), s["entries"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    let n = first["bars"].as_array().expect("bars").len();
    d.minutes(1);
    let third = call(&mut c, "market.klines", q.clone());
    let bars = third["bars"].as_array().expect("bars");
    assert_eq!(bars.len(), n + 1, "the newly closed bar is there: {third}");
    // The same as reading the database without the cache.
    call(
        &mut c,
        "cache.flush",
        json!({ "namespace": "market.klines" }),
    );
    assert_eq!(call(&mut c, "market.klines", q), third);
    let s = ns_stats(&call(&mut c, "cache.stats", json!({})), "market.klines");
    assert_eq!(
        s["entries"].as_u64(),
        Some(1),
        "the stale entry was deleted at the close: {s}"
    );
}

#[test]
fn a_finished_backtests_metrics_are_cached_and_dropped_with_it() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    d.minutes(40);
    let mut c = d.client();
    let job = call(
        &mut c,
        "data.import",
        json!({ "format": "klines", "symbol": "BTCUSDT", "name": "btc" }),
    );
    super::support::settled(&mut c, &job["id"]);
    let b = call(
        &mut c,
        "backtests.create",
        json!({
            "strategies": [{ "spec": { "strategy": "sma_cross", "params": { "fast": 3, "slow": 8 } }, "datasets": [1] }],
            "settings": { "capital": "10000" }
        }),
    );
    super::support::settled(&mut c, &b["job_id"]);
    let m1 = call(&mut c, "backtests.results", json!({ "id": b["id"] }));
    let m2 = call(&mut c, "backtests.results", json!({ "id": b["id"] }));
    assert_eq!(m1, m2);
    let s = ns_stats(&call(&mut c, "cache.stats", json!({})), "backtests");
    assert_eq!(s["hits"].as_u64(), Some(1), "{s}");
    call(&mut c, "backtests.delete", json!({ "id": b["id"] }));
    let (_, msg) = call_err(&mut c, "backtests.results", json!({ "id": b["id"] }));
    assert!(msg.contains("not found"), "{msg}");
}

#[test]
fn user_values_ttls_keys_and_flush() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let set = call(
        &mut c,
        "cache.set",
        json!({ "key": "note", "value": { "a": [1, 2] }, "ttl": 2 }),
    );
    assert_eq!(set["key"], "user:note");
    call(&mut c, "cache.set", json!({ "key": "user:n2", "value": 5 }));
    call(
        &mut c,
        "cache.set",
        json!({ "key": "user:other", "value": "x" }),
    );
    let got = call(&mut c, "cache.get", json!({ "key": "user:note" }));
    assert_eq!(got["value"], json!({ "a": [1, 2] }));
    assert_eq!(got["ttl_ms"], 2000);

    let keys = call(&mut c, "cache.keys", json!({ "pattern": "user:n*" }));
    let names: Vec<&str> = keys["items"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["key"].as_str().expect("key"))
        .collect();
    assert_eq!(names, vec!["user:n2", "user:note"]);
    let page = call(
        &mut c,
        "cache.keys",
        json!({ "namespace": "user", "limit": 2 }),
    );
    assert_eq!(page["next_cursor"], "user:note");
    let rest = call(
        &mut c,
        "cache.keys",
        json!({ "namespace": "user", "cursor": "user:note" }),
    );
    assert_eq!(rest["items"].as_array().expect("keys").len(), 1);
    assert_eq!(rest["items"][0]["key"], "user:other");

    // Two seconds later the first one has expired.
    d.ctx.advance(2_500);
    let (_, msg) = call_err(&mut c, "cache.get", json!({ "key": "user:note" }));
    assert!(msg.contains("not found"), "{msg}");
    let s = ns_stats(&call(&mut c, "cache.stats", json!({})), "user");
    assert!(s["expirations"].as_u64().expect("expirations") >= 1, "{s}");

    assert_eq!(
        call(&mut c, "cache.ttl.get", json!({ "namespace": "user" }))["ttl_s"],
        300
    );
    call(
        &mut c,
        "cache.ttl.set",
        json!({ "namespace": "user", "ttl": 60 }),
    );
    assert_eq!(
        call(&mut c, "cache.ttl.get", json!({ "namespace": "user" }))["ttl_s"],
        60
    );
    assert_eq!(
        call(
            &mut c,
            "cache.delete_pattern",
            json!({ "pattern": "user:o*" })
        )["deleted"],
        1
    );
    assert_eq!(
        call(&mut c, "cache.delete", json!({ "key": "user:n2" }))["deleted"],
        1
    );
    assert_eq!(
        call(&mut c, "cache.delete", json!({ "key": "user:n2" }))["deleted"],
        0
    );
    call(&mut c, "cache.set", json!({ "key": "k", "value": 1 }));
    assert_eq!(
        call(&mut c, "cache.flush", json!({ "namespace": "user" }))["deleted"],
        1
    );
    let h = call(&mut c, "cache.health", json!({}));
    assert_eq!(h["ok"], true);
    assert_eq!(h["max_bytes"], 64 * 1024 * 1024);
}

#[test]
fn bad_cache_input_names_the_fault_and_changes_nothing() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    call(&mut c, "cache.set", json!({ "key": "keep", "value": 1 }));
    let before = call(&mut c, "cache.keys", json!({}));
    let big = "x".repeat(70_000);
    for (method, params, want) in [
        (
            "cache.keys",
            json!({ "pattern": "user:[ab" }),
            "`pattern`: the glob is invalid: unclosed character class; missing ']'",
        ),
        (
            "cache.delete_pattern",
            json!({ "pattern": "[z-a]" }),
            "`pattern`",
        ),
        (
            "cache.set",
            json!({ "key": "a", "value": 1, "ttl": -5 }),
            "`ttl`: must be between 1 and 2592000 seconds, got -5",
        ),
        (
            "cache.set",
            json!({ "key": "a", "value": 1, "ttl": 99_999_999 }),
            "`ttl`",
        ),
        (
            "cache.set",
            json!({ "key": "a", "value": big }),
            "`value`: 70002 bytes exceeds the limit of 65536",
        ),
        (
            "cache.set",
            json!({ "key": "market.ticker:BTCUSDT", "value": { "last": "1" } }),
            "cache.set writes only `user:` keys",
        ),
        (
            "cache.set",
            json!({ "key": "nope:x", "value": 1 }),
            "`key`: `nope:x` is not `namespace:key`",
        ),
        (
            "cache.ttl.set",
            json!({ "namespace": "user", "ttl": 0 }),
            "`ttl`: must be between 1",
        ),
        (
            "cache.ttl.set",
            json!({ "namespace": "bogus", "ttl": 5 }),
            "namespace",
        ),
        (
            "cache.get",
            json!({ "key": "user:" }),
            "`key`: the key after the namespace is empty",
        ),
        ("cache.flush", json!({ "namespace": "nope" }), "namespace"),
    ] {
        let (_, msg) = call_err(&mut c, method, params.clone());
        assert!(msg.contains(want), "{method} {params}: {msg}");
    }
    assert_eq!(
        call(&mut c, "cache.keys", json!({})),
        before,
        "nothing changed"
    );
    assert_eq!(
        call(&mut c, "cache.ttl.get", json!({ "namespace": "user" }))["ttl_s"],
        300
    );
    // The market data stays the daemon's.
    call(&mut c, "market.ticker", json!({ "symbol": "BTCUSDT" }));
    let t = call(
        &mut c,
        "cache.get",
        json!({ "key": "market.ticker:BTCUSDT" }),
    );
    assert_ne!(t["value"]["last"], "1");
}
