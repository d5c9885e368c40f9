//! `tradectl data …` and `tradectl backtest …`.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};
use tradedesk_core::analytics::Metrics;
use tradedesk_core::api::backtests::{
    Backtest as BacktestRecord, BacktestFilter, BacktestId, BacktestKind, BacktestSpec,
    BacktestsCancel, BacktestsCompare, BacktestsCreate, BacktestsDelete, BacktestsEquity,
    BacktestsGet, BacktestsList, BacktestsReport, BacktestsResults, BacktestsSweep,
    BacktestsTrades, CompareParams, EquityQuery, SweepSpec, TradesQuery,
};
use tradedesk_core::backtest::report::Report;
use tradedesk_core::backtest::{Axis, FillModel};
use tradedesk_core::client::Client;

use crate::bots::SpecArgs;
use crate::format::{Table, ts};
use crate::{Ctx, Failure};

mod data;
pub use data::{Data, data};
mod html;

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub spec: SpecArgs,
    /// Dataset ids the strategy trades (repeatable).
    #[arg(long = "dataset", required = true)]
    pub datasets: Vec<u64>,
    /// Starting cash in the quote currency.
    #[arg(long, default_value = "10000")]
    pub capital: String,
    /// Commission in percent of each fill (0.1 = 0.1 %); by default the
    /// daemon's `[backtest] commission_pct` (0.1 unless configured).
    #[arg(long)]
    pub commission: Option<String>,
    /// A fixed commission per fill.
    #[arg(long, default_value = "0")]
    pub commission_fixed: String,
    #[arg(long, default_value = "0")]
    pub slippage_bps: String,
    #[arg(long, value_enum, default_value = "next-open")]
    pub fill: FillModel,
    #[arg(long, default_value = "1")]
    pub leverage: String,
    /// Close what is still open at the last bar, as trades ending
    /// `end_of_data` (by default an open position is only marked).
    #[arg(long)]
    pub close_at_end: bool,
    /// A margin account: strategies may sell short (`allow_short`). Without
    /// it the run is spot, long only.
    #[arg(long)]
    pub margin: bool,
    /// Margin call when equity falls to this percent of the positions'
    /// gross value (default: half the initial margin, 50 / leverage).
    #[arg(long, requires = "margin")]
    pub maintenance_pct: Option<String>,
    /// A short's borrow cost in percent of its value per `--borrow-period`.
    #[arg(long, requires = "margin")]
    pub borrow_pct: Option<String>,
    /// How often borrow is charged (1m … 1d; default 1h).
    #[arg(long, requires = "margin")]
    pub borrow_period: Option<String>,
    /// Only bars from this time (RFC 3339).
    #[arg(long)]
    pub start: Option<String>,
    #[arg(long)]
    pub end: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Return at once instead of waiting and printing the metrics.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
    Svg,
    Png,
    /// One self-contained report: charts, candles with the trades, tables.
    Html,
}

