//! The job worker pool: workers take due jobs from the durable queue under
//! a lease, run them, and settle them (succeeded; retried with backoff;
//! dead after the last attempt; cancelled). A keeper renews the leases of
//! running jobs; at start, jobs a dead daemon left `running` are retried
//! or dead with reason `daemon_crash`: never stuck, never lost.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::store::jobs as db;
use tradedesk_core::api::Caller;
use tradedesk_core::api::jobs::{JobEvents, WorkerView};
use tradedesk_core::job::{self, JobRecord, JobState};
use tradedesk_core::time::Timestamp;

use crate::context::Ctx;
use crate::services::progress::Part;

pub(crate) mod backtest;
mod download;
pub(crate) mod import;
pub mod kinds;

/// Why an attempt did not succeed.
#[derive(Debug)]
pub enum JobError {
    Cancelled,
    /// Worth another attempt (after a backoff) while attempts remain.
    Failed(String),
    /// No attempt can succeed (the bot does not exist, the payload is
    /// wrong): dead at once, whatever attempts remain.
    Permanent(String),
}

impl JobError {
    /// A method's error as a job's: requests that cannot become right by
    /// waiting (bad params, unknown ids, an illegal transition) are permanent.
    pub fn from_api(e: &tradedesk_core::api::ApiError) -> JobError {
        use tradedesk_core::api::ErrorCode;
        match e.kind() {
            Some(
                ErrorCode::InvalidParams
                | ErrorCode::NotFound
                | ErrorCode::IllegalTransition
                | ErrorCode::Forbidden,
            ) => JobError::Permanent(e.message.clone()),
            _ => JobError::Failed(e.message.clone()),
        }
    }
}

/// What a running job can see and do.
pub struct JobRun<'a> {
    pub ctx: &'a Ctx,
    pub job: JobRecord,
    cancel: Arc<AtomicBool>,
    deadline: Timestamp,
    worker: usize,
}

impl JobRun<'_> {
    /// The job's owner as a caller, with the role they hold now: a job does
    /// only what its owner could do by hand (a schedule's jobs too).
    pub fn caller(&self) -> Result<Caller, JobError> {
        let owner = &self.job.owner;
        let row = crate::store::users::by_name(self.ctx.store().conn(), owner)
            .map_err(failed)?
            .ok_or_else(|| JobError::Permanent(format!("its owner `{owner}` no longer exists")))?;
        if row.view.disabled {
            return Err(JobError::Permanent(format!(
                "its owner `{owner}` is disabled"
            )));
        }
        Ok(Caller {
            user: owner.clone(),
            scope: row.view.role.scope(),
            transport: tradedesk_core::api::Transport::Internal,
            connection: None,
            peer: None,
        })
    }

    /// Stops the job here if it was cancelled or ran out of time. Each call
    /// counts as the worker's progress for `system.health`.
    pub fn check(&self) -> Result<(), JobError> {
        self.ctx.progress.beat(Part::Worker(self.worker));
        if self.cancel.load(Ordering::SeqCst) || self.ctx.shutdown.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        if self.ctx.now() > self.deadline {
            return Err(JobError::Failed("timed out".into()));
        }
        Ok(())
    }

    /// Records progress (0–100) and renews the lease.
    pub fn progress(&self, pct: u8, message: &str) -> Result<(), JobError> {
        self.check()?;
        let lease = lease_until(self.ctx, self.ctx.now());
        let _ = self.ctx.store().write_relaxed(|tx| {
            db::heartbeat(tx, self.job.id, lease, Some((pct.min(100), Some(message))))
        });
        if let Ok(Some(j)) = db::get(self.ctx.store().conn(), self.job.id) {
            self.ctx.hub.publish_to::<JobEvents>(Some(&j.owner), &j);
        }
        Ok(())
    }
}

