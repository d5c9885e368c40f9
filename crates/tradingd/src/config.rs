//! The daemon's configuration: a raw layer read from TOML, environment and
//! flags, and the validated [`Config`] the rest of the daemon sees.
//!
//! Layers, later ones winning: built-in defaults → the config file
//! (`--config`, `TRADEDESK_CONFIG`, or `$XDG_CONFIG_HOME/tradedesk/tradingd.toml`)
//! → `TRADEDESK_*` environment variables (`__` separates sections:
//! `TRADEDESK_RPC__MAX_CONNECTIONS`) → command-line flags. An unknown key in
//! any layer is an error naming the key and the layer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tradedesk_core::instrument::Instrument;
use tradedesk_core::money::{Qty, Ratio, parse_decimal};
use tradedesk_core::paths;
use tradedesk_core::sim;
use tradedesk_core::sim::market::{SimSpec, SymbolSpec};
use tradedesk_core::sim::matching::Fees;

/// Environment variables with the prefix that are not config keys.
const NON_CONFIG_ENV: &[&str] = &["TRADEDESK_CONFIG", "TRADEDESK_DAEMON_BIN"];
const ENV_PREFIX: &str = "TRADEDESK_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file `{path}`: {message}")]
    File { path: String, message: String },
    #[error("{source_name}: {message}")]
    Layer {
        source_name: String,
        message: String,
    },
    #[error("config key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("config key `{key}`: {message}")]
    InvalidAt { key: String, message: String },
    #[error(transparent)]
    Path(#[from] paths::PathError),
}

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
    pub sim: RawSim,
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
    pub initial_balances: BTreeMap<String, String>,
    pub symbols: Vec<RawSimSymbol>,
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
            history_minutes: 2880,
            book_levels: 20,
            jump_probability: 0.0005,
            maker_fee: "0.001".into(),
            taker_fee: "0.001".into(),
            buy_stop_buffer_pct: "5".into(),
            initial_balances: BTreeMap::from([("USDT".to_owned(), "10000".to_owned())]),
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

