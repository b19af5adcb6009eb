//! The streaming reader: one buffer, refilled in large reads, records decoded in place.
//!
//! Framing is done here rather than through `pcap-parser`'s iterators so that every length is
//! checked before it is used and a cut-off last record can be told apart from a corrupt one.
//! `pcap-parser` parses the legacy file header, Section Header Blocks and Interface Description
//! Blocks (whose options it frames); packet blocks (EPB, PB, SPB) have fixed headers and are
//! decoded directly, because its EPB parser allocates a `Vec` for the options of every packet and
//! reports a captured length larger than its block as "incomplete" instead of corrupt.

use super::compress::{self, Compression, FrameLog, StreamDamage};
use super::pcap::{self, Chain, RecordHeader};
use super::ts::{self, TsConv};
use super::{sniff_format, Damage, Format, Interface, Record, SniffedFormat};
use crate::error::{Error, Result};
use crate::time::Timestamp;
use pcap_parser::pcapng::{
    parse_interfacedescriptionblock_be, parse_interfacedescriptionblock_le,
    parse_sectionheaderblock, BOM_MAGIC, EPB_MAGIC, IDB_MAGIC, SHB_MAGIC, SPB_MAGIC,
};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Initial size of the read buffer (and the size it shrinks back to after a large block).
pub const DEFAULT_BUFFER_SIZE: usize = 256 * 1024;

/// The largest block (pcapng) or record (legacy pcap, header included) the reader accepts; a
/// larger declared length is reported as corrupt. It bounds the reader's memory.
pub const MAX_BLOCK_LEN: usize = 256 * 1024 * 1024;

/// The obsolete pcapng Packet Block.
const PB_MAGIC: u32 = 0x0000_0002;

/// After a corrupt record, resync looks for the next record boundary among at most this many
/// bytes; none there gives up on the rest of the file.
pub const RESYNC_WINDOW: usize = 4 << 20;

/// Whether a record cut by the end of the input is resynchronised past (looking for records
/// framed exactly to the end after its start) instead of ending the file there. Off: the
/// newest file of a sensor is always being written, its end falls anywhere, and bytes of its
/// half-written last record can frame "to the end" by chance, which made an indexed read of a
/// growing file skip a record that was whole a moment later (tests/growing.rs). A wrong
/// length followed by a full chain of records is still caught by the length check.
const RESYNC_PAST_CUT: bool = false;
/// Bytes past the window a resync may read to check a candidate (a chain of pcap records, or
/// a pcapng block and the next one's header): the buffer holds at most window + this.
const RESYNC_LOOKAHEAD: usize = 2 << 20;
/// Bytes past a suspect legacy pcap record read to look for a chain of records inside it.
const SUSPECT_LOOKAHEAD: usize = 128 << 10;
/// At most this many damaged spans are kept in detail (the rest are only counted).
pub const MAX_DAMAGE_DETAILS: usize = 16;

/// The first offset in `1..to` from which `next` (the end of the record or block at an
/// offset, `first` for the walk's first step) frames `b` to exactly its end, each walk's
/// steps visited once in all: a failed walk marks its offsets dead, and a later walk that
/// reaches one fails at once, so hostile bytes cannot make the search quadratic.
fn framed_to_end(
    b: &[u8],
    to: usize,
    mut next: impl FnMut(usize, bool) -> Option<usize>,
) -> Option<usize> {
    let mut dead = vec![false; b.len()];
    let mut path = Vec::new();
    for at in 1..to.min(b.len()) {
        path.clear();
        let mut pos = at;
        let ok = loop {
            if pos == b.len() {
                break !path.is_empty();
            }
            if dead[pos] {
                break false;
            }
            path.push(pos);
            match next(pos, path.len() == 1) {
                Some(n) if n > pos => pos = n,
                _ => break false,
            }
        };
        if ok {
            return Some(at);
        }
        for &p in &path {
            dead[p] = true;
        }
    }
    None
}

/// The least length of a pcapng block of a known type; `None` for a type this reader does not
/// know (it skips such blocks, but a resync never resumes at one).
fn known_min_len(block_type: u32) -> Option<usize> {
    match block_type {
        SHB_MAGIC => Some(28),
        IDB_MAGIC => Some(20),
        EPB_MAGIC | PB_MAGIC => Some(32),
        SPB_MAGIC => Some(16),
        // Name resolution, interface statistics, IRIG timestamp, ARINC 429, systemd journal
        // export, decryption secrets, Hone machine info, custom blocks.
        0x4 | 0x5 | 0x7 | 0x8 | 0x9 | 0xA | 0x101 | 0xBAD | 0x4000_0BAD => Some(12),
        _ => None,
    }
}

/// The IDB option giving the FCS length in bits (`if_fcslen`, one byte).
const IF_FCSLEN: u16 = 13;

/// At most this many interfaces across all sections of a file.
const MAX_INTERFACES: usize = 65_536;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Pcap {
        big_endian: bool,
        modified: bool,
        nanos: bool,
        max_caplen: u32,
    },
    Pcapng,
}

/// A decoded packet whose bytes are `buf[start..end]`.
struct Pkt {
    ts: Timestamp,
    ts_raw: (u32, u32),
    orig_len: u32,
    start: usize,
    end: usize,
    iface: usize,
}

