//! Binance's WebSocket streams, each a task on the runtime that writes
//! what it reads into the [`Feed`] (a leaf lock, held for a copy, never
//! across an await): the market stream (trades and depth diffs of every
//! symbol, one combined connection; the local books kept by
//! [`super::book`]'s sequence rules, a gap resynced from a REST snapshot)
//! and, for a live account, the user data stream (execution reports, on a
//! listen key kept alive every 30 minutes).
//!
//! Both reconnect with exponential backoff and jitter (0.5 s doubling to
//! 30 s), treat 60 s without a frame as a dead link, answer pings, and
//! reconnect on their own before Binance's 24-hour cut (`rotate_after`).
//! A reconnect drops the books (the diffs' continuity is lost) and, for the
//! user stream, asks for a reconciliation: reports may have been missed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tradedesk_core::market::{BookLevel, TradeTick};
use tradedesk_core::money::Price;
use tradedesk_core::order::Side;
use tradedesk_core::time::Timestamp;

use super::book::{Applied, Diff, LocalBook};
use super::rest::Rest;

/// A link with no frame for this long is dead (Binance pings every 20 s).
const SILENCE: Duration = Duration::from_mins(1);
/// A book's snapshots are fetched at most this often (a depth-1000
/// snapshot weighs 50).
const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);
const KEEP_ALIVE: Duration = Duration::from_mins(30);

/// What the streams have read since the venue last looked.
#[derive(Debug, Default)]
pub struct Feed {
    pub books: Vec<LocalBook>,
    pub last: Vec<Option<Price>>,
    pub trades: Vec<(usize, TradeTick)>,
    /// Closed 1-minute klines, by symbol.
    pub closed_bars: Vec<(usize, tradedesk_core::market::Bar)>,
    /// `executionReport`s, in the order they came.
    pub reports: Vec<Value>,
    /// Set when the user stream (re)connected: reports may have been
    /// missed, so open orders and balances are reconciled.
    pub reconcile: bool,
    pub market_up: bool,
    pub user_up: bool,
    pub reconnects: u64,
    pub resyncs: u64,
}

pub fn lock(feed: &Mutex<Feed>) -> MutexGuard<'_, Feed> {
    feed.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where the streams connect and when they rotate.
#[derive(Debug, Clone)]
pub struct Links {
    /// `wss://stream.binance.com:9443` (or the testnet's, or a mock).
    pub ws_base: String,
    pub rotate_after: Duration,
}

/// The backoff before the `n`-th reconnect in a row (from 0): 0.5 s
/// doubling to 30 s, less up to a fifth at random.
pub fn backoff(n: u32) -> Duration {
    let ms = 500u64.saturating_mul(1u64 << n.min(6)).min(30_000);
    let jitter = u64::from(getrandom::u32().unwrap_or(0))
        .checked_rem(ms.checked_div(5).unwrap_or(0).max(1))
        .unwrap_or(0);
    Duration::from_millis(ms.saturating_sub(jitter))
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Result<Ws, String> {
    let tls = tradedesk_core::client::remote::tls_config(None).map_err(|e| e.to_string())?;
    let connector = tokio_tungstenite::Connector::Rustls(Arc::new(tls));
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async_tls_with_config(url, None, false, Some(connector)),
    )
    .await
    .map_err(|_| "timed out connecting".to_owned())?
    .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// A link's reader: the next text frame, pings answered; `Ok(None)` every
/// `TICK` without one (so the caller can do its timed work); `Err` when the
/// link is dead (silent for `SILENCE`), closed, or its rotation is due.
struct Reader {
    rotate_at: tokio::time::Instant,
    last_frame: tokio::time::Instant,
}

/// How often a quiet link's reader returns to its caller.
const TICK: Duration = Duration::from_millis(250);

impl Reader {
    fn new(rotate_after: Duration) -> Reader {
        let now = tokio::time::Instant::now();
        Reader {
            rotate_at: now.checked_add(rotate_after).unwrap_or(now),
            last_frame: now,
        }
    }

    async fn next(&mut self, ws: &mut Ws) -> Result<Option<String>, String> {
        loop {
            if self.last_frame.elapsed() > SILENCE {
                return Err(format!("no frame for {} s", SILENCE.as_secs()));
            }
            let frame = tokio::select! {
                () = tokio::time::sleep_until(self.rotate_at) => return Err("rotating before the 24-hour cut".into()),
                () = tokio::time::sleep(TICK) => return Ok(None),
                f = ws.next() => f,
            };
            self.last_frame = tokio::time::Instant::now();
            match frame {
                None | Some(Ok(Message::Close(_))) => return Err("closed by the venue".into()),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(Message::Text(t))) => return Ok(Some(t.to_string())),
                Some(Ok(Message::Ping(p))) => {
                    ws.send(Message::Pong(p)).await.map_err(|e| e.to_string())?;
                }
                Some(Ok(_)) => {}
            }
        }
    }
}

