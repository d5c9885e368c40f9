//! Building the exchange's state from the store: accounts, balances,
//! positions and the resting orders, at start and after a rebuild.

use super::{Account, Changes, OpenOrders, PAPER_ACCOUNT, State, VENUE};
use crate::store::bots as bots_db;
use crate::store::trading as db;
use crate::store::{Store, StoreError};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use tradedesk_core::api::ApiError;
use tradedesk_core::api::cache::Namespace;
use tradedesk_core::ledger::{Books, Ledger};
use tradedesk_core::money::{Notional, Price, Qty};
use tradedesk_core::order::{OrderRecord, OrderStatus, OrderType, Side, Terms};
use tradedesk_core::sim::matching::taker_cost;
use tradedesk_core::time::Timestamp;
use tradedesk_core::venue::{Link, Reopened, VenueEvent, VenueOrder};

/// The name of a user's own paper account.
pub fn paper_account_name(user: &str) -> String {
    format!("{PAPER_ACCOUNT}-{user}")
}

impl State {
    /// Everything money-shaped, read from the database: accounts and their
    /// books, open orders (back into the venue), limits and states, ids.
    pub(super) fn load(&mut self, store: &mut Store, now: Timestamp) -> Result<(), StoreError> {
        self.venue
            .reset_orders(db::max_trade_id(store.conn())?.saturating_add(1));
        self.next_order_id = db::max_order_id(store.conn())?.saturating_add(1);
        self.risk.reload(store)?;
        self.accounts.clear();
        self.open = OpenOrders::default();
        self.load_accounts(store, now)?;
        self.restore_orders(store, now)
    }

    /// [`Self::load`] after a failure, keeping the market's prices and bars.
    pub(super) fn reload(&mut self, store: &mut Store, now: Timestamp) -> Result<(), StoreError> {
        self.load(store, now)?;
        // Figures computed from the old books may be wrong.
        self.cache.delete_prefix(Namespace::Analytics, "");
        Ok(())
    }

    pub(super) fn load_accounts(
        &mut self,
        store: &mut Store,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut accounts = db::accounts(store.conn())?;
        if !accounts.iter().any(|a| a.name == PAPER_ACCOUNT) {
            let acc =
                store.write(|tx| self.create_paper_account(tx, PAPER_ACCOUNT, "admin", now))?;
            tracing::info!(account = PAPER_ACCOUNT, "created the paper account");
            accounts.push(acc);
        }
        // Every user has an account of their own (users made before
        // accounts were per user get theirs here).
        if let Some(name) = self.live_account.clone()
            && !accounts.iter().any(|a| a.name == name)
        {
            let acc =
                store.write(|tx| db::create_account(tx, &name, self.venue.name(), "admin", now))?;
            tracing::info!(account = %name, venue = self.venue.name(), "created the live account");
            accounts.push(acc);
        }
        for user in db::users_without_accounts(store.conn())? {
            let name = paper_account_name(&user);
            let acc = store.write(|tx| self.create_paper_account(tx, &name, &user, now))?;
            tracing::info!(account = %name, %user, "created a paper account");
            accounts.push(acc);
        }
        for a in accounts {
            self.adopt_account(store, a)?;
        }
        Ok(())
    }

    /// Writes a new paper account on the simulator with the configured
    /// starting balances, in the caller's transaction; [`Self::adopt_account`]
    /// takes it into the books once that has committed.
    pub fn create_paper_account(
        &self,
        tx: &rusqlite::Connection,
        name: &str,
        owner: &str,
        now: Timestamp,
    ) -> Result<db::Account, StoreError> {
        let balances: Vec<(&str, Qty)> = self
            .cfg
            .initial_balances
            .iter()
            .map(|(a, q)| (a.as_str(), *q))
            .collect();
        self.create_sim_account(tx, name, owner, &balances, None, now)
    }

