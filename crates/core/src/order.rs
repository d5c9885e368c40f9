//! Orders: what a client may ask for, the status an order is in, and the
//! one table that moves it from status to status.
//!
//! Invariants: the status changes only through [`transition`]; terminal
//! statuses (filled, cancelled, rejected, expired) never change again; an
//! illegal transition is an error that leaves the order untouched; a fill
//! with a trade id the order has already seen is a no-op; the filled
//! quantity never exceeds the order quantity.

#![deny(clippy::arithmetic_side_effects)]

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::instrument::Symbol;
use crate::money::{Notional, Price, Qty};

mod request;
pub use request::{OrderError, OrderRequest, ValidOrder, check_client_order_id};
mod state;
pub use state::{
    Event, FillError, FillOutcome, IllegalTransition, OrderState, OrderStatus, transition,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    #[must_use]
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    Market,
    Limit,
    /// A market order once the last trade reaches `stop_price` against the
    /// position (buy: at or above, sell: at or below).
    StopMarket,
    /// A limit order at `price` once `stop_price` is reached, as for stop_market.
    StopLimit,
    /// A stop that follows the best price since placement by `trail`.
    TrailingStop,
    /// A market order once the last trade reaches `stop_price` in the
    /// position's favour (buy: at or below, sell: at or above).
    TakeProfit,
}

impl OrderType {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Market => "market",
            OrderType::Limit => "limit",
            OrderType::StopMarket => "stop_market",
            OrderType::StopLimit => "stop_limit",
            OrderType::TrailingStop => "trailing_stop",
            OrderType::TakeProfit => "take_profit",
        }
    }

    /// Whether the order waits for a trigger before it trades.
    pub fn is_conditional(self) -> bool {
        matches!(
            self,
            OrderType::StopMarket
                | OrderType::StopLimit
                | OrderType::TrailingStop
                | OrderType::TakeProfit
        )
    }
}

#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Good till cancelled.
    #[default]
    Gtc,
    /// Immediate or cancel: what cannot fill at once expires.
    Ioc,
    /// Fill or kill: fills entirely at once, or not at all.
    Fok,
    /// Rests on the book as a maker, or is rejected.
    PostOnly,
}

impl TimeInForce {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "gtc",
            TimeInForce::Ioc => "ioc",
            TimeInForce::Fok => "fok",
            TimeInForce::PostOnly => "post_only",
        }
    }
}

/// How far a trailing stop follows the best price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trail {
    /// A fixed distance in the quote currency.
    Amount(Price),
    /// A distance in percent of the best price (0 < percent < 100).
    Percent(Price),
}

impl Trail {
    /// The stop for a best price `best` seen so far, for an order on `side`.
    pub fn stop_from(self, side: Side, best: Price) -> Option<Price> {
        let distance = match self {
            Trail::Amount(a) => a,
            Trail::Percent(p) => best.checked_scale(p.get().checked_div(Decimal::ONE_HUNDRED)?)?,
        };
        match side {
            Side::Sell => best.checked_sub(distance),
            Side::Buy => best.checked_add(distance),
        }
    }
}

/// An order as stored and as shown to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderRecord {
    pub id: u64,
    pub account: String,
    pub client_order_id: String,
    pub symbol: Symbol,
    pub side: Side,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub qty: Qty,
    pub price: Option<Price>,
    pub stop_price: Option<Price>,
    pub trail: Option<Trail>,
    pub time_in_force: TimeInForce,
    pub status: OrderStatus,
    pub filled: Qty,
    /// Sum of price × quantity over the fills.
    pub filled_notional: Notional,
    pub avg_price: Option<Price>,
    pub fees: Notional,
    /// Funds still locked for the order, in `reserved_asset`.
    pub reserved: Qty,
    pub reserved_asset: String,
    /// A stop whose trigger has fired.
    pub triggered: bool,
    /// A bracket exit's entry order.
    pub parent_id: Option<u64>,
    /// The other leg of an OCO pair (or of a live bracket's exits).
    pub oco_id: Option<u64>,
    /// Why the order was rejected, cancelled or expired.
    pub reason: Option<String>,
    pub owner: String,
    /// The bot whose book the order belongs to; none for manual orders.
    #[serde(default)]
    pub bot_id: Option<u64>,
    pub created: crate::time::Timestamp,
    pub updated: crate::time::Timestamp,
}

impl OrderRecord {
    pub fn open_qty(&self) -> Qty {
        self.qty.checked_sub(self.filled).unwrap_or(Qty::ZERO)
    }
}

/// Whether a fill added liquidity to the book (a resting order) or took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Liquidity {
    Maker,
    Taker,
}

/// One fill of one order: a trade of ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Execution {
    pub trade_id: u64,
    pub order_id: u64,
    pub account: String,
    pub symbol: Symbol,
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
    pub fee: Notional,
    pub fee_asset: String,
    pub liquidity: Liquidity,
    /// PnL this fill realized on its book's position (zero for fills that
    /// open or add): the bot's for a bot's order, else the manual book's.
    pub realized_pnl: Notional,
    /// The bot whose book the fill belongs to; none for manual orders.
    #[serde(default)]
    pub bot_id: Option<u64>,
    pub time: crate::time::Timestamp,
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)] // expectations are worked out plainly
mod tests {
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
        let ok = req(
            json!({"symbol":"BTCUSDT","side":"buy","type":"limit","qty":"0.01","price":"50000"}),
        )
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
}
