//! Background jobs: states, the catalogue of job kinds (declared once, with
//! payload schemas), and the retry policy.
//!
//! A job is durable from the moment it is enqueued. A worker takes it with
//! a lease that it renews while it runs; a job whose lease ran out (its
//! worker or the daemon died) is retried, or is dead with `daemon_crash`
//! when it has no attempts left. A job that fails on its last attempt goes
//! to `dead`, from where it can be requeued.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
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

/// What a schedule does about slots that passed while the daemon was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Missed {
    /// Skip them; the next slot is the next one from now.
    #[default]
    Skip,
    /// Run once for all of them, then go on from now.
    RunOnce,
}

impl Missed {
    pub fn as_str(self) -> &'static str {
        match self {
            Missed::Skip => "skip",
            Missed::RunOnce => "run_once",
        }
    }

    pub fn parse(s: &str) -> Option<Missed> {
        [Missed::Skip, Missed::RunOnce]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// A schedule as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Schedule {
    pub id: u64,
    pub name: String,
    pub owner: String,
    pub cron: String,
    pub tz: String,
    pub kind: String,
    pub payload: serde_json::Value,
    pub priority: i32,
    pub missed: Missed,
    pub paused: bool,
    /// The next slot (none while paused).
    pub next_run: Option<Timestamp>,
    /// The last slot that enqueued a job.
    pub last_run: Option<Timestamp>,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// A job kind, declared once as a type: its name, payload, retry policy
/// and limits. The daemon must implement its runner for every kind in
/// [`job_kinds!`] (a kind without a runner does not compile); the CLI, TUI
/// and HTTP list the kinds with their payload schemas from [`KINDS`].
pub trait Kind: 'static {
    const NAME: &'static str;
    const SUMMARY: &'static str;
    const MAX_ATTEMPTS: u32;
    /// An attempt longer than this is cancelled and counts as failed.
    const TIMEOUT_MS: u64;
    /// Most jobs of this kind running at once.
    const CONCURRENCY: u32;
    type Payload: Serialize + DeserializeOwned + JsonSchema;
    /// Checks beyond the payload's type (ranges); says what is wrong.
    fn check(_payload: &Self::Payload) -> Result<(), String> {
        Ok(())
    }
}

/// A job kind as data: what `jobs.kinds` lists and what enqueueing checks
/// a payload with. Made from a [`Kind`] by [`JobKind::of`].
#[derive(Debug, Clone, Copy)]
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

impl JobKind {
    pub const fn of<K: Kind>() -> JobKind {
        JobKind {
            name: K::NAME,
            summary: K::SUMMARY,
            schema: schema::<K::Payload>,
            validate: validate::<K>,
            max_attempts: K::MAX_ATTEMPTS,
            timeout_ms: K::TIMEOUT_MS,
            concurrency: K::CONCURRENCY,
        }
    }
}

/// Strict payload parsing for a kind's typed payload: `null` is `{}`,
/// unknown fields are refused.
pub fn parse_payload<P: DeserializeOwned>(v: &serde_json::Value) -> Result<P, String> {
    let v = if v.is_null() {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        v.clone()
    };
    serde_json::from_value(v).map_err(|e| e.to_string())
}

fn validate<K: Kind>(v: &serde_json::Value) -> Result<serde_json::Value, String> {
    let p: K::Payload = parse_payload(v)?;
    K::check(&p)?;
    serde_json::to_value(&p).map_err(|e| e.to_string())
}

fn schema<P: JsonSchema>() -> serde_json::Value {
    schemars::schema_for!(P).to_value()
}

