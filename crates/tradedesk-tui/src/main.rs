//! `tradedesk`: the terminal dashboard. A pure client of tradingd: it
//! starts the daemon in the background when none answers, never embeds it,
//! and leaves it running on exit.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::mpsc;
use tradedesk_core::client::launch;
use tradedesk_core::paths;
use tradedesk_tui::app::{App, Command, Msg};
use tradedesk_tui::connection::{self, Endpoint};

fn main() -> anyhow::Result<()> {
    let endpoint = endpoint_from_args()?;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("tradedesk needs a terminal; use `tradectl` for scripts");
    }
    // Start the daemon before taking over the terminal, so its errors are
    // readable. A remote daemon is someone else's to start; its session is
    // checked here for the same reason.
    let notice = match &endpoint {
        Endpoint::Socket(socket) if !launch::is_running(socket) => {
            let pid = launch::start_daemon(&daemon_binary()?, socket, &[], Duration::from_secs(10))
                .context("no daemon was running and starting one failed")?;
            Some(format!("started tradingd (pid {pid}) in the background"))
        }
        Endpoint::Socket(_) => None,
        Endpoint::Remote { url, ca } => {
            tradedesk_core::client::session::token(url, ca.as_deref())?;
            None
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut terminal = ratatui::init();
    let result = runtime.block_on(run(&mut terminal, endpoint, notice));
    ratatui::restore();
    result
}

/// The daemon binary to start. Under `cargo run` on a fresh checkout only
/// the dashboard has been built; then the daemon is built once, the same
/// way, before the terminal is taken over.
fn daemon_binary() -> anyhow::Result<PathBuf> {
    let bin = launch::daemon_binary();
    if bin.is_absolute() || which(&bin).is_some() {
        return Ok(bin);
    }
    let (Some(cargo), Ok(exe)) = (std::env::var_os("CARGO"), std::env::current_exe()) else {
        anyhow::bail!(
            "tradingd not found next to tradedesk or on PATH; install it or set TRADEDESK_DAEMON_BIN"
        );
    };
    let sibling = exe.with_file_name(launch::DAEMON_BIN);
    let release = exe
        .parent()
        .and_then(|d| d.file_name())
        .is_some_and(|n| n == "release");
    eprintln!("tradedesk: building tradingd (first run from a fresh checkout)…");
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "--package", "tradingd", "--bin", "tradingd"]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().context("running cargo build for tradingd")?;
    anyhow::ensure!(
        status.success() && sibling.is_file(),
        "building tradingd failed ({status})"
    );
    Ok(sibling)
}

fn which(bin: &std::path::Path) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

fn endpoint_from_args() -> anyhow::Result<Endpoint> {
    use clap::Parser;
    let cli = tradedesk_core::cli::DeskCli::parse();
    match cli.remote.filter(|r| !r.is_empty()) {
        Some(url) => Ok(Endpoint::Remote { url, ca: cli.ca }),
        None => Ok(Endpoint::Socket(paths::client_socket(
            cli.socket.as_deref(),
        )?)),
    }
}

async fn run(
    terminal: &mut ratatui::DefaultTerminal,
    endpoint: Endpoint,
    notice: Option<String>,
) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::channel::<Msg>(4096);
    let (req_tx, req_rx) = mpsc::channel(256);
    spawn_terminal_events(tx.clone());
    let name = endpoint.describe();
    tokio::spawn(connection::run(endpoint, tx.clone(), req_rx));
    tokio::spawn(clock(tx));
    let mut app = App::new(name, chrono::Utc::now());
    if let Some(n) = notice {
        app.update(Msg::Notice(n));
    }
    let mut dirty = true;
    loop {
        if dirty {
            terminal.draw(|f| app.render(f))?;
            dirty = false;
        }
        let Some(mut msg) = rx.recv().await else {
            return Ok(());
        };
        // Everything already waiting is folded in before the next frame.
        loop {
            match app.update(msg) {
                Command::None => {}
                Command::Redraw => dirty = true,
                Command::Quit => return Ok(()),
                Command::Send(r) => {
                    dirty = true;
                    if req_tx.send(r).await.is_err() {
                        return Ok(());
                    }
                }
            }
            match rx.try_recv() {
                Ok(m) => msg = m,
                Err(_) => break,
            }
        }
    }
}

/// Terminal input on a thread of its own, as messages: the loop never
/// touches the terminal's event API, which tests replace by sending
/// messages directly.
fn spawn_terminal_events(tx: mpsc::Sender<Msg>) {
    std::thread::spawn(move || {
        loop {
            let msg = match crossterm::event::read() {
                Ok(crossterm::event::Event::Key(k)) => Msg::Key(k),
                Ok(crossterm::event::Event::Resize(..)) => Msg::Resize,
                Ok(_) => continue,
                Err(_) => return,
            };
            if tx.blocking_send(msg).is_err() {
                return;
            }
        }
    });
}

async fn clock(tx: mpsc::Sender<Msg>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if tx.send(Msg::Tick(chrono::Utc::now())).await.is_err() {
            return;
        }
    }
}
