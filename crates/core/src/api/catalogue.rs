//! The one list of methods and the one list of topics.
//!
//! Add a method here and every transport, the OpenAPI document, the CLI's
//! `rpc list` and the conformance test pick it up; the daemon stops
//! compiling until it implements [`Handle`] for it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::accounts::{AccountsBalances, AccountsCreate, AccountsList};
use super::analytics::AnalyticsPerformance;
use super::auth::{
    AuthLogin, AuthLogout, AuthMe, AuthPassword, AuthPreferencesGet, AuthPreferencesSet,
    AuthProfileGet, AuthProfileUpdate, AuthRefresh, AuthRegister, AuthTokensCreate, AuthTokensList,
    AuthTokensRevoke,
};
use super::backtests::{
    BacktestsCancel, BacktestsCompare, BacktestsCreate, BacktestsDelete, BacktestsEquity,
    BacktestsGet, BacktestsList, BacktestsReport, BacktestsResults, BacktestsSweep,
    BacktestsTrades,
};
use super::bots::{
    BotEventsTopic, BotFiguresTopic, BotStatusTopic, BotsCreate, BotsDelete, BotsEnter, BotsEquity,
    BotsEvents, BotsExit, BotsGet, BotsList, BotsPause, BotsPerformance, BotsResume, BotsStart,
    BotsStop, BotsUpdate,
};
use super::cache::{
    CacheDelete, CacheDeletePattern, CacheFlush, CacheGet, CacheHealth, CacheKeys, CacheSet,
    CacheStats, CacheTtlGet, CacheTtlSet,
};
use super::data::{DataBars, DataDelete, DataDownload, DataExport, DataGet, DataImport, DataList};
use super::jobs::{
    JobEvents, JobsCancel, JobsDead, JobsDelete, JobsEnqueue, JobsGet, JobsHealth, JobsKinds,
    JobsList, JobsPurge, JobsRequeue, JobsRetry, JobsStats, JobsWorkers,
};
use super::market::{
    KlinesTopic, MarketKlines, MarketOrderbook, MarketSymbols, MarketTicker, MarketTickers,
    MarketTrades, OrderbookTopic, TickersTopic,
};
use super::orders::{
    OrderUpdates, OrdersCancel, OrdersCancelAll, OrdersGet, OrdersList, OrdersPlace,
    OrdersPlaceBracket, OrdersPlaceOco,
};
use super::positions::{PositionUpdates, PositionsClose, PositionsGet, PositionsList};
use super::risk::{
    RiskAlerts, RiskAlertsAck, RiskAlertsTopic, RiskCheck, RiskHalt, RiskLimitsGet, RiskLimitsSet,
    RiskResume, RiskStatus, RiskViolations,
};
use super::schedules::{
    SchedulesCreate, SchedulesDelete, SchedulesGet, SchedulesList, SchedulesPause,
    SchedulesPreview, SchedulesResume, SchedulesRunNow, SchedulesUpdate,
};
use super::strategies::{
    StrategiesCatalog, StrategiesCreate, StrategiesDelete, StrategiesGet, StrategiesList,
    StrategiesUpdate, StrategiesUpload, StrategiesValidate,
};
use super::streams::{StreamsSubscribe, StreamsUnsubscribe};
use super::system::{
    Heartbeat, SystemBackup, SystemDoctor, SystemHealth, SystemInfo, SystemMethods, SystemShutdown,
    SystemVersion,
};
use super::trades::{TradeExecutions, TradesList, TradesStats};
use super::users::{
    UsersCreate, UsersDisable, UsersEnable, UsersList, UsersResetPassword, UsersSetRole,
};
use super::{Handle, Method, Scope, Topic, Verb};

/// A method as published by `system.methods`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MethodDescriptor {
    pub name: String,
    pub summary: String,
    pub scope: Scope,
    pub http_verb: Verb,
    pub http_path: String,
    pub params_schema: serde_json::Value,
    pub result_schema: serde_json::Value,
}

/// A topic as published by `system.methods`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TopicDescriptor {
    pub name: String,
    pub summary: String,
    pub event_schema: serde_json::Value,
}

/// Receives each method of the catalogue in turn, typed. `H` is the
/// handler type: the bound `H: Handle<M>` is what makes a missing handler a
/// compile error.
pub trait Visitor<H: ?Sized> {
    fn visit<M: Method>(&mut self)
    where
        H: Handle<M>;
}

