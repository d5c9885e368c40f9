//! The `data.import` job: a file or the recorded klines, streamed into a
//! new dataset in bounded memory, all or nothing.

use super::failed;

use crate::store::backtests as db;
use tradedesk_core::api::ApiError;
use tradedesk_core::api::data::Dataset;
use tradedesk_core::dataset::{self, Format};
use tradedesk_core::dataset::{ImportFormat, ImportParams};
use tradedesk_core::instrument::Symbol;
use tradedesk_core::market::Interval;
use tradedesk_core::strategy::Candle;
use tradedesk_core::time::Timestamp;

use crate::services::jobs::{JobError, JobRun};

/// The quote currency a symbol ends in, for datasets imported without one.
pub(crate) fn split_symbol(symbol: &str, quote: Option<&str>) -> (String, String) {
    if let Some(q) = quote
        && let Some(base) = symbol.strip_suffix(q).filter(|b| !b.is_empty())
    {
        return (base.to_owned(), q.to_owned());
    }
    if let Some(q) = quote {
        return (symbol.to_owned(), q.to_owned());
    }
    for q in [
        "USDT", "USDC", "BUSD", "FDUSD", "USD", "EUR", "BTC", "ETH", "BNB",
    ] {
        if let Some(base) = symbol.strip_suffix(q).filter(|b| !b.is_empty()) {
            return (base.to_owned(), q.to_owned());
        }
    }
    (symbol.to_owned(), "USD".to_owned())
}

/// Checks an import's parameters (before it is queued, and again when it
/// runs).
pub(crate) fn check_import(p: &ImportParams, max_bytes: u64) -> Result<ImportFormat, ApiError> {
    let sym_ok = (1..=20).contains(&p.symbol.len())
        && p.symbol
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !sym_ok {
        return Err(ApiError::bad_field(
            "symbol",
            "must be 1–20 characters of A–Z, 0–9, `-` or `_`",
        ));
    }
    if let Some(q) = &p.quote
        && !((1..=10).contains(&q.len()) && q.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(ApiError::bad_field("quote", "must be 1–10 letters A–Z"));
    }
    if let Some(i) = &p.interval
        && serde_json::from_value::<Interval>(serde_json::Value::String(i.clone())).is_err()
    {
        return Err(ApiError::bad_field(
            "interval",
            format!("unknown interval `{i}` (known: 1m, 5m, 15m, 1h, 4h, 1d)"),
        ));
    }
    if let Some(n) = &p.name
        && !(1..=64).contains(&n.len())
    {
        return Err(ApiError::bad_field("name", "must be 1–64 characters"));
    }
    let format = match (p.format, &p.path) {
        (Some(ImportFormat::Klines), _) => ImportFormat::Klines,
        (Some(ImportFormat::BinanceApi), _) => {
            if p.interval.is_none() {
                return Err(ApiError::bad_field(
                    "interval",
                    "is required for a download",
                ));
            }
            if p.start.is_none() {
                return Err(ApiError::bad_field("start", "is required for a download"));
            }
            ImportFormat::BinanceApi
        }
        (_, None) => return Err(ApiError::bad_field("path", "is required for a file import")),
        (f, Some(path)) => {
            regular_file(path, max_bytes)?;
            f.unwrap_or(ImportFormat::Csv)
        }
    };
    if let (Some(s), Some(e)) = (p.start, p.end)
        && e <= s
    {
        return Err(ApiError::bad_field("end", "must be after start"));
    }
    Ok(format)
}

/// Checks that `path` names a regular file (not a FIFO, a device or a
/// directory) within the size limit; its size.
pub(crate) fn regular_file(path: &str, max_bytes: u64) -> Result<u64, ApiError> {
    // A relative path would be the daemon's working directory's, which
    // means nothing to a client.
    if !std::path::Path::new(path).is_absolute() {
        return Err(ApiError::bad_field("path", "must be an absolute path"));
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| ApiError::bad_field("path", format!("cannot read `{path}`: {}", e.kind())))?;
    if !meta.is_file() {
        return Err(ApiError::bad_field(
            "path",
            format!("`{path}` is not a regular file"),
        ));
    }
    if meta.len() > max_bytes {
        return Err(ApiError::bad_field(
            "path",
            format!(
                "`{path}` has {} bytes, over data.max_import_bytes ({max_bytes})",
                meta.len()
            ),
        ));
    }
    Ok(meta.len())
}

/// Opens an import file without ever blocking (a FIFO swapped in after the
/// check would block a plain open) and checks it again once open.
pub(crate) fn open_regular(path: &str, max_bytes: u64) -> Result<(std::fs::File, u64), ApiError> {
    use std::os::unix::fs::OpenOptionsExt;
    regular_file(path, max_bytes)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| ApiError::bad_field("path", format!("cannot read `{path}`: {}", e.kind())))?;
    let meta = file
        .metadata()
        .map_err(|e| ApiError::bad_field("path", format!("cannot read `{path}`: {}", e.kind())))?;
    if !meta.is_file() || meta.len() > max_bytes {
        return Err(ApiError::bad_field(
            "path",
            format!("`{path}` is not a regular file within data.max_import_bytes"),
        ));
    }
    Ok((file, meta.len()))
}

