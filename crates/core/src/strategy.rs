//! Strategies: the [`Strategy`] trait, the common options every strategy
//! takes (position sizing, protective exits, bar interval), and the
//! catalogue of built-ins with their parameter schemas.
//!
//! A strategy sees closed bars (as f64 [`Candle`]s: signals are analytics)
//! and answers with [`Action`]s: enter, add, exit, or place/cancel its own
//! limit orders. The [`crate::engine::Engine`] turns actions into sized,
//! validated orders and keeps the protective exits in place, so a strategy
//! never handles money itself.

pub mod builtin;

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::market::{Bar, Interval};
use crate::money::{Price, Qty};
use crate::order::Side;
use crate::time::Timestamp;

/// A closed bar as strategies see it. `time` is the bar's open time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candle {
    pub time: Timestamp,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl Candle {
    pub fn from_bar(b: &Bar) -> Candle {
        let f =
            |d: Decimal| -> f64 { rust_decimal::prelude::ToPrimitive::to_f64(&d).unwrap_or(0.0) };
        Candle {
            time: b.open_time,
            open: f(b.open.get()),
            high: f(b.high.get()),
            low: f(b.low.get()),
            close: f(b.close.get()),
            volume: f(b.volume.get()),
        }
    }

    pub fn hlcv(&self) -> crate::indicator::Hlcv {
        crate::indicator::Hlcv {
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
        }
    }
}

/// What a strategy asks for. The engine sizes and places the orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a long position with a market buy, if not already long and no
    /// entry is working; a short position is bought back first (reversal).
    Enter,
    /// Buy more with a market order, whatever is held (DCA).
    Add,
    /// Close the position: cancel the symbol's orders, sell everything at
    /// market (buy back a short).
    Exit,
    /// Open a short position with a market sell, if not already short and
    /// no entry is working; a long position is closed first (reversal). Only
    /// on a margin account: a strategy that may short says so in
    /// [`Strategy::shorts`] and a spot account refuses it.
    Short,
    /// A limit order the strategy manages itself under `key` (grid levels).
    /// `qty: None` sizes it with the bot's sizing rule.
    Limit {
        key: String,
        side: Side,
        price: Price,
        qty: Option<Qty>,
    },
    /// Cancels the strategy's limit order under `key`.
    Cancel {
        key: String,
    },
    Log(std::borrow::Cow<'static, str>),
    /// The strategy cannot go on (a user strategy's runtime error, trap or
    /// exhausted budget): the engine stops calling it, a bot running it
    /// stops with status `error` and this reason, a backtest fails with it.
    Fail(String),
}

/// One of the strategy's own orders, as it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedOrder {
    pub key: String,
    pub side: Side,
    pub price: Option<Price>,
    pub open_qty: Qty,
}

/// A fill of one of the strategy's keyed orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedFill {
    pub key: String,
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
    /// The order has no quantity left.
    pub complete: bool,
}

/// What a strategy can see and do during one call. Everything but the
/// bar is computed on demand, so a strategy that only reads indicators
/// pays nothing for it.
pub struct Cx<'a> {
    pub(crate) now: Timestamp,
    pub(crate) close: f64,
    pub(crate) exact_last: Option<Price>,
    pub(crate) instrument: &'a crate::instrument::Instrument,
    pub(crate) portfolio: &'a dyn crate::portfolio::Portfolio,
    pub(crate) prefix: &'a str,
    pub(crate) rng: &'a mut crate::sim::Rng,
    pub(crate) actions: &'a mut Vec<Action>,
}

