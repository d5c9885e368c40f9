//! `cargo bench -p tradedesk-core --bench matching`: in-process matching
//! throughput of the sim venue's engine (target ≥ 500,000 orders/s).
//!
//! The mix per 10 orders: 4 market orders that walk the book, 4 limit
//! orders that rest, 2 cancels; plus one tape trade per 10 orders that
//! checks every resting order for a fill.

use std::time::Instant;

use tradedesk_core::market::{BookLevel, OrderBook, TradeTick};
use tradedesk_core::money::{Price, Qty};
use tradedesk_core::order::{Side, Terms, TimeInForce};
use tradedesk_core::sim::matching::{Fees, MatchingEngine};
use tradedesk_core::time::Timestamp;
use tradedesk_core::venue::VenueOrder;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: u64 = if quick { 20_000 } else { 2_000_000 };
    let p = |s: &str| -> Price { s.parse().expect("price") };
    let q = |s: &str| -> Qty { s.parse().expect("qty") };
    let book = OrderBook {
        bids: (0..20)
            .map(|i| BookLevel {
                price: Price::new(p("99.9").get() - rust_decimal::Decimal::new(i, 1)),
                qty: q("5"),
            })
            .collect(),
        asks: (0..20)
            .map(|i| BookLevel {
                price: Price::new(p("100.1").get() + rust_decimal::Decimal::new(i, 1)),
                qty: q("5"),
            })
            .collect(),
    };
    let fees = Fees {
        maker: "0.001".parse().expect("fee"),
        taker: "0.001".parse().expect("fee"),
    };
    let mut engine = MatchingEngine::new(fees, 1);
    let last = p("100");
    let base = VenueOrder {
        id: 0,
        client_order_id: String::new(),
        symbol: 0,
        side: Side::Buy,
        qty: q("0.5"),
        terms: Terms::Market,
        time_in_force: TimeInForce::Gtc,
        budget: None,
        lot: q("0.001"),
        live: false,
    };
    let mut events = 0usize;
    let start = Instant::now();
    for i in 0..n {
        let now = Timestamp(i as i64);
        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        let out = match i % 10 {
            0..=3 => engine.submit(
                VenueOrder {
                    id: i,
                    side,
                    ..base.clone()
                },
                &book,
                last,
                now,
            ),
            4..=7 => {
                let price = if side == Side::Buy { p("95") } else { p("105") };
                engine.submit(
                    VenueOrder {
                        id: i,
                        side,
                        terms: Terms::Limit { price },
                        ..base.clone()
                    },
                    &book,
                    last,
                    now,
                )
            }
            8 => engine.cancel(i - 4, "bench", &book, last, now),
            _ => {
                let trade = TradeTick {
                    id: i,
                    time: now,
                    price: last,
                    qty: q("1"),
                    taker_side: side,
                };
                let mut out = engine.on_trade(0, &trade, &book);
                out.extend(engine.cancel(i - 4, "bench", &book, last, now));
                out
            }
        };
        events += out.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "matching engine ({} mode): {n} orders in {:.3} s = {:.0} orders/s ({events} events, {} resting)",
        if quick { "quick" } else { "bench" },
        secs,
        n as f64 / secs,
        engine.live_count()
    );
    println!("  target ≥ 500,000 orders/s");
}
