//! Starting `tradingd` in the background from a client (`tradectl daemon
//! start`, the dashboard) and waiting until it answers.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Client, ClientError};
use crate::api::Empty;
use crate::api::system::SystemHealth;

pub const DAEMON_BIN: &str = "tradingd";

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot start `{bin}`: {source}")]
    Spawn {
        bin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("tradingd exited during start-up ({status}){}", if .stderr.is_empty() { String::new() } else { format!(":\n{}", .stderr) })]
    Exited { status: String, stderr: String },
    #[error("tradingd did not answer on {socket} within {waited_ms} ms")]
    NotReady { socket: String, waited_ms: u128 },
}

/// The daemon binary: `TRADEDESK_DAEMON_BIN`, else a `tradingd` next to the
/// running executable (a cargo target dir or an install prefix), else
/// `tradingd` from `PATH`.
pub fn daemon_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("TRADEDESK_DAEMON_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(DAEMON_BIN)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(DAEMON_BIN))
}

/// True when a daemon answers `system.health` on `socket`.
pub fn is_running(socket: &Path) -> bool {
    Client::connect(socket)
        .and_then(|mut c| {
            c.set_timeout(Some(Duration::from_secs(2)))?;
            c.call::<SystemHealth>(&Empty {})
        })
        .is_ok()
}

/// Starts the daemon detached from this process (its own process group, no
/// terminal, logging to its file only) on `socket`, and waits until it
/// answers. Start-up errors (bad config, a second daemon) are returned with
/// what the daemon printed.
pub fn start_daemon(
    bin: &Path,
    socket: &Path,
    extra_args: &[String],
    timeout: Duration,
) -> Result<u32, LaunchError> {
    let mut cmd = Command::new(bin);
    cmd.arg("--socket")
        .arg(socket)
        .arg("--no-log-stderr")
        .args(extra_args);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd.spawn().map_err(|source| LaunchError::Spawn {
        bin: bin.display().to_string(),
        source,
    })?;
    let pid = child.id();
    wait_ready(&mut child, socket, timeout)?;
    // The daemon keeps running; its stderr pipe closes with this process.
    Ok(pid)
}

fn wait_ready(child: &mut Child, socket: &Path, timeout: Duration) -> Result<(), LaunchError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut stderr);
            }
            return Err(LaunchError::Exited {
                status: status.to_string(),
                stderr: stderr.trim().to_owned(),
            });
        }
        match Client::connect(socket).and_then(|mut c| c.call::<SystemHealth>(&Empty {})) {
            Err(ClientError::Unreachable { .. } | ClientError::Closed | ClientError::Io(_)) => {}
            // Answering at all, even with an error, means it is up.
            Ok(_) | Err(_) => return Ok(()),
        }
        if start.elapsed() >= timeout {
            return Err(LaunchError::NotReady {
                socket: socket.display().to_string(),
                waited_ms: start.elapsed().as_millis(),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
