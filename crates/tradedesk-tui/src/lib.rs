//! The tradedesk dashboard as a library: the model ([`app`], [`state`],
//! [`view`]), drawing ([`ui`]) and the daemon link ([`connection`]). The
//! `tradedesk` binary wires them to a terminal; benches drive them directly.

pub mod app;
pub mod connection;
pub mod state;
pub mod ui;
pub mod view;
