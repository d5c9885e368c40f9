use std::collections::BTreeMap;

use super::*;
use crate::ledger::Position;
use crate::money::price_from_f64;
use crate::order::{OrderType, Trail};
use crate::portfolio::OpenOrder;
use crate::strategy::StrategySpec;

fn q(s: &str) -> Qty {
    s.parse().unwrap()
}

fn inst() -> Instrument {
    crate::instrument::tests::btc_with_lot("0.001")
}

/// A minimal paper book: market orders fill at the last close, resting
/// orders fill when a later bar trades through them (stops at the stop,
/// limits at their price), OCO legs cancel each other.
struct Book {
    cash: Decimal,
    fee: Decimal,
    pos: Position,
    open: Vec<(Intent, Option<String>, Option<Price>)>,
    equity_mark: Decimal,
    placed: Vec<Intent>,
    events: Vec<OrderEvent>,
}

impl Portfolio for Book {
    fn position(&self, _: &Symbol) -> Position {
        self.pos
    }
    fn free(&self, asset: &str) -> Qty {
        assert_eq!(asset, "USDT");
        Qty::new(self.cash)
    }
    fn equity(&self) -> Decimal {
        self.cash + self.pos.qty.get() * self.equity_mark
    }
    fn open_orders(&self, _: &Symbol) -> Vec<OpenOrder> {
        self.open
            .iter()
            .map(|(i, leg, _)| OpenOrder {
                tag: leg.clone().unwrap_or_else(|| i.tag.clone()),
                side: i.side,
                order_type: i.terms.order_type(),
                price: i.terms.price(),
                open_qty: i.qty,
            })
            .collect()
    }
}

impl Book {
    fn new(cash: &str) -> Book {
        Book {
            cash: cash.parse().unwrap(),
            fee: Decimal::new(1, 3),
            pos: Position::default(),
            open: Vec::new(),
            equity_mark: Decimal::ZERO,
            placed: Vec::new(),
            events: Vec::new(),
        }
    }

    fn fill(&mut self, i: &Intent, tag: &str, price: Price, t: Timestamp) {
        let value = price.get() * i.qty.get();
        let fee = value * self.fee;
        match i.side {
            Side::Buy => self.cash -= value + fee,
            Side::Sell => self.cash += value - fee,
        }
        self.pos
            .apply_fill(i.side, i.qty, price, crate::money::Notional::new(fee))
            .unwrap();
        self.events.push(OrderEvent {
            tag: tag.to_owned(),
            symbol: i.symbol.clone(),
            side: i.side,
            status: OrderStatus::Filled,
            fill: Some((i.qty, price)),
            time: t,
            order_type: i.terms.order_type(),
        });
    }

    fn execute(&mut self, decisions: Vec<Decision>, close: Price, t: Timestamp) {
        for d in decisions {
            match d {
                Decision::Place(i) if i.terms.order_type() == OrderType::Market => {
                    self.placed.push(i.clone());
                    self.fill(&i, &i.tag.clone(), close, t);
                }
                Decision::Place(i) => {
                    self.placed.push(i.clone());
                    self.open.push((i, None, Some(close)));
                }
                Decision::PlaceOco { tag, limit, stop } => {
                    self.placed.push(limit.clone());
                    self.placed.push(stop.clone());
                    self.open.push((limit, Some(format!("{tag}-limit")), None));
                    self.open
                        .push((stop, Some(format!("{tag}-stop")), Some(close)));
                }
                Decision::Cancel { tag } => {
                    self.open
                        .retain(|(i, leg, _)| leg.as_ref().unwrap_or(&i.tag) != &tag);
                }
                Decision::Log { .. } => {}
            }
        }
    }

