//! Executing an order: walking the book, fills and fees, what can be
//! afforded, expiry, and what follows a terminal state (OCO siblings,
//! bracket legs).

use super::{Live, MatchingEngine};
use crate::market::OrderBook;
use crate::money::{Notional, Price, Qty};
use crate::order::{Liquidity, OrderType, Side, Terms, TimeInForce};
use crate::time::Timestamp;
use crate::venue::{Fill, Link, OrderId, VenueEvent};
use rust_decimal::Decimal;

pub(super) fn crosses(side: Side, level: Price, limit: Option<Price>) -> bool {
    match (side, limit) {
        (_, None) => true,
        (Side::Buy, Some(l)) => level <= l,
        (Side::Sell, Some(l)) => level >= l,
    }
}

/// The cost of taking `qty` on `side` from `book` up to `limit`: the
/// notional and quantity the book can fill.
pub fn taker_cost(book: &OrderBook, side: Side, qty: Qty, limit: Option<Price>) -> (Notional, Qty) {
    let mut left = qty;
    let mut cost = Notional::ZERO;
    for level in book.opposite(side) {
        if !left.is_positive() || !crosses(side, level.price, limit) {
            break;
        }
        let q = left.min(level.qty);
        cost = level
            .price
            .checked_mul_qty(q)
            .and_then(|v| cost.checked_add(v))
            .unwrap_or(cost);
        left = left.checked_sub(q).unwrap_or(Qty::ZERO);
    }
    (cost, qty.checked_sub(left).unwrap_or(Qty::ZERO))
}

pub(super) fn trigger_hit(live: &Live, price: Price) -> bool {
    let o = &live.order;
    match o.terms {
        Terms::StopMarket { stop: s } | Terms::StopLimit { stop: s, .. } => match o.side {
            Side::Buy => price >= s,
            Side::Sell => price <= s,
        },
        Terms::TakeProfit { stop: s } => match o.side {
            Side::Buy => price <= s,
            Side::Sell => price >= s,
        },
        Terms::TrailingStop { trail } => live.best.is_some_and(|best| {
            trail.stop_from(o.side, best).is_some_and(|s| match o.side {
                Side::Sell => price <= s,
                Side::Buy => price >= s,
            })
        }),
        Terms::Market | Terms::Limit { .. } => false,
    }
}

impl MatchingEngine {
    pub(super) fn reject_linked(&mut self, link: Link, ev: &mut Vec<VenueEvent>) {
        if let Link::Entry {
            take_profit,
            stop_loss,
        } = link
        {
            for exit in [take_profit, stop_loss] {
                if self.remove_live(exit).is_some() {
                    ev.push(VenueEvent::Cancelled {
                        id: exit,
                        reason: "bracket: the entry was rejected".into(),
                    });
                }
            }
        }
    }

    /// Takes liquidity for a market order, a marketable limit or a
    /// triggered stop; rests or expires what is left by the order's rules.
    pub(super) fn execute(
        &mut self,
        id: OrderId,
        book: &OrderBook,
        now: Timestamp,
        ev: &mut Vec<VenueEvent>,
    ) {
        let Some(live) = self.live.get(&id) else {
            return;
        };
        let o = &live.order;
        let limit = o.terms.price();
        let side = o.side;
        let open = live.open;
        let tif = o.time_in_force;
        if tif == TimeInForce::Fok {
            let (_, available) = taker_cost(book, side, open, limit);
            if available < open {
                self.expire(id, "fill or kill: not enough liquidity", book, now, ev);
                return;
            }
        }
        let levels: Vec<_> = book.opposite(side).to_vec();
        let mut left = open;
        let mut out_of_budget = false;
        for level in levels {
            if !left.is_positive() || !crosses(side, level.price, limit) {
                break;
            }
            let mut q = left.min(level.qty);
            if let Some(afford) = self.affordable(id, level.price)
                && afford < q
            {
                q = afford;
                out_of_budget = true;
            }
            if !q.is_positive() {
                out_of_budget = true;
                break;
            }
            left = left.checked_sub(q).unwrap_or(Qty::ZERO);
            self.fill(
                id,
                q,
                level.price,
                Liquidity::Taker,
                now,
                book,
                level.price,
                ev,
            );
            if !self.live.contains_key(&id) || out_of_budget {
                break;
            }
        }
        if !self.live.contains_key(&id) {
            return;
        }
        if out_of_budget {
            self.expire(
                id,
                "the funds locked for the order are spent",
                book,
                now,
                ev,
            );
        } else if left.is_positive() {
            if limit.is_none() {
                self.expire(id, "the book's depth was exhausted", book, now, ev);
            } else if matches!(tif, TimeInForce::Ioc | TimeInForce::Fok) {
                self.expire(id, "immediate or cancel: the rest expired", book, now, ev);
            }
        }
    }

