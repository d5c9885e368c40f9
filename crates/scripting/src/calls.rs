//! What a user strategy asked for during one call, in the host's terms,
//! and the per-call context both tiers give it.

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use tradedesk_core::indicator::Hlcv;
use tradedesk_core::money::{Qty, price_from_f64};
use tradedesk_core::order::Side;
use tradedesk_core::strategy::{Action, Cx};

/// Most actions one call may ask for; more stops the strategy (a
/// runaway loop would otherwise flood its bot's log or orders).
pub const MAX_ACTIONS_PER_CALL: usize = 1024;
/// Longest log line or failure reason kept (longer ones are cut).
pub const MAX_TEXT: usize = 1024;
/// Longest key of a keyed order.
pub const MAX_KEY: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    Enter,
    Add,
    Exit,
    Limit {
        key: String,
        side: Side,
        price: f64,
        qty: f64,
    },
    Cancel(String),
    Log(String),
    Fail(String),
}

/// A fill as both tiers hand it to a strategy: buy, quantity, price (f64).
pub fn fill_numbers(fill: &tradedesk_core::strategy::KeyedFill) -> (bool, f64, f64) {
    let f = |d: Decimal| rust_decimal::prelude::ToPrimitive::to_f64(&d).unwrap_or(0.0);
    (
        fill.side == Side::Buy,
        f(fill.qty.get()),
        f(fill.price.get()),
    )
}

/// The state a strategy's host functions read and write during a call.
#[derive(Debug, Default)]
pub struct CallState {
    pub pending: Vec<Pending>,
    pub bar: Option<Hlcv>,
    pub last: f64,
    pub now: i64,
    pub position: f64,
    pub fill_key: String,
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at = at.saturating_sub(1);
        }
        s.truncate(at);
        s.push('…');
    }
    s
}

impl CallState {
    /// Before a call: what the strategy may read.
    #[inline]
    pub fn begin(&mut self, cx: &Cx<'_>, bar: Option<Hlcv>, position: bool) {
        self.bar = bar;
        self.last = bar.map_or_else(|| cx.last_f64(), |b| b.close);
        self.now = cx.now().millis();
        if position {
            self.position =
                rust_decimal::prelude::ToPrimitive::to_f64(&cx.position().get()).unwrap_or(0.0);
        }
    }

    /// Records an action; past the per-call limit the call fails.
    pub fn push(&mut self, p: Pending) -> Result<(), String> {
        if self.pending.len() >= MAX_ACTIONS_PER_CALL {
            return Err(format!(
                "more than {MAX_ACTIONS_PER_CALL} actions in one call"
            ));
        }
        self.pending.push(p);
        Ok(())
    }

    /// After a call: hands what it asked for to the engine. `error` (a
    /// trap, a runtime error, a budget spent) makes the call void.
    pub fn finish(&mut self, cx: &mut Cx<'_>, error: Option<String>) {
        if let Some(e) = error {
            // A failure it reported itself explains a trap best.
            let reason = self
                .pending
                .iter()
                .find_map(|p| match p {
                    Pending::Fail(r) => Some(r.clone()),
                    _ => None,
                })
                .map_or(e.clone(), |r| {
                    if e.contains(&r) {
                        e.clone()
                    } else {
                        format!("{r} ({e})")
                    }
                });
            self.pending.clear();
            cx.fail(cut(reason, MAX_TEXT));
            return;
        }
        for p in self.pending.drain(..) {
            match p {
                Pending::Enter => cx.act(Action::Enter),
                Pending::Add => cx.act(Action::Add),
                Pending::Exit => cx.act(Action::Exit),
                Pending::Log(m) => cx.log(m),
                Pending::Fail(r) => cx.fail(r),
                Pending::Cancel(key) => cx.act(Action::Cancel { key }),
                Pending::Limit {
                    key,
                    side,
                    price,
                    qty,
                } => {
                    if !price.is_finite() || price <= 0.0 {
                        cx.log(format!(
                            "limit `{key}` skipped: price {price} is not a price"
                        ));
                        continue;
                    }
                    let price = price_from_f64(price, cx.instrument().tick_size);
                    let qty = (qty.is_finite() && qty > 0.0)
                        .then(|| Decimal::from_f64(qty))
                        .flatten()
                        .map(Qty::new);
                    cx.act(Action::Limit {
                        key,
                        side,
                        price,
                        qty,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn text_is_cut_on_a_character_boundary() {
        assert_eq!(cut("abc".into(), 5), "abc");
        assert_eq!(cut("aé".into(), 2), "a…");
    }
}
