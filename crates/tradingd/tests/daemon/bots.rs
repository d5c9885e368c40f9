//! Bots on the `sim` venue, driven minute by minute on a manual clock.

use serde_json::{Value, json};
use tradedesk_core::client::Client;
use tradedesk_core::strategy::{Action, Candle, Cx, Kind, Registry, Strategy};

use rust_decimal::Decimal;

use super::support::{TestDaemon, call, call_err, call_failing};

fn dca(name: &str, every: u32) -> Value {
    json!({
        "name": name,
        "spec": {
            "strategy": "dca",
            "params": { "every_bars": every },
            "sizing": { "mode": "quote", "value": "100" },
            "exits": { "take_profit_pct": "50" }
        },
        "symbols": ["BTCUSDT"],
        "allocation": { "USDT": "1000" },
        "start": true
    })
}

fn fills(c: &mut Client, bot: u64) -> Vec<Value> {
    call(c, "trades.list", json!({ "bot_id": bot, "limit": 1000 }))["items"]
        .as_array()
        .expect("trades")
        .clone()
}

fn events(c: &mut Client, bot: u64) -> Vec<Value> {
    call(c, "bots.events", json!({ "id": bot, "limit": 1000 }))["items"]
        .as_array()
        .expect("events")
        .clone()
}

fn dec(v: &Value) -> rust_decimal::Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
        .parse()
        .expect("decimal")
}

/// The account's books always add up: the manual book (total less the
/// bots') is never negative, and position quantities sum.
fn assert_books_consistent(d: &TestDaemon) {
    let state = d.ctx.exchange.lock();
    // The risk check's open-order counts match the open orders.
    for o in state.open.values() {
        let (acc, bot, sym) = state.open_count(&o.account, o.bot_id, &o.symbol);
        let count = |f: &dyn Fn(&tradedesk_core::order::OrderRecord) -> bool| {
            state.open.values().filter(|x| f(x)).count() as u32
        };
        assert_eq!(acc, count(&|x| x.account == o.account));
        assert_eq!(sym, count(&|x| x.symbol == o.symbol));
        if o.bot_id.is_some() {
            assert_eq!(bot, count(&|x| x.bot_id == o.bot_id));
        }
    }
    for acc in &state.accounts {
        for asset in acc.books.total.balances().keys() {
            let m = acc.books.manual_balance(asset);
            assert!(
                !m.free.is_negative() && !m.locked.is_negative(),
                "{asset}: manual book {m:?}"
            );
        }
        for symbol in acc.books.symbols() {
            let total = acc.books.position(&symbol).qty.get();
            let base = state
                .instrument(&symbol)
                .map(|i| acc.books.total.balance(&i.base).total().get())
                .expect("instrument");
            assert!(
                total <= base,
                "{symbol}: position {total} > base held {base}"
            );
        }
    }
}

