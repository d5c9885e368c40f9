//! `tradectl job …`: the background job queue.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Subcommand;
use tradedesk_core::api::Empty;
use tradedesk_core::api::jobs::{
    DeadFilter, Enqueue, JobFilter, JobId, JobsCancel, JobsDead, JobsDelete, JobsEnqueue, JobsGet,
    JobsHealth, JobsKinds, JobsList, JobsRequeue, JobsRetry, JobsStats, JobsWorkers,
};
use tradedesk_core::api::paging::Page;
use tradedesk_core::client::Client;
use tradedesk_core::job::{JobRecord, JobState};
use tradedesk_core::time::Timestamp;

use crate::format::{Table, ts};
use crate::{Ctx, Failure};

#[derive(Subcommand)]
pub enum Job {
    /// The job kinds and their payloads.
    Kinds,
    /// Enqueue a job: `tradectl job enqueue maintenance.vacuum --wait`.
    Enqueue {
        kind: String,
        /// The payload as a JSON object.
        #[arg(long, value_name = "JSON")]
        payload: Option<String>,
        #[arg(long)]
        priority: Option<i32>,
        #[arg(long)]
        max_attempts: Option<u32>,
        /// Enqueueing again with the same key returns the first job.
        #[arg(long = "key", value_name = "KEY")]
        idempotency_key: Option<String>,
        /// Wait for it to finish; the exit code is the job's (0 succeeded).
        #[arg(long)]
        wait: bool,
    },
    /// One job.
    Show { id: u64 },
    /// Jobs, newest first.
    List {
        /// queued, running, succeeded, failed, cancelled, dead.
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Wait for a job to finish; exit 0 if it succeeded, 1 otherwise.
    Wait { id: u64 },
    /// Cancel a queued or running job.
    Cancel { id: u64 },
    /// Run a failed, dead or cancelled job again.
    Retry { id: u64 },
    /// The dead-letter list.
    Dead,
    /// Put a dead job back in the queue.
    Requeue { id: u64 },
    /// Delete a job that is not running.
    Delete { id: u64 },
    /// Counts, durations, throughput, failure rate.
    Stats,
    /// Lag, oldest queued job, workers busy and idle.
    Health,
    /// The workers and their jobs.
    Workers,
}

fn table(jobs: &[JobRecord]) -> String {
    let mut t = Table::new(&[
        "id", "kind", "state", "attempts", "progress", "run at", "error",
    ]);
    for j in jobs {
        t.row(vec![
            j.id.to_string(),
            j.kind.clone(),
            j.state.as_str().to_owned(),
            format!("{}/{}", j.attempts, j.max_attempts),
            format!("{}%", j.progress),
            ts(j.run_at),
            j.error.clone().unwrap_or_default(),
        ]);
    }
    t.to_string()
}

fn show(ctx: &Ctx, j: &JobRecord) {
    ctx.emit(j, || {
        out!("{}", table(std::slice::from_ref(j)));
        if let Some(r) = &j.result {
            outln!("result {r}");
        }
    });
}

/// Polls a job until it is final; a progress line on a terminal; prints
/// the job at the end.
pub(crate) fn wait(ctx: &Ctx, c: &mut Client, id: u64) -> Result<(), Failure> {
    wait_for(ctx, c, id, true)
}

/// As `wait`, without printing the job (the caller prints its outcome).
pub(crate) fn wait_quietly(ctx: &Ctx, c: &mut Client, id: u64) -> Result<(), Failure> {
    wait_for(ctx, c, id, false)
}

fn wait_for(ctx: &Ctx, c: &mut Client, id: u64, print: bool) -> Result<(), Failure> {
    let tty = std::io::stderr().is_terminal() && !ctx.json;
    loop {
        let j = c.call::<JobsGet>(&JobId { id })?;
        if tty {
            let bar = "#".repeat(usize::from(j.progress) / 5);
            eprint!(
                "\r{} {:<20} {:>3}% {} {}",
                j.kind,
                bar,
                j.progress,
                j.state.as_str(),
                j.message.clone().unwrap_or_default()
            );
            let _ = std::io::stderr().flush();
        }
        if j.state.is_final() {
            if tty {
                eprintln!();
            }
            if print {
                show(ctx, &j);
            }
            return if j.state == JobState::Succeeded {
                Ok(())
            } else {
                Err(Failure::Other(format!(
                    "job {id} {}: {}",
                    j.state.as_str(),
                    j.error.unwrap_or_default()
                )))
            };
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[allow(clippy::too_many_lines)] // one arm per command
pub fn job(ctx: &Ctx, cmd: Job) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    match cmd {
        Job::Kinds => {
            let k = Page::whole(c.all::<JobsKinds, _>()?);
            ctx.emit(&k, || {
                let mut t = Table::new(&["kind", "attempts", "timeout", "summary"]);
                for k in &k.items {
                    t.row(vec![
                        k.name.clone(),
                        k.max_attempts.to_string(),
                        format!("{}s", k.timeout_ms / 1000),
                        k.summary.clone(),
                    ]);
                }
                out!("{t}");
            });
        }
        Job::Enqueue {
            kind,
            payload,
            priority,
            max_attempts,
            idempotency_key,
            wait: and_wait,
        } => {
            let payload = match payload {
                Some(p) => serde_json::from_str(&p)
                    .map_err(|e| Failure::Usage(format!("--payload is not valid JSON: {e}")))?,
                None => serde_json::Value::Null,
            };
            let j = c.call::<JobsEnqueue>(&Enqueue {
                kind,
                payload,
                priority,
                max_attempts,
                idempotency_key,
                run_at: None::<Timestamp>,
            })?;
            if and_wait {
                return wait(ctx, &mut c, j.id);
            }
            show(ctx, &j);
        }
        Job::Show { id } => show(ctx, &c.call::<JobsGet>(&JobId { id })?),
        Job::List {
            state,
            kind,
            limit,
            cursor,
        } => {
            let state = state
                .map(|s| {
                    JobState::parse(&s).ok_or_else(|| {
                        Failure::Usage(format!(
                            "--state `{s}`: queued, running, succeeded, failed, cancelled or dead"
                        ))
                    })
                })
                .transpose()?;
            let page = c.call::<JobsList>(&JobFilter {
                state,
                kind,
                limit,
                cursor,
            })?;
            ctx.emit(&page, || {
                out!("{}", table(&page.items));
                if let Some(next) = &page.next_cursor {
                    outln!("more: --cursor {next}");
                }
            });
        }
        Job::Wait { id } => return wait(ctx, &mut c, id),
        Job::Cancel { id } => show(ctx, &c.call::<JobsCancel>(&JobId { id })?),
        Job::Retry { id } => show(ctx, &c.call::<JobsRetry>(&JobId { id })?),
        Job::Requeue { id } => show(ctx, &c.call::<JobsRequeue>(&JobId { id })?),
        Job::Dead => {
            let page = c.call::<JobsDead>(&DeadFilter::default())?;
            ctx.emit(&page, || {
                out!("{}", table(&page.items));
            });
        }
        Job::Delete { id } => {
            let r = c.call::<JobsDelete>(&JobId { id })?;
            ctx.emit(&r, || {
                outln!("deleted job {}", r.id);
            });
        }
        Job::Stats => {
            let s = c.call::<JobsStats>(&Empty {})?;
            ctx.emit(&s, || {
                let mut t = Table::new(&["kind", "state", "count"]);
                for k in &s.counts {
                    t.row(vec![
                        k.kind.clone(),
                        k.state.as_str().to_owned(),
                        k.count.to_string(),
                    ]);
                }
                out!("{t}");
                outln!(
                    "last hour: {} finished, p50 {} ms, p95 {} ms, failure rate {}",
                    s.finished_last_hour,
                    s.duration_p50_ms
                        .map_or_else(|| "-".into(), |v| v.to_string()),
                    s.duration_p95_ms
                        .map_or_else(|| "-".into(), |v| v.to_string()),
                    s.failure_rate
                        .map_or_else(|| "-".into(), |v| format!("{:.1} %", v * 100.0))
                );
                if !s.by_kind.is_empty() {
                    let mut t = Table::new(&["kind", "finished", "p50 ms", "p95 ms", "failures"]);
                    let opt = |v: Option<i64>| v.map_or_else(|| "-".into(), |v| v.to_string());
                    for k in &s.by_kind {
                        t.row(vec![
                            k.kind.clone(),
                            k.finished.to_string(),
                            opt(k.duration_p50_ms),
                            opt(k.duration_p95_ms),
                            k.failure_rate
                                .map_or_else(|| "-".into(), |v| format!("{:.1} %", v * 100.0)),
                        ]);
                    }
                    out!("{t}");
                }
            });
        }
        Job::Health => {
            let h = c.call::<JobsHealth>(&Empty {})?;
            ctx.emit(&h, || {
                outln!(
                    "workers {} (busy {}, idle {}), due {}, lag {}",
                    h.workers,
                    h.busy,
                    h.idle,
                    h.queued_due,
                    h.lag_ms.map_or_else(|| "-".into(), |l| format!("{l} ms"))
                );
            });
        }
        Job::Workers => {
            let w = Page::whole(c.all::<JobsWorkers, _>()?);
            ctx.emit(&w, || {
                let mut t = Table::new(&["worker", "job", "kind", "since"]);
                for x in &w.items {
                    t.row(vec![
                        x.worker.to_string(),
                        x.job.map_or_else(|| "-".into(), |j| j.to_string()),
                        x.kind.clone().unwrap_or_else(|| "idle".into()),
                        x.since.map_or_else(|| "-".into(), ts),
                    ]);
                }
                out!("{t}");
            });
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum Schedule {
    /// Create: `tradectl schedule create nightly "0 2 * * *" maintenance.vacuum --tz Europe/Berlin`.
    Create {
        name: String,
        /// Five fields (minute hour day-of-month month day-of-week) or @hourly, @daily, …
        cron: String,
        kind: String,
        #[arg(long, default_value = "UTC")]
        tz: String,
        #[arg(long, value_name = "JSON")]
        payload: Option<String>,
        #[arg(long)]
        priority: Option<i32>,
        /// Run missed slots once after a downtime (default: skip them).
        #[arg(long)]
        run_missed: bool,
        #[arg(long)]
        paused: bool,
    },
    /// Schedules with their next run.
    List,
    Show {
        id: u64,
    },
    /// Change the expression, zone or payload.
    Update {
        id: u64,
        #[arg(long)]
        cron: Option<String>,
        #[arg(long)]
        tz: Option<String>,
        #[arg(long, value_name = "JSON")]
        payload: Option<String>,
    },
    Pause {
        id: u64,
    },
    Resume {
        id: u64,
    },
    /// Enqueue the schedule's job now.
    RunNow {
        id: u64,
    },
    /// The next run times: of a schedule (`--id`) or an expression.
    Preview {
        cron: Option<String>,
        #[arg(long)]
        id: Option<u64>,
        #[arg(long)]
        tz: Option<String>,
        #[arg(long, default_value_t = 5)]
        count: u32,
    },
    Delete {
        id: u64,
    },
}

fn json_arg(flag: &str, v: Option<String>) -> Result<Option<serde_json::Value>, Failure> {
    v.map(|p| {
        serde_json::from_str(&p)
            .map_err(|e| Failure::Usage(format!("{flag} is not valid JSON: {e}")))
    })
    .transpose()
}

/// A time in a schedule's zone, labelled, with UTC beside it when the zone
/// is another: `2026-12-07 02:00:00 CET (01:00:00 UTC)`.
fn in_zone(t: tradedesk_core::time::Timestamp, tz: &str) -> String {
    let (Some(utc), Ok(zone)) = (t.to_datetime(), tz.parse::<chrono_tz::Tz>()) else {
        return ts(t);
    };
    let local = utc.with_timezone(&zone);
    let shown = local.format("%Y-%m-%d %H:%M:%S %Z").to_string();
    if zone == chrono_tz::UTC {
        shown
    } else {
        format!("{shown} ({} UTC)", utc.format("%H:%M:%S"))
    }
}

fn schedules_table(list: &[tradedesk_core::job::Schedule]) -> String {
    let mut t = Table::new(&[
        "id", "name", "cron", "tz", "kind", "next run", "last run", "state",
    ]);
    for s in list {
        t.row(vec![
            s.id.to_string(),
            s.name.clone(),
            s.cron.clone(),
            s.tz.clone(),
            s.kind.clone(),
            s.next_run.map_or_else(|| "-".into(), |t| in_zone(t, &s.tz)),
            s.last_run.map_or_else(|| "-".into(), |t| in_zone(t, &s.tz)),
            if s.paused { "paused" } else { "active" }.to_owned(),
        ]);
    }
    t.to_string()
}

pub fn schedule(ctx: &Ctx, cmd: Schedule) -> Result<(), Failure> {
    use tradedesk_core::api::schedules::{
        PreviewParams, ScheduleCreate, ScheduleId, SchedulePage, ScheduleUpdate, SchedulesCreate,
        SchedulesDelete, SchedulesGet, SchedulesList, SchedulesPause, SchedulesPreview,
        SchedulesResume, SchedulesRunNow, SchedulesUpdate,
    };
    let mut c = ctx.connect()?;
    let one = |ctx: &Ctx, s: &tradedesk_core::job::Schedule| {
        ctx.emit(s, || {
            out!("{}", schedules_table(std::slice::from_ref(s)));
        });
    };
    match cmd {
        Schedule::Create {
            name,
            cron,
            kind,
            tz,
            payload,
            priority,
            run_missed,
            paused,
        } => {
            let s = c.call::<SchedulesCreate>(&ScheduleCreate {
                name,
                cron,
                tz,
                kind,
                payload: json_arg("--payload", payload)?.unwrap_or(serde_json::Value::Null),
                priority,
                missed: if run_missed {
                    tradedesk_core::job::Missed::RunOnce
                } else {
                    tradedesk_core::job::Missed::Skip
                },
                paused,
            })?;
            one(ctx, &s);
        }
        Schedule::List => {
            let l = c.call::<SchedulesList>(&SchedulePage::default())?;
            ctx.emit(&l, || {
                out!("{}", schedules_table(&l.items));
            });
        }
        Schedule::Show { id } => one(ctx, &c.call::<SchedulesGet>(&ScheduleId { id })?),
        Schedule::Update {
            id,
            cron,
            tz,
            payload,
        } => one(
            ctx,
            &c.call::<SchedulesUpdate>(&ScheduleUpdate {
                id,
                name: None,
                cron,
                tz,
                payload: json_arg("--payload", payload)?,
                priority: None,
                missed: None,
            })?,
        ),
        Schedule::Pause { id } => one(ctx, &c.call::<SchedulesPause>(&ScheduleId { id })?),
        Schedule::Resume { id } => one(ctx, &c.call::<SchedulesResume>(&ScheduleId { id })?),
        Schedule::RunNow { id } => show(ctx, &c.call::<SchedulesRunNow>(&ScheduleId { id })?),
        Schedule::Preview {
            cron,
            id,
            tz,
            count,
        } => {
            let p = c.call::<SchedulesPreview>(&PreviewParams {
                id,
                cron,
                tz,
                count: Some(count),
            })?;
            ctx.emit(&p, || {
                for r in &p.runs {
                    outln!("{}", in_zone(*r, &p.tz));
                }
            });
        }
        Schedule::Delete { id } => {
            let r = c.call::<SchedulesDelete>(&ScheduleId { id })?;
            ctx.emit(&r, || {
                outln!("deleted schedule {}", r.id);
            });
        }
    }
    Ok(())
}
