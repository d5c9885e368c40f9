//! Long-lived services the daemon runs beside its transports.

pub mod bots;
pub mod exchange;
pub mod jobs;
pub mod market_loop;
pub mod sessions;
pub mod stream_hub;
