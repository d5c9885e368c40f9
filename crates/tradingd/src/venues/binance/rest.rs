//! Binance's REST API: public and signed requests within the venue's
//! weight budget.
//!
//! Every answer's `X-MBX-USED-WEIGHT-1M` is what the venue counts; a
//! request that would take the minute past 90 % of the limit is not sent
//! (`Budget`). A 429 stops every request until its `Retry-After`; a 418
//! (an address ban for ignoring 429s) stops them until its end, and says
//! so in a way the venue's users halt trading on. No lock is held across a
//! request: the budget is a short critical section before and after.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::filters::ExchangeInfo;
use super::sign::sign;

/// An API key and its secret; shown as `***` in debug output.
#[derive(Clone)]
pub struct Credentials {
    pub key: String,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(***)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinanceError {
    #[error("binance: rate limited (HTTP 429); no request for {retry_after_s} s")]
    Throttled { retry_after_s: u64 },
    #[error(
        "binance: this address is banned for {retry_after_s} s (HTTP 418, after ignoring 429s); trading on the venue stops"
    )]
    Banned { retry_after_s: u64 },
    #[error(
        "binance: the request weight budget is spent ({used} of {limit} this minute); not sent"
    )]
    Budget { used: u32, limit: u32 },
    #[error("binance {code} (HTTP {status}): {msg}")]
    Api { status: u16, code: i64, msg: String },
    #[error(
        "binance: the order-rate budget is spent ({used} of {limit} orders per {window}); not sent"
    )]
    OrderBudget {
        used: u32,
        limit: u32,
        window: &'static str,
    },
    #[error("binance: {0}")]
    Transport(String),
    #[error("binance: no API key is configured for signed requests")]
    NoKey,
    #[error("binance: unexpected answer: {0}")]
    Protocol(String),
}

impl BinanceError {
    /// Whether a request that failed so may still have been carried out
    /// (an order must then be looked up by its client id, never resent):
    /// a timeout or dropped connection after sending, a 5xx, or the
    /// venue's own "unknown" codes −1006 and −1007.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            BinanceError::Transport(_) => true,
            BinanceError::Api { status, code, .. } => {
                *status >= 500 || matches!(code, -1006 | -1007)
            }
            _ => false,
        }
    }
}

/// The share of the venue's weight limit we use, in percent.
const BUDGET_PCT: u64 = 90;

#[derive(Debug, Default)]
struct Budget {
    limit_1m: u32,
    used_1m: u32,
    /// The minute (`unix ms / 60000`) `used_1m` counts.
    minute: i64,
    blocked_until: Option<Instant>,
    banned_until: Option<Instant>,
    /// Orders placed in the current 10-second window and day, as the
    /// venue last said (`X-MBX-ORDER-COUNT-10S`, `-1D`), and the limits.
    orders_10s: u32,
    window_10s: i64,
    orders_1d: u32,
    day: i64,
    limit_10s: u32,
    limit_1d: u32,
}

pub struct Rest {
    http: reqwest::Client,
    base: String,
    creds: Option<Credentials>,
    recv_window_ms: u64,
    /// The venue's clock minus ours, in ms (from `sync_time`).
    offset_ms: AtomicI64,
    budget: Mutex<Budget>,
}

/// An answer that must be an array.
fn array(v: Value, what: &str) -> Result<Vec<Value>, BinanceError> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(BinanceError::Protocol(format!(
            "{what} is not an array: {other}"
        ))),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn transport(e: &reqwest::Error) -> BinanceError {
    let mut m = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        m.push_str(": ");
        m.push_str(&c.to_string());
        cause = c.source();
    }
    BinanceError::Transport(m)
}

