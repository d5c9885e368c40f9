//! Keeping a desk healthy: online backups, restore, and the readiness
//! checks of `tradectl doctor`.
//!
//! A backup is SQLite's online backup of the whole database in one step,
//! read on a connection of its own: one read transaction, so the copy is
//! the database as of one commit while trading goes on (WAL readers never
//! block the writer). It is written beside its destination, checked with
//! `integrity_check`, synced, and only then linked into place — never over
//! an existing file. A restore (daemon stopped) checks the backup the same
//! way, copies it in, and keeps the database it replaces beside it.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tradedesk_core::api::system::{BackupDone, Check};
use tradedesk_core::paths::DB_FILE;

use crate::config::Config;
use crate::store::SCHEMA_VERSION;

/// A table every database of ours has (a file without it is not one).
const MARKER_TABLE: &str = "accounts";

fn read_only(path: &Path) -> Result<Connection, String> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("{}: {e}", path.display()))
}

/// `integrity_check`, the schema version, and that it is a tradedesk
/// database: the schema version it holds, or what is wrong with it.
pub fn verify(conn: &Connection) -> Result<u32, String> {
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("integrity_check: {e}"))?;
    if integrity != "ok" {
        return Err(format!("integrity_check: {integrity}"));
    }
    let ours: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [MARKER_TABLE],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    if !ours {
        return Err("not a tradedesk database (it has no accounts table)".into());
    }
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if version == 0 || version > SCHEMA_VERSION {
        return Err(format!(
            "schema version {version}; this tradingd knows 1 to {SCHEMA_VERSION} (a newer tradingd made it?)"
        ));
    }
    Ok(version)
}

/// Copies the database at `from` (read in one transaction) to the new file
/// `to`, synced; the schema version the copy holds, checked.
fn copy_checked(from: &Path, to: &Path) -> Result<u32, String> {
    // Created first, so that it is the user's only from the start.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(|e| format!("{}: {e}", to.display()))?;
    let src = read_only(from)?;
    let mut dst = Connection::open(to).map_err(|e| format!("{}: {e}", to.display()))?;
    {
        let backup =
            rusqlite::backup::Backup::new(&src, &mut dst).map_err(|e| format!("backup: {e}"))?;
        // All pages in one step: one read transaction, one consistent
        // copy. Busy (a checkpoint or recovery holds a lock) is retried.
        let mut tries = 0u32;
        loop {
            match backup.step(-1).map_err(|e| format!("backup: {e}"))? {
                rusqlite::backup::StepResult::Done => break,
                _ if tries >= 200 => return Err("backup: the database stayed busy for 10 s".into()),
                _ => {
                    tries = tries.saturating_add(1);
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
    drop(src);
    let version = verify(&dst)?;
    // The copy keeps the source's WAL mode; fold its log in and close.
    dst.pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .map_err(|e| e.to_string())?;
    dst.close().map_err(|(_, e)| e.to_string())?;
    let _ = std::fs::remove_file(sidecar(to, "-wal"));
    let _ = std::fs::remove_file(sidecar(to, "-shm"));
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("{}: {e}", to.display()))?;
    Ok(version)
}

/// `name` ends in `.ext` (the names we write are lower case).
fn has_ext(name: &str, ext: &str) -> bool {
    Path::new(name).extension().is_some_and(|e| e == ext)
}

fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Where a backup may go: an absolute path in an existing directory, not
/// an existing file (or link). The error names the problem.
pub fn check_backup_path(path: &str) -> Result<PathBuf, String> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err("must be an absolute path".into());
    }
    let (Some(dir), Some(_)) = (p.parent(), p.file_name()) else {
        return Err(format!("`{path}` names no file"));
    };
    if !dir.is_dir() {
        return Err(format!("the directory of `{path}` does not exist"));
    }
    if p.symlink_metadata().is_ok() {
        return Err(format!(
            "`{path}` exists; a backup never replaces a file, choose a new name"
        ));
    }
    Ok(p.to_path_buf())
}

/// An online backup of `db` to `to` (see the module's documentation).
pub fn backup(db: &Path, to: &Path) -> Result<BackupDone, String> {
    let t0 = Instant::now();
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = to.parent().unwrap_or(Path::new("/"));
    let partial = dir.join(format!(".{name}.partial-{}", std::process::id()));
    let done = copy_checked(db, &partial).and_then(|version| {
        // A link, not a rename: it fails rather than replace a file made
        // meanwhile.
        std::fs::hard_link(&partial, to).map_err(|e| format!("{}: {e}", to.display()))?;
        Ok(version)
    });
    let _ = std::fs::remove_file(&partial);
    let schema_version = done?;
    sync_dir(dir);
    let bytes = std::fs::metadata(to).map_or(0, |m| m.len());
    Ok(BackupDone {
        path: to.display().to_string(),
        bytes,
        schema_version,
        took_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Deletes the oldest `tradedesk-*.db` backups in `dir` beyond the newest
/// `keep` (names sort by time); the names deleted. Nothing else is touched.
pub fn rotate_backups(dir: &Path, keep: usize) -> Result<Vec<String>, String> {
    let mut ours: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("tradedesk-") && has_ext(n, "db"))
        .collect();
    ours.sort();
    let excess = ours.len().saturating_sub(keep);
    let mut deleted = Vec::new();
    for name in ours.into_iter().take(excess) {
        std::fs::remove_file(dir.join(&name)).map_err(|e| format!("{name}: {e}"))?;
        deleted.push(name);
    }
    Ok(deleted)
}

/// Deletes the oldest `tradingd.*.log` files while the log files together
/// hold more than `max_bytes`; the newest (being written) is never
/// deleted. The names deleted.
pub fn prune_logs(dir: &Path, max_bytes: u64) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(String, u64)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let meta = e.metadata().ok()?;
            (meta.is_file() && name.starts_with("tradingd.") && has_ext(&name, "log"))
                .then_some((name, meta.len()))
        })
        .collect();
    files.sort();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    let mut deleted = Vec::new();
    let older = files.len().saturating_sub(1);
    for (name, len) in files.into_iter().take(older) {
        if total <= max_bytes {
            break;
        }
        if std::fs::remove_file(dir.join(&name)).is_ok() {
            total = total.saturating_sub(len);
            deleted.push(name);
        }
    }
    deleted
}

