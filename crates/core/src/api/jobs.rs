//! `jobs.*`: the background job queue; the job event topic.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::method::{method, topic};
use super::paging::{Page, PageParams};
use super::{Deleted, Empty};
use crate::job::{JobRecord, JobState};
use crate::time::Timestamp;

method! {
    /// The job kinds with their payload schemas.
    JobsKinds = "jobs.kinds", Get "/api/v1/jobs/kinds", Read, PageParams => KindList
}
method! {
    /// Enqueues a job (an existing idempotency key returns the existing job).
    JobsEnqueue = "jobs.enqueue", Post "/api/v1/jobs", Trade, Enqueue => JobRecord
}
method! {
    /// One job.
    JobsGet = "jobs.get", Get "/api/v1/jobs/{id}", Read, JobId => JobRecord
}
method! {
    /// Jobs, newest first, by state and kind.
    JobsList = "jobs.list", Get "/api/v1/jobs", Read, JobFilter => JobPage
}
method! {
    /// Cancels a queued job at once, or a running one at its next check.
    JobsCancel = "jobs.cancel", Post "/api/v1/jobs/{id}/cancel", Trade, JobId => JobRecord
}
method! {
    /// Runs a failed, dead or cancelled job again (attempts start over).
    JobsRetry = "jobs.retry", Post "/api/v1/jobs/{id}/retry", Trade, JobId => JobRecord
}
method! {
    /// Deletes a job that is not running.
    JobsDelete = "jobs.delete", Delete "/api/v1/jobs/{id}", Trade, JobId => Deleted
}
method! {
    /// Deletes final jobs of a state finished before a time.
    JobsPurge = "jobs.purge", Delete "/api/v1/jobs", Admin, Purge => Purged
}
method! {
    /// The dead-letter list: jobs that failed on their last attempt.
    JobsDead = "jobs.dead", Get "/api/v1/jobs/dead", Read, DeadFilter => JobPage
}
method! {
    /// Puts a dead job back in the queue.
    JobsRequeue = "jobs.requeue", Post "/api/v1/jobs/{id}/requeue", Trade, JobId => JobRecord
}
method! {
    /// Counts per state and kind, durations, throughput and failure rate over the last hour.
    JobsStats = "jobs.stats", Get "/api/v1/jobs/stats", Read, Empty => JobStats
}
method! {
    /// Queue health: lag, oldest queued job, workers busy and idle.
    JobsHealth = "jobs.health", Get "/api/v1/jobs/health", Read, Empty => JobHealth
}
method! {
    /// The workers and what each runs.
    JobsWorkers = "jobs.workers", Get "/api/v1/jobs/workers", Read, PageParams => WorkerList
}

topic! {
    /// A job after every change of state or progress.
    JobEvents = "jobs.events", JobRecord, owned
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KindInfo {
    pub name: String,
    pub summary: String,
    pub payload_schema: serde_json::Value,
    pub max_attempts: u32,
    pub timeout_ms: u64,
    pub concurrency: u32,
}

pub type KindList = Page<KindInfo>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Enqueue {
    pub kind: String,
    #[serde(default)]
    pub payload: serde_json::Value,
    /// Higher runs first (-1000..1000, default 0).
    #[serde(default)]
    pub priority: Option<i32>,
    /// 1..100, default the kind's.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// 1–100 characters; enqueueing again with it returns the first job.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Not before this time.
    #[serde(default)]
    pub run_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobId {
    pub id: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobFilter {
    #[serde(default)]
    pub state: Option<JobState>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadFilter {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

pub type JobPage = Page<JobRecord>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Purge {
    /// A final state: succeeded, failed, cancelled or dead.
    pub state: JobState,
    pub older_than: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Purged {
    pub deleted: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KindCount {
    pub kind: String,
    pub state: JobState,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobStats {
    pub counts: Vec<KindCount>,
    /// Over jobs finished in the last hour.
    pub finished_last_hour: u64,
    pub duration_p50_ms: Option<i64>,
    pub duration_p95_ms: Option<i64>,
    /// Finished jobs per minute over the last hour.
    pub throughput_per_min: f64,
    /// failed + dead over finished, in the last hour.
    pub failure_rate: Option<f64>,
    /// The same figures for each kind that finished a job in the last hour.
    pub by_kind: Vec<KindStats>,
}

/// One kind's last hour: finished jobs, durations and failure rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KindStats {
    pub kind: String,
    pub finished: u64,
    pub duration_p50_ms: Option<i64>,
    pub duration_p95_ms: Option<i64>,
    pub failure_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct JobHealth {
    pub workers: usize,
    pub busy: usize,
    pub idle: usize,
    pub queued_due: u64,
    /// How long the oldest due job has waited.
    pub lag_ms: Option<i64>,
    pub oldest_queued: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WorkerView {
    pub worker: usize,
    pub job: Option<u64>,
    pub kind: Option<String>,
    pub since: Option<Timestamp>,
}

pub type WorkerList = Page<WorkerView>;
