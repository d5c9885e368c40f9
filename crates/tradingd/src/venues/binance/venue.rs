//! Binance spot behind the [`Venue`] interface.
//!
//! The market is Binance's: trades and books from the market stream
//! ([`super::stream`]). Orders go one of two ways, by their account:
//!
//! - **live** (the `binance` account): sent over signed REST with our
//!   client order id; the answer (with its fills) is booked when it comes,
//!   and later executions arrive on the user stream. An answer that may
//!   have been lost is an unknown outcome: the order is looked up by its
//!   client id (`query`: its status and its trades), never sent again.
//! - **paper** (every other account): matched in this process by the
//!   simulator's engine against Binance's live book and trades.
//!
//! A reconciliation (at start, after the user stream reconnects, and every
//! `reconcile_every`) reads the venue's balances and open orders; the
//! execution service compares them with its own ([`Reconciliation`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tradedesk_core::instrument::Instrument;
use tradedesk_core::market::OrderBook;
use tradedesk_core::money::{Price, Qty};
use tradedesk_core::sim::matching::{Fees, MatchingEngine};
use tradedesk_core::time::Timestamp;
use tradedesk_core::venue::{
    Ack, Link as OrderLink, OrderId, Reopened, Submission, VenueEvent, VenueOrder,
};

use super::brackets::{self, Brackets, Waiting};
use super::orders::{Mapped, new_order};
use super::reports::{self, Ours};
use super::rest::{BinanceError, Rest};
use super::stream::{self, Feed, Links};
use super::trailing::Watched;
use crate::venues::sim::match_now;
use crate::venues::{Answer, Reconciliation, TradeUpdate, Venue, answered};

/// A live order the venue knows by our client id.
#[derive(Debug, Clone)]
struct Live {
    client_order_id: String,
    symbol: usize,
    ours: Ours,
}

/// What the reconciliation task last read, with the activity count
/// before and after the reads (a fill between them makes the balances
/// unfit to compare).
#[derive(Debug, Default)]
struct Read {
    balances: BTreeMap<String, Qty>,
    open: Vec<Value>,
    activity_before: u64,
    activity_after: u64,
}

pub struct BinanceVenue {
    rest: Arc<Rest>,
    instruments: Vec<Instrument>,
    feed: Arc<Mutex<Feed>>,
    /// The market as of the last poll.
    books: Vec<OrderBook>,
    last: Vec<Price>,
    /// Paper accounts' orders, matched here against the live market.
    paper: MatchingEngine,
    live: HashMap<OrderId, Live>,
    by_client: HashMap<String, OrderId>,
    /// Bumped by every live answer or report: the reconciliation compares
    /// balances only when nothing happened while it read them.
    activity: Arc<AtomicU64>,
    read: Arc<Mutex<Option<Read>>>,
    live_trading: bool,
    /// Set while a ban (418) has been reported.
    banned: bool,
    /// Trailing stops Binance cannot take, watched here.
    trailing: Vec<Watched>,
    /// Brackets whose exits wait for their entry (emulated).
    brackets: Brackets,
    /// Exits sent by a task once their entry was done, to book.
    emulated: Arc<Mutex<Vec<VenueEvent>>>,
    /// A restart's waiting exits and bracket entries, until both are in.
    restored_exits: HashMap<OrderId, Vec<VenueOrder>>,
    restored_entries: HashMap<OrderId, (OrderId, OrderId)>,
    runtime: tokio::runtime::Handle,
}

/// The venue's link state for `system.health`, read without the exchange
/// lock: the streams' state (a leaf lock) and the REST client's ban.
pub struct Link {
    feed: Arc<Mutex<Feed>>,
    rest: Arc<Rest>,
    live_trading: bool,
}

