//! Extreme amounts in every amount field of every order- and risk-shaped
//! method, in bots' sizing and exits, and in backtests: each call gets a
//! clean answer (a result, or an error other than `internal`), no panic
//! reaches the exchange, and trading goes on afterwards.

use proptest::prelude::*;
use std::fmt::Write as _;

use serde_json::{Value, json};
use tradedesk_core::client::{Client, ClientError};

use super::support::{TestDaemon, call, settled};

/// Zero, the smallest step, large, larger than any book, the largest
/// decimal (and its fractional form), and a negative.
const EXTREMES: &[&str] = &[
    "0",
    "0.000000000000000001",
    "100000000000000000000",
    "2000000000000000000000000",
    "79228162514264337593543950335",
    "7.9228162514264337593543950335",
    "-1",
];

/// `(method, params, the amount fields as JSON pointers)`.
fn templates() -> Vec<(&'static str, Value, Vec<&'static str>)> {
    let order = |t: &str, side: &str| {
        json!({ "symbol": "BTCUSDT", "side": side, "type": t, "qty": "0.001", "price": "60000",
                "stop_price": "70000" })
    };
    let mut out = vec![
        (
            "orders.place",
            json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
            vec!["/qty"],
        ),
        (
            "orders.place",
            json!({ "symbol": "BTCUSDT", "side": "sell", "type": "market", "qty": "0.001" }),
            vec!["/qty"],
        ),
        (
            "orders.place",
            json!({ "symbol": "SOLUSDT", "side": "buy", "type": "limit", "qty": "1", "price": "10" }),
            vec!["/qty", "/price"],
        ),
        (
            "orders.place",
            json!({ "symbol": "BTCUSDT", "side": "sell", "type": "limit", "qty": "0.001", "price": "90000" }),
            vec!["/qty", "/price"],
        ),
        (
            "orders.place",
            json!({ "symbol": "BTCUSDT", "side": "sell", "type": "trailing_stop", "qty": "0.001", "trail": { "percent": "2" } }),
            vec!["/qty", "/trail/percent"],
        ),
        (
            "orders.place",
            json!({ "symbol": "BTCUSDT", "side": "buy", "type": "trailing_stop", "qty": "0.001", "trail": { "amount": "100" } }),
            vec!["/qty", "/trail/amount"],
        ),
        (
            "orders.place_oco",
            json!({ "symbol": "ETHUSDT", "side": "buy", "qty": "0.01", "price": "1000", "stop_price": "9000", "stop_limit_price": "9100" }),
            vec!["/qty", "/price", "/stop_price", "/stop_limit_price"],
        ),
        (
            "orders.place_bracket",
            json!({ "symbol": "SOLUSDT", "side": "buy", "type": "limit", "qty": "1", "price": "10", "take_profit": "20", "stop_loss": "5" }),
            vec!["/qty", "/price", "/take_profit", "/stop_loss"],
        ),
        (
            "positions.close",
            json!({ "symbol": "BTCUSDT", "qty": "0.001" }),
            vec!["/qty"],
        ),
        (
            "risk.limits.set",
            json!({ "scope": "symbol:SOLUSDT", "limits": {
            "max_order_qty": "1000", "max_order_notional": "1000000", "max_position_qty": "1000",
            "max_position_notional": "1000000", "price_collar_pct": "50" } }),
            vec![
                "/limits/max_order_qty",
                "/limits/max_order_notional",
                "/limits/max_position_qty",
                "/limits/max_position_notional",
                "/limits/price_collar_pct",
            ],
        ),
        (
            "risk.limits.set",
            json!({ "scope": "account:paper", "limits": {
            "daily_loss_limit": "1000000", "max_drawdown_pct": "90", "warn_pct": "80",
            "max_exposure": { "BTC": "10000000" } } }),
            vec![
                "/limits/daily_loss_limit",
                "/limits/max_drawdown_pct",
                "/limits/warn_pct",
                "/limits/max_exposure/BTC",
            ],
        ),
    ];
    for (t, side) in [
        ("stop_market", "buy"),
        ("stop_limit", "sell"),
        ("take_profit", "sell"),
    ] {
        out.push((
            "orders.place",
            order(t, side),
            vec!["/qty", "/price", "/stop_price"],
        ));
    }
    out.push((
        "risk.check",
        json!({ "order": order("limit", "buy") }),
        vec!["/order/qty", "/order/price"],
    ));
    out.push((
        "risk.check",
        json!({ "order": order("stop_market", "buy") }),
        vec!["/order/qty", "/order/stop_price"],
    ));
    out
}

