//! An order's type with exactly the prices that type needs: a limit order
//! without a price, or a market order with a stop, cannot be written. The
//! wire and the database keep the flat fields (`type`, `price`,
//! `stop_price`, `trail`); everything inside the daemon and the engines
//! carries [`Terms`].

#![deny(clippy::arithmetic_side_effects)]

use super::{OrderType, Trail};
use crate::money::Price;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terms {
    Market,
    Limit {
        price: Price,
    },
    /// A market order once the last trade reaches `stop` against the position.
    StopMarket {
        stop: Price,
    },
    /// A limit order at `price` once `stop` is reached, as for a stop-market.
    StopLimit {
        stop: Price,
        price: Price,
    },
    /// A stop that follows the best price since placement by `trail`.
    TrailingStop {
        trail: Trail,
    },
    /// A market order once the last trade reaches `stop` in the position's favour.
    TakeProfit {
        stop: Price,
    },
}

impl Terms {
    pub fn order_type(self) -> OrderType {
        match self {
            Terms::Market => OrderType::Market,
            Terms::Limit { .. } => OrderType::Limit,
            Terms::StopMarket { .. } => OrderType::StopMarket,
            Terms::StopLimit { .. } => OrderType::StopLimit,
            Terms::TrailingStop { .. } => OrderType::TrailingStop,
            Terms::TakeProfit { .. } => OrderType::TakeProfit,
        }
    }

    /// The limit price (limit and stop-limit orders).
    pub fn price(self) -> Option<Price> {
        match self {
            Terms::Limit { price } | Terms::StopLimit { price, .. } => Some(price),
            _ => None,
        }
    }

    /// The trigger price (stop-market, stop-limit and take-profit orders).
    pub fn stop_price(self) -> Option<Price> {
        match self {
            Terms::StopMarket { stop }
            | Terms::StopLimit { stop, .. }
            | Terms::TakeProfit { stop } => Some(stop),
            _ => None,
        }
    }

    pub fn trail(self) -> Option<Trail> {
        match self {
            Terms::TrailingStop { trail } => Some(trail),
            _ => None,
        }
    }

    /// The terms a stored or requested order's flat fields describe, or
    /// `None` when a field the type needs is missing or one it does not
    /// take is present.
    pub fn from_parts(
        order_type: OrderType,
        price: Option<Price>,
        stop_price: Option<Price>,
        trail: Option<Trail>,
    ) -> Option<Terms> {
        use OrderType as T;
        Some(match (order_type, price, stop_price, trail) {
            (T::Market, None, None, None) => Terms::Market,
            (T::Limit, Some(price), None, None) => Terms::Limit { price },
            (T::StopMarket, None, Some(stop), None) => Terms::StopMarket { stop },
            (T::StopLimit, Some(price), Some(stop), None) => Terms::StopLimit { stop, price },
            (T::TrailingStop, None, None, Some(trail)) => Terms::TrailingStop { trail },
            (T::TakeProfit, None, Some(stop), None) => Terms::TakeProfit { stop },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_fields_round_trip_and_misfits_are_refused() {
        let p = |s: &str| Price::new(s.parse().expect("price"));
        let all = [
            Terms::Market,
            Terms::Limit { price: p("1") },
            Terms::StopMarket { stop: p("2") },
            Terms::StopLimit {
                stop: p("2"),
                price: p("1"),
            },
            Terms::TrailingStop {
                trail: Trail::Amount(p("3")),
            },
            Terms::TakeProfit { stop: p("4") },
        ];
        for t in all {
            let back = Terms::from_parts(t.order_type(), t.price(), t.stop_price(), t.trail());
            assert_eq!(back, Some(t));
        }
        assert_eq!(Terms::from_parts(OrderType::Limit, None, None, None), None);
        assert_eq!(
            Terms::from_parts(OrderType::Market, Some(p("1")), None, None),
            None
        );
        assert_eq!(
            Terms::from_parts(OrderType::StopLimit, None, Some(p("1")), None),
            None
        );
    }
}
