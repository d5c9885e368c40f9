//! Datasets and their bars, stored in columnar chunks of 65,536 rows.

use super::super::StoreError;
use super::{CHUNK, DATASET_COLUMNS, dataset_row, to_json};
use rusqlite::{Connection, OptionalExtension, params};
use tradedesk_core::api::data::Dataset;
use tradedesk_core::strategy::Candle;
use tradedesk_core::time::Timestamp;

pub fn dataset(conn: &Connection, id: u64) -> Result<Option<Dataset>, StoreError> {
    let sql = format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE id = ?1 AND importing = 0");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([id as i64])?;
    rows.next()?.map(dataset_row).transpose()
}

pub fn dataset_by_name(conn: &Connection, name: &str) -> Result<Option<u64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM datasets WHERE name = ?1 AND importing = 0")?
        .query_row([name], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|v| v as u64))
}

pub fn datasets(conn: &Connection, symbol: Option<&str>) -> Result<Vec<Dataset>, StoreError> {
    let sql = format!(
        "SELECT {DATASET_COLUMNS} FROM datasets WHERE (?1 IS NULL OR symbol = ?1) AND importing = 0 ORDER BY id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([symbol])?;
    super::super::collect(&mut rows, dataset_row)
}

/// Starts an import: a hidden dataset row (the summary comes with
/// [`finish_import`]) that chunks are appended to. Fails when a dataset of
/// that name exists or is being imported.
pub fn begin_import(
    conn: &Connection,
    d: &Dataset,
    owner: &str,
    job: u64,
) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO datasets (name, symbol, base, quote, interval, spacing_ms, start_ms, end_ms, rows, gaps,
            missing_bars, largest_gaps, price_decimals, source, owner, created_ms, importing, job_id)
         VALUES (?1, ?2, ?3, ?4, NULL, 0, 0, 0, 0, 0, 0, '[]', 0, ?5, ?6, ?7, 1, ?8)",
    )?
    .execute(params![
        d.name,
        d.symbol,
        d.base,
        d.quote,
        d.source,
        owner,
        d.created.millis(),
        job as i64
    ])?;
    Ok(conn.last_insert_rowid() as u64)
}

/// The dataset a job finished importing, if it did (a job run again after
/// a crash must not import twice).
pub fn imported_by(conn: &Connection, job: u64) -> Result<Option<Dataset>, StoreError> {
    let sql = format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE job_id = ?1 AND importing = 0");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([job as i64])?;
    rows.next()?.map(dataset_row).transpose()
}

/// Appends the next chunk of bars (at most [`CHUNK`] rows) to an import.
pub fn append_chunk(
    conn: &Connection,
    id: u64,
    seq: u64,
    bars: &[Candle],
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO dataset_chunks (dataset_id, seq, rows, data) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        id as i64,
        seq as i64,
        bars.len() as i64,
        encode(bars)
    ])?;
    Ok(())
}

/// One chunk of a dataset's bars (`seq` from 0); `None` past the last.
pub fn chunk(conn: &Connection, id: u64, seq: u64) -> Result<Option<Vec<Candle>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT rows, data FROM dataset_chunks WHERE dataset_id = ?1 AND seq = ?2",
    )?;
    let mut rows = stmt.query(params![id as i64, seq as i64])?;
    let Some(r) = rows.next()? else {
        return Ok(None);
    };
    let n: i64 = r.get(0)?;
    let data = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
    let mut out = Vec::with_capacity(n as usize);
    decode(n as usize, data, &mut out)?;
    Ok(Some(out))
}

/// Writes an import's summary and makes the dataset visible.
pub fn finish_import(conn: &Connection, id: u64, d: &Dataset) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE datasets SET interval = ?2, spacing_ms = ?3, start_ms = ?4, end_ms = ?5, rows = ?6,
            gaps = ?7, missing_bars = ?8, largest_gaps = ?9, price_decimals = ?10, name = ?11,
            importing = 0
          WHERE id = ?1 AND importing = 1",
    )?
    .execute(params![
        id as i64,
        d.interval,
        d.spacing_ms,
        d.start.millis(),
        d.end.millis(),
        d.rows as i64,
        d.gaps as i64,
        d.missing_bars as i64,
        to_json(&d.largest_gaps),
        d.price_decimals,
        d.name
    ])?;
    Ok(())
}

/// Drops an import that did not finish (its chunks go with it); at start,
/// every one a crash left behind.
pub fn abandon_imports(conn: &Connection, id: Option<u64>) -> Result<usize, StoreError> {
    Ok(conn.execute(
        "DELETE FROM datasets WHERE importing = 1 AND (?1 IS NULL OR id = ?1)",
        [id.map(|i| i as i64)],
    )?)
}

