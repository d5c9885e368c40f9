//! `trades.*`: fills, round trips and their statistics.

use crate::store::trading as db;
use tradedesk_core::api::trades::{
    StatsParams, TradeFilter, TradePage, TradeStats, TradesList, TradesStats,
};
use tradedesk_core::api::{ApiError, Caller, Handle, paging};
use tradedesk_core::money::Ratio;

use crate::context::Ctx;
use crate::services::exchange::store_err;

impl Handle<TradesList> for Ctx {
    async fn handle(&self, caller: &Caller, f: TradeFilter) -> Result<TradePage, ApiError> {
        let limit = paging::limit(f.limit)?;
        let before = paging::cursor(f.cursor.as_deref())?;
        let trades = self
            .blocking(|ctx| {
                db::list_fills(
                    ctx.store().conn(),
                    f.symbol.as_ref(),
                    f.bot_id,
                    caller.owner_filter(),
                    f.start,
                    f.end,
                    before,
                    limit,
                )
            })
            .map_err(|e| store_err(&e))?;
        let next_cursor = paging::next_cursor(&trades, limit, |t| t.trade_id);
        Ok(TradePage {
            items: trades,
            next_cursor,
        })
    }
}

impl Handle<TradesStats> for Ctx {
    async fn handle(&self, caller: &Caller, p: StatsParams) -> Result<TradeStats, ApiError> {
        self.blocking(|ctx| {
            let t = db::fill_totals(
                ctx.store().conn(),
                p.symbol.as_ref(),
                p.bot_id,
                caller.owner_filter(),
                p.start,
                p.end,
            )
            .map_err(|e| store_err(&e))?;
            // Trips may have opened before the range: read from the start.
            let trips = ctx.trips(p.symbol.as_ref(), p.bot_id, caller.owner_filter(), p.end)?;
            let closed: Vec<&tradedesk_core::analytics::Trip> = trips
                .iter()
                .filter(|t| p.start.is_none_or(|s| t.exit_time >= s))
                .collect();
            let (wins, losses) = tradedesk_core::analytics::wins_and_losses(closed.iter().copied());
            Ok(TradeStats {
                count: t.count,
                volume: t.volume,
                fees: t.fees,
                realized_pnl: t.realized,
                trades: closed.len() as u64,
                wins,
                losses,
                win_rate: win_rate(wins, losses),
            })
        })
    }
}

/// wins / (wins + losses), to six places; none without a decided trip.
pub(crate) fn win_rate(wins: u64, losses: u64) -> Option<Ratio> {
    rust_decimal::Decimal::from(wins)
        .checked_div(rust_decimal::Decimal::from(wins.saturating_add(losses)))
        .map(|r| Ratio::new(r.round_dp(6).normalize()))
}

impl Ctx {
    /// The closed round trips of the fills of a symbol and/or bot (of the
    /// accounts of `owner`, if given) before `end` (see
    /// `analytics::round_trips`).
    pub(crate) fn trips(
        &self,
        symbol: Option<&tradedesk_core::instrument::Symbol>,
        bot: Option<u64>,
        owner: Option<&str>,
        end: Option<tradedesk_core::time::Timestamp>,
    ) -> Result<Vec<tradedesk_core::analytics::Trip>, ApiError> {
        let fills = db::list_fills(
            self.store().conn(),
            symbol,
            bot,
            owner,
            None,
            end,
            None,
            u32::MAX,
        )
        .map_err(|e| store_err(&e))?;
        Ok(tradedesk_core::analytics::round_trips(&fills))
    }
}
