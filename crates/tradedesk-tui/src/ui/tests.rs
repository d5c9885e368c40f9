//! Snapshot tests of every screen from fixture data (fixed times, UTC,
//! no colour), at 120×40 and 80×24; key handling tests live in
//! `app_tests.rs`.

use chrono::TimeZone;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::from_value;
use serde_json::json;
use tradedesk_core::api::system::{HeartbeatEvent, Info};

use crate::app::{App, Msg};
use crate::state::{BacktestDetail, Data};
use crate::view::Screen;

pub fn at(s: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .timestamp_opt(1_795_000_000 + s, 0)
        .single()
        .expect("valid")
}

fn ts(s: i64) -> String {
    at(s).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn de<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    from_value(v).expect("fixture matches the wire shape")
}

pub fn fixture_info() -> Info {
    Info {
        version: "0.1.0".into(),
        pid: 4242,
        started_at: at(0),
        uptime_ms: 3_723_000,
        data_dir: "/home/me/.local/share/tradedesk".into(),
        socket: "/run/user/1000/tradedesk/tradingd.sock".into(),
        db_path: "/home/me/.local/share/tradedesk/tradedesk.db".into(),
        log_dir: "/home/me/.local/state/tradedesk/logs".into(),
        db_size_bytes: 24_576,
        run_number: 3,
        previous_shutdown: tradedesk_core::api::system::PreviousShutdown::Clean,
        connections: 2,
    }
}

pub fn app() -> App {
    let mut app = App::new("/run/user/1000/tradedesk/tradingd.sock".into(), at(3723));
    app.view.utc = true;
    app.view.colors = false;
    app
}

pub fn draw(app: &App, w: u16, h: u16) -> TestBackend {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| app.render(f)).expect("draw");
    t.backend().clone()
}

fn symbols() -> serde_json::Value {
    json!([
        {"symbol": "BTCUSDT", "base": "BTC", "quote": "USDT", "tick_size": "0.01", "lot_size": "0.00001", "min_qty": "0.00001", "min_notional": "5"},
        {"symbol": "ETHUSDT", "base": "ETH", "quote": "USDT", "tick_size": "0.01", "lot_size": "0.0001", "min_qty": "0.0001", "min_notional": "5"},
        {"symbol": "SOLUSDT", "base": "SOL", "quote": "USDT", "tick_size": "0.001", "lot_size": "0.001", "min_qty": "0.001", "min_notional": "5"}
    ])
}

fn order(
    id: u64,
    symbol: &str,
    side: &str,
    kind: &str,
    qty: &str,
    price: Option<&str>,
    status: &str,
) -> serde_json::Value {
    json!({
        "id": id, "account": "paper", "client_order_id": format!("td-{id}"), "symbol": symbol,
        "side": side, "type": kind, "qty": qty, "price": price, "stop_price": null, "trail": null,
        "time_in_force": "gtc", "status": status,
        "filled": if status == "filled" { qty } else { "0" },
        "filled_notional": "0", "avg_price": if status == "filled" { Some("64998.35") } else { None },
        "fees": "0", "reserved": "0", "reserved_asset": "USDT", "triggered": false,
        "parent_id": null, "oco_id": null, "reason": null, "owner": "admin", "bot_id": null,
        "created": ts(100 + id as i64), "updated": ts(100 + id as i64)
    })
}

/// Bars: a deterministic zig-zag around 65,000.
fn bars(n: usize) -> serde_json::Value {
    let v: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let base = 65_000.0 + ((i as f64) * 0.7).sin() * 40.0 + (i as f64) * 0.5;
            let (o, c) = if i % 3 == 0 { (base - 6.0, base + 5.0) } else { (base + 4.0, base - 3.0) };
            json!({
                "open_time": ts(i as i64 * 60 - 40), "open": format!("{o:.2}"), "high": format!("{:.2}", o.max(c) + 7.0),
                "low": format!("{:.2}", o.min(c) - 7.0), "close": format!("{c:.2}"),
                "volume": format!("{:.3}", 1.0 + (i % 7) as f64 * 0.4), "trades": 10
            })
        })
        .collect();
    json!(v)
}

