//! `tradectl backtest export ID --format html`: one self-contained HTML
//! report — what ran, the equity and drawdown chart, a market's candles
//! with the trades' entries and exits, the metrics, the report's tables
//! and every trade. Charts are inline SVG; nothing is fetched when it
//! opens (no scripts, no links out).

use std::fmt::Write as _;

use serde_json::Value;
use tradedesk_core::api::backtests::{
    BacktestId, BacktestsEquity, BacktestsGet, BacktestsReport, BacktestsResults, BacktestsTrades,
    EquityQuery, TradesQuery,
};
use tradedesk_core::api::data::{BarsQuery, DataBars, DataGet, DatasetId};
use tradedesk_core::backtest::{Direction, Trade};
use tradedesk_core::client::Client;

use super::{metrics_rows, report_parts};
use crate::Failure;
use crate::chart::{Mark, candles_svg, equity_svg};
use crate::format::{Table, escape, ts};

/// Candles drawn for the chosen market.
const CANDLES: u32 = 400;

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:1240px;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
h2{margin-top:1.6em;border-bottom:2px solid #444}svg{max-width:100%;height:auto}\
.cols{display:flex;gap:3em;flex-wrap:wrap}";

/// The report of backtest `id`; `symbol` picks the market whose candles
/// are drawn (default: its first dataset's).
pub fn report(c: &mut Client, id: u64, symbol: Option<&str>) -> Result<String, Failure> {
    let b = c.call::<BacktestsGet>(&BacktestId { id })?;
    if !b.state.is_final() || b.summary.is_none() {
        return Err(Failure::Usage(format!(
            "backtest {id} is {}: only a finished run has a report",
            b.state.as_str()
        )));
    }
    let metrics = c.call::<BacktestsResults>(&BacktestId { id })?;
    let report = c.call::<BacktestsReport>(&BacktestId { id })?;
    let curve = c.call::<BacktestsEquity>(&EquityQuery {
        id,
        downsample: Some(2000),
    })?;
    let trades = all_trades(c, id)?;
    // A run stores its spec; a sweep the spec of its runs under `backtest`.
    let spec = if b.spec["backtest"].is_object() {
        &b.spec["backtest"]
    } else {
        &b.spec
    };
    let (dataset, market) = pick_market(c, spec, symbol)?;
    let bars = c.call::<DataBars>(&BarsQuery {
        id: dataset,
        start: None,
        end: None,
        points: Some(CANDLES),
    })?;
    let marks: Vec<Mark> = trades
        .iter()
        .filter(|t| t.symbol.as_str() == market)
        .flat_map(|t| {
            let long = t.direction == Direction::Long;
            [
                Mark {
                    time: t.entry_time,
                    price: f(t.entry_price.get()),
                    buy: long,
                },
                Mark {
                    time: t.exit_time,
                    price: f(t.exit_price.get()),
                    buy: !long,
                },
            ]
        })
        .collect();

    let mut h = String::new();
    let title = format!("Backtest {id} — {}", b.name);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let mut what = Table::new(&["", ""]);
    for (k, v) in tradedesk_core::display::backtest_spec(spec) {
        what.row(vec![k.to_owned(), v]);
    }
    what.row(vec![
        "bars".into(),
        format!("{} to {}", ts(metrics.start), ts(metrics.end)),
    ]);
    h.push_str("<h2>What ran</h2>\n");
    h.push_str(&what.html());
    h.push_str("<h2>Equity and drawdown</h2>\n");
    h.push_str(&chart(equity_svg(&b.name, &curve.points)));
    let _ = writeln!(
        h,
        "<h2>{} — candles with the trades: ▲ buys (blue), ▼ sells (black)</h2>",
        escape(&market)
    );
    if bars.per_point > 1 {
        let _ = writeln!(
            h,
            "<p>{} bars, drawn as {} candles of {} bars each.</p>",
            bars.total,
            bars.bars.len(),
            bars.per_point
        );
    }
    h.push_str(&chart(candles_svg(&market, &bars.bars, &marks)));
    h.push_str("<div class=\"cols\"><div><h2>Metrics</h2>\n");
    h.push_str(&metrics_rows(&metrics).html());
    h.push_str("</div><div>\n");
    for (title, t) in report_parts(&report) {
        let _ = writeln!(h, "<h2>{title}</h2>");
        h.push_str(&t.html());
    }
    h.push_str("</div></div>\n");
    let _ = writeln!(h, "<h2>Trades ({})</h2>", trades.len());
    h.push_str(&trades_table(&trades).html());
    h.push_str("</body></html>\n");
    Ok(h)
}

fn f(d: rust_decimal::Decimal) -> f64 {
    rust_decimal::prelude::ToPrimitive::to_f64(&d).unwrap_or(0.0)
}

/// A chart, or why there is none.
fn chart(svg: Result<String, String>) -> String {
    match svg {
        // The SVG's own XML declaration is not wanted inside HTML.
        Ok(s) => match s.find("<svg") {
            Some(i) => format!("{}\n", &s[i..]),
            None => s,
        },
        Err(why) => format!("<p>No chart: {}.</p>\n", escape(&why)),
    }
}

/// Every trade of a run, page after page.
pub(super) fn all_trades(c: &mut Client, id: u64) -> Result<Vec<Trade>, Failure> {
    let mut trades = Vec::new();
    let mut cursor = None;
    loop {
        let page = c.call::<BacktestsTrades>(&TradesQuery {
            id,
            limit: Some(tradedesk_core::api::paging::MAX_LIMIT),
            cursor,
        })?;
        trades.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(trades),
        }
    }
}

/// The dataset to draw and its symbol: the one trading `symbol`, else the
/// run's first.
fn pick_market(
    c: &mut Client,
    spec: &Value,
    symbol: Option<&str>,
) -> Result<(u64, String), Failure> {
    let ids: Vec<u64> = spec["strategies"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["datasets"].as_array().into_iter().flatten())
        .filter_map(Value::as_u64)
        .collect();
    let mut seen = Vec::new();
    for id in ids {
        let ds = c.call::<DataGet>(&DatasetId { id })?;
        if symbol.is_none_or(|s| s == ds.symbol) {
            return Ok((id, ds.symbol));
        }
        seen.push(ds.symbol);
    }
    Err(Failure::Usage(format!(
        "--symbol {}: the run trades {}",
        symbol.unwrap_or_default(),
        seen.join(", ")
    )))
}

/// Every trade of a run, one row each (`backtest trades` and the report).
pub(super) fn trades_table(trades: &[Trade]) -> Table {
    let mut t = Table::new(&[
        "#",
        "symbol",
        "side",
        "qty",
        "entry",
        "entry price",
        "exit",
        "exit price",
        "pnl",
        "return %",
        "fees",
        "why",
    ]);
    for (i, tr) in trades.iter().enumerate() {
        t.row(vec![
            (i + 1).to_string(),
            tr.symbol.to_string(),
            tr.direction.name().to_owned(),
            tr.qty.to_string(),
            ts(tr.entry_time),
            tr.entry_price.to_string(),
            ts(tr.exit_time),
            tr.exit_price.to_string(),
            crate::format::signed(tr.pnl.get().round_dp(2)),
            format!("{:+.2}", tr.return_pct),
            tr.fees.get().round_dp(2).to_string(),
            tr.exit_reason.map_or("-", |r| r.name()).to_owned(),
        ]);
    }
    t
}
