//! Streaming technical indicators (tradedesk's one implementation: the
//! daemon and its built-in strategies use it natively, and WebAssembly
//! strategies compile the same code through the SDK): feed one value (or bar) at a time, get
//! the indicator's value once it has enough history.
//!
//! Conventions follow TA-Lib (the usual reference), and the tests check our
//! values against TA-Lib's on the same series: EMAs are seeded with the
//! simple average of their first `n` inputs; RSI and ATR use Wilder's
//! smoothing seeded the same way; MACD's fast EMA starts where its slow EMA
//! does; Bollinger Bands use the population standard deviation. These are
//! analytics, not booked money, so they run in f64.

use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodError {
    pub indicator: &'static str,
    pub param: &'static str,
    pub min: usize,
    pub got: usize,
}

impl std::fmt::Display for PeriodError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: `{}` must be at least {}, got {}",
            self.indicator, self.param, self.min, self.got
        )
    }
}

impl std::error::Error for PeriodError {}

fn check(
    indicator: &'static str,
    param: &'static str,
    got: usize,
    min: usize,
) -> Result<usize, PeriodError> {
    if got < min {
        Err(PeriodError {
            indicator,
            param,
            min,
            got,
        })
    } else {
        Ok(got)
    }
}

/// The inputs of bar-based indicators.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hlcv {
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// Simple moving average over a ring buffer (no shifting, no allocation
/// after construction).
#[derive(Debug, Clone)]
pub struct Sma {
    window: Box<[f64]>,
    /// Next slot to write.
    at: usize,
    len: usize,
    sum: f64,
}

impl Sma {
    pub fn new(n: usize) -> Result<Sma, PeriodError> {
        let n = check("sma", "period", n, 1)?;
        Ok(Sma {
            window: vec![0.0; n].into_boxed_slice(),
            at: 0,
            len: 0,
            sum: 0.0,
        })
    }

    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        let n = self.window.len();
        let at = self.at;
        // The sum is read once and written once: its chain from bar to bar
        // is two additions, not two trips through memory.
        let mut sum = self.sum;
        if self.len == n {
            sum -= self.window[at];
        } else {
            self.len += 1;
        }
        sum += x;
        self.sum = sum;
        self.window[at] = x;
        self.at = if at + 1 == n { 0 } else { at + 1 };
        (self.len == n).then(|| sum / n as f64)
    }
}

/// Exponential moving average, seeded with the SMA of its first `n` inputs.
#[derive(Debug, Clone)]
pub struct Ema {
    k: f64,
    seed: Sma,
    value: Option<f64>,
}

impl Ema {
    pub fn new(n: usize) -> Result<Ema, PeriodError> {
        let n = check("ema", "period", n, 1)?;
        Ok(Ema {
            k: 2.0 / (n as f64 + 1.0),
            seed: Sma::new(n)?,
            value: None,
        })
    }

    /// An EMA that starts from `value` (MACD seeds its fast EMA this way).
    fn seeded(n: usize, value: f64) -> Result<Ema, PeriodError> {
        let mut e = Ema::new(n)?;
        e.value = Some(value);
        Ok(e)
    }

    pub fn update(&mut self, x: f64) -> Option<f64> {
        self.value = match self.value {
            Some(prev) => Some((x - prev) * self.k + prev),
            None => self.seed.update(x),
        };
        self.value
    }
}

/// Weighted moving average: weights 1..=n, the newest heaviest.
#[derive(Debug, Clone)]
pub struct Wma {
    n: usize,
    window: VecDeque<f64>,
}

impl Wma {
    pub fn new(n: usize) -> Result<Wma, PeriodError> {
        let n = check("wma", "period", n, 1)?;
        Ok(Wma {
            n,
            window: VecDeque::with_capacity(n + 1),
        })
    }

    pub fn update(&mut self, x: f64) -> Option<f64> {
        self.window.push_back(x);
        if self.window.len() > self.n {
            self.window.pop_front();
        }
        if self.window.len() < self.n {
            return None;
        }
        let weighted: f64 = self
            .window
            .iter()
            .enumerate()
            .map(|(i, v)| (i + 1) as f64 * v)
            .sum();
        Some(weighted / (self.n * (self.n + 1) / 2) as f64)
    }
}

