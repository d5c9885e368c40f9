//! A finished run's report beyond the metrics: its trades grouped by
//! symbol, by direction (long, short) and by exit reason, and its returns per calendar day and month
//! (UTC), as a trader reads a backtest.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[cfg(test)]
use super::Direction;
use super::{ExitReason, Trade};
use crate::money::Notional;
use crate::time::Timestamp;

/// Trades sharing a symbol or an exit reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TradeGroup {
    /// The symbol, or the exit reason (`unknown` for trades stored before
    /// reasons were kept).
    pub key: String,
    pub trades: u64,
    pub wins: u64,
    pub win_rate_pct: f64,
    /// Net of fees, exact.
    pub pnl: Notional,
    pub fees: Notional,
    pub avg_return_pct: f64,
    pub best_return_pct: f64,
    pub worst_return_pct: f64,
}

/// The equity's change over one calendar period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PeriodReturn {
    /// `2024-03` for a month, `2024-03-15` for a day (UTC).
    pub period: String,
    /// Equity at the end of the period before (the run's first equity for
    /// the first period) and at this one's last step.
    pub start_equity: f64,
    pub end_equity: f64,
    pub return_pct: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    pub by_symbol: Vec<TradeGroup>,
    /// `long` and `short`.
    #[serde(default)]
    pub by_direction: Vec<TradeGroup>,
    pub by_exit_reason: Vec<TradeGroup>,
    pub monthly: Vec<PeriodReturn>,
    pub daily: Vec<PeriodReturn>,
}

#[derive(Default)]
struct Acc {
    trades: u64,
    wins: u64,
    pnl: Decimal,
    fees: Decimal,
    sum_ret: f64,
    best: f64,
    worst: f64,
}

fn groups<'a>(trades: &'a [Trade], key: impl Fn(&'a Trade) -> String) -> Vec<TradeGroup> {
    let mut by: BTreeMap<String, Acc> = BTreeMap::new();
    for t in trades {
        let a = by.entry(key(t)).or_insert_with(|| Acc {
            best: f64::NEG_INFINITY,
            worst: f64::INFINITY,
            ..Acc::default()
        });
        a.trades = a.trades.saturating_add(1);
        if t.pnl.get().is_sign_positive() && !t.pnl.get().is_zero() {
            a.wins = a.wins.saturating_add(1);
        }
        // Sums of stored amounts: an overflow would need more money than
        // exists; saturate rather than fail the report.
        a.pnl = a.pnl.checked_add(t.pnl.get()).unwrap_or(a.pnl);
        a.fees = a.fees.checked_add(t.fees.get()).unwrap_or(a.fees);
        a.sum_ret += t.return_pct;
        a.best = a.best.max(t.return_pct);
        a.worst = a.worst.min(t.return_pct);
    }
    by.into_iter()
        .map(|(key, a)| {
            let n = a.trades as f64;
            TradeGroup {
                key,
                trades: a.trades,
                wins: a.wins,
                win_rate_pct: a.wins as f64 * 100.0 / n,
                pnl: Notional::new(a.pnl),
                fees: Notional::new(a.fees),
                avg_return_pct: a.sum_ret / n,
                best_return_pct: a.best,
                worst_return_pct: a.worst,
            }
        })
        .collect()
}

/// Each period's last equity against the period before's (`key` names a
/// step's period; steps are in time order).
fn periods(
    times: &[Timestamp],
    equity: &[f64],
    key: impl Fn(Timestamp) -> String,
) -> Vec<PeriodReturn> {
    let mut out: Vec<PeriodReturn> = Vec::new();
    let Some(&first) = equity.first() else {
        return out;
    };
    let mut start = first;
    for (&t, &e) in times.iter().zip(equity) {
        let period = key(t);
        match out.last_mut() {
            Some(p) if p.period == period => p.end_equity = e,
            _ => {
                if let Some(p) = out.last() {
                    start = p.end_equity;
                }
                out.push(PeriodReturn {
                    period,
                    start_equity: start,
                    end_equity: e,
                    return_pct: 0.0,
                });
            }
        }
    }
    for p in &mut out {
        p.return_pct = if p.start_equity == 0.0 {
            0.0
        } else {
            (p.end_equity / p.start_equity - 1.0) * 100.0
        };
    }
    out
}

fn date(t: Timestamp, format: &str) -> String {
    t.to_datetime()
        .map_or_else(|| t.millis().to_string(), |d| d.format(format).to_string())
}

