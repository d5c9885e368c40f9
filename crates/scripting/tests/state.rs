//! State that warm-up cannot rebuild is saved with the bot and given back
//! on resume, in both tiers.

use tradedesk_core::instrument::Instrument;
use tradedesk_core::ledger::Position;
use tradedesk_core::money::Qty;
use tradedesk_core::portfolio::{OpenOrder, Portfolio};
use tradedesk_core::sim::Rng;
use tradedesk_core::strategy::{Action, Candle, Cx, Strategy};
use tradedesk_core::time::Timestamp;
use tradedesk_scripting::{Limits, Tier};

mod common;

struct Flat;

impl Portfolio for Flat {
    fn position(&self, _: &tradedesk_core::instrument::Symbol) -> Position {
        Position::default()
    }
    fn free(&self, _: &str) -> Qty {
        Qty::ZERO
    }
    fn equity(&self) -> rust_decimal::Decimal {
        rust_decimal::Decimal::ZERO
    }
    fn open_orders(&self, _: &tradedesk_core::instrument::Symbol) -> Vec<OpenOrder> {
        Vec::new()
    }
}

fn instrument() -> Instrument {
    Instrument {
        symbol: "TESTUSD".parse().expect("symbol"),
        base: "TEST".into(),
        quote: "USD".into(),
        tick_size: "0.01".parse().expect("tick"),
        lot_size: "0.001".parse().expect("lot"),
        min_qty: "0.001".parse().expect("min"),
        min_notional: "0".parse().expect("notional"),
    }
}

/// Feeds `n` bars; what the strategy logged.
fn feed(s: &mut dyn Strategy, from: i64, n: i64) -> Vec<String> {
    let inst = instrument();
    let mut rng = Rng::new(1);
    let mut actions = Vec::new();
    for i in from..from + n {
        let bar = Candle {
            time: Timestamp(i * 60_000),
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1.0,
        };
        let mut cx = Cx::new(bar.time, 1.0, &inst, &Flat, "b1", &mut rng, &mut actions);
        s.on_bar(&bar, &mut cx);
    }
    actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Log(m) => Some(m.into_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_lua_strategy_saves_and_restores_its_state() {
    let src = r#"
local bars = 0
function on_bar(t, o, h, l, c, v) bars = bars + 1; log("bar " .. bars) end
function save() return tostring(bars) end
function restore(s) bars = tonumber(s) end
"#;
    let k = tradedesk_scripting::kind(Tier::Lua, "count", "t", src.as_bytes(), Limits::default())
        .expect("loads");
    let (mut first, _) = (k.build)(&serde_json::json!({})).expect("builds");
    feed(first.as_mut(), 0, 5);
    let saved = first.save();
    assert_eq!(saved, serde_json::json!({ "lua": "5" }));
    let (mut second, _) = (k.build)(&serde_json::json!({})).expect("builds");
    second.restore(&saved).expect("restores");
    assert_eq!(feed(second.as_mut(), 5, 1), vec!["bar 6".to_owned()]);
}

#[test]
fn a_wasm_strategy_saves_and_restores_its_state() {
    // The state lives at 512..512+len; restore copies what the host wrote.
    let module = common::wat_module(
        r#"(global $len (mut i32) (i32.const 5))
  (data (i32.const 512) "hello")"#,
        "",
        Some(
            r#"(func (export "tradedesk_save") (result i64)
    (i64.or (i64.shl (i64.const 512) (i64.const 32)) (i64.extend_i32_u (global.get $len))))
  (func (export "tradedesk_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "tradedesk_restore") (param $p i32) (param $n i32) (result i32)
    (memory.copy (i32.const 512) (local.get $p) (local.get $n))
    (global.set $len (local.get $n))
    i32.const 0)"#,
        ),
    );
    let k = tradedesk_scripting::kind(
        Tier::Wasm,
        "keep",
        "t",
        module.as_bytes(),
        Limits::default(),
    )
    .expect("loads");
    let (mut s, _) = (k.build)(&serde_json::json!({})).expect("builds");
    assert_eq!(s.save(), serde_json::json!({ "wasm": "aGVsbG8=" }));
    s.restore(&serde_json::json!({ "wasm": "d29ybGQh" }))
        .expect("restores");
    assert_eq!(
        s.save(),
        serde_json::json!({ "wasm": "d29ybGQh" }),
        "world!"
    );
    assert!(
        s.restore(&serde_json::json!({ "wasm": "not base64!" }))
            .is_err()
    );
}
