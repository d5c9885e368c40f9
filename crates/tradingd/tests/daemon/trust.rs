//! Trust: single ordinary requests must not freeze the daemon, suspend
//! trading or slip past a risk limit. Each test reproduces a case seen when
//! the desk was tried as a hostile or careless client would.

use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tradedesk_core::client::Client;

use super::support::{TestDaemon, call, call_failing, settled};

fn last(c: &mut Client, symbol: &str) -> Decimal {
    call(c, "market.ticker", json!({ "symbol": symbol }))["last"]
        .as_str()
        .expect("last")
        .parse()
        .expect("decimal")
}

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
        .parse()
        .expect("decimal")
}

fn open_orders(c: &mut Client, bot: Option<u64>) -> Vec<Value> {
    let mut p = json!({ "open": true, "limit": 1000 });
    if let Some(b) = bot {
        p["bot_id"] = json!(b);
    }
    call(c, "orders.list", p)["items"]
        .as_array()
        .expect("orders")
        .clone()
}

fn events(c: &mut Client, bot: u64) -> Vec<Value> {
    call(c, "bots.events", json!({ "id": bot, "limit": 1000 }))["items"]
        .as_array()
        .expect("events")
        .clone()
}

fn position(c: &mut Client, bot: u64, symbol: &str) -> Decimal {
    let view = call(c, "bots.get", json!({ "id": bot }));
    view["positions"]
        .as_array()
        .expect("positions")
        .iter()
        .find(|p| p["symbol"] == symbol)
        .map_or(Decimal::ZERO, |p| dec(&p["qty"]))
}

/// A normal order still fills and the exchange is not suspended.
fn assert_trading_goes_on(c: &mut Client) {
    let o = call(
        c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
    );
    assert_eq!(o["status"], "filled", "{o}");
    let h = call(c, "system.health", json!({}));
    assert_eq!(h["status"], "ok", "{h}");
}

#[test]
fn an_oversized_amount_is_refused_by_name_and_trading_goes_on() {
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    let huge = "2000000000000000000000000";
    let orders = [
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": huge }),
        json!({ "symbol": "SOLUSDT", "side": "buy", "type": "market", "qty": "530000000000000000000000000" }),
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": huge, "price": "0.01" }),
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "take_profit", "qty": huge, "stop_price": "1000000" }),
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "trailing_stop", "qty": huge, "trail": { "percent": "2" } }),
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.001", "price": "79228162514264337593543950335" }),
    ];
    for order in &orders {
        // The read-scope dry run first, then the real thing.
        for (method, params) in [
            ("risk.check", json!({ "order": order })),
            ("orders.place", order.clone()),
        ] {
            match c.call_raw(method, &params) {
                // A dry run may approve it (no limit is set): the funds check
                // comes when it is placed.
                Ok(v) => assert_eq!(method, "risk.check", "{params}: {v}"),
                Err(tradedesk_core::client::ClientError::Api(e)) => {
                    assert_ne!(e.code, -32603, "{method} {params}: {e}");
                    assert!(
                        e.message.contains("qty")
                            || e.message.contains("price")
                            || e.message.contains("funds")
                            || e.message.contains("balance"),
                        "{method}: {e}"
                    );
                }
                Err(e) => panic!("{method} {params}: {e}"),
            }
        }
        assert_trading_goes_on(&mut c);
    }
    assert!(d.ctx.exchange.lock().degraded.is_none());
    assert_eq!(
        d.ctx.exchange.rebuilds(),
        0,
        "no panic, so nothing to rebuild"
    );
}

#[test]
fn a_second_stop_is_refused_and_the_daemon_keeps_answering() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let bot = call(
        &mut c,
        "bots.create",
        json!({ "name": "twice", "spec": { "strategy": "dca" }, "symbols": ["BTCUSDT"],
                "allocation": { "USDT": "100" }, "start": true }),
    )["id"]
        .as_u64()
        .expect("id");
    call(&mut c, "bots.stop", json!({ "id": bot }));
    let (code, msg, _) = call_failing(&mut c, "bots.stop", json!({ "id": bot }));
    assert_eq!(code, -32004, "{msg}");
    assert!(msg.contains("stopped"), "{msg}");
    let (code, _, _) = call_failing(&mut c, "bots.stop", json!({ "id": 999 }));
    assert_eq!(code, -32006);
    // The same through a job, as the README's stop-at-close schedule does.
    let job = call(
        &mut c,
        "jobs.enqueue",
        json!({ "kind": "bot.stop", "payload": { "id": 999 } }),
    );
    let done = settled(&mut c, &job["id"]);
    assert!(
        matches!(done["state"].as_str(), Some("dead" | "failed")),
        "{done}"
    );
    let job = call(
        &mut c,
        "jobs.enqueue",
        json!({ "kind": "bot.stop", "payload": { "id": bot } }),
    );
    settled(&mut c, &job["id"]);
    d.minutes(1);
    assert_trading_goes_on(&mut c);
}

