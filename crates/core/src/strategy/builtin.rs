//! The built-in strategies. Each is long-only (spot: it buys, then sells
//! what it bought) and documented with its exact rules in [`CATALOG`].
//!
//! Crosses are strict on both bars, as the reference backtester computes
//! them: `a` crosses above `b` on bar *i* when `a[i-1] < b[i-1]` and
//! `a[i] > b[i]` (equality is not a cross).

#![deny(clippy::arithmetic_side_effects)]

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    Action, Built, Candle, Cx, KeyedFill, Kind, ParamError, Params, Strategy, in_range,
    parse_params,
};
use crate::indicator::{Bollinger, Ema, Macd, Rsi, Sma};
use crate::money::{Price, Qty};
use crate::order::Side;

pub const CATALOG: &[Kind] = &[
    kind::<SmaCrossParams>(
        "sma_cross",
        "Moving-average crossover on simple moving averages.",
        "Enter (market buy) on the bar where SMA(fast) crosses above SMA(slow): \
         fast[i-1] < slow[i-1] and fast[i] > slow[i]. Exit (sell everything at market) on \
         the bar where SMA(fast) crosses below SMA(slow). Both averages of the closes.",
    ),
    kind::<EmaCrossParams>(
        "ema_cross",
        "Moving-average crossover on exponential moving averages.",
        "Enter on the bar where EMA(fast) crosses above EMA(slow) (strictly, as sma_cross); \
         exit on the bar where it crosses below. EMAs are seeded with the SMA of their first \
         `period` closes (TA-Lib).",
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
         closes below the middle band.",
    ),
    kind::<MacdParams>(
        "macd",
        "MACD line crossing its signal line.",
        "Enter on the bar where the MACD line (EMA(fast) − EMA(slow)) crosses above its \
         signal line (EMA(signal) of the MACD line), strictly; exit on the bar where it \
         crosses below.",
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

// ---- crosses ---------------------------------------------------------------

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

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmaCrossParams {
    /// Period of the fast average, in bars (1–1000).
    #[serde(default = "d10")]
    pub fast: usize,
    /// Period of the slow average, in bars (2–5000), greater than `fast`.
    #[serde(default = "d20")]
    pub slow: usize,
}

fn check_cross(fast: usize, slow: usize) -> Result<(), ParamError> {
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
        Ok(Box::new(Cross::sma(self.fast, self.slow)?))
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
}

impl Params for EmaCrossParams {
    fn validate(&self) -> Result<(), ParamError> {
        check_cross(self.fast, self.slow)
    }
}
impl Make for EmaCrossParams {
    fn make(self) -> Result<Box<dyn Strategy>, ParamError> {
        Ok(Box::new(Cross::ema(self.fast, self.slow)?))
    }
}

#[derive(Debug, Clone)]
enum Average {
    Sma(Sma),
    Ema(Ema),
}

impl Average {
    #[inline]
    fn update(&mut self, x: f64) -> Option<f64> {
        match self {
            Average::Sma(s) => s.update(x),
            Average::Ema(e) => e.update(x),
        }
    }
}

/// Where `a` stood against `b` on the previous bar.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Relation {
    Below,
    Equal,
    Above,
}

fn relation(a: f64, b: f64) -> Relation {
    if a < b {
        Relation::Below
    } else if a > b {
        Relation::Above
    } else {
        Relation::Equal
    }
}

/// A strict cross between the previous and this relation.
fn cross(prev: Option<Relation>, now: Relation) -> Option<Action> {
    match (prev?, now) {
        (Relation::Below, Relation::Above) => Some(Action::Enter),
        (Relation::Above, Relation::Below) => Some(Action::Exit),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct Cross {
    fast: Average,
    slow: Average,
    slow_period: usize,
    prev: Option<Relation>,
}

impl Cross {
    pub fn sma(fast: usize, slow: usize) -> Result<Cross, ParamError> {
        Ok(Cross {
            fast: Average::Sma(Sma::new(fast).map_err(period)?),
            slow: Average::Sma(Sma::new(slow).map_err(period)?),
            slow_period: slow,
            prev: None,
        })
    }

    pub fn ema(fast: usize, slow: usize) -> Result<Cross, ParamError> {
        Ok(Cross {
            fast: Average::Ema(Ema::new(fast).map_err(period)?),
            slow: Average::Ema(Ema::new(slow).map_err(period)?),
            slow_period: slow,
            prev: None,
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
        if let Some(a) = cross(self.prev, now) {
            cx.log(if a == Action::Enter {
                "fast average crossed above the slow one"
            } else {
                "fast average crossed below the slow one"
            });
            cx.act(a);
        }
        self.prev = Some(now);
    }
}

// ---- RSI -------------------------------------------------------------------

fn d30f() -> f64 {
    30.0
}
fn d70f() -> f64 {
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
    rsi: Rsi,
    p: RsiParams,
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

// ---- Bollinger -------------------------------------------------------------

fn d2f() -> f64 {
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
        }))
    }
}

pub struct BollingerBreakout {
    bands: Bollinger,
    prev_above: Option<bool>,
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
        if above && self.prev_above == Some(false) {
            cx.log(format!(
                "close {} above upper band {:.6}",
                bar.close, b.upper
            ));
            cx.act(Action::Enter);
        } else if bar.close < b.middle && cx.position().is_positive() {
            cx.log(format!(
                "close {} below middle band {:.6}",
                bar.close, b.middle
            ));
            cx.act(Action::Exit);
        }
        self.prev_above = Some(above);
    }
}

impl BollingerBreakout {
    fn bands_period(&self) -> usize {
        self.bands.period()
    }
}

// ---- MACD ------------------------------------------------------------------

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
        }))
    }
}

