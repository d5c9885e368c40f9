//! `bots.*`: bots, their lifecycle, events and performance; the bot
//! status, figures and event topics.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::method::{method, topic};
use super::paging::Page;
use super::positions::PositionView;
use crate::instrument::Symbol;
use crate::ledger::Balance;
use crate::money::{Notional, Price, Qty, Ratio};
use crate::strategy::StrategySpec;
use crate::time::Timestamp;

method! {
    /// Creates a bot: a strategy on symbols of an account, with its own capital.
    BotsCreate = "bots.create", Post "/api/v1/bots", Trade, BotCreate => BotView
}
method! {
    /// Bots, newest first.
    BotsList = "bots.list", Get "/api/v1/bots", Read, BotFilter => BotPage
}
method! {
    /// One bot with its book (balances and positions).
    BotsGet = "bots.get", Get "/api/v1/bots/{id}", Read, BotId => BotView
}
method! {
    /// Changes a bot: name, strategy spec (a running bot's from its next bar), capital (`deposit`, `withdraw`); a new `allocation` only while it is stopped.
    BotsUpdate = "bots.update", Patch "/api/v1/bots/{id}", Trade, BotUpdate => BotView
}
method! {
    /// Deletes a bot that is not running (`force` stops it first); its history stays.
    BotsDelete = "bots.delete", Delete "/api/v1/bots/{id}", Trade, BotDelete => Deleted
}
method! {
    /// Starts (or restarts) a created, stopped or failed bot.
    BotsStart = "bots.start", Post "/api/v1/bots/{id}/start", Trade, BotId => BotView
}
method! {
    /// Stops a bot: cancels its orders (unless `cancel_orders` is false), optionally sells its positions.
    BotsStop = "bots.stop", Post "/api/v1/bots/{id}/stop", Trade, BotStop => BotView
}
method! {
    /// Pauses a running bot: no new decisions; its protective exits stay.
    BotsPause = "bots.pause", Post "/api/v1/bots/{id}/pause", Trade, BotId => BotView
}
method! {
    /// Resumes a paused bot.
    BotsResume = "bots.resume", Post "/api/v1/bots/{id}/resume", Trade, BotId => BotView
}
method! {
    /// Buys now for a running bot, through the risk checks: `qty`, or its sizing rule's size; adds to a position it holds.
    BotsEnter = "bots.enter", Post "/api/v1/bots/{id}/enter", Trade, BotForce => BotView
}
method! {
    /// Sells now for a running (or, all of it, a paused) bot: its whole position, or `qty` of it.
    BotsExit = "bots.exit", Post "/api/v1/bots/{id}/exit", Trade, BotForce => BotView
}
method! {
    /// A bot's event log, newest first: signals, orders, fills, errors, state changes.
    BotsEvents = "bots.events", Get "/api/v1/bots/{id}/events", Read, BotEventsParams => BotEventPage
}
method! {
    /// A bot's equity, PnL, fees, trades, win rate and max drawdown so far.
    BotsPerformance = "bots.performance", Get "/api/v1/bots/{id}/performance", Read, BotId => BotPerformance
}
method! {
    /// A bot's equity samples with drawdown, optionally in a time range and downsampled.
    BotsEquity = "bots.equity", Get "/api/v1/bots/{id}/equity", Read, BotEquityQuery => super::backtests::EquityCurve
}

topic! {
    /// A bot after every change of its status (deletion included: `deleted`
    /// is set and its book is empty).
    BotStatusTopic = "bots.status", BotView, owned
}
topic! {
    /// A bot's book as fills and prices move it: published when its equity
    /// changed, at most every `streams.figures_ms` per bot.
    BotFiguresTopic = "bots.figures", BotFigures, owned
}
topic! {
    /// Every entry of every bot's event log.
    BotEventsTopic = "bots.events", BotEvent, owned
}

pub use super::Deleted;

#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BotStatus {
    Created,
    Running,
    Paused,
    Stopped,
    Error,
}

