//! Flow index: one sidecar file per legacy pcap capture file, so that a pivot reads only the
//! few blocks of a capture file that can hold the flow.
//!
//! ## Design
//! The capture file is cut into *blocks* of about [`BLOCK_BYTES`] of whole records. For each
//! block the index keeps its byte range, the earliest and latest record time, and the sorted set
//! of 32-bit hashes of the canonical [`FlowKey`]s of its packets. Non-first IP fragments carry no
//! ports, so they are entered under the hash of their `(protocol, address pair)`; a query looks
//! up its keys' hashes *and* its address pair's hash. A query reads, in file order, exactly the
//! blocks whose time range meets the window (with the reorder slack) and whose set holds one of
//! its hashes, through the same matcher as a scan: every packet a scan would return lies in such
//! a block, so an indexed extraction returns exactly what an unindexed one does (hash collisions
//! only cost reading a block more). VLAN/QinQ/MPLS packets are indexed by their decoded key like
//! any other.
//!
//! Size: about 4 bytes per distinct flow per block plus 40 bytes per block: well under 1 % of
//! the capture for realistic traffic. Build cost: one framing + decode + hash per packet.
//!
//! ## File format (little-endian)
//! `"CAPMEIX1"`, version u32, flags u32, capture size u64, capture mtime ns i64, indexed length
//! u64 (end of the last whole record indexed), block count u32, hash count u32, then per block
//! `offset u64, len u64, min_ts i64, max_ts i64, first_hash u32, hash_count u32`, then the
//! hashes (u32 each), then an FNV-1a 64 checksum of everything before it. Written to a
//! temporary file and renamed.
//!
//! ## Freshness
//! An index is used when the capture file's size and mtime are those recorded. A capture file
//! that has grown (still being written) uses the index for the part it covers and is scanned
//! from there on. Anything else (smaller, unreadable, corrupt or missing index) is scanned.
//! Community ID queries cannot be hashed back to a key and are answered by scanning.

use crate::capture::{CaptureReader, Format};
use crate::error::{Error, Result};
use crate::flow::{Endpoint, FlowKey, Proto};
use crate::wire::decode;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Target size of an index block (whole records).
pub const BLOCK_BYTES: u64 = 1 << 20;
const MAGIC: &[u8; 8] = b"CAPMEIX1";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 4 + 8 + 8 + 8 + 4 + 4;
const BLOCK_LEN: usize = 8 + 8 + 8 + 8 + 4 + 4;
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
    first_hash: u32,
    hash_count: u32,
}

/// The index of one capture file.
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
    hashes: Vec<u32>,
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

fn addr_bytes(a: IpAddr, out: &mut Vec<u8>) {
    match a {
        IpAddr::V4(v) => out.extend_from_slice(&v.octets()),
        IpAddr::V6(v) => out.extend_from_slice(&v.octets()),
    }
}

/// The index hash of a canonical flow key.
pub fn key_hash(k: &FlowKey) -> u32 {
    let mut b = Vec::with_capacity(40);
    b.push(k.proto().0);
    for e in [k.first(), k.second()] {
        addr_bytes(e.addr, &mut b);
        b.extend_from_slice(&e.port.to_be_bytes());
    }
    let h = fnv64(&b);
    (h ^ (h >> 32)) as u32
}

/// The index hash under which non-first fragments of `(proto, a, b)` are entered.
pub fn pair_hash(proto: Proto, a: IpAddr, b: IpAddr) -> u32 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut v = Vec::with_capacity(34);
    v.extend_from_slice(&[0xfe, proto.0]);
    addr_bytes(lo, &mut v);
    addr_bytes(hi, &mut v);
    let h = fnv64(&v);
    (h ^ (h >> 32)) as u32
}

/// The hash a packet is indexed under, if it can belong to any flow.
fn packet_hash(linktype: u32, data: &[u8]) -> Option<u32> {
    let d = decode(linktype, data)?;
    if d.frag.is_some_and(|f| f.offset != 0) {
        return Some(pair_hash(d.proto, d.src, d.dst));
    }
    let (sp, dp) = match (d.proto.has_ports(), d.ports) {
        (true, Some(p)) => p,
        (true, None) => return None,
        (false, _) => (0, 0),
    };
    Some(key_hash(&FlowKey::new(
        d.proto,
        Endpoint::new(d.src, sp),
        Endpoint::new(d.dst, dp),
    )))
}

fn mtime_ns(m: &fs::Metadata) -> i64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

