//! `jobs.*` and `jobs.schedules.*`: the queue, its workers and the cron
//! schedules. What each kind does is in `services::jobs::kinds`.

use crate::store::jobs as db;
use tradedesk_core::api::jobs::{
    DeadFilter, Enqueue, JobEvents, JobFilter, JobHealth, JobId, JobPage, JobStats, JobsCancel,
    JobsDead, JobsDelete, JobsEnqueue, JobsGet, JobsHealth, JobsKinds, JobsList, JobsPurge,
    JobsRequeue, JobsRetry, JobsStats, JobsWorkers, KindCount, KindInfo, KindList, KindStats,
    Purge, Purged, WorkerList,
};
use tradedesk_core::api::paging::PageParams;
use tradedesk_core::api::{ApiError, Caller, Deleted, Empty, ErrorCode, Handle, paging};
use tradedesk_core::job::{self as kind, JobRecord, JobState, Kind};

use crate::context::Ctx;
use crate::services::exchange::store_err;

fn not_found(id: u64) -> ApiError {
    ApiError::not_found("job", id)
}

impl Ctx {
    /// Writes a new job (durably, in a group commit with concurrent
    /// enqueues), tells the stream and the workers.
    pub(crate) async fn enqueue_job(
        &self,
        j: &db::NewJob<'_>,
        now: tradedesk_core::time::Timestamp,
    ) -> Result<JobRecord, ApiError> {
        let (kind, payload, key, owner) = (
            j.kind.to_owned(),
            j.payload.clone(),
            j.idempotency_key.map(str::to_owned),
            j.owner.to_owned(),
        );
        let (priority, max_attempts, run_at) = (j.priority, j.max_attempts, j.run_at);
        let written = self
            .jobs
            .enqueues
            .write(move |tx| {
                let j = db::NewJob {
                    kind: &kind,
                    payload: &payload,
                    priority,
                    max_attempts,
                    run_at,
                    idempotency_key: key.as_deref(),
                    owner: &owner,
                };
                db::enqueue(tx, &j, now)
            })
            .await;
        let (job, _) = written.map_err(|e| store_err(&e))?;
        self.hub.publish_to::<JobEvents>(Some(&job.owner), &job);
        // A job due later is found by the workers' next look.
        if job.run_at <= now {
            self.jobs.wake();
        }
        Ok(job)
    }

    /// A job the caller may see (another user's is not found).
    fn job(&self, caller: &Caller, id: u64) -> Result<JobRecord, ApiError> {
        db::get(self.store().conn(), id)
            .map_err(|e| store_err(&e))?
            .filter(|j| caller.sees(&j.owner))
            .ok_or_else(|| not_found(id))
    }

    fn job_changed(&self, id: u64) -> Result<JobRecord, ApiError> {
        let j = db::get(self.store().conn(), id)
            .map_err(|e| store_err(&e))?
            .ok_or_else(|| not_found(id))?;
        self.hub.publish_to::<JobEvents>(Some(&j.owner), &j);
        Ok(j)
    }
}

impl Handle<JobsKinds> for Ctx {
    async fn handle(&self, _: &Caller, p: PageParams) -> Result<KindList, ApiError> {
        let kinds: Vec<KindInfo> = self
            .jobs
            .kinds
            .all()
            .map(|k| KindInfo {
                name: k.name.into(),
                summary: k.summary.into(),
                payload_schema: (k.schema)(),
                max_attempts: k.max_attempts,
                timeout_ms: k.timeout_ms,
                concurrency: k.concurrency,
            })
            .collect();
        paging::in_memory(kinds, p.limit, p.cursor.as_deref())
    }
}

