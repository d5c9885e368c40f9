//! Moving-average crossovers (SMA and EMA): long on the fast average
//! crossing above the slow one, flat (or, with `allow_short`, short) on
//! crossing below.

use super::super::{Action, Candle, Cx, ParamError, Params, Strategy, in_range};
use super::{Make, d10, d12, d20, d26, period};
use crate::indicator::{Ema, Sma};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmaCrossParams {
    /// Period of the fast average, in bars (1–1000).
    #[serde(default = "d10")]
    pub fast: usize,
    /// Period of the slow average, in bars (2–5000), greater than `fast`.
    #[serde(default = "d20")]
    pub slow: usize,
    /// Go short on the cross below (closing a long first), and back long
    /// on the cross above: always in the market once it has crossed.
    /// Needs a margin account.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_short: bool,
}

pub(super) fn check_cross(fast: usize, slow: usize) -> Result<(), ParamError> {
    in_range("fast", fast, 1, 1000)?;
    in_range("slow", slow, 2, 5000)?;
    if fast >= slow {
        return Err(ParamError::new(
            "fast",
            format!("must be less than slow ({slow}), got {fast}"),
        ));
    }
    Ok(())
}

impl Params for SmaCrossParams {
    fn validate(&self) -> Result<(), ParamError> {
        check_cross(self.fast, self.slow)
    }
}

impl Make for SmaCrossParams {
    fn make(self) -> Result<Box<dyn Strategy>, ParamError> {
        Ok(Box::new(
            Cross::sma(self.fast, self.slow)?.shorting(self.allow_short),
        ))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmaCrossParams {
    /// Period of the fast EMA, in bars (1–1000).
    #[serde(default = "d12")]
    pub fast: usize,
    /// Period of the slow EMA, in bars (2–5000), greater than `fast`.
    #[serde(default = "d26")]
    pub slow: usize,
    /// Go short on the cross below (closing a long first), and back long
    /// on the cross above. Needs a margin account.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_short: bool,
}

impl Params for EmaCrossParams {
    fn validate(&self) -> Result<(), ParamError> {
        check_cross(self.fast, self.slow)
    }
}

impl Make for EmaCrossParams {
    fn make(self) -> Result<Box<dyn Strategy>, ParamError> {
        Ok(Box::new(
            Cross::ema(self.fast, self.slow)?.shorting(self.allow_short),
        ))
    }
}

#[derive(Debug, Clone)]
pub(super) enum Average {
    Sma(Sma),
    Ema(Ema),
}

impl Average {
    #[inline]
    pub(super) fn update(&mut self, x: f64) -> Option<f64> {
        match self {
            Average::Sma(s) => s.update(x),
            Average::Ema(e) => e.update(x),
        }
    }
}

/// Where `a` stood against `b` on the previous bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Relation {
    Below,
    Equal,
    Above,
}

pub(super) fn relation(a: f64, b: f64) -> Relation {
    if a < b {
        Relation::Below
    } else if a > b {
        Relation::Above
    } else {
        Relation::Equal
    }
}

/// A strict cross between the previous and this relation: enter on the
/// cross above; on the cross below exit, or go short when `short`.
pub(super) fn cross(prev: Option<Relation>, now: Relation, short: bool) -> Option<Action> {
    match (prev?, now) {
        (Relation::Below, Relation::Above) => Some(Action::Enter),
        (Relation::Above, Relation::Below) if short => Some(Action::Short),
        (Relation::Above, Relation::Below) => Some(Action::Exit),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct Cross {
    pub(super) fast: Average,
    pub(super) slow: Average,
    pub(super) slow_period: usize,
    pub(super) prev: Option<Relation>,
    pub(super) short: bool,
}

impl Cross {
    /// Shorts on the cross below when `short`.
    #[must_use]
    pub fn shorting(mut self, short: bool) -> Cross {
        self.short = short;
        self
    }

    pub fn sma(fast: usize, slow: usize) -> Result<Cross, ParamError> {
        Ok(Cross {
            fast: Average::Sma(Sma::new(fast).map_err(period)?),
            slow: Average::Sma(Sma::new(slow).map_err(period)?),
            slow_period: slow,
            prev: None,
            short: false,
        })
    }

    pub fn ema(fast: usize, slow: usize) -> Result<Cross, ParamError> {
        Ok(Cross {
            fast: Average::Ema(Ema::new(fast).map_err(period)?),
            slow: Average::Ema(Ema::new(slow).map_err(period)?),
            slow_period: slow,
            prev: None,
            short: false,
        })
    }
}

impl Strategy for Cross {
    fn warmup(&self) -> usize {
        self.slow_period.saturating_add(1)
    }

    fn lookback(&self) -> usize {
        self.slow_period
    }

    #[inline]
    fn on_bar(&mut self, bar: &Candle, cx: &mut Cx<'_>) {
        let (f, s) = (self.fast.update(bar.close), self.slow.update(bar.close));
        let (Some(f), Some(s)) = (f, s) else {
            return;
        };
        let now = relation(f, s);
        if let Some(a) = cross(self.prev, now, self.short) {
            cx.log(if a == Action::Enter {
                "fast average crossed above the slow one"
            } else {
                "fast average crossed below the slow one"
            });
            cx.act(a);
        }
        self.prev = Some(now);
    }

    fn shorts(&self) -> bool {
        self.short
    }
}