/// Bars imported so far, a chunk at a time: each chunk is written in its
/// own short transaction to a dataset that stays hidden until the import
/// finishes, so memory stays at one chunk whatever the file's size and the
/// store is never held for long.
pub(super) struct Importer<'r, 'c> {
    pub(super) run: &'r JobRun<'c>,
    id: u64,
    chunk: Vec<Candle>,
    seq: u64,
    summary: dataset::Summarizer,
}

impl Importer<'_, '_> {
    pub(super) fn push(&mut self, bar: Candle) -> Result<(), JobError> {
        self.summary.push(&bar);
        self.chunk.push(bar);
        if self.chunk.len() >= db::CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), JobError> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        self.run.check()?;
        let (id, seq) = (self.id, self.seq);
        let chunk = &self.chunk;
        self.run
            .ctx
            .store()
            .write(|tx| db::append_chunk(tx, id, seq, chunk))
            .map_err(failed)?;
        self.seq = self.seq.saturating_add(1);
        self.chunk.clear();
        Ok(())
    }
}

/// The `data.import` job: streams the file (or the recorded klines) into
/// a new dataset. All or nothing: a failed import leaves no dataset.
pub(super) fn run_import(
    run: &JobRun<'_>,
    p: &ImportParams,
) -> Result<serde_json::Value, JobError> {
    let ctx = run.ctx;
    let max_bytes = ctx.config.data.max_import_bytes;
    // Run again after a crash that came between its last write and its
    // settling: the dataset is there, the job succeeded.
    if let Some(done) = db::imported_by(ctx.store().conn(), run.job.id).map_err(failed)? {
        return Ok(serde_json::json!({ "dataset": done.id, "rows": done.rows, "name": done.name }));
    }
    let format = check_import(p, max_bytes).map_err(|e| failed(e.message))?;
    run.progress(1, "reading")?;
    let source = match format {
        ImportFormat::Klines => format!("klines:{}", p.symbol),
        ImportFormat::BinanceApi => format!("binance:{}", ctx.config.data.download_url),
        _ => match &p.path {
            Some(path) if crate::server::files::is_upload(&ctx.config.data_dir, path) => {
                "upload".to_owned()
            }
            path => path.clone().unwrap_or_default(),
        },
    };
    let (base, quote) = split_symbol(&p.symbol, p.quote.as_deref());
    // Without a name given, the name says the bars' interval, known only
    // once they are read: the hidden row has a placeholder until then.
    let placeholder = format!("{}-importing-{}", p.symbol, run.job.id);
    let name = p.name.clone().unwrap_or_else(|| placeholder.clone());
    let mut d = Dataset {
        id: 0,
        name: name.clone(),
        symbol: p.symbol.clone(),
        base,
        quote,
        interval: None,
        spacing_ms: 0,
        start: Timestamp(0),
        end: Timestamp(0),
        rows: 0,
        gaps: 0,
        missing_bars: 0,
        largest_gaps: Vec::new(),
        price_decimals: 0,
        source: source.clone(),
        owner: run.job.owner.clone(),
        created: ctx.now(),
    };
    let owner = run.job.owner.clone();
    let taken = || {
        JobError::Permanent(format!(
            "field `name`: a dataset called `{name}` exists; give another `name` or delete it"
        ))
    };
    let id = ctx
        .store()
        .write(|tx| -> Result<Option<u64>, crate::store::StoreError> {
            if db::dataset_by_name(tx, &name)?.is_some() {
                return Ok(None);
            }
            db::begin_import(tx, &d, &owner, run.job.id).map(Some)
        })
        .map_err(|_| taken())?
        .ok_or_else(taken)?;
    let mut imp = Importer {
        run,
        id,
        chunk: Vec::with_capacity(db::CHUNK),
        seq: 0,
        summary: dataset::Summarizer::default(),
    };
    let read = match format {
        ImportFormat::Klines => import_klines(&mut imp, p),
        ImportFormat::BinanceApi => super::download::download(&mut imp, p),
        _ => import_file(&mut imp, p, format, max_bytes),
    };
    let finished = read.and_then(|()| finish(&mut imp, &mut d, p));
    if let Err(e) = finished {
        if let Err(d) = ctx.store().write(|tx| db::abandon_imports(tx, Some(id))) {
            tracing::error!(error = %d, dataset = id, "cannot drop a failed import");
        }
        return Err(e);
    }
    Ok(serde_json::json!({ "dataset": id, "rows": d.rows, "name": d.name }))
}

