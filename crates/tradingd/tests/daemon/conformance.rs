//! Walks the catalogue and calls every method, checking that each answer
//! decodes as the method's declared result type.

use serde_json::{Value, json};
use tradedesk_core::api::{Handle, Method, Visitor, method_names, visit_methods};
use tradedesk_core::client::Client;
use tradingd::context::Ctx;

use super::support::TestDaemon;

/// Valid params for each method. A method added to the catalogue without a
/// sample here fails the test.
#[allow(
    clippy::too_many_lines,
    reason = "one sample per method of the catalogue"
)]
pub fn sample_params(method: &str) -> Option<serde_json::Value> {
    Some(match method {
        "system.health"
        | "system.version"
        | "system.info"
        | "system.methods"
        | "system.doctor"
        | "market.symbols"
        | "market.tickers"
        | "accounts.list"
        | "positions.list"
        | "orders.cancel_all"
        | "trades.stats"
        | "strategies.catalog"
        | "strategies.list"
        | "bots.list"
        | "risk.limits.get"
        | "risk.status"
        | "risk.violations"
        | "risk.alerts"
        | "risk.resume"
        | "jobs.kinds"
        | "jobs.list"
        | "jobs.dead"
        | "jobs.stats"
        | "jobs.health"
        | "jobs.workers"
        | "jobs.schedules.list"
        | "cache.health"
        | "cache.stats"
        | "cache.keys"
        | "cache.flush"
        | "auth.me"
        | "auth.profile.get"
        | "auth.preferences.get"
        | "users.list" => json!({}),
        "auth.profile.update" => {
            json!({ "display_name": "Conformance", "timezone": "Europe/Berlin" })
        }
        "auth.preferences.set" => json!({ "preferences": { "theme": "dark" } }),
        // User 1 is the socket's admin; the test's user is 2.
        "users.create" => {
            json!({ "name": "conf-user", "password": "conformance pass", "role": "trader" })
        }
        "users.disable" | "users.enable" => json!({ "id": 2 }),
        "users.set_role" => json!({ "id": 2, "role": "viewer" }),
        "users.reset_password" => json!({ "id": 2, "password": "conformance pass" }),
        // Tokens come from a login: called below, in order.
        "auth.login" | "auth.refresh" | "auth.logout" | "auth.password" | "auth.tokens.create"
        | "auth.tokens.list" | "auth.tokens.revoke" | "auth.register" => return None,
        // Catalogue order: set, delete (then get finds it set again below).
        "cache.set" => json!({ "key": "conf", "value": { "n": 1 }, "ttl": 60 }),
        "cache.get" => json!({ "key": "market.ticker:BTCUSDT" }),
        "cache.delete" => json!({ "key": "user:conf" }),
        "cache.delete_pattern" => json!({ "pattern": "user:*" }),
        "cache.ttl.get" => json!({ "namespace": "market.klines" }),
        "cache.ttl.set" => json!({ "namespace": "user", "ttl": 120 }),
        // Job 1 waits in the queue (due in 2100): get it, then cancel it.
        "jobs.enqueue" => {
            json!({ "kind": "risk.report", "idempotency_key": "conf", "run_at": "2100-01-01T00:00:00Z" })
        }
        "jobs.purge" => json!({ "state": "succeeded", "older_than": "2000-01-01T00:00:00Z" }),
        "jobs.schedules.create" => {
            json!({ "name": "nightly", "cron": "0 2 * * *", "tz": "Europe/Berlin", "kind": "maintenance.vacuum" })
        }
        "jobs.schedules.update" => json!({ "id": 1, "cron": "30 2 * * *" }),
        "jobs.schedules.preview" => json!({ "cron": "@hourly", "count": 3 }),
        "risk.limits.set" => {
            json!({ "scope": "account:paper", "limits": { "max_order_qty": "100" } })
        }
        "risk.check" => {
            json!({ "order": { "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" } })
        }
        // Halted here, resumed by the next method in catalogue order.
        "risk.halt" => json!({ "reason": "conformance" }),
        "streams.subscribe" | "streams.unsubscribe" => json!({ "topics": ["system.heartbeat"] }),
        "market.ticker" | "positions.get" => json!({ "symbol": "BTCUSDT" }),
        "market.klines" => json!({ "symbol": "BTCUSDT", "interval": "5m", "limit": 10 }),
        "market.orderbook" => json!({ "symbol": "BTCUSDT", "depth": 5 }),
        "market.trades" => json!({ "symbol": "BTCUSDT", "limit": 5 }),
        "accounts.balances" => json!({ "account": "paper" }),
        "accounts.create" => {
            json!({ "name": "conf-margin", "kind": "margin", "margin": { "leverage": "3" }, "balances": { "USDT": "500" } })
        }
        "orders.place" => {
            json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.01", "price": "1000", "client_order_id": "conf-1" })
        }
        "orders.place_oco" => {
            json!({ "symbol": "ETHUSDT", "side": "buy", "qty": "0.01", "price": "1000", "stop_price": "9000" })
        }
        "orders.place_bracket" => {
            json!({ "symbol": "SOLUSDT", "side": "buy", "type": "limit", "qty": "1", "price": "10", "take_profit": "20", "stop_loss": "5" })
        }
        // Run after orders.place (catalogue order): the conformance order exists.
        "orders.get" | "orders.cancel" => json!({ "client_order_id": "conf-1" }),
        "orders.list" | "trades.list" => json!({ "limit": 10 }),
        "strategies.create" => {
            json!({ "name": "conf", "spec": { "strategy": "sma_cross", "params": { "fast": 5, "slow": 10 } } })
        }
        "strategies.get" | "strategies.delete" => json!({ "name": "conf" }),
        "strategies.update" => json!({ "name": "conf", "spec": { "strategy": "ema_cross" } }),
        "strategies.validate" => json!({ "spec": { "strategy": "macd" } }),
        "strategies.upload" => json!({
            "name": "conf-lua",
            "tier": "lua",
            "source": "params = {{ name = 'n', type = 'int', default = 3 }}\nfunction on_bar(t, o, h, l, c, v) end"
        }),
        "bots.create" => json!({
            "name": "conf-bot",
            "spec": { "strategy": "dca", "params": { "every_bars": 5 }, "sizing": { "mode": "quote", "value": "50" } },
            "symbols": ["BTCUSDT"],
            "allocation": { "USDT": "1000" }
        }),
        // Catalogue order: update, start, pause, resume, enter, exit, stop,
        // …, delete.
        "bots.enter" | "bots.exit" => json!({ "id": 1, "symbol": "BTCUSDT" }),
        "bots.get"
        | "bots.start"
        | "bots.pause"
        | "bots.resume"
        | "bots.performance"
        | "bots.equity"
        | "bots.delete"
        | "risk.alerts.ack"
        | "jobs.get"
        | "jobs.cancel"
        | "jobs.schedules.get"
        | "jobs.schedules.pause"
        | "jobs.schedules.resume"
        | "jobs.schedules.run_now"
        | "jobs.schedules.delete" => json!({ "id": 1 }),
        "bots.update" => json!({ "id": 1, "name": "conf-bot-2" }),
        "bots.stop" => json!({ "id": 1, "flatten": true }),
        "bots.events" => json!({ "id": 1, "limit": 10 }),
        // Called separately: positions.close needs a position first, and
        // system.shutdown stops the daemon.
        // Jobs retry, requeue and delete need a dead job: called below too.
        // A backup needs a new file each time.
        "positions.close" | "system.shutdown" | "system.backup" | "jobs.retry" | "jobs.requeue"
        | "jobs.delete" => {
            return None;
        }
        // Datasets and backtests wait for their jobs: called below, in order.
        m if m.starts_with("data.")
            || m.starts_with("backtests.")
            || m.starts_with("analytics.") =>
        {
            return None;
        }
        _ => panic!("no sample params for `{method}`: add one to the conformance test"),
    })
}

