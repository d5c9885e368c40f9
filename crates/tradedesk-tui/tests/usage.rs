//! The `tradedesk` binary's command line, without a terminal: help,
//! version, and a clear refusal of what it does not know. (Being an
//! integration test of this package, it also has cargo build the binary
//! before the system suites in `tests/` run it.)

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tradedesk"))
        .args(args)
        .output()
        .expect("run tradedesk")
}

#[test]
fn help_version_and_unknown_arguments() {
    let help = run(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("--socket <PATH>"), "{text}");
    assert!(text.contains("--remote <URL>"), "{text}");
    let version = run(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("tradedesk {}", env!("CARGO_PKG_VERSION"))
    );
    let bad = run(&["--frobnicate"]);
    assert!(!bad.status.success());
    assert_eq!(bad.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unexpected argument '--frobnicate'"));
    // --socket and --remote name different daemons: not both.
    let both = run(&["--socket", "/tmp/x.sock", "--remote", "https://h:1"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&both.stderr).contains("cannot be used with"));
}
