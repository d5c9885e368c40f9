//! Risk on a real daemon: every order source passes the checks; the
//! throttle, the states, the kill switch and the daily loss limit.

use serde_json::{Value, json};
use tradedesk_core::client::{Client, ClientError};

use super::support::{TestDaemon, call, call_failing};

fn last(c: &mut Client, symbol: &str) -> rust_decimal::Decimal {
    call(c, "market.ticker", json!({ "symbol": symbol }))["last"]
        .as_str()
        .expect("last")
        .parse()
        .expect("decimal")
}

fn violations(c: &mut Client) -> Vec<Value> {
    call(c, "risk.violations", json!({ "limit": 1000 }))["items"]
        .as_array()
        .expect("violations")
        .clone()
}

#[test]
#[allow(clippy::too_many_lines)] // one source after another
fn every_order_source_passes_the_pre_trade_checks() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": "account:paper", "limits": { "price_collar_pct": "5" } }),
    );
    for symbol in ["BTCUSDT", "ETHUSDT"] {
        call(
            &mut c,
            "risk.limits.set",
            json!({ "scope": format!("symbol:{symbol}"), "limits": { "max_order_qty": "0.5" } }),
        );
    }
    let px = last(&mut c, "BTCUSDT");
    let far = (px * rust_decimal::Decimal::new(2, 0))
        .round_dp(0)
        .to_string();

    // orders.place: a fat-finger limit price.
    let (code, msg, data) = call_failing(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "limit", "qty": "0.01", "price": far }),
    );
    assert_eq!(code, -32001, "{msg}");
    assert!(
        msg.starts_with("price_collar_pct of account:paper is 5% of"),
        "{msg}"
    );
    assert_eq!(data["limit"], "price_collar_pct");
    // orders.place_oco and orders.place_bracket: too large.
    let (code, msg, _) = call_failing(
        &mut c,
        "orders.place_oco",
        json!({ "symbol": "BTCUSDT", "side": "sell", "qty": "0.6", "price": (px * rust_decimal::Decimal::new(102, 2)).round_dp(0).to_string(),
                "stop_price": (px * rust_decimal::Decimal::new(98, 2)).round_dp(0).to_string() }),
    );
    assert_eq!(code, -32001);
    assert!(
        msg.contains("max_order_qty of symbol:BTCUSDT is 0.5; this order would make it 0.6"),
        "{msg}"
    );
    let (code, msg, _) = call_failing(
        &mut c,
        "orders.place_bracket",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.6",
                "take_profit": (px * rust_decimal::Decimal::new(103, 2)).round_dp(0).to_string(),
                "stop_loss": (px * rust_decimal::Decimal::new(97, 2)).round_dp(0).to_string() }),
    );
    assert_eq!(code, -32001, "{msg}");
    // positions.close: a position larger than max_order_qty.
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "ETHUSDT", "side": "buy", "type": "market", "qty": "0.4" }),
    );
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "ETHUSDT", "side": "buy", "type": "market", "qty": "0.4" }),
    );
    let (code, msg, _) = call_failing(&mut c, "positions.close", json!({ "symbol": "ETHUSDT" }));
    assert_eq!(code, -32001);
    assert!(msg.contains("max_order_qty"), "{msg}");
    // A bot: its own limits apply to its orders (the tightest scope decides).
    let bot = call(
        &mut c,
        "bots.create",
        json!({
            "name": "small", "symbols": ["SOLUSDT"], "allocation": { "USDT": "500" },
            "spec": { "strategy": "dca", "params": { "every_bars": 1 }, "sizing": { "mode": "quote", "value": "100" } }
        }),
    )["id"]
        .as_u64()
        .expect("id");
    call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": format!("bot:{bot}"), "limits": { "max_order_notional": "50" } }),
    );
    call(&mut c, "bots.start", json!({ "id": bot }));
    d.minutes(2);
    let trades = call(&mut c, "trades.list", json!({ "bot_id": bot }));
    assert_eq!(trades["items"], json!([]), "the bot's buys were refused");
    let v = violations(&mut c);
    let sources: Vec<&str> = v.iter().filter_map(|x| x["source"].as_str()).collect();
    assert!(sources.contains(&"socket"), "{sources:?}");
    assert!(
        sources.contains(&format!("bot:{bot}").as_str()),
        "{sources:?}"
    );
    let bot_violation = v
        .iter()
        .find(|x| x["source"] == format!("bot:{bot}"))
        .expect("bot violation");
    assert_eq!(bot_violation["limit"], "max_order_notional");
    assert_eq!(bot_violation["scope"], format!("bot:{bot}"));
    assert!(bot_violation["order"]["qty"].is_string(), "{bot_violation}");

    // risk.check: the same verdict, nothing recorded.
    let before = violations(&mut c).len();
    let r = call(
        &mut c,
        "risk.check",
        json!({ "order": { "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.6" } }),
    );
    assert_eq!(r["approved"], false);
    assert_eq!(r["rejection"]["limit"], "max_order_qty");
    assert_eq!(r["rejection"]["value"], "0.6");
    let ok = call(
        &mut c,
        "risk.check",
        json!({ "order": { "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.5" } }),
    );
    assert_eq!(ok["approved"], true, "exactly at the limit");
    assert_eq!(violations(&mut c).len(), before);
}

