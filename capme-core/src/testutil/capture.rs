//! Small pcap and pcapng files built in code, for tests, examples and benchmarks.
//!
//! ```
//! use capme_core::testutil::capture::{PcapBuilder, PcapngBuilder};
//!
//! // A µs little-endian Ethernet pcap with two packets, the second truncated to 4 of 60 bytes.
//! let pcap = PcapBuilder::new(1, false, false)
//!     .packet((1_700_000_000, 1), &[0u8; 60])
//!     .packet((1_700_000_000, 2), &[0u8; 4])
//!     .orig_len(60)
//!     .bytes();
//! assert_eq!(pcap.len(), 24 + 16 + 60 + 16 + 4);
//!
//! // A pcapng with a big-endian section and a ns interface.
//! let mut ng = PcapngBuilder::new();
//! ng.section(true);
//! let ns = ng.interface(1, 65535, Some(9), None);
//! ng.epb(ns, 1_700_000_000_000_000_001, &[0u8; 60], 60);
//! let bytes = ng.bytes();
//! assert_eq!(&bytes[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
//! ```

use crate::sink::PcapFileWriter;
use std::io;
use std::path::Path;

/// Builds a legacy pcap file (written through [`PcapFileWriter`]).
#[derive(Debug, Clone)]
pub struct PcapBuilder {
    linktype: u32,
    snaplen: u32,
    nanos: bool,
    big_endian: bool,
    /// (ts_raw, orig_len, data)
    records: Vec<((u32, u32), u32, Vec<u8>)>,
}

impl PcapBuilder {
    /// A pcap with this link type, ns (`nanos`) or µs magic, in the given byte order; snaplen
    /// 65535.
    pub fn new(linktype: u32, nanos: bool, big_endian: bool) -> Self {
        PcapBuilder {
            linktype,
            snaplen: 65535,
            nanos,
            big_endian,
            records: Vec::new(),
        }
    }

    /// Sets the snaplen of the file header.
    pub fn snaplen(&mut self, snaplen: u32) -> &mut Self {
        self.snaplen = snaplen;
        self
    }

    /// Appends a record: `ts_raw` = (seconds, µs or ns fraction as the magic says), original
    /// length = `data.len()` (see [`orig_len`](Self::orig_len)).
    pub fn packet(&mut self, ts_raw: (u32, u32), data: &[u8]) -> &mut Self {
        self.records
            .push((ts_raw, data.len() as u32, data.to_vec()));
        self
    }

    /// Sets the original length of the last record appended.
    ///
    /// # Panics
    /// When no record was appended yet.
    pub fn orig_len(&mut self, orig_len: u32) -> &mut Self {
        self.records
            .last_mut()
            .expect("PcapBuilder::orig_len before any packet")
            .1 = orig_len;
        self
    }

    /// The number of records appended.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when no record was appended.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The file's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let size: usize = 24 + self.records.iter().map(|r| 16 + r.2.len()).sum::<usize>();
        let mut w = PcapFileWriter::new(
            Vec::with_capacity(size),
            self.linktype,
            self.snaplen,
            self.nanos,
            self.big_endian,
        )
        .expect("writing to a Vec");
        for (ts, orig_len, data) in &self.records {
            w.write_record(*ts, *orig_len, data)
                .expect("writing to a Vec");
        }
        w.into_inner().expect("writing to a Vec")
    }

    /// Writes the file.
    pub fn write(&self, path: impl AsRef<Path>) -> io::Result<()> {
        std::fs::write(path, self.bytes())
    }
}

/// Builds a pcapng file block by block: sections of either byte order, interfaces with
/// `if_tsresol`/`if_tsoffset`, Enhanced, obsolete Packet and Simple Packet Blocks, and any other
/// block.
///
/// Packet blocks before the first [`section`](Self::section) start a little-endian section.
/// Interface ids are section-local, as in the format.
#[derive(Debug, Clone, Default)]
pub struct PcapngBuilder {
    out: Vec<u8>,
    big_endian: bool,
    in_section: bool,
    section_ifaces: u32,
}

impl PcapngBuilder {
    /// An empty file (no section yet).
    pub fn new() -> Self {
        Self::default()
    }

