//! `tradectl bench`: a load tester for the daemon's API, over the socket
//! or HTTP. Each (target, method) pair runs in turn with the same workers
//! (each its own connection) for a duration or a count, and reports
//! latency percentiles, throughput and the error codes seen.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;
use tradedesk_core::api::{Empty, Scope, method_descriptors};
use tradedesk_core::client::{Client, ClientError};

use crate::{Ctx, Failure, remote};

#[derive(Args)]
pub struct Bench {
    /// A method to call, with its params: `market.ticker`, or
    /// `market.ticker={"symbol":"ETHUSDT"}`. Repeat for several.
    #[arg(
        long = "method",
        short = 'm',
        value_name = "NAME[=JSON]",
        required = true
    )]
    methods: Vec<String>,
    /// Where to send them: `socket` (this machine's daemon), a socket
    /// path, or an http(s):// URL (logged in with `tradectl login`, or
    /// TRADEDESK_TOKEN). Repeat to compare. Default: --remote, else the socket.
    #[arg(long = "target", value_name = "TARGET")]
    targets: Vec<String>,
    /// Concurrent workers, each with its own connection (1–1000).
    #[arg(long, short = 'w', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1000))]
    workers: u16,
    /// How long each method runs, in seconds (unless --count).
    #[arg(long, short = 'd', default_value_t = 5.0)]
    duration: f64,
    /// Instead of a duration: this many calls of each method.
    #[arg(long, short = 'n')]
    count: Option<u64>,
    /// The symbol for methods that need one and were given no params.
    #[arg(long, default_value = "BTCUSDT")]
    symbol: String,
    /// Allow methods that trade or change state (orders, bots…): only on
    /// paper accounts.
    #[arg(long)]
    allow_orders: bool,
    /// Also write the results as CSV.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Also write the results as JSON.
    #[arg(long = "json-out", value_name = "FILE")]
    json_out: Option<PathBuf>,
}