#[test]
fn the_throttle_accepts_at_most_n_orders_in_any_second() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": "symbol:ETHUSDT", "limits": { "max_orders_per_second": 3 } }),
    );
    let order = json!({ "symbol": "ETHUSDT", "side": "buy", "type": "market", "qty": "0.01" });
    let mut accepted = 0;
    let mut throttled = 0;
    for _ in 0..5 {
        match c.call_raw("orders.place", &order) {
            Ok(_) => accepted += 1,
            Err(ClientError::Api(e)) => {
                assert_eq!(e.code, -32002, "{}", e.message);
                assert!(
                    e.message
                        .contains("max_orders_per_second of symbol:ETHUSDT is 3"),
                    "{}",
                    e.message
                );
                throttled += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((accepted, throttled), (3, 2));
    // Other symbols are not limited; a second later ETHUSDT takes orders again.
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
    );
    d.ctx.clock.advance(1000);
    call(&mut c, "orders.place", order);
    let status = call(&mut c, "risk.status", json!({ "scope": "symbol:ETHUSDT" }));
    assert_eq!(status["usage"][0]["limit"], "max_orders_per_second");
}

#[test]
fn states_and_the_kill_switch() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.02" }),
    );
    let px = last(&mut c, "BTCUSDT");
    let resting = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.001",
                "price": (px * rust_decimal::Decimal::new(95, 2)).round_dp(0).to_string() }),
    );
    // Reducing: a sell of what is held passes; a buy does not.
    let s = call(&mut c, "risk.halt", json!({ "reduce_only": true }));
    assert_eq!(s["state"], "reducing");
    let (code, msg, _) = call_failing(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
    );
    assert_eq!(code, -32003, "{msg}");
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "market", "qty": "0.005" }),
    );
    let (code, _, _) = call_failing(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "market", "qty": "0.5" }),
    );
    assert_eq!(code, -32003, "more than held is not reducing");
    // Halted with flatten: orders cancelled, the position sold, only cancels pass.
    let s = call(&mut c, "risk.halt", json!({ "flatten": true }));
    assert_eq!(s["state"], "halted");
    assert_eq!(s["reason"], "kill switch");
    let o = call(&mut c, "orders.get", json!({ "id": resting["id"] }));
    assert_eq!(o["status"], "cancelled");
    let pos = call(&mut c, "positions.get", json!({ "symbol": "BTCUSDT" }));
    assert_eq!(pos["qty"], "0", "{pos}");
    let (code, msg, _) = call_failing(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "market", "qty": "0.001" }),
    );
    assert_eq!(code, -32003);
    assert!(msg.contains("account:paper is halted"), "{msg}");
    let alerts = call(&mut c, "risk.alerts", json!({ "unacknowledged": true }));
    let first = alerts["items"][0].clone();
    assert_eq!(first["severity"], "critical");
    let acked = call(&mut c, "risk.alerts.ack", json!({ "id": first["id"] }));
    assert!(acked["acknowledged"].is_string());
    let resumed = call(&mut c, "risk.resume", json!({}));
    assert_eq!(resumed["state"], "active");
    let (code, _, _) = call_failing(&mut c, "risk.resume", json!({}));
    assert_eq!(code, -32004);
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
    );
}

