//! Venues: where orders execute. The execution service
//! (`services/exchange.rs`) talks to a venue only through [`Venue`], so a
//! real exchange (Binance spot is next) plugs in beside the built-in `sim`.
//!
//! The interface is asynchronous and venue-neutral (`tradedesk_core::venue`):
//! a request ([`Venue::submit`], [`Venue::cancel`], [`Venue::query`]) returns
//! an [`Answer`], a future of the venue's [`Ack`] — the events it caused, or
//! an unknown outcome. Executions that happen later arrive as events from
//! [`Venue::poll`], with the market trades that caused them.
//!
//! The contract that keeps locks off the network: a request method only
//! builds the request (and, for a venue in this process, does the work); the
//! returned future does any waiting. The execution service calls the method
//! under its lock and awaits the future without it — except when the venue
//! says it [answers at once](Venue::answers_at_once), when the answer is
//! taken at once and booked in the same transaction as the order's `new` row.

pub mod binance;
pub mod delayed;
pub mod sim;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tradedesk_core::instrument::Instrument;
use tradedesk_core::market::{OrderBook, TradeTick};
use tradedesk_core::money::Price;
use tradedesk_core::time::Timestamp;
use tradedesk_core::venue::{Ack, OrderId, Reopened, Submission, VenueEvent};

/// A venue's answer to come. It owns what it needs (`'static`), so it can be
/// awaited after the lock it was created under is released.
pub type Answer = Pin<Box<dyn Future<Output = Ack> + Send + 'static>>;

/// An answer that is already known.
pub fn answered(events: Vec<VenueEvent>) -> Answer {
    Box::pin(std::future::ready(Ack::Known(events)))
}

/// The answer of a venue that [answers at once](Venue::answers_at_once):
/// polled once, never waited for. A future that is not ready is a broken
/// venue; its outcome is reported unknown rather than blocking anyone.
pub fn answer_now(mut answer: Answer) -> Ack {
    let mut cx = Context::from_waker(Waker::noop());
    match answer.as_mut().poll(&mut cx) {
        Poll::Ready(ack) => ack,
        Poll::Pending => Ack::Unknown("the venue did not answer at once".to_owned()),
    }
}

/// A remote venue's link, read without the exchange lock (`system.health`
/// must answer when that lock is stuck).
pub trait VenueLink: Send + Sync {
    fn health(&self) -> tradedesk_core::api::system::ComponentHealth;
}

/// What a real exchange's account holds, read by a reconciliation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    /// Every asset's total (free plus locked); `None` when executions
    /// happened while they were read, so they cannot be compared.
    pub balances: Option<std::collections::BTreeMap<String, tradedesk_core::money::Qty>>,
    /// Open orders at the venue the desk did not place.
    pub external: Vec<External>,
}

/// An open order at a venue that the desk did not place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub client_order_id: String,
    pub symbol: String,
    pub side: tradedesk_core::order::Side,
    /// The order as one of ours, when the desk has its kind.
    pub terms: Option<tradedesk_core::order::Terms>,
    /// What is left of it to execute.
    pub open: tradedesk_core::money::Qty,
    /// As shown in alerts.
    pub described: String,
}

/// One market trade and the order events it caused.
#[derive(Debug)]
pub struct TradeUpdate {
    pub symbol: usize,
    pub trade: TradeTick,
    pub events: Vec<VenueEvent>,
}

pub trait Venue: Send {
    /// The venue's name in account rows (`sim`).
    fn name(&self) -> &'static str;
    /// True when every [`Answer`] is ready when the call returns and the
    /// venue's order state lives in this process and dies with it: an
    /// order's `new` row and the venue's answer then commit together. A
    /// venue that answers later has its `new` rows committed before a
    /// request leaves, and its answers booked when they arrive.
    fn answers_at_once(&self) -> bool;
    /// The listed instruments; a symbol's index is its position here.
    fn instruments(&self) -> Vec<&Instrument>;
    /// The venue's order book for a symbol, as last seen.
    fn book(&self, symbol: usize) -> &OrderBook;
    fn last(&self, symbol: usize) -> Price;
    /// Sends an order, an OCO pair or a bracket.
    fn submit(&mut self, submission: Submission, now: Timestamp) -> Answer;
    /// Asks for an order's cancellation. An order the venue no longer knows
    /// as open answers with no events (a fill or a cancel already on its
    /// way says what became of it).
    fn cancel(&mut self, id: OrderId, reason: &str, now: Timestamp) -> Answer;
    /// What became of an order whose outcome is unknown: every event the
    /// venue has for it (the daemon books each once), or a rejection when
    /// the venue never received it.
    fn query(&mut self, id: OrderId, now: Timestamp) -> Answer;
    /// Puts back an order that was open before a restart.
    fn restore(&mut self, reopened: Reopened);
    /// Forgets every order (the execution service then restores the open
    /// ones from the database, which is the truth); trade ids continue
    /// from `next_trade_id`.
    fn reset_orders(&mut self, next_trade_id: u64);
    /// What happened on the market since the last poll.
    fn poll(&mut self, now: Timestamp) -> Vec<TradeUpdate>;

    /// Executions reported apart from market trades (a real exchange's
    /// user stream), since the last call.
    fn executions(&mut self) -> Vec<VenueEvent> {
        Vec::new()
    }
    /// A reconciliation read since the last call: the exchange's balances
    /// and the open orders it holds that the desk did not place.
    fn reconciliation(&mut self) -> Option<Reconciliation> {
        None
    }
    /// The venue's own closed 1-minute bars since the last call, by symbol
    /// (a real exchange's kline stream), to replace those built from trades.
    fn closed_bars(&mut self) -> Vec<(usize, tradedesk_core::market::Bar)> {
        Vec::new()
    }
    /// Asks for another reconciliation read soon.
    fn reconcile_soon(&mut self) {}
    /// Why trading on the venue must stop now (it banned us), once each
    /// time it happens.
    fn take_alarm(&mut self) -> Option<String> {
        None
    }
    /// The venue's links, for `system.health` (a remote venue).
    fn status(&self) -> Option<String> {
        None
    }

    /// A live trailing stop's current trigger level, where the venue keeps
    /// it (the simulator); a real exchange does not say.
    fn trailing_level(&self, _id: OrderId) -> Option<tradedesk_core::money::Price> {
        None
    }

    fn index_of(&self, symbol: &str) -> Option<usize> {
        self.instruments()
            .iter()
            .position(|i| i.symbol.as_str() == symbol)
    }
}
