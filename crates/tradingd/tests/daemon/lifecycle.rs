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
