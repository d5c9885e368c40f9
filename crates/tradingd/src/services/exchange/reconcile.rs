//! A real exchange's account against the desk's: what the venue reports
//! apart from market trades (its user stream's executions), and the
//! reconciliations it reads (at start, after the user stream reconnects,
//! and periodically).
//!
//! - Every open order of a live account is asked about: fills and cancels
//!   missed while a stream was down are booked (each trade once).
//! - Open orders at the venue the desk did not place are external: each
//!   raises one alert naming it; the desk never cancels them.
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

use super::{Changes, Request, State};
use crate::store::Store;
use crate::venues::Reconciliation;

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
            if self.external.insert(e.clone()) {
                let message = format!(
                    "an open order at {} the desk did not place: {e}; it is left alone",
                    self.venue.name()
                );
                tracing::warn!(%message, "external order");
                self.risk
                    .alert(store, now, &scope, "external_order", &message);
            }
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
