//! `tradectl --remote URL`: the same commands against a daemon over its
//! HTTP API, after `tradectl login` (the session kept encrypted, never in
//! plain text), or with a personal access token in `TRADEDESK_TOKEN`.

use std::process::Output;

use serde_json::Value;
use tradedesk_tests::Daemon;

const PASSWORD: &str = "correct horse battery";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

/// A daemon serving HTTP (with `extra` in its `[http]` table), its user
/// `ann`, and a `tradectl login` as her; the daemon and its URL.
fn logged_in(extra: &str) -> (Daemon, String) {
    let port = free_port();
    let d = Daemon::start_with(&format!(
        "[http]\nenabled = true\nbind = \"127.0.0.1:{port}\"\n{extra}"
    ));
    let url = format!("http://127.0.0.1:{port}");
    let added = d.tradectl_with_stdin(&["user", "add", "ann"], PASSWORD);
    assert!(added.status.success(), "{added:?}");
    let login = d.tradectl_with_stdin(&["login", &url, "--user", "ann"], PASSWORD);
    assert!(login.status.success(), "{login:?}");
    (d, url)
}

#[test]
fn tradectl_logs_in_and_works_against_a_remote_daemon() {
    let port = free_port();
    let d = Daemon::start_with(&format!(
        "[http]\nenabled = true\nbind = \"127.0.0.1:{port}\"\n"
    ));
    let url = format!("http://127.0.0.1:{port}");
    let added = d.tradectl_with_stdin(&["user", "add", "ann"], PASSWORD);
    assert!(added.status.success(), "{added:?}");

    // Without a session, a remote command says what to do (exit 2).
    let none = d.tradectl(&["--remote", &url, "balances"]);
    assert_eq!(none.status.code(), Some(2), "{none:?}");
    assert!(String::from_utf8_lossy(&none.stderr).contains("tradectl login"));
    // A wrong password is refused, and nothing is stored.
    let wrong = d.tradectl_with_stdin(&["login", &url, "--user", "ann"], "not the password");
    assert_eq!(wrong.status.code(), Some(1), "{wrong:?}");
    let login = d.tradectl_with_stdin(&["--json", "login", &url, "--user", "ann"], PASSWORD);
    let said = json(&login);
    assert_eq!(said["user"], "ann");
    // No keyring on a headless machine: the encrypted file, and no token in
    // plain text in it.
    let stored = d.dir.path().join("xdg-data/tradedesk/secrets.age");
    assert!(
        said["stored_in"]
            .as_str()
            .is_some_and(|s| s.contains("secrets.age")),
        "{said}"
    );
    let sealed = std::fs::read(&stored).expect("the secrets file");
    assert!(!sealed.windows(3).any(|w| w == b"ann"), "encrypted");

    // The same commands, over HTTP, as Ann: her own paper account.
    let bal = json(&d.tradectl(&["--remote", &url, "--json", "balances"]));
    assert_eq!(bal["account"], "paper-ann", "{bal}");
    let order = json(&d.tradectl(&[
        "--remote", &url, "--json", "order", "buy", "BTCUSDT", "0.1", "--price", "1000",
    ]));
    assert_eq!(order["account"], "paper-ann", "{order}");
    let list = json(&d.tradectl(&["--remote", &url, "--json", "order", "list", "--open"]));
    assert_eq!(list["items"][0]["id"], order["id"], "{list}");
    let id = order["id"].to_string();
    let cancelled = json(&d.tradectl(&["--remote", &url, "--json", "order", "cancel", &id]));
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    // An error keeps its code and field across HTTP.
    let bad = d.tradectl(&["--remote", &url, "order", "buy", "NOPE", "1"]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("symbol"),
        "{bad:?}"
    );
    // Streams come over the WebSocket.
    let watched = d.tradectl(&[
        "--remote",
        &url,
        "--json",
        "watch",
        "market.tickers",
        "--count",
        "1",
    ]);
    let line = json(&watched);
    assert_eq!(line["topic"], "market.tickers", "{line}");
    // A personal access token for scripts, then the session ends.
    let pat = json(&d.tradectl(&[
        "--remote",
        &url,
        "--json",
        "rpc",
        "auth.tokens.create",
        r#"{"name":"cron","scope":"read","expires_days":1}"#,
    ]));
    let out = json(&d.tradectl(&["--json", "logout", &url]));
    assert_eq!(out["revoked"], true, "{out}");
    let gone = d.tradectl(&["--remote", &url, "balances"]);
    assert_eq!(gone.status.code(), Some(2), "{gone:?}");
    let by_pat = d
        .tradectl_cmd(&["--remote", &url, "--json", "balances"])
        .env("TRADEDESK_TOKEN", pat["token"].as_str().expect("token"))
        .output()
        .expect("tradectl");
    assert_eq!(json(&by_pat)["account"], "paper-ann");
}

