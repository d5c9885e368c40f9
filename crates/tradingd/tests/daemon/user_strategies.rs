//! User strategies through the daemon: uploaded, listed, pinned to their
//! code by hash on every bot and backtest, kept across restarts, reloaded
//! only when asked; a failing one stops its own bot and nothing else.

use std::path::Path;

use serde_json::{Value, json};

use super::backtests::{import, wait_backtest};
use super::support::{TestDaemon, call, call_err};

fn example(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/strategies")
        .join(name);
    std::fs::read_to_string(p).expect("example")
}

fn upload_lua(c: &mut tradedesk_core::client::Client, name: &str, source: &str) -> Value {
    call(
        c,
        "strategies.upload",
        json!({ "name": name, "tier": "lua", "source": source }),
    )
}

fn bot(name: &str, strategy: &str, params: &Value) -> Value {
    json!({
        "name": name,
        "spec": {
            "strategy": strategy,
            "params": params,
            "sizing": { "mode": "quote", "value": "100" }
        },
        "symbols": ["BTCUSDT"],
        "allocation": { "USDT": "1000" },
        "start": true
    })
}

fn events(c: &mut tradedesk_core::client::Client, bot: &Value) -> Vec<Value> {
    call(c, "bots.events", json!({ "id": bot, "limit": 1000 }))["items"]
        .as_array()
        .expect("events")
        .clone()
}

