//! The `tradingd` binary: parses flags, loads the layered config, sets up
//! logging, and runs the daemon in the foreground until SIGINT, SIGTERM or
//! `system.shutdown`.

use std::io::IsTerminal;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};
use tradingd::Daemon;
use tradingd::config::{self, Config, Flags};

#[derive(Parser)]
#[command(
    name = "tradingd",
    version,
    about = "The tradedesk daemon: owns all state, serves clients on a Unix socket"
)]
struct Cli {
    /// Config file (default: $XDG_CONFIG_HOME/tradedesk/tradingd.toml).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Data directory (database, lock file).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Socket path (also TRADEDESK_SOCKET).
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// trace, debug, info, warn, error or off.
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log to the log file only (used by `tradectl daemon start`).
    #[arg(long, global = true)]
    no_log_stderr: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground (the default).
    Run,
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the effective configuration (all layers applied) as TOML.
    Print,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let flags = Flags {
        config: cli.config,
        data_dir: cli.data_dir,
        socket: cli.socket,
        log_level: cli.log_level,
        no_log_stderr: cli.no_log_stderr,
    };
    let (raw, config) = match config::load(&flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tradingd: config error: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Run) {
        Command::Config {
            action: ConfigAction::Print,
        } => {
            print!("{}", config::to_toml(&raw));
            ExitCode::SUCCESS
        }
        Command::Run => run(config),
    }
}

fn run(config: Config) -> ExitCode {
    let logs_to_stderr = config.log.stderr;
    let _log_guard = match init_logging(&config) {
        Ok(g) => g,
        Err(e) => {
            eprintln!(
                "tradingd: cannot set up logging in {}: {e}",
                config.log.dir.display()
            );
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tradingd: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let deadline = config.watchdog.stop_deadline;
    let code = runtime.block_on(async {
        let daemon = match Daemon::start(config).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                if !logs_to_stderr {
                    eprintln!("tradingd: {e}");
                }
                return ExitCode::from(1);
            }
        };
        let token = daemon.shutdown_token();
        tokio::spawn(stop_on_signal(token.clone()));
        // Whatever starts the stop (a signal, `system.shutdown`), the process
        // ends within the deadline, even if a task is stuck.
        tokio::spawn(async move {
            token.cancelled().await;
            arm_stop_deadline(deadline);
        });
        match daemon.run().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "error while stopping");
                eprintln!("tradingd: {e}");
                ExitCode::from(1)
            }
        }
    });
    // Blocking tasks still stuck after the run are abandoned, not awaited.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// The last resort: a thread that ends the process once the stop has
/// taken longer than its deadline (plus a margin for the orderly path,
/// which keeps within the deadline by itself).
fn arm_stop_deadline(deadline: std::time::Duration) {
    let margin = std::time::Duration::from_secs(2);
    let _ = std::thread::Builder::new()
        .name("stop-deadline".into())
        .spawn(move || {
            std::thread::sleep(deadline.saturating_add(margin));
            tracing::error!(
                deadline_ms = deadline.as_millis(),
                "the stop took longer than its deadline; exiting now"
            );
            eprintln!("tradingd: the stop took longer than its deadline; exiting now");
            std::process::exit(1);
        });
}

async fn stop_on_signal(token: tokio_util::sync::CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::error!(
            "cannot install signal handlers; stop the daemon with `tradectl daemon stop`"
        );
        return;
    };
    tokio::select! {
        _ = int.recv() => tracing::info!("SIGINT received"),
        _ = term.recv() => tracing::info!("SIGTERM received"),
        () = token.cancelled() => return,
    }
    token.cancel();
}

fn init_logging(config: &Config) -> std::io::Result<tracing_appender::non_blocking::WorkerGuard> {
    // Logs can name accounts and orders: only the user may read them.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.log.dir)?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("tradingd")
        .filename_suffix("log")
        .max_log_files(config.log.max_files)
        .build(&config.log.dir)
        .map_err(std::io::Error::other)?;
    let (file_writer, guard) = tracing_appender::non_blocking(appender);
    let filter = || EnvFilter::new(&config.log.level);
    let file_layer = tracing_subscriber::fmt::layer()
        .with_writer(file_writer)
        .with_ansi(false)
        .with_filter(filter());
    let stderr_layer = config.log.stderr.then(|| {
        let ansi = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_filter(filter())
    });
    tracing_subscriber::registry()
        .with(file_layer)
        .with(stderr_layer)
        .init();
    Ok(guard)
}