struct CallEach<'a> {
    client: &'a mut Client,
    called: Vec<&'static str>,
}

impl Visitor<Ctx> for CallEach<'_> {
    fn visit<M: Method>(&mut self)
    where
        Ctx: Handle<M>,
    {
        let Some(params) = sample_params(M::NAME) else {
            return;
        };
        let raw = self
            .client
            .call_raw(M::NAME, &params)
            .unwrap_or_else(|e| panic!("{}: {e}", M::NAME));
        let typed: Result<M::Result, _> = serde_json::from_value(raw.clone());
        assert!(
            typed.is_ok(),
            "{} answered {raw}, which is not its result type: {:?}",
            M::NAME,
            typed.err()
        );
        self.called.push(M::NAME);
    }
}

/// Calls `M` and checks its answer has `M`'s result type.
fn typed<M: Method>(client: &mut Client, params: &Value) -> Value {
    let raw = client
        .call_raw(M::NAME, params)
        .unwrap_or_else(|e| panic!("{} {params}: {e}", M::NAME));
    let typed: Result<M::Result, _> = serde_json::from_value(raw.clone());
    assert!(
        typed.is_ok(),
        "{} answered {raw}: {:?}",
        M::NAME,
        typed.err()
    );
    raw
}

fn wait_job(client: &mut Client, id: &Value) {
    let j = super::support::settled(client, id);
    assert_eq!(j["state"], "succeeded", "{j}");
}