impl Handle<JobsEnqueue> for Ctx {
    async fn handle(&self, caller: &Caller, p: Enqueue) -> Result<JobRecord, ApiError> {
        let payload = check_kind_payload(self, caller, &p.kind, &p.payload)?;
        let (kind, _) = self
            .jobs
            .kinds
            .find(&p.kind)
            .ok_or_else(|| ApiError::bad_field("kind", "unknown"))?;
        let priority = p.priority.unwrap_or(0);
        if !(-1000..=1000).contains(&priority) {
            return Err(ApiError::bad_field(
                "priority",
                format!("must be between -1000 and 1000, got {priority}"),
            ));
        }
        let max_attempts = p.max_attempts.unwrap_or(kind.max_attempts);
        if !(1..=100).contains(&max_attempts) {
            return Err(ApiError::bad_field(
                "max_attempts",
                format!("must be between 1 and 100, got {max_attempts}"),
            ));
        }
        if let Some(k) = &p.idempotency_key
            && !(1..=100).contains(&k.len())
        {
            return Err(ApiError::bad_field(
                "idempotency_key",
                "must be 1–100 characters",
            ));
        }
        let now = self.now();
        self.enqueue_job(
            &db::NewJob {
                kind: kind.name,
                payload: &payload,
                priority,
                max_attempts,
                run_at: p.run_at.unwrap_or(now),
                idempotency_key: p.idempotency_key.as_deref(),
                owner: &caller.user,
            },
            now,
        )
        .await
    }
}

impl Handle<JobsGet> for Ctx {
    async fn handle(&self, caller: &Caller, p: JobId) -> Result<JobRecord, ApiError> {
        self.job(caller, p.id)
    }
}

fn page(jobs: Vec<JobRecord>, limit: u32) -> JobPage {
    let next_cursor = paging::next_cursor(&jobs, limit, |j| j.id);
    JobPage {
        items: jobs,
        next_cursor,
    }
}

impl Handle<JobsList> for Ctx {
    async fn handle(&self, caller: &Caller, f: JobFilter) -> Result<JobPage, ApiError> {
        let limit = paging::limit(f.limit)?;
        let before = paging::cursor(f.cursor.as_deref())?;
        let jobs = db::list(
            self.store().conn(),
            f.state,
            f.kind.as_deref(),
            caller.owner_filter(),
            before,
            limit,
        )
        .map_err(|e| store_err(&e))?;
        Ok(page(jobs, limit))
    }
}

impl Handle<JobsDead> for Ctx {
    async fn handle(&self, caller: &Caller, f: DeadFilter) -> Result<JobPage, ApiError> {
        let limit = paging::limit(f.limit)?;
        let before = paging::cursor(f.cursor.as_deref())?;
        let jobs = db::list(
            self.store().conn(),
            Some(JobState::Dead),
            f.kind.as_deref(),
            caller.owner_filter(),
            before,
            limit,
        )
        .map_err(|e| store_err(&e))?;
        Ok(page(jobs, limit))
    }
}

fn illegal(j: &JobRecord, what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::IllegalTransition,
        format!("job {} is {}; {what}", j.id, j.state.as_str()),
    )
}

impl Handle<JobsCancel> for Ctx {
    async fn handle(&self, caller: &Caller, p: JobId) -> Result<JobRecord, ApiError> {
        self.cancel_job(caller, p.id)
    }
}

impl Ctx {
    /// Cancels a queued job now, a running one at its next check.
    pub(crate) fn cancel_job(&self, caller: &Caller, id: u64) -> Result<JobRecord, ApiError> {
        let j = self.job(caller, id)?;
        match j.state {
            JobState::Queued => {
                let now = self.now();
                self.store()
                    .write(|tx| {
                        db::settle(
                            tx,
                            j.id,
                            JobState::Cancelled,
                            None,
                            Some("cancelled"),
                            None,
                            now,
                        )
                    })
                    .map_err(|e| store_err(&e))?;
                self.job_changed(j.id)
            }
            JobState::Running => {
                // The worker stops it at its next check and settles it.
                self.jobs.request_cancel(j.id);
                Ok(j)
            }
            _ => Err(illegal(&j, "only a queued or running job can be cancelled")),
        }
    }
}

/// Puts a final job back in the queue with fresh attempts.
fn requeue(ctx: &Ctx, j: &JobRecord) -> Result<JobRecord, ApiError> {
    let now = ctx.now();
    let job = ctx
        .store()
        .write(|tx| db::requeue(tx, j.id, now))
        .map_err(|e| store_err(&e))?
        .ok_or_else(|| not_found(j.id))?;
    ctx.hub.publish_to::<JobEvents>(Some(&job.owner), &job);
    ctx.jobs.wake();
    Ok(job)
}

