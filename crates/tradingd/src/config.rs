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

use rust_decimal::Decimal;
use tradedesk_core::money::{Qty, Ratio};
use tradedesk_core::paths;
use tradedesk_core::sim::market::SimSpec;
use tradedesk_core::sim::matching::Fees;

mod raw;
pub use raw::{
    OnFailure, RawAuth, RawBacktest, RawBots, RawCache, RawConfig, RawData, RawHttp, RawJobs,
    RawLog, RawRpc, RawSim, RawSimSymbol, RawStreams, RawWatchdog,
};
mod validate;
use validate::validate;
#[cfg(test)]
pub(crate) use validate::validate_http;

/// Environment variables with the prefix that are not config keys.
/// `TRADEDESK_*` variables that are not config keys: the config file's
/// path, and the clients' and the secret store's own settings (a daemon
/// started from the same shell sees them too).
const NON_CONFIG_ENV: &[&str] = &[
    "TRADEDESK_CONFIG",
    "TRADEDESK_DAEMON_BIN",
    "TRADEDESK_SECRET_STORE",
    "TRADEDESK_SECRETS_DIR",
    "TRADEDESK_SECRETS_PASSPHRASE",
    "TRADEDESK_REMOTE",
    "TRADEDESK_TOKEN",
    "TRADEDESK_CA",
    "TRADEDESK_UPDATE_OPENAPI",
];
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
    pub http: HttpConfig,
    pub auth: AuthConfig,
    /// Binance as the market (and, when live, a venue), if enabled.
    pub binance: Option<BinanceConfig>,
    pub sim: SimConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BinanceConfig {
    pub live: bool,
    pub rest_url: String,
    pub ws_url: String,
    pub symbols: Vec<String>,
    pub recv_window_ms: u64,
    pub timeout: Duration,
    pub reconcile_every: Duration,
    pub rotate_after: Duration,
    /// The secret store's entries `<keys>.api_key` and `<keys>.api_secret`.
    pub keys: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    pub enabled: bool,
    /// Loopback, or any address with TLS or behind a proxy.
    pub bind: std::net::SocketAddr,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Requests per minute per user (per address without a token).
    pub rate_per_min: u64,
    /// Requests a caller may make at once.
    pub rate_burst: u64,
    /// Admins get this many times the rate and the burst.
    pub admin_rate_factor: u64,
    /// Origins a browser may call from (exact, `scheme://host[:port]`).
    pub cors_origins: Vec<String>,
    /// HTTPS with this certificate chain and private key (PEM files).
    pub tls: Option<TlsFiles>,
    /// A reverse proxy terminates TLS: `X-Forwarded-For` from one of
    /// `trusted_proxies` names the client.
    pub behind_proxy: bool,
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthConfig {
    pub access_ttl_s: u64,
    pub refresh_ttl_s: u64,
    /// Anyone who reaches the API may make a user (`auth.register`).
    pub open_registration: bool,
    /// The role such a user gets: viewer or trader.
    pub registration_role: tradedesk_core::api::auth::Role,
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
    /// Where `data.download` reads Binance's klines (`binance.rest_url`,
    /// whether or not Binance is the market).
    pub download_url: String,
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
    /// The log files together: the oldest go beyond it (the current never).
    pub max_total_bytes: u64,
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
    /// One-way delay of the simulated link to `sim` (ms); 0 = in process.
    pub latency_ms: u64,
    /// Every n-th submission's answer is lost on the link (0 = none).
    pub lose_answer_every: u32,
    pub initial_balances: Vec<(String, Qty)>,
    /// A new margin account's terms where its request gives none.
    pub margin: tradedesk_core::api::accounts::MarginTerms,
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
mod tests;
