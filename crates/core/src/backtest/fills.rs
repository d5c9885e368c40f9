//! The fill rules: when a working order's price is reached within a bar,
//! at what price it fills, and how market orders walk the bar.

use super::book::{View, Working};
use super::{Direction, ExitReason, Fill, Run, Trade};
use crate::engine::OrderEvent;
use crate::money::price_on_grid;
use crate::money::{Notional, Price, Qty};
use crate::order::{OrderStatus, OrderType, Side, Terms};
use crate::portfolio::Role;
use crate::strategy::{Candle, SizingMode};
use crate::time::Timestamp;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

#[inline]
pub(super) fn f(p: Price) -> f64 {
    p.get().to_f64().unwrap_or(0.0)
}

/// Whether bar reaches working order `w`, and at what price (and whether
/// at the open). `all` holds `w`'s OCO partner, if any.
#[inline]
pub(super) fn reach(w: &Working, bar: &Candle, all: &[Working]) -> Option<(f64, bool)> {
    let own = touch(w, bar)?;
    if own.1 {
        return Some(own);
    }
    // Both legs of a pair touched inside the bar: the open decides, else
    // the stop (the worse case).
    if let Some(pair) = &w.pair
        && let Some(other) = all
            .iter()
            .find(|o| o.pair.as_ref() == Some(pair) && o.tag != w.tag)
        && let Some(o) = touch(other, bar)
    {
        let other_is_stop = !matches!(other.terms, Terms::Limit { .. } | Terms::TakeProfit { .. });
        if o.1 || other_is_stop {
            return None; // the partner fills instead, when its turn comes
        }
    }
    Some(own)
}

/// Whether the bar reaches `w`'s trigger: (price, at the open).
#[inline]
pub(super) fn touch(w: &Working, bar: &Candle) -> Option<(f64, bool)> {
    let below = |p: f64| {
        if bar.open <= p {
            Some((bar.open, true))
        } else if bar.low <= p {
            Some((p, false))
        } else {
            None
        }
    };
    let above = |p: f64| {
        if bar.open >= p {
            Some((bar.open, true))
        } else if bar.high >= p {
            Some((p, false))
        } else {
            None
        }
    };
    match (w.terms, w.side) {
        (Terms::Market, _) => Some((bar.open, true)),
        (Terms::Limit { price }, Side::Buy) => below(f(price)),
        (Terms::Limit { price }, Side::Sell) => above(f(price)),
        (Terms::StopMarket { stop } | Terms::StopLimit { stop, .. }, Side::Sell)
        | (Terms::TakeProfit { stop }, Side::Buy) => below(f(stop)),
        (Terms::StopMarket { stop } | Terms::StopLimit { stop, .. }, Side::Buy)
        | (Terms::TakeProfit { stop }, Side::Sell) => above(f(stop)),
        (Terms::TrailingStop { trail }, side) => {
            let best = w.best?;
            let best = Price::new(rust_decimal::Decimal::from_f64_retain(best)?);
            let stop = f(trail.stop_from(side, best)?);
            match side {
                Side::Sell => below(stop),
                Side::Buy => above(stop),
            }
        }
    }
}

