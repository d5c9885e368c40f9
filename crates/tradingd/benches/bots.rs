//! `cargo bench -p tradingd --bench bots`: 100 concurrent bots on `sim`,
//! against the real daemon binary, with the market ticking once a second.
//!
//! Each bot runs `dca` on BTCUSDT, ETHUSDT or SOLUSDT: a market buy on
//! every closed 1-minute bar and a take-profit moved after each buy, so
//! every minute brings ~300 order operations on top of the per-tick work
//! (every bot sees every tick). Reports the daemon's CPU use (user +
//! system time over wall time, from /proc) and RSS, without bots and with
//! them. Target (issue 4): under 10 % of one core and 100 MB RSS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tradedesk_core::api::Empty;
use tradedesk_core::api::system::SystemHealth;
use tradedesk_core::client::Client;

struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    fn spawn(dir: &Path) -> Daemon {
        let socket = dir.join("bench.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_tradingd"))
            .args(["--data-dir", &dir.join("data").display().to_string()])
            .args(["--socket", &socket.display().to_string()])
            .args(["--log-level", "warn", "--no-log-stderr"])
            .env("XDG_STATE_HOME", dir.join("state"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("TRADEDESK_SIM__TICK_MS", "1000")
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tradingd");
        let start = Instant::now();
        while !Client::connect(&socket).is_ok_and(|mut c| c.call::<SystemHealth>(&Empty {}).is_ok())
        {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        Daemon { child, socket }
    }

    fn proc_file(&self, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{name}", self.child.id())).unwrap_or_default()
    }

    fn rss_mib(&self) -> f64 {
        self.proc_file("status")
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    }

    /// User + system CPU seconds so far.
    fn cpu_seconds(&self) -> f64 {
        let stat = self.proc_file("stat");
        // Fields after the command name (which ends with ')').
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of stat; 12 and 13 here.
        (ticks(11) + ticks(12)) / 100.0
    }

    /// CPU use as a share of one core over `wall`.
    fn cpu_over(&self, wall: Duration) -> f64 {
        let (c0, t0) = (self.cpu_seconds(), Instant::now());
        std::thread::sleep(wall);
        (self.cpu_seconds() - c0) / t0.elapsed().as_secs_f64()
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let window = Duration::from_secs(if quick { 3 } else { 150 });
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::spawn(dir.path());
    std::thread::sleep(Duration::from_secs(1));
    let idle = d.cpu_over(Duration::from_secs(if quick { 2 } else { 20 }));
    let idle_rss = d.rss_mib();

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
    let rss = d.rss_mib();
    let orders = c
        .call_raw("orders.list", &json!({ "limit": 1000 }))
        .expect("orders")["orders"]
        .as_array()
        .map_or(0, Vec::len);
    let running = c
        .call_raw("bots.list", &json!({ "status": "running", "limit": 1000 }))
        .expect("bots")["bots"]
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
