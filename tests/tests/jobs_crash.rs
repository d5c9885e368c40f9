//! Jobs and schedules under kill -9: after every restart no job is left
//! running, none is lost, none ran twice under one key, no schedule slot
//! fired twice, and a job killed mid-run is retried while it has attempts
//! left, dead (with `daemon_crash`) when it has none. An import killed
//! halfway leaves no dataset behind.
//!
//! Default: a few rounds; `TRADEDESK_JOB_CRASH_ROUNDS=50` for a soak.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tradedesk_tests::{Daemon, figure, rounds};

fn call(c: &mut tradedesk_core::client::Client, method: &str, p: &Value) -> Value {
    c.call_raw(method, p)
        .unwrap_or_else(|e| panic!("{method} {p}: {e}"))
}

fn all_jobs(d: &Daemon) -> Vec<Value> {
    let mut c = d.client();
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut p = json!({ "limit": 500 });
        if let Some(c) = &cursor {
            p["cursor"] = json!(c);
        }
        let page = call(&mut c, "jobs.list", &p);
        out.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

/// Every job once none is queued or running any more (at most 2 minutes).
fn settled(d: &Daemon) -> Vec<Value> {
    let until = Instant::now() + Duration::from_mins(2);
    loop {
        let jobs = all_jobs(d);
        if jobs
            .iter()
            .all(|j| !matches!(j["state"].as_str(), Some("queued" | "running")))
        {
            return jobs;
        }
        assert!(Instant::now() < until, "jobs never settled: {jobs:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A CSV large enough that an import is often running when a kill comes.
fn big_csv(path: &std::path::Path) {
    let mut text = String::from("time,open,high,low,close,volume\n");
    for i in 0..60_000_i64 {
        let p = 100 + (i * 7919) % 50;
        let _ = writeln!(
            text,
            "{},{p},{},{},{p},1",
            1_600_000_000_000 + i * 60_000,
            p + 1,
            p - 1
        );
    }
    std::fs::write(path, text).expect("csv");
}

#[test]
#[allow(clippy::too_many_lines)] // a script: load, kill, restart, settle, check, report
fn after_kill_9_jobs_settle_once_and_schedules_fire_each_slot_once() {
    let n = rounds("TRADEDESK_JOB_CRASH_ROUNDS", 3);
    let mut d = Daemon::start_with("[jobs]\nworkers = 2\nlease_ms = 1000\nretry_base_ms = 50\n");
    let csv = d.dir.path().join("bars.csv");
    big_csv(&csv);
    {
        let mut c = d.client();
        call(
            &mut c,
            "jobs.schedules.create",
            &json!({ "name": "every-minute", "cron": "* * * * *", "kind": "risk.report", "missed": "run_once" }),
        );
    }
    let started = Instant::now();
    let mut enqueued = 0;
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    for round in 0..n {
        let mut c = d.client();
        for i in 0..60 {
            let key = format!("r{round}-{i}");
            let p = if i % 10 == 0 {
                // Imports: one attempt, or three.
                json!({ "kind": "data.import", "idempotency_key": key, "max_attempts": 1 + (i / 10) % 2 * 2,
                        "payload": { "path": csv, "symbol": "CRASHUSD", "name": key } })
            } else {
                json!({ "kind": "risk.report", "idempotency_key": key })
            };
            call(&mut c, "jobs.enqueue", &p);
            enqueued += 1;
        }
        drop(c);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(50 + seed % 400));
        d.kill9();
        d.spawn();
    }
    let jobs = settled(&d);
    let keys: Vec<&str> = jobs
        .iter()
        .filter_map(|j| j["idempotency_key"].as_str())
        .collect();
    let mut unique = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    let ours = jobs
        .iter()
        .filter(|j| {
            j["idempotency_key"]
                .as_str()
                .is_some_and(|k| k.starts_with('r'))
        })
        .count();
    let slots = keys.iter().filter(|k| k.starts_with("schedule:")).count();
    let crashed: Vec<&Value> = jobs
        .iter()
        .filter(|j| j["error"] == "daemon_crash")
        .collect();
    let bad: Vec<&&Value> = crashed
        .iter()
        .filter(|j| j["state"] != "dead" || j["attempts"] != j["max_attempts"])
        .collect();
    let succeeded_imports = jobs
        .iter()
        .filter(|j| j["kind"] == "data.import" && j["state"] == "succeeded")
        .count();
    // Each visible dataset was made by exactly one import job, which
    // succeeded — or was killed in the instant between its last write and
    // its settling while on its last attempt (then it is dead, its dataset
    // whole): never two datasets for a job, never half of one.
    let made_by: Vec<i64> = rusqlite::Connection::open(d.db_path())
        .expect("db")
        .prepare("SELECT job_id FROM datasets WHERE importing = 0")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    let datasets = made_by.len();
    let state_of = |id: i64| {
        jobs.iter().find(|j| j["id"].as_i64() == Some(id)).map(|j| {
            (
                j["state"].as_str().unwrap_or_default().to_owned(),
                j["error"].clone(),
            )
        })
    };
    let done_but_dead = made_by
        .iter()
        .filter(|id| state_of(**id).is_some_and(|(s, e)| s == "dead" && e == "daemon_crash"))
        .count();
    let mut jobs_with_datasets = made_by.clone();
    jobs_with_datasets.sort_unstable();
    jobs_with_datasets.dedup();
    let hidden: i64 = rusqlite::Connection::open(d.db_path())
        .expect("db")
        .query_row(
            "SELECT count(*) FROM datasets WHERE importing = 1",
            [],
            |r| r.get(0),
        )
        .expect("count");
    figure("jobs under kill -9", "rounds", n);
    figure(
        "jobs under kill -9",
        "jobs enqueued / found",
        format!("{enqueued} / {ours}"),
    );
    figure("jobs under kill -9", "left running or queued", 0);
    figure(
        "jobs under kill -9",
        "keys or slots run twice",
        keys.len() - unique.len(),
    );
    figure("jobs under kill -9", "schedule slots fired", slots);
    figure(
        "jobs under kill -9",
        "dead after a crash on their last attempt",
        crashed.len(),
    );
    figure(
        "jobs under kill -9",
        "imports succeeded / datasets visible / half-written left",
        format!("{succeeded_imports} / {datasets} / {hidden}"),
    );
    figure(
        "jobs under kill -9",
        "time",
        format!("{:.1} s", started.elapsed().as_secs_f64()),
    );
    assert_eq!(ours, enqueued, "no job lost");
    assert_eq!(unique.len(), keys.len(), "no key or slot ran twice");
    assert!(
        bad.is_empty(),
        "crashed jobs end dead on their last attempt only: {bad:?}"
    );
    assert_eq!(jobs_with_datasets.len(), datasets, "one dataset per job");
    assert_eq!(
        datasets,
        succeeded_imports + done_but_dead,
        "an import is all or nothing"
    );
    assert_eq!(hidden, 0, "no half-written import is left");
}
