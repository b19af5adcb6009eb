//! Flow index: one sidecar file per capture file (legacy pcap or pcapng), so that a pivot reads
//! only the records of a capture file that can belong to the flow.
//!
//! ## Design
//! Three tables, all built in one pass over the capture file:
//! - **structure**: the byte ranges of the blocks a reader needs before packet blocks: the pcap
//!   file header, or each pcapng section header and interface description. A query reads
//!   them, in file order, merged with the packet records it selects, so the reader sees a valid
//!   stream (byte order, link types and timestamp resolutions of every section and interface).
//! - **time → offset**: the file is cut into *blocks* of about [`BLOCK_BYTES`] of whole
//!   records; each block keeps its byte range and its earliest and latest record time.
//! - **flow → records**: for every 32-bit hash of a canonical [`FlowKey`] seen in the file, the
//!   list of its records' byte ranges (offset and length), in file order, and the first two
//!   bytes of the key's Community ID (seed 0), so that a Community ID query finds its flow's
//!   list among the few with that tag (then the key, and the address pair of its fragments,
//!   from the records themselves). Non-first IP
//!   fragments carry no ports, so they are entered under the hash of their `(protocol, address
//!   pair)`; a query looks up its keys' hashes *and* its address pairs' hashes. VLAN/QinQ/MPLS
//!   packets are entered under their decoded key like any other.
//!
//! A query takes the union of its hashes' record lists, keeps the records inside blocks whose
//! time range meets the window (with the reorder slack), coalesces neighbours into a few large
//! reads, and feeds them through the same matcher as a scan. Every packet a scan would return
//! is in those lists, so an indexed extraction returns exactly what an unindexed one does; a
//! hash collision only costs reading a few records more. Per-record lists (rather than per-block
//! hash sets, capme's first design) matter for the common pivot: a long TCP connection has a
//! packet in nearly every block of its window, so block granularity read almost as much as
//! time pruning alone.
//!
//! Size: per record a gap and a length as LEB128 varints (2–4 bytes, against a record of 16
//! bytes of header plus the packet), plus 14 bytes per flow and 32 per block: about 0.4 % of
//! a capture of 700-byte packets. Build cost: one framing + decode + hash per packet.
//!
//! A query reads the index partially: the header, the block and flow tables (checksummed
//! together), then only its own flows' record lists (each with its own checksum). A corrupt
//! part that the query reads makes it scan the capture file instead, with a warning.
//!
//! ## File format (little-endian)
//! Header (64 bytes): `"CAPMEIX2"`, version u32, structure count u32, capture size u64, capture mtime ns
//! i64, indexed length u64 (end of the last whole record indexed), block count u32, flow count
//! u32, record-lists length u64, checksum u64 of the header's first 56 bytes and both tables.
//! Blocks: `offset u64, len u64, min_ts i64, max_ts i64`. Structure: `start u64, end u64`.
//! Flows, sorted by hash:
//! `hash u32, len u32 (top bit: several keys share the list), checksum u32, Community ID tag
//! u16`; the lists follow in the same order, each `len` bytes. A
//! list is, per record, `gap` (offset minus the previous record's end, the first from 0) and
//! `len` as LEB128. Written to a temporary file and renamed.
//!
//! ## Freshness
//! An index is used when the capture file's size and mtime are those recorded. A capture file
//! that has grown (still being written) uses the index for the part it covers and is scanned
//! from there on. Anything else (smaller, unreadable, corrupt or missing index) is scanned.
//! Community ID queries with a seed other than 0 are answered by scanning.

use crate::capture::CaptureReader;
use crate::error::{Error, Result};
use crate::flow::{CommunityId, Endpoint, FlowKey, Proto};
use crate::wire::decode;
use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Target size of an index block (whole records).
pub const BLOCK_BYTES: u64 = 1 << 20;
/// Records whose gap is at most this many bytes are read in one request (the records in
/// between are read too and rejected by the matcher).
pub const COALESCE_GAP: u64 = 16 << 10;
const MAGIC: &[u8; 8] = b"CAPMEIX2";
const VERSION: u32 = 2;
const HEADER_LEN: usize = 64;
const BLOCK_LEN: usize = 32;
const FLOW_LEN: usize = 14;
const STRUCT_LEN: usize = 16;
/// The extension of index files.
pub const EXTENSION: &str = "cidx";

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
    /// The key or address-pair hash ([`key_hash`], [`pair_hash`]).
    pub hash: u32,
    /// Where the list starts in the record lists (not stored: the sum of the lengths of the
    /// lists before it).
    pub start: u64,
    /// Its length in bytes.
    pub len: u32,
    /// Checksum of the list's bytes.
    pub sum: u32,
    /// [`CommunityId::tag`] (seed 0) of the flow key listed here.
    pub cid_tag: u16,
    /// The list holds records of more than one flow key (a hash collision): a candidate for
    /// every Community ID lookup.
    pub any_cid: bool,
}

