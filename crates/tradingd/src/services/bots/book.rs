//! A bot's book as the engine and clients see it: holdings, open orders,
//! equity, PnL and warnings.

use crate::services::exchange::State;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use tradedesk_core::api::bots::{BotFigures, BotRecord, BotView, ExitLevel, OpenTrade};
use tradedesk_core::instrument::Symbol;
use tradedesk_core::ledger::Position;
use tradedesk_core::money::Price;
use tradedesk_core::money::{Notional, Qty};
use tradedesk_core::order::OrderType;
use tradedesk_core::portfolio::{OpenOrder, Portfolio};
use tradedesk_core::portfolio::{Role, parse_tag};
use tradedesk_core::strategy::Registry;

/// The engine's view of a bot's book.
pub(super) struct BookView<'a> {
    pub(super) state: &'a State,
    pub(super) account: usize,
    pub(super) bot: u64,
}

impl Portfolio for BookView<'_> {
    fn position(&self, symbol: &Symbol) -> Position {
        self.state.accounts[self.account]
            .books
            .bots
            .get(&self.bot)
            .and_then(|b| b.positions.get(symbol).copied())
            .unwrap_or_default()
    }

    fn free(&self, asset: &str) -> Qty {
        self.state.accounts[self.account]
            .books
            .balance(Some(self.bot), asset)
            .free
    }

    fn equity(&self) -> Decimal {
        book_equity(self.state, self.account, self.bot).map_or(Decimal::ZERO, Notional::get)
    }

    fn margin_room(&self) -> Option<Decimal> {
        let leverage = self.state.margin_of(self.account)?.leverage.get();
        let s = self.state.book_standing(self.account, Some(self.bot));
        Some(s.equity.saturating_mul(leverage).saturating_sub(s.gross))
    }

    fn open_orders(&self, symbol: &Symbol) -> Vec<OpenOrder> {
        self.state
            .open
            .values()
            .filter(|o| o.bot_id == Some(self.bot) && &o.symbol == symbol)
            .map(|o| OpenOrder {
                tag: o.client_order_id.clone(),
                side: o.side,
                order_type: o.order_type,
                price: o.price,
                open_qty: o.open_qty(),
            })
            .collect()
    }
}

/// A book's balances valued in the quote asset at the last prices: quote
/// assets at face value, base assets at their symbol's last trade.
pub fn book_equity(state: &State, account: usize, bot: u64) -> Option<Notional> {
    let sub = state.accounts[account].books.bots.get(&bot)?;
    Some(Notional::new(state.ledger_value(&sub.ledger)))
}

/// A bot's book and what it is worth now (`account`: its account's index).
pub fn figures(state: &State, account: usize, bot: u64) -> BotFigures {
    let acc = &state.accounts[account];
    let sub = acc.books.bots.get(&bot);
    BotFigures {
        id: bot,
        balances: sub.map(|s| s.ledger.balances().clone()).unwrap_or_default(),
        positions: sub
            .map(|s| {
                s.positions
                    .iter()
                    .map(|(symbol, p)| state.mark_position(&acc.row.name, symbol, p))
                    .collect()
            })
            .unwrap_or_default(),
        equity: book_equity(state, account, bot),
        pnl: pnl(state, account, bot),
    }
}

/// What a bot was given, valued at the last prices.
pub fn allocated_value(state: &State, account: usize, bot: u64) -> Option<Decimal> {
    let sub = state.accounts[account].books.bots.get(&bot)?;
    Some(state.assets_value(sub.allocated.iter().map(|(a, q)| (a.as_str(), q.get()))))
}

/// A bot's PnL after fees: its equity less its allocation, both valued at
/// the last prices. The one definition the list, the dashboard and
/// `bots.performance` show.
pub fn pnl(state: &State, account: usize, bot: u64) -> Option<Notional> {
    let equity = book_equity(state, account, bot)?.get();
    let given = allocated_value(state, account, bot)?;
    equity
        .checked_sub(given)
        .map(|d| Notional::new(d.normalize()))
}

/// The view of a bot clients get: its row, its book, its equity.
pub fn view(state: &State, rec: &BotRecord) -> BotView {
    let f = state
        .account_index(&rec.account)
        .map(|a| figures(state, a, rec.id));
    let (balances, positions, equity, pnl) = f.map_or_else(Default::default, |f| {
        (f.balances, f.positions, f.equity, f.pnl)
    });
    let open_trades = state
        .account_index(&rec.account)
        .map(|a| open_trades(state, a, rec.id))
        .unwrap_or_default();
    BotView {
        bot: rec.clone(),
        balances,
        positions,
        equity,
        pnl,
        warnings: Vec::new(),
        open_trades,
    }
}