    /// How much of the order its remaining budget can buy at `price` as a
    /// taker, on the lot grid; `None` when it has no budget.
    pub(super) fn affordable(&self, id: OrderId, price: Price) -> Option<Qty> {
        let live = self.live.get(&id)?;
        let budget = live.order.budget?;
        let left = budget.checked_sub(live.spent)?;
        let unit = price
            .get()
            .checked_mul(Decimal::ONE.checked_add(self.fees.taker)?)?;
        if unit <= Decimal::ZERO {
            return None;
        }
        Qty::new(left.get().checked_div(unit)?)
            .floor_to(live.order.lot)
            .map(|q| q.max(Qty::ZERO))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn fill(
        &mut self,
        id: OrderId,
        qty: Qty,
        price: Price,
        liquidity: Liquidity,
        now: Timestamp,
        book: &OrderBook,
        last: Price,
        ev: &mut Vec<VenueEvent>,
    ) {
        let Some(live) = self.live.get_mut(&id) else {
            return;
        };
        let value = price.checked_mul_qty(qty).unwrap_or(Notional::ZERO);
        let fee = self.fees.fee(liquidity, value);
        let trade_id = self.next_trade_id;
        self.next_trade_id = self.next_trade_id.saturating_add(1);
        live.spent = live
            .spent
            .checked_add(value)
            .and_then(|s| s.checked_add(fee))
            .unwrap_or(live.spent);
        live.open = live.open.checked_sub(qty).unwrap_or(Qty::ZERO);
        live.filled = live.filled.checked_add(qty).unwrap_or(live.filled);
        let done = !live.open.is_positive();
        ev.push(VenueEvent::Fill(Fill {
            order_id: id,
            trade_id,
            time: now,
            qty,
            price,
            fee,
            fee_base: Qty::ZERO,
            liquidity,
        }));
        self.cancel_sibling(id, "oco: the other leg filled", ev);
        if done && let Some(finished) = self.remove_live(id) {
            self.after_terminal(&finished, book, last, now, ev);
        }
    }

    pub(super) fn expire(
        &mut self,
        id: OrderId,
        reason: &str,
        book: &OrderBook,
        now: Timestamp,
        ev: &mut Vec<VenueEvent>,
    ) {
        if let Some(live) = self.remove_live(id) {
            ev.push(VenueEvent::Expired {
                id,
                reason: reason.to_owned(),
            });
            let last = book.best_bid().map_or(Price::ZERO, |l| l.price);
            self.after_terminal(&live, book, last, now, ev);
        }
    }

    /// An OCO leg that fills or triggers cancels its sibling.
    pub(super) fn cancel_sibling(&mut self, id: OrderId, reason: &str, ev: &mut Vec<VenueEvent>) {
        let Some(Link::Oco(other)) = self.live.get(&id).map(|l| l.link) else {
            // Already removed (fully filled): its link is gone with it; the
            // caller handles that through after_terminal.
            return;
        };
        if let Some(live) = self.live.get_mut(&id) {
            live.link = Link::None;
        }
        if self.remove_live(other).is_some() {
            ev.push(VenueEvent::Cancelled {
                id: other,
                reason: reason.to_owned(),
            });
        }
    }

    /// What an order leaving the book means for the orders linked to it.
    pub(super) fn after_terminal(
        &mut self,
        finished: &Live,
        book: &OrderBook,
        last: Price,
        now: Timestamp,
        ev: &mut Vec<VenueEvent>,
    ) {
        match finished.link {
            Link::Oco(other) => {
                if finished.filled.is_positive() {
                    if self.remove_live(other).is_some() {
                        ev.push(VenueEvent::Cancelled {
                            id: other,
                            reason: "oco: the other leg filled".into(),
                        });
                    }
                } else if let Some(live) = self.live.get_mut(&other) {
                    // A leg cancelled by hand leaves the other standing alone.
                    live.link = Link::None;
                }
            }
            Link::Entry {
                take_profit,
                stop_loss,
            } => {
                let filled = finished.filled;
                if !filled.is_positive() {
                    for exit in [take_profit, stop_loss] {
                        if self.remove_live(exit).is_some() {
                            ev.push(VenueEvent::Cancelled {
                                id: exit,
                                reason: "bracket: the entry did not fill".into(),
                            });
                        }
                    }
                    return;
                }
                for (exit, other) in [(take_profit, stop_loss), (stop_loss, take_profit)] {
                    if let Some(l) = self.live.get_mut(&exit) {
                        l.pending = false;
                        l.order.qty = filled;
                        l.open = filled;
                        l.link = Link::Oco(other);
                        if l.order.terms.order_type() == OrderType::TrailingStop {
                            l.best = Some(last);
                        }
                        ev.push(VenueEvent::Activated {
                            id: exit,
                            qty: filled,
                        });
                    }
                    self.reindex(exit);
                }
                // An exit whose stop is already crossed fires now.
                for exit in [take_profit, stop_loss] {
                    let hit = self.live.get(&exit).is_some_and(|l| {
                        l.order.terms.order_type().is_conditional() && trigger_hit(l, last)
                    });
                    if hit {
                        if let Some(l) = self.live.get_mut(&exit) {
                            l.triggered = true;
                        }
                        self.reindex(exit);
                        ev.push(VenueEvent::Triggered {
                            id: exit,
                            price: last,
                        });
                        self.cancel_sibling(exit, "oco: the other leg triggered", ev);
                        self.execute(exit, book, now, ev);
                    }
                }
            }
            Link::Exit { .. } | Link::None => {}
        }
    }
}
