//! Historical OHLCV data: parsing CSV files (a generic format with a
//! header, and Binance's kline dump format) into bars, checking them, and
//! describing them (range, rows, spacing, gaps).
//!
//! Generic CSV: a header row; columns found by name, case-insensitively:
//! time (`timestamp`, `time`, `date`, `datetime`, `open_time`, or an
//! unnamed first column), `open`, `high`, `low`, `close`, and optionally
//! `volume`. Times are RFC 3339, `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]`
//! (UTC), or epoch milliseconds or seconds (told apart by size).
//!
//! Binance kline dump: no header, 12 columns, the first the open time in
//! epoch milliseconds (or microseconds, as Binance's newer dumps have).
//!
//! Every row is checked: numbers finite, prices positive, the high the
//! bar's highest and the low its lowest, volume not negative, times
//! strictly increasing. The first bad row fails the whole file with its
//! line number; nothing is returned in part.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::strategy::Candle;
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A header row naming the columns.
    Csv,
    /// Binance's kline dump: no header, 12 columns, epoch ms.
    Binance,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RowError {
    pub line: usize,
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> RowError {
    RowError {
        line,
        message: message.into(),
    }
}

/// Tells the format from the first line: Binance's has no header and
/// starts with an epoch time.
pub fn detect(first_line: &str) -> Format {
    let cols: Vec<&str> = first_line.split(',').collect();
    let numeric = cols
        .first()
        .is_some_and(|c| !c.trim().is_empty() && c.trim().bytes().all(|b| b.is_ascii_digit()));
    if numeric && cols.len() >= 6 {
        Format::Binance
    } else {
        Format::Csv
    }
}

/// Parses a time cell.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    let s = s.trim().trim_matches('"');
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let v: i64 = s.parse().ok()?;
        // Seconds until 5138; milliseconds; microseconds (Binance 2025+).
        return Some(Timestamp(if v < 100_000_000_000 {
            v.checked_mul(1000)?
        } else if v < 100_000_000_000_000 {
            v
        } else {
            v / 1000
        }));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(Timestamp(t.timestamp_millis()));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(Timestamp(t.and_utc().timestamp_millis()));
        }
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(Timestamp(
        d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis(),
    ))
}

/// Where each field is in a row.
struct Columns {
    time: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
    count: usize,
}

fn header(line: &str) -> Result<Columns, RowError> {
    let names: Vec<String> = line
        .split(',')
        .map(|c| c.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    let find = |want: &[&str]| names.iter().position(|n| want.contains(&n.as_str()));
    let time = find(&["timestamp", "time", "date", "datetime", "open_time", "opentime"])
        .or_else(|| names.first().filter(|n| n.is_empty()).map(|_| 0))
        .ok_or_else(|| {
            err(
                1,
                format!(
                    "no time column (looked for timestamp, time, date, datetime, open_time or an unnamed first column) in header `{line}`"
                ),
            )
        })?;
    let need =
        |n: &str| find(&[n]).ok_or_else(|| err(1, format!("no `{n}` column in header `{line}`")));
    Ok(Columns {
        time,
        open: need("open")?,
        high: need("high")?,
        low: need("low")?,
        close: need("close")?,
        volume: find(&["volume", "vol"]),
        count: names.len(),
    })
}

const BINANCE: Columns = Columns {
    time: 0,
    open: 1,
    high: 2,
    low: 3,
    close: 4,
    volume: Some(5),
    count: 12,
};

/// Parses a whole file's text. Empty lines are skipped.
pub fn parse(text: &str, format: Format) -> Result<Vec<Candle>, RowError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let cols = match format {
        Format::Binance => BINANCE,
        Format::Csv => {
            let (_, first) = lines
                .by_ref()
                .find(|(_, l)| !l.trim().is_empty())
                .ok_or_else(|| err(1, "the file is empty"))?;
            header(first.trim_start_matches('\u{feff}'))?
        }
    };
    let mut out: Vec<Candle> = Vec::with_capacity(text.len() / 48);
    let mut cells: Vec<&str> = Vec::with_capacity(cols.count);
    for (n, line) in lines {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        cells.clear();
        cells.extend(line.split(','));
        if cells.len() < cols.count {
            return Err(err(
                n,
                format!("{} columns, expected {}", cells.len(), cols.count),
            ));
        }
        let time = parse_time(cells[cols.time]).ok_or_else(|| {
            err(
                n,
                format!(
                    "time `{}` is not a date, RFC 3339 time or epoch",
                    cells[cols.time]
                ),
            )
        })?;
        let num = |i: usize, name: &str| -> Result<f64, RowError> {
            let c = cells[i].trim().trim_matches('"');
            match c.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(err(n, format!("`{name}` is not a number: `{c}`"))),
            }
        };
        let bar = Candle {
            time,
            open: num(cols.open, "open")?,
            high: num(cols.high, "high")?,
            low: num(cols.low, "low")?,
            close: num(cols.close, "close")?,
            volume: cols.volume.map_or(Ok(0.0), |v| num(v, "volume"))?,
        };
        check(&bar).map_err(|m| err(n, m))?;
        if let Some(prev) = out.last()
            && bar.time <= prev.time
        {
            return Err(err(
                n,
                format!(
                    "time {} is not after the previous row's {} (rows must be in time order, without repeats)",
                    fmt_time(bar.time),
                    fmt_time(prev.time)
                ),
            ));
        }
        out.push(bar);
    }
    if out.is_empty() {
        return Err(err(1, "no rows of data"));
    }
    Ok(out)
}

