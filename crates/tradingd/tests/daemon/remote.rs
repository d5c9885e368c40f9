//! `sim` behind a simulated link (`sim.latency_ms`, `sim.lose_answer_every`):
//! the execution service's remote-venue path end to end, on the daemon's
//! runtime — requests sent after the `new` rows commit, answers booked when
//! they arrive, lost answers found by queries and never resent.

#![allow(clippy::needless_pass_by_value)]

use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tradedesk_core::client::Client;

use super::support::{TestDaemon, call};

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
        .parse()
        .expect("decimal")
}

fn delayed(latency_ms: u64, lose_every: u32) -> TestDaemon {
    TestDaemon::start_with(|c| {
        c.sim.latency_ms = latency_ms;
        c.sim.lose_answer_every = lose_every;
        // The market stands still: only the answers move things.
        c.sim.spec.tick_ms = 60_000;
        c.sim.history_minutes = 0;
    })
}

/// The order once `done` holds for it (waiting at most 10 s).
fn wait_for(c: &mut Client, id: &Value, done: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let o = call(c, "orders.get", json!({ "id": id }));
        if done(&o) {
            return o;
        }
        assert!(Instant::now() < until, "order never got there: {o}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn status_is(s: &'static str) -> impl Fn(&Value) -> bool {
    move |o| o["status"] == s
}

fn usdt_locked(c: &mut Client) -> Decimal {
    let b = call(c, "accounts.balances", json!({}));
    b["balances"]
        .as_array()
        .expect("list")
        .iter()
        .find(|x| x["asset"] == "USDT")
        .map_or(Decimal::ZERO, |x| dec(&x["locked"]))
}

fn btc_position(c: &mut Client) -> Decimal {
    let p = call(c, "positions.list", json!({}));
    p["items"]
        .as_array()
        .expect("list")
        .iter()
        .find(|x| x["symbol"] == "BTCUSDT")
        .map_or(Decimal::ZERO, |x| dec(&x["qty"]))
}

fn filled_qty(c: &mut Client, order: &Value) -> Decimal {
    let t = call(c, "trades.list", json!({ "limit": 1000 }));
    t["items"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|f| f["order_id"] == order["id"])
        .map(|f| dec(&f["qty"]))
        .sum()
}

#[test]
fn orders_on_a_remote_venue_are_answered_later_and_booked_once() {
    let d = delayed(30, 0);
    let mut c = d.client();
    let buy = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    assert_eq!(
        buy["status"], "new",
        "the answer is still on its way: {buy}"
    );
    let done = wait_for(&mut c, &buy["id"], status_is("filled"));
    assert_eq!(dec(&done["filled"]), Decimal::new(1, 2));
    assert_eq!(filled_qty(&mut c, &buy), Decimal::new(1, 2));
    assert_eq!(btc_position(&mut c), Decimal::new(1, 2));
    assert_eq!(usdt_locked(&mut c), Decimal::ZERO);

    // A resting order, then its cancel, each answered later.
    let limit = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.01", "price": "1000" }),
    );
    assert_eq!(limit["status"], "new");
    assert!(usdt_locked(&mut c) > Decimal::ZERO);
    wait_for(&mut c, &limit["id"], status_is("accepted"));
    let asked = call(&mut c, "orders.cancel", json!({ "id": limit["id"] }));
    assert_eq!(
        asked["status"], "accepted",
        "a cancel is answered later: {asked}"
    );
    let gone = wait_for(&mut c, &limit["id"], status_is("cancelled"));
    assert_eq!(gone["reason"], "cancelled by the user");
    assert_eq!(usdt_locked(&mut c), Decimal::ZERO);
}

#[test]
fn a_lost_answer_is_resolved_by_querying_never_by_sending_again() {
    // Every answer to a submission is lost; the venue did act on each.
    let d = delayed(10, 1);
    let mut c = d.client();
    let buy = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    assert_eq!(buy["status"], "new");
    let done = wait_for(&mut c, &buy["id"], status_is("filled"));
    assert!(done["reason"].is_null(), "{done}");
    // Bought once: one order, 0.01 filled, 0.01 held.
    let orders = call(&mut c, "orders.list", json!({}));
    assert_eq!(orders["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(filled_qty(&mut c, &buy), Decimal::new(1, 2));
    assert_eq!(btc_position(&mut c), Decimal::new(1, 2));

    let limit = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.01", "price": "1000" }),
    );
    let open = wait_for(&mut c, &limit["id"], status_is("accepted"));
    assert!(
        open["reason"].is_null(),
        "the unknown outcome is cleared: {open}"
    );
}

#[test]
fn a_bot_trades_on_a_remote_venue() {
    let d = TestDaemon::manual_clock_with(
        tempfile::tempdir().expect("tempdir"),
        tradingd::Options::default(),
        |c| c.sim.latency_ms = 5,
    );
    let mut c = d.client();
    let bot = call(
        &mut c,
        "bots.create",
        json!({
            "name": "dca-remote",
            "spec": {
                "strategy": "dca",
                "params": { "every_bars": 1 },
                "sizing": { "mode": "quote", "value": "100" }
            },
            "symbols": ["BTCUSDT"],
            "allocation": { "USDT": "1000" },
            "start": true
        }),
    );
    // Each bar the bot buys; the answers arrive between the bars.
    for _ in 0..3 {
        d.minutes(1);
        std::thread::sleep(Duration::from_millis(100));
    }
    let fills = call(
        &mut c,
        "trades.list",
        json!({ "bot_id": bot["id"], "limit": 100 }),
    );
    let n = fills["items"].as_array().map_or(0, Vec::len);
    assert!(n >= 2, "the bot's orders were answered and filled: {fills}");
    let orders = call(&mut c, "orders.list", json!({ "bot_id": bot["id"] }));
    for o in orders["items"].as_array().expect("list") {
        assert_eq!(o["status"], "filled", "{o}");
    }
    let b = call(&mut c, "bots.get", json!({ "id": bot["id"] }));
    assert_eq!(b["status"], "running", "{b}");
}
