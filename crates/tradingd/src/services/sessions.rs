//! Sessions: the connections that can receive stream events, and their
//! subscriptions.
//!
//! Invariant: a session's forwarding tasks die with the session, so a
//! closed connection never leaves a task behind.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{broadcast, mpsc};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tradedesk_core::api::jsonrpc::{Notification, VERSION};
use tradedesk_core::api::streams::{LAGGED_NOTIFICATION, Lagged};

use super::stream_hub::{Frame, Published};

/// One line for a connection's writer.
#[derive(Debug)]
pub enum Outbound {
    Owned(String),
    Shared(Frame),
}

impl Outbound {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Outbound::Owned(s) => s.as_bytes(),
            Outbound::Shared(s) => s.as_bytes(),
        }
    }
}

pub struct Session {
    pub id: u64,
    /// Whose objects' events it receives: `None` for an administrator
    /// (everyone's).
    viewer: Option<Arc<str>>,
    out: mpsc::Sender<Outbound>,
    subscriptions: Mutex<BTreeMap<String, AbortHandle>>,
    /// When the connection last sent a frame (monotonic ms).
    last_active: AtomicU64,
    /// A request of this connection is being handled.
    busy: AtomicBool,
    /// Cancelled to take this connection's slot for a newcomer.
    pub evicted: CancellationToken,
}

impl Session {
    /// The connection sent something.
    pub fn touch(&self) {
        self.last_active
            .store(crate::lock_order::monotonic_ms(), Ordering::Relaxed);
    }

    pub fn set_busy(&self, busy: bool) {
        self.busy.store(busy, Ordering::Relaxed);
    }

    /// Milliseconds since the connection last sent anything.
    pub fn idle_ms(&self) -> u64 {
        crate::lock_order::monotonic_ms().saturating_sub(self.last_active.load(Ordering::Relaxed))
    }

    pub fn has_subscriptions(&self) -> bool {
        !self
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Starts forwarding `rx` to this session's writer, unless the topic
    /// is already subscribed.
    pub fn subscribe(&self, topic: &str, rx: broadcast::Receiver<Published>) {
        let mut subs = self
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if subs.contains_key(topic) {
            return;
        }
        let task = tokio::spawn(forward(
            topic.to_owned(),
            self.id,
            self.viewer.clone(),
            rx,
            self.out.clone(),
        ));
        subs.insert(topic.to_owned(), task.abort_handle());
    }

    pub fn unsubscribe(&self, topic: &str) {
        if let Some(task) = self
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(topic)
        {
            task.abort();
        }
    }

    pub fn topics(&self) -> Vec<String> {
        self.subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for task in self
            .subscriptions
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            task.abort();
        }
    }
}

