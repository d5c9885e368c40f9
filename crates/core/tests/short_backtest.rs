//! Short selling in backtests: a margin account's reversals on GOOG (long
//! and short alternate with no flat gap), its borrow cost, its margin call,
//! a short's protective stop, and a spot account refusing a short.

use std::path::PathBuf;

use rust_decimal::Decimal;
use tradedesk_core::backtest::{
    self, BacktestError, Direction, ExitReason, FillModel, Keep, Leg, Margin, Market, Outcome,
    Settings,
};
use tradedesk_core::dataset::{self, Format};
use tradedesk_core::instrument::Instrument;
use tradedesk_core::market::Interval;
use tradedesk_core::strategy::{Candle, Exits, Registry, StrategySpec};
use tradedesk_core::time::Timestamp;

fn instrument(symbol: &str) -> Instrument {
    Instrument {
        symbol: symbol.parse().expect("test value"),
        base: symbol.into(),
        quote: "USD".into(),
        tick_size: "0.01".parse().expect("test value"),
        lot_size: "1".parse().expect("test value"),
        min_qty: "1".parse().expect("test value"),
        min_notional: "0".parse().expect("test value"),
    }
}

fn spec(
    strategy: &str,
    params: serde_json::Value,
    interval: Interval,
    exits: Exits,
) -> StrategySpec {
    StrategySpec {
        strategy: strategy.into(),
        params,
        sizing: serde_json::from_value(
            serde_json::json!({ "mode": "percent", "value": "100", "whole_units": true }),
        )
        .expect("test value"),
        exits,
        interval,
        protections: tradedesk_core::strategy::Protections::default(),
    }
}

fn settings(commission: &str, margin: Option<Margin>) -> Settings {
    Settings {
        capital: "10000".parse().expect("test value"),
        commission_pct: Some(commission.parse().expect("test value")),
        commission_fixed: "0".parse().expect("test value"),
        slippage_bps: "0".parse().expect("test value"),
        fill: FillModel::NextOpen,
        leverage: "1".parse().expect("test value"),
        margin,
        close_at_end: false,
    }
}

#[allow(clippy::unnecessary_wraps)] // as `Settings::margin` takes it
fn margin(maintenance: Option<&str>, borrow: &str) -> Option<Margin> {
    Some(Margin {
        maintenance_pct: maintenance.map(|m| m.parse().expect("test value")),
        borrow_pct: borrow.parse().expect("test value"),
        borrow_period: Interval::H1,
    })
}

fn run(bars: &[Candle], spec: StrategySpec, settings: &Settings) -> Result<Outcome, BacktestError> {
    backtest::run(
        &Registry::builtin(),
        &[Market::new(instrument("GOOG"), bars)],
        &[Leg {
            spec,
            markets: vec![0],
        }],
        settings,
        Keep {
            equity: true,
            fills: true,
        },
        &mut |_| true,
    )
}

fn d(s: &str) -> Decimal {
    s.parse().expect("test value")
}

/// Hourly bars at these (open, close) prices; high and low span them.
fn hourly(prices: &[(f64, f64)]) -> Vec<Candle> {
    prices
        .iter()
        .enumerate()
        .map(|(i, &(open, close))| Candle {
            time: Timestamp(i64::try_from(i).expect("test value") * 3_600_000),
            open,
            high: open.max(close),
            low: open.min(close),
            close,
            volume: 1.0,
        })
        .collect()
}

/// SMA(1)/SMA(2) crosses below on bar 3 (short at bar 4's open, 95) and
/// then the price jumps to 130 on bar 6 (a cross above).
fn jump() -> Vec<Candle> {
    hourly(&[
        (100.0, 100.0),
        (101.0, 101.0),
        (102.0, 102.0),
        (95.0, 95.0),
        (95.0, 95.0),
        (95.0, 94.0),
        (94.0, 130.0),
        (131.0, 131.0),
        (131.0, 131.0),
    ])
}

fn cross_1_2() -> StrategySpec {
    spec(
        "sma_cross",
        serde_json::json!({ "fast": 1, "slow": 2, "allow_short": true }),
        Interval::H1,
        Exits::default(),
    )
}

#[test]
fn a_spot_account_refuses_a_strategy_that_would_short() {
    let err = run(&jump(), cross_1_2(), &settings("0", None))
        .err()
        .expect("test value");
    let BacktestError::Invalid { field, message } = err else {
        panic!("{err:?}");
    };
    assert_eq!(field, "strategies[0].params.allow_short");
    assert!(message.contains("margin account"), "{message}");
}

