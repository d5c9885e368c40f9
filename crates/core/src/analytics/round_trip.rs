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
    /// Opened by a sell: a short.
    short: bool,
}

/// A finished round trip.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedTrip {
    /// The quantity opened over the trip (bought, or sold for a short).
    pub qty: Decimal,
    pub entry_step: usize,
    pub entry_time: Timestamp,
    /// The average opening price (buys; sells for a short).
    pub entry_price: Price,
    /// The average closing price (sells; buys for a short).
    pub exit_price: Price,
    /// Sales less purchases less every fee (and borrow cost) of the trip.
    pub pnl: Decimal,
    pub fees: Decimal,
    /// PnL over the entry value.
    pub return_frac: f64,
    /// Opened by a sell.
    pub short: bool,
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
                short: side == Side::Sell,
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
        if !next.held.is_zero() || next.bought.is_zero() || next.sold.is_zero() {
            *self = next;
            return Ok(None);
        }
        let t = next;
        let pnl = sub(sub(t.sold, t.bought)?, t.fees)?;
        *self = RoundTrip::default();
        let bought = match (t.buys, t.first_buy) {
            (1, Some(p)) => p,
            _ => Price::new(avg(t.bought, t.bought_qty)),
        };
        let sold = match (t.sells, t.first_sell) {
            (1, Some(p)) => p,
            _ => Price::new(avg(t.sold, t.sold_qty)),
        };
        let (qty, entry_price, exit_price, entry_value) = if t.short {
            (t.sold_qty, sold, bought, t.sold)
        } else {
            (t.bought_qty, bought, sold, t.bought)
        };
        Ok(Some(ClosedTrip {
            qty,
            entry_step: t.entry_step,
            entry_time: t.entry_time,
            entry_price,
            exit_price,
            pnl,
            fees: t.fees,
            return_frac: pnl
                .checked_div(entry_value)
                .and_then(|r| rust_decimal::prelude::ToPrimitive::to_f64(&r))
                .unwrap_or(0.0),
            short: t.short,
        }))
    }

    /// The position's size now: positive long, negative short.
    pub fn held(&self) -> Decimal {
        self.held
    }

    /// A cost of the open trip outside its fills (a short's borrow cost):
    /// counted in its fees and PnL when it closes.
    pub fn charge(&mut self, cost: Decimal) -> Result<(), MoneyError> {
        self.fees = add(self.fees, cost)?;
        Ok(())
    }
}

/// A closed round trip of a book (the manual book, or a bot's) in one symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct Trip {
    pub bot_id: Option<u64>,
    pub symbol: crate::instrument::Symbol,
    pub exit_time: Timestamp,
    pub trip: ClosedTrip,
}

/// The closed round trips in a set of fills: each book and symbol is its
/// own position, flat to flat, after every fee — the one definition of a
/// trade behind every win rate shown (trade stats, bot performance,
/// analytics). Fills are taken in time order; a trip still open at the end
/// is not counted. Amounts too large to sum leave their trip out.
pub fn round_trips(fills: &[crate::order::Execution]) -> Vec<Trip> {
    let mut sorted: Vec<&crate::order::Execution> = fills.iter().collect();
    sorted.sort_by_key(|e| (e.time, e.trade_id));
    let mut open: std::collections::HashMap<(Option<u64>, crate::instrument::Symbol), RoundTrip> =
        std::collections::HashMap::new();
    let mut out = Vec::new();
    for (i, e) in sorted.into_iter().enumerate() {
        let trip = open.entry((e.bot_id, e.symbol.clone())).or_default();
        if let Ok(Some(t)) = trip.fill(e.side, e.qty.get(), e.price, e.fee.get(), i, e.time) {
            out.push(Trip {
                bot_id: e.bot_id,
                symbol: e.symbol.clone(),
                exit_time: e.time,
                trip: t,
            });
        }
    }
    out
}

/// Won and lost trips (a trip that broke even is neither).
pub fn wins_and_losses<'a>(trips: impl IntoIterator<Item = &'a Trip>) -> (u64, u64) {
    trips.into_iter().fold((0, 0), |(w, l), t| {
        if t.trip.pnl.is_sign_positive() && !t.trip.pnl.is_zero() {
            (w.saturating_add(1), l)
        } else if t.trip.pnl.is_sign_negative() && !t.trip.pnl.is_zero() {
            (w, l.saturating_add(1))
        } else {
            (w, l)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::{Notional, Qty};
    use crate::order::Execution;
    use crate::order::Liquidity;

    fn fill(n: u64, bot: Option<u64>, side: Side, qty: &str, price: &str, fee: &str) -> Execution {
        Execution {
            trade_id: n,
            order_id: n,
            account: "paper".into(),
            symbol: "BTCUSDT".parse().expect("symbol"),
            side,
            qty: qty.parse::<Qty>().expect("qty"),
            price: price.parse().expect("price"),
            fee: fee.parse::<Notional>().expect("fee"),
            fee_asset: "USDT".into(),
            liquidity: Liquidity::Taker,
            realized_pnl: Notional::ZERO,
            bot_id: bot,
            time: Timestamp(i64::try_from(n).expect("small")),
        }
    }

    #[test]
    fn a_trip_is_won_or_lost_after_its_fees_per_book() {
        // A grid-like round trip: 0.03 % up, 0.1 % fees each way: a loss.
        let fills = [
            fill(1, Some(8), Side::Buy, "1", "100", "0.1"),
            fill(2, None, Side::Buy, "1", "100", "0"),
            fill(3, Some(8), Side::Sell, "1", "100.03", "0.10003"),
            fill(4, None, Side::Sell, "1", "101", "0"),
            fill(5, Some(8), Side::Buy, "1", "100", "0"),
        ];
        let trips = round_trips(&fills);
        assert_eq!(trips.len(), 2, "the bot's last buy is still open");
        let bot: Vec<&Trip> = trips.iter().filter(|t| t.bot_id == Some(8)).collect();
        assert_eq!(bot.len(), 1);
        assert!(bot[0].trip.pnl.is_sign_negative(), "{:?}", bot[0].trip);
        assert_eq!(wins_and_losses(bot), (0, 1));
        assert_eq!(wins_and_losses(&trips), (1, 1));
    }
}
