//! `tradectl watch`: stream events as one readable line each (`--json`:
//! one object per line, as the daemon sent it).

use serde_json::Value;
use tradedesk_core::api::Topic;
use tradedesk_core::api::bots::{BotEventsTopic, BotFiguresTopic, BotStatusTopic};
use tradedesk_core::api::jobs::JobEvents;
use tradedesk_core::api::market::{KlinesTopic, MarketSymbols, OrderbookTopic, TickersTopic};
use tradedesk_core::api::orders::OrderUpdates;
use tradedesk_core::api::positions::PositionUpdates;
use tradedesk_core::api::risk::RiskAlertsTopic;
use tradedesk_core::api::system::Heartbeat;
use tradedesk_core::api::trades::TradeExecutions;
use tradedesk_core::client::StreamMessage;
use tradedesk_core::display::{Precision, money, signed_money};

use crate::format::ts;
use crate::{Ctx, Failure};

pub fn watch(
    ctx: &Ctx,
    topics: &[String],
    count: Option<u64>,
    seconds: Option<u64>,
) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    let until = seconds.map(|s| std::time::Instant::now() + std::time::Duration::from_secs(s));
    // Amounts read at their instrument's precision.
    let precision = Precision::new(&c.all::<MarketSymbols, _>()?);
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    c.subscribe(&names)?;
    let mut seen = 0;
    while count.is_none_or(|n| seen < n) {
        if let Some(until) = until {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            c.set_timeout(Some(left))?;
        }
        let msg = match c.next_event() {
            Ok(m) => m,
            // The time asked for is up.
            Err(tradedesk_core::client::ClientError::Timeout) if until.is_some() => break,
            Err(e) => return Err(e.into()),
        };
        match msg {
            StreamMessage::Event { topic, event } => {
                if ctx.json {
                    outln!("{}", serde_json::json!({ "topic": topic, "event": event }));
                } else {
                    outln!("{}", describe(&precision, &topic, &event));
                }
            }
            StreamMessage::Lagged(l) => eprintln!(
                "tradectl: {} events of {} were dropped (this client fell behind)",
                l.missed, l.topic
            ),
        }
        seen += 1;
    }
    Ok(())
}

fn decode<T: Topic>(event: &Value) -> Option<T::Event> {
    serde_json::from_value(event.clone()).ok()
}

/// One event as a line a person reads; an event this version does not
/// know (or cannot decode) prints as its topic and JSON.
pub fn describe(p: &Precision, topic: &str, event: &Value) -> String {
    described(p, topic, event).unwrap_or_else(|| format!("{topic} {event}"))
}

