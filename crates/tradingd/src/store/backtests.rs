//! Datasets (bars in columnar chunks) and backtests (spec, job, results).

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use super::trading::corrupt;
use tradedesk_core::analytics::Metrics;
use tradedesk_core::api::backtests::{Backtest, BacktestKind, Summary};
use tradedesk_core::api::data::Dataset;
use tradedesk_core::backtest::{Fill, SweepRow, Trade};
use tradedesk_core::job::JobState;
use tradedesk_core::time::Timestamp;

mod datasets;
use datasets::words;
pub use datasets::{
    abandon_imports, append_chunk, bars, begin_import, chunk, dataset, dataset_by_name, datasets,
    delete_dataset, finish_import, imported_by, insert_dataset,
};

/// Rows per stored chunk.
pub const CHUNK: usize = 65_536;

fn json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|_| corrupt(what, &s.chars().take(80).collect::<String>()))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

// ---- datasets ----------------------------------------------------------

const DATASET_COLUMNS: &str = "id, name, symbol, base, quote, interval, spacing_ms, start_ms, end_ms, rows, gaps, \
     missing_bars, largest_gaps, price_decimals, source, created_ms, owner";

fn dataset_row(r: &Row<'_>) -> Result<Dataset, StoreError> {
    let gaps: String = r.get(12)?;
    Ok(Dataset {
        id: r.get::<_, i64>(0)? as u64,
        name: r.get(1)?,
        symbol: r.get(2)?,
        base: r.get(3)?,
        quote: r.get(4)?,
        interval: r.get(5)?,
        spacing_ms: r.get(6)?,
        start: Timestamp(r.get(7)?),
        end: Timestamp(r.get(8)?),
        rows: r.get::<_, i64>(9)? as u64,
        gaps: r.get::<_, i64>(10)? as u64,
        missing_bars: r.get::<_, i64>(11)? as u64,
        largest_gaps: json("dataset gaps", &gaps)?,
        price_decimals: r.get(13)?,
        source: r.get(14)?,
        owner: r.get(16)?,
        created: Timestamp(r.get(15)?),
    })
}

// ---- backtests ---------------------------------------------------------

const BT_COLUMNS: &str = "b.id, b.name, b.kind, b.job_id, b.spec, b.created_ms, b.summary, b.sweep, \
     j.state, j.progress, j.error, j.finished_ms, b.owner";

fn backtest_row(r: &Row<'_>) -> Result<Backtest, StoreError> {
    let kind: String = r.get(2)?;
    let spec: String = r.get(4)?;
    let summary: Option<String> = r.get(6)?;
    let sweep: Option<String> = r.get(7)?;
    let state: Option<String> = r.get(8)?;
    let state = match state {
        Some(s) => JobState::parse(&s).ok_or_else(|| corrupt("job state", &s))?,
        // The job was purged: its outcome is what was stored.
        None if summary.is_some() || sweep.is_some() => JobState::Succeeded,
        None => JobState::Failed,
    };
    Ok(Backtest {
        id: r.get::<_, i64>(0)? as u64,
        name: r.get(1)?,
        kind: if kind == "sweep" {
            BacktestKind::Sweep
        } else {
            BacktestKind::Run
        },
        job_id: r.get::<_, i64>(3)? as u64,
        owner: r.get(12)?,
        state,
        progress: r.get::<_, Option<u8>>(9)?.unwrap_or(0),
        error: r.get(10)?,
        created: Timestamp(r.get(5)?),
        finished: r.get::<_, Option<i64>>(11)?.map(Timestamp),
        spec: json("backtest spec", &spec)?,
        summary: summary
            .map(|s| json::<Summary>("backtest summary", &s))
            .transpose()?,
        sweep: sweep
            .map(|s| json::<Vec<SweepRow>>("sweep rows", &s))
            .transpose()?,
    })
}

pub fn backtest(conn: &Connection, id: u64) -> Result<Option<Backtest>, StoreError> {
    let sql = format!(
        "SELECT {BT_COLUMNS} FROM backtests b LEFT JOIN jobs j ON j.id = b.job_id WHERE b.id = ?1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([id as i64])?;
    rows.next()?.map(backtest_row).transpose()
}

pub fn list_backtests(
    conn: &Connection,
    kind: Option<BacktestKind>,
    owner: Option<&str>,
    before: Option<u64>,
    limit: u32,
) -> Result<Vec<Backtest>, StoreError> {
    let sql = format!(
        "SELECT {BT_COLUMNS} FROM backtests b LEFT JOIN jobs j ON j.id = b.job_id
          WHERE (?1 IS NULL OR b.kind = ?1) AND b.id < ?2 AND (?4 IS NULL OR b.owner = ?4)
          ORDER BY b.id DESC LIMIT ?3"
    );
    let kind = kind.map(|k| match k {
        BacktestKind::Run => "run",
        BacktestKind::Sweep => "sweep",
    });
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![
        kind,
        before.map_or(i64::MAX, |v| v as i64),
        i64::from(limit),
        owner,
    ])?;
    super::collect(&mut rows, backtest_row)
}