impl crate::venues::VenueLink for Link {
    fn health(&self) -> tradedesk_core::api::system::ComponentHealth {
        use tradedesk_core::api::system::{ComponentHealth, ComponentStatus};
        let (status, detail) = if let Some(left) = self.rest.banned_for() {
            (
                ComponentStatus::Suspended,
                Some(format!(
                    "binance banned this address (418) for {} s more; the live account is halted",
                    left.as_secs()
                )),
            )
        } else {
            let f = stream::lock(&self.feed);
            let synced = f.books.iter().filter(|b| b.synced()).count();
            let mut down = Vec::new();
            if !f.market_up {
                down.push("the market stream is down, reconnecting".to_owned());
            } else if synced < f.books.len() {
                down.push(format!(
                    "{synced}/{} order books in sequence, resyncing",
                    f.books.len()
                ));
            }
            if self.live_trading && !f.user_up {
                down.push("the user stream is down, reconnecting".to_owned());
            }
            if down.is_empty() {
                (ComponentStatus::Ok, None)
            } else {
                (
                    ComponentStatus::Disconnected,
                    Some(format!("binance: {}", down.join("; "))),
                )
            }
        };
        ComponentHealth {
            name: "venue binance".into(),
            status,
            detail,
        }
    }
}

/// What the daemon starts a Binance venue with.
pub struct Setup {
    pub rest: Arc<Rest>,
    pub instruments: Vec<Instrument>,
    /// The first books and last prices (REST snapshot and ticker).
    pub books: Vec<OrderBook>,
    pub last: Vec<Price>,
    pub fees: Fees,
    pub links: Links,
    /// Whether the live account trades (keys are set): the user stream
    /// and the reconciliation run only then.
    pub live_trading: bool,
    pub reconcile_every: Duration,
}

/// A venue trade id in our id space (the fills' key): live trades above
/// 2^62, in a range per symbol (18 bits of the symbol's hash, 44 of
/// Binance's per-symbol trade id); paper and simulator trades stay below.
pub fn our_trade_id(symbol: &str, venue_trade_id: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in symbol.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (1u64 << 62) | ((h & 0x3_FFFF) << 44) | (venue_trade_id & ((1u64 << 44) - 1))
}

fn rekey(symbol: &str, events: Vec<VenueEvent>) -> Vec<VenueEvent> {
    events
        .into_iter()
        .map(|e| match e {
            VenueEvent::Fill(mut f) => {
                f.trade_id = our_trade_id(symbol, f.trade_id);
                VenueEvent::Fill(f)
            }
            e => e,
        })
        .collect()
}

fn rejected(id: OrderId, reason: impl Into<String>) -> Answer {
    answered(vec![VenueEvent::Rejected {
        id,
        reason: reason.into(),
    }])
}

/// An error that is known not to have placed the order (refused before
/// it was sent, or refused by the venue) as its rejection; one that may
/// have as an unknown outcome.
fn place_failed(ids: &[OrderId], e: &BinanceError) -> Ack {
    if e.outcome_unknown() {
        Ack::Unknown(e.to_string())
    } else {
        Ack::Known(
            ids.iter()
                .map(|&id| VenueEvent::Rejected {
                    id,
                    reason: e.to_string(),
                })
                .collect(),
        )
    }
}

/// Why a live order is refused before it is sent when no key is set.
const NO_KEY: &str = "binance: no API key is set (`tradectl venue keys set binance`)";

