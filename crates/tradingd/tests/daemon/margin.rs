//! Margin accounts on a real daemon: opening one, selling short (borrowing),
//! buying back (repaying), the initial margin, borrow interest, a margin
//! call's liquidation, and a bot that shorts on one.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tradedesk_core::client::Client;

use super::support::{TestDaemon, call, call_failing};

const INSUFFICIENT_FUNDS: i32 = -32016;

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("a decimal string, got {v}"))
        .parse()
        .expect("decimal")
}

fn last(c: &mut Client, symbol: &str) -> Decimal {
    dec(&call(c, "market.ticker", json!({ "symbol": symbol }))["last"])
}

/// One asset's row of an account's balances (all zero when absent).
fn balance(b: &Value, asset: &str) -> Value {
    b["balances"]
        .as_array()
        .expect("balances")
        .iter()
        .find(|r| r["asset"] == asset)
        .cloned()
        .unwrap_or_else(|| json!({ "total": "0", "free": "0" }))
}

fn owed(b: &Value, asset: &str) -> Decimal {
    balance(b, asset).get("borrowed").map_or(Decimal::ZERO, dec)
}

/// The BTC quantity worth `usdt` at `px`, on the 0.001 lot.
fn worth(usdt: i64, px: Decimal) -> Decimal {
    (Decimal::from(usdt) / px).round_dp(3)
}

/// A market sell of `qty` BTC on `account` (a short when it holds none).
fn sell(c: &mut Client, account: &str, qty: Decimal) -> Value {
    call(
        c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "market", "qty": qty.to_string(), "account": account }),
    )
}

fn margin_account(c: &mut Client, name: &str, margin: &Value, usdt: &str) -> Value {
    call(
        c,
        "accounts.create",
        json!({ "name": name, "kind": "margin", "margin": margin, "balances": { "USDT": usdt } }),
    )
}

#[test]
fn accounts_create_names_the_field_at_fault_and_changes_nothing() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let before = call(&mut c, "accounts.list", json!({}));
    for (params, field) in [
        (json!({ "name": "bad name" }), "name"),
        (json!({ "name": "paper-someone" }), "name"),
        (
            json!({ "name": "s", "kind": "spot", "margin": { "leverage": "2" } }),
            "margin",
        ),
        (
            json!({ "name": "m", "kind": "margin", "margin": { "leverage": "0.5" } }),
            "margin.leverage",
        ),
        (
            json!({ "name": "m", "kind": "margin", "margin": { "leverage": "2", "maintenance_pct": "50" } }),
            "margin.maintenance_pct",
        ),
        (
            json!({ "name": "m", "kind": "margin", "margin": { "borrow_pct": "-1" } }),
            "margin.borrow_pct",
        ),
        (
            json!({ "name": "m", "balances": { "DOGE": "1" } }),
            "balances.DOGE",
        ),
        (
            json!({ "name": "m", "balances": { "USDT": "-1" } }),
            "balances.USDT",
        ),
    ] {
        let (_, message, data) = call_failing(&mut c, "accounts.create", params.clone());
        assert_eq!(data["field"], field, "{params}: {message}");
    }
    assert_eq!(call(&mut c, "accounts.list", json!({})), before);

    let spot = call(&mut c, "accounts.create", json!({ "name": "spot1" }));
    assert_eq!(spot["kind"], "spot");
    assert_eq!(spot["mode"], "paper");
    let (code, message, data) = call_failing(&mut c, "accounts.create", json!({ "name": "spot1" }));
    assert_eq!(code, -32009, "{message}");
    assert_eq!(data["field"], "name");
    let m = margin_account(&mut c, "m1", &json!({}), "1000");
    assert_eq!(m["kind"], "margin");
    assert_eq!(m["margin"]["leverage"], "2", "{m}");
    assert_eq!(m["margin"]["borrow_period"], "1h", "{m}");
    assert_eq!(
        m["margin"]["borrow_pct"], "0.001",
        "the shipped sim.margin: {m}"
    );
    let b = call(&mut c, "accounts.balances", json!({ "account": "m1" }));
    assert_eq!(balance(&b, "USDT")["total"], "1000", "{b}");
    assert_eq!(b["margin"]["equity"], "1000", "{b}");
    assert_eq!(b["margin"]["gross"], "0", "{b}");
    assert_eq!(b["margin"]["maintenance_pct"], "25", "{b}");
    assert_eq!(b["margin"]["available"], "2000", "{b}");
}

