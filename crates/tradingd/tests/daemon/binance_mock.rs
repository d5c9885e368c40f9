//! A small Binance spot exchange on 127.0.0.1 for the venue's tests: the
//! documented REST endpoints the venue uses (signatures checked), the
//! combined market stream (trades, depth diffs with Binance's update ids)
//! and the user data stream (execution reports), with one symbol
//! (BTCUSDT), a book, balances, matching, and faults to inject: a lost
//! answer, 5xx before doing anything, a depth gap, dropped WebSockets.
//!
//! Commissions are Binance's default: 0.1 %, a buy's in the base asset, a
//! sell's in the quote asset.

#![allow(
    clippy::needless_pass_by_value,
    clippy::arithmetic_side_effects,
    clippy::too_many_lines
)]

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tradingd::venues::binance::sign::verify;

pub const KEY: &str = "mock-api-key";
pub const SECRET: &str = "mock-secret-0123456789";
const SYMBOL: &str = "BTCUSDT";

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal")
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Debug, Clone)]
pub struct MockOrder {
    pub order_id: u64,
    pub client_id: String,
    pub side: String,
    pub kind: String,
    pub price: Option<Decimal>,
    pub qty: Decimal,
    pub executed: Decimal,
    pub quote: Decimal,
    pub status: String,
    /// A stop leg's trigger.
    pub stop: Option<Decimal>,
    /// The other leg of an OCO list.
    pub sibling: Option<String>,
    /// Whether the order's funds are locked (a resting order; an OCO's
    /// legs are paid from free funds here — totals are what count).
    pub locked: bool,
}

#[derive(Debug, Clone)]
pub struct MockTrade {
    pub id: u64,
    pub order_id: u64,
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub asset: String,
    pub maker: bool,
    pub buyer: bool,
    pub time: i64,
}

#[derive(Debug, Default)]
pub struct Inner {
    pub bids: BTreeMap<Decimal, Decimal>,
    pub asks: BTreeMap<Decimal, Decimal>,
    pub update_id: u64,
    pub trade_id: u64,
    pub order_id: u64,
    pub orders: BTreeMap<String, MockOrder>,
    pub trades: Vec<MockTrade>,
    /// Free and locked.
    pub balances: BTreeMap<String, (Decimal, Decimal)>,
    pub last: Decimal,
}

pub struct MockX {
    pub inner: Mutex<Inner>,
    market: broadcast::Sender<String>,
    user: broadcast::Sender<String>,
    /// Bumped to drop every WebSocket.
    generation: tokio::sync::watch::Sender<u64>,
    /// Carry out the next order but lose its answer (−1006 / 503).
    pub lose_next_answer: AtomicBool,
    /// Answer the next n order requests 500 without doing anything.
    pub fail_next: AtomicU32,
    /// Skip an update id before the next depth diff.
    pub gap_next: AtomicBool,
    /// Order requests that reached the matching.
    pub placed: AtomicU32,
    /// Orders sent again under a client id the venue already had.
    pub duplicates: AtomicU32,
    /// Refuse WebSocket connections (503).
    pub refuse_ws: AtomicBool,
    /// Answer `GET /api/v3/account` 500.
    pub fail_account: AtomicBool,
    /// Carry out the next order, then hold its answer for 30 s.
    pub hang_next: AtomicBool,
    /// Answer the next order request 418 (banned for 30 s), doing nothing.
    pub ban_next: AtomicBool,
    pub listen_keys: AtomicU64,
}

impl Inner {
    fn balance(&mut self, asset: &str) -> &mut (Decimal, Decimal) {
        self.balances.entry(asset.to_owned()).or_default()
    }

    fn order_json(o: &MockOrder) -> Value {
        json!({
            "symbol": SYMBOL, "orderId": o.order_id, "clientOrderId": o.client_id,
            "price": o.price.unwrap_or_default().to_string(), "origQty": o.qty.to_string(),
            "executedQty": o.executed.to_string(), "cummulativeQuoteQty": o.quote.to_string(),
            "status": o.status, "timeInForce": "GTC", "type": o.kind, "side": o.side,
            "time": now_ms(), "updateTime": now_ms(),
        })
    }

