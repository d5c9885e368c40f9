//! Matching of user orders against the synthetic market.
//!
//! Rules (documented for users in ARCHITECTURE.md):
//! - A taker (market order, marketable limit, triggered stop) walks the
//!   book's opposite side level by level: large orders pay slippage, and
//!   what the book cannot fill expires (partial fills are real).
//! - A resting limit order fills, as a maker at its own price, when the tape
//!   trades strictly through it (a trade at exactly its price does not fill
//!   it: its queue position is unknown). A trade's quantity is shared by the
//!   orders it fills, oldest first.
//! - Stops trigger on the last trade: stop-market and stop-limit against the
//!   position (buy at or above, sell at or below the stop), take-profit in
//!   its favour (buy at or below, sell at or above), trailing stops when the
//!   price comes back `trail` from the best price since placement. A stop
//!   that would trigger at once is rejected.
//! - OCO: the first fill or trigger of either leg cancels the other. Bracket:
//!   the take-profit and stop-loss wait (`pending`) until the entry fills, then
//!   go live as an OCO pair for the filled quantity.
//!
//! The engine holds no balances; the daemon locks funds before it submits.

#![deny(clippy::arithmetic_side_effects)]

use std::cmp::Reverse;
use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::market::{OrderBook, TradeTick};
use crate::money::{MAX_SCALE, Notional, Price, Qty};
use crate::order::{Liquidity, OrderType, Side, Terms, TimeInForce};
use crate::time::Timestamp;
use crate::venue::{Link, OrderId, Reopened, VenueEvent, VenueOrder};

mod index;
use index::SymbolIndex;
mod execution;
pub use execution::taker_cost;
use execution::{crosses, trigger_hit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    pub maker: Decimal,
    pub taker: Decimal,
}

impl Fees {
    pub fn fee(&self, liquidity: Liquidity, value: Notional) -> Notional {
        let rate = match liquidity {
            Liquidity::Maker => self.maker,
            Liquidity::Taker => self.taker,
        };
        Notional::new(
            value
                .get()
                .checked_mul(rate)
                .map_or(Decimal::ZERO, |f| f.round_dp(MAX_SCALE)),
        )
    }
}

#[derive(Debug, Clone)]
struct Live {
    order: VenueOrder,
    open: Qty,
    filled: Qty,
    triggered: bool,
    /// Best price since placement, for trailing stops.
    best: Option<Price>,
    pending: bool,
    link: Link,
    /// Quote spent so far (value plus fees), against `order.budget`.
    spent: Notional,
}

