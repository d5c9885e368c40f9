//! Brackets on a live account, emulated by the daemon: Binance has no
//! order whose exits wait for its entry. The entry is sent alone; its
//! take-profit and stop-loss wait here. When Binance says the entry is
//! done (`FILLED`, or cancelled, expired or rejected) — in the answer to
//! placing it, in a query, or on the user stream — the exits are activated
//! for the quantity it executed and sent as one OCO order list (a fill of
//! one expires the other at Binance). An entry that executed nothing
//! cancels its exits. Whichever path sees the entry done first takes the
//! waiting exits out ([`Brackets::done`]), so they are sent once.
//!
//! While they wait, the exits are not at Binance: cancelling either
//! cancels both, and a query of one answers nothing new.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tradedesk_core::money::Qty;
use tradedesk_core::venue::{OrderId, VenueEvent, VenueOrder};

use super::orders::oco;
use super::reports::{self, Ours};
use super::rest::Rest;

/// A bracket's exits, waiting for their entry.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub take_profit: VenueOrder,
    pub stop_loss: VenueOrder,
    pub legs: [Ours; 2],
}

/// The brackets whose entries are live, by entry (a leaf lock).
#[derive(Debug, Clone, Default)]
pub struct Brackets(Arc<Mutex<HashMap<OrderId, Waiting>>>);

fn lock(b: &Brackets) -> std::sync::MutexGuard<'_, HashMap<OrderId, Waiting>> {
    b.0.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Brackets {
    pub fn wait(&self, entry: OrderId, w: Waiting) {
        lock(self).insert(entry, w);
    }

    /// The entry of a waiting exit.
    pub fn entry_of_exit(&self, exit: OrderId) -> Option<OrderId> {
        lock(self)
            .iter()
            .find(|(_, w)| w.take_profit.id == exit || w.stop_loss.id == exit)
            .map(|(e, _)| *e)
    }

    pub fn is_entry(&self, id: OrderId) -> bool {
        lock(self).contains_key(&id)
    }

    /// The exits to send once Binance says the entry is done: taken out,
    /// so only the first to see it sends them.
    pub fn done(&self, entry: OrderId, status: &str, executed: Qty) -> Option<(Waiting, Qty)> {
        let terminal = matches!(
            status,
            "FILLED" | "CANCELED" | "EXPIRED" | "EXPIRED_IN_MATCH" | "REJECTED"
        );
        if !terminal {
            return None;
        }
        lock(self).remove(&entry).map(|w| (w, executed))
    }

    /// Cancels a waiting bracket's exits (both: they are one protection).
    pub fn cancel(&self, entry: OrderId, reason: &str) -> Vec<VenueEvent> {
        lock(self)
            .remove(&entry)
            .map(|w| cancel_both(&w, reason))
            .unwrap_or_default()
    }

    pub fn clear(&self) {
        lock(self).clear();
    }
}

fn cancel_both(w: &Waiting, reason: &str) -> Vec<VenueEvent> {
    [w.take_profit.id, w.stop_loss.id]
        .into_iter()
        .map(|id| VenueEvent::Cancelled {
            id,
            reason: reason.to_owned(),
        })
        .collect()
}

/// Activates the exits for what the entry executed and sends them as one
/// OCO list; the events to book (trade ids not yet rekeyed).
pub async fn activate(rest: &Rest, symbol: &str, w: Waiting, filled: Qty) -> Vec<VenueEvent> {
    if !filled.is_positive() {
        return cancel_both(&w, "the bracket's entry executed nothing");
    }
    let (mut tp, mut sl) = (w.take_profit.clone(), w.stop_loss.clone());
    tp.qty = filled;
    sl.qty = filled;
    let mut events = vec![
        VenueEvent::Activated {
            id: tp.id,
            qty: filled,
        },
        VenueEvent::Activated {
            id: sl.id,
            qty: filled,
        },
    ];
    let params = match oco(symbol, &tp, &sl) {
        Ok(p) => p,
        Err(e) => {
            events.extend(cancel_both(&w, &e.to_string()));
            return events;
        }
    };
    match rest.place_oco(&params).await {
        Ok(v) => {
            match reports::placed_list(&w.legs, [&tp.client_order_id, &sl.client_order_id], &v) {
                Ok(ev) => events.extend(ev),
                // Placed, unreadable: the reconciliation's queries settle it.
                Err(e) => {
                    tracing::warn!(error = %e, "binance: a bracket's exits were placed but the answer cannot be read");
                }
            }
        }
        // May have been placed: the reconciliation's queries settle it.
        Err(e) if e.outcome_unknown() => {
            tracing::warn!(error = %e, "binance: a bracket's exits may or may not have been placed; asking");
        }
        Err(e) => events.extend(cancel_both(
            &w,
            &format!("the exits could not be placed: {e}"),
        )),
    }
    events
}
