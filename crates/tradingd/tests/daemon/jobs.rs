//! The job queue on a real daemon.

use std::time::Duration;

use serde_json::{Value, json};
use tradedesk_core::client::Client;

use super::support::{TestDaemon, call, call_err, settled};

/// Waits until a job reaches a final state.
#[test]
fn jobs_run_report_and_enqueue_idempotently() {
    let d = TestDaemon::start();
    let mut c = d.client();
    let a = call(
        &mut c,
        "jobs.enqueue",
        json!({ "kind": "risk.report", "idempotency_key": "daily-1" }),
    );
    let b = call(
        &mut c,
        "jobs.enqueue",
        json!({ "kind": "risk.report", "idempotency_key": "daily-1" }),
    );
    assert_eq!(a["id"], b["id"], "the same key returns the first job");
    let j = settled(&mut c, &a["id"]);
    assert_eq!(j["state"], "succeeded", "{j}");
    assert_eq!(j["progress"], 100);
    assert!(j["result"]["states"].is_array(), "{j}");
    let p = call(
        &mut c,
        "jobs.enqueue",
        json!({ "kind": "maintenance.prune", "payload": { "older_than_days": 7 } }),
    );
    let j = settled(&mut c, &p["id"]);
    assert_eq!(j["state"], "succeeded", "{j}");
    assert!(j["result"]["klines_1m"].is_u64(), "{j}");
    let v = call(
        &mut c,
        "jobs.enqueue",
        json!({ "kind": "maintenance.vacuum" }),
    );
    assert_eq!(settled(&mut c, &v["id"])["state"], "succeeded");
    let stats = call(&mut c, "jobs.stats", json!({}));
    assert!(
        stats["finished_last_hour"].as_u64().expect("finished") >= 3,
        "{stats}"
    );
    let vacuum = stats["by_kind"]
        .as_array()
        .expect("by_kind")
        .iter()
        .find(|k| k["kind"] == "maintenance.vacuum")
        .unwrap_or_else(|| panic!("no maintenance.vacuum in {stats}"));
    assert_eq!(vacuum["finished"], 1, "{stats}");
    assert_eq!(vacuum["failure_rate"], 0.0, "{stats}");
    assert!(vacuum["duration_p95_ms"].is_i64(), "{stats}");
    let health = call(&mut c, "jobs.health", json!({}));
    assert_eq!(health["workers"], 2);
    let kinds = call(&mut c, "jobs.kinds", json!({}));
    assert!(
        kinds["items"]
            .as_array()
            .expect("kinds")
            .iter()
            .any(|k| k["name"] == "maintenance.prune")
    );
}

#[test]
fn a_failing_job_retries_with_backoff_then_goes_dead_and_can_be_requeued() {
    let d = TestDaemon::start_with(|c| c.jobs.retry_base_ms = 20);
    let mut c = d.client();
    // A missing file may yet appear: worth another attempt.
    let j = call(
        &mut c,
        "jobs.enqueue",
        json!({ "kind": "data.import", "payload": { "path": "/nonexistent/bars.csv", "symbol": "GOOG" },
                "max_attempts": 3 }),
    );
    let done = settled(&mut c, &j["id"]);
    assert_eq!(done["state"], "dead", "{done}");
    assert_eq!(done["attempts"], 3);
    assert!(
        done["error"]
            .as_str()
            .unwrap_or_default()
            .contains("bars.csv"),
        "{done}"
    );
    // A bot that does not exist never will: dead at the first attempt.
    let missing = call(
        &mut c,
        "jobs.enqueue",
        json!({ "kind": "bot.start", "payload": { "id": 4242 }, "max_attempts": 3 }),
    );
    let gone = settled(&mut c, &missing["id"]);
    assert_eq!(
        (gone["state"].as_str(), gone["attempts"].as_u64()),
        (Some("dead"), Some(1)),
        "{gone}"
    );
    assert!(
        gone["error"].as_str().unwrap_or_default().contains("bot"),
        "{gone}"
    );
    let dead = call(&mut c, "jobs.dead", json!({}));
    assert!(
        dead["items"]
            .as_array()
            .expect("jobs")
            .iter()
            .any(|x| x["id"] == j["id"]),
        "{dead}"
    );
    let (code, msg) = call_err(&mut c, "jobs.cancel", json!({ "id": j["id"] }));
    assert_eq!(code, -32004, "{msg}");
    assert!(msg.contains("is dead"), "{msg}");
    let again = call(&mut c, "jobs.requeue", json!({ "id": j["id"] }));
    assert_eq!(
        (again["state"].as_str(), again["attempts"].as_u64()),
        (Some("queued"), Some(0))
    );
    assert_eq!(settled(&mut c, &j["id"])["state"], "dead");
}