impl BinanceVenue {
    /// The venue, with its streams (and, when trading live, the user
    /// stream and the reconciliation) spawned on the current runtime.
    pub fn start(setup: Setup, shutdown: &CancellationToken) -> BinanceVenue {
        let n = setup.instruments.len();
        let feed = Arc::new(Mutex::new(Feed {
            books: (0..n).map(|_| super::book::LocalBook::default()).collect(),
            last: vec![None; n],
            ..Feed::default()
        }));
        let symbols: Vec<String> = setup
            .instruments
            .iter()
            .map(|i| i.symbol.as_str().to_owned())
            .collect();
        tokio::spawn(stream::market(
            setup.links.clone(),
            Arc::clone(&setup.rest),
            symbols.clone(),
            Arc::clone(&feed),
            shutdown.clone(),
        ));
        let activity = Arc::new(AtomicU64::new(0));
        let read = Arc::new(Mutex::new(None));
        if setup.live_trading {
            tokio::spawn(stream::user(
                setup.links,
                Arc::clone(&setup.rest),
                Arc::clone(&feed),
                shutdown.clone(),
            ));
            tokio::spawn(reconciler(
                Arc::clone(&setup.rest),
                symbols,
                Arc::clone(&feed),
                Arc::clone(&activity),
                Arc::clone(&read),
                setup.reconcile_every,
                shutdown.clone(),
            ));
        }
        BinanceVenue {
            rest: setup.rest,
            instruments: setup.instruments,
            feed,
            books: setup.books,
            last: setup.last,
            paper: MatchingEngine::new(setup.fees, 1),
            live: HashMap::new(),
            by_client: HashMap::new(),
            activity,
            read,
            live_trading: setup.live_trading,
            banned: false,
            trailing: Vec::new(),
            brackets: Brackets::default(),
            emulated: Arc::new(Mutex::new(Vec::new())),
            restored_exits: HashMap::new(),
            restored_entries: HashMap::new(),
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// The REST client (its weight budget is the venue's).
    pub fn rest(&self) -> Arc<Rest> {
        Arc::clone(&self.rest)
    }

    /// The link's state, for `system.health`.
    pub fn link(&self) -> Link {
        Link {
            feed: Arc::clone(&self.feed),
            rest: Arc::clone(&self.rest),
            live_trading: self.live_trading,
        }
    }

    fn symbol(&self, i: usize) -> String {
        self.instruments[i].symbol.as_str().to_owned()
    }

    fn remember(&mut self, o: &VenueOrder) -> Live {
        let inst = &self.instruments[o.symbol];
        let live = Live {
            client_order_id: o.client_order_id.clone(),
            symbol: o.symbol,
            ours: Ours {
                id: o.id,
                side: o.side,
                base: inst.base.clone(),
                quote: inst.quote.clone(),
            },
        };
        self.by_client.insert(o.client_order_id.clone(), o.id);
        self.live.insert(o.id, live.clone());
        live
    }

    fn submit_live(&mut self, o: &VenueOrder) -> Answer {
        if !self.live_trading {
            return rejected(o.id, NO_KEY);
        }
        let symbol = self.symbol(o.symbol);
        let params = match new_order(&symbol, o) {
            Ok(Mapped::Native(p)) => p,
            Ok(Mapped::Emulated(why)) => {
                let Some(w) = Watched::new(o.clone(), self.last[o.symbol]) else {
                    return rejected(o.id, format!("binance: {why}"));
                };
                // Watched here, sent as a market order when it triggers.
                self.remember(o);
                self.trailing.push(w);
                return answered(vec![VenueEvent::Accepted { id: o.id }]);
            }
            Err(e) => return rejected(o.id, e.to_string()),
        };
        let live = self.remember(o);
        let rest = Arc::clone(&self.rest);
        let activity = Arc::clone(&self.activity);
        Box::pin(async move {
            let result = rest.place(&params).await;
            activity.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(v) => match reports::placed(&live.ours, &v) {
                    Ok(events) => Ack::Known(rekey(&symbol, events)),
                    // Placed, but the answer cannot be read: ask for it.
                    Err(e) => Ack::Unknown(e.to_string()),
                },
                Err(e) => place_failed(&[live.ours.id], &e),
            }
        })
    }

    /// A bracket, emulated (`brackets.rs`): the entry is sent, its exits
    /// wait until Binance says it is done.
    fn submit_bracket(&mut self, entry: &VenueOrder, tp: VenueOrder, sl: VenueOrder) -> Answer {
        let reject_all = |reason: String| {
            answered(
                [entry.id, tp.id, sl.id]
                    .into_iter()
                    .map(|id| VenueEvent::Rejected {
                        id,
                        reason: reason.clone(),
                    })
                    .collect(),
            )
        };
        if !self.live_trading {
            return reject_all(NO_KEY.into());
        }
        let symbol = self.symbol(entry.symbol);
        let params = match new_order(&symbol, entry) {
            Ok(Mapped::Native(p)) => p,
            Ok(Mapped::Emulated(why)) => return reject_all(format!("binance: the entry: {why}")),
            Err(e) => return reject_all(e.to_string()),
        };
        let live = self.remember(entry);
        let legs = [self.remember(&tp).ours, self.remember(&sl).ours];
        self.brackets.wait(
            entry.id,
            Waiting {
                take_profit: tp,
                stop_loss: sl,
                legs,
            },
        );
        let (rest, activity, waiting) = (
            Arc::clone(&self.rest),
            Arc::clone(&self.activity),
            self.brackets.clone(),
        );
        Box::pin(async move {
            let result = rest.place(&params).await;
            activity.fetch_add(1, Ordering::Relaxed);
            let id = live.ours.id;
            match result {
                Ok(v) => match reports::placed(&live.ours, &v) {
                    Ok(mut events) => {
                        events.extend(exits_if_done(&rest, &symbol, &waiting, id, &v).await);
                        Ack::Known(rekey(&symbol, events))
                    }
                    Err(e) => Ack::Unknown(e.to_string()),
                },
                Err(e) => match place_failed(&[id], &e) {
                    Ack::Known(mut events) => {
                        events.extend(waiting.cancel(id, "the bracket's entry was rejected"));
                        Ack::Known(events)
                    }
                    unknown @ Ack::Unknown(_) => unknown,
                },
            }
        })
    }

    /// Moves the emulated trailing stops of `symbol` with a trade; those it
    /// triggers are sent as market orders (from a task; their answers are
    /// booked at a later tick) and reported triggered now.
    fn trail(&mut self, symbol: usize, price: Price) -> Vec<VenueEvent> {
        let mut events = Vec::new();
        let mut i = 0;
        while i < self.trailing.len() {
            let w = &mut self.trailing[i];
            if w.order.symbol != symbol || !w.on_trade(price) {
                i = i.saturating_add(1);
                continue;
            }
            let w = self.trailing.swap_remove(i);
            events.push(VenueEvent::Triggered { id: w.id(), price });
            let order = w.market_order();
            let name = self.symbol(symbol);
            let Some(live) = self.live.get(&order.id).cloned() else {
                continue;
            };
            let (rest, queue, activity) = (
                Arc::clone(&self.rest),
                Arc::clone(&self.emulated),
                Arc::clone(&self.activity),
            );
            self.runtime.spawn(async move {
                let events = match new_order(&name, &order) {
                    Ok(Mapped::Native(params)) => {
                        let result = rest.place(&params).await;
                        activity.fetch_add(1, Ordering::Relaxed);
                        match result {
                            Ok(v) => reports::placed(&live.ours, &v).unwrap_or_default(),
                            // The reconciliation asks for it by its client id.
                            Err(e) if e.outcome_unknown() => Vec::new(),
                            Err(e) => vec![VenueEvent::Rejected {
                                id: order.id,
                                reason: e.to_string(),
                            }],
                        }
                    }
                    _ => vec![VenueEvent::Rejected {
                        id: order.id,
                        reason: "binance: the triggered stop cannot be sent as a market order"
                            .into(),
                    }],
                };
                crate::lock_order::leaf(&queue).extend(rekey(&name, events));
            });
        }
        events
    }

    /// Puts back a restart's waiting bracket once its entry and both exits
    /// are in.
    fn restore_bracket(&mut self, r: &Reopened) {
        match r.link {
            OrderLink::Exit { entry } if r.pending => {
                self.restored_exits
                    .entry(entry)
                    .or_default()
                    .push(r.order.clone());
            }
            OrderLink::Entry {
                take_profit,
                stop_loss,
            } => {
                self.restored_entries
                    .insert(r.order.id, (take_profit, stop_loss));
            }
            _ => return,
        }
        let ready: Vec<OrderId> = self
            .restored_entries
            .keys()
            .filter(|e| self.restored_exits.get(e).is_some_and(|x| x.len() == 2))
            .copied()
            .collect();
        for entry in ready {
            let (Some((tp_id, _)), Some(exits)) = (
                self.restored_entries.remove(&entry),
                self.restored_exits.remove(&entry),
            ) else {
                continue;
            };
            let (tp, sl): (Vec<VenueOrder>, Vec<VenueOrder>) =
                exits.into_iter().partition(|o| o.id == tp_id);
            let (Some(tp), Some(sl)) = (tp.into_iter().next(), sl.into_iter().next()) else {
                continue;
            };
            let legs = [self.remember(&tp).ours, self.remember(&sl).ours];
            self.brackets.wait(
                entry,
                Waiting {
                    take_profit: tp,
                    stop_loss: sl,
                    legs,
                },
            );
        }
    }

    fn submit_oco(&mut self, a: &VenueOrder, b: &VenueOrder) -> Answer {
        let reject_both = |reason: String| {
            answered(vec![
                VenueEvent::Rejected {
                    id: a.id,
                    reason: reason.clone(),
                },
                VenueEvent::Rejected { id: b.id, reason },
            ])
        };
        if !self.live_trading {
            return reject_both(NO_KEY.into());
        }
        let symbol = self.symbol(a.symbol);
        let params = match super::orders::oco(&symbol, a, b) {
            Ok(p) => p,
            Err(e) => return reject_both(e.to_string()),
        };
        let legs = [self.remember(a).ours, self.remember(b).ours];
        let ids = [a.client_order_id.clone(), b.client_order_id.clone()];
        let rest = Arc::clone(&self.rest);
        let activity = Arc::clone(&self.activity);
        Box::pin(async move {
            let result = rest.place_oco(&params).await;
            activity.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(v) => match reports::placed_list(&legs, [&ids[0], &ids[1]], &v) {
                    Ok(events) => Ack::Known(rekey(&symbol, events)),
                    Err(e) => Ack::Unknown(e.to_string()),
                },
                Err(e) => place_failed(&[legs[0].id, legs[1].id], &e),
            }
        })
    }

