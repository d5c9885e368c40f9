//! Risk limits, trading states with their baselines, violations, alerts.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use super::StoreError;
use super::trading::{corrupt, dec};
use tradedesk_core::api::risk::{Alert, Severity, Violation};
use tradedesk_core::risk::{Limits, Scope, TradingState};
use tradedesk_core::time::Timestamp;

fn scope(s: &str) -> Result<Scope, StoreError> {
    s.parse().map_err(|_| corrupt("risk scope", s))
}

pub fn save_limits(
    conn: &Connection,
    scope: &Scope,
    limits: &Limits,
    now: Timestamp,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(limits).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    conn.prepare_cached(
        "INSERT INTO risk_limits (scope, limits, updated_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (scope) DO UPDATE SET limits = excluded.limits, updated_ms = excluded.updated_ms",
    )?
    .execute(params![scope.to_string(), json, now.millis()])?;
    Ok(())
}

pub fn load_limits(conn: &Connection) -> Result<BTreeMap<Scope, Limits>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT scope, limits FROM risk_limits")?;
    let mut rows = stmt.query([])?;
    let mut out = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let (s, l): (String, String) = (r.get(0)?, r.get(1)?);
        let limits: Limits = serde_json::from_str(&l).map_err(|_| corrupt("risk limits", &l))?;
        out.insert(scope(&s)?, limits);
    }
    Ok(out)
}

/// A stored trading state with its baselines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredState {
    pub state: TradingState,
    pub reason: Option<String>,
    pub since: Option<Timestamp>,
    pub day: Option<i64>,
    pub day_start_equity: Option<rust_decimal::Decimal>,
    pub peak_equity: Option<rust_decimal::Decimal>,
}

pub fn save_state(conn: &Connection, scope: &Scope, s: &StoredState) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO risk_states (scope, state, reason, since_ms, day, day_start_equity, peak_equity)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (scope) DO UPDATE SET state = excluded.state, reason = excluded.reason,
            since_ms = excluded.since_ms, day = excluded.day, day_start_equity = excluded.day_start_equity,
            peak_equity = excluded.peak_equity",
    )?
    .execute(params![
        scope.to_string(),
        s.state.as_str(),
        s.reason,
        s.since.map(Timestamp::millis),
        s.day,
        s.day_start_equity.map(|d| d.to_string()),
        s.peak_equity.map(|d| d.to_string()),
    ])?;
    Ok(())
}

pub fn load_states(conn: &Connection) -> Result<BTreeMap<Scope, StoredState>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT scope, state, reason, since_ms, day, day_start_equity, peak_equity FROM risk_states",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let s: String = r.get(0)?;
        let state: String = r.get(1)?;
        let opt_dec = |i: usize| -> Result<Option<rust_decimal::Decimal>, StoreError> {
            r.get::<_, Option<String>>(i)?
                .map(|v| dec("risk equity", &v))
                .transpose()
        };
        out.insert(
            scope(&s)?,
            StoredState {
                state: TradingState::parse(&state).ok_or_else(|| corrupt("risk state", &state))?,
                reason: r.get(2)?,
                since: r.get::<_, Option<i64>>(3)?.map(Timestamp),
                day: r.get(4)?,
                day_start_equity: opt_dec(5)?,
                peak_equity: opt_dec(6)?,
            },
        );
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
pub fn insert_violation(
    conn: &Connection,
    time: Timestamp,
    source: &str,
    scope: &Scope,
    limit: &str,
    limit_value: &str,
    value: &str,
    message: &str,
    order: Option<&serde_json::Value>,
) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO risk_violations (time_ms, source, scope, limit_name, limit_value, value, message, order_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        time.millis(),
        source,
        scope.to_string(),
        limit,
        limit_value,
        value,
        message,
        order.map(ToString::to_string)
    ])?;
    Ok(conn.last_insert_rowid() as u64)
}

