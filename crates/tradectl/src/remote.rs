//! `tradectl --remote URL`: the same commands against a daemon on another
//! machine, over its HTTP API, with the session `tradectl login` stored
//! (`core::client::session`), or a personal access token in
//! `TRADEDESK_TOKEN`.

use tradedesk_core::client::Client;
use tradedesk_core::client::remote::Target;
use tradedesk_core::client::session::{self, SessionError};

use crate::{Ctx, Failure};

/// Where the daemon is, from `--remote` and `--ca`.
#[derive(Debug, Clone)]
pub struct Remote {
    pub url: String,
    pub ca: Option<std::path::PathBuf>,
}

impl From<SessionError> for Failure {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Client(c) => Failure::from(c),
            e @ (SessionError::NotLoggedIn { .. } | SessionError::Ended { .. }) => {
                Failure::Usage(e.to_string())
            }
            e => Failure::Other(e.to_string()),
        }
    }
}

impl Remote {
    /// A client with a valid token.
    pub fn connect(&self) -> Result<Client, Failure> {
        let token = session::token(&self.url, self.ca.as_deref())?;
        Ok(Client::connect_remote(Target {
            url: self.url.clone(),
            token,
            ca: self.ca.clone(),
        })?)
    }
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
    let kept = session::login(&remote.url, remote.ca.as_deref(), &user, password)?;
    let out = serde_json::json!({ "url": remote.url, "user": user, "stored_in": kept });
    ctx.emit(&out, || {
        outln!(
            "logged in to {} as {user}; the session is kept in {kept}",
            remote.url
        );
    });
    Ok(())
}

/// `tradectl logout`: ends the session at the daemon and forgets it here.
pub fn logout(ctx: &Ctx, remote: &Remote) -> Result<(), Failure> {
    let revoked = session::logout(&remote.url, remote.ca.as_deref())?;
    let out = serde_json::json!({ "url": remote.url, "revoked": revoked });
    ctx.emit(&out, || outln!("logged out of {}", remote.url));
    Ok(())
}
