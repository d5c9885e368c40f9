//! The lifecycle operations the handlers call: create, start, stop, pause,
//! resume, update, delete — each written, recorded and published.

use super::book::{transfer_funds, view};
use super::execution::{Actor, execute, force, run_decisions};
use super::{Bots, fail, guarded, record, set_status, start_decisions};
use crate::context::Ctx;
use crate::services::exchange::{State, store_err};
use crate::store::bots as db;
use std::collections::BTreeMap;
use tradedesk_core::api::bots::{BotEventKind, BotForce, BotRecord, BotStatus, BotView};
use tradedesk_core::api::{ApiError, ErrorCode};
use tradedesk_core::engine::{Decision, Intent, Refusal};
use tradedesk_core::money::Qty;
use tradedesk_core::order::Side;
use tradedesk_core::strategy::StrategySpec;

/// "bot 3 is stopped; only a running bot can be paused".
pub(super) fn not_in_state(rec: &BotRecord, wanted: &str, verb: &str) -> ApiError {
    ApiError::new(
        ErrorCode::IllegalTransition,
        format!(
            "bot {} is {}; only a {wanted} bot can be {verb}",
            rec.id,
            rec.status.as_str()
        ),
    )
}

impl Bots {
    /// Starts a created, stopped or failed bot.
    pub fn start(&self, ctx: &Ctx, id: u64) -> Result<BotView, ApiError> {
        let mut live = self.lock();
        // Read under the lock: a concurrent delete or start cannot slip in.
        let mut rec = db::bot_by_id(ctx.store().conn(), id)
            .map_err(|e| store_err(&e))?
            .ok_or_else(|| ApiError::not_found("bot", id))?;
        if live.contains_key(&rec.id) || rec.status.is_active() {
            return Err(ApiError::new(
                ErrorCode::IllegalTransition,
                format!("bot {} is already {}", rec.id, rec.status.as_str()),
            ));
        }
        let mut l = self.launch(ctx, rec.clone(), rec.status == BotStatus::Created)?;
        record(
            ctx,
            &mut ctx.store(),
            rec.id,
            BotEventKind::State,
            &l.warm_message(),
            None,
        );
        let mut state = ctx.exchange.lock();
        rec.reason = None;
        set_status(ctx, &state, &mut rec, BotStatus::Running, None)?;
        l.rec = rec.clone();
        let result = start_decisions(&state, &mut l)
            .and_then(|out| run_decisions(ctx, &mut state, &mut l, out));
        if let Err(why) = result {
            drop(state);
            fail(ctx, &mut l, why);
            let state = ctx.exchange.lock();
            return Ok(view(&state, &l.rec));
        }
        let v = view(&state, &l.rec);
        live.insert(rec.id, l);
        Ok(v)
    }

    pub fn pause(&self, ctx: &Ctx, id: u64) -> Result<BotView, ApiError> {
        let mut live = self.lock();
        let Some(l) = live
            .get_mut(&id)
            .filter(|l| l.rec.status == BotStatus::Running)
        else {
            return Err(Self::not_in(ctx, id, "running", "paused"));
        };
        let mut state = ctx.exchange.lock();
        pause_with(ctx, &mut state, l, None)?;
        Ok(view(&state, &l.rec))
    }

