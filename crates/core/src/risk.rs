//! Risk: limits, trading states, and the pre-trade check that turns a
//! [`ValidOrder`] into an [`Approved`] one.
//!
//! Bypass is impossible by construction: the execution service accepts
//! only [`Approved`] orders, and only [`check`] makes one. Every limit of
//! every scope that applies to an order (its account, its bot, its symbol)
//! is checked, so the tightest one decides. A rejection names the limit,
//! the scope that set it, its value and the value the order would have
//! produced. Limits are inclusive: an order that lands exactly on a limit
//! is accepted.

#![deny(clippy::arithmetic_side_effects)]

use std::fmt;

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::money::{Notional, Price, Qty};
use crate::order::{Side, ValidOrder};

mod limits;
pub use limits::{LimitError, Limits, Scope, TradingState, reset_offset_ms};
mod checks;
pub use checks::RateWindow;
use checks::check_scope;

/// What a scope holds and has done, as far as one order's check needs.
#[derive(Debug, Clone)]
pub struct ScopeFacts<'a> {
    pub scope: Scope,
    pub limits: &'a Limits,
    pub state: TradingState,
    /// The scope's position in the order's symbol (signed).
    pub position: Qty,
    /// What the scope's open orders in the symbol could still buy and sell
    /// (an OCO pair counted once): the worst case the limits count.
    pub open_buy: Qty,
    pub open_sell: Qty,
    /// What the scope holds of the symbol's base asset (for exposure).
    pub base_held: Qty,
    /// What the scope owes of it (a margin account's short; for exposure).
    pub base_owed: Qty,
    /// Whether a sell beyond what is held opens a short (a margin
    /// account); on spot it is refused for want of funds instead.
    pub can_short: bool,
    pub open_orders: u32,
    /// Orders this scope had accepted in the last second and minute.
    pub accepted_last_second: u32,
    pub accepted_last_minute: u32,
}

impl ScopeFacts<'_> {
    /// The exposure to the base asset (held long, or owed short) if the
    /// order and the open orders on its side all filled: a buy adds to
    /// what is held; a sell beyond what is held adds to what is owed (only
    /// a margin account gets that far). `None` when it does not grow.
    fn exposure_after(&self, side: Side, with_open: Qty) -> Result<Option<Qty>, Refusal> {
        let too_large = || too_large("qty", "the exposure this order could make");
        match side {
            Side::Buy => self
                .base_held
                .checked_add(with_open)
                .map(Some)
                .ok_or_else(too_large),
            Side::Sell if self.can_short => {
                let short = with_open
                    .checked_sub(self.base_held)
                    .ok_or_else(too_large)?;
                if short.is_positive() {
                    self.base_owed
                        .checked_add(short)
                        .map(Some)
                        .ok_or_else(too_large)
                } else {
                    Ok(None)
                }
            }
            Side::Sell => Ok(None),
        }
    }

    /// What the scope's open orders on `side` could still trade.
    fn open_on(&self, side: Side) -> Qty {
        match side {
            Side::Buy => self.open_buy,
            Side::Sell => self.open_sell,
        }
    }
}

/// Why an order was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectKind {
    /// A limit would be broken.
    Limit,
    /// Too many orders too fast.
    Throttled,
    /// The trading state allows no such order.
    State,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Rejection {
    pub kind: RejectKind,
    /// The limit's name (`max_order_qty`, …, or `trading_state`).
    pub limit: String,
    pub scope: Scope,
    /// The limit's value.
    pub limit_value: String,
    /// What the order would have made it.
    pub value: String,
    pub message: String,
}

/// Why an order did not pass the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A limit, a rate or a trading state refused it: a violation to record.
    Rejected(Rejection),
    /// An amount of the order is too large to be valued exactly: a bad
    /// request, naming the field at fault.
    TooLarge {
        field: &'static str,
        message: String,
    },
}

impl From<Rejection> for Refusal {
    fn from(r: Rejection) -> Refusal {
        Refusal::Rejected(r)
    }
}

fn too_large(field: &'static str, what: impl fmt::Display) -> Refusal {
    Refusal::TooLarge {
        field,
        message: format!("{what} is too large to be valued exactly"),
    }
}