/// Files go as bodies: a local CSV imported into the remote daemon, and the
/// dataset exported back into a local file (the daemon never reads or
/// writes a path of this machine).
#[test]
fn tradectl_moves_files_to_and_from_a_remote_daemon() {
    use std::fmt::Write as _;
    let (d, url) = logged_in("");
    let dir = tempfile::tempdir().expect("dir");
    let csv = dir.path().join("bars.csv");
    let mut text = String::from("date,open,high,low,close\n");
    for i in 0..30 {
        let day = 1_704_067_200 + i * 86_400;
        let _ = writeln!(text, "{day},10{i},11{i},9{i},10{i}");
    }
    std::fs::write(&csv, &text).expect("csv");
    let imported = json(&d.tradectl(&[
        "--remote",
        &url,
        "--json",
        "data",
        "import",
        csv.to_str().expect("path"),
        "--symbol",
        "REMUSD",
    ]));
    assert_eq!(imported["state"], "succeeded", "{imported}");
    let id = imported["result"]["dataset"].to_string();
    let out = dir.path().join("back.csv");
    let exported = json(&d.tradectl(&[
        "--remote",
        &url,
        "--json",
        "data",
        "export",
        &id,
        out.to_str().expect("path"),
    ]));
    assert_eq!(exported["rows"], 30, "{exported}");
    let back = std::fs::read_to_string(&out).expect("exported here");
    assert_eq!(back.lines().count(), 31);
    assert!(back.starts_with("timestamp,open"), "{back}");
}

/// Over the rate limit the daemon answers 429 before running anything;
/// tradectl waits its Retry-After and asks again instead of failing.
#[test]
fn tradectl_waits_out_the_rate_limit() {
    let (d, url) = logged_in("rate_per_min = 60\nrate_burst = 2\n");
    let started = std::time::Instant::now();
    for _ in 0..4 {
        let bal = json(&d.tradectl(&["--remote", &url, "--json", "balances"]));
        assert_eq!(bal["account"], "paper-ann");
    }
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "the burst of 2 was spent, so later calls waited"
    );
}

#[test]
fn venue_keys_are_read_without_the_command_line_and_shown_by_their_last_4() {
    let d = Daemon::start_with("");
    let accounts = json(&d.tradectl(&["--json", "accounts"]));
    assert_eq!(accounts["items"][0]["mode"], "paper", "{accounts}");
    let table = d.tradectl(&["accounts"]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("paper"),
        "{table:?}"
    );
    let secret = "canary-venue-secret-7f3a9c";
    let set = d.tradectl_with_stdin(
        &["--json", "venue", "keys", "set", "binance"],
        &format!("APIKEYabcd1234\n{secret}"),
    );
    assert!(set.status.success(), "{set:?}");
    let shown = d.tradectl(&["--json", "venue", "keys", "show"]);
    let v = json(&shown);
    assert_eq!(v["key"], "…1234", "{v}");
    assert_eq!(v["secret_set"], true, "{v}");
    for out in [&set, &shown] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !all.contains(secret) && !all.contains("APIKEYabcd1234"),
            "{all}"
        );
    }
    // Kept encrypted: no file under the home holds the secret in the clear.
    let mut stack = vec![d.dir.path().to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{} holds the secret",
                    path.display()
                );
            }
        }
    }
    // A bad name is refused; the keys can be forgotten.
    let bad = d.tradectl(&["venue", "keys", "show", "no such"]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    let gone = json(&d.tradectl(&["--json", "venue", "keys", "delete"]));
    assert_eq!(gone["deleted"], true);
    let none = json(&d.tradectl(&["--json", "venue", "keys", "show"]));
    assert!(none["key"].is_null(), "{none}");
}

#[test]
fn venue_keys_can_be_kept_under_a_passphrase_the_daemon_reads_from_its_environment() {
    let d = Daemon::start_with("");
    let set = d.tradectl_with_stdin(
        &["--json", "venue", "keys", "--passphrase", "set"],
        // On a pipe each is one line: the passphrase, the key, the secret.
        "long passphrase\nAPIKEYwxyz9876\ncanary-secret-passphrase-mode",
    );
    assert!(set.status.success(), "{set:?}");
    // The passphrase from the environment (as a systemd unit gives it).
    let mut show = d.tradectl_cmd(&["--json", "venue", "keys", "--passphrase", "show"]);
    show.env("TRADEDESK_SECRETS_PASSPHRASE", "long passphrase");
    let v = json(&show.output().expect("run"));
    assert_eq!(
        (v["key"].as_str(), v["secret_set"].as_bool()),
        (Some("…9876"), Some(true)),
        "{v}"
    );
    // Without it the file cannot be read, and the error says what to give.
    let mut plain = d.tradectl_cmd(&["venue", "keys", "show"]);
    plain.env("TRADEDESK_SECRET_STORE", "file");
    let out = plain.output().expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("TRADEDESK_SECRETS_PASSPHRASE"),
        "{out:?}"
    );
}
