//! JSON-RPC 2.0 frames as they cross the Unix socket: one message per line.
//!
//! Decoding is split in two steps so that every malformed frame gets the
//! right error: [`parse_frame`] turns bytes into a single request or a batch
//! (parse errors), then [`Incoming::validate`] checks each element's shape
//! (invalid-request errors). The params stay raw until the dispatcher
//! deserializes them into the method's own type.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use super::{ApiError, ErrorCode};

pub const VERSION: &str = "2.0";

/// A request id: a number, a string, or null, echoed back exactly as it
/// was written — an integer above 2^53 (or above any machine integer)
/// stays that integer, it never comes back as a float.
#[derive(Debug, Clone)]
pub struct Id(Box<RawValue>);

impl Id {
    pub fn null() -> Id {
        Id::raw("null")
    }

    pub fn number(n: u64) -> Id {
        Id::raw(&n.to_string())
    }

    /// From JSON text known to be a valid id.
    fn raw(text: &str) -> Id {
        Id(RawValue::from_string(text.to_owned()).unwrap_or_else(|_| {
            // Only ever called with a number or `null`, which are valid JSON.
            Box::<RawValue>::default()
        }))
    }

    /// The id as JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    pub fn is_null(&self) -> bool {
        self.0.get() == "null"
    }

    /// The id when it is an integer a client may have sent.
    pub fn as_u64(&self) -> Option<u64> {
        self.0.get().parse().ok()
    }

    /// Whether the text is an id JSON-RPC allows: a string, a number or null.
    fn allowed(&self) -> bool {
        match self.0.get().as_bytes().first() {
            Some(b'"' | b'-' | b'0'..=b'9') => true,
            Some(b'n') => self.is_null(),
            _ => false,
        }
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Id) -> bool {
        self.get() == other.get()
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        Box::<RawValue>::deserialize(d).map(Id)
    }
}

/// A frame decoded as JSON but not yet checked against JSON-RPC.
pub enum Frame<'a> {
    Single(&'a RawValue),
    Batch(Vec<&'a RawValue>),
}

/// Splits a line into one message or a batch. Invalid UTF-8 and invalid
/// JSON are parse errors.
pub fn parse_frame(line: &[u8]) -> Result<Frame<'_>, ApiError> {
    let text = std::str::from_utf8(line).map_err(|e| {
        ApiError::new(
            ErrorCode::ParseError,
            format!(
                "frame is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    let parse_err =
        |e: serde_json::Error| ApiError::new(ErrorCode::ParseError, format!("invalid JSON: {e}"));
    if text.trim_start().starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(text).map_err(parse_err)?;
        Ok(Frame::Batch(items))
    } else {
        let raw: &RawValue = serde_json::from_str(text).map_err(parse_err)?;
        Ok(Frame::Single(raw))
    }
}

/// The loosest reading of a message, so that shape errors can be reported
/// precisely (and with the id, when one is readable).
#[derive(Deserialize)]
struct Loose<'a> {
    #[serde(default)]
    jsonrpc: Option<serde_json::Value>,
    #[serde(default)]
    method: Option<serde_json::Value>,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Id>,
}

/// Distinguishes `"id": null` (present, `Some(null)`) from no id at all.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Id>, D::Error> {
    Id::deserialize(d).map(Some)
}

/// A message that is a well-formed JSON-RPC 2.0 request or notification.
#[derive(Debug)]
pub struct Incoming<'a> {
    pub method: String,
    /// `None` when the message carried no params (or `null`).
    pub params: Option<&'a RawValue>,
    /// `None` for a notification, which gets no response.
    pub id: Option<Id>,
}

impl<'a> Incoming<'a> {
    /// Checks one message's shape. On error, returns the id to answer with
    /// (null when it could not be read) together with the error.
    pub fn validate(raw: &'a RawValue) -> Result<Incoming<'a>, (Id, ApiError)> {
        let invalid = |id: Id, msg: &str| (id, ApiError::new(ErrorCode::InvalidRequest, msg));
        let loose: Loose<'a> = match serde_json::from_str(raw.get()) {
            Ok(l) => l,
            Err(_) => {
                return Err(invalid(
                    Id::null(),
                    "invalid request: a request must be a JSON object",
                ));
            }
        };
        let id = match loose.id {
            None => None,
            Some(id) if id.allowed() => Some(id),
            Some(_) => {
                return Err(invalid(
                    Id::null(),
                    "invalid request: `id` must be a string, a number or null",
                ));
            }
        };
        let reply_id = id.clone().unwrap_or_else(Id::null);
        match loose.jsonrpc {
            Some(serde_json::Value::String(v)) if v == VERSION => {}
            _ => {
                return Err(invalid(
                    reply_id,
                    "invalid request: `jsonrpc` must be \"2.0\"",
                ));
            }
        }
        let method = match loose.method {
            Some(serde_json::Value::String(m)) => m,
            Some(_) => {
                return Err(invalid(
                    reply_id,
                    "invalid request: `method` must be a string",
                ));
            }
            None => return Err(invalid(reply_id, "invalid request: `method` is missing")),
        };
        let params = loose.params.filter(|p| p.get() != "null");
        if let Some(p) = params
            && !p.get().starts_with('{')
        {
            let err = ApiError::invalid_params(
                "invalid params: `params` must be an object (by-name parameters)",
            );
            return Err((reply_id, err));
        }
        Ok(Incoming { method, params, id })
    }
}

