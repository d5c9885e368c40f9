//! Balances and positions: what an account holds, what open orders have
//! locked, and how every fill is booked — exactly.
//!
//! Invariants: balances are never negative (what a margin account owes
//! is its own figure, `borrowed`, never a negative balance); every operation is
//! all-or-nothing (on error nothing changed); a fill moves base and quote
//! and fee in one step; for every account,
//! `cash + Σ position × mark = deposits + realized + unrealized − fees`
//! holds exactly (property-tested below). Balances are amounts of one
//! asset and use [`Qty`]; quote amounts enter as [`Notional`].

#![deny(clippy::arithmetic_side_effects)]

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::instrument::Symbol;
use crate::money::{MAX_SCALE, Notional, Price, Qty};
use crate::order::Side;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Balance {
    pub free: Qty,
    /// Held by open orders.
    pub locked: Qty,
    /// Owed (a margin account's loan of the asset): what a short sold
    /// beyond what was held, or quote borrowed to pay borrow interest.
    /// Repaid out of the free balance as soon as there is any, so a
    /// book's `free` and `borrowed` of one asset are never both positive.
    #[serde(default, skip_serializing_if = "Qty::is_zero_ref")]
    pub borrowed: Qty,
}

impl Balance {
    /// What is held: free and locked (before what is owed).
    pub fn total(&self) -> Qty {
        self.free.checked_add(self.locked).unwrap_or(self.free)
    }

    /// What is held less what is owed (negative while short).
    pub fn net(&self) -> Qty {
        self.total()
            .checked_sub(self.borrowed)
            .unwrap_or_else(|| self.total())
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
    #[error("bot {0} has no book in this account")]
    NoBook(u64),
    #[error("bot {0} already has a book in this account")]
    BookExists(u64),
    #[error("{asset}: {locked} is still locked by open orders")]
    StillLocked { asset: String, locked: String },
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
    /// The commission charged in the quote asset.
    pub fee: Notional,
    /// A buy's commission charged in the base asset, out of what it bought.
    pub fee_base: Qty,
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
        self.update(asset, amount, |b| {
            Ok(Balance {
                free: add(b.free, amount)?,
                ..b
            })
        })
    }

    /// Takes `amount` out of the free balance, or fails naming the shortfall.
    pub fn withdraw(&mut self, asset: &str, amount: Qty) -> Result<(), LedgerError> {
        self.update(asset, amount, |b| {
            if b.free < amount {
                return Err(Self::insufficient(asset, b.free, amount));
            }
            Ok(Balance {
                free: sub(b.free, amount)?,
                ..b
            })
        })
    }

    /// Replaces `asset`'s balance by what `f` makes of it and a
    /// non-negative `amount`; nothing changes on error.
    fn update(
        &mut self,
        asset: &str,
        amount: Qty,
        f: impl FnOnce(Balance) -> Result<Balance, LedgerError>,
    ) -> Result<(), LedgerError> {
        if amount.is_negative() {
            return Err(LedgerError::Negative);
        }
        let new = f(self.balance(asset))?;
        self.balances.insert(asset.to_owned(), new);
        Ok(())
    }

    fn insufficient(asset: &str, available: Qty, required: Qty) -> LedgerError {
        LedgerError::Insufficient {
            asset: asset.to_owned(),
            available: available.to_string(),
            required: required.to_string(),
        }
    }

    /// Moves `amount` from free to locked, or fails naming the shortfall.
    pub fn lock(&mut self, asset: &str, amount: Qty) -> Result<(), LedgerError> {
        self.update(asset, amount, |b| {
            if b.free < amount {
                return Err(Self::insufficient(asset, b.free, amount));
            }
            Ok(Balance {
                free: sub(b.free, amount)?,
                locked: add(b.locked, amount)?,
                ..b
            })
        })
    }

    /// Moves `amount` from locked back to free.
    pub fn unlock(&mut self, asset: &str, amount: Qty) -> Result<(), LedgerError> {
        self.update(asset, amount, |b| {
            if b.locked < amount {
                return Err(LedgerError::NotLocked {
                    asset: asset.to_owned(),
                    amount: amount.to_string(),
                    locked: b.locked.to_string(),
                });
            }
            Ok(Balance {
                free: add(b.free, amount)?,
                locked: sub(b.locked, amount)?,
                ..b
            })
        })
    }

