//! Rows of the trading core: accounts, balances, orders, fills, positions
//! and 1-minute klines. Every function takes a connection (or a
//! transaction, which derefs to one), so callers group writes atomically.

use std::collections::BTreeMap;
use std::str::FromStr;

use rusqlite::{Connection, Row, params};

use super::StoreError;
use tradedesk_core::api::accounts::{AccountKind, MarginTerms};
use tradedesk_core::instrument::Symbol;
use tradedesk_core::ledger::{Balance, Ledger, Position};
use tradedesk_core::market::Bar;
use tradedesk_core::money::{Notional, Price, Qty};
use tradedesk_core::order::Liquidity;
use tradedesk_core::order::{
    Execution, OrderRecord, OrderStatus, OrderType, Side, TimeInForce, Trail,
};
use tradedesk_core::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub venue: String,
    pub owner: String,
    pub created: Timestamp,
    /// A margin account's terms; `None` for a spot account.
    pub margin: Option<MarginTerms>,
    /// Until when a margin account's borrow interest has been charged.
    pub borrow_charged: Option<Timestamp>,
}

impl Account {
    pub fn kind(&self) -> AccountKind {
        if self.margin.is_some() {
            AccountKind::Margin
        } else {
            AccountKind::Spot
        }
    }
}

pub(super) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} `{value}`"))
}

pub(super) fn dec<T: FromStr>(what: &str, s: &str) -> Result<T, StoreError> {
    s.parse().map_err(|_| corrupt(what, s))
}

fn opt_dec<T: FromStr>(what: &str, s: Option<String>) -> Result<Option<T>, StoreError> {
    s.map(|v| dec(what, &v)).transpose()
}

fn json_value<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|_| corrupt(what, s))
}

pub(super) fn json_enum<T: serde::de::DeserializeOwned>(
    what: &str,
    s: &str,
) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| corrupt(what, s))
}

fn enum_text<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

/// Users (but the local `admin`, who owns `paper`) who own no account.
pub fn users_without_accounts(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM users WHERE name <> 'admin'
            AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.owner = users.name) ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn create_account(
    conn: &Connection,
    name: &str,
    venue: &str,
    owner: &str,
    now: Timestamp,
) -> Result<Account, StoreError> {
    conn.execute(
        "INSERT INTO accounts (name, venue, owner, created_ms) VALUES (?1, ?2, ?3, ?4)",
        params![name, venue, owner, now.millis()],
    )?;
    Ok(Account {
        id: conn.last_insert_rowid(),
        name: name.to_owned(),
        venue: venue.to_owned(),
        owner: owner.to_owned(),
        created: now,
        margin: None,
        borrow_charged: None,
    })
}

/// Makes an account a margin account with `terms`; interest is charged
/// from `now`.
pub fn make_margin(
    conn: &Connection,
    account: &mut Account,
    terms: &MarginTerms,
    now: Timestamp,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(terms).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    conn.execute(
        "UPDATE accounts SET kind = 'margin', margin = ?2, borrow_charged_ms = ?3 WHERE id = ?1",
        params![account.id, json, now.millis()],
    )?;
    account.margin = Some(terms.clone());
    account.borrow_charged = Some(now);
    Ok(())
}

/// Records that a margin account's borrow interest is charged until `at`.
pub fn set_borrow_charged(conn: &Connection, id: i64, at: Timestamp) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE accounts SET borrow_charged_ms = ?2 WHERE id = ?1")?
        .execute(params![id, at.millis()])?;
    Ok(())
}

pub fn accounts(conn: &Connection) -> Result<Vec<Account>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, venue, owner, created_ms, kind, margin, borrow_charged_ms
         FROM accounts ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let kind: String = r.get(5)?;
        let margin = match (kind.as_str(), r.get::<_, Option<String>>(6)?) {
            ("margin", Some(m)) => Some(json_value::<MarginTerms>("margin terms", &m)?),
            ("spot", _) => None,
            (k, _) => return Err(corrupt("account kind", k)),
        };
        out.push(Account {
            id: r.get(0)?,
            name: r.get(1)?,
            venue: r.get(2)?,
            owner: r.get(3)?,
            created: Timestamp(r.get(4)?),
            margin,
            borrow_charged: r.get::<_, Option<i64>>(7)?.map(Timestamp),
        });
    }
    Ok(out)
}