#[test]
fn a_short_past_the_maintenance_level_is_liquidated() {
    // Short 105 at 95 (10,000 / 95, whole units): cash 19,975. At 130,
    // equity is 19,975 − 13,650 = 6,325, under half (the default
    // maintenance at leverage 1) of the 13,650 owed: a margin call.
    let out = run(&jump(), cross_1_2(), &settings("0", margin(None, "0"))).expect("test value");
    assert_eq!(out.margin_call, Some(Timestamp(6 * 3_600_000)));
    assert_eq!(out.trades.len(), 1, "{:?}", out.trades);
    let t = &out.trades[0];
    assert_eq!(t.direction, Direction::Short);
    assert_eq!(t.exit_reason, Some(ExitReason::Liquidation));
    assert_eq!((t.entry_step, t.exit_step), (4, 6));
    assert_eq!(t.qty.get(), d("105"));
    assert_eq!(
        (t.entry_price.get(), t.exit_price.get()),
        (d("95"), d("130"))
    );
    assert_eq!(t.pnl.get(), d("-3675"));
    assert_eq!(out.final_equity, d("6325"));
    assert_eq!(out.final_cash, d("6325"));
    // Nothing trades after the call, though the strategy crossed back up.
    assert_eq!(out.fills.len(), 2);

    // A lower maintenance level rides it out, and the cross above
    // reverses into a long at the next open, with no flat gap.
    let out = run(
        &jump(),
        cross_1_2(),
        &settings("0", margin(Some("10"), "0")),
    )
    .expect("test value");
    assert_eq!(out.margin_call, None);
    assert_eq!(out.trades.len(), 1);
    let t = &out.trades[0];
    assert_eq!(t.exit_reason, Some(ExitReason::Signal));
    assert_eq!(t.exit_step, 7);
    assert_eq!(t.exit_price.get(), d("131"));
    let sides: Vec<_> = out
        .fills
        .iter()
        .map(|f| (f.step, f.side, f.qty.get()))
        .collect();
    use tradedesk_core::order::Side::{Buy, Sell};
    // Bought back 105 at 131 (cash 19,975 − 13,755 = 6,220), then long
    // 47 with what is left (6,220 / 131).
    assert_eq!(
        sides,
        [(4, Sell, d("105")), (7, Buy, d("105")), (7, Buy, d("47"))]
    );
}

#[test]
fn a_short_pays_borrow_per_period_in_its_trade() {
    // 0.01 % per hour of the short's value at each step's close: bar 4
    // at 95, bar 5 at 94, bar 6 at 130; bought back at bar 7's open.
    let out = run(
        &jump(),
        cross_1_2(),
        &settings("0", margin(Some("10"), "0.01")),
    )
    .expect("test value");
    let borrow = d("105") * (d("95") + d("94") + d("130")) * d("0.0001");
    assert_eq!(borrow, d("3.3495"));
    let t = &out.trades[0];
    assert_eq!(t.fees.get(), borrow);
    assert_eq!(t.pnl.get(), d("105") * (d("95") - d("131")) - borrow);
    // The long that followed is still open: equity is cash plus it.
    let cash = d("10000") + t.pnl.get() - d("47") * d("131");
    assert_eq!(out.final_cash, cash);
}

#[test]
fn a_short_stop_loss_sits_above_its_price() {
    // Short at 95 with a 5 % stop: a buy stop at 99.75. Bar 6 trades
    // through it from 95: filled at the stop.
    let spec = spec(
        "sma_cross",
        serde_json::json!({ "fast": 1, "slow": 2, "allow_short": true }),
        Interval::H1,
        serde_json::from_value(serde_json::json!({ "stop_loss_pct": "5" })).expect("test value"),
    );
    let out = run(&jump(), spec, &settings("0", margin(Some("10"), "0"))).expect("test value");
    let t = &out.trades[0];
    assert_eq!(t.direction, Direction::Short);
    assert_eq!(t.exit_reason, Some(ExitReason::StopLoss));
    assert_eq!(t.exit_price.get(), d("99.75"));
    assert_eq!(t.exit_step, 6);
    assert_eq!(t.pnl.get(), d("105") * (d("95") - d("99.75")));
}

fn shared(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    p.exists().then_some(p)
}

