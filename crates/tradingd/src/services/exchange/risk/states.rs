//! Changing a scope's trading state: halts, reduce-only, resume — and
//! the resting orders that would grow exposure cancelled with it.

use super::super::{Changes, OpenOrders, State, store_err};
use super::in_scope;
use crate::store::risk::{self as db};
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;
use tradedesk_core::api::ApiError;
use tradedesk_core::api::risk::{Alert, Severity};
use tradedesk_core::instrument::Symbol;
use tradedesk_core::money::Qty;
use tradedesk_core::risk::{self as core_risk, Scope, TradingState};
use tradedesk_core::time::Timestamp;

impl State {
    /// Sets a scope's trading state; returns the alert it raised and the
    /// orders it cancelled. Entering reducing or halted cancels the scope's
    /// open orders that would grow a position (stops that would open one
    /// included); the cancels, the new state and the alert are written in
    /// one transaction, so no order that the new state forbids outlives it.
    pub fn set_risk_state(
        &mut self,
        store: &mut Store,
        scope: &Scope,
        state: TradingState,
        reason: Option<String>,
        severity: Severity,
        now: Timestamp,
    ) -> Result<(Alert, Changes), ApiError> {
        let mut changes = Changes::default();
        let growth = self.growth_orders_of(scope, state);
        if !growth.is_empty() {
            let why = format!(
                "{scope} is now {}: the order could grow a position",
                state.as_str()
            );
            self.cancel_in_memory(&growth, &why, now, &mut changes);
        }
        let mut s = self.risk.states.get(scope).cloned().unwrap_or_default();
        s.state = state;
        s.since = Some(now);
        if state == TradingState::Active {
            // A resume starts fresh loss and drawdown baselines.
            let eq = self.scope_equity(scope);
            s.day_start_equity = eq;
            s.peak_equity = eq;
        }
        let message = match &reason {
            Some(r) => format!("{scope} is now {}: {r}", state.as_str()),
            None => format!("{scope} is now {}", state.as_str()),
        };
        s.reason = reason;
        let written = store.write(|tx| -> Result<Alert, StoreError> {
            self.write_changes_in(tx, &changes)?;
            db::save_state(tx, scope, &s)?;
            db::insert_alert(tx, now, severity, scope, "state", &message)
        });
        let alert = match written {
            Ok(a) => a,
            Err(e) => {
                if !changes.is_empty() {
                    self.mark_stale(format!("a database write failed: {e}"));
                }
                return Err(store_err(&e));
            }
        };
        self.after_write(&changes);
        self.risk.states.insert(scope.clone(), s);
        Ok((alert, changes))
    }

    /// The scope's open orders that `state` forbids to keep: in reducing
    /// or halted, those that would grow a position (see
    /// `core::risk::growth_orders`), symbol by symbol.
    pub(super) fn growth_orders_of(&self, scope: &Scope, state: TradingState) -> Vec<u64> {
        let mut by_symbol: BTreeMap<Symbol, Vec<(u64, tradedesk_core::order::Side, Qty)>> =
            BTreeMap::new();
        // An order placed outside the desk and adopted is never cancelled
        // by it on its own.
        for o in self
            .open
            .values()
            .filter(|o| in_scope(o, scope) && !super::super::reconcile::is_external(o))
        {
            by_symbol.entry(o.symbol.clone()).or_default().push((
                o.id,
                o.side,
                OpenOrders::share(o),
            ));
        }
        let mut out = Vec::new();
        for (symbol, orders) in by_symbol {
            let position = self.scope_position(scope, &symbol);
            out.extend(core_risk::growth_orders(state, position, &orders));
        }
        out
    }

    /// A scope's position in a symbol: an account's (all its books), a bot's.
    pub(super) fn scope_position(&self, scope: &Scope, symbol: &Symbol) -> Qty {
        match scope {
            Scope::Account(a) => self
                .account_index(a)
                .map_or(Qty::ZERO, |i| self.accounts[i].books.position(symbol).qty),
            Scope::Bot(id) => self
                .accounts
                .iter()
                .find_map(|a| a.books.bots.get(id))
                .and_then(|b| b.positions.get(symbol))
                .map_or(Qty::ZERO, |p| p.qty),
            Scope::Symbol(_) => Qty::ZERO,
        }
    }

    /// Cancels every open order of a scope.
    pub fn cancel_scope(
        &mut self,
        store: &mut Store,
        scope: &Scope,
        reason: &str,
        now: Timestamp,
    ) -> Result<Changes, ApiError> {
        let ids: Vec<u64> = self
            .open
            .values()
            .filter(|o| in_scope(o, scope))
            .map(|o| o.id)
            .collect();
        self.cancel_many(store, &ids, reason, now)
    }
}
