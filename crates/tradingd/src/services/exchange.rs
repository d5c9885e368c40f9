//! The execution service and the built-in `sim` venue: the synthetic
//! market, the matching engine, the accounts' ledgers and positions, and
//! the open orders, kept consistent with the database.
//!
//! Invariants: the database never lacks an order the venue knows. `sim`
//! lives in this process and dies with it, so an order's `new` row, its
//! locked funds and the venue's answer (acceptance, fills) are written in
//! one transaction: there is no moment at which the venue holds an order
//! the database does not. (A remote venue writes the `new` row and commits
//! before the request leaves; see ARCHITECTURE.md.) Everything one engine
//! call changes is written in one transaction, with the exchange lock held,
//! so the database sees changes in the order they happened. On start, open
//! orders come back from the database into the engine before the market
//! moves; rows still `new` never reached a venue and are rejected, their
//! funds released.

mod booking;
mod margin;
mod market_data;
mod open_orders;
mod risk;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::services::cache::Cache;
use crate::store::bots as bots_db;
use crate::store::trading as db;
use crate::store::{Store, StoreError};
use rust_decimal::Decimal;
use tradedesk_core::api::cache::Namespace;
use tradedesk_core::api::{ApiError, Caller, ErrorCode};
use tradedesk_core::instrument::{Instrument, Symbol};
use tradedesk_core::ledger::{BookId, Books, LedgerError};
use tradedesk_core::market::OrderBook;
use tradedesk_core::money::Qty;
use tradedesk_core::order::{OrderType, Side, TimeInForce, ValidOrder};
use tradedesk_core::sim::market::SimMarket;
use tradedesk_core::sim::matching::MatchingEngine;
use tradedesk_core::time::Timestamp;

pub use booking::Changes;
pub use margin::Standing;
pub use market_data::SymbolData;
pub use open_orders::{OpenOrders, OpenQty};
pub use risk::{RiskBook, refusal_error, rejection_error};

use crate::config::SimConfig;
use crate::lock_order::{OrderedGuard, OrderedMutex, Rank};
use crate::venues::Venue;
use crate::venues::delayed::Delayed;
use crate::venues::sim::SimVenue;

mod placement;
mod reconcile;
mod requests;
mod restore;
pub use restore::paper_account_name;
#[cfg(test)]
mod tests;

pub use requests::{Deliver, Dispatch, Request, query_delay};

pub const PAPER_ACCOUNT: &str = "paper";
pub const VENUE: &str = "sim";

pub struct Account {
    /// The stored row: id, name, venue, owner.
    pub row: db::Account,
    /// The account's balances and positions, split into the manual book
    /// and one book per bot.
    pub books: Books,
}

/// Who places an order: the owner of the row and the book it trades.
#[derive(Debug, Clone, Copy)]
struct By<'a> {
    owner: &'a str,
    bot: BookId,
}

pub struct State {
    pub venue: Box<dyn Venue>,
    pub accounts: Vec<Account>,
    /// Every order that is not terminal, with the sums the risk check reads.
    pub open: OpenOrders,
    pub data: Vec<SymbolData>,
    cfg: SimConfig,
    next_client_seq: u64,
    next_order_id: u64,
    /// Set when the books could not be rebuilt from the database; new
    /// orders are refused until a rebuild succeeds.
    pub degraded: Option<String>,
    /// Set when the in-memory books may be ahead of the database (a panic
    /// interrupted an operation, a write failed): the next `lock` rebuilds
    /// them from the database, which is the truth.
    stale: Option<String>,
    /// Limits, trading states and their baselines.
    pub risk: RiskBook,
    /// Kept true here: every write below drops or replaces what it changes.
    pub cache: Arc<Cache>,
    /// Where a remote venue's answers are awaited; set by the daemon.
    pub dispatch: Option<Dispatch>,
    /// Orders whose outcome is unknown, with the queries sent for each.
    unknown: std::collections::BTreeMap<u64, u32>,
    /// The trade ids booked for each open order of a venue that may report
    /// a trade more than once.
    seen_trades: std::collections::HashMap<u64, Vec<u64>>,
    /// External orders already alerted about.
    external: std::collections::HashSet<String>,
    /// The live account a real exchange's venue trades, if it does.
    live_account: Option<String>,
    /// A balance mismatch seen once, to be confirmed by the next read.
    suspect: Option<(String, Timestamp)>,
    /// Whether the live account has been reconciled since start: until
    /// then its orders (a bot's too) are refused.
    reconciled: bool,
}

