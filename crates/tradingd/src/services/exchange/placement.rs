//! Placing and cancelling: client order ids, validation, risk admission,
//! the write, then the matching — for single orders, OCO pairs and brackets.

use super::{By, Changes, State, funds_err, store_err};
use crate::store::Store;
use crate::store::trading as db;
use tradedesk_core::api::{ApiError, ErrorCode};
use tradedesk_core::ledger::BookId;
use tradedesk_core::money::{Notional, Qty};
use tradedesk_core::order::{OrderRecord, OrderStatus, Side, Terms, ValidOrder};
use tradedesk_core::risk::Approved;
use tradedesk_core::time::Timestamp;
use tradedesk_core::venue::{Submission, VenueOrder};

/// An order about to be placed: validated, with its account and funds.
pub(super) struct Prepared {
    pub(super) account: usize,
    pub(super) record: OrderRecord,
    pub(super) sim: VenueOrder,
}

impl State {
    pub(super) fn client_order_id(
        &mut self,
        given: Option<&str>,
        suffix: &str,
        now: Timestamp,
    ) -> String {
        match given {
            Some(id) if suffix.is_empty() => id.to_owned(),
            Some(id) => format!("{id}-{suffix}"),
            None => {
                self.next_client_seq = self.next_client_seq.saturating_add(1);
                let base = format!("td-{:x}-{}", now.millis(), self.next_client_seq);
                if suffix.is_empty() {
                    base
                } else {
                    format!("{base}-{suffix}")
                }
            }
        }
    }

    pub(super) fn prepare(
        &mut self,
        account: usize,
        v: &ValidOrder,
        client_order_id: String,
        by: By<'_>,
        now: Timestamp,
    ) -> Result<Prepared, ApiError> {
        let idx = self.symbol_index(&v.symbol)?;
        let record = OrderRecord {
            id: 0,
            account: self.accounts[account].row.name.clone(),
            client_order_id,
            symbol: v.symbol.clone(),
            side: v.side,
            order_type: v.terms.order_type(),
            qty: v.qty,
            price: v.terms.price(),
            stop_price: v.terms.stop_price(),
            trail: v.terms.trail(),
            time_in_force: v.time_in_force,
            status: OrderStatus::New,
            filled: Qty::ZERO,
            filled_notional: Notional::ZERO,
            avg_price: None,
            fees: Notional::ZERO,
            reserved: Qty::ZERO,
            reserved_asset: String::new(),
            triggered: false,
            parent_id: None,
            oco_id: None,
            reason: None,
            owner: by.owner.to_owned(),
            bot_id: by.bot,
            created: now,
            updated: now,
        };
        let sim = self.sim_order(&record, v.terms, idx);
        Ok(Prepared {
            account,
            record,
            sim,
        })
    }

    /// A placement sent again (a client retrying after a lost answer): when
    /// every client order id it would use exists and each stored order is
    /// the one asked for, those orders, to answer with as if just placed;
    /// when none exists, `None` (place it). Anything else — some exist, or
    /// one differs — is a `duplicate_client_id` error carrying the stored
    /// order. Checked before the risk check: a retry is not a new order.
    pub fn replay(
        &self,
        store: &Store,
        account: usize,
        book: BookId,
        orders: &[(String, &ValidOrder)],
    ) -> Result<Option<Vec<OrderRecord>>, ApiError> {
        let mut found = Vec::new();
        for (cid, _) in orders {
            found.push(db::order_by_client_id(store.conn(), cid).map_err(|e| store_err(&e))?);
        }
        if found.iter().all(Option::is_none) {
            return Ok(None);
        }
        let name = &self.accounts[account].row.name;
        let mut out = Vec::new();
        for ((cid, want), have) in orders.iter().zip(found) {
            let same = have.as_ref().is_some_and(|o| {
                &o.account == name
                    && o.bot_id == book
                    && o.symbol == want.symbol
                    && o.side == want.side
                    && o.qty == want.qty
                    && Terms::from_parts(o.order_type, o.price, o.stop_price, o.trail)
                        == Some(want.terms)
                    && o.time_in_force == want.time_in_force
            });
            match have {
                Some(o) if same => out.push(o),
                Some(o) => {
                    return Err(ApiError::new(
                        ErrorCode::DuplicateClientId,
                        format!(
                            "an order with client_order_id `{cid}` exists (id {}) and differs from this one",
                            o.id
                        ),
                    )
                    .with_data(serde_json::to_value(&o).unwrap_or_default()));
                }
                None => {
                    return Err(ApiError::new(
                        ErrorCode::DuplicateClientId,
                        format!("client_order_id `{cid}` belongs to part of an earlier placement"),
                    ));
                }
            }
        }
        Ok(Some(out))
    }