/// The validated configuration: paths resolved, ranges checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub socket: PathBuf,
    pub log: LogConfig,
    pub rpc: RpcConfig,
    pub streams: StreamsConfig,
    pub jobs: JobsConfig,
    pub cache: CacheConfig,
    pub watchdog: WatchdogConfig,
    pub bots: BotsConfig,
    pub data: DataConfig,
    pub backtest: BacktestConfig,
    pub sim: SimConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BacktestConfig {
    /// The commission of a run that names none, in percent per fill.
    pub commission_pct: Ratio,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DataConfig {
    /// The largest file `data.import` reads.
    pub max_import_bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WatchdogConfig {
    /// A component without progress for this long is reported stalled.
    pub stall_ms: u64,
    /// A stop (signal or `system.shutdown`) ends the process within this,
    /// even when a task is stuck.
    pub stop_deadline: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BotsConfig {
    pub on_failure: OnFailure,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub level: String,
    pub dir: PathBuf,
    pub stderr: bool,
    pub max_files: usize,
}

#[derive(Debug, Clone)]
pub struct RpcConfig {
    pub max_frame_bytes: usize,
    pub max_batch: usize,
    pub max_connections: usize,
    pub frame_timeout: Duration,
    /// A new connection must send its first whole frame within this.
    pub first_frame: Duration,
    /// A connection with no subscription that sends nothing for this long
    /// is closed.
    pub idle_timeout: Duration,
    pub shutdown_grace: Duration,
    pub outbound_queue: usize,
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub spec: SimSpec,
    /// Minutes of synthetic 1-minute bars a symbol gets on its first start.
    pub history_minutes: usize,
    pub fees: Fees,
    /// Extra headroom locked for buy stops, which fill at an unknown price.
    pub buy_stop_buffer: Decimal,
    pub initial_balances: Vec<(String, Qty)>,
}

#[derive(Debug, Clone)]
pub struct StreamsConfig {
    pub buffer: usize,
    pub heartbeat: Duration,
    /// A held position's or a bot's figures are published at most this
    /// often (ms) as prices move; 0 = at every tick.
    pub figures_ms: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    pub max_bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobsConfig {
    pub workers: usize,
    pub lease_ms: u64,
    pub retry_base_ms: u64,
    pub retry_cap_ms: u64,
}

/// What the command line contributes.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub log_level: Option<String>,
    pub no_log_stderr: bool,
}

/// Reads every layer from the real environment.
pub fn load(flags: &Flags) -> Result<(RawConfig, Config), ConfigError> {
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    load_from(flags, &env)
}

/// Builds the config from flags and the given environment; pure except for
/// reading the config file.
pub fn load_from(
    flags: &Flags,
    env: &[(String, String)],
) -> Result<(RawConfig, Config), ConfigError> {
    let mut merged =
        toml::Value::try_from(RawConfig::default()).map_err(|e| ConfigError::Layer {
            source_name: "built-in defaults".into(),
            message: e.to_string(),
        })?;

    let env_config = env
        .iter()
        .find(|(k, _)| k == "TRADEDESK_CONFIG")
        .map(|(_, v)| PathBuf::from(v));
    let (file, explicit) = match flags.config.clone().or(env_config) {
        Some(p) => (p, true),
        None => (paths::default_config_file()?, false),
    };
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let file_err = |message: String| ConfigError::File {
                path: file.display().to_string(),
                message,
            };
            let table: toml::Table = toml::from_str(&text).map_err(|e| file_err(e.to_string()))?;
            merge(&mut merged, toml::Value::Table(table));
            check(&merged).map_err(file_err)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {}
        Err(e) => {
            return Err(ConfigError::File {
                path: file.display().to_string(),
                message: e.to_string(),
            });
        }
    }

    for (name, value) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if NON_CONFIG_ENV.contains(&name.as_str()) {
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        merge(&mut merged, nest(&path, scalar(value)));
        check(&merged).map_err(|message| ConfigError::Layer {
            source_name: format!("environment variable {name}"),
            message,
        })?;
    }

    let mut flag_layer = toml::Table::new();
    if let Some(d) = &flags.data_dir {
        flag_layer.insert("data_dir".into(), d.display().to_string().into());
    }
    if let Some(s) = &flags.socket {
        flag_layer.insert("socket".into(), s.display().to_string().into());
    }
    let mut log = toml::Table::new();
    if let Some(l) = &flags.log_level {
        log.insert("level".into(), l.clone().into());
    }
    if flags.no_log_stderr {
        log.insert("stderr".into(), false.into());
    }
    if !log.is_empty() {
        flag_layer.insert("log".into(), log.into());
    }
    merge(&mut merged, toml::Value::Table(flag_layer));
    let raw = check(&merged).map_err(|message| ConfigError::Layer {
        source_name: "command line".into(),
        message,
    })?;
    let config = validate(&raw)?;
    Ok((resolved_raw(raw, &config), config))
}

/// The raw layer with resolved paths filled in, for `config print`.
fn resolved_raw(mut raw: RawConfig, config: &Config) -> RawConfig {
    raw.data_dir = Some(config.data_dir.clone());
    raw.socket = Some(config.socket.clone());
    raw.log.dir = Some(config.log.dir.clone());
    raw
}

/// Deserializes the merged tree, naming the key at fault.
fn check(value: &toml::Value) -> Result<RawConfig, String> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let inner = inner.trim();
        if path == "." {
            inner.to_owned()
        } else {
            format!("key `{path}`: {inner}")
        }
    })
}

/// An environment value as TOML when it parses as a scalar (numbers,
/// booleans), else as a plain string.
fn scalar(text: &str) -> toml::Value {
    match toml::from_str::<toml::Table>(&format!("v = {text}")) {
        Ok(mut t) => match t.remove("v") {
            Some(
                v @ (toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_)),
            ) => v,
            _ => toml::Value::String(text.to_owned()),
        },
        Err(_) => toml::Value::String(text.to_owned()),
    }
}

