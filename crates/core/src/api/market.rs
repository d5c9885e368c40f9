//! `market.*`: instruments, tickers, klines, order books and the tape;
//! their stream topics.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::method::{method, topic};
use super::paging::{Page, PageParams};
use crate::instrument::{Instrument, Symbol};
use crate::market::{Bar, BookLevel, Interval, Ticker, TradeTick};
use crate::time::Timestamp;

method! {
    /// Instruments on the venue with their trading rules.
    MarketSymbols = "market.symbols", Get "/api/v1/market/symbols", Read, PageParams => Symbols
}
method! {
    /// Last price, best bid/ask and 24-hour statistics of one symbol.
    MarketTicker = "market.ticker", Get "/api/v1/market/tickers/{symbol}", Read, SymbolParam => Ticker
}
method! {
    /// Tickers of every symbol.
    MarketTickers = "market.tickers", Get "/api/v1/market/tickers", Read, PageParams => Tickers
}
method! {
    /// OHLCV bars (1m, 5m, 15m, 1h, 4h, 1d; aggregated from 1m), oldest first.
    MarketKlines = "market.klines", Get "/api/v1/market/klines/{symbol}", Read, KlinesParams => Klines
}
method! {
    /// The order book's best levels.
    MarketOrderbook = "market.orderbook", Get "/api/v1/market/orderbook/{symbol}", Read, BookParams => Book
}
method! {
    /// The market's most recent trades, newest first.
    MarketTrades = "market.trades", Get "/api/v1/market/trades/{symbol}", Read, TapeParams => Tape
}

topic! {
    /// Every symbol's ticker, once per market tick.
    TickersTopic = "market.tickers", Ticker
}
topic! {
    /// The forming 1-minute bar of each symbol, and each bar as it closes.
    KlinesTopic = "market.klines", KlineEvent
}
topic! {
    /// Each symbol's book (top 10 levels), once per market tick.
    OrderbookTopic = "market.orderbook", Book
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SymbolParam {
    pub symbol: Symbol,
}

pub type Symbols = Page<Instrument>;

pub type Tickers = Page<Ticker>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KlinesParams {
    pub symbol: Symbol,
    /// Default 1m.
    #[serde(default)]
    pub interval: Option<Interval>,
    #[serde(default)]
    pub start: Option<Timestamp>,
    #[serde(default)]
    pub end: Option<Timestamp>,
    /// At most 1000; default 100 (the newest bars of the range).
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Klines {
    pub symbol: Symbol,
    pub interval: Interval,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BookParams {
    pub symbol: Symbol,
    /// Levels per side, 1 to 100; default 10.
    #[serde(default)]
    pub depth: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Book {
    pub symbol: Symbol,
    pub time: Timestamp,
    pub bids: Vec<BookLevel>,
    pub asks: Vec<BookLevel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TapeParams {
    pub symbol: Symbol,
    /// At most 1000; default 100.
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Tape {
    pub symbol: Symbol,
    pub trades: Vec<TradeTick>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KlineEvent {
    pub symbol: Symbol,
    pub bar: Bar,
    /// True once the minute is over and the bar is final.
    pub closed: bool,
}
