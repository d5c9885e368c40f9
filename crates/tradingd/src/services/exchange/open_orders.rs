//! The open orders, with the sums the pre-trade check reads: how many are
//! open per account, bot and symbol, and how much each could still buy or
//! sell per scope and symbol.
//!
//! Invariant: the sums are always those of the orders held. Orders enter,
//! change and leave only through [`OpenOrders::insert`],
//! [`OpenOrders::update`] and [`OpenOrders::remove`], which take an
//! order's share out before a change and put it back after.
//!
//! An order's share is its open quantity on its side. The two legs of an
//! OCO pair (and a bracket's two exits) can never both fill, so a pair
//! counts once: on the leg that holds the pair's funds.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use tradedesk_core::instrument::Symbol;
use tradedesk_core::ledger::BookId;
use tradedesk_core::money::Qty;
use tradedesk_core::order::{OrderRecord, Side};

/// Who an open quantity belongs to, for one symbol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Holder {
    Account(String),
    Bot(u64),
    /// Every account and bot: the symbol scope.
    Everyone,
}

/// Open quantity on each side: `[buy, sell]`.
type Sides = [Decimal; 2];

fn side_index(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

#[derive(Debug, Default)]
pub struct OpenOrders {
    by_id: BTreeMap<u64, OrderRecord>,
    count_account: HashMap<String, u32>,
    count_bot: HashMap<u64, u32>,
    count_symbol: HashMap<Symbol, u32>,
    qty: HashMap<(Holder, Symbol), Sides>,
}

/// Open quantities of one scope in one symbol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenQty {
    pub buy: Qty,
    pub sell: Qty,
}

impl OpenOrders {
    pub fn get(&self, id: &u64) -> Option<&OrderRecord> {
        self.by_id.get(id)
    }

    pub fn contains_key(&self, id: &u64) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn values(&self) -> std::collections::btree_map::Values<'_, u64, OrderRecord> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Adds an order, or replaces the one with its id.
    pub fn insert(&mut self, o: OrderRecord) {
        if let Some(old) = self.by_id.remove(&o.id) {
            self.account_for(&old, false);
        }
        self.account_for(&o, true);
        self.by_id.insert(o.id, o);
    }

    pub fn remove(&mut self, id: &u64) -> Option<OrderRecord> {
        let o = self.by_id.remove(id)?;
        self.account_for(&o, false);
        Some(o)
    }

    /// Changes an open order; its shares follow the change.
    pub fn update<R>(&mut self, id: u64, f: impl FnOnce(&mut OrderRecord) -> R) -> Option<R> {
        let mut o = self.by_id.remove(&id)?;
        self.account_for(&o, false);
        let r = f(&mut o);
        self.account_for(&o, true);
        self.by_id.insert(id, o);
        Some(r)
    }

    /// Open orders of an account, a bot, a symbol.
    pub fn counts(&self, account: &str, bot: BookId, symbol: &Symbol) -> (u32, u32, u32) {
        (
            self.count_account.get(account).copied().unwrap_or(0),
            bot.and_then(|b| self.count_bot.get(&b).copied())
                .unwrap_or(0),
            self.count_symbol.get(symbol).copied().unwrap_or(0),
        )
    }

    /// What an account's orders in `symbol` could still buy and sell.
    pub fn qty_of_account(&self, account: &str, symbol: &Symbol) -> OpenQty {
        self.qty_of(&Holder::Account(account.to_owned()), symbol)
    }

    pub fn qty_of_bot(&self, bot: u64, symbol: &Symbol) -> OpenQty {
        self.qty_of(&Holder::Bot(bot), symbol)
    }

    /// What every order in `symbol` could still buy and sell.
    pub fn qty_of_symbol(&self, symbol: &Symbol) -> OpenQty {
        self.qty_of(&Holder::Everyone, symbol)
    }

    fn qty_of(&self, holder: &Holder, symbol: &Symbol) -> OpenQty {
        // A lookup by a borrowed pair would need an owned key; symbols are
        // inline and accounts short, so the clone is cheap.
        let s = self
            .qty
            .get(&(holder.clone(), symbol.clone()))
            .copied()
            .unwrap_or_default();
        OpenQty {
            buy: Qty::new(s[0]),
            sell: Qty::new(s[1]),
        }
    }

    /// The quantity an order adds to its side: its open quantity, except
    /// for the leg of a pair that does not hold the pair's funds.
    pub fn share(o: &OrderRecord) -> Qty {
        Qty::new(Self::share_of(o))
    }

    fn share_of(o: &OrderRecord) -> Decimal {
        if o.oco_id.is_some() && !o.reserved.is_positive() {
            return Decimal::ZERO;
        }
        o.open_qty().get().max(Decimal::ZERO)
    }

