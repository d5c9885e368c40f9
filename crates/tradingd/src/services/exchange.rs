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
mod market_data;
mod open_orders;
mod risk;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::services::cache::Cache;
use crate::store::bots as bots_db;
use crate::store::trading as db;
use crate::store::{Store, StoreError};
use rust_decimal::Decimal;
use tradedesk_core::api::cache::Namespace;
use tradedesk_core::api::{ApiError, ErrorCode};
use tradedesk_core::instrument::{Instrument, Symbol};
use tradedesk_core::ledger::{BookId, Books, Ledger, LedgerError};
use tradedesk_core::market::OrderBook;
use tradedesk_core::money::{Notional, Price, Qty};
use tradedesk_core::order::{OrderRecord, OrderStatus, OrderType, Side, TimeInForce, ValidOrder};
use tradedesk_core::risk::Approved;
use tradedesk_core::sim::market::SimMarket;
use tradedesk_core::sim::matching::{ExecEvent, Link, MatchingEngine, SimOrder, taker_cost};
use tradedesk_core::time::Timestamp;

pub use booking::Changes;
pub use market_data::SymbolData;
pub use open_orders::{OpenOrders, OpenQty};
pub use risk::{RiskBook, refusal_error, rejection_error};

use crate::config::SimConfig;
use crate::lock_order::{OrderedGuard, OrderedMutex, Rank};
use crate::venues::Venue;
use crate::venues::sim::SimVenue;

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
}

/// An order about to be placed: validated, with its account and funds.
struct Prepared {
    account: usize,
    record: OrderRecord,
    sim: SimOrder,
}

