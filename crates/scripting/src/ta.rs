//! The built-in indicators as host functions: computed natively and
//! incrementally, exactly as the built-in strategies compute them. Both
//! tiers number them the same way (the SDK's ABI).

use tradedesk_core::indicator::{
    Atr, Bollinger, Ema, Extreme, Hlcv, Macd, Rsi, Sma, Stochastic, Vwap, Wma,
};

/// Most indicators one strategy instance may create.
pub const MAX_INDICATORS: usize = 256;
/// Longest period an indicator may have (bounds its memory).
pub const MAX_PERIOD: u32 = 100_000;

#[derive(Debug, Clone)]
pub enum Ind {
    Sma(Sma),
    Ema(Ema),
    Wma(Wma),
    Rsi(Rsi),
    Macd(Macd),
    Bollinger(Bollinger),
    Atr(Atr),
    Highest(Extreme),
    Lowest(Extreme),
    Stochastic(Stochastic),
    Vwap(Vwap),
}

/// An indicator and its last outputs (NaN: no value yet).
#[derive(Debug, Clone)]
pub struct Live {
    ind: Ind,
    out: [f64; 3],
}

/// Kind numbers of the ABI.
pub const KINDS: &[(i32, &str)] = &[
    (1, "sma"),
    (2, "ema"),
    (3, "wma"),
    (4, "rsi"),
    (5, "macd"),
    (6, "bollinger"),
    (7, "atr"),
    (8, "highest"),
    (9, "lowest"),
    (10, "stochastic"),
    (11, "vwap"),
];

/// Whether indicators of `kind` read the whole bar (ATR, stochastic,
/// VWAP) rather than one value per update.
pub fn reads_bar(kind: i32) -> bool {
    matches!(kind, 7 | 10 | 11)
}

impl Live {
    /// Indicator `kind` with periods `a`, `b`, `c` and factor `k`, or why not.
    pub fn new(kind: i32, a: i64, b: i64, c: i64, k: f64) -> Result<Live, String> {
        let p = |v: i64, what: &str| -> Result<usize, String> {
            if v < 1 || v > i64::from(MAX_PERIOD) {
                Err(format!(
                    "{what} must be between 1 and {MAX_PERIOD}, got {v}"
                ))
            } else {
                Ok(v as usize)
            }
        };
        let e = |e: tradedesk_core::indicator::PeriodError| e.to_string();
        let ind = match kind {
            1 => Ind::Sma(Sma::new(p(a, "period")?).map_err(e)?),
            2 => Ind::Ema(Ema::new(p(a, "period")?).map_err(e)?),
            3 => Ind::Wma(Wma::new(p(a, "period")?).map_err(e)?),
            4 => Ind::Rsi(Rsi::new(p(a, "period")?).map_err(e)?),
            5 => Ind::Macd(Macd::new(p(a, "fast")?, p(b, "slow")?, p(c, "signal")?).map_err(e)?),
            6 => {
                if !k.is_finite() || k <= 0.0 {
                    return Err(format!("k must be a positive number, got {k}"));
                }
                Ind::Bollinger(Bollinger::new(p(a, "period")?, k).map_err(e)?)
            }
            7 => Ind::Atr(Atr::new(p(a, "period")?).map_err(e)?),
            8 => Ind::Highest(Extreme::highest(p(a, "period")?).map_err(e)?),
            9 => Ind::Lowest(Extreme::lowest(p(a, "period")?).map_err(e)?),
            10 => Ind::Stochastic(
                Stochastic::new(p(a, "k_period")?, p(b, "k_smooth")?, p(c, "d_period")?)
                    .map_err(e)?,
            ),
            11 => Ind::Vwap(Vwap::new()),
            other => return Err(format!("no indicator kind {other}")),
        };
        Ok(Live {
            ind,
            out: [f64::NAN; 3],
        })
    }

    /// Feeds `x` (or, for bar-based indicators, `bar`); the first output.
    #[inline]
    pub fn update(&mut self, x: f64, bar: Hlcv) -> f64 {
        const N: f64 = f64::NAN;
        self.out = match &mut self.ind {
            Ind::Sma(i) => [i.update(x).unwrap_or(N), N, N],
            Ind::Ema(i) => [i.update(x).unwrap_or(N), N, N],
            Ind::Wma(i) => [i.update(x).unwrap_or(N), N, N],
            Ind::Rsi(i) => [i.update(x).unwrap_or(N), N, N],
            Ind::Highest(i) | Ind::Lowest(i) => [i.update(x).unwrap_or(N), N, N],
            Ind::Macd(i) => i
                .update(x)
                .map_or([N; 3], |v| [v.macd, v.signal, v.histogram]),
            Ind::Bollinger(i) => i.update(x).map_or([N; 3], |b| [b.upper, b.middle, b.lower]),
            Ind::Atr(i) => [i.update(bar).unwrap_or(N), N, N],
            Ind::Stochastic(i) => i.update(bar).map_or([N; 3], |(k, d)| [k, d, N]),
            Ind::Vwap(i) => [i.update(bar).unwrap_or(N), N, N],
        };
        self.out[0]
    }

    /// Output `i` of the last update (NaN when there is none).
    pub fn value(&self, i: i64) -> f64 {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.out.get(i))
            .copied()
            .unwrap_or(f64::NAN)
    }

    /// How many outputs it has.
    pub fn outputs(&self) -> usize {
        match self.ind {
            Ind::Macd(_) | Ind::Bollinger(_) => 3,
            Ind::Stochastic(_) => 2,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_indicators_match_the_native_ones() {
        let mut h = Live::new(1, 3, 0, 0, 0.0).expect("sma");
        let mut n = Sma::new(3).expect("sma");
        let bar = Hlcv {
            high: 0.0,
            low: 0.0,
            close: 0.0,
            volume: 0.0,
        };
        for x in [1.0, 2.5, 3.25, 4.0, 1.5] {
            let got = h.update(x, bar);
            match n.update(x) {
                Some(v) => assert_eq!(got.to_bits(), v.to_bits()),
                None => assert!(got.is_nan()),
            }
        }
        let mut m = Live::new(5, 3, 6, 2, 0.0).expect("macd");
        for i in 0..20 {
            m.update(f64::from(i).sin(), bar);
        }
        assert!(!m.value(2).is_nan());
        assert_eq!(m.outputs(), 3);
        assert!(Live::new(1, 0, 0, 0, 0.0).is_err());
        assert!(Live::new(6, 20, 0, 0, -1.0).is_err());
        assert!(Live::new(99, 1, 0, 0, 0.0).is_err());
        assert!(Live::new(1, i64::from(MAX_PERIOD) + 1, 0, 0, 0.0).is_err());
    }
}
