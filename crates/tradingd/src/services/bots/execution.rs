//! Carrying out a bot's decisions: exits first, places and cancels on its
//! book, the order events fed back, protective exits retried with backoff.

use super::{Live, MAX_ROUNDS, guarded, halted, record};
use crate::context::Ctx;
use crate::services::exchange::{Changes, State};
use crate::store::Store;
use rust_decimal::Decimal;
use tradedesk_core::api::bots::{BotEventKind, BotStatus};
use tradedesk_core::api::{ApiError, ErrorCode};
use tradedesk_core::engine::{Decision, Intent, OrderEvent};
use tradedesk_core::instrument::Symbol;
use tradedesk_core::money::Qty;
use tradedesk_core::order::{Side, Terms, ValidOrder};
use tradedesk_core::time::Timestamp;

/// Who a bot's orders are placed for: its id, account and owner.
#[derive(Debug, Clone)]
pub(super) struct Actor {
    pub(super) id: u64,
    pub(super) account: usize,
    pub(super) owner: String,
    /// Orders only close positions (a flatten): approved in any trading state.
    pub(super) closing: bool,
    /// The bot's symbols, by engine slot.
    pub(super) symbols: Vec<Symbol>,
}

/// The bot's order events in a batch of changes: one per fill, and one per
/// status change without a fill.
pub(super) fn order_events(state: &State, bot: u64, changes: &Changes) -> Vec<OrderEvent> {
    let _ = state;
    let mut out = Vec::new();
    for (_, f) in &changes.fills {
        if f.bot_id != Some(bot) {
            continue;
        }
        if let Some(o) = changes.orders.get(&f.order_id) {
            out.push(OrderEvent {
                tag: o.client_order_id.clone(),
                symbol: o.symbol.clone(),
                side: o.side,
                status: o.status,
                fill: Some((f.qty, f.price)),
                time: f.time,
                order_type: o.order_type,
            });
        }
    }
    for o in changes.orders.values() {
        if o.bot_id == Some(bot) && !changes.fills.iter().any(|(_, f)| f.order_id == o.id) {
            out.push(OrderEvent {
                tag: o.client_order_id.clone(),
                symbol: o.symbol.clone(),
                side: o.side,
                status: o.status,
                fill: None,
                time: o.updated,
                order_type: o.order_type,
            });
        }
    }
    out
}

pub(super) fn record_fills(ctx: &Ctx, bot: u64, changes: &Changes) {
    let fills: Vec<_> = changes
        .fills
        .iter()
        .filter(|(_, f)| f.bot_id == Some(bot))
        .collect();
    if fills.is_empty() {
        return;
    }
    let mut store = ctx.store();
    for (_, f) in fills {
        record(
            ctx,
            &mut store,
            bot,
            BotEventKind::Fill,
            &format!(
                "{} {} {} at {} (fee {}, realized {})",
                f.side.as_str(),
                f.qty,
                f.symbol,
                f.price,
                f.fee,
                f.realized_pnl
            ),
            serde_json::to_value(f).ok().as_ref(),
        );
    }
}

/// Carries out decisions, feeds back the order events they caused, keeps
/// the exits in step, until nothing more is decided.
///
/// Protective exits (the engine's `after`: stop-loss, take-profit,
/// trailing stop, or a market exit when the price is already through one)
/// go first in every batch. When one is refused (a throttle, a state) the
/// bot goes on: the refusal is logged and the exits are tried again after
/// a backoff (1 s, doubling to 30 s), before anything else the bot does.
pub fn run_decisions(
    ctx: &Ctx,
    state: &mut State,
    l: &mut Live,
    mut out: Vec<Decision>,
) -> Result<(), String> {
    let bot = l.rec.id;
    for _ in 0..MAX_ROUNDS {
        let mut protective = false;
        if out.is_empty() {
            let now = ctx.now();
            if l.rec.status != BotStatus::Running || halted(state, &l.rec) || l.protect_waiting(now)
            {
                return Ok(());
            }
            let v = l.view(state);
            let engine = &mut l.engine;
            guarded(|| engine.after(&v, &mut out))?;
            if out.is_empty() {
                return Ok(());
            }
            protective = true;
        }
        exits_first(&mut out);
        let (changes, refused) = execute(ctx, state, &l.actor(), std::mem::take(&mut out));
        if protective {
            if refused > 0 {
                let now = ctx.now();
                let wait = l.protect_refused(now);
                let message = format!(
                    "protective exit refused; trying again in {} s, before anything else",
                    wait / 1000
                );
                record(
                    ctx,
                    &mut ctx.store(),
                    bot,
                    BotEventKind::Error,
                    &message,
                    None,
                );
            } else {
                l.protect_retry = None;
            }
        }
        record_fills(ctx, bot, &changes);
        feed_back(state, l, &changes, &mut out)?;
    }
    Err(format!(
        "its decisions did not settle after {MAX_ROUNDS} rounds"
    ))
}

