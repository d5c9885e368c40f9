//! The `tradingd` binary: parses flags, loads the layered config, sets up
//! logging, and runs the daemon in the foreground until SIGINT, SIGTERM or
//! `system.shutdown`.

use std::io::IsTerminal;
use std::os::unix::fs::DirBuilderExt;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};
use tradedesk_core::cli::{ConfigAction, DaemonCli, DaemonCommand};
use tradingd::Daemon;
use tradingd::config::{self, Config, Flags};
use tradingd::notify::{Notifier, watchdog_interval};

fn main() -> ExitCode {
    let cli = DaemonCli::parse();
    let flags = Flags {
        config: cli.config,
        data_dir: cli.data_dir,
        socket: cli.socket,
        log_level: cli.log_level,
        no_log_stderr: cli.no_log_stderr,
    };
    let command = cli.command.unwrap_or(DaemonCommand::Run);
    let (raw, config) = match config::load(&flags) {
        Ok(c) => c,
        Err(e) if matches!(command, DaemonCommand::Doctor) => {
            // The one check that could be made, as a report.
            let report = tradedesk_core::api::system::DoctorReport {
                checks: vec![tradedesk_core::api::system::Check::fail(
                    "config",
                    e.to_string(),
                    "fix the config file (`config/tradingd.toml` lists every key)",
                )],
            };
            println!("{}", serde_json::to_string(&report).unwrap_or_default());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("tradingd: config error: {e}");
            return ExitCode::from(2);
        }
    };
    match command {
        DaemonCommand::Config {
            action: ConfigAction::Print,
        } => {
            print!("{}", config::to_toml(&raw));
            ExitCode::SUCCESS
        }
        DaemonCommand::Restore { file } => match tradingd::maintenance::restore(&config, &file) {
            Ok(r) => {
                println!(
                    "restored {} into {} (schema {}{})",
                    r.restored_from,
                    r.database,
                    r.schema_version,
                    r.kept
                        .map(|k| format!("; the database it replaced is kept as {k}"))
                        .unwrap_or_default()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tradingd: restore refused: {e}");
                ExitCode::from(1)
            }
        },
        DaemonCommand::Doctor => doctor(&config),
        DaemonCommand::Run => run(config),
    }
}

/// `tradingd doctor`: the checks that need no running daemon, as JSON.
fn doctor(config: &Config) -> ExitCode {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("tradingd: cannot start the runtime");
        return ExitCode::from(1);
    };
    let local = tradingd::maintenance::local_checks(config);
    let clock = rt.block_on(tradingd::maintenance::clock(config));
    let report = tradedesk_core::api::system::DoctorReport {
        checks: tradingd::maintenance::with_clock(local, clock),
    };
    println!("{}", serde_json::to_string(&report).unwrap_or_default());
    ExitCode::SUCCESS
}

/// Log lines queued for the file writer before new ones are dropped.
const LOG_QUEUE_LINES: usize = 8192;

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
        if let Some(n) = Notifier::from_env() {
            let n = std::sync::Arc::new(n);
            n.send("READY=1\nSTATUS=serving");
            if let Some(every) = watchdog_interval() {
                tokio::spawn(feed_watchdog(
                    std::sync::Arc::clone(daemon.ctx()),
                    std::sync::Arc::clone(&n),
                    every,
                ));
            }
            let t = token.clone();
            tokio::spawn(async move {
                t.cancelled().await;
                n.send("STOPPING=1");
            });
        }
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

/// Feeds systemd's watchdog only while no component has stalled: a stuck
/// daemon is restarted by systemd (`WatchdogSec=` in the unit).
async fn feed_watchdog(
    ctx: std::sync::Arc<tradingd::context::Ctx>,
    n: std::sync::Arc<Notifier>,
    every: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_stalled = false;
    loop {
        tokio::select! {
            () = ctx.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match tradingd::stalled(&ctx).await {
            None => {
                if was_stalled {
                    n.send("STATUS=serving");
                    was_stalled = false;
                }
                n.send("WATCHDOG=1");
            }
            Some(what) => {
                if !was_stalled {
                    tracing::error!(stalled = %what, "not feeding systemd's watchdog");
                    was_stalled = true;
                }
                n.send(&format!("STATUS=stalled: {what}"));
            }
        }
    }
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
    // The writer thread drains the queue as fast as the disk takes lines;
    // the default 128,000-line queue is 4 MB allocated (and touched) up
    // front. 8,192 lines still absorb any burst the daemon makes, and a
    // full queue drops lines rather than stall the trading loop.
    let (file_writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .finish(appender);
    let filter = || EnvFilter::new(&config.log.level);
    let file_layer = tracing_subscriber::fmt::layer()
        .with_writer(file_writer)
        .with_ansi(false)
        .with_filter(filter());
    // Under systemd, stderr is the journal: it stamps the time itself.
    let journal = std::env::var_os("JOURNAL_STREAM").is_some_and(|v| !v.is_empty());
    let stderr_layer = (config.log.stderr && !journal).then(|| {
        let ansi = std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .with_filter(filter())
    });
    let journal_layer = (config.log.stderr && journal).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .without_time()
            .with_filter(filter())
    });
    tracing_subscriber::registry()
        .with(file_layer)
        .with(stderr_layer)
        .with(journal_layer)
        .init();
    Ok(guard)
}