/// The report of a run from its trades and its equity curve.
pub fn report(trades: &[Trade], times: &[Timestamp], equity: &[f64]) -> Report {
    Report {
        by_symbol: groups(trades, |t| t.symbol.as_str().to_owned()),
        by_direction: groups(trades, |t| t.direction.name().to_owned()),
        by_exit_reason: groups(trades, |t| {
            t.exit_reason
                .map_or_else(|| "unknown".to_owned(), |r| ExitReason::name(r).to_owned())
        }),
        monthly: periods(times, equity, |t| date(t, "%Y-%m")),
        daily: periods(times, equity, |t| date(t, "%Y-%m-%d")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::{Price, Qty};

    /// A trade; a losing one is a short.
    fn trade(symbol: &str, pnl: &str, ret: f64, reason: Option<ExitReason>) -> Trade {
        Trade {
            leg: 0,
            symbol: symbol.parse().expect("symbol"),
            qty: Qty::new(Decimal::ONE),
            entry_step: 0,
            exit_step: 1,
            entry_time: Timestamp(0),
            exit_time: Timestamp(60_000),
            entry_price: Price::new(Decimal::ONE),
            exit_price: Price::new(Decimal::ONE),
            pnl: Notional::new(pnl.parse().expect("pnl")),
            fees: Notional::new("0.5".parse().expect("fee")),
            return_pct: ret,
            exit_reason: reason,
            direction: if pnl.starts_with('-') {
                Direction::Short
            } else {
                Direction::Long
            },
        }
    }

    #[test]
    fn trades_group_by_symbol_and_exit_reason_with_exact_sums() {
        let trades = [
            trade("BTCUSDT", "10.10", 2.0, Some(ExitReason::Signal)),
            trade("BTCUSDT", "-4.05", -1.0, Some(ExitReason::StopLoss)),
            trade("ETHUSDT", "3.00", 1.5, Some(ExitReason::Signal)),
            trade("ETHUSDT", "0", 0.0, None),
        ];
        let r = report(&trades, &[], &[]);
        let btc = &r.by_symbol[0];
        assert_eq!((btc.key.as_str(), btc.trades, btc.wins), ("BTCUSDT", 2, 1));
        assert_eq!(btc.pnl.get(), "6.05".parse::<Decimal>().expect("dec"));
        assert_eq!(btc.fees.get(), Decimal::ONE);
        assert!((btc.win_rate_pct - 50.0).abs() < 1e-12);
        assert!(
            (btc.best_return_pct - 2.0).abs() < 1e-12 && (btc.worst_return_pct + 1.0).abs() < 1e-12
        );
        let keys: Vec<&str> = r.by_exit_reason.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(keys, ["signal", "stop_loss", "unknown"]);
        assert_eq!(r.by_exit_reason[0].trades, 2);
        assert_eq!(
            r.by_exit_reason[0].pnl.get(),
            "13.10".parse::<Decimal>().expect("dec")
        );
        // The losing trade was a short (see `trade`).
        let dirs: Vec<(&str, u64)> = r
            .by_direction
            .iter()
            .map(|g| (g.key.as_str(), g.trades))
            .collect();
        assert_eq!(dirs, [("long", 3), ("short", 1)]);
        assert_eq!(
            r.by_direction[1].pnl.get(),
            "-4.05".parse::<Decimal>().expect("dec")
        );
        assert!(r.monthly.is_empty() && r.daily.is_empty());
    }

    #[test]
    fn period_returns_chain_each_periods_last_equity() {
        let day = 86_400_000;
        // 2024-01-30, 2024-01-31 (two steps), 2024-02-01.
        let t0 = 1_706_572_800_000;
        let times = [
            Timestamp(t0),
            Timestamp(t0 + day),
            Timestamp(t0 + day + 60_000),
            Timestamp(t0 + 2 * day),
        ];
        let equity = [100.0, 110.0, 121.0, 108.9];
        let r = report(&[], &times, &equity);
        let m: Vec<(&str, f64)> = r
            .monthly
            .iter()
            .map(|p| (p.period.as_str(), p.return_pct))
            .collect();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].0, "2024-01");
        assert!((m[0].1 - 21.0).abs() < 1e-9, "{m:?}");
        assert_eq!(m[1].0, "2024-02");
        assert!((m[1].1 + 10.0).abs() < 1e-9, "{m:?}");
        let d: Vec<&str> = r.daily.iter().map(|p| p.period.as_str()).collect();
        assert_eq!(d, ["2024-01-30", "2024-01-31", "2024-02-01"]);
        assert!((r.daily[0].return_pct).abs() < 1e-9);
        assert!((r.daily[1].return_pct - 21.0).abs() < 1e-9);
    }
}
