//! Datasets and backtests through the daemon: import (CSV, Binance dump),
//! run as jobs, results, trades, equity, compare, sweep, cancel; bad input.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tradedesk_core::client::Client;

use super::support::{TestDaemon, call, call_err, settled};

/// Daily bars of a slow sine wave with noise-free wicks: regular crosses.
pub(super) fn sine_csv(dir: &Path, name: &str, days: usize) -> PathBuf {
    let mut text = String::from("Date,Open,High,Low,Close,Volume\n");
    let mut prev = 100.0_f64;
    for i in 0..days {
        let close = 100.0 + 20.0 * (i as f64 / 15.0).sin() + i as f64 * 0.05;
        let close = (close * 100.0).round() / 100.0;
        let (hi, lo) = (prev.max(close) + 0.25, prev.min(close) - 0.25);
        let date = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("date")
            + chrono::Days::new(i as u64);
        let _ = writeln!(text, "{date},{prev},{hi},{lo},{close},1000");
        prev = close;
    }
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write csv");
    path
}

pub(super) fn import(c: &mut Client, params: Value) -> Value {
    let job = call(c, "data.import", params);
    settled(c, &job["id"])
}

pub(super) fn wait_backtest(c: &mut Client, b: &Value) -> Value {
    settled(c, &b["job_id"]);
    call(c, "backtests.get", json!({ "id": b["id"] }))
}

pub(super) fn spec(dataset: &Value, fast: u32, slow: u32) -> Value {
    json!({
        "strategies": [{
            "spec": {
                "strategy": "sma_cross",
                "params": { "fast": fast, "slow": slow },
                "sizing": { "mode": "percent", "value": "100" },
                "interval": "1d"
            },
            "datasets": [dataset]
        }],
        "settings": { "capital": "10000", "commission_pct": "0.1" }
    })
}

