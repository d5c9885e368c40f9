//! RSI mean reversion: buy when oversold, sell when overbought.

use super::super::{Action, Candle, Cx, ParamError, Params, Strategy, in_range};
use super::{Make, d14, period};
use crate::indicator::Rsi;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub(super) fn d30f() -> f64 {
    30.0
}

pub(super) fn d70f() -> f64 {
    70.0
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RsiParams {
    /// RSI period in bars (2–1000).
    #[serde(default = "d14")]
    pub period: usize,
    /// Enter below this RSI (0–100).
    #[serde(default = "d30f")]
    pub oversold: f64,
    /// Exit above this RSI (0–100), greater than `oversold`.
    #[serde(default = "d70f")]
    pub overbought: f64,
}

impl Params for RsiParams {
    fn validate(&self) -> Result<(), ParamError> {
        in_range("period", self.period, 2, 1000)?;
        for (name, v) in [("oversold", self.oversold), ("overbought", self.overbought)] {
            if !(v > 0.0 && v < 100.0) {
                return Err(ParamError::new(
                    name,
                    format!("must be between 0 and 100, got {v}"),
                ));
            }
        }
        if self.oversold >= self.overbought {
            return Err(ParamError::new(
                "oversold",
                format!(
                    "must be less than overbought ({}), got {}",
                    self.overbought, self.oversold
                ),
            ));
        }
        Ok(())
    }
}

impl Make for RsiParams {
    fn make(self) -> Result<Box<dyn Strategy>, ParamError> {
        Ok(Box::new(RsiReversion {
            rsi: Rsi::new(self.period).map_err(period)?,
            p: self,
        }))
    }
}

pub struct RsiReversion {
    pub(super) rsi: Rsi,
    pub(super) p: RsiParams,
}

impl Strategy for RsiReversion {
    fn warmup(&self) -> usize {
        // Wilder's smoothing converges slowly; replay well past the seed.
        self.p.period.saturating_mul(10)
    }

    /// The first RSI comes with the close after `period` changes.
    fn lookback(&self) -> usize {
        self.p.period.saturating_add(1)
    }

    fn on_bar(&mut self, bar: &Candle, cx: &mut Cx<'_>) {
        let Some(r) = self.rsi.update(bar.close) else {
            return;
        };
        if r < self.p.oversold && cx.position().is_zero() {
            cx.log(format!("rsi {r:.2} < {}", self.p.oversold));
            cx.act(Action::Enter);
        } else if r > self.p.overbought && cx.position().is_positive() {
            cx.log(format!("rsi {r:.2} > {}", self.p.overbought));
            cx.act(Action::Exit);
        }
    }
}
