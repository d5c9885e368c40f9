use proptest::prelude::*;

use super::*;
use crate::instrument::Instrument;
use crate::instrument::tests::btc_with_lot;
use crate::order::{OrderRequest, OrderType, Terms};

fn m(last: &str) -> MarketFacts<'static> {
    MarketFacts {
        last: last.parse().unwrap(),
        base: "BTC",
    }
}

fn order(side: Side, order_type: OrderType, qty: &str, price: Option<&str>) -> ValidOrder {
    OrderRequest {
        symbol: "BTCUSDT".parse().unwrap(),
        side,
        order_type,
        qty: qty.parse().unwrap(),
        price: price.map(|p| p.parse().unwrap()),
        stop_price: None,
        trail: None,
        time_in_force: None,
        client_order_id: None,
        account: None,
    }
    .validate(&Instrument {
        min_notional: "0.001".parse().unwrap(),
        ..btc_with_lot("0.001")
    })
    .unwrap()
}

impl Refusal {
    fn rejection(self) -> Rejection {
        match self {
            Refusal::Rejected(r) => r,
            Refusal::TooLarge { message, .. } => panic!("not a rejection: {message}"),
        }
    }
}

fn facts(limits: &Limits) -> ScopeFacts<'_> {
    ScopeFacts {
        scope: Scope::Account("paper".into()),
        limits,
        state: TradingState::Active,
        position: Qty::ZERO,
        open_buy: Qty::ZERO,
        open_sell: Qty::ZERO,
        base_held: Qty::ZERO,
        base_owed: Qty::ZERO,
        can_short: false,
        open_orders: 0,
        accepted_last_second: 0,
        accepted_last_minute: 0,
    }
}

fn q(s: &str) -> Qty {
    s.parse().unwrap()
}

#[test]
fn a_rejection_names_the_limit_its_value_and_the_result() {
    let limits = Limits {
        max_order_notional: Some("1000".parse().unwrap()),
        price_collar_pct: Some(q("5")),
        ..Limits::default()
    };
    let last = m("100");
    let r = check(
        order(Side::Buy, OrderType::Market, "10.001", None),
        None,
        last,
        &[facts(&limits)],
    )
    .unwrap_err()
    .rejection();
    assert_eq!(r.limit, "max_order_notional");
    assert_eq!(
        r.message,
        "max_order_notional of account:paper is 1000; this order would make it 1000.1"
    );
    // Exactly at the limit is accepted.
    assert!(
        check(
            order(Side::Buy, OrderType::Market, "10", None),
            None,
            last,
            &[facts(&limits)]
        )
        .is_ok()
    );
    let r = check(
        order(Side::Buy, OrderType::Limit, "1", Some("105.01")),
        None,
        last,
        &[facts(&limits)],
    )
    .unwrap_err()
    .rejection();
    assert_eq!(r.limit, "price_collar_pct");
    assert_eq!(r.limit_value, "5% of 100");
    assert_eq!(r.value, "5.01% (105.01)");
    assert!(
        check(
            order(Side::Buy, OrderType::Limit, "1", Some("95")),
            None,
            last,
            &[facts(&limits)]
        )
        .is_ok()
    );
}

#[test]
fn states_allow_what_they_say() {
    let limits = Limits::default();
    let last = m("100");
    let mut f = facts(&limits);
    f.state = TradingState::Halted;
    let r = check(
        order(Side::Sell, OrderType::Market, "1", None),
        None,
        last,
        std::slice::from_ref(&f),
    )
    .unwrap_err()
    .rejection();
    assert_eq!(r.kind, RejectKind::State);
    f.state = TradingState::Reducing;
    f.position = q("2");
    assert!(
        check(
            order(Side::Sell, OrderType::Market, "2", None),
            None,
            last,
            std::slice::from_ref(&f)
        )
        .is_ok()
    );
    assert!(
        check(
            order(Side::Sell, OrderType::Market, "2.001", None),
            None,
            last,
            std::slice::from_ref(&f)
        )
        .is_err()
    );
    assert!(
        check(
            order(Side::Buy, OrderType::Market, "0.001", None),
            None,
            last,
            std::slice::from_ref(&f)
        )
        .is_err()
    );
}