#[test]
#[allow(clippy::too_many_lines)] // one story: import, run, read back every way, compare, delete
fn a_csv_imports_and_a_backtest_runs_to_results_trades_and_equity() {
    let d = TestDaemon::start();
    let mut c = d.client();
    let dir = tempfile::tempdir().expect("dir");
    let path = sine_csv(dir.path(), "sine.csv", 400);
    let job = import(&mut c, json!({ "path": path, "symbol": "SINEUSD" }));
    assert_eq!(job["state"], "succeeded", "{job}");
    let id = job["result"]["dataset"].clone();
    let ds = call(&mut c, "data.get", json!({ "id": id }));
    assert_eq!(ds["rows"], 400, "{ds}");
    assert_eq!(ds["interval"], "1d");
    assert_eq!(
        (ds["base"].as_str(), ds["quote"].as_str()),
        (Some("SINE"), Some("USD"))
    );
    assert_eq!(ds["name"], "SINEUSD-1d");
    assert_eq!(ds["gaps"], 0);
    assert_eq!(ds["price_decimals"], 2);
    let list = call(&mut c, "data.list", json!({}));
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

    // The same name again is refused, and nothing is added.
    let again = import(&mut c, json!({ "path": path, "symbol": "SINEUSD" }));
    assert_eq!(again["state"], "dead", "{again}");
    assert!(
        again["error"]
            .as_str()
            .is_some_and(|e| e.contains("`name`")),
        "{again}"
    );

    let b = call(&mut c, "backtests.create", spec(&id, 5, 20));
    assert_eq!(b["kind"], "run");
    let b = wait_backtest(&mut c, &b);
    assert_eq!(b["state"], "succeeded", "{b}");
    let trades_n = b["summary"]["trades"].as_u64().expect("trades");
    assert!(trades_n >= 3, "{b}");
    let m = call(&mut c, "backtests.results", json!({ "id": b["id"] }));
    assert_eq!(m["trades"], trades_n);
    assert_eq!(m["steps"], 400);
    assert_eq!(
        m["periods_per_year"], 365,
        "calendar days, weekends included"
    );
    assert!(
        m["sharpe"].is_f64() && m["sharpe_reference"].is_f64(),
        "{m}"
    );
    assert_eq!(
        m["bars_per_year"], 365.0,
        "daily bars: the periods are the bars"
    );
    // The list's Sharpe is the default (textbook) one.
    assert_eq!(b["summary"]["sharpe"], m["sharpe"]);

    // Trades page by page.
    let p1 = call(
        &mut c,
        "backtests.trades",
        json!({ "id": b["id"], "limit": 2 }),
    );
    assert_eq!(p1["items"].as_array().map(Vec::len), Some(2));
    let p2 = call(
        &mut c,
        "backtests.trades",
        json!({ "id": b["id"], "limit": 1000, "cursor": p1["next_cursor"] }),
    );
    assert_eq!(
        p2["items"].as_array().map(Vec::len),
        Some(trades_n as usize - 2)
    );
    assert!(p2["next_cursor"].is_null());

    // The equity curve, whole and downsampled (its low kept).
    let full = call(&mut c, "backtests.equity", json!({ "id": b["id"] }));
    assert_eq!(full["total"], 400);
    assert_eq!(full["points"].as_array().map(Vec::len), Some(400));
    let low = |v: &Value| {
        v["points"]
            .as_array()
            .expect("points")
            .iter()
            .map(|p| p["equity"].as_f64().expect("equity"))
            .fold(f64::INFINITY, f64::min)
    };
    let small = call(
        &mut c,
        "backtests.equity",
        json!({ "id": b["id"], "downsample": 40 }),
    );
    assert!(
        small["points"].as_array().map_or(0, Vec::len) <= 40,
        "{small}"
    );
    assert_eq!(low(&small).to_bits(), low(&full).to_bits());

    // The same inputs give the same results, bit for bit.
    let b2 = call(&mut c, "backtests.create", spec(&id, 5, 20));
    let b2 = wait_backtest(&mut c, &b2);
    let m2 = call(&mut c, "backtests.results", json!({ "id": b2["id"] }));
    assert_eq!(m, m2);
    let t2 = call(
        &mut c,
        "backtests.trades",
        json!({ "id": b2["id"], "limit": 1000 }),
    );
    let t1 = call(
        &mut c,
        "backtests.trades",
        json!({ "id": b["id"], "limit": 1000 }),
    );
    assert_eq!(t1["items"], t2["items"]);

    // A date range cuts the bars: 2020-02-01 .. 2020-03-31 is 60 days.
    let mut ranged = spec(&id, 5, 20);
    ranged["start"] = json!("2020-02-01T00:00:00Z");
    ranged["end"] = json!("2020-03-31T00:00:00Z");
    let r = call(&mut c, "backtests.create", ranged);
    let r = wait_backtest(&mut c, &r);
    let rm = call(&mut c, "backtests.results", json!({ "id": r["id"] }));
    assert_eq!(rm["steps"], 60, "{rm}");
    assert_eq!(rm["start"], "2020-02-01T00:00:00.000Z");

    let cmp = call(
        &mut c,
        "backtests.compare",
        json!({ "ids": [b["id"], b2["id"]] }),
    );
    assert_eq!(cmp["backtests"].as_array().map(Vec::len), Some(2));
    let page = call(&mut c, "backtests.list", json!({}));
    assert_eq!(page["items"][0]["id"], r["id"], "newest first");

    // Export writes the bars back out; an existing file is refused.
    let out = dir.path().join("out.csv");
    let e = call(&mut c, "data.export", json!({ "id": id, "path": out }));
    assert_eq!(e["rows"], 400);
    let text = std::fs::read_to_string(&out).expect("exported");
    assert!(
        text.starts_with("timestamp,open,high,low,close,volume\n2020-01-01T00:00:00Z,"),
        "{}",
        &text[..80]
    );
    let (_, msg) = call_err(&mut c, "data.export", json!({ "id": id, "path": out }));
    assert!(msg.contains("`path`") && msg.contains("exists"), "{msg}");

    let del = call(&mut c, "backtests.delete", json!({ "id": b["id"] }));
    assert_eq!(del["deleted"], true);
    let (_, msg) = call_err(&mut c, "backtests.get", json!({ "id": b["id"] }));
    assert!(
        msg.contains("not found") || msg.contains("no backtest"),
        "{msg}"
    );
    let gone = call(&mut c, "data.delete", json!({ "id": id }));
    assert_eq!(gone["deleted"], true);
}