/// An answer that is not an internal error (or no answer: a failure).
fn clean(c: &mut Client, method: &str, p: &Value) -> Result<Value, (i32, String)> {
    match c.call_raw(method, p) {
        Ok(v) => Ok(v),
        Err(ClientError::Api(e)) => {
            assert_ne!(
                e.code, -32603,
                "{method} {p}: internal error: {}",
                e.message
            );
            assert!(!e.message.is_empty());
            Err((e.code, e.message))
        }
        Err(e) => panic!("{method} {p}: no clean answer: {e}"),
    }
}

fn set(p: &mut Value, pointer: &str, v: &str) {
    if let Some(slot) = p.pointer_mut(pointer) {
        *slot = json!(v);
    }
}

/// The daemon took no panic and still trades.
fn still_trading(d: &TestDaemon, c: &mut Client) {
    assert_eq!(d.ctx.exchange.rebuilds(), 0, "a panic reached the exchange");
    assert!(d.ctx.exchange.lock().degraded.is_none());
    // Tiny loss limits set above halt the account, as they should: clear
    // them and resume before the last order.
    for scope in ["account:paper", "symbol:SOLUSDT"] {
        call(
            c,
            "risk.limits.set",
            json!({ "scope": scope, "limits": {}, "replace": true }),
        );
    }
    let _ = c.call_raw("risk.resume", &json!({}));
    let o = call(
        c,
        "orders.place",
        json!({ "symbol": "SOLUSDT", "side": "buy", "type": "market", "qty": "0.1" }),
    );
    assert_eq!(o["status"], "filled", "{o}");
}

#[test]
fn every_amount_field_takes_every_extreme_value_cleanly() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    let mut calls = 0;
    for (method, base, fields) in templates() {
        for field in &fields {
            for v in EXTREMES {
                let mut p = base.clone();
                set(&mut p, field, v);
                let _ = clean(&mut c, method, &p);
                calls += 1;
            }
        }
        // Every field extreme at once.
        for v in EXTREMES {
            let mut p = base.clone();
            for field in &fields {
                set(&mut p, field, v);
            }
            let _ = clean(&mut c, method, &p);
            calls += 1;
        }
    }
    // Resting orders at extreme prices meet a moving market.
    d.minutes(2);
    println!("extremes: {calls} calls, all answered cleanly");
    still_trading(&d, &mut c);
}

#[test]
fn bots_with_extreme_sizing_and_exits_fail_or_trade_cleanly() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let mut created = Vec::new();
    for (i, v) in EXTREMES.iter().enumerate() {
        for (j, spec) in [
            json!({ "strategy": "dca", "params": { "every_bars": 1 }, "sizing": { "mode": "quote", "value": v } }),
            json!({ "strategy": "dca", "params": { "every_bars": 1 }, "sizing": { "mode": "fixed_qty", "value": v } }),
            json!({ "strategy": "dca", "params": { "every_bars": 1 }, "sizing": { "mode": "percent", "value": v } }),
            json!({ "strategy": "dca", "params": { "every_bars": 1 }, "exits": { "take_profit_pct": v, "stop_loss_pct": "1" } }),
            json!({ "strategy": "dca", "params": { "every_bars": 1 }, "exits": { "trailing_stop_pct": v } }),
            json!({ "strategy": "grid", "params": { "lower": "1", "upper": v, "levels": 5 } }),
            json!({ "strategy": "grid", "params": { "lower": v, "upper": "79228162514264337593543950335", "levels": 200 } }),
        ]
        .into_iter()
        .enumerate()
        {
            for allocation in ["100", v] {
                let p = json!({ "name": format!("x{i}-{j}-{allocation}"), "spec": spec,
                                "symbols": ["BTCUSDT"], "allocation": { "USDT": allocation }, "start": true });
                if let Ok(b) = clean(&mut c, "bots.create", &p) {
                    created.push(b["id"].as_u64().expect("id"));
                }
            }
        }
    }
    assert!(!created.is_empty(), "some of them are valid bots");
    d.minutes(3);
    for id in &created {
        let b = call(&mut c, "bots.get", json!({ "id": id }));
        let reason = b["bot"]["reason"].as_str().unwrap_or_default();
        assert!(!reason.contains("panicked"), "bot {id}: {reason}");
    }
    println!("extremes: {} bots created and stepped", created.len());
    still_trading(&d, &mut c);
}

