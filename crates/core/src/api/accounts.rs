//! `accounts.*`: accounts and their balances.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::method::method;
use super::paging::{Page, PageParams};
use crate::market::Interval;
use crate::money::{Qty, Ratio};
use crate::time::Timestamp;

method! {
    /// Accounts and the venues they trade on.
    AccountsList = "accounts.list", Get "/api/v1/accounts", Read, PageParams => AccountList
}
method! {
    /// Balances of an account (default: your paper account), free and locked by open orders.
    AccountsBalances = "accounts.balances", Get "/api/v1/accounts/balances", Read, AccountParam => Balances
}

method! {
    /// Opens a paper account of your own on the simulator: `spot` (long only) or `margin` (may sell short, with leverage, borrow interest and liquidation), funded with the simulator's starting balances or `balances`.
    AccountsCreate = "accounts.create", Post "/api/v1/accounts", Trade, NewAccount => AccountView
}

/// Spot accounts hold what they bought and sell only what they hold; a
/// margin account may also sell what it does not hold (a short), borrowing
/// it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    #[default]
    Spot,
    Margin,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Spot => "spot",
            AccountKind::Margin => "margin",
        }
    }
}

impl std::fmt::Display for AccountKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A margin account's terms: the same model as a backtest's
/// `settings.margin` (see ARCHITECTURE.md, "Margin accounts").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarginTerms {
    /// The gross value of the positions (longs and shorts, and the orders
    /// that would grow them) may reach `leverage` × equity: the initial
    /// margin is `1 / leverage`. Between 1 and 100; default 2.
    #[serde(default = "two")]
    pub leverage: Ratio,
    /// Liquidation when equity falls to this percent of the gross value
    /// or below. Default: half the initial margin (`50 / leverage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_pct: Option<Ratio>,
    /// Interest on what is borrowed, in percent of its value per
    /// `borrow_period`, charged at each period boundary. Default 0.
    #[serde(default)]
    pub borrow_pct: Ratio,
    /// How often interest is charged (default `1h`).
    #[serde(default = "hourly")]
    pub borrow_period: Interval,
}

fn two() -> Ratio {
    Ratio::new(Decimal::TWO)
}

fn hourly() -> Interval {
    Interval::H1
}

impl Default for MarginTerms {
    fn default() -> Self {
        MarginTerms {
            leverage: two(),
            maintenance_pct: None,
            borrow_pct: Ratio::new(Decimal::ZERO),
            borrow_period: hourly(),
        }
    }
}

impl MarginTerms {
    /// The terms as a backtest's margin settings (one model for both).
    pub fn as_backtest(&self) -> crate::backtest::Margin {
        crate::backtest::Margin {
            maintenance_pct: self.maintenance_pct,
            borrow_pct: self.borrow_pct,
            borrow_period: self.borrow_period,
        }
    }

    /// The maintenance level as a fraction of gross value.
    pub fn maintenance(&self) -> Decimal {
        self.as_backtest().maintenance(self.leverage.get())
    }

    /// Checks the terms; the error names the field (`leverage`, ...).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let leverage = self.leverage.get();
        if leverage < Decimal::ONE || leverage > Decimal::ONE_HUNDRED {
            return Err((
                "leverage".into(),
                format!("must be between 1 and 100, got {leverage}"),
            ));
        }
        self.as_backtest().validate(leverage)
    }
}

/// Margin terms asked for: each one given replaces the default's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarginRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leverage: Option<Ratio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_pct: Option<Ratio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borrow_pct: Option<Ratio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub borrow_period: Option<Interval>,
}

impl MarginRequest {
    /// The terms asked for over `defaults`. A maintenance level is kept
    /// from the defaults only when the leverage is too: the default level
    /// follows the leverage (`50 / leverage`).
    pub fn over(&self, defaults: &MarginTerms) -> MarginTerms {
        MarginTerms {
            leverage: self.leverage.unwrap_or(defaults.leverage),
            maintenance_pct: self.maintenance_pct.or(if self.leverage.is_some() {
                None
            } else {
                defaults.maintenance_pct
            }),
            borrow_pct: self.borrow_pct.unwrap_or(defaults.borrow_pct),
            borrow_period: self.borrow_period.unwrap_or(defaults.borrow_period),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// 1–64 letters, digits, `-`, `_` or `.`; unique.
    pub name: String,
    #[serde(default)]
    pub kind: AccountKind,
    /// A margin account's terms; each one left out is the simulator's
    /// (`sim.margin`; as shipped: leverage 2, maintenance at half the
    /// initial margin, borrow 0.001 % per 1h). Only for `kind: margin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<MarginRequest>,
    /// Starting balances by asset (default: the simulator's
    /// `sim.initial_balances`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balances: Option<BTreeMap<String, Qty>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AccountView {
    pub name: String,
    /// Where its orders execute: `sim` (the simulator's matching) or a
    /// real exchange (`binance`).
    pub venue: String,
    /// `paper` (matched by the simulator, on the simulated market or on a
    /// real exchange's live prices) or `live` (real orders, real money).
    pub mode: AccountMode,
    /// `spot` (long only) or `margin` (may sell short).
    #[serde(default)]
    pub kind: AccountKind,
    /// A margin account's terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<MarginTerms>,
    pub owner: String,
    pub created: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountMode {
    Paper,
    Live,
}

impl AccountMode {
    /// An account on the simulator's venue is paper; any other is live.
    pub fn of_venue(venue: &str) -> AccountMode {
        if venue == "sim" {
            AccountMode::Paper
        } else {
            AccountMode::Live
        }
    }
}

pub type AccountList = Page<AccountView>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountParam {
    /// Default: your paper account.
    #[serde(default)]
    pub account: Option<String>,
}

/// One asset of an account: `free + locked + bots = total`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BalanceView {
    pub asset: String,
    /// What manual orders can use now.
    pub free: Qty,
    /// Held by the manual book's open orders.
    pub locked: Qty,
    /// Allocated to the account's bots (their free and locked funds).
    #[serde(default)]
    pub bots: Qty,
    pub total: Qty,
    /// What the account owes of the asset (a margin account's loans, the
    /// bots' included); `total - borrowed` is what it is worth.
    #[serde(default, skip_serializing_if = "Qty::is_zero_ref")]
    pub borrowed: Qty,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Balances {
    pub account: String,
    pub balances: Vec<BalanceView>,
    /// A margin account's standing, valued at the last prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<MarginStatus>,
}

/// Where a margin account stands: liquidation comes when `level_pct`
/// falls to `maintenance_pct`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MarginStatus {
    /// What the account is worth: every asset held less what is owed.
    pub equity: crate::money::Notional,
    /// The gross value of its positions, longs and shorts.
    pub gross: crate::money::Notional,
    /// Equity in percent of the gross value (absent while flat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_pct: Option<Ratio>,
    pub maintenance_pct: Ratio,
    /// How much more gross value it may take on: `equity × leverage − gross`.
    pub available: crate::money::Notional,
}
