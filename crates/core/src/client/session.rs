//! A user's sessions with remote daemons, shared by `tradectl` and the
//! dashboard: `login` stores the session (refresh token and the current
//! access token) in the secret store (`crate::secrets`: the keyring, or an
//! age-encrypted file; never plain text); `token` gives a valid access
//! token, refreshing it when it has less than a minute left (refresh tokens
//! rotate: the new one is stored). `TRADEDESK_TOKEN` (a personal access
//! token) overrides the stored session, for scripts and cron.

use serde::{Deserialize, Serialize};

use super::remote::Target;
use super::{Client, ClientError};
use crate::api::ErrorCode;
use crate::api::auth::{
    AuthLogin, AuthLogout, AuthRefresh, Credentials, RefreshParams, Secret, Tokens,
};
use crate::secrets::{self, SecretError, SecretStore};

/// A token (personal or access) that overrides the stored session.
pub const TOKEN_ENV: &str = "TRADEDESK_TOKEN";

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("not logged in to {url}: run `tradectl login {url}` (or set {TOKEN_ENV})")]
    NotLoggedIn { url: String },
    #[error("the session at {url} has ended ({why}): run `tradectl login {url}`")]
    Ended { url: String, why: String },
    #[error("secret store: {0}")]
    Secrets(#[from] SecretError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the stored session for {url} is unreadable: {why}")]
    Corrupt { url: String, why: String },
}

/// One stored session.
#[derive(Serialize, Deserialize)]
struct Stored {
    user: String,
    refresh_token: String,
    access_token: String,
    /// Unix seconds.
    access_expires_at: i64,
}

fn key(url: &str) -> String {
    format!("session:{}", url.trim_end_matches('/'))
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

fn anonymous(url: &str, ca: Option<&std::path::Path>) -> Result<Client, ClientError> {
    Client::connect_remote(Target {
        url: url.to_owned(),
        token: String::new(),
        ca: ca.map(std::path::Path::to_path_buf),
    })
}

fn stored(user: String, t: &Tokens) -> Stored {
    Stored {
        user,
        refresh_token: t.refresh_token.expose().to_owned(),
        access_token: t.access_token.expose().to_owned(),
        access_expires_at: now_s().saturating_add(i64::try_from(t.expires_in).unwrap_or(0)),
    }
}

fn save(store: &dyn SecretStore, url: &str, s: &Stored) -> Result<(), SessionError> {
    let text = serde_json::to_string(s).map_err(|e| SessionError::Corrupt {
        url: url.to_owned(),
        why: e.to_string(),
    })?;
    Ok(store.set(&key(url), &text)?)
}

/// A valid token for `url`: `TRADEDESK_TOKEN`, else the stored session's
/// access token, refreshed when it is about to expire.
pub fn token(url: &str, ca: Option<&std::path::Path>) -> Result<String, SessionError> {
    if let Ok(t) = std::env::var(TOKEN_ENV)
        && !t.is_empty()
    {
        return Ok(t);
    }
    let store = secrets::open_default()?;
    let text = store
        .get(&key(url))?
        .ok_or_else(|| SessionError::NotLoggedIn {
            url: url.to_owned(),
        })?;
    let session: Stored = serde_json::from_str(&text).map_err(|e| SessionError::Corrupt {
        url: url.to_owned(),
        why: e.to_string(),
    })?;
    if session.access_expires_at - now_s() >= 60 {
        return Ok(session.access_token);
    }
    let tokens = anonymous(url, ca)?
        .call::<AuthRefresh>(&RefreshParams {
            refresh_token: Secret::new(session.refresh_token),
        })
        .map_err(|e| match e {
            ClientError::Api(api) if api.kind() == Some(ErrorCode::Unauthenticated) => {
                SessionError::Ended {
                    url: url.to_owned(),
                    why: api.message,
                }
            }
            e => SessionError::Client(e),
        })?;
    let next = stored(session.user, &tokens);
    save(store.as_ref(), url, &next)?;
    Ok(next.access_token)
}

/// Logs in and stores the session; answers where it is kept.
pub fn login(
    url: &str,
    ca: Option<&std::path::Path>,
    user: &str,
    password: Secret,
) -> Result<String, SessionError> {
    let tokens = anonymous(url, ca)?.call::<AuthLogin>(&Credentials {
        user: user.to_owned(),
        password,
    })?;
    let store = secrets::open_default()?;
    save(store.as_ref(), url, &stored(user.to_owned(), &tokens))?;
    Ok(store.describe())
}

/// Ends the session at the daemon (when it can be told) and forgets it
/// here; answers whether the daemon ended a live session.
pub fn logout(url: &str, ca: Option<&std::path::Path>) -> Result<bool, SessionError> {
    let store = secrets::open_default()?;
    let k = key(url);
    let text = store.get(&k)?.ok_or_else(|| SessionError::NotLoggedIn {
        url: url.to_owned(),
    })?;
    // Forgotten here even if the daemon cannot be told.
    store.delete(&k)?;
    let Ok(session) = serde_json::from_str::<Stored>(&text) else {
        return Ok(false);
    };
    let out = anonymous(url, ca)?.call::<AuthLogout>(&RefreshParams {
        refresh_token: Secret::new(session.refresh_token),
    })?;
    Ok(out.revoked)
}
