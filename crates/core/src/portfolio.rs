//! What a strategy and the engine see of a bot's account: its holdings,
//! its open orders, and what each order's tag says it is for.
//!
//! Client order ids (tags) are `<prefix>-<seq>-<role>`: `e` entry, `a` add,
//! `x` exit, `p` protective exit (OCO legs get `-limit`/`-stop`), `k<key>`
//! a strategy's keyed order. The role is read back from the tag, so the
//! engine needs no memory of its orders beyond what the portfolio reports.

use rust_decimal::Decimal;

use crate::instrument::Symbol;
use crate::ledger::Position;
use crate::money::{Price, Qty};
use crate::order::{OrderType, Side};

/// What the engine needs to know about the bot's holdings.
pub trait Portfolio {
    /// The bot's position in `symbol`.
    fn position(&self, symbol: &Symbol) -> Position;
    /// What the bot holds free of `asset`.
    fn free(&self, asset: &str) -> Qty;
    /// The bot's equity in the quote asset, positions marked at the last price.
    fn equity(&self) -> Decimal;
    /// On a margin account: how much more gross position value (longs and
    /// shorts) the bot may take on (`equity × leverage − gross`). `None`
    /// (the default) elsewhere: entries are then sized within free quote.
    fn margin_room(&self) -> Option<Decimal> {
        None
    }
    /// The bot's open orders in `symbol`.
    fn open_orders(&self, symbol: &Symbol) -> Vec<OpenOrder>;
    /// Whether one of the bot's open orders in `symbol` has a tag `f`
    /// accepts (a portfolio may answer without listing them).
    fn any_open(&self, symbol: &Symbol, f: &mut dyn FnMut(&str) -> bool) -> bool {
        self.open_orders(symbol).iter().any(|o| f(&o.tag))
    }
}

/// An open order as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOrder {
    /// The client order id.
    pub tag: String,
    pub side: Side,
    pub order_type: OrderType,
    pub price: Option<Price>,
    pub open_qty: Qty,
}

/// What an order's tag says it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Entry,
    Add,
    Exit,
    Protect,
    Keyed(String),
}

impl Role {
    /// The tag code of the fixed roles (a keyed order's is `k<key>`).
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Role::Entry => "e",
            Role::Add => "a",
            Role::Exit => "x",
            Role::Protect => "p",
            Role::Keyed(_) => "k",
        }
    }
}

/// Splits a tag into its sequence number and role; `None` when it is not
/// one of `prefix`'s.
#[inline]
pub fn parse_tag(prefix: &str, tag: &str) -> Option<(u64, Role)> {
    let rest = tag.strip_prefix(prefix)?.strip_prefix('-')?;
    let mut parts = rest.split('-');
    let seq = parts.next()?.parse().ok()?;
    let role = match parts.next()? {
        "e" => Role::Entry,
        "a" => Role::Add,
        "x" => Role::Exit,
        "p" => Role::Protect,
        k if k.len() > 1 && k.starts_with('k') => Role::Keyed(k[1..].to_owned()),
        _ => return None,
    };
    Some((seq, role))
}
