//! Where live orders are found fast: per symbol, resting limits by price
//! and stops by trigger, kept in step as orders come and go.

use super::{Live, MatchingEngine};
use crate::money::Price;
use crate::order::Side;
use crate::venue::OrderId;
use std::cmp::Reverse;
use std::collections::BTreeSet;

/// Where a symbol's live orders can be found by what moves them, so that a
/// trade touches only the orders it can fill or trigger.
#[derive(Debug, Clone, Default)]
pub(super) struct SymbolIndex {
    /// Resting buys: best (highest) price first, then oldest.
    pub(super) bids: BTreeSet<(Reverse<Price>, OrderId)>,
    /// Resting sells: best (lowest) price first, then oldest.
    pub(super) asks: BTreeSet<(Price, OrderId)>,
    /// Conditional orders waiting for their trigger.
    pub(super) stops: BTreeSet<OrderId>,
}

impl MatchingEngine {
    pub(super) fn index_of(&mut self, symbol: usize) -> &mut SymbolIndex {
        if self.index.len() <= symbol {
            self.index
                .resize_with(symbol.saturating_add(1), SymbolIndex::default);
        }
        &mut self.index[symbol]
    }

    pub(super) fn unindex(&mut self, id: OrderId) {
        let Some((symbol, price)) = self
            .live
            .get(&id)
            .map(|l| (l.order.symbol, l.order.terms.price()))
        else {
            return;
        };
        let ix = self.index_of(symbol);
        ix.stops.remove(&id);
        if let Some(p) = price {
            ix.bids.remove(&(Reverse(p), id));
            ix.asks.remove(&(p, id));
        }
    }

    /// Files an order under what can move it now.
    pub(super) fn reindex(&mut self, id: OrderId) {
        self.unindex(id);
        let Some(l) = self.live.get(&id) else { return };
        let (symbol, side, resting) = (l.order.symbol, l.order.side, l.resting_limit());
        let waiting = !l.pending && l.order.terms.order_type().is_conditional() && !l.triggered;
        if l.pending {
            return;
        }
        let ix = self.index_of(symbol);
        match (resting, side) {
            (Some(p), Side::Buy) => {
                ix.bids.insert((Reverse(p), id));
            }
            (Some(p), Side::Sell) => {
                ix.asks.insert((p, id));
            }
            (None, _) if waiting => {
                ix.stops.insert(id);
            }
            (None, _) => {}
        }
    }

    pub(super) fn insert_live(&mut self, live: Live) {
        let id = live.order.id;
        self.live.insert(id, live);
        self.reindex(id);
    }

    pub(super) fn remove_live(&mut self, id: OrderId) -> Option<Live> {
        self.unindex(id);
        self.live.remove(&id)
    }
}