#[test]
#[allow(clippy::too_many_lines)] // breach, halt, restart, resume, in order
fn a_daily_loss_breach_halts_cancels_persists_and_waits_for_resume() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": "account:paper", "limits": { "daily_loss_limit": "0.5", "warn_pct": "50" } }),
    );
    // A bot that buys every bar and keeps a take-profit open: fees and the
    // spread are a steady loss.
    let bot = call(
        &mut c,
        "bots.create",
        json!({
            "name": "loser", "symbols": ["BTCUSDT"], "allocation": { "USDT": "5000" }, "start": true,
            "spec": { "strategy": "dca", "params": { "every_bars": 1 }, "sizing": { "mode": "quote", "value": "200" },
                      "exits": { "take_profit_pct": "50" } }
        }),
    )["id"]
        .as_u64()
        .expect("id");
    let mut minutes = 0;
    loop {
        d.minutes(1);
        minutes += 1;
        let s = call(&mut c, "risk.status", json!({ "scope": "account:paper" }));
        if s["states"][0]["state"] == "halted" {
            let reason = s["states"][0]["reason"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(reason.starts_with("daily_loss_limit breached"), "{reason}");
            break;
        }
        assert!(minutes < 30, "no breach after 30 minutes: {s}");
    }
    // Every open order that could grow a position went; the bot's
    // take-profit, which only shrinks one, stays to protect it.
    let open = call(&mut c, "orders.list", json!({ "open": true }));
    let open = open["items"].as_array().expect("orders");
    assert!(open.iter().all(|o| o["side"] == "sell"), "{open:?}");
    assert!(
        open.iter().all(|o| o["client_order_id"]
            .as_str()
            .is_some_and(|t| t.contains("-p"))),
        "{open:?}"
    );
    let alerts = call(&mut c, "risk.alerts", json!({}));
    let kinds: Vec<(String, String)> = alerts["items"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| {
            (
                a["severity"].as_str().unwrap_or_default().to_owned(),
                a["kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("critical".into(), "state".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("warning".into(), "warning".into())),
        "the warning came first: {kinds:?}"
    );
    assert!(
        violations(&mut c)
            .iter()
            .any(|v| v["limit"] == "daily_loss_limit" && v["source"] == "risk")
    );
    // The bot decides nothing while halted.
    let n = call(
        &mut c,
        "trades.list",
        json!({ "bot_id": bot, "limit": 1000 }),
    )["items"]
        .as_array()
        .map_or(0, Vec::len);
    d.minutes(2);
    let m = call(
        &mut c,
        "trades.list",
        json!({ "bot_id": bot, "limit": 1000 }),
    )["items"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(n, m);
    drop(c);

    // Halted across a restart, until resumed by hand.
    let d = d.restart();
    let mut c = d.client();
    let s = call(&mut c, "risk.status", json!({ "scope": "account:paper" }));
    assert_eq!(s["states"][0]["state"], "halted");
    d.minutes(1);
    let (code, _, _) = call_failing(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
    );
    assert_eq!(code, -32003);
    call(&mut c, "risk.resume", json!({ "scope": "account:paper" }));
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
    );
}

#[test]
fn bad_limits_are_refused_by_key_and_change_nothing() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": "account:paper", "limits": { "max_open_orders": 5 } }),
    );
    let before = call(&mut c, "risk.limits.get", json!({}));
    for (params, field) in [
        (
            json!({ "scope": "account:paper", "limits": { "max_order_qtty": "1" } }),
            "limits.max_order_qtty",
        ),
        (
            json!({ "scope": "account:paper", "limits": { "max_order_qty": "-1" } }),
            "limits.max_order_qty",
        ),
        (
            json!({ "scope": "account:paper", "limits": { "max_order_qty": 1 } }),
            "limits.max_order_qty",
        ),
        (
            json!({ "scope": "account:paper", "limits": { "max_open_orders": 0 } }),
            "limits.max_open_orders",
        ),
        (
            json!({ "scope": "symbol:BTCUSDT", "limits": { "daily_loss_limit": "5" } }),
            "limits.daily_loss_limit",
        ),
        (
            json!({ "scope": "account:paper", "limits": { "max_drawdown_pct": "100" } }),
            "limits.max_drawdown_pct",
        ),
        (
            json!({ "scope": "account:paper", "limits": { "daily_reset_utc": "7am" } }),
            "limits.daily_reset_utc",
        ),
    ] {
        let (code, msg, _) = call_failing(&mut c, "risk.limits.set", params.clone());
        assert_eq!(code, -32602, "{params}: {msg}");
        assert!(msg.contains(&format!("field `{field}`")), "{params}: {msg}");
    }
    let (code, _, _) = call_failing(
        &mut c,
        "risk.limits.set",
        json!({ "scope": "account:nobody", "limits": {} }),
    );
    assert_eq!(code, -32006);
    let (code, msg, _) = call_failing(
        &mut c,
        "risk.limits.set",
        json!({ "scope": "desk", "limits": {} }),
    );
    assert_eq!(code, -32602, "{msg}");
    let (code, _, _) = call_failing(&mut c, "risk.halt", json!({ "scope": "symbol:BTCUSDT" }));
    assert_eq!(code, -32602);
    assert_eq!(call(&mut c, "risk.limits.get", json!({})), before);
    // A key set to null is cleared; others stay.
    call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": "account:paper", "limits": { "max_order_qty": "2" } }),
    );
    let l = call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": "account:paper", "limits": { "max_open_orders": null } }),
    );
    assert_eq!(l["limits"], json!({ "max_order_qty": "2" }));
}

