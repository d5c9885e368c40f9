//! User strategies: code by content hash, versions by name.

use rusqlite::{Connection, OptionalExtension, params};
use tradedesk_core::time::Timestamp;

use super::StoreError;

/// One upload of a user strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub id: u64,
    pub name: String,
    pub hash: String,
    pub tier: String,
    pub owner: String,
    pub uploaded: Timestamp,
}

/// Stores an upload: the code once per hash, a version row always.
/// True when the code was not stored before.
pub fn insert_version(
    conn: &Connection,
    name: &str,
    tier: &str,
    hash: &str,
    code: &[u8],
    owner: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let new_code = conn
        .prepare_cached(
            "INSERT INTO strategy_code (hash, tier, code) VALUES (?1, ?2, ?3)
             ON CONFLICT (hash) DO NOTHING",
        )?
        .execute(params![hash, tier, code])?
        == 1;
    conn.prepare_cached(
        "INSERT INTO strategy_versions (name, hash, owner, uploaded_ms) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![name, hash, owner, now.millis()])?;
    Ok(new_code)
}

/// Every version with its code, oldest first (the order they are loaded
/// in, so that a name's newest is loaded last).
pub fn all_versions(conn: &Connection) -> Result<Vec<(Version, Vec<u8>)>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT v.id, v.name, v.hash, c.tier, v.owner, v.uploaded_ms, c.code
         FROM strategy_versions v JOIN strategy_code c ON c.hash = v.hash ORDER BY v.id",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            Version {
                id: r.get::<_, i64>(0)? as u64,
                name: r.get(1)?,
                hash: r.get(2)?,
                tier: r.get(3)?,
                owner: r.get(4)?,
                uploaded: Timestamp(r.get(5)?),
            },
            r.get(6)?,
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Who owns a name (its first uploader), if it is taken.
pub fn name_owner(conn: &Connection, name: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT owner FROM strategy_versions WHERE name = ?1 ORDER BY id LIMIT 1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}
