use super::*;
use crate::analytics::Metrics;
use crate::market::Interval;

fn inst(symbol: &str) -> Instrument {
    Instrument {
        symbol: symbol.parse().expect("symbol"),
        base: symbol.trim_end_matches("USD").into(),
        quote: "USD".into(),
        tick_size: "0.01".parse().expect("tick"),
        lot_size: "0.0001".parse().expect("lot"),
        min_qty: "0.0001".parse().expect("min"),
        min_notional: "0".parse().expect("notional"),
    }
}

fn bar(i: i64, o: f64, h: f64, l: f64, c: f64) -> Candle {
    Candle {
        time: Timestamp(i * 86_400_000),
        open: o,
        high: h,
        low: l,
        close: c,
        volume: 1.0,
    }
}

fn settings(fill: FillModel) -> Settings {
    Settings {
        capital: "1000".parse().expect("capital"),
        commission_pct: None,
        commission_fixed: "0".parse().expect("fixed"),
        slippage_bps: "0".parse().expect("slip"),
        fill,
        leverage: "1".parse().expect("leverage"),
        margin: None,
        close_at_end: false,
    }
}

/// DCA every bar (so it enters on the first), with the given exits.
fn dca(exits: &serde_json::Value) -> StrategySpec {
    serde_json::from_value(serde_json::json!({
        "strategy": "dca",
        "params": { "every_bars": 1000 },
        "sizing": { "mode": "quote", "value": "500" },
        "exits": exits,
        "interval": "1d"
    }))
    .expect("spec")
}

fn keep() -> Keep {
    Keep {
        equity: true,
        fills: true,
    }
}

#[test]
fn a_bar_that_reaches_both_exits_fills_the_stop_unless_its_open_decides() {
    // Entry at bar 1's open (100); exits at 110 (target) and 95 (stop).
    let exits = serde_json::json!({ "take_profit_pct": "10", "stop_loss_pct": "5" });
    let run_on = |last: Candle| {
        let bars = vec![
            bar(0, 100.0, 100.0, 100.0, 100.0),
            bar(1, 100.0, 101.0, 99.0, 100.0),
            bar(2, 100.0, 101.0, 99.0, 100.0),
            last,
        ];
        let out = run(
            &Registry::builtin(),
            &[Market::new(inst("XUSD"), &bars)],
            &[Leg {
                spec: dca(&exits),
                markets: vec![0],
            }],
            &settings(FillModel::NextOpen),
            keep(),
            &mut |_| true,
        )
        .expect("run");
        assert_eq!(out.trades.len(), 1, "{:?}", out.fills);
        out.trades[0].exit_price.get().to_string()
    };
    // Both inside the bar: the stop (the worse case).
    assert_eq!(run_on(bar(3, 100.0, 112.0, 90.0, 100.0)), "95");
    // The open gaps through the target: the target, at the open.
    assert_eq!(run_on(bar(3, 111.0, 112.0, 90.0, 100.0)), "111");
    // The open gaps through the stop: the stop, at the open.
    assert_eq!(run_on(bar(3, 94.0, 112.0, 90.0, 100.0)), "94");
    // Only the target: at the target.
    assert_eq!(run_on(bar(3, 100.0, 112.0, 99.0, 100.0)), "110");
}

#[test]
fn close_fills_at_the_signal_bar_and_next_open_a_bar_later() {
    let bars: Vec<Candle> = (0..5)
        .map(|i| {
            let p = 100.0 + i as f64;
            bar(i, p - 0.5, p + 1.0, p - 1.0, p)
        })
        .collect();
    let first_fill = |fill, slip: &str| {
        let mut s = settings(fill);
        s.slippage_bps = slip.parse().expect("bps");
        let out = run(
            &Registry::builtin(),
            &[Market::new(inst("XUSD"), &bars)],
            &[Leg {
                spec: dca(&serde_json::json!({})),
                markets: vec![0],
            }],
            &s,
            keep(),
            &mut |_| true,
        )
        .expect("run");
        (out.fills[0].step, out.fills[0].price.get().to_string())
    };
    assert_eq!(first_fill(FillModel::Close, "0"), (0, "100".to_owned()));
    assert_eq!(
        first_fill(FillModel::NextOpen, "0"),
        (1, "100.5".to_owned())
    );
    // 100 bps of slippage against a market buy, under either model.
    assert_eq!(first_fill(FillModel::Close, "100"), (0, "101".to_owned()));
    assert_eq!(
        first_fill(FillModel::NextOpen, "100"),
        (1, "101.51".to_owned())
    );
}

