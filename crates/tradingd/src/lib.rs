//! tradingd: the daemon that owns all of tradedesk's state and serves the
//! method catalogue over its transports.
//!
//! [`Daemon::start`] does everything that can fail at start-up (data dir,
//! single-instance lock, database and migrations, socket) before it
//! returns, so a caller knows the daemon is ready when it has a `Daemon`.
//! [`Daemon::run`] serves until shutdown, then stops in order: no new
//! connections, in-flight requests finished, the run recorded as clean, the
//! database checkpointed, the socket removed, the lock released.

// Every amount, count and time a request, a bot or a market tick can
// reach is computed with checked, saturating or explicitly wrapping
// arithmetic: an overflow is an error naming the field, never a panic.
#![deny(clippy::arithmetic_side_effects)]

pub mod config;
pub mod context;
mod handlers;
pub mod hex;
pub mod lock_order;
pub mod maintenance;
pub mod notify;
pub mod server;
pub mod services;
pub mod store;
pub mod venues;

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use crate::store::{Store, StoreError};
use chrono::Utc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tradedesk_core::api::system::{Heartbeat, HeartbeatEvent};
use tradedesk_core::paths::LOCK_FILE;

use crate::config::Config;
use crate::context::{Clock, Ctx};
use crate::server::dispatch::Dispatcher;
use crate::server::rpc::Rpc;
use crate::server::unix::{BoundSocket, SocketError};
use crate::services::bots::Bots;
use crate::services::exchange::Exchange;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data dir {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("another tradingd{} is already running on data dir {data_dir}", .pid.as_ref().map(|p| format!(" (pid {p})")).unwrap_or_default())]
    AlreadyRunning {
        data_dir: String,
        pid: Option<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error("authentication: {0}")]
    Auth(#[from] services::auth::AuthSetupError),
    #[error("http: cannot listen on {addr}: {source}")]
    Http {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("http tls: {0}")]
    Tls(#[from] server::tls::TlsError),
    #[error("{0}")]
    Venue(String),
}

pub struct Daemon {
    ctx: Arc<Ctx>,
    socket: BoundSocket,
    http: Option<server::http::BoundHttp>,
    // Held for the daemon's lifetime: the single-instance lock.
    _lock: File,
}

/// How to start a daemon beyond its config: the strategies it can build
/// (the built-ins by default) and, for tests and simulations, a clock that
/// moves only when told to (the market loop then still ticks, at the
/// frozen time, unless driven by hand).
#[derive(Clone)]
pub struct Options {
    pub registry: tradedesk_core::strategy::Registry,
    pub manual_clock: Option<tradedesk_core::time::Timestamp>,
    /// Job kinds beyond the built-ins.
    pub job_kinds: services::jobs::JobKinds,
    /// Binance keys to use instead of the secret store's (tests).
    pub binance_credentials: Option<venues::binance::Credentials>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            registry: tradedesk_core::strategy::Registry::builtin(),
            manual_clock: None,
            job_kinds: services::jobs::JobKinds::builtin(),
            binance_credentials: None,
        }
    }
}

/// Cancels `token` when `shutdown` is.
fn stop_with(shutdown: &CancellationToken, token: CancellationToken) {
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        token.cancel();
    });
}

/// Binance as the market: its venue, a day of bars, and the live account
/// when `binance.live` is on and its keys are in the secret store.
async fn open_binance(
    b: &config::BinanceConfig,
    config: &Config,
    creds: Option<venues::binance::Credentials>,
    stop: &CancellationToken,
) -> Result<services::exchange::Market, StartError> {
    let creds = match creds {
        Some(c) => Some(c),
        None if b.live => Some(binance_keys(&b.keys)?),
        None => None,
    };
    let (venue, bars) = venues::binance::open(b, config.sim.fees, creds, stop)
        .await
        .map_err(|e| StartError::Venue(format!("cannot start on binance ({}): {e}", b.rest_url)))?;
    let link: Arc<dyn venues::VenueLink> = Arc::new(venue.link());
    Ok(services::exchange::Market {
        link: Some(link),
        binance_rest: Some(venue.rest()),
        venue: Box::new(venue),
        bars,
        live_account: b.live.then(|| "binance".to_owned()),
    })
}