/// A connected app with a bit of everything.
#[allow(clippy::too_many_lines, reason = "one fixture for every screen")]
pub fn loaded() -> App {
    let mut a = app();
    a.update(Msg::Connected(Box::new(fixture_info())));
    a.update(Msg::Heartbeat(HeartbeatEvent {
        seq: 3723,
        time: at(3723),
        uptime_ms: 3_723_000,
    }));
    let d = |a: &mut App, d: Data| {
        a.update(Msg::Data(d));
    };
    d(&mut a, Data::Symbols(de(symbols())));
    d(
        &mut a,
        Data::Tickers(de(json!([
            {"symbol": "BTCUSDT", "time": ts(3700), "last": "65012.5", "bid": "65011.25", "ask": "65013.75", "open_24h": "64100", "high_24h": "65300", "low_24h": "63900.5", "volume_24h": "812.5"},
            {"symbol": "ETHUSDT", "time": ts(3700), "last": "3198.54", "bid": "3198.5", "ask": "3198.6", "open_24h": "3250", "high_24h": "3260", "low_24h": "3180", "volume_24h": "9012"},
            {"symbol": "SOLUSDT", "time": ts(3700), "last": "150.004", "bid": "150", "ask": "150.01", "open_24h": "150.004", "high_24h": "151", "low_24h": "149", "volume_24h": "50123"}
        ]))),
    );
    d(
        &mut a,
        Data::Klines {
            symbol: "BTCUSDT".into(),
            interval: tradedesk_core::market::Interval::M1,
            bars: de(bars(300)),
        },
    );
    d(
        &mut a,
        Data::Book(de(json!({
            "symbol": "BTCUSDT", "time": ts(3700),
            "asks": [{"price": "65013.75", "qty": "0.07542"}, {"price": "65015", "qty": "0.15609"}, {"price": "65016.25", "qty": "1.2"}],
            "bids": [{"price": "65011.25", "qty": "0.08003"}, {"price": "65010", "qty": "0.31123"}, {"price": "65008.75", "qty": "2"}]
        }))),
    );
    d(
        &mut a,
        Data::Tape {
            symbol: "BTCUSDT".into(),
            trades: de(json!([
                {"id": 3, "time": ts(3700), "price": "65012.5", "qty": "0.06534", "taker_side": "sell"},
                {"id": 2, "time": ts(3690), "price": "65013.75", "qty": "0.1", "taker_side": "buy"},
                {"id": 1, "time": ts(3680), "price": "65011", "qty": "0.01615", "taker_side": "sell"}
            ])),
        },
    );
    d(
        &mut a,
        Data::Balances(de(json!({ "account": "paper", "balances": [
            {"asset": "BTC", "free": "0.01", "locked": "0", "total": "0.01"},
            {"asset": "USDT", "free": "8848.8665165", "locked": "500.5", "total": "9349.3665165"}
        ] }))),
    );
    d(
        &mut a,
        Data::Positions(de(json!([
            {"account": "paper", "symbol": "BTCUSDT", "qty": "0.01", "avg_price": "64998.35", "cost": "649.9835", "mark_price": "65012.5", "realized_pnl": "0", "unrealized_pnl": "0.1415", "fees": "0.6499835"}
        ]))),
    );
    d(
        &mut a,
        Data::Orders(de(json!([
            order(1, "BTCUSDT", "buy", "market", "0.01", None, "filled"),
            order(
                2,
                "ETHUSDT",
                "buy",
                "limit",
                "0.5",
                Some("1000"),
                "accepted"
            ),
            order(
                3,
                "SOLUSDT",
                "sell",
                "limit",
                "12.5",
                Some("175.125"),
                "accepted"
            ),
            order(
                4,
                "ETHUSDT",
                "sell",
                "limit",
                "0.25",
                Some("4000"),
                "cancelled"
            )
        ]))),
    );
    d(
        &mut a,
        Data::Today(de(
            json!({"count": 1, "volume": "649.9835", "fees": "0.6499835", "realized_pnl": "-1.25", "wins": 0, "losses": 1, "win_rate": null}),
        )),
    );
    let bot = |id: u64, name: &str, status: &str, equity: &str, pnl: &str| {
        json!({
            "id": id, "name": name, "owner": "admin", "account": "paper", "strategy_id": null,
            "spec": {"strategy": "sma_cross", "params": {"fast": 5, "slow": 20}, "interval": "1m"},
            "symbols": ["BTCUSDT"], "allocation": {"USDT": "1000"}, "status": status, "reason": null,
            "created": ts(10), "updated": ts(20), "started": ts(20),
            "balances": {"USDT": {"free": equity, "locked": "0"}}, "positions": [], "equity": equity,
            "pnl": pnl
        })
    };
    // The running bot holds a position with its protective pair.
    let mut trend = bot(1, "trend", "running", "1012.5", "12.5");
    trend["open_trades"] = json!([{
        "symbol": "BTCUSDT", "qty": "0.01", "entry_price": "65000", "last_price": "65650",
        "pnl": "5.19", "pnl_pct": 0.8,
        "stop_loss": {"price": "63700", "distance_pct": -2.97},
        "take_profit": {"price": "67600", "distance_pct": 2.97},
        "trailing_stop": null
    }]);
    d(
        &mut a,
        Data::Bots(de(json!([
            trend,
            bot(2, "dip-buyer", "paused", "990", "-10")
        ]))),
    );
    d(
        &mut a,
        Data::BotEvents(
            1,
            de(json!([
                {"id": 2, "bot_id": 1, "time": ts(200), "kind": "order", "message": "buy 0.015 BTCUSDT market"},
                {"id": 1, "bot_id": 1, "time": ts(20), "kind": "state", "message": "started"}
            ])),
        ),
    );
    d(
        &mut a,
        Data::Risk(de(json!({
            "states": [{"scope": "account:paper", "state": "active", "reason": null, "since": null}],
            "usage": [
                {"scope": "account:paper", "limit": "max_open_orders", "value": "2", "limit_value": "10", "percent": "20"},
                {"scope": "account:paper", "limit": "max_daily_loss", "value": "85", "limit_value": "100", "percent": "85"}
            ]
        }))),
    );
    d(
        &mut a,
        Data::Alerts(de(json!([
            {"id": 1, "time": ts(300), "severity": "warning", "scope": "account:paper", "kind": "near_limit", "message": "max_daily_loss at 85% of 100", "acknowledged": null},
            {"id": 2, "time": ts(310), "severity": "info", "scope": "account:paper", "kind": "state", "message": "trading active", "acknowledged": ts(320)}
        ]))),
    );
    d(
        &mut a,
        Data::Cache(de(json!({
            "max_bytes": 67_108_864,
            "total": {"hits": 120, "misses": 12, "hit_rate": 0.909_090_909_090_909_1, "entries": 6, "bytes": 40_960, "evictions": 0, "expirations": 3},
            "namespaces": [
                {"namespace": "market.ticker", "ttl_s": 5, "hits": 100, "misses": 3, "hit_rate": 0.970_873_786_407_767, "entries": 3, "bytes": 1152, "evictions": 0, "expirations": 0},
                {"namespace": "market.klines", "ttl_s": 60, "hits": 20, "misses": 8, "hit_rate": 0.714_285_714_285_714_2, "entries": 2, "bytes": 39_000, "evictions": 0, "expirations": 3},
                {"namespace": "user", "ttl_s": 300, "hits": 0, "misses": 1, "hit_rate": 0.0, "entries": 1, "bytes": 808, "evictions": 0, "expirations": 0}
            ]
        }))),
    );
    d(
        &mut a,
        Data::Violations(de(json!([
            {"id": 1, "time": ts(305), "source": "manual", "scope": "account:paper", "limit": "max_order_notional", "limit_value": "500", "value": "650.12", "message": "order notional 650.12 exceeds max_order_notional 500", "order": null}
        ]))),
    );
    d(
        &mut a,
        Data::Kinds(de(json!([
            {"name": "risk.report", "summary": "a risk report", "payload_schema": {}, "max_attempts": 3, "timeout_ms": 60_000, "concurrency": 1},
            {"name": "data.import", "summary": "imports a dataset", "payload_schema": {}, "max_attempts": 1, "timeout_ms": 600_000, "concurrency": 1}
        ]))),
    );
    d(
        &mut a,
        Data::BotDetail(crate::state::BotDetail {
            id: 1,
            equity: de(json!((0..40).map(|i| json!({
                "time": ts(20 + i * 60), "equity": 1000.0 + f64::from(i as i32 % 9) * 2.5 - f64::from(i as i32 % 4),
                "drawdown_pct": -f64::from(i as i32 % 4) / 10.0
            })).collect::<Vec<_>>())),
            fills: de(json!([
                {"trade_id": 5, "order_id": 9, "account": "paper", "symbol": "BTCUSDT", "side": "buy", "qty": "0.015", "price": "65000.5", "fee": "0.97", "fee_asset": "USDT", "liquidity": "taker", "realized_pnl": "0", "bot_id": 1, "time": ts(200)}
            ])),
        }),
    );
    d(
        &mut a,
        Data::Jobs(de(json!([
            {"id": 7, "kind": "backtest.run", "payload": {}, "priority": 0, "state": "running", "attempts": 1, "max_attempts": 3, "run_at": ts(400), "progress": 40, "message": "bar 4000 of 10000", "result": null, "error": null, "idempotency_key": null, "owner": "admin", "created": ts(400), "started": ts(401), "finished": null},
            {"id": 6, "kind": "risk.report", "payload": {}, "priority": 0, "state": "failed", "attempts": 3, "max_attempts": 3, "run_at": ts(300), "progress": 0, "message": null, "result": null, "error": "disk full", "idempotency_key": null, "owner": "admin", "created": ts(300), "started": ts(301), "finished": ts(302)}
        ]))),
    );
    d(
        &mut a,
        Data::Schedules(de(json!([
            {"id": 1, "name": "nightly-report", "owner": "admin", "cron": "0 2 * * *", "tz": "UTC", "kind": "risk.report", "payload": {}, "priority": 0, "missed": "skip", "paused": false, "next_run": ts(80_000), "last_run": null, "created": ts(1), "updated": ts(1)}
        ]))),
    );
    d(
        &mut a,
        Data::Workers(de(json!([
            {"worker": 0, "job": 7, "kind": "backtest.run", "since": ts(401)},
            {"worker": 1, "job": null, "kind": null, "since": null}
        ]))),
    );
    let bt = |id: u64, name: &str, state: &str, progress: u8, ret: f64| {
        json!({
            "id": id, "name": name, "kind": "run", "job_id": id + 10, "state": state, "progress": progress,
            "error": null, "created": ts(500), "finished": null, "spec": {},
            "summary": if state == "succeeded" { Some(json!({"final_equity": "11234.5", "return_pct": ret, "cagr_pct": 12.0, "sharpe": 1.234, "max_drawdown_pct": -8.5, "trades": 46, "win_rate_pct": 60.9, "margin_call": null})) } else { None },
            "sweep": null
        })
    };
    d(
        &mut a,
        Data::Backtests(de(json!([
            bt(1, "goog-sma", "succeeded", 100, 12.345),
            bt(2, "goog-sma-slow", "succeeded", 100, -3.5),
            bt(3, "btc-grid", "running", 45, 0.0)
        ]))),
    );
    a
}

