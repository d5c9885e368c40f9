//! `data.*`, `backtests.*` and `analytics.performance` handlers, and the
//! `data.import`, `backtest.run` and `backtest.sweep` job runners.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::store::backtests as db;
use crate::store::jobs as jdb;
use rust_decimal::Decimal;
use tradedesk_core::analytics::{self, Metrics, TradeFigures};
use tradedesk_core::api::backtests::{
    AnalyticsPerformance, Backtest, BacktestFilter, BacktestId, BacktestKind, BacktestPage,
    BacktestSpec, BacktestsCancel, BacktestsCompare, BacktestsCreate, BacktestsDelete,
    BacktestsEquity, BacktestsGet, BacktestsList, BacktestsResults, BacktestsSweep,
    BacktestsTrades, CompareParams, ComparedRun, Comparison, DataDelete, DataExport, DataFilter,
    DataGet, DataImport, DataList, Dataset, DatasetId, DatasetList, EquityCurve, EquityPoint,
    EquityQuery, ExportParams, Exported, ImportFormat, ImportParams, PerformanceParams, Summary,
    SweepSpec, TradePage, TradesQuery,
};
use tradedesk_core::api::bots::{BotEquityQuery, BotsEquity};
use tradedesk_core::api::cache::Namespace;
use tradedesk_core::api::jobs::JobEvents;
use tradedesk_core::api::{ApiError, Caller, Deleted, ErrorCode, Handle, paging};
use tradedesk_core::backtest::{self, BacktestError, Keep, Leg, Market};
use tradedesk_core::dataset::{self, Format};
use tradedesk_core::instrument::{Instrument, Symbol};
use tradedesk_core::job::{BacktestPayload, JobRecord};
use tradedesk_core::market::Interval;
use tradedesk_core::money::{Notional, Price, Qty};
use tradedesk_core::strategy::Candle;
use tradedesk_core::time::Timestamp;

use super::field_error;
use crate::context::Ctx;
use crate::services::exchange::store_err;
use crate::services::jobs::{JobError, JobRun};

fn failed(e: impl std::fmt::Display) -> JobError {
    JobError::Failed(e.to_string())
}

fn not_found_dataset(id: u64) -> ApiError {
    ApiError::not_found("dataset", id)
}

fn not_found_backtest(id: u64) -> ApiError {
    ApiError::not_found("backtest", id)
}

