//! The example strategies under `examples/strategies/` — `sma_cross` in
//! Lua and in WebAssembly — reproduce the built-in `sma_cross` on the
//! shared GOOG data exactly: the same 46 trades, final equity 63,341.19136
//! (the backtesting.py reference). Skips, with a message, when
//! `../shared/data` is absent or (for the wasm one) when the
//! `wasm32-unknown-unknown` target is not installed.

use std::path::PathBuf;

use rust_decimal::Decimal;
use tradedesk_core::backtest::{self, FillModel, Leg, Market, Outcome, Settings};
use tradedesk_core::dataset::{self, Format};
use tradedesk_core::instrument::Instrument;
use tradedesk_core::market::Interval;
use tradedesk_core::strategy::{Registry, StrategySpec};
use tradedesk_scripting::{Limits, Tier};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn goog() -> Option<Vec<tradedesk_core::strategy::Candle>> {
    let p = root().join("../shared/data/GOOG.csv");
    if !p.exists() {
        eprintln!("skipped: ../shared/data is absent");
        return None;
    }
    let text = std::fs::read_to_string(p).expect("read GOOG.csv");
    Some(dataset::parse(&text, Format::Csv).expect("parse GOOG.csv"))
}

fn run(registry: &Registry, strategy: &str, bars: &[tradedesk_core::strategy::Candle]) -> Outcome {
    let instrument = Instrument {
        symbol: "GOOG".parse().expect("symbol"),
        base: "GOOG".into(),
        quote: "USD".into(),
        tick_size: "0.01".parse().expect("tick"),
        lot_size: "1".parse().expect("lot"),
        min_qty: "1".parse().expect("min"),
        min_notional: "0".parse().expect("notional"),
    };
    let spec = StrategySpec {
        strategy: strategy.into(),
        params: serde_json::json!({ "fast": 10, "slow": 20 }),
        sizing: serde_json::from_value(
            serde_json::json!({ "mode": "percent", "value": "100", "whole_units": true }),
        )
        .expect("sizing"),
        exits: tradedesk_core::strategy::Exits::default(),
        interval: Interval::D1,
        protections: tradedesk_core::strategy::Protections::default(),
    };
    let settings = Settings {
        capital: "10000".parse().expect("capital"),
        commission_pct: Some("0.2".parse().expect("pct")),
        commission_fixed: "0".parse().expect("fixed"),
        slippage_bps: "0".parse().expect("bps"),
        fill: FillModel::NextOpen,
        leverage: "1".parse().expect("leverage"),
        margin: None,
        close_at_end: false,
    };
    backtest::run(
        registry,
        &[Market::new(instrument, bars)],
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
    .expect("backtest")
}

fn same_as_builtin(registry: &Registry, name: &str, bars: &[tradedesk_core::strategy::Candle]) {
    let native = run(registry, "sma_cross", bars);
    let user = run(registry, name, bars);
    assert_eq!(user.trades.len(), 46, "trade count");
    assert_eq!(
        user.final_equity,
        "63341.19136".parse::<Decimal>().expect("decimal"),
        "final equity"
    );
    assert_eq!(user.trades, native.trades, "every trade as the built-in's");
    assert_eq!(user.equity, native.equity, "the equity curve");
    assert_eq!(user.metrics, native.metrics, "the metrics");
}

/// Builds the example wasm strategy with cargo; `None` (with a message)
/// when the target is not installed.
pub fn build_example_wasm() -> Option<Vec<u8>> {
    if !tradedesk_core::wasm_build::target_installed() {
        eprintln!(
            "skipped: the wasm32-unknown-unknown target is not installed \
             (rustup target add wasm32-unknown-unknown)"
        );
        return None;
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("strategy-wasm");
    let dir = root().join("examples/strategies/sma_cross_wasm");
    let module = tradedesk_core::wasm_build::build(&dir, Some(&target_dir), true)
        .expect("building the example wasm strategy");
    Some(std::fs::read(module).expect("the built module"))
}

#[test]
fn the_lua_example_reproduces_the_builtin_sma_cross_on_goog() {
    let Some(bars) = goog() else { return };
    let src = std::fs::read(root().join("examples/strategies/sma_cross.lua")).expect("example");
    let registry = Registry::builtin();
    let k = tradedesk_scripting::kind(Tier::Lua, "sma_cross_lua", "test", &src, Limits::default())
        .expect("the example loads");
    registry.add_user(k);
    same_as_builtin(&registry, "sma_cross_lua", &bars);
}

#[test]
fn the_wasm_example_reproduces_the_builtin_sma_cross_on_goog() {
    let Some(bars) = goog() else { return };
    let Some(module) = build_example_wasm() else {
        return;
    };
    let registry = Registry::builtin();
    let k = tradedesk_scripting::kind(
        Tier::Wasm,
        "sma_cross_wasm",
        "test",
        &module,
        Limits::default(),
    )
    .expect("the example loads");
    assert_eq!(
        k.schema["properties"]["slow"]["default"],
        serde_json::json!(20)
    );
    registry.add_user(k);
    same_as_builtin(&registry, "sma_cross_wasm", &bars);
}
