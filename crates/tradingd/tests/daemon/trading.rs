//! The trading core through the real client: orders on `sim`, exact
//! balances, positions and trades, bad input that changes nothing, and
//! restarts with open orders.

// The helpers take `json!` literals by value, as call sites read best.
#![allow(clippy::needless_pass_by_value)]

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tradedesk_core::client::Client;

use super::support::TestDaemon;

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("not a decimal string: {v}"))
        .parse()
        .expect("decimal")
}

fn call(c: &mut Client, method: &str, params: Value) -> Value {
    c.call_raw(method, &params)
        .unwrap_or_else(|e| panic!("{method} {params}: {e}"))
}

fn call_err(c: &mut Client, method: &str, params: Value) -> tradedesk_core::api::ApiError {
    match c.call_raw(method, &params) {
        Err(tradedesk_core::client::ClientError::Api(e)) => e,
        other => panic!("{method} {params}: expected an error, got {other:?}"),
    }
}

/// (free, locked) of an asset in the paper account.
fn balance(c: &mut Client, asset: &str) -> (Decimal, Decimal) {
    let b = call(c, "accounts.balances", json!({}));
    b["balances"]
        .as_array()
        .expect("list")
        .iter()
        .find(|x| x["asset"] == asset)
        .map_or((Decimal::ZERO, Decimal::ZERO), |x| {
            (dec(&x["free"]), dec(&x["locked"]))
        })
}

fn fills_of(c: &mut Client, order_id: u64) -> Vec<Value> {
    let t = call(c, "trades.list", json!({ "limit": 1000 }));
    t["items"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|f| f["order_id"] == order_id)
        .cloned()
        .collect()
}

#[test]
fn a_market_buy_books_exactly() {
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    assert_eq!(
        balance(&mut c, "USDT"),
        ("10000".parse().unwrap(), Decimal::ZERO)
    );
    let o = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.05" }),
    );
    assert_eq!(o["status"], "filled", "{o}");
    let id = o["id"].as_u64().expect("id");
    let fills = fills_of(&mut c, id);
    assert!(!fills.is_empty());
    let cost: Decimal = fills
        .iter()
        .map(|f| dec(&f["price"]) * dec(&f["qty"]))
        .sum();
    let fees: Decimal = fills.iter().map(|f| dec(&f["fee"])).sum();
    let qty: Decimal = fills.iter().map(|f| dec(&f["qty"])).sum();
    assert_eq!(qty, "0.05".parse().unwrap());
    assert_eq!(fees, cost * Decimal::new(1, 3), "taker fee 0.1 %");
    assert_eq!(dec(&o["filled_notional"]), cost);
    assert_eq!(
        balance(&mut c, "USDT"),
        (Decimal::from(10_000) - cost - fees, Decimal::ZERO),
        "no funds left locked"
    );
    assert_eq!(balance(&mut c, "BTC"), (qty, Decimal::ZERO));
    let p = call(&mut c, "positions.get", json!({ "symbol": "BTCUSDT" }));
    assert_eq!(dec(&p["qty"]), qty);
    assert_eq!(dec(&p["cost"]), cost);
    assert_eq!(dec(&p["fees"]), fees);
    let stats = call(&mut c, "trades.stats", json!({ "symbol": "BTCUSDT" }));
    assert_eq!(stats["count"].as_u64(), Some(fills.len() as u64));
    assert_eq!(dec(&stats["volume"]), cost);

    // Selling it all back realizes the spread and fees, exactly.
    let s = call(&mut c, "positions.close", json!({ "symbol": "BTCUSDT" }));
    assert_eq!(s["status"], "filled", "{s}");
    let sells = fills_of(&mut c, s["id"].as_u64().expect("id"));
    let proceeds: Decimal = sells
        .iter()
        .map(|f| dec(&f["price"]) * dec(&f["qty"]))
        .sum();
    let sell_fees: Decimal = sells.iter().map(|f| dec(&f["fee"])).sum();
    // Realized after fees: the price gain less the buy's and the sale's fees.
    let realized: Decimal = sells.iter().map(|f| dec(&f["realized_pnl"])).sum();
    assert_eq!(realized, proceeds - cost - fees - sell_fees);
    let p = call(&mut c, "positions.get", json!({ "symbol": "BTCUSDT" }));
    assert_eq!(dec(&p["qty"]), Decimal::ZERO);
    assert_eq!(dec(&p["realized_pnl"]), realized);
    assert_eq!(dec(&p["fees"]), fees + sell_fees);
    let (usdt, _) = balance(&mut c, "USDT");
    assert_eq!(
        usdt,
        Decimal::from(10_000) + realized,
        "cash = deposit + realized after fees"
    );
    assert_eq!(
        call(&mut c, "positions.list", json!({}))["items"],
        json!([])
    );
}