fn metrics() -> tradedesk_core::analytics::Metrics {
    use tradedesk_core::analytics::{Curve, TradeFigures, finish};
    let mut c = Curve::new(0, false);
    for (i, e) in [10_000.0, 10_100.0, 9_900.0, 10_300.0, 10_250.0, 11_000.0]
        .iter()
        .enumerate()
    {
        c.push(
            tradedesk_core::time::Timestamp(1_700_000_000_000 + i as i64 * 86_400_000),
            *e,
            100.0 + i as f64,
        );
    }
    let t: Vec<TradeFigures> = Vec::new();
    finish(c, &t, rust_decimal::Decimal::ZERO)
}

fn with_result(mut a: App) -> App {
    a.view.screen = Screen::Backtests;
    a.view.opened = Some(1);
    let equity = (0..60)
        .map(|i| {
            let e = 10_000.0 + f64::from(i) * 20.0 - if i % 10 > 6 { 150.0 } else { 0.0 };
            json!({"time": ts(i64::from(i) * 86_400), "equity": e, "drawdown_pct": if i % 10 > 6 { -1.5 } else { 0.0 }})
        })
        .collect::<Vec<_>>();
    a.update(Msg::Data(Data::BacktestDetail(BacktestDetail {
        id: 1,
        metrics: Box::new(metrics()),
        equity: de(json!(equity)),
        trades: de(json!([
            {"leg": 0, "symbol": "GOOG", "qty": "10", "entry_step": 1, "exit_step": 5, "entry_time": ts(86_400), "exit_time": ts(5 * 86_400), "entry_price": "100.5", "exit_price": "110.25", "pnl": "95.5", "fees": "2", "return_pct": 9.5},
            {"leg": 0, "symbol": "GOOG", "qty": "10", "entry_step": 7, "exit_step": 9, "entry_time": ts(7 * 86_400), "exit_time": ts(9 * 86_400), "entry_price": "111", "exit_price": "108", "pnl": "-32", "fees": "2", "return_pct": -2.9, "exit_reason": "stop_loss", "direction": "short"}
        ])),
        report: Some(de(json!({
            "by_symbol": [],
            "by_direction": [
                {"key": "long", "trades": 1, "wins": 1, "win_rate_pct": 100.0, "pnl": "95.5", "fees": "2", "avg_return_pct": 9.5, "best_return_pct": 9.5, "worst_return_pct": 9.5},
                {"key": "short", "trades": 1, "wins": 0, "win_rate_pct": 0.0, "pnl": "-32", "fees": "2", "avg_return_pct": -2.9, "best_return_pct": -2.9, "worst_return_pct": -2.9}
            ],
            "by_exit_reason": [
                {"key": "signal", "trades": 1, "wins": 1, "win_rate_pct": 100.0, "pnl": "95.5", "fees": "2", "avg_return_pct": 9.5, "best_return_pct": 9.5, "worst_return_pct": 9.5},
                {"key": "stop_loss", "trades": 1, "wins": 0, "win_rate_pct": 0.0, "pnl": "-32", "fees": "2", "avg_return_pct": -2.9, "best_return_pct": -2.9, "worst_return_pct": -2.9}
            ],
            "monthly": [],
            "daily": []
        }))),
    })));
    a
}