impl FileIndex {
    /// Indexes a legacy pcap capture file. Other formats are `Ok(None)` (they are scanned).
    /// A corrupt or cut record ends the index there (the rest is scanned at query time).
    pub fn build(path: &Path) -> Result<Option<FileIndex>> {
        let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let mut r = CaptureReader::open(path)?;
        if !matches!(r.format(), Format::Pcap { .. }) {
            return Ok(None);
        }
        let mut idx = FileIndex {
            capture_size: meta.len(),
            capture_mtime_ns: mtime_ns(&meta),
            indexed_len: r.offset(),
            blocks: Vec::new(),
            hashes: Vec::new(),
        };
        let mut cur: Option<Block> = None;
        let mut set: Vec<u32> = Vec::new();
        loop {
            let start = r.offset();
            let (ts, hash, end) = match r.next_with_interface() {
                Ok(Some((rec, iface))) => {
                    (rec.ts.as_nanos(), packet_hash(iface.linktype, rec.data), 0)
                }
                Ok(None) | Err(Error::Format { .. }) => (0, None, 1),
                Err(e) => return Err(e),
            };
            if end == 1 {
                break;
            }
            let stop = r.offset();
            let b = match &mut cur {
                Some(b) if start - b.offset < BLOCK_BYTES => b,
                _ => {
                    if let Some(done) = cur.take() {
                        idx.push_block(done, &mut set);
                    }
                    cur.insert(Block {
                        offset: start,
                        len: 0,
                        min_ts: ts,
                        max_ts: ts,
                        first_hash: 0,
                        hash_count: 0,
                    })
                }
            };
            b.len = stop - b.offset;
            b.min_ts = b.min_ts.min(ts);
            b.max_ts = b.max_ts.max(ts);
            if let Some(h) = hash {
                set.push(h);
            }
            idx.indexed_len = stop;
        }
        if let Some(done) = cur.take() {
            idx.push_block(done, &mut set);
        }
        Ok(Some(idx))
    }

    fn push_block(&mut self, mut b: Block, set: &mut Vec<u32>) {
        set.sort_unstable();
        set.dedup();
        b.first_hash = self.hashes.len() as u32;
        b.hash_count = set.len() as u32;
        self.hashes.append(set);
        self.blocks.push(b);
    }

    /// True when the block may hold one of `hashes`.
    pub fn block_has_any(&self, b: &Block, hashes: &[u32]) -> bool {
        let s = b.first_hash as usize;
        let set = self.hashes.get(s..s + b.hash_count as usize).unwrap_or(&[]);
        hashes.iter().any(|h| set.binary_search(h).is_ok())
    }

    /// How this index relates to the capture file's current metadata.
    pub fn freshness(&self, meta: &fs::Metadata) -> Freshness {
        if meta.len() == self.capture_size && mtime_ns(meta) == self.capture_mtime_ns {
            Freshness::Fresh
        } else if meta.len() > self.capture_size {
            Freshness::Growing
        } else {
            Freshness::Stale
        }
    }

