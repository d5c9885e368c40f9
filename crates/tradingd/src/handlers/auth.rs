//! `auth.*` handlers.

use tradedesk_core::api::auth::{
    AuthLogin, AuthLogout, AuthMe, AuthPassword, AuthRefresh, Credentials, LoggedOut, Me,
    PasswordChange, RefreshParams, Tokens,
};
use tradedesk_core::api::{ApiError, Caller, Empty, Handle, Transport};

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