/// Streams the records of one pcap or pcapng file.
///
/// Reads in large blocks into one buffer ([`DEFAULT_BUFFER_SIZE`], grown for a block larger
/// than it up to [`MAX_BLOCK_LEN`]) and returns each packet as a [`Record`] borrowing that
/// buffer: no allocation per packet, memory bounded by the largest block.
///
/// End of file: a clean end, or a last record cut short (a file still being written, or cut),
/// gives `Ok(None)`; [`trailing_bytes`](Self::trailing_bytes) then tells how many bytes were
/// left over. A length that cannot be right (beyond the limits, not a multiple of 4 in pcapng,
/// a block whose trailing length differs, a captured length larger than its block) gives
/// [`Error::Format`] with the byte offset of the record. After an error, or once the end was
/// reached, `next_record` keeps returning `Ok(None)`.
///
/// With [`set_resync`](Self::set_resync) (as searches and index builds read), a corrupt record
/// is passed over instead: the reader finds the next record boundary within
/// [`RESYNC_WINDOW`] bytes and goes on, recording the damaged span ([`damage`](Self::damage)).
pub struct CaptureReader {
    path: PathBuf,
    inner: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// `buf[start..end]` holds read but not consumed bytes.
    start: usize,
    end: usize,
    base_size: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    /// The underlying reader returned 0.
    eof: bool,
    /// No more records will be returned (end reached or error).
    done: bool,
    kind: Kind,
    interfaces: Vec<Interface>,
    /// pcapng, per global interface: timestamp conversion and offset in seconds.
    convs: Vec<(TsConv, i64)>,
    /// pcapng: byte order of the current section.
    section_be: bool,
    /// pcapng: section-local interface id → global index.
    section_ifaces: Vec<usize>,
    spb_skipped: u64,
    trailing: u64,
    /// File offsets `(start, end)` of the last packet record returned.
    last_block: (u64, u64),
    /// When indexing: the byte ranges of the blocks a reader needs before any packet block
    /// (pcapng section headers and interface descriptions), in file order.
    structure: Option<Vec<(u64, u64)>>,
    /// Resynchronise after a corrupt record instead of ending the file there.
    resync: bool,
    /// The error being returned ends the file even when resynchronising.
    fatal: bool,
    /// The error being returned is a record running past the end of the input: a file cut
    /// or still being written, unless a resync finds records after it.
    cut_short: bool,
    /// The length of that record or block (the bytes it needs from its start).
    cut_len: usize,
    /// The first damaged spans passed over ([`MAX_DAMAGE_DETAILS`]).
    damage: Vec<Damage>,
    /// All damaged spans: count and bytes skipped.
    damage_spans: u64,
    damage_bytes: u64,
    /// pcapng blocks of unknown type skipped: count, first offset and type.
    unknown_blocks: (u64, u64, u32),
    /// The file is compressed in this format (the offsets are those of its decompressed
    /// bytes).
    compression: Option<Compression>,
    /// The file header was read (damage of a compressed stream after it is a damaged span
    /// when resynchronising; before it, the open fails).
    opened: bool,
}

impl fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("offset", &self.offset)
            .field("interfaces", &self.interfaces)
            .field("buffer_len", &self.buf.len())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// Reads a `u32` at `at` in the given byte order; 0 when out of bounds (callers check bounds
/// first, this only guarantees the reader cannot panic).
#[inline]
fn rd32(b: &[u8], at: usize, big_endian: bool) -> u32 {
    pcap::u32_at(b, at, big_endian).unwrap_or(0)
}

#[inline]
fn rd16(b: &[u8], at: usize, big_endian: bool) -> u16 {
    match b.get(at..at.wrapping_add(2)) {
        Some(&[a, b]) => {
            if big_endian {
                u16::from_be_bytes([a, b])
            } else {
                u16::from_le_bytes([a, b])
            }
        }
        _ => 0,
    }
}

fn block_name(block_type: u32) -> &'static str {
    match block_type {
        IDB_MAGIC => "interface description block",
        EPB_MAGIC => "enhanced packet block",
        PB_MAGIC => "packet block",
        SPB_MAGIC => "simple packet block",
        SHB_MAGIC => "section header block",
        _ => "block",
    }
}

impl CaptureReader {
    /// Opens a capture file and reads its file header (legacy pcap) or first Section Header
    /// Block (pcapng).
    ///
    /// Errors: [`Error::Io`] naming `path` when it cannot be opened or read; [`Error::Format`]
    /// when it is empty ("empty file"), not a pcap/pcapng file, or its header is cut short.
    ///
    /// A gzip, zstd or lz4 compressed file (recognised by its magic, see
    /// [`compress::sniff_compression`]) is decompressed as it is read; offsets are then those
    /// of its decompressed bytes.
    pub fn open(path: &Path) -> Result<CaptureReader> {
        Self::open_with(path, DEFAULT_BUFFER_SIZE, false, false, None)
    }

    /// Opens `path`, decompressing it when it is compressed (frame starts logged to `log`).
    fn open_with(
        path: &Path,
        size: usize,
        track_structure: bool,
        resync: bool,
        log: Option<FrameLog>,
    ) -> Result<CaptureReader> {
        let io = |e| Error::io(path, e);
        let f = File::open(path).map_err(io)?;
        let mut head = [0u8; 4];
        let n = crate::io::read_full_at(&f, &mut head, 0).map_err(io)?;
        let (src, compression) = compress::source_for(f, &head[..n], log).map_err(io)?;
        Self::build_compressed(
            src,
            path.to_path_buf(),
            size,
            track_structure,
            resync,
            compression,
        )
    }

    /// The compression of the file, when it is compressed.
    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// Declares that the stream handed to [`from_read`](Self::from_read) continues the file at
    /// byte `offset` (after its header), so that error offsets name the file's real bytes.
    pub(crate) fn set_offset(&mut self, offset: u64) {
        self.offset = offset;
    }