    /// Resting orders against a bar's range.
    fn trade(&mut self, c: &Candle, tick: Price) {
        let (high, low) = (price_from_f64(c.high, tick), price_from_f64(c.low, tick));
        let mut filled = Vec::new();
        for (idx, (i, leg, best)) in self.open.iter_mut().enumerate() {
            if let Some(b) = best {
                *b = (*b).max(high);
            }
            let px = match i.terms.order_type() {
                OrderType::Limit if i.side == Side::Sell && high > i.terms.price().unwrap() => {
                    i.terms.price()
                }
                OrderType::Limit if i.side == Side::Buy && low < i.terms.price().unwrap() => {
                    i.terms.price()
                }
                OrderType::StopMarket if low <= i.terms.stop_price().unwrap() => {
                    i.terms.stop_price()
                }
                OrderType::TrailingStop => {
                    let stop = i
                        .terms
                        .trail()
                        .unwrap()
                        .stop_from(Side::Sell, best.unwrap())
                        .unwrap();
                    (low <= stop).then_some(stop)
                }
                _ => None,
            };
            if let Some(px) = px {
                filled.push((idx, px, leg.clone().unwrap_or_else(|| i.tag.clone())));
            }
        }
        if let Some((idx, px, tag)) = filled.into_iter().next() {
            let (i, leg, _) = self.open.remove(idx);
            self.fill(&i, &tag, px, c.time);
            if leg.is_some() {
                self.open.retain(|(o, _, _)| o.tag != i.tag);
            }
        }
    }
}

fn engine(spec: serde_json::Value) -> Engine {
    let spec: StrategySpec = serde_json::from_value(spec).unwrap();
    let (strategy, _) = spec.build().unwrap();
    Engine::new(
        EngineConfig {
            prefix: "b1".into(),
            sizing: spec.sizing,
            exits: spec.exits,
            fee_rate: Decimal::new(1, 3),
            interval: spec.interval,
            seed: 7,
            size_at_fill: false,
        },
        vec![(inst(), strategy)],
    )
}

fn candle(i: usize, close: f64) -> Candle {
    Candle {
        time: Timestamp(i as i64 * 60_000),
        open: close,
        high: close,
        low: close,
        close,
        volume: 1.0,
    }
}

/// Carries out decisions, feeding back the order events they cause
/// and the protective-exit upkeep, until nothing more is decided.
fn settle(
    e: &mut Engine,
    book: &mut Book,
    mut out: Vec<Decision>,
    n: usize,
    close: Price,
    t: Timestamp,
    seen: &mut Vec<(usize, Decision)>,
) {
    for _round in 0..8 {
        if out.is_empty() {
            e.after(book, &mut out);
            if out.is_empty() {
                return;
            }
        }
        seen.extend(
            out.iter()
                .filter(|d| !matches!(d, Decision::Log { .. }))
                .map(|d| (n, d.clone())),
        );
        book.execute(std::mem::take(&mut out), close, t);
        for ev in std::mem::take(&mut book.events) {
            let mut more = Vec::new();
            e.on_order(&ev, book, &mut more);
            settle(e, book, more, n, close, t, seen);
        }
    }
    panic!("decisions did not settle");
}

/// Runs bars through the engine and the book; returns the decisions
/// (without logs) with the index of the bar that caused them.
fn drive(e: &mut Engine, book: &mut Book, bars: &[Candle], from: usize) -> Vec<(usize, Decision)> {
    let tick = inst().tick_size;
    let mut seen = Vec::new();
    for (n, c) in bars.iter().enumerate().skip(from) {
        book.trade(c, tick);
        let close = price_from_f64(c.close, tick);
        book.equity_mark = close.get();
        for ev in std::mem::take(&mut book.events) {
            let mut out = Vec::new();
            e.on_order(&ev, book, &mut out);
            settle(e, book, out, n, close, c.time, &mut seen);
        }
        let mut out = Vec::new();
        e.on_bar(0, c, book, &mut out);
        settle(e, book, out, n, close, c.time, &mut seen);
    }
    seen
}

fn sma(xs: &[f64], n: usize, i: usize) -> Option<f64> {
    (i + 1 >= n).then(|| xs[i + 1 - n..=i].iter().sum::<f64>() / n as f64)
}