#[test]
fn strategies_on_several_markets_share_one_portfolio() {
    let a: Vec<Candle> = (0..4).map(|i| bar(i, 100.0, 100.0, 100.0, 100.0)).collect();
    let b: Vec<Candle> = (0..4).map(|i| bar(i, 50.0, 50.0, 50.0, 50.0)).collect();
    let legs = [
        Leg {
            spec: dca(&serde_json::json!({})),
            markets: vec![0],
        },
        Leg {
            spec: dca(&serde_json::json!({})),
            markets: vec![1],
        },
    ];
    let out = run(
        &Registry::builtin(),
        &[Market::new(inst("AUSD"), &a), Market::new(inst("BUSD"), &b)],
        &legs,
        &settings(FillModel::NextOpen),
        keep(),
        &mut |_| true,
    )
    .expect("run");
    // Each bought 500 worth of its market from the one 1,000 of cash.
    let bought: Vec<(String, String)> = out
        .fills
        .iter()
        .map(|f| (f.symbol.to_string(), f.qty.to_string()))
        .collect();
    assert_eq!(
        bought,
        [("AUSD".into(), "5".into()), ("BUSD".into(), "10".into())]
    );
    assert_eq!(out.final_cash, Decimal::ZERO);
    assert_eq!(out.final_equity, Decimal::from(1000));
    // One quote currency per run.
    let mut other = inst("BEUR");
    other.quote = "EUR".into();
    let e = run(
        &Registry::builtin(),
        &[Market::new(inst("AUSD"), &a), Market::new(other, &b)],
        &legs,
        &settings(FillModel::NextOpen),
        keep(),
        &mut |_| true,
    )
    .err()
    .expect("refused");
    assert!(e.to_string().contains("datasets[1]"), "{e}");
}

#[test]
fn a_levered_run_that_loses_everything_gets_a_margin_call() {
    let mut bars = vec![
        bar(0, 100.0, 100.0, 100.0, 100.0),
        bar(1, 100.0, 100.0, 100.0, 100.0),
    ];
    bars.push(bar(2, 60.0, 60.0, 40.0, 45.0)); // -55 %: 3x equity gone
    bars.push(bar(3, 45.0, 45.0, 45.0, 45.0));
    let mut s = settings(FillModel::NextOpen);
    s.leverage = "3".parse().expect("leverage");
    // Percent sizing is of equity (at most 100); leverage is used by
    // quote or quantity sizing.
    let spec: StrategySpec = serde_json::from_value(serde_json::json!({
        "strategy": "dca", "params": { "every_bars": 1000 },
        "sizing": { "mode": "quote", "value": "2900" }, "interval": "1d"
    }))
    .expect("spec");
    let out = run(
        &Registry::builtin(),
        &[Market::new(inst("XUSD"), &bars)],
        &[Leg {
            spec,
            markets: vec![0],
        }],
        &s,
        keep(),
        &mut |_| true,
    )
    .expect("run");
    assert_eq!(out.margin_call, Some(bars[2].time));
    assert_eq!(out.trades.len(), 1, "liquidated: one round trip");
    assert!(out.final_equity < Decimal::ZERO, "{}", out.final_equity);
}

/// SMA 5/30 crossover on daily bars, trading market 0.
fn sma_cross_5_30() -> [Leg; 1] {
    let spec: StrategySpec = serde_json::from_value(serde_json::json!({
        "strategy": "sma_cross", "params": { "fast": 5, "slow": 30 }, "interval": "1d"
    }))
    .expect("spec");
    [Leg {
        spec,
        markets: vec![0],
    }]
}

#[test]
fn runs_are_deterministic_and_cancellable() {
    let bars: Vec<Candle> = (0..200_000)
        .map(|i| {
            let p = 100.0 + 10.0 * (i as f64 / 300.0).sin();
            bar(i, p, p + 0.5, p - 0.5, p)
        })
        .collect();
    let legs = sma_cross_5_30();
    let markets = [Market::new(inst("XUSD"), &bars)];
    let go = |progress: &mut dyn FnMut(f64) -> bool| {
        run(
            &Registry::builtin(),
            &markets,
            &legs,
            &settings(FillModel::NextOpen),
            keep(),
            progress,
        )
    };
    let (a, b) = (go(&mut |_| true).expect("a"), go(&mut |_| true).expect("b"));
    assert_eq!(a.metrics, b.metrics);
    assert_eq!(a.trades, b.trades);
    assert_eq!(
        a.equity.iter().map(|e| e.to_bits()).collect::<Vec<_>>(),
        b.equity.iter().map(|e| e.to_bits()).collect::<Vec<_>>()
    );
    let mut seen = Vec::new();
    let cancelled = go(&mut |p| {
        seen.push(p);
        false
    });
    assert_eq!(cancelled.err(), Some(BacktestError::Cancelled));
    assert_eq!(seen.len(), 1);
    let _ = Interval::D1;
}

