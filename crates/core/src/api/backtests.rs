//! `backtests.*`: backtests and parameter sweeps over datasets, their
//! results, trades, equity curves and comparisons.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Deleted;
use super::method::method;
use super::paging::Page;
use crate::analytics::Metrics;
use crate::backtest::report::Report;
use crate::backtest::{Axis, Settings, SweepRow, Trade};
use crate::job::JobState;
use crate::strategy::StrategySpec;
use crate::time::Timestamp;

method! {
    /// Creates a backtest and enqueues it as a `backtest.run` job.
    BacktestsCreate = "backtests.create", Post "/api/v1/backtests", Trade, BacktestSpec => Backtest
}
method! {
    /// A backtest: state, progress, summary.
    BacktestsGet = "backtests.get", Get "/api/v1/backtests/{id}", Read, BacktestId => Backtest
}
method! {
    /// Backtests and sweeps, newest first.
    BacktestsList = "backtests.list", Get "/api/v1/backtests", Read, BacktestFilter => BacktestPage
}
method! {
    /// Cancels a queued or running backtest or sweep.
    BacktestsCancel = "backtests.cancel", Post "/api/v1/backtests/{id}/cancel", Trade, BacktestId => Backtest
}
method! {
    /// Deletes a finished backtest or sweep and its results.
    BacktestsDelete = "backtests.delete", Delete "/api/v1/backtests/{id}", Trade, BacktestId => Deleted
}
method! {
    /// Every metric of a finished backtest.
    BacktestsResults = "backtests.results", Get "/api/v1/backtests/{id}/results", Read, BacktestId => Metrics
}
method! {
    /// A finished backtest's trades, in order.
    BacktestsTrades = "backtests.trades", Get "/api/v1/backtests/{id}/trades", Read, TradesQuery => TradePage
}
method! {
    /// A finished backtest's equity curve and drawdown, optionally downsampled.
    BacktestsEquity = "backtests.equity", Get "/api/v1/backtests/{id}/equity", Read, EquityQuery => EquityCurve
}
method! {
    /// A finished backtest's trades by symbol and by exit reason (signal,
    /// stop-loss, take-profit, trailing stop, liquidation), and its daily
    /// and monthly returns (UTC).
    BacktestsReport = "backtests.report", Get "/api/v1/backtests/{id}/report", Read, BacktestId => Report
}
method! {
    /// Headline metrics of several finished backtests side by side.
    BacktestsCompare = "backtests.compare", Post "/api/v1/backtests/comparisons", Read, CompareParams => Comparison
}
method! {
    /// A parameter sweep over a grid, as a `backtest.sweep` job; results ranked.
    BacktestsSweep = "backtests.sweep", Post "/api/v1/backtests/sweeps", Trade, SweepSpec => Backtest
}
/// One strategy of a backtest and the datasets it trades.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestLeg {
    pub spec: StrategySpec,
    /// Dataset ids.
    pub datasets: Vec<u64>,
}

/// A backtest: strategies on datasets, one portfolio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestSpec {
    #[serde(default)]
    pub name: Option<String>,
    pub strategies: Vec<BacktestLeg>,
    pub settings: Settings,
    /// Only bars from this time on.
    #[serde(default)]
    pub start: Option<Timestamp>,
    /// Only bars up to this time.
    #[serde(default)]
    pub end: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// The backtest; its first strategy's parameters are swept.
    pub backtest: BacktestSpec,
    pub grid: Vec<Axis>,
    /// The metric to rank by (a field of the metrics, e.g. `sharpe`,
    /// `return_pct`), highest first.
    #[serde(default = "sharpe")]
    pub rank_by: String,
}

fn sharpe() -> String {
    "sharpe".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BacktestKind {
    Run,
    Sweep,
}

/// A backtest or sweep as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Backtest {
    pub id: u64,
    pub name: String,
    pub kind: BacktestKind,
    pub job_id: u64,
    /// The user who ran it; only they (and admins) see it.
    #[serde(default)]
    pub owner: String,
    /// The job's state: queued, running, succeeded, failed, cancelled, dead.
    pub state: JobState,
    pub progress: u8,
    pub error: Option<String>,
    pub created: Timestamp,
    pub finished: Option<Timestamp>,
    /// The spec (a `BacktestSpec`, or a `SweepSpec` for sweeps).
    pub spec: serde_json::Value,
    /// Headline figures once finished (runs).
    pub summary: Option<Summary>,
    /// Ranked rows once finished (sweeps).
    pub sweep: Option<Vec<SweepRow>>,
}

/// The figures a list shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub final_equity: String,
    pub return_pct: f64,
    pub cagr_pct: Option<f64>,
    pub sharpe: Option<f64>,
    pub max_drawdown_pct: f64,
    pub trades: usize,
    pub win_rate_pct: Option<f64>,
    pub margin_call: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestId {
    pub id: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestFilter {
    #[serde(default)]
    pub kind: Option<BacktestKind>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

pub type BacktestPage = Page<Backtest>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TradesQuery {
    pub id: u64,
    #[serde(default)]
    pub limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

pub type TradePage = Page<Trade>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EquityQuery {
    pub id: u64,
    /// At most this many points (2–100,000), keeping each bucket's lowest
    /// and last point so drawdowns survive; all points when omitted.
    #[serde(default)]
    pub downsample: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EquityPoint {
    pub time: Timestamp,
    pub equity: f64,
    /// Below the running peak, in percent (≤ 0).
    pub drawdown_pct: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EquityCurve {
    /// Points in the full curve.
    pub total: u64,
    pub points: Vec<EquityPoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareParams {
    /// 2–20 finished backtests.
    pub ids: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Comparison {
    pub backtests: Vec<ComparedRun>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ComparedRun {
    pub id: u64,
    pub name: String,
    /// What ran: the strategies with their parameters and exits, the
    /// datasets, and the settings (as `backtests.get` gives it).
    #[serde(default)]
    pub spec: serde_json::Value,
    pub metrics: Metrics,
}
