//! The execution service against a real (in-memory) database: what the two
//! venue paths write, and answers booked in whatever order they arrive.

use std::sync::Arc;

use rust_decimal::Decimal;
use tradedesk_core::instrument::Symbol;
use tradedesk_core::money::{Notional, Price, Qty};
use tradedesk_core::order::{Liquidity, OrderRecord, OrderRequest, OrderStatus};
use tradedesk_core::time::Timestamp;
use tradedesk_core::venue::{Ack, Fill, VenueEvent};

use super::{Exchange, PAPER_ACCOUNT, Request, State};
use crate::config::Config;
use crate::lock_order::{OrderedMutex, Rank};
use crate::services::cache::Cache;
use crate::store::Store;
use crate::store::trading as db;

const NOW: Timestamp = Timestamp(1_700_000_000_000);

fn exchange(latency_ms: u64) -> (Arc<OrderedMutex<Store>>, Exchange) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config::for_dir(dir.path()).sim;
    cfg.latency_ms = latency_ms;
    cfg.history_minutes = 0;
    let store = Arc::new(OrderedMutex::new(
        Rank::Store,
        Store::open_in_memory().expect("store"),
    ));
    let cache = Arc::new(Cache::new(1 << 20));
    let ex = Exchange::open(cfg, Arc::clone(&store), NOW, 1, cache, None).expect("exchange");
    (store, ex)
}

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

/// Places a limit buy of 0.01 BTC at `price` through risk, as a handler does.
fn limit_buy(state: &mut State, store: &mut Store, price: &str) -> OrderRecord {
    let req: OrderRequest = serde_json::from_value(serde_json::json!({
        "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.01", "price": price,
    }))
    .expect("request");
    let account = state.account_named(PAPER_ACCOUNT).expect("paper account");
    let idx = state.symbol_index(&req.symbol).expect("symbol");
    let valid = req.validate(state.venue.instruments()[idx]).expect("valid");
    let approved = state
        .approve(store, account, None, valid, "internal", NOW)
        .expect("approved");
    state
        .place(store, account, &approved, "admin", NOW)
        .expect("placed")
        .0
}

fn usdt(state: &State) -> (Decimal, Decimal) {
    let b = state.accounts[0].books.balance(None, "USDT");
    (b.free.get(), b.locked.get())
}

fn btc(state: &State) -> Decimal {
    state.accounts[0]
        .books
        .position(&"BTCUSDT".parse::<Symbol>().expect("symbol"))
        .qty
        .get()
}

fn fill(order_id: u64, trade_id: u64, qty: &str) -> VenueEvent {
    VenueEvent::Fill(Fill {
        order_id,
        trade_id,
        time: NOW,
        qty: Qty::new(d(qty)),
        price: Price::new(d("50000")),
        fee: Notional::new(d("0.25")),
        fee_base: Qty::ZERO,
        liquidity: Liquidity::Maker,
    })
}

fn stored(store: &Store, o: &OrderRecord) -> OrderRecord {
    db::order_by_client_id(store.conn(), &o.client_order_id)
        .expect("read")
        .expect("row")
}

#[test]
fn the_in_process_sim_commits_the_order_with_its_answer() {
    let (store, ex) = exchange(0);
    let mut state = ex.lock();
    let mut store = store.lock();
    let o = limit_buy(&mut state, &mut store, "30000");
    assert_eq!(o.status, OrderStatus::Accepted);
    assert_eq!(stored(&store, &o).status, OrderStatus::Accepted);
}

#[test]
fn a_remote_order_is_written_new_before_it_is_sent_and_answers_book_once_in_any_order() {
    let (store, ex) = exchange(5);
    let mut state = ex.lock();
    let mut store = store.lock();
    let (free0, _) = usdt(&state);
    let o = limit_buy(&mut state, &mut store, "50000");
    // Sent after the `new` row committed; nothing is known yet.
    assert_eq!(o.status, OrderStatus::New);
    assert_eq!(stored(&store, &o).status, OrderStatus::New);
    let (_, locked) = usdt(&state);
    assert!(
        locked > Decimal::ZERO,
        "funds are held while the answer is out"
    );

    // A fill reported by the market before the submission's answer: the
    // acceptance is implied.
    state.book_answer(
        &mut store,
        &Request::Query(o.id),
        Ack::Known(vec![fill(o.id, 7, "0.004")]),
        NOW,
    );
    assert_eq!(stored(&store, &o).status, OrderStatus::PartiallyFilled);
    // Then the answer, repeating that fill, and the rest.
    state.book_answer(
        &mut store,
        &Request::Submit(vec![o.id]),
        Ack::Known(vec![
            VenueEvent::Accepted { id: o.id },
            fill(o.id, 7, "0.004"),
            fill(o.id, 8, "0.006"),
        ]),
        NOW,
    );
    let row = stored(&store, &o);
    assert_eq!(row.status, OrderStatus::Filled);
    assert_eq!(row.filled.get(), d("0.01"));
    assert_eq!(btc(&state), d("0.01"), "each trade booked once");
    // Cost 500 and fees 0.5; nothing left locked.
    assert_eq!(usdt(&state), (free0 - d("500.5"), Decimal::ZERO));
    // A late, repeated acceptance changes nothing.
    let changes = state.book_answer(
        &mut store,
        &Request::Query(o.id),
        Ack::Known(vec![
            VenueEvent::Accepted { id: o.id },
            fill(o.id, 8, "0.006"),
        ]),
        NOW,
    );
    assert!(changes.is_empty());
    assert_eq!(btc(&state), d("0.01"));
}

#[test]
fn an_unknown_outcome_keeps_the_order_new_until_a_query_answers() {
    let (store, ex) = exchange(5);
    let mut state = ex.lock();
    let mut store = store.lock();
    let (free0, _) = usdt(&state);
    let o = limit_buy(&mut state, &mut store, "30000");
    state.book_answer(
        &mut store,
        &Request::Submit(vec![o.id]),
        Ack::Unknown("timed out".into()),
        NOW,
    );
    let row = stored(&store, &o);
    assert_eq!(row.status, OrderStatus::New);
    assert!(
        row.reason
            .as_deref()
            .is_some_and(|r| r.contains("outcome unknown (timed out)")),
        "{:?}",
        row.reason
    );
    assert_eq!(state.unknown_outcomes(), 1);
    // The query finds the venue never had it: rejected, funds back.
    state.book_answer(
        &mut store,
        &Request::Query(o.id),
        Ack::Known(vec![VenueEvent::Rejected {
            id: o.id,
            reason: "the venue never received the order".into(),
        }]),
        NOW,
    );
    assert_eq!(stored(&store, &o).status, OrderStatus::Rejected);
    assert_eq!(state.unknown_outcomes(), 0);
    assert_eq!(usdt(&state), (free0, Decimal::ZERO));
}

#[test]
fn unknown_outcomes_are_queried_with_a_growing_capped_delay() {
    let ms = |n| super::query_delay(n).as_millis();
    assert_eq!([ms(1), ms(2), ms(3), ms(8)], [100, 200, 400, 10_000]);
    assert_eq!(ms(u32::MAX), 10_000);
}
