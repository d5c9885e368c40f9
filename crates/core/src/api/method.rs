//! The shape of a method and of a stream topic, and who is calling.

use std::future::Future;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::ApiError;

/// The HTTP verb a method is routed under by the REST transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    pub const fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }
}

/// What a caller must be allowed to do to call a method. Ordered: `Admin`
/// may do everything `Trade` may, which may do everything `Read` may, which
/// may do everything `Public` may. `Public` methods (logging in) need no
/// credentials at all.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Public,
    Read,
    Trade,
    Admin,
}

impl Scope {
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Public => "public",
            Scope::Read => "read",
            Scope::Trade => "trade",
            Scope::Admin => "admin",
        }
    }
}

/// The transport a call arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Unix,
    Http,
    /// The daemon calling itself (schedules, bots).
    Internal,
}

/// Who is calling. Handlers receive it on every call so that ownership and
/// roles need no redesign when HTTP users arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user name rows are owned by (`admin` for the local socket).
    pub user: String,
    /// The widest scope this caller holds.
    pub scope: Scope,
    pub transport: Transport,
    /// The connection the call came in on, for stream subscriptions; `None`
    /// on transports without a session (plain HTTP requests).
    pub connection: Option<u64>,
    /// The network address of the client, on network transports (login
    /// throttling counts failures per address).
    pub peer: Option<std::net::IpAddr>,
}

impl Caller {
    /// The local administrator: any peer the Unix socket accepted.
    pub fn local_admin(connection: u64) -> Self {
        Caller {
            user: "admin".to_owned(),
            scope: Scope::Admin,
            transport: Transport::Unix,
            connection: Some(connection),
            peer: None,
        }
    }

    /// A request over HTTP that presented no credentials: it may call
    /// `Public` methods only.
    pub fn anonymous_http(peer: Option<std::net::IpAddr>) -> Self {
        Caller {
            user: String::new(),
            scope: Scope::Public,
            transport: Transport::Http,
            connection: None,
            peer,
        }
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.scope >= scope
    }

    /// Whether this caller may see and act on what `owner` owns: their own
    /// objects, or anyone's with the admin scope. (An admin's personal
    /// access token with a narrower scope sees only its user's objects.)
    pub fn sees(&self, owner: &str) -> bool {
        self.scope == Scope::Admin || self.user == owner
    }

    /// The owner lists are narrowed to: `None` (everyone's) for an admin.
    pub fn owner_filter(&self) -> Option<&str> {
        (self.scope != Scope::Admin).then_some(self.user.as_str())
    }
}

/// One operation of the catalogue.
pub trait Method: 'static {
    /// The JSON-RPC method name, `group.action`.
    const NAME: &'static str;
    /// The REST route; `{name}` segments are taken from params fields.
    const HTTP: (Verb, &'static str);
    const SCOPE: Scope;
    /// One line for `tradectl rpc list` and the OpenAPI summary.
    const SUMMARY: &'static str;
    type Params: Serialize + DeserializeOwned + JsonSchema + Send + 'static;
    type Result: Serialize + DeserializeOwned + JsonSchema + Send + 'static;
}

/// One stream of events.
pub trait Topic: 'static {
    const NAME: &'static str;
    const SUMMARY: &'static str;
    /// Who receives its events: [`Everyone`] or the [`Owners`] of what an
    /// event is about.
    type Audience: Audience;
    type Event: Serialize + DeserializeOwned + JsonSchema + Clone + Send + Sync + 'static;
}

/// Who receives a topic's events (a type, so that publishing an owned
/// event without naming its owner does not compile).
pub trait Audience: 'static {
    const OWNED: bool;
}

/// Every subscriber: market data, the daemon's health.
#[derive(Debug, Clone, Copy)]
pub enum Everyone {}

/// The user who owns what an event is about (an account, a bot, a job),
/// and administrators.
#[derive(Debug, Clone, Copy)]
pub enum Owners {}

impl Audience for Everyone {
    const OWNED: bool = false;
}

impl Audience for Owners {
    const OWNED: bool = true;
}

/// The handler of method `M`, implemented by the daemon's context once per
/// method. Handlers know nothing of the transport.
pub trait Handle<M: Method> {
    fn handle(
        &self,
        caller: &Caller,
        params: M::Params,
    ) -> impl Future<Output = Result<M::Result, ApiError>> + Send;
}

/// The params (or result) of a method that takes none. Accepts `{}`, `null`
/// or no params at all, and nothing else.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// The answer of every `*.delete`: which id, and whether it existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Deleted {
    pub id: u64,
    pub deleted: bool,
}

/// Declares a method type. Used only inside the catalogue modules.
macro_rules! method {
    (
        $(#[doc = $doc:literal])*
        $ty:ident = $name:literal, $verb:ident $path:literal, $scope:ident,
        $params:ty => $result:ty
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy)]
        pub enum $ty {}

        impl $crate::api::Method for $ty {
            const NAME: &'static str = $name;
            const HTTP: ($crate::api::Verb, &'static str) = ($crate::api::Verb::$verb, $path);
            const SCOPE: $crate::api::Scope = $crate::api::Scope::$scope;
            const SUMMARY: &'static str = concat!($($doc),*).trim_ascii();
            type Params = $params;
            type Result = $result;
        }
    };
}
pub(crate) use method;

/// Declares a stream topic. Used only inside the catalogue modules.
macro_rules! topic {
    ($(#[doc = $doc:literal])* $ty:ident = $name:literal, $event:ty) => {
        $crate::api::method::topic!($(#[doc = $doc])* $ty = $name, $event, Everyone);
    };
    ($(#[doc = $doc:literal])* $ty:ident = $name:literal, $event:ty, owned) => {
        $crate::api::method::topic!($(#[doc = $doc])* $ty = $name, $event, Owners);
    };
    ($(#[doc = $doc:literal])* $ty:ident = $name:literal, $event:ty, $audience:ident) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy)]
        pub enum $ty {}

        impl $crate::api::Topic for $ty {
            const NAME: &'static str = $name;
            const SUMMARY: &'static str = concat!($($doc),*).trim_ascii();
            type Audience = $crate::api::method::$audience;
            type Event = $event;
        }
    };
}
pub(crate) use topic;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_ordered() {
        let reader = Caller {
            scope: Scope::Read,
            ..Caller::local_admin(1)
        };
        assert!(reader.allows(Scope::Read));
        assert!(!reader.allows(Scope::Trade));
        assert!(!reader.allows(Scope::Admin));
        assert!(Caller::local_admin(1).allows(Scope::Admin));
    }

    #[test]
    fn empty_params_accept_only_nothing() {
        assert!(serde_json::from_str::<Empty>("{}").is_ok());
        assert!(serde_json::from_str::<Empty>(r#"{"x":1}"#).is_err());
    }
}
