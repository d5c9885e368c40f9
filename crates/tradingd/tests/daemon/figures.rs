//! What the desk shows is true: PnL after fees, one definition of a trade
//! behind every win rate, figures that agree with each other.

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

fn last(c: &mut Client, symbol: &str) -> Decimal {
    dec(&call(c, "market.ticker", json!({ "symbol": symbol }))["last"])
}

#[test]
fn pnl_is_after_fees_everywhere_and_adds_up_to_the_equity_change() {
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    for _ in 0..3 {
        call(
            &mut c,
            "orders.place",
            json!({ "symbol": "ETHUSDT", "side": "buy", "type": "market", "qty": "0.5" }),
        );
        d.step();
        call(
            &mut c,
            "orders.place",
            json!({ "symbol": "ETHUSDT", "side": "sell", "type": "market", "qty": "0.3" }),
        );
    }
    let p = call(&mut c, "positions.get", json!({ "symbol": "ETHUSDT" }));
    let stats = call(&mut c, "trades.stats", json!({}));
    let fees = dec(&stats["fees"]);
    assert!(fees > Decimal::ZERO);
    assert_eq!(dec(&p["fees"]), fees, "every fee is in the position");
    // Realized (after fees) + unrealized (after fees) is the whole PnL: the
    // equity change from the 10,000 deposit, to the last digit.
    let usdt = call(&mut c, "accounts.balances", json!({}))["balances"]
        .as_array()
        .expect("balances")
        .iter()
        .find(|b| b["asset"] == "USDT")
        .map(|b| dec(&b["total"]))
        .expect("usdt");
    let mark = dec(&p["mark_price"]);
    let equity = usdt + dec(&p["qty"]) * mark;
    let pnl = dec(&p["realized_pnl"]) + dec(&p["unrealized_pnl"]);
    assert_eq!(pnl, equity - Decimal::from(10_000), "{p}");
    // trades.stats realizes what the positions realized.
    assert_eq!(dec(&stats["realized_pnl"]), dec(&p["realized_pnl"]));
    // Nothing closed flat yet: no trade, no win rate.
    assert_eq!(
        (stats["trades"].as_u64(), &stats["win_rate"]),
        (Some(0), &Value::Null)
    );
}

#[test]
fn one_win_rate_for_a_bot_whichever_way_it_is_asked_and_a_grid_is_warned_of_its_fees() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let px = last(&mut c, "BTCUSDT");
    // 0.034 % steps against 0.1 % fees each way: every line loses.
    let lower = (px * Decimal::new(99, 2)).round_dp(0);
    let upper = (px * Decimal::new(101, 2)).round_dp(0);
    let levels = ((upper - lower) / (px * Decimal::new(34, 5))).round();
    let bot = call(
        &mut c,
        "bots.create",
        json!({ "name": "thin", "spec": { "strategy": "grid",
                "params": { "lower": lower.to_string(), "upper": upper.to_string(), "levels": levels.to_string().parse::<u64>().expect("levels") },
                "sizing": { "mode": "quote", "value": "50" } },
                "symbols": ["BTCUSDT"], "allocation": { "USDT": "3000" }, "start": true }),
    );
    let warnings = bot["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1, "{bot}");
    assert!(
        warnings[0]
            .as_str()
            .is_some_and(|w| w.contains("round-trip fee (0.20 %")),
        "{bot}"
    );
    let id = bot["id"].as_u64().expect("id");
    let events = call(&mut c, "bots.events", json!({ "id": id, "limit": 100 }));
    assert!(
        events["items"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["kind"] == "warning"),
        "{events}"
    );
    let mut minutes = 0;
    loop {
        d.minutes(5);
        minutes += 5;
        let perf = call(&mut c, "bots.performance", json!({ "id": id }));
        if perf["trades"].as_u64().unwrap_or(0) >= 3 {
            break;
        }
        assert!(minutes < 600, "no trips in 10 hours: {perf}");
    }
    let perf = call(&mut c, "bots.performance", json!({ "id": id }));
    let stats = call(&mut c, "trades.stats", json!({ "bot_id": id }));
    let metrics = call(&mut c, "analytics.performance", json!({ "bot": id }));
    // One definition: round trips after fees.
    assert_eq!(perf["trades"], stats["trades"]);
    assert_eq!(
        (&perf["wins"], &perf["losses"]),
        (&stats["wins"], &stats["losses"])
    );
    assert_eq!(perf["win_rate"], stats["win_rate"]);
    assert_eq!(metrics["trades"], perf["trades"]);
    let rate = dec(&perf["win_rate"]) * Decimal::ONE_HUNDRED;
    let metric_rate = metrics["win_rate_pct"].as_f64().expect("win rate");
    assert!(
        (rate.to_string().parse::<f64>().expect("f64") - metric_rate).abs() < 1e-6,
        "{perf} {metrics}"
    );
    // And a grid whose step cannot pay its fees does not win.
    assert_eq!(perf["wins"], 0, "{perf}");
}

