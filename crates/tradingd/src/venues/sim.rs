//! `sim`: the built-in simulated exchange — the synthetic market and the
//! matching engine of `tradedesk_core::sim` behind the [`Venue`] interface.

use tradedesk_core::instrument::Instrument;
use tradedesk_core::market::OrderBook;
use tradedesk_core::money::{Price, Qty};
use tradedesk_core::sim::market::SimMarket;
use tradedesk_core::sim::matching::{ExecEvent, Link, MatchingEngine, OrderId, SimOrder};
use tradedesk_core::time::Timestamp;

use super::{TradeUpdate, Venue};

pub struct SimVenue {
    market: SimMarket,
    engine: MatchingEngine,
}

impl SimVenue {
    pub fn new(market: SimMarket, engine: MatchingEngine) -> Self {
        SimVenue { market, engine }
    }
}

impl Venue for SimVenue {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn in_process(&self) -> bool {
        true
    }

    fn instruments(&self) -> Vec<&Instrument> {
        self.market.symbols.iter().map(|s| &s.instrument).collect()
    }

    fn book(&self, symbol: usize) -> &OrderBook {
        &self.market.symbols[symbol].book
    }

    fn last(&self, symbol: usize) -> Price {
        self.market.symbols[symbol].last
    }

    fn is_live(&self, id: OrderId) -> bool {
        self.engine.is_live(id)
    }

    fn submit(&mut self, order: SimOrder, now: Timestamp) -> Vec<ExecEvent> {
        let s = &self.market.symbols[order.symbol];
        self.engine.submit(order, &s.book, s.last, now)
    }

    fn submit_oco(&mut self, a: SimOrder, b: SimOrder, now: Timestamp) -> Vec<ExecEvent> {
        let s = &self.market.symbols[a.symbol];
        self.engine.submit_oco(a, b, &s.book, s.last, now)
    }

    fn submit_bracket(
        &mut self,
        entry: SimOrder,
        take_profit: SimOrder,
        stop_loss: SimOrder,
        now: Timestamp,
    ) -> Vec<ExecEvent> {
        let s = &self.market.symbols[entry.symbol];
        self.engine
            .submit_bracket(entry, take_profit, stop_loss, &s.book, s.last, now)
    }

    fn cancel(&mut self, id: OrderId, reason: &str, now: Timestamp) -> Vec<ExecEvent> {
        let Some(symbol) = self.engine.symbol_of(id) else {
            return Vec::new();
        };
        let s = &self.market.symbols[symbol];
        self.engine.cancel(id, reason, &s.book, s.last, now)
    }

    fn restore(
        &mut self,
        order: SimOrder,
        open: Qty,
        filled: Qty,
        triggered: bool,
        pending: bool,
        link: Link,
    ) {
        let last = self.market.symbols[order.symbol].last;
        self.engine
            .restore(order, open, filled, triggered, pending, link, last);
    }

    fn reset_orders(&mut self, next_trade_id: u64) {
        self.engine = MatchingEngine::new(self.engine.fees(), next_trade_id);
    }

    fn poll(&mut self, now: Timestamp) -> Vec<TradeUpdate> {
        let mut out = Vec::new();
        for tick in self.market.step(now) {
            let s = &self.market.symbols[tick.symbol_index];
            for trade in tick.trades {
                let events = self.engine.on_trade(tick.symbol_index, &trade, &s.book);
                out.push(TradeUpdate {
                    symbol: tick.symbol_index,
                    trade,
                    events,
                });
            }
        }
        out
    }
}