#[test]
fn terms_left_out_are_the_configured_ones() {
    let d = TestDaemon::manual_clock_with(
        tempfile::tempdir().expect("tempdir"),
        tradingd::Options::default(),
        |c| {
            c.sim.margin.leverage = tradedesk_core::money::Ratio::new(Decimal::from(4));
            c.sim.margin.maintenance_pct =
                Some(tradedesk_core::money::Ratio::new(Decimal::from(10)));
            c.sim.margin.borrow_pct = tradedesk_core::money::Ratio::new(Decimal::new(2, 2));
        },
    );
    let mut c = d.client();
    let all = margin_account(&mut c, "m1", &json!({}), "1000");
    assert_eq!(
        all["margin"],
        json!({ "leverage": "4", "maintenance_pct": "10", "borrow_pct": "0.02", "borrow_period": "1h" })
    );
    // A leverage of its own: the default maintenance follows it (50 / 5).
    let own = margin_account(
        &mut c,
        "m2",
        &json!({ "leverage": "5", "borrow_period": "4h" }),
        "1000",
    );
    assert_eq!(
        own["margin"],
        json!({ "leverage": "5", "borrow_pct": "0.02", "borrow_period": "4h" })
    );
    let b = call(&mut c, "accounts.balances", json!({ "account": "m2" }));
    assert_eq!(b["margin"]["maintenance_pct"], "10", "{b}");
    assert_eq!(b["margin"]["available"], "5000", "{b}");
}

#[test]
#[allow(clippy::too_many_lines)] // one short's whole life
fn a_short_borrows_what_it_sells_and_buying_back_repays_it() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    call(
        &mut c,
        "accounts.create",
        json!({ "name": "spot1", "balances": { "USDT": "10000" } }),
    );
    margin_account(&mut c, "m1", &json!({ "leverage": "2" }), "10000");
    let px = last(&mut c, "BTCUSDT");

    // A spot account cannot sell what it does not hold.
    let (code, message, _) = call_failing(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "market", "qty": "0.01", "account": "spot1" }),
    );
    assert_eq!(code, INSUFFICIENT_FUNDS, "{message}");

    // A margin account can: it borrows the BTC and holds the proceeds.
    let qty = worth(6000, px);
    let o = sell(&mut c, "m1", qty);
    assert_eq!(o["status"], "filled", "{o}");
    let b = call(&mut c, "accounts.balances", json!({ "account": "m1" }));
    assert_eq!(owed(&b, "BTC"), qty, "{b}");
    assert_eq!(dec(&balance(&b, "BTC")["total"]), Decimal::ZERO, "{b}");
    let usdt = dec(&balance(&b, "USDT")["total"]);
    assert!(usdt > Decimal::from(15_900), "proceeds held: {b}");
    let pos = call(
        &mut c,
        "positions.get",
        json!({ "symbol": "BTCUSDT", "account": "m1" }),
    );
    assert_eq!(dec(&pos["qty"]), -qty, "{pos}");
    let status = &b["margin"];
    let (equity, gross) = (dec(&status["equity"]), dec(&status["gross"]));
    assert!(
        equity < Decimal::from(10_000) && equity > Decimal::from(9_980),
        "{b}"
    );
    assert_eq!(gross, (qty * last(&mut c, "BTCUSDT")).round_dp(8), "{b}");

    // The initial margin: more than equity × 2 in gross value is refused,
    // naming the field, and changes nothing.
    let too_much = worth(15_000, px);
    let (code, message, data) = call_failing(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "market", "qty": too_much.to_string(), "account": "m1" }),
    );
    assert_eq!(code, INSUFFICIENT_FUNDS, "{message}");
    assert_eq!(data["field"], "qty");
    assert!(
        message.starts_with("margin: this order would take the gross position value to"),
        "{message}"
    );
    assert_eq!(
        call(&mut c, "accounts.balances", json!({ "account": "m1" })),
        b
    );

    // A resting short sell borrows when placed; cancelling it repays.
    let above = (px * Decimal::new(102, 2)).round_dp(0);
    let resting = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "limit", "qty": "0.01",
                "price": above.to_string(), "account": "m1" }),
    );
    let b2 = call(&mut c, "accounts.balances", json!({ "account": "m1" }));
    assert_eq!(owed(&b2, "BTC"), qty + Decimal::new(1, 2), "{b2}");
    call(&mut c, "orders.cancel", json!({ "id": resting["id"] }));
    let b3 = call(&mut c, "accounts.balances", json!({ "account": "m1" }));
    assert_eq!(owed(&b3, "BTC"), qty, "{b3}");
    assert_eq!(dec(&balance(&b3, "BTC")["total"]), Decimal::ZERO, "{b3}");

    // Buying back covers the short: nothing is owed, the position is flat,
    // its PnL realized.
    d.minutes(2);
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": qty.to_string(), "account": "m1" }),
    );
    let b4 = call(&mut c, "accounts.balances", json!({ "account": "m1" }));
    assert_eq!(owed(&b4, "BTC"), Decimal::ZERO, "{b4}");
    assert_eq!(dec(&balance(&b4, "BTC")["total"]), Decimal::ZERO, "{b4}");
    assert_eq!(b4["margin"]["gross"], "0", "{b4}");
    let pos = call(
        &mut c,
        "positions.get",
        json!({ "symbol": "BTCUSDT", "account": "m1" }),
    );
    assert_eq!(pos["qty"], "0", "{pos}");
    // Everything the account lost or made is in its USDT, after fees.
    let made = dec(&balance(&b4, "USDT")["total"]) - Decimal::from(10_000);
    assert_eq!(made, dec(&pos["realized_pnl"]), "{pos}");

    // The data survive a restart exactly.
    let d = d.restart();
    let mut c = d.client();
    assert_eq!(
        call(&mut c, "accounts.balances", json!({ "account": "m1" }))["balances"],
        b4["balances"]
    );
    let list = call(&mut c, "accounts.list", json!({}));
    let m1 = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|a| a["name"] == "m1")
        .cloned()
        .expect("m1");
    assert_eq!(m1["kind"], "margin");
}

