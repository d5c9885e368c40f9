//! `strategies.*` and `bots.*` handlers.

use super::backtests::{check_downsample, equity_curve};
use tradedesk_core::api::backtests::EquityCurve;
use tradedesk_core::api::bots::{BotEquityQuery, BotsEquity};
use tradedesk_core::time::Timestamp;

use crate::store::StoreError;
use crate::store::bots as db;
use crate::store::trading as tdb;
use rust_decimal::Decimal;
use tradedesk_core::api::bots::{
    BotCreate, BotDelete, BotEventKind, BotEventPage, BotEventsParams, BotFilter, BotId, BotPage,
    BotPerformance, BotRecord, BotStatus, BotStatusTopic, BotStop, BotUpdate, BotView, BotsCreate,
    BotsDelete, BotsEvents, BotsGet, BotsList, BotsPause, BotsPerformance, BotsResume, BotsStart,
    BotsStop, BotsUpdate, Deleted,
};
use tradedesk_core::api::bots::{BotForce, BotsEnter, BotsExit};
use tradedesk_core::api::positions::PositionUpdates;
use tradedesk_core::api::strategies::NameOrId;
use tradedesk_core::api::{ApiError, Caller, ErrorCode, Handle, paging};
use tradedesk_core::ledger::SubLedger;
use tradedesk_core::money::{Notional, Qty, Ratio};

use crate::context::Ctx;
use crate::services::bots::{allocated_value, book_equity, pnl, record, view};
use crate::services::exchange::store_err;

pub(super) mod checks;
use checks::{check_allocation, check_amounts, check_name, funds_error};

