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

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

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

/// The resampling period of a series of bar times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Day,
    Week,
    Month,
    Year,
}

/// The civil (proleptic Gregorian) year and month (1–12) of a day
/// number counted from 1970-01-01 (Howard Hinnant's `civil_from_days`);
/// integer arithmetic only, as it runs once per bar.
fn year_month(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// Monday 0 … Sunday 6 (1970-01-01 was a Thursday).
fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7)
}

impl Period {
    fn key(self, t: Timestamp) -> i64 {
        let days = t.millis().div_euclid(DAY_MS);
        match self {
            Period::Day => days,
            // +3 starts weeks on Monday.
            Period::Week => (days + 3).div_euclid(7),
            Period::Month => {
                let (y, m) = year_month(days);
                y * 12 + m - 1
            }
            Period::Year => year_month(days).0,
        }
    }
}

/// An equity curve, fed one step at a time: everything the metrics need
/// from it, gathered without keeping the curve (a sweep's runs keep
/// nothing per step). Everything per period is derived from the days.
#[derive(Debug, Clone)]
pub struct Curve {
    /// Each calendar day's last equity: (day number, equity).
    days: Vec<(i64, f64)>,
    /// Spacings between steps in ms, and how many there are of each
    /// (bar data has few: its spacing and the multiples gaps make).
    spacing: BTreeMap<i64, usize>,
    weekend_steps: usize,
    max_dd: f64,
    /// Each drawdown period's depth and duration: a period runs from a
    /// step at the running peak to the next step back at it (or to the
    /// last step); a dip of the last step alone is none, as the reference
    /// counts them.
    dd_periods: Vec<(f64, i64)>,
    peak: f64,
    steps: usize,
    first: Option<(Timestamp, f64)>,
    last: (Timestamp, f64),
    /// The current day's span in ms, `[start, end)`: most steps fall in
    /// it and need no division to find their day.
    day_span: (i64, i64),
    weekend: bool,
    /// The spacing seen most recently, counted in a run (regular data has
    /// one spacing: the map is touched once per change, not per step).
    run: Option<(i64, usize)>,
    last_zero: (usize, i64),
    /// The lowest equity since the running peak.
    trough: f64,
    // Beta: sums of log returns of equity and the benchmark.
    bench: BenchSums,
    /// The benchmark's own sums were given whole (a dataset's, computed
    /// once): only steps where equity moved add to the products.
    bench_given: bool,
    prev_bench: f64,
    /// 1 / the previous benchmark price and 1 / the last equity, worked
    /// out ahead so a step's log returns need no division of their own.
    inv_bench: f64,
    inv_e: f64,
    se: f64,
    seb: f64,
    /// Per-step simple returns: the textbook figures of intraday data.
    bars: BarSums,
    first_tradable: usize,
    bench_at_first_tradable: Option<f64>,
}

/// A benchmark's log-return sums over a run's steps: Σb, Σb², and the
/// number of returns.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BenchSums {
    pub sum: f64,
    pub sum_sq: f64,
    pub n: usize,
}

impl BenchSums {
    /// The sums of bars' closes, four lanes at a time (the compiler keeps
    /// the lanes in vector registers; a run's benchmark costs a fraction
    /// of a step-by-step pass).
    pub fn of_bars(bars: &[crate::strategy::Candle]) -> BenchSums {
        const SMALL: f64 = 1.0 / 1024.0;
        let n = bars.len();
        let (mut s, mut q) = ([0.0_f64; 4], [0.0_f64; 4]);
        let mut i = 1;
        while i + 4 <= n {
            let mut x = [0.0_f64; 4];
            for (l, x) in x.iter_mut().enumerate() {
                let (a, b) = (bars[i + l - 1].close, bars[i + l].close);
                *x = (b - a) / a;
            }
            let small = x.iter().all(|v| v.abs() < SMALL);
            for l in 0..4 {
                let r = if small {
                    series(x[l])
                } else {
                    log_return(bars[i + l - 1].close, bars[i + l].close)
                };
                s[l] += r;
                q[l] += r * r;
            }
            i += 4;
        }
        while i < n {
            let r = log_return(bars[i - 1].close, bars[i].close);
            s[0] += r;
            q[0] += r * r;
            i += 1;
        }
        BenchSums {
            sum: (s[0] + s[1]) + (s[2] + s[3]),
            sum_sq: (q[0] + q[1]) + (q[2] + q[3]),
            n: n.saturating_sub(1),
        }
    }