#[derive(Subcommand)]
pub enum Backtest {
    /// Run a backtest (waits with a progress bar, then prints the metrics).
    Run(RunArgs),
    /// A parameter sweep: `--grid fast=5,10,20 --grid slow=50,100`.
    Sweep {
        #[command(flatten)]
        run: RunArgs,
        /// A parameter and its values, `NAME=V1,V2,…` (repeatable).
        #[arg(long = "grid", required = true)]
        grid: Vec<String>,
        /// The metric to rank by (highest first).
        #[arg(long, default_value = "sharpe")]
        rank_by: String,
        /// Rows to print.
        #[arg(long, default_value = "20")]
        top: usize,
    },
    /// A backtest's state and metrics, and its report; a sweep's ranked
    /// combinations.
    Show {
        id: u64,
        /// A sweep's rows to print (0: every combination).
        #[arg(long, default_value = "20")]
        top: usize,
    },
    /// Runs one combination of a finished sweep as a full backtest (its
    /// rank as `show` numbers them), with trades, equity and report.
    Open {
        /// The sweep.
        id: u64,
        /// The combination's rank (1 = the best).
        rank: usize,
    },
    /// Backtests and sweeps, newest first.
    List {
        #[arg(long)]
        sweeps: bool,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// A backtest's trades.
    Trades {
        id: u64,
        #[arg(long, default_value = "1000")]
        limit: u32,
    },
    /// A backtest's equity curve and drawdown.
    Equity {
        id: u64,
        /// At most this many points.
        #[arg(long, default_value = "40")]
        points: u32,
    },
    /// Metrics of several backtests side by side.
    Compare {
        #[arg(required = true, num_args = 2..)]
        ids: Vec<u64>,
    },
    /// Write a backtest's results: csv (equity), json (everything), svg or
    /// png (equity and drawdown chart), html (a report that opens offline:
    /// charts, a market's candles with entries and exits, every table).
    Export {
        id: u64,
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// html: the market whose candles are drawn (default: the first).
        #[arg(long)]
        symbol: Option<String>,
    },
    /// Cancel a queued or running backtest or sweep.
    Cancel { id: u64 },
    /// Delete a finished backtest or sweep.
    Delete { id: u64 },
}

/// One figure of a comparison, as text.
type Figure = fn(&Metrics) -> String;

/// The spec built from the command line as the method's typed params;
/// what does not fit is said as a usage error naming the field.
fn typed<P: serde::de::DeserializeOwned>(v: Value) -> Result<P, Failure> {
    tradedesk_core::api::ApiError::decode_params(v).map_err(|e| Failure::Usage(e.message))
}

fn spec_json(c: &mut Client, a: &RunArgs) -> Result<Value, Failure> {
    let strategy = a.spec.to_json(c)?;
    let parse_time = |s: &Option<String>, flag: &str| -> Result<Value, Failure> {
        s.as_ref().map_or(Ok(Value::Null), |t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|_| json!(t))
                .or_else(|_| {
                    chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                        .map(|d| json!(format!("{d}T00:00:00Z")))
                })
                .map_err(|_| {
                    Failure::Usage(format!("{flag} `{t}`: expected a date or RFC 3339 time"))
                })
        })
    };
    Ok(json!({
        "name": a.name,
        "strategies": [{ "spec": strategy, "datasets": a.datasets }],
        "settings": {
            "capital": a.capital,
            "commission_pct": a.commission,
            "commission_fixed": a.commission_fixed,
            "slippage_bps": a.slippage_bps,
            "fill": a.fill,
            "leverage": a.leverage,
            "close_at_end": a.close_at_end,
            "margin": a.margin.then(|| {
                let mut m = serde_json::Map::new();
                for (k, v) in [
                    ("maintenance_pct", &a.maintenance_pct),
                    ("borrow_pct", &a.borrow_pct),
                    ("borrow_period", &a.borrow_period),
                ] {
                    if let Some(v) = v {
                        m.insert(k.into(), json!(v));
                    }
                }
                Value::Object(m)
            }),
        },
        "start": parse_time(&a.start, "--start")?,
        "end": parse_time(&a.end, "--end")?,
    }))
}

fn opt(v: Option<f64>, digits: usize) -> String {
    tradedesk_core::display::figure(v, digits)
}

fn signed(v: Option<f64>, digits: usize) -> String {
    tradedesk_core::display::signed_figure(v, digits)
}

fn days(ms: Option<i64>) -> String {
    ms.map_or_else(
        || "-".into(),
        |m| format!("{:.1} d", m as f64 / 86_400_000.0),
    )
}

/// The metrics as a two-column table, in the reference's order.
fn metrics_table(m: &Metrics) -> String {
    metrics_rows(m).to_string()
}

