//! Long-lived services the daemon runs beside its transports.

pub mod sessions;
pub mod stream_hub;