/// Two accounts seen, the desk on the margin one, short 0.01 BTC.
pub fn on_margin_account(mut a: App) -> App {
    a.daemon.apply(Data::Accounts(de(json!([
        { "name": "paper", "venue": "sim", "mode": "paper", "kind": "spot", "owner": "admin", "created": ts(0) },
        { "name": "margin1", "venue": "sim", "mode": "paper", "kind": "margin",
          "margin": { "leverage": "2", "borrow_pct": "0.001", "borrow_period": "1h" }, "owner": "admin", "created": ts(1) }
    ]))));
    a.daemon.apply(Data::Account(
        "margin1".into(),
        tradedesk_core::api::accounts::AccountMode::Paper,
    ));
    a.daemon.apply(Data::Balances(de(json!({ "account": "margin1", "balances": [
        { "asset": "BTC", "free": "0", "locked": "0", "total": "0", "borrowed": "0.01" },
        { "asset": "USDT", "free": "10649.33", "locked": "0", "total": "10649.33" }
    ], "margin": { "equity": "9999.33", "gross": "650", "level_pct": "1538.36", "maintenance_pct": "25", "available": "19348.66" } }))));
    a.daemon.apply(Data::Positions(de(json!([
        {"account": "paper", "symbol": "BTCUSDT", "qty": "0.01", "avg_price": "64998.35", "cost": "649.9835", "mark_price": "65012.5", "realized_pnl": "0", "unrealized_pnl": "0.1415", "fees": "0.6499835"},
        {"account": "margin1", "symbol": "BTCUSDT", "qty": "-0.01", "avg_price": "64998.26", "cost": "-649.9826", "mark_price": "65012.5", "realized_pnl": "0", "unrealized_pnl": "-0.7924", "fees": "0.6499826"}
    ]))));
    a
}