/// The run's metrics (its benchmark sums worked out on a second
/// thread, or given) are the metrics of its kept curve and trades.
#[test]
fn a_runs_metrics_are_those_of_its_curve_and_trades() {
    let bars: Vec<Candle> = (0..3_000)
        .map(|i| {
            let p = 100.0 + 10.0 * (i as f64 / 40.0).sin() + (i as f64 / 500.0);
            bar(i, p, p + 0.5, p - 0.5, p)
        })
        .collect();
    let legs = sma_cross_5_30();
    let mut markets = [Market::new(inst("XUSD"), &bars)];
    let mut s = settings(FillModel::NextOpen);
    s.commission_pct = Some("0.1".parse().expect("pct"));
    let go = |markets: &[Market<'_>]| {
        run(
            &Registry::builtin(),
            markets,
            &legs,
            &s,
            keep(),
            &mut |_| true,
        )
        .expect("run")
    };
    let out = go(&markets);
    assert!(out.metrics.trades > 8, "{}", out.metrics.trades);
    let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let figures: Vec<TradeFigures> = out.trades.iter().map(Trade::figures).collect();
    let times = out.times(&markets);
    assert_eq!(times.len(), bars.len());
    assert_eq!(times[17], bars[17].time);
    let again = analytics::compute(&analytics::Input {
        times: &times,
        equity: &out.equity,
        benchmark: Some(&closes),
        first_tradable: 29,
        trades: &figures,
        total_fees: out.fills.iter().map(|f| f.fee.get()).sum(),
    });
    let beta = out.metrics.beta.expect("beta");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    assert!(
        close(beta, again.beta.expect("beta")),
        "{beta} {:?}",
        again.beta
    );
    let (a, b) = (out.metrics.alpha_pct, again.alpha_pct);
    assert!(close(a.expect("alpha"), b.expect("alpha")), "{a:?} {b:?}");
    let strip = |mut m: Metrics| {
        (m.beta, m.alpha_pct) = (None, None);
        m
    };
    assert_eq!(strip(out.metrics.clone()), strip(again));
    // Sums given (as a sweep gives them) change nothing.
    markets[0].bench = Some(analytics::BenchSums::of_bars(&bars));
    assert_eq!(go(&markets).metrics, out.metrics);
}

#[test]
fn a_grids_buys_are_sold_a_level_up_in_a_backtest() {
    // Keyed fills reach the strategy: each buy at a line becomes a sell
    // at the next line up (before, backtests never told it of its fills).
    let spec: StrategySpec = serde_json::from_value(serde_json::json!({
        "strategy": "grid",
        "params": { "lower": "90", "upper": "110", "levels": 5 },
        "sizing": { "mode": "quote", "value": "100" },
        "interval": "1d"
    }))
    .expect("spec");
    let bars: Vec<Candle> = (0..60)
        .map(|i| {
            let c = 100.0 + (f64::from(i) / 2.0).sin() * 8.0;
            bar(i64::from(i), c, c + 1.0, c - 1.0, c)
        })
        .collect();
    let out = run(
        &Registry::builtin(),
        &[Market::new(inst("GRDUSD"), &bars)],
        &[Leg {
            spec,
            markets: vec![0],
        }],
        &settings(FillModel::NextOpen),
        keep(),
        &mut |_| true,
    )
    .expect("run");
    let sells: Vec<&Fill> = out.fills.iter().filter(|f| f.side == Side::Sell).collect();
    assert!(!sells.is_empty(), "the grid sold: {:?}", out.fills);
    let step = Decimal::from(5);
    for s in &sells {
        let bought_below = out.fills.iter().any(|b| {
            b.side == Side::Buy
                && b.step < s.step
                && s.price.get() - b.price.get() >= step - Decimal::ONE
        });
        assert!(bought_below, "sell {s:?} follows a buy a line below");
    }
}
