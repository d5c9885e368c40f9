//! `positions.*`: what is held, at its mark, and closing it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::method::{method, topic};
use super::paging::{Page, PageParams};
use crate::instrument::Symbol;
use crate::money::{Notional, Price, Qty};
use crate::order::OrderRecord;

method! {
    /// Open positions with average entry, realized and unrealized PnL.
    PositionsList = "positions.list", Get "/api/v1/positions", Read, PageParams => PositionList
}
method! {
    /// The position in one symbol.
    PositionsGet = "positions.get", Get "/api/v1/positions/{symbol}", Read, PositionParam => PositionView
}
method! {
    /// Closes a position (or `qty` of it) with a market order.
    PositionsClose = "positions.close", Post "/api/v1/positions/{symbol}/close", Trade, CloseParams => OrderRecord
}
topic! {
    /// A position after every fill that changed it, and as its mark moves
    /// (at most every `streams.figures_ms` while it is held).
    PositionUpdates = "positions.updates", PositionView, owned
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

pub type PositionList = Page<PositionView>;

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
