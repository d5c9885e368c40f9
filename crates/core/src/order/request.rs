//! An order as asked for, and as validated against its instrument: every
//! check names the field at fault.

use super::{OrderType, Side, Terms, TimeInForce, Trail};
use crate::instrument::{Instrument, RuleError, Symbol};
use crate::money::{Price, Qty};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A request to place one order, as it arrives on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub symbol: Symbol,
    pub side: Side,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub qty: Qty,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<Price>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trail: Option<Trail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_in_force: Option<TimeInForce>,
    /// Your id for the order; generated when absent. Placing again with an
    /// id that exists returns the existing order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("`{field}` is required for a {order_type} order")]
    Missing {
        field: &'static str,
        order_type: &'static str,
    },
    #[error("`{field}` does not apply to a {order_type} order")]
    NotApplicable {
        field: &'static str,
        order_type: &'static str,
    },
    #[error("`time_in_force` {tif} does not apply to a {order_type} order")]
    BadTimeInForce {
        tif: &'static str,
        order_type: &'static str,
    },
    #[error("`client_order_id` must be 1 to 36 characters of letters, digits, `-` and `_`")]
    BadClientOrderId,
    #[error("`trail` {0}")]
    BadTrail(&'static str),
}

impl OrderError {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            OrderError::Rule(r) => r.field(),
            OrderError::Missing { field, .. } | OrderError::NotApplicable { field, .. } => field,
            OrderError::BadTimeInForce { .. } => "time_in_force",
            OrderError::BadClientOrderId => "client_order_id",
            OrderError::BadTrail(_) => "trail",
        }
    }
}

/// A request that fits its instrument's rules. Only [`OrderRequest::validate`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidOrder {
    pub symbol: Symbol,
    pub side: Side,
    pub qty: Qty,
    pub terms: Terms,
    pub time_in_force: TimeInForce,
    pub client_order_id: Option<String>,
}

pub fn check_client_order_id(id: &str) -> Result<(), OrderError> {
    let ok = (1..=36).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(OrderError::BadClientOrderId)
    }
}

impl OrderRequest {
    /// Checks the request against the instrument: which fields the type
    /// needs and allows, tick and lot grids, minimums.
    pub fn validate(&self, inst: &Instrument) -> Result<ValidOrder, OrderError> {
        use OrderType as T;
        let kind = self.order_type.as_str();
        let needs_price = matches!(self.order_type, T::Limit | T::StopLimit);
        let needs_stop = matches!(
            self.order_type,
            T::StopMarket | T::StopLimit | T::TakeProfit
        );
        let needs_trail = self.order_type == T::TrailingStop;
        let field = |present: bool, needed: bool, name: &'static str| match (present, needed) {
            (false, true) => Err(OrderError::Missing {
                field: name,
                order_type: kind,
            }),
            (true, false) => Err(OrderError::NotApplicable {
                field: name,
                order_type: kind,
            }),
            _ => Ok(()),
        };
        field(self.price.is_some(), needs_price, "price")?;
        field(self.stop_price.is_some(), needs_stop, "stop_price")?;
        field(self.trail.is_some(), needs_trail, "trail")?;
        let qty = inst.check_qty(self.qty)?;
        let price = self
            .price
            .map(|p| inst.check_price("price", p))
            .transpose()?;
        let stop_price = self
            .stop_price
            .map(|p| inst.check_price("stop_price", p))
            .transpose()?;
        if let Some(p) = price.or(stop_price) {
            inst.check_notional(qty, p)?;
        }
        let trail = match self.trail {
            Some(Trail::Amount(a)) => Some(Trail::Amount(inst.check_price("trail.amount", a)?)),
            Some(Trail::Percent(p)) => {
                if !p.is_positive() || p.get() >= Decimal::ONE_HUNDRED {
                    return Err(OrderError::BadTrail(
                        "percent must be above 0 and below 100",
                    ));
                }
                Some(Trail::Percent(p))
            }
            None => None,
        };
        let tif = self.time_in_force.unwrap_or_default();
        let tif_ok = match self.order_type {
            // A market order takes what is there; the rest expires.
            T::Market => matches!(tif, TimeInForce::Gtc | TimeInForce::Ioc | TimeInForce::Fok),
            T::Limit | T::StopLimit => true,
            T::StopMarket | T::TrailingStop | T::TakeProfit => tif == TimeInForce::Gtc,
        };
        if !tif_ok {
            return Err(OrderError::BadTimeInForce {
                tif: tif.as_str(),
                order_type: kind,
            });
        }
        if let Some(id) = &self.client_order_id {
            check_client_order_id(id)?;
        }
        // The field checks above make the terms fit the type.
        let terms = Terms::from_parts(self.order_type, price, stop_price, trail).ok_or(
            OrderError::Missing {
                field: "price",
                order_type: kind,
            },
        )?;
        Ok(ValidOrder {
            symbol: self.symbol.clone(),
            side: self.side,
            qty,
            terms,
            time_in_force: tif,
            client_order_id: self.client_order_id.clone(),
        })
    }
}