impl BotStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BotStatus::Created => "created",
            BotStatus::Running => "running",
            BotStatus::Paused => "paused",
            BotStatus::Stopped => "stopped",
            BotStatus::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<BotStatus> {
        [
            BotStatus::Created,
            BotStatus::Running,
            BotStatus::Paused,
            BotStatus::Stopped,
            BotStatus::Error,
        ]
        .into_iter()
        .find(|b| b.as_str() == s)
    }

    /// Running or paused: the bot has a live engine and may hold orders.
    pub fn is_active(self) -> bool {
        matches!(self, BotStatus::Running | BotStatus::Paused)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BotCreate {
    /// 1–64 characters: letters, digits, `-`, `_`, `.`; unique among your bots.
    pub name: String,
    /// A saved strategy config, by name (or id as a decimal string).
    #[serde(default)]
    pub strategy: Option<String>,
    /// An inline spec, instead of `strategy`.
    #[serde(default)]
    pub spec: Option<StrategySpec>,
    /// The symbols it trades (one strategy instance each), on the account's venue.
    pub symbols: Vec<Symbol>,
    #[serde(default)]
    pub account: Option<String>,
    /// Capital moved from the account's free balance into the bot's book,
    /// by asset (e.g. `{"USDT": "1000"}`).
    pub allocation: BTreeMap<String, Qty>,
    /// Start at once.
    #[serde(default)]
    pub start: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BotRecord {
    pub id: u64,
    pub name: String,
    pub owner: String,
    pub account: String,
    /// The saved config it was created from, if any.
    pub strategy_id: Option<u64>,
    pub spec: StrategySpec,
    pub symbols: Vec<Symbol>,
    pub allocation: BTreeMap<String, Qty>,
    pub status: BotStatus,
    /// Why it stopped or failed.
    pub reason: Option<String>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub started: Option<Timestamp>,
    /// When it was deleted; only on the `bots.status` event of its deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<Timestamp>,
}

/// A bot's book and what it is worth now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BotFigures {
    pub id: u64,
    /// Its balances by asset.
    pub balances: BTreeMap<String, Balance>,
    /// Its positions, marked at the last price (PnL after fees).
    pub positions: Vec<PositionView>,
    /// Balances plus positions at the last price, in the quote asset.
    pub equity: Option<Notional>,
    /// Equity less the allocation valued at the last price: the bot's PnL
    /// after fees (the same figure as `bots.performance`'s `total_pnl`).
    pub pnl: Option<Notional>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BotView {
    #[serde(flatten)]
    pub bot: BotRecord,
    /// The bot's book: its balances by asset (empty once deleted).
    pub balances: BTreeMap<String, Balance>,
    /// The bot's positions (`account` is the bot's account).
    pub positions: Vec<PositionView>,
    /// Balances plus positions at the last price, in the quote asset.
    pub equity: Option<Notional>,
    /// Equity less the allocation valued at the last price (after fees).
    #[serde(default)]
    pub pnl: Option<Notional>,
    /// What to know about its strategy with this venue's fees.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Its open positions as trades: entry, PnL after fees, exits.
    #[serde(default)]
    pub open_trades: Vec<OpenTrade>,
}

/// A bot's open position in one symbol, as a trader watches it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OpenTrade {
    pub symbol: Symbol,
    /// Held (negative: short).
    pub qty: Qty,
    /// The average entry price.
    pub entry_price: Option<Price>,
    pub last_price: Option<Price>,
    /// Closed at the last price now, after its entry fees and the exit's
    /// taker fee: the gain or loss in the quote asset and in percent of
    /// its cost.
    pub pnl: Option<Notional>,
    pub pnl_pct: Option<f64>,
    /// Its working protective exits.
    pub stop_loss: Option<ExitLevel>,
    pub take_profit: Option<ExitLevel>,
    pub trailing_stop: Option<ExitLevel>,
}

/// A protective exit's trigger price and how far the last price is from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExitLevel {
    /// The trigger (a trailing stop's current one; absent where the venue
    /// does not say, e.g. a real exchange's native trailing stop).
    pub price: Option<Price>,
    /// `(price − last) / last` in percent: negative below the last price.
    pub distance_pct: Option<f64>,
}