#[test]
fn sma_cross_enters_on_the_cross_bar_and_exits_on_the_cross_down() {
    let closes = [
        10.0, 10.0, 10.0, 10.0, 9.0, 8.0, 8.0, 8.5, 11.0, 12.0, 12.0, 11.2, 9.0, 8.0, 8.0,
    ];
    let bars: Vec<Candle> = closes
        .iter()
        .enumerate()
        .map(|(i, c)| candle(i, *c))
        .collect();
    let mut e =
        engine(serde_json::json!({"strategy": "sma_cross", "params": {"fast": 2, "slow": 4}}));
    let mut book = Book::new("1000");
    let seen = drive(&mut e, &mut book, &bars, 0);
    // The expected bars, computed directly from the definition.
    let mut up = None;
    let mut down = None;
    for i in 1..closes.len() {
        if let (Some(f0), Some(s0), Some(f1), Some(s1)) = (
            sma(&closes, 2, i - 1),
            sma(&closes, 4, i - 1),
            sma(&closes, 2, i),
            sma(&closes, 4, i),
        ) {
            if f0 < s0 && f1 > s1 && up.is_none() {
                up = Some(i);
            }
            if f0 > s0 && f1 < s1 && up.is_some() && down.is_none() {
                down = Some(i);
            }
        }
    }
    assert_eq!(up, Some(8));
    assert_eq!(down, Some(12));
    let places: Vec<(usize, &Intent)> = seen
        .iter()
        .filter_map(|(n, d)| match d {
            Decision::Place(i) => Some((*n, i)),
            _ => None,
        })
        .collect();
    assert_eq!(places.len(), 2, "{seen:?}");
    assert_eq!(
        (places[0].0, places[0].1.side, places[0].1.role.clone()),
        (8, Side::Buy, Role::Entry)
    );
    // All in at 11 with a 0.1 % fee, on the 0.001 lot grid.
    assert_eq!(places[0].1.qty, q("90.818"));
    assert_eq!(places[0].1.tag, "b1-1-e");
    assert_eq!(
        (places[1].0, places[1].1.side, places[1].1.qty),
        (12, Side::Sell, q("90.818"))
    );
    assert_eq!(places[1].1.tag, "b1-2-x");
    assert!(book.pos.qty.is_zero());
}

#[test]
fn equal_averages_are_not_a_cross() {
    // fast == slow on bar 5, then above: no entry (the previous bar was not below).
    let closes = [10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 11.0, 12.0];
    let bars: Vec<Candle> = closes
        .iter()
        .enumerate()
        .map(|(i, c)| candle(i, *c))
        .collect();
    let mut e =
        engine(serde_json::json!({"strategy": "sma_cross", "params": {"fast": 2, "slow": 4}}));
    let mut book = Book::new("1000");
    assert!(drive(&mut e, &mut book, &bars, 0).is_empty());
}

#[test]
fn a_trailing_stop_protects_the_entry_and_sells_after_the_pullback() {
    let closes = [
        10.0, 10.0, 10.0, 10.0, 9.0, 8.0, 8.0, 8.5, 11.0, 12.0, 14.0, 13.5, 12.5, 12.0,
    ];
    let bars: Vec<Candle> = closes
        .iter()
        .enumerate()
        .map(|(i, c)| candle(i, *c))
        .collect();
    let mut e = engine(serde_json::json!({
        "strategy": "sma_cross", "params": {"fast": 2, "slow": 4},
        "sizing": {"mode": "fixed_qty", "value": "10"},
        "exits": {"trailing_stop_pct": "10"}
    }));
    let mut book = Book::new("1000");
    let seen = drive(&mut e, &mut book, &bars, 0);
    let trail = seen
        .iter()
        .find_map(|(n, d)| match d {
            Decision::Place(i) if i.terms.order_type() == OrderType::TrailingStop => Some((*n, i)),
            _ => None,
        })
        .expect("a trailing stop");
    // Placed in the same round as the entry's fill, for the whole position.
    assert_eq!(trail.0, 8);
    assert_eq!(trail.1.qty, q("10"));
    assert_eq!(
        trail.1.terms.trail(),
        Some(Trail::Percent("10".parse().unwrap()))
    );
    // Best 14 → stop 12.6; the bar at 12.5 trades through it.
    assert!(book.pos.qty.is_zero(), "{:?}", book.pos);
    assert!(book.open.is_empty());
    let sold_at = book.cash - Decimal::from(1000);
    assert!(
        sold_at > Decimal::ZERO,
        "bought at 11, sold at 12.6: {sold_at}"
    );
}