#[test]
fn a_resting_limit_locks_funds_and_cancel_releases_them() {
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    let o = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.1", "price": "30000", "client_order_id": "lim-1" }),
    );
    assert_eq!(o["status"], "accepted");
    let locked = Decimal::from(3000) * "1.001".parse::<Decimal>().unwrap();
    assert_eq!(
        balance(&mut c, "USDT"),
        (Decimal::from(10_000) - locked, locked)
    );
    assert_eq!(dec(&o["reserved"]), locked);
    let open = call(&mut c, "orders.list", json!({ "open": true }));
    assert_eq!(open["items"].as_array().map(Vec::len), Some(1));
    let got = call(&mut c, "orders.get", json!({ "client_order_id": "lim-1" }));
    assert_eq!(got["id"], o["id"]);

    let cancelled = call(&mut c, "orders.cancel", json!({ "id": o["id"] }));
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(
        balance(&mut c, "USDT"),
        (Decimal::from(10_000), Decimal::ZERO)
    );
    let again = call_err(&mut c, "orders.cancel", json!({ "id": o["id"] }));
    assert_eq!(again.code, -32004, "{again}");
    assert!(again.message.contains("cancelled"), "{again}");
    let missing = call_err(&mut c, "orders.cancel", json!({ "id": 999_999 }));
    assert_eq!(missing.code, -32006, "{missing}");
    let both = call_err(
        &mut c,
        "orders.get",
        json!({ "id": 1, "client_order_id": "x" }),
    );
    assert_eq!(both.code, -32602);
}

#[test]
fn bad_orders_name_the_field_and_change_nothing() {
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    let before = (
        balance(&mut c, "USDT"),
        call(&mut c, "orders.list", json!({})),
    );
    let base = json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" });
    let with = |patch: Value| {
        let mut o = base.clone();
        for (k, v) in patch.as_object().expect("object") {
            if v.is_null() {
                o.as_object_mut().expect("object").remove(k);
            } else {
                o[k] = v.clone();
            }
        }
        o
    };
    let cases = [
        (with(json!({ "qty": "0" })), -32602, "`qty`"),
        (with(json!({ "qty": "-1" })), -32602, "`qty`"),
        (with(json!({ "qty": "NaN" })), -32602, "qty"),
        (with(json!({ "qty": 0.01 })), -32602, "qty"),
        (with(json!({ "qty": "0.000001" })), -32602, "lot size"),
        (
            with(json!({ "type": "limit", "price": "65000.001" })),
            -32602,
            "`price`",
        ),
        (
            with(json!({ "type": "limit" })),
            -32602,
            "`price` is required",
        ),
        (
            with(json!({ "type": "stop_market" })),
            -32602,
            "`stop_price` is required",
        ),
        (
            with(json!({ "symbol": "DOGEUSDT" })),
            -32602,
            "unknown symbol `DOGEUSDT`",
        ),
        (with(json!({ "symbol": "btc" })), -32602, "symbol"),
        (with(json!({ "qty": "10" })), -32016, "insufficient USDT"),
        (with(json!({ "side": "sell" })), -32016, "insufficient BTC"),
        (with(json!({ "account": "nobody" })), -32006, "nobody"),
        (with(json!({ "qty": null })), -32602, "qty"),
    ];
    for (params, expected, word) in cases {
        let e = call_err(&mut c, "orders.place", params.clone());
        assert_eq!(e.code, expected, "{params}: {e}");
        assert!(e.message.contains(word), "{params}: {e}");
    }
    assert_eq!(
        (
            balance(&mut c, "USDT"),
            call(&mut c, "orders.list", json!({}))
        ),
        before,
        "nothing was booked or written"
    );
}

