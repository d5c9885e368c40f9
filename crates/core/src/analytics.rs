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
//! - `g` is the geometric mean of `r`. Return (ann.) = `(1+g)^N - 1`; volatility (ann.) =
//!   `sqrt((var(r) + (1+g)^2)^N - (1+g)^(2N))`; Sharpe = return (ann.) /
//!   volatility (ann.); Sortino = return (ann.) / (sqrt(mean(min(r,0)^2))
//!   · sqrt(N)); Calmar = return (ann.) / max drawdown.
//! - Textbook: Sharpe = mean(r)/std(r)·sqrt(N), Sortino =
//!   mean(r)/sqrt(mean(min(r,0)^2))·sqrt(N), volatility = std(r)·sqrt(N).
//! - Beta is the covariance of per-step log returns of equity and the
//!   benchmark over the benchmark's variance; alpha = return − beta · buy
//!   and hold return (both in percent).
//! - A drawdown period runs from a step at the running peak to the next
//!   step back at it (or to the end); its depth is its largest drawdown.
//! - Trades are closed round trips; their return is PnL (after fees) over
//!   entry value.

use std::collections::BTreeMap;

use chrono::{Datelike, TimeZone, Utc};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

const DAY_MS: i64 = 86_400_000;

/// A closed trade, as the analytics need it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TradeFigures {
    pub symbol: String,
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
    pub return_ann_pct: Option<f64>,
    pub volatility_ann_pct: Option<f64>,
    pub cagr_pct: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub calmar: Option<f64>,
    pub volatility_ann_textbook_pct: Option<f64>,
    pub sharpe_textbook: Option<f64>,
    pub sortino_textbook: Option<f64>,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MonthReturn {
    /// `YYYY-MM`.
    pub month: String,
    pub return_pct: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SymbolFigures {
    pub symbol: String,
    pub trades: usize,
    pub pnl: f64,
    pub win_rate_pct: Option<f64>,
    pub fees: f64,
}

/// What the metrics are computed from.
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

fn utc(t: Timestamp) -> chrono::DateTime<Utc> {
    Utc.timestamp_millis_opt(t.millis())
        .single()
        .unwrap_or_default()
}

/// The resampling period of a series of bar times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Day,
    Week,
    Month,
    Year,
}

impl Period {
    fn key(self, t: Timestamp) -> i64 {
        let days = t.millis().div_euclid(DAY_MS);
        match self {
            Period::Day => days,
            // 1970-01-01 was a Thursday: +3 starts weeks on Monday.
            Period::Week => (days + 3).div_euclid(7),
            Period::Month => {
                let d = utc(t);
                i64::from(d.year()) * 12 + i64::from(d.month0())
            }
            Period::Year => i64::from(utc(t).year()),
        }
    }
}

/// The period and periods per year of bar times, as the reference finds
/// them: the median spacing in whole days (7 weekly, 31 monthly, 365
/// yearly), else days, 365 a year when more than 60 % of the weekend
/// share of days hold bars, else 252.
fn period_of(times: &[Timestamp]) -> (Period, u32) {
    let mut gaps: Vec<i64> = times
        .windows(2)
        .map(|w| w[1].millis() - w[0].millis())
        .collect();
    let median = if gaps.is_empty() {
        0
    } else {
        let mid = gaps.len() / 2;
        let (_, m, _) = gaps.select_nth_unstable(mid);
        let m = *m;
        if gaps.len().is_multiple_of(2) {
            let lower = *gaps[..mid].iter().max().unwrap_or(&m);
            i64::midpoint(lower, m)
        } else {
            m
        }
    };
    match median.div_euclid(DAY_MS) {
        7 => (Period::Week, 52),
        31 => (Period::Month, 12),
        365 => (Period::Year, 1),
        _ => {
            let weekend = times
                .iter()
                .filter(|t| utc(**t).weekday().number_from_monday() >= 6)
                .count();
            let share = weekend as f64 / times.len().max(1) as f64;
            (Period::Day, if share > 2.0 / 7.0 * 0.6 { 365 } else { 252 })
        }
    }
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut s, mut n) = (0.0, 0usize);
    for x in v {
        s += x;
        n += 1;
    }
    (n > 0).then(|| s / n as f64)
}

