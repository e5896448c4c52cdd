//! The bridge from machine's driver protocol to Docker Machine's driver plugins.
//!
//! Docker Machine's drivers (`docker-machine-driver-NAME`, and the built-in ones served by the
//! `docker-machine` binary itself) are Go programs that serve libmachine's driver interface
//! over Go's `net/rpc` on a loopback port, encoded with `encoding/gob`. This crate speaks that
//! ([`gob`], [`rpc`], [`plugin`]) and serves it as a machine driver ([`Bridge`]): the plugin's
//! create flags become the driver's options, and the plugin's whole state (its `GetConfigRaw`
//! JSON) is the machine's driver config, given back with `SetConfigRaw` before every call. A
//! plugin process lives for one call.

pub mod gob;
pub mod plugin;
pub mod rpc;

/// `text` with control characters, and the invisible ones that reorder or hide text (bidi
/// controls, zero-width characters), shown escaped: a plugin's output reaches a terminal.
pub fn shown(text: &str) -> String {
    let invisible = |c: char| matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}');
    text.chars()
        .flat_map(|c| {
            if c.is_control() || invisible(c) {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}
pub mod bridge;
pub mod flags;

pub use bridge::Bridge;
