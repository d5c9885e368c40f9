//! Protective exits: stop-loss, take-profit and trailing stops kept in
//! step with the position after every event, or a market exit when the
//! price is already through one.

use super::{Decision, Engine, Intent};
use crate::money::round_to_tick;
use crate::money::{Price, Qty};
use crate::order::{Side, Terms, Trail};
use crate::portfolio::{OpenOrder, Portfolio, Role, parse_tag};
use rust_decimal::Decimal;

/// "protecting 0.5: stop 95 target 110" and the like.
pub(super) fn protect_message(
    qty: Qty,
    stop: Option<Price>,
    trailing: Option<Qty>,
    target: Option<Price>,
) -> String {
    let stop = match (stop, trailing) {
        (Some(s), _) => format!(" stop {s}"),
        (None, Some(t)) => format!(" trailing stop {t}%"),
        (None, None) => String::new(),
    };
    let target = target.map_or(String::new(), |t| format!(" target {t}"));
    format!("protecting {qty}:{stop}{target}")
}

impl Engine {
    /// Keeps every slot's protective exits in step with its position: placed
    /// once an entry has filled, resized after an add, cancelled once flat.
    pub fn after<P: Portfolio>(&mut self, p: &P, out: &mut Vec<Decision>) {
        if !self.cfg.exits.any() {
            return;
        }
        for slot in 0..self.slots.len() {
            self.protect(slot, p, out);
        }
    }

    pub(super) fn protect<P: Portfolio>(&mut self, slot: usize, p: &P, out: &mut Vec<Decision>) {
        let inst = self.slots[slot].instrument.clone();
        let open = p.open_orders(&inst.symbol);
        let mut prot: Vec<(u64, &OpenOrder)> = Vec::new();
        for o in &open {
            match parse_tag(&self.cfg.prefix, &o.tag) {
                Some((seq, Role::Protect)) => prot.push((seq, o)),
                Some((_, Role::Entry | Role::Add | Role::Exit)) => return,
                _ => {}
            }
        }
        let position = p.position(&inst.symbol);
        let short = position.qty.is_negative();
        let qty = position
            .qty
            .abs()
            .floor_to(inst.lot_size)
            .unwrap_or(Qty::ZERO);
        // An OCO pair covers the position once.
        let mut covered = Decimal::ZERO;
        let mut seen: Vec<u64> = Vec::new();
        for (seq, o) in &prot {
            if !seen.contains(seq) {
                seen.push(*seq);
                covered = covered
                    .checked_add(o.open_qty.get())
                    .unwrap_or(Decimal::MAX);
            }
        }
        if covered == qty.get() {
            return;
        }
        for (_, o) in &prot {
            out.push(Decision::Cancel { tag: o.tag.clone() });
        }
        if !qty.is_positive() {
            return;
        }
        let Some(last) = self.last_price(slot) else {
            return;
        };
        let avg = position.avg_price().unwrap_or(last);
        let ex = self.cfg.exits;
        let (stop, target) = levels(&ex, avg, inst.tick_size, short);
        let (through_stop, at_target) = if short {
            (
                stop.is_some_and(|s| s <= last),
                target.is_some_and(|t| t >= last),
            )
        } else {
            (
                stop.is_some_and(|s| s >= last),
                target.is_some_and(|t| t <= last),
            )
        };
        if through_stop {
            self.exit(
                slot,
                p,
                out,
                "price already through the stop-loss: closing at market",
            );
            return;
        }
        if at_target {
            self.exit(
                slot,
                p,
                out,
                "price already at the take-profit: closing at market",
            );
            return;
        }
        let tag = self.tag(&Role::Protect);
        let side = if short { Side::Buy } else { Side::Sell };
        let leg = |terms| Intent {
            tag: tag.clone(),
            symbol: inst.symbol.clone(),
            side,
            qty,
            terms,
            role: Role::Protect,
        };
        let stop_leg = match (stop, ex.trailing_stop_pct) {
            (Some(stop), _) => Some(leg(Terms::StopMarket { stop })),
            (None, Some(t)) => Some(leg(Terms::TrailingStop {
                trail: Trail::Percent(Price::new(t.get())),
            })),
            (None, None) => None,
        };
        let target_leg = target.map(|price| leg(Terms::Limit { price }));
        let message = protect_message(qty, stop, ex.trailing_stop_pct, target);
        Self::log(slot, out, message);
        match (target_leg, stop_leg) {
            (Some(limit), Some(stop)) => out.push(Decision::PlaceOco { tag, limit, stop }),
            (Some(one), None) | (None, Some(one)) => out.push(Decision::Place(one)),
            (None, None) => {}
        }
    }
}

/// The stop-loss and take-profit prices of a position at `avg`: a long's
/// stop below and target above, a short's the other way round, rounded
/// away from the price to the tick. Percentages are validated (0–100 and
/// above): only a price beyond what a decimal holds fails here, and it
/// then gets no such leg.
fn levels(
    ex: &crate::strategy::Exits,
    avg: Price,
    tick: Price,
    short: bool,
) -> (Option<Price>, Option<Price>) {
    let level = |v: Qty, up: bool| {
        let f = v.get().checked_div(Decimal::ONE_HUNDRED)?;
        let (f, how) = if up {
            (
                Decimal::ONE.checked_add(f)?,
                rust_decimal::RoundingStrategy::ToPositiveInfinity,
            )
        } else {
            (
                Decimal::ONE.checked_sub(f)?,
                rust_decimal::RoundingStrategy::ToNegativeInfinity,
            )
        };
        round_to_tick(avg.get().checked_mul(f)?, tick, how)
    };
    (
        ex.stop_loss_pct.and_then(|v| level(v, short)),
        ex.take_profit_pct.and_then(|v| level(v, !short)),
    )
}
