//! The index file format: tables, checksums, varints, (de)serialisation, freshness, saving.
//! See the module docs of [`crate::index`] for the layout.

use crate::capture::compress::{Compression, FrameStart};
use crate::error::{Error, Result};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::UNIX_EPOCH;

/// Target size of an index block (whole records).
pub const BLOCK_BYTES: u64 = 1 << 20;
/// Records whose gap is at most this many bytes are read in one request (the records in
/// between are read too and rejected by the matcher).
pub const COALESCE_GAP: u64 = 16 << 10;
pub(super) const MAGIC: &[u8; 8] = b"CAPMEIX2";
/// 3: the header grew to 72 bytes for the compressed-file fields (compression, frame table),
/// and tunnel packets are also listed under their inner layers' keys (an index of version 2
/// lacks both, so it is not used: the file is scanned until the index is rebuilt).
pub(super) const VERSION: u32 = 3;
pub(super) const HEADER_LEN: usize = 72;
pub(super) const BLOCK_LEN: usize = 32;
pub(super) const FLOW_LEN: usize = 14;
pub(super) const STRUCT_LEN: usize = 16;
pub(super) const FRAME_LEN: usize = 16;
pub(super) const UNSUPPORTED_LEN: usize = 12;

/// One block of a capture file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Byte offset of its first record.
    pub offset: u64,
    /// Length in bytes (whole records).
    pub len: u64,
    /// Earliest record time (ns).
    pub min_ts: i64,
    /// Latest record time (ns).
    pub max_ts: i64,
}

/// One flow hash's entry in the flow table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowEntry {
    /// The key or address-pair hash ([`super::key_hash`], [`super::pair_hash`]).
    pub hash: u32,
    /// Where the list starts in the record lists (not stored: the sum of the lengths of the
    /// lists before it).
    pub start: u64,
    /// Its length in bytes.
    pub len: u32,
    /// Checksum of the list's bytes.
    pub sum: u32,
    /// [`CommunityId::tag`](crate::CommunityId::tag) (seed 0) of the flow key listed here.
    pub cid_tag: u16,
    /// The list holds records of more than one flow key (a hash collision): a candidate for
    /// every Community ID lookup.
    pub any_cid: bool,
}

/// Bit of a flow entry's stored length that marks [`FlowEntry::any_cid`].
pub(super) const ANY_CID_BIT: u32 = 1 << 31;

/// The index of one capture file, whole (as built, or parsed from bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIndex {
    /// Size of the capture file when indexed.
    pub capture_size: u64,
    /// Modification time of the capture file when indexed (ns since the epoch).
    pub capture_mtime_ns: i64,
    /// End of the last whole record indexed.
    pub indexed_len: u64,
    /// The blocks, in file order.
    pub blocks: Vec<Block>,
    /// The structure blocks `(start, end)` (pcap header; pcapng section headers and interface
    /// descriptions), in file order.
    pub structure: Vec<(u64, u64)>,
    /// The flow table, sorted by hash.
    pub flows: Vec<FlowEntry>,
    /// The capture file is compressed in this format: every offset above is one of its
    /// decompressed bytes.
    pub compression: Option<Compression>,
    /// A compressed file's frame starts (sorted; empty for a plain file), where a query may
    /// start decoding.
    pub frames: Vec<FrameStart>,
    /// Records of link types the decoder does not know, `(link type, records)` in the order
    /// first seen: listed under no flow, so a query answered from the index says so, as a
    /// scan does.
    pub unsupported: Vec<(u32, u64)>,
    pub(super) lists: Vec<u8>,
}

/// How an index relates to its capture file now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Size and mtime as recorded: the index covers the file.
    Fresh,
    /// The file grew: the index covers `indexed_len` bytes, the rest must be scanned.
    Growing,
    /// The file changed otherwise: the index cannot be used.
    Stale,
}

pub use crate::hash::sum64;

pub(super) fn sum32(data: &[u8]) -> u32 {
    sum64(data) as u32
}

pub(super) fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one LEB128 varint at `*at`; `None` when cut or longer than 10 bytes.
pub(super) fn read_varint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *data.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

pub(super) fn mtime_ns(m: &fs::Metadata) -> i64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

/// The parts of an index every query reads: header, blocks and flow table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Meta {
    pub(super) capture_size: u64,
    pub(super) capture_mtime_ns: i64,
    pub(super) indexed_len: u64,
    pub(super) blocks: Vec<Block>,
    pub(super) structure: Vec<(u64, u64)>,
    pub(super) flows: Vec<FlowEntry>,
    pub(super) lists_len: u64,
    pub(super) compression: Option<Compression>,
    pub(super) frames: Vec<FrameStart>,
    pub(super) unsupported: Vec<(u32, u64)>,
}

