//! What Binance says about an order, as our venue events: the answer to
//! `POST /api/v3/order` (`FULL`, with its fills), an order's status from
//! `GET /api/v3/order`, its trades from `GET /api/v3/myTrades`, and the
//! user stream's `executionReport`.
//!
//! Commissions: in the quote asset they are the fill's fee; a buy's
//! commission in the base asset (Binance's default: taken from what was
//! bought) is `fee_base`, so the account holds what the venue holds. A
//! commission in a third asset (BNB) cannot be booked against the pair and
//! is left out with a warning: turn off "pay fees with BNB" for an account
//! the desk trades (ARCHITECTURE.md).

use serde_json::Value;
use tradedesk_core::money::{Notional, Price, Qty};
use tradedesk_core::order::{Liquidity, Side};
use tradedesk_core::time::Timestamp;
use tradedesk_core::venue::{Fill, OrderId, VenueEvent};

use super::rest::BinanceError;

/// Our order a report is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ours {
    pub id: OrderId,
    pub side: Side,
    pub base: String,
    pub quote: String,
}

fn bad(what: impl std::fmt::Display) -> BinanceError {
    BinanceError::Protocol(format!("order report: {what}"))
}

fn dec<T: std::str::FromStr>(v: &Value, field: &str) -> Result<T, BinanceError> {
    v[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            bad(format_args!(
                "`{field}` is not a decimal string: {}",
                v[field]
            ))
        })
}

fn int(v: &Value, field: &str) -> Result<i64, BinanceError> {
    v[field]
        .as_i64()
        .ok_or_else(|| bad(format_args!("`{field}` is not an integer: {}", v[field])))
}

/// One execution as a fill of ours.
#[allow(clippy::too_many_arguments)]
fn fill(
    ours: &Ours,
    trade_id: i64,
    qty: Qty,
    price: Price,
    commission: Qty,
    asset: &str,
    maker: bool,
    time: i64,
) -> Result<VenueEvent, BinanceError> {
    let trade_id = u64::try_from(trade_id).map_err(|_| bad("a fill without a trade id"))?;
    let (mut fee, mut fee_base) = (Notional::ZERO, Qty::ZERO);
    if asset == ours.quote {
        fee = Notional::new(commission.get());
    } else if asset == ours.base && ours.side == Side::Buy {
        fee_base = commission;
    } else if !commission.is_zero() {
        tracing::warn!(
            order = ours.id,
            asset,
            "a commission in an asset other than the pair's is not booked"
        );
    }
    Ok(VenueEvent::Fill(Fill {
        order_id: ours.id,
        trade_id,
        time: Timestamp(time),
        qty,
        price,
        fee,
        fee_base,
        liquidity: if maker {
            Liquidity::Maker
        } else {
            Liquidity::Taker
        },
    }))
}

/// What an order status (`X` / `status`) says beyond its fills.
fn status_event(ours: &Ours, status: &str, reason: &str) -> Result<Vec<VenueEvent>, BinanceError> {
    let id = ours.id;
    Ok(match status {
        "NEW" | "PARTIALLY_FILLED" | "FILLED" | "PENDING_NEW" => vec![VenueEvent::Accepted { id }],
        "CANCELED" | "PENDING_CANCEL" => vec![
            VenueEvent::Accepted { id },
            VenueEvent::Cancelled {
                id,
                reason: "cancelled at the venue".into(),
            },
        ],
        "REJECTED" => vec![VenueEvent::Rejected {
            id,
            reason: format!("binance rejected it: {reason}"),
        }],
        "EXPIRED" | "EXPIRED_IN_MATCH" => vec![
            VenueEvent::Accepted { id },
            VenueEvent::Expired {
                id,
                reason: format!("expired at the venue ({status})"),
            },
        ],
        other => return Err(bad(format_args!("unknown order status `{other}`"))),
    })
}

/// Puts fills between the acceptance and a terminal event.
fn assemble(mut status: Vec<VenueEvent>, fills: Vec<VenueEvent>) -> Vec<VenueEvent> {
    let tail = if status.len() > 1 {
        status.split_off(1)
    } else {
        Vec::new()
    };
    status.extend(fills);
    status.extend(tail);
    status
}

/// The answer to `POST /api/v3/order` with `newOrderRespType=FULL`.
pub fn placed(ours: &Ours, v: &Value) -> Result<Vec<VenueEvent>, BinanceError> {
    let status = v["status"].as_str().ok_or_else(|| bad("no status"))?;
    let time = int(v, "transactTime")?;
    let mut fills = Vec::new();
    for f in v["fills"].as_array().map_or(&[][..], Vec::as_slice) {
        fills.push(fill(
            ours,
            int(f, "tradeId")?,
            dec(f, "qty")?,
            dec(f, "price")?,
            dec(f, "commission")?,
            f["commissionAsset"].as_str().unwrap_or_default(),
            false,
            time,
        )?);
    }
    Ok(assemble(status_event(ours, status, "")?, fills))
}

/// The answer to `POST /api/v3/orderList/oco`: each leg's report, by its
/// client id, as events of `legs`.
pub fn placed_list(
    legs: &[Ours; 2],
    client_ids: [&str; 2],
    v: &Value,
) -> Result<Vec<VenueEvent>, BinanceError> {
    let reports = v["orderReports"]
        .as_array()
        .ok_or_else(|| bad("an order list without orderReports"))?;
    let mut out = Vec::new();
    for r in reports {
        let cid = r["clientOrderId"].as_str().unwrap_or_default();
        let Some(i) = client_ids.iter().position(|c| *c == cid) else {
            return Err(bad(format_args!(
                "an order list leg we did not send: {cid}"
            )));
        };
        let mut leg = r.clone();
        if leg.get("transactTime").is_none() {
            leg["transactTime"] = v["transactionTime"].clone();
        }
        out.extend(placed(&legs[i], &leg)?);
    }
    Ok(out)
}