/// Bit of a flow entry's stored length that marks [`FlowEntry::any_cid`].
const ANY_CID_BIT: u32 = 1 << 31;

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
    lists: Vec<u8>,
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

fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Integrity checksum of index bytes, eight bytes at a time. Each step (xor a word, multiply
/// by an odd constant, xor-shift) is a bijection of the state, so any change confined to one
/// word always changes the result; it guards against accidental corruption, not forgery.
fn sum64(data: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h = (data.len() as u64).wrapping_mul(K) ^ 0x6361_706d_6569_7832;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        h = (h ^ u64::from_le_bytes(w.try_into().expect("8 bytes"))).wrapping_mul(K);
        h ^= h >> 29;
    }
    let mut last = [0u8; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    h = (h ^ u64::from_le_bytes(last)).wrapping_mul(K);
    // Final avalanche (MurmurHash3's fmix64, also a bijection): every input bit reaches
    // every output bit, so the low half alone is a good 32-bit checksum.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn sum32(data: &[u8]) -> u32 {
    sum64(data) as u32
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one LEB128 varint at `*at`; `None` when cut or longer than 10 bytes.
fn read_varint(data: &[u8], at: &mut usize) -> Option<u64> {
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

/// Hashes up to 40 bytes built on the stack (no allocation per packet).
struct KeyBytes {
    buf: [u8; 40],
    len: usize,
}

impl KeyBytes {
    fn new() -> KeyBytes {
        KeyBytes {
            buf: [0; 40],
            len: 0,
        }
    }
    fn push(&mut self, b: &[u8]) {
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }
    fn addr(&mut self, a: IpAddr) {
        match a {
            IpAddr::V4(v) => self.push(&v.octets()),
            IpAddr::V6(v) => self.push(&v.octets()),
        }
    }
    fn hash(&self) -> u32 {
        let h = fnv64(&self.buf[..self.len]);
        (h ^ (h >> 32)) as u32
    }
}

/// The index hash of a canonical flow key.
pub fn key_hash(k: &FlowKey) -> u32 {
    let mut b = KeyBytes::new();
    b.push(&[k.proto().0]);
    for e in [k.first(), k.second()] {
        b.addr(e.addr);
        b.push(&e.port.to_be_bytes());
    }
    b.hash()
}

/// The index hash under which non-first fragments of `(proto, a, b)` are entered.
pub fn pair_hash(proto: Proto, a: IpAddr, b: IpAddr) -> u32 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut v = KeyBytes::new();
    v.push(&[0xfe, proto.0]);
    v.addr(lo);
    v.addr(hi);
    v.hash()
}

/// The canonical key of a packet that carries one (not a non-first fragment, not a truncated
/// transport header): what the matcher compares.
pub(crate) fn packet_key(linktype: u32, data: &[u8]) -> Option<FlowKey> {
    let d = decode(linktype, data)?;
    if d.frag.is_some_and(|f| f.offset != 0) {
        return None;
    }
    let (sp, dp) = match (d.proto.has_ports(), d.ports) {
        (true, Some(p)) => p,
        (true, None) => return None,
        (false, _) => (0, 0),
    };
    Some(FlowKey::new(
        d.proto,
        Endpoint::new(d.src, sp),
        Endpoint::new(d.dst, dp),
    ))
}

/// The hash a packet is indexed under, with its key (none for a non-first fragment, which is
/// filed under its address pair), if it can belong to any flow.
fn packet_hash(linktype: u32, data: &[u8]) -> Option<(u32, Option<FlowKey>)> {
    let d = decode(linktype, data)?;
    if d.frag.is_some_and(|f| f.offset != 0) {
        return Some((pair_hash(d.proto, d.src, d.dst), None));
    }
    let (sp, dp) = match (d.proto.has_ports(), d.ports) {
        (true, Some(p)) => p,
        (true, None) => return None,
        (false, _) => (0, 0),
    };
    let key = FlowKey::new(d.proto, Endpoint::new(d.src, sp), Endpoint::new(d.dst, dp));
    Some((key_hash(&key), Some(key)))
}

fn mtime_ns(m: &fs::Metadata) -> i64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

/// A flow's record list while building.
#[derive(Default)]
struct ListBuilder {
    bytes: Vec<u8>,
    prev_end: u64,
    /// The flow key listed (`None` for an address pair's fragments).
    key: Option<FlowKey>,
    /// More than one key was listed under this hash.
    multi: bool,
}

/// The parts of an index every query reads: header, blocks and flow table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    capture_size: u64,
    capture_mtime_ns: i64,
    indexed_len: u64,
    blocks: Vec<Block>,
    structure: Vec<(u64, u64)>,
    flows: Vec<FlowEntry>,
    lists_len: u64,
}

fn meta_bytes(m: &Meta) -> Vec<u8> {
    let mut v = Vec::with_capacity(
        HEADER_LEN
            + m.blocks.len() * BLOCK_LEN
            + m.structure.len() * STRUCT_LEN
            + m.flows.len() * FLOW_LEN,
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
    let sum = meta_sum(&v);
    v[56..64].copy_from_slice(&sum.to_le_bytes());
    v
}

/// The checksum of a header + tables image (its checksum field excluded).
fn meta_sum(v: &[u8]) -> u64 {
    let mut h = sum64(&v[..56]);
    h ^= sum64(&v[HEADER_LEN..]).rotate_left(17);
    h
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// Parses a header; returns the length of the tables that follow it.
fn parse_header(h: &[u8]) -> std::result::Result<usize, String> {
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
    Ok(nb * BLOCK_LEN + ns * STRUCT_LEN + nf * FLOW_LEN)
}

/// Parses header + tables (`v` holds exactly them); checks the checksum and every offset.
fn parse_meta(v: &[u8]) -> std::result::Result<Meta, String> {
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
    Ok(Meta {
        capture_size: u64_at(v, 16),
        capture_mtime_ns: u64_at(v, 24) as i64,
        indexed_len,
        blocks,
        structure,
        flows,
        lists_len,
    })
}

/// Decodes one flow's record list into `(offset, end)` pairs, checking its checksum and that
/// every record lies within the indexed length.
fn decode_list(
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
    /// Indexes a capture file (legacy pcap or pcapng). `Ok(None)` is kept for formats that
    /// cannot be indexed (none at present). A corrupt or cut record ends the index there (the
    /// rest is scanned at query time).
    pub fn build(path: &Path) -> Result<Option<FileIndex>> {
        let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let mut r = CaptureReader::open_for_index(path)?;
        let mut indexed_len = r.offset();
        let mut blocks: Vec<Block> = Vec::new();
        let mut lists: HashMap<u32, ListBuilder> = HashMap::new();
        loop {
            let (ts, hash) = match r.next_with_interface() {
                Ok(Some((rec, iface))) => {
                    (rec.ts.as_nanos(), packet_hash(iface.linktype, rec.data))
                }
                Ok(None) | Err(Error::Format { .. }) => break,
                Err(e) => return Err(e),
            };
            let (start, end) = r.last_block();
            match blocks.last_mut() {
                Some(b) if start - b.offset < BLOCK_BYTES => {
                    b.len = end - b.offset;
                    b.min_ts = b.min_ts.min(ts);
                    b.max_ts = b.max_ts.max(ts);
                }
                _ => blocks.push(Block {
                    offset: start,
                    len: end - start,
                    min_ts: ts,
                    max_ts: ts,
                }),
            }
            if let Some((h, key)) = hash {
                let l = lists.entry(h).or_default();
                match (&l.key, key) {
                    (None, Some(k)) if l.bytes.is_empty() => l.key = Some(k),
                    (Some(a), Some(k)) if *a != k => l.multi = true,
                    (None, Some(_)) | (Some(_), None) => l.multi = true,
                    _ => {}
                }
                push_varint(&mut l.bytes, start - l.prev_end);
                push_varint(&mut l.bytes, end - start);
                l.prev_end = end;
            }
            indexed_len = end;
        }
        // Structure blocks past the last whole packet are read again with the tail.
        let structure: Vec<(u64, u64)> = r
            .structure()
            .iter()
            .copied()
            .filter(|&(_, e)| e <= indexed_len)
            .collect();
        let mut hashes: Vec<u32> = lists.keys().copied().collect();
        hashes.sort_unstable();
        let mut flows = Vec::with_capacity(hashes.len());
        let mut all = Vec::new();
        for h in hashes {
            let l = &lists[&h];
            if l.bytes.len() >= ANY_CID_BIT as usize {
                return Ok(None); // a list of over 2 GB: not indexed (the file is scanned)
            }
            flows.push(FlowEntry {
                hash: h,
                start: all.len() as u64,
                len: l.bytes.len() as u32,
                sum: sum32(&l.bytes),
                cid_tag: l.key.map_or(0, |k| k.community_id(0).tag()),
                any_cid: l.multi,
            });
            all.extend_from_slice(&l.bytes);
        }
        Ok(Some(FileIndex {
            capture_size: meta.len(),
            capture_mtime_ns: mtime_ns(&meta),
            indexed_len,
            blocks,
            structure,
            flows,
            lists: all,
        }))
    }

    fn meta(&self) -> Meta {
        Meta {
            capture_size: self.capture_size,
            capture_mtime_ns: self.capture_mtime_ns,
            indexed_len: self.indexed_len,
            blocks: self.blocks.clone(),
            structure: self.structure.clone(),
            flows: self.flows.clone(),
            lists_len: self.lists.len() as u64,
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

fn freshness(size: u64, mtime: i64, meta: &fs::Metadata) -> Freshness {
    if meta.len() == size && mtime_ns(meta) == mtime {
        Freshness::Fresh
    } else if meta.len() > size {
        Freshness::Growing
    } else {
        Freshness::Stale
    }
}

/// Reads `buf.len()` bytes at `offset` (an early end of file is an error).
fn read_exact_at(file: &fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    if read_full_at(file, buf, offset)? < buf.len() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Reads at `offset` until `buf` is full or the file ends; returns the bytes read.
pub(crate) fn read_full_at(file: &fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match read_at(file, &mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// An index opened for one query: the header and tables are read and checked, the record lists
/// are read only for the hashes asked ([`IndexView::records`]), so a pivot reads a few KB of
/// the index whatever its size.
#[derive(Debug)]
pub struct IndexView {
    meta: Meta,
    file: fs::File,
    lists_at: u64,
}

impl IndexView {
    /// Opens an index file: `Ok(None)` when it does not exist, `Err(reason)` when unusable.
    pub fn open(path: &Path) -> std::result::Result<Option<IndexView>, String> {
        let mut file = match fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let file_len = file.metadata().map_err(|e| e.to_string())?.len();
        let mut head = vec![0u8; HEADER_LEN];
        file.read_exact(&mut head)
            .map_err(|_| "not a capme index (too short)".to_string())?;
        let tables = parse_header(&head)?;
        let lists_at = (HEADER_LEN + tables) as u64;
        let lists_len = u64_at(&head, 48);
        if lists_at.checked_add(lists_len) != Some(file_len) {
            return Err(format!(
                "length {file_len} does not match its header (cut or corrupt)"
            ));
        }
        head.resize(HEADER_LEN + tables, 0);
        file.read_exact(&mut head[HEADER_LEN..])
            .map_err(|e| e.to_string())?;
        let meta = parse_meta(&head)?;
        Ok(Some(IndexView {
            meta,
            file,
            lists_at,
        }))
    }

    /// How the index relates to the capture file's current metadata.
    pub fn freshness(&self, meta: &fs::Metadata) -> Freshness {
        freshness(self.meta.capture_size, self.meta.capture_mtime_ns, meta)
    }

    /// End of the last whole record indexed.
    pub fn indexed_len(&self) -> u64 {
        self.meta.indexed_len
    }

    /// The blocks (time → offset table), in file order.
    pub fn blocks(&self) -> &[Block] {
        &self.meta.blocks
    }

    /// The structure blocks `(start, end)` a stream of selected records must include.
    pub fn structure(&self) -> &[(u64, u64)] {
        &self.meta.structure
    }

    /// The hashes whose lists may hold a flow with this Community ID (seed 0): the flows
    /// filed under its [`CommunityId::tag`], and lists holding several keys. The records read
    /// still go through the matcher, which compares the full ID.
    pub fn cid_candidates(&self, id: &CommunityId) -> Vec<u32> {
        let tag = id.tag();
        self.meta
            .flows
            .iter()
            .filter(|f| f.any_cid || f.cid_tag == tag)
            .map(|f| f.hash)
            .collect()
    }

    /// The records listed under any of `hashes`, as `(offset, end)` byte ranges, sorted and
    /// without duplicates. Each list read is checked against its checksum.
    pub fn records(&self, hashes: &[u32]) -> std::result::Result<Vec<(u64, u64)>, String> {
        let mut out = Vec::new();
        let mut seen: Vec<u32> = Vec::with_capacity(hashes.len());
        for &h in hashes {
            if seen.contains(&h) {
                continue;
            }
            seen.push(h);
            let Ok(i) = self.meta.flows.binary_search_by_key(&h, |f| f.hash) else {
                continue;
            };
            let f = &self.meta.flows[i];
            let mut buf = vec![0u8; f.len as usize];
            read_exact_at(&self.file, &mut buf, self.lists_at + f.start)
                .map_err(|e| e.to_string())?;
            decode_list(f, &buf, self.meta.indexed_len, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

impl FileIndex {
    /// Writes the index atomically (temporary file in the same directory, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".capme-index.")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        tmp.write_all(&self.to_bytes())
            .map_err(|e| Error::io(tmp.path(), e))?;
        tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644));
        }
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        Ok(())
    }
}

/// Reads byte ranges of a file one after the other, in file order, each byte once: the
/// structure blocks and selected records of an indexed query form one valid capture stream.
pub struct RangesReader {
    file: fs::File,
    /// `(start, end)`, sorted and disjoint.
    ranges: std::collections::VecDeque<(u64, u64)>,
    at: u64,
    end: u64,
}

impl RangesReader {
    /// A reader over the union of `ranges` (`(start, end)` byte ranges of `file`, in any order,
    /// possibly overlapping or touching): sorted, merged, so no byte (no block) is read twice.
    pub fn new(file: fs::File, mut ranges: Vec<(u64, u64)>) -> RangesReader {
        ranges.sort_unstable();
        let mut merged: std::collections::VecDeque<(u64, u64)> =
            std::collections::VecDeque::with_capacity(ranges.len());
        for (s, e) in ranges.into_iter().filter(|(s, e)| s < e) {
            match merged.back_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push_back((s, e)),
            }
        }
        RangesReader {
            file,
            ranges: merged,
            at: 0,
            end: 0,
        }
    }

    /// The ranges left to read, `(start, end)`, sorted and disjoint.
    pub fn ranges(&self) -> impl Iterator<Item = &(u64, u64)> {
        self.ranges.iter()
    }
}

impl Read for RangesReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.end {
            let Some((s, e)) = self.ranges.pop_front() else {
                return Ok(0);
            };
            (self.at, self.end) = (s, e);
        }
        let want = (self.end - self.at).min(buf.len() as u64) as usize;
        let n = read_at(&self.file, &mut buf[..want], self.at)?;
        if n == 0 {
            // The file is shorter than indexed: end the stream there.
            self.end = self.at;
            self.ranges.clear();
            return Ok(0);
        }
        self.at += n as u64;
        Ok(n)
    }
}

/// One positional read (no seek: one system call per range).
pub(crate) fn read_at(file: &fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Seek, SeekFrom};
        let mut f = file;
        f.seek(SeekFrom::Start(offset))?;
        f.read(buf)
    }
}

/// The index path of a capture file: `dir/<path relative to its root>.cidx`.
pub fn index_path(dir: &Path, rel: &Path) -> PathBuf {
    let mut name = rel.as_os_str().to_os_string();
    name.push(".");
    name.push(EXTENSION);
    dir.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FileIndex {
        let lists: Vec<(u32, Vec<(u64, u64)>)> =
            vec![(3, vec![(24, 90), (300, 400)]), (9, vec![(90, 300)])];
        let mut flows = Vec::new();
        let mut all = Vec::new();
        for (h, recs) in &lists {
            let mut b = Vec::new();
            let mut prev = 0;
            for &(o, e) in recs {
                push_varint(&mut b, o - prev);
                push_varint(&mut b, e - o);
                prev = e;
            }
            flows.push(FlowEntry {
                hash: *h,
                start: all.len() as u64,
                len: b.len() as u32,
                sum: sum32(&b),
                cid_tag: *h as u16,
                any_cid: *h == 9,
            });
            all.extend_from_slice(&b);
        }
        FileIndex {
            capture_size: 500,
            capture_mtime_ns: 5,
            indexed_len: 400,
            blocks: vec![Block {
                offset: 24,
                len: 376,
                min_ts: 1,
                max_ts: 2,
            }],
            structure: vec![(0, 24)],
            flows,
            lists: all,
        }
    }

    #[test]
    fn corrupt_bytes_are_rejected_not_panicked_on() {
        let idx = sample();
        let v = idx.to_bytes();
        assert_eq!(FileIndex::from_bytes(&v).unwrap(), idx);
        assert_eq!(idx.records(3).unwrap(), vec![(24, 90), (300, 400)]);
        assert_eq!(idx.records(4).unwrap(), vec![]);
        for cut in 0..v.len() {
            assert!(FileIndex::from_bytes(&v[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..v.len() {
            for bit in [0x01, 0x40, 0x80] {
                let mut w = v.clone();
                w[i] ^= bit;
                assert!(
                    FileIndex::from_bytes(&w).is_err(),
                    "flip {bit:#x} at {i} accepted"
                );
            }
        }
    }

    /// The partial reader finds the same records, and rejects a corrupt list it reads (but
    /// not one it does not need).
    #[test]
    fn view_reads_only_the_lists_asked_and_checks_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.cidx");
        let idx = sample();
        let v = idx.to_bytes();
        fs::write(&p, &v).unwrap();
        let view = IndexView::open(&p).unwrap().unwrap();
        assert_eq!(
            view.records(&[9, 3, 3, 77]).unwrap(),
            vec![(24, 90), (90, 300), (300, 400)]
        );
        assert_eq!(view.blocks(), &idx.blocks[..]);
        // Corrupt the list of hash 9 (the last bytes of the file).
        let mut w = v.clone();
        let n = w.len();
        w[n - 1] ^= 0x02;
        fs::write(&p, &w).unwrap();
        let view = IndexView::open(&p).unwrap().unwrap();
        assert_eq!(view.records(&[3]).unwrap().len(), 2);
        assert!(view.records(&[9]).unwrap_err().contains("checksum"));
        // Tables or header corrupt, or the file cut: not opened.
        for at in [20, HEADER_LEN + 3, HEADER_LEN + BLOCK_LEN + 2] {
            let mut w = v.clone();
            w[at] ^= 0x10;
            fs::write(&p, &w).unwrap();
            assert!(IndexView::open(&p).is_err(), "flip at {at}");
        }
        fs::write(&p, &v[..v.len() - 1]).unwrap();
        assert!(IndexView::open(&p).is_err());
        assert!(IndexView::open(&dir.path().join("none.cidx"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn ranges_reader_reads_the_union_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..=255u8).cycle().take(600).collect();
        fs::write(&p, &data).unwrap();
        let ranges = vec![
            (100, 200),
            (0, 24),
            (150, 300),
            (300, 310),
            (400, 500),
            (7, 7),
        ];
        let mut r = RangesReader::new(fs::File::open(&p).unwrap(), ranges);
        assert_eq!(
            r.ranges().copied().collect::<Vec<_>>(),
            vec![(0, 24), (100, 310), (400, 500)]
        );
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        let want: Vec<u8> = [&data[0..24], &data[100..310], &data[400..500]].concat();
        assert_eq!(got, want);
        // Ranges past the end of a cut file end the stream there.
        let mut r = RangesReader::new(fs::File::open(&p).unwrap(), vec![(550, 700)]);
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, &data[550..]);
    }

    #[test]
    fn varints_round_trip_and_reject_overlong() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut b = Vec::new();
            push_varint(&mut b, v);
            let mut at = 0;
            assert_eq!(read_varint(&b, &mut at), Some(v));
            assert_eq!(at, b.len());
        }
        let mut at = 0;
        assert_eq!(read_varint(&[0x80; 11], &mut at), None);
        let mut at = 0;
        assert_eq!(read_varint(&[0x80, 0x80], &mut at), None);
    }
}

/// What [`crate::Store::build_indexes`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IndexReport {
    /// Indexes written.
    pub built: u64,
    /// Files whose index was already fresh.
    pub fresh: u64,
    /// Files not indexed (pcapng, unreadable...), scanned at query time.
    pub skipped: u64,
    /// Capture bytes read to build.
    pub capture_bytes: u64,
    /// Bytes of the indexes written.
    pub index_bytes: u64,
    /// Indexes removed because their capture file is gone.
    pub removed: u64,
    /// Problems met (the file is then scanned at query time).
    pub warnings: Vec<String>,
}

/// Indexes one capture file unless its index is fresh.
fn index_one(f: &crate::store::CaptureFile, rep: &mut IndexReport) -> Result<()> {
    let Some(ip) = &f.index else { return Ok(()) };
    let meta = match fs::metadata(&f.path) {
        Ok(m) => m,
        Err(e) => {
            rep.warnings.push(format!("{}: {e}", f.path.display()));
            rep.skipped += 1;
            return Ok(());
        }
    };
    if let Ok(Some(old)) = IndexView::open(ip) {
        if old.freshness(&meta) == Freshness::Fresh {
            rep.fresh += 1;
            return Ok(());
        }
    }
    match FileIndex::build(&f.path) {
        Ok(Some(idx)) => {
            rep.capture_bytes += idx.indexed_len;
            rep.index_bytes += idx.to_bytes().len() as u64;
            idx.save(ip)?;
            rep.built += 1;
        }
        Ok(None) => rep.skipped += 1,
        Err(e) => {
            rep.warnings.push(e.to_string());
            rep.skipped += 1;
        }
    }
    Ok(())
}

impl crate::store::Store {
    /// Builds (or refreshes) the flow index of every legacy pcap file of the store whose index
    /// is missing, stale or corrupt. A file still being written is indexed up to its last whole
    /// record; queries scan the rest.
    /// Files are indexed in parallel on [`Store::threads`](crate::Store::threads) threads.
    pub fn build_indexes(&self) -> Result<IndexReport> {
        let listing = self.list()?;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let files = &listing.files;
        let reports: Vec<Result<IndexReport>> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..self.threads().min(files.len()).max(1))
                .map(|_| {
                    s.spawn(|| {
                        let mut rep = IndexReport::default();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(f) = files.get(i) else {
                                return Ok(rep);
                            };
                            index_one(f, &mut rep)?;
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("index worker panicked"))
                .collect()
        });
        let mut rep = IndexReport {
            warnings: listing.warnings.clone(),
            ..Default::default()
        };
        for r in reports {
            let r = r?;
            rep.built += r.built;
            rep.fresh += r.fresh;
            rep.skipped += r.skipped;
            rep.capture_bytes += r.capture_bytes;
            rep.index_bytes += r.index_bytes;
            rep.warnings.extend(r.warnings);
        }
        rep.removed = self.remove_orphan_indexes()?;
        Ok(rep)
    }

    /// Deletes index files whose capture file no longer exists (retention removed it).
    pub fn remove_orphan_indexes(&self) -> Result<u64> {
        let mut removed = 0;
        for root in self.roots() {
            let dir = self.index_dir_for(root);
            let base = if root.is_file() {
                root.parent().unwrap_or(Path::new(".")).to_path_buf()
            } else {
                root.clone()
            };
            let mut stack = vec![dir.clone()];
            while let Some(d) = stack.pop() {
                let Ok(rd) = fs::read_dir(&d) else { continue };
                for e in rd.flatten() {
                    let p = e.path();
                    let Ok(ft) = e.file_type() else { continue };
                    if ft.is_dir() {
                        stack.push(p);
                        continue;
                    }
                    if p.extension().is_none_or(|x| x != EXTENSION) {
                        continue;
                    }
                    let Ok(rel) = p.strip_prefix(&dir) else {
                        continue;
                    };
                    let capture = base.join(rel.with_extension(""));
                    let gone = !capture.exists()
                        && !self
                            .roots()
                            .iter()
                            .any(|r| r.join(rel.with_extension("")).exists());
                    if gone && fs::remove_file(&p).is_ok() {
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }
}
