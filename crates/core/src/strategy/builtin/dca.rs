//! Dollar-cost averaging: a fixed amount bought every period, with an
//! optional take-profit on the average cost.

use super::super::{Action, Candle, Cx, ParamError, Params, Strategy, in_range};
use super::Make;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub(super) fn d60() -> usize {
    60
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DcaParams {
    /// Bars between buys (1–100000).
    #[serde(default = "d60")]
    pub every_bars: usize,
    /// Stop buying after this many buys (0 = no limit).
    #[serde(default)]
    pub max_buys: usize,
}

impl Params for DcaParams {
    fn validate(&self) -> Result<(), ParamError> {
        in_range("every_bars", self.every_bars, 1, 100_000)
    }
}

impl Make for DcaParams {
    fn make(self) -> Result<Box<dyn Strategy>, ParamError> {
        Ok(Box::new(Dca {
            p: self,
            bars: 0,
            buys: 0,
        }))
    }
}

pub struct Dca {
    pub(super) p: DcaParams,
    /// Bars seen since the last buy (the first bar buys).
    pub(super) bars: usize,
    pub(super) buys: usize,
}

impl Strategy for Dca {
    fn warmup(&self) -> usize {
        0
    }

    fn on_bar(&mut self, _bar: &Candle, cx: &mut Cx<'_>) {
        let due = self.buys == 0 || self.bars.saturating_add(1) >= self.p.every_bars;
        if due && (self.p.max_buys == 0 || self.buys < self.p.max_buys) {
            self.bars = 0;
            self.buys = self.buys.saturating_add(1);
            cx.log(format!("periodic buy #{}", self.buys));
            cx.act(Action::Add);
        } else {
            self.bars = self.bars.saturating_add(1);
        }
    }

    fn save(&mut self) -> serde_json::Value {
        serde_json::json!({ "bars": self.bars, "buys": self.buys })
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        let get = |k: &str| state.get(k).and_then(serde_json::Value::as_u64);
        if let (Some(b), Some(n)) = (get("bars"), get("buys")) {
            self.bars = b as usize;
            self.buys = n as usize;
        }
        Ok(())
    }
}