#[test]
fn orders_near_a_limit_are_named_for_a_warning() {
    let limits = Limits {
        max_position_qty: Some(q("10")),
        max_open_orders: Some(5),
        ..Limits::default()
    };
    let mut f = facts(&limits);
    f.position = q("7");
    f.open_orders = 3;
    let o = order(Side::Buy, OrderType::Market, "1", None);
    let near = near_limits(&o, m("100"), std::slice::from_ref(&f));
    let names: Vec<&str> = near.iter().map(|n| n.limit.as_str()).collect();
    // 8 of 10 and 4 of 5: both at the default 80 %.
    assert_eq!(names, ["max_position_qty", "max_open_orders"]);
    f.position = q("5");
    f.open_orders = 1;
    assert!(near_limits(&o, m("100"), std::slice::from_ref(&f)).is_empty());
}

#[test]
fn the_tightest_scope_decides() {
    let loose = Limits {
        max_order_qty: Some(q("10")),
        ..Limits::default()
    };
    let tight = Limits {
        max_order_qty: Some(q("1")),
        ..Limits::default()
    };
    let mut bot = facts(&tight);
    bot.scope = Scope::Bot(3);
    let r = check(
        order(Side::Buy, OrderType::Market, "2", None),
        None,
        m("100"),
        &[facts(&loose), bot],
    )
    .unwrap_err()
    .rejection();
    assert_eq!(
        (r.limit.as_str(), r.scope.to_string()),
        ("max_order_qty", "bot:3".into())
    );
}

#[test]
fn limits_are_validated_by_key() {
    let v = |j: serde_json::Value, scope: &str| -> String {
        match serde_json::from_value::<Limits>(j) {
            Err(e) => e.to_string(),
            Ok(l) => l
                .validate(&scope.parse().unwrap())
                .map_or_else(|e| e.to_string(), |()| "ok".into()),
        }
    };
    assert_eq!(
        v(serde_json::json!({"max_order_qty": "1"}), "account:paper"),
        "ok"
    );
    assert!(
        v(serde_json::json!({"max_order_qtty": "1"}), "account:paper")
            .contains("unknown field `max_order_qtty`")
    );
    assert_eq!(
        v(serde_json::json!({"max_order_qty": "0"}), "account:paper"),
        "field `limits.max_order_qty`: must be greater than zero, got 0"
    );
    assert_eq!(
        v(
            serde_json::json!({"daily_loss_limit": "5"}),
            "symbol:BTCUSDT"
        ),
        "field `limits.daily_loss_limit`: is an account or bot limit, not a symbol limit"
    );
    assert_eq!(
        v(serde_json::json!({"daily_reset_utc": "25:00"}), "bot:1"),
        "field `limits.daily_reset_utc`: `25:00` is not HH:MM"
    );
    assert_eq!(reset_offset_ms("08:30"), Some(30_600_000));
    assert!("bot:x".parse::<Scope>().is_err());
    assert_eq!(
        "symbol:BTCUSDT".parse::<Scope>().unwrap().to_string(),
        "symbol:BTCUSDT"
    );
}

#[test]
fn the_rate_window_counts_the_last_second_and_minute() {
    let mut w = RateWindow::default();
    for t in [0, 500, 999, 1000] {
        w.record(t);
    }
    assert_eq!(w.counts(1000), (3, 4));
    assert_eq!(w.counts(1999), (1, 4));
    w.record(30_000);
    assert_eq!(w.counts(30_000), (1, 5));
    assert_eq!(w.counts(60_000), (0, 4));
    assert_eq!(w.counts(90_000), (0, 0));
}

/// Extreme decimals: zero, the smallest step, large, and the largest.
fn extreme() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(Decimal::ZERO),
        Just(Decimal::new(1, 18)),
        Just(Decimal::new(1, 0)),
        Just(Decimal::from(100_000_000_000_000_000_000_i128)),
        Just(Decimal::MAX),
        (1i64..i64::MAX).prop_map(|n| Decimal::new(n, 8)),
    ]
}

