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

use crate::store::Store;
use crate::store::bots as db;
use crate::store::trading as tdb;
use rust_decimal::Decimal;
use tradedesk_core::api::bots::{
    BotEvent, BotEventKind, BotEventsTopic, BotFigures, BotRecord, BotStatus, BotStatusTopic,
    BotView,
};
use tradedesk_core::api::{ApiError, ErrorCode};
use tradedesk_core::engine::{Decision, Engine, EngineConfig, Intent, OrderEvent};
use tradedesk_core::instrument::Symbol;
use tradedesk_core::ledger::Position;
use tradedesk_core::market::{Bar, Interval};
use tradedesk_core::money::{Notional, Qty};
use tradedesk_core::order::{OrderType, Side, ValidOrder};
use tradedesk_core::portfolio::{OpenOrder, Portfolio};
use tradedesk_core::strategy::{Candle, Registry};
use tradedesk_core::time::Timestamp;

use crate::config::OnFailure;
use crate::context::Ctx;
use crate::services::exchange::{Changes, State, store_err};
use crate::services::panic_text;

/// How many rounds of decide → execute → feed back one event may cause.
const MAX_ROUNDS: usize = 8;

/// Cuts a stream of closed 1-minute bars into closed bars of an interval.
#[derive(Debug, Clone)]
struct Closer {
    interval: Interval,
    forming: Option<Bar>,
}

impl Closer {
    fn new(interval: Interval) -> Closer {
        Closer {
            interval,
            forming: None,
        }
    }

    /// Adds a closed minute; returns the interval bars it completed.
    fn push(&mut self, m: &Bar) -> Vec<Bar> {
        let ms = self.interval.millis();
        let start = m.open_time.floor_to(ms);
        let mut out = Vec::new();
        match &mut self.forming {
            Some(f) if f.open_time == start => f.merge(m),
            Some(f) if f.open_time > start => return out,
            _ => {
                // A minute of a later interval: the one forming is complete.
                if let Some(f) = self.forming.take() {
                    out.push(f);
                }
                self.forming = Some(Bar {
                    open_time: start,
                    ..*m
                });
            }
        }
        if m.open_time.millis().saturating_add(60_000) >= start.millis().saturating_add(ms)
            && let Some(f) = self.forming.take()
        {
            out.push(f);
        }
        out
    }
}

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

/// Who a bot's orders are placed for: its id, account and owner.
#[derive(Debug, Clone)]
struct Actor {
    id: u64,
    account: usize,
    owner: String,
    /// Orders only close positions (a flatten): approved in any trading state.
    closing: bool,
    /// The bot's symbols, by engine slot.
    symbols: Vec<Symbol>,
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

/// The engine's view of a bot's book.
struct BookView<'a> {
    state: &'a State,
    account: usize,
    bot: u64,
}

impl Portfolio for BookView<'_> {
    fn position(&self, symbol: &Symbol) -> Position {
        self.state.accounts[self.account]
            .books
            .bots
            .get(&self.bot)
            .and_then(|b| b.positions.get(symbol).copied())
            .unwrap_or_default()
    }

    fn free(&self, asset: &str) -> Qty {
        self.state.accounts[self.account]
            .books
            .balance(Some(self.bot), asset)
            .free
    }

    fn equity(&self) -> Decimal {
        book_equity(self.state, self.account, self.bot).map_or(Decimal::ZERO, Notional::get)
    }

    fn open_orders(&self, symbol: &Symbol) -> Vec<OpenOrder> {
        self.state
            .open
            .values()
            .filter(|o| o.bot_id == Some(self.bot) && &o.symbol == symbol)
            .map(|o| OpenOrder {
                tag: o.client_order_id.clone(),
                side: o.side,
                order_type: o.order_type,
                price: o.price,
                open_qty: o.open_qty(),
            })
            .collect()
    }
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