    /// Writes a new account on the simulator holding `balances`, a margin
    /// account when `margin` is given, in the caller's transaction.
    pub fn create_sim_account(
        &self,
        tx: &rusqlite::Connection,
        name: &str,
        owner: &str,
        balances: &[(&str, Qty)],
        margin: Option<&tradedesk_core::api::accounts::MarginTerms>,
        now: Timestamp,
    ) -> Result<db::Account, StoreError> {
        let mut acc = db::create_account(tx, name, VENUE, owner, now)?;
        let mut l = Ledger::default();
        for (asset, amount) in balances {
            l.deposit(asset, *amount)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        }
        db::save_ledger(tx, acc.id, &l)?;
        if let Some(terms) = margin {
            db::make_margin(tx, &mut acc, terms, now)?;
        }
        Ok(acc)
    }

    /// Takes a stored account into the books, as the database has it.
    pub fn adopt_account(&mut self, store: &Store, a: db::Account) -> Result<(), StoreError> {
        let mut books = Books {
            total: db::load_ledger(store.conn(), a.id)?,
            manual: db::load_positions(store.conn(), a.id)?,
            bots: BTreeMap::new(),
        };
        for (id, sub) in bots_db::load_bot_books(store.conn(), a.id)? {
            books.bots.insert(id, sub);
        }
        self.accounts.push(Account { row: a, books });
        Ok(())
    }

    /// Reconciles the database's open orders with the (fresh) engine.
    pub(super) fn restore_orders(
        &mut self,
        store: &mut Store,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let open = db::open_orders(store.conn())?;
        let mut changes = Changes::default();
        // A bracket entry's exits, by entry: found once, not per order (a
        // scan per order would make a restart quadratic in open orders).
        let mut children: std::collections::HashMap<u64, Vec<u64>> =
            std::collections::HashMap::new();
        for o in &open {
            self.open.insert(o.clone());
            if let Some(p) = o.parent_id {
                children.entry(p).or_default().push(o.id);
            }
        }
        for exits in children.values_mut() {
            exits.sort_unstable();
        }
        for o in open {
            let live = self.is_live_account(&o.account);
            if live && self.live_account.as_deref() != Some(o.account.as_str()) {
                // Its exchange is not connected: left as the database has
                // it until a daemon trading there reconciles it.
                continue;
            }
            if o.status == OrderStatus::New && !live {
                tracing::warn!(
                    order = o.id,
                    "order never reached the venue before the daemon stopped; rejecting it"
                );
                self.open.update(o.id, |r| {
                    r.reason = Some("the daemon stopped before the order reached the venue".into());
                });
                self.book_events(
                    vec![VenueEvent::Rejected {
                        id: o.id,
                        reason: "the daemon stopped before the order reached the venue".into(),
                    }],
                    now,
                    &mut changes,
                );
                continue;
            }
            let Some(idx) = self.venue.index_of(o.symbol.as_str()) else {
                tracing::warn!(order = o.id, symbol = %o.symbol, "symbol no longer on the venue; cancelling");
                self.book_events(
                    vec![VenueEvent::Cancelled {
                        id: o.id,
                        reason: "symbol no longer listed".into(),
                    }],
                    now,
                    &mut changes,
                );
                continue;
            };
            let link =
                if let Some(parent) = o.parent_id.filter(|_| o.status == OrderStatus::Pending) {
                    Link::Exit { entry: parent }
                } else if let Some(sib) = o.oco_id {
                    Link::Oco(sib)
                } else {
                    let exits = children.get(&o.id).map_or(&[][..], Vec::as_slice);
                    match *exits {
                        [take_profit, stop_loss] => Link::Entry {
                            take_profit,
                            stop_loss,
                        },
                        _ => Link::None,
                    }
                };
            let Some(terms) = Terms::from_parts(o.order_type, o.price, o.stop_price, o.trail)
            else {
                tracing::error!(
                    order = o.id,
                    "stored order's prices do not fit its type; cancelling"
                );
                self.book_events(
                    vec![VenueEvent::Cancelled {
                        id: o.id,
                        reason: "its stored prices do not fit its type".into(),
                    }],
                    now,
                    &mut changes,
                );
                continue;
            };
            self.venue.restore(Reopened {
                order: self.sim_order(&o, terms, idx),
                open: o.open_qty(),
                filled: o.filled,
                triggered: o.triggered,
                pending: o.status == OrderStatus::Pending,
                link,
            });
            if live && o.status == OrderStatus::New {
                self.ask_after_restart(o.id);
            }
        }
        if !changes.is_empty() {
            self.persist(store, &changes)?;
        }
        tracing::info!(
            open_orders = self.open.len(),
            "open orders restored into the engine"
        );
        Ok(())
    }