#[test]
fn borrow_interest_is_charged_at_each_period_boundary() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    margin_account(
        &mut c,
        "m1",
        &json!({ "leverage": "2", "borrow_pct": "0.5", "borrow_period": "1m" }),
        "10000",
    );
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "market", "qty": "0.05", "account": "m1" }),
    );
    let before = call(&mut c, "accounts.balances", json!({ "account": "m1" }));
    let pos_before = call(
        &mut c,
        "positions.get",
        json!({ "symbol": "BTCUSDT", "account": "m1" }),
    );
    d.minutes(3);
    let after = call(&mut c, "accounts.balances", json!({ "account": "m1" }));
    let pos_after = call(
        &mut c,
        "positions.get",
        json!({ "symbol": "BTCUSDT", "account": "m1" }),
    );
    let paid = dec(&balance(&before, "USDT")["total"]) - dec(&balance(&after, "USDT")["total"]);
    let fees = dec(&pos_after["fees"]) - dec(&pos_before["fees"]);
    assert_eq!(
        paid, fees,
        "interest counts in the position's fees: {pos_after}"
    );
    // Three minute boundaries at 0.5 % of 0.05 BTC's value each.
    let value = Decimal::new(5, 2) * last(&mut c, "BTCUSDT");
    let expected = value * Decimal::new(15, 3);
    assert!(
        (paid - expected).abs() < expected * Decimal::new(5, 2),
        "paid {paid}, about {expected} expected"
    );
    assert_eq!(
        owed(&after, "BTC"),
        Decimal::new(5, 2),
        "interest is paid in USDT: {after}"
    );
    // The position row is stamped with the time of the last charge (the
    // tick on the last minute boundary), not left at zero.
    let stamped: i64 = d
        .ctx
        .store()
        .conn()
        .query_row(
            "SELECT p.updated_ms FROM positions p JOIN accounts a ON a.id = p.account_id
             WHERE a.name = 'm1' AND p.symbol = 'BTCUSDT'",
            [],
            |r| r.get(0),
        )
        .expect("position row");
    assert_eq!(stamped % 60_000, 1, "a minute's boundary tick: {stamped}");
    assert!(
        stamped > d.ctx.now().millis() - 60_000,
        "the last charge: {stamped}"
    );
}

