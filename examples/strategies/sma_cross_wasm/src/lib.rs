//! The built-in `sma_cross`, as a WebAssembly strategy: enter on the bar
//! where SMA(fast) crosses above SMA(slow), exit on the bar where it
//! crosses below (strictly: equality is not a cross). The averages are
//! the daemon's own code, compiled into the module.

use tradedesk_strategy_sdk::indicator::Sma;
use tradedesk_strategy_sdk::{Bar, Cx, Meta, Param, Params, Strategy, export_strategy};

pub struct SmaCross {
    fast: Sma,
    slow: Sma,
    slow_period: u32,
    /// Where fast stood against slow on the previous bar: -1, 0, 1.
    prev: Option<i8>,
}

impl Strategy for SmaCross {
    const META: Meta = Meta {
        summary: "Moving-average crossover on simple moving averages (WebAssembly).",
        rules: "Enter (market buy) on the bar where SMA(fast) crosses above SMA(slow): \
                fast[i-1] < slow[i-1] and fast[i] > slow[i]. Exit on the bar where it \
                crosses below.",
        params: &[
            Param::int("fast", 10, 1, 1000, "Period of the fast average, in bars"),
            Param::int("slow", 20, 2, 5000, "Period of the slow average, in bars"),
        ],
    };

    fn new(p: &Params) -> Result<Self, String> {
        let (fast, slow) = (p.int("fast") as u32, p.int("slow") as u32);
        if fast >= slow {
            return Err(format!("fast ({fast}) must be less than slow ({slow})"));
        }
        Ok(SmaCross {
            fast: Sma::new(fast as usize).map_err(|e| e.to_string())?,
            slow: Sma::new(slow as usize).map_err(|e| e.to_string())?,
            slow_period: slow,
            prev: None,
        })
    }

    fn warmup(&self) -> u32 {
        self.slow_period + 1
    }

    fn lookback(&self) -> u32 {
        self.slow_period
    }

    fn on_bar(&mut self, bar: &Bar, cx: &mut Cx) {
        let (f, s) = (self.fast.update(bar.close), self.slow.update(bar.close));
        let (Some(f), Some(s)) = (f, s) else {
            return;
        };
        let now = if f < s {
            -1
        } else if f > s {
            1
        } else {
            0
        };
        match (self.prev, now) {
            (Some(-1), 1) => {
                cx.log("fast average crossed above the slow one");
                cx.enter();
            }
            (Some(1), -1) => {
                cx.log("fast average crossed below the slow one");
                cx.exit();
            }
            _ => {}
        }
        self.prev = Some(now);
    }
}

export_strategy!(SmaCross);