    fn report(o: &MockOrder, exec: &str, t: Option<&MockTrade>) -> String {
        let mut v = json!({
            "e": "executionReport", "E": now_ms(), "s": SYMBOL, "c": o.client_id, "C": "",
            "S": o.side, "o": o.kind, "f": "GTC", "q": o.qty.to_string(),
            "p": o.price.unwrap_or_default().to_string(), "x": exec, "X": o.status,
            "r": "NONE", "i": o.order_id, "l": "0", "z": o.executed.to_string(), "L": "0",
            "n": "0", "N": null, "T": now_ms(), "t": -1, "m": false,
        });
        if let Some(t) = t {
            v["l"] = json!(t.qty.to_string());
            v["L"] = json!(t.price.to_string());
            v["n"] = json!(t.commission.to_string());
            v["N"] = json!(t.asset);
            v["t"] = json!(t.id);
            v["m"] = json!(t.maker);
            v["T"] = json!(t.time);
        }
        if exec == "CANCELED" {
            v["c"] = json!(format!("cancel-{}", o.order_id));
            v["C"] = json!(o.client_id);
        }
        v.to_string()
    }

    /// Executes `qty` of an order at `price`; the report to send.
    fn execute(&mut self, cid: &str, price: Decimal, qty: Decimal, maker: bool) -> String {
        self.trade_id += 1;
        let mut o = self.orders[cid].clone();
        let value = price * qty;
        let buy = o.side == "BUY";
        let (commission, asset) = if buy {
            (qty * d("0.001"), "BTC")
        } else {
            ((value * d("0.001")).round_dp(8), "USDT")
        };
        if buy {
            let locked_part = if o.locked {
                o.price.map_or(Decimal::ZERO, |p| p * qty)
            } else {
                Decimal::ZERO
            };
            let q = self.balance("USDT");
            q.1 -= locked_part;
            q.0 += locked_part - value;
            self.balance("BTC").0 += qty - commission;
        } else {
            let locked_part = if o.locked { qty } else { Decimal::ZERO };
            let b = self.balance("BTC");
            b.1 -= locked_part;
            b.0 -= qty - locked_part;
            self.balance("USDT").0 += value - commission;
        }
        o.executed += qty;
        o.quote += value;
        o.status = if o.executed == o.qty {
            "FILLED"
        } else {
            "PARTIALLY_FILLED"
        }
        .into();
        let t = MockTrade {
            id: self.trade_id,
            order_id: o.order_id,
            price,
            qty,
            commission,
            asset: asset.into(),
            maker,
            buyer: buy,
            time: now_ms(),
        };
        let report = Self::report(&o, "TRADE", Some(&t));
        self.trades.push(t);
        self.orders.insert(cid.to_owned(), o);
        report
    }
}

impl MockX {
    fn send_market(&self, v: Value) {
        let stream = match v["e"].as_str() {
            Some("trade") => "btcusdt@trade",
            Some("kline") => "btcusdt@kline_1m",
            _ => "btcusdt@depth@100ms",
        };
        let _ = self
            .market
            .send(json!({ "stream": stream, "data": v }).to_string());
    }

    /// Changes book levels, with the depth diff that says so.
    pub fn set_levels(&self, bids: &[(&str, &str)], asks: &[(&str, &str)]) {
        let diff = {
            let mut x = self.inner.lock().expect("mock");
            if self.gap_next.swap(false, Ordering::Relaxed) {
                x.update_id += 1;
            }
            let first = x.update_id + 1;
            x.update_id += 1;
            for (p, q) in bids {
                if d(q).is_zero() {
                    x.bids.remove(&d(p));
                } else {
                    x.bids.insert(d(p), d(q));
                }
            }
            for (p, q) in asks {
                if d(q).is_zero() {
                    x.asks.remove(&d(p));
                } else {
                    x.asks.insert(d(p), d(q));
                }
            }
            json!({ "e": "depthUpdate", "E": now_ms(), "s": SYMBOL, "U": first, "u": x.update_id,
                    "b": bids.iter().map(|(p, q)| json!([p, q])).collect::<Vec<_>>(),
                    "a": asks.iter().map(|(p, q)| json!([p, q])).collect::<Vec<_>>() })
        };
        self.send_market(diff);
    }

