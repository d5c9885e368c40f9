//! Strategy configs, bots, their books (balances and positions), event
//! logs and equity samples.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use super::trading::{corrupt, dec, ledger_where, positions_where};
use tradedesk_core::api::bots::{BotEvent, BotEventKind, BotRecord, BotStatus};
use tradedesk_core::api::strategies::StrategyRecord;
use tradedesk_core::instrument::Symbol;
use tradedesk_core::ledger::{Ledger, Position};
use tradedesk_core::money::Qty;
use tradedesk_core::strategy::StrategySpec;
use tradedesk_core::time::Timestamp;

fn json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|_| corrupt(what, s))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

// ---- strategy configs ------------------------------------------------------

const STRATEGY_COLUMNS: &str = "id, name, owner, spec, created_ms, updated_ms";

fn strategy_from_row(r: &Row<'_>) -> Result<StrategyRecord, StoreError> {
    let spec: String = r.get(3)?;
    Ok(StrategyRecord {
        id: r.get::<_, i64>(0)? as u64,
        name: r.get(1)?,
        owner: r.get(2)?,
        spec: json("strategy spec", &spec)?,
        created: Timestamp(r.get(4)?),
        updated: Timestamp(r.get(5)?),
    })
}

pub fn insert_strategy(
    conn: &Connection,
    name: &str,
    owner: &str,
    spec: &StrategySpec,
    now: Timestamp,
) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO strategies (name, owner, spec, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
    )?
    .execute(params![name, owner, to_json(spec), now.millis()])?;
    Ok(conn.last_insert_rowid() as u64)
}

pub fn update_strategy(
    conn: &Connection,
    id: u64,
    name: &str,
    spec: &StrategySpec,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE strategies SET name = ?2, spec = ?3, updated_ms = ?4 WHERE id = ?1",
    )?
    .execute(params![id as i64, name, to_json(spec), now.millis()])?;
    Ok(())
}

pub fn delete_strategy(conn: &Connection, id: u64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM strategies WHERE id = ?1")?
        .execute([id as i64])?
        > 0)
}

pub fn strategy_by_id(conn: &Connection, id: u64) -> Result<Option<StrategyRecord>, StoreError> {
    let sql = format!("SELECT {STRATEGY_COLUMNS} FROM strategies WHERE id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([id as i64])?;
    rows.next()?.map(strategy_from_row).transpose()
}

pub fn strategy_by_name(
    conn: &Connection,
    owner: &str,
    name: &str,
) -> Result<Option<StrategyRecord>, StoreError> {
    let sql = format!("SELECT {STRATEGY_COLUMNS} FROM strategies WHERE owner = ?1 AND name = ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![owner, name])?;
    rows.next()?.map(strategy_from_row).transpose()
}

pub fn list_strategies(
    conn: &Connection,
    owner: Option<&str>,
    before_id: Option<u64>,
    limit: u32,
) -> Result<Vec<StrategyRecord>, StoreError> {
    let sql = format!(
        "SELECT {STRATEGY_COLUMNS} FROM strategies WHERE (?1 IS NULL OR owner = ?1) AND id < ?2 ORDER BY id DESC LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![
        owner,
        before_id.map_or(i64::MAX, |v| v as i64),
        i64::from(limit)
    ])?;
    super::collect(&mut rows, strategy_from_row)
}

// ---- bots ------------------------------------------------------------------

const BOT_COLUMNS: &str = "b.id, b.name, b.owner, a.name, b.strategy_id, b.spec, b.symbols, b.allocation, \
     b.status, b.reason, b.created_ms, b.updated_ms, b.started_ms";

fn bot_from_row(r: &Row<'_>) -> Result<BotRecord, StoreError> {
    let text = |i: usize| -> Result<String, StoreError> { Ok(r.get::<_, String>(i)?) };
    let status = text(8)?;
    Ok(BotRecord {
        id: r.get::<_, i64>(0)? as u64,
        name: text(1)?,
        owner: text(2)?,
        account: text(3)?,
        strategy_id: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
        spec: json("bot spec", &text(5)?)?,
        symbols: json("bot symbols", &text(6)?)?,
        allocation: json("bot allocation", &text(7)?)?,
        status: BotStatus::parse(&status).ok_or_else(|| corrupt("bot status", &status))?,
        reason: r.get(9)?,
        created: Timestamp(r.get(10)?),
        updated: Timestamp(r.get(11)?),
        started: r.get::<_, Option<i64>>(12)?.map(Timestamp),
        // Deleted rows are never read back.
        deleted: None,
    })
}

/// Inserts a bot and returns its id.
pub fn insert_bot(conn: &Connection, account_id: i64, b: &BotRecord) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO bots (name, owner, account_id, strategy_id, spec, symbols, allocation, status, reason,
            created_ms, updated_ms, started_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        b.name,
        b.owner,
        account_id,
        b.strategy_id.map(|v| v as i64),
        to_json(&b.spec),
        to_json(&b.symbols),
        to_json(&b.allocation),
        b.status.as_str(),
        b.reason,
        b.created.millis(),
        b.updated.millis(),
        b.started.map(Timestamp::millis),
    ])?;
    Ok(conn.last_insert_rowid() as u64)
}