/// Wilder's smoothing of a series, seeded with the mean of its first `n` values.
#[derive(Debug, Clone)]
struct Wilder {
    n: usize,
    count: usize,
    sum: f64,
    value: Option<f64>,
}

impl Wilder {
    fn new(n: usize) -> Wilder {
        Wilder {
            n,
            count: 0,
            sum: 0.0,
            value: None,
        }
    }

    fn update(&mut self, x: f64) -> Option<f64> {
        let n = self.n as f64;
        self.value = match self.value {
            Some(prev) => Some((prev * (n - 1.0) + x) / n),
            None => {
                self.count += 1;
                self.sum += x;
                (self.count == self.n).then(|| self.sum / n)
            }
        };
        self.value
    }
}

/// Relative strength index with Wilder's smoothing (0..=100).
#[derive(Debug, Clone)]
pub struct Rsi {
    prev: Option<f64>,
    gain: Wilder,
    loss: Wilder,
}

impl Rsi {
    pub fn new(n: usize) -> Result<Rsi, PeriodError> {
        let n = check("rsi", "period", n, 1)?;
        Ok(Rsi {
            prev: None,
            gain: Wilder::new(n),
            loss: Wilder::new(n),
        })
    }

    pub fn update(&mut self, x: f64) -> Option<f64> {
        let prev = self.prev.replace(x)?;
        let change = x - prev;
        let g = self.gain.update(change.max(0.0));
        let l = self.loss.update((-change).max(0.0));
        let (g, l) = (g?, l?);
        Some(if g + l == 0.0 {
            0.0
        } else {
            100.0 * g / (g + l)
        })
    }
}

/// MACD: the fast EMA minus the slow EMA, its signal EMA and the histogram.
#[derive(Debug, Clone)]
pub struct Macd {
    fast_n: usize,
    slow: Ema,
    /// The last `fast_n` inputs, until the slow EMA is ready.
    warmup: VecDeque<f64>,
    fast: Option<Ema>,
    signal: Ema,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacdValue {
    pub macd: f64,
    pub signal: f64,
    pub histogram: f64,
}

impl Macd {
    pub fn new(fast: usize, slow: usize, signal: usize) -> Result<Macd, PeriodError> {
        let fast = check("macd", "fast", fast, 1)?;
        let slow = check("macd", "slow", slow, fast + 1)?;
        Ok(Macd {
            fast_n: fast,
            slow: Ema::new(slow)?,
            warmup: VecDeque::new(),
            fast: None,
            signal: Ema::new(signal)?,
        })
    }

    pub fn update(&mut self, x: f64) -> Option<MacdValue> {
        let slow = self.slow.update(x);
        let fast = match &mut self.fast {
            Some(f) => f.update(x)?,
            None => {
                self.warmup.push_back(x);
                if self.warmup.len() > self.fast_n {
                    self.warmup.pop_front();
                }
                slow?;
                // The fast EMA starts where the slow one does, from the
                // mean of the fast window that ends there.
                let seed = self.warmup.iter().sum::<f64>() / self.fast_n as f64;
                self.fast = Some(Ema::seeded(self.fast_n, seed).ok()?);
                self.warmup.clear();
                seed
            }
        };
        let macd = fast - slow?;
        let signal = self.signal.update(macd)?;
        Some(MacdValue {
            macd,
            signal,
            histogram: macd - signal,
        })
    }
}

/// Bollinger Bands: SMA ± `k` population standard deviations.
#[derive(Debug, Clone)]
pub struct Bollinger {
    n: usize,
    k: f64,
    window: VecDeque<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bands {
    pub upper: f64,
    pub middle: f64,
    pub lower: f64,
}

impl Bollinger {
    pub fn new(n: usize, k: f64) -> Result<Bollinger, PeriodError> {
        let n = check("bollinger", "period", n, 1)?;
        Ok(Bollinger {
            n,
            k,
            window: VecDeque::with_capacity(n + 1),
        })
    }

    pub fn period(&self) -> usize {
        self.n
    }