    /// Checks that the client order ids are free; an existing one is a
    /// duplicate error carrying the existing order.
    pub(super) fn check_duplicates(store: &Store, ids: &[&str]) -> Result<(), ApiError> {
        for id in ids {
            if let Some(existing) =
                db::order_by_client_id(store.conn(), id).map_err(|e| store_err(&e))?
            {
                return Err(ApiError::new(
                    ErrorCode::DuplicateClientId,
                    format!(
                        "an order with client_order_id `{id}` exists (id {})",
                        existing.id
                    ),
                )
                .with_data(serde_json::to_value(&existing).unwrap_or_default()));
            }
        }
        Ok(())
    }

    pub(super) fn check_healthy(&self) -> Result<(), ApiError> {
        match &self.degraded {
            Some(why) => Err(ApiError::new(
                ErrorCode::VenueUnavailable,
                format!("trading is suspended until the daemon restarts: {why}"),
            )),
            None => Ok(()),
        }
    }

    /// Locks funds for a group of orders (the first holds them), assigns
    /// ids and links, and queues their `new` rows, which are written in the
    /// same transaction as the venue's answer.
    pub(super) fn admit(
        &mut self,
        group: &mut [Prepared],
        reserve: &(String, Qty),
        changes: &mut Changes,
    ) -> Result<(), ApiError> {
        let account = group[0].account;
        let name = &self.accounts[account].row.name;
        if self.is_live_account(name) && self.live_account.as_deref() != Some(name) {
            return Err(ApiError::new(
                ErrorCode::VenueUnavailable,
                format!(
                    "account `{name}` trades on {}, which this daemon is not trading on \
                     (see `binance.enabled` and `binance.live`)",
                    self.accounts[account].row.venue
                ),
            )
            .with_data(serde_json::json!({ "field": "account" })));
        }
        if !self.reconciled && self.live_account.as_deref() == Some(name) {
            return Err(ApiError::new(
                ErrorCode::VenueUnavailable,
                format!(
                    "account `{name}` is being reconciled with {} (its open orders, fills and \
                     balances) since the daemon started; orders are taken once that is done",
                    self.accounts[account].row.venue
                ),
            )
            .with_data(serde_json::json!({ "field": "account" })));
        }
        {
            let (asset, amount) = reserve;
            let book = group[0].record.bot_id;
            if self.margin_of(account).is_some() {
                let r = &group[0].record;
                let (symbol, side, qty) = (r.symbol.clone(), r.side, r.qty);
                self.margin_reserve(account, book, &symbol, side, qty, (asset, *amount))?;
            }
            let books = &mut self.accounts[account].books;
            if let Err(e) = books.lock(book, asset, *amount) {
                // A margin sell's loan is repaid from the free balance it
                // went to (settled books hold nothing else free of what
                // they owe), so nothing is kept.
                let _ = books.settle(book, asset);
                return Err(funds_err(&e));
            }
            changes.book(account, book);
            group[0].record.reserved = *amount;
            group[0].record.reserved_asset.clone_from(asset);
            if group[0].record.side == Side::Buy {
                group[0].sim.budget = Some(Notional::new(amount.get()));
            }
            changes.ledger(account);
        }
        for p in group.iter_mut() {
            p.record.id = self.next_order_id;
            p.sim.id = p.record.id;
            self.next_order_id = self.next_order_id.saturating_add(1);
        }
        let first = group[0].record.id;
        match group.len() {
            2 => {
                let second = group[1].record.id;
                group[0].record.oco_id = Some(second);
                group[1].record.oco_id = Some(first);
            }
            3 => {
                // A bracket's exits wait for the entry, then cancel each other.
                let (tp, sl) = (group[1].record.id, group[2].record.id);
                group[1].record.oco_id = Some(sl);
                group[2].record.oco_id = Some(tp);
                for p in group.iter_mut().skip(1) {
                    p.record.parent_id = Some(first);
                }
            }
            _ => {}
        }
        let acc_id = self.accounts[account].row.id;
        for p in group.iter_mut() {
            changes.new_orders.push((acc_id, p.record.clone()));
            if p.record.parent_id.is_some() {
                p.record.status = OrderStatus::Pending;
            }
            self.open.insert(p.record.clone());
            changes.orders.insert(p.record.id, p.record.clone());
        }
        Ok(())
    }

