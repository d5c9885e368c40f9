//! `cargo bench -p tradingd --bench jobs`: the job queue, in-process over
//! the socket.
//!
//! 1. Durable enqueues per second (`jobs.enqueue`, each committed with
//!    synchronous=FULL before the answer): one client, then 16 clients at
//!    once (their enqueues share commits). Target ≥ 5,000/s.
//! 2. No-op jobs (a `bench.noop` kind added the way an embedder adds
//!    kinds, concurrency 2) through the pool of 2 workers, from enqueued
//!    to succeeded, per second. Target ≥ 2,000/s.
//! 3. Schedule firing lateness: the daemon's clock is moved onto a slot and
//!    the time until the slot's job exists is measured. Target p99 ≤ 100 ms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tradedesk_core::client::Client;
use tradedesk_core::job::JobKind;
use tradedesk_core::time::Timestamp;
use tradingd::Options;
use tradingd::services::jobs::{JobError, JobKinds, JobRun};
#[path = "support/inproc.rs"]
mod inproc;

use inproc::InProc;

static NOOP: JobKind = JobKind {
    name: "bench.noop",
    summary: "Does nothing (the pool's own cost).",
    schema: || json!({ "type": "object" }),
    validate: |v| Ok(v.clone()),
    max_attempts: 1,
    timeout_ms: 60_000,
    concurrency: 2,
};

#[allow(clippy::unnecessary_wraps)] // the shape every job runner has
fn noop(_: &JobRun<'_>) -> Result<serde_json::Value, JobError> {
    Ok(serde_json::Value::Null)
}

/// Enqueues `n` no-op jobs due at `at`, one at a time; the last id.
fn enqueue_noops(c: &mut Client, n: u32, at: Timestamp) -> u64 {
    let mut last = 0;
    for _ in 0..n {
        last = c
            .call_raw(
                "jobs.enqueue",
                &json!({ "kind": "bench.noop", "run_at": at }),
            )
            .expect("enqueue")["id"]
            .as_u64()
            .expect("id");
    }
    last
}

#[allow(clippy::too_many_lines)] // a script: set up, measure, report, in order
fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let d = InProc::start_with(
        |_| {},
        Options {
            job_kinds: JobKinds::builtin().with(&NOOP, noop),
            ..Options::default()
        },
    );
    let (ctx, start) = (Arc::clone(&d.ctx), d.start);
    let mut c = Client::connect(&d.socket).expect("connect");

    // 1. Enqueue alone: the jobs are due in an hour, so the pool is idle.
    let n = if quick { 200 } else { 5_000 };
    let later = Timestamp(start.millis() + 3_600_000);
    // A queue that has lived a while: 8,000 jobs due in a year wait in it
    // (and the write-ahead log has grown to its working size). Claims and
    // idle looks are index seeks, so they cost the same as on a fresh queue.
    let warm = if quick { 20 } else { 8_000 };
    let far = Timestamp(start.millis() + 86_400_000 * 365);
    for _ in 0..warm {
        c.call_raw(
            "jobs.enqueue",
            &json!({ "kind": "risk.report", "run_at": far }),
        )
        .expect("warm-up");
    }
    let t = Instant::now();
    let mut last = enqueue_noops(&mut c, n, later);
    let enq = t.elapsed();
    println!(
        "enqueue: {n} durable enqueues in {:.0} ms = {:.0}/s, one client, each waiting for its commit",
        enq.as_secs_f64() * 1e3,
        f64::from(n) / enq.as_secs_f64()
    );
    let clients = 16;
    let each = n / clients;
    let t = Instant::now();
    let ids: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let socket = &d.socket;
                s.spawn(move || {
                    let mut c = Client::connect(socket).expect("connect");
                    enqueue_noops(&mut c, each, later)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client"))
            .collect()
    });
    let enq = t.elapsed();
    last = last.max(ids.into_iter().max().unwrap_or(0));
    let n = n + each * clients;
    println!(
        "enqueue: {} durable enqueues in {:.0} ms = {:.0}/s, {clients} clients at once (group commit)  (target ≥ 5,000/s)",
        each * clients,
        enq.as_secs_f64() * 1e3,
        f64::from(each * clients) / enq.as_secs_f64()
    );
    // 2. The pool alone: the hour passes, every job is due at once.
    let t = Instant::now();
    ctx.advance(3_600_000);
    loop {
        let j = c.call_raw("jobs.get", &json!({ "id": last })).expect("get");
        if j["state"] == "succeeded" {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let ran = t.elapsed();
    println!(
        "pool: {n} no-op jobs claimed, run and settled by 2 workers in {:.0} ms = {:.0} jobs/s  (target ≥ 2,000/s)",
        ran.as_secs_f64() * 1e3,
        f64::from(n) / ran.as_secs_f64()
    );

    // 3. Schedule lateness.
    let s = c
        .call_raw(
            "jobs.schedules.create",
            &json!({ "name": "tick", "cron": "* * * * *", "kind": "risk.report" }),
        )
        .expect("schedule");
    let sid = s["id"].as_u64().expect("id");
    let rounds = if quick { 5 } else { 50 };
    let mut late = Vec::new();
    for _ in 0..rounds {
        let next = c
            .call_raw("jobs.schedules.get", &json!({ "id": sid }))
            .expect("get")["next_run"]
            .as_str()
            .map(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .expect("time")
                    .timestamp_millis()
            })
            .expect("next");
        let key = format!("schedule:{sid}:{next}");
        ctx.advance(next - ctx.now().millis());
        let t = Instant::now();
        loop {
            let page = c
                .call_raw("jobs.list", &json!({ "kind": "risk.report", "limit": 5 }))
                .expect("list");
            if page["items"]
                .as_array()
                .is_some_and(|j| j.iter().any(|x| x["idempotency_key"] == key))
            {
                break;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        late.push(t.elapsed());
    }
    late.sort();
    let p = |q: f64| late[((late.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    println!(
        "schedule lateness over {rounds} slots: p50 {:.1} ms  p99 {:.1} ms  (target p99 ≤ 100 ms)",
        p(0.5),
        p(0.99)
    );
    d.stop();
}