/// Writes a bot's mutable fields.
pub fn update_bot(conn: &Connection, b: &BotRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE bots SET name = ?2, spec = ?3, allocation = ?4, status = ?5, reason = ?6, updated_ms = ?7,
            started_ms = ?8 WHERE id = ?1",
    )?
    .execute(params![
        b.id as i64,
        b.name,
        to_json(&b.spec),
        to_json(&b.allocation),
        b.status.as_str(),
        b.reason,
        b.updated.millis(),
        b.started.map(Timestamp::millis),
    ])?;
    Ok(())
}

pub fn mark_bot_deleted(conn: &Connection, id: u64, now: Timestamp) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE bots SET deleted_ms = ?2, updated_ms = ?2 WHERE id = ?1")?
        .execute(params![id as i64, now.millis()])?;
    conn.prepare_cached("DELETE FROM bot_balances WHERE bot_id = ?1")?
        .execute([id as i64])?;
    clear_bot_positions(conn, id)
}

/// Bots that are not deleted, by filter, newest first.
pub fn list_bots(
    conn: &Connection,
    owner: Option<&str>,
    status: Option<BotStatus>,
    before_id: Option<u64>,
    limit: u32,
) -> Result<Vec<BotRecord>, StoreError> {
    let sql = format!(
        "SELECT {BOT_COLUMNS} FROM bots b JOIN accounts a ON a.id = b.account_id
         WHERE b.deleted_ms IS NULL AND (?1 IS NULL OR b.owner = ?1) AND (?2 IS NULL OR b.status = ?2)
            AND b.id < ?3 ORDER BY b.id DESC LIMIT ?4"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![
        owner,
        status.map(BotStatus::as_str),
        before_id.map_or(i64::MAX, |v| v as i64),
        i64::from(limit)
    ])?;
    super::collect(&mut rows, bot_from_row)
}

pub fn bot_by_id(conn: &Connection, id: u64) -> Result<Option<BotRecord>, StoreError> {
    let sql = format!(
        "SELECT {BOT_COLUMNS} FROM bots b JOIN accounts a ON a.id = b.account_id
         WHERE b.id = ?1 AND b.deleted_ms IS NULL"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([id as i64])?;
    rows.next()?.map(bot_from_row).transpose()
}

pub fn bot_name_taken(conn: &Connection, owner: &str, name: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM bots WHERE owner = ?1 AND name = ?2 AND deleted_ms IS NULL")?
        .query_row(params![owner, name], |_| Ok(()))
        .optional()?
        .is_some())
}

pub fn save_bot_state(
    conn: &Connection,
    id: u64,
    state: &serde_json::Value,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE bots SET state = ?2 WHERE id = ?1")?
        .execute(params![id as i64, to_json(state)])?;
    Ok(())
}