    pub(super) fn commit(&mut self, store: &mut Store, changes: &Changes) -> Result<(), ApiError> {
        self.persist(store, changes).map_err(|e| {
            self.stale = Some(format!("a database write failed: {e}"));
            store_err(&e)
        })
    }

    /// Sends an admitted submission and commits: the `new` rows with the
    /// answer when the venue answers at once, else the `new` rows before the
    /// request leaves.
    fn submit(
        &mut self,
        store: &mut Store,
        submission: Submission,
        now: Timestamp,
        changes: &mut Changes,
    ) -> Result<(), ApiError> {
        if self.venue.answers_at_once() {
            self.send_submission(submission, now, changes);
            self.commit(store, changes)
        } else {
            self.commit(store, changes)?;
            self.send_submission(submission, now, changes);
            Ok(())
        }
    }

    /// Places one order.
    pub fn place(
        &mut self,
        store: &mut Store,
        account: usize,
        approved: &Approved,
        owner: &str,
        now: Timestamp,
    ) -> Result<(OrderRecord, Changes), ApiError> {
        self.check_healthy()?;
        let v = approved.order();
        let by = By {
            owner,
            bot: approved.book(),
        };
        let cid = self.client_order_id(v.client_order_id.as_deref(), "", now);
        Self::check_duplicates(store, &[&cid])?;
        let prepared = self.prepare(account, v, cid, by, now)?;
        let reserve = self.reservation_for(&prepared.record)?;
        let mut changes = Changes::default();
        let mut group = [prepared];
        self.admit(&mut group, &reserve, &mut changes)?;
        let [p] = group;
        let id = p.record.id;
        self.submit(store, Submission::Single(p.sim), now, &mut changes)?;
        let latest = changes.orders.get(&id).cloned().unwrap_or(p.record);
        Ok((latest, changes))
    }

    /// Places an OCO pair: a limit and a stop (market or limit) on one side.
    pub fn place_oco(
        &mut self,
        store: &mut Store,
        account: usize,
        limit: &Approved,
        stop: &Approved,
        owner: &str,
        now: Timestamp,
    ) -> Result<([OrderRecord; 2], Changes), ApiError> {
        self.check_healthy()?;
        if limit.book() != stop.book() {
            return Err(ApiError::internal(
                "an OCO pair's legs were approved for different books",
            ));
        }
        let by = By {
            owner,
            bot: limit.book(),
        };
        let (limit, stop) = (limit.order(), stop.order());
        let base = limit.client_order_id.clone();
        let (c1, c2) = (
            self.client_order_id(base.as_deref(), "limit", now),
            self.client_order_id(base.as_deref(), "stop", now),
        );
        Self::check_duplicates(store, &[&c1, &c2])?;
        let a = self.prepare(account, limit, c1, by, now)?;
        let b = self.prepare(account, stop, c2, by, now)?;
        let (ra, rb) = (
            self.reservation_for(&a.record)?,
            self.reservation_for(&b.record)?,
        );
        // Only one leg can execute: the pair holds the larger of the two.
        let reserve = if ra.1 >= rb.1 { ra } else { rb };
        let mut changes = Changes::default();
        let mut group = [a, b];
        self.admit(&mut group, &reserve, &mut changes)?;
        let [a, mut b] = group;
        b.sim.budget = a.sim.budget;
        let ids = [a.record.id, b.record.id];
        self.submit(store, Submission::Oco(a.sim, b.sim), now, &mut changes)?;
        let get =
            |id: u64, fallback: OrderRecord| changes.orders.get(&id).cloned().unwrap_or(fallback);
        Ok(([get(ids[0], a.record), get(ids[1], b.record)], changes))
    }