/// A market other than the simulator's: its venue, each symbol's recent
/// 1-minute bars, and the live account it trades (if it does).
pub struct Market {
    pub venue: Box<dyn Venue>,
    /// The venue's link state, read without the exchange lock.
    pub link: Option<Arc<dyn crate::venues::VenueLink>>,
    /// Binance's REST client (one weight budget for the venue and
    /// `data.download`).
    pub binance_rest: Option<Arc<crate::venues::binance::Rest>>,
    pub bars: Vec<Vec<tradedesk_core::market::Bar>>,
    pub live_account: Option<String>,
}

pub struct Exchange {
    state: OrderedMutex<State>,
    store: Arc<OrderedMutex<Store>>,
    /// When a failed rebuild may be tried again.
    retry_at: Mutex<Option<std::time::Instant>>,
    /// Why trading is suspended, readable without the exchange lock.
    suspended: Mutex<Option<String>>,
    /// Rebuilds since start (for `system.health`).
    rebuilds: AtomicU64,
    /// A remote venue's link state (for `system.health`).
    link: Option<Arc<dyn crate::venues::VenueLink>>,
    binance_rest: Option<Arc<crate::venues::binance::Rest>>,
}

/// A database error as clients see it; the details go to the log.
pub(crate) fn store_err(e: &StoreError) -> ApiError {
    tracing::error!(error = %e, "database error");
    ApiError::internal("database error; see the daemon log")
}

/// A database error inside a handler's transaction: logged, and answered
/// as an internal error.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        store_err(&e)
    }
}

fn funds_err(e: &LedgerError) -> ApiError {
    match e {
        LedgerError::Insufficient { .. } => {
            ApiError::new(ErrorCode::InsufficientFunds, e.to_string())
        }
        _ => ApiError::internal(e.to_string()),
    }
}