    /// A market trade at `price`: resting orders it crosses fill at their
    /// own price (as makers).
    pub fn trade(&self, price: &str, qty: &str) {
        let price = d(price);
        let reports = {
            let mut x = self.inner.lock().expect("mock");
            x.trade_id += 1;
            x.last = price;
            let t = json!({ "e": "trade", "E": now_ms(), "s": SYMBOL, "t": x.trade_id,
                            "p": price.to_string(), "q": qty, "T": now_ms(), "m": true });
            self.send_market(t);
            let crossing: Vec<(String, Decimal, Decimal, bool)> = x
                .orders
                .values()
                .filter(|o| matches!(o.status.as_str(), "NEW" | "PARTIALLY_FILLED"))
                .filter_map(|o| {
                    let buy = o.side == "BUY";
                    if let Some(stop) = o.stop {
                        // A stop triggers when the market reaches it: a
                        // stop-market fills at the trade, a stop-limit at its limit.
                        let hit = if buy { price >= stop } else { price <= stop };
                        let at = if o.kind == "STOP_LOSS" {
                            price
                        } else {
                            o.price?
                        };
                        return hit.then(|| (o.client_id.clone(), at, o.qty - o.executed, false));
                    }
                    let p = o.price?;
                    let cross = if buy { price <= p } else { price >= p };
                    cross.then(|| (o.client_id.clone(), p, o.qty - o.executed, true))
                })
                .collect();
            let mut reports = Vec::new();
            for (cid, p, q, maker) in crossing {
                if !matches!(x.orders[&cid].status.as_str(), "NEW" | "PARTIALLY_FILLED") {
                    continue;
                }
                reports.push(x.execute(&cid, p, q, maker));
                // The other leg of an OCO expires.
                if let Some(sib) = x.orders[&cid].sibling.clone()
                    && let Some(o) = x.orders.get_mut(&sib)
                    && o.status == "NEW"
                {
                    o.status = "EXPIRED".into();
                    let o = o.clone();
                    reports.push(Inner::report(&o, "EXPIRED", None));
                }
            }
            reports
        };
        for r in reports {
            let _ = self.user.send(r);
        }
    }

    /// Binance's closed 1-minute kline for the minute at `open_time`, every
    /// price `price`.
    pub fn kline_closed(&self, open_time: i64, price: &str) {
        self.send_market(json!({ "e": "kline", "E": now_ms(), "s": SYMBOL, "k": {
            "t": open_time, "T": open_time + 59_999, "s": SYMBOL, "i": "1m",
            "o": price, "h": price, "l": price, "c": price, "v": "7", "n": 9, "x": true,
        } }));
    }

