//! The real `tradedesk` binary in a terminal (tmux) against a real
//! `tradingd`: it connects, switches screens, places an order through the
//! ticket, shows it on the Orders screen, keeps it (stale) while the
//! daemon is away and reconnects when it is back, and quits leaving the
//! daemon up.
//! Skips (with a message) where tmux is not installed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tradedesk_core::api::orders::{OrderFilter, OrdersList};
use tradedesk_core::client::{Client, launch};

use tradedesk_tests::bin;
use tradedesk_tests::live::Live;

fn tradingd_bin() -> PathBuf {
    bin("tradingd")
}

/// The dashboard's pane in the test's tmux server.
trait Desk {
    fn screen(&self) -> String;
    fn keys(&self, keys: &[&str]);
    /// Waits until the screen shows `text`.
    fn wait_for(&self, text: &str) -> String;
}

impl Desk for Live {
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "desk"])
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "desk", k]);
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    fn wait_for(&self, text: &str) -> String {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < until,
                "never saw {text:?}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn the_dashboard_places_an_order_through_the_ticket_and_shows_it() {
    if !tradedesk_tests::live::tmux_available() {
        eprintln!("skipping: tmux is not installed (the end-to-end dashboard test drives it)");
        return;
    }
    let mut desk = Live::start(&tradingd_bin(), "e2e");
    let cmd = format!(
        "env TERM=xterm-256color NO_COLOR=1 {} --socket {}",
        bin("tradedesk").display(),
        desk.socket().display()
    );
    desk.tmux(&[
        "new-session",
        "-d",
        "-s",
        "desk",
        "-x",
        "120",
        "-y",
        "40",
        &cmd,
    ]);
    desk.wait_for("● connected");
    desk.wait_for("Account paper");

    desk.keys(&["2"]);
    desk.wait_for("Watchlist (3)");
    desk.keys(&["3"]);
    desk.wait_for("Open orders (0)");

    // The ticket: BTCUSDT (the watched symbol), buy, limit 0.01 @ 1000.
    desk.keys(&["n"]);
    desk.wait_for("Order ticket");
    desk.keys(&[
        "Tab", "Tab", "Right", "Tab", "0", ".", "0", "1", "Tab", "1", "0", "0", "0",
    ]);
    desk.keys(&["Enter"]);
    desk.wait_for("risk check passed");
    desk.keys(&["Enter"]);
    let screen = desk.wait_for("Open orders (1)");
    assert!(screen.contains("BTCUSDT"), "{screen}");
    assert!(screen.contains("limit"), "{screen}");
    assert!(screen.contains("1000"), "{screen}");

    // The daemon has it, resting.
    let mut c = Client::connect(&desk.socket()).expect("client");
    let open = c
        .call::<OrdersList>(&OrderFilter {
            open: Some(true),
            ..OrderFilter::default()
        })
        .expect("orders.list");
    assert_eq!(open.items.len(), 1);
    assert_eq!(
        open.items[0].price.map(|p| p.to_string()).as_deref(),
        Some("1000")
    );

    // The daemon dies: the data stays, marked stale; it comes back and
    // the dashboard reconnects by itself.
    drop(c);
    desk.kill_daemon();
    let screen = desk.wait_for("DISCONNECTED");
    assert!(
        screen.contains("(stale)") && screen.contains("1000"),
        "{screen}"
    );
    desk.restart_daemon();
    let screen = desk.wait_for("● connected");
    assert!(screen.contains("Open orders (1)"), "{screen}");

    // Quitting leaves the daemon running.
    desk.keys(&["q"]);
    let until = Instant::now() + Duration::from_secs(10);
    while desk.tmux(&["list-sessions"]).contains("desk") {
        assert!(Instant::now() < until, "the dashboard did not quit");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        launch::is_running(&desk.socket()),
        "the daemon outlives the dashboard"
    );
}

/// The list row (the left pane) that shows `name`.
fn row_of(screen: &str, name: &str) -> Option<String> {
    screen
        .lines()
        .map(|l| l.split("││").next().unwrap_or(l))
        .find(|l| l.contains(name) && !l.contains(" · "))
        .map(str::to_owned)
}

