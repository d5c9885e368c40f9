//! Margin accounts on the simulator: selling what a book does not hold
//! (a short) borrows it; the initial margin bounds what a book may take
//! on; interest accrues on what is owed; a book whose equity falls to the
//! maintenance level is liquidated. The model is a backtest's
//! `settings.margin` (see ARCHITECTURE.md, "Margin accounts").
//!
//! - **Borrowing.** A sell of more than the book holds free borrows the
//!   difference when it is placed (it is then locked like any sell's base);
//!   whatever comes back free — a cancel's release, a buy's fill — first
//!   repays what is owed (`Books::settle`).
//! - **Initial margin.** Equity is what the book holds less what it owes,
//!   at the last prices; its gross value is, per base asset, the larger of
//!   what it holds and what it owes. An order that borrows, or a buy beyond
//!   what covers a short, is refused (`insufficient_funds`, field `qty`)
//!   when it would take the gross value above `equity × leverage`.
//! - **Interest.** At every `borrow_period` boundary each book pays
//!   `borrow_pct` of what it owes (valued at the last price) in the quote
//!   asset, borrowing quote when it has none free; the charge counts in the
//!   position's fees, so the trade that closes it realizes it.
//! - **Liquidation.** A bot whose book's equity is at or below
//!   `maintenance_pct` of its gross value is halted and its positions
//!   closed at market; the same of the whole account halts the account and
//!   closes every book's positions. A halted scope is resumed by hand
//!   (`risk.resume`).

use rust_decimal::Decimal;
use tradedesk_core::api::accounts::{MarginStatus, MarginTerms};
use tradedesk_core::api::risk::{Alert, Severity};
use tradedesk_core::api::{ApiError, ErrorCode};
use tradedesk_core::instrument::Symbol;
use tradedesk_core::ledger::{Balance, BookId};
use tradedesk_core::money::{Notional, Qty, Ratio};
use tradedesk_core::order::Side;
use tradedesk_core::risk::{Scope, TradingState};
use tradedesk_core::time::Timestamp;

use super::{Changes, State, funds_err, market_order};
use crate::store::Store;
use crate::store::trading as db;

/// A book's equity and gross position value at the last prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub equity: Decimal,
    pub gross: Decimal,
}

impl Standing {
    /// Whether the equity is at or below `maintenance` (a fraction) of the
    /// gross value: a margin call.
    pub fn breached(&self, maintenance: Decimal) -> bool {
        self.gross.is_sign_positive()
            && !self.gross.is_zero()
            && self.equity <= self.gross.saturating_mul(maintenance)
    }
}

fn excess(amount: Qty, beyond: Qty) -> Qty {
    amount
        .checked_sub(beyond)
        .filter(|q| q.is_positive())
        .unwrap_or(Qty::ZERO)
}

impl State {
    /// An account's margin terms, if it is a margin account.
    pub fn margin_of(&self, account: usize) -> Option<&MarginTerms> {
        self.accounts.get(account)?.row.margin.as_ref()
    }

    /// The balances of one book (`all`: every book of the account).
    fn book_balances(&self, account: usize, book: BookId, all: bool) -> Vec<(String, Balance)> {
        let books = &self.accounts[account].books;
        books
            .total
            .balances()
            .iter()
            .map(|(asset, b)| {
                let own = if all { *b } else { books.balance(book, asset) };
                (asset.clone(), own)
            })
            .collect()
    }

    fn standing_of(&self, balances: &[(String, Balance)]) -> Standing {
        let instruments = self.venue.instruments();
        let mut s = Standing {
            equity: Decimal::ZERO,
            gross: Decimal::ZERO,
        };
        for (asset, b) in balances {
            let Some(unit) = self.unit_value(&instruments, asset) else {
                continue;
            };
            s.equity = s.equity.saturating_add(b.net().get().saturating_mul(unit));
            if !instruments.iter().any(|i| &i.quote == asset) {
                let gross = b.total().max(b.borrowed).get();
                s.gross = s.gross.saturating_add(gross.saturating_mul(unit));
            }
        }
        s
    }

