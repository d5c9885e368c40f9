//! The sandbox: whatever a user strategy does — loop forever, eat memory,
//! reach for files or the network, panic, trap, raise an error — it stops
//! that strategy (a backtest fails with the reason; `bots` tests show a
//! bot stops alone) and nothing else.

use tradedesk_core::backtest::{self, BacktestError, FillModel, Leg, Market, Settings};
use tradedesk_core::instrument::Instrument;
use tradedesk_core::market::Interval;
use tradedesk_core::strategy::{Candle, Registry, StrategySpec};
use tradedesk_core::time::Timestamp;
use tradedesk_scripting::{Limits, LoadError, Tier};

mod common;

fn bars(n: usize) -> Vec<Candle> {
    (0..n)
        .map(|i| {
            let c = 100.0 + (i as f64 / 3.0).sin() * 5.0;
            Candle {
                time: Timestamp(i as i64 * 60_000),
                open: c,
                high: c + 1.0,
                low: c - 1.0,
                close: c,
                volume: 10.0,
            }
        })
        .collect()
}

fn run(registry: &Registry, strategy: &str) -> Result<backtest::Outcome, BacktestError> {
    let instrument = Instrument {
        symbol: "TESTUSD".parse().expect("symbol"),
        base: "TEST".into(),
        quote: "USD".into(),
        tick_size: "0.01".parse().expect("tick"),
        lot_size: "0.001".parse().expect("lot"),
        min_qty: "0.001".parse().expect("min"),
        min_notional: "0".parse().expect("notional"),
    };
    let bars = bars(200);
    backtest::run(
        registry,
        &[Market::new(instrument, &bars)],
        &[Leg {
            spec: StrategySpec {
                strategy: strategy.into(),
                params: serde_json::json!({}),
                sizing: tradedesk_core::strategy::Sizing::default(),
                exits: tradedesk_core::strategy::Exits::default(),
                interval: Interval::M1,
                protections: tradedesk_core::strategy::Protections::default(),
            },
            markets: vec![0],
        }],
        &Settings {
            capital: "10000".parse().expect("capital"),
            commission_pct: None,
            commission_fixed: "0".parse().expect("fixed"),
            slippage_bps: "0".parse().expect("bps"),
            fill: FillModel::NextOpen,
            leverage: "1".parse().expect("leverage"),
            margin: None,
            close_at_end: false,
        },
        backtest::Keep {
            equity: false,
            fills: true,
        },
        &mut |_| true,
    )
}

/// Small limits, so that the tests stop runaways quickly.
fn limits() -> Limits {
    Limits {
        memory_bytes: 8 << 20,
        lua_instructions: 2_000_000,
        wasm_fuel: 20_000_000,
    }
}

fn lua(name: &str, src: &str) -> Registry {
    let r = Registry::builtin();
    r.add_user(
        tradedesk_scripting::kind(Tier::Lua, name, "t", src.as_bytes(), limits()).expect("loads"),
    );
    r
}

fn failure(r: &Registry, name: &str) -> String {
    match run(r, name) {
        Err(BacktestError::Strategy { message, .. }) => message,
        Err(other) => panic!("{name}: expected the strategy to fail, got {other}"),
        Ok(o) => panic!(
            "{name}: expected the strategy to fail; it made {} trades",
            o.trades.len()
        ),
    }
}

#[test]
fn a_lua_endless_loop_is_stopped_by_its_budget() {
    let r = lua(
        "spin",
        "function on_bar(t, o, h, l, c, v) while true do end end",
    );
    let m = failure(&r, "spin");
    assert!(m.contains("instruction budget"), "{m}");
}

#[test]
fn the_lua_budget_is_per_call() {
    // 20,000 instructions a bar, 200 bars: far more than one call's
    // budget in all, well within it each time.
    let r = lua(
        "busy",
        "function on_bar(t, o, h, l, c, v) local s = 0 for i = 1, 5000 do s = s + i end end",
    );
    run(&r, "busy").expect("a busy but bounded strategy runs");
}