impl<'a> Cx<'a> {
    /// A context for one call outside the engine (benches, programs that
    /// drive a strategy themselves): the time, the last price, what it
    /// trades and holds, its order tag prefix, its generator, and where
    /// its actions go.
    pub fn new(
        now: Timestamp,
        close: f64,
        instrument: &'a crate::instrument::Instrument,
        portfolio: &'a dyn crate::portfolio::Portfolio,
        prefix: &'a str,
        rng: &'a mut crate::sim::Rng,
        actions: &'a mut Vec<Action>,
    ) -> Cx<'a> {
        Cx {
            now,
            close,
            exact_last: None,
            instrument,
            portfolio,
            prefix,
            rng,
            actions,
        }
    }

    pub fn act(&mut self, a: Action) {
        self.actions.push(a);
    }

    pub fn log(&mut self, message: impl Into<std::borrow::Cow<'static, str>>) {
        self.actions.push(Action::Log(message.into()));
    }

    /// Stops the strategy for good with `reason` (see [`Action::Fail`]).
    pub fn fail(&mut self, reason: impl Into<String>) {
        self.actions.push(Action::Fail(reason.into()));
    }

    /// The last price as f64 (the bar's close during `on_bar`).
    pub fn last_f64(&self) -> f64 {
        self.exact_last.map_or(self.close, |p| {
            rust_decimal::prelude::ToPrimitive::to_f64(&p.get()).unwrap_or(self.close)
        })
    }

    /// The close time of the bar being handled (or the event's time).
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The last price, exact, on the instrument's tick grid.
    pub fn last(&self) -> Price {
        self.exact_last
            .unwrap_or_else(|| crate::money::price_from_f64(self.close, self.instrument.tick_size))
    }

    pub fn instrument(&self) -> &crate::instrument::Instrument {
        self.instrument
    }

    /// The bot's position in this symbol.
    pub fn position(&self) -> Qty {
        self.portfolio.position(&self.instrument.symbol).qty
    }

    /// The strategy's keyed orders that are open.
    pub fn keyed(&self) -> Vec<KeyedOrder> {
        self.portfolio
            .open_orders(&self.instrument.symbol)
            .into_iter()
            .filter_map(
                |o| match crate::portfolio::parse_tag(self.prefix, &o.tag)?.1 {
                    crate::portfolio::Role::Keyed(key) => Some(KeyedOrder {
                        key,
                        side: o.side,
                        price: o.price,
                        open_qty: o.open_qty,
                    }),
                    _ => None,
                },
            )
            .collect()
    }

    pub fn rng(&mut self) -> &mut crate::sim::Rng {
        self.rng
    }
}

/// A trading strategy. Deterministic: it may use only what it is given
/// (bars, its context, the seeded generator), never the clock or I/O.
pub trait Strategy: Send {
    /// Bars it needs before its signals mean anything; this many recent
    /// bars are replayed into it when a bot resumes.
    fn warmup(&self) -> usize;
    /// Bars until its indicators have a first value (the first bar it
    /// could trade on, counted from 1); buy and hold is measured from
    /// there. At most `warmup`.
    fn lookback(&self) -> usize {
        self.warmup()
    }
    /// A closed bar. During warm-up replay the actions are discarded.
    fn on_bar(&mut self, bar: &Candle, cx: &mut Cx<'_>);
    /// Called once when a bot starts or resumes, after warm-up.
    fn on_start(&mut self, _cx: &mut Cx<'_>) {}
    /// A fill of one of its keyed orders.
    fn on_fill(&mut self, _fill: &KeyedFill, _cx: &mut Cx<'_>) {}
    /// A market tick between bars (the last trade price); most strategies
    /// act on closed bars only.
    fn on_tick(&mut self, _cx: &mut Cx<'_>) {}
    /// State that warm-up replay cannot rebuild, saved with the bot.
    fn save(&mut self) -> serde_json::Value {
        serde_json::Value::Null
    }
    fn restore(&mut self, _state: &serde_json::Value) -> Result<(), String> {
        Ok(())
    }
    /// What a trader should know before running it with these fees (rates
    /// as fractions): a grid whose step cannot pay its round trip, say.
    fn warnings(&self, _fees: FeeRates) -> Vec<String> {
        Vec::new()
    }
    /// Whether it may open short positions ([`Action::Short`]): only a
    /// margin account can run it.
    fn shorts(&self) -> bool {
        false
    }
}

/// A venue's fee rates, as fractions of an order's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeRates {
    pub maker: Decimal,
    pub taker: Decimal,
}

/// A parameter (or option) outside what it allows; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct ParamError {
    pub field: String,
    pub message: String,
}

impl ParamError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ParamError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A strategy's typed parameters.
pub trait Params: DeserializeOwned + Serialize + JsonSchema {
    /// Range checks; field names are relative (`fast`), the caller
    /// prefixes `params.`.
    fn validate(&self) -> Result<(), ParamError>;
}

/// How big an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SizingMode {
    /// `value` is a quantity of the base asset.
    FixedQty,
    /// `value` is an amount of the quote asset to spend.
    Quote,
    /// `value` is a percentage of the bot's equity (100 = all in).
    Percent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sizing {
    /// fixed_qty: base units; quote: an amount to spend; percent: of equity.
    pub mode: SizingMode,
    /// The quantity, quote amount or percentage, as `mode` says.
    pub value: Qty,
    /// Round quantities down to whole units (after the lot size).
    #[serde(default)]
    pub whole_units: bool,
}

impl Default for Sizing {
    fn default() -> Self {
        Sizing {
            mode: SizingMode::Percent,
            value: Qty::new(Decimal::ONE_HUNDRED),
            whole_units: false,
        }
    }
}

impl Sizing {
    pub fn validate(&self) -> Result<(), ParamError> {
        if !self.value.is_positive() {
            return Err(ParamError::new(
                "sizing.value",
                format!("must be greater than zero, got {}", self.value),
            ));
        }
        if self.mode == SizingMode::Percent && self.value.get() > Decimal::ONE_HUNDRED {
            return Err(ParamError::new(
                "sizing.value",
                format!(
                    "a percentage of equity must be at most 100, got {}",
                    self.value
                ),
            ));
        }
        Ok(())
    }
}

/// Protective exits placed as real orders once a position is open, so they
/// work while the bot is paused. Percentages of the average entry price.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exits {
    /// Stop-market sell this far below the entry (0 < x < 100).
    #[serde(default)]
    pub stop_loss_pct: Option<Qty>,
    /// Limit sell this far above the entry (x > 0).
    #[serde(default)]
    pub take_profit_pct: Option<Qty>,
    /// Trailing-stop sell following the best price at this distance (0 < x < 100).
    #[serde(default)]
    pub trailing_stop_pct: Option<Qty>,
}

impl Exits {
    pub fn any(&self) -> bool {
        self.stop_loss_pct.is_some()
            || self.take_profit_pct.is_some()
            || self.trailing_stop_pct.is_some()
    }