/// Writes a dataset and its bars (inside the caller's transaction: all
/// or nothing); returns its id.
pub fn insert_dataset(
    conn: &Connection,
    d: &Dataset,
    owner: &str,
    bars: &[Candle],
) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO datasets (name, symbol, base, quote, interval, spacing_ms, start_ms, end_ms, rows, gaps,
            missing_bars, largest_gaps, price_decimals, source, owner, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        d.name,
        d.symbol,
        d.base,
        d.quote,
        d.interval,
        d.spacing_ms,
        d.start.millis(),
        d.end.millis(),
        d.rows as i64,
        d.gaps as i64,
        d.missing_bars as i64,
        to_json(&d.largest_gaps),
        d.price_decimals,
        d.source,
        owner,
        d.created.millis()
    ])?;
    let id = conn.last_insert_rowid();
    let mut stmt = conn.prepare_cached(
        "INSERT INTO dataset_chunks (dataset_id, seq, rows, data) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (seq, chunk) in bars.chunks(CHUNK).enumerate() {
        stmt.execute(params![id, seq as i64, chunk.len() as i64, encode(chunk)])?;
    }
    Ok(id as u64)
}

pub(super) fn encode(bars: &[Candle]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bars.len().saturating_mul(48));
    for b in bars {
        out.extend_from_slice(&b.time.millis().to_le_bytes());
    }
    for field in [
        |b: &Candle| b.open,
        |b: &Candle| b.high,
        |b: &Candle| b.low,
        |b: &Candle| b.close,
        |b: &Candle| b.volume,
    ] {
        for b in bars {
            out.extend_from_slice(&field(b).to_le_bytes());
        }
    }
    out
}

pub(super) fn decode(rows: usize, data: &[u8], out: &mut Vec<Candle>) -> Result<(), StoreError> {
    let columns = words(data);
    if rows.checked_mul(6) != Some(columns.len()) || !data.len().is_multiple_of(8) {
        return Err(StoreError::Corrupt(format!(
            "dataset chunk of {rows} rows has {} bytes",
            data.len()
        )));
    }
    // Six columns of `rows` words: time, open, high, low, close, volume.
    let (time, rest) = columns.split_at(rows);
    let (open, rest) = rest.split_at(rows);
    let (high, rest) = rest.split_at(rows);
    let (low, rest) = rest.split_at(rows);
    let (close, volume) = rest.split_at(rows);
    out.reserve(rows);
    for (i, t) in time.iter().enumerate() {
        out.push(Candle {
            time: Timestamp(i64::from_le_bytes(*t)),
            open: f64::from_le_bytes(open[i]),
            high: f64::from_le_bytes(high[i]),
            low: f64::from_le_bytes(low[i]),
            close: f64::from_le_bytes(close[i]),
            volume: f64::from_le_bytes(volume[i]),
        });
    }
    Ok(())
}

/// A blob as little-endian 8-byte words (a trailing partial word dropped).
pub(super) fn words(data: &[u8]) -> Vec<[u8; 8]> {
    data.chunks_exact(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            w
        })
        .collect()
}

/// A dataset's bars between `start` and `end` (inclusive), in order.
pub fn bars(
    conn: &Connection,
    id: u64,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Result<Vec<Candle>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT rows, data FROM dataset_chunks WHERE dataset_id = ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query([id as i64])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let n: i64 = r.get(0)?;
        let data = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
        decode(n as usize, data, &mut out)?;
    }
    if start.is_some() || end.is_some() {
        let lo = start.map_or(0, |s| out.partition_point(|b| b.time < s));
        let hi = end.map_or(out.len(), |e| out.partition_point(|b| b.time <= e));
        out = out
            .get(lo..hi.max(lo))
            .map(<[Candle]>::to_vec)
            .unwrap_or_default();
    }
    Ok(out)
}

/// Deletes a dataset; refused (`Ok(Err(ids))`) while unfinished
/// backtests read it.
pub fn delete_dataset(conn: &Connection, id: u64) -> Result<Result<bool, Vec<u64>>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT b.id FROM backtest_datasets d JOIN backtests b ON b.id = d.backtest_id
           JOIN jobs j ON j.id = b.job_id
          WHERE d.dataset_id = ?1 AND j.state IN ('queued', 'running') ORDER BY b.id",
    )?;
    let users: Vec<u64> = stmt
        .query_map([id as i64], |r| r.get::<_, i64>(0))?
        .map(|r| r.map(|v| v as u64))
        .collect::<Result<_, _>>()?;
    if !users.is_empty() {
        return Ok(Err(users));
    }
    Ok(Ok(conn.execute(
        "DELETE FROM datasets WHERE id = ?1",
        [id as i64],
    )? > 0))
}
