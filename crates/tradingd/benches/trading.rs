//! `cargo bench -p tradingd --bench trading`: the order path and market
//! data fan-out, against a real daemon.
//!
//! 1. Placement round trip over the socket: a market order on `sim`, filled,
//!    booked and durable (written with synchronous=FULL) before the answer.
//!    Target p99 ≤ 1 ms.
//! 2. Fan-out: 10,000 ticker events/s published to 50 socket subscribers
//!    that keep up (target: no loss), plus one that reads slowly and is
//!    told what it missed (`streams.lagged`) instead of slowing the rest.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tradedesk_core::api::market::TickersTopic;
use tradedesk_core::client::{Client, StreamMessage};
use tradedesk_core::market::Ticker;
use tradedesk_core::time::Timestamp;
use tradingd::Daemon;
use tradingd::config::Config;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

#[allow(clippy::too_many_lines)] // a script: set up, measure, report, in order
fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::for_dir(dir.path());
    // The market moves only when the bench says so; the placements measure
    // the order path alone.
    config.sim.spec.tick_ms = 60_000;
    config.sim.initial_balances = vec![("USDT".into(), "100000000".parse().expect("amount"))];
    config.streams.buffer = 4096;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let daemon = rt.block_on(Daemon::start(config)).expect("daemon");
    let ctx = Arc::clone(daemon.ctx());
    let socket = daemon.socket_path().to_path_buf();
    let token = daemon.shutdown_token();
    let done = rt.spawn(daemon.run());

    // 1. Placement round trips.
    let mut c = Client::connect(&socket).expect("connect");
    let n = if quick { 200 } else { 5_000 };
    let mut lat = Vec::with_capacity(n);
    // The warm-up also grows the write-ahead log to its working size, as a
    // daemon that has run for a while has: appending to a growing file
    // costs more per sync than rewriting one in place.
    let warm = if quick { 20 } else { 8_000 };
    for i in 0..n + warm {
        let side = if i % 2 == 0 { "buy" } else { "sell" };
        let params =
            json!({ "symbol": "BTCUSDT", "side": side, "type": "market", "qty": "0.0001" });
        let t = Instant::now();
        let o = c.call_raw("orders.place", &params).expect("placed");
        let took = t.elapsed();
        assert_eq!(o["status"], "filled");
        if i >= warm {
            lat.push(took);
        }
    }
    lat.sort();
    println!("order placement, market order on sim, filled + booked + durable, {n} round trips:");
    println!(
        "  p50 {}  p99 {}  max {}   (target p99 ≤ 1 ms)",
        us(pct(&lat, 0.5)),
        us(pct(&lat, 0.99)),
        us(*lat.last().expect("some"))
    );

    // 2. Fan-out.
    let subscribers = 50;
    let rate = 10_000u64;
    let secs = if quick { 1 } else { 5 };
    let total = rate * secs;
    let stop = Arc::new(AtomicBool::new(false));
    let received: Vec<Arc<AtomicU64>> = (0..subscribers)
        .map(|_| Arc::new(AtomicU64::new(0)))
        .collect();
    let gaps = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for r in &received {
        let (socket, r, gaps, stop) = (
            socket.clone(),
            Arc::clone(r),
            Arc::clone(&gaps),
            Arc::clone(&stop),
        );
        threads.push(std::thread::spawn(move || {
            let mut c = Client::connect(&socket).expect("connect");
            c.subscribe(&["market.tickers"]).expect("subscribe");
            c.set_timeout(Some(Duration::from_millis(500)))
                .expect("timeout");
            let mut expect = 0i64;
            while !stop.load(Ordering::Relaxed) || r.load(Ordering::Relaxed) < total {
                match c.next_event() {
                    Ok(StreamMessage::Event { event, .. }) => {
                        let t: Ticker = serde_json::from_value(event).expect("ticker");
                        if t.time.millis() != expect {
                            gaps.fetch_add(1, Ordering::Relaxed);
                        }
                        expect = t.time.millis() + 1;
                        r.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(StreamMessage::Lagged(_)) => {
                        gaps.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => break,
                }
            }
        }));
    }
    // One subscriber that reads 10 events per second.
    let slow = {
        let socket = socket.clone();
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut c = Client::connect(&socket).expect("connect");
            c.subscribe(&["market.tickers"]).expect("subscribe");
            c.set_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let (mut got, mut missed) = (0u64, 0u64);
            // Let the daemon's buffers fill while this one dawdles.
            std::thread::sleep(Duration::from_secs(secs));
            while !stop.load(Ordering::Relaxed) {
                match c.next_event() {
                    Ok(StreamMessage::Event { .. }) => got += 1,
                    Ok(StreamMessage::Lagged(l)) => missed += l.missed,
                    Err(_) => break,
                }
            }
            (got, missed)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let inst = ctx.exchange.lock().venue.instruments()[0].clone();
    let template = Ticker {
        symbol: inst.symbol.clone(),
        time: Timestamp(0),
        last: "100".parse().expect("p"),
        bid: None,
        ask: None,
        open_24h: "100".parse().expect("p"),
        high_24h: "100".parse().expect("p"),
        low_24h: "100".parse().expect("p"),
        volume_24h: "1".parse().expect("q"),
    };
    let start = Instant::now();
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        ctx.hub.publish::<TickersTopic>(&Ticker {
            time: Timestamp(i as i64),
            ..template.clone()
        });
    }
    let publish_secs = start.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.iter().any(|r| r.load(Ordering::Relaxed) < total) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let drained = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("subscriber");
    }
    let (slow_got, slow_missed) = slow.join().expect("slow subscriber");
    let counts: Vec<u64> = received.iter().map(|r| r.load(Ordering::Relaxed)).collect();
    let min = counts.iter().min().copied().unwrap_or(0);
    println!(
        "fan-out: {total} ticker events at {rate}/s ({:.2} s) to {subscribers} subscribers: {} deliveries in {:.2} s",
        publish_secs,
        counts.iter().sum::<u64>(),
        drained
    );
    println!(
        "  fastest-keeping subscribers: least received {min} of {total}, gaps or lag notices {}   (target: no loss)",
        gaps.load(Ordering::Relaxed)
    );
    println!(
        "  slow subscriber (reads after {secs} s): received {slow_got}, told it missed {slow_missed} (bounded: buffer 4096 per topic + socket and queue)"
    );
    token.cancel();
    rt.block_on(done).expect("join").expect("clean stop");
}