#[test]
#[allow(clippy::too_many_lines)] // one bot's whole life, in order
fn a_bot_trades_pauses_resumes_and_resumes_after_a_daemon_restart() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let usdt_before = {
        let b = call(&mut c, "accounts.balances", json!({}));
        b["balances"]
            .as_array()
            .expect("balances")
            .iter()
            .find(|x| x["asset"] == "USDT")
            .map(|x| dec(&x["total"]))
            .expect("usdt")
    };
    let bot = call(&mut c, "bots.create", dca("stacker", 2));
    let id = bot["id"].as_u64().expect("id");
    assert_eq!(bot["status"], "running", "{bot}");
    assert_eq!(bot["balances"]["USDT"]["free"], "1000");

    // Run it until it trades.
    d.minutes(5);
    let f = fills(&mut c, id);
    assert!(
        f.len() >= 2,
        "bought on the first bar and every second: {f:?}"
    );
    assert!(f.iter().all(|x| x["bot_id"] == id && x["side"] == "buy"));
    let view = call(&mut c, "bots.get", json!({ "id": id }));
    let held = dec(&view["positions"][0]["qty"]);
    assert!(held > rust_decimal::Decimal::ZERO, "{view}");
    assert!(dec(&view["balances"]["USDT"]["free"]) < rust_decimal::Decimal::from(1000));
    // The take-profit protects the whole position, as a real order.
    let open = call(&mut c, "orders.list", json!({ "open": true, "bot_id": id }));
    let tp = &open["items"].as_array().expect("orders")[0];
    assert_eq!(tp["type"], "limit");
    assert_eq!(tp["side"], "sell");
    assert_eq!(dec(&tp["qty"]), held, "{tp}");
    // The account's position is the bot's; the account's cash fell by what the bot spent.
    let pos = call(&mut c, "positions.get", json!({ "symbol": "BTCUSDT" }));
    assert_eq!(dec(&pos["qty"]), held);
    assert_books_consistent(&d);
    // The same metrics as a backtest's, from the bot's ledger.
    let perf = call(&mut c, "analytics.performance", json!({ "bot": id }));
    assert!(perf["steps"].as_u64().is_some_and(|n| n >= 2), "{perf}");
    assert_eq!(perf["trades"], 0, "nothing sold yet: {perf}");
    assert!(
        perf["total_fees"].as_f64().is_some_and(|f| f > 0.0),
        "{perf}"
    );
    // Served from the cache until the bot trades or samples its equity
    // again; then the figures are new, as without the cache.
    assert_eq!(
        call(&mut c, "analytics.performance", json!({ "bot": id })),
        perf
    );
    d.minutes(2);
    let later = call(&mut c, "analytics.performance", json!({ "bot": id }));
    assert!(
        later["steps"].as_u64() > perf["steps"].as_u64(),
        "new equity samples show: {later}"
    );
    call(&mut c, "cache.flush", json!({ "namespace": "analytics" }));
    assert_eq!(
        call(&mut c, "analytics.performance", json!({ "bot": id })),
        later
    );
    let kinds: Vec<String> = events(&mut c, id)
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    for k in ["state", "signal", "order", "fill"] {
        assert!(kinds.iter().any(|x| x == k), "no {k} event in {kinds:?}");
    }

    // Paused: no new buys; the protective order stays.
    let paused = call(&mut c, "bots.pause", json!({ "id": id }));
    assert_eq!(paused["status"], "paused");
    let n = fills(&mut c, id).len();
    d.minutes(4);
    assert_eq!(fills(&mut c, id).len(), n, "a paused bot does not trade");
    let open = call(&mut c, "orders.list", json!({ "open": true, "bot_id": id }));
    assert_eq!(open["items"].as_array().expect("orders").len(), 1, "{open}");
    let (code_, msg) = call_err(&mut c, "bots.pause", json!({ "id": id }));
    assert_eq!(code_, -32004, "{msg}");
    assert!(msg.contains("is paused"), "{msg}");

    call(&mut c, "bots.resume", json!({ "id": id }));
    d.minutes(3);
    let after_resume = fills(&mut c, id).len();
    assert!(after_resume > n, "trading again after resume");
    let events_before = events(&mut c, id).len();
    drop(c);

    // Restart the daemon on the same data dir, at the same time.
    let d = d.restart();
    let mut c = d.client();
    let view = call(&mut c, "bots.get", json!({ "id": id }));
    assert_eq!(view["status"], "running", "{view}");
    assert!(dec(&view["positions"][0]["qty"]) > held);
    assert_eq!(fills(&mut c, id).len(), after_resume, "history intact");
    let ev = events(&mut c, id);
    assert!(ev.len() > events_before);
    assert!(
        ev[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("resumed after a daemon restart"),
        "{}",
        ev[0]
    );
    d.minutes(3);
    assert!(
        fills(&mut c, id).len() > after_resume,
        "trading after the restart"
    );
    assert_books_consistent(&d);

    // Stop with flatten: orders cancelled, position sold, book holds cash only.
    let stopped = call(&mut c, "bots.stop", json!({ "id": id, "flatten": true }));
    assert_eq!(stopped["status"], "stopped");
    assert!(
        stopped["positions"][0]["qty"]
            .as_str()
            .is_some_and(|q| q.parse::<f64>() == Ok(0.0)),
        "{stopped}"
    );
    let open = call(&mut c, "orders.list", json!({ "open": true, "bot_id": id }));
    assert!(open["items"].as_array().expect("orders").is_empty());
    let perf = call(&mut c, "bots.performance", json!({ "id": id }));
    assert_eq!(perf["allocated"], "1000");
    assert!(perf["fills"].as_u64().expect("fills") > 3, "{perf}");
    // The DCA bought several times and the flatten sold it all: one trip.
    assert_eq!(perf["trades"], 1, "{perf}");
    assert_eq!(
        perf["wins"].as_u64().expect("wins") + perf["losses"].as_u64().expect("losses"),
        1,
        "{perf}"
    );
    assert!(perf["samples"].as_u64().expect("samples") >= 10, "{perf}");
    assert!(perf["max_drawdown"].is_string(), "{perf}");
    // The equity curve behind those figures, whole and downsampled.
    let curve = call(&mut c, "bots.equity", json!({ "id": id }));
    let total = curve["total"].as_u64().expect("total");
    assert_eq!(total, perf["samples"].as_u64().expect("samples"), "{curve}");
    let points = curve["points"].as_array().expect("points");
    assert_eq!(points.len() as u64, total);
    assert!(
        points
            .iter()
            .all(|p| p["drawdown_pct"].as_f64().is_some_and(|d| d <= 0.0)),
        "{curve}"
    );
    let small = call(&mut c, "bots.equity", json!({ "id": id, "downsample": 4 }));
    assert!(
        small["points"].as_array().expect("points").len() <= 4,
        "{small}"
    );
    assert_eq!(small["total"], curve["total"]);
    let (_, msg) = call_err(&mut c, "bots.equity", json!({ "id": id, "downsample": 1 }));
    assert!(msg.contains("downsample"), "{msg}");
    let (_, msg) = call_err(&mut c, "bots.equity", json!({ "id": 999 }));
    assert!(msg.contains("not found"), "{msg}");
    // Deleting returns the bot's cash to the account; the account's total
    // changed only by fees and PnL, which the bot's book recorded exactly.
    let equity = dec(&perf["equity"]);
    call(&mut c, "bots.delete", json!({ "id": id }));
    let b = call(&mut c, "accounts.balances", json!({}));
    let usdt_after = b["balances"]
        .as_array()
        .expect("balances")
        .iter()
        .find(|x| x["asset"] == "USDT")
        .map(|x| dec(&x["total"]))
        .expect("usdt");
    assert_eq!(
        usdt_after - usdt_before,
        equity - rust_decimal::Decimal::from(1000)
    );
    let (code_, _) = call_err(&mut c, "bots.get", json!({ "id": id }));
    assert_eq!(code_, -32006);
}

/// A strategy that buys on its first bar and panics on its second.
struct Explode {
    bars: usize,
}

impl Strategy for Explode {
    fn warmup(&self) -> usize {
        0
    }

    fn on_bar(&mut self, _bar: &Candle, cx: &mut Cx<'_>) {
        self.bars += 1;
        assert!(self.bars < 2, "explode: boom on bar {}", self.bars);
        cx.act(Action::Enter);
    }
}

#[allow(clippy::unnecessary_wraps)] // the signature of `Kind::build`
fn explode_build(_: &Value) -> tradedesk_core::strategy::Built {
    Ok((Box::new(Explode { bars: 0 }), json!({})))
}

fn explode_schema() -> Value {
    json!({ "type": "object", "properties": {} })
}

static EXPLODE: Kind = Kind {
    name: "explode",
    summary: "Panics on its second bar (a test strategy).",
    rules: "none",
    schema: explode_schema,
    build: explode_build,
};

