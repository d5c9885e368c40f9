//! The whole catalogue under a watchdog: every method, called twice in a
//! row, then twice with ids that do not exist, while bots trade on a
//! market that a second thread keeps moving, must answer within a few
//! seconds and never with an internal error. A lock taken twice on one
//! path, a panic under a lock, a request that waits on itself: each shows
//! up here as a slow or internal answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::fmt::Write as _;

use serde_json::{Value, json};
use tradedesk_core::api::method_names;
use tradedesk_core::client::{Client, ClientError};

use super::conformance::sample_params;
use super::support::{TestDaemon, call};

/// How long any answer may take.
const DEADLINE: Duration = Duration::from_secs(5);
const MISSING: u64 = 987_654_321;

/// Params for the methods the conformance table leaves to its own steps.
fn params(method: &str, csv: &str) -> Option<Value> {
    if let Some(p) = sample_params(method) {
        return Some(p);
    }
    let backtest = json!({
        "strategies": [{ "spec": { "strategy": "sma_cross", "params": { "fast": 3, "slow": 10 } }, "datasets": [1] }],
        "settings": { "capital": "1000" }
    });
    Some(match method {
        "system.shutdown" => return None,
        "positions.close" => json!({ "symbol": "BTCUSDT" }),
        "jobs.retry" | "jobs.requeue" | "jobs.delete" => json!({ "id": 2 }),
        "data.import" => json!({ "path": csv, "symbol": "WDOGUSD" }),
        // A range in the future: nothing to read, no network.
        "data.download" => {
            json!({ "symbol": "WDOGUSDT", "interval": "1h", "start": "2999-01-01T00:00:00Z" })
        }
        "data.list" | "backtests.list" | "auth.tokens.list" => json!({}),
        "data.get" | "data.bars" | "data.delete" | "backtests.get" | "backtests.cancel"
        | "backtests.delete" | "backtests.results" | "backtests.trades" | "backtests.report"
        | "auth.tokens.revoke" => {
            json!({ "id": 1 })
        }
        "data.export" => json!({ "id": 1, "path": format!("{csv}.out") }),
        // Twice: the second is refused (a backup never replaces a file).
        "system.backup" => json!({ "path": format!("{csv}.backup.db") }),
        "backtests.equity" => json!({ "id": 1, "downsample": 10 }),
        "backtests.compare" => json!({ "ids": [1, 2] }),
        "backtests.create" => backtest,
        "backtests.sweep" => {
            json!({ "backtest": backtest, "grid": [{ "param": "fast", "values": [2, 3] }] })
        }
        "analytics.performance" => json!({ "bot": 2 }),
        "auth.login" => json!({ "user": "conf-user", "password": "conformance pass" }),
        "auth.refresh" | "auth.logout" => json!({ "refresh_token": "rt_not-a-token" }),
        "auth.password" => json!({ "current": "x", "new": "long enough password" }),
        "auth.tokens.create" => json!({ "name": "t", "expires_days": 1 }),
        "auth.register" => json!({ "user": "wdog", "password": "long enough password" }),
        other => panic!("no params for `{other}`: add them to the watchdog test"),
    })
}

/// The same params with every id pointing nowhere.
fn missing(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let x = match (k.as_str(), x) {
                        ("id" | "bot" | "bot_id" | "backtest", Value::Number(_)) => json!(MISSING),
                        ("ids" | "datasets", Value::Array(a)) => {
                            Value::Array(a.iter().map(|_| json!(MISSING)).collect())
                        }
                        ("name" | "client_order_id", Value::String(_)) => json!("no-such-thing"),
                        ("key", Value::String(_)) => json!("user:no-such-thing"),
                        ("scope", Value::String(_)) => json!(format!("bot:{MISSING}")),
                        _ => missing(x),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(missing).collect()),
        other => other.clone(),
    }
}

/// One call: its time, and its error code if it failed.
fn timed(c: &mut Client, method: &str, p: &Value) -> (Duration, Option<i32>) {
    let start = Instant::now();
    let code = match c.call_raw(method, p) {
        Ok(_) => None,
        Err(ClientError::Api(e)) => Some(e.code),
        Err(e) => panic!("{method} {p}: no answer within {DEADLINE:?}: {e}"),
    };
    (start.elapsed(), code)
}

#[test]
fn every_method_answers_promptly_twice_with_missing_ids_and_while_bots_trade() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    c.set_timeout(Some(DEADLINE)).expect("timeout");
    for (name, symbol, spec) in [
        (
            "wd-dca",
            "BTCUSDT",
            json!({ "strategy": "dca", "params": { "every_bars": 1 },
            "sizing": { "mode": "quote", "value": "20" }, "exits": { "take_profit_pct": "1", "stop_loss_pct": "1" } }),
        ),
        (
            "wd-cross",
            "ETHUSDT",
            json!({ "strategy": "sma_cross", "params": { "fast": 2, "slow": 4 },
            "exits": { "trailing_stop_pct": "1" } }),
        ),
        ("wd-rsi", "SOLUSDT", json!({ "strategy": "rsi_reversion" })),
    ] {
        call(
            &mut c,
            "bots.create",
            json!({ "name": name, "spec": spec, "symbols": [symbol], "allocation": { "USDT": "1000" }, "start": true }),
        );
    }
    // The market and the bots move on in the background the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let mover = {
        let (ctx, stop) = (Arc::clone(&d.ctx), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut ticks = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                ctx.advance(15_000);
                tradingd::services::market_loop::step(&ctx);
                ticks += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            ticks
        })
    };
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("wd.csv");
    let mut text = String::from("date,open,high,low,close\n");
    for i in 0..60_i64 {
        let p = 100 + i % 7;
        let _ = writeln!(
            text,
            "{},{p},{},{},{p}",
            1_704_067_200 + i * 86_400,
            p + 1,
            p - 1
        );
    }
    std::fs::write(&csv, text).expect("csv");
    let csv = csv.display().to_string();
    let mut slowest = (Duration::ZERO, "");
    let mut calls = 0;
    for &method in method_names() {
        let Some(p) = params(method, &csv) else {
            continue;
        };
        for p in [&p, &p, &missing(&p), &missing(&p)] {
            let (took, code) = timed(&mut c, method, p);
            calls += 1;
            assert_ne!(code, Some(-32603), "{method} {p}: internal error");
            if took > slowest.0 {
                slowest = (took, method);
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let ticks = mover.join().expect("the market thread ran");
    println!(
        "watchdog: {calls} calls over {} methods while the market ticked {ticks} times; slowest {} in {:?}",
        method_names().len(),
        slowest.1,
        slowest.0
    );
    assert!(slowest.0 < DEADLINE);
    let trades = call(&mut c, "trades.list", json!({ "limit": 1000 }));
    assert!(
        trades["items"]
            .as_array()
            .is_some_and(|t| t.iter().any(|x| x["bot_id"].is_u64())),
        "the bots traded meanwhile"
    );
    let h = call(&mut c, "system.health", json!({}));
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(
        d.ctx.exchange.rebuilds(),
        0,
        "no panic under the exchange lock"
    );
    // Shutdown answers, and the daemon is gone within its deadline.
    let mut d = d;
    call(&mut c, "system.shutdown", json!({}));
    let start = Instant::now();
    d.wait_stopped();
    assert!(start.elapsed() < Duration::from_secs(10));
}