#[test]
fn backtests_with_extreme_settings_finish_cleanly() {
    let d = TestDaemon::start();
    let mut c = d.client();
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("x.csv");
    let mut text = String::from("date,open,high,low,close\n");
    for i in 0..200_i64 {
        let p = 100 + (i * 7) % 23;
        let _ = writeln!(
            text,
            "{},{p},{},{},{p}",
            1_704_067_200 + i * 86_400,
            p + 2,
            p - 2
        );
    }
    // A day of absurd prices too.
    text.push_str("1721347200,1e27,1e27,1e27,1e27\n");
    std::fs::write(&csv, text).expect("csv");
    let job = call(
        &mut c,
        "data.import",
        json!({ "path": csv, "symbol": "XUSD" }),
    );
    let done = settled(&mut c, &job["id"]);
    let dataset = done["result"]["dataset"]["id"].as_u64().unwrap_or(1);
    let mut ran = 0;
    for v in EXTREMES {
        for field in [
            "capital",
            "commission_pct",
            "commission_fixed",
            "slippage_bps",
            "leverage",
        ] {
            let mut settings = json!({ "capital": "10000" });
            settings[field] = json!(v);
            for sizing in [
                json!({ "mode": "percent", "value": "100" }),
                json!({ "mode": "quote", "value": v }),
                json!({ "mode": "fixed_qty", "value": v }),
            ] {
                let p = json!({
                    "strategies": [{ "spec": { "strategy": "sma_cross", "params": { "fast": 2, "slow": 5 }, "sizing": sizing },
                                      "datasets": [dataset] }],
                    "settings": settings
                });
                if let Ok(b) = clean(&mut c, "backtests.create", &p) {
                    let j = settled(&mut c, &b["job_id"]);
                    let error = j["error"].as_str().unwrap_or_default();
                    assert!(!error.contains("panicked"), "{p}: {j}");
                    ran += 1;
                }
            }
        }
    }
    // Shorts on a margin account: its terms at every extreme too.
    for v in EXTREMES {
        for field in ["maintenance_pct", "borrow_pct"] {
            for sizing in [
                json!({ "mode": "percent", "value": "100" }),
                json!({ "mode": "quote", "value": v }),
            ] {
                let p = json!({
                    "strategies": [{ "spec": { "strategy": "sma_cross",
                                               "params": { "fast": 2, "slow": 5, "allow_short": true },
                                               "sizing": sizing },
                                      "datasets": [dataset] }],
                    "settings": { "capital": "10000", "margin": { field: v } }
                });
                if let Ok(b) = clean(&mut c, "backtests.create", &p) {
                    let j = settled(&mut c, &b["job_id"]);
                    let error = j["error"].as_str().unwrap_or_default();
                    assert!(!error.contains("panicked"), "{p}: {j}");
                    ran += 1;
                }
            }
        }
    }
    println!("extremes: {ran} backtests ran to a clean end");
    assert!(ran > 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Any mix of extreme values across an order's fields, on one daemon.
    #[test]
    fn any_mix_of_extreme_amounts_gets_a_clean_answer(
        picks in proptest::collection::vec((0usize..16, 0usize..EXTREMES.len()), 1..6),
        which in 0usize..16,
    ) {
        thread_local! {
            static DAEMON: (TestDaemon, std::cell::RefCell<Client>) = {
                let d = TestDaemon::manual_market();
                let c = d.client();
                (d, std::cell::RefCell::new(c))
            };
        }
        let t = templates();
        let (method, base, fields) = &t[which % t.len()];
        let mut p = base.clone();
        for (f, v) in &picks {
            set(&mut p, fields[f % fields.len()], EXTREMES[*v]);
        }
        DAEMON.with(|(d, c)| {
            let mut c = c.borrow_mut();
            let _ = clean(&mut c, method, &p);
            prop_assert_eq!(d.ctx.exchange.rebuilds(), 0);
            Ok(())
        })?;
    }
}

#[test]
fn forced_orders_capital_moves_and_protections_take_every_extreme_cleanly() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let bot = call(
        &mut c,
        "bots.create",
        json!({
            "name": "steered",
            "spec": { "strategy": "sma_cross", "params": { "fast": 50, "slow": 200 },
                      "sizing": { "mode": "quote", "value": "100" },
                      "exits": { "stop_loss_pct": "5" } },
            "symbols": ["BTCUSDT"],
            "allocation": { "USDT": "1000" },
            "start": true
        }),
    )["id"]
        .as_u64()
        .expect("id");
    let mut calls = 0;
    for v in EXTREMES {
        for (method, p) in [
            ("bots.enter", json!({ "id": bot, "qty": v })),
            ("bots.exit", json!({ "id": bot, "qty": v })),
            (
                "bots.update",
                json!({ "id": bot, "deposit": { "USDT": v } }),
            ),
            (
                "bots.update",
                json!({ "id": bot, "withdraw": { "USDT": v } }),
            ),
            (
                "bots.update",
                json!({ "id": bot, "spec": { "strategy": "sma_cross",
                        "params": { "fast": 50, "slow": 200 },
                        "protections": { "daily_loss_stop": v } } }),
            ),
            // Twice, and on a bot that does not exist.
            ("bots.enter", json!({ "id": 999, "qty": v })),
            (
                "bots.update",
                json!({ "id": 999, "deposit": { "USDT": v } }),
            ),
        ] {
            let _ = clean(&mut c, method, &p);
            let _ = clean(&mut c, method, &p);
            calls += 2;
        }
    }
    let _ = clean(&mut c, "bots.exit", &json!({ "id": bot }));
    d.minutes(2);
    println!("steering extremes: {calls} calls, all answered cleanly");
    let v = call(&mut c, "bots.get", json!({ "id": bot }));
    assert!(
        matches!(v["status"].as_str(), Some("running" | "paused")),
        "{v}"
    );
    still_trading(&d, &mut c);
}

