//! Load: many clients at once, far more connections than the cap, and
//! subscribers that never read. Every call answers, the cap refuses
//! cleanly and serves again once connections close, and memory stays
//! bounded.
//!
//! `TRADEDESK_LOAD_CALLS` sets the calls per client (default 1000).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tradedesk_tests::{Daemon, Raw, figure, percentile, rounds, rss_kib};

#[test]
fn a_hundred_clients_each_make_a_thousand_calls_without_an_error() {
    let calls = rounds("TRADEDESK_LOAD_CALLS", 1000);
    let d = Daemon::start();
    let started = Instant::now();
    let workers: Vec<_> = (0..100)
        .map(|i| {
            let socket = d.socket();
            std::thread::spawn(move || {
                let mut c = tradedesk_core::client::Client::connect(&socket).expect("connect");
                c.set_timeout(Some(Duration::from_secs(30)))
                    .expect("timeout");
                let mut times = Vec::with_capacity(calls);
                let mut errors = 0;
                let symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"];
                for n in 0..calls {
                    let t = Instant::now();
                    let r = match n % 3 {
                        0 => {
                            c.call_raw("market.ticker", &json!({ "symbol": symbols[(i + n) % 3] }))
                        }
                        1 => c.call_raw("system.health", &json!({})),
                        _ => c.call_raw("orders.list", &json!({ "limit": 5 })),
                    };
                    times.push(t.elapsed());
                    if r.is_err() {
                        errors += 1;
                    }
                }
                (times, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (t, e) = w.join().expect("a client");
        all.extend(t);
        errors += e;
    }
    let took = started.elapsed();
    all.sort();
    figure("load", "clients × calls", format!("100 × {calls}"));
    figure("load", "errors", errors);
    figure(
        "load",
        "p50 / p99",
        format!("{:?} / {:?}", percentile(&all, 50), percentile(&all, 99)),
    );
    figure(
        "load",
        "throughput",
        format!("{:.0} calls/s", all.len() as f64 / took.as_secs_f64()),
    );
    assert_eq!(errors, 0);
    assert_eq!(all.len(), 100 * calls);
}

#[test]
fn two_thousand_connections_over_the_cap_are_refused_cleanly_then_served() {
    let d = Daemon::start();
    let base = d.pid().and_then(rss_kib).unwrap_or(0);
    let mut open = Vec::new();
    let (mut served, mut refused) = (0, 0);
    for _ in 0..2_256 {
        let Ok(s) = std::os::unix::net::UnixStream::connect(d.socket()) else {
            refused += 1;
            continue;
        };
        open.push(s);
    }
    // Every connection either answers or is told it was refused.
    let mut open: Vec<Raw> = open.into_iter().map(Raw::from_stream).collect();
    for raw in &mut open {
        // A refused connection may be closed before our write: its one
        // line (the refusal) is still there to read.
        let _ = raw.send(b"{\"jsonrpc\":\"2.0\",\"method\":\"system.health\",\"id\":1}\n");
        match raw.recv() {
            Some(r) if r["result"]["status"] == "ok" => served += 1,
            Some(r) if r["error"]["code"] == -32014 => refused += 1,
            other => panic!("neither served nor refused cleanly: {other:?}"),
        }
    }
    let peak = d.pid().and_then(rss_kib).unwrap_or(0);
    drop(open);
    let mut again = None;
    for _ in 0..200 {
        if let Ok(mut c) = tradedesk_core::client::Client::connect(&d.socket())
            && c.call_raw("system.health", &json!({})).is_ok()
        {
            again = Some(c);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    figure(
        "load",
        "2,256 connections at a cap of 256: served / refused",
        format!("{served} / {refused}"),
    );
    figure(
        "load",
        "daemon RSS before / at the peak",
        format!("{} / {} MiB", base / 1024, peak / 1024),
    );
    assert!(served <= 256 * 2, "served {served}");
    assert!(refused > 1_000, "refused {refused}");
    assert!(again.is_some(), "served again once they closed");
    assert!(peak < 300 * 1024, "memory bounded: {peak} KiB");
}

#[test]
fn fifty_subscribers_that_never_read_slow_no_one_down() {
    let d = Daemon::start_with("[sim]\ntick_ms = 10\n[streams]\nbuffer = 256\n");
    let mut sleepers = Vec::new();
    for _ in 0..50 {
        let mut raw = Raw::connect(&d.socket());
        let mut r = raw
            .call(r#"{"jsonrpc":"2.0","method":"streams.subscribe","params":{"topics":["market.tickers","market.orderbook","market.klines"]},"id":1}"#)
            .expect("subscribed");
        // Events may come ahead of the answer: they start as soon as the
        // subscription does.
        while r.get("id").is_none() {
            r = raw.recv().expect("the answer");
        }
        assert!(r["result"].is_object(), "{r}");
        // … and never read again.
        sleepers.push(raw);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (pid, stop) = (d.pid().expect("pid"), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_kib(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(100));
            }
            peak
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let mut c = d.client();
    let mut times = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        c.call_raw("market.ticker", &json!({ "symbol": "BTCUSDT" }))
            .expect("answered");
        times.push(t.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    let peak = watcher.join().expect("watcher");
    times.sort();
    figure(
        "load",
        "50 subscribers that never read: another client's p50 / p99",
        format!(
            "{:?} / {:?}",
            percentile(&times, 50),
            percentile(&times, 99)
        ),
    );
    figure(
        "load",
        "50 subscribers that never read: daemon RSS peak",
        format!("{} MiB", peak / 1024),
    );
    assert!(percentile(&times, 99) < Duration::from_millis(250));
    assert!(peak < 300 * 1024, "memory bounded: {peak} KiB");
    drop(sleepers);
}

#[test]
fn silent_connections_at_the_cap_do_not_lock_the_cli_out() {
    let d = Daemon::start();
    // 256 connections that never send a byte hold every slot …
    let silent: Vec<_> = (0..256)
        .map(|_| std::os::unix::net::UnixStream::connect(d.socket()).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(1_200));
    // … and the CLI still gets in: the idlest gives its slot up.
    let out = d.tradectl(&["status"]);
    assert!(out.status.success(), "{out:?}");
    // Right away (before their own first-frame deadline): how many were
    // told to go to make room.
    let evicted = silent
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).expect("nonblocking");
            let mut buf = [0_u8; 512];
            matches!(std::io::Read::read(&mut &**s, &mut buf), Ok(n) if n > 0)
        })
        .count();
    figure(
        "load",
        "256 silent connections at the cap: the CLI served, connections told to go",
        evicted,
    );
    assert!((1..=4).contains(&evicted), "{evicted}");
}
