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
    assert_eq!(open.orders.len(), 1);
    assert_eq!(
        open.orders[0].price.map(|p| p.to_string()).as_deref(),
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
