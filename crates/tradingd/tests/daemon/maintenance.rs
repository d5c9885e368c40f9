//! Backups while trading, restore, and the daemon's readiness checks.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tradingd::config::Config;

use super::support::{TestDaemon, call};

/// Per account and asset: the balance (free + locked) minus what the fills
/// moved. Equal in two copies of one ledger exactly when each copy's
/// balances match its own fills.
fn unexplained(db: &Path) -> BTreeMap<(i64, String), Decimal> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open");
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(integrity, "ok", "{}", db.display());
    let dec = |s: String| s.parse::<Decimal>().expect("decimal");
    let mut out: BTreeMap<(i64, String), Decimal> = BTreeMap::new();
    let mut st = conn
        .prepare("SELECT account_id, asset, free, locked FROM balances")
        .expect("balances");
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get(2)?,
                r.get(3)?,
            ))
        })
        .expect("query");
    for row in rows {
        let (a, asset, free, locked) = row.expect("row");
        *out.entry((a, asset)).or_default() += dec(free) + dec(locked);
    }
    let mut st = conn
        .prepare(
            "SELECT f.account_id, f.symbol, f.side, f.qty, f.price, f.fee, f.fee_asset
             FROM fills f",
        )
        .expect("fills");
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })
        .expect("query");
    for row in rows {
        let (a, symbol, side, qty, price, fee, fee_asset) = row.expect("row");
        let base = symbol
            .strip_suffix("USDT")
            .expect("a USDT symbol")
            .to_owned();
        let (qty, price, fee) = (dec(qty), dec(price), dec(fee));
        let sign = if side == "buy" {
            Decimal::ONE
        } else {
            Decimal::NEGATIVE_ONE
        };
        *out.entry((a, base)).or_default() -= sign * qty;
        *out.entry((a, "USDT".into())).or_default() += sign * qty * price;
        *out.entry((a, fee_asset)).or_default() += fee;
    }
    out.retain(|_, v| !v.is_zero());
    out
}

fn fills_in(db: &Path) -> i64 {
    rusqlite::Connection::open(db)
        .expect("open")
        .query_row("SELECT count(*) FROM fills", [], |r| r.get(0))
        .expect("count")
}

