//! `system.*`: liveness, version, facts about the running daemon, the
//! catalogue itself, and shutdown; the `system.heartbeat` topic.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::method::{method, topic};
use super::{Empty, ErrorDescriptor, MethodDescriptor, TopicDescriptor};

/// The catalogue's wire version; bumped on any incompatible change.
pub const API_VERSION: u32 = 1;

method! {
    /// Whether the daemon is making progress: `ok`, or `degraded` naming each
    /// component (market loop, job workers, scheduler, locks, the exchange)
    /// that has stalled or suspended trading.
    SystemHealth = "system.health", Get "/api/v1/system/health", Read, Empty => Health
}
method! {
    /// Daemon and API versions.
    SystemVersion = "system.version", Get "/api/v1/system/version", Read, Empty => Version
}
method! {
    /// Facts about the running daemon: pid, uptime, paths, database size.
    SystemInfo = "system.info", Get "/api/v1/system/info", Read, Empty => Info
}
method! {
    /// The method catalogue: names, scopes, HTTP routes, schemas, topics and error codes.
    SystemMethods = "system.methods", Get "/api/v1/system/methods", Read, Empty => Catalogue
}
method! {
    /// Stops the daemon gracefully after answering.
    SystemShutdown = "system.shutdown", Post "/api/v1/system/shutdown", Admin, Empty => ShutdownAck
}

method! {
    /// Writes a consistent copy of the database to a new file on the
    /// daemon's machine (SQLite's online backup: trading goes on), checked
    /// with `integrity_check`. Over the socket only: the daemon takes no
    /// file path from the network.
    SystemBackup = "system.backup", Post "/api/v1/system/backup", Admin, BackupParams => BackupDone
}
method! {
    /// The readiness checks the running daemon can make: database,
    /// directories, disk, HTTP settings, secrets, clock, logs, bots without
    /// risk limits, schedules that never fire, dead jobs, health.
    SystemDoctor = "system.doctor", Get "/api/v1/system/doctor", Admin, Empty => DoctorReport
}

topic! {
    /// One event per second while the daemon runs.
    Heartbeat = "system.heartbeat", HeartbeatEvent
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    /// At least one component has stalled or suspended trading; see `components`.
    Degraded,
    ShuttingDown,
}

/// One part of the daemon, as `system.health` sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ComponentHealth {
    /// `market_loop`, `scheduler`, `lease_keeper`, `enqueue_committer`,
    /// `worker N`, `bot_supervisor`, `exchange` or `store`.
    pub name: String,
    pub status: ComponentStatus,
    /// What is wrong, when something is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Ok,
    /// No progress for longer than `watchdog.stall_ms`.
    Stalled,
    /// Working, but refusing its work (the exchange refuses new orders; a
    /// venue that banned us for a while).
    Suspended,
    /// A link to a venue is down and being reconnected, or its data is
    /// not in sequence yet.
    Disconnected,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    pub status: HealthStatus,
    pub uptime_ms: u64,
    #[serde(default)]
    pub components: Vec<ComponentHealth>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Version {
    /// The daemon's package version.
    pub version: String,
    pub api_version: u32,
}

/// How the previous run of the daemon on this data dir ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PreviousShutdown {
    /// First start on this data dir.
    None,
    Clean,
    /// The previous run never recorded its stop (killed or crashed).
    Unclean,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Info {
    pub version: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub uptime_ms: u64,
    pub data_dir: String,
    pub socket: String,
    pub db_path: String,
    /// Where the daemon writes its log files (`tradectl logs` reads them).
    pub log_dir: String,
    /// Database file plus write-ahead log, in bytes.
    pub db_size_bytes: u64,
    /// How many times a daemon has started on this data dir.
    pub run_number: u64,
    pub previous_shutdown: PreviousShutdown,
    pub connections: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Catalogue {
    pub api_version: u32,
    pub methods: Vec<MethodDescriptor>,
    pub topics: Vec<TopicDescriptor>,
    pub errors: Vec<ErrorDescriptor>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShutdownAck {
    pub stopping: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HeartbeatEvent {
    /// Counts from 1 at daemon start.
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub uptime_ms: u64,
}

impl Default for ShutdownAck {
    fn default() -> Self {
        ShutdownAck { stopping: true }
    }
}

impl Catalogue {
    pub fn current() -> Self {
        Catalogue {
            api_version: API_VERSION,
            methods: super::method_descriptors(),
            topics: super::topic_descriptors(),
            errors: ErrorDescriptor::all(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupParams {
    /// Where to write the backup: an absolute path on the daemon's machine,
    /// in an existing directory, not an existing file.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BackupDone {
    pub path: String,
    pub bytes: u64,
    /// The schema version the backup holds (`tradingd restore` migrates an
    /// older one at the next start).
    pub schema_version: u32,
    pub took_ms: u64,
}

/// How one readiness check came out; a report's worst decides the exit code
/// of `tradectl doctor` (0 ok, 1 warn, 2 fail).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Check {
    /// A stable name: `config`, `data_dir`, `disk`, `database`, …
    pub name: String,
    pub status: CheckStatus,
    /// What was found.
    pub detail: String,
    /// What to do about it, in one line (warn and fail only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.to_owned(),
            status: CheckStatus::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.to_owned(),
            status: CheckStatus::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.to_owned(),
            status: CheckStatus::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DoctorReport {
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// The worst result (ok for no checks).
    pub fn worst(&self) -> CheckStatus {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(CheckStatus::Ok)
    }
}