#[test]
fn a_binance_dump_imports_and_a_sweep_ranks_its_grid() {
    let d = TestDaemon::start();
    let mut c = d.client();
    let dir = tempfile::tempdir().expect("dir");
    let mut text = String::new();
    for i in 0..3000_i64 {
        let p = 0.05 + 0.01 * ((i as f64) / 40.0).sin();
        let _ = writeln!(
            text,
            "{},{p:.6},{:.6},{:.6},{p:.6},10.5,{},1.0,0,0,0,0",
            1_515_560_100_000 + i * 300_000,
            p + 0.0005,
            p - 0.0005,
            1_515_560_100_000 + i * 300_000 + 299_999
        );
    }
    let path = dir.path().join("ETHBTC-5m.csv");
    std::fs::write(&path, text).expect("write");
    let job = import(&mut c, json!({ "path": path, "symbol": "ETHBTC" }));
    assert_eq!(job["state"], "succeeded", "{job}");
    let ds = call(
        &mut c,
        "data.get",
        json!({ "id": job["result"]["dataset"] }),
    );
    assert_eq!(
        (ds["interval"].as_str(), ds["quote"].as_str()),
        (Some("5m"), Some("BTC"))
    );
    assert_eq!(ds["rows"], 3000);

    let mut base = spec(&ds["id"], 5, 20);
    base["strategies"][0]["spec"]["interval"] = json!("5m");
    let s = call(
        &mut c,
        "backtests.sweep",
        json!({
            "backtest": base,
            "grid": [
                { "param": "fast", "values": [3, 5, 8] },
                { "param": "slow", "values": [20, 40] }
            ],
            "rank_by": "return_pct"
        }),
    );
    assert_eq!(s["kind"], "sweep");
    let s = wait_backtest(&mut c, &s);
    assert_eq!(s["state"], "succeeded", "{s}");
    let rows = s["sweep"].as_array().expect("rows");
    assert_eq!(rows.len(), 6);
    let scores: Vec<f64> = rows
        .iter()
        .map(|r| r["score"].as_f64().expect("score"))
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "ranked: {scores:?}"
    );
    // Each row is the run of its parameters alone.
    let best = &rows[0]["params"];
    let mut one = base.clone();
    one["strategies"][0]["spec"]["params"] = best.clone();
    let alone = call(&mut c, "backtests.create", one);
    let alone = wait_backtest(&mut c, &alone);
    let m = call(&mut c, "backtests.results", json!({ "id": alone["id"] }));
    assert_eq!(m["return_pct"], rows[0]["score"]);
}