#[test]
fn a_bot_drawdown_halts_that_bot_only_and_the_alert_streams() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut watcher = d.client();
    watcher.subscribe(&["risk.alerts"]).expect("subscribe");
    let mut c = d.client();
    let create = |c: &mut Client, name: &str| {
        call(
            c,
            "bots.create",
            json!({
                "name": name, "symbols": ["ETHUSDT"], "allocation": { "USDT": "1000" }, "start": true,
                "spec": { "strategy": "dca", "params": { "every_bars": 1 }, "sizing": { "mode": "quote", "value": "300" } }
            }),
        )["id"]
            .as_u64()
            .expect("id")
    };
    let (a, b) = (create(&mut c, "a"), create(&mut c, "b"));
    // Bot a may lose at most 0.01 % from its peak: fees alone breach it.
    call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": format!("bot:{a}"), "limits": { "max_drawdown_pct": "0.01" } }),
    );
    d.minutes(3);
    let s = call(
        &mut c,
        "risk.status",
        json!({ "scope": format!("bot:{a}") }),
    );
    assert_eq!(s["states"][0]["state"], "halted", "{s}");
    assert!(
        s["states"][0]["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("max_drawdown_pct breached"),
        "{s}"
    );
    let s = call(&mut c, "risk.status", json!({ "scope": "account:paper" }));
    assert_eq!(s["states"][0]["state"], "active");
    // b keeps buying; a does not.
    let fills = |c: &mut Client, id: u64| {
        call(c, "trades.list", json!({ "bot_id": id, "limit": 1000 }))["items"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let (na, nb) = (fills(&mut c, a), fills(&mut c, b));
    d.minutes(2);
    assert_eq!(fills(&mut c, a), na);
    assert!(fills(&mut c, b) > nb);
    // The halt arrived on the stream.
    loop {
        let msg = watcher.next_event().expect("alert");
        let alert = msg
            .decode::<tradedesk_core::api::risk::RiskAlertsTopic>()
            .expect("a risk alert")
            .expect("decodes");
        if alert.kind == "state" {
            assert_eq!(alert.scope.to_string(), format!("bot:{a}"));
            assert_eq!(
                alert.severity,
                tradedesk_core::api::risk::Severity::Critical
            );
            break;
        }
    }
}

#[test]
fn an_order_near_a_limit_raises_a_warning_once() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": "account:paper", "limits": { "max_open_orders": 5 } }),
    );
    let px = last(&mut c, "BTCUSDT");
    let below = (px * rust_decimal::Decimal::new(90, 2))
        .round_dp(0)
        .to_string();
    for _ in 0..5 {
        call(
            &mut c,
            "orders.place",
            json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.001", "price": below }),
        );
    }
    let alerts = call(&mut c, "risk.alerts", json!({}));
    let warnings: Vec<&str> = alerts["items"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["kind"] == "warning")
        .filter_map(|a| a["message"].as_str())
        .collect();
    // The fourth order reached 80 %; the fifth (100 %) raised no second one.
    assert_eq!(warnings, ["account:paper: max_open_orders at 80% (4 of 5)"]);
    let (code, msg, _) = call_failing(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.001", "price": below }),
    );
    assert_eq!(code, -32001);
    assert!(
        msg.contains("max_open_orders of account:paper is 5; this order would make it 6"),
        "{msg}"
    );
}

#[test]
fn the_kill_switch_on_one_bot_flattens_that_bot_only() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    let bot = call(
        &mut c,
        "bots.create",
        json!({
            "name": "k", "symbols": ["BTCUSDT"], "allocation": { "USDT": "1000" }, "start": true,
            "spec": { "strategy": "dca", "params": { "every_bars": 1 }, "sizing": { "mode": "quote", "value": "100" },
                      "exits": { "take_profit_pct": "50" } }
        }),
    )["id"]
        .as_u64()
        .expect("id");
    d.minutes(2);
    let s = call(
        &mut c,
        "risk.halt",
        json!({ "scope": format!("bot:{bot}"), "flatten": true }),
    );
    assert_eq!(s["state"], "halted");
    let view = call(&mut c, "bots.get", json!({ "id": bot }));
    assert_eq!(view["positions"][0]["qty"], "0", "{view}");
    assert_eq!(
        call(
            &mut c,
            "orders.list",
            json!({ "open": true, "bot_id": bot })
        )["items"],
        json!([])
    );
    // The manual position is untouched; the account still trades.
    assert_eq!(
        call(&mut c, "positions.get", json!({ "symbol": "BTCUSDT" }))["qty"],
        "0.01"
    );
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
    );
    let s = call(
        &mut c,
        "risk.resume",
        json!({ "scope": format!("bot:{bot}") }),
    );
    assert_eq!(s["state"], "active");
}
