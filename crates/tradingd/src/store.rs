//! SQLite storage: opening the database with the house pragmas and running
//! the embedded migrations.
//!
//! Invariants: the state database runs in WAL mode with `synchronous=FULL`
//! and foreign keys on; migrations are embedded in the binary and applied at
//! open, idempotently; the daemon holds exactly one writing [`Store`].

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

pub mod backtests;
pub mod bots;
pub mod jobs;
pub mod risk;
pub mod schedules;
pub mod strategies;
pub mod trading;
pub mod users;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use rusqlite_migration::{M, Migrations};

use tradedesk_core::api::system::PreviousShutdown;

/// Pages of write-ahead log between automatic checkpoints (~40 MiB).
const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// The schema version after every embedded migration has run.
pub const SCHEMA_VERSION: u32 = 16;

static MIGRATIONS: LazyLock<Migrations<'static>> = LazyLock::new(|| {
    Migrations::new(vec![
        M::up(include_str!("store/migrations/0001_init.sql")),
        M::up(include_str!("store/migrations/0002_trading.sql")),
        M::up(include_str!("store/migrations/0003_bots.sql")),
        M::up(include_str!("store/migrations/0004_risk.sql")),
        M::up(include_str!("store/migrations/0005_jobs.sql")),
        M::up(include_str!("store/migrations/0006_schedules.sql")),
        M::up(include_str!("store/migrations/0007_jobs_ready.sql")),
        M::up(include_str!("store/migrations/0008_backtests.sql")),
        M::up(include_str!("store/migrations/0009_dataset_import.sql")),
        M::up(include_str!("store/migrations/0010_position_open_fees.sql")),
        M::up_with_hook(
            include_str!("store/migrations/0011_default_ratios.sql"),
            backtests::migrate_default_ratios,
        ),
        M::up(include_str!("store/migrations/0012_users.sql")),
        M::up(include_str!("store/migrations/0013_access_tokens.sql")),
        M::up(include_str!("store/migrations/0014_profiles.sql")),
        M::up(include_str!("store/migrations/0015_user_strategies.sql")),
        M::up(include_str!("store/migrations/0016_margin_accounts.sql")),
    ])
});

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database `{path}`: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("database holds a value that does not decode: {0}")]
    Corrupt(String),
    #[error("database: the daemon is shutting down; nothing was written")]
    Closed,
    #[error("database `{path}`: migration failed: {source}")]
    Migration {
        path: String,
        #[source]
        source: rusqlite_migration::Error,
    },
}

/// Every row of a query, each turned into a value by `f`.
pub(crate) fn collect<T>(
    rows: &mut rusqlite::Rows<'_>,
    mut f: impl FnMut(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(f(r)?);
    }
    Ok(out)
}

/// The outcome of [`Store::record_start`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRecord {
    pub run_id: i64,
    pub run_number: u64,
    pub previous: PreviousShutdown,
}

