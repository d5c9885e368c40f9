//! What the system suites share: the built binaries, a `tradingd` process
//! on a private directory that a test can kill -9 and start again, the CLI
//! run against it, and the figures each suite prints.
//!
//! The suites drive the real binaries, so they need them built: `cargo
//! test --workspace` builds them first (each binary's own package has an
//! integration test, which makes cargo build the binary before any test
//! runs). `cargo test -p tradedesk-tests` alone needs a `cargo build
//! --workspace` before it.

pub mod live;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tradedesk_core::client::{Client, launch};

/// A built binary of the workspace (`tradingd`, `tradectl`, `tradedesk`),
/// found next to the running test's directory in the target dir.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("a target directory");
    let bin = dir.join(name);
    assert!(
        bin.is_file(),
        "{} is missing: build the workspace first (`cargo test --workspace` does)",
        bin.display()
    );
    bin
}

/// Prints one figure of a suite, in the form `tests/README.md` tabulates.
/// Run with `-- --nocapture` to see them.
pub fn figure(suite: &str, what: &str, value: impl std::fmt::Display) {
    println!("figure | {suite} | {what} | {value}");
}

/// A number of rounds: `default`, or the environment variable's value
/// (for soaks: `TRADEDESK_CRASH_ROUNDS=200 cargo test -p tradedesk-tests`).
pub fn rounds(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `tradingd` process on a private directory (socket, data, logs,
/// config): started, killed with SIGKILL, started again, stopped.
pub struct Daemon {
    pub dir: TempDir,
    child: Option<Child>,
    config: String,
}

impl Daemon {
    /// A daemon with the default configuration, up and answering.
    pub fn start() -> Daemon {
        Daemon::start_with("")
    }

    /// A daemon with extra config (TOML), up and answering.
    pub fn start_with(config: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut d = Daemon {
            dir,
            child: None,
            config: config.to_owned(),
        };
        d.spawn();
        d
    }

    /// In a directory of its own, as the default (`$XDG_RUNTIME_DIR/tradedesk`) is.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/td.sock")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir().join("tradedesk.db")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("state/tradedesk/logs")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the process and waits until it answers.
    pub fn spawn(&mut self) {
        let config = self.dir.path().join("tradingd.toml");
        std::fs::write(&config, &self.config).expect("config");
        let mut cmd = Command::new(bin("tradingd"));
        cmd.arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--socket")
            .arg(self.socket())
            .arg("--no-log-stderr")
            .env_clear()
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Two days of seeded past, not the default's 30 (each suite's first
        // start writes it), unless the suite sets its own.
        if !self.config.contains("history_minutes") {
            cmd.env("TRADEDESK_SIM__HISTORY_MINUTES", "2880");
        }
        let child = cmd.spawn().expect("start tradingd");
        self.child = Some(child);
        wait_ready(&self.socket());
    }

    /// SIGKILL, reaped: nothing of the process runs any more.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        let pid = rustix::process::Pid::from_raw(c.id().cast_signed()).expect("a pid");
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        c.wait().expect("wait")
    }

    /// A client with a timeout, so that a hung daemon fails the test.
    pub fn client(&self) -> Client {
        let mut c = Client::connect(&self.socket()).expect("connect");
        c.set_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        c
    }

    /// Runs `tradectl` against this daemon, in a clean environment.
    pub fn tradectl(&self, args: &[&str]) -> Output {
        self.tradectl_cmd(args).output().expect("run tradectl")
    }

    /// Runs `tradectl` with `input` and a newline on its standard input
    /// (a password, as a script would pipe it).
    pub fn tradectl_with_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write as _;
        let mut child = self
            .tradectl_cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tradectl");
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(format!("{input}\n").as_bytes())
                .expect("write stdin");
        }
        child.wait_with_output().expect("output")
    }

    pub fn tradectl_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("tradectl"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path().join("xdg-data"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("TRADEDESK_SOCKET", self.socket())
            .env("TRADEDESK_DAEMON_BIN", bin("tradingd"))
            .env("TRADEDESK_SIM__HISTORY_MINUTES", "2880");
        cmd
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits until a daemon answers on `socket` (at most 30 s).
pub fn wait_ready(socket: &Path) {
    let until = Instant::now()
        .checked_add(Duration::from_secs(30))
        .expect("a deadline");
    while !launch::is_running(socket) {
        assert!(
            Instant::now() < until,
            "tradingd did not come up on {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `n`th percentile (0–100) of sorted durations.
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let last = sorted.len().saturating_sub(1);
    sorted[last.saturating_mul(p) / 100]
}

/// Resident memory of a process in KiB (from /proc), if readable.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A raw connection to the socket: bytes out, JSON lines in.
pub struct Raw {
    pub writer: std::os::unix::net::UnixStream,
    reader: std::io::BufReader<std::os::unix::net::UnixStream>,
}

impl Raw {
    pub fn connect(socket: &Path) -> Raw {
        Raw::from_stream(std::os::unix::net::UnixStream::connect(socket).expect("connect"))
    }

    pub fn from_stream(stream: std::os::unix::net::UnixStream) -> Raw {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Raw {
            writer: stream.try_clone().expect("clone"),
            reader: std::io::BufReader::new(stream),
        }
    }

    /// Writes bytes; false once the daemon has closed the connection.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        std::io::Write::write_all(&mut self.writer, bytes).is_ok()
    }

    /// The next line as JSON; `None` at EOF.
    pub fn recv(&mut self) -> Option<serde_json::Value> {
        let mut line = String::new();
        match std::io::BufRead::read_line(&mut self.reader, &mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad frame {line:?}: {e}")),
            ),
        }
    }

    /// The next line as it came; false at EOF.
    pub fn recv_line(&mut self, line: &mut String) -> bool {
        matches!(std::io::BufRead::read_line(&mut self.reader, line), Ok(n) if n > 0)
    }

    /// A whole request line and its answer.
    pub fn call(&mut self, line: &str) -> Option<serde_json::Value> {
        if !self.send(line.as_bytes()) || !self.send(b"\n") {
            return None;
        }
        self.recv()
    }
}