macro_rules! catalogue {
    (methods: [$($m:ident),* $(,)?], topics: [$($t:ident),* $(,)?]) => {
        /// Everything the daemon's context must implement: one [`Handle`]
        /// per method of the catalogue.
        pub trait Handlers: Send + Sync + 'static $(+ Handle<$m>)* {}
        impl<T: Send + Sync + 'static $(+ Handle<$m>)*> Handlers for T {}

        /// Calls `visitor.visit::<M>()` for every method, in catalogue order.
        pub fn visit_methods<H: Handlers + ?Sized, V: Visitor<H>>(visitor: &mut V) {
            $( visitor.visit::<$m>(); )*
        }

        pub fn method_names() -> &'static [&'static str] {
            &[$(<$m as Method>::NAME),*]
        }

        /// Every method's name with its REST verb and route, in catalogue
        /// order (what a REST client needs, without the schemas).
        pub fn method_routes() -> &'static [(&'static str, Verb, &'static str)] {
            &[$((<$m as Method>::NAME, <$m as Method>::HTTP.0, <$m as Method>::HTTP.1)),*]
        }

        pub fn method_descriptors() -> Vec<MethodDescriptor> {
            vec![$(describe_method::<$m>()),*]
        }

        pub fn topic_names() -> &'static [&'static str] {
            &[$(<$t as Topic>::NAME),*]
        }

        pub fn topic_descriptors() -> Vec<TopicDescriptor> {
            vec![$(describe_topic::<$t>()),*]
        }
    };
}

catalogue! {
    methods: [
        SystemHealth,
        SystemVersion,
        SystemInfo,
        SystemMethods,
        SystemShutdown,
        SystemBackup,
        SystemDoctor,
        AuthLogin,
        AuthRefresh,
        AuthLogout,
        AuthMe,
        AuthPassword,
        AuthRegister,
        AuthProfileGet,
        AuthProfileUpdate,
        AuthPreferencesGet,
        AuthPreferencesSet,
        AuthTokensCreate,
        AuthTokensList,
        AuthTokensRevoke,
        UsersList,
        UsersCreate,
        UsersDisable,
        UsersEnable,
        UsersSetRole,
        UsersResetPassword,
        StreamsSubscribe,
        StreamsUnsubscribe,
        MarketSymbols,
        MarketTicker,
        MarketTickers,
        MarketKlines,
        MarketOrderbook,
        MarketTrades,
        AccountsList,
        AccountsBalances,
        AccountsCreate,
        OrdersPlace,
        OrdersPlaceOco,
        OrdersPlaceBracket,
        OrdersCancel,
        OrdersCancelAll,
        OrdersGet,
        OrdersList,
        PositionsList,
        PositionsGet,
        PositionsClose,
        TradesList,
        TradesStats,
        StrategiesCatalog,
        StrategiesCreate,
        StrategiesList,
        StrategiesGet,
        StrategiesUpdate,
        StrategiesValidate,
        StrategiesDelete,
        StrategiesUpload,
        BotsCreate,
        BotsList,
        BotsGet,
        BotsUpdate,
        BotsStart,
        BotsPause,
        BotsResume,
        BotsEnter,
        BotsExit,
        BotsStop,
        BotsEvents,
        BotsPerformance,
        BotsEquity,
        BotsDelete,
        RiskLimitsGet,
        RiskLimitsSet,
        RiskStatus,
        RiskCheck,
        RiskHalt,
        RiskResume,
        RiskViolations,
        RiskAlerts,
        RiskAlertsAck,
        JobsKinds,
        JobsEnqueue,
        JobsGet,
        JobsList,
        JobsCancel,
        JobsRetry,
        JobsDead,
        JobsRequeue,
        JobsStats,
        JobsHealth,
        JobsWorkers,
        JobsDelete,
        JobsPurge,
        SchedulesCreate,
        SchedulesList,
        SchedulesGet,
        SchedulesUpdate,
        SchedulesPause,
        SchedulesResume,
        SchedulesRunNow,
        SchedulesPreview,
        SchedulesDelete,
        DataImport,
        DataDownload,
        DataList,
        DataGet,
        DataBars,
        DataDelete,
        DataExport,
        BacktestsCreate,
        BacktestsGet,
        BacktestsList,
        BacktestsCancel,
        BacktestsDelete,
        BacktestsResults,
        BacktestsTrades,
        BacktestsEquity,
        BacktestsReport,
        BacktestsCompare,
        BacktestsSweep,
        AnalyticsPerformance,
        CacheHealth,
        CacheStats,
        CacheKeys,
        CacheGet,
        CacheSet,
        CacheDelete,
        CacheDeletePattern,
        CacheTtlGet,
        CacheTtlSet,
        CacheFlush,
    ],
    topics: [
        Heartbeat,
        TickersTopic,
        KlinesTopic,
        OrderbookTopic,
        OrderUpdates,
        PositionUpdates,
        TradeExecutions,
        BotStatusTopic,
        BotFiguresTopic,
        BotEventsTopic,
        RiskAlertsTopic,
        JobEvents,
    ]
}