/// What `tradingd restore` did.
#[derive(Debug, serde::Serialize)]
pub struct Restored {
    pub restored_from: String,
    pub database: String,
    /// The database it replaced, kept (none on a fresh data dir).
    pub kept: Option<String>,
    pub schema_version: u32,
}

/// Replaces the data dir's database with the backup `file`. Takes the
/// daemon's lock, so it refuses while a daemon runs on the data dir.
pub fn restore(config: &Config, file: &Path) -> Result<Restored, String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.data_dir)
        .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
    let _lock = crate::lock_data_dir(&config.data_dir).map_err(|e| match e {
        crate::StartError::AlreadyRunning { .. } => format!(
            "{e}; stop it first (`tradectl daemon stop`): a database is never replaced under a running daemon"
        ),
        other => other.to_string(),
    })?;
    let db = config.db_path();
    let incoming = config.data_dir.join(format!("{DB_FILE}.restoring"));
    let _ = std::fs::remove_file(&incoming);
    // Checked as it is copied in (`copy_checked` verifies the copy): a bad
    // backup is refused before the database is touched.
    let version = match copy_checked(file, &incoming) {
        Ok(v) => v,
        Err(e) => {
            for f in [
                incoming.clone(),
                sidecar(&incoming, "-wal"),
                sidecar(&incoming, "-shm"),
            ] {
                let _ = std::fs::remove_file(f);
            }
            return Err(format!("{}: {e}", file.display()));
        }
    };
    let mut kept = None;
    if db.exists() {
        // Fold the old database's log in, so the kept file is whole alone.
        let conn = Connection::open(&db).map_err(|e| format!("{}: {e}", db.display()))?;
        conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
            .map_err(|e| format!("{}: {e}", db.display()))?;
        conn.close().map_err(|(_, e)| e.to_string())?;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let old = config
            .data_dir
            .join(format!("{DB_FILE}.before-restore-{stamp}"));
        std::fs::rename(&db, &old).map_err(|e| format!("{}: {e}", db.display()))?;
        for s in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(sidecar(&db, s));
        }
        kept = Some(old.display().to_string());
    }
    std::fs::rename(&incoming, &db).map_err(|e| format!("{}: {e}", db.display()))?;
    sync_dir(&config.data_dir);
    Ok(Restored {
        restored_from: file.display().to_string(),
        database: db.display().to_string(),
        kept,
        schema_version: version,
    })
}