#[test]
fn a_long_short_cross_on_goog_alternates_with_no_flat_gap() {
    let Some(goog) = shared("data/GOOG.csv") else {
        eprintln!("skipped: ../shared/data is absent");
        return;
    };
    let bars = dataset::parse(
        &std::fs::read_to_string(goog).expect("test value"),
        Format::Csv,
    )
    .expect("test value");
    let spec = spec(
        "sma_cross",
        serde_json::json!({ "fast": 10, "slow": 20, "allow_short": true }),
        Interval::D1,
        Exits::default(),
    );
    let out = run(&bars, spec, &settings("0.2", margin(None, "0"))).expect("test value");
    assert_eq!(out.margin_call, None);

    // The crosses, worked out plainly: signal on bar i, fill at bar i+1.
    let closes: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let sma = |n: usize, i: usize| closes[i + 1 - n..=i].iter().sum::<f64>() / n as f64;
    let mut crosses = Vec::new();
    for i in 20..closes.len() - 1 {
        let (f0, s0, f1, s1) = (sma(10, i - 1), sma(20, i - 1), sma(10, i), sma(20, i));
        if f0 < s0 && f1 > s1 {
            crosses.push((i + 1, Direction::Long));
        } else if f0 > s0 && f1 < s1 {
            crosses.push((i + 1, Direction::Short));
        }
    }
    // Every cross but the last opens a trade that the next one closes.
    assert_eq!(out.trades.len(), crosses.len() - 1);
    assert!(out.trades.len() > 80, "{}", out.trades.len());
    let (mut longs, mut shorts) = (0, 0);
    for (i, t) in out.trades.iter().enumerate() {
        assert_eq!((t.entry_step, t.direction), crosses[i], "trade {i}");
        assert_eq!(t.exit_step, crosses[i + 1].0, "trade {i}: no flat gap");
        assert_eq!(t.exit_reason, Some(ExitReason::Signal));
        if i > 0 {
            assert_ne!(t.direction, out.trades[i - 1].direction, "trade {i}");
        }
        // Opened at the fill bar's open, closed at the next cross's.
        let open: Decimal = format!("{:.2}", bars[t.entry_step].open)
            .parse()
            .expect("test value");
        assert_eq!(t.entry_price.get(), open, "trade {i}");
        // A short gains what the price lost, after both commissions.
        let gross = t.qty.get() * (t.exit_price.get() - t.entry_price.get());
        let gross = if t.direction == Direction::Short {
            shorts += 1;
            -gross
        } else {
            longs += 1;
            gross
        };
        assert_eq!(t.pnl.get(), gross - t.fees.get(), "trade {i}");
    }
    assert!(longs > 40 && shorts > 40, "{longs} longs, {shorts} shorts");
    // Money is conserved: the trades' PnL and the open position's mark
    // make up the final equity.
    let pnl: Decimal = out.trades.iter().map(|t| t.pnl.get()).sum();
    let open_fills: Vec<_> = out
        .fills
        .iter()
        .filter(|f| f.step >= crosses.last().expect("test value").0)
        .skip(1) // the fill that closed the last trade
        .collect();
    let mut held = Decimal::ZERO;
    let mut cash_flow = Decimal::ZERO;
    for f in &open_fills {
        let v = f.qty.get() * f.price.get();
        match f.side {
            tradedesk_core::order::Side::Buy => {
                held += f.qty.get();
                cash_flow -= v + f.fee.get();
            }
            tradedesk_core::order::Side::Sell => {
                held -= f.qty.get();
                cash_flow += v - f.fee.get();
            }
        }
    }
    assert_eq!(out.final_cash, d("10000") + pnl + cash_flow);
    let last: Decimal = format!("{:.2}", bars.last().expect("test value").close)
        .parse()
        .expect("test value");
    assert_eq!(out.final_equity, out.final_cash + held * last);
}

#[test]
fn close_at_end_books_the_open_position_as_an_end_of_data_trade() {
    // Long 47 from bar 7's open (131) after the reversal; the data ends
    // at bar 8's close, 131: the open long closes there.
    let open_end = run(
        &jump(),
        cross_1_2(),
        &settings("0", margin(Some("10"), "0")),
    )
    .expect("run");
    let mut s = settings("0", margin(Some("10"), "0"));
    s.close_at_end = true;
    let closed = run(&jump(), cross_1_2(), &s).expect("run");
    assert_eq!(closed.trades.len(), open_end.trades.len() + 1);
    let last = closed.trades.last().expect("a trade");
    assert_eq!(last.exit_reason, Some(ExitReason::EndOfData));
    assert_eq!(last.direction, Direction::Long);
    assert_eq!((last.entry_step, last.exit_step), (7, 8));
    assert_eq!(last.qty.get(), d("47"));
    // No commission, no slippage: the same final equity, now all cash.
    assert_eq!(closed.final_equity, open_end.final_equity);
    assert_eq!(closed.final_cash, closed.final_equity);
}