/// An order that passed every pre-trade check. Only [`check`] makes one,
/// and the execution service takes nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    order: ValidOrder,
    book: Option<u64>,
}

impl Approved {
    pub fn order(&self) -> &ValidOrder {
        &self.order
    }

    /// The book it was checked for (a bot's, or the manual book); the
    /// execution service books it there and nowhere else.
    pub fn book(&self) -> Option<u64> {
        self.book
    }
}

/// Whether an order only shrinks a position of `held` (spot: a sell of at
/// most what is held; a buy against a short).
pub fn reduces(side: Side, qty: Qty, held: Qty) -> bool {
    match side {
        Side::Sell => held.is_positive() && qty <= held,
        Side::Buy => held.is_negative() && qty <= held.abs(),
    }
}

fn signed(side: Side, qty: Qty) -> Decimal {
    match side {
        Side::Buy => qty.get(),
        Side::Sell => qty.negated().get(),
    }
}

fn reject(
    kind: RejectKind,
    limit: &str,
    scope: &Scope,
    limit_value: impl fmt::Display,
    value: impl fmt::Display,
) -> Rejection {
    let (limit_value, value) = (limit_value.to_string(), value.to_string());
    let message = match kind {
        RejectKind::State => format!("{scope} is {limit_value}: {value}"),
        _ => format!("{limit} of {scope} is {limit_value}; this order would make it {value}"),
    };
    Rejection {
        kind,
        limit: limit.to_owned(),
        scope: scope.clone(),
        limit_value,
        value,
        message,
    }
}

/// The market an order meets: its symbol's last trade price (market
/// orders are valued at it) and base asset (for exposure limits).
#[derive(Debug, Clone, Copy)]
pub struct MarketFacts<'a> {
    pub last: Price,
    pub base: &'a str,
}

/// What an order means for one scope, worked out once with checked
/// arithmetic: every figure the limits compare.
struct Effect {
    /// The order and the scope's open orders on its side together.
    with_open: Qty,
    /// Whether all of them together only shrink the position.
    reducing: bool,
    /// The position if they all filled (absolute).
    worst_after: Qty,
}

fn effect(o: &ValidOrder, s: &ScopeFacts<'_>) -> Result<Effect, Refusal> {
    let with_open = o
        .qty
        .checked_add(s.open_on(o.side))
        .ok_or_else(|| too_large("qty", "the quantity with the open orders"))?;
    let worst_after = s
        .position
        .get()
        .checked_add(signed(o.side, with_open))
        .ok_or_else(|| too_large("qty", "the position this order could make"))?;
    Ok(Effect {
        with_open,
        reducing: reduces(o.side, with_open, s.position),
        worst_after: Qty::new(worst_after.abs()),
    })
}

/// Checks an order against every scope that applies to it.
pub fn check(
    order: ValidOrder,
    book: Option<u64>,
    market: MarketFacts<'_>,
    scopes: &[ScopeFacts<'_>],
) -> Result<Approved, Refusal> {
    for s in scopes {
        check_scope(&order, market, s)?;
    }
    Ok(Approved { order, book })
}

/// A limit an order brings near: its use after the order is at or past
/// the scope's warning fraction (but within the limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Near {
    pub scope: Scope,
    pub limit: String,
    pub value: Decimal,
    pub limit_value: Decimal,
}