#[test]
#[allow(clippy::too_many_lines)] // one table of bad inputs
fn bad_imports_and_backtests_name_the_field_and_leave_nothing() {
    let d = TestDaemon::start();
    let mut c = d.client();
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "timestamp,open,high,low,close\n2024-01-01,1,2,0.5,1\n2024-01-02,1,x,0.5,1\n",
    )
    .expect("write");
    let job = import(&mut c, json!({ "path": bad, "symbol": "BAD" }));
    assert_eq!(job["state"], "dead", "{job}");
    let err = job["error"].as_str().unwrap_or_default();
    assert!(err.contains("line 3") && err.contains("`high`"), "{err}");
    assert_eq!(
        call(&mut c, "data.list", json!({}))["items"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "nothing partial"
    );
    let good = sine_csv(dir.path(), "ok.csv", 60);
    let ok = import(&mut c, json!({ "path": good, "symbol": "OKUSD" }));
    let id = ok["result"]["dataset"].clone();

    for (method, params, field) in [
        ("data.import", json!({ "symbol": "X" }), "path"),
        (
            "data.import",
            json!({ "path": "/nonexistent/file.csv", "symbol": "X" }),
            "path",
        ),
        (
            "data.import",
            json!({ "path": good, "symbol": "bad symbol" }),
            "symbol",
        ),
        (
            "data.import",
            json!({ "path": good, "symbol": "X", "interval": "7m" }),
            "interval",
        ),
        (
            "backtests.create",
            json!({ "strategies": [], "settings": { "capital": "1" } }),
            "strategies",
        ),
        (
            "backtests.create",
            {
                let mut s = spec(&id, 5, 20);
                s["strategies"][0]["datasets"] = json!([999]);
                s
            },
            "strategies[0].datasets",
        ),
        (
            "backtests.create",
            spec(&id, 30, 20),
            "strategies[0].spec.params.fast",
        ),
        (
            "backtests.create",
            {
                let mut s = spec(&id, 5, 20);
                s["settings"]["capital"] = json!("0");
                s
            },
            "settings.capital",
        ),
        (
            "backtests.create",
            {
                let mut s = spec(&id, 5, 20);
                s["settings"]["leverage"] = json!("1000");
                s
            },
            "settings.leverage",
        ),
        (
            "backtests.sweep",
            json!({ "backtest": spec(&id, 5, 20), "grid": [{ "param": "fast", "values": [3] }], "rank_by": "luck" }),
            "rank_by",
        ),
        (
            "backtests.sweep",
            json!({ "backtest": spec(&id, 5, 20), "grid": [] }),
            "grid",
        ),
        (
            "backtests.equity",
            json!({ "id": 1, "downsample": 1 }),
            "downsample",
        ),
        ("backtests.compare", json!({ "ids": [1] }), "ids"),
    ] {
        let (_, msg) = call_err(&mut c, method, params.clone());
        assert!(
            msg.contains(&format!("`{field}`")),
            "{method} {params}: {msg}"
        );
    }
    assert_eq!(
        call(&mut c, "backtests.list", json!({}))["items"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "no bad backtest was created"
    );
    let (_, msg) = call_err(&mut c, "backtests.results", json!({ "id": 42 }));
    assert!(msg.contains("42"), "{msg}");
}

#[test]
fn a_running_backtest_can_be_cancelled() {
    let d = TestDaemon::start();
    let mut c = d.client();
    let dir = tempfile::tempdir().expect("dir");
    // Minute bars, enough for the run to take a while in a debug build.
    let mut text = String::from("timestamp,open,high,low,close,volume\n");
    for i in 0..400_000_i64 {
        let p = 100.0 + 10.0 * ((i as f64) / 500.0).sin();
        let _ = writeln!(
            text,
            "{},{p:.2},{:.2},{:.2},{p:.2},1",
            1_600_000_000_000 + i * 60_000,
            p + 0.1,
            p - 0.1
        );
    }
    let path = dir.path().join("long.csv");
    std::fs::write(&path, text).expect("write");
    let ok = import(&mut c, json!({ "path": path, "symbol": "LONGUSD" }));
    assert_eq!(ok["state"], "succeeded", "{ok}");
    let mut s = spec(&ok["result"]["dataset"], 5, 20);
    s["strategies"][0]["spec"]["interval"] = json!("1m");
    // A sweep of ~1,700 runs over 400,000 bars: minutes of work, so the
    // cancel lands while it runs however fast the engine is (a single run
    // can finish before the cancel arrives, which is then rightly refused).
    let fast: Vec<u32> = (2..30).collect();
    let slow: Vec<u32> = (31..91).collect();
    let b = call(
        &mut c,
        "backtests.sweep",
        json!({ "backtest": s, "grid": [{ "param": "fast", "values": fast }, { "param": "slow", "values": slow }] }),
    );
    for _ in 0..400 {
        let j = call(&mut c, "jobs.get", json!({ "id": b["job_id"] }));
        if j["state"] == "running" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let cancelled = call(&mut c, "backtests.cancel", json!({ "id": b["id"] }));
    assert_eq!(cancelled["state"], "running", "{cancelled}");
    let b = wait_backtest(&mut c, &b);
    assert_eq!(b["state"], "cancelled", "{b}");
    assert!(b["summary"].is_null(), "no results from a cancelled run");
    let (_, msg) = call_err(&mut c, "backtests.cancel", json!({ "id": b["id"] }));
    assert!(msg.contains("cancelled"), "{msg}");
}

#[test]
fn the_goog_reference_reproduces_through_the_daemon() {
    let goog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/GOOG.csv");
    if !goog.exists() {
        eprintln!("skipped: ../shared/data is absent");
        return;
    }
    let d = TestDaemon::start();
    let mut c = d.client();
    let job = import(
        &mut c,
        json!({ "path": goog, "symbol": "GOOG", "quote": "USD" }),
    );
    assert_eq!(job["state"], "succeeded", "{job}");
    let b = call(
        &mut c,
        "backtests.create",
        json!({
            "name": "reference",
            "strategies": [{
                "spec": {
                    "strategy": "sma_cross",
                    "params": { "fast": 10, "slow": 20 },
                    "sizing": { "mode": "percent", "value": "100", "whole_units": true },
                    "interval": "1d"
                },
                "datasets": [job["result"]["dataset"]]
            }],
            "settings": { "capital": "10000", "commission_pct": "0.2", "fill": "next_open" }
        }),
    );
    let b = wait_backtest(&mut c, &b);
    assert_eq!(b["state"], "succeeded", "{b}");
    assert_eq!(b["summary"]["trades"], 46);
    assert_eq!(b["summary"]["final_equity"], "63341.19136");
    let m = call(&mut c, "backtests.results", json!({ "id": b["id"] }));
    assert!(
        (m["sharpe_reference"].as_f64().expect("sharpe") - 0.863_097_952_946_099).abs() < 1e-9,
        "{m}"
    );
    // The default Sharpe is the textbook one the reference README quotes.
    assert!(
        (m["sharpe"].as_f64().expect("sharpe") - 1.0814).abs() < 5e-5,
        "{m}"
    );
    assert_eq!(b["summary"]["sharpe"], m["sharpe"]);
}

#[test]
fn the_sim_markets_recorded_klines_become_a_dataset() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    d.minutes(30);
    let mut c = d.client();
    let job = import(
        &mut c,
        json!({ "format": "klines", "symbol": "BTCUSDT", "interval": "5m", "name": "sim-btc" }),
    );
    assert_eq!(job["state"], "succeeded", "{job}");
    let ds = call(
        &mut c,
        "data.get",
        json!({ "id": job["result"]["dataset"] }),
    );
    assert_eq!(ds["source"], "klines:BTCUSDT");
    assert_eq!(
        (ds["base"].as_str(), ds["quote"].as_str()),
        (Some("BTC"), Some("USDT"))
    );
    // 30 one-minute bars (the clock starts on a whole hour) cut into
    // 5-minute ones.
    assert_eq!(ds["rows"], 6, "{ds}");
    assert_eq!(ds["interval"], "5m");
    let (_, msg) = call_err(
        &mut c,
        "data.import",
        json!({ "format": "klines", "symbol": "BTCUSDT", "start": "2030-01-01T00:00:00Z", "end": "2020-01-01T00:00:00Z" }),
    );
    assert!(msg.contains("`end`"), "{msg}");
}

#[test]
fn a_run_without_a_commission_takes_the_configured_default_and_records_it() {
    let d = TestDaemon::start_with(|c| {
        c.backtest.commission_pct = "0.25".parse().expect("pct");
    });
    let mut c = d.client();
    let dir = tempfile::tempdir().expect("dir");
    let path = sine_csv(dir.path(), "sine.csv", 200);
    let job = import(&mut c, json!({ "path": path, "symbol": "SINEUSD" }));
    let id = job["result"]["dataset"].clone();
    let mut s = spec(&id, 5, 20);
    s["settings"]
        .as_object_mut()
        .expect("settings")
        .remove("commission_pct");
    let b = call(&mut c, "backtests.create", s.clone());
    let b = wait_backtest(&mut c, &b);
    assert_eq!(b["state"], "succeeded", "{b}");
    // The stored spec says what ran.
    assert_eq!(b["spec"]["settings"]["commission_pct"], "0.25", "{b}");
    let m = call(&mut c, "backtests.results", json!({ "id": b["id"] }));
    assert!(m["total_fees"].as_f64().expect("fees") > 0.0, "{m}");
    // An explicit zero stays zero.
    s["settings"]["commission_pct"] = json!("0");
    let b = call(&mut c, "backtests.create", s.clone());
    let b = wait_backtest(&mut c, &b);
    assert_eq!(b["spec"]["settings"]["commission_pct"], "0", "{b}");
    let m = call(&mut c, "backtests.results", json!({ "id": b["id"] }));
    assert_eq!(m["total_fees"], 0.0, "{m}");
    // A sweep takes the same default.
    let sweep = call(
        &mut c,
        "backtests.sweep",
        json!({
            "backtest": { "strategies": s["strategies"], "settings": { "capital": "10000" } },
            "grid": [{ "param": "fast", "values": [3, 5] }],
        }),
    );
    assert_eq!(
        sweep["spec"]["backtest"]["settings"]["commission_pct"], "0.25",
        "{sweep}"
    );
}

#[test]
fn intraday_runs_show_a_sharpe_and_a_volatility_that_mean_something() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ETHBTC-5m.binance.csv");
    if !path.exists() {
        eprintln!("skipped: ../shared/data is absent");
        return;
    }
    let d = TestDaemon::start();
    let mut c = d.client();
    let job = import(
        &mut c,
        json!({ "path": path, "symbol": "ETHBTC", "format": "binance" }),
    );
    assert_eq!(job["state"], "succeeded", "{job}");
    let b = call(
        &mut c,
        "backtests.create",
        json!({
            "strategies": [{
                "spec": {
                    "strategy": "ema_cross",
                    "params": { "fast": 9, "slow": 21 },
                    "sizing": { "mode": "percent", "value": "100" },
                    "interval": "5m"
                },
                "datasets": [job["result"]["dataset"]]
            }],
            "settings": { "capital": "1" }
        }),
    );
    let b = wait_backtest(&mut c, &b);
    assert_eq!(b["state"], "succeeded", "{b}");
    let m = call(&mut c, "backtests.results", json!({ "id": b["id"] }));
    // 5-minute bars around the clock: 365 × 288 a year.
    assert_eq!(m["bars_per_year"], 105_120.0, "{m}");
    let sharpe = m["sharpe"].as_f64().expect("sharpe");
    let vol = m["volatility_ann_pct"].as_f64().expect("volatility");
    // Before: Sharpe −1,277,251 and volatility 0.00 on such a run. A
    // textbook Sharpe of a real strategy is a small number; the volatility
    // of a moving equity curve is not zero.
    assert!(sharpe.abs() < 50.0, "sharpe {sharpe}");
    assert!(vol > 1.0, "volatility {vol}");
    assert_eq!(
        b["summary"]["sharpe"], m["sharpe"],
        "the list shows the default"
    );
    assert!(m["sharpe_reference"].is_f64() || m["sharpe_reference"].is_null());
    eprintln!(
        "ETHBTC 5m ema_cross: sharpe {sharpe:.3} (reference {}), volatility {vol:.2} % (reference {})",
        m["sharpe_reference"], m["volatility_ann_reference_pct"]
    );
}