fn fmt_time(t: Timestamp) -> String {
    DateTime::<Utc>::from_timestamp_millis(t.millis())
        .map_or_else(|| t.millis().to_string(), |d| d.to_rfc3339())
}

fn check(b: &Candle) -> Result<(), String> {
    for (name, v) in [
        ("open", b.open),
        ("high", b.high),
        ("low", b.low),
        ("close", b.close),
    ] {
        if v <= 0.0 {
            return Err(format!("`{name}` must be positive, got {v}"));
        }
    }
    if b.volume < 0.0 {
        return Err(format!("`volume` must not be negative, got {}", b.volume));
    }
    if b.high < b.open.max(b.close).max(b.low) {
        return Err(format!(
            "`high` {} is below the bar's open, close or low",
            b.high
        ));
    }
    if b.low > b.open.min(b.close) {
        return Err(format!("`low` {} is above the bar's open or close", b.low));
    }
    Ok(())
}

/// What a dataset holds: range, rows, spacing and gaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    pub start: Timestamp,
    pub end: Timestamp,
    pub rows: u64,
    /// The most common spacing of bars, in ms.
    pub spacing_ms: i64,
    /// Its name when it is a standard interval (`1m` … `1d`, `1w`).
    pub interval: Option<String>,
    /// Spacings longer than the usual one.
    pub gaps: u64,
    /// Bars missing in those gaps (longest first, at most 20 listed).
    pub missing_bars: u64,
    pub largest_gaps: Vec<Gap>,
    /// Decimal places of the prices (the tick size is 10^-places).
    pub price_decimals: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Gap {
    /// The last bar before the gap.
    pub after: Timestamp,
    pub missing_bars: u64,
}

/// The name of a standard spacing.
pub fn interval_name(ms: i64) -> Option<&'static str> {
    Some(match ms {
        60_000 => "1m",
        180_000 => "3m",
        300_000 => "5m",
        900_000 => "15m",
        1_800_000 => "30m",
        3_600_000 => "1h",
        7_200_000 => "2h",
        14_400_000 => "4h",
        21_600_000 => "6h",
        43_200_000 => "12h",
        86_400_000 => "1d",
        604_800_000 => "1w",
        _ => return None,
    })
}

/// Decimal places needed to write `v` as the file did (at most 12).
fn decimals_of(v: f64) -> u32 {
    for d in 0..=12 {
        let scaled = v * 10f64.powi(d as i32);
        if (scaled - scaled.round()).abs() <= scaled.abs() * 1e-12 {
            return d;
        }
    }
    12
}