fn nest(path: &[String], leaf: toml::Value) -> toml::Value {
    path.iter().rev().fold(leaf, |inner, key| {
        let mut t = toml::Table::new();
        t.insert(key.clone(), inner);
        toml::Value::Table(t)
    })
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    key: &'static str,
    value: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::Invalid {
            key,
            message: format!("{value} is outside {min}..={max}"),
        });
    }
    Ok(value)
}

fn validate(raw: &RawConfig) -> Result<Config, ConfigError> {
    let data_dir = match &raw.data_dir {
        Some(d) if d.as_os_str().is_empty() => {
            return Err(ConfigError::Invalid {
                key: "data_dir",
                message: "must not be empty".into(),
            });
        }
        Some(d) => absolute(d),
        None => paths::default_data_dir()?,
    };
    let socket = match &raw.socket {
        Some(s) if !s.as_os_str().is_empty() => absolute(s),
        _ => paths::default_socket(&data_dir),
    };
    paths::check_socket_len(&socket)?;
    let level = raw.log.level.trim().to_ascii_lowercase();
    if !["trace", "debug", "info", "warn", "error", "off"].contains(&level.as_str()) {
        return Err(ConfigError::Invalid {
            key: "log.level",
            message: format!(
                "`{}` is not one of trace, debug, info, warn, error, off",
                raw.log.level
            ),
        });
    }
    let rpc = &raw.rpc;
    Ok(Config {
        log: LogConfig {
            level,
            dir: raw
                .log
                .dir
                .as_deref()
                .map_or_else(|| paths::default_log_dir(&data_dir), absolute),
            stderr: raw.log.stderr,
            max_files: in_range("log.max_files", raw.log.max_files, 1, 1000)?,
        },
        rpc: validate_rpc(rpc)?,
        streams: StreamsConfig {
            buffer: in_range("streams.buffer", raw.streams.buffer, 16, 1_000_000)?,
            heartbeat: Duration::from_millis(in_range(
                "streams.heartbeat_ms",
                raw.streams.heartbeat_ms,
                10,
                3_600_000,
            )?),
            figures_ms: in_range("streams.figures_ms", raw.streams.figures_ms, 0, 60_000)?,
        },
        jobs: JobsConfig {
            workers: in_range("jobs.workers", raw.jobs.workers, 1, 64)?,
            lease_ms: in_range("jobs.lease_ms", raw.jobs.lease_ms, 1_000, 600_000)?,
            retry_base_ms: in_range("jobs.retry_base_ms", raw.jobs.retry_base_ms, 10, 3_600_000)?,
            retry_cap_ms: in_range("jobs.retry_cap_ms", raw.jobs.retry_cap_ms, 10, 86_400_000)?,
        },
        cache: CacheConfig {
            max_bytes: in_range("cache.max_bytes", raw.cache.max_bytes, 1 << 20, 1 << 40)?,
        },
        watchdog: WatchdogConfig {
            stall_ms: in_range("watchdog.stall_ms", raw.watchdog.stall_ms, 100, 3_600_000)?,
            stop_deadline: Duration::from_millis(in_range(
                "watchdog.stop_deadline_ms",
                raw.watchdog.stop_deadline_ms,
                1_000,
                600_000,
            )?),
        },
        bots: BotsConfig {
            on_failure: raw.bots.on_failure,
        },
        data: DataConfig {
            max_import_bytes: in_range(
                "data.max_import_bytes",
                raw.data.max_import_bytes,
                1024,
                1 << 50,
            )?,
        },
        backtest: BacktestConfig {
            commission_pct: {
                let key = "backtest.commission_pct";
                let d = decimal_at(key.into(), &raw.backtest.commission_pct, None)?;
                if d >= Decimal::from(10) {
                    return Err(ConfigError::Invalid {
                        key,
                        message: format!("{d} must be below 10 (percent per fill)"),
                    });
                }
                Ratio::new(d)
            },
        },
        sim: validate_sim(&raw.sim)?,
        data_dir,
        socket,
    })
}

