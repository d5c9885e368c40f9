//! `accounts.*`: the venue accounts and their balances.

use tradedesk_core::api::accounts::{
    AccountList, AccountParam, AccountView, AccountsBalances, AccountsList, BalanceView, Balances,
};
use tradedesk_core::api::paging::{self, PageParams};
use tradedesk_core::api::{ApiError, Caller, Handle};

use crate::context::Ctx;

impl Handle<AccountsList> for Ctx {
    async fn handle(&self, caller: &Caller, p: PageParams) -> Result<AccountList, ApiError> {
        let state = self.exchange.lock();
        let accounts: Vec<AccountView> = state
            .accounts
            .iter()
            .filter(|a| caller.sees(&a.row.owner))
            .map(|a| AccountView {
                name: a.row.name.clone(),
                venue: a.row.venue.clone(),
                mode: tradedesk_core::api::accounts::AccountMode::of_venue(&a.row.venue),
                owner: a.row.owner.clone(),
                created: a.row.created,
            })
            .collect();
        paging::in_memory(accounts, p.limit, p.cursor.as_deref())
    }
}

impl Handle<AccountsBalances> for Ctx {
    async fn handle(&self, caller: &Caller, p: AccountParam) -> Result<Balances, ApiError> {
        let state = self.exchange.lock();
        let acc = &state.accounts[state.account_for(caller, p.account.as_deref())?];
        let balances = acc
            .books
            .total
            .balances()
            .iter()
            .map(|(asset, b)| {
                let manual = acc.books.manual_balance(asset);
                let total = b.total();
                BalanceView {
                    asset: asset.clone(),
                    free: manual.free,
                    locked: manual.locked,
                    bots: total
                        .checked_sub(manual.total())
                        .unwrap_or(tradedesk_core::money::Qty::ZERO),
                    total,
                }
            })
            .collect();
        Ok(Balances {
            account: acc.row.name.clone(),
            balances,
        })
    }
}
