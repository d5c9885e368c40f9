//! `auth.*` handlers.

use tradedesk_core::api::auth::{
    AuthLogin, AuthLogout, AuthMe, AuthPassword, AuthRefresh, AuthTokensCreate, AuthTokensList,
    AuthTokensRevoke, Credentials, LoggedOut, Me, NewToken, PasswordChange, RefreshParams, Secret,
    TokenCreate, TokenId, TokenView, Tokens,
};
use tradedesk_core::api::paging::{self, Page, PageParams};
use tradedesk_core::api::{ApiError, Caller, Empty, Handle, Scope, Transport};
use tradedesk_core::time::Timestamp;

use crate::context::Ctx;
use crate::services::auth::{check_password, token_hash, unauthenticated};
use crate::store::users as db;

impl Handle<AuthLogin> for Ctx {
    async fn handle(&self, caller: &Caller, p: Credentials) -> Result<Tokens, ApiError> {
        self.blocking(|ctx| {
            let now = ctx.now();
            let user = ctx
                .auth
                .login(ctx.store_mutex(), &p.user, &p.password, caller.peer, now)?;
            ctx.store().write(|tx| ctx.auth.issue(tx, &user, None, now))
        })
    }
}

impl Handle<AuthRefresh> for Ctx {
    async fn handle(&self, _: &Caller, p: RefreshParams) -> Result<Tokens, ApiError> {
        self.blocking(|ctx| {
            let now = ctx.now();
            let hash = token_hash(p.refresh_token.expose());
            let invalid = || unauthenticated("the refresh token is invalid, used or expired");
            ctx.store().write(|tx| {
                let row = db::refresh_by_hash(tx, &hash)?.ok_or_else(invalid)?;
                if row.used {
                    // Replayed: whoever holds the family's newest token and
                    // whoever replayed this one both log in again.
                    db::revoke_family(tx, &row.family)?;
                    tracing::warn!(
                        user = row.user_id,
                        "a used refresh token came back; its session is ended"
                    );
                    return Ok(Err(invalid()));
                }
                if row.revoked || row.expires <= now {
                    return Ok(Err(invalid()));
                }
                let user = db::by_id(tx, row.user_id)?.ok_or_else(invalid)?;
                if user.view.disabled {
                    return Ok(Err(invalid()));
                }
                db::mark_used(tx, &hash)?;
                ctx.auth.issue(tx, &user, Some(&row.family), now).map(Ok)
            })?
        })
    }
}

impl Handle<AuthLogout> for Ctx {
    async fn handle(&self, _: &Caller, p: RefreshParams) -> Result<LoggedOut, ApiError> {
        self.blocking(|ctx| {
            let hash = token_hash(p.refresh_token.expose());
            ctx.store().write(|tx| -> Result<LoggedOut, ApiError> {
                let Some(row) = db::refresh_by_hash(tx, &hash)? else {
                    return Ok(LoggedOut { revoked: false });
                };
                let live = db::revoke_family(tx, &row.family)?;
                Ok(LoggedOut { revoked: live > 0 })
            })
        })
    }
}

impl Handle<AuthMe> for Ctx {
    async fn handle(&self, caller: &Caller, _: Empty) -> Result<Me, ApiError> {
        Ok(Me {
            user: caller.user.clone(),
            scope: caller.scope,
            transport: caller.transport,
        })
    }
}

impl Handle<AuthPassword> for Ctx {
    async fn handle(&self, caller: &Caller, p: PasswordChange) -> Result<Empty, ApiError> {
        if caller.transport != Transport::Http {
            return Err(ApiError::bad_field(
                "current",
                "the local administrator has no password; users are managed with users.*",
            ));
        }
        check_password("new", &p.new)?;
        self.blocking(|ctx| {
            let now = ctx.now();
            let user = ctx
                .auth
                .login(
                    ctx.store_mutex(),
                    &caller.user,
                    &p.current,
                    caller.peer,
                    now,
                )
                .map_err(|_| ApiError::bad_field("current", "is not the current password"))?;
            let hash = ctx.auth.hash(&p.new)?;
            ctx.store().write(|tx| {
                db::update(
                    tx,
                    user.view.id,
                    user.view.role,
                    user.view.disabled,
                    Some(&hash),
                    now,
                )
            })?;
            ctx.auth.forget(user.view.id);
            Ok(Empty {})
        })
    }
}

/// The caller as a user row: personal access tokens belong to HTTP users.
fn own_user(ctx: &Ctx, caller: &Caller) -> Result<crate::store::users::UserRow, ApiError> {
    let row = db::by_name(ctx.store().conn(), &caller.user)?;
    match row {
        Some(r) if r.password_hash.is_some() && caller.transport == Transport::Http => Ok(r),
        _ => Err(ApiError::bad_field(
            "name",
            "personal access tokens belong to HTTP users; the local socket needs none",
        )),
    }
}

impl Handle<AuthTokensCreate> for Ctx {
    async fn handle(&self, caller: &Caller, p: TokenCreate) -> Result<NewToken, ApiError> {
        if !(1..=64).contains(&p.name.chars().count()) {
            return Err(ApiError::bad_field("name", "must be 1–64 characters"));
        }
        if !(1..=365).contains(&p.expires_days) {
            return Err(ApiError::bad_field(
                "expires_days",
                format!("must be 1–365, got {}", p.expires_days),
            ));
        }
        let scope = p.scope.unwrap_or(caller.scope);
        if scope > caller.scope || scope == Scope::Public {
            return Err(ApiError::bad_field(
                "scope",
                format!(
                    "`{}` is wider than yours (`{}`)",
                    scope.as_str(),
                    caller.scope.as_str()
                ),
            ));
        }
        self.blocking(|ctx| {
            let user = own_user(ctx, caller)?;
            let now = ctx.now();
            let days = i64::from(p.expires_days);
            let expires = Timestamp(now.millis().saturating_add(days.saturating_mul(86_400_000)));
            let token = ctx.auth.new_access_token()?;
            let row = ctx.store().write(|tx| {
                db::insert_token(
                    tx,
                    user.view.id,
                    &p.name,
                    &token_hash(&token),
                    scope,
                    now,
                    expires,
                )
            })?;
            Ok(NewToken {
                view: row.view,
                token: Secret::new(token),
            })
        })
    }
}

impl Handle<AuthTokensList> for Ctx {
    async fn handle(&self, caller: &Caller, p: PageParams) -> Result<Page<TokenView>, ApiError> {
        let limit = paging::limit(p.limit)?;
        let before = paging::cursor(p.cursor.as_deref())?.unwrap_or(u64::MAX);
        self.blocking(|ctx| {
            let user = own_user(ctx, caller)?;
            let items = db::tokens_of(ctx.store().conn(), user.view.id, before, limit)?;
            let next_cursor = paging::next_cursor(&items, limit, |t| t.id);
            Ok(Page { items, next_cursor })
        })
    }
}

impl Handle<AuthTokensRevoke> for Ctx {
    async fn handle(&self, caller: &Caller, p: TokenId) -> Result<TokenView, ApiError> {
        self.blocking(|ctx| {
            let user = own_user(ctx, caller)?;
            let row = db::token_by_id(ctx.store().conn(), p.id)?
                .filter(|t| t.user_id == user.view.id)
                .ok_or_else(|| ApiError::not_found("token", p.id))?;
            ctx.store().write(|tx| db::revoke_token(tx, p.id))?;
            Ok(TokenView {
                revoked: true,
                ..row.view
            })
        })
    }
}
