//! Checks a raw config and turns it into the daemon's settings; every
//! error names the key at fault.

use super::raw::{RawAuth, RawBinance, RawConfig, RawHttp, RawRpc, RawSim, RawSimSymbol};
use super::{
    AuthConfig, BacktestConfig, BinanceConfig, BotsConfig, CacheConfig, Config, ConfigError,
    DataConfig, HttpConfig, JobsConfig, LogConfig, RpcConfig, SimConfig, StreamsConfig, TlsFiles,
    WatchdogConfig, absolute,
};
use rust_decimal::Decimal;
use std::time::Duration;
use tradedesk_core::instrument::Instrument;
use tradedesk_core::money::{Qty, Ratio, parse_decimal};
use tradedesk_core::paths;
use tradedesk_core::sim::market::{SimSpec, SymbolSpec};
use tradedesk_core::sim::matching::Fees;

pub(super) fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
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

fn validate_binance(raw: &RawBinance) -> Result<Option<BinanceConfig>, ConfigError> {
    if !raw.enabled {
        return Ok(None);
    }
    let url = |key: &'static str, v: &str, schemes: [&str; 2]| {
        if schemes.iter().any(|s| v.starts_with(s)) {
            Ok(v.trim_end_matches('/').to_owned())
        } else {
            Err(ConfigError::Invalid {
                key,
                message: format!("`{v}` must start with {} or {}", schemes[0], schemes[1]),
            })
        }
    };
    if raw.symbols.is_empty() || raw.symbols.len() > 200 {
        return Err(ConfigError::Invalid {
            key: "binance.symbols",
            message: "list 1 to 200 symbols".into(),
        });
    }
    for s in &raw.symbols {
        if s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Err(ConfigError::Invalid {
                key: "binance.symbols",
                message: format!("`{s}` is not a Binance symbol (upper-case letters and digits)"),
            });
        }
    }
    if raw.keys.is_empty() || raw.keys.contains(char::is_whitespace) {
        return Err(ConfigError::Invalid {
            key: "binance.keys",
            message: "a name without spaces".into(),
        });
    }
    Ok(Some(BinanceConfig {
        live: raw.live,
        rest_url: url("binance.rest_url", &raw.rest_url, ["https://", "http://"])?,
        ws_url: url("binance.ws_url", &raw.ws_url, ["wss://", "ws://"])?,
        symbols: raw.symbols.clone(),
        recv_window_ms: in_range("binance.recv_window_ms", raw.recv_window_ms, 1, 60_000)?,
        timeout: Duration::from_millis(in_range(
            "binance.timeout_ms",
            raw.timeout_ms,
            100,
            120_000,
        )?),
        reconcile_every: Duration::from_secs(in_range(
            "binance.reconcile_every_s",
            raw.reconcile_every_s,
            1,
            86_400,
        )?),
        rotate_after: Duration::from_secs(in_range(
            "binance.rotate_after_s",
            raw.rotate_after_s,
            1,
            24 * 3600 - 60,
        )?),
        keys: raw.keys.clone(),
    }))
}

fn validate_auth(raw: &RawAuth) -> Result<AuthConfig, ConfigError> {
    let registration_role = match tradedesk_core::api::auth::Role::parse(&raw.registration_role) {
        Some(tradedesk_core::api::auth::Role::Admin) | None => {
            return Err(ConfigError::Invalid {
                key: "auth.registration_role",
                message: format!(
                    "`{}` must be `viewer` or `trader` (admins are made by an admin)",
                    raw.registration_role
                ),
            });
        }
        Some(r) => r,
    };
    Ok(AuthConfig {
        access_ttl_s: in_range("auth.access_ttl_s", raw.access_ttl_s, 30, 86_400)?,
        refresh_ttl_s: in_range("auth.refresh_ttl_s", raw.refresh_ttl_s, 60, 365 * 86_400)?,
        open_registration: raw.open_registration,
        registration_role,
    })
}

/// Exact origins: `scheme://host[:port]`, never `*` (the API takes
/// credentials).
fn validate_origins(origins: &[String]) -> Result<Vec<String>, ConfigError> {
    for (i, o) in origins.iter().enumerate() {
        let ok = (o.starts_with("http://") || o.starts_with("https://"))
            && !o.contains('*')
            && !o.ends_with('/')
            && o.split("://")
                .nth(1)
                .is_some_and(|h| !h.is_empty() && !h.contains('/'));
        if !ok {
            return Err(ConfigError::InvalidAt {
                key: format!("http.cors_origins[{i}]"),
                message: format!(
                    "`{o}` is not an exact origin such as https://desk.example.com (no `*`, no path)"
                ),
            });
        }
    }
    Ok(origins.to_vec())
}