    pub fn validate(&self) -> Result<(), ParamError> {
        let pct = |name: &str, v: Option<Qty>, max: Decimal| -> Result<(), ParamError> {
            match v {
                Some(v) if !v.is_positive() || v.get() >= max => Err(ParamError::new(
                    format!("exits.{name}"),
                    format!("must be greater than 0 and less than {max}, got {v}"),
                )),
                _ => Ok(()),
            }
        };
        pct("stop_loss_pct", self.stop_loss_pct, Decimal::ONE_HUNDRED)?;
        pct(
            "trailing_stop_pct",
            self.trailing_stop_pct,
            Decimal::ONE_HUNDRED,
        )?;
        pct(
            "take_profit_pct",
            self.take_profit_pct,
            Decimal::from(10_000),
        )?;
        if self.stop_loss_pct.is_some() && self.trailing_stop_pct.is_some() {
            return Err(ParamError::new(
                "exits.trailing_stop_pct",
                "cannot be combined with exits.stop_loss_pct (a position has one stop)",
            ));
        }
        Ok(())
    }
}

fn default_interval() -> Interval {
    Interval::M1
}

/// Protections: when a bot (or a backtest's strategy) stops opening new
/// positions for a while. A forced entry (`bots.enter`) is the trader's
/// own decision and is not held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Protections {
    /// Bars (of the strategy's interval) without a new entry in a symbol
    /// after a stop-loss or trailing stop closed its position there
    /// (0–10,000; 0: none).
    #[serde(default)]
    pub cooldown_bars: u32,
    /// Pause after this many losing trades closed within the last
    /// `losing_window_bars` bars (1–1,000; absent: none). A bot pauses (a
    /// trader resumes it); a backtest takes no new entry until the window
    /// has passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_losing_trades: Option<u32>,
    /// The window of `max_losing_trades`, in bars (1–100,000; default 1,440).
    #[serde(default = "default_losing_window")]
    pub losing_window_bars: u32,
    /// Pause when the loss since the start of the UTC day reaches this, in
    /// the quote asset (its PnL, so deposits and withdrawals do not count).
    /// A bot pauses (a trader resumes it; the account trades on); a
    /// backtest takes no new entry until the next day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_loss_stop: Option<crate::money::Notional>,
}

fn default_losing_window() -> u32 {
    1440
}

impl Default for Protections {
    fn default() -> Self {
        Protections {
            cooldown_bars: 0,
            max_losing_trades: None,
            losing_window_bars: default_losing_window(),
            daily_loss_stop: None,
        }
    }
}

impl Protections {
    fn is_off(&self) -> bool {
        *self == Protections::default()
    }

    /// Whether any protection is set.
    pub fn any(&self) -> bool {
        self.cooldown_bars > 0 || self.max_losing_trades.is_some() || self.daily_loss_stop.is_some()
    }