impl Handle<BotsCreate> for Ctx {
    #[allow(clippy::too_many_lines)] // checks every field in order, then one transaction
    async fn handle(&self, caller: &Caller, p: BotCreate) -> Result<BotView, ApiError> {
        check_name("name", &p.name)?;
        let prefix = if p.strategy.is_some() {
            "strategy."
        } else {
            "spec."
        };
        let (spec, strategy_id) = match (&p.strategy, &p.spec) {
            (Some(s), None) => {
                let r = match s.parse::<u64>() {
                    Ok(id) => NameOrId {
                        id: Some(id),
                        name: None,
                    },
                    Err(_) => NameOrId {
                        id: None,
                        name: Some(s.clone()),
                    },
                };
                let rec = self.strategy_ref(caller, &r)?;
                (
                    self.normalize(caller, &rec.spec, "strategy.")?,
                    Some(rec.id),
                )
            }
            (None, Some(spec)) => (self.normalize(caller, spec, "spec.")?, None),
            _ => {
                return Err(ApiError::bad_field(
                    "strategy",
                    "give exactly one of `strategy` (a saved config) and `spec`",
                ));
            }
        };
        if p.symbols.is_empty() {
            return Err(ApiError::bad_field("symbols", "give at least one symbol"));
        }
        if p.symbols.len() > 20 {
            return Err(ApiError::bad_field("symbols", "at most 20 symbols per bot"));
        }
        let view = self.blocking(|ctx| {
            let mut state = ctx.exchange.lock();
            let account = state.account_for(caller, p.account.as_deref())?;
            // A bot trades its owner's account, so that whoever sees the
            // account sees its bots (and their events) and no one else.
            if state.accounts[account].row.owner != caller.user {
                return Err(ApiError::bad_field(
                    "account",
                    format!(
                        "account `{}` belongs to `{}`: a bot trades an account of its owner",
                        state.accounts[account].row.name, state.accounts[account].row.owner
                    ),
                ));
            }
            ctx.shorts_allowed(
                &spec,
                prefix,
                &state.accounts[account].row.name,
                state.margin_of(account).is_some(),
            )?;
            let mut quotes = Vec::new();
            for (i, symbol) in p.symbols.iter().enumerate() {
                state.symbol_index(symbol).map_err(|_| {
                    ApiError::bad_field(
                        &format!("symbols[{i}]"),
                        format!("unknown symbol `{symbol}` on {}", state.venue.name()),
                    )
                })?;
                if p.symbols[..i].contains(symbol) {
                    return Err(ApiError::bad_field(
                        &format!("symbols[{i}]"),
                        format!("`{symbol}` twice"),
                    ));
                }
                if let Some(inst) = state.instrument(symbol) {
                    quotes.push(inst.quote.clone());
                }
            }
            quotes.dedup();
            if quotes.len() > 1 {
                return Err(ApiError::bad_field(
                    "symbols",
                    "all symbols of a bot must share one quote asset",
                ));
            }
            check_allocation(&state, &p.allocation)?;
            let account_name = state.accounts[account].row.name.clone();
            // Dry run: the allocation must fit the unallocated free balance.
            let mut trial = state.accounts[account].books.clone();
            trial
                .allocate(u64::MAX, &p.allocation)
                .map_err(|e| funds_error(&account_name, &e))?;
            let mut store = ctx.store();
            if db::bot_name_taken(store.conn(), &caller.user, &p.name).map_err(|e| store_err(&e))? {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("a bot named `{}` exists", p.name),
                ));
            }
            let now = ctx.now();
            let mut rec = BotRecord {
                id: 0,
                name: p.name.clone(),
                owner: caller.user.clone(),
                account: account_name,
                strategy_id,
                spec: spec.clone(),
                symbols: p.symbols.clone(),
                allocation: p.allocation.clone(),
                status: BotStatus::Created,
                reason: None,
                created: now,
                updated: now,
                started: None,
                deleted: None,
            };
            let mut ledger = tradedesk_core::ledger::Ledger::default();
            for (asset, amount) in &p.allocation {
                ledger
                    .deposit(asset, *amount)
                    .map_err(|e| ApiError::internal(e.to_string()))?;
            }
            let acc_id = state.accounts[account].row.id;
            rec.id = store
                .write(|tx| -> Result<u64, StoreError> {
                    let id = db::insert_bot(tx, acc_id, &rec)?;
                    db::save_bot_ledger(tx, id, &ledger)?;
                    Ok(id)
                })
                .map_err(|e| store_err(&e))?;
            state.accounts[account]
                .books
                .allocate(rec.id, &p.allocation)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            record(
                ctx,
                &mut store,
                rec.id,
                BotEventKind::State,
                &format!(
                    "created: {} on {} with {}",
                    rec.spec.strategy,
                    rec.symbols
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    rec.allocation
                        .iter()
                        .map(|(a, q)| format!("{q} {a}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None,
            );
            let warned = crate::services::bots::warnings(&ctx.bots.registry, &state, &rec);
            for w in &warned {
                record(ctx, &mut store, rec.id, BotEventKind::Warning, w, None);
            }
            let mut v = view(&state, &rec);
            v.warnings = warned;
            Ok::<_, ApiError>(v)
        })?;
        if p.start {
            let warnings = view.warnings.clone();
            let mut started = self.blocking(|ctx| ctx.bots.start(ctx, view.bot.id))?;
            started.warnings = warnings;
            return Ok(started);
        }
        Ok(view)
    }
}

impl Handle<BotsList> for Ctx {
    async fn handle(&self, caller: &Caller, f: BotFilter) -> Result<BotPage, ApiError> {
        let limit = paging::limit(f.limit)?;
        let before = paging::cursor(f.cursor.as_deref())?;
        let recs = db::list_bots(
            self.store().conn(),
            caller.owner_filter(),
            f.status,
            before,
            limit,
        )
        .map_err(|e| store_err(&e))?;
        let next_cursor = paging::next_cursor(&recs, limit, |b| b.id);
        let state = self.exchange.lock();
        Ok(BotPage {
            items: recs.iter().map(|r| view(&state, r)).collect(),
            next_cursor,
        })
    }
}

impl Handle<BotsGet> for Ctx {
    async fn handle(&self, caller: &Caller, p: BotId) -> Result<BotView, ApiError> {
        let rec = self.bot(caller, p.id)?;
        let state = self.exchange.lock();
        let mut v = view(&state, &rec);
        v.warnings = crate::services::bots::warnings(&self.bots.registry, &state, &rec);
        Ok(v)
    }
}

impl Handle<BotsUpdate> for Ctx {
    #[allow(clippy::too_many_lines)] // one change under one lock: checks, books, spec, store
    async fn handle(&self, caller: &Caller, p: BotUpdate) -> Result<BotView, ApiError> {
        let mut rec = self.bot(caller, p.id)?;
        if let Some(n) = &p.name {
            check_name("name", n)?;
        }
        {
            let state = self.exchange.lock();
            for (field, amounts) in [("deposit", &p.deposit), ("withdraw", &p.withdraw)] {
                if let Some(a) = amounts {
                    check_amounts(&state, field, a)?;
                }
            }
        }
        if rec.status.is_active() || self.bots.is_live(p.id) {
            if p.allocation.is_some() {
                return Err(ApiError::new(
                    ErrorCode::IllegalTransition,
                    format!(
                        "field `allocation`: bot {} is {}; add or take out capital with \
                         `deposit` / `withdraw`, or stop it to replace its allocation",
                        p.id,
                        rec.status.as_str()
                    ),
                )
                .with_data(serde_json::json!({ "field": "allocation" })));
            }
            let spec = p
                .spec
                .as_ref()
                .map(|s| self.normalize(caller, s, "spec."))
                .transpose()?;
            if let Some(s) = &spec {
                let margin = {
                    let state = self.exchange.lock();
                    state
                        .account_index(&rec.account)
                        .is_some_and(|i| state.margin_of(i).is_some())
                };
                self.shorts_allowed(s, "spec.", &rec.account, margin)?;
            }
            if let Some(n) = &p.name
                && n != &rec.name
                && db::bot_name_taken(self.store().conn(), &caller.user, n)
                    .map_err(|e| store_err(&e))?
            {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("a bot named `{n}` exists"),
                ));
            }
            return self.blocking(|ctx| {
                ctx.bots.update_live(
                    ctx,
                    p.id,
                    p.name.clone(),
                    spec,
                    p.deposit.as_ref(),
                    p.withdraw.as_ref(),
                )
            });
        }
        let spec = p
            .spec
            .as_ref()
            .map(|s| self.normalize(caller, s, "spec."))
            .transpose()?;
        self.blocking(|ctx| {
            // Held throughout: the bot cannot be started meanwhile.
            let live = ctx.bots.lock();
            if live.contains_key(&rec.id) {
                return Err(ApiError::new(
                    ErrorCode::IllegalTransition,
                    format!("bot {} was started; stop it before changing it", rec.id),
                ));
            }
            let mut state = ctx.exchange.lock();
            let account = state.account_named(&rec.account)?;
            if let Some(s) = &spec {
                ctx.shorts_allowed(s, "spec.", &rec.account, state.margin_of(account).is_some())?;
            }
            let mut store = ctx.store();
            if let Some(n) = &p.name
                && n != &rec.name
                && db::bot_name_taken(store.conn(), &caller.user, n).map_err(|e| store_err(&e))?
            {
                return Err(ApiError::new(ErrorCode::Conflict, format!("a bot named `{n}` exists")));
            }
            let mut books = state.accounts[account].books.clone();
            let reallocated = p.allocation.is_some();
            if let Some(allocation) = &p.allocation {
                check_allocation(&state, allocation)?;
                let sub = books.bots.get(&rec.id).cloned().unwrap_or_default();
                let holds_position = sub.positions.values().any(|q| !q.qty.is_zero());
                let holds_locked = sub.ledger.balances().values().any(|b| b.locked.is_positive());
                if holds_position || holds_locked {
                    return Err(ApiError::new(
                        ErrorCode::Conflict,
                        "field `allocation`: the bot holds a position or open orders; stop it with flatten first",
                    )
                    .with_data(serde_json::json!({ "field": "allocation" })));
                }
                books.release(rec.id).map_err(|e| ApiError::internal(e.to_string()))?;
                books
                    .allocate(rec.id, allocation)
                    .map_err(|e| funds_error(&rec.account, &e))?;
                rec.allocation.clone_from(allocation);
            }
            let moved = crate::services::bots::transfer_funds(
                &mut books,
                rec.id,
                &rec.account,
                p.deposit.as_ref(),
                p.withdraw.as_ref(),
            )?;
            if !moved.is_empty()
                && let Some(b) = books.bots.get(&rec.id)
            {
                rec.allocation.clone_from(&b.allocated);
            }
            if let Some(n) = &p.name {
                rec.name.clone_from(n);
            }
            let changed_code = code_change(&rec.spec, spec.as_ref());
            if let Some(s) = spec {
                rec.spec = s;
            }
            rec.updated = ctx.now();
            let sub = books.bots.get(&rec.id).cloned().unwrap_or_default();
            let assets: Vec<String> = state.accounts[account]
                .books
                .bots
                .get(&rec.id)
                .map(|b| b.ledger.balances().keys().cloned().collect())
                .unwrap_or_default();
            let manual = books.manual.clone();
            let acc_id = state.accounts[account].row.id;
            store
                .write(|tx| -> Result<(), StoreError> {
                    db::update_bot(tx, &rec)?;
                    // Assets no longer allocated are written as zero.
                    let mut ledger = sub.ledger.clone();
                    for a in assets {
                        if ledger.balance(&a) == tradedesk_core::ledger::Balance::default() {
                            ledger.deposit(&a, Qty::ZERO).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        }
                    }
                    db::save_bot_ledger(tx, rec.id, &ledger)?;
                    if changed_code.is_some() {
                        db::save_bot_state(tx, rec.id, &serde_json::Value::Null)?;
                    }
                    if reallocated {
                        // The old book's positions now live in the manual
                        // book, and its loans were repaid there.
                        db::clear_bot_positions(tx, rec.id)?;
                        tdb::save_ledger(tx, acc_id, &books.total)?;
                    }
                    for (symbol, pos) in &manual {
                        tdb::save_position(tx, acc_id, symbol, pos, rec.updated)?;
                    }
                    Ok(())
                })
                .map_err(|e| store_err(&e))?;
            state.accounts[account].books = books;
            let value =
                crate::services::bots::moved_value(&state, p.deposit.as_ref(), p.withdraw.as_ref());
            if !value.is_zero() {
                state.shift_risk_baseline(&mut store, rec.id, value);
            }
            let mut what = changed_code.unwrap_or_else(|| "updated".to_owned());
            if !moved.is_empty() {
                what = format!("{what}; {}", moved.join(", "));
            }
            record(ctx, &mut store, rec.id, BotEventKind::State, &what, None);
            Ok(view(&state, &rec))
        })
    }
}

