//! The one error type of capme-core.
//!
//! Every message names the field or path and the value that was wrong, so that the CLI, the
//! Python binding and the C ABI can pass it on unchanged.

use std::path::PathBuf;

/// Result alias used throughout capme-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in capme-core.
///
/// The variants are grouped by who must act: [`Error::InvalidQuery`] is the caller's input;
/// [`Error::Io`], [`Error::Format`] and [`Error::Store`] are the store's (or the output's);
/// [`Error::Cancelled`] is the caller's cancel; [`Error::NoPackets`] is an empty result.
/// [`Error::kind`] gives the [`ErrorKind`] each binding maps from.
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
    /// A pivot's record was not found (a Zeek uid in no `conn.log`): there is no flow to
    /// extract. Its kind is [`ErrorKind::NoPackets`] (exit code 1): like an empty result, the
    /// answer is "nothing there", not a bad input.
    #[error("{what} not found: {searched}")]
    NotFound {
        /// What was looked for, e.g. `zeek uid CHhAvVGS1DHFjwGM9`.
        what: String,
        /// Where it was looked for and how much was read.
        searched: String,
    },
    /// The query matched no packet. The message says first why the answer may be incomplete
    /// (files that could not be read, or no capture file in the window at all), so that
    /// damage never looks like absence.
    #[error("{}", no_packets_message(.flow, .window, .warnings, *.files_in_window, *.files_in_store))]
    NoPackets {
        /// Human description of the flow.
        flow: String,
        /// Human description of the window.
        window: String,
        /// Capture files whose span meets the window.
        files_in_window: u64,
        /// Capture files the store holds (as listed for this query).
        files_in_store: u64,
        /// Capture files read by scanning.
        files_scanned: u64,
        /// Capture files answered through their flow index.
        files_indexed: u64,
        /// Bytes of capture files read.
        bytes_read: u64,
        /// The search's non-fatal problems (corrupt records, unreadable or vanished files):
        /// the flow may be in what could not be read.
        warnings: Vec<String>,
    },
}

fn no_packets_message(
    flow: &str,
    window: &str,
    warnings: &[String],
    files_in_window: u64,
    files_in_store: u64,
) -> String {
    let files = |n: u64| format!("{n} capture file{}", if n == 1 { "" } else { "s" });
    let lead = if files_in_store == 0 {
        "the store holds no capture file; ".to_string()
    } else if files_in_window == 0 {
        format!(
            "no capture file covers the window ({} in the store); ",
            files(files_in_store)
        )
    } else if !warnings.is_empty() {
        format!(
            "{} while reading {} (the flow may be in what could not be read: {}); ",
            if warnings.len() == 1 {
                "1 problem".to_string()
            } else {
                format!("{} problems", warnings.len())
            },
            files(files_in_window),
            warnings[0]
        )
    } else {
        String::new()
    };
    format!("{lead}no packet matched {flow} between {window}")
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

    /// The kind of this error: what the CLI's exit code, the C status, the Tcl error code and
    /// the Python exception class are derived from.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidQuery { .. } => ErrorKind::InvalidQuery,
            Error::Io { .. } => ErrorKind::Io,
            Error::Format { .. } => ErrorKind::Format,
            Error::Store { .. } => ErrorKind::Store,
            Error::NoPackets { .. } | Error::NotFound { .. } => ErrorKind::NoPackets,
            Error::Cancelled => ErrorKind::Cancelled,
        }
    }
}

/// The kind of an [`Error`], one per variant.
///
/// Deliberately not `#[non_exhaustive]`: the bindings (CLI exit codes, C status codes, Python
/// exception classes, Tcl error codes) match on it exhaustively, so a new kind fails their build
/// until each of them says what it maps to, instead of falling into a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// [`Error::InvalidQuery`]: the caller's input.
    InvalidQuery,
    /// [`Error::Io`]: reading or writing a path failed.
    Io,
    /// [`Error::Format`]: a capture file that cannot be read.
    Format,
    /// [`Error::Store`]: a store root that cannot be used.
    Store,
    /// [`Error::Cancelled`]: the search was cancelled.
    Cancelled,
    /// [`Error::NoPackets`]: nothing matched; also [`Error::NotFound`]: a pivot's record
    /// (a Zeek uid) was in no log.
    NoPackets,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::InvalidQuery,
        ErrorKind::Io,
        ErrorKind::Format,
        ErrorKind::Store,
        ErrorKind::Cancelled,
        ErrorKind::NoPackets,
    ];

    /// A short stable name: `invalid`, `io`, `format`, `store`, `cancelled`, `nopackets` (the
    /// Tcl error code `{CAPME <name>}` and the Python exception's `kind` attribute).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidQuery => "invalid",
            ErrorKind::Io => "io",
            ErrorKind::Format => "format",
            ErrorKind::Store => "store",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::NoPackets => "nopackets",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_distinct_names() {
        let mut names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        assert_eq!(Error::Cancelled.kind(), ErrorKind::Cancelled);
        assert_eq!(
            Error::invalid("sip", "x", "bad").kind().to_string(),
            "invalid"
        );
    }
}
