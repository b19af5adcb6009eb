//! Record framing for pcap and pcapng files.
//!
//! [`CaptureReader`] streams the packet records of one capture file: legacy pcap (µs and ns
//! magics, both byte orders, and the "modified" Kuznetsov variant that `pcap-parser` accepts) and
//! pcapng (several sections of either byte order, interfaces with `if_tsresol` including the
//! power-of-two form and `if_tsoffset`, Enhanced Packet Blocks and the obsolete Packet Block;
//! Simple Packet Blocks are counted, they carry no timestamp). Every record is returned as a
//! [`Record`] borrowing the reader's buffer, with its timestamp converted exactly to integer
//! nanoseconds and the raw timestamp words kept so that writers can reproduce it.
//!
//! A corrupt record ends the file with [`crate::Error::Format`], unless the reader
//! resynchronises ([`CaptureReader::set_resync`], what a search and an index build do): it then
//! looks for the next record boundary (legacy pcap: a chain of plausible record headers, the
//! same test [`seek`] uses, in [`pcap::Chain`]; pcapng: a block of a known type whose two
//! length fields agree), goes on from there and records each damaged span as a [`Damage`].
//!
//! ```
//! use capme_core::capture::CaptureReader;
//! use capme_core::testutil::capture::PcapBuilder;
//!
//! let bytes = PcapBuilder::new(1, false, false)
//!     .packet((1_700_000_000, 250_000), &[0u8; 60])
//!     .bytes();
//! let mut r = CaptureReader::from_read(Box::new(std::io::Cursor::new(bytes)), "x.pcap".into())?;
//! let rec = r.next_record()?.expect("one record");
//! assert_eq!(rec.ts.as_nanos(), 1_700_000_000_250_000_000);
//! assert_eq!(rec.data.len(), 60);
//! assert!(r.next_record()?.is_none());
//! # Ok::<(), capme_core::Error>(())
//! ```

pub mod compress;
pub mod pcap;
mod reader;
pub mod seek;
mod ts;

#[cfg(test)]
mod resync_tests;
#[cfg(test)]
mod tests;

pub use compress::{sniff_compression, Compression};
pub use reader::{
    CaptureReader, DEFAULT_BUFFER_SIZE, MAX_BLOCK_LEN, MAX_DAMAGE_DETAILS, RESYNC_WINDOW,
};

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
    /// Link type (LINKTYPE value). Legacy pcap: the low 16 bits of the header's link-type field
    /// ([`pcap::linktype_of`]); the FCS information of its upper bits is in `fcs_bits`.
    pub linktype: u32,
    /// Snapshot length (0 = unknown/unlimited).
    pub snaplen: u32,
    /// Timestamp units per second (1e6 for µs pcap, 1e9 for ns, pcapng: from `if_tsresol`).
    pub units_per_sec: u64,
    /// The raw `if_tsresol` byte of a pcapng IDB (6 when absent); legacy pcap: 6 or 9.
    pub tsresol: u8,
    /// pcapng `if_tsoffset` in seconds (0 when absent).
    pub tsoffset: i64,
    /// Bits of frame check sequence at the end of every packet, when the file says: legacy
    /// pcap, the FCS length of the header's link-type field (libpcap's `LT_FCS_LENGTH`, in
    /// 16-bit words, when `LT_FCS_LENGTH_PRESENT` is set); pcapng, the IDB's `if_fcslen`.
    /// `None` when the file does not say (an Ethernet capture usually has none). Matching does
    /// not need it (an IP header's length bounds its packet); writers keep it.
    pub fcs_bits: Option<u8>,
}