#[test]
fn stop_loss_and_take_profit_go_out_as_one_oco_pair_on_the_tick_grid() {
    let closes = [10.0, 10.0, 10.0, 10.0, 9.0, 8.0, 8.0, 8.5, 11.0, 11.1];
    let bars: Vec<Candle> = closes
        .iter()
        .enumerate()
        .map(|(i, c)| candle(i, *c))
        .collect();
    let mut e = engine(serde_json::json!({
        "strategy": "sma_cross", "params": {"fast": 2, "slow": 4},
        "sizing": {"mode": "quote", "value": "100", "whole_units": true},
        "exits": {"stop_loss_pct": "3.33", "take_profit_pct": "7.77"}
    }));
    let mut book = Book::new("1000");
    let seen = drive(&mut e, &mut book, &bars, 0);
    let (tag, limit, stop) = seen
        .iter()
        .find_map(|(_, d)| match d {
            Decision::PlaceOco { tag, limit, stop } => Some((tag, limit, stop)),
            _ => None,
        })
        .expect("an oco pair");
    assert_eq!(tag, "b1-2-p");
    // 100 USDT at 11 (+0.1 %) buys 9.08…, 9 whole units.
    assert_eq!(limit.qty, q("9"));
    // 11 × 1.0777 = 11.8547 → up to 11.86; 11 × 0.9667 = 10.6337 → down to 10.63.
    assert_eq!(limit.terms.price(), Some("11.86".parse().unwrap()));
    assert_eq!(stop.terms.stop_price(), Some("10.63".parse().unwrap()));
    assert_eq!(stop.terms.order_type(), OrderType::StopMarket);
    // Covered: nothing more is placed on later bars.
    assert_eq!(
        seen.iter()
            .filter(|(_, d)| matches!(d, Decision::PlaceOco { .. }))
            .count(),
        1
    );
}

#[test]
fn sizing_rules_respect_funds_lots_and_minimums() {
    let book = Book::new("1000");
    let price: Price = "100".parse().unwrap();
    let fee = Decimal::new(1, 3);
    let s = |v: serde_json::Value| -> Sizing { serde_json::from_value(v).unwrap() };
    let i = inst();
    let size = |z: &Sizing| super::size(z, fee, &i, price, &book);
    assert_eq!(
        size(&s(serde_json::json!({"mode": "percent", "value": "100"}))),
        Ok(q("9.99"))
    );
    assert_eq!(
        size(&s(serde_json::json!({"mode": "percent", "value": "50"}))),
        Ok(q("4.995"))
    );
    assert_eq!(
        size(&s(
            serde_json::json!({"mode": "percent", "value": "100", "whole_units": true})
        )),
        Ok(q("9"))
    );
    assert_eq!(
        size(&s(serde_json::json!({"mode": "quote", "value": "250"}))),
        Ok(q("2.497"))
    );
    assert_eq!(
        size(&s(serde_json::json!({"mode": "fixed_qty", "value": "3"}))),
        Ok(q("3"))
    );
    // More than the funds allow is capped at what can be paid, fee included.
    assert_eq!(
        size(&s(serde_json::json!({"mode": "fixed_qty", "value": "30"}))),
        Ok(q("9.99"))
    );
    let err = size(&s(serde_json::json!({"mode": "quote", "value": "1"}))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "order value 0.900 is below the minimum notional 5"
    );
    let err = size(&s(serde_json::json!({"mode": "quote", "value": "0.05"}))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "0 is below the minimum quantity 0.001 (free funds: 1000)"
    );
}

