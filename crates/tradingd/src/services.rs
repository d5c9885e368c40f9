//! Long-lived services the daemon runs beside its transports.

pub mod answers;
pub mod auth;
pub mod bots;
pub mod cache;
pub mod exchange;
pub mod figures;
pub mod group_commit;
pub mod jobs;
pub mod market_loop;
pub mod metrics;
pub mod progress;
pub mod sessions;
pub mod stream_hub;

/// What a caught panic said.
pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
