//! Start, stop, restart, crash, and the single-instance and socket rules.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

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
    let store =
        tradedesk_core::store::Store::open(&dir.path().join("data/tradedesk.db")).expect("open");
    assert_eq!(
        store.schema_version().expect("version"),
        tradedesk_core::store::SCHEMA_VERSION,
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

pub fn spawn_daemon(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tradingd"))
        .args(["--data-dir", &dir.join("data").display().to_string()])
        .args(["--socket", &dir.join("tradingd.sock").display().to_string()])
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tradingd")
}

pub fn wait_ready(socket: &Path) {
    for _ in 0..1000 {
        if tradedesk_core::client::launch::is_running(socket) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("daemon did not come up on {}", socket.display());
}

#[test]
fn sigterm_stops_the_binary_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_daemon(dir.path());
    let socket = dir.path().join("tradingd.sock");
    wait_ready(&socket);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "{exit}");
    assert!(!socket.exists(), "socket removed");
    let d = TestDaemon::start_in(dir, |_| {});
    assert_eq!(info(&d).previous_shutdown, PreviousShutdown::Clean);
}

#[test]
fn after_kill_9_the_next_start_reports_an_unclean_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = spawn_daemon(dir.path());
    let socket = dir.path().join("tradingd.sock");
    wait_ready(&socket);
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    assert!(socket.exists(), "a killed daemon leaves its socket behind");
    let d = TestDaemon::start_in(dir, |_| {});
    let i = info(&d);
    assert_eq!(
        (i.run_number, i.previous_shutdown),
        (2, PreviousShutdown::Unclean)
    );
}

#[test]
fn config_print_shows_the_effective_config_and_bad_keys_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("t.toml");
    std::fs::write(&file, "[rpc]\nmax_batch = 9\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_tradingd"))
        .args([
            "--config",
            &file.display().to_string(),
            "--data-dir",
            "/tmp/td-print",
            "config",
            "print",
        ])
        .env("TRADEDESK_RPC__MAX_CONNECTIONS", "17")
        .env("TRADEDESK_SOCKET", "/tmp/td-print.sock")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let printed: toml::Table = toml::from_str(&text).expect("prints TOML");
    assert_eq!(printed["rpc"]["max_batch"].as_integer(), Some(9));
    assert_eq!(printed["rpc"]["max_connections"].as_integer(), Some(17));
    assert_eq!(printed["data_dir"].as_str(), Some("/tmp/td-print"));
    assert_eq!(printed["socket"].as_str(), Some("/tmp/td-print.sock"));

    std::fs::write(&file, "[rpc]\nmax_batchez = 9\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_tradingd"))
        .args(["--config", &file.display().to_string(), "config", "print"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("max_batchez") && err.contains("t.toml"),
        "{err}"
    );
}