/// Declares a job kind: a unit type and its [`Kind`] impl.
macro_rules! kind {
    (
        $(#[$doc:meta])*
        $ty:ident = $name:literal, $payload:ty,
        attempts $attempts:literal, timeout_ms $timeout:expr, concurrency $concurrency:literal,
        $summary:literal
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $ty;
        impl Kind for $ty {
            const NAME: &'static str = $name;
            const SUMMARY: &'static str = $summary;
            const MAX_ATTEMPTS: u32 = $attempts;
            const TIMEOUT_MS: u64 = $timeout;
            const CONCURRENCY: u32 = $concurrency;
            type Payload = $payload;
        }
    };
}

/// Calls `$m!` with every job kind's type, in the order [`KINDS`] lists
/// them: the one list of kinds.
#[macro_export]
macro_rules! job_kinds {
    ($m:ident) => {
        $m!(
            $crate::job::BotStart,
            $crate::job::BotStop,
            $crate::job::CancelAll,
            $crate::job::RiskReport,
            $crate::job::Vacuum,
            $crate::job::Prune,
            $crate::job::Backup,
            $crate::job::DataImport,
            $crate::job::BacktestRun,
            $crate::job::BacktestSweep
        )
    };
}

macro_rules! kind_table {
    ($($k:path),* $(,)?) => {
        &[$(JobKind::of::<$k>()),*]
    };
}

/// Every kind, as data.
pub const KINDS: &[JobKind] = job_kinds!(kind_table);

kind! {
    BotStart = "bot.start", BotPayload, attempts 3, timeout_ms 30_000, concurrency 4,
    "Starts a bot."
}
kind! {
    BotStop = "bot.stop", BotPayload, attempts 3, timeout_ms 30_000, concurrency 4,
    "Stops a bot: cancels its orders, sells its positions with `flatten`."
}
kind! {
    CancelAll = "orders.cancel_all", CancelAllPayload, attempts 3, timeout_ms 30_000, concurrency 1,
    "Cancels every open order of its owner's accounts (of one symbol)."
}
kind! {
    RiskReport = "risk.report", NoPayload, attempts 2, timeout_ms 30_000, concurrency 1,
    "Writes the risk status (states and every limit's use) to the job's result."
}
kind! {
    Vacuum = "maintenance.vacuum", NoPayload, attempts 2, timeout_ms 600_000, concurrency 1,
    "Checkpoints the write-ahead log and vacuums the database."
}
kind! {
    DataImport = "data.import", crate::dataset::ImportParams, attempts 1, timeout_ms 600_000, concurrency 1,
    "Imports OHLCV bars into a dataset (see `data.import`); all or nothing."
}
kind! {
    BacktestRun = "backtest.run", BacktestPayload, attempts 1, timeout_ms 3_600_000, concurrency 2,
    "Runs a backtest created by `backtests.create` and stores its results."
}
kind! {
    BacktestSweep = "backtest.sweep", BacktestPayload, attempts 1, timeout_ms 3_600_000, concurrency 1,
    "Runs a parameter sweep created by `backtests.sweep` on every core."
}

/// `maintenance.prune`: deletes what is older than its payload says.
#[derive(Debug, Clone, Copy)]
pub struct Prune;

impl Kind for Prune {
    const NAME: &'static str = "maintenance.prune";
    const SUMMARY: &'static str = "Deletes old bot events and equity samples, risk violations, finished jobs and 1-minute klines.";
    const MAX_ATTEMPTS: u32 = 2;
    const TIMEOUT_MS: u64 = 600_000;
    const CONCURRENCY: u32 = 1;
    type Payload = PrunePayload;
    fn check(p: &PrunePayload) -> Result<(), String> {
        if (1..=3650).contains(&p.older_than_days) {
            Ok(())
        } else {
            Err(format!(
                "field `older_than_days`: must be between 1 and 3650, got {}",
                p.older_than_days
            ))
        }
    }
}

/// `maintenance.backup`: a backup into a directory, keeping the newest few.
#[derive(Debug, Clone, Copy)]
pub struct Backup;

/// The most backups a `maintenance.backup` schedule keeps.
pub const MAX_BACKUPS_KEPT: u32 = 1000;

impl Kind for Backup {
    const NAME: &'static str = "maintenance.backup";
    const SUMMARY: &'static str = "Writes an online backup of the database into a directory as tradedesk-<UTC time>.db and deletes its older backups beyond `keep`.";
    const MAX_ATTEMPTS: u32 = 3;
    const TIMEOUT_MS: u64 = 3_600_000;
    const CONCURRENCY: u32 = 1;
    type Payload = BackupPayload;
    fn check(p: &BackupPayload) -> Result<(), String> {
        if !p.dir.starts_with('/') {
            return Err(format!(
                "field `dir`: must be an absolute path, got `{}`",
                p.dir
            ));
        }
        if !(1..=MAX_BACKUPS_KEPT).contains(&p.keep) {
            return Err(format!(
                "field `keep`: must be between 1 and {MAX_BACKUPS_KEPT}, got {}",
                p.keep
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupPayload {
    /// An existing directory on the daemon's machine.
    pub dir: String,
    /// How many of its backups to keep (the newest); default 7.
    #[serde(default = "seven")]
    pub keep: u32,
}

fn seven() -> u32 {
    7
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

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestPayload {
    /// The backtest's (or sweep's) id.
    pub backtest: u64,
}

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

/// A cron schedule: a standard 5-field expression (or `@hourly`,
/// `@daily`, `@weekly`, `@monthly`, `@yearly`) in a time zone.
#[derive(Debug, Clone)]
pub struct CronSpec {
    cron: croner::Cron,
    tz: chrono_tz::Tz,
}

const FIELDS: [&str; 5] = ["minute", "hour", "day of month", "month", "day of week"];

impl CronSpec {
    /// Parses an expression; an error names the part that is wrong.
    pub fn parse(expr: &str, tz: &str) -> Result<CronSpec, (String, String)> {
        let tz: chrono_tz::Tz = tz.parse().map_err(|_| {
            (
                "tz".to_owned(),
                format!("`{tz}` is not a time zone (like UTC or Europe/Berlin)"),
            )
        })?;
        let expr = expr.trim();
        let err = |m: String| ("cron".to_owned(), m);
        if !expr.starts_with('@') {
            let parts: Vec<&str> = expr.split_whitespace().collect();
            if parts.len() != 5 {
                return Err(err(format!(
                    "`{expr}` has {} fields; a cron expression has 5: minute hour day-of-month month day-of-week",
                    parts.len()
                )));
            }
            // Find the field at fault: each alone, with the others `*`.
            for (i, part) in parts.iter().enumerate() {
                let mut probe = ["*"; 5];
                probe[i] = part;
                if croner::parser::CronParser::new()
                    .parse(&probe.join(" "))
                    .is_err()
                {
                    return Err(err(format!(
                        "the {} field `{part}` is not valid",
                        FIELDS[i]
                    )));
                }
            }
        } else if ![
            "@hourly",
            "@daily",
            "@weekly",
            "@monthly",
            "@yearly",
            "@annually",
        ]
        .iter()
        .any(|n| expr.eq_ignore_ascii_case(n))
        {
            return Err(err(format!(
                "`{expr}` is not one of @hourly, @daily, @weekly, @monthly, @yearly"
            )));
        }
        let cron = croner::parser::CronParser::new()
            .parse(expr)
            .map_err(|e| err(format!("`{expr}`: {e}")))?;
        Ok(CronSpec { cron, tz })
    }

    /// The first run strictly after `t`. A local time skipped by a
    /// daylight-saving change fires at the first valid time after the gap
    /// (02:30 on a spring-forward night fires at 03:00); one that occurs
    /// twice fires once.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let local = t.to_datetime()?.with_timezone(&self.tz);
        let next = self.cron.find_next_occurrence(&local, false).ok()?;
        Some(Timestamp(next.timestamp_millis()))
    }

    /// The next `n` runs after `t`.
    pub fn preview(&self, t: Timestamp, n: usize) -> Vec<Timestamp> {
        let mut out = Vec::with_capacity(n);
        let mut at = t;
        while out.len() < n {
            let Some(next) = self.next_after(at) else {
                break;
            };
            out.push(next);
            at = next;
        }
        out
    }
}

#[cfg(test)]
mod cron_tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp(
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .timestamp_millis(),
        )
    }

    fn iso(t: Timestamp) -> String {
        t.to_datetime().unwrap().to_rfc3339()
    }

    #[test]
    fn next_runs_in_utc_and_across_daylight_saving_changes() {
        let c = CronSpec::parse("0 2 * * *", "UTC").unwrap();
        assert_eq!(
            iso(c.next_after(t("2026-11-23T01:59:00Z")).unwrap()),
            "2026-11-23T02:00:00+00:00"
        );
        assert_eq!(
            iso(c.next_after(t("2026-11-23T02:00:00Z")).unwrap()),
            "2026-11-24T02:00:00+00:00"
        );
        // New York skips 02:00–03:00 on 2026-03-08 and repeats 01:00–02:00 on 2026-11-01.
        let ny = CronSpec::parse("30 2 * * *", "America/New_York").unwrap();
        let runs: Vec<String> = ny
            .preview(t("2026-03-07T12:00:00Z"), 3)
            .into_iter()
            .map(iso)
            .collect();
        // 02:30 does not exist on the 8th: it fires at 03:00 EDT, the first
        // valid time after the gap; then 02:30 EDT (06:30Z) again.
        assert_eq!(
            runs,
            [
                "2026-03-08T07:00:00+00:00",
                "2026-03-09T06:30:00+00:00",
                "2026-03-10T06:30:00+00:00"
            ]
        );
        let fall = CronSpec::parse("30 1 * * *", "America/New_York").unwrap();
        let runs: Vec<Timestamp> = fall.preview(t("2026-10-31T12:00:00Z"), 3);
        // 01:30 happens twice on Nov 1; it fires once a day all the same.
        let days: Vec<String> = runs.iter().map(|r| iso(*r)[..10].to_owned()).collect();
        assert_eq!(days, ["2026-11-01", "2026-11-02", "2026-11-03"], "{runs:?}");
        let hourly = CronSpec::parse("@hourly", "UTC").unwrap();
        assert_eq!(
            iso(hourly.next_after(t("2026-11-23T10:15:00Z")).unwrap()),
            "2026-11-23T11:00:00+00:00"
        );
    }

    #[test]
    fn a_bad_expression_says_which_part_is_wrong() {
        let e = |x: &str, tz: &str| CronSpec::parse(x, tz).unwrap_err();
        assert_eq!(
            e("61 * * * *", "UTC"),
            ("cron".into(), "the minute field `61` is not valid".into())
        );
        assert_eq!(
            e("0 2 * 13 *", "UTC").1,
            "the month field `13` is not valid"
        );
        assert_eq!(
            e("0 2 * * mon-fri-sat", "UTC").1,
            "the day of week field `mon-fri-sat` is not valid"
        );
        assert!(e("0 2 * *", "UTC").1.contains("has 4 fields"));
        assert!(e("@fortnightly", "UTC").1.contains("not one of @hourly"));
        assert_eq!(e("0 2 * * *", "Mars/Olympus").0, "tz");
    }
}