/// The quote currency a symbol ends in, for datasets imported without one.
fn split_symbol(symbol: &str, quote: Option<&str>) -> (String, String) {
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
fn check_import(p: &ImportParams, max_bytes: u64) -> Result<ImportFormat, ApiError> {
    let sym_ok = (1..=20).contains(&p.symbol.len())
        && p.symbol
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !sym_ok {
        return Err(field_error(
            "symbol",
            "must be 1–20 characters of A–Z, 0–9, `-` or `_`",
        ));
    }
    if let Some(q) = &p.quote
        && !((1..=10).contains(&q.len()) && q.bytes().all(|b| b.is_ascii_uppercase()))
    {
        return Err(field_error("quote", "must be 1–10 letters A–Z"));
    }
    if let Some(i) = &p.interval
        && serde_json::from_value::<Interval>(serde_json::Value::String(i.clone())).is_err()
    {
        return Err(field_error(
            "interval",
            format!("unknown interval `{i}` (known: 1m, 5m, 15m, 1h, 4h, 1d)"),
        ));
    }
    if let Some(n) = &p.name
        && !(1..=64).contains(&n.len())
    {
        return Err(field_error("name", "must be 1–64 characters"));
    }
    let format = match (p.format, &p.path) {
        (Some(ImportFormat::Klines), _) => ImportFormat::Klines,
        (_, None) => return Err(field_error("path", "is required for a file import")),
        (f, Some(path)) => {
            regular_file(path, max_bytes)?;
            f.unwrap_or(ImportFormat::Csv)
        }
    };
    if let (Some(s), Some(e)) = (p.start, p.end)
        && e <= s
    {
        return Err(field_error("end", "must be after start"));
    }
    Ok(format)
}

/// Checks that `path` names a regular file (not a FIFO, a device or a
/// directory) within the size limit; its size.
fn regular_file(path: &str, max_bytes: u64) -> Result<u64, ApiError> {
    // A relative path would be the daemon's working directory's, which
    // means nothing to a client.
    if !std::path::Path::new(path).is_absolute() {
        return Err(field_error("path", "must be an absolute path"));
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| field_error("path", format!("cannot read `{path}`: {}", e.kind())))?;
    if !meta.is_file() {
        return Err(field_error(
            "path",
            format!("`{path}` is not a regular file"),
        ));
    }
    if meta.len() > max_bytes {
        return Err(field_error(
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
fn open_regular(path: &str, max_bytes: u64) -> Result<(std::fs::File, u64), ApiError> {
    use std::os::unix::fs::OpenOptionsExt;
    regular_file(path, max_bytes)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| field_error("path", format!("cannot read `{path}`: {}", e.kind())))?;
    let meta = file
        .metadata()
        .map_err(|e| field_error("path", format!("cannot read `{path}`: {}", e.kind())))?;
    if !meta.is_file() || meta.len() > max_bytes {
        return Err(field_error(
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
struct Importer<'r, 'c> {
    run: &'r JobRun<'c>,
    id: u64,
    chunk: Vec<Candle>,
    seq: u64,
    summary: dataset::Summarizer,
}

impl Importer<'_, '_> {
    fn push(&mut self, bar: Candle) -> Result<(), JobError> {
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
pub fn run_import(run: &JobRun<'_>) -> Result<serde_json::Value, JobError> {
    let ctx = run.ctx;
    let max_bytes = ctx.config.data.max_import_bytes;
    let p: ImportParams = serde_json::from_value(run.job.payload.clone())
        .map_err(|e| JobError::Permanent(format!("payload: {e}")))?;
    // Run again after a crash that came between its last write and its
    // settling: the dataset is there, the job succeeded.
    if let Some(done) = db::imported_by(ctx.store().conn(), run.job.id).map_err(failed)? {
        return Ok(serde_json::json!({ "dataset": done.id, "rows": done.rows, "name": done.name }));
    }
    let format = check_import(&p, max_bytes).map_err(|e| failed(e.message))?;
    run.progress(1, "reading")?;
    let source = match format {
        ImportFormat::Klines => format!("klines:{}", p.symbol),
        _ => p.path.clone().unwrap_or_default(),
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
    let read = if format == ImportFormat::Klines {
        import_klines(&mut imp, &p)
    } else {
        import_file(&mut imp, &p, format, max_bytes)
    };
    let finished = read.and_then(|()| finish(&mut imp, &mut d, &p));
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

impl Handle<DataImport> for Ctx {
    async fn handle(&self, caller: &Caller, p: ImportParams) -> Result<JobRecord, ApiError> {
        check_import(&p, self.config.data.max_import_bytes)?;
        let payload = serde_json::to_value(&p).map_err(|e| ApiError::internal(e.to_string()))?;
        let now = self.now();
        self.enqueue_job(
            &jdb::NewJob {
                kind: "data.import",
                payload: &payload,
                priority: 0,
                max_attempts: 1,
                run_at: now,
                idempotency_key: None,
                owner: &caller.user,
            },
            now,
        )
        .await
    }
}

impl Handle<DataList> for Ctx {
    async fn handle(&self, _: &Caller, f: DataFilter) -> Result<DatasetList, ApiError> {
        Ok(DatasetList {
            datasets: db::datasets(self.store().conn(), f.symbol.as_deref())
                .map_err(|e| store_err(&e))?,
        })
    }
}

impl Ctx {
    fn dataset(&self, id: u64) -> Result<Dataset, ApiError> {
        db::dataset(self.store().conn(), id)
            .map_err(|e| store_err(&e))?
            .ok_or_else(|| not_found_dataset(id))
    }

    fn backtest(&self, id: u64) -> Result<Backtest, ApiError> {
        db::backtest(self.store().conn(), id)
            .map_err(|e| store_err(&e))?
            .ok_or_else(|| not_found_backtest(id))
    }

    fn finished_backtest(&self, id: u64) -> Result<Backtest, ApiError> {
        let b = self.backtest(id)?;
        if b.kind != BacktestKind::Run {
            return Err(field_error(
                "id",
                format!("backtest {id} is a sweep, not a run"),
            ));
        }
        if b.summary.is_none() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("backtest {id} has no results: it is {}", b.state.as_str()),
            ));
        }
        Ok(b)
    }

    /// Writes a backtest row and enqueues its job, in one transaction.
    fn create_backtest(
        &self,
        caller: &Caller,
        name: &str,
        kind: BacktestKind,
        spec: &serde_json::Value,
        datasets: &[u64],
    ) -> Result<Backtest, ApiError> {
        let now = self.now();
        let job_kind = match kind {
            BacktestKind::Run => "backtest.run",
            BacktestKind::Sweep => "backtest.sweep",
        };
        let id = self
            .store()
            .write(|tx| -> Result<u64, crate::store::StoreError> {
                let id = db::insert_backtest(tx, name, kind, &caller.user, spec, datasets, now)?;
                let payload = serde_json::json!({ "backtest": id });
                let (job, _) = jdb::enqueue(
                    tx,
                    &jdb::NewJob {
                        kind: job_kind,
                        payload: &payload,
                        priority: 0,
                        max_attempts: 1,
                        run_at: now,
                        idempotency_key: None,
                        owner: &caller.user,
                    },
                    now,
                )?;
                db::set_job(tx, id, job.id)?;
                Ok(id)
            })
            .map_err(|e| store_err(&e))?;
        let b = self.backtest(id)?;
        if let Ok(Some(j)) = jdb::get(self.store().conn(), b.job_id) {
            self.hub.publish::<JobEvents>(&j);
        }
        self.jobs.wake();
        Ok(b)
    }

    /// Checks a backtest spec against the datasets and strategies, filling
    /// in the configured defaults it leaves out (so the stored spec says
    /// what ran); returns the dataset ids it reads.
    fn check_spec(&self, spec: &mut BacktestSpec, prefix: &str) -> Result<Vec<u64>, ApiError> {
        let at = |f: &str| format!("{prefix}{f}");
        spec.settings
            .commission_pct
            .get_or_insert(self.config.backtest.commission_pct);
        if spec.strategies.is_empty() || spec.strategies.len() > 16 {
            return Err(field_error(&at("strategies"), "must hold 1–16 strategies"));
        }
        spec.settings
            .validate()
            .map_err(|(f, m)| field_error(&at(&format!("settings.{f}")), m))?;
        if let (Some(s), Some(e)) = (spec.start, spec.end)
            && e <= s
        {
            return Err(field_error(&at("end"), "must be after start"));
        }
        if let Some(n) = &spec.name
            && !(1..=64).contains(&n.len())
        {
            return Err(field_error(&at("name"), "must be 1–64 characters"));
        }
        let mut ids = Vec::new();
        let mut quote: Option<String> = None;
        for (i, leg) in spec.strategies.iter().enumerate() {
            if leg.datasets.is_empty() || leg.datasets.len() > 64 {
                return Err(field_error(
                    &at(&format!("strategies[{i}].datasets")),
                    "must name 1–64 datasets",
                ));
            }
            self.bots.registry.build(&leg.spec).map_err(|e| {
                field_error(&at(&format!("strategies[{i}].spec.{}", e.field)), e.message)
            })?;
            for d in &leg.datasets {
                let ds = self.dataset(*d).map_err(|_| {
                    field_error(
                        &at(&format!("strategies[{i}].datasets")),
                        format!("no dataset {d}"),
                    )
                })?;
                match &quote {
                    Some(q) if q != &ds.quote => {
                        return Err(field_error(
                            &at(&format!("strategies[{i}].datasets")),
                            format!(
                                "dataset {d} is quoted in {}, the others in {q}: one portfolio has one quote currency",
                                ds.quote
                            ),
                        ));
                    }
                    _ => quote = Some(ds.quote.clone()),
                }
                if !ids.contains(d) {
                    ids.push(*d);
                }
            }
        }
        Ok(ids)
    }
}

impl Handle<DataGet> for Ctx {
    async fn handle(&self, _: &Caller, p: DatasetId) -> Result<Dataset, ApiError> {
        self.dataset(p.id)
    }
}

impl Handle<DataDelete> for Ctx {
    async fn handle(&self, _: &Caller, p: DatasetId) -> Result<Deleted, ApiError> {
        self.dataset(p.id)?;
        match self
            .store()
            .write(|tx| db::delete_dataset(tx, p.id))
            .map_err(|e| store_err(&e))?
        {
            Ok(deleted) => Ok(Deleted { id: p.id, deleted }),
            Err(users) => Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "dataset {} is read by unfinished backtests {users:?}; cancel them or wait",
                    p.id
                ),
            )),
        }
    }
}

impl Handle<DataExport> for Ctx {
    async fn handle(&self, _: &Caller, p: ExportParams) -> Result<Exported, ApiError> {
        self.dataset(p.id)?;
        self.blocking(|ctx| {
            let mut file = ctx.export_file(&p.path)?;
            let written = ctx.write_export(&mut file, p.id);
            drop(file);
            match written {
                Ok(rows) => Ok(Exported { path: p.path, rows }),
                Err(e) => {
                    // Only ever our own new file: it was created above.
                    let _ = std::fs::remove_file(&p.path);
                    Err(e)
                }
            }
        })
    }
}

impl Ctx {
    /// Creates an export's file: an absolute path, outside the daemon's own
    /// data, run and log directories, created new (never replacing
    /// anything, never through a symlink), readable by the user only.
    fn export_file(&self, path: &str) -> Result<std::io::BufWriter<std::fs::File>, ApiError> {
        use std::os::unix::fs::OpenOptionsExt;
        let p = std::path::Path::new(path);
        if !p.is_absolute() {
            return Err(field_error("path", "must be an absolute path"));
        }
        let bad = |why: String| field_error("path", why);
        let parent = p
            .parent()
            .and_then(|d| std::fs::canonicalize(d).ok())
            .ok_or_else(|| bad(format!("the directory of `{path}` does not exist")))?;
        let own = [
            Some(self.config.data_dir.as_path()),
            self.config.socket.parent(),
            Some(self.config.log.dir.as_path()),
        ];
        for dir in own.into_iter().flatten() {
            if let Ok(dir) = std::fs::canonicalize(dir)
                && parent.starts_with(&dir)
            {
                return Err(bad(format!(
                    "`{path}` is inside the daemon's own directory {}; choose another place",
                    dir.display()
                )));
            }
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(p)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    bad(format!("`{path}` exists; nothing was written"))
                }
                k => bad(format!("cannot create `{path}`: {k}")),
            })?;
        Ok(std::io::BufWriter::with_capacity(256 * 1024, file))
    }

    /// Writes a dataset as CSV, a chunk at a time (bounded memory, short
    /// reads of the store); the rows written.
    fn write_export(
        &self,
        out: &mut std::io::BufWriter<std::fs::File>,
        id: u64,
    ) -> Result<u64, ApiError> {
        use std::io::Write as _;
        let io = |e: std::io::Error| field_error("path", format!("cannot write: {}", e.kind()));
        out.write_all(b"timestamp,open,high,low,close,volume\n")
            .map_err(io)?;
        let mut rows: u64 = 0;
        for seq in 0.. {
            let chunk = db::chunk(self.store().conn(), id, seq).map_err(|e| store_err(&e))?;
            let Some(chunk) = chunk else { break };
            for b in &chunk {
                let t = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(b.time.millis())
                    .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{t},{},{},{},{},{}",
                    b.open, b.high, b.low, b.close, b.volume
                )
                .map_err(io)?;
            }
            rows = rows.saturating_add(chunk.len() as u64);
        }
        out.flush().map_err(io)?;
        Ok(rows)
    }
}

impl Handle<BacktestsCreate> for Ctx {
    async fn handle(&self, caller: &Caller, mut spec: BacktestSpec) -> Result<Backtest, ApiError> {
        let ids = self.check_spec(&mut spec, "")?;
        let name = spec.name.clone().unwrap_or_else(|| {
            let legs: Vec<&str> = spec
                .strategies
                .iter()
                .map(|l| l.spec.strategy.as_str())
                .collect();
            legs.join("+")
        });
        let value = serde_json::to_value(&spec).map_err(|e| ApiError::internal(e.to_string()))?;
        self.create_backtest(caller, &name, BacktestKind::Run, &value, &ids)
    }
}

impl Handle<BacktestsSweep> for Ctx {
    async fn handle(&self, caller: &Caller, mut spec: SweepSpec) -> Result<Backtest, ApiError> {
        let ids = self.check_spec(&mut spec.backtest, "backtest.")?;
        if spec.grid.is_empty() {
            return Err(field_error("grid", "must name at least one parameter"));
        }
        let mut combos: usize = 1;
        for (i, a) in spec.grid.iter().enumerate() {
            if a.values.is_empty() {
                return Err(field_error(&format!("grid[{i}].values"), "is empty"));
            }
            combos = combos.saturating_mul(a.values.len());
        }
        if combos > 10_000 {
            return Err(field_error(
                "grid",
                format!("{combos} combinations; at most 10,000"),
            ));
        }
        if !Metrics::field_names().contains(&spec.rank_by) {
            return Err(field_error(
                "rank_by",
                format!(
                    "`{}` is not a metric (e.g. sharpe, return_pct, cagr_pct)",
                    spec.rank_by
                ),
            ));
        }
        let name = spec
            .backtest
            .name
            .clone()
            .unwrap_or_else(|| format!("sweep {}", spec.backtest.strategies[0].spec.strategy));
        let value = serde_json::to_value(&spec).map_err(|e| ApiError::internal(e.to_string()))?;
        self.create_backtest(caller, &name, BacktestKind::Sweep, &value, &ids)
    }
}

impl Handle<BacktestsGet> for Ctx {
    async fn handle(&self, _: &Caller, p: BacktestId) -> Result<Backtest, ApiError> {
        self.backtest(p.id)
    }
}

impl Handle<BacktestsList> for Ctx {
    async fn handle(&self, _: &Caller, f: BacktestFilter) -> Result<BacktestPage, ApiError> {
        let limit = paging::limit(f.limit)?;
        let before = paging::cursor(f.cursor.as_deref())?;
        let backtests = db::list_backtests(self.store().conn(), f.kind, before, limit)
            .map_err(|e| store_err(&e))?;
        let next_cursor = paging::next_cursor(&backtests, limit, |b| b.id);
        Ok(BacktestPage {
            backtests,
            next_cursor,
        })
    }
}

impl Handle<BacktestsCancel> for Ctx {
    async fn handle(&self, _: &Caller, p: BacktestId) -> Result<Backtest, ApiError> {
        let b = self.backtest(p.id)?;
        if b.state.is_final() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "backtest {} is {}: nothing to cancel",
                    p.id,
                    b.state.as_str()
                ),
            ));
        }
        self.cancel_job(b.job_id)?;
        self.backtest(p.id)
    }
}

