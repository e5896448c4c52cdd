//! Go's `encoding/gob`, as much of it as libmachine's plugins speak: every value gob can carry
//! decodes (into [`Value`], typed by the stream's own type definitions), and the values a host
//! sends (empty structs, byte slices, strings, whole numbers, slices, maps, interfaces and
//! structs of those) encode.
//!
//! A gob stream is a sequence of messages, each a byte count and then either a type definition
//! (a negative type id and a `wireType`) or a value (its type id and its encoding). Type
//! definitions travel once per stream, before the first value that needs them, so one
//! [`Decoder`] and one [`Encoder`] serve a whole connection. Interface values carry the name
//! their concrete type was registered under in Go (`*mcnflag.StringFlag`, `string`,
//! `[]string`), which the receiving program must know.
//!
//! Everything read is bounded: a message over [`MAX_MESSAGE`] bytes, nesting deeper than
//! [`MAX_DEPTH`] or a count larger than what is left of the message is an error, never an
//! allocation.

mod decode;
mod encode;
mod value;
mod wire;

pub use decode::Decoder;
pub use encode::Encoder;
pub use value::{Iface, Type, Value};

/// The largest message read or written (Go's own limit is 1 GiB; a plugin's answers are
/// kilobytes). Decoded, a message of this size takes at most some 40 times its size.
pub const MAX_MESSAGE: usize = 4 << 20;
/// The deepest nesting of values decoded.
pub const MAX_DEPTH: usize = 64;

/// A gob stream that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum GobError {
    /// The bytes are not gob, or not what their type definitions say.
    #[error("malformed gob data: {0}")]
    Malformed(String),
    /// A message over the size limit.
    #[error("a gob message of {size} bytes is over the limit of {limit} bytes")]
    TooBig {
        /// Its announced size.
        size: u64,
        /// [`MAX_MESSAGE`].
        limit: usize,
    },
    /// The connection failed or ended.
    #[error("reading gob data: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests;