    /// The sums of a price series (one per step).
    pub fn of(prices: impl Iterator<Item = f64>) -> BenchSums {
        let mut out = BenchSums::default();
        let mut prev = None;
        for p in prices {
            if let Some(a) = prev {
                let b = log_return(a, p);
                out.sum += b;
                out.sum_sq += b * b;
                out.n += 1;
            }
            prev = Some(p);
        }
        out
    }
}

impl Curve {
    /// `first_tradable`: the first step a strategy could act on (buy and
    /// hold is measured from there). `bench_given`: the benchmark's own
    /// sums for exactly these steps will be given ([`Curve::give_bench`],
    /// before [`finish`]); else each step's benchmark price is folded in
    /// as it comes.
    pub fn new(first_tradable: usize, bench_given: bool) -> Curve {
        Curve {
            days: Vec::new(),
            spacing: BTreeMap::new(),
            weekend_steps: 0,
            max_dd: 0.0,
            dd_periods: Vec::new(),
            peak: f64::NEG_INFINITY,
            steps: 0,
            first: None,
            last: (Timestamp(0), 0.0),
            day_span: (0, 0),
            weekend: false,
            run: None,
            last_zero: (0, 0),
            trough: f64::INFINITY,
            bench_given,
            bench: BenchSums::default(),
            prev_bench: f64::NAN,
            inv_bench: f64::NAN,
            inv_e: f64::NAN,
            se: 0.0,
            seb: 0.0,
            bars: BarSums::default(),
            first_tradable,
            bench_at_first_tradable: None,
        }
    }

    /// One step: its time, equity, and the benchmark's price (NaN when
    /// there is none).
    #[inline]
    #[allow(clippy::float_cmp)] // exact on purpose: unchanged equity has a zero log return
    pub fn push(&mut self, time: Timestamp, e: f64, bench: f64) {
        let t = time.millis();
        let i = self.steps;
        self.steps += 1;
        if t >= self.day_span.0 && t < self.day_span.1 {
            if let Some(last) = self.days.last_mut() {
                last.1 = e;
            }
        } else {
            let d = t.div_euclid(DAY_MS);
            self.day_span = (d * DAY_MS, (d + 1) * DAY_MS);
            self.weekend = weekday(d) >= 5;
            self.days.push((d, e));
        }
        self.weekend_steps += usize::from(self.weekend);
        let prev_e = self.last.1;
        if self.first.is_some() {
            let gap = t - self.last.0.millis();
            match &mut self.run {
                Some((g, n)) if *g == gap => *n += 1,
                _ => {
                    if let Some((g, n)) = self.run.take() {
                        add_spacing(&mut self.spacing, g, n);
                    }
                    self.run = Some((gap, 1));
                }
            }
            // Beta's sums, and the per-step returns' (an unmoved step adds
            // a zero return: only the count).
            let moved = prev_e != e;
            self.bars.n += 1;
            if self.bench_given {
                if moved {
                    let r = (e - prev_e) * self.inv_e;
                    self.bars.add(r);
                    let b = log1p_of((bench - self.prev_bench) * self.inv_bench);
                    let lr = log1p_of(r);
                    self.se += lr;
                    self.seb += lr * b;
                }
            } else {
                let b = log1p_of((bench - self.prev_bench) * self.inv_bench);
                self.bench.sum += b;
                self.bench.sum_sq += b * b;
                self.bench.n += 1;
                if moved {
                    let r = (e - prev_e) * self.inv_e;
                    self.bars.add(r);
                    let lr = log1p_of(r);
                    self.se += lr;
                    self.seb += lr * b;
                }
            }
            if moved {
                self.inv_e = 1.0 / e;
            }
        } else {
            self.first = Some((time, e));
            self.inv_e = 1.0 / e;
        }
        self.inv_bench = 1.0 / bench;
        if i == self.first_tradable {
            self.bench_at_first_tradable = Some(bench);
        }
        self.prev_bench = bench;
        self.last = (time, e);
        // Drawdown: 1 - equity / running peak is 0 exactly at a peak; a
        // period's depth is its trough's (no division per step).
        if e >= self.peak {
            self.close_period(i, t);
            self.peak = e;
            self.trough = e;
            self.last_zero = (i, t);
        } else {
            self.trough = self.trough.min(e);
        }
    }