    /// Borrows `amount` of `asset` (a margin account's loan): it becomes
    /// free to use and is owed.
    pub fn borrow(&mut self, asset: &str, amount: Qty) -> Result<(), LedgerError> {
        self.update(asset, amount, |b| {
            Ok(Balance {
                free: add(b.free, amount)?,
                borrowed: add(b.borrowed, amount)?,
                ..b
            })
        })
    }

    /// Repays `amount` of what is owed of `asset` out of the free balance.
    pub fn repay(&mut self, asset: &str, amount: Qty) -> Result<(), LedgerError> {
        self.update(asset, amount, |b| {
            if amount > b.borrowed {
                return Err(LedgerError::Negative);
            }
            if b.free < amount {
                return Err(Self::insufficient(asset, b.free, amount));
            }
            Ok(Balance {
                free: sub(b.free, amount)?,
                borrowed: sub(b.borrowed, amount)?,
                ..b
            })
        })
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
                base.free = add(base.free, sub(f.qty, f.fee_base)?)?;
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
    /// The price gain or loss of what was closed, before fees.
    pub realized: Notional,
    /// Every fee paid, for open and closed quantity alike.
    pub fees: Notional,
    /// The part of `fees` paid for the quantity still open (its entry
    /// fees); it moves to the closed part, pro rata, as the position closes.
    #[serde(default)]
    pub open_fees: Notional,
}

impl Position {
    /// Two books' positions as one: every field is a sum.
    pub fn merged(&self, o: &Position) -> Result<Position, LedgerError> {
        let f = || LedgerError::Overflow;
        Ok(Position {
            qty: self.qty.checked_add(o.qty).ok_or_else(f)?,
            cost: self.cost.checked_add(o.cost).ok_or_else(f)?,
            realized: self.realized.checked_add(o.realized).ok_or_else(f)?,
            fees: self.fees.checked_add(o.fees).ok_or_else(f)?,
            open_fees: self.open_fees.checked_add(o.open_fees).ok_or_else(f)?,
        })
    }

    /// The realized PnL after every fee of what was closed (its entry fees
    /// and its exit fees).
    pub fn realized_net(&self) -> Option<Notional> {
        self.realized
            .checked_sub(self.fees.checked_sub(self.open_fees)?)
    }

    /// The unrealized PnL at `mark` after the open quantity's entry fees
    /// (the exit fee is not paid yet). `realized_net + unrealized_net` is
    /// all the PnL after all fees.
    pub fn unrealized_net(&self, mark: Price) -> Option<Notional> {
        self.unrealized(mark)?.checked_sub(self.open_fees)
    }

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

    /// Books a fill and returns the PnL it realized after fees: the price
    /// gain or loss of what it closed, less its own fee on that part and
    /// the entry fees of the quantity closed. A fill that only opens
    /// realizes nothing (its fee waits in `open_fees`).
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
        // A part of `whole` in the proportion `part / of`, exact when the
        // part is all of it (so nothing is ever left behind).
        let share = |whole: Notional, part: Qty, of: Qty| -> Option<Notional> {
            if part == of {
                return Some(whole);
            }
            Some(Notional::new(
                whole
                    .get()
                    .checked_mul(part.get())?
                    .checked_div(of.get())?
                    .round_dp_with_strategy(MAX_SCALE, RoundingStrategy::MidpointNearestEven),
            ))
        };
        let mut realized = Notional::ZERO;
        let mut rest = qty;
        let mut fee_left = fee;
        if !held_dir.is_zero() && held_dir != dir {
            let held = next.qty.abs();
            let closing = rest.min(held);
            // Closing all of it takes out the whole cost basis, exactly.
            let cost_out = share(next.cost, closing, held)?;
            let entry_fees_out = share(next.open_fees, closing, held)?;
            let exit_fee = share(fee, closing, qty)?;
            let exit_value = price.checked_mul_qty(closing)?.checked_scale(held_dir)?;
            let gross = exit_value.checked_sub(cost_out)?;
            realized = gross.checked_sub(exit_fee)?.checked_sub(entry_fees_out)?;
            fee_left = fee_left.checked_sub(exit_fee)?;
            next.cost = next.cost.checked_sub(cost_out)?;
            next.open_fees = next.open_fees.checked_sub(entry_fees_out)?;
            next.qty = Qty::new(
                next.qty
                    .get()
                    .checked_sub(closing.get().checked_mul(held_dir)?)?,
            );
            next.realized = next.realized.checked_add(gross)?;
            rest = rest.checked_sub(closing)?;
        }
        if rest.is_positive() {
            next.qty = Qty::new(next.qty.get().checked_add(rest.get().checked_mul(dir)?)?);
            next.cost = next
                .cost
                .checked_add(price.checked_mul_qty(rest)?.checked_scale(dir)?)?;
            next.open_fees = next.open_fees.checked_add(fee_left)?;
        }
        if next.qty.is_zero() {
            // Flat: the cost basis is exactly what was realized already.
            next.cost = Notional::ZERO;
            next.open_fees = Notional::ZERO;
        }
        *self = next;
        Some(realized)
    }
}