pub fn bot_state(conn: &Connection, id: u64) -> Result<serde_json::Value, StoreError> {
    let s: Option<String> = conn
        .prepare_cached("SELECT state FROM bots WHERE id = ?1")?
        .query_row([id as i64], |r| r.get(0))
        .optional()?;
    s.map_or(Ok(serde_json::Value::Null), |s| json("bot state", &s))
}

/// The highest tag sequence number among a bot's orders.
pub fn max_bot_seq(conn: &Connection, id: u64, prefix: &str) -> Result<u64, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT client_order_id FROM orders WHERE bot_id = ?1")?;
    let mut rows = stmt.query([id as i64])?;
    let mut max = 0;
    while let Some(r) = rows.next()? {
        let tag: String = r.get(0)?;
        if let Some((seq, _)) = tradedesk_core::portfolio::parse_tag(prefix, &tag) {
            max = max.max(seq);
        }
    }
    Ok(max)
}

// ---- books -----------------------------------------------------------------

pub fn save_bot_ledger(conn: &Connection, id: u64, ledger: &Ledger) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO bot_balances (bot_id, asset, free, locked, borrowed) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (bot_id, asset) DO UPDATE SET free = excluded.free, locked = excluded.locked,
            borrowed = excluded.borrowed",
    )?;
    for (asset, b) in ledger.balances() {
        stmt.execute(params![
            id as i64,
            asset,
            b.free.to_string(),
            b.locked.to_string(),
            b.borrowed.to_string()
        ])?;
    }
    Ok(())
}

pub fn save_bot_position(
    conn: &Connection,
    id: u64,
    symbol: &Symbol,
    p: &Position,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO bot_positions (bot_id, symbol, qty, cost, realized, fees, updated_ms, open_fees) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (bot_id, symbol) DO UPDATE SET qty = excluded.qty, cost = excluded.cost,
            realized = excluded.realized, fees = excluded.fees, updated_ms = excluded.updated_ms,
            open_fees = excluded.open_fees",
    )?
    .execute(params![
        id as i64,
        symbol.as_str(),
        p.qty.to_string(),
        p.cost.to_string(),
        p.realized.to_string(),
        p.fees.to_string(),
        now.millis(),
        p.open_fees.to_string()
    ])?;
    Ok(())
}

/// Forgets a bot's positions (its book was released into the manual book).
pub fn clear_bot_positions(conn: &Connection, id: u64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM bot_positions WHERE bot_id = ?1")?
        .execute([id as i64])?;
    Ok(())
}

/// A stored bot book: bot id, balances, positions.
/// A bot's book as stored: its id and its sub-ledger (allocation included).
pub type BotBook = (u64, tradedesk_core::ledger::SubLedger);

/// Every live bot's book in an account.
pub fn load_bot_books(conn: &Connection, account_id: i64) -> Result<Vec<BotBook>, StoreError> {
    let mut ids = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT id, allocation FROM bots WHERE account_id = ?1 AND deleted_ms IS NULL ORDER BY id",
        )?;
        let mut rows = stmt.query([account_id])?;
        while let Some(r) = rows.next()? {
            let allocated: BTreeMap<String, tradedesk_core::money::Qty> =
                json("bot allocation", &r.get::<_, String>(1)?)?;
            ids.push((r.get::<_, i64>(0)? as u64, allocated));
        }
    }
    let mut out = Vec::new();
    for (id, allocated) in ids {
        let ledger = ledger_where(
            conn,
            "SELECT asset, free, locked, borrowed FROM bot_balances WHERE bot_id = ?1",
            id as i64,
        )?;
        let positions = positions_where(
            conn,
            "SELECT symbol, qty, cost, realized, fees, open_fees FROM bot_positions WHERE bot_id = ?1",
            id as i64,
        )?;
        out.push((
            id,
            tradedesk_core::ledger::SubLedger {
                ledger,
                positions,
                allocated,
            },
        ));
    }
    Ok(out)
}

// ---- events and equity -----------------------------------------------------

