//! The built `tradectl` binary against a real `tradingd`: output, exit
//! codes, and the daemon start/stop commands.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;
use tradedesk_tests::bin;

fn tradingd_bin() -> PathBuf {
    bin("tradingd")
}

/// An isolated home for one test: its own socket, data, config and logs.
struct Env {
    dir: TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("td.sock")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("tradectl"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("TRADEDESK_SOCKET", self.socket())
            .env("TRADEDESK_DAEMON_BIN", tradingd_bin())
            // The daemons it starts get two days of seeded past, not 30:
            // several first starts at once in a debug build are slow.
            .env("TRADEDESK_SIM__HISTORY_MINUTES", "2880");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run tradectl")
    }

    fn start(&self) {
        let out = self.run(&["daemon", "start"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.run(&["daemon", "stop"]);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", text(&out.stdout)))
}

#[test]
fn without_a_daemon_exit_3_with_a_hint() {
    let env = Env::new();
    for args in [
        &["status"][..],
        &["rpc", "system.health"],
        &["daemon", "status"],
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("not reachable") && err.contains("tradectl daemon start"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = env.run(&["--json", "status"]);
    assert_eq!(out.status.code(), Some(3));
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).expect("JSON error on stderr");
    assert_eq!(err["error"]["kind"], "unreachable");
}

#[test]
fn daemon_start_status_stop() {
    let env = Env::new();
    env.start();
    let out = env.run(&["daemon", "start"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("already running"),
        "{}",
        text(&out.stdout)
    );

    let out = env.run(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let human = text(&out.stdout);
    for word in [
        "running",
        "uptime",
        "socket",
        "data dir",
        "database",
        "first start",
        "health",
        "components making progress",
    ] {
        assert!(human.contains(word), "status lacks `{word}`: {human}");
    }
    let info = json(&env.run(&["--json", "daemon", "status"]));
    let pid = info["pid"].as_u64().expect("pid");
    assert_eq!(info["socket"], env.socket().display().to_string());

    let out = env.run(&["--json", "daemon", "stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out)["state"], "stopped");
    assert_eq!(json(&out)["pid"].as_u64(), Some(pid));
    assert!(!env.socket().exists());
    assert_eq!(env.run(&["daemon", "status"]).status.code(), Some(3));
    let out = env.run(&["daemon", "stop"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("not running"));

    // Start again right away on the same data dir: the lock is free.
    env.start();
    let info = json(&env.run(&["--json", "status"]));
    assert_eq!(info["run_number"], 2);
    assert_eq!(info["previous_shutdown"], "clean");
}

#[test]
fn daemon_start_reports_why_the_daemon_could_not_start() {
    let env = Env::new();
    let bad = env.dir.path().join("bad.toml");
    std::fs::write(&bad, "[rpc]\nmax_conections = 3\n").expect("write");
    let out = env.run(&["daemon", "start", "--config", &bad.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("max_conections"), "{err}");
}

#[test]
fn rpc_calls_print_json_and_map_errors_to_exit_codes() {
    let env = Env::new();
    env.start();
    let out = env.run(&["rpc", "system.version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["api_version"], 1);

    let out = env.run(&["rpc", "streams.subscribe", r#"{"topics":["nope"]}"#]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("invalid_params") && err.contains("-32602") && err.contains("topics[0]"),
        "{err}"
    );

    let out = env.run(&["--json", "rpc", "system.nope"]);
    assert_eq!(out.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).expect("JSON error");
    assert_eq!(err["error"]["code"], -32601);

    let out = env.run(&["rpc", "system.health", "{oops"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("not valid JSON"));
    let out = env.run(&["rpc", "system.health", "[1]"]);
    assert_eq!(out.status.code(), Some(2));

    let mut child = env
        .cmd(&["rpc", "streams.unsubscribe", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(br#"{"topics":["system.heartbeat"]}"#)
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out)["topics"], serde_json::json!([]));
}

#[test]
fn rpc_list_shows_every_method() {
    let env = Env::new();
    let out = env.run(&["rpc", "list"]);
    assert_eq!(out.status.code(), Some(0));
    let listing = text(&out.stdout);
    for name in tradedesk_core::api::method_names() {
        assert!(listing.contains(name), "`{name}` missing from rpc list");
    }
    let methods = json(&env.run(&["--json", "rpc", "list"]));
    assert_eq!(
        methods.as_array().map(Vec::len),
        Some(tradedesk_core::api::method_names().len())
    );
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    assert_eq!(env.run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(env.run(&["rpc"]).status.code(), Some(2));
    let long = format!("/tmp/{}.sock", "x".repeat(120));
    let out = env.run(&["--socket", &long, "status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("107-byte limit"));
}

#[test]
fn trading_from_the_command_line() {
    let env = Env::new();
    env.start();
    let out = env.run(&["--json", "order", "buy", "ETHUSDT", "0.5"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let order = json(&out);
    assert_eq!(order["status"], "filled");
    let out = env.run(&[
        "order",
        "buy",
        "BTCUSDT",
        "0.01",
        "--price",
        "20000",
        "--client-id",
        "cli-1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let human = text(&out.stdout);
    assert!(
        human.contains("accepted") && human.contains("limit"),
        "{human}"
    );

    let balances = json(&env.run(&["--json", "balances"]));
    let eth = balances["balances"]
        .as_array()
        .expect("list")
        .iter()
        .find(|b| b["asset"] == "ETH")
        .cloned()
        .expect("ETH");
    assert_eq!(eth["free"], "0.5");
    let positions = json(&env.run(&["--json", "positions"]));
    assert_eq!(positions["items"][0]["symbol"], "ETHUSDT");
    let open = json(&env.run(&["--json", "order", "list", "--open"]));
    assert_eq!(open["items"].as_array().map(Vec::len), Some(1));
    let shown = json(&env.run(&["--json", "order", "show", "--client-id", "cli-1"]));
    assert_eq!(shown["price"], "20000");
    let trades = json(&env.run(&["--json", "trades"]));
    assert!(!trades["items"].as_array().expect("list").is_empty());
    let table = text(&env.run(&["market", "ticker"]).stdout);
    assert!(
        table.contains("BTCUSDT") && table.contains("SOLUSDT"),
        "{table}"
    );

    let out = env.run(&["--json", "watch", "market.tickers", "--count", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(
        lines
            .iter()
            .all(|l| l["topic"] == "market.tickers" && l["event"]["last"].is_string())
    );
    // Without --json: one readable line per event, no JSON.
    let out = env.run(&["watch", "market.tickers", "--count", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert_eq!(shown.lines().count(), 3, "{shown}");
    assert!(
        shown
            .lines()
            .all(|l| l.contains(" last ") && l.contains(" bid ") && !l.contains('{')),
        "{shown}"
    );

    let out = env.run(&["order", "cancel", "--client-id", "cli-1"]);
    assert_eq!(out.status.code(), Some(0));
    let out = env.run(&["order", "cancel", "--client-id", "cli-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("illegal_transition"),
        "{}",
        text(&out.stderr)
    );
    let out = env.run(&["order", "buy", "BTCUSDT", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("`qty`"));
    let out = env.run(&["order", "buy", "BTCUSDT", "lots"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a quantity that is not a number is a usage error"
    );
}

#[test]
fn a_margin_account_from_the_command_line() {
    let env = Env::new();
    env.start();
    // Margin terms need --margin; bad terms name their field.
    let out = env.run(&["accounts", "create", "m0", "--leverage", "3"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = env.run(&["accounts", "create", "m0", "--margin", "--leverage", "0.5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("margin.leverage"),
        "{}",
        text(&out.stderr)
    );

    let out = env.run(&[
        "accounts",
        "create",
        "m1",
        "--margin",
        "--leverage",
        "3",
        "--borrow-pct",
        "0.01",
        "--balance",
        "USDT=5000",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let human = text(&out.stdout);
    assert!(
        human.contains("account m1 (margin, sim)")
            && human.contains("leverage 3, maintenance 16.6667 %, borrow 0.01 % per 1h"),
        "{human}"
    );
    let table = text(&env.run(&["accounts"]).stdout);
    assert!(table.contains("margin ×3"), "{table}");

    let out = env.run(&["order", "sell", "BTCUSDT", "0.01", "--account", "m1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&env.run(&["balances", "--account", "m1"]).stdout);
    assert!(
        table.contains("borrowed") && table.contains("0.01"),
        "{table}"
    );
    assert!(
        table.contains("margin: equity") && table.contains("liquidation at 16.6667 %"),
        "{table}"
    );
    let b = json(&env.run(&["--json", "balances", "--account", "m1"]));
    let btc = b["balances"]
        .as_array()
        .expect("list")
        .iter()
        .find(|r| r["asset"] == "BTC")
        .cloned()
        .expect("BTC");
    assert_eq!(btc["borrowed"], "0.01", "{b}");
    // The same sell on a spot account has nothing to sell.
    let out = env.run(&["accounts", "create", "s1", "--balance", "USDT=5000"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = env.run(&["order", "sell", "BTCUSDT", "0.01", "--account", "s1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("insufficient BTC balance"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
#[allow(clippy::too_many_lines)] // one session, command after command
fn strategies_and_bots_from_the_command_line() {
    let env = Env::new();
    env.start();
    let out = env.run(&["strategy", "catalog", "sma_cross"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("fast[i-1] < slow[i-1]"), "{s}");
    assert!(s.contains("fast") && s.contains("10"), "{s}");

    // Params are typed from the schema: integers stay numbers, prices strings.
    let out = env.run(&[
        "strategy",
        "validate",
        "--kind",
        "grid",
        "--param",
        "lower=100",
        "--param",
        "upper=200",
        "--param",
        "levels=5",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("valid"),
        "{}",
        text(&out.stdout)
    );

    let out = env.run(&[
        "--json",
        "strategy",
        "create",
        "quick",
        "--kind",
        "sma_cross",
        "--param",
        "fast=3",
        "--param",
        "slow=8",
        "--sizing",
        "quote:100",
        "--take-profit",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = json(&out);
    assert_eq!(
        s["spec"]["params"],
        serde_json::json!({ "fast": 3, "slow": 8 })
    );
    assert_eq!(s["spec"]["exits"]["take_profit_pct"], "5");

    let out = env.run(&[
        "--json",
        "bot",
        "create",
        "b1",
        "--strategy",
        "quick",
        "--symbol",
        "BTCUSDT",
        "--allocate",
        "USDT=500",
        "--start",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let b = json(&out);
    assert_eq!(b["status"], "running");
    let id = b["id"].as_u64().expect("id").to_string();

    let out = env.run(&["bot", "list"]);
    let s = text(&out.stdout);
    assert!(
        s.contains("b1") && s.contains("running") && s.contains("sma_cross"),
        "{s}"
    );
    for (cmd, status) in [("pause", "paused"), ("resume", "running")] {
        let out = env.run(&["--json", "bot", cmd, &id]);
        assert_eq!(json(&out)["status"], status, "{}", text(&out.stderr));
    }
    let out = env.run(&["bot", "events", &id]);
    let s = text(&out.stdout);
    assert!(
        s.contains("created: sma_cross on BTCUSDT with 500 USDT"),
        "{s}"
    );
    assert!(s.contains("paused") && s.contains("running"), "{s}");
    let out = env.run(&["--json", "bot", "perf", &id]);
    assert_eq!(json(&out)["allocated"], "500");
    let out = env.run(&["bot", "show", &id]);
    assert!(text(&out.stdout).contains("USDT"), "{}", text(&out.stdout));

    // Bad input: the daemon names the field (exit 1); bad usage exits 2.
    let out = env.run(&[
        "strategy",
        "create",
        "bad",
        "--kind",
        "sma_cross",
        "--param",
        "fast=0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("field `spec.params.fast`"),
        "{}",
        text(&out.stderr)
    );
    let out = env.run(&[
        "bot",
        "create",
        "x",
        "--strategy",
        "quick",
        "--symbol",
        "BTCUSDT",
        "--allocate",
        "USDT",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = env.run(&["bot", "delete", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("force"), "{}", text(&out.stderr));

    let out = env.run(&["--json", "bot", "stop", &id, "--flatten"]);
    assert_eq!(json(&out)["status"], "stopped", "{}", text(&out.stderr));
    let out = env.run(&["bot", "delete", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = env.run(&["bot", "list"]);
    assert!(!text(&out.stdout).contains("b1"));
}

#[test]
fn risk_from_the_command_line() {
    let env = Env::new();
    env.start();
    let out = env.run(&[
        "risk",
        "set",
        "account:paper",
        "max_order_qty=0.5",
        "max_open_orders=3",
        "max_exposure.BTC=100000",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = env.run(&["--json", "risk", "limits", "--scope", "account:paper"]);
    let l = json(&out);
    assert_eq!(l["scopes"][0]["limits"]["max_order_qty"], "0.5");
    assert_eq!(l["scopes"][0]["limits"]["max_open_orders"], 3);
    assert_eq!(l["scopes"][0]["limits"]["max_exposure"]["BTC"], "100000");

    // A check the order would fail exits 1 for scripts; one it passes, 0.
    let out = env.run(&["risk", "check", "BTCUSDT", "buy", "0.4"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = env.run(&["risk", "check", "BTCUSDT", "buy", "0.6"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).starts_with("rejected: max_order_qty of account:paper is 0.5"),
        "{}",
        text(&out.stdout)
    );
    let out = env.run(&["order", "buy", "BTCUSDT", "0.6"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("risk_rejected"),
        "{}",
        text(&out.stderr)
    );

    let out = env.run(&["risk", "halt", "--reason", "lunch"]);
    assert_eq!(text(&out.stdout).trim(), "account:paper halted (lunch)");
    let out = env.run(&["order", "buy", "BTCUSDT", "0.001"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("trading_halted"),
        "{}",
        text(&out.stderr)
    );
    let out = env.run(&["risk", "status"]);
    let s = text(&out.stdout);
    assert!(s.contains("halted") && s.contains("max_open_orders"), "{s}");
    let out = env.run(&["--json", "risk", "alerts", "--unacknowledged"]);
    let id = json(&out)["items"][0]["id"]
        .as_u64()
        .expect("alert")
        .to_string();
    let out = env.run(&["risk", "ack", &id]);
    assert_eq!(text(&out.stdout).trim(), format!("alert {id} acknowledged"));
    let out = env.run(&["risk", "resume"]);
    assert_eq!(
        text(&out.stdout).trim(),
        "account:paper active (resumed by hand)"
    );
    let out = env.run(&["risk", "violations"]);
    let v = text(&out.stdout);
    assert!(v.contains("max_order_qty") && v.contains("halted"), "{v}");

    // Bad input: the key is named (exit 1); bad usage exits 2.
    let out = env.run(&["risk", "set", "account:paper", "max_order_qtty=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("field `limits.max_order_qtty`"),
        "{}",
        text(&out.stderr)
    );
    let out = env.run(&["risk", "set", "desk", "max_order_qty=1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn jobs_from_the_command_line() {
    let env = Env::new();
    env.start();
    // The cron line's form: enqueue, wait, exit with the job's result.
    let out = env.run(&["job", "enqueue", "maintenance.vacuum", "--wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("succeeded"),
        "{}",
        text(&out.stdout)
    );
    let out = env.run(&[
        "--json",
        "job",
        "enqueue",
        "bot.start",
        "--payload",
        r#"{"id": 77}"#,
        "--max-attempts",
        "1",
        "--wait",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a dead job exits 1: {}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("dead"), "{}", text(&out.stderr));
    let out = env.run(&["job", "list"]);
    let s = text(&out.stdout);
    assert!(
        s.contains("maintenance.vacuum") && s.contains("bot.start"),
        "{s}"
    );
    let out = env.run(&["job", "enqueue", "shell"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("unknown job kind `shell`"),
        "{}",
        text(&out.stderr)
    );
    let out = env.run(&["job", "kinds"]);
    assert!(
        text(&out.stdout).contains("maintenance.prune"),
        "{}",
        text(&out.stdout)
    );
    let out = env.run(&["job", "health"]);
    assert!(
        text(&out.stdout).starts_with("workers 2"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
#[allow(clippy::too_many_lines)] // one session: import, run, export, sweep, compare, bad input
fn data_and_backtests_from_the_command_line() {
    use std::fmt::Write as _;
    let env = Env::new();
    env.start();
    let csv = env.dir.path().join("wave.csv");
    let mut body = String::from("date,open,high,low,close,volume\n");
    let mut prev = 100.0_f64;
    for i in 0..300_i64 {
        let close = ((100.0 + 15.0 * (i as f64 / 12.0).sin()) * 100.0).round() / 100.0;
        let day = chrono::NaiveDate::from_ymd_opt(2021, 1, 1).expect("date")
            + chrono::Days::new(i as u64);
        let _ = writeln!(
            body,
            "{day},{prev},{},{},{close},10",
            prev.max(close) + 0.5,
            prev.min(close) - 0.5
        );
        prev = close;
    }
    std::fs::write(&csv, body).expect("csv");
    let csv = csv.display().to_string();
    let out = env.run(&["data", "import", &csv, "--symbol", "WAVEUSD"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = env.run(&["--json", "data", "list"]);
    assert_eq!(json(&out)["items"][0]["rows"], 300);

    let run = [
        "backtest",
        "run",
        "--kind",
        "sma_cross",
        "--param",
        "fast=5",
        "--param",
        "slow=20",
        "--dataset",
        "1",
        "--commission",
        "0.1",
        "--interval",
        "1d",
    ];
    let out = env.run(&run);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for row in [
        "Sharpe (reference)",
        "Sharpe  ",
        "365 bars a year",
        "max drawdown %",
        "profit factor",
        "succeeded",
        // The report: trades by symbol and by exit reason, monthly returns.
        "WAVEUSD",
        "exit reason",
        "signal",
        "month",
    ] {
        assert!(shown.contains(row), "no `{row}` in:\n{shown}");
    }
    let out = env.run(&["--json", "backtest", "trades", "1"]);
    assert!(
        json(&out)["items"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );

    // The HTML report: one file, nothing to fetch, every part there.
    let page = env.dir.path().join("report.html");
    let p = page.display().to_string();
    let out = env.run(&["backtest", "export", "1", "--format", "html", "--out", &p]);
    assert_eq!(out.status.code(), Some(0), "html: {}", text(&out.stderr));
    let html = std::fs::read_to_string(&page).expect("written");
    assert!(html.starts_with("<!doctype html>"), "{}", &html[..80]);
    assert_eq!(html.matches("<svg").count(), 2, "equity and candles");
    for needle in [
        "Equity and drawdown",
        "WAVEUSD — candles with the trades",
        "By exit reason",
        "Monthly returns",
        "Sharpe (reference)",
    ] {
        assert!(html.contains(needle), "no `{needle}` in the report");
    }
    for outside in ["<script", "<link", "<img", "src=", "href="] {
        assert!(
            !html.contains(outside),
            "`{outside}`: the report must open offline"
        );
    }
    let trades = json(&env.run(&["--json", "backtest", "trades", "1"]))["items"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(
        html.contains(&format!("Trades ({trades})")),
        "every trade listed"
    );
    let out = env.run(&[
        "backtest",
        "export",
        "1",
        "--format",
        "html",
        "--symbol",
        "NOPE",
        "--out",
        &format!("{p}.2"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the run trades WAVEUSD"),
        "{}",
        text(&out.stderr)
    );

    // Charts and files.
    for (fmt, magic) in [
        ("svg", &b"<svg"[..]),
        ("png", &b"\x89PNG"[..]),
        ("csv", &b"time,equity"[..]),
    ] {
        let path = env.dir.path().join(format!("chart.{fmt}"));
        let p = path.display().to_string();
        let out = env.run(&["backtest", "export", "1", "--format", fmt, "--out", &p]);
        assert_eq!(out.status.code(), Some(0), "{fmt}: {}", text(&out.stderr));
        let bytes = std::fs::read(&path).expect("written");
        assert!(
            bytes.windows(magic.len()).take(200).any(|w| w == magic),
            "{fmt} file does not start as one"
        );
        let again = env.run(&["backtest", "export", "1", "--format", fmt, "--out", &p]);
        assert_eq!(
            again.status.code(),
            Some(2),
            "an existing file is not overwritten"
        );
    }

    let out = env.run(&[
        "backtest",
        "sweep",
        "--kind",
        "sma_cross",
        "--dataset",
        "1",
        "--interval",
        "1d",
        "--grid",
        "fast=3,5,8",
        "--grid",
        "slow=20,30",
        "--rank-by",
        "return_pct",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("rank"), "{}", text(&out.stdout));
    let out = env.run(&["backtest", "compare", "1", "2"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "2 is a sweep: {}",
        text(&out.stdout)
    );
    let out = env.run(&run);
    assert_eq!(out.status.code(), Some(0));
    let out = env.run(&["backtest", "compare", "1", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("#3"), "{shown}");
    // What each run was, above what it made.
    for row in [
        "strategy",
        "sma_cross",
        "fast=5 slow=20",
        "commission %",
        "0.1",
        "return %",
    ] {
        assert!(shown.contains(row), "no `{row}` in:\n{shown}");
    }
    assert!(shown.find("strategy") < shown.find("return %"), "{shown}");

    // A sweep's combinations: all listed, any one opened as a full run.
    let out = env.run(&["backtest", "show", "2", "--top", "0"]);
    let listed = text(&out.stdout);
    assert_eq!(
        listed.lines().filter(|l| l.contains("\"fast\"")).count(),
        6,
        "{listed}"
    );
    let sweep = json(&env.run(&["--json", "backtest", "show", "2"]));
    let best = sweep["backtest"]["sweep"][0]["params"].clone();
    let out = env.run(&["--json", "backtest", "open", "2", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let opened = json(&out);
    assert_eq!(opened["backtest"]["kind"], "run");
    assert_eq!(
        opened["backtest"]["spec"]["strategies"][0]["spec"]["params"],
        best
    );
    assert_eq!(
        opened["metrics"]["return_pct"], sweep["backtest"]["sweep"][0]["metrics"]["return_pct"],
        "the full run makes what the sweep ranked"
    );
    assert!(opened["report"]["by_exit_reason"].is_array(), "{opened}");
    let out = env.run(&["backtest", "open", "2", "7"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("between 1 and 6"),
        "{}",
        text(&out.stderr)
    );

    // Bad input: the daemon names the field; exit 1.
    let out = env.run(&[
        "backtest",
        "run",
        "--kind",
        "sma_cross",
        "--param",
        "fast=50",
        "--param",
        "slow=20",
        "--dataset",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("params.fast"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_cache_from_the_command_line() {
    let env = Env::new();
    env.start();
    let ok = |args: &[&str]| {
        let out = env.run(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    assert_eq!(
        ok(&["cache", "set", "greeting", r#"{"hi":1}"#, "--ttl", "60"]),
        "user:greeting set for 60 s\n"
    );
    ok(&["market", "ticker", "BTCUSDT"]);
    ok(&["market", "ticker", "BTCUSDT"]);
    let v = json(&env.run(&["--json", "cache", "get", "user:greeting"]));
    assert_eq!(v["value"]["hi"], 1);
    let keys = ok(&["cache", "keys", "*:BTC*"]);
    assert!(keys.contains("market.ticker:BTCUSDT"), "{keys}");
    assert!(!keys.contains("user:greeting"), "{keys}");
    let stats = ok(&["cache", "stats"]);
    assert!(
        stats.lines().any(|l| l.starts_with("market.ticker")),
        "{stats}"
    );
    assert!(stats.lines().any(|l| l.starts_with("total")), "{stats}");
    let s = json(&env.run(&["--json", "cache", "stats"]));
    let ticker = s["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .find(|n| n["namespace"] == "market.ticker")
        .cloned()
        .expect("ticker stats");
    assert!(ticker["hits"].as_u64().expect("hits") >= 1, "{ticker}");
    assert_eq!(ok(&["cache", "ttl", "user", "30"]), "user 30 s\n");
    // Bad input: exit 1 and the field named; nothing changed.
    let out = env.run(&["cache", "ttl", "user", "-3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("`ttl`: must be between 1"),
        "{}",
        text(&out.stderr)
    );
    let out = env.run(&["cache", "set", "market.ticker:BTCUSDT", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("writes only `user:` keys"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(ok(&["cache", "ttl", "user"]), "user 30 s\n");
    assert_eq!(ok(&["cache", "delete-pattern", "user:*"]), "1 deleted\n");
    ok(&["cache", "flush"]);
    assert!(ok(&["cache", "health"]).starts_with("ok: 0 entries"));
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let env = Env::new();
    env.start();
    // The reader closes its end before anything is printed (as `| head`
    // does after its lines).
    let mut child = env
        .cmd(&["rpc", "system.methods"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}

#[test]
#[allow(clippy::too_many_lines)] // one walk: upload, pin, update, scaffold, build, upload
fn user_strategies_from_the_command_line() {
    let env = Env::new();
    env.start();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let lua = root.join("examples/strategies/sma_cross.lua");
    let lua = lua.to_str().expect("path");
    let out = env.run(&["strategy", "upload", lua, "--name", "my_cross"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.contains("uploaded my_cross (lua), new code") && s.contains("sha256 "),
        "{s}"
    );
    let out = env.run(&["strategy", "catalog"]);
    let s = text(&out.stdout);
    assert!(s.contains("my_cross") && s.contains("lua "), "{s}");
    let out = env.run(&["strategy", "catalog", "my_cross"]);
    let s = text(&out.stdout);
    assert!(
        s.contains("user strategy by") && s.contains("my_cross@"),
        "{s}"
    );
    // Only .lua and .wasm; a built-in's name is refused by the daemon.
    let out = env.run(&["strategy", "upload", "notes.txt"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = env.run(&["strategy", "upload", lua, "--name", "sma_cross"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    // A bot runs the version it was made with until it is updated.
    let out = env.run(&[
        "--json",
        "bot",
        "create",
        "mine",
        "--kind",
        "my_cross",
        "--symbol",
        "BTCUSDT",
        "--allocate",
        "USDT=500",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v1 = json(&out)["spec"]["strategy"]
        .as_str()
        .expect("strategy")
        .to_owned();
    assert!(v1.starts_with("my_cross@"), "{v1}");
    let work = tempfile::tempdir().expect("tempdir");
    let v2_file = work.path().join("my_cross.lua");
    let v2_text = format!("-- v2\n{}", std::fs::read_to_string(lua).expect("example"));
    std::fs::write(&v2_file, v2_text).expect("write");
    let out = env.run(&["strategy", "upload", v2_file.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = env.run(&["--json", "bot", "show", "1"]);
    assert_eq!(json(&out)["spec"]["strategy"], v1.as_str());
    let out = env.run(&["--json", "bot", "update", "1", "--kind", "my_cross"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v2 = json(&out)["spec"]["strategy"]
        .as_str()
        .expect("strategy")
        .to_owned();
    assert!(v2.starts_with("my_cross@") && v2 != v1, "{v2}");

    // A Rust strategy crate from the template, built and uploaded.
    let dir = work.path().to_str().expect("path");
    let out = env.run(&["strategy", "new", "my_wasm", "--dir", dir]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for f in [
        "Cargo.toml",
        "src/lib.rs",
        "sdk/src/lib.rs",
        "indicators/src/lib.rs",
    ] {
        assert!(work.path().join("my_wasm").join(f).exists(), "{f}");
    }
    let out = env.run(&["strategy", "new", "my_wasm", "--dir", dir]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an existing directory is left alone"
    );
    if !tradedesk_core::wasm_build::target_installed() {
        eprintln!("skipped the build: the wasm32-unknown-unknown target is not installed");
        return;
    }
    // The daemon-less commands use the machine's toolchain.
    let real = |var: &str, default: &str| {
        std::env::var_os(var).unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(default)
                .into()
        })
    };
    let crate_dir = work.path().join("my_wasm");
    let out = env
        .cmd(&[
            "strategy",
            "build",
            crate_dir.to_str().expect("path"),
            "--upload",
        ])
        .env("RUSTUP_HOME", real("RUSTUP_HOME", ".rustup"))
        .env("CARGO_HOME", real("CARGO_HOME", ".cargo"))
        .env("CARGO_TARGET_DIR", work.path().join("target"))
        .output()
        .expect("run tradectl");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("uploaded my_wasm (wasm)"),
        "{}",
        text(&out.stdout)
    );
    let out = env.run(&["strategy", "catalog", "my_wasm"]);
    assert!(
        text(&out.stdout).contains("WebAssembly"),
        "{}",
        text(&out.stdout)
    );
}