impl Exchange {
    /// Loads (or creates) the accounts, restores open orders into the
    /// engine, and starts the market where it left off.
    pub fn open(
        cfg: SimConfig,
        store: Arc<OrderedMutex<Store>>,
        now: Timestamp,
        run_number: u64,
        cache: Arc<Cache>,
        market: Option<Market>,
    ) -> Result<Exchange, StoreError> {
        if let Some(m) = market {
            // The venue's recent bars are the charts' and the bots' past:
            // written (over any stored for those minutes), one transaction.
            {
                let mut db = store.lock();
                let symbols: Vec<Symbol> = m
                    .venue
                    .instruments()
                    .iter()
                    .map(|i| i.symbol.clone())
                    .collect();
                db.write(|tx| -> Result<(), StoreError> {
                    for (symbol, bars) in symbols.iter().zip(&m.bars) {
                        for b in bars {
                            db::upsert_kline(tx, symbol, b)?;
                        }
                    }
                    Ok(())
                })?;
            }
            let data = m
                .venue
                .instruments()
                .iter()
                .enumerate()
                .zip(m.bars)
                .map(|((i, _), bars)| SymbolData::new(m.venue.last(i), bars))
                .collect();
            let mut ex = Self::assemble(cfg, store, now, cache, m.venue, data, m.live_account)?;
            ex.link = m.link;
            ex.binance_rest = m.binance_rest;
            return Ok(ex);
        }
        let mut db = store.lock();
        let mut spec = cfg.spec.clone();
        // A restart continues from the last recorded prices, with a fresh
        // but reproducible path.
        spec.seed ^= run_number.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut recent_bars = Vec::new();
        for (i, s) in spec.symbols.iter_mut().enumerate() {
            // A symbol's first start: a past of synthetic bars, written in
            // one transaction, ending at its start price.
            if cfg.history_minutes > 0 && !db::has_klines(db.conn(), &s.instrument.symbol)? {
                let seed = cfg.spec.seed.wrapping_add(i as u64);
                let bars = tradedesk_core::sim::market::history(
                    s,
                    seed,
                    cfg.spec.jump_probability,
                    now,
                    cfg.history_minutes,
                );
                let symbol = s.instrument.symbol.clone();
                db.write(|tx| -> Result<(), StoreError> {
                    for b in bars {
                        db::upsert_kline(tx, &symbol, &b)?;
                    }
                    Ok(())
                })?;
                tracing::info!(symbol = %symbol, bars = cfg.history_minutes, "seeded the market's history");
            }
            let bars = db::klines(
                db.conn(),
                &s.instrument.symbol,
                Timestamp(now.millis().saturating_sub(86_400_000)),
                Timestamp(i64::MAX),
                1440,
            )?;
            if let Some(last) = bars.last() {
                s.start_price = last.close;
            }
            recent_bars.push(bars);
        }
        let market = SimMarket::new(spec);
        let data = market
            .symbols
            .iter()
            .zip(recent_bars)
            .map(|(s, bars)| SymbolData::new(s.last, bars))
            .collect();
        let engine = MatchingEngine::new(cfg.fees, 1);
        let sim = SimVenue::new(market, engine);
        let venue: Box<dyn Venue> = if cfg.latency_ms > 0 || cfg.lose_answer_every > 0 {
            Box::new(Delayed::new(
                sim,
                std::time::Duration::from_millis(cfg.latency_ms),
                cfg.lose_answer_every,
            ))
        } else {
            Box::new(sim)
        };
        drop(db);
        Self::assemble(cfg, store, now, cache, venue, data, None)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        cfg: SimConfig,
        store: Arc<OrderedMutex<Store>>,
        now: Timestamp,
        cache: Arc<Cache>,
        venue: Box<dyn Venue>,
        data: Vec<SymbolData>,
        live_account: Option<String>,
    ) -> Result<Exchange, StoreError> {
        let mut state = State {
            venue,
            accounts: Vec::new(),
            open: OpenOrders::default(),
            data,
            cfg,
            next_client_seq: 0,
            next_order_id: 1,
            degraded: None,
            stale: None,
            risk: RiskBook::default(),
            cache,
            dispatch: None,
            unknown: std::collections::BTreeMap::new(),
            seen_trades: std::collections::HashMap::new(),
            external: std::collections::HashSet::new(),
            reconciled: live_account.is_none(),
            live_account,
            suspect: None,
        };
        state.load(&mut store.lock(), now)?;
        Ok(Exchange {
            state: OrderedMutex::new(Rank::Exchange, state),
            store,
            retry_at: Mutex::new(None),
            suspended: Mutex::new(None),
            rebuilds: AtomicU64::new(0),
            link: None,
            binance_rest: None,
        })
    }

    /// The state, for reads and for the operations below.
    ///
    /// A panic while it was held, or a write that failed, may have left
    /// the in-memory books ahead of the database: they are rebuilt from the
    /// database here, before anyone reads them, with a critical alert.
    /// Trading is suspended only while a rebuild cannot be done.
    pub fn lock(&self) -> OrderedGuard<'_, State> {
        let (mut g, poisoned) = self.state.lock_checked();
        if poisoned {
            g.stale
                .get_or_insert_with(|| "a panic interrupted an exchange operation".into());
        }
        if g.stale.is_some() {
            self.rebuild(&mut g);
        }
        g
    }

    /// The daemon's Binance REST client, when Binance is its market.
    pub fn binance_rest(&self) -> Option<Arc<crate::venues::binance::Rest>> {
        self.binance_rest.clone()
    }

    /// A remote venue's link state, read without the exchange lock.
    pub fn link_health(&self) -> Option<tradedesk_core::api::system::ComponentHealth> {
        self.link.as_ref().map(|l| l.health())
    }

    /// How many times the books were rebuilt since start.
    pub fn rebuilds(&self) -> u64 {
        self.rebuilds.load(Ordering::Relaxed)
    }

    /// Why trading is suspended, if it is (read without the exchange lock).
    pub fn suspended(&self) -> Option<String> {
        crate::lock_order::leaf(&self.suspended).clone()
    }

    /// How long the exchange lock has been held, if it is.
    pub fn held_for(&self) -> Option<std::time::Duration> {
        self.state.held_for()
    }

    fn rebuild(&self, state: &mut State) {
        let mut retry = crate::lock_order::leaf(&self.retry_at);
        if retry.is_some_and(|t| std::time::Instant::now() < t) {
            return;
        }
        let why = state.stale.clone().unwrap_or_default();
        tracing::error!(reason = %why, "rebuilding the exchange's books from the database");
        let mut store = self.store.lock();
        let now = state.data.first().map_or(Timestamp(0), |d| d.last_time);
        match state.reload(&mut store, now) {
            Ok(()) => {
                *retry = None;
                state.stale = None;
                state.degraded = None;
                *crate::lock_order::leaf(&self.suspended) = None;
                self.rebuilds.fetch_add(1, Ordering::Relaxed);
                let message = format!(
                    "the exchange's books were rebuilt from the database after: {why}; \
                     open orders and balances are as last written"
                );
                let scope = tradedesk_core::risk::Scope::Account(PAPER_ACCOUNT.into());
                state
                    .risk
                    .alert(&mut store, now, &scope, "daemon", &message);
                tracing::warn!("exchange rebuilt; trading goes on");
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot rebuild the exchange; trading is suspended");
                let why = format!("{why}; rebuilding from the database failed: {e}");
                state.degraded = Some(why.clone());
                *crate::lock_order::leaf(&self.suspended) = Some(why);
                *retry = std::time::Instant::now().checked_add(std::time::Duration::from_secs(5));
            }
        }
    }
}

