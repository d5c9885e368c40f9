//! A remote venue's answers, booked as they arrive: each on a blocking
//! thread of its own, under the exchange lock (so it is ordered with the
//! market's events), written, published, then shown to the bots — the same
//! path a market tick's fills take.

use std::sync::{Arc, Weak};

use tradedesk_core::venue::Ack;

use crate::context::Ctx;
use crate::services::exchange::{Deliver, Dispatch, Request};

/// The dispatcher the exchange sends a remote venue's requests through.
pub fn dispatch(ctx: &Arc<Ctx>, handle: tokio::runtime::Handle) -> Dispatch {
    let weak: Weak<Ctx> = Arc::downgrade(ctx);
    let deliver: Deliver = Arc::new(move |request, ack| {
        let Some(ctx) = weak.upgrade() else {
            return;
        };
        tokio::task::spawn_blocking(move || book(&ctx, &request, ack));
    });
    Dispatch { handle, deliver }
}

/// Books one answer.
pub fn book(ctx: &Ctx, request: &Request, ack: Ack) {
    let run = || {
        let changes = {
            let mut state = ctx.exchange.lock();
            let changes = state.book_answer(&mut ctx.store(), request, ack, ctx.now());
            ctx.publish(&state, &changes);
            changes
        };
        if !changes.is_empty() {
            ctx.bots.on_tick(ctx, &changes);
        }
    };
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        tracing::error!(panic = %super::panic_text(p.as_ref()), "booking a venue's answer panicked");
    }
}