/// The events of `topic` read within a short wait.
fn events_of(c: &mut Client, topic: &str) -> Vec<Value> {
    c.set_timeout(Some(std::time::Duration::from_millis(300)))
        .expect("timeout");
    let mut out = Vec::new();
    while let Ok(m) = c.next_event() {
        if let tradedesk_core::client::StreamMessage::Event { topic: t, event } = m
            && t == topic
        {
            out.push(event);
        }
    }
    c.set_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    out
}

#[test]
fn held_positions_and_bots_books_are_published_as_prices_move_and_a_deleted_bot_goes() {
    let d = TestDaemon::start_with(|c| {
        c.sim.spec.tick_ms = 60_000;
        c.streams.figures_ms = 0;
    });
    let mut c = d.client();
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.02" }),
    );
    let bot = call(
        &mut c,
        "bots.create",
        json!({ "name": "holder", "spec": { "strategy": "sma_cross",
                "params": { "fast": 5, "slow": 20 },
                "sizing": { "mode": "percent", "value": "10" } },
                "symbols": ["BTCUSDT"], "allocation": { "USDT": "100", "BTC": "0.01" } }),
    );
    let id = bot["id"].clone();
    let mut watcher = d.client();
    watcher
        .subscribe(&["positions.updates", "bots.figures", "bots.status"])
        .expect("subscribe");
    // No fill from here on: only prices move.
    for _ in 0..5 {
        d.step();
    }
    let positions = events_of(&mut watcher, "positions.updates");
    assert!(
        positions.len() >= 2,
        "a held position follows its mark: {positions:?}"
    );
    let marks: std::collections::BTreeSet<String> = positions
        .iter()
        .map(|p| p["mark_price"].to_string())
        .collect();
    assert!(marks.len() >= 2, "{positions:?}");
    // Each published position is the one positions.get gives at that mark.
    let now = call(&mut c, "positions.get", json!({ "symbol": "BTCUSDT" }));
    let last = positions.last().expect("one");
    if last["mark_price"] == now["mark_price"] {
        assert_eq!(last["unrealized_pnl"], now["unrealized_pnl"]);
    }
    // What came so far is drained; three more ticks.
    events_of(&mut watcher, "bots.figures");
    for _ in 0..3 {
        d.step();
    }
    let figures = events_of(&mut watcher, "bots.figures");
    let ours: Vec<&Value> = figures.iter().filter(|f| f["id"] == id).collect();
    assert!(
        !ours.is_empty(),
        "the bot's equity moves with BTC: {figures:?}"
    );
    let shown = call(&mut c, "bots.get", json!({ "id": id }));
    assert_eq!(ours.last().map(|f| &f["equity"]), Some(&shown["equity"]));

    // Deleting it publishes it gone, and its position returns to the account.
    call(&mut c, "bots.delete", json!({ "id": id }));
    let status = events_of(&mut watcher, "bots.status");
    let gone = status
        .iter()
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("no status for the deleted bot: {status:?}"));
    assert!(gone["deleted"].is_string(), "{gone}");
    assert_eq!(gone["balances"], json!({}), "{gone}");
}