    /// Like [`open`](Self::open) over any byte stream; `path` is only used in messages.
    pub fn from_read(r: Box<dyn Read + Send>, path: PathBuf) -> Result<CaptureReader> {
        Self::with_buffer_size(r, path, DEFAULT_BUFFER_SIZE)
    }

    /// Opens a file for indexing: like [`open`](Self::open), and also records the byte ranges
    /// of the blocks that define how packets are read (see [`structure`](Self::structure)).
    /// Resyncs after corrupt records ([`set_resync`](Self::set_resync)), as a search does.
    /// A compressed file's frame starts are pushed to `log`.
    pub(crate) fn open_for_index(path: &Path, log: FrameLog) -> Result<CaptureReader> {
        Self::open_with(path, DEFAULT_BUFFER_SIZE, true, true, Some(log))
    }

    /// Like [`open`](Self::open), resynchronising after corrupt records from the start
    /// ([`set_resync`](Self::set_resync)): a corrupt block among a pcapng file's first
    /// interface descriptions does not fail the open either.
    /// Compressed files are decompressed as [`open`](Self::open) does.
    pub fn open_resyncing(path: &Path) -> Result<CaptureReader> {
        Self::open_with(path, DEFAULT_BUFFER_SIZE, false, true, None)
    }

    /// [`from_read`](Self::from_read), resynchronising from the start as
    /// [`open_resyncing`](Self::open_resyncing) does.
    pub fn from_read_resyncing(r: Box<dyn Read + Send>, path: PathBuf) -> Result<CaptureReader> {
        Self::build(r, path, DEFAULT_BUFFER_SIZE, false, true)
    }

    /// [`from_read`](Self::from_read) with a chosen initial buffer size (tests use tiny ones to
    /// exercise the refill paths).
    pub(crate) fn with_buffer_size(
        inner: Box<dyn Read + Send>,
        path: PathBuf,
        size: usize,
    ) -> Result<CaptureReader> {
        Self::build(inner, path, size, false, false)
    }

    fn build(
        inner: Box<dyn Read + Send>,
        path: PathBuf,
        size: usize,
        track_structure: bool,
        resync: bool,
    ) -> Result<CaptureReader> {
        Self::build_compressed(inner, path, size, track_structure, resync, None)
    }

    /// [`from_read`](Self::from_read) over the decompressed stream `r` of a file compressed
    /// in `c` (for messages and [`compression`](Self::compression)), resynchronising when
    /// `resync`.
    pub(crate) fn from_decompressed(
        r: Box<dyn Read + Send>,
        path: PathBuf,
        c: Compression,
        resync: bool,
    ) -> Result<CaptureReader> {
        Self::build_compressed(r, path, DEFAULT_BUFFER_SIZE, false, resync, Some(c))
    }

    fn build_compressed(
        inner: Box<dyn Read + Send>,
        path: PathBuf,
        size: usize,
        track_structure: bool,
        resync: bool,
        compression: Option<Compression>,
    ) -> Result<CaptureReader> {
        let mut r = Self::build_inner(inner, path, size, track_structure, resync, compression)?;
        r.opened = true;
        Ok(r)
    }

    fn build_inner(
        inner: Box<dyn Read + Send>,
        path: PathBuf,
        size: usize,
        track_structure: bool,
        resync: bool,
        compression: Option<Compression>,
    ) -> Result<CaptureReader> {
        let size = size.max(64);
        let mut r = CaptureReader {
            path,
            inner,
            buf: vec![0; size],
            start: 0,
            end: 0,
            base_size: size,
            offset: 0,
            eof: false,
            done: false,
            kind: Kind::Pcapng,
            interfaces: Vec::new(),
            convs: Vec::new(),
            section_be: false,
            section_ifaces: Vec::new(),
            spb_skipped: 0,
            trailing: 0,
            last_block: (0, 0),
            structure: track_structure.then(Vec::new),
            resync,
            fatal: false,
            cut_short: false,
            cut_len: 0,
            damage: Vec::new(),
            damage_spans: 0,
            damage_bytes: 0,
            unknown_blocks: (0, 0, 0),
            compression,
            opened: false,
        };
        if !r.fill(4)? {
            return Err(if r.end == 0 {
                r.err(0, "empty file")
            } else {
                r.err(
                    0,
                    format!("not a pcap or pcapng file: only {} bytes", r.end),
                )
            });
        }
        match sniff_format(&r.buf[..4]) {
            None => {
                let b = &r.buf[..4];
                let inside = match r.compression {
                    Some(c) => format!(" (decompressed from {c})"),
                    None => String::new(),
                };
                Err(r.err(
                    0,
                    format!(
                        "not a pcap or pcapng file: magic {:02x}{:02x}{:02x}{:02x}{inside}",
                        b[0], b[1], b[2], b[3]
                    ),
                ))
            }
            Some(SniffedFormat::Pcapng) => {
                if !r.section_header()? {
                    return Err(r.err(
                        0,
                        format!(
                            "pcapng section header block cut short ({} bytes in file)",
                            r.end
                        ),
                    ));
                }
                // Read the interfaces declared before the first packet. When resynchronising, a
                // corrupt block there is met again (and passed) by the first read.
                match r.next_pcapng(true) {
                    Err(Error::Format { .. }) if r.resync => r.done = false,
                    Err(e) => return Err(e),
                    Ok(_) => {}
                }
                Ok(r)
            }
            Some(SniffedFormat::Pcap { .. }) => {
                r.pcap_header()?;
                Ok(r)
            }
        }
    }

