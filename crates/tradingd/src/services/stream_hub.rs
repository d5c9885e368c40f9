//! The stream hub: one broadcast channel per topic, fanned out to every
//! subscribed session.
//!
//! An event is serialized once into its finished notification frame and
//! shared by all subscribers. Each topic keeps `streams.buffer` events for
//! subscribers that fall behind; one that falls further loses the oldest
//! events and is told how many with a `streams.lagged` notification. A slow
//! subscriber never slows the publisher or the others.
//!
//! Events of owned topics (orders, fills, positions, bots, jobs, risk
//! alerts) carry who may see them: the owner of the account, bot or job
//! they are about, and administrators. Each session forwards only what
//! its user may see.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use tokio::sync::broadcast;
use tradedesk_core::api::jsonrpc::{Notification, VERSION};
use tradedesk_core::api::streams::EVENT_NOTIFICATION;
use tradedesk_core::api::{Everyone, Owners, Topic, topic_names};

/// A finished notification line (with its trailing newline).
pub type Frame = Arc<str>;

/// Who may see a published event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    All,
    /// Administrators only (an event about no one user's objects).
    Admins,
    /// This user, and administrators.
    User(Arc<str>),
}

impl Seen {
    /// Whether a session that sees `viewer`'s objects (`None`: everyone's,
    /// an administrator) receives it.
    pub fn by(&self, viewer: Option<&str>) -> bool {
        match (viewer, self) {
            (None, _) | (_, Seen::All) => true,
            (Some(v), Seen::User(u)) => &**u == v,
            (Some(_), Seen::Admins) => false,
        }
    }
}

/// One event as the broadcast carries it.
pub type Published = (Seen, Frame);

/// Each topic's channel is made by its first subscriber: a channel holds
/// `buffer` slots from the start, which no unwatched topic needs.
pub struct StreamHub {
    topics: HashMap<&'static str, OnceLock<broadcast::Sender<Published>>>,
    buffer: usize,
}

impl StreamHub {
    pub fn new(buffer: usize) -> Self {
        let topics = topic_names()
            .iter()
            .map(|&name| (name, OnceLock::new()))
            .collect();
        StreamHub { topics, buffer }
    }

    /// Publishes an event to everyone subscribed to `T`; free when nobody is.
    pub fn publish<T: Topic<Audience = Everyone>>(&self, event: &T::Event) {
        self.send::<T>(|| Seen::All, event);
    }

    /// Publishes an event about `owner`'s objects to them and to
    /// administrators (`None`: to administrators only).
    pub fn publish_to<T: Topic<Audience = Owners>>(&self, owner: Option<&str>, event: &T::Event) {
        self.send::<T>(
            || owner.map_or(Seen::Admins, |o| Seen::User(Arc::from(o))),
            event,
        );
    }

    /// `seen` is only worked out when someone listens: publishing costs
    /// nothing (no allocation) on a topic without subscribers.
    fn send<T: Topic>(&self, seen: impl FnOnce() -> Seen, event: &T::Event) {
        let Some(tx) = self.topics.get(T::NAME).and_then(OnceLock::get) else {
            return;
        };
        if tx.receiver_count() == 0 {
            return;
        }
        let frame = Notification {
            jsonrpc: VERSION,
            method: EVENT_NOTIFICATION,
            params: OutgoingEvent {
                topic: T::NAME,
                event,
            },
        };
        match serde_json::to_string(&frame) {
            Ok(mut line) => {
                line.push('\n');
                // An error only means the last subscriber just left.
                let _ = tx.send((seen(), Arc::from(line)));
            }
            Err(e) => tracing::error!(topic = T::NAME, error = %e, "cannot encode stream event"),
        }
    }

    /// A receiver for the topic named `name`, or `None` for an unknown topic.
    pub fn subscribe(&self, name: &str) -> Option<broadcast::Receiver<Published>> {
        self.topics.get(name).map(|tx| {
            tx.get_or_init(|| broadcast::channel(self.buffer).0)
                .subscribe()
        })
    }
}

/// The params of an outgoing `streams.event` frame, borrowing the event.
#[derive(Serialize)]
struct OutgoingEvent<'a, E> {
    topic: &'static str,
    event: &'a E,
}