/// The last chunk, the gap pass, the summary and the name: the dataset
/// becomes visible.
fn finish(imp: &mut Importer<'_, '_>, d: &mut Dataset, p: &ImportParams) -> Result<(), JobError> {
    let run = imp.run;
    imp.flush()?;
    run.progress(80, "counting gaps")?;
    let summary = gap_pass(run, imp.id, std::mem::take(&mut imp.summary))?;
    d.interval = p.interval.clone().or(summary.interval.clone());
    d.spacing_ms = summary.spacing_ms;
    d.start = summary.start;
    d.end = summary.end;
    d.rows = summary.rows;
    d.gaps = summary.gaps;
    d.missing_bars = summary.missing_bars;
    d.largest_gaps = summary.largest_gaps;
    d.price_decimals = summary.price_decimals;
    if p.name.is_none() {
        d.name = format!(
            "{}-{}",
            p.symbol,
            d.interval
                .clone()
                .unwrap_or_else(|| format!("{}ms", d.spacing_ms))
        );
    }
    run.check()?;
    let id = imp.id;
    let done = run
        .ctx
        .store()
        .write(|tx| -> Result<bool, crate::store::StoreError> {
            if db::dataset_by_name(tx, &d.name)?.is_some() {
                return Ok(false);
            }
            db::finish_import(tx, id, d).map(|()| true)
        })
        .map_err(failed)?;
    if done {
        Ok(())
    } else {
        Err(JobError::Permanent(format!(
            "field `name`: a dataset called `{}` exists; give another `name` or delete it",
            d.name
        )))
    }
}

/// Reads the file row by row. Errors name the line, the column and what
/// was expected, never what the file says.
fn import_file(
    imp: &mut Importer<'_, '_>,
    p: &ImportParams,
    format: ImportFormat,
    max_bytes: u64,
) -> Result<(), JobError> {
    let path = p.path.clone().unwrap_or_default();
    let (file, total) = open_regular(&path, max_bytes).map_err(|e| failed(e.message))?;
    let fmt = match format {
        ImportFormat::Binance => Some(Format::Binance),
        // `csv` also takes a Binance dump when the first line says so.
        _ if p.format.is_none() => None,
        _ => Some(Format::Csv),
    };
    // Data errors are the file's: no later attempt reads it differently.
    let bad = |e: dataset::RowError| JobError::Permanent(format!("`{path}`: {e}"));
    let reader = std::io::BufReader::with_capacity(256 * 1024, file);
    let mut rows = dataset::Rows::new(reader, fmt).map_err(bad)?;
    let mut n: u64 = 0;
    while let Some(bar) = rows.next_bar() {
        imp.push(bar.map_err(bad)?)?;
        n = n.saturating_add(1);
        if n.is_multiple_of(65_536) {
            let done = rows
                .bytes_read()
                .saturating_mul(75)
                .checked_div(total)
                .unwrap_or(75);
            imp.run.progress(
                u8::try_from(done.saturating_add(1)).unwrap_or(76).min(76),
                "reading",
            )?;
        }
    }
    Ok(())
}

/// The recorded 1-minute klines of the sim market, as closed bars of the
/// interval asked for.
fn import_klines(imp: &mut Importer<'_, '_>, p: &ImportParams) -> Result<(), JobError> {
    let symbol: Symbol = p.symbol.parse().map_err(|_| {
        JobError::Permanent(format!("field `symbol`: `{}` is not a symbol", p.symbol))
    })?;
    let mut minute = Vec::new();
    crate::store::trading::for_each_kline(
        imp.run.ctx.store().conn(),
        &symbol,
        p.start.unwrap_or(Timestamp(0)),
        p.end.unwrap_or(Timestamp(i64::MAX)),
        |b| minute.push(b),
    )
    .map_err(failed)?;
    let interval = p
        .interval
        .as_ref()
        .and_then(|i| serde_json::from_value(serde_json::Value::String(i.clone())).ok())
        .unwrap_or(Interval::M1);
    // Closed bars only: the interval still forming now is not a bar yet.
    let now = imp.run.ctx.now().millis();
    let bars: Vec<_> = tradedesk_core::market::aggregate(&minute, interval)
        .into_iter()
        .filter(|b| b.open_time.millis().saturating_add(interval.millis()) <= now)
        .collect();
    if bars.is_empty() {
        return Err(JobError::Permanent(format!(
            "no recorded klines of {} in the range",
            p.symbol
        )));
    }
    for b in &bars {
        imp.push(Candle::from_bar(b))?;
    }
    Ok(())
}

/// The second pass over the stored chunks, one short read each: gaps need
/// the usual spacing, known only once every row is in.
fn gap_pass(
    run: &JobRun<'_>,
    id: u64,
    summary: dataset::Summarizer,
) -> Result<dataset::Summary, JobError> {
    let mut gaps = summary.gaps();
    for seq in 0.. {
        let chunk = db::chunk(run.ctx.store().conn(), id, seq).map_err(failed)?;
        let Some(chunk) = chunk else { break };
        for b in &chunk {
            gaps.push(b);
        }
        run.check()?;
    }
    Ok(gaps.summary())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_split_on_their_quote() {
        assert_eq!(split_symbol("BTCUSDT", None), ("BTC".into(), "USDT".into()));
        assert_eq!(split_symbol("ETHBTC", None), ("ETH".into(), "BTC".into()));
        assert_eq!(split_symbol("GOOG", None), ("GOOG".into(), "USD".into()));
        assert_eq!(
            split_symbol("GOOG", Some("USD")),
            ("GOOG".into(), "USD".into())
        );
        assert_eq!(
            split_symbol("EURUSD", Some("USD")),
            ("EUR".into(), "USD".into())
        );
    }
}
