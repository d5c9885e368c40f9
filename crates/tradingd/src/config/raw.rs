//! The config file's shape as written (every key optional, unknown keys
//! refused) with the built-in defaults.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use tradedesk_core::sim;

/// The raw layer, exactly as written in `config/tradingd.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[derive(Default)]
pub struct RawConfig {
    /// Where the database, lock file and (without XDG_RUNTIME_DIR) the socket live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
    pub log: RawLog,
    pub rpc: RawRpc,
    pub streams: RawStreams,
    pub jobs: RawJobs,
    pub cache: RawCache,
    pub watchdog: RawWatchdog,
    pub bots: RawBots,
    pub data: RawData,
    pub backtest: RawBacktest,
    pub http: RawHttp,
    pub auth: RawAuth,
    pub binance: RawBinance,
    pub sim: RawSim,
}

/// Binance spot (or its spot testnet) as the daemon's market, with paper
/// accounts matched on its live prices and, when `live`, the `binance`
/// account trading for real with the keys in the secret store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawBinance {
    pub enabled: bool,
    pub live: bool,
    pub rest_url: String,
    pub ws_url: String,
    pub symbols: Vec<String>,
    pub recv_window_ms: u64,
    pub timeout_ms: u64,
    pub reconcile_every_s: u64,
    pub rotate_after_s: u64,
    pub keys: String,
}

impl Default for RawBinance {
    fn default() -> Self {
        RawBinance {
            enabled: false,
            live: false,
            rest_url: "https://testnet.binance.vision".into(),
            ws_url: "wss://stream.testnet.binance.vision".into(),
            symbols: vec!["BTCUSDT".into(), "ETHUSDT".into()],
            recv_window_ms: 5000,
            timeout_ms: 10_000,
            reconcile_every_s: 60,
            rotate_after_s: 23 * 3600 + 50 * 60,
            keys: "binance".into(),
        }
    }
}

/// The HTTP REST API for remote frontends (off by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHttp {
    pub enabled: bool,
    pub bind: String,
    pub max_body_bytes: u64,
    pub request_timeout_ms: u64,
    pub rate_per_min: u64,
    pub rate_burst: u64,
    pub admin_rate_factor: u64,
    pub cors_origins: Vec<String>,
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
    pub behind_proxy: bool,
    pub trusted_proxies: Vec<String>,
}

impl Default for RawHttp {
    fn default() -> Self {
        RawHttp {
            enabled: false,
            bind: "127.0.0.1:8686".into(),
            max_body_bytes: 1 << 20,
            request_timeout_ms: 30_000,
            rate_per_min: 100,
            rate_burst: 10,
            admin_rate_factor: 10,
            cors_origins: Vec::new(),
            tls_cert: None,
            tls_key: None,
            behind_proxy: false,
            trusted_proxies: vec!["127.0.0.1".into(), "::1".into()],
        }
    }
}

/// Tokens of the network transports' users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuth {
    pub access_ttl_s: u64,
    pub refresh_ttl_s: u64,
    pub open_registration: bool,
    pub registration_role: String,
}

impl Default for RawAuth {
    fn default() -> Self {
        RawAuth {
            access_ttl_s: 900,
            refresh_ttl_s: 30 * 86_400,
            open_registration: false,
            registration_role: "viewer".into(),
        }
    }
}

/// Defaults of backtests, sweeps and walk-forward runs whose request leaves
/// them out: one default for every client (CLI, dashboard, HTTP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawBacktest {
    /// Commission in percent of each fill's value ("0.1" = 0.1 %).
    pub commission_pct: String,
}

impl Default for RawBacktest {
    fn default() -> Self {
        RawBacktest {
            commission_pct: "0.1".into(),
        }
    }
}

/// Files read and written for datasets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawData {
    pub max_import_bytes: u64,
}

impl Default for RawData {
    fn default() -> Self {
        RawData {
            max_import_bytes: 4 << 30,
        }
    }
}

/// What `system.health` calls stalled, and how long a stop may take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawWatchdog {
    pub stall_ms: u64,
    pub stop_deadline_ms: u64,
}

impl Default for RawWatchdog {
    fn default() -> Self {
        RawWatchdog {
            stall_ms: 10_000,
            stop_deadline_ms: 20_000,
        }
    }
}

/// What happens to a failed bot's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Keep the position with its protective exits in place (placed now if
    /// they were missing); alert when that is impossible.
    #[default]
    Protect,
    /// Sell the position at market.
    Flatten,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawBots {
    pub on_failure: OnFailure,
}

