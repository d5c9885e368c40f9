//! The backtester: the bots' [`Engine`] and strategies, run over stored
//! bars against a simulated broker, with one shared portfolio for every
//! strategy and symbol of the run.
//!
//! Per step (one bar time; the union of every market's bar times), for
//! each market with a bar at that time, in market order:
//!
//! 1. working orders of the market are filled against the bar (see below);
//! 2. each strategy bound to the market sees the closed bar and decides;
//!    market orders fill at the next bar's open (`next_open`, the
//!    reference model) or at this bar's close (`close`);
//! 3. the engine's protective exits are brought in step with the position.
//!
//! Then equity is marked: cash plus every position at its market's last
//! close.
//!
//! Fill rules (documented; tests hold them):
//! - Market entries sized by percent or quote amount are sized at their
//!   fill price (`floor(cash / (price·(1+fee)))` for 100 % whole units,
//!   the reference's rule); fixed quantities are kept. An exit sells the
//!   whole position held when it fills.
//! - A limit buy fills when the bar trades at or below its price: at the
//!   open if the bar opens through it, else at the limit. Sells mirror it.
//! - A stop sell (stop-market, the trailing stop's current level) fills
//!   when the bar trades at or below the stop: at the open if it gapped
//!   through, else at the stop. A trailing stop's level moves with the
//!   best price of the bars before, never of the bar it is checked on.
//! - When a bar reaches both legs of a take-profit/stop pair, the one its
//!   open reaches fills at the open; if the open reaches neither, the
//!   stop fills (the bar's path is unknown; the worse case is assumed).
//! - Slippage moves every market and stop fill against the order by the
//!   given basis points (limits fill at their price or better).
//! - Commission per fill = value · rate + fixed.
//! - Leverage L lets free cash reach `cash + (L−1)·equity`; a run whose
//!   equity falls to zero or below is liquidated at that step's closes
//!   and stops trading (a margin call). Percent sizing is of equity (at
//!   most 100 %): leverage is used through quote or quantity sizing.
//! - A margin account (`settings.margin`) may also sell short: a sell
//!   beyond what is held opens a short (cash takes the proceeds, equity
//!   marks the borrowed quantity at the close). Buying power is
//!   `equity·L − gross position value − resting buys`. At each step's
//!   close, every borrow period boundary passed since the previous step
//!   charges each short `borrow_pct` of its value at that close, counted
//!   in its trade's fees. When equity falls to the maintenance level
//!   (a share of the gross position value) every position is closed at
//!   that step's closes and trading stops (a margin call). An entry on
//!   the opposite side of a position closes it first at the same fill
//!   price (a reversal, backtesting.py's `exclusive_orders`); the entry
//!   is sized after the exit has filled. A spot run refuses a strategy
//!   that may short.
//! - The legs of a take-profit/stop pair are `<tag>-limit` and
//!   `<tag>-stop`, as a venue names them; one filling cancels the other.
//!
//! A position still open after the last step is marked in equity and is
//! not a trade (the reference's rule), unless `close_at_end` closes it at
//! the last closes (as a market order: slippage and commission), as a
//! trade whose exit reason is `end_of_data` (backtesting.py's
//! `finalize_trades`).
//!
//! A trade is a round trip of one strategy in one market, from flat to
//! flat: entry price is the average opening price (buys; a short's
//! sells), exit price the average closing price, PnL is after every fee
//! (and borrow) of the trip, return is PnL over the entry value. A position still open at the end is marked in equity but
//! is not a trade.

#![deny(clippy::arithmetic_side_effects)]

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analytics::{self, TradeFigures};
use crate::engine::{Decision, Engine, EngineConfig, Intent};
use crate::instrument::Instrument;
use crate::money::Ratio;
use crate::order::{OrderType, Side};
use crate::strategy::{Candle, Registry, StrategySpec};
use crate::time::Timestamp;

mod settings;
pub use settings::{FillModel, Margin, Settings};
mod book;
use book::{Book, View, Working, reserve_of};

mod outcome;
pub mod report;
pub use outcome::{Direction, ExitReason, Fill, Keep, Outcome, Trade};

