//! The individual pre-trade checks a scope applies: size and exposure
//! (counting open orders), and order flow (rates, open-order counts).

use super::limits::TradingState;
use super::{Effect, MarketFacts, Refusal, RejectKind, ScopeFacts, effect, reject, too_large};
use crate::order::ValidOrder;
use rust_decimal::Decimal;

pub(super) fn check_scope(
    o: &ValidOrder,
    market: MarketFacts<'_>,
    s: &ScopeFacts<'_>,
) -> Result<(), Refusal> {
    let scope = &s.scope;
    let e = effect(o, s)?;
    match s.state {
        TradingState::Halted => {
            return Err(reject(
                RejectKind::State,
                "trading_state",
                scope,
                "halted",
                "only cancels are accepted until risk.resume",
            )
            .into());
        }
        TradingState::Reducing if !e.reducing => {
            let open = s.open_on(o.side);
            let with = if open.is_zero() {
                String::new()
            } else {
                format!(
                    " (with the open {} orders: {})",
                    o.side.as_str(),
                    e.with_open
                )
            };
            return Err(reject(
                RejectKind::State,
                "trading_state",
                scope,
                "reducing",
                format!(
                    "only orders that reduce the position ({}) are accepted{with}",
                    s.position
                ),
            )
            .into());
        }
        _ => {}
    }
    check_size(o, market, s, &e)?;
    check_flow(o, market, s, &e)
}

/// Order size and the position it (with the open orders) could leave.
pub(super) fn check_size(
    o: &ValidOrder,
    market: MarketFacts<'_>,
    s: &ScopeFacts<'_>,
    e: &Effect,
) -> Result<(), Refusal> {
    let (scope, l, last) = (&s.scope, s.limits, market.last);
    let price = o.terms.price().or(o.terms.stop_price()).unwrap_or(last);
    if let Some(max) = l.max_order_qty
        && o.qty > max
    {
        return Err(reject(RejectKind::Limit, "max_order_qty", scope, max, o.qty).into());
    }
    let notional = price.checked_mul_qty(o.qty).ok_or_else(|| {
        too_large(
            "qty",
            format_args!("the order's value ({} × {price})", o.qty),
        )
    })?;
    if let Some(max) = l.max_order_notional
        && notional > max
    {
        return Err(reject(
            RejectKind::Limit,
            "max_order_notional",
            scope,
            max,
            notional,
        )
        .into());
    }
    if !e.reducing {
        if let Some(max) = l.max_position_qty
            && e.worst_after > max
        {
            return Err(reject(
                RejectKind::Limit,
                "max_position_qty",
                scope,
                max,
                e.worst_after,
            )
            .into());
        }
        if let Some(max) = l.max_position_notional {
            let value = e
                .worst_after
                .checked_mul_price(last)
                .ok_or_else(|| too_large("qty", "the position this order could make"))?;
            if value > max {
                return Err(reject(
                    RejectKind::Limit,
                    "max_position_notional",
                    scope,
                    max,
                    value,
                )
                .into());
            }
        }
    }
    Ok(())
}

/// Open orders, price collar, order rate, exposure.
pub(super) fn check_flow(
    o: &ValidOrder,
    market: MarketFacts<'_>,
    s: &ScopeFacts<'_>,
    e: &Effect,
) -> Result<(), Refusal> {
    let (scope, l, last) = (&s.scope, s.limits, market.last);
    if let Some(max) = l.max_open_orders
        && s.open_orders >= max
    {
        return Err(reject(
            RejectKind::Limit,
            "max_open_orders",
            scope,
            max,
            s.open_orders.saturating_add(1),
        )
        .into());
    }
    if let Some(pct) = l.price_collar_pct
        && last.is_positive()
    {
        for p in [o.terms.price(), o.terms.stop_price()]
            .into_iter()
            .flatten()
        {
            let off = p
                .get()
                .checked_sub(last.get())
                .and_then(|d| d.checked_div(last.get()))
                .and_then(|d| d.checked_mul(Decimal::ONE_HUNDRED))
                .map(|d| d.abs())
                .ok_or_else(|| too_large("price", p))?;
            if off > pct.get() {
                return Err(reject(
                    RejectKind::Limit,
                    "price_collar_pct",
                    scope,
                    format!("{pct}% of {last}"),
                    format!("{}% ({p})", off.round_dp(4).normalize()),
                )
                .into());
            }
        }
    }
    if let Some(max) = l.max_orders_per_second
        && s.accepted_last_second >= max
    {
        return Err(reject(
            RejectKind::Throttled,
            "max_orders_per_second",
            scope,
            max,
            s.accepted_last_second.saturating_add(1),
        )
        .into());
    }
    if let Some(max) = l.max_orders_per_minute
        && s.accepted_last_minute >= max
    {
        return Err(reject(
            RejectKind::Throttled,
            "max_orders_per_minute",
            scope,
            max,
            s.accepted_last_minute.saturating_add(1),
        )
        .into());
    }
    if let Some(m) = &l.max_exposure
        && !e.reducing
        && let Some(max) = m.get(market.base)
        && let Some(qty) = s.exposure_after(o.side, e.with_open)?
    {
        let asset = market.base;
        let value = qty
            .checked_mul_price(last)
            .ok_or_else(|| too_large("qty", "the exposure this order could make"))?;
        if value > *max {
            return Err(reject(
                RejectKind::Limit,
                &format!("max_exposure.{asset}"),
                scope,
                max,
                value,
            )
            .into());
        }
    }
    Ok(())
}

/// Accepted-order times of one scope, for the rate limits.
#[derive(Debug, Clone, Default)]
pub struct RateWindow {
    pub(super) times: std::collections::VecDeque<i64>,
}

impl RateWindow {
    /// Orders accepted in `(now - 1 s, now]` and `(now - 60 s, now]`.
    pub fn counts(&self, now_ms: i64) -> (u32, u32) {
        let in_last = |ms: i64| {
            self.times
                .iter()
                .rev()
                .take_while(|t| **t > now_ms.saturating_sub(ms))
                .count() as u32
        };
        (in_last(1000), in_last(60_000))
    }

    /// Counts an accepted order; times older than a minute are dropped.
    pub fn record(&mut self, now_ms: i64) {
        while self
            .times
            .front()
            .is_some_and(|t| *t <= now_ms.saturating_sub(60_000))
        {
            self.times.pop_front();
        }
        self.times.push_back(now_ms);
    }
}