impl Live {
    /// Whether the order currently rests as a limit order.
    fn resting_limit(&self) -> Option<Price> {
        match self.order.terms {
            Terms::Limit { price } => Some(price),
            Terms::StopLimit { price, .. } if self.triggered => Some(price),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct MatchingEngine {
    fees: Fees,
    live: BTreeMap<OrderId, Live>,
    index: Vec<SymbolIndex>,
    next_trade_id: u64,
}

impl MatchingEngine {
    pub fn new(fees: Fees, first_trade_id: u64) -> Self {
        MatchingEngine {
            fees,
            live: BTreeMap::new(),
            index: Vec::new(),
            next_trade_id: first_trade_id,
        }
    }

    pub fn fees(&self) -> Fees {
        self.fees
    }

    pub fn next_trade_id(&self) -> u64 {
        self.next_trade_id
    }

    pub fn is_live(&self, id: OrderId) -> bool {
        self.live.contains_key(&id)
    }

    /// The symbol index of a live order.
    pub fn symbol_of(&self, id: OrderId) -> Option<usize> {
        self.live.get(&id).map(|l| l.order.symbol)
    }

    /// A live trailing stop's current trigger level (from the best price
    /// since it was placed).
    pub fn trailing_level(&self, id: OrderId) -> Option<crate::money::Price> {
        let l = self.live.get(&id)?;
        match l.order.terms {
            Terms::TrailingStop { trail } => trail.stop_from(l.order.side, l.best?),
            _ => None,
        }
    }

    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// Puts back an order that was live before a restart, as it was.
    pub fn restore(&mut self, reopened: Reopened, last: Price) {
        let Reopened {
            order,
            open,
            filled,
            triggered,
            pending,
            link,
        } = reopened;
        let best = (order.terms.order_type() == OrderType::TrailingStop).then_some(last);
        self.insert_live(Live {
            order,
            open,
            filled,
            triggered,
            best,
            pending,
            link,
            spent: Notional::ZERO,
        });
    }

    /// Submits one order; `last` is the last trade price of its symbol.
    pub fn submit(
        &mut self,
        order: VenueOrder,
        book: &OrderBook,
        last: Price,
        now: Timestamp,
    ) -> Vec<VenueEvent> {
        let mut ev = Vec::new();
        self.activate(order, Link::None, book, last, now, &mut ev);
        ev
    }

    /// Submits two orders that cancel each other.
    pub fn submit_oco(
        &mut self,
        a: VenueOrder,
        b: VenueOrder,
        book: &OrderBook,
        last: Price,
        now: Timestamp,
    ) -> Vec<VenueEvent> {
        let mut ev = Vec::new();
        if let Some(reason) =
            Self::immediate_trigger(&a, last).or_else(|| Self::immediate_trigger(&b, last))
        {
            ev.push(VenueEvent::Rejected {
                id: a.id,
                reason: reason.clone(),
            });
            ev.push(VenueEvent::Rejected { id: b.id, reason });
            return ev;
        }
        let (ida, idb) = (a.id, b.id);
        self.activate(a, Link::Oco(idb), book, last, now, &mut ev);
        // If the first leg already filled (a marketable limit), the second is
        // cancelled before it is ever live.
        if self.live.contains_key(&ida)
            || !ev
                .iter()
                .any(|e| matches!(e, VenueEvent::Fill(f) if f.order_id == ida))
        {
            self.activate(b, Link::Oco(ida), book, last, now, &mut ev);
        } else {
            ev.push(VenueEvent::Rejected {
                id: idb,
                reason: "oco: the other leg filled at once".into(),
            });
        }
        ev
    }

    /// Submits an entry with a take-profit and a stop-loss that wait for it.
    pub fn submit_bracket(
        &mut self,
        entry: VenueOrder,
        take_profit: VenueOrder,
        stop_loss: VenueOrder,
        book: &OrderBook,
        last: Price,
        now: Timestamp,
    ) -> Vec<VenueEvent> {
        let mut ev = Vec::new();
        let (e, tp, sl) = (entry.id, take_profit.id, stop_loss.id);
        for exit in [take_profit, stop_loss] {
            let qty = exit.qty;
            self.insert_live(Live {
                order: exit,
                open: qty,
                filled: Qty::ZERO,
                triggered: false,
                best: None,
                pending: true,
                link: Link::Exit { entry: e },
                spent: Notional::ZERO,
            });
        }
        self.activate(
            entry,
            Link::Entry {
                take_profit: tp,
                stop_loss: sl,
            },
            book,
            last,
            now,
            &mut ev,
        );
        ev
    }

    /// Cancels a live order (and what is linked to it).
    pub fn cancel(
        &mut self,
        id: OrderId,
        reason: &str,
        book: &OrderBook,
        last: Price,
        now: Timestamp,
    ) -> Vec<VenueEvent> {
        let mut ev = Vec::new();
        if let Some(live) = self.remove_live(id) {
            ev.push(VenueEvent::Cancelled {
                id,
                reason: reason.to_owned(),
            });
            self.after_terminal(&live, book, last, now, &mut ev);
        }
        ev
    }

    /// Feeds one trade of symbol `symbol` from the tape.
    pub fn on_trade(
        &mut self,
        symbol: usize,
        trade: &TradeTick,
        book: &OrderBook,
    ) -> Vec<VenueEvent> {
        let mut ev = Vec::new();
        let Some(ix) = self.index.get(symbol) else {
            return ev;
        };
        let stops: Vec<OrderId> = ix.stops.iter().copied().collect();
        // Resting orders the trade went through, best price first, then oldest.
        let through: Vec<OrderId> = ix
            .bids
            .iter()
            .take_while(|(Reverse(limit), _)| trade.price < *limit)
            .map(|(_, id)| *id)
            .chain(
                ix.asks
                    .iter()
                    .take_while(|(limit, _)| trade.price > *limit)
                    .map(|(_, id)| *id),
            )
            .collect();
        for id in stops {
            let Some(live) = self.live.get_mut(&id) else {
                continue;
            };
            if let Some(best) = live.best {
                live.best = Some(match live.order.side {
                    Side::Sell => best.max(trade.price),
                    Side::Buy => best.min(trade.price),
                });
            }
            if trigger_hit(live, trade.price) {
                live.triggered = true;
                self.reindex(id);
                ev.push(VenueEvent::Triggered {
                    id,
                    price: trade.price,
                });
                self.cancel_sibling(id, "oco: the other leg triggered", &mut ev);
                self.execute(id, book, trade.time, &mut ev);
            }
        }
        let mut tape_left = trade.qty;
        for id in through {
            if !tape_left.is_positive() {
                break;
            }
            let Some((open, limit)) = self
                .live
                .get(&id)
                .and_then(|l| l.resting_limit().map(|p| (l.open, p)))
            else {
                continue;
            };
            let q = open.min(tape_left);
            tape_left = tape_left.checked_sub(q).unwrap_or(Qty::ZERO);
            self.fill(
                id,
                q,
                limit,
                Liquidity::Maker,
                trade.time,
                book,
                trade.price,
                &mut ev,
            );
        }
        ev
    }

    fn immediate_trigger(o: &VenueOrder, last: Price) -> Option<String> {
        let stop = o.terms.stop_price()?;
        let hit = match (o.terms, o.side) {
            (Terms::StopMarket { .. } | Terms::StopLimit { .. }, Side::Buy)
            | (Terms::TakeProfit { .. }, Side::Sell) => last >= stop,
            (Terms::StopMarket { .. } | Terms::StopLimit { .. }, Side::Sell)
            | (Terms::TakeProfit { .. }, Side::Buy) => last <= stop,
            _ => false,
        };
        hit.then(|| format!("`stop_price` {stop} would trigger at once (last trade {last})"))
    }

    fn activate(
        &mut self,
        o: VenueOrder,
        link: Link,
        book: &OrderBook,
        last: Price,
        now: Timestamp,
        ev: &mut Vec<VenueEvent>,
    ) {
        let id = o.id;
        if let Some(reason) = Self::immediate_trigger(&o, last) {
            ev.push(VenueEvent::Rejected { id, reason });
            self.reject_linked(link, ev);
            return;
        }
        let marketable_limit = o.terms.order_type() == OrderType::Limit
            && o.terms.price().is_some_and(|p| {
                book.opposite(o.side)
                    .first()
                    .is_some_and(|l| crosses(o.side, l.price, Some(p)))
            });
        if o.time_in_force == TimeInForce::PostOnly && marketable_limit {
            ev.push(VenueEvent::Rejected {
                id,
                reason: "post-only order would take liquidity".into(),
            });
            self.reject_linked(link, ev);
            return;
        }
        ev.push(VenueEvent::Accepted { id });
        let best = (o.terms.order_type() == OrderType::TrailingStop).then_some(last);
        let qty = o.qty;
        let immediate = matches!(o.terms.order_type(), OrderType::Market | OrderType::Limit);
        self.insert_live(Live {
            order: o,
            open: qty,
            filled: Qty::ZERO,
            triggered: false,
            best,
            pending: false,
            link,
            spent: Notional::ZERO,
        });
        if immediate {
            self.execute(id, book, now, ev);
        }
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // expectations are worked out plainly
mod tests;