    fn u16b(&self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u32b(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn ensure_section(&mut self) {
        if !self.in_section {
            self.section(false);
        }
    }

    /// Appends option `code` with `value` (padded to 4 bytes) to `out`.
    fn option(&self, out: &mut Vec<u8>, code: u16, value: &[u8]) {
        out.extend_from_slice(&self.u16b(code));
        out.extend_from_slice(&self.u16b(value.len() as u16));
        out.extend_from_slice(value);
        out.resize(out.len() + (4 - value.len() % 4) % 4, 0);
    }

    /// Appends a block of `block_type` with `body` (padded here to 4 bytes) in the current
    /// section's byte order. Use it for blocks the builder has no method for (NRB, ISB,
    /// custom, unknown types).
    pub fn block(&mut self, block_type: u32, body: &[u8]) -> &mut Self {
        let pad = (4 - body.len() % 4) % 4;
        let total = (12 + body.len() + pad) as u32;
        let t = self.u32b(block_type);
        let l = self.u32b(total);
        self.out.extend_from_slice(&t);
        self.out.extend_from_slice(&l);
        self.out.extend_from_slice(body);
        self.out.resize(self.out.len() + pad, 0);
        self.out.extend_from_slice(&l);
        self
    }

    /// Starts a section (Section Header Block, version 1.0, unknown length) in the given byte
    /// order; interface ids restart at 0.
    pub fn section(&mut self, big_endian: bool) -> &mut Self {
        self.big_endian = big_endian;
        self.in_section = true;
        self.section_ifaces = 0;
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32b(0x1A2B_3C4D));
        body.extend_from_slice(&self.u16b(1));
        body.extend_from_slice(&self.u16b(0));
        body.extend_from_slice(
            &(if big_endian {
                (-1i64).to_be_bytes()
            } else {
                (-1i64).to_le_bytes()
            }),
        );
        self.block(0x0A0D_0D0A, &body)
    }

    /// Adds an Interface Description Block and returns its section-local id. `tsresol` is the
    /// raw `if_tsresol` byte (high bit set = 2^-n), `tsoffset` the `if_tsoffset` seconds; `None`
    /// omits the option.
    pub fn interface(
        &mut self,
        linktype: u16,
        snaplen: u32,
        tsresol: Option<u8>,
        tsoffset: Option<i64>,
    ) -> u32 {
        self.interface_with_options(linktype, snaplen, tsresol, tsoffset, &[])
    }

    /// [`interface`](Self::interface) with more options after the others (e.g. `if_fcslen`,
    /// code 13): `(code, value)` pairs, in this section's byte order as given.
    pub fn interface_with_options(
        &mut self,
        linktype: u16,
        snaplen: u32,
        tsresol: Option<u8>,
        tsoffset: Option<i64>,
        options: &[(u16, &[u8])],
    ) -> u32 {
        self.ensure_section();
        let mut body = Vec::new();
        body.extend_from_slice(&self.u16b(linktype));
        body.extend_from_slice(&self.u16b(0));
        body.extend_from_slice(&self.u32b(snaplen));
        // An if_name first, so that the options the reader needs are not the only ones.
        self.option(&mut body, 2, b"eth0");
        if let Some(r) = tsresol {
            self.option(&mut body, 9, &[r]);
        }
        if let Some(o) = tsoffset {
            let b = if self.big_endian {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            };
            self.option(&mut body, 14, &b);
        }
        for (code, value) in options {
            self.option(&mut body, *code, value);
        }
        self.option(&mut body, 0, &[]);
        self.block(1, &body);
        let id = self.section_ifaces;
        self.section_ifaces += 1;
        id
    }

    /// Appends an Enhanced Packet Block: `raw_ts` in the interface's units.
    pub fn epb(&mut self, iface: u32, raw_ts: u64, data: &[u8], orig_len: u32) -> &mut Self {
        self.epb_with_options(iface, raw_ts, data, orig_len, &[])
    }

    /// [`epb`](Self::epb) followed by options `(code, value)` (e.g. `epb_flags`, code 2).
    pub fn epb_with_options(
        &mut self,
        iface: u32,
        raw_ts: u64,
        data: &[u8],
        orig_len: u32,
        options: &[(u16, &[u8])],
    ) -> &mut Self {
        self.ensure_section();
        let mut body = Vec::with_capacity(20 + data.len() + 3);
        body.extend_from_slice(&self.u32b(iface));
        self.timed_data(&mut body, raw_ts, data, orig_len);
        body.resize(body.len() + (4 - data.len() % 4) % 4, 0);
        if !options.is_empty() {
            for (code, value) in options {
                self.option(&mut body, *code, value);
            }
            self.option(&mut body, 0, &[]);
        }
        self.block(6, &body)
    }

    /// Appends an obsolete Packet Block (type 2): 16-bit interface id, drops count 0.
    pub fn pb(&mut self, iface: u16, raw_ts: u64, data: &[u8], orig_len: u32) -> &mut Self {
        self.ensure_section();
        let mut body = Vec::with_capacity(20 + data.len() + 3);
        body.extend_from_slice(&self.u16b(iface));
        body.extend_from_slice(&self.u16b(0));
        self.timed_data(&mut body, raw_ts, data, orig_len);
        self.block(2, &body)
    }

    /// What an EPB and a PB share after the interface id: the timestamp's high and low
    /// words, the captured and original lengths, and the data.
    fn timed_data(&self, body: &mut Vec<u8>, raw_ts: u64, data: &[u8], orig_len: u32) {
        for v in [
            (raw_ts >> 32) as u32,
            raw_ts as u32,
            data.len() as u32,
            orig_len,
        ] {
            body.extend_from_slice(&self.u32b(v));
        }
        body.extend_from_slice(data);
    }

    /// Appends a Simple Packet Block (no interface id, no timestamp).
    pub fn spb(&mut self, data: &[u8]) -> &mut Self {
        self.ensure_section();
        let mut body = Vec::with_capacity(4 + data.len() + 3);
        body.extend_from_slice(&self.u32b(data.len() as u32));
        body.extend_from_slice(data);
        self.block(3, &body)
    }

    /// Appends raw bytes as they are (for corrupt or truncated files).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.out.extend_from_slice(bytes);
        self
    }

    /// The file's bytes so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.out.clone()
    }

    /// Writes the file.
    pub fn write(&self, path: impl AsRef<Path>) -> io::Result<()> {
        std::fs::write(path, &self.out)
    }
}

/// The 24-byte file header of a "modified" (Kuznetsov) pcap, magic a1b2cd34 little-endian,
/// snaplen 65535: its records have 24-byte headers (ifindex, protocol, pkt_type, pad after
/// the usual four words), which tests write themselves.
pub fn modified_pcap_header(linktype: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(24);
    b.extend_from_slice(&0xa1b2_cd34u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&linktype.to_le_bytes());
    b
}