    /// Execution reports as events, in order; reports about orders we do
    /// not know are the reconciliation's (external orders).
    fn take_reports(&mut self) -> Vec<VenueEvent> {
        let reports = std::mem::take(&mut stream::lock(&self.feed).reports);
        if !reports.is_empty() {
            self.activity.fetch_add(1, Ordering::Relaxed);
        }
        let mut out = Vec::new();
        for r in reports {
            let Some(live) = reports::report_client_id(&r)
                .and_then(|c| self.by_client.get(c))
                .and_then(|id| self.live.get(id))
            else {
                tracing::info!(client_order_id = ?reports::report_client_id(&r), "binance: a report about an order the desk did not place");
                continue;
            };
            if let Some((status, executed)) = reports::order_state(&r)
                && let Some((w, filled)) = self.brackets.done(live.ours.id, &status, executed)
            {
                // The entry is done: its exits go out from a task; their
                // events are booked at a later tick.
                let (rest, queue, symbol) = (
                    Arc::clone(&self.rest),
                    Arc::clone(&self.emulated),
                    self.symbol(live.symbol),
                );
                self.runtime.spawn(async move {
                    let events = brackets::activate(&rest, &symbol, w, filled).await;
                    crate::lock_order::leaf(&queue).extend(rekey(&symbol, events));
                });
            }
            match reports::report(&live.ours, &r) {
                Ok(ev) => out.extend(rekey(&self.symbol(live.symbol), ev)),
                Err(e) => {
                    tracing::warn!(error = %e, "binance: an execution report cannot be read; the order will be reconciled");
                }
            }
        }
        out
    }
}