    /// A book's standing (`book` `None`: the manual book).
    pub fn book_standing(&self, account: usize, book: BookId) -> Standing {
        self.standing_of(&self.book_balances(account, book, false))
    }

    /// The whole account's standing, every book's together.
    pub fn account_standing(&self, account: usize) -> Standing {
        self.standing_of(&self.book_balances(account, None, true))
    }

    /// A margin account's standing as clients see it.
    pub fn margin_status(&self, account: usize) -> Option<MarginStatus> {
        let terms = self.margin_of(account)?;
        let s = self.account_standing(account);
        let level = (!s.gross.is_zero()).then(|| {
            Ratio::new(
                s.equity
                    .saturating_mul(Decimal::ONE_HUNDRED)
                    .checked_div(s.gross)
                    .unwrap_or(Decimal::ZERO)
                    .round_dp(2)
                    .normalize(),
            )
        });
        let capacity = s.equity.saturating_mul(terms.leverage.get());
        Some(MarginStatus {
            equity: Notional::new(s.equity.round_dp(8).normalize()),
            gross: Notional::new(s.gross.round_dp(8).normalize()),
            level_pct: level,
            maintenance_pct: Ratio::new(
                terms
                    .maintenance()
                    .saturating_mul(Decimal::ONE_HUNDRED)
                    .round_dp(4)
                    .normalize(),
            ),
            available: Notional::new(
                capacity
                    .saturating_sub(s.gross)
                    .max(Decimal::ZERO)
                    .round_dp(8)
                    .normalize(),
            ),
        })
    }

    /// On a margin account: checks the initial margin of an order of
    /// `book` (`side`, `qty` of `symbol`, reserving `reserve` of
    /// `asset`), and borrows what a sell needs beyond what the book holds
    /// free. A spot account is left alone. Nothing changes on error.
    pub(super) fn margin_reserve(
        &mut self,
        account: usize,
        book: BookId,
        symbol: &Symbol,
        side: Side,
        qty: Qty,
        reserve: (&str, Qty),
    ) -> Result<(), ApiError> {
        let Some(terms) = self.margin_of(account).cloned() else {
            return Ok(());
        };
        let idx = self.symbol_index(symbol)?;
        let base = self.venue.instruments()[idx].base.clone();
        let price = self.venue.last(idx).get();
        let held = self.accounts[account].books.balance(book, &base);
        let (more, borrow) = match side {
            // A sell beyond what is free borrows the rest: the book then
            // holds and owes it (both count once in the gross value).
            Side::Sell => {
                let borrow = excess(reserve.1, held.free);
                (borrow, borrow)
            }
            // A buy first covers what is owed; only the rest is new.
            Side::Buy => (excess(qty, held.borrowed), Qty::ZERO),
        };
        if more.is_positive() {
            let now = self.book_standing(account, book);
            let after = now.gross.saturating_add(more.get().saturating_mul(price));
            let capacity = now.equity.saturating_mul(terms.leverage.get());
            if after > capacity {
                return Err(ApiError::new(
                    ErrorCode::InsufficientFunds,
                    format!(
                        "margin: this order would take the gross position value to {} \
                         (at the last price), above equity {} × leverage {} = {}",
                        after.round_dp(2).normalize(),
                        now.equity.round_dp(2).normalize(),
                        terms.leverage,
                        capacity.round_dp(2).normalize()
                    ),
                )
                .with_data(serde_json::json!({ "field": "qty", "limit": "margin" })));
            }
        }
        if borrow.is_positive() {
            self.accounts[account]
                .books
                .borrow(book, reserve.0, borrow)
                .map_err(|e| funds_err(&e))?;
        }
        Ok(())
    }