#[test]
fn margin_accounts_take_every_extreme_cleanly() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let base = json!({ "name": "mx", "kind": "margin",
                       "margin": { "leverage": "2", "maintenance_pct": "10", "borrow_pct": "0.01" },
                       "balances": { "USDT": "1000" } });
    let mut n = 0;
    for field in [
        "/margin/leverage",
        "/margin/maintenance_pct",
        "/margin/borrow_pct",
        "/balances/USDT",
    ] {
        for v in EXTREMES {
            let mut p = base.clone();
            set(&mut p, field, v);
            p["name"] = json!(format!("mx{n}"));
            n += 1;
            let _ = clean(&mut c, "accounts.create", &p);
        }
    }
    // The most an account may hold, the most leverage, the dearest
    // interest every minute: shorts at every extreme size and price.
    call(
        &mut c,
        "accounts.create",
        json!({ "name": "big", "kind": "margin",
                 "margin": { "leverage": "100", "borrow_pct": "9.99", "borrow_period": "1m" },
                 "balances": { "USDT": "1000000000000" } }),
    );
    for v in EXTREMES {
        for (t, price) in [
            ("market", None),
            ("limit", Some("90000")),
            ("limit", Some(*v)),
        ] {
            let mut p = json!({ "symbol": "BTCUSDT", "side": "sell", "type": t, "qty": v, "account": "big" });
            if let Some(px) = price {
                p["price"] = json!(px);
                p["qty"] = json!("0.01");
            }
            let _ = clean(&mut c, "orders.place", &p);
        }
    }
    let _ = clean(
        &mut c,
        "orders.place",
        &json!({ "symbol": "BTCUSDT", "side": "sell", "type": "market", "qty": "100000", "account": "big" }),
    );
    // Interest on a huge loan, and whatever margin call it brings.
    d.minutes(3);
    let _ = clean(&mut c, "accounts.balances", &json!({ "account": "big" }));
    println!("margin extremes: {n} accounts asked for, all answered cleanly");
    still_trading(&d, &mut c);
}
