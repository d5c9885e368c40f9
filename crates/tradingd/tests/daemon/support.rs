//! A daemon running in-process on its own runtime, and a raw line client.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use tradedesk_core::client::Client;
use tradingd::Daemon;
use tradingd::config::Config;

pub struct TestDaemon {
    pub ctx: std::sync::Arc<tradingd::context::Ctx>,
    /// Where the HTTP API listens, when the config enabled it.
    pub http: Option<std::net::SocketAddr>,
    pub dir: Option<TempDir>,
    pub socket: PathBuf,
    pub data_dir: PathBuf,
    token: CancellationToken,
    done: Option<std::sync::mpsc::Receiver<()>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl TestDaemon {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_in(tempfile::tempdir().expect("tempdir"), tweak)
    }

    pub fn start_in(dir: TempDir, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::for_dir(dir.path());
        // The suites need a past, not the default's 30 days of it (written
        // at every first start); the default is tested on its own.
        config.sim.history_minutes = 2880;
        tweak(&mut config);
        Self::try_start_in(dir, config).expect("daemon starts")
    }

    pub fn try_start_in(dir: TempDir, config: Config) -> Result<Self, tradingd::StartError> {
        Self::try_start_with(dir, config, tradingd::Options::default())
    }

    /// A daemon whose clock and market move only when the test calls
    /// [`Self::minutes`]: each minute closes a 1-minute bar.
    pub fn manual_clock(options: tradingd::Options) -> Self {
        Self::manual_clock_in(tempfile::tempdir().expect("tempdir"), options)
    }

    pub fn manual_clock_in(dir: TempDir, options: tradingd::Options) -> Self {
        Self::manual_clock_with(dir, options, |_| {})
    }

    /// A manual-clock daemon with a changed configuration.
    pub fn manual_clock_with(
        dir: TempDir,
        mut options: tradingd::Options,
        tweak: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config::for_dir(dir.path());
        config.sim.spec.tick_ms = 60_000;
        // These tests count the bars they make: no seeded past.
        config.sim.history_minutes = 0;
        // On a whole hour, so each step closes exactly one 1-minute bar and
        // longer intervals line up the same way on every run.
        let start = options.manual_clock.unwrap_or_else(|| {
            tradedesk_core::time::Timestamp(
                chrono::Utc::now().timestamp_millis().div_euclid(3_600_000) * 3_600_000 + 1,
            )
        });
        options.manual_clock = Some(start);
        tweak(&mut config);
        Self::try_start_with(dir, config, options).expect("daemon starts")
    }

    /// Stops a manual-clock daemon and starts it again on the same data
    /// dir, at the time it stopped.
    pub fn restart(self) -> Self {
        let clock = self.ctx.now();
        let dir = self.stop();
        Self::manual_clock_in(
            dir,
            tradingd::Options {
                manual_clock: Some(clock),
                ..tradingd::Options::default()
            },
        )
    }

    /// Moves the clock and the market on by `n` minutes, ticking a few
    /// times a minute.
    pub fn minutes(&self, n: usize) {
        for _ in 0..n {
            for _ in 0..4 {
                self.ctx.advance(15_000);
                self.step();
            }
        }
    }

