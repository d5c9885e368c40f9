//! Streaming technical indicators: feed one value (or bar) at a time, get
//! the indicator's value once it has enough history.
//!
//! Conventions follow TA-Lib (the usual reference), and the tests check our
//! values against TA-Lib's on the same series: EMAs are seeded with the
//! simple average of their first `n` inputs; RSI and ATR use Wilder's
//! smoothing seeded the same way; MACD's fast EMA starts where its slow EMA
//! does; Bollinger Bands use the population standard deviation. These are
//! analytics, not booked money, so they run in f64.

use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{indicator}: `{param}` must be at least {min}, got {got}")]
pub struct PeriodError {
    pub indicator: &'static str,
    pub param: &'static str,
    pub min: usize,
    pub got: usize,
}

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
mod tests {
    use super::*;

    /// The series TA-Lib computed the expected values on (regenerated here
    /// from the same formula).
    fn series() -> Vec<Hlcv> {
        (0..200)
            .map(|i| {
                let x = f64::from(i);
                let close = ((100.0 + 10.0 * (x / 7.0).sin() + 3.0 * (x / 3.0).cos() + x * 0.05)
                    * 100.0
                    + 0.5)
                    .floor()
                    / 100.0;
                Hlcv {
                    close,
                    high: close + 1.0 + f64::from(i % 5) * 0.3,
                    low: close - 1.0 - f64::from(i % 3) * 0.4,
                    volume: 1000.0 + f64::from((i * 37) % 500),
                }
            })
            .collect()
    }

    /// Runs an indicator over the series; `None` until it has a value.
    fn run<T>(f: impl FnMut(Hlcv) -> Option<T>) -> Vec<Option<T>> {
        series().into_iter().map(f).collect()
    }

    /// Checks the first index with a value, the first two values and the
    /// last four against TA-Lib 0.6 (TA-Lib Python 0.8.2).
    fn check_ref(name: &str, got: &[Option<f64>], first: usize, head: [f64; 2], tail: [f64; 4]) {
        assert!(
            got[..first].iter().all(Option::is_none),
            "{name}: a value before index {first}"
        );
        let values: Vec<f64> = got[first..].iter().map(|v| v.unwrap_or(f64::NAN)).collect();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        for (i, want) in head.iter().enumerate() {
            assert!(
                close(values[i], *want),
                "{name}[{}] = {} want {want}",
                first + i,
                values[i]
            );
        }
        for (i, want) in tail.iter().enumerate() {
            let v = values[values.len() - 4 + i];
            assert!(close(v, *want), "{name} tail[{i}] = {v} want {want}");
        }
    }

    #[test]
    fn moving_averages_match_talib() {
        let mut s = Sma::new(5).unwrap();
        check_ref(
            "sma5",
            &run(|b| s.update(b.close)),
            4,
            [104.966, 105.668],
            [114.204, 112.212, 110.306, 108.582],
        );
        let mut e = Ema::new(5).unwrap();
        check_ref(
            "ema5",
            &run(|b| e.update(b.close)),
            4,
            [104.966, 105.480666666667],
            [
                113.701065970314,
                111.900710646876,
                110.197140431250,
                108.668093620834,
            ],
        );
        let mut w = Wma::new(5).unwrap();
        check_ref(
            "wma5",
            &run(|b| w.update(b.close)),
            4,
            [105.515333333333, 106.03],
            [112.835333333333, 110.867333333333, 109.06, 107.494666666667],
        );
    }

    #[test]
    fn oscillators_match_talib() {
        let mut r = Rsi::new(14).unwrap();
        check_ref(
            "rsi14",
            &run(|b| r.update(b.close)),
            14,
            [100.0, 100.0],
            [
                39.338070936804,
                35.596438645448,
                32.779726316782,
                30.733128705262,
            ],
        );
        let mut m = Macd::new(12, 26, 9).unwrap();
        let macd = run(|b| m.update(b.close));
        check_ref(
            "macd",
            &macd.iter().map(|v| v.map(|x| x.macd)).collect::<Vec<_>>(),
            33,
            [-4.374298055227, -4.206146709280],
            [
                1.668790201886,
                0.966154025631,
                0.284189454199,
                -0.347482953097,
            ],
        );
        check_ref(
            "macd_signal",
            &macd.iter().map(|v| v.map(|x| x.signal)).collect::<Vec<_>>(),
            33,
            [-3.129401238581, -3.344750332721],
            [
                2.995169633422,
                2.589366511864,
                2.128331100331,
                1.633168289645,
            ],
        );
        check_ref(
            "macd_hist",
            &macd
                .iter()
                .map(|v| v.map(|x| x.histogram))
                .collect::<Vec<_>>(),
            33,
            [-1.244896816646, -0.861396376559],
            [
                -1.326379431536,
                -1.623212486233,
                -1.844141646132,
                -1.980651242742,
            ],
        );
        let mut st = Stochastic::new(14, 3, 3).unwrap();
        let s = run(|b| st.update(b));
        check_ref(
            "stoch_k",
            &s.iter().map(|v| v.map(|x| x.0)).collect::<Vec<_>>(),
            17,
            [75.018831605944, 69.883449883450],
            [
                11.942659458087,
                8.964499604004,
                8.225742460139,
                7.547160560291,
            ],
        );
        check_ref(
            "stoch_d",
            &s.iter().map(|v| v.map(|x| x.1)).collect::<Vec<_>>(),
            17,
            [76.231708874427, 73.714897994574],
            [
                25.356973998552,
                14.608940583230,
                9.710967174076,
                8.245800874811,
            ],
        );
    }

