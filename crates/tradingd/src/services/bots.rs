//! The bot supervisor: runs each live bot's engine on the market's closed
//! bars and ticks, carries out its decisions through the execution
//! service on the bot's own book, and records what happened.
//!
//! Bots run in the market loop, one after another, each inside
//! `catch_unwind`: a bot that panics or fails is stopped with status
//! `error` and the reason recorded; the daemon and the other bots go on.
//! Its protective exits stay in place (as when paused).
//!
//! Lock order, everywhere: supervisor → exchange → store.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::lock_order::{OrderedGuard, OrderedMutex, Rank};

use crate::store::bots as db;
use crate::store::trading as tdb;
use tradedesk_core::api::ApiError;
use tradedesk_core::api::bots::{BotEventKind, BotRecord, BotStatus};
use tradedesk_core::engine::{Decision, Engine, EngineConfig};
use tradedesk_core::money::{Notional, Qty};
use tradedesk_core::strategy::{Candle, Registry};
use tradedesk_core::time::Timestamp;

use crate::context::Ctx;
use crate::services::exchange::{Changes, State, store_err};
use crate::services::panic_text;

mod closer;
use closer::Closer;
mod book;
use book::BookView;
pub use book::{
    allocated_value, book_equity, figures, moved_value, pnl, transfer_funds, view, warnings,
};
mod execution;
use execution::{Actor, order_events, record_fills};

mod log;
use log::fail;
pub use log::{record, record_external, set_status};

mod lifecycle;
mod protect;

pub use execution::run_decisions;

/// How many rounds of decide → execute → feed back one event may cause.
const MAX_ROUNDS: usize = 8;

/// A live (running or paused) bot.
pub struct Live {
    rec: BotRecord,
    account: usize,
    engine: Engine,
    closers: Vec<Closer>,
    /// Bars replayed at launch, per symbol, and the warm-up asked for.
    warmed: (usize, usize),
    /// Protective exits that were refused: when to try again, and how many
    /// refusals in a row.
    protect_retry: Option<(Timestamp, u32)>,
    /// The UTC day a trader resumed it after its daily loss stop fired.
    daily_resumed: Option<i64>,
}

/// First wait after a refused protective exit; it doubles per refusal.
const PROTECT_BACKOFF_MS: i64 = 1_000;
const PROTECT_BACKOFF_CAP_MS: i64 = 30_000;

impl Live {
    /// Whether protective exits wait for a retry at `now`.
    fn protect_waiting(&self, now: Timestamp) -> bool {
        self.protect_retry.is_some_and(|(at, _)| now < at)
    }

    /// Whether a refused protective exit is due to be tried again.
    fn protect_due(&self, now: Timestamp) -> bool {
        self.protect_retry.is_some_and(|(at, _)| now >= at)
    }

    /// A protective exit was refused: wait longer before the next try.
    fn protect_refused(&mut self, now: Timestamp) -> i64 {
        let n = self.protect_retry.map_or(0, |(_, n)| n).saturating_add(1);
        let wait = PROTECT_BACKOFF_MS
            .saturating_mul(1_i64 << n.saturating_sub(1).min(10))
            .min(PROTECT_BACKOFF_CAP_MS);
        self.protect_retry = Some((Timestamp(now.millis().saturating_add(wait)), n));
        wait
    }
}

impl Live {
    /// What the warm-up replay gave: the first signal needs `lookback`
    /// bars, the indicators settle after `warmup` (longer for smoothed
    /// ones such as RSI and MACD).
    fn warm_message(&self) -> String {
        let (got, want) = self.warmed;
        let first = self.engine.lookback();
        let iv = self.rec.spec.interval.as_str();
        if want == 0 {
            "no warm-up needed".to_owned()
        } else if got >= want {
            format!("warm-up: replayed {got} closed {iv} bars per symbol")
        } else if got >= first {
            format!(
                "warm-up: replayed {got} closed {iv} bars per symbol; signals from now on, \
                 the indicators settle fully after {want}"
            )
        } else {
            format!(
                "warm-up: only {got} closed {iv} bars stored; the first signal needs {first} \
                 ({} more), the indicators settle fully after {want}",
                first.saturating_sub(got)
            )
        }
    }
}

