//! Our orders as Binance spot orders (`POST /api/v3/order` params).
//!
//! | ours | Binance |
//! |---|---|
//! | market | `MARKET` |
//! | limit, GTC/IOC/FOK | `LIMIT` with `timeInForce` |
//! | limit, post-only | `LIMIT_MAKER` |
//! | stop-market | `STOP_LOSS` with `stopPrice` |
//! | stop-limit | `STOP_LOSS_LIMIT` with `stopPrice`, `price`, `timeInForce` |
//! | take-profit | `TAKE_PROFIT` with `stopPrice` |
//! | trailing stop, 0.1–20 % in whole bips | `STOP_LOSS` with `trailingDelta` (bips) |
//! | trailing stop by an amount, or a percent Binance cannot take | emulated by the daemon |
//!
//! Every order carries our client order id as `newClientOrderId` (how an
//! unknown outcome is looked up, never resent) and asks for the `FULL`
//! answer, with its fills.

use rust_decimal::Decimal;
use tradedesk_core::order::{Side, Terms, TimeInForce, Trail};
use tradedesk_core::venue::VenueOrder;

/// What the venue is sent for an order, or why the daemon runs it itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    Native(Vec<(&'static str, String)>),
    /// Binance has no such order: the daemon watches the price and sends a
    /// market order when it triggers.
    Emulated(&'static str),
}

/// An order Binance cannot take as asked, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("binance: field `{field}`: {message}")]
pub struct MapError {
    pub field: &'static str,
    pub message: String,
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

/// `timeInForce` for a limit order (post-only is a type, not a time).
fn tif(t: TimeInForce) -> Result<&'static str, MapError> {
    match t {
        TimeInForce::Gtc => Ok("GTC"),
        TimeInForce::Ioc => Ok("IOC"),
        TimeInForce::Fok => Ok("FOK"),
        TimeInForce::PostOnly => Err(MapError {
            field: "time_in_force",
            message: "post-only applies to limit orders only".into(),
        }),
    }
}

/// Binance's trailing deltas: whole basis points from 10 to 2,000.
const TRAIL_BIPS: std::ops::RangeInclusive<i64> = 10..=2000;

/// A trailing percent in bips, when Binance takes it.
fn trail_bips(percent: Decimal) -> Option<i64> {
    let bips = percent.checked_mul(Decimal::ONE_HUNDRED)?;
    if !bips.fract().is_zero() {
        return None;
    }
    let bips = i64::try_from(bips).ok()?;
    TRAIL_BIPS.contains(&bips).then_some(bips)
}

/// The `POST /api/v3/order` params of `o` on `symbol`.
pub fn new_order(symbol: &str, o: &VenueOrder) -> Result<Mapped, MapError> {
    let mut p: Vec<(&'static str, String)> = vec![
        ("symbol", symbol.to_owned()),
        ("side", side(o.side).to_owned()),
    ];
    let limit_tif = |p: &mut Vec<(&'static str, String)>| -> Result<(), MapError> {
        p.push(("timeInForce", tif(o.time_in_force)?.to_owned()));
        Ok(())
    };
    match o.terms {
        Terms::Market => p.push(("type", "MARKET".into())),
        Terms::Limit { price } if o.time_in_force == TimeInForce::PostOnly => {
            p.push(("type", "LIMIT_MAKER".into()));
            p.push(("price", price.to_string()));
        }
        Terms::Limit { price } => {
            p.push(("type", "LIMIT".into()));
            limit_tif(&mut p)?;
            p.push(("price", price.to_string()));
        }
        Terms::StopMarket { stop } => {
            p.push(("type", "STOP_LOSS".into()));
            p.push(("stopPrice", stop.to_string()));
        }
        Terms::StopLimit { stop, price } => {
            p.push(("type", "STOP_LOSS_LIMIT".into()));
            limit_tif(&mut p)?;
            p.push(("price", price.to_string()));
            p.push(("stopPrice", stop.to_string()));
        }
        Terms::TakeProfit { stop } => {
            p.push(("type", "TAKE_PROFIT".into()));
            p.push(("stopPrice", stop.to_string()));
        }
        Terms::TrailingStop { trail } => match trail {
            Trail::Percent(pct) => match trail_bips(pct.get()) {
                Some(bips) => {
                    p.push(("type", "STOP_LOSS".into()));
                    p.push(("trailingDelta", bips.to_string()));
                }
                None => {
                    return Ok(Mapped::Emulated(
                        "Binance trails by 0.1–20 % in whole basis points",
                    ));
                }
            },
            Trail::Amount(_) => {
                return Ok(Mapped::Emulated(
                    "Binance trails by a percentage, not an amount",
                ));
            }
        },
    }
    p.push(("quantity", o.qty.to_string()));
    p.push(("newClientOrderId", o.client_order_id.clone()));
    p.push(("newOrderRespType", "FULL".into()));
    Ok(Mapped::Native(p))
}