impl Handle<BacktestsDelete> for Ctx {
    async fn handle(&self, _: &Caller, p: BacktestId) -> Result<Deleted, ApiError> {
        let b = self.backtest(p.id)?;
        if !b.state.is_final() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("backtest {} is {}: cancel it first", p.id, b.state.as_str()),
            ));
        }
        let deleted = self
            .store()
            .write(|tx| db::delete_backtest(tx, p.id))
            .map_err(|e| store_err(&e))?;
        self.cache
            .delete_prefix(Namespace::Backtests, &format!("{}:", p.id));
        Ok(Deleted { id: p.id, deleted })
    }
}

impl Handle<BacktestsResults> for Ctx {
    async fn handle(&self, _: &Caller, p: BacktestId) -> Result<Metrics, ApiError> {
        // A finished backtest's metrics never change; deleting it drops them.
        let key = format!("{}:metrics", p.id);
        let now = self.now().millis();
        if let Some(m) = self.cache.get::<Metrics>(Namespace::Backtests, &key, now) {
            return Ok((*m).clone());
        }
        let epoch = self.cache.epoch(Namespace::Backtests);
        self.finished_backtest(p.id)?;
        let m = db::metrics(self.store().conn(), p.id)
            .map_err(|e| store_err(&e))?
            .ok_or_else(|| not_found_backtest(p.id))?;
        let bytes = metrics_bytes(&m);
        self.cache.put_unless_changed(
            Namespace::Backtests,
            &key,
            m.clone(),
            bytes,
            None,
            now,
            epoch,
        );
        Ok(m)
    }
}