/// One account's holdings split into books: the account's own (manual
/// trading) and one per bot. Only the total is real at the venue; a bot's
/// book is the part of it the bot may use and the record of what it did.
///
/// Invariants (property-tested): for every asset, the manual book — the
/// total less every bot's book — is never negative, free or locked; a
/// bot's book never goes negative; an account position is the sum of its
/// books' positions, field by field. Every operation is all-or-nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Books {
    pub total: Ledger,
    /// The manual book's positions.
    pub manual: BTreeMap<Symbol, Position>,
    pub bots: BTreeMap<u64, SubLedger>,
}

/// A bot's part of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubLedger {
    pub ledger: Ledger,
    pub positions: BTreeMap<Symbol, Position>,
    /// What it was given: its PnL is its equity less this, valued now.
    pub allocated: BTreeMap<String, Qty>,
}

/// Which book an order or fill belongs to: `None` is the manual book.
pub type BookId = Option<u64>;

impl Books {
    /// What the manual book holds of `asset`: the total less the bots'.
    pub fn manual_balance(&self, asset: &str) -> Balance {
        let total = self.total.balance(asset);
        let mut free = total.free.get();
        let mut locked = total.locked.get();
        let mut borrowed = total.borrowed.get();
        for b in self.bots.values() {
            let own = b.ledger.balance(asset);
            // Each bot's part is within the total: no overflow.
            free = free.checked_sub(own.free.get()).unwrap_or(free);
            locked = locked.checked_sub(own.locked.get()).unwrap_or(locked);
            borrowed = borrowed.checked_sub(own.borrowed.get()).unwrap_or(borrowed);
        }
        Balance {
            free: Qty::new(free),
            locked: Qty::new(locked),
            borrowed: Qty::new(borrowed),
        }
    }

    /// Borrows `amount` of `asset` into `book` (a margin account's loan):
    /// free to use in that book, and owed by it.
    pub fn borrow(&mut self, book: BookId, asset: &str, amount: Qty) -> Result<(), LedgerError> {
        let mut total = self.total.clone();
        total.borrow(asset, amount)?;
        if let Some(id) = book {
            self.bot_mut(id)?.ledger.borrow(asset, amount)?;
        }
        self.total = total;
        Ok(())
    }

    /// Repays what `book` owes of `asset` out of its free balance, as far
    /// as that goes; returns what was repaid. Every unlock and fill calls
    /// it, so a book never holds free what it owes (a spot account owes
    /// nothing: it changes nothing there).
    pub fn settle(&mut self, book: BookId, asset: &str) -> Result<Qty, LedgerError> {
        let own = self.balance(book, asset);
        let repay = own.free.min(own.borrowed);
        if !repay.is_positive() {
            return Ok(Qty::ZERO);
        }
        let mut total = self.total.clone();
        total.repay(asset, repay)?;
        if let Some(id) = book {
            self.bot_mut(id)?.ledger.repay(asset, repay)?;
        }
        self.total = total;
        Ok(repay)
    }

    /// The balance `book` may use.
    pub fn balance(&self, book: BookId, asset: &str) -> Balance {
        match book.and_then(|id| self.bots.get(&id)) {
            Some(b) => b.ledger.balance(asset),
            None => self.manual_balance(asset),
        }
    }

    fn bot_mut(&mut self, id: u64) -> Result<&mut SubLedger, LedgerError> {
        self.bots.get_mut(&id).ok_or(LedgerError::NoBook(id))
    }

    /// Locks `amount` of what `book` holds free.
    pub fn lock(&mut self, book: BookId, asset: &str, amount: Qty) -> Result<(), LedgerError> {
        match book {
            Some(id) => {
                self.bot_mut(id)?.ledger.lock(asset, amount)?;
                if let Err(e) = self.total.lock(asset, amount) {
                    // Cannot happen while the invariant holds; undo anyway.
                    let _ = self.bot_mut(id)?.ledger.unlock(asset, amount);
                    return Err(e);
                }
                Ok(())
            }
            None => {
                let free = self.manual_balance(asset).free;
                if free < amount {
                    return Err(LedgerError::Insufficient {
                        asset: asset.to_owned(),
                        available: free.max(Qty::ZERO).to_string(),
                        required: amount.to_string(),
                    });
                }
                self.total.lock(asset, amount)
            }
        }
    }

