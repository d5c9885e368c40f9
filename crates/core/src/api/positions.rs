//! `positions.*` and `trades.*`: what is held, and what was traded.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Empty;
use super::method::{method, topic};
use crate::instrument::Symbol;
use crate::money::{Notional, Price, Qty, Ratio};
use crate::order::{Execution, OrderRecord};
use crate::time::Timestamp;

method! {
    /// Open positions with average entry, realized and unrealized PnL.
    PositionsList = "positions.list", Get "/api/v1/positions", Read, Empty => PositionList
}
method! {
    /// The position in one symbol.
    PositionsGet = "positions.get", Get "/api/v1/positions/{symbol}", Read, PositionParam => PositionView
}
method! {
    /// Closes a position (or `qty` of it) with a market order.
    PositionsClose = "positions.close", Post "/api/v1/positions/{symbol}/close", Trade, CloseParams => OrderRecord
}
method! {
    /// Our fills, newest first.
    TradesList = "trades.list", Get "/api/v1/trades", Read, TradeFilter => TradePage
}
method! {
    /// Count, volume, fees, realized PnL and win rate of our fills.
    TradesStats = "trades.stats", Get "/api/v1/trades/stats", Read, StatsParams => TradeStats
}

topic! {
    /// A position after every fill that changed it, and as its mark moves
    /// (at most every `streams.figures_ms` while it is held).
    PositionUpdates = "positions.updates", PositionView
}
topic! {
    /// Every fill of every order.
    TradeExecutions = "trades.executions", Execution
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PositionView {
    pub account: String,
    pub symbol: Symbol,
    pub qty: Qty,
    pub avg_price: Option<Price>,
    /// Cost of the open quantity.
    pub cost: Notional,
    pub mark_price: Option<Price>,
    /// What was closed gained or lost, after its entry and exit fees.
    pub realized_pnl: Notional,
    /// What is open would gain or lose at the mark, after its entry fees.
    pub unrealized_pnl: Option<Notional>,
    /// Every fee paid in this position, open and closed.
    pub fees: Notional,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PositionList {
    pub positions: Vec<PositionView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PositionParam {
    pub symbol: Symbol,
    #[serde(default)]
    pub account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseParams {
    pub symbol: Symbol,
    /// Default: the whole position.
    #[serde(default)]
    pub qty: Option<Qty>,
    #[serde(default)]
    pub account: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TradeFilter {
    #[serde(default)]
    pub symbol: Option<Symbol>,
    /// Only this bot's trades.
    #[serde(default)]
    pub bot_id: Option<u64>,
    #[serde(default)]
    pub start: Option<Timestamp>,
    #[serde(default)]
    pub end: Option<Timestamp>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TradePage {
    pub trades: Vec<Execution>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatsParams {
    #[serde(default)]
    pub symbol: Option<Symbol>,
    /// Only this bot's trades.
    #[serde(default)]
    pub bot_id: Option<u64>,
    #[serde(default)]
    pub start: Option<Timestamp>,
    #[serde(default)]
    pub end: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TradeStats {
    /// Fills.
    pub count: u64,
    /// Sum of price × quantity.
    pub volume: Notional,
    pub fees: Notional,
    /// What the fills realized, after their fees and the entry fees of what
    /// they closed.
    pub realized_pnl: Notional,
    /// Round trips (flat to flat, per book and symbol) closed in the range.
    #[serde(default)]
    pub trades: u64,
    /// Round trips won / lost after all their fees.
    pub wins: u64,
    pub losses: u64,
    /// wins / (wins + losses), as a decimal fraction; absent with no closed trip.
    pub win_rate: Option<Ratio>,
}