pub fn insert_bot_event(
    conn: &Connection,
    bot_id: u64,
    time: Timestamp,
    kind: BotEventKind,
    message: &str,
    data: Option<&serde_json::Value>,
) -> Result<BotEvent, StoreError> {
    conn.prepare_cached(
        "INSERT INTO bot_events (bot_id, time_ms, kind, message, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        bot_id as i64,
        time.millis(),
        kind.as_str(),
        message,
        data.map(to_json)
    ])?;
    Ok(BotEvent {
        id: conn.last_insert_rowid() as u64,
        bot_id,
        time,
        kind,
        message: message.to_owned(),
        data: data.cloned(),
    })
}

pub fn list_bot_events(
    conn: &Connection,
    bot_id: u64,
    before_id: Option<u64>,
    limit: u32,
) -> Result<Vec<BotEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, time_ms, kind, message, data FROM bot_events WHERE bot_id = ?1 AND id < ?2
         ORDER BY id DESC LIMIT ?3",
    )?;
    let mut rows = stmt.query(params![
        bot_id as i64,
        before_id.map_or(i64::MAX, |v| v as i64),
        i64::from(limit)
    ])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let kind: String = r.get(2)?;
        let data: Option<String> = r.get(4)?;
        out.push(BotEvent {
            id: r.get::<_, i64>(0)? as u64,
            bot_id,
            time: Timestamp(r.get(1)?),
            kind: BotEventKind::parse(&kind).ok_or_else(|| corrupt("bot event kind", &kind))?,
            message: r.get(3)?,
            data: data.map(|d| json("bot event data", &d)).transpose()?,
        });
    }
    Ok(out)
}

pub fn insert_bot_equity(
    conn: &Connection,
    bot_id: u64,
    time: Timestamp,
    equity: Qty,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO bot_equity (bot_id, time_ms, equity) VALUES (?1, ?2, ?3)
         ON CONFLICT (bot_id, time_ms) DO UPDATE SET equity = excluded.equity",
    )?
    .execute(params![bot_id as i64, time.millis(), equity.to_string()])?;
    Ok(())
}

/// A bot's equity samples in `[start, end]`, oldest first.
pub fn equity_series(
    conn: &Connection,
    bot_id: u64,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Result<Vec<(Timestamp, f64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT time_ms, equity FROM bot_equity WHERE bot_id = ?1 AND time_ms >= ?2 AND time_ms <= ?3
          ORDER BY time_ms",
    )?;
    let mut rows = stmt.query(params![
        bot_id as i64,
        start.map_or(i64::MIN, Timestamp::millis),
        end.map_or(i64::MAX, Timestamp::millis)
    ])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let e: String = r.get(1)?;
        let e: Qty = dec("bot equity", &e)?;
        out.push((
            Timestamp(r.get(0)?),
            rust_decimal::prelude::ToPrimitive::to_f64(&e.get()).unwrap_or(0.0),
        ));
    }
    Ok(out)
}

/// The largest fall from a running peak over a bot's equity samples, as a
/// fraction of the peak, and the number of samples.
pub fn bot_drawdown(
    conn: &Connection,
    bot_id: u64,
) -> Result<(Option<rust_decimal::Decimal>, u64), StoreError> {
    use rust_decimal::Decimal;
    let mut stmt =
        conn.prepare_cached("SELECT equity FROM bot_equity WHERE bot_id = ?1 ORDER BY time_ms")?;
    let mut rows = stmt.query([bot_id as i64])?;
    let (mut peak, mut worst, mut n) = (Decimal::ZERO, None::<Decimal>, 0u64);
    while let Some(r) = rows.next()? {
        let e: String = r.get(0)?;
        let e: Qty = dec("bot equity", &e)?;
        n = n.saturating_add(1);
        peak = peak.max(e.get());
        if peak > Decimal::ZERO
            && let Some(dd) = peak.checked_sub(e.get()).and_then(|d| d.checked_div(peak))
        {
            worst = Some(worst.map_or(dd, |w| w.max(dd)));
        }
    }
    Ok((worst, n))
}