#[test]
fn a_lua_memory_bomb_is_stopped() {
    let r = lua(
        "bomb",
        "function on_bar(t, o, h, l, c, v) local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 65536) .. i end end",
    );
    let m = failure(&r, "bomb");
    assert!(m.contains("memory"), "{m}");
    let r = lua(
        "big",
        "function on_bar(t, o, h, l, c, v) local s = string.rep('x', 1e9) end",
    );
    let m = failure(&r, "big");
    assert!(m.contains("memory"), "{m}");
}

#[test]
fn lua_has_no_files_no_network_no_loading() {
    for (what, code) in [
        ("io", "io.open('/etc/passwd')"),
        ("os", "os.execute('true')"),
        ("load", "load('return 1')"),
        ("require", "require('socket')"),
        ("dofile", "dofile('/etc/passwd')"),
        ("loadfile", "loadfile('/etc/passwd')"),
        ("string.dump", "string.dump(on_bar)"),
        ("package", "package.loadlib('x', 'y')"),
        ("debug", "debug.getinfo(1)"),
        ("collectgarbage", "collectgarbage()"),
    ] {
        let src = format!("function on_bar(t, o, h, l, c, v) {code} end");
        let r = lua("reach", &src);
        let m = failure(&r, "reach");
        assert!(
            m.contains("nil value") && m.contains("reach.lua:1:"),
            "{what}: {m}"
        );
    }
}

#[test]
fn a_lua_error_names_the_file_and_line_and_fail_says_why() {
    let r = lua(
        "oops",
        "\n\nfunction on_bar(t, o, h, l, c, v)\n  if t > 600000 then local x = nil; x.y = 1 end\nend",
    );
    let m = failure(&r, "oops");
    assert!(m.starts_with("oops.lua:4:"), "{m}");
    let r = lua(
        "quit",
        "function on_bar(t, o, h, l, c, v) fail('the data looks wrong') end",
    );
    assert_eq!(failure(&r, "quit"), "the data looks wrong");
}

#[test]
fn lua_keyed_orders_and_their_fills_reach_the_strategy() {
    // A buy below the market; when it fills, a sell above its price.
    let r = lua(
        "ladder",
        r#"
local placed = false
function on_bar(t, o, h, l, c, v)
  if not placed then limit("a", "buy", c - 3, 1); placed = true end
end
function on_fill(key, side, qty, price, complete)
  if key == "a" and side == "buy" and complete then limit("b", "sell", price + 4, qty) end
end
"#,
    );
    let out = run(&r, "ladder").expect("runs");
    let sides: Vec<_> = out.fills.iter().map(|f| f.side).collect();
    assert_eq!(
        sides,
        vec![
            tradedesk_core::order::Side::Buy,
            tradedesk_core::order::Side::Sell
        ],
        "{:?}",
        out.fills
    );
    let (buy, sell) = (out.fills[0].price.get(), out.fills[1].price.get());
    assert_eq!(
        sell - buy,
        rust_decimal::Decimal::from(4),
        "the sell was placed from the fill's price"
    );
}

#[test]
fn a_lua_file_is_checked_at_load() {
    let bad = |src: &str| {
        tradedesk_scripting::kind(Tier::Lua, "x", "t", src.as_bytes(), limits())
            .expect_err("refused")
            .to_string()
    };
    assert!(
        bad("function on_bar(").contains("x.lua:1:"),
        "syntax error located"
    );
    assert!(bad("x = 1").contains("on_bar"), "on_bar is required");
    assert!(
        bad("params = {{ name = 'n', type = 'int', default = 0, min = 1 }}\nfunction on_bar() end")
            .contains("default"),
        "a default outside its range"
    );
    assert!(
        bad("while true do end").contains("instruction budget"),
        "the top level has a budget too"
    );
}