#[test]
fn open_orders_count_toward_the_position_limit() {
    let limits = Limits {
        max_position_qty: Some(q("0.004")),
        ..Limits::default()
    };
    let mut f = facts(&limits);
    f.open_buy = q("0.002");
    let o = order(Side::Buy, OrderType::Limit, "0.002", Some("90"));
    assert!(check(o.clone(), None, m("100"), std::slice::from_ref(&f)).is_ok());
    f.open_buy = q("0.004");
    let r = check(o, None, m("100"), std::slice::from_ref(&f))
        .unwrap_err()
        .rejection();
    assert_eq!(r.limit, "max_position_qty");
    assert_eq!(r.value, "0.006");
    // Open sells do not make a buy larger.
    f.open_buy = Qty::ZERO;
    f.open_sell = q("5");
    assert!(
        check(
            order(Side::Buy, OrderType::Market, "0.004", None),
            None,
            m("100"),
            std::slice::from_ref(&f)
        )
        .is_ok()
    );
}

#[test]
fn reducing_counts_the_open_orders_on_the_same_side() {
    let limits = Limits::default();
    let mut f = facts(&limits);
    f.state = TradingState::Reducing;
    f.position = q("1");
    f.open_sell = q("0.6");
    let sell = |qty| order(Side::Sell, OrderType::Market, qty, None);
    assert!(check(sell("0.4"), None, m("100"), std::slice::from_ref(&f)).is_ok());
    let r = check(sell("0.5"), None, m("100"), std::slice::from_ref(&f))
        .unwrap_err()
        .rejection();
    assert_eq!(r.kind, RejectKind::State);
    assert!(
        r.message.contains("with the open sell orders: 1.1"),
        "{}",
        r.message
    );
}

#[test]
fn entering_reducing_cancels_exactly_the_orders_that_grow_the_position() {
    let orders = [
        (1, Side::Buy, q("0.5")),
        (2, Side::Sell, q("0.6")),
        (3, Side::Sell, q("0.5")),
        (4, Side::Sell, q("0.4")),
    ];
    // Long 1: buys grow it; the sells reduce until they add up past 1.
    assert_eq!(
        growth_orders(TradingState::Reducing, q("1"), &orders),
        [1, 3]
    );
    assert_eq!(
        growth_orders(TradingState::Halted, q("0"), &orders),
        [1, 2, 3, 4]
    );
    assert!(growth_orders(TradingState::Active, q("0"), &orders).is_empty());
}

