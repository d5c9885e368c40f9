//! The job queue's rows: enqueue (idempotent), claim with a lease, renew,
//! finish, retry, recover expired leases, list.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use super::trading::corrupt;
use tradedesk_core::job::{JobRecord, JobState};
use tradedesk_core::time::Timestamp;

const COLUMNS: &str = "id, kind, payload, priority, state, attempts, max_attempts, run_at_ms, progress, \
     message, result, error, idempotency_key, owner, created_ms, started_ms, finished_ms";

fn json(what: &str, s: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(s).map_err(|_| corrupt(what, s))
}

fn from_row(r: &Row<'_>) -> Result<JobRecord, StoreError> {
    let state: String = r.get(4)?;
    let payload: String = r.get(2)?;
    let result: Option<String> = r.get(10)?;
    Ok(JobRecord {
        id: r.get::<_, i64>(0)? as u64,
        kind: r.get(1)?,
        payload: json("job payload", &payload)?,
        priority: r.get(3)?,
        state: JobState::parse(&state).ok_or_else(|| corrupt("job state", &state))?,
        attempts: r.get(5)?,
        max_attempts: r.get(6)?,
        run_at: Timestamp(r.get(7)?),
        progress: r.get(8)?,
        message: r.get(9)?,
        result: result.map(|s| json("job result", &s)).transpose()?,
        error: r.get(11)?,
        idempotency_key: r.get(12)?,
        owner: r.get(13)?,
        created: Timestamp(r.get(14)?),
        started: r.get::<_, Option<i64>>(15)?.map(Timestamp),
        finished: r.get::<_, Option<i64>>(16)?.map(Timestamp),
    })
}

/// The job a filter on a unique column finds.
fn one(
    conn: &Connection,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Option<JobRecord>, StoreError> {
    Ok(list_where(conn, filter, args)?.pop())
}

pub fn get(conn: &Connection, id: u64) -> Result<Option<JobRecord>, StoreError> {
    one(conn, "WHERE id = ?1", &[&(id as i64)])
}

/// A new job to enqueue.
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub payload: &'a serde_json::Value,
    pub priority: i32,
    pub max_attempts: u32,
    pub run_at: Timestamp,
    pub idempotency_key: Option<&'a str>,
    pub owner: &'a str,
}

/// Enqueues a job; with an idempotency key that exists, returns the
/// existing job instead (and `false`).
pub fn enqueue(
    conn: &Connection,
    j: &NewJob<'_>,
    now: Timestamp,
) -> Result<(JobRecord, bool), StoreError> {
    if let Some(key) = j.idempotency_key
        && let Some(existing) = one(conn, "WHERE idempotency_key = ?1", &[&key])?
    {
        return Ok((existing, false));
    }
    conn.prepare_cached(
        "INSERT INTO jobs (kind, payload, priority, state, max_attempts, run_at_ms, idempotency_key, owner, created_ms)
         VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        j.kind,
        j.payload.to_string(),
        j.priority,
        j.max_attempts,
        j.run_at.millis(),
        j.idempotency_key,
        j.owner,
        now.millis()
    ])?;
    let id = conn.last_insert_rowid() as u64;
    let job = get(conn, id)?.ok_or_else(|| StoreError::Corrupt("job vanished".into()))?;
    Ok((job, true))
}