#[test]
fn position_limits_count_the_open_orders_that_would_grow_the_position() {
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": "symbol:BTCUSDT", "limits": { "max_position_qty": "0.004" } }),
    );
    let px = last(&mut c, "BTCUSDT");
    let below = (px * Decimal::new(9, 1)).round_dp(0).to_string();
    let above = (px * Decimal::new(11, 1)).round_dp(0).to_string();
    let mut accepted = 0;
    for i in 0..4 {
        for order in [
            json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.002", "price": below }),
            json!({ "symbol": "BTCUSDT", "side": "buy", "type": "stop_market", "qty": "0.002", "stop_price": above }),
        ] {
            match c.call_raw("orders.place", &order) {
                Ok(_) => accepted += 1,
                Err(tradedesk_core::client::ClientError::Api(e)) => {
                    assert_eq!(e.code, -32001, "{i}: {e}");
                    assert!(
                        e.message
                            .contains("max_position_qty of symbol:BTCUSDT is 0.004; this order would make it 0.006"),
                        "{e}"
                    );
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    assert_eq!(accepted, 2, "0.002 + 0.002 reach the limit; nothing more");
    // A sell still passes: it shrinks what the buys would make.
    let open = open_orders(&mut c, None);
    let total: Decimal = open.iter().map(|o| dec(&o["qty"])).sum();
    assert_eq!(total, Decimal::new(4, 3));
}

#[test]
fn reduce_only_cancels_the_resting_orders_that_would_grow_the_position() {
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    let px = last(&mut c, "BTCUSDT");
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
    );
    let below = (px * Decimal::new(9, 1)).round_dp(0).to_string();
    let above = (px * Decimal::new(11, 1)).round_dp(0).to_string();
    let far_below = (px * Decimal::new(8, 1)).round_dp(0).to_string();
    let buy_limit = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.001", "price": below }),
    );
    let buy_stop = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "stop_market", "qty": "0.001", "stop_price": above }),
    );
    // A protective sell stop reduces: it stays.
    let sell_stop = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "stop_market", "qty": "0.001", "stop_price": far_below }),
    );
    call(&mut c, "risk.halt", json!({ "reduce_only": true }));
    let open: Vec<u64> = open_orders(&mut c, None)
        .iter()
        .map(|o| o["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(
        open,
        [sell_stop["id"].as_u64().expect("id")],
        "only the protective stop stays"
    );
    for o in [&buy_limit, &buy_stop] {
        let now = call(&mut c, "orders.get", json!({ "id": o["id"] }));
        assert_eq!(now["status"], "cancelled", "{now}");
    }
    // And new growth is refused.
    let (code, _, _) = call_failing(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.001", "price": below }),
    );
    assert_eq!(code, -32003);
    // A second sell beyond the position is growth (it would go short): refused.
    let (code, _, _) = call_failing(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "limit", "qty": "0.001", "price": above }),
    );
    assert_eq!(
        code, -32003,
        "the open sell stop already covers the position"
    );
    let pos = call(&mut c, "positions.get", json!({ "symbol": "BTCUSDT" }));
    assert_eq!(dec(&pos["qty"]), Decimal::new(1, 3));
}

#[test]
fn a_throttled_protective_exit_is_retried_and_never_fails_its_bot() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let id = call(
        &mut c,
        "bots.create",
        json!({ "name": "dca", "spec": { "strategy": "dca", "params": { "every_bars": 1000 },
                "sizing": { "mode": "quote", "value": "100" }, "exits": { "take_profit_pct": "3" } },
                "symbols": ["ETHUSDT"], "allocation": { "USDT": "500" } }),
    )["id"]
        .as_u64()
        .expect("id");
    // One order a second: the entry takes the second, its exit is throttled.
    call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": format!("bot:{id}"), "limits": { "max_orders_per_second": 1 } }),
    );
    call(&mut c, "bots.start", json!({ "id": id }));
    d.minutes(1);
    let bot = call(&mut c, "bots.get", json!({ "id": id }));
    assert_eq!(bot["status"], "running", "{bot}");
    assert!(position(&mut c, id, "ETHUSDT") > Decimal::ZERO);
    let log = events(&mut c, id);
    assert!(
        log.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("refused") && m.contains("max_orders_per_second"))),
        "the refusal is in the log: {log:?}"
    );
    // Retried with backoff: the exit is in place a little later.
    d.minutes(2);
    let bot = call(&mut c, "bots.get", json!({ "id": id }));
    assert_eq!(bot["status"], "running", "{bot}");
    let exits: Vec<Value> = open_orders(&mut c, Some(id))
        .into_iter()
        .filter(|o| o["side"] == "sell")
        .collect();
    assert_eq!(exits.len(), 1, "{exits:?}");
    assert_eq!(dec(&exits[0]["qty"]), position(&mut c, id, "ETHUSDT"));
}