impl State {
    /// Open orders of an account, a bot, a symbol.
    pub fn open_count(&self, account: &str, bot: BookId, symbol: &Symbol) -> (u32, u32, u32) {
        self.open.counts(account, bot, symbol)
    }

    /// Whether an account trades on a real exchange (its orders are sent
    /// there) rather than on the simulator's matching (paper).
    pub fn is_live_account(&self, name: &str) -> bool {
        self.account_index(name)
            .is_some_and(|i| self.accounts[i].row.venue != VENUE)
    }

    pub fn account_index(&self, name: &str) -> Option<usize> {
        self.accounts.iter().position(|a| a.row.name == name)
    }

    /// An account the daemon itself names (a bot's, an order's).
    pub fn account_named(&self, name: &str) -> Result<usize, ApiError> {
        self.account_index(name).ok_or_else(|| {
            ApiError::not_found("account", name)
                .with_data(serde_json::json!({ "field": "account" }))
        })
    }

    /// The account a caller names, by default their own paper account (for
    /// the local administrator, `paper`), if the caller may use it: another
    /// user's account is not found, exactly as if it did not exist.
    pub fn account_for(&self, caller: &Caller, name: Option<&str>) -> Result<usize, ApiError> {
        let found = match name {
            Some(n) => self
                .account_index(n)
                .filter(|&i| caller.sees(&self.accounts[i].row.owner)),
            None => self
                .accounts
                .iter()
                .position(|a| a.row.owner == caller.user && a.row.venue == VENUE)
                .or_else(|| {
                    caller
                        .owner_filter()
                        .is_none()
                        .then(|| self.account_index(PAPER_ACCOUNT))
                        .flatten()
                }),
        };
        found.ok_or_else(|| {
            ApiError::not_found("account", name.unwrap_or("(your paper account)"))
                .with_data(serde_json::json!({ "field": "account" }))
        })
    }

    /// Whether a caller may see the account named `name`.
    pub fn sees_account(&self, caller: &Caller, name: &str) -> bool {
        self.account_owner(name).is_some_and(|o| caller.sees(o))
    }

    /// Who sees events about a risk scope: the owner of the account, or
    /// of the account the bot trades; `None` (administrators) for a symbol.
    pub fn scope_owner(&self, scope: &tradedesk_core::risk::Scope) -> Option<&str> {
        use tradedesk_core::risk::Scope;
        match scope {
            Scope::Account(a) => self.account_owner(a),
            Scope::Bot(id) => self
                .accounts
                .iter()
                .find(|a| a.books.bots.contains_key(id))
                .map(|a| a.row.owner.as_str()),
            Scope::Symbol(_) => None,
        }
    }

