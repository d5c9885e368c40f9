//! Crash: kill -9 at random moments during a multi-client order flood, over
//! and over, and after each restart everything acknowledged is there,
//! nothing twice, no status went back, and the ledger adds up exactly.
//!
//! Default: a handful of rounds. A soak: `TRADEDESK_CRASH_ROUNDS=200 cargo
//! test -p tradedesk-tests --release --test crash -- --nocapture`.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tradedesk_core::client::Client;
use tradedesk_tests::{Daemon, figure, rounds};

const CLIENTS: usize = 4;
const START_USDT: &str = "100000000";

/// What a client was told about an order it placed.
#[derive(Debug, Clone)]
struct Ack {
    cid: String,
    status: String,
}

fn rank(status: &str) -> u8 {
    match status {
        "new" => 0,
        "pending" => 1,
        "accepted" => 2,
        "partially_filled" => 3,
        _ => 4,
    }
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|e| panic!("`{s}` is not a decimal: {e}"))
}

/// One client's flood until `stop` (or the daemon dies): market and limit
/// orders on three symbols, cancels of its own resting orders.
fn flood(socket: &std::path::Path, who: usize, round: usize, stop: &AtomicBool) -> Vec<Ack> {
    let mut acks = Vec::new();
    let Ok(mut c) = Client::connect(socket) else {
        return acks;
    };
    let _ = c.set_timeout(Some(Duration::from_secs(5)));
    let symbols = [
        ("BTCUSDT", "0.001", "30000"),
        ("ETHUSDT", "0.01", "1500"),
        ("SOLUSDT", "0.1", "70"),
    ];
    let mut resting: Vec<u64> = Vec::new();
    let mut n = 0_usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let (symbol, qty, low) = symbols[n % 3];
        let cid = format!("k{round}-{who}-{n}");
        let order = match n % 5 {
            0 | 1 => {
                json!({ "symbol": symbol, "side": "buy", "type": "market", "qty": qty, "client_order_id": cid })
            }
            2 => {
                json!({ "symbol": symbol, "side": "sell", "type": "market", "qty": qty, "client_order_id": cid })
            }
            _ => {
                json!({ "symbol": symbol, "side": "buy", "type": "limit", "qty": qty, "price": low, "client_order_id": cid })
            }
        };
        match c.call_raw("orders.place", &order) {
            Ok(o) => {
                if o["status"] == "accepted" {
                    resting.push(o["id"].as_u64().unwrap_or_default());
                }
                acks.push(Ack {
                    cid,
                    status: o["status"].as_str().unwrap_or_default().to_owned(),
                });
            }
            // A sell of what is not held, a refused order: fine.
            Err(tradedesk_core::client::ClientError::Api(_)) => {}
            // The daemon died: the flood ends.
            Err(_) => return acks,
        }
        if n.is_multiple_of(7)
            && let Some(id) = resting.pop()
            && c.call_raw("orders.cancel", &json!({ "id": id })).is_err()
            && !tradedesk_core::client::launch::is_running(socket)
        {
            return acks;
        }
    }
    acks
}

/// An order as stored: id, status, filled, reserved, reserved asset.
type Stored = (u64, String, String, String, String);

fn rows<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    conn.prepare(sql)
        .expect("prepare")
        .query_map([], f)
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

/// What was acknowledged against what is stored: (found, lost,
/// regressions), with a line per regression.
fn acknowledged(
    orders: &HashMap<String, Stored>,
    acks: &[Ack],
    out: &mut Vec<String>,
) -> (usize, usize, usize) {
    let (mut found, mut lost, mut regressions) = (0, 0, 0);
    for a in acks {
        match orders.get(&a.cid) {
            None => lost += 1,
            Some((_, status, ..)) => {
                found += 1;
                let back =
                    rank(status) < rank(&a.status) || (rank(&a.status) == 4 && status != &a.status);
                if back {
                    regressions += 1;
                    out.push(format!(
                        "{}: acknowledged {}, stored {status}",
                        a.cid, a.status
                    ));
                }
            }
        }
    }
    (found, lost, regressions)
}