/// Carries out a trader's forced entry or exit (`out`: the engine's
/// `force_*` decisions): cancels and logs first, then the order through
/// the risk checks. A refused order is the caller's error (logged in the
/// bot's events too); either way the fills are fed back and the
/// protective exits brought in step.
pub fn force(
    ctx: &Ctx,
    state: &mut State,
    l: &mut Live,
    out: Vec<Decision>,
    who: &str,
) -> Result<(), ApiError> {
    let bot = l.rec.id;
    let (order, rest): (Vec<Decision>, Vec<Decision>) = out
        .into_iter()
        .partition(|d| matches!(d, Decision::Place(_)));
    let actor = l.actor();
    let (mut changes, _) = execute(ctx, state, &actor, rest);
    let mut refused = None;
    for d in order {
        let Decision::Place(intent) = d else { continue };
        let mut store = ctx.store();
        match place(state, &mut store, &actor, &intent, ctx.now()) {
            Ok((rec, placed)) => {
                record(
                    ctx,
                    &mut store,
                    bot,
                    BotEventKind::Order,
                    &format!(
                        "{} (asked by {who})",
                        describe(&intent, rec.qty, rec.status)
                    ),
                    serde_json::to_value(&rec).ok().as_ref(),
                );
                ctx.publish(state, &placed);
                changes.absorb(placed);
            }
            Err(e) => {
                record(
                    ctx,
                    &mut store,
                    bot,
                    BotEventKind::Error,
                    &format!("{} (asked by {who}) refused: {}", intent.tag, e.message),
                    None,
                );
                refused = Some(e);
            }
        }
    }
    record_fills(ctx, bot, &changes);
    let mut next = Vec::new();
    feed_back(state, l, &changes, &mut next).map_err(ApiError::internal)?;
    run_decisions(ctx, state, l, next).map_err(ApiError::internal)?;
    refused.map_or(Ok(()), Err)
}

/// A running bot's engine hears what its orders did in `changes` (its
/// decisions go to `out`); a paused one decides nothing.
fn feed_back(
    state: &State,
    l: &mut Live,
    changes: &Changes,
    out: &mut Vec<Decision>,
) -> Result<(), String> {
    if l.rec.status != BotStatus::Running {
        return Ok(());
    }
    let events = order_events(state, l.rec.id, changes);
    let v = l.view(state);
    let engine = &mut l.engine;
    guarded(|| {
        for ev in &events {
            engine.on_order(ev, &v, out);
        }
    })
}

/// Puts exits before entries: what protects a position is never queued
/// behind what grows one (the order is otherwise kept, so a cancel stays
/// before the placement that needs its funds).
pub(super) fn exits_first(out: &mut [Decision]) {
    let grows = |d: &Decision| match d {
        Decision::Place(i) => matches!(
            i.role,
            tradedesk_core::portfolio::Role::Entry
                | tradedesk_core::portfolio::Role::Add
                | tradedesk_core::portfolio::Role::Keyed(_)
        ),
        _ => false,
    };
    out.sort_by_key(grows);
}

/// Places and cancels for a bot; failures become error events (the bot
/// goes on). Returns everything the operations changed, and how many
/// placements were refused.
pub(super) fn execute(
    ctx: &Ctx,
    state: &mut State,
    a: &Actor,
    decisions: Vec<Decision>,
) -> (Changes, usize) {
    let bot = a.id;
    let mut all = Changes::default();
    let mut refused: usize = 0;
    let mut store = ctx.store();
    for d in decisions {
        let now = ctx.now();
        match d {
            Decision::Log { slot, message } => {
                let symbol = a.symbols.get(slot).map_or("?", Symbol::as_str);
                record(
                    ctx,
                    &mut store,
                    bot,
                    BotEventKind::Signal,
                    &format!("{symbol}: {message}"),
                    None,
                );
            }
            Decision::Cancel { tag } => {
                let id = state
                    .open
                    .values()
                    .find(|o| o.client_order_id == tag && o.bot_id == Some(bot))
                    .map(|o| o.id);
                let Some(id) = id else { continue };
                match state.cancel(&mut store, id, "cancelled by its bot", now) {
                    Ok(changes) => {
                        record(
                            ctx,
                            &mut store,
                            bot,
                            BotEventKind::Order,
                            &format!("cancelled {tag}"),
                            None,
                        );
                        ctx.publish(state, &changes);
                        all.absorb(changes);
                    }
                    Err(e) => {
                        record(
                            ctx,
                            &mut store,
                            bot,
                            BotEventKind::Error,
                            &format!("cancel {tag}: {}", e.message),
                            None,
                        );
                    }
                }
            }
            Decision::Place(intent) => {
                let result = place(state, &mut store, a, &intent, now);
                match result {
                    Ok((record_, changes)) => {
                        record(
                            ctx,
                            &mut store,
                            bot,
                            BotEventKind::Order,
                            &describe(&intent, record_.qty, record_.status),
                            serde_json::to_value(&record_).ok().as_ref(),
                        );
                        ctx.publish(state, &changes);
                        all.absorb(changes);
                    }
                    Err(e) => {
                        refused = refused.saturating_add(1);
                        record(
                            ctx,
                            &mut store,
                            bot,
                            BotEventKind::Error,
                            &format!("{} refused: {}", intent.tag, e.message),
                            None,
                        );
                    }
                }
            }
            Decision::PlaceOco { tag, limit, stop } => {
                match place_oco(ctx, state, &mut store, a, &tag, &limit, &stop) {
                    Some(changes) => {
                        ctx.publish(state, &changes);
                        all.absorb(changes);
                    }
                    None => refused = refused.saturating_add(1),
                }
            }
        }
    }
    (all, refused)
}

