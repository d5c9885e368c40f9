//! Balances and positions: what an account holds, what open orders have
//! locked, and how every fill is booked — exactly.
//!
//! Invariants: balances are never negative; every operation is
//! all-or-nothing (on error nothing changed); a fill moves base and quote
//! and fee in one step; for every account,
//! `cash + Σ position × mark = deposits + realized + unrealized − fees`
//! holds exactly (property-tested below). Balances are amounts of one
//! asset and use [`Qty`]; quote amounts enter as [`Notional`].

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::money::{MAX_SCALE, Notional, Price, Qty};
use crate::order::Side;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Balance {
    pub free: Qty,
    /// Held by open orders.
    pub locked: Qty,
}

impl Balance {
    pub fn total(&self) -> Qty {
        self.free.checked_add(self.locked).unwrap_or(self.free)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("insufficient {asset} balance: {available} free, {required} required")]
    Insufficient {
        asset: String,
        available: String,
        required: String,
    },
    #[error("{asset}: cannot release {amount}, only {locked} is locked")]
    NotLocked {
        asset: String,
        amount: String,
        locked: String,
    },
    #[error("amount must not be negative")]
    Negative,
    #[error("arithmetic overflow")]
    Overflow,
}

/// One account's balances, by asset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    balances: BTreeMap<String, Balance>,
}

/// A fill to book: the instrument's assets, and what the order had locked
/// for this part of it (released by the fill).
#[derive(Debug, Clone, Copy)]
pub struct FillBooking<'a> {
    pub base: &'a str,
    pub quote: &'a str,
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
    /// Always charged in the quote asset.
    pub fee: Notional,
    /// Buy: quote released from the order's lock; sell: base released.
    pub release: Qty,
}

fn add(a: Qty, b: Qty) -> Result<Qty, LedgerError> {
    a.checked_add(b).ok_or(LedgerError::Overflow)
}

fn sub(a: Qty, b: Qty) -> Result<Qty, LedgerError> {
    a.checked_sub(b).ok_or(LedgerError::Overflow)
}

pub fn as_qty(n: Notional) -> Qty {
    Qty::new(n.get())
}

impl Ledger {
    pub fn from_balances(balances: BTreeMap<String, Balance>) -> Self {
        Ledger { balances }
    }

    pub fn balances(&self) -> &BTreeMap<String, Balance> {
        &self.balances
    }

    pub fn balance(&self, asset: &str) -> Balance {
        self.balances.get(asset).copied().unwrap_or_default()
    }

    pub fn deposit(&mut self, asset: &str, amount: Qty) -> Result<(), LedgerError> {
        if amount.is_negative() {
            return Err(LedgerError::Negative);
        }
        let b = self.balance(asset);
        let free = add(b.free, amount)?;
        self.balances
            .insert(asset.to_owned(), Balance { free, ..b });
        Ok(())
    }

    /// Moves `amount` from free to locked, or fails naming the shortfall.
    pub fn lock(&mut self, asset: &str, amount: Qty) -> Result<(), LedgerError> {
        if amount.is_negative() {
            return Err(LedgerError::Negative);
        }
        let b = self.balance(asset);
        if b.free < amount {
            return Err(LedgerError::Insufficient {
                asset: asset.to_owned(),
                available: b.free.to_string(),
                required: amount.to_string(),
            });
        }
        let new = Balance {
            free: sub(b.free, amount)?,
            locked: add(b.locked, amount)?,
        };
        self.balances.insert(asset.to_owned(), new);
        Ok(())
    }

    /// Moves `amount` from locked back to free.
    pub fn unlock(&mut self, asset: &str, amount: Qty) -> Result<(), LedgerError> {
        if amount.is_negative() {
            return Err(LedgerError::Negative);
        }
        let b = self.balance(asset);
        if b.locked < amount {
            return Err(LedgerError::NotLocked {
                asset: asset.to_owned(),
                amount: amount.to_string(),
                locked: b.locked.to_string(),
            });
        }
        let new = Balance {
            free: add(b.free, amount)?,
            locked: sub(b.locked, amount)?,
        };
        self.balances.insert(asset.to_owned(), new);
        Ok(())
    }