pub(crate) fn validate_http(raw: &RawHttp) -> Result<HttpConfig, ConfigError> {
    let bind: std::net::SocketAddr = raw.bind.parse().map_err(|_| ConfigError::Invalid {
        key: "http.bind",
        message: format!("`{}` is not an address and port (127.0.0.1:8686)", raw.bind),
    })?;
    let tls = match (&raw.tls_cert, &raw.tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (Some(_), None) => {
            return Err(ConfigError::Invalid {
                key: "http.tls_key",
                message: "give the private key of `tls_cert` too".into(),
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError::Invalid {
                key: "http.tls_cert",
                message: "give the certificate of `tls_key` too".into(),
            });
        }
    };
    if !bind.ip().is_loopback() && tls.is_none() && !raw.behind_proxy {
        return Err(ConfigError::Invalid {
            key: "http.bind",
            message: format!(
                "{bind} is reachable from other machines: give `tls_cert` and `tls_key`, or set `behind_proxy = true` when a reverse proxy terminates TLS"
            ),
        });
    }
    let mut trusted_proxies = Vec::new();
    for (i, p) in raw.trusted_proxies.iter().enumerate() {
        trusted_proxies.push(p.parse().map_err(|_| ConfigError::InvalidAt {
            key: format!("http.trusted_proxies[{i}]"),
            message: format!("`{p}` is not an IP address"),
        })?);
    }
    Ok(HttpConfig {
        tls,
        behind_proxy: raw.behind_proxy,
        trusted_proxies,
        enabled: raw.enabled,
        bind,
        max_body_bytes: usize::try_from(in_range(
            "http.max_body_bytes",
            raw.max_body_bytes,
            1024,
            1 << 30,
        )?)
        .unwrap_or(usize::MAX),
        request_timeout: Duration::from_millis(in_range(
            "http.request_timeout_ms",
            raw.request_timeout_ms,
            100,
            600_000,
        )?),
        rate_per_min: in_range("http.rate_per_min", raw.rate_per_min, 1, 1_000_000_000)?,
        rate_burst: in_range("http.rate_burst", raw.rate_burst, 1, 1_000_000_000)?,
        admin_rate_factor: in_range("http.admin_rate_factor", raw.admin_rate_factor, 1, 1000)?,
        cors_origins: validate_origins(&raw.cors_origins)?,
    })
}

#[allow(clippy::too_many_lines)] // one field per config key, in the file's order
pub(super) fn validate(raw: &RawConfig) -> Result<Config, ConfigError> {
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
            max_total_bytes: in_range(
                "log.max_total_bytes",
                raw.log.max_total_bytes,
                1 << 20,
                1 << 40,
            )?,
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
            download_url: raw.binance.rest_url.trim_end_matches('/').to_owned(),
        },
        http: validate_http(&raw.http)?,
        auth: validate_auth(&raw.auth)?,
        binance: validate_binance(&raw.binance)?,
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

pub(super) fn validate_rpc(rpc: &RawRpc) -> Result<RpcConfig, ConfigError> {
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

pub(super) fn decimal_at(
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

pub(super) fn validate_sim_symbol(i: usize, s: &RawSimSymbol) -> Result<SymbolSpec, ConfigError> {
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

pub(super) fn validate_sim(raw: &RawSim) -> Result<SimConfig, ConfigError> {
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
    let margin = validate_sim_margin(&raw.margin)?;
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
        latency_ms: in_range("sim.latency_ms", raw.latency_ms, 0, 10_000)?,
        lose_answer_every: in_range("sim.lose_answer_every", raw.lose_answer_every, 0, 1_000_000)?,
        initial_balances,
        margin,
    })
}

fn validate_sim_margin(
    raw: &super::raw::RawSimMargin,
) -> Result<tradedesk_core::api::accounts::MarginTerms, ConfigError> {
    use tradedesk_core::money::Ratio;
    let ratio =
        |key: &str, text: &str| decimal_at(format!("sim.margin.{key}"), text, None).map(Ratio::new);
    let terms = tradedesk_core::api::accounts::MarginTerms {
        leverage: ratio("leverage", &raw.leverage)?,
        maintenance_pct: (!raw.maintenance_pct.is_empty())
            .then(|| ratio("maintenance_pct", &raw.maintenance_pct))
            .transpose()?,
        borrow_pct: ratio("borrow_pct", &raw.borrow_pct)?,
        borrow_period: raw
            .borrow_period
            .parse()
            .map_err(|message| ConfigError::InvalidAt {
                key: "sim.margin.borrow_period".into(),
                message,
            })?,
    };
    terms
        .validate()
        .map_err(|(field, message)| ConfigError::InvalidAt {
            key: format!("sim.margin.{field}"),
            message,
        })?;
    Ok(terms)
}
