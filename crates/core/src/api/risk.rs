//! `risk.*`: limits, trading states, the kill switch, violations and
//! alerts; the risk alert topic.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::method::{method, topic};
use super::paging::Page;
use crate::order::OrderRequest;
use crate::risk::{Limits, Rejection, Scope, TradingState};
use crate::time::Timestamp;

method! {
    /// The limits of one scope, or of every scope that has some.
    RiskLimitsGet = "risk.limits.get", Get "/api/v1/risk/limits", Read, ScopeParam => LimitsList
}
method! {
    /// Sets limits of a scope: the keys given change (null clears one); `replace` sets the whole set.
    RiskLimitsSet = "risk.limits.set", Put "/api/v1/risk/limits", Admin, LimitsSet => ScopeLimits
}
method! {
    /// Trading states and the current usage of every limit.
    RiskStatus = "risk.status", Get "/api/v1/risk/status", Read, ScopeParam => RiskStatusView
}
method! {
    /// Runs the pre-trade checks on an order without placing it.
    RiskCheck = "risk.check", Post "/api/v1/risk/check", Read, CheckParams => CheckResult
}
method! {
    /// Kill switch: halts a scope (only cancels pass), cancels its open orders, optionally sells its positions.
    RiskHalt = "risk.halt", Post "/api/v1/risk/halt", Trade, HaltParams => ScopeState
}
method! {
    /// Makes a halted or reducing scope active again; its loss and drawdown baselines restart from now.
    RiskResume = "risk.resume", Post "/api/v1/risk/resume", Trade, ScopeParam => ScopeState
}
method! {
    /// Recorded rejections and breaches, newest first.
    RiskViolations = "risk.violations", Get "/api/v1/risk/violations", Read, ViolationFilter => ViolationPage
}
method! {
    /// Risk alerts, newest first.
    RiskAlerts = "risk.alerts", Get "/api/v1/risk/alerts", Read, AlertFilter => AlertPage
}
method! {
    /// Acknowledges an alert.
    RiskAlertsAck = "risk.alerts.ack", Post "/api/v1/risk/alerts/{id}/ack", Trade, AlertId => Alert
}

topic! {
    /// Risk alerts: warnings near a limit, breaches, trading state changes.
    RiskAlertsTopic = "risk.alerts", Alert, owned
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeParam {
    /// `account:NAME`, `bot:ID` or `symbol:SYMBOL`; default `account:paper`
    /// (for `risk.limits.get` and `risk.status`: every scope).
    #[serde(default)]
    pub scope: Option<Scope>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScopeLimits {
    pub scope: Scope,
    pub limits: Limits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LimitsList {
    pub scopes: Vec<ScopeLimits>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsSet {
    pub scope: Scope,
    /// Limit keys and values (decimal strings, counts as integers); null clears a key.
    pub limits: serde_json::Value,
    /// Replace the scope's whole set instead of changing the keys given.
    #[serde(default)]
    pub replace: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScopeState {
    pub scope: Scope,
    pub state: TradingState,
    pub reason: Option<String>,
    pub since: Option<Timestamp>,
}

/// One limit's use: `value` of `limit`, as a percentage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Usage {
    pub scope: Scope,
    pub limit: String,
    pub value: String,
    pub limit_value: String,
    /// value / limit × 100, to two places.
    pub percent: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RiskStatusView {
    pub states: Vec<ScopeState>,
    pub usage: Vec<Usage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckParams {
    pub order: OrderRequest,
    /// Check as this bot's order (its book and limits too).
    #[serde(default)]
    pub bot_id: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    pub approved: bool,
    /// Why not, when not.
    pub rejection: Option<Rejection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HaltParams {
    /// Default `account:paper`. Symbol scopes have no trading state.
    #[serde(default)]
    pub scope: Option<Scope>,
    /// Also sell every position of the scope at market.
    #[serde(default)]
    pub flatten: bool,
    /// Only reduce instead of halting: orders that shrink a position still pass.
    #[serde(default)]
    pub reduce_only: bool,
    /// Allow `reduce_only` to loosen a halted scope to reducing (refused
    /// without it).
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Violation {
    pub id: u64,
    pub time: Timestamp,
    /// Who sent the order: `socket`, `bot:3`, `risk` (a breach), …
    pub source: String,
    pub scope: Scope,
    pub limit: String,
    pub limit_value: String,
    pub value: String,
    pub message: String,
    /// The order, when a rejection.
    pub order: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ViolationFilter {
    /// Only violations of this limit (`max_order_qty`, `trading_state`,
    /// `daily_loss_limit`, …).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub since: Option<Timestamp>,
    /// Page size (as in every list).
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

pub type ViolationPage = Page<Violation>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::Info, Severity::Warning, Severity::Critical]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Alert {
    pub id: u64,
    pub time: Timestamp,
    pub severity: Severity,
    pub scope: Scope,
    /// `warning`, `breach`, `state`.
    pub kind: String,
    pub message: String,
    pub acknowledged: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertFilter {
    #[serde(default)]
    pub unacknowledged: bool,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

pub type AlertPage = Page<Alert>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertId {
    pub id: u64,
}
