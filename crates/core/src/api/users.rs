//! `users.*`: the daemon's users, managed by an admin. The local socket's
//! caller is the administrator `admin`; that name is reserved for it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::auth::UserView;
use super::auth::{Role, Secret};
use super::method::method;
use super::paging::{Page, PageParams};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    /// 1–64 letters, digits, `-`, `_`, `.`; not `admin`.
    pub name: String,
    /// At least 12 characters.
    pub password: Secret,
    /// `trader` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserId {
    pub id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    pub id: u64,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    pub id: u64,
    /// At least 12 characters.
    pub password: Secret,
}

method! {
    /// The users, oldest first.
    UsersList = "users.list", Get "/api/v1/users", Admin, PageParams => Page<UserView>
}
method! {
    /// Creates a user (role `trader` unless given).
    UsersCreate = "users.create", Post "/api/v1/users", Admin, UserCreate => UserView
}
method! {
    /// Disables a user: its tokens stop working at once and it cannot log in.
    UsersDisable = "users.disable", Post "/api/v1/users/{id}/disable", Admin, UserId => UserView
}
method! {
    /// Enables a disabled user again.
    UsersEnable = "users.enable", Post "/api/v1/users/{id}/enable", Admin, UserId => UserView
}
method! {
    /// Changes a user's role; its sessions end so that the new role applies.
    UsersSetRole = "users.set_role", Put "/api/v1/users/{id}/role", Admin, RoleChange => UserView
}
method! {
    /// Sets a user's password; its sessions end.
    UsersResetPassword = "users.reset_password", Put "/api/v1/users/{id}/password", Admin, PasswordReset => UserView
}