impl Live {
    fn actor(&self) -> Actor {
        Actor {
            id: self.rec.id,
            account: self.account,
            owner: self.rec.owner.clone(),
            closing: false,
            symbols: self.rec.symbols.clone(),
        }
    }
}

pub struct Bots {
    live: OrderedMutex<BTreeMap<u64, Live>>,
    pub registry: Registry,
}

impl Live {
    /// The engine's view of this bot's book.
    fn view<'a>(&self, state: &'a State) -> BookView<'a> {
        BookView {
            state,
            account: self.account,
            bot: self.rec.id,
        }
    }
}

/// Runs strategy code; a panic becomes an error naming it. Only engine
/// calls are guarded this way: a panic there never unwinds through the
/// exchange's lock (which would suspend trading for everyone).
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| format!("panicked: {}", panic_text(p.as_ref())))
}

impl Bots {
    pub fn new(registry: Registry) -> Bots {
        Bots {
            live: OrderedMutex::new(Rank::Bots, BTreeMap::new()),
            registry,
        }
    }

    /// The live bots. A panic while it was held has already been turned
    /// into a stopped bot; the map itself is always consistent.
    pub fn lock(&self) -> OrderedGuard<'_, BTreeMap<u64, Live>> {
        self.live.lock()
    }

    /// How long the supervisor's lock has been held, if it is.
    pub fn held_for(&self) -> Option<std::time::Duration> {
        self.live.held_for()
    }

    /// Brings back the bots that were running or paused when the daemon
    /// stopped. One that cannot be rebuilt is marked `error`.
    pub fn resume_all(&self, ctx: &Ctx) {
        let recs = match tdb_list_live(ctx) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot list bots to resume");
                return;
            }
        };
        let mut live = self.lock();
        for rec in recs {
            let id = rec.id;
            let status = rec.status;
            let launched = self.launch(ctx, rec.clone(), false);
            let mut l = match launched {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(bot = id, error = %e.message, "bot cannot resume");
                    let mut rec = rec;
                    let state = ctx.exchange.lock();
                    let _ = set_status(
                        ctx,
                        &state,
                        &mut rec,
                        BotStatus::Error,
                        Some(format!("cannot resume after a restart: {}", e.message)),
                    );
                    continue;
                }
            };
            record(
                ctx,
                &mut ctx.store(),
                id,
                BotEventKind::State,
                &format!(
                    "resumed after a daemon restart ({}); {}",
                    status.as_str(),
                    l.warm_message()
                ),
                None,
            );
            if status == BotStatus::Running {
                let mut state = ctx.exchange.lock();
                let result = start_decisions(&state, &mut l)
                    .and_then(|out| run_decisions(ctx, &mut state, &mut l, out));
                drop(state);
                if let Err(why) = result {
                    fail(ctx, &mut l, why);
                    continue;
                }
            }
            tracing::info!(bot = id, status = status.as_str(), "bot resumed");
            live.insert(id, l);
        }
    }

    /// Builds a bot's engine: strategies per symbol, saved state, warm-up
    /// replay of recent bars, tag sequence. `fresh` for a start (not a resume).
    pub fn launch(&self, ctx: &Ctx, rec: BotRecord, fresh: bool) -> Result<Live, ApiError> {
        let state = ctx.exchange.lock();
        let account = state.account_named(&rec.account)?;
        let mut slots = Vec::new();
        for symbol in &rec.symbols {
            state.symbol_index(symbol)?;
            let inst = state
                .instrument(symbol)
                .cloned()
                .ok_or_else(|| ApiError::internal("instrument vanished"))?;
            let (strategy, _) = self
                .registry
                .build(&rec.spec)
                .map_err(|e| ApiError::invalid_params(format!("invalid params: {e}")))?;
            slots.push((inst, strategy));
        }
        let prefix = format!("b{}", rec.id);
        let mut engine = Engine::new(
            EngineConfig {
                prefix: prefix.clone(),
                sizing: rec.spec.sizing,
                exits: rec.spec.exits,
                fee_rate: state.taker_fee(),
                interval: rec.spec.interval,
                seed: rec.id,
                size_at_fill: false,
            },
            slots,
        );
        engine.set_protections(rec.spec.protections);
        let store = ctx.store();
        let conn = store.conn();
        if !fresh {
            let saved = db::bot_state(conn, rec.id).map_err(|e| store_err(&e))?;
            engine
                .restore(&saved)
                .map_err(|e| ApiError::internal(format!("saved strategy state: {e}")))?;
        }
        engine.set_next_seq(
            db::max_bot_seq(conn, rec.id, &prefix)
                .map_err(|e| store_err(&e))?
                .saturating_add(1),
        );
        let now = ctx.now();
        let ms = rec.spec.interval.millis();
        let current = now.floor_to(ms);
        let warm = engine.warmup();
        let mut closers = Vec::new();
        let mut replayed = usize::MAX;
        let view = BookView {
            state: &state,
            account,
            bot: rec.id,
        };
        for (slot, symbol) in rec.symbols.iter().enumerate() {
            // Replay the last `warm` closed bars; the minutes of the
            // interval still forming seed the closer.
            let from = Timestamp(
                current
                    .millis()
                    .saturating_sub(ms.saturating_mul(warm as i64)),
            );
            let mut closer = Closer::new(rec.spec.interval);
            let mut n: usize = 0;
            let mut warm_result = Ok(());
            tdb::for_each_kline(conn, symbol, from, Timestamp(now.millis()), |m| {
                for b in closer.push(&m) {
                    n = n.saturating_add(1);
                    if warm_result.is_ok() {
                        let engine = &mut engine;
                        warm_result = guarded(|| engine.warm(slot, &Candle::from_bar(&b), &view));
                    }
                }
            })
            .map_err(|e| store_err(&e))?;
            warm_result
                .map_err(|e| ApiError::internal(format!("the strategy {e} during warm-up")))?;
            if let Some(why) = engine.fault() {
                return Err(ApiError::internal(format!(
                    "the strategy failed during warm-up: {why}"
                )));
            }
            replayed = replayed.min(n);
            if let Some(idx) = state.venue.index_of(symbol.as_str()) {
                engine.set_last(slot, state.venue.last(idx), now);
            }
            closers.push(closer);
        }
        drop(store);
        Ok(Live {
            rec,
            account,
            engine,
            closers,
            warmed: (if replayed == usize::MAX { 0 } else { replayed }, warm),
            protect_retry: None,
            daily_resumed: None,
        })
    }

    /// One market tick: closed bars and order events to the live bots.
    pub fn on_tick(&self, ctx: &Ctx, changes: &Changes) {
        let mut live = self.lock();
        if live.is_empty() {
            return;
        }
        let mut failed = Vec::new();
        for (id, l) in live.iter_mut() {
            let result = catch_unwind(AssertUnwindSafe(|| step_bot(ctx, l, changes)));
            let why = match result {
                Ok(Ok(())) => match l.engine.fault() {
                    None => continue,
                    Some(why) => format!("strategy failed: {why}"),
                },
                Ok(Err(e)) => e,
                Err(p) => format!("panicked: {}", panic_text(p.as_ref())),
            };
            failed.push((*id, why));
        }
        for (id, why) in failed {
            if let Some(mut l) = live.remove(&id) {
                tracing::error!(bot = id, reason = %why, "bot failed; stopping it");
                fail(ctx, &mut l, why);
            }
        }
    }
}