    pub fn resume(&self, ctx: &Ctx, id: u64) -> Result<BotView, ApiError> {
        let mut live = self.lock();
        let Some(l) = live
            .get_mut(&id)
            .filter(|l| l.rec.status == BotStatus::Paused)
        else {
            return Err(Self::not_in(ctx, id, "paused", "resumed"));
        };
        let mut state = ctx.exchange.lock();
        let mut rec = l.rec.clone();
        if rec
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("daily loss stop"))
        {
            // The trader saw it: the stop does not fire again today.
            l.daily_resumed = Some(ctx.now().millis().div_euclid(86_400_000));
        }
        set_status(ctx, &state, &mut rec, BotStatus::Running, None)?;
        l.rec = rec;
        let result =
            start_decisions(&state, l).and_then(|out| run_decisions(ctx, &mut state, l, out));
        if let Err(why) = result {
            drop(state);
            if let Some(mut l) = live.remove(&id) {
                fail(ctx, &mut l, why);
            }
            let state = ctx.exchange.lock();
            return Self::current_view(ctx, &state, id);
        }
        Ok(view(&state, &l.rec))
    }

    /// Stops a running, paused or failed bot: optionally cancels its
    /// orders and sells its positions. No strategy code runs: the orders
    /// and positions are the book's, so a broken strategy cannot block it.
    pub fn stop(
        &self,
        ctx: &Ctx,
        id: u64,
        cancel_orders: bool,
        flatten: bool,
        reason: Option<String>,
    ) -> Result<BotView, ApiError> {
        let mut live = self.lock();
        let live_rec = live.get(&id).map(|l| l.rec.clone());
        let mut rec = match live_rec {
            Some(r) => r,
            None => {
                // The store guard ends with this statement, before anything
                // below may take the store again.
                let stored = db::bot_by_id(ctx.store().conn(), id).map_err(|e| store_err(&e))?;
                match stored {
                    Some(r) if r.status == BotStatus::Error => r,
                    Some(r) => {
                        return Err(not_in_state(&r, "running, paused or failed", "stopped"));
                    }
                    None => return Err(ApiError::not_found("bot", id)),
                }
            }
        };
        live.remove(&id);
        let mut state = ctx.exchange.lock();
        let account = state.account_named(&rec.account)?;
        let actor = Actor {
            id,
            account,
            owner: rec.owner.clone(),
            closing: true,
            symbols: rec.symbols.clone(),
        };
        let mut out = Vec::new();
        if cancel_orders || flatten {
            for o in state.open.values().filter(|o| o.bot_id == Some(id)) {
                out.push(Decision::Cancel {
                    tag: o.client_order_id.clone(),
                });
            }
        }
        if flatten {
            let prefix = format!("b{id}");
            let mut seq = db::max_bot_seq(ctx.store().conn(), id, &prefix)
                .map_err(|e| store_err(&e))?
                .saturating_add(1);
            let positions = state.accounts[account]
                .books
                .bots
                .get(&id)
                .map(|b| b.positions.clone())
                .unwrap_or_default();
            for (symbol, p) in positions {
                let lot = state.instrument(&symbol).map_or(Qty::ZERO, |i| i.lot_size);
                let qty = p.qty.floor_to(lot).unwrap_or(Qty::ZERO);
                if qty.is_positive() {
                    out.push(Decision::Place(Intent::market(
                        format!("{prefix}-{seq}-x"),
                        symbol,
                        Side::Sell,
                        qty,
                        tradedesk_core::portfolio::Role::Exit,
                    )));
                    seq = seq.saturating_add(1);
                }
            }
        }
        let _ = execute(ctx, &mut state, &actor, out);
        let why = reason.unwrap_or_else(|| {
            match (flatten, cancel_orders) {
                (true, _) => "stopped by the user; orders cancelled, positions sold",
                (false, true) => "stopped by the user; orders cancelled",
                (false, false) => "stopped by the user; orders left open",
            }
            .to_owned()
        });
        set_status(ctx, &state, &mut rec, BotStatus::Stopped, Some(why))?;
        Ok(view(&state, &rec))
    }

    pub(super) fn current_view(ctx: &Ctx, state: &State, id: u64) -> Result<BotView, ApiError> {
        let rec = db::bot_by_id(ctx.store().conn(), id)
            .map_err(|e| store_err(&e))?
            .ok_or_else(|| ApiError::not_found("bot", id))?;
        Ok(view(state, &rec))
    }

    pub(super) fn not_in(ctx: &Ctx, id: u64, wanted: &str, verb: &str) -> ApiError {
        let stored = db::bot_by_id(ctx.store().conn(), id);
        match stored {
            Ok(Some(rec)) => not_in_state(&rec, wanted, verb),
            Ok(None) => ApiError::not_found("bot", id),
            Err(e) => store_err(&e),
        }
    }

    /// A trader's forced entry (`enter`) or exit on a live bot: decided by
    /// its engine, placed through the risk checks, its protective exits
    /// kept in step. An entry needs a running bot; an exit of the whole
    /// position may be of a paused one too (its protective exits are not
    /// re-placed while it is paused, so a partial exit needs it running).
    pub fn force(
        &self,
        ctx: &Ctx,
        id: u64,
        p: &BotForce,
        enter: bool,
        who: &str,
    ) -> Result<BotView, ApiError> {
        let mut live = self.lock();
        let verb = if enter { "entered" } else { "exited" };
        let ok = |s: BotStatus| {
            s == BotStatus::Running || (!enter && p.qty.is_none() && s == BotStatus::Paused)
        };
        let Some(l) = live.get_mut(&id).filter(|l| ok(l.rec.status)) else {
            let wanted = if enter {
                "running"
            } else {
                "running (or, for a whole exit, paused)"
            };
            return Err(Self::not_in(ctx, id, wanted, verb));
        };
        let symbols = &l.rec.symbols;
        let slot = match &p.symbol {
            Some(s) => symbols.iter().position(|x| x == s).ok_or_else(|| {
                ApiError::bad_field(
                    "symbol",
                    format!("bot {id} does not trade {s} (it trades {})", join(symbols)),
                )
            })?,
            None if symbols.len() == 1 => 0,
            None => {
                return Err(ApiError::bad_field(
                    "symbol",
                    format!("bot {id} trades {}: name one", join(symbols)),
                ));
            }
        };
        let mut state = ctx.exchange.lock();
        let mut out = Vec::new();
        let decided = {
            let v = l.view(&state);
            let engine = &mut l.engine;
            guarded(|| {
                if enter {
                    engine.force_enter(slot, p.qty, &v, &mut out)
                } else {
                    engine.force_exit(slot, p.qty, &v, &mut out)
                }
            })
            .map_err(ApiError::internal)?
        };
        decided.map_err(|r| match r {
            Refusal::Qty(m) => ApiError::bad_field("qty", m),
            Refusal::State(m) => ApiError::new(ErrorCode::Conflict, m),
        })?;
        force(ctx, &mut state, l, out, who)?;
        if l.rec.status == BotStatus::Running
            && let Some(why) =
                super::protect::tripped(ctx, &state, l, true, false).map_err(ApiError::internal)?
        {
            pause_with(ctx, &mut state, l, why)?;
        }
        Ok(view(&state, &l.rec))
    }

    /// Changes a live (running or paused) bot: its name, its spec (a new
    /// engine is built and warmed on the stored bars before anything is
    /// committed, so it decides with the new spec from the next closed
    /// bar; new strategy code starts without the old code's saved state;
    /// changed exits are cancelled and placed again at the new levels),
    /// and its capital. The change is in its log.
    pub fn update_live(
        &self,
        ctx: &Ctx,
        id: u64,
        name: Option<String>,
        spec: Option<StrategySpec>,
        deposit: Option<&BTreeMap<String, Qty>>,
        withdraw: Option<&BTreeMap<String, Qty>>,
    ) -> Result<BotView, ApiError> {
        let mut live = self.lock();
        let Some(l) = live.get_mut(&id) else {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("bot {id} stopped meanwhile; try again"),
            ));
        };
        let mut rec = l.rec.clone();
        let mut notes = Vec::new();
        if let Some(n) = name.filter(|n| n != &rec.name) {
            notes.push(format!("name {} → {n}", rec.name));
            rec.name = n;
        }
        let spec = spec.filter(|s| s != &rec.spec);
        let new_code = spec
            .as_ref()
            .is_some_and(|s| s.strategy != rec.spec.strategy);
        let new_exits = spec.as_ref().is_some_and(|s| s.exits != rec.spec.exits);
        if let Some(s) = spec.clone() {
            notes.extend(spec_changes(&rec.spec, &s));
            rec.spec = s;
        }
        // A spec that cannot run changes nothing.
        let relaunched = match &spec {
            Some(_) => Some(self.launch(ctx, rec.clone(), new_code)?),
            None => None,
        };
        let mut state = ctx.exchange.lock();
        let account = l.account;
        let mut books = state.accounts[account].books.clone();
        notes.extend(transfer_funds(
            &mut books,
            id,
            &rec.account,
            deposit,
            withdraw,
        )?);
        if notes.is_empty() {
            return Ok(view(&state, &l.rec));
        }
        let ledger = books
            .bots
            .get(&id)
            .map(|b| (b.ledger.clone(), b.allocated.clone()));
        if let Some((_, allocated)) = &ledger {
            rec.allocation.clone_from(allocated);
        }
        rec.updated = ctx.now();
        let mut store = ctx.store();
        save_update(&mut store, &rec, ledger.as_ref().map(|l| &l.0), new_code)?;
        state.accounts[account].books = books;
        let moved = super::book::moved_value(&state, deposit, withdraw);
        if !moved.is_zero() {
            state.shift_risk_baseline(&mut store, id, moved);
        }
        let when = if relaunched.is_some() {
            "; the strategy decides with it from the next closed bar"
        } else {
            ""
        };
        record(
            ctx,
            &mut store,
            id,
            BotEventKind::State,
            &format!(
                "updated while {}: {}{when}",
                rec.status.as_str(),
                notes.join("; ")
            ),
            None,
        );
        drop(store);
        match relaunched {
            Some(mut fresh) => {
                fresh.rec = rec;
                *l = fresh;
                if new_exits {
                    let cancels = protective_cancels(&state, l);
                    let _ = execute(ctx, &mut state, &l.actor(), cancels);
                }
                if l.rec.status == BotStatus::Running
                    && let Err(why) = run_decisions(ctx, &mut state, l, Vec::new())
                {
                    drop(state);
                    if let Some(mut l) = live.remove(&id) {
                        fail(ctx, &mut l, why);
                    }
                    let state = ctx.exchange.lock();
                    return Self::current_view(ctx, &state, id);
                }
            }
            None => l.rec = rec,
        }
        Ok(view(&state, &l.rec))
    }

    /// Whether a bot is live (running or paused) in this daemon.
    pub fn is_live(&self, id: u64) -> bool {
        self.lock().contains_key(&id)
    }

    /// The live record of a bot, if it runs.
    pub fn live_record(&self, id: u64) -> Option<BotRecord> {
        self.lock().get(&id).map(|l| l.rec.clone())
    }
}

