//! A real exchange's account against the desk's: what the venue reports
//! apart from market trades (its user stream's executions), and the
//! reconciliations it reads (at start, after the user stream reconnects,
//! and periodically).
//!
//! - Every open order of a live account is asked about: fills and cancels
//!   missed while a stream was down are booked (each trade once).
//! - Open orders at the venue the desk did not place are external: each
//!   is adopted as an open order of the live account (funds locked, known
//!   to the venue by its client id, so its executions are booked and the
//!   balances keep matching) with one alert naming it; the desk never
//!   cancels one on its own.
//! - Balances: a live account whose ledger is empty and has no open orders
//!   takes the venue's balances (its first start). Otherwise every asset
//!   of the listed pairs must match the venue's total exactly; a mismatch
//!   that executions in flight cannot explain (none are: no order is
//!   `new` or of unknown outcome, and nothing happened while the balances
//!   were read), found the same in two reads in a row (a fill's stream
//!   report can lag the exchange's balances; the second read comes after
//!   the open orders were asked about), halts the account with a critical
//!   alert — the desk does not guess. `risk.state.set` resumes it once the cause is understood.

use std::time::Duration;

use tradedesk_core::api::risk::Severity;
use tradedesk_core::money::Qty;
use tradedesk_core::order::OrderStatus;
use tradedesk_core::risk::{Scope, TradingState};
use tradedesk_core::time::Timestamp;

use tradedesk_core::instrument::Symbol;
use tradedesk_core::money::Notional;
use tradedesk_core::order::{OrderRecord, TimeInForce};
use tradedesk_core::venue::{Link, Reopened};

use super::{Changes, Request, State};
use crate::store::Store;
use crate::venues::{External, Reconciliation};

/// The reason an adopted external order carries.
pub const EXTERNAL: &str = "external: placed outside the desk";

/// Whether an open order was placed outside the desk and adopted.
pub fn is_external(o: &OrderRecord) -> bool {
    o.reason.as_deref() == Some(EXTERNAL)
}

/// A mismatch halts only when still the same this long after it was first
/// seen (and in a later read).
const CONFIRM_AFTER_MS: i64 = 2_000;

impl State {
    /// Books the venue's own reports and acts on a reconciliation read.
    pub(super) fn venue_reports(
        &mut self,
        store: &mut Store,
        now: Timestamp,
        changes: &mut Changes,
    ) {
        let executions = self.venue.executions();
        if !executions.is_empty() {
            self.book_events(executions, now, changes);
        }
        if let Some(why) = self.venue.take_alarm()
            && let Some(name) = self.live_account.clone()
        {
            tracing::error!(reason = %why, "the venue stopped us");
            self.halt(store, &Scope::Account(name), why, now, changes);
        }
        if let Some(r) = self.venue.reconciliation() {
            self.reconcile(store, r, now, changes);
        }
    }

    /// Takes an external order into the books: an open order of the live
    /// account, its funds locked, known to the venue by its client id so
    /// its executions are booked.
    fn adopt(
        &mut self,
        acc: usize,
        e: &External,
        now: Timestamp,
        changes: &mut Changes,
    ) -> Result<u64, String> {
        let terms = e.terms.ok_or("the desk has no order of its kind")?;
        if !e.open.is_positive() {
            return Err("nothing of it is left to execute".into());
        }
        let symbol: Symbol = e
            .symbol
            .parse()
            .map_err(|_| format!("`{}` is not a symbol", e.symbol))?;
        let idx = self
            .symbol_index(&symbol)
            .map_err(|_| format!("the daemon does not follow {symbol}"))?;
        let mut record = OrderRecord {
            id: self.next_order_id,
            account: self.accounts[acc].row.name.clone(),
            client_order_id: e.client_order_id.clone(),
            symbol,
            side: e.side,
            order_type: terms.order_type(),
            qty: e.open,
            price: terms.price(),
            stop_price: terms.stop_price(),
            trail: None,
            time_in_force: TimeInForce::Gtc,
            status: OrderStatus::Accepted,
            filled: Qty::ZERO,
            filled_notional: Notional::ZERO,
            avg_price: None,
            fees: Notional::ZERO,
            reserved: Qty::ZERO,
            reserved_asset: String::new(),
            triggered: false,
            parent_id: None,
            oco_id: None,
            reason: Some(EXTERNAL.into()),
            owner: self.accounts[acc].row.owner.clone(),
            bot_id: None,
            created: now,
            updated: now,
        };
        let (asset, amount) = self.reservation_for(&record).map_err(|e| e.message)?;
        self.accounts[acc]
            .books
            .lock(None, &asset, amount)
            .map_err(|e| format!("its funds cannot be locked: {e}"))?;
        record.reserved = amount;
        record.reserved_asset = asset;
        self.next_order_id = self.next_order_id.saturating_add(1);
        changes.book(acc, None);
        changes.ledger(acc);
        changes
            .new_orders
            .push((self.accounts[acc].row.id, record.clone()));
        changes.orders.insert(record.id, record.clone());
        self.open.insert(record.clone());
        let order = self.sim_order(&record, terms, idx);
        self.venue.restore(Reopened {
            order,
            open: e.open,
            filled: Qty::ZERO,
            triggered: false,
            pending: false,
            link: Link::None,
        });
        Ok(record.id)
    }

    fn mark_reconciled(&mut self) {
        if !self.reconciled {
            tracing::info!("the live account is reconciled with the venue; its orders are taken");
            self.reconciled = true;
        }
    }