/// A request as a client writes it.
#[derive(Debug, Serialize)]
pub struct Request<'a, P: Serialize> {
    pub jsonrpc: &'static str,
    pub method: &'a str,
    pub params: &'a P,
    pub id: u64,
}

/// A response as the daemon writes it: exactly one of result or error.
#[derive(Debug, Serialize)]
pub struct Response<'a> {
    pub jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a ApiError>,
    pub id: &'a Id,
}

impl Response<'_> {
    /// Serializes a response frame (without the trailing newline).
    pub fn encode(id: &Id, outcome: &Result<Box<RawValue>, ApiError>) -> String {
        let frame = match outcome {
            Ok(result) => Response {
                jsonrpc: VERSION,
                result: Some(result),
                error: None,
                id,
            },
            Err(error) => Response {
                jsonrpc: VERSION,
                result: None,
                error: Some(error),
                id,
            },
        };
        // Serializing these plain structs cannot fail: every field is
        // already valid JSON or a string.
        serde_json::to_string(&frame).unwrap_or_else(|_| {
            r#"{"jsonrpc":"2.0","error":{"code":-32603,"message":"internal: response encoding failed"},"id":null}"#
                .to_owned()
        })
    }
}

/// A notification as the daemon writes it.
#[derive(Debug, Serialize)]
pub struct Notification<'a, P: Serialize> {
    pub jsonrpc: &'static str,
    pub method: &'a str,
    pub params: P,
}

/// Any frame a client reads: a response (has `id`) or a notification (has
/// `method`).
#[derive(Debug, Deserialize)]
pub struct ServerMessage {
    #[serde(default, deserialize_with = "present")]
    pub id: Option<Id>,
    #[serde(default)]
    pub result: Option<Box<RawValue>>,
    #[serde(default)]
    pub error: Option<ApiError>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub params: Option<Box<RawValue>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(text: &str) -> Result<Incoming<'_>, (Id, ApiError)> {
        let Frame::Single(raw) = parse_frame(text.as_bytes()).unwrap() else {
            panic!("batch")
        };
        Incoming::validate(raw)
    }

    #[test]
    fn accepts_requests_and_notifications() {
        let r = validate(r#"{"jsonrpc":"2.0","method":"system.health","id":7}"#).unwrap();
        assert_eq!(r.method, "system.health");
        assert_eq!(r.id.as_ref().map(Id::get), Some("7"));
        assert!(r.params.is_none());
        let n = validate(r#"{"jsonrpc":"2.0","method":"x.y","params":{"a":1}}"#).unwrap();
        assert!(n.id.is_none());
        assert_eq!(n.params.unwrap().get(), r#"{"a":1}"#);
        let null_id = validate(r#"{"jsonrpc":"2.0","method":"x.y","id":null}"#).unwrap();
        assert_eq!(null_id.id, Some(Id::null()));
        // An integer id beyond 2^53, and beyond u64, comes back as written.
        for big in ["9007199254740993", "18446744073709551616123"] {
            let text = format!(r#"{{"jsonrpc":"2.0","method":"x.y","id":{big}}}"#);
            let r = validate(&text).unwrap();
            let id = r.id.unwrap();
            assert_eq!(id.get(), big);
            let out = Response::encode(&id, &Err(ApiError::internal("x")));
            assert!(out.ends_with(&format!(r#""id":{big}}}"#)), "{out}");
        }
    }

    #[test]
    fn rejects_bad_shapes_with_the_right_code() {
        let cases: &[(&str, ErrorCode, &str)] = &[
            (
                r#"{"method":"a.b","id":1}"#,
                ErrorCode::InvalidRequest,
                "jsonrpc",
            ),
            (
                r#"{"jsonrpc":"1.0","method":"a.b","id":1}"#,
                ErrorCode::InvalidRequest,
                "jsonrpc",
            ),
            (
                r#"{"jsonrpc":"2.0","id":1}"#,
                ErrorCode::InvalidRequest,
                "method",
            ),
            (
                r#"{"jsonrpc":"2.0","method":5,"id":1}"#,
                ErrorCode::InvalidRequest,
                "method",
            ),
            (
                r#"{"jsonrpc":"2.0","method":"a.b","id":[1]}"#,
                ErrorCode::InvalidRequest,
                "id",
            ),
            (
                r#"{"jsonrpc":"2.0","method":"a.b","params":[1],"id":1}"#,
                ErrorCode::InvalidParams,
                "params",
            ),
            ("42", ErrorCode::InvalidRequest, "object"),
            (r#""text""#, ErrorCode::InvalidRequest, "object"),
        ];
        for (text, code, word) in cases {
            let (_, err) = validate(text).unwrap_err();
            assert_eq!(err.kind(), Some(*code), "{text}");
            assert!(err.message.contains(word), "{text}: {}", err.message);
        }
    }

    #[test]
    fn echoes_the_id_when_it_is_readable() {
        let (id, _) = validate(r#"{"jsonrpc":"2.0","id":"abc"}"#).unwrap_err();
        assert_eq!(id.get(), r#""abc""#);
    }

    #[test]
    fn parse_errors() {
        for bad in [&b"{not json"[..], b"\xff\xfe{}", b"", b"[1,"] {
            let err = parse_frame(bad).err().expect("must fail");
            assert_eq!(err.kind(), Some(ErrorCode::ParseError), "{bad:?}");
        }
        assert!(matches!(parse_frame(b" [ {}, {} ] ").unwrap(), Frame::Batch(v) if v.len() == 2));
    }
}
