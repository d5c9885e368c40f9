//! The local order book: a REST snapshot plus the depth stream's diffs,
//! kept by Binance's sequence rules.
//!
//! - Diffs that arrive before the snapshot are buffered.
//! - With the snapshot (`lastUpdateId` = L): buffered diffs with `u <= L`
//!   are dropped; the first one kept must span L + 1 (`U <= L + 1 <= u`),
//!   or the snapshot is too old (or the diffs too new) and another is
//!   needed.
//! - Then each diff must start right after the last one (`U == last + 1`);
//!   a diff with `u <= last` is old and ignored; one with `U > last + 1`
//!   is a gap: the book is dropped and built again from a new snapshot.
//!
//! A level with quantity 0 is removed; any other replaces the level's
//! quantity. Prices are exact decimals, so a level is found by equality.

use tradedesk_core::market::{BookLevel, OrderBook};
use tradedesk_core::order::Side;

/// Diffs kept while waiting for a snapshot; past this the oldest go (the
/// snapshot will be newer than them anyway).
const BUFFER: usize = 10_000;
/// Levels kept a side.
const DEPTH: usize = 1_000;

/// One `depthUpdate` event: updates `first..=last` (`U`, `u`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    pub first: u64,
    pub last: u64,
    pub bids: Vec<BookLevel>,
    pub asks: Vec<BookLevel>,
}

/// What a diff did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Applied to the book.
    Applied,
    /// Older than the book; ignored.
    Old,
    /// Kept until a snapshot comes.
    Buffered,
    /// A diff is missing: the book is dropped and needs a new snapshot.
    Gap,
}

#[derive(Debug, Default)]
pub struct LocalBook {
    book: OrderBook,
    /// The last update in the book; `None` while it waits for a snapshot.
    last: Option<u64>,
    buffer: std::collections::VecDeque<Diff>,
}

impl LocalBook {
    /// The book, when it is in sequence.
    pub fn book(&self) -> Option<&OrderBook> {
        self.last.map(|_| &self.book)
    }

    pub fn synced(&self) -> bool {
        self.last.is_some()
    }

    /// Whether a snapshot is wanted.
    pub fn wants_snapshot(&self) -> bool {
        self.last.is_none()
    }

    /// Drops the book (after a reconnect: the diffs' continuity is lost).
    pub fn reset(&mut self) {
        self.last = None;
        self.buffer.clear();
    }

    pub fn on_diff(&mut self, d: Diff) -> Applied {
        let Some(last) = self.last else {
            if self.buffer.len() == BUFFER {
                self.buffer.pop_front();
            }
            self.buffer.push_back(d);
            return Applied::Buffered;
        };
        if d.last <= last {
            return Applied::Old;
        }
        if d.first > last.saturating_add(1) {
            self.last = None;
            self.buffer.clear();
            self.buffer.push_back(d);
            return Applied::Gap;
        }
        self.apply(&d);
        Applied::Applied
    }

    /// Builds the book from a snapshot and the buffered diffs. `Err` when
    /// the snapshot does not meet the diffs (too old, or diffs missing):
    /// the caller fetches another.
    pub fn on_snapshot(&mut self, book: OrderBook, last_update_id: u64) -> Result<(), Applied> {
        while self
            .buffer
            .front()
            .is_some_and(|d| d.last <= last_update_id)
        {
            self.buffer.pop_front();
        }
        if let Some(first) = self.buffer.front()
            && first.first > last_update_id.saturating_add(1)
        {
            // The snapshot is older than the oldest diff we hold.
            return Err(Applied::Gap);
        }
        self.book = book;
        self.last = Some(last_update_id);
        let buffered: Vec<Diff> = self.buffer.drain(..).collect();
        for d in buffered {
            if self.on_diff(d) == Applied::Gap {
                return Err(Applied::Gap);
            }
        }
        Ok(())
    }

    fn apply(&mut self, d: &Diff) {
        for l in &d.bids {
            set_level(&mut self.book.bids, Side::Buy, *l);
        }
        for l in &d.asks {
            set_level(&mut self.book.asks, Side::Sell, *l);
        }
        self.last = Some(d.last);
    }
}

/// Sets one level of a side kept best first (bids high to low, asks low
/// to high); quantity 0 removes it.
fn set_level(levels: &mut Vec<BookLevel>, side: Side, l: BookLevel) {
    let found = levels.binary_search_by(|x| match side {
        Side::Buy => l.price.cmp(&x.price),
        Side::Sell => x.price.cmp(&l.price),
    });
    match (found, l.qty.is_zero()) {
        (Ok(i), true) => {
            levels.remove(i);
        }
        (Ok(i), false) => levels[i].qty = l.qty,
        (Err(_), true) => {}
        (Err(i), false) => {
            levels.insert(i, l);
            levels.truncate(DEPTH);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(p: &str, q: &str) -> BookLevel {
        BookLevel {
            price: p.parse().unwrap(),
            qty: q.parse().unwrap(),
        }
    }

    fn diff(first: u64, last: u64, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> Diff {
        Diff {
            first,
            last,
            bids: bids.iter().map(|(p, q)| lv(p, q)).collect(),
            asks: asks.iter().map(|(p, q)| lv(p, q)).collect(),
        }
    }

    fn snapshot() -> OrderBook {
        OrderBook {
            bids: vec![lv("100", "1"), lv("99", "2")],
            asks: vec![lv("101", "1"), lv("102", "3")],
        }
    }

    #[test]
    fn diffs_before_the_snapshot_are_buffered_then_applied_in_sequence() {
        let mut b = LocalBook::default();
        assert_eq!(
            b.on_diff(diff(5, 8, &[("100", "9")], &[])),
            Applied::Buffered
        );
        assert_eq!(
            b.on_diff(diff(9, 12, &[("99.5", "1")], &[("101", "0")])),
            Applied::Buffered
        );
        assert!(b.wants_snapshot());
        // lastUpdateId 10: the first diff is dropped, the second spans 11.
        b.on_snapshot(snapshot(), 10).unwrap();
        let book = b.book().unwrap();
        assert_eq!(
            book.bids,
            vec![lv("100", "1"), lv("99.5", "1"), lv("99", "2")]
        );
        assert_eq!(book.asks, vec![lv("102", "3")]);
        assert_eq!(
            b.on_diff(diff(13, 13, &[], &[("100.5", "4")])),
            Applied::Applied
        );
        assert_eq!(b.book().unwrap().asks[0], lv("100.5", "4"));
        assert_eq!(b.on_diff(diff(10, 13, &[], &[])), Applied::Old);
    }

    #[test]
    fn a_missing_diff_drops_the_book_until_a_new_snapshot() {
        let mut b = LocalBook::default();
        b.on_diff(diff(11, 11, &[], &[]));
        b.on_snapshot(snapshot(), 10).unwrap();
        assert_eq!(b.on_diff(diff(13, 14, &[("100", "0")], &[])), Applied::Gap);
        assert!(b.book().is_none());
        assert!(b.wants_snapshot());
        // A snapshot older than the buffered diff is refused.
        assert_eq!(b.on_snapshot(snapshot(), 11), Err(Applied::Gap));
        b.on_snapshot(snapshot(), 13).unwrap();
        assert_eq!(b.book().unwrap().bids, vec![lv("99", "2")]);
    }
}