#[test]
fn a_repeated_client_order_id_returns_the_existing_order() {
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    let params = json!({ "symbol": "ETHUSDT", "side": "buy", "type": "limit", "qty": "0.1", "price": "1000", "client_order_id": "once" });
    let first = call(&mut c, "orders.place", params.clone());
    let usdt = balance(&mut c, "USDT");
    // A retry after a lost answer: the same order, placed once.
    let again = call(&mut c, "orders.place", params.clone());
    assert_eq!(again, first);
    // The same id for a different order is refused, with the stored one.
    let mut different = params.clone();
    different["qty"] = json!("0.2");
    let e = call_err(&mut c, "orders.place", different);
    assert_eq!(e.code, -32005, "{e}");
    assert!(e.message.contains("differs"), "{e}");
    assert_eq!(
        e.data.as_ref().map(|d| d["id"].clone()),
        Some(first["id"].clone())
    );
    assert_eq!(balance(&mut c, "USDT"), usdt, "no second lock");
    assert_eq!(
        call(&mut c, "orders.list", json!({}))["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // Pairs and brackets too, by their base id.
    let oco = json!({ "symbol": "ETHUSDT", "side": "buy", "qty": "0.01", "price": "1000", "stop_price": "9000", "client_order_id": "pair" });
    let p1 = call(&mut c, "orders.place_oco", oco.clone());
    assert_eq!(call(&mut c, "orders.place_oco", oco), p1);
    let bracket = json!({ "symbol": "SOLUSDT", "side": "buy", "type": "limit", "qty": "1", "price": "10", "take_profit": "20", "stop_loss": "5", "client_order_id": "br" });
    let b1 = call(&mut c, "orders.place_bracket", bracket.clone());
    assert_eq!(call(&mut c, "orders.place_bracket", bracket), b1);
    // Even while halted the retry answers (with the order as it is now:
    // the halt cancelled it), while a new order is refused.
    call(&mut c, "risk.halt", json!({}));
    let retried = call(&mut c, "orders.place", params);
    assert_eq!(
        (retried["id"].clone(), retried["status"].as_str()),
        (first["id"].clone(), Some("cancelled"))
    );
    let e = call_err(
        &mut c,
        "orders.place",
        json!({ "symbol": "ETHUSDT", "side": "buy", "type": "limit", "qty": "0.1", "price": "1000", "client_order_id": "other" }),
    );
    assert_eq!(e.code, -32003, "{e}");
}

#[test]
fn resting_orders_fill_as_the_market_trades_through_them() {
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    let book = call(
        &mut c,
        "market.orderbook",
        json!({ "symbol": "SOLUSDT", "depth": 1 }),
    );
    let bid = dec(&book["bids"][0]["price"]);
    let o = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "SOLUSDT", "side": "buy", "type": "limit", "qty": "1", "price": bid.to_string() }),
    );
    let id = o["id"].as_u64().expect("id");
    let mut steps = 0;
    loop {
        d.step();
        steps += 1;
        let o = call(&mut c, "orders.get", json!({ "id": id }));
        if o["status"] == "filled" {
            break;
        }
        assert!(steps < 20_000, "the limit never filled: {o}");
    }
    let fills = fills_of(&mut c, id);
    for f in &fills {
        assert_eq!(f["liquidity"], "maker");
        assert_eq!(
            dec(&f["price"]),
            bid,
            "a resting limit fills at its own price"
        );
        assert_eq!(
            dec(&f["fee"]),
            dec(&f["price"]) * dec(&f["qty"]) * Decimal::new(1, 3)
        );
    }
    assert_eq!(balance(&mut c, "SOL").0, Decimal::ONE);
    let (_, locked) = balance(&mut c, "USDT");
    assert_eq!(
        locked,
        Decimal::ZERO,
        "what the maker fill did not spend was released"
    );
}

