//! The Binance REST client against a local mock of Binance's documented
//! REST API (no test reaches the network): signatures the mock checks with
//! the venue's rule, the server-time offset applied to `timestamp`,
//! exchangeInfo read into instruments, and the weight budget, 429 and 418.

#![allow(clippy::needless_pass_by_value)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU16, AtomicU32, Ordering};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tradingd::venues::binance::sign::verify;
use tradingd::venues::binance::{BinanceError, Credentials, Rest};

const KEY: &str = "mock-api-key";
const SECRET: &[u8] = b"mock-secret-0123456789";
/// The mock's clock runs this far ahead of ours.
const AHEAD_MS: i64 = 5_000;

#[derive(Default)]
struct Mock {
    /// What the next answer's X-MBX-USED-WEIGHT-1M says.
    used: AtomicU32,
    /// A status to answer the next ticker request with (429, 418), once.
    fail_next: AtomicU16,
    requests: AtomicU32,
    last_ts_skew: AtomicI64,
    /// Orders by client order id, as the venue keeps them.
    orders: std::sync::Mutex<std::collections::BTreeMap<String, serde_json::Value>>,
    /// Take the next order but lose its answer (a 503 after the fact).
    lose_next_answer: std::sync::atomic::AtomicBool,
    /// What an order answer's X-MBX-ORDER-COUNT-1D says (0: no header).
    orders_today: AtomicU32,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn weighted(mock: &Mock, status: StatusCode, body: serde_json::Value) -> Response {
    mock.requests.fetch_add(1, Ordering::Relaxed);
    let used = mock.used.load(Ordering::Relaxed).to_string();
    (status, [("x-mbx-used-weight-1m", used)], body.to_string()).into_response()
}

async fn time(State(m): State<Arc<Mock>>) -> Response {
    weighted(
        &m,
        StatusCode::OK,
        json!({ "serverTime": now_ms() + AHEAD_MS }),
    )
}

async fn info(State(m): State<Arc<Mock>>) -> Response {
    let info: serde_json::Value =
        serde_json::from_str(tradingd::venues::binance::filters::EXAMPLE).expect("json");
    weighted(&m, StatusCode::OK, info)
}

async fn ticker(State(m): State<Arc<Mock>>) -> Response {
    match m.fail_next.swap(0, Ordering::Relaxed) {
        0 => weighted(
            &m,
            StatusCode::OK,
            json!({ "symbol": "BTCUSDT", "price": "65000.01" }),
        ),
        s => {
            m.requests.fetch_add(1, Ordering::Relaxed);
            let status = StatusCode::from_u16(s).expect("status");
            (
                status,
                [("retry-after", "2")],
                json!({ "code": -1003, "msg": "Too many requests" }).to_string(),
            )
                .into_response()
        }
    }
}

/// A signed endpoint: the key, the signature over the query as sent, and
/// the timestamp within recvWindow of the mock's clock, as Binance checks.
async fn account(
    State(m): State<Arc<Mock>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let f = match signed_fields(&m, &headers, &q.unwrap_or_default()) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let refuse = |code: i64, msg: &str| {
        weighted(
            &m,
            StatusCode::BAD_REQUEST,
            json!({ "code": code, "msg": msg }),
        )
    };
    let field = |name: &str| f.get(name).and_then(|v| v.parse::<i64>().ok());
    let (Some(ts), Some(window)) = (field("timestamp"), field("recvWindow")) else {
        return refuse(-1102, "timestamp and recvWindow are mandatory");
    };
    let skew = now_ms() + AHEAD_MS - ts;
    m.last_ts_skew.store(skew, Ordering::Relaxed);
    if skew.abs() > window {
        return refuse(
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        );
    }
    weighted(
        &m,
        StatusCode::OK,
        json!({ "balances": [{ "asset": "USDT", "free": "1000.00000000", "locked": "0.00000000" }] }),
    )
}

/// Klines as Binance sends them, from `startTime` on, `limit` of them, one
/// minute apart; the query is echoed in the close price's decimals.
async fn klines(State(m): State<Arc<Mock>>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    let field = |name: &str| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse::<i64>().ok())
    };
    let start = field("startTime").unwrap_or(0);
    let limit = field("limit").unwrap_or(500);
    let rows: Vec<serde_json::Value> = (0..limit)
        .map(|i| {
            let t = start + i * 60_000;
            json!([
                t,
                "100.10000000",
                "101.00000000",
                "99.50000000",
                format!("100.{i:02}"),
                "12.5",
                t + 59_999,
                "1250.0",
                42,
                "6",
                "600",
                "0"
            ])
        })
        .collect();
    weighted(&m, StatusCode::OK, json!(rows))
}