    /// The user who owns the account named `name`.
    pub fn account_owner(&self, name: &str) -> Option<&str> {
        self.account_index(name)
            .map(|i| self.accounts[i].row.owner.as_str())
    }

    pub fn instrument(&self, symbol: &Symbol) -> Option<&Instrument> {
        self.venue
            .instruments()
            .into_iter()
            .find(|i| &i.symbol == symbol)
    }

    pub fn symbol_index(&self, symbol: &Symbol) -> Result<usize, ApiError> {
        self.venue.index_of(symbol.as_str()).ok_or_else(|| {
            let known: Vec<String> = self
                .venue
                .instruments()
                .iter()
                .map(|i| i.symbol.to_string())
                .collect();
            ApiError::invalid_params(format!(
                "invalid params: field `symbol`: unknown symbol `{symbol}` (on {}: {})",
                self.venue.name(),
                known.join(", ")
            ))
            .with_data(serde_json::json!({ "field": "symbol" }))
        })
    }

    /// What placing `v` would lock, in its reserved asset.
    pub fn reservation_of(&mut self, v: &ValidOrder) -> Result<Qty, ApiError> {
        let by = By {
            owner: "",
            bot: None,
        };
        let p = self.prepare(0, v, String::new(), by, Timestamp(0))?;
        Ok(self.reservation_for(&p.record)?.1)
    }

    /// What a new paper account holds (`sim.initial_balances`).
    pub fn initial_balances(&self) -> &[(String, Qty)] {
        &self.cfg.initial_balances
    }

    /// A new margin account's terms where its request gives none.
    pub fn default_margin(&self) -> &tradedesk_core::api::accounts::MarginTerms {
        &self.cfg.margin
    }

    /// The venue's taker fee rate.
    pub fn taker_fee(&self) -> Decimal {
        self.cfg.fees.taker
    }

    /// The venue's maker and taker rates.
    pub fn fee_rates(&self) -> tradedesk_core::strategy::FeeRates {
        tradedesk_core::strategy::FeeRates {
            maker: self.cfg.fees.maker,
            taker: self.cfg.fees.taker,
        }
    }

    /// Writes what changed in one transaction.
    pub fn persist(&self, store: &mut Store, changes: &Changes) -> Result<(), StoreError> {
        store.write(|tx| self.write_changes_in(tx, changes))?;
        self.after_write(changes);
        Ok(())
    }

    /// Drops what a written change made stale in the cache: a closed bar
    /// changes the symbol's stored klines; a bot's fill its figures.
    pub(crate) fn after_write(&self, changes: &Changes) {
        for (sym, _) in changes.bars.iter().chain(&changes.bar_fixes) {
            self.cache
                .delete_prefix(Namespace::Klines, &format!("{sym}:"));
        }
        for (_, e) in &changes.fills {
            if let Some(bot) = e.bot_id {
                invalidate_bot(&self.cache, bot);
            }
        }
    }

    /// Writes what changed inside a transaction the caller commits.
    pub(crate) fn write_changes_in(
        &self,
        tx: &rusqlite::Transaction<'_>,
        changes: &Changes,
    ) -> Result<(), StoreError> {
        for (acc, o) in &changes.new_orders {
            db::insert_order(tx, *acc, o)?;
        }
        for o in changes.orders.values() {
            db::update_order(tx, o)?;
        }
        for (acc, e) in &changes.fills {
            db::insert_fill(tx, *acc, e)?;
        }
        for &a in &changes.ledgers {
            db::save_ledger(tx, self.accounts[a].row.id, &self.accounts[a].books.total)?;
        }
        for &(a, bot) in &changes.bot_ledgers {
            if let Some(b) = self.accounts[a].books.bots.get(&bot) {
                bots_db::save_bot_ledger(tx, bot, &b.ledger)?;
            }
        }
        let at = changes
            .fills
            .last()
            .map(|f| f.1.time)
            .or(changes.at)
            .unwrap_or(Timestamp(0));
        for (a, book, sym) in &changes.positions {
            let books = &self.accounts[*a].books;
            let Some(p) = books.positions(*book).and_then(|ps| ps.get(sym)) else {
                continue;
            };
            match book {
                None => db::save_position(tx, self.accounts[*a].row.id, sym, p, at)?,
                Some(bot) => bots_db::save_bot_position(tx, *bot, sym, p, at)?,
            }
        }
        for (sym, bar) in changes.bars.iter().chain(&changes.bar_fixes) {
            db::upsert_kline(tx, sym, bar)?;
        }
        Ok(())
    }