fn tdb_list_live(ctx: &Ctx) -> Result<Vec<BotRecord>, crate::store::StoreError> {
    let store = ctx.store();
    let mut out = db::list_bots(store.conn(), None, Some(BotStatus::Running), None, u32::MAX)?;
    out.extend(db::list_bots(
        store.conn(),
        None,
        Some(BotStatus::Paused),
        None,
        u32::MAX,
    )?);
    out.sort_by_key(|b| b.id);
    Ok(out)
}

/// The decisions of (re)starting a bot: a grid lays its ladder, exits are
/// checked.
pub fn start_decisions(state: &State, l: &mut Live) -> Result<Vec<Decision>, String> {
    let v = l.view(state);
    let mut out = Vec::new();
    let engine = &mut l.engine;
    guarded(|| engine.start(&v, &mut out))?;
    if let Some(why) = engine.fault() {
        return Err(format!("strategy failed: {why}"));
    }
    Ok(out)
}

/// Feeds one market tick to one bot.
fn step_bot(ctx: &Ctx, l: &mut Live, changes: &Changes) -> Result<(), String> {
    let mut state = ctx.exchange.lock();
    if state.account_index(&l.rec.account) != Some(l.account) {
        return Err("its account is gone".into());
    }
    let bot = l.rec.id;
    // A bot whose account or own book is halted decides nothing (as if
    // paused) until risk.resume; its indicators stay current.
    let running = l.rec.status == BotStatus::Running && !halted(&state, &l.rec);
    // A refused protective exit whose wait is over comes before anything else.
    if running && l.protect_due(ctx.now()) {
        run_decisions(ctx, &mut state, l, Vec::new())?;
    }
    // Order events first: fills of the bot's orders since the last tick.
    let events = order_events(&state, bot, changes);
    let filled = changes.fills.iter().any(|(_, f)| f.bot_id == Some(bot));
    if running && !events.is_empty() {
        let mut out = Vec::new();
        {
            let v = l.view(&state);
            let engine = &mut l.engine;
            guarded(|| {
                for ev in &events {
                    engine.on_order(ev, &v, &mut out);
                }
            })?;
        }
        run_decisions(ctx, &mut state, l, out)?;
    }
    record_fills(ctx, bot, changes);
    // Closed bars.
    let mut handled_bar = None;
    for (symbol, minute) in &changes.bars {
        let Some(slot) = l.rec.symbols.iter().position(|s| s == symbol) else {
            continue;
        };
        for bar in l.closers[slot].push(minute) {
            let candle = Candle::from_bar(&bar);
            let mut out = Vec::new();
            {
                let v = l.view(&state);
                let engine = &mut l.engine;
                guarded(|| {
                    if running {
                        engine.on_bar(slot, &candle, &v, &mut out);
                    } else {
                        // Paused: indicators stay current, nothing is decided.
                        engine.warm(slot, &candle, &v);
                    }
                })?;
            }
            run_decisions(ctx, &mut state, l, out)?;
            handled_bar = Some(Timestamp(bar.open_time.millis().saturating_add(bar_ms(l))));
        }
    }
    // Ticks: the last price of each of the bot's symbols.
    if running {
        for (slot, symbol) in l.rec.symbols.clone().iter().enumerate() {
            let Some(idx) = state.venue.index_of(symbol.as_str()) else {
                continue;
            };
            let price = state.venue.last(idx);
            let mut out = Vec::new();
            {
                let v = l.view(&state);
                let (engine, now) = (&mut l.engine, ctx.now());
                guarded(|| engine.on_tick(slot, price, now, &v, &mut out))?;
            }
            if !out.is_empty() {
                run_decisions(ctx, &mut state, l, out)?;
            }
        }
    }
    if running
        && (filled || handled_bar.is_some())
        && let Some(why) = protect::tripped(ctx, &state, l, filled, handled_bar.is_some())?
    {
        lifecycle::pause_with(ctx, &mut state, l, why).map_err(|e| e.message)?;
    }
    if let Some(t) = handled_bar {
        let equity = book_equity(&state, l.account, bot).unwrap_or(Notional::ZERO);
        let engine = &mut l.engine;
        let saved = guarded(|| engine.save())?;
        let mut store = ctx.store();
        store
            .write(|tx| {
                db::insert_bot_equity(tx, bot, t, Qty::new(equity.get()))?;
                db::save_bot_state(tx, bot, &saved)
            })
            .map_err(|e| format!("cannot save the bot's state: {e}"))?;
        crate::services::exchange::invalidate_bot(&ctx.cache, bot);
    }
    Ok(())
}

/// Whether risk has halted the bot's account or the bot itself.
fn halted(state: &State, rec: &BotRecord) -> bool {
    [
        tradedesk_core::risk::Scope::Account(rec.account.clone()),
        tradedesk_core::risk::Scope::Bot(rec.id),
    ]
    .iter()
    .any(|s| state.risk.state_of(s) == tradedesk_core::risk::TradingState::Halted)
}

fn bar_ms(l: &Live) -> i64 {
    l.rec.spec.interval.millis()
}