async fn forward(
    topic: String,
    session: u64,
    viewer: Option<Arc<str>>,
    mut rx: broadcast::Receiver<Published>,
    out: mpsc::Sender<Outbound>,
) {
    loop {
        let line = match rx.recv().await {
            Ok((seen, frame)) if seen.by(viewer.as_deref()) => Outbound::Shared(frame),
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(session, topic, missed, "subscriber lagged; events dropped");
                let note = Notification {
                    jsonrpc: VERSION,
                    method: LAGGED_NOTIFICATION,
                    params: Lagged {
                        topic: topic.clone(),
                        missed,
                    },
                };
                match serde_json::to_string(&note) {
                    Ok(mut s) => {
                        s.push('\n');
                        Outbound::Owned(s)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot encode lagged notice");
                        continue;
                    }
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if out.send(line).await.is_err() {
            return;
        }
    }
}

/// Every open session, by connection id.
#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<u64, Arc<Session>>>,
    next_id: AtomicU64,
}

impl Sessions {
    /// Registers a new connection whose writer reads from `out`, whose
    /// streams carry what `viewer` may see (`None`: everything).
    pub fn open(&self, out: mpsc::Sender<Outbound>, viewer: Option<&str>) -> Arc<Session> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let session = Arc::new(Session {
            id,
            viewer: viewer.map(Arc::from),
            out,
            subscriptions: Mutex::new(BTreeMap::new()),
            last_active: AtomicU64::new(crate::lock_order::monotonic_ms()),
            busy: AtomicBool::new(false),
            evicted: CancellationToken::new(),
        });
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::clone(&session));
        session
    }

    pub fn close(&self, id: u64) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    pub fn get(&self, id: u64) -> Option<Arc<Session>> {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Frees a slot at the connection limit: the connection idle longest
    /// (at least `min_idle_ms`) with no subscription and no request in
    /// flight is told to close. False when none qualifies.
    pub fn evict_idlest(&self, min_idle_ms: u64) -> bool {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let victim = map
            .values()
            .filter(|s| {
                !s.busy.load(Ordering::Relaxed)
                    && !s.evicted.is_cancelled()
                    && !s.has_subscriptions()
                    && s.idle_ms() >= min_idle_ms
            })
            .max_by_key(|s| s.idle_ms());
        match victim {
            Some(s) => {
                s.evicted.cancel();
                true
            }
            None => false,
        }
    }

    pub fn count(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::stream_hub::Seen;

    fn text(o: &Outbound) -> &str {
        std::str::from_utf8(o.as_bytes()).expect("utf-8")
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_what_it_missed_and_then_catches_up() {
        let (events, rx) = broadcast::channel::<Published>(16);
        let (out_tx, mut out_rx) = mpsc::channel(1);
        let sessions = Sessions::default();
        let session = sessions.open(out_tx, None);
        session.subscribe("t.x", rx);
        // The subscriber reads nothing while 100 events are published.
        for i in 0..100 {
            events
                .send((Seen::All, Arc::from(format!("{i}\n"))))
                .expect("send");
        }
        let mut got = Vec::new();
        while let Ok(Some(o)) =
            tokio::time::timeout(std::time::Duration::from_millis(200), out_rx.recv()).await
        {
            got.push(text(&o).to_owned());
        }
        let lagged: Vec<&String> = got
            .iter()
            .filter(|l| l.contains(LAGGED_NOTIFICATION))
            .collect();
        assert_eq!(lagged.len(), 1, "{got:?}");
        assert!(lagged[0].contains("\"missed\":"), "{}", lagged[0]);
        // The newest events are delivered in order after the notice.
        assert_eq!(got.last().map(String::as_str), Some("99\n"), "{got:?}");
        let numbers: Vec<u32> = got.iter().filter_map(|l| l.trim().parse().ok()).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
        // Missed + delivered accounts for every event.
        let missed: u64 = serde_json::from_str::<serde_json::Value>(lagged[0].trim())
            .expect("json")["params"]["missed"]
            .as_u64()
            .expect("missed");
        assert_eq!(missed + numbers.len() as u64, 100);
    }

    #[tokio::test]
    async fn a_user_receives_only_events_about_their_own_objects() {
        let (events, rx_user) = broadcast::channel::<Published>(16);
        let rx_admin = events.subscribe();
        let sessions = Sessions::default();
        let (user_tx, mut user_rx) = mpsc::channel(16);
        let (admin_tx, mut admin_rx) = mpsc::channel(16);
        sessions
            .open(user_tx, Some("ann"))
            .subscribe("t.x", rx_user);
        sessions.open(admin_tx, None).subscribe("t.x", rx_admin);
        for (seen, line) in [
            (Seen::User(Arc::from("bob")), "bob's\n"),
            (Seen::Admins, "admins'\n"),
            (Seen::User(Arc::from("ann")), "ann's\n"),
            (Seen::All, "everyone's\n"),
        ] {
            events.send((seen, Arc::from(line))).expect("send");
        }
        let read = async |rx: &mut mpsc::Receiver<Outbound>| {
            let mut got = Vec::new();
            while let Ok(Some(o)) =
                tokio::time::timeout(std::time::Duration::from_millis(100), rx.recv()).await
            {
                got.push(text(&o).trim().to_owned());
            }
            got
        };
        assert_eq!(read(&mut user_rx).await, ["ann's", "everyone's"]);
        assert_eq!(
            read(&mut admin_rx).await,
            ["bob's", "admins'", "ann's", "everyone's"]
        );
    }

    #[tokio::test]
    async fn closing_a_session_stops_its_forwarders() {
        let (events, rx) = broadcast::channel::<Published>(16);
        let (out_tx, _out_rx) = mpsc::channel(16);
        let sessions = Sessions::default();
        let session = sessions.open(out_tx, None);
        session.subscribe("t.x", rx);
        assert_eq!(events.receiver_count(), 1);
        sessions.close(session.id);
        drop(session);
        tokio::task::yield_now().await;
        for _ in 0..100 {
            if events.receiver_count() == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("forwarder still subscribed after the session closed");
    }
}
