//! `market.*` and `accounts.*` handlers: reads of the exchange's state.

use tradedesk_core::api::accounts::{
    AccountList, AccountParam, AccountView, AccountsBalances, AccountsList, BalanceView, Balances,
};
use tradedesk_core::api::market::{
    Book, BookParams, Klines, KlinesParams, MarketKlines, MarketOrderbook, MarketSymbols,
    MarketTicker, MarketTickers, MarketTrades, SymbolParam, Symbols, Tape, TapeParams, Tickers,
};
use tradedesk_core::api::{ApiError, Caller, Empty, Handle, paging};
use tradedesk_core::market::{Aggregator, Interval, Ticker};
use tradedesk_core::store::trading as db;
use tradedesk_core::time::Timestamp;

use crate::context::Ctx;
use crate::services::exchange::State;

fn ticker(state: &State, idx: usize) -> Ticker {
    let book = state.venue.book(idx);
    state.data[idx].ticker(
        &state.venue.instruments()[idx].symbol,
        book.best_bid().map(|l| l.price),
        book.best_ask().map(|l| l.price),
    )
}

impl Handle<MarketSymbols> for Ctx {
    async fn handle(&self, _: &Caller, _: Empty) -> Result<Symbols, ApiError> {
        let state = self.exchange.lock();
        Ok(Symbols {
            symbols: state.venue.instruments().into_iter().cloned().collect(),
        })
    }
}

impl Handle<MarketTicker> for Ctx {
    async fn handle(&self, _: &Caller, p: SymbolParam) -> Result<Ticker, ApiError> {
        let state = self.exchange.lock();
        let idx = state.symbol_index(&p.symbol)?;
        Ok(ticker(&state, idx))
    }
}

impl Handle<MarketTickers> for Ctx {
    async fn handle(&self, _: &Caller, _: Empty) -> Result<Tickers, ApiError> {
        let state = self.exchange.lock();
        Ok(Tickers {
            tickers: (0..state.data.len()).map(|i| ticker(&state, i)).collect(),
        })
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
        // Enough 1-minute bars for `limit` bars of the interval ending at `end`.
        let span = interval.millis().saturating_mul(i64::from(limit));
        let upper = end.min(Timestamp(
            forming.map_or(i64::MAX / 2, |b| b.open_time.millis() + 60_000),
        ));
        let start = p
            .start
            .unwrap_or(Timestamp(upper.millis().saturating_sub(span)))
            .floor_to(interval.millis());
        // Aggregated as the rows stream in: memory holds `limit` bars,
        // whatever the range.
        let mut agg = Aggregator::new(interval, limit as usize);
        self.blocking(|ctx| {
            db::for_each_kline(ctx.store().conn(), &symbol, start, end, |b| agg.push(&b))
        })
        .map_err(|e| {
            tracing::error!(error = %e, "klines query");
            ApiError::internal("database error; see the daemon log")
        })?;
        if let Some(b) = forming.filter(|b| b.open_time >= start && b.open_time < end)
            && agg.last_open().is_none_or(|t| t <= b.open_time)
        {
            agg.push(&b);
        }
        let out = agg.into_bars();
        Ok(Klines {
            symbol,
            interval,
            bars: out,
        })
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

impl Handle<AccountsList> for Ctx {
    async fn handle(&self, _: &Caller, _: Empty) -> Result<AccountList, ApiError> {
        let state = self.exchange.lock();
        let accounts = state
            .accounts
            .iter()
            .map(|a| AccountView {
                name: a.row.name.clone(),
                venue: a.row.venue.clone(),
                owner: a.row.owner.clone(),
                created: a.row.created,
            })
            .collect();
        Ok(AccountList { accounts })
    }
}

impl Handle<AccountsBalances> for Ctx {
    async fn handle(&self, _: &Caller, p: AccountParam) -> Result<Balances, ApiError> {
        let state = self.exchange.lock();
        let acc = &state.accounts[state.account(p.account.as_deref())?];
        let balances = acc
            .books
            .total
            .balances()
            .iter()
            .map(|(asset, b)| BalanceView {
                asset: asset.clone(),
                free: b.free,
                locked: b.locked,
                total: b.total(),
            })
            .collect();
        Ok(Balances {
            account: acc.row.name.clone(),
            balances,
        })
    }
}
