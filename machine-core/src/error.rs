//! The library's error type: every variant says what failed and, where it can, what to do.
//!
//! Each domain module has its own error type (ssh, cert, provision, ...) that converts into
//! [`Error`] with `?`.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid file {path}: {message}")]
    InvalidFile { path: PathBuf, message: String },
    // domain errors (one line per module, added by the module's author)
}

impl Error {
    /// Wraps an I/O error with what was being done, e.g. "reading /x/config.json".
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
