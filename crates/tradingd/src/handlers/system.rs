//! `system.*` handlers.

use tradedesk_core::api::system::{
    API_VERSION, Catalogue, Health, HealthStatus, Info, ShutdownAck, SystemHealth, SystemInfo,
    SystemMethods, SystemShutdown, SystemVersion, Version,
};
use tradedesk_core::api::{ApiError, Caller, Empty, Handle};

use crate::context::Ctx;

impl Handle<SystemHealth> for Ctx {
    async fn handle(&self, _: &Caller, _: Empty) -> Result<Health, ApiError> {
        let status = if self.shutdown.is_cancelled() {
            HealthStatus::ShuttingDown
        } else {
            HealthStatus::Ok
        };
        Ok(Health {
            status,
            uptime_ms: self.uptime_ms(),
        })
    }
}

impl Handle<SystemVersion> for Ctx {
    async fn handle(&self, _: &Caller, _: Empty) -> Result<Version, ApiError> {
        Ok(Version {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            api_version: API_VERSION,
        })
    }
}

impl Handle<SystemInfo> for Ctx {
    async fn handle(&self, _: &Caller, _: Empty) -> Result<Info, ApiError> {
        let db_size_bytes = self.store().size_bytes();
        Ok(Info {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            started_at: self.started_at,
            uptime_ms: self.uptime_ms(),
            data_dir: self.config.data_dir.display().to_string(),
            socket: self.config.socket.display().to_string(),
            db_path: self.config.db_path().display().to_string(),
            db_size_bytes,
            run_number: self.run.run_number,
            previous_shutdown: self.run.previous,
            connections: u32::try_from(self.sessions.count()).unwrap_or(u32::MAX),
        })
    }
}

impl Handle<SystemMethods> for Ctx {
    async fn handle(&self, _: &Caller, _: Empty) -> Result<Catalogue, ApiError> {
        Ok(Catalogue::current())
    }
}

impl Handle<SystemShutdown> for Ctx {
    async fn handle(&self, caller: &Caller, _: Empty) -> Result<ShutdownAck, ApiError> {
        tracing::info!(user = %caller.user, transport = ?caller.transport, "shutdown requested");
        self.shutdown.cancel();
        Ok(ShutdownAck { stopping: true })
    }
}
