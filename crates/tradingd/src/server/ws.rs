//! `GET /api/v1/ws`: the socket's JSON-RPC 2.0 protocol over a WebSocket,
//! for remote frontends — every method, and `streams.subscribe` /
//! `unsubscribe` to the catalogue's topics with the socket's event shapes
//! and lag notices, one text message per frame.
//!
//! The token (an access token or a personal one) comes with the upgrade —
//! `Authorization: Bearer …`, or for browsers (which cannot set headers)
//! the subprotocols `bearer, <token>` (answered with `bearer`) — or as the
//! first message, `{"token": "…"}`, within 10 s. The connection is pinged
//! every `streams.heartbeat_ms`, its outgoing queue is bounded (a slow
//! reader gets the socket's lag notice, never unbounded memory), and it is
//! closed when its token expires, or its user is disabled or changed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::http::header;
use axum::response::Response;
use tokio::sync::mpsc;
use tradedesk_core::api::{ApiError, Caller};

use super::rpc::Rpc;
use crate::services::auth::Auth;
use crate::services::sessions::Outbound;

/// The token of an `Authorization: Bearer …` header.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The token of an upgrade request.
fn token(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(t) = bearer(headers) {
        return Some((t.to_owned(), false));
    }
    let protocols: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .collect();
    let at = protocols.iter().position(|p| p == "bearer")?;
    protocols
        .get(at.saturating_add(1))
        .map(|t| (t.clone(), true))
}

/// Who is on the other end, and what keeps the link valid.
pub(super) struct Link {
    pub(super) caller: Caller,
    check: Check,
}

enum Check {
    /// An access token: until it expires, while its user stays as it was.
    Access {
        user_id: u64,
        issued_ms: i64,
        expires_s: u64,
    },
    /// A personal access token: while it is live (checked at every ping).
    Personal(String),
}

/// Who a bearer token (access or personal) stands for, checked against
/// the user as it is now — for an HTTP request or a WebSocket — or why not.
pub(super) fn open(rpc: &Rpc, token: &str, peer: SocketAddr) -> Result<Link, ApiError> {
    let ip = Some(peer.ip());
    if token.starts_with(crate::services::auth::PAT_PREFIX) {
        let caller = rpc
            .ctx
            .blocking(|ctx| ctx.auth.pat_caller(&ctx.store(), token, ip, ctx.now()))?;
        return Ok(Link {
            caller,
            check: Check::Personal(token.to_owned()),
        });
    }
    let auth = &rpc.ctx.auth;
    let (user_id, issued_ms, expires_s) = auth.verify_access(token)?;
    // Known users are checked in memory; the first request of a user, or
    // the first after it changed, reads it from the store.
    let user = match auth.cached(user_id) {
        Some(u) => Some(u),
        None => rpc
            .ctx
            .blocking(|ctx| ctx.auth.load(&ctx.store(), user_id))?,
    };
    let caller = Auth::caller_for(user.as_deref(), issued_ms, ip)?;
    Ok(Link {
        caller,
        check: Check::Access {
            user_id,
            issued_ms,
            expires_s,
        },
    })
}

/// Whether the link still stands.
fn still_valid(rpc: &Rpc, link: &Link) -> bool {
    match &link.check {
        // A user dropped from memory by a change is read again: a change
        // (disabled, new role or password) must end the link, not let it
        // live until its token expires.
        Check::Access {
            user_id, issued_ms, ..
        } => {
            let user = match rpc.ctx.auth.cached(*user_id) {
                Some(u) => Some(u),
                None => rpc
                    .ctx
                    .blocking(|ctx| ctx.auth.load(&ctx.store(), *user_id))
                    .ok()
                    .flatten(),
            };
            Auth::caller_for(user.as_deref(), *issued_ms, None).is_ok()
        }
        Check::Personal(token) => rpc
            .ctx
            .blocking(|ctx| ctx.auth.pat_caller(&ctx.store(), token, None, ctx.now()))
            .is_ok(),
    }
}