/// The data, backtest and analytics methods, each once, in an order
/// where what they need exists.
fn data_and_backtests(client: &mut Client) -> Vec<&'static str> {
    use std::fmt::Write as _;
    use tradedesk_core::api::backtests::{
        Backtest, BacktestsCompare, BacktestsCreate, BacktestsDelete, BacktestsEquity,
        BacktestsGet, BacktestsList, BacktestsReport, BacktestsResults, BacktestsSweep,
        BacktestsTrades,
    };
    use tradedesk_core::api::data::{
        DataDelete, DataDownload, DataExport, DataGet, DataImport, DataList,
    };
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("conf.csv");
    let mut text = String::from("date,open,high,low,close\n");
    for i in 0..120 {
        let p = 100.0 + 10.0 * (f64::from(i) / 9.0).sin();
        let day = 1_704_067_200 + i64::from(i) * 86_400; // from 2024-01-01
        let _ = writeln!(text, "{day},{p:.2},{:.2},{:.2},{p:.2}", p + 1.0, p - 1.0);
    }
    std::fs::write(&csv, text).expect("csv");
    let job = typed::<DataImport>(client, &json!({ "path": csv, "symbol": "CONFUSD" }));
    wait_job(client, &job["id"]);
    // A range in the future: the job reads nothing, and needs no network.
    typed::<DataDownload>(
        client,
        &json!({ "symbol": "CONFUSDT", "interval": "1h", "start": "2999-01-01T00:00:00Z" }),
    );
    typed::<DataList>(client, &json!({}));
    typed::<DataGet>(client, &json!({ "id": 1 }));
    let bars =
        typed::<tradedesk_core::api::data::DataBars>(client, &json!({ "id": 1, "points": 5 }));
    assert!(
        bars["bars"]
            .as_array()
            .is_some_and(|b| !b.is_empty() && b.len() <= 5),
        "{bars}"
    );
    let spec = json!({
        "strategies": [{ "spec": { "strategy": "sma_cross", "params": { "fast": 3, "slow": 10 } }, "datasets": [1] }],
        "settings": { "capital": "1000" }
    });
    for _ in 0..2 {
        let b = typed::<BacktestsCreate>(client, &spec);
        wait_job(client, &b["job_id"]);
    }
    typed::<BacktestsGet>(client, &json!({ "id": 1 }));
    typed::<BacktestsList>(client, &json!({}));
    typed::<BacktestsResults>(client, &json!({ "id": 1 }));
    typed::<BacktestsTrades>(client, &json!({ "id": 1 }));
    typed::<BacktestsEquity>(client, &json!({ "id": 1, "downsample": 10 }));
    typed::<BacktestsReport>(client, &json!({ "id": 1 }));
    typed::<BacktestsCompare>(client, &json!({ "ids": [1, 2] }));
    let s = typed::<BacktestsSweep>(
        client,
        &json!({ "backtest": spec, "grid": [{ "param": "fast", "values": [2, 3] }] }),
    );
    wait_job(client, &s["job_id"]);
    typed::<BacktestsDelete>(client, &json!({ "id": 2 }));
    typed::<DataExport>(
        client,
        &json!({ "id": 1, "path": dir.path().join("out.csv") }),
    );
    // A cancel of a finished run is refused; of a fresh one, answered.
    let fresh = typed::<BacktestsCreate>(client, &spec);
    match client.call_raw("backtests.cancel", &json!({ "id": fresh["id"] })) {
        Ok(v) => assert!(serde_json::from_value::<Backtest>(v).is_ok()),
        Err(tradedesk_core::client::ClientError::Api(e)) => {
            assert!(e.message.contains("nothing to cancel"));
        }
        Err(e) => panic!("backtests.cancel: {e}"),
    }
    super::support::settled(client, &fresh["job_id"]);
    // The conformance bot is deleted by now: a clear refusal (the bot
    // tests read a trading bot's figures).
    match client.call_raw("analytics.performance", &json!({ "bot": 1 })) {
        Ok(v) => assert!(serde_json::from_value::<tradedesk_core::analytics::Metrics>(v).is_ok()),
        Err(tradedesk_core::client::ClientError::Api(e)) => {
            assert!(e.message.contains("not found"), "{}", e.message);
        }
        Err(e) => panic!("analytics.performance: {e}"),
    }
    // Datasets read by finished backtests only can go.
    typed::<DataDelete>(client, &json!({ "id": 1 }));
    vec![
        "data.import",
        "data.download",
        "data.list",
        "data.get",
        "data.bars",
        "data.delete",
        "data.export",
        "backtests.create",
        "backtests.get",
        "backtests.list",
        "backtests.cancel",
        "backtests.delete",
        "backtests.results",
        "backtests.trades",
        "backtests.equity",
        "backtests.report",
        "backtests.compare",
        "backtests.sweep",
        "analytics.performance",
    ]
}

