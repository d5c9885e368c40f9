use proptest::prelude::*;

use super::*;

fn q(s: &str) -> Qty {
    s.parse().unwrap()
}

#[test]
fn locks_fail_with_the_shortfall_and_change_nothing() {
    let mut l = Ledger::default();
    l.deposit("USDT", q("100")).unwrap();
    let before = l.clone();
    let err = l.lock("USDT", q("150")).unwrap_err().to_string();
    assert_eq!(err, "insufficient USDT balance: 100 free, 150 required");
    assert_eq!(l, before);
    l.lock("USDT", q("60")).unwrap();
    assert_eq!(
        l.balance("USDT"),
        Balance {
            free: q("40"),
            locked: q("60"),
            ..Balance::default()
        }
    );
    assert!(l.unlock("USDT", q("61")).is_err());
    l.unlock("USDT", q("60")).unwrap();
    assert_eq!(l, before);
}

#[test]
fn a_buy_and_a_sell_book_exactly() {
    let mut l = Ledger::default();
    l.deposit("USDT", q("1000")).unwrap();
    l.lock("USDT", q("101")).unwrap();
    let buy = FillBooking {
        base: "BTC",
        quote: "USDT",
        side: Side::Buy,
        qty: q("2"),
        price: "50".parse().unwrap(),
        fee: "0.1".parse().unwrap(),
        fee_base: Qty::ZERO,
        release: q("101"),
    };
    l.book_fill(&buy).unwrap();
    assert_eq!(
        l.balance("USDT"),
        Balance {
            free: q("899.9"),
            locked: Qty::ZERO,
            ..Balance::default()
        }
    );
    assert_eq!(
        l.balance("BTC"),
        Balance {
            free: q("2"),
            locked: Qty::ZERO,
            ..Balance::default()
        }
    );
    l.lock("BTC", q("2")).unwrap();
    let sell = FillBooking {
        side: Side::Sell,
        price: "60".parse().unwrap(),
        fee: "0.12".parse().unwrap(),
        release: q("2"),
        ..buy
    };
    l.book_fill(&sell).unwrap();
    assert_eq!(l.balance("USDT").free, q("1019.78"));
    assert_eq!(l.balance("BTC").total(), Qty::ZERO);
}

#[test]
fn a_buy_whose_commission_is_taken_in_the_base_asset_holds_what_it_received() {
    // Binance takes a buy's commission out of what it bought.
    let mut b = Books::default();
    b.total.deposit("USDT", q("1000")).unwrap();
    b.lock(None, "USDT", q("100")).unwrap();
    let f = FillBooking {
        base: "BTC",
        quote: "USDT",
        side: Side::Buy,
        qty: q("2"),
        price: "50".parse().unwrap(),
        fee: Notional::ZERO,
        fee_base: q("0.002"),
        release: q("100"),
    };
    b.book_fill(None, &sym(), &f).unwrap();
    assert_eq!(b.total.balance("USDT").free, q("900"));
    assert_eq!(b.total.balance("BTC").free, q("1.998"));
    let p = b.position(&sym());
    assert_eq!(p.qty, q("1.998"));
    // What is held cost 99.9; the commission is worth 0.1: 100 in all.
    assert_eq!(p.cost, "99.9".parse().unwrap());
    assert_eq!(p.fees, "0.1".parse().unwrap());
}

