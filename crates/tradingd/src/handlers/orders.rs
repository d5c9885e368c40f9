//! `orders.*`, `positions.*` and `trades.*` handlers: the order path.

use crate::store::trading as db;
use tradedesk_core::api::orders::{
    Bracket, BracketRequest, CancelAll, Cancelled, OcoRequest, OrderFilter, OrderPage, OrderPair,
    OrderRef, OrdersCancel, OrdersCancelAll, OrdersGet, OrdersList, OrdersPlace,
    OrdersPlaceBracket, OrdersPlaceOco,
};
use tradedesk_core::api::{ApiError, Caller, ErrorCode, Handle, paging};
use tradedesk_core::order::{
    OrderError, OrderRecord, OrderRequest, OrderStatus, OrderType, Side, TimeInForce, ValidOrder,
};

use crate::context::Ctx;
use crate::services::exchange::State;
use crate::services::exchange::store_err;

fn order_error(e: &OrderError) -> ApiError {
    let field = e.field();
    ApiError::invalid_params(format!("invalid params: {e}"))
        .with_data(serde_json::json!({ "field": field }))
}

/// Where an order came from, for the risk violation log.
pub(super) fn source(caller: &Caller) -> &'static str {
    match caller.transport {
        tradedesk_core::api::Transport::Unix => "socket",
        tradedesk_core::api::Transport::Http => "http",
        tradedesk_core::api::Transport::Internal => "internal",
    }
}

pub(super) fn validate(state: &State, req: &OrderRequest) -> Result<ValidOrder, ApiError> {
    let idx = state.symbol_index(&req.symbol)?;
    req.validate(state.venue.instruments()[idx])
        .map_err(|e| order_error(&e))
}

impl Handle<OrdersPlace> for Ctx {
    async fn handle(&self, caller: &Caller, req: OrderRequest) -> Result<OrderRecord, ApiError> {
        self.blocking(|ctx| {
            let mut state = ctx.exchange.lock();
            let account = state.account_for(caller, req.account.as_deref())?;
            let valid = validate(&state, &req)?;
            let mut store = ctx.store();
            if let Some(cid) = valid.client_order_id.clone()
                && let Some(mut again) = state.replay(&store, account, None, &[(cid, &valid)])?
            {
                return Ok(again.remove(0));
            }
            let now = ctx.now();
            let approved = state.approve(&mut store, account, None, valid, source(caller), now)?;
            let (order, changes) =
                state.place(&mut store, account, &approved, &caller.user, now)?;
            drop(store);
            ctx.publish(&state, &changes);
            Ok(order)
        })
    }
}

impl Handle<OrdersPlaceOco> for Ctx {
    async fn handle(&self, caller: &Caller, p: OcoRequest) -> Result<OrderPair, ApiError> {
        let limit = OrderRequest {
            symbol: p.symbol.clone(),
            side: p.side,
            order_type: OrderType::Limit,
            qty: p.qty,
            price: Some(p.price),
            stop_price: None,
            trail: None,
            time_in_force: Some(TimeInForce::Gtc),
            client_order_id: p.client_order_id.clone(),
            account: p.account.clone(),
        };
        let stop = OrderRequest {
            order_type: if p.stop_limit_price.is_some() {
                OrderType::StopLimit
            } else {
                OrderType::StopMarket
            },
            price: p.stop_limit_price,
            stop_price: Some(p.stop_price),
            ..limit.clone()
        };
        // A limit and a stop on the same side must sit on either side of the
        // market, as the exit of a position would: checked by the engine
        // (a stop that would trigger at once is rejected).
        self.blocking(|ctx| {
            let mut state = ctx.exchange.lock();
            let account = state.account_for(caller, p.account.as_deref())?;
            let (l, s) = (validate(&state, &limit)?, validate(&state, &stop)?);
            let mut store = ctx.store();
            if let Some(base) = &p.client_order_id {
                let legs = [(format!("{base}-limit"), &l), (format!("{base}-stop"), &s)];
                if let Some(again) = state.replay(&store, account, None, &legs)? {
                    let [limit, stop]: [OrderRecord; 2] = again
                        .try_into()
                        .map_err(|_| ApiError::internal("a pair has two legs"))?;
                    return Ok(OrderPair { limit, stop });
                }
            }
            let now = ctx.now();
            let l = state.approve(&mut store, account, None, l, source(caller), now)?;
            let s = state.approve(&mut store, account, None, s, source(caller), now)?;
            let ([limit, stop], changes) =
                state.place_oco(&mut store, account, &l, &s, &caller.user, now)?;
            drop(store);
            ctx.publish(&state, &changes);
            Ok(OrderPair { limit, stop })
        })
    }
}

