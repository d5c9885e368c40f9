//! `tradectl strategy …` and `tradectl bot …`: strategy configs and bots.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use tradedesk_core::api::Empty;
use tradedesk_core::api::bots::{
    BotCreate, BotDelete, BotEventsParams, BotFilter, BotForce, BotId, BotStatus, BotStop,
    BotUpdate, BotView, BotsCreate, BotsDelete, BotsEvents, BotsGet, BotsList, BotsPause,
    BotsPerformance, BotsResume, BotsStart, BotsStop, BotsUpdate,
};
use tradedesk_core::api::strategies::{SpecParam, StrategiesCatalog, StrategiesValidate};
use tradedesk_core::client::Client;
use tradedesk_core::instrument::Symbol;
use tradedesk_core::money::Qty;
use tradedesk_core::strategy::StrategySpec;

use crate::format::{Table, signed, ts};
use crate::{Ctx, Failure};

mod strategies;
mod user_strategies;
pub use strategies::{Strategy, strategy};

/// A strategy spec from flags (or whole, with `--spec`).
#[derive(Args, Default, Clone)]
pub struct SpecArgs {
    /// Built-in strategy: sma_cross, ema_cross, rsi_reversion, bollinger_breakout, macd, grid, dca.
    #[arg(long)]
    pub kind: Option<String>,
    /// A parameter, `NAME=VALUE` (repeatable); see `tradectl strategy catalog KIND`.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Position sizing: `percent:100` (of the bot's equity), `quote:250`, `qty:0.01`.
    #[arg(long, value_name = "MODE:VALUE")]
    pub sizing: Option<String>,
    /// Round quantities down to whole units.
    #[arg(long)]
    pub whole_units: bool,
    /// Stop-loss, percent below the average entry.
    #[arg(long, value_name = "PCT")]
    pub stop_loss: Option<Qty>,
    /// Take-profit, percent above the average entry.
    #[arg(long, value_name = "PCT")]
    pub take_profit: Option<Qty>,
    /// Trailing stop, percent below the best price since entry.
    #[arg(long, value_name = "PCT")]
    pub trailing_stop: Option<Qty>,
    /// Bar interval: 1m, 5m, 15m, 1h, 4h, 1d.
    #[arg(long)]
    pub interval: Option<String>,
    /// Protection: bars without an entry after a stop-loss or trailing stop.
    #[arg(long, value_name = "BARS")]
    pub cooldown_bars: Option<u32>,
    /// Protection: pause after this many losing trades within
    /// `--losing-window-bars` (default 1440).
    #[arg(long, value_name = "N")]
    pub max_losing_trades: Option<u32>,
    #[arg(long, value_name = "BARS")]
    pub losing_window_bars: Option<u32>,
    /// Protection: pause when today's loss (UTC) reaches this, in the quote asset.
    #[arg(long, value_name = "AMOUNT")]
    pub daily_loss_stop: Option<String>,
    /// The whole spec as JSON instead of the flags above.
    #[arg(long, value_name = "JSON", conflicts_with_all = ["kind", "params", "sizing"])]
    pub spec: Option<String>,
}

impl SpecArgs {
    fn given(&self) -> bool {
        self.kind.is_some() || self.spec.is_some()
    }

