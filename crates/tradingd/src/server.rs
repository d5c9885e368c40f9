//! Transports. Each decodes its own framing and hands calls to the one
//! [`dispatch::Dispatcher`], built from the catalogue.

pub mod dispatch;
pub mod files;
pub mod http;
pub mod rate;
pub mod rpc;
pub mod tls;
pub mod unix;
pub mod ws;
