//! Building an index: one pass over the capture file.

use super::format::{
    mtime_ns, push_varint, sum32, Block, FileIndex, FlowEntry, ANY_CID_BIT, BLOCK_BYTES,
};
use super::keys::packet_hashes;
use crate::capture::compress::FrameLog;
use crate::capture::CaptureReader;
use crate::error::{Error, Result};
use crate::flow::FlowKey;
use crate::wire::LinkType;
use std::collections::HashMap;
use std::fs;
use std::path::Path;

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

impl FileIndex {
    /// Indexes a capture file (legacy pcap or pcapng). `Ok(None)` when it cannot be indexed
    /// (a record list would exceed 2 GB): the file is scanned. A corrupt record is passed over
    /// as a scan passes it (the reader resynchronises, see
    /// [`CaptureReader::set_resync`]), and a block never spans a damaged part, so an indexed
    /// read never reads one: it returns what a scan returns. A record cut by the end of the
    /// file, or damage no resync gets past, ends the index there (the rest is scanned at query
    /// time if the file grows).
    pub fn build(path: &Path) -> Result<Option<FileIndex>> {
        Self::build_reporting(path, &mut Vec::new())
    }

    /// [`build`](Self::build), pushing to `warnings` what the file's damage costs: each
    /// damaged span passed over (as a scan words it), and damage that ended the index.
    pub fn build_reporting(path: &Path, warnings: &mut Vec<String>) -> Result<Option<FileIndex>> {
        let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let frame_log = FrameLog::default();
        let mut r = CaptureReader::open_for_index(path, frame_log.clone())?;
        let mut indexed_len = r.offset();
        let mut blocks: Vec<Block> = Vec::new();
        let mut lists: HashMap<u32, ListBuilder> = HashMap::new();
        let mut damage_seen = 0u64;
        let mut hashes: Vec<(u32, Option<FlowKey>)> = Vec::new();
        // Records of link types the decoder does not know (listed under no flow), as a scan
        // counts them.
        let mut unsupported: Vec<(u32, u64)> = Vec::new();
        let mut known_link: Option<u32> = None;
        loop {
            let ts = match r.next_with_interface() {
                Ok(Some((rec, iface))) => {
                    if known_link != Some(iface.linktype) {
                        if let LinkType::Unknown(n) = LinkType::from(iface.linktype) {
                            let full = unsupported.len() >= usize::from(u16::MAX);
                            match unsupported.iter_mut().find(|(l, _)| *l == n) {
                                Some((_, c)) => *c += 1,
                                None if !full => unsupported.push((n, 1)),
                                None => {}
                            }
                        } else {
                            known_link = Some(iface.linktype);
                        }
                    }
                    packet_hashes(iface.linktype, rec.data, &mut hashes);
                    rec.ts.as_nanos()
                }
                Ok(None) => break,
                Err(e @ Error::Format { .. }) => {
                    warnings.push(e.to_string());
                    break;
                }
                Err(e) => return Err(e),
            };
            let (start, end) = r.last_block();
            // A damaged span passed over since the last record starts a new block.
            let damaged = r.damage_total().0 != damage_seen;
            damage_seen = r.damage_total().0;
            match blocks.last_mut() {
                Some(b) if !damaged && start - b.offset < BLOCK_BYTES => {
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
            // One entry per IP layer's hash (a tunnel packet is listed under its inner flows
            // too); `packet_hashes` never repeats a hash, so a list never repeats a record.
            for &(h, key) in &hashes {
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
        warnings.extend(r.damage().iter().map(|d| d.warning(path)));
        let (spans, bytes) = r.damage_total();
        let listed = r.damage().len() as u64;
        if spans > listed {
            warnings.push(format!(
                "{}: {} more corrupt spans passed over ({bytes} bytes skipped in all {spans})",
                path.display(),
                spans - listed
            ));
        }
        // Structure blocks past the last whole packet are read again with the tail.
        let structure: Vec<(u64, u64)> = r
            .structure()
            .iter()
            .copied()
            .filter(|&(_, e)| e <= indexed_len)
            .collect();
        let mut sorted: Vec<u32> = lists.keys().copied().collect();
        sorted.sort_unstable();
        let mut flows = Vec::with_capacity(sorted.len());
        let mut all = Vec::new();
        for h in sorted {
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
        // Frames that start past the last indexed record are never needed.
        let compression = r.compression();
        let mut frames = std::mem::take(&mut *frame_log.lock().unwrap_or_else(|p| p.into_inner()));
        frames.retain(|f| f.offset < indexed_len);
        if compression.is_none() {
            frames.clear();
        }
        Ok(Some(FileIndex {
            compression,
            frames,
            capture_size: meta.len(),
            capture_mtime_ns: mtime_ns(&meta),
            indexed_len,
            blocks,
            structure,
            flows,
            unsupported,
            lists: all,
        }))
    }
}