impl Handle<BacktestsTrades> for Ctx {
    async fn handle(&self, _: &Caller, q: TradesQuery) -> Result<TradePage, ApiError> {
        self.finished_backtest(q.id)?;
        let limit = paging::limit(q.limit)?;
        // The cursor is the index of the next trade.
        let from = match q.cursor.as_deref() {
            None => 0,
            Some(c) => c.parse::<usize>().map_err(|_| {
                field_error(
                    "cursor",
                    format!("`{c}` is not a cursor from a previous page"),
                )
            })?,
        };
        let all = db::trades(self.store().conn(), q.id)
            .map_err(|e| store_err(&e))?
            .unwrap_or_default();
        let end = from.saturating_add(limit as usize).min(all.len());
        let trades = all.get(from..end).map(<[_]>::to_vec).unwrap_or_default();
        Ok(TradePage {
            next_cursor: (end < all.len()).then(|| end.to_string()),
            trades,
        })
    }
}

/// Keeps at most `max` points: the curve cut into buckets, each giving its
/// lowest point and its last (so the deepest drawdowns survive), in time
/// order; the first point is always kept.
fn downsample(equity: &[f64], max: usize) -> Vec<usize> {
    let n = equity.len();
    if n <= max || max < 2 {
        return (0..n).collect();
    }
    if max == 2 {
        return vec![0, n.saturating_sub(1)];
    }
    // The first point, then each bucket's low and last: at most `max`.
    // (`n > max >= 3` here: every index below stays within 1..n.)
    let buckets = max.saturating_sub(1) / 2;
    let edge = |b: usize| {
        b.saturating_mul(n.saturating_sub(1))
            .checked_div(buckets)
            .unwrap_or(0)
            .saturating_add(1)
    };
    let mut keep = vec![0usize];
    for b in 0..buckets {
        let (lo, hi) = (edge(b), edge(b.saturating_add(1)));
        if lo >= hi {
            continue;
        }
        let low = (lo..hi)
            .min_by(|&a, &c| equity[a].total_cmp(&equity[c]))
            .unwrap_or(lo);
        for i in [low, hi.saturating_sub(1)] {
            if keep.last() != Some(&i) {
                keep.push(i);
            }
        }
    }
    keep.sort_unstable();
    keep.dedup();
    keep
}