#[test]
fn brackets_and_ocos_hold_funds_once_and_cancel_together() {
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    let last = dec(&call(&mut c, "market.ticker", json!({ "symbol": "ETHUSDT" }))["last"]);
    let tp = (last * Decimal::new(11, 1)).round_dp(2);
    let sl = (last * Decimal::new(9, 1)).round_dp(2);
    let b = call(
        &mut c,
        "orders.place_bracket",
        json!({ "symbol": "ETHUSDT", "side": "buy", "type": "market", "qty": "0.5", "take_profit": tp.to_string(), "stop_loss": sl.to_string() }),
    );
    assert_eq!(b["entry"]["status"], "filled", "{b}");
    let (tp_id, sl_id) = (b["take_profit"]["id"].clone(), b["stop_loss"]["id"].clone());
    let tp_now = call(&mut c, "orders.get", json!({ "id": tp_id }));
    let sl_now = call(&mut c, "orders.get", json!({ "id": sl_id }));
    assert_eq!(
        (tp_now["status"].as_str(), sl_now["status"].as_str()),
        (Some("accepted"), Some("accepted"))
    );
    assert_eq!(
        balance(&mut c, "ETH"),
        (Decimal::ZERO, "0.5".parse().unwrap()),
        "the exits hold the position once"
    );
    let cancelled = call(&mut c, "orders.cancel_all", json!({ "symbol": "ETHUSDT" }));
    assert_eq!(
        cancelled["cancelled"].as_array().map(Vec::len),
        Some(2),
        "{cancelled}"
    );
    assert_eq!(
        balance(&mut c, "ETH"),
        ("0.5".parse().unwrap(), Decimal::ZERO)
    );

    // OCO: a buy limit below and a buy stop above hold the larger of the two.
    let oco = call(
        &mut c,
        "orders.place_oco",
        json!({ "symbol": "ETHUSDT", "side": "buy", "qty": "0.1", "price": (last * Decimal::new(8, 1)).round_dp(2).to_string(), "stop_price": tp.to_string() }),
    );
    assert_eq!(
        (
            oco["limit"]["status"].as_str(),
            oco["stop"]["status"].as_str()
        ),
        (Some("accepted"), Some("accepted")),
        "{oco}"
    );
    let stop_hold = tp
        * Decimal::new(1, 1)
        * "1.05".parse::<Decimal>().unwrap()
        * "1.001".parse::<Decimal>().unwrap();
    assert_eq!(balance(&mut c, "USDT").1, stop_hold);
    call(&mut c, "orders.cancel", json!({ "id": oco["limit"]["id"] }));
    assert_eq!(
        balance(&mut c, "USDT").1,
        stop_hold,
        "the remaining leg keeps the funds"
    );
    call(&mut c, "orders.cancel", json!({ "id": oco["stop"]["id"] }));
    assert_eq!(balance(&mut c, "USDT").1, Decimal::ZERO);
}

#[test]
fn open_orders_and_balances_survive_a_restart() {
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    let o = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.01", "price": "20000" }),
    );
    let before = (
        balance(&mut c, "USDT"),
        call(&mut c, "orders.get", json!({ "id": o["id"] })),
    );
    drop(c);
    let dir = d.stop();
    let d = TestDaemon::start_in(dir, |c| c.sim.spec.tick_ms = 60_000);
    let mut c = d.client();
    assert_eq!(
        (
            balance(&mut c, "USDT"),
            call(&mut c, "orders.get", json!({ "id": o["id"] }))
        ),
        before
    );
    // It is live in the engine again: cancelling works and releases the funds.
    call(&mut c, "orders.cancel", json!({ "id": o["id"] }));
    assert_eq!(
        balance(&mut c, "USDT"),
        (Decimal::from(10_000), Decimal::ZERO)
    );
}

#[test]
fn an_order_that_never_reached_the_venue_is_rejected_at_start() {
    use tradingd::store::{Store, trading as db};
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    let o = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.01", "price": "20000" }),
    );
    drop(c);
    let dir = d.stop();
    // As if the daemon died between writing the order and sending it.
    let mut store = Store::open(&dir.path().join("data/tradedesk.db")).expect("open");
    let mut rec = db::order_by_id(store.conn(), o["id"].as_u64().expect("id"))
        .expect("query")
        .expect("row");
    rec.status = tradedesk_core::order::OrderStatus::New;
    store.write(|tx| db::update_order(tx, &rec)).expect("write");
    drop(store);
    let d = TestDaemon::start_in(dir, |c| c.sim.spec.tick_ms = 60_000);
    let mut c = d.client();
    let after = call(&mut c, "orders.get", json!({ "id": o["id"] }));
    assert_eq!(after["status"], "rejected", "{after}");
    assert!(
        after["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("before the order reached the venue")
    );
    assert_eq!(
        balance(&mut c, "USDT"),
        (Decimal::from(10_000), Decimal::ZERO),
        "its funds were released"
    );
}

#[test]
fn order_and_trade_events_stream_to_subscribers() {
    let d = TestDaemon::manual_market();
    let mut watcher = d.client();
    watcher
        .subscribe(&["orders.updates", "trades.executions", "positions.updates"])
        .expect("subscribe");
    let mut c = d.client();
    let o = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
    );
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 3 {
        match watcher.next_event().expect("event") {
            tradedesk_core::client::StreamMessage::Event { topic, event } => {
                if topic == "orders.updates" {
                    assert_eq!(event["id"], o["id"]);
                }
                seen.insert(topic);
            }
            other @ tradedesk_core::client::StreamMessage::Lagged(_) => panic!("{other:?}"),
        }
    }
    let mut raw = d.raw();
    let r = raw.call(r#"{"jsonrpc":"2.0","method":"streams.subscribe","params":{"topics":["market.tickers","market.orderbook","market.klines"]},"id":1}"#);
    assert_eq!(
        r["result"]["topics"].as_array().map(Vec::len),
        Some(3),
        "{r}"
    );
    d.step();
    let first = raw.recv();
    assert_eq!(first["method"], "streams.event", "{first}");
}

