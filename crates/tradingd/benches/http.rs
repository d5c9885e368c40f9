//! `cargo bench -p tradingd --bench http`: the HTTP transport's speed,
//! measured against the real daemon binary with an in-process load
//! generator (plain HTTP/1.1 keep-alive connections, one thread each).
//!
//! Reports `GET /api/v1/system/health` latency at one connection (p50,
//! p99) and throughput at 64 connections, and an authenticated read
//! (`GET /api/v1/market/tickers`) at 64, plus the daemon's RSS. Targets
//! (issue 20, on 2 cores): c=1 p50 ≤ 60 µs; c=64 ≥ 40,000 req/s; the
//! authenticated read ≥ 25,000 req/s; RSS ≤ 30 MB. The daemon and the load
//! share the machine's two cores. The one-connection latency is printed
//! beside the machine's floor (a plain loopback TCP round trip), which
//! differs several-fold between virtual machines of the same kind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tradedesk_core::client::Client;

#[path = "support/daemon.rs"]
mod daemon;

use daemon::Daemon;

/// One keep-alive connection sending the same request.
struct Conn {
    reader: BufReader<TcpStream>,
    request: Vec<u8>,
}

impl Conn {
    fn open(addr: &str, path: &str, token: &str) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n")
                .into_bytes();
        Conn {
            reader: BufReader::new(stream),
            request,
        }
    }

    /// Sends the request and reads the answer; its status.
    fn call(&mut self) -> u16 {
        self.reader
            .get_mut()
            .write_all(&self.request)
            .expect("send");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut len = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len];
        self.reader.read_exact(&mut body).expect("body");
        status
    }
}

/// The machine's floor for a request on one connection: the p50 of a
/// 4-byte ping-pong over loopback TCP between two plain threads, no HTTP
/// and no runtime. The HTTP latency can only be this plus the server's work.
fn loopback_floor(n: usize) -> Duration {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let echo = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_nodelay(true).expect("nodelay");
        let mut b = [0u8; 4];
        while s.read_exact(&mut b).is_ok() {
            if s.write_all(&b).is_err() {
                break;
            }
        }
    });
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_nodelay(true).expect("nodelay");
    let mut b = [0u8; 4];
    let mut lat: Vec<Duration> = (0..n + n / 10)
        .map(|_| {
            let t = Instant::now();
            c.write_all(b"ping").expect("ping");
            c.read_exact(&mut b).expect("pong");
            t.elapsed()
        })
        .skip(n / 10)
        .collect();
    drop(c);
    echo.join().expect("echo thread");
    lat.sort();
    lat[lat.len() / 2]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// Requests per second over `secs` with `conns` connections, and how many
/// were not answered 200.
fn throughput(addr: &str, path: &str, token: &str, conns: usize, secs: f64) -> (f64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let (stop, done, failed) = (Arc::clone(&stop), Arc::clone(&done), Arc::clone(&failed));
            let mut c = Conn::open(addr, path, token);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if c.call() != 200 {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let n = done.load(Ordering::Relaxed);
    let el = t.elapsed().as_secs_f64();
    for t in threads {
        t.join().expect("load thread");
    }
    (n as f64 / el, failed.load(Ordering::Relaxed))
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let (daemon, _) = Daemon::spawn(
        dir.path(),
        &[
            ("TRADEDESK_HTTP__ENABLED", "true"),
            ("TRADEDESK_HTTP__BIND", &addr),
            ("TRADEDESK_HTTP__RATE_PER_MIN", "1000000000"),
            ("TRADEDESK_HTTP__RATE_BURST", "1000000000"),
        ],
    );
    let start_rss = daemon.rss_kib();
    let mut c = Client::connect(&daemon.socket).expect("socket");
    c.call_raw(
        "users.create",
        &serde_json::json!({ "name": "bench", "password": "bench password", "role": "trader" }),
    )
    .expect("user");
    let token = {
        let mut s = TcpStream::connect(&addr).expect("connect");
        let body = r#"{"user":"bench","password":"bench password"}"#;
        write!(
            s,
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("login");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("answer");
        let json = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(json).expect("tokens");
        v["access_token"].as_str().expect("token").to_owned()
    };

    let idle_rss = daemon.rss_kib();
    let health = "/api/v1/system/health";
    let mut one = Conn::open(&addr, health, &token);
    let n = if quick { 200 } else { 20_000 };
    for _ in 0..n / 10 {
        one.call();
    }
    let mut lat: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(one.call(), 200);
            t.elapsed()
        })
        .collect();
    lat.sort();
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    println!(
        "GET {health}, 1 connection, {n} requests: p50 {}  p99 {}  max {}   (target p50 ≤ 60 µs)",
        us(p(0.5)),
        us(p(0.99)),
        us(p(1.0))
    );
    println!(
        "  this machine's floor, a plain loopback TCP ping-pong between two threads: p50 {}",
        us(loopback_floor(n))
    );
    let secs = if quick { 0.3 } else { 5.0 };
    let (rps, failed) = throughput(&addr, health, &token, 64, secs);
    println!("GET {health}, 64 connections: {rps:.0} req/s, {failed} not 200   (target ≥ 40,000)");
    let tickers = "/api/v1/market/tickers";
    let (rps, failed) = throughput(&addr, tickers, &token, 64, secs);
    println!(
        "GET {tickers} (authenticated read), 64 connections: {rps:.0} req/s, {failed} not 200   (target ≥ 25,000)"
    );
    println!(
        "daemon RSS: {:.1} MB at start with HTTP on, {:.1} MB after a user was made and logged in, {:.1} MB after the load   (target ≤ 30 MB)",
        start_rss as f64 / 1024.0,
        idle_rss as f64 / 1024.0,
        daemon.rss_kib() as f64 / 1024.0
    );
    daemon.stop();
}
