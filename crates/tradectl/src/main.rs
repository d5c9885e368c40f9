//! `tradectl`: the command-line client of tradingd, for people and for
//! scripts and cron. Every command is a call to the daemon; `--json` gives
//! machine output on every command.
//!
//! Exit codes: 0 ok, 1 the daemon answered with an error, 2 usage error,
//! 3 the daemon is not reachable.

#[macro_use]
mod out;

mod backtests;
mod bench;
mod bots;
mod cache;
mod chart;
mod daemon;
mod format;
mod jobs;
mod ops;
mod remote;
mod risk;
mod trading;
mod users;
mod venue;
mod watch;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tradedesk_core::api::{ApiError, method_descriptors};
use tradedesk_core::client::{Client, ClientError};
use tradedesk_core::paths;

#[derive(Parser)]
#[command(
    name = "tradectl",
    version,
    about = "Command-line client of the tradedesk daemon"
)]
pub(crate) struct Cli {
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    /// Daemon socket (default: TRADEDESK_SOCKET, else the XDG runtime dir).
    #[arg(long, global = true, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// A daemon on another machine, by its HTTP API (`https://host:8686`);
    /// log in first with `tradectl login URL`, or set TRADEDESK_TOKEN.
    #[arg(long, global = true, value_name = "URL", env = "TRADEDESK_REMOTE")]
    remote: Option<String>,
    /// Certificates (PEM) to trust for the remote daemon beside the
    /// system's, e.g. its self-signed certificate.
    #[arg(long, global = true, value_name = "PEM", env = "TRADEDESK_CA")]
    ca: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Summary of the running daemon.
    Status,
    /// Call any method: `tradectl rpc system.info`, `tradectl rpc NAME '{"k":1}'`,
    /// `tradectl rpc NAME -` (params from stdin); `tradectl rpc list` lists methods.
    Rpc {
        /// Method name, or `list`.
        method: String,
        /// Params as a JSON object, or `-` to read them from stdin.
        params: Option<String>,
    },
    /// Start, stop or inspect the daemon.
    Daemon {
        #[command(subcommand)]
        action: daemon::Action,
    },
    /// Market data: tickers, klines, order book, trades.
    Market {
        #[command(subcommand)]
        cmd: trading::Market,
    },
    /// Place, cancel and list orders.
    Order {
        #[command(subcommand)]
        cmd: trading::Order,
    },
    /// Open positions with PnL.
    Positions,
    /// Accounts: where each trades, paper or live, spot or margin; or open
    /// a paper account of your own (`accounts create`).
    Accounts {
        #[command(subcommand)]
        cmd: Option<trading::AccountCmd>,
    },
    /// Balances, free and locked.
    Balances {
        #[arg(long)]
        account: Option<String>,
    },
    /// Our fills (or their totals with --stats).
    Trades(trading::Trades),
    /// Strategy configs and the built-in catalogue.
    Strategy {
        #[command(subcommand)]
        cmd: bots::Strategy,
    },
    /// Bots: create, start, pause, resume, stop, events, performance.
    Bot {
        #[command(subcommand)]
        cmd: bots::Bot,
    },
    /// The daemon's in-memory cache: stats, keys, get/set (user namespace), TTLs, flush.
    Cache {
        #[command(subcommand)]
        cmd: cache::Cache,
    },
    /// Risk: limits, states, the kill switch, violations and alerts.
    Risk {
        #[command(subcommand)]
        cmd: risk::Risk,
    },
    /// Users of the HTTP API: add, list, disable, enable, role, passwd.
    User {
        #[command(subcommand)]
        cmd: users::User,
    },
    /// Background jobs: enqueue (`--wait` for cron lines), list, wait, cancel, retry.
    Job {
        #[command(subcommand)]
        cmd: jobs::Job,
    },
    /// Historical datasets: import CSV or Binance dumps, list, export.
    Data {
        #[command(subcommand)]
        cmd: backtests::Data,
    },
    /// Backtests and parameter sweeps on the datasets.
    Backtest {
        #[command(subcommand)]
        cmd: Box<backtests::Backtest>,
    },
    /// Cron schedules that enqueue jobs.
    Schedule {
        #[command(subcommand)]
        cmd: jobs::Schedule,
    },
    /// A venue's API keys, kept in the keyring or an encrypted file.
    Venue {
        #[command(subcommand)]
        cmd: venue::Venue,
    },
    /// Log in to a remote daemon; the session is kept in the keyring (or an
    /// encrypted file), never in plain text.
    Login {
        /// The daemon's HTTP address, e.g. https://desk.example.net:8686.
        url: String,
        /// The user name (default: $USER).
        #[arg(long)]
        user: Option<String>,
    },
    /// End the session with a remote daemon (default: --remote's) and forget it.
    Logout { url: Option<String> },
    /// Readiness checks: config, directories, disk, database, socket,
    /// HTTP, secrets, clock, logs, risk limits, schedules, dead jobs.
    /// Exit code: 0 all ok, 1 a warning, 2 a failure.
    Doctor {
        /// The daemon's config, for the offline checks (a running daemon
        /// checks its own).
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// The daemon's data dir, for the offline checks.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Load-test the API: concurrent workers calling one or several
    /// methods on the socket or over HTTP; latency percentiles,
    /// throughput, error codes.
    Bench(bench::Bench),
    /// Write a consistent copy of the daemon's database to FILE while it
    /// runs (restore it with `tradingd restore FILE`, the daemon stopped).
    Backup {
        /// A new file (never replaced); relative to this directory.
        file: PathBuf,
    },
    /// Show the daemon's log: the last lines, or new ones as they come.
    Logs {
        /// Keep printing new lines (Ctrl-C to stop).
        #[arg(long, short)]
        follow: bool,
        /// Only records at this level or above.
        #[arg(long, value_enum, default_value = "info")]
        level: ops::Level,
        /// How many lines to show first.
        #[arg(long, short = 'n', default_value_t = 50)]
        lines: usize,
        /// The log directory (default: the running daemon's).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Shell completions for tradectl (or tradingd, tradedesk).
    Completions {
        #[arg(value_enum)]
        shell: ops::Shell,
        /// Which program's completions.
        #[arg(long = "for", value_enum, default_value = "tradectl")]
        program: ops::Program,
        /// Write all three programs' scripts into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Manual pages: a program's on stdout (`tradectl man | man -l -`), or
    /// every page of all three programs into a directory.
    Man {
        /// Which program's page.
        #[arg(long = "for", value_enum, default_value = "tradectl")]
        program: ops::Program,
        /// Write every page (`tradectl.1`, `tradectl-order.1`, …) here.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Print stream events as they arrive, one readable line each
    /// (`--json`: one object per line, as sent).
    Watch {
        /// Topics, e.g. market.tickers orders.updates (see `tradectl rpc system.methods`).
        #[arg(required = true)]
        topics: Vec<String>,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many seconds (exit 0).
        #[arg(long)]
        seconds: Option<u64>,
    },
}

/// A command's failure, carrying its exit code.
#[derive(Debug)]
pub enum Failure {
    /// The daemon answered with an error (exit 1).
    Api(ApiError),
    /// Bad usage found after parsing (exit 2).
    Usage(String),
    /// No daemon (exit 3).
    Unreachable(String),
    /// Anything else: a lost connection, a protocol error (exit 1).
    Other(String),
    /// The answer said no (a dry run refused): already printed; exit 1 for
    /// scripts, with nothing more said.
    Refused,
    /// Already printed; exit with this code (`doctor`'s worst result).
    Code(u8),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match e {
            // At its connection limit the daemon is up but cannot take us:
            // like an unreachable daemon for a script (exit 3), said plainly.
            ClientError::Api(api)
                if api.kind() == Some(tradedesk_core::api::ErrorCode::Overloaded) =>
            {
                let max = api
                    .data
                    .as_ref()
                    .and_then(|d| d["max"].as_u64())
                    .map_or_else(|| "all its".to_owned(), |m| m.to_string());
                Failure::Unreachable(format!(
                    "daemon busy: {max} connections (rpc.max_connections); try again shortly"
                ))
            }
            ClientError::Api(api) => Failure::Api(api),
            e @ (ClientError::Unreachable { .. } | ClientError::ForeignPeer { .. }) => {
                Failure::Unreachable(e.to_string())
            }
            e => Failure::Other(e.to_string()),
        }
    }
}

impl From<paths::PathError> for Failure {
    fn from(e: paths::PathError) -> Self {
        Failure::Usage(e.to_string())
    }
}

pub struct Ctx {
    pub json: bool,
    pub socket: PathBuf,
    /// Talk to this daemon over HTTP instead of the socket.
    pub remote: Option<remote::Remote>,
    /// `--ca`, for a daemon named by `login` or `logout`.
    pub ca: Option<PathBuf>,
}

impl Ctx {
    /// The one output path: the value as JSON with `--json`, else what
    /// `human` writes for a person.
    pub fn emit<T: serde::Serialize + ?Sized>(&self, value: &T, human: impl FnOnce()) {
        // `human` cannot fail, so neither can this.
        self.emit_with(value, || {
            human();
            Ok(())
        })
        .unwrap_or(());
    }

    /// [`Ctx::emit`] for a person's view that can fail (it asks the daemon
    /// for more, such as the symbols' precision).
    pub fn emit_with<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
        human: impl FnOnce() -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        if self.json {
            print_json(value);
            Ok(())
        } else {
            human()
        }
    }

    pub fn connect(&self) -> Result<Client, Failure> {
        match &self.remote {
            Some(r) => r.connect(),
            None => Ok(Client::connect(&self.socket)?),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let remote = cli.remote.map(|url| remote::Remote {
        url,
        ca: cli.ca.clone(),
    });
    let result = paths::client_socket(cli.socket.as_deref())
        .map_err(Failure::from)
        .and_then(|socket| {
            let ctx = Ctx {
                json,
                socket,
                remote,
                ca: cli.ca,
            };
            run(&ctx, cli.command)
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report(json, failure),
    }
}

fn report(json: bool, failure: Failure) -> ExitCode {
    let (code, kind, message, data) = match failure {
        Failure::Api(e) => {
            let kind = e.kind().map_or("error", |k| k.name());
            // "invalid_params: invalid params: field …" says it twice.
            let said = format!("{}: ", kind.replace('_', " "));
            let message = e.message.strip_prefix(&said).unwrap_or(&e.message);
            (
                1,
                kind.to_owned(),
                format!("{message} (code {})", e.code),
                Some(e),
            )
        }
        Failure::Usage(m) => (2, "usage".to_owned(), m, None),
        Failure::Unreachable(m) => (3, "unreachable".to_owned(), m, None),
        Failure::Other(m) => (1, "error".to_owned(), m, None),
        Failure::Refused => return ExitCode::from(1),
        Failure::Code(c) => return ExitCode::from(c),
    };
    if json {
        let body = match data {
            Some(api) => serde_json::json!({ "error": api }),
            None => serde_json::json!({ "error": { "kind": kind, "message": message } }),
        };
        eprintln!("{body}");
    } else {
        eprintln!("tradectl: {kind}: {message}");
    }
    ExitCode::from(code)
}

fn run(ctx: &Ctx, command: Command) -> Result<(), Failure> {
    match command {
        Command::Status => daemon::status(ctx),
        Command::Rpc { method, params } if method == "list" && params.is_none() => {
            rpc_list(ctx);
            Ok(())
        }
        Command::Rpc { method, params } => rpc(ctx, &method, params.as_deref()),
        Command::Daemon { action } => daemon::run(ctx, action),
        Command::Market { cmd } => trading::market(ctx, cmd),
        Command::Order { cmd } => trading::order(ctx, cmd),
        Command::Positions => trading::positions(ctx),
        Command::Accounts { cmd: None } => trading::accounts(ctx),
        Command::Accounts { cmd: Some(cmd) } => trading::account_cmd(ctx, cmd),
        Command::Balances { account } => trading::balances(ctx, account),
        Command::Trades(a) => trading::trades(ctx, a),
        Command::Watch {
            topics,
            count,
            seconds,
        } => watch::watch(ctx, &topics, count, seconds),
        Command::Strategy { cmd } => bots::strategy(ctx, cmd),
        Command::Bot { cmd } => bots::bot(ctx, cmd),
        Command::Risk { cmd } => risk::risk(ctx, cmd),
        Command::Cache { cmd } => cache::cache(ctx, cmd),
        Command::Job { cmd } => jobs::job(ctx, cmd),
        Command::User { cmd } => users::user(ctx, cmd),
        Command::Schedule { cmd } => jobs::schedule(ctx, cmd),
        Command::Data { cmd } => backtests::data(ctx, cmd),
        Command::Backtest { cmd } => backtests::backtest(ctx, *cmd),
        Command::Venue { cmd } => venue::venue(ctx, cmd),
        Command::Doctor { config, data_dir } => {
            ops::doctor(ctx, config.as_deref(), data_dir.as_deref())
        }
        Command::Backup { file } => ops::backup(ctx, &file),
        Command::Bench(b) => bench::bench(ctx, &b),
        Command::Logs {
            follow,
            level,
            lines,
            dir,
        } => ops::logs(ctx, dir, level, lines, follow),
        Command::Completions {
            shell,
            program,
            dir,
        } => ops::completions(ctx, shell, program, dir.as_deref()),
        Command::Man { program, dir } => ops::man(ctx, program, dir.as_deref()),
        Command::Login { url, user } => remote::login(
            ctx,
            &remote::Remote {
                url,
                ca: ctx.ca.clone(),
            },
            user,
        ),
        Command::Logout { url } => {
            let target = url
                .map(|url| remote::Remote {
                    url,
                    ca: ctx.ca.clone(),
                })
                .or_else(|| ctx.remote.clone())
                .ok_or_else(|| Failure::Usage("give the URL to log out of".into()))?;
            remote::logout(ctx, &target)
        }
    }
}

fn rpc_list(ctx: &Ctx) {
    let methods = method_descriptors();
    ctx.emit(&methods, || {
        out!("{}", format::method_table(&methods));
    });
}

fn rpc(ctx: &Ctx, method: &str, params: Option<&str>) -> Result<(), Failure> {
    let params: serde_json::Value = match params {
        None => serde_json::json!({}),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::Usage(format!("cannot read params from stdin: {e}")))?;
            parse_params(&text)?
        }
        Some(text) => parse_params(text)?,
    };
    let result = ctx.connect()?.call_raw(method, &params)?;
    print_json(&result);
    Ok(())
}

fn parse_params(text: &str) -> Result<serde_json::Value, Failure> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Failure::Usage(format!("PARAMS is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(Failure::Usage("PARAMS must be a JSON object".into()));
    }
    Ok(value)
}

pub fn print_json<T: serde::Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => outln!("{text}"),
        Err(e) => eprintln!("tradectl: cannot encode output: {e}"),
    }
}