/// The bot's open positions as trades: entry, what closing at the last
/// price would give after fees, and its working protective exits with
/// their distance from the last price.
pub fn open_trades(state: &State, account: usize, bot: u64) -> Vec<OpenTrade> {
    let Some(sub) = state.accounts[account].books.bots.get(&bot) else {
        return Vec::new();
    };
    let prefix = format!("b{bot}");
    let taker = state.taker_fee();
    let mut out = Vec::new();
    for (symbol, p) in &sub.positions {
        if p.qty.is_zero() {
            continue;
        }
        let last = state
            .venue
            .index_of(symbol.as_str())
            .map(|i| state.venue.last(i))
            .filter(|l| l.is_positive());
        let (pnl, pnl_pct) = last
            .and_then(|l| close_now(p, l, taker))
            .map_or((None, None), |(n, pct)| (Some(n), pct));
        let level = |price: Option<Price>| ExitLevel {
            price,
            distance_pct: price.zip(last).and_then(|(p, l)| {
                let d = p.get().checked_sub(l.get())?.checked_div(l.get())?;
                d.checked_mul(Decimal::ONE_HUNDRED)?.to_f64()
            }),
        };
        let mut t = OpenTrade {
            symbol: symbol.clone(),
            qty: p.qty,
            entry_price: p.avg_price(),
            last_price: last,
            pnl,
            pnl_pct,
            stop_loss: None,
            take_profit: None,
            trailing_stop: None,
        };
        for o in state.open.values() {
            if o.bot_id != Some(bot)
                || &o.symbol != symbol
                || parse_tag(&prefix, &o.client_order_id).map(|r| r.1) != Some(Role::Protect)
            {
                continue;
            }
            match o.order_type {
                OrderType::StopMarket | OrderType::StopLimit => {
                    t.stop_loss = Some(level(o.stop_price));
                }
                OrderType::Limit => t.take_profit = Some(level(o.price)),
                OrderType::TakeProfit => t.take_profit = Some(level(o.stop_price)),
                OrderType::TrailingStop => {
                    t.trailing_stop = Some(level(state.venue.trailing_level(o.id)));
                }
                OrderType::Market => {}
            }
        }
        out.push(t);
    }
    out
}

/// A position closed at `last` with the taker fee: its net gain or loss
/// after its entry fees, and that in percent of its cost.
fn close_now(p: &Position, last: Price, taker: Decimal) -> Option<(Notional, Option<f64>)> {
    let value = p.qty.get().checked_mul(last.get())?;
    let fee = value.abs().checked_mul(taker)?;
    let net = value
        .checked_sub(p.cost.get())?
        .checked_sub(p.open_fees.get())?
        .checked_sub(fee)?
        .round_dp(8)
        .normalize();
    let pct = net
        .checked_div(p.cost.get().abs())
        .and_then(|r| r.checked_mul(Decimal::ONE_HUNDRED))
        .and_then(|r| r.to_f64());
    Some((Notional::new(net), pct))
}

/// What to know about a bot's strategy with the venue's fees.
pub fn warnings(registry: &Registry, state: &State, rec: &BotRecord) -> Vec<String> {
    registry
        .build(&rec.spec)
        .map(|(s, _)| s.warnings(state.fee_rates()))
        .unwrap_or_default()
}

/// Moves `deposit` into and `withdraw` out of bot `id`'s book on `books`
/// (a copy the caller commits), checked: a shortfall names its field
/// (`deposit.USDT`). What moved, for the bot's log.
pub fn transfer_funds(
    books: &mut tradedesk_core::ledger::Books,
    id: u64,
    account: &str,
    deposit: Option<&std::collections::BTreeMap<String, Qty>>,
    withdraw: Option<&std::collections::BTreeMap<String, Qty>>,
) -> Result<Vec<String>, tradedesk_core::api::ApiError> {
    use tradedesk_core::api::{ApiError, ErrorCode};
    let mut moved = Vec::new();
    for (field, amounts, to_bot) in [("deposit", deposit, true), ("withdraw", withdraw, false)] {
        for (asset, amount) in amounts.into_iter().flatten() {
            books.transfer(id, asset, *amount, to_bot).map_err(|e| {
                let whose = if to_bot {
                    format!("the free, unallocated balance of account `{account}`")
                } else {
                    "the bot's free balance; what its open orders hold is not free".to_owned()
                };
                ApiError::new(
                    ErrorCode::InsufficientFunds,
                    format!("field `{field}.{asset}`: {e} ({whose})"),
                )
                .with_data(serde_json::json!({ "field": format!("{field}.{asset}") }))
            })?;
            moved.push(format!(
                "{} {amount} {asset}",
                if to_bot { "deposited" } else { "withdrew" }
            ));
        }
    }
    Ok(moved)
}

/// What a deposit less a withdrawal is worth at the last prices.
pub fn moved_value(
    state: &State,
    deposit: Option<&std::collections::BTreeMap<String, Qty>>,
    withdraw: Option<&std::collections::BTreeMap<String, Qty>>,
) -> Decimal {
    let value = |m: Option<&std::collections::BTreeMap<String, Qty>>| {
        state.assets_value(m.into_iter().flatten().map(|(a, q)| (a.as_str(), q.get())))
    };
    value(deposit)
        .checked_sub(value(withdraw))
        .unwrap_or(Decimal::ZERO)
}