/// Places a protective pair for a bot; a refusal becomes an error event.
pub(super) fn place_oco(
    ctx: &Ctx,
    state: &mut State,
    store: &mut Store,
    a: &Actor,
    tag: &str,
    limit: &Intent,
    stop: &Intent,
) -> Option<Changes> {
    let bot = a.id;
    let now = ctx.now();
    let source = format!("bot:{bot}");
    let result = valid(state, limit).and_then(|mut lv| {
        lv.client_order_id = Some(tag.to_owned());
        let sv = valid(state, stop)?;
        let lv = state.approve(store, a.account, Some(bot), lv, &source, now)?;
        let sv = state.approve(store, a.account, Some(bot), sv, &source, now)?;
        state.place_oco(store, a.account, &lv, &sv, &a.owner, now)
    });
    match result {
        Ok(([a, b], changes)) => {
            let message = format!(
                "placed protective pair {tag}: {} and {}",
                describe(limit, a.qty, a.status),
                describe(stop, b.qty, b.status)
            );
            record(ctx, store, bot, BotEventKind::Order, &message, None);
            Some(changes)
        }
        Err(e) => {
            let message = format!("{tag} refused: {}", e.message);
            record(ctx, store, bot, BotEventKind::Error, &message, None);
            None
        }
    }
}

pub(super) fn describe(i: &Intent, qty: Qty, status: tradedesk_core::order::OrderStatus) -> String {
    let at = match i.terms {
        Terms::Limit { price: p } | Terms::StopLimit { price: p, .. } => format!(" at {p}"),
        Terms::StopMarket { stop } | Terms::TakeProfit { stop } => format!(" stop {stop}"),
        Terms::TrailingStop { trail } => format!(
            " trailing {}",
            serde_json::to_string(&trail).unwrap_or_default()
        ),
        Terms::Market => String::new(),
    };
    format!(
        "{} {} {qty} {}{at} ({}): {}",
        i.side.as_str(),
        i.terms.order_type().as_str(),
        i.symbol,
        i.tag,
        status.as_str()
    )
}

pub(super) fn valid(
    state: &State,
    i: &Intent,
) -> Result<tradedesk_core::order::ValidOrder, ApiError> {
    let inst = state
        .instrument(&i.symbol)
        .ok_or_else(|| ApiError::invalid_params(format!("symbol {} is not listed", i.symbol)))?;
    i.request()
        .validate(inst)
        .map_err(|e| ApiError::invalid_params(format!("field `{}`: {e}", e.field())))
}

/// Places one intent on the bot's book. A market buy the book cannot pay
/// for at the current book walk is shrunk once to what it can.
pub(super) fn place(
    state: &mut State,
    store: &mut Store,
    a: &Actor,
    intent: &Intent,
    now: Timestamp,
) -> Result<(tradedesk_core::order::OrderRecord, Changes), ApiError> {
    let approve = |state: &mut State, store: &mut Store, v: ValidOrder| {
        if a.closing {
            state.approve_closing(a.account, Some(a.id), v)
        } else {
            state.approve(
                store,
                a.account,
                Some(a.id),
                v,
                &format!("bot:{}", a.id),
                now,
            )
        }
    };
    let v = valid(state, intent)?;
    let approved = approve(state, store, v.clone())?;
    match state.place(store, a.account, &approved, &a.owner, now) {
        Err(e)
            if e.kind() == Some(ErrorCode::InsufficientFunds)
                && intent.terms == Terms::Market
                && intent.side == Side::Buy =>
        {
            let free = state.accounts[a.account]
                .books
                .balance(
                    Some(a.id),
                    &state
                        .instrument(&intent.symbol)
                        .map(|i| i.quote.clone())
                        .unwrap_or_default(),
                )
                .free;
            let need = state.reservation_of(&v).map_err(|_| e.clone())?;
            if !need.is_positive() || free >= need {
                return Err(e);
            }
            let lot = state
                .instrument(&intent.symbol)
                .map_or(Qty::ZERO, |i| i.lot_size);
            // Leave room for the walk getting worse with size.
            let scaled = intent
                .qty
                .get()
                .checked_mul(free.get())
                .and_then(|x| x.checked_div(need.get()))
                .and_then(|x| x.checked_mul(Decimal::new(99, 2)))
                .and_then(|x| Qty::new(x).floor_to(lot))
                .ok_or_else(|| e.clone())?;
            let smaller = Intent {
                qty: scaled,
                ..intent.clone()
            };
            let v = valid(state, &smaller)?;
            let approved = approve(state, store, v)?;
            state.place(store, a.account, &approved, &a.owner, now)
        }
        other => other,
    }
}