async fn depth(State(m): State<Arc<Mock>>) -> Response {
    weighted(
        &m,
        StatusCode::OK,
        json!({ "lastUpdateId": 160, "bids": [["0.0024", "10"]], "asks": [["0.0026", "100"]] }),
    )
}

/// The signed payload's fields, or the refusal Binance would answer.
fn signed_fields(
    m: &Mock,
    headers: &HeaderMap,
    q: &str,
) -> Result<std::collections::BTreeMap<String, String>, Response> {
    let refuse = |code: i64, msg: &str| {
        weighted(
            m,
            StatusCode::BAD_REQUEST,
            json!({ "code": code, "msg": msg }),
        )
    };
    if headers.get("x-mbx-apikey").and_then(|v| v.to_str().ok()) != Some(KEY) {
        return Err(refuse(-2014, "API-key format invalid."));
    }
    let Some((payload, sig)) = q.rsplit_once("&signature=") else {
        return Err(refuse(
            -1102,
            "Mandatory parameter 'signature' was not sent.",
        ));
    };
    if !verify(SECRET, payload, sig) {
        return Err(refuse(-1022, "Signature for this request is not valid."));
    }
    Ok(serde_urlencoded::from_str(payload).unwrap_or_default())
}

/// `POST /api/v3/order`: kept by its client id; a client id used before is
/// refused, as Binance does for open orders.
async fn new_order(
    State(m): State<Arc<Mock>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let f = match signed_fields(&m, &headers, &q.unwrap_or_default()) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let cid = f.get("newClientOrderId").cloned().unwrap_or_default();
    let order = json!({ "symbol": f.get("symbol"), "clientOrderId": cid, "orderId": 1,
                        "status": "NEW", "type": f.get("type"), "side": f.get("side"),
                        "origQty": f.get("quantity"), "price": f.get("price") });
    {
        let mut orders = m.orders.lock().expect("orders");
        if orders.contains_key(&cid) {
            return weighted(
                &m,
                StatusCode::BAD_REQUEST,
                json!({ "code": -2010, "msg": "Duplicate order sent." }),
            );
        }
        orders.insert(cid, order.clone());
    }
    if m.lose_next_answer.swap(false, Ordering::Relaxed) {
        // Carried out, but the answer is lost on the way.
        return weighted(
            &m,
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "code": -1006, "msg": "An unexpected response was received from the message bus. Execution status unknown." }),
        );
    }
    let today = m.orders_today.load(Ordering::Relaxed);
    if today > 0 {
        let mut r = weighted(&m, StatusCode::OK, order);
        r.headers_mut().insert(
            "x-mbx-order-count-1d",
            today.to_string().parse().expect("header"),
        );
        return r;
    }
    weighted(&m, StatusCode::OK, order)
}

/// `GET /api/v3/order` by `origClientOrderId`; −2013 when there is none.
async fn get_order(
    State(m): State<Arc<Mock>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let f = match signed_fields(&m, &headers, &q.unwrap_or_default()) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let cid = f.get("origClientOrderId").cloned().unwrap_or_default();
    let found = m.orders.lock().expect("orders").get(&cid).cloned();
    match found {
        Some(o) => weighted(&m, StatusCode::OK, o),
        None => weighted(
            &m,
            StatusCode::BAD_REQUEST,
            json!({ "code": -2013, "msg": "Order does not exist." }),
        ),
    }
}

fn mock() -> (tokio::runtime::Runtime, Arc<Mock>, String) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let state = Arc::new(Mock::default());
    let app = axum::Router::new()
        .route("/api/v3/time", get(time))
        .route("/api/v3/exchangeInfo", get(info))
        .route("/api/v3/ticker/price", get(ticker))
        .route("/api/v3/account", get(account))
        .route("/api/v3/klines", get(klines))
        .route("/api/v3/depth", get(depth))
        .route(
            "/api/v3/order",
            axum::routing::post(new_order).get(get_order),
        )
        .with_state(Arc::clone(&state));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    rt.spawn(async move { axum::serve(listener, app).await });
    (rt, state, url)
}

fn client(url: &str, secret: &[u8]) -> Rest {
    Rest::new(
        url,
        Some(Credentials {
            key: KEY.into(),
            secret: secret.to_vec(),
        }),
        5_000,
        std::time::Duration::from_secs(5),
    )
    .expect("client")
}

