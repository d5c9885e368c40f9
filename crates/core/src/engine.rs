//! The deterministic trading engine shared by backtests, paper bots and
//! live bots: events in (closed bars, order updates and fills, timers),
//! decisions out (orders to place, orders to cancel, log lines).
//!
//! It never reads the clock or does I/O: time comes with the events,
//! randomness from a seeded generator, and what the bot holds from a
//! [`Portfolio`] the caller keeps (the daemon's bot book, or the
//! backtester's). Fed the same events over the same portfolio, it makes
//! the same decisions, in the same order, with the same client order ids.
//!
//! The caller's loop: feed an event, carry out the decisions, feed back the
//! order events they caused, then call [`Engine::after`] (which keeps the
//! protective exits in step with the position) and carry out its
//! decisions, until there are none.
//!
//! Orders are tagged as [`crate::portfolio`] describes; sizing is in
//! [`sizing`].

#![deny(clippy::arithmetic_side_effects)]

use rust_decimal::Decimal;

use crate::instrument::{Instrument, Symbol};
use crate::market::Interval;
use crate::money::price_on_grid;
use crate::money::{Price, Qty};
use crate::order::{OrderRequest, OrderStatus, OrderType, Side, Terms, TimeInForce};
use crate::portfolio::{Portfolio, Role, parse_tag};
use crate::sim::Rng;
use crate::strategy::{
    Action, Candle, Cx, Exits, KeyedFill, Protections, Sizing, SizingMode, Strategy,
};
use crate::time::Timestamp;

mod exits;
mod tags;

pub mod sizing;

pub use sizing::{SizeError, size};

/// An order the engine wants placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub tag: String,
    pub symbol: Symbol,
    pub side: Side,
    pub qty: Qty,
    pub terms: Terms,
    pub role: Role,
}

impl Intent {
    /// A market order.
    pub fn market(tag: String, symbol: Symbol, side: Side, qty: Qty, role: Role) -> Intent {
        Intent {
            tag,
            symbol,
            side,
            qty,
            terms: Terms::Market,
            role,
        }
    }

    /// The order request, with the tag as its client order id.
    pub fn request(&self) -> OrderRequest {
        OrderRequest {
            symbol: self.symbol.clone(),
            side: self.side,
            order_type: self.terms.order_type(),
            qty: self.qty,
            price: self.terms.price(),
            stop_price: self.terms.stop_price(),
            trail: self.terms.trail(),
            time_in_force: Some(TimeInForce::Gtc),
            client_order_id: Some(self.tag.clone()),
            account: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Place(Intent),
    /// A take-profit limit and a stop that cancel each other. `tag` is the
    /// pair's; the legs' client ids are `<tag>-limit` and `<tag>-stop`.
    PlaceOco {
        tag: String,
        limit: Intent,
        stop: Intent,
    },
    Cancel {
        tag: String,
    },
    /// A log line about the strategy of slot `slot` (see [`Engine::symbol`]).
    Log {
        slot: usize,
        message: std::borrow::Cow<'static, str>,
    },
}

/// Why a forced entry or exit (`bots.enter`, `bots.exit`) places nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The quantity asked for cannot be traded (lot, minimum).
    Qty(String),
    /// The bot's state does not allow it now (nothing held, an order
    /// working, no price, no funds).
    State(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Qty(m) | Refusal::State(m) => f.write_str(m),
        }
    }
}

/// An update of one of the bot's orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub tag: String,
    pub symbol: Symbol,
    pub side: Side,
    pub status: OrderStatus,
    /// The fill this update carries, if any: quantity and price.
    pub fill: Option<(Qty, Price)>,
    pub time: Timestamp,
    /// The order's type (a protective stop's fill starts a cooldown).
    pub order_type: OrderType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Client order id prefix, unique per bot (`b7`).
    pub prefix: String,
    pub sizing: Sizing,
    pub exits: Exits,
    /// The taker fee rate, to size entries so that they can pay it.
    pub fee_rate: Decimal,
    pub interval: Interval,
    pub seed: u64,
    /// Market entries sized by percent or quote amount are sized by the
    /// caller when they fill (a backtest's next-open fills), and carry a
    /// zero quantity until then.
    pub size_at_fill: bool,
}

