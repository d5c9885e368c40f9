//! A real `tradingd` on a temporary data dir and a private tmux server to
//! run the real dashboard in: shared by the dashboard suite and the
//! dashboard's render bench.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tradedesk_core::client::launch;

pub fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A daemon (killed on drop) and a tmux server (killed on drop).
pub struct Live {
    pub dir: tempfile::TempDir,
    pub daemon: Child,
    tradingd: PathBuf,
    server: String,
}

impl Live {
    /// Starts `tradingd` and waits until it answers; `name` tells this
    /// process's tmux server apart.
    pub fn start(tradingd: &Path, name: &str) -> Live {
        let dir = tempfile::tempdir().expect("tempdir");
        let daemon = spawn_daemon(tradingd, dir.path());
        let live = Live {
            dir,
            daemon,
            tradingd: tradingd.to_owned(),
            server: format!("tradedesk-{name}-{}", std::process::id()),
        };
        wait_up(&live.socket());
        live
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("td.sock")
    }

    /// Kills the daemon and waits for it.
    pub fn kill_daemon(&mut self) {
        self.daemon.kill().expect("kill tradingd");
        self.daemon.wait().expect("reap tradingd");
    }

    /// Starts the daemon again on the same data dir.
    pub fn restart_daemon(&mut self) {
        self.daemon = spawn_daemon(&self.tradingd, self.dir.path());
        wait_up(&self.socket());
    }

    /// Runs tmux against this test's server; its stdout.
    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.server)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.server, "kill-server"])
            .output();
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn spawn_daemon(tradingd: &Path, dir: &Path) -> Child {
    Command::new(tradingd)
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
