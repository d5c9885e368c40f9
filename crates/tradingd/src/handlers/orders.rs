//! `orders.*`, `positions.*` and `trades.*` handlers: the order path.

use crate::store::trading as db;
use tradedesk_core::api::orders::{
    Bracket, BracketRequest, CancelAll, Cancelled, OcoRequest, OrderFilter, OrderPage, OrderPair,
    OrderRef, OrdersCancel, OrdersCancelAll, OrdersGet, OrdersList, OrdersPlace,
    OrdersPlaceBracket, OrdersPlaceOco,
};
use tradedesk_core::api::positions::{
    CloseParams, PositionList, PositionParam, PositionView, PositionsClose, PositionsGet,
    PositionsList, StatsParams, TradeFilter, TradePage, TradeStats, TradesList, TradesStats,
};
use tradedesk_core::api::{ApiError, Caller, Empty, ErrorCode, Handle, paging};
use tradedesk_core::money::{Qty, Ratio};
use tradedesk_core::order::{
    OrderError, OrderRecord, OrderRequest, OrderStatus, OrderType, Side, TimeInForce, ValidOrder,
};

use crate::context::Ctx;
use crate::services::exchange::store_err;
use crate::services::exchange::{State, market_order};

fn order_error(e: &OrderError) -> ApiError {
    let field = e.field();
    ApiError::invalid_params(format!("invalid params: {e}"))
        .with_data(serde_json::json!({ "field": field }))
}

/// Where an order came from, for the risk violation log.
fn source(caller: &Caller) -> &'static str {
    match caller.transport {
        tradedesk_core::api::Transport::Unix => "socket",
        tradedesk_core::api::Transport::Http => "http",
        tradedesk_core::api::Transport::Internal => "internal",
    }
}

fn validate(state: &State, req: &OrderRequest) -> Result<ValidOrder, ApiError> {
    let idx = state.symbol_index(&req.symbol)?;
    req.validate(state.venue.instruments()[idx])
        .map_err(|e| order_error(&e))
}

impl Handle<OrdersPlace> for Ctx {
    async fn handle(&self, caller: &Caller, req: OrderRequest) -> Result<OrderRecord, ApiError> {
        self.blocking(|ctx| {
            let mut state = ctx.exchange.lock();
            let account = state.account(req.account.as_deref())?;
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
            let account = state.account(p.account.as_deref())?;
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
            let account = state.account(p.account.as_deref())?;
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

/// Finds an order by exactly one of its ids.
fn find(ctx: &Ctx, r: &OrderRef) -> Result<OrderRecord, ApiError> {
    let store = ctx.store();
    let found = match (r.id, r.client_order_id.as_deref()) {
        (Some(id), None) => db::order_by_id(store.conn(), id)
            .map_err(|e| store_err(&e))?
            .ok_or_else(|| ApiError::not_found("order", id)),
        (None, Some(cid)) => db::order_by_client_id(store.conn(), cid)
            .map_err(|e| store_err(&e))?
            .ok_or_else(|| ApiError::not_found("order with client_order_id", cid)),
        _ => Err(ApiError::invalid_params(
            "invalid params: give exactly one of `id` and `client_order_id`",
        )),
    }?;
    Ok(found)
}

impl Handle<OrdersCancel> for Ctx {
    async fn handle(&self, _: &Caller, r: OrderRef) -> Result<OrderRecord, ApiError> {
        self.blocking(|ctx| {
            let mut state = ctx.exchange.lock();
            let order = find(ctx, &r)?;
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
    async fn handle(&self, _: &Caller, p: CancelAll) -> Result<Cancelled, ApiError> {
        self.blocking(|ctx| {
            let mut state = ctx.exchange.lock();
            if let Some(s) = &p.symbol {
                state.symbol_index(s)?;
            }
            let ids: Vec<u64> = state
                .open
                .values()
                .filter(|o| p.symbol.as_ref().is_none_or(|s| &o.symbol == s))
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
    async fn handle(&self, _: &Caller, r: OrderRef) -> Result<OrderRecord, ApiError> {
        self.blocking(|ctx| find(ctx, &r))
    }
}

impl Handle<OrdersList> for Ctx {
    async fn handle(&self, _: &Caller, f: OrderFilter) -> Result<OrderPage, ApiError> {
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
                    before,
                    limit,
                )
            })
            .map_err(|e| store_err(&e))?
        };
        let next_cursor = paging::next_cursor(&orders, limit, |o: &OrderRecord| o.id);
        Ok(OrderPage {
            orders,
            next_cursor,
        })
    }
}

impl Handle<PositionsList> for Ctx {
    async fn handle(&self, _: &Caller, _: Empty) -> Result<PositionList, ApiError> {
        let state = self.exchange.lock();
        let mut positions = Vec::new();
        for (i, acc) in state.accounts.iter().enumerate() {
            for symbol in acc.books.symbols() {
                if !acc.books.position(&symbol).qty.is_zero() {
                    positions.push(state.position_view(i, &symbol));
                }
            }
        }
        Ok(PositionList { positions })
    }
}

impl Handle<PositionsGet> for Ctx {
    async fn handle(&self, _: &Caller, p: PositionParam) -> Result<PositionView, ApiError> {
        let state = self.exchange.lock();
        let acc = state.account(p.account.as_deref())?;
        state.symbol_index(&p.symbol)?;
        Ok(state.position_view(acc, &p.symbol))
    }
}

impl Handle<PositionsClose> for Ctx {
    async fn handle(&self, caller: &Caller, p: CloseParams) -> Result<OrderRecord, ApiError> {
        self.blocking(|ctx| {
            let mut state = ctx.exchange.lock();
            let account = state.account(p.account.as_deref())?;
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

impl Handle<TradesList> for Ctx {
    async fn handle(&self, _: &Caller, f: TradeFilter) -> Result<TradePage, ApiError> {
        let limit = paging::limit(f.limit)?;
        let before = paging::cursor(f.cursor.as_deref())?;
        let trades = self
            .blocking(|ctx| {
                db::list_fills(
                    ctx.store().conn(),
                    f.symbol.as_ref(),
                    f.bot_id,
                    f.start,
                    f.end,
                    before,
                    limit,
                )
            })
            .map_err(|e| store_err(&e))?;
        let next_cursor = paging::next_cursor(&trades, limit, |t| t.trade_id);
        Ok(TradePage {
            trades,
            next_cursor,
        })
    }
}

impl Handle<TradesStats> for Ctx {
    async fn handle(&self, _: &Caller, p: StatsParams) -> Result<TradeStats, ApiError> {
        self.blocking(|ctx| {
            let t = db::fill_totals(
                ctx.store().conn(),
                p.symbol.as_ref(),
                p.bot_id,
                p.start,
                p.end,
            )
            .map_err(|e| store_err(&e))?;
            // Trips may have opened before the range: read from the start.
            let trips = ctx.trips(p.symbol.as_ref(), p.bot_id, p.end)?;
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
    /// The closed round trips of the fills of a symbol and/or bot before
    /// `end` (see `analytics::round_trips`).
    pub(crate) fn trips(
        &self,
        symbol: Option<&tradedesk_core::instrument::Symbol>,
        bot: Option<u64>,
        end: Option<tradedesk_core::time::Timestamp>,
    ) -> Result<Vec<tradedesk_core::analytics::Trip>, ApiError> {
        let fills = db::list_fills(self.store().conn(), symbol, bot, None, end, None, u32::MAX)
            .map_err(|e| store_err(&e))?;
        Ok(tradedesk_core::analytics::round_trips(&fills))
    }
}
