use super::*;
use crate::market::BookLevel;
use crate::order::Trail;

fn p(s: &str) -> Price {
    s.parse().unwrap()
}

fn q(s: &str) -> Qty {
    s.parse().unwrap()
}

fn book() -> OrderBook {
    let lv = |price: &str, qty: &str| BookLevel {
        price: p(price),
        qty: q(qty),
    };
    OrderBook {
        bids: vec![lv("99", "1"), lv("98", "2"), lv("97", "5")],
        asks: vec![lv("100", "1"), lv("101", "2"), lv("102", "5")],
    }
}

fn engine() -> MatchingEngine {
    MatchingEngine::new(
        Fees {
            maker: "0.001".parse().unwrap(),
            taker: "0.002".parse().unwrap(),
        },
        1,
    )
}

fn order(id: OrderId, side: Side, terms: Terms, qty: &str) -> VenueOrder {
    VenueOrder {
        id,
        client_order_id: String::new(),
        symbol: 0,
        side,
        qty: q(qty),
        terms,
        time_in_force: TimeInForce::Gtc,
        budget: None,
        lot: q("0.1"),
        live: false,
    }
}

fn trade(price: &str, qty: &str) -> TradeTick {
    TradeTick {
        id: 0,
        time: Timestamp(1),
        price: p(price),
        qty: q(qty),
        taker_side: Side::Sell,
    }
}

fn fills(ev: &[VenueEvent]) -> Vec<(OrderId, String, String, Liquidity)> {
    ev.iter()
        .filter_map(|e| match e {
            VenueEvent::Fill(f) => Some((
                f.order_id,
                f.qty.to_string(),
                f.price.to_string(),
                f.liquidity,
            )),
            _ => None,
        })
        .collect()
}

fn has(ev: &[VenueEvent], pred: impl Fn(&VenueEvent) -> bool) -> bool {
    ev.iter().any(pred)
}

#[test]
fn market_orders_walk_the_book_and_pay_taker_fees() {
    let mut m = engine();
    let ev = m.submit(
        order(1, Side::Buy, Terms::Market, "2.5"),
        &book(),
        p("100"),
        Timestamp(1),
    );
    assert_eq!(ev[0], VenueEvent::Accepted { id: 1 });
    assert_eq!(
        fills(&ev),
        [
            (1, "1".into(), "100".into(), Liquidity::Taker),
            (1, "1.5".into(), "101".into(), Liquidity::Taker)
        ]
    );
    let VenueEvent::Fill(f) = &ev[2] else {
        panic!()
    };
    assert_eq!(f.fee, "0.303".parse().unwrap(), "0.2 % of 151.5");
    assert!(!m.is_live(1));
    assert_eq!(
        taker_cost(&book(), Side::Buy, q("2.5"), None),
        ("251.5".parse().unwrap(), q("2.5"))
    );
}

#[test]
fn what_the_book_cannot_fill_expires() {
    let mut m = engine();
    let ev = m.submit(
        order(1, Side::Sell, Terms::Market, "10"),
        &book(),
        p("100"),
        Timestamp(1),
    );
    assert_eq!(fills(&ev).len(), 3);
    assert!(
        matches!(ev.last(), Some(VenueEvent::Expired { id: 1, reason }) if reason.contains("depth"))
    );
    let fok = VenueOrder {
        time_in_force: TimeInForce::Fok,
        ..order(2, Side::Sell, Terms::Market, "10")
    };
    let ev = m.submit(fok, &book(), p("100"), Timestamp(1));
    assert!(
        fills(&ev).is_empty(),
        "fill or kill fills nothing when it cannot fill all"
    );
    assert!(has(&ev, |e| matches!(e, VenueEvent::Expired { id: 2, .. })));
}

#[test]
fn resting_limits_fill_only_when_the_tape_trades_through() {
    let mut m = engine();
    let buy = order(1, Side::Buy, Terms::Limit { price: p("98.5") }, "3");
    let ev = m.submit(buy, &book(), p("100"), Timestamp(1));
    assert_eq!(ev, [VenueEvent::Accepted { id: 1 }]);
    assert!(
        m.on_trade(0, &trade("98.5", "5"), &book()).is_empty(),
        "a trade at the limit does not fill"
    );
    let ev = m.on_trade(0, &trade("98", "1"), &book());
    assert_eq!(
        fills(&ev),
        [(1, "1".into(), "98.5".into(), Liquidity::Maker)]
    );
    let ev = m.on_trade(0, &trade("97", "9"), &book());
    assert_eq!(
        fills(&ev),
        [(1, "2".into(), "98.5".into(), Liquidity::Maker)]
    );
    assert!(!m.is_live(1));
}