/// [`metrics_table`]'s table.
pub(crate) fn metrics_rows(m: &Metrics) -> Table {
    let mut t = Table::new(&["metric", "value"]);
    let rows: Vec<(&str, String)> = vec![
        ("start", ts(m.start)),
        ("end", ts(m.end)),
        ("exposure %", format!("{:.2}", m.exposure_pct)),
        ("equity final", format!("{:.2}", m.equity_final)),
        ("equity peak", format!("{:.2}", m.equity_peak)),
        ("commissions", format!("{:.2}", m.commissions)),
        ("total fees", format!("{:.2}", m.total_fees)),
        ("return %", signed(Some(m.return_pct), 2)),
        ("buy & hold %", signed(m.buy_hold_return_pct, 2)),
        ("return (ann.) %", signed(m.return_ann_pct, 2)),
        ("CAGR %", signed(m.cagr_pct, 2)),
        ("volatility (ann.) %", opt(m.volatility_ann_pct, 2)),
        ("Sharpe", opt(m.sharpe, 3)),
        ("Sortino", opt(m.sortino, 3)),
        ("Calmar", opt(m.calmar, 3)),
        (
            "annualised by",
            format!("{} bars a year", opt(Some(m.bars_per_year), 0)),
        ),
        (
            "volatility (ann., reference) %",
            opt(m.volatility_ann_reference_pct, 2),
        ),
        ("Sharpe (reference)", opt(m.sharpe_reference, 3)),
        ("Sortino (reference)", opt(m.sortino_reference, 3)),
        ("Calmar (reference)", opt(m.calmar_reference, 3)),
        ("alpha %", opt(m.alpha_pct, 2)),
        ("beta", opt(m.beta, 3)),
        ("max drawdown %", format!("{:.2}", m.max_drawdown_pct)),
        ("avg drawdown %", opt(m.avg_drawdown_pct, 2)),
        ("max drawdown duration", days(m.max_drawdown_duration_ms)),
        ("avg drawdown duration", days(m.avg_drawdown_duration_ms)),
        ("trades", m.trades.to_string()),
        ("win rate %", opt(m.win_rate_pct, 2)),
        ("best trade %", opt(m.best_trade_pct, 2)),
        ("worst trade %", opt(m.worst_trade_pct, 2)),
        ("avg trade %", opt(m.avg_trade_pct, 2)),
        ("avg win %", opt(m.avg_win_pct, 2)),
        ("avg loss %", opt(m.avg_loss_pct, 2)),
        ("max trade duration", days(m.max_trade_duration_ms)),
        ("avg trade duration", days(m.avg_trade_duration_ms)),
        ("profit factor", opt(m.profit_factor, 3)),
        ("expectancy %", opt(m.expectancy_pct, 2)),
        ("SQN", opt(m.sqn, 3)),
        ("Kelly", opt(m.kelly, 4)),
        ("longest win streak", m.longest_win_streak.to_string()),
        ("longest loss streak", m.longest_loss_streak.to_string()),
    ];
    for (k, v) in rows {
        t.row(vec![k.to_owned(), v]);
    }
    t
}

fn backtests_table(bs: &[BacktestRecord]) -> String {
    let mut t = Table::new(&[
        "id", "name", "kind", "state", "return %", "sharpe", "max dd %", "trades", "created",
    ]);
    for b in bs {
        let s = b.summary.as_ref();
        t.row(vec![
            b.id.to_string(),
            b.name.clone(),
            match b.kind {
                BacktestKind::Run => "run".into(),
                BacktestKind::Sweep => "sweep".into(),
            },
            if b.state.is_final() {
                b.state.as_str().to_owned()
            } else {
                format!("{} {}%", b.state.as_str(), b.progress)
            },
            s.map_or_else(|| "-".into(), |s| signed(Some(s.return_pct), 2)),
            opt(s.and_then(|s| s.sharpe), 3),
            s.map_or_else(|| "-".into(), |s| format!("{:.2}", s.max_drawdown_pct)),
            s.map_or_else(|| "-".into(), |s| s.trades.to_string()),
            ts(b.created),
        ]);
    }
    t.to_string()
}

