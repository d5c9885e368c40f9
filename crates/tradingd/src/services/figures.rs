//! Live figures. A held position's unrealized PnL and a bot's equity move
//! with prices, not only with fills: after each market tick, the held
//! positions of moved symbols (`positions.updates`) and the bots' books
//! (`bots.figures`) whose figures changed since they were last published
//! are published again, each at most every `streams.figures_ms`.

use std::collections::{BTreeMap, BTreeSet};

use tradedesk_core::api::bots::BotFiguresTopic;
use tradedesk_core::api::positions::PositionUpdates;
use tradedesk_core::instrument::Symbol;
use tradedesk_core::money::Notional;

use crate::context::Ctx;
use crate::lock_order::{leaf, monotonic_ms};
use crate::services::bots::figures;
use crate::services::exchange::State;

/// A figure as last published, and when (monotonic ms).
type Sent = (Option<Notional>, u64);

/// What was last published, per held position and per bot.
#[derive(Debug, Default)]
pub struct Published {
    positions: BTreeMap<(usize, Symbol), Sent>,
    bots: BTreeMap<u64, Sent>,
}

/// Whether `now` may publish `value` over what was `sent`: it differs,
/// and the last one is at least `every` ms old.
fn due(sent: Option<&Sent>, value: Option<Notional>, now: u64, every: u64) -> bool {
    match sent {
        None => true,
        Some((v, at)) => *v != value && now.saturating_sub(*at) >= every,
    }
}

/// Publishes what the tick moved. `moved`: the symbols whose price moved.
/// Called with the exchange's lock held, so figures and fills are
/// published in the order they happened.
pub fn publish(ctx: &Ctx, state: &State, moved: &BTreeSet<Symbol>) {
    let every = ctx.config.streams.figures_ms;
    let now = monotonic_ms();
    let mut sent = leaf(&ctx.figures);
    let mut books = BTreeSet::new();
    for (a, acc) in state.accounts.iter().enumerate() {
        for symbol in acc.books.symbols() {
            if !moved.contains(&symbol) {
                continue;
            }
            let key = (a, symbol);
            if acc.books.position(&key.1).qty.is_zero() {
                sent.positions.remove(&key);
                continue;
            }
            let view = state.position_view(a, &key.1);
            if due(sent.positions.get(&key), view.unrealized_pnl, now, every) {
                ctx.hub
                    .publish_to::<PositionUpdates>(Some(&acc.row.owner), &view);
                sent.positions.insert(key, (view.unrealized_pnl, now));
            }
        }
        for &id in acc.books.bots.keys() {
            books.insert(id);
            let f = figures(state, a, id);
            if due(sent.bots.get(&id), f.equity, now, every) {
                sent.bots.insert(id, (f.equity, now));
                ctx.hub
                    .publish_to::<BotFiguresTopic>(Some(&acc.row.owner), &f);
            }
        }
    }
    // Deleted bots' books are gone.
    sent.bots.retain(|id, _| books.contains(id));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_figure_goes_out_when_it_changed_and_not_more_often_than_asked() {
        let one = Some(Notional::new(1.into()));
        let two = Some(Notional::new(2.into()));
        assert!(due(None, one, 0, 1000), "first sight");
        assert!(!due(Some(&(one, 0)), one, 5000, 1000), "unchanged");
        assert!(!due(Some(&(one, 0)), two, 999, 1000), "too soon");
        assert!(due(Some(&(one, 0)), two, 1000, 1000));
        assert!(due(Some(&(one, 10)), two, 10, 0), "0: every tick");
    }
}
