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
    /// A dataset's bars for a chart: in a time range, merged into at most `points` candles.
    DataBars = "data.bars", Get "/api/v1/data/{id}/bars", Read, BarsQuery => BarSeries
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

/// Most candles one `data.bars` call gives.
pub const MAX_BAR_POINTS: u32 = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BarsQuery {
    pub id: u64,
    /// Bars opening at or after this time.
    #[serde(default)]
    pub start: Option<Timestamp>,
    /// Bars opening at or before this time.
    #[serde(default)]
    pub end: Option<Timestamp>,
    /// At most this many candles (2–20,000; default 1,000): consecutive
    /// bars are merged (first open, highest high, lowest low, last close,
    /// summed volume) when there are more.
    #[serde(default)]
    pub points: Option<u32>,
}

/// One candle of a chart (chart data: f64, as the dataset stores it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BarPoint {
    /// The first merged bar's open time.
    pub time: Timestamp,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BarSeries {
    pub id: u64,
    pub symbol: String,
    /// Bars in the range before merging.
    pub total: u64,
    /// How many bars each candle merges (1: none).
    pub per_point: u64,
    pub bars: Vec<BarPoint>,
}

/// `bars` merged into at most `points` candles of equal bar counts.
pub fn merge_bars(bars: &[crate::strategy::Candle], points: usize) -> (u64, Vec<BarPoint>) {
    let per = bars.len().div_ceil(points.max(1)).max(1);
    let out = bars
        .chunks(per)
        .filter_map(|c| {
            let (first, last) = (c.first()?, c.last()?);
            Some(BarPoint {
                time: first.time,
                open: first.open,
                high: c.iter().map(|b| b.high).fold(f64::NEG_INFINITY, f64::max),
                low: c.iter().map(|b| b.low).fold(f64::INFINITY, f64::min),
                close: last.close,
                volume: c.iter().map(|b| b.volume).sum(),
            })
        })
        .collect();
    (per as u64, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::Candle;

    #[test]
    fn bars_merge_into_candles_of_equal_counts() {
        let bars: Vec<Candle> = (0..5)
            .map(|i| Candle {
                time: Timestamp(i * 60_000),
                open: 10.0 + i as f64,
                high: 20.0 + i as f64,
                low: 5.0 - i as f64,
                close: 11.0 + i as f64,
                volume: 1.0,
            })
            .collect();
        let (per, merged) = merge_bars(&bars, 2);
        assert_eq!(per, 3);
        assert_eq!(merged.len(), 2);
        let m = &merged[0];
        assert_eq!(m.time, Timestamp(0));
        assert!((m.open - 10.0).abs() < 1e-12 && (m.close - 13.0).abs() < 1e-12);
        assert!((m.high - 22.0).abs() < 1e-12 && (m.low - 3.0).abs() < 1e-12);
        assert!((m.volume - 3.0).abs() < 1e-12);
        assert_eq!(merge_bars(&bars, 10).1.len(), 5, "no merging needed");
    }
}
