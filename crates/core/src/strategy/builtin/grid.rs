//! The grid: a ladder of limit buys below the price, each filled level
//! sold one step up; rebuilt from what the bot holds.

use super::super::{Action, Candle, Cx, KeyedFill, ParamError, Params, Strategy, in_range};
use super::Make;
use crate::money::{Price, Qty};
use crate::order::Side;
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GridParams {
    /// The lowest price line.
    pub lower: Price,
    /// The highest price line, above `lower`.
    pub upper: Price,
    /// Number of price lines (2–200).
    pub levels: usize,
}

impl Params for GridParams {
    fn validate(&self) -> Result<(), ParamError> {
        if !self.lower.is_positive() {
            return Err(ParamError::new(
                "lower",
                format!("must be greater than zero, got {}", self.lower),
            ));
        }
        if self.upper <= self.lower {
            return Err(ParamError::new(
                "upper",
                format!(
                    "must be greater than lower ({}), got {}",
                    self.lower, self.upper
                ),
            ));
        }
        in_range("levels", self.levels, 2, 200)
    }
}

impl Make for GridParams {
    fn make(self) -> Result<Box<dyn Strategy>, ParamError> {
        Ok(Box::new(Grid::new(self)))
    }
}

pub struct Grid {
    pub(super) p: GridParams,
    /// Quantity bought at line i and not yet sold at line i+1.
    pub(super) holding: BTreeMap<usize, Qty>,
}

impl Grid {
    pub(super) fn new(p: GridParams) -> Grid {
        Grid {
            p,
            holding: BTreeMap::new(),
        }
    }

    /// Line `i`'s price on the tick grid; `None` when the grid's prices
    /// are too large to compute exactly (no order is placed then).
    pub(super) fn line(&self, i: usize, tick: Price) -> Option<Price> {
        let (lower, upper) = (self.p.lower.get(), self.p.upper.get());
        let gaps = Decimal::from(self.p.levels.saturating_sub(1).max(1));
        let step = upper.checked_sub(lower)?.checked_div(gaps)?;
        let raw = lower.checked_add(step.checked_mul(Decimal::from(i))?)?;
        let t = tick.get();
        if t.is_zero() {
            return Some(Price::new(raw));
        }
        let on_grid = raw.checked_div(t)?.round().checked_mul(t)?;
        Some(Price::new(on_grid.normalize()))
    }

    /// Trims what the grid thinks it holds to what the bot holds: after a
    /// kill switch sold the position, a user sold part of it, or anything
    /// else outside the grid, the lines bought highest are the ones that
    /// are gone. (More held than the lines account for is not the grid's,
    /// and is left alone.)
    pub(super) fn reconcile(&mut self, held: Qty) {
        let held = held.max(Qty::ZERO);
        let mut total = self
            .holding
            .values()
            .try_fold(Qty::ZERO, |sum, q| sum.checked_add(*q))
            .unwrap_or(Qty::new(Decimal::MAX));
        while total > held {
            let Some((&line, &q)) = self.holding.iter().next_back() else {
                break;
            };
            let excess = total.checked_sub(held).unwrap_or(Qty::ZERO);
            let cut = q.min(excess);
            let left = q.checked_sub(cut).unwrap_or(Qty::ZERO);
            if left.is_positive() {
                self.holding.insert(line, left);
            } else {
                self.holding.remove(&line);
            }
            total = total.checked_sub(cut).unwrap_or(Qty::ZERO);
        }
    }

    /// Places what is missing from the ladder, for what the bot really holds.
    pub(super) fn ensure(&mut self, cx: &mut Cx<'_>) {
        self.reconcile(cx.position());
        let tick = cx.instrument().tick_size;
        let (keyed, last) = (cx.keyed(), cx.last());
        for i in 0..self.p.levels.saturating_sub(1) {
            let (buy, sell) = (format!("b{i}"), format!("s{i}"));
            let open = |k: &str| keyed.iter().any(|o| o.key == k);
            if let Some(q) = self.holding.get(&i) {
                if !open(&sell)
                    && let Some(price) = self.line(i.saturating_add(1), tick)
                {
                    cx.act(Action::Limit {
                        key: sell,
                        side: Side::Sell,
                        price,
                        qty: Some(*q),
                    });
                }
            } else if let Some(price) = self.line(i, tick)
                && price < last
                && !open(&buy)
            {
                cx.act(Action::Limit {
                    key: buy,
                    side: Side::Buy,
                    price,
                    qty: None,
                });
            }
        }
    }
}

impl Strategy for Grid {
    fn warmup(&self) -> usize {
        0
    }

    /// A grid gains one step per completed line and pays a maker fee on
    /// each side: a step at or below that round trip loses money on every
    /// line, however many lines it completes.
    fn warnings(&self, fees: super::super::FeeRates) -> Vec<String> {
        let (lower, upper) = (self.p.lower.get(), self.p.upper.get());
        let gaps = Decimal::from(self.p.levels.saturating_sub(1).max(1));
        let Some(step) = upper.checked_sub(lower).and_then(|r| r.checked_div(gaps)) else {
            return Vec::new();
        };
        // The smallest gain is at the top line bought (upper − step).
        let Some(gain) = upper
            .checked_sub(step)
            .and_then(|top| step.checked_div(top))
        else {
            return Vec::new();
        };
        let round_trip = fees.maker.checked_mul(Decimal::TWO).unwrap_or(Decimal::MAX);
        if gain > round_trip {
            return Vec::new();
        }
        let pct = |f: Decimal| crate::display::percent(f);
        vec![format!(
            "the grid's step ({} at its top line) is not above its round-trip fee ({}: the maker fee on both sides); every completed line loses money",
            pct(gain),
            pct(round_trip)
        )]
    }

    fn on_bar(&mut self, _bar: &Candle, cx: &mut Cx<'_>) {
        self.ensure(cx);
    }

    fn on_start(&mut self, cx: &mut Cx<'_>) {
        self.ensure(cx);
    }

    fn on_fill(&mut self, f: &KeyedFill, cx: &mut Cx<'_>) {
        let Some(i) = f.key.get(1..).and_then(|n| n.parse::<usize>().ok()) else {
            return;
        };
        match f.side {
            Side::Buy => {
                let held = self.holding.entry(i).or_insert(Qty::ZERO);
                *held = held.checked_add(f.qty).unwrap_or(*held);
            }
            Side::Sell => {
                if let Some(held) = self.holding.get_mut(&i) {
                    *held = held.checked_sub(f.qty).unwrap_or(Qty::ZERO);
                    if !held.is_positive() {
                        self.holding.remove(&i);
                    }
                }
            }
        }
        if f.complete {
            self.ensure(cx);
        }
    }

    fn save(&mut self) -> serde_json::Value {
        serde_json::json!({ "holding": self.holding })
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if let Some(h) = state.get("holding") {
            self.holding = serde_json::from_value(h.clone()).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