impl Interface {
    /// The bytes of a record of this interface without the FCS its interface declares
    /// ([`fcs_bits`](Self::fcs_bits)), when the record holds the whole frame (`data` is as long
    /// as `orig_len`; a record cut by the snap length lost its FCS first). Otherwise `data`.
    ///
    /// Decoding needs no such trimming (the IP length bounds a packet); an IPv4 header whose
    /// total length is 0 (captures of TCP segmentation offload) bounds nothing, and there the
    /// declared FCS would be taken for payload.
    pub fn without_fcs<'a>(&self, data: &'a [u8], orig_len: u32) -> &'a [u8] {
        let fcs = self.fcs_bits.map_or(0, |b| usize::from(b / 8));
        if fcs == 0 || data.len() != orig_len as usize {
            return data;
        }
        data.get(..data.len().saturating_sub(fcs)).unwrap_or(data)
    }

    /// The legacy pcap header's link-type field for this interface: the link type, with the FCS
    /// length in the upper bits when `fcs_bits` is set. `None` when a legacy pcap header cannot
    /// say what this interface says: a link type above 16 bits, or an FCS length that is not a
    /// whole number of 16-bit words up to 15 of them (pcapng's `if_fcslen` can).
    pub fn pcap_linktype_field(&self) -> Option<u32> {
        if self.linktype > u32::from(u16::MAX) {
            return None;
        }
        match self.fcs_bits {
            None => Some(self.linktype),
            Some(bits) => pcap::fcs_field(bits).map(|ext| ext | self.linktype),
        }
    }

    /// The absolute timestamp of raw timestamp words `ts_raw` (as in [`Record::ts_raw`]) recorded
    /// on this interface, computed exactly as the reader does.
    ///
    /// Legacy pcap: `(seconds, fraction in µs or ns)`; pcapng: `(ts_high, ts_low)` in units of
    /// `if_tsresol`, plus `if_tsoffset`. Saturates at [`Timestamp::MIN`]/[`Timestamp::MAX`]; an
    /// `if_tsresol` beyond what a `u64` unit count can express yields the offset alone.
    pub fn timestamp(&self, ts_raw: (u32, u32)) -> Timestamp {
        match self.format {
            Format::Pcap { nanos, .. } => ts::pcap_ts(ts_raw.0, ts_raw.1, nanos),
            Format::Pcapng => {
                let conv = ts::TsConv::from_tsresol(self.tsresol).unwrap_or(ts::TsConv::Zero);
                conv.timestamp(self.tsoffset, ts::raw64(ts_raw))
            }
        }
    }
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

/// A damaged span of a capture file that a resynchronising reader passed over (see
/// [`CaptureReader::set_resync`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset of the corrupt record or block.
    pub offset: u64,
    /// What was wrong with it.
    pub reason: String,
    /// Where reading went on; `None` when nothing readable was found after it (the rest of
    /// the file, or of the resync window, was not read).
    pub resumed_at: Option<u64>,
    /// Bytes skipped: up to where reading went on, or to the end of what was searched.
    pub skipped: u64,
}

impl Damage {
    /// The warning for this span of the file at `path`: "PATH: corrupt capture at byte N:
    /// REASON; resumed at byte M (K bytes skipped)".
    pub fn warning(&self, path: &std::path::Path) -> String {
        let (offset, reason, skipped) = (self.offset, &self.reason, self.skipped);
        let head = format!(
            "{}: corrupt capture at byte {offset}: {reason}",
            path.display()
        );
        match self.resumed_at {
            Some(m) => format!("{head}; resumed at byte {m} ({skipped} bytes skipped)"),
            None if skipped >= RESYNC_WINDOW as u64 => format!(
                "{head}; no record found in the next {skipped} bytes: the rest of the file was not read"
            ),
            // A compressed stream that cannot be decoded further.
            None if skipped == 0 => format!("{head}; the rest of the file cannot be read"),
            None => format!("{head}; no record found in the {skipped} bytes after it"),
        }
    }
}

/// What the first bytes of a file say it is (see [`sniff_format`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SniffedFormat {
    /// Legacy pcap with the given magic.
    Pcap {
        /// Nanosecond magic (0xa1b23c4d).
        nanos: bool,
        /// Big-endian file.
        big_endian: bool,
        /// The "modified" (Kuznetsov, 0xa1b2cd34) variant with 24-byte record headers; µs,
        /// little-endian only (as `pcap-parser` reads it).
        modified: bool,
    },
    /// pcapng (a Section Header Block comes first).
    Pcapng,
}

impl SniffedFormat {
    /// The [`Format`] of records read from such a file (a modified pcap reads as µs pcap).
    pub fn format(self) -> Format {
        match self {
            SniffedFormat::Pcap {
                nanos, big_endian, ..
            } => Format::Pcap { nanos, big_endian },
            SniffedFormat::Pcapng => Format::Pcapng,
        }
    }
}

/// Recognises a capture file by its first four bytes (more are ignored; fewer give `None`).
///
/// Legacy pcap: `a1b2c3d4` (µs) and `a1b23c4d` (ns) in either byte order, and the modified
/// `a1b2cd34` written little-endian; pcapng: the Section Header Block type `0a0d0d0a`.
pub fn sniff_format(first_bytes: &[u8]) -> Option<SniffedFormat> {
    let m: [u8; 4] = first_bytes.get(..4)?.try_into().ok()?;
    let pcap = |nanos, big_endian, modified| {
        Some(SniffedFormat::Pcap {
            nanos,
            big_endian,
            modified,
        })
    };
    match m {
        [0x0a, 0x0d, 0x0d, 0x0a] => Some(SniffedFormat::Pcapng),
        [0xd4, 0xc3, 0xb2, 0xa1] => pcap(false, false, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => pcap(false, true, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => pcap(true, false, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => pcap(true, true, false),
        [0x34, 0xcd, 0xb2, 0xa1] => pcap(false, false, true),
        _ => None,
    }
}
