//! A bot's protections beyond the engine's cooldown: a maximum number of
//! losing exits within a window, and a daily loss stop. Either pauses the
//! bot (its protective exits stay; the account trades on) with the reason
//! in its status and log; a trader resumes it.
//!
//! - A losing exit is one of the bot's closing orders whose fills realized
//!   a loss after fees (its `realized_pnl`, entry and exit fees included).
//!   Checked when the bot's orders fill.
//! - Today's loss (UTC) is what the bot's fills since midnight realized,
//!   plus its open positions' unrealized loss after their entry fees (a
//!   loss only: an open gain does not offset it). It reads the stored
//!   fills, so a daemon restart does not reset it. Checked at every closed
//!   bar. Resumed after the stop fired, a bot is not stopped by it again
//!   that day (raise or drop the stop with `bots.update` to change that).

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use tradedesk_core::time::Timestamp;

use super::Live;
use crate::context::Ctx;
use crate::services::exchange::State;
use crate::store::trading as tdb;

const DAY_MS: i64 = 86_400_000;

/// Why the bot should pause now, if it should: `fills` when its orders
/// just filled, `bar` when a bar closed.
pub(super) fn tripped(
    ctx: &Ctx,
    state: &State,
    l: &Live,
    fills: bool,
    bar: bool,
) -> Result<Option<String>, String> {
    let p = l.rec.spec.protections;
    let now = ctx.now();
    if fills && let Some(max) = p.max_losing_trades {
        let window = l
            .rec
            .spec
            .interval
            .millis()
            .saturating_mul(i64::from(p.losing_window_bars));
        let n = losing_exits(
            ctx,
            l.rec.id,
            Timestamp(now.millis().saturating_sub(window)),
        )?;
        if n >= u64::from(max) {
            return Ok(Some(format!(
                "{n} losing exits within {} bars (protection max_losing_trades {max})",
                p.losing_window_bars
            )));
        }
    }
    if bar && let Some(stop) = p.daily_loss_stop {
        let day = now.millis().div_euclid(DAY_MS);
        if l.daily_resumed == Some(day) {
            return Ok(None);
        }
        let loss = loss_today(ctx, state, l, Timestamp(day.saturating_mul(DAY_MS)))?;
        if loss >= stop.get() {
            return Ok(Some(format!(
                "daily loss stop: {} lost today (UTC), stop {stop}",
                loss.round_dp(8).normalize()
            )));
        }
    }
    Ok(None)
}

/// The bot's closing orders since `since` whose fills lost after fees.
fn losing_exits(ctx: &Ctx, bot: u64, since: Timestamp) -> Result<u64, String> {
    let fills = tdb::list_fills(
        ctx.store().conn(),
        None,
        Some(bot),
        None,
        Some(since),
        None,
        None,
        100_000,
    )
    .map_err(|e| format!("cannot read the bot's fills: {e}"))?;
    let mut by_order: std::collections::BTreeMap<u64, Decimal> = std::collections::BTreeMap::new();
    for f in &fills {
        if f.realized_pnl.get().is_zero() {
            continue;
        }
        let sum = by_order.entry(f.order_id).or_default();
        *sum = sum.checked_add(f.realized_pnl.get()).unwrap_or(*sum);
    }
    let losing: BTreeSet<u64> = by_order
        .into_iter()
        .filter(|(_, pnl)| pnl.is_sign_negative())
        .map(|(id, _)| id)
        .collect();
    Ok(losing.len() as u64)
}

/// What the bot lost since `midnight`: realized by its fills, plus its
/// open positions' unrealized loss after entry fees.
fn loss_today(ctx: &Ctx, state: &State, l: &Live, midnight: Timestamp) -> Result<Decimal, String> {
    let realized = tdb::fill_totals(
        ctx.store().conn(),
        None,
        Some(l.rec.id),
        None,
        Some(midnight),
        None,
    )
    .map_err(|e| format!("cannot read the bot's fills: {e}"))?
    .realized
    .get();
    let mut open = Decimal::ZERO;
    if let Some(book) = state.accounts[l.account].books.bots.get(&l.rec.id) {
        for (symbol, p) in &book.positions {
            let Some(i) = state.venue.index_of(symbol.as_str()) else {
                continue;
            };
            if let Some(u) = p.unrealized_net(state.venue.last(i)) {
                open = open.checked_add(u.get()).unwrap_or(open);
            }
        }
    }
    let pnl = realized
        .checked_add(open.min(Decimal::ZERO))
        .unwrap_or(realized);
    Ok(if pnl.is_sign_negative() {
        pnl.abs()
    } else {
        Decimal::ZERO
    })
}
