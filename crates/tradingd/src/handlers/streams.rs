//! `streams.*` handlers: subscriptions belong to the caller's session.

use tradedesk_core::api::streams::{StreamsSubscribe, StreamsUnsubscribe, Subscribed, Topics};
use tradedesk_core::api::{ApiError, Caller, ErrorCode, Handle, topic_names};

use crate::context::Ctx;
use crate::services::sessions::Session;

impl Ctx {
    fn session_of(&self, caller: &Caller) -> Result<std::sync::Arc<Session>, ApiError> {
        caller
            .connection
            .and_then(|id| self.sessions.get(id))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    "streams need a session: use the socket or the WebSocket",
                )
            })
    }
}

/// Checks every name before anything changes, so a bad list subscribes nothing.
fn check_topics(topics: &Topics) -> Result<(), ApiError> {
    if topics.topics.is_empty() {
        return Err(ApiError::invalid_params(
            "invalid params: field `topics`: must name at least one topic",
        ));
    }
    for (i, name) in topics.topics.iter().enumerate() {
        if !topic_names().contains(&name.as_str()) {
            return Err(ApiError::invalid_params(format!(
                "invalid params: field `topics[{i}]`: unknown topic `{name}` (known: {})",
                topic_names().join(", ")
            ))
            .with_data(serde_json::json!({ "field": format!("topics[{i}]") })));
        }
    }
    Ok(())
}

impl Handle<StreamsSubscribe> for Ctx {
    async fn handle(&self, caller: &Caller, params: Topics) -> Result<Subscribed, ApiError> {
        check_topics(&params)?;
        let session = self.session_of(caller)?;
        for name in &params.topics {
            if let Some(rx) = self.hub.subscribe(name) {
                session.subscribe(name, rx);
            }
        }
        Ok(Subscribed {
            topics: session.topics(),
        })
    }
}

impl Handle<StreamsUnsubscribe> for Ctx {
    async fn handle(&self, caller: &Caller, params: Topics) -> Result<Subscribed, ApiError> {
        check_topics(&params)?;
        let session = self.session_of(caller)?;
        for name in &params.topics {
            session.unsubscribe(name);
        }
        Ok(Subscribed {
            topics: session.topics(),
        })
    }
}
