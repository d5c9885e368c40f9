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

/// A row that cannot be read: its line (and column, when one is at fault)
/// and what was expected. The text of the file never appears in it: a file
/// that is not data (a password file, a process's environment) must not
/// come back in an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {message}", column_text(.column.as_ref()))]
pub struct RowError {
    pub line: u64,
    /// 1-based, with the column's name when known.
    pub column: Option<(usize, &'static str)>,
    pub message: String,
}

fn column_text(c: Option<&(usize, &'static str)>) -> String {
    match c {
        Some((n, "")) => format!(", column {n}"),
        Some((n, name)) => format!(", column {n} (`{name}`)"),
        None => String::new(),
    }
}

fn err(line: u64, message: impl Into<String>) -> RowError {
    RowError {
        line,
        column: None,
        message: message.into(),
    }
}

fn cell_err(line: u64, index: usize, name: &'static str, message: impl Into<String>) -> RowError {
    RowError {
        line,
        column: Some((index.saturating_add(1), name)),
        message: message.into(),
    }
}

/// Whether a first row looks like Binance's dump: an epoch time first and
/// at least six columns.
fn is_binance(first: &csv::ByteRecord) -> bool {
    let numeric = first.get(0).is_some_and(|c| {
        let c = c.trim_ascii();
        !c.is_empty() && c.iter().all(u8::is_ascii_digit)
    });
    numeric && first.len() >= 6
}

/// Tells the format from the first line: Binance's has no header and
/// starts with an epoch time.
pub fn detect(first_line: &str) -> Format {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(first_line.as_bytes());
    let mut rec = csv::ByteRecord::new();
    match r.read_byte_record(&mut rec) {
        Ok(true) if is_binance(&rec) => Format::Binance,
        _ => Format::Csv,
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
            v.checked_div(1000)?
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
#[derive(Debug, Clone, Copy)]
struct Columns {
    time: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
    count: usize,
}

/// The columns a header names. What the header says is never repeated in
/// an error (it may not be a header at all).
fn header(rec: &csv::ByteRecord) -> Result<Columns, RowError> {
    let names: Vec<String> = rec
        .iter()
        .map(|c| {
            String::from_utf8_lossy(c)
                .trim()
                .trim_start_matches('\u{feff}')
                .trim_matches('"')
                .to_ascii_lowercase()
        })
        .collect();
    let find = |want: &[&str]| names.iter().position(|n| want.contains(&n.as_str()));
    let time = find(&[
        "timestamp",
        "time",
        "date",
        "datetime",
        "open_time",
        "opentime",
    ])
    .or_else(|| names.first().filter(|n| n.is_empty()).map(|_| 0))
    .ok_or_else(|| {
        err(
            1,
            "expected a header naming the columns: no time column (timestamp, time, date, \
                 datetime, open_time, or an unnamed first column)",
        )
    })?;
    let need = |n: &str| {
        find(&[n]).ok_or_else(|| {
            err(
                1,
                format!("expected a header naming the columns: no `{n}` column"),
            )
        })
    };
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

/// Bars read one by one from CSV text of any size: memory stays at one
/// row (plus the reader's buffer), whatever the file holds. Quoted fields
/// follow RFC 4180. The first bad row ends the reading with its error.
pub struct Rows<R: std::io::Read> {
    reader: csv::Reader<R>,
    cols: Columns,
    record: csv::ByteRecord,
    /// A first row of data read while telling the format.
    pending: Option<csv::ByteRecord>,
    prev: Option<Timestamp>,
    read: u64,
}

impl<R: std::io::Read> Rows<R> {
    /// Reads the header (or, for Binance's dump, the first row). With no
    /// format given, it is told from the first row.
    pub fn new(input: R, format: Option<Format>) -> Result<Rows<R>, RowError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::None)
            .from_reader(input);
        let mut first = csv::ByteRecord::new();
        loop {
            match reader.read_byte_record(&mut first) {
                Ok(true) if first.iter().all(|c| c.trim_ascii().is_empty()) => {}
                Ok(true) => break,
                Ok(false) => return Err(err(1, "the file is empty")),
                Err(e) => return Err(csv_error(&e)),
            }
        }
        let format = format.unwrap_or_else(|| {
            if is_binance(&first) {
                Format::Binance
            } else {
                Format::Csv
            }
        });
        let (cols, pending) = match format {
            Format::Binance => (BINANCE, Some(first)),
            Format::Csv => (header(&first)?, None),
        };
        Ok(Rows {
            reader,
            cols,
            record: csv::ByteRecord::new(),
            pending,
            prev: None,
            read: 0,
        })
    }

    /// Bytes read so far (for progress by bytes).
    pub fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }

    /// The next bar; `None` at the end (an error when there was no row).
    pub fn next_bar(&mut self) -> Option<Result<Candle, RowError>> {
        loop {
            let rec = match self.pending.take() {
                Some(r) => r,
                None => {
                    match self.reader.read_byte_record(&mut self.record) {
                        Ok(true) => {}
                        Ok(false) if self.read == 0 => {
                            return Some(Err(err(1, "no rows of data")));
                        }
                        Ok(false) => return None,
                        Err(e) => return Some(Err(csv_error(&e))),
                    }
                    std::mem::take(&mut self.record)
                }
            };
            let line = rec.position().map_or(0, csv::Position::line);
            if rec.iter().all(|c| c.trim_ascii().is_empty()) {
                self.record = rec;
                continue;
            }
            let bar = self.bar(&rec, line);
            self.record = rec;
            if let Ok(b) = &bar {
                self.prev = Some(b.time);
                self.read = self.read.saturating_add(1);
            }
            return Some(bar);
        }
    }

    fn bar(&self, rec: &csv::ByteRecord, line: u64) -> Result<Candle, RowError> {
        let cols = self.cols;
        if rec.len() < cols.count {
            return Err(err(
                line,
                format!("{} columns, expected {}", rec.len(), cols.count),
            ));
        }
        let cell = |i: usize| {
            std::str::from_utf8(rec.get(i).unwrap_or_default())
                .map_or("\u{fffd}", |c| c.trim().trim_matches('"'))
        };
        let time = parse_time(cell(cols.time)).ok_or_else(|| {
            cell_err(
                line,
                cols.time,
                "time",
                "expected a date, an RFC 3339 time or an epoch time",
            )
        })?;
        let num = |i: usize, name: &'static str| -> Result<f64, RowError> {
            match cell(i).parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(cell_err(line, i, name, "expected a number")),
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
        check(&bar).map_err(|m| err(line, m))?;
        if let Some(prev) = self.prev
            && bar.time <= prev
        {
            return Err(err(
                line,
                format!(
                    "time {} is not after the previous row's {} (rows must be in time order, without repeats)",
                    fmt_time(bar.time),
                    fmt_time(prev)
                ),
            ));
        }
        Ok(bar)
    }
}

/// A reader error, without the text it was reading.
fn csv_error(e: &csv::Error) -> RowError {
    let line = e.position().map_or(0, csv::Position::line);
    match e.kind() {
        csv::ErrorKind::Io(io) => err(line, format!("cannot read the file: {}", io.kind())),
        csv::ErrorKind::Utf8 { .. } => err(line, "expected UTF-8 text"),
        _ => err(line, "expected CSV text"),
    }
}

/// Parses a whole file's text. Empty lines are skipped.
pub fn parse(text: &str, format: Format) -> Result<Vec<Candle>, RowError> {
    let mut rows = Rows::new(text.as_bytes(), Some(format))?;
    let mut out = Vec::new();
    while let Some(bar) = rows.next_bar() {
        out.push(bar?);
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

/// Spacings counted at most: beyond this many distinct ones, new ones are
/// not counted (the usual spacing is among the common ones long before).
const MAX_SPACINGS: usize = 4096;
/// Rows whose prices decide the price decimals.
const DECIMAL_ROWS: u64 = 10_000;

/// A [`Summary`] worked out from bars fed one by one, in time order, in
/// bounded memory. Gaps need the usual spacing, known only at the end, so
/// they take a second pass over the bars: [`Summarizer::gaps`].
#[derive(Debug, Default)]
pub struct Summarizer {
    start: Option<Timestamp>,
    end: Timestamp,
    rows: u64,
    spacings: std::collections::HashMap<i64, u64>,
    decimals: u32,
}

impl Summarizer {
    pub fn push(&mut self, b: &Candle) {
        if self.start.is_none() {
            self.start = Some(b.time);
        } else {
            let d = b.time.millis().saturating_sub(self.end.millis());
            let full = self.spacings.len() >= MAX_SPACINGS;
            if let Some(n) = self.spacings.get_mut(&d) {
                *n = n.saturating_add(1);
            } else if !full {
                self.spacings.insert(d, 1);
            }
        }
        if self.rows < DECIMAL_ROWS {
            self.decimals = [b.open, b.high, b.low, b.close]
                .into_iter()
                .map(decimals_of)
                .fold(self.decimals, u32::max);
        }
        self.end = b.time;
        self.rows = self.rows.saturating_add(1);
    }

    /// The most common spacing (the shorter one on a tie).
    pub fn spacing(&self) -> i64 {
        self.spacings
            .iter()
            .max_by_key(|(gap, n)| (**n, std::cmp::Reverse(**gap)))
            .map_or(0, |(gap, _)| *gap)
    }

    /// The second pass: feed the same bars again, then [`Gaps::summary`].
    pub fn gaps(self) -> Gaps {
        Gaps {
            spacing: self.spacing(),
            first: self,
            prev: None,
            count: 0,
            missing: 0,
            largest: Vec::new(),
        }
    }
}

/// The gap pass of a [`Summarizer`].
#[derive(Debug)]
pub struct Gaps {
    first: Summarizer,
    spacing: i64,
    prev: Option<Timestamp>,
    count: u64,
    missing: u64,
    /// The longest gaps, at most 20, longest first.
    largest: Vec<Gap>,
}

impl Gaps {
    pub fn push(&mut self, b: &Candle) {
        if let Some(prev) = self.prev
            && self.spacing > 0
        {
            let d = b.time.millis().saturating_sub(prev.millis());
            if d > self.spacing {
                let missing = (d / self.spacing).saturating_sub(1).max(0) as u64;
                self.count = self.count.saturating_add(1);
                self.missing = self.missing.saturating_add(missing);
                self.largest.push(Gap {
                    after: prev,
                    missing_bars: missing,
                });
                if self.largest.len() > 40 {
                    self.keep_largest();
                }
            }
        }
        self.prev = Some(b.time);
    }

    fn keep_largest(&mut self) {
        self.largest
            .sort_by_key(|g| (std::cmp::Reverse(g.missing_bars), g.after));
        self.largest.truncate(20);
    }

    pub fn summary(mut self) -> Summary {
        self.keep_largest();
        let f = self.first;
        Summary {
            start: f.start.unwrap_or(Timestamp(0)),
            end: f.end,
            rows: f.rows,
            spacing_ms: self.spacing,
            interval: interval_name(self.spacing).map(str::to_owned),
            gaps: self.count,
            missing_bars: self.missing,
            largest_gaps: self.largest,
            price_decimals: f.decimals,
        }
    }
}

/// Describes bars (non-empty, in time order). Daily data with weekends or
/// holidays missing counts those as gaps too: the figures say what is
/// there, not whether the market was open.
pub fn summarize(bars: &[Candle]) -> Summary {
    let mut s = Summarizer::default();
    for b in bars {
        s.push(b);
    }
    let mut g = s.gaps();
    for b in bars {
        g.push(b);
    }
    g.summary()
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
                "line 3, column 3 (`high`): expected a number",
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
                "line 2, column 1 (`time`): expected a date",
            ),
            (
                "time,open,high,low\n",
                "line 1: expected a header naming the columns: no `close` column",
            ),
            (
                "open,high,low,close\n",
                "line 1: expected a header naming the columns: no time column",
            ),
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

    #[test]
    fn an_error_never_repeats_what_the_file_says() {
        let secrets: [&[u8]; 5] = [
            b"root:$6$salt$hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
            b"SECRET_TOKEN=abc123\0PATH=/usr/bin\0",
            b"time,open,high,low,close\n2024-01-01,1,2,0.5,hunter2\n",
            b"date,open,high,low,close\n\"2024-01-01,1\",2,0.5,\"s3cr3t\"\n",
            b"\xef\xbb\xbf\xffbinary\x00junk,1,2\n",
        ];
        for text in secrets {
            for format in [None, Some(Format::Csv), Some(Format::Binance)] {
                let e = match Rows::new(text, format) {
                    Err(e) => e,
                    Ok(mut rows) => loop {
                        match rows.next_bar() {
                            Some(Err(e)) => break e,
                            Some(Ok(_)) => {}
                            None => panic!("{} parsed", String::from_utf8_lossy(text)),
                        }
                    },
                };
                let shown = e.to_string();
                for word in [
                    "root", "salt", "SECRET", "abc123", "hunter2", "s3cr3t", "junk",
                ] {
                    assert!(!shown.contains(word), "{shown:?} repeats the file");
                }
                assert!(shown.starts_with("line "), "{shown}");
            }
        }
    }

    #[test]
    fn quoted_fields_and_a_stream_of_any_length() {
        let text = "\"Date\",\"Open\",\"High\",\"Low\",\"Close\"\n\"2024-01-01\",\"10\",\"11\",\"9\",\"10.5\"\n";
        let bars = parse(text, Format::Csv).unwrap();
        assert!((bars[0].close - 10.5).abs() < 1e-12);
        // A long stream: read row by row, the summary worked out on the fly
        // matches the one from all the bars at once.
        let mut csv = String::from("time,open,high,low,close\n");
        for i in 0..100_000_i64 {
            let t = if i % 1000 == 999 { i + 5 } else { i };
            let _ = std::fmt::Write::write_fmt(
                &mut csv,
                format_args!(
                    "{},1,2,0.5,1.25\n",
                    1_700_000_000_000 + (t + i / 1000 * 5) * 60_000
                ),
            );
        }
        let mut rows = Rows::new(csv.as_bytes(), None).unwrap();
        let mut s = Summarizer::default();
        let mut all = Vec::new();
        while let Some(b) = rows.next_bar() {
            let b = b.unwrap();
            s.push(&b);
            all.push(b);
        }
        assert_eq!(rows.bytes_read(), csv.len() as u64);
        let mut g = s.gaps();
        for b in &all {
            g.push(b);
        }
        assert_eq!(g.summary(), summarize(&all));
        assert_eq!(summarize(&all).interval.as_deref(), Some("1m"));
    }
}

/// Where bars come from.
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
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
    /// Binance's klines of `symbol`, read over its REST API
    /// (`binance.rest_url`) from `start` to `end` (default: now) in pages
    /// within the request-weight budget (`data.download`).
    BinanceApi,
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
    /// `klines` and `binance_api`: the range to take (`binance_api` needs
    /// `start`).
    #[serde(default)]
    pub start: Option<Timestamp>,
    #[serde(default)]
    pub end: Option<Timestamp>,
}