    /// Places an entry with a take-profit and a stop-loss exit.
    pub fn place_bracket(
        &mut self,
        store: &mut Store,
        account: usize,
        approved: [&Approved; 3],
        owner: &str,
        now: Timestamp,
    ) -> Result<([OrderRecord; 3], Changes), ApiError> {
        self.check_healthy()?;
        if approved.iter().any(|a| a.book() != approved[0].book()) {
            return Err(ApiError::internal(
                "a bracket's orders were approved for different books",
            ));
        }
        let by = By {
            owner,
            bot: approved[0].book(),
        };
        let orders = approved.map(Approved::order);
        let base = orders[0].client_order_id.clone();
        let cids = ["entry", "tp", "sl"].map(|s| self.client_order_id(base.as_deref(), s, now));
        Self::check_duplicates(store, &[&cids[0], &cids[1], &cids[2]])?;
        let [c0, c1, c2] = cids;
        let entry = self.prepare(account, orders[0], c0, by, now)?;
        let tp = self.prepare(account, orders[1], c1, by, now)?;
        let sl = self.prepare(account, orders[2], c2, by, now)?;
        let reserve = self.reservation_for(&entry.record)?;
        let mut changes = Changes::default();
        let mut group = [entry, tp, sl];
        self.admit(&mut group, &reserve, &mut changes)?;
        let [e, tp, sl] = group;
        let ids = [e.record.id, tp.record.id, sl.record.id];
        let submission = Submission::Bracket {
            entry: e.sim,
            take_profit: tp.sim,
            stop_loss: sl.sim,
        };
        self.submit(store, submission, now, &mut changes)?;
        let get =
            |id: u64, fallback: OrderRecord| changes.orders.get(&id).cloned().unwrap_or(fallback);
        Ok((
            [
                get(ids[0], e.record),
                get(ids[1], tp.record),
                get(ids[2], sl.record),
            ],
            changes,
        ))
    }

    /// Cancels an open order.
    pub fn cancel(
        &mut self,
        store: &mut Store,
        id: u64,
        reason: &str,
        now: Timestamp,
    ) -> Result<Changes, ApiError> {
        if !self.open.contains_key(&id) {
            return Err(ApiError::internal("cancel of an order that is not open"));
        }
        self.cancel_many(store, &[id], reason, now)
    }

    /// Cancels open orders together: booked one by one, written in one
    /// transaction (one sync, however many orders). Ids no longer open
    /// (an OCO sibling cancelled with its pair) are skipped.
    pub fn cancel_many(
        &mut self,
        store: &mut Store,
        ids: &[u64],
        reason: &str,
        now: Timestamp,
    ) -> Result<Changes, ApiError> {
        let mut changes = Changes::default();
        self.cancel_in_memory(ids, reason, now, &mut changes);
        if !changes.is_empty() {
            self.commit(store, &changes)?;
        }
        Ok(changes)
    }

    /// Cancels open orders in the venue and the books, for the caller to
    /// write. Ids no longer open are skipped.
    pub(crate) fn cancel_in_memory(
        &mut self,
        ids: &[u64],
        reason: &str,
        now: Timestamp,
        changes: &mut Changes,
    ) {
        for &id in ids {
            if self.open.contains_key(&id) {
                self.send_cancel(id, reason, now, changes);
            }
        }
    }
}