    /// Closes every WebSocket (the venue must reconnect and resync).
    pub fn drop_streams(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// An order placed at the venue by someone else (another app).
    pub fn external_order(&self, cid: &str, price: &str, qty: &str) {
        let mut x = self.inner.lock().expect("mock");
        x.order_id += 1;
        let o = MockOrder {
            order_id: x.order_id,
            client_id: cid.into(),
            side: "BUY".into(),
            kind: "LIMIT".into(),
            price: Some(d(price)),
            qty: d(qty),
            executed: Decimal::ZERO,
            quote: Decimal::ZERO,
            status: "NEW".into(),
            stop: None,
            sibling: None,
            locked: true,
        };
        let lock = d(price) * d(qty);
        let q = x.balance("USDT");
        q.0 -= lock;
        q.1 += lock;
        x.orders.insert(cid.into(), o);
    }

    pub fn total(&self, asset: &str) -> Decimal {
        let x = self.inner.lock().expect("mock");
        x.balances.get(asset).map_or(Decimal::ZERO, |(f, l)| f + l)
    }

    /// Trades of orders whose client id starts with `prefix`.
    pub fn trades_of(&self, prefix: &str) -> usize {
        let x = self.inner.lock().expect("mock");
        let ids: std::collections::BTreeSet<u64> = x
            .orders
            .values()
            .filter(|o| o.client_id.starts_with(prefix))
            .map(|o| o.order_id)
            .collect();
        x.trades
            .iter()
            .filter(|t| ids.contains(&t.order_id))
            .count()
    }

    pub fn orders_with_prefix(&self, prefix: &str) -> usize {
        let x = self.inner.lock().expect("mock");
        x.orders.keys().filter(|k| k.starts_with(prefix)).count()
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, [("x-mbx-used-weight-1m", "10")], body.to_string()).into_response()
}

fn refuse(code: i64, msg: &str) -> Response {
    answer(StatusCode::BAD_REQUEST, json!({ "code": code, "msg": msg }))
}

fn fields(q: &str) -> BTreeMap<String, String> {
    serde_urlencoded::from_str(q).unwrap_or_default()
}

/// The signed payload's fields, or Binance's refusal.
fn signed(headers: &HeaderMap, q: Option<String>) -> Result<BTreeMap<String, String>, Response> {
    let q = q.unwrap_or_default();
    if headers.get("x-mbx-apikey").and_then(|v| v.to_str().ok()) != Some(KEY) {
        return Err(refuse(-2014, "API-key format invalid."));
    }
    let Some((payload, sig)) = q.rsplit_once("&signature=") else {
        return Err(refuse(
            -1102,
            "Mandatory parameter 'signature' was not sent.",
        ));
    };
    if !verify(SECRET.as_bytes(), payload, sig) {
        return Err(refuse(-1022, "Signature for this request is not valid."));
    }
    Ok(fields(payload))
}

async fn time() -> Response {
    answer(StatusCode::OK, json!({ "serverTime": now_ms() }))
}

async fn info() -> Response {
    let v: Value = serde_json::from_str(tradingd::venues::binance::filters::EXAMPLE).expect("json");
    answer(StatusCode::OK, v)
}

fn side_levels(m: &BTreeMap<Decimal, Decimal>, best_high: bool) -> Vec<Value> {
    let it: Box<dyn Iterator<Item = (&Decimal, &Decimal)>> = if best_high {
        Box::new(m.iter().rev())
    } else {
        Box::new(m.iter())
    };
    it.map(|(p, q)| json!([p.to_string(), q.to_string()]))
        .collect()
}

async fn depth(State(m): State<Arc<MockX>>) -> Response {
    let x = m.inner.lock().expect("mock");
    answer(
        StatusCode::OK,
        json!({ "lastUpdateId": x.update_id, "bids": side_levels(&x.bids, true),
                "asks": side_levels(&x.asks, false) }),
    )
}

async fn ticker(State(m): State<Arc<MockX>>) -> Response {
    let x = m.inner.lock().expect("mock");
    let best = |s: &BTreeMap<Decimal, Decimal>, high: bool| {
        if high {
            s.keys().next_back()
        } else {
            s.keys().next()
        }
        .map_or("0".to_owned(), ToString::to_string)
    };
    answer(
        StatusCode::OK,
        json!({ "symbol": SYMBOL, "lastPrice": x.last.to_string(), "bidPrice": best(&x.bids, true),
                "askPrice": best(&x.asks, false), "openPrice": x.last.to_string(),
                "highPrice": x.last.to_string(), "lowPrice": x.last.to_string(),
                "volume": "10", "closeTime": now_ms() }),
    )
}

async fn klines(RawQuery(q): RawQuery) -> Response {
    let f = fields(&q.unwrap_or_default());
    let start: i64 = f.get("startTime").and_then(|s| s.parse().ok()).unwrap_or(0);
    let minute = now_ms().div_euclid(60_000) * 60_000;
    let first = start.div_euclid(60_000) * 60_000 + if start % 60_000 == 0 { 0 } else { 60_000 };
    let rows: Vec<Value> = (0..)
        .map(|i| first + i * 60_000)
        .take_while(|t| *t <= minute)
        .take(1000)
        .map(|t| {
            json!([
                t,
                "100",
                "101",
                "99",
                "100",
                "1",
                t + 59_999,
                "100",
                3,
                "0",
                "0",
                "0"
            ])
        })
        .collect();
    answer(StatusCode::OK, json!(rows))
}

async fn new_order(
    State(m): State<Arc<MockX>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let f = match signed(&headers, q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if m.ban_next.swap(false, Ordering::Relaxed) {
        return (
            StatusCode::IM_A_TEAPOT,
            [("retry-after", "30")],
            json!({ "code": -1003, "msg": "Way too many requests; IP banned until later." })
                .to_string(),
        )
            .into_response();
    }
    if m.fail_next.load(Ordering::Relaxed) > 0 {
        m.fail_next.fetch_sub(1, Ordering::Relaxed);
        return answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "code": -1000, "msg": "internal" }),
        );
    }
    let cid = f.get("newClientOrderId").cloned().unwrap_or_default();
    let side = f.get("side").cloned().unwrap_or_default();
    let kind = f.get("type").cloned().unwrap_or_default();
    let qty = d(f.get("quantity").map_or("0", String::as_str));
    let price = f.get("price").map(|p| d(p));
    let (body, reports) = {
        let mut x = m.inner.lock().expect("mock");
        if x.orders.contains_key(&cid) {
            m.duplicates.fetch_add(1, Ordering::Relaxed);
            return refuse(-2010, "Duplicate order sent.");
        }
        m.placed.fetch_add(1, Ordering::Relaxed);
        x.order_id += 1;
        let o = MockOrder {
            order_id: x.order_id,
            client_id: cid.clone(),
            side: side.clone(),
            kind: kind.clone(),
            price,
            qty,
            executed: Decimal::ZERO,
            quote: Decimal::ZERO,
            status: "NEW".into(),
            stop: None,
            sibling: None,
            locked: false,
        };
        let mut reports = vec![Inner::report(&o, "NEW", None)];
        x.orders.insert(cid.clone(), o);
        let best = if side == "BUY" {
            x.asks.keys().next().copied()
        } else {
            x.bids.keys().next_back().copied()
        };
        let crosses = match (price, best) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(p), Some(b)) => {
                if side == "BUY" {
                    p >= b
                } else {
                    p <= b
                }
            }
        };
        if !crosses && side == "BUY" {
            let lock = price.unwrap_or_default() * qty;
            let q = x.balance("USDT");
            q.0 -= lock;
            q.1 += lock;
        } else if !crosses {
            let b = x.balance("BTC");
            b.0 -= qty;
            b.1 += qty;
        }
        if let Some(o) = x.orders.get_mut(&cid) {
            o.locked = price.is_some();
        }
        let first_trade = x.trades.len();
        if crosses {
            let at = best.unwrap_or_default();
            if price.is_some() {
                // A crossing limit order locks, then fills at once.
                if side == "BUY" {
                    let lock = price.unwrap_or_default() * qty;
                    let q = x.balance("USDT");
                    q.0 -= lock;
                    q.1 += lock;
                } else {
                    let b = x.balance("BTC");
                    b.0 -= qty;
                    b.1 += qty;
                }
            }
            reports.push(x.execute(&cid, at, qty, false));
        }
        let o = &x.orders[&cid];
        let mut body = Inner::order_json(o);
        body["transactTime"] = json!(now_ms());
        body["fills"] = json!(x.trades[first_trade..].iter().map(|t| json!({
            "price": t.price.to_string(), "qty": t.qty.to_string(),
            "commission": t.commission.to_string(), "commissionAsset": t.asset, "tradeId": t.id,
        })).collect::<Vec<_>>());
        (body, reports)
    };
    for r in reports {
        let _ = m.user.send(r);
    }
    if m.hang_next.swap(false, Ordering::Relaxed) {
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    }
    if m.lose_next_answer.swap(false, Ordering::Relaxed) {
        return answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "code": -1006, "msg": "An unexpected response was received from the message bus. Execution status unknown." }),
        );
    }
    answer(StatusCode::OK, body)
}