#[test]
fn marketable_limits_take_then_rest_or_expire() {
    let mut m = engine();
    let buy = order(1, Side::Buy, Terms::Limit { price: p("101") }, "5");
    let ev = m.submit(buy, &book(), p("100"), Timestamp(1));
    assert_eq!(fills(&ev).len(), 2, "takes 100 and 101, not 102");
    assert!(m.is_live(1), "the rest rests");
    let ioc = VenueOrder {
        time_in_force: TimeInForce::Ioc,
        ..order(2, Side::Buy, Terms::Limit { price: p("101") }, "5")
    };
    let ev = m.submit(ioc, &book(), p("100"), Timestamp(1));
    assert!(has(&ev, |e| matches!(e, VenueEvent::Expired { id: 2, .. })));
    let post = VenueOrder {
        time_in_force: TimeInForce::PostOnly,
        ..order(3, Side::Buy, Terms::Limit { price: p("100") }, "1")
    };
    let ev = m.submit(post, &book(), p("100"), Timestamp(1));
    assert!(
        matches!(&ev[..], [VenueEvent::Rejected { id: 3, reason }] if reason.contains("post-only"))
    );
}

#[test]
fn stops_trigger_on_the_last_trade() {
    let mut m = engine();
    let stop = order(1, Side::Sell, Terms::StopMarket { stop: p("95") }, "1.5");
    assert_eq!(
        m.submit(stop, &book(), p("100"), Timestamp(1)),
        [VenueEvent::Accepted { id: 1 }]
    );
    assert!(m.on_trade(0, &trade("96", "1"), &book()).is_empty());
    let ev = m.on_trade(0, &trade("95", "1"), &book());
    assert_eq!(
        ev[0],
        VenueEvent::Triggered {
            id: 1,
            price: p("95")
        }
    );
    assert_eq!(
        fills(&ev),
        [
            (1, "1".into(), "99".into(), Liquidity::Taker),
            (1, "0.5".into(), "98".into(), Liquidity::Taker)
        ]
    );

    let at_once = order(2, Side::Sell, Terms::StopMarket { stop: p("101") }, "1");
    let ev = m.submit(at_once, &book(), p("100"), Timestamp(1));
    assert!(
        matches!(&ev[..], [VenueEvent::Rejected { id: 2, reason }] if reason.contains("at once"))
    );

    let sl = order(
        3,
        Side::Buy,
        Terms::StopLimit {
            stop: p("103"),
            price: p("97"),
        },
        "1",
    );
    m.submit(sl, &book(), p("100"), Timestamp(1));
    let ev = m.on_trade(0, &trade("103", "1"), &book());
    assert!(has(&ev, |e| matches!(
        e,
        VenueEvent::Triggered { id: 3, .. }
    )));
    assert!(
        fills(&ev).is_empty(),
        "a buy limit at 97 does not take asks at 100"
    );
    assert!(m.is_live(3));

    let tp = order(4, Side::Sell, Terms::TakeProfit { stop: p("110") }, "1");
    m.submit(tp, &book(), p("100"), Timestamp(1));
    assert!(
        m.on_trade(0, &trade("109", "1"), &book())
            .iter()
            .all(|e| !matches!(e, VenueEvent::Triggered { id: 4, .. }))
    );
    assert!(has(
        &m.on_trade(0, &trade("110", "1"), &book()),
        |e| matches!(e, VenueEvent::Triggered { id: 4, .. })
    ));
}

#[test]
fn trailing_stops_follow_the_high() {
    let mut m = engine();
    let trail = order(
        1,
        Side::Sell,
        Terms::TrailingStop {
            trail: Trail::Amount(p("5")),
        },
        "1",
    );
    m.submit(trail, &book(), p("100"), Timestamp(1));
    for px in ["104", "108", "104"] {
        assert!(m.on_trade(0, &trade(px, "1"), &book()).is_empty(), "{px}");
    }
    let ev = m.on_trade(0, &trade("103", "1"), &book());
    assert_eq!(
        ev[0],
        VenueEvent::Triggered {
            id: 1,
            price: p("103")
        }
    );
    assert_eq!(fills(&ev).len(), 1);
}