proptest! {
    /// Whatever the amounts, the check answers: an approval, a
    /// rejection, or a too-large error naming the field. Never a panic.
    #[test]
    fn extreme_amounts_never_panic(
        qty in extreme(),
        price in extreme(),
        last in extreme(),
        position in extreme(),
        open in extreme(),
        held in extreme(),
        limit in extreme(),
        buy in any::<bool>(),
        kind in 0u8..3,
    ) {
        let side = if buy { Side::Buy } else { Side::Sell };
        let qty = Qty::new(qty.max(Decimal::new(1, 18)));
        let price = Price::new(price.max(Decimal::new(1, 18)));
        let v = ValidOrder {
            symbol: "BTCUSDT".parse().unwrap(),
            side,
            qty,
            terms: match kind {
                0 => Terms::Market,
                1 => Terms::Limit { price },
                _ => Terms::StopMarket { stop: price },
            },
            time_in_force: crate::order::TimeInForce::Gtc,
            client_order_id: None,
        };
        let limit_n = Notional::new(limit.max(Decimal::new(1, 18)));
        let limit_q = Qty::new(limit.max(Decimal::new(1, 18)));
        let limits = Limits {
            max_order_qty: Some(limit_q),
            max_order_notional: Some(limit_n),
            max_position_qty: Some(limit_q),
            max_position_notional: Some(limit_n),
            price_collar_pct: Some(Qty::new(Decimal::from(1000))),
            max_exposure: Some([("BTC".to_owned(), limit_n)].into()),
            warn_pct: Some(Qty::new(Decimal::from(50))),
            ..Limits::default()
        };
        let mut f = facts(&limits);
        f.position = Qty::new(if buy { position } else { position.max(Decimal::ZERO) });
        f.open_buy = Qty::new(open);
        f.open_sell = Qty::new(open);
        f.base_held = Qty::new(held);
        let market = MarketFacts { last: Price::new(last), base: "BTC" };
        let _ = near_limits(&v, market, std::slice::from_ref(&f));
        match check(v, None, market, std::slice::from_ref(&f)) {
            Ok(_) | Err(Refusal::Rejected(_)) => {}
            Err(Refusal::TooLarge { field, message }) => {
                prop_assert!(field == "qty" || field == "price", "{field}: {message}");
            }
        }
    }

    /// No accepted order lets the position, with every open order on
    /// its side filled, pass the position limit.
    #[test]
    fn accepted_orders_with_their_open_orders_stay_within_the_position_limit(
        buy in any::<bool>(),
        qty in 1i64..5_000,
        position in -3_000i64..3_000,
        open in 0i64..5_000,
        max_pos in 1i64..5_000,
    ) {
        let limits = Limits {
            max_position_qty: Some(Qty::new(Decimal::new(max_pos, 3))),
            ..Limits::default()
        };
        let side = if buy { Side::Buy } else { Side::Sell };
        let q = Qty::new(Decimal::new(qty, 3));
        let mut f = facts(&limits);
        f.position = Qty::new(Decimal::new(position, 3));
        if buy { f.open_buy = Qty::new(Decimal::new(open, 3)); } else { f.open_sell = Qty::new(Decimal::new(open, 3)); }
        let o = order(side, OrderType::Market, &q.to_string(), None);
        if check(o, None, m("100"), std::slice::from_ref(&f)).is_ok() {
            let with_open = Decimal::new(qty + open, 3);
            let after = if buy { Decimal::new(position, 3) + with_open } else { Decimal::new(position, 3) - with_open };
            let reducing = reduces(side, Qty::new(with_open), f.position);
            prop_assert!(reducing || after.abs() <= Decimal::new(max_pos, 3));
        }
    }

    /// What stays open after entering reducing only shrinks the
    /// position, side by side, even if all of it fills.
    #[test]
    fn what_survives_reducing_can_only_shrink_the_position(
        position in -3_000i64..3_000,
        orders in proptest::collection::vec((any::<bool>(), 1i64..2_000), 0..8),
    ) {
        let orders: Vec<(u64, Side, Qty)> = orders
            .iter()
            .enumerate()
            .map(|(i, (b, q))| (i as u64, if *b { Side::Buy } else { Side::Sell }, Qty::new(Decimal::new(*q, 3))))
            .collect();
        let pos = Qty::new(Decimal::new(position, 3));
        let cancel = growth_orders(TradingState::Reducing, pos, &orders);
        for side in [Side::Buy, Side::Sell] {
            let kept: Decimal = orders
                .iter()
                .filter(|o| o.1 == side && !cancel.contains(&o.0))
                .map(|o| o.2.get())
                .sum();
            prop_assert!(kept.is_zero() || reduces(side, Qty::new(kept), pos));
        }
    }
}