#[test]
fn a_backup_taken_during_an_order_flood_restores_whole_with_its_ledger_matching_its_fills() {
    let d = TestDaemon::start();
    let mut c = d.client();
    let dir = tempfile::tempdir().expect("tempdir");
    // Before any order: the ledger's starting point.
    let first = dir.path().join("before.db");
    call(&mut c, "system.backup", json!({ "path": first }));
    assert_eq!(fills_in(&first), 0);

    let stop = Arc::new(AtomicBool::new(false));
    let placed = Arc::new(AtomicU64::new(0));
    let flood = {
        let (stop, placed) = (stop.clone(), placed.clone());
        let mut c = d.client();
        std::thread::spawn(move || {
            let mut side = "buy";
            while !stop.load(Ordering::Relaxed) {
                call(
                    &mut c,
                    "orders.place",
                    json!({ "symbol": "BTCUSDT", "side": side, "type": "market", "qty": "0.001" }),
                );
                side = if side == "buy" { "sell" } else { "buy" };
                placed.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while placed.load(Ordering::Relaxed) < 50 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let during = dir.path().join("during.db");
    let done = call(&mut c, "system.backup", json!({ "path": during }));
    let at_backup = placed.load(Ordering::Relaxed);
    while placed.load(Ordering::Relaxed) < at_backup + 50 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    flood.join().expect("flood");
    assert_eq!(done["schema_version"], tradingd::store::SCHEMA_VERSION);

    // Restored into a fresh data dir: whole, and its balances are what its
    // own fills made of the starting ledger.
    let target = tempfile::tempdir().expect("tempdir");
    let config = Config::for_dir(target.path());
    let restored = tradingd::maintenance::restore(&config, &during).expect("restore");
    assert!(
        restored.kept.is_none(),
        "a fresh data dir had nothing to keep"
    );
    let fills = fills_in(&config.db_path());
    assert!(
        fills >= 50,
        "the backup holds the fills made before it: {fills}"
    );
    assert!(
        fills < fills_in(&d.data_dir.join("tradedesk.db")),
        "and not those made after it"
    );
    assert_eq!(unexplained(&config.db_path()), unexplained(&first));
    // A daemon starts on it and sees the same fills.
    let back = TestDaemon::start_in(target, |_| {});
    let trades = call(&mut back.client(), "trades.list", json!({ "limit": 1000 }));
    let listed = trades["items"].as_array().map_or(0, Vec::len);
    assert_eq!(i64::try_from(listed).expect("count"), fills);
}

#[test]
fn a_backup_names_the_path_at_fault_and_is_refused_over_http() {
    let d = TestDaemon::start_with(|c| {
        c.http.enabled = true;
        c.http.bind = "127.0.0.1:0".parse().expect("addr");
    });
    let mut c = d.client();
    let dir = tempfile::tempdir().expect("tempdir");
    let existing = dir.path().join("exists.db");
    std::fs::write(&existing, "keep me").expect("write");
    for (path, says) in [
        (json!("relative.db"), "absolute"),
        (json!(existing), "never replaces"),
        (json!("/no/such/dir/x.db"), "does not exist"),
    ] {
        let e = c
            .call_raw("system.backup", &json!({ "path": path }))
            .expect_err("refused");
        assert!(e.to_string().contains(says), "{path}: {e}");
        assert!(e.to_string().contains("path"), "{e}");
    }
    assert_eq!(std::fs::read_to_string(&existing).expect("read"), "keep me");
    // Over HTTP: an administrator is told where to run it.
    call(
        &mut c,
        "users.create",
        json!({ "name": "root", "password": "backup test pass", "role": "admin" }),
    );
    let url = format!("http://{}", d.http.expect("http"));
    let mut http = super::support::http_login(&url, "root", "backup test pass");
    let e = http
        .call_raw(
            "system.backup",
            &json!({ "path": dir.path().join("over-http.db") }),
        )
        .expect_err("no paths over HTTP");
    assert!(e.to_string().contains("tradectl backup"), "{e}");
    assert!(!dir.path().join("over-http.db").exists());
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no `{name}` check in {report}"))
}

#[test]
fn the_doctor_finds_bots_without_limits_schedules_that_never_fire_and_dead_jobs() {
    let d = TestDaemon::start();
    let mut c = d.client();
    let clean = call(&mut c, "system.doctor", json!({}));
    for name in [
        "config",
        "data_dir",
        "database",
        "http",
        "secrets",
        "clock",
        "logs",
        "risk_limits",
        "schedules",
        "dead_jobs",
        "health",
    ] {
        assert_eq!(check(&clean, name)["status"], "ok", "{name}: {clean}");
    }

    // A running bot with no limit of its own or its account's.
    let bot = call(
        &mut c,
        "bots.create",
        json!({
            "name": "unguarded",
            "spec": { "strategy": "dca", "params": { "every_bars": 5 }, "sizing": { "mode": "quote", "value": "50" } },
            "symbols": ["BTCUSDT"],
            "allocation": { "USDT": "1000" }
        }),
    );
    call(&mut c, "bots.start", json!({ "id": bot["id"] }));
    // A schedule whose next run is gone (as a cron line that matches no
    // date leaves it).
    let s = call(
        &mut c,
        "jobs.schedules.create",
        json!({ "name": "never", "cron": "0 2 * * *", "tz": "UTC", "kind": "maintenance.vacuum" }),
    );
    rusqlite::Connection::open(d.data_dir.join("tradedesk.db"))
        .expect("open")
        .execute(
            "UPDATE schedules SET next_run_ms = NULL WHERE id = ?1",
            [s["id"].as_i64().expect("id")],
        )
        .expect("update");
    // A job that failed its only attempt.
    let job = call(
        &mut c,
        "jobs.enqueue",
        json!({ "kind": "bot.start", "payload": { "id": 999 }, "max_attempts": 1 }),
    );
    for _ in 0..400 {
        if call(&mut c, "jobs.get", json!({ "id": job["id"] }))["state"] == "dead" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }

    let r = call(&mut c, "system.doctor", json!({}));
    let limits = check(&r, "risk_limits");
    assert_eq!(limits["status"], "warn", "{r}");
    assert!(
        limits["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("unguarded"),
        "{limits}"
    );
    let never = check(&r, "schedules");
    assert_eq!(never["status"], "warn", "{r}");
    assert!(
        never["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("never"),
        "{never}"
    );
    let dead = check(&r, "dead_jobs");
    assert_eq!(dead["status"], "warn", "{r}");
    assert!(
        dead["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("job list"),
        "{dead}"
    );

    // Limits on the account cover its bots.
    call(
        &mut c,
        "risk.limits.set",
        json!({ "scope": "account:paper", "limits": { "max_order_qty": "100" } }),
    );
    let r = call(&mut c, "system.doctor", json!({}));
    assert_eq!(check(&r, "risk_limits")["status"], "ok", "{r}");
}

#[test]
fn a_backup_job_writes_into_its_directory_and_keeps_the_newest() {
    let d = TestDaemon::start();
    let mut c = d.client();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "not a backup").expect("write");
    let wait = |c: &mut tradedesk_core::client::Client, id: &Value| {
        for _ in 0..400 {
            let j = call(c, "jobs.get", json!({ "id": id }));
            if j["state"] == "succeeded" {
                return j;
            }
            assert_ne!(j["state"], "dead", "{j}");
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("job {id} did not finish");
    };
    let mut last = Value::Null;
    for _ in 0..3 {
        let job = call(
            &mut c,
            "jobs.enqueue",
            json!({ "kind": "maintenance.backup", "payload": { "dir": dir.path(), "keep": 2 } }),
        );
        last = wait(&mut c, &job["id"]);
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("ls")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "two backups and the other file: {names:?}");
    assert!(names.contains(&"notes.txt".to_owned()));
    assert_eq!(
        last["result"]["deleted"].as_array().map(Vec::len),
        Some(1),
        "{last}"
    );
    for n in names
        .iter()
        .filter(|n| Path::new(n).extension().is_some_and(|e| e == "db"))
    {
        let conn = rusqlite::Connection::open(dir.path().join(n)).expect("open");
        assert_eq!(
            tradingd::maintenance::verify(&conn),
            Ok(tradingd::store::SCHEMA_VERSION)
        );
    }
    for (payload, field) in [
        (json!({ "dir": "backups" }), "dir"),
        (json!({ "dir": dir.path(), "keep": 0 }), "keep"),
    ] {
        let e = c
            .call_raw(
                "jobs.enqueue",
                &json!({ "kind": "maintenance.backup", "payload": payload }),
            )
            .expect_err("refused");
        assert!(e.to_string().contains(field), "{e}");
    }
}