/// Describes bars (non-empty, in time order). Daily data with weekends or
/// holidays missing counts those as gaps too: the figures say what is
/// there, not whether the market was open.
pub fn summarize(bars: &[Candle]) -> Summary {
    let mut counts: std::collections::HashMap<i64, u64> = std::collections::HashMap::new();
    for w in bars.windows(2) {
        *counts
            .entry(w[1].time.millis() - w[0].time.millis())
            .or_default() += 1;
    }
    let spacing = counts
        .iter()
        .max_by_key(|(gap, n)| (**n, -**gap))
        .map_or(0, |(gap, _)| *gap);
    let mut gaps = Vec::new();
    if spacing > 0 {
        for w in bars.windows(2) {
            let d = w[1].time.millis() - w[0].time.millis();
            if d > spacing {
                gaps.push(Gap {
                    after: w[0].time,
                    missing_bars: (d / spacing - 1).max(0) as u64,
                });
            }
        }
    }
    let missing = gaps.iter().map(|g| g.missing_bars).sum();
    let count = gaps.len() as u64;
    gaps.sort_by_key(|g| (std::cmp::Reverse(g.missing_bars), g.after));
    gaps.truncate(20);
    let price_decimals = bars
        .iter()
        .take(10_000)
        .flat_map(|b| [b.open, b.high, b.low, b.close])
        .map(decimals_of)
        .max()
        .unwrap_or(0);
    Summary {
        start: bars.first().map_or(Timestamp(0), |b| b.time),
        end: bars.last().map_or(Timestamp(0), |b| b.time),
        rows: bars.len() as u64,
        spacing_ms: spacing,
        interval: interval_name(spacing).map(str::to_owned),
        gaps: count,
        missing_bars: missing,
        largest_gaps: gaps,
        price_decimals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_accepted_form() {
        let day = Some(Timestamp(1_072_915_200_000)); // 2004-01-01
        assert_eq!(parse_time("2004-01-01"), day);
        assert_eq!(parse_time("2004-01-01T00:00:00Z"), day);
        assert_eq!(parse_time("2004-01-01 00:00:00"), day);
        assert_eq!(parse_time("1072915200"), day);
        assert_eq!(parse_time("1072915200000"), day);
        assert_eq!(parse_time("1072915200000000"), day);
        assert_eq!(parse_time("2004-01-01T01:00:00+01:00"), day);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn generic_csv_by_column_names_in_any_order_and_case() {
        let text =
            "Date,Close,Open,Low,High\n2024-01-01,10.5,10,9.5,11\n2024-01-02,11,10.5,10,11.5\n";
        assert_eq!(detect(text.lines().next().unwrap()), Format::Csv);
        let bars = parse(text, Format::Csv).unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!(
            (
                bars[0].open,
                bars[0].high,
                bars[0].low,
                bars[0].close,
                bars[0].volume
            ),
            (10.0, 11.0, 9.5, 10.5, 0.0)
        );
        let s = summarize(&bars);
        assert_eq!(
            (s.rows, s.interval.as_deref(), s.gaps, s.price_decimals),
            (2, Some("1d"), 0, 1)
        );
    }

    #[test]
    fn binance_dump_rows() {
        let text = "1515560100000,5.33e-05,5.33e-05,5.288e-05,5.29e-05,431401.9787,1515560399999,22.8,0,0,0,0\n\
                    1515560400000,5.29e-05,5.294e-05,5.269e-05,5.27e-05,311565.6546,1515560699999,16.4,0,0,0,0\n\
                    1515561000000,5.29e-05,5.294e-05,5.269e-05,5.27e-05,1,1515561299999,16.4,0,0,0,0\n";
        assert_eq!(detect(text.lines().next().unwrap()), Format::Binance);
        let bars = parse(text, Format::Binance).unwrap();
        assert_eq!(bars[0].time, Timestamp(1_515_560_100_000));
        let s = summarize(&bars);
        assert_eq!(s.spacing_ms, 300_000);
        assert_eq!((s.gaps, s.missing_bars), (1, 1));
        assert_eq!(s.price_decimals, 8);
    }

    #[test]
    fn bad_rows_name_their_line_and_field() {
        let cases = [
            (
                "time,open,high,low,close\n2024-01-01,1,2,0.5,1\n2024-01-02,1,x,0.5,1\n",
                "line 3: `high` is not a number: `x`",
            ),
            (
                "time,open,high,low,close\n2024-01-02,1,2,0.5,1\n2024-01-01,1,2,0.5,1\n",
                "line 3: time 2024-01-01",
            ),
            (
                "time,open,high,low,close\n2024-01-01,1,0.9,0.5,1\n",
                "line 2: `high` 0.9 is below",
            ),
            (
                "time,open,high,low,close\n2024-01-01,-1,2,0.5,1\n",
                "line 2: `open` must be positive",
            ),
            (
                "time,open,high,low,close\nnope,1,2,0.5,1\n",
                "line 2: time `nope`",
            ),
            ("time,open,high,low\n", "line 1: no `close` column"),
            ("open,high,low,close\n", "line 1: no time column"),
            (
                "time,open,high,low,close\n2024-01-01,1,2\n",
                "line 2: 3 columns, expected 5",
            ),
            ("time,open,high,low,close\n", "line 1: no rows of data"),
        ];
        for (text, want) in cases {
            let e = parse(text, Format::Csv).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e:?} does not start with {want:?}");
        }
    }
}