#[test]
fn bad_job_input_is_refused_and_changes_nothing() {
    let d = TestDaemon::start();
    let mut c = d.client();
    for (params, want) in [
        (
            json!({ "kind": "shell", "payload": {} }),
            "field `kind`: unknown job kind `shell`",
        ),
        (
            json!({ "kind": "bot.start", "payload": {} }),
            "field `payload.id`: missing field `id`",
        ),
        (
            json!({ "kind": "risk.report", "payload": { "x": 1 } }),
            "field `payload.x`: unknown field `x`",
        ),
        (
            json!({ "kind": "maintenance.prune", "payload": { "older_than_days": 0 } }),
            "field `payload.older_than_days`",
        ),
        (
            json!({ "kind": "risk.report", "max_attempts": 0 }),
            "field `max_attempts`",
        ),
        (
            json!({ "kind": "risk.report", "priority": 5000 }),
            "field `priority`",
        ),
    ] {
        let (code, msg) = call_err(&mut c, "jobs.enqueue", params.clone());
        assert_eq!(code, -32602, "{params}: {msg}");
        assert!(msg.contains(want), "{params}: `{msg}` lacks `{want}`");
    }
    assert_eq!(call(&mut c, "jobs.list", json!({}))["items"], json!([]));
    let (code, _) = call_err(&mut c, "jobs.get", json!({ "id": 1 }));
    assert_eq!(code, -32006);
    let (code, msg) = call_err(
        &mut c,
        "jobs.purge",
        json!({ "state": "running", "older_than": "2030-01-01T00:00:00Z" }),
    );
    assert_eq!(code, -32602, "{msg}");
    // A job due later waits; cancelling it works once, not twice.
    let j = call(
        &mut c,
        "jobs.enqueue",
        json!({ "kind": "risk.report", "run_at": "2100-01-01T00:00:00Z" }),
    );
    assert_eq!(
        call(&mut c, "jobs.cancel", json!({ "id": j["id"] }))["state"],
        "cancelled"
    );
    let (code, _) = call_err(&mut c, "jobs.cancel", json!({ "id": j["id"] }));
    assert_eq!(code, -32004);
}

#[test]
fn jobs_a_dead_daemon_left_running_are_retried_or_failed_at_start() {
    use tradedesk_core::job::JobState;
    use tradedesk_core::time::Timestamp;
    use tradingd::store::Store;
    use tradingd::store::jobs as db;

    let d = TestDaemon::start();
    let db_path = d.ctx.config.db_path();
    let dir = d.stop();
    // As a crashed daemon leaves them: running, leases in the past.
    {
        let mut s = Store::open(&db_path).expect("store");
        let p = json!({});
        s.write(|tx| -> Result<(), tradingd::store::StoreError> {
            for (max, key) in [(3, "again"), (1, "last")] {
                let job = db::NewJob {
                    kind: "risk.report",
                    payload: &p,
                    priority: 0,
                    max_attempts: max,
                    run_at: Timestamp(0),
                    idempotency_key: Some(key),
                    owner: "admin",
                };
                db::enqueue(tx, &job, Timestamp(0))?;
                db::claim(tx, &["risk.report"], Timestamp(1), Timestamp(2))?;
            }
            Ok(())
        })
        .expect("seed");
        assert_eq!(
            db::expired(s.conn(), Timestamp(i64::MAX))
                .expect("running")
                .len(),
            2
        );
    }
    let d = TestDaemon::start_in(dir, |_| {});
    let mut c = d.client();
    let jobs = call(&mut c, "jobs.list", json!({}));
    let by_key = |k: &str| {
        jobs["items"]
            .as_array()
            .expect("jobs")
            .iter()
            .find(|j| j["idempotency_key"] == k)
            .cloned()
            .expect("job")
    };
    // With attempts left it runs again; without, it is dead (in the dead
    // letters, for a requeue) with the reason.
    let last = by_key("last");
    assert_eq!(
        (last["state"].as_str(), last["error"].as_str()),
        (Some("dead"), Some("daemon_crash"))
    );
    let dead = call(&mut c, "jobs.dead", json!({}));
    assert!(
        dead["items"]
            .as_array()
            .expect("jobs")
            .iter()
            .any(|j| j["id"] == last["id"]),
        "{dead}"
    );
    let again = by_key("again");
    let done = settled(&mut c, &again["id"]);
    assert_eq!(done["state"], JobState::Succeeded.as_str(), "{done}");
    assert_eq!(done["attempts"], 2);
}

