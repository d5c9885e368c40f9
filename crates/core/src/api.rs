//! The method catalogue: every operation and stream the daemon offers,
//! declared once.
//!
//! JSON-RPC dispatch, the HTTP routes, the OpenAPI document, `tradectl rpc
//! list` and the conformance test are all generated from the lists in
//! [`catalogue`]. A method added there without a handler in the daemon does
//! not compile, because the daemon's context must implement [`Handlers`],
//! whose supertraits are one [`Handle`] per method.

pub mod accounts;
pub mod analytics;
pub mod auth;
pub mod backtests;
pub mod bots;
pub mod cache;
mod catalogue;
pub mod data;
mod error;
pub mod jobs;
pub mod jsonrpc;
pub mod market;
mod method;
pub mod openapi;
pub mod orders;
pub mod paging;
pub mod positions;
pub mod risk;
pub mod schedules;
pub mod strategies;
pub mod streams;
pub mod system;
pub mod trades;
pub mod users;

pub use catalogue::{
    Handlers, MethodDescriptor, TopicDescriptor, Visitor, method_descriptors, method_names,
    method_routes, params_schema, topic_descriptors, topic_names, visit_methods,
};
pub use error::{ApiError, ErrorCode, ErrorDescriptor, serde_field};
pub use method::{
    Audience, Caller, Deleted, Empty, Everyone, Handle, Method, Owners, Scope, Topic, Transport,
    Verb,
};
