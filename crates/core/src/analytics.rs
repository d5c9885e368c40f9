//! Performance analytics: one code path for backtests, paper and live
//! bots. In: an equity curve (one point per step), the closed trades, and
//! a benchmark price series on the same steps. Out: [`Metrics`].
//!
//! The definitions follow the reference semantics in
//! `../shared/reference/README.md` (backtesting.py's), and where the
//! textbook definition differs both are given, named `*_textbook`:
//!
//! - Periodic returns `r` are the equity resampled to the data's period
//!   (days; weeks, months or years for such data), last value of each, as
//!   simple returns. `N` periods per year: 252 for data without weekends,
//!   365 with, 52 weekly, 12 monthly, 1 yearly.
//! - The figures shown by default are the textbook ones, annualised by
//!   the data's own spacing: `N` = the periods per year above for data a
//!   day apart or more, and for intraday data the bars per year (365 days
//!   of bars around the clock for data that trades at weekends, else 252
//!   sessions of the bars the data has per day), over per-bar returns.
//!   Sharpe = mean(r)/std(r)·sqrt(N) (sample std), Sortino =
//!   mean(r)/sqrt(mean(min(r,0)^2))·sqrt(N), volatility (ann.) =
//!   std(r)·sqrt(N), Calmar = CAGR / max drawdown.
//! - The reference figures (`*_reference`, backtesting.py's, over the
//!   periodic returns): `g` is the geometric mean of `r`. Return (ann.) =
//!   `(1+g)^N - 1`; volatility (ann.) = `sqrt((var(r) + (1+g)^2)^N -
//!   (1+g)^(2N))`; Sharpe = return (ann.) / volatility (ann.); Sortino =
//!   return (ann.) / (sqrt(mean(min(r,0)^2)) · sqrt(N)); Calmar = return
//!   (ann.) / max drawdown. On intraday data a losing run's `(1+g)^N`
//!   nears zero and these explode (a Sharpe of −10^6): shown only labelled.
//! - Beta is the covariance of per-step log returns of equity and the
//!   benchmark over the benchmark's variance; alpha = return − beta · buy
//!   and hold return (both in percent).
//! - A drawdown period runs from a step at the running peak to the next
//!   step back at it (or to the end); its depth is its largest drawdown.
//! - Trades are closed round trips; their return is PnL (after fees) over
//!   entry value.

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

mod calendar;
pub use calendar::MonthReturn;
use curve::by_month;
mod curve;
pub use curve::{BenchSums, Curve};
mod stats;
use stats::{by_symbol, exposed_steps, finite, geometric_mean, mean, streaks, var};

mod round_trip;

pub use round_trip::{ClosedTrip, RoundTrip, Trip, round_trips, wins_and_losses};

const DAY_MS: i64 = 86_400_000;

/// A closed trade, as the analytics need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TradeFigures {
    pub symbol: crate::instrument::Symbol,
    pub entry_step: usize,
    pub exit_step: usize,
    pub entry_time: Timestamp,
    pub exit_time: Timestamp,
    /// Profit or loss after fees, in the quote currency.
    pub pnl: f64,
    /// PnL over the entry value.
    pub return_frac: f64,
    pub fees: f64,
}

/// Every figure of a run. `None` where a figure is undefined (no trades,
/// no variance, a single period).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Metrics {
    pub start: Timestamp,
    pub end: Timestamp,
    pub duration_ms: i64,
    pub steps: usize,
    pub periods_per_year: u32,
    pub exposure_pct: f64,
    pub initial_equity: f64,
    pub equity_final: f64,
    pub equity_peak: f64,
    /// Fees of the closed trades (as the reference counts them).
    pub commissions: f64,
    /// Every fee paid, open position included.
    pub total_fees: f64,
    pub return_pct: f64,
    pub buy_hold_return_pct: Option<f64>,
    /// The steps per year the default figures are annualised with (the
    /// data's own spacing; `periods_per_year` for daily data and above).
    pub bars_per_year: f64,
    /// The reference's annualised return (geometric, per period).
    pub return_ann_pct: Option<f64>,
    pub cagr_pct: Option<f64>,
    /// Textbook, annualised by `bars_per_year`: std(r)·sqrt(N).
    pub volatility_ann_pct: Option<f64>,
    /// Textbook, annualised by `bars_per_year`: mean(r)/std(r)·sqrt(N).
    pub sharpe: Option<f64>,
    /// Textbook, annualised by `bars_per_year`.
    pub sortino: Option<f64>,
    /// CAGR over the max drawdown.
    pub calmar: Option<f64>,
    /// backtesting.py's volatility (ann.), over periodic returns.
    pub volatility_ann_reference_pct: Option<f64>,
    /// backtesting.py's Sharpe: return (ann.) / volatility (ann.).
    pub sharpe_reference: Option<f64>,
    pub sortino_reference: Option<f64>,
    /// Return (ann.) over the max drawdown.
    pub calmar_reference: Option<f64>,
    pub alpha_pct: Option<f64>,
    pub beta: Option<f64>,
    /// Negative, as a percentage of the peak.
    pub max_drawdown_pct: f64,
    pub avg_drawdown_pct: Option<f64>,
    pub max_drawdown_duration_ms: Option<i64>,
    pub avg_drawdown_duration_ms: Option<i64>,
    pub trades: usize,
    pub win_rate_pct: Option<f64>,
    pub best_trade_pct: Option<f64>,
    pub worst_trade_pct: Option<f64>,
    /// Geometric mean of trade returns.
    pub avg_trade_pct: Option<f64>,
    pub avg_win_pct: Option<f64>,
    pub avg_loss_pct: Option<f64>,
    pub max_trade_duration_ms: Option<i64>,
    pub avg_trade_duration_ms: Option<i64>,
    pub profit_factor: Option<f64>,
    /// Mean trade return.
    pub expectancy_pct: Option<f64>,
    pub sqn: Option<f64>,
    pub kelly: Option<f64>,
    pub longest_win_streak: usize,
    pub longest_loss_streak: usize,
    pub by_month: Vec<MonthReturn>,
    pub by_symbol: Vec<SymbolFigures>,
}