pub struct MacdCross {
    macd: Macd,
    prev: Option<Relation>,
    warmup: usize,
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
        if let Some(a) = cross(self.prev, now) {
            cx.log(if a == Action::Enter {
                "macd crossed above its signal line"
            } else {
                "macd crossed below its signal line"
            });
            cx.act(a);
        }
        self.prev = Some(now);
    }
}

// ---- grid ------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GridParams {
    /// The lowest price line.
    pub lower: Price,
    /// The highest price line, above `lower`.
    pub upper: Price,
    /// Number of price lines (2–200).
    pub levels: usize,
}

impl Params for GridParams {
    fn validate(&self) -> Result<(), ParamError> {
        if !self.lower.is_positive() {
            return Err(ParamError::new(
                "lower",
                format!("must be greater than zero, got {}", self.lower),
            ));
        }
        if self.upper <= self.lower {
            return Err(ParamError::new(
                "upper",
                format!(
                    "must be greater than lower ({}), got {}",
                    self.lower, self.upper
                ),
            ));
        }
        in_range("levels", self.levels, 2, 200)
    }
}
impl Make for GridParams {
    fn make(self) -> Result<Box<dyn Strategy>, ParamError> {
        Ok(Box::new(Grid::new(self)))
    }
}

pub struct Grid {
    p: GridParams,
    /// Quantity bought at line i and not yet sold at line i+1.
    holding: BTreeMap<usize, Qty>,
}

impl Grid {
    fn new(p: GridParams) -> Grid {
        Grid {
            p,
            holding: BTreeMap::new(),
        }
    }

    /// Line `i`'s price on the tick grid; `None` when the grid's prices
    /// are too large to compute exactly (no order is placed then).
    fn line(&self, i: usize, tick: Price) -> Option<Price> {
        let (lower, upper) = (self.p.lower.get(), self.p.upper.get());
        let gaps = Decimal::from(self.p.levels.saturating_sub(1).max(1));
        let step = upper.checked_sub(lower)?.checked_div(gaps)?;
        let raw = lower.checked_add(step.checked_mul(Decimal::from(i))?)?;
        let t = tick.get();
        if t.is_zero() {
            return Some(Price::new(raw));
        }
        let on_grid = raw.checked_div(t)?.round().checked_mul(t)?;
        Some(Price::new(on_grid.normalize()))
    }

