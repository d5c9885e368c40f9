//! `cargo bench -p tradedesk-core --bench backtest`: the backtester on
//! 1,000,000 one-minute bars (a seeded random walk, generated here):
//!
//! 1. one SMA(10)/SMA(50) long-only all-in crossover, 0.1 % commission,
//!    fractional sizing, every metric computed: end-to-end time (target
//!    ≤ 50 ms) and peak RSS (target ≤ 200 MB); then the same crossover
//!    long/short (`allow_short`) on a margin account with an hourly borrow
//!    cost (target ≤ 50 ms);
//! 2. a 100-combination sweep (fast 5..50 step 5 × slow 20..200 step 20)
//!    on 2 threads: time (target ≤ 3 s) and peak RSS (target ≤ 500 MB).
//!
//! `-- --single` stops after the single run (for profiling it alone);
//! `-- --reps N` takes the best of N single runs (default 5), `-- --sweeps N`
//! the best of N sweeps (default 1).

use std::time::Instant;

use tradedesk_core::backtest::{self, Axis, FillModel, Keep, Leg, Market, Settings};
use tradedesk_core::instrument::Instrument;
use tradedesk_core::market::Interval;
use tradedesk_core::sim::Rng;
use tradedesk_core::strategy::{Candle, Registry, StrategySpec};
use tradedesk_core::time::Timestamp;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The best time of `reps` runs, and the last run's outcome.
fn best_of(
    reps: usize,
    registry: &Registry,
    markets: &[Market<'_>],
    legs: &[Leg],
    settings: &Settings,
) -> (f64, backtest::Outcome) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let out = backtest::run(
            registry,
            markets,
            legs,
            settings,
            Keep {
                equity: true,
                fills: true,
            },
            &mut |_| true,
        )
        .expect("run");
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(out);
    }
    (best, last.expect("a run"))
}

