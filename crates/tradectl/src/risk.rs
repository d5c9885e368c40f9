//! `tradectl risk …`: limits, states, the kill switch, violations, alerts.

use clap::Subcommand;
use serde_json::{Value, json};
use tradedesk_core::api::risk::{
    AlertFilter, AlertId, CheckParams, HaltParams, LimitsSet, RiskAlerts, RiskAlertsAck, RiskCheck,
    RiskHalt, RiskLimitsGet, RiskLimitsSet, RiskResume, RiskStatus, RiskViolations, ScopeParam,
    ScopeState, ViolationFilter,
};
use tradedesk_core::instrument::Symbol;
use tradedesk_core::money::{Price, Qty};
use tradedesk_core::order::{OrderRequest, OrderType, Side};
use tradedesk_core::risk::Scope;

use crate::format::{Table, ts};
use crate::{Ctx, Failure};

/// Limits whose values are counts (JSON integers); the rest are decimal strings.
const COUNTS: &[&str] = &[
    "max_open_orders",
    "max_orders_per_second",
    "max_orders_per_minute",
];

#[derive(Subcommand)]
pub enum Risk {
    /// Trading states and the use of every limit.
    Status {
        /// account:NAME, bot:ID or symbol:SYMBOL (default: every scope).
        #[arg(long)]
        scope: Option<Scope>,
    },
    /// The limits of a scope (or of every scope).
    Limits {
        #[arg(long)]
        scope: Option<Scope>,
    },
    /// Set limits: `tradectl risk set account:paper max_order_qty=1 daily_loss_limit=200`;
    /// `KEY=null` clears one; `max_exposure.BTC=5000` for one asset.
    Set {
        scope: Scope,
        #[arg(required = true, value_name = "KEY=VALUE")]
        limits: Vec<String>,
        /// Replace the scope's whole set instead of changing the keys given.
        #[arg(long)]
        replace: bool,
    },
    /// Run the pre-trade checks on an order without placing it.
    Check {
        symbol: Symbol,
        /// buy or sell.
        side: String,
        qty: Qty,
        /// A limit price (a market order without).
        #[arg(long)]
        price: Option<Price>,
        #[arg(long)]
        bot: Option<u64>,
        #[arg(long)]
        account: Option<String>,
    },
    /// Kill switch: halt (only cancels pass) and cancel the open orders that
    /// could grow a position (protective exits stay).
    Halt {
        #[arg(long)]
        scope: Option<Scope>,
        /// Also cancel every order and sell every position of the scope at market.
        #[arg(long)]
        flatten: bool,
        /// Only reduce instead: orders that shrink a position still pass.
        #[arg(long)]
        reduce_only: bool,
        /// With --reduce-only, loosen a halted scope to reducing.
        #[arg(long, requires = "reduce_only")]
        force: bool,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Make a halted or reducing scope active again.
    Resume {
        #[arg(long)]
        scope: Option<Scope>,
    },
    /// Recorded rejections and breaches, newest first.
    Violations {
        /// Only this limit.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Risk alerts, newest first.
    Alerts {
        #[arg(long)]
        unacknowledged: bool,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Acknowledge an alert.
    Ack { id: u64 },
}

fn limits_json(items: &[String]) -> Result<Value, Failure> {
    let mut out = serde_json::Map::new();
    for item in items {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| Failure::Usage(format!("`{item}`: expected KEY=VALUE")))?;
        let v = if value == "null" {
            Value::Null
        } else if COUNTS.contains(&key) {
            value
                .parse::<u64>()
                .map(Value::from)
                .map_err(|_| Failure::Usage(format!("`{item}`: {key} is a whole number")))?
        } else {
            json!(value)
        };
        if let Some(asset) = key.strip_prefix("max_exposure.") {
            let entry = out.entry("max_exposure").or_insert_with(|| json!({}));
            entry[asset] = v;
        } else {
            out.insert(key.to_owned(), v);
        }
    }
    Ok(Value::Object(out))
}

fn print_state(ctx: &Ctx, s: &ScopeState) {
    ctx.emit(s, || {
        outln!(
            "{} {}{}",
            s.scope,
            s.state.as_str(),
            s.reason
                .as_ref()
                .map_or(String::new(), |r| format!(" ({r})"))
        );
    });
}

#[allow(clippy::too_many_lines)] // one arm per command
pub fn risk(ctx: &Ctx, cmd: Risk) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    match cmd {
        Risk::Status { scope } => {
            let s = c.call::<RiskStatus>(&ScopeParam { scope })?;
            ctx.emit(&s, || {
                let mut t = Table::new(&["scope", "state", "since", "reason"]);
                for x in &s.states {
                    t.row(vec![
                        x.scope.to_string(),
                        x.state.as_str().to_owned(),
                        x.since.map_or_else(|| "-".into(), ts),
                        x.reason.clone().unwrap_or_default(),
                    ]);
                }
                out!("{t}");
                if !s.usage.is_empty() {
                    let mut t = Table::new(&["scope", "limit", "value", "of", "%"]);
                    for u in &s.usage {
                        t.row(vec![
                            u.scope.to_string(),
                            u.limit.clone(),
                            tradedesk_core::display::limit_figure(&u.limit, &u.value),
                            tradedesk_core::display::limit_figure(&u.limit, &u.limit_value),
                            u.percent.clone(),
                        ]);
                    }
                    out!("{t}");
                }
            });
        }
        Risk::Limits { scope } => {
            let l = c.call::<RiskLimitsGet>(&ScopeParam { scope })?;
            ctx.emit(&l, || {
                let mut t = Table::new(&["scope", "limit", "value"]);
                for s in &l.scopes {
                    if let Ok(Value::Object(m)) = serde_json::to_value(&s.limits) {
                        for (k, v) in m {
                            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                            t.row(vec![s.scope.to_string(), k, v]);
                        }
                    }
                }
                out!("{t}");
            });
        }
        Risk::Set {
            scope,
            limits,
            replace,
        } => {
            let r = c.call::<RiskLimitsSet>(&LimitsSet {
                scope,
                limits: limits_json(&limits)?,
                replace,
            })?;
            ctx.emit(&r, || {
                outln!(
                    "{}: {}",
                    r.scope,
                    serde_json::to_string(&r.limits).unwrap_or_default()
                );
            });
        }
        Risk::Check {
            symbol,
            side,
            qty,
            price,
            bot,
            account,
        } => {
            let side = match side.as_str() {
                "buy" => Side::Buy,
                "sell" => Side::Sell,
                other => return Err(Failure::Usage(format!("side `{other}`: buy or sell"))),
            };
            let order = OrderRequest {
                symbol,
                side,
                order_type: if price.is_some() {
                    OrderType::Limit
                } else {
                    OrderType::Market
                },
                qty,
                price,
                stop_price: None,
                trail: None,
                time_in_force: None,
                client_order_id: None,
                account,
            };
            let r = c.call::<RiskCheck>(&CheckParams { order, bot_id: bot })?;
            ctx.emit(&r, || match &r.rejection {
                Some(rej) => outln!("rejected: {}", rej.message),
                None => outln!("approved"),
            });
            // For scripts: an order that would be refused exits 1.
            if !r.approved {
                return Err(Failure::Refused);
            }
        }
        Risk::Halt {
            scope,
            flatten,
            reduce_only,
            force,
            reason,
        } => {
            let s = c.call::<RiskHalt>(&HaltParams {
                scope,
                flatten,
                reduce_only,
                force,
                reason,
            })?;
            print_state(ctx, &s);
        }
        Risk::Resume { scope } => {
            let s = c.call::<RiskResume>(&ScopeParam { scope })?;
            print_state(ctx, &s);
        }
        Risk::Violations {
            name,
            limit,
            cursor,
        } => {
            let page = c.call::<RiskViolations>(&ViolationFilter {
                name,
                since: None,
                limit,
                cursor,
            })?;
            ctx.emit(&page, || {
                let mut t = Table::new(&["id", "time", "source", "message"]);
                for v in &page.items {
                    t.row(vec![
                        v.id.to_string(),
                        ts(v.time),
                        v.source.clone(),
                        v.message.clone(),
                    ]);
                }
                out!("{t}");
                if let Some(next) = &page.next_cursor {
                    outln!("more: --cursor {next}");
                }
            });
        }
        Risk::Alerts {
            unacknowledged,
            limit,
        } => {
            let page = c.call::<RiskAlerts>(&AlertFilter {
                unacknowledged,
                limit,
                cursor: None,
            })?;
            ctx.emit(&page, || {
                let mut t = Table::new(&["id", "time", "severity", "ack", "message"]);
                for a in &page.items {
                    t.row(vec![
                        a.id.to_string(),
                        ts(a.time),
                        a.severity.as_str().to_owned(),
                        if a.acknowledged.is_some() {
                            "yes"
                        } else {
                            "no"
                        }
                        .to_owned(),
                        a.message.clone(),
                    ]);
                }
                out!("{t}");
            });
        }
        Risk::Ack { id } => {
            let a = c.call::<RiskAlertsAck>(&AlertId { id })?;
            ctx.emit(&a, || {
                outln!("alert {} acknowledged", a.id);
            });
        }
    }
    Ok(())
}