impl Run<'_, '_> {
    /// Fills what the bar reaches of market `m`'s working orders.
    pub(super) fn fill_working(&mut self, step: usize, m: usize, bar: &Candle) {
        let mut i = 0;
        while i < self.book.working.len() {
            let w = &self.book.working[i];
            if w.market != m || w.placed >= step {
                i = i.saturating_add(1);
                continue;
            }
            let hit = reach(w, bar, &self.book.working);
            let Some((price, _)) = hit else {
                // Trailing stops follow this bar's best for the next one.
                let w = &mut self.book.working[i];
                if w.terms.order_type() == OrderType::TrailingStop {
                    w.best = Some(match (w.side, w.best) {
                        (Side::Sell, b) => b.unwrap_or(bar.high).max(bar.high),
                        (Side::Buy, b) => b.unwrap_or(bar.low).min(bar.low),
                    });
                }
                i = i.saturating_add(1);
                continue;
            };
            let w = self.book.working.remove(i);
            if w.side == Side::Buy && w.terms.order_type() == OrderType::Limit {
                self.reserve(&w, false);
            }
            if let Some(pair) = &w.pair {
                self.book.working.retain(|o| o.pair.as_ref() != Some(pair));
            }
            let fill = self.fill_market(
                step,
                &w,
                price,
                bar.time,
                w.terms.order_type() != OrderType::Limit,
            );
            if let Some(fill) = fill {
                let leg = w.leg;
                let view = View {
                    book: &self.book,
                    leg,
                };
                let ev = OrderEvent {
                    tag: w.tag,
                    symbol: self.instruments[m].symbol.clone(),
                    side: w.side,
                    status: OrderStatus::Filled,
                    // Keyed orders' fills reach their strategy (a grid
                    // places its sell from its buy's fill).
                    fill: Some(fill),
                    time: bar.time,
                    order_type: w.terms.order_type(),
                };
                self.engines[leg].on_order(&ev, &view, &mut self.out);
                let view = View {
                    book: &self.book,
                    leg,
                };
                self.engines[leg].after(&view, &mut self.out);
                if !self.out.is_empty() {
                    self.carry_out(step, leg, bar);
                }
            }
            // Removal shifted the rest down; look at index i again.
        }
    }

    /// Fills order `w` at `px` (an f64 market price, slipped when asked);
    /// true when something changed hands.
    pub(super) fn fill_market(
        &mut self,
        step: usize,
        w: &Working,
        px: f64,
        time: Timestamp,
        slip: bool,
    ) -> Option<(Qty, Price)> {
        let m = w.market;
        let inst = &self.instruments[m];
        let slip_f = if slip { self.slip } else { 0.0 };
        let px = match w.side {
            Side::Buy => px * (1.0 + slip_f),
            Side::Sell => px * (1.0 - slip_f),
        };
        let price = match w.terms {
            Terms::Limit { price: p } if !slip => {
                // A limit fills at its price, or at the open when better.
                let at = price_on_grid(px, inst.tick_size, self.book.tick_f64[m]);
                match w.side {
                    Side::Buy => at.min(p),
                    Side::Sell => at.max(p),
                }
            }
            _ => price_on_grid(px, inst.tick_size, self.book.tick_f64[m]),
        };
        if !price.is_positive() {
            return None;
        }
        let held = self.book.positions[w.leg][m];
        let qty = match (w.side, &w.role) {
            (Side::Buy, Role::Entry | Role::Add) | (Side::Sell, Role::Entry)
                if w.terms.order_type() == OrderType::Market
                    && self.engines[w.leg].config().sizing.mode != SizingMode::FixedQty =>
            {
                let slot = self.slots[w.leg][m]?;
                if self.book.clearly_unaffordable(m, px) {
                    return None;
                }
                let view = View {
                    book: &self.book,
                    leg: w.leg,
                };
                match self.engines[w.leg].size(slot, price, &view) {
                    Ok(q) => q,
                    Err(_) => return None,
                }
            }
            (Side::Sell, Role::Exit | Role::Protect) => w.qty.min(held.qty.max(Qty::ZERO)),
            // Buying back a short: never more than it owes.
            (Side::Buy, Role::Exit | Role::Protect) => {
                w.qty.min(Qty::new(held.qty.get().min(Decimal::ZERO).abs()))
            }
            _ => w.qty,
        };
        if !qty.is_positive() {
            return None;
        }
        if w.side == Side::Sell && qty > held.qty && self.book.margin.is_none() {
            return None; // spot is long only: never sell what is not held
        }
        let booked = (|| {
            let value = price.get().checked_mul(qty.get())?;
            let fee = value
                .checked_mul(self.fee_rate)?
                .checked_add(self.fee_fixed)?;
            let cash = match w.side {
                Side::Buy => self.book.cash.checked_sub(value.checked_add(fee)?)?,
                Side::Sell => self.book.cash.checked_add(value.checked_sub(fee)?)?,
            };
            let total_fees = self.total_fees.checked_add(fee)?;
            Some((fee, cash, total_fees))
        })();
        let Some((fee, cash, total_fees)) = booked else {
            self.book.overflow.set(true);
            return None;
        };
        if self.book.positions[w.leg][m]
            .apply_fill(w.side, qty, price, Notional::new(fee))
            .is_none()
        {
            self.book.overflow.set(true);
            return None;
        }
        self.book.cash = cash;
        self.total_fees = total_fees;
        self.book.cash_f64 = self.book.cash.to_f64().unwrap_or(0.0);
        self.book.qty_f64[m] = self.book.held(m).to_f64().unwrap_or(0.0);
        self.round_trip(step, w, time, qty, price, fee);
        if self.keep.fills {
            self.fills.push(Fill {
                step,
                time,
                tag: w.tag.clone(),
                symbol: inst.symbol.clone(),
                side: w.side,
                qty,
                price,
                fee: Notional::new(fee),
            });
        }
        Some((qty, price))
    }

