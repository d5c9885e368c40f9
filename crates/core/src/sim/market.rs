//! The synthetic market: per symbol, a mid price that follows a random
//! walk with volatility clustering (GARCH(1,1)) and rare jumps, an order
//! book of several levels around it, and a tape of trades at the touch.
//!
//! Prices are generated in f64 (they are not money, only a model) and every
//! published price and quantity is snapped to the instrument's grid as an
//! exact decimal.

use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use serde::{Deserialize, Serialize};

use super::Rng;
use crate::instrument::Instrument;
use crate::market::{BookLevel, OrderBook, TradeTick};
use crate::money::{Price, Qty};
use crate::order::Side;
use crate::time::Timestamp;

const YEAR_MS: f64 = 365.25 * 24.0 * 3600.0 * 1000.0;
/// GARCH(1,1) weights: how much of the last shock and of the last variance
/// carry into the next tick's variance.
const ALPHA: f64 = 0.08;
const BETA: f64 = 0.90;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolSpec {
    pub instrument: Instrument,
    pub start_price: Price,
    /// Annualized volatility, e.g. 0.6 for 60 %.
    pub volatility: f64,
    /// Typical trade size in the quote currency.
    pub trade_notional: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimSpec {
    pub seed: u64,
    pub tick_ms: u64,
    pub book_levels: usize,
    /// Probability per tick of a jump of about ten typical moves.
    pub jump_probability: f64,
    pub symbols: Vec<SymbolSpec>,
}

/// One symbol's state.
#[derive(Debug, Clone)]
pub struct SymbolMarket {
    pub instrument: Instrument,
    mid: f64,
    variance: f64,
    base_variance: f64,
    trade_notional: f64,
    pub book: OrderBook,
    pub last: Price,
    next_trade_id: u64,
}

/// What one tick produced for one symbol.
#[derive(Debug, Clone)]
pub struct TickOutput {
    pub symbol_index: usize,
    pub trades: Vec<TradeTick>,
}

pub struct SimMarket {
    spec: SimSpec,
    rng: Rng,
    pub symbols: Vec<SymbolMarket>,
}

impl SimMarket {
    pub fn new(spec: SimSpec) -> Self {
        let mut rng = Rng::new(spec.seed);
        let per_tick = spec.tick_ms as f64 / YEAR_MS;
        let symbols = spec
            .symbols
            .iter()
            .map(|s| {
                let base_variance = s.volatility * s.volatility * per_tick;
                let mid = s.start_price.get().to_f64().unwrap_or(1.0);
                let mut m = SymbolMarket {
                    instrument: s.instrument.clone(),
                    mid,
                    variance: base_variance,
                    base_variance,
                    trade_notional: s.trade_notional,
                    book: OrderBook::default(),
                    last: s.start_price,
                    next_trade_id: 1,
                };
                m.rebuild_book(&mut rng, spec.book_levels);
                m
            })
            .collect();
        SimMarket { spec, rng, symbols }
    }

    pub fn spec(&self) -> &SimSpec {
        &self.spec
    }

    pub fn index_of(&self, symbol: &str) -> Option<usize> {
        self.symbols
            .iter()
            .position(|s| s.instrument.symbol.as_str() == symbol)
    }

    /// Advances every symbol by one tick at time `now`.
    pub fn step(&mut self, now: Timestamp) -> Vec<TickOutput> {
        let levels = self.spec.book_levels;
        let jump_p = self.spec.jump_probability;
        let mut out = Vec::with_capacity(self.symbols.len());
        for (i, s) in self.symbols.iter_mut().enumerate() {
            let shock = s.variance.sqrt() * self.rng.normal();
            let jump = if self.rng.unit() < jump_p {
                10.0 * s.base_variance.sqrt() * self.rng.normal()
            } else {
                0.0
            };
            let r = shock + jump;
            s.variance =
                s.base_variance * (1.0 - ALPHA - BETA) + ALPHA * shock * shock + BETA * s.variance;
            s.mid *= r.exp();
            let tick = s.instrument.tick_size.get().to_f64().unwrap_or(0.01);
            s.mid = s.mid.max(tick * 10.0);
            s.rebuild_book(&mut self.rng, levels);
            let n = 1 + self.rng.below(3);
            let mut trades = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let side = if self.rng.unit() < 0.5 + (r * 50.0).clamp(-0.3, 0.3) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let Some(level) = (match side {
                    Side::Buy => s.book.best_ask(),
                    Side::Sell => s.book.best_bid(),
                }) else {
                    continue;
                };
                let qty = s.random_qty(&mut self.rng, 1.0).min(level.qty);
                if !qty.is_positive() {
                    continue;
                }
                trades.push(TradeTick {
                    id: s.next_trade_id,
                    time: now,
                    price: level.price,
                    qty,
                    taker_side: side,
                });
                s.next_trade_id += 1;
                s.last = level.price;
            }
            out.push(TickOutput {
                symbol_index: i,
                trades,
            });
        }
        out
    }
}