impl Metrics {
    /// The names of the figures (for ranking by name).
    pub fn field_names() -> Vec<String> {
        let schema = schemars::schema_for!(Metrics).to_value();
        schema["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SymbolFigures {
    pub symbol: String,
    pub trades: usize,
    pub pnl: f64,
    pub win_rate_pct: Option<f64>,
    pub fees: f64,
}

/// What the metrics are computed from, as slices (the ledger's path);
/// a backtest feeds a [`Curve`] as it runs and calls [`finish`].
pub struct Input<'a> {
    pub times: &'a [Timestamp],
    pub equity: &'a [f64],
    /// The benchmark's close on each step (buy and hold, alpha, beta).
    pub benchmark: Option<&'a [f64]>,
    /// The first step a strategy could trade (after its warm-up).
    pub first_tradable: usize,
    pub trades: &'a [TradeFigures],
    pub total_fees: Decimal,
}

/// Computes every metric from slices.
pub fn compute(inp: &Input<'_>) -> Metrics {
    let n = inp.equity.len().min(inp.times.len());
    let mut c = Curve::new(inp.first_tradable, false);
    for i in 0..n {
        let b = inp
            .benchmark
            .and_then(|b| b.get(i).copied())
            .unwrap_or(f64::NAN);
        c.push(inp.times[i], inp.equity[i], b);
    }
    finish(c, inp.trades, inp.total_fees)
}

/// Computes every metric from a fed curve and the closed trades.
#[allow(clippy::too_many_lines)] // one definition per figure, in the order they are reported
pub fn finish(mut sc: Curve, trades: &[TradeFigures], total_fees: Decimal) -> Metrics {
    sc.finish();
    let n = sc.steps;
    let (start, initial) = sc.first.unwrap_or((Timestamp(0), 0.0));
    let (end, last) = sc.last;
    let duration_ms = end.millis() - start.millis();
    let (period, ppy) = sc.period(n);
    let ppy_f = f64::from(ppy);

    // Periodic returns of the resampled equity.
    let closes = sc.closes(period);
    let r: Vec<f64> = closes.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
    let g = geometric_mean(r.iter().copied());
    let ann = (1.0 + g).powf(ppy_f) - 1.0;
    let var_r = var(&r);
    let vol =
        var_r.map(|v| ((v + (1.0 + g).powi(2)).powf(ppy_f) - (1.0 + g).powf(2.0 * ppy_f)).sqrt());
    let downside = mean(r.iter().map(|x| x.min(0.0).powi(2))).map(f64::sqrt);
    // The default figures: per-period returns for daily data and above,
    // per-bar returns for intraday data, annualised by their own spacing.
    let bars_per_year = sc.bars_per_year(ppy);
    let (mean_r, std_r, down_r) = if sc.median_spacing_ms() < DAY_MS {
        sc.bars.moments()
    } else {
        (mean(r.iter().copied()), var_r.map(f64::sqrt), downside)
    };
    let root_n = bars_per_year.sqrt();

    let (max_dd, dd_periods) = (sc.max_dd, &sc.dd_periods);
    let years = duration_ms as f64 / DAY_MS as f64 / 365.25;

    let buy_hold = sc
        .bench_at_first_tradable
        .and_then(|first| finite((sc.prev_bench - first) / first * 100.0));
    let beta = sc.beta();
    // A curve starting at zero (a bot that held nothing) has no return:
    // 0, never NaN (which JSON cannot carry into a non-optional figure).
    let return_pct = finite((last - initial) / initial * 100.0).unwrap_or(0.0);

    // Trades.
    let nt = trades.len();
    let rets: Vec<f64> = trades.iter().map(|t| t.return_frac).collect();
    let pnls: Vec<f64> = trades.iter().map(|t| t.pnl).collect();
    let wins = pnls.iter().filter(|p| **p > 0.0).count();
    let win_rate = (nt > 0).then(|| wins as f64 / nt as f64);
    let avg_win_pnl = mean(pnls.iter().copied().filter(|p| *p > 0.0));
    let avg_loss_pnl = mean(pnls.iter().copied().filter(|p| *p < 0.0));
    let gains: f64 = rets.iter().filter(|r| **r > 0.0).sum();
    let losses: f64 = rets.iter().filter(|r| **r < 0.0).sum();
    let exposed = exposed_steps(trades, n);
    let durations: Vec<i64> = trades
        .iter()
        .map(|t| t.exit_time.millis() - t.entry_time.millis())
        .collect();
    let (win_streak, loss_streak) = streaks(trades);
    let commissions = trades.iter().map(|t| t.fees).sum();

    Metrics {
        start,
        end,
        duration_ms,
        steps: n,
        periods_per_year: ppy,
        exposure_pct: exposed as f64 / n.max(1) as f64 * 100.0,
        initial_equity: initial,
        equity_final: last,
        equity_peak: sc.peak,
        commissions,
        total_fees: rust_decimal::prelude::ToPrimitive::to_f64(&total_fees).unwrap_or(0.0),
        return_pct,
        buy_hold_return_pct: buy_hold,
        bars_per_year,
        return_ann_pct: finite(ann * 100.0),
        cagr_pct: (years > 0.0)
            .then(|| ((last / initial).powf(1.0 / years) - 1.0) * 100.0)
            .and_then(finite),
        volatility_ann_pct: std_r.and_then(|s| finite(s * root_n * 100.0)),
        sharpe: mean_r.zip(std_r).and_then(|(m, s)| finite(m / s * root_n)),
        sortino: mean_r.zip(down_r).and_then(|(m, d)| finite(m / d * root_n)),
        calmar: (max_dd > 0.0 && years > 0.0)
            .then(|| ((last / initial).powf(1.0 / years) - 1.0) / max_dd)
            .and_then(finite),
        volatility_ann_reference_pct: vol.and_then(|v| finite(v * 100.0)),
        sharpe_reference: vol.and_then(|v| finite(ann / v)),
        sortino_reference: downside.and_then(|d| finite(ann / (d * ppy_f.sqrt()))),
        calmar_reference: (max_dd > 0.0).then(|| ann / max_dd).and_then(finite),
        alpha_pct: beta
            .zip(buy_hold)
            .and_then(|(b, bh)| finite(return_pct - b * bh)),
        beta,
        max_drawdown_pct: -max_dd * 100.0,
        avg_drawdown_pct: mean(dd_periods.iter().map(|p| p.0)).map(|d| -d * 100.0),
        max_drawdown_duration_ms: dd_periods.iter().map(|p| p.1).max(),
        avg_drawdown_duration_ms: mean(dd_periods.iter().map(|p| p.1 as f64))
            .map(|d| d.round() as i64),
        trades: nt,
        win_rate_pct: win_rate.map(|w| w * 100.0),
        best_trade_pct: rets.iter().copied().reduce(f64::max).map(|r| r * 100.0),
        worst_trade_pct: rets.iter().copied().reduce(f64::min).map(|r| r * 100.0),
        avg_trade_pct: (nt > 0).then(|| geometric_mean(rets.iter().copied()) * 100.0),
        avg_win_pct: mean(rets.iter().copied().filter(|r| *r > 0.0)).map(|r| r * 100.0),
        avg_loss_pct: mean(rets.iter().copied().filter(|r| *r < 0.0)).map(|r| r * 100.0),
        max_trade_duration_ms: durations.iter().copied().max(),
        avg_trade_duration_ms: mean(durations.iter().map(|d| *d as f64)).map(|d| d.round() as i64),
        profit_factor: (losses < 0.0)
            .then(|| gains / losses.abs())
            .and_then(finite),
        expectancy_pct: mean(rets.iter().copied()).map(|r| r * 100.0),
        sqn: mean(pnls.iter().copied())
            .zip(var(&pnls).map(f64::sqrt))
            .and_then(|(m, s)| finite((nt as f64).sqrt() * m / s)),
        kelly: win_rate
            .zip(avg_win_pnl.zip(avg_loss_pnl))
            .and_then(|(w, (aw, al))| finite(w - (1.0 - w) / (aw / -al))),
        longest_win_streak: win_streak,
        longest_loss_streak: loss_streak,
        by_month: by_month(&sc, initial),
        by_symbol: by_symbol(trades),
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values on purpose
mod tests;