    pub fn validate(&self) -> Result<(), ParamError> {
        let range = |name: &str, v: u32, min: u32, max: u32| {
            if (min..=max).contains(&v) {
                Ok(())
            } else {
                Err(ParamError::new(
                    format!("protections.{name}"),
                    format!("must be {min}–{max}, got {v}"),
                ))
            }
        };
        range("cooldown_bars", self.cooldown_bars, 0, 10_000)?;
        if let Some(n) = self.max_losing_trades {
            range("max_losing_trades", n, 1, 1000)?;
        }
        range("losing_window_bars", self.losing_window_bars, 1, 100_000)?;
        if let Some(l) = self.daily_loss_stop
            && (l.get() <= Decimal::ZERO)
        {
            return Err(ParamError::new(
                "protections.daily_loss_stop",
                "must be greater than zero",
            ));
        }
        Ok(())
    }
}

/// A strategy with its parameters and the common options: what a named,
/// reusable strategy config holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StrategySpec {
    /// A name from `strategies.catalog`.
    pub strategy: String,
    /// The strategy's parameters, checked against its schema.
    #[serde(default = "empty_object")]
    pub params: serde_json::Value,
    #[serde(default)]
    pub sizing: Sizing,
    #[serde(default)]
    pub exits: Exits,
    /// The bar interval the strategy trades on.
    #[serde(default = "default_interval")]
    pub interval: Interval,
    /// When to stop opening positions for a while.
    #[serde(default, skip_serializing_if = "Protections::is_off")]
    pub protections: Protections,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

impl StrategySpec {
    /// Checks everything and builds a built-in strategy; the parameters
    /// come back normalized (defaults filled in).
    pub fn build(&self) -> Built {
        Registry::builtin().build(self)
    }
}

/// The strategies a daemon or backtest can build: the built-ins, any an
/// embedding program adds, and user strategies (Lua or WebAssembly, added
/// at run time; clones of a registry share them).
#[derive(Clone)]
pub struct Registry {
    kinds: Vec<&'static Kind>,
    user: std::sync::Arc<std::sync::RwLock<UserKinds>>,
}

/// A user strategy: uploaded code, known by its name and by the hash of
/// its content. A spec names it `name` (its newest upload) or
/// `name@hash` (exactly that code).
pub struct UserKind {
    pub name: String,
    /// SHA-256 of the source or module, lowercase hex.
    pub hash: String,
    /// `lua` or `wasm`.
    pub tier: &'static str,
    pub owner: String,
    pub summary: String,
    pub rules: String,
    /// JSON Schema of its parameters (from its declared parameter table).
    pub schema: serde_json::Value,
    /// Warm-up bars with the default parameters.
    pub default_warmup: usize,
    pub build: Box<dyn Fn(&serde_json::Value) -> Built + Send + Sync>,
}

impl UserKind {
    /// `name@hash`: the name that always means this code.
    pub fn pinned(&self) -> String {
        format!("{}@{}", self.name, self.hash)
    }
}

impl std::fmt::Debug for UserKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserKind")
            .field("name", &self.name)
            .field("hash", &self.hash)
            .field("tier", &self.tier)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct UserKinds {
    /// By `name@hash` (the same code may be uploaded under two names).
    by_pin: std::collections::HashMap<String, std::sync::Arc<UserKind>>,
    /// Name → hash of its newest upload.
    latest: std::collections::BTreeMap<String, String>,
}

impl Registry {
    pub fn builtin() -> Registry {
        Registry {
            kinds: builtin::CATALOG.iter().collect(),
            user: std::sync::Arc::default(),
        }
    }

    fn users(&self) -> std::sync::RwLockReadGuard<'_, UserKinds> {
        self.user
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn users_mut(&self) -> std::sync::RwLockWriteGuard<'_, UserKinds> {
        self.user
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a user strategy; it becomes its name's newest version. The
    /// same name and code again keeps the entry already there.
    pub fn add_user(&self, kind: UserKind) -> std::sync::Arc<UserKind> {
        let kind = std::sync::Arc::new(kind);
        let mut u = self.users_mut();
        u.latest.insert(kind.name.clone(), kind.hash.clone());
        u.by_pin
            .entry(kind.pinned())
            .or_insert_with(|| kind.clone())
            .clone()
    }

    /// Makes a known version its name's newest again (a re-upload).
    pub fn make_newest(&self, kind: &UserKind) {
        self.users_mut()
            .latest
            .insert(kind.name.clone(), kind.hash.clone());
    }

    /// The user strategy a spec's `strategy` names: `name` (newest) or
    /// `name@hash`.
    pub fn user(&self, strategy: &str) -> Option<std::sync::Arc<UserKind>> {
        let u = self.users();
        if strategy.contains('@') {
            return u.by_pin.get(strategy).cloned();
        }
        let hash = u.latest.get(strategy)?;
        u.by_pin.get(&format!("{strategy}@{hash}")).cloned()
    }

