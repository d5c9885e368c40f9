//! MACD: long while the MACD line is above its signal line (and, with
//! `allow_short`, short while it is below).

use super::super::{Action, Candle, Cx, ParamError, Params, Strategy, in_range};
use super::cross::{Relation, check_cross, cross, relation};
use super::{Make, d9, d12, d26, period};
use crate::indicator::Macd;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MacdParams {
    /// Fast EMA period (1–1000).
    #[serde(default = "d12")]
    pub fast: usize,
    /// Slow EMA period (2–5000), greater than `fast`.
    #[serde(default = "d26")]
    pub slow: usize,
    /// Signal EMA period (1–1000).
    #[serde(default = "d9")]
    pub signal: usize,
    /// Go short on the cross below (closing a long first), and back long
    /// on the cross above. Needs a margin account.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_short: bool,
}

impl Params for MacdParams {
    fn validate(&self) -> Result<(), ParamError> {
        check_cross(self.fast, self.slow)?;
        in_range("signal", self.signal, 1, 1000)
    }
}

impl Make for MacdParams {
    fn make(self) -> Result<Box<dyn Strategy>, ParamError> {
        Ok(Box::new(MacdCross {
            macd: Macd::new(self.fast, self.slow, self.signal).map_err(period)?,
            prev: None,
            warmup: self.slow.saturating_add(self.signal),
            short: self.allow_short,
        }))
    }
}

pub struct MacdCross {
    pub(super) macd: Macd,
    pub(super) prev: Option<Relation>,
    pub(super) warmup: usize,
    pub(super) short: bool,
}

impl Strategy for MacdCross {
    fn warmup(&self) -> usize {
        self.warmup.saturating_mul(3)
    }

    /// The first MACD and signal values (the EMAs then keep settling,
    /// which the longer warm-up replays).
    fn lookback(&self) -> usize {
        self.warmup
    }

    fn on_bar(&mut self, bar: &Candle, cx: &mut Cx<'_>) {
        let Some(m) = self.macd.update(bar.close) else {
            return;
        };
        let now = relation(m.macd, m.signal);
        if let Some(a) = cross(self.prev, now, self.short) {
            cx.log(if a == Action::Enter {
                "macd crossed above its signal line"
            } else {
                "macd crossed below its signal line"
            });
            cx.act(a);
        }
        self.prev = Some(now);
    }

    fn shorts(&self) -> bool {
        self.short
    }
}
