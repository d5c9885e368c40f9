//! Trailing stops Binance cannot take (a trail by an amount, or a percent
//! that is not whole basis points from 0.1 % to 20 %), emulated by the
//! daemon on a live account: the order is accepted here and not sent; the
//! market stream's trades move its stop (the best price since it was
//! placed, less the trail for a sell, plus it for a buy); a trade through
//! the stop triggers it, and a MARKET order for its quantity goes to
//! Binance under the order's own client id (so an unknown outcome is found
//! by asking, as for any order).

use tradedesk_core::money::Price;
use tradedesk_core::order::{Side, Terms, Trail};
use tradedesk_core::venue::{OrderId, VenueOrder};

/// A trailing stop watched here.
#[derive(Debug, Clone)]
pub struct Watched {
    pub order: VenueOrder,
    trail: Trail,
    /// The best price seen since it was placed.
    best: Price,
}

impl Watched {
    /// `None` when the order is not a trailing stop.
    pub fn new(order: VenueOrder, last: Price) -> Option<Watched> {
        let Terms::TrailingStop { trail } = order.terms else {
            return None;
        };
        Some(Watched {
            order,
            trail,
            best: last,
        })
    }

    pub fn id(&self) -> OrderId {
        self.order.id
    }

    /// The stop now.
    pub fn stop(&self) -> Option<Price> {
        self.trail.stop_from(self.order.side, self.best)
    }

    /// Takes a trade's price: true when it triggers the stop (checked
    /// against the stop before the trade moves it).
    pub fn on_trade(&mut self, price: Price) -> bool {
        if let Some(stop) = self.stop() {
            let hit = match self.order.side {
                Side::Sell => price <= stop,
                Side::Buy => price >= stop,
            };
            if hit {
                return true;
            }
        }
        let better = match self.order.side {
            Side::Sell => price > self.best,
            Side::Buy => price < self.best,
        };
        if better {
            self.best = price;
        }
        false
    }

    /// The market order sent when it triggers.
    pub fn market_order(&self) -> VenueOrder {
        VenueOrder {
            terms: Terms::Market,
            ..self.order.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradedesk_core::money::Qty;
    use tradedesk_core::order::TimeInForce;

    fn px(s: &str) -> Price {
        s.parse().expect("price")
    }

    #[test]
    fn a_sell_trail_follows_the_high_and_triggers_on_the_way_down() {
        let order = VenueOrder {
            id: 9,
            client_order_id: "td-9".into(),
            symbol: 0,
            side: Side::Sell,
            qty: Qty::new(rust_decimal::Decimal::ONE),
            terms: Terms::TrailingStop {
                trail: Trail::Amount(px("100")),
            },
            time_in_force: TimeInForce::Gtc,
            budget: None,
            lot: Qty::new(rust_decimal::Decimal::new(1, 5)),
            live: true,
        };
        let mut w = Watched::new(order, px("50000")).expect("trailing");
        assert_eq!(w.stop(), Some(px("49900")));
        assert!(!w.on_trade(px("50300")));
        assert_eq!(w.stop(), Some(px("50200")));
        assert!(!w.on_trade(px("50201")));
        assert!(w.on_trade(px("50200")));
        assert_eq!(w.market_order().terms, Terms::Market);
    }
}