/// The `auth.*` methods that need a login's tokens or an HTTP user: called
/// by hand, in order.
fn auth_by_hand(client: &mut Client) -> Vec<&'static str> {
    // Log in as the user made above, refresh, log out.
    let tokens = typed::<tradedesk_core::api::auth::AuthLogin>(
        client,
        &json!({ "user": "conf-user", "password": "conformance pass" }),
    );
    let next = typed::<tradedesk_core::api::auth::AuthRefresh>(
        client,
        &json!({ "refresh_token": tokens["refresh_token"] }),
    );
    let out = typed::<tradedesk_core::api::auth::AuthLogout>(
        client,
        &json!({ "refresh_token": next["refresh_token"] }),
    );
    assert_eq!(out["revoked"], true);
    // The socket's administrator has no password to change: the one method
    // answered with an error here, by design (HTTP users call it).
    let err = client
        .call_raw(
            "auth.password",
            &json!({ "current": "x", "new": "long enough password" }),
        )
        .expect_err("the local administrator has no password");
    assert!(err.to_string().contains("current"), "{err}");
    // Personal access tokens belong to HTTP users (tested in http.rs): the
    // socket's administrator is refused by name.
    for (m, p) in [
        (
            "auth.tokens.create",
            json!({ "name": "t", "expires_days": 1 }),
        ),
        ("auth.tokens.list", json!({})),
        ("auth.tokens.revoke", json!({ "id": 1 })),
    ] {
        let err = client.call_raw(m, &p).expect_err("HTTP users only");
        assert!(err.to_string().contains("HTTP users"), "{m}: {err}");
    }
    // Registration is closed unless the config opens it.
    let err = client
        .call_raw(
            "auth.register",
            &json!({ "user": "newcomer", "password": "long enough password" }),
        )
        .expect_err("closed by default");
    assert!(err.to_string().contains("registration is closed"), "{err}");
    vec![
        "auth.register",
        "auth.login",
        "auth.refresh",
        "auth.logout",
        "auth.password",
        "auth.tokens.create",
        "auth.tokens.list",
        "auth.tokens.revoke",
    ]
}