/// A module in the text format, with the whole ABI, trapping on its
/// third bar.
const TRAPPY: &str = r#"(module
  (memory (export "memory") 1)
  (global $n (mut i32) (i32.const 0))
  (data (i32.const 16) "{\"summary\":\"traps\",\"rules\":\"none\",\"params\":[]}")
  (func (export "tradedesk_abi_version") (result i32) i32.const 1)
  (func (export "tradedesk_describe") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 46)))
  (func (export "tradedesk_init") (result i32) i32.const 0)
  (func (export "tradedesk_warmup") (result i32) i32.const 0)
  (func (export "tradedesk_lookback") (result i32) i32.const 0)
  (func (export "tradedesk_on_start"))
  (func (export "tradedesk_on_bar") (param i64 f64 f64 f64 f64 f64)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (if (i32.eq (global.get $n) (i32.const 3)) (then unreachable)))
  (func (export "tradedesk_on_fill") (param i32 f64 f64 i32))
  (func (export "tradedesk_save") (result i64) i64.const 0)
  (func (export "tradedesk_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "tradedesk_restore") (param i32 i32) (result i32) i32.const 0))"#;

#[test]
#[allow(clippy::too_many_lines)] // one story: upload, pin, fail alone, reload, restart
fn user_strategies_are_pinned_fail_alone_reload_when_asked_and_survive_a_restart() {
    use base64::Engine as _;
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let up = upload_lua(&mut c, "crossy", &example("sma_cross.lua"));
    let hash = up["info"]["user"]["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    assert_eq!(hash.len(), 64, "{up}");
    assert_eq!(up["new_code"], true);
    assert_eq!(up["info"]["default_warmup"], 21);
    // The same code again is the same hash, stored once.
    let again = upload_lua(&mut c, "crossy", &example("sma_cross.lua"));
    assert_eq!(again["info"]["user"]["hash"], hash.as_str());
    assert_eq!(again["new_code"], false);
    // The same code under a second name is a strategy of its own.
    let twin = upload_lua(&mut c, "crossy_twin", &example("sma_cross.lua"));
    assert_eq!(
        twin["info"]["user"]["pinned"],
        format!("crossy_twin@{hash}")
    );
    let v = call(
        &mut c,
        "strategies.validate",
        json!({ "spec": { "strategy": "crossy_twin", "params": { "fast": 2, "slow": 3 } } }),
    );
    assert_eq!(v["spec"]["strategy"], format!("crossy_twin@{hash}"), "{v}");
    let cat = call(&mut c, "strategies.catalog", json!({}));
    let listed = cat["strategies"]
        .as_array()
        .expect("strategies")
        .iter()
        .find(|s| s["name"] == "crossy")
        .expect("listed beside the built-ins")
        .clone();
    assert_eq!(listed["user"]["tier"], "lua");
    assert_eq!(listed["params_schema"]["properties"]["slow"]["default"], 20);

    // Bad uploads name the field and change nothing.
    let (_, m) = call_err(
        &mut c,
        "strategies.upload",
        json!({ "name": "sma_cross", "tier": "lua", "source": "function on_bar() end" }),
    );
    assert!(m.contains("`name`") && m.contains("built-in"), "{m}");
    let (_, m) = call_err(
        &mut c,
        "strategies.upload",
        json!({ "name": "broken", "tier": "lua", "source": "function on_bar(" }),
    );
    assert!(m.contains("`source`") && m.contains("broken.lua:1:"), "{m}");
    let (_, m) = call_err(
        &mut c,
        "strategies.upload",
        json!({ "name": "nosy", "tier": "wasm", "module_base64": base64::engine::general_purpose::STANDARD
            .encode(r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))"#) }),
    );
    assert!(m.contains("`module_base64`") && m.contains("import"), "{m}");
    let names: Vec<Value> = call(&mut c, "strategies.catalog", json!({}))["strategies"]
        .as_array()
        .expect("strategies")
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert!(!names.contains(&json!("broken")) && !names.contains(&json!("nosy")));

    // Bots: one on the Lua cross, one failing in Lua, one trapping in
    // wasm, and a built-in one that must trade on.
    let lua_bot = call(
        &mut c,
        "bots.create",
        bot("lua-bot", "crossy", &json!({ "fast": 2, "slow": 3 })),
    );
    assert_eq!(
        lua_bot["spec"]["strategy"],
        format!("crossy@{hash}"),
        "{lua_bot}"
    );
    upload_lua(
        &mut c,
        "fragile",
        "local n = 0\nfunction on_bar(t, o, h, l, c, v)\n  n = n + 1\n  if n == 3 then error('fell over on bar ' .. n) end\nend\n",
    );
    call(
        &mut c,
        "strategies.upload",
        json!({ "name": "trappy", "tier": "wasm",
                "module_base64": base64::engine::general_purpose::STANDARD.encode(TRAPPY) }),
    );
    let fragile = call(&mut c, "bots.create", bot("fragile", "fragile", &json!({})))["id"].clone();
    let trappy = call(&mut c, "bots.create", bot("trappy", "trappy", &json!({})))["id"].clone();
    let steady = call(
        &mut c,
        "bots.create",
        bot("steady", "dca", &json!({ "every_bars": 1 })),
    )["id"]
        .clone();
    d.minutes(6);
    let f = call(&mut c, "bots.get", json!({ "id": fragile }));
    assert_eq!(f["status"], "error", "{f}");
    let reason = f["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("fragile.lua:4: fell over on bar 3"),
        "{reason}"
    );
    let t = call(&mut c, "bots.get", json!({ "id": trappy }));
    assert_eq!(t["status"], "error", "{t}");
    assert!(
        t["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("unreachable"),
        "{t}"
    );
    assert!(
        events(&mut c, &fragile).iter().any(|e| e["kind"] == "error"
            && e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("fell over")),
        "the failure is in the bot's log"
    );
    for id in [&lua_bot["id"], &steady] {
        assert_eq!(
            call(&mut c, "bots.get", json!({ "id": id }))["status"],
            "running"
        );
    }
    let fills = |c: &mut tradedesk_core::client::Client| {
        call(c, "trades.list", json!({ "bot_id": steady, "limit": 1000 }))["items"]
            .as_array()
            .expect("trades")
            .len()
    };
    let n = fills(&mut c);
    d.minutes(2);
    assert!(fills(&mut c) > n, "the built-in bot trades on");

    // A new version does not touch the running bot; bots.update takes it.
    let v2 = upload_lua(
        &mut c,
        "crossy",
        &format!("-- version 2\n{}", example("sma_cross.lua")),
    );
    let hash2 = v2["info"]["user"]["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    assert_ne!(hash, hash2);
    let got = call(&mut c, "bots.get", json!({ "id": lua_bot["id"] }));
    assert_eq!(got["spec"]["strategy"], format!("crossy@{hash}"));
    call(&mut c, "bots.stop", json!({ "id": lua_bot["id"] }));
    let updated = call(
        &mut c,
        "bots.update",
        json!({ "id": lua_bot["id"], "spec": {
            "strategy": "crossy", "params": { "fast": 2, "slow": 3 },
            "sizing": { "mode": "quote", "value": "100" } } }),
    );
    assert_eq!(
        updated["spec"]["strategy"],
        format!("crossy@{hash2}"),
        "{updated}"
    );
    assert!(
        events(&mut c, &lua_bot["id"]).iter().any(|e| e["message"]
            .as_str()
            .unwrap_or_default()
            .contains("its saved strategy state was discarded")),
        "the reload is in the bot's log"
    );
    // The old version stays runnable by its pinned name.
    let pinned = call(
        &mut c,
        "strategies.validate",
        json!({ "spec": { "strategy": format!("crossy@{hash}"), "params": { "fast": 2, "slow": 3 } } }),
    );
    assert_eq!(pinned["valid"], true, "{pinned}");

    // After a restart the code comes from the database.
    let d = d.restart();
    let mut c = d.client();
    let started = call(&mut c, "bots.start", json!({ "id": lua_bot["id"] }));
    assert_eq!(started["status"], "running", "{started}");
    d.minutes(2);
    assert_eq!(
        call(&mut c, "bots.get", json!({ "id": lua_bot["id"] }))["status"],
        "running"
    );
    let cat = call(&mut c, "strategies.catalog", json!({}));
    assert!(
        cat["strategies"]
            .as_array()
            .expect("strategies")
            .iter()
            .any(|s| s["name"] == "crossy" && s["user"]["hash"] == hash2.as_str()),
        "{cat}"
    );
}

#[test]
fn the_lua_example_reproduces_the_goog_reference_through_the_daemon_and_the_run_records_its_code() {
    let goog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/GOOG.csv");
    if !goog.exists() {
        eprintln!("skipped: ../shared/data is absent");
        return;
    }
    let d = TestDaemon::start();
    let mut c = d.client();
    let up = upload_lua(&mut c, "sma_cross_lua", &example("sma_cross.lua"));
    let pinned = up["info"]["user"]["pinned"].clone();
    let job = import(
        &mut c,
        json!({ "path": goog, "symbol": "GOOG", "quote": "USD" }),
    );
    let b = call(
        &mut c,
        "backtests.create",
        json!({
            "strategies": [{
                "spec": {
                    "strategy": "sma_cross_lua",
                    "params": { "fast": 10, "slow": 20 },
                    "sizing": { "mode": "percent", "value": "100", "whole_units": true },
                    "interval": "1d"
                },
                "datasets": [job["result"]["dataset"]]
            }],
            "settings": { "capital": "10000", "commission_pct": "0.2", "fill": "next_open" }
        }),
    );
    assert_eq!(
        b["spec"]["strategies"][0]["spec"]["strategy"], pinned,
        "{b}"
    );
    let b = wait_backtest(&mut c, &b);
    assert_eq!(b["state"], "succeeded", "{b}");
    assert_eq!(b["summary"]["trades"], 46);
    assert_eq!(b["summary"]["final_equity"], "63341.19136");
}
