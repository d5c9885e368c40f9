//! `tradectl --remote URL`: the same commands against a daemon on another
//! machine, over its HTTP API. `tradectl login URL` stores the session's
//! refresh token (and the current access token) in the system keyring or,
//! where there is none, an age-encrypted file (`core::secrets`); never in
//! plain text. Each run uses the stored access token while it has a minute
//! left, else refreshes it once (refresh tokens rotate; the new one is
//! stored). Scripts and cron can instead pass a personal access token in
//! `TRADEDESK_TOKEN`, which needs no stored session.

use serde::{Deserialize, Serialize};
use tradedesk_core::api::auth::{
    AuthLogin, AuthLogout, AuthRefresh, Credentials, RefreshParams, Secret, Tokens,
};
use tradedesk_core::client::Client;
use tradedesk_core::client::remote::Target;
use tradedesk_core::secrets::{self, SecretStore};

use crate::{Ctx, Failure};

/// A token (personal or access) that overrides the stored session.
pub const TOKEN_ENV: &str = "TRADEDESK_TOKEN";

/// Where the daemon is, from `--remote` and `--ca`.
#[derive(Debug, Clone)]
pub struct Remote {
    pub url: String,
    pub ca: Option<std::path::PathBuf>,
}

/// One stored session.
#[derive(Serialize, Deserialize)]
struct Session {
    user: String,
    refresh_token: String,
    access_token: String,
    /// Unix seconds.
    access_expires_at: i64,
}

fn key(url: &str) -> String {
    format!("session:{}", url.trim_end_matches('/'))
}

fn store() -> Result<Box<dyn SecretStore>, Failure> {
    secrets::open_default().map_err(|e| Failure::Other(format!("secret store: {e}")))
}

fn secret_err(e: &secrets::SecretError) -> Failure {
    Failure::Other(format!("secret store: {e}"))
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Remote {
    fn anonymous(&self) -> Result<Client, Failure> {
        self.with_token(String::new())
    }

    fn with_token(&self, token: String) -> Result<Client, Failure> {
        Ok(Client::connect_remote(Target {
            url: self.url.clone(),
            token,
            ca: self.ca.clone(),
        })?)
    }

    /// A client with a valid token: `TRADEDESK_TOKEN`, else the stored
    /// session's access token, refreshed when it is about to expire.
    pub fn connect(&self) -> Result<Client, Failure> {
        if let Ok(token) = std::env::var(TOKEN_ENV)
            && !token.is_empty()
        {
            return self.with_token(token);
        }
        let store = store()?;
        let k = key(&self.url);
        let stored = store.get(&k).map_err(|e| secret_err(&e))?.ok_or_else(|| {
            Failure::Usage(format!(
                "not logged in to {}: run `tradectl login {}` (or set {TOKEN_ENV})",
                self.url, self.url
            ))
        })?;
        let mut session: Session = serde_json::from_str(&stored)
            .map_err(|e| Failure::Other(format!("the stored session is unreadable: {e}")))?;
        if session.access_expires_at - now_s() < 60 {
            let tokens = self
                .anonymous()?
                .call::<AuthRefresh>(&RefreshParams {
                    refresh_token: Secret::new(session.refresh_token.clone()),
                })
                .map_err(|e| match e {
                    tradedesk_core::client::ClientError::Api(api)
                        if api.kind() == Some(tradedesk_core::api::ErrorCode::Unauthenticated) =>
                    {
                        Failure::Usage(format!(
                            "the session at {} has ended ({}): run `tradectl login {}`",
                            self.url, api.message, self.url
                        ))
                    }
                    e => Failure::from(e),
                })?;
            session = Session {
                user: session.user,
                ..session_of(&tokens)
            };
            store
                .set(&k, &stored_text(&session)?)
                .map_err(|e| secret_err(&e))?;
        }
        self.with_token(session.access_token)
    }
}

fn session_of(t: &Tokens) -> Session {
    Session {
        user: String::new(),
        refresh_token: t.refresh_token.expose().to_owned(),
        access_token: t.access_token.expose().to_owned(),
        access_expires_at: now_s().saturating_add(i64::try_from(t.expires_in).unwrap_or(0)),
    }
}

fn stored_text(s: &Session) -> Result<String, Failure> {
    serde_json::to_string(s).map_err(|e| Failure::Other(e.to_string()))
}

/// `tradectl login URL`: asks for the password (no echo), stores the session.
pub fn login(ctx: &Ctx, remote: &Remote, user: Option<String>) -> Result<(), Failure> {
    let user = match user {
        Some(u) => u,
        None => std::env::var("USER")
            .map_err(|_| Failure::Usage("give the user name with --user".into()))?,
    };
    let password =
        crate::users::read_password(&format!("password for {user} at {}: ", remote.url), false)?;
    let tokens = remote.anonymous()?.call::<AuthLogin>(&Credentials {
        user: user.clone(),
        password,
    })?;
    let store = store()?;
    let session = Session {
        user: user.clone(),
        ..session_of(&tokens)
    };
    store
        .set(&key(&remote.url), &stored_text(&session)?)
        .map_err(|e| secret_err(&e))?;
    let out = serde_json::json!({ "url": remote.url, "user": user, "stored_in": store.describe() });
    ctx.emit(&out, || {
        outln!(
            "logged in to {} as {user}; the session is kept in {}",
            remote.url,
            store.describe()
        );
    });
    Ok(())
}

/// `tradectl logout`: ends the session at the daemon and forgets it here.
pub fn logout(ctx: &Ctx, remote: &Remote) -> Result<(), Failure> {
    let store = store()?;
    let k = key(&remote.url);
    let Some(stored) = store.get(&k).map_err(|e| secret_err(&e))? else {
        return Err(Failure::Usage(format!("not logged in to {}", remote.url)));
    };
    let session: Option<Session> = serde_json::from_str(&stored).ok();
    // Forgotten here even when the daemon cannot be told.
    store.delete(&k).map_err(|e| secret_err(&e))?;
    let revoked = match session {
        Some(s) => remote
            .anonymous()?
            .call::<AuthLogout>(&RefreshParams {
                refresh_token: Secret::new(s.refresh_token),
            })
            .map(|r| r.revoked)?,
        None => false,
    };
    let out = serde_json::json!({ "url": remote.url, "revoked": revoked });
    ctx.emit(&out, || outln!("logged out of {}", remote.url));
    Ok(())
}