/// A forced entry or exit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BotForce {
    pub id: u64,
    /// Which of the bot's symbols; may be left out when it trades one.
    #[serde(default)]
    pub symbol: Option<Symbol>,
    /// How much (floored to the lot size). Entry: default the bot's sizing
    /// rule; exit: default all of the position.
    #[serde(default)]
    pub qty: Option<Qty>,
}

pub type BotPage = Page<BotView>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BotFilter {
    #[serde(default)]
    pub status: Option<BotStatus>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BotId {
    pub id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BotEquityQuery {
    pub id: u64,
    #[serde(default)]
    pub start: Option<Timestamp>,
    #[serde(default)]
    pub end: Option<Timestamp>,
    /// At most this many points (2–100,000), keeping each bucket's
    /// extremes; all of them when absent.
    #[serde(default)]
    pub downsample: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BotUpdate {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub spec: Option<StrategySpec>,
    /// A new allocation; only while the bot is stopped and holds no
    /// position and no orders.
    #[serde(default)]
    pub allocation: Option<BTreeMap<String, Qty>>,
    /// Capital to add to its book, from the account's unallocated free
    /// balance, by asset (running or not).
    #[serde(default)]
    pub deposit: Option<BTreeMap<String, Qty>>,
    /// Capital to take out of its book's free balance (not what open
    /// orders hold or positions are in) back to the account, by asset.
    #[serde(default)]
    pub withdraw: Option<BTreeMap<String, Qty>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BotDelete {
    pub id: u64,
    /// Stop a running or paused bot first (cancelling its orders).
    #[serde(default)]
    pub force: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BotStop {
    pub id: u64,
    /// Cancel the bot's open orders (default true).
    #[serde(default = "yes")]
    pub cancel_orders: bool,
    /// Also sell the bot's positions at market.
    #[serde(default)]
    pub flatten: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BotEventsParams {
    pub id: u64,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BotEventKind {
    /// Created, started, paused, resumed, stopped, failed.
    State,
    /// What the strategy saw and said.
    Signal,
    /// An order placed or cancelled for the bot.
    Order,
    Fill,
    /// Something to know that is not an error (a grid that cannot pay its
    /// fees).
    Warning,
    Error,
}

impl BotEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BotEventKind::State => "state",
            BotEventKind::Signal => "signal",
            BotEventKind::Order => "order",
            BotEventKind::Fill => "fill",
            BotEventKind::Warning => "warning",
            BotEventKind::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<BotEventKind> {
        [
            BotEventKind::State,
            BotEventKind::Signal,
            BotEventKind::Order,
            BotEventKind::Fill,
            BotEventKind::Warning,
            BotEventKind::Error,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BotEvent {
    pub id: u64,
    pub bot_id: u64,
    pub time: Timestamp,
    pub kind: BotEventKind,
    pub message: String,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

pub type BotEventPage = Page<BotEvent>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BotPerformance {
    pub id: u64,
    /// What was allocated, valued in the quote asset.
    pub allocated: Notional,
    /// Balances plus positions at the last price.
    pub equity: Option<Notional>,
    /// After fees (entry and exit fees of what was closed).
    pub realized_pnl: Notional,
    /// After the open quantity's entry fees.
    pub unrealized_pnl: Notional,
    pub fees: Notional,
    /// Equity less allocation (= realized + unrealized after fees).
    pub total_pnl: Option<Notional>,
    #[serde(default)]
    pub fills: u64,
    /// Closed round trips (flat to flat, per symbol), the definition every
    /// win rate uses.
    pub trades: u64,
    /// Round trips won / lost after all their fees.
    pub wins: u64,
    pub losses: u64,
    pub win_rate: Option<Ratio>,
    /// Largest fall from a peak of the recorded equity, as a fraction.
    pub max_drawdown: Option<Ratio>,
    /// Equity samples recorded (one per bar handled).
    pub samples: u64,
}