/// Takes the next due job of the `ready` kinds (highest priority, then
/// earliest due, then oldest): running, one more attempt, leased until
/// `lease_until`. Every read is an index seek, so a claim costs the same
/// with ten queued jobs or a million.
pub fn claim(
    conn: &Connection,
    ready: &[&str],
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Option<JobRecord>, StoreError> {
    let mut best: Option<(i64, i64, i64)> = None; // (priority, run_at, id)
    for kind in ready {
        if let Some(found) = best_due(conn, kind, now)?
            && best.is_none_or(|b| {
                (std::cmp::Reverse(found.0), found.1, found.2) < (std::cmp::Reverse(b.0), b.1, b.2)
            })
        {
            best = Some(found);
        }
    }
    let Some((_, _, id)) = best else {
        return Ok(None);
    };
    conn.prepare_cached(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until_ms = ?2,
            started_ms = ?3, progress = 0, message = NULL WHERE id = ?1 AND state = 'queued'",
    )?
    .execute(params![id, lease_until.millis(), now.millis()])?;
    get(conn, id as u64)
}

/// The best due job of one kind: walks the kind's priority levels from
/// the top, one seek per level, until a level has a due job.
fn best_due(
    conn: &Connection,
    kind: &str,
    now: Timestamp,
) -> Result<Option<(i64, i64, i64)>, StoreError> {
    let mut level = conn.prepare_cached(
        "SELECT priority FROM jobs INDEXED BY jobs_ready
          WHERE state = 'queued' AND kind = ?1 AND priority < ?2 ORDER BY priority DESC LIMIT 1",
    )?;
    let mut due = conn.prepare_cached(
        "SELECT run_at_ms, id FROM jobs INDEXED BY jobs_ready
          WHERE state = 'queued' AND kind = ?1 AND priority = ?2 AND run_at_ms <= ?3
          ORDER BY run_at_ms, id LIMIT 1",
    )?;
    let mut below = i64::MAX;
    while let Some(priority) = level
        .query_row(params![kind, below], |r| r.get::<_, i64>(0))
        .optional()?
    {
        if let Some((run_at, id)) = due
            .query_row(params![kind, priority, now.millis()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?
        {
            return Ok(Some((priority, run_at, id)));
        }
        below = priority;
    }
    Ok(None)
}

/// Renews a running job's lease and records its progress.
pub fn heartbeat(
    conn: &Connection,
    id: u64,
    lease_until: Timestamp,
    progress: Option<(u8, Option<&str>)>,
) -> Result<(), StoreError> {
    match progress {
        Some((p, m)) => conn
            .prepare_cached(
                "UPDATE jobs SET lease_until_ms = ?2, progress = ?3, message = ?4 WHERE id = ?1 AND state = 'running'",
            )?
            .execute(params![id as i64, lease_until.millis(), p, m])?,
        None => conn
            .prepare_cached("UPDATE jobs SET lease_until_ms = ?2 WHERE id = ?1 AND state = 'running'")?
            .execute(params![id as i64, lease_until.millis()])?,
    };
    Ok(())
}

/// Ends a job in a final state, or puts it back in the queue (`Queued`
/// with a later `run_at`).
pub fn settle(
    conn: &Connection,
    id: u64,
    state: JobState,
    result: Option<&serde_json::Value>,
    error: Option<&str>,
    run_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let finished = state.is_final().then_some(now.millis());
    let progress: Option<u8> = (state == JobState::Succeeded).then_some(100);
    conn.prepare_cached(
        "UPDATE jobs SET state = ?2, result = ?3, error = ?4, run_at_ms = coalesce(?5, run_at_ms),
            finished_ms = ?6, lease_until_ms = NULL, progress = coalesce(?7, progress) WHERE id = ?1",
    )?
    .execute(params![
        id as i64,
        state.as_str(),
        result.map(ToString::to_string),
        error,
        run_at.map(Timestamp::millis),
        finished,
        progress
    ])?;
    Ok(())
}

/// Running jobs whose lease ran out (their worker or the daemon died).
pub fn expired(conn: &Connection, now: Timestamp) -> Result<Vec<JobRecord>, StoreError> {
    list_where(
        conn,
        "WHERE state = 'running' AND coalesce(lease_until_ms, 0) < ?1 ORDER BY id",
        &[&now.millis()],
    )
}

fn list_where(
    conn: &Connection,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<JobRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM jobs {filter}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(args)?;
    super::collect(&mut rows, from_row)
}

/// Jobs newest first, by state, kind and owner.
pub fn list(
    conn: &Connection,
    state: Option<JobState>,
    kind: Option<&str>,
    owner: Option<&str>,
    before_id: Option<u64>,
    limit: u32,
) -> Result<Vec<JobRecord>, StoreError> {
    list_where(
        conn,
        "WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR kind = ?2) AND id < ?3
            AND (?5 IS NULL OR owner = ?5) ORDER BY id DESC LIMIT ?4",
        &[
            &state.map(JobState::as_str),
            &kind,
            &before_id.map_or(i64::MAX, |v| v as i64),
            &i64::from(limit),
            &owner,
        ],
    )
}

/// Puts a final job back in the queue, due now, with fresh attempts;
/// returns it as written.
pub fn requeue(
    conn: &Connection,
    id: u64,
    now: Timestamp,
) -> Result<Option<JobRecord>, StoreError> {
    conn.prepare_cached(
        "UPDATE jobs SET state = 'queued', attempts = 0, run_at_ms = ?2, error = NULL, result = NULL,
            progress = 0, message = NULL, finished_ms = NULL, started_ms = NULL WHERE id = ?1",
    )?
    .execute(params![id as i64, now.millis()])?;
    get(conn, id)
}

/// Runs a statement that deletes rows older than `cutoff_ms` (`?1`); returns how many.
/// What `maintenance.prune` deletes rows of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prunable {
    BotEvents,
    BotEquity,
    RiskViolations,
    Klines1m,
    /// Finished jobs only.
    Jobs,
}

impl Prunable {
    pub const ALL: [Prunable; 5] = [
        Prunable::BotEvents,
        Prunable::BotEquity,
        Prunable::RiskViolations,
        Prunable::Klines1m,
        Prunable::Jobs,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Prunable::BotEvents => "bot_events",
            Prunable::BotEquity => "bot_equity",
            Prunable::RiskViolations => "risk_violations",
            Prunable::Klines1m => "klines_1m",
            Prunable::Jobs => "jobs",
        }
    }

    const fn sql(self) -> &'static str {
        match self {
            Prunable::BotEvents => "DELETE FROM bot_events WHERE time_ms < ?1",
            Prunable::BotEquity => "DELETE FROM bot_equity WHERE time_ms < ?1",
            Prunable::RiskViolations => "DELETE FROM risk_violations WHERE time_ms < ?1",
            Prunable::Klines1m => "DELETE FROM klines_1m WHERE open_ms < ?1",
            Prunable::Jobs => {
                "DELETE FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled', 'dead') AND coalesce(finished_ms, created_ms) < ?1"
            }
        }
    }
}