/// One (target, method) run.
#[derive(Debug, Serialize)]
pub struct Outcome {
    pub target: String,
    pub method: String,
    pub workers: u16,
    pub requests: u64,
    pub ok: u64,
    pub success_pct: f64,
    pub seconds: f64,
    pub per_second: f64,
    pub latency_ms: Latency,
    /// Error kinds (`invalid_params`, `overloaded`, `transport`…) and how often.
    pub errors: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Latency {
    pub min: f64,
    pub mean: f64,
    pub median: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// The nearest-rank percentile of sorted samples (µs), in ms.
fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

fn latency(mut samples: Vec<u32>) -> Latency {
    if samples.is_empty() {
        return Latency::default();
    }
    samples.sort_unstable();
    let sum: u64 = samples.iter().map(|&s| u64::from(s)).sum();
    Latency {
        min: f64::from(samples[0]) / 1000.0,
        mean: sum as f64 / samples.len() as f64 / 1000.0,
        median: percentile(&samples, 50.0),
        p95: percentile(&samples, 95.0),
        p99: percentile(&samples, 99.0),
        max: f64::from(samples[samples.len() - 1]) / 1000.0,
    }
}

#[derive(Clone)]
enum Target {
    Socket(PathBuf),
    Http(remote::Remote),
}

impl Target {
    fn label(&self) -> String {
        match self {
            Target::Socket(p) => format!("socket {}", p.display()),
            Target::Http(r) => r.url.clone(),
        }
    }

    fn connect(&self) -> Result<Client, Failure> {
        match self {
            Target::Socket(p) => Ok(Client::connect(p)?),
            Target::Http(r) => r.connect(),
        }
    }
}

fn kind_of(e: &ClientError) -> String {
    match e {
        ClientError::Api(api) => api
            .kind()
            .map_or_else(|| api.code.to_string(), |k| k.name().to_owned()),
        ClientError::Unreachable { .. } => "unreachable".into(),
        ClientError::Io(_) | ClientError::Closed => "transport".into(),
        _ => "protocol".into(),
    }
}

/// The method's name and params: given, or `{}` with `symbol` filled in
/// when the method requires one.
fn parse_method(spec: &str, symbol: &str) -> Result<(String, serde_json::Value), Failure> {
    let (name, params) = match spec.split_once('=') {
        Some((n, p)) => {
            let v: serde_json::Value = serde_json::from_str(p).map_err(|e| {
                Failure::Usage(format!("--method {n}: the params are not JSON: {e}"))
            })?;
            if !v.is_object() {
                return Err(Failure::Usage(format!(
                    "--method {n}: the params must be a JSON object"
                )));
            }
            (n.to_owned(), Some(v))
        }
        None => (spec.to_owned(), None),
    };
    let Some(d) = method_descriptors().into_iter().find(|d| d.name == name) else {
        return Err(Failure::Usage(format!(
            "--method: no method `{name}` (`tradectl rpc list` lists them)"
        )));
    };
    let params = params.unwrap_or_else(|| {
        let needs_symbol = d.params_schema["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|f| f == "symbol"));
        if needs_symbol {
            serde_json::json!({ "symbol": symbol })
        } else {
            serde_json::json!({})
        }
    });
    Ok((name, params))
}

/// Trading and other changing methods run only with `--allow-orders`, and
/// only against paper accounts; administration never.
fn guard(
    b: &Bench,
    target: &Target,
    name: &str,
    params: &serde_json::Value,
) -> Result<(), Failure> {
    let scope = method_descriptors()
        .into_iter()
        .find(|d| d.name == name)
        .map_or(Scope::Admin, |d| d.scope);
    match scope {
        Scope::Public | Scope::Read => return Ok(()),
        Scope::Admin => {
            return Err(Failure::Usage(format!(
                "`{name}` administers the daemon: it is never benchmarked"
            )));
        }
        Scope::Trade => {}
    }
    if !b.allow_orders {
        return Err(Failure::Usage(format!(
            "`{name}` trades or changes state: add --allow-orders (paper accounts only)"
        )));
    }
    let mut c = target.connect()?;
    let accounts = c.call::<tradedesk_core::api::accounts::AccountsList>(
        &tradedesk_core::api::paging::PageParams::largest(),
    )?;
    let mut named: Vec<String> = params["account"]
        .as_str()
        .map(str::to_owned)
        .into_iter()
        .collect();
    if name.starts_with("bots.")
        && let Some(id) = params["id"].as_u64()
        && let Ok(bot) = c.call_raw("bots.get", &serde_json::json!({ "id": id }))
        && let Some(a) = bot["account"].as_str()
    {
        named.push(a.to_owned());
    }
    for a in named {
        let paper = accounts
            .items
            .iter()
            .any(|v| v.name == a && v.mode == tradedesk_core::api::accounts::AccountMode::Paper);
        if !paper {
            return Err(Failure::Usage(format!(
                "`{name}` on account `{a}`: benchmarks trade on paper accounts only"
            )));
        }
    }
    Ok(())
}

/// What the workers of one run share.
#[derive(Default)]
struct Shared {
    /// Calls left to make (counted runs).
    left: AtomicU64,
    stop: AtomicBool,
    done: AtomicU64,
    /// When the last worker finished, in µs from the start.
    ended: AtomicU64,
    samples: Mutex<Vec<u32>>,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// One worker: its own connection, calls until told to stop or the count
/// is spent; a lost connection is made again.
fn worker(
    sh: &Shared,
    target: &Target,
    name: &str,
    params: &serde_json::Value,
    counted: bool,
    t0: Instant,
) {
    let mut mine = Vec::new();
    let mut errs: BTreeMap<String, u64> = BTreeMap::new();
    let mut client = target.connect().ok();
    while !sh.stop.load(Ordering::Relaxed) {
        if counted
            && sh
                .left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_err()
        {
            break;
        }
        let started = Instant::now();
        let outcome = match client.as_mut() {
            Some(c) => c.call_raw(name, params).map(|_| ()),
            None => match target.connect() {
                Ok(c) => {
                    client = Some(c);
                    continue;
                }
                Err(_) => Err(ClientError::Closed),
            },
        };
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        match outcome {
            Ok(()) => mine.push(micros),
            Err(e) => {
                *errs.entry(kind_of(&e)).or_default() += 1;
                if !matches!(e, ClientError::Api(_)) {
                    client = None;
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        sh.done.fetch_add(1, Ordering::Relaxed);
    }
    let at = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
    sh.ended.fetch_max(at, Ordering::Relaxed);
    sh.samples
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(mine);
    let mut all = sh.errors.lock().unwrap_or_else(PoisonError::into_inner);
    for (k, n) in errs {
        *all.entry(k).or_default() += n;
    }
}

/// Runs one (target, method) pair.
fn run_one(
    b: &Bench,
    target: &Target,
    name: &str,
    params: &serde_json::Value,
    progress: bool,
) -> Outcome {
    let deadline = Duration::from_secs_f64(b.duration.max(0.0));
    let sh = Arc::new(Shared {
        left: AtomicU64::new(b.count.unwrap_or(u64::MAX)),
        ..Shared::default()
    });
    let t0 = Instant::now();
    let handles: Vec<_> = (0..b.workers)
        .map(|_| {
            let (target, name, params) = (target.clone(), name.to_owned(), params.clone());
            let (sh, counted) = (sh.clone(), b.count.is_some());
            std::thread::spawn(move || worker(&sh, &target, &name, &params, counted, t0))
        })
        .collect();
    let label = format!("{name} → {}", target.label());
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let finished = handles.iter().all(std::thread::JoinHandle::is_finished);
        let done = sh.done.load(Ordering::Relaxed);
        let fraction = match b.count {
            Some(n) if n > 0 => done as f64 / n as f64,
            Some(_) => 1.0,
            None => t0.elapsed().as_secs_f64() / deadline.as_secs_f64().max(1e-9),
        }
        .clamp(0.0, 1.0);
        if progress {
            let filled = (fraction * 30.0) as usize;
            eprint!(
                "\r[{}{}] {:>3.0}% {done:>9} calls  {label}",
                "#".repeat(filled),
                " ".repeat(30 - filled),
                fraction * 100.0,
            );
            let _ = std::io::stderr().flush();
        }
        if b.count.is_none() && t0.elapsed() >= deadline {
            sh.stop.store(true, Ordering::Relaxed);
        }
        if finished {
            break;
        }
    }
    for h in handles {
        let _ = h.join();
    }
    if progress {
        eprint!("\r{}\r", " ".repeat(60 + label.len()));
    }
    let seconds = sh.ended.load(Ordering::Relaxed) as f64 / 1e6;
    let samples = std::mem::take(&mut *sh.samples.lock().unwrap_or_else(PoisonError::into_inner));
    let errors = std::mem::take(&mut *sh.errors.lock().unwrap_or_else(PoisonError::into_inner));
    let ok = samples.len() as u64;
    let requests = ok + errors.values().sum::<u64>();
    Outcome {
        target: target.label(),
        method: name.to_owned(),
        workers: b.workers,
        requests,
        ok,
        success_pct: if requests == 0 {
            0.0
        } else {
            ok as f64 * 100.0 / requests as f64
        },
        seconds,
        per_second: requests as f64 / seconds.max(1e-9),
        latency_ms: latency(samples),
        errors,
    }
}

fn targets(ctx: &Ctx, b: &Bench) -> Vec<Target> {
    if b.targets.is_empty() {
        return vec![match &ctx.remote {
            Some(r) => Target::Http(r.clone()),
            None => Target::Socket(ctx.socket.clone()),
        }];
    }
    b.targets
        .iter()
        .map(|t| {
            if t == "socket" {
                Target::Socket(ctx.socket.clone())
            } else if t.starts_with("http://") || t.starts_with("https://") {
                Target::Http(remote::Remote {
                    url: t.clone(),
                    ca: ctx.ca.clone(),
                })
            } else {
                Target::Socket(PathBuf::from(t))
            }
        })
        .collect()
}

fn csv(outcomes: &[Outcome]) -> String {
    let mut s = String::from(
        "target,method,workers,requests,ok,success_pct,seconds,per_second,min_ms,mean_ms,median_ms,p95_ms,p99_ms,max_ms,errors\n",
    );
    for o in outcomes {
        let l = &o.latency_ms;
        let errors: Vec<String> = o.errors.iter().map(|(k, n)| format!("{k}={n}")).collect();
        let _ = writeln!(
            s,
            "\"{}\",{},{},{},{},{:.3},{:.3},{:.1},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},\"{}\"",
            o.target.replace('"', "\"\""),
            o.method,
            o.workers,
            o.requests,
            o.ok,
            o.success_pct,
            o.seconds,
            o.per_second,
            l.min,
            l.mean,
            l.median,
            l.p95,
            l.p99,
            l.max,
            errors.join(" ")
        );
    }
    s
}

fn table(outcomes: &[Outcome]) -> String {
    let mut s = format!(
        "{:<28} {:<22} {:>7} {:>9} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  errors\n",
        "target",
        "method",
        "workers",
        "requests",
        "ok %",
        "req/s",
        "min ms",
        "mean",
        "median",
        "p95",
        "p99",
        "max"
    );
    for o in outcomes {
        let l = &o.latency_ms;
        let errors: Vec<String> = o.errors.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        let target = if o.target.starts_with("socket ") {
            "socket".to_owned()
        } else {
            o.target.chars().take(28).collect()
        };
        let _ = writeln!(
            s,
            "{target:<28} {:<22} {:>7} {:>9} {:>7.2} {:>9.0} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3}  {}",
            o.method,
            o.workers,
            o.requests,
            o.success_pct,
            o.per_second,
            l.min,
            l.mean,
            l.median,
            l.p95,
            l.p99,
            l.max,
            if errors.is_empty() {
                "-".to_owned()
            } else {
                errors.join(", ")
            }
        );
    }
    s
}

pub fn bench(ctx: &Ctx, b: &Bench) -> Result<(), Failure> {
    if b.count.is_none() && !(b.duration > 0.0 && b.duration <= 86_400.0) {
        return Err(Failure::Usage(
            "--duration must be between 0 and 86400 seconds".into(),
        ));
    }
    let methods: Vec<(String, serde_json::Value)> = b
        .methods
        .iter()
        .map(|m| parse_method(m, &b.symbol))
        .collect::<Result<_, _>>()?;
    let targets = targets(ctx, b);
    // Every target answers, and every method is allowed, before any load.
    for t in &targets {
        t.connect()?
            .call::<tradedesk_core::api::system::SystemVersion>(&Empty {})?;
        for (name, params) in &methods {
            guard(b, t, name, params)?;
        }
    }
    let progress = !ctx.json && std::io::stderr().is_terminal();
    let mut outcomes = Vec::new();
    for t in &targets {
        for (name, params) in &methods {
            outcomes.push(run_one(b, t, name, params, progress));
        }
    }
    if let Some(path) = &b.csv {
        std::fs::write(path, csv(&outcomes))
            .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
    }
    if let Some(path) = &b.json_out {
        let text = serde_json::to_string_pretty(&outcomes).unwrap_or_default();
        std::fs::write(path, text)
            .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
    }
    ctx.emit(&outcomes, || out!("{}", table(&outcomes)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_in_milliseconds() {
        let samples: Vec<u32> = (1..=100).map(|i| i * 1000).collect();
        let l = latency(samples);
        assert_eq!(
            (l.min, l.median, l.p95, l.p99, l.max),
            (1.0, 50.0, 95.0, 99.0, 100.0)
        );
        assert!((l.mean - 50.5).abs() < 1e-9);
        assert!(latency(Vec::new()).max.abs() < 1e-12);
        assert!((percentile(&[7000], 99.0) - 7.0).abs() < 1e-12);
    }

    #[test]
    fn a_method_takes_json_params_or_gets_the_symbol_it_requires() {
        let (n, p) = parse_method("market.ticker", "ETHUSDT").expect("parse");
        assert_eq!(
            (n.as_str(), p),
            ("market.ticker", serde_json::json!({"symbol": "ETHUSDT"}))
        );
        let (_, p) = parse_method("system.health", "ETHUSDT").expect("parse");
        assert_eq!(p, serde_json::json!({}));
        let (_, p) = parse_method(r#"orders.list={"limit":5}"#, "X").expect("parse");
        assert_eq!(p, serde_json::json!({"limit": 5}));
        assert!(parse_method("no.such", "X").is_err());
        assert!(parse_method("orders.list=[1]", "X").is_err());
        assert!(parse_method("orders.list={", "X").is_err());
    }
}
