//! `sim`: the built-in simulated exchange — the synthetic market and the
//! matching engine of `tradedesk_core::sim` behind the [`Venue`] interface.

use tradedesk_core::instrument::Instrument;
use tradedesk_core::market::OrderBook;
use tradedesk_core::money::Price;
use tradedesk_core::sim::market::SimMarket;
use tradedesk_core::sim::matching::MatchingEngine;
use tradedesk_core::time::Timestamp;
use tradedesk_core::venue::{OrderId, Reopened, Submission, VenueEvent};

use super::{Answer, TradeUpdate, Venue, answered};

/// Matches a submission against a market's book and last price (the
/// simulator's own market, or a real venue's for paper trading on it).
pub fn match_now<'a>(
    engine: &mut MatchingEngine,
    submission: Submission,
    now: Timestamp,
    market: impl Fn(usize) -> (&'a OrderBook, Price),
) -> Vec<VenueEvent> {
    match submission {
        Submission::Single(o) => {
            let (book, last) = market(o.symbol);
            engine.submit(o, book, last, now)
        }
        Submission::Oco(a, b) => {
            let (book, last) = market(a.symbol);
            engine.submit_oco(a, b, book, last, now)
        }
        Submission::Bracket {
            entry,
            take_profit,
            stop_loss,
        } => {
            let (book, last) = market(entry.symbol);
            engine.submit_bracket(entry, take_profit, stop_loss, book, last, now)
        }
    }
}

pub struct SimVenue {
    market: SimMarket,
    engine: MatchingEngine,
}

impl SimVenue {
    pub fn new(market: SimMarket, engine: MatchingEngine) -> Self {
        SimVenue { market, engine }
    }
}

impl SimVenue {
    /// Matches a submission now; the events it caused.
    pub fn execute(&mut self, submission: Submission, now: Timestamp) -> Vec<VenueEvent> {
        let symbols = &self.market.symbols;
        match_now(&mut self.engine, submission, now, |i| {
            (&symbols[i].book, symbols[i].last)
        })
    }

    /// Cancels a live order now; nothing when it is not live.
    pub fn cancel_now(&mut self, id: OrderId, reason: &str, now: Timestamp) -> Vec<VenueEvent> {
        let Some(symbol) = self.engine.symbol_of(id) else {
            return Vec::new();
        };
        let s = &self.market.symbols[symbol];
        self.engine.cancel(id, reason, &s.book, s.last, now)
    }

    pub fn is_live(&self, id: OrderId) -> bool {
        self.engine.is_live(id)
    }
}

impl Venue for SimVenue {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn answers_at_once(&self) -> bool {
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

    fn submit(&mut self, submission: Submission, now: Timestamp) -> Answer {
        answered(self.execute(submission, now))
    }

    fn cancel(&mut self, id: OrderId, reason: &str, now: Timestamp) -> Answer {
        answered(self.cancel_now(id, reason, now))
    }

    /// The simulator answers every request at once, so no outcome is ever
    /// unknown; an order it does not hold is no longer open.
    fn query(&mut self, id: OrderId, _now: Timestamp) -> Answer {
        answered(if self.engine.is_live(id) {
            vec![VenueEvent::Accepted { id }]
        } else {
            Vec::new()
        })
    }

    fn trailing_level(&self, id: OrderId) -> Option<tradedesk_core::money::Price> {
        self.engine.trailing_level(id)
    }

    fn restore(&mut self, reopened: Reopened) {
        let last = self.market.symbols[reopened.order.symbol].last;
        self.engine.restore(reopened, last);
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