/// A directory only its user may enter: ok, a warning, or missing.
fn private_dir(name: &str, what: &str, dir: &Path) -> Check {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Check::fail(
            name,
            format!("{what} {} is not a directory", dir.display()),
            format!("move {} away", dir.display()),
        ),
        Ok(m) if m.permissions().mode() & 0o077 != 0 => Check::warn(
            name,
            format!(
                "{what} {} is open to others (mode {:o})",
                dir.display(),
                m.permissions().mode() & 0o777
            ),
            format!("chmod 700 {}", dir.display()),
        ),
        Ok(_) => Check::ok(name, format!("{what} {} (private)", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::warn(
            name,
            format!("{what} {} does not exist yet", dir.display()),
            "it is made at the daemon's first start: `tradectl daemon start`",
        ),
        Err(e) => Check::fail(
            name,
            format!("{what} {}: {e}", dir.display()),
            "check the path and its permissions",
        ),
    }
}

/// Free space for the database: fail under 100 MiB, warn under 1 GiB.
fn disk(dir: &Path) -> Check {
    let probe = std::iter::successors(Some(dir), |d| d.parent()).find(|d| d.exists());
    let Some(probe) = probe else {
        return Check::warn(
            "disk",
            "no existing directory to measure",
            "create the data dir",
        );
    };
    match rustix::fs::statvfs(probe) {
        Ok(s) => disk_verdict(s.f_bavail.saturating_mul(s.f_frsize), dir),
        Err(e) => Check::warn(
            "disk",
            format!("cannot measure {}: {e}", probe.display()),
            "check the file system",
        ),
    }
}

fn disk_verdict(free: u64, dir: &Path) -> Check {
    const MIB: u64 = 1 << 20;
    let detail = format!("{} MiB free for {}", free / MIB, dir.display());
    if free < 100 * MIB {
        Check::fail("disk", detail, "free disk space: the database cannot grow")
    } else if free < 1024 * MIB {
        Check::warn("disk", detail, "free disk space before it runs out")
    } else {
        Check::ok("disk", detail)
    }
}

/// The database: whole, ours, in WAL mode, migrations current, private.
fn database(db: &Path) -> Check {
    if !db.exists() {
        return Check::warn(
            "database",
            format!("{} does not exist yet", db.display()),
            "it is made at the daemon's first start",
        );
    }
    let fix_corrupt = "restore the last backup: `tradingd restore FILE` (daemon stopped)";
    let conn = match read_only(db) {
        Ok(c) => c,
        Err(e) => return Check::fail("database", e, fix_corrupt),
    };
    let version = match verify(&conn) {
        Ok(v) => v,
        Err(e) => return Check::fail("database", format!("{}: {e}", db.display()), fix_corrupt),
    };
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap_or_default();
    if !mode.eq_ignore_ascii_case("wal") {
        return Check::fail(
            "database",
            format!("journal_mode is `{mode}`, not wal"),
            "start the daemon once: it sets the pragmas",
        );
    }
    if let Ok(m) = std::fs::metadata(db)
        && m.permissions().mode() & 0o077 != 0
    {
        return Check::warn(
            "database",
            format!(
                "{} is readable by others (mode {:o})",
                db.display(),
                m.permissions().mode() & 0o777
            ),
            format!("chmod 600 {}", db.display()),
        );
    }
    if version < SCHEMA_VERSION {
        return Check::warn(
            "database",
            format!("integrity ok; schema {version} of {SCHEMA_VERSION}"),
            "the daemon migrates it at its next start",
        );
    }
    Check::ok(
        "database",
        format!("integrity ok, WAL, schema {version} (current)"),
    )
}

/// The HTTP API: off, or safe to open.
fn http(config: &Config) -> Check {
    let h = &config.http;
    if !h.enabled {
        return Check::ok("http", "off");
    }
    let secret = config.data_dir.join(crate::services::auth::SECRET_FILE);
    if let Ok(m) = std::fs::metadata(&secret) {
        if m.permissions().mode() & 0o077 != 0 {
            return Check::fail(
                "http",
                format!("the JWT secret {} is readable by others", secret.display()),
                format!("chmod 600 {}", secret.display()),
            );
        }
        let strong = std::fs::read_to_string(&secret)
            .ok()
            .and_then(|t| crate::hex::decode(t.trim()))
            .is_some_and(|b| b.len() >= 32);
        if !strong {
            return Check::fail(
                "http",
                format!("the JWT secret {} is not 32 random bytes", secret.display()),
                format!(
                    "stop the daemon, remove {} (a new one is made; sessions end)",
                    secret.display()
                ),
            );
        }
    }
    let how = if h.bind.ip().is_loopback() {
        "loopback only"
    } else if h.tls.is_some() {
        "HTTPS"
    } else if h.behind_proxy {
        return Check::warn(
            "http",
            format!(
                "{} in plain HTTP behind a proxy (behind_proxy = true)",
                h.bind
            ),
            "make sure the proxy terminates TLS and is the only way in (firewall the port)",
        );
    } else {
        // The config refuses this; kept so that a future loosening shows.
        return Check::fail(
            "http",
            format!("{} in plain HTTP", h.bind),
            "set http.tls_cert and http.tls_key, or bind 127.0.0.1",
        );
    };
    let origins = if h.cors_origins.is_empty() {
        "no CORS origins".to_owned()
    } else {
        format!("CORS for {}", h.cors_origins.join(", "))
    };
    Check::ok(
        "http",
        format!("{} ({how}), JWT secret 256-bit, {origins}", h.bind),
    )
}

fn logs(config: &Config) -> Check {
    let l = &config.log;
    let size: u64 = std::fs::read_dir(&l.dir).map_or(0, |d| {
        d.flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len())
            .sum()
    });
    let detail = format!(
        "level {}, {} daily files kept, {} MiB now in {}",
        l.level,
        l.max_files,
        size >> 20,
        l.dir.display()
    );
    let verbose = l.level.split(',').any(|d| {
        let d = d.rsplit('=').next().unwrap_or(d).trim();
        d == "trace" || d == "debug"
    });
    if verbose {
        Check::warn(
            "logs",
            detail,
            "debug and trace logs grow fast: set log.level = \"info\" when done",
        )
    } else if l.level == "off" {
        Check::warn(
            "logs",
            detail,
            "nothing is logged: set log.level = \"info\"",
        )
    } else {
        Check::ok("logs", detail)
    }
}

