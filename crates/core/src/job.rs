//! Background jobs: states, the catalogue of job kinds (declared once, with
//! payload schemas), and the retry policy.
//!
//! A job is durable from the moment it is enqueued. A worker takes it with
//! a lease that it renews while it runs; a job whose lease ran out (its
//! worker or the daemon died) is retried, or fails with `daemon_crash`
//! when it has no attempts left. A job that fails on its last attempt goes
//! to `dead`, from where it can be requeued.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::sim::Rng;
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    /// Failed without retry (cancelled by a crash with no attempts left, or
    /// a payload the kind refuses).
    Failed,
    Cancelled,
    /// Failed on its last attempt; `jobs.requeue` runs it again.
    Dead,
}

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
        JobState::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

/// A job as stored and as shown to clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct JobRecord {
    pub id: u64,
    pub kind: String,
    pub payload: serde_json::Value,
    /// Higher runs first.
    pub priority: i32,
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: u32,
    pub max_attempts: u32,
    /// Not before this time.
    pub run_at: Timestamp,
    /// 0–100.
    pub progress: u8,
    pub message: Option<String>,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub idempotency_key: Option<String>,
    pub owner: String,
    pub created: Timestamp,
    pub started: Option<Timestamp>,
    pub finished: Option<Timestamp>,
}

/// A job kind, declared once: the CLI, TUI and HTTP list it with its schema.
pub struct JobKind {
    pub name: &'static str,
    pub summary: &'static str,
    pub schema: fn() -> serde_json::Value,
    /// Checks a payload and returns it normalized, or says what is wrong.
    pub validate: fn(&serde_json::Value) -> Result<serde_json::Value, String>,
    pub max_attempts: u32,
    /// An attempt longer than this is cancelled and counts as failed.
    pub timeout_ms: u64,
    /// Most jobs of this kind running at once.
    pub concurrency: u32,
}

/// Strict payload parsing for a kind's typed payload.
pub fn parse_payload<P>(v: &serde_json::Value) -> Result<serde_json::Value, String>
where
    P: serde::de::DeserializeOwned + Serialize,
{
    let v = if v.is_null() {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        v.clone()
    };
    let p: P = serde_json::from_value(v).map_err(|e| e.to_string())?;
    serde_json::to_value(&p).map_err(|e| e.to_string())
}