/// `POST /api/v3/orderList/oco`: two legs, each with its client id; when
/// one executes the other expires.
async fn new_oco(
    State(m): State<Arc<MockX>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let f = match signed(&headers, q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let side = f.get("side").cloned().unwrap_or_default();
    let qty = d(f.get("quantity").map_or("0", String::as_str));
    let leg = |at: &str| {
        let get = |k: &str| f.get(&format!("{at}{k}")).cloned();
        (
            get("ClientOrderId").unwrap_or_default(),
            get("Type").unwrap_or_default(),
            get("Price").map(|p| d(&p)),
            get("StopPrice").map(|p| d(&p)),
        )
    };
    let (above, below) = (leg("above"), leg("below"));
    let (body, reports) = {
        let mut x = m.inner.lock().expect("mock");
        if x.orders.contains_key(&above.0) || x.orders.contains_key(&below.0) {
            m.duplicates.fetch_add(1, Ordering::Relaxed);
            return refuse(-2010, "Duplicate order sent.");
        }
        m.placed.fetch_add(1, Ordering::Relaxed);
        let mut reports = Vec::new();
        let mut made = Vec::new();
        for (me, other) in [(&above, &below), (&below, &above)] {
            x.order_id += 1;
            let o = MockOrder {
                order_id: x.order_id,
                client_id: me.0.clone(),
                side: side.clone(),
                kind: me.1.clone(),
                price: me.2,
                qty,
                executed: Decimal::ZERO,
                quote: Decimal::ZERO,
                status: "NEW".into(),
                stop: me.3,
                sibling: Some(other.0.clone()),
                locked: false,
            };
            reports.push(Inner::report(&o, "NEW", None));
            made.push(Inner::order_json(&o));
            x.orders.insert(me.0.clone(), o);
        }
        let body = json!({
            "orderListId": 1, "contingencyType": "OCO", "listStatusType": "EXEC_STARTED",
            "listOrderStatus": "EXECUTING", "listClientOrderId": f.get("listClientOrderId"),
            "transactionTime": now_ms(), "symbol": SYMBOL,
            "orders": made.iter().map(|o| json!({ "symbol": SYMBOL, "orderId": o["orderId"], "clientOrderId": o["clientOrderId"] })).collect::<Vec<_>>(),
            "orderReports": made,
        });
        (body, reports)
    };
    for r in reports {
        let _ = m.user.send(r);
    }
    answer(StatusCode::OK, body)
}

async fn get_order(
    State(m): State<Arc<MockX>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let f = match signed(&headers, q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let cid = f.get("origClientOrderId").cloned().unwrap_or_default();
    let x = m.inner.lock().expect("mock");
    match x.orders.get(&cid) {
        Some(o) => answer(StatusCode::OK, Inner::order_json(o)),
        None => refuse(-2013, "Order does not exist."),
    }
}

async fn cancel_order(
    State(m): State<Arc<MockX>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let f = match signed(&headers, q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let cid = f.get("origClientOrderId").cloned().unwrap_or_default();
    let (body, report) = {
        let mut x = m.inner.lock().expect("mock");
        let Some(mut o) = x.orders.get(&cid).cloned() else {
            return refuse(-2011, "Unknown order sent.");
        };
        if !matches!(o.status.as_str(), "NEW" | "PARTIALLY_FILLED") {
            return refuse(-2011, "Unknown order sent.");
        }
        let rest = o.qty - o.executed;
        if !o.locked {
        } else if o.side == "BUY" {
            let lock = o.price.unwrap_or_default() * rest;
            let q = x.balance("USDT");
            q.1 -= lock;
            q.0 += lock;
        } else {
            let b = x.balance("BTC");
            b.1 -= rest;
            b.0 += rest;
        }
        o.status = "CANCELED".into();
        x.orders.insert(cid, o.clone());
        (Inner::order_json(&o), Inner::report(&o, "CANCELED", None))
    };
    let _ = m.user.send(report);
    answer(StatusCode::OK, body)
}

async fn open_orders(
    State(m): State<Arc<MockX>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    if let Err(r) = signed(&headers, q) {
        return r;
    }
    let x = m.inner.lock().expect("mock");
    let open: Vec<Value> = x
        .orders
        .values()
        .filter(|o| matches!(o.status.as_str(), "NEW" | "PARTIALLY_FILLED"))
        .map(Inner::order_json)
        .collect();
    answer(StatusCode::OK, json!(open))
}

async fn my_trades(
    State(m): State<Arc<MockX>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let f = match signed(&headers, q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let id: u64 = f.get("orderId").and_then(|s| s.parse().ok()).unwrap_or(0);
    let x = m.inner.lock().expect("mock");
    let rows: Vec<Value> = x
        .trades
        .iter()
        .filter(|t| t.order_id == id)
        .map(|t| {
            json!({ "symbol": SYMBOL, "id": t.id, "orderId": t.order_id,
            "price": t.price.to_string(), "qty": t.qty.to_string(),
            "quoteQty": (t.price * t.qty).to_string(), "commission": t.commission.to_string(),
            "commissionAsset": t.asset, "time": t.time, "isBuyer": t.buyer,
            "isMaker": t.maker, "isBestMatch": true })
        })
        .collect();
    answer(StatusCode::OK, json!(rows))
}

async fn account(
    State(m): State<Arc<MockX>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    if let Err(r) = signed(&headers, q) {
        return r;
    }
    if m.fail_account.load(Ordering::Relaxed) {
        return answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "code": -1000, "msg": "internal" }),
        );
    }
    let x = m.inner.lock().expect("mock");
    let balances: Vec<Value> = x
        .balances
        .iter()
        .map(|(a, (f, l))| json!({ "asset": a, "free": f.to_string(), "locked": l.to_string() }))
        .collect();
    answer(StatusCode::OK, json!({ "balances": balances }))
}

async fn listen_key(State(m): State<Arc<MockX>>, headers: HeaderMap) -> Response {
    if headers.get("x-mbx-apikey").and_then(|v| v.to_str().ok()) != Some(KEY) {
        return refuse(-2014, "API-key format invalid.");
    }
    let n = m.listen_keys.fetch_add(1, Ordering::Relaxed) + 1;
    answer(
        StatusCode::OK,
        json!({ "listenKey": format!("listen-key-{n}") }),
    )
}

async fn keep_alive() -> Response {
    answer(StatusCode::OK, json!({}))
}

async fn pump(
    mut socket: WebSocket,
    mut rx: broadcast::Receiver<String>,
    mut stop: tokio::sync::watch::Receiver<u64>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            msg = rx.recv() => match msg {
                Ok(text) => if socket.send(Message::Text(text.into())).await.is_err() { return },
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            },
            incoming = socket.recv() => if incoming.is_none() { return },
        }
    }
}

