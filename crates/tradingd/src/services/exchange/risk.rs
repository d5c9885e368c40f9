//! The risk book of the execution service: limits and trading states by
//! scope, rate windows, loss and drawdown baselines; the pre-trade check
//! every order passes on its way to the venue, and the monitor that halts
//! a scope whose daily loss or drawdown reaches its limit.

use std::collections::{BTreeMap, BTreeSet};

use crate::store::risk::{self as db, StoredState};
use crate::store::{Store, StoreError};
use rust_decimal::Decimal;
use tradedesk_core::api::risk::{Alert, RiskStatusView, ScopeState, Severity, Usage};
use tradedesk_core::api::{ApiError, ErrorCode};
use tradedesk_core::instrument::Symbol;
use tradedesk_core::ledger::{Balance, BookId, Ledger};
use tradedesk_core::money::Qty;
use tradedesk_core::order::ValidOrder;
use tradedesk_core::risk::{
    self as core_risk, Approved, Limits, MarketFacts, RateWindow, Refusal, RejectKind, Rejection,
    Scope, ScopeFacts, TradingState,
};
use tradedesk_core::time::Timestamp;

use super::{OpenQty, State, store_err};

mod watch;
use watch::{drawdown_pct, loss_since};
mod states;

const DAY_MS: i64 = 86_400_000;
#[derive(Debug, Default)]
pub struct RiskBook {
    pub limits: BTreeMap<Scope, Limits>,
    pub states: BTreeMap<Scope, StoredState>,
    windows: BTreeMap<Scope, RateWindow>,
    peak_saved: BTreeMap<Scope, i64>,
    /// Warnings raised: (scope, limit, risk day), so each is raised once a day.
    warned: BTreeSet<(Scope, String, i64)>,
    empty: Limits,
    /// Alerts raised in the order path, published with its changes.
    pending: std::sync::Mutex<Vec<Alert>>,
}

impl RiskBook {
    pub fn load(store: &Store) -> Result<RiskBook, StoreError> {
        Ok(RiskBook {
            limits: db::load_limits(store.conn())?,
            states: db::load_states(store.conn())?,
            ..RiskBook::default()
        })
    }

    /// Limits and states as stored; the rate windows and raised warnings
    /// (kept only in memory) stay.
    pub fn reload(&mut self, store: &Store) -> Result<(), StoreError> {
        self.limits = db::load_limits(store.conn())?;
        self.states = db::load_states(store.conn())?;
        Ok(())
    }

    /// Records a critical alert, published with the next changes.
    pub fn alert(
        &self,
        store: &mut Store,
        now: Timestamp,
        scope: &Scope,
        kind: &str,
        message: &str,
    ) {
        match store.write(|tx| db::insert_alert(tx, now, Severity::Critical, scope, kind, message))
        {
            Ok(a) => self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(a),
            Err(e) => tracing::error!(error = %e, "cannot record an alert"),
        }
    }

    pub fn limits_of(&self, scope: &Scope) -> &Limits {
        self.limits.get(scope).unwrap_or(&self.empty)
    }

    pub fn state_of(&self, scope: &Scope) -> TradingState {
        self.states
            .get(scope)
            .map_or(TradingState::Active, |s| s.state)
    }