    /// Books a fill. A buy spends quote (from its release, topping up from
    /// free if the fill cost more than was locked) and receives base; a sell
    /// spends locked base and receives quote less the fee.
    pub fn book_fill(&mut self, f: &FillBooking<'_>) -> Result<(), LedgerError> {
        let value = as_qty(
            f.price
                .checked_mul_qty(f.qty)
                .ok_or(LedgerError::Overflow)?,
        );
        let fee = as_qty(f.fee);
        let mut base = self.balance(f.base);
        let mut quote = self.balance(f.quote);
        match f.side {
            Side::Buy => {
                if quote.locked < f.release {
                    return Err(LedgerError::NotLocked {
                        asset: f.quote.to_owned(),
                        amount: f.release.to_string(),
                        locked: quote.locked.to_string(),
                    });
                }
                let spend = add(value, fee)?;
                quote.locked = sub(quote.locked, f.release)?;
                let free = add(quote.free, f.release)?;
                if free < spend {
                    return Err(LedgerError::Insufficient {
                        asset: f.quote.to_owned(),
                        available: free.to_string(),
                        required: spend.to_string(),
                    });
                }
                quote.free = sub(free, spend)?;
                base.free = add(base.free, f.qty)?;
            }
            Side::Sell => {
                if base.locked < f.release || f.release < f.qty {
                    return Err(LedgerError::NotLocked {
                        asset: f.base.to_owned(),
                        amount: f.qty.to_string(),
                        locked: base.locked.to_string(),
                    });
                }
                base.locked = sub(base.locked, f.release)?;
                base.free = add(base.free, sub(f.release, f.qty)?)?;
                let proceeds = sub(value, fee)?;
                let free = add(quote.free, proceeds)?;
                if free.is_negative() {
                    return Err(LedgerError::Insufficient {
                        asset: f.quote.to_owned(),
                        available: quote.free.to_string(),
                        required: fee.to_string(),
                    });
                }
                quote.free = free;
            }
        }
        self.balances.insert(f.base.to_owned(), base);
        self.balances.insert(f.quote.to_owned(), quote);
        Ok(())
    }
}

/// A position in one symbol, booked at average cost.
///
/// The cost basis is kept as a notional rather than an average price, so
/// that reducing a position never loses a fraction: the cost taken out plus
/// the cost left in always equals the cost put in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Position {
    /// Signed: positive long, negative short.
    pub qty: Qty,
    /// Signed cost of the open quantity.
    pub cost: Notional,
    pub realized: Notional,
    pub fees: Notional,
}

impl Position {
    pub fn avg_price(&self) -> Option<Price> {
        if self.qty.is_zero() {
            None
        } else {
            self.cost
                .checked_div_qty(self.qty)
                .map(|p| Price::new(p.get().round_dp(MAX_SCALE)).normalize())
        }
    }

    pub fn unrealized(&self, mark: Price) -> Option<Notional> {
        mark.checked_mul_qty(self.qty)?.checked_sub(self.cost)
    }