struct Slot {
    instrument: Instrument,
    tick_f64: f64,
    strategy: Box<dyn Strategy>,
    /// The last close, as f64 and exact.
    last: Option<(f64, Option<Price>)>,
    now: Timestamp,
    /// Bars left in a cooldown after a protective stop filled.
    cooldown: u32,
}

pub struct Engine {
    cfg: EngineConfig,
    slots: Vec<Slot>,
    seq: u64,
    rng: Rng,
    scratch: Vec<Action>,
    /// Why the strategy was stopped ([`Action::Fail`]); it is not called again.
    fault: Option<String>,
    protections: Protections,
    /// No new entry until this bar close time, and why (a backtest's
    /// protection: losing trades, daily loss).
    locked: Option<(Timestamp, String)>,
}

impl Engine {
    /// One slot per symbol, each with its own strategy instance.
    pub fn new(cfg: EngineConfig, slots: Vec<(Instrument, Box<dyn Strategy>)>) -> Engine {
        Engine {
            rng: Rng::new(cfg.seed),
            cfg,
            slots: slots
                .into_iter()
                .map(|(instrument, strategy)| Slot {
                    tick_f64: rust_decimal::prelude::ToPrimitive::to_f64(
                        &instrument.tick_size.get(),
                    )
                    .unwrap_or(0.0),
                    instrument,
                    strategy,
                    last: None,
                    now: Timestamp(0),
                    cooldown: 0,
                })
                .collect(),
            seq: 1,
            scratch: Vec::new(),
            fault: None,
            protections: Protections::default(),
            locked: None,
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// The protections it applies itself: the cooldown after a protective
    /// stop (the caller keeps the others, see [`Engine::lock_entries`]).
    pub fn set_protections(&mut self, p: Protections) {
        self.protections = p;
    }

    pub fn protections(&self) -> &Protections {
        &self.protections
    }

    /// Holds back every new entry until bars close at `until` or later.
    pub fn lock_entries(&mut self, until: Timestamp, why: String) {
        if self.locked.as_ref().is_none_or(|(t, _)| *t < until) {
            self.locked = Some((until, why));
        }
    }

    /// Why an entry in `slot` is held back now, if it is.
    fn held_back(&self, slot: usize) -> Option<String> {
        let s = self.slots.get(slot)?;
        if s.cooldown > 0 {
            return Some(format!(
                "entry held back: cooling down after a stop ({} bars left)",
                s.cooldown
            ));
        }
        match &self.locked {
            Some((until, why)) if s.now < *until => Some(format!("entry held back: {why}")),
            _ => None,
        }
    }

    /// The next tag sequence number (restored from the stored orders).
    pub fn set_next_seq(&mut self, seq: u64) {
        self.seq = seq.max(1);
    }

    pub fn next_seq(&self) -> u64 {
        self.seq
    }

    /// The symbol of a slot.
    pub fn symbol(&self, slot: usize) -> Option<&Symbol> {
        self.slots.get(slot).map(|s| &s.instrument.symbol)
    }

    pub fn slot_of(&self, symbol: &Symbol) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| &s.instrument.symbol == symbol)
    }

    pub fn symbols(&self) -> impl Iterator<Item = &Symbol> {
        self.slots.iter().map(|s| &s.instrument.symbol)
    }

    /// Bars to replay before the first live bar.
    pub fn warmup(&self) -> usize {
        self.slots
            .iter()
            .map(|s| s.strategy.warmup())
            .max()
            .unwrap_or(0)
    }

    /// Bars until every strategy's indicators have a first value.
    pub fn lookback(&self) -> usize {
        self.slots
            .iter()
            .map(|s| s.strategy.lookback())
            .max()
            .unwrap_or(0)
    }