mod fills;
mod sweep;
pub use sweep::{Axis, SweepRow, grid, metric_value, sweep};

/// One market of a run: its instrument and bars, oldest first.
#[derive(Clone)]
pub struct Market<'a> {
    pub instrument: Instrument,
    pub bars: &'a [Candle],
    /// The closes' log-return sums (for beta), when already known: a
    /// sweep works them out once for all its runs.
    pub bench: Option<analytics::BenchSums>,
}

impl<'a> Market<'a> {
    pub fn new(instrument: Instrument, bars: &'a [Candle]) -> Market<'a> {
        Market {
            instrument,
            bars,
            bench: None,
        }
    }
}

/// One strategy of a run and the markets (indices) it trades.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Leg {
    pub spec: StrategySpec,
    pub markets: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BacktestError {
    #[error("field `{field}`: {message}")]
    Invalid { field: String, message: String },
    #[error("cancelled")]
    Cancelled,
    /// Money left the exact decimal range: prices, capital or quantities
    /// too large for a run to book exactly.
    #[error(
        "at {time}, the run's amounts (capital, prices, quantities) grew too large to book exactly"
    )]
    Overflow { time: Timestamp },
    /// A strategy stopped itself or was stopped (a user strategy's error,
    /// trap or exhausted budget).
    #[error("at {time}, the strategy failed: {message}")]
    Strategy { time: Timestamp, message: String },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> BacktestError {
    BacktestError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A run in progress.
struct Run<'a, 'm> {
    markets: &'a [Market<'a>],
    instruments: &'m [Instrument],
    engines: Vec<Engine>,
    /// Per leg: which markets it trades (its engine's slot for each).
    slots: Vec<Vec<Option<usize>>>,
    book: Book<'m>,
    fee_rate: Decimal,
    fee_fixed: Decimal,
    /// Slippage as a fraction of the price.
    slip: f64,
    fill: FillModel,
    /// Each leg's round trip in each market.
    open: Vec<Vec<analytics::RoundTrip>>,
    trades: Vec<Trade>,
    fills: Vec<Fill>,
    keep: Keep,
    total_fees: Decimal,
    out: Vec<Decision>,
    /// The buffer `out` is swapped with while its decisions are carried
    /// out (both keep their capacity).
    spare: Vec<Decision>,
    /// A strategy's failure, seen while carrying out its decisions.
    failed: Option<String>,
    /// Legs' daily loss stops: (UTC day, equity at its first step).
    daily: Option<(i64, f64)>,
    /// Whether any leg has a daily loss stop.
    daily_stops: bool,
    /// Close what is open at the last step's closes (`end_of_data`).
    close_at_end: bool,
}

