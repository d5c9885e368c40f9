//! The equity curve as a run steps: per-bar sums (and the benchmark's),
//! kept cheaply enough to follow a million bars.

use super::DAY_MS;
use super::calendar::MonthReturn;
use super::calendar::{Period, weekday};
use super::stats::{finite, log_return, log1p_of, series};
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// An equity curve, fed one step at a time: everything the metrics need
/// from it, gathered without keeping the curve (a sweep's runs keep
/// nothing per step). Everything per period is derived from the days.
#[derive(Debug, Clone)]
pub struct Curve {
    /// Each calendar day's last equity: (day number, equity).
    pub(super) days: Vec<(i64, f64)>,
    /// Spacings between steps in ms, and how many there are of each
    /// (bar data has few: its spacing and the multiples gaps make).
    pub(super) spacing: BTreeMap<i64, usize>,
    pub(super) weekend_steps: usize,
    pub(super) max_dd: f64,
    /// Each drawdown period's depth and duration: a period runs from a
    /// step at the running peak to the next step back at it (or to the
    /// last step); a dip of the last step alone is none, as the reference
    /// counts them.
    pub(super) dd_periods: Vec<(f64, i64)>,
    pub(super) peak: f64,
    pub(super) steps: usize,
    pub(super) first: Option<(Timestamp, f64)>,
    pub(super) last: (Timestamp, f64),
    /// The current day's span in ms, `[start, end)`: most steps fall in
    /// it and need no division to find their day.
    pub(super) day_span: (i64, i64),
    pub(super) weekend: bool,
    /// The spacing seen most recently, counted in a run (regular data has
    /// one spacing: the map is touched once per change, not per step).
    pub(super) run: Option<(i64, usize)>,
    pub(super) last_zero: (usize, i64),
    /// The lowest equity since the running peak.
    pub(super) trough: f64,
    // Beta: sums of log returns of equity and the benchmark.
    pub(super) bench: BenchSums,
    /// The benchmark's own sums were given whole (a dataset's, computed
    /// once): only steps where equity moved add to the products.
    pub(super) bench_given: bool,
    pub(super) prev_bench: f64,
    /// 1 / the previous benchmark price and 1 / the last equity, worked
    /// out ahead so a step's log returns need no division of their own.
    pub(super) inv_bench: f64,
    pub(super) inv_e: f64,
    pub(super) se: f64,
    pub(super) seb: f64,
    /// Per-step simple returns: the textbook figures of intraday data.
    pub(super) bars: BarSums,
    pub(super) first_tradable: usize,
    pub(super) bench_at_first_tradable: Option<f64>,
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
    pub(super) fn close_period(&mut self, i: usize, t: i64) {
        if self.trough < self.peak {
            let depth = 1.0 - self.trough / self.peak;
            self.max_dd = self.max_dd.max(depth);
            if i > self.last_zero.0 + 1 {
                self.dd_periods.push((depth, t - self.last_zero.1));
            }
        }
    }

    /// Closes the books: the last spacing run, an open drawdown period.
    pub(super) fn finish(&mut self) {
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

    pub(super) fn beta(&self) -> Option<f64> {
        let m = self.bench.n as f64;
        if self.bench.n < 2 {
            return None;
        }
        let cov = self.seb - self.se * self.bench.sum / m;
        let var_b = self.bench.sum_sq - self.bench.sum * self.bench.sum / m;
        finite(cov / var_b)
    }
}

pub(super) fn add_spacing(m: &mut BTreeMap<i64, usize>, gap: i64, n: usize) {
    *m.entry(gap).or_insert(0) += n;
}

/// Sums of per-step simple returns: count (every step after the first),
/// Σr, Σr², and Σ of the squared losing returns.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct BarSums {
    pub(super) n: usize,
    pub(super) sum: f64,
    pub(super) sum_sq: f64,
    pub(super) down_sq: f64,
}

impl BarSums {
    #[inline]
    pub(super) fn add(&mut self, r: f64) {
        let sq = r * r;
        self.sum += r;
        self.sum_sq += sq;
        if r < 0.0 {
            self.down_sq += sq;
        }
    }

    /// Mean, sample standard deviation (n − 1) and downside deviation.
    pub(super) fn moments(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
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
    pub(super) fn median_spacing_ms(&self) -> i64 {
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
    pub(super) fn median_days(&self) -> i64 {
        self.median_spacing_ms().div_euclid(DAY_MS)
    }

    /// The steps per year the default (textbook) figures are annualised
    /// with: for data a day apart or more, the periods per year of the
    /// resampling; for intraday data, from the bars' own spacing: a year of
    /// bars around the clock (365 days of them) when the data trades at
    /// weekends, else 252 sessions of the bars the data has per day.
    pub(super) fn bars_per_year(&self, ppy: u32) -> f64 {
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
    pub(super) fn period(&self, steps: usize) -> (Period, u32) {
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
    pub(super) fn closes(&self, period: Period) -> Vec<f64> {
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

pub(super) fn by_month(sc: &Curve, initial: f64) -> Vec<MonthReturn> {
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
