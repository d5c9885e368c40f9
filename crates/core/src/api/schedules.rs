//! `jobs.schedules.*`: cron schedules that enqueue jobs, in a time zone,
//! with a policy for slots missed while the daemon was down.

use super::Deleted;
use super::method::method;
use super::paging::Page;
use crate::job::{JobRecord, Schedule};
use crate::time::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

method! {
    /// Creates a cron schedule that enqueues a job of a kind at each slot.
    SchedulesCreate = "jobs.schedules.create", Post "/api/v1/jobs/schedules", Trade, ScheduleCreate => Schedule
}

method! {
    /// Schedules with their next run.
    SchedulesList = "jobs.schedules.list", Get "/api/v1/jobs/schedules", Read, SchedulePage => ScheduleList
}

method! {
    /// One schedule.
    SchedulesGet = "jobs.schedules.get", Get "/api/v1/jobs/schedules/{id}", Read, ScheduleId => Schedule
}

method! {
    /// Changes a schedule's expression, zone, payload, priority, missed-run policy or name.
    SchedulesUpdate = "jobs.schedules.update", Patch "/api/v1/jobs/schedules/{id}", Trade, ScheduleUpdate => Schedule
}

method! {
    /// Deletes a schedule (its jobs stay).
    SchedulesDelete = "jobs.schedules.delete", Delete "/api/v1/jobs/schedules/{id}", Trade, ScheduleId => Deleted
}

method! {
    /// Pauses a schedule: no slot fires until it is resumed.
    SchedulesPause = "jobs.schedules.pause", Post "/api/v1/jobs/schedules/{id}/pause", Trade, ScheduleId => Schedule
}

method! {
    /// Resumes a schedule from the next slot after now.
    SchedulesResume = "jobs.schedules.resume", Post "/api/v1/jobs/schedules/{id}/resume", Trade, ScheduleId => Schedule
}

method! {
    /// Enqueues the schedule's job now, outside its slots.
    SchedulesRunNow = "jobs.schedules.run_now", Post "/api/v1/jobs/schedules/{id}/run_now", Trade, ScheduleId => JobRecord
}

method! {
    /// The next run times of an expression (or of a schedule).
    SchedulesPreview = "jobs.schedules.preview", Get "/api/v1/jobs/schedules/preview", Read, PreviewParams => Preview
}

fn utc() -> String {
    "UTC".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleCreate {
    /// 1–64 characters; unique among your schedules.
    pub name: String,
    /// Five fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly.
    pub cron: String,
    /// An IANA time zone (default UTC).
    #[serde(default = "utc")]
    pub tz: String,
    pub kind: String,
    #[serde(default)]
    pub payload: serde_json::Value,
    #[serde(default)]
    pub priority: Option<i32>,
    /// Slots missed while the daemon was down: `skip` (default) or `run_once`.
    #[serde(default)]
    pub missed: crate::job::Missed,
    #[serde(default)]
    pub paused: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleUpdate {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default)]
    pub tz: Option<String>,
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
    #[serde(default)]
    pub priority: Option<i32>,
    #[serde(default)]
    pub missed: Option<crate::job::Missed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleId {
    pub id: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SchedulePage {
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

pub type ScheduleList = Page<Schedule>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewParams {
    /// A schedule's id, or an expression (with `tz`).
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default)]
    pub tz: Option<String>,
    /// How many (1–100, default 5).
    #[serde(default)]
    pub count: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Preview {
    pub runs: Vec<Timestamp>,
    /// The time zone the expression is read in (the runs are UTC
    /// instants; show them in this zone, labelled).
    #[serde(default)]
    pub tz: String,
}