#[test]
fn a_panicking_bot_is_stopped_with_its_reason_and_the_others_go_on() {
    let d = TestDaemon::manual_clock(tradingd::Options {
        registry: Registry::builtin().with(&EXPLODE),
        ..tradingd::Options::default()
    });
    let mut c = d.client();
    let good = call(&mut c, "bots.create", dca("steady", 1))["id"]
        .as_u64()
        .expect("id");
    let bad = call(
        &mut c,
        "bots.create",
        json!({
            "name": "boom",
            "spec": {
                "strategy": "explode",
                "sizing": { "mode": "quote", "value": "200" },
                "exits": { "stop_loss_pct": "40", "take_profit_pct": "60" }
            },
            "symbols": ["BTCUSDT"],
            "allocation": { "USDT": "500" },
            "start": true
        }),
    )["id"]
        .as_u64()
        .expect("id");
    d.minutes(4);
    let view = call(&mut c, "bots.get", json!({ "id": bad }));
    assert_eq!(view["status"], "error", "{view}");
    let reason = view["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("panicked: explode: boom on bar 2"),
        "{reason}"
    );
    assert!(
        events(&mut c, bad)
            .iter()
            .any(|e| e["kind"] == "error"
                && e["message"].as_str().unwrap_or_default().contains("boom")),
        "the failure is in the bot's log"
    );
    // The other bot and the daemon go on; the exchange still takes orders.
    let n = fills(&mut c, good).len();
    d.minutes(2);
    assert!(
        fills(&mut c, good).len() > n,
        "the healthy bot kept trading"
    );
    assert_eq!(
        call(&mut c, "bots.get", json!({ "id": good }))["status"],
        "running"
    );
    let o = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "ETHUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    assert_eq!(o["status"], "filled", "{o}");
    // Its protective pair stays in place after the failure …
    let open = call(
        &mut c,
        "orders.list",
        json!({ "open": true, "bot_id": bad }),
    );
    assert_eq!(open["items"].as_array().expect("orders").len(), 2, "{open}");
    // … until it is stopped with flatten, which needs no strategy code.
    let stopped = call(&mut c, "bots.stop", json!({ "id": bad, "flatten": true }));
    assert_eq!(stopped["status"], "stopped", "{stopped}");
    assert_eq!(
        dec(&stopped["positions"][0]["qty"]),
        rust_decimal::Decimal::ZERO
    );
    let open = call(
        &mut c,
        "orders.list",
        json!({ "open": true, "bot_id": bad }),
    );
    assert!(open["items"].as_array().expect("orders").is_empty());
    // A stopped bot can be started again.
    let restarted = call(&mut c, "bots.start", json!({ "id": bad }));
    assert_eq!(restarted["status"], "running");
}

#[test]
fn two_bots_on_one_symbol_keep_their_own_positions() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let a = call(&mut c, "bots.create", dca("a", 1))["id"]
        .as_u64()
        .expect("id");
    let mut spec_b = dca("b", 2);
    spec_b["allocation"] = json!({ "USDT": "3000" });
    spec_b["spec"]["sizing"] = json!({ "mode": "quote", "value": "250" });
    let b = call(&mut c, "bots.create", spec_b)["id"]
        .as_u64()
        .expect("id");
    d.minutes(4);
    let qa = dec(&call(&mut c, "bots.get", json!({ "id": a }))["positions"][0]["qty"]);
    let qb = dec(&call(&mut c, "bots.get", json!({ "id": b }))["positions"][0]["qty"]);
    assert!(qa > rust_decimal::Decimal::ZERO && qb > qa, "{qa} {qb}");
    let total = dec(&call(&mut c, "positions.get", json!({ "symbol": "BTCUSDT" }))["qty"]);
    assert_eq!(total, qa + qb);
    // Stopping one with flatten sells only its own position.
    call(&mut c, "bots.stop", json!({ "id": a, "flatten": true }));
    let total = dec(&call(&mut c, "positions.get", json!({ "symbol": "BTCUSDT" }))["qty"]);
    assert_eq!(total, qb);
    // A manual close cannot sell a bot's holdings.
    let (code_, msg) = call_err(&mut c, "positions.close", json!({ "symbol": "BTCUSDT" }));
    assert_eq!(code_, -32009);
    assert!(msg.contains("belongs to bots"), "{msg}");
    assert_books_consistent(&d);
}