/// A database error as clients see it; the details go to the log.
pub(crate) fn store_err(e: &StoreError) -> ApiError {
    tracing::error!(error = %e, "database error");
    ApiError::internal("database error; see the daemon log")
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
    ) -> Result<Exchange, StoreError> {
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
                    for b in &bars {
                        db::upsert_kline(tx, &symbol, b)?;
                    }
                    Ok(())
                })?;
                tracing::info!(symbol = %symbol, bars = bars.len(), "seeded the market's history");
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
        let venue: Box<dyn Venue> = Box::new(SimVenue::new(market, engine));
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
        };
        state.load(&mut db, now)?;
        drop(db);
        Ok(Exchange {
            state: OrderedMutex::new(Rank::Exchange, state),
            store,
            retry_at: Mutex::new(None),
            suspended: Mutex::new(None),
            rebuilds: AtomicU64::new(0),
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

    /// Everything money-shaped, read from the database: accounts and their
    /// books, open orders (back into the venue), limits and states, ids.
    fn load(&mut self, store: &mut Store, now: Timestamp) -> Result<(), StoreError> {
        self.venue
            .reset_orders(db::max_trade_id(store.conn())?.saturating_add(1));
        self.next_order_id = db::max_order_id(store.conn())?.saturating_add(1);
        self.risk.reload(store)?;
        self.accounts.clear();
        self.open = OpenOrders::default();
        self.load_accounts(store, now)?;
        self.restore_orders(store, now)
    }

    /// [`Self::load`] after a failure, keeping the market's prices and bars.
    fn reload(&mut self, store: &mut Store, now: Timestamp) -> Result<(), StoreError> {
        self.load(store, now)?;
        // Figures computed from the old books may be wrong.
        self.cache.delete_prefix(Namespace::Analytics, "");
        Ok(())
    }

    fn load_accounts(&mut self, store: &mut Store, now: Timestamp) -> Result<(), StoreError> {
        let mut accounts = db::accounts(store.conn())?;
        if !accounts.iter().any(|a| a.name == PAPER_ACCOUNT) {
            let balances = self.cfg.initial_balances.clone();
            let acc = store.write(|tx| -> Result<_, StoreError> {
                let acc = db::create_account(tx, PAPER_ACCOUNT, VENUE, "admin", now)?;
                let mut l = Ledger::default();
                for (asset, amount) in &balances {
                    l.deposit(asset, *amount)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                }
                db::save_ledger(tx, acc.id, &l)?;
                Ok(acc)
            })?;
            tracing::info!(account = PAPER_ACCOUNT, "created the paper account");
            accounts.push(acc);
        }
        for a in accounts {
            let mut books = Books {
                total: db::load_ledger(store.conn(), a.id)?,
                manual: db::load_positions(store.conn(), a.id)?,
                bots: BTreeMap::new(),
            };
            for (id, sub) in bots_db::load_bot_books(store.conn(), a.id)? {
                books.bots.insert(id, sub);
            }
            self.accounts.push(Account { row: a, books });
        }
        Ok(())
    }

    /// Reconciles the database's open orders with the (fresh) engine.
    fn restore_orders(&mut self, store: &mut Store, now: Timestamp) -> Result<(), StoreError> {
        let open = db::open_orders(store.conn())?;
        let mut changes = Changes::default();
        // A bracket entry's exits, by entry: found once, not per order (a
        // scan per order would make a restart quadratic in open orders).
        let mut children: std::collections::HashMap<u64, Vec<u64>> =
            std::collections::HashMap::new();
        for o in &open {
            self.open.insert(o.clone());
            if let Some(p) = o.parent_id {
                children.entry(p).or_default().push(o.id);
            }
        }
        for exits in children.values_mut() {
            exits.sort_unstable();
        }
        for o in open {
            if o.status == OrderStatus::New {
                tracing::warn!(
                    order = o.id,
                    "order never reached the venue before the daemon stopped; rejecting it"
                );
                self.open.update(o.id, |r| {
                    r.reason = Some("the daemon stopped before the order reached the venue".into());
                });
                self.book_events(
                    vec![ExecEvent::Rejected {
                        id: o.id,
                        reason: "the daemon stopped before the order reached the venue".into(),
                    }],
                    now,
                    &mut changes,
                );
                continue;
            }
            let Some(idx) = self.venue.index_of(o.symbol.as_str()) else {
                tracing::warn!(order = o.id, symbol = %o.symbol, "symbol no longer on the venue; cancelling");
                self.book_events(
                    vec![ExecEvent::Cancelled {
                        id: o.id,
                        reason: "symbol no longer listed".into(),
                    }],
                    now,
                    &mut changes,
                );
                continue;
            };
            let link =
                if let Some(parent) = o.parent_id.filter(|_| o.status == OrderStatus::Pending) {
                    Link::Exit { entry: parent }
                } else if let Some(sib) = o.oco_id {
                    Link::Oco(sib)
                } else {
                    let exits = children.get(&o.id).map_or(&[][..], Vec::as_slice);
                    match *exits {
                        [take_profit, stop_loss] => Link::Entry {
                            take_profit,
                            stop_loss,
                        },
                        _ => Link::None,
                    }
                };
            let sim = self.sim_order(&o, idx);
            self.venue.restore(
                sim,
                o.open_qty(),
                o.filled,
                o.triggered,
                o.status == OrderStatus::Pending,
                link,
            );
        }
        if !changes.is_empty() {
            self.persist(store, &changes)?;
        }
        tracing::info!(
            open_orders = self.open.len(),
            "open orders restored into the engine"
        );
        Ok(())
    }

    fn sim_order(&self, o: &OrderRecord, symbol: usize) -> SimOrder {
        let lot = self.venue.instruments()[symbol].lot_size;
        SimOrder {
            id: o.id,
            symbol,
            side: o.side,
            order_type: o.order_type,
            qty: o.qty,
            price: o.price,
            stop_price: o.stop_price,
            trail: o.trail,
            time_in_force: o.time_in_force,
            budget: (o.side == Side::Buy && o.reserved.is_positive())
                .then(|| Notional::new(o.reserved.get())),
            lot,
        }
    }

    pub fn account_index(&self, name: &str) -> Option<usize> {
        self.accounts.iter().position(|a| a.row.name == name)
    }

    pub fn account(&self, name: Option<&str>) -> Result<usize, ApiError> {
        let name = name.unwrap_or(PAPER_ACCOUNT);
        self.account_index(name).ok_or_else(|| {
            ApiError::not_found("account", name)
                .with_data(serde_json::json!({ "field": "account" }))
        })
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

    /// What an order must lock: base for a sell; quote for a buy, enough
    /// for its worst fill plus the taker fee.
    fn reservation_for(&self, o: &OrderRecord) -> Result<(String, Qty), ApiError> {
        let idx = self.symbol_index(&o.symbol)?;
        let inst = self.venue.instruments()[idx];
        let (book, last) = (self.venue.book(idx), self.venue.last(idx));
        if o.side == Side::Sell {
            return Ok((inst.base.clone(), o.qty));
        }
        let overflow = || {
            ApiError::invalid_params("invalid params: field `qty`: the order's value is too large")
                .with_data(serde_json::json!({ "field": "qty" }))
        };
        let fee = Decimal::ONE
            .checked_add(self.cfg.fees.taker)
            .ok_or_else(overflow)?;
        let buffered = Decimal::ONE
            .checked_add(self.cfg.buy_stop_buffer)
            .ok_or_else(overflow)?;
        let per_unit = |p: Price, buffer: Decimal| {
            p.get().checked_mul(buffer).and_then(|x| x.checked_mul(fee))
        };
        let amount = match o.order_type {
            OrderType::Market => {
                let (cost, _) = taker_cost(book, Side::Buy, o.qty, None);
                cost.get().checked_mul(fee)
            }
            OrderType::Limit | OrderType::StopLimit => o
                .price
                .and_then(|p| per_unit(p, Decimal::ONE))
                .and_then(|u| u.checked_mul(o.qty.get())),
            OrderType::StopMarket | OrderType::TakeProfit => o
                .stop_price
                .and_then(|p| per_unit(p, buffered))
                .and_then(|u| u.checked_mul(o.qty.get())),
            OrderType::TrailingStop => o
                .trail
                .and_then(|t| t.stop_from(Side::Buy, last))
                .and_then(|p| per_unit(p, buffered))
                .and_then(|u| u.checked_mul(o.qty.get())),
        }
        .ok_or_else(overflow)?;
        Ok((inst.quote.clone(), Qty::new(amount.normalize())))
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

    fn client_order_id(&mut self, given: Option<&str>, suffix: &str, now: Timestamp) -> String {
        match given {
            Some(id) if suffix.is_empty() => id.to_owned(),
            Some(id) => format!("{id}-{suffix}"),
            None => {
                self.next_client_seq = self.next_client_seq.saturating_add(1);
                let base = format!("td-{:x}-{}", now.millis(), self.next_client_seq);
                if suffix.is_empty() {
                    base
                } else {
                    format!("{base}-{suffix}")
                }
            }
        }
    }

    fn prepare(
        &mut self,
        account: usize,
        v: &ValidOrder,
        client_order_id: String,
        by: By<'_>,
        now: Timestamp,
    ) -> Result<Prepared, ApiError> {
        let idx = self.symbol_index(&v.symbol)?;
        let record = OrderRecord {
            id: 0,
            account: self.accounts[account].row.name.clone(),
            client_order_id,
            symbol: v.symbol.clone(),
            side: v.side,
            order_type: v.order_type,
            qty: v.qty,
            price: v.price,
            stop_price: v.stop_price,
            trail: v.trail,
            time_in_force: v.time_in_force,
            status: OrderStatus::New,
            filled: Qty::ZERO,
            filled_notional: Notional::ZERO,
            avg_price: None,
            fees: Notional::ZERO,
            reserved: Qty::ZERO,
            reserved_asset: String::new(),
            triggered: false,
            parent_id: None,
            oco_id: None,
            reason: None,
            owner: by.owner.to_owned(),
            bot_id: by.bot,
            created: now,
            updated: now,
        };
        let sim = self.sim_order(&record, idx);
        Ok(Prepared {
            account,
            record,
            sim,
        })
    }

    /// A placement sent again (a client retrying after a lost answer): when
    /// every client order id it would use exists and each stored order is
    /// the one asked for, those orders, to answer with as if just placed;
    /// when none exists, `None` (place it). Anything else — some exist, or
    /// one differs — is a `duplicate_client_id` error carrying the stored
    /// order. Checked before the risk check: a retry is not a new order.
    pub fn replay(
        &self,
        store: &Store,
        account: usize,
        book: BookId,
        orders: &[(String, &ValidOrder)],
    ) -> Result<Option<Vec<OrderRecord>>, ApiError> {
        let mut found = Vec::new();
        for (cid, _) in orders {
            found.push(db::order_by_client_id(store.conn(), cid).map_err(|e| store_err(&e))?);
        }
        if found.iter().all(Option::is_none) {
            return Ok(None);
        }
        let name = &self.accounts[account].row.name;
        let mut out = Vec::new();
        for ((cid, want), have) in orders.iter().zip(found) {
            let same = have.as_ref().is_some_and(|o| {
                &o.account == name
                    && o.bot_id == book
                    && o.symbol == want.symbol
                    && o.side == want.side
                    && o.order_type == want.order_type
                    && o.qty == want.qty
                    && o.price == want.price
                    && o.stop_price == want.stop_price
                    && o.trail == want.trail
                    && o.time_in_force == want.time_in_force
            });
            match have {
                Some(o) if same => out.push(o),
                Some(o) => {
                    return Err(ApiError::new(
                        ErrorCode::DuplicateClientId,
                        format!(
                            "an order with client_order_id `{cid}` exists (id {}) and differs from this one",
                            o.id
                        ),
                    )
                    .with_data(serde_json::to_value(&o).unwrap_or_default()));
                }
                None => {
                    return Err(ApiError::new(
                        ErrorCode::DuplicateClientId,
                        format!("client_order_id `{cid}` belongs to part of an earlier placement"),
                    ));
                }
            }
        }
        Ok(Some(out))
    }

    /// Checks that the client order ids are free; an existing one is a
    /// duplicate error carrying the existing order.
    fn check_duplicates(store: &Store, ids: &[&str]) -> Result<(), ApiError> {
        for id in ids {
            if let Some(existing) =
                db::order_by_client_id(store.conn(), id).map_err(|e| store_err(&e))?
            {
                return Err(ApiError::new(
                    ErrorCode::DuplicateClientId,
                    format!(
                        "an order with client_order_id `{id}` exists (id {})",
                        existing.id
                    ),
                )
                .with_data(serde_json::to_value(&existing).unwrap_or_default()));
            }
        }
        Ok(())
    }

    fn check_healthy(&self) -> Result<(), ApiError> {
        match &self.degraded {
            Some(why) => Err(ApiError::new(
                ErrorCode::VenueUnavailable,
                format!("trading is suspended until the daemon restarts: {why}"),
            )),
            None => Ok(()),
        }
    }

    /// Locks funds for a group of orders (the first holds them), assigns
    /// ids and links, and queues their `new` rows, which are written in the
    /// same transaction as the venue's answer.
    fn admit(
        &mut self,
        group: &mut [Prepared],
        reserve: &(String, Qty),
        changes: &mut Changes,
    ) -> Result<(), ApiError> {
        let account = group[0].account;
        {
            let (asset, amount) = reserve;
            let book = group[0].record.bot_id;
            self.accounts[account]
                .books
                .lock(book, asset, *amount)
                .map_err(|e| funds_err(&e))?;
            changes.book(account, book);
            group[0].record.reserved = *amount;
            group[0].record.reserved_asset.clone_from(asset);
            if group[0].record.side == Side::Buy {
                group[0].sim.budget = Some(Notional::new(amount.get()));
            }
            changes.ledger(account);
        }
        for p in group.iter_mut() {
            p.record.id = self.next_order_id;
            p.sim.id = p.record.id;
            self.next_order_id = self.next_order_id.saturating_add(1);
        }
        let first = group[0].record.id;
        match group.len() {
            2 => {
                let second = group[1].record.id;
                group[0].record.oco_id = Some(second);
                group[1].record.oco_id = Some(first);
            }
            3 => {
                // A bracket's exits wait for the entry, then cancel each other.
                let (tp, sl) = (group[1].record.id, group[2].record.id);
                group[1].record.oco_id = Some(sl);
                group[2].record.oco_id = Some(tp);
                for p in group.iter_mut().skip(1) {
                    p.record.parent_id = Some(first);
                }
            }
            _ => {}
        }
        let acc_id = self.accounts[account].row.id;
        for p in group.iter_mut() {
            changes.new_orders.push((acc_id, p.record.clone()));
            if p.record.parent_id.is_some() {
                p.record.status = OrderStatus::Pending;
            }
            self.open.insert(p.record.clone());
            changes.orders.insert(p.record.id, p.record.clone());
        }
        Ok(())
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
        for (sym, _) in &changes.bars {
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
        let at = Timestamp(changes.fills.last().map_or(0, |f| f.1.time.millis()));
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
        for (sym, bar) in &changes.bars {
            db::upsert_kline(tx, sym, bar)?;
        }
        Ok(())
    }

    /// The in-memory books may be ahead of the database: the next lock
    /// rebuilds them.
    pub(crate) fn mark_stale(&mut self, why: String) {
        self.stale = Some(why);
    }

    fn commit(&mut self, store: &mut Store, changes: &Changes) -> Result<(), ApiError> {
        self.persist(store, changes).map_err(|e| {
            self.stale = Some(format!("a database write failed: {e}"));
            store_err(&e)
        })
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

    /// Places one order.
    pub fn place(
        &mut self,
        store: &mut Store,
        account: usize,
        approved: &Approved,
        owner: &str,
        now: Timestamp,
    ) -> Result<(OrderRecord, Changes), ApiError> {
        self.check_healthy()?;
        let v = approved.order();
        let by = By {
            owner,
            bot: approved.book(),
        };
        let cid = self.client_order_id(v.client_order_id.as_deref(), "", now);
        Self::check_duplicates(store, &[&cid])?;
        let prepared = self.prepare(account, v, cid, by, now)?;
        let reserve = self.reservation_for(&prepared.record)?;
        let mut changes = Changes::default();
        let mut group = [prepared];
        self.admit(&mut group, &reserve, &mut changes)?;
        let [p] = group;
        let events = self.venue.submit(p.sim, now);
        self.book_events(events, now, &mut changes);
        self.commit(store, &changes)?;
        let latest = changes
            .orders
            .get(&p.record.id)
            .cloned()
            .unwrap_or(p.record);
        Ok((latest, changes))
    }

    /// Places an OCO pair: a limit and a stop (market or limit) on one side.
    pub fn place_oco(
        &mut self,
        store: &mut Store,
        account: usize,
        limit: &Approved,
        stop: &Approved,
        owner: &str,
        now: Timestamp,
    ) -> Result<([OrderRecord; 2], Changes), ApiError> {
        self.check_healthy()?;
        if limit.book() != stop.book() {
            return Err(ApiError::internal(
                "an OCO pair's legs were approved for different books",
            ));
        }
        let by = By {
            owner,
            bot: limit.book(),
        };
        let (limit, stop) = (limit.order(), stop.order());
        let base = limit.client_order_id.clone();
        let (c1, c2) = (
            self.client_order_id(base.as_deref(), "limit", now),
            self.client_order_id(base.as_deref(), "stop", now),
        );
        Self::check_duplicates(store, &[&c1, &c2])?;
        let a = self.prepare(account, limit, c1, by, now)?;
        let b = self.prepare(account, stop, c2, by, now)?;
        let (ra, rb) = (
            self.reservation_for(&a.record)?,
            self.reservation_for(&b.record)?,
        );
        // Only one leg can execute: the pair holds the larger of the two.
        let reserve = if ra.1 >= rb.1 { ra } else { rb };
        let mut changes = Changes::default();
        let mut group = [a, b];
        self.admit(&mut group, &reserve, &mut changes)?;
        let [a, mut b] = group;
        b.sim.budget = a.sim.budget;
        let ids = [a.record.id, b.record.id];
        let events = self.venue.submit_oco(a.sim, b.sim, now);
        self.book_events(events, now, &mut changes);
        self.commit(store, &changes)?;
        let get =
            |id: u64, fallback: OrderRecord| changes.orders.get(&id).cloned().unwrap_or(fallback);
        Ok(([get(ids[0], a.record), get(ids[1], b.record)], changes))
    }

    /// Places an entry with a take-profit and a stop-loss exit.
    pub fn place_bracket(
        &mut self,
        store: &mut Store,
        account: usize,
        approved: [&Approved; 3],
        owner: &str,
        now: Timestamp,
    ) -> Result<([OrderRecord; 3], Changes), ApiError> {
        self.check_healthy()?;
        if approved.iter().any(|a| a.book() != approved[0].book()) {
            return Err(ApiError::internal(
                "a bracket's orders were approved for different books",
            ));
        }
        let by = By {
            owner,
            bot: approved[0].book(),
        };
        let orders = approved.map(Approved::order);
        let base = orders[0].client_order_id.clone();
        let cids = ["entry", "tp", "sl"].map(|s| self.client_order_id(base.as_deref(), s, now));
        Self::check_duplicates(store, &[&cids[0], &cids[1], &cids[2]])?;
        let [c0, c1, c2] = cids;
        let entry = self.prepare(account, orders[0], c0, by, now)?;
        let tp = self.prepare(account, orders[1], c1, by, now)?;
        let sl = self.prepare(account, orders[2], c2, by, now)?;
        let reserve = self.reservation_for(&entry.record)?;
        let mut changes = Changes::default();
        let mut group = [entry, tp, sl];
        self.admit(&mut group, &reserve, &mut changes)?;
        let [e, tp, sl] = group;
        let ids = [e.record.id, tp.record.id, sl.record.id];
        let events = self.venue.submit_bracket(e.sim, tp.sim, sl.sim, now);
        self.book_events(events, now, &mut changes);
        self.commit(store, &changes)?;
        let get =
            |id: u64, fallback: OrderRecord| changes.orders.get(&id).cloned().unwrap_or(fallback);
        Ok((
            [
                get(ids[0], e.record),
                get(ids[1], tp.record),
                get(ids[2], sl.record),
            ],
            changes,
        ))
    }

    /// Cancels an open order.
    pub fn cancel(
        &mut self,
        store: &mut Store,
        id: u64,
        reason: &str,
        now: Timestamp,
    ) -> Result<Changes, ApiError> {
        if !self.open.contains_key(&id) {
            return Err(ApiError::internal("cancel of an order that is not open"));
        }
        self.cancel_many(store, &[id], reason, now)
    }

    /// Cancels open orders together: booked one by one, written in one
    /// transaction (one sync, however many orders). Ids no longer open
    /// (an OCO sibling cancelled with its pair) are skipped.
    pub fn cancel_many(
        &mut self,
        store: &mut Store,
        ids: &[u64],
        reason: &str,
        now: Timestamp,
    ) -> Result<Changes, ApiError> {
        let mut changes = Changes::default();
        self.cancel_in_memory(ids, reason, now, &mut changes);
        if !changes.is_empty() {
            self.commit(store, &changes)?;
        }
        Ok(changes)
    }

    /// Cancels open orders in the venue and the books, for the caller to
    /// write. Ids no longer open are skipped.
    pub(crate) fn cancel_in_memory(
        &mut self,
        ids: &[u64],
        reason: &str,
        now: Timestamp,
        changes: &mut Changes,
    ) {
        for &id in ids {
            if !self.open.contains_key(&id) {
                continue;
            }
            if self.venue.is_live(id) {
                let events = self.venue.cancel(id, reason, now);
                self.book_events(events, now, changes);
            } else {
                self.book_events(
                    vec![ExecEvent::Cancelled {
                        id,
                        reason: reason.to_owned(),
                    }],
                    now,
                    changes,
                );
            }
        }
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
