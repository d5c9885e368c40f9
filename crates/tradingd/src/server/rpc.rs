//! JSON-RPC 2.0 over any line transport: one frame in, at most one frame
//! out. Batches are limited; notifications get no response.

use std::sync::Arc;

use tradedesk_core::api::jsonrpc::{Frame, Id, Incoming, Response, parse_frame};
use tradedesk_core::api::{ApiError, Caller, ErrorCode};

use super::dispatch::Dispatcher;
use crate::context::Ctx;

pub struct Rpc {
    pub dispatcher: Dispatcher<Ctx>,
    pub ctx: Arc<Ctx>,
    pub max_batch: usize,
}

impl Rpc {
    /// Handles one frame (without its newline); returns the response line
    /// to send, if any (without a newline).
    pub async fn handle_frame(&self, caller: &Caller, line: &[u8]) -> Option<String> {
        match parse_frame(line) {
            Err(e) => Some(Response::encode(&Id::null(), &Err(e))),
            Ok(Frame::Single(raw)) => self.handle_one(caller, raw).await,
            Ok(Frame::Batch(items)) => {
                if items.is_empty() {
                    let e =
                        ApiError::new(ErrorCode::InvalidRequest, "invalid request: empty batch");
                    return Some(Response::encode(&Id::null(), &Err(e)));
                }
                if items.len() > self.max_batch {
                    let e = ApiError::new(
                        ErrorCode::LimitExceeded,
                        format!(
                            "batch of {} requests exceeds rpc.max_batch ({})",
                            items.len(),
                            self.max_batch
                        ),
                    )
                    .with_data(
                        serde_json::json!({ "limit": "rpc.max_batch", "max": self.max_batch }),
                    );
                    return Some(Response::encode(&Id::null(), &Err(e)));
                }
                let mut out = Vec::with_capacity(items.len());
                for raw in items {
                    if let Some(resp) = self.handle_one(caller, raw).await {
                        out.push(resp);
                    }
                }
                if out.is_empty() {
                    None
                } else {
                    Some(format!("[{}]", out.join(",")))
                }
            }
        }
    }

    async fn handle_one(
        &self,
        caller: &Caller,
        raw: &serde_json::value::RawValue,
    ) -> Option<String> {
        let req = match Incoming::validate(raw) {
            Ok(req) => req,
            Err((id, e)) => return Some(Response::encode(&id, &Err(e))),
        };
        let outcome = self
            .dispatcher
            .call(&self.ctx, caller.clone(), &req.method, req.params)
            .await;
        if let Err(e) = &outcome {
            tracing::debug!(method = %req.method, code = e.code, error = %e.message, "request failed");
        }
        req.id.map(|id| Response::encode(&id, &outcome))
    }
}
