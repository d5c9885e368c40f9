//! `cargo bench -p tradedesk-tui --bench render` (after `cargo build
//! --release --bin tradingd`):
//!
//! 1. render time per frame of the Desk and Market screens at 200×60 with
//!    1,000 orders and 10,000 candles loaded (target ≤ 2 ms);
//! 2. idle CPU of the real dashboard on live data from a real daemon,
//!    over 10 s (target ≤ 2 % of a core);
//! 3. time from launch to the first full frame with a running daemon
//!    (target ≤ 150 ms).
//!
//! 2 and 3 drive the binary in tmux and are skipped (with a message)
//! without it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use tradedesk_tui::app::{App, Msg};
use tradedesk_tui::state::Data;
use tradedesk_tui::view::Screen;

use tradedesk_tests::live::Live;

fn ts(ms: i64) -> String {
    tradedesk_core::time::Timestamp(ms)
        .to_datetime()
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn de<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("bench data has the wire shape")
}

fn loaded() -> App {
    let mut a = App::new("/tmp/bench.sock".into(), chrono::Utc::now());
    a.update(Msg::Connected(Box::new(de(json!({
        "version": "0.1.0", "pid": 1, "started_at": ts(0), "uptime_ms": 1000, "data_dir": "/d",
        "socket": "/s", "db_path": "/d/db", "db_size_bytes": 1, "run_number": 1,
        "previous_shutdown": "clean", "connections": 1
    })))));
    let t0 = 1_790_000_000_000_i64 - 1_790_000_000_000 % 60_000;
    a.update(Msg::Data(Data::Symbols(de(json!([
        {"symbol": "BTCUSDT", "base": "BTC", "quote": "USDT", "tick_size": "0.01", "lot_size": "0.00001", "min_qty": "0.00001", "min_notional": "5"},
        {"symbol": "ETHUSDT", "base": "ETH", "quote": "USDT", "tick_size": "0.01", "lot_size": "0.0001", "min_qty": "0.0001", "min_notional": "5"}
    ])))));
    let bars: Vec<serde_json::Value> = (0..10_000)
        .map(|i| {
            let x = 65_000.0 + (f64::from(i) * 0.05).sin() * 300.0;
            json!({"open_time": ts(t0 + i64::from(i) * 60_000), "open": format!("{:.2}", x - 3.0),
                   "high": format!("{:.2}", x + 9.0), "low": format!("{:.2}", x - 9.0),
                   "close": format!("{:.2}", x + 2.0), "volume": "1.5", "trades": 7})
        })
        .collect();
    a.update(Msg::Data(Data::Klines {
        symbol: "BTCUSDT".into(),
        interval: tradedesk_core::market::Interval::M1,
        bars: de(json!(bars)),
    }));
    let orders: Vec<serde_json::Value> = (1..=1000)
        .map(|id| {
            json!({"id": id, "account": "paper", "client_order_id": format!("c{id}"), "symbol": "BTCUSDT",
                   "side": if id % 2 == 0 { "buy" } else { "sell" }, "type": "limit", "qty": "0.01",
                   "price": format!("{}", 60_000 + id), "stop_price": null, "trail": null, "time_in_force": "gtc",
                   "status": if id % 3 == 0 { "filled" } else { "accepted" }, "filled": "0", "filled_notional": "0",
                   "avg_price": null, "fees": "0", "reserved": "0", "reserved_asset": "USDT", "triggered": false,
                   "parent_id": null, "oco_id": null, "reason": null, "owner": "admin", "bot_id": null,
                   "created": ts(t0), "updated": ts(t0)})
        })
        .collect();
    a.update(Msg::Data(Data::Orders(de(json!(orders)))));
    a.update(Msg::Data(Data::Tickers(de(json!([
        {"symbol": "BTCUSDT", "time": ts(t0), "last": "65012.5", "bid": "65011.25", "ask": "65013.75", "open_24h": "64100", "high_24h": "65300", "low_24h": "63900.5", "volume_24h": "812.5"},
        {"symbol": "ETHUSDT", "time": ts(t0), "last": "3198.54", "bid": "3198.5", "ask": "3198.6", "open_24h": "3250", "high_24h": "3260", "low_24h": "3180", "volume_24h": "9012"}
    ])))));
    a.update(Msg::Data(Data::Balances(de(json!([
        {"asset": "BTC", "free": "0.5", "locked": "0", "total": "0.5"},
        {"asset": "USDT", "free": "8848.8665165", "locked": "500.5", "total": "9349.3665165"}
    ])))));
    a.view.overlays.sma = true;
    a.view.overlays.bollinger = true;
    a
}