/// The ledger against the fills: balances = start + fills − fees, locked =
/// what open orders reserve, positions = fills, filled = the order's
/// fills; one line per mismatch.
fn ledger(conn: &rusqlite::Connection, orders: &HashMap<String, Stored>, out: &mut Vec<String>) {
    let fills = rows(
        conn,
        "SELECT order_id, symbol, side, qty, price, fee FROM fills",
        |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                dec(&r.get::<_, String>(3)?),
                dec(&r.get::<_, String>(4)?),
                dec(&r.get::<_, String>(5)?),
            ))
        },
    );
    let mut expect: BTreeMap<String, Decimal> = BTreeMap::new();
    expect.insert("USDT".into(), dec(START_USDT));
    let mut position: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut filled: HashMap<u64, Decimal> = HashMap::new();
    for (order, symbol, side, qty, price, fee) in &fills {
        let base = symbol.trim_end_matches("USDT").to_owned();
        let value = qty * price;
        let (q, b) = if side == "buy" {
            (-value - fee, *qty)
        } else {
            (value - fee, -qty)
        };
        *expect.entry("USDT".into()).or_default() += q;
        *expect.entry(base).or_default() += b;
        *position.entry(symbol.clone()).or_default() += b;
        *filled.entry(*order).or_default() += qty;
    }
    let mut locked_by_orders: BTreeMap<String, Decimal> = BTreeMap::new();
    for (id, status, f, reserved, asset) in orders.values() {
        let by_fills = filled.get(id).copied().unwrap_or_default();
        if dec(f) != by_fills {
            out.push(format!("order {id}: filled {f}, its fills {by_fills}"));
        }
        if rank(status) < 4 {
            *locked_by_orders.entry(asset.clone()).or_default() += dec(reserved);
        } else if dec(reserved) != Decimal::ZERO {
            out.push(format!("a {status} order still holds {reserved} {asset}"));
        }
    }
    let balances = rows(conn, "SELECT asset, free, locked FROM balances", |r| {
        Ok((
            r.get::<_, String>(0)?,
            dec(&r.get::<_, String>(1)?),
            dec(&r.get::<_, String>(2)?),
        ))
    });
    for (asset, free, locked) in &balances {
        let want = expect.get(asset).copied().unwrap_or_default();
        if free + locked != want {
            out.push(format!(
                "{asset}: balance {}, fills and fees say {want}",
                free + locked
            ));
        }
        let held = locked_by_orders.get(asset).copied().unwrap_or_default();
        if *locked != held {
            out.push(format!("{asset}: locked {locked}, open orders hold {held}"));
        }
        if free.is_sign_negative() {
            out.push(format!("{asset}: free {free} is negative"));
        }
    }
    let stored: BTreeMap<String, Decimal> = rows(conn, "SELECT symbol, qty FROM positions", |r| {
        Ok((r.get::<_, String>(0)?, dec(&r.get::<_, String>(1)?)))
    })
    .into_iter()
    .collect();
    for (symbol, qty) in &position {
        let have = stored.get(symbol).copied().unwrap_or_default();
        if have != *qty {
            out.push(format!("{symbol}: position {have}, fills say {qty}"));
        }
    }
}

/// The database, read as one snapshot, checked against what was
/// acknowledged. Returns (found, lost, duplicated, regressions, and a line
/// per mismatch: integrity, statuses, ledger).
fn check(db: &std::path::Path, acks: &[Ack]) -> (usize, usize, usize, usize, Vec<String>) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the database");
    conn.execute_batch("BEGIN").expect("snapshot");
    let mut mismatches = Vec::new();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    if integrity != "ok" {
        mismatches.push(format!("integrity_check: {integrity}"));
    }
    let orders: HashMap<String, Stored> = rows(
        &conn,
        "SELECT client_order_id, id, status, filled, reserved, reserved_asset FROM orders",
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                (
                    r.get::<_, i64>(1)? as u64,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ),
            ))
        },
    )
    .into_iter()
    .collect();
    let duplicated = conn
        .query_row(
            "SELECT count(*) FROM (SELECT client_order_id FROM orders GROUP BY client_order_id HAVING count(*) > 1)",
            [],
            |r| r.get::<_, i64>(0),
        )
        .expect("duplicates") as usize;
    let (found, lost, regressions) = acknowledged(&orders, acks, &mut mismatches);
    ledger(&conn, &orders, &mut mismatches);
    conn.execute_batch("COMMIT").expect("end snapshot");
    (found, lost, duplicated, regressions, mismatches)
}

#[test]
fn kill_9_during_an_order_flood_loses_nothing_and_the_ledger_adds_up() {
    let n = rounds("TRADEDESK_CRASH_ROUNDS", 8);
    let mut d = Daemon::start_with(&format!(
        "[sim]\ntick_ms = 20\n[sim.initial_balances]\nUSDT = \"{START_USDT}\"\n"
    ));
    let mut acks: Vec<Ack> = Vec::new();
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let started = Instant::now();
    for round in 0..n {
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..CLIENTS)
            .map(|who| {
                let (socket, stop) = (d.socket(), Arc::clone(&stop));
                std::thread::spawn(move || flood(&socket, who, round, &stop))
            })
            .collect();
        // A random moment: 150–650 ms into the flood.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(150 + seed % 500));
        d.kill9();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            acks.extend(w.join().expect("a flood thread"));
        }
        d.spawn();
    }
    // The last restart has reconciled; read everything as one snapshot.
    let (found, lost, duplicated, regressions, mismatches) = check(&d.db_path(), &acks);
    figure("crash", "rounds of kill -9 during a 4-client flood", n);
    figure("crash", "orders acknowledged", acks.len());
    figure("crash", "acknowledged and found", found);
    figure("crash", "lost", lost);
    figure("crash", "duplicated client_order_id", duplicated);
    figure("crash", "status regressions", regressions);
    figure("crash", "ledger mismatches", mismatches.len());
    figure(
        "crash",
        "time",
        format!("{:.1} s", started.elapsed().as_secs_f64()),
    );
    assert!(!acks.is_empty(), "the flood placed orders");
    assert_eq!((lost, duplicated, regressions), (0, 0, 0), "{mismatches:?}");
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    // And the daemon trades on.
    let o = d
        .client()
        .call_raw(
            "orders.place",
            &json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
        )
        .expect("an order after the crashes");
    assert_eq!(o["status"], Value::from("filled"));
}