    /// The next packet record, or `None` at the end of the file (see the type's docs for
    /// how a cut-off last record and corrupt lengths are treated).
    ///
    /// The record borrows the reader; use [`next_with_interface`](Self::next_with_interface)
    /// to get the record's [`Interface`] along with it.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>> {
        Ok(self.advance()?.map(|p| self.record(p)))
    }

    /// [`next_record`](Self::next_record) together with the interface the record was captured
    /// on (`interfaces()[record.iface]`).
    pub fn next_with_interface(&mut self) -> Result<Option<(Record<'_>, &Interface)>> {
        match self.advance()? {
            None => Ok(None),
            Some(p) => match self.interfaces.get(p.iface) {
                Some(iface) => Ok(Some((self.record(p), iface))),
                None => Ok(None), // unreachable: packet interfaces are always known
            },
        }
    }

    fn record(&self, p: Pkt) -> Record<'_> {
        Record {
            ts: p.ts,
            ts_raw: p.ts_raw,
            orig_len: p.orig_len,
            data: self.buf.get(p.start..p.end).unwrap_or(&[]),
            iface: p.iface,
        }
    }

    fn advance(&mut self) -> Result<Option<Pkt>> {
        loop {
            if self.done {
                return Ok(None);
            }
            self.fatal = false;
            self.cut_short = false;
            let r = match self.kind {
                Kind::Pcap {
                    big_endian,
                    modified,
                    nanos,
                    max_caplen,
                } => self.next_pcap(big_endian, modified, nanos, max_caplen),
                Kind::Pcapng => self.next_pcapng(false),
            };
            match r {
                Err(Error::Format { offset, reason, .. })
                    if self.resync && !self.fatal && offset == self.offset =>
                {
                    self.resync_after(reason)?;
                }
                Err(Error::Format { .. }) if self.cut_short => return Ok(self.finish()),
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
                Ok(p) => return Ok(p),
            }
        }
    }

    /// Resynchronise after a corrupt record instead of ending the file there (off by default):
    /// the reader looks for the next record boundary (legacy pcap: where a chain of plausible
    /// record headers starts, see [`Chain`]; pcapng: a block (at any byte offset: bytes
    /// inserted or lost move the later blocks off the 4-byte grid) of a known type whose two
    /// length fields agree, whose interface exists and whose captured length fits, followed by another
    /// plausible block or the end of the file) among the next [`RESYNC_WINDOW`] bytes, and
    /// goes on from there; each damaged span is recorded ([`damage`](Self::damage)). When no
    /// boundary is found the rest of the file is not read (recorded too). A section header
    /// found this way sets the byte order and interfaces of the blocks after it, as any other.
    /// A record running past the end of the file is a cut-off last record unless records are
    /// found after its start. Errors that no resync can pass (an unsupported pcapng version,
    /// too many interfaces) still end the file with [`Error::Format`].
    pub fn set_resync(&mut self, on: bool) {
        self.resync = on;
    }

    /// The first [`MAX_DAMAGE_DETAILS`] damaged spans passed over by resync, in file order.
    pub fn damage(&self) -> &[Damage] {
        &self.damage
    }

    /// All damaged spans passed over by resync: how many, and how many bytes they skipped
    /// (a span that ended the file counts the bytes it left unread when known).
    pub fn damage_total(&self) -> (u64, u64) {
        (self.damage_spans, self.damage_bytes)
    }

    /// pcapng blocks of a type this reader does not know, skipped as the format says: how
    /// many, the first one's byte offset and type. `None` when there were none.
    pub fn unknown_blocks(&self) -> Option<(u64, u64, u32)> {
        (self.unknown_blocks.0 > 0).then_some(self.unknown_blocks)
    }

    fn note_damage(&mut self, d: Damage, skipped: u64) {
        self.damage_spans += 1;
        self.damage_bytes = self.damage_bytes.saturating_add(skipped);
        if self.damage.len() < MAX_DAMAGE_DETAILS {
            self.damage.push(d);
        }
    }

    /// After the corrupt record or block at the read position (`reason`): finds where reading
    /// can go on, consumes up to there and records the damaged span; or, when nothing is
    /// found, ends the file. A record cut short by the end of the input ends the file as
    /// usual (no damage) unless records are found after its start.
    fn resync_after(&mut self, reason: String) -> Result<()> {
        let at = self.offset;
        let want = RESYNC_WINDOW + RESYNC_LOOKAHEAD;
        let eof = !self.fill(want)?;
        let b = &self.buf[self.start..self.end];
        let to = RESYNC_WINDOW.min(b.len());
        // After a record cut short by the end of the input (a file still being written, whose
        // last packet may carry anything, even a capture file), only records framed exactly
        // to the end of the input count: a packet cut while being written ends mid-record.
        let strict = self.cut_short;
        if strict && self.end - self.start >= self.cut_len {
            // The file grew meanwhile (it is still being written) and the record is whole
            // now: no damage, read it as usual (the caller's loop reads on from here).
            return Ok(());
        }
        if strict && !eof {
            self.finish();
            return Ok(());
        }
        let found = match self.pcap_chain() {
            Some(chain) if strict => framed_to_end(b, to, |at, _| {
                chain
                    .record_at(b, at)
                    .map(|(_, next)| next)
                    .filter(|&n| n <= b.len())
            }),
            Some(chain) => chain.find(b, 1, to, eof).map(|(pos, _)| pos),
            // Every byte offset, not only multiples of 4: bytes inserted or lost before a
            // block move all the blocks after it off the 4-byte grid.
            None if strict => {
                let mut be = self.section_be;
                framed_to_end(b, to, |at, first| {
                    if first {
                        be = self.section_be;
                        if !self.block_at(b, at, true) {
                            return None;
                        }
                    }
                    let (len, block_be) = self.block_header_at_in(b, at, be)?;
                    let end = at.checked_add(len).filter(|&e| e <= b.len())?;
                    if rd32(b, end - 4, block_be) as usize != len {
                        return None;
                    }
                    if rd32(b, at, false) == SHB_MAGIC {
                        be = block_be;
                    }
                    Some(end)
                })
            }
            None => (1..to).find(|&pos| self.block_at(b, pos, eof)),
        };
        let left = b.len() as u64;
        match found {
            Some(pos) => {
                let d = Damage {
                    offset: at,
                    reason,
                    resumed_at: Some(at + pos as u64),
                    skipped: pos as u64,
                };
                self.note_damage(d, pos as u64);
                self.consume(pos);
            }
            None if self.cut_short => {
                self.finish();
            }
            None => {
                let d = Damage {
                    offset: at,
                    reason,
                    resumed_at: None,
                    // All that was left, or the window when there was more.
                    skipped: if eof && left <= RESYNC_WINDOW as u64 {
                        left
                    } else {
                        RESYNC_WINDOW as u64
                    },
                };
                let skipped = d.skipped;
                self.note_damage(d, skipped);
                self.done = true;
                self.trailing = 0;
            }
        }
        Ok(())
    }

    /// Whether a pcapng block that resync may resume at stands at `pos` in `b` (`eof`: `b`
    /// runs to the end of the input): see [`set_resync`](Self::set_resync).
    fn block_at(&self, b: &[u8], pos: usize, eof: bool) -> bool {
        let Some((len, be)) = self.block_header_at(b, pos) else {
            return false;
        };
        let Some(end) = pos.checked_add(len).filter(|&e| e <= b.len()) else {
            return false;
        };
        if rd32(b, end - 4, be) as usize != len {
            return false;
        }
        let block_type = rd32(b, pos, be);
        let ok = match block_type {
            EPB_MAGIC | PB_MAGIC => {
                let if_id = if block_type == PB_MAGIC {
                    u32::from(rd16(b, pos + 8, be))
                } else {
                    rd32(b, pos + 8, be)
                };
                (if_id as usize) < self.section_ifaces.len()
                    && rd32(b, pos + 20, be) as usize <= len - 32
            }
            SHB_MAGIC => rd16(b, pos + 12, be) == 1,
            _ => true,
        };
        if !ok {
            return false;
        }
        // The next block, if its header is in the buffer, must look like one too (in the new
        // section's byte order after a section header).
        if end + 8 > b.len() {
            return !eof || end == b.len() || b.len() - end < 8;
        }
        let next_be = if block_type == SHB_MAGIC {
            be
        } else {
            self.section_be
        };
        match self.block_header_at_in(b, end, next_be) {
            Some((nlen, nbe)) => match end.checked_add(nlen).filter(|&e| e <= b.len()) {
                Some(nend) => rd32(b, nend - 4, nbe) as usize == nlen,
                None => true,
            },
            None => false,
        }
    }

    /// A known block type and a plausible length at `pos` in the current section's byte order
    /// (a section header's own otherwise): `(length, big-endian)`.
    fn block_header_at(&self, b: &[u8], pos: usize) -> Option<(usize, bool)> {
        self.block_header_at_in(b, pos, self.section_be)
    }

    fn block_header_at_in(&self, b: &[u8], pos: usize, be: bool) -> Option<(usize, bool)> {
        if b.len().checked_sub(pos)? < 12 {
            return None;
        }
        let (block_type, be) = if rd32(b, pos, false) == SHB_MAGIC {
            match rd32(b, pos + 8, false) {
                BOM_MAGIC => (SHB_MAGIC, false),
                m if m == BOM_MAGIC.swap_bytes() => (SHB_MAGIC, true),
                _ => return None,
            }
        } else {
            (rd32(b, pos, be), be)
        };
        let min = known_min_len(block_type)?;
        let len = rd32(b, pos + 4, be) as usize;
        (len >= min && len % 4 == 0 && len <= MAX_BLOCK_LEN).then_some((len, be))
    }

    /// All interfaces seen so far ([`Record::iface`] indexes this list). Legacy pcap: exactly
    /// one; pcapng: one per Interface Description Block, across all sections, in file order.
    /// The IDBs before the first packet are read by `open`; later ones (e.g. in a second
    /// section) appear once the reader has passed them.
    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// File offsets `(start, end)` of the whole record (pcap record header and data, or pcapng
    /// packet block) last returned by [`next_record`](Self::next_record).
    pub fn last_block(&self) -> (u64, u64) {
        self.last_block
    }

    /// With [`open_for_index`](Self::open_for_index): the byte ranges, in file order, of the
    /// blocks a reader must see before the packet blocks that follow them: the legacy pcap
    /// header, or each pcapng section header and interface description block. A stream made
    /// of these plus any whole packet blocks, in file order, reads those packets exactly as
    /// the whole file does.
    pub(crate) fn structure(&self) -> &[(u64, u64)] {
        self.structure.as_deref().unwrap_or(&[])
    }

    fn note_structure(&mut self, len: usize) {
        if let Some(s) = &mut self.structure {
            s.push((self.offset, self.offset + len as u64));
        }
    }

    /// The number of Simple Packet Blocks passed over: they carry no timestamp, so they can
    /// never fall in a time window and are not returned.
    pub fn spb_skipped(&self) -> u64 {
        self.spb_skipped
    }

    /// Byte offset in the file of the next unread block or record.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The path given at creation.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's container format (`Format::Pcap` with its magic, or `Format::Pcapng`).
    pub fn format(&self) -> Format {
        match self.kind {
            Kind::Pcap {
                big_endian, nanos, ..
            } => Format::Pcap { nanos, big_endian },
            Kind::Pcapng => Format::Pcapng,
        }
    }

    /// Once `next_record` returned `None`: the bytes after the last complete record, i.e. a
    /// record cut short (a file still being written, or cut). 0 for a clean end.
    pub fn trailing_bytes(&self) -> u64 {
        self.trailing
    }

    /// The current size of the read buffer.
    #[cfg(test)]
    pub(crate) fn buffer_len(&self) -> usize {
        self.buf.len()
    }

    fn err(&self, offset: u64, reason: impl Into<String>) -> Error {
        Error::Format {
            path: self.path.clone(),
            offset,
            reason: reason.into(),
        }
    }

    /// Makes at least `n` unconsumed bytes available in `buf[start..]`, reading as much as the
    /// buffer holds. `Ok(false)` when the input ends first.
    fn fill(&mut self, n: usize) -> Result<bool> {
        if self.end - self.start >= n {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        // Move the partial block to the front (it is shorter than `n`), then size the buffer.
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() > self.base_size && n <= self.base_size {
            // Back to the normal size after a large block (`end < n`: the data fits).
            self.buf.truncate(self.base_size);
            self.buf.shrink_to_fit();
        }
        while self.end < n {
            if self.end == self.buf.len() {
                // Grow as the data arrives, so that a corrupt length near the end of a file
                // does not allocate memory that will never be filled.
                let want = self.buf.len().saturating_mul(2).min(n);
                self.buf.resize(want, 0);
            }
            let space = &mut self.buf[self.end..];
            match self.inner.read(space) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(k) => self.end += k.min(space.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if let Some(d) = StreamDamage::of(&e) {
                        return self.stream_damage(d.clone());
                    }
                    return Err(Error::io(&self.path, e));
                }
            }
        }
        Ok(true)
    }

    /// A compressed stream is damaged: nothing after `d.offset` can be read. Once the file
    /// is open and when resynchronising, a damaged span that ends the file (the records
    /// before it are returned, the last one cut by it is not); else a format error that ends
    /// the file (or fails the open).
    fn stream_damage(&mut self, d: StreamDamage) -> Result<bool> {
        self.eof = true;
        if self.resync && self.opened {
            let damage = Damage {
                offset: d.offset,
                reason: d.to_string(),
                resumed_at: None,
                skipped: 0,
            };
            self.note_damage(damage, 0);
            return Ok(false);
        }
        self.fatal = true;
        Err(self.err(d.offset, d.to_string()))
    }

    fn consume(&mut self, len: usize) {
        self.start += len;
        self.offset += len as u64;
    }

    /// When resynchronising: a captured length that is wrong but within the limits would make
    /// the reader take the next records for packet bytes and read on from inside a packet. So
    /// when the header after this record (`total` bytes long, `sec` its seconds) is not a
    /// plausible one, and a chain of plausible records starts inside this record's bytes,
    /// this record is the damage: an error, which the resync turns into a damaged span
    /// ending at that chain. Otherwise (a file with odd but valid records) nothing changes.
    fn check_pcap_length(&mut self, sec: u32, caplen: u32, total: usize) -> Result<()> {
        let Some(chain) = self.pcap_chain() else {
            return Ok(());
        };
        if !self.fill(total + chain.header_len)? {
            return Ok(()); // the last record: nothing follows it
        }
        let b = &self.buf[self.start..self.end];
        if chain.follows(b, total, sec) {
            return Ok(());
        }
        let eof = !self.fill(total + SUSPECT_LOOKAHEAD)?;
        let b = &self.buf[self.start..self.end];
        match chain.find(b, 1, total, eof) {
            Some((p, _)) => Err(self.err(
                self.offset,
                format!(
                    "record captured length {caplen} runs past the next record ({p} bytes after this one's start)"
                ),
            )),
            None => Ok(()),
        }
    }

    /// The chain test of this legacy pcap file for resync (`None` for pcapng).
    fn pcap_chain(&self) -> Option<Chain> {
        match self.kind {
            Kind::Pcap {
                big_endian,
                modified,
                nanos,
                max_caplen,
            } => Some(Chain {
                big_endian,
                nanos,
                header_len: if modified { 24 } else { 16 },
                max_caplen: max_caplen.min(RESYNC_LOOKAHEAD as u32 / 8),
                near_sec: None,
            }),
            Kind::Pcapng => None,
        }
    }

    /// A record or block of `len` bytes runs past the end of the input: without resync the
    /// file ends there (a cut-off last record); with it, this error makes the reader look for
    /// records after its start first.
    fn cut_short_err(&mut self, len: usize) -> Result<Option<Pkt>> {
        if !self.resync || !RESYNC_PAST_CUT {
            return Ok(self.finish());
        }
        self.cut_short = true;
        self.cut_len = len;
        let left = self.end - self.start;
        Err(self.err(
            self.offset,
            format!("a record of {len} bytes runs past the end of the file ({left} bytes left)"),
        ))
    }

    /// End of input: remember what was left over.
    fn finish(&mut self) -> Option<Pkt> {
        self.trailing = (self.end - self.start) as u64;
        self.done = true;
        None
    }

    fn pcap_header(&mut self) -> Result<()> {
        if !self.fill(24)? {
            return Err(self.err(
                0,
                format!("pcap file header cut short ({} of 24 bytes)", self.end),
            ));
        }
        let hdr = match pcap_parser::parse_pcap_header(&self.buf[..24]) {
            Ok((_, h)) => h,
            Err(_) => return Err(self.err(0, "pcap file header not recognised")),
        };
        let big_endian = hdr.is_bigendian();
        let modified = hdr.is_modified_format();
        let nanos = hdr.is_nanosecond_precision();
        let max_caplen = pcap::max_caplen(hdr.snaplen).min((MAX_BLOCK_LEN - 24) as u32);
        self.kind = Kind::Pcap {
            big_endian,
            modified,
            nanos,
            max_caplen,
        };
        let field = hdr.network.0 as u32;
        self.interfaces.push(Interface {
            format: Format::Pcap { nanos, big_endian },
            linktype: pcap::linktype_of(field),
            fcs_bits: pcap::fcs_bits_of(field),
            snaplen: hdr.snaplen,
            units_per_sec: if nanos { 1_000_000_000 } else { 1_000_000 },
            tsresol: if nanos { 9 } else { 6 },
            tsoffset: 0,
        });
        self.note_structure(24);
        self.consume(24);
        Ok(())
    }

    fn next_pcap(
        &mut self,
        big_endian: bool,
        modified: bool,
        nanos: bool,
        max_caplen: u32,
    ) -> Result<Option<Pkt>> {
        // Modified pcap adds ifindex (4), protocol (2), pkt_type (1) and padding (1).
        let hlen = if modified { 24 } else { 16 };
        if !self.fill(hlen)? {
            return Ok(self.finish());
        }
        let RecordHeader {
            sec,
            frac,
            caplen,
            orig_len,
        } = match RecordHeader::parse(&self.buf, self.start, big_endian) {
            Some(h) => h,
            None => return Ok(self.finish()), // not reached: `fill` made the bytes available
        };
        if caplen > max_caplen {
            return Err(self.err(
                self.offset,
                format!("record captured length {caplen} exceeds the limit of {max_caplen} bytes"),
            ));
        }
        let total = hlen + caplen as usize;
        if !self.fill(total)? {
            return self.cut_short_err(total);
        }
        if self.resync {
            self.check_pcap_length(sec, caplen, total)?;
        }
        let s = self.start;
        self.last_block = (self.offset, self.offset + total as u64);
        self.consume(total);
        Ok(Some(Pkt {
            ts: ts::pcap_ts(sec, frac, nanos),
            ts_raw: (sec, frac),
            orig_len,
            start: s + hlen,
            end: s + total,
            iface: 0,
        }))
    }

    /// Checks a pcapng block length read from the file.
    fn check_len(&self, len: u32, min: usize, block_type: u32) -> Result<usize> {
        let name = block_name(block_type);
        let l = len as usize;
        if l < min {
            return Err(self.err(
                self.offset,
                format!("{name} (type {block_type:#x}) length {len} is below its minimum of {min}"),
            ));
        }
        if l % 4 != 0 {
            return Err(self.err(
                self.offset,
                format!("{name} (type {block_type:#x}) length {len} is not a multiple of 4"),
            ));
        }
        if l > MAX_BLOCK_LEN {
            return Err(self.err(
                self.offset,
                format!(
                    "{name} (type {block_type:#x}) length {len} exceeds the limit of {MAX_BLOCK_LEN} bytes"
                ),
            ));
        }
        Ok(l)
    }

    /// The trailing copy of the block length must equal the leading one.
    fn check_trailer(&self, len: usize, be: bool, block_type: u32) -> Result<()> {
        let s = self.start;
        let lead = rd32(&self.buf, s + 4, be);
        let trail = rd32(&self.buf, s + len - 4, be);
        if lead != trail {
            return Err(self.err(
                self.offset,
                format!(
                    "{} (type {block_type:#x}) trailing length {trail} differs from its length {lead}",
                    block_name(block_type)
                ),
            ));
        }
        Ok(())
    }

    /// Reads a Section Header Block at `start`. `Ok(false)` when the input ends inside it.
    fn section_header(&mut self) -> Result<bool> {
        if !self.fill(12)? {
            return Ok(false);
        }
        let s = self.start;
        let be = match rd32(&self.buf, s + 8, false) {
            BOM_MAGIC => false,
            m if m == BOM_MAGIC.swap_bytes() => true,
            m => {
                return Err(self.err(
                    self.offset,
                    format!("section header block byte-order magic {m:#010x} is not 0x1a2b3c4d"),
                ))
            }
        };
        let len = self.check_len(rd32(&self.buf, s + 4, be), 28, SHB_MAGIC)?;
        if !self.fill(len)? {
            return Ok(false);
        }
        self.check_trailer(len, be, SHB_MAGIC)?;
        let s = self.start;
        let (major, minor) = match parse_sectionheaderblock(&self.buf[s..s + len]) {
            Ok((_, shb)) => (shb.major_version, shb.minor_version),
            Err(_) => return Err(self.err(self.offset, "invalid section header block")),
        };
        if major != 1 {
            self.fatal = true;
            return Err(self.err(
                self.offset,
                format!("unsupported pcapng version {major}.{minor} (only 1.x is known)"),
            ));
        }
        self.section_be = be;
        self.section_ifaces.clear();
        self.note_structure(len);
        self.consume(len);
        Ok(true)
    }

    fn interface_description(&mut self, len: usize) -> Result<()> {
        let be = self.section_be;
        let s = self.start;
        let block = &self.buf[s..s + len];
        let parsed = if be {
            parse_interfacedescriptionblock_be(block)
        } else {
            parse_interfacedescriptionblock_le(block)
        };
        let idb = match parsed {
            Ok((_, idb)) => idb,
            Err(_) => return Err(self.err(self.offset, "invalid interface description block")),
        };
        let mut tsresol: Option<u8> = None;
        let mut tsoffset: Option<i64> = None;
        let mut fcs_bits: Option<u8> = None;
        for opt in &idb.options {
            match (opt.code.0, opt.as_bytes()) {
                (0, _) => break,
                (9, Ok(&[v])) if tsresol.is_none() => tsresol = Some(v),
                (IF_FCSLEN, Ok(&[v])) if fcs_bits.is_none() => fcs_bits = Some(v),
                (14, Ok(v)) if tsoffset.is_none() => {
                    if let Ok(a) = <[u8; 8]>::try_from(v) {
                        tsoffset = Some(if be {
                            i64::from_be_bytes(a)
                        } else {
                            i64::from_le_bytes(a)
                        });
                    }
                }
                _ => {}
            }
        }
        let tsresol = tsresol.unwrap_or(6);
        let tsoffset = tsoffset.unwrap_or(0);
        let (conv, units) = match (TsConv::from_tsresol(tsresol), ts::units_per_sec(tsresol)) {
            (Some(c), Some(u)) => (c, u),
            _ => {
                return Err(self.err(
                    self.offset,
                    format!("interface if_tsresol {tsresol:#04x} is too fine (more than 2^63 or 10^19 units per second)"),
                ))
            }
        };
        if self.interfaces.len() >= MAX_INTERFACES {
            self.fatal = true;
            return Err(self.err(
                self.offset,
                format!("more than {MAX_INTERFACES} interfaces in one file"),
            ));
        }
        let iface = Interface {
            format: Format::Pcapng,
            linktype: u32::from(rd16(block, 8, be)),
            snaplen: idb.snaplen,
            units_per_sec: units,
            tsresol,
            tsoffset,
            fcs_bits,
        };
        self.section_ifaces.push(self.interfaces.len());
        self.interfaces.push(iface);
        self.convs.push((conv, tsoffset));
        Ok(())
    }

    /// EPB (`pb` false) or obsolete PB (`pb` true) at `start`, `len` bytes, already checked.
    fn packet_block(&self, len: usize, pb: bool) -> Result<Pkt> {
        let be = self.section_be;
        let s = self.start;
        let b = &self.buf;
        let if_id = if pb {
            u32::from(rd16(b, s + 8, be))
        } else {
            rd32(b, s + 8, be)
        };
        let ts_high = rd32(b, s + 12, be);
        let ts_low = rd32(b, s + 16, be);
        let caplen = rd32(b, s + 20, be);
        let orig_len = rd32(b, s + 24, be);
        let kind = if pb { PB_MAGIC } else { EPB_MAGIC };
        if caplen as usize > len - 32 {
            return Err(self.err(
                self.offset,
                format!(
                    "{} captured length {caplen} does not fit its block length {len}",
                    block_name(kind)
                ),
            ));
        }
        let iface = match self.section_ifaces.get(if_id as usize) {
            Some(&g) => g,
            None => {
                return Err(self.err(
                    self.offset,
                    format!(
                        "{} for interface {if_id}, but the section has {} interface(s)",
                        block_name(kind),
                        self.section_ifaces.len()
                    ),
                ))
            }
        };
        let (conv, off) = self.convs.get(iface).copied().unwrap_or((TsConv::Zero, 0));
        let ts_raw = (ts_high, ts_low);
        Ok(Pkt {
            ts: conv.timestamp(off, ts::raw64(ts_raw)),
            ts_raw,
            orig_len,
            start: s + 28,
            end: s + 28 + caplen as usize,
            iface,
        })
    }

    /// The next EPB/PB. `peek`: stop before it instead (and return `None`).
    fn next_pcapng(&mut self, peek: bool) -> Result<Option<Pkt>> {
        loop {
            if !self.fill(8)? {
                return Ok(self.finish());
            }
            if rd32(&self.buf, self.start, false) == SHB_MAGIC {
                if !self.section_header()? {
                    return Ok(self.finish());
                }
                continue;
            }
            let be = self.section_be;
            let block_type = rd32(&self.buf, self.start, be);
            let min = known_min_len(block_type).unwrap_or(12);
            let len = self.check_len(rd32(&self.buf, self.start + 4, be), min, block_type)?;
            if !self.fill(len)? {
                return self.cut_short_err(len);
            }
            self.check_trailer(len, be, block_type)?;
            match block_type {
                EPB_MAGIC | PB_MAGIC if peek => return Ok(None),
                EPB_MAGIC | PB_MAGIC => {
                    let p = self.packet_block(len, block_type == PB_MAGIC)?;
                    self.last_block = (self.offset, self.offset + len as u64);
                    self.consume(len);
                    return Ok(Some(p));
                }
                IDB_MAGIC => {
                    self.interface_description(len)?;
                    self.note_structure(len);
                }
                SPB_MAGIC => self.spb_skipped += 1,
                t if known_min_len(t).is_none() => {
                    if self.unknown_blocks.0 == 0 {
                        self.unknown_blocks = (0, self.offset, t);
                    }
                    self.unknown_blocks.0 += 1;
                }
                _ => {}
            }
            self.consume(len);
        }
    }
}