    /// Trims what the grid thinks it holds to what the bot holds: after a
    /// kill switch sold the position, a user sold part of it, or anything
    /// else outside the grid, the lines bought highest are the ones that
    /// are gone. (More held than the lines account for is not the grid's,
    /// and is left alone.)
    fn reconcile(&mut self, held: Qty) {
        let held = held.max(Qty::ZERO);
        let mut total = self
            .holding
            .values()
            .try_fold(Qty::ZERO, |sum, q| sum.checked_add(*q))
            .unwrap_or(Qty::new(Decimal::MAX));
        while total > held {
            let Some((&line, &q)) = self.holding.iter().next_back() else {
                break;
            };
            let excess = total.checked_sub(held).unwrap_or(Qty::ZERO);
            let cut = q.min(excess);
            let left = q.checked_sub(cut).unwrap_or(Qty::ZERO);
            if left.is_positive() {
                self.holding.insert(line, left);
            } else {
                self.holding.remove(&line);
            }
            total = total.checked_sub(cut).unwrap_or(Qty::ZERO);
        }
    }

    /// Places what is missing from the ladder, for what the bot really holds.
    fn ensure(&mut self, cx: &mut Cx<'_>) {
        self.reconcile(cx.position());
        let tick = cx.instrument().tick_size;
        let (keyed, last) = (cx.keyed(), cx.last());
        for i in 0..self.p.levels.saturating_sub(1) {
            let (buy, sell) = (format!("b{i}"), format!("s{i}"));
            let open = |k: &str| keyed.iter().any(|o| o.key == k);
            if let Some(q) = self.holding.get(&i) {
                if !open(&sell)
                    && let Some(price) = self.line(i.saturating_add(1), tick)
                {
                    cx.act(Action::Limit {
                        key: sell,
                        side: Side::Sell,
                        price,
                        qty: Some(*q),
                    });
                }
            } else if let Some(price) = self.line(i, tick)
                && price < last
                && !open(&buy)
            {
                cx.act(Action::Limit {
                    key: buy,
                    side: Side::Buy,
                    price,
                    qty: None,
                });
            }
        }
    }
}

impl Strategy for Grid {
    fn warmup(&self) -> usize {
        0
    }

    /// A grid gains one step per completed line and pays a maker fee on
    /// each side: a step at or below that round trip loses money on every
    /// line, however many lines it completes.
    fn warnings(&self, fees: super::FeeRates) -> Vec<String> {
        let (lower, upper) = (self.p.lower.get(), self.p.upper.get());
        let gaps = Decimal::from(self.p.levels.saturating_sub(1).max(1));
        let Some(step) = upper.checked_sub(lower).and_then(|r| r.checked_div(gaps)) else {
            return Vec::new();
        };
        // The smallest gain is at the top line bought (upper − step).
        let Some(gain) = upper
            .checked_sub(step)
            .and_then(|top| step.checked_div(top))
        else {
            return Vec::new();
        };
        let round_trip = fees.maker.checked_mul(Decimal::TWO).unwrap_or(Decimal::MAX);
        if gain > round_trip {
            return Vec::new();
        }
        let pct = |f: Decimal| crate::display::percent(f);
        vec![format!(
            "the grid's step ({} at its top line) is not above its round-trip fee ({}: the maker fee on both sides); every completed line loses money",
            pct(gain),
            pct(round_trip)
        )]
    }

    fn on_bar(&mut self, _bar: &Candle, cx: &mut Cx<'_>) {
        self.ensure(cx);
    }

    fn on_start(&mut self, cx: &mut Cx<'_>) {
        self.ensure(cx);
    }

    fn on_fill(&mut self, f: &KeyedFill, cx: &mut Cx<'_>) {
        let Some(i) = f.key.get(1..).and_then(|n| n.parse::<usize>().ok()) else {
            return;
        };
        match f.side {
            Side::Buy => {
                let held = self.holding.entry(i).or_insert(Qty::ZERO);
                *held = held.checked_add(f.qty).unwrap_or(*held);
            }
            Side::Sell => {
                if let Some(held) = self.holding.get_mut(&i) {
                    *held = held.checked_sub(f.qty).unwrap_or(Qty::ZERO);
                    if !held.is_positive() {
                        self.holding.remove(&i);
                    }
                }
            }
        }
        if f.complete {
            self.ensure(cx);
        }
    }

    fn save(&self) -> serde_json::Value {
        serde_json::json!({ "holding": self.holding })
    }

    fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        if let Some(h) = state.get("holding") {
            self.holding = serde_json::from_value(h.clone()).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

// ---- DCA -------------------------------------------------------------------

fn d60() -> usize {
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
    p: DcaParams,
    /// Bars seen since the last buy (the first bar buys).
    bars: usize,
    buys: usize,
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

    fn save(&self) -> serde_json::Value {
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
