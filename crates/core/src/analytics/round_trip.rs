//! One position's round trip, fed fill by fill: from flat to flat is one
//! trade. The one definition of a trade for backtests and for bots.
//!
//! Every sum is checked: a trip whose amounts leave the decimal range is an
//! overflow error for the caller to report, never a panic.

#![deny(clippy::arithmetic_side_effects)]

use rust_decimal::Decimal;

use crate::money::{MoneyError, Price};
use crate::order::Side;
use crate::time::Timestamp;

#[derive(Debug, Clone, Default)]
pub struct RoundTrip {
    held: Decimal,
    entry_step: usize,
    entry_time: Timestamp,
    bought: Decimal,
    bought_qty: Decimal,
    sold: Decimal,
    sold_qty: Decimal,
    fees: Decimal,
    /// The first buy's and first sell's price, and the fill counts: a trip
    /// of one buy and one sell needs no division for its prices.
    first_buy: Option<Price>,
    first_sell: Option<Price>,
    buys: u32,
    sells: u32,
}

/// A finished round trip.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedTrip {
    /// The quantity bought over the trip.
    pub qty: Decimal,
    pub entry_step: usize,
    pub entry_time: Timestamp,
    /// The average buy price.
    pub entry_price: Price,
    /// The average sell price.
    pub exit_price: Price,
    /// Sales less purchases less every fee of the trip.
    pub pnl: Decimal,
    pub fees: Decimal,
    /// PnL over the entry value.
    pub return_frac: f64,
}

fn avg(value: Decimal, qty: Decimal) -> Decimal {
    value
        .checked_div(qty)
        .map_or(Decimal::ZERO, |a| a.round_dp(12).normalize())
}

fn add(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    a.checked_add(b).ok_or(MoneyError::Overflow)
}

fn sub(a: Decimal, b: Decimal) -> Result<Decimal, MoneyError> {
    a.checked_sub(b).ok_or(MoneyError::Overflow)
}

impl RoundTrip {
    /// A fill at `step`; the trade, when it brings the position back to
    /// flat. On overflow the trip is left as it was.
    pub fn fill(
        &mut self,
        side: Side,
        qty: Decimal,
        price: Price,
        fee: Decimal,
        step: usize,
        time: Timestamp,
    ) -> Result<Option<ClosedTrip>, MoneyError> {
        let mut next = if self.held.is_zero() {
            RoundTrip {
                entry_step: step,
                entry_time: time,
                ..RoundTrip::default()
            }
        } else {
            self.clone()
        };
        let value = price.get().checked_mul(qty).ok_or(MoneyError::Overflow)?;
        next.fees = add(next.fees, fee)?;
        match side {
            Side::Buy => {
                next.held = add(next.held, qty)?;
                next.bought = add(next.bought, value)?;
                next.bought_qty = add(next.bought_qty, qty)?;
                next.buys = next.buys.saturating_add(1);
                next.first_buy.get_or_insert(price);
            }
            Side::Sell => {
                next.held = sub(next.held, qty)?;
                next.sold = add(next.sold, value)?;
                next.sold_qty = add(next.sold_qty, qty)?;
                next.sells = next.sells.saturating_add(1);
                next.first_sell.get_or_insert(price);
            }
        }
        if !next.held.is_zero() || next.bought.is_zero() {
            *self = next;
            return Ok(None);
        }
        let t = next;
        let pnl = sub(sub(t.sold, t.bought)?, t.fees)?;
        *self = RoundTrip::default();
        Ok(Some(ClosedTrip {
            qty: t.bought_qty,
            entry_step: t.entry_step,
            entry_time: t.entry_time,
            entry_price: match (t.buys, t.first_buy) {
                (1, Some(p)) => p,
                _ => Price::new(avg(t.bought, t.bought_qty)),
            },
            exit_price: match (t.sells, t.first_sell) {
                (1, Some(p)) => p,
                _ => Price::new(avg(t.sold, t.sold_qty)),
            },
            pnl,
            fees: t.fees,
            return_frac: pnl
                .checked_div(t.bought)
                .and_then(|r| rust_decimal::prelude::ToPrimitive::to_f64(&r))
                .unwrap_or(0.0),
        }))
    }
}
