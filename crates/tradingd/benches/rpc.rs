//! `cargo bench -p tradingd --bench rpc`: the socket transport's speed,
//! measured against the real daemon binary.
//!
//! Reports start-to-ready time, idle RSS, `system.health` round-trip
//! latency for one client (p50, p99, max) and throughput with 32 concurrent
//! clients. Targets (issue 2, on 2 cores): p50 ≤ 50 µs, p99 ≤ 250 µs,
//! ≥ 50,000 req/s with 32 clients, idle RSS ≤ 20 MB, ready ≤ 100 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tradedesk_core::api::Empty;
use tradedesk_core::api::system::SystemHealth;
use tradedesk_core::client::Client;

#[path = "support/daemon.rs"]
mod daemon;

use daemon::Daemon;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // and must stay quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().expect("tempdir");

    let mut readies = Vec::new();
    for _ in 0..if quick { 1 } else { 10 } {
        let (d, ready) = Daemon::spawn(dir.path(), &[]);
        readies.push(ready);
        d.stop();
    }
    readies.sort();
    let (daemon, _) = Daemon::spawn(dir.path(), &[]);
    std::thread::sleep(Duration::from_secs(if quick { 0 } else { 2 }));
    let rss = daemon.rss_kib();

    let mut client = Client::connect(&daemon.socket).expect("connect");
    let n = if quick { 1_000 } else { 100_000 };
    for _ in 0..n / 10 {
        client.call::<SystemHealth>(&Empty {}).expect("warm-up");
    }
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        client.call::<SystemHealth>(&Empty {}).expect("call");
        lat.push(t.elapsed());
    }
    lat.sort();

    let clients = 32;
    let run_for = Duration::from_secs(if quick { 1 } else { 5 });
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (socket, stop, total) =
                (daemon.socket.clone(), Arc::clone(&stop), Arc::clone(&total));
            std::thread::spawn(move || {
                let mut c = Client::connect(&socket).expect("connect");
                let mut done = 0;
                while !stop.load(Ordering::Relaxed) {
                    c.call::<SystemHealth>(&Empty {}).expect("call");
                    done += 1;
                }
                total.fetch_add(done, Ordering::Relaxed);
            })
        })
        .collect();
    let t = Instant::now();
    std::thread::sleep(run_for);
    stop.store(true, Ordering::Relaxed);
    for th in threads {
        th.join().expect("client thread");
    }
    let rate = total.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64();
    let rss_after = daemon.rss_kib();
    daemon.stop();

    println!(
        "tradingd socket transport ({} mode)",
        if quick { "quick" } else { "bench" }
    );
    println!(
        "  start to ready      median {:>9}  max {:>9}   (target ≤ 100 ms)",
        ms(percentile(&readies, 0.5)),
        ms(*readies.last().expect("runs"))
    );
    println!(
        "  idle RSS            {:>9.1} MiB                (target ≤ 20 MB)",
        rss as f64 / 1024.0
    );
    println!("  system.health 1 client, {n} calls:");
    println!(
        "    p50 {:>9}   p99 {:>9}   max {:>9}   (targets p50 ≤ 50 µs, p99 ≤ 250 µs)",
        us(percentile(&lat, 0.5)),
        us(percentile(&lat, 0.99)),
        us(*lat.last().expect("calls"))
    );
    println!(
        "  system.health {clients} clients, {} s: {rate:>10.0} req/s          (target ≥ 50,000)",
        run_for.as_secs()
    );
    println!(
        "  RSS after load      {:>9.1} MiB",
        rss_after as f64 / 1024.0
    );
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}