/// A book's balances valued in the quote asset at the last prices: quote
/// assets at face value, base assets at their symbol's last trade.
pub fn book_equity(state: &State, account: usize, bot: u64) -> Option<Notional> {
    let sub = state.accounts[account].books.bots.get(&bot)?;
    Some(Notional::new(state.ledger_value(&sub.ledger)))
}

/// Runs strategy code; a panic becomes an error naming it. Only engine
/// calls are guarded this way: a panic there never unwinds through the
/// exchange's lock (which would suspend trading for everyone).
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| format!("panicked: {}", panic_text(p.as_ref())))
}

/// A bot's book and what it is worth now (`account`: its account's index).
pub fn figures(state: &State, account: usize, bot: u64) -> BotFigures {
    let acc = &state.accounts[account];
    let sub = acc.books.bots.get(&bot);
    BotFigures {
        id: bot,
        balances: sub.map(|s| s.ledger.balances().clone()).unwrap_or_default(),
        positions: sub
            .map(|s| {
                s.positions
                    .iter()
                    .map(|(symbol, p)| state.mark_position(&acc.row.name, symbol, p))
                    .collect()
            })
            .unwrap_or_default(),
        equity: book_equity(state, account, bot),
        pnl: pnl(state, account, bot),
    }
}

/// What a bot was given, valued at the last prices.
pub fn allocated_value(state: &State, account: usize, bot: u64) -> Option<Decimal> {
    let sub = state.accounts[account].books.bots.get(&bot)?;
    Some(state.assets_value(sub.allocated.iter().map(|(a, q)| (a.as_str(), q.get()))))
}

/// A bot's PnL after fees: its equity less its allocation, both valued at
/// the last prices. The one definition the list, the dashboard and
/// `bots.performance` show.
pub fn pnl(state: &State, account: usize, bot: u64) -> Option<Notional> {
    let equity = book_equity(state, account, bot)?.get();
    let given = allocated_value(state, account, bot)?;
    equity
        .checked_sub(given)
        .map(|d| Notional::new(d.normalize()))
}

/// The view of a bot clients get: its row, its book, its equity.
pub fn view(state: &State, rec: &BotRecord) -> BotView {
    let f = state
        .account_index(&rec.account)
        .map(|a| figures(state, a, rec.id));
    let (balances, positions, equity, pnl) = f.map_or_else(Default::default, |f| {
        (f.balances, f.positions, f.equity, f.pnl)
    });
    BotView {
        bot: rec.clone(),
        balances,
        positions,
        equity,
        pnl,
        warnings: Vec::new(),
    }
}

/// What to know about a bot's strategy with the venue's fees.
pub fn warnings(registry: &Registry, state: &State, rec: &BotRecord) -> Vec<String> {
    registry
        .build(&rec.spec)
        .map(|(s, _)| s.warnings(state.fee_rates()))
        .unwrap_or_default()
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
        let account = state.account(Some(&rec.account))?;
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
                Ok(Ok(())) => continue,
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
            ctx.hub.publish::<BotEventsTopic>(&ev);
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
    ctx.hub.publish::<BotStatusTopic>(&view(state, rec));
    Ok(())
}

/// Stops a failed bot: status `error` with the reason; its non-protective
/// orders are cancelled. Its position is never left without an exit order
/// unless that cannot be helped: by `bots.on_failure`, its protective exits
/// are kept (and placed now if they were missing), or the position is sold
/// at market; a position left without any exit order raises an alert.
fn fail(ctx: &Ctx, l: &mut Live, why: String) {
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
fn unprotected(state: &State, l: &Live) -> Vec<(Symbol, Qty)> {
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

/// The decisions of (re)starting a bot: a grid lays its ladder, exits are
/// checked.
pub fn start_decisions(state: &State, l: &mut Live) -> Result<Vec<Decision>, String> {
    let v = l.view(state);
    let mut out = Vec::new();
    let engine = &mut l.engine;
    guarded(|| engine.start(&v, &mut out))?;
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
    if let Some(t) = handled_bar {
        let equity = book_equity(&state, l.account, bot).unwrap_or(Notional::ZERO);
        let engine = &l.engine;
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

/// The bot's order events in a batch of changes: one per fill, and one per
/// status change without a fill.
fn order_events(state: &State, bot: u64, changes: &Changes) -> Vec<OrderEvent> {
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
            });
        }
    }
    out
}

