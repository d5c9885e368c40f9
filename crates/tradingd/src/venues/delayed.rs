//! `sim` across a network: the simulator behind a delay, answering the way
//! a remote venue does — later, and now and then not at all (an answer lost
//! on the way back, whose outcome the daemon must find out by querying).
//! Paper trading can rehearse an exchange's latency with it, and it runs the
//! execution service's remote path (requests sent after the `new` rows
//! commit, answers booked when they arrive, unknown outcomes resolved) for
//! real, on this machine, before a real exchange is plugged in.
//!
//! `sim.latency_ms` is the one-way delay: a request reaches the simulator
//! after it, the answer comes back after it again. With
//! `sim.lose_answer_every = n`, every n-th submission reaches the simulator
//! (and may fill there) but its answer is lost.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tradedesk_core::instrument::Instrument;
use tradedesk_core::market::OrderBook;
use tradedesk_core::money::Price;
use tradedesk_core::time::Timestamp;
use tradedesk_core::venue::{Ack, OrderId, Reopened, Submission, VenueEvent};

use super::sim::SimVenue;
use super::{Answer, TradeUpdate, Venue};

/// How many orders' histories the far side keeps for queries.
const HISTORY: usize = 100_000;

/// The far side of the link: the simulator and what it told about each
/// order, so that a query can be answered as an exchange answers one.
struct Far {
    sim: SimVenue,
    history: HashMap<OrderId, Vec<VenueEvent>>,
    arrival: VecDeque<OrderId>,
}

impl Far {
    fn record(&mut self, events: &[VenueEvent]) {
        for e in events {
            let id = e.order_id();
            let entry = self.history.entry(id).or_insert_with(|| {
                self.arrival.push_back(id);
                Vec::new()
            });
            entry.push(e.clone());
        }
        while self.arrival.len() > HISTORY {
            if let Some(old) = self.arrival.pop_front() {
                self.history.remove(&old);
            }
        }
    }
}

/// A leaf lock: held only for a call into the simulator, never across an
/// await or another lock.
fn far(far: &Mutex<Far>) -> std::sync::MutexGuard<'_, Far> {
    far.lock().unwrap_or_else(PoisonError::into_inner)
}

pub struct Delayed {
    far: Arc<Mutex<Far>>,
    /// This side's copy of the market, as of the last poll (a remote
    /// venue's book is what its stream last said).
    instruments: Vec<Instrument>,
    books: Vec<OrderBook>,
    last: Vec<Price>,
    latency: Duration,
    lose_every: u32,
    submissions: u32,
}

impl Delayed {
    pub fn new(sim: SimVenue, latency: Duration, lose_every: u32) -> Self {
        let instruments = sim.instruments().into_iter().cloned().collect();
        let n = sim.instruments().len();
        let books = (0..n).map(|i| sim.book(i).clone()).collect();
        let last = (0..n).map(|i| sim.last(i)).collect();
        Delayed {
            far: Arc::new(Mutex::new(Far {
                sim,
                history: HashMap::new(),
                arrival: VecDeque::new(),
            })),
            instruments,
            books,
            last,
            latency,
            lose_every,
            submissions: 0,
        }
    }

    /// The time on the far side when a request sent at `now` arrives.
    fn arrival(&self, now: Timestamp) -> Timestamp {
        let ms = i64::try_from(self.latency.as_millis()).unwrap_or(i64::MAX);
        Timestamp(now.millis().saturating_add(ms))
    }

    /// A request that does `work` on the far side after the delay and
    /// answers after the delay again (unless the answer is `lost`).
    fn request(
        &self,
        now: Timestamp,
        lost: bool,
        work: impl FnOnce(&mut Far, Timestamp) -> Vec<VenueEvent> + Send + 'static,
    ) -> Answer {
        let far_side = Arc::clone(&self.far);
        let latency = self.latency;
        let at = self.arrival(now);
        Box::pin(async move {
            tokio::time::sleep(latency).await;
            let events = {
                let mut f = far(&far_side);
                let events = work(&mut f, at);
                f.record(&events);
                events
            };
            tokio::time::sleep(latency).await;
            if lost {
                Ack::Unknown("the venue's answer was lost on the way back".to_owned())
            } else {
                Ack::Known(events)
            }
        })
    }
}

impl Venue for Delayed {
    fn name(&self) -> &'static str {
        "sim"
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
        self.submissions = self.submissions.wrapping_add(1);
        let lost = self.lose_every > 0 && self.submissions.is_multiple_of(self.lose_every);
        self.request(now, lost, move |f, at| f.sim.execute(submission, at))
    }

    fn cancel(&mut self, id: OrderId, reason: &str, now: Timestamp) -> Answer {
        let reason = reason.to_owned();
        self.request(now, false, move |f, at| f.sim.cancel_now(id, &reason, at))
    }

    fn query(&mut self, id: OrderId, _now: Timestamp) -> Answer {
        let far_side = Arc::clone(&self.far);
        let latency = self.latency;
        Box::pin(async move {
            tokio::time::sleep(latency).await;
            let events = far(&far_side).history.get(&id).cloned();
            tokio::time::sleep(latency).await;
            Ack::Known(events.unwrap_or_else(|| {
                vec![VenueEvent::Rejected {
                    id,
                    reason: "the venue never received the order".to_owned(),
                }]
            }))
        })
    }

    fn restore(&mut self, reopened: Reopened) {
        far(&self.far).sim.restore(reopened);
    }

    fn reset_orders(&mut self, next_trade_id: u64) {
        let mut f = far(&self.far);
        f.sim.reset_orders(next_trade_id);
        f.history.clear();
        f.arrival.clear();
    }

    fn poll(&mut self, now: Timestamp) -> Vec<TradeUpdate> {
        let mut f = far(&self.far);
        let updates = f.sim.poll(now);
        for u in &updates {
            f.record(&u.events);
        }
        for (i, (book, last)) in self.books.iter_mut().zip(&mut self.last).enumerate() {
            book.clone_from(f.sim.book(i));
            *last = f.sim.last(i);
        }
        updates
    }
}