/// The writing connection to the state database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: Option<PathBuf>,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let name = path.display().to_string();
        // The user's only (SQLite gives its log files the same mode).
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            let private = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(path)
                .and_then(|f| f.set_permissions(std::fs::Permissions::from_mode(0o600)));
            if let Err(e) = private {
                return Err(StoreError::Sqlite {
                    path: name,
                    source: rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                        Some(e.to_string()),
                    ),
                });
            }
        }
        let conn =
            Connection::open(path).map_err(|source| StoreError::Sqlite { path: name, source })?;
        Store::init(conn, Some(path.to_path_buf()))
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Sqlite {
            path: ":memory:".into(),
            source,
        })?;
        Store::init(conn, None)
    }

    fn init(mut conn: Connection, path: Option<PathBuf>) -> Result<Store, StoreError> {
        let name = path
            .as_ref()
            .map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string());
        let sql = |source| StoreError::Sqlite {
            path: name.clone(),
            source,
        };
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        // Checkpoint rarely: a checkpoint syncs the database file inside
        // some commit, and at the default (1,000 pages) one order in a few
        // hundred paid for it. The log is reused in place after each one.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
            .map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql)?;
        MIGRATIONS
            .to_latest(&mut conn)
            .map_err(|source| StoreError::Migration {
                path: name.clone(),
                source,
            })?;
        Ok(Store { conn, path })
    }

    fn name(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string())
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.name(),
            source,
        }
    }

    /// Runs `f` in one transaction: committed if it returns `Ok`, rolled
    /// back otherwise, so a failed write leaves nothing behind.
    pub fn write<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let name = self.name();
        let tx = self
            .conn
            .transaction()
            .map_err(|source| StoreError::Sqlite {
                path: name.clone(),
                source,
            })?;
        let out = f(&tx)?;
        tx.commit()
            .map_err(|source| StoreError::Sqlite { path: name, source })?;
        Ok(out)
    }

    /// As [`Store::write`], committed without waiting for the disk
    /// (`synchronous=NORMAL` for this one transaction). The commit survives
    /// the process being killed; a power loss may undo it (never half of
    /// it), until the next full commit or checkpoint syncs the log. For
    /// writes that are safe to lose that way only: a job's claim, lease
    /// and settlement, which the queue's recovery redoes (a job whose end
    /// was lost runs again).
    pub fn write_relaxed<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let name = self.name();
        let set = |conn: &Connection, mode: &str| {
            conn.pragma_update(None, "synchronous", mode)
                .map_err(|source| StoreError::Sqlite {
                    path: name.clone(),
                    source,
                })
        };
        set(&self.conn, "NORMAL")?;
        let out = self.write(f);
        set(&self.conn, "FULL")?;
        out
    }

    /// The connection, for reads.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The number of the newest migration applied.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Records a daemon start and reports how the previous run ended.
    pub fn record_start(
        &mut self,
        pid: u32,
        version: &str,
        now_ms: i64,
    ) -> Result<RunRecord, StoreError> {
        let name = self.name();
        let sql = |source| StoreError::Sqlite {
            path: name.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let previous: Option<Option<i64>> = tx
            .query_row(
                "SELECT stopped_ms FROM daemon_runs ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql)?;
        tx.execute(
            "INSERT INTO daemon_runs (started_ms, pid, version) VALUES (?1, ?2, ?3)",
            params![now_ms, pid, version],
        )
        .map_err(sql)?;
        let run_id = tx.last_insert_rowid();
        let run_number: i64 = tx
            .query_row("SELECT count(*) FROM daemon_runs", [], |r| r.get(0))
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        let previous = match previous {
            None => PreviousShutdown::None,
            Some(Some(_)) => PreviousShutdown::Clean,
            Some(None) => PreviousShutdown::Unclean,
        };
        Ok(RunRecord {
            run_id,
            run_number: run_number as u64,
            previous,
        })
    }

    /// Marks a run as cleanly stopped.
    pub fn record_stop(&mut self, run_id: i64, now_ms: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE daemon_runs SET stopped_ms = ?1 WHERE id = ?2",
                params![now_ms, run_id],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Database file plus write-ahead log, in bytes (0 in memory).
    pub fn size_bytes(&self) -> u64 {
        let Some(path) = &self.path else { return 0 };
        let mut wal = path.clone().into_os_string();
        wal.push("-wal");
        [path.as_os_str(), wal.as_os_str()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Moves the write-ahead log into the database file and truncates it,
    /// so a stopped daemon leaves one self-contained file.
    /// Rewrites the database file compactly (`VACUUM`).
    pub fn vacuum(&self) -> Result<(), StoreError> {
        self.conn.execute_batch("VACUUM")?;
        Ok(())
    }

    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.err(e))
    }

    pub fn close(self) -> Result<(), StoreError> {
        self.checkpoint()?;
        let path = self.name();
        self.conn
            .close()
            .map_err(|(_, source)| StoreError::Sqlite { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        MIGRATIONS.validate().unwrap();
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let _ = &mut s;
    }

    #[test]
    fn pragmas_are_set() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        let sync: i64 = store
            .conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        let fk: i64 = store
            .conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync, fk), ("wal", 2, 1));
    }

    #[test]
    fn runs_report_how_the_previous_one_ended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut s = Store::open(&path).unwrap();
        let first = s.record_start(1, "0.1.0", 10).unwrap();
        assert_eq!(
            (first.run_number, first.previous),
            (1, PreviousShutdown::None)
        );
        // Dies without record_stop.
        drop(s);
        let mut s = Store::open(&path).unwrap();
        let second = s.record_start(2, "0.1.0", 20).unwrap();
        assert_eq!(
            (second.run_number, second.previous),
            (2, PreviousShutdown::Unclean)
        );
        s.record_stop(second.run_id, 30).unwrap();
        s.close().unwrap();
        let mut s = Store::open(&path).unwrap();
        let third = s.record_start(3, "0.1.0", 40).unwrap();
        assert_eq!(
            (third.run_number, third.previous),
            (3, PreviousShutdown::Clean)
        );
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn old_backtests_get_the_default_ratios_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut conn = Connection::open(&path).unwrap();
        MIGRATIONS.to_version(&mut conn, 10).unwrap();
        let metrics = |reference: f64, textbook: f64| {
            serde_json::json!({
                "periods_per_year": 365, "sharpe": reference, "sharpe_textbook": textbook,
                "sortino": 1.0, "sortino_textbook": 2.0, "calmar": null, "calmar_textbook": 0.5,
                "volatility_ann_pct": 0.0, "volatility_ann_textbook_pct": 12.5,
            })
        };
        conn.execute(
            "INSERT INTO backtests (id, name, kind, owner, job_id, spec, created_ms, summary, metrics)
             VALUES (1, 'r', 'run', 'admin', 1, '{}', 0, ?1, ?2)",
            params![
                serde_json::json!({ "sharpe": -1_277_251.67, "trades": 3 }).to_string(),
                metrics(-1_277_251.67, -2.5).to_string(),
            ],
        )
        .unwrap();
        let sweep = serde_json::json!([
            { "params": { "a": 1 }, "score": 9.0, "metrics": metrics(9.0, 1.0), "error": null },
            { "params": { "a": 2 }, "score": 1.0, "metrics": metrics(1.0, 3.0), "error": null },
            { "params": { "a": 3 }, "score": null, "metrics": null, "error": "bad" },
        ]);
        conn.execute(
            "INSERT INTO backtests (id, name, kind, owner, job_id, spec, created_ms, sweep)
             VALUES (2, 's', 'sweep', 'admin', 2, '{\"rank_by\":\"sharpe\"}', 0, ?1)",
            [sweep.to_string()],
        )
        .unwrap();
        drop(conn);

        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        // (Old metrics lack later fields: read as JSON here.)
        let (summary, metrics, sweep): (String, String, String) = s
            .conn
            .query_row(
                "SELECT (SELECT summary FROM backtests WHERE id = 1),
                        (SELECT metrics FROM backtests WHERE id = 1),
                        (SELECT sweep FROM backtests WHERE id = 2)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        let v = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap();
        let (summary, metrics, sweep) = (v(&summary), v(&metrics), v(&sweep));
        assert_eq!(summary["sharpe"], -2.5);
        assert_eq!(summary["trades"], 3);
        assert_eq!(metrics["sharpe"], -2.5);
        assert_eq!(metrics["sharpe_reference"], -1_277_251.67);
        assert_eq!(metrics["volatility_ann_pct"], 12.5);
        assert_eq!(metrics["volatility_ann_reference_pct"], 0.0);
        assert_eq!(metrics["calmar"], 0.5);
        assert!(metrics["calmar_reference"].is_null());
        assert!(metrics.get("sharpe_textbook").is_none());
        assert_eq!(metrics["bars_per_year"], 365);
        // Re-ranked by the renamed Sharpe: a=2 (3.0) before a=1 (1.0).
        let order: Vec<i64> = sweep
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["params"]["a"].as_i64().unwrap())
            .collect();
        assert_eq!(order, [2, 1, 3]);
        assert_eq!(sweep[0]["score"], 3.0);
    }
}