fn validate_rpc(rpc: &RawRpc) -> Result<RpcConfig, ConfigError> {
    Ok(RpcConfig {
        max_frame_bytes: in_range(
            "rpc.max_frame_bytes",
            rpc.max_frame_bytes,
            1024,
            64 * 1024 * 1024,
        )?,
        max_batch: in_range("rpc.max_batch", rpc.max_batch, 1, 10_000)?,
        max_connections: in_range("rpc.max_connections", rpc.max_connections, 1, 65_536)?,
        frame_timeout: Duration::from_millis(in_range(
            "rpc.frame_timeout_ms",
            rpc.frame_timeout_ms,
            10,
            600_000,
        )?),
        first_frame: Duration::from_millis(in_range(
            "rpc.first_frame_ms",
            rpc.first_frame_ms,
            10,
            600_000,
        )?),
        idle_timeout: Duration::from_millis(in_range(
            "rpc.idle_timeout_ms",
            rpc.idle_timeout_ms,
            100,
            86_400_000,
        )?),
        shutdown_grace: Duration::from_millis(in_range(
            "rpc.shutdown_grace_ms",
            rpc.shutdown_grace_ms,
            0,
            600_000,
        )?),
        outbound_queue: in_range("rpc.outbound_queue", rpc.outbound_queue, 16, 1_000_000)?,
    })
}

fn decimal_at(
    key: String,
    text: &str,
    min_exclusive: Option<Decimal>,
) -> Result<Decimal, ConfigError> {
    let d = parse_decimal(text).map_err(|e| ConfigError::InvalidAt {
        key: key.clone(),
        message: e.to_string(),
    })?;
    if d.is_sign_negative() || min_exclusive.is_some_and(|m| d <= m) {
        let bound = if min_exclusive.is_some() {
            "greater than zero"
        } else {
            "zero or more"
        };
        return Err(ConfigError::InvalidAt {
            key,
            message: format!("{text} must be {bound}"),
        });
    }
    Ok(d)
}

fn validate_sim_symbol(i: usize, s: &RawSimSymbol) -> Result<SymbolSpec, ConfigError> {
    let key = |field: &str| format!("sim.symbols[{i}].{field}");
    let positive = |field: &str, text: &str| decimal_at(key(field), text, Some(Decimal::ZERO));
    let symbol = s
        .symbol
        .parse()
        .map_err(
            |e: tradedesk_core::instrument::InvalidSymbol| ConfigError::InvalidAt {
                key: key("symbol"),
                message: e.to_string(),
            },
        )?;
    for (field, asset) in [("base", &s.base), ("quote", &s.quote)] {
        if asset.is_empty()
            || !asset
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(ConfigError::InvalidAt {
                key: key(field),
                message: format!("`{asset}` is not an asset name"),
            });
        }
    }
    if !(s.volatility > 0.0 && s.volatility <= 10.0) {
        return Err(ConfigError::InvalidAt {
            key: key("volatility"),
            message: format!("{} is outside (0, 10]", s.volatility),
        });
    }
    if !(s.trade_notional > 0.0 && s.trade_notional.is_finite()) {
        return Err(ConfigError::InvalidAt {
            key: key("trade_notional"),
            message: "must be greater than zero".into(),
        });
    }
    let instrument = Instrument {
        symbol,
        base: s.base.clone(),
        quote: s.quote.clone(),
        tick_size: tradedesk_core::money::Price::new(positive("tick_size", &s.tick_size)?),
        lot_size: Qty::new(positive("lot_size", &s.lot_size)?),
        min_qty: Qty::new(positive("min_qty", &s.min_qty)?),
        min_notional: tradedesk_core::money::Notional::new(decimal_at(
            key("min_notional"),
            &s.min_notional,
            None,
        )?),
    };
    let start = tradedesk_core::money::Price::new(positive("start_price", &s.start_price)?);
    let start_price =
        instrument
            .check_price("start_price", start)
            .map_err(|e| ConfigError::InvalidAt {
                key: key("start_price"),
                message: e.to_string(),
            })?;
    Ok(SymbolSpec {
        instrument,
        start_price,
        volatility: s.volatility,
        trade_notional: s.trade_notional,
    })
}