/// The API key and secret from the secret store; never logged.
fn binance_keys(keys: &str) -> Result<venues::binance::Credentials, StartError> {
    let (key_name, secret_name) = tradedesk_core::secrets::venue_keys(keys);
    let store = tradedesk_core::secrets::open_default()
        .map_err(|e| StartError::Venue(format!("the secret store: {e}")))?;
    let get = |name: &str| {
        store
            .get(name)
            .map_err(|e| StartError::Venue(format!("the secret store: {e}")))?
            .ok_or_else(|| {
                StartError::Venue(format!(
                    "binance.live is on but `{name}` is not in {}; set the keys with `tradectl venue keys set {keys}`",
                    store.describe()
                ))
            })
    };
    Ok(venues::binance::Credentials {
        key: get(&key_name)?,
        secret: get(&secret_name)?.into_bytes(),
    })
}

impl Daemon {
    /// Async although it awaits nothing: binding the listener registers it
    /// with the runtime's reactor, so it must run inside one.
    pub async fn start(config: Config) -> Result<Daemon, StartError> {
        Self::start_with(config, Options::default()).await
    }

    /// Starts with extra strategies or a manual clock (see [`Options`]).
    #[allow(clippy::unused_async)]
    pub async fn start_with(config: Config, options: Options) -> Result<Daemon, StartError> {
        let data_err = |source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.data_dir)
            .map_err(data_err)?;
        let lock = lock_data_dir(&config.data_dir)?;
        let mut store = Store::open(&config.db_path())?;
        let clock = match options.manual_clock {
            Some(t) => Clock::manual(t),
            None => Clock::System,
        };
        let started_at = clock.now().to_datetime().unwrap_or_else(Utc::now);
        let run = store.record_start(
            std::process::id(),
            env!("CARGO_PKG_VERSION"),
            started_at.timestamp_millis(),
        )?;
        if run.previous == tradedesk_core::api::system::PreviousShutdown::Unclean {
            tracing::warn!("the previous daemon on this data dir did not shut down cleanly");
        }
        let cache = Arc::new(crate::services::cache::Cache::new(config.cache.max_bytes));
        let store = Arc::new(lock_order::OrderedMutex::new(
            lock_order::Rank::Store,
            store,
        ));
        let venue_stop = CancellationToken::new();
        let market = match &config.binance {
            Some(b) => {
                Some(open_binance(b, &config, options.binance_credentials, &venue_stop).await?)
            }
            None => None,
        };
        let exchange = Exchange::open(
            config.sim.clone(),
            Arc::clone(&store),
            clock.now(),
            run.run_number,
            Arc::clone(&cache),
            market,
        )?;
        let auth = services::auth::Auth::open(
            &config.data_dir,
            config.auth.access_ttl_s,
            config.auth.refresh_ttl_s,
        )?;
        let socket = BoundSocket::bind(&config.socket)?;
        let http = if config.http.enabled {
            Some(server::http::bind(config.http.bind, config.http.tls.as_ref()).await?)
        } else {
            None
        };
        tracing::info!(
            socket = %config.socket.display(),
            data_dir = %config.data_dir.display(),
            run = run.run_number,
            "tradingd ready"
        );
        load_user_strategies(&store, &options.registry);
        let bots = Bots::new(options.registry);
        let ctx = Arc::new(Ctx::new(
            config,
            store,
            run,
            started_at,
            exchange,
            bots,
            clock,
            options.job_kinds,
            cache,
            auth,
        ));
        // A remote venue's answers are awaited on this runtime and booked
        // through the context.
        ctx.exchange.lock().dispatch = Some(services::answers::dispatch(
            &ctx,
            tokio::runtime::Handle::current(),
        ));
        stop_with(&ctx.shutdown, venue_stop);
        // Open orders are back in the engine; now the bots that were running.
        ctx.bots.resume_all(&ctx);
        // Jobs a dead daemon left running are retried or dead; imports it
        // left half-written are dropped (their jobs run them again).
        services::jobs::recover(&ctx);
        // Uploads no queued import will read any more.
        server::files::sweep(&ctx);
        match ctx
            .store()
            .write(|tx| crate::store::backtests::abandon_imports(tx, None))
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(datasets = n, "dropped imports a crash left unfinished"),
            Err(e) => tracing::error!(error = %e, "cannot drop unfinished imports"),
        }
        Ok(Daemon {
            ctx,
            socket,
            http,
            _lock: lock,
        })
    }

    pub fn ctx(&self) -> &Arc<Ctx> {
        &self.ctx
    }

    /// Where the HTTP API listens, when it is enabled.
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.http.as_ref().map(|h| h.addr)
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket.path
    }

    /// Cancelling this token stops the daemon (as `system.shutdown` does).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.ctx.shutdown.clone()
    }

    /// Serves until shutdown, then stops in order.
    pub async fn run(mut self) -> Result<(), StoreError> {
        let shutdown = self.ctx.shutdown.clone();
        let tracker = TaskTracker::new();
        if let Some(bound) = self.http.take() {
            tracker.spawn(server::http::serve(bound, Arc::clone(&self.ctx)));
        }
        tracker.spawn(heartbeat(Arc::clone(&self.ctx)));
        tracker.spawn(prune_logs(Arc::clone(&self.ctx)));
        let market = Arc::clone(&self.ctx);
        tracker.spawn_blocking(move || services::market_loop::run(&market));
        for i in 0..self.ctx.config.jobs.workers {
            let ctx = Arc::clone(&self.ctx);
            tracker.spawn_blocking(move || services::jobs::worker(&ctx, i));
        }
        let committer = Arc::clone(&self.ctx);
        tracker.spawn_blocking(move || committer.commit_groups(&committer.jobs.enqueues));
        let keeper = Arc::clone(&self.ctx);
        tracker.spawn_blocking(move || services::jobs::keeper(&keeper));
        let scheduler = Arc::clone(&self.ctx);
        tracker.spawn_blocking(move || services::jobs::scheduler(&scheduler));
        let rpc = Arc::new(Rpc {
            dispatcher: Dispatcher::new(),
            ctx: Arc::clone(&self.ctx),
            max_batch: self.ctx.config.rpc.max_batch,
        });
        server::unix::serve(
            &self.socket,
            rpc,
            self.ctx.config.rpc.clone(),
            shutdown,
            tracker.clone(),
        )
        .await;

        tracing::info!("shutting down: waiting for in-flight requests");
        // Everything below ends within the stop deadline, even if a task
        // is stuck: a stop that cannot record itself is left unclean (the
        // next start says so and recovers as after a crash).
        let deadline = std::time::Instant::now()
            .checked_add(self.ctx.config.watchdog.stop_deadline)
            .unwrap_or_else(std::time::Instant::now);
        let left = || deadline.saturating_duration_since(std::time::Instant::now());
        // Idle workers notice the shutdown at once.
        self.ctx.jobs.wake();
        tracker.close();
        let grace = self.ctx.config.rpc.shutdown_grace.min(left());
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!(
                grace_ms = grace.as_millis(),
                "tasks still running after the grace period; stopping anyway"
            );
        }
        let ctx = Arc::clone(&self.ctx);
        let wait = left();
        let recorded = tokio::task::spawn_blocking(move || {
            let Some(mut store) = ctx.store_within(wait) else {
                tracing::error!(
                    "the store is held by a stuck task: stopping without recording a clean stop"
                );
                return Ok(false);
            };
            store.record_stop(ctx.run.run_id, Utc::now().timestamp_millis())?;
            store.checkpoint()?;
            Ok::<bool, StoreError>(true)
        })
        .await
        .unwrap_or(Ok(false))?;
        // Removed last: a client that sees the socket gone may rely on the
        // clean shutdown being recorded.
        self.socket.remove();
        if recorded {
            tracing::info!("tradingd stopped");
        }
        Ok(())
    }
}

