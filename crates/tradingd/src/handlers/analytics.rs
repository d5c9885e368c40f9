//! `analytics.*`: the metrics of paper and live bots from their ledgers.

use super::bots::bot_equity;
use crate::services::jobs::backtest::metrics_bytes;

use rust_decimal::Decimal;
use tradedesk_core::analytics::{self, Metrics, TradeFigures};
use tradedesk_core::api::analytics::{AnalyticsPerformance, PerformanceParams};
use tradedesk_core::api::cache::Namespace;
use tradedesk_core::api::{ApiError, Caller, ErrorCode, Handle};
use tradedesk_core::time::Timestamp;

use crate::context::Ctx;
use crate::services::exchange::store_err;

impl Handle<AnalyticsPerformance> for Ctx {
    async fn handle(&self, caller: &Caller, p: PerformanceParams) -> Result<Metrics, ApiError> {
        self.bot(caller, p.bot)?;
        // Cached until the bot's next fill or equity sample (they delete
        // `bot:ID:*`); the epoch refuses a result read before one.
        let key = format!(
            "bot:{}:{}:{}",
            p.bot,
            p.start.map_or(i64::MIN, Timestamp::millis),
            p.end.map_or(i64::MAX, Timestamp::millis)
        );
        let now = self.now().millis();
        if let Some(m) = self.cache.get::<Metrics>(Namespace::Analytics, &key, now) {
            return Ok((*m).clone());
        }
        let epoch = self.cache.epoch(Namespace::Analytics);
        let m = self.performance(&p)?;
        let bytes = metrics_bytes(&m);
        self.cache.put_unless_changed(
            Namespace::Analytics,
            &key,
            m.clone(),
            bytes,
            None,
            now,
            epoch,
        );
        Ok(m)
    }
}

impl Ctx {
    fn performance(&self, p: &PerformanceParams) -> Result<Metrics, ApiError> {
        let conn_store = self.store();
        let conn = conn_store.conn();
        let series = bot_equity(conn, p.bot, p.start, p.end)?;
        if series.len() < 2 {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "bot {} has {} equity samples in the range; metrics need at least 2",
                    p.bot,
                    series.len()
                ),
            ));
        }
        let fees =
            crate::store::trading::fill_totals(conn, None, Some(p.bot), None, p.start, p.end)
                .map_err(|e| store_err(&e))?
                .fees
                .get();
        drop(conn_store);
        let times: Vec<Timestamp> = series.iter().map(|s| s.0).collect();
        let equity: Vec<f64> = series.iter().map(|s| s.1).collect();
        // Trips that opened before the range still count when they close in it.
        let trips = self.trips(None, Some(p.bot), None, p.end)?;
        let trades = trade_figures(&trips, &times, p.start);
        Ok(analytics::compute(&analytics::Input {
            times: &times,
            equity: &equity,
            benchmark: None,
            first_tradable: 0,
            trades: &trades,
            total_fees: fees,
        }))
    }
}

/// The trips that closed in `[start, end)` as the metrics take them, their
/// steps placed on the equity samples' times.
fn trade_figures(
    trips: &[analytics::Trip],
    times: &[Timestamp],
    start: Option<Timestamp>,
) -> Vec<TradeFigures> {
    let f = |d: Decimal| rust_decimal::prelude::ToPrimitive::to_f64(&d).unwrap_or(0.0);
    let step = |t: Timestamp| {
        times
            .partition_point(|x| *x < t)
            .min(times.len().saturating_sub(1))
    };
    trips
        .iter()
        .filter(|t| start.is_none_or(|s| t.exit_time >= s))
        .map(|t| TradeFigures {
            symbol: t.symbol.clone(),
            entry_step: step(t.trip.entry_time),
            exit_step: step(t.exit_time),
            entry_time: t.trip.entry_time,
            exit_time: t.exit_time,
            pnl: f(t.trip.pnl),
            return_frac: t.trip.return_frac,
            fees: f(t.trip.fees),
        })
        .collect()
}