#[test]
#[allow(clippy::too_many_lines)] // a table of bad inputs, then lifecycle misuse
fn bad_bot_and_strategy_input_is_refused_and_changes_nothing() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let balances = call(&mut c, "accounts.balances", json!({}));
    let base = json!({
        "name": "x",
        "spec": { "strategy": "sma_cross" },
        "symbols": ["BTCUSDT"],
        "allocation": { "USDT": "100" }
    });
    let with = |path: &str, v: Value| {
        let mut p = base.clone();
        let mut at = &mut p;
        let parts: Vec<&str> = path.split('.').collect();
        for k in &parts[..parts.len() - 1] {
            at = &mut at[*k];
        }
        at[*parts.last().expect("key")] = v;
        p
    };
    for (params, want_code, want) in [
        (
            with("spec.strategy", json!("nope")),
            -32602,
            "field `spec.strategy`: unknown strategy `nope`",
        ),
        (
            with("spec.params", json!({ "fast": 0 })),
            -32602,
            "field `spec.params.fast`: must be between 1 and 1000, got 0",
        ),
        (
            with("spec.params", json!({ "fats": 3 })),
            -32602,
            "field `spec.params.fats`: unknown field `fats`",
        ),
        (
            with(
                "spec",
                json!({ "strategy": "grid", "params": { "upper": "10", "levels": 3 } }),
            ),
            -32602,
            "field `spec.params.lower`: missing field `lower`",
        ),
        (
            with("symbols", json!(["NOPEUSDT"])),
            -32602,
            "field `symbols[0]`: unknown symbol `NOPEUSDT` on sim",
        ),
        (
            with("symbols", json!([])),
            -32602,
            "field `symbols`: give at least one symbol",
        ),
        (
            with("allocation", json!({ "USDT": "100000000" })),
            -32016,
            "field `allocation`: insufficient USDT balance",
        ),
        (
            with("allocation", json!({ "DOGE": "1" })),
            -32602,
            "field `allocation.DOGE`: `DOGE` is not traded on sim",
        ),
        (
            with("allocation", json!({ "USDT": "0" })),
            -32602,
            "field `allocation.USDT`: must be greater than zero",
        ),
        (with("name", json!("no spaces")), -32602, "field `name`"),
        (with("account", json!("nobody")), -32006, "account"),
    ] {
        let (got_code, msg) = call_err(&mut c, "bots.create", params.clone());
        assert_eq!(got_code, want_code, "{params}: {msg}");
        assert!(msg.contains(want), "{params}: `{msg}` lacks `{want}`");
    }
    assert_eq!(call(&mut c, "bots.list", json!({}))["items"], json!([]));
    assert_eq!(call(&mut c, "accounts.balances", json!({})), balances);

    // Lifecycle misuse.
    let id = call(&mut c, "bots.create", dca("ok", 3))["id"]
        .as_u64()
        .expect("id");
    let (code_, msg) = call_err(&mut c, "bots.start", json!({ "id": id }));
    assert_eq!(code_, -32004);
    assert!(msg.contains("already running"), "{msg}");
    let (code_, msg) = call_err(&mut c, "bots.delete", json!({ "id": id }));
    assert_eq!(code_, -32004);
    assert!(msg.contains("force"), "{msg}");
    // A running bot's allocation is not replaced (deposit / withdraw move
    // capital instead).
    let (code_, msg) = call_err(
        &mut c,
        "bots.update",
        json!({ "id": id, "allocation": { "USDT": "10" } }),
    );
    assert_eq!(code_, -32004, "{msg}");
    assert!(msg.contains("deposit"), "{msg}");
    let (code_, _) = call_err(&mut c, "bots.create", dca("ok", 3));
    assert_eq!(code_, -32009, "names are unique");
    assert_eq!(
        call(&mut c, "bots.get", json!({ "id": id }))["status"],
        "running"
    );
    let deleted = call(&mut c, "bots.delete", json!({ "id": id, "force": true }));
    assert_eq!(deleted["deleted"], true);
    assert_eq!(
        call(&mut c, "accounts.balances", json!({})),
        balances,
        "nothing traded yet"
    );
    let (code_, _) = call_err(&mut c, "bots.resume", json!({ "id": 999 }));
    assert_eq!(code_, -32006);

    // Strategy configs: validated the same way; validate answers instead of failing.
    let (code_, msg) = call_err(
        &mut c,
        "strategies.create",
        json!({ "name": "s", "spec": { "strategy": "rsi_reversion", "params": { "oversold": 80 } } }),
    );
    assert_eq!(code_, -32602);
    assert!(
        msg.contains("field `spec.params.oversold`: must be less than overbought (70)"),
        "{msg}"
    );
    let v = call(
        &mut c,
        "strategies.validate",
        json!({ "spec": { "strategy": "sma_cross", "params": { "fast": 30, "slow": 20 } } }),
    );
    assert_eq!(v["valid"], false);
    assert_eq!(v["field"], "spec.params.fast");
    let v = call(
        &mut c,
        "strategies.validate",
        json!({ "spec": { "strategy": "sma_cross", "sizing": { "mode": "all" } } }),
    );
    assert_eq!(v["valid"], false);
    assert_eq!(v["field"], "spec.sizing.mode", "{v}");
    let v = call(
        &mut c,
        "strategies.validate",
        json!({ "spec": { "strategy": "sma_cross" } }),
    );
    assert_eq!(v["valid"], true);
    assert_eq!(v["spec"]["params"], json!({ "fast": 10, "slow": 20 }));
    assert_eq!(v["warmup"], 21);
    assert_eq!(
        call(&mut c, "strategies.list", json!({}))["items"],
        json!([])
    );
    let cat = call(&mut c, "strategies.catalog", json!({}));
    let names: Vec<&str> = cat["strategies"]
        .as_array()
        .expect("strategies")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "sma_cross",
            "ema_cross",
            "rsi_reversion",
            "bollinger_breakout",
            "macd",
            "grid",
            "dca"
        ]
    );
}

#[test]
fn a_saved_strategy_config_creates_bots_and_a_grid_lays_its_ladder() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let last = dec(&call(&mut c, "market.ticker", json!({ "symbol": "BTCUSDT" }))["last"]);
    let lower = (last * rust_decimal::Decimal::new(88, 2)).round_dp(0);
    let upper = (last * rust_decimal::Decimal::new(112, 2)).round_dp(0);
    let s = call(
        &mut c,
        "strategies.create",
        json!({ "name": "ladder", "spec": {
            "strategy": "grid",
            "params": { "lower": lower.to_string(), "upper": upper.to_string(), "levels": 4 },
            "sizing": { "mode": "quote", "value": "100" }
        }}),
    );
    assert_eq!(s["spec"]["interval"], "1m");
    let bot = call(
        &mut c,
        "bots.create",
        json!({ "name": "g", "strategy": "ladder", "symbols": ["BTCUSDT"], "allocation": { "USDT": "1000" }, "start": true }),
    );
    assert_eq!(bot["strategy_id"], s["id"]);
    let id = bot["id"].as_u64().expect("id");
    let open = call(&mut c, "orders.list", json!({ "open": true, "bot_id": id }));
    let orders = open["items"].as_array().expect("orders");
    // Lines at 88, 96, 104 and 112 % of the price: two buys rest below it.
    assert_eq!(orders.len(), 2, "{open}");
    assert!(
        orders
            .iter()
            .all(|o| o["side"] == "buy" && o["type"] == "limit")
    );
    // Their funds are locked in the bot's book, not the manual one.
    let view = call(&mut c, "bots.get", json!({ "id": id }));
    assert!(dec(&view["balances"]["USDT"]["locked"]) > rust_decimal::Decimal::from(190));
    // Pausing cancels the ladder; resuming lays it again.
    call(&mut c, "bots.pause", json!({ "id": id }));
    let open = call(&mut c, "orders.list", json!({ "open": true, "bot_id": id }));
    assert!(open["items"].as_array().expect("orders").is_empty());
    call(&mut c, "bots.resume", json!({ "id": id }));
    let open = call(&mut c, "orders.list", json!({ "open": true, "bot_id": id }));
    assert_eq!(open["items"].as_array().expect("orders").len(), 2);
    // Updating the saved config does not change the bot's copy.
    let mut spec = s["spec"].clone();
    spec["params"]["levels"] = json!(6);
    call(
        &mut c,
        "strategies.update",
        json!({ "name": "ladder", "new_name": "ladder2", "spec": spec }),
    );
    let updated = call(&mut c, "strategies.get", json!({ "name": "ladder2" }));
    assert_eq!(
        (&updated["id"], &updated["spec"]["params"]["levels"]),
        (&s["id"], &json!(6))
    );
    assert_eq!(
        call(&mut c, "bots.get", json!({ "id": id }))["spec"]["params"]["levels"],
        4
    );
}