    fn account_for(&mut self, o: &OrderRecord, add: bool) {
        fn bump<K: std::hash::Hash + Eq>(m: &mut HashMap<K, u32>, k: K, add: bool) {
            let n = m.entry(k).or_default();
            *n = if add {
                n.saturating_add(1)
            } else {
                n.saturating_sub(1)
            };
        }
        bump(&mut self.count_account, o.account.clone(), add);
        if let Some(b) = o.bot_id {
            bump(&mut self.count_bot, b, add);
        }
        bump(&mut self.count_symbol, o.symbol.clone(), add);
        let share = Self::share_of(o);
        if share.is_zero() {
            return;
        }
        let side = side_index(o.side);
        let mut holders = vec![Holder::Account(o.account.clone()), Holder::Everyone];
        if let Some(b) = o.bot_id {
            holders.push(Holder::Bot(b));
        }
        for h in holders {
            let s = self.qty.entry((h, o.symbol.clone())).or_default();
            // Open quantities are bounded by what the ledger could lock,
            // far below Decimal's range; saturate rather than panic.
            s[side] = if add {
                s[side].checked_add(share).unwrap_or(Decimal::MAX)
            } else {
                s[side]
                    .checked_sub(share)
                    .unwrap_or(Decimal::ZERO)
                    .max(Decimal::ZERO)
            };
        }
    }

    /// Recomputes every sum from the orders (for tests: the incremental
    /// sums must equal these).
    #[cfg(test)]
    fn recomputed(&self) -> OpenOrders {
        let mut fresh = OpenOrders::default();
        for o in self.by_id.values() {
            fresh.insert(o.clone());
        }
        fresh
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // expectations are worked out plainly
mod tests {
    use proptest::prelude::*;
    use tradedesk_core::money::Notional;
    use tradedesk_core::order::{OrderStatus, OrderType};
    use tradedesk_core::time::Timestamp;

    use super::*;

    fn order(id: u64, side: Side, qty: i64, bot: Option<u64>) -> OrderRecord {
        OrderRecord {
            id,
            account: "paper".into(),
            client_order_id: format!("c{id}"),
            symbol: "BTCUSDT".parse().expect("symbol"),
            side,
            order_type: OrderType::Limit,
            qty: Qty::new(Decimal::new(qty, 3)),
            price: None,
            stop_price: None,
            trail: None,
            time_in_force: tradedesk_core::order::TimeInForce::Gtc,
            status: OrderStatus::Accepted,
            filled: Qty::ZERO,
            filled_notional: Notional::ZERO,
            avg_price: None,
            fees: Notional::ZERO,
            reserved: Qty::new(Decimal::ONE),
            reserved_asset: "USDT".into(),
            triggered: false,
            parent_id: None,
            oco_id: None,
            reason: None,
            owner: "admin".into(),
            bot_id: bot,
            created: Timestamp(0),
            updated: Timestamp(0),
        }
    }

    fn sym() -> Symbol {
        "BTCUSDT".parse().expect("symbol")
    }

    #[test]
    fn a_pair_counts_once_on_the_leg_that_holds_its_funds() {
        let mut o = OpenOrders::default();
        let mut a = order(1, Side::Sell, 2000, None);
        let mut b = order(2, Side::Sell, 2000, None);
        a.oco_id = Some(2);
        b.oco_id = Some(1);
        b.reserved = Qty::ZERO;
        o.insert(a);
        o.insert(b);
        assert_eq!(o.qty_of_account("paper", &sym()).sell.get(), Decimal::TWO);
        // The holder fills: the funds move to the sibling, and so does the share.
        o.remove(&1);
        o.update(2, |b| b.reserved = Qty::new(Decimal::ONE));
        assert_eq!(o.qty_of_account("paper", &sym()).sell.get(), Decimal::TWO);
        assert_eq!(o.counts("paper", None, &sym()), (1, 0, 1));
    }

    proptest! {
        /// Whatever happens to the orders, the sums are those of the orders held.
        #[test]
        fn the_sums_always_match_the_orders(ops in proptest::collection::vec((0u8..3, 1u64..8, any::<bool>(), 1i64..5000, proptest::option::of(1u64..3)), 1..60)) {
            let mut o = OpenOrders::default();
            for (op, id, buy, qty, bot) in ops {
                let side = if buy { Side::Buy } else { Side::Sell };
                match op {
                    0 => o.insert(order(id, side, qty, bot)),
                    1 => { o.remove(&id); }
                    _ => { o.update(id, |r| r.filled = Qty::new(Decimal::new(qty, 3).min(r.qty.get()))); }
                }
                let fresh = o.recomputed();
                for h in [Holder::Account("paper".into()), Holder::Everyone, Holder::Bot(1), Holder::Bot(2)] {
                    prop_assert_eq!(o.qty_of(&h, &sym()), fresh.qty_of(&h, &sym()));
                }
                prop_assert_eq!(o.counts("paper", Some(1), &sym()), fresh.counts("paper", Some(1), &sym()));
            }
        }
    }
}
