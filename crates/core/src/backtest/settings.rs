//! A backtest's settings: cash, commission, slippage, spread, fill model,
//! sizing and what is kept.

use crate::market::Interval;
use crate::money::{Notional, Ratio};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// When market orders fill.
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FillModel {
    /// Signal on a bar's close, fill at the next bar's open (the reference).
    #[default]
    NextOpen,
    /// Fill at the close of the bar that gave the signal.
    Close,
}

/// Costs and account settings of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Starting cash in the quote currency.
    pub capital: Notional,
    /// Commission in percent of each fill's value (0.2 = 0.2 %). Left out
    /// of a request, the daemon fills in its `[backtest] commission_pct`
    /// and stores the run with it; a library caller's `None` is no commission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_pct: Option<Ratio>,
    /// A fixed commission per fill, in the quote currency.
    #[serde(default)]
    pub commission_fixed: Notional,
    /// Slippage against market and stop fills, in basis points.
    #[serde(default)]
    pub slippage_bps: Ratio,
    #[serde(default)]
    pub fill: FillModel,
    /// 1 = cash only.
    #[serde(default = "one")]
    pub leverage: Ratio,
    /// A margin account: strategies may sell short (see [`Margin`]).
    /// Without it the account is spot: long only, and a strategy that
    /// would short is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<Margin>,
    /// Close every open position at the last bar's close, as a trade
    /// ending `end_of_data` (backtesting.py's `finalize_trades`); by
    /// default an open position is only marked (the reference's rule).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub close_at_end: bool,
}

/// A margin account's terms. The initial margin is `1 / leverage` of a
/// position's value; equity below the maintenance level is a margin call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Margin {
    /// Margin call when equity falls to this percent of the gross value of
    /// the positions (longs and shorts at the close) or below: every
    /// position is closed at that step's closes and trading stops.
    /// Default: half the initial margin (`50 / leverage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_pct: Option<Ratio>,
    /// The cost of borrowing what a short sold, in percent of its value
    /// (at the close) per `borrow_period`, charged at each period boundary.
    #[serde(default)]
    pub borrow_pct: Ratio,
    /// How often borrow is charged (default `1h`, as margin venues do).
    #[serde(default = "hourly")]
    pub borrow_period: Interval,
}

fn hourly() -> Interval {
    Interval::H1
}

impl Margin {
    /// Checks the terms against `leverage`; the error names the field
    /// (`maintenance_pct`, `borrow_pct`).
    pub fn validate(&self, leverage: Decimal) -> Result<(), (String, String)> {
        let initial = Decimal::ONE_HUNDRED
            .checked_div(leverage)
            .unwrap_or(Decimal::ONE_HUNDRED);
        if let Some(mm) = self.maintenance_pct.map(Ratio::get)
            && (mm <= Decimal::ZERO || mm >= initial)
        {
            return Err((
                "maintenance_pct".into(),
                format!(
                    "must be > 0 and below the initial margin ({} % at leverage {leverage}), got {mm}",
                    initial.round_dp(4).normalize()
                ),
            ));
        }
        let borrow = self.borrow_pct.get();
        if borrow < Decimal::ZERO || borrow >= Decimal::from(10) {
            return Err((
                "borrow_pct".into(),
                format!("must be ≥ 0 and < 10 (percent per period), got {borrow}"),
            ));
        }
        Ok(())
    }

    /// The maintenance level as a fraction of gross position value.
    pub fn maintenance(&self, leverage: Decimal) -> Decimal {
        self.maintenance_pct.map_or_else(
            || {
                Decimal::new(5, 1)
                    .checked_div(leverage)
                    .unwrap_or(Decimal::ZERO)
            },
            |m| {
                m.get()
                    .checked_div(Decimal::ONE_HUNDRED)
                    .unwrap_or(Decimal::ZERO)
            },
        )
    }
}

pub(super) fn one() -> Ratio {
    Ratio::new(Decimal::ONE)
}

impl Settings {
    /// Checks every setting; the error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, m: String| Err((f.to_owned(), m));
        let (capital, commission_pct, commission_fixed, slippage_bps, leverage) = (
            self.capital.get(),
            self.commission_pct.map_or(Decimal::ZERO, Ratio::get),
            self.commission_fixed.get(),
            self.slippage_bps.get(),
            self.leverage.get(),
        );
        if capital <= Decimal::ZERO || capital > Decimal::from(1_000_000_000_000_i64) {
            return bad("capital", format!("must be > 0 and ≤ 10^12, got {capital}"));
        }
        if commission_pct < Decimal::ZERO || commission_pct >= Decimal::from(10) {
            return bad(
                "commission_pct",
                format!("must be ≥ 0 and < 10, got {commission_pct}"),
            );
        }
        if commission_fixed < Decimal::ZERO {
            return bad(
                "commission_fixed",
                format!("must be ≥ 0, got {commission_fixed}"),
            );
        }
        if slippage_bps < Decimal::ZERO || slippage_bps >= Decimal::from(1000) {
            return bad(
                "slippage_bps",
                format!("must be ≥ 0 and < 1000, got {slippage_bps}"),
            );
        }
        if leverage < Decimal::ONE || leverage > Decimal::from(100) {
            return bad(
                "leverage",
                format!("must be between 1 and 100, got {leverage}"),
            );
        }
        if let Some(m) = &self.margin {
            m.validate(leverage)
                .map_err(|(f, msg)| (format!("margin.{f}"), msg))?;
        }
        Ok(())
    }
}