impl Handle<JobsRetry> for Ctx {
    async fn handle(&self, caller: &Caller, p: JobId) -> Result<JobRecord, ApiError> {
        let j = self.job(caller, p.id)?;
        if !matches!(
            j.state,
            JobState::Failed | JobState::Dead | JobState::Cancelled
        ) {
            return Err(illegal(
                &j,
                "only a failed, dead or cancelled job can be retried",
            ));
        }
        requeue(self, &j)
    }
}

impl Handle<JobsRequeue> for Ctx {
    async fn handle(&self, caller: &Caller, p: JobId) -> Result<JobRecord, ApiError> {
        let j = self.job(caller, p.id)?;
        if j.state != JobState::Dead {
            return Err(illegal(&j, "only a dead job can be requeued"));
        }
        requeue(self, &j)
    }
}

impl Handle<JobsDelete> for Ctx {
    async fn handle(&self, caller: &Caller, p: JobId) -> Result<Deleted, ApiError> {
        let j = self.job(caller, p.id)?;
        if j.state == JobState::Running {
            return Err(illegal(&j, "cancel it first"));
        }
        let deleted = self
            .store()
            .write(|tx| db::delete(tx, j.id))
            .map_err(|e| store_err(&e))?;
        Ok(Deleted { id: j.id, deleted })
    }
}

impl Handle<JobsPurge> for Ctx {
    async fn handle(&self, caller: &Caller, p: Purge) -> Result<Purged, ApiError> {
        if !p.state.is_final() {
            return Err(ApiError::bad_field(
                "state",
                "only final states (succeeded, failed, cancelled, dead) can be purged",
            ));
        }
        let deleted = self
            .store()
            .write(|tx| db::purge(tx, p.state, p.older_than, caller.owner_filter()))
            .map_err(|e| store_err(&e))?;
        Ok(Purged { deleted })
    }
}

impl Handle<JobsStats> for Ctx {
    async fn handle(&self, _: &Caller, _: Empty) -> Result<JobStats, ApiError> {
        let since = tradedesk_core::time::Timestamp(self.now().millis().saturating_sub(3_600_000));
        let (counts, finished) = {
            let store = self.store();
            (
                db::counts(store.conn()).map_err(|e| store_err(&e))?,
                db::finished_since(store.conn(), since).map_err(|e| store_err(&e))?,
            )
        };
        let all = Summary::of(finished.iter().map(|f| (f.1, f.2)));
        let mut kinds: std::collections::BTreeMap<&str, Vec<(JobState, i64)>> =
            std::collections::BTreeMap::new();
        for (kind, state, ms) in &finished {
            kinds.entry(kind).or_default().push((*state, *ms));
        }
        Ok(JobStats {
            counts: counts
                .into_iter()
                .map(|(kind, state, count)| KindCount { kind, state, count })
                .collect(),
            finished_last_hour: all.finished,
            duration_p50_ms: all.p50,
            duration_p95_ms: all.p95,
            throughput_per_min: all.finished as f64 / 60.0,
            failure_rate: all.failure_rate,
            by_kind: kinds
                .into_iter()
                .map(|(kind, jobs)| {
                    let s = Summary::of(jobs.into_iter());
                    KindStats {
                        kind: kind.to_owned(),
                        finished: s.finished,
                        duration_p50_ms: s.p50,
                        duration_p95_ms: s.p95,
                        failure_rate: s.failure_rate,
                    }
                })
                .collect(),
        })
    }
}

/// Finished jobs' count, duration percentiles and failure rate.
struct Summary {
    finished: u64,
    p50: Option<i64>,
    p95: Option<i64>,
    failure_rate: Option<f64>,
}

impl Summary {
    fn of(jobs: impl Iterator<Item = (JobState, i64)>) -> Summary {
        let mut durations = Vec::new();
        let mut failures = 0usize;
        for (state, ms) in jobs {
            durations.push(ms);
            failures = failures.saturating_add(usize::from(matches!(
                state,
                JobState::Failed | JobState::Dead
            )));
        }
        durations.sort_unstable();
        let n = durations.len();
        let pct = |p: f64| {
            let last = n.checked_sub(1)?;
            durations.get((last as f64 * p).round() as usize).copied()
        };
        Summary {
            finished: n as u64,
            p50: pct(0.5),
            p95: pct(0.95),
            failure_rate: (n > 0).then(|| failures as f64 / n as f64),
        }
    }
}