    /// Books a fill and returns the PnL it realized.
    pub fn apply_fill(
        &mut self,
        side: Side,
        qty: Qty,
        price: Price,
        fee: Notional,
    ) -> Option<Notional> {
        let mut next = *self;
        next.fees = next.fees.checked_add(fee)?;
        let dir = match side {
            Side::Buy => Decimal::ONE,
            Side::Sell => Decimal::NEGATIVE_ONE,
        };
        let held_dir = match next.qty.get() {
            d if d > Decimal::ZERO => Decimal::ONE,
            d if d < Decimal::ZERO => Decimal::NEGATIVE_ONE,
            _ => Decimal::ZERO,
        };
        let mut realized = Notional::ZERO;
        let mut rest = qty;
        if !held_dir.is_zero() && held_dir != dir {
            let held = next.qty.abs();
            let closing = rest.min(held);
            let cost_out = Notional::new(
                next.cost
                    .get()
                    .checked_mul(closing.get())?
                    .checked_div(held.get())?
                    .round_dp_with_strategy(MAX_SCALE, RoundingStrategy::MidpointNearestEven),
            );
            let exit_value = price.checked_mul_qty(closing)?.checked_scale(held_dir)?;
            realized = exit_value.checked_sub(cost_out)?;
            next.cost = next.cost.checked_sub(cost_out)?;
            next.qty = Qty::new(
                next.qty
                    .get()
                    .checked_sub(closing.get().checked_mul(held_dir)?)?,
            );
            next.realized = next.realized.checked_add(realized)?;
            rest = rest.checked_sub(closing)?;
        }
        if rest.is_positive() {
            next.qty = Qty::new(next.qty.get().checked_add(rest.get().checked_mul(dir)?)?);
            next.cost = next
                .cost
                .checked_add(price.checked_mul_qty(rest)?.checked_scale(dir)?)?;
        }
        if next.qty.is_zero() {
            // Flat: the cost basis is exactly what was realized already.
            next.cost = Notional::ZERO;
        }
        *self = next;
        Some(realized)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn q(s: &str) -> Qty {
        s.parse().unwrap()
    }

    #[test]
    fn locks_fail_with_the_shortfall_and_change_nothing() {
        let mut l = Ledger::default();
        l.deposit("USDT", q("100")).unwrap();
        let before = l.clone();
        let err = l.lock("USDT", q("150")).unwrap_err().to_string();
        assert_eq!(err, "insufficient USDT balance: 100 free, 150 required");
        assert_eq!(l, before);
        l.lock("USDT", q("60")).unwrap();
        assert_eq!(
            l.balance("USDT"),
            Balance {
                free: q("40"),
                locked: q("60")
            }
        );
        assert!(l.unlock("USDT", q("61")).is_err());
        l.unlock("USDT", q("60")).unwrap();
        assert_eq!(l, before);
    }

    #[test]
    fn a_buy_and_a_sell_book_exactly() {
        let mut l = Ledger::default();
        l.deposit("USDT", q("1000")).unwrap();
        l.lock("USDT", q("101")).unwrap();
        let buy = FillBooking {
            base: "BTC",
            quote: "USDT",
            side: Side::Buy,
            qty: q("2"),
            price: "50".parse().unwrap(),
            fee: "0.1".parse().unwrap(),
            release: q("101"),
        };
        l.book_fill(&buy).unwrap();
        assert_eq!(
            l.balance("USDT"),
            Balance {
                free: q("899.9"),
                locked: Qty::ZERO
            }
        );
        assert_eq!(
            l.balance("BTC"),
            Balance {
                free: q("2"),
                locked: Qty::ZERO
            }
        );
        l.lock("BTC", q("2")).unwrap();
        let sell = FillBooking {
            side: Side::Sell,
            price: "60".parse().unwrap(),
            fee: "0.12".parse().unwrap(),
            release: q("2"),
            ..buy
        };
        l.book_fill(&sell).unwrap();
        assert_eq!(l.balance("USDT").free, q("1019.78"));
        assert_eq!(l.balance("BTC").total(), Qty::ZERO);
    }

    #[test]
    fn positions_realize_at_average_cost() {
        let mut p = Position::default();
        p.apply_fill(Side::Buy, q("1"), "100".parse().unwrap(), Notional::ZERO)
            .unwrap();
        p.apply_fill(Side::Buy, q("2"), "130".parse().unwrap(), Notional::ZERO)
            .unwrap();
        assert_eq!(p.avg_price(), Some("120".parse().unwrap()));
        let r = p
            .apply_fill(
                Side::Sell,
                q("1.5"),
                "140".parse().unwrap(),
                "0.5".parse().unwrap(),
            )
            .unwrap();
        assert_eq!(r, "30".parse().unwrap());
        assert_eq!(p.qty, q("1.5"));
        assert_eq!(
            p.unrealized("110".parse().unwrap()),
            Some("-15".parse().unwrap())
        );
        // Thirds do not divide evenly; the books still balance.
        let mut p = Position::default();
        p.apply_fill(Side::Buy, q("3"), "10".parse().unwrap(), Notional::ZERO)
            .unwrap();
        p.apply_fill(Side::Buy, q("3"), "10.01".parse().unwrap(), Notional::ZERO)
            .unwrap();
        p.apply_fill(Side::Sell, q("1"), "11".parse().unwrap(), Notional::ZERO)
            .unwrap();
        p.apply_fill(Side::Sell, q("5"), "11".parse().unwrap(), Notional::ZERO)
            .unwrap();
        assert_eq!(p.qty, Qty::ZERO);
        assert_eq!(p.realized, "5.97".parse().unwrap());
    }

    proptest! {
        /// Ledger conservation over random fill sequences: cash plus the
        /// position marked at any price equals the deposit plus realized plus
        /// unrealized PnL minus fees, to the last digit.
        #[test]
        fn conservation(
            fills in prop::collection::vec((any::<bool>(), 1i64..5_000, 1i64..1_000_000, 0i64..200), 1..60),
            mark in 1i64..1_000_000,
        ) {
            let init = q("100000");
            let mut l = Ledger::default();
            l.deposit("USDT", init).unwrap();
            let mut pos = Position::default();
            for (buy, qty, price, fee_bp) in fills {
                let qty = Qty::new(Decimal::new(qty, 3));
                let price = Price::new(Decimal::new(price, 2));
                let value = price.checked_mul_qty(qty).unwrap();
                let fee = Notional::new((value.get() * Decimal::new(fee_bp, 4)).round_dp(8));
                let (side, asset, lock) = if buy {
                    (Side::Buy, "USDT", as_qty(value.checked_add(fee).unwrap()))
                } else {
                    (Side::Sell, "BTC", qty)
                };
                if l.lock(asset, lock).is_err() {
                    continue;
                }
                let booking = FillBooking { base: "BTC", quote: "USDT", side, qty, price, fee, release: lock };
                if l.book_fill(&booking).is_err() {
                    l.unlock(asset, lock).unwrap();
                    continue;
                }
                pos.apply_fill(side, qty, price, fee).unwrap();
                prop_assert_eq!(l.balance("BTC").total(), pos.qty);
            }
            let mark = Price::new(Decimal::new(mark, 2));
            let cash = l.balance("USDT").total().get();
            let equity = cash + mark.checked_mul_qty(pos.qty).unwrap().get();
            let books = init.get() + pos.realized.get() + pos.unrealized(mark).unwrap().get() - pos.fees.get();
            prop_assert_eq!(equity, books);
            for b in l.balances().values() {
                prop_assert!(!b.free.is_negative() && !b.locked.is_negative());
            }
        }
    }
}