    /// The benchmark's own sums, when `new` was told they would be given.
    pub fn give_bench(&mut self, sums: BenchSums) {
        debug_assert!(self.bench_given, "the curve folds its own benchmark in");
        if self.bench_given {
            self.bench = sums;
        }
    }

    /// Ends the drawdown period running up to step `i` (a period needs a
    /// step between its peaks to count; every dip counts for the maximum).
    fn close_period(&mut self, i: usize, t: i64) {
        if self.trough < self.peak {
            let depth = 1.0 - self.trough / self.peak;
            self.max_dd = self.max_dd.max(depth);
            if i > self.last_zero.0 + 1 {
                self.dd_periods.push((depth, t - self.last_zero.1));
            }
        }
    }

    /// Closes the books: the last spacing run, an open drawdown period.
    fn finish(&mut self) {
        if let Some((g, n)) = self.run.take() {
            add_spacing(&mut self.spacing, g, n);
        }
        if self.steps > 0 {
            // The open period runs to the last step.
            let last = self.steps - 1;
            self.close_period(last, self.last.0.millis());
            self.trough = self.peak;
            self.last_zero = (last, self.last.0.millis());
        }
    }

    fn beta(&self) -> Option<f64> {
        let m = self.bench.n as f64;
        if self.bench.n < 2 {
            return None;
        }
        let cov = self.seb - self.se * self.bench.sum / m;
        let var_b = self.bench.sum_sq - self.bench.sum * self.bench.sum / m;
        finite(cov / var_b)
    }
}

fn add_spacing(m: &mut BTreeMap<i64, usize>, gap: i64, n: usize) {
    *m.entry(gap).or_insert(0) += n;
}

/// Sums of per-step simple returns: count (every step after the first),
/// Σr, Σr², and Σ of the squared losing returns.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct BarSums {
    n: usize,
    sum: f64,
    sum_sq: f64,
    down_sq: f64,
}

impl BarSums {
    #[inline]
    fn add(&mut self, r: f64) {
        let sq = r * r;
        self.sum += r;
        self.sum_sq += sq;
        if r < 0.0 {
            self.down_sq += sq;
        }
    }

    /// Mean, sample standard deviation (n − 1) and downside deviation.
    fn moments(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
        let n = self.n as f64;
        let mean = (self.n > 0).then(|| self.sum / n);
        // Σ(r − m)² = Σr² − (Σr)²/n; never below zero for rounding's sake.
        let std = (self.n > 1).then(|| {
            ((self.sum_sq - self.sum * self.sum / n) / (n - 1.0))
                .max(0.0)
                .sqrt()
        });
        let down = (self.n > 0).then(|| (self.down_sq / n).sqrt());
        (mean, std, down)
    }
}

impl Curve {
    /// The median spacing of the steps in ms, as the reference finds it
    /// (the median of the spacings, the mean of the two middle ones when
    /// even); 0 for fewer than two steps.
    fn median_spacing_ms(&self) -> i64 {
        let total: usize = self.spacing.values().sum();
        if total == 0 {
            return 0;
        }
        let at = |k: usize| {
            let mut seen = 0;
            for (gap, n) in &self.spacing {
                seen += n;
                if k < seen {
                    return *gap;
                }
            }
            0
        };
        if total % 2 == 1 {
            return at(total / 2);
        }
        i64::midpoint(at(total / 2 - 1), at(total / 2))
    }

