//! `Ctx`, the state every handler sees: config, store, stream hub,
//! sessions, and the shutdown signal.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tradedesk_core::store::{RunRecord, Store};

use crate::config::Config;
use crate::services::sessions::Sessions;
use crate::services::stream_hub::StreamHub;

pub struct Ctx {
    pub config: Config,
    pub started_at: DateTime<Utc>,
    started: Instant,
    store: Mutex<Store>,
    pub run: RunRecord,
    pub hub: StreamHub,
    pub sessions: Sessions,
    /// Cancelled once, when the daemon begins to shut down.
    pub shutdown: CancellationToken,
}

impl Ctx {
    pub fn new(config: Config, store: Store, run: RunRecord, started_at: DateTime<Utc>) -> Self {
        let hub = StreamHub::new(config.streams.buffer);
        Ctx {
            config,
            started_at,
            started: Instant::now(),
            store: Mutex::new(store),
            run,
            hub,
            sessions: Sessions::default(),
            shutdown: CancellationToken::new(),
        }
    }

    pub fn uptime_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The writing connection. A panic while it was held cannot leave a
    /// half-written transaction behind (SQLite rolls it back), so a
    /// poisoned lock is safe to take over.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the store out for the final close.
    pub fn into_store(self) -> Store {
        self.store
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
