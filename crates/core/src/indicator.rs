//! Streaming technical indicators: the `tradedesk-indicators` crate, the
//! one implementation shared with WebAssembly strategies (through the
//! SDK), so a user strategy's averages are the built-ins' to the bit.

pub use tradedesk_indicators::*;
