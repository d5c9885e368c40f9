//! Users and their refresh tokens.

use rusqlite::{Connection, OptionalExtension, Row, params};
use tradedesk_core::api::auth::Role;
use tradedesk_core::api::users::UserView;
use tradedesk_core::time::Timestamp;

use super::StoreError;

/// A user row with what authentication needs.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub view: UserView,
    /// `None` for the local socket's `admin`, who cannot log in.
    pub password_hash: Option<String>,
    pub tokens_valid_from: Timestamp,
}

/// Roles are stored under the scope names of the first schema.
fn role_column(role: Role) -> &'static str {
    role.scope().as_str()
}

fn role_of(column: &str) -> Role {
    match column {
        "admin" => Role::Admin,
        "trade" => Role::Trader,
        _ => Role::Viewer,
    }
}

const COLUMNS: &str = "id, name, role, disabled, created_ms, password_hash, tokens_valid_from_ms";

fn from_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    let role: String = r.get(2)?;
    Ok(UserRow {
        view: UserView {
            id: r.get::<_, i64>(0)?.cast_unsigned(),
            name: r.get(1)?,
            role: role_of(&role),
            disabled: r.get::<_, i64>(3)? != 0,
            created: Timestamp(r.get(4)?),
        },
        password_hash: r.get(5)?,
        tokens_valid_from: Timestamp(r.get(6)?),
    })
}

pub fn insert(
    conn: &Connection,
    name: &str,
    password_hash: &str,
    role: Role,
    now: Timestamp,
) -> Result<UserRow, StoreError> {
    conn.prepare_cached(
        "INSERT INTO users (name, password_hash, role, created_ms, tokens_valid_from_ms)
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )?
    .execute(params![
        name,
        password_hash,
        role_column(role),
        now.millis()
    ])?;
    let id = conn.last_insert_rowid().cast_unsigned();
    by_id(conn, id)?.ok_or(StoreError::Corrupt(
        "a user vanished after its insert".into(),
    ))
}

pub fn by_id(conn: &Connection, id: u64) -> Result<Option<UserRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([id.cast_signed()], from_row)
        .optional()?)
}

pub fn by_name(conn: &Connection, name: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE name = ?1"))?
        .query_row([name], from_row)
        .optional()?)
}

/// Users with an id above `after`, oldest first.
pub fn list(conn: &Connection, after: u64, limit: u32) -> Result<Vec<UserView>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM users WHERE id > ?1 ORDER BY id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![after.cast_signed(), limit], from_row)?;
    Ok(rows.map(|r| r.map(|u| u.view)).collect::<Result<_, _>>()?)
}

pub fn count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
    Ok(n.cast_unsigned())
}

/// Sets what changes about a user and ends its sessions: access tokens
/// issued before `now` are refused, its refresh tokens revoked.
pub fn update(
    conn: &Connection,
    id: u64,
    role: Role,
    disabled: bool,
    password_hash: Option<&str>,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE users SET role = ?2, disabled = ?3, password_hash = ?4, tokens_valid_from_ms = ?5
         WHERE id = ?1",
    )?
    .execute(params![
        id.cast_signed(),
        role_column(role),
        i64::from(disabled),
        password_hash,
        now.millis()
    ])?;
    conn.prepare_cached("UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ?1")?
        .execute([id.cast_signed()])?;
    Ok(())
}

/// A stored refresh token.
#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub user_id: u64,
    pub family: String,
    pub expires: Timestamp,
    pub used: bool,
    pub revoked: bool,
}

pub fn insert_refresh(
    conn: &Connection,
    hash: &str,
    user_id: u64,
    family: &str,
    now: Timestamp,
    expires: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO refresh_tokens (hash, user_id, family, issued_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        hash,
        user_id.cast_signed(),
        family,
        now.millis(),
        expires.millis()
    ])?;
    Ok(())
}

pub fn refresh_by_hash(conn: &Connection, hash: &str) -> Result<Option<RefreshRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT user_id, family, expires_ms, used, revoked FROM refresh_tokens WHERE hash = ?1",
        )?
        .query_row([hash], |r| {
            Ok(RefreshRow {
                user_id: r.get::<_, i64>(0)?.cast_unsigned(),
                family: r.get(1)?,
                expires: Timestamp(r.get(2)?),
                used: r.get::<_, i64>(3)? != 0,
                revoked: r.get::<_, i64>(4)? != 0,
            })
        })
        .optional()?)
}