fn levels(v: &Value) -> Option<Vec<BookLevel>> {
    v.as_array()?
        .iter()
        .map(|l| {
            Some(BookLevel {
                price: l.get(0)?.as_str()?.parse().ok()?,
                qty: l.get(1)?.as_str()?.parse().ok()?,
            })
        })
        .collect()
}

/// A `depthUpdate` event's diff.
pub fn parse_diff(d: &Value) -> Option<Diff> {
    Some(Diff {
        first: d["U"].as_u64()?,
        last: d["u"].as_u64()?,
        bids: levels(&d["b"])?,
        asks: levels(&d["a"])?,
    })
}

/// A `kline` event's bar (`k`).
pub fn parse_kline(k: &Value) -> Option<tradedesk_core::market::Bar> {
    let dec = |f: &str| k[f].as_str()?.parse().ok();
    Some(tradedesk_core::market::Bar {
        open_time: Timestamp(k["t"].as_i64()?),
        open: dec("o")?,
        high: dec("h")?,
        low: dec("l")?,
        close: dec("c")?,
        volume: k["v"].as_str()?.parse().ok()?,
        trades: k["n"].as_u64()?,
    })
}

/// A `trade` event.
pub fn parse_trade(d: &Value) -> Option<TradeTick> {
    Some(TradeTick {
        id: d["t"].as_u64()?,
        time: Timestamp(d["T"].as_i64()?),
        price: d["p"].as_str()?.parse().ok()?,
        qty: d["q"].as_str()?.parse().ok()?,
        // `m`: the buyer was the maker, so the seller took.
        taker_side: if d["m"].as_bool()? {
            Side::Sell
        } else {
            Side::Buy
        },
    })
}

/// A market frame's trade or depth diff into the feed; true for a diff
/// (after which the book may want a snapshot).
fn apply(d: &Value, i: usize, symbol: &str, feed: &Mutex<Feed>) -> bool {
    match d["e"].as_str() {
        Some("trade") => {
            match parse_trade(d) {
                Some(t) => {
                    let mut f = lock(feed);
                    f.last[i] = Some(t.price);
                    f.trades.push((i, t));
                }
                None => tracing::warn!(frame = %d, "binance: a malformed trade; ignored"),
            }
            false
        }
        Some("kline") => {
            if d["k"]["x"].as_bool() == Some(true) {
                match parse_kline(&d["k"]) {
                    Some(bar) => lock(feed).closed_bars.push((i, bar)),
                    None => tracing::warn!(frame = %d, "binance: a malformed kline; ignored"),
                }
            }
            false
        }
        Some("depthUpdate") => {
            let Some(diff) = parse_diff(d) else {
                tracing::warn!(frame = %d, "binance: a malformed depth diff; ignored");
                return false;
            };
            let mut f = lock(feed);
            if f.books[i].on_diff(diff) == Applied::Gap {
                f.resyncs = f.resyncs.saturating_add(1);
                tracing::warn!(%symbol, "binance: a depth diff is missing; resyncing the book");
            }
            true
        }
        _ => false,
    }
}

/// When each book may fetch its next snapshot.
struct Snapshots(Vec<Option<tokio::time::Instant>>);

impl Snapshots {
    /// Fetches book `i`'s snapshot when it wants one and its last was
    /// `SNAPSHOT_EVERY` ago, or when `now` says so.
    async fn refresh(
        &mut self,
        i: usize,
        now: bool,
        rest: &Rest,
        symbol: &str,
        feed: &Mutex<Feed>,
    ) {
        let t = tokio::time::Instant::now();
        let due =
            now || (self.0[i].is_none_or(|at| t >= at) && lock(feed).books[i].wants_snapshot());
        if due {
            self.0[i] = t.checked_add(SNAPSHOT_EVERY);
            snapshot(rest, symbol, i, feed).await;
        }
    }
}

/// Fetches a book's snapshot and builds the book from it.
async fn snapshot(rest: &Rest, symbol: &str, i: usize, feed: &Mutex<Feed>) {
    match rest.depth(symbol, 1000).await {
        Ok((book, id)) => {
            if lock(feed).books[i].on_snapshot(book, id).is_err() {
                tracing::debug!(%symbol, "binance: the snapshot does not meet the diffs yet");
            }
        }
        Err(e) => tracing::warn!(%symbol, error = %e, "binance: cannot fetch a depth snapshot"),
    }
}

