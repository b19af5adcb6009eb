//! The one error type of capme-core.
//!
//! Every message names the field or path and the value that was wrong, so that the CLI, the
//! Python binding and the C ABI can pass it on unchanged.

use std::path::PathBuf;

/// Result alias used throughout capme-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in capme-core.
///
/// The variants are grouped by who must act: [`Error::InvalidQuery`] is the caller's input,
/// [`Error::Io`] and [`Error::Format`] are the store's, [`Error::NoPackets`] is an empty result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A query or option was invalid: `field` names it, `value` is what was given.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidQuery {
        /// The name of the field as the user typed it (e.g. `stime`, `sip`).
        field: &'static str,
        /// The offending value, verbatim.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// An I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A capture file that is not a readable pcap/pcapng at a byte offset.
    #[error("{path}: corrupt capture at byte {offset}: {reason}")]
    Format {
        /// The capture file.
        path: PathBuf,
        /// Byte offset in the file where the problem was found.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A store root that does not exist or is not a directory.
    #[error("store root {path}: {reason}")]
    Store {
        /// The root as given.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// The search was cancelled through its cancel flag (e.g. Ctrl-C in Python).
    #[error("cancelled")]
    Cancelled,
    /// The query matched no packet.
    #[error("no packet matched {flow} between {window}")]
    NoPackets {
        /// Human description of the flow.
        flow: String,
        /// Human description of the window.
        window: String,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidQuery`].
    pub fn invalid(
        field: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidQuery {
            field,
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A short stable name of the error kind: `invalid`, `io`, `format`, `store`, `nopackets`.
    /// Used for exit codes, Tcl error codes and Python exception classes.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::InvalidQuery { .. } => "invalid",
            Error::Io { .. } => "io",
            Error::Format { .. } => "format",
            Error::Store { .. } => "store",
            Error::NoPackets { .. } => "nopackets",
            Error::Cancelled => "cancelled",
        }
    }
}
