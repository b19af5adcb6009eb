//! [`IndexView`]: an index opened for one query, read partially (the production path).

use super::format::{
    decode_list, freshness, parse_header, parse_meta, u64_at, Block, Freshness, Meta, HEADER_LEN,
};
use crate::flow::CommunityId;
use crate::io::read_exact_at;
use std::fs;
use std::io::Read;
use std::path::Path;

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

    /// The capture file's compression when it is compressed (the offsets are then those of
    /// its decompressed bytes).
    pub fn compression(&self) -> Option<crate::capture::Compression> {
        self.meta.compression
    }

    /// Records of link types the decoder does not know, `(link type, records)`: the index
    /// lists them under no flow.
    pub fn unsupported(&self) -> &[(u32, u64)] {
        &self.meta.unsupported
    }

    /// A compressed capture file's frame starts, where decoding may start.
    pub fn frames(&self) -> &[crate::capture::compress::FrameStart] {
        &self.meta.frames
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