#[test]
fn a_fresh_market_has_a_seeded_past_that_a_restart_keeps() {
    let d = TestDaemon::start_with(|c| c.sim.history_minutes = 600);
    let mut c = d.client();
    let k = call(
        &mut c,
        "market.klines",
        json!({ "symbol": "SOLUSDT", "interval": "1m", "limit": 1000 }),
    );
    let bars = k["bars"].as_array().expect("bars");
    // 600 seeded minutes (and the forming one).
    assert!((600..=602).contains(&bars.len()), "{} {k}", bars.len());
    // The recorded klines import at once, with no running time.
    let job = import(
        &mut c,
        json!({ "format": "klines", "symbol": "SOLUSDT", "interval": "5m", "name": "sol" }),
    );
    assert_eq!(job["state"], "succeeded", "{job}");
    let first = bars[0].clone();
    let dir = d.stop();
    let d = TestDaemon::start_in(dir, |c| c.sim.history_minutes = 600);
    let mut c = d.client();
    let k = call(
        &mut c,
        "market.klines",
        json!({ "symbol": "SOLUSDT", "interval": "1m", "limit": 1000 }),
    );
    let again = k["bars"].as_array().expect("bars");
    assert_eq!(again[0], first, "not seeded twice: the same past");
}

#[test]
fn a_backtest_report_gives_each_trades_exit_reason_per_symbol_and_per_period() {
    let d = TestDaemon::start();
    let mut c = d.client();
    let dir = tempfile::tempdir().expect("dir");
    let path = sine_csv(dir.path(), "sine.csv", 400);
    let job = import(&mut c, json!({ "path": path, "symbol": "SINEUSD" }));
    let id = job["result"]["dataset"].clone();
    let mut with_exits = spec(&id, 5, 20);
    with_exits["strategies"][0]["spec"]["exits"] =
        json!({ "stop_loss_pct": "2", "take_profit_pct": "6" });
    let runs = [spec(&id, 5, 20), with_exits];
    let mut reports = Vec::new();
    for s in runs {
        let created = call(&mut c, "backtests.create", s);
        let b = wait_backtest(&mut c, &created);
        assert_eq!(b["state"], "succeeded", "{b}");
        let trades = call(
            &mut c,
            "backtests.trades",
            json!({ "id": b["id"], "limit": 1000 }),
        );
        let items = trades["items"].as_array().cloned().unwrap_or_default();
        assert!(
            items.iter().all(|t| t["exit_reason"].is_string()),
            "every trade says why it ended"
        );
        let r = call(&mut c, "backtests.report", json!({ "id": b["id"] }));
        let count = |groups: &Value| -> u64 {
            groups.as_array().map_or(0, |g| {
                g.iter().map(|x| x["trades"].as_u64().unwrap_or(0)).sum()
            })
        };
        assert_eq!(count(&r["by_symbol"]), items.len() as u64, "{r}");
        assert_eq!(count(&r["by_exit_reason"]), items.len() as u64, "{r}");
        assert_eq!(r["by_symbol"][0]["key"], "SINEUSD");
        // 400 days from 2020-01-01: 14 calendar months, 400 days.
        assert_eq!(
            r["monthly"].as_array().map(Vec::len),
            Some(14),
            "{}",
            r["monthly"]
        );
        assert_eq!(r["daily"].as_array().map(Vec::len), Some(400));
        reports.push(r);
    }
    let keys = |r: &Value| -> Vec<String> {
        r["by_exit_reason"]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(|x| x["key"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        keys(&reports[0]),
        ["signal"],
        "a plain cross exits on its signal"
    );
    let protected = keys(&reports[1]);
    assert!(
        protected
            .iter()
            .any(|k| k == "stop_loss" || k == "take_profit"),
        "stops and targets fire on a swinging market: {protected:?}"
    );
}

#[test]
fn shorts_run_on_a_margin_backtest_and_a_spot_account_refuses_them() {
    let d = TestDaemon::start();
    let mut c = d.client();
    let dir = tempfile::tempdir().expect("dir");
    let ds = import(
        &mut c,
        json!({ "path": sine_csv(dir.path(), "sine.csv", 400), "symbol": "SINE" }),
    )["result"]["dataset"]
        .clone();
    let mut long_short = spec(&ds, 5, 20);
    long_short["strategies"][0]["spec"]["params"]["allow_short"] = json!(true);

    // Spot (no margin): refused, naming the option, and nothing is queued.
    let (_, message, data) =
        super::support::call_failing(&mut c, "backtests.create", long_short.clone());
    assert_eq!(
        data["field"], "strategies[0].spec.params.allow_short",
        "{message}"
    );
    assert!(message.contains("margin account"), "{message}");
    let listed = call(&mut c, "backtests.list", json!({}));
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );

    // A maintenance level above the initial margin is named too.
    long_short["settings"]["margin"] = json!({ "maintenance_pct": "100" });
    let (_, message, data) =
        super::support::call_failing(&mut c, "backtests.create", long_short.clone());
    assert_eq!(
        data["field"], "settings.margin.maintenance_pct",
        "{message}"
    );

    long_short["settings"]["margin"] = json!({ "borrow_pct": "0.001" });
    let b = call(&mut c, "backtests.create", long_short);
    let b = wait_backtest(&mut c, &b);
    assert_eq!(b["state"], "succeeded", "{b}");
    let trades = call(
        &mut c,
        "backtests.trades",
        json!({ "id": b["id"], "limit": 1000 }),
    )["items"]
        .clone();
    let trades = trades.as_array().expect("trades");
    assert!(trades.len() > 4, "{trades:?}");
    for pair in trades.windows(2) {
        assert_ne!(pair[0]["direction"], pair[1]["direction"], "{pair:?}");
        assert_eq!(pair[0]["exit_step"], pair[1]["entry_step"], "no flat gap");
    }
    let r = call(&mut c, "backtests.report", json!({ "id": b["id"] }));
    let dirs: Vec<&str> = r["by_direction"]
        .as_array()
        .expect("by_direction")
        .iter()
        .filter_map(|g| g["key"].as_str())
        .collect();
    assert_eq!(dirs, ["long", "short"], "{r}");

    // The daemon's accounts are spot: a bot that would short is refused.
    let (_, message, data) = super::support::call_failing(
        &mut c,
        "bots.create",
        json!({
            "name": "shorty",
            "spec": {
                "strategy": "sma_cross",
                "params": { "fast": 5, "slow": 20, "allow_short": true },
                "interval": "1m"
            },
            "symbols": ["BTCUSDT"],
            "allocation": { "USDT": "500" }
        }),
    );
    assert_eq!(data["field"], "spec.params.allow_short", "{message}");
    assert!(message.contains("spot account"), "{message}");
    let bots = call(&mut c, "bots.list", json!({}));
    assert_eq!(bots["items"].as_array().map(Vec::len), Some(0), "{bots}");
}