    #[test]
    fn bands_ranges_and_extremes_match_talib() {
        let mut bb = Bollinger::new(20, 2.0).unwrap();
        let b = run(|x| bb.update(x.close));
        check_ref(
            "bb_upper",
            &b.iter().map(|v| v.map(|x| x.upper)).collect::<Vec<_>>(),
            19,
            [111.232673830569, 110.859161119072],
            [
                125.435274503923,
                125.406321284502,
                125.677156662638,
                126.179245812591,
            ],
        );
        check_ref(
            "bb_middle",
            &b.iter().map(|v| v.map(|x| x.middle)).collect::<Vec<_>>(),
            19,
            [107.425, 107.6045],
            [116.1115, 116.1235, 116.013, 115.7835],
        );
        check_ref(
            "bb_lower",
            &b.iter().map(|v| v.map(|x| x.lower)).collect::<Vec<_>>(),
            19,
            [103.617326169431, 104.349838880928],
            [
                106.787725496077,
                106.840678715498,
                106.348843337363,
                105.387754187409,
            ],
        );
        let mut a = Atr::new(14).unwrap();
        check_ref(
            "atr14",
            &run(|x| a.update(x)),
            14,
            [3.071428571429, 2.994897959184],
            [
                3.166509877264,
                3.197473457460,
                3.176225353356,
                3.206494970973,
            ],
        );
        let mut hi = Extreme::highest(10).unwrap();
        check_ref(
            "max10",
            &run(|x| hi.update(x.close)),
            9,
            [107.08, 107.45],
            [122.24, 122.24, 121.97, 121.18],
        );
        let mut lo = Extreme::lowest(10).unwrap();
        check_ref(
            "min10",
            &run(|x| lo.update(x.close)),
            9,
            [103.0, 104.31],
            [110.1, 108.3, 106.79, 105.61],
        );
    }

    #[test]
    fn rsi_matches_the_published_reference() {
        // ../shared/reference/README.md: TA-Lib RSI(14) on these 20 closes.
        let closes = [
            44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03,
            45.61, 46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64,
        ];
        let mut r = Rsi::new(14).unwrap();
        let out: Vec<f64> = closes.iter().filter_map(|c| r.update(*c)).collect();
        let last3: Vec<f64> = out[out.len() - 3..]
            .iter()
            .map(|v| (v * 1e4).round() / 1e4)
            .collect();
        assert_eq!(last3, [69.3469, 66.2947, 57.9150]);
    }

    #[test]
    fn vwap_weights_by_volume_and_resets() {
        let mut v = Vwap::new();
        let bar = |h: f64, l: f64, c: f64, volume: f64| Hlcv {
            high: h,
            low: l,
            close: c,
            volume,
        };
        assert_eq!(
            v.update(bar(12.0, 9.0, 9.0, 0.0)),
            None,
            "no volume, no price"
        );
        assert_eq!(v.update(bar(12.0, 9.0, 9.0, 100.0)), Some(10.0));
        assert_eq!(v.update(bar(21.0, 21.0, 21.0, 300.0)), Some(18.25));
        v.reset();
        assert_eq!(v.update(bar(3.0, 3.0, 3.0, 1.0)), Some(3.0));
    }

    #[test]
    fn bad_periods_are_refused_with_the_parameter_named() {
        assert_eq!(
            Sma::new(0).unwrap_err().to_string(),
            "sma: `period` must be at least 1, got 0"
        );
        assert!(
            Macd::new(26, 12, 9)
                .unwrap_err()
                .to_string()
                .contains("`slow` must be at least 27")
        );
        assert!(
            Stochastic::new(14, 0, 3)
                .unwrap_err()
                .to_string()
                .contains("k_smooth")
        );
    }
}