/// An open order at Binance the desk did not place, as the execution
/// service adopts it.
fn external_order(o: &Value, client: &str) -> crate::venues::External {
    use tradedesk_core::order::{Side, Terms};
    let dec = |f: &str| -> Option<Price> { o[f].as_str()?.parse().ok() };
    let qty = |f: &str| -> Option<Qty> { o[f].as_str()?.parse().ok() };
    let terms = match o["type"].as_str() {
        Some("LIMIT" | "LIMIT_MAKER") => dec("price").map(|price| Terms::Limit { price }),
        Some("STOP_LOSS") => dec("stopPrice").map(|stop| Terms::StopMarket { stop }),
        Some("STOP_LOSS_LIMIT") => dec("stopPrice")
            .zip(dec("price"))
            .map(|(stop, price)| Terms::StopLimit { stop, price }),
        Some("TAKE_PROFIT") => dec("stopPrice").map(|stop| Terms::TakeProfit { stop }),
        _ => None,
    };
    let open = qty("origQty")
        .zip(qty("executedQty"))
        .and_then(|(q, e)| q.checked_sub(e))
        .unwrap_or(Qty::ZERO);
    crate::venues::External {
        client_order_id: client.to_owned(),
        symbol: o["symbol"].as_str().unwrap_or_default().to_owned(),
        side: if o["side"] == "SELL" {
            Side::Sell
        } else {
            Side::Buy
        },
        terms,
        open,
        described: format!(
            "{} {} {} {} @ {} (venue id {}, client id {client})",
            o["symbol"].as_str().unwrap_or("?"),
            o["side"].as_str().unwrap_or("?"),
            o["type"].as_str().unwrap_or("?"),
            o["origQty"].as_str().unwrap_or("?"),
            o["price"].as_str().unwrap_or("?"),
            o["orderId"],
        ),
    }
}