fn screen(s: Screen) -> App {
    let mut a = loaded();
    a.view.screen = s;
    a
}

macro_rules! snapshots {
    ($($name:ident => $app:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let a = $app;
                insta::assert_snapshot!(concat!(stringify!($name), "_200x60"), draw(&a, 200, 60));
                insta::assert_snapshot!(concat!(stringify!($name), "_80x24"), draw(&a, 80, 24));
            }
        )*
    };
}

snapshots! {
    desk => screen(Screen::Desk);
    margin_desk => on_margin_account(screen(Screen::Desk));
    market => {
        let mut a = screen(Screen::Market);
        a.view.overlays.sma = true;
        a.view.overlays.bollinger = true;
        a
    };
    orders => screen(Screen::Orders);
    order_history => {
        let mut a = screen(Screen::Orders);
        a.view.history = true;
        a
    };
    bots => screen(Screen::Bots);
    backtests => screen(Screen::Backtests);
    backtest_result => with_result(loaded());
    backtest_compare => {
        let mut a = screen(Screen::Backtests);
        a.view.comparing = true;
        let m = metrics();
        a.update(Msg::Data(Data::Comparison(vec![
            tradedesk_core::api::backtests::ComparedRun { id: 1, name: "goog-sma".into(), spec: json!({
                "strategies": [{ "spec": { "strategy": "sma_cross", "params": { "fast": 10, "slow": 20 }, "interval": "1d" }, "datasets": [1] }],
                "settings": { "capital": "10000", "commission_pct": "0.2" } }), metrics: m.clone() },
            tradedesk_core::api::backtests::ComparedRun { id: 2, name: "goog-sma-slow".into(), spec: json!({
                "strategies": [{ "spec": { "strategy": "sma_cross", "params": { "fast": 20, "slow": 50, "allow_short": true }, "interval": "1d" }, "datasets": [1] }],
                "settings": { "capital": "10000", "commission_pct": "0.2", "margin": { "borrow_pct": "0.01" } } }), metrics: m },
        ])));
        a
    };
    jobs => screen(Screen::Jobs);
    schedules => {
        let mut a = screen(Screen::Jobs);
        a.view.jobs_pane = crate::view::JobsPane::Schedules;
        a
    };
    risk => screen(Screen::Risk);
    system => screen(Screen::System);
    help_on_orders => {
        let mut a = screen(Screen::Orders);
        a.view.help = true;
        a
    };
    private_desk => {
        let mut a = screen(Screen::Desk);
        a.view.privacy = true;
        a
    };
    disconnected_keeps_stale_data => {
        let mut a = screen(Screen::Desk);
        a.update(Msg::Disconnected("the daemon closed the connection".into()));
        a
    };
    no_daemon_yet => {
        let mut a = app();
        a.update(Msg::Disconnected("daemon not reachable".into()));
        a
    };
}

