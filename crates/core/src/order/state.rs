//! An order's life: its statuses, the one transition table, and its
//! fills (deduplicated by trade id).

use crate::money::{Notional, Price, Qty};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

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
    pub(super) fn verb(self) -> &'static str {
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
    pub(super) trade_ids: Vec<u64>,
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