fn jobs_of(c: &mut Client, schedule: &Value) -> Vec<Value> {
    let prefix = format!("schedule:{}:", schedule["id"]);
    call(c, "jobs.list", json!({ "limit": 1000 }))["items"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter(|j| {
            j["idempotency_key"]
                .as_str()
                .is_some_and(|k| k.starts_with(&prefix))
        })
        .cloned()
        .collect()
}

/// Waits until the scheduler has made `n` jobs for a schedule.
fn wait_jobs(c: &mut Client, schedule: &Value, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let j = jobs_of(c, schedule);
        if j.len() >= n {
            return j;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("schedule {schedule} did not fire {n} times");
}

#[test]
fn schedules_fire_each_slot_once_across_restarts_and_follow_the_missed_run_policy() {
    let d = TestDaemon::manual_clock(tradingd::Options::default());
    let mut c = d.client();
    let every5 = call(
        &mut c,
        "jobs.schedules.create",
        json!({ "name": "five", "cron": "*/5 * * * *", "kind": "risk.report" }),
    );
    let once = call(
        &mut c,
        "jobs.schedules.create",
        json!({ "name": "catch-up", "cron": "*/5 * * * *", "kind": "risk.report", "missed": "run_once" }),
    );
    let start = d.ctx.now().millis();
    assert_eq!(
        every5["next_run"],
        json!(tradedesk_core::time::Timestamp(start - 1 + 300_000))
    );
    d.ctx.advance(300_000);
    let fired = wait_jobs(&mut c, &every5, 1);
    assert_eq!(
        fired[0]["idempotency_key"],
        format!("schedule:{}:{}", every5["id"], start - 1 + 300_000)
    );
    d.ctx.advance(300_000);
    wait_jobs(&mut c, &every5, 2);
    wait_jobs(&mut c, &once, 2);

    // Paused: no slot fires.
    call(
        &mut c,
        "jobs.schedules.pause",
        json!({ "id": every5["id"] }),
    );
    d.ctx.advance(300_000);
    wait_jobs(&mut c, &once, 3);
    assert_eq!(jobs_of(&mut c, &every5).len(), 2);
    let resumed = call(
        &mut c,
        "jobs.schedules.resume",
        json!({ "id": every5["id"] }),
    );
    assert!(resumed["next_run"].as_str().is_some());

    // Down for an hour: `skip` fires nothing for the missed slots, `run_once` fires one.
    let clock = d.ctx.now();
    drop(c);
    let dir = d.stop();
    let d = TestDaemon::manual_clock_in(
        dir,
        tradingd::Options {
            manual_clock: Some(tradedesk_core::time::Timestamp(clock.millis() + 3_600_000)),
            ..tradingd::Options::default()
        },
    );
    let mut c = d.client();
    wait_jobs(&mut c, &once, 4);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        jobs_of(&mut c, &once).len(),
        4,
        "one run for all the missed slots"
    );
    assert_eq!(jobs_of(&mut c, &every5).len(), 2, "missed slots skipped");
    let s = call(&mut c, "jobs.schedules.get", json!({ "id": every5["id"] }));
    let next =
        chrono::DateTime::parse_from_rfc3339(s["next_run"].as_str().expect("next")).expect("time");
    assert!(next.timestamp_millis() > d.ctx.now().millis(), "{s}");
    // Every slot key is unique: no slot fired twice.
    let all = call(&mut c, "jobs.list", json!({ "limit": 1000 }));
    let mut keys: Vec<&str> = all["items"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["idempotency_key"].as_str())
        .collect();
    let n = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), n);
    // run_now enqueues outside the slots; preview lists the next runs.
    let j = call(
        &mut c,
        "jobs.schedules.run_now",
        json!({ "id": once["id"] }),
    );
    assert_eq!(j["kind"], "risk.report");
    let p = call(
        &mut c,
        "jobs.schedules.preview",
        json!({ "cron": "0 2 * * *", "tz": "America/New_York", "count": 3 }),
    );
    assert_eq!(p["runs"].as_array().expect("runs").len(), 3);
}

