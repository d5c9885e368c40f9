//! The `tradectl` binary's command line, without a daemon: help, version,
//! usage errors (exit 2) and no daemon (exit 3). (Being an integration
//! test of this package, it also has cargo build the binary before the
//! system suites in `tests/` run it.)

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    Command::new(env!("CARGO_BIN_EXE_tradectl"))
        .args(args)
        .env_clear()
        .env("HOME", dir.path())
        .env("TRADEDESK_SOCKET", dir.path().join("none.sock"))
        .output()
        .expect("run tradectl")
}

#[test]
fn help_version_usage_errors_and_no_daemon() {
    let help = run(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["order", "bot", "risk", "job", "backtest", "daemon"] {
        assert!(text.contains(command), "help lacks `{command}`: {text}");
    }
    let version = run(&["--version"]);
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
    let none = run(&["status"]);
    assert_eq!(none.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&none.stderr).contains("not reachable"));
}