impl Handle<BacktestsEquity> for Ctx {
    async fn handle(&self, _: &Caller, q: EquityQuery) -> Result<EquityCurve, ApiError> {
        check_downsample(q.downsample)?;
        self.finished_backtest(q.id)?;
        let (times, equity) = db::curve(self.store().conn(), q.id)
            .map_err(|e| store_err(&e))?
            .unwrap_or_default();
        Ok(equity_curve(&times, &equity, q.downsample))
    }
}

/// Checks an `downsample` parameter (2–100,000).
fn check_downsample(d: Option<u32>) -> Result<(), ApiError> {
    match d {
        Some(d) if !(2..=100_000).contains(&d) => Err(field_error(
            "downsample",
            format!("must be between 2 and 100000, got {d}"),
        )),
        _ => Ok(()),
    }
}

/// An equity curve with its drawdown, worked out on every point before
/// any is dropped by downsampling.
fn equity_curve(times: &[Timestamp], equity: &[f64], downsample_to: Option<u32>) -> EquityCurve {
    let mut peak = f64::NEG_INFINITY;
    let dd: Vec<f64> = equity
        .iter()
        .map(|e| {
            peak = peak.max(*e);
            (e / peak - 1.0) * 100.0
        })
        .collect();
    let idx = downsample(equity, downsample_to.map_or(usize::MAX, |d| d as usize));
    EquityCurve {
        total: equity.len() as u64,
        points: idx
            .into_iter()
            .map(|i| EquityPoint {
                time: times[i],
                equity: equity[i],
                drawdown_pct: dd[i],
            })
            .collect(),
    }
}

