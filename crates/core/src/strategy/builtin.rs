//! The built-in strategies, documented with their exact rules in
//! [`CATALOG`]. Each is long-only (spot: it buys, then sells what it
//! bought) unless its `allow_short` is set (crossovers, MACD, Bollinger):
//! then it also sells short, which only a margin account allows.
//!
//! Crosses are strict on both bars, as the reference backtester computes
//! them: `a` crosses above `b` on bar *i* when `a[i-1] < b[i-1]` and
//! `a[i] > b[i]` (equality is not a cross).

#![deny(clippy::arithmetic_side_effects)]

use schemars::JsonSchema;

use super::{Built, Kind, ParamError, Params, Strategy, parse_params};

mod cross;
pub use cross::{Cross, EmaCrossParams, SmaCrossParams};
mod rsi;
pub use rsi::{RsiParams, RsiReversion};
mod bollinger;
pub use bollinger::{BollingerBreakout, BollingerParams};
mod macd;
pub use macd::{MacdCross, MacdParams};
mod grid;
pub use grid::{Grid, GridParams};
mod dca;
pub use dca::{Dca, DcaParams};

pub const CATALOG: &[Kind] = &[
    kind::<SmaCrossParams>(
        "sma_cross",
        "Moving-average crossover on simple moving averages.",
        "Enter (market buy) on the bar where SMA(fast) crosses above SMA(slow): \
         fast[i-1] < slow[i-1] and fast[i] > slow[i]. Exit (sell everything at market) on \
         the bar where SMA(fast) crosses below SMA(slow). Both averages of the closes. With \
         allow_short (margin accounts): short on the cross below, reversing a long, and back \
         long on the cross above, reversing the short.",
    ),
    kind::<EmaCrossParams>(
        "ema_cross",
        "Moving-average crossover on exponential moving averages.",
        "Enter on the bar where EMA(fast) crosses above EMA(slow) (strictly, as sma_cross); \
         exit on the bar where it crosses below. EMAs are seeded with the SMA of their first \
         `period` closes (TA-Lib). With allow_short: short on the cross below, reversing.",
    ),
    kind::<RsiParams>(
        "rsi_reversion",
        "Mean reversion on Wilder's RSI.",
        "Enter when a bar closes with RSI(period) < oversold and no position is open; exit \
         when a bar closes with RSI(period) > overbought.",
    ),
    kind::<BollingerParams>(
        "bollinger_breakout",
        "Breakout above the upper Bollinger Band.",
        "Enter when a bar closes above the upper band (SMA(period) + k × population \
         standard deviation) after the previous bar closed at or below it; exit when a bar \
         closes below the middle band. With allow_short, mirrored: short when a bar closes \
         below the lower band after the previous closed at or above it (reversing a long), \
         buy back when a bar closes above the middle band.",
    ),
    kind::<MacdParams>(
        "macd",
        "MACD line crossing its signal line.",
        "Enter on the bar where the MACD line (EMA(fast) − EMA(slow)) crosses above its \
         signal line (EMA(signal) of the MACD line), strictly; exit on the bar where it \
         crosses below. With allow_short: short on the cross below, reversing.",
    ),
    kind::<GridParams>(
        "grid",
        "A ladder of limit orders between two prices.",
        "Price lines p0 = lower … p(levels-1) = upper, evenly spaced (rounded to the tick). \
         For every line pi below the last price with nothing bought at it, a limit buy rests \
         at pi (sized by the sizing rule). When the buy at pi fills, a limit sell of the \
         filled quantity rests at p(i+1); when that sells, the buy at pi is placed again. \
         Outside the range nothing new is placed. Pausing cancels the ladder; resuming \
         places it again from what is held.",
    ),
    kind::<DcaParams>(
        "dca",
        "Dollar-cost averaging: periodic market buys.",
        "Buy at market (sized by the sizing rule, whatever is already held) on the first \
         bar and then every `every_bars` bars, at most `max_buys` times (0 = no limit). \
         With exits.take_profit_pct the whole position carries a take-profit at that \
         distance above its average price, moved after every buy; when it fills, buying \
         continues.",
    ),
];

/// The built-in called `name`.
pub fn find(name: &str) -> Option<&'static Kind> {
    CATALOG.iter().find(|k| k.name == name)
}

const fn kind<P: Make + 'static>(
    name: &'static str,
    summary: &'static str,
    rules: &'static str,
) -> Kind {
    Kind {
        name,
        summary,
        rules,
        schema: schema::<P>,
        build: <P as Make>::build,
    }
}

fn schema<P: JsonSchema>() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(P)).unwrap_or_default()
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(period)`
fn period(e: crate::indicator::PeriodError) -> ParamError {
    ParamError::new(e.param, e.to_string())
}

/// Builds a strategy from JSON params.
trait Make: Params + Sized {
    fn make(self) -> Result<Box<dyn Strategy>, ParamError>;
    fn build(params: &serde_json::Value) -> Built {
        let (p, normalized) = parse_params::<Self>(params)?;
        Ok((p.make()?, normalized))
    }
}

fn d10() -> usize {
    10
}
fn d20() -> usize {
    20
}
fn d12() -> usize {
    12
}
fn d26() -> usize {
    26
}
fn d9() -> usize {
    9
}
fn d14() -> usize {
    14
}
