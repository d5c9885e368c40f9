use proptest::prelude::*;

use super::*;
use crate::instrument::Instrument;

fn btc() -> Instrument {
    crate::instrument::tests::btc_with_lot("0.0001")
}

fn req(json: serde_json::Value) -> Result<ValidOrder, String> {
    let r: OrderRequest = serde_json::from_value(json).map_err(|e| e.to_string())?;
    r.validate(&btc()).map_err(|e| e.to_string())
}

#[test]
fn requests_are_checked_field_by_field() {
    use serde_json::json;
    let ok =
        req(json!({"symbol":"BTCUSDT","side":"buy","type":"limit","qty":"0.01","price":"50000"}))
            .unwrap();
    assert_eq!(ok.time_in_force, TimeInForce::Gtc);
    let cases: &[(serde_json::Value, &str)] = &[
        (
            json!({"symbol":"BTCUSDT","side":"buy","type":"limit","qty":"0.01"}),
            "`price` is required",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"buy","type":"market","qty":"0.01","price":"1"}),
            "`price` does not apply",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"sell","type":"stop_market","qty":"0.01"}),
            "`stop_price` is required",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"sell","type":"stop_limit","qty":"0.01","price":"1"}),
            "`stop_price` is required",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"sell","type":"trailing_stop","qty":"0.01"}),
            "`trail` is required",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"buy","type":"market","qty":"0"}),
            "`qty` must be greater than zero",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"buy","type":"market","qty":"-1"}),
            "`qty` must be greater than zero",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"buy","type":"market","qty":"0.00001"}),
            "lot size",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"buy","type":"limit","qty":"0.01","price":"50000.001"}),
            "`price`",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"buy","type":"limit","qty":"0.0001","price":"100"}),
            "minimum notional",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"buy","type":"market","qty":"NaN"}),
            "not a decimal",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"buy","type":"market","qty":0.5}),
            "decimal string",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"buy","type":"market","qty":"0.01","time_in_force":"post_only"}),
            "`time_in_force` post_only",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"sell","type":"trailing_stop","qty":"0.01","trail":{"percent":"150"}}),
            "`trail` percent",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"buy","type":"market","qty":"0.01","client_order_id":"has space"}),
            "`client_order_id`",
        ),
        (
            json!({"symbol":"BTCUSDT","side":"buy","type":"market","qty":"0.01","colour":"red"}),
            "unknown field `colour`",
        ),
    ];
    for (json, expected) in cases {
        let err = req(json.clone()).unwrap_err();
        assert!(err.contains(expected), "{json}: {err}");
    }
}

#[test]
fn trailing_stops_follow_the_best_price() {
    let best: Price = "100".parse().unwrap();
    assert_eq!(
        Trail::Amount("5".parse().unwrap()).stop_from(Side::Sell, best),
        Some("95".parse().unwrap())
    );
    assert_eq!(
        Trail::Percent("2".parse().unwrap()).stop_from(Side::Buy, best),
        Some("102".parse().unwrap())
    );
}

#[test]
fn terminal_statuses_never_move() {
    let events = [
        Event::Accept,
        Event::Activate,
        Event::PartialFill,
        Event::FinalFill,
        Event::Cancel,
        Event::Reject,
        Event::Expire,
    ];
    for from in OrderStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
        for e in events {
            assert!(transition(from, e).is_err(), "{from} + {e:?}");
        }
    }
    assert_eq!(
        transition(OrderStatus::New, Event::Accept),
        Ok(OrderStatus::Accepted)
    );
    let err = transition(OrderStatus::Filled, Event::Cancel)
        .unwrap_err()
        .to_string();
    assert_eq!(err, "an order that is filled cannot be cancelled");
}

#[test]
fn repeated_fill_is_a_no_op() {
    let mut o = OrderState::new(OrderStatus::Accepted, "1".parse().unwrap());
    let p: Price = "10".parse().unwrap();
    assert_eq!(
        o.fill(7, "0.4".parse().unwrap(), p, Notional::ZERO),
        Ok(FillOutcome::Applied)
    );
    let before = o.clone();
    assert_eq!(
        o.fill(7, "0.4".parse().unwrap(), p, Notional::ZERO),
        Ok(FillOutcome::Duplicate)
    );
    assert_eq!(o, before);
    assert!(matches!(
        o.fill(8, "0.7".parse().unwrap(), p, Notional::ZERO),
        Err(FillError::Overfill { .. })
    ));
    assert_eq!(o, before, "a refused fill changes nothing");
    assert_eq!(
        o.fill(9, "0.6".parse().unwrap(), p, Notional::ZERO),
        Ok(FillOutcome::Applied)
    );
    assert_eq!(o.status, OrderStatus::Filled);
    assert_eq!(o.avg_price(), Some(p));
}

fn any_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::Accept),
        Just(Event::Activate),
        Just(Event::PartialFill),
        Just(Event::FinalFill),
        Just(Event::Cancel),
        Just(Event::Reject),
        Just(Event::Expire),
    ]
}

proptest! {
    /// Random event sequences: once terminal, always terminal and
    /// unchanged; an error leaves the status as it was.
    #[test]
    fn state_machine_invariants(start in prop::sample::select(vec![OrderStatus::New, OrderStatus::Pending]), events in prop::collection::vec(any_event(), 0..30)) {
        let mut status = start;
        for e in events {
            match transition(status, e) {
                Ok(next) => {
                    prop_assert!(!status.is_terminal());
                    status = next;
                }
                Err(err) => prop_assert_eq!(err.from, status),
            }
        }
    }

    /// Random fills never overfill, and duplicates never count twice.
    #[test]
    fn fills_never_exceed_the_order(qty in 1i64..10_000, fills in prop::collection::vec((0u64..20, 1i64..3_000), 0..40)) {
        let q = Qty::new(Decimal::new(qty, 2));
        let mut o = OrderState::new(OrderStatus::Accepted, q);
        let mut applied = std::collections::HashMap::new();
        for (id, f) in fills {
            let fq = Qty::new(Decimal::new(f, 2));
            let before = o.clone();
            match o.fill(id, fq, "1".parse().unwrap(), Notional::ZERO) {
                Ok(FillOutcome::Applied) => { applied.insert(id, fq); }
                Ok(FillOutcome::Duplicate) => prop_assert_eq!(&o, &before),
                Err(_) => prop_assert_eq!(&o, &before),
            }
            prop_assert!(o.filled <= o.qty);
        }
        let total = applied.values().fold(Qty::ZERO, |a, b| a.checked_add(*b).unwrap());
        prop_assert_eq!(total, o.filled);
        prop_assert_eq!(o.status == OrderStatus::Filled, o.filled == o.qty);
    }
}