proptest! {
        /// No accepted order breaks a limit; orders exactly at a limit pass.
        #[test]
        fn accepted_orders_never_break_a_limit(
            buy in any::<bool>(),
            limit_order in any::<bool>(),
            qty in 1i64..5_000,
            price_off in -2_000i64..2_000,
            position in -3_000i64..3_000,
            open in 0u32..6,
            per_sec in 0u32..6,
            max_qty in 1i64..5_000,
            max_notional in 1i64..500_000,
            max_pos in 1i64..5_000,
            max_open in 1u32..6,
            collar in 1i64..3_000,
            rate in 1u32..6,
        ) {
            let last: Price = "100".parse().unwrap();
            let qty_d = Qty::new(Decimal::new(qty, 3));
            let price = Price::new(Decimal::new(10_000 + price_off, 2));
            let side = if buy { Side::Buy } else { Side::Sell };
            let o = order(side, if limit_order { OrderType::Limit } else { OrderType::Market },
                &qty_d.to_string(), limit_order.then(|| price.to_string()).as_deref());
            let limits = Limits {
                max_order_qty: Some(Qty::new(Decimal::new(max_qty, 3))),
                max_order_notional: Some(Notional::new(Decimal::new(max_notional, 2))),
                max_position_qty: Some(Qty::new(Decimal::new(max_pos, 3))),
                max_open_orders: Some(max_open),
                price_collar_pct: Some(Qty::new(Decimal::new(collar, 2))),
                max_orders_per_second: Some(rate),
                ..Limits::default()
            };
            let mut f = facts(&limits);
            f.position = Qty::new(Decimal::new(position, 3));
            f.open_orders = open;
            f.accepted_last_second = per_sec;
            if let Ok(a) = check(o.clone(), None, m("100"), std::slice::from_ref(&f)) {
                let o = a.order();
                let px = o.terms.price().unwrap_or(last);
                prop_assert!(o.qty <= limits.max_order_qty.unwrap());
                prop_assert!(px.get() * o.qty.get() <= limits.max_order_notional.unwrap().get());
                let signed = if buy { o.qty.get() } else { -o.qty.get() };
                let after = (f.position.get() + signed).abs();
                prop_assert!(after <= limits.max_position_qty.unwrap().get() || reduces(side, o.qty, f.position));
                prop_assert!(open < max_open);
                prop_assert!(per_sec < rate);
                let off = ((px.get() - last.get()) / last.get() * Decimal::ONE_HUNDRED).abs();
                prop_assert!(off <= limits.price_collar_pct.unwrap().get());
            }
            // An order exactly at the quantity and notional limits passes those checks.
            let exact = Limits {
                max_order_qty: Some(qty_d),
                max_order_notional: Some(last.checked_mul_qty(qty_d).unwrap()),
                ..Limits::default()
            };
            prop_assert!(check(order(side, OrderType::Market, &qty_d.to_string(), None), None, m("100"), &[facts(&exact)]).is_ok());
        }

        /// Halted accepts nothing; reducing accepts exactly the orders that
        /// shrink the position, whatever else the order is.
        #[test]
        fn states_decide_before_anything_else(
            buy in any::<bool>(),
            qty in 1i64..5_000,
            position in -3_000i64..3_000,
        ) {
            let limits = Limits::default();
            let side = if buy { Side::Buy } else { Side::Sell };
            let q = Qty::new(Decimal::new(qty, 3));
            let mut f = facts(&limits);
            f.position = Qty::new(Decimal::new(position, 3));
            f.state = TradingState::Halted;
            let o = order(side, OrderType::Market, &q.to_string(), None);
            prop_assert!(check(o.clone(), None, m("100"), std::slice::from_ref(&f)).is_err());
            f.state = TradingState::Reducing;
            let ok = check(o, None, m("100"), std::slice::from_ref(&f)).is_ok();
            let shrinks = if buy { position < 0 && qty <= -position } else { position > 0 && qty <= position };
            prop_assert_eq!(ok, shrinks);
        }
}

#[test]
fn max_exposure_counts_a_margin_accounts_short_and_not_a_spot_oversell() {
    let limits = Limits {
        max_exposure: Some([("BTC".to_owned(), "1000".parse().unwrap())].into()),
        ..Limits::default()
    };
    let market = MarketFacts {
        last: "100".parse().unwrap(),
        base: "BTC",
    };
    let mut f = facts(&limits);
    f.base_held = q("2");
    f.position = q("2");
    f.base_owed = q("5");
    f.can_short = true;
    // Selling 2 held and 4 more: owed 5 + 4 = 9 → 900, within 1000.
    let ok = order(Side::Sell, OrderType::Market, "6", None);
    assert!(check(ok, None, market, std::slice::from_ref(&f)).is_ok());
    // 2 held and 6 more: owed 11 → 1100, above.
    let over = order(Side::Sell, OrderType::Market, "8", None);
    let r = check(over.clone(), None, market, std::slice::from_ref(&f))
        .unwrap_err()
        .rejection();
    assert_eq!(r.limit, "max_exposure.BTC");
    assert_eq!(r.value, "1100");
    // A sell of what is held never grows the exposure.
    let closing = order(Side::Sell, OrderType::Market, "2", None);
    assert!(check(closing, None, market, std::slice::from_ref(&f)).is_ok());
    // On spot an oversell is not an exposure (its funds refuse it).
    f.can_short = false;
    assert!(check(over, None, market, std::slice::from_ref(&f)).is_ok());
}
