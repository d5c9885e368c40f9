//! `streams.*`: subscribing a session to topics, and the notification
//! frames that carry their events.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::method::method;

/// The JSON-RPC notification method that carries a topic's event.
pub const EVENT_NOTIFICATION: &str = "streams.event";
/// The JSON-RPC notification method that reports events a slow subscriber missed.
pub const LAGGED_NOTIFICATION: &str = "streams.lagged";

method! {
    /// Subscribes this session to topics; events arrive as `streams.event` notifications.
    StreamsSubscribe = "streams.subscribe", Post "/api/v1/streams/subscribe", Read, Topics => Subscribed
}
method! {
    /// Ends this session's subscriptions to topics.
    StreamsUnsubscribe = "streams.unsubscribe", Post "/api/v1/streams/unsubscribe", Read, Topics => Subscribed
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Topics {
    /// Topic names from `system.methods`.
    pub topics: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Subscribed {
    /// Every topic this session is subscribed to after the call.
    pub topics: Vec<String>,
}

/// The params of a `streams.event` notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventFrame<E> {
    pub topic: String,
    pub event: E,
}

/// The params of a `streams.lagged` notification: the subscriber did not
/// keep up and `missed` events of `topic` were dropped for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Lagged {
    pub topic: String,
    pub missed: u64,
}