/// The same bars give the same decisions; and a bot that stops halfway
/// and resumes (saved state + warm-up replay + the stored sequence)
/// decides exactly what one that ran straight through decided.
#[test]
fn decisions_are_deterministic_and_survive_a_restart() {
    let mut rng = Rng::new(42);
    let mut px = 100.0_f64;
    let bars: Vec<Candle> = (0..400)
        .map(|i| {
            px *= 1.0 + (rng.unit() - 0.5) * 0.02;
            candle(i, (px * 100.0).round() / 100.0)
        })
        .collect();
    for spec in [
        serde_json::json!({"strategy": "sma_cross", "params": {"fast": 5, "slow": 12},
                "exits": {"stop_loss_pct": "2", "take_profit_pct": "3"}}),
        serde_json::json!({"strategy": "dca", "params": {"every_bars": 7},
                "sizing": {"mode": "quote", "value": "50"}, "exits": {"take_profit_pct": "4"}}),
        serde_json::json!({"strategy": "bollinger_breakout", "sizing": {"mode": "percent", "value": "50"}}),
        serde_json::json!({"strategy": "grid", "params": {"lower": "80", "upper": "120", "levels": 9},
                "sizing": {"mode": "quote", "value": "100"}}),
    ] {
        let run = || {
            let mut e = engine(spec.clone());
            let mut book = Book::new("10000");
            book.equity_mark = Decimal::from(100);
            e.set_last(0, "100".parse().unwrap(), Timestamp(0));
            let mut out = Vec::new();
            e.start(&book, &mut out);
            book.execute(out, "100".parse().unwrap(), Timestamp(0));
            (drive(&mut e, &mut book, &bars, 0), book.cash)
        };
        let (a, cash_a) = run();
        let (b, cash_b) = run();
        assert_eq!(a, b, "{spec}");
        assert_eq!(cash_a, cash_b);
        assert!(a.len() >= 4, "{spec}: the test should trade: {a:?}");

        // Halfway: stop, save, build a fresh engine, restore, warm up, go on.
        let half = 200;
        let mut e = engine(spec.clone());
        let mut book = Book::new("10000");
        book.equity_mark = Decimal::from(100);
        e.set_last(0, "100".parse().unwrap(), Timestamp(0));
        let mut out = Vec::new();
        e.start(&book, &mut out);
        book.execute(out, "100".parse().unwrap(), Timestamp(0));
        let first = drive(&mut e, &mut book, &bars[..half], 0);
        let saved = e.save();
        let seq = e.next_seq();
        let mut r = engine(spec.clone());
        r.restore(&saved).unwrap();
        r.set_next_seq(seq);
        let from = half.saturating_sub(r.warmup());
        for c in &bars[from..half] {
            r.warm(0, c, &book);
        }
        let mut out = Vec::new();
        r.start(&book, &mut out);
        assert!(
            out.iter().all(|d| matches!(d, Decision::Log { .. })),
            "{spec}: start after restore re-placed {out:?}"
        );
        let second = drive(&mut r, &mut book, &bars, half);
        let mut joined = first;
        joined.extend(second);
        assert_eq!(joined, a, "{spec}");
    }
}

