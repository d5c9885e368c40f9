//! Requests to the venue and their answers.
//!
//! A venue that [answers at once](crate::venues::Venue::answers_at_once)
//! (the in-process `sim`) is answered inside the operation that asked, and
//! the answer commits with it. Any other venue is sent the request after
//! the operation's rows have committed; the wait for its answer runs on the
//! daemon's runtime without any lock, and the answer is booked when it
//! arrives ([`Exchange::book_answer`](super::Exchange)) — after, before or
//! between the execution events the venue reports on its own, which the
//! booking takes in any order and books once.
//!
//! An unknown outcome (a lost answer, a timeout) is never resent: the order
//! stays `new`, its reason says so, and it is queried — after 100 ms, then
//! twice as long each time up to 10 s — until the venue says what became
//! of it.

use std::sync::Arc;
use std::time::Duration;

use tradedesk_core::time::Timestamp;
use tradedesk_core::venue::{Ack, OrderId, Submission, VenueEvent};

use super::{Changes, State};
use crate::venues::{Answer, answer_now};

/// What a request was, so its answer can be booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Submit(Vec<OrderId>),
    Cancel { id: OrderId, reason: String },
    Query(OrderId),
}

impl Request {
    fn orders(&self) -> Vec<OrderId> {
        match self {
            Request::Submit(ids) => ids.clone(),
            Request::Cancel { id, .. } | Request::Query(id) => vec![*id],
        }
    }
}

/// Books an answer that arrived; installed by the daemon.
pub type Deliver = Arc<dyn Fn(Request, Ack) + Send + Sync>;

/// Runs the waits for a remote venue's answers on the daemon's runtime.
#[derive(Clone)]
pub struct Dispatch {
    pub handle: tokio::runtime::Handle,
    pub deliver: Deliver,
}

impl Dispatch {
    fn send(&self, request: Request, answer: Answer, after: Duration) {
        let deliver = Arc::clone(&self.deliver);
        self.handle.spawn(async move {
            if !after.is_zero() {
                tokio::time::sleep(after).await;
            }
            let ack = answer.await;
            deliver(request, ack);
        });
    }
}

/// How long before the `n`-th query of an unknown outcome (n from 1).
pub fn query_delay(n: u32) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << n.saturating_sub(1).min(7));
    Duration::from_millis(ms.min(10_000))
}

impl State {
    /// Sends a submission. For a venue that answers at once, the answer is
    /// booked into `changes` (the caller commits it with the `new` rows);
    /// otherwise the caller must have committed the `new` rows already.
    pub(super) fn send_submission(
        &mut self,
        submission: Submission,
        now: Timestamp,
        changes: &mut Changes,
    ) {
        let request = Request::Submit(submission.ids());
        let answer = self.venue.submit(submission, now);
        self.settle_or_send(request, answer, now, changes);
    }

    /// Asks the venue to cancel an order.
    pub(super) fn send_cancel(
        &mut self,
        id: OrderId,
        reason: &str,
        now: Timestamp,
        changes: &mut Changes,
    ) {
        let answer = self.venue.cancel(id, reason, now);
        let request = Request::Cancel {
            id,
            reason: reason.to_owned(),
        };
        self.settle_or_send(request, answer, now, changes);
    }

    fn settle_or_send(
        &mut self,
        request: Request,
        answer: Answer,
        now: Timestamp,
        changes: &mut Changes,
    ) {
        if self.venue.answers_at_once() {
            let ack = answer_now(answer);
            self.settle(&request, ack, now, changes);
        } else {
            self.dispatch_after(request, answer, Duration::ZERO);
        }
    }

    pub(super) fn dispatch_after(&mut self, request: Request, answer: Answer, after: Duration) {
        match &self.dispatch {
            Some(d) => d.send(request, answer, after),
            None => {
                // Only a daemon without a runtime (a unit test) gets here:
                // the orders stay as they are until a restart settles them.
                tracing::error!(?request, "no dispatcher for a venue's answer");
            }
        }
    }

    /// Books a venue's answer into `changes`.
    pub(crate) fn settle(
        &mut self,
        request: &Request,
        ack: Ack,
        now: Timestamp,
        changes: &mut Changes,
    ) {
        match ack {
            Ack::Known(events) => {
                for id in request.orders() {
                    if self.unknown.remove(&id).is_some()
                        && let Some(o) = self.open.update(id, |o| {
                            o.reason = None;
                            o.updated = now;
                            o.clone()
                        })
                    {
                        changes.orders.insert(id, o);
                    }
                }
                if let Request::Cancel { id, reason } = request
                    && events.is_empty()
                    && self.open.contains_key(id)
                {
                    if self.venue.answers_at_once() {
                        // The venue does not hold it: it is not live anywhere.
                        self.book_events(
                            vec![VenueEvent::Cancelled {
                                id: *id,
                                reason: reason.clone(),
                            }],
                            now,
                            changes,
                        );
                    } else {
                        // Not open at the venue: a fill or a cancel is on its
                        // way, or was lost; ask what became of it.
                        self.unknown_outcome(*id, "the venue no longer has it open", now, changes);
                    }
                    return;
                }
                self.book_events(events, now, changes);
            }
            Ack::Unknown(why) => {
                for id in request.orders() {
                    if self.open.contains_key(&id) {
                        self.unknown_outcome(id, &why, now, changes);
                    }
                }
            }
        }
    }

    /// Marks an order's outcome unknown and queries it after a delay.
    fn unknown_outcome(&mut self, id: OrderId, why: &str, now: Timestamp, changes: &mut Changes) {
        let n = self.unknown.entry(id).or_insert(0);
        *n = n.saturating_add(1);
        let delay = query_delay(*n);
        let reason = format!("outcome unknown ({why}); asking the venue");
        if let Some(o) = self.open.update(id, |o| {
            o.reason = Some(reason);
            o.updated = now;
            o.clone()
        }) {
            changes.orders.insert(id, o);
        }
        let answer = self.venue.query(id, now);
        self.dispatch_after(Request::Query(id), answer, delay);
    }

    /// Orders whose outcome is being resolved.
    pub fn unknown_outcomes(&self) -> usize {
        self.unknown.len()
    }
}

impl State {
    /// Books an answer that arrived from a remote venue and writes it.
    pub fn book_answer(
        &mut self,
        store: &mut crate::store::Store,
        request: &Request,
        ack: Ack,
        now: Timestamp,
    ) -> Changes {
        let mut changes = Changes::default();
        self.settle(request, ack, now, &mut changes);
        if !changes.is_empty()
            && let Err(e) = self.persist(store, &changes)
        {
            tracing::error!(error = %e, "cannot write a venue's answer");
            self.stale = Some(format!("a database write failed: {e}"));
        }
        changes
    }
}