/// Takes the single-instance lock of a data dir and writes our pid into it.
fn lock_data_dir(data_dir: &Path) -> Result<File, StartError> {
    let path = data_dir.join(LOCK_FILE);
    let io_err = |source| StartError::DataDir {
        path: path.display().to_string(),
        source,
    };
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io_err)?
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = Some(pid.trim().to_owned()).filter(|p| !p.is_empty());
            return Err(StartError::AlreadyRunning {
                data_dir: data_dir.display().to_string(),
                pid,
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
    }
    file.set_len(0).map_err(io_err)?;
    file.rewind().map_err(io_err)?;
    writeln!(file, "{}", std::process::id()).map_err(io_err)?;
    Ok(file)
}

/// Keeps the log directory within `log.max_total_bytes`: at start, then
/// hourly (the daily files' count is `log.max_files`, kept by the appender).
async fn prune_logs(ctx: Arc<Ctx>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_hours(1));
    loop {
        tokio::select! {
            () = ctx.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (dir, max) = (ctx.config.log.dir.clone(), ctx.config.log.max_total_bytes);
        let deleted = tokio::task::spawn_blocking(move || maintenance::prune_logs(&dir, max))
            .await
            .unwrap_or_default();
        if !deleted.is_empty() {
            tracing::info!(files = ?deleted, max_total_bytes = max, "old log files deleted");
        }
    }
}