    /// A live order that may have reached the exchange before the daemon
    /// stopped: the first reconciliation asks for it by its client id,
    /// never sends it again.
    fn ask_after_restart(&mut self, id: u64) {
        self.unknown.insert(id, 0);
        self.open.update(id, |r| {
            r.reason = Some(
                "outcome unknown (the daemon stopped while sending it); asking the venue".into(),
            );
        });
    }

    pub(super) fn sim_order(&self, o: &OrderRecord, terms: Terms, symbol: usize) -> VenueOrder {
        let lot = self.venue.instruments()[symbol].lot_size;
        VenueOrder {
            id: o.id,
            client_order_id: o.client_order_id.clone(),
            symbol,
            side: o.side,
            qty: o.qty,
            terms,
            time_in_force: o.time_in_force,
            budget: (o.side == Side::Buy && o.reserved.is_positive())
                .then(|| Notional::new(o.reserved.get())),
            lot,
            live: self.is_live_account(&o.account),
        }
    }

    /// What an order must lock: base for a sell; quote for a buy, enough
    /// for its worst fill plus the taker fee.
    pub(super) fn reservation_for(&self, o: &OrderRecord) -> Result<(String, Qty), ApiError> {
        let idx = self.symbol_index(&o.symbol)?;
        let inst = self.venue.instruments()[idx];
        let (book, last) = (self.venue.book(idx), self.venue.last(idx));
        if o.side == Side::Sell {
            return Ok((inst.base.clone(), o.qty));
        }
        let overflow = || {
            ApiError::invalid_params("invalid params: field `qty`: the order's value is too large")
                .with_data(serde_json::json!({ "field": "qty" }))
        };
        let fee = Decimal::ONE
            .checked_add(self.cfg.fees.taker)
            .ok_or_else(overflow)?;
        let buffered = Decimal::ONE
            .checked_add(self.cfg.buy_stop_buffer)
            .ok_or_else(overflow)?;
        let per_unit = |p: Price, buffer: Decimal| {
            p.get().checked_mul(buffer).and_then(|x| x.checked_mul(fee))
        };
        let amount = match o.order_type {
            OrderType::Market => {
                let (cost, _) = taker_cost(book, Side::Buy, o.qty, None);
                cost.get().checked_mul(fee)
            }
            OrderType::Limit | OrderType::StopLimit => o
                .price
                .and_then(|p| per_unit(p, Decimal::ONE))
                .and_then(|u| u.checked_mul(o.qty.get())),
            OrderType::StopMarket | OrderType::TakeProfit => o
                .stop_price
                .and_then(|p| per_unit(p, buffered))
                .and_then(|u| u.checked_mul(o.qty.get())),
            OrderType::TrailingStop => o
                .trail
                .and_then(|t| t.stop_from(Side::Buy, last))
                .and_then(|p| per_unit(p, buffered))
                .and_then(|u| u.checked_mul(o.qty.get())),
        }
        .ok_or_else(overflow)?;
        Ok((inst.quote.clone(), Qty::new(amount.normalize())))
    }
}