#[test]
fn a_started_bot_warms_up_on_stored_bars_and_streams_its_status_and_events() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    d.minutes(12);
    let mut watcher = d.client();
    watcher
        .subscribe(&["bots.status", "bots.events"])
        .expect("subscribe");
    let mut c = d.client();
    let mut create = |name: &str, interval: &str| {
        call(
            &mut c,
            "bots.create",
            json!({
                "name": name,
                "spec": { "strategy": "sma_cross", "params": { "fast": 2, "slow": 5 }, "interval": interval },
                "symbols": ["ETHUSDT"],
                "allocation": { "USDT": "100" },
                "start": true
            }),
        )["id"]
            .as_u64()
            .expect("id")
    };
    let one = create("one-minute", "1m");
    let five = create("five-minutes", "5m");
    let warm = |c: &mut Client, id: u64| {
        events(c, id)
            .iter()
            .filter_map(|e| e["message"].as_str().map(str::to_owned))
            .find(|m| m.starts_with("warm-up"))
            .expect("a warm-up event")
    };
    // sma_cross 2/5 needs 6 bars: twelve stored minutes hold them at 1m,
    // but only two closed 5m bars.
    assert_eq!(
        warm(&mut c, one),
        "warm-up: replayed 6 closed 1m bars per symbol"
    );
    assert_eq!(
        warm(&mut c, five),
        "warm-up: only 2 closed 5m bars stored; the first signal needs 5 (3 more), the indicators settle fully after 6"
    );
    // The watcher saw both bots go running, and their log entries.
    let mut running = Vec::new();
    let mut logged = 0;
    while running.len() < 2 || logged < 4 {
        let msg = watcher.next_event().expect("event");
        if let Some(v) = msg.decode::<tradedesk_core::api::bots::BotStatusTopic>() {
            let v = v.expect("decodes");
            if v.bot.status == tradedesk_core::api::bots::BotStatus::Running {
                running.push(v.bot.id);
            }
        } else if let Some(e) = msg.decode::<tradedesk_core::api::bots::BotEventsTopic>() {
            e.expect("decodes");
            logged += 1;
        }
    }
    assert_eq!(running, [one, five]);
}

#[test]
fn a_take_profit_and_a_trailing_stop_go_out_as_one_oco_pair() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let mut p = dca("trail", 100);
    p["spec"]["exits"] = json!({ "take_profit_pct": "50", "trailing_stop_pct": "5" });
    let id = call(&mut c, "bots.create", p)["id"].as_u64().expect("id");
    d.minutes(2);
    let held = dec(&call(&mut c, "bots.get", json!({ "id": id }))["positions"][0]["qty"]);
    let open = call(&mut c, "orders.list", json!({ "open": true, "bot_id": id }));
    let orders = open["items"].as_array().expect("orders");
    assert_eq!(orders.len(), 2, "{open}");
    let types: Vec<&str> = orders.iter().filter_map(|o| o["type"].as_str()).collect();
    assert!(
        types.contains(&"limit") && types.contains(&"trailing_stop"),
        "{types:?}"
    );
    assert_eq!(orders[0]["oco_id"], orders[1]["id"]);
    assert!(orders.iter().all(|o| dec(&o["qty"]) == held));
    // The pair holds the base once.
    let view = call(&mut c, "bots.get", json!({ "id": id }));
    assert_eq!(dec(&view["balances"]["BTC"]["locked"]), held, "{view}");
}

#[test]
fn a_stopped_bot_can_be_changed_and_a_kept_order_goes_with_delete() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let id = call(&mut c, "bots.create", dca("edit", 1))["id"]
        .as_u64()
        .expect("id");
    d.minutes(2);
    // Holding a position: the allocation cannot change.
    call(
        &mut c,
        "bots.stop",
        json!({ "id": id, "cancel_orders": false }),
    );
    let open = call(&mut c, "orders.list", json!({ "open": true, "bot_id": id }));
    assert_eq!(
        open["items"].as_array().expect("orders").len(),
        1,
        "the take-profit was kept"
    );
    let (code_, msg) = call_err(
        &mut c,
        "bots.update",
        json!({ "id": id, "allocation": { "USDT": "2000" } }),
    );
    assert_eq!(code_, -32009, "{msg}");
    assert!(msg.contains("field `allocation`"), "{msg}");
    // Spec and name can change; the new spec is validated.
    let (code_, msg) = call_err(
        &mut c,
        "bots.update",
        json!({ "id": id, "spec": { "strategy": "dca", "params": { "every_bars": 0 } } }),
    );
    assert_eq!(code_, -32602);
    assert!(msg.contains("field `spec.params.every_bars`"), "{msg}");
    let v = call(
        &mut c,
        "bots.update",
        json!({ "id": id, "name": "edited", "spec": { "strategy": "dca", "params": { "every_bars": 3 } } }),
    );
    assert_eq!(
        (
            v["name"].as_str(),
            v["spec"]["params"]["every_bars"].as_u64()
        ),
        (Some("edited"), Some(3))
    );
    // Flat again (sold by hand through the bot's stop), the allocation can change.
    call(&mut c, "bots.start", json!({ "id": id }));
    call(&mut c, "bots.stop", json!({ "id": id, "flatten": true }));
    let usdt = |c: &mut Client| {
        call(c, "bots.get", json!({ "id": id }))["balances"]["USDT"]["free"]
            .as_str()
            .map(str::to_owned)
            .expect("usdt")
    };
    let before = usdt(&mut c);
    let v = call(
        &mut c,
        "bots.update",
        json!({ "id": id, "allocation": { "USDT": "250" } }),
    );
    assert_eq!(v["balances"]["USDT"]["free"], "250", "{v} (was {before})");
    assert_eq!(v["allocation"], json!({ "USDT": "250" }));
    assert_books_consistent(&d);
    // What the old book realized is counted once, after a restart too.
    let realized =
        call(&mut c, "positions.get", json!({ "symbol": "BTCUSDT" }))["realized_pnl"].clone();
    let d = d.restart();
    let mut c = d.client();
    assert_eq!(
        call(&mut c, "positions.get", json!({ "symbol": "BTCUSDT" }))["realized_pnl"],
        realized
    );
    // Delete cancels what a stopped bot left open and returns its book.
    call(&mut c, "bots.start", json!({ "id": id }));
    d.minutes(1);
    call(
        &mut c,
        "bots.stop",
        json!({ "id": id, "cancel_orders": false }),
    );
    call(&mut c, "bots.delete", json!({ "id": id }));
    let open = call(&mut c, "orders.list", json!({ "open": true }));
    assert_eq!(open["items"], json!([]));
    assert_books_consistent(&d);
}

