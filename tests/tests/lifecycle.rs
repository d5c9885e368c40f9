//! The `tradingd` binary's life: a signal stops it cleanly, kill -9 leaves
//! an unclean stop that the next start reports, `config print` shows the
//! effective configuration and a bad key fails naming it.

use std::process::Command;

use serde_json::json;
use tradedesk_tests::{Daemon, bin};

fn previous_shutdown(d: &Daemon) -> String {
    d.client()
        .call_raw("system.info", &json!({}))
        .expect("info")["previous_shutdown"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn sigterm_stops_the_binary_cleanly() {
    let mut d = Daemon::start();
    let exit = d.terminate();
    assert!(exit.success(), "{exit}");
    assert!(!d.socket().exists(), "socket removed");
    d.spawn();
    assert_eq!(previous_shutdown(&d), "clean");
}

#[test]
fn after_kill_9_the_next_start_reports_an_unclean_stop() {
    let mut d = Daemon::start();
    d.kill9();
    assert!(
        d.socket().exists(),
        "a killed daemon leaves its socket behind"
    );
    d.spawn();
    let info = d
        .client()
        .call_raw("system.info", &json!({}))
        .expect("info");
    assert_eq!(
        (
            info["run_number"].as_u64(),
            info["previous_shutdown"].as_str()
        ),
        (Some(2), Some("unclean"))
    );
}

#[test]
fn config_print_shows_the_effective_config_and_bad_keys_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("t.toml");
    std::fs::write(&file, "[rpc]\nmax_batch = 9\n").expect("write");
    let out = Command::new(bin("tradingd"))
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
    let out = Command::new(bin("tradingd"))
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

/// `tradectl user`: a password from standard input (never the command
/// line), the users listed, a short password refused by name.
#[test]
fn tradectl_manages_the_http_users() {
    let d = tradedesk_tests::Daemon::start();
    let add = |name: &str, password: &str| {
        d.tradectl_with_stdin(&["user", "add", name, "--role", "viewer"], password)
    };
    let ok = add("alice", "correct horse battery");
    assert!(ok.status.success(), "{ok:?}");
    let said = String::from_utf8_lossy(&ok.stdout);
    assert!(said.contains("`alice` — viewer"), "{said}");
    let short = add("bob", "short");
    assert_eq!(short.status.code(), Some(1), "{short:?}");
    let err = String::from_utf8_lossy(&short.stderr);
    assert!(err.contains("password") && err.contains("12"), "{err}");
    let list = d.tradectl(&["--json", "user", "list"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    let names: Vec<&str> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, ["admin", "alice"]);
}
