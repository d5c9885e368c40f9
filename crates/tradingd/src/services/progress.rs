//! Progress of the daemon's long-running parts, for a `system.health` that
//! tells the truth: each loop beats every time round, and a part that has
//! not beaten for `watchdog.stall_ms` is reported stalled, by name.
//!
//! Beats are monotonic milliseconds in atomics: beating takes no lock, and
//! reading the health takes none of the daemon's big locks (it reads how
//! long each has been held instead), so it answers even when they are stuck.

use std::sync::atomic::{AtomicU64, Ordering};

use tradedesk_core::api::system::{ComponentHealth, ComponentStatus};

use crate::lock_order::monotonic_ms;

/// A loop that beats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    MarketLoop,
    Scheduler,
    Keeper,
    Committer,
    Worker(usize),
}

#[derive(Debug)]
pub struct Progress {
    market: AtomicU64,
    scheduler: AtomicU64,
    keeper: AtomicU64,
    committer: AtomicU64,
    workers: Vec<AtomicU64>,
}

impl Progress {
    /// Every part counts as having beaten now: a part that never starts is
    /// reported once `stall_ms` has passed.
    pub fn new(workers: usize) -> Progress {
        let now = monotonic_ms();
        Progress {
            market: AtomicU64::new(now),
            scheduler: AtomicU64::new(now),
            keeper: AtomicU64::new(now),
            committer: AtomicU64::new(now),
            workers: (0..workers).map(|_| AtomicU64::new(now)).collect(),
        }
    }

    fn cell(&self, part: Part) -> Option<&AtomicU64> {
        match part {
            Part::MarketLoop => Some(&self.market),
            Part::Scheduler => Some(&self.scheduler),
            Part::Keeper => Some(&self.keeper),
            Part::Committer => Some(&self.committer),
            Part::Worker(i) => self.workers.get(i),
        }
    }

    pub fn beat(&self, part: Part) {
        if let Some(c) = self.cell(part) {
            c.store(monotonic_ms(), Ordering::Relaxed);
        }
    }

    /// Milliseconds since the part last beat.
    pub fn silent_ms(&self, part: Part) -> u64 {
        self.cell(part).map_or(0, |c| {
            monotonic_ms().saturating_sub(c.load(Ordering::Relaxed))
        })
    }

    /// The loops' health; `job_of(i)` names what worker `i` is running.
    pub fn report(
        &self,
        stall_ms: u64,
        job_of: impl Fn(usize) -> Option<String>,
    ) -> Vec<ComponentHealth> {
        let mut out = Vec::new();
        let mut one = |name: String, part: Part, what: Option<String>| {
            let silent = self.silent_ms(part);
            let stalled = silent >= stall_ms;
            out.push(ComponentHealth {
                name,
                status: if stalled {
                    ComponentStatus::Stalled
                } else {
                    ComponentStatus::Ok
                },
                detail: stalled.then(|| {
                    let what = what.map_or(String::new(), |w| format!(" ({w})"));
                    format!("no progress for {silent} ms{what}")
                }),
            });
        };
        one("market_loop".into(), Part::MarketLoop, None);
        one("scheduler".into(), Part::Scheduler, None);
        one("lease_keeper".into(), Part::Keeper, None);
        one("enqueue_committer".into(), Part::Committer, None);
        for i in 0..self.workers.len() {
            one(format!("worker {i}"), Part::Worker(i), job_of(i));
        }
        out
    }
}

/// The health of a lock: stalled when held for longer than `stall_ms`.
pub fn lock_health(
    name: &str,
    held: Option<std::time::Duration>,
    stall_ms: u64,
) -> ComponentHealth {
    let held_ms = held.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let stalled = held_ms >= stall_ms;
    ComponentHealth {
        name: name.to_owned(),
        status: if stalled {
            ComponentStatus::Stalled
        } else {
            ComponentStatus::Ok
        },
        detail: stalled.then(|| format!("its lock has been held for {held_ms} ms")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_that_stops_beating_is_reported_by_name() {
        let p = Progress::new(2);
        p.beat(Part::MarketLoop);
        let all_ok = p.report(10_000, |_| None);
        assert!(all_ok.iter().all(|c| c.status == ComponentStatus::Ok));
        assert_eq!(all_ok.len(), 6);
        std::thread::sleep(std::time::Duration::from_millis(30));
        p.beat(Part::MarketLoop);
        let r = p.report(20, |i| {
            (i == 1).then(|| "job 7 (maintenance.vacuum)".into())
        });
        let stalled: Vec<&str> = r
            .iter()
            .filter(|c| c.status == ComponentStatus::Stalled)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            stalled,
            [
                "scheduler",
                "lease_keeper",
                "enqueue_committer",
                "worker 0",
                "worker 1"
            ]
        );
        let w1 = r.iter().find(|c| c.name == "worker 1").expect("worker 1");
        assert!(
            w1.detail
                .as_deref()
                .is_some_and(|d| d.contains("job 7 (maintenance.vacuum)")),
            "{w1:?}"
        );
    }
}