#[test]
fn a_margin_call_liquidates_the_account_and_halts_it() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    // At leverage 100 the initial margin is 1 %: a short worth 99 times
    // the equity is allowed, and its own taker fee (0.1 % of it, about a
    // tenth of the equity) takes the account below a 0.99 % maintenance.
    margin_account(
        &mut c,
        "m1",
        &json!({ "leverage": "100", "maintenance_pct": "0.99" }),
        "1000",
    );
    let px = last(&mut c, "BTCUSDT");
    let qty = worth(98_000, px);
    sell(&mut c, "m1", qty);
    let b = call(&mut c, "accounts.balances", json!({ "account": "m1" }));
    assert!(dec(&b["margin"]["level_pct"]) < Decimal::new(99, 2), "{b}");
    d.step();
    let b = call(&mut c, "accounts.balances", json!({ "account": "m1" }));
    assert_eq!(owed(&b, "BTC"), Decimal::ZERO, "bought back: {b}");
    assert_eq!(b["margin"]["gross"], "0", "{b}");
    let pos = call(
        &mut c,
        "positions.get",
        json!({ "symbol": "BTCUSDT", "account": "m1" }),
    );
    assert_eq!(pos["qty"], "0", "{pos}");
    let s = call(&mut c, "risk.status", json!({ "scope": "account:m1" }));
    let state = &s["states"][0];
    assert_eq!(state["state"], "halted", "{s}");
    assert!(
        state["reason"]
            .as_str()
            .expect("reason")
            .starts_with("liquidation: equity"),
        "{s}"
    );
    let alerts = call(&mut c, "risk.alerts", json!({ "unacknowledged": true }));
    assert!(
        alerts.to_string().contains("liquidation: equity"),
        "{alerts}"
    );
    // Nothing grows on a halted account until a trader resumes it.
    let (code, message, _) = call_failing(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "market", "qty": "0.001", "account": "m1" }),
    );
    assert_eq!(code, -32003, "{message}");
    // Another account trades on.
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
    );
}

#[test]
fn a_bot_may_short_on_a_margin_account_only() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    margin_account(&mut c, "m1", &json!({ "leverage": "2" }), "10000");
    // 90 % of equity each way: a reversal's short is sized with the long
    // it closes counted as freed (sized on free quote, it would be skipped).
    let spec = json!({ "strategy": "sma_cross", "params": { "fast": 1, "slow": 2, "allow_short": true },
                       "interval": "1m", "sizing": { "mode": "percent", "value": "90" } });
    let (_, message, data) = call_failing(
        &mut c,
        "bots.create",
        json!({ "name": "s1", "spec": spec, "symbols": ["BTCUSDT"], "allocation": { "USDT": "1000" } }),
    );
    assert_eq!(data["field"], "spec.params.allow_short", "{message}");
    let bot = call(
        &mut c,
        "bots.create",
        json!({ "name": "s2", "spec": spec, "symbols": ["BTCUSDT"], "allocation": { "USDT": "2000" },
                "account": "m1" }),
    );
    call(&mut c, "bots.start", json!({ "id": bot["id"] }));
    let (mut shortest, mut longest) = (Decimal::ZERO, Decimal::ZERO);
    for _ in 0..40 {
        d.minutes(1);
        let v = call(&mut c, "bots.get", json!({ "id": bot["id"] }));
        assert_eq!(v["status"], "running", "{v}");
        for p in v["positions"].as_array().into_iter().flatten() {
            shortest = shortest.min(dec(&p["qty"]));
            longest = longest.max(dec(&p["qty"]));
        }
    }
    // About 1800 USDT of BTC each way.
    let px = last(&mut c, "BTCUSDT");
    let about = Decimal::from(1800) / px;
    assert!(
        longest > about * Decimal::new(9, 1),
        "long {longest}, about {about}"
    );
    assert!(
        -shortest > about * Decimal::new(9, 1),
        "short {shortest}, about {about}"
    );
    let events = call(
        &mut c,
        "bots.events",
        json!({ "id": bot["id"], "limit": 1000 }),
    )
    .to_string();
    assert!(
        events.contains("reversing: closing the position at market"),
        "{events}"
    );
    assert!(!events.contains("entry skipped"), "{events}");
    assert!(!events.contains("rejected"), "{events}");
}