    /// Moves `amount` of `book`'s locked `asset` back to free, which first
    /// repays what the book owes of it.
    pub fn unlock(&mut self, book: BookId, asset: &str, amount: Qty) -> Result<(), LedgerError> {
        self.unlock_only(book, asset, amount)?;
        self.settle(book, asset).map(|_| ())
    }

    fn unlock_only(&mut self, book: BookId, asset: &str, amount: Qty) -> Result<(), LedgerError> {
        match book {
            Some(id) => {
                let mut sub = self.bot_mut(id)?.ledger.clone();
                sub.unlock(asset, amount)?;
                self.total.unlock(asset, amount)?;
                self.bot_mut(id)?.ledger = sub;
                Ok(())
            }
            None => {
                let locked = self.manual_balance(asset).locked;
                if locked < amount {
                    return Err(LedgerError::NotLocked {
                        asset: asset.to_owned(),
                        amount: amount.to_string(),
                        locked: locked.to_string(),
                    });
                }
                self.total.unlock(asset, amount)
            }
        }
    }

    /// Books a fill into `book` and the total, and into the book's
    /// position in `symbol`; returns the PnL it realized for that book.
    pub fn book_fill(
        &mut self,
        book: BookId,
        symbol: &Symbol,
        f: &FillBooking<'_>,
    ) -> Result<Notional, LedgerError> {
        let mut total = self.total.clone();
        total.book_fill(f)?;
        let (ledger, positions) = match book {
            Some(id) => {
                let b = self.bot_mut(id)?;
                let mut l = b.ledger.clone();
                l.book_fill(f)?;
                (Some(l), &mut b.positions)
            }
            None => (None, &mut self.manual),
        };
        let mut position = positions.get(symbol).copied().unwrap_or_default();
        // A commission in the base asset: the position holds what was
        // received, and the commission's value at the fill price is a fee
        // (so the cost of what is held plus fees is what was spent).
        let held = sub(f.qty, f.fee_base)?;
        let fee = f
            .price
            .checked_mul_qty(f.fee_base)
            .and_then(|v| v.checked_add(f.fee))
            .ok_or(LedgerError::Overflow)?;
        let realized = position
            .apply_fill(f.side, held, f.price, fee)
            .ok_or(LedgerError::Overflow)?;
        positions.insert(symbol.clone(), position);
        if let (Some(id), Some(l)) = (book, ledger) {
            self.bot_mut(id)?.ledger = l;
        }
        self.total = total;
        // What a buy received first repays what the book owes (covering a
        // short); a sell's proceeds repay borrowed quote.
        self.settle(book, f.base)?;
        self.settle(book, f.quote)?;
        Ok(realized)
    }

    /// Charges `book` a cost in the quote asset that belongs to its
    /// position in `symbol` (a margin account's borrow interest): paid out
    /// of its free quote, and borrowed where that does not reach; counted
    /// in the position's fees (its open part, so the trade that closes it
    /// realizes it). Nothing changes on error.
    pub fn charge(
        &mut self,
        book: BookId,
        symbol: &Symbol,
        quote: &str,
        amount: Notional,
    ) -> Result<(), LedgerError> {
        let amount_q = as_qty(amount);
        if amount_q.is_negative() {
            return Err(LedgerError::Negative);
        }
        let mut next = self.clone();
        let free = next.balance(book, quote).free;
        let short = sub(amount_q, free.min(amount_q))?;
        if short.is_positive() {
            next.borrow(book, quote, short)?;
        }
        if let Some(id) = book {
            next.bot_mut(id)?.ledger.withdraw(quote, amount_q)?;
        }
        next.total.withdraw(quote, amount_q)?;
        let positions = match book {
            Some(id) => &mut next.bot_mut(id)?.positions,
            None => &mut next.manual,
        };
        let mut p = positions.get(symbol).copied().unwrap_or_default();
        p.fees = p.fees.checked_add(amount).ok_or(LedgerError::Overflow)?;
        if !p.qty.is_zero() {
            p.open_fees = p
                .open_fees
                .checked_add(amount)
                .ok_or(LedgerError::Overflow)?;
        }
        positions.insert(symbol.clone(), p);
        *self = next;
        Ok(())
    }