fn schema<P: JsonSchema>() -> serde_json::Value {
    schemars::schema_for!(P).to_value()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoPayload {}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BotPayload {
    pub id: u64,
    /// `bot.stop` only: sell its positions too.
    #[serde(default)]
    pub flatten: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelAllPayload {
    #[serde(default)]
    pub symbol: Option<crate::instrument::Symbol>,
}

fn d30() -> u32 {
    30
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrunePayload {
    /// Keep bot events, bot equity samples, risk violations, finished jobs
    /// and 1-minute klines younger than this many days (1–3650).
    #[serde(default = "d30")]
    pub older_than_days: u32,
}

fn validate_prune(v: &serde_json::Value) -> Result<serde_json::Value, String> {
    let out = parse_payload::<PrunePayload>(v)?;
    let days = out["older_than_days"].as_u64().unwrap_or(0);
    if !(1..=3650).contains(&days) {
        return Err(format!(
            "field `older_than_days`: must be between 1 and 3650, got {days}"
        ));
    }
    Ok(out)
}

pub const KINDS: &[JobKind] = &[
    JobKind {
        name: "bot.start",
        summary: "Starts a bot.",
        schema: schema::<BotPayload>,
        validate: parse_payload::<BotPayload>,
        max_attempts: 3,
        timeout_ms: 30_000,
        concurrency: 4,
    },
    JobKind {
        name: "bot.stop",
        summary: "Stops a bot: cancels its orders, sells its positions with `flatten`.",
        schema: schema::<BotPayload>,
        validate: parse_payload::<BotPayload>,
        max_attempts: 3,
        timeout_ms: 30_000,
        concurrency: 4,
    },
    JobKind {
        name: "orders.cancel_all",
        summary: "Cancels every open order (of one symbol).",
        schema: schema::<CancelAllPayload>,
        validate: parse_payload::<CancelAllPayload>,
        max_attempts: 3,
        timeout_ms: 30_000,
        concurrency: 1,
    },
    JobKind {
        name: "risk.report",
        summary: "Writes the risk status (states and every limit's use) to the job's result.",
        schema: schema::<NoPayload>,
        validate: parse_payload::<NoPayload>,
        max_attempts: 2,
        timeout_ms: 30_000,
        concurrency: 1,
    },
    JobKind {
        name: "maintenance.vacuum",
        summary: "Checkpoints the write-ahead log and vacuums the database.",
        schema: schema::<NoPayload>,
        validate: parse_payload::<NoPayload>,
        max_attempts: 2,
        timeout_ms: 600_000,
        concurrency: 1,
    },
    JobKind {
        name: "maintenance.prune",
        summary: "Deletes old bot events and equity samples, risk violations, finished jobs and 1-minute klines.",
        schema: schema::<PrunePayload>,
        validate: validate_prune,
        max_attempts: 2,
        timeout_ms: 600_000,
        concurrency: 1,
    },
];

/// The kind called `name`.
pub fn kind(name: &str) -> Option<&'static JobKind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The delay before attempt `attempt + 1` after a failure of attempt
/// `attempt` (1-based): `base × 2^(attempt-1)`, capped, then ±25 % jitter
/// drawn from a generator seeded by the job, so it is reproducible.
pub fn backoff_ms(job_id: u64, attempt: u32, base_ms: u64, cap_ms: u64) -> u64 {
    let exp = base_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(30));
    let d = exp.min(cap_ms);
    let mut rng = Rng::new(job_id ^ (u64::from(attempt) << 32));
    let jitter = 0.75 + rng.unit() * 0.5;
    (d as f64 * jitter) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered_reproducibly() {
        let a: Vec<u64> = (1..=6).map(|n| backoff_ms(7, n, 1000, 20_000)).collect();
        for (n, d) in a.iter().enumerate() {
            let nominal = (1000u64 << n).min(20_000) as f64;
            assert!(
                (*d as f64) >= nominal * 0.75 && (*d as f64) <= nominal * 1.25,
                "{n}: {d}"
            );
        }
        assert_eq!(
            a,
            (1..=6)
                .map(|n| backoff_ms(7, n, 1000, 20_000))
                .collect::<Vec<_>>()
        );
        assert_ne!(
            backoff_ms(7, 2, 1000, 20_000),
            backoff_ms(8, 2, 1000, 20_000)
        );
    }

    #[test]
    fn payloads_are_checked_by_kind() {
        let v = |k: &str, p: serde_json::Value| (kind(k).unwrap().validate)(&p);
        assert_eq!(
            v("risk.report", serde_json::Value::Null).unwrap(),
            serde_json::json!({})
        );
        assert!(
            v("risk.report", serde_json::json!({"x": 1}))
                .unwrap_err()
                .contains("unknown field `x`")
        );
        assert!(
            v("bot.start", serde_json::json!({}))
                .unwrap_err()
                .contains("missing field `id`")
        );
        assert_eq!(
            v("maintenance.prune", serde_json::json!({})).unwrap(),
            serde_json::json!({"older_than_days": 30})
        );
        assert_eq!(
            v(
                "maintenance.prune",
                serde_json::json!({"older_than_days": 0})
            )
            .unwrap_err(),
            "field `older_than_days`: must be between 1 and 3650, got 0"
        );
        for k in KINDS {
            assert!((k.schema)().is_object(), "{}", k.name);
        }
        assert!(JobState::Dead.is_final() && !JobState::Running.is_final());
    }
}