pub fn save_ledger(conn: &Connection, account_id: i64, ledger: &Ledger) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO balances (account_id, asset, free, locked, borrowed) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (account_id, asset) DO UPDATE SET free = excluded.free, locked = excluded.locked,
            borrowed = excluded.borrowed",
    )?;
    for (asset, b) in ledger.balances() {
        stmt.execute(params![
            account_id,
            asset,
            b.free.to_string(),
            b.locked.to_string(),
            b.borrowed.to_string()
        ])?;
    }
    Ok(())
}

pub fn load_ledger(conn: &Connection, account_id: i64) -> Result<Ledger, StoreError> {
    ledger_where(
        conn,
        "SELECT asset, free, locked, borrowed FROM balances WHERE account_id = ?1",
        account_id,
    )
}

/// Balances from a query returning `asset, free, locked, borrowed` for one id.
pub(super) fn ledger_where(conn: &Connection, sql: &str, id: i64) -> Result<Ledger, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query([id])?;
    let mut map = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let asset: String = r.get(0)?;
        let free: String = r.get(1)?;
        let locked: String = r.get(2)?;
        let borrowed: String = r.get(3)?;
        map.insert(
            asset,
            Balance {
                free: dec("balance", &free)?,
                locked: dec("balance", &locked)?,
                borrowed: dec("balance", &borrowed)?,
            },
        );
    }
    Ok(Ledger::from_balances(map))
}

const ORDER_COLUMNS: &str = "o.id, a.name, o.client_order_id, o.symbol, o.side, o.type, o.qty, o.price, o.stop_price, o.trail, \
     o.time_in_force, o.status, o.filled, o.filled_notional, o.fees, o.reserved, o.reserved_asset, o.triggered, \
     o.parent_id, o.oco_id, o.reason, o.owner, o.created_ms, o.updated_ms, o.bot_id";

fn order_from_row(r: &Row<'_>) -> Result<OrderRecord, StoreError> {
    let text = |i: usize| -> Result<String, StoreError> { Ok(r.get::<_, String>(i)?) };
    let opt =
        |i: usize| -> Result<Option<String>, StoreError> { Ok(r.get::<_, Option<String>>(i)?) };
    let filled: Qty = dec("filled", &text(12)?)?;
    let filled_notional: Notional = dec("filled_notional", &text(13)?)?;
    let trail: Option<Trail> = opt(9)?
        .map(|t| serde_json::from_str(&t).map_err(|_| corrupt("trail", &t)))
        .transpose()?;
    let status_text = text(11)?;
    Ok(OrderRecord {
        id: r.get::<_, i64>(0)? as u64,
        account: text(1)?,
        client_order_id: text(2)?,
        symbol: dec("symbol", &text(3)?)?,
        side: json_enum("side", &text(4)?)?,
        order_type: json_enum::<OrderType>("type", &text(5)?)?,
        qty: dec("qty", &text(6)?)?,
        price: opt_dec("price", opt(7)?)?,
        stop_price: opt_dec("stop_price", opt(8)?)?,
        trail,
        time_in_force: json_enum::<TimeInForce>("time_in_force", &text(10)?)?,
        status: OrderStatus::parse(&status_text).ok_or_else(|| corrupt("status", &status_text))?,
        avg_price: if filled.is_zero() {
            None
        } else {
            filled_notional
                .checked_div_qty(filled)
                .map(|p| Price::new(p.get().round_dp(tradedesk_core::money::MAX_SCALE)).normalize())
        },
        filled,
        filled_notional,
        fees: dec("fees", &text(14)?)?,
        reserved: dec("reserved", &text(15)?)?,
        reserved_asset: text(16)?,
        triggered: r.get::<_, i64>(17)? != 0,
        parent_id: r.get::<_, Option<i64>>(18)?.map(|v| v as u64),
        oco_id: r.get::<_, Option<i64>>(19)?.map(|v| v as u64),
        reason: opt(20)?,
        owner: text(21)?,
        created: Timestamp(r.get(22)?),
        updated: Timestamp(r.get(23)?),
        bot_id: r.get::<_, Option<i64>>(24)?.map(|v| v as u64),
    })
}

