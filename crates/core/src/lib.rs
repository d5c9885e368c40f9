//! tradedesk-core: the domain, the method catalogue and the
//! client shared by the daemon, the CLI and the dashboard.
//!
//! This crate never touches a transport, a UI or a runtime (the `client`
//! feature alone brings in tokio for the async client). Everything that
//! crosses the wire is declared once in [`api`].

pub mod analytics;
pub mod api;
pub mod backtest;
#[cfg(feature = "clap")]
pub mod cli;
pub mod dataset;
pub mod display;
pub mod engine;
pub mod indicator;
pub mod instrument;
pub mod job;
pub mod ledger;
pub mod market;
pub mod money;
pub mod order;
pub mod paths;
pub mod portfolio;
pub mod risk;
#[cfg(feature = "secrets")]
pub mod secrets;
pub mod sim;
pub mod strategy;
pub mod time;
pub mod venue;
pub mod wasm_build;

#[cfg(feature = "client")]
pub mod client;