#[test]
fn a_grid_rebuilds_its_ladder_from_what_it_holds_after_a_kill_switch_flatten() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let px = last(&mut c, "BTCUSDT");
    let (lower, upper) = (
        (px * Decimal::new(98, 2)).round_dp(0),
        (px * Decimal::new(102, 2)).round_dp(0),
    );
    let id = call(
        &mut c,
        "bots.create",
        json!({ "name": "grid", "spec": { "strategy": "grid",
                "params": { "lower": lower.to_string(), "upper": upper.to_string(), "levels": 41 },
                "sizing": { "mode": "quote", "value": "50" } },
                "symbols": ["BTCUSDT"], "allocation": { "USDT": "2000" }, "start": true }),
    )["id"]
        .as_u64()
        .expect("id");
    let mut minutes = 0;
    while position(&mut c, id, "BTCUSDT").is_zero() {
        d.minutes(1);
        minutes += 1;
        assert!(minutes < 600, "the grid bought nothing in 10 hours");
    }
    let held = position(&mut c, id, "BTCUSDT");
    call(&mut c, "risk.halt", json!({ "flatten": true }));
    assert!(
        position(&mut c, id, "BTCUSDT").is_zero(),
        "sold by the kill switch"
    );
    let log = events(&mut c, id);
    let mentions = |what: &str| {
        log.iter().any(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("kill switch") && m.contains(what))
        })
    };
    assert!(mentions("cancelled"), "its log names the cancels: {log:?}");
    assert!(mentions("sold"), "and the sale of {held}: {log:?}");
    call(&mut c, "risk.resume", json!({}));
    let seen = log.len();
    d.minutes(15);
    let after: Vec<Value> = events(&mut c, id).into_iter().skip(seen).collect();
    let refused: Vec<&Value> = after.iter().filter(|e| e["kind"] == "error").collect();
    assert!(
        refused.is_empty(),
        "no refusals after the resume: {refused:?}"
    );
    let bot = call(&mut c, "bots.get", json!({ "id": id }));
    assert_eq!(bot["status"], "running", "{bot}");
    // The ladder is back: buys below the price, sells only for what it holds.
    let open = open_orders(&mut c, Some(id));
    assert!(open.iter().any(|o| o["side"] == "buy"), "{open:?}");
    let selling: Decimal = open
        .iter()
        .filter(|o| o["side"] == "sell")
        .map(|o| dec(&o["qty"]))
        .sum();
    assert!(selling <= position(&mut c, id, "BTCUSDT"));
}

#[test]
fn halting_never_loosens_a_stricter_state_without_force() {
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    call(&mut c, "risk.halt", json!({}));
    let (code, msg, _) = call_failing(&mut c, "risk.halt", json!({ "reduce_only": true }));
    assert_eq!(code, -32004, "{msg}");
    assert!(msg.contains("halted") && msg.contains("force"), "{msg}");
    let status = call(&mut c, "risk.status", json!({ "scope": "account:paper" }));
    assert_eq!(status["states"][0]["state"], "halted");
    let s = call(
        &mut c,
        "risk.halt",
        json!({ "reduce_only": true, "force": true }),
    );
    assert_eq!(s["state"], "reducing");
    assert!(
        s["reason"]
            .as_str()
            .is_some_and(|r| r.contains("loosened from halted")),
        "{s}"
    );
    // Tightening needs no force.
    let s = call(&mut c, "risk.halt", json!({}));
    assert_eq!(s["state"], "halted");
}