pub(super) fn meta_bytes(m: &Meta) -> Vec<u8> {
    let mut v = Vec::with_capacity(
        HEADER_LEN
            + m.blocks.len() * BLOCK_LEN
            + m.structure.len() * STRUCT_LEN
            + m.flows.len() * FLOW_LEN
            + m.frames.len() * FRAME_LEN
            + m.unsupported.len() * UNSUPPORTED_LEN,
    );
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(&VERSION.to_le_bytes());
    v.extend_from_slice(&(m.structure.len() as u32).to_le_bytes());
    v.extend_from_slice(&m.capture_size.to_le_bytes());
    v.extend_from_slice(&m.capture_mtime_ns.to_le_bytes());
    v.extend_from_slice(&m.indexed_len.to_le_bytes());
    v.extend_from_slice(&(m.blocks.len() as u32).to_le_bytes());
    v.extend_from_slice(&(m.flows.len() as u32).to_le_bytes());
    v.extend_from_slice(&m.lists_len.to_le_bytes());
    v.extend_from_slice(&[0; 8]); // the checksum, below
    v.extend_from_slice(&(m.frames.len() as u32).to_le_bytes());
    v.push(m.compression.map_or(0, Compression::code));
    // At most u16::MAX link types (a pcapng file names at most that many kinds in practice;
    // the builder stops counting new ones there).
    v.extend_from_slice(&(m.unsupported.len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
    v.push(0);
    for b in &m.blocks {
        v.extend_from_slice(&b.offset.to_le_bytes());
        v.extend_from_slice(&b.len.to_le_bytes());
        v.extend_from_slice(&b.min_ts.to_le_bytes());
        v.extend_from_slice(&b.max_ts.to_le_bytes());
    }
    for (a, b) in &m.structure {
        v.extend_from_slice(&a.to_le_bytes());
        v.extend_from_slice(&b.to_le_bytes());
    }
    for f in &m.flows {
        v.extend_from_slice(&f.hash.to_le_bytes());
        v.extend_from_slice(&(f.len | if f.any_cid { ANY_CID_BIT } else { 0 }).to_le_bytes());
        v.extend_from_slice(&f.sum.to_le_bytes());
        v.extend_from_slice(&f.cid_tag.to_le_bytes());
    }
    for f in &m.frames {
        v.extend_from_slice(&f.compressed.to_le_bytes());
        v.extend_from_slice(&f.offset.to_le_bytes());
    }
    for &(lt, n) in m.unsupported.iter().take(usize::from(u16::MAX)) {
        v.extend_from_slice(&lt.to_le_bytes());
        v.extend_from_slice(&n.to_le_bytes());
    }
    let sum = meta_sum(&v);
    v[56..64].copy_from_slice(&sum.to_le_bytes());
    v
}

/// The checksum of a header + tables image (its checksum field, bytes 56..64, excluded).
pub(super) fn meta_sum(v: &[u8]) -> u64 {
    let mut h = sum64(&v[..56]);
    h ^= sum64(&v[64..]).rotate_left(17);
    h
}

pub(super) fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
pub(super) fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// Parses a header; returns the length of the tables that follow it.
pub(super) fn parse_header(h: &[u8]) -> std::result::Result<usize, String> {
    if h.len() < HEADER_LEN || &h[..8] != MAGIC {
        return Err("not a capme index (or an index of an older capme: rebuild it)".into());
    }
    if u32_at(h, 8) != VERSION {
        return Err(format!(
            "index version {} (this capme reads {VERSION})",
            u32_at(h, 8)
        ));
    }
    let (nb, ns, nf) = (
        u32_at(h, 40) as usize,
        u32_at(h, 12) as usize,
        u32_at(h, 44) as usize,
    );
    let nfr = u32_at(h, 64) as usize;
    let nun = unsupported_count(h);
    Ok(nb * BLOCK_LEN + ns * STRUCT_LEN + nf * FLOW_LEN + nfr * FRAME_LEN + nun * UNSUPPORTED_LEN)
}

/// The number of entries of the unsupported link types' table (header bytes 69..71).
fn unsupported_count(h: &[u8]) -> usize {
    usize::from(u16::from_le_bytes([h[69], h[70]]))
}

/// Parses header + tables (`v` holds exactly them); checks the checksum and every offset.
pub(super) fn parse_meta(v: &[u8]) -> std::result::Result<Meta, String> {
    let tables = parse_header(v)?;
    if v.len() != HEADER_LEN + tables {
        return Err("cut in its tables".into());
    }
    if meta_sum(v) != u64_at(v, 56) {
        return Err("checksum mismatch in its header or tables".into());
    }
    let (nb, ns, nf) = (
        u32_at(v, 40) as usize,
        u32_at(v, 12) as usize,
        u32_at(v, 44) as usize,
    );
    let indexed_len = u64_at(v, 32);
    let lists_len = u64_at(v, 48);
    let mut blocks = Vec::with_capacity(nb);
    for i in 0..nb {
        let o = HEADER_LEN + i * BLOCK_LEN;
        let b = Block {
            offset: u64_at(v, o),
            len: u64_at(v, o + 8),
            min_ts: u64_at(v, o + 16) as i64,
            max_ts: u64_at(v, o + 24) as i64,
        };
        if b.offset.checked_add(b.len).is_none_or(|e| e > indexed_len) {
            return Err(format!("block {i} ends beyond the indexed length"));
        }
        blocks.push(b);
    }
    let mut structure = Vec::with_capacity(ns);
    for i in 0..ns {
        let o = HEADER_LEN + nb * BLOCK_LEN + i * STRUCT_LEN;
        let (a, b) = (u64_at(v, o), u64_at(v, o + 8));
        let after_previous = structure.last().is_none_or(|&(_, e)| a >= e);
        if a >= b || b > indexed_len || !after_previous {
            return Err(format!(
                "structure block {i} is out of order or out of range"
            ));
        }
        structure.push((a, b));
    }
    let mut flows = Vec::with_capacity(nf);
    let mut start = 0u64;
    for i in 0..nf {
        let o = HEADER_LEN + nb * BLOCK_LEN + ns * STRUCT_LEN + i * FLOW_LEN;
        let stored_len = u32_at(v, o + 4);
        let f = FlowEntry {
            hash: u32_at(v, o),
            start,
            len: stored_len & !ANY_CID_BIT,
            sum: u32_at(v, o + 8),
            cid_tag: u16::from_le_bytes([v[o + 12], v[o + 13]]),
            any_cid: stored_len & ANY_CID_BIT != 0,
        };
        start += f.len as u64;
        if f.start
            .checked_add(f.len as u64)
            .is_none_or(|e| e > lists_len)
        {
            return Err(format!("flow {i} names a list beyond the record lists"));
        }
        if flows.last().is_some_and(|p: &FlowEntry| p.hash >= f.hash) {
            return Err(format!("flow table not sorted at entry {i}"));
        }
        flows.push(f);
    }
    if start != lists_len {
        return Err("flow table does not account for the record lists".into());
    }
    // The reserved byte after the unsupported count: zero, so that an accepted index is
    // exactly what this capme writes.
    if v[71] != 0 {
        return Err("reserved header byte 71 is not zero".into());
    }
    let compression = Compression::from_code(v[68])?;
    let nfr = u32_at(v, 64) as usize;
    let mut frames: Vec<FrameStart> = Vec::with_capacity(nfr);
    for i in 0..nfr {
        let o = HEADER_LEN + nb * BLOCK_LEN + ns * STRUCT_LEN + nf * FLOW_LEN + i * FRAME_LEN;
        let f = FrameStart {
            compressed: u64_at(v, o),
            offset: u64_at(v, o + 8),
        };
        if compression.is_none() || frames.last().is_some_and(|p| *p >= f) {
            return Err(format!("frame table out of order at entry {i}"));
        }
        frames.push(f);
    }
    let nun = unsupported_count(v);
    let mut unsupported: Vec<(u32, u64)> = Vec::with_capacity(nun);
    for i in 0..nun {
        let o = HEADER_LEN
            + nb * BLOCK_LEN
            + ns * STRUCT_LEN
            + nf * FLOW_LEN
            + nfr * FRAME_LEN
            + i * UNSUPPORTED_LEN;
        let (lt, n) = (u32_at(v, o), u64_at(v, o + 4));
        if unsupported.iter().any(|&(l, _)| l == lt) {
            return Err(format!(
                "link type {lt} named twice in the unsupported table"
            ));
        }
        unsupported.push((lt, n));
    }
    Ok(Meta {
        capture_size: u64_at(v, 16),
        capture_mtime_ns: u64_at(v, 24) as i64,
        indexed_len,
        blocks,
        structure,
        flows,
        lists_len,
        compression,
        frames,
        unsupported,
    })
}

/// Decodes one flow's record list into `(offset, end)` pairs, checking its checksum and that
/// every record lies within the indexed length.
pub(super) fn decode_list(
    f: &FlowEntry,
    bytes: &[u8],
    indexed_len: u64,
    out: &mut Vec<(u64, u64)>,
) -> std::result::Result<(), String> {
    if bytes.len() != f.len as usize || sum32(bytes) != f.sum {
        return Err(format!(
            "checksum mismatch in the record list of flow {:08x}",
            f.hash
        ));
    }
    let (mut at, mut prev_end) = (0usize, 0u64);
    while at < bytes.len() {
        let bad = || format!("bad record list of flow {:08x}", f.hash);
        let gap = read_varint(bytes, &mut at).ok_or_else(bad)?;
        let len = read_varint(bytes, &mut at).ok_or_else(bad)?;
        let off = prev_end.checked_add(gap).ok_or_else(bad)?;
        let end = off.checked_add(len).ok_or_else(bad)?;
        if end > indexed_len || len == 0 {
            return Err(bad());
        }
        out.push((off, end));
        prev_end = end;
    }
    Ok(())
}

impl FileIndex {
    fn meta(&self) -> Meta {
        Meta {
            capture_size: self.capture_size,
            capture_mtime_ns: self.capture_mtime_ns,
            indexed_len: self.indexed_len,
            blocks: self.blocks.clone(),
            structure: self.structure.clone(),
            flows: self.flows.clone(),
            lists_len: self.lists.len() as u64,
            compression: self.compression,
            frames: self.frames.clone(),
            unsupported: self.unsupported.clone(),
        }
    }

    /// The records listed under `hash`, as `(offset, end)` byte ranges in file order.
    pub fn records(&self, hash: u32) -> std::result::Result<Vec<(u64, u64)>, String> {
        let mut out = Vec::new();
        if let Ok(i) = self.flows.binary_search_by_key(&hash, |f| f.hash) {
            let f = &self.flows[i];
            let s = f.start as usize;
            decode_list(
                f,
                &self.lists[s..s + f.len as usize],
                self.indexed_len,
                &mut out,
            )?;
        }
        Ok(out)
    }

    /// How this index relates to the capture file's current metadata.
    pub fn freshness(&self, meta: &fs::Metadata) -> Freshness {
        freshness(self.capture_size, self.capture_mtime_ns, meta)
    }

    /// Serialises the index.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = meta_bytes(&self.meta());
        v.extend_from_slice(&self.lists);
        v
    }

    /// Parses a whole index; every length is checked against the data, every checksum
    /// verified.
    pub fn from_bytes(v: &[u8]) -> std::result::Result<FileIndex, String> {
        let tables = parse_header(v)?;
        let meta_len = HEADER_LEN + tables;
        if v.len() < meta_len {
            return Err("cut in its tables".into());
        }
        let m = parse_meta(&v[..meta_len])?;
        let lists = &v[meta_len..];
        if lists.len() as u64 != m.lists_len {
            return Err(format!(
                "record lists are {} bytes, the header says {}",
                lists.len(),
                m.lists_len
            ));
        }
        let mut scratch = Vec::new();
        for f in &m.flows {
            let s = f.start as usize;
            decode_list(
                f,
                &lists[s..s + f.len as usize],
                m.indexed_len,
                &mut scratch,
            )?;
            scratch.clear();
        }
        Ok(FileIndex {
            capture_size: m.capture_size,
            capture_mtime_ns: m.capture_mtime_ns,
            indexed_len: m.indexed_len,
            blocks: m.blocks,
            structure: m.structure,
            flows: m.flows,
            compression: m.compression,
            frames: m.frames,
            unsupported: m.unsupported,
            lists: lists.to_vec(),
        })
    }

    /// Reads a whole index file: `Ok(None)` when it does not exist, `Err(reason)` when
    /// unusable.
    pub fn load(path: &Path) -> std::result::Result<Option<FileIndex>, String> {
        match fs::read(path) {
            Ok(v) => FileIndex::from_bytes(&v).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

pub(super) fn freshness(size: u64, mtime: i64, meta: &fs::Metadata) -> Freshness {
    if meta.len() == size && mtime_ns(meta) == mtime {
        Freshness::Fresh
    } else if meta.len() > size {
        Freshness::Growing
    } else {
        Freshness::Stale
    }
}

impl FileIndex {
    /// Writes the index atomically (temporary file in the same directory, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut tmp = crate::io::temp_builder()
            .prefix(".capme-index.")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        tmp.write_all(&self.to_bytes())
            .map_err(|e| Error::io(tmp.path(), e))?;
        tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        Ok(())
    }
}
