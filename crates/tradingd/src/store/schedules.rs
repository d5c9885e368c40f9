//! Cron schedules, and firing a due slot exactly once.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use super::jobs::{NewJob, enqueue};
use super::trading::corrupt;
use tradedesk_core::job::{JobRecord, Missed, Schedule};
use tradedesk_core::time::Timestamp;

const COLUMNS: &str = "id, name, owner, cron, tz, kind, payload, priority, missed, paused, next_run_ms, \
     last_run_ms, created_ms, updated_ms";

fn from_row(r: &Row<'_>) -> Result<Schedule, StoreError> {
    let payload: String = r.get(6)?;
    let missed: String = r.get(8)?;
    Ok(Schedule {
        id: r.get::<_, i64>(0)? as u64,
        name: r.get(1)?,
        owner: r.get(2)?,
        cron: r.get(3)?,
        tz: r.get(4)?,
        kind: r.get(5)?,
        payload: serde_json::from_str(&payload)
            .map_err(|_| corrupt("schedule payload", &payload))?,
        priority: r.get(7)?,
        missed: Missed::parse(&missed).ok_or_else(|| corrupt("schedule missed", &missed))?,
        paused: r.get::<_, i64>(9)? != 0,
        next_run: r.get::<_, Option<i64>>(10)?.map(Timestamp),
        last_run: r.get::<_, Option<i64>>(11)?.map(Timestamp),
        created: Timestamp(r.get(12)?),
        updated: Timestamp(r.get(13)?),
    })
}

fn many(
    conn: &Connection,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Schedule>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM schedules {filter}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(args)?;
    super::collect(&mut rows, from_row)
}

pub fn get(conn: &Connection, id: u64) -> Result<Option<Schedule>, StoreError> {
    Ok(many(conn, "WHERE id = ?1", &[&(id as i64)])?.pop())
}

pub fn by_name(conn: &Connection, owner: &str, name: &str) -> Result<Option<Schedule>, StoreError> {
    Ok(many(conn, "WHERE owner = ?1 AND name = ?2", &[&owner, &name])?.pop())
}

pub fn list(
    conn: &Connection,
    owner: Option<&str>,
    before_id: Option<u64>,
    limit: u32,
) -> Result<Vec<Schedule>, StoreError> {
    many(
        conn,
        "WHERE (?1 IS NULL OR owner = ?1) AND id < ?2 ORDER BY id DESC LIMIT ?3",
        &[
            &owner,
            &before_id.map_or(i64::MAX, |v| v as i64),
            &i64::from(limit),
        ],
    )
}

/// Schedules due at `now`, not paused.
pub fn due(conn: &Connection, now: Timestamp) -> Result<Vec<Schedule>, StoreError> {
    many(
        conn,
        "WHERE paused = 0 AND next_run_ms <= ?1 ORDER BY next_run_ms",
        &[&now.millis()],
    )
}

/// The earliest next slot of any running schedule.
pub fn next_run(conn: &Connection) -> Result<Option<Timestamp>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT next_run_ms FROM schedules INDEXED BY schedules_due WHERE paused = 0
              AND next_run_ms IS NOT NULL ORDER BY next_run_ms LIMIT 1",
        )?
        .query_row([], |r| r.get(0))
        .optional()?
        .map(Timestamp))
}

/// Inserts or rewrites a schedule (id 0 inserts); returns its id.
pub fn save(conn: &Connection, s: &Schedule) -> Result<u64, StoreError> {
    let payload = s.payload.to_string();
    if s.id == 0 {
        conn.prepare_cached(
            "INSERT INTO schedules (name, owner, cron, tz, kind, payload, priority, missed, paused, next_run_ms,
                last_run_ms, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            s.name, s.owner, s.cron, s.tz, s.kind, payload, s.priority, s.missed.as_str(),
            i64::from(s.paused), s.next_run.map(Timestamp::millis), s.last_run.map(Timestamp::millis),
            s.created.millis(), s.updated.millis()
        ])?;
        return Ok(conn.last_insert_rowid() as u64);
    }
    conn.prepare_cached(
        "UPDATE schedules SET name = ?2, cron = ?3, tz = ?4, kind = ?5, payload = ?6, priority = ?7, missed = ?8,
            paused = ?9, next_run_ms = ?10, last_run_ms = ?11, updated_ms = ?12 WHERE id = ?1",
    )?
    .execute(params![
        s.id as i64, s.name, s.cron, s.tz, s.kind, payload, s.priority, s.missed.as_str(),
        i64::from(s.paused), s.next_run.map(Timestamp::millis), s.last_run.map(Timestamp::millis),
        s.updated.millis()
    ])?;
    Ok(s.id)
}

pub fn delete(conn: &Connection, id: u64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM schedules WHERE id = ?1")?
        .execute([id as i64])?
        > 0)
}

/// Fires one slot of a schedule: enqueues its job under the slot's
/// idempotency key (a slot already fired returns the job it made) and
/// moves the schedule to `next`. Call inside one transaction.
pub fn fire(
    conn: &Connection,
    s: &Schedule,
    slot: Timestamp,
    next: Option<Timestamp>,
    max_attempts: u32,
    now: Timestamp,
) -> Result<(JobRecord, bool), StoreError> {
    let key = format!("schedule:{}:{}", s.id, slot.millis());
    let made = enqueue(
        conn,
        &NewJob {
            kind: &s.kind,
            payload: &s.payload,
            priority: s.priority,
            max_attempts,
            run_at: now,
            idempotency_key: Some(&key),
            owner: &s.owner,
        },
        now,
    )?;
    advance(conn, s.id, next, Some(slot), now)?;
    Ok(made)
}

/// Moves a schedule's next slot (and its last run, when it fired).
pub fn advance(
    conn: &Connection,
    id: u64,
    next: Option<Timestamp>,
    last: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE schedules SET next_run_ms = ?2, last_run_ms = coalesce(?3, last_run_ms), updated_ms = ?4 WHERE id = ?1",
    )?
    .execute(params![id as i64, next.map(Timestamp::millis), last.map(Timestamp::millis), now.millis()])?;
    Ok(())
}