#[test]
#[allow(clippy::too_many_lines)] // one session: set up, watch a bot, delete it, run a backtest
fn the_dashboard_follows_bot_figures_deletions_and_its_own_backtests() {
    use std::fmt::Write as _;
    use tradedesk_core::api::Method;
    use tradedesk_core::api::data::DataImport;

    if !tradedesk_tests::live::tmux_available() {
        eprintln!("skipping: tmux is not installed (the end-to-end dashboard test drives it)");
        return;
    }
    let desk = Live::start(&tradingd_bin(), "e2e-figures");
    let mut c = Client::connect(&desk.socket()).expect("client");
    // A bot holding BTC: its equity and PnL move with every price.
    c.call_raw(
        "orders.place",
        &serde_json::json!({"symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "0.05"}),
    )
    .expect("buy");
    c.call_raw(
        "bots.create",
        &serde_json::json!({"name": "holder", "spec": {"strategy": "sma_cross",
            "params": {"fast": 5, "slow": 20}}, "symbols": ["BTCUSDT"],
            "allocation": {"BTC": "0.05", "USDT": "100"}}),
    )
    .expect("bot");
    // A dataset for the dashboard's backtest form (loaded when it connects).
    let mut csv = String::from("date,open,high,low,close,volume\n");
    let mut prev = 100.0_f64;
    for i in 0..300_u32 {
        let close = ((100.0 + 15.0 * (f64::from(i) / 12.0).sin()) * 100.0).round() / 100.0;
        let day = chrono::NaiveDate::from_ymd_opt(2021, 1, 1).expect("date")
            + chrono::Days::new(u64::from(i));
        let _ = writeln!(
            csv,
            "{day},{prev},{},{},{close},10",
            prev.max(close) + 0.5,
            prev.min(close) - 0.5
        );
        prev = close;
    }
    let path = desk.dir.path().join("wave.csv");
    std::fs::write(&path, csv).expect("csv");
    let job = c
        .call_raw(
            DataImport::NAME,
            &serde_json::json!({"path": path, "symbol": "WAVEUSD"}),
        )
        .expect("import");
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let j = c
            .call_raw("jobs.get", &serde_json::json!({"id": job["id"]}))
            .expect("job");
        if j["state"] == "succeeded" {
            break;
        }
        assert!(
            Instant::now() < until && j["state"] != "dead",
            "import: {j}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let cmd = format!(
        "env TERM=xterm-256color NO_COLOR=1 {} --socket {}",
        bin("tradedesk").display(),
        desk.socket().display()
    );
    desk.tmux(&[
        "new-session",
        "-d",
        "-s",
        "desk",
        "-x",
        "200",
        "-y",
        "50",
        &cmd,
    ]);
    desk.wait_for("● connected");
    desk.keys(&["4"]);
    let screen = desk.wait_for("holder");
    let first = row_of(&screen, "holder").expect("the bot's row");
    assert!(first.contains("sma_cross"), "{first}");
    // Its equity (and so its PnL) follows the market without a reconnect.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let now = row_of(&desk.screen(), "holder").unwrap_or_default();
        if now != first {
            break;
        }
        assert!(
            Instant::now() < until,
            "the bot's row never changed: {first}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Deleted elsewhere, it leaves the list.
    c.call_raw("bots.delete", &serde_json::json!({"id": 1}))
        .expect("delete");
    let until = Instant::now() + Duration::from_secs(20);
    while desk.screen().contains("holder") {
        assert!(Instant::now() < until, "the deleted bot stayed listed");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A backtest started from the dashboard shows its figures when done.
    desk.keys(&["5", "n"]);
    desk.wait_for("New backtest");
    desk.keys(&["Enter"]);
    let until = Instant::now() + Duration::from_mins(1);
    loop {
        let screen = desk.screen();
        if let Some(row) = row_of(&screen, "#1")
            && row.contains("succeeded")
        {
            assert!(row.contains('%'), "a finished run shows its return: {row}");
            assert!(!row.contains("succeeded - "), "{row}");
            break;
        }
        assert!(
            Instant::now() < until,
            "the backtest never finished:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `tradedesk --remote URL`: the dashboard on a daemon it reaches over
/// HTTP + WebSocket, with the session `tradectl login` stored.
#[test]
fn the_dashboard_shows_a_remote_daemon_as_the_logged_in_user() {
    if !tradedesk_tests::live::tmux_available() {
        eprintln!("skipping: tmux is not installed (the end-to-end dashboard test drives it)");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let d = tradedesk_tests::Daemon::start_with(&format!(
        "[http]\nenabled = true\nbind = \"127.0.0.1:{port}\"\n"
    ));
    let url = format!("http://127.0.0.1:{port}");
    let piped = |args: &[&str]| {
        let out = d.tradectl_with_stdin(args, "correct horse battery");
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    piped(&["user", "add", "ann"]);
    piped(&["login", &url, "--user", "ann"]);
    let home = d.dir.path();
    let server = format!("tradedesk-remote-{}", std::process::id());
    let tmux = |args: &[&str]| {
        let out = std::process::Command::new("tmux")
            .arg("-L")
            .arg(&server)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    struct Kill<'a>(&'a dyn Fn(&[&str]) -> String);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            (self.0)(&["kill-server"]);
        }
    }
    let _kill = Kill(&tmux);
    let cmd = format!(
        "env -i HOME={h} XDG_DATA_HOME={h}/xdg-data XDG_CONFIG_HOME={h}/config TERM=xterm-256color NO_COLOR=1 {bin} --remote {url}",
        h = home.display(),
        bin = bin("tradedesk").display(),
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        "desk",
        "-x",
        "120",
        "-y",
        "40",
        &cmd,
    ]);
    let wait_for = |text: &str| {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let s = tmux(&["capture-pane", "-p", "-t", "desk"]);
            if s.contains(text) {
                return s;
            }
            assert!(
                Instant::now() < until,
                "never saw {text:?}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for("● connected");
    wait_for("Account paper-ann");
    tmux(&["send-keys", "-t", "desk", "3"]);
    wait_for("Open orders (0)");
    // An order Ann places from elsewhere reaches her dashboard's stream.
    let out = d.tradectl(&[
        "--remote", &url, "order", "buy", "BTCUSDT", "0.1", "--price", "1000",
    ]);
    assert!(out.status.success(), "{out:?}");
    let screen = wait_for("Open orders (1)");
    assert!(screen.contains("1000"), "{screen}");
}
