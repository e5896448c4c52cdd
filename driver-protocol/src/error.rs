//! Driver errors with a machine-readable kind, and their mapping to and from JSON-RPC errors.

use crate::message::{codes, RpcError};
use serde::{Deserialize, Serialize};

/// What went wrong, in a form a program can branch on. Travels as `error.data.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The driver cannot do this at all (e.g. `stop` on the generic driver).
    NotSupported,
    /// The machine, VM or inventory object does not exist.
    NotFound,
    /// An option is missing or has a bad value.
    InvalidOption,
    /// The target (host, vCenter) could not be reached.
    Unreachable,
    /// Credentials were refused.
    AuthFailed,
    /// Something did not happen in time.
    Timeout,
    /// The object already exists.
    AlreadyExists,
    /// The host cancelled the call; what it had made is undone.
    Cancelled,
    /// The message itself was malformed (bad JSON, unknown method, bad params).
    Protocol,
    /// Anything else.
    Internal,
}

impl ErrorKind {
    /// The kind's name on the wire (`not-supported`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotSupported => "not-supported",
            ErrorKind::NotFound => "not-found",
            ErrorKind::InvalidOption => "invalid-option",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::AuthFailed => "auth-failed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::AlreadyExists => "already-exists",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a driver returns: a kind and a message meant for the user.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DriverError {
    /// What went wrong, for programs.
    pub kind: ErrorKind,
    /// What went wrong, for people.
    pub message: String,
}

impl DriverError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        DriverError {
            kind,
            message: message.into(),
        }
    }
    /// "DRIVER driver does not support OPERATION" is added by the host; this names the operation.
    pub fn not_supported(operation: &str) -> Self {
        Self::new(
            ErrorKind::NotSupported,
            format!("this driver does not support {operation}"),
        )
    }
    /// An option is missing or wrong.
    pub fn invalid_option(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidOption, message)
    }
    /// The machine or an object it needs does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// The target could not be reached.
    pub fn unreachable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unreachable, message)
    }
    /// Credentials were refused.
    pub fn auth_failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AuthFailed, message)
    }
    /// Something did not happen in time.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }
    /// Anything else.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// The call was cancelled by the host.
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Cancelled, message)
    }

    /// The JSON-RPC form: protocol errors keep JSON-RPC's own codes.
    pub fn to_rpc(&self) -> RpcError {
        RpcError {
            code: codes::DRIVER_ERROR,
            message: self.message.clone(),
            data: Some(serde_json::json!({ "kind": self.kind })),
        }
    }

    /// Reads a JSON-RPC error back. Standard JSON-RPC codes become [`ErrorKind::Protocol`]; a
    /// driver error with an unknown or missing kind becomes [`ErrorKind::Internal`].
    pub fn from_rpc(e: &RpcError) -> Self {
        let kind = match e.code {
            codes::PARSE_ERROR
            | codes::INVALID_REQUEST
            | codes::METHOD_NOT_FOUND
            | codes::INVALID_PARAMS => ErrorKind::Protocol,
            _ => e
                .data
                .as_ref()
                .and_then(|d| d.get("kind"))
                .and_then(|k| serde_json::from_value(k.clone()).ok())
                .unwrap_or(ErrorKind::Internal),
        };
        DriverError::new(kind, e.message.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_survives_the_wire() {
        for kind in [
            ErrorKind::NotSupported,
            ErrorKind::NotFound,
            ErrorKind::InvalidOption,
            ErrorKind::Unreachable,
            ErrorKind::AuthFailed,
            ErrorKind::Timeout,
            ErrorKind::AlreadyExists,
            ErrorKind::Cancelled,
            ErrorKind::Internal,
        ] {
            let e = DriverError::new(kind, "boom");
            let wire = serde_json::to_string(&e.to_rpc()).unwrap();
            assert!(wire.contains(kind.as_str()), "{wire}");
            let back: RpcError = serde_json::from_str(&wire).unwrap();
            assert_eq!(DriverError::from_rpc(&back), e);
        }
    }

    #[test]
    fn unknown_kind_and_standard_codes() {
        let e = RpcError {
            code: -32000,
            message: "x".into(),
            data: Some(serde_json::json!({"kind": "exploded"})),
        };
        assert_eq!(DriverError::from_rpc(&e).kind, ErrorKind::Internal);
        let e = RpcError {
            code: codes::METHOD_NOT_FOUND,
            message: "no such method".into(),
            data: None,
        };
        assert_eq!(DriverError::from_rpc(&e).kind, ErrorKind::Protocol);
    }
}