pub fn list_violations(
    conn: &Connection,
    name: Option<&str>,
    since: Option<Timestamp>,
    before_id: Option<u64>,
    limit: u32,
) -> Result<Vec<Violation>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, time_ms, source, scope, limit_name, limit_value, value, message, order_json
         FROM risk_violations WHERE (?1 IS NULL OR limit_name = ?1) AND time_ms >= ?2 AND id < ?3
         ORDER BY id DESC LIMIT ?4",
    )?;
    let mut rows = stmt.query(params![
        name,
        since.map_or(i64::MIN, Timestamp::millis),
        before_id.map_or(i64::MAX, |v| v as i64),
        i64::from(limit)
    ])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let s: String = r.get(3)?;
        let order: Option<String> = r.get(8)?;
        out.push(Violation {
            id: r.get::<_, i64>(0)? as u64,
            time: Timestamp(r.get(1)?),
            source: r.get(2)?,
            scope: scope(&s)?,
            limit: r.get(4)?,
            limit_value: r.get(5)?,
            value: r.get(6)?,
            message: r.get(7)?,
            order: order
                .map(|o| serde_json::from_str(&o).map_err(|_| corrupt("violation order", &o)))
                .transpose()?,
        });
    }
    Ok(out)
}

pub fn insert_alert(
    conn: &Connection,
    time: Timestamp,
    severity: Severity,
    scope: &Scope,
    kind: &str,
    message: &str,
) -> Result<Alert, StoreError> {
    conn.prepare_cached(
        "INSERT INTO risk_alerts (time_ms, severity, scope, kind, message) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![time.millis(), severity.as_str(), scope.to_string(), kind, message])?;
    Ok(Alert {
        id: conn.last_insert_rowid() as u64,
        time,
        severity,
        scope: scope.clone(),
        kind: kind.to_owned(),
        message: message.to_owned(),
        acknowledged: None,
    })
}

fn alerts_where(
    conn: &Connection,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Alert>, StoreError> {
    let sql = format!(
        "SELECT id, time_ms, severity, scope, kind, message, acked_ms FROM risk_alerts {filter}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(args)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let (sev, s): (String, String) = (r.get(2)?, r.get(3)?);
        out.push(Alert {
            id: r.get::<_, i64>(0)? as u64,
            time: Timestamp(r.get(1)?),
            severity: Severity::parse(&sev).ok_or_else(|| corrupt("alert severity", &sev))?,
            scope: scope(&s)?,
            kind: r.get(4)?,
            message: r.get(5)?,
            acknowledged: r.get::<_, Option<i64>>(6)?.map(Timestamp),
        });
    }
    Ok(out)
}

pub fn list_alerts(
    conn: &Connection,
    unacknowledged: bool,
    before_id: Option<u64>,
    limit: u32,
) -> Result<Vec<Alert>, StoreError> {
    alerts_where(
        conn,
        "WHERE (?1 = 0 OR acked_ms IS NULL) AND id < ?2 ORDER BY id DESC LIMIT ?3",
        &[
            &i64::from(unacknowledged),
            &before_id.map_or(i64::MAX, |v| v as i64),
            &i64::from(limit),
        ],
    )
}

pub fn alert_by_id(conn: &Connection, id: u64) -> Result<Option<Alert>, StoreError> {
    Ok(alerts_where(conn, "WHERE id = ?1", &[&(id as i64)])?.pop())
}

/// Acknowledges an alert (once; a second ack keeps the first time).
pub fn ack_alert(conn: &Connection, id: u64, now: Timestamp) -> Result<Option<Alert>, StoreError> {
    conn.prepare_cached("UPDATE risk_alerts SET acked_ms = coalesce(acked_ms, ?2) WHERE id = ?1")?
        .execute(params![id as i64, now.millis()])?;
    Ok(alerts_where(conn, "WHERE id = ?1", &[&(id as i64)])?.pop())
}