    /// Alerts raised since the last call, to publish.
    pub fn take_alerts(&self) -> Vec<Alert> {
        std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub fn view(&self, scope: &Scope) -> ScopeState {
        let s = self.states.get(scope).cloned().unwrap_or_default();
        ScopeState {
            scope: scope.clone(),
            state: s.state,
            reason: s.reason,
            since: s.since,
        }
    }
}

/// The rejection as an API error: its code by kind, the rejection as data.
pub fn rejection_error(r: &Rejection) -> ApiError {
    let code = match r.kind {
        RejectKind::Limit => ErrorCode::RiskRejected,
        RejectKind::Throttled => ErrorCode::Throttled,
        RejectKind::State => ErrorCode::TradingHalted,
    };
    ApiError::new(code, r.message.clone()).with_data(serde_json::to_value(r).unwrap_or_default())
}

/// A too-large amount as the field's error.
pub fn refusal_error(field: &str, message: &str) -> ApiError {
    ApiError::invalid_params(format!("invalid params: field `{field}`: {message}"))
        .with_data(serde_json::json!({ "field": field }))
}

/// Whether an order belongs to a scope.
fn in_scope(o: &tradedesk_core::order::OrderRecord, scope: &Scope) -> bool {
    match scope {
        Scope::Account(a) => &o.account == a,
        Scope::Bot(b) => o.bot_id == Some(*b),
        Scope::Symbol(s) => &o.symbol == s,
    }
}

/// The risk day of a time, for a day starting `offset_ms` after midnight UTC.
fn day_of(now: Timestamp, offset_ms: i64) -> i64 {
    now.millis().saturating_sub(offset_ms).div_euclid(DAY_MS)
}

fn percent(value: Decimal, limit: Decimal) -> String {
    value
        .checked_div(limit)
        .and_then(|r| r.checked_mul(Decimal::ONE_HUNDRED))
        .map_or_else(|| "-".into(), |p| p.round_dp(2).normalize().to_string())
}

impl State {
    /// Capital moved into (`value` > 0) or out of bot `bot`'s book is not
    /// a gain or a loss: its risk baselines (the day's start, the peak)
    /// move with it, so a withdrawal does not breach a loss limit.
    pub fn shift_risk_baseline(&mut self, store: &mut Store, bot: u64, value: Decimal) {
        let scope = Scope::Bot(bot);
        let Some(s) = self.risk.states.get_mut(&scope) else {
            return;
        };
        let shift = |v: &mut Option<Decimal>| {
            if let Some(x) = v.as_mut() {
                *x = x.checked_add(value).unwrap_or(*x).max(Decimal::ZERO);
            }
        };
        shift(&mut s.day_start_equity);
        shift(&mut s.peak_equity);
        let s = s.clone();
        if let Err(e) = store.write(|tx| db::save_state(tx, &scope, &s)) {
            tracing::error!(error = %e, "cannot save a risk baseline");
        }
    }

    /// A ledger's value in the quote asset at the last prices: what it
    /// holds less what it owes. A valuation, not a booking: it saturates
    /// at the decimal range.
    pub fn ledger_value(&self, ledger: &Ledger) -> Decimal {
        self.assets_value(
            ledger
                .balances()
                .iter()
                .map(|(asset, b)| (asset.as_str(), b.net().get())),
        )
    }

    /// What amounts of assets are worth in the quote asset: quote assets at
    /// face value, base assets at their last price (the one valuation of
    /// equity, allocations and PnL).
    pub fn assets_value<'a>(
        &self,
        amounts: impl IntoIterator<Item = (&'a str, Decimal)>,
    ) -> Decimal {
        let instruments = self.venue.instruments();
        let mut total = Decimal::ZERO;
        for (asset, amount) in amounts {
            if amount.is_zero() {
                continue;
            }
            if let Some(unit) = self.unit_value(&instruments, asset) {
                total = total.saturating_add(amount.saturating_mul(unit));
            }
        }
        total.normalize()
    }

    /// What one unit of `asset` is worth in the quote asset: 1 for a quote
    /// asset, a base asset's last price; `None` for an asset not listed.
    pub(super) fn unit_value(
        &self,
        instruments: &[&tradedesk_core::instrument::Instrument],
        asset: &str,
    ) -> Option<Decimal> {
        if instruments.iter().any(|i| i.quote == asset) {
            return Some(Decimal::ONE);
        }
        let idx = instruments.iter().position(|i| i.base == asset)?;
        Some(self.venue.last(idx).get())
    }

    /// The equity of a scope with a trading state (an account or a bot).
    fn scope_equity(&self, scope: &Scope) -> Option<Decimal> {
        match scope {
            Scope::Account(name) => {
                let a = self.account_index(name)?;
                Some(self.ledger_value(&self.accounts[a].books.total))
            }
            Scope::Bot(id) => self
                .accounts
                .iter()
                .find_map(|a| a.books.bots.get(id))
                .map(|b| self.ledger_value(&b.ledger)),
            Scope::Symbol(_) => None,
        }
    }

    /// The scopes an order of `account`'s `book` in `symbol` answers to.
    fn scopes_for(&self, account: usize, book: BookId, symbol: &Symbol) -> Vec<Scope> {
        let mut out = vec![Scope::Account(self.accounts[account].row.name.clone())];
        if let Some(bot) = book {
            out.push(Scope::Bot(bot));
        }
        out.push(Scope::Symbol(symbol.clone()));
        out
    }