/// Inserts a new order and returns its id: the record's own, or (when it
/// is 0) the next free one.
pub fn insert_order(
    conn: &Connection,
    account_id: i64,
    o: &OrderRecord,
) -> Result<u64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO orders (id, account_id, client_order_id, symbol, side, type, qty, price, stop_price, trail, time_in_force,
            status, filled, filled_notional, fees, reserved, reserved_asset, triggered, parent_id, oco_id, reason, owner,
            created_ms, updated_ms, bot_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
    )?
    .execute(params![
        (o.id != 0).then_some(o.id as i64),
        account_id,
        o.client_order_id,
        o.symbol.as_str(),
        o.side.as_str(),
        o.order_type.as_str(),
        o.qty.to_string(),
        o.price.map(|p| p.to_string()),
        o.stop_price.map(|p| p.to_string()),
        o.trail.map(|t| serde_json::to_string(&t).unwrap_or_default()),
        o.time_in_force.as_str(),
        o.status.as_str(),
        o.filled.to_string(),
        o.filled_notional.to_string(),
        o.fees.to_string(),
        o.reserved.to_string(),
        o.reserved_asset,
        i64::from(o.triggered),
        o.parent_id.map(|v| v as i64),
        o.oco_id.map(|v| v as i64),
        o.reason,
        o.owner,
        o.created.millis(),
        o.updated.millis(),
        o.bot_id.map(|v| v as i64),
    ])?;
    Ok(conn.last_insert_rowid() as u64)
}

/// Writes an order's mutable fields.
pub fn update_order(conn: &Connection, o: &OrderRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE orders SET qty = ?2, status = ?3, filled = ?4, filled_notional = ?5, fees = ?6, reserved = ?7,
            triggered = ?8, oco_id = ?9, reason = ?10, updated_ms = ?11 WHERE id = ?1",
    )?
    .execute(params![
        o.id as i64,
        o.qty.to_string(),
        o.status.as_str(),
        o.filled.to_string(),
        o.filled_notional.to_string(),
        o.fees.to_string(),
        o.reserved.to_string(),
        i64::from(o.triggered),
        o.oco_id.map(|v| v as i64),
        o.reason,
        o.updated.millis(),
    ])?;
    Ok(())
}

fn query_orders(
    conn: &Connection,
    filter: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<OrderRecord>, StoreError> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders o JOIN accounts a ON a.id = o.account_id {filter}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(args)?;
    super::collect(&mut rows, order_from_row)
}

pub fn order_by_id(conn: &Connection, id: u64) -> Result<Option<OrderRecord>, StoreError> {
    owned_order_by_id(conn, id, None)
}

/// An order by id, if it is on an account of `owner` (any, when `None`).
pub fn owned_order_by_id(
    conn: &Connection,
    id: u64,
    owner: Option<&str>,
) -> Result<Option<OrderRecord>, StoreError> {
    Ok(query_orders(
        conn,
        "WHERE o.id = ?1 AND (?2 IS NULL OR a.owner = ?2)",
        &[&(id as i64), &owner],
    )?
    .pop())
}

pub fn order_by_client_id(
    conn: &Connection,
    client_order_id: &str,
) -> Result<Option<OrderRecord>, StoreError> {
    owned_order_by_client_id(conn, client_order_id, None)
}