/// Deletes a table's rows older than `cutoff_ms`; returns how many.
pub fn prune(conn: &Connection, what: Prunable, cutoff_ms: i64) -> Result<u64, StoreError> {
    Ok(conn.execute(what.sql(), [cutoff_ms])? as u64)
}

/// Whether any queued job is due (an index probe, whatever the queue's size).
pub fn any_due(conn: &Connection, now: Timestamp) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM jobs INDEXED BY jobs_queued_time WHERE state = 'queued' AND run_at_ms <= ?1 LIMIT 1",
        )?
        .query_row([now.millis()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// When the earliest queued job is due (an index probe).
pub fn next_due(conn: &Connection) -> Result<Option<Timestamp>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT run_at_ms FROM jobs INDEXED BY jobs_queued_time WHERE state = 'queued'
              ORDER BY run_at_ms LIMIT 1",
        )?
        .query_row([], |r| r.get(0))
        .optional()?
        .map(Timestamp))
}

/// Due queued jobs.
pub fn due_count(conn: &Connection, now: Timestamp) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM jobs INDEXED BY jobs_queued_time WHERE state = 'queued' AND run_at_ms <= ?1",
        )?
        .query_row([now.millis()], |r| r.get::<_, i64>(0))? as u64)
}

pub fn delete(conn: &Connection, id: u64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM jobs WHERE id = ?1")?
        .execute([id as i64])?
        > 0)
}

/// Deletes final jobs of a state finished before `before`; returns how many.
pub fn purge(
    conn: &Connection,
    state: JobState,
    before: Timestamp,
    owner: Option<&str>,
) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM jobs WHERE state = ?1 AND coalesce(finished_ms, created_ms) < ?2
                AND (?3 IS NULL OR owner = ?3)",
        )?
        .execute(params![state.as_str(), before.millis(), owner])? as u64)
}

