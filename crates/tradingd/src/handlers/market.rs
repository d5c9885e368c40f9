//! `market.*` and `accounts.*` handlers: reads of the exchange's state.

use crate::services::cache::TICKER_BYTES;
use crate::store::trading as db;
use tradedesk_core::api::cache::Namespace;
use tradedesk_core::api::market::{
    Book, BookParams, Klines, KlinesParams, MarketKlines, MarketOrderbook, MarketSymbols,
    MarketTicker, MarketTickers, MarketTrades, SymbolParam, Symbols, Tape, TapeParams, Tickers,
};
use tradedesk_core::api::paging::PageParams;
use tradedesk_core::api::{ApiError, Caller, Handle, paging};
use tradedesk_core::instrument::Instrument;
use tradedesk_core::instrument::Symbol;
use tradedesk_core::market::{Aggregator, Bar, Interval, Ticker};
use tradedesk_core::time::Timestamp;

use crate::context::Ctx;

/// One stored bar's estimated size in the cache.
const BAR_BYTES: usize = 160;

impl Ctx {
    /// A symbol's ticker: from the cache (the market tick keeps it
    /// there), else worked out under the exchange lock and cached while
    /// the lock is held, so no write can slip between.
    fn ticker(&self, symbol: &Symbol) -> Result<Ticker, ApiError> {
        let now = self.now().millis();
        if let Some(t) = self
            .cache
            .get::<Ticker>(Namespace::Ticker, symbol.as_str(), now)
        {
            return Ok((*t).clone());
        }
        let state = self.exchange.lock();
        let idx = state.symbol_index(symbol)?;
        let t = state.ticker(idx);
        self.cache.put(
            Namespace::Ticker,
            symbol.as_str(),
            t.clone(),
            TICKER_BYTES,
            None,
            now,
        );
        Ok(t)
    }
}

impl Handle<MarketSymbols> for Ctx {
    async fn handle(&self, _: &Caller, p: PageParams) -> Result<Symbols, ApiError> {
        let now = self.now().millis();
        let all = match self
            .cache
            .get::<Vec<Instrument>>(Namespace::Symbols, "all", now)
        {
            Some(s) => (*s).clone(),
            None => {
                let all: Vec<Instrument> = {
                    let state = self.exchange.lock();
                    state.venue.instruments().into_iter().cloned().collect()
                };
                let bytes = all.len().saturating_mul(200);
                self.cache
                    .put(Namespace::Symbols, "all", all.clone(), bytes, None, now);
                all
            }
        };
        paging::in_memory(all, p.limit, p.cursor.as_deref())
    }
}

impl Handle<MarketTicker> for Ctx {
    async fn handle(&self, _: &Caller, p: SymbolParam) -> Result<Ticker, ApiError> {
        self.ticker(&p.symbol)
    }
}

impl Handle<MarketTickers> for Ctx {
    async fn handle(&self, _: &Caller, p: PageParams) -> Result<Tickers, ApiError> {
        let symbols: Vec<Symbol> = {
            let state = self.exchange.lock();
            state
                .venue
                .instruments()
                .into_iter()
                .map(|i| i.symbol.clone())
                .collect()
        };
        let tickers = symbols
            .iter()
            .map(|s| self.ticker(s))
            .collect::<Result<Vec<_>, _>>()?;
        paging::in_memory(tickers, p.limit, p.cursor.as_deref())
    }
}