    /// The facts of every scope an order answers to. Read-only: a dry run
    /// (`risk.check`) changes nothing.
    fn facts_for(
        &self,
        account: usize,
        book: BookId,
        symbol: &Symbol,
        base: &str,
        now: Timestamp,
    ) -> Vec<ScopeFacts<'_>> {
        let acc = &self.accounts[account];
        let name = &acc.row.name;
        let (by_account, by_bot, by_symbol) = self.open_count(name, book, symbol);
        let account_position = acc.books.position(symbol).qty;
        let account_base = acc.books.total.balance(base);
        let can_short = acc.row.margin.is_some();
        let mut out = Vec::with_capacity(3);
        let mut push = |scope: Scope, position: Qty, open: OpenQty, base: Balance, n: u32| {
            let (second, minute) = self
                .risk
                .windows
                .get(&scope)
                .map_or((0, 0), |w| w.counts(now.millis()));
            out.push(ScopeFacts {
                limits: self.risk.limits_of(&scope),
                state: self.risk.state_of(&scope),
                scope,
                position,
                open_buy: open.buy,
                open_sell: open.sell,
                base_held: base.total(),
                base_owed: base.borrowed,
                can_short,
                open_orders: n,
                accepted_last_second: second,
                accepted_last_minute: minute,
            });
        };
        push(
            Scope::Account(name.clone()),
            account_position,
            self.open.qty_of_account(name, symbol),
            account_base,
            by_account,
        );
        if let Some(id) = book {
            let sub = acc.books.bots.get(&id);
            push(
                Scope::Bot(id),
                sub.and_then(|b| b.positions.get(symbol))
                    .map_or(Qty::ZERO, |p| p.qty),
                self.open.qty_of_bot(id, symbol),
                sub.map_or_else(Balance::default, |b| b.ledger.balance(base)),
                by_bot,
            );
        }
        // A symbol's limits count every account's position in it.
        let everyone = self
            .accounts
            .iter()
            .try_fold(Qty::ZERO, |sum, a| {
                sum.checked_add(a.books.position(symbol).qty)
            })
            .unwrap_or(account_position);
        push(
            Scope::Symbol(symbol.clone()),
            everyone,
            self.open.qty_of_symbol(symbol),
            account_base,
            by_symbol,
        );
        out
    }

    /// The pre-trade check without side effects; with the limits the
    /// order brings near their warning threshold.
    pub fn risk_check(
        &self,
        account: usize,
        book: BookId,
        v: ValidOrder,
        now: Timestamp,
    ) -> Result<(Approved, Vec<core_risk::Near>), Refusal> {
        let idx = self.venue.index_of(v.symbol.as_str()).ok_or_else(|| {
            Refusal::Rejected(Rejection {
                kind: RejectKind::Limit,
                limit: "symbol".into(),
                scope: Scope::Symbol(v.symbol.clone()),
                limit_value: "listed".into(),
                value: "not listed".into(),
                message: format!("{} is not listed", v.symbol),
            })
        })?;
        let base = self.venue.instruments()[idx].base.clone();
        let last = self.venue.last(idx);
        let scopes = self.facts_for(account, book, &v.symbol, &base, now);
        let market = MarketFacts { last, base: &base };
        let near = core_risk::near_limits(&v, market, &scopes);
        core_risk::check(v, book, market, &scopes).map(|a| (a, near))
    }

    /// Counts an accepted order against the rate limits of its scopes.
    fn record_accepted(&mut self, account: usize, book: BookId, symbol: &Symbol, now: Timestamp) {
        for s in self.scopes_for(account, book, symbol) {
            self.risk.windows.entry(s).or_default().record(now.millis());
        }
    }

    /// Raises a warning alert for each limit an accepted order brought
    /// near, once per limit, scope and day.
    fn warn_near(&mut self, store: &mut Store, near: Vec<core_risk::Near>, now: Timestamp) {
        let day = day_of(now, 0);
        for n in near {
            let key = (n.scope.clone(), n.limit.clone(), day);
            if self.risk.warned.contains(&key) {
                continue;
            }
            self.risk.warned.insert(key);
            let message = format!(
                "{}: {} at {}% ({} of {})",
                n.scope,
                n.limit,
                percent(n.value, n.limit_value),
                n.value.round_dp(8).normalize(),
                n.limit_value.normalize()
            );
            match store.write(|tx| {
                db::insert_alert(tx, now, Severity::Warning, &n.scope, "warning", &message)
            }) {
                Ok(a) => self
                    .risk
                    .pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(a),
                Err(e) => tracing::error!(error = %e, "cannot record a risk warning"),
            }
        }
    }