    /// Books a fill into its leg's round trip; a trip back at flat is a
    /// trade.
    pub(super) fn round_trip(
        &mut self,
        step: usize,
        w: &Working,
        time: Timestamp,
        qty: Qty,
        price: Price,
        fee: Decimal,
    ) {
        let trip = &mut self.open[w.leg][w.market];
        let closed = match trip.fill(w.side, qty.get(), price, fee, step, time) {
            Ok(c) => c,
            Err(_) => {
                self.book.overflow.set(true);
                None
            }
        };
        if let Some(t) = closed {
            let exit_reason = if w.tag.ends_with("margin-call") {
                ExitReason::Liquidation
            } else if w.tag.ends_with("end-of-data") {
                ExitReason::EndOfData
            } else if w.role == Role::Protect {
                match w.terms {
                    Terms::StopMarket { .. } | Terms::StopLimit { .. } => ExitReason::StopLoss,
                    Terms::TrailingStop { .. } => ExitReason::TrailingStop,
                    Terms::Limit { .. } | Terms::TakeProfit { .. } | Terms::Market => {
                        ExitReason::TakeProfit
                    }
                }
            } else {
                ExitReason::Signal
            };
            if t.pnl.is_sign_negative() && !t.pnl.is_zero() {
                self.losing_trades(w.leg, time);
            }
            self.trades.push(Trade {
                leg: w.leg,
                symbol: self.instruments[w.market].symbol.clone(),
                qty: Qty::new(t.qty),
                entry_step: t.entry_step,
                exit_step: step,
                entry_time: t.entry_time,
                exit_time: time,
                entry_price: t.entry_price,
                exit_price: t.exit_price,
                pnl: Notional::new(t.pnl),
                fees: Notional::new(t.fees),
                return_pct: t.return_frac * 100.0,
                exit_reason: Some(exit_reason),
                direction: if t.short {
                    Direction::Short
                } else {
                    Direction::Long
                },
            });
        }
    }

    /// A margin call (`why`: `margin-call`) or the end of the data
    /// (`end-of-data`): every position closed at its last close; orders
    /// gone.
    pub(super) fn liquidate(&mut self, step: usize, time: Timestamp, why: &str) {
        self.book.working.clear();
        self.book.reserved = Decimal::ZERO;
        for leg in 0..self.engines.len() {
            for m in 0..self.markets.len() {
                let qty = self.book.positions[leg][m].qty;
                if !qty.is_zero() {
                    let w = Working {
                        tag: format!("s{leg}-{why}"),
                        pair: None,
                        leg,
                        market: m,
                        side: if qty.is_negative() {
                            Side::Buy
                        } else {
                            Side::Sell
                        },
                        role: Role::Exit,
                        qty: qty.abs(),
                        terms: Terms::Market,
                        best: None,
                        placed: step,
                    };
                    let px = self.book.last[m];
                    let _ = self.fill_market(step, &w, px, time, true);
                }
            }
        }
    }
}