/// A bot's equity samples in a range; not found when there is no such bot.
fn bot_equity(
    conn: &rusqlite::Connection,
    bot: u64,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Result<Vec<(Timestamp, f64)>, ApiError> {
    if crate::store::bots::bot_by_id(conn, bot)
        .map_err(|e| store_err(&e))?
        .is_none()
    {
        return Err(ApiError::not_found("bot", bot));
    }
    crate::store::bots::equity_series(conn, bot, start, end).map_err(|e| store_err(&e))
}

impl Handle<BotsEquity> for Ctx {
    async fn handle(&self, _: &Caller, q: BotEquityQuery) -> Result<EquityCurve, ApiError> {
        check_downsample(q.downsample)?;
        let series = bot_equity(self.store().conn(), q.id, q.start, q.end)?;
        let (times, equity): (Vec<Timestamp>, Vec<f64>) = series.into_iter().unzip();
        Ok(equity_curve(&times, &equity, q.downsample))
    }
}

impl Handle<BacktestsCompare> for Ctx {
    async fn handle(&self, _: &Caller, p: CompareParams) -> Result<Comparison, ApiError> {
        if !(2..=20).contains(&p.ids.len()) {
            return Err(field_error("ids", "must name 2–20 backtests"));
        }
        let mut out = Vec::new();
        for id in &p.ids {
            let b = self
                .finished_backtest(*id)
                .map_err(|e| field_error("ids", e.message))?;
            let metrics = db::metrics(self.store().conn(), *id)
                .map_err(|e| store_err(&e))?
                .ok_or_else(|| not_found_backtest(*id))?;
            out.push(ComparedRun {
                id: *id,
                name: b.name,
                metrics,
            });
        }
        Ok(Comparison { backtests: out })
    }
}

/// A dataset as a market of a run.
fn market_instrument(d: &Dataset) -> Result<Instrument, String> {
    let tick = Decimal::new(1, d.price_decimals.min(18));
    Ok(Instrument {
        symbol: d
            .symbol
            .parse()
            .map_err(|_| format!("dataset {}: `{}` is not a symbol", d.id, d.symbol))?,
        base: d.base.clone(),
        quote: d.quote.clone(),
        tick_size: Price::new(tick),
        lot_size: Qty::new(Decimal::new(1, 8)),
        min_qty: Qty::new(Decimal::new(1, 8)),
        min_notional: Notional::ZERO,
    })
}

/// Each dataset a run reads: its instrument and bars.
type Loaded = Vec<(Instrument, Vec<Candle>)>;

/// Loads what a spec reads: the datasets, and the legs on them.
fn load(ctx: &Ctx, spec: &BacktestSpec) -> Result<(Loaded, Vec<Leg>), JobError> {
    let mut ids: Vec<u64> = Vec::new();
    let mut legs = Vec::new();
    for leg in &spec.strategies {
        let mut markets = Vec::new();
        for d in &leg.datasets {
            let at = ids.iter().position(|x| x == d).unwrap_or_else(|| {
                ids.push(*d);
                ids.len().saturating_sub(1)
            });
            markets.push(at);
        }
        legs.push(Leg {
            spec: leg.spec.clone(),
            markets,
        });
    }
    let mut data = Vec::new();
    for id in ids {
        let d = db::dataset(ctx.store().conn(), id)
            .map_err(failed)?
            .ok_or_else(|| failed(format!("dataset {id} was deleted")))?;
        let bars = db::bars(ctx.store().conn(), id, spec.start, spec.end).map_err(failed)?;
        data.push((market_instrument(&d).map_err(failed)?, bars));
    }
    Ok((data, legs))
}

fn backtest_id(run: &JobRun<'_>) -> Result<u64, JobError> {
    let p: BacktestPayload = serde_json::from_value(run.job.payload.clone())
        .map_err(|e| failed(format!("payload: {e}")))?;
    Ok(p.backtest)
}

fn invalid(e: BacktestError) -> JobError {
    match e {
        BacktestError::Cancelled => JobError::Cancelled,
        // The same run fails the same way every time: no retry.
        e @ (BacktestError::Invalid { .. } | BacktestError::Overflow { .. }) => {
            JobError::Permanent(e.to_string())
        }
    }
}

/// The backtest or sweep a job runs: its id and spec.
fn job_spec<S: serde::de::DeserializeOwned>(run: &JobRun<'_>) -> Result<(u64, S), JobError> {
    let id = backtest_id(run)?;
    let b = db::backtest(run.ctx.store().conn(), id)
        .map_err(failed)?
        .ok_or_else(|| failed(format!("backtest {id} was deleted")))?;
    let spec = serde_json::from_value(b.spec).map_err(|e| failed(format!("spec: {e}")))?;
    run.progress(1, "loading bars")?;
    Ok((id, spec))
}

fn markets(data: &Loaded) -> Vec<Market<'_>> {
    data.iter()
        .map(|(i, bars)| Market::new(i.clone(), bars))
        .collect()
}