/// New strategy code (another strategy, or another version of a user
/// strategy) starts from warm-up alone: the old code's saved state is not
/// handed to it. What the bot's log says when that happens.
fn code_change(
    old: &tradedesk_core::strategy::StrategySpec,
    new: Option<&tradedesk_core::strategy::StrategySpec>,
) -> Option<String> {
    let new = new.filter(|s| s.strategy != old.strategy)?;
    Some(format!(
        "updated: strategy {} → {} (its saved strategy state was discarded)",
        old.strategy, new.strategy
    ))
}

impl Handle<BotsDelete> for Ctx {
    async fn handle(&self, caller: &Caller, p: BotDelete) -> Result<Deleted, ApiError> {
        let rec = self.bot(caller, p.id)?;
        if rec.status.is_active() || self.bots.is_live(p.id) {
            if !p.force {
                return Err(ApiError::new(
                    ErrorCode::IllegalTransition,
                    format!(
                        "bot {} is {}; stop it first or delete with force (which stops it)",
                        p.id,
                        rec.status.as_str()
                    ),
                ));
            }
            self.blocking(|ctx| {
                ctx.bots
                    .stop(ctx, p.id, true, false, Some("stopped to be deleted".into()))
            })?;
        }
        self.blocking(|ctx| {
            // Held throughout: the bot cannot be started meanwhile.
            let live = ctx.bots.lock();
            if live.contains_key(&rec.id) {
                return Err(ApiError::new(
                    ErrorCode::IllegalTransition,
                    format!("bot {} was started again; stop it first", rec.id),
                ));
            }
            let mut state = ctx.exchange.lock();
            let account = state.account_named(&rec.account)?;
            // Orders a stopped bot left open go now: its book must hold nothing locked.
            let open: Vec<u64> = state
                .open
                .values()
                .filter(|o| o.bot_id == Some(rec.id))
                .map(|o| o.id)
                .collect();
            let mut store = ctx.store();
            for id in open {
                if state.open.contains_key(&id) {
                    let changes = state.cancel(&mut store, id, "its bot was deleted", ctx.now())?;
                    ctx.publish(&state, &changes);
                }
            }
            let mut books = state.accounts[account].books.clone();
            let released: Option<SubLedger> = if books.bots.contains_key(&rec.id) {
                Some(
                    books
                        .release(rec.id)
                        .map_err(|e| ApiError::internal(e.to_string()))?,
                )
            } else {
                None
            };
            let now = ctx.now();
            let acc_id = state.accounts[account].row.id;
            let manual = books.manual.clone();
            let symbols: Vec<_> = released
                .as_ref()
                .map(|s| s.positions.keys().cloned().collect())
                .unwrap_or_default();
            store
                .write(|tx| -> Result<(), StoreError> {
                    db::mark_bot_deleted(tx, rec.id, now)?;
                    // A released loan is repaid from the manual book.
                    tdb::save_ledger(tx, acc_id, &books.total)?;
                    for symbol in &symbols {
                        if let Some(pos) = manual.get(symbol) {
                            tdb::save_position(tx, acc_id, symbol, pos, now)?;
                        }
                    }
                    Ok(())
                })
                .map_err(|e| store_err(&e))?;
            state.accounts[account].books = books;
            record(
                ctx,
                &mut store,
                rec.id,
                BotEventKind::State,
                "deleted; its balances and positions returned to the account",
                None,
            );
            drop(store);
            // Its positions are the account's now; lists drop the bot.
            for symbol in &symbols {
                ctx.hub.publish_to::<PositionUpdates>(
                    Some(&state.accounts[account].row.owner),
                    &state.position_view(account, symbol),
                );
            }
            let mut gone = rec.clone();
            gone.deleted = Some(now);
            gone.updated = now;
            ctx.hub.publish_to::<BotStatusTopic>(
                Some(&gone.owner),
                &crate::services::bots::view(&state, &gone),
            );
            Ok(Deleted {
                id: rec.id,
                deleted: true,
            })
        })
    }
}

