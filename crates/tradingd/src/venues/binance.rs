//! Binance spot (and its spot testnet): the REST client the venue is built
//! on. This much is here so far: request signing (HMAC-SHA256 of the exact
//! query, with `timestamp` on the server's clock and `recvWindow`), the
//! server-time offset, `exchangeInfo` read into our instruments (tick,
//! step, minimum quantity and notional, exact decimals), klines, depth and
//! tickers, our order types as Binance's, and the request
//! weight budget: `X-MBX-USED-WEIGHT-1M` tracked from every answer, 429 →
//! no request until its `Retry-After`, 418 → the venue is banned for us
//! and refuses every request until then. The `Venue` impl, the streams and
//! reconciliation build on it (issue 21).

pub mod book;
pub mod brackets;
pub mod filters;
pub mod market;
pub mod orders;
pub mod reports;
pub mod rest;
pub mod sign;
pub mod stream;
pub mod trailing;
pub mod venue;

pub use rest::{BinanceError, Credentials, Rest};
pub use venue::{BinanceVenue, Setup};

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tradedesk_core::market::Bar;
use tradedesk_core::sim::matching::Fees;

use crate::config::BinanceConfig;

/// Connects to Binance: the server's clock, the symbols' rules, a first
/// book, last price and a day of 1-minute bars for each; then the venue
/// with its streams running. `creds` only for a live account.
pub async fn open(
    cfg: &BinanceConfig,
    fees: Fees,
    creds: Option<Credentials>,
    shutdown: &CancellationToken,
) -> Result<(BinanceVenue, Vec<Vec<Bar>>), BinanceError> {
    let live_trading = cfg.live && creds.is_some();
    let rest = Arc::new(Rest::new(
        &cfg.rest_url,
        creds,
        cfg.recv_window_ms,
        cfg.timeout,
    )?);
    let offset = rest.sync_time().await?;
    tracing::info!(offset_ms = offset, "binance: server time measured");
    let instruments = rest
        .exchange_info(&cfg.symbols)
        .await?
        .instruments(&cfg.symbols)
        .map_err(|e| BinanceError::Protocol(e.to_string()))?;
    let (mut books, mut last, mut bars) = (Vec::new(), Vec::new(), Vec::new());
    for i in &instruments {
        let symbol = i.symbol.as_str();
        let (book, _) = rest.depth(symbol, 100).await?;
        books.push(book);
        last.push(rest.ticker(symbol).await?.last);
        let since = chrono::Utc::now()
            .timestamp_millis()
            .saturating_sub(86_400_000);
        let mut day = rest.klines(symbol, "1m", Some(since), 1000).await?;
        if let Some(next) = day
            .last()
            .map(|b| b.open_time.millis().saturating_add(60_000))
        {
            day.extend(rest.klines(symbol, "1m", Some(next), 1000).await?);
        }
        // The forming minute is the stream's.
        let minute = chrono::Utc::now()
            .timestamp_millis()
            .div_euclid(60_000)
            .saturating_mul(60_000);
        day.retain(|b| b.open_time.millis() < minute);
        bars.push(day);
    }
    let venue = BinanceVenue::start(
        Setup {
            rest,
            instruments,
            books,
            last,
            fees,
            links: stream::Links {
                ws_base: cfg.ws_url.clone(),
                rotate_after: cfg.rotate_after,
            },
            live_trading,
            reconcile_every: cfg.reconcile_every,
        },
        shutdown,
    );
    Ok((venue, bars))
}