fn record_fills(ctx: &Ctx, bot: u64, changes: &Changes) {
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
        if l.rec.status == BotStatus::Running {
            let events = order_events(state, bot, &changes);
            let v = l.view(state);
            let engine = &mut l.engine;
            guarded(|| {
                for ev in &events {
                    engine.on_order(ev, &v, &mut out);
                }
            })?;
        }
    }
    Err(format!(
        "its decisions did not settle after {MAX_ROUNDS} rounds"
    ))
}

/// Puts exits before entries: what protects a position is never queued
/// behind what grows one (the order is otherwise kept, so a cancel stays
/// before the placement that needs its funds).
fn exits_first(out: &mut [Decision]) {
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
fn execute(ctx: &Ctx, state: &mut State, a: &Actor, decisions: Vec<Decision>) -> (Changes, usize) {
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
fn place_oco(
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

fn describe(i: &Intent, qty: Qty, status: tradedesk_core::order::OrderStatus) -> String {
    let at = match (i.price, i.stop_price, i.trail) {
        (Some(p), _, _) => format!(" at {p}"),
        (None, Some(s), _) => format!(" stop {s}"),
        (None, None, Some(t)) => format!(
            " trailing {}",
            serde_json::to_string(&t).unwrap_or_default()
        ),
        _ => String::new(),
    };
    format!(
        "{} {} {qty} {}{at} ({}): {}",
        i.side.as_str(),
        i.order_type.as_str(),
        i.symbol,
        i.tag,
        status.as_str()
    )
}

fn valid(state: &State, i: &Intent) -> Result<tradedesk_core::order::ValidOrder, ApiError> {
    let inst = state
        .instrument(&i.symbol)
        .ok_or_else(|| ApiError::invalid_params(format!("symbol {} is not listed", i.symbol)))?;
    i.request()
        .validate(inst)
        .map_err(|e| ApiError::invalid_params(format!("field `{}`: {e}", e.field())))
}

/// Places one intent on the bot's book. A market buy the book cannot pay
/// for at the current book walk is shrunk once to what it can.
fn place(
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
                && intent.order_type == OrderType::Market
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

// ---- lifecycle operations (called by the handlers) ------------------------

/// "bot 3 is stopped; only a running bot can be paused".
fn not_in_state(rec: &BotRecord, wanted: &str, verb: &str) -> ApiError {
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
        let mut out = Vec::new();
        {
            let v = l.view(&state);
            let engine = &mut l.engine;
            guarded(|| engine.pause(&v, &mut out)).map_err(ApiError::internal)?;
        }
        let mut rec = l.rec.clone();
        set_status(ctx, &state, &mut rec, BotStatus::Paused, None)?;
        l.rec = rec;
        let _ = execute(ctx, &mut state, &l.actor(), out);
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
        let account = state.account(Some(&rec.account))?;
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

    fn current_view(ctx: &Ctx, state: &State, id: u64) -> Result<BotView, ApiError> {
        let rec = db::bot_by_id(ctx.store().conn(), id)
            .map_err(|e| store_err(&e))?
            .ok_or_else(|| ApiError::not_found("bot", id))?;
        Ok(view(state, &rec))
    }

    fn not_in(ctx: &Ctx, id: u64, wanted: &str, verb: &str) -> ApiError {
        let stored = db::bot_by_id(ctx.store().conn(), id);
        match stored {
            Ok(Some(rec)) => not_in_state(&rec, wanted, verb),
            Ok(None) => ApiError::not_found("bot", id),
            Err(e) => store_err(&e),
        }
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