#[test]
fn every_method_answers_with_its_declared_type() {
    let mut d = TestDaemon::start();
    let mut client = d.client();
    let mut visitor = CallEach {
        client: &mut client,
        called: Vec::new(),
    };
    visit_methods::<Ctx, _>(&mut visitor);
    let mut called = visitor.called;
    // A job that fails on its only attempt goes dead: requeue it, retry it.
    let dead = client
        .call_raw(
            "jobs.enqueue",
            &json!({ "kind": "bot.start", "payload": { "id": 999 }, "max_attempts": 1 }),
        )
        .expect("enqueue");
    let id = dead["id"].clone();
    let wait_dead = |client: &mut Client| {
        for _ in 0..200 {
            let j = client
                .call_raw("jobs.get", &json!({ "id": id }))
                .expect("get");
            if j["state"] == "dead" {
                return j;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("job {id} did not go dead");
    };
    let j = wait_dead(&mut client);
    assert!(
        j["error"].as_str().unwrap_or_default().contains("bot"),
        "{j}"
    );
    client
        .call_raw("jobs.requeue", &json!({ "id": id }))
        .expect("requeue");
    wait_dead(&mut client);
    client
        .call_raw("jobs.retry", &json!({ "id": id }))
        .expect("retry");
    wait_dead(&mut client);
    client
        .call_raw("jobs.delete", &json!({ "id": id }))
        .expect("delete");
    called.extend(["jobs.requeue", "jobs.retry", "jobs.delete"]);
    called.extend(auth_by_hand(&mut client));
    // A backup needs a new file of its own (by hand, not sampled).
    let dir = tempfile::tempdir().expect("tempdir");
    typed::<tradedesk_core::api::system::SystemBackup>(
        &mut client,
        &json!({ "path": dir.path().join("conformance.db") }),
    );
    called.push("system.backup");
    called.extend(data_and_backtests(&mut client));
    // positions.close needs a position: buy, then close it.
    client
        .call_raw(
            "orders.place",
            &json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.001" }),
        )
        .expect("market buy");
    let closed = client
        .call_raw("positions.close", &json!({ "symbol": "BTCUSDT" }))
        .expect("positions.close");
    assert_eq!(closed["status"], "filled", "{closed}");
    called.push("positions.close");
    let shutdown = client
        .call_raw("system.shutdown", &json!({}))
        .expect("shutdown answers");
    assert_eq!(shutdown, json!({ "stopping": true }));
    let mut all: Vec<&str> = called;
    all.push("system.shutdown");
    all.sort_unstable();
    let mut expected = method_names().to_vec();
    expected.sort_unstable();
    assert_eq!(all, expected, "every method of the catalogue was called");
    d.wait_stopped();
    assert!(!d.socket.exists(), "socket removed on shutdown");
}

#[test]
fn system_methods_publishes_the_whole_catalogue() {
    let d = TestDaemon::start();
    let cat = d
        .client()
        .call::<tradedesk_core::api::system::SystemMethods>(&tradedesk_core::api::Empty {})
        .expect("call");
    let names: Vec<&str> = cat.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, method_names());
    assert!(cat.topics.iter().any(|t| t.name == "system.heartbeat"));
    assert!(
        cat.errors
            .iter()
            .any(|e| e.code == -32602 && e.http_status == 400)
    );
    let subscribe = cat
        .methods
        .iter()
        .find(|m| m.name == "streams.subscribe")
        .expect("listed");
    assert_eq!(
        subscribe.params_schema["required"],
        json!(["topics"]),
        "{}",
        subscribe.params_schema
    );
}

#[test]
fn a_whole_list_is_every_page_followed() {
    use tradedesk_core::api::market::MarketSymbols;
    use tradedesk_core::api::paging::PageParams;
    let d = TestDaemon::manual_market();
    let mut c = d.client();
    let whole = c.all::<MarketSymbols, _>().expect("one large page");
    assert_eq!(whole.len(), 3, "the three default symbols");
    // One symbol a page: three pages and a last one without a cursor.
    let paged = c
        .all_from::<MarketSymbols, _>(PageParams {
            limit: Some(1),
            cursor: None,
        })
        .expect("pages");
    let names = |v: &[tradedesk_core::instrument::Instrument]| {
        v.iter().map(|i| i.symbol.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(names(&paged), names(&whole));
}