impl Handle<OrdersPlaceBracket> for Ctx {
    async fn handle(&self, caller: &Caller, p: BracketRequest) -> Result<Bracket, ApiError> {
        if !matches!(p.order_type, OrderType::Market | OrderType::Limit) {
            return Err(ApiError::invalid_params(
                "invalid params: field `type`: a bracket entry is `market` or `limit`",
            )
            .with_data(serde_json::json!({ "field": "type" })));
        }
        let (tp_ok, sl_ok) = match (p.side, p.price) {
            (Side::Buy, Some(px)) => (p.take_profit > px, p.stop_loss < px),
            (Side::Sell, Some(px)) => (p.take_profit < px, p.stop_loss > px),
            (_, None) => (true, true),
        };
        if !tp_ok || !sl_ok {
            let field = if tp_ok { "stop_loss" } else { "take_profit" };
            return Err(ApiError::invalid_params(format!(
                "invalid params: field `{field}`: must be on the {} side of the entry price",
                if tp_ok == (p.side == Side::Buy) {
                    "lower"
                } else {
                    "higher"
                }
            ))
            .with_data(serde_json::json!({ "field": field })));
        }
        let entry = OrderRequest {
            symbol: p.symbol.clone(),
            side: p.side,
            order_type: p.order_type,
            qty: p.qty,
            price: p.price,
            stop_price: None,
            trail: None,
            time_in_force: Some(TimeInForce::Gtc),
            client_order_id: p.client_order_id.clone(),
            account: p.account.clone(),
        };
        let exit_side = p.side.opposite();
        let tp = OrderRequest {
            side: exit_side,
            order_type: OrderType::Limit,
            price: Some(p.take_profit),
            ..entry.clone()
        };
        let sl = OrderRequest {
            side: exit_side,
            order_type: OrderType::StopMarket,
            price: None,
            stop_price: Some(p.stop_loss),
            ..entry.clone()
        };
        self.blocking(|ctx| {
            let mut state = ctx.exchange.lock();
            let account = state.account_for(caller, p.account.as_deref())?;
            let (e, t, s) = (
                validate(&state, &entry)?,
                validate(&state, &tp)?,
                validate(&state, &sl)?,
            );
            let mut store = ctx.store();
            if let Some(base) = &p.client_order_id {
                let legs = [
                    (format!("{base}-entry"), &e),
                    (format!("{base}-tp"), &t),
                    (format!("{base}-sl"), &s),
                ];
                if let Some(again) = state.replay(&store, account, None, &legs)? {
                    let [entry, take_profit, stop_loss]: [OrderRecord; 3] = again
                        .try_into()
                        .map_err(|_| ApiError::internal("a bracket has three orders"))?;
                    return Ok(Bracket {
                        entry,
                        take_profit,
                        stop_loss,
                    });
                }
            }
            let now = ctx.now();
            let [e, t, s] =
                state.approve_bracket(&mut store, account, None, e, [t, s], source(caller), now)?;
            let ([entry, take_profit, stop_loss], changes) =
                state.place_bracket(&mut store, account, [&e, &t, &s], &caller.user, now)?;
            drop(store);
            ctx.publish(&state, &changes);
            Ok(Bracket {
                entry,
                take_profit,
                stop_loss,
            })
        })
    }
}

/// Finds an order by exactly one of its ids, if it is on an account the
/// caller may see (another user's order is not found, as if it did not
/// exist).
fn find(ctx: &Ctx, caller: &Caller, r: &OrderRef) -> Result<OrderRecord, ApiError> {
    let store = ctx.store();
    let owner = caller.owner_filter();
    match (r.id, r.client_order_id.as_deref()) {
        (Some(id), None) => db::owned_order_by_id(store.conn(), id, owner)
            .map_err(|e| store_err(&e))?
            .ok_or_else(|| ApiError::not_found("order", id)),
        (None, Some(cid)) => db::owned_order_by_client_id(store.conn(), cid, owner)
            .map_err(|e| store_err(&e))?
            .ok_or_else(|| ApiError::not_found("order with client_order_id", cid)),
        _ => Err(ApiError::invalid_params(
            "invalid params: give exactly one of `id` and `client_order_id`",
        )),
    }
}

