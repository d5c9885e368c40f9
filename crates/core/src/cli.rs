//! The command lines of `tradingd` and `tradedesk`, defined once: each
//! binary parses its own, and `tradectl completions` / `tradectl man`
//! generate shell completions and manual pages for all three from them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// `tradingd`: the daemon.
#[derive(Debug, Parser)]
#[command(
    name = "tradingd",
    version,
    about = "The tradedesk daemon: owns all state, serves clients on a Unix socket"
)]
pub struct DaemonCli {
    /// Config file (default: $XDG_CONFIG_HOME/tradedesk/tradingd.toml).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Data directory (database, lock file).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Socket path (also TRADEDESK_SOCKET).
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// trace, debug, info, warn, error or off.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log to the log file only (used by `tradectl daemon start`).
    #[arg(long, global = true)]
    pub no_log_stderr: bool,
    #[command(subcommand)]
    pub command: Option<DaemonCommand>,
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Run the daemon in the foreground (the default).
    Run,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Replace the database with a backup made by `tradectl backup` (the
    /// daemon must be stopped). The backup is checked first; the database
    /// it replaces is kept beside it.
    Restore {
        /// The backup file.
        file: PathBuf,
    },
    /// The checks of `tradectl doctor` that need no running daemon, as JSON
    /// (what `tradectl doctor` runs when the daemon is down).
    Doctor,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the effective configuration (all layers applied) as TOML.
    Print,
}

/// `tradedesk`: the dashboard.
#[derive(Debug, Parser)]
#[command(
    name = "tradedesk",
    version,
    about = "The tradedesk dashboard",
    long_about = "The tradedesk dashboard. Starts tradingd if none is running; with --remote, \
                  shows a daemon on another machine over its HTTP API (log in first with \
                  `tradectl login URL`, or set TRADEDESK_TOKEN)."
)]
pub struct DeskCli {
    /// Daemon socket (default: TRADEDESK_SOCKET, else the XDG runtime dir).
    #[arg(long, value_name = "PATH", conflicts_with = "remote")]
    pub socket: Option<PathBuf>,
    /// A daemon on another machine, by its HTTP API (`https://host:8686`).
    #[arg(long, value_name = "URL", env = "TRADEDESK_REMOTE")]
    pub remote: Option<String>,
    /// Certificates (PEM) to trust for the remote daemon beside the system's.
    #[arg(long, value_name = "PEM", env = "TRADEDESK_CA")]
    pub ca: Option<PathBuf>,
}
