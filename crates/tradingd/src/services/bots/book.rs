//! A bot's book as the engine and clients see it: holdings, open orders,
//! equity, PnL and warnings.

use crate::services::exchange::State;
use rust_decimal::Decimal;
use tradedesk_core::api::bots::{BotFigures, BotRecord, BotView};
use tradedesk_core::instrument::Symbol;
use tradedesk_core::ledger::Position;
use tradedesk_core::money::{Notional, Qty};
use tradedesk_core::portfolio::{OpenOrder, Portfolio};
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
    BotView {
        bot: rec.clone(),
        balances,
        positions,
        equity,
        pnl,
        warnings: Vec::new(),
    }
}

/// What to know about a bot's strategy with the venue's fees.
pub fn warnings(registry: &Registry, state: &State, rec: &BotRecord) -> Vec<String> {
    registry
        .build(&rec.spec)
        .map(|(s, _)| s.warnings(state.fee_rates()))
        .unwrap_or_default()
}