/// The engine fed the bars a paper bot saw places the orders the bot
/// placed: same bars, same decisions, same client order ids.
#[test]
#[allow(clippy::too_many_lines)] // the bot's run, then the engine's, compared
fn a_paper_bot_and_the_engine_on_the_same_bars_place_the_same_orders() {
    use tradedesk_core::engine::{Decision, Engine, EngineConfig};
    use tradedesk_core::ledger::Position;
    use tradedesk_core::market::Bar;
    use tradedesk_core::portfolio::{OpenOrder, Portfolio};
    use tradedesk_core::strategy::StrategySpec;

    struct Held(Position);
    impl Portfolio for Held {
        fn position(&self, _: &tradedesk_core::instrument::Symbol) -> Position {
            self.0
        }
        fn free(&self, _: &str) -> tradedesk_core::money::Qty {
            "1000000".parse().expect("qty")
        }
        fn equity(&self) -> rust_decimal::Decimal {
            rust_decimal::Decimal::from(1_000_000)
        }
        fn open_orders(&self, _: &tradedesk_core::instrument::Symbol) -> Vec<OpenOrder> {
            Vec::new()
        }
    }

    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let spec = json!({ "strategy": "sma_cross", "params": { "fast": 2, "slow": 5 },
                       "sizing": { "mode": "fixed_qty", "value": "0.01" } });
    let start = d.ctx.now();
    let id = call(
        &mut c,
        "bots.create",
        json!({ "name": "twin", "spec": spec, "symbols": ["BTCUSDT"], "allocation": { "USDT": "5000" }, "start": true }),
    )["id"]
        .as_u64()
        .expect("id");
    d.minutes(90);
    let orders = call(
        &mut c,
        "orders.list",
        json!({ "bot_id": id, "limit": 1000 }),
    );
    let mut placed: Vec<(String, String, String)> = orders["items"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| {
            (
                o["client_order_id"].as_str().unwrap_or_default().to_owned(),
                o["side"].as_str().unwrap_or_default().to_owned(),
                o["qty"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    placed.reverse();
    assert!(
        placed.len() >= 4,
        "the bot should trade in 90 minutes: {placed:?}"
    );

    // The same bars, through the engine, filling at the close.
    let bars: Vec<Bar> = serde_json::from_value(
        call(
            &mut c,
            "market.klines",
            json!({ "symbol": "BTCUSDT", "interval": "1m", "start": start, "limit": 1000 }),
        )["bars"]
            .clone(),
    )
    .expect("bars");
    let spec: StrategySpec = serde_json::from_value(spec).expect("spec");
    let (strategy, _) = spec.build().expect("strategy");
    let inst = d
        .ctx
        .exchange
        .lock()
        .instrument(&"BTCUSDT".parse().expect("symbol"))
        .cloned()
        .expect("instrument");
    let mut engine = Engine::new(
        EngineConfig {
            prefix: format!("b{id}"),
            sizing: spec.sizing,
            exits: spec.exits,
            fee_rate: "0.001".parse().expect("fee"),
            interval: spec.interval,
            seed: id,
            size_at_fill: false,
        },
        vec![(inst, strategy)],
    );
    let mut held = Held(Position::default());
    let mut decided = Vec::new();
    for b in &bars {
        let mut out = Vec::new();
        engine.on_bar(
            0,
            &tradedesk_core::strategy::Candle::from_bar(b),
            &held,
            &mut out,
        );
        for d in out {
            if let Decision::Place(i) = d {
                held.0
                    .apply_fill(
                        i.side,
                        i.qty,
                        b.close,
                        tradedesk_core::money::Notional::ZERO,
                    )
                    .expect("fill");
                decided.push((i.tag, i.side.as_str().to_owned(), i.qty.to_string()));
            }
        }
    }
    assert_eq!(decided, placed);
}

#[test]
#[allow(clippy::too_many_lines)] // one story: enter, add, partial and whole exit, refusals
fn a_trader_forces_entries_and_exits_through_the_risk_checks_and_sees_the_open_trade() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let bot = call(
        &mut c,
        "bots.create",
        json!({
            "name": "steered",
            "spec": {
                "strategy": "sma_cross",
                "params": { "fast": 50, "slow": 200 },
                "sizing": { "mode": "quote", "value": "100" },
                "exits": { "stop_loss_pct": "5", "take_profit_pct": "10" }
            },
            "symbols": ["BTCUSDT"],
            "allocation": { "USDT": "1000" },
            "start": true
        }),
    )["id"]
        .as_u64()
        .expect("id");
    let qty = |v: &Value| -> Decimal {
        v["open_trades"]
            .as_array()
            .and_then(|t| t.first())
            .map_or(Decimal::ZERO, |t| {
                t["qty"].as_str().expect("qty").parse().expect("decimal")
            })
    };

    // Its sizing rule (100 USDT) when no qty is given.
    let v = call(&mut c, "bots.enter", json!({ "id": bot }));
    let t = &v["open_trades"][0];
    assert_eq!(t["symbol"], "BTCUSDT", "{v}");
    let entry: Decimal = t["entry_price"]
        .as_str()
        .expect("entry")
        .parse()
        .expect("d");
    assert!(qty(&v) * entry <= Decimal::from(100), "{v}");
    // The protective pair sits 5 % under and 10 % over the entry.
    let stop: Decimal = t["stop_loss"]["price"]
        .as_str()
        .expect("stop")
        .parse()
        .expect("d");
    let target: Decimal = t["take_profit"]["price"]
        .as_str()
        .expect("target")
        .parse()
        .expect("d");
    assert!(
        (stop / entry - Decimal::new(95, 2)).abs() < Decimal::new(1, 3),
        "{t}"
    );
    assert!(
        (target / entry - Decimal::new(110, 2)).abs() < Decimal::new(1, 3),
        "{t}"
    );
    let dist = t["stop_loss"]["distance_pct"].as_f64().expect("distance");
    assert!((-5.5..=-4.5).contains(&dist), "{t}");
    // Just bought: down by about the two fees.
    let pct = t["pnl_pct"].as_f64().expect("pnl %");
    assert!((-1.0..0.0).contains(&pct), "{t}");

    // A forced entry while long adds; the pair is resized to the whole.
    let before = qty(&v);
    let v = call(&mut c, "bots.enter", json!({ "id": bot, "qty": "0.0005" }));
    assert_eq!(qty(&v), before + Decimal::new(5, 4), "{v}");
    assert!(v["open_trades"][0]["stop_loss"]["price"].is_string(), "{v}");

    // A partial exit, then the rest.
    let v = call(&mut c, "bots.exit", json!({ "id": bot, "qty": "0.0005" }));
    assert_eq!(qty(&v), before, "{v}");
    assert!(
        v["open_trades"][0]["stop_loss"]["price"].is_string(),
        "protected again: {v}"
    );
    let v = call(&mut c, "bots.exit", json!({ "id": bot }));
    assert_eq!(v["open_trades"].as_array().map(Vec::len), Some(0), "{v}");
    let open = call(
        &mut c,
        "orders.list",
        json!({ "open": true, "bot_id": bot }),
    );
    assert_eq!(open["items"].as_array().map(Vec::len), Some(0), "{open}");

    // Refusals name what is wrong and change nothing.
    let (code, message) = call_err(&mut c, "bots.exit", json!({ "id": bot }));
    assert_eq!(code, -32009, "{message}");
    assert!(message.contains("holds no BTCUSDT"), "{message}");
    let (_, message, data) = call_failing(&mut c, "bots.enter", json!({ "id": bot, "qty": "0" }));
    assert_eq!(data["field"], "qty", "{message}");
    let (_, message, data) = call_failing(
        &mut c,
        "bots.enter",
        json!({ "id": bot, "symbol": "ETHUSDT" }),
    );
    assert_eq!(data["field"], "symbol", "{message}");
    // The risk checks decide a forced entry as any other order.
    call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": format!("bot:{bot}"), "limits": { "max_order_notional": "10" } }),
    );
    let (_, message) = call_err(&mut c, "bots.enter", json!({ "id": bot }));
    assert!(message.contains("max_order_notional"), "{message}");
    assert_eq!(
        qty(&call(&mut c, "bots.get", json!({ "id": bot }))),
        Decimal::ZERO
    );
    let events = call(&mut c, "bots.events", json!({ "id": bot, "limit": 100 }));
    let text = events.to_string();
    assert!(text.contains("asked by"), "{text}");
    assert!(text.contains("manual entry"), "{text}");
    assert!(text.contains("refused"), "{text}");
    // A paused bot takes no forced entry.
    call(&mut c, "bots.pause", json!({ "id": bot }));
    let (code, message) = call_err(&mut c, "bots.enter", json!({ "id": bot }));
    assert_eq!(code, -32004, "{message}");
}

#[test]
#[allow(clippy::too_many_lines)] // one story: exits, params, capital, refusals
fn a_running_bot_takes_new_exits_params_and_capital_and_logs_each_change() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let spec = |fast: u32, stop: &str| {
        json!({
            "strategy": "sma_cross",
            "params": { "fast": fast, "slow": 200 },
            "sizing": { "mode": "quote", "value": "100" },
            "exits": { "stop_loss_pct": stop, "take_profit_pct": "10" }
        })
    };
    let bot = call(
        &mut c,
        "bots.create",
        json!({
            "name": "tuned",
            "spec": spec(50, "5"),
            "symbols": ["BTCUSDT"],
            "allocation": { "USDT": "1000" },
            "start": true
        }),
    )["id"]
        .as_u64()
        .expect("id");
    let d_ = |v: &Value| -> Decimal { v.as_str().expect("decimal").parse().expect("decimal") };
    let v = call(&mut c, "bots.enter", json!({ "id": bot }));
    let entry = d_(&v["open_trades"][0]["entry_price"]);

    // New exits: the protective pair moves to the new stop at once.
    let v = call(
        &mut c,
        "bots.update",
        json!({ "id": bot, "spec": spec(50, "3") }),
    );
    assert_eq!(v["status"], "running", "{v}");
    let stop = d_(&v["open_trades"][0]["stop_loss"]["price"]);
    assert!(
        (stop / entry - Decimal::new(97, 2)).abs() < Decimal::new(1, 3),
        "{v}"
    );
    let open = call(
        &mut c,
        "orders.list",
        json!({ "open": true, "bot_id": bot }),
    );
    assert_eq!(
        open["items"].as_array().map(Vec::len),
        Some(2),
        "one pair: {open}"
    );

    // New parameters: a new engine, warmed on the stored bars.
    let v = call(
        &mut c,
        "bots.update",
        json!({ "id": bot, "spec": spec(20, "3") }),
    );
    assert_eq!(v["spec"]["params"]["fast"], 20, "{v}");
    d.minutes(2);
    assert_eq!(
        call(&mut c, "bots.get", json!({ "id": bot }))["status"],
        "running"
    );

    // Capital in and out, counted in the allocation so PnL stays put, and
    // in the bot's risk baselines so a withdrawal is not a loss.
    call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": format!("bot:{bot}"), "limits": { "daily_loss_limit": "100" } }),
    );
    d.minutes(1);
    let before = call(&mut c, "bots.get", json!({ "id": bot }));
    let free = |v: &Value| d_(&v["balances"]["USDT"]["free"]);
    let v = call(
        &mut c,
        "bots.update",
        json!({ "id": bot, "deposit": { "USDT": "200" } }),
    );
    assert_eq!(free(&v), free(&before) + Decimal::from(200), "{v}");
    assert_eq!(v["allocation"]["USDT"], "1200", "{v}");
    assert_eq!(v["pnl"], before["pnl"], "{v}");
    let (code, message, data) = call_failing(
        &mut c,
        "bots.update",
        json!({ "id": bot, "withdraw": { "USDT": "100000" } }),
    );
    assert_eq!(code, -32016, "{message}");
    assert_eq!(data["field"], "withdraw.USDT", "{message}");
    let v = call(
        &mut c,
        "bots.update",
        json!({ "id": bot, "withdraw": { "USDT": "150" } }),
    );
    assert_eq!(v["allocation"]["USDT"], "1050", "{v}");
    assert_eq!(free(&v), free(&before) + Decimal::from(50), "{v}");
    let v = call(
        &mut c,
        "bots.update",
        json!({ "id": bot, "withdraw": { "USDT": "300" } }),
    );
    assert_eq!(v["allocation"]["USDT"], "750", "{v}");
    d.minutes(1);
    let status = call(
        &mut c,
        "risk.status",
        json!({ "scope": format!("bot:{bot}") }),
    );
    let state = status["states"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["scope"] == format!("bot:{bot}")))
        .map_or(Value::Null, |s| s["state"].clone());
    assert_ne!(state, "halted", "withdrawn capital is no loss: {status}");

    // Refused, naming the field, changing nothing.
    for (params, field) in [
        (
            json!({ "id": bot, "allocation": { "USDT": "5" } }),
            "allocation",
        ),
        (
            json!({ "id": bot, "spec": spec(500, "3") }),
            "spec.params.fast",
        ),
        (
            json!({ "id": bot, "deposit": { "USDT": "-1" } }),
            "deposit.USDT",
        ),
    ] {
        let (_, message, data) = call_failing(&mut c, "bots.update", params);
        assert_eq!(data["field"], field, "{message}");
    }
    let mut short = spec(20, "3");
    short["params"]["allow_short"] = json!(true);
    let (_, message, data) =
        call_failing(&mut c, "bots.update", json!({ "id": bot, "spec": short }));
    assert_eq!(data["field"], "spec.params.allow_short", "{message}");
    let v = call(&mut c, "bots.get", json!({ "id": bot }));
    assert_eq!(v["spec"]["params"]["fast"], 20);
    assert_eq!(v["allocation"]["USDT"], "750");
    assert_eq!(v["status"], "running");

    let events = call(&mut c, "bots.events", json!({ "id": bot, "limit": 100 })).to_string();
    for needle in [
        "updated while running: exits",
        "params {\\\"fast\\\":50",
        "from the next closed bar",
        "deposited 200 USDT",
        "withdrew 150 USDT",
        "withdrew 300 USDT",
    ] {
        assert!(events.contains(needle), "{needle} in {events}");
    }
}

