//! The market clock: advances the simulated market every `sim.tick_ms`,
//! lets resting orders fill against the new trades, writes what changed,
//! publishes tickers, books, klines and order events, then hands the tick
//! to the bots.

use std::time::{Duration, Instant};

use tradedesk_core::api::market::{Book, KlineEvent, KlinesTopic, OrderbookTopic, TickersTopic};
use tradedesk_core::api::risk::RiskAlertsTopic;

use tradedesk_core::api::cache::Namespace;

use crate::context::Ctx;
use crate::services::cache::TICKER_BYTES;
use crate::services::progress::Part;

/// Runs until shutdown, on a blocking thread of its own.
pub fn run(ctx: &Ctx) {
    let tick = Duration::from_millis(ctx.config.sim.spec.tick_ms);
    let mut next = Instant::now()
        .checked_add(tick)
        .unwrap_or_else(Instant::now);
    while !ctx.shutdown.is_cancelled() {
        ctx.progress.beat(Part::MarketLoop);
        let now = Instant::now();
        if now < next {
            // Short sleeps keep shutdown prompt.
            std::thread::sleep(next.duration_since(now).min(Duration::from_millis(50)));
            continue;
        }
        next = next.checked_add(tick).unwrap_or(now);
        // After a stall, skip the missed ticks rather than replay them.
        if next < now {
            next = now.checked_add(tick).unwrap_or(now);
        }
        // A panic in one tick must not stop the market: it is logged, the
        // exchange rebuilds its books at the next lock, and the clock goes on.
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(ctx))) {
            tracing::error!(panic = %super::panic_text(p.as_ref()), "a market tick panicked");
        }
    }
}

/// One tick, published.
pub fn step(ctx: &Ctx) {
    let mut state = ctx.exchange.lock();
    let (moved, changes, alerts) = {
        let mut store = ctx.store();
        let now = ctx.now();
        let (moved, mut changes) = state.tick(&mut store, now);
        // The risk monitor sees the new prices before anything else acts on them.
        let (halted, mut alerts) = state.risk_tick(&mut store, now);
        crate::services::bots::record_external(ctx, &mut store, &halted, "risk halt");
        changes.absorb(halted);
        // Margin accounts: interest, then liquidation at the new prices.
        let (margin, margin_alerts) = state.margin_tick(&mut store, now);
        crate::services::bots::record_external(ctx, &mut store, &margin, "liquidation");
        changes.absorb(margin);
        alerts.extend(margin_alerts);
        (moved, changes, alerts)
    };
    for a in &alerts {
        ctx.hub
            .publish_to::<RiskAlertsTopic>(state.scope_owner(&a.scope), a);
    }
    ctx.publish(&state, &changes);
    for (symbol, bar) in changes.bars.iter().chain(&changes.bar_fixes) {
        ctx.hub.publish::<KlinesTopic>(&KlineEvent {
            symbol: symbol.clone(),
            bar: *bar,
            closed: true,
        });
    }
    let now = ctx.now().millis();
    let instruments = state.venue.instruments();
    let moved_symbols = moved
        .iter()
        .filter_map(|&i| instruments.get(i).map(|inst| inst.symbol.clone()))
        .collect();
    crate::services::figures::publish(ctx, &state, &moved_symbols);
    for idx in moved {
        let inst = state.venue.instruments()[idx].clone();
        let book = state.book(idx, 10);
        let data = &state.data[idx];
        let ticker = state.ticker(idx);
        ctx.hub.publish::<TickersTopic>(&ticker);
        // The tick replaces the cached ticker (under the exchange lock, so
        // no reader puts an older one after it).
        ctx.cache.put(
            Namespace::Ticker,
            inst.symbol.as_str(),
            ticker,
            TICKER_BYTES,
            None,
            now,
        );
        if let Some(bar) = data.forming {
            ctx.hub.publish::<KlinesTopic>(&KlineEvent {
                symbol: inst.symbol.clone(),
                bar,
                closed: false,
            });
        }
        ctx.hub.publish::<OrderbookTopic>(&Book {
            symbol: inst.symbol.clone(),
            time: data.last_time,
            bids: book.bids,
            asks: book.asks,
        });
    }
    drop(state);
    // The bots see the tick after the market has moved and been written.
    ctx.bots.on_tick(ctx, &changes);
}
