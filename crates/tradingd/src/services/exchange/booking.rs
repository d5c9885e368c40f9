//! Booking what the matching engine reports: order statuses, fills into
//! the ledger and positions, and the funds each open order holds.
//!
//! Invariants: an order's `reserved` is exactly what the ledger holds
//! locked for it (for an OCO pair, on one leg); a terminal order holds
//! nothing; a fill spends from its order's reservation first.

use std::collections::{BTreeMap, VecDeque};

use tradedesk_core::instrument::Symbol;
use tradedesk_core::ledger::{BookId, FillBooking, as_qty};
use tradedesk_core::money::{Notional, Qty};
use tradedesk_core::order::{Event, Execution, OrderRecord, OrderState, OrderStatus, Side};
use tradedesk_core::time::Timestamp;
use tradedesk_core::venue::{Fill, VenueEvent};

use super::State;

/// What a batch of events changed, to write in one transaction and then
/// publish.
#[derive(Debug, Default)]
pub struct Changes {
    /// Orders placed by this operation, written as `new` before any update.
    pub new_orders: Vec<(i64, OrderRecord)>,
    pub orders: BTreeMap<u64, OrderRecord>,
    pub fills: Vec<(i64, Execution)>,
    /// Account indexes whose ledger changed.
    pub ledgers: Vec<usize>,
    /// Bot books (account index, bot id) whose ledger changed.
    pub bot_ledgers: Vec<(usize, u64)>,
    /// Positions that changed: account index, book, symbol.
    pub positions: Vec<(usize, BookId, Symbol)>,
    pub bars: Vec<(Symbol, tradedesk_core::market::Bar)>,
    /// Closed bars replaced by the venue's own (written and published,
    /// not shown to the bots again).
    pub bar_fixes: Vec<(Symbol, tradedesk_core::market::Bar)>,
    /// When changes without a fill happened (a margin account's
    /// interest): the time their position rows are written with.
    pub at: Option<tradedesk_core::time::Timestamp>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
            && self.fills.is_empty()
            && self.ledgers.is_empty()
            && self.bars.is_empty()
            && self.bar_fixes.is_empty()
    }

    pub fn ledger(&mut self, account: usize) {
        if !self.ledgers.contains(&account) {
            self.ledgers.push(account);
        }
    }

    /// Adds what a later operation changed.
    pub fn absorb(&mut self, c: Changes) {
        self.new_orders.extend(c.new_orders);
        self.orders.extend(c.orders);
        self.fills.extend(c.fills);
        self.bars.extend(c.bars);
        self.bar_fixes.extend(c.bar_fixes);
        self.at = self.at.max(c.at);
        for a in c.ledgers {
            self.ledger(a);
        }
        for b in c.bot_ledgers {
            if !self.bot_ledgers.contains(&b) {
                self.bot_ledgers.push(b);
            }
        }
        for p in c.positions {
            if !self.positions.contains(&p) {
                self.positions.push(p);
            }
        }
    }

    /// The account's ledger and, for a bot's book, the bot's changed.
    pub(super) fn book(&mut self, account: usize, book: BookId) {
        self.ledger(account);
        if let Some(bot) = book
            && !self.bot_ledgers.contains(&(account, bot))
        {
            self.bot_ledgers.push((account, bot));
        }
    }
}

impl State {
    /// Applies engine events (and any they cause) to the books.
    pub(super) fn book_events(
        &mut self,
        events: Vec<VenueEvent>,
        now: Timestamp,
        changes: &mut Changes,
    ) {
        let mut queue: VecDeque<VenueEvent> = events.into();
        while let Some(ev) = queue.pop_front() {
            match ev {
                VenueEvent::Accepted { id } => {
                    // A remote venue's acceptance may arrive after the
                    // order's fills, or twice (an answer and a query).
                    if self
                        .open
                        .get(&id)
                        .is_some_and(|o| o.status == OrderStatus::New)
                    {
                        self.transition(id, Event::Accept, None, now, changes);
                    } else {
                        self.stray(id, "acceptance");
                    }
                }
                VenueEvent::Triggered { id, .. } => {
                    if let Some(o) = self.open.update(id, |o| {
                        o.triggered = true;
                        o.updated = now;
                        o.clone()
                    }) {
                        changes.orders.insert(id, o);
                    }
                }
                VenueEvent::Activated { id, qty } => {
                    self.transition(id, Event::Activate, None, now, changes);
                    if let Err(reason) = self.reserve_exit(id, qty, now, changes) {
                        self.send_cancel(id, &reason, now, changes);
                    }
                }
                VenueEvent::Fill(f) => self.book_fill(&f, now, changes),
                VenueEvent::Rejected { id, reason } => {
                    self.transition(id, Event::Reject, Some(reason), now, changes);
                }
                VenueEvent::Cancelled { id, reason } => {
                    self.transition(id, Event::Cancel, Some(reason), now, changes);
                }
                VenueEvent::Expired { id, reason } => {
                    self.transition(id, Event::Expire, Some(reason), now, changes);
                }
            }
        }
    }