/// A cached `Metrics`' size, for the cache's memory budget (an estimate:
/// the fixed figures plus each month and symbol row).
fn metrics_bytes(m: &Metrics) -> usize {
    m.by_month
        .len()
        .saturating_add(m.by_symbol.len())
        .saturating_mul(64)
        .saturating_add(2_048)
}

/// The `backtest.run` job.
pub fn run_backtest(run: &JobRun<'_>) -> Result<serde_json::Value, JobError> {
    let ctx = run.ctx;
    let (id, spec): (u64, BacktestSpec) = job_spec(run)?;
    let (data, legs) = load(ctx, &spec)?;
    let markets = markets(&data);
    let mut progress = |share: f64| {
        let pct = (5.0 + share * 90.0) as u8;
        run.progress(pct, "running").is_ok()
    };
    let out = backtest::run(
        &ctx.bots.registry,
        &markets,
        &legs,
        &spec.settings,
        Keep {
            equity: true,
            fills: true,
        },
        &mut progress,
    )
    .map_err(invalid)?;
    run.check()?;
    let times = out.times(&markets);
    let m = &out.metrics;
    let summary = Summary {
        final_equity: out.final_equity.round_dp(8).normalize().to_string(),
        return_pct: m.return_pct,
        cagr_pct: m.cagr_pct,
        sharpe: m.sharpe,
        max_drawdown_pct: m.max_drawdown_pct,
        trades: m.trades,
        win_rate_pct: m.win_rate_pct,
        margin_call: out.margin_call,
    };
    ctx.store()
        .write(|tx| {
            db::save_run(
                tx,
                id,
                &db::RunResults {
                    summary: &summary,
                    metrics: &out.metrics,
                    trades: &out.trades,
                    fills: &out.fills,
                    times: &times,
                    equity: &out.equity,
                },
            )
        })
        .map_err(failed)?;
    serde_json::to_value(&summary).map_err(failed)
}

