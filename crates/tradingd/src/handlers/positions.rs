//! `positions.*`: what is held, at its mark, and closing it.

use super::orders::{source, validate};
use tradedesk_core::api::paging::{self, PageParams};
use tradedesk_core::api::positions::{
    CloseParams, PositionList, PositionParam, PositionView, PositionsClose, PositionsGet,
    PositionsList,
};
use tradedesk_core::api::{ApiError, Caller, ErrorCode, Handle};
use tradedesk_core::money::Qty;
use tradedesk_core::order::{OrderRecord, OrderRequest, Side};

use crate::context::Ctx;
use crate::services::exchange::market_order;

impl Handle<PositionsList> for Ctx {
    async fn handle(&self, caller: &Caller, p: PageParams) -> Result<PositionList, ApiError> {
        let state = self.exchange.lock();
        let mut positions = Vec::new();
        for (i, acc) in state.accounts.iter().enumerate() {
            if !caller.sees(&acc.row.owner) {
                continue;
            }
            for symbol in acc.books.symbols() {
                if !acc.books.position(&symbol).qty.is_zero() {
                    positions.push(state.position_view(i, &symbol));
                }
            }
        }
        drop(state);
        paging::in_memory(positions, p.limit, p.cursor.as_deref())
    }
}

impl Handle<PositionsGet> for Ctx {
    async fn handle(&self, caller: &Caller, p: PositionParam) -> Result<PositionView, ApiError> {
        let state = self.exchange.lock();
        let acc = state.account_for(caller, p.account.as_deref())?;
        state.symbol_index(&p.symbol)?;
        Ok(state.position_view(acc, &p.symbol))
    }
}

impl Handle<PositionsClose> for Ctx {
    async fn handle(&self, caller: &Caller, p: CloseParams) -> Result<OrderRecord, ApiError> {
        self.blocking(|ctx| {
            let mut state = ctx.exchange.lock();
            let account = state.account_for(caller, p.account.as_deref())?;
            state.symbol_index(&p.symbol)?;
            // Only the manual book: a bot's position is the bot's to close
            // (`bots.stop --flatten`).
            let held = state.accounts[account]
                .books
                .manual
                .get(&p.symbol)
                .map_or(Qty::ZERO, |x| x.qty);
            if held.is_zero() {
                let in_bots = state.accounts[account].books.position(&p.symbol).qty;
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    if in_bots.is_zero() {
                        format!("no open position in {}", p.symbol)
                    } else {
                        format!(
                            "no manual position in {}: the {in_bots} held belongs to bots (stop them with flatten)",
                            p.symbol
                        )
                    },
                ));
            }
            let qty = match p.qty {
                None => held.abs(),
                Some(q) if q > held.abs() => {
                    return Err(ApiError::invalid_params(format!(
                        "invalid params: field `qty`: {q} exceeds the position of {}",
                        held.abs()
                    ))
                    .with_data(serde_json::json!({ "field": "qty" })));
                }
                Some(q) => q,
            };
            let side = if held.is_positive() {
                Side::Sell
            } else {
                Side::Buy
            };
            let req = OrderRequest {
                account: p.account.clone(),
                ..market_order(p.symbol.clone(), side, qty)
            };
            let valid = validate(&state, &req)?;
            let mut store = ctx.store();
            let now = ctx.now();
            let approved = state.approve(&mut store, account, None, valid, source(caller), now)?;
            let (order, changes) = state.place(&mut store, account, &approved, &caller.user, now)?;
            drop(store);
            ctx.publish(&state, &changes);
            Ok(order)
        })
    }
}
