//! The JSON-RPC client of the daemon, typed through the catalogue:
//! `client.call::<SystemHealth>(&Empty {})`.
//!
//! [`Client`] is blocking (std sockets; the CLI), [`AsyncClient`] runs on
//! tokio (the dashboard). Both deliver stream events as [`StreamMessage`].
//! [`launch`] starts a daemon in the background and waits until it answers.

mod asynchronous;
mod blocking;
pub mod launch;
#[cfg(feature = "remote")]
pub mod remote;
#[cfg(all(feature = "remote", feature = "secrets"))]
pub mod session;

use std::path::PathBuf;

use serde_json::value::RawValue;

use crate::api::jsonrpc::ServerMessage;
use crate::api::streams::{EVENT_NOTIFICATION, EventFrame, LAGGED_NOTIFICATION, Lagged};
use crate::api::{ApiError, Method};

pub use asynchronous::AsyncClient;
pub use blocking::Client;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon answers on the socket.
    #[error("daemon not reachable at {path}: {source} (start it with `tradectl daemon start`)")]
    Unreachable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A remote daemon did not answer (or not over HTTP).
    #[error("daemon not reachable at {url}: {message}")]
    NoAnswer { url: String, message: String },
    /// The daemon answered with an error.
    #[error("{0}")]
    Api(ApiError),
    #[error("connection to the daemon lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("the daemon closed the connection")]
    Closed,
    #[error("timed out waiting for the daemon")]
    Timeout,
    /// A frame from the daemon did not decode; a version mismatch or a bug.
    #[error("bad frame from the daemon: {0}")]
    Protocol(String),
    /// The socket is served by a process of another user: nothing was sent.
    #[error(
        "refusing {path}: it is served by uid {peer}, not by you (uid {own}); nothing was sent"
    )]
    ForeignPeer { path: PathBuf, peer: u32, own: u32 },
}

impl ClientError {
    /// True when the daemon could not be reached at all (as opposed to
    /// answering with an error).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. } | ClientError::NoAnswer { .. }
        )
    }
}

/// Checks that the process serving the socket runs as us, before anything
/// is sent: a socket put in place by another user must not receive our
/// orders (the daemon checks its peers the same way).
fn check_peer(fd: impl rustix::fd::AsFd, path: &std::path::Path) -> Result<(), ClientError> {
    let own = rustix::process::geteuid().as_raw();
    let peer = rustix::net::sockopt::socket_peercred(fd)
        .map_err(|e| ClientError::Io(std::io::Error::from(e)))?
        .uid
        .as_raw();
    if peer == own {
        Ok(())
    } else {
        Err(ClientError::ForeignPeer {
            path: path.to_path_buf(),
            peer,
            own,
        })
    }
}

/// A stream notification received by a client.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamMessage {
    Event {
        topic: String,
        event: serde_json::Value,
    },
    Lagged(Lagged),
}

impl StreamMessage {
    /// Decodes the event of a known topic.
    pub fn decode<T: crate::api::Topic>(&self) -> Option<Result<T::Event, ClientError>> {
        match self {
            StreamMessage::Event { topic, event } if topic == T::NAME => Some(
                serde_json::from_value(event.clone())
                    .map_err(|e| ClientError::Protocol(format!("{topic} event: {e}"))),
            ),
            _ => None,
        }
    }
}

/// What a frame read from the socket turned out to be.
enum Received {
    Response {
        id: u64,
        outcome: Result<Box<RawValue>, ApiError>,
    },
    Stream(StreamMessage),
}

fn decode_frame(line: &str) -> Result<Received, ClientError> {
    let msg: ServerMessage =
        serde_json::from_str(line).map_err(|e| ClientError::Protocol(e.to_string()))?;
    if let Some(method) = msg.method {
        let params = msg
            .params
            .ok_or_else(|| ClientError::Protocol(format!("{method} without params")))?;
        let bad = |e: serde_json::Error| ClientError::Protocol(format!("{method}: {e}"));
        return match method.as_str() {
            EVENT_NOTIFICATION => {
                let frame: EventFrame<serde_json::Value> =
                    serde_json::from_str(params.get()).map_err(bad)?;
                Ok(Received::Stream(StreamMessage::Event {
                    topic: frame.topic,
                    event: frame.event,
                }))
            }
            LAGGED_NOTIFICATION => Ok(Received::Stream(StreamMessage::Lagged(
                serde_json::from_str(params.get()).map_err(bad)?,
            ))),
            other => Err(ClientError::Protocol(format!(
                "unknown notification `{other}`"
            ))),
        };
    }
    let outcome = match (msg.result, msg.error) {
        (Some(result), None) => Ok(result),
        (None, Some(error)) => Err(error),
        _ => {
            return Err(ClientError::Protocol(
                "response without exactly one of result and error".into(),
            ));
        }
    };
    match msg.id {
        // Errors about frames the daemon could not read carry a null id;
        // they answer the request in flight.
        Some(id) if id.is_null() => Ok(Received::Response { id: 0, outcome }),
        Some(id) => match id.as_u64() {
            Some(n) => Ok(Received::Response { id: n, outcome }),
            None => Err(ClientError::Protocol(format!(
                "unexpected response id {}",
                id.get()
            ))),
        },
        None => Err(ClientError::Protocol("response without an id".into())),
    }
}

fn encode_request<P: serde::Serialize>(
    method: &str,
    params: &P,
    id: u64,
) -> Result<String, ClientError> {
    let req = crate::api::jsonrpc::Request {
        jsonrpc: crate::api::jsonrpc::VERSION,
        method,
        params,
        id,
    };
    let mut line = serde_json::to_string(&req).map_err(|e| ClientError::Protocol(e.to_string()))?;
    line.push('\n');
    Ok(line)
}

/// A list whose pages never ended within [`crate::api::paging::MAX_PAGES`].
fn too_many_pages(method: &str) -> ClientError {
    ClientError::Protocol(format!(
        "{method} kept answering with more pages after {} of them",
        crate::api::paging::MAX_PAGES
    ))
}

fn decode_result<M: Method>(raw: &RawValue) -> Result<M::Result, ClientError> {
    serde_json::from_str(raw.get())
        .map_err(|e| ClientError::Protocol(format!("{} result: {e}", M::NAME)))
}
