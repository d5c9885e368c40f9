//! The daemon's three big locks and the one order they are taken in:
//! bot supervisor → exchange → store.
//!
//! [`OrderedMutex`] checks that order on every `lock`, per thread: taking a
//! lock while the same thread holds it or one ranked after it panics at
//! once with both names, instead of deadlocking the daemon silently. The
//! panic is caught like any other (a request gets an internal error, a bot
//! or a job fails), so a lock-order mistake shows up in the first test that
//! walks the path rather than as a frozen daemon in production.
//!
//! Each lock also records since when it is held, so `system.health` can
//! name a lock that someone has held for too long.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// A lock's place in the order; lower ranks are taken first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rank {
    Bots = 0,
    Exchange = 1,
    Store = 2,
}

impl Rank {
    pub fn name(self) -> &'static str {
        match self {
            Rank::Bots => "bot supervisor",
            Rank::Exchange => "exchange",
            Rank::Store => "store",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    const ALL: [Rank; 3] = [Rank::Bots, Rank::Exchange, Rank::Store];
}

thread_local! {
    /// The ranks this thread holds, one bit each.
    static HELD: Cell<u8> = const { Cell::new(0) };
}

/// Milliseconds on a monotonic clock that started with the first call in
/// this process, plus one (so that zero can mean "never").
pub fn monotonic_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let ms = EPOCH.get_or_init(Instant::now).elapsed().as_millis();
    u64::try_from(ms).unwrap_or(u64::MAX - 1).saturating_add(1)
}

/// Panics unless this thread may take `rank` now.
fn check_order(rank: Rank) {
    let held = HELD.with(Cell::get);
    // Every rank at or after this one must be free on this thread.
    let later = !(rank.bit().saturating_sub(1));
    if held & later != 0 {
        let holding: Vec<&str> = Rank::ALL
            .iter()
            .filter(|r| held & r.bit() != 0)
            .map(|r| r.name())
            .collect();
        panic!(
            "lock order violated: taking the {} lock while holding the {} lock \
             (the order is bot supervisor → exchange → store)",
            rank.name(),
            holding.join(" and ")
        );
    }
}

pub struct OrderedMutex<T> {
    rank: Rank,
    inner: Mutex<T>,
    /// `monotonic_ms()` when the current holder took it; 0 when free.
    held_since: AtomicU64,
}

impl<T> OrderedMutex<T> {
    pub fn new(rank: Rank, value: T) -> Self {
        OrderedMutex {
            rank,
            inner: Mutex::new(value),
            held_since: AtomicU64::new(0),
        }
    }

    /// Takes the lock; the flag says whether a panic left it poisoned (the
    /// poison is cleared: the caller decides what that means for `T`).
    pub fn lock_checked(&self) -> (OrderedGuard<'_, T>, bool) {
        check_order(self.rank);
        let (guard, poisoned) = match self.inner.lock() {
            Ok(g) => (g, false),
            Err(p) => {
                self.inner.clear_poison();
                (p.into_inner(), true)
            }
        };
        HELD.with(|h| h.set(h.get() | self.rank.bit()));
        self.held_since.store(monotonic_ms(), Ordering::Relaxed);
        (
            OrderedGuard {
                guard: Some(guard),
                owner: self,
            },
            poisoned,
        )
    }

