//! A bot's event log and status: recording and publishing events, the
//! story of what others did to its orders, status changes, and failing a bot
//! without leaving its position unprotected.

use super::execution::execute;
use super::{Live, view};
use crate::config::OnFailure;
use crate::context::Ctx;
use crate::services::exchange::{Changes, State, store_err};
use crate::store::Store;
use crate::store::bots as db;
use std::panic::{AssertUnwindSafe, catch_unwind};
use tradedesk_core::api::ApiError;
use tradedesk_core::api::bots::{
    BotEvent, BotEventKind, BotEventsTopic, BotRecord, BotStatus, BotStatusTopic,
};
use tradedesk_core::engine::Decision;
use tradedesk_core::instrument::Symbol;
use tradedesk_core::money::Qty;
use tradedesk_core::order::Side;

/// Records a bot event and publishes it.
pub fn record(
    ctx: &Ctx,
    store: &mut Store,
    bot: u64,
    kind: BotEventKind,
    message: &str,
    data: Option<&serde_json::Value>,
) -> Option<BotEvent> {
    let now = ctx.now();
    match store.write(|tx| db::insert_bot_event(tx, bot, now, kind, message, data)) {
        Ok(ev) => {
            let owner = crate::store::bots::bot_by_id(store.conn(), bot)
                .ok()
                .flatten()
                .map(|b| b.owner);
            ctx.hub.publish_to::<BotEventsTopic>(owner.as_deref(), &ev);
            Some(ev)
        }
        Err(e) => {
            tracing::error!(bot, error = %e, "cannot record a bot event");
            None
        }
    }
}

/// Records in each bot's event log what someone else did to its book —
/// the orders cancelled and the fills of the orders placed for it (a kill
/// switch, a reduce-only switch, a risk breach, a user's cancel) — so its
/// log tells its whole story. The bot itself re-reads its holdings at its
/// next turn.
pub fn record_external(ctx: &Ctx, store: &mut Store, changes: &Changes, cause: &str) {
    for o in changes.orders.values() {
        let Some(bot) = o.bot_id else { continue };
        if o.status == tradedesk_core::order::OrderStatus::Cancelled {
            let message = format!(
                "{cause}: cancelled {} ({} {} {} {})",
                o.client_order_id,
                o.side.as_str(),
                o.order_type.as_str(),
                o.open_qty(),
                o.symbol
            );
            record(ctx, store, bot, BotEventKind::Order, &message, None);
        }
    }
    for (_, f) in &changes.fills {
        let Some(bot) = f.bot_id else { continue };
        let verb = match f.side {
            Side::Buy => "bought",
            Side::Sell => "sold",
        };
        let message = format!(
            "{cause}: {verb} {} {} at {} (fee {}, realized {})",
            f.qty, f.symbol, f.price, f.fee, f.realized_pnl
        );
        record(
            ctx,
            store,
            bot,
            BotEventKind::Fill,
            &message,
            serde_json::to_value(f).ok().as_ref(),
        );
    }
}

/// Changes a bot's status, writes it, records and publishes the change.
pub fn set_status(
    ctx: &Ctx,
    state: &State,
    rec: &mut BotRecord,
    status: BotStatus,
    reason: Option<String>,
) -> Result<(), ApiError> {
    let now = ctx.now();
    rec.status = status;
    rec.reason = reason;
    rec.updated = now;
    if status == BotStatus::Running && rec.started.is_none() {
        rec.started = Some(now);
    }
    let mut store = ctx.store();
    store
        .write(|tx| db::update_bot(tx, rec))
        .map_err(|e| store_err(&e))?;
    let message = match &rec.reason {
        Some(r) => format!("{}: {r}", status.as_str()),
        None => status.as_str().to_owned(),
    };
    record(ctx, &mut store, rec.id, BotEventKind::State, &message, None);
    drop(store);
    ctx.hub
        .publish_to::<BotStatusTopic>(Some(&rec.owner), &view(state, rec));
    Ok(())
}

/// Stops a failed bot: status `error` with the reason; its non-protective
/// orders are cancelled. Its position is never left without an exit order
/// unless that cannot be helped: by `bots.on_failure`, its protective exits
/// are kept (and placed now if they were missing), or the position is sold
/// at market; a position left without any exit order raises an alert.
pub(super) fn fail(ctx: &Ctx, l: &mut Live, why: String) {
    let mut state = ctx.exchange.lock();
    let mut out = Vec::new();
    let cancel = catch_unwind(AssertUnwindSafe(|| {
        let v = l.view(&state);
        l.engine.pause(&v, &mut out);
        out
    }));
    if let Ok(out) = cancel {
        let cancels = out
            .into_iter()
            .filter(|d| matches!(d, Decision::Cancel { .. }))
            .collect();
        let _ = execute(ctx, &mut state, &l.actor(), cancels);
    }
    // The engine's exit code, not the strategy's: safe to run after the
    // strategy failed.
    let mut secure = Vec::new();
    let mut actor = l.actor();
    let planned = catch_unwind(AssertUnwindSafe(|| {
        let v = l.view(&state);
        match ctx.config.bots.on_failure {
            OnFailure::Protect => l.engine.after(&v, &mut secure),
            OnFailure::Flatten => l.engine.flatten(&v, &mut secure),
        }
    }));
    if planned.is_ok() && !secure.is_empty() {
        actor.closing = ctx.config.bots.on_failure == OnFailure::Flatten;
        let _ = execute(ctx, &mut state, &actor, secure);
    }
    let mut store = ctx.store();
    record(ctx, &mut store, l.rec.id, BotEventKind::Error, &why, None);
    for (symbol, qty) in unprotected(&state, l) {
        let message = format!(
            "bot {} failed holding {qty} {symbol} with no exit order in place",
            l.rec.id
        );
        record(
            ctx,
            &mut store,
            l.rec.id,
            BotEventKind::Error,
            &message,
            None,
        );
        let scope = tradedesk_core::risk::Scope::Bot(l.rec.id);
        state
            .risk
            .alert(&mut store, ctx.now(), &scope, "bot", &message);
    }
    drop(store);
    let _ = set_status(ctx, &state, &mut l.rec, BotStatus::Error, Some(why));
    ctx.publish(&state, &Changes::default());
}

/// The bot's positions that no open sell order of its own covers.
pub(super) fn unprotected(state: &State, l: &Live) -> Vec<(Symbol, Qty)> {
    let Some(book) = state.accounts[l.account].books.bots.get(&l.rec.id) else {
        return Vec::new();
    };
    book.positions
        .iter()
        .filter(|(symbol, p)| {
            p.qty.is_positive()
                && !state.open.values().any(|o| {
                    o.bot_id == Some(l.rec.id) && &o.symbol == *symbol && o.side == Side::Sell
                })
        })
        .map(|(symbol, p)| (symbol.clone(), p.qty))
        .collect()
}
