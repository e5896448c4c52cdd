//! The calls a host makes on a driver, one type each: the method's name, its parameters and its
//! result travel together, so a host cannot pair a method with the wrong types (as lsp-types'
//! `Request` trait does it). [`crate::Client::request`] takes one of these.
//!
//! Every call after [`Initialize`] names the machine and carries the driver's config: the JSON the
//! driver returned from [`SetConfig`] (and possibly updated since), which the host stores. Drivers
//! write no files: whatever a driver wants kept goes into its config.
//!
//! The rules for each call (what it may assume, when it returns, what it answers) are in
//! `docs/drivers.md`; `machine-driver-check` checks them.

use crate::calls::*;
use crate::schema::{DriverInfo, InitializeParams};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A call: a method name with its parameter and result types.
pub trait Request {
    /// The JSON-RPC method name.
    const METHOD: &'static str;
    /// What the host sends.
    type Params: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// What the driver answers.
    type Result: Serialize + DeserializeOwned + Send + Sync + 'static;
}

macro_rules! requests {
    ($($(#[$doc:meta])* $name:ident = $method:literal ($params:ty) -> $result:ty;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub enum $name {}
            impl Request for $name {
                const METHOD: &'static str = $method;
                type Params = $params;
                type Result = $result;
            }
        )*
        /// Every method name, in the order of the lifecycle.
        pub const METHODS: &[&str] = &[$($method),*];
    };
}

requests! {
    /// The handshake: the host's protocol version in, the driver's name, version, capabilities
    /// and option schema out. A driver of another protocol version answers an error of kind
    /// `protocol` naming both.
    Initialize = "initialize" (InitializeParams) -> DriverInfo;
    /// Turns the user's option values (the schema's defaults applied by the host) into the
    /// driver's config for a machine. Makes nothing.
    SetConfig = "set_config" (SetConfigParams) -> ConfigResult;
    /// Checks that create can work (credentials, inventory, quotas) before anything is made.
    PreCreateCheck = "pre_create_check" (MachineParams) -> ();
    /// Makes the host (or VM), reporting it with a `made` notification as soon as it exists.
    Create = "create" (CreateParams) -> CreateResult;
    /// Takes a machine that exists already (made by another tool, e.g. Docker Machine) under
    /// management: finds it and answers the config that reaches it. Makes and changes nothing.
    Adopt = "adopt" (SetConfigParams) -> ConfigResult;
    /// Destroys what create made, also after an interrupted create (found by the creation id).
    /// Something already gone is done, not an error.
    Remove = "remove" (MachineParams) -> ConfigResult;
    /// Powers the machine on; returns once it is booting (the host waits for SSH and Docker).
    Start = "start" (MachineParams) -> ConfigResult;
    /// Shuts the machine down; returns once it is off.
    Stop = "stop" (MachineParams) -> ConfigResult;
    /// Reboots the machine; returns once it has gone down and is booting again.
    Restart = "restart" (MachineParams) -> ConfigResult;
    /// Powers the machine off at once.
    Kill = "kill" (MachineParams) -> ConfigResult;
    /// The machine's state.
    GetState = "state" (MachineParams) -> StateResult;
    /// How to reach the machine: IP, SSH endpoint and Docker URL in one answer.
    GetAccess = "access" (MachineParams) -> Access;
}