    /// The median spacing in whole days (the reference's resampling).
    fn median_days(&self) -> i64 {
        self.median_spacing_ms().div_euclid(DAY_MS)
    }

    /// The steps per year the default (textbook) figures are annualised
    /// with: for data a day apart or more, the periods per year of the
    /// resampling; for intraday data, from the bars' own spacing: a year of
    /// bars around the clock (365 days of them) when the data trades at
    /// weekends, else 252 sessions of the bars the data has per day.
    fn bars_per_year(&self, ppy: u32) -> f64 {
        let gap = self.median_spacing_ms();
        if gap <= 0 || gap >= DAY_MS {
            return f64::from(ppy);
        }
        if ppy == 365 {
            365.0 * DAY_MS as f64 / gap as f64
        } else {
            let per_day = self.steps as f64 / self.days.len().max(1) as f64;
            252.0 * per_day.max(1.0)
        }
    }

    /// The period and periods per year: 7 days weekly, 31 monthly, 365
    /// yearly, else days, 365 a year when more than 60 % of the weekend
    /// share of steps fall on weekends, else 252.
    fn period(&self, steps: usize) -> (Period, u32) {
        match self.median_days() {
            7 => (Period::Week, 52),
            31 => (Period::Month, 12),
            365 => (Period::Year, 1),
            _ => {
                let share = self.weekend_steps as f64 / steps.max(1) as f64;
                (Period::Day, if share > 2.0 / 7.0 * 0.6 { 365 } else { 252 })
            }
        }
    }

