//! [`Packet`]: what a search yields and a sink consumes.
//!
//! Its own module, below both, so that sinks do not depend on how packets were found.

use crate::capture::Interface;
use crate::time::Timestamp;
use bytes::Bytes;
use std::path::Path;
use std::sync::Arc;

/// A matched packet, owning its bytes.
#[derive(Debug, Clone)]
pub struct Packet {
    /// Absolute timestamp.
    pub ts: Timestamp,
    /// Raw timestamp words as stored in the input (see [`crate::capture::Record::ts_raw`]).
    pub ts_raw: (u32, u32),
    /// Original length on the wire.
    pub orig_len: u32,
    /// Captured bytes, unchanged.
    pub data: Bytes,
    /// The interface it was captured on (link type, precision).
    pub iface: Arc<Interface>,
    /// Sensor name of its capture file.
    pub sensor: Arc<str>,
    /// The capture file it was read from.
    pub file: Arc<Path>,
}