/// A new backtest row (its job is enqueued in the same transaction and
/// set with [`set_job`]).
pub fn insert_backtest(
    conn: &Connection,
    name: &str,
    kind: BacktestKind,
    owner: &str,
    spec: &serde_json::Value,
    datasets: &[u64],
    now: Timestamp,
) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO backtests (name, kind, owner, job_id, spec, created_ms) VALUES (?1, ?2, ?3, 0, ?4, ?5)",
    )?
    .execute(params![
        name,
        match kind {
            BacktestKind::Run => "run",
            BacktestKind::Sweep => "sweep",
        },
        owner,
        spec.to_string(),
        now.millis()
    ])?;
    let id = conn.last_insert_rowid();
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO backtest_datasets (backtest_id, dataset_id) VALUES (?1, ?2)",
    )?;
    for d in datasets {
        stmt.execute(params![id, *d as i64])?;
    }
    Ok(id as u64)
}

pub fn set_job(conn: &Connection, id: u64, job: u64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE backtests SET job_id = ?2 WHERE id = ?1")?
        .execute(params![id as i64, job as i64])?;
    Ok(())
}

/// A finished run's results, as stored.
pub struct RunResults<'a> {
    pub summary: &'a Summary,
    pub metrics: &'a Metrics,
    pub trades: &'a [Trade],
    pub fills: &'a [Fill],
    pub times: &'a [Timestamp],
    pub equity: &'a [f64],
}

/// An equity curve: step times and equity.
pub type EquitySeries = (Vec<Timestamp>, Vec<f64>);

/// Stores a finished run's results.
pub fn save_run(conn: &Connection, id: u64, r: &RunResults<'_>) -> Result<(), StoreError> {
    let RunResults {
        summary,
        metrics,
        trades,
        fills,
        times,
        equity,
    } = *r;
    conn.prepare_cached("UPDATE backtests SET summary = ?2, metrics = ?3 WHERE id = ?1")?
        .execute(params![id as i64, to_json(summary), to_json(metrics)])?;
    let mut curve = Vec::with_capacity(times.len().saturating_mul(16));
    for t in times {
        curve.extend_from_slice(&t.millis().to_le_bytes());
    }
    for e in equity {
        curve.extend_from_slice(&e.to_le_bytes());
    }
    conn.prepare_cached(
        "INSERT OR REPLACE INTO backtest_results (backtest_id, trades, fills, curve) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id as i64, to_json(&trades), to_json(&fills), curve])?;
    Ok(())
}

pub fn save_sweep(conn: &Connection, id: u64, rows: &[SweepRow]) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE backtests SET sweep = ?2 WHERE id = ?1")?
        .execute(params![id as i64, to_json(&rows)])?;
    Ok(())
}

pub fn metrics(conn: &Connection, id: u64) -> Result<Option<Metrics>, StoreError> {
    let m: Option<Option<String>> = conn
        .prepare_cached("SELECT metrics FROM backtests WHERE id = ?1")?
        .query_row([id as i64], |r| r.get(0))
        .optional()?;
    m.flatten()
        .map(|s| json("backtest metrics", &s))
        .transpose()
}

pub fn trades(conn: &Connection, id: u64) -> Result<Option<Vec<Trade>>, StoreError> {
    let t: Option<String> = conn
        .prepare_cached("SELECT trades FROM backtest_results WHERE backtest_id = ?1")?
        .query_row([id as i64], |r| r.get(0))
        .optional()?;
    t.map(|s| json("backtest trades", &s)).transpose()
}

/// The stored equity curve: (times, equity).
pub fn curve(conn: &Connection, id: u64) -> Result<Option<EquitySeries>, StoreError> {
    let blob: Option<Vec<u8>> = conn
        .prepare_cached("SELECT curve FROM backtest_results WHERE backtest_id = ?1")?
        .query_row([id as i64], |r| r.get(0))
        .optional()?;
    let Some(b) = blob else { return Ok(None) };
    if b.len() % 16 != 0 {
        return Err(StoreError::Corrupt("backtest curve length".into()));
    }
    let w = words(&b);
    let (times, equity) = w.split_at(w.len() / 2);
    let times = times
        .iter()
        .map(|t| Timestamp(i64::from_le_bytes(*t)))
        .collect();
    let equity = equity.iter().map(|e| f64::from_le_bytes(*e)).collect();
    Ok(Some((times, equity)))
}

