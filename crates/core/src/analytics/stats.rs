//! Small statistics over returns and trades: means, variances, geometric
//! means, exposure, streaks, per-symbol figures.

use super::{SymbolFigures, TradeFigures};
use std::collections::BTreeMap;

pub(super) fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut s, mut n) = (0.0, 0usize);
    for x in v {
        s += x;
        n += 1;
    }
    (n > 0).then(|| s / n as f64)
}

/// Sample variance (n − 1).
pub(super) fn var(v: &[f64]) -> Option<f64> {
    if v.len() < 2 {
        return None;
    }
    let m = mean(v.iter().copied())?;
    Some(v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64)
}

pub(super) fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Geometric mean of returns, 0 when any return loses everything.
pub(super) fn geometric_mean(r: impl Iterator<Item = f64>) -> f64 {
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
pub(super) fn log_return(a: f64, b: f64) -> f64 {
    log1p_of((b - a) / a)
}

/// ln(1 + x): the series for small x (exact to the last bit or two, and
/// far cheaper than `ln_1p`), else `ln_1p`.
#[inline]
pub(super) fn log1p_of(x: f64) -> f64 {
    if x.abs() < 1.0 / 1024.0 {
        series(x)
    } else {
        x.ln_1p()
    }
}

/// `ln(1 + x)` for |x| < 2^-10: x - x²/2 + x³/3 - x⁴/4 + x⁵/5 - x⁶/6; the
/// next term is < 2^-70.
#[inline]
pub(super) fn series(x: f64) -> f64 {
    // Multiplications only: a division here would sit on every step's
    // critical path.
    pub(super) const THIRD: f64 = 1.0 / 3.0;
    pub(super) const SIXTH: f64 = 1.0 / 6.0;
    let x2 = x * x;
    x - x2 * (0.5 - x * (THIRD - x * (0.25 - x * (0.2 - x * SIXTH))))
}

/// Steps inside some trade (entry to exit step, both included).
pub(super) fn exposed_steps(trades: &[TradeFigures], n: usize) -> usize {
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

pub(super) fn streaks(trades: &[TradeFigures]) -> (usize, usize) {
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

pub(super) fn by_symbol(trades: &[TradeFigures]) -> Vec<SymbolFigures> {
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
