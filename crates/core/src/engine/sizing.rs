//! Order sizing: how much a strategy's action buys or sells under its
//! sizing mode, at the lot and within what the bot holds.

#![deny(clippy::arithmetic_side_effects)]

use rust_decimal::Decimal;

use crate::instrument::{Instrument, Symbol};
use crate::money::{Price, Qty};
use crate::strategy::{Sizing, SizingMode};

use crate::portfolio::Portfolio;

/// Why the sizing rule buys nothing (worded when shown: a backtest meets
/// these often and formats none of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeError {
    NoPrice,
    NoLotSize {
        symbol: Symbol,
    },
    BelowMinQty {
        qty: Qty,
        min: Qty,
        free: Qty,
    },
    BelowMinNotional {
        value: Decimal,
        min: crate::money::Notional,
    },
    /// The amounts (price, funds, sizing value) are too large to size an
    /// order exactly.
    TooLarge {
        symbol: Symbol,
    },
}

impl std::fmt::Display for SizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SizeError::NoPrice => f.write_str("no price"),
            SizeError::NoLotSize { symbol } => write!(f, "{symbol} has no lot size"),
            SizeError::BelowMinQty { qty, min, free } => write!(
                f,
                "{qty} is below the minimum quantity {min} (free funds: {free})"
            ),
            SizeError::BelowMinNotional { value, min } => {
                write!(f, "order value {value} is below the minimum notional {min}")
            }
            SizeError::TooLarge { symbol } => write!(
                f,
                "the amounts are too large to size an order in {symbol} exactly"
            ),
        }
    }
}

/// The sizing rule applied at `price` to what `p` holds, on the
/// instrument's lot grid; an error says why nothing can be bought.
pub fn size<P: Portfolio>(
    sizing: &Sizing,
    fee_rate: Decimal,
    inst: &Instrument,
    price: Price,
    p: &P,
) -> Result<Qty, SizeError> {
    let free = p.free(&inst.quote).get().max(Decimal::ZERO);
    size_within(sizing, fee_rate, inst, price, p, free)
}

/// [`size`] within `budget` (a quote amount, fees included) instead of
/// the free quote balance.
pub fn size_within<P: Portfolio>(
    sizing: &Sizing,
    fee_rate: Decimal,
    inst: &Instrument,
    price: Price,
    p: &P,
    budget: Decimal,
) -> Result<Qty, SizeError> {
    if !price.is_positive() {
        return Err(SizeError::NoPrice);
    }
    let lot = inst.lot_size.get();
    if lot <= Decimal::ZERO {
        return Err(SizeError::NoLotSize {
            symbol: inst.symbol.clone(),
        });
    }
    let too_large = || SizeError::TooLarge {
        symbol: inst.symbol.clone(),
    };
    // The cost of one lot, fee included: quantities are whole lots.
    let lot_cost = Decimal::ONE
        .checked_add(fee_rate)
        .and_then(|f| price.get().checked_mul(f))
        .and_then(|c| c.checked_mul(lot))
        .filter(|c| *c > Decimal::ZERO)
        .ok_or_else(too_large)?;
    let free = budget.max(Decimal::ZERO);
    let lots_for = |budget: Decimal| budget.checked_div(lot_cost).map(|n| n.floor());
    let lots = match sizing.mode {
        SizingMode::FixedQty => sizing
            .value
            .get()
            .checked_div(lot)
            .map(|n| n.floor())
            .zip(lots_for(free))
            .map(|(a, b)| a.min(b)),
        SizingMode::Quote => lots_for(sizing.value.get().min(free)),
        SizingMode::Percent => p
            .equity()
            .checked_mul(sizing.value.get())
            .and_then(|e| e.checked_mul(Decimal::new(1, 2)))
            .and_then(|budget| lots_for(budget.min(free).max(Decimal::ZERO))),
    }
    .ok_or_else(too_large)?;
    let mut qty = Qty::new(lots.checked_mul(lot).ok_or_else(too_large)?.normalize());
    if sizing.whole_units {
        qty = Qty::new(qty.get().floor())
            .floor_to(inst.lot_size)
            .unwrap_or(Qty::ZERO);
    }
    if qty.is_zero() || qty < inst.min_qty {
        return Err(SizeError::BelowMinQty {
            qty,
            min: inst.min_qty,
            free: Qty::new(free),
        });
    }
    let value = price
        .checked_mul_qty(qty)
        .map_or(Decimal::ZERO, crate::money::Notional::get);
    if value < inst.min_notional.get() {
        return Err(SizeError::BelowMinNotional {
            value,
            min: inst.min_notional,
        });
    }
    Ok(qty)
}