/// The keys a live venue needs, in the secret store.
fn secrets(config: &Config) -> Check {
    let Some(b) = config.binance.as_ref().filter(|b| b.live) else {
        return Check::ok("secrets", "no live venue: no API keys needed");
    };
    let store = match tradedesk_core::secrets::open_default() {
        Ok(s) => s,
        Err(e) => {
            return Check::fail(
                "secrets",
                format!("the secret store: {e}"),
                "set TRADEDESK_SECRET_STORE=file (an encrypted file) or start the keyring",
            );
        }
    };
    let (key, secret) = tradedesk_core::secrets::venue_keys(&b.keys);
    for name in [&key, &secret] {
        match store.get(name) {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Check::fail(
                    "secrets",
                    format!("`{name}` is not in {}", store.describe()),
                    format!("tradectl venue keys set {}", b.keys),
                );
            }
            Err(e) => {
                return Check::fail(
                    "secrets",
                    format!("{}: {e}", store.describe()),
                    "check the secret store (TRADEDESK_SECRET_STORE, its passphrase or key file)",
                );
            }
        }
    }
    Check::ok(
        "secrets",
        format!("binance keys `{}` in {}", b.keys, store.describe()),
    )
}

/// This machine's clock against the venue's (Binance refuses a signed
/// request more than 1 s ahead of it or `recv_window_ms` behind).
pub async fn clock(config: &Config) -> Check {
    let Some(b) = &config.binance else {
        return Check::ok(
            "clock",
            "no venue configured: the simulated market runs on this machine's clock",
        );
    };
    let offset = match crate::venues::binance::Rest::new(
        &b.rest_url,
        None,
        b.recv_window_ms,
        Duration::from_secs(5),
    ) {
        Ok(rest) => rest.sync_time().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match offset {
        Err(e) => Check::warn(
            "clock",
            format!("cannot read {}'s time: {e}", b.rest_url),
            "check the network and binance.rest_url",
        ),
        Ok(off) => {
            let detail = format!("{} ms from {}'s clock", off.saturating_neg(), b.rest_url);
            let skew = off.unsigned_abs();
            if skew >= b.recv_window_ms {
                Check::fail(
                    "clock",
                    detail,
                    "sync the clock (systemd-timesyncd or chrony): signed requests are refused",
                )
            } else if skew >= 500 {
                Check::warn(
                    "clock",
                    detail,
                    "sync the clock (systemd-timesyncd or chrony)",
                )
            } else {
                Check::ok("clock", detail)
            }
        }
    }
}

/// Facts from the database that make unattended trading unsafe: running
/// bots without any risk limit, schedules that will never fire, dead jobs.
fn state_checks(db: &Path, out: &mut Vec<Check>) {
    let Ok(conn) = read_only(db) else {
        return;
    };
    let one = |sql: &str| -> Result<Vec<String>, rusqlite::Error> {
        let mut st = conn.prepare(sql)?;
        st.query_map([], |r| r.get::<_, String>(0))?.collect()
    };
    match one(
        "SELECT b.name || ' (' || b.id || ')' FROM bots b JOIN accounts a ON a.id = b.account_id
         WHERE b.status = 'running'
           AND NOT EXISTS (SELECT 1 FROM risk_limits WHERE scope = 'bot:' || b.id)
           AND NOT EXISTS (SELECT 1 FROM risk_limits WHERE scope = 'account:' || a.name)
         ORDER BY b.id",
    ) {
        Ok(bots) if bots.is_empty() => out.push(Check::ok(
            "risk_limits",
            "every running bot has risk limits (its own or its account's)",
        )),
        Ok(bots) => out.push(Check::warn(
            "risk_limits",
            format!(
                "{} running bot(s) without risk limits: {}",
                bots.len(),
                bots.join(", ")
            ),
            "set limits: `tradectl risk limits set --bot ID …` or for the account",
        )),
        Err(e) => out.push(Check::warn(
            "risk_limits",
            e.to_string(),
            "check the database",
        )),
    }
    match one("SELECT name || ' (' || cron || ')' FROM schedules
         WHERE paused = 0 AND next_run_ms IS NULL ORDER BY id")
    {
        Ok(s) if s.is_empty() => out.push(Check::ok(
            "schedules",
            "every active schedule has a next run",
        )),
        Ok(s) => out.push(Check::warn(
            "schedules",
            format!("{} schedule(s) will never fire: {}", s.len(), s.join(", ")),
            "fix the cron line or delete it: `tradectl schedule list`",
        )),
        Err(e) => out.push(Check::warn(
            "schedules",
            e.to_string(),
            "check the database",
        )),
    }
    match conn.query_row("SELECT count(*) FROM jobs WHERE state = 'dead'", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(0) => out.push(Check::ok("dead_jobs", "no dead jobs")),
        Ok(n) => out.push(Check::warn(
            "dead_jobs",
            format!("{n} job(s) failed every attempt"),
            "see why: `tradectl job list --state dead`; then retry or delete them",
        )),
        Err(e) => out.push(Check::warn(
            "dead_jobs",
            e.to_string(),
            "check the database",
        )),
    }
}

/// Every check but the clock's (blocking: it reads the disk and the
/// database, and may ask the keyring). In the report's order: the clock's
/// goes after `secrets`.
pub fn local_checks(config: &Config) -> Vec<Check> {
    let mut out = vec![
        Check::ok("config", "parsed and valid"),
        private_dir("data_dir", "data dir", &config.data_dir),
    ];
    if let Some(run) = config.socket.parent() {
        out.push(private_dir("socket_dir", "socket dir", run));
    }
    out.push(private_dir("log_dir", "log dir", &config.log.dir));
    out.push(disk(&config.data_dir));
    let db = config.db_path();
    let db_check = database(&db);
    let usable = db_check.status != tradedesk_core::api::system::CheckStatus::Fail && db.exists();
    out.push(db_check);
    out.push(http(config));
    out.push(secrets(config));
    out.push(logs(config));
    if usable {
        state_checks(&db, &mut out);
    }
    out
}

/// Puts the clock's check in its place (after `secrets`).
pub fn with_clock(mut checks: Vec<Check>, clock: Check) -> Vec<Check> {
    let at = checks
        .iter()
        .position(|c| c.name == "secrets")
        .map_or(checks.len(), |i| i.saturating_add(1));
    checks.insert(at, clock);
    checks
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use tradedesk_core::api::system::CheckStatus;

    use super::*;
    use crate::store::Store;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn a_directory_check_passes_private_warns_open_or_missing_and_fails_a_file() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().join("d");
        assert_eq!(private_dir("x", "dir", &d).status, CheckStatus::Warn);
        std::fs::create_dir(&d).expect("mkdir");
        chmod(&d, 0o755);
        let open = private_dir("x", "dir", &d);
        assert_eq!(open.status, CheckStatus::Warn);
        assert!(
            open.fix
                .as_deref()
                .unwrap_or_default()
                .contains("chmod 700")
        );
        chmod(&d, 0o700);
        assert_eq!(private_dir("x", "dir", &d).status, CheckStatus::Ok);
        let f = t.path().join("f");
        std::fs::write(&f, "").expect("file");
        assert_eq!(private_dir("x", "dir", &f).status, CheckStatus::Fail);
    }

    #[test]
    fn disk_space_fails_under_100_mib_and_warns_under_1_gib() {
        let dir = Path::new("/data");
        assert_eq!(disk_verdict(50 << 20, dir).status, CheckStatus::Fail);
        assert_eq!(disk_verdict(500 << 20, dir).status, CheckStatus::Warn);
        assert_eq!(disk_verdict(5 << 30, dir).status, CheckStatus::Ok);
        assert_eq!(disk(Path::new("/")).name, "disk");
    }

    #[test]
    fn the_database_check_finds_each_way_a_database_can_be_wrong() {
        let t = tempfile::tempdir().expect("tempdir");
        let db = t.path().join("tradedesk.db");
        assert_eq!(
            database(&db).status,
            CheckStatus::Warn,
            "missing: made at start"
        );
        drop(Store::open(&db).expect("store"));
        let ok = database(&db);
        assert_eq!(ok.status, CheckStatus::Ok, "{ok:?}");
        chmod(&db, 0o644);
        assert_eq!(database(&db).status, CheckStatus::Warn);
        chmod(&db, 0o600);
        let set = |sql: &str| {
            let c = Connection::open(&db).expect("open");
            c.execute_batch(sql).expect(sql);
        };
        set(&format!("PRAGMA user_version = {}", SCHEMA_VERSION - 1));
        let older = database(&db);
        assert_eq!(older.status, CheckStatus::Warn, "{older:?}");
        assert!(
            older
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("migrates")
        );
        set(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1));
        let newer = database(&db);
        assert_eq!(newer.status, CheckStatus::Fail);
        assert!(newer.detail.contains("newer"), "{newer:?}");
        set(&format!(
            "PRAGMA user_version = {SCHEMA_VERSION}; PRAGMA journal_mode = DELETE"
        ));
        let journal = database(&db);
        assert_eq!(journal.status, CheckStatus::Fail);
        assert!(journal.detail.contains("journal_mode"), "{journal:?}");

        let other = t.path().join("other.db");
        Connection::open(&other)
            .expect("open")
            .execute_batch("CREATE TABLE t (x)")
            .expect("table");
        let foreign = database(&other);
        assert_eq!(foreign.status, CheckStatus::Fail);
        assert!(
            foreign.detail.contains("not a tradedesk database"),
            "{foreign:?}"
        );

        let garbage = t.path().join("garbage.db");
        std::fs::write(&garbage, vec![7u8; 8192]).expect("write");
        assert_eq!(database(&garbage).status, CheckStatus::Fail);
    }

    #[test]
    fn http_settings_fail_on_a_weak_or_readable_jwt_secret_and_warn_on_plain_http_behind_a_proxy() {
        let t = tempfile::tempdir().expect("tempdir");
        let mut config = Config::for_dir(t.path());
        assert_eq!(http(&config).detail, "off");
        config.http.enabled = true;
        std::fs::create_dir_all(&config.data_dir).expect("mkdir");
        assert_eq!(
            http(&config).status,
            CheckStatus::Ok,
            "no secret yet: made at start"
        );
        let secret = config.data_dir.join(crate::services::auth::SECRET_FILE);
        std::fs::write(&secret, crate::hex::encode(&[9u8; 32])).expect("secret");
        chmod(&secret, 0o600);
        assert_eq!(http(&config).status, CheckStatus::Ok);
        chmod(&secret, 0o644);
        assert_eq!(http(&config).status, CheckStatus::Fail);
        std::fs::write(&secret, "abcd").expect("weak");
        chmod(&secret, 0o600);
        let weak = http(&config);
        assert_eq!(weak.status, CheckStatus::Fail);
        assert!(weak.detail.contains("32 random bytes"), "{weak:?}");
        std::fs::write(&secret, crate::hex::encode(&[9u8; 32])).expect("secret");
        config.http.bind = "0.0.0.0:8686".parse().expect("addr");
        config.http.behind_proxy = true;
        assert_eq!(http(&config).status, CheckStatus::Warn);
        config.http.behind_proxy = false;
        assert_eq!(http(&config).status, CheckStatus::Fail);
    }

    #[test]
    fn verbose_or_silent_logging_is_a_warning() {
        let t = tempfile::tempdir().expect("tempdir");
        let mut config = Config::for_dir(t.path());
        assert_eq!(logs(&config).status, CheckStatus::Ok);
        config.log.level = "tradingd=debug,info".into();
        assert_eq!(logs(&config).status, CheckStatus::Warn);
        config.log.level = "off".into();
        assert_eq!(logs(&config).status, CheckStatus::Warn);
        assert_eq!(secrets(&config).status, CheckStatus::Ok, "no live venue");
    }

    /// Answers every request with Binance's time, `skew_ms` off ours.
    fn time_server(skew_ms: i64) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming().take(4) {
                let Ok(mut s) = stream else { continue };
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let now = chrono::Utc::now()
                    .timestamp_millis()
                    .saturating_add(skew_ms);
                let body = format!("{{\"serverTime\":{now}}}");
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        format!("http://{addr}")
    }

    fn with_venue(t: &Path, rest_url: String) -> Config {
        let mut config = Config::for_dir(t);
        config.binance = Some(crate::config::BinanceConfig {
            live: false,
            rest_url,
            ws_url: "ws://127.0.0.1:1".into(),
            symbols: vec!["BTCUSDT".into()],
            recv_window_ms: 5000,
            timeout: Duration::from_secs(2),
            reconcile_every: Duration::from_mins(1),
            rotate_after: Duration::from_hours(1),
            keys: "binance".into(),
        });
        config
    }

    #[tokio::test]
    async fn the_clock_is_checked_against_the_venues() {
        let t = tempfile::tempdir().expect("tempdir");
        let synced = clock(&with_venue(t.path(), time_server(0))).await;
        assert_eq!(synced.status, CheckStatus::Ok, "{synced:?}");
        let late = clock(&with_venue(t.path(), time_server(10_000))).await;
        assert_eq!(late.status, CheckStatus::Fail, "{late:?}");
        assert!(
            late.fix
                .as_deref()
                .unwrap_or_default()
                .contains("sync the clock")
        );
        let off = clock(&with_venue(t.path(), time_server(-800))).await;
        assert_eq!(off.status, CheckStatus::Warn, "{off:?}");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", closed.local_addr().expect("addr"));
        drop(closed);
        assert_eq!(
            clock(&with_venue(t.path(), url)).await.status,
            CheckStatus::Warn
        );
    }

    #[test]
    fn old_logs_and_backups_go_beyond_their_limits_and_nothing_else_does() {
        let t = tempfile::tempdir().expect("tempdir");
        for (day, len) in [("01", 400), ("02", 400), ("03", 400)] {
            std::fs::write(
                t.path().join(format!("tradingd.2026-12-{day}.log")),
                vec![b'x'; len],
            )
            .expect("log");
        }
        std::fs::write(t.path().join("other.log"), vec![b'x'; 5000]).expect("other");
        assert_eq!(prune_logs(t.path(), 900), vec!["tradingd.2026-12-01.log"]);
        assert!(prune_logs(t.path(), 900).is_empty());
        // The newest is never deleted, however small the limit.
        assert_eq!(prune_logs(t.path(), 1), vec!["tradingd.2026-12-02.log"]);
        assert!(t.path().join("tradingd.2026-12-03.log").exists());
        assert!(t.path().join("other.log").exists());

        for n in [
            "tradedesk-20261201.db",
            "tradedesk-20261202.db",
            "tradedesk-20261203.db",
        ] {
            std::fs::write(t.path().join(n), "").expect("backup");
        }
        assert_eq!(
            rotate_backups(t.path(), 1).expect("rotate"),
            vec!["tradedesk-20261201.db", "tradedesk-20261202.db"]
        );
        assert!(t.path().join("tradedesk-20261203.db").exists());
        assert!(t.path().join("other.log").exists());
    }

    #[test]
    fn a_backup_is_whole_never_replaces_a_file_and_restores_with_the_old_database_kept() {
        let t = tempfile::tempdir().expect("tempdir");
        let config = Config::for_dir(t.path());
        std::fs::create_dir_all(&config.data_dir).expect("mkdir");
        drop(Store::open(&config.db_path()).expect("store"));
        let to = t.path().join("b.db");
        let done = backup(&config.db_path(), &to).expect("backup");
        assert_eq!(done.schema_version, SCHEMA_VERSION);
        assert!(done.bytes > 0);
        assert_eq!(
            std::fs::metadata(&to).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        let again = check_backup_path(&to.display().to_string()).expect_err("exists");
        assert!(again.contains("never replaces"), "{again}");
        assert!(check_backup_path("relative.db").is_err());
        assert!(check_backup_path("/no/such/dir/b.db").is_err());
        // The directory holds nothing but the backup: no partial file left.
        let names: Vec<_> = std::fs::read_dir(t.path())
            .expect("ls")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");

        let r = restore(&config, &to).expect("restore");
        assert!(r.kept.as_deref().is_some_and(|k| Path::new(k).exists()));
        assert_eq!(database(&config.db_path()).status, CheckStatus::Ok);
        // Not a database of ours: refused, nothing changed.
        let junk = t.path().join("junk.db");
        std::fs::write(&junk, b"not sqlite").expect("junk");
        let before = std::fs::read(config.db_path()).expect("read");
        let refused = restore(&config, &junk).expect_err("junk");
        assert!(refused.contains("junk.db"), "{refused}");
        assert_eq!(std::fs::read(config.db_path()).expect("read"), before);
        let left: Vec<_> = std::fs::read_dir(&config.data_dir)
            .expect("ls")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("restoring"))
            .map(|e| e.file_name())
            .collect();
        assert!(
            left.is_empty(),
            "nothing of the refused copy stays: {left:?}"
        );
    }
}
