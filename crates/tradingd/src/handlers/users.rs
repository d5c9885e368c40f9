//! `users.*` handlers.

use tradedesk_core::api::auth::Role;
use tradedesk_core::api::paging::{self, Page, PageParams};
use tradedesk_core::api::users::{
    PasswordReset, RoleChange, UserCreate, UserId, UserView, UsersCreate, UsersDisable,
    UsersEnable, UsersList, UsersResetPassword, UsersSetRole,
};
use tradedesk_core::api::{ApiError, Caller, ErrorCode, Handle};

use super::bots::checks::check_name;
use crate::context::Ctx;
use crate::services::auth::check_password;
use crate::store::users::{self as db, UserRow};

/// The local socket's caller owns what it makes as `admin`.
const RESERVED: &str = "admin";

fn user(ctx: &Ctx, id: u64) -> Result<UserRow, ApiError> {
    db::by_id(ctx.store().conn(), id)?.ok_or_else(|| ApiError::not_found("user", id))
}

/// Changes a user as `change` says, ends its sessions, and answers with it.
fn change(
    ctx: &Ctx,
    id: u64,
    change: impl FnOnce(&mut UserRow) -> Result<(), ApiError>,
) -> Result<UserView, ApiError> {
    let mut row = user(ctx, id)?;
    if row.password_hash.is_none() {
        return Err(ApiError::bad_field(
            "id",
            format!("user {id} is the local socket's administrator, which users.* do not change"),
        ));
    }
    change(&mut row)?;
    let now = ctx.now();
    ctx.store().write(|tx| {
        db::update(
            tx,
            id,
            row.view.role,
            row.view.disabled,
            row.password_hash.as_deref(),
            now,
        )
    })?;
    ctx.auth.forget(id);
    Ok(row.view)
}

/// A new user's name (`field` names it in errors) and password.
pub(crate) fn check_new_user(
    field: &str,
    name: &str,
    password: &tradedesk_core::api::auth::Secret,
) -> Result<(), ApiError> {
    check_name(field, name)?;
    if name.eq_ignore_ascii_case(RESERVED) {
        return Err(ApiError::bad_field(
            field,
            "`admin` is the local socket's administrator; choose another name",
        ));
    }
    check_password("password", password)
}

impl Ctx {
    /// Makes a user and their own paper account (with the configured
    /// starting balances), in one transaction.
    pub(crate) fn create_user(
        &self,
        name: &str,
        password: &tradedesk_core::api::auth::Secret,
        role: Role,
    ) -> Result<UserView, ApiError> {
        let hash = self.auth.hash(password)?;
        let now = self.now();
        let taken = |what: &str| {
            ApiError::new(ErrorCode::Conflict, format!("{what} named `{name}` exists"))
                .with_data(serde_json::json!({ "field": "name" }))
        };
        let mut state = self.exchange.lock();
        let account = crate::services::exchange::paper_account_name(name);
        if state.account_index(&account).is_some() {
            return Err(taken("an account for a user"));
        }
        let mut store = self.store();
        if db::by_name(store.conn(), name)?.is_some() {
            return Err(taken("a user"));
        }
        let (row, acc) = store.write(|tx| -> Result<_, crate::store::StoreError> {
            let row = db::insert(tx, name, &hash, role, now)?;
            let acc = state.create_paper_account(tx, &account, name, now)?;
            Ok((row, acc))
        })?;
        state.adopt_account(&store, acc)?;
        tracing::info!(user = %row.view.name, role = role.as_str(), %account, "user created");
        Ok(row.view)
    }
}

impl Handle<UsersList> for Ctx {
    async fn handle(&self, _: &Caller, p: PageParams) -> Result<Page<UserView>, ApiError> {
        let limit = paging::limit(p.limit)?;
        let after = paging::cursor(p.cursor.as_deref())?.unwrap_or(0);
        self.blocking(|ctx| {
            let items = db::list(ctx.store().conn(), after, limit)?;
            let next_cursor = paging::next_cursor(&items, limit, |u| u.id);
            Ok(Page { items, next_cursor })
        })
    }
}

impl Handle<UsersCreate> for Ctx {
    async fn handle(&self, _: &Caller, p: UserCreate) -> Result<UserView, ApiError> {
        check_new_user("name", &p.name, &p.password)?;
        self.blocking(|ctx| ctx.create_user(&p.name, &p.password, p.role.unwrap_or(Role::Trader)))
    }
}

impl Handle<UsersDisable> for Ctx {
    async fn handle(&self, _: &Caller, p: UserId) -> Result<UserView, ApiError> {
        self.blocking(|ctx| {
            change(ctx, p.id, |u| {
                u.view.disabled = true;
                Ok(())
            })
        })
    }
}

impl Handle<UsersEnable> for Ctx {
    async fn handle(&self, _: &Caller, p: UserId) -> Result<UserView, ApiError> {
        self.blocking(|ctx| {
            change(ctx, p.id, |u| {
                u.view.disabled = false;
                Ok(())
            })
        })
    }
}

impl Handle<UsersSetRole> for Ctx {
    async fn handle(&self, _: &Caller, p: RoleChange) -> Result<UserView, ApiError> {
        self.blocking(|ctx| {
            change(ctx, p.id, |u| {
                u.view.role = p.role;
                Ok(())
            })
        })
    }
}

impl Handle<UsersResetPassword> for Ctx {
    async fn handle(&self, _: &Caller, p: PasswordReset) -> Result<UserView, ApiError> {
        check_password("password", &p.password)?;
        self.blocking(|ctx| {
            let hash = ctx.auth.hash(&p.password)?;
            change(ctx, p.id, |u| {
                u.password_hash = Some(hash);
                Ok(())
            })
        })
    }
}