impl Handle<OrdersCancel> for Ctx {
    async fn handle(&self, caller: &Caller, r: OrderRef) -> Result<OrderRecord, ApiError> {
        self.blocking(|ctx| {
            let mut state = ctx.exchange.lock();
            let order = find(ctx, caller, &r)?;
            if !state.open.contains_key(&order.id) {
                return Err(ApiError::new(
                    ErrorCode::IllegalTransition,
                    format!(
                        "order {} is {} and cannot be cancelled",
                        order.id, order.status
                    ),
                )
                .with_data(serde_json::json!({ "status": order.status })));
            }
            let changes = state.cancel(
                &mut ctx.store(),
                order.id,
                "cancelled by the user",
                ctx.now(),
            )?;
            ctx.publish(&state, &changes);
            Ok(changes.orders.get(&order.id).cloned().unwrap_or(order))
        })
    }
}

impl Handle<OrdersCancelAll> for Ctx {
    async fn handle(&self, caller: &Caller, p: CancelAll) -> Result<Cancelled, ApiError> {
        self.blocking(|ctx| {
            let mut state = ctx.exchange.lock();
            if let Some(s) = &p.symbol {
                state.symbol_index(s)?;
            }
            let ids: Vec<u64> = state
                .open
                .values()
                .filter(|o| p.symbol.as_ref().is_none_or(|s| &o.symbol == s))
                .filter(|o| state.sees_account(caller, &o.account))
                .map(|o| o.id)
                .collect();
            let mut cancelled = Vec::new();
            for id in ids {
                // Cancelling an entry or an OCO leg may already have closed this one.
                if !state.open.contains_key(&id) {
                    continue;
                }
                let changes =
                    state.cancel(&mut ctx.store(), id, "cancelled by cancel_all", ctx.now())?;
                ctx.publish(&state, &changes);
                cancelled.extend(
                    changes
                        .orders
                        .values()
                        .filter(|o| o.status == OrderStatus::Cancelled)
                        .map(|o| o.id),
                );
            }
            cancelled.sort_unstable();
            cancelled.dedup();
            Ok(Cancelled { cancelled })
        })
    }
}

impl Handle<OrdersGet> for Ctx {
    async fn handle(&self, caller: &Caller, r: OrderRef) -> Result<OrderRecord, ApiError> {
        self.blocking(|ctx| find(ctx, caller, &r))
    }
}

impl Handle<OrdersList> for Ctx {
    async fn handle(&self, caller: &Caller, f: OrderFilter) -> Result<OrderPage, ApiError> {
        let limit = paging::limit(f.limit)?;
        let before = paging::cursor(f.cursor.as_deref())?;
        let orders = if f.open == Some(true) {
            if f.status
                .is_some_and(tradedesk_core::order::OrderStatus::is_terminal)
            {
                return Err(ApiError::invalid_params(
                    "invalid params: field `status`: a terminal status contradicts `open: true`",
                ));
            }
            let state = self.exchange.lock();
            state
                .open
                .values()
                .rev()
                .filter(|o| f.symbol.as_ref().is_none_or(|s| &o.symbol == s))
                .filter(|o| f.status.is_none_or(|s| o.status == s))
                .filter(|o| f.bot_id.is_none_or(|b| o.bot_id == Some(b)))
                .filter(|o| before.is_none_or(|b| o.id < b))
                .filter(|o| state.sees_account(caller, &o.account))
                .take(limit as usize)
                .cloned()
                .collect()
        } else {
            self.blocking(|ctx| {
                db::list_orders(
                    ctx.store().conn(),
                    f.status,
                    f.symbol.as_ref(),
                    f.bot_id,
                    caller.owner_filter(),
                    before,
                    limit,
                )
            })
            .map_err(|e| store_err(&e))?
        };
        let next_cursor = paging::next_cursor(&orders, limit, |o: &OrderRecord| o.id);
        Ok(OrderPage {
            items: orders,
            next_cursor,
        })
    }
}