fn frame_times(app: &mut App, screen: Screen) -> (f64, f64) {
    app.view.screen = screen;
    let mut t = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    let mut times = Vec::new();
    for i in 0..300 {
        // A changing clock, so every frame differs a little.
        app.update(Msg::Tick(chrono::Utc::now()));
        let start = Instant::now();
        t.draw(|f| app.render(f)).expect("draw");
        if i >= 20 {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn live(tradingd: &Path, desk: &str) {
    let live = Live::start(tradingd, "bench");
    let socket = live.socket();
    // Some history for the desk to show.
    std::thread::sleep(Duration::from_secs(2));
    let cmd = format!(
        "env TERM=xterm-256color {desk} --socket {}",
        socket.display()
    );
    let start = Instant::now();
    live.tmux(&[
        "new-session",
        "-d",
        "-s",
        "desk",
        "-x",
        "200",
        "-y",
        "60",
        &cmd,
    ]);
    // The first full frame: connected, with the account's equity drawn.
    let first = loop {
        let s = live.tmux(&["capture-pane", "-p", "-t", "desk"]);
        if s.contains("● connected") && s.contains(" USDT") && s.contains("Trading ") {
            break start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no full frame:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    let pid = live.tmux(&["list-panes", "-t", "desk", "-F", "#{pane_pid}"]);
    let pid = pid.trim().to_owned();
    // Market screen: the busiest (candles, book, tape all live).
    live.tmux(&["send-keys", "-t", "desk", "2"]);
    std::thread::sleep(Duration::from_secs(1));
    let hz = 100.0; // USER_HZ on Linux
    let (c0, t0) = (cpu_ticks(&pid).unwrap_or(0), Instant::now());
    std::thread::sleep(Duration::from_secs(10));
    let (c1, dt) = (cpu_ticks(&pid).unwrap_or(0), t0.elapsed());
    let cpu = (c1 - c0) as f64 / hz / dt.as_secs_f64() * 100.0;
    // Normal use: browse symbols and intervals, look at other screens.
    let keys = [
        "j", "l", "k", "h", "1", "2", "j", "j", "k", "l", "h", "3", "2", "k",
    ];
    for k in keys {
        live.tmux(&["send-keys", "-t", "desk", k]);
        std::thread::sleep(Duration::from_millis(700));
    }
    let mut c = tradedesk_core::client::Client::connect(&socket).expect("client");
    let stats = c
        .call::<tradedesk_core::api::cache::CacheStats>(&tradedesk_core::api::Empty {})
        .expect("cache.stats");
    let (mut hits, mut misses) = (0, 0);
    for n in stats
        .namespaces
        .iter()
        .filter(|n| n.namespace.as_str().starts_with("market."))
    {
        hits += n.stats.hits;
        misses += n.stats.misses;
        println!(
            "  {}: {} hits, {} misses",
            n.namespace, n.stats.hits, n.stats.misses
        );
    }
    println!(
        "market read paths' cache hit rate during normal dashboard use ({} key presses over {:.0} s): {:.1}% ({hits} hits, {misses} misses)",
        keys.len(),
        keys.len() as f64 * 0.7,
        hits as f64 / (hits + misses).max(1) as f64 * 100.0
    );
    println!(
        "launch to first full frame (daemon running, via tmux polling every 1 ms): {:.0} ms  (target ≤ 150 ms)",
        first.as_secs_f64() * 1e3
    );
    println!(
        "idle CPU of the dashboard on the live Market screen over {:.0} s: {cpu:.2} % of a core  (target ≤ 2 %)",
        dt.as_secs_f64()
    );
    drop(live);
}

fn main() {
    let mut app = loaded();
    for s in [Screen::Desk, Screen::Market, Screen::Orders] {
        let (p50, p99) = frame_times(&mut app, s);
        println!(
            "render {s:?} at 200x60 (1,000 orders, 10,000 candles): p50 {p50:.3} ms, p99 {p99:.3} ms  (target ≤ 2 ms)"
        );
    }
    let tradingd: PathBuf = Path::new(env!("CARGO_BIN_EXE_tradedesk")).with_file_name("tradingd");
    let tmux = tradedesk_tests::live::tmux_available();
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !tmux || !tradingd.is_file() {
        println!(
            "skipping the live figures: needs tmux and {} (cargo build --release --bin tradingd)",
            tradingd.display()
        );
        return;
    }
    live(&tradingd, env!("CARGO_BIN_EXE_tradedesk"));
}