/// Sample variance (n − 1).
fn var(v: &[f64]) -> Option<f64> {
    if v.len() < 2 {
        return None;
    }
    let m = mean(v.iter().copied())?;
    Some(v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64)
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Geometric mean of returns, 0 when any return loses everything.
fn geometric_mean(r: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for x in r {
        if 1.0 + x <= 0.0 {
            return 0.0;
        }
        s += (1.0 + x).ln();
        n += 1;
    }
    if n == 0 {
        0.0
    } else {
        (s / n as f64).exp() - 1.0
    }
}

/// Log returns' covariance over the benchmark's variance.
#[allow(clippy::float_cmp)] // exact on purpose: an unchanged value's log return is 0
fn beta(equity: &[f64], bench: &[f64]) -> Option<f64> {
    let n = equity.len().min(bench.len());
    if n < 3 {
        return None;
    }
    // Two passes over n-1 returns; ln is skipped where equity did not move.
    let lr = |v: &[f64], i: usize| {
        let (a, b) = (v[i - 1], v[i]);
        if a == b { 0.0 } else { (b / a).ln() }
    };
    let m = (n - 1) as f64;
    let (mut se, mut sb) = (0.0, 0.0);
    for i in 1..n {
        se += lr(equity, i);
        sb += lr(bench, i);
    }
    let (me, mb) = (se / m, sb / m);
    let (mut cov, mut vb) = (0.0, 0.0);
    for i in 1..n {
        let (e, b) = (lr(equity, i) - me, lr(bench, i) - mb);
        cov += e * b;
        vb += b * b;
    }
    finite(cov / vb)
}

/// Drawdown: the deepest (as a fraction), and each period's depth and
/// duration (from the step at the peak to the step back at it, or the end).
fn drawdowns(times: &[Timestamp], equity: &[f64]) -> (f64, Vec<(f64, i64)>) {
    let mut peak = f64::NEG_INFINITY;
    let mut max_dd: f64 = 0.0;
    let mut periods = Vec::new();
    let mut last_zero = 0usize;
    let mut depth: f64 = 0.0;
    for (i, &e) in equity.iter().enumerate() {
        peak = peak.max(e);
        let dd = 1.0 - e / peak;
        max_dd = max_dd.max(dd);
        if dd == 0.0 {
            if i > last_zero + 1 {
                periods.push((depth, times[i].millis() - times[last_zero].millis()));
            }
            last_zero = i;
            depth = 0.0;
        } else {
            depth = depth.max(dd);
        }
    }
    let last = equity.len().saturating_sub(1);
    if !equity.is_empty() && last > last_zero + 1 {
        periods.push((depth, times[last].millis() - times[last_zero].millis()));
    }
    (max_dd, periods)
}

fn streaks(trades: &[TradeFigures]) -> (usize, usize) {
    let (mut win, mut loss, mut w, mut l) = (0, 0, 0, 0);
    for t in trades {
        if t.pnl > 0.0 {
            w += 1;
            l = 0;
        } else {
            l += 1;
            w = 0;
        }
        win = usize::max(win, w);
        loss = usize::max(loss, l);
    }
    (win, loss)
}

fn by_month(times: &[Timestamp], equity: &[f64], initial: f64) -> Vec<MonthReturn> {
    let mut out = Vec::new();
    let mut prev_end = initial;
    let mut i = 0;
    while i < equity.len() {
        let key = Period::Month.key(times[i]);
        let mut j = i;
        while j + 1 < equity.len() && Period::Month.key(times[j + 1]) == key {
            j += 1;
        }
        let d = utc(times[i]);
        out.push(MonthReturn {
            month: format!("{:04}-{:02}", d.year(), d.month()),
            return_pct: (equity[j] / prev_end - 1.0) * 100.0,
        });
        prev_end = equity[j];
        i = j + 1;
    }
    out
}

fn by_symbol(trades: &[TradeFigures]) -> Vec<SymbolFigures> {
    let mut m: BTreeMap<&str, (usize, f64, usize, f64)> = BTreeMap::new();
    for t in trades {
        let e = m.entry(&t.symbol).or_default();
        e.0 += 1;
        e.1 += t.pnl;
        e.2 += usize::from(t.pnl > 0.0);
        e.3 += t.fees;
    }
    m.into_iter()
        .map(|(s, (n, pnl, wins, fees))| SymbolFigures {
            symbol: s.to_owned(),
            trades: n,
            pnl,
            win_rate_pct: (n > 0).then(|| wins as f64 / n as f64 * 100.0),
            fees,
        })
        .collect()
}

/// Computes every metric. `times` and `equity` must be of equal, non-zero
/// length (the caller checks; an empty run has no metrics).
#[allow(clippy::too_many_lines)] // one definition per figure, in the order they are reported
pub fn compute(inp: &Input<'_>) -> Metrics {
    let (times, equity) = (inp.times, inp.equity);
    let n = equity.len().min(times.len());
    let (times, equity) = (&times[..n], &equity[..n]);
    let start = times.first().copied().unwrap_or(Timestamp(0));
    let end = times.last().copied().unwrap_or(Timestamp(0));
    let initial = equity.first().copied().unwrap_or(0.0);
    let last = equity.last().copied().unwrap_or(0.0);
    let duration_ms = end.millis() - start.millis();
    let (period, ppy) = period_of(times);
    let ppy_f = f64::from(ppy);

    // Periodic returns of the resampled equity.
    let mut closes: Vec<f64> = Vec::new();
    let mut key = None;
    for (t, e) in times.iter().zip(equity) {
        let k = period.key(*t);
        if key == Some(k) {
            if let Some(c) = closes.last_mut() {
                *c = *e;
            }
        } else {
            closes.push(*e);
            key = Some(k);
        }
    }
    let r: Vec<f64> = closes.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
    let g = geometric_mean(r.iter().copied());
    let ann = (1.0 + g).powf(ppy_f) - 1.0;
    let var_r = var(&r);
    let vol =
        var_r.map(|v| ((v + (1.0 + g).powi(2)).powf(ppy_f) - (1.0 + g).powf(2.0 * ppy_f)).sqrt());
    let downside = mean(r.iter().map(|x| x.min(0.0).powi(2))).map(f64::sqrt);
    let mean_r = mean(r.iter().copied());
    let std_r = var_r.map(f64::sqrt);

    let (max_dd, dd_periods) = drawdowns(times, equity);
    let years = duration_ms as f64 / DAY_MS as f64 / 365.25;

    let buy_hold = inp.benchmark.and_then(|b| {
        let first = *b.get(inp.first_tradable)?;
        let last = *b.last()?;
        finite((last - first) / first * 100.0)
    });
    let beta = inp.benchmark.and_then(|b| beta(equity, b));
    let return_pct = (last - initial) / initial * 100.0;

    // Trades.
    let trades = inp.trades;
    let nt = trades.len();
    let rets: Vec<f64> = trades.iter().map(|t| t.return_frac).collect();
    let pnls: Vec<f64> = trades.iter().map(|t| t.pnl).collect();
    let wins = pnls.iter().filter(|p| **p > 0.0).count();
    let win_rate = (nt > 0).then(|| wins as f64 / nt as f64);
    let avg_win_pnl = mean(pnls.iter().copied().filter(|p| *p > 0.0));
    let avg_loss_pnl = mean(pnls.iter().copied().filter(|p| *p < 0.0));
    let gains: f64 = rets.iter().filter(|r| **r > 0.0).sum();
    let losses: f64 = rets.iter().filter(|r| **r < 0.0).sum();
    let mut exposed = vec![false; n];
    for t in trades {
        for e in exposed
            .iter_mut()
            .take(t.exit_step.min(n.saturating_sub(1)) + 1)
            .skip(t.entry_step)
        {
            *e = true;
        }
    }
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
        exposure_pct: exposed.iter().filter(|e| **e).count() as f64 / n.max(1) as f64 * 100.0,
        initial_equity: initial,
        equity_final: last,
        equity_peak: equity.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        commissions,
        total_fees: rust_decimal::prelude::ToPrimitive::to_f64(&inp.total_fees).unwrap_or(0.0),
        return_pct,
        buy_hold_return_pct: buy_hold,
        return_ann_pct: finite(ann * 100.0),
        volatility_ann_pct: vol.and_then(|v| finite(v * 100.0)),
        cagr_pct: (years > 0.0)
            .then(|| ((last / initial).powf(1.0 / years) - 1.0) * 100.0)
            .and_then(finite),
        sharpe: vol.and_then(|v| finite(ann / v)),
        sortino: downside.and_then(|d| finite(ann / (d * ppy_f.sqrt()))),
        calmar: (max_dd > 0.0).then(|| ann / max_dd).and_then(finite),
        volatility_ann_textbook_pct: std_r.and_then(|s| finite(s * ppy_f.sqrt() * 100.0)),
        sharpe_textbook: mean_r
            .zip(std_r)
            .and_then(|(m, s)| finite(m / s * ppy_f.sqrt())),
        sortino_textbook: mean_r
            .zip(downside)
            .and_then(|(m, d)| finite(m / d * ppy_f.sqrt())),
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
        by_month: by_month(times, equity, initial),
        by_symbol: by_symbol(trades),
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values on purpose
mod tests {
    use super::*;

    fn days(n: usize) -> Vec<Timestamp> {
        // Mondays to Fridays from Monday 2024-01-01.
        let mut out = Vec::new();
        let mut d = 19_723_i64; // 2024-01-01
        while out.len() < n {
            let wd = (d + 3).rem_euclid(7); // 0 = Monday
            if wd < 5 {
                out.push(Timestamp(d * DAY_MS));
            }
            d += 1;
        }
        out
    }

    #[test]
    fn drawdown_periods_run_from_peak_to_recovery() {
        let t = days(7);
        let e = [100.0, 110.0, 99.0, 105.0, 110.0, 120.0, 108.0];
        let (max, periods) = drawdowns(&t, &e);
        assert!((max - 0.1).abs() < 1e-12);
        // 110 -> 99 -> 105 -> 110: one period from step 1 to 4. The last
        // step's dip is the deepest, but a dip of the last step alone is
        // no period (as the reference counts them).
        assert_eq!(periods.len(), 1);
        assert!((periods[0].0 - 0.1).abs() < 1e-12);
        assert_eq!(periods[0].1, t[4].millis() - t[1].millis());
        let (_, open) = drawdowns(&t[..6], &[100.0, 110.0, 99.0, 105.0, 110.0, 100.0]);
        assert_eq!(open.len(), 1);
        let (_, open) = drawdowns(&t, &[100.0, 110.0, 99.0, 110.0, 100.0, 104.0, 105.0]);
        // 110 at step 3, below it to the end: an open period to the last step.
        assert_eq!(open.len(), 2);
        assert_eq!(open[1].1, t[6].millis() - t[3].millis());
    }

    #[test]
    fn weekday_data_has_252_periods_a_year_and_weekly_52() {
        assert_eq!(period_of(&days(30)).1, 252);
        let weekly: Vec<Timestamp> = (0..30).map(|i| Timestamp(i * 7 * DAY_MS)).collect();
        assert_eq!(period_of(&weekly), (Period::Week, 52));
        let every_day: Vec<Timestamp> = (0..30).map(|i| Timestamp(i * DAY_MS)).collect();
        assert_eq!(period_of(&every_day).1, 365);
    }

    #[test]
    fn a_flat_run_has_no_ratios_and_no_panic() {
        let t = days(5);
        let e = [100.0; 5];
        let m = compute(&Input {
            times: &t,
            equity: &e,
            benchmark: None,
            first_tradable: 0,
            trades: &[],
            total_fees: Decimal::ZERO,
        });
        assert_eq!(m.return_pct, 0.0);
        assert_eq!(m.sharpe, None);
        assert_eq!(m.trades, 0);
        assert_eq!(m.win_rate_pct, None);
        assert_eq!(m.max_drawdown_pct, 0.0);
        assert!(serde_json::to_string(&m).is_ok());
    }
}