    /// The spec as JSON; parameter values are typed from the strategy's schema.
    pub(crate) fn to_json(&self, c: &mut Client) -> Result<Value, Failure> {
        if let Some(text) = &self.spec {
            return serde_json::from_str(text)
                .map_err(|e| Failure::Usage(format!("--spec is not valid JSON: {e}")));
        }
        let kind = self
            .kind
            .clone()
            .ok_or_else(|| Failure::Usage("give --kind (or --spec)".into()))?;
        let mut params = serde_json::Map::new();
        if !self.params.is_empty() {
            let catalog = c.call::<StrategiesCatalog>(&Empty {})?;
            let schema = catalog
                .strategies
                .iter()
                .find(|s| s.name == kind)
                .map_or(Value::Null, |s| s.params_schema.clone());
            for p in &self.params {
                let (name, value) = p
                    .split_once('=')
                    .ok_or_else(|| Failure::Usage(format!("--param `{p}`: expected NAME=VALUE")))?;
                params.insert(name.to_owned(), typed(&schema, name, value));
            }
        }
        let mut spec = json!({ "strategy": kind, "params": params });
        if let Some(s) = &self.sizing {
            let (mode, value) = s.split_once(':').ok_or_else(|| {
                Failure::Usage(format!(
                    "--sizing `{s}`: expected MODE:VALUE, e.g. percent:100"
                ))
            })?;
            let mode = match mode {
                "percent" | "pct" => "percent",
                "quote" => "quote",
                "qty" | "fixed_qty" => "fixed_qty",
                other => {
                    return Err(Failure::Usage(format!(
                        "--sizing: unknown mode `{other}` (percent, quote, qty)"
                    )));
                }
            };
            spec["sizing"] =
                json!({ "mode": mode, "value": value, "whole_units": self.whole_units });
        } else if self.whole_units {
            spec["sizing"] = json!({ "mode": "percent", "value": "100", "whole_units": true });
        }
        let mut exits = serde_json::Map::new();
        for (k, v) in [
            ("stop_loss_pct", self.stop_loss),
            ("take_profit_pct", self.take_profit),
            ("trailing_stop_pct", self.trailing_stop),
        ] {
            if let Some(v) = v {
                exits.insert(k.into(), json!(v.to_string()));
            }
        }
        if !exits.is_empty() {
            spec["exits"] = Value::Object(exits);
        }
        if let Some(i) = &self.interval {
            spec["interval"] = json!(i);
        }
        let mut protections = serde_json::Map::new();
        for (k, v) in [
            ("cooldown_bars", self.cooldown_bars),
            ("max_losing_trades", self.max_losing_trades),
            ("losing_window_bars", self.losing_window_bars),
        ] {
            if let Some(v) = v {
                protections.insert(k.into(), json!(v));
            }
        }
        if let Some(l) = &self.daily_loss_stop {
            protections.insert("daily_loss_stop".into(), json!(l));
        }
        if !protections.is_empty() {
            spec["protections"] = Value::Object(protections);
        }
        Ok(spec)
    }

    /// Flags that change a spec without naming its strategy.
    fn tweaks(&self) -> bool {
        !self.params.is_empty()
            || self.sizing.is_some()
            || self.whole_units
            || self.stop_loss.is_some()
            || self.take_profit.is_some()
            || self.trailing_stop.is_some()
            || self.interval.is_some()
            || self.cooldown_bars.is_some()
            || self.max_losing_trades.is_some()
            || self.losing_window_bars.is_some()
            || self.daily_loss_stop.is_some()
    }

    /// `base` with the given flags laid over it: parameters and exits
    /// merged key by key, sizing and interval replaced.
    fn over(&self, c: &mut Client, base: &StrategySpec) -> Result<StrategySpec, Failure> {
        let mut flags = self.clone();
        flags.kind = Some(base.strategy.clone());
        let patch = flags.to_json(c)?;
        let mut spec = serde_json::to_value(base)
            .map_err(|e| Failure::Usage(format!("the bot's spec: {e}")))?;
        for key in ["params", "exits", "protections"] {
            let Some(from) = patch.get(key).and_then(Value::as_object) else {
                continue;
            };
            match spec.get_mut(key).and_then(Value::as_object_mut) {
                Some(into) => into.extend(from.clone()),
                None => spec[key] = Value::Object(from.clone()),
            }
        }
        for key in ["sizing", "interval"] {
            if let Some(v) = patch.get(key) {
                spec[key] = v.clone();
            }
        }
        Self::validated(c, spec)
    }

    fn spec(&self, c: &mut Client) -> Result<StrategySpec, Failure> {
        let v = self.to_json(c)?;
        Self::validated(c, v)
    }

    fn validated(c: &mut Client, v: Value) -> Result<StrategySpec, Failure> {
        // The daemon says precisely what is wrong; ask it.
        let check = c.call::<StrategiesValidate>(&SpecParam { spec: v })?;
        match check.spec {
            Some(spec) if check.valid => Ok(spec),
            _ => Err(Failure::Api(tradedesk_core::api::ApiError::invalid_params(
                format!(
                    "invalid params: field `{}`: {}",
                    check.field.unwrap_or_default(),
                    check.message.unwrap_or_default()
                ),
            ))),
        }
    }
}

