//! The real `tradedesk` binary in a terminal (tmux) against a real
//! `tradingd`: it connects, switches screens, places an order through the
//! ticket, shows it on the Orders screen, keeps it (stale) while the
//! daemon is away and reconnects when it is back, and quits leaving the
//! daemon up.
//! Skips (with a message) where tmux is not installed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tradedesk_core::api::orders::{OrderFilter, OrdersList};
use tradedesk_core::client::{Client, launch};

fn tradingd_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_tradedesk")).with_file_name("tradingd");
    assert!(
        bin.is_file(),
        "{} is missing: build the workspace (`cargo test --workspace`)",
        bin.display()
    );
    bin
}

struct Desk {
    dir: tempfile::TempDir,
    daemon: Child,
    server: String,
}

impl Desk {
    fn socket(&self) -> PathBuf {
        self.dir.path().join("td.sock")
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.server)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "desk"])
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "desk", k]);
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    /// Waits until the screen shows `text`.
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

impl Drop for Desk {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.server, "kill-server"])
            .output();
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn spawn_daemon(dir: &Path) -> Child {
    Command::new(tradingd_bin())
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--socket")
        .arg(dir.join("td.sock"))
        .arg("--no-log-stderr")
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_STATE_HOME", dir.join("state"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tradingd")
}

fn wait_up(socket: &Path) {
    let until = Instant::now() + Duration::from_secs(20);
    while !launch::is_running(socket) {
        assert!(Instant::now() < until, "tradingd did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_dashboard_places_an_order_through_the_ticket_and_shows_it() {
    if !tmux_available() {
        eprintln!("skipping: tmux is not installed (the end-to-end dashboard test drives it)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = spawn_daemon(dir.path());
    let mut desk = Desk {
        server: format!("tradedesk-e2e-{}", std::process::id()),
        dir,
        daemon,
    };
    wait_up(&desk.socket());
    let cmd = format!(
        "env TERM=xterm-256color NO_COLOR=1 {} --socket {}",
        env!("CARGO_BIN_EXE_tradedesk"),
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
    assert_eq!(open.orders.len(), 1);
    assert_eq!(
        open.orders[0].price.map(|p| p.to_string()).as_deref(),
        Some("1000")
    );

    // The daemon dies: the data stays, marked stale; it comes back and
    // the dashboard reconnects by itself.
    drop(c);
    desk.daemon.kill().expect("kill tradingd");
    desk.daemon.wait().expect("reap tradingd");
    let screen = desk.wait_for("DISCONNECTED");
    assert!(
        screen.contains("(stale)") && screen.contains("1000"),
        "{screen}"
    );
    desk.daemon = spawn_daemon(desk.dir.path());
    wait_up(&desk.socket());
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
