//! `Ctx`, the state every handler sees: config, store, stream hub,
//! sessions, and the shutdown signal.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use crate::store::{RunRecord, Store};
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::lock_order::{OrderedGuard, OrderedMutex};
use tradedesk_core::api::orders::OrderUpdates;
use tradedesk_core::api::positions::PositionUpdates;
use tradedesk_core::api::risk::RiskAlertsTopic;
use tradedesk_core::api::trades::TradeExecutions;

use crate::services::bots::Bots;
use crate::services::exchange::{Changes, Exchange, State};
use crate::services::jobs::Jobs;
use crate::services::sessions::Sessions;
use crate::services::stream_hub::StreamHub;
use tradedesk_core::time::Timestamp;

pub struct Ctx {
    pub config: Config,
    pub started_at: DateTime<Utc>,
    started: Instant,
    store: Arc<OrderedMutex<Store>>,
    pub run: RunRecord,
    pub hub: StreamHub,
    pub sessions: Sessions,
    /// Cancelled once, when the daemon begins to shut down.
    pub shutdown: CancellationToken,
    pub exchange: Exchange,
    pub bots: Bots,
    pub clock: Clock,
    pub jobs: Jobs,
    /// The long-running loops' beats, for `system.health`.
    pub progress: crate::services::progress::Progress,
    /// The in-memory cache (the exchange holds it too, to keep it true).
    pub cache: std::sync::Arc<crate::services::cache::Cache>,
    /// What the live figures last published (a leaf lock).
    pub figures: std::sync::Mutex<crate::services::figures::Published>,
    /// Passwords and tokens of the network transports' users.
    pub auth: crate::services::auth::Auth,
}

/// Where the daemon's time comes from: the system clock, or (for tests
/// and simulations) a clock that moves only when told to.
#[derive(Debug)]
pub enum Clock {
    System,
    Manual(AtomicI64),
}

impl Clock {
    pub fn manual(start: Timestamp) -> Clock {
        Clock::Manual(AtomicI64::new(start.millis()))
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::from_datetime(Utc::now()),
            Clock::Manual(ms) => Timestamp(ms.load(Ordering::SeqCst)),
        }
    }

    /// Moves a manual clock forward; the system clock moves by itself.
    pub fn advance(&self, ms: i64) {
        if let Clock::Manual(t) = self {
            t.fetch_add(ms, Ordering::SeqCst);
        }
    }
}

impl Ctx {
    #[allow(clippy::too_many_arguments)] // the daemon's parts, assembled once at start
    pub fn new(
        config: Config,
        store: Arc<OrderedMutex<Store>>,
        run: RunRecord,
        started_at: DateTime<Utc>,
        exchange: Exchange,
        bots: Bots,
        clock: Clock,
        job_kinds: crate::services::jobs::JobKinds,
        cache: std::sync::Arc<crate::services::cache::Cache>,
        auth: crate::services::auth::Auth,
    ) -> Self {
        let hub = StreamHub::new(config.streams.buffer);
        let jobs = Jobs::new(config.jobs.workers, job_kinds);
        let progress = crate::services::progress::Progress::new(config.jobs.workers);
        Ctx {
            config,
            started_at,
            started: Instant::now(),
            store,
            run,
            hub,
            sessions: Sessions::default(),
            shutdown: CancellationToken::new(),
            exchange,
            jobs,
            bots,
            clock,
            progress,
            cache,
            figures: std::sync::Mutex::default(),
            auth,
        }
    }

    pub fn uptime_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The store's lock itself, for a caller that must take it briefly
    /// between slow steps (a password check) rather than hold a guard.
    pub fn store_mutex(&self) -> &OrderedMutex<Store> {
        &self.store
    }

    /// The writing connection. A panic while it was held cannot leave a
    /// half-written transaction behind (SQLite rolls it back), so a
    /// poisoned lock is safe to take over. Taken after the bot supervisor
    /// and the exchange, never before (see `lock_order`).
    pub fn store(&self) -> OrderedGuard<'_, Store> {
        self.store.lock()
    }

    /// The store, if it is free within `wait` (for a stop that must not
    /// hang on a stuck holder).
    pub fn store_within(&self, wait: std::time::Duration) -> Option<OrderedGuard<'_, Store>> {
        self.store.lock_within(wait)
    }

    /// How long the store lock has been held, if it is.
    pub fn store_held_for(&self) -> Option<std::time::Duration> {
        self.store.held_for()
    }

    /// Runs a group committer on the writing connection until shutdown
    /// (see `services::group_commit`).
    pub fn commit_groups<R: Send + 'static>(
        &self,
        group: &crate::services::group_commit::GroupCommit<R>,
    ) {
        group.run(&self.store, &self.shutdown, || {
            self.progress
                .beat(crate::services::progress::Part::Committer);
        });
    }

    /// Moves a manual clock forward and wakes what waits for time (the
    /// job workers and the scheduler), as the passing of real time would.
    pub fn advance(&self, ms: i64) {
        self.clock.advance(ms);
        self.jobs.wake();
        self.jobs.schedules_changed.ring();
    }

    /// The current time, as core takes it.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Runs blocking work (the exchange lock, SQLite writes) without
    /// stalling the runtime's other tasks.
    pub fn blocking<T>(&self, f: impl FnOnce(&Ctx) -> T) -> T {
        tokio::task::block_in_place(|| f(self))
    }

    /// Publishes what an exchange operation changed.
    pub fn publish(&self, state: &State, changes: &Changes) {
        for a in state.risk.take_alerts() {
            self.hub
                .publish_to::<RiskAlertsTopic>(state.scope_owner(&a.scope), &a);
        }
        for o in changes.orders.values() {
            self.hub
                .publish_to::<OrderUpdates>(state.account_owner(&o.account), o);
        }
        for (_, e) in &changes.fills {
            self.hub
                .publish_to::<TradeExecutions>(state.account_owner(&e.account), e);
        }
        let mut seen = Vec::new();
        for (acc, _, symbol) in &changes.positions {
            if !seen.contains(&(acc, symbol)) {
                seen.push((acc, symbol));
                self.hub.publish_to::<PositionUpdates>(
                    Some(&state.accounts[*acc].row.owner),
                    &state.position_view(*acc, symbol),
                );
            }
        }
    }
}