/// The market stream of `symbols` (index = position) until shutdown.
pub async fn market(
    links: Links,
    rest: Arc<Rest>,
    symbols: Vec<String>,
    feed: Arc<Mutex<Feed>>,
    shutdown: CancellationToken,
) {
    let index: HashMap<String, usize> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), i))
        .collect();
    let streams: Vec<String> = symbols
        .iter()
        .flat_map(|s| {
            let l = s.to_lowercase();
            [
                format!("{l}@trade"),
                format!("{l}@depth@100ms"),
                format!("{l}@kline_1m"),
            ]
        })
        .collect();
    let url = format!(
        "{}/stream?streams={}",
        links.ws_base.trim_end_matches('/'),
        streams.join("/")
    );
    let mut failures = 0u32;
    let mut first = true;
    while !shutdown.is_cancelled() {
        let ws = tokio::select! {
            () = shutdown.cancelled() => return,
            ws = connect(&url) => ws,
        };
        let mut ws = match ws {
            Ok(ws) => ws,
            Err(e) => {
                let wait = backoff(failures);
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis(), "binance market stream: cannot connect");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(wait) => continue,
                }
            }
        };
        {
            let mut f = lock(&feed);
            for b in &mut f.books {
                b.reset();
            }
            f.market_up = true;
            if !first {
                f.reconnects = f.reconnects.saturating_add(1);
            }
        }
        first = false;
        tracing::info!("binance market stream connected");
        let mut reader = Reader::new(links.rotate_after);
        let mut snapshots = Snapshots(vec![None; symbols.len()]);
        // The diffs are subscribed to: each book starts from a snapshot
        // now (the diffs that arrive meanwhile wait in the socket).
        for (i, s) in symbols.iter().enumerate() {
            snapshots.refresh(i, true, &rest, s, &feed).await;
        }
        let why = loop {
            let text = tokio::select! {
                () = shutdown.cancelled() => return,
                t = reader.next(&mut ws) => t,
            };
            let text = match text {
                Ok(Some(t)) => t,
                Ok(None) => {
                    // Quiet: a book still waiting for its snapshot gets one.
                    for (i, s) in symbols.iter().enumerate() {
                        snapshots.refresh(i, false, &rest, s, &feed).await;
                    }
                    continue;
                }
                Err(e) => break e,
            };
            failures = 0;
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                tracing::warn!(frame = %text.chars().take(200).collect::<String>(), "binance market stream: a malformed frame; ignored");
                continue;
            };
            let d = &v["data"];
            let Some(&i) = d["s"].as_str().and_then(|s| index.get(s)) else {
                continue;
            };
            if apply(d, i, &symbols[i], &feed) {
                snapshots.refresh(i, false, &rest, &symbols[i], &feed).await;
            }
        };
        lock(&feed).market_up = false;
        tracing::warn!(reason = %why, "binance market stream: reconnecting");
        let _ = ws.close(None).await;
    }
}

/// The user data stream until shutdown.
pub async fn user(
    links: Links,
    rest: Arc<Rest>,
    feed: Arc<Mutex<Feed>>,
    shutdown: CancellationToken,
) {
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        let opened = async {
            let key = rest.new_listen_key().await.map_err(|e| e.to_string())?;
            let url = format!("{}/ws/{key}", links.ws_base.trim_end_matches('/'));
            connect(&url).await.map(|ws| (ws, key))
        };
        let opened = tokio::select! {
            () = shutdown.cancelled() => return,
            o = opened => o,
        };
        let (mut ws, key) = match opened {
            Ok(x) => x,
            Err(e) => {
                let wait = backoff(failures);
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis(), "binance user stream: cannot connect");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(wait) => continue,
                }
            }
        };
        {
            let mut f = lock(&feed);
            f.user_up = true;
            f.reconcile = true;
        }
        tracing::info!("binance user stream connected");
        let mut reader = Reader::new(links.rotate_after);
        let mut keep_alive = tokio::time::interval_at(
            tokio::time::Instant::now()
                .checked_add(KEEP_ALIVE)
                .unwrap_or_else(tokio::time::Instant::now),
            KEEP_ALIVE,
        );
        let why = loop {
            let text = tokio::select! {
                () = shutdown.cancelled() => return,
                _ = keep_alive.tick() => {
                    if let Err(e) = rest.keep_alive(&key).await {
                        break format!("the listen key could not be kept alive: {e}");
                    }
                    continue;
                }
                t = reader.next(&mut ws) => t,
            };
            let text = match text {
                Ok(Some(t)) => t,
                Ok(None) => continue,
                Err(e) => break e,
            };
            failures = 0;
            let Ok(v) = serde_json::from_str::<Value>(&text) else {
                tracing::warn!("binance user stream: a malformed frame; ignored");
                continue;
            };
            // Either the bare event or, on some endpoints, wrapped.
            let ev = if v.get("event").is_some() {
                v["event"].clone()
            } else {
                v
            };
            match ev["e"].as_str() {
                Some("executionReport") => lock(&feed).reports.push(ev),
                Some("listenKeyExpired") => break "the listen key expired".into(),
                _ => {}
            }
        };
        lock(&feed).user_up = false;
        tracing::warn!(reason = %why, "binance user stream: reconnecting");
        let _ = ws.close(None).await;
    }
}
