//! Method handlers, one file per method group. Each implements
//! `Handle<Method>` for [`Ctx`](crate::context::Ctx) and knows nothing of
//! the transport that carried the call.

mod backtests;
mod bots;
mod cache;
pub(crate) mod jobs;
pub(crate) mod market;
mod orders;
mod risk;
mod streams;
mod system;

use tradedesk_core::api::ApiError;

/// Bad input, naming the field (also in `data.field` for forms).
pub(crate) fn field_error(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_params(format!("invalid params: field `{field}`: {message}"))
        .with_data(serde_json::json!({ "field": field }))
}