#[test]
fn signed_requests_carry_a_valid_signature_on_the_venues_clock() {
    let (rt, m, url) = mock();
    let rest = client(&url, SECRET);
    // Before the clock is synced, our timestamp is 5 s behind the venue's:
    // outside a recvWindow of 5 s less the round trip, refused (-1021).
    let early = rt.block_on(rest.signed(reqwest::Method::GET, "/api/v3/account", &[], 20));
    assert!(
        matches!(&early, Err(BinanceError::Api { code: -1021, .. })) || early.is_ok(),
        "{early:?}"
    );
    let offset = rt.block_on(rest.sync_time()).expect("time");
    assert!((offset - AHEAD_MS).abs() < 500, "offset {offset}");
    let acct = rt
        .block_on(rest.signed(
            reqwest::Method::GET,
            "/api/v3/account",
            &[("omitZeroBalances", "true".into())],
            20,
        ))
        .expect("signed");
    assert_eq!(acct["balances"][0]["asset"], "USDT");
    assert!(m.last_ts_skew.load(Ordering::Relaxed).abs() < 500);
    // A wrong secret is refused by the venue, and says which rule.
    let wrong = client(&url, b"not the secret");
    let err = rt
        .block_on(wrong.signed(reqwest::Method::GET, "/api/v3/account", &[], 20))
        .expect_err("bad signature");
    assert!(
        matches!(
            &err,
            BinanceError::Api {
                code: -1022,
                status: 400,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.outcome_unknown(), "a refusal is a known outcome");
    let creds = format!(
        "{:?}",
        Credentials {
            key: KEY.into(),
            secret: SECRET.to_vec()
        }
    );
    assert!(!creds.contains("mock-secret"), "{creds}");
}

#[test]
fn exchange_info_sets_the_instruments_and_the_weight_limit() {
    let (rt, _m, url) = mock();
    let rest = client(&url, SECRET);
    let info = rt
        .block_on(rest.exchange_info(&["BTCUSDT".into()]))
        .expect("info");
    let inst = info.instruments(&["BTCUSDT".into()]).expect("btc");
    assert_eq!(inst[0].tick_size.to_string(), "0.01");
    assert_eq!(inst[0].lot_size.to_string(), "0.00001");
}

#[test]
fn the_weight_budget_429_and_418_stop_requests_before_they_are_sent() {
    let (rt, m, url) = mock();
    let rest = client(&url, SECRET);
    let price = |rest: &Rest| {
        rt.block_on(rest.public("/api/v3/ticker/price", &[("symbol", "BTCUSDT".into())], 2))
    };
    // The venue says 5,390 of 6,000 used: a request of 20 would pass 90 %.
    m.used.store(5_390, Ordering::Relaxed);
    price(&rest).expect("counted from the header");
    assert_eq!(rest.used_weight(), 5_390);
    let sent = m.requests.load(Ordering::Relaxed);
    let refused = rt.block_on(rest.public("/api/v3/exchangeInfo", &[], 20));
    assert!(
        matches!(
            refused,
            Err(BinanceError::Budget {
                used: 5_390,
                limit: 6_000
            })
        ),
        "{refused:?}"
    );
    assert_eq!(m.requests.load(Ordering::Relaxed), sent, "not sent");
    // 429: nothing is sent until Retry-After has passed.
    let rest = client(&url, SECRET);
    m.used.store(10, Ordering::Relaxed);
    m.fail_next.store(429, Ordering::Relaxed);
    assert!(matches!(price(&rest), Err(BinanceError::Throttled { .. })));
    let sent = m.requests.load(Ordering::Relaxed);
    assert!(matches!(
        price(&rest),
        Err(BinanceError::Throttled {
            retry_after_s: 1..=2
        })
    ));
    assert_eq!(
        m.requests.load(Ordering::Relaxed),
        sent,
        "held back while throttled"
    );
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    price(&rest).expect("allowed again after Retry-After");
    // 418: banned; every request refused with that reason.
    m.fail_next.store(418, Ordering::Relaxed);
    let banned = price(&rest);
    assert!(
        matches!(banned, Err(BinanceError::Banned { .. })),
        "{banned:?}"
    );
    let again = rt.block_on(rest.signed(reqwest::Method::GET, "/api/v3/account", &[], 20));
    assert!(
        matches!(again, Err(BinanceError::Banned { .. })),
        "{again:?}"
    );
}

#[test]
fn a_dropped_connection_is_an_unknown_outcome() {
    let rt = tokio::runtime::Runtime::new().expect("rt");
    // A port with nothing listening: connection refused before sending.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let rest = client(&format!("http://127.0.0.1:{port}"), SECRET);
    let err = rt
        .block_on(rest.public("/api/v3/time", &[], 1))
        .expect_err("nobody there");
    assert!(matches!(err, BinanceError::Transport(_)), "{err:?}");
    assert!(err.outcome_unknown());
}

#[test]
fn market_data_reads_into_bars_and_books() {
    let (rt, _m, url) = mock();
    let rest = client(&url, SECRET);
    let bars = rt
        .block_on(rest.klines("BTCUSDT", "1m", Some(1_700_000_000_000), 3))
        .expect("klines");
    assert_eq!(bars.len(), 3);
    assert_eq!(bars[2].open_time.millis(), 1_700_000_120_000);
    assert_eq!(bars[2].close.to_string(), "100.02");
    assert_eq!(bars[0].trades, 42);
    let (book, id) = rt.block_on(rest.depth("BTCUSDT", 100)).expect("depth");
    assert_eq!(id, 160);
    assert_eq!(
        book.best_bid().map(|l| l.price.to_string()),
        Some("0.0024".into())
    );
}

#[test]
fn an_order_whose_answer_is_lost_is_found_by_its_client_id_never_sent_twice() {
    use tradedesk_core::order::{Side, Terms, TimeInForce};
    use tradedesk_core::venue::VenueOrder;
    use tradingd::venues::binance::orders::{Mapped, new_order};

    let (rt, m, url) = mock();
    let rest = client(&url, SECRET);
    rt.block_on(rest.sync_time()).expect("time");
    let order = VenueOrder {
        id: 1,
        client_order_id: "td-18c-1".into(),
        symbol: 0,
        side: Side::Buy,
        qty: "0.01".parse().expect("qty"),
        terms: Terms::Limit {
            price: "65000".parse().expect("price"),
        },
        time_in_force: TimeInForce::Gtc,
        budget: None,
        lot: "0.00001".parse().expect("lot"),
        live: false,
    };
    let Mapped::Native(params) = new_order("BTCUSDT", &order).expect("maps") else {
        panic!("a limit order is native");
    };
    m.lose_next_answer.store(true, Ordering::Relaxed);
    let lost = rt
        .block_on(rest.place(&params))
        .expect_err("the answer is lost");
    assert!(lost.outcome_unknown(), "{lost:?}");
    // Settled by asking, never by sending again: exactly one order.
    let found = rt
        .block_on(rest.order_by_client_id("BTCUSDT", "td-18c-1"))
        .expect("query")
        .expect("the venue has it");
    assert_eq!(
        (found["status"].as_str(), found["price"].as_str()),
        (Some("NEW"), Some("65000"))
    );
    assert_eq!(m.orders.lock().expect("orders").len(), 1);
    // Sending it again would be refused as a duplicate: the id is the guard.
    let again = rt.block_on(rest.place(&params)).expect_err("duplicate");
    assert!(
        matches!(again, BinanceError::Api { code: -2010, .. }),
        "{again:?}"
    );
    assert!(!again.outcome_unknown());
    assert_eq!(
        rt.block_on(rest.order_by_client_id("BTCUSDT", "td-none"))
            .expect("query"),
        None,
        "no such order is a known outcome"
    );
}

#[test]
fn orders_stop_before_the_venues_order_rate_limit() {
    use tradedesk_core::order::{Side, Terms, TimeInForce};
    use tradedesk_core::venue::VenueOrder;
    use tradingd::venues::binance::orders::{Mapped, new_order};

    let (rt, m, url) = mock();
    let rest = client(&url, SECRET);
    rt.block_on(rest.sync_time()).expect("time");
    let order = |n: u32| {
        let o = VenueOrder {
            id: u64::from(n),
            client_order_id: format!("td-rate-{n}"),
            symbol: 0,
            side: Side::Buy,
            qty: "0.01".parse().expect("qty"),
            terms: Terms::Limit {
                price: "65000".parse().expect("price"),
            },
            time_in_force: TimeInForce::Gtc,
            budget: None,
            lot: "0.00001".parse().expect("lot"),
            live: true,
        };
        let Ok(Mapped::Native(p)) = new_order("BTCUSDT", &o) else {
            panic!("a limit order is native");
        };
        p
    };
    // The venue says 180,000 orders today: 90 % of its 200,000.
    m.orders_today.store(180_000, Ordering::Relaxed);
    rt.block_on(rest.place(&order(1))).expect("placed");
    assert_eq!(rest.order_counts().1, 180_000);
    let before = m.requests.load(Ordering::Relaxed);
    let refused = rt
        .block_on(rest.place(&order(2)))
        .expect_err("over the budget");
    assert!(
        matches!(refused, BinanceError::OrderBudget { window: "day", .. }),
        "{refused:?}"
    );
    assert!(!refused.outcome_unknown(), "never sent, so known");
    assert_eq!(
        m.requests.load(Ordering::Relaxed),
        before,
        "nothing was sent"
    );
}
