//! `system.*` handlers.

use tradedesk_core::api::system::{
    API_VERSION, BackupDone, BackupParams, Catalogue, Check, ComponentStatus, DoctorReport, Health,
    HealthStatus, Info, ShutdownAck, SystemBackup, SystemDoctor, SystemHealth, SystemInfo,
    SystemMethods, SystemShutdown, SystemVersion, Version,
};
use tradedesk_core::api::{ApiError, Caller, Empty, Handle, Transport};

use crate::context::Ctx;
use crate::services::progress::lock_health;

impl Handle<SystemHealth> for Ctx {
    /// Takes none of the daemon's big locks: it must answer when they are stuck.
    async fn handle(&self, _: &Caller, _: Empty) -> Result<Health, ApiError> {
        let stall = self.config.watchdog.stall_ms;
        let workers = self.jobs.workers();
        let mut components = self.progress.report(stall, |i| {
            workers.get(i).and_then(|w| {
                Some(format!(
                    "running job {} ({})",
                    w.job?,
                    w.kind.as_deref().unwrap_or("?")
                ))
            })
        });
        components.push(lock_health("bot_supervisor", self.bots.held_for(), stall));
        let mut exchange = lock_health("exchange", self.exchange.held_for(), stall);
        if let Some(why) = self.exchange.suspended() {
            exchange.status = ComponentStatus::Suspended;
            exchange.detail = Some(format!("new orders are refused: {why}"));
        }
        components.push(exchange);
        components.push(lock_health("store", self.store_held_for(), stall));
        components.extend(self.exchange.link_health());
        let status = if self.shutdown.is_cancelled() {
            HealthStatus::ShuttingDown
        } else if components.iter().any(|c| c.status != ComponentStatus::Ok) {
            HealthStatus::Degraded
        } else {
            HealthStatus::Ok
        };
        Ok(Health {
            status,
            uptime_ms: self.uptime_ms(),
            components,
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
            log_dir: self.config.log.dir.display().to_string(),
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

impl Handle<SystemBackup> for Ctx {
    async fn handle(&self, caller: &Caller, p: BackupParams) -> Result<BackupDone, ApiError> {
        if caller.transport == Transport::Http {
            return Err(ApiError::bad_field(
                "path",
                "the daemon takes no file path over HTTP: run `tradectl backup FILE` on its machine",
            ));
        }
        let to = crate::maintenance::check_backup_path(&p.path)
            .map_err(|m| ApiError::bad_field("path", m))?;
        let db = self.config.db_path();
        // A connection of its own: the store's lock is not taken, and
        // trading goes on while the copy is read.
        let done = self.blocking(|_| crate::maintenance::backup(&db, &to));
        match done {
            Ok(d) => {
                tracing::info!(path = %d.path, bytes = d.bytes, took_ms = d.took_ms, user = %caller.user, "backup written");
                Ok(d)
            }
            Err(m) => Err(ApiError::internal(format!("backup failed: {m}"))),
        }
    }
}

impl Handle<SystemDoctor> for Ctx {
    async fn handle(&self, caller: &Caller, _: Empty) -> Result<DoctorReport, ApiError> {
        let local = self.blocking(|ctx| crate::maintenance::local_checks(&ctx.config));
        let clock = crate::maintenance::clock(&self.config).await;
        let mut checks = crate::maintenance::with_clock(local, clock);
        let health = <Self as Handle<SystemHealth>>::handle(self, caller, Empty {}).await?;
        checks.push(match health.status {
            HealthStatus::Ok => Check::ok("health", "every component makes progress"),
            HealthStatus::ShuttingDown => Check::warn("health", "shutting down", "start it again"),
            HealthStatus::Degraded => {
                let bad: Vec<String> = health
                    .components
                    .iter()
                    .filter(|c| c.status != ComponentStatus::Ok)
                    .map(|c| match &c.detail {
                        Some(d) => format!("{} {:?}: {d}", c.name, c.status).to_lowercase(),
                        None => format!("{} {:?}", c.name, c.status).to_lowercase(),
                    })
                    .collect();
                Check::fail(
                    "health",
                    format!("degraded: {}", bad.join("; ")),
                    "see `tradectl status` and the log (`tradectl logs --level warn`)",
                )
            }
        });
        Ok(DoctorReport { checks })
    }
}
