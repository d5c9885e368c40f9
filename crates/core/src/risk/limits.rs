//! What risk limits are: their scopes (account, symbol, bot), the trading
//! states, each limit's key and its checks when set.

use crate::instrument::Symbol;
use crate::money::{Notional, Qty};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Where a set of limits (and a trading state) applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Account(String),
    Bot(u64),
    /// Orders in one symbol, from every account and bot.
    Symbol(Symbol),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Account(a) => write!(f, "account:{a}"),
            Scope::Bot(b) => write!(f, "bot:{b}"),
            Scope::Symbol(s) => write!(f, "symbol:{s}"),
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Scope, String> {
        let bad = || format!("`{s}` is not a scope (account:NAME, bot:ID or symbol:SYMBOL)");
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        match kind {
            "account" if !rest.is_empty() => Ok(Scope::Account(rest.to_owned())),
            "bot" => rest.parse().map(Scope::Bot).map_err(|_| bad()),
            "symbol" => rest.parse().map(Scope::Symbol).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Scope, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Scope {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Scope".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(account:.+|bot:[0-9]+|symbol:[A-Z0-9]{2,20})$",
            "description": "account:NAME, bot:ID or symbol:SYMBOL"
        })
    }
}

/// What an account or a bot may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TradingState {
    #[default]
    Active,
    /// Only orders that reduce a position.
    Reducing,
    /// Only cancels.
    Halted,
}

impl TradingState {
    pub fn as_str(self) -> &'static str {
        match self {
            TradingState::Active => "active",
            TradingState::Reducing => "reducing",
            TradingState::Halted => "halted",
        }
    }

    pub fn parse(s: &str) -> Option<TradingState> {
        [
            TradingState::Active,
            TradingState::Reducing,
            TradingState::Halted,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// The limits of one scope. Every limit is optional; absent means none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest quantity of one order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_order_qty: Option<Qty>,
    /// Largest value of one order (quantity × limit price, or × last price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_order_notional: Option<Notional>,
    /// Largest position (absolute quantity) an order may leave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_position_qty: Option<Qty>,
    /// Largest position value (at the last price) an order may leave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_position_notional: Option<Notional>,
    /// Most open orders at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_open_orders: Option<u32>,
    /// Refuse a limit or stop price more than this percent from the last price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_collar_pct: Option<Qty>,
    /// Most orders accepted in any one second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_orders_per_second: Option<u32>,
    /// Most orders accepted in any sixty seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_orders_per_minute: Option<u32>,
    /// Halt when the loss since the start of the day (realized and
    /// unrealized, fees included) reaches this amount of the quote asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_loss_limit: Option<Notional>,
    /// When the day starts, `HH:MM` UTC (default 00:00).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_reset_utc: Option<String>,
    /// Halt when equity falls this percent below its peak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drawdown_pct: Option<Qty>,
    /// Largest value held of each asset (quote at the last price), by asset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_exposure: Option<BTreeMap<String, Notional>>,
    /// Alert when usage reaches this percent of a limit (default 80).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_pct: Option<Qty>,
}

/// A bad limit, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `limits.{key}`: {message}")]
pub struct LimitError {
    pub key: String,
    pub message: String,
}

pub(super) fn err(key: &str, message: impl Into<String>) -> LimitError {
    LimitError {
        key: key.to_owned(),
        message: message.into(),
    }
}

impl Limits {
    /// Checks ranges and which limits a scope may carry.
    pub fn validate(&self, scope: &Scope) -> Result<(), LimitError> {
        let positive = |key: &str, v: Option<Decimal>| match v {
            Some(v) if v <= Decimal::ZERO => {
                Err(err(key, format!("must be greater than zero, got {v}")))
            }
            _ => Ok(()),
        };
        positive("max_order_qty", self.max_order_qty.map(Qty::get))?;
        positive(
            "max_order_notional",
            self.max_order_notional.map(Notional::get),
        )?;
        positive("max_position_qty", self.max_position_qty.map(Qty::get))?;
        positive(
            "max_position_notional",
            self.max_position_notional.map(Notional::get),
        )?;
        positive("price_collar_pct", self.price_collar_pct.map(Qty::get))?;
        positive("daily_loss_limit", self.daily_loss_limit.map(Notional::get))?;
        positive("max_drawdown_pct", self.max_drawdown_pct.map(Qty::get))?;
        for (key, v) in [
            ("max_open_orders", self.max_open_orders),
            ("max_orders_per_second", self.max_orders_per_second),
            ("max_orders_per_minute", self.max_orders_per_minute),
        ] {
            if v == Some(0) {
                return Err(err(key, "must be at least 1"));
            }
        }
        let hundred = Decimal::ONE_HUNDRED;
        if let Some(p) = self.price_collar_pct
            && p.get() > Decimal::from(1000)
        {
            return Err(err(
                "price_collar_pct",
                format!("must be at most 1000, got {p}"),
            ));
        }
        if let Some(p) = self.max_drawdown_pct
            && p.get() >= hundred
        {
            return Err(err(
                "max_drawdown_pct",
                format!("must be less than 100, got {p}"),
            ));
        }
        if let Some(p) = self.warn_pct
            && (p.get() <= Decimal::ZERO || p.get() >= hundred)
        {
            return Err(err(
                "warn_pct",
                format!("must be between 0 and 100, got {p}"),
            ));
        }
        if let Some(t) = &self.daily_reset_utc {
            reset_offset_ms(t)
                .ok_or_else(|| err("daily_reset_utc", format!("`{t}` is not HH:MM")))?;
        }
        if let Some(m) = &self.max_exposure {
            for (asset, v) in m {
                if !v.is_positive() {
                    return Err(err(
                        &format!("max_exposure.{asset}"),
                        format!("must be greater than zero, got {v}"),
                    ));
                }
            }
        }
        if matches!(scope, Scope::Symbol(_)) {
            for (key, set) in [
                ("daily_loss_limit", self.daily_loss_limit.is_some()),
                ("daily_reset_utc", self.daily_reset_utc.is_some()),
                ("max_drawdown_pct", self.max_drawdown_pct.is_some()),
                ("max_exposure", self.max_exposure.is_some()),
            ] {
                if set {
                    return Err(err(key, "is an account or bot limit, not a symbol limit"));
                }
            }
        }
        Ok(())
    }

    pub fn warn_fraction(&self) -> Decimal {
        // `validate` keeps warn_pct within (0, 100): the division cannot fail.
        self.warn_pct
            .and_then(|p| p.get().checked_div(Decimal::ONE_HUNDRED))
            .unwrap_or(Decimal::new(8, 1))
    }
}

/// Milliseconds after midnight UTC at which the risk day starts.
pub fn reset_offset_ms(hhmm: &str) -> Option<i64> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    if !((0..24).contains(&h) && (0..60).contains(&m) && hhmm.len() == 5) {
        return None;
    }
    h.checked_mul(60)?.checked_add(m)?.checked_mul(60_000)
}