/// An order by client order id, if it is on an account of `owner` (any,
/// when `None`).
pub fn owned_order_by_client_id(
    conn: &Connection,
    client_order_id: &str,
    owner: Option<&str>,
) -> Result<Option<OrderRecord>, StoreError> {
    Ok(query_orders(
        conn,
        "WHERE o.client_order_id = ?1 AND (?2 IS NULL OR a.owner = ?2)",
        &[&client_order_id, &owner],
    )?
    .pop())
}

pub fn open_orders(conn: &Connection) -> Result<Vec<OrderRecord>, StoreError> {
    query_orders(
        conn,
        "WHERE o.status IN ('new', 'pending', 'accepted', 'partially_filled') ORDER BY o.id",
        &[],
    )
}

/// Orders newest first, by optional status and symbol, after `before_id`.
pub fn list_orders(
    conn: &Connection,
    status: Option<OrderStatus>,
    symbol: Option<&Symbol>,
    bot_id: Option<u64>,
    owner: Option<&str>,
    before_id: Option<u64>,
    limit: u32,
) -> Result<Vec<OrderRecord>, StoreError> {
    let status = status.map(OrderStatus::as_str);
    let symbol = symbol.map(Symbol::as_str);
    let before = before_id.map_or(i64::MAX, |v| v as i64);
    query_orders(
        conn,
        "WHERE (?1 IS NULL OR o.status = ?1) AND (?2 IS NULL OR o.symbol = ?2) AND o.id < ?3
            AND (?5 IS NULL OR o.bot_id = ?5) AND (?6 IS NULL OR a.owner = ?6)
         ORDER BY o.id DESC LIMIT ?4",
        &[
            &status,
            &symbol,
            &before,
            &i64::from(limit),
            &bot_id.map(|v| v as i64),
            &owner,
        ],
    )
}

pub fn insert_fill(conn: &Connection, account_id: i64, e: &Execution) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO fills (trade_id, order_id, account_id, symbol, side, qty, price, fee, fee_asset, liquidity, realized_pnl, time_ms, bot_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        e.trade_id as i64,
        e.order_id as i64,
        account_id,
        e.symbol.as_str(),
        e.side.as_str(),
        e.qty.to_string(),
        e.price.to_string(),
        e.fee.to_string(),
        e.fee_asset,
        enum_text(&e.liquidity),
        e.realized_pnl.to_string(),
        e.time.millis(),
        e.bot_id.map(|v| v as i64),
    ])?;
    Ok(())
}

/// Our trades, newest first, filtered by symbol, bot and time, before a trade id.
#[allow(clippy::too_many_arguments)]
pub fn list_fills(
    conn: &Connection,
    symbol: Option<&Symbol>,
    bot_id: Option<u64>,
    owner: Option<&str>,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    before_trade_id: Option<u64>,
    limit: u32,
) -> Result<Vec<Execution>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT f.trade_id, f.order_id, a.name, f.symbol, f.side, f.qty, f.price, f.fee, f.fee_asset, f.liquidity, f.realized_pnl, f.time_ms, f.bot_id
         FROM fills f JOIN accounts a ON a.id = f.account_id
         WHERE (?1 IS NULL OR f.symbol = ?1) AND f.time_ms >= ?2 AND f.time_ms < ?3 AND f.trade_id < ?4
            AND (?6 IS NULL OR f.bot_id = ?6) AND (?7 IS NULL OR a.owner = ?7)
         ORDER BY f.trade_id DESC LIMIT ?5",
    )?;
    let mut rows = stmt.query(params![
        symbol.map(Symbol::as_str),
        start.map_or(i64::MIN, Timestamp::millis),
        end.map_or(i64::MAX, Timestamp::millis),
        before_trade_id.map_or(i64::MAX, |v| v as i64),
        i64::from(limit),
        bot_id.map(|v| v as i64),
        owner,
    ])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let text = |i: usize| -> Result<String, StoreError> { Ok(r.get::<_, String>(i)?) };
        out.push(Execution {
            trade_id: r.get::<_, i64>(0)? as u64,
            order_id: r.get::<_, i64>(1)? as u64,
            account: text(2)?,
            symbol: dec("symbol", &text(3)?)?,
            side: json_enum::<Side>("side", &text(4)?)?,
            qty: dec("qty", &text(5)?)?,
            price: dec("price", &text(6)?)?,
            fee: dec("fee", &text(7)?)?,
            fee_asset: text(8)?,
            liquidity: json_enum::<Liquidity>("liquidity", &text(9)?)?,
            realized_pnl: dec("realized_pnl", &text(10)?)?,
            bot_id: r.get::<_, Option<i64>>(12)?.map(|v| v as u64),
            time: Timestamp(r.get(11)?),
        });
    }
    Ok(out)
}