#[test]
fn positions_realize_at_average_cost() {
    let mut p = Position::default();
    p.apply_fill(Side::Buy, q("1"), "100".parse().unwrap(), Notional::ZERO)
        .unwrap();
    p.apply_fill(Side::Buy, q("2"), "130".parse().unwrap(), Notional::ZERO)
        .unwrap();
    assert_eq!(p.avg_price(), Some("120".parse().unwrap()));
    let r = p
        .apply_fill(
            Side::Sell,
            q("1.5"),
            "140".parse().unwrap(),
            "0.5".parse().unwrap(),
        )
        .unwrap();
    // 30 of price gain, less the sale's 0.5 fee: realized after fees.
    assert_eq!(r, "29.5".parse().unwrap());
    assert_eq!(p.realized, "30".parse().unwrap());
    assert_eq!(p.realized_net(), Some("29.5".parse().unwrap()));
    assert_eq!(p.qty, q("1.5"));
    assert_eq!(
        p.unrealized("110".parse().unwrap()),
        Some("-15".parse().unwrap())
    );
    // Entry fees wait with the open quantity, and leave with it pro rata.
    let mut p = Position::default();
    p.apply_fill(
        Side::Buy,
        q("2"),
        "100".parse().unwrap(),
        "0.2".parse().unwrap(),
    )
    .unwrap();
    assert_eq!(p.open_fees, "0.2".parse().unwrap());
    assert_eq!(
        p.unrealized_net("100".parse().unwrap()),
        Some("-0.2".parse().unwrap())
    );
    let r = p
        .apply_fill(
            Side::Sell,
            q("1"),
            "110".parse().unwrap(),
            "0.11".parse().unwrap(),
        )
        .unwrap();
    // 10 gained, less the sale's fee and half the entry fees.
    assert_eq!(r, "9.79".parse().unwrap());
    assert_eq!(p.open_fees, "0.1".parse().unwrap());
    // Thirds do not divide evenly; the books still balance.
    let mut p = Position::default();
    p.apply_fill(Side::Buy, q("3"), "10".parse().unwrap(), Notional::ZERO)
        .unwrap();
    p.apply_fill(Side::Buy, q("3"), "10.01".parse().unwrap(), Notional::ZERO)
        .unwrap();
    p.apply_fill(Side::Sell, q("1"), "11".parse().unwrap(), Notional::ZERO)
        .unwrap();
    p.apply_fill(Side::Sell, q("5"), "11".parse().unwrap(), Notional::ZERO)
        .unwrap();
    assert_eq!(p.qty, Qty::ZERO);
    assert_eq!(p.realized, "5.97".parse().unwrap());
}

proptest! {
    /// Ledger conservation over random fill sequences: cash plus the
    /// position marked at any price equals the deposit plus realized plus
    /// unrealized PnL minus fees, to the last digit.
    #[test]
    fn conservation(
        fills in prop::collection::vec((any::<bool>(), 1i64..5_000, 1i64..1_000_000, 0i64..200), 1..60),
        mark in 1i64..1_000_000,
    ) {
        let init = q("100000");
        let mut l = Ledger::default();
        l.deposit("USDT", init).unwrap();
        let mut pos = Position::default();
        let mut realized_by_fills = Decimal::ZERO;
        for (buy, qty, price, fee_bp) in fills {
            let qty = Qty::new(Decimal::new(qty, 3));
            let price = Price::new(Decimal::new(price, 2));
            let value = price.checked_mul_qty(qty).unwrap();
            let fee = Notional::new((value.get() * Decimal::new(fee_bp, 4)).round_dp(8));
            let (side, asset, lock) = if buy {
                (Side::Buy, "USDT", as_qty(value.checked_add(fee).unwrap()))
            } else {
                (Side::Sell, "BTC", qty)
            };
            if l.lock(asset, lock).is_err() {
                continue;
            }
            let booking = FillBooking { base: "BTC", quote: "USDT", side, qty, price, fee, fee_base: Qty::ZERO, release: lock };
            if l.book_fill(&booking).is_err() {
                l.unlock(asset, lock).unwrap();
                continue;
            }
            realized_by_fills += pos.apply_fill(side, qty, price, fee).unwrap().get();
            prop_assert_eq!(l.balance("BTC").total(), pos.qty);
            prop_assert!(!pos.open_fees.is_negative() && pos.open_fees <= pos.fees);
        }
        let mark = Price::new(Decimal::new(mark, 2));
        let cash = l.balance("USDT").total().get();
        let equity = cash + mark.checked_mul_qty(pos.qty).unwrap().get();
        let books = init.get() + pos.realized.get() + pos.unrealized(mark).unwrap().get() - pos.fees.get();
        prop_assert_eq!(equity, books);
        // After fees: the fills' realized PnL adds up to the position's,
        // and realized plus unrealized after fees is all the PnL.
        let net = pos.realized_net().unwrap().get();
        prop_assert_eq!(realized_by_fills, net);
        prop_assert_eq!(net + pos.unrealized_net(mark).unwrap().get(), equity - init.get());
        for b in l.balances().values() {
            prop_assert!(!b.free.is_negative() && !b.locked.is_negative());
        }
    }
}

