//! `trades.*`: fills, one round trip per trade, and their statistics; the
//! executions topic.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::method::{method, topic};
use super::paging::Page;
use crate::instrument::Symbol;
use crate::money::{Notional, Ratio};
use crate::order::Execution;
use crate::time::Timestamp;

method! {
    /// Our fills, newest first.
    TradesList = "trades.list", Get "/api/v1/trades", Read, TradeFilter => TradePage
}

method! {
    /// Count, volume, fees, realized PnL and win rate of our fills.
    TradesStats = "trades.stats", Get "/api/v1/trades/stats", Read, StatsParams => TradeStats
}

topic! {
    /// Every fill of every order.
    TradeExecutions = "trades.executions", Execution, owned
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

pub type TradePage = Page<Execution>;

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