/// Totals over our fills in a range, computed exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FillTotals {
    pub count: u64,
    pub volume: Notional,
    pub fees: Notional,
    pub realized: Notional,
}

pub fn fill_totals(
    conn: &Connection,
    symbol: Option<&Symbol>,
    bot_id: Option<u64>,
    owner: Option<&str>,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Result<FillTotals, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT f.qty, f.price, f.fee, f.realized_pnl FROM fills f JOIN accounts a ON a.id = f.account_id
         WHERE (?1 IS NULL OR f.symbol = ?1) AND f.time_ms >= ?2 AND f.time_ms < ?3
            AND (?4 IS NULL OR f.bot_id = ?4) AND (?5 IS NULL OR a.owner = ?5)",
    )?;
    let mut rows = stmt.query(params![
        symbol.map(Symbol::as_str),
        start.map_or(i64::MIN, Timestamp::millis),
        end.map_or(i64::MAX, Timestamp::millis),
        bot_id.map(|v| v as i64),
        owner,
    ])?;
    let mut t = FillTotals::default();
    let overflow = || StoreError::Corrupt("fill totals overflow".into());
    while let Some(r) = rows.next()? {
        let text = |i: usize| -> Result<String, StoreError> { Ok(r.get::<_, String>(i)?) };
        let qty: Qty = dec("qty", &text(0)?)?;
        let price: Price = dec("price", &text(1)?)?;
        let fee: Notional = dec("fee", &text(2)?)?;
        let pnl: Notional = dec("realized_pnl", &text(3)?)?;
        t.count = t.count.saturating_add(1);
        t.volume = price
            .checked_mul_qty(qty)
            .and_then(|v| t.volume.checked_add(v))
            .ok_or_else(overflow)?;
        t.fees = t.fees.checked_add(fee).ok_or_else(overflow)?;
        t.realized = t.realized.checked_add(pnl).ok_or_else(overflow)?;
    }
    Ok(t)
}

pub fn max_order_id(conn: &Connection) -> Result<u64, StoreError> {
    let v: Option<i64> = conn.query_row("SELECT max(id) FROM orders", [], |r| r.get(0))?;
    Ok(v.unwrap_or(0) as u64)
}

/// The highest trade id the simulator gave (a real exchange's trades are
/// keyed from 2^62 up; see `venues::binance::venue::our_trade_id`).
pub fn max_trade_id(conn: &Connection) -> Result<u64, StoreError> {
    let v: Option<i64> = conn.query_row(
        "SELECT max(trade_id) FROM fills WHERE trade_id < 4611686018427387904",
        [],
        |r| r.get(0),
    )?;
    Ok(v.unwrap_or(0) as u64)
}

pub fn save_position(
    conn: &Connection,
    account_id: i64,
    symbol: &Symbol,
    p: &Position,
    now: Timestamp,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO positions (account_id, symbol, qty, cost, realized, fees, updated_ms, open_fees) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (account_id, symbol) DO UPDATE SET qty = excluded.qty, cost = excluded.cost,
            realized = excluded.realized, fees = excluded.fees, updated_ms = excluded.updated_ms,
            open_fees = excluded.open_fees",
    )?
    .execute(params![account_id, symbol.as_str(), p.qty.to_string(), p.cost.to_string(), p.realized.to_string(), p.fees.to_string(), now.millis(), p.open_fees.to_string()])?;
    Ok(())
}