    /// Serialises the index.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(
            HEADER_LEN + self.blocks.len() * BLOCK_LEN + self.hashes.len() * 4 + 8,
        );
        v.extend_from_slice(MAGIC);
        v.extend_from_slice(&VERSION.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&self.capture_size.to_le_bytes());
        v.extend_from_slice(&self.capture_mtime_ns.to_le_bytes());
        v.extend_from_slice(&self.indexed_len.to_le_bytes());
        v.extend_from_slice(&(self.blocks.len() as u32).to_le_bytes());
        v.extend_from_slice(&(self.hashes.len() as u32).to_le_bytes());
        for b in &self.blocks {
            v.extend_from_slice(&b.offset.to_le_bytes());
            v.extend_from_slice(&b.len.to_le_bytes());
            v.extend_from_slice(&b.min_ts.to_le_bytes());
            v.extend_from_slice(&b.max_ts.to_le_bytes());
            v.extend_from_slice(&b.first_hash.to_le_bytes());
            v.extend_from_slice(&b.hash_count.to_le_bytes());
        }
        for h in &self.hashes {
            v.extend_from_slice(&h.to_le_bytes());
        }
        let sum = fnv64(&v);
        v.extend_from_slice(&sum.to_le_bytes());
        v
    }

    /// Parses an index; every length is checked against the data, the checksum verified.
    pub fn from_bytes(v: &[u8]) -> std::result::Result<FileIndex, String> {
        if v.len() < HEADER_LEN + 8 || &v[..8] != MAGIC {
            return Err("not a capme index".into());
        }
        let (body, sum) = v.split_at(v.len() - 8);
        if fnv64(body) != u64::from_le_bytes(sum.try_into().map_err(|_| "short")?) {
            return Err("checksum mismatch".into());
        }
        let u32_at = |o: usize| u32::from_le_bytes(body[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(body[o..o + 8].try_into().expect("8 bytes"));
        if u32_at(8) != VERSION {
            return Err(format!(
                "index version {} (this capme reads {VERSION})",
                u32_at(8)
            ));
        }
        let nblocks = u32_at(40) as usize;
        let nhashes = u32_at(44) as usize;
        let want = HEADER_LEN as u64 + nblocks as u64 * BLOCK_LEN as u64 + nhashes as u64 * 4;
        if want != body.len() as u64 {
            return Err(format!(
                "length {} does not match its {nblocks} blocks and {nhashes} hashes",
                body.len()
            ));
        }
        let mut blocks = Vec::with_capacity(nblocks);
        for i in 0..nblocks {
            let o = HEADER_LEN + i * BLOCK_LEN;
            let b = Block {
                offset: u64_at(o),
                len: u64_at(o + 8),
                min_ts: u64_at(o + 16) as i64,
                max_ts: u64_at(o + 24) as i64,
                first_hash: u32_at(o + 32),
                hash_count: u32_at(o + 36),
            };
            if b.first_hash as u64 + b.hash_count as u64 > nhashes as u64 {
                return Err(format!("block {i} names hashes beyond the table"));
            }
            blocks.push(b);
        }
        let h0 = HEADER_LEN + nblocks * BLOCK_LEN;
        let hashes = (0..nhashes).map(|i| u32_at(h0 + i * 4)).collect();
        Ok(FileIndex {
            capture_size: u64_at(16),
            capture_mtime_ns: u64_at(24) as i64,
            indexed_len: u64_at(32),
            blocks,
            hashes,
        })
    }

    /// Reads an index file: `Ok(None)` when it does not exist, `Err(reason)` when unusable.
    pub fn load(path: &Path) -> std::result::Result<Option<FileIndex>, String> {
        match fs::read(path) {
            Ok(v) => FileIndex::from_bytes(&v).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

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

/// Reads a list of byte ranges of a file one after the other, after a fixed prefix (the pcap
/// header), so that the selected blocks form one valid capture stream.
pub struct RangesReader {
    prefix: Vec<u8>,
    pos: usize,
    file: fs::File,
    ranges: std::collections::VecDeque<(u64, u64)>,
    left: u64,
}

impl RangesReader {
    /// A reader over `prefix`, then each `(offset, len)` of `file` in order.
    pub fn new(prefix: Vec<u8>, file: fs::File, ranges: Vec<(u64, u64)>) -> RangesReader {
        RangesReader {
            prefix,
            pos: 0,
            file,
            ranges: ranges.into(),
            left: 0,
        }
    }

    /// Total bytes of the ranges.
    pub fn total(ranges: &[(u64, u64)]) -> u64 {
        ranges.iter().map(|r| r.1).sum()
    }
}

impl Read for RangesReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos < self.prefix.len() {
            let n = (self.prefix.len() - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.prefix[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        while self.left == 0 {
            let Some((off, len)) = self.ranges.pop_front() else {
                return Ok(0);
            };
            self.file.seek(SeekFrom::Start(off))?;
            self.left = len;
        }
        let want = (self.left.min(buf.len() as u64)) as usize;
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            // The file is shorter than the index said (truncated): end the stream here.
            self.left = 0;
            self.ranges.clear();
            return Ok(0);
        }
        self.left -= n as u64;
        Ok(n)
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

    #[test]
    fn corrupt_bytes_are_rejected_not_panicked_on() {
        let idx = FileIndex {
            capture_size: 100,
            capture_mtime_ns: 5,
            indexed_len: 90,
            blocks: vec![Block {
                offset: 24,
                len: 66,
                min_ts: 1,
                max_ts: 2,
                first_hash: 0,
                hash_count: 2,
            }],
            hashes: vec![3, 9],
        };
        let v = idx.to_bytes();
        assert_eq!(FileIndex::from_bytes(&v).unwrap(), idx);
        for cut in 0..v.len() {
            assert!(FileIndex::from_bytes(&v[..cut]).is_err());
        }
        for i in 0..v.len() {
            let mut w = v.clone();
            w[i] ^= 0x40;
            assert!(FileIndex::from_bytes(&w).is_err(), "flip at {i} accepted");
        }
        assert!(idx.block_has_any(&idx.blocks[0], &[9]));
        assert!(!idx.block_has_any(&idx.blocks[0], &[4]));
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
    if let Ok(Some(old)) = FileIndex::load(ip) {
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
