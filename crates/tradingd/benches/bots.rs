//! `cargo bench -p tradingd --bench bots`: 100 concurrent bots on `sim`,
//! against the real daemon binary, with the market ticking once a second.
//!
//! Each bot runs `dca` on BTCUSDT, ETHUSDT or SOLUSDT: a market buy on
//! every closed 1-minute bar and a take-profit moved after each buy, so
//! every minute brings ~300 order operations on top of the per-tick work
//! (every bot sees every tick). Reports the daemon's CPU use (user +
//! system time over wall time, from /proc) and RSS, without bots and with
//! them. Target (issue 4): under 10 % of one core and 100 MB RSS.

use std::time::Duration;

use serde_json::json;
use tradedesk_core::client::Client;

#[path = "support/daemon.rs"]
mod daemon;

use daemon::Daemon;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let window = Duration::from_secs(if quick { 3 } else { 150 });
    let dir = tempfile::tempdir().expect("tempdir");
    let (d, _) = Daemon::spawn(dir.path(), &[("TRADEDESK_SIM__TICK_MS", "1000")]);
    std::thread::sleep(Duration::from_secs(1));
    let idle = d.cpu_over(Duration::from_secs(if quick { 2 } else { 20 }));
    let idle_rss = d.rss_kib() as f64 / 1024.0;

    let mut c = Client::connect(&d.socket).expect("connect");
    let symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
    for i in 0..100 {
        c.call_raw(
            "bots.create",
            &json!({
                "name": format!("bench-{i}"),
                "spec": {
                    "strategy": "dca",
                    "params": { "every_bars": 1 },
                    "sizing": { "mode": "quote", "value": "10" },
                    "exits": { "take_profit_pct": "5" }
                },
                "symbols": [symbols[i % 3]],
                "allocation": { "USDT": "50" },
                "start": true
            }),
        )
        .expect("bot created");
    }
    let busy = d.cpu_over(window);
    let rss = d.rss_kib() as f64 / 1024.0;
    let orders = c
        .call_raw("orders.list", &json!({ "limit": 1000 }))
        .expect("orders")["items"]
        .as_array()
        .map_or(0, Vec::len);
    let running = c
        .call_raw("bots.list", &json!({ "status": "running", "limit": 1000 }))
        .expect("bots")["items"]
        .as_array()
        .map_or(0, Vec::len);
    println!(
        "daemon without bots: {:.2} % of a core, RSS {idle_rss:.1} MiB",
        idle * 100.0
    );
    println!(
        "daemon with 100 bots, 1 tick/s, over {:.0} s: {:.2} % of a core, RSS {rss:.1} MiB \
         ({running} running, {orders}{} orders placed)",
        window.as_secs_f64(),
        busy * 100.0,
        if orders == 1000 { "+" } else { "" }
    );
    assert_eq!(running, 100, "every bot still running");
    d.stop();
}
