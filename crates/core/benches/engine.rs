//! `cargo bench -p tradedesk-core --bench engine`: strategy-engine
//! throughput on 1,000,000 one-minute bars (target ≥ 20 M bars/s with a
//! simple strategy). The bars are a seeded random walk; the portfolio
//! fills market orders at the close without fees, so the bot never runs
//! out of cash and every signal becomes a trade.

use std::time::Instant;

use rust_decimal::Decimal;
use tradedesk_core::engine::{Decision, Engine, EngineConfig};
use tradedesk_core::instrument::{Instrument, Symbol};
use tradedesk_core::ledger::Position;
use tradedesk_core::market::Interval;
use tradedesk_core::money::{Notional, Qty};
use tradedesk_core::order::Side;
use tradedesk_core::portfolio::{OpenOrder, Portfolio};
use tradedesk_core::sim::Rng;
use tradedesk_core::strategy::{Candle, StrategySpec};
use tradedesk_core::time::Timestamp;

struct Book {
    cash: Decimal,
    pos: Position,
    mark: Decimal,
}

impl Portfolio for Book {
    fn position(&self, _: &Symbol) -> Position {
        self.pos
    }
    fn free(&self, _: &str) -> Qty {
        Qty::new(self.cash)
    }
    fn equity(&self) -> Decimal {
        self.cash + self.pos.qty.get() * self.mark
    }
    fn open_orders(&self, _: &Symbol) -> Vec<OpenOrder> {
        Vec::new()
    }
}

#[allow(clippy::too_many_lines)] // a script: data, two strategies, report
fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: usize = if quick { 50_000 } else { 1_000_000 };
    let mut rng = Rng::new(1);
    let mut px = 30_000.0_f64;
    let bars: Vec<Candle> = (0..n)
        .map(|i| {
            px *= 1.0 + (rng.unit() - 0.5) * 0.002;
            let close = (px * 100.0).round() / 100.0;
            Candle {
                time: Timestamp(i as i64 * 60_000),
                open: close,
                high: close,
                low: close,
                close,
                volume: 1.0,
            }
        })
        .collect();
    let inst = Instrument {
        symbol: "BTCUSDT".parse().expect("symbol"),
        base: "BTC".into(),
        quote: "USDT".into(),
        tick_size: "0.01".parse().expect("tick"),
        lot_size: "0.00001".parse().expect("lot"),
        min_qty: "0.00001".parse().expect("min"),
        min_notional: "5".parse().expect("notional"),
    };
    for (name, params) in [
        (
            "sma_cross 10/20",
            serde_json::json!({"fast": 10, "slow": 20}),
        ),
        (
            "sma_cross 50/200",
            serde_json::json!({"fast": 50, "slow": 200}),
        ),
    ] {
        let spec = StrategySpec {
            strategy: "sma_cross".into(),
            params,
            sizing: serde_json::from_value(serde_json::json!({"mode": "percent", "value": "100"}))
                .expect("sizing"),
            exits: tradedesk_core::strategy::Exits::default(),
            interval: Interval::M1,
            protections: tradedesk_core::strategy::Protections::default(),
        };
        let (strategy, _) = spec.build().expect("strategy");
        let mut engine = Engine::new(
            EngineConfig {
                prefix: "b1".into(),
                sizing: spec.sizing,
                exits: spec.exits,
                fee_rate: Decimal::ZERO,
                interval: Interval::M1,
                seed: 1,
                size_at_fill: false,
            },
            vec![(inst.clone(), strategy)],
        );
        let mut book = Book {
            cash: Decimal::from(10_000),
            pos: Position::default(),
            mark: Decimal::ZERO,
        };
        let mut out = Vec::new();
        let mut trades = 0u64;
        let mut booking = std::time::Duration::ZERO;
        let t0 = Instant::now();
        for c in &bars {
            engine.on_bar(0, c, &book, &mut out);
            if !out.is_empty() {
                let tb = Instant::now();
                for d in out.drain(..) {
                    if let Decision::Place(i) = d {
                        let price = tradedesk_core::money::price_from_f64(c.close, inst.tick_size);
                        let value = price.get() * i.qty.get();
                        let fee = Decimal::ZERO;
                        match i.side {
                            Side::Buy => book.cash -= value + fee,
                            Side::Sell => book.cash += value - fee,
                        }
                        book.pos
                            .apply_fill(i.side, i.qty, price, Notional::new(fee))
                            .expect("fill");
                        book.mark = price.get();
                        trades += 1;
                    }
                }
                booking += tb.elapsed();
            }
        }
        let dt = t0.elapsed();
        let engine_only = dt.saturating_sub(booking);
        println!(
            "engine {name}: {n} bars in {:.1} ms = {:.1} M bars/s with the bench's fill booking, \
             {:.1} M bars/s engine alone ({trades} orders, final cash {})",
            dt.as_secs_f64() * 1e3,
            n as f64 / dt.as_secs_f64() / 1e6,
            n as f64 / engine_only.as_secs_f64() / 1e6,
            book.cash.round_dp(2)
        );
    }
}