#[allow(clippy::too_many_lines)] // a script: data, run, sweep, report
fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: usize = if quick { 20_000 } else { 1_000_000 };
    let mut rng = Rng::new(7);
    let mut px = 30_000.0_f64;
    let bars: Vec<Candle> = (0..n)
        .map(|i| {
            let open = px;
            px *= 1.0 + (rng.unit() - 0.5) * 0.002;
            let close = (px * 100.0).round() / 100.0;
            let open = (open * 100.0).round() / 100.0;
            let wick = px * rng.unit() * 0.0005;
            Candle {
                time: Timestamp(1_600_000_000_000 + i as i64 * 60_000),
                open,
                high: open.max(close) + (wick * 100.0).round() / 100.0,
                low: open.min(close) - (wick * 100.0).round() / 100.0,
                close,
                volume: 1.0,
            }
        })
        .collect();
    let instrument = Instrument {
        symbol: "BTCUSDT".parse().expect("symbol"),
        base: "BTC".into(),
        quote: "USDT".into(),
        tick_size: "0.01".parse().expect("tick"),
        lot_size: "0.00000001".parse().expect("lot"),
        min_qty: "0.00000001".parse().expect("min"),
        min_notional: "0".parse().expect("notional"),
    };
    let spec = StrategySpec {
        strategy: "sma_cross".into(),
        params: serde_json::json!({ "fast": 10, "slow": 50 }),
        sizing: serde_json::from_value(serde_json::json!({ "mode": "percent", "value": "100" }))
            .expect("sizing"),
        exits: tradedesk_core::strategy::Exits::default(),
        interval: Interval::M1,
        protections: tradedesk_core::strategy::Protections::default(),
    };
    let settings = Settings {
        capital: "10000".parse().expect("capital"),
        commission_pct: Some("0.1".parse().expect("commission")),
        commission_fixed: "0".parse().expect("fixed"),
        slippage_bps: "0".parse().expect("slippage"),
        fill: FillModel::NextOpen,
        leverage: "1".parse().expect("leverage"),
        margin: None,
        close_at_end: false,
    };
    let markets = [Market::new(instrument, &bars)];
    let legs = [Leg {
        spec,
        markets: vec![0],
    }];
    let registry = Registry::builtin();
    let before = peak_rss_mib();
    let reps: usize = std::env::args()
        .skip_while(|a| a != "--reps")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(5);
    let (best, out) = best_of(reps, &registry, &markets, &legs, &settings);
    // The metrics alone, recomputed from the kept curve.
    let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let figures: Vec<tradedesk_core::analytics::TradeFigures> = Vec::new();
    let t = Instant::now();
    let m = tradedesk_core::analytics::compute(&tradedesk_core::analytics::Input {
        times: &out.times(&markets),
        equity: &out.equity,
        benchmark: Some(&closes),
        first_tradable: 49,
        trades: &figures,
        total_fees: rust_decimal::Decimal::ZERO,
    });
    println!(
        "  of which metrics (without the trade figures): {:.1} ms ({} months)",
        t.elapsed().as_secs_f64() * 1e3,
        m.by_month.len()
    );
    println!(
        "single run: {n} bars, sma_cross 10/50, 0.1 % commission, fractional, all in: best of {reps} {:.1} ms end to end with metrics \
         ({} trades, return {:.2} %, sharpe {:?}); peak RSS {:.0} MiB (bars alone {:.0} MiB)  (targets ≤ 50 ms, ≤ 200 MB)",
        best * 1e3,
        out.metrics.trades,
        out.metrics.return_pct,
        out.metrics.sharpe.map(|s| (s * 1000.0).round() / 1000.0),
        peak_rss_mib(),
        before
    );
    drop(out);

    let mut short_legs = legs.clone();
    short_legs[0].spec.params = serde_json::json!({ "fast": 10, "slow": 50, "allow_short": true });
    let margin = Settings {
        margin: Some(backtest::Margin {
            maintenance_pct: None,
            borrow_pct: "0.001".parse().expect("borrow"),
            borrow_period: Interval::H1,
        }),
        ..settings.clone()
    };
    let (best, out) = best_of(reps, &registry, &markets, &short_legs, &margin);
    let shorts = out
        .trades
        .iter()
        .filter(|t| t.direction == backtest::Direction::Short)
        .count();
    println!(
        "single run, long/short: {n} bars, sma_cross 10/50 allow_short on a margin account (borrow 0.001 %/h): best of {reps} {:.1} ms end to end with metrics \
         ({} trades, {shorts} short, return {:.2} %, margin call {:?})  (target ≤ 50 ms)",
        best * 1e3,
        out.metrics.trades,
        out.metrics.return_pct,
        out.margin_call,
    );
    drop(out);
    if std::env::args().any(|a| a == "--single") {
        return;
    }

    let axes = [
        Axis {
            param: "fast".into(),
            values: (1..=10).map(|i| serde_json::json!(i * 5)).collect(),
        },
        Axis {
            param: "slow".into(),
            values: (1..=10).map(|i| serde_json::json!(i * 20 + 40)).collect(),
        },
    ];
    let sweeps: usize = std::env::args()
        .skip_while(|a| a != "--sweeps")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let mut dt = std::time::Duration::MAX;
    let mut rows = Vec::new();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a thread pool");
    for _ in 0..sweeps {
        let t = Instant::now();
        rows = pool
            .install(|| {
                backtest::sweep(
                    &registry,
                    &markets,
                    &legs,
                    &settings,
                    &axes,
                    "sharpe",
                    &|_| true,
                )
            })
            .expect("sweep");
        dt = dt.min(t.elapsed());
    }
    let ran = rows.iter().filter(|r| r.metrics.is_some()).count();
    println!(
        "sweep: {} combinations ({ran} ran) on {n} bars, 2 threads, best of {sweeps}: {:.2} s; best {} sharpe {:?}; peak RSS {:.0} MiB  (targets ≤ 3 s, ≤ 500 MB)",
        rows.len(),
        dt.as_secs_f64(),
        rows[0].params,
        rows[0].score,
        peak_rss_mib()
    );
}