    /// Replays a past bar into the strategy; what it asks for is dropped.
    pub fn warm<P: Portfolio>(&mut self, slot: usize, bar: &Candle, p: &P) {
        let mut out = Vec::new();
        self.run(slot, bar, p, &mut out);
        self.cool(slot);
        // A failure is never dropped with the rest.
        for a in self.scratch.drain(..) {
            if let Action::Fail(why) = a {
                self.fault.get_or_insert(why);
            }
        }
    }

    /// Why the strategy stopped for good, if it did ([`Action::Fail`]):
    /// a bot running it must stop with this reason.
    pub fn fault(&self) -> Option<&str> {
        self.fault.as_deref()
    }

    /// Sets the last price of a slot (e.g. from a ticker) without a bar.
    pub fn set_last(&mut self, slot: usize, price: Price, now: Timestamp) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.last = Some((
                rust_decimal::prelude::ToPrimitive::to_f64(&price.get()).unwrap_or(0.0),
                Some(price),
            ));
            s.now = now;
        }
    }

    fn run<P: Portfolio>(&mut self, slot: usize, bar: &Candle, p: &P, _out: &mut Vec<Decision>) {
        if self.fault.is_some() {
            return;
        }
        let Engine {
            cfg,
            slots,
            rng,
            scratch,
            ..
        } = self;
        let Some(s) = slots.get_mut(slot) else {
            return;
        };
        s.now = Timestamp(bar.time.millis().saturating_add(cfg.interval.millis()));
        s.last = None;
        let mut cx = Cx {
            now: s.now,
            close: bar.close,
            exact_last: None,
            instrument: &s.instrument,
            portfolio: p,
            prefix: &cfg.prefix,
            rng,
            actions: scratch,
        };
        s.strategy.on_bar(bar, &mut cx);
        // The exact last price is computed only when something needs it.
        s.last = Some((bar.close, None));
    }

    fn last_price(&mut self, slot: usize) -> Option<Price> {
        let s = self.slots.get_mut(slot)?;
        let (f, exact) = s.last?;
        if let Some(p) = exact {
            return Some(p);
        }
        let p = price_on_grid(f, s.instrument.tick_size, s.tick_f64);
        s.last = Some((f, Some(p)));
        Some(p)
    }

    /// A closed bar of `slot`'s symbol.
    #[inline]
    pub fn on_bar<P: Portfolio>(
        &mut self,
        slot: usize,
        bar: &Candle,
        p: &P,
        out: &mut Vec<Decision>,
    ) {
        self.run(slot, bar, p, out);
        if !self.scratch.is_empty() {
            self.apply(slot, p, out);
        }
        self.cool(slot);
    }

    /// A bar closed: one fewer bar of cooldown.
    #[inline]
    fn cool(&mut self, slot: usize) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.cooldown = s.cooldown.saturating_sub(1);
        }
    }

    /// A market tick: the last trade price of `slot`'s symbol.
    pub fn on_tick<P: Portfolio>(
        &mut self,
        slot: usize,
        price: Price,
        now: Timestamp,
        p: &P,
        out: &mut Vec<Decision>,
    ) {
        self.set_last(slot, price, now);
        self.call(slot, p, out, |st, cx| st.on_tick(cx));
    }

    /// Lets every strategy act once before live bars (a grid lays its ladder).
    pub fn start<P: Portfolio>(&mut self, p: &P, out: &mut Vec<Decision>) {
        for slot in 0..self.slots.len() {
            self.call(slot, p, out, |st, cx| st.on_start(cx));
        }
    }

    /// Runs `f` on a slot's strategy with a context at its last price.
    fn call<P: Portfolio>(
        &mut self,
        slot: usize,
        p: &P,
        out: &mut Vec<Decision>,
        f: impl FnOnce(&mut dyn Strategy, &mut Cx<'_>),
    ) {
        if self.fault.is_some() {
            return;
        }
        let Some(last) = self.last_price(slot) else {
            return;
        };
        let Engine {
            cfg,
            slots,
            rng,
            scratch,
            ..
        } = self;
        let s = &mut slots[slot];
        let mut cx = Cx {
            now: s.now,
            close: 0.0,
            exact_last: Some(last),
            instrument: &s.instrument,
            portfolio: p,
            prefix: &cfg.prefix,
            rng,
            actions: scratch,
        };
        f(s.strategy.as_mut(), &mut cx);
        if !self.scratch.is_empty() {
            self.apply(slot, p, out);
        }
    }

    /// An update of one of the bot's orders (fills of keyed orders go to
    /// the strategy).
    pub fn on_order<P: Portfolio>(&mut self, ev: &OrderEvent, p: &P, out: &mut Vec<Decision>) {
        let Some((_, role)) = parse_tag(&self.cfg.prefix, &ev.tag) else {
            return;
        };
        let Some(slot) = self.slot_of(&ev.symbol) else {
            return;
        };
        let stop = matches!(
            ev.order_type,
            OrderType::StopMarket | OrderType::StopLimit | OrderType::TrailingStop
        );
        if role == Role::Protect && stop && ev.fill.is_some() && self.protections.cooldown_bars > 0
        {
            self.slots[slot].cooldown = self.protections.cooldown_bars;
        }
        if let (Role::Keyed(key), Some((qty, price))) = (role, ev.fill) {
            let fill = KeyedFill {
                key,
                side: ev.side,
                qty,
                price,
                complete: ev.status.is_terminal(),
            };
            self.slots[slot].now = self.slots[slot].now.max(ev.time);
            self.call(slot, p, out, |st, cx| st.on_fill(&fill, cx));
        }
    }

    fn log(
        slot: usize,
        out: &mut Vec<Decision>,
        message: impl Into<std::borrow::Cow<'static, str>>,
    ) {
        out.push(Decision::Log {
            slot,
            message: message.into(),
        });
    }

    /// The quantity the sizing rule buys at `price`, or why none.
    pub fn size<P: Portfolio>(&self, slot: usize, price: Price, p: &P) -> Result<Qty, SizeError> {
        size(
            &self.cfg.sizing,
            self.cfg.fee_rate,
            &self.slots[slot].instrument,
            price,
            p,
        )
    }

    fn apply<P: Portfolio>(&mut self, slot: usize, p: &P, out: &mut Vec<Decision>) {
        let actions = std::mem::take(&mut self.scratch);
        // A call that failed is void: nothing it asked for is carried out.
        if let Some(why) = actions.iter().find_map(|a| match a {
            Action::Fail(why) => Some(why.clone()),
            _ => None,
        }) {
            Self::log(slot, out, format!("strategy stopped: {why}"));
            self.fault.get_or_insert(why);
            let mut actions = actions;
            actions.clear();
            self.scratch = actions;
            return;
        }
        let symbol = self.slots[slot].instrument.symbol.clone();
        for a in &actions {
            match a {
                Action::Log(m) => Self::log(slot, out, m.clone()),
                Action::Enter | Action::Add => {
                    self.enter(slot, &symbol, *a == Action::Enter, Side::Buy, p, out);
                }
                Action::Short => self.enter(slot, &symbol, true, Side::Sell, p, out),
                Action::Exit => {
                    self.exit(slot, p, out, "exit signal: closing the position at market");
                }
                Action::Limit {
                    key,
                    side,
                    price,
                    qty,
                } => {
                    if key.is_empty()
                        || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    {
                        Self::log(slot, out, format!("limit order skipped: bad key `{key}`"));
                        continue;
                    }
                    let inst = &self.slots[slot].instrument;
                    let qty = match qty {
                        Some(q) => q.floor_to(inst.lot_size).unwrap_or(Qty::ZERO),
                        None => match self.size(slot, *price, p) {
                            Ok(q) => q,
                            Err(why) => {
                                Self::log(slot, out, format!("limit `{key}` skipped: {why}"));
                                continue;
                            }
                        },
                    };
                    if !qty.is_positive() {
                        continue;
                    }
                    let role = Role::Keyed(key.clone());
                    let tag = self.tag(&role);
                    out.push(Decision::Place(Intent {
                        tag,
                        symbol: symbol.clone(),
                        side: *side,
                        qty,
                        terms: Terms::Limit { price: *price },
                        role,
                    }));
                }
                Action::Fail(_) => {}
                Action::Cancel { key } => {
                    for o in p.open_orders(&symbol) {
                        if parse_tag(&self.cfg.prefix, &o.tag).map(|t| t.1)
                            == Some(Role::Keyed(key.clone()))
                        {
                            out.push(Decision::Cancel { tag: o.tag });
                        }
                    }
                }
            }
        }
        let mut actions = actions;
        actions.clear();
        self.scratch = actions;
    }

    /// A market order to enter (`side` Buy: long, Sell: short) or add to
    /// a long position, unless an entry or exit is working or the position
    /// already faces that way (to enter). A position facing the other way
    /// is closed first, at market, and the entry follows it: a reversal
    /// with no flat gap (backtesting.py's `exclusive_orders`).
    fn enter<P: Portfolio>(
        &mut self,
        slot: usize,
        symbol: &Symbol,
        entry: bool,
        side: Side,
        p: &P,
        out: &mut Vec<Decision>,
    ) {
        let working = self.working(symbol, p, &[Role::Entry, Role::Add, Role::Exit]);
        if working {
            return;
        }
        let held = p.position(symbol).qty;
        let (facing, opposite) = match side {
            Side::Buy => (held.is_positive(), held.is_negative()),
            Side::Sell => (held.is_negative(), held.is_positive()),
        };
        if entry && facing {
            return;
        }
        // A protection holds back the new position, never the exit of
        // the one facing the other way.
        let held_back = self.held_back(slot);
        if opposite {
            if !entry {
                return; // adding to a long while short: nothing to add to
            }
            let why = if held_back.is_some() {
                "opposite signal: closing the position at market"
            } else {
                "reversing: closing the position at market"
            };
            self.exit(slot, p, out, why);
        }
        if let Some(why) = held_back {
            Self::log(slot, out, why);
            return;
        }
        let Some(last) = self.last_price(slot) else {
            return;
        };
        // A backtest's broker sizes market entries at their fill price (so
        // a reversal's entry is sized after its exit); a fixed quantity is
        // the same either way.
        let sized = if self.cfg.size_at_fill && self.cfg.sizing.mode != SizingMode::FixedQty {
            Ok(Qty::ZERO)
        } else if let Some(room) = p.margin_room() {
            let budget = self.entry_budget(slot, side, held, last, room, p);
            sizing::size_within(
                &self.cfg.sizing,
                self.cfg.fee_rate,
                &self.slots[slot].instrument,
                last,
                p,
                budget,
            )
        } else {
            self.size(slot, last, p)
        };
        match sized {
            Ok(qty) => {
                let role = if entry { Role::Entry } else { Role::Add };
                let tag = self.tag(&role);
                out.push(Decision::Place(Intent::market(
                    tag,
                    symbol.clone(),
                    side,
                    qty,
                    role,
                )));
            }
            Err(why) => Self::log(slot, out, format!("entry skipped: {why}")),
        }
    }

    /// What an entry on a margin account may spend, decided together with
    /// the exit of a position facing the other way (`held`): a long is
    /// bought with the free quote less what buying back a short costs; a
    /// short takes up to the margin room, plus the gross value the closed
    /// long frees.
    fn entry_budget<P: Portfolio>(
        &self,
        slot: usize,
        side: Side,
        held: Qty,
        price: Price,
        room: Decimal,
        p: &P,
    ) -> Decimal {
        let quote = &self.slots[slot].instrument.quote;
        let value = held.abs().get().saturating_mul(price.get());
        match side {
            Side::Buy => {
                let cover = if held.is_negative() {
                    value.saturating_mul(Decimal::ONE.saturating_add(self.cfg.fee_rate))
                } else {
                    Decimal::ZERO
                };
                p.free(quote).get().saturating_sub(cover)
            }
            Side::Sell => {
                let freed = if held.is_positive() {
                    value
                } else {
                    Decimal::ZERO
                };
                room.saturating_add(freed)
            }
        }
        .max(Decimal::ZERO)
    }

    /// Cancels the symbol's orders and closes what is held at market: sells
    /// a long, buys back a short.
    fn exit<P: Portfolio>(
        &mut self,
        slot: usize,
        p: &P,
        out: &mut Vec<Decision>,
        why: &'static str,
    ) {
        let symbol = self.slots[slot].instrument.symbol.clone();
        if self.working(&symbol, p, &[Role::Exit]) {
            return;
        }
        if p.any_open(&symbol, &mut |_| true) {
            for o in p.open_orders(&symbol) {
                out.push(Decision::Cancel { tag: o.tag });
            }
        }
        let lot = self.slots[slot].instrument.lot_size;
        let held = p.position(&symbol).qty;
        let side = if held.is_negative() {
            Side::Buy
        } else {
            Side::Sell
        };
        let qty = held.abs().floor_to(lot).unwrap_or(Qty::ZERO);
        if qty.is_positive() {
            Self::log(slot, out, why);
            let tag = self.tag(&Role::Exit);
            out.push(Decision::Place(Intent::market(
                tag,
                symbol,
                side,
                qty,
                Role::Exit,
            )));
        }
    }

    /// A forced entry (a trader's `bots.enter`): a market buy of `qty`
    /// (floored to the lot), or of the sizing rule's size when none, that
    /// opens a long position or adds to one. Why nothing can be placed is
    /// the error; nothing is decided then.
    pub fn force_enter<P: Portfolio>(
        &mut self,
        slot: usize,
        qty: Option<Qty>,
        p: &P,
        out: &mut Vec<Decision>,
    ) -> Result<Qty, Refusal> {
        let inst = self
            .slots
            .get(slot)
            .ok_or_else(|| Refusal::State("no such symbol".into()))?
            .instrument
            .clone();
        if self.working(&inst.symbol, p, &[Role::Entry, Role::Add, Role::Exit]) {
            return Err(Refusal::State(format!(
                "an entry or exit of {} is already working",
                inst.symbol
            )));
        }
        let held = p.position(&inst.symbol).qty;
        if held.is_negative() {
            return Err(Refusal::State(format!(
                "the bot is short {}: exit first",
                inst.symbol
            )));
        }
        let last = self
            .last_price(slot)
            .ok_or_else(|| Refusal::State(format!("no price for {} yet", inst.symbol)))?;
        let qty = match qty {
            Some(q) => {
                let q = q.floor_to(inst.lot_size).unwrap_or(Qty::ZERO);
                if q.is_zero() || q < inst.min_qty {
                    return Err(Refusal::Qty(format!(
                        "qty {q} (on the lot grid {}) is below the minimum {}",
                        inst.lot_size, inst.min_qty
                    )));
                }
                q
            }
            None => self
                .size(slot, last, p)
                .map_err(|e| Refusal::State(e.to_string()))?,
        };
        let role = if held.is_positive() {
            Role::Add
        } else {
            Role::Entry
        };
        Self::log(slot, out, format!("manual entry: buying {qty} at market"));
        let tag = self.tag(&role);
        out.push(Decision::Place(Intent::market(
            tag,
            inst.symbol,
            Side::Buy,
            qty,
            role,
        )));
        Ok(qty)
    }

    /// A forced exit (a trader's `bots.exit`): all of the position at
    /// market (its orders cancelled, as an exit signal does), or `qty` of
    /// it (its protective exits cancelled, placed again for what is left
    /// once the sale fills).
    pub fn force_exit<P: Portfolio>(
        &mut self,
        slot: usize,
        qty: Option<Qty>,
        p: &P,
        out: &mut Vec<Decision>,
    ) -> Result<Qty, Refusal> {
        let inst = self
            .slots
            .get(slot)
            .ok_or_else(|| Refusal::State("no such symbol".into()))?
            .instrument
            .clone();
        if self.working(&inst.symbol, p, &[Role::Exit]) {
            return Err(Refusal::State(format!(
                "an exit of {} is already working",
                inst.symbol
            )));
        }
        let held = p.position(&inst.symbol).qty;
        let whole = held.abs().floor_to(inst.lot_size).unwrap_or(Qty::ZERO);
        if whole.is_zero() {
            return Err(Refusal::State(format!("the bot holds no {}", inst.symbol)));
        }
        let part = match qty {
            Some(q) => {
                let q = q.floor_to(inst.lot_size).unwrap_or(Qty::ZERO);
                if q.is_zero() {
                    return Err(Refusal::Qty(format!(
                        "qty is below the lot size {}",
                        inst.lot_size
                    )));
                }
                q
            }
            None => whole,
        };
        if part >= whole {
            self.exit(slot, p, out, "manual exit: closing the position at market");
            return Ok(whole);
        }
        for o in p.open_orders(&inst.symbol) {
            if parse_tag(&self.cfg.prefix, &o.tag).map(|t| t.1) == Some(Role::Protect) {
                out.push(Decision::Cancel { tag: o.tag });
            }
        }
        let side = if held.is_negative() {
            Side::Buy
        } else {
            Side::Sell
        };
        Self::log(
            slot,
            out,
            format!("manual exit: closing {part} of {whole} at market"),
        );
        let tag = self.tag(&Role::Exit);
        out.push(Decision::Place(Intent::market(
            tag,
            inst.symbol,
            side,
            part,
            Role::Exit,
        )));
        Ok(part)
    }

    /// Whether one of `roles`' orders of `symbol` is open.
    fn working<P: Portfolio>(&self, symbol: &Symbol, p: &P, roles: &[Role]) -> bool {
        p.any_open(symbol, &mut |tag| {
            parse_tag(&self.cfg.prefix, tag).is_some_and(|(_, r)| roles.contains(&r))
        })
    }

    /// Cancels everything and closes every position (stop with flatten).
    pub fn flatten<P: Portfolio>(&mut self, p: &P, out: &mut Vec<Decision>) {
        for slot in 0..self.slots.len() {
            self.exit(slot, p, out, "flatten: closing the position at market");
        }
    }

    /// The orders to cancel when the bot pauses: all but protective exits.
    pub fn pause<P: Portfolio>(&self, p: &P, out: &mut Vec<Decision>) {
        for s in &self.slots {
            for o in p.open_orders(&s.instrument.symbol) {
                if parse_tag(&self.cfg.prefix, &o.tag).map(|t| t.1) != Some(Role::Protect) {
                    out.push(Decision::Cancel { tag: o.tag });
                }
            }
        }
    }

    /// The strategies' own state, one entry per slot.
    /// The strategies' own state, one entry per slot; while a cooldown
    /// runs, with the bars left per slot:
    /// `{"strategies": [...], "cooldown": [...]}`.
    pub fn save(&mut self) -> serde_json::Value {
        let strategies =
            serde_json::Value::Array(self.slots.iter_mut().map(|s| s.strategy.save()).collect());
        if self.slots.iter().all(|s| s.cooldown == 0) {
            return strategies;
        }
        serde_json::json!({
            "strategies": strategies,
            "cooldown": self.slots.iter().map(|s| s.cooldown).collect::<Vec<_>>(),
        })
    }

    /// Takes back what [`Engine::save`] gave (either form).
    pub fn restore(&mut self, state: &serde_json::Value) -> Result<(), String> {
        let (items, cooldown) = match state {
            serde_json::Value::Object(m) => (m.get("strategies"), m.get("cooldown")),
            other => (Some(other), None),
        };
        if let Some(items) = items.and_then(serde_json::Value::as_array) {
            for (s, v) in self.slots.iter_mut().zip(items) {
                s.strategy.restore(v)?;
            }
        }
        if let Some(left) = cooldown.and_then(serde_json::Value::as_array) {
            for (s, n) in self.slots.iter_mut().zip(left) {
                s.cooldown = n
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0)
                    .min(self.protections.cooldown_bars);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // expectations are worked out plainly
mod tests;