impl Handle<BotsStart> for Ctx {
    async fn handle(&self, caller: &Caller, p: BotId) -> Result<BotView, ApiError> {
        self.bot(caller, p.id)?;
        self.blocking(|ctx| ctx.bots.start(ctx, p.id))
    }
}

impl Handle<BotsStop> for Ctx {
    async fn handle(&self, caller: &Caller, p: BotStop) -> Result<BotView, ApiError> {
        self.bot(caller, p.id)?;
        self.blocking(|ctx| {
            ctx.bots
                .stop(ctx, p.id, p.cancel_orders, p.flatten, p.reason.clone())
        })
    }
}

impl Handle<BotsPause> for Ctx {
    async fn handle(&self, caller: &Caller, p: BotId) -> Result<BotView, ApiError> {
        self.bot(caller, p.id)?;
        self.blocking(|ctx| ctx.bots.pause(ctx, p.id))
    }
}

impl Handle<BotsResume> for Ctx {
    async fn handle(&self, caller: &Caller, p: BotId) -> Result<BotView, ApiError> {
        self.bot(caller, p.id)?;
        self.blocking(|ctx| ctx.bots.resume(ctx, p.id))
    }
}

impl Handle<BotsEnter> for Ctx {
    async fn handle(&self, caller: &Caller, p: BotForce) -> Result<BotView, ApiError> {
        self.bot(caller, p.id)?;
        self.blocking(|ctx| ctx.bots.force(ctx, p.id, &p, true, &caller.user))
    }
}

