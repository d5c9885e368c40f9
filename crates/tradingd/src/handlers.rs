//! Method handlers, one file per method group. Each implements
//! `Handle<Method>` for [`Ctx`](crate::context::Ctx) and knows nothing of
//! the transport that carried the call.

mod bots;
pub(crate) mod jobs;
mod market;
mod orders;
mod risk;
mod streams;
mod system;