impl Handle<MarketKlines> for Ctx {
    async fn handle(&self, _: &Caller, p: KlinesParams) -> Result<Klines, ApiError> {
        let interval = p.interval.unwrap_or(Interval::M1);
        let limit = paging::limit(p.limit)?;
        let (symbol, forming) = {
            let state = self.exchange.lock();
            let idx = state.symbol_index(&p.symbol)?;
            (p.symbol.clone(), state.data[idx].forming)
        };
        let end = p.end.unwrap_or(Timestamp(i64::MAX / 2));
        if let Some(start) = p.start
            && start >= end
        {
            return Err(ApiError::invalid_params(
                "invalid params: field `start`: must be before `end`",
            ));
        }
        // The latest bars (no range given) are cached. The stored bars
        // change only when a bar closes, which also moves the forming
        // bar: its open time in the key makes an entry from before the
        // close unreachable (the close also deletes it).
        let key = (p.start.is_none() && p.end.is_none()).then(|| {
            format!(
                "{symbol}:{}:{}:{limit}",
                forming.map_or(0, |b| b.open_time.millis()),
                interval.as_str()
            )
        });
        let now = self.now().millis();
        let cached = key
            .as_deref()
            .and_then(|k| self.cache.get::<Vec<Bar>>(Namespace::Klines, k, now));
        let closed: std::sync::Arc<Vec<Bar>> = match cached {
            Some(bars) => bars,
            None => {
                let epoch = self.cache.epoch(Namespace::Klines);
                let bars = self.stored_klines(&symbol, interval, limit, p.start, end, forming)?;
                match &key {
                    Some(k) => {
                        let bytes = bars.len().saturating_mul(BAR_BYTES);
                        self.cache.put_unless_changed(
                            Namespace::Klines,
                            k,
                            bars,
                            bytes,
                            None,
                            now,
                            epoch,
                        )
                    }
                    None => std::sync::Arc::new(bars),
                }
            }
        };
        // The forming bar is added at every read: it changes every tick.
        let bars = match forming.filter(|b| {
            p.start
                .is_none_or(|s| b.open_time >= s.floor_to(interval.millis()))
                && b.open_time < end
        }) {
            None => (*closed).clone(),
            Some(b) => {
                let mut agg = Aggregator::new(interval, limit as usize);
                for bar in closed.iter() {
                    agg.push(bar);
                }
                if agg.last_open().is_none_or(|t| t <= b.open_time) {
                    agg.push(&b);
                }
                agg.into_bars()
            }
        };
        Ok(Klines {
            symbol,
            interval,
            bars,
        })
    }
}

impl Ctx {
    /// Stored (closed) bars aggregated to `interval`: at most `limit`,
    /// ending at `end` or at the forming bar.
    fn stored_klines(
        &self,
        symbol: &Symbol,
        interval: Interval,
        limit: u32,
        start: Option<Timestamp>,
        end: Timestamp,
        forming: Option<Bar>,
    ) -> Result<Vec<Bar>, ApiError> {
        // Enough 1-minute bars for `limit` bars of the interval ending at
        // `end`, or at the forming bar (at the current minute before the
        // first tick of a start has formed one).
        let span = interval.millis().saturating_mul(i64::from(limit));
        let current = forming.map_or_else(
            || self.now().floor_to(60_000).millis(),
            |b| b.open_time.millis(),
        );
        let upper = end.min(Timestamp(current.saturating_add(60_000)));
        let start = start
            .unwrap_or(Timestamp(upper.millis().saturating_sub(span)))
            .floor_to(interval.millis());
        // Aggregated as the rows stream in: memory holds `limit` bars,
        // whatever the range.
        let mut agg = Aggregator::new(interval, limit as usize);
        self.blocking(|ctx| {
            db::for_each_kline(ctx.store().conn(), symbol, start, end, |b| agg.push(&b))
        })
        .map_err(|e| {
            tracing::error!(error = %e, "klines query");
            ApiError::internal("database error; see the daemon log")
        })?;
        Ok(agg.into_bars())
    }
}

impl Handle<MarketOrderbook> for Ctx {
    async fn handle(&self, _: &Caller, p: BookParams) -> Result<Book, ApiError> {
        let depth = match p.depth {
            None => 10,
            Some(d @ 1..=100) => d as usize,
            Some(d) => {
                return Err(ApiError::invalid_params(format!(
                    "invalid params: field `depth`: {d} is outside 1..=100"
                )));
            }
        };
        let state = self.exchange.lock();
        let idx = state.symbol_index(&p.symbol)?;
        let book = state.book(idx, depth);
        Ok(Book {
            symbol: p.symbol,
            time: state.data[idx].last_time,
            bids: book.bids,
            asks: book.asks,
        })
    }
}

impl Handle<MarketTrades> for Ctx {
    async fn handle(&self, _: &Caller, p: TapeParams) -> Result<Tape, ApiError> {
        let limit = paging::limit(p.limit)? as usize;
        let state = self.exchange.lock();
        let idx = state.symbol_index(&p.symbol)?;
        Ok(Tape {
            symbol: p.symbol,
            trades: state.data[idx].recent.iter().take(limit).copied().collect(),
        })
    }
}
