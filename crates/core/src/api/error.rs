//! `ApiError`, the one error every method returns, and the table of error
//! codes with their HTTP statuses.
//!
//! Invariant: each code appears once in [`error_codes!`], with one JSON-RPC
//! number and one HTTP status; nothing else maps codes to statuses.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $code:literal, $name:literal, $status:literal; )*) => {
        /// The closed set of error kinds, with their wire numbers.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The JSON-RPC `error.code` number.
            pub const fn code(self) -> i32 {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The stable snake_case name used in logs and documentation.
            pub const fn name(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name,)* }
            }

            /// The HTTP status the REST transport answers with.
            pub const fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            fn doc(self) -> &'static str {
                match self { $(ErrorCode::$variant => concat!($($doc),*).trim_ascii(),)* }
            }

            pub fn from_code(code: i32) -> Option<ErrorCode> {
                match code { $($code => Some(ErrorCode::$variant),)* _ => None }
            }
        }
    };
}

error_codes! {
    /// The frame is not valid JSON (or not valid UTF-8).
    ParseError = -32700, "parse_error", 400;
    /// Valid JSON that is not a JSON-RPC 2.0 request.
    InvalidRequest = -32600, "invalid_request", 400;
    /// No method of that name in the catalogue.
    MethodNotFound = -32601, "method_not_found", 404;
    /// The params do not match the method's schema; the message names the field.
    InvalidParams = -32602, "invalid_params", 400;
    /// A fault inside the daemon; the details are in its log, never on the wire.
    Internal = -32603, "internal", 500;
    /// A pre-trade risk check refused the order.
    RiskRejected = -32001, "risk_rejected", 422;
    /// A rate limit refused the request; retry later.
    Throttled = -32002, "throttled", 429;
    /// Trading is halted for the account or bot.
    TradingHalted = -32003, "trading_halted", 423;
    /// The object cannot move from its current state by this action.
    IllegalTransition = -32004, "illegal_transition", 409;
    /// An order with that client order id already exists.
    DuplicateClientId = -32005, "duplicate_client_id", 409;
    /// No object with that id.
    NotFound = -32006, "not_found", 404;
    /// No valid credentials were presented.
    Unauthenticated = -32007, "unauthenticated", 401;
    /// The caller's role does not allow this method.
    Forbidden = -32008, "forbidden", 403;
    /// The request conflicts with the current state of the object.
    Conflict = -32009, "conflict", 409;
    /// The venue could not be reached or refused to answer.
    VenueUnavailable = -32010, "venue_unavailable", 503;
    /// The request reached the venue but its outcome is not known yet.
    OutcomeUnknown = -32011, "outcome_unknown", 504;
    /// A size limit of the transport was exceeded (frame, batch, page).
    LimitExceeded = -32012, "limit_exceeded", 413;
    /// The request did not arrive in time.
    Timeout = -32013, "timeout", 408;
    /// The daemon is at a capacity limit (connections, queues); retry later.
    Overloaded = -32014, "overloaded", 503;
    /// The daemon is shutting down and accepts no new work.
    ShuttingDown = -32015, "shutting_down", 503;
    /// The account's free balance does not cover the order.
    InsufficientFunds = -32016, "insufficient_funds", 422;
}

/// One row of the error table, as published by `system.methods`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDescriptor {
    pub code: i32,
    pub name: String,
    pub http_status: u16,
    pub description: String,
}

impl ErrorDescriptor {
    pub fn all() -> Vec<ErrorDescriptor> {
        ErrorCode::ALL
            .iter()
            .map(|c| ErrorDescriptor {
                code: c.code(),
                name: c.name().to_owned(),
                http_status: c.http_status(),
                description: c.doc().to_owned(),
            })
            .collect()
    }
}

/// The error of every method, on every transport.
///
/// `code` stays a plain number on the wire so that a client built against an
/// older catalogue still decodes errors it does not know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApiError {
    pub code: i32,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code: code.code(),
            message: message.into(),
            data: None,
        }
    }

    #[must_use]
    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = Some(data);
        self
    }

    /// The request field at fault, when the error names one.
    pub fn field(&self) -> Option<&str> {
        self.data.as_ref()?.get("field")?.as_str()
    }

    /// The known kind of this error, if the code is in the table.
    pub fn kind(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(self.code)
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParams, message)
    }

    /// Bad input, naming the field (also in `data.field`, for forms).
    pub fn bad_field(field: &str, message: impl fmt::Display) -> Self {
        ApiError::invalid_params(format!("invalid params: field `{field}`: {message}"))
            .with_data(serde_json::json!({ "field": field }))
    }

    pub fn not_found(what: &str, id: impl fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} `{id}` not found"))
    }

    /// An internal fault: the caller sees only a reference to the log.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// Builds the `invalid_params` error for a serde failure, naming the
    /// path of the field at fault (`params.topics[0]`).
    /// Decodes a method's params from JSON as the daemon's dispatcher
    /// does, so a client refuses what the daemon would, naming the field.
    pub fn decode_params<P: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<P, Self> {
        serde_path_to_error::deserialize(v).map_err(|e| Self::from_params_error(&e))
    }

    pub fn from_params_error(err: &serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = err.path().to_string();
        let inner = err.inner().to_string();
        // serde_json appends " at line L column C", which means nothing once
        // the params were split out of the frame.
        let inner = match inner.find(" at line ") {
            Some(i) => &inner[..i],
            None => &inner,
        };
        let message = if path == "." || path.is_empty() {
            format!("invalid params: {inner}")
        } else {
            format!("invalid params: field `{path}`: {inner}")
        };
        Self::invalid_params(message).with_data(serde_json::json!({ "field": path }))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            Some(kind) => write!(f, "{} ({}): {}", kind.name(), self.code, self.message),
            None => write!(f, "error {}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for ApiError {}

/// The field a serde message names (`unknown field \`x\``, `missing field
/// \`x\``), if it names one: what an error's `field` should point at.
pub fn serde_field(message: &str) -> Option<&str> {
    message
        .split('`')
        .nth(1)
        .filter(|_| message.contains("field"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_names_and_statuses_are_unique_and_round_trip() {
        let mut codes = HashSet::new();
        let mut names = HashSet::new();
        for &c in ErrorCode::ALL {
            assert!(codes.insert(c.code()), "duplicate code {}", c.code());
            assert!(names.insert(c.name()), "duplicate name {}", c.name());
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
            assert!((400..600).contains(&c.http_status()));
            assert!(!c.doc().is_empty(), "{} has no description", c.name());
        }
        assert_eq!(ErrorCode::from_code(-1), None);
    }

    #[test]
    fn standard_jsonrpc_codes() {
        assert_eq!(ErrorCode::ParseError.code(), -32700);
        assert_eq!(ErrorCode::InvalidRequest.code(), -32600);
        assert_eq!(ErrorCode::MethodNotFound.code(), -32601);
        assert_eq!(ErrorCode::InvalidParams.code(), -32602);
        assert_eq!(ErrorCode::Internal.code(), -32603);
    }

    #[test]
    fn params_error_names_the_field() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct P {
            inner: Inner,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            limit: u32,
        }
        let v = serde_json::json!({ "inner": { "limit": "ten" } });
        let err = serde_path_to_error::deserialize::<_, P>(v).unwrap_err();
        let api = ApiError::from_params_error(&err);
        assert_eq!(api.kind(), Some(ErrorCode::InvalidParams));
        assert!(api.message.contains("`inner.limit`"), "{}", api.message);
        assert!(!api.message.contains("line"), "{}", api.message);
    }
}