fn join(symbols: &[tradedesk_core::instrument::Symbol]) -> String {
    symbols
        .iter()
        .map(tradedesk_core::instrument::Symbol::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Cancels of a bot's protective exits (placed again by `after`).
fn protective_cancels(state: &State, l: &super::Live) -> Vec<Decision> {
    let prefix = format!("b{}", l.rec.id);
    state
        .open
        .values()
        .filter(|o| {
            o.bot_id == Some(l.rec.id)
                && tradedesk_core::portfolio::parse_tag(&prefix, &o.client_order_id).map(|t| t.1)
                    == Some(tradedesk_core::portfolio::Role::Protect)
        })
        .map(|o| Decision::Cancel {
            tag: o.client_order_id.clone(),
        })
        .collect()
}

/// What changed between two specs, field by field, for the bot's log.
fn spec_changes(old: &StrategySpec, new: &StrategySpec) -> Vec<String> {
    fn show<T: serde::Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap_or_default()
    }
    let mut out = Vec::new();
    if old.strategy != new.strategy {
        out.push(format!(
            "strategy {} → {} (its saved state discarded)",
            old.strategy, new.strategy
        ));
    }
    if old.params != new.params {
        out.push(format!("params {} → {}", old.params, new.params));
    }
    if old.exits != new.exits {
        out.push(format!("exits {} → {}", show(&old.exits), show(&new.exits)));
    }
    if old.sizing != new.sizing {
        out.push(format!(
            "sizing {} → {}",
            show(&old.sizing),
            show(&new.sizing)
        ));
    }
    if old.interval != new.interval {
        out.push(format!(
            "interval {} → {}",
            old.interval.as_str(),
            new.interval.as_str()
        ));
    }
    out
}

/// Stores a bot's changed row, its book's balances and, for new code, its
/// discarded strategy state, in one transaction.
fn save_update(
    store: &mut crate::store::Store,
    rec: &BotRecord,
    ledger: Option<&tradedesk_core::ledger::Ledger>,
    new_code: bool,
) -> Result<(), ApiError> {
    store
        .write(|tx| {
            db::update_bot(tx, rec)?;
            if let Some(ledger) = ledger {
                db::save_bot_ledger(tx, rec.id, ledger)?;
            }
            if new_code {
                db::save_bot_state(tx, rec.id, &serde_json::Value::Null)?;
            }
            Ok(())
        })
        .map_err(|e| store_err(&e))
}

/// Pauses a running bot (`why`: a protection's reason, for its status and
/// log): its orders but the protective exits are cancelled.
pub(super) fn pause_with(
    ctx: &Ctx,
    state: &mut State,
    l: &mut super::Live,
    why: impl Into<Option<String>>,
) -> Result<(), ApiError> {
    let mut out = Vec::new();
    {
        let v = l.view(state);
        let engine = &mut l.engine;
        guarded(|| engine.pause(&v, &mut out)).map_err(ApiError::internal)?;
    }
    let mut rec = l.rec.clone();
    set_status(ctx, state, &mut rec, BotStatus::Paused, why.into())?;
    l.rec = rec;
    let _ = execute(ctx, state, &l.actor(), out);
    Ok(())
}