/// Counts by state and kind.
pub fn counts(conn: &Connection) -> Result<Vec<(String, JobState, u64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, state, count(*) FROM jobs GROUP BY kind, state ORDER BY kind, state",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let state: String = r.get(1)?;
        out.push((
            r.get(0)?,
            JobState::parse(&state).ok_or_else(|| corrupt("job state", &state))?,
            r.get::<_, i64>(2)? as u64,
        ));
    }
    Ok(out)
}

/// Jobs finished since `since`: kind, final state, duration (ms).
pub fn finished_since(
    conn: &Connection,
    since: Timestamp,
) -> Result<Vec<(String, JobState, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, state, finished_ms - coalesce(started_ms, finished_ms) FROM jobs
         WHERE finished_ms >= ?1 AND state IN ('succeeded', 'failed', 'dead', 'cancelled')",
    )?;
    let mut rows = stmt.query([since.millis()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let state: String = r.get(1)?;
        out.push((
            r.get(0)?,
            JobState::parse(&state).ok_or_else(|| corrupt("job state", &state))?,
            r.get(2)?,
        ));
    }
    Ok(out)
}

/// The oldest due queued job's `run_at`.
pub fn oldest_queued(conn: &Connection, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT min(run_at_ms) FROM jobs WHERE state = 'queued' AND run_at_ms <= ?1",
        )?
        .query_row([now.millis()], |r| r.get::<_, Option<i64>>(0))?
        .map(Timestamp))
}

/// The files queued or running `data.import` jobs will read.
pub fn pending_import_paths(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT json_extract(payload, '$.path') FROM jobs
          WHERE kind = 'data.import' AND state IN ('queued', 'running')",
    )?;
    let rows = stmt.query_map([], |r| r.get::<_, Option<String>>(0))?;
    let mut out = Vec::new();
    for r in rows {
        if let Some(p) = r? {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn enqueue_is_idempotent_and_claims_respect_priority_time_and_busy_kinds() {
        let mut s = Store::open_in_memory().unwrap();
        let now = Timestamp(1_000);
        let p = serde_json::json!({});
        let job = |kind, priority, run_at, key| NewJob {
            kind,
            payload: &p,
            priority,
            max_attempts: 3,
            run_at: Timestamp(run_at),
            idempotency_key: key,
            owner: "admin",
        };
        s.write(|tx| -> Result<(), StoreError> {
            let (a, new) = enqueue(tx, &job("risk.report", 0, 0, Some("k1")), now)?;
            assert!(new);
            let (b, new) = enqueue(tx, &job("risk.report", 9, 0, Some("k1")), now)?;
            assert!(!new);
            assert_eq!(a.id, b.id);
            enqueue(tx, &job("maintenance.vacuum", 5, 0, None), now)?;
            enqueue(tx, &job("risk.report", 1, 5_000, None), now)?;
            // Highest priority first; the future job waits; only ready kinds run.
            let all = ["risk.report", "maintenance.vacuum"];
            let c = claim(tx, &all, now, Timestamp(2_000))?.unwrap();
            assert_eq!(
                (c.kind.as_str(), c.state, c.attempts),
                ("maintenance.vacuum", JobState::Running, 1)
            );
            assert!(claim(tx, &["maintenance.vacuum"], now, Timestamp(2_000))?.is_none());
            let d = claim(tx, &all, now, Timestamp(2_000))?.unwrap();
            assert_eq!(d.id, a.id);
            assert!(claim(tx, &all, now, Timestamp(2_000))?.is_none());
            // Leases that ran out show up as expired.
            assert_eq!(expired(tx, Timestamp(2_001))?.len(), 2);
            settle(
                tx,
                d.id,
                JobState::Succeeded,
                Some(&serde_json::json!({"ok": true})),
                None,
                None,
                now,
            )?;
            assert_eq!(get(tx, d.id)?.unwrap().progress, 100);
            assert_eq!(expired(tx, Timestamp(2_001))?.len(), 1);
            Ok(())
        })
        .unwrap();
    }
}