fn validate_sim(raw: &RawSim) -> Result<SimConfig, ConfigError> {
    let fee = |key: &'static str, text: &str| {
        let d = decimal_at(key.to_owned(), text, None)?;
        if d >= Decimal::ONE {
            return Err(ConfigError::Invalid {
                key,
                message: format!("{text} must be below 1 (0.001 is 0.1 %)"),
            });
        }
        Ok(d)
    };
    let fees = Fees {
        maker: fee("sim.maker_fee", &raw.maker_fee)?,
        taker: fee("sim.taker_fee", &raw.taker_fee)?,
    };
    let buy_stop_buffer = decimal_at(
        "sim.buy_stop_buffer_pct".into(),
        &raw.buy_stop_buffer_pct,
        None,
    )?
    .checked_div(Decimal::ONE_HUNDRED)
    .ok_or(ConfigError::Invalid {
        key: "sim.buy_stop_buffer_pct",
        message: "out of range".into(),
    })?;
    in_range("sim.tick_ms", raw.tick_ms, 10, 60_000)?;
    in_range("sim.book_levels", raw.book_levels, 1, 100)?;
    if !(0.0..=0.1).contains(&raw.jump_probability) {
        return Err(ConfigError::Invalid {
            key: "sim.jump_probability",
            message: format!("{} is outside 0..=0.1", raw.jump_probability),
        });
    }
    if raw.symbols.is_empty() {
        return Err(ConfigError::Invalid {
            key: "sim.symbols",
            message: "at least one symbol is needed".into(),
        });
    }
    let mut symbols: Vec<SymbolSpec> = Vec::with_capacity(raw.symbols.len());
    for (i, s) in raw.symbols.iter().enumerate() {
        let spec = validate_sim_symbol(i, s)?;
        if symbols
            .iter()
            .any(|x| x.instrument.symbol == spec.instrument.symbol)
        {
            return Err(ConfigError::InvalidAt {
                key: format!("sim.symbols[{i}].symbol"),
                message: format!("{} is listed twice", spec.instrument.symbol),
            });
        }
        symbols.push(spec);
    }
    let mut initial_balances = Vec::new();
    for (asset, amount) in &raw.initial_balances {
        initial_balances.push((
            asset.clone(),
            Qty::new(decimal_at(
                format!("sim.initial_balances.{asset}"),
                amount,
                None,
            )?),
        ));
    }
    Ok(SimConfig {
        history_minutes: in_range("sim.history_minutes", raw.history_minutes, 0, 525_600)?,
        spec: SimSpec {
            seed: raw.seed,
            tick_ms: raw.tick_ms,
            book_levels: raw.book_levels,
            jump_probability: raw.jump_probability,
            symbols,
        },
        fees,
        buy_stop_buffer,
        initial_balances,
    })
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

impl Config {
    /// A config for tests and embedding: everything under `dir`, defaults
    /// otherwise, no environment or file consulted.
    pub fn for_dir(dir: &Path) -> Config {
        let raw = RawConfig {
            data_dir: Some(dir.join("data")),
            socket: Some(dir.join("tradingd.sock")),
            ..RawConfig::default()
        };
        let mut config = validate(&raw).expect("defaults are valid");
        config.log.dir = dir.join("logs");
        config
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(paths::DB_FILE)
    }
}