/// Runs a backtest. `progress` is called now and then with the share
/// done (0–1); when it returns false the run stops with `Cancelled`.
pub fn run(
    registry: &Registry,
    markets: &[Market<'_>],
    legs: &[Leg],
    settings: &Settings,
    keep: Keep,
    progress: &mut dyn FnMut(f64) -> bool,
) -> Result<Outcome, BacktestError> {
    settings.validate().map_err(|(f, m)| invalid(f, m))?;
    if markets.is_empty() {
        return Err(invalid("datasets", "a backtest needs at least one dataset"));
    }
    if legs.is_empty() {
        return Err(invalid(
            "strategies",
            "a backtest needs at least one strategy",
        ));
    }
    let quote = &markets[0].instrument.quote;
    for (i, m) in markets.iter().enumerate() {
        if &m.instrument.quote != quote {
            return Err(invalid(
                format!("datasets[{i}]"),
                format!(
                    "{} is quoted in {}, the run in {quote}: one portfolio has one quote currency",
                    m.instrument.symbol, m.instrument.quote
                ),
            ));
        }
    }
    let instruments: Vec<Instrument> = markets.iter().map(|m| m.instrument.clone()).collect();
    let fee_rate = settings
        .commission_pct
        .map_or(Decimal::ZERO, Ratio::get)
        .checked_div(Decimal::ONE_HUNDRED)
        .ok_or_else(|| invalid("commission_pct", "out of range"))?;
    let (engines, slots) = engines(registry, &instruments, legs, settings, fee_rate)?;
    let n_markets = markets.len();
    let r = Run {
        markets,
        instruments: &instruments,
        engines,
        slots,
        book: book::new(&instruments, legs.len(), settings),
        fee_rate,
        fee_fixed: settings.commission_fixed.get(),
        slip: settings
            .slippage_bps
            .get()
            .checked_div(Decimal::from(10_000))
            .and_then(|s| s.to_f64())
            .unwrap_or(0.0),
        fill: settings.fill,
        open: vec![vec![analytics::RoundTrip::default(); n_markets]; legs.len()],
        trades: Vec::new(),
        fills: Vec::new(),
        keep,
        total_fees: Decimal::ZERO,
        out: Vec::new(),
        spare: Vec::new(),
        failed: None,
        daily: None,
        daily_stops: legs
            .iter()
            .any(|l| l.spec.protections.daily_loss_stop.is_some()),
        close_at_end: settings.close_at_end,
    };
    r.go(progress)
}

/// One engine per leg, and per leg which of its slots trades each market.
type Engines = (Vec<Engine>, Vec<Vec<Option<usize>>>);

fn engines(
    registry: &Registry,
    instruments: &[Instrument],
    legs: &[Leg],
    settings: &Settings,
    fee_rate: Decimal,
) -> Result<Engines, BacktestError> {
    let mut engines = Vec::new();
    let mut slots = Vec::new();
    for (li, leg) in legs.iter().enumerate() {
        if leg.markets.is_empty() {
            return Err(invalid(
                format!("strategies[{li}].markets"),
                "names no dataset",
            ));
        }
        let mut engine_slots = Vec::new();
        let mut map = vec![None; instruments.len()];
        for (si, &m) in leg.markets.iter().enumerate() {
            let inst = instruments.get(m).ok_or_else(|| {
                invalid(
                    format!("strategies[{li}].markets"),
                    format!("no dataset {m} in this run"),
                )
            })?;
            if map[m].is_some() {
                return Err(invalid(
                    format!("strategies[{li}].markets"),
                    format!("dataset {m} given twice"),
                ));
            }
            map[m] = Some(si);
            let (strategy, _) = registry
                .build(&leg.spec)
                .map_err(|e| invalid(format!("strategies[{li}].{}", e.field), e.message))?;
            if strategy.shorts() && settings.margin.is_none() {
                return Err(invalid(
                    format!("strategies[{li}].params.allow_short"),
                    "a spot account is long only: shorts need a margin account \
                     (settings.margin)",
                ));
            }
            engine_slots.push((inst.clone(), strategy));
        }
        let mut engine = Engine::new(
            EngineConfig {
                prefix: format!("s{li}"),
                sizing: leg.spec.sizing,
                exits: leg.spec.exits,
                fee_rate,
                interval: leg.spec.interval,
                seed: (li as u64).saturating_add(1),
                // Entries are sized at their fill price under either fill
                // model, so a reversal's entry is sized after its exit.
                size_at_fill: true,
            },
            engine_slots,
        );
        engine.set_protections(leg.spec.protections);
        engines.push(engine);
        slots.push(map);
    }
    Ok((engines, slots))
}

impl Run<'_, '_> {
    /// The step times: every market's bar times, merged.
    fn steps(&self) -> Vec<Timestamp> {
        if let [m] = self.markets {
            return m.bars.iter().map(|b| b.time).collect();
        }
        let mut all: Vec<Timestamp> = self
            .markets
            .iter()
            .flat_map(|m| m.bars.iter().map(|b| b.time))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    fn go(mut self, progress: &mut dyn FnMut(f64) -> bool) -> Result<Outcome, BacktestError> {
        // One market: its bars are the steps. More: their merged times.
        let single = self.markets.len() == 1;
        let merged = if single { Vec::new() } else { self.steps() };
        let n = if single {
            self.markets[0].bars.len()
        } else {
            merged.len()
        };
        if n == 0 {
            return Err(invalid("datasets", "no bars in the chosen range"));
        }
        let keep = self.keep.equity;
        let mut equity = Vec::with_capacity(if keep { n } else { 0 });
        // The first step any strategy can act on: the longest look-back.
        let lookback = self.engines.iter().map(Engine::lookback).max().unwrap_or(0);
        let first_tradable = lookback.saturating_sub(1).min(n.saturating_sub(1));
        // One market is its own benchmark. Its log-return sums, unless
        // given, are worked out on a second thread while the run steps.
        let given = single.then_some(self.markets[0].bench).flatten();
        let mut curve = analytics::Curve::new(first_tradable, single);
        let bars = self.markets[0].bars;
        let (margin_call, sums) = std::thread::scope(|s| {
            let pending = (single && given.is_none())
                .then(|| s.spawn(|| analytics::BenchSums::of_bars(bars)));
            let margin_call = self.step_all(n, &merged, &mut curve, &mut equity, progress);
            let sums = pending.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            (margin_call, sums)
        });
        let margin_call = margin_call?;
        if let Some(sums) = given.or(sums) {
            curve.give_bench(sums);
        }
        let figures: Vec<TradeFigures> = self.trades.iter().map(Trade::figures).collect();
        let metrics = analytics::finish(curve, &figures, self.total_fees);
        let final_equity = self.book.equity();
        let merged_times = if keep { merged } else { Vec::new() };
        Ok(Outcome {
            metrics,
            trades: self.trades,
            fills: self.fills,
            equity,
            merged_times,
            final_cash: self.book.cash,
            final_equity,
            margin_call,
        })
    }

    /// Every step (`n`: each market's bars when there is one market, else
    /// the `merged` times), fed to `curve` and, when kept, `equity`; the
    /// time of the margin call, if one ended the trading.
    fn step_all(
        &mut self,
        n: usize,
        merged: &[Timestamp],
        curve: &mut analytics::Curve,
        equity: &mut Vec<f64>,
        progress: &mut dyn FnMut(f64) -> bool,
    ) -> Result<Option<Timestamp>, BacktestError> {
        let markets = self.markets;
        let single = markets.len() == 1;
        let keep = self.keep.equity;
        let mut cursor = vec![0usize; markets.len()];
        let mut margin_call = None;
        #[allow(clippy::needless_range_loop)] // the step indexes bars or merged times
        for step in 0..n {
            if step.is_multiple_of(65_536) && step > 0 && !progress(step as f64 / n as f64) {
                return Err(BacktestError::Cancelled);
            }
            let t = if single {
                let bar = &markets[0].bars[step];
                if margin_call.is_none() {
                    self.bar(step, 0, bar);
                } else {
                    self.book.set_last(0, bar.close);
                }
                bar.time
            } else {
                let t = merged[step];
                for (m, at) in cursor.iter_mut().enumerate() {
                    let Some(bar) = markets[m].bars.get(*at).filter(|b| b.time == t) else {
                        continue;
                    };
                    *at = at.saturating_add(1);
                    if margin_call.is_none() {
                        self.bar(step, m, bar);
                    } else {
                        self.book.set_last(m, bar.close);
                    }
                }
                t
            };
            if self.book.overflow.get() {
                return Err(BacktestError::Overflow { time: t });
            }
            if let Some(message) = self.failed.take() {
                return Err(BacktestError::Strategy { time: t, message });
            }
            if margin_call.is_none() && self.book.margin.is_some() {
                self.borrow(t);
            }
            if self.close_at_end && margin_call.is_none() && step.saturating_add(1) == n {
                self.liquidate(step, t, "end-of-data");
            }
            let mut e = self.book.equity_f64();
            if self.daily_stops {
                self.daily_loss(t, e);
            }
            if margin_call.is_none() && self.book.margin_call(e) {
                self.liquidate(step, t, "margin-call");
                margin_call = Some(t);
                e = self.book.equity_f64();
            }
            curve.push(t, e, self.book.last[0]);
            if keep {
                equity.push(e);
            }
        }
        Ok(margin_call)
    }

    /// One bar of market `m` at step `step`.
    fn bar(&mut self, step: usize, m: usize, bar: &Candle) {
        if !self.book.working.is_empty() {
            self.fill_working(step, m, bar);
        }
        self.book.set_last(m, bar.close);
        for leg in 0..self.engines.len() {
            let Some(slot) = self.slots[leg][m] else {
                continue;
            };
            let view = View {
                book: &self.book,
                leg,
            };
            self.engines[leg].on_bar(slot, bar, &view, &mut self.out);
            if !self.out.is_empty() {
                self.carry_out(step, leg, bar);
            }
        }
    }

    /// Carries out a leg's decisions (in `self.out`), then keeps its
    /// protective exits in step, until nothing more is decided.
    fn carry_out(&mut self, step: usize, leg: usize, bar: &Candle) {
        if let Some(why) = self.engines[leg].fault() {
            self.failed.get_or_insert_with(|| why.to_owned());
        }
        for _ in 0..8 {
            if self.out.is_empty() {
                break;
            }
            let spare = std::mem::take(&mut self.spare);
            let mut decisions = std::mem::replace(&mut self.out, spare);
            for d in decisions.drain(..) {
                match d {
                    Decision::Place(i) => self.place(step, leg, i, None, bar),
                    Decision::PlaceOco {
                        tag,
                        mut limit,
                        mut stop,
                    } => {
                        // The legs' own ids, as a venue gives them.
                        limit.tag = format!("{tag}-limit");
                        stop.tag = format!("{tag}-stop");
                        self.place(step, leg, limit, Some(tag.clone()), bar);
                        self.place(step, leg, stop, Some(tag), bar);
                    }
                    Decision::Cancel { tag } => self.cancel(&tag),
                    Decision::Log { .. } => {}
                }
            }
            self.spare = decisions;
            let view = View {
                book: &self.book,
                leg,
            };
            self.engines[leg].after(&view, &mut self.out);
        }
        self.out.clear();
    }

    fn cancel(&mut self, tag: &str) {
        let fee_rate = self.fee_rate;
        let mut released = Some(Decimal::ZERO);
        self.book.working.retain(|w| {
            let hit = w.tag == tag || w.pair.as_deref() == Some(tag);
            if hit && w.side == Side::Buy && w.terms.order_type() == OrderType::Limit {
                released = released
                    .zip(reserve_of(w, fee_rate))
                    .and_then(|(a, b)| a.checked_add(b));
            }
            !hit
        });
        let book = &mut self.book;
        book.reserved = book.checked(
            released.and_then(|r| book.reserved.checked_sub(r)),
            Decimal::ZERO,
        );
    }

    /// Holds back (or releases) what a resting buy limit may spend.
    fn reserve(&mut self, w: &Working, hold: bool) {
        let book = &mut self.book;
        let r = reserve_of(w, self.fee_rate).and_then(|r| {
            if hold {
                book.reserved.checked_add(r)
            } else {
                book.reserved.checked_sub(r)
            }
        });
        book.reserved = book.checked(r, Decimal::ZERO);
    }

    /// Places an intent: market orders fill now (close model) or wait for
    /// the next bar; the rest rest.
    fn place(&mut self, step: usize, leg: usize, i: Intent, pair: Option<String>, bar: &Candle) {
        let Some(m) = self.book.market_of(&i.symbol) else {
            return;
        };
        let w = Working {
            tag: i.tag,
            pair,
            leg,
            market: m,
            side: i.side,
            role: i.role,
            qty: i.qty,
            terms: i.terms,
            best: Some(self.book.last[m]),
            placed: step,
        };
        if w.terms.order_type() == OrderType::Market && self.fill == FillModel::Close {
            let _ = self.fill_market(step, &w, bar.close, bar.time, true);
            return;
        }
        if w.side == Side::Buy && w.terms.order_type() == OrderType::Limit {
            self.reserve(&w, true);
        }
        self.book.working.push(w);
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact figures on purpose
#[allow(clippy::arithmetic_side_effects)] // expectations are worked out plainly
mod tests;
