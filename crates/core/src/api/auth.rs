//! `auth.*`: logging in, refreshing and revoking tokens, who the caller is,
//! and changing one's own password. Over the Unix socket the caller is the
//! local administrator and needs none of this; the methods are there too so
//! that both transports offer the same catalogue.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::method::method;
use super::paging::{Page, PageParams};
use super::{Empty, Scope, Transport};
use crate::time::Timestamp;

/// A password or token: shown as `***` in logs and debug output.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What a user may do: a viewer reads, a trader also trades, an admin also
/// manages users and the daemon.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Role {
    Viewer,
    Trader,
    Admin,
}

impl Role {
    pub const fn scope(self) -> Scope {
        match self {
            Role::Viewer => Scope::Read,
            Role::Trader => Scope::Trade,
            Role::Admin => Scope::Admin,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Trader => "trader",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "trader" => Some(Role::Trader),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub user: String,
    pub password: Secret,
}

/// A short-lived access token to send as `Authorization: Bearer …`, and a
/// refresh token that buys the next pair once (each is single-use).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Tokens {
    pub access_token: Secret,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: Secret,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshParams {
    pub refresh_token: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LoggedOut {
    /// Whether a live session (a refresh-token family) was ended.
    pub revoked: bool,
}

/// Who the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Me {
    pub user: String,
    /// The widest scope the caller holds.
    pub scope: Scope,
    pub transport: Transport,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current: Secret,
    pub new: Secret,
}

method! {
    /// Exchanges a user's name and password for tokens. A wrong name and a
    /// wrong password get the same answer; repeated failures are throttled
    /// per user and per address.
    AuthLogin = "auth.login", Post "/api/v1/auth/login", Public, Credentials => Tokens
}
method! {
    /// Exchanges a refresh token for a new pair. A refresh token works once:
    /// using one again ends its whole session (all tokens refreshed from the
    /// same login).
    AuthRefresh = "auth.refresh", Post "/api/v1/auth/refresh", Public, RefreshParams => Tokens
}
method! {
    /// Ends the session a refresh token belongs to.
    AuthLogout = "auth.logout", Post "/api/v1/auth/logout", Public, RefreshParams => LoggedOut
}
method! {
    /// Makes a user of the caller, when the daemon's `[auth]
    /// open_registration` allows it (refused otherwise); the role is the
    /// configured `registration_role`. Log in afterwards.
    AuthRegister = "auth.register", Post "/api/v1/auth/register", Public, Credentials => UserView
}
method! {
    /// The caller's profile: a display name, an e-mail address, a time zone.
    AuthProfileGet = "auth.profile.get", Get "/api/v1/auth/profile", Read, Empty => Profile
}
method! {
    /// Changes fields of the caller's profile (`""` clears one).
    AuthProfileUpdate = "auth.profile.update", Patch "/api/v1/auth/profile", Read, ProfileUpdate => Profile
}
method! {
    /// The caller's preferences: a JSON object a frontend keeps for its user.
    AuthPreferencesGet = "auth.preferences.get", Get "/api/v1/auth/preferences", Read, Empty => Preferences
}
method! {
    /// Replaces the caller's preferences (a JSON object of at most 16 KiB).
    AuthPreferencesSet = "auth.preferences.set", Put "/api/v1/auth/preferences", Read, Preferences => Preferences
}

/// A user as listed (never its password).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UserView {
    pub id: u64,
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created: Timestamp,
}

/// A user's profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Profile {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// An IANA time zone (`Europe/Berlin`) for showing times.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// Fields to change; a field left out stays, `""` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// At most 64 characters.
    #[serde(default)]
    pub display_name: Option<String>,
    /// An address with an `@`, at most 254 characters.
    #[serde(default)]
    pub email: Option<String>,
    /// An IANA time zone name.
    #[serde(default)]
    pub timezone: Option<String>,
}

/// A frontend's settings for its user, as it sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    pub preferences: serde_json::Map<String, serde_json::Value>,
}

method! {
    /// Who the caller is, with which scope, over which transport.
    AuthMe = "auth.me", Get "/api/v1/auth/me", Read, Empty => Me
}
method! {
    /// Changes the caller's own password (the current one is asked again);
    /// every session of the user ends.
    AuthPassword = "auth.password", Put "/api/v1/auth/password", Read, PasswordChange => Empty
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenCreate {
    /// What the token is for (1–64 characters).
    pub name: String,
    /// No wider than the caller's; the caller's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// 1–365 days.
    pub expires_days: u32,
}

/// A personal access token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TokenView {
    pub id: u64,
    pub name: String,
    pub scope: Scope,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub revoked: bool,
}

/// A new token: shown once, stored only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NewToken {
    #[serde(flatten)]
    pub view: TokenView,
    /// Send as `Authorization: Bearer …`.
    pub token: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenId {
    pub id: u64,
}

method! {
    /// Makes a personal access token for scripts: a scope no wider than the
    /// caller's and an expiry. The token is shown once.
    AuthTokensCreate = "auth.tokens.create", Post "/api/v1/auth/tokens", Read, TokenCreate => NewToken
}
method! {
    /// The caller's personal access tokens, newest first.
    AuthTokensList = "auth.tokens.list", Get "/api/v1/auth/tokens", Read, PageParams => Page<TokenView>
}
method! {
    /// Revokes one of the caller's personal access tokens.
    AuthTokensRevoke = "auth.tokens.revoke", Delete "/api/v1/auth/tokens/{id}", Read, TokenId => TokenView
}