    fn transition(
        &mut self,
        id: u64,
        event: Event,
        reason: Option<String>,
        now: Timestamp,
        changes: &mut Changes,
    ) {
        let Some(status) = self.open.get(&id).map(|o| o.status) else {
            self.stray(id, &format!("{event:?}"));
            return;
        };
        let next = match tradedesk_core::order::transition(status, event) {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(order = id, error = %e, "engine and books disagree");
                return;
            }
        };
        let updated = self.open.update(id, |o| {
            o.status = next;
            if reason.is_some() {
                o.reason = reason;
            }
            o.updated = now;
            o.clone()
        });
        if next.is_terminal() {
            self.finish(id, changes);
        } else if let Some(o) = updated {
            changes.orders.insert(id, o);
        }
    }

    /// A terminal order gives up what it holds: to its open OCO sibling,
    /// which still needs it, or back to the account.
    fn finish(&mut self, id: u64, changes: &mut Changes) {
        let Some(mut o) = self.open.remove(&id) else {
            return;
        };
        self.seen_trades.remove(&id);
        self.unknown.remove(&id);
        if o.reserved.is_positive() {
            let sibling = o.oco_id.filter(|s| self.open.contains_key(s));
            let moved = sibling.and_then(|s| {
                self.open.update(s, |sib| {
                    sib.reserved = sib.reserved.checked_add(o.reserved).unwrap_or(sib.reserved);
                    sib.reserved_asset.clone_from(&o.reserved_asset);
                    sib.clone()
                })
            });
            match moved {
                Some(sib) => {
                    changes.orders.insert(sib.id, sib);
                }
                None => {
                    if let Some(acc) = self.account_index(&o.account) {
                        if let Err(e) =
                            self.accounts[acc]
                                .books
                                .unlock(o.bot_id, &o.reserved_asset, o.reserved)
                        {
                            tracing::error!(order = id, error = %e, "cannot release an order's funds");
                        }
                        changes.book(acc, o.bot_id);
                    }
                }
            }
            o.reserved = Qty::ZERO;
        }
        changes.orders.insert(id, o);
    }

    /// Locks what a bracket exit needs once its entry has filled; the pair's
    /// first leg holds the funds for both.
    fn reserve_exit(
        &mut self,
        id: u64,
        qty: Qty,
        now: Timestamp,
        changes: &mut Changes,
    ) -> Result<(), String> {
        let Some(o) = self.open.get(&id).cloned() else {
            return Ok(());
        };
        let sibling_holds = o
            .oco_id
            .and_then(|s| self.open.get(&s))
            .is_some_and(|s| s.reserved.is_positive());
        let mut updated = o.clone();
        updated.qty = qty;
        updated.updated = now;
        if !sibling_holds {
            let (asset, amount) = self.reservation_for(&updated).map_err(|e| e.to_string())?;
            let acc = self.account_index(&o.account).ok_or("account gone")?;
            self.accounts[acc]
                .books
                .lock(o.bot_id, &asset, amount)
                .map_err(|e| format!("bracket exit: {e}"))?;
            changes.book(acc, o.bot_id);
            updated.reserved = amount;
            updated.reserved_asset = asset;
        }
        changes.orders.insert(id, updated.clone());
        self.open.insert(updated);
        Ok(())
    }

    /// An event for an order that is not open (or already past it): a
    /// broken engine for a venue that answers at once; for a remote venue,
    /// an answer that came after the events it reports, or came twice.
    fn stray(&self, id: u64, what: &str) {
        if self.venue.answers_at_once() {
            tracing::error!(
                order = id,
                what,
                "venue event for an order that is not open"
            );
        } else {
            tracing::debug!(order = id, what, "venue event already booked");
        }
    }

    /// The open order a fill is for, or `None` when there is nothing to
    /// book: the order is not open, or a remote venue reported the trade
    /// before. A fill reported before the order's acceptance implies it.
    fn fill_target(
        &mut self,
        f: &Fill,
        now: Timestamp,
        changes: &mut Changes,
    ) -> Option<OrderRecord> {
        let Some(status) = self.open.get(&f.order_id).map(|o| o.status) else {
            self.stray(f.order_id, "fill");
            return None;
        };
        if !self.venue.answers_at_once() {
            let seen = self.seen_trades.entry(f.order_id).or_default();
            if seen.contains(&f.trade_id) {
                return None;
            }
            seen.push(f.trade_id);
        }
        if status == OrderStatus::New {
            self.transition(f.order_id, Event::Accept, None, now, changes);
        }
        self.open.get(&f.order_id).cloned()
    }

    fn book_fill(&mut self, f: &Fill, now: Timestamp, changes: &mut Changes) {
        let Some(o) = self.fill_target(f, now, changes) else {
            return;
        };
        let Some(acc) = self.account_index(&o.account) else {
            return;
        };
        let Some(inst) = self.instrument(&o.symbol).cloned() else {
            return;
        };
        // The order itself holds its funds, or its OCO sibling does.
        let holder = if o.reserved.is_positive() {
            o.id
        } else {
            o.oco_id
                .filter(|s| self.open.contains_key(s))
                .unwrap_or(o.id)
        };
        let held = self.open.get(&holder).map_or(Qty::ZERO, |h| h.reserved);
        let value = f.price.checked_mul_qty(f.qty).unwrap_or(Notional::ZERO);
        let release = match o.side {
            Side::Buy => as_qty(value.checked_add(f.fee).unwrap_or(value)).min(held),
            Side::Sell => f.qty.min(held),
        };
        let booking = FillBooking {
            base: &inst.base,
            quote: &inst.quote,
            side: o.side,
            qty: f.qty,
            price: f.price,
            fee: f.fee,
            fee_base: f.fee_base,
            release,
        };
        let fee_value = fee_value(f);
        let realized = match self.accounts[acc]
            .books
            .book_fill(o.bot_id, &o.symbol, &booking)
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(order = o.id, error = %e, "cannot book a fill");
                self.stale = Some(format!("a fill could not be booked: {e}"));
                return;
            }
        };
        if let Some(h) = self.open.update(holder, |h| {
            h.reserved = h.reserved.checked_sub(release).unwrap_or(Qty::ZERO);
            h.clone()
        }) {
            changes.orders.insert(holder, h);
        }
        changes.book(acc, o.bot_id);
        let key = (acc, o.bot_id, o.symbol.clone());
        if !changes.positions.contains(&key) {
            changes.positions.push(key);
        }
        let Some(mut rec) = self.open.get(&f.order_id).cloned() else {
            return;
        };
        let mut st = OrderState::restore(
            rec.status,
            rec.qty,
            rec.filled,
            rec.filled_notional,
            rec.fees,
            Vec::new(),
        );
        if let Err(e) = st.fill(f.trade_id, f.qty, f.price, fee_value) {
            tracing::error!(order = rec.id, error = %e, "engine fill does not fit the order");
            return;
        }
        rec.status = st.status;
        rec.filled = st.filled;
        rec.filled_notional = st.filled_notional;
        rec.fees = st.fees;
        rec.avg_price = st.avg_price();
        rec.updated = f.time;
        let execution = Execution {
            trade_id: f.trade_id,
            order_id: rec.id,
            account: rec.account.clone(),
            symbol: rec.symbol.clone(),
            side: rec.side,
            qty: f.qty,
            price: f.price,
            fee: fee_value,
            fee_asset: inst.quote.clone(),
            liquidity: f.liquidity,
            realized_pnl: realized,
            bot_id: rec.bot_id,
            time: f.time,
        };
        changes.fills.push((self.accounts[acc].row.id, execution));
        let filled = rec.status == OrderStatus::Filled;
        let id = rec.id;
        self.open.insert(rec.clone());
        if filled {
            self.finish(f.order_id, changes);
        } else {
            changes.orders.insert(id, rec);
        }
    }
}

/// What a fill's commission is worth in the quote asset (one taken in the
/// base asset valued at the fill's price).
fn fee_value(f: &Fill) -> Notional {
    f.price
        .checked_mul_qty(f.fee_base)
        .and_then(|v| v.checked_add(f.fee))
        .unwrap_or(f.fee)
}
