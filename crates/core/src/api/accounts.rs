//! `accounts.*`: accounts and their balances.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::method::method;
use super::paging::{Page, PageParams};
use crate::money::Qty;
use crate::time::Timestamp;

method! {
    /// Accounts and the venues they trade on.
    AccountsList = "accounts.list", Get "/api/v1/accounts", Read, PageParams => AccountList
}
method! {
    /// Balances of an account (default: your paper account), free and locked by open orders.
    AccountsBalances = "accounts.balances", Get "/api/v1/accounts/balances", Read, AccountParam => Balances
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Balances {
    pub account: String,
    pub balances: Vec<BalanceView>,
}
