//! `tradectl daemon start|stop|status`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Subcommand;
use tradedesk_core::api::Empty;
use tradedesk_core::api::system::{SystemHealth, SystemInfo, SystemShutdown};
use tradedesk_core::client::launch;
use tradedesk_core::paths;

use crate::{Ctx, Failure, format};

#[derive(Subcommand)]
pub enum Action {
    /// Start tradingd in the background and wait until it answers.
    Start {
        /// Config file passed to tradingd.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Data directory passed to tradingd.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Seconds to wait for the daemon to answer.
        #[arg(long, default_value_t = 10)]
        wait: u64,
    },
    /// Ask the daemon to shut down and wait until it has.
    Stop {
        /// Seconds to wait for it to stop.
        #[arg(long, default_value_t = 10)]
        wait: u64,
    },
    /// Whether the daemon runs (exit 3 when it does not).
    Status,
}

pub fn run(ctx: &Ctx, action: Action) -> Result<(), Failure> {
    match action {
        Action::Start {
            config,
            data_dir,
            wait,
        } => start(ctx, config, data_dir, wait),
        Action::Stop { wait } => stop(ctx, wait),
        Action::Status => status(ctx),
    }
}

fn start(
    ctx: &Ctx,
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    wait: u64,
) -> Result<(), Failure> {
    if launch::is_running(&ctx.socket) {
        report(ctx, "already running", None);
        return Ok(());
    }
    let mut args = Vec::new();
    if let Some(c) = config {
        args.extend(["--config".to_owned(), c.display().to_string()]);
    }
    if let Some(d) = data_dir {
        args.extend(["--data-dir".to_owned(), d.display().to_string()]);
    }
    let bin = launch::daemon_binary();
    let pid = launch::start_daemon(&bin, &ctx.socket, &args, Duration::from_secs(wait))
        .map_err(|e| Failure::Other(e.to_string()))?;
    report(ctx, "started", Some(pid));
    Ok(())
}

fn stop(ctx: &Ctx, wait: u64) -> Result<(), Failure> {
    let mut client = match ctx.connect() {
        Ok(c) => c,
        Err(Failure::Unreachable(_)) => {
            report(ctx, "not running", None);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let info = client.call::<SystemInfo>(&Empty {})?;
    client.call::<SystemShutdown>(&Empty {})?;
    drop(client);
    // Stopped means: the socket is gone (removed after the clean shutdown
    // was recorded) and the data dir's lock is free (the process exited),
    // so a `daemon start` right after cannot collide with it.
    let deadline = Instant::now() + Duration::from_secs(wait);
    let lock = PathBuf::from(&info.data_dir).join(paths::LOCK_FILE);
    while ctx.socket.exists() || lock_held(&lock) {
        if Instant::now() >= deadline {
            return Err(Failure::Other(format!(
                "tradingd (pid {}) did not stop within {wait} s",
                info.pid
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    report(ctx, "stopped", Some(info.pid));
    Ok(())
}

/// True while some process holds the daemon's single-instance lock.
fn lock_held(path: &std::path::Path) -> bool {
    match std::fs::File::open(path) {
        Ok(f) => matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// `tradectl status` and `tradectl daemon status`: the daemon's facts and health.
pub(crate) fn status(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    let info = c.call::<SystemInfo>(&Empty {})?;
    let health = c.call::<SystemHealth>(&Empty {})?;
    let mut v = serde_json::to_value(&info).unwrap_or_default();
    v["health"] = serde_json::to_value(&health).unwrap_or_default();
    ctx.emit(&v, || out!("{}", format::status(&info, &health)));
    Ok(())
}

fn report(ctx: &Ctx, state: &str, pid: Option<u32>) {
    ctx.emit(
        &serde_json::json!({ "state": state, "pid": pid, "socket": ctx.socket }),
        || match pid {
            Some(pid) => outln!("tradingd {state} (pid {pid}) on {}", ctx.socket.display()),
            None => outln!("tradingd {state} on {}", ctx.socket.display()),
        },
    );
}