/// A `--param` value typed by the parameter's schema: numbers for integer
/// and number parameters, strings for decimal strings.
fn typed(schema: &Value, name: &str, value: &str) -> Value {
    let ty = &schema["properties"][name]["type"];
    let is = |t: &str| ty == t || ty.as_array().is_some_and(|a| a.iter().any(|x| x == t));
    if is("integer") || is("number") || is("boolean") {
        serde_json::from_str(value).unwrap_or_else(|_| json!(value))
    } else {
        json!(value)
    }
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Bot {
    /// Create a bot from a saved strategy (--strategy) or an inline spec (--kind …).
    Create {
        name: String,
        /// A saved strategy config, by name or id.
        #[arg(long)]
        strategy: Option<String>,
        #[command(flatten)]
        spec: SpecArgs,
        /// A symbol it trades (repeatable).
        #[arg(long = "symbol", required = true)]
        symbols: Vec<Symbol>,
        /// Capital for the bot's book, `ASSET=AMOUNT` (repeatable), e.g. USDT=1000.
        #[arg(long = "allocate", required = true, value_name = "ASSET=AMOUNT")]
        allocation: Vec<String>,
        #[arg(long)]
        account: Option<String>,
        /// Start it at once.
        #[arg(long)]
        start: bool,
    },
    /// Bots with status, equity and PnL.
    List {
        /// Only bots in this state.
        #[arg(long, value_enum)]
        status: Option<BotStatus>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One bot with its book.
    Show {
        id: u64,
    },
    Start {
        id: u64,
    },
    /// Stop: cancels its orders (unless --keep-orders); --flatten also sells its positions.
    Stop {
        id: u64,
        #[arg(long)]
        flatten: bool,
        #[arg(long)]
        keep_orders: bool,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Pause: no new decisions; protective exits stay.
    Pause {
        id: u64,
    },
    Resume {
        id: u64,
    },
    /// Buy now for a running bot, through the risk checks: `--qty`, or its
    /// sizing rule's size; adds to a position it holds.
    Enter {
        id: u64,
        /// Which of its symbols (needed when it trades several).
        #[arg(long)]
        symbol: Option<Symbol>,
        #[arg(long)]
        qty: Option<Qty>,
    },
    /// Sell now for a running bot (all of it: a paused one too): its whole
    /// position, or `--qty` of it.
    Exit {
        id: u64,
        #[arg(long)]
        symbol: Option<Symbol>,
        #[arg(long)]
        qty: Option<Qty>,
    },
    /// Its event log, newest first.
    Events {
        id: u64,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Equity, PnL, fees, trades, win rate, max drawdown.
    Perf {
        id: u64,
    },
    /// Delete a bot that is not running (--force stops it first).
    Delete {
        id: u64,
        #[arg(long)]
        force: bool,
    },
    /// Change a stopped bot's name or strategy spec (naming a user
    /// strategy again takes its newest version).
    Update {
        id: u64,
        #[arg(long)]
        rename: Option<String>,
        /// A new spec with `--kind` (or `--spec`); without them, `--param`,
        /// `--sizing`, the exits and `--interval` change the bot's own spec.
        /// A running bot decides with it from its next bar.
        #[command(flatten)]
        spec: SpecArgs,
        /// Capital to add from the account, `ASSET=AMOUNT` (repeatable).
        #[arg(long, value_name = "ASSET=AMOUNT")]
        deposit: Vec<String>,
        /// Capital to take back from the bot's free balance (repeatable).
        #[arg(long, value_name = "ASSET=AMOUNT")]
        withdraw: Vec<String>,
    },
}

fn allocation(items: &[String]) -> Result<BTreeMap<String, Qty>, Failure> {
    amounts(items, "--allocate")
}

/// `ASSET=AMOUNT` items of `flag`, by asset.
pub(crate) fn amounts(items: &[String], flag: &str) -> Result<BTreeMap<String, Qty>, Failure> {
    let mut out = BTreeMap::new();
    for item in items {
        let (asset, amount) = item.split_once('=').ok_or_else(|| {
            Failure::Usage(format!(
                "{flag} `{item}`: expected ASSET=AMOUNT, e.g. USDT=1000"
            ))
        })?;
        let amount: Qty = amount
            .parse()
            .map_err(|e| Failure::Usage(format!("{flag} `{item}`: {e}")))?;
        out.insert(asset.to_owned(), amount);
    }
    Ok(out)
}

#[allow(clippy::too_many_lines)] // one arm per command
pub fn bot(ctx: &Ctx, cmd: Bot) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    match cmd {
        Bot::Create {
            name,
            strategy,
            spec,
            symbols,
            allocation: alloc,
            account,
            start,
        } => {
            let spec = match (&strategy, spec.given()) {
                (Some(_), false) => None,
                (None, true) => Some(spec.spec(&mut c)?),
                _ => {
                    return Err(Failure::Usage(
                        "give --strategy NAME or an inline spec (--kind …), not both".into(),
                    ));
                }
            };
            let v = c.call::<BotsCreate>(&BotCreate {
                name,
                strategy,
                spec,
                symbols,
                account,
                allocation: allocation(&alloc)?,
                start,
            })?;
            print_bot(ctx, &v);
        }
        Bot::List {
            status,
            limit,
            cursor,
        } => {
            let page = c.call::<BotsList>(&BotFilter {
                status,
                limit,
                cursor,
            })?;
            ctx.emit(&page, || {
                let mut t = Table::new(&[
                    "id", "name", "strategy", "symbols", "status", "equity", "pnl", "reason",
                ]);
                for b in &page.items {
                    t.row(vec![
                        b.bot.id.to_string(),
                        b.bot.name.clone(),
                        b.bot.spec.strategy.clone(),
                        b.bot
                            .symbols
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(","),
                        b.bot.status.as_str().to_owned(),
                        b.equity
                            .map_or_else(|| "-".into(), |e| crate::format::money(e.get())),
                        b.pnl.map_or_else(|| "-".into(), |p| signed(p.get())),
                        b.bot.reason.clone().unwrap_or_default(),
                    ]);
                }
                out!("{t}");
                if let Some(next) = &page.next_cursor {
                    outln!("more: --cursor {next}");
                }
            });
        }
        Bot::Show { id } => print_bot(ctx, &c.call::<BotsGet>(&BotId { id })?),
        Bot::Start { id } => print_bot(ctx, &c.call::<BotsStart>(&BotId { id })?),
        Bot::Pause { id } => print_bot(ctx, &c.call::<BotsPause>(&BotId { id })?),
        Bot::Resume { id } => print_bot(ctx, &c.call::<BotsResume>(&BotId { id })?),
        Bot::Enter { id, symbol, qty } => print_bot(
            ctx,
            &c.call::<tradedesk_core::api::bots::BotsEnter>(&BotForce { id, symbol, qty })?,
        ),
        Bot::Exit { id, symbol, qty } => print_bot(
            ctx,
            &c.call::<tradedesk_core::api::bots::BotsExit>(&BotForce { id, symbol, qty })?,
        ),
        Bot::Stop {
            id,
            flatten,
            keep_orders,
            reason,
        } => print_bot(
            ctx,
            &c.call::<BotsStop>(&BotStop {
                id,
                cancel_orders: !keep_orders,
                flatten,
                reason,
            })?,
        ),
        Bot::Events { id, limit, cursor } => {
            let page = c.call::<BotsEvents>(&BotEventsParams { id, limit, cursor })?;
            ctx.emit(&page, || {
                let mut t = Table::new(&["id", "time", "kind", "message"]);
                for e in &page.items {
                    t.row(vec![
                        e.id.to_string(),
                        ts(e.time),
                        e.kind.as_str().to_owned(),
                        e.message.clone(),
                    ]);
                }
                out!("{t}");
                if let Some(next) = &page.next_cursor {
                    outln!("more: --cursor {next}");
                }
            });
        }
        Bot::Perf { id } => {
            let p = c.call::<BotsPerformance>(&BotId { id })?;
            ctx.emit(&p, || {
                let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
                let pct = |r: Option<tradedesk_core::money::Ratio>| {
                    opt(r.map(|r| format!("{:.2} %", r.get() * rust_decimal::Decimal::ONE_HUNDRED)))
                };
                let mut t = Table::new(&["", "value"]);
                for (k, v) in [
                    ("allocated", p.allocated.to_string()),
                    (
                        "equity",
                        opt(p.equity.map(|e| e.get().round_dp(8).to_string())),
                    ),
                    (
                        "total pnl",
                        opt(p.total_pnl.map(|e| signed(e.get().round_dp(8)))),
                    ),
                    ("realized after fees", signed(p.realized_pnl.get())),
                    ("unrealized after fees", signed(p.unrealized_pnl.get())),
                    ("fees", crate::format::money(p.fees.get())),
                    ("fills", p.fills.to_string()),
                    ("trades (round trips)", p.trades.to_string()),
                    ("wins", p.wins.to_string()),
                    ("losses", p.losses.to_string()),
                    ("win rate", pct(p.win_rate)),
                    ("max drawdown", pct(p.max_drawdown)),
                ] {
                    t.row(vec![k.to_owned(), v]);
                }
                outln!("bot {}", p.id);
                out!("{t}");
            });
        }
        Bot::Update {
            id,
            rename,
            spec,
            deposit,
            withdraw,
        } => {
            let spec = if spec.given() {
                Some(spec.spec(&mut c)?)
            } else if spec.tweaks() {
                let current = c.call::<BotsGet>(&BotId { id })?.bot.spec;
                Some(spec.over(&mut c, &current)?)
            } else {
                None
            };
            let maybe = |items: &[String], flag: &str| {
                (!items.is_empty())
                    .then(|| amounts(items, flag))
                    .transpose()
            };
            let r = c.call::<BotsUpdate>(&BotUpdate {
                id,
                name: rename,
                spec,
                allocation: None,
                deposit: maybe(&deposit, "--deposit")?,
                withdraw: maybe(&withdraw, "--withdraw")?,
            })?;
            print_bot(ctx, &r);
        }
        Bot::Delete { id, force } => {
            let r = c.call::<BotsDelete>(&BotDelete { id, force })?;
            ctx.emit(&r, || {
                outln!("deleted bot {}", r.id);
            });
        }
    }
    Ok(())
}

fn print_bot(ctx: &Ctx, v: &BotView) {
    ctx.emit(v, || {
        let b = &v.bot;
        outln!(
            "bot {} `{}` — {}{}",
            b.id,
            b.name,
            b.status.as_str(),
            b.reason
                .as_ref()
                .map_or(String::new(), |r| format!(" ({r})"))
        );
        for w in &v.warnings {
            eprintln!("tradectl: warning: {w}");
        }
        outln!(
            "  {} on {} ({}), account {}",
            b.spec.strategy,
            b.symbols
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            b.spec.interval.as_str(),
            b.account
        );
        outln!("  params {}", b.spec.params);
        let mut t = Table::new(&["asset", "free", "locked"]);
        for (asset, bal) in &v.balances {
            t.row(vec![
                asset.clone(),
                bal.free.to_string(),
                bal.locked.to_string(),
            ]);
        }
        out!("{t}");
        if !v.positions.is_empty() {
            let mut t = Table::new(&[
                "symbol",
                "qty",
                "avg price",
                "mark",
                "unrealized",
                "realized",
            ]);
            for p in &v.positions {
                let opt = |x: Option<String>| x.unwrap_or_else(|| "-".into());
                t.row(vec![
                    p.symbol.to_string(),
                    p.qty.to_string(),
                    opt(p.avg_price.map(|x| x.to_string())),
                    opt(p.mark_price.map(|x| x.to_string())),
                    opt(p.unrealized_pnl.map(|x| signed(x.get()))),
                    signed(p.realized_pnl.get()),
                ]);
            }
            out!("{t}");
        }
        if !v.open_trades.is_empty() {
            out!("{}", open_trades_table(&v.open_trades));
        }
        if let Some(e) = v.equity {
            outln!("equity {}", e.get().round_dp(8));
        }
    });
}

/// A bot's open trades: entry, PnL after fees, each protective exit and
/// how far the last price is from it.
fn open_trades_table(trades: &[tradedesk_core::api::bots::OpenTrade]) -> Table {
    let level = |l: &Option<tradedesk_core::api::bots::ExitLevel>| {
        l.as_ref().map_or_else(
            || "-".to_owned(),
            |l| match (l.price, l.distance_pct) {
                (Some(p), Some(d)) => format!("{p} ({d:+.2} %)"),
                (Some(p), None) => p.to_string(),
                (None, _) => "trailing".to_owned(),
            },
        )
    };
    let mut t = Table::new(&[
        "open trade",
        "qty",
        "entry",
        "last",
        "pnl after fees",
        "stop-loss",
        "take-profit",
        "trailing stop",
    ]);
    for o in trades {
        let opt = |x: Option<String>| x.unwrap_or_else(|| "-".into());
        t.row(vec![
            o.symbol.to_string(),
            o.qty.to_string(),
            opt(o.entry_price.map(|x| x.to_string())),
            opt(o.last_price.map(|x| x.to_string())),
            match (o.pnl, o.pnl_pct) {
                (Some(n), Some(p)) => format!("{} ({p:+.2} %)", signed(n.get().round_dp(2))),
                (Some(n), None) => signed(n.get().round_dp(2)),
                _ => "-".into(),
            },
            level(&o.stop_loss),
            level(&o.take_profit),
            level(&o.trailing_stop),
        ]);
    }
    t
}
