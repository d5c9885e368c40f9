//! Group commit: writes that arrive while another is being made durable
//! wait, and are then committed together in one transaction (one fsync
//! for the group instead of one each).
//!
//! Writers queue their work and await the answer; one committer thread
//! takes everything queued, runs it in order in one transaction, commits,
//! and answers each writer. A writer alone pays about what a plain write
//! costs; under load the group grows by itself to however many writes
//! arrived during the previous fsync. No answer is given before its
//! commit.
//!
//! One piece's error does not undo the others': SQLite rolls back only the
//! failing statement, and each piece runs its statements only after its
//! checks. A failed commit fails every piece of its group.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::lock_order::OrderedMutex;
use std::time::Duration;

use crate::store::{Store, StoreError};
use rusqlite::Transaction;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

type Work<R> = Box<dyn FnOnce(&Transaction<'_>) -> Result<R, StoreError> + Send>;
type Answer<R> = oneshot::Sender<Result<R, Arc<StoreError>>>;

struct Queue<R> {
    pending: Vec<(Work<R>, Answer<R>)>,
    /// The committer has stopped: no more work is taken.
    closed: bool,
}

pub struct GroupCommit<R> {
    queue: Mutex<Queue<R>>,
    ready: Condvar,
}

impl<R> Default for GroupCommit<R> {
    fn default() -> Self {
        GroupCommit {
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn stopped() -> Arc<StoreError> {
    Arc::new(StoreError::Closed)
}

impl<R: Send + 'static> GroupCommit<R> {
    /// Runs `work` in a transaction, possibly with others' work; resolves
    /// once that transaction is committed.
    pub async fn write(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, Arc<StoreError>> {
        let (tx, rx) = oneshot::channel();
        {
            let mut q = lock(&self.queue);
            if q.closed {
                return Err(stopped());
            }
            q.pending.push((Box::new(work), tx));
        }
        self.ready.notify_one();
        rx.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// The committer: commits queued work in groups until `shutdown`,
    /// then commits what is left and refuses more.
    pub fn run(&self, store: &OrderedMutex<Store>, shutdown: &CancellationToken, beat: impl Fn()) {
        loop {
            beat();
            let (group, last) = {
                let mut q = lock(&self.queue);
                while q.pending.is_empty() && !shutdown.is_cancelled() {
                    beat();
                    q = self
                        .ready
                        .wait_timeout(q, Duration::from_millis(100))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                let last = shutdown.is_cancelled();
                q.closed = last;
                (std::mem::take(&mut q.pending), last)
            };
            if !group.is_empty() {
                commit(&mut store.lock(), group);
            }
            if last {
                return;
            }
        }
    }
}

fn commit<R>(store: &mut Store, group: Vec<(Work<R>, Answer<R>)>) {
    let (works, answers): (Vec<_>, Vec<_>) = group.into_iter().unzip();
    let mut results = Vec::with_capacity(works.len());
    let committed = store.write(|tx| -> Result<(), StoreError> {
        for work in works {
            results.push(work(tx));
        }
        Ok(())
    });
    match committed {
        Ok(()) => {
            for (a, r) in answers.into_iter().zip(results) {
                let _ = a.send(r.map_err(Arc::new));
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            for a in answers {
                let _ = a.send(Err(Arc::clone(&e)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::jobs::{self as db, NewJob};
    use tradedesk_core::time::Timestamp;

    fn job(owner: &'static str) -> impl FnOnce(&Transaction<'_>) -> Result<u64, StoreError> {
        move |tx| {
            let p = serde_json::json!({});
            let j = NewJob {
                kind: "risk.report",
                payload: &p,
                priority: 0,
                max_attempts: 1,
                run_at: Timestamp(0),
                idempotency_key: None,
                owner,
            };
            db::enqueue(tx, &j, Timestamp(0)).map(|(j, _)| j.id)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_all_commit_and_one_failure_spoils_no_other() {
        let store = Arc::new(OrderedMutex::new(
            crate::lock_order::Rank::Store,
            Store::open_in_memory().unwrap(),
        ));
        let group = Arc::new(GroupCommit::<u64>::default());
        let shutdown = CancellationToken::new();
        let committer = {
            let (store, group, shutdown) = (store.clone(), group.clone(), shutdown.clone());
            std::thread::spawn(move || group.run(&store, &shutdown, || {}))
        };
        let writes: Vec<_> = (0..200)
            .map(|i| {
                let group = group.clone();
                // Every tenth names an owner that does not exist: the
                // foreign key refuses that one insert.
                let owner = if i % 10 == 7 { "nobody" } else { "admin" };
                tokio::spawn(async move { group.write(job(owner)).await })
            })
            .collect();
        let mut ok = 0;
        for (i, w) in writes.into_iter().enumerate() {
            match w.await.unwrap() {
                Ok(_) => ok += 1,
                Err(e) => assert_eq!(i % 10, 7, "write {i} failed: {e}"),
            }
        }
        assert_eq!(ok, 180);
        let rows: i64 = store
            .lock()
            .conn()
            .query_row("SELECT count(*) FROM jobs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 180);
        shutdown.cancel();
        committer.join().unwrap();
        // After the committer stopped, writes are refused, not left waiting.
        let late = group.write(job("admin")).await;
        assert!(
            matches!(late.as_ref().map_err(|e| &**e), Err(StoreError::Closed)),
            "{late:?}"
        );
    }
}
