//! Method handlers, one file per method group, named as the catalogue's
//! `core::api` modules. Each implements
//! `Handle<Method>` for [`Ctx`](crate::context::Ctx) and knows nothing of
//! the transport that carried the call.

mod accounts;
mod analytics;
mod auth;
mod backtests;
mod bots;
mod cache;
mod data;
pub(crate) mod jobs;
pub(crate) mod market;
mod orders;
mod positions;
mod risk;
mod schedules;
mod strategies;
mod streams;
mod system;
mod trades;
mod users;