/// A bracket entry's exits, sent when `order` (an answer, a query or a
/// cancel's answer) says the entry is done; nothing otherwise.
async fn exits_if_done(
    rest: &Rest,
    symbol: &str,
    waiting: &Brackets,
    entry: OrderId,
    order: &Value,
) -> Vec<VenueEvent> {
    let Some((status, executed)) = reports::order_state(order) else {
        return Vec::new();
    };
    match waiting.done(entry, &status, executed) {
        Some((w, filled)) => brackets::activate(rest, symbol, w, filled).await,
        None => Vec::new(),
    }
}

/// Reads balances and open orders now and then, for the execution service.
async fn reconciler(
    rest: Arc<Rest>,
    symbols: Vec<String>,
    feed: Arc<Mutex<Feed>>,
    activity: Arc<AtomicU64>,
    read: Arc<Mutex<Option<Read>>>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut next = tokio::time::Instant::now();
    let mut last_read: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        // Asked for: at once, but not within 2 s of the last read (so the
        // queries the last one caused are answered first).
        let asked = stream::lock(&feed).reconcile
            && last_read.is_none_or(|t| t.elapsed() >= Duration::from_secs(2));
        if !asked && tokio::time::Instant::now() < next {
            continue;
        }
        stream::lock(&feed).reconcile = false;
        last_read = Some(tokio::time::Instant::now());
        let before = activity.load(Ordering::Relaxed);
        let result = async {
            let balances = rest.balances().await?;
            let mut open = Vec::new();
            for s in &symbols {
                open.extend(rest.open_orders(s).await?);
            }
            Ok::<_, BinanceError>((balances, open))
        }
        .await;
        next = tokio::time::Instant::now()
            .checked_add(every)
            .unwrap_or_else(tokio::time::Instant::now);
        match result {
            Ok((balances, open)) => {
                *crate::lock_order::leaf(&read) = Some(Read {
                    balances,
                    open,
                    activity_before: before,
                    activity_after: activity.load(Ordering::Relaxed),
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "binance: reconciliation could not read the account; trying again");
                stream::lock(&feed).reconcile = true;
            }
        }
    }
}