    /// The last equity of each period, in order.
    fn closes(&self, period: Period) -> Vec<f64> {
        let mut out: Vec<f64> = Vec::with_capacity(self.days.len());
        let mut key = None;
        for &(d, e) in &self.days {
            let k = period.key(Timestamp(d * DAY_MS));
            if key == Some(k) {
                if let Some(c) = out.last_mut() {
                    *c = e;
                }
            } else {
                out.push(e);
                key = Some(k);
            }
        }
        out
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

/// `ln(b / a)`, by its series when the step is small (the common case,
/// several times faster than `ln` and as exact to 1e-16).
#[inline]
fn log_return(a: f64, b: f64) -> f64 {
    log1p_of((b - a) / a)
}

/// ln(1 + x): the series for small x (exact to the last bit or two, and
/// far cheaper than `ln_1p`), else `ln_1p`.
#[inline]
fn log1p_of(x: f64) -> f64 {
    if x.abs() < 1.0 / 1024.0 {
        series(x)
    } else {
        x.ln_1p()
    }
}

/// `ln(1 + x)` for |x| < 2^-10: x - x²/2 + x³/3 - x⁴/4 + x⁵/5 - x⁶/6; the
/// next term is < 2^-70.
#[inline]
fn series(x: f64) -> f64 {
    // Multiplications only: a division here would sit on every step's
    // critical path.
    const THIRD: f64 = 1.0 / 3.0;
    const SIXTH: f64 = 1.0 / 6.0;
    let x2 = x * x;
    x - x2 * (0.5 - x * (THIRD - x * (0.25 - x * (0.2 - x * SIXTH))))
}

/// Steps inside some trade (entry to exit step, both included).
fn exposed_steps(trades: &[TradeFigures], n: usize) -> usize {
    let mut spans: Vec<(usize, usize)> = trades
        .iter()
        .filter(|t| t.entry_step < n)
        .map(|t| (t.entry_step, t.exit_step.min(n - 1)))
        .collect();
    spans.sort_unstable();
    let (mut total, mut end) = (0usize, None::<usize>);
    for (a, b) in spans {
        let from = end.map_or(a, |e| a.max(e + 1));
        if b >= from {
            total += b - from + 1;
        }
        end = Some(end.map_or(b, |e| e.max(b)));
    }
    total
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

fn by_month(sc: &Curve, initial: f64) -> Vec<MonthReturn> {
    let mut out = Vec::new();
    let mut prev_end = initial;
    let mut i = 0;
    let days = &sc.days;
    while i < days.len() {
        let key = Period::Month.key(Timestamp(days[i].0 * DAY_MS));
        let mut j = i;
        while j + 1 < days.len() && Period::Month.key(Timestamp(days[j + 1].0 * DAY_MS)) == key {
            j += 1;
        }
        let (y, m) = (key.div_euclid(12), key.rem_euclid(12) + 1);
        out.push(MonthReturn {
            month: format!("{y:04}-{m:02}"),
            return_pct: finite((days[j].1 / prev_end - 1.0) * 100.0).unwrap_or(0.0),
        });
        prev_end = days[j].1;
        i = j + 1;
    }
    out
}

fn by_symbol(trades: &[TradeFigures]) -> Vec<SymbolFigures> {
    let mut m: BTreeMap<&str, (usize, f64, usize, f64)> = BTreeMap::new();
    for t in trades {
        let e = m.entry(t.symbol.as_str()).or_default();
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
mod tests {
    use super::*;
    use crate::money::Price;
    use crate::order::Side;

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

    fn scan(t: &[Timestamp], e: &[f64]) -> Curve {
        let mut c = Curve::new(0, false);
        for (t, e) in t.iter().zip(e) {
            c.push(*t, *e, f64::NAN);
        }
        c.finish();
        c
    }

    fn drawdowns(t: &[Timestamp], e: &[f64]) -> (f64, Vec<(f64, i64)>) {
        let s = scan(t, e);
        (s.max_dd, s.dd_periods)
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
    fn calendar_arithmetic_agrees_with_chrono() {
        use chrono::Datelike;
        for days in (-800_000..800_000).step_by(997) {
            let d = chrono::DateTime::from_timestamp(days * 86_400, 0).unwrap();
            assert_eq!(
                year_month(days),
                (i64::from(d.year()), i64::from(d.month())),
                "{days}"
            );
            assert_eq!(weekday(days), i64::from(d.weekday().num_days_from_monday()));
        }
    }

    #[test]
    fn bench_sums_in_lanes_match_step_by_step() {
        let bars: Vec<crate::strategy::Candle> = (0..1003)
            .map(|i| {
                let close =
                    100.0 + 10.0 * (f64::from(i) / 7.0).sin() + if i == 500 { 30.0 } else { 0.0 };
                crate::strategy::Candle {
                    time: Timestamp(i64::from(i)),
                    open: close,
                    high: close,
                    low: close,
                    close,
                    volume: 0.0,
                }
            })
            .collect();
        let lanes = BenchSums::of_bars(&bars);
        let steps = BenchSums::of(bars.iter().map(|b| b.close));
        assert_eq!(lanes.n, steps.n);
        assert!((lanes.sum - steps.sum).abs() < 1e-12, "{lanes:?} {steps:?}");
        assert!(
            (lanes.sum_sq - steps.sum_sq).abs() < 1e-12,
            "{lanes:?} {steps:?}"
        );
    }

    #[test]
    fn series_log_returns_match_ln() {
        for (a, b) in [
            (100.0_f64, 100.01_f64),
            (100.0, 99.99),
            (1.0, 1.0009),
            (3.0, 7.0),
            (5.0, 1.0),
        ] {
            let want = (b / a).ln();
            // ln(b / a) itself carries the rounding of b / a: ~1e-16 absolute.
            assert!((log_return(a, b) - want).abs() <= 1e-15, "{a} {b}");
        }
    }

    #[test]
    fn overlapping_trades_count_their_steps_once() {
        let t = |a, b| TradeFigures {
            symbol: "XY".parse().unwrap(),
            entry_step: a,
            exit_step: b,
            entry_time: Timestamp(0),
            exit_time: Timestamp(0),
            pnl: 0.0,
            return_frac: 0.0,
            fees: 0.0,
        };
        assert_eq!(
            exposed_steps(&[t(2, 5), t(4, 8), t(10, 10), t(12, 99)], 15),
            4 + 3 + 1 + 3
        );
    }

    #[test]
    fn weekday_data_has_252_periods_a_year_and_weekly_52() {
        let period = |t: &[Timestamp]| scan(t, &vec![1.0; t.len()]).period(t.len());
        assert_eq!(period(&days(30)).1, 252);
        let weekly: Vec<Timestamp> = (0..30).map(|i| Timestamp(i * 7 * DAY_MS)).collect();
        assert_eq!(period(&weekly), (Period::Week, 52));
        let every_day: Vec<Timestamp> = (0..30).map(|i| Timestamp(i * DAY_MS)).collect();
        assert_eq!(period(&every_day).1, 365);
        // Even count, middles in different buckets: 1 day and 61 days
        // average to 31 days: monthly.
        let t = [0, DAY_MS, 62 * DAY_MS].map(Timestamp);
        assert_eq!(period(&t), (Period::Month, 12));
    }

    #[test]
    fn a_round_trip_runs_from_flat_to_flat_at_average_prices() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let p = |s: &str| s.parse::<Price>().unwrap();
        let mut t = RoundTrip::default();
        assert!(
            t.fill(Side::Buy, d("1"), p("100"), d("0.1"), 3, Timestamp(30))
                .unwrap()
                .is_none()
        );
        assert!(
            t.fill(Side::Buy, d("1"), p("110"), d("0.1"), 4, Timestamp(40))
                .unwrap()
                .is_none()
        );
        assert!(
            t.fill(Side::Sell, d("1.5"), p("120"), d("0.1"), 5, Timestamp(50))
                .unwrap()
                .is_none()
        );
        let c = t
            .fill(Side::Sell, d("0.5"), p("130"), d("0.1"), 6, Timestamp(60))
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.entry_step, c.entry_time, c.qty),
            (3, Timestamp(30), d("2"))
        );
        assert_eq!((c.entry_price, c.exit_price), (p("105"), p("122.5")));
        // Sold 245, bought 210, fees 0.4.
        assert_eq!((c.pnl, c.fees), (d("34.6"), d("0.4")));
        assert!((c.return_frac - 34.6 / 210.0).abs() < 1e-15);
        // The next buy starts a new trip.
        assert!(
            t.fill(Side::Buy, d("1"), p("90"), d("0"), 9, Timestamp(90))
                .unwrap()
                .is_none()
        );
        let c = t
            .fill(Side::Sell, d("1"), p("99"), d("0"), 10, Timestamp(100))
            .unwrap()
            .unwrap();
        assert_eq!((c.entry_step, c.entry_price, c.pnl), (9, p("90"), d("9")));
    }

    #[test]
    fn a_curve_from_zero_serializes_and_reads_back() {
        let t = days(4);
        let m = compute(&Input {
            times: &t,
            equity: &[0.0, 0.0, 10.0, 5.0],
            benchmark: None,
            first_tradable: 0,
            trades: &[],
            total_fees: Decimal::ZERO,
        });
        let text = serde_json::to_string(&m).unwrap();
        let back: Metrics = serde_json::from_str(&text).unwrap();
        assert_eq!(back.return_pct, 0.0);
        assert!((back.max_drawdown_pct + 50.0).abs() < 1e-9, "{text}");
    }

    /// Two-pass textbook figures of per-step returns, annualised by `n`.
    fn two_pass(e: &[f64], n: f64) -> (f64, f64, f64) {
        let r: Vec<f64> = e.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
        let m = r.iter().sum::<f64>() / r.len() as f64;
        let sd = (r.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (r.len() - 1) as f64).sqrt();
        let down = (r.iter().map(|x| x.min(0.0).powi(2)).sum::<f64>() / r.len() as f64).sqrt();
        (
            m / sd * n.sqrt(),
            m / down * n.sqrt(),
            sd * n.sqrt() * 100.0,
        )
    }

    #[test]
    fn intraday_figures_are_annualised_by_the_bars_own_spacing() {
        // Three days of 5-minute bars around the clock (weekend included),
        // a slow loss with wiggles: the reference's annualisation explodes
        // on such data; the default figures must not.
        let start = 19_724_i64 * DAY_MS; // Tuesday 2024-01-02
        let n: i32 = 3 * 288 + 1;
        let times: Vec<Timestamp> = (0..n)
            .map(|i| Timestamp(start + i64::from(i) * 300_000))
            .collect();
        let e: Vec<f64> = (0..n)
            .map(|i| {
                let x = f64::from(i);
                10_000.0 - 0.05 * x + 3.0 * (x / 5.0).sin()
            })
            .collect();
        let m = compute(&Input {
            times: &times,
            equity: &e,
            benchmark: None,
            first_tradable: 0,
            trades: &[],
            total_fees: Decimal::ZERO,
        });
        // Weekdays only: read as a market of 252 sessions a year, each of
        // the bars it has per day. The figures are the two-pass ones.
        assert_eq!(m.periods_per_year, 252);
        let per_year = m.bars_per_year;
        let (sharpe, sortino, vol) = two_pass(&e, per_year);
        assert!(
            (m.sharpe.unwrap() - sharpe).abs() < 1e-9 * sharpe.abs().max(1.0),
            "{m:?}"
        );
        assert!((m.sortino.unwrap() - sortino).abs() < 1e-9 * sortino.abs().max(1.0));
        assert!((m.volatility_ann_pct.unwrap() - vol).abs() < 1e-9 * vol);
        assert!(vol > 0.1, "a moving series has a volatility: {vol}");
        assert!(m.sharpe.unwrap().abs() < 100.0, "{:?}", m.sharpe);

        // The same bars over a weekend: 24/7 data, 365 days of 288 bars.
        let start = 19_727_i64 * DAY_MS; // Friday 2024-01-05
        let times: Vec<Timestamp> = (0..n)
            .map(|i| Timestamp(start + i64::from(i) * 300_000))
            .collect();
        let m = compute(&Input {
            times: &times,
            equity: &e,
            benchmark: None,
            first_tradable: 0,
            trades: &[],
            total_fees: Decimal::ZERO,
        });
        assert_eq!(m.periods_per_year, 365);
        assert!(
            (m.bars_per_year - 365.0 * 288.0).abs() < 1e-9,
            "{}",
            m.bars_per_year
        );
        let (sharpe, _, vol) = two_pass(&e, m.bars_per_year);
        assert!((m.sharpe.unwrap() - sharpe).abs() < 1e-9 * sharpe.abs().max(1.0));
        assert!((m.volatility_ann_pct.unwrap() - vol).abs() < 1e-9 * vol);
        // The reference figures are still there, labelled, and as wild.
        assert!(m.sharpe_reference.is_some());
    }

    #[test]
    fn session_intraday_data_annualises_by_252_sessions() {
        // Ten weekdays of 78 five-minute bars (a 6.5-hour session).
        let mut times = Vec::new();
        for d in days(10) {
            for k in 0..78 {
                times.push(Timestamp(d.millis() + 14 * 3_600_000 + k * 300_000));
            }
        }
        let e: Vec<f64> = (0..times.len())
            .map(|i| 100.0 + (i as f64 / 9.0).sin() + i as f64 * 0.001)
            .collect();
        let m = compute(&Input {
            times: &times,
            equity: &e,
            benchmark: None,
            first_tradable: 0,
            trades: &[],
            total_fees: Decimal::ZERO,
        });
        assert_eq!(m.periods_per_year, 252);
        assert!(
            (m.bars_per_year - 252.0 * 78.0).abs() < 1e-9,
            "{}",
            m.bars_per_year
        );
        let (sharpe, _, _) = two_pass(&e, m.bars_per_year);
        assert!((m.sharpe.unwrap() - sharpe).abs() < 1e-9 * sharpe.abs().max(1.0));
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