    fn reconcile(
        &mut self,
        store: &mut Store,
        r: Reconciliation,
        now: Timestamp,
        changes: &mut Changes,
    ) {
        let live: Vec<u64> = self
            .open
            .values()
            .filter(|o| self.is_live_account(&o.account))
            .map(|o| o.id)
            .collect();
        for &id in &live {
            let answer = self.venue.query(id, now);
            self.dispatch_after(Request::Query(id), answer, Duration::ZERO);
        }
        let Some(acc) = self
            .accounts
            .iter()
            .position(|a| a.row.venue == self.venue.name())
        else {
            return;
        };
        let scope = Scope::Account(self.accounts[acc].row.name.clone());
        for e in r.external {
            if !self.external.insert(e.client_order_id.clone()) {
                continue;
            }
            let venue = self.venue.name();
            let message = match self.adopt(acc, &e, now, changes) {
                Ok(id) => format!(
                    "an open order at {venue} the desk did not place: {}; adopted as order {id} \
                     (shown with the account's orders, its fills booked; the desk never cancels it \
                     on its own)",
                    e.described
                ),
                Err(why) => format!(
                    "an open order at {venue} the desk did not place: {}; left alone, not adopted: {why}",
                    e.described
                ),
            };
            tracing::warn!(%message, "external order");
            self.risk
                .alert(store, now, &scope, "external_order", &message);
        }
        let Some(theirs) = r.balances else {
            return;
        };
        self.compare_balances(store, acc, &scope, &theirs, &live, now, changes);
    }

    /// The live account's balances against the venue's (see the module's
    /// documentation).
    #[allow(clippy::too_many_arguments)]
    fn compare_balances(
        &mut self,
        store: &mut Store,
        acc: usize,
        scope: &Scope,
        theirs: &std::collections::BTreeMap<String, Qty>,
        live: &[u64],
        now: Timestamp,
        changes: &mut Changes,
    ) {
        let in_flight = live.iter().any(|id| {
            self.unknown.contains_key(id)
                || self
                    .open
                    .get(id)
                    .is_some_and(|o| o.status == OrderStatus::New)
        });
        let assets: std::collections::BTreeSet<String> = self
            .venue
            .instruments()
            .iter()
            .flat_map(|i| [i.base.clone(), i.quote.clone()])
            .collect();
        let total = &self.accounts[acc].books.total;
        if total.balances().values().all(|b| b.total().is_zero()) && live.is_empty() {
            let mut taken = Vec::new();
            for a in &assets {
                let amount = theirs.get(a).copied().unwrap_or(Qty::ZERO);
                if amount.is_positive() {
                    if let Err(e) = self.accounts[acc].books.total.deposit(a, amount) {
                        tracing::error!(error = %e, "cannot take the venue's balances");
                        return;
                    }
                    taken.push(format!("{amount} {a}"));
                }
            }
            if !taken.is_empty() {
                tracing::info!(balances = %taken.join(", "), "the live account takes the venue's balances");
                changes.ledger(acc);
            }
            self.mark_reconciled();
            return;
        }
        if in_flight {
            if !self.reconciled {
                self.venue.reconcile_soon();
            }
            return;
        }
        let mismatches: Vec<String> = assets
            .iter()
            .filter_map(|a| {
                let ours = total.balance(a).total();
                let venue = theirs.get(a).copied().unwrap_or(Qty::ZERO);
                (ours != venue).then(|| format!("{a}: ours {ours}, the venue's {venue}"))
            })
            .collect();
        if mismatches.is_empty() {
            self.suspect = None;
            self.mark_reconciled();
            return;
        }
        self.on_mismatch(store, scope, mismatches.join("; "), now, changes);
    }

    /// A mismatch: looked at again, then, still the same, halts the account.
    fn on_mismatch(
        &mut self,
        store: &mut Store,
        scope: &Scope,
        found: String,
        now: Timestamp,
        changes: &mut Changes,
    ) {
        if self.risk.state_of(scope) == TradingState::Halted {
            return;
        }
        match &self.suspect {
            Some((seen, since)) if *seen == found => {
                if now.millis().saturating_sub(since.millis()) < CONFIRM_AFTER_MS {
                    return;
                }
            }
            _ => {
                // A fill's report can lag the exchange's balances: look
                // again (after the queries just sent are answered) before
                // deciding.
                tracing::info!(mismatch = %found, "balances differ from the venue's; reading them again");
                self.suspect = Some((found, now));
                self.venue.reconcile_soon();
                return;
            }
        }
        self.suspect = None;
        let reason = format!(
            "balances differ from {}'s ({found}), twice in a row with nothing in flight; \
             trading on the account is halted until someone looks",
            self.venue.name(),
        );
        tracing::error!(%reason, "reconciliation mismatch");
        self.halt(store, scope, reason, now, changes);
    }

    /// Halts a scope (unless it is halted already) with a critical alert.
    fn halt(
        &mut self,
        store: &mut Store,
        scope: &Scope,
        reason: String,
        now: Timestamp,
        changes: &mut Changes,
    ) {
        if self.risk.state_of(scope) == TradingState::Halted {
            return;
        }
        match self.set_risk_state(
            store,
            scope,
            TradingState::Halted,
            Some(reason),
            Severity::Critical,
            now,
        ) {
            Ok((_, c)) => changes.absorb(c),
            Err(e) => tracing::error!(error = %e.message, "cannot halt the account"),
        }
    }
}
