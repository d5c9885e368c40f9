//! `data.download`: Binance's klines into a dataset, through the import
//! pipeline (`import.rs`: chunks in short transactions, all or nothing).
//!
//! Pages of 1,000 bars from `start`, each a public `GET /api/v3/klines`
//! (weight 2) through the daemon's Binance client when Binance is its
//! market (one weight budget for both), else a client of its own on
//! `binance.rest_url`. Past 90 % of the minute's weight the job waits for
//! the next minute; after a 429 for its `Retry-After`; a ban (418) fails
//! it. Only closed bars are taken; progress is the share of the range read.

use std::sync::Arc;
use std::time::Duration;

use tradedesk_core::dataset::ImportParams;
use tradedesk_core::market::Interval;
use tradedesk_core::strategy::Candle;

use super::import::Importer;
use crate::services::jobs::JobError;
use crate::venues::binance::{BinanceError, Rest};

/// Most waits in a row for the weight budget before the job gives up.
const MAX_WAITS: u32 = 600;

pub(super) fn download(imp: &mut Importer<'_, '_>, p: &ImportParams) -> Result<(), JobError> {
    let run = imp.run;
    let ctx = run.ctx;
    let interval: Interval = p
        .interval
        .as_ref()
        .and_then(|i| serde_json::from_value(serde_json::Value::String(i.clone())).ok())
        .ok_or_else(|| JobError::Permanent("field `interval`: a download needs one".into()))?;
    let step = interval.millis();
    let start = p
        .start
        .ok_or_else(|| JobError::Permanent("field `start`: a download needs one".into()))?;
    let now = ctx.now().millis();
    let end = p.end.map_or(now, |e| e.millis().min(now));
    let rest = match ctx.exchange.binance_rest() {
        Some(r) => r,
        None => Arc::new(
            Rest::new(
                &ctx.config.data.download_url,
                None,
                5_000,
                Duration::from_secs(30),
            )
            .map_err(|e| JobError::Failed(e.to_string()))?,
        ),
    };
    let handle = tokio::runtime::Handle::current();
    let mut cursor = start.millis();
    let mut waits = 0u32;
    while cursor < end {
        let page = handle.block_on(rest.klines(&p.symbol, interval.as_str(), Some(cursor), 1000));
        let bars = match page {
            Ok(b) => b,
            Err(BinanceError::Budget { .. } | BinanceError::Throttled { .. })
                if waits < MAX_WAITS =>
            {
                let wait = match page_err_retry(&page) {
                    Some(s) => Duration::from_secs(s.max(1)),
                    None => Duration::from_secs(1),
                };
                waits = waits.saturating_add(1);
                run.progress(
                    progress(start.millis(), cursor, end),
                    "waiting for the request-weight budget",
                )?;
                std::thread::sleep(wait.min(Duration::from_secs(5)));
                continue;
            }
            Err(BinanceError::Api { code: -1121, .. }) => {
                return Err(JobError::Permanent(format!(
                    "field `symbol`: binance does not list `{}`",
                    p.symbol
                )));
            }
            Err(e) => return Err(JobError::Failed(e.to_string())),
        };
        waits = 0;
        let Some(last) = bars.last().map(|b| b.open_time.millis()) else {
            break;
        };
        for b in &bars {
            let t = b.open_time.millis();
            // Closed bars of the range only.
            if t >= cursor && t < end && t.saturating_add(step) <= now {
                imp.push(Candle::from_bar(b))?;
            }
        }
        let next = last.saturating_add(step);
        if next <= cursor || bars.len() < 1000 {
            break;
        }
        cursor = next;
        run.progress(progress(start.millis(), cursor, end), "downloading")?;
    }
    Ok(())
}

fn page_err_retry(page: &Result<Vec<tradedesk_core::market::Bar>, BinanceError>) -> Option<u64> {
    match page {
        Err(BinanceError::Throttled { retry_after_s }) => Some(*retry_after_s),
        _ => None,
    }
}

/// The share of the range read, as the import's 1–79 %.
fn progress(start: i64, at: i64, end: i64) -> u8 {
    let span = end.saturating_sub(start).max(1);
    let done = at.saturating_sub(start).clamp(0, span);
    let pct = i128::from(done)
        .saturating_mul(78)
        .checked_div(i128::from(span))
        .unwrap_or(0);
    u8::try_from(pct.saturating_add(1)).unwrap_or(79)
}
