//! Reproduces `../shared/reference/ref_smacross_goog_longonly*` (backtesting.py
//! 0.6.6): SMA(10)/SMA(20) long-only cross on GOOG daily bars, cash 10,000,
//! 0.2 % commission, whole units, fill at the next open. Skips (with a
//! message) when the shared data is absent.

#![allow(clippy::unreadable_literal)] // figures copied verbatim from the reference file

use std::path::PathBuf;

use rust_decimal::Decimal;
use tradedesk_core::backtest::{self, FillModel, Leg, Market, Settings};
use tradedesk_core::dataset::{self, Format};
use tradedesk_core::instrument::Instrument;
use tradedesk_core::market::Interval;
use tradedesk_core::strategy::{Registry, StrategySpec};

fn shared(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    p.exists().then_some(p)
}

fn close(got: f64, want: f64, what: &str) {
    // Six significant digits at least.
    let tol = want.abs().max(1e-12) * 5e-7;
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, reference {want}"
    );
}

fn days(ms: Option<i64>) -> i64 {
    // The reference rounds durations up to whole days.
    (ms.expect("duration") + 86_400_000 - 1).div_euclid(86_400_000)
}

fn f(d: Decimal) -> f64 {
    rust_decimal::prelude::ToPrimitive::to_f64(&d).expect("a finite decimal")
}

