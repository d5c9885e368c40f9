//! Where tradedesk keeps its files, from the XDG base directories.
//!
//! The daemon and its clients resolve the socket with the same rules, so a
//! client finds the daemon without configuration: `TRADEDESK_SOCKET`, else
//! `$XDG_RUNTIME_DIR/tradedesk/tradingd.sock`, else `run/tradingd.sock`
//! inside the data dir.

use std::path::{Path, PathBuf};

use directories::ProjectDirs;

/// The environment variable that overrides the socket path for the daemon
/// and every client.
pub const SOCKET_ENV: &str = "TRADEDESK_SOCKET";
pub const SOCKET_FILE: &str = "tradingd.sock";
pub const CONFIG_FILE: &str = "tradingd.toml";
pub const DB_FILE: &str = "tradedesk.db";
pub const LOCK_FILE: &str = "tradingd.lock";
/// `sun_path` holds 108 bytes including the terminating NUL.
pub const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("cannot determine the home directory; set TRADEDESK_DATA_DIR and TRADEDESK_SOCKET")]
    NoHome,
    #[error(
        "socket path `{path}` is {len} bytes, over the {MAX_SOCKET_PATH}-byte limit of Unix sockets; choose a shorter one with --socket or TRADEDESK_SOCKET"
    )]
    SocketTooLong { path: String, len: usize },
}

fn project() -> Result<ProjectDirs, PathError> {
    ProjectDirs::from("", "", "tradedesk").ok_or(PathError::NoHome)
}

pub fn default_data_dir() -> Result<PathBuf, PathError> {
    Ok(project()?.data_dir().to_path_buf())
}

pub fn default_config_file() -> Result<PathBuf, PathError> {
    Ok(project()?.config_dir().join(CONFIG_FILE))
}

/// Logs go to the XDG state dir, or the data dir where there is none.
pub fn default_log_dir(data_dir: &Path) -> PathBuf {
    project()
        .ok()
        .and_then(|p| p.state_dir().map(Path::to_path_buf))
        .unwrap_or_else(|| data_dir.to_path_buf())
        .join("logs")
}

/// The socket path when nothing names one explicitly.
pub fn default_socket(data_dir: &Path) -> PathBuf {
    if let Some(p) = std::env::var_os(SOCKET_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    match project()
        .ok()
        .and_then(|p| p.runtime_dir().map(Path::to_path_buf))
    {
        Some(run) => run.join(SOCKET_FILE),
        None => data_dir.join("run").join(SOCKET_FILE),
    }
}

/// The socket a client should connect to: `explicit` (a `--socket` flag),
/// else the default rules with the default data dir.
pub fn client_socket(explicit: Option<&Path>) -> Result<PathBuf, PathError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => default_socket(&default_data_dir()?),
    };
    check_socket_len(&path)?;
    Ok(path)
}

pub fn check_socket_len(path: &Path) -> Result<(), PathError> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(PathError::SocketTooLong {
            path: path.display().to_string(),
            len,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_socket_paths_are_refused() {
        let long = PathBuf::from(format!("/tmp/{}", "x".repeat(120)));
        let err = check_socket_len(&long).unwrap_err();
        assert!(err.to_string().contains("107-byte limit"), "{err}");
        assert!(check_socket_len(Path::new("/tmp/a.sock")).is_ok());
    }
}