    pub fn update(&mut self, x: f64) -> Option<Bands> {
        self.window.push_back(x);
        if self.window.len() > self.n {
            self.window.pop_front();
        }
        if self.window.len() < self.n {
            return None;
        }
        let n = self.n as f64;
        let mean = self.window.iter().sum::<f64>() / n;
        let var = self
            .window
            .iter()
            .map(|v| (v - mean) * (v - mean))
            .sum::<f64>()
            / n;
        let d = self.k * var.sqrt();
        Some(Bands {
            upper: mean + d,
            middle: mean,
            lower: mean - d,
        })
    }
}

/// Average true range with Wilder's smoothing.
#[derive(Debug, Clone)]
pub struct Atr {
    prev_close: Option<f64>,
    smooth: Wilder,
}

impl Atr {
    pub fn new(n: usize) -> Result<Atr, PeriodError> {
        let n = check("atr", "period", n, 1)?;
        Ok(Atr {
            prev_close: None,
            smooth: Wilder::new(n),
        })
    }

    pub fn update(&mut self, b: Hlcv) -> Option<f64> {
        let pc = self.prev_close.replace(b.close)?;
        let tr = (b.high - b.low)
            .max((b.high - pc).abs())
            .max((b.low - pc).abs());
        self.smooth.update(tr)
    }
}

/// The highest (or lowest) value of the last `n`, in amortized O(1).
#[derive(Debug, Clone)]
pub struct Extreme {
    n: usize,
    highest: bool,
    seen: usize,
    /// (index, value), values monotonic from the front.
    deque: VecDeque<(usize, f64)>,
}

impl Extreme {
    pub fn highest(n: usize) -> Result<Extreme, PeriodError> {
        let n = check("highest", "period", n, 1)?;
        Ok(Extreme {
            n,
            highest: true,
            seen: 0,
            deque: VecDeque::new(),
        })
    }

    pub fn lowest(n: usize) -> Result<Extreme, PeriodError> {
        let n = check("lowest", "period", n, 1)?;
        Ok(Extreme {
            n,
            highest: false,
            seen: 0,
            deque: VecDeque::new(),
        })
    }

    pub fn update(&mut self, x: f64) -> Option<f64> {
        let i = self.seen;
        self.seen += 1;
        while let Some(&(_, back)) = self.deque.back() {
            let dominated = if self.highest { back <= x } else { back >= x };
            if !dominated {
                break;
            }
            self.deque.pop_back();
        }
        self.deque.push_back((i, x));
        while self.deque.front().is_some_and(|&(j, _)| j + self.n <= i) {
            self.deque.pop_front();
        }
        (self.seen >= self.n).then(|| self.deque.front().map_or(x, |&(_, v)| v))
    }
}

/// Stochastic oscillator: %K smoothed by an SMA, %D the SMA of that.
#[derive(Debug, Clone)]
pub struct Stochastic {
    high: Extreme,
    low: Extreme,
    k: Sma,
    d: Sma,
}

impl Stochastic {
    pub fn new(
        k_period: usize,
        k_smooth: usize,
        d_period: usize,
    ) -> Result<Stochastic, PeriodError> {
        Ok(Stochastic {
            high: Extreme::highest(check("stochastic", "k_period", k_period, 1)?)?,
            low: Extreme::lowest(k_period)?,
            k: Sma::new(check("stochastic", "k_smooth", k_smooth, 1)?)?,
            d: Sma::new(check("stochastic", "d_period", d_period, 1)?)?,
        })
    }

    /// (%K, %D).
    pub fn update(&mut self, b: Hlcv) -> Option<(f64, f64)> {
        let hh = self.high.update(b.high);
        let ll = self.low.update(b.low);
        let (hh, ll) = (hh?, ll?);
        let fast_k = if hh > ll {
            100.0 * (b.close - ll) / (hh - ll)
        } else {
            0.0
        };
        let k = self.k.update(fast_k)?;
        let d = self.d.update(k)?;
        Some((k, d))
    }
}

/// Volume-weighted average price of the typical price (h+l+c)/3, since
/// the last [`Vwap::reset`] (a strategy resets it at each session start).
#[derive(Debug, Clone, Default)]
pub struct Vwap {
    pv: f64,
    volume: f64,
}

impl Vwap {
    pub fn new() -> Vwap {
        Vwap::default()
    }

    pub fn reset(&mut self) {
        *self = Vwap::default();
    }

    pub fn update(&mut self, b: Hlcv) -> Option<f64> {
        self.pv += (b.high + b.low + b.close) / 3.0 * b.volume;
        self.volume += b.volume;
        (self.volume > 0.0).then(|| self.pv / self.volume)
    }
}

#[cfg(test)]
#[allow(clippy::unreadable_literal)] // reference values exactly as TA-Lib printed them
mod tests;