    /// The margin accounts' upkeep at a tick: interest at period
    /// boundaries, then liquidation of every book (bot, or the whole
    /// account) at or below its maintenance level. Returns what changed
    /// and the alerts raised.
    pub fn margin_tick(&mut self, store: &mut Store, now: Timestamp) -> (Changes, Vec<Alert>) {
        let mut changes = Changes::default();
        let mut alerts = Vec::new();
        for account in 0..self.accounts.len() {
            if self.margin_of(account).is_none() {
                continue;
            }
            if let Err(e) = self.charge_interest(store, account, now, &mut changes) {
                tracing::error!(error = %e, "cannot charge borrow interest");
            }
            match self.liquidate_breached(store, account, now) {
                Ok((c, a)) => {
                    changes.absorb(c);
                    alerts.extend(a);
                }
                Err(e) => tracing::error!(error = %e.message, "cannot liquidate"),
            }
        }
        (changes, alerts)
    }

    /// Charges each book of a margin account its interest for every
    /// period boundary passed since it was last charged.
    fn charge_interest(
        &mut self,
        store: &mut Store,
        account: usize,
        now: Timestamp,
        changes: &mut Changes,
    ) -> Result<(), String> {
        let Some(terms) = self.margin_of(account).cloned() else {
            return Ok(());
        };
        let period = terms.borrow_period.millis().max(1);
        let since = self.accounts[account].row.borrow_charged.unwrap_or(now);
        let periods = now
            .millis()
            .div_euclid(period)
            .saturating_sub(since.millis().div_euclid(period));
        if periods <= 0 {
            return Ok(());
        }
        let rate = terms
            .borrow_pct
            .get()
            .checked_div(Decimal::ONE_HUNDRED)
            .unwrap_or(Decimal::ZERO)
            .saturating_mul(Decimal::from(periods));
        let mut local = Changes {
            at: Some(now),
            ..Changes::default()
        };
        if !rate.is_zero() {
            let books: Vec<BookId> = std::iter::once(None)
                .chain(self.accounts[account].books.bots.keys().map(|b| Some(*b)))
                .collect();
            let instruments: Vec<_> = self.venue.instruments().into_iter().cloned().collect();
            for book in books {
                for (i, inst) in instruments.iter().enumerate() {
                    let owed = self.accounts[account]
                        .books
                        .balance(book, &inst.base)
                        .borrowed;
                    if !owed.is_positive() {
                        continue;
                    }
                    let value = owed
                        .get()
                        .saturating_mul(self.venue.last(i).get())
                        .saturating_mul(rate)
                        .round_dp(8);
                    if value.is_zero() {
                        continue;
                    }
                    self.accounts[account]
                        .books
                        .charge(book, &inst.symbol, &inst.quote, Notional::new(value))
                        .map_err(|e| e.to_string())?;
                    local.book(account, book);
                    local.positions.push((account, book, inst.symbol.clone()));
                    tracing::info!(account = %self.accounts[account].row.name, bot = ?book,
                        symbol = %inst.symbol, owed = %owed, charged = %value, "borrow interest");
                }
            }
        }
        let id = self.accounts[account].row.id;
        // The charges and the time they run to, in one transaction.
        let written = store.write(|tx| {
            self.write_changes_in(tx, &local)?;
            db::set_borrow_charged(tx, id, now)
        });
        if let Err(e) = written {
            self.mark_stale(format!("a database write failed: {e}"));
            return Err(e.to_string());
        }
        self.after_write(&local);
        self.accounts[account].row.borrow_charged = Some(now);
        changes.absorb(local);
        Ok(())
    }