#[test]
fn protections_pause_a_bot_with_the_reason_and_a_trader_resumes_it() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let create = |c: &mut Client, name: &str, protections: Value| {
        call(
            c,
            "bots.create",
            json!({
                "name": name,
                "spec": {
                    "strategy": "sma_cross",
                    "params": { "fast": 50, "slow": 200 },
                    "sizing": { "mode": "quote", "value": "100" },
                    "protections": protections
                },
                "symbols": ["BTCUSDT"],
                "allocation": { "USDT": "500" },
                "start": true
            }),
        )["id"]
            .as_u64()
            .expect("id")
    };
    // A round trip at once loses the spread and two fees: a losing exit.
    let guarded = create(
        &mut c,
        "guarded",
        json!({ "max_losing_trades": 1, "losing_window_bars": 60 }),
    );
    call(&mut c, "bots.enter", json!({ "id": guarded }));
    let v = call(&mut c, "bots.exit", json!({ "id": guarded }));
    assert_eq!(v["status"], "paused", "{v}");
    let reason = v["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("1 losing exits within 60 bars"), "{reason}");
    let (code, _) = call_err(&mut c, "bots.enter", json!({ "id": guarded }));
    assert_eq!(code, -32004, "a paused bot takes no entry");
    let v = call(&mut c, "bots.resume", json!({ "id": guarded }));
    assert_eq!(v["status"], "running");

    // The daily loss stop pauses at the next closed bar; the account
    // trades on, and a resumed bot is not stopped again that day.
    let daily = create(&mut c, "daily", json!({ "daily_loss_stop": "0.01" }));
    call(&mut c, "bots.enter", json!({ "id": daily }));
    call(&mut c, "bots.exit", json!({ "id": daily }));
    assert_eq!(
        call(&mut c, "bots.get", json!({ "id": daily }))["status"],
        "running"
    );
    d.minutes(1);
    let v = call(&mut c, "bots.get", json!({ "id": daily }));
    assert_eq!(v["status"], "paused", "{v}");
    let reason = v["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("daily loss stop:"), "{reason}");
    call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.0001" }),
    );
    call(&mut c, "bots.resume", json!({ "id": daily }));
    d.minutes(2);
    assert_eq!(
        call(&mut c, "bots.get", json!({ "id": daily }))["status"],
        "running"
    );
    assert_eq!(
        call(&mut c, "bots.get", json!({ "id": guarded }))["status"],
        "running"
    );
    let events = call(&mut c, "bots.events", json!({ "id": daily, "limit": 50 })).to_string();
    assert!(events.contains("paused: daily loss stop"), "{events}");
}