fn show(ctx: &Ctx, c: &mut Client, id: u64, top: usize) -> Result<(), Failure> {
    let b = c.call::<BacktestsGet>(&BacktestId { id })?;
    let metrics = if b.summary.is_some() {
        Some(c.call::<BacktestsResults>(&BacktestId { id })?)
    } else {
        None
    };
    let report = if b.summary.is_some() && b.kind == BacktestKind::Run {
        Some(c.call::<BacktestsReport>(&BacktestId { id })?)
    } else {
        None
    };
    ctx.emit_with(
        &json!({ "backtest": b, "metrics": metrics, "report": report }),
        || {
            human_show(&b, metrics.as_ref(), top);
            if let Some(r) = &report {
                out!("{}", report_tables(r));
            }
            Ok(())
        },
    )
}

/// The backtest of a sweep's combination of rank `rank` (1-based): the
/// sweep's backtest with its first strategy's parameters set to that row's.
fn combination(c: &mut Client, id: u64, rank: usize) -> Result<BacktestSpec, Failure> {
    let b = c.call::<BacktestsGet>(&BacktestId { id })?;
    let Some(rows) = &b.sweep else {
        return Err(Failure::Usage(format!(
            "backtest {id} is not a finished sweep"
        )));
    };
    let row = rank
        .checked_sub(1)
        .and_then(|i| rows.get(i))
        .ok_or_else(|| {
            Failure::Usage(format!(
                "rank must be between 1 and {} (the sweep's combinations)",
                rows.len()
            ))
        })?;
    if let Some(e) = &row.error {
        return Err(Failure::Usage(format!(
            "combination {rank} did not run: {e}"
        )));
    }
    let mut spec = b.spec["backtest"].clone();
    spec["strategies"][0]["spec"]["params"] = row.params.clone();
    spec["name"] = json!(format!("{} #{rank}", b.name));
    typed(spec)
}

/// Trades by symbol, direction and exit reason, then the monthly returns.
fn report_tables(r: &Report) -> String {
    let mut s = String::new();
    for (_, t) in report_parts(r) {
        let _ = write!(s, "{t}");
    }
    s
}

/// [`report_tables`]' tables, each with a title.
pub(crate) fn report_parts(r: &Report) -> Vec<(&'static str, Table)> {
    let mut out = Vec::new();
    for (title, key, groups) in [
        ("By symbol", "symbol", &r.by_symbol),
        ("By direction", "direction", &r.by_direction),
        ("By exit reason", "exit reason", &r.by_exit_reason),
    ] {
        let mut t = Table::new(&[
            key, "trades", "win %", "pnl", "fees", "avg %", "best %", "worst %",
        ]);
        for g in groups {
            t.row(vec![
                g.key.clone(),
                g.trades.to_string(),
                format!("{:.1}", g.win_rate_pct),
                g.pnl.get().round_dp(2).to_string(),
                g.fees.get().round_dp(2).to_string(),
                format!("{:.2}", g.avg_return_pct),
                format!("{:.2}", g.best_return_pct),
                format!("{:.2}", g.worst_return_pct),
            ]);
        }
        out.push((title, t));
    }
    let mut t = Table::new(&["month", "return %", "equity"]);
    for p in &r.monthly {
        t.row(vec![
            p.period.clone(),
            format!("{:+.2}", p.return_pct),
            format!("{:.2}", p.end_equity),
        ]);
    }
    out.push(("Monthly returns", t));
    out
}

fn human_show(b: &BacktestRecord, metrics: Option<&Metrics>, top: usize) {
    out!("{}", backtests_table(std::slice::from_ref(b)));
    if let Some(e) = &b.error {
        outln!("error: {e}");
    }
    if let Some(m) = metrics {
        out!("{}", metrics_table(m));
    }
    if let Some(rows) = &b.sweep {
        let mut t = Table::new(&["rank", "params", "score", "return %", "max dd %", "trades"]);
        for (i, r) in rows.iter().take(top).enumerate() {
            t.row(vec![
                (i + 1).to_string(),
                r.params.to_string(),
                opt(r.score, 4),
                opt(r.metrics.as_ref().map(|m| m.return_pct), 2),
                opt(r.metrics.as_ref().map(|m| m.max_drawdown_pct), 2),
                r.metrics.as_ref().map_or_else(
                    || r.error.clone().unwrap_or_default(),
                    |m| m.trades.to_string(),
                ),
            ]);
        }
        out!("{t}");
    }
}