/// The `backtest.sweep` job.
pub fn run_sweep(run: &JobRun<'_>) -> Result<serde_json::Value, JobError> {
    let ctx = run.ctx;
    let (id, spec): (u64, SweepSpec) = job_spec(run)?;
    let (data, legs) = load(ctx, &spec.backtest)?;
    let markets = markets(&data);
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let shown = AtomicU8::new(0);
    let progress = |share: f64| {
        let pct = (5.0 + share * 90.0) as u8;
        // A write only when the shown percentage moves.
        if shown.fetch_max(pct, Ordering::Relaxed) < pct {
            return run.progress(pct, "sweeping").is_ok();
        }
        run.check().is_ok()
    };
    let rows = backtest::sweep(
        &ctx.bots.registry,
        &markets,
        &legs,
        &spec.backtest.settings,
        &spec.grid,
        &spec.rank_by,
        threads,
        &progress,
    )
    .map_err(invalid)?;
    run.check()?;
    ctx.store()
        .write(|tx| db::save_sweep(tx, id, &rows))
        .map_err(failed)?;
    Ok(serde_json::json!({
        "combinations": rows.len(),
        "best": rows.first().map(|r| &r.params),
        "score": rows.first().and_then(|r| r.score),
    }))
}

impl Handle<AnalyticsPerformance> for Ctx {
    async fn handle(&self, _: &Caller, p: PerformanceParams) -> Result<Metrics, ApiError> {
        // Cached until the bot's next fill or equity sample (they delete
        // `bot:ID:*`); the epoch refuses a result read before one.
        let key = format!(
            "bot:{}:{}:{}",
            p.bot,
            p.start.map_or(i64::MIN, Timestamp::millis),
            p.end.map_or(i64::MAX, Timestamp::millis)
        );
        let now = self.now().millis();
        if let Some(m) = self.cache.get::<Metrics>(Namespace::Analytics, &key, now) {
            return Ok((*m).clone());
        }
        let epoch = self.cache.epoch(Namespace::Analytics);
        let m = self.performance(&p)?;
        let bytes = metrics_bytes(&m);
        self.cache.put_unless_changed(
            Namespace::Analytics,
            &key,
            m.clone(),
            bytes,
            None,
            now,
            epoch,
        );
        Ok(m)
    }
}

impl Ctx {
    fn performance(&self, p: &PerformanceParams) -> Result<Metrics, ApiError> {
        let conn_store = self.store();
        let conn = conn_store.conn();
        let series = bot_equity(conn, p.bot, p.start, p.end)?;
        if series.len() < 2 {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "bot {} has {} equity samples in the range; metrics need at least 2",
                    p.bot,
                    series.len()
                ),
            ));
        }
        let fees = crate::store::trading::fill_totals(conn, None, Some(p.bot), p.start, p.end)
            .map_err(|e| store_err(&e))?
            .fees
            .get();
        drop(conn_store);
        let times: Vec<Timestamp> = series.iter().map(|s| s.0).collect();
        let equity: Vec<f64> = series.iter().map(|s| s.1).collect();
        // Trips that opened before the range still count when they close in it.
        let trips = self.trips(None, Some(p.bot), p.end)?;
        let trades = trade_figures(&trips, &times, p.start);
        Ok(analytics::compute(&analytics::Input {
            times: &times,
            equity: &equity,
            benchmark: None,
            first_tradable: 0,
            trades: &trades,
            total_fees: fees,
        }))
    }
}

/// The trips that closed in `[start, end)` as the metrics take them, their
/// steps placed on the equity samples' times.
fn trade_figures(
    trips: &[analytics::Trip],
    times: &[Timestamp],
    start: Option<Timestamp>,
) -> Vec<TradeFigures> {
    let f = |d: Decimal| rust_decimal::prelude::ToPrimitive::to_f64(&d).unwrap_or(0.0);
    let step = |t: Timestamp| {
        times
            .partition_point(|x| *x < t)
            .min(times.len().saturating_sub(1))
    };
    trips
        .iter()
        .filter(|t| start.is_none_or(|s| t.exit_time >= s))
        .map(|t| TradeFigures {
            symbol: t.symbol.clone(),
            entry_step: step(t.trip.entry_time),
            exit_step: step(t.exit_time),
            entry_time: t.trip.entry_time,
            exit_time: t.exit_time,
            pnl: f(t.trip.pnl),
            return_frac: t.trip.return_frac,
            fees: f(t.trip.fees),
        })
        .collect()
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

    #[test]
    fn downsampling_keeps_the_lows_and_the_ends() {
        let equity: Vec<f64> = (0..1000)
            .map(|i| if i == 500 { 1.0 } else { 100.0 + f64::from(i) })
            .collect();
        let keep = downsample(&equity, 20);
        assert!(keep.len() <= 21, "{}", keep.len());
        assert!(keep.contains(&500) && keep.contains(&0) && keep.contains(&999));
        assert!(keep.windows(2).all(|w| w[0] < w[1]));
    }
}
