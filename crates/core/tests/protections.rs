//! Protections in backtests: the cooldown after a stop, the losing-trades
//! lock and the daily loss stop each hold back the entry that would
//! otherwise follow a stopped-out trade.

use tradedesk_core::backtest::{self, ExitReason, FillModel, Keep, Leg, Market, Outcome, Settings};
use tradedesk_core::instrument::Instrument;
use tradedesk_core::market::Interval;
use tradedesk_core::strategy::{Candle, Protections, Registry, StrategySpec};
use tradedesk_core::time::Timestamp;

/// Hourly bars at these (open, close) prices, wicks spanning them. An
/// SMA(1)/SMA(2) cross above on bar 3 buys at bar 4's open (102); bar 5
/// falls through the 5 % stop (96.9); bar 6 crosses above again.
fn bars() -> Vec<Candle> {
    [
        (100.0, 100.0),
        (101.0, 101.0),
        (99.0, 99.0),
        (102.0, 102.0),
        (102.0, 103.0),
        (103.0, 90.0),
        (90.0, 95.0),
        (95.0, 96.0),
        (96.0, 97.0),
        (97.0, 98.0),
    ]
    .iter()
    .enumerate()
    .map(|(i, &(open, close))| Candle {
        time: Timestamp(i64::try_from(i).expect("small") * 3_600_000),
        open,
        high: open.max(close),
        low: open.min(close),
        close,
        volume: 1.0,
    })
    .collect()
}

fn run(protections: Protections) -> Outcome {
    let bars = bars();
    let spec = StrategySpec {
        strategy: "sma_cross".into(),
        params: serde_json::json!({ "fast": 1, "slow": 2 }),
        sizing: serde_json::from_value(
            serde_json::json!({ "mode": "percent", "value": "100", "whole_units": true }),
        )
        .expect("sizing"),
        exits: serde_json::from_value(serde_json::json!({ "stop_loss_pct": "5" })).expect("exits"),
        interval: Interval::H1,
        protections,
    };
    let instrument = Instrument {
        symbol: "ABC".parse().expect("symbol"),
        base: "ABC".into(),
        quote: "USD".into(),
        tick_size: "0.01".parse().expect("tick"),
        lot_size: "1".parse().expect("lot"),
        min_qty: "1".parse().expect("min"),
        min_notional: "0".parse().expect("notional"),
    };
    backtest::run(
        &Registry::builtin(),
        &[Market::new(instrument, &bars)],
        &[Leg {
            spec,
            markets: vec![0],
        }],
        &Settings {
            capital: "10000".parse().expect("capital"),
            commission_pct: None,
            commission_fixed: "0".parse().expect("fixed"),
            slippage_bps: "0".parse().expect("slippage"),
            fill: FillModel::NextOpen,
            leverage: "1".parse().expect("leverage"),
            margin: None,
            close_at_end: false,
        },
        Keep {
            equity: false,
            fills: true,
        },
        &mut |_| true,
    )
    .expect("run")
}

/// The steps at which something was bought.
fn buys(out: &Outcome) -> Vec<usize> {
    out.fills
        .iter()
        .filter(|f| f.side == tradedesk_core::order::Side::Buy)
        .map(|f| f.step)
        .collect()
}

#[test]
fn without_protections_the_cross_after_the_stop_buys_again() {
    let out = run(Protections::default());
    assert_eq!(out.trades[0].exit_reason, Some(ExitReason::StopLoss));
    assert_eq!(out.trades[0].exit_step, 5);
    assert_eq!(buys(&out), [4, 7]);
}

#[test]
fn a_cooldown_holds_back_entries_for_its_bars_after_a_stop() {
    // Three bars, counting the one the stop filled in (5, 6, 7): the cross
    // of bar 6 is held back; nothing crosses later.
    let out = run(Protections {
        cooldown_bars: 3,
        ..Protections::default()
    });
    assert_eq!(buys(&out), [4]);
    // One bar: only the stop's own bar; the cross of bar 6 buys at 7.
    let out = run(Protections {
        cooldown_bars: 1,
        ..Protections::default()
    });
    assert_eq!(buys(&out), [4, 7]);
}

#[test]
fn losing_trades_and_the_daily_loss_stop_hold_back_entries() {
    let out = run(Protections {
        max_losing_trades: Some(1),
        losing_window_bars: 2,
        ..Protections::default()
    });
    assert_eq!(buys(&out), [4], "locked for 2 bars after the losing trade");
    // Lost 98 × 5.1 = 499.8: a stop of 500 lets it buy again, 400 does not.
    let stop = |s: &str| Protections {
        daily_loss_stop: Some(s.parse().expect("stop")),
        ..Protections::default()
    };
    assert_eq!(buys(&run(stop("500"))), [4, 7]);
    assert_eq!(buys(&run(stop("400"))), [4]);
}

#[test]
fn protections_out_of_range_are_named() {
    for (p, field) in [
        (
            serde_json::json!({ "cooldown_bars": 10_001 }),
            "protections.cooldown_bars",
        ),
        (
            serde_json::json!({ "max_losing_trades": 0 }),
            "protections.max_losing_trades",
        ),
        (
            serde_json::json!({ "losing_window_bars": 0 }),
            "protections.losing_window_bars",
        ),
        (
            serde_json::json!({ "daily_loss_stop": "0" }),
            "protections.daily_loss_stop",
        ),
    ] {
        let spec: StrategySpec = serde_json::from_value(serde_json::json!({
            "strategy": "sma_cross", "protections": p
        }))
        .expect("spec");
        let err = Registry::builtin().build(&spec).err().expect("refused");
        assert_eq!(err.field, field);
    }
}
