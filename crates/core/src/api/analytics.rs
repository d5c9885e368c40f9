//! `analytics.*`: figures of paper and live bots from their ledgers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::method::method;
use crate::analytics::Metrics;
use crate::time::Timestamp;

method! {
    /// The metrics of a paper or live bot from its ledger.
    AnalyticsPerformance = "analytics.performance", Get "/api/v1/analytics/performance", Read, PerformanceParams => Metrics
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerformanceParams {
    /// A bot's id.
    pub bot: u64,
    #[serde(default)]
    pub start: Option<Timestamp>,
    #[serde(default)]
    pub end: Option<Timestamp>,
}