/// The limits an order would bring to their warning threshold, for the
/// alerts raised before a hard limit is reached. Call before [`check`];
/// use only if the order is approved. A figure too large to compute is
/// left out (the check refuses such an order).
pub fn near_limits(
    o: &ValidOrder,
    market: MarketFacts<'_>,
    scopes: &[ScopeFacts<'_>],
) -> Vec<Near> {
    let mut out = Vec::new();
    let last = market.last.get();
    for s in scopes {
        let l = s.limits;
        let warn = l.warn_fraction();
        let mut near = |limit: &str, value: Option<Decimal>, max: Option<Decimal>| {
            if let (Some(value), Some(max)) = (value, max)
                && max.checked_mul(warn).is_some_and(|w| value >= w)
                && value <= max
            {
                out.push(Near {
                    scope: s.scope.clone(),
                    limit: limit.to_owned(),
                    value,
                    limit_value: max,
                });
            }
        };
        let Ok(e) = effect(o, s) else { continue };
        if !e.reducing {
            let after = e.worst_after.get();
            near(
                "max_position_qty",
                Some(after),
                l.max_position_qty.map(Qty::get),
            );
            near(
                "max_position_notional",
                after.checked_mul(last),
                l.max_position_notional.map(Notional::get),
            );
        }
        near(
            "max_open_orders",
            Some(Decimal::from(s.open_orders.saturating_add(1))),
            l.max_open_orders.map(Decimal::from),
        );
        near(
            "max_orders_per_minute",
            Some(Decimal::from(s.accepted_last_minute.saturating_add(1))),
            l.max_orders_per_minute.map(Decimal::from),
        );
        if let Some(max) = l.max_exposure.as_ref().and_then(|m| m.get(market.base))
            && let Ok(Some(qty)) = s.exposure_after(o.side, e.with_open)
        {
            let limit = format!("max_exposure.{}", market.base);
            let value = qty.get().checked_mul(last);
            near(&limit, value, Some(max.get()));
        }
    }
    out
}

/// A bracket: the entry passes every check; its two exits, which go live
/// only once the entry has filled and then close what it opened, are
/// checked for their own size and price (quantity, value, collar) only.
pub fn check_bracket(
    entry: ValidOrder,
    exits: [ValidOrder; 2],
    book: Option<u64>,
    market: MarketFacts<'_>,
    scopes: &[ScopeFacts<'_>],
) -> Result<[Approved; 3], Refusal> {
    let entry = check(entry, book, market, scopes)?;
    for exit in &exits {
        for s in scopes {
            let relaxed = Limits {
                max_order_qty: s.limits.max_order_qty,
                max_order_notional: s.limits.max_order_notional,
                price_collar_pct: s.limits.price_collar_pct,
                ..Limits::default()
            };
            let facts = ScopeFacts {
                limits: &relaxed,
                state: TradingState::Active,
                open_buy: Qty::ZERO,
                open_sell: Qty::ZERO,
                open_orders: 0,
                accepted_last_second: 0,
                accepted_last_minute: 0,
                ..s.clone()
            };
            check_scope(exit, market, &facts)?;
        }
    }
    let [tp, sl] = exits;
    Ok([
        entry,
        Approved { order: tp, book },
        Approved { order: sl, book },
    ])
}

/// The kill switch's flatten: an order that only closes (part of) a
/// position is approved in any trading state, and nothing else is.
pub fn approve_closing(
    order: ValidOrder,
    book: Option<u64>,
    position: Qty,
    scope: &Scope,
) -> Result<Approved, Rejection> {
    if reduces(order.side, order.qty, position) {
        Ok(Approved { order, book })
    } else {
        Err(reject(
            RejectKind::State,
            "trading_state",
            scope,
            "halted",
            format!("a flatten order must close the position ({position})"),
        ))
    }
}

/// The open orders a scope must cancel on entering `state`: in reducing
/// or halted, every order that would grow a position. Orders are taken
/// oldest first (by id); one that reduces, together with the older ones
/// kept on its side, is kept. `orders` are (id, side, open quantity) of
/// one symbol, `position` the scope's position in it.
pub fn growth_orders(state: TradingState, position: Qty, orders: &[(u64, Side, Qty)]) -> Vec<u64> {
    if state == TradingState::Active {
        return Vec::new();
    }
    let mut sorted: Vec<&(u64, Side, Qty)> = orders.iter().collect();
    sorted.sort_by_key(|o| o.0);
    let mut kept = [Qty::ZERO, Qty::ZERO];
    let mut cancel = Vec::new();
    for &&(id, side, qty) in &sorted {
        let slot = usize::from(side == Side::Sell);
        let total = kept[slot].checked_add(qty);
        match total {
            Some(t) if reduces(side, t, position) => kept[slot] = t,
            _ => cancel.push(id),
        }
    }
    cancel
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // expectations are worked out plainly
mod tests;