impl SymbolMarket {
    fn snap_price(&self, p: f64) -> Option<Price> {
        let d = Decimal::from_f64(p)?;
        let price = self.instrument.round_price(d);
        price.is_positive().then_some(price)
    }

    /// A quantity around `scale` × the typical trade size, on the lot grid,
    /// at least one lot.
    fn random_qty(&self, rng: &mut Rng, scale: f64) -> Qty {
        let notional = self.trade_notional * scale * (0.6 * rng.normal()).exp();
        let lot = self.instrument.lot_size;
        let q = Decimal::from_f64(notional / self.mid)
            .map(Qty::new)
            .and_then(|q| q.floor_to(lot))
            .unwrap_or(lot);
        q.max(lot).max(self.instrument.min_qty)
    }

    fn rebuild_book(&mut self, rng: &mut Rng, levels: usize) {
        let tick = self.instrument.tick_size.get().to_f64().unwrap_or(0.01);
        // The spread widens with volatility; never below one tick.
        let half_spread = (self.mid * self.variance.sqrt() * 0.5).max(tick * 0.5);
        let step = (half_spread * 0.8).max(tick);
        let mut bids = Vec::with_capacity(levels);
        let mut asks = Vec::with_capacity(levels);
        for k in 0..levels {
            let depth = 1.0 + k as f64 * 0.6;
            if let Some(p) = self.snap_price(self.mid - half_spread - step * k as f64)
                && bids.last().is_none_or(|l: &BookLevel| p < l.price)
            {
                bids.push(BookLevel {
                    price: p,
                    qty: self.random_qty(rng, 3.0 * depth),
                });
            }
            if let Some(p) = self.snap_price(self.mid + half_spread + step * k as f64) {
                let above_bid = bids.first().is_none_or(|b| p > b.price);
                if above_bid && asks.last().is_none_or(|l: &BookLevel| p > l.price) {
                    asks.push(BookLevel {
                        price: p,
                        qty: self.random_qty(rng, 3.0 * depth),
                    });
                }
            }
        }
        self.book = OrderBook { bids, asks };
    }
}

/// `minutes` 1-minute bars of synthetic history for a symbol, ending just
/// before `end` (a minute boundary) with a close at the symbol's start
/// price, so a fresh market has a past: charts fill, strategies warm up and
/// the recorded klines import at once. The same per-minute model as the
/// live walk (GARCH(1,1) volatility, rare jumps), reproducible from `seed`;
/// prices on the tick, volumes on the lot.
pub fn history(
    spec: &SymbolSpec,
    seed: u64,
    jump_probability: f64,
    end: Timestamp,
    minutes: usize,
) -> impl Iterator<Item = crate::market::Bar> {
    const MINUTE_MS: i64 = 60_000;
    let mut rng = Rng::new(seed ^ 0x005E_ED0F_4157_0123);
    let base_variance = spec.volatility * spec.volatility * (MINUTE_MS as f64 / YEAR_MS);
    // Log prices relative to the end: walk forward, then shift so the last
    // close is the start price.
    let mut variance = base_variance;
    let mut log = Vec::with_capacity(minutes.saturating_add(1));
    let mut x = 0.0_f64;
    log.push(x);
    let mut swings = Vec::with_capacity(minutes);
    for _ in 0..minutes {
        let shock = variance.sqrt() * rng.normal();
        let jump = if rng.unit() < jump_probability * 60.0 {
            10.0 * base_variance.sqrt() * rng.normal()
        } else {
            0.0
        };
        variance = base_variance * (1.0 - ALPHA - BETA) + ALPHA * shock * shock + BETA * variance;
        x += shock + jump;
        log.push(x);
        // How far the bar strays beyond its open and close.
        swings.push((
            variance.sqrt() * rng.normal().abs() * 0.5,
            variance.sqrt() * rng.normal().abs() * 0.5,
        ));
    }
    let start = spec.start_price.get().to_f64().unwrap_or(1.0);
    let shift = start.ln() - x;
    let first = end.millis().div_euclid(MINUTE_MS) * MINUTE_MS - minutes as i64 * MINUTE_MS;
    let inst = spec.instrument.clone();
    // The bars are made as they are taken: a month of them is megabytes,
    // written to the store a row at a time, never needed all at once.
    (0..minutes).map(move |i| {
        let snap = |p: f64| {
            Decimal::from_f64(p)
                .map(|d| inst.round_price(d))
                .filter(|p| p.is_positive())
                .unwrap_or(inst.tick_size)
        };
        let (o, c) = ((log[i] + shift).exp(), (log[i + 1] + shift).exp());
        let (up, down) = swings[i];
        let open = snap(o);
        let close = snap(c);
        let high = snap(o.max(c) * up.exp()).max(open).max(close);
        let low = snap(o.min(c) * (-down).exp()).min(open).min(close);
        let trades = 20 + rng.below(200);
        let notional = spec.trade_notional * trades as f64 * (0.5 * rng.normal()).exp();
        let volume = Decimal::from_f64(notional / c)
            .map(Qty::new)
            .and_then(|q| q.floor_to(inst.lot_size))
            .unwrap_or(inst.lot_size)
            .max(inst.lot_size);
        crate::market::Bar {
            open_time: Timestamp(first + i as i64 * MINUTE_MS),
            open,
            high,
            low,
            close,
            volume,
            trades,
        }
    })
}