impl Handle<JobsHealth> for Ctx {
    async fn handle(&self, _: &Caller, _: Empty) -> Result<JobHealth, ApiError> {
        let now = self.now();
        let workers = self.jobs.workers();
        let busy = workers.iter().filter(|w| w.job.is_some()).count();
        let (oldest, queued_due) = {
            let store = self.store();
            let oldest = db::oldest_queued(store.conn(), now).map_err(|e| store_err(&e))?;
            let n = db::due_count(store.conn(), now).map_err(|e| store_err(&e))?;
            (oldest, n)
        };
        Ok(JobHealth {
            workers: workers.len(),
            busy,
            idle: workers.len().saturating_sub(busy),
            queued_due,
            lag_ms: oldest.map(|t| now.millis().saturating_sub(t.millis())),
            oldest_queued: oldest,
        })
    }
}

impl Handle<JobsWorkers> for Ctx {
    async fn handle(&self, _: &Caller, p: PageParams) -> Result<WorkerList, ApiError> {
        paging::in_memory(self.jobs.workers(), p.limit, p.cursor.as_deref())
    }
}

pub(super) fn check_kind_payload(
    ctx: &Ctx,
    caller: &Caller,
    kind: &str,
    payload: &serde_json::Value,
) -> Result<serde_json::Value, ApiError> {
    // An import reads a file on the daemon's machine: only its local
    // administrator may name one.
    if (kind == "data.import" || kind == "maintenance.backup")
        && caller.transport == tradedesk_core::api::Transport::Http
    {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "`{kind}` jobs name files on the daemon's machine; enqueue them on the local socket"
            ),
        ));
    }
    let (k, _) = ctx.jobs.kinds.find(kind).ok_or_else(|| {
        ApiError::bad_field(
            "kind",
            format!(
                "unknown job kind `{kind}` (known: {})",
                ctx.jobs
                    .kinds
                    .all()
                    .map(|k| k.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let payload = (k.validate)(payload).map_err(|e| {
        let field = tradedesk_core::api::serde_field(&e)
            .map_or_else(|| "payload".to_owned(), |f| format!("payload.{f}"));
        ApiError::bad_field(&field, e)
    })?;
    check_kind_access(ctx, caller, kind, &payload)?;
    Ok(payload)
}

/// Kinds that act on the whole daemon (its database, every account's risk)
/// are an administrator's; the others act on the caller's own objects:
/// a user's are checked here, so that someone else's id fails at once,
/// and every job is checked again when it runs, as its owner (an
/// administrator's job for a missing bot fails then, and is retried).
const ADMIN_KINDS: &[&str] = &[
    <kind::RiskReport as Kind>::NAME,
    <kind::Vacuum as Kind>::NAME,
    <kind::Prune as Kind>::NAME,
    <kind::Backup as Kind>::NAME,
    <kind::DataImport as Kind>::NAME,
];

fn check_kind_access(
    ctx: &Ctx,
    caller: &Caller,
    kind: &str,
    payload: &serde_json::Value,
) -> Result<(), ApiError> {
    if ADMIN_KINDS.contains(&kind) && !caller.allows(tradedesk_core::api::Scope::Admin) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("`{kind}` jobs act on the whole daemon: an administrator's"),
        ));
    }
    if caller.owner_filter().is_none() {
        return Ok(());
    }
    let id = |field: &str| payload.get(field).and_then(serde_json::Value::as_u64);
    match kind {
        <kind::BotStart as Kind>::NAME | <kind::BotStop as Kind>::NAME => {
            if let Some(bot) = id("id") {
                ctx.bot(caller, bot)
                    .map_err(|e| ApiError::bad_field("payload.id", e.message))?;
            }
        }
        <kind::BacktestRun as Kind>::NAME | <kind::BacktestSweep as Kind>::NAME => {
            if let Some(b) = id("backtest") {
                ctx.backtest(caller, b)
                    .map_err(|e| ApiError::bad_field("payload.backtest", e.message))?;
            }
        }
        _ => {}
    }
    Ok(())
}
