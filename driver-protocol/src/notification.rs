//! The notifications host and driver send each other, one type each (method name and params).

use crate::calls::{CancelParams, EnvironmentParams, MadeParams, ProgressParams};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A notification: a method name with its parameter type; nobody answers it.
pub trait Notification {
    /// The JSON-RPC method name.
    const METHOD: &'static str;
    /// What travels.
    type Params: Serialize + DeserializeOwned + Send + Sync + 'static;
}

macro_rules! notifications {
    ($($(#[$doc:meta])* $name:ident = $method:literal ($params:ty);)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub enum $name {}
            impl Notification for $name {
                const METHOD: &'static str = $method;
                type Params = $params;
            }
        )*
    };
}

notifications! {
    /// Driver to host: progress of a call, for the user.
    Progress = "progress" (ProgressParams);
    /// Driver to host: something now exists (a VM right after its clone task), with the config
    /// that finds it. The host stores it at once, so an interrupted create can be undone.
    Made = "made" (MadeParams);
    /// Host to driver: stop working on a request and answer it (as LSP's `$/cancelRequest`).
    Cancel = "$/cancel" (CancelParams);
    /// Host to driver, once, right after the handshake: the values of the environment variables
    /// the driver declared ([`crate::DriverInfo::env`]) that are set where the host runs. A
    /// driver starts with a minimal environment; this is how the rest reaches it.
    Environment = "$/environment" (EnvironmentParams);
}
