//! `data.*` (historical datasets), `backtests.*` and
//! `analytics.performance`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Deleted;
use super::method::method;
use crate::analytics::Metrics;
use crate::backtest::{Axis, Settings, SweepRow, Trade};
use crate::dataset::Gap;
use crate::job::{JobRecord, JobState};
use crate::strategy::StrategySpec;
use crate::time::Timestamp;

method! {
    /// Imports OHLCV bars from a CSV file (generic or Binance dump) or the
    /// daemon's recorded market klines, as a `data.import` job.
    DataImport = "data.import", Post "/api/v1/data/import", Trade, ImportParams => JobRecord
}
method! {
    /// The datasets.
    DataList = "data.list", Get "/api/v1/data", Read, DataFilter => DatasetList
}
method! {
    /// One dataset: range, rows, spacing and gaps.
    DataGet = "data.get", Get "/api/v1/data/{id}", Read, DatasetId => Dataset
}
method! {
    /// Deletes a dataset (refused while a queued or running backtest uses it).
    DataDelete = "data.delete", Post "/api/v1/data/{id}/delete", Trade, DatasetId => Deleted
}
method! {
    /// Writes a dataset to a CSV file (`timestamp,open,high,low,close,volume`).
    DataExport = "data.export", Post "/api/v1/data/{id}/export", Trade, ExportParams => Exported
}
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
    BacktestsDelete = "backtests.delete", Post "/api/v1/backtests/{id}/delete", Trade, BacktestId => Deleted
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
    /// Headline metrics of several finished backtests side by side.
    BacktestsCompare = "backtests.compare", Get "/api/v1/backtests/compare", Read, CompareParams => Comparison
}
method! {
    /// A parameter sweep over a grid, as a `backtest.sweep` job; results ranked.
    BacktestsSweep = "backtests.sweep", Post "/api/v1/backtests/sweeps", Trade, SweepSpec => Backtest
}
method! {
    /// The metrics of a paper or live bot from its ledger.
    AnalyticsPerformance = "analytics.performance", Get "/api/v1/analytics/performance", Read, PerformanceParams => Metrics
}

/// Where bars come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// A CSV file with a header naming its columns.
    Csv,
    /// Binance's kline dump (no header, 12 columns, epoch ms).
    Binance,
    /// The daemon's own recorded 1-minute klines of `symbol` (the `sim`
    /// market's), cut into `interval` bars.
    Klines,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// The file, on the daemon's machine (not used for `klines`).
    #[serde(default)]
    pub path: Option<String>,
    /// The instrument, e.g. `BTCUSDT` or `GOOG`.
    pub symbol: String,
    /// The quote currency; found from the symbol's ending when omitted
    /// (`USDT`, `USD`, `BTC`, …; else `USD`).
    #[serde(default)]
    pub quote: Option<String>,
    /// The bar interval (`1m` … `1d`); detected from the data when omitted.
    #[serde(default)]
    pub interval: Option<String>,
    /// Detected from the first line when omitted (`csv` or `binance`).
    #[serde(default)]
    pub format: Option<ImportFormat>,
    /// A name (unique); `<symbol>-<interval>` when omitted.
    #[serde(default)]
    pub name: Option<String>,
    /// `klines` only: the range to take.
    #[serde(default)]
    pub start: Option<Timestamp>,
    #[serde(default)]
    pub end: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataFilter {
    #[serde(default)]
    pub symbol: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetId {
    pub id: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Dataset {
    pub id: u64,
    pub name: String,
    pub symbol: String,
    pub base: String,
    pub quote: String,
    pub interval: Option<String>,
    pub spacing_ms: i64,
    pub start: Timestamp,
    pub end: Timestamp,
    pub rows: u64,
    pub gaps: u64,
    pub missing_bars: u64,
    pub largest_gaps: Vec<Gap>,
    /// Decimal places of the prices; the tick size is 10^-decimals.
    pub price_decimals: u32,
    pub source: String,
    pub created: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DatasetList {
    pub datasets: Vec<Dataset>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    pub id: u64,
    /// The file to write, on the daemon's machine; it must not exist.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Exported {
    pub path: String,
    pub rows: u64,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BacktestPage {
    pub backtests: Vec<Backtest>,
    pub next_cursor: Option<String>,
}

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TradePage {
    pub trades: Vec<Trade>,
    pub next_cursor: Option<String>,
}

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
    pub metrics: Metrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerformanceParams {
    /// A bot's id.
    pub bot: u64,
    #[serde(default)]
    pub start: Option<Timestamp>,
    #[serde(default)]
    pub end: Option<Timestamp>,
}