    /// The in-memory books may be ahead of the database: the next lock
    /// rebuilds them.
    pub(crate) fn mark_stale(&mut self, why: String) {
        self.stale = Some(why);
    }

    /// A symbol's ticker as of now: last trade, best bid and ask, 24 h.
    pub fn ticker(&self, idx: usize) -> tradedesk_core::market::Ticker {
        let book = self.venue.book(idx);
        self.data[idx].ticker(
            &self.venue.instruments()[idx].symbol,
            book.best_bid().map(|l| l.price),
            book.best_ask().map(|l| l.price),
        )
    }

    /// One market tick: prices move, the tape trades, resting orders fill.
    pub fn tick(&mut self, store: &mut Store, now: Timestamp) -> (Vec<usize>, Changes) {
        let updates = self.venue.poll(now);
        let mut changes = Changes::default();
        for u in updates {
            if let Some(closed) = self.data[u.symbol].on_trade(&u.trade) {
                let symbol = self.venue.instruments()[u.symbol].symbol.clone();
                changes.bars.push((symbol, closed));
            }
            if !u.events.is_empty() {
                self.book_events(u.events, now, &mut changes);
            }
        }
        for (i, bar) in self.venue.closed_bars() {
            if self.data.get_mut(i).is_some_and(|d| d.correct(bar)) {
                let symbol = self.venue.instruments()[i].symbol.clone();
                changes.bar_fixes.push((symbol, bar));
            }
        }
        self.venue_reports(store, now, &mut changes);
        // Every symbol's book moved, with or without trades.
        let moved: Vec<usize> = (0..self.data.len()).collect();
        for d in &mut self.data {
            d.last_time = now;
        }
        if !changes.is_empty()
            && let Err(e) = self.persist(store, &changes)
        {
            tracing::error!(error = %e, "cannot write a market tick");
            self.stale = Some(format!("a database write failed: {e}"));
        }
        (moved, changes)
    }

    pub fn position_view(
        &self,
        account: usize,
        symbol: &Symbol,
    ) -> tradedesk_core::api::positions::PositionView {
        let acc = &self.accounts[account];
        self.mark_position(&acc.row.name, symbol, &acc.books.position(symbol))
    }

    /// A position as clients see it, marked at the last price.
    pub fn mark_position(
        &self,
        account: &str,
        symbol: &Symbol,
        p: &tradedesk_core::ledger::Position,
    ) -> tradedesk_core::api::positions::PositionView {
        let mark = self
            .venue
            .index_of(symbol.as_str())
            .map(|i| self.venue.last(i));
        tradedesk_core::api::positions::PositionView {
            account: account.to_owned(),
            symbol: symbol.clone(),
            qty: p.qty,
            avg_price: p.avg_price(),
            cost: p.cost,
            mark_price: mark,
            realized_pnl: p.realized_net().unwrap_or(p.realized),
            unrealized_pnl: mark.and_then(|m| p.unrealized_net(m)),
            fees: p.fees,
        }
    }

    pub fn book(&self, idx: usize, depth: usize) -> OrderBook {
        let b = self.venue.book(idx);
        OrderBook {
            bids: b.bids.iter().take(depth).copied().collect(),
            asks: b.asks.iter().take(depth).copied().collect(),
        }
    }
}

/// Drops a bot's cached analytics (after its fills or equity samples).
pub fn invalidate_bot(cache: &Cache, bot: u64) {
    cache.delete_prefix(Namespace::Analytics, &format!("bot:{bot}:"));
}

/// The default `time_in_force` and other fields for an internal market order.
pub fn market_order(symbol: Symbol, side: Side, qty: Qty) -> tradedesk_core::order::OrderRequest {
    tradedesk_core::order::OrderRequest {
        symbol,
        side,
        order_type: OrderType::Market,
        qty,
        price: None,
        stop_price: None,
        trail: None,
        time_in_force: Some(TimeInForce::Gtc),
        client_order_id: None,
        account: None,
    }
}
