//! `data.*`: datasets of OHLCV bars — import, list, inspect, export, delete.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Deleted;
use super::method::method;
use super::paging::Page;
use crate::dataset::Gap;
use crate::dataset::ImportParams;
use crate::job::JobRecord;
use crate::time::Timestamp;

method! {
    /// Imports OHLCV bars from a CSV file (generic or Binance dump) or the
    /// daemon's recorded market klines, as a `data.import` job.
    DataImport = "data.import", Post "/api/v1/data", Trade, ImportParams => JobRecord
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
    DataDelete = "data.delete", Delete "/api/v1/data/{id}", Trade, DatasetId => Deleted
}

method! {
    /// Writes a dataset to a CSV file (`timestamp,open,high,low,close,volume`).
    DataExport = "data.export", Post "/api/v1/data/{id}/export", Trade, ExportParams => Exported
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataFilter {
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
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
    /// The user who imported it; only they (and admins) see it.
    #[serde(default)]
    pub owner: String,
    pub created: Timestamp,
}

pub type DatasetList = Page<Dataset>;

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