pub fn load_positions(
    conn: &Connection,
    account_id: i64,
) -> Result<BTreeMap<Symbol, Position>, StoreError> {
    positions_where(
        conn,
        "SELECT symbol, qty, cost, realized, fees, open_fees FROM positions WHERE account_id = ?1",
        account_id,
    )
}

/// Positions from a query returning `symbol, qty, cost, realized, fees,
/// open_fees` for one id.
pub(super) fn positions_where(
    conn: &Connection,
    sql: &str,
    id: i64,
) -> Result<BTreeMap<Symbol, Position>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query([id])?;
    let mut out = BTreeMap::new();
    while let Some(r) = rows.next()? {
        let text = |i: usize| -> Result<String, StoreError> { Ok(r.get::<_, String>(i)?) };
        out.insert(
            dec("symbol", &text(0)?)?,
            Position {
                qty: dec("qty", &text(1)?)?,
                cost: dec("cost", &text(2)?)?,
                realized: dec("realized", &text(3)?)?,
                fees: dec("fees", &text(4)?)?,
                open_fees: dec("open_fees", &text(5)?)?,
            },
        );
    }
    Ok(out)
}

pub fn upsert_kline(conn: &Connection, symbol: &Symbol, b: &Bar) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO klines_1m (symbol, open_ms, open, high, low, close, volume, trades) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (symbol, open_ms) DO UPDATE SET open = excluded.open, high = excluded.high, low = excluded.low,
            close = excluded.close, volume = excluded.volume, trades = excluded.trades",
    )?
    .execute(params![
        symbol.as_str(),
        b.open_time.millis(),
        b.open.to_string(),
        b.high.to_string(),
        b.low.to_string(),
        b.close.to_string(),
        b.volume.to_string(),
        b.trades as i64,
    ])?;
    Ok(())
}

/// Whether any 1-minute bar of `symbol` was ever recorded.
pub fn has_klines(conn: &Connection, symbol: &Symbol) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM klines_1m WHERE symbol = ?1 LIMIT 1")?
        .query_row([symbol.as_str()], |_| Ok(()))
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?
        .is_some())
}

/// Calls `f` with each 1-minute bar in `[start, end)`, oldest first,
/// without holding them all in memory.
pub fn for_each_kline(
    conn: &Connection,
    symbol: &Symbol,
    start: Timestamp,
    end: Timestamp,
    mut f: impl FnMut(Bar),
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT open_ms, open, high, low, close, volume, trades FROM klines_1m
         WHERE symbol = ?1 AND open_ms >= ?2 AND open_ms < ?3 ORDER BY open_ms",
    )?;
    let mut rows = stmt.query(params![symbol.as_str(), start.millis(), end.millis()])?;
    while let Some(r) = rows.next()? {
        let text = |i: usize| -> Result<String, StoreError> { Ok(r.get::<_, String>(i)?) };
        f(Bar {
            open_time: Timestamp(r.get(0)?),
            open: dec("open", &text(1)?)?,
            high: dec("high", &text(2)?)?,
            low: dec("low", &text(3)?)?,
            close: dec("close", &text(4)?)?,
            volume: dec("volume", &text(5)?)?,
            trades: r.get::<_, i64>(6)? as u64,
        });
    }
    Ok(())
}