#[test]
fn a_grid_lays_buys_below_the_price_and_sells_one_line_up_after_a_fill() {
    let mut e = engine(serde_json::json!({
        "strategy": "grid", "params": {"lower": "90", "upper": "110", "levels": 5},
        "sizing": {"mode": "fixed_qty", "value": "1"}
    }));
    let mut book = Book::new("10000");
    e.set_last(0, "101".parse().unwrap(), Timestamp(0));
    let mut out = Vec::new();
    e.start(&book, &mut out);
    let prices: Vec<String> = out
        .iter()
        .filter_map(|d| match d {
            Decision::Place(i) => Some(format!(
                "{} {} {}",
                i.tag,
                i.side.as_str(),
                i.terms.price().unwrap()
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        prices,
        ["b1-1-kb0 buy 90", "b1-2-kb1 buy 95", "b1-3-kb2 buy 100"]
    );
    book.execute(out, "101".parse().unwrap(), Timestamp(0));
    // The price dips through 100: the buy there fills, a sell goes up at 105.
    let seen = drive(&mut e, &mut book, &[candle(1, 99.5)], 0);
    let sells: Vec<String> = seen
        .iter()
        .filter_map(|(_, d)| match d {
            Decision::Place(i) if i.side == Side::Sell => {
                Some(format!("{} {} {}", i.tag, i.qty, i.terms.price().unwrap()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(sells, ["b1-4-ks2 1 105"]);
    assert_eq!(e.save(), serde_json::json!([{"holding": {"2": "1"}}]));
}

#[test]
fn params_are_checked_and_errors_name_the_field() {
    let err = |v: serde_json::Value| -> String {
        let spec: StrategySpec = match serde_json::from_value(v) {
            Ok(s) => s,
            Err(e) => return e.to_string(),
        };
        match spec.build() {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    };
    assert_eq!(err(serde_json::json!({"strategy": "sma_cross"})), "ok");
    assert!(
        err(serde_json::json!({"strategy": "nope"}))
            .starts_with("field `strategy`: unknown strategy `nope` (known: sma_cross,")
    );
    assert!(
        err(serde_json::json!({"strategy": "sma_cross", "params": {"fats": 3}}))
            .starts_with("field `params.fats`: unknown field `fats`")
    );
    assert_eq!(
        err(serde_json::json!({"strategy": "sma_cross", "params": {"fast": 30, "slow": 20}})),
        "field `params.fast`: must be less than slow (20), got 30"
    );
    assert!(
        err(serde_json::json!({"strategy": "grid", "params": {"lower": "1", "levels": 3}}))
            .starts_with("field `params.upper`: missing field `upper`")
    );
    assert_eq!(
        err(serde_json::json!({"strategy": "rsi_reversion", "params": {"period": 1}})),
        "field `params.period`: must be between 2 and 1000, got 1"
    );
    assert_eq!(
        err(serde_json::json!({"strategy": "dca", "sizing": {"mode": "percent", "value": "120"}})),
        "field `sizing.value`: a percentage of equity must be at most 100, got 120"
    );
    assert_eq!(
        err(
            serde_json::json!({"strategy": "dca", "exits": {"stop_loss_pct": "2", "trailing_stop_pct": "3"}})
        ),
        "field `exits.trailing_stop_pct`: cannot be combined with exits.stop_loss_pct (a position has one stop)"
    );
    assert_eq!(
        err(serde_json::json!({"strategy": "dca", "exits": {"stop_loss_pct": "100"}})),
        "field `exits.stop_loss_pct`: must be greater than 0 and less than 100, got 100"
    );
    // Every built-in publishes a schema and builds with its defaults or the example.
    for k in crate::strategy::builtin::CATALOG {
        let schema = (k.schema)();
        assert!(schema.get("properties").is_some(), "{}: {schema}", k.name);
    }
}

#[test]
fn a_strategy_can_act_from_its_lookback_bar_which_its_warm_up_message_names() {
    // RSI(3) falling from the first close: oversold as soon as it exists.
    let mut e = engine(
        serde_json::json!({ "strategy": "rsi_reversion", "params": { "period": 3, "oversold": 40, "overbought": 60 } }),
    );
    assert_eq!((e.lookback(), e.warmup()), (4, 30));
    let bars: Vec<Candle> = (0..8).map(|i| candle(i, 100.0 - i as f64)).collect();
    let mut book = Book::new("1000");
    let decisions = drive(&mut e, &mut book, &bars, 0);
    let first = decisions.first().map(|(n, _)| *n);
    assert_eq!(
        first,
        Some(3),
        "the 4th bar (index 3) is the first that can act"
    );
}

#[test]
fn tags_round_trip() {
    assert_eq!(parse_tag("b7", "b7-12-e"), Some((12, Role::Entry)));
    assert_eq!(parse_tag("b7", "b7-3-p-limit"), Some((3, Role::Protect)));
    assert_eq!(
        parse_tag("b7", "b7-4-kb12"),
        Some((4, Role::Keyed("b12".into())))
    );
    assert_eq!(parse_tag("b7", "b70-4-e"), None);
    assert_eq!(parse_tag("b7", "td-1-2"), None);
    // The engine's own tags, numbered from 1, parse back.
    let mut e = engine(serde_json::json!({"strategy": "sma_cross", "params": {}}));
    assert_eq!(e.tag(&Role::Entry), "b1-1-e");
    e.seq = 9;
    assert_eq!(e.tag(&Role::Exit), "b1-9-x");
    assert_eq!(e.tag(&Role::Keyed("up_3".into())), "b1-10-kup_3");
    e.seq = u64::MAX - 1;
    let t = e.tag(&Role::Protect);
    assert_eq!(t, format!("b1-{}-p", u64::MAX - 1));
    assert_eq!(parse_tag("b1", &t), Some((u64::MAX - 1, Role::Protect)));
    let _ = BTreeMap::<u8, u8>::new();
}

#[test]
fn a_lock_holds_back_the_reversal_entry_but_not_the_exit_of_the_position() {
    let mut e = engine(serde_json::json!({
        "strategy": "sma_cross", "params": { "fast": 1, "slow": 2, "allow_short": true },
        "sizing": { "mode": "quote", "value": "100" }
    }));
    let mut book = Book::new("10000");
    let closes = [100.0, 101.0, 99.0, 102.0, 103.0, 97.0];
    let bars: Vec<Candle> = closes
        .iter()
        .enumerate()
        .map(|(i, c)| candle(i, *c))
        .collect();
    let seen = drive(&mut e, &mut book, &bars[..5], 0);
    assert!(
        book.pos.qty.is_positive(),
        "long after the cross above: {seen:?}"
    );
    e.lock_entries(Timestamp(i64::MAX), "a test lock".into());
    let seen = drive(&mut e, &mut book, &bars, 5);
    let placed: Vec<(Side, Role)> = seen
        .iter()
        .filter_map(|(_, d)| match d {
            Decision::Place(i) => Some((i.side, i.role.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(placed, [(Side::Sell, Role::Exit)], "closed, not reversed");
    assert!(book.pos.qty.is_zero());
}

#[test]
fn a_cooldown_survives_a_save_and_restore() {
    let spec = serde_json::json!({
        "strategy": "sma_cross", "params": { "fast": 1, "slow": 2 },
        "exits": { "stop_loss_pct": "1" },
        "protections": { "cooldown_bars": 5 }
    });
    let mut e = engine(spec.clone());
    e.set_protections(Protections {
        cooldown_bars: 5,
        ..Protections::default()
    });
    // No cooldown: the state is the strategies' alone, as before.
    assert!(e.save().is_array());
    let stop = OrderEvent {
        tag: "b1-3-p-stop".into(),
        symbol: inst().symbol,
        side: Side::Sell,
        status: OrderStatus::Filled,
        fill: Some((q("0.001"), Price::new(Decimal::from(100)))),
        time: Timestamp(60_000),
        order_type: OrderType::StopMarket,
    };
    let book = Book::new("1000");
    e.on_order(&stop, &book, &mut Vec::new());
    e.on_bar(0, &candle(1, 100.0), &book, &mut Vec::new());
    let saved = e.save();
    assert_eq!(saved["cooldown"], serde_json::json!([4]), "{saved}");
    let mut again = engine(spec);
    again.set_protections(*e.protections());
    again.restore(&saved).expect("restored");
    assert_eq!(again.save(), saved);
    // The old form (an array) still restores.
    again.restore(&serde_json::json!([null])).expect("old form");
}