#[test]
fn order_ticket_shows_the_risk_check() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut a = screen(Screen::Orders);
    let key = |a: &mut App, c: KeyCode| a.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)));
    key(&mut a, KeyCode::Char('n'));
    for _ in 0..3 {
        key(&mut a, KeyCode::Tab);
    }
    for c in "0.01".chars() {
        key(&mut a, KeyCode::Char(c));
    }
    key(&mut a, KeyCode::Enter);
    a.update(Msg::Data(Data::Check(de(json!({"approved": false, "rejection": {
        "kind": "limit", "limit": "max_order_notional", "scope": "account:paper", "limit_value": "500", "value": "650.12",
        "message": "order notional 650.12 exceeds max_order_notional 500"
    }})))));
    insta::assert_snapshot!("order_ticket_rejected_200x60", draw(&a, 200, 60));
    insta::assert_snapshot!("order_ticket_rejected_80x24", draw(&a, 80, 24));
}

#[test]
fn palette_and_kill_switch_dialogs() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut a = screen(Screen::Risk);
    let key = |a: &mut App, c: KeyCode| a.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)));
    key(&mut a, KeyCode::Char(':'));
    for c in "ha".chars() {
        key(&mut a, KeyCode::Char(c));
    }
    insta::assert_snapshot!("palette_80x24", draw(&a, 80, 24));
    key(&mut a, KeyCode::Esc);
    key(&mut a, KeyCode::Char('K'));
    for c in "HA".chars() {
        key(&mut a, KeyCode::Char(c));
    }
    insta::assert_snapshot!("kill_switch_80x24", draw(&a, 80, 24));
}

