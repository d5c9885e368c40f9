//! What a backtest gives back: its round trips, its fills, the parts of the
//! record to keep, and the outcome with the equity curve.

use super::Market;
use crate::analytics::{Metrics, TradeFigures};
use crate::instrument::Symbol;
use crate::money::{Notional, Price, Qty};
use crate::order::Side;
use crate::time::Timestamp;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Trade {
    /// The leg (strategy) index.
    pub leg: usize,
    pub symbol: Symbol,
    pub qty: Qty,
    pub entry_step: usize,
    pub exit_step: usize,
    pub entry_time: Timestamp,
    pub exit_time: Timestamp,
    pub entry_price: Price,
    pub exit_price: Price,
    pub pnl: Notional,
    pub fees: Notional,
    pub return_pct: f64,
    /// What closed it (absent in results stored before reasons were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_reason: Option<ExitReason>,
    /// Long (bought, then sold) or short (sold, then bought back).
    #[serde(default)]
    pub direction: Direction,
}

/// Which way a trade faced.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Long,
    Short,
}

impl Direction {
    pub const fn name(self) -> &'static str {
        match self {
            Direction::Long => "long",
            Direction::Short => "short",
        }
    }
}

/// Why a trade ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// The strategy's own exit (its signal, or a keyed order it placed).
    Signal,
    StopLoss,
    TakeProfit,
    TrailingStop,
    /// Closed by a margin call.
    Liquidation,
    /// Closed at the last bar (`settings.close_at_end`).
    EndOfData,
}

impl ExitReason {
    pub const fn name(self) -> &'static str {
        match self {
            ExitReason::Signal => "signal",
            ExitReason::StopLoss => "stop_loss",
            ExitReason::TakeProfit => "take_profit",
            ExitReason::TrailingStop => "trailing_stop",
            ExitReason::Liquidation => "liquidation",
            ExitReason::EndOfData => "end_of_data",
        }
    }
}

impl Trade {
    /// The trade as the analytics take it.
    pub fn figures(&self) -> TradeFigures {
        TradeFigures {
            symbol: self.symbol.clone(),
            entry_step: self.entry_step,
            exit_step: self.exit_step,
            entry_time: self.entry_time,
            exit_time: self.exit_time,
            pnl: self.pnl.get().to_f64().unwrap_or(0.0),
            return_frac: self.return_pct / 100.0,
            fees: self.fees.get().to_f64().unwrap_or(0.0),
        }
    }
}

/// One fill of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Fill {
    pub step: usize,
    pub time: Timestamp,
    pub tag: String,
    pub symbol: Symbol,
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
    pub fee: Notional,
}

/// What to keep beyond the metrics (a sweep keeps nothing per bar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    pub equity: bool,
    pub fills: bool,
}

pub struct Outcome {
    pub metrics: Metrics,
    pub trades: Vec<Trade>,
    pub fills: Vec<Fill>,
    /// Each step's equity, when kept; [`Outcome::times`] gives the steps'
    /// times.
    pub equity: Vec<f64>,
    /// The merged step times of a run over several markets, when equity
    /// is kept (one market's steps are its bars: their times are not
    /// copied).
    pub(super) merged_times: Vec<Timestamp>,
    pub final_cash: Decimal,
    pub final_equity: Decimal,
    /// Set when a margin call ended the run early.
    pub margin_call: Option<Timestamp>,
}

impl Outcome {
    /// The steps' times, one per kept equity point; `markets` are the
    /// run's. Empty when equity was not kept.
    pub fn times<'a>(&'a self, markets: &[Market<'_>]) -> std::borrow::Cow<'a, [Timestamp]> {
        match markets {
            [m] if !self.equity.is_empty() => m.bars.iter().map(|b| b.time).collect(),
            _ => std::borrow::Cow::Borrowed(&self.merged_times),
        }
    }
}
