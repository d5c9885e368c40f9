//! `cargo bench -p tradingd --bench risk`: the risk layer's cost.
//!
//! 1. The pre-trade check per order, in-process, as the order path runs it
//!    (`State::risk_check`: facts for the account, bot and symbol scopes
//!    gathered from the books and the open orders, then every limit), with
//!    limits set on all three scopes and 100 orders open. Target ≤ 2 µs.
//! 2. From a daily-loss breach to every order cancelled on `sim`: the
//!    market tick whose monitor sees the breach halts the account and
//!    cancels its 100 open orders; the time is that tick's, measured over
//!    repeated breaches. Target p99 ≤ 50 ms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tradedesk_core::client::Client;
use tradedesk_core::order::OrderRequest;
#[path = "support/inproc.rs"]
mod inproc;

use inproc::InProc;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[allow(clippy::too_many_lines)] // a script: set up, measure, report, in order
fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let d = InProc::start(|config| {
        config.sim.initial_balances = vec![("USDT".into(), "100000000".parse().expect("amount"))];
    });
    let ctx = Arc::clone(&d.ctx);
    let mut c = Client::connect(&d.socket).expect("connect");
    let call = |c: &mut Client, m: &str, p: serde_json::Value| {
        c.call_raw(m, &p).unwrap_or_else(|e| panic!("{m}: {e}"))
    };
    let bot = call(
        &mut c,
        "bots.create",
        json!({ "name": "b", "symbols": ["BTCUSDT"], "allocation": { "USDT": "100000" },
                "spec": { "strategy": "dca", "params": { "every_bars": 100_000 } } }),
    )["id"]
        .as_u64()
        .expect("bot");
    for scope in [
        "account:paper".to_owned(),
        format!("bot:{bot}"),
        "symbol:BTCUSDT".into(),
    ] {
        call(
            &mut c,
            "risk.limits.set",
            json!({ "scope": scope, "limits": {
                "max_order_qty": "10", "max_order_notional": "1000000", "max_position_qty": "100",
                "max_position_notional": "10000000", "max_open_orders": 1000, "price_collar_pct": "10",
                "max_orders_per_second": 100_000, "max_orders_per_minute": 1_000_000 } }),
        );
    }
    let last: rust_decimal::Decimal = call(&mut c, "market.ticker", json!({ "symbol": "BTCUSDT" }))
        ["last"]
        .as_str()
        .expect("last")
        .parse()
        .expect("decimal");
    let below = (last * rust_decimal::Decimal::new(95, 2))
        .round_dp(0)
        .to_string();
    let rest = |c: &mut Client| {
        for _ in 0..100 {
            call(
                c,
                "orders.place",
                json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.001", "price": below }),
            );
        }
    };
    rest(&mut c);

    // 1. The check alone.
    let req: OrderRequest = serde_json::from_value(
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.5", "price": below }),
    )
    .expect("request");
    let n = if quick { 10_000 } else { 1_000_000 };
    {
        let state = ctx.exchange.lock();
        let inst = state.instrument(&req.symbol).cloned().expect("instrument");
        let valid = req.validate(&inst).expect("valid");
        let now = ctx.now();
        let t = Instant::now();
        let mut approved = 0u64;
        for _ in 0..n {
            if state.risk_check(0, Some(bot), valid.clone(), now).is_ok() {
                approved += 1;
            }
        }
        let per = t.elapsed() / n;
        assert_eq!(approved, u64::from(n));
        println!(
            "pre-trade check (3 scopes, 8 limits each, 100 open orders): {:.2} µs per order  (target ≤ 2 µs)",
            per.as_secs_f64() * 1e6
        );
    }

    // 2. Breach to cancelled.
    call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": "account:paper", "limits": { "daily_loss_limit": "0.01" } }),
    );
    let rounds = if quick { 5 } else { 50 };
    let mut times = Vec::new();
    for _ in 0..rounds {
        // A baseline tick, then a loss (a market round trip pays fees and the spread).
        tradingd::services::market_loop::step(&ctx);
        call(
            &mut c,
            "orders.place",
            json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.1" }),
        );
        call(
            &mut c,
            "orders.place",
            json!({ "symbol": "BTCUSDT", "side": "sell", "type": "market", "qty": "0.1" }),
        );
        ctx.clock.advance(1000);
        let t = Instant::now();
        tradingd::services::market_loop::step(&ctx);
        times.push(t.elapsed());
        let open = call(&mut c, "orders.list", json!({ "open": true }));
        assert_eq!(open["items"], json!([]), "all cancelled by the tick");
        let s = call(&mut c, "risk.status", json!({ "scope": "account:paper" }));
        assert_eq!(s["states"][0]["state"], "halted");
        call(&mut c, "risk.resume", json!({}));
        rest(&mut c);
    }
    times.sort();
    println!(
        "breach to all 100 orders cancelled (one market tick), {rounds} breaches: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (target p99 ≤ 50 ms)",
        pct(&times, 0.5).as_secs_f64() * 1e3,
        pct(&times, 0.99).as_secs_f64() * 1e3,
        times.last().expect("some").as_secs_f64() * 1e3
    );
    d.stop();
}
