//! Bollinger breakout: buy a close above the upper band, sell back inside;
//! with `allow_short`, also short a close below the lower band, and buy
//! it back above the middle.

use super::super::{Action, Candle, Cx, ParamError, Params, Strategy, in_range};
use super::{Make, d20, period};
use crate::indicator::Bollinger;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub(super) fn d2f() -> f64 {
    2.0
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BollingerParams {
    /// Period of the middle band (SMA), in bars (2–1000).
    #[serde(default = "d20")]
    pub period: usize,
    /// Band width in standard deviations (0 < k ≤ 10).
    #[serde(default = "d2f")]
    pub k: f64,
    /// Also break out downwards: short a close below the lower band
    /// (closing a long first), buy it back on a close above the middle
    /// band. Needs a margin account.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_short: bool,
}

impl Params for BollingerParams {
    fn validate(&self) -> Result<(), ParamError> {
        in_range("period", self.period, 2, 1000)?;
        if !(self.k > 0.0 && self.k <= 10.0) {
            return Err(ParamError::new(
                "k",
                format!("must be in (0, 10], got {}", self.k),
            ));
        }
        Ok(())
    }
}

impl Make for BollingerParams {
    fn make(self) -> Result<Box<dyn Strategy>, ParamError> {
        Ok(Box::new(BollingerBreakout {
            bands: Bollinger::new(self.period, self.k).map_err(period)?,
            prev_above: None,
            prev_below: None,
            short: self.allow_short,
        }))
    }
}

pub struct BollingerBreakout {
    pub(super) bands: Bollinger,
    pub(super) prev_above: Option<bool>,
    pub(super) prev_below: Option<bool>,
    pub(super) short: bool,
}

impl Strategy for BollingerBreakout {
    fn warmup(&self) -> usize {
        self.bands_period().saturating_add(1)
    }

    fn on_bar(&mut self, bar: &Candle, cx: &mut Cx<'_>) {
        let Some(b) = self.bands.update(bar.close) else {
            return;
        };
        let above = bar.close > b.upper;
        let below = bar.close < b.lower;
        let held = cx.position();
        if above && self.prev_above == Some(false) {
            cx.log(format!(
                "close {} above upper band {:.6}",
                bar.close, b.upper
            ));
            cx.act(Action::Enter);
        } else if self.short && below && self.prev_below == Some(false) {
            cx.log(format!(
                "close {} below lower band {:.6}",
                bar.close, b.lower
            ));
            cx.act(Action::Short);
        } else if bar.close < b.middle && held.is_positive() {
            cx.log(format!(
                "close {} below middle band {:.6}",
                bar.close, b.middle
            ));
            cx.act(Action::Exit);
        } else if bar.close > b.middle && held.is_negative() {
            cx.log(format!(
                "close {} above middle band {:.6}",
                bar.close, b.middle
            ));
            cx.act(Action::Exit);
        }
        self.prev_above = Some(above);
        self.prev_below = Some(below);
    }

    fn shorts(&self) -> bool {
        self.short
    }
}

impl BollingerBreakout {
    pub(super) fn bands_period(&self) -> usize {
        self.bands.period()
    }
}
