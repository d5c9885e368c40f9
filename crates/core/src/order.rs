//! Orders: what a client may ask for, the status an order is in, and the
//! one table that moves it from status to status.
//!
//! Invariants: the status changes only through [`transition`]; terminal
//! statuses (filled, cancelled, rejected, expired) never change again; an
//! illegal transition is an error that leaves the order untouched; a fill
//! with a trade id the order has already seen is a no-op; the filled
//! quantity never exceeds the order quantity.

#![deny(clippy::arithmetic_side_effects)]

use std::fmt;

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::instrument::{Instrument, RuleError, Symbol};
use crate::money::{Notional, Price, Qty};

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
    pub order_type: OrderType,
    pub qty: Qty,
    pub price: Option<Price>,
    pub stop_price: Option<Price>,
    pub trail: Option<Trail>,
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
        Ok(ValidOrder {
            symbol: self.symbol.clone(),
            side: self.side,
            order_type: self.order_type,
            qty,
            price,
            stop_price,
            trail,
            time_in_force: tif,
            client_order_id: self.client_order_id.clone(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Written to the database, not yet acknowledged by the venue.
    New,
    /// Waiting for another order (a bracket's exits wait for the entry to fill).
    Pending,
    /// Live at the venue (resting, or waiting for its trigger).
    Accepted,
    PartiallyFilled,
    Filled,
    Cancelled,
    Rejected,
    Expired,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::New,
        OrderStatus::Pending,
        OrderStatus::Accepted,
        OrderStatus::PartiallyFilled,
        OrderStatus::Filled,
        OrderStatus::Cancelled,
        OrderStatus::Rejected,
        OrderStatus::Expired,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Cancelled
                | OrderStatus::Rejected
                | OrderStatus::Expired
        )
    }

    /// Open orders hold funds and can be cancelled.
    pub fn is_open(self) -> bool {
        !self.is_terminal()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "new",
            OrderStatus::Pending => "pending",
            OrderStatus::Accepted => "accepted",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Filled => "filled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What can happen to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Accept,
    /// The order's parent filled: a pending order goes live.
    Activate,
    /// A fill that leaves quantity open.
    PartialFill,
    /// A fill that completes the order.
    FinalFill,
    Cancel,
    Reject,
    Expire,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order that is {from} cannot {event}")]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub event: &'static str,
}

impl Event {
    fn verb(self) -> &'static str {
        match self {
            Event::Accept => "be accepted",
            Event::Activate => "be activated",
            Event::PartialFill => "be partially filled",
            Event::FinalFill => "be filled",
            Event::Cancel => "be cancelled",
            Event::Reject => "be rejected",
            Event::Expire => "expire",
        }
    }
}

/// The one transition table. Every (status, event) pair is listed: adding a
/// status or an event does not compile until the table says what it does.
pub fn transition(from: OrderStatus, event: Event) -> Result<OrderStatus, IllegalTransition> {
    use Event as E;
    use OrderStatus as S;
    let to = match (from, event) {
        (S::New, E::Accept) | (S::Pending, E::Activate) => S::Accepted,
        (S::New | S::Pending, E::Reject) => S::Rejected,
        (S::New | S::Pending | S::Accepted | S::PartiallyFilled, E::Cancel) => S::Cancelled,
        (S::Accepted | S::PartiallyFilled, E::PartialFill) => S::PartiallyFilled,
        (S::Accepted | S::PartiallyFilled, E::FinalFill) => S::Filled,
        (S::Accepted | S::PartiallyFilled, E::Expire) => S::Expired,
        (S::New, E::Activate | E::PartialFill | E::FinalFill | E::Expire)
        | (S::Pending, E::Accept | E::PartialFill | E::FinalFill | E::Expire)
        | (S::Accepted | S::PartiallyFilled, E::Accept | E::Activate | E::Reject)
        | (S::Filled | S::Cancelled | S::Rejected | S::Expired, _) => {
            return Err(IllegalTransition {
                from,
                event: event.verb(),
            });
        }
    };
    Ok(to)
}

/// An order's live state: quantities and the trades already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    pub status: OrderStatus,
    pub qty: Qty,
    pub filled: Qty,
    /// Sum of price × quantity over fills, for the average fill price.
    pub filled_notional: Notional,
    pub fees: Notional,
    trade_ids: Vec<u64>,
}

/// The outcome of [`OrderState::fill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillOutcome {
    Applied,
    /// The trade id was applied before; nothing changed.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FillError {
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error("fill of {fill} exceeds the open quantity {open}")]
    Overfill { fill: String, open: String },
    #[error("fill quantity must be positive")]
    NotPositive,
    #[error("arithmetic overflow")]
    Overflow,
}

impl OrderState {
    pub fn new(status: OrderStatus, qty: Qty) -> Self {
        OrderState {
            status,
            qty,
            filled: Qty::ZERO,
            filled_notional: Notional::ZERO,
            fees: Notional::ZERO,
            trade_ids: Vec::new(),
        }
    }

    /// Rebuilds a state loaded from storage.
    pub fn restore(
        status: OrderStatus,
        qty: Qty,
        filled: Qty,
        filled_notional: Notional,
        fees: Notional,
        trade_ids: Vec<u64>,
    ) -> Self {
        OrderState {
            status,
            qty,
            filled,
            filled_notional,
            fees,
            trade_ids,
        }
    }

    pub fn open_qty(&self) -> Qty {
        self.qty.checked_sub(self.filled).unwrap_or(Qty::ZERO)
    }

    pub fn trade_ids(&self) -> &[u64] {
        &self.trade_ids
    }

    pub fn avg_price(&self) -> Option<Price> {
        if self.filled.is_zero() {
            None
        } else {
            self.filled_notional.checked_div_qty(self.filled)
        }
    }

    /// Applies a non-fill event.
    pub fn apply(&mut self, event: Event) -> Result<OrderStatus, IllegalTransition> {
        debug_assert!(
            !matches!(event, Event::PartialFill | Event::FinalFill),
            "use fill()"
        );
        self.status = transition(self.status, event)?;
        Ok(self.status)
    }

    /// Applies a fill; all-or-nothing: on error nothing changed.
    pub fn fill(
        &mut self,
        trade_id: u64,
        qty: Qty,
        price: Price,
        fee: Notional,
    ) -> Result<FillOutcome, FillError> {
        if self.trade_ids.contains(&trade_id) {
            return Ok(FillOutcome::Duplicate);
        }
        if !qty.is_positive() {
            return Err(FillError::NotPositive);
        }
        let open = self.open_qty();
        if qty > open {
            return Err(FillError::Overfill {
                fill: qty.to_string(),
                open: open.to_string(),
            });
        }
        let event = if qty == open {
            Event::FinalFill
        } else {
            Event::PartialFill
        };
        let status = transition(self.status, event)?;
        let filled = self.filled.checked_add(qty).ok_or(FillError::Overflow)?;
        let value = price.checked_mul_qty(qty).ok_or(FillError::Overflow)?;
        let filled_notional = self
            .filled_notional
            .checked_add(value)
            .ok_or(FillError::Overflow)?;
        let fees = self.fees.checked_add(fee).ok_or(FillError::Overflow)?;
        self.status = status;
        self.filled = filled;
        self.filled_notional = filled_notional;
        self.fees = fees;
        self.trade_ids.push(trade_id);
        Ok(FillOutcome::Applied)
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