    /// The pre-trade check every order passes: approved orders count
    /// against the rate limits; a rejection is recorded as a violation.
    pub fn approve(
        &mut self,
        store: &mut Store,
        account: usize,
        book: BookId,
        v: ValidOrder,
        source: &str,
        now: Timestamp,
    ) -> Result<Approved, ApiError> {
        let order_json = serde_json::json!({
            "symbol": v.symbol, "side": v.side, "type": v.terms.order_type(), "qty": v.qty,
            "price": v.terms.price(), "stop_price": v.terms.stop_price(), "client_order_id": v.client_order_id,
            "account": self.accounts[account].row.name, "bot_id": book,
        });
        match self.risk_check(account, book, v, now) {
            Ok((a, near)) => {
                self.record_accepted(account, book, &a.order().symbol, now);
                self.warn_near(store, near, now);
                Ok(a)
            }
            Err(r) => Err(Self::refused(store, r, source, &order_json, now)),
        }
    }

    /// A refusal as an error; a rejection is recorded as a violation first.
    fn refused(
        store: &mut Store,
        r: Refusal,
        source: &str,
        order: &serde_json::Value,
        now: Timestamp,
    ) -> ApiError {
        match r {
            Refusal::Rejected(r) => match Self::record_violation(store, &r, source, order, now) {
                Ok(()) => rejection_error(&r),
                Err(e) => e,
            },
            Refusal::TooLarge { field, message } => refusal_error(field, &message),
        }
    }

    /// Approves an order that only closes (part of) the book's position, in
    /// any trading state: the kill switch's flatten and a bot's stop with
    /// flatten.
    pub fn approve_closing(
        &mut self,
        account: usize,
        book: BookId,
        v: ValidOrder,
    ) -> Result<Approved, ApiError> {
        let books = &self.accounts[account].books;
        let position = books
            .positions(book)
            .and_then(|p| p.get(&v.symbol))
            .map_or(Qty::ZERO, |p| p.qty);
        let scope = match book {
            Some(b) => Scope::Bot(b),
            None => Scope::Account(self.accounts[account].row.name.clone()),
        };
        core_risk::approve_closing(v, book, position, &scope).map_err(|r| rejection_error(&r))
    }

    /// [`Self::approve`] for a bracket: the entry fully, the exits for size
    /// and price only (see `core::risk::check_bracket`).
    #[allow(clippy::too_many_arguments)]
    pub fn approve_bracket(
        &mut self,
        store: &mut Store,
        account: usize,
        book: BookId,
        entry: ValidOrder,
        exits: [ValidOrder; 2],
        source: &str,
        now: Timestamp,
    ) -> Result<[Approved; 3], ApiError> {
        let symbol = entry.symbol.clone();
        let idx = self.symbol_index(&symbol)?;
        let base = self.venue.instruments()[idx].base.clone();
        let last = self.venue.last(idx);
        let order_json = serde_json::json!({ "symbol": symbol, "side": entry.side, "qty": entry.qty, "bracket": true });
        let scopes = self.facts_for(account, book, &symbol, &base, now);
        let result = core_risk::check_bracket(
            entry,
            exits,
            book,
            MarketFacts { last, base: &base },
            &scopes,
        );
        drop(scopes);
        match result {
            Ok(a) => {
                self.record_accepted(account, book, &symbol, now);
                Ok(a)
            }
            Err(r) => Err(Self::refused(store, r, source, &order_json, now)),
        }
    }

    fn record_violation(
        store: &mut Store,
        r: &Rejection,
        source: &str,
        order: &serde_json::Value,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        store
            .write(|tx| {
                db::insert_violation(
                    tx,
                    now,
                    source,
                    &r.scope,
                    &r.limit,
                    &r.limit_value,
                    &r.value,
                    &r.message,
                    Some(order),
                )
            })
            .map(|_| ())
            .map_err(|e| store_err(&e))
    }

