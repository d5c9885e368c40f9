//! Orders: what a client may ask for, the status an order is in, and the
//! one table that moves it from status to status.
//!
//! Invariants: the status changes only through [`transition`]; terminal
//! statuses (filled, cancelled, rejected, expired) never change again; an
//! illegal transition is an error that leaves the order untouched; a fill
//! with a trade id the order has already seen is a no-op; the filled
//! quantity never exceeds the order quantity.

#![deny(clippy::arithmetic_side_effects)]

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::instrument::Symbol;
use crate::money::{Notional, Price, Qty};

mod request;
pub use request::{OrderError, OrderRequest, ValidOrder, check_client_order_id};
mod terms;
pub use terms::Terms;
mod state;
pub use state::{
    Event, FillError, FillOutcome, IllegalTransition, OrderState, OrderStatus, transition,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    #[must_use]
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    Market,
    Limit,
    /// A market order once the last trade reaches `stop_price` against the
    /// position (buy: at or above, sell: at or below).
    StopMarket,
    /// A limit order at `price` once `stop_price` is reached, as for stop_market.
    StopLimit,
    /// A stop that follows the best price since placement by `trail`.
    TrailingStop,
    /// A market order once the last trade reaches `stop_price` in the
    /// position's favour (buy: at or below, sell: at or above).
    TakeProfit,
}

impl OrderType {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Market => "market",
            OrderType::Limit => "limit",
            OrderType::StopMarket => "stop_market",
            OrderType::StopLimit => "stop_limit",
            OrderType::TrailingStop => "trailing_stop",
            OrderType::TakeProfit => "take_profit",
        }
    }

    /// Whether the order waits for a trigger before it trades.
    pub fn is_conditional(self) -> bool {
        matches!(
            self,
            OrderType::StopMarket
                | OrderType::StopLimit
                | OrderType::TrailingStop
                | OrderType::TakeProfit
        )
    }
}

#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Good till cancelled.
    #[default]
    Gtc,
    /// Immediate or cancel: what cannot fill at once expires.
    Ioc,
    /// Fill or kill: fills entirely at once, or not at all.
    Fok,
    /// Rests on the book as a maker, or is rejected.
    PostOnly,
}

impl TimeInForce {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "gtc",
            TimeInForce::Ioc => "ioc",
            TimeInForce::Fok => "fok",
            TimeInForce::PostOnly => "post_only",
        }
    }
}

/// How far a trailing stop follows the best price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trail {
    /// A fixed distance in the quote currency.
    Amount(Price),
    /// A distance in percent of the best price (0 < percent < 100).
    Percent(Price),
}

impl Trail {
    /// The stop for a best price `best` seen so far, for an order on `side`.
    pub fn stop_from(self, side: Side, best: Price) -> Option<Price> {
        let distance = match self {
            Trail::Amount(a) => a,
            Trail::Percent(p) => best.checked_scale(p.get().checked_div(Decimal::ONE_HUNDRED)?)?,
        };
        match side {
            Side::Sell => best.checked_sub(distance),
            Side::Buy => best.checked_add(distance),
        }
    }
}

/// An order as stored and as shown to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderRecord {
    pub id: u64,
    pub account: String,
    pub client_order_id: String,
    pub symbol: Symbol,
    pub side: Side,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub qty: Qty,
    pub price: Option<Price>,
    pub stop_price: Option<Price>,
    pub trail: Option<Trail>,
    pub time_in_force: TimeInForce,
    pub status: OrderStatus,
    pub filled: Qty,
    /// Sum of price × quantity over the fills.
    pub filled_notional: Notional,
    pub avg_price: Option<Price>,
    pub fees: Notional,
    /// Funds still locked for the order, in `reserved_asset`.
    pub reserved: Qty,
    pub reserved_asset: String,
    /// A stop whose trigger has fired.
    pub triggered: bool,
    /// A bracket exit's entry order.
    pub parent_id: Option<u64>,
    /// The other leg of an OCO pair (or of a live bracket's exits).
    pub oco_id: Option<u64>,
    /// Why the order was rejected, cancelled or expired.
    pub reason: Option<String>,
    pub owner: String,
    /// The bot whose book the order belongs to; none for manual orders.
    #[serde(default)]
    pub bot_id: Option<u64>,
    pub created: crate::time::Timestamp,
    pub updated: crate::time::Timestamp,
}

impl OrderRecord {
    pub fn open_qty(&self) -> Qty {
        self.qty.checked_sub(self.filled).unwrap_or(Qty::ZERO)
    }
}

/// Whether a fill added liquidity to the book (a resting order) or took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Liquidity {
    Maker,
    Taker,
}

/// One fill of one order: a trade of ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Execution {
    pub trade_id: u64,
    pub order_id: u64,
    pub account: String,
    pub symbol: Symbol,
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
    pub fee: Notional,
    pub fee_asset: String,
    pub liquidity: Liquidity,
    /// PnL this fill realized on its book's position (zero for fills that
    /// open or add): the bot's for a bot's order, else the manual book's.
    pub realized_pnl: Notional,
    /// The bot whose book the fill belongs to; none for manual orders.
    #[serde(default)]
    pub bot_id: Option<u64>,
    pub time: crate::time::Timestamp,
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // expectations are worked out plainly
mod tests;