#[test]
fn lua_parameters_are_declared_checked_and_passed() {
    let src = r#"
params = {
  { name = "n", type = "int", default = 3, min = 1, max = 10, description = "bars" },
  { name = "k", type = "float", default = 0.5 },
  { name = "go", type = "bool", default = true },
}
local seen
function init(p)
  if p.n == 7 then error("seven is unlucky") end
  seen = p
  return p.n + 1, p.n
end
function on_bar(t, o, h, l, c, v)
  if t == 0 then log(string.format("n=%d k=%.2f go=%s", seen.n, seen.k, tostring(seen.go))) end
end
"#;
    let k =
        tradedesk_scripting::kind(Tier::Lua, "decl", "t", src.as_bytes(), limits()).expect("loads");
    assert_eq!(
        k.schema["properties"]["n"]["maximum"],
        serde_json::json!(10)
    );
    assert_eq!(
        k.schema["properties"]["go"]["default"],
        serde_json::json!(true)
    );
    let (s, normalized) = (k.build)(&serde_json::json!({ "n": 5 })).expect("builds");
    assert_eq!(s.warmup(), 6);
    assert_eq!(s.lookback(), 5);
    assert_eq!(
        normalized,
        serde_json::json!({ "n": 5, "k": 0.5, "go": true })
    );
    let e = (k.build)(&serde_json::json!({ "n": 11 }))
        .err()
        .expect("out of range");
    assert_eq!(e.field, "params.n");
    let e = (k.build)(&serde_json::json!({ "n": 7 }))
        .err()
        .expect("init refuses");
    assert!(e.message.contains("seven is unlucky"), "{e}");
}

// ---- WebAssembly, as text (the wat crate compiles it) ----

/// A module with the whole ABI and the host's `fail`, `imports` added,
/// `on_bar` doing `body`.
fn wat(imports: &str, body: &str) -> String {
    common::wat_module(
        &format!("{imports}\n  (import \"tradedesk\" \"fail\" (func $fail (param i32 i32)))"),
        body,
        None,
    )
}

fn wasm(name: &str, module: &str) -> Result<Registry, LoadError> {
    let r = Registry::builtin();
    r.add_user(tradedesk_scripting::kind(
        Tier::Wasm,
        name,
        "t",
        module.as_bytes(),
        limits(),
    )?);
    Ok(r)
}

#[test]
fn a_wasm_endless_loop_is_stopped_by_its_fuel() {
    let r = wasm("spin", &wat("", "(loop $l (br $l))")).expect("loads");
    let m = failure(&r, "spin");
    assert!(m.contains("fuel"), "{m}");
}

#[test]
fn a_wasm_memory_bomb_is_stopped() {
    let r = wasm(
        "bomb",
        &wat("", "(loop $l (drop (memory.grow (i32.const 16))) (br $l))"),
    )
    .expect("loads");
    let m = failure(&r, "bomb");
    assert!(m.contains("memory") || m.contains("trap"), "{m}");
    // A module asking for more memory than the cap at the start is refused.
    let big = wat("", "").replace(
        "(memory (export \"memory\") 1)",
        "(memory (export \"memory\") 1000)",
    );
    assert!(wasm("big", &big).is_err());
}

#[test]
fn a_wasm_trap_and_a_reported_failure_stop_the_strategy_with_the_reason() {
    let r = wasm("trap", &wat("", "unreachable")).expect("loads");
    assert!(failure(&r, "trap").contains("unreachable"));
    let r = wasm("oob", &wat("", "(drop (i32.load (i32.const 0x7ffffff0)))")).expect("loads");
    assert!(
        failure(&r, "oob").contains("out of bounds"),
        "{}",
        failure(&r, "oob")
    );
    // As the SDK's panic hook does: `fail` with the message, then trap.
    let r = wasm(
        "said",
        &wat("", "(call $fail (i32.const 16) (i32.const 9)) unreachable"),
    )
    .expect("loads");
    let m = failure(&r, "said");
    assert!(
        m.starts_with("{\"summary"),
        "the module's own words first: {m}"
    );
}

