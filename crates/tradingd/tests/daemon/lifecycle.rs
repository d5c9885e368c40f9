//! Start, stop, restart, crash, and the single-instance and socket rules.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tradedesk_core::api::Empty;
use tradedesk_core::api::system::{PreviousShutdown, SystemInfo};
use tradingd::StartError;
use tradingd::config::Config;

use super::support::TestDaemon;

fn info(d: &TestDaemon) -> tradedesk_core::api::system::Info {
    d.client()
        .call::<SystemInfo>(&Empty {})
        .expect("system.info")
}

#[test]
fn restart_on_the_same_data_dir_is_idempotent_and_reports_a_clean_stop() {
    let d = TestDaemon::start();
    let first = info(&d);
    assert_eq!(
        (first.run_number, first.previous_shutdown),
        (1, PreviousShutdown::None)
    );
    let dir = d.stop();
    let d = TestDaemon::start_in(dir, |_| {});
    let second = info(&d);
    assert_eq!(
        (second.run_number, second.previous_shutdown),
        (2, PreviousShutdown::Clean)
    );
    assert_eq!(second.db_path, first.db_path);
    let dir = d.stop();
    let store = tradingd::store::Store::open(&dir.path().join("data/tradedesk.db")).expect("open");
    assert_eq!(
        store.schema_version().expect("version"),
        tradingd::store::SCHEMA_VERSION,
        "migrations ran once each"
    );
}

#[test]
fn a_second_daemon_on_the_same_data_dir_refuses_to_start() {
    let d = TestDaemon::start();
    let other = tempfile::tempdir().expect("tempdir");
    let mut config = Config::for_dir(other.path());
    config.data_dir.clone_from(&d.data_dir);
    let err = TestDaemon::try_start_in(other, config)
        .err()
        .expect("refused");
    assert!(matches!(err, StartError::AlreadyRunning { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );
    assert!(text.contains(&d.data_dir.display().to_string()), "{text}");
    info(&d);
}

#[test]
fn a_live_socket_is_not_stolen_and_a_stale_one_is_replaced() {
    let d = TestDaemon::start();
    let other = tempfile::tempdir().expect("tempdir");
    let mut config = Config::for_dir(other.path());
    config.socket.clone_from(&d.socket);
    let err = TestDaemon::try_start_in(other, config)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("already listening"), "{err}");
    info(&d);

    let dir = tempfile::tempdir().expect("tempdir");
    let socket = Config::for_dir(dir.path()).socket;
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    assert!(socket.exists(), "a stale socket file is left behind");
    let d = TestDaemon::start_in(dir, |_| {});
    info(&d);
}

#[test]
fn socket_is_private_to_the_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("run/nested/tradingd.sock");
    let d = TestDaemon::start_in(dir, |c| c.socket.clone_from(&socket));
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(socket.parent().expect("dir")), 0o700);
    assert_eq!(mode(&d.data_dir), 0o700);
    // The database and the lock file inside are the user's only too.
    assert_eq!(mode(&d.data_dir.join("tradedesk.db")), 0o600);
    assert_eq!(mode(&d.data_dir.join("tradingd.lock")), 0o600);
    info(&d);
}

#[test]
fn shutdown_answers_then_stops_and_removes_the_socket() {
    let mut d = TestDaemon::start();
    let mut client = d.client();
    let ack = client
        .call_raw("system.shutdown", &serde_json::json!({}))
        .expect("answered");
    assert_eq!(ack["stopping"], true);
    d.wait_stopped();
    assert!(!d.socket.exists());
    assert!(tradedesk_core::client::Client::connect(&d.socket).is_err());
}

/// Every 1-minute bar of `symbol` in the database: (open time, close).
fn seeded(d: &TestDaemon, symbol: &str) -> Vec<(i64, String)> {
    let conn = rusqlite::Connection::open(d.data_dir.join("tradedesk.db")).expect("open");
    let mut st = conn
        .prepare("SELECT open_ms, close FROM klines_1m WHERE symbol = ?1 ORDER BY open_ms")
        .expect("query");
    st.query_map([symbol], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

#[test]
fn a_first_start_has_thirty_days_of_bars_before_the_markets_first_tick_the_same_for_a_seed() {
    let default = Config::for_dir(Path::new("/tmp")).sim.history_minutes;
    assert!(
        default >= 30 * 1440,
        "the default past is 30 days: {default}"
    );
    let at = tradedesk_core::time::Timestamp(1_780_000_000_000);
    let start = |dir: tempfile::TempDir| {
        let t0 = std::time::Instant::now();
        let d = TestDaemon::manual_clock_with(
            dir,
            tradingd::Options {
                manual_clock: Some(at),
                ..tradingd::Options::default()
            },
            |c| c.sim.history_minutes = default,
        );
        println!(
            "figure | first start with {default} minutes of past: {:?}",
            t0.elapsed()
        );
        d
    };
    // The manual clock has not moved: the market has not ticked once.
    let d = start(tempfile::tempdir().expect("tempdir"));
    let mut c = d.client();
    for symbol in ["BTCUSDT", "ETHUSDT", "SOLUSDT"] {
        let bars = seeded(&d, symbol);
        assert_eq!(bars.len(), default, "{symbol}");
        let span = bars[bars.len() - 1].0 - bars[0].0;
        assert!(span >= 30 * 86_400_000 - 60_000, "{symbol}: {span} ms");
        assert!(
            bars.windows(2).all(|w| w[1].0 - w[0].0 == 60_000),
            "{symbol}: no gaps"
        );
        assert!(
            bars[bars.len() - 1].0 < at.millis(),
            "all of it in the past"
        );
        // The live market goes on from the last generated close.
        let ticker = super::support::call(
            &mut c,
            "market.ticker",
            serde_json::json!({ "symbol": symbol }),
        );
        let last: rust_decimal::Decimal =
            ticker["last"].as_str().expect("last").parse().expect("dec");
        let close: rust_decimal::Decimal = bars[bars.len() - 1].1.parse().expect("dec");
        assert_eq!(last, close, "{symbol}");
    }
    // Charts and indicators have their bars at once.
    let k = super::support::call(
        &mut c,
        "market.klines",
        serde_json::json!({ "symbol": "BTCUSDT", "interval": "1h", "limit": 500 }),
    );
    assert_eq!(k["bars"].as_array().map(Vec::len), Some(500));
    // Deterministic for a seed: another install makes the same past.
    let again = start(tempfile::tempdir().expect("tempdir"));
    assert_eq!(seeded(&d, "BTCUSDT"), seeded(&again, "BTCUSDT"));
}
