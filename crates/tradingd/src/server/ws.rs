//! `GET /api/v1/ws`: the socket's JSON-RPC 2.0 protocol over a WebSocket,
//! for remote frontends — every method, and `streams.subscribe` /
//! `unsubscribe` to the catalogue's topics with the socket's event shapes
//! and lag notices, one text message per frame.
//!
//! The access token comes with the upgrade: `Authorization: Bearer …`, or
//! for browsers (which cannot set headers) the subprotocols `bearer,
//! <token>` (the server answers with `bearer`). The connection is pinged
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
use crate::services::auth::{Auth, unauthenticated};
use crate::services::sessions::Outbound;

/// The token of an upgrade request.
fn token(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(t) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some((t.trim().to_owned(), false));
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

/// Checks the upgrade's token and answers with the upgrade, or an error.
pub fn upgrade(
    rpc: Arc<Rpc>,
    ws: WebSocketUpgrade,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let (token, via_protocol) = token(headers).ok_or_else(|| {
        unauthenticated("send the access token as `Authorization: Bearer …` or the subprotocols `bearer, <token>`")
    })?;
    let auth = &rpc.ctx.auth;
    let (id, issued_ms, expires_s) = auth.verify_access_full(&token)?;
    let user = match auth.cached(id) {
        Some(u) => Some(u),
        None => rpc.ctx.blocking(|ctx| ctx.auth.load(&ctx.store(), id))?,
    };
    let caller = Auth::caller_for(user.as_deref(), issued_ms, Some(peer.ip()))?;
    let ws = if via_protocol {
        ws.protocols(["bearer"])
    } else {
        ws
    };
    Ok(ws.on_upgrade(move |socket| serve(socket, rpc, caller, id, issued_ms, expires_s)))
}

async fn serve(
    mut socket: WebSocket,
    rpc: Arc<Rpc>,
    mut caller: Caller,
    user_id: u64,
    issued_ms: i64,
    expires_s: u64,
) {
    let ctx = Arc::clone(&rpc.ctx);
    let (tx, mut rx) = mpsc::channel::<Outbound>(ctx.config.streams.buffer.min(4096));
    let session = ctx.sessions.open(tx);
    caller.connection = Some(session.id);
    let heartbeat = ctx.config.streams.heartbeat;
    let mut ping = tokio::time::interval(heartbeat);
    let now_s = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let expiry = tokio::time::sleep(Duration::from_secs(expires_s.saturating_sub(now_s)));
    tokio::pin!(expiry);
    let shutdown = ctx.shutdown.clone();
    let close = |why: &'static str| {
        Message::Close(Some(CloseFrame {
            code: 4001,
            reason: why.into(),
        }))
    };
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
                // The user as it is now: disabled or changed ends the link.
                let user = ctx.auth.cached(user_id);
                if user.is_some_and(|u| Auth::caller_for(Some(&u), issued_ms, None).is_err()) {
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