/// The default market: BTCUSDT, ETHUSDT and SOLUSDT.
pub fn default_symbols() -> Vec<SymbolSpec> {
    let spec =
        |symbol: &str, base: &str, tick: &str, lot: &str, start: &str, vol: f64| SymbolSpec {
            instrument: Instrument {
                symbol: symbol.parse().expect("valid built-in symbol"),
                base: base.to_owned(),
                quote: "USDT".to_owned(),
                tick_size: tick.parse().expect("valid tick"),
                lot_size: lot.parse().expect("valid lot"),
                min_qty: lot.parse().expect("valid lot"),
                min_notional: "5".parse().expect("valid notional"),
            },
            start_price: start.parse().expect("valid price"),
            volatility: vol,
            trade_notional: 2_000.0,
        };
    vec![
        spec("BTCUSDT", "BTC", "0.01", "0.00001", "65000", 0.6),
        spec("ETHUSDT", "ETH", "0.01", "0.0001", "3200", 0.75),
        spec("SOLUSDT", "SOL", "0.001", "0.001", "150", 0.95),
    ]
}

#[cfg(test)]
mod history_tests {
    use super::*;

    #[test]
    fn history_ends_at_the_start_price_on_the_grid_and_repeats_for_a_seed() {
        let spec = &default_symbols()[0];
        let end = Timestamp(1_700_000_000_000);
        let bars: Vec<_> = history(spec, 42, 0.0005, end, 2880).collect();
        assert_eq!(bars.len(), 2880);
        let last = bars.last().expect("bars");
        assert_eq!(last.close, spec.start_price);
        assert_eq!(
            last.open_time.millis() + 60_000,
            end.millis() / 60_000 * 60_000
        );
        for w in bars.windows(2) {
            assert_eq!(w[1].open_time.millis() - w[0].open_time.millis(), 60_000);
            assert_eq!(
                w[1].open, w[0].close,
                "each bar opens where the last closed"
            );
        }
        for b in &bars {
            assert!(
                b.low <= b.open.min(b.close) && b.high >= b.open.max(b.close),
                "{b:?}"
            );
            assert!(b.low.is_positive() && b.volume.is_positive());
            assert_eq!(spec.instrument.round_price(b.close.get()), b.close);
        }
        // It moves (about the configured volatility), and repeats for a seed.
        let moved = bars.iter().filter(|b| b.close != b.open).count();
        assert!(moved > 2000, "{moved}");
        assert_eq!(
            history(spec, 42, 0.0005, end, 2880).collect::<Vec<_>>(),
            bars
        );
        assert_ne!(
            history(spec, 43, 0.0005, end, 2880).collect::<Vec<_>>(),
            bars
        );
        assert_eq!(history(spec, 42, 0.0005, end, 0).count(), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> SimSpec {
        SimSpec {
            seed,
            tick_ms: 250,
            book_levels: 10,
            jump_probability: 0.001,
            symbols: default_symbols(),
        }
    }

    #[test]
    fn deterministic_for_a_seed() {
        let run = |seed| {
            let mut m = SimMarket::new(spec(seed));
            let mut tape = Vec::new();
            for i in 0..2_000 {
                for o in m.step(Timestamp(i * 250)) {
                    tape.extend(o.trades);
                }
            }
            (tape, m.symbols[0].book.clone())
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1).0, run(2).0);
    }

    #[test]
    fn books_are_sane_and_on_grid() {
        let mut m = SimMarket::new(spec(9));
        for i in 0..5_000 {
            let out = m.step(Timestamp(i * 250));
            for s in &m.symbols {
                let b = &s.book;
                let (bid, ask) = (b.best_bid().unwrap(), b.best_ask().unwrap());
                assert!(bid.price < ask.price, "crossed book");
                assert!(b.bids.windows(2).all(|w| w[0].price > w[1].price));
                assert!(b.asks.windows(2).all(|w| w[0].price < w[1].price));
                for l in b.bids.iter().chain(&b.asks) {
                    assert!(crate::money::is_multiple(
                        l.price.get(),
                        s.instrument.tick_size.get()
                    ));
                    assert!(crate::money::is_multiple(
                        l.qty.get(),
                        s.instrument.lot_size.get()
                    ));
                    assert!(l.qty.is_positive());
                }
            }
            for o in out {
                for t in o.trades {
                    assert!(t.qty.is_positive());
                }
            }
        }
        // A day of 250 ms ticks moves the price, but not absurdly.
        let last = m.symbols[0].last.get().to_f64().unwrap();
        assert!(last > 20_000.0 && last < 200_000.0, "{last}");
    }
}