impl Run<'_, '_> {
    /// Charges the shorts' borrow for every period boundary passed since
    /// the previous step (a margin account's), at this step's closes.
    #[inline]
    pub(super) fn borrow(&mut self, t: Timestamp) {
        let Some(m) = &mut self.book.margin else {
            return;
        };
        if t.millis() < m.next_at {
            return; // the common case: no boundary passed
        }
        let period = t.millis().div_euclid(m.period_ms);
        let passed = m.period.map_or(0, |p| period.saturating_sub(p));
        m.period = Some(period);
        m.next_at = period.saturating_add(1).saturating_mul(m.period_ms);
        let rate = m.borrow;
        if passed <= 0 || rate.is_zero() {
            return;
        }
        for leg in 0..self.engines.len() {
            for mk in 0..self.markets.len() {
                let qty = self.book.positions[leg][mk].qty;
                if !qty.is_negative() {
                    continue;
                }
                let price = self.book.last_price(mk);
                let cost = qty
                    .abs()
                    .get()
                    .checked_mul(price.get())
                    .and_then(|v| v.checked_mul(rate))
                    .and_then(|v| v.checked_mul(Decimal::from(passed)))
                    .map(|v| v.round_dp(crate::money::MAX_SCALE));
                let booked = cost.and_then(|c| {
                    let cash = self.book.cash.checked_sub(c)?;
                    let fees = self.total_fees.checked_add(c)?;
                    self.open[leg][mk].charge(c).ok()?;
                    Some((cash, fees))
                });
                let Some((cash, fees)) = booked else {
                    self.book.overflow.set(true);
                    return;
                };
                self.book.cash = cash;
                self.book.cash_f64 = cash.to_f64().unwrap_or(0.0);
                self.total_fees = fees;
            }
        }
    }
}

const DAY_MS: i64 = 86_400_000;

impl Run<'_, '_> {
    /// A losing trade of `leg` closed in the bar opening at `time`: with
    /// `max_losing_trades` of them (this one included) closed within the
    /// window, the leg takes no new entry for the window's bars after that
    /// bar's close.
    fn losing_trades(&mut self, leg: usize, time: Timestamp) {
        let engine = &self.engines[leg];
        let p = *engine.protections();
        let Some(max) = p.max_losing_trades else {
            return;
        };
        let window = engine
            .config()
            .interval
            .millis()
            .saturating_mul(i64::from(p.losing_window_bars));
        let since = time.millis().saturating_sub(window);
        let n = self
            .trades
            .iter()
            .filter(|t| {
                t.leg == leg
                    && t.exit_time.millis() > since
                    && t.pnl.get().is_sign_negative()
                    && !t.pnl.get().is_zero()
            })
            .count()
            .saturating_add(1);
        if n >= max as usize {
            // From the close of the bar it closed in.
            let close = time
                .millis()
                .saturating_add(engine.config().interval.millis());
            self.engines[leg].lock_entries(
                Timestamp(close.saturating_add(window)),
                format!("{n} losing trades within {} bars", p.losing_window_bars),
            );
        }
    }

    /// The daily loss stops: equity against the day's first step; a leg
    /// whose stop is reached takes no new entry until the next UTC day.
    pub(super) fn daily_loss(&mut self, t: Timestamp, equity: f64) {
        let day = t.millis().div_euclid(DAY_MS);
        let start = match self.daily {
            Some((d, start)) if d == day => start,
            _ => {
                self.daily = Some((day, equity));
                equity
            }
        };
        let loss = start - equity;
        if loss <= 0.0 {
            return;
        }
        let next_day = Timestamp(day.saturating_add(1).saturating_mul(DAY_MS));
        for e in &mut self.engines {
            if let Some(limit) = e.protections().daily_loss_stop
                && loss >= limit.get().to_f64().unwrap_or(f64::INFINITY)
            {
                e.lock_entries(next_day, format!("daily loss stop: {loss:.2} lost today"));
            }
        }
    }
}