    /// Every scope worth reporting, once each: the accounts, then every
    /// scope with limits or a trading state.
    pub fn known_scopes(&self) -> Vec<Scope> {
        let mut seen = BTreeSet::new();
        self.accounts
            .iter()
            .map(|a| Scope::Account(a.row.name.clone()))
            .chain(self.risk.limits.keys().cloned())
            .chain(self.risk.states.keys().cloned())
            .filter(|s| seen.insert(s.clone()))
            .collect()
    }

    /// The trading states (accounts and bots) and every limit's use, of
    /// `scopes` (what `risk.status` and the `risk.report` job show).
    pub fn risk_status(&self, scopes: &[Scope], now: Timestamp) -> RiskStatusView {
        RiskStatusView {
            states: scopes
                .iter()
                .filter(|s| !matches!(s, Scope::Symbol(_)))
                .map(|s| self.risk.view(s))
                .collect(),
            usage: scopes.iter().flat_map(|s| self.usage(s, now)).collect(),
        }
    }

    /// The current use of every limit of `scope` that can be measured now.
    #[allow(clippy::too_many_lines)] // one block per limit, in the order of `Limits`
    pub fn usage(&self, scope: &Scope, now: Timestamp) -> Vec<Usage> {
        let limits = self.risk.limits_of(scope);
        let mut out = Vec::new();
        let mut push = |limit: &str, value: Decimal, limit_value: Decimal| {
            out.push(Usage {
                scope: scope.clone(),
                limit: limit.to_owned(),
                value: value.round_dp(8).normalize().to_string(),
                limit_value: limit_value.normalize().to_string(),
                percent: percent(value, limit_value),
            });
        };
        let open = self.open.values().filter(|o| in_scope(o, scope)).count();
        if let Some(m) = limits.max_open_orders {
            push("max_open_orders", Decimal::from(open), Decimal::from(m));
        }
        let windows = self.risk.windows.get(scope).cloned().unwrap_or_default();
        let (second, minute) = windows.counts(now.millis());
        if let Some(m) = limits.max_orders_per_second {
            push(
                "max_orders_per_second",
                Decimal::from(second),
                Decimal::from(m),
            );
        }
        if let Some(m) = limits.max_orders_per_minute {
            push(
                "max_orders_per_minute",
                Decimal::from(minute),
                Decimal::from(m),
            );
        }
        let s = self.risk.states.get(scope);
        let equity = self.scope_equity(scope);
        if let (Some(l), Some(eq)) = (limits.daily_loss_limit, equity) {
            let start = s.and_then(|s| s.day_start_equity).unwrap_or(eq);
            push("daily_loss_limit", loss_since(start, eq), l.get());
        }
        if let (Some(l), Some(eq)) = (limits.max_drawdown_pct, equity) {
            let peak = s.and_then(|s| s.peak_equity).unwrap_or(eq).max(eq);
            push("max_drawdown_pct", drawdown_pct(peak, eq), l.get());
        }
        // Position limits: the largest position the scope holds.
        let positions: Vec<(Symbol, Decimal)> = match scope {
            Scope::Account(a) => self
                .account_index(a)
                .map(|i| {
                    let b = &self.accounts[i].books;
                    b.symbols()
                        .into_iter()
                        .map(|s| (s.clone(), b.position(&s).qty.get()))
                        .collect()
                })
                .unwrap_or_default(),
            Scope::Bot(id) => self
                .accounts
                .iter()
                .find_map(|a| a.books.bots.get(id))
                .map(|b| {
                    b.positions
                        .iter()
                        .map(|(s, p)| (s.clone(), p.qty.get()))
                        .collect()
                })
                .unwrap_or_default(),
            Scope::Symbol(sym) => self
                .accounts
                .iter()
                .map(|a| (sym.clone(), a.books.position(sym).qty.get()))
                .collect(),
        };
        let biggest = |f: &dyn Fn(&Symbol, Decimal) -> Decimal| {
            positions
                .iter()
                .map(|(s, q)| f(s, q.abs()))
                .max()
                .unwrap_or(Decimal::ZERO)
        };
        if let Some(m) = limits.max_position_qty {
            push("max_position_qty", biggest(&|_, q| q), m.get());
        }
        if let Some(m) = limits.max_position_notional {
            let value = |s: &Symbol, q: Decimal| {
                self.venue.index_of(s.as_str()).map_or(Decimal::ZERO, |i| {
                    q.saturating_mul(self.venue.last(i).get())
                })
            };
            push("max_position_notional", biggest(&value), m.get());
        }
        out
    }
}