async fn market_ws(State(m): State<Arc<MockX>>, ws: WebSocketUpgrade) -> Response {
    if m.refuse_ws.load(Ordering::Relaxed) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let rx = m.market.subscribe();
    let stop = m.generation.subscribe();
    ws.on_upgrade(move |s| pump(s, rx, stop))
}

async fn user_ws(
    State(m): State<Arc<MockX>>,
    Path(key): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    if !key.starts_with("listen-key-") || m.refuse_ws.load(Ordering::Relaxed) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let rx = m.user.subscribe();
    let stop = m.generation.subscribe();
    ws.on_upgrade(move |s| pump(s, rx, stop))
}

/// Starts the mock on `rt`: its state and its `http://` and `ws://` bases.
pub fn start(rt: &tokio::runtime::Runtime) -> (Arc<MockX>, String, String) {
    let mut inner = Inner {
        update_id: 100,
        last: d("50000"),
        ..Inner::default()
    };
    inner.bids.insert(d("49990"), d("2"));
    inner.bids.insert(d("49980"), d("5"));
    inner.asks.insert(d("50010"), d("2"));
    inner.asks.insert(d("50020"), d("5"));
    inner
        .balances
        .insert("USDT".into(), (d("10000"), Decimal::ZERO));
    inner
        .balances
        .insert("BTC".into(), (d("0.5"), Decimal::ZERO));
    let m = Arc::new(MockX {
        inner: Mutex::new(inner),
        market: broadcast::channel(4096).0,
        user: broadcast::channel(4096).0,
        generation: tokio::sync::watch::channel(0).0,
        lose_next_answer: AtomicBool::new(false),
        fail_next: AtomicU32::new(0),
        gap_next: AtomicBool::new(false),
        placed: AtomicU32::new(0),
        duplicates: AtomicU32::new(0),
        refuse_ws: AtomicBool::new(false),
        fail_account: AtomicBool::new(false),
        hang_next: AtomicBool::new(false),
        ban_next: AtomicBool::new(false),
        listen_keys: AtomicU64::new(0),
    });
    let app = axum::Router::new()
        .route("/api/v3/time", get(time))
        .route("/api/v3/exchangeInfo", get(info))
        .route("/api/v3/depth", get(depth))
        .route("/api/v3/ticker/24hr", get(ticker))
        .route("/api/v3/klines", get(klines))
        .route(
            "/api/v3/order",
            post(new_order).get(get_order).delete(cancel_order),
        )
        .route("/api/v3/orderList/oco", post(new_oco))
        .route("/api/v3/openOrders", get(open_orders))
        .route("/api/v3/myTrades", get(my_trades))
        .route("/api/v3/account", get(account))
        .route("/api/v3/userDataStream", post(listen_key).put(keep_alive))
        .route("/stream", get(market_ws))
        .route("/ws/{key}", get(user_ws))
        .with_state(Arc::clone(&m));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move { axum::serve(listener, app).await });
    (m, format!("http://{addr}"), format!("ws://{addr}"))
}