#[test]
fn a_wasm_module_may_import_only_the_host_api() {
    for imports in [
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
        r#"(import "wasi_snapshot_preview1" "sock_open" (func (param i32) (result i32)))"#,
        r#"(import "tradedesk" "open_file" (func (param i32)))"#,
        r#"(import "env" "memory" (memory 1))"#,
    ] {
        let e = wasm("reach", &wat(imports, "")).err().expect("refused");
        assert!(e.to_string().contains("import"), "{e}");
    }
    assert!(wasm("junk", "not wasm").is_err());
    let old = wat("", "").replace(
        "(func (export \"tradedesk_abi_version\") (result i32) i32.const 1)",
        "(func (export \"tradedesk_abi_version\") (result i32) i32.const 2)",
    );
    assert!(
        wasm("old", &old)
            .err()
            .expect("refused")
            .to_string()
            .contains("ABI version 2")
    );
}

#[test]
fn lua_bound_indicators_reach_on_bar_with_the_values_the_calls_give() {
    // Bound and called side by side: every bar, each bound value must be
    // the one its call gives, nil while the call gives nil, and no ninth
    // value follows. Entering at the 150th bar with an ATR and leaving at
    // the 160th proves the values were there.
    let r = lua(
        "bound",
        r#"
local sma, macd, atr, seen = nil, nil, nil, 0
function init(p)
  ta.bind("sma", "high", 5)
  ta.bind("macd", "close", 12, 26, 9)
  ta.bind("atr", "bar", 14)
  sma, macd, atr = ta.sma(5), ta.macd(12, 26, 9), ta.atr(14)
  return 0, 0
end
function on_bar(t, o, h, l, c, v, s, m1, m2, m3, a, extra)
  local cs = sma(h)
  local c1, c2, c3 = macd(c)
  local ca = atr()
  if s ~= cs or m1 ~= c1 or m2 ~= c2 or m3 ~= c3 or a ~= ca or extra ~= nil then
    fail("bound values differ from the calls at " .. t)
  end
  if a then seen = seen + 1 end
  if seen == 150 then enter() elseif seen == 160 then exit() end
end
"#,
    );
    let out = run(&r, "bound").expect("the values agree on every bar");
    assert_eq!(out.trades.len(), 1, "entered and left on bound values");
}

#[test]
fn lua_ta_bind_is_checked() {
    // A file is built with its defaults when it is loaded: a bad binding
    // is refused then, with the reason.
    let init_fails = |name: &str, init: &str| {
        let src = format!("function init(p) {init} end\nfunction on_bar() end");
        tradedesk_scripting::kind(Tier::Lua, name, "t", src.as_bytes(), limits())
            .expect_err("refused at load")
            .to_string()
    };
    let m = init_fails("nokind", r#"ta.bind("smaa", "close", 5)"#);
    assert!(m.contains("no indicator `smaa`"), "{m}");
    let m = init_fails("noinput", r#"ta.bind("sma", "bar", 5)"#);
    assert!(m.contains("`sma` is fed \"open\""), "{m}");
    let m = init_fails("barinput", r#"ta.bind("atr", "close", 14)"#);
    assert!(m.contains("`atr` is fed \"bar\""), "{m}");
    let m = init_fails("period", r#"ta.bind("sma", "close", 0)"#);
    assert!(m.contains("ta.sma"), "{m}");
    let m = init_fails(
        "toomany",
        r#"ta.bind("macd", "close", 12, 26, 9) ta.bind("macd", "close", 5, 10, 3) ta.bind("macd", "open", 12, 26, 9)"#,
    );
    assert!(m.contains("at most 8 bound values"), "{m}");
    // Only in init: the bars' arguments are fixed once it returns.
    let r = lua(
        "late",
        r#"function on_bar() ta.bind("sma", "close", 5) end"#,
    );
    let m = failure(&r, "late");
    assert!(m.contains("bind indicators in init(p)"), "{m}");
}