#[test]
fn health_names_a_component_that_stopped_making_progress() {
    // Above the loops' own longest sleep (the scheduler's second).
    let d = TestDaemon::start_with(|c| c.watchdog.stall_ms = 1_500);
    let mut c = d.client();
    assert_eq!(call(&mut c, "system.health", json!({}))["status"], "ok");
    // Someone holds the exchange for longer than the stall threshold.
    let held = d.ctx.exchange.lock();
    std::thread::sleep(Duration::from_secs(2));
    let h = call(&mut c, "system.health", json!({}));
    // systemd's watchdog goes unfed, and the doctor fails the health check.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stalled = rt.block_on(tradingd::stalled(&d.ctx));
    assert!(
        stalled.as_deref().is_some_and(|s| s.contains("exchange")),
        "{stalled:?}"
    );
    let doctor = call(&mut c, "system.doctor", json!({}));
    let health = doctor["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == "health"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(health["status"], "fail", "{doctor}");
    drop(held);
    assert_eq!(h["status"], "degraded", "{h}");
    let parts = h["components"].as_array().expect("components");
    assert!(
        parts
            .iter()
            .any(|p| p["name"] == "exchange" && p["status"] == "stalled"),
        "{h}"
    );
    let start = Instant::now();
    loop {
        let h = call(&mut c, "system.health", json!({}));
        if h["status"] == "ok" {
            assert_eq!(rt.block_on(tradingd::stalled(&d.ctx)), None);
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{h}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_panic_under_the_exchange_lock_costs_no_restart() {
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    let px = last(&mut c, "BTCUSDT");
    let resting = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.01",
                "price": (px * Decimal::new(9, 1)).round_dp(0).to_string() }),
    );
    let before = call(&mut c, "accounts.balances", json!({}));
    // Something panics while it holds the exchange (and has already
    // changed the books in memory, as a half-done operation would).
    let ctx = std::sync::Arc::clone(&d.ctx);
    let _ = std::thread::spawn(move || {
        let mut state = ctx.exchange.lock();
        state.accounts[0].books.total = tradedesk_core::ledger::Ledger::default();
        panic!("a bug in the middle of an operation");
    })
    .join();
    // The next lock rebuilds the books from the database: nothing lost,
    // the half-done change gone, trading goes on.
    assert_eq!(call(&mut c, "accounts.balances", json!({})), before);
    assert_eq!(d.ctx.exchange.rebuilds(), 1);
    let again = call(&mut c, "orders.get", json!({ "id": resting["id"] }));
    assert_eq!(again["status"], "accepted", "{again}");
    let open = open_orders(&mut c, None);
    assert_eq!(
        open.len(),
        1,
        "the resting order is back in the venue: {open:?}"
    );
    assert_trading_goes_on(&mut c);
    // It can still be cancelled: the venue knows it again.
    let cancelled = call(&mut c, "orders.cancel", json!({ "id": resting["id"] }));
    assert_eq!(cancelled["status"], "cancelled");
    let alerts = call(&mut c, "risk.alerts", json!({}));
    assert!(
        alerts["items"]
            .as_array()
            .expect("alerts")
            .iter()
            .any(|a| a["message"]
                .as_str()
                .is_some_and(|m| m.contains("rebuilt from the database"))),
        "{alerts}"
    );
}

static RELEASE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn stuck_schema() -> Value {
    json!({ "type": "object" })
}

#[allow(clippy::unnecessary_wraps, reason = "the JobKind signature")]
fn stuck_validate(v: &Value) -> Result<Value, String> {
    Ok(v.clone())
}

/// A runner stuck in something that never checks for cancellation.
#[allow(clippy::unnecessary_wraps, reason = "the Runner signature")]
fn stuck_run(
    _: &tradingd::services::jobs::JobRun<'_>,
) -> Result<Value, tradingd::services::jobs::JobError> {
    while !RELEASE.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(json!({}))
}

static STUCK: tradedesk_core::job::JobKind = tradedesk_core::job::JobKind {
    name: "test.stuck",
    summary: "Never returns until the test lets it (a test kind).",
    schema: stuck_schema,
    validate: stuck_validate,
    max_attempts: 1,
    timeout_ms: 600_000,
    concurrency: 1,
};

#[test]
fn a_stop_ends_within_its_deadline_even_with_stuck_tasks() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = tradingd::config::Config::for_dir(dir.path());
    config.watchdog.stop_deadline = Duration::from_secs(2);
    config.rpc.shutdown_grace = Duration::from_millis(500);
    let mut d = TestDaemon::try_start_with(
        dir,
        config,
        tradingd::Options {
            job_kinds: tradingd::services::jobs::JobKinds::builtin().with(&STUCK, stuck_run),
            ..tradingd::Options::default()
        },
    )
    .expect("daemon");
    let mut c = d.client();
    let j = call(&mut c, "jobs.enqueue", json!({ "kind": "test.stuck" }));
    while call(&mut c, "jobs.get", json!({ "id": j["id"] }))["state"] != "running" {
        std::thread::sleep(Duration::from_millis(10));
    }
    // And something holds the store without end.
    let holder = {
        let ctx = std::sync::Arc::clone(&d.ctx);
        std::thread::spawn(move || {
            let _store = ctx.store();
            while !RELEASE.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    d.ctx.shutdown.cancel();
    d.wait_stopped();
    let took = start.elapsed();
    RELEASE.store(true, std::sync::atomic::Ordering::SeqCst);
    holder.join().expect("holder");
    assert!(took < Duration::from_secs(3), "stopped in {took:?}");
    assert!(!d.socket.exists(), "the socket is removed all the same");
}