/// One method's params schema (what `method_descriptors` gives for it,
/// without making every method's schemas).
pub fn params_schema<M: Method>() -> serde_json::Value {
    schemars::schema_for!(M::Params).to_value()
}

fn describe_method<M: Method>() -> MethodDescriptor {
    MethodDescriptor {
        name: M::NAME.to_owned(),
        summary: M::SUMMARY.to_owned(),
        scope: M::SCOPE,
        http_verb: M::HTTP.0,
        http_path: M::HTTP.1.to_owned(),
        params_schema: params_schema::<M>(),
        result_schema: schemars::schema_for!(M::Result).to_value(),
    }
}

fn describe_topic<T: Topic>() -> TopicDescriptor {
    TopicDescriptor {
        name: T::NAME.to_owned(),
        summary: T::SUMMARY.to_owned(),
        event_schema: schemars::schema_for!(T::Event).to_value(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn valid_name(name: &str) -> bool {
        let parts: Vec<&str> = name.split('.').collect();
        parts.len() >= 2
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    }

    #[test]
    fn names_are_unique_and_well_formed() {
        // Methods and topics are separate namespaces: `market.tickers` is
        // both a method (a snapshot) and a topic (the live feed).
        for names in [method_names(), topic_names()] {
            let mut seen = HashSet::new();
            for name in names {
                assert!(
                    valid_name(name),
                    "`{name}` is not group.action in lower snake case"
                );
                assert!(seen.insert(*name), "`{name}` declared twice");
            }
        }
    }

    #[test]
    fn http_routes_are_unique_and_versioned() {
        let mut seen = HashSet::new();
        for d in method_descriptors() {
            assert!(
                d.http_path.starts_with("/api/v1/"),
                "{}: {}",
                d.name,
                d.http_path
            );
            assert!(
                seen.insert((d.http_verb, d.http_path.clone())),
                "route of {} reused",
                d.name
            );
            assert!(!d.summary.is_empty(), "{} has no summary", d.name);
            assert!(d.params_schema.is_object() && d.result_schema.is_object());
        }
    }

    /// The field names a params schema declares (following a `$ref` to
    /// its definition).
    fn fields(schema: &serde_json::Value) -> HashSet<String> {
        let mut s = schema;
        if let Some(r) = s.get("$ref").and_then(|r| r.as_str()) {
            let name = r.rsplit('/').next().unwrap_or_default();
            s = &schema["$defs"][name];
        }
        s.get("properties")
            .and_then(|p| p.as_object())
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    #[test]
    fn http_routes_are_rest_shaped() {
        // Actions that are verbs of the protocol, not sub-resources, must
        // not appear as the last segment: the HTTP verb says them.
        const RPC_WORDS: [&str; 6] = ["get", "set", "update", "delete", "remove", "list"];
        for d in method_descriptors() {
            let fields = fields(&d.params_schema);
            for seg in d.http_path.split('/') {
                if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    assert!(
                        fields.contains(name),
                        "{}: `{{{name}}}` in {} is not a field of its params ({fields:?})",
                        d.name,
                        d.http_path
                    );
                }
            }
            let last = d.http_path.rsplit('/').next().unwrap_or_default();
            assert!(
                !RPC_WORDS.contains(&last),
                "{}: {} {} is RPC-shaped",
                d.name,
                d.http_verb.as_str(),
                d.http_path
            );
            // Reads are GETs, except the few whose params are a body (an
            // order to check, a list of runs) or a session's state.
            const READ_BODIES: [&str; 10] = [
                // A viewer may change its own password, profile and
                // preferences, and manage its own access tokens.
                "auth.password",
                "auth.profile.update",
                "auth.preferences.set",
                "auth.tokens.create",
                "auth.tokens.revoke",
                "strategies.validate",
                "risk.check",
                "backtests.compare",
                "streams.subscribe",
                "streams.unsubscribe",
            ];
            if d.scope == Scope::Read && !READ_BODIES.contains(&d.name.as_str()) {
                assert_eq!(
                    d.http_verb,
                    Verb::Get,
                    "{} reads with {:?}",
                    d.name,
                    d.http_verb
                );
            }
            // A method whose name says delete is a DELETE.
            if d.name.ends_with(".delete") {
                assert_eq!(d.http_verb, Verb::Delete, "{}", d.name);
            }
        }
    }

    #[test]
    fn a_path_field_that_is_not_a_param_is_caught() {
        let schema = schemars::schema_for!(crate::api::risk::AlertId).to_value();
        assert!(fields(&schema).contains("id"));
        assert!(!fields(&schema).contains("symbol"));
    }
}
