//! Risk's watch at every tick: daily loss and drawdown per scope, breaches
//! turned into halts, alerts and cancels.

use super::super::{Changes, State};
use super::{day_of, percent};
use crate::store::Store;
use crate::store::risk::{self as db};
use rust_decimal::Decimal;
use tradedesk_core::api::risk::{Alert, Severity};
use tradedesk_core::money::Qty;
use tradedesk_core::risk::{self as core_risk, Scope, TradingState};
use tradedesk_core::time::Timestamp;

/// Equity peaks are written at most this often (they are also kept in memory).
pub(super) const PEAK_SAVE_MS: i64 = 60_000;

/// What equity lost since `start` (zero when it gained).
pub(super) fn loss_since(start: Decimal, equity: Decimal) -> Decimal {
    start.saturating_sub(equity).max(Decimal::ZERO)
}

/// How far equity is below its peak, in percent (zero at or above it, or
/// with no positive peak).
pub(super) fn drawdown_pct(peak: Decimal, equity: Decimal) -> Decimal {
    if peak <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    peak.saturating_sub(equity)
        .checked_div(peak)
        .and_then(|r| r.checked_mul(Decimal::ONE_HUNDRED))
        .unwrap_or(Decimal::ZERO)
        .max(Decimal::ZERO)
}

impl State {
    /// The monitor, once per market tick: daily loss and drawdown of every
    /// account and bot with those limits; warnings near a limit; a breach
    /// halts the scope and cancels its orders.
    pub fn risk_tick(&mut self, store: &mut Store, now: Timestamp) -> (Changes, Vec<Alert>) {
        let mut changes = Changes::default();
        let mut alerts = Vec::new();
        let scopes: Vec<Scope> = self
            .accounts
            .iter()
            .map(|a| Scope::Account(a.row.name.clone()))
            .chain(
                self.accounts
                    .iter()
                    .flat_map(|a| a.books.bots.keys().map(|b| Scope::Bot(*b))),
            )
            .collect();
        for scope in scopes {
            self.watch_scope(store, &scope, now, &mut changes, &mut alerts);
        }
        (changes, alerts)
    }

    /// One scope's turn of the monitor.
    pub(super) fn watch_scope(
        &mut self,
        store: &mut Store,
        scope: &Scope,
        now: Timestamp,
        changes: &mut Changes,
        alerts: &mut Vec<Alert>,
    ) {
        let scope = scope.clone();
        {
            let limits = self.risk.limits_of(&scope).clone();
            if limits.daily_loss_limit.is_none() && limits.max_drawdown_pct.is_none() {
                return;
            }
            let Some(equity) = self.scope_equity(&scope) else {
                return;
            };
            let offset = limits
                .daily_reset_utc
                .as_deref()
                .and_then(core_risk::reset_offset_ms)
                .unwrap_or(0);
            let day = day_of(now, offset);
            let mut s = self.risk.states.get(&scope).cloned().unwrap_or_default();
            let mut dirty = false;
            if s.day != Some(day) || s.day_start_equity.is_none() {
                s.day = Some(day);
                s.day_start_equity = Some(equity);
                dirty = true;
            }
            if s.peak_equity.is_none_or(|p| equity > p) {
                s.peak_equity = Some(equity);
                let last = self
                    .risk
                    .peak_saved
                    .get(&scope)
                    .copied()
                    .unwrap_or(i64::MIN);
                if now.millis().saturating_sub(last) >= PEAK_SAVE_MS {
                    self.risk.peak_saved.insert(scope.clone(), now.millis());
                    dirty = true;
                }
            }
            let loss = s
                .day_start_equity
                .map_or(Decimal::ZERO, |d| loss_since(d, equity));
            let drawdown_pct = s
                .peak_equity
                .map_or(Decimal::ZERO, |p| drawdown_pct(p, equity));
            self.risk.states.insert(scope.clone(), s.clone());
            if dirty && let Err(e) = store.write(|tx| db::save_state(tx, &scope, &s)) {
                tracing::error!(error = %e, "cannot save a risk baseline");
            }
            if s.state == TradingState::Halted {
                return;
            }
            let warn = limits.warn_fraction();
            let checks = [
                (
                    "daily_loss_limit",
                    limits
                        .daily_loss_limit
                        .map(tradedesk_core::money::Notional::get),
                    loss,
                ),
                (
                    "max_drawdown_pct",
                    limits.max_drawdown_pct.map(Qty::get),
                    drawdown_pct,
                ),
            ];
            for (name, limit, value) in checks {
                let Some(limit) = limit else { continue };
                if value >= limit {
                    self.breach(store, &scope, name, limit, value, now, changes, alerts);
                    break;
                }
                let key = (scope.clone(), name.to_owned(), day);
                if value >= limit.saturating_mul(warn) && !self.risk.warned.contains(&key) {
                    self.risk.warned.insert(key);
                    let message = format!(
                        "{scope}: {name} at {}% ({} of {limit})",
                        percent(value, limit),
                        value.round_dp(8).normalize()
                    );
                    if let Ok(a) = store.write(|tx| {
                        db::insert_alert(tx, now, Severity::Warning, &scope, "warning", &message)
                    }) {
                        alerts.push(a);
                    }
                }
            }
        }
    }

    /// A loss or drawdown limit reached: record it, halt, cancel the orders.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn breach(
        &mut self,
        store: &mut Store,
        scope: &Scope,
        name: &str,
        limit: Decimal,
        value: Decimal,
        now: Timestamp,
        changes: &mut Changes,
        alerts: &mut Vec<Alert>,
    ) {
        let value = value.round_dp(8).normalize();
        let reason = format!("{name} breached: {value} of {limit}");
        tracing::warn!(%scope, %reason, "risk breach: halting");
        let _ = store.write(|tx| {
            db::insert_violation(
                tx,
                now,
                "risk",
                scope,
                name,
                &limit.to_string(),
                &value.to_string(),
                &reason,
                None,
            )
        });
        match self.set_risk_state(
            store,
            scope,
            TradingState::Halted,
            Some(reason),
            Severity::Critical,
            now,
        ) {
            Ok((a, c)) => {
                alerts.push(a);
                changes.absorb(c);
            }
            Err(e) => tracing::error!(error = %e.message, "cannot halt"),
        }
    }
}