    /// Gives a bot a book holding `amounts`, taken from the manual book's
    /// free balances.
    pub fn allocate(
        &mut self,
        id: u64,
        amounts: &BTreeMap<String, Qty>,
    ) -> Result<(), LedgerError> {
        if self.bots.contains_key(&id) {
            return Err(LedgerError::BookExists(id));
        }
        let mut sub = SubLedger::default();
        for (asset, amount) in amounts {
            let free = self.manual_balance(asset).free;
            if free < *amount {
                return Err(LedgerError::Insufficient {
                    asset: asset.clone(),
                    available: free.max(Qty::ZERO).to_string(),
                    required: amount.to_string(),
                });
            }
            sub.ledger.deposit(asset, *amount)?;
        }
        sub.allocated.clone_from(amounts);
        self.bots.insert(id, sub);
        Ok(())
    }

    /// Moves `amount` of `asset` between the manual book's free balance and
    /// a bot's (`to_bot`: into the bot's book, else out of it), and counts
    /// it in what the bot was given, so its PnL does not move. A bot's net
    /// allocation of an asset goes below zero when more is taken out than
    /// was put in (profit taken). Nothing changes on error.
    pub fn transfer(
        &mut self,
        id: u64,
        asset: &str,
        amount: Qty,
        to_bot: bool,
    ) -> Result<(), LedgerError> {
        if amount.is_negative() {
            return Err(LedgerError::Negative);
        }
        let manual_free = self.manual_balance(asset).free;
        let book = self.bot_mut(id)?;
        let mut next = book.clone();
        let given = next.allocated.get(asset).copied().unwrap_or(Qty::ZERO);
        if to_bot {
            if manual_free < amount {
                return Err(LedgerError::Insufficient {
                    asset: asset.to_owned(),
                    available: manual_free.max(Qty::ZERO).to_string(),
                    required: amount.to_string(),
                });
            }
            next.ledger.deposit(asset, amount)?;
            next.allocated.insert(asset.to_owned(), add(given, amount)?);
        } else {
            next.ledger.withdraw(asset, amount)?;
            next.allocated.insert(asset.to_owned(), sub(given, amount)?);
        }
        *book = next;
        Ok(())
    }

    /// Ends a bot's book: what it holds (and owes) returns to the manual
    /// book, and so do its positions (merged field by field). It must hold
    /// nothing locked. Nothing changes on error.
    pub fn release(&mut self, id: u64) -> Result<SubLedger, LedgerError> {
        let sub = self.bots.get(&id).ok_or(LedgerError::NoBook(id))?;
        if let Some((asset, b)) = sub
            .ledger
            .balances()
            .iter()
            .find(|(_, b)| b.locked.is_positive())
        {
            return Err(LedgerError::StillLocked {
                asset: asset.clone(),
                locked: b.locked.to_string(),
            });
        }
        let mut next = self.clone();
        let sub = next.bots.remove(&id).ok_or(LedgerError::NoBook(id))?;
        for (symbol, p) in &sub.positions {
            let merged = next
                .manual
                .get(symbol)
                .copied()
                .unwrap_or_default()
                .merged(p)?;
            next.manual.insert(symbol.clone(), merged);
        }
        // What the bot owed is the manual book's now: repaid out of its
        // free balance as far as that goes, like any funds coming back.
        for asset in sub.ledger.balances().keys() {
            next.settle(None, asset)?;
        }
        *self = next;
        Ok(sub)
    }

    /// The account's position in `symbol`: the sum of its books'.
    pub fn position(&self, symbol: &Symbol) -> Position {
        let mut p = self.manual.get(symbol).copied().unwrap_or_default();
        for b in self.bots.values() {
            if let Some(own) = b.positions.get(symbol) {
                p = p.merged(own).unwrap_or(p);
            }
        }
        p
    }

    /// Every symbol any book has a position row for.
    pub fn symbols(&self) -> std::collections::BTreeSet<Symbol> {
        let mut out: std::collections::BTreeSet<Symbol> = self.manual.keys().cloned().collect();
        for b in self.bots.values() {
            out.extend(b.positions.keys().cloned());
        }
        out
    }

    /// The positions of one book.
    pub fn positions(&self, book: BookId) -> Option<&BTreeMap<Symbol, Position>> {
        match book {
            Some(id) => self.bots.get(&id).map(|b| &b.positions),
            None => Some(&self.manual),
        }
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // expectations are worked out plainly
mod tests;