#[allow(clippy::too_many_lines)] // one arm per command
pub fn backtest(ctx: &Ctx, cmd: Backtest) -> Result<(), Failure> {
    let mut c = ctx.connect()?;
    match cmd {
        Backtest::Run(a) => {
            let spec: BacktestSpec = typed(spec_json(&mut c, &a)?)?;
            let b = c.call::<BacktestsCreate>(&spec)?;
            let (id, job) = (b.id, b.job_id);
            if a.no_wait {
                ctx.emit(&b, || outln!("backtest {id} queued (job {job})"));
                return Ok(());
            }
            crate::jobs::wait_quietly(ctx, &mut c, job)?;
            show(ctx, &mut c, id, 20)
        }
        Backtest::Sweep {
            run,
            grid,
            rank_by,
            top,
        } => {
            let mut axes = Vec::new();
            for g in &grid {
                let (name, values) = g.split_once('=').ok_or_else(|| {
                    Failure::Usage(format!("--grid `{g}`: expected NAME=V1,V2,…"))
                })?;
                let values: Vec<Value> = values
                    .split(',')
                    .map(|v| {
                        serde_json::from_str::<Value>(v.trim()).unwrap_or_else(|_| json!(v.trim()))
                    })
                    .collect();
                axes.push(Axis {
                    param: name.to_owned(),
                    values,
                });
            }
            let spec = SweepSpec {
                backtest: typed(spec_json(&mut c, &run)?)?,
                grid: axes,
                rank_by,
            };
            let b = c.call::<BacktestsSweep>(&spec)?;
            let (id, job) = (b.id, b.job_id);
            if run.no_wait {
                ctx.emit(&b, || outln!("sweep {id} queued (job {job})"));
                return Ok(());
            }
            crate::jobs::wait_quietly(ctx, &mut c, job)?;
            show(ctx, &mut c, id, top)
        }
        Backtest::Show { id, top } => {
            show(ctx, &mut c, id, if top == 0 { usize::MAX } else { top })
        }
        Backtest::Open { id, rank } => {
            let spec = combination(&mut c, id, rank)?;
            let b = c.call::<BacktestsCreate>(&spec)?;
            crate::jobs::wait_quietly(ctx, &mut c, b.job_id)?;
            show(ctx, &mut c, b.id, 20)
        }
        Backtest::List { sweeps, limit } => {
            let p = c.call::<BacktestsList>(&BacktestFilter {
                kind: sweeps.then_some(BacktestKind::Sweep),
                limit,
                cursor: None,
            })?;
            ctx.emit(&p, || {
                out!("{}", backtests_table(&p.items));
            });
            Ok(())
        }
        Backtest::Trades { id, limit } => {
            let p = c.call::<BacktestsTrades>(&TradesQuery {
                id,
                limit: Some(limit),
                cursor: None,
            })?;
            ctx.emit_with(&p, || {
                let t = html::trades_table(&p.items);
                out!("{t}");
                Ok(())
            })?;
            Ok(())
        }
        Backtest::Equity { id, points } => {
            let e = c.call::<BacktestsEquity>(&EquityQuery {
                id,
                downsample: Some(points),
            })?;
            ctx.emit(&e, || {
                let mut t = Table::new(&["time", "equity", "drawdown %"]);
                for p in &e.points {
                    t.row(vec![
                        ts(p.time),
                        format!("{:.2}", p.equity),
                        format!("{:.2}", p.drawdown_pct),
                    ]);
                }
                out!("{t}");
            });
            Ok(())
        }
        Backtest::Compare { ids } => {
            let cmp = c.call::<BacktestsCompare>(&CompareParams { ids })?;
            ctx.emit_with(&cmp, || {
                let mut headers = vec!["metric".to_owned()];
                headers.extend(
                    cmp.backtests
                        .iter()
                        .map(|b| format!("#{} {}", b.id, b.name)),
                );
                let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
                // What ran, above what it made.
                let mut what = Table::new(&header_refs);
                let described: Vec<_> = cmp
                    .backtests
                    .iter()
                    .map(|b| tradedesk_core::display::backtest_spec(&b.spec))
                    .collect();
                for (i, (name, _)) in described.first().into_iter().flatten().enumerate() {
                    let mut row = vec![(*name).to_owned()];
                    row.extend(described.iter().map(|d| d[i].1.clone()));
                    what.row(row);
                }
                out!("{what}");
                let mut t = Table::new(&header_refs);
                let rows: Vec<(&str, Figure)> = vec![
                    ("return %", |m| signed(Some(m.return_pct), 2)),
                    ("CAGR %", |m| signed(m.cagr_pct, 2)),
                    ("Sharpe", |m| opt(m.sharpe, 3)),
                    ("Sortino", |m| opt(m.sortino, 3)),
                    ("max drawdown %", |m| format!("{:.2}", m.max_drawdown_pct)),
                    ("trades", |m| m.trades.to_string()),
                    ("win rate %", |m| opt(m.win_rate_pct, 2)),
                    ("profit factor", |m| opt(m.profit_factor, 3)),
                    ("exposure %", |m| format!("{:.2}", m.exposure_pct)),
                    ("total fees", |m| format!("{:.2}", m.total_fees)),
                ];
                for (name, f) in rows {
                    let mut row = vec![name.to_owned()];
                    row.extend(cmp.backtests.iter().map(|b| f(&b.metrics)));
                    t.row(row);
                }
                out!("{t}");
                Ok(())
            })
        }
        Backtest::Export {
            id,
            format,
            out,
            symbol,
        } => export(ctx, &mut c, id, (format, symbol.as_deref()), &out),
        Backtest::Cancel { id } => {
            let b = c.call::<BacktestsCancel>(&BacktestId { id })?;
            ctx.emit(&b, || {
                outln!("backtest {id}: cancel asked ({})", b.state.as_str());
            });
            Ok(())
        }
        Backtest::Delete { id } => {
            let r = c.call::<BacktestsDelete>(&BacktestId { id })?;
            ctx.emit(&r, || outln!("backtest {id} deleted"));
            Ok(())
        }
    }
}

