//! The `backtest.run` and `backtest.sweep` jobs: load the datasets, run,
//! store the results.

use super::failed;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::store::backtests as db;
use rust_decimal::Decimal;
use tradedesk_core::analytics::Metrics;
use tradedesk_core::api::backtests::{BacktestSpec, Summary, SweepSpec};
use tradedesk_core::api::data::Dataset;
use tradedesk_core::backtest::{self, BacktestError, Keep, Leg, Market};
use tradedesk_core::instrument::Instrument;
use tradedesk_core::money::{Notional, Price, Qty};
use tradedesk_core::strategy::Candle;

use crate::context::Ctx;
use crate::services::jobs::{JobError, JobRun};

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

fn invalid(e: BacktestError) -> JobError {
    match e {
        BacktestError::Cancelled => JobError::Cancelled,
        // The same run fails the same way every time: no retry.
        e @ (BacktestError::Invalid { .. }
        | BacktestError::Overflow { .. }
        | BacktestError::Strategy { .. }) => JobError::Permanent(e.to_string()),
    }
}

/// The backtest or sweep a job runs: its id and spec.
fn job_spec<S: serde::de::DeserializeOwned>(
    run: &JobRun<'_>,
    id: u64,
) -> Result<(u64, S), JobError> {
    let caller = run.caller()?;
    let b = db::backtest(run.ctx.store().conn(), id)
        .map_err(failed)?
        .filter(|b| caller.sees(&b.owner))
        .ok_or_else(|| failed(format!("no backtest {id} (deleted, or not its owner's)")))?;
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
pub(crate) fn metrics_bytes(m: &Metrics) -> usize {
    m.by_month
        .len()
        .saturating_add(m.by_symbol.len())
        .saturating_mul(64)
        .saturating_add(2_048)
}

/// The `backtest.run` job.
pub(super) fn run_backtest(run: &JobRun<'_>, id: u64) -> Result<serde_json::Value, JobError> {
    let ctx = run.ctx;
    let (id, spec): (u64, BacktestSpec) = job_spec(run, id)?;
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
pub(super) fn run_sweep(run: &JobRun<'_>, id: u64) -> Result<serde_json::Value, JobError> {
    let ctx = run.ctx;
    let (id, spec): (u64, SweepSpec) = job_spec(run, id)?;
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
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("sweep-{i}"))
        .build()
        .map_err(failed)?;
    let rows = pool
        .install(|| {
            backtest::sweep(
                &ctx.bots.registry,
                &markets,
                &legs,
                &spec.backtest.settings,
                &spec.grid,
                &spec.rank_by,
                &progress,
            )
        })
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
