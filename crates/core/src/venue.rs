//! What the daemon and a venue say to each other, the same for every venue
//! (the built-in simulator, a real exchange): the order as sent, the
//! submissions, the events that report what happened to orders, and the
//! answer to a request.
//!
//! A request's answer is an [`Ack`]: the events it caused when the venue
//! answered, or [`Ack::Unknown`] when the request may or may not have
//! reached it (a timeout, a dropped connection). An unknown outcome is
//! never resent blind: the order is queried until the venue says what
//! became of it. Executions that happen later (a resting order filling)
//! arrive as events of their own.

use crate::money::{Notional, Price, Qty};
use crate::order::{Liquidity, Side, Terms, TimeInForce};
use crate::time::Timestamp;

/// Our id for an order (its row id), also the venue-side reference.
pub type OrderId = u64;

/// An order as sent to a venue: our id and client order id, the
/// instrument (its index in the venue's list), and what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueOrder {
    pub id: OrderId,
    /// Ours, unique, and what a real venue knows the order by
    /// (`newClientOrderId` on Binance).
    pub client_order_id: String,
    pub symbol: usize,
    pub side: Side,
    pub qty: Qty,
    pub terms: Terms,
    pub time_in_force: TimeInForce,
    /// For buys: the most quote (value plus fees) the order may spend — what
    /// the daemon locked for it. Taker fills stop at the budget, so a fill
    /// can never cost more than was set aside.
    pub budget: Option<Notional>,
    /// The instrument's lot size, to cut budget-limited fills to the grid.
    pub lot: Qty,
    /// For a real exchange's account: sent to the exchange. Otherwise the
    /// order is matched by the simulator (on the simulated market, or on
    /// the exchange's live prices: paper trading).
    pub live: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub order_id: OrderId,
    pub trade_id: u64,
    pub time: Timestamp,
    pub qty: Qty,
    pub price: Price,
    /// The commission charged in the quote asset.
    pub fee: Notional,
    /// A buy's commission charged in the base asset (Binance takes a buy's
    /// from what it bought): the account receives `qty - fee_base`. Zero on
    /// the simulator.
    pub fee_base: Qty,
    pub liquidity: Liquidity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VenueEvent {
    Accepted {
        id: OrderId,
    },
    Rejected {
        id: OrderId,
        reason: String,
    },
    Triggered {
        id: OrderId,
        price: Price,
    },
    /// A pending bracket exit went live for `qty`.
    Activated {
        id: OrderId,
        qty: Qty,
    },
    Fill(Fill),
    Expired {
        id: OrderId,
        reason: String,
    },
    Cancelled {
        id: OrderId,
        reason: String,
    },
}

/// An order that was open before a restart, as the database knows it, to
/// put back where the venue keeps its orders in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reopened {
    pub order: VenueOrder,
    /// What is left to fill.
    pub open: Qty,
    pub filled: Qty,
    /// A stop that already triggered.
    pub triggered: bool,
    /// A bracket exit still waiting for its entry.
    pub pending: bool,
    pub link: Link,
}

/// How an order is tied to others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    None,
    Oco(OrderId),
    Entry {
        take_profit: OrderId,
        stop_loss: OrderId,
    },
    Exit {
        entry: OrderId,
    },
}

impl VenueEvent {
    /// The order the event is about.
    pub fn order_id(&self) -> OrderId {
        match self {
            VenueEvent::Accepted { id }
            | VenueEvent::Rejected { id, .. }
            | VenueEvent::Triggered { id, .. }
            | VenueEvent::Activated { id, .. }
            | VenueEvent::Expired { id, .. }
            | VenueEvent::Cancelled { id, .. } => *id,
            VenueEvent::Fill(f) => f.order_id,
        }
    }
}

/// What is sent to a venue in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submission {
    Single(VenueOrder),
    /// A limit and a stop on one side: the first to fill or trigger cancels
    /// the other.
    Oco(VenueOrder, VenueOrder),
    /// An entry whose take-profit and stop-loss wait until it fills, then
    /// act as an OCO pair for the filled quantity.
    Bracket {
        entry: VenueOrder,
        take_profit: VenueOrder,
        stop_loss: VenueOrder,
    },
}

impl Submission {
    /// The orders in the submission, in the order they were given.
    pub fn ids(&self) -> Vec<OrderId> {
        match self {
            Submission::Single(o) => vec![o.id],
            Submission::Oco(a, b) => vec![a.id, b.id],
            Submission::Bracket {
                entry,
                take_profit,
                stop_loss,
            } => vec![entry.id, take_profit.id, stop_loss.id],
        }
    }
}

/// A venue's answer to a request (a submission, a cancel, a query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// The venue answered: what the request caused, in order (acceptance
    /// or rejection, immediate fills, a cancellation).
    Known(Vec<VenueEvent>),
    /// The request may or may not have reached the venue; the orders must
    /// be queried before anything else is done with them.
    Unknown(String),
}
