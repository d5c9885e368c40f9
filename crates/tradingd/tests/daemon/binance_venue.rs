//! The daemon on Binance — against the local mock exchange
//! (`binance_mock.rs`), never the network: paper trading on its live
//! prices, live orders signed and sent, fills from the answer and from the
//! user stream, an unknown outcome settled by asking, a restart mid-order
//! reconciled, the book kept in sequence across gaps and reconnects,
//! external orders and balance mismatches found.

use std::time::{Duration, Instant};

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tradedesk_core::client::Client;

use super::binance_mock::{self, KEY, MockX, SECRET};
use super::support::{TestDaemon, call};

struct Desk {
    daemon: Option<TestDaemon>,
    mock: std::sync::Arc<MockX>,
    urls: (String, String),
    _rt: tokio::runtime::Runtime,
}

fn config(c: &mut tradingd::config::Config, urls: &(String, String), live: bool) {
    c.sim.spec.tick_ms = 25;
    c.binance = Some(tradingd::config::BinanceConfig {
        live,
        rest_url: urls.0.clone(),
        ws_url: urls.1.clone(),
        symbols: vec!["BTCUSDT".into()],
        recv_window_ms: 5000,
        timeout: Duration::from_secs(2),
        reconcile_every: Duration::from_millis(500),
        rotate_after: Duration::from_hours(1),
        keys: "binance".into(),
    });
}

fn options(live: bool) -> tradingd::Options {
    tradingd::Options {
        binance_credentials: live.then(|| tradingd::venues::binance::Credentials {
            key: KEY.into(),
            secret: SECRET.as_bytes().to_vec(),
        }),
        ..tradingd::Options::default()
    }
}

fn start_daemon(dir: tempfile::TempDir, urls: &(String, String), live: bool) -> TestDaemon {
    let mut c = tradingd::config::Config::for_dir(dir.path());
    config(&mut c, urls, live);
    TestDaemon::try_start_with(dir, c, options(live)).expect("daemon starts on binance")
}

fn desk(live: bool) -> Desk {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (mock, http, ws) = binance_mock::start(&rt);
    let urls = (http, ws);
    let daemon = start_daemon(tempfile::tempdir().expect("tempdir"), &urls, live);
    Desk {
        daemon: Some(daemon),
        mock,
        urls,
        _rt: rt,
    }
}

impl Desk {
    fn d(&self) -> &TestDaemon {
        self.daemon.as_ref().expect("running")
    }

    fn client(&self) -> Client {
        self.d().client()
    }

    fn restart(&mut self, live: bool) {
        let dir = self.daemon.take().expect("running").stop();
        self.daemon = Some(start_daemon(dir, &self.urls, live));
    }

    /// Waits until the venue's book is in sequence and the streams are up.
    fn wait_ready(&self, live: bool) {
        wait(|| {
            let status = self
                .d()
                .ctx
                .exchange
                .lock()
                .venue
                .status()
                .unwrap_or_default();
            status.contains("1/1 books in sequence")
                && status.contains("market stream up")
                && (!live || status.contains("user stream up"))
        });
    }
}