#[test]
fn a_margin_call_on_one_bot_liquidates_that_bot_only() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    margin_account(
        &mut c,
        "m1",
        &json!({ "leverage": "100", "maintenance_pct": "0.99" }),
        "10000",
    );
    // A manual short the account can well afford.
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "sell", "type": "market", "qty": "0.01", "account": "m1" }),
    );
    // A bot shorting about 95 times its 100 USDT: its own fees take it
    // below the maintenance level at once.
    let px = last(&mut c, "BTCUSDT");
    let qty = worth(9_500, px);
    let spec = json!({ "strategy": "sma_cross", "params": { "fast": 1, "slow": 2, "allow_short": true },
                       "interval": "1m", "sizing": { "mode": "fixed_qty", "value": qty.to_string() } });
    let bot = call(
        &mut c,
        "bots.create",
        json!({ "name": "b", "spec": spec, "symbols": ["BTCUSDT"], "allocation": { "USDT": "100" },
                "account": "m1", "start": true }),
    )["id"]
        .as_u64()
        .expect("id");
    let scope = format!("bot:{bot}");
    let mut halted = None;
    for _ in 0..60 {
        d.minutes(1);
        let s = call(&mut c, "risk.status", json!({ "scope": scope }));
        if s["states"][0]["state"] == "halted" {
            halted = Some(s);
            break;
        }
    }
    let s = halted.unwrap_or_else(|| {
        let events = call(&mut c, "bots.events", json!({ "id": bot, "limit": 30 }));
        panic!("the bot's short was not liquidated within the hour: {events}")
    });
    assert!(
        s["states"][0]["reason"]
            .as_str()
            .expect("reason")
            .starts_with("liquidation:"),
        "{s}"
    );
    let view = call(&mut c, "bots.get", json!({ "id": bot }));
    assert_eq!(view["positions"][0]["qty"], "0", "{view}");
    assert!(
        !view["balances"].to_string().contains("borrowed"),
        "nothing owed: {view}"
    );
    // The account's own short stands; the account trades on.
    let pos = call(
        &mut c,
        "positions.get",
        json!({ "symbol": "BTCUSDT", "account": "m1" }),
    );
    assert_eq!(pos["qty"], "-0.01", "{pos}");
    let account = call(&mut c, "risk.status", json!({ "scope": "account:m1" }));
    assert_ne!(account["states"][0]["state"], "halted", "{account}");
    let events = call(&mut c, "bots.events", json!({ "id": bot, "limit": 200 })).to_string();
    assert!(events.contains("liquidation"), "{events}");
}

#[test]
fn a_liquidation_below_zero_equity_leaves_the_account_owing_quote_and_alerts_once() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    // A tiny maintenance level and 9.99 % interest a minute: the first
    // minute's interest takes the equity below zero before any call.
    margin_account(
        &mut c,
        "m1",
        &json!({ "leverage": "100", "maintenance_pct": "0.0001", "borrow_pct": "9.99", "borrow_period": "1m" }),
        "1000",
    );
    let px = last(&mut c, "BTCUSDT");
    let qty = worth(90_000, px);
    sell(&mut c, "m1", qty);
    d.minutes(3);
    let b = call(&mut c, "accounts.balances", json!({ "account": "m1" }));
    assert_eq!(owed(&b, "BTC"), Decimal::ZERO, "bought back: {b}");
    assert!(
        owed(&b, "USDT") > Decimal::ZERO,
        "the account owes quote: {b}"
    );
    assert!(dec(&b["margin"]["equity"]) < Decimal::ZERO, "{b}");
    let pos = call(
        &mut c,
        "positions.get",
        json!({ "symbol": "BTCUSDT", "account": "m1" }),
    );
    assert_eq!(pos["qty"], "0", "{pos}");
    let alerts = call(&mut c, "risk.alerts", json!({ "limit": 100 }));
    let liquidations = alerts["items"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a.to_string().contains("liquidation: equity"))
        .count();
    assert_eq!(liquidations, 1, "{alerts}");
}