#[test]
fn oco_legs_cancel_each_other() {
    let mut m = engine();
    let tp = order(1, Side::Sell, Terms::Limit { price: p("110") }, "1");
    let sl = order(2, Side::Sell, Terms::StopMarket { stop: p("95") }, "1");
    let ev = m.submit_oco(tp, sl, &book(), p("100"), Timestamp(1));
    assert_eq!(
        ev,
        [
            VenueEvent::Accepted { id: 1 },
            VenueEvent::Accepted { id: 2 }
        ]
    );
    let ev = m.on_trade(0, &trade("111", "0.4"), &book());
    assert_eq!(
        fills(&ev),
        [(1, "0.4".into(), "110".into(), Liquidity::Maker)]
    );
    assert!(
        has(&ev, |e| matches!(e, VenueEvent::Cancelled { id: 2, .. })),
        "{ev:?}"
    );
    assert!(m.is_live(1) && !m.is_live(2));
}

#[test]
fn bracket_exits_wait_for_the_entry() {
    let mut m = engine();
    let entry = order(1, Side::Buy, Terms::Limit { price: p("98.5") }, "1");
    let tp = order(2, Side::Sell, Terms::Limit { price: p("110") }, "1");
    let sl = order(3, Side::Sell, Terms::StopMarket { stop: p("95") }, "1");
    let ev = m.submit_bracket(entry, tp, sl, &book(), p("100"), Timestamp(1));
    assert_eq!(ev, [VenueEvent::Accepted { id: 1 }]);
    assert!(
        m.on_trade(0, &trade("120", "5"), &book()).is_empty(),
        "pending exits do not trade"
    );
    let ev = m.on_trade(0, &trade("98", "1"), &book());
    assert_eq!(
        fills(&ev),
        [(1, "1".into(), "98.5".into(), Liquidity::Maker)]
    );
    assert!(has(&ev, |e| *e == VenueEvent::Activated { id: 2, qty: q("1") }));
    assert!(has(&ev, |e| *e == VenueEvent::Activated { id: 3, qty: q("1") }));
    let ev = m.on_trade(0, &trade("94", "1"), &book());
    assert!(has(&ev, |e| matches!(
        e,
        VenueEvent::Triggered { id: 3, .. }
    )));
    assert!(has(&ev, |e| matches!(
        e,
        VenueEvent::Cancelled { id: 2, .. }
    )));
    assert_eq!(m.live_count(), 0);

    // An entry cancelled unfilled takes its exits with it.
    let entry = order(4, Side::Buy, Terms::Limit { price: p("90") }, "1");
    let tp = order(5, Side::Sell, Terms::Limit { price: p("110") }, "1");
    let sl = order(6, Side::Sell, Terms::StopMarket { stop: p("85") }, "1");
    m.submit_bracket(entry, tp, sl, &book(), p("100"), Timestamp(1));
    let ev = m.cancel(4, "by user", &book(), p("100"), Timestamp(2));
    assert_eq!(ev.len(), 3, "{ev:?}");
    assert_eq!(m.live_count(), 0);
}

#[test]
fn a_buy_never_spends_more_than_its_budget() {
    let mut m = engine();
    // 150.3 buys 1 @ 100 (100.2 with fee) and 0.4 @ 101 (40.4808), not more.
    let buy = VenueOrder {
        budget: Some("150.3".parse().unwrap()),
        ..order(1, Side::Buy, Terms::Market, "3")
    };
    let ev = m.submit(buy, &book(), p("100"), Timestamp(1));
    assert_eq!(
        fills(&ev),
        [
            (1, "1".into(), "100".into(), Liquidity::Taker),
            (1, "0.4".into(), "101".into(), Liquidity::Taker)
        ]
    );
    assert!(
        matches!(ev.last(), Some(VenueEvent::Expired { id: 1, reason }) if reason.contains("funds"))
    );
    let spent: Decimal = ev
        .iter()
        .filter_map(|e| match e {
            VenueEvent::Fill(f) => Some(f.price.get() * f.qty.get() + f.fee.get()),
            _ => None,
        })
        .sum();
    assert!(spent <= "150.3".parse().unwrap(), "{spent}");
}

#[test]
fn cancelling_an_unknown_order_does_nothing() {
    let mut m = engine();
    assert!(
        m.cancel(42, "x", &book(), p("100"), Timestamp(1))
            .is_empty()
    );
}