/// The in-memory cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCache {
    pub max_bytes: u64,
}

impl Default for RawCache {
    fn default() -> Self {
        RawCache {
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The background job queue's worker pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawJobs {
    pub workers: usize,
    pub lease_ms: u64,
    pub retry_base_ms: u64,
    pub retry_cap_ms: u64,
}

impl Default for RawJobs {
    fn default() -> Self {
        RawJobs {
            workers: 2,
            lease_ms: 15_000,
            retry_base_ms: 1_000,
            retry_cap_ms: 300_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub level: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    pub stderr: bool,
    pub max_files: usize,
    pub max_total_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRpc {
    pub max_frame_bytes: usize,
    pub max_batch: usize,
    pub max_connections: usize,
    pub frame_timeout_ms: u64,
    pub first_frame_ms: u64,
    pub idle_timeout_ms: u64,
    pub shutdown_grace_ms: u64,
    pub outbound_queue: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStreams {
    pub buffer: usize,
    pub heartbeat_ms: u64,
    pub figures_ms: u64,
}

/// The built-in simulated exchange `sim` and its paper account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSim {
    pub seed: u64,
    pub tick_ms: u64,
    pub history_minutes: usize,
    pub book_levels: usize,
    pub jump_probability: f64,
    pub maker_fee: String,
    pub taker_fee: String,
    pub buy_stop_buffer_pct: String,
    pub latency_ms: u64,
    pub lose_answer_every: u32,
    pub initial_balances: BTreeMap<String, String>,
    /// The terms a margin account gets where `accounts.create` gives none.
    pub margin: RawSimMargin,
    pub symbols: Vec<RawSimSymbol>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSimMargin {
    pub leverage: String,
    /// Empty: half the initial margin (`50 / leverage`).
    pub maintenance_pct: String,
    pub borrow_pct: String,
    pub borrow_period: String,
}

impl Default for RawSimMargin {
    fn default() -> Self {
        RawSimMargin {
            leverage: "2".into(),
            maintenance_pct: String::new(),
            borrow_pct: "0.001".into(),
            borrow_period: "1h".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimSymbol {
    pub symbol: String,
    pub base: String,
    pub quote: String,
    pub tick_size: String,
    pub lot_size: String,
    pub min_qty: String,
    pub min_notional: String,
    pub start_price: String,
    pub volatility: f64,
    pub trade_notional: f64,
}

impl Default for RawSim {
    fn default() -> Self {
        let symbols = sim::market::default_symbols()
            .into_iter()
            .map(|s| RawSimSymbol {
                symbol: s.instrument.symbol.to_string(),
                base: s.instrument.base,
                quote: s.instrument.quote,
                tick_size: s.instrument.tick_size.to_string(),
                lot_size: s.instrument.lot_size.to_string(),
                min_qty: s.instrument.min_qty.to_string(),
                min_notional: s.instrument.min_notional.to_string(),
                start_price: s.start_price.to_string(),
                volatility: s.volatility,
                trade_notional: s.trade_notional,
            })
            .collect();
        RawSim {
            seed: 42,
            tick_ms: 250,
            history_minutes: 43_200,
            book_levels: 20,
            jump_probability: 0.0005,
            maker_fee: "0.001".into(),
            taker_fee: "0.001".into(),
            buy_stop_buffer_pct: "5".into(),
            latency_ms: 0,
            lose_answer_every: 0,
            initial_balances: BTreeMap::from([("USDT".to_owned(), "10000".to_owned())]),
            margin: RawSimMargin::default(),
            symbols,
        }
    }
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            level: "info".into(),
            dir: None,
            stderr: true,
            max_files: 7,
            max_total_bytes: 1 << 30,
        }
    }
}

impl Default for RawRpc {
    fn default() -> Self {
        RawRpc {
            max_frame_bytes: 1024 * 1024,
            max_batch: 100,
            max_connections: 256,
            frame_timeout_ms: 5_000,
            first_frame_ms: 10_000,
            idle_timeout_ms: 300_000,
            shutdown_grace_ms: 5_000,
            outbound_queue: 1024,
        }
    }
}

impl Default for RawStreams {
    fn default() -> Self {
        RawStreams {
            figures_ms: 1000,
            buffer: 1024,
            heartbeat_ms: 1_000,
        }
    }
}