    /// Takes the lock, ignoring poison (for state that a panic cannot leave
    /// inconsistent, such as a SQLite connection: an open transaction is
    /// rolled back when it is dropped).
    pub fn lock(&self) -> OrderedGuard<'_, T> {
        self.lock_checked().0
    }

    /// Takes the lock if it is free within `wait`.
    pub fn lock_within(&self, wait: Duration) -> Option<OrderedGuard<'_, T>> {
        check_order(self.rank);
        let start = Instant::now();
        loop {
            match self.inner.try_lock() {
                Ok(g) => return Some(self.guard(g)),
                Err(std::sync::TryLockError::Poisoned(p)) => {
                    self.inner.clear_poison();
                    return Some(self.guard(p.into_inner()));
                }
                Err(std::sync::TryLockError::WouldBlock) => {
                    if start.elapsed() >= wait {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }

    fn guard<'a>(&'a self, g: MutexGuard<'a, T>) -> OrderedGuard<'a, T> {
        HELD.with(|h| h.set(h.get() | self.rank.bit()));
        self.held_since.store(monotonic_ms(), Ordering::Relaxed);
        OrderedGuard {
            guard: Some(g),
            owner: self,
        }
    }

    /// How long the current holder has held the lock; `None` when free.
    pub fn held_for(&self) -> Option<Duration> {
        let since = self.held_since.load(Ordering::Relaxed);
        (since != 0).then(|| Duration::from_millis(monotonic_ms().saturating_sub(since)))
    }

    pub fn rank(&self) -> Rank {
        self.rank
    }

    /// Whether this thread holds the lock now.
    pub fn held_here(&self) -> bool {
        HELD.with(Cell::get) & self.rank.bit() != 0
    }
}

impl<T> std::fmt::Debug for OrderedMutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderedMutex")
            .field("rank", &self.rank)
            .finish_non_exhaustive()
    }
}

pub struct OrderedGuard<'a, T> {
    guard: Option<MutexGuard<'a, T>>,
    owner: &'a OrderedMutex<T>,
}

impl<T> std::ops::Deref for OrderedGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("present until dropped")
    }
}

impl<T> std::ops::DerefMut for OrderedGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("present until dropped")
    }
}

impl<T> Drop for OrderedGuard<'_, T> {
    fn drop(&mut self) {
        self.owner.held_since.store(0, Ordering::Relaxed);
        HELD.with(|h| h.set(h.get() & !self.owner.rank.bit()));
        // The inner guard unlocks after the bookkeeping: a waiter that gets
        // the lock next sets `held_since` after we cleared it.
        drop(self.guard.take());
    }
}

/// Recovers the value of a poisoned std lock (for small leaf locks that
/// take no other lock and that a panic cannot leave inconsistent).
pub fn leaf<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_taken_in_order_are_fine_and_released_on_drop() {
        let (b, e, s) = (
            OrderedMutex::new(Rank::Bots, 1),
            OrderedMutex::new(Rank::Exchange, 2),
            OrderedMutex::new(Rank::Store, 3),
        );
        {
            let _b = b.lock();
            let _e = e.lock();
            let _s = s.lock();
            assert!(s.held_for().is_some());
            assert!(e.held_here());
        }
        assert!(s.held_for().is_none());
        assert!(!e.held_here());
        // Released, so each can be taken again, in any order.
        drop(s.lock());
        drop(e.lock());
    }

    #[test]
    fn re_entry_and_reversed_order_panic_instead_of_deadlocking() {
        let e = OrderedMutex::new(Rank::Exchange, ());
        let s = OrderedMutex::new(Rank::Store, ());
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _s = s.lock();
            let _s2 = s.lock();
        }))
        .expect_err("re-entry panics");
        let text = again.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            text.contains("taking the store lock while holding the store lock"),
            "{text}"
        );
        let reversed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _s = s.lock();
            let _e = e.lock();
        }))
        .expect_err("reversed order panics");
        let text = reversed
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            text.contains("taking the exchange lock while holding the store lock"),
            "{text}"
        );
        // The unwinding released everything: both can be taken again.
        assert!(!s.held_here() && !e.held_here());
        drop(e.lock());
        drop(s.lock());
    }

    #[test]
    fn a_panic_while_held_is_reported_once_as_poison() {
        let m = std::sync::Arc::new(OrderedMutex::new(Rank::Exchange, 0));
        let m2 = std::sync::Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let _g = m2.lock();
            panic!("boom");
        })
        .join();
        let (_, poisoned) = m.lock_checked();
        assert!(poisoned);
        let (_, poisoned) = m.lock_checked();
        assert!(!poisoned, "the poison is cleared once reported");
    }
}