/// The effective config as TOML, for `tradingd config print`.
pub fn to_toml(raw: &RawConfig) -> String {
    toml::to_string_pretty(raw).unwrap_or_else(|e| format!("# cannot print config: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags_in(dir: &Path) -> Flags {
        Flags {
            config: Some(dir.join("none.toml")),
            data_dir: Some(dir.join("d")),
            ..Flags::default()
        }
    }

    fn load_with(
        dir: &Path,
        file: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<Config, ConfigError> {
        let mut flags = flags_in(dir);
        if let Some(text) = file {
            let path = dir.join("tradingd.toml");
            std::fs::write(&path, text).unwrap();
            flags.config = Some(path);
        } else {
            flags.config = None;
        }
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        env.push((
            "TRADEDESK_SOCKET".into(),
            dir.join("s.sock").display().to_string(),
        ));
        load_from(&flags, &env).map(|(_, c)| c)
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let c = load_with(
            dir.path(),
            Some("[rpc]\nmax_batch = 7\nmax_connections = 9\n"),
            &[("TRADEDESK_RPC__MAX_CONNECTIONS", "11")],
        )
        .unwrap();
        assert_eq!(c.rpc.max_batch, 7, "file overrides default");
        assert_eq!(c.rpc.max_connections, 11, "env overrides file");
        assert_eq!(c.data_dir, dir.path().join("d"), "flag wins");
        assert_eq!(c.socket, dir.path().join("s.sock"));
    }

    #[test]
    fn unknown_keys_are_named_with_their_layer() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_with(dir.path(), Some("[rpc]\nmax_batchez = 7\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tradingd.toml") && err.contains("max_batchez"),
            "{err}"
        );
        let err = load_with(dir.path(), None, &[("TRADEDESK_RPC__NOPE", "1")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TRADEDESK_RPC__NOPE") && err.contains("nope"),
            "{err}"
        );
        let err = load_with(dir.path(), Some("colour = 1\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_the_key_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_with(dir.path(), Some("[rpc]\nmax_batch = 0\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("rpc.max_batch") && err.contains("1..=10000"),
            "{err}"
        );
        let err = load_with(dir.path(), None, &[("TRADEDESK_LOG__LEVEL", "loud")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("log.level") && err.contains("loud"), "{err}");
        let err = load_with(dir.path(), Some("[rpc]\nmax_batch = \"many\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("rpc.max_batch"), "{err}");
    }

    #[test]
    fn backtest_defaults_are_checked_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["\"-1\"", "\"10\"", "\"x\""] {
            let text = format!("[backtest]\ncommission_pct = {bad}\n");
            let err = load_with(dir.path(), Some(&text), &[])
                .unwrap_err()
                .to_string();
            assert!(err.contains("backtest.commission_pct"), "{bad}: {err}");
        }
        let ok = load_with(
            dir.path(),
            Some("[backtest]\ncommission_pct = \"0.075\"\n"),
            &[],
        )
        .unwrap();
        assert_eq!(ok.backtest.commission_pct.to_string(), "0.075");
        let err = load_with(dir.path(), Some("[streams]\nfigures_ms = 60001\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("streams.figures_ms"), "{err}");
    }

    #[test]
    fn sim_settings_are_checked_with_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_with(dir.path(), Some("[sim]\nmaker_fee = \"1.5\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("sim.maker_fee"), "{err}");
        let err = load_with(dir.path(), Some("[sim]\ntaker_fee = \"NaN\"\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sim.taker_fee") && err.contains("NaN"),
            "{err}"
        );
        let bad_symbol = "[[sim.symbols]]\nsymbol = \"b-c\"\nbase = \"BTC\"\nquote = \"USDT\"\ntick_size = \"0.01\"\nlot_size = \"0.001\"\nmin_qty = \"0.001\"\nmin_notional = \"5\"\nstart_price = \"100\"\nvolatility = 0.5\ntrade_notional = 100.0\n";
        let err = load_with(dir.path(), Some(bad_symbol), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("sim.symbols[0].symbol"), "{err}");
        let off_tick = bad_symbol
            .replace("\"b-c\"", "\"XYZUSDT\"")
            .replace("\"100\"", "\"100.001\"");
        let err = load_with(dir.path(), Some(&off_tick), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("sim.symbols[0].start_price"), "{err}");
        let c = load_with(dir.path(), None, &[]).unwrap();
        assert_eq!(c.sim.spec.symbols.len(), 3);
        assert_eq!(
            c.sim.initial_balances,
            [("USDT".to_owned(), "10000".parse().unwrap())]
        );
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_from(&flags_in(dir.path()), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("none.toml"), "{err}");
    }

    #[test]
    fn the_shipped_config_file_is_the_defaults() {
        let shipped = include_str!("../../../config/tradingd.toml");
        let parsed: RawConfig = toml::from_str(shipped).expect("config/tradingd.toml parses");
        assert_eq!(
            parsed,
            RawConfig::default(),
            "config/tradingd.toml must document the defaults"
        );
    }
}
