//! Record framing for pcap and pcapng files.
//!
//! TODO(helper B): `CaptureReader` over pcap (µs/ns, both byte orders) and pcapng (sections,
//! interfaces, if_tsresol incl. power-of-two, if_tsoffset, EPB, obsolete PB, SPB counted).

use crate::time::Timestamp;

/// The container a record came from; decides how it can be written back byte for byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Legacy pcap. `nanos`: ns magic (0xa1b23c4d); `big_endian`: byte order of the file.
    Pcap {
        /// Nanosecond-precision magic.
        nanos: bool,
        /// File written big-endian.
        big_endian: bool,
    },
    /// pcapng.
    Pcapng,
}

/// A capture interface: one per legacy pcap file, one per IDB in pcapng.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Interface {
    /// The container format.
    pub format: Format,
    /// Link type (DLT/LINKTYPE value).
    pub linktype: u32,
    /// Snapshot length (0 = unknown/unlimited).
    pub snaplen: u32,
    /// Timestamp units per second (1e6 for µs pcap, 1e9 for ns, pcapng: from `if_tsresol`).
    pub units_per_sec: u64,
    /// The raw `if_tsresol` byte of a pcapng IDB (6 when absent); legacy pcap: 6 or 9.
    pub tsresol: u8,
    /// pcapng `if_tsoffset` in seconds (0 when absent).
    pub tsoffset: i64,
}

/// One captured packet, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Absolute timestamp (offset and resolution applied).
    pub ts: Timestamp,
    /// Raw timestamp words as stored: legacy pcap `(ts_sec, ts_usec|ts_nsec)`, pcapng
    /// `(ts_high, ts_low)`. Writers use them to reproduce the record exactly.
    pub ts_raw: (u32, u32),
    /// Original length on the wire.
    pub orig_len: u32,
    /// Captured bytes (`caplen` = `data.len()`).
    pub data: &'a [u8],
    /// Index into the reader's `interfaces()`.
    pub iface: usize,
}