#[test]
fn bad_schedules_are_refused_with_the_part_named() {
    let d = TestDaemon::start();
    let mut c = d.client();
    for (params, want) in [
        (
            json!({ "name": "a", "cron": "0 25 * * *", "kind": "risk.report" }),
            "field `cron`: the hour field `25` is not valid",
        ),
        (
            json!({ "name": "a", "cron": "0 2 * *", "kind": "risk.report" }),
            "field `cron`: `0 2 * *` has 4 fields",
        ),
        (
            json!({ "name": "a", "cron": "0 2 * * *", "tz": "Moon/Base", "kind": "risk.report" }),
            "field `tz`",
        ),
        (
            json!({ "name": "a", "cron": "0 2 * * *", "kind": "shell" }),
            "field `kind`: unknown job kind `shell`",
        ),
        (
            json!({ "name": "a", "cron": "0 2 * * *", "kind": "bot.stop" }),
            "field `payload.id`",
        ),
    ] {
        let (code, msg) = call_err(&mut c, "jobs.schedules.create", params.clone());
        assert_eq!(code, -32602, "{params}: {msg}");
        assert!(msg.contains(want), "{params}: `{msg}` lacks `{want}`");
    }
    assert_eq!(
        call(&mut c, "jobs.schedules.list", json!({}))["items"],
        json!([])
    );
}

/// A test job kind that works in steps of 10 ms, checking between them.
fn slow_run(
    run: &tradingd::services::jobs::JobRun<'_>,
) -> Result<Value, tradingd::services::jobs::JobError> {
    let steps = run.job.payload["steps"].as_u64().unwrap_or(10);
    for i in 0..steps {
        run.progress((i * 100 / steps) as u8, "working")?;
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(json!({ "steps": steps }))
}

#[allow(clippy::unnecessary_wraps)] // the signature of `JobKind::validate`
fn slow_validate(v: &Value) -> Result<Value, String> {
    Ok(if v.is_null() { json!({}) } else { v.clone() })
}

fn slow_schema() -> Value {
    json!({ "type": "object" })
}

static SLOW: tradedesk_core::job::JobKind = tradedesk_core::job::JobKind {
    name: "test.slow",
    summary: "Works in 10 ms steps (a test kind).",
    schema: slow_schema,
    validate: slow_validate,
    max_attempts: 1,
    timeout_ms: 300,
    concurrency: 2,
};

#[test]
fn a_running_job_is_cancelled_at_its_next_check_and_a_slow_one_times_out() {
    let dir = tempfile::tempdir().expect("dir");
    let config = tradingd::config::Config::for_dir(dir.path());
    let d = TestDaemon::try_start_with(
        dir,
        config,
        tradingd::Options {
            job_kinds: tradingd::services::jobs::JobKinds::builtin().with(&SLOW, slow_run),
            ..tradingd::Options::default()
        },
    )
    .expect("daemon");
    let mut c = d.client();
    let j = call(
        &mut c,
        "jobs.enqueue",
        json!({ "kind": "test.slow", "payload": { "steps": 1000 } }),
    );
    // Wait until it runs, then cancel it.
    for _ in 0..200 {
        if call(&mut c, "jobs.get", json!({ "id": j["id"] }))["state"] == "running" {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let workers = call(&mut c, "jobs.workers", json!({}));
    assert!(
        workers["items"]
            .as_array()
            .expect("w")
            .iter()
            .any(|w| w["job"] == j["id"]),
        "{workers}"
    );
    call(&mut c, "jobs.cancel", json!({ "id": j["id"] }));
    let done = settled(&mut c, &j["id"]);
    assert_eq!(done["state"], "cancelled", "{done}");
    assert!(done["progress"].as_u64().expect("progress") < 100);
    // 1000 steps of 10 ms is past its 300 ms timeout: one attempt, then dead.
    let t = call(
        &mut c,
        "jobs.enqueue",
        json!({ "kind": "test.slow", "payload": { "steps": 1000 } }),
    );
    let done = settled(&mut c, &t["id"]);
    assert_eq!(
        (done["state"].as_str(), done["error"].as_str()),
        (Some("dead"), Some("timed out")),
        "{done}"
    );
    // A short one succeeds.
    let ok = call(
        &mut c,
        "jobs.enqueue",
        json!({ "kind": "test.slow", "payload": { "steps": 3 } }),
    );
    assert_eq!(settled(&mut c, &ok["id"])["state"], "succeeded");
}
