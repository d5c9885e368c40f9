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

pub mod filters;
pub mod market;
pub mod orders;
pub mod rest;
pub mod sign;

pub use rest::{BinanceError, Credentials, Rest};
