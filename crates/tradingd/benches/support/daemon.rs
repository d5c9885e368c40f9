//! The real `tradingd` binary as a child process, for benches that measure
//! it from outside (start-up, RSS, CPU).
#![allow(dead_code)] // each bench uses part of it

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tradedesk_core::api::Empty;
use tradedesk_core::api::system::SystemHealth;
use tradedesk_core::client::Client;

pub struct Daemon {
    pub child: Child,
    pub socket: PathBuf,
}

impl Daemon {
    /// Starts the daemon on a private data dir and socket under `dir`, with
    /// extra environment (config keys), and waits until it answers; returns
    /// it with the time it took to be ready.
    pub fn spawn(dir: &Path, env: &[(&str, &str)]) -> (Daemon, Duration) {
        let socket = dir.join("bench.sock");
        let start = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_tradingd"))
            .args(["--data-dir", &dir.join("data").display().to_string()])
            .args(["--socket", &socket.display().to_string()])
            .args(["--log-level", "warn", "--no-log-stderr"])
            .env("XDG_STATE_HOME", dir.join("state"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .envs(env.iter().copied())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tradingd");
        loop {
            if let Ok(mut c) = Client::connect(&socket)
                && c.call::<SystemHealth>(&Empty {}).is_ok()
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "daemon did not start"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        let ready = start.elapsed();
        (Daemon { child, socket }, ready)
    }

    fn proc_file(&self, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{name}", self.child.id())).unwrap_or_default()
    }

    pub fn rss_kib(&self) -> u64 {
        self.proc_file("status")
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// User + system CPU seconds so far (clock ticks of 1/100 s).
    pub fn cpu_seconds(&self) -> f64 {
        let stat = self.proc_file("stat");
        // The fields after the command name, which ends with ')': utime
        // and stime are fields 14 and 15 of stat, 12 and 13 here.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (ticks(11) + ticks(12)) / 100.0
    }

    /// CPU use as a share of one core over `wall`.
    pub fn cpu_over(&self, wall: Duration) -> f64 {
        let (c0, t0) = (self.cpu_seconds(), Instant::now());
        std::thread::sleep(wall);
        (self.cpu_seconds() - c0) / t0.elapsed().as_secs_f64()
    }

    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