/// What runs one attempt of a job kind.
pub type Runner = fn(&JobRun<'_>) -> Result<serde_json::Value, JobError>;

/// A job's attempt failed for a reason that may pass on a retry.
pub(crate) fn failed(e: impl std::fmt::Display) -> JobError {
    JobError::Failed(e.to_string())
}

/// The job kinds a daemon runs: the built-ins, plus any an embedding
/// program adds (as with strategies).
#[derive(Clone)]
pub struct JobKinds {
    kinds: Vec<(&'static job::JobKind, Runner)>,
}

impl JobKinds {
    pub fn builtin() -> JobKinds {
        // Both lists come from `job_kinds!`, in the same order (tested).
        JobKinds {
            kinds: job::KINDS
                .iter()
                .zip(kinds::builtin())
                .map(|(k, (_, run))| (k, run))
                .collect(),
        }
    }

    /// Adds (or replaces, by name) a kind and its runner.
    #[must_use]
    pub fn with(mut self, kind: &'static job::JobKind, run: Runner) -> JobKinds {
        self.kinds.retain(|(k, _)| k.name != kind.name);
        self.kinds.push((kind, run));
        self
    }

    pub fn find(&self, name: &str) -> Option<(&'static job::JobKind, Runner)> {
        self.kinds.iter().copied().find(|(k, _)| k.name == name)
    }

    pub fn all(&self) -> impl Iterator<Item = &'static job::JobKind> + '_ {
        self.kinds.iter().map(|(k, _)| *k)
    }
}

impl Default for JobKinds {
    fn default() -> Self {
        JobKinds::builtin()
    }
}

#[derive(Debug, Clone, Default)]
struct Slot {
    job: Option<(u64, String, Timestamp)>,
}

#[derive(Default)]
pub struct Jobs {
    pub kinds: JobKinds,
    slots: Mutex<Vec<Slot>>,
    cancels: Mutex<HashMap<u64, Arc<AtomicBool>>>,
    /// Rung when a job is enqueued or may have become claimable.
    wake: Signal,
    /// Rung when a schedule's next slot may have moved earlier.
    pub schedules_changed: Signal,
    /// Enqueues from concurrent callers share commits.
    pub enqueues: super::group_commit::GroupCommit<(JobRecord, bool)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A wake-up call for sleeping threads that no ring is missed by: a
/// thread reads `seen()` before it looks for work, and `wait` returns at
/// once if the signal was rung since.
#[derive(Default)]
pub struct Signal {
    rung: Mutex<u64>,
    cv: Condvar,
}

impl Signal {
    pub fn ring(&self) {
        let mut rung = lock(&self.rung);
        *rung = rung.wrapping_add(1);
        self.cv.notify_all();
    }

    pub fn seen(&self) -> u64 {
        *lock(&self.rung)
    }

    /// Sleeps until rung after `seen`, or for `timeout`.
    pub fn wait(&self, seen: u64, timeout: Duration) {
        let g = lock(&self.rung);
        if *g == seen {
            let _ = self
                .cv
                .wait_timeout(g, timeout)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Jobs {
    pub fn new(workers: usize, kinds: JobKinds) -> Jobs {
        Jobs {
            kinds,
            slots: Mutex::new(vec![Slot::default(); workers]),
            ..Jobs::default()
        }
    }

    /// Wakes the workers (a job was enqueued or became due).
    pub fn wake(&self) {
        self.wake.ring();
    }

    /// Asks a running job to stop; true when it was running here.
    pub fn request_cancel(&self, id: u64) -> bool {
        lock(&self.cancels)
            .get(&id)
            .map(|f| f.store(true, Ordering::SeqCst))
            .is_some()
    }

    pub fn workers(&self) -> Vec<WorkerView> {
        lock(&self.slots)
            .iter()
            .enumerate()
            .map(|(i, s)| WorkerView {
                worker: i,
                job: s.job.as_ref().map(|j| j.0),
                kind: s.job.as_ref().map(|j| j.1.clone()),
                since: s.job.as_ref().map(|j| j.2),
            })
            .collect()
    }

    fn running_kinds(&self) -> HashMap<String, u32> {
        let mut out = HashMap::new();
        for s in lock(&self.slots).iter() {
            if let Some((_, k, _)) = &s.job {
                let n = out.entry(k.clone()).or_insert(0_u32);
                *n = n.saturating_add(1);
            }
        }
        out
    }
}

/// When a lease taken at `now` runs out.
fn lease_until(ctx: &Ctx, now: Timestamp) -> Timestamp {
    Timestamp(now.millis().saturating_add(ctx.config.jobs.lease_ms as i64))
}

/// Settles jobs a previous daemon left running: retried when attempts
/// remain, else dead with `daemon_crash`.
pub fn recover(ctx: &Ctx) {
    let now = ctx.now();
    let orphans = match db::expired(ctx.store().conn(), Timestamp(i64::MAX)) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(error = %e, "cannot list orphaned jobs");
            return;
        }
    };
    for j in orphans {
        // Killed on its last attempt: dead, like any job out of attempts,
        // so that `jobs.dead` lists it for a requeue.
        let (state, run_at) = if j.attempts < j.max_attempts {
            (JobState::Queued, Some(now))
        } else {
            (JobState::Dead, None)
        };
        let written = ctx
            .store()
            .write(|tx| db::settle(tx, j.id, state, None, Some("daemon_crash"), run_at, now));
        match written {
            Ok(()) => {
                tracing::warn!(
                    job = j.id,
                    kind = %j.kind,
                    state = state.as_str(),
                    "job was running when the daemon stopped"
                );
            }
            Err(e) => tracing::error!(job = j.id, error = %e, "cannot settle an orphaned job"),
        }
    }
}

/// One worker, until shutdown.
pub fn worker(ctx: &Ctx, index: usize) {
    let jobs = &ctx.jobs;
    while !ctx.shutdown.is_cancelled() {
        ctx.progress.beat(Part::Worker(index));
        let seen = jobs.wake.seen();
        // A panic outside a job's runner (which has its own guard) must not
        // end the worker.
        let turn = catch_unwind(AssertUnwindSafe(|| match claim(ctx) {
            Some(job) => {
                run(ctx, index, &job);
                true
            }
            None => false,
        }));
        match turn {
            Ok(true) => {}
            Ok(false) => jobs.wake.wait(seen, idle_wait(ctx)),
            Err(p) => {
                tracing::error!(worker = index, panic = %super::panic_text(p.as_ref()), "a job worker panicked");
                jobs.wake.wait(seen, Duration::from_millis(250));
            }
        }
    }
}

/// How long an idle worker sleeps unless woken: until the next queued
/// job is due, at most 250 ms (a look now and then also catches what a
/// wake-up missed, such as a job whose kind was at its limit).
fn idle_wait(ctx: &Ctx) -> Duration {
    const MAX_MS: i64 = 250;
    let next = db::next_due(ctx.store().conn()).ok().flatten();
    let ms = next.map_or(MAX_MS, |t| {
        let until = t.millis().saturating_sub(ctx.now().millis());
        if until > 0 { until.min(MAX_MS) } else { MAX_MS }
    });
    Duration::from_millis(ms.unsigned_abs())
}

fn claim(ctx: &Ctx) -> Option<JobRecord> {
    let running = ctx.jobs.running_kinds();
    let ready: Vec<&str> = ctx
        .jobs
        .kinds
        .all()
        .filter(|k| running.get(k.name).copied().unwrap_or(0) < k.concurrency)
        .map(|k| k.name)
        .collect();
    let now = ctx.now();
    // A read first: no write transaction while nothing is due.
    match db::any_due(ctx.store().conn(), now) {
        Ok(false) => return None,
        Ok(true) => {}
        Err(e) => {
            tracing::error!(error = %e, "cannot read the queue");
            return None;
        }
    }
    let lease = lease_until(ctx, now);
    match ctx
        .store()
        .write_relaxed(|tx| db::claim(tx, &ready, now, lease))
    {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(error = %e, "cannot claim a job");
            None
        }
    }
}

fn run(ctx: &Ctx, index: usize, job: &JobRecord) {
    let cancel = Arc::new(AtomicBool::new(false));
    lock(&ctx.jobs.cancels).insert(job.id, Arc::clone(&cancel));
    let started = ctx.now();
    if let Some(s) = lock(&ctx.jobs.slots).get_mut(index) {
        s.job = Some((job.id, job.kind.clone(), started));
    }
    ctx.hub.publish_to::<JobEvents>(Some(&job.owner), job);
    let found = ctx.jobs.kinds.find(&job.kind);
    let timeout = found.map_or(60_000, |(k, _)| k.timeout_ms);
    let run = JobRun {
        ctx,
        deadline: Timestamp(started.millis().saturating_add(timeout as i64)),
        cancel: Arc::clone(&cancel),
        job: job.clone(),
        worker: index,
    };
    let runner: Runner = found.map_or(kinds::unknown as Runner, |(_, r)| r);
    let outcome = catch_unwind(AssertUnwindSafe(|| runner(&run))).unwrap_or_else(|p| {
        Err(JobError::Failed(format!(
            "panicked: {}",
            super::panic_text(p.as_ref())
        )))
    });
    let now = ctx.now();
    let cancelled = cancel.load(Ordering::SeqCst);
    let (state, result, error, run_at) = match outcome {
        Ok(v) if !cancelled => (JobState::Succeeded, Some(v), None, None),
        Ok(_) | Err(JobError::Cancelled) => (
            JobState::Cancelled,
            None,
            Some("cancelled".to_owned()),
            None,
        ),
        Err(JobError::Failed(e)) if job.attempts < job.max_attempts => {
            let delay = job::backoff_ms(
                job.id,
                job.attempts,
                ctx.config.jobs.retry_base_ms,
                ctx.config.jobs.retry_cap_ms,
            );
            (
                JobState::Queued,
                None,
                Some(e),
                Some(Timestamp(now.millis().saturating_add(delay as i64))),
            )
        }
        Err(JobError::Failed(e) | JobError::Permanent(e)) => (JobState::Dead, None, Some(e), None),
    };
    let written = ctx.store().write_relaxed(|tx| {
        db::settle(
            tx,
            job.id,
            state,
            result.as_ref(),
            error.as_deref(),
            run_at,
            now,
        )
    });
    if let Err(e) = written {
        tracing::error!(job = job.id, error = %e, "cannot settle a job");
    }
    lock(&ctx.jobs.cancels).remove(&job.id);
    // Was this kind at its limit? Then a worker may be idle only because
    // of it, and must look again now that a place is free.
    let was_full = found.is_some_and(|(k, _)| {
        ctx.jobs.running_kinds().get(k.name).copied().unwrap_or(0) >= k.concurrency
    });
    if let Some(s) = lock(&ctx.jobs.slots).get_mut(index) {
        s.job = None;
    }
    if let Ok(Some(j)) = db::get(ctx.store().conn(), job.id) {
        ctx.hub.publish_to::<JobEvents>(Some(&j.owner), &j);
    }
    if state == JobState::Queued || was_full {
        ctx.jobs.wake();
    }
}

/// How late a slot may fire and still count as on time; later slots
/// (the daemon was down) follow the schedule's missed-run policy.
const GRACE_MS: i64 = 60_000;

/// Fires due schedule slots, until shutdown.
///
/// It sleeps until the earliest next slot (at most a second, so a clock
/// that jumps is noticed), and is woken early when a schedule is saved or
/// a manual clock moves.
pub fn scheduler(ctx: &Ctx) {
    use crate::store::schedules as sdb;
    const MAX_MS: i64 = 1_000;
    while !ctx.shutdown.is_cancelled() {
        ctx.progress.beat(Part::Scheduler);
        let seen = ctx.jobs.schedules_changed.seen();
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| fire_due(ctx))) {
            tracing::error!(panic = %super::panic_text(p.as_ref()), "the scheduler panicked");
        }
        let next = sdb::next_run(ctx.store().conn()).ok().flatten();
        let ms = next.map_or(MAX_MS, |t| {
            t.millis()
                .saturating_sub(ctx.now().millis())
                .clamp(1, MAX_MS)
        });
        ctx.jobs
            .schedules_changed
            .wait(seen, Duration::from_millis(ms.unsigned_abs()));
    }
}

/// Fires every slot due now: each slot's job and the schedule's next slot
/// are written in one transaction, under the slot's idempotency key.
pub fn fire_due(ctx: &Ctx) {
    use crate::store::schedules as sdb;
    let now = ctx.now();
    let due = match sdb::due(ctx.store().conn(), now) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot read schedules");
            return;
        }
    };
    for s in due {
        let Some(slot) = s.next_run else { continue };
        let spec = match job::CronSpec::parse(&s.cron, &s.tz) {
            Ok(c) => c,
            Err((_, e)) => {
                tracing::error!(schedule = s.id, error = %e, "schedule no longer parses; skipping it");
                continue;
            }
        };
        let late = now.millis().saturating_sub(slot.millis());
        let on_time = late <= GRACE_MS;
        let fire = on_time || s.missed == job::Missed::RunOnce;
        let next = spec.next_after(if on_time { slot } else { now });
        let max_attempts = ctx
            .jobs
            .kinds
            .find(&s.kind)
            .map_or(1, |(k, _)| k.max_attempts);
        let written = ctx.store().write(|tx| {
            if fire {
                sdb::fire(tx, &s, slot, next, max_attempts, now).map(|(j, new)| Some((j, new)))
            } else {
                sdb::advance(tx, s.id, next, None, now).map(|()| None)
            }
        });
        match written {
            Ok(Some((j, true))) => {
                if !on_time {
                    tracing::info!(schedule = s.id, late_ms = late, "ran a missed slot once");
                }
                ctx.hub.publish_to::<JobEvents>(Some(&j.owner), &j);
                ctx.jobs.wake();
            }
            Ok(Some((_, false))) => {
                tracing::warn!(
                    schedule = s.id,
                    slot = slot.millis(),
                    "slot had fired already"
                );
            }
            Ok(None) => tracing::info!(schedule = s.id, late_ms = late, "skipped a missed slot"),
            Err(e) => tracing::error!(schedule = s.id, error = %e, "cannot fire a schedule"),
        }
    }
}

/// Renews the leases of running jobs and wakes the workers for jobs that
/// became due, until shutdown.
pub fn keeper(ctx: &Ctx) {
    let every = Duration::from_millis((ctx.config.jobs.lease_ms / 3).max(100));
    let mut last = std::time::Instant::now();
    while !ctx.shutdown.is_cancelled() {
        ctx.progress.beat(Part::Keeper);
        std::thread::sleep(Duration::from_millis(50));
        if last.elapsed() < every {
            continue;
        }
        last = std::time::Instant::now();
        let lease = lease_until(ctx, ctx.now());
        let running: Vec<u64> = lock(&ctx.jobs.cancels).keys().copied().collect();
        for id in running {
            let _ = ctx
                .store()
                .write_relaxed(|tx| db::heartbeat(tx, id, lease, None));
        }
        ctx.jobs.wake();
    }
}
