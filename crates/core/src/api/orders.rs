//! `orders.*`: placing, cancelling and listing orders; the order-update topic.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::method::{method, topic};
use super::paging::Page;
use crate::instrument::Symbol;
use crate::money::{Price, Qty};
use crate::order::{OrderRecord, OrderRequest, OrderStatus, OrderType, Side};

method! {
    /// Places an order (market, limit, stop_market, stop_limit, trailing_stop, take_profit).
    OrdersPlace = "orders.place", Post "/api/v1/orders", Trade, OrderRequest => OrderRecord
}
method! {
    /// Places a one-cancels-the-other pair: a limit order and a stop on the same side.
    OrdersPlaceOco = "orders.place_oco", Post "/api/v1/orders/oco", Trade, OcoRequest => OrderPair
}
method! {
    /// Places an entry with a take-profit and a stop-loss that go live when the entry fills.
    OrdersPlaceBracket = "orders.place_bracket", Post "/api/v1/orders/bracket", Trade, BracketRequest => Bracket
}
method! {
    /// Cancels an open order by id or client order id.
    OrdersCancel = "orders.cancel", Delete "/api/v1/orders/{id}", Trade, OrderRef => OrderRecord
}
method! {
    /// Cancels every open order, or those of one symbol.
    OrdersCancelAll = "orders.cancel_all", Delete "/api/v1/orders", Trade, CancelAll => Cancelled
}
method! {
    /// One order by id or client order id.
    OrdersGet = "orders.get", Get "/api/v1/orders/{id}", Read, OrderRef => OrderRecord
}
method! {
    /// Orders, newest first, by status and symbol.
    OrdersList = "orders.list", Get "/api/v1/orders", Read, OrderFilter => OrderPage
}

topic! {
    /// Every change of every order.
    OrderUpdates = "orders.updates", OrderRecord, owned
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OcoRequest {
    pub symbol: Symbol,
    pub side: Side,
    pub qty: Qty,
    /// The limit leg's price.
    pub price: Price,
    /// The stop leg's trigger.
    pub stop_price: Price,
    /// Makes the stop leg a stop-limit at this price; a stop-market without it.
    #[serde(default)]
    pub stop_limit_price: Option<Price>,
    /// Prefix of the legs' client order ids (`-limit`, `-stop` are appended).
    #[serde(default)]
    pub client_order_id: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderPair {
    pub limit: OrderRecord,
    pub stop: OrderRecord,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BracketRequest {
    pub symbol: Symbol,
    pub side: Side,
    /// `market` or `limit`.
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub qty: Qty,
    /// The entry's limit price.
    #[serde(default)]
    pub price: Option<Price>,
    /// The take-profit limit price.
    pub take_profit: Price,
    /// The stop-loss trigger (a stop-market).
    pub stop_loss: Price,
    /// Prefix of the three client order ids (`-entry`, `-tp`, `-sl`).
    #[serde(default)]
    pub client_order_id: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Bracket {
    pub entry: OrderRecord,
    pub take_profit: OrderRecord,
    pub stop_loss: OrderRecord,
}

/// Names an order by exactly one of its ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRef {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub client_order_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelAll {
    #[serde(default)]
    pub symbol: Option<Symbol>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Cancelled {
    /// Ids of the orders cancelled.
    pub cancelled: Vec<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderFilter {
    #[serde(default)]
    pub status: Option<OrderStatus>,
    /// Only open orders (new, pending, accepted, partially filled).
    #[serde(default)]
    pub open: Option<bool>,
    #[serde(default)]
    pub symbol: Option<Symbol>,
    /// Only this bot's orders.
    #[serde(default)]
    pub bot_id: Option<u64>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

pub type OrderPage = Page<OrderRecord>;