/// The newest `limit` 1-minute bars in `[start, end)`, oldest first.
pub fn klines(
    conn: &Connection,
    symbol: &Symbol,
    start: Timestamp,
    end: Timestamp,
    limit: u32,
) -> Result<Vec<Bar>, StoreError> {
    let mut out = std::collections::VecDeque::new();
    for_each_kline(conn, symbol, start, end, |b| {
        if out.len() == limit as usize {
            out.pop_front();
        }
        out.push_back(b);
    })?;
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn orders_fills_positions_and_balances_round_trip() {
        let mut s = Store::open_in_memory().unwrap();
        let now = Timestamp(1_000);
        let order = s
            .write(|tx| -> Result<OrderRecord, StoreError> {
                let acc = create_account(tx, "paper", "sim", "admin", now)?;
                let mut l = Ledger::default();
                l.deposit("USDT", "10000".parse().unwrap()).unwrap();
                l.lock("USDT", "100.2".parse().unwrap()).unwrap();
                save_ledger(tx, acc.id, &l)?;
                let mut o = OrderRecord {
                    id: 0,
                    account: "paper".into(),
                    client_order_id: "abc-1".into(),
                    symbol: "BTCUSDT".parse().unwrap(),
                    side: Side::Buy,
                    order_type: OrderType::TrailingStop,
                    qty: "1".parse().unwrap(),
                    price: None,
                    stop_price: None,
                    trail: Some(Trail::Percent("1.5".parse().unwrap())),
                    time_in_force: TimeInForce::Gtc,
                    status: OrderStatus::New,
                    filled: Qty::ZERO,
                    filled_notional: Notional::ZERO,
                    avg_price: None,
                    fees: Notional::ZERO,
                    reserved: "100.2".parse().unwrap(),
                    reserved_asset: "USDT".into(),
                    triggered: false,
                    parent_id: None,
                    oco_id: None,
                    reason: None,
                    owner: "admin".into(),
                    bot_id: None,
                    created: now,
                    updated: now,
                };
                o.id = insert_order(tx, acc.id, &o)?;
                o.status = OrderStatus::Accepted;
                o.filled = "0.5".parse().unwrap();
                o.filled_notional = "50".parse().unwrap();
                o.avg_price = Some("100".parse().unwrap());
                update_order(tx, &o)?;
                let e = Execution {
                    trade_id: 7,
                    order_id: o.id,
                    account: "paper".into(),
                    symbol: o.symbol.clone(),
                    side: Side::Buy,
                    qty: "0.5".parse().unwrap(),
                    price: "100".parse().unwrap(),
                    fee: "0.05".parse().unwrap(),
                    fee_asset: "USDT".into(),
                    liquidity: Liquidity::Taker,
                    realized_pnl: Notional::ZERO,
                    bot_id: None,
                    time: now,
                };
                insert_fill(tx, acc.id, &e)?;
                let mut p = Position::default();
                p.apply_fill(Side::Buy, e.qty, e.price, e.fee).unwrap();
                save_position(tx, acc.id, &o.symbol, &p, now)?;
                Ok(o)
            })
            .unwrap();
        let c = s.conn();
        assert_eq!(order_by_id(c, order.id).unwrap().unwrap(), order);
        assert_eq!(
            order_by_client_id(c, "abc-1").unwrap().unwrap().id,
            order.id
        );
        assert_eq!(open_orders(c).unwrap().len(), 1);
        assert_eq!(
            list_orders(c, Some(OrderStatus::Filled), None, None, None, None, 10)
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            list_fills(c, None, None, None, None, None, None, 10).unwrap()[0].trade_id,
            7
        );
        assert_eq!(max_trade_id(c).unwrap(), 7);
        let acc = &accounts(c).unwrap()[0];
        assert_eq!(
            load_ledger(c, acc.id).unwrap().balance("USDT").locked,
            "100.2".parse().unwrap()
        );
        let pos = load_positions(c, acc.id).unwrap();
        assert_eq!(pos[&order.symbol].qty, "0.5".parse().unwrap());
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let mut s = Store::open_in_memory().unwrap();
        let r: Result<(), StoreError> = s.write(|tx| {
            create_account(tx, "paper", "sim", "admin", Timestamp(0))?;
            create_account(tx, "paper", "sim", "admin", Timestamp(0))?;
            Ok(())
        });
        assert!(r.is_err());
        assert!(accounts(s.conn()).unwrap().is_empty());
    }
}