#[test]
fn every_screen_draws_at_every_size_without_panicking() {
    let mut a = with_result(loaded());
    for s in Screen::ALL {
        a.view.screen = s;
        for (w, h) in [
            (80, 24),
            (81, 25),
            (100, 30),
            (120, 40),
            (200, 60),
            (300, 100),
        ] {
            let text = format!("{}", draw(&a, w, h));
            assert!(text.contains(s.title()), "{s:?} at {w}x{h}");
        }
        for (w, h) in [(79, 24), (80, 23), (20, 5), (1, 1)] {
            let text = format!("{}", draw(&a, w, h));
            assert!(text.contains("too") || w < 10, "{w}x{h}: {text}");
        }
    }
}

#[test]
fn y_ranges_have_a_minimum_span_and_flat_lines_draw_flat() {
    use super::y_range;
    assert_eq!(y_range([1.0, 3.0].into_iter()), Some((1.0, 3.0)));
    // Flat: a span of 0.1 % of the level about it.
    let (lo, hi) = y_range([10_000.0; 5].into_iter()).expect("range");
    assert!(
        (hi - lo - 10.0).abs() < 1e-9 && (f64::midpoint(lo, hi) - 10_000.0).abs() < 1e-9,
        "{lo} {hi}"
    );
    // Nearly flat: cents on 10,000 are not blown up to the full height.
    let (lo, hi) = y_range([10_000.0, 10_000.02].into_iter()).expect("range");
    assert!(hi - lo >= 10.0);
    assert_eq!(y_range([f64::NAN].into_iter()), None);
    assert_eq!(y_range(std::iter::empty()), None);

    // The desk's sparkline of a flat equity is a line on the bottom row.
    let mut a = loaded();
    a.daemon.equity = std::iter::repeat_n(10_000.0, 50).collect();
    let screen = format!("{}", draw(&a, 120, 40));
    let account: Vec<&str> = screen
        .lines()
        .skip(2)
        .take(5)
        .map(|l| l.split("││").next().unwrap_or(l))
        .collect();
    assert!(
        account.iter().all(|l| !l.contains('█')),
        "a flat line is no block:\n{}",
        account.join("\n")
    );
    assert!(
        account.iter().any(|l| l.contains('▁')),
        "{}",
        account.join("\n")
    );
}

#[test]
fn a_live_account_says_so_on_the_desk() {
    let mut a = loaded();
    a.daemon.apply(crate::state::Data::Account(
        "binance".into(),
        tradedesk_core::api::accounts::AccountMode::Live,
    ));
    let text = format!("{:?}", draw(&a, 120, 40));
    assert!(text.contains("Account binance · LIVE"), "{text}");
    let paper = format!("{:?}", draw(&loaded(), 120, 40));
    assert!(paper.contains("Account paper · paper"), "{paper}");
}

#[test]
fn a_chart_overlay_without_enough_bars_says_so_and_draws_once_it_has_them() {
    let mut a = screen(Screen::Market);
    a.view.overlays.sma = true;
    a.view.overlays.ema = true;
    assert!(a.daemon.candles.bars.len() >= 20, "the fixture has bars");
    a.daemon.candles.bars.truncate(12);
    let text = draw(&a, 200, 60).to_string();
    assert!(text.contains("SMA20 needs 20 bars"), "{text}");
    assert!(text.contains("EMA50 needs 50 bars"), "{text}");
    let mut b = screen(Screen::Market);
    b.view.overlays.sma = true;
    let text = draw(&b, 200, 60).to_string();
    assert!(text.contains("SMA20") && !text.contains("needs"), "{text}");
}
