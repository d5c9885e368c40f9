//! Running a desk with the built binaries: `tradectl doctor` on broken
//! setups, `tradectl bench` against a daemon, completions and man pages,
//! backup and restore from the command line, `tradectl logs`, and the
//! systemd notification protocol.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tradedesk_tests::{Daemon, bin};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `tradectl` with no daemon, in an empty home under `dir`.
fn offline(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin("tradectl"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("TRADEDESK_SOCKET", dir.join("run/td.sock"))
        .env("TRADEDESK_DAEMON_BIN", bin("tradingd"))
        .env("TRADEDESK_SIM__HISTORY_MINUTES", "2880");
    if let Some(v) = std::env::var_os("RUSTUP_HOME") {
        cmd.env("RUSTUP_HOME", v);
    }
    cmd
}

/// `tradectl doctor --json` with the daemon down and `text` as its config
/// file (`name` under `dir`).
fn doctor_with_config(dir: &Path, name: &str, text: &str) -> Command {
    let config = dir.join(name);
    std::fs::write(&config, text).expect("config");
    let mut cmd = offline(dir, &["doctor", "--json", "--config"]);
    cmd.arg(&config);
    cmd
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", text(&out.stdout), text(&out.stderr)))
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no `{name}` check in {report}"))
}

#[test]
fn doctor_with_the_daemon_down_runs_the_offline_checks_and_exits_with_the_worst() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = offline(dir.path(), &["doctor", "--json"])
        .env("RUSTC", "/nonexistent/rustc")
        .output()
        .expect("doctor");
    let r = report(&out);
    assert_eq!(check(&r, "daemon")["status"], "warn", "{r}");
    assert_eq!(check(&r, "database")["status"], "warn", "{r}");
    assert_eq!(check(&r, "config")["status"], "ok", "{r}");
    let wasm = check(&r, "wasm_target");
    assert_eq!(wasm["status"], "warn", "{r}");
    assert!(
        wasm["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("rustup target add wasm32-unknown-unknown")
    );
    assert_eq!(r["worst"], "warn");
    assert_eq!(out.status.code(), Some(1), "warn exits 1");

    // A config with an unknown key: the key is named, and it is a failure.
    let out = doctor_with_config(dir.path(), "bad.toml", "[log]\nlevl = \"info\"\n")
        .output()
        .expect("doctor");
    let r = report(&out);
    let c = check(&r, "config");
    assert_eq!(c["status"], "fail", "{r}");
    assert!(
        c["detail"].as_str().unwrap_or_default().contains("levl"),
        "{c}"
    );
    assert_eq!(out.status.code(), Some(2), "fail exits 2");

    // A live venue without its keys in the secret store.
    let out = doctor_with_config(
        dir.path(),
        "live.toml",
        "[binance]\nenabled = true\nlive = true\nrest_url = \"http://127.0.0.1:9\"\nws_url = \"ws://127.0.0.1:9\"\n",
    )
    .env("TRADEDESK_SECRET_STORE", "file")
    .env("TRADEDESK_SECRETS_DIR", dir.path().join("secrets"))
    .output()
    .expect("doctor");
    let r = report(&out);
    let s = check(&r, "secrets");
    assert_eq!(s["status"], "fail", "{r}");
    assert!(
        s["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("tradectl venue keys set"),
        "{s}"
    );
    // The venue's clock cannot be read: said, not fatal.
    assert_eq!(check(&r, "clock")["status"], "warn", "{r}");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn doctor_with_the_daemon_up_passes_on_a_fresh_desk_and_prints_one_line_each() {
    let d = Daemon::start();
    let out = d.tradectl(&["doctor", "--json"]);
    let r = report(&out);
    for name in [
        "daemon",
        "socket",
        "database",
        "disk",
        "health",
        "dead_jobs",
    ] {
        assert_eq!(check(&r, name)["status"], "ok", "{name}: {r}");
    }
    let out = d.tradectl(&["doctor"]);
    let human = text(&out.stdout);
    assert!(
        human.lines().any(|l| l.starts_with("ok    database")),
        "{human}"
    );
}

#[test]
fn bench_measures_a_running_daemon_and_trades_only_when_allowed() {
    let d = Daemon::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("bench.csv");
    let out = d.tradectl(&[
        "bench",
        "--json",
        "-m",
        "system.health",
        "-m",
        "market.ticker",
        "-w",
        "4",
        "-n",
        "400",
        "--csv",
        &csv.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(runs.len(), 2);
    for r in &runs {
        assert_eq!(r["requests"], 400, "{r}");
        assert_eq!(r["ok"], 400, "{r}");
        assert_eq!(r["workers"], 4);
        let l = &r["latency_ms"];
        let f = |k: &str| l[k].as_f64().expect("number");
        assert!(f("min") > 0.0, "{r}");
        assert!(f("min") <= f("median") && f("median") <= f("p95"), "{r}");
        assert!(f("p95") <= f("p99") && f("p99") <= f("max"), "{r}");
        assert!(f("min") <= f("mean") && f("mean") <= f("max"), "{r}");
        assert!(r["per_second"].as_f64().expect("rate") > 0.0, "{r}");
    }
    let table = std::fs::read_to_string(&csv).expect("csv");
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.starts_with("target,method,workers"), "{table}");

    // Errors are counted by code, not fatal.
    let out = d.tradectl(&[
        "bench",
        "--json",
        "-m",
        r#"market.ticker={"symbol":"NOPE"}"#,
        "-n",
        "5",
    ]);
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(runs[0]["ok"], 0);
    assert!(
        runs[0]["errors"].as_object().is_some_and(|e| !e.is_empty()),
        "{}",
        runs[0]
    );

    let order = r#"orders.place={"symbol":"BTCUSDT","side":"buy","type":"market","qty":"0.001"}"#;
    let out = d.tradectl(&["bench", "-m", order, "-n", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--allow-orders"),
        "{}",
        text(&out.stderr)
    );
    let out = d.tradectl(&["bench", "-m", "system.shutdown", "-n", "1"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "administration is never benchmarked"
    );
    let out = d.tradectl(&["bench", "--json", "-m", order, "-n", "3", "--allow-orders"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let orders = d.tradectl(&["--json", "order", "list"]);
    let listed: Value = serde_json::from_slice(&orders.stdout).expect("json");
    assert!(
        listed.to_string().matches("\"filled\"").count() >= 3,
        "{listed}"
    );
}

#[test]
fn completions_and_man_pages_are_generated_for_all_three_programs() {
    let dir = tempfile::tempdir().expect("tempdir");
    for shell in ["bash", "zsh", "fish"] {
        for program in ["tradectl", "tradingd", "tradedesk"] {
            let out = offline(dir.path(), &["completions", shell, "--for", program])
                .output()
                .expect("completions");
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
            let script = text(&out.stdout);
            assert!(script.contains(program), "{shell} {program}");
            if program == "tradectl" {
                assert!(
                    script.contains("backup") && script.contains("doctor"),
                    "{shell}"
                );
            }
        }
    }
    let comp = dir.path().join("completions");
    std::fs::create_dir(&comp).expect("mkdir");
    let out = offline(
        dir.path(),
        &["completions", "zsh", "--dir", &comp.display().to_string()],
    )
    .output()
    .expect("completions");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for f in ["_tradectl", "_tradingd", "_tradedesk"] {
        assert!(comp.join(f).is_file(), "{f}");
    }

    let out = offline(dir.path(), &["man"]).output().expect("man");
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH tradectl"),
        "{page}"
    );
    let man = dir.path().join("man");
    std::fs::create_dir(&man).expect("mkdir");
    let out = offline(dir.path(), &["man", "--dir", &man.display().to_string()])
        .output()
        .expect("man");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for f in [
        "tradectl.1",
        "tradectl-backup.1",
        "tradectl-order.1",
        "tradectl-order-buy.1",
        "tradingd.1",
        "tradingd-restore.1",
        "tradedesk.1",
    ] {
        let p = man.join(f);
        assert!(p.is_file(), "{f} missing");
        let t = std::fs::read_to_string(&p).expect("read");
        assert!(t.contains(".TH"), "{f} is no man page");
    }
    let restore = std::fs::read_to_string(man.join("tradingd-restore.1")).expect("read");
    assert!(restore.contains("backup"), "{restore}");
}

#[test]
fn a_cli_backup_restores_with_tradingd_restore_once_the_daemon_is_stopped() {
    let mut d = Daemon::start();
    let order = d.tradectl(&["order", "buy", "BTCUSDT", "0.001"]);
    assert_eq!(order.status.code(), Some(0), "{}", text(&order.stderr));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("nightly.db");
    let out = d.tradectl(&["backup", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("tradingd restore"));
    let again = d.tradectl(&["backup", &file.display().to_string()]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "an existing file is never replaced"
    );

    let restore = |d: &Daemon| {
        Command::new(bin("tradingd"))
            .arg("--data-dir")
            .arg(d.data_dir())
            .arg("--config")
            .arg(d.dir.path().join("tradingd.toml"))
            .arg("restore")
            .arg(&file)
            .env_clear()
            .env("HOME", d.dir.path())
            .env("XDG_STATE_HOME", d.dir.path().join("state"))
            .output()
            .expect("restore")
    };
    let refused = restore(&d);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("stop it first"),
        "{}",
        text(&refused.stderr)
    );
    d.terminate();
    let done = restore(&d);
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    assert!(
        text(&done.stdout).contains("kept as"),
        "{}",
        text(&done.stdout)
    );
    d.spawn();
    let trades = d.tradectl(&["--json", "trades"]);
    assert_eq!(trades.status.code(), Some(0), "{}", text(&trades.stderr));
    assert!(text(&trades.stdout).contains("BTCUSDT"));
}

#[test]
fn logs_shows_the_daemons_log_filtered_by_level() {
    let d = Daemon::start();
    let out = d.tradectl(&["logs", "-n", "200"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let all = text(&out.stdout);
    assert!(all.contains("tradingd ready"), "{all}");
    let out = d.tradectl(&["logs", "--level", "warn"]);
    let warn = text(&out.stdout);
    assert!(!warn.contains(" INFO "), "{warn}");
    let out = d.tradectl(&["logs", "-n", "2"]);
    assert!(text(&out.stdout).lines().count() <= 2);
}

#[test]
fn under_systemd_it_notifies_ready_feeds_the_watchdog_and_says_stopping() {
    let dir = tempfile::tempdir().expect("tempdir");
    let notify = dir.path().join("notify.sock");
    let listener = UnixDatagram::bind(&notify).expect("bind");
    listener
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let socket = dir.path().join("run/td.sock");
    let mut child = Command::new(bin("tradingd"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--socket")
        .arg(&socket)
        .arg("--no-log-stderr")
        .env_clear()
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("TRADEDESK_SIM__HISTORY_MINUTES", "2880")
        .env("NOTIFY_SOCKET", &notify)
        .env("WATCHDOG_USEC", "200000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tradingd");
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until && !seen.iter().any(|m: &String| m.contains("WATCHDOG=1")) {
        let n = listener.recv(&mut buf).expect("a notification");
        seen.push(text(&buf[..n]));
    }
    assert!(seen[0].contains("READY=1"), "{seen:?}");
    assert!(
        tradedesk_core::client::launch::is_running(&socket),
        "ready means it answers"
    );
    let watchdogs = seen.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    assert!(watchdogs >= 1, "{seen:?}");
    let pid = rustix::process::Pid::from_raw(child.id().cast_signed()).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("TERM");
    let mut stopping = false;
    while let Ok(n) = listener.recv(&mut buf) {
        if text(&buf[..n]).contains("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "STOPPING=1 on shutdown");
    assert!(child.wait().expect("wait").success());
}

#[test]
fn the_systemd_unit_waits_for_readiness_watches_the_daemon_and_outlasts_its_stop() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let unit = std::fs::read_to_string(root.join("config/tradingd.service")).expect("unit");
    let key = |k: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k}= in the unit"))
            .trim()
            .to_owned()
    };
    assert_eq!(key("Type"), "notify");
    assert!(
        key("ExecStart").ends_with("/tradingd run"),
        "{}",
        key("ExecStart")
    );
    let secs = |k: &str| key(k).parse::<u64>().unwrap_or_else(|e| panic!("{k}: {e}"));
    assert!(secs("WatchdogSec") >= 10);
    let config: toml::Value = toml::from_str(
        &std::fs::read_to_string(root.join("config/tradingd.toml")).expect("config"),
    )
    .expect("toml");
    let deadline_ms = config["watchdog"]["stop_deadline_ms"]
        .as_integer()
        .expect("stop_deadline_ms");
    assert!(
        i64::try_from(secs("TimeoutStopSec") * 1000).expect("ms") > deadline_ms + 2000,
        "systemd must wait longer than the daemon's own stop deadline"
    );
    assert!(unit.contains("WantedBy=default.target"), "a user unit");
}