fn sym() -> Symbol {
    "BTCUSDT".parse().unwrap()
}

#[test]
fn a_bot_spends_only_its_allocation_and_the_manual_book_cannot_touch_it() {
    let mut b = Books::default();
    b.total.deposit("USDT", q("1000")).unwrap();
    b.allocate(7, &BTreeMap::from([("USDT".to_owned(), q("600"))]))
        .unwrap();
    assert_eq!(b.manual_balance("USDT").free, q("400"));
    let before = b.clone();
    assert!(b.lock(None, "USDT", q("401")).is_err());
    assert!(b.lock(Some(7), "USDT", q("601")).is_err());
    assert!(b.lock(Some(8), "USDT", q("1")).is_err());
    let err = b
        .allocate(8, &BTreeMap::from([("USDT".to_owned(), q("401"))]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "insufficient USDT balance: 400 free, 401 required"
    );
    assert_eq!(b, before);
    b.lock(Some(7), "USDT", q("101")).unwrap();
    let f = FillBooking {
        base: "BTC",
        quote: "USDT",
        side: Side::Buy,
        qty: q("2"),
        price: "50".parse().unwrap(),
        fee: "0.1".parse().unwrap(),
        fee_base: Qty::ZERO,
        release: q("101"),
    };
    b.book_fill(Some(7), &sym(), &f).unwrap();
    assert_eq!(b.bots[&7].ledger.balance("USDT").free, q("499.9"));
    assert_eq!(b.bots[&7].ledger.balance("BTC").free, q("2"));
    assert_eq!(b.manual_balance("BTC").free, Qty::ZERO);
    assert_eq!(b.position(&sym()).qty, q("2"));
    assert!(!b.manual.contains_key(&sym()));
    // Ending the book hands everything back to the manual book.
    b.release(7).unwrap();
    assert_eq!(b.manual_balance("USDT").free, q("899.9"));
    assert_eq!(b.manual[&sym()].qty, q("2"));
}

proptest! {
    /// Random allocations, locks and fills over a manual book and three
    /// bots: the books always sum to the account (the manual book is
    /// never negative), positions sum field by field, and every
    /// failed operation changes nothing.
    #[test]
    fn bot_books_sum_to_the_account(
        allocs in prop::collection::vec(0i64..300_000, 3),
        ops in prop::collection::vec((0u8..4, any::<bool>(), 1i64..3_000, 1i64..200_000, 0i64..30), 1..80),
        mark in 1i64..200_000,
    ) {
        let mut b = Books::default();
        b.total.deposit("USDT", q("1000000")).unwrap();
        b.total.deposit("BTC", q("3")).unwrap();
        for (i, a) in allocs.iter().enumerate() {
            let amounts = BTreeMap::from([("USDT".to_owned(), Qty::new(Decimal::new(*a, 0)))]);
            b.allocate(i as u64 + 1, &amounts).unwrap();
        }
        for (book, buy, qty, price, fee_bp) in ops {
            let book = (book > 0).then_some(u64::from(book));
            let qty = Qty::new(Decimal::new(qty, 4));
            let price = Price::new(Decimal::new(price, 2));
            let value = price.checked_mul_qty(qty).unwrap();
            let fee = Notional::new((value.get() * Decimal::new(fee_bp, 4)).round_dp(8));
            let (side, asset, lock) = if buy {
                (Side::Buy, "USDT", as_qty(value.checked_add(fee).unwrap()))
            } else {
                (Side::Sell, "BTC", qty)
            };
            let before = b.clone();
            if b.lock(book, asset, lock).is_err() {
                prop_assert_eq!(&b, &before);
                continue;
            }
            let f = FillBooking { base: "BTC", quote: "USDT", side, qty, price, fee, fee_base: Qty::ZERO, release: lock };
            let locked = b.clone();
            if b.book_fill(book, &sym(), &f).is_err() {
                prop_assert_eq!(&b, &locked);
                b.unlock(book, asset, lock).unwrap();
                continue;
            }
            for asset in ["USDT", "BTC"] {
                let m = b.manual_balance(asset);
                prop_assert!(!m.free.is_negative() && !m.locked.is_negative(), "{asset}: {m:?}");
                let mut sum = m.total().get();
                for sub in b.bots.values() {
                    let own = sub.ledger.balance(asset);
                    prop_assert!(!own.free.is_negative() && !own.locked.is_negative());
                    sum += own.total().get();
                }
                prop_assert_eq!(sum, b.total.balance(asset).total().get());
            }
        }
        // Each bot's book conserves on its own; the account position is the sum.
        let mark = Price::new(Decimal::new(mark, 2));
        for (i, sub) in &b.bots {
            let p = sub.positions.get(&sym()).copied().unwrap_or_default();
            let equity = sub.ledger.balance("USDT").total().get()
                + mark.checked_mul_qty(p.qty).unwrap().get();
            let booked = Decimal::new(allocs[*i as usize - 1], 0) + p.realized.get()
                + p.unrealized(mark).unwrap().get() - p.fees.get();
            prop_assert_eq!(equity, booked);
        }
        let total = b.position(&sym());
        let mut qty = b.manual.get(&sym()).map_or(Decimal::ZERO, |p| p.qty.get());
        for sub in b.bots.values() {
            qty += sub.positions.get(&sym()).map_or(Decimal::ZERO, |p| p.qty.get());
        }
        prop_assert_eq!(total.qty.get(), qty);
        prop_assert_eq!(b.total.balance("BTC").total().get() - Decimal::new(3, 0), qty);
    }
}

#[test]
fn a_transfer_moves_free_funds_between_the_manual_book_and_a_bot_and_keeps_its_pnl() {
    let mut books = Books::default();
    books.total.deposit("USDT", q("1000")).expect("deposit");
    books
        .allocate(7, &BTreeMap::from([("USDT".to_owned(), q("300"))]))
        .expect("allocate");
    books.transfer(7, "USDT", q("200"), true).expect("top up");
    assert_eq!(books.balance(Some(7), "USDT").free, q("500"));
    assert_eq!(books.manual_balance("USDT").free, q("500"));
    assert_eq!(books.bots[&7].allocated["USDT"], q("500"));
    // More than the manual book has free: refused, nothing moved.
    let err = books
        .transfer(7, "USDT", q("501"), true)
        .expect_err("too much");
    assert!(err.to_string().contains("500 free, 501 required"), "{err}");
    // Out again; the bot's locked funds are not its to give.
    books.lock(Some(7), "USDT", q("100")).expect("lock");
    let err = books
        .transfer(7, "USDT", q("401"), false)
        .expect_err("locked");
    assert!(err.to_string().contains("400 free, 401 required"), "{err}");
    books
        .transfer(7, "USDT", q("400"), false)
        .expect("withdraw");
    assert_eq!(
        books.balance(Some(7), "USDT"),
        Balance {
            free: q("0"),
            locked: q("100"),
            ..Balance::default()
        }
    );
    assert_eq!(books.bots[&7].allocated["USDT"], q("100"));
    assert_eq!(books.manual_balance("USDT").free, q("900"));
    assert!(
        books.transfer(8, "USDT", q("1"), true).is_err(),
        "no such bot"
    );
}

#[test]
fn a_margin_short_borrows_and_what_comes_back_repays() {
    let btc = sym();
    let mut b = Books::default();
    b.total.deposit("USDT", q("1000")).unwrap();
    b.allocate(7, &BTreeMap::from([("USDT".to_owned(), q("400"))]))
        .unwrap();
    // The bot sells 2 BTC it does not hold: it borrows them, then locks.
    b.borrow(Some(7), "BTC", q("2")).unwrap();
    b.lock(Some(7), "BTC", q("2")).unwrap();
    assert_eq!(b.balance(Some(7), "BTC").borrowed, q("2"));
    assert_eq!(b.manual_balance("BTC"), Balance::default());
    // Half fills; the rest is cancelled, which repays what it borrowed.
    let sell = FillBooking {
        base: "BTC",
        quote: "USDT",
        side: Side::Sell,
        qty: q("1"),
        price: "100".parse().unwrap(),
        fee: "0.1".parse().unwrap(),
        fee_base: Qty::ZERO,
        release: q("1"),
    };
    b.book_fill(Some(7), &btc, &sell).unwrap();
    b.unlock(Some(7), "BTC", q("1")).unwrap();
    let own = b.balance(Some(7), "BTC");
    assert_eq!(
        (own.free, own.locked, own.borrowed),
        (q("0"), q("0"), q("1"))
    );
    assert_eq!(own.net(), q("-1"));
    assert_eq!(b.positions(Some(7)).unwrap()[&btc].qty, q("-1"));
    assert_eq!(b.balance(Some(7), "USDT").free, q("499.9"));
    // Interest in the quote asset counts in the position's open fees.
    b.charge(Some(7), &btc, "USDT", "0.5".parse().unwrap())
        .unwrap();
    assert_eq!(b.balance(Some(7), "USDT").free, q("499.4"));
    let p = b.positions(Some(7)).unwrap()[&btc];
    assert_eq!(
        (p.fees, p.open_fees),
        ("0.6".parse().unwrap(), "0.6".parse().unwrap())
    );
    // Buying back repays: nothing owed, flat, the interest realized.
    b.lock(Some(7), "USDT", q("101")).unwrap();
    let buy = FillBooking {
        side: Side::Buy,
        price: "90".parse().unwrap(),
        fee: "0.09".parse().unwrap(),
        release: q("101"),
        ..sell
    };
    let realized = b.book_fill(Some(7), &btc, &buy).unwrap();
    assert_eq!(realized, "9.31".parse().unwrap());
    assert_eq!(b.balance(Some(7), "BTC"), Balance::default());
    assert_eq!(b.total.balance("BTC"), Balance::default());
    assert_eq!(b.balance(Some(7), "USDT").free, q("409.31"));
    assert!(b.positions(Some(7)).unwrap()[&btc].qty.is_zero());
}

#[test]
fn interest_with_no_free_quote_is_borrowed_and_a_failed_charge_changes_nothing() {
    let btc = sym();
    let mut b = Books::default();
    b.total.deposit("USDT", q("1")).unwrap();
    b.charge(None, &btc, "USDT", "3".parse().unwrap()).unwrap();
    let usdt = b.manual_balance("USDT");
    assert_eq!((usdt.free, usdt.borrowed), (q("0"), q("2")));
    assert_eq!(usdt.net(), q("-2"));
    let before = b.clone();
    assert!(
        b.charge(Some(9), &btc, "USDT", "1".parse().unwrap())
            .is_err()
    );
    assert!(b.charge(None, &btc, "USDT", "-1".parse().unwrap()).is_err());
    assert_eq!(b, before);
    // A deposit does not repay by itself; the next settle does.
    b.total.deposit("USDT", q("5")).unwrap();
    assert_eq!(b.settle(None, "USDT").unwrap(), q("2"));
    assert_eq!(b.manual_balance("USDT").free, q("3"));
}

#[test]
fn a_released_bots_loan_is_repaid_from_the_manual_books_free_balance() {
    let btc = sym();
    let mut b = Books::default();
    b.total.deposit("USDT", q("100")).unwrap();
    b.allocate(3, &BTreeMap::from([("USDT".to_owned(), q("1"))]))
        .unwrap();
    // Interest the bot could not pay: it owes 2 USDT.
    b.charge(Some(3), &btc, "USDT", "3".parse().unwrap())
        .unwrap();
    assert_eq!(b.balance(Some(3), "USDT").borrowed, q("2"));
    b.release(3).unwrap();
    let manual = b.manual_balance("USDT");
    assert_eq!((manual.free, manual.borrowed), (q("97"), q("0")));
    assert_eq!(b.total.balance("USDT").borrowed, q("0"));
    assert!(b.release(3).is_err(), "released once");
}