fn wait(mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn dec(v: &Value) -> Decimal {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a decimal: {v}"))
}

fn balance(c: &mut Client, account: &str, asset: &str) -> Decimal {
    let b = call(c, "accounts.balances", json!({ "account": account }));
    b["balances"]
        .as_array()
        .expect("balances")
        .iter()
        .find(|x| x["asset"] == asset)
        .map_or(Decimal::ZERO, |x| dec(&x["total"]))
}

fn order_status(c: &mut Client, id: &Value) -> Value {
    call(c, "orders.get", json!({ "id": id }))
}

fn wait_status(c: &mut Client, id: &Value, status: &str) -> Value {
    let start = Instant::now();
    loop {
        let o = order_status(c, id);
        if o["status"] == status {
            return o;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "order never {status}: {o}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The live account's balances equal the exchange's, asset by asset.
fn wait_ledger_matches(desk: &Desk, c: &mut Client) {
    let start = Instant::now();
    loop {
        let ours = (balance(c, "binance", "BTC"), balance(c, "binance", "USDT"));
        let theirs = (desk.mock.total("BTC"), desk.mock.total("USDT"));
        if ours == theirs {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "ledger {ours:?} != venue {theirs:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn paper_accounts_trade_on_binances_prices_and_never_reach_it() {
    let desk = desk(false);
    desk.wait_ready(false);
    let mut c = desk.client();
    let accounts = call(&mut c, "accounts.list", json!({}));
    let paper = &accounts["items"][0];
    assert_eq!(
        (paper["name"].as_str(), paper["mode"].as_str()),
        (Some("paper"), Some("paper")),
        "{accounts}"
    );
    assert!(
        accounts["items"]
            .as_array()
            .expect("accounts")
            .iter()
            .all(|a| a["mode"] == "paper")
    );
    let ticker = call(&mut c, "market.ticker", json!({ "symbol": "BTCUSDT" }));
    assert_eq!(
        (dec(&ticker["bid"]), dec(&ticker["ask"])),
        (Decimal::from(49990), Decimal::from(50010)),
        "{ticker}"
    );

    // A resting paper bid fills when Binance trades through it.
    let bid = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.01", "price": "49950" }),
    );
    wait_status(&mut c, &bid["id"], "accepted");
    desk.mock.trade("49940", "1");
    let filled = wait_status(&mut c, &bid["id"], "filled");
    assert_eq!(dec(&filled["avg_price"]), Decimal::from(49950));
    // A paper market order takes Binance's ask.
    let buy = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    let buy = wait_status(&mut c, &buy["id"], "filled");
    assert_eq!(dec(&buy["avg_price"]), Decimal::from(50010));
    assert_eq!(balance(&mut c, "paper", "BTC"), Decimal::new(2, 2));
    // Nothing was sent to the exchange; no live account exists.
    assert_eq!(
        desk.mock.placed.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    let err =
        super::support::call_err(&mut c, "accounts.balances", json!({ "account": "binance" }));
    assert!(err.1.contains("binance"), "{err:?}");
}

#[test]
fn live_orders_are_signed_sent_and_their_fills_booked_once_from_answer_and_stream() {
    let desk = desk(true);
    desk.wait_ready(true);
    let mut c = desk.client();
    // The first reconciliation gives the new live account the venue's balances.
    wait_ledger_matches(&desk, &mut c);
    assert_eq!(balance(&mut c, "binance", "USDT"), Decimal::from(10_000));
    let accounts = call(&mut c, "accounts.list", json!({}));
    let live = accounts["items"]
        .as_array()
        .expect("accounts")
        .iter()
        .find(|a| a["name"] == "binance")
        .cloned()
        .expect("live account");
    assert_eq!(
        (live["venue"].as_str(), live["mode"].as_str()),
        (Some("binance"), Some("live"))
    );

    // A market buy fills at once; Binance takes its fee in BTC.
    let buy = call(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    let buy = wait_status(&mut c, &buy["id"], "filled");
    assert_eq!(dec(&buy["avg_price"]), Decimal::from(50010));
    wait_ledger_matches(&desk, &mut c);
    assert_eq!(
        balance(&mut c, "binance", "BTC"),
        "0.50999".parse::<Decimal>().unwrap()
    );

    // A resting sell fills later, reported on the user stream.
    let sell = call(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "sell", "type": "limit", "qty": "0.01", "price": "50500" }),
    );
    wait_status(&mut c, &sell["id"], "accepted");
    desk.mock.trade("50500", "1");
    wait_status(&mut c, &sell["id"], "filled");
    wait_ledger_matches(&desk, &mut c);
    let fills = call(&mut c, "trades.list", json!({}));
    assert_eq!(
        fills["items"].as_array().map(Vec::len),
        Some(2),
        "each trade booked once: {fills}"
    );

    // A cancel reaches the venue.
    let bid = call(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": "0.01", "price": "40000" }),
    );
    wait_status(&mut c, &bid["id"], "accepted");
    call(&mut c, "orders.cancel", json!({ "id": bid["id"] }));
    wait_status(&mut c, &bid["id"], "cancelled");
    wait_ledger_matches(&desk, &mut c);
    // Nothing halted on the way.
    let alerts = call(&mut c, "risk.alerts", json!({}));
    assert_eq!(
        alerts["items"].as_array().map(Vec::len),
        Some(0),
        "{alerts}"
    );
}

#[test]
fn an_order_whose_answer_is_lost_is_found_by_asking_and_never_sent_twice() {
    let desk = desk(true);
    desk.wait_ready(true);
    let mut c = desk.client();
    wait_ledger_matches(&desk, &mut c);
    desk.mock
        .lose_next_answer
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let buy = call(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.02" }),
    );
    let done = wait_status(&mut c, &buy["id"], "filled");
    assert_eq!(dec(&done["filled"]), Decimal::new(2, 2));
    let cid = done["client_order_id"].as_str().expect("client id");
    assert_eq!(
        desk.mock.orders_with_prefix(cid),
        1,
        "exactly one order at the venue"
    );
    assert_eq!(
        desk.mock.placed.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // 5xx before the venue did anything: also unknown, also asked about,
    // and found never received: rejected, funds released.
    desk.mock
        .fail_next
        .store(1, std::sync::atomic::Ordering::Relaxed);
    let lost = call(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    let rejected = wait_status(&mut c, &lost["id"], "rejected");
    assert!(
        rejected["reason"]
            .as_str()
            .is_some_and(|r| r.contains("never received")),
        "{rejected}"
    );
    wait_ledger_matches(&desk, &mut c);
}

#[test]
fn a_restart_mid_order_finds_the_order_at_the_venue_and_books_it() {
    let mut desk = desk(true);
    desk.wait_ready(true);
    let mut c = desk.client();
    wait_ledger_matches(&desk, &mut c);
    // The answer is lost and the daemon stops before asking about it.
    desk.mock
        .lose_next_answer
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let buy = call(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    assert_eq!(buy["status"], "new");
    drop(c);
    desk.restart(true);
    desk.wait_ready(true);
    let mut c = desk.client();
    let done = wait_status(&mut c, &buy["id"], "filled");
    assert_eq!(dec(&done["filled"]), Decimal::new(1, 2));
    assert_eq!(
        desk.mock.placed.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    wait_ledger_matches(&desk, &mut c);
}

#[test]
fn the_book_stays_in_sequence_across_a_gap_and_a_dropped_stream() {
    let desk = desk(false);
    desk.wait_ready(false);
    let book = || desk.d().ctx.exchange.lock().venue.book(0).clone();
    desk.mock.set_levels(&[("49995", "1")], &[]);
    wait(|| {
        book()
            .bids
            .first()
            .is_some_and(|l| l.price == "49995".parse().unwrap())
    });
    // A diff goes missing: the venue sees the gap and rebuilds from a snapshot.
    desk.mock
        .gap_next
        .store(true, std::sync::atomic::Ordering::Relaxed);
    desk.mock.set_levels(&[("49995", "0")], &[("50005", "3")]);
    // The snapshot is only wanted with a diff buffered after the gap.
    desk.mock.set_levels(&[("49985", "4")], &[]);
    wait(|| {
        let b = book();
        b.asks
            .first()
            .is_some_and(|l| l.price == "50005".parse().unwrap())
            && b.bids
                .first()
                .is_some_and(|l| l.price == "49990".parse().unwrap())
    });
    let status = desk
        .d()
        .ctx
        .exchange
        .lock()
        .venue
        .status()
        .unwrap_or_default();
    assert!(status.contains("1 resyncs"), "{status}");
    // The venue drops the link: the stream reconnects and the book is rebuilt.
    desk.mock.drop_streams();
    wait(|| {
        desk.d()
            .ctx
            .exchange
            .lock()
            .venue
            .status()
            .unwrap_or_default()
            .contains("1 reconnects")
    });
    desk.mock.set_levels(&[], &[("50005", "0")]);
    desk.wait_ready(false);
    wait(|| {
        book()
            .asks
            .first()
            .is_some_and(|l| l.price == "50010".parse().unwrap())
    });
}

fn account_state(c: &mut Client) -> String {
    let s = call(c, "risk.status", json!({ "scope": "account:binance" }));
    s["states"]
        .as_array()
        .and_then(|a| a.first())
        .map_or("active".to_owned(), |x| {
            x["state"].as_str().unwrap_or_default().to_owned()
        })
}

#[test]
fn an_external_order_is_shown_and_a_balance_mismatch_halts_the_account() {
    let desk = desk(true);
    desk.wait_ready(true);
    let mut c = desk.client();
    wait_ledger_matches(&desk, &mut c);
    desk.mock.external_order("phone-app-1", "30000", "0.1");
    let alert_kinds = |c: &mut Client| -> Vec<(String, String)> {
        let a = call(c, "risk.alerts", json!({}));
        a["items"]
            .as_array()
            .expect("alerts")
            .iter()
            .map(|x| {
                (
                    x["kind"].as_str().unwrap_or_default().to_owned(),
                    x["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    wait(|| {
        alert_kinds(&mut c)
            .iter()
            .any(|(k, m)| k == "external_order" && m.contains("phone-app-1"))
    });
    // Adopted: an open order of the account, never cancelled by the desk.
    let orders = call(&mut c, "orders.list", json!({ "open": true }));
    let adopted = orders["items"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["client_order_id"] == "phone-app-1"))
        .cloned()
        .unwrap_or_else(|| panic!("not adopted: {orders}"));
    assert_eq!(
        (
            adopted["status"].as_str(),
            adopted["account"].as_str(),
            adopted["qty"].as_str()
        ),
        (Some("accepted"), Some("binance"), Some("0.1")),
        "{adopted}"
    );
    assert_eq!(desk.mock.orders_with_prefix("phone-app-1"), 1);
    // Its execution is booked like any order's: no mismatch follows.
    desk.mock.trade("29990", "1");
    wait_status(&mut c, &adopted["id"], "filled");
    wait_ledger_matches(&desk, &mut c);
    std::thread::sleep(Duration::from_millis(1200));
    assert_ne!(account_state(&mut c), "halted");
    // Someone moves BTC in outside the desk: it cannot be explained.
    desk.mock
        .inner
        .lock()
        .expect("mock")
        .balances
        .get_mut("BTC")
        .expect("btc")
        .0 += Decimal::ONE;
    wait(|| account_state(&mut c) == "halted");
    let err = super::support::call_err(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    assert!(err.1.contains("halted"), "{err:?}");
    assert_eq!(
        desk.mock.placed.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

/// Every log line at every level, from every test in this process.
fn captured_logs() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&buf);
        let writer = move || Sink(std::sync::Arc::clone(&sink));
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(writer)
            .try_init();
        buf
    })
    .clone()
}

struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn occurrences(hay: &[u8], needle: &str) -> usize {
    hay.windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

#[test]
fn the_api_secret_appears_in_no_log_answer_or_database() {
    let logs = captured_logs();
    let mut desk = desk(true);
    desk.wait_ready(true);
    let mut c = desk.client();
    wait_ledger_matches(&desk, &mut c);
    let mut answers = Vec::new();
    // Orders filled, lost, refused by the venue and by the desk, cancelled.
    let buy = call(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    answers.push(wait_status(&mut c, &buy["id"], "filled").to_string());
    desk.mock
        .lose_next_answer
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let lost = call(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    answers.push(wait_status(&mut c, &lost["id"], "filled").to_string());
    desk.mock
        .fail_next
        .store(1, std::sync::atomic::Ordering::Relaxed);
    let failed = call(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    answers.push(wait_status(&mut c, &failed["id"], "rejected").to_string());
    let (_, refused) = super::support::call_err(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "-1" }),
    );
    answers.push(refused);
    for m in [
        "accounts.list",
        "orders.list",
        "trades.list",
        "risk.alerts",
        "system.health",
    ] {
        answers.push(call(&mut c, m, json!({})).to_string());
    }
    answers.push(format!(
        "{:?}",
        tradingd::venues::binance::Credentials {
            key: KEY.into(),
            secret: SECRET.as_bytes().to_vec()
        }
    ));
    drop(c);
    let dir = desk.daemon.take().expect("running").stop();
    let mut db = Vec::new();
    for e in std::fs::read_dir(dir.path().join("data"))
        .expect("data dir")
        .flatten()
    {
        if e.path().is_file() {
            db.extend(std::fs::read(e.path()).expect("read"));
        }
    }
    let logs = logs.lock().expect("logs").clone();
    assert!(occurrences(&logs, "binance") > 0, "the scenario was logged");
    assert!(!db.is_empty());
    assert_eq!(occurrences(&logs, SECRET), 0, "in the logs");
    assert_eq!(occurrences(&db, SECRET), 0, "in the database");
    assert_eq!(
        answers
            .iter()
            .map(|a| occurrences(a.as_bytes(), SECRET))
            .sum::<usize>(),
        0,
        "in an answer"
    );
}

#[test]
fn a_soak_with_random_faults_ends_with_no_duplicate_no_lost_fill_and_equal_balances() {
    let desk = desk(true);
    desk.wait_ready(true);
    let mut c = desk.client();
    wait_ledger_matches(&desk, &mut c);
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    // A fixed seed: the same faults on every run.
    let mut seed: u64 = 0x5eed_1234;
    let mut roll = |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let (mut orders, mut faults) = (Vec::new(), 0u32);
    for i in 0..60 {
        match roll(10) {
            0 | 1 => {
                desk.mock.lose_next_answer.store(true, relaxed);
                faults += 1;
            }
            2 => {
                desk.mock.fail_next.store(1, relaxed);
                faults += 1;
            }
            3 => {
                desk.mock.drop_streams();
                faults += 1;
            }
            4 => {
                desk.mock.gap_next.store(true, relaxed);
                desk.mock.set_levels(&[("49970", "1")], &[]);
                faults += 1;
            }
            _ => {}
        }
        let side = if i % 2 == 0 { "buy" } else { "sell" };
        let params = if roll(3) == 0 {
            // A resting order the market then trades through.
            let price = if side == "buy" { "49900" } else { "50100" };
            json!({ "account": "binance", "symbol": "BTCUSDT", "side": side, "type": "limit", "qty": "0.01", "price": price })
        } else {
            json!({ "account": "binance", "symbol": "BTCUSDT", "side": side, "type": "market", "qty": "0.01" })
        };
        orders.push(call(&mut c, "orders.place", params)["id"].clone());
        if roll(4) == 0 {
            desk.mock
                .trade(if side == "buy" { "49900" } else { "50100" }, "1");
        }
    }
    // The market trades through every resting price; then all settles.
    desk.mock.trade("49900", "1");
    desk.mock.trade("50100", "1");
    for id in &orders {
        let start = Instant::now();
        loop {
            let o = order_status(&mut c, id);
            if matches!(
                o["status"].as_str(),
                Some("filled" | "rejected" | "cancelled" | "expired")
            ) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "never settled: {o}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    wait_ledger_matches(&desk, &mut c);
    let fills = call(&mut c, "trades.list", json!({ "limit": 1000 }));
    let ours = fills["items"].as_array().map_or(0, Vec::len);
    let theirs = desk.mock.trades_of("");
    let duplicates = desk.mock.duplicates.load(relaxed);
    let diff = (
        balance(&mut c, "binance", "BTC") - desk.mock.total("BTC"),
        balance(&mut c, "binance", "USDT") - desk.mock.total("USDT"),
    );
    eprintln!(
        "soak: {} orders, {faults} faults injected, {} reached the venue, {duplicates} duplicates, {} venue trades, {ours} booked fills, ledger difference BTC {} USDT {}",
        orders.len(),
        desk.mock.placed.load(relaxed),
        theirs,
        diff.0,
        diff.1
    );
    assert_eq!(duplicates, 0, "no order sent twice");
    assert_eq!(ours, theirs, "every venue trade booked once");
    assert_eq!(diff, (Decimal::ZERO, Decimal::ZERO));
    assert_ne!(account_state(&mut c), "halted");
}

fn venue_health(c: &mut Client) -> (String, String) {
    let h = call(c, "system.health", json!({}));
    let v = h["components"]
        .as_array()
        .expect("components")
        .iter()
        .find(|x| x["name"] == "venue binance")
        .cloned()
        .unwrap_or_else(|| panic!("no venue component: {h}"));
    (
        v["status"].as_str().unwrap_or_default().to_owned(),
        v["detail"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn health_shows_the_venues_link_down_while_it_reconnects() {
    let desk = desk(true);
    desk.wait_ready(true);
    let mut c = desk.client();
    assert_eq!(venue_health(&mut c).0, "ok");
    desk.mock
        .refuse_ws
        .store(true, std::sync::atomic::Ordering::Relaxed);
    desk.mock.drop_streams();
    wait(|| venue_health(&mut c).0 == "disconnected");
    let (_, detail) = venue_health(&mut c);
    assert!(
        detail.contains("market stream is down") && detail.contains("user stream is down"),
        "{detail}"
    );
    let h = call(&mut c, "system.health", json!({}));
    assert_eq!(h["status"], "degraded", "{h}");
    desk.mock
        .refuse_ws
        .store(false, std::sync::atomic::Ordering::Relaxed);
    wait(|| venue_health(&mut c).0 == "ok");
}

#[test]
fn a_ban_halts_the_live_account_with_an_alert_and_health_says_so() {
    let desk = desk(true);
    desk.wait_ready(true);
    let mut c = desk.client();
    wait_ledger_matches(&desk, &mut c);
    desk.mock
        .ban_next
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let buy = call(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    let refused = wait_status(&mut c, &buy["id"], "rejected");
    assert!(
        refused["reason"]
            .as_str()
            .is_some_and(|r| r.contains("banned")),
        "{refused}"
    );
    wait(|| account_state(&mut c) == "halted");
    let (status, detail) = venue_health(&mut c);
    assert_eq!(status, "suspended", "{detail}");
    assert!(detail.contains("418"), "{detail}");
    let alerts = call(&mut c, "risk.alerts", json!({}));
    assert!(
        alerts["items"]
            .as_array()
            .expect("alerts")
            .iter()
            .any(|a| a["severity"] == "critical"
                && a["message"].as_str().is_some_and(|m| m.contains("418"))),
        "{alerts}"
    );
    // Paper accounts are not the venue's: they keep trading.
    let paper = call(
        &mut c,
        "orders.place",
        json!({ "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    wait_status(&mut c, &paper["id"], "filled");
    assert_eq!(
        desk.mock.placed.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[test]
fn the_live_account_takes_orders_only_once_reconciled_after_a_start() {
    let mut desk = desk(true);
    desk.wait_ready(true);
    let mut c = desk.client();
    wait_ledger_matches(&desk, &mut c);
    drop(c);
    // The account cannot be read at the next start: no order is taken.
    desk.mock
        .fail_account
        .store(true, std::sync::atomic::Ordering::Relaxed);
    desk.restart(true);
    desk.wait_ready(true);
    let mut c = desk.client();
    let order = json!({ "account": "binance", "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" });
    let (_, msg) = super::support::call_err(&mut c, "orders.place", order.clone());
    assert!(msg.contains("being reconciled"), "{msg}");
    assert_eq!(
        desk.mock.placed.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    // Once it can be, orders are taken.
    desk.mock
        .fail_account
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let start = Instant::now();
    let placed = loop {
        match c.call_raw("orders.place", &order) {
            Ok(v) => break v,
            Err(e) => assert!(start.elapsed() < Duration::from_secs(20), "{e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    wait_status(&mut c, &placed["id"], "filled");
}

#[test]
fn an_oco_goes_to_binance_as_an_order_list_and_one_leg_expires_the_other() {
    let desk = desk(true);
    desk.wait_ready(true);
    let mut c = desk.client();
    wait_ledger_matches(&desk, &mut c);
    let oco = |c: &mut Client| {
        call(
            c,
            "orders.place_oco",
            json!({ "account": "binance", "symbol": "BTCUSDT", "side": "sell", "qty": "0.1",
                    "price": "50500", "stop_price": "49500" }),
        )
    };
    // Take profit: the limit leg fills, Binance expires the stop.
    let pair = oco(&mut c);
    let (limit, stop) = (pair["limit"]["id"].clone(), pair["stop"]["id"].clone());
    wait_status(&mut c, &limit, "accepted");
    assert_eq!(
        desk.mock
            .orders_with_prefix(pair["limit"]["client_order_id"].as_str().expect("cid")),
        1
    );
    desk.mock.trade("50500", "1");
    wait_status(&mut c, &limit, "filled");
    let other = order_status(&mut c, &stop);
    wait(|| {
        matches!(
            order_status(&mut c, &stop)["status"].as_str(),
            Some("expired" | "cancelled")
        )
    });
    wait_ledger_matches(&desk, &mut c);
    // Stop loss: the market falls through the stop, the limit expires.
    let pair = oco(&mut c);
    let (limit, stop) = (pair["limit"]["id"].clone(), pair["stop"]["id"].clone());
    wait_status(&mut c, &stop, "accepted");
    desk.mock.trade("49400", "1");
    let stopped = wait_status(&mut c, &stop, "filled");
    assert_eq!(dec(&stopped["avg_price"]), Decimal::from(49400));
    wait(|| {
        matches!(
            order_status(&mut c, &limit)["status"].as_str(),
            Some("expired" | "cancelled")
        )
    });
    wait_ledger_matches(&desk, &mut c);
    assert_ne!(account_state(&mut c), "halted", "{other}");
}

/// The `tradingd` binary on Binance (the mock), its keys in an encrypted
/// secrets file, as a user runs it.
struct Process {
    child: Option<std::process::Child>,
    dir: tempfile::TempDir,
}

impl Process {
    fn start(dir: tempfile::TempDir, urls: &(String, String)) -> Process {
        let config = dir.path().join("tradingd.toml");
        std::fs::write(
            &config,
            format!(
                "[sim]\ntick_ms = 25\n[binance]\nenabled = true\nlive = true\nrest_url = \"{}\"\n\
                 ws_url = \"{}\"\nsymbols = [\"BTCUSDT\"]\nreconcile_every_s = 1\n",
                urls.0, urls.1
            ),
        )
        .expect("config");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_tradingd"))
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--socket")
            .arg(dir.path().join("td.sock"))
            .env_clear()
            .env("HOME", dir.path())
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .env("TRADEDESK_SECRET_STORE", "file")
            .env("TRADEDESK_SECRETS_DIR", dir.path().join("secrets"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).expect("stderr file"))
            .spawn()
            .expect("start tradingd");
        let mut p = Process {
            child: Some(child),
            dir,
        };
        let start = Instant::now();
        while Client::connect(&p.dir.path().join("td.sock")).is_err() {
            let exited = p.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || start.elapsed() > Duration::from_secs(20) {
                let err = std::fs::read_to_string(p.dir.path().join("stderr")).unwrap_or_default();
                panic!("tradingd did not start ({exited:?}): {err}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        p
    }

    fn client(&self) -> Client {
        let mut c = Client::connect(&self.dir.path().join("td.sock")).expect("connect");
        c.set_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        c
    }

    fn kill9(mut self) -> tempfile::TempDir {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn a_daemon_killed_mid_order_finds_it_at_binance_when_it_starts_again() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (mock, http, ws) = binance_mock::start(&rt);
    let urls = (http, ws);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = tradedesk_core::secrets::AgeFile::new(
        dir.path().join("secrets/secrets.age"),
        dir.path().join("secrets/secrets.key"),
    );
    std::fs::create_dir_all(dir.path().join("secrets")).expect("dir");
    let (key, secret) = tradedesk_core::secrets::venue_keys("binance");
    use tradedesk_core::secrets::SecretStore as _;
    store.set(&key, KEY).expect("key");
    store.set(&secret, SECRET).expect("secret");

    let d = Process::start(dir, &urls);
    let mut c = d.client();
    let ours = |c: &mut Client, asset: &str| balance(c, "binance", asset);
    wait(|| ours(&mut c, "USDT") == mock.total("USDT"));
    // The exchange fills the order but its answer never comes: the daemon
    // is killed while it waits.
    mock.hang_next
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let buy = call(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.01" }),
    );
    assert_eq!(buy["status"], "new");
    wait(|| mock.placed.load(std::sync::atomic::Ordering::Relaxed) == 1);
    drop(c);
    let dir = d.kill9();

    let d = Process::start(dir, &urls);
    let mut c = d.client();
    let done = wait_status(&mut c, &buy["id"], "filled");
    assert_eq!(dec(&done["filled"]), Decimal::new(1, 2));
    assert_eq!(
        mock.placed.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "never sent again"
    );
    assert_eq!(
        mock.duplicates.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    wait(|| ours(&mut c, "BTC") == mock.total("BTC") && ours(&mut c, "USDT") == mock.total("USDT"));
}

fn rfc3339(ms: i64) -> String {
    tradedesk_core::time::Timestamp(ms).to_string()
}

#[test]
fn data_download_fills_a_dataset_from_binances_klines_page_by_page() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (_mock, http, _) = binance_mock::start(&rt);
    // Binance is not the market here: the download uses a client of its own.
    let d = TestDaemon::start_with(|c| c.data.download_url = http.clone());
    let mut c = d.client();
    let minute = chrono::Utc::now().timestamp_millis().div_euclid(60_000) * 60_000;
    let start = minute - 2_500 * 60_000;
    let job = call(
        &mut c,
        "data.download",
        json!({ "symbol": "BTCUSDT", "interval": "1m", "start": rfc3339(start) }),
    );
    let done = super::support::settled(&mut c, &job["id"]);
    assert_eq!(done["state"], "succeeded", "{done}");
    let id = done["result"]["dataset"].clone();
    let set = call(&mut c, "data.get", json!({ "id": id }));
    // Three pages (1,000 + 1,000 + the rest); the minute still forming is
    // not a bar yet.
    assert!(set["rows"] == 2_500 || set["rows"] == 2_501, "{set}");
    assert_eq!(
        (set["interval"].as_str(), set["gaps"].as_u64()),
        (Some("1m"), Some(0)),
        "{set}"
    );
    assert!(
        set["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("binance:")),
        "{set}"
    );
    assert_eq!(set["name"], "BTCUSDT-1m");
    // A download without what it needs is refused before it is queued.
    let (_, msg) = super::support::call_err(
        &mut c,
        "data.download",
        json!({ "symbol": "BTCUSDT", "interval": "7m", "start": rfc3339(start) }),
    );
    assert!(msg.contains("interval"), "{msg}");
}

#[test]
fn a_bracket_on_binance_sends_its_exits_as_an_oco_once_the_entry_is_done() {
    let desk = desk(true);
    desk.wait_ready(true);
    let mut c = desk.client();
    wait_ledger_matches(&desk, &mut c);
    let bracket = |c: &mut Client, entry: Value| {
        let mut p = json!({ "account": "binance", "symbol": "BTCUSDT", "side": "buy", "qty": "0.01",
                            "take_profit": "50500", "stop_loss": "49000" });
        for (k, v) in entry.as_object().expect("entry") {
            p[k] = v.clone();
        }
        call(c, "orders.place_bracket", p)
    };
    // A market entry fills in its answer: the exits go out at once.
    let b = bracket(&mut c, json!({ "type": "market" }));
    let (tp, sl) = (b["take_profit"]["id"].clone(), b["stop_loss"]["id"].clone());
    wait_status(&mut c, &b["entry"]["id"], "filled");
    wait_status(&mut c, &tp, "accepted");
    wait_status(&mut c, &sl, "accepted");
    let placed = || desk.mock.placed.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(placed(), 2, "the entry, then one order list");
    desk.mock.trade("50500", "1");
    wait_status(&mut c, &tp, "filled");
    wait(|| {
        matches!(
            order_status(&mut c, &sl)["status"].as_str(),
            Some("expired" | "cancelled")
        )
    });
    wait_ledger_matches(&desk, &mut c);

    // A resting entry: its exits wait (not at Binance), then go out when
    // the user stream says it filled.
    let b = bracket(&mut c, json!({ "type": "limit", "price": "49950" }));
    let (tp, sl) = (b["take_profit"]["id"].clone(), b["stop_loss"]["id"].clone());
    wait_status(&mut c, &b["entry"]["id"], "accepted");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        order_status(&mut c, &tp)["status"],
        "pending",
        "the exits wait"
    );
    assert_eq!(placed(), 3);
    desk.mock.trade("49950", "1");
    wait_status(&mut c, &b["entry"]["id"], "filled");
    wait_status(&mut c, &sl, "accepted");
    assert_eq!(placed(), 4);
    desk.mock.trade("48900", "1");
    let stopped = wait_status(&mut c, &sl, "filled");
    assert_eq!(dec(&stopped["avg_price"]), Decimal::from(48900));
    wait(|| {
        matches!(
            order_status(&mut c, &tp)["status"].as_str(),
            Some("expired" | "cancelled")
        )
    });
    wait_ledger_matches(&desk, &mut c);
    assert_ne!(account_state(&mut c), "halted");
}

#[test]
fn a_trailing_stop_binance_cannot_take_is_watched_by_the_daemon_and_sent_when_hit() {
    let desk = desk(true);
    desk.wait_ready(true);
    let mut c = desk.client();
    wait_ledger_matches(&desk, &mut c);
    let placed = || desk.mock.placed.load(std::sync::atomic::Ordering::Relaxed);
    // A trail by an amount: not a Binance order type.
    let stop = call(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "sell",
        "type": "trailing_stop", "qty": "0.01", "trail": { "amount": "100" } }),
    );
    wait_status(&mut c, &stop["id"], "accepted");
    assert_eq!(placed(), 0, "watched here, not sent");
    // The market rises (the stop follows), then falls through it.
    desk.mock.trade("50300", "1");
    std::thread::sleep(Duration::from_millis(300));
    desk.mock.trade("50250", "1");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(placed(), 0, "50,250 is above the stop at 50,200");
    // The reconciliation asks about it and does not reject it meanwhile.
    assert_eq!(order_status(&mut c, &stop["id"])["status"], "accepted");
    desk.mock.trade("50190", "1");
    let done = wait_status(&mut c, &stop["id"], "filled");
    assert!(done["triggered"].as_bool().unwrap_or(false), "{done}");
    assert_eq!(placed(), 1, "one market order");
    // Sold at the book's bid, as a market order is.
    assert_eq!(dec(&done["avg_price"]), Decimal::from(49990));
    wait_ledger_matches(&desk, &mut c);
    // One that is cancelled before it triggers never reaches Binance.
    let other = call(
        &mut c,
        "orders.place",
        json!({ "account": "binance", "symbol": "BTCUSDT", "side": "sell",
        "type": "trailing_stop", "qty": "0.01", "trail": { "amount": "100" } }),
    );
    wait_status(&mut c, &other["id"], "accepted");
    call(&mut c, "orders.cancel", json!({ "id": other["id"] }));
    wait_status(&mut c, &other["id"], "cancelled");
    desk.mock.trade("40000", "1");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(placed(), 1);
}

#[test]
fn binances_closed_klines_replace_the_bars_built_from_trades() {
    let desk = desk(false);
    desk.wait_ready(false);
    let mut c = desk.client();
    let minute = chrono::Utc::now().timestamp_millis().div_euclid(60_000) * 60_000;
    let at = minute - 5 * 60_000;
    let bar_at = |c: &mut Client| -> Option<Value> {
        let k = call(
            c,
            "market.klines",
            json!({ "symbol": "BTCUSDT", "limit": 20 }),
        );
        k["bars"]
            .as_array()
            .or_else(|| k.as_array())
            .and_then(|bars| bars.iter().find(|b| b["open_time"] == rfc3339(at)).cloned())
    };
    // The start's REST history has that minute at 100.
    let before = bar_at(&mut c).unwrap_or_else(|| {
        panic!(
            "no bar at {}: {}",
            rfc3339(at),
            call(
                &mut c,
                "market.klines",
                json!({ "symbol": "BTCUSDT", "limit": 3 })
            )
        )
    });
    assert_eq!(dec(&before["close"]), Decimal::from(100), "{before}");
    desk.mock.kline_closed(at, "123.5");
    wait(|| bar_at(&mut c).is_some_and(|b| b["close"] == "123.5" && b["trades"] == 9));
    // Written, not only in memory: the stored klines say so too.
    let stored = call(
        &mut c,
        "market.klines",
        json!({ "symbol": "BTCUSDT", "start": rfc3339(at), "end": rfc3339(at + 60_000) }),
    );
    assert!(stored.to_string().contains("123.5"), "{stored}");
}
