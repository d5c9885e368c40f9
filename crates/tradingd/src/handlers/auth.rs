//! `auth.*` handlers.

use tradedesk_core::api::auth::{
    AuthLogin, AuthLogout, AuthMe, AuthPassword, AuthPreferencesGet, AuthPreferencesSet,
    AuthProfileGet, AuthProfileUpdate, AuthRefresh, AuthRegister, AuthTokensCreate, AuthTokensList,
    AuthTokensRevoke, Credentials, LoggedOut, Me, NewToken, PasswordChange, Preferences, Profile,
    ProfileUpdate, RefreshParams, Secret, TokenCreate, TokenId, TokenView, Tokens,
};
use tradedesk_core::api::paging::{self, Page, PageParams};
use tradedesk_core::api::users::UserView;
use tradedesk_core::api::{ApiError, Caller, Empty, ErrorCode, Handle, Scope, Transport};
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

impl Handle<AuthRegister> for Ctx {
    async fn handle(&self, _: &Caller, p: Credentials) -> Result<UserView, ApiError> {
        if !self.config.auth.open_registration {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "registration is closed on this daemon: ask its administrator for a user",
            ));
        }
        super::users::check_new_user("user", &p.user, &p.password)?;
        let role = self.config.auth.registration_role;
        self.blocking(|ctx| ctx.create_user(&p.user, &p.password, role))
    }
}

/// The largest preferences object, serialized.
pub const MAX_PREFERENCES_BYTES: usize = 16 * 1024;

fn read_doc<T: serde::de::DeserializeOwned + Default>(
    ctx: &Ctx,
    caller: &Caller,
    which: db::Doc,
) -> Result<T, ApiError> {
    let text = db::doc(ctx.store().conn(), &caller.user, which)?
        .ok_or_else(|| ApiError::not_found("user", &caller.user))?;
    serde_json::from_str(&text).map_err(|e| ApiError::internal(format!("stored {which:?}: {e}")))
}

fn write_doc<T: serde::Serialize>(
    ctx: &Ctx,
    caller: &Caller,
    which: db::Doc,
    value: &T,
) -> Result<(), ApiError> {
    let text = serde_json::to_string(value).map_err(|e| ApiError::internal(e.to_string()))?;
    if ctx
        .store()
        .write(|tx| db::set_doc(tx, &caller.user, which, &text))?
    {
        Ok(())
    } else {
        Err(ApiError::not_found("user", &caller.user))
    }
}

impl Handle<AuthProfileGet> for Ctx {
    async fn handle(&self, caller: &Caller, _: Empty) -> Result<Profile, ApiError> {
        self.blocking(|ctx| read_doc(ctx, caller, db::Doc::Profile))
    }
}

/// A profile field as given: `""` clears it; `check` says what is wrong.
fn profile_field(
    field: &str,
    given: Option<String>,
    current: Option<String>,
    check: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ApiError> {
    match given {
        None => Ok(current),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => match check(&v) {
            Some(why) => Err(ApiError::bad_field(field, why)),
            None => Ok(Some(v)),
        },
    }
}

impl Handle<AuthProfileUpdate> for Ctx {
    async fn handle(&self, caller: &Caller, p: ProfileUpdate) -> Result<Profile, ApiError> {
        self.blocking(|ctx| {
            let current: Profile = read_doc(ctx, caller, db::Doc::Profile)?;
            let profile = Profile {
                display_name: profile_field(
                    "display_name",
                    p.display_name.clone(),
                    current.display_name,
                    |v| {
                        (v.chars().count() > 64 || v.chars().any(char::is_control)).then(|| {
                            "must be at most 64 characters, without control characters".into()
                        })
                    },
                )?,
                email: profile_field("email", p.email.clone(), current.email, |v| {
                    let ok = v.len() <= 254
                        && v.split_once('@')
                            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'))
                        && !v.chars().any(|c| c.is_whitespace() || c.is_control());
                    (!ok).then(|| format!("`{v}` is not an e-mail address"))
                })?,
                timezone: profile_field("timezone", p.timezone.clone(), current.timezone, |v| {
                    v.parse::<chrono_tz::Tz>()
                        .err()
                        .map(|_| format!("`{v}` is not an IANA time zone such as Europe/Berlin"))
                })?,
            };
            write_doc(ctx, caller, db::Doc::Profile, &profile)?;
            Ok(profile)
        })
    }
}

impl Handle<AuthPreferencesGet> for Ctx {
    async fn handle(&self, caller: &Caller, _: Empty) -> Result<Preferences, ApiError> {
        self.blocking(|ctx| {
            let preferences = read_doc(ctx, caller, db::Doc::Preferences)?;
            Ok(Preferences { preferences })
        })
    }
}

impl Handle<AuthPreferencesSet> for Ctx {
    async fn handle(&self, caller: &Caller, p: Preferences) -> Result<Preferences, ApiError> {
        let size = serde_json::to_string(&p.preferences).map_or(usize::MAX, |s| s.len());
        if size > MAX_PREFERENCES_BYTES {
            return Err(ApiError::bad_field(
                "preferences",
                format!("is {size} bytes; at most {MAX_PREFERENCES_BYTES}"),
            ));
        }
        self.blocking(|ctx| {
            write_doc(ctx, caller, db::Doc::Preferences, &p.preferences)?;
            Ok(p)
        })
    }
}