async fn heartbeat(ctx: Arc<Ctx>) {
    let mut tick = tokio::time::interval(ctx.config.streams.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await;
    let mut seq: u64 = 0;
    loop {
        tokio::select! {
            () = ctx.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        seq = seq.wrapping_add(1);
        ctx.hub.publish::<Heartbeat>(&HeartbeatEvent {
            seq,
            time: Utc::now(),
            uptime_ms: ctx.uptime_ms(),
        });
    }
}

/// Compiles every stored user strategy version into the registry, oldest
/// first (so a name's newest is its newest). One that no longer loads
/// (say, a module of an ABI this daemon does not run) is left out with an
/// error in the log; specs naming it then fail as unknown.
fn load_user_strategies(
    store: &lock_order::OrderedMutex<store::Store>,
    registry: &tradedesk_core::strategy::Registry,
) {
    let versions = {
        let s = store.lock();
        store::strategies::all_versions(s.conn())
    };
    let versions = match versions {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the user strategies");
            return;
        }
    };
    let t0 = std::time::Instant::now();
    let mut loaded = 0usize;
    for (v, code) in versions {
        let Some(t) = tradedesk_scripting::Tier::parse(&v.tier) else {
            tracing::error!(name = %v.name, hash = %v.hash, tier = %v.tier, "user strategy of no known tier");
            continue;
        };
        // The same code uploaded again under its name is compiled once.
        if let Some(k) = registry.user(&format!("{}@{}", v.name, v.hash)) {
            registry.make_newest(&k);
            continue;
        }
        match tradedesk_scripting::kind(
            t,
            &v.name,
            &v.owner,
            &code,
            tradedesk_scripting::Limits::default(),
        ) {
            Ok(k) => {
                registry.add_user(k);
                loaded = loaded.saturating_add(1);
            }
            Err(e) => {
                tracing::error!(name = %v.name, hash = %v.hash, tier = %v.tier, error = %e, "user strategy no longer loads");
            }
        }
    }
    if loaded > 0 {
        tracing::info!(
            loaded,
            ms = t0.elapsed().as_millis() as u64,
            "user strategies loaded"
        );
    }
}

/// What systemd's watchdog is fed on (see `notify`): `None` while every
/// component makes progress, else the ones that stalled. A component that
/// is suspended or disconnected is not stalled: a restart would not help.
pub async fn stalled(ctx: &Ctx) -> Option<String> {
    use tradedesk_core::api::system::{ComponentStatus, SystemHealth};
    use tradedesk_core::api::{Caller, Empty, Handle};
    let health = <Ctx as Handle<SystemHealth>>::handle(ctx, &Caller::local_admin(0), Empty {})
        .await
        .ok()?;
    let stuck: Vec<String> = health
        .components
        .iter()
        .filter(|c| c.status == ComponentStatus::Stalled)
        .map(|c| c.name.clone())
        .collect();
    (!stuck.is_empty()).then(|| stuck.join(", "))
}