impl Venue for BinanceVenue {
    fn name(&self) -> &'static str {
        "binance"
    }

    fn answers_at_once(&self) -> bool {
        false
    }

    fn instruments(&self) -> Vec<&Instrument> {
        self.instruments.iter().collect()
    }

    fn book(&self, symbol: usize) -> &OrderBook {
        &self.books[symbol]
    }

    fn last(&self, symbol: usize) -> Price {
        self.last[symbol]
    }

    fn submit(&mut self, submission: Submission, now: Timestamp) -> Answer {
        let live = match &submission {
            Submission::Single(o) => o.live,
            Submission::Oco(a, _) => a.live,
            Submission::Bracket { entry, .. } => entry.live,
        };
        if !live {
            let (books, last) = (&self.books, &self.last);
            return answered(match_now(&mut self.paper, submission, now, |i| {
                (&books[i], last[i])
            }));
        }
        match submission {
            Submission::Single(o) => self.submit_live(&o),
            Submission::Oco(a, b) => self.submit_oco(&a, &b),
            Submission::Bracket {
                entry,
                take_profit,
                stop_loss,
            } => self.submit_bracket(&entry, take_profit, stop_loss),
        }
    }

    fn cancel(&mut self, id: OrderId, reason: &str, now: Timestamp) -> Answer {
        if let Some(entry) = self.brackets.entry_of_exit(id) {
            return answered(self.brackets.cancel(entry, reason));
        }
        if let Some(i) = self.trailing.iter().position(|w| w.id() == id) {
            self.trailing.swap_remove(i);
            return answered(vec![VenueEvent::Cancelled {
                id,
                reason: reason.to_owned(),
            }]);
        }
        let Some(live) = self.live.get(&id).cloned() else {
            let symbol = self.paper.symbol_of(id);
            return answered(match symbol {
                Some(i) => self
                    .paper
                    .cancel(id, reason, &self.books[i], self.last[i], now),
                None => Vec::new(),
            });
        };
        let rest = Arc::clone(&self.rest);
        let symbol = self.symbol(live.symbol);
        let activity = Arc::clone(&self.activity);
        let waiting = self.brackets.clone();
        Box::pin(async move {
            let result = rest.cancel(&symbol, &live.client_order_id).await;
            activity.fetch_add(1, Ordering::Relaxed);
            match result {
                Ok(Some(v)) => {
                    let mut events = vec![VenueEvent::Cancelled {
                        id: live.ours.id,
                        reason: "cancelled".into(),
                    }];
                    events.extend(exits_if_done(&rest, &symbol, &waiting, live.ours.id, &v).await);
                    Ack::Known(rekey(&symbol, events))
                }
                // Not open there: a fill or a cancel is on its way, or was
                // missed; the execution service asks.
                Ok(None) => Ack::Known(Vec::new()),
                Err(e) if e.outcome_unknown() => Ack::Unknown(e.to_string()),
                Err(e) => {
                    tracing::warn!(order = live.ours.id, error = %e, "binance refused a cancel");
                    Ack::Unknown(e.to_string())
                }
            }
        })
    }

    fn query(&mut self, id: OrderId, _now: Timestamp) -> Answer {
        if self.brackets.entry_of_exit(id).is_some() {
            // Waiting for its entry: not at the venue yet.
            return answered(Vec::new());
        }
        if self.trailing.iter().any(|w| w.id() == id) {
            // Watched here, live, not at the venue until it triggers.
            return answered(vec![VenueEvent::Accepted { id }]);
        }
        let Some(live) = self.live.get(&id).cloned() else {
            return answered(if self.paper.is_live(id) {
                vec![VenueEvent::Accepted { id }]
            } else {
                Vec::new()
            });
        };
        let rest = Arc::clone(&self.rest);
        let symbol = self.symbol(live.symbol);
        let waiting = self.brackets.clone();
        Box::pin(async move {
            let order = match rest
                .order_by_client_id(&symbol, &live.client_order_id)
                .await
            {
                Ok(Some(o)) => o,
                Ok(None) => {
                    return Ack::Known(vec![VenueEvent::Rejected {
                        id,
                        reason: "the venue never received the order".into(),
                    }]);
                }
                Err(e) => return Ack::Unknown(e.to_string()),
            };
            let trades = match order["orderId"].as_u64() {
                Some(venue_id) => match rest.order_trades(&symbol, venue_id).await {
                    Ok(t) => t,
                    Err(e) => return Ack::Unknown(e.to_string()),
                },
                None => return Ack::Unknown("an order without its orderId".into()),
            };
            match reports::queried(&live.ours, &order, &trades) {
                Ok(mut events) => {
                    events.extend(exits_if_done(&rest, &symbol, &waiting, id, &order).await);
                    Ack::Known(rekey(&symbol, events))
                }
                Err(e) => Ack::Unknown(e.to_string()),
            }
        })
    }

    fn restore(&mut self, reopened: Reopened) {
        if reopened.order.live {
            self.remember(&reopened.order);
            self.restore_bracket(&reopened);
            let emulated = matches!(
                new_order(&self.symbol(reopened.order.symbol), &reopened.order),
                Ok(Mapped::Emulated(_))
            );
            if emulated
                && !reopened.triggered
                && let Some(w) =
                    Watched::new(reopened.order.clone(), self.last[reopened.order.symbol])
            {
                self.trailing.push(w);
            }
        } else {
            let last = self.last[reopened.order.symbol];
            self.paper.restore(reopened, last);
        }
    }

    fn reset_orders(&mut self, next_trade_id: u64) {
        self.paper = MatchingEngine::new(self.paper.fees(), next_trade_id);
        self.live.clear();
        self.by_client.clear();
        self.brackets.clear();
        self.trailing.clear();
        self.restored_exits.clear();
        self.restored_entries.clear();
    }

    fn poll(&mut self, _now: Timestamp) -> Vec<TradeUpdate> {
        let trades = {
            let mut f = stream::lock(&self.feed);
            for (i, b) in f.books.iter().enumerate() {
                if let Some(book) = b.book() {
                    self.books[i].clone_from(book);
                }
            }
            for (i, p) in f.last.iter().enumerate() {
                if let Some(p) = p {
                    self.last[i] = *p;
                }
            }
            std::mem::take(&mut f.trades)
        };
        let mut out = Vec::with_capacity(trades.len().saturating_add(1));
        for (symbol, trade) in trades {
            let mut events = self.paper.on_trade(symbol, &trade, &self.books[symbol]);
            events.extend(self.trail(symbol, trade.price));
            out.push(TradeUpdate {
                symbol,
                trade,
                events,
            });
        }
        out
    }

    fn closed_bars(&mut self) -> Vec<(usize, tradedesk_core::market::Bar)> {
        std::mem::take(&mut stream::lock(&self.feed).closed_bars)
    }

    fn executions(&mut self) -> Vec<VenueEvent> {
        let mut out = self.take_reports();
        out.append(&mut crate::lock_order::leaf(&self.emulated));
        out
    }

    fn reconciliation(&mut self) -> Option<Reconciliation> {
        let read = crate::lock_order::leaf(&self.read).take()?;
        let quiet = read.activity_before == read.activity_after
            && read.activity_after == self.activity.load(Ordering::Relaxed);
        let external = read
            .open
            .iter()
            .filter_map(|o| {
                let client = o["clientOrderId"].as_str()?;
                (!self.by_client.contains_key(client)).then(|| external_order(o, client))
            })
            .collect();
        Some(Reconciliation {
            balances: quiet.then_some(read.balances),
            external,
        })
    }

    fn take_alarm(&mut self) -> Option<String> {
        match (self.rest.banned_for(), self.banned) {
            (Some(left), false) => {
                self.banned = true;
                Some(format!(
                    "binance banned this address for {} s (HTTP 418, after rate limits were exceeded); \
                     trading on the account is halted",
                    left.as_secs()
                ))
            }
            (None, true) => {
                self.banned = false;
                None
            }
            _ => None,
        }
    }

    fn reconcile_soon(&mut self) {
        stream::lock(&self.feed).reconcile = true;
    }

    fn status(&self) -> Option<String> {
        let f = stream::lock(&self.feed);
        let synced = f.books.iter().filter(|b| b.synced()).count();
        Some(format!(
            "binance: market stream {}, {synced}/{} books in sequence, {} reconnects, {} resyncs{}",
            if f.market_up { "up" } else { "down" },
            f.books.len(),
            f.reconnects,
            f.resyncs,
            if self.live_trading {
                format!(", user stream {}", if f.user_up { "up" } else { "down" })
            } else {
                String::new()
            }
        ))
    }
}