#[test]
fn klines_aggregate_stored_minutes_into_longer_intervals() {
    use tradedesk_core::market::Bar;
    use tradedesk_core::time::Timestamp;
    use tradingd::store::{Store, trading as db};
    let d = TestDaemon::manual_market();
    let dir = d.stop();
    // 30 stored minutes from 2026-01-01T00:00Z: open i, high i+2, low i-1, close i+1.
    let t0 = 1_767_225_600_000;
    let mut store = Store::open(&dir.path().join("data/tradedesk.db")).expect("open");
    store
        .write(|tx| -> Result<(), tradingd::store::StoreError> {
            for i in 0..30i64 {
                let p = |x: i64| (100 + x).to_string().parse().expect("price");
                let bar = Bar {
                    open_time: Timestamp(t0 + i * 60_000),
                    open: p(i),
                    high: p(i + 2),
                    low: p(i - 1),
                    close: p(i + 1),
                    volume: "1.5".parse().expect("qty"),
                    trades: 2,
                };
                db::upsert_kline(tx, &"BTCUSDT".parse().expect("symbol"), &bar)?;
            }
            Ok(())
        })
        .expect("write");
    drop(store);
    let d = TestDaemon::start_in(dir, |c| c.sim.spec.tick_ms = 60_000);
    let mut c = d.client();
    let range = json!({ "symbol": "BTCUSDT", "interval": "5m", "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:30:00Z" });
    let k = call(&mut c, "market.klines", range.clone());
    let bars = k["bars"].as_array().expect("bars");
    assert_eq!(bars.len(), 6);
    assert_eq!(bars[0]["open_time"], "2026-01-01T00:00:00.000Z");
    assert_eq!(
        (
            bars[0]["open"].as_str(),
            bars[0]["high"].as_str(),
            bars[0]["low"].as_str(),
            bars[0]["close"].as_str()
        ),
        (Some("100"), Some("106"), Some("99"), Some("105"))
    );
    assert_eq!(bars[0]["volume"], "7.5");
    assert_eq!(bars[0]["trades"], 10);
    let mut limited = range.clone();
    limited["limit"] = json!(2);
    let k = call(&mut c, "market.klines", limited);
    let times: Vec<&str> = k["bars"]
        .as_array()
        .expect("bars")
        .iter()
        .map(|b| b["open_time"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        times,
        ["2026-01-01T00:20:00.000Z", "2026-01-01T00:25:00.000Z"],
        "the newest bars of the range"
    );
    let mut hour = range.clone();
    hour["interval"] = json!("1h");
    let k = call(&mut c, "market.klines", hour);
    assert_eq!(k["bars"][0]["high"], "131");
    assert_eq!(k["bars"][0]["close"], "130");
    let e = call_err(
        &mut c,
        "market.klines",
        json!({ "symbol": "BTCUSDT", "interval": "2m" }),
    );
    assert_eq!(e.code, -32602);
    let e = call_err(
        &mut c,
        "market.klines",
        json!({ "symbol": "BTCUSDT", "limit": 5000 }),
    );
    assert!(e.message.contains("maximum of 1000"), "{e}");
}

#[test]
fn balances_show_what_manual_orders_can_use_and_what_the_bots_hold() {
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    call(
        &mut c,
        "bots.create",
        json!({ "name": "holder", "spec": { "strategy": "dca" }, "symbols": ["BTCUSDT"],
                "allocation": { "USDT": "6000" } }),
    );
    let b = call(&mut c, "accounts.balances", json!({}));
    let usdt = b["balances"]
        .as_array()
        .expect("balances")
        .iter()
        .find(|x| x["asset"] == "USDT")
        .cloned()
        .expect("USDT");
    assert_eq!(
        (
            &usdt["free"],
            &usdt["locked"],
            &usdt["bots"],
            &usdt["total"]
        ),
        (&json!("4000"), &json!("0"), &json!("6000"), &json!("10000")),
        "{usdt}"
    );
    // What the balances say is what an order can use.
    let e = call_err(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "1", "price": "4500" }),
    );
    assert!(e.message.contains("4000 free"), "{e}");
}
