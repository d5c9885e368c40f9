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
    /// Downloads Binance's klines of a symbol into a new dataset, as a
    /// `data.import` job with progress (read from `binance.rest_url`).
    DataDownload = "data.download", Post "/api/v1/data/download", Trade, DownloadParams => JobRecord
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadParams {
    /// As Binance names it, e.g. `BTCUSDT`.
    pub symbol: String,
    /// `1m`, `5m`, `15m`, `1h`, `4h` or `1d`.
    pub interval: String,
    pub start: Timestamp,
    /// Default: now (only closed bars are taken).
    #[serde(default)]
    pub end: Option<Timestamp>,
    /// A name (unique); `<symbol>-<interval>` when omitted.
    #[serde(default)]
    pub name: Option<String>,
}

impl DownloadParams {
    /// The import that carries it out.
    pub fn import(&self) -> ImportParams {
        ImportParams {
            path: None,
            symbol: self.symbol.clone(),
            quote: None,
            interval: Some(self.interval.clone()),
            format: Some(crate::dataset::ImportFormat::BinanceApi),
            name: self.name.clone(),
            start: Some(self.start),
            end: self.end,
        }
    }
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