impl Rest {
    /// A client of `base` (`https://api.binance.com`,
    /// `https://testnet.binance.vision`, or a local mock), with 6,000
    /// weight a minute until `exchange_info` says otherwise.
    pub fn new(
        base: &str,
        creds: Option<Credentials>,
        recv_window_ms: u64,
        timeout: Duration,
    ) -> Result<Rest, BinanceError> {
        tradedesk_core::client::remote::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("tradedesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| transport(&e))?;
        Ok(Rest {
            http,
            base: base.trim_end_matches('/').to_owned(),
            creds,
            recv_window_ms,
            offset_ms: AtomicI64::new(0),
            budget: Mutex::new(Budget {
                limit_1m: 6000,
                limit_10s: 100,
                limit_1d: 200_000,
                ..Budget::default()
            }),
        })
    }

    fn budget(&self) -> std::sync::MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The venue's clock minus ours, in ms.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// How long the venue's ban (418) still lasts, if it does.
    pub fn banned_for(&self) -> Option<Duration> {
        let now = Instant::now();
        self.budget()
            .banned_until
            .filter(|u| *u > now)
            .map(|u| u.duration_since(now))
    }

    /// The weight used this minute, as the venue last said.
    pub fn used_weight(&self) -> u32 {
        self.budget().used_1m
    }

    /// Refuses a request the venue would refuse or that would spend the
    /// budget: while throttled or banned, or past 90 % of the minute's.
    fn admit(&self, weight: u32) -> Result<(), BinanceError> {
        let now = Instant::now();
        let mut b = self.budget();
        if let Some(until) = b.banned_until.filter(|u| *u > now) {
            return Err(BinanceError::Banned {
                retry_after_s: until.duration_since(now).as_secs().max(1),
            });
        }
        if let Some(until) = b.blocked_until.filter(|u| *u > now) {
            return Err(BinanceError::Throttled {
                retry_after_s: until.duration_since(now).as_secs().max(1),
            });
        }
        let minute = now_ms().div_euclid(60_000);
        if b.minute != minute {
            b.minute = minute;
            b.used_1m = 0;
        }
        let cap = u64::from(b.limit_1m).saturating_mul(BUDGET_PCT) / 100;
        if u64::from(b.used_1m).saturating_add(u64::from(weight)) > cap {
            return Err(BinanceError::Budget {
                used: b.used_1m,
                limit: b.limit_1m,
            });
        }
        // Counted now; the answer's header corrects it.
        b.used_1m = b.used_1m.saturating_add(weight);
        Ok(())
    }

    /// Refuses an order that would take the order counts past 90 % of the
    /// venue's limits (per 10 seconds and per day); counts it otherwise.
    fn admit_order(&self) -> Result<(), BinanceError> {
        let now = now_ms();
        let mut b = self.budget();
        let (window, day) = (now.div_euclid(10_000), now.div_euclid(86_400_000));
        if b.window_10s != window {
            b.window_10s = window;
            b.orders_10s = 0;
        }
        if b.day != day {
            b.day = day;
            b.orders_1d = 0;
        }
        let cap = |limit: u32| u64::from(limit).saturating_mul(BUDGET_PCT) / 100;
        if u64::from(b.orders_10s).saturating_add(1) > cap(b.limit_10s) {
            return Err(BinanceError::OrderBudget {
                used: b.orders_10s,
                limit: b.limit_10s,
                window: "10 s",
            });
        }
        if u64::from(b.orders_1d).saturating_add(1) > cap(b.limit_1d) {
            return Err(BinanceError::OrderBudget {
                used: b.orders_1d,
                limit: b.limit_1d,
                window: "day",
            });
        }
        b.orders_10s = b.orders_10s.saturating_add(1);
        b.orders_1d = b.orders_1d.saturating_add(1);
        Ok(())
    }

    /// Orders counted in the current 10-second window and day.
    pub fn order_counts(&self) -> (u32, u32) {
        let b = self.budget();
        (b.orders_10s, b.orders_1d)
    }

    /// What an answer's status and headers say about the budget.
    fn record(&self, status: u16, headers: &reqwest::header::HeaderMap) {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let mut b = self.budget();
        if let Some(used) = header("x-mbx-used-weight-1m") {
            b.used_1m = u32::try_from(used).unwrap_or(u32::MAX);
            b.minute = now_ms().div_euclid(60_000);
        }
        if let Some(n) = header("x-mbx-order-count-10s") {
            b.orders_10s = u32::try_from(n).unwrap_or(u32::MAX);
            b.window_10s = now_ms().div_euclid(10_000);
        }
        if let Some(n) = header("x-mbx-order-count-1d") {
            b.orders_1d = u32::try_from(n).unwrap_or(u32::MAX);
            b.day = now_ms().div_euclid(86_400_000);
        }
        let retry = Duration::from_secs(header("retry-after").unwrap_or(60));
        match status {
            429 => b.blocked_until = Instant::now().checked_add(retry),
            418 => b.banned_until = Instant::now().checked_add(retry),
            _ => {}
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &str,
        weight: u32,
        signed: bool,
    ) -> Result<Value, BinanceError> {
        self.admit(weight)?;
        let url = if query.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{query}", self.base)
        };
        let mut req = self.http.request(method, url);
        if signed {
            let creds = self.creds.as_ref().ok_or(BinanceError::NoKey)?;
            req = req.header("X-MBX-APIKEY", &creds.key);
        }
        let resp = req.send().await.map_err(|e| transport(&e))?;
        let status = resp.status().as_u16();
        self.record(status, resp.headers());
        let text = resp.text().await.map_err(|e| transport(&e))?;
        match status {
            200..=299 => {
                serde_json::from_str(&text).map_err(|e| BinanceError::Protocol(e.to_string()))
            }
            429 | 418 => {
                let retry_after_s = self.budget_wait(status);
                Err(if status == 418 {
                    BinanceError::Banned { retry_after_s }
                } else {
                    BinanceError::Throttled { retry_after_s }
                })
            }
            _ => {
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                Err(BinanceError::Api {
                    status,
                    code: v["code"].as_i64().unwrap_or(0),
                    msg: v["msg"]
                        .as_str()
                        .map_or_else(|| format!("HTTP {status}"), str::to_owned),
                })
            }
        }
    }

    fn budget_wait(&self, status: u16) -> u64 {
        let b = self.budget();
        let until = if status == 418 {
            b.banned_until
        } else {
            b.blocked_until
        };
        until.map_or(0, |u| u.saturating_duration_since(Instant::now()).as_secs())
    }

    /// A public request (market data).
    pub async fn public(
        &self,
        path: &str,
        params: &[(&str, String)],
        weight: u32,
    ) -> Result<Value, BinanceError> {
        let query = serde_urlencoded::to_string(params)
            .map_err(|e| BinanceError::Protocol(e.to_string()))?;
        self.send(reqwest::Method::GET, path, &query, weight, false)
            .await
    }

    /// A signed request: the params, `recvWindow` and `timestamp` (on the
    /// venue's clock), and their signature, in the query.
    pub async fn signed(
        &self,
        method: reqwest::Method,
        path: &str,
        params: &[(&str, String)],
        weight: u32,
    ) -> Result<Value, BinanceError> {
        let creds = self.creds.as_ref().ok_or(BinanceError::NoKey)?;
        let mut all: Vec<(&str, String)> = params.to_vec();
        all.push(("recvWindow", self.recv_window_ms.to_string()));
        all.push((
            "timestamp",
            now_ms().saturating_add(self.offset_ms()).to_string(),
        ));
        let payload =
            serde_urlencoded::to_string(&all).map_err(|e| BinanceError::Protocol(e.to_string()))?;
        let signature = sign(&creds.secret, &payload);
        let query = format!("{payload}&signature={signature}");
        self.send(method, path, &query, weight, true).await
    }

    /// Measures the venue's clock against ours (`GET /api/v3/time`, the
    /// round trip's midpoint) and keeps the offset for signed requests.
    pub async fn sync_time(&self) -> Result<i64, BinanceError> {
        let before = now_ms();
        let v = self.public("/api/v3/time", &[], 1).await?;
        let after = now_ms();
        let server = v["serverTime"]
            .as_i64()
            .ok_or_else(|| BinanceError::Protocol("time without serverTime".into()))?;
        let offset = server.saturating_sub(before.saturating_add(after) / 2);
        self.offset_ms.store(offset, Ordering::Relaxed);
        Ok(offset)
    }

    /// Up to `limit` (1–1,000) bars of `interval` (`1m`, `5m`, … as Binance
    /// names them) from `start` (ms) on, oldest first.
    pub async fn klines(
        &self,
        symbol: &str,
        interval: &str,
        start: Option<i64>,
        limit: u16,
    ) -> Result<Vec<tradedesk_core::market::Bar>, BinanceError> {
        let mut params = vec![
            ("symbol", symbol.to_owned()),
            ("interval", interval.to_owned()),
            ("limit", limit.clamp(1, 1000).to_string()),
        ];
        if let Some(s) = start {
            params.push(("startTime", s.to_string()));
        }
        let v = self.public("/api/v3/klines", &params, 2).await?;
        super::market::klines(&v)
    }

    /// The order book's top `limit` levels a side and its `lastUpdateId`;
    /// the weight grows with the depth, as Binance counts it.
    pub async fn depth(
        &self,
        symbol: &str,
        limit: u16,
    ) -> Result<(tradedesk_core::market::OrderBook, u64), BinanceError> {
        let limit = limit.clamp(1, 5000);
        let weight = match limit {
            1..=100 => 5,
            101..=500 => 25,
            501..=1000 => 50,
            _ => 250,
        };
        let v = self
            .public(
                "/api/v3/depth",
                &[("symbol", symbol.to_owned()), ("limit", limit.to_string())],
                weight,
            )
            .await?;
        super::market::depth(&v)
    }

    /// The 24-hour ticker of one symbol, with the best bid and ask.
    pub async fn ticker(
        &self,
        symbol: &str,
    ) -> Result<tradedesk_core::market::Ticker, BinanceError> {
        let v = self
            .public("/api/v3/ticker/24hr", &[("symbol", symbol.to_owned())], 2)
            .await?;
        super::market::ticker(&v)
    }

    /// Places an order (`POST /api/v3/order`, the params of
    /// `orders::new_order`). An error with [`BinanceError::outcome_unknown`]
    /// means the order may exist: look it up by its client id, never send
    /// it again.
    pub async fn place(&self, params: &[(&'static str, String)]) -> Result<Value, BinanceError> {
        self.admit_order()?;
        self.signed(reqwest::Method::POST, "/api/v3/order", params, 1)
            .await
    }

    /// Places an OCO pair (`POST /api/v3/orderList/oco`, the params of
    /// `orders::oco`); an unknown outcome is settled by asking for each leg.
    pub async fn place_oco(
        &self,
        params: &[(&'static str, String)],
    ) -> Result<Value, BinanceError> {
        // An order list counts as its two orders.
        self.admit_order()?;
        self.admit_order()?;
        self.signed(reqwest::Method::POST, "/api/v3/orderList/oco", params, 1)
            .await
    }

    /// An order by our client order id (`GET /api/v3/order`), or `None`
    /// when the venue has none (−2013): how an unknown outcome is settled.
    pub async fn order_by_client_id(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<Value>, BinanceError> {
        self.by_client_id(reqwest::Method::GET, symbol, client_order_id, 4, -2013)
            .await
    }

    /// Cancels an order by our client id (`DELETE /api/v3/order`); `None`
    /// when the venue has no open order by that id (−2011: filled,
    /// cancelled, or never received — a query says which).
    pub async fn cancel(
        &self,
        symbol: &str,
        client_order_id: &str,
    ) -> Result<Option<Value>, BinanceError> {
        self.by_client_id(reqwest::Method::DELETE, symbol, client_order_id, 1, -2011)
            .await
    }

    /// A signed `/api/v3/order` request naming the order by our client id;
    /// `None` when the venue answers `none_code` (it has no such order).
    async fn by_client_id(
        &self,
        method: reqwest::Method,
        symbol: &str,
        client_order_id: &str,
        weight: u32,
        none_code: i64,
    ) -> Result<Option<Value>, BinanceError> {
        let params = [
            ("symbol", symbol.to_owned()),
            ("origClientOrderId", client_order_id.to_owned()),
        ];
        match self.signed(method, "/api/v3/order", &params, weight).await {
            Ok(v) => Ok(Some(v)),
            Err(BinanceError::Api { code, .. }) if code == none_code => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Our trades of one venue order (`GET /api/v3/myTrades` by
    /// `orderId`).
    pub async fn order_trades(
        &self,
        symbol: &str,
        order_id: u64,
    ) -> Result<Vec<Value>, BinanceError> {
        let params = [
            ("symbol", symbol.to_owned()),
            ("orderId", order_id.to_string()),
        ];
        let v = self
            .signed(reqwest::Method::GET, "/api/v3/myTrades", &params, 5)
            .await?;
        array(v, "myTrades")
    }

    /// Open orders of one symbol (`GET /api/v3/openOrders`).
    pub async fn open_orders(&self, symbol: &str) -> Result<Vec<Value>, BinanceError> {
        let v = self
            .signed(
                reqwest::Method::GET,
                "/api/v3/openOrders",
                &[("symbol", symbol.to_owned())],
                6,
            )
            .await?;
        array(v, "openOrders")
    }

    /// Every asset's balance, free plus locked (`GET /api/v3/account`).
    pub async fn balances(
        &self,
    ) -> Result<std::collections::BTreeMap<String, tradedesk_core::money::Qty>, BinanceError> {
        let v = self
            .signed(
                reqwest::Method::GET,
                "/api/v3/account",
                &[("omitZeroBalances", "true".to_owned())],
                20,
            )
            .await?;
        let mut out = std::collections::BTreeMap::new();
        for b in array(v["balances"].clone(), "account balances")? {
            let asset = b["asset"]
                .as_str()
                .ok_or_else(|| BinanceError::Protocol("a balance without an asset".into()))?;
            let amount = |f: &str| -> Result<tradedesk_core::money::Qty, BinanceError> {
                b[f].as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
                    BinanceError::Protocol(format!("balance {asset}: `{f}` is not a decimal"))
                })
            };
            let total = amount("free")?
                .checked_add(amount("locked")?)
                .ok_or_else(|| BinanceError::Protocol(format!("balance {asset} overflows")))?;
            out.insert(asset.to_owned(), total);
        }
        Ok(out)
    }

    /// A listen key for the user data stream (`POST
    /// /api/v3/userDataStream`, keyed, not signed).
    pub async fn new_listen_key(&self) -> Result<String, BinanceError> {
        let v = self
            .send(reqwest::Method::POST, "/api/v3/userDataStream", "", 2, true)
            .await?;
        v["listenKey"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| BinanceError::Protocol("userDataStream without listenKey".into()))
    }

    /// Keeps a listen key alive for another 60 minutes.
    pub async fn keep_alive(&self, listen_key: &str) -> Result<(), BinanceError> {
        let query = serde_urlencoded::to_string([("listenKey", listen_key)])
            .map_err(|e| BinanceError::Protocol(e.to_string()))?;
        self.send(
            reqwest::Method::PUT,
            "/api/v3/userDataStream",
            &query,
            2,
            true,
        )
        .await
        .map(|_| ())
    }

    /// `GET /api/v3/exchangeInfo` for `symbols` (all when empty); keeps the
    /// weight limit it states.
    pub async fn exchange_info(&self, symbols: &[String]) -> Result<ExchangeInfo, BinanceError> {
        let params = if symbols.is_empty() {
            Vec::new()
        } else {
            let list = serde_json::to_string(symbols)
                .map_err(|e| BinanceError::Protocol(e.to_string()))?;
            vec![("symbols", list)]
        };
        let v = self.public("/api/v3/exchangeInfo", &params, 20).await?;
        let info: ExchangeInfo = serde_json::from_value(v)
            .map_err(|e| BinanceError::Protocol(format!("exchangeInfo: {e}")))?;
        let mut b = self.budget();
        if let Some(limit) = info.weight_per_minute() {
            b.limit_1m = limit;
        }
        if let (Some(per_10s), per_day) = info.orders_per() {
            b.limit_10s = per_10s;
            b.limit_1d = per_day.unwrap_or(b.limit_1d);
        }
        drop(b);
        Ok(info)
    }
}