    /// Halts and flattens every book of a margin account at or below its
    /// maintenance level: the whole account when its total is, else each
    /// bot that is.
    fn liquidate_breached(
        &mut self,
        store: &mut Store,
        account: usize,
        now: Timestamp,
    ) -> Result<(Changes, Vec<Alert>), ApiError> {
        let Some(maintenance) = self.margin_of(account).map(MarginTerms::maintenance) else {
            return Ok((Changes::default(), Vec::new()));
        };
        let name = self.accounts[account].row.name.clone();
        let mut breached = Vec::new();
        let total = self.account_standing(account);
        if total.breached(maintenance) {
            breached.push((Scope::Account(name), total));
        } else {
            for &bot in self.accounts[account].books.bots.keys() {
                let s = self.book_standing(account, Some(bot));
                if s.breached(maintenance) {
                    breached.push((Scope::Bot(bot), s));
                }
            }
        }
        let mut changes = Changes::default();
        let mut alerts = Vec::new();
        for (scope, s) in breached {
            let reason = format!(
                "liquidation: equity {} is at or below the maintenance margin ({} % of the gross \
                 position value {}); its orders are cancelled and its positions closed at market",
                s.equity.round_dp(2).normalize(),
                maintenance
                    .saturating_mul(Decimal::ONE_HUNDRED)
                    .round_dp(4)
                    .normalize(),
                s.gross.round_dp(2).normalize()
            );
            // Halted and alerted once; a flatten that could not finish is
            // tried again at the next tick.
            if self.risk.state_of(&scope) != TradingState::Halted {
                tracing::warn!(%scope, %reason, "margin call");
                let (alert, c) = self.set_risk_state(
                    store,
                    &scope,
                    TradingState::Halted,
                    Some(reason),
                    Severity::Critical,
                    now,
                )?;
                changes.absorb(c);
                alerts.push(alert);
            }
            changes.absorb(self.cancel_scope(store, &scope, "liquidation", now)?);
            changes.absorb(self.flatten(store, &scope, now)?);
        }
        Ok((changes, alerts))
    }

    /// Closes every position of a scope at market (closing orders,
    /// approved in any state): sells longs first, then buys back shorts
    /// (with what the sales freed; on a margin account, borrowing quote
    /// for what the cash cannot pay). For an account: its manual book and
    /// every bot's book. The kill switch's flatten and liquidation.
    pub fn flatten(
        &mut self,
        store: &mut Store,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<Changes, ApiError> {
        let mut work = Vec::new();
        for (i, acc) in self.accounts.iter().enumerate() {
            let books: Vec<BookId> = match scope {
                Scope::Account(a) if &acc.row.name == a => std::iter::once(None)
                    .chain(acc.books.bots.keys().map(|b| Some(*b)))
                    .collect(),
                Scope::Bot(b) if acc.books.bots.contains_key(b) => vec![Some(*b)],
                _ => Vec::new(),
            };
            for book in books {
                for (symbol, p) in acc.books.positions(book).into_iter().flatten() {
                    if !p.qty.is_zero() {
                        work.push((i, book, symbol.clone(), p.qty));
                    }
                }
            }
        }
        // Sales first: a short's buy-back may need what they bring in.
        work.sort_by_key(|w| w.3.is_negative());
        let mut all = Changes::default();
        for (account, book, symbol, held) in work {
            let Some(inst) = self.instrument(&symbol).cloned() else {
                continue;
            };
            let qty = held.abs().floor_to(inst.lot_size).unwrap_or(Qty::ZERO);
            if qty.is_zero() {
                continue;
            }
            let side = if held.is_negative() {
                Side::Buy
            } else {
                Side::Sell
            };
            let valid = market_order(symbol, side, qty)
                .validate(&inst)
                .map_err(|e| ApiError::internal(format!("flatten order: {e}")))?;
            if side == Side::Buy && self.margin_of(account).is_some() {
                // A buy-back the book's cash cannot pay (its equity went
                // below zero) borrows the rest: the account is left owing
                // quote, as a margin venue leaves it.
                let need = self.reservation_of(&valid)?;
                let free = self.accounts[account].books.balance(book, &inst.quote).free;
                let short = excess(need, free);
                if short.is_positive() {
                    self.accounts[account]
                        .books
                        .borrow(book, &inst.quote, short)
                        .map_err(|e| funds_err(&e))?;
                }
            }
            let approved = self.approve_closing(account, book, valid)?;
            let owner = self.accounts[account].row.owner.clone();
            let (_, changes) = self.place(store, account, &approved, &owner, now)?;
            all.absorb(changes);
        }
        Ok(all)
    }
}