#[test]
#[allow(clippy::too_many_lines)] // one assertion per reference figure
fn sma_cross_on_goog_matches_the_reference() {
    let (Some(goog), Some(trades_csv), Some(equity_csv)) = (
        shared("data/GOOG.csv"),
        shared("reference/ref_smacross_goog_longonly_trades.csv"),
        shared("reference/ref_smacross_goog_longonly_equity.csv"),
    ) else {
        eprintln!("skipped: ../shared/data or ../shared/reference is absent");
        return;
    };
    let text = std::fs::read_to_string(goog).unwrap();
    let bars = dataset::parse(&text, Format::Csv).unwrap();
    assert_eq!(bars.len(), 2148);
    let instrument = Instrument {
        symbol: "GOOG".parse().unwrap(),
        base: "GOOG".into(),
        quote: "USD".into(),
        tick_size: "0.01".parse().unwrap(),
        lot_size: "1".parse().unwrap(),
        min_qty: "1".parse().unwrap(),
        min_notional: "0".parse().unwrap(),
    };
    let spec = StrategySpec {
        strategy: "sma_cross".into(),
        params: serde_json::json!({ "fast": 10, "slow": 20 }),
        sizing: serde_json::from_value(
            serde_json::json!({ "mode": "percent", "value": "100", "whole_units": true }),
        )
        .unwrap(),
        exits: tradedesk_core::strategy::Exits::default(),
        interval: Interval::D1,
        protections: tradedesk_core::strategy::Protections::default(),
    };
    let settings = Settings {
        capital: "10000".parse().unwrap(),
        commission_pct: Some("0.2".parse().unwrap()),
        commission_fixed: "0".parse().unwrap(),
        slippage_bps: "0".parse().unwrap(),
        fill: FillModel::NextOpen,
        leverage: "1".parse().unwrap(),
        margin: None,
        close_at_end: false,
    };
    let out = backtest::run(
        &Registry::builtin(),
        &[Market::new(instrument, &bars)],
        &[Leg {
            spec,
            markets: vec![0],
        }],
        &settings,
        backtest::Keep {
            equity: true,
            fills: true,
        },
        &mut |_| true,
    )
    .unwrap();

    // The 46 trades: size, bars, prices, PnL, commission, return.
    let want: Vec<Vec<String>> = std::fs::read_to_string(trades_csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert_eq!(out.trades.len(), want.len(), "trade count");
    for (i, (t, w)) in out.trades.iter().zip(&want).enumerate() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(t.qty.get(), d(&w[0]), "trade {i} size");
        assert_eq!(t.entry_step.to_string(), w[1], "trade {i} entry bar");
        assert_eq!(t.exit_step.to_string(), w[2], "trade {i} exit bar");
        assert_eq!(t.entry_price.get(), d(&w[3]), "trade {i} entry price");
        assert_eq!(t.exit_price.get(), d(&w[4]), "trade {i} exit price");
        close(
            f(t.pnl.get()),
            w[7].parse().unwrap(),
            &format!("trade {i} pnl"),
        );
        close(
            f(t.fees.get()),
            w[8].parse().unwrap(),
            &format!("trade {i} commission"),
        );
        close(
            t.return_pct / 100.0,
            w[9].parse().unwrap(),
            &format!("trade {i} return"),
        );
    }

    // The equity curve, bar by bar.
    let curve: Vec<f64> = std::fs::read_to_string(equity_csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(out.equity.len(), curve.len());
    for (i, (g, w)) in out.equity.iter().zip(&curve).enumerate() {
        close(*g, *w, &format!("equity at bar {i}"));
    }

    let m = &out.metrics;
    assert_eq!(days(Some(m.duration_ms)), 3116);
    close(m.exposure_pct, 56.70391061452514, "exposure");
    close(m.equity_final, 63341.19135999998, "equity final");
    assert_eq!(out.final_equity, "63341.19136".parse::<Decimal>().unwrap());
    close(m.equity_peak, 63392.67135999998, "equity peak");
    close(m.commissions, 5799.299200000001, "commissions");
    close(m.return_pct, 533.4119135999998, "return");
    close(
        m.buy_hold_return_pct.unwrap(),
        607.3703606212162,
        "buy and hold",
    );
    close(
        m.return_ann_pct.unwrap(),
        24.19278915512486,
        "return (ann.)",
    );
    close(
        m.volatility_ann_reference_pct.unwrap(),
        28.030177887162377,
        "volatility (ann.)",
    );
    close(m.cagr_pct.unwrap(), 24.15714712796797, "CAGR");
    close(m.sharpe_reference.unwrap(), 0.863097952946099, "Sharpe");
    close(m.sortino_reference.unwrap(), 1.7534107304191322, "Sortino");
    close(m.calmar_reference.unwrap(), 1.2085915397773213, "Calmar");
    close(m.alpha_pct.unwrap(), 275.9429159719918, "alpha");
    close(m.beta.unwrap(), 0.4239077411756967, "beta");
    close(m.max_drawdown_pct, -20.01734114371039, "max drawdown");
    close(
        m.avg_drawdown_pct.unwrap(),
        -3.8548435671379897,
        "avg drawdown",
    );
    assert_eq!(
        days(m.max_drawdown_duration_ms),
        597,
        "max drawdown duration"
    );
    assert_eq!(
        days(m.avg_drawdown_duration_ms),
        39,
        "avg drawdown duration"
    );
    assert_eq!(m.trades, 46);
    close(m.win_rate_pct.unwrap(), 60.86956521739131, "win rate");
    close(m.best_trade_pct.unwrap(), 56.918681084536324, "best trade");
    close(
        m.worst_trade_pct.unwrap(),
        -12.64711943793912,
        "worst trade",
    );
    close(m.avg_trade_pct.unwrap(), 3.8227013996844583, "avg trade");
    assert_eq!(days(m.max_trade_duration_ms), 121, "max trade duration");
    assert_eq!(days(m.avg_trade_duration_ms), 37, "avg trade duration");
    close(
        m.profit_factor.unwrap(),
        3.6850390957570456,
        "profit factor",
    );
    close(m.expectancy_pct.unwrap(), 4.462038473080352, "expectancy");
    close(m.sqn.unwrap(), 2.1623334906390244, "SQN");
    close(m.kelly.unwrap(), 0.3874449219539521, "Kelly");
    // The default (textbook) ratios are the ones the reference README
    // quotes (empyrical's): on daily data the bars are the periods.
    assert!(
        (m.bars_per_year - 252.0).abs() < 1e-12,
        "{}",
        m.bars_per_year
    );
    assert!((m.sharpe.unwrap() - 1.0814).abs() < 5e-5, "{:?}", m.sharpe);
    assert!(
        (m.sortino.unwrap() - 1.7486).abs() < 5e-5,
        "{:?}",
        m.sortino
    );
    // Calmar: CAGR over the max drawdown.
    close(
        m.calmar.unwrap(),
        m.cagr_pct.unwrap() / -m.max_drawdown_pct,
        "Calmar (CAGR)",
    );
}
