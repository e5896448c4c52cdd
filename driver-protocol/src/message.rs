//! JSON-RPC 2.0 messages as plain serde structs: requests, responses and notifications.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A request id. Hosts use numbers; strings are accepted from other implementations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// A number.
    Num(u64),
    /// A string.
    Str(String),
}

/// A call that expects a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// Matches the response to the request.
    pub id: Id,
    /// The method called.
    pub method: String,
    /// The parameters (an object).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub params: Value,
}

/// A message that expects no response (progress, logs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// What the notification is.
    pub method: String,
    /// The parameters (an object).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub params: Value,
}

/// The answer to a [`Request`]: exactly one of `result` and `error`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// `None` only for errors about a message whose id could not be read.
    pub id: Option<Id>,
    /// The result, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    /// JSON-RPC's error code ([`codes`]).
    pub code: i64,
    /// What went wrong, for people.
    pub message: String,
    /// Machine-readable detail: `{"kind": ...}` for driver errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// JSON-RPC's reserved error codes, and the one this protocol uses for driver errors.
pub mod codes {
    /// The line is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON is not a JSON-RPC message.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The parameters do not fit the method.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The handler failed (panicked).
    pub const INTERNAL_ERROR: i64 = -32603;
    /// A driver operation failed; `data.kind` says how.
    pub const DRIVER_ERROR: i64 = -32000;
}

/// Any message on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Message {
    /// A call.
    Request(Request),
    /// An answer.
    Response(Response),
    /// A one-way message.
    Notification(Notification),
}

impl Message {
    /// Parses one line. Distinguishes the three kinds by their fields, as JSON-RPC does.
    pub fn parse(line: &str) -> Result<Message, serde_json::Error> {
        let v: Value = serde_json::from_str(line)?;
        let obj = v.as_object().ok_or_else(|| {
            <serde_json::Error as serde::de::Error>::custom("a JSON-RPC message must be an object")
        })?;
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(serde::de::Error::custom(
                "missing or wrong \"jsonrpc\": expected \"2.0\"",
            ));
        }
        if obj.contains_key("method") {
            if obj.contains_key("id") {
                serde_json::from_value(v).map(Message::Request)
            } else {
                serde_json::from_value(v).map(Message::Notification)
            }
        } else if obj.contains_key("result") || obj.contains_key("error") {
            let has_result = obj.contains_key("result");
            let mut resp: Response = serde_json::from_value(v)?;
            if has_result && resp.result.is_none() {
                // `"result": null` is a successful response with a null result
                resp.result = Some(Value::Null);
            }
            Ok(Message::Response(resp))
        } else {
            Err(serde::de::Error::custom(
                "neither a request, a response nor a notification",
            ))
        }
    }
}

impl Request {
    /// Request `id` of `method`.
    pub fn new(id: u64, method: &str, params: Value) -> Self {
        Request {
            jsonrpc: "2.0".into(),
            id: Id::Num(id),
            method: method.into(),
            params,
        }
    }
}

impl Notification {
    /// A `method` notification.
    pub fn new(method: &str, params: Value) -> Self {
        Notification {
            jsonrpc: "2.0".into(),
            method: method.into(),
            params,
        }
    }
}

impl Response {
    /// A successful answer.
    pub fn ok(id: Id, result: Value) -> Self {
        Response {
            jsonrpc: "2.0".into(),
            id: Some(id),
            result: Some(result),
            error: None,
        }
    }
    /// A failed answer.
    pub fn err(id: Option<Id>, error: RpcError) -> Self {
        Response {
            jsonrpc: "2.0".into(),
            id,
            result: None,
            error: Some(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_each_kind() {
        let r = Message::parse(r#"{"jsonrpc":"2.0","id":1,"method":"state","params":{}}"#).unwrap();
        assert!(matches!(
            r,
            Message::Request(Request { id: Id::Num(1), .. })
        ));
        let n = Message::parse(r#"{"jsonrpc":"2.0","method":"progress","params":{}}"#).unwrap();
        assert!(matches!(n, Message::Notification(_)));
        let ok = Message::parse(r#"{"jsonrpc":"2.0","id":"a","result":null}"#);
        // `result: null` is a valid response
        assert!(matches!(ok, Ok(Message::Response(_))), "{ok:?}");
        let e = Message::parse(r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32000,"message":"x"}}"#)
            .unwrap();
        match e {
            Message::Response(r) => assert_eq!(r.error.unwrap().code, -32000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "not json",
            "[1,2]",
            r#"{"id":1,"method":"x"}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","id":{"a":1},"method":"x"}"#,
        ] {
            assert!(Message::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn round_trips() {
        let req = Request::new(7, "ip", json!({"machine":"a"}));
        let line = serde_json::to_string(&req).unwrap();
        assert_eq!(Message::parse(&line).unwrap(), Message::Request(req));
    }
}