impl Handle<BotsExit> for Ctx {
    async fn handle(&self, caller: &Caller, p: BotForce) -> Result<BotView, ApiError> {
        self.bot(caller, p.id)?;
        self.blocking(|ctx| ctx.bots.force(ctx, p.id, &p, false, &caller.user))
    }
}

impl Handle<BotsEvents> for Ctx {
    async fn handle(&self, caller: &Caller, p: BotEventsParams) -> Result<BotEventPage, ApiError> {
        self.bot(caller, p.id)?;
        let limit = paging::limit(p.limit)?;
        let before = paging::cursor(p.cursor.as_deref())?;
        let events = db::list_bot_events(self.store().conn(), p.id, before, limit)
            .map_err(|e| store_err(&e))?;
        let next_cursor = paging::next_cursor(&events, limit, |e| e.id);
        Ok(BotEventPage {
            items: events,
            next_cursor,
        })
    }
}

impl Handle<BotsPerformance> for Ctx {
    async fn handle(&self, caller: &Caller, p: BotId) -> Result<BotPerformance, ApiError> {
        let rec = self.bot(caller, p.id)?;
        let (totals, (drawdown, samples)) = {
            let store = self.store();
            (
                tdb::fill_totals(store.conn(), None, Some(rec.id), None, None, None)
                    .map_err(|e| store_err(&e))?,
                db::bot_drawdown(store.conn(), rec.id).map_err(|e| store_err(&e))?,
            )
        };
        let state = self.exchange.lock();
        let account = state.account_named(&rec.account)?;
        let (mut realized, mut unrealized, mut fees) =
            (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        if let Some(sub) = state.accounts[account].books.bots.get(&rec.id) {
            for (symbol, pos) in &sub.positions {
                // Figures, not bookings: they saturate rather than fail.
                let net = pos.realized_net().unwrap_or(pos.realized);
                realized = realized.saturating_add(net.get());
                fees = fees.saturating_add(pos.fees.get());
                if let Some(idx) = state.venue.index_of(symbol.as_str())
                    && let Some(u) = pos.unrealized_net(state.venue.last(idx))
                {
                    unrealized = unrealized.saturating_add(u.get());
                }
            }
        }
        // The allocation valued like equity: quote at face value, base at the last price.
        let allocated = allocated_value(&state, account, rec.id).unwrap_or_default();
        let total_pnl = pnl(&state, account, rec.id);
        let equity = book_equity(&state, account, rec.id);
        drop(state);
        let trips = self.trips(None, Some(rec.id), None, None)?;
        let (wins, losses) = tradedesk_core::analytics::wins_and_losses(&trips);
        let ratio = |d: Decimal| Ratio::new(d.round_dp(6).normalize());
        Ok(BotPerformance {
            id: rec.id,
            allocated: Notional::new(allocated.normalize()),
            equity,
            realized_pnl: Notional::new(realized.normalize()),
            unrealized_pnl: Notional::new(unrealized.normalize()),
            fees: Notional::new(fees.normalize()),
            total_pnl,
            fills: totals.count,
            trades: trips.len() as u64,
            wins,
            losses,
            win_rate: super::trades::win_rate(wins, losses),
            max_drawdown: drawdown.map(ratio),
            samples,
        })
    }
}

/// A bot's equity samples in a range; not found when there is no such bot.
pub(super) fn bot_equity(
    conn: &rusqlite::Connection,
    bot: u64,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Result<Vec<(Timestamp, f64)>, ApiError> {
    if crate::store::bots::bot_by_id(conn, bot)
        .map_err(|e| store_err(&e))?
        .is_none()
    {
        return Err(ApiError::not_found("bot", bot));
    }
    crate::store::bots::equity_series(conn, bot, start, end).map_err(|e| store_err(&e))
}

impl Handle<BotsEquity> for Ctx {
    async fn handle(&self, _: &Caller, q: BotEquityQuery) -> Result<EquityCurve, ApiError> {
        check_downsample(q.downsample)?;
        let series = bot_equity(self.store().conn(), q.id, q.start, q.end)?;
        let (times, equity): (Vec<Timestamp>, Vec<f64>) = series.into_iter().unzip();
        Ok(equity_curve(&times, &equity, q.downsample))
    }
}