    pub fn try_start_with(
        dir: TempDir,
        config: Config,
        options: tradingd::Options,
    ) -> Result<Self, tradingd::StartError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let socket = config.socket.clone();
        let data_dir = config.data_dir.clone();
        let daemon = rt.block_on(Daemon::start_with(config, options))?;
        let token = daemon.shutdown_token();
        let http = daemon.http_addr();
        let ctx = std::sync::Arc::clone(daemon.ctx());
        let (tx, done) = std::sync::mpsc::channel();
        rt.spawn(async move {
            daemon.run().await.expect("daemon stops cleanly");
            let _ = tx.send(());
        });
        Ok(TestDaemon {
            ctx,
            http,
            dir: Some(dir),
            socket,
            data_dir,
            token,
            done: Some(done),
            rt: Some(rt),
        })
    }

    /// A daemon whose market moves only when the test calls [`Self::step`].
    pub fn manual_market() -> Self {
        Self::start_with(|c| c.sim.spec.tick_ms = 60_000)
    }

    /// Advances the simulated market by one tick.
    pub fn step(&self) {
        tradingd::services::market_loop::step(&self.ctx);
    }

    pub fn client(&self) -> Client {
        let mut c = Client::connect(&self.socket).expect("connect");
        c.set_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        c
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(&self.socket)
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("running")
    }

    /// Waits until the daemon's run loop has ended (after `system.shutdown`).
    pub fn wait_stopped(&mut self) {
        if let Some(done) = self.done.take() {
            done.recv_timeout(Duration::from_secs(15))
                .expect("daemon stopped in time");
        }
    }

    /// Stops the daemon and hands back its directory for a restart.
    pub fn stop(mut self) -> TempDir {
        self.token.cancel();
        self.wait_stopped();
        self.dir.take().expect("dir")
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.token.cancel();
        if let Some(done) = self.done.take() {
            let _ = done.recv_timeout(Duration::from_secs(15));
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// A raw connection: write bytes, read JSON lines.
pub struct Raw {
    pub writer: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Raw {
    pub fn connect(socket: &Path) -> Raw {
        let stream = UnixStream::connect(socket).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Raw {
            writer: stream.try_clone().expect("clone"),
            reader: BufReader::new(stream),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    /// Reads one line as JSON; panics on EOF.
    pub fn recv(&mut self) -> serde_json::Value {
        self.try_recv().expect("a frame, not EOF")
    }

    /// `None` on EOF.
    pub fn try_recv(&mut self) -> Option<serde_json::Value> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("read");
        if n == 0 {
            return None;
        }
        Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad frame {line:?}: {e}")))
    }

    pub fn call(&mut self, line: &str) -> serde_json::Value {
        self.send(line.as_bytes());
        self.send(b"\n");
        self.recv()
    }

    pub fn assert_alive(&mut self) {
        let r = self.call(r#"{"jsonrpc":"2.0","method":"system.health","id":"alive"}"#);
        assert_eq!(r["result"]["status"], "ok", "{r}");
        assert_eq!(r["id"], "alive");
    }
}

/// The error code of a response frame.
pub fn code(frame: &serde_json::Value) -> i64 {
    frame["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {frame}"))
}

pub fn message(frame: &serde_json::Value) -> String {
    frame["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Calls a method that must succeed; its result.
#[allow(clippy::needless_pass_by_value)] // called with json!(…) temporaries
pub fn call(c: &mut Client, method: &str, params: serde_json::Value) -> serde_json::Value {
    c.call_raw(method, &params)
        .unwrap_or_else(|e| panic!("{method} {params}: {e}"))
}

/// Calls a method that must fail with an API error: its code, message
/// and data.
#[allow(clippy::needless_pass_by_value)]
pub fn call_failing(
    c: &mut Client,
    method: &str,
    params: serde_json::Value,
) -> (i32, String, serde_json::Value) {
    match c.call_raw(method, &params) {
        Ok(v) => panic!("{method} {params} should fail, got {v}"),
        Err(tradedesk_core::client::ClientError::Api(e)) => {
            (e.code, e.message, e.data.unwrap_or(serde_json::Value::Null))
        }
        Err(e) => panic!("{method}: {e}"),
    }
}

/// [`call_failing`] without the data.
pub fn call_err(c: &mut Client, method: &str, params: serde_json::Value) -> (i32, String) {
    let (code, message, _) = call_failing(c, method, params);
    (code, message)
}

/// Waits until a job is no longer queued or running; returns it.
pub fn settled(c: &mut Client, id: &serde_json::Value) -> serde_json::Value {
    for _ in 0..1200 {
        let j = call(c, "jobs.get", serde_json::json!({ "id": id }));
        if !matches!(j["state"].as_str(), Some("queued" | "running")) {
            return j;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("job {id} did not settle");
}

/// A client of the daemon's HTTP API at `url` (`http://host:port`),
/// logged in as `user`.
pub fn http_login(url: &str, user: &str, password: &str) -> Client {
    use tradedesk_core::api::auth::{AuthLogin, Credentials, Secret};
    use tradedesk_core::client::remote::Target;
    let target = |token: String| Target {
        url: url.to_owned(),
        token,
        ca: None,
    };
    let tokens = Client::connect_remote(target(String::new()))
        .expect("client")
        .call::<AuthLogin>(&Credentials {
            user: user.into(),
            password: Secret::new(password),
        })
        .expect("login");
    Client::connect_remote(target(tokens.access_token.expose().to_owned())).expect("client")
}