pub fn delete_backtest(conn: &Connection, id: u64) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM backtests WHERE id = ?1", [id as i64])? > 0)
}

/// Migration 11: the default ratios became the textbook ones annualised by
/// the data's spacing, backtesting.py's kept as `*_reference`. Renames the
/// fields of every stored metrics object (a run's, each sweep row's) and
/// shows the textbook Sharpe in the summaries. Old runs had daily or
/// resampled figures: their textbook values are the new defaults already
/// for daily data, and say what they are for intraday data.
pub(super) fn migrate_default_ratios(tx: &rusqlite::Transaction) -> rusqlite_migration::HookResult {
    use serde_json::Value;
    fn rename(m: &mut Value) {
        let Some(o) = m.as_object_mut() else { return };
        for (reference, textbook, default) in [
            ("sharpe_reference", "sharpe_textbook", "sharpe"),
            ("sortino_reference", "sortino_textbook", "sortino"),
            ("calmar_reference", "calmar_textbook", "calmar"),
            (
                "volatility_ann_reference_pct",
                "volatility_ann_textbook_pct",
                "volatility_ann_pct",
            ),
        ] {
            let old_default = o.remove(default).unwrap_or(Value::Null);
            let old_textbook = o.remove(textbook).unwrap_or(Value::Null);
            o.insert(reference.into(), old_default);
            o.insert(default.into(), old_textbook);
        }
        let periods = o.get("periods_per_year").cloned().unwrap_or(Value::Null);
        o.entry("bars_per_year").or_insert(periods);
    }
    let bad = |what: &str, id: i64, e: &serde_json::Error| {
        rusqlite_migration::HookError::Hook(format!("backtest {id}: {what} does not decode: {e}"))
    };
    type Stored = (i64, String, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Stored> = tx
        .prepare("SELECT id, spec, summary, metrics, sweep FROM backtests")?
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    for (id, spec, summary, metrics, sweep) in rows {
        let mut metrics: Option<Value> = metrics
            .map(|m| serde_json::from_str(&m).map_err(|e| bad("metrics", id, &e)))
            .transpose()?;
        if let Some(m) = metrics.as_mut() {
            rename(m);
        }
        let summary: Option<Value> = summary
            .map(|s| -> Result<Value, rusqlite_migration::HookError> {
                let mut s: Value = serde_json::from_str(&s).map_err(|e| bad("summary", id, &e))?;
                if let (Some(o), Some(m)) = (s.as_object_mut(), metrics.as_ref()) {
                    o.insert("sharpe".into(), m["sharpe"].clone());
                }
                Ok(s)
            })
            .transpose()?;
        let sweep: Option<Value> = sweep
            .map(|s| -> Result<Value, rusqlite_migration::HookError> {
                let mut rows: Vec<Value> =
                    serde_json::from_str(&s).map_err(|e| bad("sweep", id, &e))?;
                let spec: Value = serde_json::from_str(&spec).map_err(|e| bad("spec", id, &e))?;
                let rank_by = spec["rank_by"].as_str().unwrap_or("sharpe");
                for row in &mut rows {
                    if let Some(m) = row.get_mut("metrics") {
                        rename(m);
                        let score = m[rank_by].clone();
                        row["score"] = score;
                    }
                }
                // Ranked again by the renamed figure: best first, the
                // undefined last, ties as they stood.
                let key = |r: &Value| r["score"].as_f64();
                rows.sort_by(|a, b| match (key(a), key(b)) {
                    (Some(x), Some(y)) => y.total_cmp(&x),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                });
                Ok(Value::Array(rows))
            })
            .transpose()?;
        tx.execute(
            "UPDATE backtests SET summary = ?2, metrics = ?3, sweep = ?4 WHERE id = ?1",
            params![
                id,
                summary.map(|v| v.to_string()),
                metrics.map(|v| v.to_string()),
                sweep.map(|v| v.to_string()),
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::datasets::{decode, encode};
    use super::*;
    use tradedesk_core::strategy::Candle;

    #[test]
    fn bars_round_trip_through_chunks_and_ranges_cut_them() {
        let bars: Vec<Candle> = (0..70_000)
            .map(|i| Candle {
                time: Timestamp(i64::from(i) * 60_000),
                open: f64::from(i) + 0.25,
                high: f64::from(i) + 1.0,
                low: f64::from(i),
                close: f64::from(i) + 0.5,
                volume: 3.0,
            })
            .collect();
        let mut out = Vec::new();
        decode(bars.len(), &encode(&bars), &mut out).unwrap();
        assert_eq!(out, bars);
        assert!(decode(3, &[0u8; 10], &mut out).is_err());
    }
}
