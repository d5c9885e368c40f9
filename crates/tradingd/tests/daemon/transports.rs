//! The socket and HTTP transports are one API: the same typed calls, made
//! by the desk's own client over the Unix socket and over REST
//! (`Client::connect_remote`, the route, path, query and body built from
//! the catalogue), give the same answers.

use serde_json::{Value, json};
use tradedesk_core::api::{Verb, method_routes};
use tradedesk_core::client::Client;

use super::backtests::{import, sine_csv, spec, wait_backtest};
use super::support::{TestDaemon, call};

/// Read methods whose answer depends on who asks or on the moment, and
/// why; every other `GET` method of the catalogue is compared.
const NOT_COMPARED: &[(&str, &str)] = &[
    ("auth.me", "names the caller"),
    ("auth.tokens.list", "the caller's own tokens"),
    ("auth.profile.get", "the caller's own profile"),
    ("auth.preferences.get", "the caller's own preferences"),
    ("system.health", "uptime and live connection counts"),
    ("system.info", "uptime and live connection counts"),
    ("system.doctor", "free disk and log sizes measured now"),
    ("jobs.health", "queue lag measured now"),
    ("jobs.stats", "queue lag measured now"),
    ("jobs.workers", "what each worker runs now"),
    ("jobs.schedules.preview", "times from now"),
    (
        "cache.health",
        "hit and miss counters, moved by these calls",
    ),
    ("cache.stats", "hit and miss counters, moved by these calls"),
    ("cache.keys", "entries these calls add"),
    ("cache.get", "entries these calls add"),
    ("bots.performance", "figures at the current mark"),
    ("analytics.performance", "figures at the current mark"),
];

/// The params each compared method is called with, on the fixtures below.
fn params(method: &str) -> Value {
    match method {
        "market.ticker" | "market.trades" => json!({ "symbol": "BTCUSDT" }),
        "market.klines" => json!({ "symbol": "BTCUSDT", "interval": "1m", "limit": 50 }),
        "market.orderbook" => json!({ "symbol": "BTCUSDT", "depth": 5 }),
        "accounts.balances" => json!({ "account": "paper" }),
        "positions.get" => json!({ "symbol": "BTCUSDT", "account": "paper" }),
        "orders.get" => json!({ "client_order_id": "conf-1" }),
        "orders.list" => json!({ "limit": 10, "status": "new" }),
        "bots.get" | "bots.events" | "bots.equity" | "strategies.get" | "jobs.get"
        | "jobs.schedules.get" | "data.get" | "data.bars" | "backtests.get"
        | "backtests.results" | "backtests.trades" | "backtests.report" => json!({ "id": 1 }),
        "backtests.equity" => json!({ "id": 1, "downsample": 20 }),
        "cache.ttl.get" => json!({ "namespace": "market.klines" }),
        _ => json!({}),
    }
}

#[test]
fn every_read_method_answers_the_same_over_the_socket_and_http() {
    let d = TestDaemon::start_with(|c| {
        c.http.enabled = true;
        c.http.bind = "127.0.0.1:0".parse().expect("addr");
        c.http.rate_per_min = 1_000_000;
        c.http.rate_burst = 10_000;
        c.sim.spec.tick_ms = 60_000;
        c.sim.history_minutes = 0;
    });
    let mut socket = d.client();
    fixtures(&mut socket);
    // An administrator over HTTP sees what the socket's does.
    call(
        &mut socket,
        "users.create",
        json!({ "name": "root", "password": "conformance pass", "role": "admin" }),
    );
    let url = format!("http://{}", d.http.expect("http"));
    let mut http = super::support::http_login(&url, "root", "conformance pass");

    let mut compared = Vec::new();
    for &(name, verb, _) in method_routes() {
        if verb != Verb::Get || NOT_COMPARED.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let p = params(name);
        let over_socket = socket
            .call_raw(name, &p)
            .unwrap_or_else(|e| panic!("{name} over the socket: {e}"));
        let over_http = http
            .call_raw(name, &p)
            .unwrap_or_else(|e| panic!("{name} over HTTP: {e}"));
        assert_eq!(over_socket, over_http, "{name} {p}");
        compared.push(name);
    }
    let gets = method_routes()
        .iter()
        .filter(|(_, v, _)| *v == Verb::Get)
        .count();
    assert_eq!(
        compared.len() + NOT_COMPARED.len(),
        gets,
        "every read method is compared or excused"
    );
    assert!(compared.len() >= 40, "{compared:?}");
    // Errors too: the same code, message and field.
    for (name, p) in [
        ("orders.get", json!({ "id": 999_999 })),
        ("market.ticker", json!({ "symbol": "NOPE" })),
        ("orders.list", json!({ "limit": 0 })),
        ("bots.get", json!({ "id": "x" })),
    ] {
        let a = socket.call_raw(name, &p).expect_err("an error");
        let b = http.call_raw(name, &p).expect_err("an error");
        assert_eq!(a.to_string(), b.to_string(), "{name} {p}");
    }
    // A write through each, read back through the other.
    let placed = http
        .call_raw(
            "orders.place",
            &json!({ "symbol": "ETHUSDT", "side": "buy", "type": "limit", "qty": "0.1", "price": "100", "account": "paper" }),
        )
        .expect("place over HTTP");
    let read = socket
        .call_raw("orders.get", &json!({ "id": placed["id"] }))
        .expect("read over the socket");
    assert_eq!(placed, read);
}

/// One of each object, made over the socket by its administrator.
fn fixtures(socket: &mut Client) {
    call(
        socket,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.01", "price": "1000", "client_order_id": "conf-1" }),
    );
    call(
        socket,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
    );
    call(
        socket,
        "strategies.create",
        json!({ "name": "conf", "spec": { "strategy": "sma_cross", "params": { "fast": 5, "slow": 10 } } }),
    );
    call(
        socket,
        "bots.create",
        json!({ "name": "conf-bot", "spec": { "strategy": "dca", "params": { "every_bars": 5 } },
                "symbols": ["BTCUSDT"], "allocation": { "USDT": "100" } }),
    );
    call(
        socket,
        "jobs.enqueue",
        json!({ "kind": "risk.report", "run_at": "2100-01-01T00:00:00Z" }),
    );
    call(
        socket,
        "jobs.schedules.create",
        json!({ "name": "nightly", "cron": "0 2 * * *", "kind": "maintenance.vacuum" }),
    );
    let dir = tempfile::tempdir().expect("dir");
    let ds = import(
        socket,
        json!({ "path": sine_csv(dir.path(), "s.csv", 80), "symbol": "SINEUSD" }),
    )["result"]["dataset"]
        .clone();
    let created = call(socket, "backtests.create", spec(&ds, 5, 20));
    wait_backtest(socket, &created);
}