    /// The newest version of every user strategy, by name.
    pub fn user_kinds(&self) -> Vec<std::sync::Arc<UserKind>> {
        let u = self.users();
        u.latest
            .iter()
            .filter_map(|(name, hash)| u.by_pin.get(&format!("{name}@{hash}")).cloned())
            .collect()
    }

    /// The names a spec may use: the built-ins, then the user strategies
    /// `visible` lets through (for an error that lists what is known).
    pub fn known_names(&self, visible: impl Fn(&UserKind) -> bool) -> Vec<String> {
        let mut known: Vec<String> = self.kinds.iter().map(|k| k.name.to_owned()).collect();
        known.extend(
            self.user_kinds()
                .iter()
                .filter(|k| visible(k))
                .map(|k| k.name.clone()),
        );
        known
    }

    /// Adds (or replaces, by name) a strategy kind.
    #[must_use]
    pub fn with(mut self, kind: &'static Kind) -> Registry {
        self.kinds.retain(|k| k.name != kind.name);
        self.kinds.push(kind);
        self
    }

    pub fn kinds(&self) -> &[&'static Kind] {
        &self.kinds
    }

    pub fn find(&self, name: &str) -> Option<&'static Kind> {
        self.kinds.iter().copied().find(|k| k.name == name)
    }

    /// Checks the whole spec and builds its strategy.
    pub fn build(&self, spec: &StrategySpec) -> Built {
        spec.sizing.validate()?;
        spec.exits.validate()?;
        spec.protections.validate()?;
        if let Some(kind) = self.find(&spec.strategy) {
            return (kind.build)(&spec.params);
        }
        // The lock is not held while the strategy is built.
        if let Some(kind) = self.user(&spec.strategy) {
            return (kind.build)(&spec.params);
        }
        Err(ParamError::new(
            "strategy",
            format!(
                "unknown strategy `{}` (known: {})",
                spec.strategy,
                self.known_names(|_| true).join(", ")
            ),
        ))
    }
}

/// The JSON Schema of a whole [`StrategySpec`].
pub fn spec_schema() -> serde_json::Value {
    schemars::schema_for!(StrategySpec).to_value()
}

/// A built strategy and its normalized parameters.
pub type Built = Result<(Box<dyn Strategy>, serde_json::Value), ParamError>;

/// A built-in strategy as published by `strategies.catalog`.
pub struct Kind {
    pub name: &'static str,
    pub summary: &'static str,
    /// Exact entry and exit rules.
    pub rules: &'static str,
    pub schema: fn() -> serde_json::Value,
    pub build: fn(&serde_json::Value) -> Built,
}

/// Parses `params` strictly into `P` (unknown fields refused), validates it.
pub fn parse_params<P: Params>(
    params: &serde_json::Value,
) -> Result<(P, serde_json::Value), ParamError> {
    let p: P = serde_json::from_value(params.clone()).map_err(|e| {
        let msg = e.to_string();
        // serde names the field in its message: "unknown field `x`, …",
        // "missing field `x`", "invalid type … for key `x`".
        let field = crate::api::serde_field(&msg)
            .map_or_else(|| "params".to_owned(), |f| format!("params.{f}"));
        ParamError::new(field, msg)
    })?;
    p.validate().map_err(|e| ParamError {
        field: format!("params.{}", e.field),
        message: e.message,
    })?;
    let normalized =
        serde_json::to_value(&p).map_err(|e| ParamError::new("params", e.to_string()))?;
    Ok((p, normalized))
}

/// Checks that a period-like parameter is within `min..=max`.
pub fn in_range(field: &str, value: usize, min: usize, max: usize) -> Result<(), ParamError> {
    if value < min || value > max {
        return Err(ParamError::new(
            field,
            format!("must be between {min} and {max}, got {value}"),
        ));
    }
    Ok(())
}

/// The options every strategy spec takes besides its parameters
/// (`sizing`, `exits`): each group's JSON Schema and its default value,
/// for clients that build their forms from them.
pub fn option_schemas() -> [(&'static str, serde_json::Value, serde_json::Value); 2] {
    let value = |v: serde_json::Result<serde_json::Value>| v.unwrap_or_default();
    [
        (
            "sizing",
            schemars::schema_for!(Sizing).to_value(),
            value(serde_json::to_value(Sizing::default())),
        ),
        (
            "exits",
            schemars::schema_for!(Exits).to_value(),
            value(serde_json::to_value(Exits::default())),
        ),
    ]
}