/// The `POST /api/v3/orderList/oco` params of an OCO pair on `symbol`: a
/// limit leg `limit` and a stop leg `stop` (market or limit) on one side.
/// A sell takes profit above and stops below; a buy buys lower below and
/// stops above. The limit leg is `LIMIT_MAKER` (Binance's OCO limit), the
/// stop `STOP_LOSS` or `STOP_LOSS_LIMIT`; each leg carries our client id.
pub fn oco(
    symbol: &str,
    limit: &VenueOrder,
    stop: &VenueOrder,
) -> Result<Vec<(&'static str, String)>, MapError> {
    let Terms::Limit { price } = limit.terms else {
        return Err(MapError {
            field: "limit",
            message: "an OCO's first leg is a limit order".into(),
        });
    };
    let (stop_type, stop_price, stop_limit) = match stop.terms {
        Terms::StopMarket { stop } => ("STOP_LOSS", stop, None),
        Terms::StopLimit { stop, price } => ("STOP_LOSS_LIMIT", stop, Some(price)),
        _ => {
            return Err(MapError {
                field: "stop",
                message: "an OCO's second leg is a stop (market or limit)".into(),
            });
        }
    };
    if limit.side != stop.side || limit.qty != stop.qty {
        return Err(MapError {
            field: "stop",
            message: "an OCO's legs have one side and one quantity".into(),
        });
    }
    let (limit_at, stop_at) = match limit.side {
        Side::Sell => ("above", "below"),
        Side::Buy => ("below", "above"),
    };
    let key = |at: &str, what: &str| -> &'static str {
        match (at, what) {
            ("above", "Type") => "aboveType",
            ("above", "Price") => "abovePrice",
            ("above", "StopPrice") => "aboveStopPrice",
            ("above", "TimeInForce") => "aboveTimeInForce",
            ("above", "ClientOrderId") => "aboveClientOrderId",
            ("below", "Type") => "belowType",
            ("below", "Price") => "belowPrice",
            ("below", "StopPrice") => "belowStopPrice",
            ("below", "TimeInForce") => "belowTimeInForce",
            _ => "belowClientOrderId",
        }
    };
    let mut p: Vec<(&'static str, String)> = vec![
        ("symbol", symbol.to_owned()),
        ("side", side(limit.side).to_owned()),
        ("quantity", limit.qty.to_string()),
        (key(limit_at, "Type"), "LIMIT_MAKER".into()),
        (key(limit_at, "Price"), price.to_string()),
        (
            key(limit_at, "ClientOrderId"),
            limit.client_order_id.clone(),
        ),
        (key(stop_at, "Type"), stop_type.into()),
        (key(stop_at, "StopPrice"), stop_price.to_string()),
        (key(stop_at, "ClientOrderId"), stop.client_order_id.clone()),
    ];
    if let Some(sp) = stop_limit {
        p.push((key(stop_at, "Price"), sp.to_string()));
        p.push((
            key(stop_at, "TimeInForce"),
            tif(stop.time_in_force)?.to_owned(),
        ));
    }
    p.push((
        "listClientOrderId",
        format!("{}-oco", limit.client_order_id),
    ));
    p.push(("newOrderRespType", "FULL".into()));
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradedesk_core::money::{Price, Qty};

    fn order(terms: Terms, tif: TimeInForce) -> VenueOrder {
        VenueOrder {
            id: 7,
            client_order_id: "td-7".into(),
            symbol: 0,
            side: Side::Sell,
            qty: "0.5".parse().expect("qty"),
            terms,
            time_in_force: tif,
            budget: None,
            lot: Qty::new(Decimal::new(1, 5)),
            live: false,
        }
    }

    fn params(m: Mapped) -> Vec<(&'static str, String)> {
        match m {
            Mapped::Native(p) => p,
            Mapped::Emulated(why) => panic!("emulated: {why}"),
        }
    }

    fn get<'a>(p: &'a [(&'static str, String)], k: &str) -> Option<&'a str> {
        p.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn each_order_type_maps_to_its_binance_type() {
        let px = |s: &str| -> Price { s.parse().expect("price") };
        let cases = [
            (Terms::Market, TimeInForce::Gtc, "MARKET", None, None, None),
            (
                Terms::Limit {
                    price: px("65000.5"),
                },
                TimeInForce::Ioc,
                "LIMIT",
                Some("IOC"),
                Some("65000.5"),
                None,
            ),
            (
                Terms::Limit {
                    price: px("65000.5"),
                },
                TimeInForce::PostOnly,
                "LIMIT_MAKER",
                None,
                Some("65000.5"),
                None,
            ),
            (
                Terms::StopMarket { stop: px("60000") },
                TimeInForce::Gtc,
                "STOP_LOSS",
                None,
                None,
                Some("60000"),
            ),
            (
                Terms::StopLimit {
                    stop: px("60000"),
                    price: px("59990"),
                },
                TimeInForce::Gtc,
                "STOP_LOSS_LIMIT",
                Some("GTC"),
                Some("59990"),
                Some("60000"),
            ),
            (
                Terms::TakeProfit { stop: px("70000") },
                TimeInForce::Gtc,
                "TAKE_PROFIT",
                None,
                None,
                Some("70000"),
            ),
        ];
        for (terms, t, kind, want_tif, price, stop) in cases {
            let p = params(new_order("BTCUSDT", &order(terms, t)).expect("maps"));
            assert_eq!(get(&p, "type"), Some(kind), "{terms:?}");
            assert_eq!(get(&p, "timeInForce"), want_tif, "{terms:?}");
            assert_eq!(get(&p, "price"), price, "{terms:?}");
            assert_eq!(get(&p, "stopPrice"), stop, "{terms:?}");
            assert_eq!(get(&p, "side"), Some("SELL"));
            assert_eq!(get(&p, "quantity"), Some("0.5"));
            assert_eq!(
                get(&p, "newClientOrderId"),
                Some("td-7"),
                "our id, for lookups"
            );
            assert_eq!(get(&p, "newOrderRespType"), Some("FULL"));
        }
    }

    #[test]
    fn trailing_stops_are_native_in_whole_bips_and_emulated_otherwise() {
        let trail = |t: Trail| order(Terms::TrailingStop { trail: t }, TimeInForce::Gtc);
        let p = params(
            new_order(
                "BTCUSDT",
                &trail(Trail::Percent("2.5".parse().expect("pct"))),
            )
            .expect("maps"),
        );
        assert_eq!(
            (get(&p, "type"), get(&p, "trailingDelta")),
            (Some("STOP_LOSS"), Some("250"))
        );
        for pct in ["0.05", "25", "1.005"] {
            let m = new_order("BTCUSDT", &trail(Trail::Percent(pct.parse().expect("pct"))))
                .expect("maps");
            assert!(matches!(m, Mapped::Emulated(_)), "{pct}: {m:?}");
        }
        let m = new_order(
            "BTCUSDT",
            &trail(Trail::Amount("100".parse().expect("amount"))),
        )
        .expect("maps");
        assert!(matches!(m, Mapped::Emulated(_)));
        let e = new_order(
            "BTCUSDT",
            &order(
                Terms::StopLimit {
                    stop: "1".parse().expect("p"),
                    price: "1".parse().expect("p"),
                },
                TimeInForce::PostOnly,
            ),
        )
        .expect_err("post-only stop");
        assert_eq!(e.field, "time_in_force");
    }
}