pub fn mark_used(conn: &Connection, hash: &str) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE refresh_tokens SET used = 1 WHERE hash = ?1")?
        .execute([hash])?;
    Ok(())
}

/// Revokes every token of a family; how many were still live.
pub fn revoke_family(conn: &Connection, family: &str) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("UPDATE refresh_tokens SET revoked = 1 WHERE family = ?1 AND revoked = 0")?
        .execute([family])?)
}

/// A personal access token's row.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub view: tradedesk_core::api::auth::TokenView,
    pub user_id: u64,
}

fn scope_of(column: &str) -> tradedesk_core::api::Scope {
    role_of(column).scope()
}

fn token_from_row(r: &Row<'_>) -> rusqlite::Result<TokenRow> {
    let scope: String = r.get(3)?;
    Ok(TokenRow {
        view: tradedesk_core::api::auth::TokenView {
            id: r.get::<_, i64>(0)?.cast_unsigned(),
            name: r.get(2)?,
            scope: scope_of(&scope),
            created: Timestamp(r.get(4)?),
            expires: Timestamp(r.get(5)?),
            revoked: r.get::<_, i64>(6)? != 0,
        },
        user_id: r.get::<_, i64>(1)?.cast_unsigned(),
    })
}

const TOKEN_COLUMNS: &str = "id, user_id, name, scope, created_ms, expires_ms, revoked";

pub fn insert_token(
    conn: &Connection,
    user_id: u64,
    name: &str,
    hash: &str,
    scope: tradedesk_core::api::Scope,
    now: Timestamp,
    expires: Timestamp,
) -> Result<TokenRow, StoreError> {
    conn.prepare_cached(
        "INSERT INTO access_tokens (user_id, name, hash, scope, created_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        user_id.cast_signed(),
        name,
        hash,
        scope.as_str(),
        now.millis(),
        expires.millis()
    ])?;
    let id = conn.last_insert_rowid().cast_unsigned();
    token_by_id(conn, id)?.ok_or(StoreError::Corrupt(
        "a token vanished after its insert".into(),
    ))
}

pub fn token_by_id(conn: &Connection, id: u64) -> Result<Option<TokenRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM access_tokens WHERE id = ?1"
        ))?
        .query_row([id.cast_signed()], token_from_row)
        .optional()?)
}

pub fn token_by_hash(conn: &Connection, hash: &str) -> Result<Option<TokenRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM access_tokens WHERE hash = ?1"
        ))?
        .query_row([hash], token_from_row)
        .optional()?)
}

/// A user's tokens with an id below `before`, newest first.
pub fn tokens_of(
    conn: &Connection,
    user_id: u64,
    before: u64,
    limit: u32,
) -> Result<Vec<tradedesk_core::api::auth::TokenView>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM access_tokens WHERE user_id = ?1 AND id < ?2
         ORDER BY id DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(
        params![
            user_id.cast_signed(),
            before.min(i64::MAX as u64).cast_signed(),
            limit
        ],
        token_from_row,
    )?;
    Ok(rows.map(|r| r.map(|t| t.view)).collect::<Result<_, _>>()?)
}

pub fn revoke_token(conn: &Connection, id: u64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE access_tokens SET revoked = 1 WHERE id = ?1")?
        .execute([id.cast_signed()])?;
    Ok(())
}

/// A user's profile or preferences, as stored (a JSON object).
#[derive(Debug, Clone, Copy)]
pub enum Doc {
    Profile,
    Preferences,
}

impl Doc {
    fn column(self) -> &'static str {
        match self {
            Doc::Profile => "profile",
            Doc::Preferences => "preferences",
        }
    }
}

pub fn doc(conn: &Connection, name: &str, which: Doc) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {} FROM users WHERE name = ?1",
            which.column()
        ))?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

pub fn set_doc(conn: &Connection, name: &str, which: Doc, json: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "UPDATE users SET {} = ?2 WHERE name = ?1",
            which.column()
        ))?
        .execute(params![name, json])?
        > 0)
}