/// An order from `GET /api/v3/order` and its trades from `myTrades`.
pub fn queried(
    ours: &Ours,
    order: &Value,
    trades: &[Value],
) -> Result<Vec<VenueEvent>, BinanceError> {
    let status = order["status"].as_str().ok_or_else(|| bad("no status"))?;
    let mut fills = Vec::new();
    for t in trades {
        fills.push(fill(
            ours,
            int(t, "id")?,
            dec(t, "qty")?,
            dec(t, "price")?,
            dec(t, "commission")?,
            t["commissionAsset"].as_str().unwrap_or_default(),
            t["isMaker"].as_bool().unwrap_or(false),
            int(t, "time")?,
        )?);
    }
    Ok(assemble(status_event(ours, status, "")?, fills))
}

/// An order's status and executed quantity as Binance states them: in an
/// order answer or query (`status`, `executedQty`) or a report (`X`, `z`).
pub fn order_state(v: &Value) -> Option<(String, Qty)> {
    let (status, executed) = match v.get("status") {
        Some(s) => (s, &v["executedQty"]),
        None => (&v["X"], &v["z"]),
    };
    Some((
        status.as_str()?.to_owned(),
        executed.as_str()?.parse().ok()?,
    ))
}

/// The client order id an `executionReport` is about: the original one
/// for a cancel (`C`), else `c`.
pub fn report_client_id(v: &Value) -> Option<&str> {
    match v["C"].as_str() {
        Some(orig) if !orig.is_empty() && v["x"] == "CANCELED" => Some(orig),
        _ => v["c"].as_str(),
    }
}

/// A user-stream `executionReport`.
pub fn report(ours: &Ours, v: &Value) -> Result<Vec<VenueEvent>, BinanceError> {
    let exec = v["x"].as_str().ok_or_else(|| bad("no execution type"))?;
    let id = ours.id;
    Ok(match exec {
        "NEW" => vec![VenueEvent::Accepted { id }],
        "TRADE" => vec![fill(
            ours,
            int(v, "t")?,
            dec(v, "l")?,
            dec(v, "L")?,
            dec(v, "n")?,
            v["N"].as_str().unwrap_or_default(),
            v["m"].as_bool().unwrap_or(false),
            int(v, "T")?,
        )?],
        "CANCELED" => vec![VenueEvent::Cancelled {
            id,
            reason: "cancelled at the venue".into(),
        }],
        "REJECTED" => vec![VenueEvent::Rejected {
            id,
            reason: format!(
                "binance rejected it: {}",
                v["r"].as_str().unwrap_or("no reason given")
            ),
        }],
        "EXPIRED" | "TRADE_PREVENTION" => vec![VenueEvent::Expired {
            id,
            reason: format!("expired at the venue ({exec})"),
        }],
        // An amendment or a replacement changes nothing we book.
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(side: Side) -> Ours {
        Ours {
            id: 7,
            side,
            base: "BTC".into(),
            quote: "USDT".into(),
        }
    }

    #[test]
    fn a_full_answer_is_accepted_then_its_fills() {
        let v = serde_json::json!({
            "symbol": "BTCUSDT", "orderId": 28, "clientOrderId": "td-7",
            "transactTime": 1_507_725_176_595_i64, "status": "FILLED",
            "fills": [
                {"price": "4000.00000000", "qty": "1.00000000", "commission": "0.00100000",
                 "commissionAsset": "BTC", "tradeId": 56},
                {"price": "3999.00000000", "qty": "1.00000000", "commission": "3.99900000",
                 "commissionAsset": "USDT", "tradeId": 57}
            ]
        });
        let ev = placed(&ours(Side::Buy), &v).unwrap();
        assert_eq!(ev[0], VenueEvent::Accepted { id: 7 });
        let VenueEvent::Fill(f) = &ev[1] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (f.trade_id, f.fee, f.fee_base),
            (56, Notional::ZERO, "0.001".parse().unwrap())
        );
        let VenueEvent::Fill(f) = &ev[2] else {
            panic!("{ev:?}")
        };
        assert_eq!((f.trade_id, f.fee.to_string()), (57, "3.999".into()));
        assert_eq!(ev.len(), 3);
    }

    #[test]
    fn execution_reports_name_the_original_order_of_a_cancel() {
        let v = serde_json::json!({"e": "executionReport", "x": "CANCELED", "c": "cancel-1", "C": "td-7"});
        assert_eq!(report_client_id(&v), Some("td-7"));
        assert_eq!(
            report(&ours(Side::Sell), &v).unwrap(),
            vec![VenueEvent::Cancelled {
                id: 7,
                reason: "cancelled at the venue".into()
            }]
        );
        let v = serde_json::json!({"x": "TRADE", "c": "td-7", "C": "", "t": 9, "l": "0.5",
            "L": "100", "n": "0.05", "N": "USDT", "m": true, "T": 5});
        assert_eq!(report_client_id(&v), Some("td-7"));
        let ev = report(&ours(Side::Sell), &v).unwrap();
        let VenueEvent::Fill(f) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (f.liquidity, f.qty.to_string()),
            (Liquidity::Maker, "0.5".into())
        );
        // A float where a decimal string belongs is refused.
        let v = serde_json::json!({"x": "TRADE", "t": 9, "l": 0.5, "L": "100", "n": "0", "N": "USDT", "T": 5});
        assert!(report(&ours(Side::Sell), &v).is_err());
    }
}
