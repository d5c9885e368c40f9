//! Venues: where orders execute. The execution service
//! (`services/exchange.rs`) talks to a venue only through [`Venue`], so a
//! real exchange (Binance spot is next) plugs in beside the built-in `sim`.
//!
//! The interface is synchronous and event-shaped: calls return the
//! [`ExecEvent`]s they caused, and [`Venue::poll`] returns market trades
//! with the events they caused. A network venue keeps its own I/O threads
//! and hands over what they received when polled, so the execution
//! service books everything under one lock, in order.

pub mod sim;

use tradedesk_core::instrument::Instrument;
use tradedesk_core::market::{OrderBook, TradeTick};
use tradedesk_core::money::{Price, Qty};
use tradedesk_core::sim::matching::{ExecEvent, Link, OrderId, SimOrder};
use tradedesk_core::time::Timestamp;

/// One market trade and the order events it caused.
#[derive(Debug)]
pub struct TradeUpdate {
    pub symbol: usize,
    pub trade: TradeTick,
    pub events: Vec<ExecEvent>,
}

pub trait Venue: Send {
    /// The venue's name in account rows (`sim`).
    fn name(&self) -> &'static str;
    /// True when the venue's order state lives in this process and dies
    /// with it: an order's `new` row and the venue's answer may then commit
    /// together. A remote venue returns false, and its `new` rows commit
    /// before a request leaves.
    fn in_process(&self) -> bool;
    /// The listed instruments; a symbol's index is its position here.
    fn instruments(&self) -> Vec<&Instrument>;
    fn book(&self, symbol: usize) -> &OrderBook;
    fn last(&self, symbol: usize) -> Price;
    fn is_live(&self, id: OrderId) -> bool;
    fn submit(&mut self, order: SimOrder, now: Timestamp) -> Vec<ExecEvent>;
    fn submit_oco(&mut self, a: SimOrder, b: SimOrder, now: Timestamp) -> Vec<ExecEvent>;
    fn submit_bracket(
        &mut self,
        entry: SimOrder,
        take_profit: SimOrder,
        stop_loss: SimOrder,
        now: Timestamp,
    ) -> Vec<ExecEvent>;
    fn cancel(&mut self, id: OrderId, reason: &str, now: Timestamp) -> Vec<ExecEvent>;
    /// Puts back an order that was open before a restart.
    #[allow(clippy::too_many_arguments)]
    fn restore(
        &mut self,
        order: SimOrder,
        open: Qty,
        filled: Qty,
        triggered: bool,
        pending: bool,
        link: Link,
    );
    /// Forgets every order (the execution service then restores the open
    /// ones from the database, which is the truth); trade ids continue
    /// from `next_trade_id`.
    fn reset_orders(&mut self, next_trade_id: u64);
    /// What happened on the market since the last poll.
    fn poll(&mut self, now: Timestamp) -> Vec<TradeUpdate>;

    fn index_of(&self, symbol: &str) -> Option<usize> {
        self.instruments()
            .iter()
            .position(|i| i.symbol.as_str() == symbol)
    }
}