/// How long a connection without a token on its upgrade has to send one.
const FIRST_MESSAGE: Duration = Duration::from_secs(10);

fn close(why: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: 4001,
        reason: why.to_owned().into(),
    }))
}

/// The upgrade. With a token on it (`Authorization`, or the `bearer`
/// subprotocol) the token is checked first and a bad one is an HTTP error;
/// without, the first message must be `{"token": "…"}` within 10 s, which
/// is answered with an `auth.authenticated` notification (or a close).
pub fn upgrade(
    rpc: Arc<Rpc>,
    ws: WebSocketUpgrade,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if let Some((token, via_protocol)) = token(headers) {
        let link = open(&rpc, &token, peer)?;
        let ws = if via_protocol {
            ws.protocols(["bearer"])
        } else {
            ws
        };
        return Ok(ws.on_upgrade(move |socket| serve(socket, rpc, link)));
    }
    Ok(ws.on_upgrade(move |mut socket| async move {
        let first = tokio::time::timeout(FIRST_MESSAGE, socket.recv()).await;
        let token = match first {
            Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<serde_json::Value>(t.as_str())
                .ok()
                .and_then(|v| v["token"].as_str().map(str::to_owned)),
            _ => None,
        };
        let Some(token) = token else {
            let _ = socket.send(close("send {\"token\": \"…\"} first")).await;
            return;
        };
        match open(&rpc, &token, peer) {
            Ok(link) => {
                let hello = serde_json::json!({
                    "jsonrpc": "2.0",
                    "method": "auth.authenticated",
                    "params": { "user": link.caller.user, "scope": link.caller.scope },
                });
                if socket
                    .send(Message::Text(hello.to_string().into()))
                    .await
                    .is_ok()
                {
                    serve(socket, rpc, link).await;
                }
            }
            Err(e) => {
                let _ = socket.send(close(&e.message)).await;
            }
        }
    }))
}

async fn serve(mut socket: WebSocket, rpc: Arc<Rpc>, link: Link) {
    let mut caller = link.caller.clone();
    let ctx = Arc::clone(&rpc.ctx);
    let (tx, mut rx) = mpsc::channel::<Outbound>(ctx.config.streams.buffer.min(4096));
    let session = ctx.sessions.open(tx, caller.owner_filter());
    caller.connection = Some(session.id);
    let heartbeat = ctx.config.streams.heartbeat;
    let mut ping = tokio::time::interval(heartbeat);
    let now_s = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let expires_s = match link.check {
        Check::Access { expires_s, .. } => expires_s,
        // A personal token's life is checked at every ping.
        Check::Personal(_) => u64::MAX,
    };
    let expiry = tokio::time::sleep(Duration::from_secs(
        expires_s.saturating_sub(now_s).min(365 * 86_400),
    ));
    tokio::pin!(expiry);
    let shutdown = ctx.shutdown.clone();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
            () = &mut expiry => {
                let _ = socket.send(close("the access token expired")).await;
                break;
            }
            _ = ping.tick() => {
                // The user (or the personal token) as it is now: disabled,
                // changed or revoked ends the link.
                if !still_valid(&rpc, &link) {
                    let _ = socket.send(close("the user was disabled or changed")).await;
                    break;
                }
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
            out = rx.recv() => {
                let Some(out) = out else { break };
                let text = String::from_utf8_lossy(out.as_bytes()).trim_end().to_owned();
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            msg = socket.recv() => {
                let Some(Ok(msg)) = msg else { break };
                let frame = match msg {
                    Message::Text(t) => t.as_bytes().to_vec(),
                    Message::Binary(b) => b.to_vec(),
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                session.touch();
                if let Some(resp) = rpc.handle_frame(&caller, &frame).await
                    && socket.send(Message::Text(resp.into())).await.is_err()
                {
                    break;
                }
            }
        }
    }
    ctx.sessions.close(session.id);
}