#[allow(clippy::too_many_lines)] // one arm per topic
fn described(p: &Precision, topic: &str, event: &Value) -> Option<String> {
    Some(match topic {
        Heartbeat::NAME => {
            let b = decode::<Heartbeat>(event)?;
            format!(
                "{} heartbeat #{} (up {} s)",
                b.time.format("%Y-%m-%d %H:%M:%S UTC"),
                b.seq,
                b.uptime_ms / 1000
            )
        }
        TickersTopic::NAME => {
            let t = decode::<TickersTopic>(event)?;
            let s = t.symbol.as_str();
            let side = |x: Option<tradedesk_core::money::Price>| {
                x.map_or("-".into(), |v| p.price(s, v.get()))
            };
            format!(
                "{} {s} last {} bid {} ask {}",
                ts(t.time),
                p.price(s, t.last.get()),
                side(t.bid),
                side(t.ask)
            )
        }
        KlinesTopic::NAME => {
            let k = decode::<KlinesTopic>(event)?;
            let s = k.symbol.as_str();
            let b = &k.bar;
            format!(
                "{} {s} 1m bar {}: open {} high {} low {} close {} volume {}",
                ts(b.open_time),
                if k.closed { "closed" } else { "forming" },
                p.price(s, b.open.get()),
                p.price(s, b.high.get()),
                p.price(s, b.low.get()),
                p.price(s, b.close.get()),
                p.qty(s, b.volume.get())
            )
        }
        OrderbookTopic::NAME => {
            let b = decode::<OrderbookTopic>(event)?;
            let s = b.symbol.as_str();
            let level = |l: Option<&tradedesk_core::market::BookLevel>| {
                l.map_or("-".into(), |l| {
                    format!("{} × {}", p.price(s, l.price.get()), p.qty(s, l.qty.get()))
                })
            };
            format!(
                "{} {s} book: best bid {} / best ask {}",
                ts(b.time),
                level(b.bids.first()),
                level(b.asks.first())
            )
        }
        OrderUpdates::NAME => {
            let o = decode::<OrderUpdates>(event)?;
            let s = o.symbol.as_str();
            let px = o
                .price
                .or(o.stop_price)
                .map_or(String::new(), |x| format!(" @ {}", p.price(s, x.get())));
            format!(
                "{} order #{} {} {} {s} {}{px}: {}{}{}",
                ts(o.updated),
                o.id,
                o.side.as_str(),
                p.qty(s, o.qty.get()),
                o.order_type.as_str(),
                o.status.as_str(),
                if o.filled.is_zero() {
                    String::new()
                } else {
                    format!(" (filled {})", p.qty(s, o.filled.get()))
                },
                o.reason.map_or(String::new(), |r| format!(" — {r}"))
            )
        }
        PositionUpdates::NAME => {
            let x = decode::<PositionUpdates>(event)?;
            let s = x.symbol.as_str();
            format!(
                "position {} {s}: {} @ {} · unrealized {} · realized {} (after fees)",
                x.account,
                p.qty(s, x.qty.get()),
                x.avg_price.map_or("-".into(), |a| p.price(s, a.get())),
                x.unrealized_pnl
                    .map_or("-".into(), |u| signed_money(u.get())),
                signed_money(x.realized_pnl.get())
            )
        }
        TradeExecutions::NAME => {
            let f = decode::<TradeExecutions>(event)?;
            let s = f.symbol.as_str();
            format!(
                "{} fill of order #{}{}: {} {} {s} @ {} · fee {} {}{}",
                ts(f.time),
                f.order_id,
                f.bot_id.map_or(String::new(), |b| format!(" (bot #{b})")),
                f.side.as_str(),
                p.qty(s, f.qty.get()),
                p.price(s, f.price.get()),
                p.amount(&f.fee_asset, f.fee.get()),
                f.fee_asset,
                if f.realized_pnl.is_zero() {
                    String::new()
                } else {
                    format!(" · realized {}", signed_money(f.realized_pnl.get()))
                }
            )
        }
        BotStatusTopic::NAME => {
            let b = decode::<BotStatusTopic>(event)?;
            if b.bot.deleted.is_some() {
                format!(
                    "{} bot #{} {}: deleted",
                    ts(b.bot.updated),
                    b.bot.id,
                    b.bot.name
                )
            } else {
                format!(
                    "{} bot #{} {}: {}{}",
                    ts(b.bot.updated),
                    b.bot.id,
                    b.bot.name,
                    b.bot.status.as_str(),
                    b.bot.reason.map_or(String::new(), |r| format!(" — {r}"))
                )
            }
        }
        BotFiguresTopic::NAME => {
            let f = decode::<BotFiguresTopic>(event)?;
            format!(
                "bot #{}: equity {} · PnL {} (after fees)",
                f.id,
                f.equity.map_or("-".into(), |e| money(e.get())),
                f.pnl.map_or("-".into(), |x| signed_money(x.get()))
            )
        }
        BotEventsTopic::NAME => {
            let e = decode::<BotEventsTopic>(event)?;
            format!(
                "{} bot #{} {}: {}",
                ts(e.time),
                e.bot_id,
                e.kind.as_str(),
                e.message
            )
        }
        RiskAlertsTopic::NAME => {
            let a = decode::<RiskAlertsTopic>(event)?;
            format!(
                "{} alert #{} {} {}: {}",
                ts(a.time),
                a.id,
                a.severity.as_str(),
                a.scope,
                a.message
            )
        }
        JobEvents::NAME => {
            let j = decode::<JobEvents>(event)?;
            let note = j
                .error
                .or(j.message)
                .map_or(String::new(), |m| format!(" — {m}"));
            format!(
                "job #{} {}: {} {}%{note}",
                j.id,
                j.kind,
                j.state.as_str(),
                j.progress
            )
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn precision() -> Precision {
        Precision::new(&[serde_json::from_value(json!({
            "symbol": "BTCUSDT", "base": "BTC", "quote": "USDT", "tick_size": "0.01",
            "lot_size": "0.00001", "min_qty": "0.00001", "min_notional": "5"
        }))
        .expect("instrument")])
    }

    #[test]
    fn events_read_as_sentences_at_their_precision() {
        let p = precision();
        let fill = json!({
            "trade_id": 9, "order_id": 3, "account": "paper", "symbol": "BTCUSDT", "side": "buy",
            "qty": "0.01", "price": "64925.589191564", "fee": "0.64925589", "fee_asset": "USDT",
            "liquidity": "taker", "realized_pnl": "0", "time": "2026-11-18T11:08:23Z"
        });
        let line = describe(&p, "trades.executions", &fill);
        assert!(
            line.ends_with("fill of order #3: buy 0.01000 BTCUSDT @ 64925.59 · fee 0.65 USDT"),
            "{line}"
        );
        let bot =
            json!({ "id": 4, "balances": {}, "positions": [], "equity": "499.21", "pnl": "-0.79" });
        assert_eq!(
            describe(&p, "bots.figures", &bot),
            "bot #4: equity 499.21 · PnL -0.79 (after fees)"
        );
        // Unknown topics and undecodable events still print, as JSON.
        assert_eq!(
            describe(&p, "no.such", &json!({"a": 1})),
            r#"no.such {"a":1}"#
        );
        assert_eq!(describe(&p, "bots.figures", &json!(1)), "bots.figures 1");
    }
}