fn export(
    ctx: &Ctx,
    c: &mut Client,
    id: u64,
    (format, symbol): (ExportFormat, Option<&str>),
    out: &std::path::Path,
) -> Result<(), Failure> {
    if out.exists() {
        return Err(Failure::Usage(format!(
            "--out `{}` exists; nothing was written",
            out.display()
        )));
    }
    let curve = c.call::<BacktestsEquity>(&EquityQuery {
        id,
        downsample: None,
    })?;
    let written = match format {
        ExportFormat::Csv => {
            let mut text = String::from("time,equity,drawdown_pct\n");
            for p in &curve.points {
                let _ = writeln!(text, "{},{},{}", ts(p.time), p.equity, p.drawdown_pct);
            }
            std::fs::write(out, text)
        }
        ExportFormat::Json => {
            let b = c.call::<BacktestsGet>(&BacktestId { id })?;
            let metrics = c.call::<BacktestsResults>(&BacktestId { id })?;
            let trades = html::all_trades(c, id)?;
            let all = json!({
                "backtest": b,
                "metrics": metrics,
                "trades": trades,
                "equity": curve.points,
            });
            std::fs::write(out, serde_json::to_string_pretty(&all).unwrap_or_default())
        }
        ExportFormat::Html => std::fs::write(out, html::report(c, id, symbol)?),
        ExportFormat::Svg | ExportFormat::Png => {
            let b = c.call::<BacktestsGet>(&BacktestId { id })?;
            crate::chart::equity(
                &b.name,
                &curve.points,
                out,
                matches!(format, ExportFormat::Png),
            )
            .map_err(Failure::Other)?;
            Ok(())
        }
    };
    written.map_err(|e| Failure::Other(format!("cannot write {}: {e}", out.display())))?;
    ctx.emit(&json!({ "path": out, "points": curve.total }), || {
        outln!("{} written ({} points)", out.display(), curve.total);
    });
    Ok(())
}
