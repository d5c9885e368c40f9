//! `accounts.*`: the venue accounts and their balances.

use rust_decimal::Decimal;
use tradedesk_core::api::accounts::{
    AccountKind, AccountList, AccountMode, AccountParam, AccountView, AccountsBalances,
    AccountsCreate, AccountsList, BalanceView, Balances, NewAccount,
};
use tradedesk_core::api::paging::{self, PageParams};
use tradedesk_core::api::{ApiError, Caller, ErrorCode, Handle};
use tradedesk_core::money::Qty;

use crate::context::Ctx;
use crate::services::exchange::{Account, PAPER_ACCOUNT};

/// The most accounts one user may open with `accounts.create`.
pub const MAX_ACCOUNTS_PER_USER: usize = 20;

fn view(a: &Account) -> AccountView {
    AccountView {
        name: a.row.name.clone(),
        venue: a.row.venue.clone(),
        mode: AccountMode::of_venue(&a.row.venue),
        kind: a.row.kind(),
        margin: a.row.margin.clone(),
        owner: a.row.owner.clone(),
        created: a.row.created,
    }
}

impl Handle<AccountsList> for Ctx {
    async fn handle(&self, caller: &Caller, p: PageParams) -> Result<AccountList, ApiError> {
        let state = self.exchange.lock();
        let accounts: Vec<AccountView> = state
            .accounts
            .iter()
            .filter(|a| caller.sees(&a.row.owner))
            .map(view)
            .collect();
        paging::in_memory(accounts, p.limit, p.cursor.as_deref())
    }
}

impl Handle<AccountsBalances> for Ctx {
    async fn handle(&self, caller: &Caller, p: AccountParam) -> Result<Balances, ApiError> {
        let state = self.exchange.lock();
        let idx = state.account_for(caller, p.account.as_deref())?;
        let acc = &state.accounts[idx];
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
                    bots: total.checked_sub(manual.total()).unwrap_or(Qty::ZERO),
                    total,
                    borrowed: b.borrowed,
                }
            })
            .collect();
        Ok(Balances {
            account: acc.row.name.clone(),
            balances,
            margin: state.margin_status(idx),
        })
    }
}

/// The largest starting balance of one asset.
fn max_balance() -> Decimal {
    Decimal::from(1_000_000_000_000_i64)
}

impl Handle<AccountsCreate> for Ctx {
    async fn handle(&self, caller: &Caller, p: NewAccount) -> Result<AccountView, ApiError> {
        super::bots::checks::check_name("name", &p.name)?;
        if p.name == PAPER_ACCOUNT || p.name.starts_with("paper-") {
            return Err(ApiError::bad_field(
                "name",
                "`paper` and names starting `paper-` are the users' own paper accounts",
            ));
        }
        if p.kind == AccountKind::Spot && p.margin.is_some() {
            return Err(ApiError::bad_field(
                "margin",
                "margin terms are for `kind: margin` accounts",
            ));
        }
        self.blocking(move |ctx| {
            let mut state = ctx.exchange.lock();
            let margin = match p.kind {
                AccountKind::Spot => None,
                AccountKind::Margin => {
                    let terms = p
                        .margin
                        .clone()
                        .unwrap_or_default()
                        .over(state.default_margin());
                    terms
                        .validate()
                        .map_err(|(f, m)| ApiError::bad_field(&format!("margin.{f}"), m))?;
                    Some(terms)
                }
            };
            let assets: Vec<String> = state
                .venue
                .instruments()
                .iter()
                .flat_map(|i| [i.base.clone(), i.quote.clone()])
                .collect();
            let balances: Vec<(String, Qty)> = match &p.balances {
                Some(b) => b.iter().map(|(a, q)| (a.clone(), *q)).collect(),
                None => state.initial_balances().to_vec(),
            };
            for (asset, q) in &balances {
                let field = format!("balances.{asset}");
                if !assets.contains(asset) {
                    return Err(ApiError::bad_field(
                        &field,
                        format!("`{asset}` is not an asset of a listed symbol"),
                    ));
                }
                if q.is_negative() || q.get() > max_balance() {
                    return Err(ApiError::bad_field(
                        &field,
                        format!("must be ≥ 0 and ≤ 10^12, got {q}"),
                    ));
                }
            }
            if state.account_index(&p.name).is_some() {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("an account named `{}` exists", p.name),
                )
                .with_data(serde_json::json!({ "field": "name" })));
            }
            let owned = state
                .accounts
                .iter()
                .filter(|a| a.row.owner == caller.user)
                .count();
            if owned >= MAX_ACCOUNTS_PER_USER {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!(
                        "{} holds {owned} accounts, the most one user may have \
                         ({MAX_ACCOUNTS_PER_USER})",
                        caller.user
                    ),
                ));
            }
            let mut store = ctx.store();
            let now = ctx.now();
            let refs: Vec<(&str, Qty)> = balances.iter().map(|(a, q)| (a.as_str(), *q)).collect();
            let row = store.write(|tx| {
                state.create_sim_account(tx, &p.name, &caller.user, &refs, margin.as_ref(), now)
            })?;
            state.adopt_account(&store, row)?;
            let acc = state
                .accounts
                .last()
                .ok_or_else(|| ApiError::internal("the new account is missing"))?;
            tracing::info!(account = %acc.row.name, kind = %acc.row.kind(), owner = %caller.user,
                "account created");
            Ok(view(acc))
        })
    }
}
