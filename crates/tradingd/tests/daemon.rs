//! Integration tests: a real daemon on a temporary socket and data dir,
//! driven by the real client and by raw socket writes.

mod daemon {
    pub mod backtests;
    pub mod bad_input;
    pub mod binance;
    pub mod binance_mock;
    pub mod binance_venue;
    pub mod bots;
    pub mod cache;
    pub mod conformance;
    pub mod extremes;
    pub mod figures;
    pub mod http;
    pub mod jobs;
    pub mod lifecycle;
    pub mod maintenance;
    pub mod margin;
    pub mod remote;
    pub mod risk;
    pub mod streams;
    pub mod support;
    pub mod trading;
    pub mod transports;
    pub mod trust;
    pub mod user_strategies;
    pub mod watchdog;
}
